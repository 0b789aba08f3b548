"""The runtime on its own: severity lookup, message formatters and exact arithmetic.

These are what generated rule code calls per claim; they are tested here without compiling any
ruleset, so a failure points at the runtime and not at the compiler or a backend.
"""

from __future__ import annotations

import datetime as dt
import decimal
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcpcs_rules import ir
from hcpcs_rules.runtime import _FORMATTERS, RUNTIME, format_value, severity_for

# --- severity_for ---------------------------------------------------------------------------


def rule_with(*pairs: tuple[str, str]) -> SimpleNamespace:
    # severity_for reads only rule.finding.severity; a real FindingSpec keeps the shape honest.
    return SimpleNamespace(
        finding=ir.FindingSpec(severity=pairs, message=("m",), payer_specific=len(pairs) > 1)
    )


def facts_for(overlay: str | None, program: str | None) -> SimpleNamespace:
    return SimpleNamespace(derived={ir.SCOPE_FACT: {0: {"overlay": overlay, "program": program}}})


# Listed program first and overlay later, so a lookup that follows the table's order (instead of
# overlay, then program, then default) gets the first two cases wrong.
PER_PAYER = rule_with(("commercial", "info"), ("aetna", "deny"), ("*", "warn"))


@pytest.mark.parametrize(
    ("overlay", "program", "expected"),
    [
        ("aetna", "commercial", "deny"),  # the overlay wins over the program
        ("cigna", "commercial", "info"),  # no overlay entry: the program's
        ("medicare", "medicare", "warn"),  # neither: the default
    ],
)
def test_severity_is_looked_up_by_overlay_then_program_then_default(overlay, program, expected):
    assert severity_for(PER_PAYER, facts_for(overlay, program)) == expected


def test_a_claim_without_a_payer_scope_gets_the_default():
    f = SimpleNamespace(derived={ir.SCOPE_FACT: {}})
    assert severity_for(PER_PAYER, f) == "warn"


def test_a_single_severity_needs_no_payer_scope():
    # No `derived` at all: a payer-neutral rule must not look the claim's overlay up.
    assert severity_for(rule_with(("*", "error")), SimpleNamespace()) == "error"


def test_a_table_without_default_covers_its_scope():
    rule = rule_with(("medicare", "deny"), ("medicare_advantage", "warn"))
    assert severity_for(rule, facts_for("medicare", "medicare")) == "deny"
    assert severity_for(rule, facts_for("medicare_advantage", "medicare_advantage")) == "warn"


# --- formatters -----------------------------------------------------------------------------

SAMPLES: dict[str, list] = {
    "str": [None, "", "J7632", "two words"],
    "int": [None, 0, -3, 240],
    "decimal": [
        None,
        Decimal("0"),
        Decimal("-0"),
        Decimal("2.40"),
        Decimal("2.4E+3"),
        Decimal("0.000125"),
        Decimal("-1.50"),
        Decimal("0E-7"),
        7,  # an int where a decimal is expected (an integer literal in a message expression)
    ],
    "date": [None, dt.date(2026, 3, 2), dt.date(1, 1, 1)],
    "list[str]": [(), ("GA",), ("GA", "KX", "RR")],
    "set[str]": [frozenset(), frozenset({"J45.40"})],
    "list[int]": [(), (1,), (1, 2, 4)],
    "set[int]": [frozenset(), frozenset({3})],
}


def test_every_typed_formatter_is_sampled_and_provided():
    assert set(SAMPLES) == set(_FORMATTERS)
    # codegen emits these names into generated code, which starts from RUNTIME.
    assert set(_FORMATTERS.values()) <= set(RUNTIME)
    assert RUNTIME["_fmt"] is format_value


@pytest.mark.parametrize(
    ("type_name", "value"), [(t, v) for t, values in SAMPLES.items() for v in values]
)
def test_each_typed_formatter_prints_what_format_value_prints(type_name, value):
    formatter = RUNTIME[_FORMATTERS[type_name]]
    assert formatter(value) == format_value(value)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_the_decimal_formatter_agrees_with_format_value_on_any_decimal(value):
    assert RUNTIME["_fmt_decimal"](value) == format_value(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "none"),
        (True, "yes"),
        (False, "no"),
        (Decimal("2.40E+3"), "2400"),
        (Decimal("0.50"), "0.5"),
        (dt.date(2026, 3, 2), "2026-03-02"),
        ((), "none"),
        (["a", Decimal("1.0"), None], "a, 1, none"),
        (12, "12"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


# --- exact arithmetic -----------------------------------------------------------------------

OPS = [("_add", "+"), ("_sub", "-"), ("_mul", "*")]


@pytest.mark.parametrize(("name", "_op"), OPS)
def test_a_missing_operand_gives_a_missing_result(name, _op):
    op = RUNTIME[name]
    assert op(None, Decimal("1")) is None
    assert op(Decimal("1"), None) is None
    assert op(None, None) is None


@pytest.mark.parametrize(
    ("name", "a", "b", "expected"),
    [
        ("_add", "0.1", "0.2", "0.3"),
        ("_sub", "1", "0.999999999999999999999999", "0.000000000000000000000001"),
        ("_mul", "123.45", "67.89", "8381.0205"),
        ("_mul", "0.5", "240", "120.0"),
    ],
)
def test_results_are_exact_whatever_the_threads_decimal_context(name, a, b, expected):
    op = RUNTIME[name]
    # A host that set a coarse, non-trapping context must not see rounded results.
    with decimal.localcontext(decimal.Context(prec=2, rounding=decimal.ROUND_DOWN, traps=[])):
        result = op(Decimal(a), Decimal(b))
    assert result == Decimal(expected)
    assert result.as_tuple() == Decimal(expected).as_tuple()  # same digits, not just equal


def test_a_result_that_would_need_rounding_raises_instead():
    big = Decimal("1" * 40)
    # Even with every trap off in the thread's context: the runtime's own context traps.
    with decimal.localcontext(decimal.Context(prec=80, traps=[])):
        assert big * big == Decimal(str(int(big) ** 2))  # the host context alone would be exact
        with pytest.raises((decimal.Inexact, decimal.Rounded)):
            RUNTIME["_mul"](big, big)


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9
    ),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9
    ),
)
def test_arithmetic_agrees_with_fractions(a, b):
    with decimal.localcontext(decimal.Context(prec=3, traps=[])):
        assert Fraction(RUNTIME["_add"](a, b)) == Fraction(a) + Fraction(b)
        assert Fraction(RUNTIME["_sub"](a, b)) == Fraction(a) - Fraction(b)
        assert Fraction(RUNTIME["_mul"](a, b)) == Fraction(a) * Fraction(b)
