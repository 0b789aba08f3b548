"""Tests for hcpcs_rules.units: known J7632 vectors, then laws checked against a Fraction oracle."""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcpcs_rules.testing.strategies import decimals, mass_quantities, ml_quantities
from hcpcs_rules.units import (
    DISPENSED_UNITS,
    MASS_UNITS,
    billing_units,
    format_decimal,
    to_milligrams,
)

TEN = Decimal("10")  # J7632: one billing unit is 10 mg

# Milligrams per unit, written out again so the oracle does not trust the module's table.
ORACLE_MG_PER_UNIT = {
    "mg": Fraction(1),
    "mcg": Fraction(1, 1000),
    "ug": Fraction(1, 1000),
    "g": Fraction(1000),
}


def oracle_units(mg: Fraction, mg_per_unit: Fraction) -> int:
    return math.ceil(mg / mg_per_unit)


# --- tables ----------------------------------------------------------------------------------


def test_unit_tables() -> None:
    assert dict(MASS_UNITS) == {
        "mg": Decimal(1),
        "mcg": Decimal("0.001"),
        "ug": Decimal("0.001"),
        "g": Decimal(1000),
    }
    assert frozenset({"mg", "mcg", "ug", "g", "mL"}) == DISPENSED_UNITS
    assert all(type(v) is Decimal for v in MASS_UNITS.values())


# --- known vectors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "unit", "concentration", "expected_mg"),
    [
        ("2400", "mg", None, "2400"),
        ("2400", "mcg", None, "2.4"),
        ("2400", "ug", None, "2.4"),
        ("2.4", "g", None, "2400"),
        ("240", "mL", "10", "2400"),
        ("2", "mL", "10", "20"),
        ("0", "g", None, "0"),
    ],
)
def test_to_milligrams_vectors(
    quantity: str, unit: str, concentration: str | None, expected_mg: str
) -> None:
    conc = None if concentration is None else Decimal(concentration)
    result = to_milligrams(Decimal(quantity), unit, conc)
    assert type(result) is Decimal
    assert result == Decimal(expected_mg)


def test_ml_without_concentration_is_unknown() -> None:
    assert to_milligrams(Decimal("240"), "mL") is None
    assert to_milligrams(Decimal("240"), "mL", None) is None


def test_concentration_ignored_for_mass_units() -> None:
    assert to_milligrams(Decimal("5"), "mg", Decimal("10")) == Decimal("5")


@pytest.mark.parametrize(
    ("mg", "expected"),
    [
        ("2400", 240),
        ("2405", 241),
        ("2.4", 1),  # 2400 mcg
        ("0.5", 1),
        ("10", 1),
        ("10.000001", 2),
        ("0", 0),
        ("-0", 0),
    ],
)
def test_billing_units_vectors(mg: str, expected: int) -> None:
    result = billing_units(Decimal(mg), TEN)
    assert type(result) is int
    assert result == expected


def test_full_chain_vectors() -> None:
    def units(quantity: str, unit: str, conc: str | None = None) -> int:
        mg = to_milligrams(Decimal(quantity), unit, None if conc is None else Decimal(conc))
        assert mg is not None
        return billing_units(mg, TEN)

    assert units("2400", "mcg") == 1
    assert units("2.4", "g") == 240
    assert units("240", "mL", "10") == 240


def test_total_is_rounded_once_not_per_vial() -> None:
    vials = [Decimal("15")] * 3
    assert billing_units(sum(vials, Decimal(0)), TEN) == 5
    # Rounding each vial up would bill 6: the wrong answer the API asks callers to avoid.
    assert sum(billing_units(v, TEN) for v in vials) == 6


def test_billing_units_accepts_any_positive_unit_size() -> None:
    assert billing_units(Decimal("1"), Decimal("0.3")) == 4
    assert billing_units(Decimal("0.9"), Decimal("0.3")) == 3


# --- rejections ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [2.4, True, False, float("nan"), "2.4", None, [1]])
def test_to_milligrams_refuses_non_decimal_quantity(bad: object) -> None:
    with pytest.raises(TypeError):
        to_milligrams(bad, "mg")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [10.0, True])
def test_to_milligrams_refuses_float_concentration(bad: object) -> None:
    with pytest.raises(TypeError):
        to_milligrams(Decimal("1"), "mL", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("unit", ["ml", "MG", "kg", "", " mg", None, "units"])
def test_to_milligrams_refuses_unknown_unit(unit: object) -> None:
    with pytest.raises(ValueError, match="unknown unit"):
        to_milligrams(Decimal("1"), unit)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_decimals_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        to_milligrams(Decimal(bad), "mg")
    with pytest.raises(ValueError):
        to_milligrams(Decimal("1"), "mL", Decimal(bad))
    with pytest.raises(ValueError):
        billing_units(Decimal(bad), TEN)
    with pytest.raises(ValueError):
        billing_units(Decimal("1"), Decimal(bad))
    with pytest.raises(ValueError):
        format_decimal(Decimal(bad))


def test_rounding_raises_instead_of_losing_digits() -> None:
    sixty_one_digits = Decimal("1" * 61)
    with pytest.raises(ValueError):
        to_milligrams(sixty_one_digits, "mg")
    with pytest.raises(ValueError):
        to_milligrams(Decimal("1E+999999999"), "g")


def test_billing_units_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        billing_units(Decimal("-0.001"), TEN)
    with pytest.raises(ValueError):
        billing_units(Decimal("1"), Decimal("0"))
    with pytest.raises(ValueError):
        billing_units(Decimal("1"), Decimal("-10"))
    with pytest.raises(ValueError):  # quotient far too long to be a real unit count
        billing_units(Decimal("1E+999999999"), TEN)
    with pytest.raises(TypeError):
        billing_units(2400.0, TEN)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        billing_units(Decimal("2400"), 10.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        billing_units(True, TEN)  # type: ignore[arg-type]


# --- format_decimal --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2400", "2400"),
        ("2.40E+3", "2400"),
        ("2400.000", "2400"),
        ("0.5", "0.5"),
        ("0.50", "0.5"),
        ("1.25", "1.25"),
        ("0E-7", "0"),
        ("-0", "0"),
        ("0", "0"),
        ("1E-7", "0.0000001"),
        ("-12.3400", "-12.34"),
        ("1E+2", "100"),
        ("123456789012345678901234567890.5", "123456789012345678901234567890.5"),
    ],
)
def test_format_decimal_vectors(value: str, text: str) -> None:
    assert format_decimal(Decimal(value)) == text


@given(decimals(-(10**12), 10**12, 6))
def test_format_decimal_round_trips(value: Decimal) -> None:
    text = format_decimal(value)
    assert "E" not in text and "e" not in text
    assert Decimal(text) == value
    if "." in text:
        assert not text.endswith("0")


# --- properties ------------------------------------------------------------------------------


@given(mass_quantities())
def test_mass_conversion_matches_fraction_oracle(pair: tuple[Decimal, str]) -> None:
    quantity, unit = pair
    mg = to_milligrams(quantity, unit)
    assert type(mg) is Decimal
    assert Fraction(mg) == Fraction(quantity) * ORACLE_MG_PER_UNIT[unit]


@given(decimals(0, 10**7, 4), decimals("0.001", 1000, 3))
def test_billing_units_matches_fraction_oracle(mg: Decimal, per_unit: Decimal) -> None:
    assert billing_units(mg, per_unit) == oracle_units(Fraction(mg), Fraction(per_unit))


@given(decimals("0.0001", 10**7, 4))
def test_round_up_law(mg: Decimal) -> None:
    units = billing_units(mg, TEN)
    assert units * TEN >= mg > (units - 1) * TEN


@given(decimals(0, 10**5, 6))
def test_same_mass_in_any_unit_bills_the_same(mg: Decimal) -> None:
    # Scaling by powers of ten is exact for Decimal, so these three spell the same mass.
    as_mcg = mg.scaleb(3, decimal.Context(prec=100))
    as_g = mg.scaleb(-3, decimal.Context(prec=100))
    masses = {
        to_milligrams(mg, "mg"),
        to_milligrams(as_mcg, "mcg"),
        to_milligrams(as_mcg, "ug"),
        to_milligrams(as_g, "g"),
    }
    assert len(masses) == 1  # Decimal equality ignores trailing zeros
    assert len({billing_units(m, TEN) for m in masses if m is not None}) == 1


@given(ml_quantities())
def test_volume_path_equals_mass_path(pair: tuple[Decimal, Decimal]) -> None:
    ml, concentration = pair
    via_volume = to_milligrams(ml, "mL", concentration)
    expected = Fraction(ml) * Fraction(concentration)
    assert via_volume is not None and Fraction(via_volume) == expected
    via_mass = to_milligrams(via_volume, "mg")
    assert via_mass == via_volume
    assert billing_units(via_volume, TEN) == oracle_units(expected, Fraction(10))


@given(decimals(0, 10**6, 3), decimals(0, 10**6, 3), decimals("0.01", 100, 2))
def test_more_mg_never_bills_fewer_units(a: Decimal, b: Decimal, per_unit: Decimal) -> None:
    low, high = sorted((a, b))
    assert billing_units(low, per_unit) <= billing_units(high, per_unit)


@given(mass_quantities(), ml_quantities(), decimals("0.001", 100, 3))
def test_ambient_context_does_not_change_results(
    mass: tuple[Decimal, str], volume: tuple[Decimal, Decimal], per_unit: Decimal
) -> None:
    quantity, unit = mass
    ml, concentration = volume
    mg_expected = Fraction(quantity) * ORACLE_MG_PER_UNIT[unit]
    ml_expected = Fraction(ml) * Fraction(concentration)
    with decimal.localcontext() as ctx:
        # A hostile ambient context: three digits, always rounding down.
        ctx.prec = 3
        ctx.rounding = decimal.ROUND_FLOOR
        mg = to_milligrams(quantity, unit)
        from_ml = to_milligrams(ml, "mL", concentration)
        assert mg is not None and from_ml is not None
        units = billing_units(mg, per_unit)
        text = format_decimal(mg)
    assert Fraction(mg) == mg_expected
    assert Fraction(from_ml) == ml_expected
    assert units == oracle_units(mg_expected, Fraction(per_unit))
    assert Fraction(Decimal(text)) == mg_expected


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(sorted(DISPENSED_UNITS)))
def test_floats_are_always_refused(value: float, unit: str) -> None:
    with pytest.raises(TypeError):
        to_milligrams(value, unit, Decimal("10"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        billing_units(value, TEN)  # type: ignore[arg-type]
