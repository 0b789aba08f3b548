"""The python backend: the IR compiled to Python functions, run as stratified forward chaining.

Every rule becomes generated source (``hcpcs-rules dump backend --backend python`` prints it),
compiled once per Engine and registered in :mod:`linecache` as
``<hcpcs_rules generated RULESET:RULE-ID>`` so tracebacks, pdb and ``inspect`` show it. A rule's
``run(f, subjects)`` tests each subject and fires on the matches.

The schedule is the Program's order: rules sorted by stratum, so every derived fact a rule reads
was completed by a lower stratum, and each derived fact is computed once. Two indexes, built per
claim, keep rules away from subjects they cannot match:

- **by code**: a rule with ``codes = [...]`` only runs over the lines with those codes (one
  pass over the lines builds the index); its code test is then left out of ``run``;
- **by payer overlay**: a rule with a ``scope`` is skipped when the claim's ``payer_scope`` is
  outside it (the scope test reads ``payer_scope``, so the fact is complete by then).

Cross-line rules need no join loops: per-claim flags (``exists(j7632_claim)``) are derived facts,
looked up by key. Nothing is shared between evaluations except the compiled functions, so one
backend serves any number of threads without a lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import ir
from ..codegen import CompiledRule, compile_rule
from ..compile import SCOPE_FACT, codes_conjunct, scope_conjunct
from ..errors import RuleExecutionError
from ..facts import Facts, make_fire

__all__ = ["PythonBackend"]


class _Plan:
    """One rule's place in the schedule: its compiled run function and its indexes."""

    __slots__ = ("codes", "compiled", "on_claim", "rule", "run", "scope")

    def __init__(self, compiled: CompiledRule) -> None:
        rule = compiled.rule
        self.compiled = compiled
        self.rule = rule
        self.run: Callable[[Facts, Sequence[int]], None] = compiled.run  # type: ignore[assignment]
        self.on_claim = rule.on == "claim"
        self.codes: tuple[str, ...] | None = rule.codes or None
        self.scope: frozenset[str] | None = None if "all" in rule.scope else frozenset(rule.scope)


def _indexed_away(rule: ir.Rule) -> list[ir.Expr]:
    """The rule's conjuncts minus those the schedule's indexes already guarantee."""
    guaranteed = []
    if rule.codes:
        guaranteed.append(codes_conjunct(rule.codes))
    if "all" not in rule.scope:
        guaranteed.append(scope_conjunct(rule.scope))
    remaining = list(rule.conjuncts)
    for conj in guaranteed:
        remaining.remove(conj)  # the compiler put it there; a ValueError here is a compiler bug
    return remaining


class PythonBackend:
    name = "python"

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        fact_per = {f.name: f.per for f in program.facts}
        plans = []
        for rule in program.rules:
            compiled = compile_rule(rule, program, run_conjuncts=_indexed_away(rule))
            compiled.bind_fire(make_fire(compiled, fact_per))
            plans.append(_Plan(compiled))
        self._plans = tuple(plans)
        self._compiled = tuple(p.compiled for p in plans)

    def evaluate(self, f: Facts) -> None:
        lines = f.lines
        by_code: dict[str, list[int]] = {}
        for n, line in enumerate(lines, start=1):
            by_code.setdefault(line.hcpcs, []).append(n)
        every_line = range(1, len(lines) + 1)
        scope_store = f.derived.get(SCOPE_FACT)
        overlay: tuple[Any, Any] | None = None
        for plan in self._plans:
            if plan.scope is not None:
                if overlay is None:
                    fields = scope_store.get(0) if scope_store is not None else None
                    if fields is None:
                        continue  # no payer_scope: no scoped rule can match
                    overlay = (fields.get("overlay"), fields.get("program"))
                if overlay[0] not in plan.scope and overlay[1] not in plan.scope:
                    continue
            if plan.on_claim:
                subjects: Sequence[int] = ()
            elif plan.codes is None:
                subjects = every_line
            elif len(plan.codes) == 1:
                subjects = by_code.get(plan.codes[0], ())
                if not subjects:
                    continue
            else:
                subjects = sorted(n for code in plan.codes for n in by_code.get(code, ()))
                if not subjects:
                    continue
            try:
                plan.run(f, subjects)
            except Exception as exc:
                raise RuleExecutionError(plan.rule.id, f.claim.id, exc) from exc

    def dump(self) -> str:
        return "\n".join(f"# {c.filename}\n{c.source}" for c in self._compiled)

    def close(self) -> None:
        pass
