"""What serving through an EngineSlot, and reloading it, costs evaluations.

Three ratios, each against plain ``Engine.evaluate`` on the shipped rulesets (core + j7632):

- ``slot``: ``EngineSlot.evaluate`` (one attribute read more per claim);
- ``reloading``: the same, while another thread reloads the slot back to back (each reload
  builds and checks a whole Engine, competing for the GIL);
- ``reload``: one reload's time in claims, how many claims the same thread evaluates meanwhile.

    python benchmarks/reload.py                 # python backend
    python benchmarks/reload.py --backend durable --claims 2000

Times are medians of ``--repeat`` runs; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from hcpcs_rules import Engine, EngineSlot
from hcpcs_rules.testing.claimgen import claims as claim_stream


def _valid(engine: Engine, count: int) -> list[dict]:
    out = []
    for claim in claim_stream(count * 2, seed=7):
        try:
            engine.evaluate(claim)
        except Exception:
            continue
        out.append(claim)
        if len(out) == count:
            break
    return out


def _time(evaluate, claims) -> float:
    start = time.perf_counter()
    for claim in claims:
        evaluate(claim)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="python", choices=("python", "durable"))
    parser.add_argument("--claims", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    engine = Engine(["core", "j7632"], backend=args.backend)
    slot = EngineSlot(engine)
    claims = _valid(engine, args.claims)
    _time(engine.evaluate, claims)  # warm up (caches, allocator) before anything is compared

    # Interleaved, and compared run by run: a busy machine slows both sides of each pair alike.
    pairs = [
        (_time(engine.evaluate, claims), _time(slot.evaluate, claims)) for _ in range(args.repeat)
    ]
    plain = statistics.median(p for p, _ in pairs)
    slot_ratio = statistics.median(s / p for p, s in pairs)

    stop = threading.Event()
    reloads = 0

    def reloader() -> None:
        nonlocal reloads
        while not stop.is_set():
            slot.reload()
            reloads += 1

    thread = threading.Thread(target=reloader)
    thread.start()
    try:
        reloading = statistics.median(_time(slot.evaluate, claims) for _ in range(args.repeat))
    finally:
        stop.set()
        thread.join()

    builds = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        slot.reload()
        builds.append(time.perf_counter() - start)
    per_claim = plain / len(claims)

    print(f"{len(claims)} claims, backend {args.backend}")
    print(f"plain Engine.evaluate: {per_claim * 1e6:.1f} us per claim")
    print(f"slot / plain:          {slot_ratio:.3f}")
    print(f"reloading / plain:     {reloading / plain:.3f}  ({reloads} reloads meanwhile)")
    print(f"one reload = {statistics.median(builds) / per_claim:,.0f} claims' time")


if __name__ == "__main__":
    main()
