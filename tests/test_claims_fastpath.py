"""The claim reader's fast path (claims._read_fast) against its detailed path (_read_detailed).

The fast path is generated per (Limits, ClaimSchema) and gives up at the first value it is not
sure of; the detailed reader then reads the claim from the start. The properties: on any input,
parsing with the fast path gives exactly what parsing without it gives (the same claim, digit
for digit and type for type, or the same ClaimError); whatever the fast path returns, the
detailed reader returns too; the generated code raises nothing but its doubt (or the ValueError
of an impossible calendar date); and valid claims really take the fast path. The regression
cases of tests/test_claims*.py go through the same comparison: tests/conftest.py's autouse
fixture re-reads every claim the fast path builds, in every test.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hcpcs_rules import Claim, ClaimError, Limits, claims, model
from hcpcs_rules.claims import SHAPE_ONLY, ClaimSchema, parse_claim_with
from hcpcs_rules.limits import DEFAULT_LIMITS
from hcpcs_rules.testing.strategies import (
    RaisingDecimal,
    RaisingInt,
    RaisingStr,
    claim_json,
    cross_line_claims,
    differential_claims,
    disguised_claims,
    hostile_claims,
    json_values,
    mutated_claims,
)
from test_claims import GOOD

#: An engine-like schema: declared extension fields of every kind, and known payers.
SCHEMA = ClaimSchema(
    claim_extensions=(("batch", "str"), ("received", "date"), ("tags", "list[str]")),
    line_extensions=(
        ("dose_count", "int"),
        ("lot_amount", "decimal"),
        ("order_date", "date"),
        ("rush", "bool"),
        ("weights", "list[decimal]"),
    ),
    payers=frozenset({"medicare", "aetna", "bcbs", "cigna", "uhc"}),
)
SCHEMAS = [SHAPE_ONLY, SCHEMA]
TIGHT = Limits(
    max_lines=2,
    max_diagnoses=1,
    max_diagnosis_pointers=1,
    max_list_items=3,
    max_string_length=12,
    max_number_length=6,
    max_integer_digits=3,
    max_decimal_places=0,
    max_count=30,
)


def outcome(data, limits: Limits, schema: ClaimSchema, *, fast: bool):
    """What parse_claim_with gives, with or without the fast path: a claim's repr, or errors."""
    saved = claims.FAST_PATH
    claims.FAST_PATH = fast
    try:
        return ("claim", repr(parse_claim_with(data, limits, schema)))
    except ClaimError as exc:
        return ("error", exc.errors)
    finally:
        claims.FAST_PATH = saved


_EXACT = (str, int, bool, Decimal, dt.date, type(None))


def exact_types(value) -> bool:
    """Only exact built-in values (and model classes) inside a claim."""
    if type(value) in _EXACT:
        return True
    if type(value) is tuple:
        return all(exact_types(v) for v in value)
    if type(value) is model.Extensions:
        return all(exact_types(v) for v in value.values())
    if type(value).__module__ == model.__name__:
        return all(exact_types(getattr(value, a)) for a in type(value).__slots__)
    return False


def check_paths(data, limits: Limits = DEFAULT_LIMITS, schema: ClaimSchema = SHAPE_ONLY):
    """The properties of the module docstring, for one input; returns the fast path's claim."""
    reader = claims._fast_reader(limits, schema)
    assert reader is not None
    try:
        direct = reader(copy.copy(data) if type(data) is dict else data)
    except claims._Doubt:
        direct = None
    except ValueError as exc:  # fromisoformat on an impossible date, "2026-02-30"
        assert "day is out of range" in str(exc) or "month must be" in str(exc), exc
        direct = None
    with_fast = outcome(data, limits, schema, fast=True)
    without = outcome(data, limits, schema, fast=False)
    assert with_fast == without
    if direct is not None:
        assert with_fast == ("claim", repr(direct))
        assert exact_types(direct)
    return direct


def test_valid_claims_take_the_fast_path():
    claim = check_paths(copy.deepcopy(GOOD))
    assert isinstance(claim, Claim)
    assert claim.lines[0].units == Decimal(240)


@given(claim_json())
def test_every_generated_valid_claim_takes_the_fast_path_and_reads_the_same(data):
    for schema in SCHEMAS:
        assert check_paths(data, DEFAULT_LIMITS, schema) is not None


@given(st.one_of(cross_line_claims(), differential_claims()))
def test_differential_claims_read_the_same(data):
    for schema in SCHEMAS:
        check_paths(data, DEFAULT_LIMITS, schema)


@settings(max_examples=150)
@given(hostile_claims())
def test_hostile_claims_read_the_same(data):
    for schema in SCHEMAS:
        check_paths(data, DEFAULT_LIMITS, schema)


@given(disguised_claims())
def test_disguised_claims_read_the_same_as_the_plain_ones(pair):
    plain, disguised = pair
    assert check_paths(plain) is not None
    check_paths(disguised)
    assert outcome(disguised, DEFAULT_LIMITS, SHAPE_ONLY, fast=True) == outcome(
        plain, DEFAULT_LIMITS, SHAPE_ONLY, fast=False
    )


@given(st.one_of(mutated_claims(), json_values()))
def test_mutated_claims_and_arbitrary_json_read_the_same(data):
    for schema in SCHEMAS:
        check_paths(data, DEFAULT_LIMITS, schema)


@given(claim_json(), st.data())
def test_claims_under_tight_limits_read_the_same(data, draw):
    # Every limit near the values claim_json draws: the fast path's inline bounds are exercised
    # on both sides of each.
    limits = Limits(
        max_lines=draw.draw(st.integers(1, 4)),
        max_diagnoses=draw.draw(st.integers(1, 3)),
        max_diagnosis_pointers=draw.draw(st.integers(1, 3)),
        max_list_items=draw.draw(st.integers(3, 20)),
        max_string_length=draw.draw(st.integers(1, 15)),
        max_number_length=draw.draw(st.integers(1, 8)),
        max_integer_digits=draw.draw(st.integers(1, 12)),
        max_decimal_places=draw.draw(st.integers(0, 6)),
        max_count=draw.draw(st.integers(1, 200)),
    )
    check_paths(data, limits, SCHEMA)
    check_paths(data, TIGHT, SHAPE_ONLY)


_EXTENSION_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["", "x", "2026-03-02", "2026-02-30", "1.50", "-0", "12", "1e3"]),
    st.lists(st.sampled_from(["1", "2.50", "x", 3]), max_size=3),
    st.builds(RaisingStr, st.sampled_from(["2026-03-02", "7"])),
    st.builds(RaisingInt, st.integers(0, 3)),
    st.builds(RaisingDecimal, st.sampled_from(["2.50", "NaN"])),
    st.just(dt.date(2026, 3, 2)),
)
_EXTENSION_KEYS = st.sampled_from(
    ["batch", "received", "tags", "dose_count", "lot_amount", "order_date", "rush", "weights", "x"]
)


@given(
    claim_json(),
    st.dictionaries(_EXTENSION_KEYS, _EXTENSION_VALUES, max_size=4),
    st.dictionaries(_EXTENSION_KEYS, _EXTENSION_VALUES, max_size=4),
)
def test_extension_fields_read_the_same(data, on_claim, on_line):
    data["extensions"] = on_claim
    data["lines"][0]["extensions"] = on_line
    for schema in SCHEMAS:
        check_paths(data, DEFAULT_LIMITS, schema)


LINE_CASES = [
    ("units", "240.0"),
    ("units", "-0"),
    ("units", "+240"),
    ("units", " 240 "),
    ("units", "0240"),
    ("units", ".5"),
    ("units", "5."),
    ("units", "0.0000001"),
    ("units", "9" * 13),
    ("units", 10**12),
    ("units", -(10**12) + 1),
    ("units", Decimal("2.50")),
    ("units", Decimal("-0")),
    ("units", True),
    ("units", 2.5),
    ("date_of_service", "2026-02-30"),
    ("date_of_service", "2026-W09-1"),
    ("date_of_service", "20260302"),
    ("date_of_service", dt.datetime(2026, 3, 2)),
    ("date_of_service", dt.date(2026, 3, 2)),
    ("hcpcs", RaisingStr("J7632")),
    ("hcpcs", "J" * 10_001),
    ("days_supply", RaisingInt(30)),
    ("days_supply", 0),
    ("days_supply", 1_000_001),
    ("modifiers", ("KO",)),
    ("modifiers", ["KO"] * 101),
    ("diagnosis_pointers", [1, 2, 3, 4, 5]),
    ("attachments", ["other", "x"]),
    ("extensions", {}),
    ("extensions", None),
]


@pytest.mark.parametrize(
    ("path", "value"), LINE_CASES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(LINE_CASES)]
)
def test_regression_values_on_a_line_read_the_same(path, value):
    data = copy.deepcopy(GOOD)
    data["lines"][0][path] = value
    check_paths(data)
    check_paths(data, DEFAULT_LIMITS, SCHEMA)


@pytest.mark.parametrize(
    "change",
    [
        {"payer": "humana"},
        {"payer": "commercial"},
        {"payer": " "},
        {"id": ""},
        {"lines": []},
        {"lines": [{"hcpcs": "J7632", "units": "1"}] * 51},
        {"line_of_business": None},
        {"diagnoses": ["J45.40"] * 13},
        {"supplier": {"npi": "1234567893", "pharmacy_license": {"state": "PA", "status": "x"}}},
        {1: "x"},
    ],
)
def test_regression_values_on_the_claim_read_the_same(change):
    data = copy.deepcopy(GOOD)
    data.update(change)
    check_paths(data)
    check_paths(data, DEFAULT_LIMITS, SCHEMA)


def test_a_concentration_with_a_mass_unit_is_left_to_the_detailed_reader():
    data = copy.deepcopy(GOOD)
    data["lines"][0]["dispensed"] = {"quantity": "1", "unit": "mg", "concentration_mg_per_ml": "2"}
    assert check_paths(data) is None
    assert outcome(data, DEFAULT_LIMITS, SHAPE_ONLY, fast=True)[0] == "error"


def test_subclass_values_in_plain_containers_are_copied_without_their_methods():
    data = copy.deepcopy(GOOD)
    data["id"] = RaisingStr("CLM-1")
    data["lines"][0]["units"] = RaisingDecimal("2.50")
    data["lines"][0]["days_supply"] = RaisingInt(30)
    claim = check_paths(data)
    assert claim is not None and exact_types(claim)
    assert (claim.id, str(claim.lines[0].units), claim.lines[0].days_supply) == ("CLM-1", "2.5", 30)


def test_typed_claims_and_other_mappings_never_enter_the_fast_path(monkeypatch):
    seen = []
    monkeypatch.setattr(claims, "_read_fast", lambda *args: seen.append(args) or None)
    typed = parse_claim_with(copy.deepcopy(GOOD), DEFAULT_LIMITS, SHAPE_ONLY)
    assert len(seen) == 1
    parse_claim_with(typed, Limits(max_lines=7), SHAPE_ONLY)  # read again, field by field
    assert len(seen) == 1


def test_the_generated_source_holds_no_input_and_one_reader_serves_equal_settings():
    reader = claims._fast_reader(DEFAULT_LIMITS, SCHEMA)
    assert (
        claims._fast_reader(
            Limits(),
            ClaimSchema(
                **{
                    "claim_extensions": SCHEMA.claim_extensions,
                    "line_extensions": SCHEMA.line_extensions,
                    "payers": frozenset(SCHEMA.payers),
                }
            ),
        )
        is reader
    )
    assert "def _r_Claim(d):" in reader.source
    assert "medicare" not in reader.source  # payers are a bound constant, not text
