"""Hypothesis strategies for claims and their parts: the test suite's, and plugin authors'.

Needs Hypothesis, which the library itself does not depend on: install the ``[test]`` extra
(``pip install 'hcpcs-rules[test]'``) or Hypothesis itself. ``import hcpcs_rules.testing`` does
not import this module, so the example helpers work without it.

Each strategy here stands alone (no strategy depends on another file's helpers), so engineers can
append new ones, such as claim builders, without touching the existing ones. Numbers are built
from integers, never floats, and checksums are computed by code written here rather than by
calling the library under test, so a bug in the library cannot hide itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor

from hypothesis import strategies as st

__all__ = [
    "claim_json",
    "cross_line_claims",
    "cross_line_conditions",
    "decimals",
    "differential_claims",
    "disguised_claims",
    "hostile_claims",
    "hostile_keys",
    "hostile_values",
    "invalid_npis",
    "json_values",
    "mass_quantities",
    "ml_quantities",
    "mutated_claims",
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


# ------------------------------------------------------------------------------------ claims
# JSON-like claims in the contract's input shape (docs/claim-format.md). They are
# valid *inputs* (they parse), not necessarily clean claims: rules are free to find problems.

_DATES = st.dates(min_value=dt.date(2005, 1, 1), max_value=dt.date(2030, 12, 31))
PAYERS = ("medicare", "aetna", "bcbs", "cigna", "uhc")
CODES = ("J7632", "J7631", "J7611", "Q0513", "Q0514", "G0333", "E0570", "A7003", "J7699", "99213")
MODIFIERS = ("KO", "KP", "KQ", "GA", "GZ", "KX", "22", "JW", "JZ", "59")
POS = ("01", "04", "09", "11", "12", "13", "21", "31", "32", "33", "65", "99", "30", "1")


def iso_dates() -> st.SearchStrategy[str]:
    return _DATES.map(lambda d: d.isoformat())


def decimal_texts(min_value: int, max_value: int, places: int = 2) -> st.SearchStrategy[str]:
    return decimals(min_value, max_value, places).map(lambda d: format(d, "f"))


def _optional(strategy: st.SearchStrategy, key: str) -> st.SearchStrategy[dict]:
    return st.one_of(st.just({}), strategy.map(lambda v: {key: v}))


def _merge(*parts: dict) -> dict:
    out: dict = {}
    for part in parts:
        out.update(part)
    return out


def dispensed_json() -> st.SearchStrategy[dict]:
    mass = st.builds(
        lambda q, u: {"quantity": q, "unit": u},
        decimal_texts(1, 20000, 1),
        st.sampled_from(["mg", "mcg", "ug", "g"]),
    )
    volume = st.builds(
        lambda q, c: _merge({"quantity": q, "unit": "mL"}, c),
        decimal_texts(1, 1000, 1),
        _optional(decimal_texts(1, 40, 1), "concentration_mg_per_ml"),
    )
    return st.one_of(mass, volume)


def line_json() -> st.SearchStrategy[dict]:
    return st.builds(
        _merge,
        st.fixed_dictionaries(
            {
                "hcpcs": st.sampled_from(CODES),
                "units": st.one_of(
                    decimal_texts(0, 800, 0), st.integers(-2, 800), decimal_texts(0, 800, 1)
                ),
            }
        ),
        _optional(st.lists(st.sampled_from(MODIFIERS), max_size=5, unique=True), "modifiers"),
        _optional(iso_dates(), "date_of_service"),
        _optional(st.sampled_from(POS), "place_of_service"),
        _optional(dispensed_json(), "dispensed"),
        _optional(st.integers(1, 120), "days_supply"),
        _optional(
            st.fixed_dictionaries(
                {"dose_mg": decimal_texts(1, 40, 0), "times_per_day": st.integers(1, 6)}
            ),
            "order",
        ),
        _optional(
            st.sampled_from(["12345-6789-01", "0172-6406-49", "1234567890", "00172640649"]), "ndc"
        ),
        _optional(decimal_texts(1, 500, 0), "ndc_quantity"),
        _optional(st.sampled_from(["ML", "UN", "MG"]), "ndc_unit"),
        _optional(st.lists(st.integers(0, 4), max_size=3), "diagnosis_pointers"),
        _optional(decimal_texts(0, 5000, 2), "charge"),
        _optional(
            st.sampled_from(
                [
                    "",
                    "  ",
                    "took longer",
                    "Patient required an additional prolonged nebulizer training session documented in notes.",
                ]
            ),
            "note",
        ),
        _optional(
            st.lists(st.sampled_from(["operative_report", "clinical_notes", "other"]), max_size=2),
            "attachments",
        ),
        _optional(
            st.fixed_dictionaries(
                {"bulk_ingredients": st.booleans(), "replicates_commercial_product": st.booleans()}
            ),
            "compound",
        ),
    )


def supplier_json() -> st.SearchStrategy[dict]:
    enrollment = st.builds(
        _merge,
        st.fixed_dictionaries(
            {
                "payer": st.sampled_from(PAYERS),
                "status": st.sampled_from(["active", "terminated"]),
                "effective": iso_dates(),
            }
        ),
        _optional(st.one_of(st.none(), iso_dates()), "end"),
    )
    return st.builds(
        _merge,
        st.fixed_dictionaries({"npi": st.one_of(valid_npis(), st.just("1234567890"))}),
        _optional(
            st.sampled_from(["3336C0004X", "333600000X", "332B00000X", "3336C0002X", "207Q00000X"]),
            "taxonomy",
        ),
        _optional(st.sampled_from(["AB1234", "", " "]), "ptan"),
        _optional(st.lists(enrollment, max_size=3), "enrollments"),
        _optional(
            st.builds(
                _merge,
                st.fixed_dictionaries(
                    {"status": st.sampled_from(["accredited", "exempt", "none"])}
                ),
                _optional(iso_dates(), "expires"),
            ),
            "accreditation",
        ),
        _optional(
            st.builds(
                _merge,
                st.fixed_dictionaries({"amount": decimal_texts(0, 100000, 0)}),
                _optional(iso_dates(), "expires"),
            ),
            "surety_bond",
        ),
        _optional(
            st.builds(
                _merge,
                st.fixed_dictionaries({"state": st.just("PA")}),
                _optional(iso_dates(), "expires"),
            ),
            "pharmacy_license",
        ),
    )


def claim_json() -> st.SearchStrategy[dict]:
    """A JSON-like claim that parses (it may well have findings)."""
    return st.builds(
        _merge,
        st.fixed_dictionaries(
            {
                "id": st.text(
                    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=12
                ),
                "payer": st.sampled_from(PAYERS),
                "supplier": supplier_json(),
                "lines": st.lists(line_json(), min_size=1, max_size=4),
            }
        ),
        _optional(st.sampled_from(["commercial", "medicare_advantage"]), "line_of_business"),
        _optional(iso_dates(), "date_of_service"),
        _optional(st.sampled_from(POS), "place_of_service"),
        _optional(
            st.lists(
                st.sampled_from(["J45.40", "J4540", "J44.9", "J41.0", "E11.9", "Z00.00"]),
                max_size=3,
            ),
            "diagnoses",
        ),
        _optional(
            st.fixed_dictionaries(
                {}, optional={"snf_part_a_stay": st.booleans(), "inpatient_stay": st.booleans()}
            ),
            "patient",
        ),
        _optional(
            st.builds(
                _merge,
                st.fixed_dictionaries({"npi": st.one_of(valid_npis(), st.just("3993999998"))}),
                _optional(st.booleans(), "pecos_enrolled"),
            ),
            "ordering_provider",
        ),
    )


def cross_line_claims() -> st.SearchStrategy[dict]:
    """Claims whose lines collide on purpose: a few codes, a few dates a month apart or missing,
    repeated NDCs and fee lines, from 1 to 8 lines. For comparing the backends on rules that
    aggregate over lines, compare one line with another, or compute with dates and strings."""
    days = st.sampled_from(["2026-03-02", "2026-03-03", "2026-04-15", "2025-12-31"])
    line = st.builds(
        _merge,
        st.fixed_dictionaries(
            {
                "hcpcs": st.sampled_from(("J7632", "J7631", "Q0513", "Q0514", "A7003")),
                "units": st.one_of(decimal_texts(0, 300, 0), decimal_texts(0, 3, 1)),
            }
        ),
        _optional(
            st.lists(st.sampled_from(("KO", "KP", "GA")), max_size=2, unique=True), "modifiers"
        ),
        _optional(days, "date_of_service"),
        _optional(st.sampled_from(["00172-6406-49", "12345-6789-01"]), "ndc"),
        _optional(decimal_texts(0, 50, 2), "charge"),
    )
    return st.builds(
        _merge,
        st.fixed_dictionaries(
            {
                "id": st.just("CROSS-LINE"),
                "payer": st.sampled_from(PAYERS),
                "supplier": st.just({"npi": "1234567893"}),
                "lines": st.lists(line, min_size=1, max_size=8),
            }
        ),
        _optional(days, "date_of_service"),
    )


def cross_line_conditions(on: str = "line") -> st.SearchStrategy[str]:
    """Conditions of the language that aggregate over lines, compare lines (in a line rule,
    ``on="line"``), compute with dates and join strings: for building small rulesets on which the
    backends are compared, with :func:`cross_line_claims`."""
    simple = [
        'l.hcpcs == "Q0513"',
        'l.hcpcs in ["J7632", "J7631"]',
        '"KO" in l.modifiers',
        "l.charge > 10",
        "l.units >= 1",
        "l.date_of_service == None",
        "l.date_of_service - claim.date_of_service > 30",
        "l.date_of_service + 1 == claim.date_of_service",
        'l.hcpcs + "/" + l.ndc == "J7632/00172-6406-49"',
    ]
    if on == "line":
        simple += [
            "l.hcpcs == line.hcpcs",
            "l.number != line.number",
            "l.number < line.number",
            "l.date_of_service == line.date_of_service",
            "l.units > line.units",
            "line.date_of_service - l.date_of_service <= 1",
        ]
    filters = st.recursive(
        st.sampled_from(simple),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda f: f"not ({f})"),
        ),
        max_leaves=3,
    )
    numbers = st.sampled_from(["l.units", "l.charge", "l.number"])
    limits = st.sampled_from(["0", "1", "2", "10.5", "250"])

    def where(f: str | None) -> str:
        return "" if f is None else f" if {f}"

    maybe = st.one_of(st.none(), filters)
    aggregate = st.one_of(
        st.builds(
            lambda f, k: f"count(l for l in lines{where(f)}) > {k}", maybe, st.integers(0, 3)
        ),
        st.builds(
            lambda v, f, k: f"sum({v} for l in lines{where(f)}) > {k}", numbers, maybe, limits
        ),
        st.builds(
            lambda op, v, f, cmp, k: f"{op}({v} for l in lines{where(f)}) {cmp} {k}",
            st.sampled_from(["min", "max"]),
            numbers,
            maybe,
            st.sampled_from(["<", ">=", "=="]),
            limits,
        ),
        st.builds(
            lambda op, f: f'{op}(l.date_of_service for l in lines{where(f)}) < date("2026-03-03")',
            st.sampled_from(["min", "max"]),
            maybe,
        ),
        st.builds(lambda f: f"max(l.hcpcs for l in lines{where(f)}) == None", maybe),
        st.builds(lambda c, f: f"any({c} for l in lines{where(f)})", filters, maybe),
        st.builds(lambda c, f: f"all({c} for l in lines{where(f)})", filters, maybe),
        st.builds(
            lambda k: f"claim.date_of_service + {k} > max(l.date_of_service for l in lines)",
            st.integers(-40, 40),
        ),
    )
    return st.recursive(
        aggregate,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda c: f"not ({c})"),
        ),
        max_leaves=2,
    )


def json_values(max_leaves: int = 20) -> st.SearchStrategy[object]:
    """Arbitrary JSON-like values (plus floats, bools and odd strings) for fuzzing the parser."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True),
        st.text(max_size=12),
        st.sampled_from(["2026-03-02", "240", "-1", "NaN", "1e3", "J7632", "mL", "medicare"]),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(
                st.one_of(
                    st.sampled_from(
                        [
                            "id",
                            "payer",
                            "supplier",
                            "lines",
                            "units",
                            "hcpcs",
                            "npi",
                            "dispensed",
                            "quantity",
                            "unit",
                        ]
                    ),
                    st.text(max_size=8),
                ),
                children,
                max_size=5,
            ),
        ),
        max_leaves=max_leaves,
    )


def mutated_claims() -> st.SearchStrategy[object]:
    """Valid claims with one key's value replaced by something arbitrary."""

    def mutate(claim: dict, data: st.DataObject) -> object:
        target = claim
        path = data.draw(st.lists(st.integers(0, 10), min_size=1, max_size=4))
        for step in path[:-1]:
            if isinstance(target, dict) and target:
                key = sorted(target)[step % len(target)]
                if isinstance(target[key], dict | list) and target[key]:
                    target = target[key]
                    continue
            break
        if isinstance(target, dict) and target:
            key = sorted(target)[path[-1] % len(target)]
            target[key] = data.draw(json_values(5))
        elif isinstance(target, list) and target:
            target[path[-1] % len(target)] = data.draw(json_values(5))
        return claim

    return st.builds(mutate, claim_json(), st.data())


# ------------------------------------------------------------------------ differential claims
# Claims aimed at every boundary the rulesets have: dates of service around each effective date,
# supplier records that start or end around the date of service, quantities around the expected
# units, the monthly maximum and the 3-month supply. Used to prove both backends agree.

EFFECTIVE_DATES = (
    dt.date(2007, 7, 1),
    dt.date(2009, 10, 2),
    dt.date(2011, 7, 1),
    dt.date(2013, 11, 1),
    dt.date(2014, 1, 6),
    dt.date(2014, 1, 1),
    dt.date(2016, 1, 1),
    dt.date(2017, 1, 1),
    dt.date(2026, 3, 2),
)
NEIGHBOUR_CODES = (
    "J7632",
    "J7632",
    "J7631",
    "J7611",
    "J7699",
    "Q0513",
    "Q0514",
    "G0333",
    "E0570",
    "A7003",
    "A7005",
    "99213",
)


def _around(day: dt.date) -> st.SearchStrategy[dt.date]:
    return st.integers(-2, 2).map(lambda d: day + dt.timedelta(days=d))


def _maybe(
    strategy: st.SearchStrategy, key: str, p_present: bool = True
) -> st.SearchStrategy[dict]:
    return _optional(strategy, key) if p_present else st.just({})


@st.composite
def differential_claims(draw) -> dict:
    dos = draw(st.sampled_from(EFFECTIVE_DATES).flatmap(_around))
    iso = dos.isoformat
    near = st.integers(-400, 400).map(lambda d: (dos + dt.timedelta(days=d)).isoformat())
    boundary = st.sampled_from([-1, 0, 1]).map(lambda d: (dos + dt.timedelta(days=d)).isoformat())
    some_date = st.one_of(boundary, near)
    payer = draw(st.sampled_from(PAYERS))
    mg = draw(st.sampled_from(["2400", "2405", "2480", "2481", "7200", "7450", "0.5", "10"]))
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        hcpcs = draw(st.sampled_from(NEIGHBOUR_CODES))
        line = {
            "hcpcs": hcpcs,
            "units": draw(
                st.sampled_from(["240", "241", "248", "249", "250", "720", "745", "1", "0", "2.5"])
            ),
            "modifiers": draw(st.lists(st.sampled_from(MODIFIERS), max_size=5, unique=True)),
            "diagnosis_pointers": draw(st.sampled_from([[1], [1, 2], [], [2], [3]])),
        }
        line.update(draw(_optional(some_date, "date_of_service")))
        line.update(draw(_optional(st.sampled_from(POS), "place_of_service")))
        line.update(
            draw(
                _optional(
                    st.sampled_from(
                        [
                            {"quantity": mg, "unit": "mg"},
                            {"quantity": "2.4", "unit": "g"},
                            {"quantity": "240", "unit": "mL", "concentration_mg_per_ml": "10"},
                            {"quantity": "240", "unit": "mL"},
                            {"quantity": "2400000", "unit": "mcg"},
                        ]
                    ),
                    "dispensed",
                )
            )
        )
        line.update(
            draw(_optional(st.sampled_from([1, 30, 31, 62, 90, 91, 93, 94]), "days_supply"))
        )
        line.update(
            draw(
                _optional(
                    st.fixed_dictionaries(
                        {
                            "dose_mg": st.sampled_from(["20", "10"]),
                            "times_per_day": st.integers(1, 4),
                        }
                    ),
                    "order",
                )
            )
        )
        line.update(draw(_optional(st.sampled_from(["00172-6406-49", "1234567890", " "]), "ndc")))
        line.update(draw(_optional(st.sampled_from(["240", "1"]), "ndc_quantity")))
        line.update(draw(_optional(st.sampled_from(["ML", "UN", "MG", " "]), "ndc_unit")))
        line.update(
            draw(
                _optional(
                    st.sampled_from(
                        [
                            "",
                            "   ",
                            "took longer",
                            "one two three four five six seven eight nine",
                            "one two three four five six seven eight nine ten",
                        ]
                    ),
                    "note",
                )
            )
        )
        line.update(
            draw(
                _optional(
                    st.lists(
                        st.sampled_from(["operative_report", "clinical_notes", "other"]),
                        max_size=2,
                        unique=True,
                    ),
                    "attachments",
                )
            )
        )
        line.update(
            draw(
                _optional(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "bulk_ingredients": st.booleans(),
                            "replicates_commercial_product": st.booleans(),
                        },
                    ),
                    "compound",
                )
            )
        )
        lines.append(line)
    enrollments = draw(
        st.lists(
            st.builds(
                _merge,
                st.fixed_dictionaries(
                    {
                        "payer": st.sampled_from([payer, payer, "medicare", "aetna"]),
                        "status": st.sampled_from(["active", "active", "pending"]),
                        "effective": some_date,
                    }
                ),
                _optional(st.one_of(st.none(), some_date), "end"),
            ),
            max_size=2,
        )
    )
    supplier = _merge(
        {
            "npi": draw(st.sampled_from(["1234567893", "1993999998", "1234567890", "123456789"])),
            "enrollments": enrollments,
        },
        draw(
            _optional(
                st.sampled_from(
                    ["3336C0004X", "333600000X", "332B00000X", "3336C0002X", "207Q00000X", "3336X"]
                ),
                "taxonomy",
            )
        ),
        draw(_optional(st.sampled_from(["AB1234", "", "  "]), "ptan")),
        draw(
            _optional(
                st.builds(
                    _merge,
                    st.fixed_dictionaries(
                        {"status": st.sampled_from(["accredited", "exempt", "none"])}
                    ),
                    _optional(some_date, "expires"),
                ),
                "accreditation",
            )
        ),
        draw(
            _optional(
                st.builds(
                    _merge,
                    st.fixed_dictionaries(
                        {"amount": st.sampled_from(["50000", "49999.99", "75000"])}
                    ),
                    _optional(some_date, "expires"),
                ),
                "surety_bond",
            )
        ),
        draw(
            _optional(
                st.builds(
                    _merge,
                    st.fixed_dictionaries({"state": st.just("PA")}),
                    _optional(some_date, "expires"),
                ),
                "pharmacy_license",
            )
        ),
    )
    claim = {
        "id": draw(st.sampled_from(["D-1", "D-2", "D-3"])),
        "payer": payer,
        "supplier": supplier,
        "lines": lines,
        "diagnoses": draw(
            st.sampled_from([["J45.40"], ["J44.9", "E11.9"], ["Z00.00"], [], ["J41.0", "J43.9"]])
        ),
    }
    claim.update(
        draw(_optional(st.sampled_from(["commercial", "medicare_advantage"]), "line_of_business"))
    )
    claim.update(draw(_optional(st.just(iso()), "date_of_service")))
    claim.update(draw(_optional(st.sampled_from(POS), "place_of_service")))
    claim.update(
        draw(
            _optional(
                st.fixed_dictionaries(
                    {}, optional={"snf_part_a_stay": st.booleans(), "inpatient_stay": st.booleans()}
                ),
                "patient",
            )
        )
    )
    claim.update(
        draw(
            _optional(
                st.builds(
                    _merge,
                    st.fixed_dictionaries({"npi": st.sampled_from(["1993999998", "3993999998"])}),
                    _optional(st.booleans(), "pecos_enrolled"),
                ),
                "ordering_provider",
            )
        )
    )
    return claim


# --------------------------------------------------------------------------- hostile claims
# Inputs built to break the claim boundary rather than to look like claims: keys that are not
# strings, subclasses whose methods raise, digits of other scripts, numbers and strings past the
# limits, nesting far below the claim's shape, containers JSON does not have. Every big value is
# one allocation (a repeated string, a nested list built in a loop), so examples stay cheap.


class RaisingStr(str):
    """A str whose hashing, comparisons and methods raise: it must be copied, never used."""

    def _boom(self, *_args: object) -> object:
        raise RuntimeError("RaisingStr")

    __hash__ = __eq__ = __ne__ = __lt__ = __len__ = strip = lstrip = partition = _boom  # type: ignore[assignment]

    def __repr__(self) -> str:  # Hypothesis prints failing examples
        return f"RaisingStr({str.__str__(self)!r})"


class LookalikeStr(str):
    """A str key equal only to itself: a dict may hold it next to the plain key it spells."""

    def __hash__(self) -> int:
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:
        return f"LookalikeStr({str.__str__(self)!r})"


class RaisingInt(int):
    """An int whose comparisons and arithmetic raise."""

    def _boom(self, *_args: object) -> object:
        raise RuntimeError("RaisingInt")

    __gt__ = __lt__ = __ge__ = __le__ = __eq__ = __add__ = __mul__ = __abs__ = __neg__ = _boom  # type: ignore[assignment]
    __hash__ = int.__hash__
    bit_length = _boom  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RaisingInt({int.__repr__(self)})"


class RaisingDecimal(Decimal):
    """A Decimal whose comparisons, arithmetic and inspection raise."""

    def _boom(self, *_args: object) -> object:
        raise RuntimeError("RaisingDecimal")

    __gt__ = __lt__ = __le__ = __ge__ = __eq__ = __add__ = __mul__ = __abs__ = _boom  # type: ignore[assignment]
    __hash__ = Decimal.__hash__
    as_tuple = is_finite = adjusted = is_zero = _boom  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RaisingDecimal({Decimal.__str__(self)!r})"


class LyingDate(dt.date):
    """A date whose fields and methods lie or raise: only the base type's accessors are safe."""

    @property
    def year(self) -> int:  # type: ignore[override]
        raise RuntimeError("LyingDate.year")

    def isoformat(self) -> str:
        raise RuntimeError("LyingDate.isoformat")

    def toordinal(self) -> int:
        return 1


class RaisingTz(dt.tzinfo):
    """A time zone whose every method raises (repr() of a datetime calls the zone's repr)."""

    def _boom(self, *_args: object) -> object:
        raise RuntimeError("RaisingTz")

    utcoffset = dst = tzname = __repr__ = _boom  # type: ignore[assignment]


class RaisingDict(dict):
    """A dict subclass whose every overridable read raises."""

    def _boom(self, *_args: object) -> object:
        raise RuntimeError("RaisingDict")

    items = keys = values = get = __getitem__ = __iter__ = __len__ = __contains__ = _boom  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RaisingDict({dict.__repr__(self)})"


class RaisingList(list):
    """A list subclass whose iteration, length and indexing raise."""

    def _boom(self, *_args: object) -> object:
        raise RuntimeError("RaisingList")

    __iter__ = __len__ = __getitem__ = _boom  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RaisingList({list.__repr__(self)})"


class BrokenMapping(Mapping):
    """A Mapping (not a dict) that fails on the first read, or never stops yielding keys."""

    def __init__(self, endless: bool) -> None:
        self.endless = endless

    def __getitem__(self, key: object) -> object:
        if self.endless:
            return "x"
        raise KeyError("BrokenMapping")

    def __iter__(self) -> Iterator[str]:
        count = 0
        while self.endless or count < 2:
            count += 1
            yield f"key{count}"

    def __len__(self) -> int:
        raise RuntimeError("BrokenMapping.__len__")

    def __repr__(self) -> str:
        return f"BrokenMapping(endless={self.endless})"


UNICODE_DIGITS = {
    "arabic-indic": str.maketrans(
        "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
    ),
    "full-width": str.maketrans(
        "0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19"
    ),
    "devanagari": str.maketrans(
        "0123456789", "\u0966\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f"
    ),
}


def nested(depth: int, leaf: object = "x") -> object:
    """``depth`` lists inside each other, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def hostile_values() -> st.SearchStrategy[object]:
    """One value aimed at a weak spot of the boundary (see the section comment)."""
    numbers = st.one_of(
        st.sampled_from(["240", "2400", "0.5", "2026-03-02", "1"]).flatmap(
            lambda text: st.sampled_from(list(UNICODE_DIGITS.values())).map(text.translate)
        ),
        st.integers(0, 200).map(lambda n: "240." + "0" * n),  # trailing zeros, past the cap too
        st.integers(0, 10).map(lambda n: "0." + "0" * n),
        st.integers(30, 5000).map(lambda n: "9" * n),
        st.integers(1, 5000).map(lambda n: 10**n),
        st.integers(1, 60).map(lambda n: Decimal(f"1E-{n}")),
        st.sampled_from(
            [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]
        ),
        st.sampled_from([Decimal("1E+999999"), Decimal("0E-999")]),
        st.integers(60, 5000).map(lambda n: Decimal("1." + "0" * n)),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(
            ["1e3", "NaN", "Infinity", "0x10", "1_000", " 240 ", "\u2003240", "+-1", "."]
        ),
    )
    odd_types = st.one_of(
        st.builds(RaisingStr, st.sampled_from(["J7632", "medicare", "240", "KO", "2026-03-02"])),
        st.builds(RaisingInt, st.integers(-5, 500)),
        st.builds(RaisingDecimal, st.sampled_from(["240", "2.5", "NaN", "1E+30"])),
        st.builds(LyingDate, st.just(2026), st.just(3), st.integers(1, 28)),
        st.datetimes(),
        st.dates().map(lambda d: dt.datetime(d.year, d.month, d.day, tzinfo=RaisingTz())),
        st.binary(max_size=8),
        st.sets(st.integers(0, 3), max_size=3),
        st.frozensets(st.sampled_from(["KO", "GA"]), max_size=2),
        st.builds(RaisingDict, st.just({"hcpcs": "J7632", "units": "1"})),
        st.builds(RaisingList, st.just([{"hcpcs": "J7632", "units": "1"}])),
        st.builds(BrokenMapping, st.booleans()),
        st.just(object()),
        st.just(iter([1, 2])),
        st.builds(complex, st.integers(), st.integers()),
    )
    sizes = st.one_of(
        st.integers(9_990, 10_010).map(lambda n: "A" * n),  # around max_string_length
        st.integers(1, 3).map(lambda n: "x" * (10**5 * n)),
        st.integers(45, 60).map(lambda n: [{"hcpcs": "J7632", "units": "1"}] * n),  # lines
        st.integers(95, 200).map(lambda n: ["KO"] * n),
        st.integers(11, 14).map(lambda n: ["J45.40"] * n),
        st.integers(3, 6).map(lambda n: [1] * n),
        st.integers(10, 100_000).map(nested),
        st.integers(2, 20).map(lambda n: nested(n, {"hcpcs": "J7632"})),
        st.integers(90, 300).map(lambda n: {f"k{i}": i for i in range(n)}),
    )
    return st.one_of(numbers, odd_types, sizes)


def hostile_keys() -> st.SearchStrategy[object]:
    """Object keys that are not plain strings, or strings no claim has."""
    return st.one_of(
        st.integers(-3, 3),
        st.integers(4400, 5000).map(lambda n: 10**n),  # repr() of these raises
        st.none(),
        st.booleans(),
        st.tuples(st.integers(0, 2), st.text(max_size=2)),
        st.frozensets(st.integers(0, 2), max_size=2),
        st.floats(allow_nan=False),
        st.binary(max_size=4),
        st.builds(LookalikeStr, st.sampled_from(["id", "payer", "lines", "hcpcs", "units", "npi"])),
        st.integers(65, 100_000).map(lambda n: "k" * n),
        st.sampled_from(["", " ", "ID", "Id", "lines ", "unit\u0073", "\x1b[2J", "a.b", 'q"q']),
    )


def hostile_claims() -> st.SearchStrategy[object]:
    """A claim that parses, then a few hostile values and keys put into it at random places."""

    def spoil(claim: dict, data: st.DataObject) -> object:
        for _ in range(data.draw(st.integers(1, 3))):
            target: object = claim
            for step in data.draw(st.lists(st.integers(0, 30), max_size=3)):
                # Keys in insertion order: sorting mixed-type keys is what used to fail.
                if type(target) is dict and target:
                    child = target[list(target)[step % len(target)]]
                elif type(target) is list and target:
                    child = target[step % len(target)]
                else:
                    break
                # Only plain containers: a hostile value put here earlier must stay untouched.
                if type(child) not in (dict, list) or not child:
                    break
                target = child
            if type(target) is dict:
                if data.draw(st.booleans()) and target:
                    target[list(target)[data.draw(st.integers(0, 30)) % len(target)]] = data.draw(
                        hostile_values()
                    )
                else:
                    target[data.draw(hostile_keys())] = data.draw(
                        st.one_of(hostile_values(), st.just("x"))
                    )
            elif type(target) is list and target:
                target[data.draw(st.integers(0, 30)) % len(target)] = data.draw(hostile_values())
        return claim

    spoiled = st.one_of(
        st.builds(spoil, claim_json(), st.data()),
        disguised_claims().map(lambda pair: pair[1]),
    )
    alone = st.one_of(
        hostile_values(),
        st.builds(lambda key, value: {key: value}, hostile_keys(), hostile_values()),
    )
    # Mostly spoiled claims: a hostile value alone is refused at the root, which is quickly learnt.
    return st.integers(0, 9).flatmap(lambda n: alone if n == 0 else spoiled)


def disguise(claim: dict, wrap_str: bool, wrap_int: bool, wrap_dict: bool) -> dict:
    """The same claim with its strings, keys, integers and objects in subclasses whose methods
    raise (see above): still a valid claim, which must evaluate exactly like the plain one."""

    def convert(value: object) -> object:
        if type(value) is str and wrap_str:
            return RaisingStr(value)
        if type(value) is int and wrap_int:
            return RaisingInt(value)
        return value

    root: dict = RaisingDict() if wrap_dict else {}
    stack: list[tuple[object, object]] = [(claim, root)]
    while stack:  # copied level by level, iteratively
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(value, dict):
                child: object = RaisingDict() if wrap_dict else {}
                stack.append((value, child))
            elif isinstance(value, list):
                child = [None] * len(value)
                stack.append((value, child))
            else:
                child = convert(value)
            if isinstance(target, dict):
                dict.__setitem__(target, LookalikeStr(key) if wrap_str else key, child)
            else:
                target[key] = child
    return root


def disguised_claims() -> st.SearchStrategy[tuple[dict, dict]]:
    """``(claim, the same claim disguised)`` pairs; see :func:`disguise`."""
    return st.builds(
        lambda claim, s, i, d: (claim, disguise(claim, s, i, d)),
        claim_json(),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    )
