"""The two result tables (hcpcs_rules.rows): one findings row per finding, one claims row per claim."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import BACKENDS
from hcpcs_rules import ClaimError
from hcpcs_rules.failure import EvaluationFailure
from hcpcs_rules.rows import CLAIM_COLUMNS, FINDING_COLUMNS, STATUSES, claim_row, rows_of

CLAIM = {
    "id": "R-1",
    "payer": "medicare",
    "date_of_service": "2026-03-02",
    "place_of_service": "12",
    "diagnoses": ["J45.40"],
    "supplier": {"npi": "1234567893", "ptan": "AB1234"},
    "lines": [
        {
            "hcpcs": "J7632",
            "modifiers": ["KO"],
            "units": "250",
            "dispensed": {"quantity": "2400", "unit": "mg"},
            "diagnosis_pointers": [1],
        },
        {"hcpcs": "J7632", "units": "1", "date_of_service": "2026-02-20"},
    ],
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_result_gives_one_row_per_finding_and_one_claim_row(engines, backend):
    result = engines(backend, ("core", "j7632")).evaluate(CLAIM)
    claim, findings = rows_of(result, "claims.jsonl:1")
    assert list(claim) == [name for name, _ in CLAIM_COLUMNS]
    assert all(list(row) == [name for name, _ in FINDING_COLUMNS] for row in findings)
    assert len(findings) == len(result.findings) == claim["findings"] > 0
    assert claim["status"] == result.status and claim["error"] is None
    assert sum(claim[s] for s in ("reject", "deny", "warn", "info")) == claim["findings"]
    assert (claim["payer"], claim["overlay"]) == ("medicare", "medicare")
    assert claim["date_of_service"] == dt.date(2026, 2, 20)  # the earliest line date
    for row, finding in zip(findings, result.findings, strict=True):
        assert (row["rule_id"], row["line"], row["severity"]) == (
            finding.rule_id,
            finding.line,
            finding.severity,
        )
        if finding.line == 2:
            assert row["date_of_service"] == dt.date(2026, 2, 20) and row["hcpcs"] == "J7632"
        if finding.reason_codes is not None:
            assert row["reason_carc"] == finding.reason_codes.carc
    assert claim["ruleset_sha256"].startswith("core=sha256:")
    # Only str, int, date or None: nothing a table cannot hold in its column's one type.
    for row in (claim, *findings):
        assert all(v is None or type(v) in (str, int, dt.date) for v in row.values())


def test_refused_claims_are_rows_with_their_error():
    invalid = claim_row(ClaimError([("$.lines[0].units", "not a decimal")]), "in:3", "C-9")
    assert (invalid["status"], invalid["claim_id"]) == ("invalid", "C-9")
    assert invalid["error"] == "$.lines[0].units: not a decimal" and invalid["lines"] is None
    failure = EvaluationFailure(
        index=0, claim_id="C-7", error_type="RuleExecutionError", message="boom", rule_id="X-1"
    )
    failed = claim_row(failure)
    assert failed["status"] == "failed" and failed["claim_id"] == "C-7"
    assert failed["error"] == "RuleExecutionError in rule X-1: boom"
    unreadable = claim_row(ValueError("not JSON at line 1"), "in:4")
    assert unreadable["status"] == "unreadable" and unreadable["error"] == "not JSON at line 1"
    assert {invalid["status"], failed["status"], unreadable["status"]} <= set(STATUSES)
