"""Reading 837P against reading JSON, per claim and in memory: ``python benchmarks/x12_read.py``.

Reports, for the same claims written as JSON Lines and as one 837P (with its directory and
sidecar): claims per second of (1) splitting the 837P into segments, (2) pyx12's raw segment
reader when it is installed, (3) reading 837P claims into the contract, (4) reading the JSON
Lines claims into the contract, and (5, 6) both end to end through ``Engine.evaluate`` (python
backend); then ratios 837P/JSON of the cost per claim. Memory: the peak RSS of a child process
reading an 837P of ``--mb`` megabytes (default 100) against one of a tenth of that size: bounded
streaming keeps the ratio near 1. Medians of 5 rounds; nothing is asserted.

    python benchmarks/x12_read.py [--claims 3000] [--mb 100]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs

import check_floor  # a sibling script: python puts benchmarks/ on the path when run as one
from hcpcs_rules import Engine
from hcpcs_rules.claims import unstructure_claim
from hcpcs_rules.reader import read_claims
from hcpcs_rules.x12 import (
    X12Claim,
    check_837p,
    load_directory,
    load_sidecar,
    read_837p,
    reference_data,
    tokenize,
    write_837p,
)


def median_rate(function: Callable[[], object], count: int, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    times.sort()
    return count / times[len(times) // 2]


def writable(count: int) -> list:
    """Generated claims an 837P can carry, each with its own supplier and ordering NPI (the
    directory holds one entry per NPI)."""
    out = []
    for index, claim in enumerate(check_floor.generated_claims(count * 2)):
        lines = tuple(
            line if line.charge is not None else attrs.evolve(line, charge=10)
            for line in claim.lines
        )
        claim = attrs.evolve(
            claim,
            id=f"B{index}",
            lines=lines,
            place_of_service=claim.place_of_service or lines[0].place_of_service or "12",
            supplier=attrs.evolve(claim.supplier, npi=f"N{index}"),
            ordering_provider=claim.ordering_provider
            and attrs.evolve(claim.ordering_provider, npi=f"O{index}"),
        )
        try:
            write_837p([claim])
        except ValueError:
            continue
        out.append(claim)
        if len(out) == count:
            break
    return out


def child_peak(path: str) -> None:
    """Run in a child: read every claim of ``path`` (837 alone), print the peak RSS in KiB."""
    count = sum(1 for item in read_837p(path) if isinstance(item, X12Claim))
    print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def big_file(path: Path, megabytes: int, claims: list) -> int:
    """Write an 837P of about ``megabytes`` MB by repeating ``claims``' transaction body."""
    text = write_837p(claims)
    head, body, tail = text.partition("HL*1**20*1~\n")[0], "", ""
    start = text.index("HL*1**20*1~\n")
    end = text.index("SE*")
    body = text[start:end]
    tail = text[end:]
    repeats = max(1, megabytes * 1_000_000 // len(body))
    segments = body.count("~") * repeats + head.count("~") - 2  # from ST, with SE
    tail = f"SE*{segments}*0001~\n" + tail.split("\n", 1)[1]
    with path.open("w", encoding="ascii") as f:
        f.write(head)
        for _ in range(repeats):
            f.write(body)
        f.write(tail)
    return repeats * len(claims)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=3000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_peak(args.child)
        return
    claims = writable(args.claims)
    count = len(claims)
    x12 = write_837p(claims).encode()
    directory, sidecar = reference_data(claims)
    directory, sidecar = load_directory(directory), load_sidecar(sidecar)
    engine = Engine(check_floor.SHIPPED)
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "claims.jsonl"
        jsonl.write_text("".join(json.dumps(unstructure_claim(c)) + "\n" for c in claims))

        def read_json() -> None:
            for record in read_claims(str(jsonl)):
                engine.parse_claim(record.claim)

        def read_x12() -> None:
            for _ in read_837p(x12, parse=engine.parse_claim, directory=directory, sidecar=sidecar):
                pass

        def check_json() -> None:
            for record in read_claims(str(jsonl)):
                engine.evaluate(record.claim)

        def check_x12() -> None:
            for _ in check_837p(engine, x12, directory=directory, sidecar=sidecar)[1]:
                pass

        rates = {
            "837P segments (own tokenizer)": median_rate(
                lambda: sum(1 for _ in tokenize(io.BytesIO(x12))), count
            )
        }
        try:
            from pyx12.rawx12file import RawX12File

            text = x12.decode()
            rates["837P segments (pyx12 RawX12File)"] = median_rate(
                lambda: sum(1 for _ in RawX12File(io.StringIO(text))), count
            )
        except ImportError:
            pass
        rates["837P -> claims"] = median_rate(read_x12, count)
        rates["JSON Lines -> claims"] = median_rate(read_json, count)
        rates["837P end to end"] = median_rate(check_x12, count, rounds=3)
        rates["JSON Lines end to end"] = median_rate(check_json, count, rounds=3)
        print(f"{count} claims, {len(x12):,} bytes of 837P; claims per second (median):")
        for name, rate in rates.items():
            print(f"  {name:36} {rate:>10,.0f}")
        print("cost per claim, 837P / JSON:")
        reading = rates["JSON Lines -> claims"] / rates["837P -> claims"]
        whole = rates["JSON Lines end to end"] / rates["837P end to end"]
        print(f"  reading only {reading:.2f}x, end to end {whole:.2f}x")

        peaks = {}
        for mb in (max(1, args.mb // 10), args.mb):
            path = Path(tmp) / f"big{mb}.837"
            written = big_file(path, mb, claims[:50])
            run = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ},
            )
            read, peak = map(int, run.stdout.split())
            assert read == written, (read, written)
            peaks[mb] = peak
            print(
                f"  {path.stat().st_size / 1e6:6.0f} MB, {read:,} claims: peak RSS {peak / 1024:.0f} MiB"
            )
            path.unlink()
        small, large = sorted(peaks)
        print(f"peak RSS, {large} MB / {small} MB file: {peaks[large] / peaks[small]:.2f}x")


if __name__ == "__main__":
    main()
