"""The claim parser: strict structuring, every problem with a JSON path, never another exception."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given

from hcpcs_rules import Claim, ClaimError, parse_claim
from hcpcs_rules.claims import unstructure_claim
from hcpcs_rules.model import LineResult
from hcpcs_rules.testing.strategies import claim_json, json_values, mutated_claims

GOOD = {
    "id": "CLM-0001",
    "payer": "medicare",
    "date_of_service": "2026-03-02",
    "place_of_service": "12",
    "diagnoses": ["J45.40"],
    "patient": {"snf_part_a_stay": False, "inpatient_stay": False},
    "supplier": {
        "npi": "1234567893",
        "taxonomy": "3336C0004X",
        "ptan": "AB1234",
        "enrollments": [
            {"payer": "medicare", "status": "active", "effective": "2019-01-01", "end": None}
        ],
        "accreditation": {"status": "accredited", "expires": "2027-06-30"},
        "surety_bond": {"amount": "50000", "expires": "2027-01-31"},
        "pharmacy_license": {"state": "PA", "expires": "2027-12-31"},
    },
    "ordering_provider": {"npi": "1993999998", "pecos_enrolled": True},
    "lines": [
        {
            "hcpcs": "J7632",
            "modifiers": ["KO", "GA"],
            "units": "240",
            "date_of_service": "2026-03-02",
            "place_of_service": "12",
            "dispensed": {"quantity": "2400", "unit": "mg"},
            "days_supply": 30,
            "order": {"dose_mg": "20", "times_per_day": 4},
            "ndc": "12345-6789-01",
            "ndc_quantity": "240",
            "ndc_unit": "ML",
            "diagnosis_pointers": [1],
            "charge": "480.00",
            "note": "free text",
            "attachments": ["clinical_notes"],
        }
    ],
}


def errors_of(data) -> list[tuple[str, str]]:
    with pytest.raises(ClaimError) as info:
        parse_claim(data)
    return list(info.value.errors)


def with_changes(**changes) -> dict:
    data = copy.deepcopy(GOOD)
    for path, value in changes.items():
        target = data
        *head, last = path.split("__")
        for step in head:
            target = target[int(step)] if step.isdigit() else target[step]
        if value is KeyError:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return data


def test_the_contract_example_parses_into_typed_values():
    claim = parse_claim(GOOD)
    assert isinstance(claim, Claim)
    line = claim.lines[0]
    assert line.units == Decimal("240") and isinstance(line.units, Decimal)
    assert line.dispensed.quantity == Decimal("2400")
    assert claim.date_of_service == dt.date(2026, 3, 2)
    assert claim.supplier.enrollments[0].end is None
    assert claim.line_of_business == "commercial"  # the contract's default


def test_a_claim_instance_is_accepted_as_is():
    claim = parse_claim(GOOD)
    assert parse_claim(claim) is claim


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"lines__0__units": "sixty"}, "$.lines[0].units", "not a decimal number: 'sixty'"),
        ({"lines__0__units": 2.5}, "$.lines[0].units", "is a float"),
        ({"lines__0__units": True}, "$.lines[0].units", "is a boolean"),
        ({"lines__0__units": "NaN"}, "$.lines[0].units", "not a decimal number"),
        ({"lines__0__charge": "1e3"}, "$.lines[0].charge", "not a decimal number"),
        ({"supplier__npi": 1234567893}, "$.supplier.npi", "not a string: 1234567893 is an integer"),
        ({"date_of_service": "03/02/2026"}, "$.date_of_service", "not an ISO date"),
        ({"date_of_service": "20260302"}, "$.date_of_service", "not an ISO date"),
        ({"date_of_service": "2026-02-30"}, "$.date_of_service", "not an ISO date"),
        ({"lines__0__unitz": "1"}, "$.lines[0].unitz", "unknown key (did you mean 'units'?)"),
        ({"lines__0__hcpcs": KeyError}, "$.lines[0].hcpcs", "required key is missing"),
        ({"supplier": KeyError}, "$.supplier", "required key is missing"),
        ({"lines": []}, "$.lines", "at least one line"),
        (
            {"lines__0__dispensed__quantity": "0"},
            "$.lines[0].dispensed.quantity",
            "greater than zero",
        ),
        (
            {"lines__0__dispensed__quantity": "-5"},
            "$.lines[0].dispensed.quantity",
            "greater than zero",
        ),
        (
            {
                "lines__0__dispensed": {
                    "quantity": "24",
                    "unit": "mL",
                    "concentration_mg_per_ml": "0",
                }
            },
            "$.lines[0].dispensed.concentration_mg_per_ml",
            "greater than zero",
        ),
        ({"lines__0__dispensed__unit": "kg"}, "$.lines[0].dispensed.unit", "not one of"),
        (
            {"lines__0__dispensed__concentration_mg_per_ml": "10"},
            "$.lines[0].dispensed.concentration_mg_per_ml",
            "only applies to unit 'mL'",
        ),
        ({"lines__0__modifiers": "KO"}, "$.lines[0].modifiers", "not a list"),
        ({"lines__0__days_supply": "30"}, "$.lines[0].days_supply", "not an integer"),
        ({"lines__0__days_supply": 0}, "$.lines[0].days_supply", "at least 1"),
        (
            {"lines__0__diagnosis_pointers": [True]},
            "$.lines[0].diagnosis_pointers[0]",
            "is a boolean",
        ),
        ({"lines__0__attachments": ["xray"]}, "$.lines[0].attachments[0]", "not one of"),
        ({"line_of_business": "medicaid"}, "$.line_of_business", "not one of"),
        ({"patient__inpatient_stay": "no"}, "$.patient.inpatient_stay", "not a boolean"),
        (
            {"supplier__accreditation__status": "yes"},
            "$.supplier.accreditation.status",
            "not one of",
        ),
        (
            {"supplier__enrollments__0__effective": None},
            "$.supplier.enrollments[0].effective",
            "not an ISO date",
        ),
        ({"id": ""}, "$.id", "must not be blank"),
        ({"lines__0": "J7632"}, "$.lines[0]", "not an object"),
        ({"lines__0__unit_basis": "XX"}, "$.lines[0].unit_basis", "not one of 'UN', 'MJ'"),
        ({"frequency": "original"}, "$.frequency", "not one of '0', '1'"),
        (
            {
                "lines__0__date_of_service": "2026-03-02",
                "lines__0__date_of_service_end": "2026-03-01",
            },
            "$.lines[0].date_of_service_end",
            "2026-03-01 is before the line's date_of_service 2026-03-02",
        ),
        (
            {"lines__0__date_of_service": None, "lines__0__date_of_service_end": "2026-03-09"},
            "$.lines[0].date_of_service_end",
            "a date range needs its first date on the line",
        ),
    ],
)
def test_bad_input_is_a_claim_error_with_a_json_path(change, path, fragment):
    problems = errors_of(with_changes(**change))
    assert any(p == path and fragment in m for p, m in problems), problems


@pytest.mark.parametrize("data", [None, [], "claim", 3, 2.5, b"{}", True])
def test_anything_that_is_not_a_mapping_is_a_claim_error(data):
    assert errors_of(data)[0][0] == "$"


def test_every_problem_is_reported_in_one_raise():
    data = with_changes(
        lines__0__units="sixty", supplier__npi=1234567893, date_of_service="x", extra=1
    )
    with pytest.raises(ClaimError) as info:
        parse_claim(data)
    paths = [p for p, _ in info.value.errors]
    assert paths == ["$.supplier.npi", "$.lines[0].units", "$.date_of_service", "$.extra"]
    text = str(info.value)
    assert "$.lines[0].units: not a decimal number: 'sixty'" in text
    assert text.startswith("invalid claim (4 problems):")
    assert isinstance(info.value, ValueError)


def test_wrong_facts_are_not_input_errors():
    """Invalid NPI, fractional units, unknown POS: the shape is fine, rules report them."""
    claim = parse_claim(
        with_changes(supplier__npi="0000000000", lines__0__units="2.5", place_of_service="XX")
    )
    assert claim.lines[0].units == Decimal("2.5")


def test_to_dict_is_json_ready():
    from hcpcs_rules.model import Finding, LineResult, Result

    result = Result(
        claim_id="C",
        status="reject",
        findings=(Finding(rule_id="R", severity="reject", line=1, message="m", source="s"),),
        lines=(
            LineResult(
                line=1,
                hcpcs="J7632",
                billed_units=Decimal("240"),
                dispensed_mg=Decimal("2400.0"),
                expected_units=240,
                status="reject",
            ),
        ),
        rulesets=("core@1.2.0",),
    )
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["lines"][0]["dispensed_mg"] == "2400"
    assert data["findings"][0]["line"] == 1


@given(claim_json())
def test_round_trip_structure_unstructure_structure(data):
    claim = parse_claim(data)
    again = parse_claim(json.loads(json.dumps(unstructure_claim(claim))))
    assert again == claim


class _MyLineResult(LineResult):
    """A user's subclass of a record: pickled by attrs' own means."""

    __slots__ = ()


@given(claim_json())
def test_claims_and_results_pickle_compactly_and_come_back_equal(data):
    """Records pickle as their class and a tuple of values (what worker processes send):
    equal, same hash, no field names in the pickle; a subclass pickles as attrs does."""
    import copy
    import pickle

    from hcpcs_rules import evaluate

    claim = parse_claim(data)
    result = evaluate(claim, explain=True)
    for value in (claim, result):
        blob = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        back = pickle.loads(blob)
        assert back == value and hash(back) == hash(value) and type(back) is type(value)
        assert copy.deepcopy(value) == value
    assert b"rule_id" not in pickle.dumps(result) and b"diagnosis_pointers" not in pickle.dumps(
        claim
    )

    mine = _MyLineResult(
        line=1, hcpcs="J7632", billed_units=Decimal(1), dispensed_mg=None, expected_units=None,
        status="clean",
    )  # fmt: skip
    again = pickle.loads(pickle.dumps(mine))
    assert type(again) is _MyLineResult and again == mine


@given(json_values())
def test_arbitrary_json_values_give_claim_error_or_a_claim(data):
    try:
        parse_claim(data)
    except ClaimError as exc:
        assert exc.errors and all(path.startswith("$") for path, _ in exc.errors)


@given(mutated_claims())
def test_claims_with_one_corrupted_value_give_claim_error_or_a_claim(data):
    try:
        parse_claim(data)
    except ClaimError as exc:
        assert all(path.startswith("$") and message for path, message in exc.errors)


def test_deeply_nested_input_is_a_claim_error_not_a_recursion_crash():
    data: object = "x"
    for _ in range(5000):
        data = {"lines": [data]}
    with pytest.raises(ClaimError):
        parse_claim(data)


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"lines__0__units": "1000000000000"}, "$.lines[0].units", "out of range"),
        ({"lines__0__charge": "-1000000000000"}, "$.lines[0].charge", "out of range"),
        (
            {"lines__0__units": "1.0000000000000000000000000000001"},
            "$.lines[0].units",
            "too precise",
        ),
        (
            {"lines__0__dispensed__quantity": "0.0000001"},
            "$.lines[0].dispensed.quantity",
            "too precise",
        ),
        ({"lines__0__days_supply": 10**58}, "$.lines[0].days_supply", "out of range"),
        ({"payer": "medicare_advantage"}, "$.payer", "is a line of business, not a payer"),
        ({"payer": "commercial"}, "$.payer", "is a line of business, not a payer"),
    ],
)
def test_absurd_numbers_and_reserved_payer_names_are_claim_errors(change, path, fragment):
    problems = errors_of(with_changes(**change))
    assert any(p == path and fragment in m for p, m in problems), problems


def test_bounds_leave_real_values_alone():
    claim = parse_claim(
        with_changes(
            lines__0__units="999999999999",
            lines__0__charge="2400.000000000",
            lines__0__dispensed__quantity="0.000001",
        )
    )
    # The value as given; trailing fractional zeros are dropped (they carry no digit), so the
    # stored Decimal is the plain 2400 that results print.
    assert claim.lines[0].charge == Decimal("2400.000000000")
    assert str(claim.lines[0].charge) == "2400"
    assert claim.lines[0].units == Decimal("999999999999")
    assert claim.lines[0].dispensed.quantity == Decimal("0.000001")


def test_a_date_range_unit_basis_and_frequency_read_as_given():
    claim = parse_claim(
        with_changes(
            lines__0__date_of_service="2026-03-02",
            lines__0__date_of_service_end="2026-03-02",  # a one-day range
            lines__0__unit_basis="MJ",
            frequency="7",
        )
    )
    line = claim.lines[0]
    assert (line.date_of_service, line.date_of_service_end) == (dt.date(2026, 3, 2),) * 2
    assert line.unit_basis == "MJ" and claim.frequency == "7"
