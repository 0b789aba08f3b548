"""Peak memory of ``hcpcs-rules check`` on large inputs, per process (issue 8: under 200 MB each).

Builds a JSON Lines file and a JSON array of about ``--size-mb`` MB each in a temporary folder
from the claims in ``examples/`` (ids made unique), runs the command on each in a subprocess,
serially and with ``--workers 2``, with ``--format json`` sent to /dev/null, and samples the
resident memory (``VmRSS`` in ``/proc/PID/status``) of the command and of every process below it
every 50 ms (the process tree is looked up again every second). Prints the peak of the parent and of the largest worker, per run::

    python benchmarks/cli_memory.py              # 200 MB inputs
    python benchmarks/cli_memory.py --size-mb 20 # a quick look

Linux only (it reads /proc). Nothing is asserted: the numbers go to docs/security.md.
Wall time is printed for information.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def example_claims() -> list[dict]:
    claims = [json.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))]
    for line in (ROOT / "examples" / "batch.jsonl").read_text().splitlines():
        if line.strip():
            claims.append(json.loads(line))
    return claims


def write_inputs(folder: Path, size_mb: int) -> tuple[Path, Path]:
    claims = example_claims()
    target = size_mb * 1024 * 1024
    jsonl, array = folder / "claims.jsonl", folder / "claims.json"
    written = 0
    with jsonl.open("w") as lines, array.open("w") as arr:
        arr.write("[\n")
        n = 0
        while written < target:
            claim = dict(claims[n % len(claims)], id=f"BIG-{n}")
            text = json.dumps(claim)
            lines.write(text + "\n")
            arr.write(("" if n == 0 else ",\n") + text)
            written += len(text) + 1
            n += 1
        arr.write("\n]\n")
    print(
        f"{n:,} claims, {jsonl.stat().st_size / 1e6:.0f} MB JSONL, {array.stat().st_size / 1e6:.0f} MB array"
    )
    return jsonl, array


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # The command name is in parentheses and may hold spaces: split after it.
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def measure(argv: list[str]) -> dict[str, float]:
    start = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        process = subprocess.Popen(argv, stdout=devnull, stderr=subprocess.PIPE)
        peaks: dict[int, float] = {}
        kinds: dict[int, str] = {process.pid: "parent"}
        tree = [process.pid]
        samples = 0
        while process.poll() is None:
            if (
                samples % 20 == 0
            ):  # walking all of /proc is costly: look for new processes now and then
                tree = [process.pid]
                for pid in tree:  # grows while walking: the whole tree below the command
                    tree.extend(children(pid))
            samples += 1
            for pid in tree:
                if pid not in kinds:
                    kinds[pid] = "tracker" if "resource_tracker" in cmdline(pid) else "worker"
                value = rss_mb(pid)
                if value is not None:
                    peaks[pid] = max(peaks.get(pid, 0.0), value)
            time.sleep(0.05)
        stderr = process.stderr.read().decode() if process.stderr else ""
    result = {
        "exit": process.returncode,
        "seconds": time.perf_counter() - start,
        "parent_mb": peaks.get(process.pid, 0.0),
        "worker_mb": max((v for p, v in peaks.items() if kinds.get(p) == "worker"), default=0.0),
        "workers_seen": sum(1 for k in kinds.values() if k == "worker"),
    }
    if stderr.strip():
        result["stderr"] = stderr.strip().splitlines()[-1]  # type: ignore[assignment]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        jsonl, array = write_inputs(Path(tmp), args.size_mb)
        for path in (jsonl, array):
            for workers in (1, 2):
                argv = [
                    sys.executable,
                    "-m",
                    "hcpcs_rules.cli",
                    "check",
                    str(path),
                    "--format",
                    "json",
                    "--workers",
                    str(workers),
                ]
                r = measure(argv)
                print(
                    f"{path.name:13} --workers {workers}: parent peak {r['parent_mb']:6.1f} MB, "
                    f"largest worker peak {r['worker_mb']:6.1f} MB ({r['workers_seen']} seen), "
                    f"exit {r['exit']}, {r['seconds']:.0f} s"
                    + (f"  [{r['stderr']}]" if "stderr" in r else "")
                )


if __name__ == "__main__":
    main()
