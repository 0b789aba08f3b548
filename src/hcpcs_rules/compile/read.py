"""Pass 1, read: the shape of what each file says (header, constants, each rule's keys), into
the specs of :mod:`.specs`."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .. import ir, schema, tables
from ..errors import RulesetError
from ..expr import Env
from .context import FACT_NAME, MAX_INT_DIGITS, MAX_LIST_ITEMS, MAX_TEXT, Where, hint
from .extensions import declare_extensions, extension_records
from .specs import HeaderSpec, RuleSpec, structure
from .state import Build, RuleWork


def read_specs(build: Build) -> None:
    """Check each file's header, constants and rules' keys; drop rules whose id is taken.

    A file whose header cannot be read stops the build here: every later pass names its ruleset.
    """
    uses: dict[str, list[Any]] = {}
    for text in build.texts:
        info = _header(build, build.where(text), {t.name for t in build.texts}, uses)
        if info is not None:
            build.infos[text.file] = info
    if build.problems:
        raise RulesetError(build.problems)
    declare_extensions(build)
    # Each file's own constants and tables first: a file's `uses` names those of another file.
    own: dict[str, dict[str, ir.Const]] = {}
    for text in build.texts:
        constants = _constants(build.where(text))
        constants.update(_tables(build.where(text), constants))
        own[build.infos[text.file].name] = constants
    for text in build.texts:
        # Constants are the file's own plus what it imports by `uses`; facts are shared by every
        # ruleset in the program (as far as `requires` allows: check_requires).
        name = build.infos[text.file].name
        constants = dict(own[name])
        constants.update(_uses(build, build.where(text), uses.get(name, []), own))
        build.envs[text.file] = Env(
            schema.BASE_ROOTS,
            build.fact_fields,
            constants,
            build.fact_bounds,
            records=extension_records(build, text),
        )
    seen: dict[str, Where] = {}
    for text in build.texts:
        for rule in text.rules:
            where = build.where(text, rule)
            rid = rule.id
            if rid is not None and rid in seen:
                # Files come in load order (required rulesets first), so the rule reported is
                # the newcomer: a plugin reusing a built-in id is told, not the built-in file.
                other = seen[rid]
                first = build.infos[other.text.file].name
                where.error(
                    f"duplicate rule id {rid!r}: already defined at"
                    f" {other.text.file}:{other.line()} (ruleset {first!r}); rule ids are unique"
                    " across all loaded rulesets: give this rule another id"
                )
                continue
            if rid is not None:
                seen[rid] = where
            build.rules.append(_rule(where, build.infos[text.file].name))


def _header(
    build: Build, where: Where, known: set[str], uses: dict[str, list[Any]]
) -> ir.RulesetInfo | None:
    spec = structure(HeaderSpec, where.text.header, where, unknown="unknown key {key} in [ruleset]")
    if spec.name is not None:
        uses[spec.name] = list(spec.uses)
    for required in spec.requires:
        if required == spec.name:
            where.error(f"ruleset {required!r} requires itself", key="requires")
        elif required not in known:
            where.error(
                f"requires ruleset {required!r}, which is not installed (nor given by path)"
                + hint(required, sorted(known - {spec.name})),
                key="requires",
            )
    for payer in spec.payers:
        if payer in _NOT_PAYERS:
            where.error(f"payers: {payer!r} is {_NOT_PAYERS[payer]}, not a payer id", key="payers")
    # hcpcs_rules (the library versions needed) is checked as the file is read: load.py.
    if spec.name is None or spec.version is None:
        return None
    build.requires[spec.name] = tuple(spec.requires)
    build.payers[spec.name] = tuple(p for p in spec.payers if p not in _NOT_PAYERS)
    return ir.RulesetInfo(spec.name, spec.version, where.text.file, spec.description)


#: Names a payer id may not take: each already means something in scope and severities.
_NOT_PAYERS = {
    "commercial": "a program",
    "medicare_advantage": "a program (a line of business)",
    "all": "scope's word for every claim",
    "default": "a severity table's word for the other overlays",
}


def _constants(where: Where) -> dict[str, ir.Const]:
    text = where.text
    out: dict[str, ir.Const] = {}
    for name, value in text.constants.items():
        line = text.constant_lines.get(name)
        if not isinstance(name, str) or not FACT_NAME.match(name):
            where.error(
                f"constant name {name!r}: use lowercase letters, digits and _ (at most 64)",
                line=line,
            )
            continue
        size = constant_size_problem(value)
        if size is not None:
            where.error(f"constant {name!r}: {size}", line=line)
            continue
        const = constant(value)
        if const is None:
            where.error(
                f"constant {name!r}: use a string, an integer, a date or a list of one of those (write decimal numbers in the condition text, where 1.1 is exact)",
                line=line,
            )
        elif name in schema.BASE_ROOTS or name in ("exists", "date"):
            where.error(f"constant {name!r} would hide a built-in name", line=line)
        else:
            out[name] = const
    return out


def _tables(where: Where, constants: dict[str, ir.Const]) -> dict[str, ir.Const]:
    """``[tables.<name>]``, read (rows and CSV files too) by :mod:`hcpcs_rules.tables`; each a
    constant of type ``table``, local to its file like the other constants."""
    text = where.text
    found, problems = tables.read_tables(text.file, text.tables, text.table_lines, text.quote)
    for problem in problems:
        where.report(problem)
    out: dict[str, ir.Const] = {}
    for name, table in found.items():
        line = text.table_lines.get(name, {}).get("")
        if name in constants:
            where.error(f"table {name!r}: a constant has that name too", line=line)
        elif name in schema.BASE_ROOTS or name in ("exists", "date"):
            where.error(f"table {name!r} would hide a built-in name", line=line)
        elif table is None:
            out[name] = ir.Const(None, "any")  # unreadable (reported): a name, but untyped
        else:
            out[name] = ir.Const(table, "table")
    return out


#: One item of ``uses``: a ruleset name, a dot, one of its constant or table names.
_USE = re.compile(r"([a-z][a-z0-9_]{0,63})\.([a-z][a-z0-9_]{0,63})\Z")


def _uses(
    build: Build, where: Where, items: list[Any], own: dict[str, dict[str, ir.Const]]
) -> dict[str, ir.Const]:
    """The constants and tables ``[ruleset] uses`` imports, by their own (unqualified) names.

    Only names a required ruleset (directly or through another, as for facts) defines itself
    may be imported, and an imported name may not also be one of this file's constants or
    another import: in a condition a name means one thing, and the header says which.
    """
    if len(items) > MAX_LIST_ITEMS:
        where.error(f"uses: {len(items):,} items; at most {MAX_LIST_ITEMS:,}", key="uses")
        return {}
    me = build.infos[where.text.file].name
    visible = build.visible(me) - {me}
    loaded = set(own)
    out: dict[str, ir.Const] = {}
    origin: dict[str, str] = {}  # imported name -> the item that imported it
    for item in items:
        match = _USE.match(item) if isinstance(item, str) else None
        if match is None:
            where.error(
                f'uses: {item!r} is not "ruleset.name" (a required ruleset\'s name, a dot, one of'
                ' its constants or tables), e.g. "j7632.mg_per_unit"',
                key="uses",
            )
            continue
        ruleset, name = match.groups()
        if ruleset == me:
            where.error(
                f"uses: {item!r} names this ruleset's own {name!r}: write {name!r} in conditions,"
                " without importing it",
                key="uses",
            )
            continue
        if ruleset not in loaded:
            where.error(
                f"uses: {item!r}: no ruleset {ruleset!r} is loaded"
                + (hint(ruleset, sorted(visible)) or f": add {ruleset!r} to requires to use it"),
                key="uses",
            )
            continue
        if ruleset not in visible:
            want = ", ".join(repr(r) for r in (*build.requires.get(me, ()), ruleset))
            where.error(
                f"uses: {item!r}: ruleset {me!r} does not require {ruleset!r}, so cannot use its"
                f" constants: add requires = [{want}]",
                key="uses",
            )
            continue
        theirs = own[ruleset]
        if name not in theirs:
            # Only what a ruleset defines itself is importable: one that imports it says whence.
            source = [u for u in _uses_of(build, ruleset) if u.endswith(f".{name}")]
            again = f"; {ruleset!r} imports it from {source[0]!r}: use that" if source else ""
            where.error(
                f"uses: {item!r}: ruleset {ruleset!r} has no constant or table {name!r}"
                + (again or hint(name, sorted(theirs))),
                key="uses",
            )
            continue
        if name in origin:
            earlier = origin[name]
            where.error(
                f"uses: {item!r} imports {name!r}, which {earlier!r} already imports"
                + (": it is listed twice" if earlier == item else ": a name means one thing"),
                key="uses",
            )
            continue
        local = where.text.constant_lines.get(name) or where.text.table_lines.get(name, {}).get("")
        if name in where.text.constants or name in where.text.tables:
            at = f" (line {local})" if local else ""
            where.error(
                f"uses: {item!r} imports {name!r}, but this file defines {name!r} too{at}: rename"
                " this file's constant or table (a local name may not hide an imported one)",
                key="uses",
            )
            continue
        origin[name] = item
        out[name] = theirs[name]
    return out


def _uses_of(build: Build, ruleset: str) -> list[str]:
    """The ``uses`` items ``ruleset``'s header writes, as written (strings only)."""
    for text in build.texts:
        if text.name == ruleset:
            return [u for u in text.header.get("uses", []) or [] if isinstance(u, str)]
    return []


def _rule(where: Where, ruleset: str) -> RuleWork:
    rule = where.rule
    assert rule is not None
    spec = structure(RuleSpec, rule.data, where, unknown="unknown key {key}")
    # Not a name: resolve_facts reports it; kept hashable from here on.
    derive = spec.derive if spec.derive is None or isinstance(spec.derive, str) else ""
    has_severity, has_message = "severity" in rule.data, "message" in rule.data
    if has_severity != has_message:
        where.error("a finding needs both severity and message")
    if derive is None and not has_message:
        where.error("a rule must emit a finding (severity + message) or derive a fact (derive)")
    return RuleWork(where, ruleset, spec, derive=derive)


def constant_size_problem(value: Any) -> str | None:
    """What makes a constant too large to accept, if anything."""
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_LIST_ITEMS:
        return f"a list of {len(items):,} items; at most {MAX_LIST_ITEMS:,}"
    for item in items:
        if isinstance(item, str) and len(item) > MAX_TEXT["string constant"]:
            return f"a string of {len(item):,} characters; at most {MAX_TEXT['string constant']:,}"
        if isinstance(item, int) and abs(item) >= 10**MAX_INT_DIGITS:
            return f"an integer of more than {MAX_INT_DIGITS} digits"
    return None


def constant(value: Any) -> ir.Const | None:
    if isinstance(value, bool):
        return ir.Const(value, "bool")
    if isinstance(value, int):
        return ir.Const(value, "int")
    if isinstance(value, str):
        return ir.Const(value, "str")
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return ir.Const(value, "date")
    if isinstance(value, list) and value:
        items = [constant(v) for v in value]
        kinds = {i.type for i in items if i is not None}
        if None in items or len(kinds) != 1 or kinds & {"bool"}:
            return None
        return ir.Const(tuple(i.value for i in items), f"set[{kinds.pop()}]")
    return None
