"""Swapping a running process's rulesets: :class:`EngineSlot`.

A long-running service holds its Engine in a slot and evaluates through it. :meth:`EngineSlot.reload`
builds the new Engine completely (compiled, backend built, every example checked) before it
replaces the old one in a single reference assignment, so a half-built engine never serves; if the
build fails, the old engine keeps serving and the build's :class:`RulesetError` is raised.

Each evaluation takes the slot's current engine once and runs start to finish on it: an evaluation
in flight during a swap finishes on the engine it started with, so no Result mixes two versions.
The old engine is not closed under its callers; it is dropped, and its backend's resources
(durable_rules' C ruleset) are freed when the last evaluation using it lets go of it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .engine import Engine, evaluate_outcome
from .errors import ClaimError
from .failure import EvaluationFailure
from .model import Claim, Result

__all__ = ["EngineSlot"]


class EngineSlot:
    """Holds the Engine a process serves with; thread-safe.

    ``EngineSlot(engine)`` or ``EngineSlot(rulesets=[...], backend=..., ...)`` (the arguments
    of :class:`Engine`, built now). ``slot.engine`` is the current Engine; ``slot.evaluate``
    evaluates on it; ``slot.reload(...)`` swaps it (see the module docstring).
    """

    def __init__(self, engine: Engine | None = None, **engine_args: Any) -> None:
        if engine is not None and engine_args:
            raise TypeError("give an Engine or the arguments to build one, not both")
        self._engine = engine if engine is not None else Engine(**engine_args)
        # Reloads are serialised (two at once would race over which one wins); evaluations never
        # take this lock: reading an attribute is atomic.
        self._reload_lock = threading.Lock()
        self.generation = 0  # how many successful reloads so far

    @property
    def engine(self) -> Engine:
        return self._engine

    def evaluate(self, claim: Mapping[str, Any] | Claim, *, explain: bool = False) -> Result:
        return self._engine.evaluate(claim, explain=explain)

    def evaluate_many(
        self, claims: Iterable[Any], *, explain: bool = False
    ) -> Iterator[Result | ClaimError | EvaluationFailure]:
        """Like :meth:`Engine.evaluate_many`, on the engine current when the batch starts."""
        engine = self._engine
        for index, claim in enumerate(claims):
            yield evaluate_outcome(engine, claim, explain, index)

    def reload(
        self,
        rulesets: Iterable[str | os.PathLike[str]] | object | None = ...,
        **overrides: Any,
    ) -> Engine:
        """Build a new Engine (the current one's configuration, with ``rulesets`` and the other
        :class:`Engine` arguments given replacing it), then make it current; returns it.

        Rulesets given by name are found again, and their entry points' functions registered
        afresh (a plugin module reloaded with ``importlib.reload`` is picked up). On any failure
        the current engine stays and the error (usually a RulesetError) is raised.
        """
        if rulesets is not ...:
            overrides["rulesets"] = rulesets
        with self._reload_lock:
            new = self._engine.config.build(**overrides)
            self._engine = new
            self.generation += 1
        return new

    def swap(self, engine: Engine) -> Engine:
        """Make an Engine built elsewhere current; returns the one it replaces."""
        if not isinstance(engine, Engine):
            raise TypeError(f"expected an Engine, not {type(engine).__name__}")
        with self._reload_lock:
            old, self._engine = self._engine, engine
            self.generation += 1
        return old

    def close(self) -> None:
        """Close the current engine (see :meth:`Engine.close`)."""
        self._engine.close()
