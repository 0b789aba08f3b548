"""evaluate_many: in order, lazy, invalid claims in place, worker processes agree."""

from __future__ import annotations

import itertools

from claimgen import claims
from hcpcs_rules import ClaimError, Engine, Result, evaluate_many


def as_comparable(item):
    return ("error", item.errors) if isinstance(item, ClaimError) else item.to_dict()


def test_results_come_in_order_with_claim_errors_in_place():
    stream = claims(300, seed=21)
    engine = Engine()
    expected = []
    for data in stream:
        try:
            expected.append(engine.evaluate(data).to_dict())
        except ClaimError as exc:
            expected.append(("error", exc.errors))
    got = [as_comparable(r) for r in evaluate_many(stream)]
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

    first = list(itertools.islice(evaluate_many(endless()), 5))
    assert len(first) == 5 and pulled <= 6
    assert all(isinstance(r, Result | ClaimError) for r in first)


def test_worker_processes_give_the_same_results():
    stream = claims(600, seed=22)
    serial = [as_comparable(r) for r in evaluate_many(stream, workers=1)]
    parallel = [as_comparable(r) for r in evaluate_many(stream, workers=2, chunksize=64)]
    assert parallel == serial


def test_engine_method_and_explain():
    engine = Engine(["core"])
    (result,) = engine.evaluate_many([claims(1, seed=3)[0]], explain=True)
    assert result.trace
