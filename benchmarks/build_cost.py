"""Engine build cost by ruleset size: is it linear in rules plus examples?

Generates a ruleset of N rules (on top of ``core``), each with a condition, an example that
fires it and a near miss, and times building an Engine without the example check, then the
example check on that engine (what ``check_examples=True`` adds). Prints the cost per rule and
per example and how the per-example cost moves with N: for a linear build both stay flat.

    python benchmarks/build_cost.py                       # python backend, 500 / 1,000 / 3,000 rules
    python benchmarks/build_cost.py --shape coded         # each rule on its own HCPCS code
    python benchmarks/build_cost.py --backend durable --sizes 100 200 400
    python benchmarks/build_cost.py --sizes 500 1000 3000 10000

The durable backend refuses rulesets that would overflow durable_rules' fixed tables (see
docs/durable.md); with one code per rule it runs up to about 500 such rules.
Times are medians of ``--repeat`` builds; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

HEADER = """\
[ruleset]
name = "bulk"
version = "1.0.0"
requires = ["core"]

[claims.base]
id = "B"
payer = "medicare"
date_of_service = 2026-03-02
place_of_service = "12"
diagnoses = ["J45.40"]
supplier = { npi = "1234567893" }
lines = [{ hcpcs = "J7632", units = "240", diagnosis_pointers = [1] }]
"""

RULE = """
[[rule]]
id = "BULK-{i:05d}"
title = "Bulk rule {i}"
{codes}{scope}severity = "warn"
when = "line.units > {threshold}"
message = "Billed {{line.units}} units of {code}."
source = "Generated for benchmarks/build_cost.py"
[[rule.example]]
name = "fires"
base = "base"
set = {{ "line[1].hcpcs" = "{code}", "line[1].units" = "{over}" }}
fires = true
[[rule.example]]
name = "near miss"
base = "base"
set = {{ "line[1].hcpcs" = "{code}", "line[1].units" = "{threshold}" }}
fires = false
"""


def code_of(i: int) -> str:
    # Valid HCPCS Level II shapes, one per rule: A0000..V9999 (220,000 of them).
    letters = string.ascii_uppercase[: string.ascii_uppercase.index("V") + 1]
    return f"{letters[i // 10_000]}{i % 10_000:04d}"


def ruleset(n: int, shape: str) -> str:
    """``shape`` "coded": each rule has its own HCPCS code (``codes``), so an example claim only
    reaches its own rule through the code index; "open": no ``codes``, so every rule tests every
    example's line (the worst case when each example runs the whole program)."""
    parts = [HEADER]
    for i in range(n):
        threshold = 1 + i % 50
        scope = 'scope = ["medicare", "medicare_advantage"]\n' if i % 2 else ""
        code = code_of(i)
        codes = f'codes = ["{code}"]\n' if shape == "coded" else ""
        parts.append(
            RULE.format(
                i=i, code=code, codes=codes, scope=scope, threshold=threshold, over=threshold + 1
            )
        )
    return "".join(parts)


def build_time(path: Path, backend: str, repeat: int) -> tuple[float, float]:
    """Medians of (build without examples, checking the examples on that engine)."""
    from hcpcs_rules import Engine
    from hcpcs_rules.engine import check_examples_of

    builds, checks = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        engine = Engine(["core", path], backend=backend, check_examples=False)
        built = time.perf_counter()
        check_examples_of(engine)  # exactly what Engine(check_examples=True) adds
        checks.append(time.perf_counter() - built)
        builds.append(built - start)
        engine.close()
    return statistics.median(builds), statistics.median(checks)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="python")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 3000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shape", choices=["open", "coded"], default="open")
    args = parser.parse_args(argv)

    from hcpcs_rules import Engine

    Engine(["core"], backend=args.backend)  # warm-up: imports, core compiled once
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"bulk{n}.toml"
            path.write_text(ruleset(n, args.shape), encoding="utf-8")
            bare, check = build_time(path, args.backend, args.repeat)
            rows.append((n, bare, check))
    examples = 2  # per generated rule
    print(
        f"backend {args.backend}, shape {args.shape}, Python {sys.version.split()[0]}, median of {args.repeat}"
    )
    print()
    print(
        "| rules | examples | build without examples | checking the examples | ms per rule (build) | ms per example (check) | per-example cost vs the smallest |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    base_rate = None
    for n, bare, check in rows:
        per_rule = bare / n * 1000
        per_example = check / (n * examples) * 1000
        base_rate = base_rate or per_example
        print(
            f"| {n:,} | {n * examples:,} | {bare:.2f} s | {check:.2f} s | {per_rule:.2f} | {per_example:.3f} | {per_example / base_rate:.2f}x |"
        )


if __name__ == "__main__":
    main()
