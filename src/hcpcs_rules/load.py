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
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

from .errors import UNPRINTABLE as _CONTROL
from .errors import RulesetError, RulesetProblem, printable

__all__ = [
    "ENTRY_POINT_GROUP",
    "MAX_FILE_BYTES",
    "MAX_TOML_DEPTH",
    "Installed",
    "RuleText",
    "RulesetText",
    "discover",
    "read_ruleset",
    "resolve",
]

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


class Installed:
    """The installed rulesets by name, from the ``hcpcs_rules.rulesets`` entry points.

    Listing names loads nothing: an entry point is imported only when its ruleset is asked for
    (:meth:`path`), so one broken plugin cannot stop engines that do not select it. Each load is
    done once per instance.
    """

    def __init__(self) -> None:
        self._points: dict[str, list[metadata.EntryPoint]] = {}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            self._points.setdefault(ep.name, []).append(ep)
        self._paths: dict[str, Path] = {}

    def names(self) -> list[str]:
        return sorted(self._points)

    def __contains__(self, name: object) -> bool:
        return name in self._points

    def path(self, name: str) -> Path:
        """The ruleset file of ``name``, loading its entry point(s); RulesetError if broken."""
        if name in self._paths:
            return self._paths[name]
        found: Path | None = None
        problems: list[RulesetProblem] = []
        for ep in self._points[name]:
            try:
                target = ep.load()
                path = Path(target() if callable(target) else target)
            except Exception as exc:  # a broken plugin must name itself, not crash the host
                problems.append(
                    RulesetProblem(
                        f"<entry point {ep.name} = {ep.value}>",
                        None,
                        None,
                        f"cannot load: {type(exc).__name__}: {exc}",
                    )
                )
                continue
            if found is not None and found != path:
                problems.append(
                    RulesetProblem(
                        str(path),
                        None,
                        None,
                        f"two plugins register a ruleset named {name!r}: {found} and {path}",
                    )
                )
                continue
            found = path
        if problems or found is None:
            raise RulesetError(problems)
        self._paths[name] = found
        return found

    def all_paths(self) -> dict[str, Path]:
        """Every installed ruleset loaded: RulesetError naming every plugin that fails."""
        out: dict[str, Path] = {}
        problems: list[RulesetProblem] = []
        for name in self.names():
            try:
                out[name] = self.path(name)
            except RulesetError as exc:
                problems.extend(exc.problems)
        if problems:
            raise RulesetError(problems)
        return out


def discover() -> dict[str, Path]:
    """Every installed ruleset by name (loads every entry point; see :class:`Installed`)."""
    return Installed().all_paths()


def resolve(
    selection: Iterable[str | os.PathLike[str]] | None,
    installed: Installed | dict[str, Path] | None = None,
) -> list[Path]:
    """Ruleset names (installed) or paths (``.toml`` files) -> files, in the given order.

    Only the entry points of the names selected are loaded; with no selection, all of them.
    """
    if installed is None:
        installed = Installed()
    if isinstance(installed, dict):
        paths = dict(installed)
        installed_names = list(paths)
        load_path = paths.__getitem__
    else:
        installed_names = installed.names()
        load_path = installed.path
    if selection is None:
        if isinstance(installed, Installed):
            return list(installed.all_paths().values())
        return [load_path(name) for name in installed_names]
    if isinstance(selection, str | os.PathLike):
        raise TypeError("rulesets must be a list of names or paths, e.g. rulesets=['j7632']")
    files: list[Path] = []
    problems: list[RulesetProblem] = []
    for item in selection:
        if isinstance(item, os.PathLike) or (isinstance(item, str) and item.endswith(".toml")):
            files.append(Path(item))
        elif isinstance(item, str) and item in installed_names:
            try:
                files.append(load_path(item))
            except RulesetError as exc:
                problems.extend(exc.problems)
        else:
            import difflib

            hint = difflib.get_close_matches(str(item), installed_names, n=1)
            more = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.append(
                RulesetProblem(
                    f"<ruleset {item!r}>",
                    None,
                    None,
                    f"no installed ruleset named {item!r}{more}; installed: {', '.join(installed_names) or 'none'}",
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
            if section == "rule" and rules:  # `[rule]` (not `[[rule]]`) starts no rule
                rules[-1]["keys"].setdefault(name, number)
            elif section == "constants":
                constant_lines.setdefault(name, number)
    return rules, header_line, constant_lines


#: A ruleset file is refused above this size before it is parsed (the shipped j7632 is 70 KB;
#: 10,000 generated rules with two examples each are about 6 MB).
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Tables and arrays nested deeper than this are refused. An example claim inside a rule is the
#: deepest real thing (rule, example, claim, lines, a line, dispensed: about 8).
MAX_TOML_DEPTH = 32

# Where a ruleset's text may hold line breaks and tabs: free text for people (notes, the
# description) and the condition language (a long condition may be wrapped over lines).
# Everything else is one line. Example claims are claim data, judged by the claim parser.
_MULTILINE_KEYS = {"notes", "when", "fields"}


def read_ruleset(path: str | os.PathLike[str]) -> RulesetText:
    """Read one ruleset file, or raise :class:`RulesetError` (bad TOML, wrong layout)."""
    file = str(path)
    try:
        with open(path, "rb") as handle:
            data_bytes = handle.read(MAX_FILE_BYTES + 1)
        if len(data_bytes) > MAX_FILE_BYTES:
            raise RulesetError(
                [RulesetProblem(file, None, None, f"larger than {MAX_FILE_BYTES:,} bytes")]
            )
        raw = data_bytes.decode("utf-8")
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
    except (RecursionError, MemoryError, ValueError) as exc:
        # tomllib recurses once per nesting level and converts integers with int(), which
        # refuses more than 4,300 digits: both are hostile input, not a bug of the caller.
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise RulesetError([RulesetProblem(file, None, None, f"not valid TOML: {why}")]) from None

    positions, header_line, constant_lines = _positions(lines)
    problems: list[RulesetProblem] = []
    depth = _depth_of(data)
    if depth > MAX_TOML_DEPTH:
        raise RulesetError(
            [
                RulesetProblem(
                    file,
                    None,
                    None,
                    f"tables and arrays nested more than {MAX_TOML_DEPTH} deep",
                )
            ]
        )

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
    text = RulesetText(
        file, header, constants, claims, tuple(rules), tuple(lines), header_line, constant_lines
    )
    problems = _control_characters(text)
    if problems:
        raise RulesetError(problems)
    return text


def _depth_of(data: Any) -> int:
    """How deeply tables and arrays nest in ``data``, without recursing (the input is hostile)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_TOML_DEPTH:
            return depth  # deep enough to refuse; no need to walk the rest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _strings(value: Any) -> Iterator[str]:
    """Every string in ``value``, keys included (depth is already bounded)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield key
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def _control_characters(text: RulesetText) -> list[RulesetProblem]:
    """A problem for every ruleset string holding a control character (see errors.printable).

    Ruleset strings end up in findings, error messages, generated documentation and terminals;
    none of them has a use for ESC, NUL or a bidirectional override. Line breaks and tabs are
    allowed where a text is naturally written over several lines (``_MULTILINE_KEYS`` and the
    ruleset's description). Example claims are claim data and are left to the claim parser.
    """
    problems: list[RulesetProblem] = []

    def check(value: Any, where: str, line: int | None, rule_id: str | None, multiline: bool):
        for string in _strings(value):
            bad = _CONTROL.search(string)
            if bad is None:
                continue
            char = bad.group()
            if multiline and char in "\n\t":
                rest = _CONTROL.search(string.replace("\n", " ").replace("\t", " "))
                if rest is None:
                    continue
                char = rest.group()
            problems.append(
                text.problem(
                    line,
                    rule_id,
                    f"{where}: control character {char!r} in {printable(repr(string[:80]))}"
                    + ("" if multiline else " (this text is one line: no line breaks or tabs)"),
                )
            )

    for key, value in text.header.items():
        check(key, "[ruleset] key", text.header_line, None, False)
        check(value, f"[ruleset] {key}", text.header_line, None, key == "description")
    for key, value in text.constants.items():
        line = text.constant_lines.get(key)
        check(key, "constant name", line, None, False)
        check(value, f"constant {key}", line, None, False)
    for name in text.claims:
        check(name, "[claims] name", None, None, False)
    for rule in text.rules:
        rule_id = rule.data.get("id") if isinstance(rule.data.get("id"), str) else None
        for key, value in rule.data.items():
            line = rule.line_of(str(key))
            check(key, "rule key", line, rule_id, False)
            if key == "example" and isinstance(value, list):
                for index, example in enumerate(value):
                    if not isinstance(example, dict):
                        continue
                    where = rule.example_lines[index] if index < len(rule.example_lines) else line
                    for ex_key, ex_value in example.items():
                        check(ex_key, "example key", where, rule_id, False)
                        if ex_key == "claim":
                            continue  # claim data: the claim parser's business
                        if ex_key == "set" and isinstance(ex_value, dict):
                            check(list(ex_value), "example set path", where, rule_id, False)
                            continue
                        check(ex_value, f"example {ex_key}", where, rule_id, False)
                continue
            check(value, str(key), line, rule_id, key in _MULTILINE_KEYS)
    return problems
