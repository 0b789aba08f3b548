"""Soak test: does one Engine stay correct and flat in memory over hundreds of thousands of claims?

Run it in a fresh process per backend (``benchmarks/run.py`` does), so the numbers are the
engine's and nothing else's::

    python benchmarks/soak.py --backend durable --claims 200000

A pool of distinct claims from ``hcpcs_rules.testing.claimgen`` (10,000 by default, parsed
once; invalid ones skipped) is evaluated in a cycle by one shared Engine. The first pass keeps each result;
every later evaluation of the same claim must equal it, so a result that drifts with use (state
leaking between claims, sessions piling up, a cache going wrong) counts as a failure. At the end a
sample of the pool is evaluated again by a freshly built Engine and compared too.

Memory is read from ``/proc/self/status``: ``VmRSS`` (resident now) and ``VmHWM`` (the peak),
after ``--checkpoint`` evaluations (once the reference results are stored) and at the end; the
growth between the two is what the engine accumulated per claim. ``gc.collect()`` runs before each
reading so that Python garbage waiting for a collection is not counted as growth.

Prints a readable summary, and with ``--json`` one JSON object (what ``run.py`` reads).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from typing import Any

from hcpcs_rules import ClaimError, Engine, parse_claim
from hcpcs_rules.testing import claimgen


def memory_mb() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MB (empty where /proc is not available)."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status") as status:
            for text in status:
                key, _, value = text.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) / 1024  # kB -> MB
    except OSError:
        pass
    return out


def soak(backend: str, claims: int, pool_size: int, checkpoint: int, seed: int) -> dict[str, Any]:
    pool = []
    invalid = 0
    for data in claimgen.claims(pool_size, seed):
        try:
            pool.append(parse_claim(data))
        except ClaimError:
            invalid += 1
    engine = Engine(backend=backend)
    gc.collect()
    start_memory = memory_mb()
    reference: list[Any] = []
    failures = 0
    at_checkpoint: dict[str, float] = {}
    size = len(pool)
    started = time.perf_counter()
    checkpoint_time = started
    for index in range(claims):
        slot = index % size
        result = engine.evaluate(pool[slot])
        if index < size:
            reference.append(result)
        elif result != reference[slot]:
            failures += 1
        if index + 1 == checkpoint:
            gc.collect()
            at_checkpoint = memory_mb()
            checkpoint_time = time.perf_counter()
    elapsed = time.perf_counter() - started
    gc.collect()
    at_end = memory_mb()
    live_sessions = getattr(engine.backend, "live_sessions", None)
    # A fresh engine must agree with what the long-lived one said on the first pass.
    fresh = Engine(backend=backend, check_examples=False)
    sample = range(0, size, max(1, size // 500))
    fresh_failures = sum(1 for i in sample if fresh.evaluate(pool[i]) != reference[i])
    after = claims - checkpoint
    return {
        "backend": backend,
        "claims": claims,
        "distinct_claims": size,
        "invalid_skipped": invalid,
        "checkpoint": checkpoint,
        "rss_start_mb": start_memory.get("VmRSS"),
        "rss_checkpoint_mb": at_checkpoint.get("VmRSS"),
        "hwm_checkpoint_mb": at_checkpoint.get("VmHWM"),
        "rss_end_mb": at_end.get("VmRSS"),
        "hwm_end_mb": at_end.get("VmHWM"),
        "growth_mb": (
            at_end["VmRSS"] - at_checkpoint["VmRSS"]
            if "VmRSS" in at_end and "VmRSS" in at_checkpoint
            else None
        ),
        "failures": failures,
        "fresh_engine_checked": len(sample),
        "fresh_engine_failures": fresh_failures,
        "live_sessions_after": live_sessions,
        "seconds": elapsed,
        "claims_per_s_after_checkpoint": (
            after / (started + elapsed - checkpoint_time) if after > 0 else None
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["python", "durable"], required=True)
    parser.add_argument("--claims", type=int, default=200_000, help="evaluations in all")
    parser.add_argument("--pool", type=int, default=10_000, help="distinct claims (cycled)")
    parser.add_argument("--checkpoint", type=int, default=10_000, help="first memory reading")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.checkpoint > args.claims:
        parser.error("--checkpoint must not exceed --claims")
    report = soak(args.backend, args.claims, args.pool, args.checkpoint, args.seed)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:30} {value:.2f}" if isinstance(value, float) else f"{key:30} {value}")
    bad = report["failures"] or report["fresh_engine_failures"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
