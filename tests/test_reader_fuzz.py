"""Fuzzing the input reader and the command over it (issue 8).

Random bytes, truncated and mutated JSON, JSON Lines mixing good and bad lines, deep nesting, huge
numbers, duplicate keys and invalid UTF-8: the reader never raises, every good record is still
read, and ``hcpcs-rules check`` exits 0, 1 or 2 without a traceback. An exit of 3 here would be
an internal failure, that is a bug: make the example a regression test in test_cli_hostile.py.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hcpcs_rules.cli import main
from hcpcs_rules.reader import Record, Unreadable, read_stream

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLEAN = json.loads((EXAMPLES / "aetna-clean.json").read_text())

# Fragments that broke readers before, spliced into otherwise random input.
NASTY = [
    b"[" * 3000,
    b'{"a":' * 2000,
    b"9" * 5000,
    b'{"a": 1, "a": 2}',
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xa8",
    b"\x1b[2J",
    b"NaN",
    b'"\\ud800"',
    b"1e999999",
    b"-",
    b'"',
    b"\\",
    b",",
    b"]",
    b"}",
    b"\n",
    b"\r\n",
    b"\xef\xbb\xbf",
    b"\x00",
]

noise = st.lists(st.one_of(st.sampled_from(NASTY), st.binary(max_size=40)), max_size=8).map(
    b"".join
)
small_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def records(data: bytes, jsonl: bool = False, max_record_bytes: int = 4096) -> list[Record]:
    return list(read_stream(io.BytesIO(data), "f", jsonl=jsonl, max_record_bytes=max_record_bytes))


def is_well_formed(record: Record) -> bool:
    return record.location.startswith("f") and (
        record.problem is None or isinstance(record.problem, Exception)
    )


@given(data=st.one_of(st.binary(max_size=300), noise), jsonl=st.booleans())
def test_any_bytes_give_records_never_an_exception(data, jsonl):
    assert all(is_well_formed(r) for r in records(data, jsonl))


@given(
    lines=st.lists(
        st.one_of(small_json.map(lambda v: ("good", v)), noise.map(lambda b: ("bad", b))),
        max_size=8,
    )
)
def test_every_good_jsonl_line_is_read_whatever_the_lines_around_it(lines):
    encoded = []
    for kind, value in lines:
        raw = json.dumps(value).encode() if kind == "good" else value.replace(b"\n", b" ")
        encoded.append(raw.replace(b"\r", b" "))
    got = {r.location: r for r in records(b"\n".join(encoded), jsonl=True)}
    for number, (kind, value) in enumerate(lines, start=1):
        if kind == "good":
            assert got[f"f:{number}"].problem is None
            assert got[f"f:{number}"].claim == value


@given(
    elements=st.lists(small_json, min_size=1, max_size=6),
    cut=st.integers(min_value=0),
    junk=noise,
)
def test_a_mutated_array_keeps_every_element_before_the_damage(elements, cut, junk):
    parts = [json.dumps(e).encode() for e in elements]
    data = b"[" + b", ".join(parts) + b"]"
    cut = cut % (len(data) + 1)
    mutated = data[:cut] + junk + data[cut:]
    got = records(mutated)
    assert all(is_well_formed(r) for r in got)
    offset = 1
    for index, part in enumerate(parts):
        if offset + len(part) >= cut:  # this element (or the comma after it) may be damaged
            break
        assert got[index].location == f"f[{index}]" and got[index].claim == elements[index]
        offset += len(part) + 2


def run(data: bytes, path: str = "-") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    code = main(["check", path, "--ruleset", "core"], out=out, err=err, stdin=stdin)
    return code, out.getvalue(), err.getvalue()


def good_claim(number: int) -> bytes:
    return json.dumps(dict(CLEAN, id=f"GOOD-{number}")).encode()


@given(lines=st.lists(st.one_of(st.integers(0, 99).map(good_claim), noise), min_size=1, max_size=6))
def test_the_command_on_mixed_lines_exits_cleanly_and_checks_every_good_claim(lines):
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    # A .jsonl file: each line stands alone (stdin starting with "[" would be one JSON array).
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mixed.jsonl"
        path.write_bytes(b"\n".join(lines))
        code, out, err = run(b"", str(path))
    assert code in (0, 1, 2), err
    assert "Traceback" not in err
    for line in lines:
        if line.startswith(b'{"id": "GOOD-'):
            assert json.loads(line)["id"] + "  " in out


@given(data=st.one_of(st.binary(max_size=200), noise), prefix=st.sampled_from([b"", b"[", b"{"]))
def test_the_command_on_any_bytes_exits_cleanly(data, prefix):
    code, _, err = run(prefix + data)
    assert code in (0, 1, 2), err
    assert all(line.startswith("hcpcs-rules: ") for line in err.splitlines()), err


def test_unreadable_is_what_a_record_that_is_not_json_gets():
    (record,) = records(b"{oops", jsonl=True)
    assert isinstance(record.problem, Unreadable) and record.location == "f:1"
