"""Regenerate this folder's 837P, directory and sidecar from the JSON examples one level up,
and the 277CA answering the 837P (checked with the shipped rulesets, dated 2026-03-03 09:30 so
the file does not change from run to run).

    python examples/x12/make.py

The same claims as JSON and as 837P give the same findings (tests/test_x12_read.py checks this
folder against a fresh run of this script, and the findings against the JSON files;
tests/test_x12_ack.py validates the 277CA with pyx12).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from hcpcs_rules import Engine, parse_claim
from hcpcs_rules.x12 import acknowledge, load_directory, load_sidecar, reference_data, write_837p

HERE = Path(__file__).resolve().parent
SOURCES = [
    "medicare-j7632-ga.json",
    "aetna-clean.json",
    "bcbs-modifier-22.json",
    "cigna-lapsed-enrollment.json",
    "medicare-fee-and-nebulizer.json",
]


# The JSON examples share one supplier NPI with different enrollments; the directory holds one
# entry per NPI, so each example gets its own (valid) billing NPI here.
NPIS = ["1234567893", "1245319599", "1003000126", "1497758544", "1609876549"]


def claims() -> list:
    out = []
    for name, npi in zip(SOURCES, NPIS, strict=True):
        data = json.loads((HERE.parent / name).read_text())
        data["supplier"]["npi"] = npi
        out.append(parse_claim(data))
    return out


def files() -> dict[str, str]:
    """File name -> content, as this script writes them."""
    every = claims()
    directory, sidecar = reference_data(every)
    x837 = write_837p(every, sender="EXAMPLESUPPLY", receiver="SCRUBBER")
    ack = acknowledge(
        Engine(),
        x837.encode("ascii"),
        directory=load_directory(directory),
        sidecar=load_sidecar(sidecar),
        now=dt.datetime(2026, 3, 3, 9, 30),
    )
    return {
        "claims.837": x837,
        "directory.json": json.dumps(directory, indent=2, sort_keys=True) + "\n",
        "sidecar.json": json.dumps(sidecar, indent=2, sort_keys=True) + "\n",
        "claims.277ca": ack,
    }


if __name__ == "__main__":
    for name, text in files().items():
        (HERE / name).write_text(text, encoding="ascii")
        print(f"wrote {HERE / name}")
