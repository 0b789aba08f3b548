"""Exact unit math: dispensed amounts to milligrams, milligrams to billing units.

This module owns the arithmetic only: converting a dispensed quantity (mass, or volume at a
stated concentration) into milligrams, rounding milligrams up to whole billing units, and
printing a Decimal for humans. It does not know any HCPCS code's milligrams-per-unit (rulesets
declare that as data), does not read claims, and does not decide whether a billed unit count is
acceptable.

Every operation is exact. Binary floats are refused outright, and all Decimal arithmetic runs in
a private context that raises instead of rounding, so the thread's ambient decimal context (which
a caller may have set to anything) never changes a result.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

__all__ = [
    "DISPENSED_UNITS",
    "MASS_UNITS",
    "billing_units",
    "format_decimal",
    "to_milligrams",
]

# Milligrams in one of each mass unit. "ug" is the ASCII spelling of "mcg" seen on real claims.
MASS_UNITS: Mapping[str, Decimal] = MappingProxyType(
    {
        "mg": Decimal("1"),
        "mcg": Decimal("0.001"),
        "ug": Decimal("0.001"),
        "g": Decimal("1000"),
    }
)

# Volume needs a concentration before it means a mass, so it is not in MASS_UNITS.
_VOLUME_UNIT = "mL"

DISPENSED_UNITS: frozenset[str] = frozenset(MASS_UNITS) | {_VOLUME_UNIT}

# Sixty digits is far beyond any real claim; the point of the traps is that if an input ever
# needs more, the caller gets an error rather than a silently rounded number.
EXACT_CONTEXT = _EXACT = decimal.Context(
    prec=60,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
        decimal.Inexact,
        decimal.Rounded,
    ],
)


def _exact_decimal(value: object, name: str) -> Decimal:
    """Return ``value`` as a finite Decimal, refusing anything that could carry float error."""
    # bool is an int subclass, and a float has already lost digits before we see it.
    if isinstance(value, bool | float):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if isinstance(value, int):
        return Decimal(value)  # exact: an int converts without rounding
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def to_milligrams(
    quantity: Decimal, unit: str, concentration_mg_per_ml: Decimal | None = None
) -> Decimal | None:
    """Exact milligrams in ``quantity`` of ``unit``.

    For ``"mL"`` the result is ``quantity * concentration_mg_per_ml``, or ``None`` when no
    concentration is known (the caller decides whether that is a finding). The concentration is
    ignored for mass units. Signs are not policed here: this is arithmetic, and what counts as a
    sensible quantity is the rules' business.

    Raises ``TypeError`` for a float or bool, ``ValueError`` for an unknown unit, a non-finite
    Decimal, or a product that would need rounding.
    """
    qty = _exact_decimal(quantity, "quantity")
    if unit == _VOLUME_UNIT:
        if concentration_mg_per_ml is None:
            return None
        factor = _exact_decimal(concentration_mg_per_ml, "concentration_mg_per_ml")
    elif isinstance(unit, str) and unit in MASS_UNITS:
        factor = MASS_UNITS[unit]
    else:
        known = ", ".join(sorted(DISPENSED_UNITS))
        raise ValueError(f"unknown unit {unit!r}; expected one of {known}")
    try:
        return _EXACT.multiply(qty, factor)
    except decimal.DecimalException as exc:
        raise ValueError(f"{qty} {unit} cannot be converted to mg exactly") from exc


def billing_units(milligrams: Decimal, mg_per_unit: Decimal) -> int:
    """Whole billing units covering ``milligrams``: the quotient rounded up.

    Billing rounds up, so 2405 mg at 10 mg per unit is 241 units. Callers must pass the total for
    the line, not a per-vial amount: rounding each vial up separately over-bills.

    Raises ``TypeError`` for a float or bool, ``ValueError`` for negative milligrams, a
    non-positive ``mg_per_unit``, a non-finite Decimal, or an absurdly large quotient.
    """
    mg = _exact_decimal(milligrams, "milligrams")
    per_unit = _exact_decimal(mg_per_unit, "mg_per_unit")
    if mg < 0:
        raise ValueError(f"milligrams must not be negative, got {mg}")
    if per_unit <= 0:
        raise ValueError(f"mg_per_unit must be positive, got {per_unit}")
    try:
        # divmod's integer part and remainder are both exact; a quotient too long for the
        # context raises instead of being rounded, which also bounds the work done on
        # hostile exponents such as 1E+999999999.
        whole, remainder = _EXACT.divmod(mg, per_unit)
    except decimal.DecimalException as exc:
        raise ValueError(f"{mg} mg / {per_unit} mg per unit is too large to bill") from exc
    return int(whole) + (1 if remainder else 0)


def format_decimal(value: Decimal) -> str:
    """Plain notation without trailing fractional zeros: ``2.40E+3`` -> ``"2400"``.

    Built from the digit tuple rather than ``normalize()``, which would round to the ambient
    context's precision.
    """
    number = _exact_decimal(value, "value")
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    text = "".join(map(str, digits)).lstrip("0")
    if not text:
        return "0"  # also covers -0 and 0E-7
    # Fold trailing zeros into the exponent so "2.40" and "2.4" print the same.
    stripped = text.rstrip("0")
    exponent += len(text) - len(stripped)
    if exponent >= 0:
        body = stripped + "0" * exponent
    else:
        point = len(stripped) + exponent
        if point > 0:
            body = f"{stripped[:point]}.{stripped[point:]}"
        else:
            body = "0." + "0" * -point + stripped
    return ("-" if sign else "") + body
