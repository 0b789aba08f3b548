"""What the batch outputs and the progress bar cost (issue 12), measured side by side.

Three measurements, each interleaved (A, B, A, B...) so that other load on the machine hits both
sides alike; ratios are what to read, the seconds are this machine's:

1. **the reader's byte meter**: ``read_claims`` over a JSON Lines file and a JSON array, the
   reader as it was before the meter (from git, ``--before REV``) against the current one with a
   ``ReadMeter`` attached and read after every record (as the bar does);
2. **the progress bar**: ``Progress.advance`` per claim, drawn (to a fake terminal, no delay)
   and off, against the cost of evaluating one claim;
3. **the table formats**: ``hcpcs-rules check`` on the same claims with ``--format json`` (to
   /dev/null), ``csv`` and ``parquet`` (into a fresh folder), in subprocesses: wall time and
   peak resident memory (``ru_maxrss`` of the command's own process).

    python benchmarks/outputs.py                 # 20,000 claims
    python benchmarks/outputs.py --claims 200000 --rounds 3

Nothing is asserted; the numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hcpcs_rules import Engine  # noqa: E402
from hcpcs_rules.progress import Progress  # noqa: E402
from hcpcs_rules.reader import ReadMeter, read_claims  # noqa: E402


def example_claims() -> list[dict]:
    claims = [json.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))]
    for line in (ROOT / "examples" / "batch.jsonl").read_text().splitlines():
        if line.strip():
            claims.append(json.loads(line))
    return claims


def write_inputs(folder: Path, count: int) -> tuple[Path, Path]:
    claims = example_claims()
    jsonl, array = folder / "claims.jsonl", folder / "claims.json"
    with jsonl.open("w") as lines, array.open("w") as arr:
        arr.write("[\n")
        for n in range(count):
            text = json.dumps(dict(claims[n % len(claims)], id=f"BIG-{n}"))
            lines.write(text + "\n")
            arr.write(("" if n == 0 else ",\n") + text)
        arr.write("\n]\n")
    return jsonl, array


def reader_before(rev: str):
    """The reader module as it was at ``rev``, imported beside the current one."""
    source = subprocess.run(
        ["git", "show", f"{rev}:src/hcpcs_rules/reader.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("hcpcs_rules._reader_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "hcpcs_rules"
    exec(compile(source, "reader_before.py", "exec"), module.__dict__)
    return module


def time_reader(read, path: Path, metered: bool) -> float:
    start = time.perf_counter()
    if metered:
        meter = ReadMeter()
        total = 0
        for _ in read(str(path), meter=meter):
            total += meter.bytes_read  # read after every record, as the bar does at most
    else:
        for _ in read(str(path)):
            pass
    return time.perf_counter() - start


def section_reader(jsonl: Path, array: Path, rev: str, rounds: int) -> None:
    before = reader_before(rev)
    print(
        f"1. reader: before ({rev}), now without a meter, now with a meter read after every "
        f"record (median of {rounds}, interleaved)"
    )
    for path in (jsonl, array):
        runs: dict[str, list[float]] = {"before": [], "now": [], "metered": []}
        sides = [
            ("before", before.read_claims, False),
            ("now", read_claims, False),
            ("metered", read_claims, True),
        ]
        for round_ in range(rounds):
            # Each round in another order: whatever runs first or last gets no systematic edge.
            for name, read, metered in sides[round_ % 3 :] + sides[: round_ % 3]:
                runs[name].append(time_reader(read, path, metered))
        m = {name: statistics.median(times) for name, times in runs.items()}
        print(
            f"   {path.name:<13} {path.stat().st_size / 1e6:6.1f} MB  before {m['before']:6.3f} s"
            f"  now {m['now']:6.3f} s ({m['now'] / m['before']:.3f})"
            f"  metered {m['metered']:6.3f} s ({m['metered'] / m['before']:.3f})"
        )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def section_progress(claims: int) -> None:
    engine = Engine(["core", "j7632"])
    claim = example_claims()[0]
    start = time.perf_counter()
    for _ in range(2000):
        engine.evaluate(claim)
    per_claim = (time.perf_counter() - start) / 2000
    done = [0]
    timings = {}
    for name, enabled in (("off", False), ("drawn", True), ("off", False), ("drawn", True)):
        progress = Progress(
            _Terminal(), enabled=enabled, total_bytes=claims * 1000, position=lambda: done[0]
        )
        progress._bar is None or setattr(progress._bar, "delay", 0)
        start = time.perf_counter()
        for i in range(claims):
            done[0] = i * 1000
            progress.advance()
        timings.setdefault(name, []).append((time.perf_counter() - start) / claims)
        progress.close()
    off, drawn = min(timings["off"]), min(timings["drawn"])
    print(f"2. progress bar, per claim: off {off * 1e9:.0f} ns, drawn {drawn * 1e9:.0f} ns")
    print(
        f"   evaluating one example claim: {per_claim * 1e6:.0f} us, so the drawn bar adds "
        f"{drawn / per_claim:.2%}"
    )


_RUN = (
    "import resource, sys; from hcpcs_rules.cli import main; code = main(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def run_check(path: Path, fmt: str, folder: Path) -> tuple[float, float]:
    argv = [sys.executable, "-c", _RUN, "check", str(path), "--ruleset", "core"]
    argv += ["--ruleset", "j7632", "--format", fmt]
    if fmt != "json":
        argv += ["--output", str(folder), "--force"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"check --format {fmt} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed, int(done.stderr.split()[-1]) / 1024


def section_formats(jsonl: Path, folder: Path, rounds: int) -> None:
    formats = ["json", "csv"]
    if importlib.util.find_spec("pyarrow") is not None:
        formats.append("parquet")
    times: dict[str, list[float]] = {f: [] for f in formats}
    memory: dict[str, list[float]] = {f: [] for f in formats}
    for _ in range(rounds):
        for fmt in formats:
            elapsed, peak = run_check(jsonl, fmt, folder / fmt)
            times[fmt].append(elapsed)
            memory[fmt].append(peak)
    base = statistics.median(times["json"])
    print(f"3. check {jsonl.name} ({jsonl.stat().st_size / 1e6:.1f} MB), median of {rounds}")
    for fmt in formats:
        t = statistics.median(times[fmt])
        size = ""
        if fmt != "json":
            files = list((folder / fmt).iterdir())
            size = f"  tables {sum(f.stat().st_size for f in files) / 1e6:6.1f} MB"
        print(
            f"   --format {fmt:<8} {t:6.2f} s  ratio to json {t / base:.3f}  "
            f"peak RSS {max(memory[fmt]):6.0f} MB{size}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default="HEAD~1", help="git revision of the old reader")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jsonl, array = write_inputs(folder, args.claims)
        section_reader(jsonl, array, args.before, max(args.rounds, 5))
        section_progress(args.claims)
        section_formats(jsonl, folder, args.rounds)


if __name__ == "__main__":
    main()
