"""What a policy costs per claim: ``python benchmarks/policy_cost.py [--rounds N]``.

Engines over the same rulesets and claims (the bundled examples, parsed beforehand so parsing is
not timed): no policy; ignore and severity overrides by glob and per overlay; every finding of
the claims ignored; and a payer mapping of each payer to its own overlay (the claim is copied
and mapped, the findings stay the same, so only the mapping's own cost shows). They are timed interleaved round-robin with a rotating start after
a warm-up, as run.py does, and reported as medians and ratios to the engine without a policy.
Times are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from hcpcs_rules import Engine
from hcpcs_rules.claims import parse_claim

ROOT = Path(__file__).resolve().parents[1]

POLICY = {
    "ignore": ["J7632-SUP-*", "CLAIM-NDC-*"],
    "severity": {
        "J7632-MCR-*": {"medicare": "warn", "default": "deny"},
        "J7632-COM-*": "warn",
        "J7632-UNITS-MISMATCH": "reject",
    },
}
SAME_OVERLAY = {"payers": {p: p for p in ("aetna", "bcbs", "cigna", "uhc", "medicare")}}


def claims(repeat: int) -> list:
    data = []
    for path in sorted((ROOT / "examples").glob("*.json")):
        data.append(json.loads(path.read_text()))
    data += [
        json.loads(line) for line in (ROOT / "examples" / "batch.jsonl").read_text().splitlines()
    ]
    return [parse_claim(c) for c in data] * repeat


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--backend", default="python")
    args = parser.parse_args()
    stream = claims(args.repeat)
    everything = sorted({f.rule_id for c in stream for f in Engine(["j7632"]).evaluate(c).findings})
    engines = {
        "no policy": Engine(["j7632"], backend=args.backend),
        "ignore + severity": Engine(["j7632"], backend=args.backend, policy=POLICY),
        "all ignored": Engine(
            ["j7632"], backend=args.backend, policy={**POLICY, "ignore": everything}
        ),
        "payer mapping": Engine(["j7632"], backend=args.backend, policy=SAME_OVERLAY),
    }
    names = list(engines)
    times: dict[str, list[float]] = {n: [] for n in names}
    for engine in engines.values():  # warm-up
        for claim in stream[:50]:
            engine.evaluate(claim)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            evaluate = engines[name].evaluate
            start = time.perf_counter()
            for claim in stream:
                evaluate(claim)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["no policy"])
    print(f"{len(stream)} claims, {args.rounds} rounds, backend {args.backend}")
    for name in names:
        m = statistics.median(times[name])
        print(f"  {name:<22} {m / len(stream) * 1e6:8.1f} us/claim   x{m / base:.3f}")


if __name__ == "__main__":
    main()
