"""Tests for hcpcs_rules.vocab: known vectors per helper, checksum and round-trip properties,
and totality (no helper raises on missing or mistyped input)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcpcs_rules.testing.strategies import invalid_npis, valid_npis
from hcpcs_rules.vocab import (
    POS_CODES,
    hcpcs_is_valid,
    icd10_in,
    modifier_is_valid,
    normalize_icd10,
    normalize_ndc,
    npi_is_valid,
    pos_is_valid,
)

# --- NPI -------------------------------------------------------------------------------------


@pytest.mark.parametrize("npi", ["1234567893", "1993999998"])
def test_known_valid_npis(npi: str) -> None:
    assert npi_is_valid(npi) is True


@pytest.mark.parametrize(
    "npi",
    [
        "1234567890",  # wrong check digit
        "0234567893",  # first digit must be 1 or 2
        "3234567893",
        "123456789",  # 9 digits
        "12345678931",  # 11 digits
        "123456789a",
        " 1234567893",
        "1234567893 ",
        "１２３４５６７８９３",  # full-width digits: isdigit() says yes, claims say no
        "١٢٣٤٥٦٧٨٩٣",  # Arabic-Indic digits
        1234567893,  # an int is not an identifier
    ],
)
def test_known_invalid_npis(npi: object) -> None:
    assert npi_is_valid(npi) is False


@given(valid_npis())
def test_generated_npis_are_valid(npi: str) -> None:
    assert npi_is_valid(npi) is True


@given(valid_npis(), st.integers(0, 9), st.integers(1, 9))
def test_any_single_digit_change_is_caught(npi: str, position: int, delta: int) -> None:
    changed = str((int(npi[position]) + delta) % 10)
    mutated = npi[:position] + changed + npi[position + 1 :]
    assert mutated != npi
    assert npi_is_valid(mutated) is False


@given(invalid_npis())
def test_generated_invalid_npis_are_rejected(value: object) -> None:
    assert npi_is_valid(value) is False


# --- NDC -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ndc", "expected"),
    [
        ("12345678901", "12345678901"),
        ("12345-6789-01", "12345678901"),
        ("1234-5678-90", "01234567890"),
        ("12345-678-90", "12345067890"),
        ("12345-6789-0", "12345678900"),
        ("00000-0000-00", "00000000000"),
    ],
)
def test_ndc_vectors(ndc: str, expected: str) -> None:
    assert normalize_ndc(ndc) == expected


@pytest.mark.parametrize(
    "ndc",
    [
        "1234567890",  # 10 plain digits: which segment is short is unknowable
        "123456789012",
        "1234-567-89",  # two short segments
        "123-4567-89",
        "123456-789-01",
        "12345-67890-1",
        "12345-6789-012",
        "12345-6789",
        "12345-6789-01-2",
        "12345--678901",
        "1234A-6789-01",
        "12345 6789 01",
        "12345-6789-01 ",
        " 12345678901",
        "１２３４５-６７８９-０１",
        "",
    ],
)
def test_ndc_rejects(ndc: str) -> None:
    assert normalize_ndc(ndc) is None


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_ndc_hyphenated_round_trip(digits: str) -> None:
    hyphenated = f"{digits[:5]}-{digits[5:9]}-{digits[9:]}"
    assert normalize_ndc(hyphenated) == digits
    assert normalize_ndc(digits) == digits


@given(
    st.text(alphabet="0123456789", min_size=4, max_size=4),
    st.text(alphabet="0123456789", min_size=4, max_size=4),
    st.text(alphabet="0123456789", min_size=2, max_size=2),
)
def test_ndc_short_segment_is_padded_with_a_leading_zero(a: str, b: str, c: str) -> None:
    assert normalize_ndc(f"{a}-{b}-{c}") == "0" + a + b + c
    assert normalize_ndc(f"9{a}-{b[:3]}-{c}") == "9" + a + "0" + b[:3] + c
    assert normalize_ndc(f"9{a}-{b}-{c[:1]}") == "9" + a + b + "0" + c[:1]


# --- place of service ------------------------------------------------------------------------

ASSIGNED_POS = (
    [f"{n:02d}" for n in range(1, 28)]
    + ["31", "32", "33", "34", "41", "42"]
    + [str(n) for n in range(49, 59)]
    + ["60", "61", "62", "65", "66", "71", "72", "81", "99"]
)


def test_pos_table_is_exactly_the_assigned_codes() -> None:
    assert sorted(POS_CODES) == sorted(ASSIGNED_POS)
    assert all(name and name == name.strip() and name.isascii() for name in POS_CODES.values())


def test_pos_names_spot_check() -> None:
    assert POS_CODES["11"] == "Office"
    assert POS_CODES["12"] == "Home"
    assert "Telehealth" in POS_CODES["02"] and "Telehealth" in POS_CODES["10"]
    assert "PACE" in POS_CODES["66"]


@pytest.mark.parametrize("pos", ["01", "02", "10", "11", "12", "27", "58", "66", "99"])
def test_valid_pos(pos: str) -> None:
    assert pos_is_valid(pos) is True


@pytest.mark.parametrize(
    "pos", ["00", "28", "30", "35", "43", "59", "63", "67", "98", "1", "011", "11 ", "１１", 11]
)
def test_invalid_pos(pos: object) -> None:
    assert pos_is_valid(pos) is False


def test_pos_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        POS_CODES["00"] = "Nowhere"  # type: ignore[index]


# --- ICD-10-CM -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("J45.40", "J4540"),
        ("j4540", "J4540"),
        ("  J45.40 ", "J4540"),
        ("J45", "J45"),
        ("J45.", "J45"),
        ("J45.909", "J45909"),
        ("C7A.010", "C7A010"),
        ("S72.001A", "S72001A"),
        ("U07.1", "U071"),
    ],
)
def test_icd10_normalises(raw: str, expected: str) -> None:
    assert normalize_icd10(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "J4",  # too short
        "J45.40123",  # too long
        "J4540123",
        "4J540",  # must start with a letter
        "JA540",  # second character must be a digit
        "J4.540",  # dot in the wrong place
        "J45..40",
        "J45.4.0",
        "J45 40",
        "J45-40",
        "Jß5",  # non-ASCII; upper() would turn ß into SS
        "Ｊ45",
        ".J45",
    ],
)
def test_icd10_rejects(raw: str) -> None:
    assert normalize_icd10(raw) is None


_ICD_CODES = st.builds(
    lambda head, digit, tail: head + digit + tail,
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    st.sampled_from("0123456789"),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=5),
)


@given(_ICD_CODES, st.booleans())
def test_icd10_is_dot_and_case_insensitive(code: str, lower: bool) -> None:
    dotted = code[:3] + "." + code[3:]
    for spelling in (code, dotted):
        text = spelling.lower() if lower else spelling
        assert normalize_icd10(text) == code


@pytest.mark.parametrize(
    ("code", "prefixes", "expected"),
    [
        ("J45.40", ["J45"], True),
        ("J4540", ["J45.4"], True),
        ("J44.1", ["J45", "J44."], True),
        ("J41.0", ["J41.0"], True),
        ("J41.1", ["J41.0"], False),
        ("J45.909", ["J45.*"], True),
        ("J45.909", ["j45.*"], True),
        ("J46", ["J45.*"], False),
        ("J45.40", "J45", True),  # a bare string is one prefix
        ("J12", "J45", False),  # ... not the characters "J", "4", "5"
        ("J45.40", [], False),
        ("J45.40", ["", "*", "J4.", "J4*5", None, 45], False),  # junk prefixes never match
        ("J45.40", ["J"], True),
        (None, ["J45"], False),
        ("not a code", ["J45"], False),
        ("J45.40", None, False),
        ("J45.40", 45, False),
    ],
)
def test_icd10_in(code: object, prefixes: object, expected: bool) -> None:
    assert icd10_in(code, prefixes) is expected


# --- HCPCS / CPT and modifiers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["J7632", "E0570", "Q0513", "G0333", "A4216", "V2020", "99213", "0001U", "0503F", "0075T"],
)
def test_valid_hcpcs(code: str) -> None:
    assert hcpcs_is_valid(code) is True


@pytest.mark.parametrize(
    "code",
    [
        "j7632",  # upper case only
        "W1234",  # letters after V are not HCPCS Level II
        "J763",
        "J76320",
        "9921",
        "992134",
        "0001X",
        "0001u",
        "J 7632",
        "J7632 ",
        "J７６３２",
        "",
    ],
)
def test_invalid_hcpcs(code: str) -> None:
    assert hcpcs_is_valid(code) is False


@pytest.mark.parametrize("modifier", ["KO", "GA", "22", "59", "JW", "E1", "KX"])
def test_valid_modifiers(modifier: str) -> None:
    assert modifier_is_valid(modifier) is True


@pytest.mark.parametrize("modifier", ["ko", "K", "KOX", "K-", " KO", "ＫＯ", "", "K\n"])
def test_invalid_modifiers(modifier: str) -> None:
    assert modifier_is_valid(modifier) is False


# --- totality --------------------------------------------------------------------------------

HELPERS: list[Callable[[object], object]] = [
    npi_is_valid,
    normalize_ndc,
    pos_is_valid,
    normalize_icd10,
    hcpcs_is_valid,
    modifier_is_valid,
    lambda value: icd10_in(value, ["J45"]),
    lambda value: icd10_in("J45.40", value),
]

JUNK: list[object] = [None, 0, 11, 1234567893, 12345678901, 2.5, float("nan"), [], [1, 2], {}, ""]


@pytest.mark.parametrize("helper", HELPERS)
@pytest.mark.parametrize("value", JUNK, ids=repr)
def test_helpers_never_raise_on_junk(helper: Callable[[object], object], value: object) -> None:
    result = helper(value)
    assert result is False or result is None


@given(st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=12), st.binary()))
def test_helpers_are_total(value: object) -> None:
    for helper in HELPERS:
        result = helper(value)
        assert result is None or isinstance(result, bool | str)


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_npi_check_is_luhn_over_the_80840_prefix(value: str) -> None:
    """The unrolled check against the textbook one: Luhn over 80840 + the first nine digits."""
    digits = [int(c) for c in reversed("80840" + value[:9])]
    # From the right, the digit beside where the check digit goes is doubled (minus 9 if > 9).
    total = sum(d * 2 - 9 if d * 2 > 9 else d * 2 for d in digits[0::2]) + sum(digits[1::2])
    expected = value[0] in "12" and (10 - total % 10) % 10 == int(value[9])
    assert npi_is_valid(value) is expected
