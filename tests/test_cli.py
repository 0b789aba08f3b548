"""The hcpcs-rules command: inputs, outputs and exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hcpcs_rules.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLEAN = (EXAMPLES / "aetna-clean.json").read_text()


#: Commands that build from rulesets, and the shipped ones they are given when a test names
#: none, so a plugin installed beside the library changes nothing here.
_BUILDS = ("check", "dump", "rule", "docs")
SHIPPED_ARGS = ["--ruleset", "core", "--ruleset", "j7632"]


def _shipped(argv):
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in _BUILDS and "--ruleset" not in argv:
        return [*argv, *SHIPPED_ARGS]
    return argv


def run(argv, stdin: str = ""):
    out, err = io.StringIO(), io.StringIO()
    code = main(_shipped(argv), out=out, err=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def test_check_the_bundled_examples_prints_findings_and_a_summary():
    code, out, _ = run(["check", str(EXAMPLES)])
    assert code == 1  # a reject is among them
    assert "EX-UHC-UNITS  line 1  J7632-UNITS-MISMATCH  reject  Billed 250 units" in out
    assert out.strip().splitlines()[-1] == "7 claims: 1 reject, 4 deny, 1 warn, 1 clean"


def test_fail_on_sets_the_threshold():
    assert run(["check", str(EXAMPLES / "medicare-j7632-ga.json")])[0] == 0  # deny < reject
    assert run(["check", str(EXAMPLES / "medicare-j7632-ga.json"), "--fail-on", "deny"])[0] == 1
    assert run(["check", "-", "--fail-on", "info"], stdin=CLEAN)[0] == 0


def test_json_format_prints_one_result_per_claim(tmp_path):
    code, out, _ = run(["check", str(EXAMPLES / "batch.jsonl"), "--format", "json"])
    assert code == 1  # the units mismatch is a reject
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["claim_id"] for r in results] == ["EX-UHC-UNITS", "EX-MA-ML"]
    assert (
        results[0]["lines"][0]["expected_units"] == 240
        and results[0]["lines"][0]["dispensed_mg"] == "2400"
    )


def test_an_invalid_claim_is_reported_and_the_batch_goes_on(tmp_path):
    good = json.loads(CLEAN)
    bad = dict(good, id="BAD", lines=[dict(good["lines"][0], units=2.5)])
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([json.dumps(bad), "{not json", json.dumps(good)]) + "\n")
    code, out, err = run(["check", str(path)])
    assert code == 2
    assert f"{path}:1  invalid  $.lines[0].units: not a decimal number: 2.5 is a float" in out
    assert "EX-AETNA-CLEAN  -  clean" in out
    assert f"{path}:2: not JSON" in err
    assert out.strip().endswith("3 claims: 1 clean, 1 invalid, 1 unreadable")


def test_a_refused_claims_json_record_names_its_id_unless_the_id_was_wrong(tmp_path):
    good = json.loads(CLEAN)
    bad = dict(good, id="BAD", lines=[dict(good["lines"][0], units=2.5)])
    no_id = dict(good, id=7, lines=[dict(good["lines"][0], units=2.5)])
    path = tmp_path / "refused.jsonl"
    path.write_text("\n".join([json.dumps(bad), json.dumps(no_id)]) + "\n")
    code, out, _ = run(["check", str(path), "--format", "json"])
    first, second = (json.loads(line) for line in out.splitlines())
    assert code == 2 and first["error"] == second["error"] == "invalid claim"
    assert first["claim_id"] == "BAD" and first["claim"] == f"{path}:1"
    assert second["claim_id"] is None  # the id itself was the problem
    assert ["$.id", "not a string: 7 is an integer"] in second["errors"]


def test_a_json_array_of_claims_and_stdin(tmp_path):
    path = tmp_path / "two.json"
    path.write_text(json.dumps([json.loads(CLEAN), json.loads(CLEAN)]))
    code, out, _ = run(["check", str(path)])
    assert code == 0 and out.count("EX-AETNA-CLEAN  -  clean") == 2
    code, out, _ = run(["check", "-"], stdin=CLEAN)
    assert code == 0 and "1 claim: 1 clean" in out


def test_explain_prints_the_chain():
    code, out, _ = run(["check", "-", "--explain"], stdin=CLEAN)
    assert code == 0
    assert "CORE-SERVICE on line 1 matched line:1 -> service:1" in out
    assert "J7632-DERIVE-UNITS on line 1 matched line:1, dispensed:1 -> units:1" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["check"],
        ["check", "x", "--format", "xml"],
        ["nonsense"],
        ["check", "x", "--backend", "rete"],
    ],
)
def test_usage_errors_exit_2(argv):
    assert run(argv)[0] == 2


def test_unreadable_path_exits_2(tmp_path):
    code, _, err = run(["check", str(tmp_path / "missing.json")])
    assert code == 2 and "cannot read" in err


def test_workers_give_the_same_output_in_the_same_order():
    one = run(["check", str(EXAMPLES), "--format", "json"])
    two = run(["check", str(EXAMPLES), "--format", "json", "--workers", "2"])
    assert one == two


def test_dump_and_functions():
    code, out, _ = run(["dump", "ir", "--ruleset", "core"])
    assert code == 0 and json.loads(out)["node"] == "Program"
    code, out, _ = run(["functions"])
    assert "npi_valid(str) -> bool" in out
    # Types computed per call are said in words, not as the registry's markers.
    assert "lookup(table, any) -> the table's value type" in out and "$" not in out


def test_a_broken_ruleset_exits_2_with_file_and_line(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text(
        '[ruleset]\nname = "broken"\nversion = "1"\n[[rule]]\nid = "BROKEN-X"\ntitle = "x"\nsource = "s"\nseverity = "warn"\nmessage = "m"\nwhen = "line.unitz > 1"\n'
    )
    code, _, err = run(["check", str(EXAMPLES / "aetna-clean.json"), "--ruleset", str(broken)])
    assert code == 2
    assert (
        f"{broken}:10:9 [BROKEN-X]: when: line has no field 'unitz' (did you mean 'units'?)" in err
    )
    assert '    | when = "line.unitz > 1"\n    |         ^^^^^^^^^^\n' in err  # under line.unitz


@pytest.mark.parametrize("workers", ["1", "2"])
def test_max_lines_raises_the_line_limit_in_this_process_and_in_workers(tmp_path, workers):
    claim = json.loads(CLEAN)
    claim["lines"] = claim["lines"] * 51
    path = tmp_path / "wide.jsonl"
    path.write_text(json.dumps(claim) + "\n" + json.dumps(claim) + "\n")
    code, out, _ = run(["check", str(path), "--workers", workers])
    assert code == 2
    assert "at most 50 lines per claim; Limits.max_lines" in out
    code, out, _ = run(["check", str(path), "--workers", workers, "--max-lines", "51"])
    assert "Limits.max_lines" not in out
    assert out.strip().splitlines()[-1].startswith("2 claims:")
