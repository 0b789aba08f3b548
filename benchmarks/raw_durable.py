"""durable_rules' C core driven directly: the engine's own cost, with none of our Python work.

The durable backend spends each evaluation partly inside durable_rules' C engine (sessions, Rete
matching, the agenda) and partly in our Python (building and JSON-encoding facts, decoding each
action, running the rule's Python guard, formatting findings, asserting derived facts, assembling
the Result). Timing this module next to ``Engine(backend="durable")`` separates the two.

How it stays the *same* engine work:

- the ruleset is the exact definition the backend compiled (``engine.backend.definition``),
  loaded into a C ruleset of its own;
- per claim, the backend is run once beforehand with its C module swapped for a recorder, which
  logs every call it makes: the base facts (built by the backend's own ``_base_facts``), each
  action started and completed, every derived fact asserted inside an action, each stratum's gate
  fact and the final ``delete_state``. Each fact is re-encoded once with this module's session id;
- :meth:`RawDurable.evaluate` replays that call sequence with no-op actions. The derived facts
  the real rules produced are asserted at the same points, so the C engine matches, schedules and
  fires exactly what it did for the backend. :meth:`RawDurable.verify` replays every claim once
  and checks that the engine hands out the same actions, in the same order.

What is left out on purpose: JSON encoding (the facts are pre-encoded), decoding the actions, the
guards, findings and the Result. If recording is impossible (the backend's internals changed),
:class:`RawDurable` falls back to asserting the base facts and the gates only (``mode`` says
``"base facts + gates"``): fewer actions fire than in the real backend, since derived facts
cannot come out of no-op actions.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

from hcpcs_rules import Engine
from hcpcs_rules.model import Claim

__all__ = ["RawDurable", "RecordingFailed"]

SID = "raw"
GATE = "__gate__"
# Operation codes of a recorded script (small ints: the replay loop is as cheap as possible).
ASSERT_BASE, START, COMPLETE, ASSERT_DERIVED, ASSERT_GATE, DELETE = range(6)

_names = itertools.count()


class RecordingFailed(RuntimeError):
    """The backend could not be observed; the raw run falls back to base facts and gates."""


def _action_name(result: Any) -> str | None:
    """The durable rule name of an action result (``None`` when there is no action)."""
    if not result:
        return None
    text = result[1] if isinstance(result, tuple | list) else result
    ((name, _matched),) = json.loads(text).items()
    return name


def _with_sid(text: str) -> str:
    """Re-encode a recorded fact (or list of facts) with this module's session id."""
    data = json.loads(text)
    for fact in data if isinstance(data, list) else [data]:
        fact["sid"] = SID
    return json.dumps(data)


class _Recorder:
    """Stands in for ``durable_rules_engine`` inside the backend, logging each call it makes."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.ops: list[tuple[int, Any]] = []
        self.abandoned = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def assert_facts(self, handle: int, text: str) -> Any:
        self.ops.append((ASSERT_BASE, text))
        return self._real.assert_facts(handle, text)

    def assert_fact(self, handle: int, text: str) -> Any:
        kind = ASSERT_GATE if json.loads(text).get("t") == GATE else ASSERT_DERIVED
        self.ops.append((kind, text))
        return self._real.assert_fact(handle, text)

    def start_action_for_state(self, handle: int, state: int) -> Any:
        result = self._real.start_action_for_state(handle, state)
        self.ops.append((START, _action_name(result)))
        return result

    def complete_and_start_action(self, handle: int, state: int) -> Any:
        result = self._real.complete_and_start_action(handle, state)
        self.ops.append((COMPLETE, _action_name(result)))
        return result

    def delete_state(self, handle: int, sid: str) -> Any:
        self.ops.append((DELETE, None))
        return self._real.delete_state(handle, sid)

    def abandon_action(self, handle: int, state: int) -> Any:
        self.abandoned = True
        return self._real.abandon_action(handle, state)


def record(engine: Engine, claims: Sequence[Claim]) -> list[list[tuple[int, Any]]]:
    """Per claim, the C calls ``engine``'s durable backend makes to evaluate it."""
    backend = engine.backend
    real = getattr(backend, "_engine", None)
    if real is None or not hasattr(real, "assert_facts"):
        raise RecordingFailed("the durable backend no longer keeps its C module in _engine")
    scripts = []
    try:
        for claim in claims:
            recorder = _Recorder(real)
            backend._engine = recorder  # type: ignore[attr-defined]
            engine.evaluate(claim)
            if recorder.abandoned or not recorder.ops or recorder.ops[-1][0] != DELETE:
                raise RecordingFailed(f"unexpected call sequence on claim {claim.id}")
            scripts.append(recorder.ops)
    finally:
        backend._engine = real  # type: ignore[attr-defined]
    return scripts


class RawDurable:
    """Replays the durable backend's C calls for a fixed list of claims, with no-op actions."""

    def __init__(self, engine: Engine, claims: Sequence[Claim]) -> None:
        if engine.backend_name != "durable":
            raise ValueError("RawDurable needs an Engine(backend='durable')")
        import durable_rules_engine

        self._c = durable_rules_engine
        self.definition = engine.backend.definition  # type: ignore[attr-defined]
        self._handle = self._c.create_ruleset(
            f"raw_durable_{next(_names)}", json.dumps(self.definition)
        )
        self.claims = list(claims)
        try:
            recorded = record(engine, self.claims)
            self.mode = "replay"
        except RecordingFailed as exc:
            self.mode = "base facts + gates"
            self.why = str(exc)
            recorded = self._base_only_scripts(engine)
        # What the timed loop replays: operation codes and pre-encoded facts only.
        self._scripts = [
            [(op, _with_sid(arg) if op in (ASSERT_BASE, ASSERT_DERIVED, ASSERT_GATE) else None)
             for op, arg in ops]
            for ops in recorded
        ]  # fmt: skip
        self._expected = [[arg for op, arg in ops if op in (START, COMPLETE)] for ops in recorded]
        self.actions = sum(
            sum(1 for op, name in ops if op in (START, COMPLETE) and name) for ops in recorded
        )

    def _base_only_scripts(self, engine: Engine) -> list[list[tuple[int, Any]]]:
        """No recording possible: base facts, then each stratum's gate, draining with no-ops."""
        from hcpcs_rules.facts import Facts

        base_facts = engine.backend._base_facts  # type: ignore[attr-defined]
        names = tuple(f.name for f in engine.program.facts)
        scripts = []
        for claim in self.claims:
            facts = base_facts(Facts(claim, names, False), SID)
            ops: list[tuple[int, Any]] = [(ASSERT_BASE, json.dumps(facts))]
            ops += self._drain_ops()
            for stratum in range(1, engine.program.strata):
                gate = {"sid": SID, "id": f"{GATE}{stratum}", "t": GATE, "stratum": stratum}
                ops.append((ASSERT_GATE, json.dumps(gate)))
                ops += self._drain_ops()
            ops.append((DELETE, None))
            scripts.append(self._learn(ops))
        return scripts

    @staticmethod
    def _drain_ops() -> list[tuple[int, Any]]:
        return [(START, "?")]  # expanded by _learn: as many completes as the engine hands out

    def _learn(self, ops: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
        """Run a base-only script once, writing down the actions the engine starts."""
        c, handle = self._c, self._handle
        out: list[tuple[int, Any]] = []
        state = 0
        for op, arg in ops:
            if op == ASSERT_BASE:
                state = c.assert_facts(handle, arg)[1]
                out.append((op, arg))
            elif op == ASSERT_GATE:
                state = c.assert_fact(handle, arg)[1]
                out.append((op, arg))
            elif op == START:
                result = c.start_action_for_state(handle, state)
                out.append((START, _action_name(result)))
                while result:
                    result = c.complete_and_start_action(handle, state)
                    out.append((COMPLETE, _action_name(result)))
            elif op == DELETE:
                c.delete_state(handle, SID)
                out.append((op, None))
        return out

    def evaluate(self, index: int) -> None:
        """Replay claim ``index``: the C engine's work for it, with no-op actions."""
        c, handle = self._c, self._handle
        state = 0
        for op, arg in self._scripts[index]:
            if op == START:
                c.start_action_for_state(handle, state)
            elif op == COMPLETE:
                c.complete_and_start_action(handle, state)
            elif op == ASSERT_DERIVED:
                c.assert_fact(handle, arg)
            elif op == ASSERT_BASE:
                state = c.assert_facts(handle, arg)[1]
            elif op == ASSERT_GATE:
                state = c.assert_fact(handle, arg)[1]
            else:
                c.delete_state(handle, SID)

    def run_all(self) -> None:
        for index in range(len(self._scripts)):
            self.evaluate(index)

    def verify(self) -> None:
        """Replay every claim once, checking the engine starts the recorded actions in order."""
        c, handle = self._c, self._handle
        for index, ops in enumerate(self._scripts):
            state = 0
            seen = []
            for op, arg in ops:
                if op == START:
                    seen.append(_action_name(c.start_action_for_state(handle, state)))
                elif op == COMPLETE:
                    seen.append(_action_name(c.complete_and_start_action(handle, state)))
                elif op == ASSERT_DERIVED:
                    code = c.assert_fact(handle, arg)[0]
                    if code not in (0, 1):
                        raise AssertionError(f"claim {index}: derived fact refused ({code})")
                elif op == ASSERT_BASE:
                    state = c.assert_facts(handle, arg)[1]
                elif op == ASSERT_GATE:
                    state = c.assert_fact(handle, arg)[1]
                else:
                    c.delete_state(handle, SID)
            if seen != self._expected[index]:
                raise AssertionError(
                    f"claim {self.claims[index].id}: raw replay started actions {seen}, "
                    f"the backend {self._expected[index]}"
                )

    def close(self) -> None:
        if self._handle is not None:
            self._c.delete_ruleset(self._handle)
            self._handle = None
