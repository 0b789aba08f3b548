"""Tools for ruleset authors: test (JUnit XML), coverage, diff, docs for one ruleset, and check
refusing rulesets whose examples fail."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hcpcs_rules import Engine
from hcpcs_rules.authoring import coverage, diff, junit_xml, run_examples
from hcpcs_rules.cli import main
from hcpcs_rules.reference import MANIFEST
from hcpcs_rules.testing import available_backends
from hcpcs_rules.testing.rulesets import HEADER, rule

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err, stdin=io.StringIO())
    return code, out.getvalue(), err.getvalue()


def _ruleset(tmp_path, name, when="line.units > 100", **keys):
    path = tmp_path / name
    path.write_text(HEADER + rule(when, **keys))
    return path


def _claim(units: str, cid: str = "C") -> dict:
    return {
        "id": cid,
        "payer": "medicare",
        "date_of_service": "2026-03-02",
        "place_of_service": "12",
        "diagnoses": ["J45.40"],
        "supplier": {"npi": "1234567893"},
        "lines": [{"hcpcs": "J7632", "units": units, "diagnosis_pointers": [1]}],
    }


# ----------------------------------------------------------------------------------- test


def test_shipped_examples_pass_on_every_backend():
    cases = run_examples(["core"])
    assert {c.backend for c in cases} == set(available_backends())
    assert cases and all(c.passed for c in cases)
    assert {c.ruleset for c in cases} == {"core"}  # only the named ruleset's examples
    assert all(c.file.endswith("core.toml") and c.line for c in cases)


def test_a_failing_example_is_a_case_with_file_and_line(tmp_path):
    bad = _ruleset(tmp_path, "bad.toml", when="line.units > 99")  # the near miss fires
    cases = run_examples([bad], ["python"])
    failed = [c for c in cases if not c.passed]
    assert len(failed) == 1 and len(cases) == 2
    (case,) = failed
    text = bad.read_text().splitlines()
    near_miss_line = [i for i, line in enumerate(text, 1) if line == "[[rule.example]]"][1]
    assert (case.rule_id, case.example, case.line) == ("MINE-RULE", "near miss", near_miss_line)
    assert "expected the rule not to fire" in case.problem
    assert case.where == f"{bad}:{near_miss_line}"


def test_a_ruleset_that_does_not_build_is_one_failed_case(tmp_path):
    broken = _ruleset(tmp_path, "broken.toml", when="line.unitz > 1")
    (case,) = run_examples([broken], ["python"])
    assert case.rule_id is None and "unitz" in case.problem


def test_junit_xml_counts_and_locates(tmp_path):
    bad = _ruleset(tmp_path, "bad.toml", when="line.units > 99")
    xml = junit_xml(run_examples([bad], ["python"]))
    root = ET.fromstring(xml)
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "examples[python]"
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failing = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert [c.get("classname") for c in failing] == ["mine.MINE-RULE"]
    assert failing[0].get("file") == str(bad) and failing[0].get("line")
    assert "expected the rule not to fire" in failing[0].find("failure").get("message")


def test_cli_test_exit_codes_and_junit(tmp_path):
    code, out, _ = run(["test", "core"])
    assert code == 0
    for backend in available_backends():
        assert f"{backend}: " in out and f"{backend}: 0 passed" not in out
    assert ", 0 failed" in out
    bad = _ruleset(tmp_path, "bad.toml", when="line.units > 99")
    report = tmp_path / "junit.xml"
    code, out, _ = run(["test", str(bad), "--backend", "python", "--junit-xml", str(report)])
    assert code == 1
    assert f"FAIL python: {bad}:" in out and "[MINE-RULE] example 'near miss'" in out
    assert "python: 1 passed, 1 failed" in out
    assert ET.parse(report).getroot().find("testsuite").get("failures") == "1"


# ------------------------------------------------------------------------------- coverage


def test_coverage_counts_firings_and_names_rules_that_never_fired(tmp_path):
    mine = _ruleset(tmp_path, "mine.toml")
    engine = Engine([mine])
    report = coverage(engine, [_claim("240", "A"), _claim("150", "B"), _claim("50", "C"), {}])
    assert report.claims == 3 and report.invalid == 1 and report.failed == 0
    assert report.fired["MINE-RULE"] == 2
    assert report.fired["CORE-SERVICE"] == 3  # a deriving rule counts its derivations
    assert set(report.fired) == {r.id for r in engine.program.rules}
    assert "CLAIM-NPI-INVALID" in report.never and "MINE-RULE" not in report.never


def test_cli_coverage(tmp_path):
    claims = tmp_path / "claims.jsonl"
    claims.write_text("\n".join(json.dumps(_claim(u, u)) for u in ("240", "50")) + "\n")
    mine = _ruleset(tmp_path, "mine.toml")
    code, out, _ = run(["coverage", str(claims), "--ruleset", str(mine)])
    assert code == 0
    assert any(line.split() == ["MINE-RULE", "1"] for line in out.splitlines())
    assert "2 claims (0 invalid, 0 failed)" in out and "never fired: " in out
    code, out, _ = run(["coverage", str(claims), "--ruleset", str(mine), "--format", "json"])
    data = json.loads(out)
    assert data["fired"]["MINE-RULE"] == 1 and "CLAIM-NPI-INVALID" in data["never_fired"]


# ----------------------------------------------------------------------------------- diff


def test_diff_lists_added_removed_and_severity_changes(tmp_path):
    old = Engine([_ruleset(tmp_path, "old.toml")])
    new_severity = Engine([_ruleset(tmp_path, "new.toml", severity='"reject"')])
    new_threshold = Engine([_ruleset(tmp_path, "newer.toml", when="line.units > 200")])
    claims = [("a", _claim("240", "A")), ("b", _claim("150", "B")), ("c", _claim("50", "C"))]
    by_claim = {d.location: d for d in diff(old, new_severity, claims)}
    assert [(c.kind, c.old_severity, c.new_severity) for c in by_claim["a"].changes] == [
        ("severity", "warn", "reject")
    ]
    assert by_claim["a"].old_status == "warn" and by_claim["a"].new_status == "reject"
    assert not by_claim["c"].changes
    by_claim = {d.location: d for d in diff(old, new_threshold, claims)}
    assert not by_claim["a"].changes
    (removed,) = by_claim["b"].changes
    assert (removed.kind, removed.rule_id, removed.line) == ("removed", "MINE-RULE", 1)
    by_claim = {d.location: d for d in diff(new_threshold, old, claims)}
    assert [c.kind for c in by_claim["b"].changes] == ["added"]


def test_cli_diff(tmp_path):
    claims = tmp_path / "claims.jsonl"
    claims.write_text(
        "\n".join(json.dumps(_claim(u, f"C{u}")) for u in ("240", "150", "50")) + "\n"
    )
    old = _ruleset(tmp_path, "old.toml")
    new = _ruleset(tmp_path, "new.toml", when="line.units > 200", severity='"deny"')
    code, out, _ = run(["diff", "--old", str(old), "--new", str(new), str(claims)])
    assert code == 1
    assert "C240: warn -> deny" in out and "~ MINE-RULE (line 1): warn -> deny" in out
    assert "C150: warn -> clean" in out and "- MINE-RULE (line 1, warn)" in out
    assert "C50" not in out
    assert "3 claims, 2 changed: 0 findings added, 1 removed, 1 changed severity" in out
    code, out, err = run(["diff", "--old", str(old), "--new", str(old), str(claims)])
    assert (
        code == 0
        and out.strip() == "3 claims, 0 changed: 0 findings added, 0 removed, 0 changed severity"
    )
    code, out, err = run(
        ["diff", "--old", str(old), "--new", str(new), str(claims), "--format", "json"]
    )
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["claim_id"] for r in records] == ["C240", "C150"]
    assert "2 changed" in err
    code, _, err = run(["diff", "--old", "nosuch", "--new", str(new), str(claims)])
    assert code == 2 and "no installed ruleset named 'nosuch'" in err


# ----------------------------------------------------------------------- check and docs


def test_check_refuses_rulesets_whose_examples_fail(tmp_path):
    bad = _ruleset(tmp_path, "bad.toml", when="line.units > 99")
    code, out, err = run(["check", str(EXAMPLES / "aetna-clean.json"), "--ruleset", str(bad)])
    assert code == 2 and out == ""
    assert "[MINE-RULE]: example 'near miss': expected the rule not to fire" in err
    good = _ruleset(tmp_path, "good.toml")
    code, _, _ = run(["check", str(EXAMPLES / "aetna-clean.json"), "--ruleset", str(good)])
    assert code == 0


def test_docs_for_one_ruleset_leaves_other_pages_alone(tmp_path):
    out_dir = tmp_path / "rules"
    assert run(["docs", "--out", str(out_dir)])[0] == 0  # every installed ruleset
    (out_dir / "NOTES.md").write_text("# mine, not generated\n")
    core_page = out_dir / "CLAIM-NPI-INVALID.md"
    core_text = core_page.read_text()
    index_text = (out_dir / "README.md").read_text()
    mine = _ruleset(tmp_path, "mine.toml")
    code, out, _ = run(["docs", "--out", str(out_dir), "--ruleset", str(mine)])
    assert code == 0 and out.startswith("wrote 1 pages")  # MINE-RULE only: not core's
    assert (out_dir / "MINE-RULE.md").exists()
    assert core_page.read_text() == core_text  # core was required, not documented
    assert (out_dir / "README.md").read_text() == index_text  # the full run's index stays
    assert (out_dir / "NOTES.md").exists()
    # Renaming the rule: its old page goes (ours, listed), nothing else does.
    mine.write_text(HEADER + rule(id='"MINE-RENAMED"'))
    assert run(["docs", "--out", str(out_dir), "--ruleset", str(mine)])[0] == 0
    assert not (out_dir / "MINE-RULE.md").exists() and (out_dir / "MINE-RENAMED.md").exists()
    assert core_page.exists() and (out_dir / "NOTES.md").exists()
    manifest = (out_dir / MANIFEST).read_text()
    assert "MINE-RENAMED.md\tmine" in manifest and "CLAIM-NPI-INVALID.md\tcore" in manifest
    # A full run afterwards removes the page of a ruleset no longer documented, and only ours.
    assert run(["docs", "--out", str(out_dir)])[0] == 0
    assert not (out_dir / "MINE-RENAMED.md").exists() and (out_dir / "NOTES.md").exists()


def test_docs_for_one_ruleset_writes_its_own_index_in_a_fresh_folder(tmp_path):
    out_dir = tmp_path / "only"
    mine = _ruleset(tmp_path, "mine.toml")
    assert run(["docs", "--out", str(out_dir), "--ruleset", str(mine)])[0] == 0
    index = (out_dir / "README.md").read_text()
    assert "MINE-RULE" in index and "CLAIM-NPI-INVALID" not in index
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [MANIFEST, "MINE-RULE.md", "README.md"]
    )


def test_an_older_manifest_without_owners_is_still_honoured(tmp_path):
    out_dir = tmp_path / "rules"
    out_dir.mkdir()
    stale = out_dir / "OLD-RULE.md"
    stale.write_text("# OLD-RULE: gone\n")
    (out_dir / MANIFEST).write_text("# old\nOLD-RULE.md\n")
    mine = _ruleset(tmp_path, "mine.toml")
    # A run for one ruleset cannot tell whose the old page was: it stays, still listed.
    assert run(["docs", "--out", str(out_dir), "--ruleset", str(mine)])[0] == 0
    assert stale.exists() and "OLD-RULE.md\n" in (out_dir / MANIFEST).read_text()
    # A full run may remove it, as before.
    assert run(["docs", "--out", str(out_dir), "--ruleset", "core"])[0] == 0
    assert run(["docs", "--out", str(out_dir)])[0] == 0
    assert not stale.exists()


@pytest.mark.parametrize("command", ["coverage", "diff"])
def test_usage_errors(command):
    assert run([command])[0] == 2


def test_run_examples_refuses_one_name_given_as_a_string():
    with pytest.raises(TypeError, match="list of names or paths"):
        run_examples("core")


# ------------------------------------------------------------------------- 837P input
X12 = Path(__file__).resolve().parent.parent / "examples" / "x12"


def test_coverage_and_diff_read_an_837_as_check_does(tmp_path):
    """An 837P is recognised by its content and read with --directory and --sidecar, each claim
    counted once; without --directory it is refused as check refuses it."""
    reference = ["--directory", str(X12 / "directory.json"), "--sidecar", str(X12 / "sidecar.json")]
    code, out, _ = run(["coverage", str(X12 / "claims.837"), *reference, "--format", "json"])
    data = json.loads(out)
    engine = Engine()
    from hcpcs_rules.x12 import X12Claim, load_directory, load_sidecar, read_837p

    items = read_837p(
        X12 / "claims.837",
        parse=engine.parse_claim,
        directory=load_directory(X12 / "directory.json"),
        sidecar=load_sidecar(X12 / "sidecar.json"),
    )
    expected = coverage(engine, [i.claim for i in items if isinstance(i, X12Claim)])
    assert code == 0 and data == expected.to_dict() and data["claims"] > 0
    code, out, _ = run(["diff", "--old", "core", "--old", "j7632", "--new", "core", "--new",
                        "j7632", str(X12 / "claims.837"), *reference])  # fmt: skip
    assert code == 0 and out.startswith(f"{data['claims']} claims, 0 changed")
    code, _, err = run(["coverage", str(X12 / "claims.837")])
    assert code == 2 and "needs --directory" in err
