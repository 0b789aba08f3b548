"""What hostile claims cost: ``python benchmarks/hostile_claims.py [--case NAME] [--backend B]``.

Part 1 runs each case of issue 8's "Claims" list in a fresh subprocess per backend, so one case's
memory cannot hide another's. The child builds the Engine and the hostile input first, then resets
its peak-RSS mark (``/proc/self/clear_refs``), evaluates once and reports how long the evaluation
took, what it returned (a Result's status, or ClaimError and its first problem) and the peak RSS
during the evaluation alone (``VmHWM`` of ``/proc/self/status``). The budget is 1 s and 300 MB per
case; the table marks anything over it. The input's own size is not charged to the evaluation (a
50 MB key is 50 MB before the library sees it); the RSS before the evaluation is shown too.

Part 2 times claims of 1, 5, 10, 25 and 50 J7632 lines (the default line limit) on both backends,
medians over interleaved rounds, and prints the cost per line: it should stay flat if evaluation
is linear in lines. Nothing is asserted: the numbers are for docs/security.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BUDGET_SECONDS = 1.0
BUDGET_MB = 300

BASE = {
    "id": "HOSTILE-1",
    "payer": "medicare",
    "date_of_service": "2026-03-02",
    "place_of_service": "12",
    "diagnoses": ["J45.40"],
    "supplier": {"npi": "1234567893", "ptan": "AB1234", "taxonomy": "3336C0004X"},
    "lines": [
        {
            "hcpcs": "J7632",
            "modifiers": ["KO", "GA"],
            "units": "240",
            "dispensed": {"quantity": "2400", "unit": "mg"},
            "order": {"dose_mg": "20", "times_per_day": 4},
            "days_supply": 30,
            "diagnosis_pointers": [1],
        }
    ],
}


def _line(**changes: object) -> dict:
    line = copy.deepcopy(BASE["lines"][0])
    line.update(changes)
    return line


def _claim(**changes: object) -> dict:
    claim = copy.deepcopy(BASE)
    claim.update(changes)
    return claim


def build_case(name: str) -> object:
    """The hostile input of case ``name`` (built in the child, before measuring)."""
    from hcpcs_rules import parse_claim
    from hcpcs_rules.testing.strategies import RaisingInt, RaisingStr

    dispensed = {"quantity": "240." + "0" * 70, "unit": "mg"}
    cases = {
        "plain claim (reference)": lambda: _claim(),
        "mixed keys at claim level": lambda: _claim() | {1: "x", "zz": "y"},
        "None and tuple keys on a line": lambda: _claim(
            lines=[_line() | {None: "x", (1, 2): "y", "zz": 1}]
        ),
        "units 240. + 70 zeros": lambda: _claim(lines=[_line(units="240." + "0" * 70)]),
        "dispensed 240. + 70 zeros": lambda: _claim(lines=[_line(dispensed=dispensed)]),
        "order dose 240. + 70 zeros": lambda: _claim(
            lines=[_line(order={"dose_mg": "240." + "0" * 70, "times_per_day": 4})]
        ),
        "units 250. + 50,000,000 zeros": lambda: _claim(
            lines=[_line(units="250." + "0" * 50_000_000)]
        ),
        "units Arabic-Indic digits": lambda: _claim(lines=[_line(units="\u0662\u0664\u0660")]),
        "units full-width digits": lambda: _claim(lines=[_line(units="\uff12\uff14\uff10")]),
        "units Devanagari digits": lambda: _claim(lines=[_line(units="\u0968\u096a\u0966")]),
        "100,000 valid lines": lambda: _claim(lines=[_line() for _ in range(100_000)]),
        "16,000 valid lines": lambda: _claim(lines=[_line() for _ in range(16_000)]),
        "50 MB unknown key": lambda: _claim() | {"k" * 50_000_000: 1},
        "100,000 invalid lines": lambda: _claim(lines=[{"hcpcs": 1} for _ in range(100_000)]),
        "str subclass with raising __hash__ as HCPCS": lambda: _claim(
            lines=[_line(hcpcs=RaisingStr("J7632"))]
        ),
        "int subclass with raising __gt__": lambda: _claim(
            lines=[_line(days_supply=RaisingInt(30))]
        ),
        "units 0.00000000": lambda: _claim(lines=[_line(units="0.00000000")]),
        "units 1.00000000": lambda: _claim(lines=[_line(units="1.00000000")]),
        "50 MB number": lambda: _claim(lines=[_line(units="9" * 50_000_000)]),
        "empty supplier and no lines": lambda: _claim(supplier={}, lines=[]),
        "typed Claim without lines": lambda: _typed(parse_claim(BASE), lines=()),
        "typed Claim with float quantities": lambda: _typed_float(parse_claim(BASE)),
        "evaluate after close": lambda: _claim(),
    }
    if name == "list":
        return list(cases)
    return cases[name]()


def _typed(claim, **changes):
    import attrs

    return attrs.evolve(claim, **changes)


def _typed_float(claim):
    import attrs

    line = attrs.evolve(claim.lines[0], units=240.0)
    return attrs.evolve(claim, lines=(line,))


def _status_kb(field: str) -> int:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])
    return 0


def child(name: str, backend: str) -> None:
    from hcpcs_rules import ClaimError, Engine

    engine = Engine(backend=backend)
    data = build_case(name)
    if name == "evaluate after close":
        engine.close()
    gc.collect()
    before = _status_kb("VmRSS")
    with contextlib.suppress(OSError):  # not every kernel lets a process reset its peak
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    started = time.perf_counter()
    try:
        result = engine.evaluate(data)
        outcome = f"Result {result.status}"
    except ClaimError as exc:
        path, message = exc.errors[0]
        more = f" (+{len(exc.errors) - 1})" if len(exc.errors) > 1 else ""
        outcome = f"ClaimError {path}: {message[:70]}{more}"
    except Exception as exc:  # reported, not raised: the table shows what escaped
        outcome = f"{type(exc).__name__}: {str(exc)[:70]}"
    seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak / 1024,
                "before_mb": before / 1024,
                "outcome": outcome,
            }
        )
    )


def part1(backends: list[str], only: str | None) -> None:
    names = [only] if only else build_case("list")
    print(f"Part 1: each case in its own process; budget {BUDGET_SECONDS} s and {BUDGET_MB} MB")
    print(f"{'case':45} {'backend':8} {'time':>9} {'peak RSS':>9} {'RSS before':>10}  outcome")
    for name in names:
        for backend in backends:
            run = subprocess.run(
                [sys.executable, __file__, "--child", name, "--backend", backend],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if run.returncode != 0:
                print(f"{name:45} {backend:8} child failed: {run.stderr.strip()[-300:]}")
                continue
            row = json.loads(run.stdout.strip().splitlines()[-1])
            over = (
                "  OVER BUDGET"
                if row["seconds"] > BUDGET_SECONDS or row["peak_mb"] > BUDGET_MB
                else ""
            )
            print(
                f"{name:45} {backend:8} {row['seconds'] * 1000:7.2f}ms {row['peak_mb']:7.1f}MB "
                f"{row['before_mb']:8.1f}MB  {row['outcome']}{over}"
            )


def part2(backends: list[str], rounds: int) -> None:
    from hcpcs_rules import Engine, parse_claim

    sizes = (1, 5, 10, 25, 50)
    engines = {b: Engine(backend=b) for b in backends}
    claims = {n: parse_claim(_claim(lines=[_line() for _ in range(n)])) for n in sizes}
    times: dict[tuple[str, int], list[float]] = {key: [] for key in _keys(backends, sizes)}
    for round_ in range(rounds + 1):  # round 0 warms up
        order = _keys(backends, sizes)
        order = order[round_ % len(order) :] + order[: round_ % len(order)]
        for backend, n in order:
            engine, claim = engines[backend], claims[n]
            repeat = max(1, 200 // n)
            started = time.perf_counter()
            for _ in range(repeat):
                engine.evaluate(claim)
            if round_:
                times[(backend, n)].append((time.perf_counter() - started) / repeat)
    print(f"\nPart 2: cost per claim by lines per claim (medians of {rounds} rounds)")
    print(f"{'backend':8} {'lines':>5} {'per claim':>11} {'per line':>10}")
    for backend, n in _keys(backends, sizes):
        median = statistics.median(times[(backend, n)])
        print(f"{backend:8} {n:5d} {median * 1e6:9.0f}µs {median / n * 1e6:8.0f}µs")


def _keys(backends: list[str], sizes: tuple[int, ...]) -> list[tuple[str, int]]:
    return [(b, n) for b in backends for n in sizes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help="run one case of part 1 only")
    parser.add_argument("--backend", action="append", choices=["python", "durable"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--part", type=int, choices=[1, 2])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    backends = args.backend or ["python", "durable"]
    if args.child:
        child(args.child, backends[0])
        return
    if args.part in (None, 1):
        part1(backends, args.case)
    if args.part in (None, 2):
        part2(backends, args.rounds)


if __name__ == "__main__":
    main()
