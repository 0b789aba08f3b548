"""Hypothesis strategies shared by the test suite.

Each strategy here stands alone (no strategy depends on another file's helpers), so engineers can
append new ones, such as claim builders, without touching the existing ones. Numbers are built
from integers, never floats, and checksums are computed by code written here rather than by
calling the library under test, so a bug in the library cannot hide itself.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import ceil, floor

from hypothesis import strategies as st

__all__ = [
    "decimals",
    "invalid_npis",
    "mass_quantities",
    "ml_quantities",
    "valid_npis",
]


def decimals(
    min_value: Decimal | int | str, max_value: Decimal | int | str, places: int
) -> st.SearchStrategy[Decimal]:
    """Exact Decimals in ``[min_value, max_value]`` with exactly ``places`` fractional digits."""
    scale = 10**places
    low = ceil(Fraction(Decimal(min_value)) * scale)
    high = floor(Fraction(Decimal(max_value)) * scale)
    # A string with an exponent builds the Decimal exactly, with no context involved.
    return st.integers(low, high).map(lambda n: Decimal(f"{n}E-{places}"))


def mass_quantities() -> st.SearchStrategy[tuple[Decimal, str]]:
    """``(quantity, unit)`` pairs in the mass units a claim may use."""
    return st.tuples(decimals(0, 1_000_000, 3), st.sampled_from(["mg", "mcg", "ug", "g"]))


def ml_quantities() -> st.SearchStrategy[tuple[Decimal, Decimal]]:
    """``(millilitres, mg_per_ml)`` pairs; the concentration is always positive."""
    return st.tuples(decimals(0, 10_000, 2), decimals("0.01", 100, 2))


def _npi_check_digit(first_nine: str) -> int:
    # Written independently of the library: CMS's shortcut adds 24 (the Luhn weight of the
    # 80840 prefix) instead of prefixing, and doubles the digits in even positions from the right.
    total = 24
    for index, ch in enumerate(first_nine[::-1]):
        digit = int(ch) * (2 if index % 2 == 0 else 1)
        total += digit // 10 + digit % 10
    return -total % 10


def valid_npis() -> st.SearchStrategy[str]:
    """Ten-digit NPIs with a correct check digit."""
    head = st.sampled_from("12")
    body = st.text(alphabet="0123456789", min_size=8, max_size=8)
    return st.builds(lambda h, b: h + b + str(_npi_check_digit(h + b)), head, body)


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _with_wrong_check_digit(npi: str, delta: int) -> str:
    return npi[:9] + str((int(npi[9]) + delta) % 10)


def invalid_npis() -> st.SearchStrategy[object]:
    """Values ``npi_is_valid`` must reject: each branch is invalid by construction."""
    digits = "0123456789"
    wrong_first = st.builds(
        lambda h, b: h + b + str(_npi_check_digit(h + b)),
        st.sampled_from("03456789"),
        st.text(alphabet=digits, min_size=8, max_size=8),
    )
    return st.one_of(
        st.builds(_with_wrong_check_digit, valid_npis(), st.integers(1, 9)),
        wrong_first,
        st.text(alphabet=digits, max_size=14).filter(lambda s: len(s) != 10),
        st.builds(
            lambda n, i, c: n[:i] + c + n[i + 1 :],
            valid_npis(),
            st.integers(0, 9),
            st.sampled_from("aZ -."),
        ),
        valid_npis().map(lambda n: n.translate(_FULL_WIDTH)),
        valid_npis().map(int),
        st.none(),
    )
