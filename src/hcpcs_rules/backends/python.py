"""The python backend: every rule compiled to a Python function, run stratum by stratum.

Rules are already ordered by stratum in the Program, so running them in order is a correct
forward-chaining schedule: every derived fact a rule reads was completed by a lower stratum.
"""

from __future__ import annotations

from .. import ir
from ..codegen import compile_rule
from ..errors import RuleExecutionError
from ..facts import Facts, fire

__all__ = ["PythonBackend"]


class PythonBackend:
    name = "python"

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        self._compiled = tuple(compile_rule(rule, program) for rule in program.rules)
        self._fact_per = {f.name: f.per for f in program.facts}

    def evaluate(self, f: Facts) -> None:
        fact_per = self._fact_per
        line_numbers = range(1, len(f.lines) + 1)
        for compiled in self._compiled:
            match = compiled.match
            try:
                for n in line_numbers if compiled.rule.on == "line" else (0,):
                    if match(f, n):
                        fire(compiled, f, n, fact_per)
            except Exception as exc:
                raise RuleExecutionError(compiled.rule.id, f.claim.id, exc) from exc

    def dump(self) -> str:
        return "\n".join(c.source for c in self._compiled)

    def close(self) -> None:
        pass
