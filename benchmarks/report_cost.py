"""What ``hcpcs-rules report`` costs as its input grows: peak memory, time, and the page's size.

Checks the bundled examples and generated claims once, then writes their results out at two
sizes (``--small`` and ``--large`` claims, ids made unique) in both inputs the report reads:
JSON Lines (``check --format json``) and the two Parquet tables (``rows.arrow_schema``, as
``check --format parquet`` writes them). Runs the command on each in a subprocess, interleaved
over ``--rounds`` rounds, sampling its resident memory every 50 ms (Linux: ``/proc``)::

    python benchmarks/report_cost.py                       # 5,000 and 50,000 claims
    python benchmarks/report_cost.py --small 1000 --large 10000 --rounds 1

Prints medians, and the ratios large/small: memory and page size should stay flat (the
aggregator's state is bounded by its caps) while time grows with the input. Nothing is asserted;
the numbers go to docs/reports.md. Parquet needs pyarrow (the [parquet] extra).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cli_memory  # a sibling script: the RSS sampling
from hcpcs_rules import Engine, Result
from hcpcs_rules.batch import evaluate_many
from hcpcs_rules.rows import CLAIM_COLUMNS, FINDING_COLUMNS, arrow_schema, rows_of
from hcpcs_rules.testing import claimgen
from hcpcs_rules.x12.cli import with_json_paths

ROOT = Path(__file__).resolve().parents[1]


def base_outcomes(generated: int) -> list:
    claims = cli_memory.example_claims() + claimgen.claims(generated, seed=12)
    engine = Engine(["core", "j7632"])
    return list(evaluate_many(claims, engine=engine))


def _renamed(outcome, n: int):
    import attrs

    if isinstance(outcome, Result):
        return attrs.evolve(with_json_paths(outcome), claim_id=f"{outcome.claim_id}-{n}")
    return outcome


def write_jsonl(outcomes: list, count: int, path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            outcome = _renamed(outcomes[n % len(outcomes)], n)
            if isinstance(outcome, Result):
                record = outcome.to_dict()
            else:  # a refused claim, as check prints it
                record = {
                    "claim": f"claims.jsonl:{n + 1}",
                    "error": "invalid claim",
                    "errors": [list(e) for e in outcome.errors],
                }
            out.write(json.dumps(record) + "\n")


def write_parquet(outcomes: list, count: int, folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    writers = {
        "claims": pq.ParquetWriter(folder / "claims.parquet", arrow_schema(CLAIM_COLUMNS)),
        "findings": pq.ParquetWriter(folder / "findings.parquet", arrow_schema(FINDING_COLUMNS)),
    }
    claims, findings = [], []

    def flush() -> None:
        writers["claims"].write_table(
            pa.Table.from_pylist(claims, schema=arrow_schema(CLAIM_COLUMNS))
        )
        writers["findings"].write_table(
            pa.Table.from_pylist(findings, schema=arrow_schema(FINDING_COLUMNS))
        )
        claims.clear()
        findings.clear()

    for n in range(count):
        claim, found = rows_of(_renamed(outcomes[n % len(outcomes)], n), f"claims.jsonl:{n + 1}")
        claims.append(claim)
        findings.extend(found)
        if len(claims) >= 10_000:
            flush()
    flush()
    for writer in writers.values():
        writer.close()


def run(path: Path, out: Path) -> tuple[float, float]:
    """Peak RSS (MB, the command and its children) and wall seconds of one report."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    command = [sys.executable, "-m", "hcpcs_rules.cli", "report", str(path), "-o", str(out)]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    peak = 0.0
    while process.poll() is None:
        for pid in [process.pid, *cli_memory.children(process.pid)]:
            peak = max(peak, cli_memory.rss_mb(pid) or 0.0)
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"report failed on {path}: {process.stderr.read().decode()}")
    return peak, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=5_000)
    parser.add_argument("--large", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--generated", type=int, default=1_000, help="distinct generated claims")
    args = parser.parse_args(argv)
    outcomes = base_outcomes(args.generated)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = {}
        for label, count in (("small", args.small), ("large", args.large)):
            write_jsonl(outcomes, count, folder / f"{label}.jsonl")
            inputs[("jsonl", label)] = (folder / f"{label}.jsonl", count)
            try:
                write_parquet(outcomes, count, folder / f"{label}-parquet")
                inputs[("parquet", label)] = (folder / f"{label}-parquet", count)
            except ImportError:
                print("no pyarrow: Parquet skipped")
        measured: dict = {key: [] for key in inputs}
        order = list(inputs)
        for round_ in range(args.rounds):
            # Interleaved, with a rotating start: the machine's noise falls on every input alike.
            for key in order[round_ % len(order) :] + order[: round_ % len(order)]:
                path, _ = inputs[key]
                measured[key].append(run(path, folder / "report.html"))
                size = (folder / "report.html").stat().st_size
                measured[key][-1] = (*measured[key][-1], size)
        print(
            f"{'input':<8} {'claims':>8} {'input MB':>9} {'peak MB':>8} {'seconds':>8} "
            f"{'claims/s':>9} {'page KB':>8}"
        )
        summary = {}
        for (kind, label), rows in measured.items():
            path, count = inputs[(kind, label)]
            size_mb = (
                sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
                if path.is_dir()
                else path.stat().st_size
            ) / 1e6
            peak = statistics.median(r[0] for r in rows)
            seconds = statistics.median(r[1] for r in rows)
            page = statistics.median(r[2] for r in rows) / 1000
            summary[(kind, label)] = (peak, seconds, page)
            print(
                f"{kind:<8} {count:>8,} {size_mb:>9.0f} {peak:>8.0f} {seconds:>8.1f} "
                f"{count / seconds:>9,.0f} {page:>8.0f}"
            )
        for kind in ("jsonl", "parquet"):
            if (kind, "large") in summary:
                small, large = summary[(kind, "small")], summary[(kind, "large")]
                print(
                    f"{kind}: large/small = {args.large / args.small:.0f}x the claims: "
                    f"memory {large[0] / small[0]:.2f}x, time {large[1] / small[1]:.1f}x, "
                    f"page {large[2] / small[2]:.3f}x"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
