"""Claims and independent counts shared by the report tests (test_report.py and the browser test).

The expected numbers are counted here straight from ``evaluate_many``'s outcomes (Result fields,
not the rows module the report is built on), so a report that agrees with them agrees with the
results themselves.
"""

from __future__ import annotations

import copy
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from hcpcs_rules import ClaimError, Result
from hcpcs_rules.batch import evaluate_many
from hcpcs_rules.cli import main
from hcpcs_rules.testing import claimgen

ROOT = Path(__file__).resolve().parents[1]
#: A claim id and note that would run script, close the page's tags or bend attributes if any
#: of it reached the page unescaped.
HOSTILE_ID = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"\'&amp;'


def example_claims() -> list[dict[str, Any]]:
    claims = [json.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))]
    for line in (ROOT / "examples" / "batch.jsonl").read_text().splitlines():
        if line.strip():
            claims.append(json.loads(line))
    return claims


def sample_claims(generated: int = 300) -> list[dict[str, Any]]:
    """The bundled examples, ``generated`` claims of the load-test generator (a share of them
    invalid), and two hostile ones: an example under HOSTILE_ID, and one whose id would close a
    script element and open a comment."""
    claims = example_claims()
    # Both have findings, so their ids reach every part of the page (rules, table, examples).
    hostile = copy.deepcopy(next(c for c in claims if c["id"] == "EX-UHC-UNITS"))
    hostile["id"] = HOSTILE_ID
    claims.insert(0, hostile)  # first: the example claim of its rules
    closer = copy.deepcopy(hostile)
    closer["id"] = "EX-</script><!--"
    claims.append(closer)
    claims.extend(claimgen.claims(generated, seed=12))
    return claims


def check_to_jsonl(claims: list[dict[str, Any]], folder: Path) -> Path:
    """``hcpcs-rules check --format json`` over ``claims`` (written as JSON Lines): the results
    file a user would give ``report``."""
    source = folder / "claims.jsonl"
    source.write_text("".join(json.dumps(c) + "\n" for c in claims), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    argv = ["check", str(source), "--format", "json", "--no-config"]
    code = main([*argv, "--ruleset", "core", "--ruleset", "j7632"], out=out, err=err)
    assert code in (0, 1, 2), err.getvalue()
    results = folder / "results.jsonl"
    results.write_text(out.getvalue(), encoding="utf-8")
    return results


def outcomes(engine: Any, claims: list[dict[str, Any]]) -> list[Any]:
    return list(evaluate_many(claims, engine=engine))


def _month(day: Any) -> str | None:
    return None if day is None else day.isoformat()[:7]


def expected_counts(results: list[Any]) -> dict[str, Any]:
    """The report's numbers, counted directly from the outcomes."""
    by_status: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    payers: dict[tuple, Counter[str]] = {}
    rules: dict[str, Counter[str]] = {}
    examples: dict[str, str] = {}
    months: dict[str | None, Counter[str]] = {}
    findings: list[tuple] = []
    lines = 0
    for outcome in results:
        if isinstance(outcome, Result):
            status, key = outcome.status, (outcome.payer, outcome.overlay)
            lines += len(outcome.lines)
            dates = [line.date_of_service for line in outcome.lines if line.date_of_service]
            claim_month = _month(min(dates)) if dates else None
        else:
            status = "invalid" if isinstance(outcome, ClaimError) else "failed"
            key, claim_month = (None, None), None
        by_status[status] += 1
        payers.setdefault(key, Counter())["claims"] += 1
        payers[key][status] += 1
        months.setdefault(claim_month, Counter())["claims"] += 1
        if not isinstance(outcome, Result):
            continue
        line_dates = {line.line: line.date_of_service for line in outcome.lines}
        for f in outcome.findings:
            by_severity[f.severity] += 1
            payers[key]["findings"] += 1
            rules.setdefault(f.rule_id, Counter())[f.severity] += 1
            rules[f.rule_id]["findings"] += 1
            examples.setdefault(f.rule_id, outcome.claim_id)
            month = claim_month if f.line is None else _month(line_dates[f.line])
            months.setdefault(month, Counter())[f.severity] += 1
            findings.append((outcome.claim_id, f.line, f.rule_id, f.severity))
    return {
        "claims": sum(by_status.values()),
        "lines": lines,
        "by_status": by_status,
        "by_severity": by_severity,
        "findings": sum(by_severity.values()),
        "payers": payers,
        "rules": rules,
        "examples": examples,
        "months": months,
        "finding_rows": findings,
    }
