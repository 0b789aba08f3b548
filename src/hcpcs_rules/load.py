"""Stage 1 of the pipeline: find ruleset files and read what they *say*.

Rulesets are found through the entry-point group ``hcpcs_rules.rulesets``; the built-in ones
register through the same group, so a plugin's ruleset is found exactly like ours. An entry
point names a callable (or a path) giving the ruleset's TOML file.

Reading keeps positions: TOML parsers forget line numbers, so :func:`read_ruleset` maps each rule
(and each of its keys and examples) back to the line it was written on. Every later error can then
name file, line and rule id. Meaning (types, names, strata) is :mod:`hcpcs_rules.compile`'s job.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

from .errors import RulesetError, RulesetProblem

__all__ = ["ENTRY_POINT_GROUP", "RuleText", "RulesetText", "discover", "read_ruleset", "resolve"]

ENTRY_POINT_GROUP = "hcpcs_rules.rulesets"


@attrs.frozen
class RuleText:
    """One ``[[rule]]`` table as written, with the line of each key."""

    data: dict[str, Any]
    line: int | None
    key_lines: dict[str, int]
    example_lines: tuple[int, ...]

    @property
    def id(self) -> str | None:
        value = self.data.get("id")
        return value if isinstance(value, str) else None

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)


@attrs.frozen
class RulesetText:
    """A ruleset file as written: header, constants, example claims and rules."""

    file: str
    header: dict[str, Any]
    constants: dict[str, Any]
    claims: dict[str, Any]
    rules: tuple[RuleText, ...]
    lines: tuple[str, ...]  # the file's text, to quote offending lines
    header_line: int | None
    constant_lines: dict[str, int]

    @property
    def name(self) -> str:
        return str(self.header.get("name", ""))

    def quote(self, line: int | None) -> str | None:
        if line is None or not 1 <= line <= len(self.lines):
            return None
        return self.lines[line - 1]

    def problem(self, line: int | None, rule_id: str | None, message: str) -> RulesetProblem:
        return RulesetProblem(self.file, line, rule_id, message, self.quote(line))


def discover() -> dict[str, Path]:
    """Every installed ruleset by name, from the ``hcpcs_rules.rulesets`` entry points."""
    found: dict[str, Path] = {}
    problems: list[RulesetProblem] = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            target = ep.load()
            path = Path(target() if callable(target) else target)
        except Exception as exc:  # a broken plugin must name itself, not crash the host
            problems.append(
                RulesetProblem(
                    f"<entry point {ep.name} = {ep.value}>", None, None, f"cannot load: {exc}"
                )
            )
            continue
        if ep.name in found and found[ep.name] != path:
            problems.append(
                RulesetProblem(
                    str(path),
                    None,
                    None,
                    f"two plugins register a ruleset named {ep.name!r}: {found[ep.name]} and {path}",
                )
            )
            continue
        found[ep.name] = path
    if problems:
        raise RulesetError(problems)
    return found


def resolve(
    selection: Iterable[str | os.PathLike[str]] | None, installed: dict[str, Path] | None = None
) -> list[Path]:
    """Ruleset names (installed) or paths (``.toml`` files) -> files, in the given order."""
    installed = discover() if installed is None else installed
    if selection is None:
        return list(installed.values())
    if isinstance(selection, str | os.PathLike):
        raise TypeError("rulesets must be a list of names or paths, e.g. rulesets=['j7632']")
    files: list[Path] = []
    problems: list[RulesetProblem] = []
    for item in selection:
        if isinstance(item, os.PathLike) or (isinstance(item, str) and item.endswith(".toml")):
            files.append(Path(item))
        elif isinstance(item, str) and item in installed:
            files.append(installed[item])
        else:
            import difflib

            hint = difflib.get_close_matches(str(item), list(installed), n=1)
            more = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.append(
                RulesetProblem(
                    f"<ruleset {item!r}>",
                    None,
                    None,
                    f"no installed ruleset named {item!r}{more}; installed: {', '.join(installed) or 'none'}",
                )
            )
    if problems:
        raise RulesetError(problems)
    return files


_TABLE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*(\]\]?)\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\"'-]+)\s*=")


def _positions(lines: list[str]) -> tuple[list[dict[str, Any]], int | None, dict[str, int]]:
    """Where each ``[[rule]]`` starts, where each of its keys and examples is written."""
    rules: list[dict[str, Any]] = []
    header_line: int | None = None
    constant_lines: dict[str, int] = {}
    section: str | None = None
    for number, text in enumerate(lines, start=1):
        table = _TABLE.match(text)
        if table:
            name = table.group(2).replace(" ", "")
            if table.group(1) == "[[" and name == "rule":
                rules.append({"line": number, "keys": {}, "examples": []})
                section = "rule"
            elif name == "rule.example" and rules:
                rules[-1]["examples"].append(number)
                section = "example"
            elif name.startswith("rule.") and rules:
                rules[-1]["keys"].setdefault(name.split(".", 1)[1], number)
                section = "rule-sub"
            elif name == "ruleset":
                header_line, section = number, "ruleset"
            elif name == "constants":
                section = "constants"
            else:
                section = name
            continue
        key = _KEY.match(text)
        if key:
            name = key.group(1).strip("\"'")
            if section == "rule":
                rules[-1]["keys"].setdefault(name, number)
            elif section == "constants":
                constant_lines.setdefault(name, number)
    return rules, header_line, constant_lines


def read_ruleset(path: str | os.PathLike[str]) -> RulesetText:
    """Read one ruleset file, or raise :class:`RulesetError` (bad TOML, wrong layout)."""
    file = str(path)
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesetError([RulesetProblem(file, None, None, f"cannot read: {exc}")]) from None
    lines = raw.splitlines()
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        quote = lines[line - 1] if line and line <= len(lines) else None
        raise RulesetError(
            [RulesetProblem(file, line, None, f"not valid TOML: {exc}", quote)]
        ) from None

    positions, header_line, constant_lines = _positions(lines)
    problems: list[RulesetProblem] = []

    def table(key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            problems.append(RulesetProblem(file, None, None, f"[{key}] must be a table"))
            return {}
        return value

    header, constants, claims = table("ruleset"), table("constants"), table("claims")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        problems.append(
            RulesetProblem(file, None, None, "rules must be written as [[rule]] tables")
        )
        raw_rules = []
    for extra in sorted(set(data) - {"ruleset", "constants", "claims", "rule"}):
        problems.append(RulesetProblem(file, None, None, f"unknown top-level table {extra!r}"))
    if problems:
        raise RulesetError(problems)

    rules = []
    for index, rule in enumerate(raw_rules):
        where = (
            positions[index]
            if index < len(positions)
            else {"line": None, "keys": {}, "examples": []}
        )
        rules.append(RuleText(rule, where["line"], where["keys"], tuple(where["examples"])))
    return RulesetText(
        file, header, constants, claims, tuple(rules), tuple(lines), header_line, constant_lines
    )
