"""Part of pass 1, read: the claim extension fields each ruleset declares.

A ruleset declares the fields it reads from a claim's or a line's ``extensions`` object::

    [ruleset.extensions.claim]
    prior_auth = "str"

    [ruleset.extensions.line]
    order_date = "date"

Each declaration is checked here (a table of ``name = "type"``, names as fact fields are, types
from :data:`hcpcs_rules.schema.EXTENSION_TYPES`). Two rulesets may declare one field with the same
type (they share it); with different types the later file is refused, naming both. A ruleset's
conditions may read the fields it declares itself or that a ruleset it ``requires`` (directly or
through others) declares, as with everything else one ruleset takes from another.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from .. import load, model, schema
from .context import FACT_NAME, Where, hint

__all__ = ["DeclaredExtension", "declare_extensions", "extension_records"]

_WHERE = ("claim", "line")
#: Most extension fields one ruleset declares on the claim, or on a line.
MAX_EXTENSION_FIELDS = 100
_EXAMPLE = 'e.g. [ruleset.extensions.line] then order_date = "date"'
# Names an Extensions object answers itself (Mapping's methods...): never field names, or
# `line.extensions.keys` would read the method instead of the field.
_TAKEN = frozenset(name for name in dir(model.Extensions) if not name.startswith("_"))
_TABLE = re.compile(r"\s*\[\s*ruleset\s*\.\s*extensions\s*\.\s*(claim|line)\s*\]")
_ANY_TABLE = re.compile(r"\s*\[")
_KEY = re.compile(r"\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")


@attrs.frozen
class DeclaredExtension:
    """One extension field as one ruleset declares it."""

    on: str  # "claim" or "line"
    name: str
    type: str
    ruleset: str
    file: str
    line: int | None


def _lines(text: load.RulesetText) -> dict[tuple[str, str], int]:
    """Where each ``[ruleset.extensions.*]`` key is written: (on, name) -> line number.

    A declaration written inline (``extensions = { line = {...} }``) has no line of its own here
    and is reported at the ``[ruleset]`` line.
    """
    out: dict[tuple[str, str], int] = {}
    on = None
    for number, line in enumerate(text.lines, start=1):
        table = _TABLE.match(line)
        if table:
            on = table.group(1)
            continue
        if _ANY_TABLE.match(line):
            on = None
            continue
        key = _KEY.match(line)
        if on is not None and key:
            out.setdefault((on, key.group(1).strip('"')), number)
    return out


def _declared(where: Where, ruleset: str, value: Any) -> list[DeclaredExtension]:
    """The declarations of one file, each problem reported through ``where``."""
    if value is None:
        return []
    if not isinstance(value, dict):
        where.error(f"[ruleset] extensions must be tables of field = type, {_EXAMPLE}")
        return []
    text = where.text
    lines = _lines(text)
    out = []
    for on in sorted(set(value) - set(_WHERE), key=str):
        where.error(
            f"[ruleset.extensions.{on}]: extensions are declared on 'claim' or 'line'"
            + hint(str(on), _WHERE)
        )
    for on in _WHERE:
        fields = value.get(on)
        if fields is None:
            continue
        if not isinstance(fields, dict):
            where.error(f"[ruleset.extensions.{on}] must be a table of field = type, {_EXAMPLE}")
            continue
        if len(fields) > MAX_EXTENSION_FIELDS:
            where.error(
                f"[ruleset.extensions.{on}] declares {len(fields):,} fields; "
                f"at most {MAX_EXTENSION_FIELDS}"
            )
            continue
        for name, type_ in fields.items():
            line = lines.get((on, name))
            what = f"extension field {on}.extensions.{name}"
            if not FACT_NAME.match(name):
                where.error(
                    f"extension field name {name!r}: use lowercase letters, digits and _ "
                    "(at most 64)",
                    line=line,
                )
            elif name in _TAKEN:
                where.error(f"{what}: {name!r} is a reserved name; choose another", line=line)
            elif not isinstance(type_, str) or type_ not in schema.EXTENSION_TYPES:
                where.error(
                    f"{what}: unknown type {type_!r}"
                    + (hint(type_, schema.EXTENSION_TYPES) if isinstance(type_, str) else "")
                    + f"; one of {', '.join(schema.EXTENSION_TYPES)}",
                    line=line,
                )
            else:
                out.append(DeclaredExtension(on, name, type_, ruleset, text.file, line))
    return out


def declare_extensions(build: Any) -> None:
    """Read every file's declarations into ``build.extensions``; refuse conflicting types.

    Files are taken in build order, so a conflict is reported on the later file (the newcomer),
    naming the earlier declaration.
    """
    first: dict[tuple[str, str], DeclaredExtension] = {}
    for text in build.texts:
        info = build.infos.get(text.file)
        if info is None:
            continue
        where = build.where(text)
        for declared in _declared(where, info.name, text.header.get("extensions")):
            key = (declared.on, declared.name)
            other = first.get(key)
            if other is not None and other.type != declared.type:
                where.error(
                    f"extension field {declared.on}.extensions.{declared.name} is declared "
                    f"{declared.type!r} by ruleset {declared.ruleset!r}, but {other.type!r} by "
                    f"ruleset {other.ruleset!r} ({other.file}:{other.line or '?'}); one field "
                    "has one type: use the same type to share it, or another name",
                    line=declared.line,
                )
                continue
            first.setdefault(key, declared)
            build.extensions.append(declared)


def _visible(build: Any, text: load.RulesetText) -> set[str]:
    """The rulesets whose declarations ``text`` may read: itself and what it requires, transitively."""
    by_name = {t.name: t for t in build.texts}
    seen = {text.name}
    stack = [text]
    while stack:
        requires = stack.pop().header.get("requires")
        for name in requires if isinstance(requires, list) else ():
            if isinstance(name, str) and name in by_name and name not in seen:
                seen.add(name)
                stack.append(by_name[name])
    return seen


def extension_records(build: Any, text: load.RulesetText) -> dict[str, dict[str, str]]:
    """The record types ``text``'s expressions see: ``extensions`` with the fields it may read."""
    visible = _visible(build, text)
    fields: dict[str, dict[str, str]] = {"claim": {}, "line": {}}
    for declared in build.extensions:
        if declared.ruleset in visible:
            fields[declared.on][declared.name] = declared.type
    return schema.records_with_extensions(fields["claim"], fields["line"])
