"""What hostile rulesets cost: ``python benchmarks/hostile_rulesets.py [--case NAME] [--backend B]``.

Each case of issue 8's "Rulesets" list is a ruleset file (next to ``core``) that once crashed the
compiler, ran code, or ran in exponential time. Every case runs in a fresh subprocess per backend:
the child writes the file, resets its peak-RSS mark (``/proc/self/clear_refs``), builds an Engine
with its examples, evaluates the example claim once if the build succeeded, and reports the
outcome (built, or the RulesetError's first problem), the build and evaluation times and the peak
RSS (``VmHWM``). The budget is 1 s and 300 MB per case; the table marks anything over it. Nothing
is asserted: tests/test_ruleset_limits.py and tests/test_ruleset_injection.py pin the outcomes,
this script measures what they cost. Build cost by ruleset size is benchmarks/build_cost.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from hcpcs_rules.testing.rulesets import HEADER, rule  # the same rule the tests build

BUDGET_SECONDS = 1.0
BUDGET_MB = 300

MARKER = "hostile-rulesets-marker"
PAYLOAD = f"\n        __import__('pathlib').Path({MARKER!r}).touch() #"

CASES = {
    "plain rule (reference)": lambda: rule(),
    "code in a scope item": lambda: rule(scope=json.dumps(["medicare", PAYLOAD])),
    "code in a message": lambda: rule(
        message=json.dumps("x'''\"\"\" " + PAYLOAD + " {line.units}")
    ),
    "ESC in a title": lambda: rule(title=json.dumps("\x1b[2Jclean")),
    'matches(line.note, "(")': lambda: rule('matches(line.note, "(")'),
    'matches(line.note, "(a+)+$")': lambda: rule(
        'line.units > 100 and not matches(line.note, "(a+)+$")'
    ),
    "a 5,000-digit literal": lambda: rule("line.units > " + "9" * 5000),
    "a 250-deep not chain": lambda: rule("not " * 250 + "line.units > 100"),
    "a 300-term sum": lambda: rule(" + ".join(["line.units"] * 300) + " > 100"),
    "a 5,000-deep not chain": lambda: rule("not " * 5000 + "line.units > 100"),
    "5,000 nested parentheses": lambda: rule("(" * 5000 + "line.units > 100" + ")" * 5000),
    "arithmetic past 60 digits": lambda: rule(
        "line.units * " + "9" * 36 + " * " + "9" * 36 + " > 1"
    ),
    "TOML nested 400 deep": lambda: rule(notes="[" * 400 + "]" * 400),
    "a 100 MB condition": lambda: rule("line.units > 1 and " * 5_000_000 + "True"),
}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(name: str, backend: str) -> None:
    from hcpcs_rules import Engine, RulesetError

    folder = Path(tempfile.mkdtemp())
    path = folder / "hostile.toml"
    path.write_text(textwrap.dedent(HEADER) + CASES[name](), encoding="utf-8")
    before_mb = _status_kb("VmRSS") / 1024
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    started = time.perf_counter()
    evaluate_ms = None
    try:
        engine = Engine(["core", path], backend=backend)
    except RulesetError as exc:
        outcome = "RulesetError: " + exc.problems[0].message.splitlines()[0][:70]
    else:
        build_done = time.perf_counter()
        claim = engine.program.rules[-1].examples[0].claim
        engine.evaluate(claim)
        evaluate_ms = (time.perf_counter() - build_done) * 1000
        outcome = "built"
    seconds = time.perf_counter() - started
    ran = (Path.cwd() / MARKER).exists() or (folder / MARKER).exists()
    print(
        json.dumps(
            {
                "outcome": outcome + (" -- CODE RAN" if ran else ""),
                "seconds": seconds,
                "evaluate_ms": evaluate_ms,
                "before_mb": before_mb,
                "peak_mb": _status_kb("VmHWM") / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--backend", action="append", choices=("python", "durable"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    backends = args.backend or ["python", "durable"]
    print("| case | backend | outcome | build + examples | one claim | peak RSS (before) |")
    print("|---|---|---|---:|---:|---:|")
    for name in [args.case] if args.case else list(CASES):
        for backend in backends:
            with tempfile.TemporaryDirectory() as work:
                done = subprocess.run(
                    [sys.executable, __file__, "--child", name, backend],
                    capture_output=True,
                    text=True,
                    cwd=work,
                    timeout=300,
                )
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["?"])[-1][:80]
                print(f"| {name} | {backend} | CRASHED ({done.returncode}): {tail} | | | |")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            over = r["seconds"] > BUDGET_SECONDS or r["peak_mb"] - r["before_mb"] > BUDGET_MB
            claim = "" if r["evaluate_ms"] is None else f"{r['evaluate_ms']:.2f} ms"
            print(
                f"| {name} | {backend} | {r['outcome']}{' **OVER BUDGET**' if over else ''} "
                f"| {r['seconds'] * 1000:.0f} ms | {claim} "
                f"| {r['peak_mb']:.0f} MB ({r['before_mb']:.0f}) |"
            )


if __name__ == "__main__":
    main()
