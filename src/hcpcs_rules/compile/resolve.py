"""Pass 2, resolve facts: declare each derived fact, and order them by what their fields read."""

from __future__ import annotations

from .. import ir, schema
from ..expr import names_used
from .context import FACT_NAME, RESERVED_FIELDS
from .graph import order
from .state import Build, RuleWork


def resolve_facts(build: Build) -> None:
    """Declare every ``derive``d fact (name, per line or per claim, its rule) and find the order
    to type them in: each after the facts its field expressions name, read off the expressions'
    names before any is typed. A fact whose fields read themselves round a cycle is an error.
    """
    owners: dict[str, RuleWork] = {}
    for work in build.rules:
        if work.derive is not None and _declare(build, work):
            owners[work.derive] = work

    def reads(name: str) -> list[str]:
        # A field naming its own fact is not an ordering question: typing reports it.
        used = set().union(*(names_used(s) for s in field_texts(owners[name]).values()))
        return sorted(n for n in used if n in owners and n != name)

    ordered, stuck = order(list(owners), reads)
    for name, trail in stuck.items():
        owners[name].where.error(
            f"derived fact {name!r} depends on itself through other derived facts"
            f" ({' -> '.join(trail)})",
            key="fields",
        )
    build.fact_order = [owners[name] for name in ordered]


def _declare(build: Build, work: RuleWork) -> bool:
    where, name, rid = work.where, work.derive, work.rule.id
    if not isinstance(name, str) or not FACT_NAME.match(name):
        where.error("derive must name a fact in lowercase letters, digits and _", key="derive")
        return False
    if name in schema.BASE_ROOTS:
        where.error(f"derive {name!r}: that name is a base fact", key="derive")
        return False
    if name in build.facts:
        other = build.facts[name]
        where.error(
            f"fact {name!r} is already derived by {other.rule_id} ({other.ruleset}); each fact has one rule",
            key="derive",
        )
        return False
    per = work.on if work.spec.per is None else work.spec.per
    if per not in ("line", "claim") or (work.on == "claim" and per == "line"):
        where.error("per must be 'line' or 'claim' (a claim rule derives per claim)", key="per")
        return False
    build.facts[name] = ir.DerivedFact(name, per, (), rid or "?", work.ruleset)
    build.fact_fields[name] = {}
    fields = {} if work.spec.fields is None else work.spec.fields
    if not isinstance(fields, dict):
        where.error('fields must be a table of name = "expression"', key="fields")
    elif fields and per == "claim" and work.on == "line":
        where.error(
            "a line rule deriving a per-claim fact derives a flag: it may not have fields (lines would disagree on their values)",
            key="fields",
        )
    else:
        for field, source in fields.items():
            if not FACT_NAME.match(str(field)) or field in RESERVED_FIELDS:
                where.error(
                    f"field name {field!r} must be lowercase letters, digits and _, and not one of {', '.join(sorted(RESERVED_FIELDS))}",
                    key="fields",
                )
            elif not isinstance(source, str):
                where.error(f"field {field!r} must be an expression string", key="fields")
    return True


def field_texts(work: RuleWork) -> dict[str, str]:
    """The fields of a fact-deriving rule that are typed: well named, written as expressions
    (:func:`_declare` reported the others)."""
    fields = {} if work.spec.fields is None else work.spec.fields
    per = work.on if work.spec.per is None else work.spec.per
    if not isinstance(fields, dict) or (fields and work.on == "line" and per == "claim"):
        return {}
    return {
        str(f): s
        for f, s in fields.items()
        if FACT_NAME.match(str(f)) and f not in RESERVED_FIELDS and isinstance(s, str)
    }
