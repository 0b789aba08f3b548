"""Reload: EngineSlot swaps rulesets atomically under load; the default engine resets."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from hcpcs_rules import (
    Engine,
    EngineSlot,
    RulesetError,
    evaluate,
    reload_default_engine,
    reset_default_engine,
)
from hcpcs_rules import (
    engine as engine_module,
)
from hcpcs_rules.testing import available_backends
from hcpcs_rules.testing.rulesets import HEADER, rule


def _version(tmp_path, version: str, severity: str, threshold: int):
    """Ruleset 'mine' at ``version``: MINE-RULE at ``severity``, firing above ``threshold``
    units, its message naming the version."""
    path = tmp_path / f"mine-{version}.toml"
    path.write_text(
        HEADER.replace('version = "0.1.0"', f'version = "{version}"')
        + rule(
            f"line.units > {threshold}",
            severity=f'"{severity}"',
            message=f'"v{version}: billed {{line.units}} units."',
        )
    )
    return path


CLAIM = {
    "id": "R",
    "payer": "medicare",
    "date_of_service": "2026-03-02",
    "place_of_service": "12",
    "diagnoses": ["J45.40"],
    "supplier": {"npi": "1234567893"},
    "lines": [{"hcpcs": "J7632", "units": "150", "diagnosis_pointers": [1]}],
}


def _agrees(result) -> str | None:
    """Which version produced ``result`` (None if its label and findings disagree)."""
    mine = [f for f in result.findings if f.rule_id == "MINE-RULE"]
    label = [r for r in result.rulesets if r.startswith("mine@")]
    if label == ["mine@1.0.0"] and [(f.severity, f.message[:6]) for f in mine] == [
        ("warn", "v1.0.0")
    ]:
        return "1"
    if label == ["mine@2.0.0"] and [(f.severity, f.message[:6]) for f in mine] == [
        ("reject", "v2.0.0")
    ]:
        return "2"
    return None


@pytest.mark.parametrize("backend", available_backends())
def test_swapping_under_eight_threads_never_fails_or_mixes(tmp_path, backend):
    v1 = _version(tmp_path, "1.0.0", "warn", 100)
    v2 = _version(tmp_path, "2.0.0", "reject", 120)
    broken = tmp_path / "broken.toml"
    broken.write_text(HEADER + rule("line.unitz > 1"))
    slot = EngineSlot(rulesets=[v1], backend=backend)
    stop = threading.Event()
    seen: list[str | None] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def evaluator():
        mine: list[str | None] = []
        try:
            while not stop.is_set():
                mine.append(_agrees(slot.evaluate(CLAIM)))
                # A short pause: eight threads spinning on the GIL would starve the builds
                # (and the test's time) without making the swap any more concurrent.
                time.sleep(0.0005)
        except BaseException as exc:
            failures.append(exc)
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=evaluator) for _ in range(8)]
    for t in threads:
        t.start()
    refused = 0
    try:
        for i in range(10):
            slot.reload([v2 if i % 2 == 0 else v1])
            if i % 5 == 0:
                with pytest.raises(RulesetError, match="unitz"):
                    slot.reload([broken])
                refused += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    assert None not in seen  # every result is wholly one version
    assert {"1", "2"} <= set(seen)
    assert slot.generation == 10 and refused == 2
    assert _agrees(slot.evaluate(CLAIM)) == "1"  # the last good reload (i = 9: v1) serves


def test_a_failed_reload_keeps_the_old_engine_serving(tmp_path):
    v1 = _version(tmp_path, "1.0.0", "warn", 100)
    bad_example = tmp_path / "bad.toml"
    # The example says the near miss (100 units) does not fire; this rule fires on it.
    bad_example.write_text(HEADER + rule("line.units > 99"))
    slot = EngineSlot(rulesets=[v1])
    before = slot.engine
    with pytest.raises(RulesetError, match="expected the rule not to fire"):
        slot.reload([bad_example])
    assert slot.engine is before and slot.generation == 0
    assert _agrees(slot.evaluate(CLAIM)) == "1"


def test_an_evaluation_in_flight_finishes_on_its_engine(tmp_path):
    v1 = _version(tmp_path, "1.0.0", "warn", 100)
    v2 = _version(tmp_path, "2.0.0", "reject", 120)
    slot = EngineSlot(rulesets=[v1])
    batch = slot.evaluate_many([CLAIM] * 3)
    first = next(batch)
    slot.reload([v2])
    # The batch started on v1 and stays there; new evaluations get v2.
    assert [_agrees(r) for r in (first, *batch)] == ["1", "1", "1"]
    assert _agrees(slot.evaluate(CLAIM)) == "2"
    old = slot.swap(Engine([v1]))
    assert _agrees(slot.evaluate(CLAIM)) == "1" and old.rulesets[-1] == "mine@2.0.0"
    with pytest.raises(TypeError):
        slot.swap("not an engine")
    with pytest.raises(TypeError, match="not both"):
        EngineSlot(Engine([v1]), rulesets=[v1])


@pytest.mark.skipif("durable" not in available_backends(), reason="durable_rules not here")
def test_a_dropped_durable_engine_frees_its_ruleset(tmp_path):
    v1 = _version(tmp_path, "1.0.0", "warn", 100)
    v2 = _version(tmp_path, "2.0.0", "reject", 120)
    slot = EngineSlot(rulesets=[v1], backend="durable")
    backend = weakref.ref(slot.engine.backend)
    finalizer = slot.engine.backend._finalizer
    assert finalizer.alive
    slot.reload([v2])
    gc.collect()
    assert backend() is None and not finalizer.alive  # durable_rules' C ruleset was deleted
    assert _agrees(slot.evaluate(CLAIM)) == "2"


def test_the_default_engine_resets_and_reloads(tmp_path):
    v1 = _version(tmp_path, "1.0.0", "warn", 100)
    broken = tmp_path / "broken.toml"
    broken.write_text(HEADER + rule("line.unitz > 1"))
    try:
        reload_default_engine(rulesets=[v1])
        assert _agrees(evaluate(CLAIM)) == "1"
        with pytest.raises(RulesetError, match="unitz"):
            reload_default_engine(rulesets=[broken])
        assert _agrees(evaluate(CLAIM)) == "1"  # the failed reload left it alone
        reset_default_engine()
        assert engine_module._default is None
        result = evaluate(CLAIM)  # rebuilt over every installed ruleset
        assert not any(r.startswith("mine@") for r in result.rulesets)
        assert "core@1.2.0" in result.rulesets
    finally:
        reset_default_engine()
