"""The END-TO-END FLOOR: claim data in, ``Result`` out, written by hand for ``core`` + ``j7632``.

``floor.py`` starts from an already typed ``Claim``; users start from decoded JSON (or the JSON
text itself), and turning that into a ``Claim`` is work the engine must do and a hand-writer
must do too. This module is that hand-writer's structurer: :func:`structure` validates what
``hcpcs_rules.claims`` validates for an engine of the shipped rulesets under the default
``Limits`` (exact types, required and unknown keys, decimal strings in ASCII digits within the
digit limits, ISO dates, list and string sizes, the payers those rulesets know, the dispensed
concentration only with mL, no extension fields) and builds the same ``Claim``; :func:`check` adds
``floor.check``; :func:`check_json` starts from JSON text, refusing duplicate keys as the
project's reader does.

It need not word problems (a refusal is a :class:`Refused` naming the first one), but it must
accept and refuse exactly what the engine does, and build equal claims:
``benchmarks/check_floor_e2e.py`` proves that on generated, mutated and hostile inputs.

How a careful hand-writer makes it fast, and safe:

- the common input, plain decoded JSON, is read by straight-line code per record that trusts
  only exact built-in types (``type(v) is str``); a decimal string already in canonical form
  (``"240"``, ``"2.5"``) becomes a ``Decimal`` directly, any other is normalised;
- anything else (a ``str``, ``int``, ``dict``... subclass, a ``Decimal`` or ``date`` object, a
  ``Mapping``) is first copied into plain built-in values through the base types' own C methods,
  so no method a subclass overrides is ever called (what the engine guarantees), then read by
  the same code. Keys that are not strings, and nesting deeper than a claim has, are refused
  during that copy.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import floor  # a sibling script: python puts benchmarks/ on the path when run as one
from hcpcs_rules.model import (
    NO_EXTENSIONS,
    Accreditation,
    Claim,
    ClaimLine,
    Compound,
    Dispensed,
    Enrollment,
    Order,
    OrderingProvider,
    Patient,
    PharmacyLicense,
    Result,
    Supplier,
    SuretyBond,
)

__all__ = ["PAYERS", "Refused", "check", "check_json", "loads", "structure"]

#: The payers a claim may name: those the shipped rulesets know (checked against the engine).
PAYERS = frozenset({"aetna", "bcbs", "cigna", "medicare", "uhc"})


class Refused(ValueError):
    """The input is not a claim the engine would accept."""


# The default Limits, written out.
_LINES, _DIAGNOSES, _POINTERS, _ITEMS = 50, 12, 4, 100
_STRING, _NUMBER_TEXT, _WHOLE_DIGITS, _PLACES, _COUNT = 10_000, 40, 12, 6, 1_000_000
_TOP = 10**_WHOLE_DIGITS
_NOT_PAYERS = frozenset({"medicare_advantage", "commercial"})
_UNITS = frozenset({"mg", "mcg", "ug", "g", "mL"})
_ACCREDITATION = frozenset({"accredited", "exempt", "none"})
_LICENSE = frozenset({"licensed", "none"})
_ATTACHMENTS = frozenset({"operative_report", "clinical_notes", "other"})
_BUSINESS = frozenset({"commercial", "medicare_advantage"})
_ZERO = Decimal(0)

# Canonical decimal text: Decimal(text) is already the claim's value (no sign but "-", no
# leading or trailing zero to drop, no "-0", within the digit limits).
_CANONICAL = re.compile(
    r"-?(?:[1-9][0-9]{0,11}(?:\.[0-9]{0,5}[1-9])?|0\.[0-9]{0,5}[1-9])\Z|0\Z"
).match
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?\Z")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")

_CLAIM_KEYS = frozenset(
    [
        "id",
        "payer",
        "supplier",
        "lines",
        "line_of_business",
        "date_of_service",
        "place_of_service",
        "diagnoses",
        "patient",
        "ordering_provider",
        "extensions",
        "frequency",
        "note",
        "attachments",
    ]
)
_LINE_KEYS = frozenset(
    [
        "hcpcs",
        "units",
        "modifiers",
        "date_of_service",
        "place_of_service",
        "dispensed",
        "days_supply",
        "order",
        "ndc",
        "ndc_quantity",
        "ndc_unit",
        "diagnosis_pointers",
        "charge",
        "note",
        "attachments",
        "compound",
        "extensions",
        "date_of_service_end",
        "unit_basis",
        "ordering_provider",
        "referring_provider",
        "prescription_number",
    ]
)
_SUPPLIER_KEYS = frozenset(
    ["npi", "taxonomy", "ptan", "enrollments", "accreditation", "surety_bond", "pharmacy_license"]
)
_ENROLLMENT_KEYS = frozenset({"payer", "status", "effective", "end"})
_DISPENSED_KEYS = frozenset({"quantity", "unit", "concentration_mg_per_ml"})
_PROVIDER_KEYS = frozenset({"npi", "pecos_enrolled"})


# ------------------------------------------------------------------------------ scalars


def _decimal_text(v: str) -> Decimal:
    if len(v) > _NUMBER_TEXT:
        raise Refused("number text too long")
    m = _DECIMAL.match(v.strip(" \t\r\n"))
    if m is None:
        raise Refused("not a decimal number")
    sign, whole, fraction = m.groups()
    if not whole and not fraction:
        raise Refused("not a decimal number")
    whole = whole.lstrip("0")
    fraction = (fraction or "").rstrip("0")
    if len(whole) > _WHOLE_DIGITS or len(fraction) > _PLACES:
        raise Refused("too many digits")
    if not whole and not fraction:
        return _ZERO
    sign = "-" if sign == "-" else ""
    return Decimal(f"{sign}{whole or '0'}.{fraction}" if fraction else sign + whole)


def _decimal_object(v: Decimal) -> Decimal:
    if not v.is_finite():
        raise Refused("not a finite number")
    if v.is_zero():
        return _ZERO
    magnitude = v.adjusted()
    if magnitude >= _WHOLE_DIGITS or magnitude < -_PLACES:
        raise Refused("out of range")
    sign, digits, exponent = v.as_tuple()
    assert isinstance(exponent, int)
    zeros = len(digits) - len(bytes(digits).rstrip(b"\0")) if exponent < 0 else 0
    zeros = min(zeros, -exponent) if exponent < 0 else 0
    if exponent + zeros < -_PLACES:
        raise Refused("too precise")
    if not zeros:
        return v
    return Decimal((sign, digits[: len(digits) - zeros], exponent + zeros))


def _dec(v: Any) -> Decimal:
    kind = type(v)
    if kind is str:
        if _CANONICAL(v):
            return Decimal(v)
        return _decimal_text(v)
    if kind is int:
        if -_TOP < v < _TOP:
            return Decimal(v)
        raise Refused("out of range")
    if kind is Decimal:
        return _decimal_object(v)
    raise Refused("not a decimal")


def _pos_dec(v: Any) -> Decimal:
    number = _dec(v)
    if number <= 0:
        raise Refused("not positive")
    return number


def _string(v: Any) -> str:
    if type(v) is str and len(v) <= _STRING:
        return v
    raise Refused("not a string")


def _non_blank(v: Any) -> str:
    if type(v) is str and len(v) <= _STRING and v.strip():
        return v
    raise Refused("not a non-blank string")


def _opt_string(v: Any) -> str | None:
    if v is None or (type(v) is str and len(v) <= _STRING):
        return v
    raise Refused("not a string")


def _opt_bool(v: Any) -> bool | None:
    if v is None or type(v) is bool:
        return v
    raise Refused("not a boolean")


def _opt_date(v: Any) -> dt.date | None:
    if v is None:
        return None
    if type(v) is str and _DATE.match(v):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            raise Refused("not a date") from None
    if type(v) is dt.date:
        return v
    raise Refused("not a date")


def _date(v: Any) -> dt.date:
    if v is None:
        raise Refused("a date is required")
    return _opt_date(v)  # type: ignore[return-value]


def _positive_count(v: Any) -> int:
    if type(v) is int and 0 < v <= _COUNT:
        return v
    raise Refused("not a whole number of at least 1")


def _choice(v: Any, allowed: frozenset[str]) -> str:
    if type(v) is str and v in allowed:
        return v
    raise Refused("not one of the allowed values")


def _items(v: Any, most: int) -> list[Any] | tuple[Any, ...]:
    if (type(v) is list or type(v) is tuple) and len(v) <= most:
        return v
    raise Refused("not a list, or too long")


def _record(d: Any, known: frozenset[str]) -> dict[str, Any]:
    if type(d) is not dict or len(d) > _ITEMS:
        raise Refused("not an object")
    for key in d:
        if type(key) is not str:  # before any lookup: only exact strings are compared
            raise Refused("a key is not a string")
    if not d.keys() <= known:
        raise Refused("unknown key")
    return d


def _no_extensions(d: dict[str, Any]) -> None:
    # The shipped rulesets declare no extension fields: the object, if given, must be empty.
    value = d.get("extensions", NO_EXTENSIONS)
    if value is not NO_EXTENSIONS and (type(value) is not dict or value):
        raise Refused("extensions: no field is declared")


# ------------------------------------------------------------------------------ records


def _provider(d: Any) -> OrderingProvider | None:
    if d is None:
        return None
    _record(d, _PROVIDER_KEYS)
    return OrderingProvider(
        npi=_string(d.get("npi")), pecos_enrolled=_opt_bool(d.get("pecos_enrolled"))
    )


def _supplier(d: Any) -> Supplier:
    _record(d, _SUPPLIER_KEYS)
    g = d.get
    enrollments = g("enrollments")
    if enrollments is not None:
        out = []
        for e in _items(enrollments, _ITEMS):
            _record(e, _ENROLLMENT_KEYS)
            out.append(
                Enrollment(
                    payer=_non_blank(e.get("payer")),
                    status=_non_blank(e.get("status")),
                    effective=_date(e.get("effective")),
                    end=_opt_date(e.get("end")),
                )
            )
        enrollments = tuple(out)
    accreditation = g("accreditation")
    if accreditation is not None:
        _record(accreditation, frozenset({"status", "expires"}))
        accreditation = Accreditation(
            status=_choice(accreditation.get("status"), _ACCREDITATION),
            expires=_opt_date(accreditation.get("expires")),
        )
    bond = g("surety_bond")
    if bond is not None:
        _record(bond, frozenset({"amount", "expires"}))
        bond = SuretyBond(amount=_dec(bond.get("amount")), expires=_opt_date(bond.get("expires")))
    license_ = g("pharmacy_license")
    if license_ is not None:
        _record(license_, frozenset({"state", "expires", "status"}))
        license_ = PharmacyLicense(
            state=_non_blank(license_.get("state")),
            expires=_opt_date(license_.get("expires")),
            status=_choice(license_.get("status", "licensed"), _LICENSE),
        )
    return Supplier(
        npi=_string(g("npi")),
        taxonomy=_opt_string(g("taxonomy")),
        ptan=_opt_string(g("ptan")),
        enrollments=enrollments,
        accreditation=accreditation,
        surety_bond=bond,
        pharmacy_license=license_,
    )


def _line(d: Any) -> ClaimLine:
    _record(d, _LINE_KEYS)
    g = d.get
    dispensed = g("dispensed")
    if dispensed is not None:
        _record(dispensed, _DISPENSED_KEYS)
        unit = _choice(dispensed.get("unit"), _UNITS)
        concentration = dispensed.get("concentration_mg_per_ml")
        if concentration is not None:
            concentration = _pos_dec(concentration)
            if unit != "mL":
                raise Refused("a concentration only applies to mL")
        dispensed = Dispensed(
            quantity=_pos_dec(dispensed.get("quantity")),
            unit=unit,
            concentration_mg_per_ml=concentration,
        )
    order = g("order")
    if order is not None:
        _record(order, frozenset({"dose_mg", "times_per_day"}))
        order = Order(
            dose_mg=_pos_dec(order.get("dose_mg")),
            times_per_day=_positive_count(order.get("times_per_day")),
        )
    compound = g("compound")
    if compound is not None:
        _record(compound, frozenset({"bulk_ingredients", "replicates_commercial_product"}))
        compound = Compound(
            bulk_ingredients=_opt_bool(compound.get("bulk_ingredients")),
            replicates_commercial_product=_opt_bool(compound.get("replicates_commercial_product")),
        )
    modifiers = g("modifiers", ())
    modifiers = tuple([_string(m) for m in _items(modifiers, _ITEMS)])
    pointers = tuple(_items(g("diagnosis_pointers", ()), _POINTERS))
    for p in pointers:
        if type(p) is not int or not -_COUNT <= p <= _COUNT:
            raise Refused("not a diagnosis pointer")
    attachments = tuple([_choice(a, _ATTACHMENTS) for a in _items(g("attachments", ()), _ITEMS)])
    days = g("days_supply")
    quantity = g("ndc_quantity")
    charge = g("charge")
    _no_extensions(d)
    return ClaimLine(
        hcpcs=_string(g("hcpcs")),
        units=_dec(g("units")),
        modifiers=modifiers,
        date_of_service=_opt_date(g("date_of_service")),
        place_of_service=_opt_string(g("place_of_service")),
        dispensed=dispensed,
        days_supply=None if days is None else _positive_count(days),
        order=order,
        ndc=_opt_string(g("ndc")),
        ndc_quantity=None if quantity is None else _pos_dec(quantity),
        ndc_unit=_opt_string(g("ndc_unit")),
        diagnosis_pointers=pointers,
        charge=None if charge is None else _dec(charge),
        note=_opt_string(g("note")),
        attachments=attachments,
        compound=compound,
        date_of_service_end=_opt_date(g("date_of_service_end")),
        unit_basis=_opt_string(g("unit_basis")),
        ordering_provider=_provider(g("ordering_provider")),
        referring_provider=_provider(g("referring_provider")),
        prescription_number=_opt_string(g("prescription_number")),
    )


def _claim(d: Any) -> Claim:
    _record(d, _CLAIM_KEYS)
    g = d.get
    payer = g("payer")
    if type(payer) is not str or payer not in PAYERS:  # the known payers are all non-blank
        raise Refused("unknown payer")
    lines = g("lines")
    if (type(lines) is not list and type(lines) is not tuple) or not 0 < len(lines) <= _LINES:
        raise Refused("lines: 1 to 50 required")
    patient = g("patient")
    if patient is not None:
        _record(patient, frozenset({"snf_part_a_stay", "inpatient_stay"}))
        patient = Patient(
            snf_part_a_stay=_opt_bool(patient.get("snf_part_a_stay")),
            inpatient_stay=_opt_bool(patient.get("inpatient_stay")),
        )
    _no_extensions(d)
    return Claim(
        id=_non_blank(g("id")),
        payer=payer,
        supplier=_supplier(g("supplier")),
        lines=tuple([_line(line) for line in lines]),
        line_of_business=_choice(g("line_of_business", "commercial"), _BUSINESS),
        date_of_service=_opt_date(g("date_of_service")),
        place_of_service=_opt_string(g("place_of_service")),
        diagnoses=tuple([_string(x) for x in _items(g("diagnoses", ()), _DIAGNOSES)]),
        patient=patient,
        ordering_provider=_provider(g("ordering_provider")),
        frequency=_opt_string(g("frequency")),
        note=_opt_string(g("note")),
        attachments=tuple([_choice(a, _ATTACHMENTS) for a in _items(g("attachments", ()), _ITEMS)]),
    )


# ------------------------------------------------------------------ anything but plain JSON
# A claim has at most five levels of containers (claim, lines, line, dispensed...); deeper data
# is refused, which also bounds this copy whatever the input's nesting.
_DEEPEST = 6


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as exact built-in values, copied through the base types' own methods."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None or kind is float:
        return value
    if depth > _DEEPEST:
        raise Refused("nested deeper than a claim")
    if issubclass(kind, dict):
        pairs = list(dict.items(value)) if dict.__len__(value) <= _ITEMS else None
    elif issubclass(kind, list | tuple):
        # Any list over 100 items is refused (Limits.max_list_items is the largest list limit).
        items = (
            list.copy(value) if issubclass(kind, list) else tuple.__getitem__(value, slice(None))
        )
        if len(items) > _ITEMS:
            raise Refused("too many items")
        return [_plain(v, depth + 1) for v in items]
    elif issubclass(kind, str):
        return str.__str__(value)
    elif issubclass(kind, bool):
        return value
    elif issubclass(kind, int):
        return int.__int__(value)
    elif issubclass(kind, Decimal):
        return value if kind is Decimal else Decimal(value)
    elif issubclass(kind, dt.datetime):
        raise Refused("a datetime is not a date")
    elif issubclass(kind, dt.date):
        return dt.date.fromordinal(dt.date.toordinal(value))
    else:
        try:
            mapping = issubclass(kind, Mapping)
        except Exception:
            mapping = False
        if not mapping:
            return value  # refused where it stands (a float, bytes, a set...)
        try:
            keys = list(itertools.islice(iter(value), _ITEMS + 1))
            pairs = [(k, value[k]) for k in keys] if len(keys) <= _ITEMS else None
        except Exception:
            raise Refused("an object could not be read") from None
    if pairs is None:
        raise Refused("too many keys")
    out = {}
    for key, item in pairs:
        if type(key) is not str:
            if not issubclass(type(key), str):
                raise Refused("a key is not a string")
            key = str.__str__(key)
        if key in out:
            raise Refused("duplicate key")
        out[key] = _plain(item, depth + 1)
    return out


# ---------------------------------------------------------------------------------- entry


def structure(data: Any) -> Claim:
    """``data`` (decoded JSON, or any mapping) as a ``Claim``, or :class:`Refused`."""
    try:
        return _claim(data)
    except Refused:
        plain = _plain(data)  # the common refusal re-reads plain data: refused again below
        return _claim(plain)


def check(data: Any) -> Result:
    """``floor.check`` of the structured claim: dict in, Result out."""
    return floor.check(structure(data))


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise Refused("duplicate key")
    return out


def loads(text: str | bytes) -> Any:
    """JSON text decoded as the project's reader decodes a record: duplicate keys refused."""
    try:
        return json.loads(text, object_pairs_hook=_unique)
    except (ValueError, RecursionError) as exc:  # bad JSON, a 5,000-digit integer, deep nesting
        raise Refused(f"not a JSON claim: {exc}") from None


def check_json(text: str | bytes) -> Result:
    """JSON text in, Result out."""
    return check(loads(text))
