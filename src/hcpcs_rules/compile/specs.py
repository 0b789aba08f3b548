"""What a ruleset file's tables may hold, as attrs specs, and the one reader that fills them.

Each table a ruleset author writes (``[ruleset]``, ``[[rule]]``, ``[[rule.example]]``) is a spec
class here; each field says, in its :func:`key` metadata, which TOML types it takes, what else a
value must satisfy and the message when it does not. :func:`structure` reads a table into its
spec and reports, through the file's error context, every unknown key (with "did you mean"), every
missing required key and every value of the wrong type or shape, each at its line.

Keys whose *content* has a meaning of its own (``codes``, ``scope``, ``severity``, ``effective``,
``derive``, ``fields``, ``reason_codes``, an example's ``set`` and base claim) are taken as written here and checked
by the pass that gives them that meaning, which can say what is wrong in its own terms.
"""

# The spec classes' defaults are attrs fields made by key() (attrs.field with metadata); ruff
# cannot see through the wrapper and takes them for dataclass defaults computed once.
# ruff: noqa: RUF009

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from .context import FACT_NAME, RULE_ID, SEVERITIES, VERSION, Where, hint

T = TypeVar("T")


@attrs.frozen
class Key:
    """How one key of a table is read."""

    #: What to say when the value is missing (if required) or not acceptable; ``{value!r}`` in
    #: it is replaced by the value written (nothing else is: braces are literal).
    message: str
    types: tuple[type, ...] = (object,)
    required: bool = False
    accept: Callable[[Any], Any] | None = None  # a further test of a value of the right type
    longest: str | None = None  # the MAX_TEXT kind bounding a string's length


def key(
    message: str,
    types: tuple[type, ...] = (object,),
    *,
    required: bool = False,
    accept: Callable[[Any], Any] | None = None,
    longest: str | None = None,
    default: Any = None,
) -> Any:
    return attrs.field(
        default=default, metadata={"key": Key(message, types, required, accept, longest)}
    )


def _as_written(default: Any = None) -> Any:
    """A key taken as written; the pass that gives it a meaning checks it."""
    return key("", default=default)


def _not_blank(value: str) -> bool:
    return bool(value.strip())


def _names(value: list[Any]) -> bool:
    return all(isinstance(r, str) and FACT_NAME.match(r) for r in value)


@attrs.frozen
class HeaderSpec:
    """``[ruleset]``."""

    name: str | None = key(
        "[ruleset] needs a name of lowercase letters, digits and _",
        (str,),
        required=True,
        accept=FACT_NAME.match,
    )
    version: str | None = key(
        '[ruleset] needs a version of letters, digits and . + _ - (at most 64), e.g. version = "1.0.0"',
        (str,),
        required=True,
        accept=VERSION.match,
    )
    description: str = key(
        "[ruleset] description must be a string", (str,), longest="description", default=""
    )
    requires: list[str] = key(
        "requires must be a list of ruleset names", (list,), accept=_names, default=()
    )
    #: Constants and tables of required rulesets this file names, each "ruleset.name"; each
    #: item is checked by compile/read.py, which can say which part is wrong.
    uses: list[Any] = key(
        'uses must be a list of "ruleset.name" strings, e.g. uses = ["j7632.mg_per_unit"]',
        (list,),
        default=(),
    )
    #: ``[ruleset.extensions.claim]`` / ``.line``: checked by compile/extensions.py
    extensions: Any = _as_written()
    #: The payer ids this ruleset knows (claims may name them; scope and severities may use them).
    payers: list[str] = key(
        'payers must be a list of payer ids (lowercase letters, digits and _), e.g. payers = ["humana"]',
        (list,),
        accept=_names,
        default=(),
    )
    #: The hcpcs_rules versions the ruleset needs, a PEP 440 specifier (read.py checks it).
    hcpcs_rules: str | None = key(
        'hcpcs_rules must be a version specifier string, e.g. hcpcs_rules = ">=0.2"', (str,)
    )
    #: The date the ruleset was released: cited reason codes must not have stopped before it.
    released: dt.date | None = key(
        "released must be a TOML date, e.g. released = 2026-07-01",
        (dt.date,),
        accept=lambda v: not isinstance(v, dt.datetime),
    )


@attrs.frozen
class RuleSpec:
    """``[[rule]]``."""

    id: str | None = key(
        "a rule needs an id of capital letters, digits and '-', e.g. id = \"J7632-UNITS-MISMATCH\"",
        (str,),
        required=True,
        accept=RULE_ID.match,
    )
    title: str | None = key(
        "a rule needs a title", (str,), required=True, accept=_not_blank, longest="title"
    )
    source: str | None = key(
        "a rule needs a source: the policy, article or regulation it rests on",
        (str,),
        required=True,
        accept=_not_blank,
        longest="source",
    )
    notes: str | None = key("notes must be a string", (str,), longest="notes")
    on: str = key(
        "on must be 'line' or 'claim', not {value!r}",
        accept=lambda v: v in ("line", "claim"),
        default="line",
    )
    codes: Any = _as_written()
    scope: Any = _as_written(default=("all",))
    effective: Any = _as_written()
    when: str | None = key("when must be a condition string", (str,))
    severity: Any = _as_written()
    message: str | None = key(
        "message must be a non-empty template string",
        (str,),
        accept=_not_blank,
        longest="message",
    )
    derive: Any = _as_written()
    #: The payer answer its findings suggest (group, CARC, RARCs): compile/reasons.py
    reason_codes: Any = _as_written()
    per: Any = _as_written()
    fields: Any = _as_written()
    example: list[Any] = key("examples must be [[rule.example]] tables", (list,), default=())


@attrs.frozen
class ExampleSpec:
    """``[[rule.example]]``."""

    name: str | None = key("example name must be a string", (str,), longest="example name")
    base: Any = _as_written()
    claim: Any = _as_written()
    set: dict[str, Any] | None = key(
        'example set must be a table of path = value, e.g. set = { "line[1].units" = "1" }',
        (dict,),
    )
    unset: list[Any] | None = key("example unset must be a list of paths", (list,))
    fires: bool | None = key("example needs fires = true or fires = false", (bool,), required=True)
    line: int | None = key("example line must be a line number", (int,))
    severity: str | None = key(
        f"example severity must be one of {', '.join(SEVERITIES)}",
        (str,),
        accept=lambda v: v in SEVERITIES,
    )


def _said(message: str, value: Any) -> str:
    return message.replace("{value!r}", repr(value))


def keys_of(spec: type) -> frozenset[str]:
    return frozenset(f.name for f in attrs.fields(spec))


def structure(
    spec: type[T], table: dict[str, Any], where: Where, *, unknown: str, line: int | None = None
) -> T:
    """``table`` read into ``spec``, every problem reported through ``where``.

    ``unknown`` words an unknown key (``{key}`` is the key quoted). Problems are reported at
    ``line`` when given (an example's), else at the key's own line, and a missing key at the
    table's. A key that is missing or not acceptable keeps its default, so later passes still
    check the rest of the table; ``where.errors`` tells whether anything was wrong.
    """
    names = keys_of(spec)
    for name in sorted(set(table) - names, key=str):
        where.error(
            unknown.format(key=repr(name)) + hint(str(name), sorted(names)),
            key=str(name),
            line=line,
        )
    values: dict[str, Any] = {}
    for field in attrs.fields(spec):
        rule: Key = field.metadata["key"]
        if field.name not in table:
            if rule.required:
                where.error(_said(rule.message, None), line=line)
            continue
        value = table[field.name]
        if rule.message and (
            not isinstance(value, rule.types) or (rule.accept and not rule.accept(value))
        ):
            where.error(_said(rule.message, value), key=field.name, line=line)
            continue
        if rule.longest and where.too_long(rule.longest, value, key=field.name, line=line):
            continue
        values[field.name] = value
    return spec(**values)
