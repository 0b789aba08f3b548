"""hcpcs_rules.dask: the same tables as evaluate() and as the partition function Spark runs,
whatever the partitioning; refused and odd cells as rows. Skipped without the dask extra."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import SHIPPED

dask = pytest.importorskip("dask", reason="dask is not installed (the dask extra)")
dd = pytest.importorskip("dask.dataframe", reason="dask[dataframe] is not installed")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

from hcpcs_rules import Engine  # noqa: E402
from hcpcs_rules.dask import check_claims  # noqa: E402
from hcpcs_rules.rows import CLAIM_COLUMNS, FINDING_COLUMNS  # noqa: E402
from hcpcs_rules.testing.claimgen import claims as generated  # noqa: E402
from test_partition import expected_json_rows  # noqa: E402

CLAIMS = [json.dumps(c) for c in generated(30, seed=5)]


def _plain(value):
    # ArrowDtype cells come back as Python values; pandas' own missing marker becomes None.
    return None if value is pd.NA or value is None else value


def _rows(frame) -> list[dict]:
    records = [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True, default=str))


@pytest.fixture(scope="module")
def engine():
    return Engine(list(SHIPPED))


@pytest.mark.parametrize(("partitions", "convert"), [(1, False), (3, False), (3, True)])
def test_tables_equal_evaluate(engine, partitions, convert):
    cells = [*CLAIMS, None, float("nan"), 42, {"id": "X"}, "{oops"]
    inputs = [f"row-{i}" for i in range(len(cells))]
    frame = pd.DataFrame({"claim": pd.Series(cells, dtype=object), "src": inputs})
    # Dask turns object columns into strings by default (dataframe.convert-string), 42 into
    # "42", before any code of ours sees them; without it, each cell arrives as it is.
    with dask.config.set({"dataframe.convert-string": convert}):
        findings, claims = check_claims(
            dd.from_pandas(frame, npartitions=partitions), input_column="src", engine=engine
        )
        got_findings, got_claims = dask.compute(findings, claims)  # one evaluation for both
    assert list(findings.columns) == [name for name, _ in FINDING_COLUMNS]
    assert list(claims.columns) == [name for name, _ in CLAIM_COLUMNS]
    assert str(got_claims["lines"].dtype) == "int32[pyarrow]"
    assert str(got_findings["date_of_service"].dtype) == "date32[day][pyarrow]"
    want_claims, want_findings = expected_json_rows(engine, CLAIMS, inputs[: len(CLAIMS)])
    key = lambda r: json.dumps(r, sort_keys=True, default=str)  # noqa: E731
    got = _rows(got_claims)
    assert [r for r in got if int(r["input"][4:]) < len(CLAIMS)] == sorted(want_claims, key=key)
    assert _rows(got_findings) == sorted(want_findings, key=key)
    assert all(isinstance(r["date_of_service"], dt.date) for r in _rows(got_findings))
    odd = {r["input"]: r for r in got if int(r["input"][4:]) >= len(CLAIMS)}
    n = len(CLAIMS)
    assert len(odd) == 5 and all(r["error"] for r in odd.values())
    if convert:  # still refused, as the text dask made of them
        assert {r["status"] for r in odd.values()} <= {"unreadable", "invalid"}
        return
    assert {k: r["status"] for k, r in odd.items()} == {
        f"row-{i}": "unreadable" for i in range(n, n + 5)
    }
    assert odd[f"row-{n}"]["error"] == f"row-{n}: null, not a claim"
    assert odd[f"row-{n + 1}"]["error"] == f"row-{n + 1}: null, not a claim"  # NaN: missing
    assert odd[f"row-{n + 2}"]["error"] == f"row-{n + 2}: not JSON text but a int"
    assert odd[f"row-{n + 3}"]["error"] == f"row-{n + 3}: not JSON text but a dict"


def test_a_missing_column_is_refused_at_once(engine):
    frame = dd.from_pandas(pd.DataFrame({"text": CLAIMS[:2]}), npartitions=1)
    with pytest.raises(ValueError, match="claims column 'claim' is not in the DataFrame"):
        check_claims(frame, engine=engine)
