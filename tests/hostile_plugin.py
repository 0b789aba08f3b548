"""A condition function that misbehaves on purpose, for the batch and CLI failure tests.

It is registered when this module is imported. ``evaluate_many`` makes its spawned worker
processes import every module outside hcpcs_rules that registered a condition function, so the
workers have it too (tests/ is on the path pytest hands to them). The ruleset that calls it is
``tests/rulesets/hostile.toml``.

``hostile_note(line.note)``: ``"FIRE"`` fires the rule; ``"BOOM"`` raises (a plugin bug: the claim
gets an EvaluationFailure); ``"KILL"`` kills the worker process evaluating it with SIGKILL. In the
test process itself ``"KILL"`` raises instead: a test must never kill the test runner.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

from hcpcs_rules.functions import register

RULESET = Path(__file__).with_name("rulesets") / "hostile.toml"


@register(
    "hostile_note",
    ["str"],
    "bool",
    doc="Test only: fires on 'FIRE', raises on 'BOOM', kills its worker process on 'KILL'.",
)
def hostile_note(note: str | None) -> bool:
    if note == "BOOM":
        raise RuntimeError("the plugin function failed on purpose")
    if note == "KILL":
        if multiprocessing.parent_process() is None:
            raise RuntimeError("asked to kill the test process itself; refused")
        os.kill(os.getpid(), signal.SIGKILL)
    return note == "FIRE"
