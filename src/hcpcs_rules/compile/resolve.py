"""Pass 2, resolve facts: declare each derived fact (one owner each), and order them by what
their fields read; and pass 5, :func:`check_requires`: each rule reads only the facts of its own
ruleset and of the rulesets it requires."""

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
        if work.derive is not None and _declare(build, work, owners):
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


def _declare(build: Build, work: RuleWork, owners: dict[str, RuleWork]) -> bool:
    where, name, rid = work.where, work.derive, work.rule.id
    if not isinstance(name, str) or not FACT_NAME.match(name):
        where.error("derive must name a fact in lowercase letters, digits and _", key="derive")
        return False
    if name in schema.BASE_ROOTS:
        where.error(f"derive {name!r}: that name is a base fact", key="derive")
        return False
    if name in owners:
        # Facts share one namespace at run time; rules come in load order, so this rule is the
        # newcomer and the message says where the first owner is and what to do.
        first = owners[name]
        at = f"{first.where.text.file}:{first.rule.line_of('derive')}"
        if first.ruleset == work.ruleset:
            fix = "give one of them another name"
        else:
            fix = (
                f"derive it under another name (e.g. {work.ruleset + '_' + name!r}), or add"
                f" {first.ruleset!r} to requires and read that ruleset's fact"
            )
        where.error(
            f"fact {name!r} is already derived by {first.rule.id} (ruleset {first.ruleset!r},"
            f" {at}); each fact has one rule: {fix}",
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


def check_requires(build: Build) -> None:
    """A rule reads only the derived facts of its own ruleset and of the rulesets it requires,
    directly or through one of them (:meth:`Build.visible`). Without this a ruleset reading
    another's fact would build when that ruleset happens to be loaded, and not otherwise.

    Runs after lowering, when what each rule reads (its ``when``, fields, message, and the
    facts its scope, dates and per-payer severity imply) is known. Each (rule, fact) is
    reported once, at the key that reads it.
    """
    owners = {fact.name: fact for fact in build.facts.values()}
    works = {w.rule.id: w for w in build.rules if w.derive is not None}
    for work in build.rules:
        visible = build.visible(work.ruleset)
        reported: set[str] = set()
        for key, fact in facts_read(work):
            owner = owners.get(fact)
            if owner is None or owner.ruleset in visible or fact in reported:
                continue
            reported.add(fact)
            deriver = works.get(owner.rule_id)
            at = (
                f", {deriver.where.text.file}:{deriver.rule.line_of('derive')}"
                if deriver is not None
                else ""
            )
            requires = [*build.requires.get(work.ruleset, ()), owner.ruleset]
            listed = ", ".join(f'"{r}"' for r in requires)
            work.where.error(
                f"reads the fact {fact!r} of ruleset {owner.ruleset!r} ({owner.rule_id}{at}),"
                f" which {work.ruleset!r} does not require: add requires = [{listed}]"
                " to its [ruleset]",
                key=key,
            )


def facts_read(work: RuleWork) -> list[tuple[str, str]]:
    """(rule key, derived fact) for each fact ``work`` reads or tests, in the order written:
    its ``when``, derived fields and message, and the facts its scope, effective dates and
    per-payer severity are judged on."""
    out: list[tuple[str, str]] = []

    def walk(key: str, exprs: list[ir.Expr]) -> None:
        for expr in exprs:
            for node in ir.walk(expr):
                if isinstance(node, ir.Path) and node.derived:
                    out.append((key, node.root))
                elif isinstance(node, ir.Exists):
                    out.append((key, node.fact))

    walk("when", list(work.when))
    walk("fields", list(work.fields.values()))
    walk("message", [p for p in work.message or () if not isinstance(p, str)])
    rule = work.lowered
    if rule is not None:
        if "all" not in rule.scope:
            out.append(("scope", ir.SCOPE_FACT))
        for conjunct in ir.effective_conjuncts(rule.effective):
            walk("effective", [conjunct])
        if rule.finding is not None and len(rule.finding.severity) > 1:
            out.append(("severity", ir.SCOPE_FACT))
    return out
