"""Untrusted JSON-like data <-> the typed claim and result of :mod:`hcpcs_rules.model`.

This module is the claim boundary: whatever a caller passes in, the rest of the library only ever
sees a :class:`~hcpcs_rules.model.Claim` made of exact built-in values (``str``, ``int``,
``bool``, ``Decimal``, ``date``, tuples), within :class:`~hcpcs_rules.limits.Limits`. It is strict
on purpose, because a claims library that guesses is wrong quietly:

- quantities and money become ``Decimal`` from decimal strings in ASCII digits or integers only (a
  float, a bool, a word, ``"NaN"`` or ``"٢٤٠"`` is an error: ``0.1`` has no exact binary value, and
  a claim is ASCII data); trailing fractional zeros are dropped (``"240.000"`` is 240);
- dates are ISO ``YYYY-MM-DD`` strings (or ``datetime.date``, but not ``datetime``);
- strings must be strings (an integer NPI is an error, not silently turned into text);
- unknown keys are errors (they are usually typos), required keys are enforced, keys are strings;
- sizes are bounded (lines, list items, string and number lengths) and checked on the raw value
  before anything is converted, so a huge input costs no more than reading its size.

How it reads: one pass directed by the claim's *shape* (the attrs classes of ``model.py``), not by
the input. It descends only where the shape has an object or a list, so its depth is the model's
(five levels) whatever the input's nesting; a value of the wrong type is reported without being
looked into. Subclasses of ``str``, ``int``, ``Decimal``, ``date``, ``dict``, ``list`` and
``tuple`` are copied into the exact built-in type through the base type's own C methods
(``str.__str__(value)``...), so no method a subclass overrides is ever called; other mappings are
read once, and any exception they raise is a problem at their path. Every problem is collected and
raised once as :class:`~hcpcs_rules.errors.ClaimError` with a JSON path per problem. Whether the
claim is *right* (valid NPI, whole units...) is not checked here: that is what rules are for, and
they answer with findings, not exceptions.

A plain ``dict`` is read first by a *fast path*: the same reading, generated as straight-line
Python per (``Limits``, ``ClaimSchema``), that accepts only what it is sure of and gives up on
anything else; the detailed reader then reads the claim from the start, so what is accepted, the
claim built and every ClaimError are exactly the detailed reader's (see "the fast path" below).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
import json
import re
import typing
import weakref
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import NoneType, UnionType
from typing import Any, Literal

import attrs

from . import model
from .errors import ClaimError, did_you_mean
from .limits import DEFAULT_LIMITS, Limits
from .model import Claim, Result

__all__ = ["ClaimSchema", "parse_claim", "unstructure_claim", "unstructure_result"]

# ASCII only: `\d` and Decimal() also accept Arabic-Indic, full-width and other digits.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_ASCII_SPACE = " \t\r\n"
# A key printed as `.name` in a path; anything else is printed quoted and escaped.
_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
# Known keys are short; longer ones are unknown without hashing or comparing them.
_LONGEST_KEY = 64
_SHOWN_KEY = 40


class _InputProblem(ValueError):
    """A reader's complaint about one value; the reader above it adds the path."""


# ------------------------------------------------------------------ describing any value safely
# Messages quote the value at fault, but the value may be 50 MB long, an integer repr() refuses
# (over 4,300 digits), or an object whose __repr__ raises. Only exact built-in scalars are quoted,
# and only their first characters; anything else is named by its type.

_type_name_of = type.__dict__["__name__"].__get__  # not type(x).__name__: a metaclass may hide it


def _class_name(kind: type) -> str:
    name = _type_name_of(kind)
    return name if len(name) <= 40 else name[:37] + "..."


_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),  # before int: bool is an int subclass
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (bytes, "bytes"),
    (list, "a list"),
    (tuple, "a list"),
    (dict, "an object"),
    (NoneType, "null"),
    (dt.datetime, "a datetime"),
    (dt.date, "a date"),
    (Decimal, "a Decimal"),
    (set, "a set"),
    (frozenset, "a set"),
)


def _type_name(value: Any) -> str:
    kind = type(value)
    for base, name in _TYPE_NAMES:
        if issubclass(kind, base):
            return name
    return _class_name(kind)


def _describe(value: Any) -> str:
    kind = type(value)
    # Subclasses of the scalar types are shown through the base type's own methods.
    if issubclass(kind, str):
        text = str.__str__(value)
        return (
            repr(text) if len(text) <= 60 else repr(text[:50]) + f"... ({len(text):,} characters)"
        )
    if issubclass(kind, bool) or kind is NoneType:
        return repr(value)
    if issubclass(kind, int):
        if int.bit_length(value) <= 200:
            return int.__repr__(value)
        return f"an integer of about {int(int.bit_length(value) * 0.30103):,} digits"
    if issubclass(kind, float):
        return float.__repr__(value)
    if issubclass(kind, dt.datetime):
        # Not repr(): that would call the tzinfo's __repr__.
        return f"a datetime on {dt.date.fromordinal(dt.date.toordinal(value)).isoformat()}"
    if issubclass(kind, dt.date):
        return repr(dt.date.fromordinal(dt.date.toordinal(value)))
    if issubclass(kind, Decimal):
        number = value if kind is Decimal else Decimal(value)
        if number.is_nan():
            return "Decimal('NaN')"
        if number.is_infinite():
            return f"Decimal('{'-' if number.is_signed() else ''}Infinity')"
        try:
            return repr(_SHORT.plus(number))  # exact when it has at most 24 digits
        except decimal.Inexact:
            return "a Decimal of more than 24 digits"
    if issubclass(kind, list | tuple):
        return "[...]"
    if issubclass(kind, dict):
        return "{...}"
    return f"<{_class_name(kind)}>"


_SHORT = decimal.Context(
    prec=24, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[decimal.Inexact]
)

# ---------------------------------------------------------------------------- scalar readers
# Each takes the raw value and the limits, and returns an exact built-in value or raises
# _InputProblem. Subclasses are copied through the base type's own method, never their own.


def _exact_str(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return value
    if issubclass(kind, str):
        return str.__str__(value)
    return None


def _read_str(value: Any, limits: Limits) -> str:
    text = _exact_str(value)
    if text is None:
        raise _InputProblem(f"not a string: {_describe(value)} is {_type_name(value)}")
    if len(text) > limits.max_string_length:
        raise _InputProblem(
            f"too long: {len(text):,} characters (at most {limits.max_string_length:,}; "
            "Limits.max_string_length)"
        )
    return text


def _read_non_blank(value: Any, limits: Limits) -> str:
    text = _read_str(value, limits)
    if not text.strip():
        raise _InputProblem("must not be blank")
    return text


# Rules scope by payer overlay and program; a payer may not take a program's name.
_NOT_PAYERS = frozenset({"medicare_advantage", "commercial"})


def _read_payer(value: Any, limits: Limits) -> str:
    payer = _read_non_blank(value, limits)
    if payer in _NOT_PAYERS:
        raise _InputProblem(
            f"{payer!r} is a line of business, not a payer: give the payer and set line_of_business"
        )
    return payer


def _literal_reader(allowed: tuple[str, ...]) -> Callable[[Any, Limits], str]:
    options = frozenset(allowed)
    listed = ", ".join(repr(a) for a in allowed)

    def read(value: Any, limits: Limits) -> str:
        text = _exact_str(value)
        if text is None or text not in options:
            raise _InputProblem(f"not one of {listed}: {_describe(value)}")
        return text

    read.options = options  # type: ignore[attr-defined]  # what the fast path tests inline
    return read


def _read_bool(value: Any, _limits: Limits) -> bool:
    if type(value) is not bool:
        raise _InputProblem(f"not a boolean: {_describe(value)} is {_type_name(value)}")
    return value


def _read_int(value: Any, limits: Limits) -> int:
    kind = type(value)
    if kind is not int:
        if kind is bool or not issubclass(kind, int):
            raise _InputProblem(f"not an integer: {_describe(value)} is {_type_name(value)}")
        value = int.__int__(value)
    if not -limits.max_count <= value <= limits.max_count:
        raise _InputProblem(
            f"out of range: {_describe(value)} (at most {limits.max_count:,}; Limits.max_count)"
        )
    return value


def _read_positive_int(value: Any, limits: Limits) -> int:
    number = _read_int(value, limits)
    if number <= 0:
        raise _InputProblem(f"must be a whole number of at least 1, got {number}")
    return number


_ZERO = Decimal(0)


@functools.lru_cache(maxsize=16)
def _digits_context(digits: int) -> decimal.Context:
    # Rounding to `digits` significant digits is exact unless more digits carry a value.
    return decimal.Context(
        prec=digits, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[decimal.Inexact]
    )


def _read_decimal(value: Any, limits: Limits) -> Decimal:
    kind = type(value)
    if kind is bool or issubclass(kind, float):
        raise _InputProblem(
            f"not a decimal number: {_describe(value)} is {_type_name(value)}; "
            'give a decimal string such as "0.1" (binary floats are inexact)'
        )
    if issubclass(kind, int):
        whole = value if kind is int else int.__int__(value)
        if whole.bit_length() > 4 * limits.max_integer_digits:  # surely too large: skip the power
            raise _out_of_range(whole, limits)
        if abs(whole) >= 10**limits.max_integer_digits:
            raise _out_of_range(whole, limits)
        return Decimal(whole)
    if issubclass(kind, Decimal):
        # Decimal(subclass) copies the digits without calling any of the subclass's methods.
        number = value if kind is Decimal else Decimal(value)
        if not number.is_finite():
            raise _InputProblem(f"not a decimal number: {_describe(number)}")
        return _bounded(number, number, limits)
    text = _exact_str(value)
    if text is None:
        raise _InputProblem(f"not a decimal number: {_describe(value)} is {_type_name(value)}")
    # The length first: nothing below may ever run on a megabyte of digits.
    if len(text) > limits.max_number_length:
        raise _InputProblem(
            f"too long for a number: {len(text):,} characters (at most "
            f"{limits.max_number_length}; Limits.max_number_length)"
        )
    stripped = text.strip(_ASCII_SPACE)
    if not _DECIMAL_TEXT.match(stripped):
        raise _InputProblem(f"not a decimal number: {_describe(text)}")
    # Bounded on the text itself: the digits that count are known before any conversion.
    sign = "-" if stripped[0] == "-" else ""
    whole, _, fraction = stripped.lstrip("+-").partition(".")
    whole = whole.lstrip("0")
    fraction = fraction.rstrip("0")  # "240.000" is 240, "0.00000000" is 0
    if len(whole) > limits.max_integer_digits:
        raise _out_of_range(text, limits)
    if len(fraction) > limits.max_decimal_places:
        raise _too_precise(text, limits)
    if not whole and not fraction:
        return _ZERO
    return Decimal(f"{sign}{whole or '0'}.{fraction}" if fraction else sign + whole)


def _out_of_range(shown: Any, limits: Limits) -> _InputProblem:
    return _InputProblem(
        f"out of range: {_describe(shown)} (at most {limits.max_integer_digits} digits before "
        "the decimal point; Limits.max_integer_digits)"
    )


def _too_precise(shown: Any, limits: Limits) -> _InputProblem:
    return _InputProblem(
        f"too precise: {_describe(shown)} (at most {limits.max_decimal_places} decimal places; "
        "Limits.max_decimal_places)"
    )


def _bounded(number: Decimal, shown: Any, limits: Limits) -> Decimal:
    """``number`` within the digit limits, without trailing fractional zeros ("2.50" -> 2.5).

    Only comparisons and one rounding that must be exact run on the number as given, so a Decimal
    of a million digits costs no more than its size; the digit tuple is read once it is short.
    """
    if number.is_zero():
        return _ZERO  # "0.00000000" is zero, "-0" too
    magnitude = number.adjusted()  # the exponent of the leading digit
    if magnitude >= limits.max_integer_digits:
        raise _out_of_range(shown, limits)
    if magnitude < -limits.max_decimal_places:
        raise _too_precise(shown, limits)
    try:
        number = _digits_context(limits.max_integer_digits + limits.max_decimal_places).plus(number)
    except decimal.Inexact:
        raise _too_precise(shown, limits) from None
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    end = len(digits)
    while exponent < 0 and digits[end - 1] == 0:
        end -= 1
        exponent += 1
    if -exponent > limits.max_decimal_places:
        raise _too_precise(shown, limits)
    return number if end == len(digits) else Decimal((sign, digits[:end], exponent))


def _read_positive_decimal(value: Any, limits: Limits) -> Decimal:
    number = _read_decimal(value, limits)
    if number <= 0:
        raise _InputProblem(f"must be greater than zero, got {_describe(value)}")
    return number


def _read_date(value: Any, _limits: Limits) -> dt.date:
    kind = type(value)
    if kind is dt.date:
        return value
    if issubclass(kind, dt.datetime):
        raise _InputProblem(f"not a date: {_describe(value)} has a time of day")
    if issubclass(kind, dt.date):
        return dt.date.fromordinal(dt.date.toordinal(value))  # the base's methods: an exact date
    text = _exact_str(value)
    if text is not None and len(text) == 10 and _ISO_DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise _InputProblem(f"not an ISO date (YYYY-MM-DD): {_describe(value)}")


_SCALAR_READERS: dict[Any, Callable[[Any, Limits], Any]] = {
    str: _read_str,
    model.NonBlankStr: _read_non_blank,
    model.PayerName: _read_payer,
    bool: _read_bool,
    int: _read_int,
    model.PositiveInt: _read_positive_int,
    Decimal: _read_decimal,
    model.PositiveDecimal: _read_positive_decimal,
    dt.date: _read_date,
}

# ------------------------------------------------------------------------------------ shapes


@attrs.frozen
class _ListLimit:
    attribute: str  # the Limits field
    per: str  # what the limit counts, for the message
    note: str = ""
    minimum: int = 0
    minimum_message: str = ""


# Lists with a limit of their own; every other list (and object) has Limits.max_list_items.
_LIST_LIMITS = {
    (Claim, "lines"): _ListLimit(
        "max_lines",
        "lines per claim",
        "",
        minimum=1,
        minimum_message="a claim needs at least one line",
    ),
    (Claim, "diagnoses"): _ListLimit("max_diagnoses", "diagnoses per claim", ", as on an 837P"),
    (model.ClaimLine, "diagnosis_pointers"): _ListLimit(
        "max_diagnosis_pointers", "diagnosis pointers per line", ", as on an 837P"
    ),
}
_GENERAL_LIST_LIMIT = _ListLimit("max_list_items", "items per list")


@attrs.frozen
class _Field:
    name: str
    required: bool
    optional: bool  # None is a value
    read: Callable[..., Any] | None = None  # scalars
    shape: _Shape | None = None  # objects
    item: _Field | None = None  # lists: how each item is read
    limit: _ListLimit | None = None  # lists
    extensions: str | None = None  # "claim" or "line": read against the declared fields


@attrs.frozen
class _Shape:
    cls: type
    fields: tuple[_Field, ...]
    names: frozenset[str]
    slots: tuple[tuple[str, Any], ...]  # (name, the class's own slot descriptor) for instances
    check: Callable[[Any], tuple[str, str] | None] | None = None
    #: The field whose value (not None) makes :attr:`check` matter.
    check_when: str | None = None


def _field_of(owner: type, name: str, type_: Any, required: bool) -> _Field:
    args = typing.get_args(type_)
    optional = (typing.get_origin(type_) in (typing.Union, UnionType)) and NoneType in args
    if optional:
        (type_,) = [a for a in args if a is not NoneType]
        args = typing.get_args(type_)
    if typing.get_origin(type_) is tuple:
        item = _field_of(owner, f"{name}[]", args[0], True)
        limit = _LIST_LIMITS.get((owner, name), _GENERAL_LIST_LIMIT)
        return _Field(name, required, optional, item=item, limit=limit)
    if typing.get_origin(type_) is Literal:
        return _Field(name, required, optional, read=_literal_reader(args))
    if type_ is model.Extensions:
        return _Field(name, False, False, extensions="claim" if owner is Claim else "line")
    if attrs.has(type_):
        return _Field(name, required, optional, shape=_shape_of(type_))
    return _Field(name, required, optional, read=_SCALAR_READERS[type_])


@functools.cache
def _shape_of(cls: type) -> _Shape:
    hints = typing.get_type_hints(cls, vars(model))
    fields = tuple(
        _field_of(cls, a.name, hints[a.name], a.default is attrs.NOTHING) for a in attrs.fields(cls)
    )
    names = frozenset(f.name for f in fields)
    slots = tuple((f.name, cls.__dict__[f.name]) for f in fields)
    check, when = _CHECKS.get(cls, (None, None))
    return _Shape(cls, fields, names, slots, check, when)


def _check_dispensed(values: dict[str, Any]) -> tuple[str, str] | None:
    unit = values.get("unit")
    if unit != "mL" and values.get("concentration_mg_per_ml") is not None:
        return (".concentration_mg_per_ml", f"only applies to unit 'mL', not {unit!r}")
    return None


def _check_line_dates(values: dict[str, Any]) -> tuple[str, str] | None:
    end, start = values.get("date_of_service_end"), values.get("date_of_service")
    if end is None:
        return None
    if start is None:
        return (
            ".date_of_service_end",
            "a date range needs its first date on the line: give date_of_service too",
        )
    if end < start:
        return (".date_of_service_end", f"{end} is before the line's date_of_service {start}")
    return None


#: Checks across the fields of one object, each with the field whose value makes it matter
#: (None: nothing to check). The fast reader tests that field inline and leaves anything else
#: to the detailed reader, so the check costs nothing on the objects it cannot concern.
_CHECKS = {
    model.Dispensed: (_check_dispensed, "concentration_mg_per_ml"),
    model.ClaimLine: (_check_line_dates, "date_of_service_end"),
}

# ---------------------------------------------------------------------- what an engine adds
# The model fixes the claim's shape; an engine adds two things its rulesets decide: the extension
# fields they declare (name and type, on the claim and on each line) and the payers they know.


@attrs.frozen
class ClaimSchema:
    """What an engine's rulesets add to the claim's shape (see :meth:`Engine.parse_claim`).

    ``claim_extensions`` / ``line_extensions``: the declared extension fields, ``(name, type)``
    pairs, sorted; the types are :data:`hcpcs_rules.schema.EXTENSION_TYPES`. ``payers``: the payer
    names a claim may give (exactly, case-sensitive), or None to accept any (the module-level
    :func:`parse_claim`, which reads shape only).
    """

    claim_extensions: tuple[tuple[str, str], ...] = ()
    line_extensions: tuple[tuple[str, str], ...] = ()
    payers: frozenset[str] | None = None

    def extensions(self, on: str) -> tuple[tuple[str, str], ...]:
        return self.claim_extensions if on == "claim" else self.line_extensions


#: The module-level parse_claim's schema: no extension fields, any payer.
SHAPE_ONLY = ClaimSchema()

_EXTENSION_SCALARS: dict[str, Callable[[Any, Limits], Any]] = {
    "str": _read_str,
    "int": _read_int,
    "decimal": _read_decimal,
    "bool": _read_bool,
    "date": _read_date,
}


def _extension_field(name: str, type_: str) -> _Field:
    if type_.startswith("list[") and type_.endswith("]"):
        item = _Field(f"{name}[]", True, False, read=_EXTENSION_SCALARS[type_[5:-1]])
        return _Field(name, False, True, item=item, limit=_GENERAL_LIST_LIMIT)
    return _Field(name, False, True, read=_EXTENSION_SCALARS[type_])


@functools.lru_cache(maxsize=64)  # one entry per distinct declaration set, not per claim
def _extension_fields(declared: tuple[tuple[str, str], ...]) -> dict[str, _Field]:
    return {name: _extension_field(name, type_) for name, type_ in declared}


@functools.lru_cache(maxsize=64)
def _no_extensions(declared: tuple[tuple[str, str], ...]) -> model.Extensions:
    """What a claim or line without an ``extensions`` object has under these declarations."""
    if not declared:
        return model.NO_EXTENSIONS
    return model.Extensions(declared=frozenset(name for name, _ in declared))


_MOST_PAYERS_SHOWN = 12


def _unknown_payer(payer: str, known: frozenset[str]) -> str:
    names = sorted(known)
    shown = ", ".join(names[:_MOST_PAYERS_SHOWN]) + (
        " ..." if len(names) > _MOST_PAYERS_SHOWN else ""
    )
    return (
        f"unknown payer {_describe(payer)}{did_you_mean(payer, names)}: no ruleset or policy of "
        f"this engine knows it, so no payer's rules would run (known, case-sensitive: {shown})"
    )


_extension_values_slot = model.Extensions.__dict__["_values"]

# ------------------------------------------------------------------------------------ reading

_FAILED = object()  # a value that could not be read; its problems are already recorded
_GENERIC_PROBLEM_TEXT = 200


def _safe_error_text(exc: BaseException) -> str:
    """``Type: message`` of an exception raised by caller code, bounded and never raising."""
    name = _class_name(type(exc))
    try:
        text = str(exc)
    except Exception:
        return name
    text = _exact_str(text) or ""
    if len(text) > _GENERIC_PROBLEM_TEXT:
        text = text[:_GENERIC_PROBLEM_TEXT] + "..."
    return f"{name}: {text}" if text else name


def _key_path(path: str, key: str) -> str:
    if _SIMPLE_KEY.match(key):
        return f"{path}.{key}"
    shown = json.dumps(key[:_SHOWN_KEY])  # escapes quotes and control characters
    return f"{path}[{shown}{'...' if len(key) > _SHOWN_KEY else ''}]"


class _Reader:
    __slots__ = ("limits", "problems", "schema")

    def __init__(self, limits: Limits, schema: ClaimSchema = SHAPE_ONLY) -> None:
        self.limits = limits
        self.schema = schema
        self.problems: list[tuple[str, str]] = []

    def value(self, raw: Any, field: _Field, path: str) -> Any:
        if raw is None and field.optional:
            return None
        if field.read is not None:
            try:
                return field.read(raw, self.limits)
            except _InputProblem as problem:
                self.problems.append((path, str(problem)))
                return _FAILED
        if field.shape is not None:
            return self.object(raw, field.shape, path)
        return self.list(raw, field, path)

    def list(self, raw: Any, field: _Field, path: str) -> Any:
        kind = type(raw)
        if kind is list or kind is tuple:
            items = raw
        elif issubclass(kind, list):
            items = list.copy(raw)  # the base's copy: an exact list, no overridden method runs
        elif issubclass(kind, tuple):
            items = tuple.__getitem__(raw, slice(None))
        else:
            self.problems.append((path, f"not a list: {_describe(raw)} is {_type_name(raw)}"))
            return _FAILED
        limit = field.limit
        assert limit is not None and field.item is not None
        most = getattr(self.limits, limit.attribute)
        # Sizes before items: 100,000 lines are refused without reading one of them.
        if len(items) > most:
            self.problems.append(
                (
                    path,
                    f"too many items: {len(items):,} (at most {most:,} {limit.per}{limit.note}; "
                    f"Limits.{limit.attribute})",
                )
            )
            return _FAILED
        if len(items) < limit.minimum:
            self.problems.append((path, limit.minimum_message))
            return _FAILED
        out = []
        failed = False
        for index, item in enumerate(items):
            value = self.value(item, field.item, f"{path}[{index}]")
            if value is _FAILED:
                failed = True
            else:
                out.append(value)
        return _FAILED if failed else tuple(out)

    def object(self, raw: Any, shape: _Shape, path: str) -> Any:
        pairs = self.pairs(raw, shape, path)
        if pairs is None:
            return _FAILED
        key_problems: list[tuple[str, str]] = []
        # The common case, a plain dict of known keys, is read as it is. Only exact str keys are
        # compared with the names: a str subclass or any other key could run its own __hash__.
        if (
            type(pairs) is dict
            and all(type(key) is str for key in pairs)
            and pairs.keys() <= shape.names
        ):
            known = pairs
        else:
            known = self.keys(pairs, shape, path, key_problems)
        values: dict[str, Any] = {}
        failed = False
        problems = self.problems
        limits = self.limits
        for field in shape.fields:
            name = field.name
            raw_value = known.get(name, _FAILED)
            if raw_value is _FAILED:
                if field.extensions is not None:
                    # Absent: every declared field is a missing value (the rules still read it);
                    # with none declared, the class default (no fields) is that already.
                    declared = self.schema.extensions(field.extensions)
                    if declared:
                        values[name] = _no_extensions(declared)
                    continue
                if field.required:
                    problems.append((f"{path}.{name}", "required key is missing"))
                    failed = True
                continue
            if raw_value is None and field.optional:
                values[name] = None
                continue
            read = field.read
            if read is not None:  # a scalar, inline: most fields are
                try:
                    values[name] = read(raw_value, limits)
                except _InputProblem as problem:
                    problems.append((f"{path}.{name}", str(problem)))
                    failed = True
                continue
            if field.shape is not None:
                value = self.object(raw_value, field.shape, f"{path}.{name}")
            elif field.extensions is not None:
                value = self.extensions(raw_value, field.extensions, f"{path}.{name}")
            else:
                value = self.list(raw_value, field, f"{path}.{name}")
            if value is _FAILED:
                failed = True
            else:
                values[name] = value
        payers = self.schema.payers
        if payers is not None and shape.cls is Claim:
            payer = values.get("payer")
            if payer is not None and payer not in payers:
                problems.append((f"{path}.payer", _unknown_payer(payer, payers)))
                failed = True
        if shape.check is not None and not failed:
            found = shape.check(values)
            if found is not None:
                problems.append((path + found[0], found[1]))
                failed = True
        problems.extend(key_problems)
        if failed or key_problems:
            return _FAILED
        return shape.cls(**values)

    def extensions(self, raw: Any, on: str, path: str) -> Any:
        """An ``extensions`` object read against the fields declared for ``on`` (claim, line).

        Each declared field is read like a claim field of its type (same readers, same limits);
        ``null`` is a missing value. Any other key is a problem: undeclared fields are usually
        typos, and a rule can never read them.
        """
        declared = self.schema.extensions(on)
        fields = _extension_fields(declared)
        if issubclass(type(raw), model.Extensions):
            # A typed claim's extensions: the stored values, read through the class's own slot.
            try:
                stored = _extension_values_slot.__get__(raw, model.Extensions)
            except Exception as exc:  # an instance made without __init__, say
                self.problems.append((path, f"could not be read ({_safe_error_text(exc)})"))
                return _FAILED
            if not isinstance(stored, dict):
                self.problems.append((path, "could not be read as an object"))
                return _FAILED
            pairs: Any = list(dict.items(stored))
        else:
            pairs = self.pairs(raw, _EXTENSIONS_SHAPE, path)
            if pairs is None:
                return _FAILED
            if type(pairs) is dict:
                pairs = list(pairs.items())
        values: dict[str, Any] = {}
        failed = False
        for key, value in pairs:
            if type(key) is not str:
                text = _exact_str(key)
                if text is None:
                    self.problems.append(
                        (
                            f"{path}[{_describe(key)}]",
                            f"key is not a string: {_type_name(key)} (object keys are strings)",
                        )
                    )
                    failed = True
                    continue
                key = text
            field = fields.get(key) if len(key) <= _LONGEST_KEY else None
            if field is None:
                self.problems.append((_key_path(path, key), self._undeclared(key, on, fields)))
                failed = True
                continue
            if key in values:
                self.problems.append((_key_path(path, key), "duplicate key"))
                failed = True
                continue
            read = self.value(value, field, _key_path(path, key))
            if read is _FAILED:
                failed = True
            elif read is not None:  # null: the field is missing, as if not given
                values[key] = read
        if failed:
            return _FAILED
        if not values:
            return _no_extensions(declared)
        return model.Extensions(values, declared=frozenset(fields))

    def _undeclared(self, key: str, on: str, fields: dict[str, _Field]) -> str:
        size = f" ({len(key):,} characters)" if len(key) > _SHOWN_KEY else ""
        if self.schema is SHAPE_ONLY:
            return (
                f"undeclared extension field{size}: hcpcs_rules.parse_claim reads no extensions; "
                "use Engine.parse_claim (or Engine.evaluate), whose rulesets declare them"
            )
        if not fields:
            return (
                f"undeclared extension field{size}: no ruleset of this engine declares "
                f"{on} extensions ([ruleset.extensions.{on}])"
            )
        return (
            f"undeclared extension field{size}{did_you_mean(key, fields)} "
            f"(declared {on} extensions: {', '.join(sorted(fields))})"
        )

    def keys(
        self, pairs: Any, shape: _Shape, path: str, key_problems: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """The values of known keys; every other key is a problem (reported after the fields)."""
        known: dict[str, Any] = {}
        for key, value in pairs.items() if type(pairs) is dict else pairs:
            if type(key) is not str:
                text = _exact_str(key)
                if text is None:
                    key_problems.append(
                        (
                            f"{path}[{_describe(key)}]",
                            f"key is not a string: {_type_name(key)} (object keys are strings)",
                        )
                    )
                    continue
                key = text
            if len(key) <= _LONGEST_KEY and key in shape.names:
                if key in known:  # two keys (str subclasses, say) that read as the same name
                    key_problems.append((_key_path(path, key), "duplicate key"))
                else:
                    known[key] = value
                continue
            message = "unknown key" + did_you_mean(key, shape.names)
            if len(key) > _SHOWN_KEY:
                message += f" ({len(key):,} characters)"
            key_problems.append((_key_path(path, key), message))
        return known

    def pairs(self, raw: Any, shape: _Shape, path: str) -> Any:
        """The (key, value) pairs of an object, read once; None (problem recorded) if none."""
        kind = type(raw)
        most = self.limits.max_list_items
        if kind is dict:
            size = len(raw)
        elif issubclass(kind, dict):
            size = dict.__len__(raw)
        elif issubclass(kind, shape.cls):
            # A typed claim (or part of one) is read like the data it stands for: field by field,
            # through the class's own slots, so floats or subclasses in it are refused likewise.
            pairs = []
            for name, slot in shape.slots:
                try:
                    pairs.append((name, slot.__get__(raw, shape.cls)))
                except Exception as exc:  # an instance built without __init__, say
                    self.problems.append(
                        (f"{path}.{name}", f"could not be read ({_safe_error_text(exc)})")
                    )
                    return None
            return pairs
        else:
            try:
                is_mapping = issubclass(kind, Mapping)
            except Exception:
                is_mapping = False
            if not is_mapping:
                if path == "$":
                    message = f"a claim must be a JSON object, not {_type_name(raw)}"
                else:
                    message = f"not an object: {_describe(raw)} is {_type_name(raw)}"
                self.problems.append((path, message))
                return None
            # Any other Mapping runs its own code: read it once, at most one key past the limit.
            try:
                keys = list(itertools.islice(iter(raw), most + 1))
                if len(keys) > most:
                    self.problems.append(
                        (
                            path,
                            f"too many keys (more than {most:,} per object; Limits.max_list_items)",
                        )
                    )
                    return None
                return [(key, raw[key]) for key in keys]
            except Exception as exc:
                self.problems.append(
                    (path, f"could not be read as an object ({_safe_error_text(exc)})")
                )
                return None
        if size > most:
            self.problems.append(
                (
                    path,
                    f"too many keys: {size:,} (at most {most:,} per object; Limits.max_list_items)",
                )
            )
            return None
        return raw if kind is dict else list(dict.items(raw))


# ``pairs`` reads an extensions object like any object; this shape only names it in messages.
_EXTENSIONS_SHAPE = _Shape(model.Extensions, (), frozenset(), ())

# ------------------------------------------------------------------------------ the fast path
# Most claims are plain decoded JSON with nothing wrong in them. For those, the reader above does
# more than it needs to: it walks every field of the shape through generic code, building a
# problem list nobody reads. The fast path is that same reading specialised, once per
# (Limits, ClaimSchema), into straight-line Python compiled with compile(): one function per
# model class, each field's test written inline for the exact built-in types JSON gives (an exact
# ``str`` within its length, an ``int`` in range, a decimal string already in its canonical form,
# an ISO date string). It proves nothing wrong and reports nothing: at the first value it is not
# sure of, it gives up (``_Doubt``) and the detailed reader above reads the claim from the start,
# so a refused claim gets exactly the ClaimError it always got. Values of a type the inline test
# does not cover (a str subclass, a Decimal, a date object) go through the detailed reader's own
# scalar function, so they become exactly what that reader makes of them; containers that are not
# exact dicts, lists or tuples, and keys that are not exact strings, are always left to it (a
# dict lookup could run a key's own __eq__). Generated source never contains input: only the
# model's field names, numbers from Limits and names of constants bound in its namespace.
#
# Why generated code rather than cattrs' generated structuring functions (what model.py uses to
# write results): cattrs generates the per-class function but calls one Python hook per field,
# and every field here needs a hook (exact types, lengths, digits); benchmarks/e2e.py measures
# both (docs/performance.md). cattrs is still what unstructures results.


class _Doubt(Exception):
    """The fast path is not sure of a value; the detailed reader decides."""


class _Unsupported(Exception):
    """A shape the fast path's generator does not know: that schema has no fast path."""


_ABSENT = object()  # a key the input does not have (None is a value)
_ISO_DATE_MATCH = _ISO_DATE.match


def _canonical_decimal(limits: Limits, positive: bool) -> re.Pattern[str]:
    """Decimal text that the detailed reader turns into ``Decimal(text)`` unchanged.

    No sign but ``-``, no leading zero, no trailing fractional zero, no space, no ``-0``, and
    within the digit limits: ``Decimal`` of such a text is the reader's value, digit for digit.
    """
    whole = f"[1-9][0-9]{{0,{limits.max_integer_digits - 1}}}"
    places = limits.max_decimal_places
    fraction = f"\\.[0-9]{{0,{places - 1}}}[1-9]" if places else None
    number = whole if fraction is None else f"(?:{whole}(?:{fraction})?|0{fraction})"
    zero = "" if positive else "|0"
    sign = "" if positive else "-?"
    return re.compile(f"(?:{sign}{number}{zero})\\Z")


class _FastBuilder:
    """Writes and compiles the fast path's functions for one (Limits, ClaimSchema)."""

    def __init__(self, limits: Limits, schema: ClaimSchema) -> None:
        self.limits = limits
        self.schema = schema
        self.namespace: dict[str, Any] = {
            "__builtins__": {"type": type, "len": len, "str": str, "int": int, "bool": bool},
            "_Doubt": _Doubt,
            "_A": _ABSENT,
            "_D": Decimal,
            "_new": object.__new__,
            "_date_from": dt.date.fromisoformat,
            "_iso": _ISO_DATE_MATCH,
            "dict": dict,
            "list": list,
            "tuple": tuple,
        }
        self.constants: dict[int, str] = {}
        self.kept: list[Any] = []  # referenced constants stay alive, so their ids stay unique
        self.sources: list[str] = []
        self.functions: dict[Any, str] = {}
        self.tables: list[str] = []  # the extension readers' tables, after every function
        self.slows: dict[Any, str] = {}
        self.count = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, value: Any, hint: str = "c") -> str:
        name = self.constants.get(id(value))
        if name is None:
            name = f"_{hint}{len(self.constants)}"
            self.constants[id(value)] = name
            self.namespace[name] = value
            self.kept.append(value)
        return name

    def slow(self, read: Callable[[Any, Limits], Any]) -> str:
        """A call of the detailed reader's own scalar function; a problem is a doubt."""
        name = self.slows.get(read)
        if name is not None:
            return name
        limits = self.limits

        def slow(value: Any) -> Any:
            try:
                return read(value, limits)
            except _InputProblem:
                raise _Doubt from None

        name = self.slows[read] = self.const(slow, "s")
        return name

    def same(self, read: Callable[[Any, Limits], Any], x: str) -> str | None:
        """The test under which ``read`` returns ``x`` itself (a plain str, int, bool), if any."""
        most = self.limits.max_string_length
        count = self.limits.max_count
        if read is _read_str:
            return f"type({x}) is str and len({x}) <= {most}"
        if read is _read_non_blank:
            return f"type({x}) is str and len({x}) <= {most} and {x}.strip()"
        if read is _read_payer:
            others = self.const(_NOT_PAYERS, "p")
            return (
                f"type({x}) is str and len({x}) <= {most} and {x}.strip() and {x} not in {others}"
            )
        if read is _read_bool:
            return f"type({x}) is bool"
        if read is _read_int:
            return f"type({x}) is int and {-count} <= {x} <= {count}"
        if read is _read_positive_int:
            return f"type({x}) is int and 0 < {x} <= {count}"
        options = getattr(read, "options", None)
        if isinstance(options, frozenset):  # a Literal
            return f"type({x}) is str and {x} in {self.const(options, 'o')}"
        return None

    def scalar(self, read: Callable[[Any, Limits], Any], x: str) -> str:
        """An expression reading variable ``x`` as ``read`` would, or raising."""
        limits = self.limits
        slow = f"{self.slow(read)}({x})"
        same = self.same(read, x)
        if same is not None:
            return f"({x} if {same} else {slow})"
        if read is _read_decimal or read is _read_positive_decimal:
            positive = read is _read_positive_decimal
            match = self.const(_canonical_decimal(limits, positive).match, "m")
            longest = 2 + limits.max_integer_digits + limits.max_decimal_places
            length = (
                ""
                if longest <= limits.max_number_length
                else (f" and len({x}) <= {limits.max_number_length}")
            )
            top = 10**limits.max_integer_digits
            low = 0 if positive else -top
            return (
                f"(_D({x}) if (type({x}) is str{length} and {match}({x})) "
                f"or (type({x}) is int and {low} < {x} < {top}) else {slow})"
            )
        if read is _read_date:
            # fromisoformat raises ValueError on "2026-02-30": a doubt like any other.
            return f"(_date_from({x}) if type({x}) is str and _iso({x}) else {slow})"
        return slow

    def item(self, field: _Field, x: str) -> str:
        """An expression reading ``x`` as ``field`` (no None handling)."""
        if field.read is not None:
            return self.scalar(field.read, x)
        if field.shape is not None:
            return f"{self.shape(field.shape)}({x})"
        if field.item is not None:
            return f"{self.list(field)}({x})"
        raise _Unsupported(field.name)

    def list(self, field: _Field) -> str:
        assert field.item is not None and field.limit is not None
        if field.item.read is None and field.item.shape is None:
            raise _Unsupported(field.name)  # lists of lists: the model has none
        name = self.fresh("_l")
        most = getattr(self.limits, field.limit.attribute)
        least = field.limit.minimum
        same = None if field.item.read is None else self.same(field.item.read, "x")
        # Items that are their own value (strings, counts) are tested, and the list copied whole.
        check = (
            ""
            if same is None
            else f"    for x in v:\n        if not ({same}):\n            break\n"
            f"    else:\n        return tuple(v)\n"
        )
        self.sources.append(
            f"def {name}(v):\n"
            f"    if type(v) is not list and type(v) is not tuple:\n"
            f"        raise _Doubt\n"
            f"    n = len(v)\n"
            f"    if n > {most} or n < {least}:\n"
            f"        raise _Doubt\n"
            f"{check}"
            f"    return tuple([{self.item(field.item, 'x')} for x in v])\n"
        )
        return name

    def shape(self, shape: _Shape) -> str:
        name = self.functions.get(shape.cls)
        if name is not None:
            return name
        name = f"_r_{_type_name_of(shape.cls)}"
        self.functions[shape.cls] = name
        defaults = {a.name: a.default for a in attrs.fields(shape.cls)}
        longest = max((len(f.name) for f in shape.fields), default=0)
        if longest > _LONGEST_KEY:
            raise _Unsupported(shape.cls)
        body = [
            f"def {name}(d):",
            f"    if type(d) is not dict or len(d) > {self.limits.max_list_items}:",
            "        raise _Doubt",
            "    for k in d:",  # before any lookup: a key's own __eq__ must never run
            "        if type(k) is not str:",
            "            raise _Doubt",
            f"    if not d.keys() <= {self.const(shape.names, 'n')}:",
            "        raise _Doubt",
            "    g = d.get",
        ]
        arguments = []
        for index, field in enumerate(shape.fields):
            value = f"f{index}"
            arguments.append(f"{field.name}={value}")
            key = repr(field.name)
            if field.extensions is not None:
                absent = self.const(_no_extensions(self.schema.extensions(field.extensions)), "e")
                reader = self.extensions(field.extensions)
                body.append(f"    v = g({key}, _A)")
                body.append(f"    {value} = {absent} if v is _A else {reader}(v)")
                continue
            read = self.item(field, "v")
            default = defaults[field.name]
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                raise _Unsupported(field.name)
            if field.optional and (field.required or default is None):
                # Absent or null: None either way (a required one must be present).
                body.append(f"    v = g({key}, _A)" if field.required else f"    v = g({key})")
                if field.required:
                    body.append("    if v is _A:\n        raise _Doubt")
                body.append(f"    {value} = None if v is None else {read}")
            elif field.required:
                body.append(f"    v = g({key}, _A)")
                body.append(f"    {value} = {read}")
            else:
                absent = self.const(default, "d")
                body.append(f"    v = g({key}, _A)")
                if field.optional:
                    read = f"(None if v is None else {read})"
                body.append(f"    {value} = {absent} if v is _A else {read}")
        if shape.cls is Claim and self.schema.payers is not None:
            payer = next(i for i, f in enumerate(shape.fields) if f.name == "payer")
            body.append(f"    if f{payer} not in {self.const(self.schema.payers, 'k')}:")
            body.append("        raise _Doubt")
        cls = self.const(shape.cls, "C")
        if shape.check is not None:
            when = next(i for i, f in enumerate(shape.fields) if f.name == shape.check_when)
            check = self.const(shape.check, "x")
            body.append(f"    if f{when} is not None and {check}(dict({', '.join(arguments)})):")
            body.append("        raise _Doubt")
        setters = model.slot_setters(shape.cls)
        if setters is None:
            body.append(f"    return {cls}({', '.join(arguments)})")
        else:
            # What the class's __init__ would do, without parsing keywords (see model.slot_setters).
            body.append(f"    o = _new({cls})")
            for index, field in enumerate(shape.fields):
                body.append(f"    {self.const(setters[field.name], 'w')}(o, f{index})")
            body.append("    return o")
        self.sources.append("\n".join(body) + "\n")
        return name

    def extensions(self, on: str) -> str:
        name = f"_x_{on}"
        if name in self.namespace:
            return name
        declared = self.schema.extensions(on)
        readers = {}
        for field_name, field in _extension_fields(declared).items():
            if len(field_name) > _LONGEST_KEY:
                continue  # the detailed reader calls it undeclared: leave it to it
            reader = self.fresh("_xf")
            self.sources.append(f"def {reader}(v):\n    return {self.item(field, 'v')}\n")
            readers[field_name] = reader
        table = "{" + ", ".join(f"{k!r}: {v}" for k, v in readers.items()) + "}"
        absent = self.const(_no_extensions(declared), "e")
        names = self.const(frozenset(n for n, _ in declared), "n")
        self.sources.append(
            f"def {name}(v):\n"
            f"    if type(v) is not dict or len(v) > {self.limits.max_list_items}:\n"
            f"        raise _Doubt\n"
            f"    out = {{}}\n"
            f"    for k, x in v.items():\n"
            f"        if type(k) is not str:\n"
            f"            raise _Doubt\n"
            f"        read = {name}_readers.get(k)\n"
            f"        if read is None:\n"
            f"            raise _Doubt\n"
            f"        if x is not None:\n"
            f"            out[k] = read(x)\n"
            f"    return {self.const(model.Extensions, 'X')}(out, declared={names}) if out "
            f"else {absent}\n"
        )
        self.namespace[name] = None  # reserved; exec below defines the function
        self.tables.append(f"{name}_readers = {table}\n")
        return name

    def build(self) -> Callable[[Any], Claim]:
        entry = self.shape(_shape_of(Claim))
        source = "\n".join(self.sources) + "".join(self.tables)
        code = compile(source, f"<hcpcs_rules fast claim reader {id(self):x}>", "exec")
        exec(code, self.namespace)
        function: Callable[[Any], Claim] = self.namespace[entry]
        function.source = source  # type: ignore[attr-defined]  # for a reader of tracebacks
        return function


@functools.lru_cache(maxsize=32)
def _fast_reader(limits: Limits, schema: ClaimSchema) -> Callable[[Any], Claim] | None:
    """The fast path for ``limits`` and ``schema``, or None if the generator cannot write one."""
    try:
        return _FastBuilder(limits, schema).build()
    except _Unsupported:
        return None


# Engines hand the same Limits and ClaimSchema objects every time: found by identity, they cost
# no hashing. The entries hold both objects, so an id cannot be reused while its entry lives.
_readers_by_id: dict[tuple[int, int], tuple[Limits, ClaimSchema, Any]] = {}
_MOST_READERS_BY_ID = 64

#: Whether parse_claim tries the fast path first (tests switch it off to compare the two paths).
FAST_PATH = True


def _read_fast(data: Any, limits: Limits, schema: ClaimSchema) -> Claim | None:
    """The claim the fast path reads from ``data``, or None when it is not sure."""
    key = (id(limits), id(schema))
    entry = _readers_by_id.get(key)
    if entry is None or entry[0] is not limits or entry[1] is not schema:
        if len(_readers_by_id) >= _MOST_READERS_BY_ID:
            _readers_by_id.clear()
        entry = (limits, schema, _fast_reader(limits, schema))
        _readers_by_id[key] = entry
    reader = entry[2]
    if reader is None:
        return None
    try:
        return reader(data)
    except Exception:  # a doubt, or anything else: the detailed reader is the authority
        return None


def _read_detailed(data: Any, limits: Limits, schema: ClaimSchema) -> Claim:
    """The detailed reader: the claim, or a ClaimError with every problem and its path."""
    reader = _Reader(limits, schema)
    claim = reader.object(data, _shape_of(Claim), "$")
    if claim is _FAILED:
        raise ClaimError(reader.problems)
    return claim


# ------------------------------------------------------------------------- trusted claims
# parse_claim() returns claims it built; handing one back (Engine.evaluate does) must not re-read
# it. They are remembered by identity only (never hashed or compared: a Claim's fields could hold
# anything a caller put there), with the limits and schema they were read under, and forgotten when
# they die, so nothing here grows with the number of claims.


class _Trust(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a claim this module built, with what it was read under."""

    __slots__ = ("key", "limits", "schema")
    key: int
    limits: Limits
    schema: ClaimSchema


_trusted: dict[int, _Trust] = {}


def _forget(ref: _Trust) -> None:
    # No lock: each dict operation is atomic, and an id cannot be reused before this callback has
    # run (it runs while the claim is being freed), so the entry it finds is its own or newer.
    if _trusted.get(ref.key) is ref:
        _trusted.pop(ref.key, None)


def _trust(claim: Claim, limits: Limits, schema: ClaimSchema) -> None:
    # One object per claim, and no closure: trusting is on the path of every claim read.
    ref = _Trust(claim, _forget)
    ref.key = key = id(claim)
    ref.limits = limits
    ref.schema = schema
    _trusted[key] = ref


def _trusted_under(value: Any, limits: Limits) -> ClaimSchema | None:
    """The schema a claim this module built was read under (with these limits), else None."""
    if type(value) is not Claim:
        return None
    entry = _trusted.get(id(value))
    if (
        entry is None
        or entry() is not value
        or not (entry.limits is limits or entry.limits == limits)
    ):
        return None
    return entry.schema


def parse_claim(data: Any, *, limits: Limits | None = None) -> Claim:
    """Read JSON-like ``data`` into a :class:`Claim` within ``limits``, or raise :class:`ClaimError`.

    ``data`` is a mapping (usually decoded JSON) or a :class:`Claim`. A claim this function
    returned is handed back unchanged; any other ``Claim`` instance is checked like data, field by
    field. Nothing but a ``ClaimError`` is raised, whatever the input.

    This reads the contract's shape only: any payer name, and no extension fields (an
    ``extensions`` object must be empty). :meth:`hcpcs_rules.Engine.parse_claim` reads a claim
    the way that engine's rulesets need it: their extension fields, and only payers they know.
    """
    return parse_claim_with(data, limits, SHAPE_ONLY)


def parse_claim_with(data: Any, limits: Limits | None, schema: ClaimSchema) -> Claim:
    """:func:`parse_claim` under an engine's :class:`ClaimSchema` (what Engine.parse_claim runs)."""
    if limits is None:
        limits = DEFAULT_LIMITS
    elif type(limits) is not Limits:
        raise TypeError(f"limits must be a hcpcs_rules.Limits, not {_type_name(limits)}")
    if type(data) is dict:  # decoded JSON, the common case: never a trusted Claim
        claim = _read_fast(data, limits, schema) if FAST_PATH else None
        if claim is None:
            claim = _read_detailed(data, limits, schema)
        _trust(claim, limits, schema)
        return claim
    read_under = _trusted_under(data, limits)
    if read_under is not None:
        if read_under is schema or read_under == schema:
            return data
        if (
            read_under.claim_extensions == schema.claim_extensions
            and read_under.line_extensions == schema.line_extensions
            and (schema.payers is None or data.payer in schema.payers)
        ):
            # Read under the same extension fields: only the payer may differ, and it is known.
            return data
    claim = _read_detailed(data, limits, schema)
    _trust(claim, limits, schema)
    return claim


# ------------------------------------------------------------------------------ unstructuring


def unstructure_claim(claim: Claim) -> dict[str, Any]:
    """The JSON-ready form of a claim (round-trips through :func:`parse_claim`)."""
    return model.unstructure(claim)


def unstructure_result(result: Result) -> dict[str, Any]:
    """The JSON-ready form of a result: the same as :meth:`Result.to_dict`."""
    return model.unstructure(result)
