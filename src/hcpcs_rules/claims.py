"""Untrusted JSON-like data <-> the typed claim and result of :mod:`hcpcs_rules.model`.

One cattrs converter does the structuring. Its hooks are strict on purpose, because a claims
library that guesses is wrong quietly:

- quantities and money become ``Decimal`` from decimal strings or integers only (a float, a bool,
  a word or ``"NaN"`` is an error: ``0.1`` has no exact binary value);
- dates are ISO ``YYYY-MM-DD`` strings (or ``datetime.date``, but not ``datetime``);
- strings must be strings (an integer NPI is an error, not silently turned into text);
- unknown keys are errors (they are usually typos), required keys are enforced.

Every problem is collected and raised once as :class:`~hcpcs_rules.errors.ClaimError` with a JSON
path per problem. Whether the claim is *right* (valid NPI, whole units...) is not checked here:
that is what rules are for, and they answer with findings, not exceptions.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from .errors import ClaimError
from .model import (
    Claim,
    Dispensed,
    NonBlankStr,
    PayerName,
    PositiveDecimal,
    PositiveInt,
    Result,
)
from .units import format_decimal

__all__ = ["parse_claim", "unstructure_claim", "unstructure_result"]

_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)\Z")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


class _InputProblem(ValueError):
    """A hook's complaint about one value; the walker below turns it into (path, message).

    ``subpath`` points below the value being structured, for cross-field checks made once the
    whole object is known (``.lines`` when a claim has none).
    """

    def __init__(self, message: str, subpath: str = "") -> None:
        super().__init__(message)
        self.subpath = subpath


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_NAMES = (
    (bool, "a boolean"),  # before int: bool is an int subclass
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (list, "a list"),
    (tuple, "a list"),
    (Mapping, "an object"),
    (type(None), "null"),
)


def _type_name(value: Any) -> str:
    return next(
        (name for kind, name in _TYPE_NAMES if isinstance(value, kind)), type(value).__name__
    )


# Bounds that no real claim comes near, so that exact arithmetic on any accepted claim stays
# far inside the 60-digit context the rules compute in (a product of three quantities included).
MAX_DECIMAL = Decimal(10) ** 12
MAX_DECIMAL_PLACES = 6
MAX_COUNT = 1_000_000


def _decimal(value: Any, _: Any = None) -> Decimal:
    number = _unbounded_decimal(value)
    if abs(number) >= MAX_DECIMAL:
        raise _InputProblem(
            f"out of range: {_describe(value)} (at most 12 digits before the decimal point)"
        )
    if _decimal_places(number) > MAX_DECIMAL_PLACES:
        raise _InputProblem(
            f"too precise: {_describe(value)} (at most {MAX_DECIMAL_PLACES} decimal places)"
        )
    return number


def _decimal_places(number: Decimal) -> int:
    """Decimal places that carry a digit (2400.000 has none), computed without any rounding."""
    _sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -exponent - trailing_zeros)


def _unbounded_decimal(value: Any) -> Decimal:
    # bool is an int subclass: True must not become Decimal(1).
    if isinstance(value, (bool, float)):
        raise _InputProblem(
            f"not a decimal number: {_describe(value)} is {_type_name(value)}; "
            'give a decimal string such as "0.1" (binary floats are inexact)'
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _InputProblem(f"not a decimal number: {_describe(value)}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if _DECIMAL_TEXT.match(text):
            try:
                return Decimal(text)
            except InvalidOperation:  # pragma: no cover - the pattern already guarantees it
                pass
        raise _InputProblem(f"not a decimal number: {_describe(value)}")
    raise _InputProblem(f"not a decimal number: {_describe(value)} is {_type_name(value)}")


def _positive_decimal(value: Any, _: Any = None) -> Decimal:
    number = _decimal(value)
    if number <= 0:
        raise _InputProblem(f"must be greater than zero, got {_describe(value)}")
    return number


def _int(value: Any, _: Any = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _InputProblem(f"not an integer: {_describe(value)} is {_type_name(value)}")
    if abs(value) > MAX_COUNT:
        raise _InputProblem(f"out of range: {_describe(value)} (at most {MAX_COUNT:,})")
    return value


def _positive_int(value: Any, _: Any = None) -> int:
    number = _int(value)
    if number <= 0:
        raise _InputProblem(f"must be a whole number of at least 1, got {number}")
    return number


def _str(value: Any, _: Any = None) -> str:
    if not isinstance(value, str):
        raise _InputProblem(f"not a string: {_describe(value)} is {_type_name(value)}")
    return value


def _payer(value: Any, _: Any = None) -> str:
    payer = _non_blank_str(value)
    if payer in _NOT_PAYERS:
        raise _InputProblem(
            f"{payer!r} is a line of business, not a payer: give the payer and set line_of_business"
        )
    return payer


# Rules scope by payer overlay and program; a payer may not take a program's name.
_NOT_PAYERS = frozenset({"medicare_advantage", "commercial"})


def _non_blank_str(value: Any, _: Any = None) -> str:
    text = _str(value)
    if not text.strip():
        raise _InputProblem("must not be blank")
    return text


def _bool(value: Any, _: Any = None) -> bool:
    if not isinstance(value, bool):
        raise _InputProblem(f"not a boolean: {_describe(value)} is {_type_name(value)}")
    return value


def _date(value: Any, _: Any = None) -> dt.date:
    if isinstance(value, dt.datetime):
        raise _InputProblem(f"not a date: {_describe(value)} has a time of day")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _InputProblem(f"not an ISO date (YYYY-MM-DD): {_describe(value)}")


def _literal_hook(type_: Any):
    allowed = get_args(type_)

    def structure(value: Any, _: Any = None) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _InputProblem(
                f"not one of {', '.join(repr(a) for a in allowed)}: {_describe(value)}"
            )
        return value

    return structure


def _tuple_hook(converter: cattrs.Converter):
    """Lists only (a string is not a list of characters, a dict is not a list of keys)."""

    def factory(type_: Any):
        (item_type, _ellipsis) = get_args(type_)
        inner = converter.get_structure_hook(item_type)

        def structure(value: Any, _: Any = None) -> tuple:
            if not isinstance(value, list | tuple):
                raise _InputProblem(f"not a list: {_describe(value)} is {_type_name(value)}")
            items, problems = [], []
            for index, item in enumerate(value):
                try:
                    items.append(inner(item, item_type))
                except Exception as exc:  # collected, re-raised as one group below
                    exc.__notes__ = [f"@index {index}"]
                    problems.append(exc)
            if problems:
                raise IterableValidationError("invalid items", problems, type_)
            return tuple(items)

        return structure

    return factory


def _class_hook(converter: cattrs.Converter, base_factory):
    """Objects must be mappings; then cattrs' generated, detailed-validation hook runs."""

    def factory(cls: type):
        generated = base_factory(cls)

        def structure(value: Any, _: Any = None):
            if not isinstance(value, Mapping):
                raise _InputProblem(f"not an object: {_describe(value)} is {_type_name(value)}")
            obj = generated(value, cls)
            check = _CROSS_FIELD_CHECKS.get(cls)
            if check is not None:
                check(obj)
            return obj

        return structure

    return factory


def _check_dispensed(dispensed: Dispensed) -> None:
    if dispensed.unit != "mL" and dispensed.concentration_mg_per_ml is not None:
        raise _InputProblem(
            f"only applies to unit 'mL', not {dispensed.unit!r}",
            subpath=".concentration_mg_per_ml",
        )


def _check_claim(claim: Claim) -> None:
    if not claim.lines:
        raise _InputProblem("a claim needs at least one line", subpath=".lines")


_CROSS_FIELD_CHECKS = {Dispensed: _check_dispensed, Claim: _check_claim}


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    for type_, hook in (
        (Decimal, _decimal),
        (PositiveDecimal, _positive_decimal),
        (int, _int),
        (PositiveInt, _positive_int),
        (str, _str),
        (NonBlankStr, _non_blank_str),
        (PayerName, _payer),
        (bool, _bool),
        (dt.date, _date),
    ):
        converter.register_structure_hook(type_, hook)
    converter.register_structure_hook_factory(lambda t: get_origin(t) is Literal, _literal_hook)
    converter.register_structure_hook_factory(
        lambda t: get_origin(t) is tuple and len(get_args(t)) == 2 and get_args(t)[1] is ...,
        _tuple_hook(converter),
    )
    base = cattrs.gen.make_dict_structure_fn
    converter.register_structure_hook_factory(
        attrs.has,
        _class_hook(
            converter,
            lambda cls: base(cls, converter, _cattrs_forbid_extra_keys=True),
        ),
    )
    converter.register_unstructure_hook(Decimal, format_decimal)
    converter.register_unstructure_hook(dt.date, dt.date.isoformat)
    return converter


_converter = _make_converter()


def _known_keys(cls: type | None) -> list[str]:
    return [a.name for a in attrs.fields(cls)] if cls is not None and attrs.has(cls) else []


def _collect(exc: BaseException, path: str, out: list[tuple[str, str]]) -> None:
    """Flatten cattrs' exception groups into (JSON path, message) pairs, in input order."""
    if isinstance(exc, ClassValidationError):
        for sub in exc.exceptions:
            # cattrs notes each attribute's failure with a note that carries the attribute name;
            # extra-key errors belong to the object itself and carry none.
            name = next((n.name for n in getattr(sub, "__notes__", ()) if hasattr(n, "name")), None)
            _collect(sub, path if name is None else f"{path}.{name}", out)
        return
    if isinstance(exc, IterableValidationError):
        for sub in exc.exceptions:
            index = next(
                (
                    n[len("@index ") :]
                    for n in getattr(sub, "__notes__", ())
                    if n.startswith("@index ")
                ),
                "?",
            )
            _collect(sub, f"{path}[{index}]", out)
        return
    if isinstance(exc, ForbiddenExtraKeysError):
        known = _known_keys(exc.cl)
        for key in sorted(exc.extra_fields):
            hint = difflib.get_close_matches(str(key), known, n=1)
            message = "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            out.append((f"{path}.{key}", message))
        return
    if isinstance(exc, ExceptionGroup):  # pragma: no cover - defensive, cattrs wraps its own
        for sub in exc.exceptions:
            _collect(sub, path, out)
        return
    if isinstance(exc, KeyError):
        out.append((path, "required key is missing"))
        return
    if isinstance(exc, _InputProblem):
        out.append((path + exc.subpath, str(exc)))
        return
    # Anything else a hook raised is still an input problem: report it, never leak it.
    out.append((path, f"invalid value ({type(exc).__name__}: {exc})"))


def parse_claim(data: Any) -> Claim:
    """Structure JSON-like ``data`` into a :class:`Claim`, or raise :class:`ClaimError`.

    A :class:`Claim` instance is returned as is. Anything else that is not a mapping (None, a
    list, a string...) is a ``ClaimError`` too; no input surfaces any other exception type.
    """
    if isinstance(data, Claim):
        return data
    if not isinstance(data, Mapping):
        raise ClaimError([("$", f"a claim must be a JSON object, not {_type_name(data)}")])
    try:
        return _converter.structure(data, Claim)
    except RecursionError:
        raise ClaimError([("$", "input is nested too deeply")]) from None
    except Exception as exc:
        problems: list[tuple[str, str]] = []
        _collect(exc, "$", problems)
        raise ClaimError(problems or [("$", str(exc))]) from None


def unstructure_claim(claim: Claim) -> dict[str, Any]:
    """The JSON-ready form of a claim (round-trips through :func:`parse_claim`)."""
    return _converter.unstructure(claim)


def unstructure_result(result: Result) -> dict[str, Any]:
    return _converter.unstructure(result)
