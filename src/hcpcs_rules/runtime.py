"""What generated rule code and the backends use while a claim is evaluated.

Everything here runs per claim, long after the compiler has finished: the exact-arithmetic helpers
and message formatters that generated functions call (:data:`RUNTIME` is the namespace every
generated function starts from), and the lookup of a finding's severity by the claim's payer
overlay (:func:`severity_for`).

This module imports nothing from the compiler (``load``, ``expr``, ``compile``) or from code
generation: the runtime must be usable, and readable, without them. ``tests/test_layers.py``
enforces it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from . import ir
from .model import slot_setters
from .units import EXACT_CONTEXT, format_decimal

__all__ = ["RUNTIME", "format_value", "reason_for", "severity_for", "slot_builder"]

# Exact arithmetic, whatever decimal context the host thread has set: any rounding raises.
_EXACT = EXACT_CONTEXT


def _add(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _EXACT.add(a, b)


def _sub(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _EXACT.subtract(a, b)


def _mul(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _EXACT.multiply(a, b)


def _cat(a: Any, b: Any) -> Any:
    return None if a is None or b is None else a + b


def _days(a: Any, b: Any) -> Any:
    """``a - b`` for two dates: the days from ``b`` to ``a``."""
    return None if a is None or b is None else (a - b).days


def _shift(day: Any, days: Any, sign: int) -> Any:
    """``day`` moved by ``sign * days`` days; outside the years 1 to 9999 it raises (the rule
    fails with a RuleExecutionError naming it) rather than clamp or wrap."""
    if day is None or days is None:
        return None
    try:
        return day + dt.timedelta(days=sign * days)
    except OverflowError:
        raise ValueError(
            f"date arithmetic out of range: {day.isoformat()} {'+' if sign > 0 else '-'} {days} days"
        ) from None


_ZERO = Decimal(0)


def _agg_sum(values: list[Any], zero: Any) -> Any:
    """Sum of the values that are not missing (``zero`` for none), exactly."""
    total = zero
    for value in values:
        if value is None:
            continue
        # Whole numbers add as ints (exact, and an int field sums to an int); anything with a
        # decimal goes through the exact context, which raises rather than round.
        if type(total) is int and type(value) is int:
            total += value
        else:
            total = _EXACT.add(total, value)
    return total


def _agg_min(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _agg_max(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def format_value(value: Any) -> str:
    """How a value reads inside a finding message."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list | frozenset):
        return ", ".join(format_value(v) for v in value) if value else "none"
    return str(value)


def _fmt_str(value: Any) -> str:
    return "none" if value is None else value


def _fmt_int(value: Any) -> str:
    return "none" if value is None else str(value)


def _fmt_decimal(value: Any) -> str:
    if value is None:
        return "none"
    return format_decimal(value) if isinstance(value, Decimal) else str(value)


def _fmt_date(value: Any) -> str:
    return "none" if value is None else value.isoformat()


def _fmt_str_list(value: Any) -> str:
    return ", ".join(value) if value else "none"


def _fmt_int_list(value: Any) -> str:
    return ", ".join(map(str, value)) if value else "none"


# Message parts whose type the compiler knows get a formatter that skips the type dispatch; each
# prints exactly what format_value would.
_FORMATTERS = {
    "str": "_fmt_str",
    "int": "_fmt_int",
    "decimal": "_fmt_decimal",
    "date": "_fmt_date",
    "list[str]": "_fmt_str_list",
    "set[str]": "_fmt_str_list",
    "list[int]": "_fmt_int_list",
    "set[int]": "_fmt_int_list",
}


#: Names every generated function can use.
RUNTIME: dict[str, Any] = {
    "_add": _add,
    "_sub": _sub,
    "_mul": _mul,
    "_cat": _cat,
    "_days": _days,
    "_shift": _shift,
    "_ZERO": _ZERO,
    "_agg_sum": _agg_sum,
    "_agg_min": _agg_min,
    "_agg_max": _agg_max,
    "_fmt": format_value,
    "_fmt_str": _fmt_str,
    "_fmt_int": _fmt_int,
    "_fmt_decimal": _fmt_decimal,
    "_fmt_date": _fmt_date,
    "_fmt_str_list": _fmt_str_list,
    "_fmt_int_list": _fmt_int_list,
}


def severity_for(rule: ir.Rule, f: Any) -> str:
    """The rule's severity for this claim's payer overlay (or its only severity)."""
    pairs = rule.finding.severity  # type: ignore[union-attr]
    if len(pairs) == 1:
        return pairs[0][1]
    scope = f.derived[ir.SCOPE_FACT].get(0) or {}
    overlay, program = scope.get("overlay"), scope.get("program")
    table = dict(pairs)
    for key in (overlay, program, "*"):
        if key in table:
            return table[key]
    return pairs[-1][1]  # pragma: no cover - the compiler requires a default or full coverage


def reason_for(
    rule: ir.Rule, f: Any, n: int, test: Callable[[Any, int, int], bool] | None
) -> ir.ReasonChoice | None:
    """The rule's reason-code choice for this claim's payer overlay (as :func:`severity_for`
    picks a severity), then the first whose condition holds on subject ``n`` (``test(f, n, i)``
    evaluates conditional choice ``i``; the generated ``reason`` function). None: no codes."""
    pairs = rule.finding.reasons  # type: ignore[union-attr]
    if not pairs:
        return None
    if len(pairs) == 1:
        choices = pairs[0][1]
    else:
        scope = f.derived[ir.SCOPE_FACT].get(0) or {}
        table = dict(pairs)
        for key in (scope.get("overlay"), scope.get("program"), "*"):
            if key in table:
                choices = table[key]
                break
        else:
            return None  # a scoped rule's table covers its scope; nothing else fires it
    for choice in choices:
        if choice.test < 0 or (test is not None and test(f, n, choice.test)):
            return choice
    return None  # pragma: no cover - the compiler makes the last choice unconditional


def slot_builder(cls: type, args: tuple[str, ...]) -> Callable[..., Any] | None:
    """A function of ``args`` (positional) building a ``cls`` by setting its slots, its other
    fields at their defaults; None when that is not all ``cls.__init__`` does.

    For the objects every claim makes (findings, line results, the Result): the attrs
    ``__init__`` of a frozen class parses keywords and calls ``object.__setattr__`` per field,
    where a slot's own setter does the same store (about 1 µs less per object). Any validator, converter, ``on_setattr``,
    factory default or init hook the class gets later keeps its ``__init__``.
    """
    setters = slot_setters(cls)
    if setters is None or not set(args) <= set(setters):
        return None
    fields = attrs.fields(cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    body = [f"def build({', '.join(args)}):", "    o = _new(_cls)"]
    for index, field in enumerate(fields):
        if field.name in args:
            value = field.name
        elif field.default is attrs.NOTHING or isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            return None
        else:
            namespace[f"_d{index}"] = field.default
            value = f"_d{index}"
        namespace[f"_s{index}"] = setters[field.name]
        body.append(f"    _s{index}(o, {value})")
    body.append("    return o")
    name = f"<hcpcs_rules generated {cls.__name__} builder>"
    exec(compile("\n".join(body) + "\n", name, "exec"), namespace)
    return namespace["build"]  # type: ignore[no-any-return]
