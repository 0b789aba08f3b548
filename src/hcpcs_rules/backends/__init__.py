"""Stage 3: backends turn one compiled :class:`~hcpcs_rules.ir.Program` into something that runs.

A backend has a ``name``, is built from a Program, and offers ``evaluate(facts)`` (fill the
evaluation's findings, derived facts and trace), ``dump()`` (its artefact as text) and ``close()``.
Both backends share :func:`hcpcs_rules.facts.make_fire`, so a rule's firing means the same
everywhere. A backend depends on the IR, the runtime and code generation (:mod:`~hcpcs_rules.ir`,
:mod:`~hcpcs_rules.runtime`, :mod:`~hcpcs_rules.codegen`), never on the compiler that produced the
Program (``tests/test_layers.py``).
"""

from __future__ import annotations

from typing import Protocol

from .. import ir
from ..facts import Facts

__all__ = ["BACKENDS", "Backend", "make_backend"]

BACKENDS = ("durable", "python")


class Backend(Protocol):
    name: str
    program: ir.Program

    def evaluate(self, facts: Facts) -> None: ...

    def dump(self) -> str: ...

    def close(self) -> None: ...


def make_backend(name: str, program: ir.Program) -> Backend:
    if name == "durable":
        from .durable import DurableBackend

        return DurableBackend(program)
    if name == "python":
        from .python import PythonBackend

        return PythonBackend(program)
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
