"""The durable backend at run time: :class:`DurableBackend` drives the C engine.

Importing the C engine, one ruleset per backend (freed on close or garbage collection), one
session per evaluation under the backend's lock, draining the actions the engine hands back on
the calling thread, and asserting the facts rules derive. Why each of these is done the way it is:
the fences listed in :mod:`hcpcs_rules.backends.durable`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import weakref
from typing import Any

from ... import ir
from ...errors import (
    BackendError,
    EngineClosed,
    HcpcsRulesError,
    RuleExecutionError,
    RulesetError,
    RulesetProblem,
)
from ...facts import Facts, fact_id

# The capacity check is looked up on its module at build time, so a test can switch it off there
# (monkeypatch network.check_limits) to show what the C engine does without it.
from . import network
from .translate import BEGIN, GATE, translate

__all__ = ["DurableBackend", "DurableUnavailable"]

_names = itertools.count()
_ACTION_NAME = re.compile(r'\{"([^"]+)"')
_SUBJECT_LINE = re.compile(r'"id":\s*"line:(\d+)"')


class DurableUnavailable(RuntimeError):
    """durable_rules cannot be imported on this Python."""


def _import_engine():
    try:
        import durable_rules_engine
    except ImportError as exc:
        import sys

        why = (
            "durable-rules 2.0.28 does not import on Python 3.13+ "
            "(its C extension calls PyEval_CallObject, removed in 3.13)"
            if sys.version_info >= (3, 13)
            else "durable-rules is not installed (pip install 'durable-rules==2.0.28'; it needs a C compiler)"
        )
        raise DurableUnavailable(
            f"backend='durable' is unavailable: {why}; use backend='python'. ({exc})"
        ) from None
    return durable_rules_engine


class DurableBackend:
    name = "durable"

    def __init__(self, program: ir.Program) -> None:
        engine = _import_engine()
        self._engine = engine
        self.program = program
        self.definition, self._plans, self._needed = translate(program)
        network.check_limits(self.definition, self._plans)
        self._fact_per = {f.name: f.per for f in program.facts}
        self._strata = program.strata
        # A process-unique name: durable keeps its own table of ruleset names and handles.
        self._ruleset_name = f"hcpcs_rules_{next(_names)}"
        try:
            handle = engine.create_ruleset(self._ruleset_name, json.dumps(self.definition))
        except Exception as exc:  # the C validator's errors are numbers; say what was refused
            raise RulesetError(
                [
                    RulesetProblem(
                        "<program>",
                        None,
                        None,
                        f"durable_rules refused the compiled ruleset: {exc}",
                    )
                ]
            ) from None
        self._handle = handle
        self._finalizer = weakref.finalize(self, engine.delete_ruleset, handle)
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        self.live_sessions = 0  # observable for tests: 0 whenever no evaluation is running

    def close(self) -> None:
        """Free the C ruleset now (also done automatically when garbage collected); idempotent.

        Under the evaluation lock: an evaluation in progress finishes first, and every later one
        sees the ruleset gone (see :meth:`evaluate`) instead of handing a freed handle to C.
        """
        with self._lock:
            self._finalizer()

    def dump(self) -> str:
        return json.dumps(self.definition, indent=2)

    # -- facts --------------------------------------------------------------------------------

    def _base_facts(self, f: Facts, sid: str) -> list[dict[str, Any]]:
        out = [{"sid": sid, "id": BEGIN, "t": BEGIN}]
        needed = self._needed
        for root in ("claim", "supplier", "patient", "ordering_provider"):
            fact = {"sid": sid, "id": root, "t": root}
            obj = getattr(f, root)
            for name in needed.get(root, ()):
                _put(fact, name, None if obj is None else getattr(obj, name))
            out.append(fact)
        line_fields = needed.get("line", ())
        for n, line in enumerate(f.lines, start=1):
            fact = {"sid": sid, "id": f"line:{n}", "t": "line", "number": n}
            for name in line_fields:
                if name != "number":
                    _put(fact, name, getattr(line, name))
            out.append(fact)
        return out

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, f: Facts) -> None:
        engine, handle = self._engine, self._handle
        with self._lock:
            # Checked under the lock that close() takes: the handle cannot be freed after this.
            if not self._finalizer.alive:
                raise EngineClosed("this Engine was closed; build a new one to evaluate claims")
            sid = str(next(self._sids))
            self.live_sessions += 1
            state = None
            try:
                _, state = engine.assert_facts(handle, json.dumps(self._base_facts(f, sid)))
                self._drain(state, f, sid)
                for stratum in range(1, self._strata):
                    gate = f'{{"sid": "{sid}", "id": "{GATE}{stratum}", "t": "{GATE}", "stratum": {stratum}}}'
                    _, state = engine.assert_fact(handle, gate)
                    self._drain(state, f, sid)
            except BaseException as exc:
                if state is not None:
                    # Nothing may be in flight (the failure came before any action): fine.
                    with contextlib.suppress(Exception):
                        engine.abandon_action(handle, state)
                if isinstance(exc, Exception) and not isinstance(exc, HcpcsRulesError):
                    # The C engine's own error type must not reach callers: say what failed.
                    raise BackendError(
                        f"durable_rules failed on claim {f.claim.id!r}: {exc}"
                    ) from exc
                raise
            finally:
                engine.delete_state(handle, sid)
                self.live_sessions -= 1

    def _drain(self, state: int, f: Facts, sid: str) -> None:
        """Run every pending action of the session, on this thread, until it is quiet."""
        engine, handle, plans = self._engine, self._handle, self._plans
        result = engine.start_action_for_state(handle, state)
        message = result[1] if result else None
        while message:
            # The action names the rule and echoes the matched facts as we sent them. Only two
            # things are needed: which rule, and (line rules) which line. Reading them off the
            # text is much cheaper than decoding every fact; the subject is the only line fact a
            # rule matches, and JSON escaping keeps the pattern out of string values.
            name = _ACTION_NAME.match(message).group(1)  # type: ignore[union-attr]
            if name != BEGIN:
                plan = plans[name]
                n = int(_SUBJECT_LINE.search(message).group(1)) if plan.subject_line else 0  # type: ignore[union-attr]
                try:
                    guard = plan.guard
                    derived = plan.fire(f, n) if guard is None or guard(f, n) else None
                except Exception as exc:
                    raise RuleExecutionError(plan.rule.id, f.claim.id, exc) from exc
                if derived is not None:
                    self._assert_derived(plan.rule, n, derived, sid)
            message = engine.complete_and_start_action(handle, state)

    def _assert_derived(self, rule: ir.Rule, n: int, fields: dict[str, Any], sid: str) -> None:
        name = rule.derive
        key = n if self._fact_per[name] == "line" else 0  # type: ignore[index]
        # Written by hand: sid, names and keys are our own plain tokens; only field values
        # (usually none are needed by the network) go through json.dumps.
        text = f'{{"sid": "{sid}", "id": "{fact_id(name, key)}", "t": "{name}", "key": {key}'  # type: ignore[arg-type]
        for field in self._needed.get(name, ()):  # type: ignore[arg-type]
            value = fields.get(field)
            if value is not None:
                text += f", {json.dumps(field)}: {json.dumps(list(value) if isinstance(value, tuple) else value)}"
        code, _ = self._engine.assert_fact(self._handle, text + "}")
        # 0: handled, 1: no rule uses it (fine at the C level); anything else is a bug of ours.
        if code not in (0, 1):
            raise RuntimeError(
                f"durable_rules refused derived fact {fact_id(name, key)} (code {code})"
            )


def _put(fact: dict[str, Any], name: str, value: Any) -> None:
    # Missing values stay absent: the network's tests on absent fields are false, as in the IR.
    if value is None:
        return
    if isinstance(value, tuple):
        value = list(value)
    fact[name] = value
