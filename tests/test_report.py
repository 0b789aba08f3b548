"""The HTML report (hcpcs_rules.report): its numbers, its bounds, its inputs, its escaping.

The numbers are checked against counts made directly from evaluate_many's outcomes
(tests/report_data.py); the same data must come out of the three ways in: outcomes fed to the
aggregator, the JSON Lines of ``check --format json``, and the Parquet tables.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hcpcs_rules import ClaimError, Result
from hcpcs_rules.cli import main
from hcpcs_rules.failure import EvaluationFailure, claim_id_of
from hcpcs_rules.report import (
    Aggregator,
    Caps,
    HtmlReport,
    ReportInputError,
    aggregate_inputs,
    outcome_from_record,
    render_html,
)
from hcpcs_rules.rows import CLAIM_COLUMNS, FINDING_COLUMNS, STATUSES, arrow_schema, rows_of
from hcpcs_rules.x12.cli import with_json_paths
from report_data import (
    HOSTILE_ID,
    ROOT,
    check_to_jsonl,
    example_claims,
    expected_counts,
    outcomes,
    sample_claims,
)

SEVERITIES = ("reject", "deny", "warn", "info")
FIXED_TIME = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def engine(engines):
    return engines("python", ("core", "j7632"))


@pytest.fixture(scope="module")
def claims():
    return sample_claims(300)


@pytest.fixture(scope="module")
def results(engine, claims):
    return outcomes(engine, claims)


def feed(results, caps=None, locations=None, claims=None):
    """The aggregator fed outcomes as the JSON Lines reader rebuilds them: a Result with the
    JSON paths `check` adds and no input, a refused claim with its input location (and, given
    ``claims``, its id as `check` prints it: the record's id unless the id was the problem)."""
    aggregator = Aggregator(caps)
    for index, outcome in enumerate(results):
        if isinstance(outcome, Result):
            aggregator.add(with_json_paths(outcome))
        else:
            where = locations[index] if locations else f"claims.jsonl:{index + 1}"
            claim_id = None
            if claims is not None and isinstance(outcome, ClaimError):
                bad_id = any(
                    p == "$.id" or p.startswith(("$.id.", "$.id[")) for p, _ in outcome.errors
                )
                claim_id = None if bad_id else claim_id_of(claims[index])
            aggregator.add(outcome, where, claim_id)
    return aggregator


# ------------------------------------------------------------------------------- numbers


def test_the_numbers_equal_a_direct_count_of_the_results(results):
    expected = expected_counts(results)
    data = feed(results).close()
    totals = data["totals"]
    assert totals["claims"] == expected["claims"] == len(results)
    assert totals["lines"] == expected["lines"]
    assert totals["by_status"] == {s: expected["by_status"][s] for s in STATUSES}
    assert totals["by_severity"] == {s: expected["by_severity"][s] for s in SEVERITIES}
    assert totals["findings"] == totals["claim_findings"] == expected["findings"] > 100
    assert totals["by_status"]["invalid"] > 0  # the generator makes some invalid claims
    assert totals["refused"] == totals["by_status"]["invalid"]
    # By payer: every pair the results name is listed (fewer than the 25 shown) with its counts.
    assert len(data["payers"]) == len(expected["payers"]) > 3
    for p in data["payers"]:
        counts = expected["payers"][(p["payer"], p["overlay"])]
        assert p["claims"] == counts["claims"] and p["findings"] == counts["findings"]
        assert p["by_status"] == {s: counts[s] for s in STATUSES}
    assert data["payers_other"]["claims"] == 0
    # By rule: counts per severity, and the first claim that had it as the example.
    rules = {r["rule_id"]: r for r in data["rules"]}
    shown = set(rules)
    for rule_id, counts in expected["rules"].items():
        if rule_id in shown:
            assert rules[rule_id]["findings"] == counts["findings"]
            assert rules[rule_id]["by_severity"] == {s: counts[s] for s in SEVERITIES}
            assert rules[rule_id]["example"]["claim_id"] == expected["examples"][rule_id]
    listed = [r["findings"] for r in data["rules"]]
    assert listed == sorted(listed, reverse=True)
    assert sum(listed) + data["rules_other"]["findings"] == expected["findings"]
    # By month (the latest 60 shown, earlier ones summed, undated apart).
    months = {m["month"]: m for m in data["months"]}
    earlier = {"claims": 0, **dict.fromkeys(SEVERITIES, 0)}
    for month, counts in expected["months"].items():
        if month is None:
            got = data["months_undated"]
        elif month in months:
            got = months[month]
        else:
            for key in earlier:
                earlier[key] += counts[key]
            continue
        assert got["claims"] == counts["claims"]
        assert got["by_severity"] == {s: counts[s] for s in SEVERITIES}
    for month, got in months.items():  # the calendar's months without claims are zero
        if month not in expected["months"]:
            assert got["claims"] == sum(got["by_severity"].values()) == 0
    assert len(months) == 60  # the sample spans more than five years
    assert data["months_earlier"]["claims"] == earlier["claims"]
    assert data["months_earlier"]["by_severity"] == {s: earlier[s] for s in SEVERITIES}
    assert list(months) == sorted(months)
    # The findings table: the first ones, in the results' order.
    rows = data["findings_table"]["rows"]
    assert [(r["claim_id"], r["line"], r["rule_id"], r["severity"]) for r in rows] == expected[
        "finding_rows"
    ][: len(rows)]
    assert data["findings_table"]["not_shown"] == expected["findings"] - len(rows)


def test_json_lines_results_give_the_same_report_as_the_outcomes(tmp_path, claims, results):
    path = check_to_jsonl(claims, tmp_path)
    locations = [f"{tmp_path / 'claims.jsonl'}:{i + 1}" for i in range(len(claims))]
    direct = feed(results, locations=locations, claims=claims).close()
    assert aggregate_inputs([str(path)]).close() == direct
    # Refused claims keep their ids (check's JSON record carries a readable one).
    refused = direct["refused"]["rows"]
    assert refused and all(row["claim_id"] for row in refused)
    # Standard input, and the same results file split in two, read as one stream.
    text = path.read_text()
    assert aggregate_inputs(["-"], io.StringIO(text)).close() == direct
    lines = text.splitlines(keepends=True)
    (tmp_path / "a.jsonl").write_text("".join(lines[:100]))
    (tmp_path / "b.jsonl").write_text("".join(lines[100:]))
    parts = [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]
    assert aggregate_inputs(parts).close() == direct


def _write_tables(folder: Path, results, layout: str) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    claim_rows, finding_rows = [], []
    for index, outcome in enumerate(results):
        claim, found = rows_of(outcome, f"claims.jsonl:{index + 1}")
        claim_rows.append(claim)
        finding_rows.extend(found)
    for name, columns, rows in (
        ("claims", CLAIM_COLUMNS, claim_rows),
        ("findings", FINDING_COLUMNS, finding_rows),
    ):
        table = pa.Table.from_pylist(rows, schema=arrow_schema(columns))
        if layout == "files":
            pq.write_table(table, folder / f"{name}.parquet", row_group_size=100)
        else:  # Spark: a folder of part files per table, with its marker files
            part_dir = folder / (f"{name}.parquet" if layout == "spark" else name)
            part_dir.mkdir()
            half = table.num_rows // 2
            pq.write_table(table.slice(0, half), part_dir / "part-00000.parquet")
            pq.write_table(table.slice(half), part_dir / "part-00001.parquet")
            (part_dir / "_SUCCESS").write_text("")
            (part_dir / ".part-00000.parquet.crc").write_text("x")


@pytest.mark.parametrize("layout", ["files", "spark", "folders"])
def test_parquet_tables_give_the_same_report_as_the_outcomes(tmp_path, results, layout):
    _write_tables(tmp_path, results, layout)
    direct = Aggregator()
    for index, outcome in enumerate(results):
        direct.add(outcome, f"claims.jsonl:{index + 1}")
    assert aggregate_inputs([str(tmp_path)]).close() == direct.close()


@pytest.mark.parametrize("batch_rows", [7, 8192])
def test_batches_counted_at_once_equal_rows_counted_one_by_one(
    tmp_path, results, monkeypatch, batch_rows
):
    """The Parquet path counts groups of rows with pyarrow; with caps that cut everywhere and
    batches that split every group, it must still pick and count exactly what rows do."""
    _write_tables(tmp_path, results, "files")
    monkeypatch.setattr("hcpcs_rules.report.inputs.PARQUET_BATCH_ROWS", batch_rows)
    caps = Caps(findings=9, refused=3, payers=4, rules=6, months=5, rulesets=1, shown_rules=4)
    by_rows = Aggregator(caps)
    for index, outcome in enumerate(results):
        claim, _ = rows_of(outcome, f"claims.jsonl:{index + 1}")
        by_rows.add_claim_row(claim)
    for index, outcome in enumerate(results):
        for row in rows_of(outcome, f"claims.jsonl:{index + 1}")[1]:
            by_rows.add_finding_row(row)
    expected = by_rows.close()
    assert expected["payers_other"]["overflow_rows"] and expected["rules_other"]["overflow_rows"]
    assert aggregate_inputs([str(tmp_path)], caps=caps).close() == expected


def test_a_bad_parquet_row_is_reported_where_it_is(tmp_path, results):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [rows_of(outcome, "x")[0] for outcome in results[:20]]
    rows[4] = {**rows[4], "status": "great"}
    rows[6] = {**rows[6], "lines": -2}
    pq.write_table(
        pa.Table.from_pylist(rows, schema=arrow_schema(CLAIM_COLUMNS)), tmp_path / "claims.parquet"
    )
    data = aggregate_inputs([str(tmp_path / "claims.parquet")]).close()
    assert data["totals"]["claims"] == 18 and data["problems"]["total"] == 2
    where = [p["location"] for p in data["problems"]["rows"]]
    assert where == [
        f"{tmp_path / 'claims.parquet'}: row 5",
        f"{tmp_path / 'claims.parquet'}: row 7",
    ]
    assert "status: not one of" in data["problems"]["rows"][0]["message"]


def test_a_lone_parquet_table_is_read_and_the_mismatch_is_said(tmp_path, results):
    _write_tables(tmp_path, results, "files")
    data = aggregate_inputs([str(tmp_path / "claims.parquet")]).close()
    assert data["totals"]["claims"] == len(results)
    assert data["totals"]["findings"] == 0 < data["totals"]["claim_findings"]
    assert 'id="mismatch-warning"' in render_html(data)


def test_caps_fold_the_rest_into_other_and_every_total_still_adds_up(results):
    caps = Caps(findings=5, refused=2, payers=3, rules=4, months=2, shown_payers=2, shown_rules=3)
    data = feed(results, caps).close()
    full = feed(results).close()
    assert data["totals"] == full["totals"]  # totals never depend on caps
    assert len(data["payers"]) == 2
    assert (
        sum(p["claims"] for p in data["payers"]) + data["payers_other"]["claims"]
        == data["totals"]["claims"]
    )
    assert data["payers_other"]["payers"] == 1 and data["payers_other"]["overflow_rows"] > 0
    assert len(data["rules"]) == 3
    assert (
        sum(r["findings"] for r in data["rules"]) + data["rules_other"]["findings"]
        == data["totals"]["findings"]
    )
    assert data["rules_other"]["overflow_rows"] > 0
    month_claims = (
        sum(m["claims"] for m in data["months"])
        + data["months_earlier"]["claims"]
        + data["months_undated"]["claims"]
        + data["months_other"]["claims"]
    )
    assert month_claims == data["totals"]["claims"]
    assert data["months_other"]["overflow_rows"] > 0
    assert len(data["findings_table"]["rows"]) == 5
    assert data["findings_table"]["not_shown"] == data["totals"]["findings"] - 5
    assert len(data["refused"]["rows"]) == 2
    html = render_html(data)
    assert "past the cap of distinct pairs" in html and "past the cap of distinct rules" in html


def test_state_and_page_stay_the_same_size_however_many_claims(engine):
    """Memory and the page's size depend on the caps, not on how many claims went through."""
    caps = Caps(findings=50, refused=10)
    stream = outcomes(engine, sample_claims(400))
    aggregator = Aggregator(caps)
    sizes = []
    for round_ in range(6):
        for outcome in stream:
            aggregator.add(outcome, "x.jsonl:1")
        sizes.append(aggregator.held())
        if round_ == 0:
            first_page = len(render_html(aggregator.data(), generated=FIXED_TIME))
    assert aggregator.claims == 6 * len(stream)
    assert sizes == [sizes[0]] * 6  # nothing new is held after the first pass
    last_page = len(render_html(aggregator.data(), generated=FIXED_TIME))
    assert abs(last_page - first_page) < 0.02 * first_page  # only the digits grew


def test_caps_are_checked():
    with pytest.raises(ValueError, match=r"Caps.findings"):
        Caps(findings=0)


# ------------------------------------------------------------------------- reading results


def test_every_kind_of_check_record_is_read_back(results):
    result = next(r for r in results if isinstance(r, Result) and r.findings)
    again, where, claim_id = outcome_from_record(json.loads(json.dumps(result.to_dict())))
    assert rows_of(again) == rows_of(result) and where is None and claim_id is None
    record = {"claim": "c.jsonl:3", "error": "invalid claim", "errors": [["$.units", "bad"]]}
    refused, where, claim_id = outcome_from_record(record)
    assert isinstance(refused, ClaimError) and refused.errors == (("$.units", "bad"),)
    assert where == "c.jsonl:3" and claim_id is None  # written before refusals carried the id
    assert outcome_from_record({**record, "claim_id": "C-3"})[2] == "C-3"
    assert outcome_from_record({**record, "claim_id": None})[2] is None
    with pytest.raises(ValueError, match=r"^\$\.claim_id: expected a string or null, got"):
        outcome_from_record({**record, "claim_id": 3})
    failure = EvaluationFailure(index=4, claim_id="C-4", error_type="BackendError", message="boom")
    back, where, _ = outcome_from_record(
        {"claim": "c.jsonl:5", "error": "internal error", **failure.to_dict()}
    )
    assert back == failure and where == "c.jsonl:5"
    x12 = {
        "claim": "claims.837",
        "error": "claim refused",
        "claim_id": "X-1",
        "errors": [{"path": "$.lines[0].units", "message": "not a number"}],
        "location": None,
    }
    refused, where, claim_id = outcome_from_record(x12)
    assert refused.errors == (("$.lines[0].units", "not a number"),) and claim_id == "X-1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(status="maybe"), r"^\$\.status: expected one of"),
        (lambda r: r["findings"][0].update(severity="fatal"), r"\$\.findings\[0\]\.severity"),
        (
            lambda r: r["findings"][0].update(line="1"),
            r"\$\.findings\[0\]\.line: expected an integer",
        ),
        (
            lambda r: r["lines"][0].update(billed_units=240.0),
            r"billed_units: expected a decimal string",
        ),
        (lambda r: r["lines"][0].update(date_of_service="2026-3-2"), r"expected a date YYYY-MM-DD"),
        (lambda r: r.update(rulesets="core"), r"\$\.rulesets: expected a list"),
        (lambda r: r.update(claim_id=7), r"\$\.claim_id: expected a string, got int"),
        (lambda r: r.pop("findings"), r"^\$: missing key 'findings'"),
        (lambda r: r["findings"][1].pop("rule_id"), r"^\$\.findings\[1\]: missing key 'rule_id'"),
        (
            lambda r: r["provenance"]["rulesets"][0].update(sha256=1),
            r"^\$\.provenance\.rulesets\[0\]\.sha256: expected a string",
        ),
        (lambda r: r["findings"][0].update(line=True), r"expected an integer, got bool"),
    ],
)
def test_a_malformed_result_is_refused_with_its_path_never_coerced(results, change, message):
    result = next(r for r in results if isinstance(r, Result) and r.findings)
    record = copy.deepcopy(result.to_dict())
    change(record)
    with pytest.raises(ValueError, match=message):
        outcome_from_record(record)


def test_a_claim_given_as_results_is_named_for_what_it_is():
    with pytest.raises(ValueError, match=r"^\$: a claim, not a result: run `hcpcs-rules check"):
        outcome_from_record(example_claims()[0])


# ---------------------------------------------------------------------------- the page


class _Page(HTMLParser):
    """Every element's tag and attributes, the text of each script, and data-count numbers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self.counts: dict[str, int] = {}
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        if "data-key" in attributes and "data-count" in attributes:
            self.counts[attributes["data-key"]] = int(attributes["data-count"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def test_claim_strings_are_escaped_everywhere(results):
    data = feed(results).close()
    html = render_html(data, title="<b>title</b>", inputs=["<i>in.jsonl</i>"])
    page = _Page()
    page.feed(html)
    tags = [tag for tag, _ in page.tags]
    # The page's own elements only: two scripts (the data and the filter), no <img>, no <b>.
    assert tags.count("script") == 2
    assert "img" not in tags and "b" not in tags
    assert "&lt;b&gt;title&lt;/b&gt;" in html and "&lt;i&gt;in.jsonl&lt;/i&gt;" in html
    assert all(not name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert HOSTILE_ID not in html and html.count("&lt;script&gt;window.__pwned=1") > 3
    assert "<!--" not in html.split("<body>", 1)[1]  # "EX-</script><!--" did not open a comment
    # The embedded JSON is still the data, the hostile id included, exactly.
    embedded = json.loads(page.scripts[0])
    assert embedded["rules"] == data["rules"] and embedded["totals"] == data["totals"]
    assert HOSTILE_ID in {r["example"]["claim_id"] for r in embedded["rules"]}
    assert embedded["findings_table"] == {
        "listed": len(data["findings_table"]["rows"]),
        "total": data["findings_table"]["total"],
        "not_shown": data["findings_table"]["not_shown"],
    }
    assert embedded["meta"]["title"] == "<b>title</b>"


def test_the_page_is_self_contained_and_locked_down(results):
    html = render_html(feed(results).close())
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:|//)""", html)
    assert "@import" not in html and "url(" not in html
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert "@media print" in html


def test_every_number_shown_is_the_datas(results):
    data = feed(results).close()
    page = _Page()
    page.feed(render_html(data))
    totals = data["totals"]
    assert page.counts["totals.claims"] == totals["claims"]
    assert page.counts["totals.findings"] == totals["findings"]
    for status in STATUSES:
        assert page.counts[f"totals.by_status.{status}"] == totals["by_status"][status]
    for severity in SEVERITIES:
        assert page.counts[f"totals.by_severity.{severity}"] == totals["by_severity"][severity]
    assert page.counts["findings_table.not_shown"] == data["findings_table"]["not_shown"]


def test_an_empty_report_renders():
    html = render_html(Aggregator().close())
    assert "No findings." in html and 'data-count="0"' in html


def test_the_sink_writes_the_page_on_close(tmp_path, results):
    sink = HtmlReport(tmp_path / "r.html", inputs=["claims.jsonl"], title="Batch 7")
    for index, outcome in enumerate(results):
        sink.add(outcome, input=f"claims.jsonl:{index + 1}")
    sink.close()
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<title>Batch 7</title>" in html
    assert f'data-key="totals.claims" data-count="{len(results)}"' in html
    with pytest.raises(RuntimeError, match="closed"):
        sink.add(results[0], input=None)


def test_an_aborted_run_writes_no_report(tmp_path, results):
    sink = HtmlReport(tmp_path / "r.html")
    sink.add(results[0], input="claims.jsonl:1")
    sink.abort()
    sink.abort()  # never raises
    assert list(tmp_path.iterdir()) == []


def test_the_sink_takes_what_check_gives_its_sinks():
    """check feeds every sink through hcpcs_rules.output.Sink: the same parameters, so the
    report can join the run's sink list as it is."""
    import inspect

    from hcpcs_rules.output import Sink

    for method in ("add", "close", "abort"):
        wanted = inspect.signature(getattr(Sink, method)).parameters
        have = inspect.signature(getattr(HtmlReport, method)).parameters
        for name, parameter in wanted.items():
            assert name in have and have[name].kind == parameter.kind, (method, name)


def test_a_refused_x12_claim_is_listed_with_its_place(results):
    from hcpcs_rules.model import Location

    aggregator = Aggregator()
    where = Location(interchange="1", claim="X-9", segment=40, offset=900, segment_id="CLM")
    aggregator.add(ClaimError([("$.lines", "none")]), "claims.837", "X-9", where)
    row = aggregator.close()["refused"]["rows"][0]
    assert row["claim_id"] == "X-9" and row["input"] == "claims.837"


def test_check_parquet_tables_report_like_its_json_lines(tmp_path, claims):
    """What `check --format parquet --output DIR` writes, reported, is the report of the same
    run's JSON Lines (the tables also say each claim's input, which JSON Lines results do not)."""
    pytest.importorskip("pyarrow")
    source = check_to_jsonl(claims, tmp_path)
    argv = ["check", str(tmp_path / "claims.jsonl"), "--format", "parquet", "--output"]
    code = main(
        [*argv, str(tmp_path / "tables"), "--no-config", "--ruleset", "core", "--ruleset", "j7632"],
        out=io.StringIO(),
        err=io.StringIO(),
    )
    assert code in (1, 2)
    tables = aggregate_inputs([str(tmp_path / "tables")]).close()
    lines = aggregate_inputs([str(source)]).close()
    for key in ("totals", "payers", "payers_other", "rules", "rules_other", "months"):
        assert tables[key] == lines[key], key
    assert tables["months_undated"] == lines["months_undated"]

    def without_input(rows):
        return [{k: v for k, v in r.items() if k != "input"} for r in rows]

    assert without_input(tables["findings_table"]["rows"]) == without_input(
        lines["findings_table"]["rows"]
    )
    assert all(r["input"] for r in tables["findings_table"]["rows"])


def test_a_broken_row_is_a_problem_not_a_crash():
    aggregator = Aggregator()
    claim, _ = rows_of(ClaimError([("$", "x")]), "a:1")
    aggregator.add_claim_row({**claim, "status": "great"}, "t.parquet: row 1")
    aggregator.add_claim_row({**claim, "lines": -1}, "t.parquet: row 2")
    aggregator.add_finding_row({"rule_id": "R"}, "f.parquet: row 1")
    data = aggregator.close()
    assert data["totals"]["claims"] == 0 and data["problems"]["total"] == 3
    assert data["problems"]["rows"][0]["location"] == "t.parquet: row 1"


# ------------------------------------------------------------------------ the command line


def run(argv, stdin=""):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def test_report_command_writes_the_page(tmp_path, claims):
    results = check_to_jsonl(claims, tmp_path)
    target = tmp_path / "report.html"
    code, out, err = run(["report", str(results), "-o", str(target)])
    assert code == 0, err
    assert f"report: {len(claims):,} claims" in err and out == ""
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    code, out, err = run(["report", "-", "-o", "-"], stdin=results.read_text())
    assert code == 0 and out.startswith("<!DOCTYPE html>")


def test_report_refuses_unreadable_input_and_writes_nothing(tmp_path):
    target = tmp_path / "report.html"
    code, _, err = run(["report", str(tmp_path / "missing.jsonl"), "-o", str(target)])
    assert code == 2 and "missing.jsonl: cannot read" in err and not target.exists()
    (tmp_path / "empty").mkdir()
    code, _, err = run(["report", str(tmp_path / "empty"), "-o", str(target)])
    assert code == 2 and "no claims/findings Parquet tables" in err and not target.exists()
    (tmp_path / "blank.jsonl").write_text("")
    code, _, err = run(["report", str(tmp_path / "blank.jsonl"), "-o", str(target)])
    assert code == 2 and "empty" in err and not target.exists()
    code, _, err = run(["report", "-", "-", "-o", str(target)])
    assert code == 2 and "only once" in err


def test_unreadable_records_are_listed_counted_and_exit_2(tmp_path, claims):
    results = check_to_jsonl(claims[:8], tmp_path)
    lines = results.read_text().splitlines()
    lines.insert(2, "{not json")
    lines.insert(4, '{"claim_id": "A", "claim_id": "B"}')
    lines.append(json.dumps(example_claims()[0]))
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    target = tmp_path / "report.html"
    code, _, err = run(["report", str(tmp_path / "bad.jsonl"), "-o", str(target)])
    assert code == 2
    assert "bad.jsonl:3:" in err and "duplicate key" in err and "a claim, not a result" in err
    html = target.read_text(encoding="utf-8")
    assert 'data-key="problems.total" data-count="3"' in html
    assert f'data-key="totals.claims" data-count="{len(claims[:8])}"' in html


def test_report_reads_parquet_without_pyarrow_says_how(tmp_path, monkeypatch):
    (tmp_path / "claims.parquet").write_bytes(b"PAR1" + b"\0" * 16 + b"PAR1")
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(ReportInputError, match=r"pip install 'hcpcs-rules\[parquet\]'"):
        aggregate_inputs([str(tmp_path / "claims.parquet")])


def test_a_parquet_table_with_the_wrong_schema_is_refused(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"status": ["clean"]}), tmp_path / "claims.parquet")
    with pytest.raises(ReportInputError, match=r"has no 'claim_id' column"):
        aggregate_inputs([str(tmp_path)])
    bad = {name: pa.array([None], type=pa.string()) for name, _ in CLAIM_COLUMNS}
    pq.write_table(pa.table(bad), tmp_path / "claims.parquet")
    with pytest.raises(
        ReportInputError, match=r"column 'date_of_service' is string, expected date"
    ):
        aggregate_inputs([str(tmp_path)])
    (tmp_path / "claims.parquet").write_bytes(b"PAR1garbage")
    with pytest.raises(ReportInputError, match="not a readable Parquet file"):
        aggregate_inputs([str(tmp_path / "claims.parquet")])


def test_the_month_window_is_calendar_months():
    from hcpcs_rules.report.aggregate import _calendar

    assert _calendar("2026-02", 3) == ["2025-12", "2026-01", "2026-02"]
    assert _calendar("0001-02", 5) == ["0001-01", "0001-02"]


def test_a_folder_of_parts_of_one_table_is_that_table(tmp_path, results):
    _write_tables(tmp_path, results, "folders")
    parts = tmp_path / "findings"
    data = aggregate_inputs([str(parts)]).close()
    assert data["totals"]["claims"] == 0 < data["totals"]["findings"]
    (parts / "part-00002.parquet").write_bytes(
        (tmp_path / "claims" / "part-00000.parquet").read_bytes()
    )
    with pytest.raises(ReportInputError, match="parts of both tables"):
        aggregate_inputs([str(parts)])


def test_columns_no_row_fills_are_left_out(results):
    """JSON Lines results do not say which input a claim came from: no empty input column."""
    without = render_html(feed(results).close())
    table = without.split('id="findings-table"', 1)[1].split("</thead>", 1)[0]
    assert "<th>input</th>" not in table and "<th>location</th>" in table
    with_input = Aggregator()
    for outcome in results:
        with_input.add(outcome, "claims.jsonl:1")
    table = render_html(with_input.close()).split('id="findings-table"', 1)[1]
    assert "<th>input</th>" in table.split("</thead>", 1)[0]
    assert '<td class="code">claims.jsonl:1</td>' in table


def test_a_report_that_cannot_be_written_is_exit_2_and_leaves_the_old_one(tmp_path, claims):
    results = check_to_jsonl(claims[:5], tmp_path)
    code, _, err = run(["report", str(results), "-o", str(tmp_path / "no" / "r.html")])
    assert code == 2 and "cannot write" in err
    target = tmp_path / "r.html"
    target.write_text("the last report")
    (tmp_path / "r.html.tmp").mkdir()  # nothing named like the temporary file is touched
    code, _, err = run(["report", str(tmp_path / "missing.jsonl"), "-o", str(target)])
    assert code == 2 and target.read_text() == "the last report"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".r.html")) == []
    code, _, _ = run(["report", str(results), "-o", str(target)])
    assert code == 0 and target.read_text().startswith("<!DOCTYPE html>")
    umask = os.umask(0)
    os.umask(umask)
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~umask)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([1, 2], r"^\$: expected a result object, got list"),
        ({"claim": 3, "error": "invalid claim"}, r"^\$\.claim: expected the claim's location"),
        (
            {"claim": "x", "error": "invalid claim", "errors": [["a"]]},
            r"^\$\.errors: expected a non-empty",
        ),
        (
            {"claim": "x", "error": "invalid claim", "errors": [[1, "m"]]},
            r"^\$\.errors\[0\]\[0\]: expected a string",
        ),
        (
            {"claim": "x", "error": "internal error", "index": "4"},
            r"^\$\.index: expected an integer",
        ),
        (
            {"claim": "x", "error": "segment count wrong", "claim_id": None},
            r"an error of the input file, not a claim: segment count wrong",
        ),
        (
            {"claim": "x", "error": "bad", "claim_id": "C", "errors": [{"path": 1}]},
            r"^\$\.errors\[0\]: expected an object",
        ),
    ],
)
def test_a_malformed_refusal_record_is_refused_with_its_path(record, message):
    with pytest.raises(ValueError, match=message):
        outcome_from_record(record)


def test_check_html_writes_the_report_of_the_same_run(tmp_path, claims):
    """`check --html PATH` feeds the report the run's own outcomes: the page is the one
    `report` makes from that run's JSON Lines results."""
    source = check_to_jsonl(claims, tmp_path)
    page = tmp_path / "run.html"
    code, out, err = run(
        ["check", str(tmp_path / "claims.jsonl"), "--html", str(page), "--no-config",
         "--ruleset", "core", "--ruleset", "j7632", "--format", "json"]
    )  # fmt: skip
    assert code in (1, 2), err
    assert out == source.read_text()  # the run's own output is unchanged by --html
    from_run = _report_data(page.read_text(encoding="utf-8"))
    code, _, err = run(["report", str(source), "-o", str(tmp_path / "after.html")])
    after = _report_data((tmp_path / "after.html").read_text(encoding="utf-8"))
    for key in ("totals", "payers", "rules", "months"):
        assert from_run[key] == after[key], key


def test_check_html_of_an_x12_file_and_its_usage_errors(tmp_path):
    page = tmp_path / "x12.html"
    example = ROOT / "examples" / "x12"
    code, _, err = run(
        ["check", str(example / "claims.837"), "--directory", str(example / "directory.json"),
         "--html", str(page), "--no-config"]
    )  # fmt: skip
    assert code in (0, 1, 2), err
    data = _report_data(page.read_text(encoding="utf-8"))
    assert data["totals"]["claims"] > 0
    code, _, err = run(["check", str(example / "claims.837"), "--html", str(tmp_path)])
    assert code == 2 and "is a folder" in err
    code, _, err = run(["check", "x.json", "--html", str(tmp_path / "nowhere" / "r.html")])
    assert code == 2 and "no folder" in err


def _report_data(page: str) -> dict:
    start = page.index('<script type="application/json" id="report-data">')
    start = page.index(">", start) + 1
    return json.loads(page[start : page.index("</script>", start)])
