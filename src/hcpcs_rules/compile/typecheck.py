"""Pass 3, type-check: every expression a rule writes, against the schema, facts and constants."""

from __future__ import annotations

import re

from .. import ir
from ..errors import RulesetProblem
from ..expr import Env, ExprError, digits_bound, parse_expr, parse_template
from .resolve import field_texts
from .state import Build, RuleWork


def type_check(build: Build) -> None:
    """Type each derived fact's fields, in the order :func:`resolve_facts` found (so a fact's
    field types are known before a fact built on it is typed), then each rule's ``when`` and
    message template. Field types and digit bounds go into the facts every later
    expression reads.
    """
    start = len(build.problems)
    for work in build.fact_order:
        _fields(build, work)
    for work in build.rules:
        env = _rule_env(build, work)
        when = work.spec.when
        if isinstance(when, str):
            try:
                work.when = tuple(_flatten(parse_expr(when, env)))
            except ExprError as exc:
                work.where.expr_errors("when", when, exc, "when: ")
        message = work.spec.message
        if work.spec.severity is not None and message is not None:
            try:
                work.message = parse_template(message.strip(), env)
            except ExprError as exc:
                shift = len(message) - len(message.lstrip())
                work.where.expr_errors("message", message, exc, "message: ", shift=shift)
    _suggest_uses(build, build.problems[start:])


#: How the expression checker words a name it does not know (expr.py).
_UNKNOWN_NAME = re.compile(r"unknown name '([a-z][a-z0-9_]*)'")


def _suggest_uses(build: Build, problems: list[RulesetProblem]) -> None:
    """Add to each "unknown name" that is a constant or table a required ruleset defines the
    ``uses`` item that imports it: constants are shared only on request (compile/read.py)."""
    by_file = {t.file: t for t in build.texts}
    for problem in problems:
        match = _UNKNOWN_NAME.search(problem.message)
        info = build.infos.get(problem.file)
        if match is None or info is None:
            continue
        name = match.group(1)
        owners = sorted(
            t.name
            for t in by_file.values()
            if t.name in build.visible(info.name) - {info.name}
            and (name in t.constants or name in t.tables)
        )
        if owners:
            problem.message += (
                f"; {name!r} is a constant of the required ruleset {owners[0]!r}:"
                f' add uses = ["{owners[0]}.{name}"] to [ruleset] to use it here'
            )


def _fields(build: Build, work: RuleWork) -> None:
    name = work.derive
    assert name is not None
    env = _with_per(build, build.envs[work.where.text.file])
    exprs: dict[str, ir.Expr] = {}
    for field, source in field_texts(work).items():
        try:
            exprs[field] = parse_expr(source, env, want_bool=False)
        except ExprError as exc:
            work.where.expr_errors(f"fields.{field}", source, exc, f"field {field!r}: ")
    work.fields = exprs
    fact = build.facts[name]
    build.fact_fields[name] = {f: e.type for f, e in exprs.items()}
    # Rules reading these fields compute with them: carry each field's bound along.
    build.fact_bounds[name] = {f: digits_bound(e, env) for f, e in exprs.items()}
    build.facts[name] = ir.DerivedFact(
        name, fact.per, tuple((f, e.type) for f, e in exprs.items()), fact.rule_id, fact.ruleset
    )


def _rule_env(build: Build, work: RuleWork) -> Env:
    env = build.envs[work.where.text.file]
    roots = dict(env.roots)
    if work.on == "claim":
        roots.pop("line")  # a claim rule has no line to read
    return Env(
        roots, build.fact_fields, env.constants, build.fact_bounds, _per(build), records=env.records
    )


def _per(build: Build) -> dict[str, str]:
    # Aggregates refuse per-line facts: the checker needs to know which facts those are.
    return {name: fact.per for name, fact in build.facts.items()}


def _with_per(build: Build, env: Env) -> Env:
    return Env(env.roots, env.derived, env.constants, env.bounds, _per(build), records=env.records)


def _flatten(expr: ir.Expr) -> list[ir.Expr]:
    if isinstance(expr, ir.BoolOp) and expr.op == "and":
        return [c for v in expr.values for c in _flatten(v)]
    return [expr]
