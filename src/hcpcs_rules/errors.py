"""The library's exceptions, all under :class:`HcpcsRulesError`.

Bad input, :class:`ClaimError` (a claim) and :class:`RulesetError` (a ruleset, as located
:class:`RulesetProblem` records), are ``ValueError`` subclasses so callers that already catch bad
values keep working, and both carry *every* problem found, not just the first: a biller fixing a
claim, or an author fixing a ruleset, should see the whole list in one go. Failures while running,
:class:`RuleExecutionError`, :class:`BackendError`, :class:`WorkerError` and
:class:`EngineClosed`, are ``RuntimeError`` subclasses. :func:`printable` escapes control
characters before any of their text reaches a terminal.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = [
    "UNPRINTABLE",
    "BackendError",
    "ClaimError",
    "EngineClosed",
    "HcpcsRulesError",
    "RuleExecutionError",
    "RulesetError",
    "RulesetProblem",
    "WorkerError",
    "printable",
]

# What must never reach a terminal raw: C0 and C1 controls (ESC starts terminal escapes), DEL,
# the Unicode line and paragraph separators, the bidirectional overrides that reorder how a line
# reads ("Trojan source"), and lone surrogates (they cannot even be encoded to UTF-8). Everything
# else, accents and CJK included, prints as written.
UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character escaped the way ``repr`` writes it (``\\x1b``).

    With ``keep_newlines`` a ``\\n`` stays a line break (the caller indents what follows).
    """

    if text.isprintable():  # the common case, and every character above is unprintable
        return text

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if keep_newlines and char == "\n":
            return char
        return repr(char)[1:-1]

    return UNPRINTABLE.sub(escape, text)


#: difflib's cost grows with the square of a word's length: a longer word gets no suggestion.
LONGEST_SUGGESTED = 64


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` naming the option closest to ``word``, or ``""``.

    The one wording for every unknown name a user can write: claim keys, ruleset keys, fields,
    facts, functions, ruleset names. Bounded, so a hostile name costs no more than a short one.
    """
    if len(word) > LONGEST_SUGGESTED:
        return ""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class HcpcsRulesError(Exception):
    """Root of the library's own exceptions."""


class ClaimError(HcpcsRulesError, ValueError):
    """A claim does not fit the input shape of the contract.

    ``errors`` holds ``(json_path, message)`` pairs, e.g.
    ``("$.lines[0].units", "not a decimal number: 'sixty'")``.
    """

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors: tuple[tuple[str, str], ...] = tuple(errors)
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.errors)
        head = f"invalid claim ({n} problem{'s' if n != 1 else ''}):"
        return "\n".join([head, *(f"  {path}: {message}" for path, message in self.errors)])

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.errors,))


class RulesetProblem:
    """One located problem in a ruleset file.

    ``line`` counts from 1. ``column`` (from 1, in characters) and ``end_column`` (the column just
    after the offending span, like :class:`SyntaxError`'s ``end_offset``) are given where the
    problem is a span of the quoted line, an expression's typo say; then printing the problem
    draws a caret line under that span. ``end_column`` None with a ``column`` means "to the end
    of the line" (a span that goes on over the next lines).
    """

    __slots__ = ("column", "end_column", "file", "line", "message", "rule_id", "source_line")

    def __init__(
        self,
        file: str,
        line: int | None,
        rule_id: str | None,
        message: str,
        source_line: str | None = None,
        column: int | None = None,
        end_column: int | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.rule_id = rule_id
        self.message = message
        self.source_line = source_line
        self.column = column
        self.end_column = end_column

    def __repr__(self) -> str:
        where = "" if self.column is None else f", column={self.column!r}"
        return (
            f"RulesetProblem({self.file!r}, {self.line!r}, {self.rule_id!r}, {self.message!r}"
            f"{where})"
        )

    def __str__(self) -> str:
        # Every part may quote what a ruleset file says, and a file may hold control characters
        # (that is one of the things it is refused for): escape them all, so printing an error
        # can never drive the terminal. Line breaks in the message are the library's own
        # (a ClaimError quoted for an example), kept as indented continuation lines.
        file = printable(self.file)
        where = file if self.line is None else f"{file}:{self.line}"
        if self.line is not None and self.column is not None:
            where += f":{self.column}"
        rule = f" [{printable(str(self.rule_id))}]" if self.rule_id else ""
        message = printable(self.message, keep_newlines=True).replace("\n", "\n      ")
        text = f"{where}{rule}: {message}"
        if self.source_line is not None:
            quoted = self.source_line.rstrip()
            text += f"\n    | {printable(quoted)}"
            if self.column is not None:
                text += f"\n    | {_caret(quoted, self.column, self.end_column)}"
        return text


def _caret(quoted: str, column: int, end_column: int | None) -> str:
    """``^`` under columns ``column`` up to (not including) ``end_column`` of ``quoted``.

    Widths are measured on the *escaped* text, the way the line itself is printed, so a control
    character (a tab too) shown as ``\\x1b`` still has the caret under the right span.
    """
    start = min(max(column - 1, 0), len(quoted))
    end = len(quoted) if end_column is None else min(max(end_column - 1, start), len(quoted))
    return " " * len(printable(quoted[:start])) + "^" * max(len(printable(quoted[start:end])), 1)


class RulesetError(HcpcsRulesError, ValueError):
    """A ruleset cannot be loaded, validated or compiled safely.

    ``problems`` lists every :class:`RulesetProblem` found, each naming the file, line and
    rule id at fault.
    """

    def __init__(self, problems: Iterable[RulesetProblem]) -> None:
        self.problems: tuple[RulesetProblem, ...] = tuple(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.problems)
        head = f"ruleset error ({n} problem{'s' if n != 1 else ''}):"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])

    def __reduce__(self):
        return (type(self), (self.problems,))


class RuleExecutionError(HcpcsRulesError, RuntimeError):
    """A rule failed while evaluating a claim (a plugin function raised, for instance).

    The evaluation is abandoned and leaves no state behind; ``rule_id`` names the rule and the
    original exception is chained as ``__cause__``.
    """

    def __init__(self, rule_id: str, claim_id: str, error: BaseException) -> None:
        self.rule_id = rule_id
        self.claim_id = claim_id
        super().__init__(
            f"rule {rule_id} failed on claim {claim_id!r}: {type(error).__name__}: {error}"
        )

    def __reduce__(self):
        return (type(self), (self.rule_id, self.claim_id, RuntimeError(str(self))))


class BackendError(HcpcsRulesError, RuntimeError):
    """The engine underneath a backend failed on a claim (durable_rules' C engine, for instance).

    The evaluation is abandoned and leaves no state behind; the engine's own exception is chained.
    Rulesets the durable backend cannot run are refused when the Engine is built, so this is not
    expected in practice.
    """


class WorkerError(HcpcsRulesError, RuntimeError):
    """Worker processes of :func:`~hcpcs_rules.evaluate_many` cannot evaluate claims at all.

    Raised when a worker cannot build the caller's engine although this process could (a condition
    function registered inside ``main()`` instead of at import time of a module, for instance), so
    that ``workers=N`` never quietly turns into a serial run. The message says why.
    """


class EngineClosed(HcpcsRulesError, RuntimeError):
    """The :class:`~hcpcs_rules.engine.Engine` was closed: it evaluates no more claims.

    Raised by every evaluation after :meth:`~hcpcs_rules.engine.Engine.close`, on every backend,
    including one that was waiting for the engine while it closed.
    """
