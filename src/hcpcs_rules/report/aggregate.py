"""The report's numbers, gathered row by row in bounded memory: :class:`Aggregator`.

It is fed claims-table and findings-table rows (:mod:`hcpcs_rules.rows`), or outcomes directly
(:meth:`Aggregator.add`, the shape of a batch output sink), and holds only counters and a few
capped lists, so its memory does not grow with the number of claims:

- totals by claim status and by finding severity;
- by payer and overlay, by rule (findings per severity, and the first finding as the example),
  by month of date of service (claims, and findings per severity): each counted exactly for the
  first :attr:`Caps.payers` / :attr:`Caps.rules` / :attr:`Caps.months` distinct keys; rows with a
  key first seen after that are counted in an "other" bucket, and the report says how many;
- the first :attr:`Caps.findings` findings and :attr:`Caps.refused` refused claims as rows, with
  the count of the rest;
- the rows that could not be read (:meth:`Aggregator.add_problem`), the first few kept.

Kept text (messages, errors, ids) is cut at :attr:`Caps.text` characters, with a note saying how
much was cut: a Parquet file may hold anything, and a report must stay small whatever it holds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from ..model import Location
from ..rows import STATUSES, rows_of

__all__ = ["REFUSED", "SEVERITIES", "Aggregator", "Caps"]

SEVERITIES = ("reject", "deny", "warn", "info")
#: The statuses of claims that were not checked.
REFUSED = ("invalid", "failed", "unreadable")
#: Format of the data the aggregator hands the renderer; bumped when a key changes meaning.
DATA_VERSION = 1


@attrs.frozen(kw_only=True)
class Caps:
    """The bounds on what a report holds (and so on its memory and its size)."""

    findings: int = 2000  # finding rows listed in the table
    refused: int = 200  # refused claims listed
    problems: int = 100  # unreadable input records listed
    payers: int = 1000  # distinct (payer, overlay) pairs counted exactly
    rules: int = 2000  # distinct rules counted exactly
    months: int = 1200  # distinct months counted exactly (a century)
    rulesets: int = 20  # distinct ruleset selections named
    text: int = 2000  # characters kept of one message, error or id
    shown_payers: int = 25  # payers drawn in the chart and table; the rest as "other"
    shown_rules: int = 50  # rules in the top-rules table; the rest as "other"
    shown_months: int = 60  # latest months in the chart; earlier ones as one bar

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if type(value) is not int or value < 1:
                raise ValueError(f"Caps.{field.name} must be a whole number >= 1, got {value!r}")


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def _month(day: dt.date | None) -> str | None:
    return None if day is None else f"{day.year:04d}-{day.month:02d}"


class _RowError(Exception):
    pass


# What a row's columns may hold (the report reads these; anything else is a broken row).
_CLAIM_INTS = ("lines", "findings", "reject", "deny", "warn", "info", "ignored")
_CLAIM_TEXTS = ("claim_id", "input", "payer", "overlay", "error", "rulesets")
_FINDING_TEXTS = ("claim_id", "input", "hcpcs", "message", "payer", "overlay", "location")


def _check_row(row: Any, texts: tuple[str, ...], ints: tuple[str, ...]) -> None:
    if not isinstance(row, dict):
        raise _RowError(f"expected a row (a mapping), got {type(row).__name__}")
    for name in texts:
        if name not in row:
            raise _RowError(f"no {name!r} column")
        if row[name] is not None and type(row[name]) is not str:
            raise _RowError(f"{name}: expected text, got {type(row[name]).__name__}")
    for name in ints:
        if name not in row:
            raise _RowError(f"no {name!r} column")
        value = row[name]
        if value is not None and (type(value) is not int or value < 0):
            raise _RowError(f"{name}: expected a count, got {value!r}")
    day = row.get("date_of_service")
    if "date_of_service" not in row:
        raise _RowError("no 'date_of_service' column")
    if day is not None and type(day) is not dt.date:
        raise _RowError(f"date_of_service: expected a date, got {type(day).__name__}")


class Aggregator:
    """Counts claims and findings for a report, one row (or outcome) at a time.

    Feed it with :meth:`add` (an outcome of :func:`~hcpcs_rules.evaluate_many`, as a batch output
    sink is fed), :meth:`add_claim_row` / :meth:`add_finding_row` (rows of the two tables), and
    :meth:`add_problem` (an input record that could not be read); :meth:`close` returns the
    report's data (plain JSON-ready values), which :func:`~hcpcs_rules.report.render_html`
    draws. Not thread-safe: one feeder at a time.
    """

    def __init__(self, caps: Caps | None = None) -> None:
        self.caps = caps or Caps()
        self.claims = 0
        self.lines = 0
        self.ignored = 0
        self.claim_findings = 0  # the sum of the claims rows' `findings`: a cross-check
        self.by_status = dict.fromkeys(STATUSES, 0)
        self.findings = 0
        self.by_severity = dict.fromkeys(SEVERITIES, 0)
        self._payers: dict[tuple[str | None, str | None], dict[str, Any]] = {}
        self._payers_other = self._payer_bucket()
        self._payers_overflow = 0  # rows whose (payer, overlay) came after the cap
        self._rules: dict[str, dict[str, Any]] = {}
        self._rules_other = self._rule_bucket()
        self._rules_overflow = 0
        self._months: dict[str | None, dict[str, Any]] = {}
        self._months_overflow = 0
        self._months_other = self._month_bucket()
        self._rulesets: dict[str, int] = {}
        self._rulesets_other = 0
        self._rows: list[dict[str, Any]] = []
        self._refused: list[dict[str, Any]] = []
        self._problems: list[dict[str, str]] = []
        self.problems = 0
        self._closed = False

    # ------------------------------------------------------------------------- feeding

    def add(
        self,
        outcome: Any,
        input: str | None = None,
        claim_id: str | None = None,
        location: Location | None = None,
    ) -> None:
        """One outcome of a batch (a Result, ClaimError, EvaluationFailure, or another exception
        for a record that could not be read), with where it came from and, for a refused claim,
        its id and place in an X12 file: the arguments a batch output sink
        (:class:`hcpcs_rules.output.Sink`) takes."""
        claim, findings = rows_of(outcome, input, claim_id, location)
        self.add_claim_row(claim)
        for row in findings:
            self.add_finding_row(row)

    def add_claim_row(self, row: dict[str, Any], where: str | None = None) -> None:
        """One claims-table row. A row that does not fit the table is a problem (at ``where``)."""
        self._open()
        try:
            _check_row(row, _CLAIM_TEXTS, _CLAIM_INTS)
            if row.get("status") not in STATUSES:
                raise _RowError(f"status: not one of {', '.join(STATUSES)}: {row.get('status')!r}")
        except _RowError as exc:
            self.add_problem(where or "claims row", str(exc))
            return
        self.count_claims(
            row["status"],
            (row["payer"], row["overlay"]),
            _month(row["date_of_service"]),
            row["rulesets"],
            1,
            lines=row["lines"] or 0,
            ignored=row["ignored"] or 0,
            findings=row["findings"] or 0,
        )
        self.keep_refused(row)

    def add_finding_row(self, row: dict[str, Any], where: str | None = None) -> None:
        """One findings-table row."""
        self._open()
        try:
            _check_row(row, _FINDING_TEXTS, ())
            if type(row.get("rule_id")) is not str:
                raise _RowError(f"rule_id: expected text, got {row.get('rule_id')!r:.40}")
            if row.get("severity") not in SEVERITIES:
                raise _RowError(
                    f"severity: not one of {', '.join(SEVERITIES)}: {row.get('severity')!r:.40}"
                )
            line = row.get("line")
            if line is not None and (type(line) is not int or line < 1):
                raise _RowError(f"line: expected a line number, got {line!r}")
        except _RowError as exc:
            self.add_problem(where or "findings row", str(exc))
            return
        self.count_findings(
            row["severity"],
            (row["payer"], row["overlay"]),
            _month(row["date_of_service"]),
            row["rule_id"],
            1,
            lambda: row,
        )
        self.keep_finding(row)

    # The counting both feeds share: rows one by one (above) and Parquet record batches, which
    # count each group of equal keys at once (report.arrow), in the order each group first
    # appears, so that the caps pick the same keys either way.

    def count_claims(
        self,
        status: str,
        payer_key: tuple[str | None, str | None],
        month: str | None,
        rulesets: str | None,
        n: int,
        *,
        lines: int,
        ignored: int,
        findings: int,
    ) -> None:
        """``n`` claims rows alike in these keys (already checked), with their column sums."""
        self.claims += n
        self.by_status[status] += n
        self.lines += lines
        self.ignored += ignored
        self.claim_findings += findings
        payer = self._payer(payer_key, n)
        payer["claims"] += n
        payer["by_status"][status] += n
        self._month_of(month, n)["claims"] += n
        if rulesets:
            self._ruleset(rulesets, n)

    def count_findings(
        self,
        severity: str,
        payer_key: tuple[str | None, str | None],
        month: str | None,
        rule_id: str,
        n: int,
        first: Any,
    ) -> None:
        """``n`` findings rows alike in these keys; ``first()`` returns the first of them (the
        rule's example, if the rule is new)."""
        self.findings += n
        self.by_severity[severity] += n
        self._payer(payer_key, n)["findings"] += n
        self._month_of(month, n)["by_severity"][severity] += n
        rule = self._rule(rule_id, first, n)
        rule["findings"] += n
        rule["by_severity"][severity] += n

    def room(self, table: str) -> int:
        """How many more rows of ``table`` ("findings" or "refused") would be listed."""
        kept = self._rows if table == "findings" else self._refused
        cap = self.caps.findings if table == "findings" else self.caps.refused
        return cap - len(kept)

    def keep_refused(self, row: dict[str, Any]) -> None:
        """List a (checked) claims row if it is a refused claim and the list has room."""
        if row["status"] in REFUSED and len(self._refused) < self.caps.refused:
            text = self.caps.text
            self._refused.append(
                {
                    "claim_id": _cut(row["claim_id"], text),
                    "input": _cut(row["input"], text),
                    "status": row["status"],
                    "error": _cut(row["error"], text),
                }
            )

    def keep_finding(self, row: dict[str, Any]) -> None:
        """List a (checked) findings row if the table has room."""
        if len(self._rows) < self.caps.findings:
            text = self.caps.text
            day = row["date_of_service"]
            self._rows.append(
                {
                    "claim_id": _cut(row["claim_id"], text),
                    "input": _cut(row["input"], text),
                    "line": row["line"],
                    "hcpcs": _cut(row["hcpcs"], text),
                    "date_of_service": None if day is None else day.isoformat(),
                    "rule_id": _cut(row["rule_id"], text),
                    "severity": row["severity"],
                    "message": _cut(row["message"], text),
                    "payer": _cut(row["payer"], text),
                    "overlay": _cut(row["overlay"], text),
                    "location": _cut(row["location"], text),
                }
            )

    def add_problem(self, location: str, message: str) -> None:
        """An input record that could not be read: counted, and listed among the first few."""
        self._open()
        self.problems += 1
        if len(self._problems) < self.caps.problems:
            text = self.caps.text
            self._problems.append(
                {"location": _cut(location, text) or "", "message": _cut(message, text) or ""}
            )

    def close(self) -> dict[str, Any]:
        """The report's data; the aggregator takes no more rows."""
        data = self.data()
        self._closed = True
        return data

    def _open(self) -> None:
        if self._closed:
            raise RuntimeError("this report aggregator is closed")

    # ------------------------------------------------------------------------- buckets

    @staticmethod
    def _payer_bucket() -> dict[str, Any]:
        return {"claims": 0, "findings": 0, "by_status": dict.fromkeys(STATUSES, 0)}

    @staticmethod
    def _rule_bucket() -> dict[str, Any]:
        return {"findings": 0, "by_severity": dict.fromkeys(SEVERITIES, 0)}

    @staticmethod
    def _month_bucket() -> dict[str, Any]:
        return {"claims": 0, "by_severity": dict.fromkeys(SEVERITIES, 0)}

    def _payer(self, key: tuple[str | None, str | None], n: int) -> dict[str, Any]:
        bucket = self._payers.get(key)
        if bucket is None:
            if len(self._payers) >= self.caps.payers:
                self._payers_overflow += n
                return self._payers_other
            bucket = self._payers[key] = self._payer_bucket()
            bucket["payer"] = _cut(key[0], self.caps.text)
            bucket["overlay"] = _cut(key[1], self.caps.text)
        return bucket

    def _rule(self, rule_id: str, first: Any, n: int) -> dict[str, Any]:
        bucket = self._rules.get(rule_id)
        if bucket is None:
            if len(self._rules) >= self.caps.rules:
                self._rules_overflow += n
                return self._rules_other
            text = self.caps.text
            row = first()
            bucket = self._rules[rule_id] = self._rule_bucket()
            bucket["rule_id"] = _cut(rule_id, text)
            # The first finding of a rule is its example: which claim, where, and what it said.
            bucket["example"] = {
                "claim_id": _cut(row["claim_id"], text),
                "line": row["line"],
                "payer": _cut(row["payer"], text),
                "message": _cut(row["message"], text),
            }
        return bucket

    def _month_of(self, key: str | None, n: int) -> dict[str, Any]:
        bucket = self._months.get(key)
        if bucket is None:
            if len(self._months) >= self.caps.months:
                self._months_overflow += n
                return self._months_other
            bucket = self._months[key] = self._month_bucket()
        return bucket

    def _ruleset(self, text: str, n: int) -> None:
        key = _cut(text, self.caps.text) or ""
        if key in self._rulesets:
            self._rulesets[key] += n
        elif len(self._rulesets) < self.caps.rulesets:
            self._rulesets[key] = n
        else:
            self._rulesets_other += n

    def held(self) -> int:
        """How many entries the aggregator holds (buckets, kept rows): bounded by the caps,
        whatever the number of rows fed. For tests and memory checks."""
        return (
            len(self._payers)
            + len(self._rules)
            + len(self._months)
            + len(self._rulesets)
            + len(self._rows)
            + len(self._refused)
            + len(self._problems)
        )

    # ---------------------------------------------------------------------------- data

    def data(self) -> dict[str, Any]:
        """The report's data so far: plain JSON-ready values (see docs/reports.md)."""
        caps = self.caps
        payers = sorted(
            self._payers.values(),
            key=lambda b: (-b["claims"], -b["findings"], b["payer"] or "", b["overlay"] or ""),
        )
        shown_payers, rest_payers = payers[: caps.shown_payers], payers[caps.shown_payers :]
        other_payers = _sum_payers([*rest_payers, self._payers_other])
        rules = sorted(self._rules.values(), key=lambda b: (-b["findings"], b["rule_id"]))
        shown_rules, rest_rules = rules[: caps.shown_rules], rules[caps.shown_rules :]
        other_rules = _sum_rules([*rest_rules, self._rules_other])
        # The chart is a time axis: the last `shown_months` calendar months up to the latest
        # one seen, months without claims drawn as zero; everything before is one "earlier" bar.
        dated = sorted(k for k in self._months if k is not None)
        window = _calendar(dated[-1], caps.shown_months) if dated else []
        earlier_keys = [k for k in dated if k < window[0]] if window else []
        months = [
            {"month": k, **_copy_month(self._months.get(k) or self._month_bucket())} for k in window
        ]
        earlier = _sum_months([self._months[k] for k in earlier_keys])
        undated = self._months.get(None)
        return {
            "version": DATA_VERSION,
            "totals": {
                "claims": self.claims,
                "checked": self.claims - sum(self.by_status[s] for s in REFUSED),
                "refused": sum(self.by_status[s] for s in REFUSED),
                "lines": self.lines,
                "findings": self.findings,
                "claim_findings": self.claim_findings,
                "ignored": self.ignored,
                "by_status": dict(self.by_status),
                "by_severity": dict(self.by_severity),
            },
            "payers": [_copy_payer(b) for b in shown_payers],
            "payers_other": {
                **other_payers,
                "payers": len(rest_payers),
                "overflow_rows": self._payers_overflow,
            },
            "rules": [_copy_rule(b) for b in shown_rules],
            "rules_other": {
                **other_rules,
                "rules": len(rest_rules),
                "overflow_rows": self._rules_overflow,
            },
            "months": months,
            "months_earlier": {**earlier, "months": len(earlier_keys)},
            "months_undated": _copy_month(undated or self._month_bucket()),
            "months_other": {
                **_copy_month(self._months_other),
                "overflow_rows": self._months_overflow,
            },
            "findings_table": {
                "rows": [dict(r) for r in self._rows],
                "total": self.findings,
                "not_shown": self.findings - len(self._rows),
            },
            "refused": {
                "rows": [dict(r) for r in self._refused],
                "total": sum(self.by_status[s] for s in REFUSED),
                "not_shown": sum(self.by_status[s] for s in REFUSED) - len(self._refused),
            },
            "problems": {
                "rows": [dict(p) for p in self._problems],
                "total": self.problems,
                "not_shown": self.problems - len(self._problems),
            },
            "rulesets": [{"rulesets": k, "claims": v} for k, v in self._rulesets.items()],
            "rulesets_other_claims": self._rulesets_other,
            "caps": attrs.asdict(caps),
        }


def _calendar(last: str, count: int) -> list[str]:
    """The ``count`` calendar months ending with ``last`` ("YYYY-MM"), oldest first (not before
    year 1)."""
    year, month = int(last[:4]), int(last[5:7])
    index = year * 12 + month - 1
    first = max(12, index - count + 1)  # month index 12 is January of year 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(first, index + 1)]


def _copy_payer(b: dict[str, Any]) -> dict[str, Any]:
    return {
        "payer": b["payer"],
        "overlay": b["overlay"],
        "claims": b["claims"],
        "findings": b["findings"],
        "by_status": dict(b["by_status"]),
    }


def _copy_rule(b: dict[str, Any]) -> dict[str, Any]:
    return {
        "rule_id": b["rule_id"],
        "findings": b["findings"],
        "by_severity": dict(b["by_severity"]),
        "example": dict(b["example"]),
    }


def _copy_month(b: dict[str, Any]) -> dict[str, Any]:
    return {"claims": b["claims"], "by_severity": dict(b["by_severity"])}


def _sum_payers(buckets: list[dict[str, Any]]) -> dict[str, Any]:
    total = Aggregator._payer_bucket()
    for b in buckets:
        total["claims"] += b["claims"]
        total["findings"] += b["findings"]
        for s in STATUSES:
            total["by_status"][s] += b["by_status"][s]
    return total


def _sum_rules(buckets: list[dict[str, Any]]) -> dict[str, Any]:
    total = Aggregator._rule_bucket()
    for b in buckets:
        total["findings"] += b["findings"]
        for s in SEVERITIES:
            total["by_severity"][s] += b["by_severity"][s]
    return total


def _sum_months(buckets: list[dict[str, Any]]) -> dict[str, Any]:
    total = Aggregator._month_bucket()
    for b in buckets:
        total["claims"] += b["claims"]
        for s in SEVERITIES:
            total["by_severity"][s] += b["by_severity"][s]
    return total
