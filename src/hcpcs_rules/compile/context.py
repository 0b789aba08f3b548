"""What every pass shares: the error context, and the names and sizes rulesets may use.

A problem is reported through a :class:`Where`, bound to one file (and rule), so a pass says
``where.error("...", key="when")`` and the file, line, rule id and quoted line follow.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from .. import load
from ..errors import RulesetProblem, did_you_mean
from ..expr import ExprError

SEVERITIES = ("reject", "deny", "warn", "info")
PROGRAMS = ("medicare", "medicare_advantage", "commercial")

# Every name a ruleset gives is checked against one of these before anything uses it. They are
# ASCII-only (an explicit class, never \w), so a name is always a plain identifier or code that
# cannot carry a quote, a line break or a comment marker into generated code, a durable_rules
# definition or a terminal. docs/ruleset-format.md lists them.
RULE_ID = re.compile(r"[A-Z0-9][A-Z0-9-]{0,63}\Z")
FACT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")  # facts, fields, rulesets, overlays, constants
CODE = re.compile(r"[A-Z0-9]{1,16}\Z")  # HCPCS / CPT codes in `codes`
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}\Z")
RESERVED_FIELDS = frozenset({"t", "id", "sid", "key"})  # the engine's own keys on every fact

#: Longest text allowed per kind of ruleset string (characters). Far above what the shipped
#: rulesets use (in brackets), low enough that nothing downstream has to worry about size.
MAX_TEXT = {
    "title": 300,  # (75)
    "source": 4_000,  # (575)
    "notes": 20_000,  # (385)
    "description": 4_000,  # (221)
    "message": 2_000,  # (402)
    "example name": 300,  # (64)
    "string constant": 2_000,  # (a regex: 27)
}
#: Most items in a list constant or a `codes` / `scope` list.
MAX_LIST_ITEMS = 1_000
#: Integer constants are TOML's 64-bit integers; anything longer is not a real threshold.
MAX_INT_DIGITS = 18


hint = did_you_mean  # the compiler's short name for it


@attrs.define
class Where:
    """The error context of one file, or of one rule of it: where a problem is reported.

    ``key`` names the rule key (``"when"``, ``"fields.x"``) whose line a problem is reported at;
    without one, the rule's ``[[rule]]`` line (or the file's ``[ruleset]`` line). ``errors``
    counts the problems reported here, so a pass can tell whether a rule is still sound.
    """

    text: load.RulesetText
    rule: load.RuleText | None
    sink: list[RulesetProblem]
    errors: int = 0

    @property
    def rule_id(self) -> str | None:
        return self.rule.id if self.rule is not None else None

    def line(self, key: str | None = None) -> int | None:
        if self.rule is None:
            return (
                self.text.header_lines.get(key, self.text.header_line)
                if key
                else self.text.header_line
            )
        return self.rule.line if key is None else self.rule.line_of(key)

    def error(self, message: str, *, key: str | None = None, line: int | None = None) -> None:
        """Report ``message`` at ``line``, else at the line of ``key``, else the rule's own."""
        self.report(self.text.problem(line or self.line(key), self.rule_id, message))

    def report(self, problem: RulesetProblem) -> None:
        self.sink.append(problem)
        self.errors += 1

    def too_long(
        self, kind: str, value: Any, *, key: str | None = None, line: int | None = None
    ) -> bool:
        """Report (and say) whether ``value`` is a string longer than ``kind`` allows."""
        limit = MAX_TEXT[kind]
        if isinstance(value, str) and len(value) > limit:
            self.error(
                f"{kind} is {len(value):,} characters long; at most {limit:,}", key=key, line=line
            )
            return True
        return False

    def expr_errors(
        self, key: str, value: str, exc: ExprError, prefix: str, *, shift: int = 0
    ) -> None:
        """Report each problem of ``exc``, found in ``value`` (the string of rule key ``key``),
        at the file's own line and column where the string's kind allows (see
        :meth:`~hcpcs_rules.load.RulesetText.locate`); else at the key's line, saying where in the
        expression. ``shift`` is where the text that was parsed starts in ``value``.
        """
        assert self.rule is not None  # expressions are written in rules only
        at = self.rule.values.get(key)
        fallback = self.line(key.partition(".")[0])
        for problem in exc.problems:
            message = prefix + problem.message
            if problem.offset is None or problem.end_offset is None:
                self.error(message, line=fallback)
                continue
            start, end = problem.offset + shift, problem.end_offset + shift
            where = self.text.locate(at, value, start, end) if at is not None else None
            if where is not None:
                self.report(self.text.problem(where[0], self.rule_id, message, *where[1:]))
                continue
            # Written where the scanner cannot follow it (an inline table, say): the column is
            # the expression's own, and the message says so rather than point at the wrong place.
            within = f"line {problem.line}, " if problem.line != 1 else ""
            self.error(
                f"{message} (at {within}column {problem.column} of the text, not of the file)",
                line=fallback,
            )
