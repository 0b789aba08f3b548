"""hcpcs_rules.spark in local mode (``local[2]``): the same tables as evaluate(), whatever the
partitioning; refused claims as rows; X12 files through Spark's binaryFile source.

Needs the ``spark`` extra (pyspark, pyarrow) and Java 17+; skipped, saying which is missing,
otherwise. One SparkSession serves the whole test session; the DataFrames are small, so the
cost is mostly the JVM's start.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import SHIPPED

pytest.importorskip(
    "pyspark", reason="pyspark is not installed (the spark extra: pip install '.[spark]')"
)
pytest.importorskip("pyarrow", reason="pyarrow is not installed (the spark extra)")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip(
        "Spark needs Java 17 or newer: no `java` on PATH and no JAVA_HOME", allow_module_level=True
    )

from pyspark.sql import SparkSession

from hcpcs_rules import Engine
from hcpcs_rules.rows import CLAIM_COLUMNS, FINDING_COLUMNS
from hcpcs_rules.spark import check_837, check_claims, spark_schema
from hcpcs_rules.testing.claimgen import claims as generated
from hcpcs_rules.x12 import Directory, load_directory, load_sidecar
from test_partition import expected_json_rows, x12_outcome_rows

# pyspark 4.3 warns on every Arrow call that it has not caught up with pandas 3 (which it does
# not use here: mapInArrow hands over Arrow batches).
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)

X12 = Path(__file__).resolve().parents[1] / "examples" / "x12"


@pytest.fixture(scope="session")
def spark():
    saved = {name: os.environ.get(name) for name in ("PYSPARK_PYTHON", "PYTHONPATH")}
    # Spark's Python workers must run this interpreter (its packages), not whatever `python3`
    # is on PATH, and see the modules this process sees: other test modules register condition
    # functions process-wide (tests/hostile_plugin.py), which workers import before building
    # the engine, as evaluate_many's spawned workers do from the same sys.path. The JVM takes
    # its environment at start; the tests' own is restored at once.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    try:
        session = (
            SparkSession.builder.master("local[2]")
            .appName("hcpcs_rules tests")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", "512m")
            # A JVM for a minute of small jobs: the client compiler and serial GC start it in
            # half the time (measured: session + first job 19 s instead of 42 s, busy 2 cores).
            .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", "16")  # several per task
            .getOrCreate()
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def engine():
    return Engine(list(SHIPPED))


def _key(row: dict) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def _collect(df) -> list[dict]:
    return sorted((row.asDict() for row in df.collect()), key=_key)


CLAIMS = [json.dumps(c) for c in generated(40, seed=21)]
BAD = [
    (None, "null cell"),
    ("{not json", "bad json"),
    ('{"id": "D-1", "id": "D-2"}', "duplicate key"),
    ('{"id": "P-1", "payer": "medicare"}', "not a claim"),
]


@pytest.fixture(scope="module")
def claims_df(spark):
    rows = [(cell, f"row-{i}") for i, cell in enumerate(CLAIMS)] + BAD
    return spark.createDataFrame(rows, "claim string, src string")


@pytest.mark.parametrize("partitions", [1, 4])
def test_tables_equal_evaluate_whatever_the_partitioning(spark, engine, claims_df, partitions):
    df = claims_df.repartition(partitions)
    assert df.rdd.getNumPartitions() == partitions
    tables = check_claims(df, input_column="src", engine=engine)
    findings, claims = tables
    try:
        assert findings.schema == spark_schema(FINDING_COLUMNS)
        assert claims.schema == spark_schema(CLAIM_COLUMNS)
        want_claims, want_findings = expected_json_rows(
            engine, CLAIMS, [f"row-{i}" for i in range(len(CLAIMS))]
        )
        got_claims = _collect(claims)
        good = [r for r in got_claims if r["input"].startswith("row-")]
        assert good == sorted(want_claims, key=_key)
        assert _collect(findings) == sorted(want_findings, key=_key)
        # Refused claims are rows with their error: the job did not fail.
        refused = {r["input"]: r for r in got_claims if not r["input"].startswith("row-")}
        assert {k: (r["status"], r["claim_id"]) for k, r in refused.items()} == {
            "null cell": ("unreadable", None),
            "bad json": ("unreadable", None),
            "duplicate key": ("invalid", None),
            "not a claim": ("invalid", "P-1"),
        }
        assert refused["bad json"]["error"].startswith("bad json: not JSON")
        assert refused["duplicate key"]["error"] == "$.id: duplicate key"
        assert "$.lines: required key is missing" in refused["not a claim"]["error"]
        assert tables.combined.is_cached
    finally:
        tables.unpersist()
    assert not tables.combined.is_cached


def test_a_policy_reaches_the_executors(spark, claims_df):
    policy = {"ignore": ["J7632-SUP-*"], "severity": {"CLAIM-DX-POINTER-INVALID": "warn"}}
    engine = Engine(list(SHIPPED), policy=policy)
    findings, claims = check_claims(
        claims_df.where("src like 'row-%'"),
        input_column="src",
        rulesets=SHIPPED,
        policy=policy,
        persist=None,
    )
    want_claims, want_findings = expected_json_rows(
        engine, CLAIMS, [f"row-{i}" for i in range(len(CLAIMS))]
    )
    assert _collect(findings) == sorted(want_findings, key=_key)
    assert _collect(claims) == sorted(want_claims, key=_key)
    got = _collect(findings)
    assert all(r["policy_sha256"] for r in got)
    assert not any(r["rule_id"].startswith("J7632-SUP-") for r in got)
    assert any(r["rule_severity"] == "reject" for r in got)  # overridden to warn


def test_837_files_through_binary_file(spark, engine, tmp_path):
    data = (X12 / "claims.837").read_bytes()
    (tmp_path / "a.837").write_bytes(data)
    (tmp_path / "b.837").write_bytes(b"this is not an 837")
    tables = check_837(
        spark,
        tmp_path,
        directory=X12 / "directory.json",
        sidecar=X12 / "sidecar.json",
        engine=engine,
    )
    try:
        claims = _collect(tables.claims)
        findings = _collect(tables.findings)
    finally:
        tables.unpersist()
    path_a = next(r["input"] for r in claims if r["input"].endswith("a.837"))
    want_claims, want_findings = x12_outcome_rows(engine, path_a, data)
    assert [r for r in claims if r["input"] == path_a] == sorted(want_claims, key=_key)
    assert findings == sorted(want_findings, key=_key)
    [other] = [r for r in claims if r["input"] != path_a]
    assert other["input"].endswith("b.837") and other["status"] == "unreadable"
    assert "not an X12 file" in other["error"]


def test_mistakes_are_refused_on_the_driver(spark, claims_df, engine):
    with pytest.raises(ValueError, match="'claims' is not in the DataFrame"):
        check_claims(claims_df, "claims", engine=engine)
    numbers = spark.createDataFrame([(1,)], "claim int")
    with pytest.raises(TypeError, match="'claim' is int, not string"):
        check_claims(numbers, engine=engine)
    with pytest.raises(TypeError, match="input column 'other' is int"):
        check_claims(claims_df.selectExpr("claim", "1 as other"), input_column="other")
    with pytest.raises(TypeError, match="not both"):
        check_claims(claims_df, engine=engine, rulesets=SHIPPED)
    with pytest.raises(ValueError, match="needs a supplier directory"):
        check_837(spark, X12 / "claims.837", directory=None)
    with pytest.raises(TypeError, match="path \\(string\\) and content \\(binary\\)"):
        check_837(spark, claims_df, directory=Directory(), engine=engine)
    assert load_directory(X12 / "directory.json")  # the fixtures exist
    assert load_sidecar(X12 / "sidecar.json")
