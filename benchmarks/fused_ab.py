"""The python backend's fused code against the floor and against its own per-rule code, by
claim size: ``python benchmarks/fused_ab.py [--rounds N]``.

One process, everything interleaved round-robin with a rotating start after a warm-up, timed
with ``time.process_time`` (the CPU time of this process: on a shared machine the time other
processes take from it is not counted, as it is by a wall clock). Each cell is the median over
the rounds; ``min`` is the best round. The per-rule column runs the same Engine's per-rule
functions (what ``explain=True`` runs) without recording a trace: the code the fused function
replaced. Results are checked equal before timing; nothing is asserted about times.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Sequence

import check_floor  # sibling scripts: python puts benchmarks/ on the path when run as one
import floor
from hcpcs_rules import Engine
from hcpcs_rules.facts import Facts
from hcpcs_rules.model import Claim
from run import j7632_claims


def per_rule(engine: Engine) -> Callable[[Claim], object]:
    """``engine.evaluate`` through the per-rule driver (no trace), for comparison."""
    backend = engine.backend
    names = tuple(f.name for f in engine.program.facts)

    def evaluate(claim: Claim) -> object:
        facts = Facts(claim, names, False)
        backend._evaluate(facts)  # the per-rule driver; findings are sorted by _result
        return engine._result(claim, facts)

    return evaluate


def two_pass(engine: Engine) -> Callable[[Claim], object]:
    """``engine.evaluate`` as it was before the fused function built the Result's lines: the
    fused rules, then ``Engine._result``'s second pass (what a claim under a policy still runs)."""

    def evaluate(claim: Claim) -> object:
        return engine._evaluate(claim, False, None)

    return evaluate


def measure(
    engines: dict[str, Callable[[Claim], object]], claims: Sequence[Claim], rounds: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in engines}
    names = list(engines)
    for name in names:  # warm-up
        for claim in claims:
            engines[name](claim)
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            function = engines[name]
            gc.collect()
            started = time.process_time()
            for claim in claims:
                function(claim)
            times[name].append((time.process_time() - started) / len(claims) * 1e6)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--stream", type=int, default=2000)
    args = parser.parse_args()
    stream = check_floor.generated_claims(args.stream, seeds=(7,))
    engine = Engine(check_floor.SHIPPED)
    old = per_rule(engine)
    second = two_pass(engine)
    sets = {
        "stream": stream,
        "1 line": [c for c in stream if len(c.lines) == 1],
        "2-3 lines": [c for c in stream if 2 <= len(c.lines) <= 3],
        "10 J7632 lines": j7632_claims(stream, 10, 150),
        "50 J7632 lines": j7632_claims(stream, 50, 60),
    }
    print(f"fused = python backend (explain=False); {args.rounds} rounds, CPU µs per claim\n")
    print(
        "| claims | n | floor | fused | x floor | two-pass | x floor | per-rule | x floor "
        "| fused / two-pass | fused / per-rule |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, claims in sets.items():
        for claim in claims:
            assert engine.evaluate(claim) == old(claim) == second(claim), claim.id
        engines = {"floor": floor.check, "fused": engine.evaluate, "two-pass": second}
        times = measure({**engines, "per-rule": old}, claims, args.rounds)
        med = {name: statistics.median(values) for name, values in times.items()}
        print(
            f"| {label} | {len(claims)} | {med['floor']:.1f} | {med['fused']:.1f} | "
            f"{med['fused'] / med['floor']:.2f}x | {med['two-pass']:.1f} | "
            f"{med['two-pass'] / med['floor']:.2f}x | {med['per-rule']:.1f} | "
            f"{med['per-rule'] / med['floor']:.2f}x | {med['fused'] / med['two-pass']:.2f} | "
            f"{med['fused'] / med['per-rule']:.2f} |"
        )


if __name__ == "__main__":
    main()
