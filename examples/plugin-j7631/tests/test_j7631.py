"""The J7631 plugin, tested as its team would: installed, found through its entry point."""

from __future__ import annotations

import copy
import math
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hcpcs_rules
from hcpcs_rules.testing import assert_examples_pass, available_backends

CLAIM = {
    "id": "J7631-WORKED",
    "payer": "medicare",
    "date_of_service": "2026-03-02",
    "place_of_service": "12",
    "diagnoses": ["J45.40"],
    "ordering_provider": {"npi": "1993999998", "pecos_enrolled": True},
    "supplier": {
        "npi": "1234567893",
        "taxonomy": "333600000X",
        "ptan": "AB1234",
        "enrollments": [{"payer": "medicare", "status": "active", "effective": "2005-01-01"}],
        "accreditation": {"status": "accredited", "expires": "2027-06-30"},
        "surety_bond": {"amount": "50000", "expires": "2027-01-31"},
        "pharmacy_license": {"state": "PA", "expires": "2027-12-31"},
    },
    "lines": [
        {
            "hcpcs": "J7631",
            "modifiers": ["KO"],
            "units": "240",
            "dispensed": {"quantity": "240", "unit": "mL", "concentration_mg_per_ml": "10"},
            "days_supply": 30,
            "ndc": "00172640649",
            "ndc_quantity": "240",
            "ndc_unit": "ML",
            "diagnosis_pointers": [1],
            "charge": "120.00",
        }
    ],
}

ENGINES = {b: hcpcs_rules.Engine(rulesets=["j7631"], backend=b) for b in available_backends()}


def ids(result: hcpcs_rules.Result) -> set[str]:
    return {f.rule_id for f in result.findings}


def test_the_entry_point_is_found_and_results_name_the_plugin():
    for engine in ENGINES.values():
        assert "j7631@0.1.0" in engine.rulesets
        assert "core" in {label.split("@")[0] for label in engine.rulesets}


def test_every_example_passes_on_every_backend():
    assert_examples_pass(["j7631"])


@pytest.mark.parametrize("backend", sorted(ENGINES))
def test_the_worked_example_is_clean(backend):
    result = ENGINES[backend].evaluate(CLAIM)
    assert ids(result) == set(), result.findings
    assert result.lines[0].expected_units is None or result.lines[0].expected_units == 240


@pytest.mark.parametrize("backend", sorted(ENGINES))
def test_kp_on_a_single_drug_code_is_rejected_for_medicare_only(backend):
    claim = copy.deepcopy(CLAIM)
    claim["lines"][0]["modifiers"] = ["KP"]
    assert "J7631-MULTIPLE-DRUG-MODIFIER" in ids(ENGINES[backend].evaluate(claim))
    claim["payer"] = "aetna"
    claim["supplier"]["enrollments"].append(
        {"payer": "aetna", "status": "active", "effective": "2005-01-01"}
    )
    assert "J7631-MULTIPLE-DRUG-MODIFIER" not in ids(ENGINES[backend].evaluate(claim))


@settings(max_examples=60, deadline=None)
@given(
    mg=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("20000"), places=3),
    billed=st.integers(min_value=1, max_value=3000),
)
def test_units_mismatch_fires_exactly_when_billed_units_are_not_mg_over_10_rounded_up(mg, billed):
    claim = copy.deepcopy(CLAIM)
    line = claim["lines"][0]
    line["dispensed"] = {"quantity": str(mg), "unit": "mg"}
    line["units"] = str(billed)
    expected = math.ceil(mg / 10)
    results = [engine.evaluate(claim) for engine in ENGINES.values()]
    for result in results:
        assert ("J7631-UNITS-MISMATCH" in ids(result)) == (billed != expected)
    assert len({tuple(sorted(ids(r))) for r in results}) == 1  # the backends agree


@pytest.mark.parametrize("backend", sorted(ENGINES))
def test_every_dispensing_fee_after_the_first_is_flagged_at_any_claim_size(backend):
    claim = copy.deepcopy(CLAIM)
    fee = {"hcpcs": "Q0513", "units": "1", "diagnosis_pointers": [1]}
    claim["lines"] += [dict(fee, hcpcs=code) for code in ("Q0513", "J7611", "Q0514", "G0333")]
    claim["lines"] += [dict(fee, hcpcs="J7611") for _ in range(40)]
    claim["lines"].append(dict(fee))  # line 46, after 40 other lines
    flagged = [
        (f.line, f.message)
        for f in ENGINES[backend].evaluate(claim).findings
        if f.rule_id == "J7631-MCR-DISPENSING-FEE-REPEATED"
    ]
    assert [line for line, _ in flagged] == [4, 5, 46]
    assert flagged[0][1].startswith("Q0514 is dispensing fee 2 of 4 on this claim")


POLICY = Path(__file__).parents[1] / "hcpcs-rules.toml"


@pytest.mark.parametrize("backend", sorted(ENGINES))
def test_the_example_policy_tunes_a_severity_and_maps_a_plan_code(backend):
    tuned = hcpcs_rules.Engine(rulesets=["j7631"], backend=backend, policy=POLICY)
    claim = copy.deepcopy(CLAIM)
    claim["lines"][0]["ndc"] = "42571-0132-52"  # the oral concentrate
    (finding,) = [
        f for f in tuned.evaluate(claim).findings if f.rule_id == "J7631-NDC-NOT-INHALATION"
    ]
    assert (finding.severity, finding.rule_severity) == ("reject", "warn")
    assert tuned.evaluate(claim).provenance.policy is not None
    plan = dict(copy.deepcopy(CLAIM), payer="HUM-MA-0042")
    plan["lines"][0]["modifiers"] = []
    with pytest.raises(hcpcs_rules.ClaimError, match="unknown payer"):
        ENGINES[backend].evaluate(plan)  # without the policy nobody knows the plan code
    (missing,) = [
        f for f in tuned.evaluate(plan).findings if f.rule_id == "J7631-UNIT-DOSE-MODIFIER-MISSING"
    ]
    assert missing.severity == "warn"  # the Medicare Advantage severity


@pytest.mark.parametrize("backend", sorted(ENGINES))
def test_the_refill_contact_date_is_an_extension_field_read_as_a_date(backend):
    claim = copy.deepcopy(CLAIM)
    claim["lines"][0]["date_of_service"] = "2023-06-21"
    claim["lines"][0]["extensions"] = {"refill_contact_date": "2023-06-01"}
    (finding,) = [
        f
        for f in ENGINES[backend].evaluate(claim).findings
        if f.rule_id == "J7631-MCR-REFILL-CONTACT-TOO-EARLY"
    ]
    assert "was 20 days before delivery" in finding.message
    claim["lines"][0]["extensions"] = {"refill_contact": "2023-06-01"}
    with pytest.raises(hcpcs_rules.ClaimError) as error:
        ENGINES[backend].evaluate(claim)
    assert "$.lines[0].extensions.refill_contact" in str(error.value)
    assert "refill_contact_date" in str(error.value)  # did you mean
