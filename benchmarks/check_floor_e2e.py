"""Proof that the end-to-end floor (``benchmarks/floor_e2e.py``) reads claims as the engine does.

``floor_e2e.structure`` is hand-written validation; a floor that accepted less, or more, than
the engine would make every end-to-end ratio meaningless. For each input this script runs
``Engine(["core", "j7632"]).evaluate(data)`` and ``floor_e2e.check(data)`` and requires:

- the same decision: both refuse (the engine with a ``ClaimError``, the floor with ``Refused``;
  any other exception of the floor is a difference), or both answer;
- when both answer: the floor's ``Claim`` is the engine's, value for value and digit for digit
  (compared by ``repr``, so ``Decimal("2.50")`` is not ``Decimal("2.5")``), and the floor's
  ``Result`` agrees with the engine's as ``check_floor.py`` compares them.

JSON text is checked too: ``floor_e2e.check_json(text)`` against the project's reader
(``hcpcs_rules.reader.read_stream``) then ``Engine.evaluate``, on the valid and mutated claims as
JSON and on texts with duplicate keys, floats, huge integers and deep nesting.

The inputs: every rule's example claims; the bundled examples; claimgen's claims (a few invalid
on purpose); Hypothesis draws of ``claim_json``, ``mutated_claims`` (a value replaced by
arbitrary JSON), ``hostile_claims`` (subclasses whose methods raise, odd keys, values past the
limits) and ``disguised_claims``; the examples mutated with edge values (``check_floor.py``'s
mutations). ``python benchmarks/check_floor_e2e.py [--claims N] [--hypothesis N]``; exits 1 on
any difference.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import io
import json
import random
import sys
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import check_floor  # sibling scripts: python puts benchmarks/ on the path when run as one
import floor_e2e
from hcpcs_rules import ClaimError, Engine
from hcpcs_rules.limits import DEFAULT_LIMITS
from hcpcs_rules.reader import read_stream


def engine_for_floor() -> Engine:
    """The engine the floor transcribes, checked to be the one it was written for."""
    engine = Engine(check_floor.SHIPPED, backend="python")
    if engine.payers != floor_e2e.PAYERS:
        raise SystemExit(f"the floor's PAYERS are not the engine's: {sorted(engine.payers)}")
    if engine.program.extensions or engine.limits != DEFAULT_LIMITS:
        raise SystemExit("the floor reads no extension fields under the default limits")
    return engine


class Outcome:
    """One input's comparison."""

    def __init__(self) -> None:
        self.inputs = 0
        self.accepted = 0  # by both
        self.refused = 0  # by both
        self.diffs: list[tuple[str, list[str]]] = []


def _described(data: Any) -> str:
    try:
        text = repr(data)
    except Exception:
        text = f"<{type(data).__name__}>"
    return text if len(text) <= 300 else text[:300] + "..."


def compare(engine: Engine, inputs: Iterable[Any], *, as_json: bool = False) -> Outcome:
    """Run both on every input (data, or JSON text when ``as_json``) and collect differences."""
    check = check_floor.FloorCheck(engine.program)
    out = Outcome()
    for data in inputs:
        out.inputs += 1
        engine_claim = engine_result = floor_claim = floor_result = None
        engine_refused = floor_refused = False
        floor_crash = None
        try:
            if as_json:
                (record,) = read_stream(io.BytesIO(data.encode()), "<text>")
                if record.problem is not None:
                    raise ClaimError([("$", str(record.problem))])
                decoded = record.claim
            else:
                decoded = data
            engine_claim = engine.parse_claim(decoded)
            engine_result = engine.evaluate(engine_claim)
        except ClaimError:
            engine_refused = True
        try:
            if as_json:
                floor_claim = floor_e2e.structure(floor_e2e.loads(data))
            else:
                floor_claim = floor_e2e.structure(data)
            floor_result = floor_e2e.floor.check(floor_claim)
        except floor_e2e.Refused:
            floor_refused = True
        except Exception as exc:
            floor_crash = f"{type(exc).__name__}: {exc}"
        problems: list[str] = []
        if floor_crash is not None:
            problems.append(f"the floor crashed: {floor_crash}")
        elif engine_refused != floor_refused:
            who = "engine" if engine_refused else "floor"
            problems.append(f"only the {who} refused it")
        elif engine_refused:
            out.refused += 1
        else:
            out.accepted += 1
            if repr(floor_claim) != repr(engine_claim):
                problems.append(
                    f"claims differ:\n    engine {engine_claim!r}\n    floor  {floor_claim!r}"
                )
            else:
                problems += check.problems(engine_claim, engine_result, floor_result)
        if problems:
            shown = data if as_json else _described(data)
            out.diffs.append((str(shown)[:300], problems))
    return out


def json_texts(data: Iterable[Any]) -> list[str]:
    """The plain inputs as JSON (those JSON can carry), and texts aimed at the decoder."""
    texts = []
    for item in data:
        try:
            texts.append(json.dumps(check_floor._plain(item)))
        except (TypeError, ValueError):
            continue
    base = texts[0] if texts else '{"id": "X"}'
    texts += [
        base[:-1] + ', "payer": "aetna"}',  # a duplicate key: refused by both
        base.replace('"units": "', '"units": 1', 1).replace("1", "1.5", 1),
        '{"id": "J", "payer": "medicare", "supplier": {"npi": "1234567893"}, '
        '"lines": [{"hcpcs": "J7632", "units": ' + "9" * 5000 + "}]}",
        '{"id": "J", "payer": "medicare", "supplier": {"npi": "1234567893"}, '
        '"lines": [{"hcpcs": "J7632", "units": 240.0}]}',
        '{"id": "J", "payer": "medicare", "supplier": {"npi": "1234567893"}, '
        '"lines": [{"hcpcs": "J7632", "units": "240", "units": "240"}]}',
        '{"id": "J", "payer": "medicare", "supplier": {"npi": "1234567893"}, '
        '"lines": [{"hcpcs": "J7632", "units": 240}]}',
        '{"id": "J", "payer": "medicare", "supplier": {"npi": "1234567893"}, '
        '"lines": [{"hcpcs": "J7632", "units": NaN}]}',
        "[" * 100 + "]" * 100,
        '{"id": ' + "[" * 70 + "]" * 70 + "}",
        "not json",
    ]
    return texts


# Values at the claim boundary's edges, per field path (None removes the key): each is accepted
# or refused by a different check of the reader, and the floor must decide the same.
_BOUNDARY: list[tuple[str, list[Any]]] = [
    ("id", ["", "   ", "\u2003", "X" * 10_000, "X" * 10_001, 7, None]),
    ("payer", ["", " ", "commercial", "medicare_advantage", "Medicare", "humana", None, 1]),
    ("line_of_business", ["commercial", "medicare_advantage", "medicare", None, ""]),
    ("date_of_service", ["2026-02-29", "2024-02-29", "2026-3-2", "20260302", "2026-W09-1"]),
    ("date_of_service", ["２０２６-03-02", dt.date(2026, 3, 2), dt.datetime(2026, 3, 2), 20260302]),
    ("diagnoses", [["J45.40"] * 12, ["J45.40"] * 13, "J45.40", [1], (), ("J45.40",)]),
    ("extensions", [{}, None, {"x": 1}, {"x": None}, []]),
    ("unknown_key", ["x"]),
    ("supplier.npi", [1234567893, None, ""]),
    ("supplier.enrollments", [[{"payer": "", "status": "active", "effective": "2020-01-01"}]]),
    ("supplier.enrollments", [[{"payer": "medicare", "status": " ", "effective": "2020-01-01"}]]),
    ("supplier.enrollments", [[{"payer": "medicare", "status": "active"}], [{}], {}]),
    ("supplier.pharmacy_license", [{"state": ""}, {"state": "PA", "status": "licenced"}]),
    ("supplier.pharmacy_license", [{"state": "PA", "status": None}, {"state": "PA", "x": 1}]),
    ("supplier.surety_bond", [{"amount": "-1"}, {"amount": 0}, {"amount": "1e3"}]),
    ("supplier.accreditation", [{"status": "Accredited"}, {"status": None}, {}]),
    ("lines", [[], "x", None, [{"hcpcs": "J7632", "units": "1"}] * 50]),
    ("lines", [[{"hcpcs": "J7632", "units": "1"}] * 51]),
    ("lines[0].units", ["-0", "-0.0", "+5", " 240 ", "240.", ".5", "1e3", "0x10", "", "-", "."]),
    ("lines[0].units", ["999999999999", "1000000000000", "0.000001", "0.0000001", "1.0000000"]),
    ("lines[0].units", ["00240", "-00.50", "240\n", "\t1", "٢٤٠", 240, -1, 10**12, True]),
    ("lines[0].units", [Decimal("240"), Decimal("2.50"), Decimal("-0"), Decimal("1E+3")]),
    ("lines[0].units", [Decimal("NaN"), Decimal("1E-7"), Decimal("1." + "0" * 50), 2.5]),
    ("lines[0].units", ["1" * 40, "0" * 41, "0." + "0" * 38 + "1", "0." + "0" * 37 + "1"]),
    ("lines[0].charge", ["0", "-12.5", None, "12.345678"]),
    ("lines[0].days_supply", [0, -1, 1_000_000, 1_000_001, "30", True, None]),
    ("lines[0].modifiers", [None, ["KO"] * 100, ["KO"] * 101, [1], "KO"]),
    ("lines[0].diagnosis_pointers", [[1, 2, 3, 4], [1] * 5, [-1], [10**6 + 1], [True], None]),
    ("lines[0].attachments", [["note"], [None], None, ("other",)]),
    ("lines[0].dispensed", [{"quantity": "0", "unit": "mg"}, {"quantity": "1", "unit": "ML"}]),
    ("lines[0].dispensed", [{"quantity": "1", "unit": "mg", "concentration_mg_per_ml": "1"}]),
    ("lines[0].dispensed", [{"quantity": "1", "unit": "mL", "concentration_mg_per_ml": "0"}]),
    ("lines[0].dispensed", [{"quantity": 5, "unit": "g"}, {"unit": "mg"}, {"quantity": "1"}]),
    (
        "lines[0].order",
        [{"dose_mg": "20", "times_per_day": 0}, {"dose_mg": "0", "times_per_day": 1}],
    ),
    ("lines[0].compound", [{"bulk_ingredients": "yes"}, {"bulk_ingredients": None}, {"x": True}]),
    ("lines[0].ordering_provider", [{"npi": "1234567893"}, {"pecos_enrolled": True}, None]),
    ("lines[0].referring_provider", [{"npi": "1234567893", "pecos_enrolled": 1}]),
    ("lines[0].extensions", [{}, {"order_date": "2026-01-01"}, None]),
    ("lines[0].date_of_service_end", ["2026-03-31", "2026-13-01", "2000-01-01", None]),
    ("lines[0].date_of_service", ["2026-03-02", None]),
    ("lines[0].unit_basis", ["UN", "MJ", "XX", 1]),
    ("frequency", ["1", "8", "A", "11", None]),
    ("lines[0].prescription_number", ["RX1", ["RX1"]]),
]


def boundary_data(engine: Engine, count: int, seed: int = 13) -> list[Any]:
    """The example claims with 1 to 3 boundary values set (``_BOUNDARY``)."""
    rng = random.Random(seed)
    bases = [check_floor._plain(c) for c in check_floor.example_data(engine)]
    out = []
    for index in range(count):
        data = copy.deepcopy(rng.choice(bases))
        data["id"] = f"EDGE-{index}"
        for _ in range(rng.randint(1, 3)):
            path, values = rng.choice(_BOUNDARY)
            # A path through a value an earlier edit replaced (lines = "x") is left alone.
            with contextlib.suppress(TypeError, AttributeError, IndexError, KeyError):
                check_floor._set(data, path, rng.choice(values))
        out.append(data)
    return out


def input_sets(engine: Engine, claims: int, draws: int) -> dict[str, list[Any]]:
    from hcpcs_rules.testing import strategies

    examples = [check_floor._plain(c) for c in check_floor.example_data(engine)]
    return {
        "a. rule examples (dates as date objects)": check_floor.example_data(engine),
        "b. bundled examples": check_floor.bundled_data(),
        "c. claimgen (seeds 7, 8, 9)": check_floor.generated_data(claims),
        "d. hypothesis claim_json": check_floor.hypothesis_data(draws),
        "e. mutated examples (edge values)": check_floor.mutated_data(engine, claims),
        "f. hypothesis mutated_claims": check_floor.hypothesis_data(
            draws, strategies.mutated_claims()
        ),
        "g. hypothesis hostile_claims": check_floor.hypothesis_data(
            draws, strategies.hostile_claims()
        ),
        "h. hypothesis disguised_claims": [
            pair[1] for pair in check_floor.hypothesis_data(draws, strategies.disguised_claims())
        ],
        "i. examples with plain dates": examples,
        "k. examples with boundary values": boundary_data(engine, claims),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=5000, help="claimgen and mutated claims")
    parser.add_argument("--hypothesis", type=int, default=2000, help="draws per strategy")
    parser.add_argument("--show", type=int, default=5, help="differences to print per set")
    args = parser.parse_args(argv)
    engine = engine_for_floor()
    started = time.perf_counter()
    sets = input_sets(engine, args.claims, args.hypothesis)
    json_inputs = [
        *sets["b. bundled examples"],
        *sets["c. claimgen (seeds 7, 8, 9)"][:1000],
        *sets["e. mutated examples (edge values)"][:1000],
        *sets["f. hypothesis mutated_claims"],
        *sets["i. examples with plain dates"],
        *sets["k. examples with boundary values"],
    ]
    print("\n| inputs | given as | inputs | accepted by both | refused by both | differences |")
    print("|---|---|---:|---:|---:|---:|")
    failed = 0
    runs = [(name, data, False) for name, data in sets.items()]
    runs.append(
        ("j. JSON text (b, c, e, f, i, k; decoder edge cases)", json_texts(json_inputs), True)
    )
    for name, data, as_json in runs:
        result = compare(engine, copy.copy(data), as_json=as_json)
        given = "JSON text" if as_json else "data"
        print(
            f"| {name} | {given} | {result.inputs:,} | {result.accepted:,} | {result.refused:,} "
            f"| {len(result.diffs)} |"
        )
        for shown, problems in result.diffs[: args.show]:
            print("\n  ".join([f"input {shown}:", *problems]))
        failed += len(result.diffs)
    total = sum(len(d) for _, d, _ in runs)
    print(f"{total:,} inputs in {time.perf_counter() - started:.1f} s; {failed} differences")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
