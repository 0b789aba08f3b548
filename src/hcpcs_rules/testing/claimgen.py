"""Deterministic streams of mixed claims for load-style tests (threads, memory, benchmarks).

Hypothesis is for properties; these tests need thousands of varied claims quickly and the same
ones on every run, so they come from a seeded ``random.Random`` over realistic pools, including
a share of invalid inputs that must raise ClaimError.
"""

from __future__ import annotations

import copy
import random
from typing import Any

PAYERS = ["medicare", "aetna", "bcbs", "cigna", "uhc"]
CODES = ["J7632", "J7632", "J7632", "J7631", "Q0513", "E0570", "A7003", "J7611", "99213"]
MODS = ["KO", "KP", "GA", "GZ", "KX", "22", "JW"]
POS = ["12", "12", "12", "01", "31", "32", "09", "21", "11", "30"]
NPIS = ["1234567893", "1993999998", "1234567890"]


def claim(rng: random.Random, index: int) -> dict[str, Any]:
    year = rng.choice([2006, 2007, 2011, 2014, 2016, 2017, 2026])
    dos = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    payer = rng.choice(PAYERS)
    lines = []
    for _ in range(rng.choice([1, 1, 2, 3, 5])):
        mg = rng.choice(["2400", "2405", "480", "7200", "10"])
        line: dict[str, Any] = {
            "hcpcs": rng.choice(CODES),
            "units": rng.choice(["240", "241", "250", "48", "720", "1", "0", "2.5"]),
            "modifiers": rng.sample(MODS, rng.randint(0, 3)),
            "place_of_service": rng.choice(POS),
            "diagnosis_pointers": rng.choice([[1], [1, 2], [], [3]]),
            "days_supply": rng.choice([30, 31, 90, 93]),
        }
        if rng.random() < 0.8:
            line["dispensed"] = rng.choice(
                [
                    {"quantity": mg, "unit": "mg"},
                    {"quantity": "240", "unit": "mL", "concentration_mg_per_ml": "10"},
                    {"quantity": "240", "unit": "mL"},
                    {"quantity": "2.4", "unit": "g"},
                ]
            )
        if rng.random() < 0.3:
            line["note"] = rng.choice(
                [
                    "",
                    "longer",
                    "the patient needed an extra hour of nebulizer teaching documented in the attached notes",
                ]
            )
        if rng.random() < 0.3:
            line["compound"] = {
                "bulk_ingredients": rng.random() < 0.5,
                "replicates_commercial_product": rng.random() < 0.5,
            }
        if rng.random() < 0.3:
            line["ndc"], line["ndc_quantity"], line["ndc_unit"] = "00172-6406-49", "240", "ML"
        lines.append(line)
    data: dict[str, Any] = {
        "id": f"LOAD-{index}",
        "payer": payer,
        "line_of_business": rng.choice(["commercial", "commercial", "medicare_advantage"]),
        "date_of_service": dos,
        "diagnoses": rng.choice([["J45.40"], ["J44.9", "E11.9"], ["Z00.00"]]),
        "supplier": {
            "npi": rng.choice(NPIS),
            "taxonomy": rng.choice(["3336C0004X", "332B00000X", "207Q00000X"]),
            "ptan": rng.choice(["AB1234", ""]),
            "enrollments": [
                {
                    "payer": payer,
                    "status": rng.choice(["active", "active", "terminated"]),
                    "effective": "2010-01-01",
                }
            ],
            "accreditation": {
                "status": rng.choice(["accredited", "exempt", "none"]),
                "expires": "2027-06-30",
            },
            "surety_bond": {"amount": rng.choice(["50000", "25000"]), "expires": "2027-01-31"},
            "pharmacy_license": {
                "state": "PA",
                "expires": rng.choice(["2027-12-31", "2015-01-01"]),
            },
        },
        "lines": lines,
    }
    if rng.random() < 0.7:
        data["ordering_provider"] = {"npi": rng.choice(NPIS), "pecos_enrolled": rng.random() < 0.8}
    if rng.random() < 0.2:
        data["patient"] = {
            "snf_part_a_stay": rng.random() < 0.5,
            "inpatient_stay": rng.random() < 0.5,
        }
    if rng.random() < 0.05:  # invalid inputs are part of the mix
        data = copy.deepcopy(data)
        data["lines"][0]["units"] = rng.choice([2.5, "sixty", None])
    return data


def claims(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [claim(rng, i) for i in range(count)]
