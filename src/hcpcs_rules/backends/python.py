"""The python backend: the IR compiled to Python functions, run as stratified forward chaining.

Every rule becomes generated source (``hcpcs-rules dump backend --backend python`` prints it),
compiled once per Engine and registered in :mod:`linecache` as
``<hcpcs_rules generated RULESET:RULE-ID DIGEST>`` so tracebacks, pdb and ``inspect`` show it. A rule's
``run(f, subjects)`` tests each subject and fires on the matches.

The schedule is the Program's order: rules sorted by stratum, so every derived fact a rule reads
was completed by a lower stratum, and each derived fact is computed once. Two indexes, built per
claim, keep rules away from subjects they cannot match:

- **by code**: a rule with ``codes = [...]`` only runs over the lines with those codes (one
  pass over the lines builds the index), so ``run`` has no code test;
- **by payer overlay**: a rule with a ``scope`` is skipped when the claim's ``payer_scope`` is
  outside it (the scope test reads ``payer_scope``, so the fact is complete by then).

Cross-line rules need no join loops: per-claim flags (``exists(j7632_claim)``) are derived facts,
looked up by key, and aggregates (``count(l for l in lines if ...)``) are generator expressions
over ``f.lines`` inside the rule's own code. Nothing is shared between evaluations except the compiled functions, so one
backend serves any number of threads without a lock.
"""

from __future__ import annotations

import hashlib
import linecache
import re
from collections.abc import Callable, Sequence
from typing import Any

from .. import ir
from ..codegen import CompiledRule, compile_rule
from ..errors import RuleExecutionError
from ..facts import Facts, make_fire
from .fused import fuse

__all__ = ["PythonBackend"]


class PythonBackend:
    name = "python"

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        fact_per = {f.name: f.per for f in program.facts}
        compiled = []
        for rule in program.rules:
            # Only run: the driver calls nothing else, and run hands _fire the message and fields.
            # Codes and scope are the schedule's indexes (below); the dates are tests in run.
            run = (*ir.field_conjuncts(rule, codes=False, scope=False), *rule.conjuncts)
            one = compile_rule(rule, program, run=list(run))
            one.bind_fire(make_fire(one, fact_per))
            compiled.append(one)
        self._compiled = tuple(compiled)
        self._rule_by_file = {c.filename: c.rule.id for c in compiled}
        self._position = {c.rule.id: i for i, c in enumerate(compiled)}
        self.driver_source, self._evaluate = _driver(program, self._compiled)
        # Without a trace, claims run through one fused function (backends/fused.py); the
        # per-rule code above records trace steps (explain=True) and checks examples.
        self.fused = fuse(program, self._compiled)
        self._fused_evaluate = self.fused.evaluate
        self._fused_ordered = self.fused.ordered
        #: ``evaluate_result(f)`` when the fused function can build the line results as it goes
        #: (see FusedProgram.results), else None; the engine uses it for claims without a
        #: policy or trace.
        self.evaluate_result: Callable[[Facts], tuple[int, Any, tuple[Any, ...]]] | None = (
            self._evaluate_result if self.fused.results else None
        )

    def evaluate(self, f: Facts) -> None:
        try:
            if f.trace is None:
                self._fused_evaluate(f)
                f.ordered = self._fused_ordered
            else:
                self._evaluate(f)
        except Exception as exc:
            raise RuleExecutionError(self._failing_rule(exc), f.claim.id, exc) from exc

    def _evaluate_result(self, f: Facts) -> tuple[int, Any, tuple[Any, ...]]:
        """Run the fused function building the LineResults too: ``(worst severity rank, payer
        overlay, LineResults)``; ``f.findings`` as :meth:`evaluate` leaves them."""
        try:
            out = self._fused_evaluate(f, True)
        except Exception as exc:
            raise RuleExecutionError(self._failing_rule(exc), f.claim.id, exc) from exc
        f.ordered = self._fused_ordered
        return out  # type: ignore[no-any-return]

    def subset(self, rule_ids: frozenset[str]) -> Callable[[Facts], None]:
        """An ``evaluate`` that runs only the rules named, in the program's order.

        For checking a rule's examples: given the rule and every rule deriving a fact it
        depends on (transitively), its firings are exactly those of the whole program, because
        strata complete each fact before it is read and no other rule can change them. The
        driver generated here costs time in the size of the subset, not of the program.
        """
        position = self._position
        members = [self._compiled[i] for i in sorted(position[r] for r in rule_ids)]
        _source, run = _driver(self.program, members, register=False)

        def evaluate(f: Facts) -> None:
            try:
                run(f)
            except Exception as exc:
                raise RuleExecutionError(self._failing_rule(exc), f.claim.id, exc) from exc

        return evaluate

    def _failing_rule(self, exc: BaseException) -> str:
        """The rule whose generated code raised: the innermost generated frame names it."""
        rule_id = "?"
        tb = exc.__traceback__
        rule_at, fused_file = self.fused.rule_at, self.fused.filename
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename == fused_file:
                # One function for every rule: the line that raised says whose code it was.
                line = tb.tb_lineno
                if 0 < line <= len(rule_at) and rule_at[line - 1] is not None:
                    rule_id = rule_at[line - 1]  # type: ignore[assignment]
            else:
                rule_id = self._rule_by_file.get(filename, rule_id)
            tb = tb.tb_next
        return rule_id

    def dump(self) -> str:
        parts = [
            f"# {self.fused.filename}: claims evaluated without explain=True\n{self.fused.source}",
            f"# {DRIVER_NAME[:-1]} ...>: explain=True and example checks, rule by rule\n"
            f"{self.driver_source}",
        ]
        parts += [f"# {c.filename}\n{c.source}" for c in self._compiled]
        return "\n".join(parts)

    def close(self) -> None:
        pass


DRIVER_NAME = "<hcpcs_rules generated program>"

# Ruleset text reaches generated source only as data (a repr, or a constant in the namespace).
# The driver's comments name scopes and rule ids for whoever reads `dump backend`; the compiler
# validated both against ASCII patterns, and this re-checks it where the text meets the source:
# a comment can only end at a line break, and nothing here can hold one.
_COMMENT_SAFE = re.compile(r"[A-Za-z0-9_, -]*\Z")


def _comment(text: str) -> str:
    if not _COMMENT_SAFE.match(text):
        raise ValueError(f"refusing to write {text!r} into a generated comment")  # compiler bug
    return text


def _driver(
    program: ir.Program, compiled: Sequence[CompiledRule], *, register: bool = True
) -> tuple[str, Callable[[Facts], None]]:
    """Generate the schedule: every rule's ``run`` in stratum order, grouped by index.

    Within a stratum rules are independent (none reads what another derives), so they are grouped
    by payer scope and codes: each group pays for its index lookups once.
    """
    namespace: dict[str, Any] = {}
    body = [
        "def evaluate(f):",
        "    lines = f.lines",
        "    by_code = {}",
        "    for n, line in enumerate(lines, 1):",
        "        code = line.hcpcs",
        "        if code in by_code:",
        "            by_code[code].append(n)",
        "        else:",
        "            by_code[code] = [n]",
        "    every_line = range(1, len(lines) + 1)",
    ]
    constants: dict[Any, str] = {}

    def const(value: Any) -> str:
        if value not in constants:
            constants[value] = f"_K{len(constants)}"
            namespace[constants[value]] = value
        return constants[value]

    scope_known = False
    by_stratum: dict[int, dict[tuple[Any, Any], list[int]]] = {}
    for index, one in enumerate(compiled):
        rule = one.rule
        scope = None if "all" in rule.scope else frozenset(rule.scope)
        codes = None if rule.on == "claim" else rule.codes or ()
        by_stratum.setdefault(rule.stratum, {}).setdefault((scope, codes), []).append(index)
        namespace[f"run_{index}"] = one.run
    for stratum in sorted(by_stratum):
        body.append(f"    # stratum {stratum}")
        for (scope, codes), members in by_stratum[stratum].items():
            indent = "    "
            if scope is not None:
                if not scope_known:
                    body += [
                        f"    scope = f.derived[{ir.SCOPE_FACT!r}].get(0) or {{}}",
                        "    overlay, program = scope.get('overlay'), scope.get('program')",
                    ]
                    scope_known = True
                body.append(
                    f"    if overlay in {const(scope)} or program in {const(scope)}:"
                    f"  # scope: {_comment(', '.join(sorted(scope)))}"
                )
                indent += "    "
            if codes is None:
                subjects = "()"
            elif not codes:
                subjects = "every_line"
            elif len(codes) == 1:
                body.append(f"{indent}subjects = by_code.get({codes[0]!r})")
                body.append(f"{indent}if subjects:")
                indent += "    "
                subjects = "subjects"
            else:
                body.append(
                    f"{indent}subjects = sorted(n for c in {const(frozenset(codes))} for n in by_code.get(c, ()))"
                )
                body.append(f"{indent}if subjects:")
                indent += "    "
                subjects = "subjects"
            for index in members:
                rule_id = _comment(compiled[index].rule.id)
                body.append(f"{indent}run_{index}(f, {subjects})  # {rule_id}")
    source = "\n".join(body) + "\n"
    # Named by its digest, as each rule's code is: another engine's driver keeps its own lines.
    name = f"{DRIVER_NAME[:-1]} {hashlib.sha256(source.encode()).hexdigest()[:12]}>"
    exec(compile(source, name, "exec"), namespace)
    if not register:  # a subset driver (see PythonBackend.subset): not the program's own
        return source, namespace["evaluate"]
    linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)
    return source, namespace["evaluate"]
