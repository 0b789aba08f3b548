"""evaluate_many: in order, lazy, invalid claims in place, worker processes agree, and no claim
is ever lost (a raising rule function, a killed worker, workers that cannot build)."""

from __future__ import annotations

import itertools
import json
import logging
import pickle
import sys
import types
from collections.abc import Mapping
from pathlib import Path

import pytest

import hostile_plugin
from conftest import SHIPPED
from hcpcs_rules import (
    ClaimError,
    Engine,
    EngineConfig,
    EvaluationFailure,
    Result,
    WorkerError,
    evaluate_many,
)
from hcpcs_rules.functions import FUNCTIONS, Function
from hcpcs_rules.testing.claimgen import claims

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HOSTILE_RULESET = hostile_plugin.RULESET


def as_comparable(item):
    return ("error", item.errors) if isinstance(item, ClaimError) else item.to_dict()


def test_results_come_in_order_with_claim_errors_in_place():
    stream = claims(300, seed=21)
    engine = Engine(SHIPPED)
    expected = []
    for data in stream:
        try:
            expected.append(engine.evaluate(data).to_dict())
        except ClaimError as exc:
            expected.append(("error", exc.errors))
    got = [as_comparable(r) for r in evaluate_many(stream, rulesets=SHIPPED)]
    assert got == expected
    assert any(isinstance(e, tuple) for e in expected)


def test_input_is_consumed_lazily():
    """A million-claim stream is never materialised: taking 5 results reads only a few claims."""
    pulled = 0

    def endless():
        nonlocal pulled
        for data in itertools.cycle(claims(10, seed=2)):
            pulled += 1
            yield data

    first = list(itertools.islice(evaluate_many(endless(), rulesets=SHIPPED), 5))
    assert len(first) == 5 and pulled <= 6
    assert all(isinstance(r, Result | ClaimError) for r in first)


def test_worker_processes_give_the_same_results():
    stream = claims(600, seed=22)
    serial = [as_comparable(r) for r in evaluate_many(stream, workers=1, rulesets=SHIPPED)]
    parallel = [
        as_comparable(r) for r in evaluate_many(stream, workers=2, chunksize=64, rulesets=SHIPPED)
    ]
    assert parallel == serial


def test_engine_method_and_explain():
    engine = Engine(["core"])
    (result,) = engine.evaluate_many([claims(1, seed=3)[0]], explain=True)
    assert result.trace


# ------------------------------------------------------------- no claim is ever lost (issue 8)


def _hostile_claims(n: int, notes: dict[int, str]) -> list[dict]:
    """n valid claims C0..C{n-1}; claim i's first line carries notes[i] when given."""
    base = json.loads((EXAMPLES / "aetna-clean.json").read_text())
    stream = []
    for i in range(n):
        claim = json.loads(json.dumps(base))
        claim["id"] = f"C{i}"
        if i in notes:
            claim["lines"][0]["note"] = notes[i]
        stream.append(claim)
    return stream


@pytest.fixture(scope="module")
def hostile_engine():
    return Engine([hostile_plugin.RULESET], check_examples=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_rule_function_that_raises_on_one_claim_of_1000_gives_a_failure_in_place(
    hostile_engine, workers
):
    stream = _hostile_claims(1000, {500: "BOOM", 501: "FIRE"})
    results = list(evaluate_many(stream, engine=hostile_engine, workers=workers, chunksize=128))
    assert len(results) == 1000
    failure = results[500]
    assert isinstance(failure, EvaluationFailure)
    assert (failure.index, failure.claim_id, failure.error_type, failure.rule_id) == (
        500,
        "C500",
        "RuleExecutionError",
        "TEST-HOSTILE-NOTE",
    )
    assert "failed on purpose" in failure.message
    others = [r for i, r in enumerate(results) if i != 500]
    assert [r.claim_id for r in others] == [f"C{i}" for i in range(1000) if i != 500]
    assert results[501].status == "warn" and results[499].status == "clean"


def test_a_worker_killed_by_sigkill_is_replaced_and_no_claim_is_lost(hostile_engine, caplog):
    stream = _hostile_claims(40, {13: "KILL", 30: "FIRE"})
    with caplog.at_level(logging.WARNING, logger="hcpcs_rules"):
        results = list(
            evaluate_many(stream, engine=hostile_engine, workers=2, chunksize=8, max_retries=1)
        )
    assert len(results) == 40
    dead = results[13]
    assert isinstance(dead, EvaluationFailure)
    assert (dead.index, dead.claim_id, dead.error_type) == (13, "C13", "WorkerDied")
    assert "died 2 time(s)" in dead.message  # one try plus max_retries=1
    expected = [hostile_engine.evaluate(c).to_dict() for i, c in enumerate(stream) if i != 13]
    assert [r.to_dict() for i, r in enumerate(results) if i != 13] == expected
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("worker process died" in w for w in warnings)
    assert any("claim 13 ('C13')" in w.replace("(id ", "(") for w in warnings)


def test_workers_rebuild_exactly_the_callers_engine_configuration():
    engine = Engine(["core"])
    assert engine.config == EngineConfig(rulesets=("core",), backend="python")
    stream = claims(120, seed=23)
    serial = [as_comparable(r) for r in evaluate_many(stream, engine=engine)]
    parallel = [as_comparable(r) for r in evaluate_many(stream, engine=engine, workers=2)]
    assert parallel == serial
    rule_ids = {f["rule_id"] for r in parallel if isinstance(r, dict) for f in r["findings"]}
    assert rule_ids and not any(r.startswith("J7632") for r in rule_ids)
    # The shipped rulesets do report J7632 findings on the same claims: the test can fail.
    default = {
        f.rule_id
        for r in evaluate_many(stream, rulesets=SHIPPED)
        if isinstance(r, Result)
        for f in r.findings
    }
    assert any(r.startswith("J7632") for r in default)


def test_engine_config_rebuilds_an_equal_engine_and_is_picklable(tmp_path):
    engine = Engine(iter(["core", hostile_plugin.RULESET]), check_examples=False)
    config = pickle.loads(pickle.dumps(engine.config))
    assert config == engine.config and hash(config) == hash(engine.config)
    assert config.rulesets == ("core", hostile_plugin.RULESET)  # a generator is read once
    assert config.build().rulesets == engine.rulesets


def test_workers_that_cannot_build_the_engine_fail_loudly(tmp_path, monkeypatch):
    def registered_inside_a_function(value):  # what `register` inside main() amounts to
        return False

    # The function's module (this test module) is imported by the workers, but importing it does
    # not register the function: the workers cannot compile the ruleset and must say so.
    monkeypatch.setitem(
        FUNCTIONS,
        "only_in_parent",
        Function("only_in_parent", ("str",), "bool", registered_inside_a_function, "test"),
    )
    ruleset = tmp_path / "parent_only.toml"
    ruleset.write_text(
        HOSTILE_RULESET.read_text()
        .replace("hostile_note(", "only_in_parent(")
        .replace("hostile_test", "parent_only")
        .replace("TEST-HOSTILE-NOTE", "TEST-PARENT-ONLY")
    )
    engine = Engine([ruleset], check_examples=False)
    assert engine.evaluate(_hostile_claims(1, {})[0]).status == "clean"  # fine here
    with pytest.raises(
        WorkerError,
        match=r"(?s)only_in_parent.*\nCondition functions must be registered when their module",
    ):
        list(evaluate_many(_hostile_claims(4, {}), engine=engine, workers=2, chunksize=2))


class _ClaimMapping(Mapping):
    def __init__(self, data):
        self.data = data

    def __getitem__(self, key):
        return self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)


@pytest.mark.parametrize("where", ["here", "in the worker"])
def test_a_claim_that_cannot_travel_is_evaluated_here_with_the_same_engine(where, monkeypatch):
    if where == "here":  # a class local to a function cannot be pickled

        class Wrapper(_ClaimMapping):
            pass

    else:  # a module only this process has: pickled fine, but workers cannot import it
        module = types.ModuleType("only_in_this_process")
        Wrapper = type("Wrapper", (_ClaimMapping,), {"__module__": module.__name__})
        module.Wrapper = Wrapper
        monkeypatch.setitem(sys.modules, module.__name__, module)
    engine = Engine(["core"])
    stream = claims(40, seed=24)
    mixed = [Wrapper(c) if i == 5 else c for i, c in enumerate(stream)]
    got = [as_comparable(r) for r in evaluate_many(mixed, engine=engine, workers=2, chunksize=8)]
    assert got == [as_comparable(r) for r in evaluate_many(stream, engine=engine)]


def test_a_pool_that_breaks_while_chunks_are_handed_over_loses_no_claim(
    hostile_engine, monkeypatch
):
    """A worker can die while the next chunks are still being submitted: the pool then refuses
    every submit with BrokenProcessPool (seen in CI under load). Those chunks are recovered like
    the ones in flight, not raised to the caller."""
    from concurrent.futures.process import BrokenProcessPool

    from hcpcs_rules import batch

    calls = itertools.count()

    class BreaksOnThirdSubmit(batch.ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            if next(calls) == 2:
                raise BrokenProcessPool("a worker died during the handover")
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(batch, "ProcessPoolExecutor", BreaksOnThirdSubmit)
    stream = _hostile_claims(40, {30: "FIRE"})
    results = list(evaluate_many(stream, engine=hostile_engine, workers=2, chunksize=8))
    expected = [hostile_engine.evaluate(c).to_dict() for c in stream]
    assert [r.to_dict() for r in results] == expected
