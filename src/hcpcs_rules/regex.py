"""The patterns of ``matches(text, pattern)``: RE2 for every pattern, Python's ``re`` for the
plain ones where it is provably the same and provably fast.

RE2 is what makes a hostile ruleset's pattern harmless (matching time linear in the text,
whatever the pattern), and its syntax is the ruleset language's. Its Python wrapper costs about
4 µs a call, though, where ``re`` takes 0.2 µs: on a one-line claim the taxonomy check alone was
a sixth of the evaluation. Most ruleset patterns are plain (``3336[0-9A-Z]{5}X|332B00000X``), and
for those a backtracking matcher is linear too, so :func:`compile_pattern` hands them to ``re``.

A pattern takes the ``re`` path only if :func:`plain` accepts it, a small grammar where both
engines read every character alike and no match can backtrack more than linearly:

- alternatives (``|``) of sequences, with no groups: nothing is repeated but single characters;
- each item a character: an ASCII letter or digit, one of `` _-:/#@!%,;=<>'"&~``, a
  backslash-escaped ASCII punctuation character, ``.``, or a class ``[...]`` / ``[^...]`` of such
  characters and ``a-z`` ranges (no ``[`` inside, so no ``[:alpha:]``, whose meaning differs);
- each item optionally repeated by ``*``, ``+``, ``?``, ``{m}``, ``{m,}`` or ``{m,n}`` (not lazy,
  not possessive), with at most one item per alternative whose count is not fixed: the only
  choice a backtracking matcher makes in a sequence is that item's length, at most the length
  of the text, so a full match costs O(alternatives x text x pattern);
- no ``\\d``, ``\\w``, ``\\s``, ``\\b`` (Unicode in ``re``, ASCII in RE2), no anchors, no flags, no
  character outside printable ASCII.

Everything else (groups, nested repeats, two variable repeats in one alternative, RE2-only
syntax) stays with RE2. Both engines see the same text: a lone surrogate (JSON allows
``"\\ud800"``, UTF-8 does not) is read as U+FFFD by both. The property tests check the two paths
agree on patterns drawn from the grammar and on arbitrary texts.
"""

from __future__ import annotations

import re
from typing import Any

import re2

__all__ = ["compile_pattern", "compile_re2", "fullmatch", "plain", "regex_error"]

# Characters that are literals in both syntaxes, outside a class and inside one.
_LITERAL = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:/#@!%,;=<>'\"&~ "
)
# Characters that may follow a backslash: ASCII punctuation, an escaped literal in both.
_ESCAPABLE = frozenset("\\.^$|?*+()[]{}-/#@!%,;=<>'\"&~:")
_DIGITS = frozenset("0123456789")

_SURROGATE = re.compile("[\ud800-\udfff]")


def _re2_options() -> Any:
    options = re2.Options()
    # Bytes of memory RE2 may use for one compiled pattern: a pattern that needs more fails to
    # compile (a RulesetError) instead of growing without bound.
    options.max_mem = 8 << 20
    options.log_errors = False  # RE2 would print its errors to stderr; we report them
    return options


def compile_re2(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (raises ``re2.error`` if RE2 cannot compile it)."""
    return re2.compile(pattern, _re2_options())


def regex_error(pattern: str) -> str | None:
    """Why RE2 cannot compile ``pattern``, or None if it can: RE2 decides what a valid pattern
    is, whichever engine then matches it."""
    try:
        compile_re2(pattern)
    except Exception as exc:  # re2.error, and TypeError/ValueError for odd input
        why = exc.args[0] if exc.args else type(exc).__name__
        # RE2 reports its errors as UTF-8 bytes.
        return why.decode("utf-8", "replace") if isinstance(why, bytes) else str(why)
    return None


def plain(pattern: str) -> bool:
    """Whether ``pattern`` is in the grammar of the module docstring: the same language in RE2
    and ``re``, and linear-time for a backtracking matcher."""
    if not isinstance(pattern, str) or not pattern.isascii():
        return False
    at, end = 0, len(pattern)
    variable = False  # this alternative has its one item of variable count already
    while at < end:
        char = pattern[at]
        if char == "|":
            variable = False
            at += 1
            continue
        # One character-matching item.
        if char in _LITERAL or char == ".":
            at += 1
        elif char == "\\":
            if at + 1 >= end or pattern[at + 1] not in _ESCAPABLE:
                return False
            at += 2
        elif char == "[":
            at = _class_end(pattern, at + 1)
            if at < 0:
                return False
        else:
            return False  # ( ) ^ $ { } ] * + ? with nothing to repeat, anything else
        # Its count.
        if at < end and pattern[at] in "*+?{":
            if pattern[at] == "{":
                close = pattern.find("}", at)
                if close < 0:
                    return False
                low, comma, high = pattern[at + 1 : close].partition(",")
                if not low or not set(low) <= _DIGITS or not set(high) <= _DIGITS:
                    return False
                fixed = not comma or high == low
                at = close + 1
            else:
                fixed = False
                at += 1
            if at < end and pattern[at] in "?+*{":
                return False  # lazy, possessive or a repeated repeat
            if not fixed:
                if variable:
                    return False
                variable = True
    return True


def _class_end(pattern: str, at: int) -> int:
    """Where the class whose ``[`` is before ``at`` ends (just past its ``]``), -1 if it is not
    a plain class: literal characters, escaped punctuation and ranges of those."""
    end = len(pattern)
    if at < end and pattern[at] == "^":
        at += 1
    members = 0
    while at < end and pattern[at] != "]":
        at = _class_char(pattern, at)
        if at < 0:
            return -1
        if at < end and pattern[at] == "-" and at + 1 < end and pattern[at + 1] != "]":
            at = _class_char(pattern, at + 1)  # a range: both ends plain characters
            if at < 0:
                return -1
        members += 1
    if at >= end or not members:
        return -1
    return at + 1


def _class_char(pattern: str, at: int) -> int:
    char = pattern[at]
    if char == "\\":
        if at + 1 < len(pattern) and pattern[at + 1] in _ESCAPABLE:
            return at + 2
        return -1
    # "-" only as a range's operator (a class "[a-]" is left to RE2); no "[" (POSIX classes),
    # no "&", "~", "|" doubled into what re warns may become set operations.
    if (char in _LITERAL and char not in "-&~") or char == ".":
        return at + 1
    return -1


def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled for :func:`fullmatch`: by ``re`` when :func:`plain` accepts it, else
    by RE2 (raises ``re2.error`` if RE2 cannot compile it: call :func:`regex_error` first)."""
    compiled = compile_re2(pattern)  # RE2 decides validity, and compiles every pattern once
    if plain(pattern):
        return re.compile(pattern)
    return compiled


def fullmatch(pattern: Any, value: str) -> bool:
    """Whether all of ``value`` matches ``pattern`` (from :func:`compile_pattern`)."""
    if not value.isascii():
        # RE2 matches UTF-8, which has no lone surrogates: both engines read one as U+FFFD, a
        # character no plain pattern names and `.` matches.
        value = _SURROGATE.sub("\ufffd", value)
    return pattern.fullmatch(value) is not None
