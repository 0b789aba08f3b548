"""evaluate_json and the fast JSON decoder behind it and behind the reader (issue 13).

Every test runs with msgspec (the fast path, when installed) and without it (the exact standard
library path): both must give the same values, Results and ClaimErrors as ``read_claims`` followed
by ``evaluate`` give for the same text.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hcpcs_rules
from hcpcs_rules import ClaimError, Engine, reader
from hcpcs_rules.reader import MAX_DEPTH, Unreadable, decode_claim, read_stream
from hcpcs_rules.testing import claimgen
from hcpcs_rules.testing.strategies import claim_json, differential_claims, mutated_claims

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLEAN_TEXT = (EXAMPLES / "aetna-clean.json").read_text()
CLEAN = json.loads(CLEAN_TEXT)
FAST = reader._fast_decoder
DECODERS = [
    pytest.param(
        "msgspec",
        marks=pytest.mark.skipif(FAST is None, reason="msgspec is not installed"),
    ),
    "stdlib",
]


@contextlib.contextmanager
def decoding_with(name: str):
    """The reader's fast decoder as named: "msgspec", or "stdlib" (none: the exact path)."""
    saved = reader._fast_decoder
    reader._fast_decoder = FAST if name == "msgspec" else None
    try:
        yield
    finally:
        reader._fast_decoder = saved


@pytest.fixture(scope="module")
def engine():
    return Engine(rulesets=["core", "j7632"])


def outcome(run, *args, **kwargs):
    """A Result as data, or ("ClaimError", its problems)."""
    try:
        return run(*args, **kwargs).to_dict()
    except ClaimError as exc:
        return ("ClaimError", exc.errors)


def decoded(data):
    try:
        return ("value", decode_claim(data))
    except ClaimError as exc:
        return ("ClaimError", exc.errors)


def via_reader(engine: Engine, data: bytes):
    """What ``hcpcs-rules check -`` makes of ``data``: its one record, evaluated; an unreadable
    one as the ClaimError at ``$`` evaluate_json gives for it."""
    (record,) = read_stream(io.BytesIO(data), "<stdin>")
    if isinstance(record.problem, ClaimError):
        return ("ClaimError", record.problem.errors)
    if isinstance(record.problem, Unreadable):
        message = str(record.problem).removeprefix(f"{record.location}: ")
        return ("ClaimError", (("$", message),))
    return outcome(engine.evaluate, record.claim)


def claim(**changes) -> dict:
    data = json.loads(CLEAN_TEXT)
    data.update(changes)
    return data


def text_of(data: dict) -> str:
    return json.dumps(data)


UNITS = '"units": "240"'
assert UNITS in text_of(CLEAN)

#: The hostile inputs of tests/test_cli_hostile.py, test_reader_fuzz.py and test_claims_hostile.py
#: that are one JSON document, and a few more: each must be answered identically both ways. (The
#: reader streams a top-level array element by element, evaluate_json takes one claim: arrays are
#: nested in an object here.)
REGRESSIONS: dict[str, bytes] = {
    "clean": CLEAN_TEXT.encode(),
    "pretty printed": json.dumps(CLEAN, indent=2).encode(),
    "not ASCII, escaped": json.dumps(claim(id="CAFÉ-\u00e9")).encode(),
    "UTF-8 text": json.dumps(claim(id="CAFÉ \u2028 \U0001f600"), ensure_ascii=False).encode(),
    "arrays 100,000 deep": b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "objects 100,000 deep": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "65 levels": ('{"a":' + "[" * 64 + "]" * 64 + "}").encode(),
    "64 levels": ('{"a":' + "[" * 63 + "]" * 63 + "}").encode(),
    "65 levels, hidden by brackets in strings": (
        '{"a": "]", "b": ' + "[" * 64 + "]" * 64 + ', "c": "["}'
    ).encode(),
    "a claim nested 70 deep in an extension": text_of(
        claim(extensions={"x": json.loads("[" * 70 + "]" * 70)})
    ).encode(),
    "5,000-digit integer": text_of(claim()).replace(UNITS, '"units": ' + "9" * 5000).encode(),
    "100-digit integer": text_of(claim()).replace(UNITS, '"units": ' + "9" * 100).encode(),
    "101-digit integer": text_of(claim()).replace(UNITS, '"units": ' + "9" * 101).encode(),
    "-99 digits": text_of(claim()).replace(UNITS, '"units": -' + "9" * 99).encode(),
    "-100 digits": text_of(claim()).replace(UNITS, '"units": -' + "9" * 100).encode(),
    "65-bit integer": text_of(claim()).replace(UNITS, '"units": 36893488147419103232').encode(),
    "duplicate payer": (text_of(claim(payer="medicare"))[:-1] + ', "payer": "aetna"}').encode(),
    "duplicate units": text_of(claim()).replace(UNITS, UNITS + ', "units": "250"').encode(),
    "duplicate spelled with an escape": text_of(claim())
    .replace(UNITS, UNITS + ', "\\u0075nits": "250"')
    .encode(),
    "duplicate with colons escaped": text_of(claim(id="A\\u003aB"))
    .replace(UNITS, UNITS + ', "units": "2:5"')
    .encode(),
    "colons in strings": text_of(claim(id="A:B::C", note="x")).encode(),
    "70 trailing zeros": text_of(claim())
    .replace(UNITS, '"units": "240.' + "0" * 70 + '"')
    .encode(),
    "float units": text_of(claim()).replace(UNITS, '"units": 240.0').encode(),
    "float exponent": text_of(claim()).replace(UNITS, '"units": 2.4e2').encode(),
    "float 1e400": text_of(claim()).replace(UNITS, '"units": 1e400').encode(),
    "negative zero float": text_of(claim()).replace(UNITS, '"units": -0.0').encode(),
    "NaN": text_of(claim()).replace(UNITS, '"units": NaN').encode(),
    "Infinity": text_of(claim()).replace(UNITS, '"units": Infinity').encode(),
    "-Infinity id": text_of(claim()).replace('"id": "EX-AETNA-CLEAN"', '"id": -Infinity').encode(),
    "control characters in the id": text_of(
        claim(id="\x1b[2J\x1b[31mCLEAN\x07\x7f\x9b1m\u2028\u202eevil\r")
    ).encode(),
    "lone surrogate escape": text_of(claim()).replace("EX-AETNA-CLEAN", "A\\ud800").encode(),
    "invalid UTF-8": text_of(claim(id="GOOD"))
    .replace("GOOD", "B\udcffD")
    .encode("utf-8", "surrogateescape"),
    "encoded surrogate": b'{"id": "\xed\xa0\x80"}',
    "empty": b"",
    "white space": b" \n\t ",
    "garbage": b"\x00\xff\xfe garbage",
    "an open bracket": b'{"a": [',
    "an open object": b'{"a":',
    "not JSON": b"{oops",
    "trailing comma": text_of(claim())[:-1].encode() + b",}",
    "extra data": text_of(CLEAN).encode() + b" []",
    "a string": b'"claim"',
    "a number": b"42",
    "null": b"null",
    "51 lines": text_of(claim(lines=CLEAN["lines"] * 51)).encode(),
    "50 lines": text_of(claim(lines=CLEAN["lines"] * 50)).encode(),
    "too many keys": text_of(claim(supplier={f"k{i}": "x" for i in range(150)})).encode(),
    "unknown key with a colon": text_of(claim(**{"a:b": 1})).encode(),
    "key with brackets and quotes": text_of(claim(**{'[{"': "]}"})).encode(),
}


def test_the_regressions_cover_what_the_hostile_tests_feed_the_reader():
    assert len(REGRESSIONS) >= 45
    for data in REGRESSIONS.values():  # one document each, as the reader reads it
        assert len(list(read_stream(io.BytesIO(data), "<stdin>"))) == 1


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_evaluate_json_answers_each_regression_as_the_reader_and_evaluate_do(engine, decoder, name):
    data = REGRESSIONS[name]
    with decoding_with(decoder):
        expected = via_reader(engine, data)
        assert outcome(engine.evaluate_json, data) == expected
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return
        assert outcome(engine.evaluate_json, text) == expected


def test_both_decoders_give_the_reader_the_same_records_on_the_regressions():
    texts = [t for t in REGRESSIONS.values() if b"\n" not in t and len(t) < 100_000]
    jsonl = b"\n".join(texts)
    array = b"[" + b",\n".join(texts) + b"]"
    for data, jsonl_flag in ((jsonl, True), (array, False)):
        runs = []
        for decoder in ("msgspec", "stdlib"):
            with decoding_with(decoder):
                runs.append(records(data, jsonl_flag))
        assert runs[0] == runs[1]


def records(data: bytes, jsonl: bool) -> list:
    return [
        (
            r.location,
            r.claim,
            type(r.problem).__name__,
            getattr(r.problem, "errors", str(r.problem)),
        )
        for r in read_stream(io.BytesIO(data), "f", jsonl=jsonl)
    ]


# ------------------------------------------------------------------------------ properties


@pytest.mark.parametrize("decoder", DECODERS)
@settings(max_examples=40)
@given(data=st.one_of(claim_json(), differential_claims(), mutated_claims()))
def test_evaluate_json_of_dumped_data_is_evaluate_of_the_data(engine, decoder, data):
    with decoding_with(decoder):
        expected = outcome(engine.evaluate, data)
        for text in (json.dumps(data), json.dumps(data, ensure_ascii=False, indent=1)):
            assert outcome(engine.evaluate_json, text) == expected
            assert outcome(engine.evaluate_json, text.encode()) == expected


@pytest.mark.parametrize("decoder", DECODERS)
def test_generated_claims_evaluate_the_same_from_json(engine, decoder):
    with decoding_with(decoder):
        for data in claimgen.claims(60, seed=13):
            text = json.dumps(data)
            assert outcome(engine.evaluate_json, text) == outcome(engine.evaluate, data)


# JSON texts built as text, so that they can hold what a decoded value cannot: duplicate keys,
# equal keys spelled differently, float spellings, integers of every size, odd nesting.
_KEYS = st.sampled_from(
    ['"a"', '"b"', '"\\u0061"', '"a:"', '"a\\u003a"', '"a\\u003A"', '"["', '"\\""', '"\\\\"']
) | st.text(max_size=4).map(json.dumps)
_NUMBERS = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(10**120), max_value=10**120).map(str),
    st.integers(min_value=90, max_value=110).map(lambda n: "9" * n),
    st.integers(min_value=89, max_value=110).map(lambda n: "-" + "9" * n),
    st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
    st.sampled_from(["-0", "-0.0", "1e400", "2.5", "1E2", "NaN", "Infinity", "-Infinity"]),
)
_STRINGS = st.one_of(
    st.text(max_size=6).map(json.dumps),
    st.text(max_size=6).map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.text(alphabet='[]{}":,\\u003a ', max_size=8).map(json.dumps),
    st.sampled_from(['"\\ud800"', '"\\u005b"', '"\\u003a"', '"x\\\\"', '"\\"]"']),
)
_SCALARS = st.one_of(_NUMBERS, _STRINGS, st.sampled_from(["true", "false", "null"]))
_SPACE = st.sampled_from(["", " ", "\n", "\t", "\r\n "])


def _array(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


def _object(pairs: list[tuple[str, str, str]]) -> str:
    return "{" + ",".join(f"{k}{space}:{space}{v}" for k, v, space in pairs) + "}"


def _deep(args: tuple[int, str, str]) -> str:
    depth, kind, inside = args
    if kind == "[":
        return "[" * depth + inside + "]" * depth
    return '{"k":' * depth + inside + "}" * depth


json_texts = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(_array),
        st.lists(st.tuples(_KEYS, inner, _SPACE), max_size=4).map(_object),
        st.tuples(st.integers(55, 70), st.sampled_from(["[", "{"]), inner).map(_deep),
    ),
    max_leaves=12,
)


@settings(max_examples=400)
@given(text=json_texts, before=_SPACE, after=_SPACE)
def test_the_fast_path_decodes_any_text_as_the_exact_path_does(text, before, after):
    data = (before + text + after).encode("utf-8", "surrogatepass")
    with decoding_with("msgspec"):
        fast = decoded(data)
    with decoding_with("stdlib"):
        exact = decoded(data)
    assert fast == exact
    if reader._fast_decoder is not None:  # and what it accepts, it accepts for the right reason
        value = reader._fast_value(data)
        assert value is reader._EXACT or exact == ("value", value)


@settings(max_examples=100)
@given(texts=st.lists(json_texts, min_size=1, max_size=5))
def test_the_reader_reads_the_same_records_with_either_decoder(texts):
    texts = [t.replace("\n", " ").replace("\r", " ") for t in texts]
    for data, jsonl in (
        ("\n".join(texts).encode("utf-8", "surrogatepass"), True),
        (("[" + ", ".join(texts) + "]").encode("utf-8", "surrogatepass"), False),
    ):
        with decoding_with("msgspec"):
            fast = records(data, jsonl)
        with decoding_with("stdlib"):
            exact = records(data, jsonl)
        assert fast == exact


# ------------------------------------------------------------------------- what is refused


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xef\xbb\xbf" + CLEAN_TEXT.encode(), "not JSON: starts with a byte order mark"),
        ("\ufeff" + CLEAN_TEXT, "not JSON: starts with a byte order mark"),
        (b'{"id": "\xff"}', "not UTF-8 (invalid byte at column 9)"),
        (b'{\n"id": "\xff"}', "not UTF-8 (invalid byte at line 2, column 8)"),
        ('{"id": "\ud800"}', "not JSON: a lone surrogate '\\ud800' at column 9"),
        (b"", "not JSON: the input is empty"),
        (b"{", "not JSON: Expecting property name enclosed in double quotes (column 2)"),
        (b"{}\n{}", "not JSON: extra data after the value"),
        (b"[" * 100_000, "nested too deeply (more than 64 levels)"),
        (42, "not JSON text: int (give str or bytes; evaluate() takes decoded data)"),
        ({"id": "x"}, "not JSON text: dict (give str or bytes; evaluate() takes decoded data)"),
    ],
)
def test_text_that_is_not_json_is_one_claim_error_at_the_root(engine, decoder, data, expected):
    with decoding_with(decoder), pytest.raises(ClaimError) as caught:
        engine.evaluate_json(data)
    ((path, message),) = caught.value.errors
    assert path == "$" and message.startswith(expected), message


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("NaN", "not a decimal number: nan is a float"),
        ("Infinity", "not a decimal number: inf is a float"),
        ("240.0", "not a decimal number: 240.0 is a float"),
        ("1" * 5000, "out of range: an integer of 5,000 digits"),
    ],
)
def test_numbers_that_are_not_claim_numbers_are_refused_at_their_path(
    engine, decoder, literal, message
):
    text = text_of(claim()).replace(UNITS, f'"units": {literal}')
    with decoding_with(decoder), pytest.raises(ClaimError) as caught:
        engine.evaluate_json(text)
    ((path, got),) = caught.value.errors
    assert path == "$.lines[0].units" and got.startswith(message), got


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_top_level_value_that_is_not_an_object_is_a_claim_error(engine, decoder):
    with decoding_with(decoder):
        for text in ("[]", '"x"', "1", "null", "true"):
            with pytest.raises(ClaimError) as caught:
                engine.evaluate_json(text)
            assert [p for p, _ in caught.value.errors] == ["$"]


def test_input_over_max_bytes_is_refused_unread(engine):
    with pytest.raises(ClaimError) as caught:
        engine.evaluate_json(CLEAN_TEXT, max_bytes=100)
    assert caught.value.errors == (
        ("$", f"larger than 100 bytes ({len(CLEAN_TEXT):,} characters)"),
    )
    with pytest.raises(ClaimError) as caught:
        engine.evaluate_json(CLEAN_TEXT.encode(), max_bytes=100)
    assert caught.value.errors == (("$", f"larger than 100 bytes ({len(CLEAN_TEXT):,} bytes)"),)
    huge = b'{"id": "' + b"x" * (reader.DEFAULT_MAX_RECORD_BYTES + 1) + b'"}'
    with pytest.raises(ClaimError, match="larger than 4,194,304 bytes"):
        engine.evaluate_json(huge)
    with pytest.raises(ClaimError, match=r"larger than 4,194,304 bytes \(4,194,315 characters\)"):
        engine.evaluate_json(huge.decode())
    # Bytes are what is counted: 70 characters, 60 of them of two bytes, are 130 bytes.
    with pytest.raises(ClaimError, match=r"larger than 100 bytes \(130 bytes\)"):
        engine.evaluate_json('{"id": "' + "\u00e9" * 60 + '"}', max_bytes=100)
    for wrong in (0, -1, 1.5, None):
        with pytest.raises(ValueError, match="max_bytes must be an integer"):
            engine.evaluate_json(CLEAN_TEXT, max_bytes=wrong)
    # Limits still apply to what is decoded: a string over max_string_length.
    long_id = text_of(claim(id="x" * 20_000))
    with pytest.raises(ClaimError, match=r"\$\.id: too long"):
        engine.evaluate_json(long_id)


def test_bytes_like_inputs_are_read_as_bytes(engine):
    expected = engine.evaluate_json(CLEAN_TEXT).to_dict()
    for data in (bytearray(CLEAN_TEXT.encode()), memoryview(CLEAN_TEXT.encode())):
        assert engine.evaluate_json(data).to_dict() == expected


def test_evaluate_json_is_exported_and_takes_explain_and_policy():
    assert "evaluate_json" in hcpcs_rules.__all__
    result = hcpcs_rules.evaluate_json(CLEAN_TEXT, explain=True)
    assert result.status == "clean" and result.trace
    assert result.to_dict() == hcpcs_rules.evaluate(CLEAN, explain=True).to_dict()
    ignored = hcpcs_rules.evaluate_json(CLEAN_TEXT, policy={"ignore": ["CLAIM-*"]}).to_dict()
    assert ignored == hcpcs_rules.evaluate(CLEAN, policy={"ignore": ["CLAIM-*"]}).to_dict()
    with pytest.raises(ClaimError):
        hcpcs_rules.evaluate_json("{")


def test_the_fast_decoder_is_named_and_can_be_absent():
    name = reader.fast_decoder()
    assert name is None or name.startswith("msgspec ")
    with decoding_with("stdlib"):
        assert reader.fast_decoder() is None
        assert decode_claim(CLEAN_TEXT) == CLEAN


@pytest.mark.parametrize(("before", "after"), [('"]"', '"["'), ('"\\"]"', '"\\"["')])
def test_brackets_in_strings_cannot_hide_nesting(before, after):
    """A '"]"' before and a '"["' after 64 levels make the brackets look 64 deep: they are 65.
    So do the same strings with an escaped quote, if escapes are not read first."""
    text = f"[{before}, " + "[" * 64 + "]" * 64 + f", {after}]"
    for decoder in ("msgspec", "stdlib"):
        with decoding_with(decoder), pytest.raises(ClaimError) as caught:
            decode_claim(text)
        assert caught.value.errors == (
            ("$[1]" + "[0]" * 63, "nested too deeply (more than 64 levels)"),
        )
    assert reader._deeper_than_allowed(text.encode())
    shallow = f"[{before}, " + "[" * 63 + "]" * 63 + f", {after}]"
    assert decode_claim(shallow)[0] == json.loads(before)
    assert not reader._deeper_than_allowed(shallow.encode())
    assert MAX_DEPTH == 64


def test_the_library_works_when_msgspec_cannot_be_imported(tmp_path):
    """Not only with the decoder switched off: without msgspec importable at all."""
    script = (
        "import sys; sys.modules['msgspec'] = None\n"
        "import json, hcpcs_rules\n"
        "from hcpcs_rules import reader\n"
        "assert reader.fast_decoder() is None\n"
        f"text = {CLEAN_TEXT!r}\n"
        "engine = hcpcs_rules.Engine(rulesets=['core', 'j7632'])\n"
        "assert engine.evaluate_json(text).to_dict() == engine.evaluate(json.loads(text)).to_dict()\n"
        "try:\n"
        '    engine.evaluate_json(\'{"a": 1, "a": 2}\')\n'
        "except hcpcs_rules.ClaimError as exc:\n"
        "    print(exc.errors)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(('$.a', 'duplicate key'),)"
