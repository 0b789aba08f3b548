"""The fact schema: which names a ruleset condition may read, and their types.

Conditions read *facts*. Five base facts come from the claim itself (``claim``, ``line``,
``supplier``, ``patient``, ``ordering_provider``); rulesets declare *derived* facts on top (see
:mod:`hcpcs_rules.compile`). The base schema is read off the attrs classes of
:mod:`hcpcs_rules.model`, so the claim model and what rules may read can never drift apart.

Types are small strings, enough for the checks a ruleset author needs ("cannot compare date with
str"): ``str int decimal bool date null any``, ``list[T]``, ``set[T]`` (a literal set of
constants) and record names (``Dispensed``, ``Enrollment``...).

``claim.extensions`` and ``line.extensions`` are records too (``ClaimExtensions``,
``LineExtensions``), empty here: their fields are what the rulesets declare
(``[ruleset.extensions.claim]``), so the compiler gives each ruleset's expressions a copy of
:data:`RECORDS` holding the fields that ruleset may read (:func:`records_with_extensions`).
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from decimal import Decimal
from typing import Literal, get_args, get_origin

import attrs

from . import model

__all__ = [
    "BASE_ROOTS",
    "EXTENSION_RECORDS",
    "EXTENSION_TYPES",
    "RECORDS",
    "comparable",
    "is_list",
    "item_type",
    "numeric",
    "records_with_extensions",
    "type_of_annotation",
]

_SCALARS: dict[object, str] = {
    str: "str",
    model.NonBlankStr: "str",
    model.PayerName: "str",
    int: "int",
    model.PositiveInt: "int",
    Decimal: "decimal",
    model.PositiveDecimal: "decimal",
    bool: "bool",
    dt.date: "date",
}


def type_of_annotation(annotation: object) -> str:
    """Map a model annotation to a schema type string."""
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin = get_origin(annotation)
    if origin is Literal:
        return "str"
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return type_of_annotation(args[0])
    if origin is tuple:
        return f"list[{type_of_annotation(get_args(annotation)[0])}]"
    if isinstance(annotation, type) and attrs.has(annotation):
        return annotation.__name__
    raise TypeError(f"no schema type for {annotation!r}")  # pragma: no cover - model bug


#: The record type of ``extensions`` on the claim and on a line, by where it is.
EXTENSION_RECORDS = {"claim": "ClaimExtensions", "line": "LineExtensions"}
#: The types an extension field may be declared with: the claim's own scalar types, and lists
#: of them (read from JSON arrays, like ``line.modifiers``).
EXTENSION_TYPES = (
    "str",
    "int",
    "decimal",
    "bool",
    "date",
    "list[str]",
    "list[int]",
    "list[decimal]",
    "list[date]",
)


def _record_fields(cls: type) -> dict[str, str]:
    hints = typing.get_type_hints(cls)
    out = {}
    for f in attrs.fields(cls):
        if hints[f.name] is model.Extensions:
            out[f.name] = EXTENSION_RECORDS["claim" if cls is model.Claim else "line"]
        else:
            out[f.name] = type_of_annotation(hints[f.name])
    return out


#: Record types reachable from the base facts, by name: ``{"Dispensed": {"quantity": ...}}``.
RECORDS: dict[str, dict[str, str]] = {
    cls.__name__: _record_fields(cls)
    for cls in (
        model.Dispensed,
        model.Order,
        model.Compound,
        model.Enrollment,
        model.Accreditation,
        model.SuretyBond,
        model.PharmacyLicense,
        # The claim's ordering provider is a root (``ordering_provider.npi``); a line's own
        # (837 loop 2420E) is a record of the line: ``line.ordering_provider.npi``.
        model.OrderingProvider,
    )
}

RECORDS.update({name: {} for name in EXTENSION_RECORDS.values()})


def records_with_extensions(
    claim: typing.Mapping[str, str], line: typing.Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """:data:`RECORDS` with these extension fields (name -> type) declared."""
    return {
        **RECORDS,
        EXTENSION_RECORDS["claim"]: dict(claim),
        EXTENSION_RECORDS["line"]: dict(line),
    }


_claim_fields = _record_fields(model.Claim)
# Lines, supplier, patient and ordering provider are facts of their own, not claim fields:
# a condition says `supplier.npi`, never `claim.supplier.npi`, so there is one path to each value.
for _name in ("lines", "supplier", "patient", "ordering_provider"):
    del _claim_fields[_name]

#: Base fact roots and their fields. ``line.number`` is the 1-based line number.
BASE_ROOTS: dict[str, dict[str, str]] = {
    "claim": _claim_fields,
    "line": {"number": "int", **_record_fields(model.ClaimLine)},
    "supplier": _record_fields(model.Supplier),
    "patient": _record_fields(model.Patient),
    "ordering_provider": _record_fields(model.OrderingProvider),
}


def is_list(type_: str) -> bool:
    return type_.startswith(("list[", "set["))


def item_type(type_: str) -> str:
    return type_[type_.index("[") + 1 : -1]


def numeric(type_: str) -> bool:
    return type_ in ("int", "decimal")


def comparable(left: str, right: str) -> bool:
    """Whether ``left == right`` can ever be true (``null`` and ``any`` compare with anything)."""
    if "null" in (left, right) or "any" in (left, right):
        return True
    if numeric(left) and numeric(right):
        return True
    if is_list(left) and is_list(right):
        return comparable(item_type(left), item_type(right))
    return left == right
