"""Where one claim's time goes, stage by stage: ``python benchmarks/breakdown.py``.

python backend: the claim's ``Facts``, the fused generated function (``backends/fused.py``)
as ``Engine.evaluate`` runs it without a policy, with and without building its ``Finding`` and
``LineResult`` objects, the whole ``Engine.evaluate``, and for comparison the second-pass Result
assembly a claim under a policy gets. durable backend: a cProfile of whole
evaluations, reporting the share spent inside durable_rules' C functions and the top entries.
Medians of 11 rounds (CPU time) over the same stream ``run.py`` uses; the floor is split the
same way (its rules, then its result objects). Nothing is asserted.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable
from pathlib import Path

import check_floor  # a sibling script: python puts benchmarks/ on the path when run as one
import floor
from hcpcs_rules import Engine
from hcpcs_rules.facts import Facts


def median_us(function: Callable[[], object], count: int, rounds: int = 11) -> float:
    # CPU time of this process: on a shared machine, time other processes take is not counted.
    times = []
    for _ in range(rounds):
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    times.sort()
    return times[len(times) // 2] / count * 1e6


def main() -> None:
    stream = check_floor.generated_claims(2000, seeds=(7,))
    engine = Engine(check_floor.SHIPPED)
    names = tuple(f.name for f in engine.program.facts)
    fused = engine.backend.fused  # the generated function, without the error wrapper
    run = fused.evaluate
    print(f"python backend, {len(stream)} claims, µs per claim (medians):")
    whole = median_us(lambda: [engine.evaluate(c) for c in stream], len(stream))
    facts = median_us(lambda: [Facts(c, names, False) for c in stream], len(stream))
    # Called as Engine.evaluate calls it without a policy: building the LineResults too.
    rules = median_us(lambda: [run(Facts(c, names, False), True) for c in stream], len(stream))
    # The same function with every Finding and LineResult replaced by a no-op (the slot
    # builders _F / _L, or the classes where those are not used): what those objects cost.
    namespace = dict(run.__globals__)

    def nothing(*args: object, **fields: object) -> None:
        return None

    for name in ("Finding", "LineResult", "_F", "_L"):
        namespace[name] = nothing
    exec(compile(fused.source, fused.filename, "exec"), namespace)
    unrecorded_run = namespace["evaluate"]
    unrecorded = median_us(
        lambda: [unrecorded_run(Facts(c, names, False), True) for c in stream], len(stream)
    )
    evaluated = []
    for claim in stream:
        facts_of_claim = Facts(claim, names, False)
        run(facts_of_claim)
        facts_of_claim.ordered = fused.ordered
        evaluated.append((claim, facts_of_claim))
    result = median_us(lambda: [engine._result(c, f) for c, f in evaluated], len(stream))
    whole = median_us(lambda: [engine.evaluate(c) for c in stream], len(stream))
    print(f"  Facts for the claim                      {facts:6.1f}")
    print(f"  rules (conditions, derived facts, text)  {unrecorded - facts:6.1f}")
    print(f"  Finding and LineResult objects           {rules - unrecorded:6.1f}")
    print(f"  the rest (parse check, dispatch, Result) {whole - rules:6.1f}")
    print(f"  Engine.evaluate                          {whole:6.1f}")
    print(f"  (a second-pass Result assembly, as under a policy: {result:.1f})")
    # The floor the same way: whole, then with its Finding / LineResult / Result objects no-ops.
    floor_whole = median_us(lambda: [floor.check(c) for c in stream], len(stream))
    made = (floor.Finding, floor.LineResult, floor.Result)
    floor.Finding = floor.LineResult = floor.Result = lambda **fields: None  # type: ignore[assignment]
    try:
        floor_rules = median_us(lambda: [floor.check(c) for c in stream], len(stream))
    finally:
        floor.Finding, floor.LineResult, floor.Result = made  # type: ignore[misc]
    print(f"\nfloor, {len(stream)} claims, µs per claim (medians):")
    print(f"  rules (conditions, derived values, text) {floor_rules:6.1f}")
    print(f"  Finding, LineResult and Result objects   {floor_whole - floor_rules:6.1f}")
    print(f"  floor.check                              {floor_whole:6.1f}")

    durable = Engine(check_floor.SHIPPED, backend="durable")
    profile = cProfile.Profile()
    profile.enable()
    for claim in stream:
        durable.evaluate(claim)
    profile.disable()
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    entries = stats.stats  # type: ignore[attr-defined]
    inside_c = sum(v[2] for k, v in entries.items() if "durable_rules_engine" in k[2])
    print(
        f"\ndurable backend under cProfile: {100 * inside_c / total:.0f} % inside durable_rules' C functions"
    )
    for key, value in sorted(entries.items(), key=lambda kv: -kv[1][2])[:8]:
        print(f"  {100 * value[2] / total:5.1f} %  {Path(key[0]).name}:{key[2]}")


if __name__ == "__main__":
    main()
