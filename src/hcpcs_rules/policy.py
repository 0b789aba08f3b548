"""An organisation's policy over the rulesets: which findings it wants, how severe, for which payers.

A :class:`Policy` is a value read strictly from ``hcpcs-rules.toml``, from the
``[tool.hcpcs-rules]`` table of a ``pyproject.toml``, or from a dict. It holds

- ``select`` / ``ignore``: rule ids or globs (``J7632-COM-*``) whose findings are kept or dropped;
- ``severity``: overrides by rule id or glob, for every payer or per overlay;
- ``payers``: payer ids or plan codes mapped to the overlay they are evaluated as.

:func:`bind` checks a Policy against a compiled :class:`~hcpcs_rules.ir.Program` (every pattern
matches a rule, every overlay is one the program knows) and gives the :class:`BoundPolicy` the
engine applies per claim. The library never looks for a policy file by itself: only the CLI
discovers one (:func:`discover`), so a server's results never depend on its working directory.

Why findings are filtered after evaluation instead of rules being removed from the program: a
policy must not change what the rulesets mean (a derived fact every other rule reads cannot be
switched off), both backends then apply it identically by construction, and an ignored finding
can still be reported as ignored (``Result.ignored``).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from . import ir
from .errors import RulesetError, RulesetProblem, did_you_mean
from .model import Claim, Finding, TraceStep

__all__ = [
    "CONFIG_NAME",
    "BoundPolicy",
    "Policy",
    "PolicyError",
    "bind",
    "discover",
    "load_policy",
]

CONFIG_NAME = "hcpcs-rules.toml"
PYPROJECT = "pyproject.toml"
TOOL_TABLE = ("tool", "hcpcs-rules")

SEVERITIES = ("reject", "deny", "warn", "info")
#: The programs core's CORE-PAYER-SCOPE derives; every program always has an overlay of its name.
PROGRAMS = ("medicare", "medicare_advantage", "commercial")
KEYS = ("select", "ignore", "severity", "payers")

# Rule ids are upper-case letters, digits and '-' (compile/context.py); a pattern adds the glob
# characters '*' and '?'. Nothing else: a pattern never reaches a terminal with a control in it.
_PATTERN = re.compile(r"[A-Z0-9*?][A-Z0-9*?-]{0,63}\Z")
_OVERLAY = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_PAYER = re.compile(r"[^\x00-\x1f\x7f]{1,64}\Z")
#: A policy file is configuration, small by nature; refusing a huge one bounds the work.
MAX_POLICY_BYTES = 1_000_000


class PolicyError(RulesetError):
    """A policy cannot be read, or does not fit the rulesets it is applied to.

    A :class:`~hcpcs_rules.errors.RulesetError` (so a ``ValueError``) because, like a ruleset, a
    policy is configuration the engine is built from: every handler of a broken ruleset (the
    CLI's exit status 2) handles it. Its problems name the file, the line where the key is
    written (when the policy came from a file) and the key (``severity."J7632-X"``).
    """

    def _render(self) -> str:
        n = len(self.problems)
        head = f"policy error ({n} problem{'s' if n != 1 else ''}):"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


@attrs.frozen
class SeverityOverride:
    """``pattern`` (a rule id or glob) gets ``severity`` for claims of ``overlay`` (``"*"``: any)."""

    pattern: str
    overlay: str
    severity: str


def _sorted_unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(items)))


@attrs.frozen
class Policy:
    """What an organisation wants of the findings; see the module docstring and docs/policy.md.

    Equal policies have equal :attr:`digest` whatever file or form they came from (and whatever
    the order of ``select``, ``ignore`` and ``payers``): ``origin`` and the line numbers are where
    it was read, not what it says. The order of severity overrides is kept: it decides between
    equally specific patterns.
    """

    # Sets in meaning (the most specific pattern decides, not the order), kept sorted so that
    # equal policies compare equal; severity overrides keep their order (a tie goes to the later).
    select: tuple[str, ...] = attrs.field(default=(), converter=_sorted_unique)
    ignore: tuple[str, ...] = attrs.field(default=(), converter=_sorted_unique)
    severity: tuple[SeverityOverride, ...] = ()
    payers: tuple[tuple[str, str], ...] = ()  # (payer id or plan code, overlay), sorted
    origin: str = attrs.field(default="<policy>", eq=False)
    #: key path ("severity.J7632-X") -> line in ``origin``, for errors found after reading.
    lines: tuple[tuple[str, int], ...] = attrs.field(default=(), eq=False, repr=False)
    #: Patterns given on the command line (:meth:`extend`): their errors name the flag, not a
    #: line of ``origin``.
    from_command_line: frozenset[str] = attrs.field(default=frozenset(), eq=False, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "<policy>") -> Policy:
        """A Policy from plain data (the keys of ``hcpcs-rules.toml``); PolicyError if wrong."""
        return _read(data, origin, {})

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Policy:
        """A Policy from ``hcpcs-rules.toml`` or the ``[tool.hcpcs-rules]`` of a pyproject.toml."""
        return _read_file(Path(path))

    def normalized(self) -> dict[str, Any]:
        """The content as plain data in one canonical order: what :attr:`digest` hashes."""
        return {
            "select": list(self.select),
            "ignore": list(self.ignore),
            "severity": [list(attrs.astuple(s)) for s in self.severity],
            "payers": [list(p) for p in sorted(self.payers)],
        }

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of :meth:`normalized` as canonical JSON."""
        text = json.dumps(self.normalized(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def extend(self, *, select: Iterable[str] | None = None, ignore: Iterable[str] = ()) -> Policy:
        """This policy with command-line patterns, as ruff combines them: ``select`` replaces
        the file's list, ``ignore`` adds to it. Each pattern is checked as the file's are."""
        problems: list[RulesetProblem] = []
        new_select = (
            self.select
            if select is None
            else tuple(_patterns(list(select), "--select", "<command line>", {}, problems))
        )
        extra = tuple(_patterns(list(ignore), "--ignore", "<command line>", {}, problems))
        if problems:
            raise PolicyError(problems)
        flags = self.from_command_line | set(extra)
        if select is not None:
            flags |= set(new_select)
        return attrs.evolve(
            self, select=new_select, ignore=self.ignore + extra, from_command_line=frozenset(flags)
        )

    def line_of(self, key: str) -> int | None:
        return _line_for(dict(self.lines), key)


# ------------------------------------------------------------------------------------ reading


def load_policy(value: Policy | str | os.PathLike[str] | Mapping[str, Any] | None) -> Policy | None:
    """What ``Engine(policy=...)`` accepts, as a Policy: a Policy, a file path, or a dict."""
    if value is None or isinstance(value, Policy):
        return value
    if isinstance(value, str | os.PathLike):
        return Policy.from_file(value)
    if isinstance(value, Mapping):
        return Policy.from_dict(value, origin="<dict>")
    raise TypeError(
        f"policy must be a hcpcs_rules.Policy, a path or a dict, not {type(value).__name__}"
    )


def discover(start: str | os.PathLike[str]) -> Path | None:
    """The policy file the CLI uses for ``start`` (a folder): in it or the nearest parent, the
    first ``hcpcs-rules.toml``, else a ``pyproject.toml`` that has ``[tool.hcpcs-rules]`` (one
    without it is passed over, as ruff and black do). None when there is none."""
    folder = Path(start).resolve()
    for candidate in (folder, *folder.parents):
        own = candidate / CONFIG_NAME
        if own.is_file():
            return own
        pyproject = candidate / PYPROJECT
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def _has_tool_table(path: Path) -> bool:
    try:
        raw = path.read_bytes()
    except OSError:
        return True  # unreadable: reading it says why, rather than quietly using another file
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError, ValueError):
        # A broken pyproject.toml may well hold our table: say so when reading it, not skip it.
        return b"hcpcs-rules" in raw
    return isinstance(data.get("tool"), dict) and TOOL_TABLE[1] in data["tool"]


def _read_file(path: Path) -> Policy:
    origin = str(path)
    try:
        raw_bytes = path.read_bytes()
        if len(raw_bytes) > MAX_POLICY_BYTES:
            raise PolicyError(
                [RulesetProblem(origin, None, None, f"larger than {MAX_POLICY_BYTES:,} bytes")]
            )
        raw = raw_bytes.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(
            [RulesetProblem(origin, None, None, f"cannot read the policy: {exc}")]
        ) from None
    lines = raw.split("\n")
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        if line is None and "end of document" in str(exc):
            # tomllib names no line for a file that stops mid-value: that is its last line.
            line = max((n for n, text in enumerate(lines, 1) if text.strip()), default=None)
        quote = lines[line - 1] if line and line <= len(lines) else None
        raise PolicyError(
            [RulesetProblem(origin, line, None, f"not valid TOML: {exc}", quote)]
        ) from None
    except (RecursionError, ValueError) as exc:
        raise PolicyError(
            [RulesetProblem(origin, None, None, f"not valid TOML: {str(exc)[:200]}")]
        ) from None
    prefix: tuple[str, ...] = ()
    if path.name == PYPROJECT:
        tool = data.get("tool")
        if not isinstance(tool, dict) or TOOL_TABLE[1] not in tool:
            raise PolicyError(
                [RulesetProblem(origin, None, None, "has no [tool.hcpcs-rules] table")]
            )
        data, prefix = tool[TOOL_TABLE[1]], TOOL_TABLE
        if not isinstance(data, dict):
            raise PolicyError(
                [RulesetProblem(origin, None, None, "[tool.hcpcs-rules] must be a table")]
            )
    return _read(data, origin, _key_lines(lines, prefix))


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_ASSIGN = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_*?.-]+)\s*=""")


def _key_lines(lines: list[str], prefix: tuple[str, ...]) -> dict[str, int]:
    """``"key"`` / ``"table.key"`` -> the line it is written on, for the tables under ``prefix``.

    A plain line scan, enough for the flat layout a policy has (top-level keys and the
    ``[severity]`` and ``[payers]`` tables); a key it cannot place is reported without a line.
    """
    found: dict[str, int] = {}
    # Keys before any header are the policy's own in hcpcs-rules.toml, a project's in pyproject.
    table: tuple[str, ...] | None = None if prefix else ()
    for number, text in enumerate(lines, start=1):
        header = _HEADER.match(text)
        if header:
            parts = tuple(_unquote(p) for p in _split_dotted(header.group(1)))
            if parts[: len(prefix)] == prefix:
                table = parts[len(prefix) :]
                if table:
                    found.setdefault(".".join(table), number)
            else:
                table = None
            continue
        assign = _ASSIGN.match(text)
        if assign and table is not None:
            key = ".".join((*table, _unquote(assign.group(1))))
            found.setdefault(key, number)
    return found


def _line_for(lines: Mapping[str, int], key: str) -> int | None:
    """The line of ``key`` ("severity.X.medicare"), else of the nearest enclosing key written
    on a line of its own (an inline table's entries share its line)."""
    while True:
        if key in lines:
            return lines[key]
        if "." not in key:
            return None
        key = key.rsplit(".", 1)[0]


def _split_dotted(text: str) -> list[str]:
    return re.findall(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^.\s]+", text)


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" else text


def _read(data: Mapping[str, Any], origin: str, lines: dict[str, int]) -> Policy:
    problems: list[RulesetProblem] = []

    def problem(key: str, message: str) -> None:
        problems.append(RulesetProblem(origin, _line_for(lines, key), None, f"{key}: {message}"))

    if not isinstance(data, Mapping):
        raise PolicyError([RulesetProblem(origin, None, None, "a policy must be a table")])
    for key in data:
        if key not in KEYS:
            problem(
                str(key),
                f"unknown key{did_you_mean(str(key), KEYS)}; a policy has {', '.join(KEYS)}",
            )
    select = _patterns(data.get("select", []), "select", origin, lines, problems)
    ignore = _patterns(data.get("ignore", []), "ignore", origin, lines, problems)

    overrides: list[SeverityOverride] = []
    table = data.get("severity", {})
    if not isinstance(table, Mapping):
        problem("severity", f"must be a table of rule id or glob = severity, not {_kind(table)}")
        table = {}
    for pattern, value in table.items():
        key = f"severity.{pattern}"
        if not _pattern_ok(pattern):
            problem(key, f"{pattern!r} is not a rule id or glob (A-Z, 0-9, '-', '*', '?')")
            continue
        if isinstance(value, str):
            if _severity_ok(value, key, problem):
                overrides.append(SeverityOverride(pattern, "*", value))
        elif isinstance(value, Mapping):
            if not value:
                problem(key, "an empty table overrides nothing")
            for overlay, level in value.items():
                where = f"{key}.{overlay}"
                if overlay != "default" and not (
                    isinstance(overlay, str) and _OVERLAY.match(overlay)
                ):
                    problem(
                        where, f"{overlay!r} is not an overlay name (lowercase letters, digits, _)"
                    )
                elif not isinstance(level, str):
                    problem(
                        where, f"must be a severity ({', '.join(SEVERITIES)}), not {_kind(level)}"
                    )
                elif _severity_ok(level, where, problem):
                    overrides.append(
                        SeverityOverride(pattern, "*" if overlay == "default" else overlay, level)
                    )
        else:
            problem(key, f"must be a severity or a table of overlay = severity, not {_kind(value)}")

    payers: dict[str, str] = {}
    table = data.get("payers", {})
    if not isinstance(table, Mapping):
        problem("payers", f"must be a table of payer id = overlay, not {_kind(table)}")
        table = {}
    for payer, overlay in table.items():
        key = f"payers.{payer}"
        if not isinstance(payer, str) or not _PAYER.match(payer) or payer != payer.strip():
            problem(
                key,
                f"{payer!r} is not a payer id (1 to 64 printable characters, no surrounding blanks)",
            )
        elif not isinstance(overlay, str):
            problem(key, f"must be an overlay name, not {_kind(overlay)}")
        elif not _OVERLAY.match(overlay):
            problem(key, f"{overlay!r} is not an overlay name (lowercase letters, digits, _)")
        else:
            payers[payer] = overlay
    if problems:
        raise PolicyError(problems)
    return Policy(
        select=tuple(select),
        ignore=tuple(ignore),
        severity=tuple(overrides),
        payers=tuple(sorted(payers.items())),
        origin=origin,
        lines=tuple(sorted(lines.items())),
    )


def _patterns(
    value: Any, key: str, origin: str, lines: dict[str, int], problems: list[RulesetProblem]
) -> list[str]:
    if not isinstance(value, list | tuple):
        problems.append(
            RulesetProblem(
                origin,
                lines.get(key),
                None,
                f"{key}: must be a list of rule ids or globs, not {_kind(value)}",
            )
        )
        return []
    out = []
    for item in value:
        if not isinstance(item, str):
            problems.append(
                RulesetProblem(origin, lines.get(key), None, f"{key}: {item!r} is not a string")
            )
        elif not _pattern_ok(item):
            problems.append(
                RulesetProblem(
                    origin,
                    lines.get(key),
                    None,
                    f"{key}: {item!r} is not a rule id or glob (A-Z, 0-9, '-', '*', '?')",
                )
            )
        elif item not in out:
            out.append(item)
    return out


def _pattern_ok(pattern: Any) -> bool:
    return isinstance(pattern, str) and bool(_PATTERN.match(pattern))


def _severity_ok(value: str, key: str, problem: Any) -> bool:
    if value in SEVERITIES:
        return True
    problem(
        key,
        f"unknown severity {value!r}{did_you_mean(value, SEVERITIES)}; one of {', '.join(SEVERITIES)}",
    )
    return False


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dt.date | dt.time):
        return "a date or time"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


# ------------------------------------------------------------------------------------ binding


def _specificity(pattern: str) -> tuple[int, int]:
    """Exact ids beat globs; among globs, the one with more literal characters is more specific."""
    literal = len(pattern) - pattern.count("*") - pattern.count("?")
    return (0 if ("*" in pattern or "?" in pattern) else 1, literal)


def _matches(pattern: str, rule_id: str) -> bool:
    return fnmatch.fnmatchcase(rule_id, pattern)


@attrs.frozen
class BoundPolicy:
    """A Policy checked against one Program, resolved per rule: what the engine applies.

    Computed once per Engine (or per ``evaluate(..., policy=)`` call); immutable, shared by
    threads.
    """

    policy: Policy
    digest: str
    #: rule ids whose findings the policy drops
    ignored: frozenset[str]
    #: rule id -> overlay tables, most specific pattern first; each maps overlay/"*" -> severity
    severities: Mapping[str, tuple[Mapping[str, str], ...]]
    payers: Mapping[str, str]

    def map_claim(self, claim: Claim) -> tuple[Claim, tuple[str, str] | None]:
        """The claim as the policy has it evaluated, and ``(payer, overlay)`` when mapped.

        A new Claim (they are frozen): the caller's is never changed. The mapping acts on
        ``payer`` and ``line_of_business``, the only inputs of core's CORE-PAYER-SCOPE, so every
        backend derives the mapped overlay the same way.
        """
        overlay = self.payers.get(claim.payer)
        if overlay is None:
            return claim, None
        if overlay in ("medicare_advantage", "commercial"):
            # A program, not a payer: the claim keeps its own payer (its enrollments, its name
            # on findings) and is evaluated under that program.
            mapped = attrs.evolve(claim, line_of_business=overlay)
        else:
            mapped = attrs.evolve(claim, payer=overlay, line_of_business="commercial")
        return mapped, (claim.payer, overlay)

    def apply(
        self, findings: list[Finding], overlay: str | None, program: str | None
    ) -> tuple[list[Finding], list[Finding]]:
        """``(kept, ignored)``: the findings with severities overridden, and those dropped."""
        kept: list[Finding] = []
        dropped: list[Finding] = []
        for finding in findings:
            if finding.rule_id in self.ignored:
                dropped.append(finding)
                continue
            tables = self.severities.get(finding.rule_id)
            if tables:
                level = _level(tables, overlay, program)
                if level is not None and level != finding.severity:
                    finding = attrs.evolve(finding, severity=level, rule_severity=finding.severity)
            kept.append(finding)
        return kept, dropped

    def apply_trace(
        self, trace: tuple[TraceStep, ...], overlay: str | None, program: str | None
    ) -> tuple[TraceStep, ...]:
        """The trace as the findings read: an ignored rule's step marked ``ignored``, an
        overridden one showing the policy's severity. Steps are never removed: the rule did run."""
        out = []
        for step in trace:
            if step.finding is not None:
                if step.rule_id in self.ignored:
                    step = attrs.evolve(step, ignored=True)
                else:
                    tables = self.severities.get(step.rule_id)
                    level = _level(tables, overlay, program) if tables else None
                    if level is not None:
                        step = attrs.evolve(step, finding=level)
            out.append(step)
        return tuple(out)


def _level(
    tables: tuple[Mapping[str, str], ...], overlay: str | None, program: str | None
) -> str | None:
    # The most specific pattern that says something about this claim's payer decides; within
    # its table, the overlay before the program before the default (as severity_for does).
    for table in tables:
        for key in (overlay, program, "*"):
            if key is not None and key in table:
                return table[key]
    return None


def known_overlays(program: ir.Program) -> tuple[str, ...]:
    """Every overlay a policy may name: the programs, and each one a rule scopes or grades by."""
    names = set(PROGRAMS)
    for rule in program.rules:
        names.update(s for s in rule.scope if s != "all")
        if rule.finding is not None:
            names.update(o for o, _ in rule.finding.severity if o != "*")
    return tuple(sorted(names))


def bind(policy: Policy, program: ir.Program) -> BoundPolicy:
    """Check ``policy`` against ``program`` and resolve it per rule; PolicyError listing every
    pattern that matches no rule, or only rules that emit no finding, and every unknown overlay."""
    problems: list[RulesetProblem] = []
    ids = [r.id for r in program.rules]
    emitting = {r.id for r in program.rules if r.finding is not None}
    overlays = known_overlays(program)

    def problem(key: str, message: str, pattern: str | None = None) -> None:
        if pattern in policy.from_command_line and key in ("select", "ignore"):
            # Given as --select/--ignore: no line of the policy file is to blame.
            problems.append(RulesetProblem("<command line>", None, None, f"--{key}: {message}"))
            return
        line = policy.line_of(key)
        problems.append(RulesetProblem(policy.origin, line, None, f"{key}: {message}"))

    def check(pattern: str, key: str) -> list[str]:
        if not _pattern_ok(pattern):
            problem(key, f"{pattern!r} is not a rule id or glob (A-Z, 0-9, '-', '*', '?')")
            return []
        hits = [i for i in ids if _matches(pattern, i)]
        if not hits:
            hint = did_you_mean(pattern, ids)
            problem(key, f"{pattern!r} matches no rule of the rulesets in use{hint}", pattern)
            return []
        findings = [i for i in hits if i in emitting]
        if not findings:
            shown = ", ".join(hits[:5]) + (", ..." if len(hits) > 5 else "")
            problem(
                key,
                f"{pattern!r} matches only rules that derive facts ({shown}); a policy selects,"
                " ignores and grades findings",
                pattern,
            )
        return findings

    selected: set[str] = set()
    best: dict[str, tuple[tuple[int, int], bool]] = {}  # rule -> (specificity, ignored?)
    for key, patterns, ignoring in (
        ("select", policy.select, False),
        ("ignore", policy.ignore, True),
    ):
        for pattern in patterns:
            for rule_id in check(pattern, key):
                rank = _specificity(pattern)
                if not ignoring:
                    selected.add(rule_id)
                held = best.get(rule_id)
                # The most specific pattern decides; at equal specificity ignoring wins.
                if held is None or rank > held[0] or (rank == held[0] and ignoring):
                    best[rule_id] = (rank, ignoring)
    ignored = {r for r, (_, ig) in best.items() if ig}
    if policy.select:
        ignored |= emitting - selected
    by_rule: dict[str, list[tuple[tuple[int, int], int, dict[str, str]]]] = {}
    tables: dict[str, dict[str, str]] = {}
    for order, override in enumerate(policy.severity):
        key = f"severity.{override.pattern}"
        # A Policy built directly (not read) has had none of the reading checks.
        if override.severity not in SEVERITIES:
            problem(key, f"unknown severity {override.severity!r}; one of {', '.join(SEVERITIES)}")
            continue
        if override.overlay != "*" and override.overlay not in overlays:
            problem(
                f"{key}.{override.overlay}",
                f"unknown overlay {override.overlay!r}{did_you_mean(override.overlay, overlays)}",
            )
            continue
        if override.pattern not in tables:
            tables[override.pattern] = {}
            for rule_id in check(override.pattern, key):
                by_rule.setdefault(rule_id, []).append(
                    (_specificity(override.pattern), order, tables[override.pattern])
                )
        tables[override.pattern][override.overlay] = override.severity
    for payer, overlay in policy.payers:
        if overlay not in overlays:
            problem(
                f"payers.{payer}",
                f"unknown overlay {overlay!r}{did_you_mean(overlay, overlays)}; known: {', '.join(overlays)}",
            )
    if problems:
        raise PolicyError(problems)
    severities = {
        rule_id: tuple(t for _, _, t in sorted(entries, key=lambda e: (e[0], e[1]), reverse=True))
        for rule_id, entries in by_rule.items()
    }
    return BoundPolicy(
        policy=policy,
        digest=policy.digest,
        ignored=frozenset(ignored),
        severities=severities,
        payers=dict(policy.payers),
    )
