"""Tables and reference data: inline and CSV tables, dated lookups, every refusal located, both
backends agreeing, the rule reference and the IR dump."""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import BACKENDS, durable_available
from hcpcs_rules import Engine, RulesetError, tables
from hcpcs_rules.reference import rule_markdown
from hcpcs_rules.testing.rulesets import HEADER

# Realistic test data, not policy: the FDA-approved cromolyn inhalation NDC belongs to J7631; the
# oral-concentrate NDCs are known non-inhalation products.
NDC_TABLE = """
[tables.ndc_hcpcs]
columns = { ndc = "str", hcpcs = "str" }
source = "test data"
rows = [
  ["00172640649", "J7631"],
  ["42571013201", "NOT-INHALATION"],
  ["00037067801", "NOT-INHALATION"],
]
"""

# An MUE-style table with two quarters and a changed value for J7632.
MUE_CSV = """hcpcs,mue,mai,rationale,quarter
J7632,300,3,Clinical data,2026Q1
J7632,240,3,Clinical data,2026Q2
J7631,248,1,Nature of service,2026Q1
"""
MUE_TABLE = """
[tables.mue]
columns = { hcpcs = "str", mue = "int", mai = "int", rationale = "str", quarter = "quarter" }
key = "hcpcs"
value = "mue"
effective = { quarter = "quarter" }
file = "data/mue.csv"
"""

RULES = """
[[rule]]
id = "MINE-NDC-OTHER-CODE"
title = "NDC of another code"
severity = "warn"
when = "in_table(ndc_hcpcs, ndc_normalized(line.ndc)) and lookup(ndc_hcpcs, ndc_normalized(line.ndc)) != line.hcpcs"
message = "NDC {line.ndc} is {lookup(ndc_hcpcs, ndc_normalized(line.ndc))}, billed as {line.hcpcs}."
source = "Test"
[[rule.example]]
name = "FDA cromolyn NDC on J7632"
base = "base"
set = { "line[1].ndc" = "00172-6406-49" }
fires = true
[[rule.example]]
name = "unknown NDC"
base = "base"
set = { "line[1].ndc" = "00000-0000-00" }
fires = false

[[rule]]
id = "MINE-DERIVE-MUE"
title = "The MUE in force"
source = "Test"
derive = "mue_limit"
when = "lookup_on(mue, line.hcpcs, service.date) != None"
[rule.fields]
limit = "lookup_on(mue, line.hcpcs, service.date)"
twice = "lookup_on(mue, line.hcpcs, service.date) * 2"

[[rule]]
id = "MINE-MUE"
title = "Over the MUE"
severity = "warn"
when = "line.units > mue_limit.limit"
message = "Billed {line.units} units; the MUE on {service.date} is {mue_limit.limit}."
source = "Test"
[[rule.example]]
name = "second quarter, lower value"
base = "base"
set = { "date_of_service" = 2026-04-01, "line[1].units" = "250" }
fires = true
[[rule.example]]
name = "last day of the first quarter"
base = "base"
set = { "date_of_service" = 2026-03-31, "line[1].units" = "250" }
fires = false
"""


def write(folder: Path, body: str, csv: dict[str, str | bytes] | None = None) -> Path:
    for name, content in (csv or {}).items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    path = folder / "mine.toml"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def problems(path: Path) -> list:
    with pytest.raises(RulesetError) as caught:
        Engine(["core", path], check_examples=False)
    return caught.value.problems


def one_problem(path: Path, *words: str):
    found = [p for p in problems(path) if all(w in p.message for w in words)]
    assert found, [p.message for p in problems(path)]
    return found[0]


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().split("\n"), 1) if text in line)


def claim(dos: str = "2026-03-02", units: str = "240", ndc: str | None = None, hcpcs="J7632"):
    line = {"hcpcs": hcpcs, "units": units, "diagnosis_pointers": [1]}
    if ndc is not None:
        line["ndc"] = ndc
    return {
        "id": "T",
        "payer": "medicare",
        "date_of_service": dos,
        "place_of_service": "12",
        "diagnoses": ["J45.40"],
        "supplier": {"npi": "1234567893"},
        "lines": [line],
    }


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tables")
    return write(folder, NDC_TABLE + MUE_TABLE + RULES, {"data/mue.csv": MUE_CSV})


@pytest.fixture(scope="module")
def table_engines(ruleset):
    cache: dict[str, Engine] = {}

    def get(backend: str) -> Engine:
        if backend not in cache:
            cache[backend] = Engine(["core", ruleset], backend=backend)  # examples run too
        return cache[backend]

    return get


# ------------------------------------------------------------------------------ lookups


@pytest.mark.parametrize("backend", BACKENDS)
def test_inline_table_in_condition_and_message(table_engines, backend):
    engine = table_engines(backend)
    result = engine.evaluate(claim(ndc="00172-6406-49"))
    found = [f for f in result.findings if f.rule_id == "MINE-NDC-OTHER-CODE"]
    assert [f.message for f in found] == ["NDC 00172-6406-49 is J7631, billed as J7632."]
    for ndc in ("00000-0000-00", None, "not an ndc"):  # absent, missing, not normalisable
        fired = {f.rule_id for f in engine.evaluate(claim(ndc=ndc)).findings}
        assert "MINE-NDC-OTHER-CODE" not in fired
    same = engine.evaluate(claim(ndc="00172-6406-49", hcpcs="J7631"))
    assert "MINE-NDC-OTHER-CODE" not in {f.rule_id for f in same.findings}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("dos", "units", "fires"),
    [
        ("2025-12-31", "9999", False),  # before the first quarter: no row, no limit
        ("2026-01-01", "300", False),  # Q1's first day: 300
        ("2026-01-01", "301", True),
        ("2026-03-31", "300", False),  # Q1's last day: still 300
        ("2026-04-01", "241", True),  # Q2's first day: 240
        ("2026-04-01", "240", False),
        ("2031-06-30", "241", True),  # in force until superseded
    ],
)
def test_dated_lookup_at_quarter_boundaries(table_engines, backend, dos, units, fires):
    result = table_engines(backend).evaluate(claim(dos=dos, units=units), explain=True)
    assert ("MINE-MUE" in {f.rule_id for f in result.findings}) is fires
    derived = any(step.rule_id == "MINE-DERIVE-MUE" for step in result.trace)
    assert derived is (dos >= "2026-01-01")


def test_table_values_are_typed_and_indexed(ruleset):
    program = Engine(["core", ruleset], check_examples=False).program
    rule = program.rule("MINE-DERIVE-MUE")
    fields = dict(rule.derive_fields)
    assert fields["limit"].type == "int" and fields["twice"].type == "int"
    mue = fields["limit"].args[0].value
    assert isinstance(mue, tables.Table) and mue.rows == 3 and mue.dated
    assert mue.get_on("J7632", dt.date(2026, 3, 31)) == 300
    assert mue.get_on("J7632", dt.date(2026, 4, 1)) == 240
    assert mue.get_on("J7631", dt.date(2026, 7, 1)) == 248
    assert mue.get_on("J7632", dt.date(2025, 12, 31)) is None
    assert mue.get_on("J9999", dt.date(2026, 4, 1)) is None
    assert mue.get_on(None, dt.date(2026, 4, 1)) is None and mue.get("J7632") is None
    assert tables.lookup_on(mue, ["unhashable"], dt.date(2026, 4, 1)) is None
    with pytest.raises(AttributeError, match="immutable"):
        mue.rows = 4


def test_from_to_dates_inclusive_and_open_end(tmp_path):
    body = """
[tables.rate]
columns = { code = "str", rate = "decimal", start = "date", stop = "date" }
effective = { from = "start", to = "stop" }
file = "rates.csv"
"""
    csv = "code,rate,start,stop\nA1,1.50,2026-01-01,2026-01-31\nA1,1.75,2026-02-01,\nB2,-2,2026-01-15,2026-01-15\n"
    path = write(tmp_path, body, {"rates.csv": csv})
    found, issues = tables.read_tables(str(path), {"rate": _toml(body)["rate"]}, {})
    assert issues == []
    rate = found["rate"]
    assert rate.get_on("A1", dt.date(2026, 1, 31)) == Decimal("1.50")
    assert rate.get_on("A1", dt.date(2026, 2, 1)) == Decimal("1.75")
    assert rate.get_on("A1", dt.date(2099, 1, 1)) == Decimal("1.75")  # no end: open
    assert rate.get_on("A1", dt.date(2025, 12, 31)) is None
    assert rate.get_on("B2", dt.date(2026, 1, 15)) == Decimal(-2)
    assert rate.get_on("B2", dt.date(2026, 1, 16)) is None


def _toml(body: str) -> dict:
    import tomllib

    return tomllib.loads(body)["tables"]


def test_int_keys_bool_and_date_values_inline(tmp_path):
    body = """
[tables.flags]
columns = { n = "int", ok = "bool", day = "date", amount = "decimal" }
value = "amount"
rows = [[1, true, 2026-01-01, "1.25"], [2, false, 2026-01-02, 3]]
"""
    found, issues = tables.read_tables(str(tmp_path / "x.toml"), _toml(body), {})
    assert issues == []
    assert found["flags"].get(1) == Decimal("1.25") and found["flags"].get(2) == Decimal(3)
    assert found["flags"].get(Decimal(2)) == Decimal(3)  # a decimal key equal to an int key


def test_loaded_once_per_engine(tmp_path):
    path = write(tmp_path, MUE_TABLE + _MUE_ONLY, {"data/mue.csv": MUE_CSV})
    engine = Engine(["core", path])
    (tmp_path / "data/mue.csv").write_text(MUE_CSV.replace("240", "1"), encoding="utf-8")
    fired = {f.rule_id for f in engine.evaluate(claim(dos="2026-04-01", units="200")).findings}
    assert "MINE-MUE-SIMPLE" not in fired  # the table as it was when the engine was built
    rebuilt = Engine(["core", path], check_examples=False)
    fired = {f.rule_id for f in rebuilt.evaluate(claim(dos="2026-04-01", units="200")).findings}
    assert "MINE-MUE-SIMPLE" in fired


_MUE_ONLY = """
[[rule]]
id = "MINE-MUE-SIMPLE"
title = "Over the MUE"
severity = "warn"
when = "line.units > lookup_on(mue, line.hcpcs, service.date)"
message = "Billed {line.units} units."
source = "Test"
[[rule.example]]
name = "fires"
base = "base"
set = { "date_of_service" = 2026-04-01, "line[1].units" = "250" }
fires = true
[[rule.example]]
name = "near miss"
base = "base"
fires = false
"""


# ---------------------------------------------------------------------- type checking


@pytest.mark.parametrize(
    ("when", "words"),
    [
        ("lookup(mue, line.hcpcs) == 1", ["is dated: use lookup_on(mue"]),
        ("lookup_on(ndc_hcpcs, line.ndc, service.date) == 'x'", ["no effective dates"]),
        ("lookup(ndc_hcpcs, line.units) == 'x'", ["str keys, not decimal"]),
        ("lookup('ndc_hcpcs', line.ndc) == 'x'", ["argument 1 must be table"]),
        ("lookup(mue_x, line.ndc) == 'x'", ["unknown name 'mue_x'"]),
        ("lookup(ndc_hcpcs, line.ndc) > 3", ["cannot order str and int"]),
        ("lookup_on(mue, line.hcpcs, service.date) == 'x'", ["cannot compare int with str"]),
        ("ndc_hcpcs == 'x'", ["cannot compare table with str"]),
        ("line.ndc in ndc_hcpcs", ["needs a list or set on the right, not table"]),
    ],
)
def test_lookups_are_type_checked(tmp_path, when, words):
    rule = _MUE_ONLY.replace(
        'when = "line.units > lookup_on(mue, line.hcpcs, service.date)"',
        f"when = {json.dumps(when)}",
    )
    path = write(tmp_path, NDC_TABLE + MUE_TABLE + rule, {"data/mue.csv": MUE_CSV})
    problem = one_problem(path, *words)
    assert problem.file == str(path) and problem.rule_id == "MINE-MUE-SIMPLE"
    assert problem.line == line_of(path, "when =") and problem.column is not None


# ------------------------------------------------------------------------ refusals


def _inline(rows: str, columns='{ ndc = "str", hcpcs = "str" }', extra="") -> str:
    return f"\n[tables.t]\ncolumns = {columns}\n{extra}rows = {rows}\n"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            _inline('[["a", "B"], ["c", "D"], ["a", "E"]]'),
            ["table 't'", "row 3", "duplicate key 'a'", "row 1"],
        ),
        (_inline('[["a", 1]]'), ["table 't'", "row 1", "column 'hcpcs'", "not a non-empty string"]),
        (_inline('[["a", ""]]'), ["row 1", "column 'hcpcs'"]),
        (_inline('[["a"]]'), ["row 1", "a list of 2 cells"]),
        (_inline('[["a", ["b"]]]'), ["row 1", "column 'hcpcs'"]),
        (_inline('[["a", 1.5]]', '{ k = "str", v = "decimal" }'), ["column 'v'", "TOML float"]),
        (_inline('[["a", "1.1234567"]]', '{ k = "str", v = "decimal" }'), ["6 decimal places"]),
        (_inline('[["a", true]]', '{ k = "str", v = "int" }'), ["column 'v'", "not an integer"]),
        (_inline('[["a", "12"]]', '{ k = "str", v = "int" }'), ["column 'v'", "not an integer"]),
        (_inline('[["a", 1234567890123]]', '{ k = "str", v = "int" }'), ["at most 12 digits"]),
        (
            _inline('[["a", "2026-01-01"]]', '{ k = "str", v = "date" }'),
            ["column 'v'", "not a date"],
        ),
        (_inline('[["a", "x\\u001b[31m"]]'), ["column 'hcpcs'", "control character"]),
        (
            _inline("[" + ", ".join(f'["a{i}", "B"]' for i in range(1001)) + "]"),
            ["1,001 rows; at most 1,000"],
        ),
        (
            _inline('[["a", "B"]]', extra='valeu = "hcpcs"\n'),
            ["unknown key 'valeu'", "did you mean 'value'"],
        ),
        (
            _inline('[["a", "B"]]', '{ k = "string", v = "str" }'),
            ["type 'string'", "did you mean 'str'"],
        ),
        (
            _inline('[["a", "B"]]', extra='key = "nd"\n'),
            ["key must name a column", "did you mean 'ndc'"],
        ),
        (
            _inline('[["a", "B", "C"]]', '{ k = "str", v = "str", w = "str" }'),
            ["value must name the column"],
        ),
        (
            _inline('[["a", "B"]]', extra='file = "x.csv"\n'),
            ["inline (rows = [...]) or in a CSV file"],
        ),
        (
            _inline('[["a", "2026Q1"]]', '{ k = "str", q = "quarter" }'),
            ["is a quarter: add effective"],
        ),
        (_inline('[["a", "B"]]') + '\n[constants]\nt = "x"\n', ["a constant has that name too"]),
    ],
)
def test_inline_refusals_are_located(tmp_path, body, words):
    path = write(tmp_path, body)
    problem = one_problem(path, *words)
    assert problem.file == str(path)
    assert problem.line is not None and problem.line > HEADER.count("\n")


def test_dated_refusals(tmp_path):
    quarters = "hcpcs,mue,mai,rationale,quarter\nJ7632,300,3,x,2026Q1\nJ7632,240,3,x,2026Q1\n"
    path = write(tmp_path, MUE_TABLE, {"data/mue.csv": quarters})
    problem = one_problem(path, "key 'J7632': dates overlap the row at mue.csv:2")
    assert problem.file.endswith("mue.csv") and problem.line == 3
    ranges = """
[tables.rate]
columns = { code = "str", rate = "int", start = "date", stop = "date" }
effective = { from = "start", to = "stop" }
file = "rates.csv"
"""
    for csv, words in [
        ("code,rate,start,stop\nA,1,2026-01-01,2026-02-01\nA,2,2026-02-01,\n", "dates overlap"),
        ("code,rate,start,stop\nA,1,2026-01-01,\nA,2,2027-01-01,\n", "dates overlap"),
        ("code,rate,start,stop\nA,1,2026-02-01,2026-01-01\n", "'stop' 2026-01-01 is before"),
        ("code,rate,start,stop\nA,1,,2026-01-01\n", "column 'start': not a date"),
    ]:
        path = write(tmp_path, ranges, {"rates.csv": csv})
        problem = one_problem(path, words)
        assert problem.file.endswith("rates.csv") and problem.line in (2, 3), problem


CSV_DECL = """
[tables.mue]
columns = { hcpcs = "str", mue = "int" }
file = "{file}"
"""


def _csv_table(tmp_path: Path, content: str | bytes, file: str = "t.csv") -> Path:
    return write(tmp_path, CSV_DECL.replace("{file}", file), {"t.csv": content})


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ("hcpcs,mue\nJ7632,3\nJ7631,x\n", 3, ["column 'mue'", "not an integer", "'x'"]),
        ("hcpcs,mue\nJ7632,3\nJ7632,4\n", 3, ["duplicate key 'J7632'", "t.csv:2"]),
        ("hcpcs,mue\nJ7632,3,9\n", 2, ["3 cells; the header has 2"]),
        ("hcpcs,mue\n\nJ7632,3\n", 2, ["an empty row"]),
        ("hcpcs,mu\nJ7632,3\n", 1, ["header row", "missing: mue", "not declared: 'mu'"]),
        ('hcpcs,mue\n"J7632,3\n', 2, ["not CSV"]),
        ("hcpcs,mue\n" + "J" * 2001 + ",3\n", 2, ["column 'hcpcs'", "2,001 characters"]),
        ("hcpcs,mue\n" + "J" * 200_000 + ",3\n", 2, ["not CSV", "field larger"]),
        ("hcpcs,mue\nJ76\u202e32,3\n", 2, ["column 'hcpcs'", "control character"]),
        (b"hcpcs,mue\nJ7632,3\nJ\xe97631,3\n", 3, ["not UTF-8"]),
    ],
)
def test_csv_refusals_name_file_line_and_column(tmp_path, content, line, words):
    path = _csv_table(tmp_path, content)
    problem = one_problem(path, *words)
    assert problem.file == str(tmp_path / "t.csv") and problem.line == line
    assert "table 'mue'" in problem.message


def test_csv_with_byte_order_mark_and_crlf_reads(tmp_path):
    path = _csv_table(tmp_path, "\ufeffhcpcs,mue\r\nJ7632,3\r\n")
    found, issues = tables.read_tables(str(path), _toml(CSV_DECL.replace("{file}", "t.csv")), {})
    assert issues == [] and found["mue"].get("J7632") == 3


@pytest.mark.parametrize(
    ("file", "words"),
    [
        ("/etc/passwd", "an absolute path"),
        ("../t.csv", "'..' leaves the ruleset's folder"),
        ("data/../../t.csv", "'..' leaves"),
        ("C:/t.csv", "an absolute path"),
        ("data\\\\t.csv", "write the path with /"),
        ("nothere.csv", "no such file"),
        ("data", "not a regular file"),
    ],
)
def test_paths_may_not_leave_the_ruleset_folder(tmp_path, file, words):
    (tmp_path / "data").mkdir()
    path = _csv_table(tmp_path, "hcpcs,mue\n", file)
    problem = one_problem(path, words)
    assert problem.file == str(path) and problem.line == line_of(path, "file =")


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("hcpcs,mue\nJ7632,3\n", encoding="utf-8")
    folder = tmp_path / "ruleset"
    folder.mkdir()
    os.symlink(outside, folder / "t.csv")
    path = write(folder, CSV_DECL.replace("{file}", "t.csv"))
    one_problem(path, "a link leading out of the ruleset's folder")


def test_huge_and_long_csv_refused(tmp_path, monkeypatch):
    big = tmp_path / "t.csv"
    path = write(tmp_path, CSV_DECL.replace("{file}", "t.csv"))
    with open(big, "wb") as handle:  # sparse: as large as the limit allows, plus one byte
        handle.truncate(tables.MAX_CSV_BYTES + 1)
    one_problem(path, "larger than 16,777,216 bytes")
    monkeypatch.setattr(tables, "MAX_ROWS", 5)
    big.write_text("hcpcs,mue\n" + "".join(f"J{i},1\n" for i in range(50)), encoding="utf-8")
    problem = one_problem(path, "more than 5 rows")
    assert problem.line == 7


def test_problems_per_table_are_capped(tmp_path):
    path = _csv_table(tmp_path, "hcpcs,mue\n" + "J,x\n" * 5000)
    found = problems(path)
    assert 1 < len(found) <= 20
    assert "reading stopped" in found[-1].message


# ---------------------------------------------------------------------- backends agree


@pytest.mark.skipif(not durable_available(), reason="durable-rules does not import here")
@given(
    dos=st.dates(dt.date(2025, 12, 25), dt.date(2026, 4, 8)),
    units=st.integers(1, 400),
    ndc=st.sampled_from([None, "00172-6406-49", "42571-0132-01", "0037-0678-01", "1-2-3"]),
    hcpcs=st.sampled_from(["J7632", "J7631", "J7999"]),
)
def test_backends_agree_on_table_rules(table_engines, dos, units, ndc, hcpcs):
    data = claim(dos=dos.isoformat(), units=str(units), ndc=ndc, hcpcs=hcpcs)
    outcomes = []
    for backend in ("python", "durable"):
        result = table_engines(backend).evaluate(data, explain=True)
        fired = sorted((s.rule_id, s.subject, s.finding) for s in result.trace)
        outcomes.append((result.to_dict() | {"trace": None}, fired))
    assert outcomes[0] == outcomes[1]


# ------------------------------------------------------------------ reference and dump


def test_rule_reference_lists_the_tables(table_engines, ruleset):
    program = table_engines("python").program
    page = rule_markdown(program.rule("MINE-MUE"), program)
    assert "**Tables**" not in page  # it reads the derived fact, not the table
    page = rule_markdown(program.rule("MINE-DERIVE-MUE"), program)
    assert (
        "- `mue`: `data/mue.csv`, 3 rows; columns hcpcs str (key), mue int (value), mai int, "
        "rationale str, quarter quarter (effective quarter)"
    ) in page
    page = rule_markdown(program.rule("MINE-NDC-OTHER-CODE"), program)
    assert (
        "- `ndc_hcpcs`: inline, 3 rows; columns ndc str (key), hcpcs str (value). Source: test data"
        in page
    )
    assert str(ruleset.parent) not in page  # no machine path in a generated page


def test_dump_ir_names_the_table_not_its_rows(table_engines):
    program = table_engines("python").program
    dump = program.dump()
    mue = dict(program.rule("MINE-DERIVE-MUE").derive_fields)["limit"].args[0].value
    assert f'"table mue: 3 rows, sha256:{mue.digest}"' in dump
    assert "Nature of service" not in dump and "00172640649" not in dump
    assert len(mue.digest) == 64


def test_digest_follows_content_only(tmp_path):
    decl = _toml(CSV_DECL.replace("{file}", "t.csv"))
    _csv_table(tmp_path, "hcpcs,mue\nJ7632,3\n")
    first = tables.read_tables(str(tmp_path / "mine.toml"), decl, {})[0]["mue"]
    again = tables.read_tables(str(tmp_path / "mine.toml"), decl, {})[0]["mue"]
    assert first == again and hash(first) == hash(again) and first is not again
    (tmp_path / "t.csv").write_text("hcpcs,mue\nJ7632,4\n", encoding="utf-8")
    changed = tables.read_tables(str(tmp_path / "mine.toml"), decl, {})[0]["mue"]
    assert changed.digest != first.digest and changed != first


def test_a_broken_table_is_reported_once_not_at_every_use(tmp_path):
    path = write(tmp_path, MUE_TABLE + _MUE_ONLY, {"data/mue.csv": MUE_CSV.replace("240", "2x0")})
    found = problems(path)
    assert [(Path(p.file).name, p.line) for p in found] == [("mue.csv", 3)]
    assert found[0].message == (
        "table 'mue', column 'mue': not an integer of at most 12 digits: '2x0'"
    )
    assert found[0].source_line == "J7632,2x0,3,Clinical data,2026Q2"


def test_only_table_functions_are_typed_from_a_table(tmp_path, monkeypatch):
    from hcpcs_rules import functions

    monkeypatch.setitem(
        functions.FUNCTIONS,
        "pretend_table",
        functions.Function("pretend_table", ("table", "any"), "$table", tables.lookup, "x", (0,)),
    )
    rule = _MUE_ONLY.replace(
        "lookup_on(mue, line.hcpcs, service.date)", "pretend_table(ndc_hcpcs, 1)", 1
    )
    path = write(tmp_path, NDC_TABLE + MUE_TABLE + rule, {"data/mue.csv": MUE_CSV})
    one_problem(path, "only table functions have")


def test_threads_share_one_engine_and_its_tables(table_engines):
    from concurrent.futures import ThreadPoolExecutor

    engine = table_engines("python")  # the durable backend serialises evaluations itself
    days = ["2026-03-31", "2026-04-01", "2025-12-31", "2026-01-01"]
    claims = [claim(dos=days[i % 4], units=str(200 + i % 120)) for i in range(400)]
    serial = [engine.evaluate(c).to_dict() for c in claims]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(lambda c: engine.evaluate(c).to_dict(), claims))
    assert threaded == serial
    assert any(f["rule_id"] == "MINE-MUE" for r in serial for f in r["findings"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_lookups_inside_an_aggregate(tmp_path, backend):
    rule = """
[[rule]]
id = "MINE-NDC-CLAIM"
title = "A line's NDC belongs to another code"
on = "claim"
severity = "warn"
when = "any(in_table(ndc_hcpcs, ndc_normalized(l.ndc)) and lookup(ndc_hcpcs, ndc_normalized(l.ndc)) != l.hcpcs for l in lines)"
message = "{count(l for l in lines if in_table(ndc_hcpcs, ndc_normalized(l.ndc)))} line(s) with a listed NDC."
source = "Test"
[[rule.example]]
name = "second line's NDC is J7631's"
base = "base"
set = { "line[2]" = { hcpcs = "J7632", units = "10", diagnosis_pointers = [1], ndc = "00172-6406-49" } }
fires = true
[[rule.example]]
name = "no listed NDC"
base = "base"
fires = false
"""
    path = write(tmp_path, NDC_TABLE + rule)
    engine = Engine(["core", path], backend=backend)  # the examples run on this backend
    data = claim(ndc="00000-0000-00")
    data["lines"].append({**data["lines"][0], "ndc": "00172-6406-49"})
    found = [f for f in engine.evaluate(data).findings if f.rule_id == "MINE-NDC-CLAIM"]
    assert [f.message for f in found] == ["1 line(s) with a listed NDC."]
