"""Batch outputs (``check --format parquet|csv --output DIR``), the progress bar, and the reader's
byte meter that the bar's ETA comes from.

The Parquet tests need pyarrow (the ``parquet`` extra) and skip without it; the CSV, progress and
meter tests need nothing beyond the core install.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import json
import math
import os
import sys
import tracemalloc
from pathlib import Path

import pytest

from hcpcs_rules import ClaimError, Engine
from hcpcs_rules.cli import main
from hcpcs_rules.model import Location
from hcpcs_rules.output import OutputError, TableSink, table_paths
from hcpcs_rules.progress import Progress, wanted
from hcpcs_rules.reader import ReadMeter, Unreadable, input_size, read_claims
from hcpcs_rules.rows import CLAIM_COLUMNS, FINDING_COLUMNS, arrow_schema, claim_row, rows_of
from hcpcs_rules.x12 import X12Error, check_837p, load_directory, load_sidecar
from hcpcs_rules.x12.cli import as_outcome, with_json_paths

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
X12_ARGS = [
    "--directory",
    str(EXAMPLES / "x12" / "directory.json"),
    "--sidecar",
    str(EXAMPLES / "x12" / "sidecar.json"),
]
SHIPPED = ["--ruleset", "core", "--ruleset", "j7632"]

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
needs_pyarrow = pytest.mark.skipif(
    not HAS_PYARROW, reason="pyarrow is not installed (the parquet extra: pip install '.[parquet]')"
)
FORMATS = [pytest.param("parquet", marks=needs_pyarrow), "csv"]

CLEAN = json.loads((EXAMPLES / "aetna-clean.json").read_text())
REJECTED = json.loads((EXAMPLES / "batch.jsonl").read_text().splitlines()[0])


class Terminal(io.StringIO):
    """A stream that says it is a terminal, to see what a user at one would see."""

    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        return True


def run(argv, *, out=None, err=None, stdin=""):
    out = out if out is not None else io.StringIO()
    err = err if err is not None else io.StringIO()
    code = main([*argv, *SHIPPED], out=out, err=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def engine():
    return Engine(["core", "j7632"])


def mixed_input(folder: Path) -> Path:
    """A JSON Lines file with every kind of outcome: checked claims, a contract refusal (whose id
    is known), one whose id is what is wrong, a record with a duplicate key, and an unreadable
    line."""
    invalid = json.loads(json.dumps(CLEAN))
    invalid["id"] = "BAD-UNITS"
    invalid["lines"][0]["units"] = "sixty"
    blank_id = dict(CLEAN, id="")
    lines = [
        json.dumps(CLEAN),
        json.dumps(REJECTED),
        json.dumps(invalid),
        '{"id": "DUP", "id": "DUP2"}',
        "{not json",
        json.dumps(blank_id),
        json.dumps(dict(REJECTED, id="LAST")),
    ]
    path = folder / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def expected_rows(engine, path: Path):
    """The tables' rows computed from evaluate, record by record (no CLI involved)."""
    claims, findings = [], []
    for record in read_claims(str(path)):
        if record.problem is not None:
            claim, found = rows_of(record.problem, record.location)
        else:
            try:
                result = engine.evaluate(record.claim)
            except ClaimError as exc:
                bad_id = any(p == "$.id" for p, _ in exc.errors)
                claim_id = None if bad_id else record.claim["id"]
                claim, found = rows_of(exc, record.location, claim_id)
            else:
                claim, found = rows_of(with_json_paths(result), record.location)
        claims.append(claim)
        findings.extend(found)
    return claims, findings


def read_parquet(path: Path):
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table.schema, table.to_pylist()


def read_csv(path: Path, columns):
    """Rows of a CSV table, typed as ``columns`` say. A null is an unquoted empty cell; every
    text is quoted, so a quoted empty cell would be an empty text (checked on the raw lines)."""
    text = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    assert header == [name for name, _ in columns]
    rows = []
    for cells in reader:
        row = {}
        for (name, kind), cell in zip(columns, cells, strict=True):
            if cell == "":
                row[name] = None
            elif kind == "int32":
                row[name] = int(cell)
            elif kind == "date":
                row[name] = dt.date.fromisoformat(cell)
            else:
                row[name] = cell
        rows.append(row)
    return rows


def read_tables(folder: Path, fmt: str):
    claims_path, findings_path = table_paths(folder, fmt)
    if fmt == "parquet":
        claims_schema, claims = read_parquet(claims_path)
        findings_schema, findings = read_parquet(findings_path)
        # Exactly the columns and types rows.py declares, in its order.
        assert claims_schema.equals(arrow_schema(CLAIM_COLUMNS))
        assert findings_schema.equals(arrow_schema(FINDING_COLUMNS))
        return claims, findings
    return read_csv(claims_path, CLAIM_COLUMNS), read_csv(findings_path, FINDING_COLUMNS)


# ------------------------------------------------------------------------------- the tables


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_tables_hold_the_rows_of_evaluate_refused_claims_included(tmp_path, engine, fmt):
    path = mixed_input(tmp_path)
    out_dir = tmp_path / "out"
    code, out, err = run(["check", str(path), "--format", fmt, "--output", str(out_dir)])
    assert code == 2  # invalid and unreadable records, as with the other formats
    # Standard output: the summary line only; stderr: the unreadable record, as always.
    assert out == "7 claims: 2 reject, 1 clean, 3 invalid, 1 unreadable\n"
    assert f"{path}:5: not JSON" in err
    claims, findings = read_tables(out_dir, fmt)
    expected_claims, expected_findings = expected_rows(engine, path)
    assert claims == expected_claims
    assert findings == expected_findings
    # Spelled out, so that the comparison above is not one computation checked against itself.
    assert [(r["claim_id"], r["status"]) for r in claims] == [
        ("EX-AETNA-CLEAN", "clean"),
        ("EX-UHC-UNITS", "reject"),
        ("BAD-UNITS", "invalid"),
        (None, "invalid"),  # the duplicate key: refused before any id is read
        (None, "unreadable"),
        (None, "invalid"),  # the id itself is blank: not put in the table as one
        ("LAST", "reject"),
    ]
    assert [r["input"] for r in claims] == [f"{path}:{n}" for n in range(1, 8)]
    assert claims[2]["error"] == "$.lines[0].units: not a decimal number: 'sixty'"
    assert claims[3]["error"] == "$.id: duplicate key"
    assert claims[4]["error"].startswith(f"{path}:5: not JSON")
    assert claims[0]["date_of_service"] == dt.date(2026, 3, 2) and claims[0]["lines"] == 1
    assert {r["claim_id"] for r in findings} == {"EX-UHC-UNITS", "LAST"}
    assert findings[0]["location"] == "$.lines[0]" and findings[0]["line"] == 1
    assert sum(r["findings"] or 0 for r in claims) == len(findings) > 0
    # Only the two tables are left in the folder: the temporary files were renamed.
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        p.name for p in table_paths(out_dir, fmt)
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_exit_codes_are_those_of_the_other_formats(tmp_path, fmt):
    for path, code in ((EXAMPLES / "aetna-clean.json", 0), (EXAMPLES / "batch.jsonl", 1)):
        out_dir = tmp_path / f"{fmt}-{code}"
        assert run(["check", str(path), "--format", fmt, "--output", str(out_dir)])[0] == code
        text_code = run(["check", str(path)])[0]
        assert text_code == code


def test_csv_cells_null_empty_quotes_dates_and_newlines(tmp_path):
    """Null is an unquoted empty cell, an empty text a quoted one; quotes are doubled, a line
    break stays inside its quoted cell; dates are ISO; numbers are bare."""
    from hcpcs_rules.output import _CsvTable

    columns = (("a", "string"), ("b", "string"), ("n", "int32"), ("d", "date"))
    table = _CsvTable(tmp_path / "t.csv", columns)
    table.write({"a": "", "b": None, "n": None, "d": None})
    table.write({"a": 'say "hi"\nthen, go', "b": "x", "n": 7, "d": dt.date(2026, 3, 2)})
    table._close_file()
    raw = table.partial.read_bytes().decode("utf-8")
    assert raw == '"a","b","n","d"\r\n"",,,\r\n"say ""hi""\nthen, go","x",7,"2026-03-02"\r\n'
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert rows[2] == ['say "hi"\nthen, go', "x", "7", "2026-03-02"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_lone_surrogate_is_escaped_and_counted_never_a_crash(tmp_path, fmt):
    claim = dict(CLEAN, id="ODD-\ud800")
    code, out, err = run(
        ["check", "-", "--format", fmt, "--output", str(tmp_path)], stdin=json.dumps(claim)
    )
    assert code == 0 and out == "1 claim: 1 clean\n"
    assert "1 table cell held text that is not valid Unicode" in err
    claims, _ = read_tables(tmp_path, fmt)
    assert claims[0]["claim_id"] == "ODD-\\ud800" and claims[0]["input"] == "<stdin>"


@needs_pyarrow
def test_many_claims_are_written_in_bounded_batches(tmp_path, engine):
    """20,000 claims: the writer flushes a row group per full batch, so what it holds never grows
    past one batch, and its memory does not grow with the number of claims."""
    import pyarrow.parquet as pq

    results = [engine.evaluate(c) for c in (CLEAN, REJECTED)]
    batch = 1000

    def write(folder: Path, claims: int) -> tuple[TableSink, int]:
        sink = TableSink(folder, "parquet", batch_rows=batch)
        tracemalloc.start()
        try:
            for i in range(claims):
                sink.add(results[i % 2], input=f"big.jsonl:{i + 1}")
                assert sink.claims_table.buffered < batch  # a full batch is written at once
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        sink.close()
        return sink, peak

    _, small_peak = write(tmp_path / "small", 2_000)
    big, big_peak = write(tmp_path / "big", 20_000)
    # Ten times the claims, about the same peak: the batches, not the run, set the memory.
    assert big_peak < 1.5 * small_peak, (small_peak, big_peak)
    claims_file = pq.ParquetFile(big.paths[0])
    findings_file = pq.ParquetFile(big.paths[1])
    assert claims_file.metadata.num_rows == 20_000
    assert claims_file.metadata.num_row_groups == math.ceil(20_000 / batch)
    findings_per_pair = len(results[0].findings) + len(results[1].findings)
    assert findings_file.metadata.num_rows == 10_000 * findings_per_pair
    assert findings_file.metadata.num_row_groups == math.ceil(10_000 * findings_per_pair / batch)
    sizes = {
        claims_file.metadata.row_group(i).num_rows
        for i in range(claims_file.metadata.num_row_groups)
    }
    assert max(sizes) == batch
    inputs = pq.read_table(big.paths[0], columns=["input"]).column("input").to_pylist()
    assert inputs == [f"big.jsonl:{i + 1}" for i in range(20_000)]  # in order, none lost


# ------------------------------------------------------------------------------------- X12


def x12_file(*claims: list[str], se_count: int | None = None) -> bytes:
    """An 837P of ``claims`` (their segments from CLM on), in one transaction."""
    isa = (
        "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*^*"
        "00501*000000007*0*T*:~"
    )
    body = [
        "ST*837*0001*005010X222A1",
        "BHT*0019*00*1*20260101*1200*CH",
        "HL*1**20*1",
        "PRV*BI*PXC*3336C0004X",
        "NM1*85*2*ACME RX*****XX*1234567893",
        "HL*2*1*22*0",
        "SBR*P*18*******MB",
        "NM1*IL*1*DOE*JANE****MI*X1",
        "NM1*PR*2*DME MAC*****PI*19003",
    ]
    for segments in claims:
        body += segments
    count = len(body) + 1 if se_count is None else se_count
    segments = [
        isa,
        "GS*HC*S*R*20260101*1200*5*X*005010X222A1",
        *body,
        f"SE*{count}*0001",
        "GE*1*5",
        "IEA*1*000000007",
    ]
    return "\n".join(s if s.endswith("~") else s + "~" for s in segments).encode()


def x12_claim(clm01: str, *line: str) -> list[str]:
    line = line or ("SV1*HC:J7632:KO:GA*480*UN*240*12**1", "DTP*472*D8*20260302")
    return [f"CLM*{clm01}*480***12:B:1*Y*A*Y*Y", "HI*ABK:J4540", "LX*1", *line]


@pytest.mark.parametrize("fmt", FORMATS)
def test_x12_input_gives_the_same_tables(tmp_path, engine, fmt):
    path = EXAMPLES / "x12" / "claims.837"
    code, out, _ = run(
        ["check", str(path), *X12_ARGS, "--format", fmt, "--output", str(tmp_path / "t")]
    )
    assert code == 0
    assert out == "5 claims read: 5 checked (3 deny, 1 warn, 1 clean), 0 refused; 0 file errors\n"
    claims, findings = read_tables(tmp_path / "t", fmt)
    _, outcomes = check_837p(
        engine,
        path,
        directory=load_directory(EXAMPLES / "x12" / "directory.json"),
        sidecar=load_sidecar(EXAMPLES / "x12" / "sidecar.json"),
    )
    expected = [rows_of(o, str(path)) for o in outcomes]
    assert claims == [c for c, _ in expected]
    assert findings == [f for _, found in expected for f in found]
    assert claims[0]["location"].startswith("ISA 000000001 GS 1 ST 0001 CLM EX-MCR-GA segment")
    assert findings[0]["location"].startswith("ISA 000000001 GS 1 ST 0001 CLM EX-MCR-GA LX 1")


@pytest.mark.parametrize("fmt", FORMATS)
def test_x12_refusals_and_file_errors_are_rows_with_their_error(tmp_path, fmt):
    data = x12_file(
        x12_claim("C1"),
        x12_claim("C2", "ZZZ"),  # the reader refuses it: no SV1, an unknown segment
        x12_claim("C3", "SV1*HC:J7632*480*UN*NaN*12**1", "DTP*472*D8*20260302"),  # the contract
        se_count=99,  # and an envelope error
    )
    path = tmp_path / "in.837"
    path.write_bytes(data)
    directory = tmp_path / "directory.json"
    directory.write_text(json.dumps({"suppliers": {"1234567893": {}}}))
    code, out, _ = run(
        ["check", str(path), "--directory", str(directory), "--format", fmt, "--output", str(tmp_path / "t")]
    )  # fmt: skip
    assert code == 2
    assert out.startswith("3 claims read: 1 checked") and "2 refused; 1 file error" in out
    claims, findings = read_tables(tmp_path / "t", fmt)
    assert [(r["claim_id"], r["status"]) for r in claims] == [
        ("C1", claims[0]["status"]),
        ("C2", "invalid"),
        ("C3", "invalid"),
        (None, "unreadable"),
    ]
    assert claims[0]["status"] in ("reject", "deny", "warn", "clean")
    assert claims[1]["error"].startswith("$: unknown or misplaced segment 'ZZZ'")
    assert claims[1]["location"].endswith("segment 20 (ZZZ) at byte 525")
    assert claims[2]["error"] == "$.lines[0].units: not a decimal number: 'NaN'"
    assert " CLM C3 segment 21 (CLM)" in claims[2]["location"]
    assert claims[3]["error"].startswith("SE") and "99" in claims[3]["error"]
    assert all(r["input"] == str(path) for r in claims)
    assert {r["claim_id"] for r in findings} <= {"C1"}


def test_x12_errors_as_outcomes():
    where = Location(segment=3, offset=40)
    refused = as_outcome(X12Error("claim C9: CLM05 is missing", where, "C9"))
    assert isinstance(refused, ClaimError) and refused.errors == (("$", "CLM05 is missing"),)
    contract = as_outcome(X12Error("claim C9: ...", where, "C9", (("$.id", "too long"),)))
    assert contract.errors == (("$.id", "too long"),)
    envelope = as_outcome(X12Error("IEA without an ISA", where))
    assert isinstance(envelope, Unreadable) and str(envelope) == "IEA without an ISA"
    assert claim_row(envelope)["status"] == "unreadable"


# --------------------------------------------------------------------------- bad --output


def test_output_usage_errors_exit_2_and_write_nothing(tmp_path):
    clean = str(EXAMPLES / "aetna-clean.json")
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    cases = [
        (["--format", "csv"], "give --output DIR"),
        (["--output", str(tmp_path / "x")], "--output DIR is for --format parquet or csv"),
        (["--format", "json", "--output", str(tmp_path / "x")], "redirect it to a file"),
        (["--force"], "--force replaces the tables of --output DIR"),
        (["--format", "csv", "--output", str(a_file)], "exists and is not a folder"),
        (["--format", "csv", "--output", str(tmp_path / "x"), "--explain"], "--format json"),
    ]
    for extra, message in cases:
        code, out, err = run(["check", clean, *extra])
        assert code == 2 and out == "", extra
        assert message in err, (extra, err)
    assert a_file.read_text() == "mine"
    assert not (tmp_path / "x").exists()


def test_x12_usage_errors_leave_no_empty_tables(tmp_path):
    out_dir = tmp_path / "t"
    path = str(EXAMPLES / "x12" / "claims.837")
    code, _, err = run(["check", path, "--format", "csv", "--output", str(out_dir)])
    assert code == 2 and "needs --directory" in err
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_existing_tables_need_force_and_other_files_stay(tmp_path):
    clean, batch = str(EXAMPLES / "aetna-clean.json"), str(EXAMPLES / "batch.jsonl")
    assert run(["check", clean, "--format", "csv", "--output", str(tmp_path)])[0] == 0
    (tmp_path / "notes.txt").write_text("keep me")
    before = (tmp_path / "claims.csv").read_bytes()
    code, _, err = run(["check", batch, "--format", "csv", "--output", str(tmp_path)])
    assert code == 2 and "already holds claims.csv" in err and "--force" in err
    assert (tmp_path / "claims.csv").read_bytes() == before
    assert run(["check", batch, "--format", "csv", "--output", str(tmp_path), "--force"])[0] == 1
    assert len(read_csv(tmp_path / "claims.csv", CLAIM_COLUMNS)) == 2
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    # Another format's tables in the same folder are no conflict.
    if HAS_PYARROW:
        assert run(["check", batch, "--format", "parquet", "--output", str(tmp_path)])[0] == 1
        assert (tmp_path / "claims.parquet").exists() and (tmp_path / "claims.csv").exists()


def test_parquet_without_pyarrow_is_a_usage_error_naming_the_extra(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now raises ImportError
    out_dir = tmp_path / "t"
    code, out, err = run(
        ["check", str(EXAMPLES / "aetna-clean.json"), "--format", "parquet", "--output", str(out_dir)]
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "pip install 'hcpcs-rules[parquet]'" in err
    assert not out_dir.exists()
    with pytest.raises(OutputError, match="hcpcs-rules\\[parquet\\]"):
        TableSink(out_dir, "parquet")
    # CSV needs nothing of pyarrow.
    assert run(["check", str(EXAMPLES / "aetna-clean.json"), "--format", "csv", "--output", str(out_dir)])[0] == 0  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_crash_mid_run_leaves_no_partial_tables_and_the_old_ones_intact(
    tmp_path, monkeypatch, fmt
):
    batch = str(EXAMPLES / "batch.jsonl")
    assert run(["check", batch, "--format", fmt, "--output", str(tmp_path)])[0] == 1
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = []

    def rows_then_crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return rows_of(*args, **kwargs)

    monkeypatch.setattr("hcpcs_rules.output.rows_of", rows_then_crash)
    code, _, err = run(["check", batch, "--format", fmt, "--output", str(tmp_path), "--force"])
    assert code == 3 and "internal error: RuntimeError: boom" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_write_error_mid_run_is_exit_2_with_the_reason(tmp_path, monkeypatch):
    from hcpcs_rules import output

    def full(self, row):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output._CsvTable, "write", full)
    code, out, err = run(["check", str(EXAMPLES / "batch.jsonl"), "--format", "csv", "--output", str(tmp_path)])  # fmt: skip
    assert code == 2 and out == ""
    assert "cannot write the tables in" in err and "No space left on device" in err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_made_is_refused_before_any_claim(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    below = a_file / "tables"  # a folder inside a file: mkdir fails, even for root
    code, out, err = run(["check", str(EXAMPLES / "batch.jsonl"), "--format", "csv", "--output", str(below)])  # fmt: skip
    assert code == 2 and out == ""
    assert f"--output {below}: cannot write: " in err
    assert a_file.read_text() == "mine"


# ----------------------------------------------------------------------------- progress bar


@pytest.fixture
def no_delay(monkeypatch):
    """The bar appears at once and is redrawn at every claim (in real runs it waits 2 seconds,
    longer than these take, and is redrawn twice a second)."""
    monkeypatch.setattr("hcpcs_rules.progress.DELAY", 0)
    monkeypatch.setattr("hcpcs_rules.progress.REDRAW", 0)


def test_the_bar_appears_on_a_terminal_and_never_on_stdout(tmp_path, no_delay):
    err = Terminal()
    code, out, bar = run(
        ["check", str(EXAMPLES), "--format", "csv", "--output", str(tmp_path)], err=err
    )
    assert code == 1
    assert out == "7 claims: 1 reject, 4 deny, 1 warn, 1 clean\n"
    assert "check:" in bar and "claims/s" in bar and "%|" in bar  # a total: a percentage
    assert "claims/s" not in out


def test_the_bar_stays_off_without_a_terminal_with_quiet_or_over_scrolling_output(
    tmp_path, no_delay
):
    table = ["--format", "csv", "--output", str(tmp_path), "--force"]
    assert run(["check", str(EXAMPLES), *table])[2] == ""  # stderr is not a terminal
    assert run(["check", str(EXAMPLES), *table, "--quiet"], err=Terminal())[2] == ""
    assert run(["check", str(EXAMPLES), *table, "-q"], err=Terminal())[2] == ""
    # Findings printed on the same terminal: a bar would garble them.
    _, out, err = run(["check", str(EXAMPLES)], out=Terminal(), err=Terminal())
    assert err == "" and "EX-UHC-UNITS" in out
    # Findings sent elsewhere (a file, a pipe): the terminal shows the bar.
    assert "claims/s" in run(["check", str(EXAMPLES)], err=Terminal())[2]
    assert "claims/s" in run(["check", str(EXAMPLES), "--format", "json"], err=Terminal())[2]


def test_the_bar_without_a_known_size_shows_count_and_rate(no_delay, tmp_path):
    code, out, err = run(
        ["check", "-", "--format", "csv", "--output", str(tmp_path)],
        err=Terminal(),
        stdin=json.dumps(CLEAN),
    )
    assert code == 0 and out == "1 claim: 1 clean\n"
    assert "check: 1 claims" in err and "claims/s" in err and "%|" not in err


def test_the_bar_on_x12_input(tmp_path, no_delay):
    path = str(EXAMPLES / "x12" / "claims.837")
    table = ["--format", "csv", "--output", str(tmp_path)]
    code, out, err = run(["check", path, *X12_ARGS, *table], err=Terminal())
    assert code == 0 and out.startswith("5 claims read") and out.count("\n") == 1
    assert "claims/s" in err and "100%|" in err  # the last claim's offset and the file's size


def test_messages_during_the_bar_are_whole_lines_above_it(tmp_path, no_delay):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(CLEAN) + "\n{broken\n" + json.dumps(CLEAN) + "\n")
    code, _, err = run(
        ["check", str(path), "--format", "csv", "--output", str(tmp_path / "t")], err=Terminal()
    )
    assert code == 2
    # The bar is cleared ("\r" + blanks + "\r") before the message, so it starts a clean line.
    message = f"hcpcs-rules: {path}:2: not JSON"
    before, _, _ = err.partition(message)
    assert before.endswith("\r") and "claims/s" in before
    assert f"{message}: Expecting property name enclosed in double quotes (column 2)\n" in err


def test_progress_counts_and_estimates_from_bytes():
    err = Terminal()
    done = [0]
    progress = Progress(err, enabled=True, total_bytes=1000, position=lambda: done[0], delay=0)
    for _ in range(10):
        done[0] += 25
        progress.advance()
    assert progress.claims == 10 and progress.shown
    assert progress._bar.total == 40  # 10 claims from a quarter of the bytes: 40 in all
    progress.close()
    assert not progress.shown and progress.stream is err
    quiet = Progress(io.StringIO(), enabled=False, total_bytes=1000, position=lambda: 1)
    quiet.advance()
    assert quiet.claims == 1 and not quiet.shown


def test_wanted():
    tty, pipe = Terminal(), io.StringIO()
    assert wanted(pipe, tty, quiet=False, summary_only=False)
    assert wanted(tty, tty, quiet=False, summary_only=True)
    assert not wanted(tty, tty, quiet=False, summary_only=False)
    assert not wanted(pipe, tty, quiet=True, summary_only=True)
    assert not wanted(tty, pipe, quiet=False, summary_only=True)
    closed = Terminal()
    closed.close()
    assert not wanted(pipe, closed, quiet=False, summary_only=True)


# ------------------------------------------------------------------------------ byte meter


def test_the_meter_follows_jsonl_arrays_and_folders(tmp_path):
    line = json.dumps(CLEAN)
    (tmp_path / "a.jsonl").write_text("\n".join([line] * 300) + "\n")
    (tmp_path / "b.json").write_text("[" + ",\n".join([line] * 300) + "]")
    (tmp_path / "ignored.txt").write_text("not read")
    sizes = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
    assert input_size(str(tmp_path)) == sizes["a.jsonl"] + sizes["b.json"]
    assert input_size(str(tmp_path / "a.jsonl")) == sizes["a.jsonl"]
    assert input_size(str(tmp_path / "missing")) == 0
    meter = ReadMeter()
    seen = []
    for record in read_claims(str(tmp_path), meter=meter):
        assert record.problem is None
        seen.append(meter.bytes_read)
    assert seen == sorted(seen)  # never goes back
    assert meter.bytes_read == input_size(str(tmp_path))  # every byte, once all is read
    assert seen[-1] == meter.bytes_read - 1  # at the last element, all but the array's "]"
    # Within the file, by the record, not by the 64 KiB chunk: the 150th line of a.jsonl is
    # about half of it.
    assert abs(seen[149] - sizes["a.jsonl"] / 2) < len(line) + 2
    # Part of the way into the array, too: not all of it at once.
    assert seen[300 + 10] < sizes["a.jsonl"] + sizes["b.json"] / 2


def test_input_size_of_stdin(tmp_path):
    assert input_size("-", io.StringIO("{}")) is None  # no descriptor: unknown
    path = tmp_path / "in.json"
    path.write_text(json.dumps(CLEAN))
    with path.open("rb") as redirected:  # `< in.json`: a regular file, its size known
        redirected.read(10)
        assert input_size("-", redirected) == path.stat().st_size - 10
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "rb") as pipe:
            assert input_size("-", pipe) is None
    finally:
        os.close(write_end)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_evaluation_is_a_row_and_exit_3(tmp_path, monkeypatch, fmt):
    real = Engine.evaluate

    def fails_on_one(self, claim, **kwargs):
        if isinstance(claim, dict) and claim.get("id") == "EX-MA-ML":
            raise RuntimeError("plugin exploded")
        return real(self, claim, **kwargs)

    monkeypatch.setattr(Engine, "evaluate", fails_on_one)
    path = EXAMPLES / "batch.jsonl"
    code, out, _ = run(["check", str(path), "--format", fmt, "--output", str(tmp_path)])
    assert code == 3 and out == "2 claims: 1 reject, 1 failed\n"
    claims, _ = read_tables(tmp_path, fmt)
    assert [(r["claim_id"], r["status"]) for r in claims] == [
        ("EX-UHC-UNITS", "reject"),
        ("EX-MA-ML", "failed"),
    ]
    assert claims[1]["error"] == "RuntimeError: plugin exploded"
    assert claims[1]["input"] == f"{path}:2"


def test_workers_give_the_same_tables(tmp_path):
    path = mixed_input(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    assert run(["check", str(path), "--format", "csv", "--output", str(one)])[0] == 2
    code = run(["check", str(path), "--format", "csv", "--output", str(two), "--workers", "2"])[0]
    assert code == 2
    for name in ("claims.csv", "findings.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
