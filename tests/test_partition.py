"""The partition function Spark and Dask run (hcpcs_rules.partition), without either.

The cell-level checks need nothing but the library; the record-batch ones need pyarrow (the
``spark`` extra) and skip without it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import attrs
import pytest

from conftest import SHIPPED
from hcpcs_rules import Engine, partition
from hcpcs_rules import batch as batch_module
from hcpcs_rules.engine import evaluate_outcome
from hcpcs_rules.errors import WorkerError
from hcpcs_rules.failure import claim_id_of
from hcpcs_rules.model import Result
from hcpcs_rules.partition import (
    CLAIM_NAMES,
    FINDING_NAMES,
    OUTPUT_COLUMNS,
    EngineRecipe,
    JsonClaims,
    X12Files,
    _Rows,
    check_837_file,
    check_cell,
)
from hcpcs_rules.rows import CLAIM_COLUMNS, FINDING_COLUMNS, claim_row, rows_of
from hcpcs_rules.testing.claimgen import claims as generated
from hcpcs_rules.x12 import check_837p, load_directory, load_sidecar
from hcpcs_rules.x12.cli import with_json_paths
from hcpcs_rules.x12.read import X12Error

ROOT = Path(__file__).resolve().parents[1]
X12 = ROOT / "examples" / "x12"


@pytest.fixture(scope="module")
def engine():
    return Engine(list(SHIPPED))


def expected_json_rows(engine, cells, inputs):
    """What the tables must hold for cells of valid JSON: evaluate() on each claim, as the
    command line turns its outcomes into rows."""
    claims, findings = [], []
    for i, (cell, where) in enumerate(zip(cells, inputs, strict=True)):
        claim = json.loads(cell)
        outcome = evaluate_outcome(engine, claim, False, i)
        if isinstance(outcome, Result):
            row, rows = rows_of(with_json_paths(outcome), where)
        else:
            row, rows = claim_row(outcome, where, claim_id_of(claim)), []
        claims.append(row)
        findings.extend(rows)
    return claims, findings


def split(rows):
    """(claims rows, finding rows) of a partition's output, each in its table's columns."""
    claims = [{k: r[k] for k in CLAIM_NAMES} for r in rows if r["kind"] == "claim"]
    findings = [{k: r[k] for k in FINDING_NAMES} for r in rows if r["kind"] == "finding"]
    return claims, findings


def test_output_columns_are_both_tables():
    names = [name for name, _ in OUTPUT_COLUMNS]
    assert names[0] == "kind" and len(names) == len(set(names))
    types = dict(OUTPUT_COLUMNS)
    for name, kind in (*FINDING_COLUMNS, *CLAIM_COLUMNS):
        assert types[name] == kind


def test_cells_equal_evaluate(engine):
    claims = generated(80, seed=12)
    cells = [json.dumps(c) for c in claims]
    inputs = [f"row-{i}" for i in range(len(cells))]
    out = _Rows()
    for i, (cell, where) in enumerate(zip(cells, inputs, strict=True)):
        check_cell(engine, cell, where, out, index=i)
    got_claims, got_findings = split(out.rows)
    want_claims, want_findings = expected_json_rows(engine, cells, inputs)
    assert got_claims == want_claims
    assert got_findings == want_findings
    # The mix holds checked and refused claims, and findings at claim and line level.
    statuses = {row["status"] for row in got_claims}
    assert {"invalid", "reject"} <= statuses
    assert {r["location"] for r in got_findings} >= {"$", "$.lines[0]"}


@pytest.mark.parametrize(
    ("cell", "status", "error"),
    [
        (None, "unreadable", "the 'claim' cell: null, not a claim"),
        (42, "unreadable", "the 'claim' cell: not JSON text but a int"),
        ({"id": "A"}, "unreadable", "the 'claim' cell: not JSON text but a dict"),
        (b"{}", "unreadable", "the 'claim' cell: not JSON text but a bytes"),
        ("{bad", "unreadable", "the 'claim' cell: not JSON: Expecting property name"),
        ("", "unreadable", "the 'claim' cell: not JSON: Expecting value"),
        ('{"id": "A"} {}', "unreadable", "the 'claim' cell: not JSON: extra data"),
        ('{"id": "A", "id": "B"}', "invalid", "$.id: duplicate key"),
        ("[" * 100 + "]" * 100, "invalid", "nested too deeply"),
        ('{"id": "A", "payer": "medicare"}', "invalid", "$.lines: required key is missing"),
        ('{"id": "A", "units": 1' + "0" * 200 + "}", "invalid", "out of range"),
    ],
)
def test_a_bad_cell_is_a_claims_row(engine, cell, status, error):
    out = _Rows()
    check_cell(engine, cell, None, out)
    [row] = out.rows
    assert row["kind"] == "claim" and row["status"] == status
    assert error in row["error"], row["error"]
    assert row["input"] is None and row["findings"] is None


def test_a_cell_over_the_size_bound_is_refused(engine):
    out = _Rows()
    check_cell(engine, json.dumps({"id": "A", "note": "x" * 300}), "big", out, max_record_bytes=200)
    [row] = out.rows
    assert row["status"] == "unreadable" and "longer than 200 bytes" in row["error"]


def test_a_refused_claim_keeps_its_id_and_input(engine):
    out = _Rows()
    claim = {**generated(1)[0], "payer": "nobody-knows"}
    check_cell(engine, json.dumps(claim), "file.jsonl:3", out)
    [row] = out.rows
    assert (row["claim_id"], row["input"], row["status"]) == ("LOAD-0", "file.jsonl:3", "invalid")
    assert "$.payer" in row["error"]


def test_an_evaluation_failure_is_a_failed_row(engine, monkeypatch):
    def boom(claim, *, explain=False):
        raise RuntimeError("the backend fell over")

    failing = Engine(list(SHIPPED))
    monkeypatch.setattr(failing, "evaluate", boom)
    out = _Rows()
    check_cell(failing, json.dumps(generated(1)[0]), "in", out)
    [row] = out.rows
    assert (row["status"], row["claim_id"]) == ("failed", "LOAD-0")
    assert row["error"] == "RuntimeError: the backend fell over"


def x12_outcome_rows(engine, path, data):
    """check_837p's outcomes for the file, as rows: the answer the partition must give."""
    directory = load_directory(X12 / "directory.json")
    sidecar = load_sidecar(X12 / "sidecar.json")
    _, outcomes = check_837p(engine, data, directory=directory, sidecar=sidecar)
    claims, findings = [], []
    for outcome in outcomes:
        if isinstance(outcome, X12Error):
            claims.append(outcome)
        else:
            row, rows = rows_of(outcome, path)
            claims.append(row)
            findings.extend(rows)
    return claims, findings


def test_an_837_file_equals_check_837p(engine):
    data = (X12 / "claims.837").read_bytes()
    out = _Rows()
    directory = load_directory(X12 / "directory.json")
    sidecar = load_sidecar(X12 / "sidecar.json")
    check_837_file(engine, data, "claims.837", out, directory=directory, sidecar=sidecar)
    got_claims, got_findings = split(out.rows)
    want_claims, want_findings = x12_outcome_rows(engine, "claims.837", data)
    assert got_claims == want_claims and got_findings == want_findings
    assert all(r["location"].startswith("ISA ") for r in got_claims + got_findings)
    assert len(got_claims) == 5 and got_findings


def test_a_broken_837_gives_rows_not_a_crash(engine):
    data = (X12 / "claims.837").read_bytes()
    directory = load_directory(X12 / "directory.json")
    # The first claim's units are not a number: that claim is refused, located; the file's
    # other claims are still checked.
    broken = data.replace(b"SV1*HC:J7632:KO:GA*480*UN*240*", b"SV1*HC:J7632:KO:GA*480*UN*X*", 1)
    assert broken != data
    out = _Rows()
    check_837_file(engine, broken, "b.837", out, directory=directory)
    claims, _ = split(out.rows)
    assert len(claims) == 5
    refused = claims[0]
    assert (refused["claim_id"], refused["status"]) == ("EX-MCR-GA", "invalid")
    assert refused["error"] and refused["location"].startswith("ISA ")
    assert [r["status"] for r in claims[1:]].count("invalid") == 0
    # Cut mid-claim: the claims before are rows, and the file's end is a located problem.
    out = _Rows()
    check_837_file(engine, data[: len(data) // 2], "cut.837", out, directory=directory)
    claims, _ = split(out.rows)
    assert claims and any(r["status"] in ("invalid", "unreadable") for r in claims)
    for content, error in ((b"not an edi file", "not an X12 file"), (None, "no content")):
        out = _Rows()
        check_837_file(engine, content, "x.837", out, directory=directory)
        [row] = out.rows
        assert row["status"] == "unreadable" and error in row["error"]


def test_the_recipe_refuses_a_worker_with_other_ruleset_files(engine):
    recipe = EngineRecipe.of(engine)
    assert recipe.engine().digests == engine.digests
    other = attrs.evolve(recipe.digests[0], sha256="sha256:" + "0" * 64)
    wrong = attrs.evolve(recipe, digests=(other, *recipe.digests[1:]))
    with pytest.raises(WorkerError, match="other ruleset files than the caller"):
        wrong.engine()


def test_the_recipe_says_why_a_worker_cannot_build(tmp_path):
    gone = tmp_path / "gone.toml"
    recipe = EngineRecipe(attrs.evolve(Engine(list(SHIPPED)).config, rulesets=(gone,)), (), ())
    with pytest.raises(WorkerError, match="cannot build the engine"):
        recipe.engine()


def test_the_per_process_engine_cache_is_bounded(engine, monkeypatch):
    monkeypatch.setattr(batch_module, "_worker_engines", type(batch_module._worker_engines)())
    configs = [attrs.evolve(engine.config, payers=(f"payer{i}",)) for i in range(6)]
    built = [batch_module._worker_engine(c, ()) for c in configs]
    assert batch_module._worker_engine(configs[-1], ()) is built[-1]  # kept, not rebuilt
    kept = batch_module._worker_engines
    assert len(kept) == batch_module._WORKER_ENGINES_KEPT
    assert list(kept) == configs[-batch_module._WORKER_ENGINES_KEPT :]


# ------------------------------------------------------------------------ record batches


def test_batches_in_batches_out(engine, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    monkeypatch.setattr(partition, "CLAIMS_PER_BATCH", 5)  # several output batches per input
    claims = [json.dumps(c) for c in generated(30, seed=3)]
    cells = [*claims, None, "nope"]
    inputs = [f"r{i}" for i in range(len(cells))]
    table = pa.table({"claim": cells, "src": inputs})
    function = JsonClaims(EngineRecipe.of(engine), "claim", "src")
    # However the rows are cut into batches, the rows out are the same.
    whole = [r for b in function(table.to_batches()) for r in b.to_pylist()]
    pieces = [r for b in function(table.to_batches(max_chunksize=7)) for r in b.to_pylist()]
    assert whole == pieces
    got_claims, got_findings = split(whole)
    want_claims, want_findings = expected_json_rows(engine, claims, inputs[:30])
    assert got_claims[:30] == want_claims and got_findings == want_findings
    assert [r["status"] for r in got_claims[30:]] == ["unreadable", "unreadable"]
    batch = next(function(table.to_batches()))
    assert batch.schema.field("date_of_service").type == pa.date32()
    assert batch.schema.field("line").type == pa.int32()
    dated = [r for r in whole if r["date_of_service"] is not None]
    assert dated and all(isinstance(r["date_of_service"], dt.date) for r in dated)
    assert list(function(iter(()))) == []  # an empty partition: no batch, no engine
    # Each output batch holds the rows of at most CLAIMS_PER_BATCH claims (a worker's memory).
    sizes = [b.column("kind").to_pylist().count("claim") for b in function(table.to_batches())]
    assert sizes == [5] * 6 + [2]
    assert [r for b in function.batches(engine, cells, inputs) for r in b.to_pylist()] == whole


def test_x12_batches(engine, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    monkeypatch.setattr(partition, "CLAIMS_PER_BATCH", 2)  # a file's rows in several batches
    data = (X12 / "claims.837").read_bytes()
    table = pa.table({"path": ["a.837", "b.837"], "content": [data, b"garbage"]})
    function = X12Files(
        EngineRecipe.of(engine),
        load_directory(X12 / "directory.json"),
        load_sidecar(X12 / "sidecar.json"),
    )
    out = list(function(table.to_batches()))
    assert [b.column("kind").to_pylist().count("claim") for b in out] == [2, 2, 2]
    rows = [r for b in out for r in b.to_pylist()]
    claims, findings = split(rows)
    want_claims, want_findings = x12_outcome_rows(engine, "a.837", data)
    assert claims[:5] == want_claims and findings == want_findings
    assert (claims[5]["input"], claims[5]["status"]) == ("b.837", "unreadable")


def test_a_broken_837_gives_the_rows_check_writes(engine, tmp_path):
    """Spark's rows for an 837 are the rows `check --format csv` writes for it, refusals included."""
    import csv
    import io

    from hcpcs_rules.cli import main

    data = (X12 / "claims.837").read_bytes()
    broken = data.replace(b"SV1*HC:J7632:KO:GA*480*UN*240*", b"SV1*HC:J7632:KO:GA*480*UN*X*", 1)
    source = tmp_path / "b.837"
    source.write_bytes(broken[: len(broken) - 40])  # refused claim, and a cut envelope
    argv = ["check", str(source), "--directory", str(X12 / "directory.json"), "--no-config"]
    argv += ["--format", "csv", "--output", str(tmp_path / "out"), "--ruleset", "core"]
    main([*argv, "--ruleset", "j7632"], out=io.StringIO(), err=io.StringIO())
    with open(tmp_path / "out" / "claims.csv", newline="", encoding="utf-8") as handle:
        written = [{k: v or None for k, v in row.items()} for row in csv.DictReader(handle)]
    out = _Rows()
    directory = load_directory(X12 / "directory.json")
    check_837_file(engine, source.read_bytes(), str(source), out, directory=directory)
    claims, _ = split(out.rows)
    keys = ("claim_id", "input", "status", "error", "location")
    assert [r["status"] for r in written].count("invalid") >= 1
    assert [{k: r[k] for k in keys} for r in claims] == [{k: r[k] for k in keys} for r in written]
