"""Counting a Parquet record batch at once: :func:`feed_batch`.

Row by row, Python costs some 30 µs a finding; a hundred million claims have several hundred
million findings. So a record batch is counted with pyarrow's group-by instead: one group per
combination of the keys the report counts by (status or severity, payer, overlay, month, rule or
ruleset selection), each group's size and sums handed to the aggregator at once, groups in the
order their first row appears. Only the rows the report lists (the first findings, the first
refused claims, each new rule's first finding) become Python rows.

The result is the row-by-row result exactly (the tests compare them, caps included): the caps
admit keys in order of first appearance, and a group carries the position of its first row. A
batch with a row the report cannot take (an unknown status, a negative count...) is counted row
by row instead, so that each bad row is reported where it is.
"""

from __future__ import annotations

from typing import Any

from ..rows import STATUSES
from .aggregate import REFUSED, SEVERITIES, Aggregator
from .inputs import TableRows

__all__ = ["feed_batch"]

_CLAIM_COUNTS = ("lines", "findings", "reject", "deny", "warn", "info", "ignored")


def feed_batch(aggregator: Aggregator, rows: TableRows) -> None:
    """Count one record batch of the claims or findings table."""
    import pyarrow as pa

    batch = rows.batch
    if batch.num_rows == 0:
        return
    table = pa.Table.from_batches([batch])
    fits = _claims_fit(table) if rows.table == "claims" else _findings_fit(table)
    if not fits:
        _row_by_row(aggregator, rows)
        return
    if rows.table == "claims":
        _count_claims(aggregator, table)
    else:
        _count_findings(aggregator, table)


def _row_by_row(aggregator: Aggregator, rows: TableRows) -> None:
    add = aggregator.add_claim_row if rows.table == "claims" else aggregator.add_finding_row
    for offset, row in enumerate(rows.batch.to_pylist()):
        add(row, f"{rows.source}: row {rows.start + offset + 1}")


def _in(table: Any, column: str, allowed: tuple[str, ...]) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    # is_in is false for a null (the value set holds none): a missing status is a bad row too.
    return bool(pc.all(pc.is_in(table[column], value_set=pa.array(allowed))).as_py())


def _at_least(table: Any, column: str, floor: int) -> bool:
    import pyarrow.compute as pc

    smallest = pc.min(table[column]).as_py()
    return smallest is None or smallest >= floor


def _claims_fit(table: Any) -> bool:
    return _in(table, "status", STATUSES) and all(_at_least(table, c, 0) for c in _CLAIM_COUNTS)


def _findings_fit(table: Any) -> bool:
    return (
        _in(table, "severity", SEVERITIES)
        and table["rule_id"].null_count == 0
        and _at_least(table, "line", 1)
    )


def _with_keys(table: Any) -> Any:
    """The table with each row's position and its date's year and month as columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dates = table["date_of_service"]
    if dates.type != pa.date32():
        dates = dates.cast(pa.date32())
    return (
        table.append_column("_at", pa.array(range(table.num_rows), pa.int64()))
        .append_column("_year", pc.year(dates))
        .append_column("_month", pc.month(dates))
    )


def _month(year: int | None, month: int | None) -> str | None:
    return None if year is None else f"{year:04d}-{month:02d}"


def _groups(table: Any, keys: list[str], sums: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    aggregations = [("_at", "min"), ("_at", "count"), *((c, "sum") for c in sums)]
    grouped = table.group_by(keys, use_threads=False).aggregate(aggregations)
    return sorted(grouped.to_pylist(), key=lambda g: g["_at_min"])


def _count_claims(aggregator: Aggregator, table: Any) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    keyed = _with_keys(table)
    keys = ["status", "payer", "overlay", "_year", "_month", "rulesets"]
    for g in _groups(keyed, keys, ("lines", "ignored", "findings")):
        aggregator.count_claims(
            g["status"],
            (g["payer"], g["overlay"]),
            _month(g["_year"], g["_month"]),
            g["rulesets"],
            g["_at_count"],
            lines=g["lines_sum"] or 0,
            ignored=g["ignored_sum"] or 0,
            findings=g["findings_sum"] or 0,
        )
    room = aggregator.room("refused")
    if room > 0:
        refused = table.filter(pc.is_in(table["status"], value_set=pa.array(REFUSED)))
        for row in refused.slice(0, room).to_pylist():
            aggregator.keep_refused(row)


def _count_findings(aggregator: Aggregator, table: Any) -> None:
    keyed = _with_keys(table)
    keys = ["severity", "payer", "overlay", "_year", "_month", "rule_id"]
    for g in _groups(keyed, keys):
        at = g["_at_min"]
        aggregator.count_findings(
            g["severity"],
            (g["payer"], g["overlay"]),
            _month(g["_year"], g["_month"]),
            g["rule_id"],
            g["_at_count"],
            lambda at=at: table.slice(at, 1).to_pylist()[0],
        )
    room = aggregator.room("findings")
    if room > 0:
        for row in table.slice(0, room).to_pylist():
            aggregator.keep_finding(row)
