"""The registry of named functions a ruleset condition may call.

A ruleset file cannot run code: the only calls it can make are to the functions registered here,
each with a declared signature that the compiler type-checks. Every function must accept missing
values (``None``) for any argument and answer without raising: a claim with a missing field is an
ordinary claim, and rules decide what a missing value means.

Plugins add functions with :func:`register` (before building an Engine).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from . import units, vocab
from .model import Dispensed, Enrollment
from .units import EXACT_CONTEXT

__all__ = ["FUNCTIONS", "Function", "register"]


@attrs.frozen
class Function:
    name: str
    params: tuple[str, ...]  # schema types; "any" accepts anything
    returns: str  # a schema type; "$same": the arguments' type; "$number": int unless a decimal
    impl: Callable[..., Any]
    doc: str
    #: Indexes of parameters that must be constants (compiled once, e.g. a regex pattern).
    constant_params: tuple[int, ...] = ()


FUNCTIONS: dict[str, Function] = {}


def register(
    name: str,
    params: Sequence[str],
    returns: str,
    *,
    doc: str,
    constant_params: Sequence[int] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``impl`` under ``name`` for use in conditions (decorator)."""

    def decorate(impl: Callable[..., Any]) -> Callable[..., Any]:
        if name in FUNCTIONS and FUNCTIONS[name].impl is not impl:
            raise ValueError(f"a condition function named {name!r} is already registered")
        FUNCTIONS[name] = Function(name, tuple(params), returns, impl, doc, tuple(constant_params))
        return impl

    return decorate


# --------------------------------------------------------------------- identifiers and codes


@register(
    "npi_valid",
    ["str"],
    "bool",
    doc="10 digits, starts with 1 or 2, Luhn check digit (80840 prefix).",
)
def _npi_valid(value: str | None) -> bool:
    return vocab.npi_is_valid(value)


@register(
    "pos_valid", ["str"], "bool", doc="A two-digit code of the CMS place-of-service code set."
)
def _pos_valid(value: str | None) -> bool:
    return vocab.pos_is_valid(value)


@register(
    "ndc_normalized",
    ["str"],
    "str",
    doc="The 11-digit (5-4-2) NDC, or none if it cannot be normalised.",
)
def _ndc_normalized(value: str | None) -> str | None:
    return vocab.normalize_ndc(value)


@register(
    "icd10_any",
    ["list[str]", "list[str]"],
    "bool",
    doc="Any code starts with any of the ICD-10-CM prefixes (dot optional, 'J45.*' allowed).",
)
def _icd10_any(codes: Iterable[str] | None, prefixes: Iterable[str] | None) -> bool:
    if not codes or not prefixes:
        return False
    prefixes = tuple(prefixes)
    return any(vocab.icd10_in(code, prefixes) for code in codes)


@register(
    "matches",
    ["str", "str"],
    "bool",
    doc="The whole string matches the regular expression.",
    constant_params=(1,),
)
def _matches(value: str | None, pattern: str | re.Pattern[str] | None) -> bool:
    if not isinstance(value, str) or pattern is None:
        return False
    return re.fullmatch(pattern, value) is not None


# ----------------------------------------------------------------------------- text and lists


@register("blank", ["str"], "bool", doc="Missing, empty or only white space.")
def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


@register(
    "word_count", ["str"], "int", doc="Number of words separated by white space (0 when missing)."
)
def _word_count(value: str | None) -> int:
    return 0 if value is None else len(value.split())


@register("count", ["any"], "int", doc="Number of items in a list (0 when missing).")
def _count(value: Sequence[Any] | None) -> int:
    return 0 if value is None else len(value)


@register(
    "any_in", ["list[str]", "list[str]"], "bool", doc="The list holds at least one of the values."
)
def _any_in(values: Iterable[str] | None, wanted: Iterable[str] | None) -> bool:
    if not values or not wanted:
        return False
    wanted = set(wanted)
    return any(v in wanted for v in values)


@register(
    "pointers_valid",
    ["list[int]", "list[str]"],
    "bool",
    doc="At least one pointer, each within 1..len(diagnoses).",
)
def _pointers_valid(pointers: Sequence[int] | None, diagnoses: Sequence[str] | None) -> bool:
    if not pointers:
        return False
    n = len(diagnoses or ())
    return all(1 <= p <= n for p in pointers)


@register(
    "pointed_diagnoses",
    ["list[int]", "list[str]"],
    "list[str]",
    doc="The diagnoses the line's pointers point to (pointers out of range are skipped).",
)
def _pointed_diagnoses(
    pointers: Sequence[int] | None, diagnoses: Sequence[str] | None
) -> tuple[str, ...]:
    diagnoses = diagnoses or ()
    return tuple(diagnoses[p - 1] for p in pointers or () if 1 <= p <= len(diagnoses))


# ------------------------------------------------------------------------------ quantities


@register("whole_positive", ["decimal"], "bool", doc="A whole number of at least 1.")
def _whole_positive(value: Decimal | None) -> bool:
    return value is not None and value >= 1 and value == value.to_integral_value()


@register(
    "dispensed_mg",
    ["Dispensed"],
    "decimal",
    doc="Exact milligrams dispensed (mass units, or mL x concentration); none when not computable.",
)
def _dispensed_mg(dispensed: Dispensed | None) -> Decimal | None:
    if dispensed is None:
        return None
    return units.to_milligrams(
        dispensed.quantity, dispensed.unit, dispensed.concentration_mg_per_ml
    )


@register(
    "billing_units",
    ["decimal", "decimal"],
    "int",
    doc="Milligrams / milligrams per unit, rounded up to a whole unit.",
)
def _billing_units(milligrams: Decimal | None, mg_per_unit: Decimal | None) -> int | None:
    if milligrams is None or mg_per_unit is None or milligrams < 0 or mg_per_unit <= 0:
        return None
    return units.billing_units(milligrams, mg_per_unit)


@register("ceil_div", ["decimal", "decimal"], "int", doc="a / b rounded up, exactly.")
def _ceil_div(a: Decimal | int | None, b: Decimal | int | None) -> int | None:
    if a is None or b is None or b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return -(-a // b)
    # Decimal division truncates toward zero: step up when a remainder is left on the positive side.
    quotient, remainder = EXACT_CONTEXT.divmod(Decimal(a), Decimal(b))
    if remainder and (remainder > 0) == (b > 0):
        quotient += 1
    return int(quotient)


@register(
    "max",
    ["decimal", "decimal"],
    "$number",
    doc="The larger of two numbers (none if either is missing).",
)
def _max(a: Any, b: Any) -> Any:
    return None if a is None or b is None else max(a, b)


@register("coalesce", ["any", "any"], "$same", doc="The first value that is not missing.")
def _coalesce(a: Any, b: Any) -> Any:
    return b if a is None else a


# ------------------------------------------------------------------------------- enrollment


@register(
    "enrolled_on",
    ["list[Enrollment]", "str", "date"],
    "bool",
    doc="An 'active' enrollment with the payer, valid on the date (effective <= date <= end).",
)
def _enrolled_on(enrollments: Iterable[Enrollment] | None, payer: str | None, day: Any) -> bool:
    if not enrollments or payer is None or day is None:
        return False
    return any(
        e.payer == payer
        and e.status == "active"
        and e.effective <= day
        and (e.end is None or day <= e.end)
        for e in enrollments
    )
