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
_UNIT_BASIS = frozenset({"UN", "MJ"})
_FREQUENCY = frozenset("0123456789")
_ZERO = Decimal(0)

# Canonical decimal text: Decimal(text) is already the claim's value (no sign but "-", no
# leading or trailing zero to drop, no "-0", within the digit limits).
_CANONICAL = re.compile(
    r"-?(?:[1-9][0-9]{0,11}(?:\.[0-9]{0,5}[1-9])?|0\.[0-9]{0,5}[1-9])\Z|0\Z"
).match
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?\Z")
_POSITIVE = re.compile(r"(?:[1-9][0-9]{0,11}(?:\.[0-9]{0,5}[1-9])?|0\.[0-9]{0,5}[1-9])\Z").match
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z").match
_iso = dt.date.fromisoformat

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
_ACCREDITATION_KEYS = frozenset({"status", "expires"})
_BOND_KEYS = frozenset({"amount", "expires"})
_LICENSE_KEYS = frozenset({"state", "expires", "status"})
_ORDER_KEYS = frozenset({"dose_mg", "times_per_day"})
_COMPOUND_KEYS = frozenset({"bulk_ingredients", "replicates_commercial_product"})
_PATIENT_KEYS = frozenset({"snf_part_a_stay", "inpatient_stay"})


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
    if type(v) is str and _DATE(v):
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


def _opt_choice(v: Any, allowed: frozenset[str]) -> str | None:
    return None if v is None else _choice(v, allowed)


def _range_end(v: Any, first: Any) -> Any:
    """A line's last date of service: only with the line's own first date, and not before it."""
    end = _opt_date(v)
    if end is not None:
        start = None if first is None else _opt_date(first)
        if start is None or end < start:
            raise Refused("date_of_service_end: no first date on the line, or before it")
    return end


def _choice(v: Any, allowed: frozenset[str]) -> str:
    if type(v) is str and v in allowed:
        return v
    raise Refused("not one of the allowed values")


def _items(v: Any, most: int) -> list[Any] | tuple[Any, ...]:
    if (type(v) is list or type(v) is tuple) and len(v) <= most:
        return v
    raise Refused("not a list, or too long")


def _refuse() -> Any:
    raise Refused("not one of the allowed values, or out of range")


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
# The hot records (claim, line, supplier) test each field's common case inline, as a
# hand-writer chasing speed would: ``v if type(v) is str and len(v) <= _STRING else _string(v)``
# costs no call when the value is fine; the helper only runs to refuse (or on an odd value).
# A ValueError (Refused, or fromisoformat's on "2026-02-30") is a refusal.


def _provider(d: Any) -> OrderingProvider | None:
    if d is None:
        return None
    _record(d, _PROVIDER_KEYS)
    return OrderingProvider(
        npi=_string(d.get("npi")), pecos_enrolled=_opt_bool(d.get("pecos_enrolled"))
    )


def _enrollments(v: Any) -> tuple[Enrollment, ...]:
    out = []
    for e in _items(v, _ITEMS):
        _record(e, _ENROLLMENT_KEYS)
        out.append(
            Enrollment(
                payer=_non_blank(e.get("payer")),
                status=_non_blank(e.get("status")),
                effective=_date(e.get("effective")),
                end=_opt_date(e.get("end")),
            )
        )
    return tuple(out)


def _supplier(d: Any) -> Supplier:
    _record(d, _SUPPLIER_KEYS)
    g = d.get
    npi = g("npi")
    taxonomy = g("taxonomy")
    ptan = g("ptan")
    enrollments = g("enrollments")
    accreditation = g("accreditation")
    bond = g("surety_bond")
    license_ = g("pharmacy_license")
    if accreditation is not None:
        _record(accreditation, _ACCREDITATION_KEYS)
        status = accreditation.get("status")
        expires = accreditation.get("expires")
        accreditation = Accreditation(
            status=status if type(status) is str and status in _ACCREDITATION else _refuse(),
            expires=None
            if expires is None
            else (_iso(expires) if type(expires) is str and _DATE(expires) else _date(expires)),
        )
    if bond is not None:
        _record(bond, _BOND_KEYS)
        amount = bond.get("amount")
        expires = bond.get("expires")
        bond = SuretyBond(
            amount=Decimal(amount) if type(amount) is str and _CANONICAL(amount) else _dec(amount),
            expires=None
            if expires is None
            else (_iso(expires) if type(expires) is str and _DATE(expires) else _date(expires)),
        )
    if license_ is not None:
        _record(license_, _LICENSE_KEYS)
        state = license_.get("state")
        expires = license_.get("expires")
        status = license_.get("status", "licensed")
        license_ = PharmacyLicense(
            state=state
            if type(state) is str and len(state) <= _STRING and state.strip()
            else _non_blank(state),
            expires=None
            if expires is None
            else (_iso(expires) if type(expires) is str and _DATE(expires) else _date(expires)),
            status=status if type(status) is str and status in _LICENSE else _refuse(),
        )
    return Supplier(
        npi=npi if type(npi) is str and len(npi) <= _STRING else _string(npi),
        taxonomy=taxonomy
        if taxonomy is None or (type(taxonomy) is str and len(taxonomy) <= _STRING)
        else _string(taxonomy),
        ptan=ptan
        if ptan is None or (type(ptan) is str and len(ptan) <= _STRING)
        else _string(ptan),
        enrollments=None if enrollments is None else _enrollments(enrollments),
        accreditation=accreditation,
        surety_bond=bond,
        pharmacy_license=license_,
    )


def _dispensed(d: Any) -> Dispensed:
    _record(d, _DISPENSED_KEYS)
    quantity = d.get("quantity")
    unit = d.get("unit")
    concentration = d.get("concentration_mg_per_ml")
    if type(unit) is not str or unit not in _UNITS:
        raise Refused("not a dispensed unit")
    if concentration is not None:
        if unit != "mL":
            raise Refused("a concentration only applies to mL")
        concentration = (
            Decimal(concentration)
            if type(concentration) is str and _POSITIVE(concentration)
            else _pos_dec(concentration)
        )
    return Dispensed(
        quantity=Decimal(quantity)
        if type(quantity) is str and _POSITIVE(quantity)
        else _pos_dec(quantity),
        unit=unit,
        concentration_mg_per_ml=concentration,
    )


def _order(d: Any) -> Order:
    _record(d, _ORDER_KEYS)
    dose = d.get("dose_mg")
    times = d.get("times_per_day")
    return Order(
        dose_mg=Decimal(dose) if type(dose) is str and _POSITIVE(dose) else _pos_dec(dose),
        times_per_day=times if type(times) is int and 0 < times <= _COUNT else _refuse(),
    )


def _compound(d: Any) -> Compound:
    _record(d, _COMPOUND_KEYS)
    return Compound(
        bulk_ingredients=_opt_bool(d.get("bulk_ingredients")),
        replicates_commercial_product=_opt_bool(d.get("replicates_commercial_product")),
    )


def _line(d: Any) -> ClaimLine:
    _record(d, _LINE_KEYS)
    g = d.get
    hcpcs = g("hcpcs")
    units = g("units")
    modifiers = g("modifiers", ())
    dos = g("date_of_service")
    pos = g("place_of_service")
    dispensed = g("dispensed")
    days = g("days_supply")
    order = g("order")
    ndc = g("ndc")
    quantity = g("ndc_quantity")
    ndc_unit = g("ndc_unit")
    pointers = g("diagnosis_pointers", ())
    charge = g("charge")
    note = g("note")
    attachments = g("attachments", ())
    compound = g("compound")
    if "extensions" in d:
        _no_extensions(d)
    if (type(modifiers) is not list and type(modifiers) is not tuple) or len(modifiers) > _ITEMS:
        raise Refused("modifiers: not a list, or too long")
    for m in modifiers:
        if type(m) is not str or len(m) > _STRING:
            raise Refused("a modifier is not a string")
    if (type(pointers) is not list and type(pointers) is not tuple) or len(pointers) > _POINTERS:
        raise Refused("diagnosis_pointers: not a list, or too long")
    for p in pointers:
        if type(p) is not int or not -_COUNT <= p <= _COUNT:
            raise Refused("not a diagnosis pointer")
    if attachments:
        attachments = tuple([_choice(a, _ATTACHMENTS) for a in _items(attachments, _ITEMS)])
    elif type(attachments) is not list and type(attachments) is not tuple:
        raise Refused("attachments: not a list")
    return ClaimLine(
        hcpcs=hcpcs if type(hcpcs) is str and len(hcpcs) <= _STRING else _string(hcpcs),
        units=Decimal(units) if type(units) is str and _CANONICAL(units) else _dec(units),
        modifiers=tuple(modifiers),
        date_of_service=None
        if dos is None
        else (_iso(dos) if type(dos) is str and _DATE(dos) else _date(dos)),
        place_of_service=pos
        if pos is None or (type(pos) is str and len(pos) <= _STRING)
        else _string(pos),
        dispensed=None if dispensed is None else _dispensed(dispensed),
        days_supply=days
        if days is None or (type(days) is int and 0 < days <= _COUNT)
        else _positive_count(days),
        order=None if order is None else _order(order),
        ndc=ndc if ndc is None or (type(ndc) is str and len(ndc) <= _STRING) else _string(ndc),
        ndc_quantity=None
        if quantity is None
        else (
            Decimal(quantity)
            if type(quantity) is str and _POSITIVE(quantity)
            else _pos_dec(quantity)
        ),
        ndc_unit=ndc_unit
        if ndc_unit is None or (type(ndc_unit) is str and len(ndc_unit) <= _STRING)
        else _string(ndc_unit),
        diagnosis_pointers=tuple(pointers),
        charge=None
        if charge is None
        else (Decimal(charge) if type(charge) is str and _CANONICAL(charge) else _dec(charge)),
        note=note
        if note is None or (type(note) is str and len(note) <= _STRING)
        else _string(note),
        attachments=tuple(attachments),
        compound=None if compound is None else _compound(compound),
        date_of_service_end=_range_end(g("date_of_service_end"), dos),
        unit_basis=_opt_choice(g("unit_basis"), _UNIT_BASIS),
        ordering_provider=_provider(g("ordering_provider")),
        referring_provider=_provider(g("referring_provider")),
        prescription_number=_opt_string(g("prescription_number")),
    )


def _claim(d: Any) -> Claim:
    _record(d, _CLAIM_KEYS)
    g = d.get
    claim_id = g("id")
    payer = g("payer")
    lines = g("lines")
    business = g("line_of_business", "commercial")
    dos = g("date_of_service")
    pos = g("place_of_service")
    diagnoses = g("diagnoses", ())
    patient = g("patient")
    frequency = g("frequency")
    note = g("note")
    attachments = g("attachments", ())
    if type(payer) is not str or payer not in PAYERS:  # the known payers are all non-blank
        raise Refused("unknown payer")
    if (type(lines) is not list and type(lines) is not tuple) or not 0 < len(lines) <= _LINES:
        raise Refused("lines: 1 to 50 required")
    if (type(diagnoses) is not list and type(diagnoses) is not tuple) or len(
        diagnoses
    ) > _DIAGNOSES:
        raise Refused("diagnoses: not a list, or too long")
    for x in diagnoses:
        if type(x) is not str or len(x) > _STRING:
            raise Refused("a diagnosis is not a string")
    if patient is not None:
        _record(patient, _PATIENT_KEYS)
        patient = Patient(
            snf_part_a_stay=_opt_bool(patient.get("snf_part_a_stay")),
            inpatient_stay=_opt_bool(patient.get("inpatient_stay")),
        )
    if "extensions" in d:
        _no_extensions(d)
    return Claim(
        id=claim_id
        if type(claim_id) is str and len(claim_id) <= _STRING and claim_id.strip()
        else _non_blank(claim_id),
        payer=payer,
        supplier=_supplier(g("supplier")),
        lines=tuple([_line(line) for line in lines]),
        line_of_business=business if type(business) is str and business in _BUSINESS else _refuse(),
        date_of_service=None
        if dos is None
        else (_iso(dos) if type(dos) is str and _DATE(dos) else _date(dos)),
        place_of_service=pos
        if pos is None or (type(pos) is str and len(pos) <= _STRING)
        else _string(pos),
        diagnoses=tuple(diagnoses),
        patient=patient,
        ordering_provider=_provider(g("ordering_provider")),
        frequency=_opt_choice(frequency, _FREQUENCY),
        note=_opt_string(note),
        attachments=tuple([_choice(a, _ATTACHMENTS) for a in _items(attachments, _ITEMS)]),
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
    except ValueError:  # Refused, or an impossible date
        pass
    try:
        return _claim(_plain(data))  # plain data is refused again, the same way
    except Refused:
        raise
    except ValueError as exc:
        raise Refused(str(exc)) from None


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
