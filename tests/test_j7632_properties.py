"""Properties of the J7632 rules over generated claims (Hypothesis)."""

from __future__ import annotations

import copy
import json
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import BACKENDS
from hcpcs_rules.testing.strategies import claim_json, decimals

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLEAN = json.loads((EXAMPLES / "aetna-clean.json").read_text())


def oracle_units(quantity: Decimal, unit: str, concentration: Decimal | None) -> int:
    """Independent of the library: Fractions and math.ceil."""
    factor = {
        "mg": Fraction(1),
        "mcg": Fraction(1, 1000),
        "ug": Fraction(1, 1000),
        "g": Fraction(1000),
    }
    mg = Fraction(quantity) * (Fraction(concentration) if unit == "mL" else factor[unit])
    return math.ceil(mg / 10)


dispensed = st.one_of(
    st.tuples(decimals(1, 10000, 3), st.sampled_from(["mg", "mcg", "ug", "g"]), st.none()),
    st.tuples(decimals(1, 1000, 2), st.just("mL"), decimals("0.5", 40, 1)),
)


@pytest.mark.parametrize("backend", BACKENDS)
@given(dispensed, st.integers(1, 3000))
def test_units_mismatch_fires_exactly_when_billed_differs_from_the_rounded_up_units(
    engines, backend, amount, billed
):
    quantity, unit, concentration = amount
    claim = copy.deepcopy(CLEAN)
    line = claim["lines"][0]
    line["dispensed"] = {"quantity": format(quantity, "f"), "unit": unit}
    if concentration is not None:
        line["dispensed"]["concentration_mg_per_ml"] = format(concentration, "f")
    line["units"] = str(billed)
    result = engines(backend).evaluate(claim)
    expected = oracle_units(quantity, unit, concentration)
    fired = any(f.rule_id == "J7632-UNITS-MISMATCH" for f in result.findings)
    assert fired == (billed != expected)
    assert result.lines[0].expected_units == expected
    assert result.lines[0].dispensed_mg == Fraction(quantity) * (
        Fraction(concentration)
        if unit == "mL"
        else {"mg": 1, "mcg": Fraction(1, 1000), "ug": Fraction(1, 1000), "g": 1000}[unit]
    )


def _relabelled(result, order: list[int]) -> list[tuple]:
    """Findings with line numbers mapped back to the original positions."""
    return sorted(
        (f.rule_id, f.severity, None if f.line is None else order[f.line - 1] + 1, f.payer)
        for f in result.findings
    )


@given(claim_json(), st.randoms(use_true_random=False))
def test_reordering_lines_changes_no_finding_but_its_line_number(engines, data, rnd):
    engine = engines("python")
    order = list(range(len(data["lines"])))
    rnd.shuffle(order)
    shuffled = {**data, "lines": [data["lines"][i] for i in order]}
    before = engine.evaluate(data)
    after = engine.evaluate(shuffled)
    assert _relabelled(after, order) == _relabelled(before, list(range(len(order))))
    assert after.status == before.status


unrelated_lines = st.fixed_dictionaries(
    {
        "hcpcs": st.sampled_from(["A4216", "99213", "J1100", "A4217"]),
        "units": st.integers(1, 10).map(str),
        "date_of_service": st.just(CLEAN["date_of_service"]),
        "place_of_service": st.sampled_from(["12", "11"]),
        "diagnosis_pointers": st.just([1]),
    },
    optional={"modifiers": st.just(["59"]), "charge": st.just("12.00")},
)


@pytest.mark.parametrize("backend", BACKENDS)
@given(unrelated_lines, st.integers(0, 1))
def test_a_clean_claim_stays_clean_when_an_unrelated_line_is_added(
    engines, backend, extra, position
):
    engine = engines(backend)
    assert engine.evaluate(CLEAN).status == "clean"
    claim = copy.deepcopy(CLEAN)
    claim["lines"].insert(position, extra)
    result = engine.evaluate(claim)
    assert result.findings == () and result.status == "clean"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_bundled_examples_give_the_documented_outcomes(engines, backend):
    engine = engines(backend)
    outcomes = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        result = engine.evaluate(json.loads(path.read_text()))
        outcomes[path.stem] = (result.status, {f.rule_id for f in result.findings})
    assert outcomes["aetna-clean"] == ("clean", set())
    status, rules = outcomes["medicare-j7632-ga"]
    assert status == "deny" and "J7632-MCR-COMPOUNDED-NOT-COVERED" in rules
    assert "J7632-MCR-ABN-MODIFIER-MISSING" not in rules  # it carries GA
    status, rules = outcomes["bcbs-modifier-22"]
    assert {
        "J7632-MOD22-NOT-APPLICABLE",
        "J7632-MOD22-VAGUE-STATEMENT",
        "J7632-MOD22-NO-RECORDS",
    } <= rules
    status, rules = outcomes["cigna-lapsed-enrollment"]
    assert status == "deny" and "J7632-SUP-NOT-ENROLLED" in rules
    status, rules = outcomes["medicare-fee-and-nebulizer"]
    assert {"J7632-MCR-DISPENSING-FEE-NOT-PAYABLE", "J7632-MCR-EQUIPMENT-NOT-COVERED"} <= rules
