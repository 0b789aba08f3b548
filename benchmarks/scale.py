"""Checking a million claims: Spark ``local[2]`` vs ``evaluate_many(workers=2)`` vs one process.

Writes ``--claims`` synthetic claims (hcpcs_rules.testing.claimgen: realistic pools, about 5%
invalid) as JSON Lines into a temporary folder, then, each run in its own subprocess so that its
memory is its own:

- ``one``: the strict JSON Lines reader, ``Engine.evaluate`` and the table rows
  (:func:`hcpcs_rules.rows.rows_of`) in one process;
- ``many``: the same through ``evaluate_many(workers=2)`` (the parent reads and makes rows);
- ``spark``: ``spark.read.text`` then :func:`hcpcs_rules.spark.check_claims` on ``local[2]``,
  both tables written to Spark's ``noop`` sink (everything computed, nothing stored), with the
  combined output persisted as by default; ``spark-nocache`` (``--caching``) the same with
  ``persist=None``, so the claims are evaluated once per table.

Claims/s is claims over the wall time of the check alone (the engine's build and the Spark
session's start are printed apart). Peak memory is each process's high-water mark (``VmHWM`` in
``/proc/PID/status``), sampled every 0.5 s over the process tree: the driver, the JVM, and the
largest Python worker. ``--breakdown K`` times, in this process, each step the Spark partition
function takes per claim on K claims (and what mapInPandas or a nested output would add), so the
Spark wall time can be split into Python work and Spark's own.

    python benchmarks/scale.py                      # 1,000,000 claims, ~30 min on 2 cores
    python benchmarks/scale.py --claims 20000 --caching --breakdown 20000   # a quick look

Nothing is asserted (numbers vary with the machine and its load); the table goes to
docs/performance.md. Each run's full result (CPU seconds by kind of process too) is also written
to ``$TMPDIR/hcpcs_rules-scale/MODE.json``. Linux only (it reads /proc).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["core", "j7632"]


# ------------------------------------------------------------------------------ measuring


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


_TICKS = os.sysconf("SC_CLK_TCK")


def _peak_kb(pid: int) -> tuple[int, str, float] | None:
    """``(VmHWM in kB, command line, CPU seconds used so far)`` of a live process."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            status = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]), command, cpu
    return None


class PeakMemory:
    """Each process's high-water mark in this process's tree, by kind, sampled twice a second."""

    def __init__(self) -> None:
        self.peaks: dict[int, tuple[int, str]] = {}
        #: CPU seconds of each process when last seen (one that ends between two samples
        #: loses at most half a second of its time).
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for pid in [os.getpid(), *_descendants(os.getpid())]:
            found = _peak_kb(pid)
            if found is not None:
                old = self.peaks.get(pid, (0, ""))
                self.peaks[pid] = (max(old[0], found[0]), found[1])
                self.cpu[pid] = found[2]

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sample()
        self._stop.set()
        self._thread.join()

    def by_kind(self) -> dict[str, dict[str, float]]:
        kinds: dict[str, list[int]] = {}
        cpu: dict[str, float] = {}
        for pid, (kb, command) in self.peaks.items():
            if pid == os.getpid():
                kind = "driver"
            elif "java" in command.split(" ", 1)[0]:
                kind = "jvm"
            elif "python" in command and "resource_tracker" not in command:
                kind = "python worker"
            else:
                continue
            kinds.setdefault(kind, []).append(kb)
            cpu[kind] = cpu.get(kind, 0.0) + self.cpu.get(pid, 0.0)
        return {
            k: {"max_mb": max(v) / 1024, "processes": len(v), "cpu_s": cpu[k]}
            for k, v in kinds.items()
        }


# ------------------------------------------------------------------------------ the runs


def run_one(data: Path) -> dict:
    from hcpcs_rules import Engine
    from hcpcs_rules.engine import evaluate_outcome
    from hcpcs_rules.reader import read_claims
    from hcpcs_rules.rows import claim_row, rows_of

    started = time.perf_counter()
    engine = Engine(SHIPPED)
    build = time.perf_counter() - started
    claims = findings = 0
    started = time.perf_counter()
    for index, record in enumerate(read_claims(str(data))):
        if record.problem is not None:
            _, rows = claim_row(record.problem, record.location), []
        else:
            _, rows = rows_of(evaluate_outcome(engine, record.claim, False, index))
        claims += 1
        findings += len(rows)
    return {"seconds": time.perf_counter() - started, "setup": build, "claims": claims,
            "findings": findings}  # fmt: skip


def run_many(data: Path) -> dict:
    from hcpcs_rules import Engine, evaluate_many
    from hcpcs_rules.reader import read_claims
    from hcpcs_rules.rows import rows_of

    started = time.perf_counter()
    engine = Engine(SHIPPED)
    build = time.perf_counter() - started
    claims = findings = 0
    started = time.perf_counter()
    # Every line of the generated file is JSON: the records' claims go to the workers.
    decoded = (record.claim for record in read_claims(str(data)))
    for outcome in evaluate_many(decoded, workers=2, engine=engine):
        _, rows = rows_of(outcome)
        claims += 1
        findings += len(rows)
    return {"seconds": time.perf_counter() - started, "setup": build, "claims": claims,
            "findings": findings}  # fmt: skip


def run_spark(data: Path, persist: bool, mark: Any) -> dict:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from hcpcs_rules import Engine
    from hcpcs_rules.spark import DEFAULT_STORAGE, check_claims

    started = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    engine = Engine(SHIPPED)
    build = time.perf_counter() - started
    started = time.perf_counter()
    df = spark.read.text(str(data))
    tables = check_claims(df, "value", engine=engine, persist=DEFAULT_STORAGE if persist else None)
    tables.findings.write.format("noop").mode("overwrite").save()
    tables.claims.write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - started
    mark()  # the counts below evaluate every claim twice more without the cache: not counted
    claims, findings = tables.claims.count(), tables.findings.count()
    partitions = df.rdd.getNumPartitions()
    tables.unpersist()
    result = {"seconds": seconds, "setup": build, "claims": claims, "findings": findings,
              "partitions": partitions}  # fmt: skip
    return result


def child(mode: str, data: Path) -> None:
    with PeakMemory() as memory:
        memory._sample()
        before = sum(memory.cpu.values())
        marked: dict[int, float] = {}

        def mark() -> None:
            memory._sample()
            marked.update(memory.cpu)

        if mode == "one":
            result = run_one(data)
        elif mode == "many":
            result = run_many(data)
        else:
            result = run_spark(data, persist=mode == "spark", mark=mark)
        # Read before the session stops: the JVM and Python workers are still alive.
        memory._sample()
    if marked:
        memory.cpu = marked
    result["memory"] = memory.by_kind()
    # Setup (engine build, session start) included: CPU is what the machine spent, all told.
    result["cpu"] = sum(memory.cpu.values()) - before
    # Also kept where a later look can find it (the parent prints a summary only).
    saved = Path(tempfile.gettempdir()) / "hcpcs_rules-scale"
    saved.mkdir(exist_ok=True)
    (saved / f"{mode}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


# ------------------------------------------------------------------------------ breakdown


def breakdown(data: Path, count: int) -> dict[str, float]:
    """Microseconds per claim of each step of the partition function, on ``count`` claims in
    Arrow batches of 10,000 rows (Spark's default spark.sql.execution.arrow.maxRecordsPerBatch)."""
    import pickle

    import pyarrow as pa

    from hcpcs_rules import Engine
    from hcpcs_rules.engine import evaluate_outcome
    from hcpcs_rules.model import Result
    from hcpcs_rules.partition import _json_located, _Rows, output_schema
    from hcpcs_rules.reader import read_text
    from hcpcs_rules.rows import FINDING_COLUMNS, arrow_schema, claim_row, rows_of

    with open(data, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for _, line in zip(range(count), f, strict=False)]
    count = len(lines)
    engine = Engine(SHIPPED)
    schema = output_schema()
    claim_fields = [pa.field(n, t) for n, t in zip(schema.names, schema.types, strict=True)]
    nested = pa.schema(
        [
            *claim_fields,
            pa.field("finding_rows", pa.list_(pa.struct(arrow_schema(FINDING_COLUMNS)))),
        ]
    )
    steps = dict.fromkeys(
        ["arrow to text", "JSON decode", "evaluate", "table rows", "rows to Arrow (flat, kind)",
         "rows to Arrow (nested findings)", "pandas round trip (mapInPandas)",
         "pickle claims (evaluate_many)", "pickle outcomes (evaluate_many)"], 0.0)  # fmt: skip
    table = pa.table({"value": lines})
    # Without the cyclic collector: it runs on allocation counts, so it would be charged to
    # whichever step happens to trip it (and the steps allocate no cycles).
    gc.collect()
    gc.disable()
    for batch in table.to_batches(max_chunksize=10_000):
        t = time.perf_counter()
        cells = batch.column(0).to_pylist()
        steps["arrow to text"] += time.perf_counter() - t
        t = time.perf_counter()
        records = [read_text(cell, "cell") for cell in cells]
        steps["JSON decode"] += time.perf_counter() - t
        t = time.perf_counter()
        outcomes = [evaluate_outcome(engine, r.claim, False, i) for i, r in enumerate(records)]
        steps["evaluate"] += time.perf_counter() - t
        t = time.perf_counter()
        flat, grouped = [], []
        for outcome in outcomes:
            if isinstance(outcome, Result):
                row, rows = rows_of(outcome)
                rows = [_json_located(r) for r in rows]
            else:
                row, rows = claim_row(outcome), []
            flat.append({**row, "kind": "claim"})
            flat.extend({**r, "kind": "finding"} for r in rows)
            grouped.append({**row, "kind": "claim", "finding_rows": rows})
        steps["table rows"] += time.perf_counter() - t
        t = time.perf_counter()
        collected = _Rows()
        collected.rows = flat
        out = collected.batch(schema)
        steps["rows to Arrow (flat, kind)"] += time.perf_counter() - t
        t = time.perf_counter()
        pa.RecordBatch.from_pylist(grouped, schema=nested)
        steps["rows to Arrow (nested findings)"] += time.perf_counter() - t
        t = time.perf_counter()
        batch.to_pandas()
        pa.RecordBatch.from_pandas(out.to_pandas(), schema=schema, preserve_index=False)
        steps["pandas round trip (mapInPandas)"] += time.perf_counter() - t
        # What evaluate_many sends each way: both ends pay (dumps in one process, loads in
        # the other); the parent pays for the claims out and the outcomes back.
        t = time.perf_counter()
        claims = [r.claim for r in records]
        pickle.loads(pickle.dumps(claims, pickle.HIGHEST_PROTOCOL))
        steps["pickle claims (evaluate_many)"] += time.perf_counter() - t
        t = time.perf_counter()
        pickle.loads(pickle.dumps(outcomes, pickle.HIGHEST_PROTOCOL))
        steps["pickle outcomes (evaluate_many)"] += time.perf_counter() - t
    gc.enable()
    return {name: seconds / count * 1e6 for name, seconds in steps.items()}


# ------------------------------------------------------------------------------ main


def write_claims(path: Path, count: int, seed: int) -> int:
    from hcpcs_rules.testing.claimgen import claim

    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(count):  # one at a time: a million claims never sit in memory
            f.write(json.dumps(claim(rng, i)) + "\n")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--modes", default="one,many,spark", help="comma-separated runs, in order")
    parser.add_argument(
        "--caching", action="store_true", help="also run spark-nocache (persist=None)"
    )
    parser.add_argument("--breakdown", type=int, default=0, metavar="K")
    parser.add_argument("--data", type=Path, help="reuse this JSON Lines file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data)
        return
    with tempfile.TemporaryDirectory() as folder:
        data = args.data or Path(folder) / "claims.jsonl"
        if args.data is None:
            started = time.perf_counter()
            size = write_claims(data, args.claims, args.seed)
            print(
                f"{args.claims:,} claims, {size / 1e6:,.0f} MB of JSON Lines "
                f"({time.perf_counter() - started:.0f} s to generate)",
                flush=True,
            )
        if args.breakdown:
            print(f"\nper claim, in one process, on {args.breakdown:,} claims (µs):")
            for name, micros in breakdown(data, args.breakdown).items():
                print(f"  {name:42s} {micros:8.1f}")
        modes = args.modes.split(",") + (["spark-nocache"] if args.caching else [])
        results = {}
        for mode in modes:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
            done = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--data", str(data)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if done.returncode != 0:
                print(f"{mode}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
                continue
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            r = results[mode]
            print(
                f"{mode}: {r['claims']:,} claims, {r['findings']:,} findings in "
                f"{r['seconds']:.1f} s (+{r['setup']:.1f} s setup): "
                f"{r['claims'] / r['seconds']:,.0f} claims/s, "
                f"{r.get('cpu', 0) / r['claims'] * 1e6:,.0f} µs CPU/claim (all processes); memory "
                + ", ".join(
                    f"{k} {v['max_mb']:.0f} MB (x{v['processes']}, "
                    f"{v.get('cpu_s', 0) / r['claims'] * 1e6:,.0f} µs CPU/claim)"
                    for k, v in r["memory"].items()
                ),
                flush=True,
            )
        if "one" in results:
            base = results["one"]["claims"] / results["one"]["seconds"]
            print("\nclaims/s relative to one process:")
            for mode, r in results.items():
                print(f"  {mode:14s} {r['claims'] / r['seconds'] / base:5.2f}x")


if __name__ == "__main__":
    main()
