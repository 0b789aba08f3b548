"""Outcomes as flat table rows: the two tables every batch output shares.

A batch of claims is written out as two tables, the same wherever it runs (``check --format
parquet|csv``, :mod:`hcpcs_rules.spark`, the HTML report's input):

- **findings**: one row per finding (``FINDING_COLUMNS``);
- **claims**: one row per claim read, checked or refused (``CLAIM_COLUMNS``), so that a refused
  claim is a row with its error, never a failed job.

Rows are plain ``dict``s of ``str``, ``int``, ``datetime.date`` or ``None``: no Decimal survives
into a table (there is none in these columns), and every column has one type, so CSV, Parquet and
Spark agree cell for cell. The column lists are the schema; :func:`arrow_schema` turns one into a
``pyarrow.Schema`` for writers that have pyarrow (an optional extra).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from .errors import ClaimError
from .failure import EvaluationFailure
from .model import Finding, Location, Result

__all__ = [
    "CLAIM_COLUMNS",
    "FINDING_COLUMNS",
    "STATUSES",
    "arrow_schema",
    "claim_row",
    "describe_location",
    "finding_rows",
    "rows_of",
]

#: Every value a claims row's ``status`` takes: a Result's status, or why there is none.
#: ``invalid``: a ClaimError (the claim does not fit the input shape); ``failed``: the library or
#: a plugin failed on it (an EvaluationFailure); ``unreadable``: the record is not JSON at all.
STATUSES = ("reject", "deny", "warn", "clean", "invalid", "failed", "unreadable")

#: ``(name, type)``: type is ``"string"``, ``"int32"`` or ``"date"``.
FINDING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("claim_id", "string"),
    ("input", "string"),  # where the claim came from: "claims.jsonl:12", an X12 file...
    ("line", "int32"),  # 1-based; null for a claim-level finding
    ("hcpcs", "string"),  # the line's code; null for a claim-level finding
    # The line's date of service; for a claim-level finding, the claim's earliest line date.
    ("date_of_service", "date"),
    ("rule_id", "string"),
    ("severity", "string"),  # after the policy's override
    ("rule_severity", "string"),  # the rule's own, when the policy overrode it; else null
    ("message", "string"),
    ("source", "string"),
    ("payer", "string"),  # the payer id the claim named
    ("overlay", "string"),  # the payer overlay the rules applied
    ("reason_group", "string"),  # X12 claim adjustment group code: CO, PR...
    ("reason_carc", "string"),
    ("reason_rarc", "string"),  # RARCs separated by spaces, in the rule's order
    ("location", "string"),  # a JSON path, or the X12 segment to fix
    ("rulesets", "string"),  # "core@1.2.0 j7632@1.2.0"
    ("ruleset_sha256", "string"),  # "core=sha256:... j7632=sha256:..."
    ("policy_sha256", "string"),  # null without a policy
)

CLAIM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("claim_id", "string"),  # null when a refused claim has no readable id
    ("input", "string"),
    ("status", "string"),  # one of STATUSES
    ("payer", "string"),
    ("overlay", "string"),
    ("date_of_service", "date"),  # the claim's earliest line date
    ("lines", "int32"),
    ("findings", "int32"),
    ("reject", "int32"),
    ("deny", "int32"),
    ("warn", "int32"),
    ("info", "int32"),
    ("ignored", "int32"),  # findings the policy ignores
    ("error", "string"),  # why the claim was refused or failed; null for a checked claim
    ("location", "string"),  # where the claim sits in an X12 file
    ("rulesets", "string"),
    ("ruleset_sha256", "string"),
    ("policy_sha256", "string"),
)

_SEVERITIES = ("reject", "deny", "warn", "info")


def describe_location(where: Location | None) -> str | None:
    """A location as one short text: the JSON path, or ``ISA .. GS .. ST .. CLM .. LX ..
    segment N (SV1) at byte B`` for an X12 file."""
    if where is None:
        return None
    if where.segment is None:
        return where.json_path
    parts = [
        f"{label} {value}"
        for label, value in (
            ("ISA", where.interchange),
            ("GS", where.group),
            ("ST", where.transaction),
            ("CLM", where.claim),
            ("LX", where.lx),
        )
        if value is not None
    ]
    kind = f" ({where.segment_id})" if where.segment_id else ""
    parts.append(f"segment {where.segment}{kind} at byte {where.offset}")
    return " ".join(parts)


def _claim_date(result: Result) -> dt.date | None:
    dates = [line.date_of_service for line in result.lines if line.date_of_service is not None]
    return min(dates) if dates else None


def _provenance(result: Result) -> tuple[str, str | None, str | None]:
    rulesets = " ".join(result.rulesets)
    if result.provenance is None:
        return rulesets, None, None
    digests = " ".join(f"{d.name}={d.sha256}" for d in result.provenance.rulesets)
    return rulesets, digests or None, result.provenance.policy


def finding_rows(result: Result, input: str | None = None) -> Iterator[dict[str, Any]]:
    """One row per finding of ``result`` (ignored findings are counted, not listed)."""
    rulesets, digests, policy = _provenance(result)
    claim_date = _claim_date(result)
    lines = {line.line: line for line in result.lines}
    for f in result.findings:
        line = lines.get(f.line) if f.line is not None else None
        yield _finding_row(result, f, input, line, claim_date, rulesets, digests, policy)


def _finding_row(
    result: Result,
    f: Finding,
    input: str | None,
    line: Any,
    claim_date: dt.date | None,
    rulesets: str,
    digests: str | None,
    policy: str | None,
) -> dict[str, Any]:
    codes = f.reason_codes
    return {
        "claim_id": result.claim_id,
        "input": input,
        "line": f.line,
        "hcpcs": None if line is None else line.hcpcs,
        "date_of_service": claim_date if line is None else line.date_of_service,
        "rule_id": f.rule_id,
        "severity": f.severity,
        "rule_severity": f.rule_severity,
        "message": f.message,
        "source": f.source,
        "payer": result.payer,
        "overlay": result.overlay,
        "reason_group": None if codes is None else codes.group,
        "reason_carc": None if codes is None else codes.carc,
        "reason_rarc": None if codes is None or not codes.rarc else " ".join(codes.rarc),
        "location": describe_location(f.location),
        "rulesets": rulesets,
        "ruleset_sha256": digests,
        "policy_sha256": policy,
    }


def _refused(
    status: str, claim_id: str | None, input: str | None, error: str, location: str | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(name for name, _ in CLAIM_COLUMNS)
    row.update(claim_id=claim_id, input=input, status=status, error=error, location=location)
    return row


def claim_row(
    outcome: Result | ClaimError | EvaluationFailure | BaseException,
    input: str | None = None,
    claim_id: str | None = None,
    location: Location | None = None,
) -> dict[str, Any]:
    """The claims-table row of one outcome. ``claim_id`` names a refused claim and ``location``
    says where it sits in an X12 file (a Result carries both itself); any exception other than
    ClaimError and EvaluationFailure is an unreadable record."""
    if isinstance(outcome, Result):
        rulesets, digests, policy = _provenance(outcome)
        counts = dict.fromkeys(_SEVERITIES, 0)
        for f in outcome.findings:
            counts[f.severity] += 1
        return {
            "claim_id": outcome.claim_id,
            "input": input,
            "status": outcome.status,
            "payer": outcome.payer,
            "overlay": outcome.overlay,
            "date_of_service": _claim_date(outcome),
            "lines": len(outcome.lines),
            "findings": len(outcome.findings),
            **counts,
            "ignored": len(outcome.ignored),
            "error": None,
            "location": describe_location(outcome.location),
            "rulesets": rulesets,
            "ruleset_sha256": digests,
            "policy_sha256": policy,
        }
    where = describe_location(location)
    if isinstance(outcome, ClaimError):
        text = "; ".join(f"{path}: {message}" for path, message in outcome.errors)
        return _refused("invalid", claim_id, input, text, where)
    if isinstance(outcome, EvaluationFailure):
        rule = f" in rule {outcome.rule_id}" if outcome.rule_id else ""
        text = f"{outcome.error_type}{rule}: {outcome.message}"
        return _refused("failed", claim_id or outcome.claim_id, input, text, where)
    return _refused("unreadable", claim_id, input, str(outcome), where)


def rows_of(
    outcome: Result | ClaimError | EvaluationFailure | BaseException,
    input: str | None = None,
    claim_id: str | None = None,
    location: Location | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(claims row, finding rows)`` of one outcome."""
    findings = list(finding_rows(outcome, input)) if isinstance(outcome, Result) else []
    return claim_row(outcome, input, claim_id, location), findings


def arrow_schema(columns: tuple[tuple[str, str], ...]) -> Any:
    """``columns`` as a ``pyarrow.Schema`` (every column nullable). Needs pyarrow."""
    import pyarrow as pa

    types = {"string": pa.string(), "int32": pa.int32(), "date": pa.date32()}
    return pa.schema([pa.field(name, types[kind]) for name, kind in columns])
