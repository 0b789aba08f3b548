"""Checking tables of claims with Apache Spark: :func:`check_claims` and :func:`check_837`.

Needs the ``spark`` extra (``pip install 'hcpcs-rules[spark]'``: pyspark 4, pyarrow). Each
function returns :class:`Tables`, the two tables of :mod:`hcpcs_rules.rows` as DataFrames
(``findings, claims = check_claims(df)``), with exactly those columns and types.

How it runs: one ``mapInArrow`` over the input (:mod:`hcpcs_rules.partition`), whose output holds
both tables' rows; ``findings`` and ``claims`` are two filters of it. The engine is built once on
the driver (a broken ruleset or policy fails here, before any job) and once per executor Python
process from its picklable recipe; nothing is pickled per batch but the data. By default the
combined output is persisted (``MEMORY_AND_DISK``) so that using both tables evaluates each claim
once; ``Tables.unpersist()`` frees it. See docs/scale.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

try:
    from pyspark import StorageLevel
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
except ImportError as exc:  # an optional extra: say which
    raise ImportError("hcpcs_rules.spark needs pyspark: pip install 'hcpcs-rules[spark]'") from exc

from .engine import Engine
from .partition import (
    CLAIM_NAMES,
    FINDING_NAMES,
    OUTPUT_COLUMNS,
    EngineRecipe,
    JsonClaims,
    X12Files,
    engine_for,
)
from .policy import Policy
from .reader import DEFAULT_MAX_RECORD_BYTES
from .x12.reference import Directory, Sidecar, load_directory, load_sidecar

__all__ = ["DEFAULT_STORAGE", "Tables", "check_837", "check_claims", "spark_schema"]

#: How the combined output is kept by default: both tables come from it without re-evaluating.
DEFAULT_STORAGE = StorageLevel.MEMORY_AND_DISK

_TYPES = {"string": T.StringType(), "int32": T.IntegerType(), "date": T.DateType()}


def spark_schema(columns: Iterable[tuple[str, str]]) -> T.StructType:
    """A column list of :mod:`hcpcs_rules.rows` as a Spark schema (every field nullable)."""
    return T.StructType([T.StructField(name, _TYPES[kind], True) for name, kind in columns])


class Tables(tuple):
    """``(findings, claims)``: the two DataFrames, also as attributes, plus ``combined`` (the
    one output both are filtered from) and :meth:`unpersist`."""

    combined: DataFrame

    def __new__(cls, findings: DataFrame, claims: DataFrame, combined: DataFrame) -> Tables:
        tables = super().__new__(cls, (findings, claims))
        tables.combined = combined
        return tables

    @property
    def findings(self) -> DataFrame:
        return self[0]

    @property
    def claims(self) -> DataFrame:
        return self[1]

    def unpersist(self, blocking: bool = False) -> None:
        """Free the persisted output (a no-op when it was not persisted)."""
        self.combined.unpersist(blocking)


def _split(output: DataFrame, persist: StorageLevel | None) -> Tables:
    if persist is not None:
        output = output.persist(persist)
    kind: Column = F.col("kind")
    findings = output.where(kind == "finding").select(*FINDING_NAMES)
    claims = output.where(kind == "claim").select(*CLAIM_NAMES)
    return Tables(findings, claims, output)


def _string_column(df: DataFrame, name: str, what: str) -> None:
    fields = {f.name: f for f in df.schema.fields}
    if name not in fields:
        raise ValueError(f"{what} column {name!r} is not in the DataFrame: {sorted(fields)}")
    if not isinstance(fields[name].dataType, T.StringType):
        raise TypeError(
            f"{what} column {name!r} is {fields[name].dataType.simpleString()}, not string: "
            "cast it explicitly (claims are JSON text)"
        )


def check_claims(
    df: DataFrame,
    column: str = "claim",
    *,
    input_column: str | None = None,
    engine: Engine | None = None,
    rulesets: Iterable[str | os.PathLike[str]] | None = None,
    policy: Policy | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    backend: str | None = None,
    persist: StorageLevel | None = DEFAULT_STORAGE,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Tables:
    """Check every claim of ``df[column]`` (a string column of claims as JSON text).

    Returns ``(findings, claims)`` DataFrames (:class:`Tables`). Every input row gives exactly one
    claims row: a checked claim's status and counts, or a refused one's ``invalid`` /
    ``unreadable`` / ``failed`` status and error (a null cell, text that is not JSON, a claim the
    contract refuses); a refused claim never fails the job.

    ``input_column``: a string column copied into both tables' ``input`` (a file name, a row key:
    how to find a refused claim that has no readable id). ``engine``: the Engine to run (its
    configuration is rebuilt on each executor); else one is built on the driver from
    ``rulesets``, ``policy`` and ``backend``, or the default engine. ``persist``: the storage
    level of the combined output, so both tables come from one evaluation; None to recompute
    per action. ``max_record_bytes``: the largest cell read, as for JSON Lines files.
    """
    built = engine_for(engine, rulesets, policy, backend)
    _string_column(df, column, "claims")
    if input_column is not None:
        _string_column(df, input_column, "input")
    # Only what the partition function reads travels to Python.
    wanted = [column] if input_column is None or input_column == column else [column, input_column]
    function = JsonClaims(EngineRecipe.of(built), column, input_column, max_record_bytes)
    output = df.select(*wanted).mapInArrow(function, spark_schema(OUTPUT_COLUMNS))
    return _split(output, persist)


def check_837(
    spark: SparkSession,
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | DataFrame,
    *,
    directory: Directory | str | os.PathLike[str] | None,
    sidecar: Sidecar | str | os.PathLike[str] | None = None,
    payers: Mapping[str, str] | None = None,
    engine: Engine | None = None,
    rulesets: Iterable[str | os.PathLike[str]] | None = None,
    policy: Policy | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    backend: str | None = None,
    persist: StorageLevel | None = DEFAULT_STORAGE,
) -> Tables:
    """Check X12 837P files: paths (files, folders or globs Spark's ``binaryFile`` source
    reads) or a DataFrame of that source's shape (``path`` string, ``content`` binary).

    Returns ``(findings, claims)`` as :func:`check_claims` does; ``input`` is the file's path
    and ``location`` where in the file each claim, finding and problem sits. A refused claim is
    an ``invalid`` claims row, a problem outside any claim (an envelope, a file that is not X12)
    an ``unreadable`` one. ``directory`` (required, a :class:`~hcpcs_rules.x12.Directory` or
    its file, read here on the driver), ``sidecar`` and ``payers``: as for
    :func:`hcpcs_rules.x12.check_837p` (docs/x12.md).
    """
    if directory is None:
        raise ValueError(
            "check_837 needs a supplier directory: an 837P carries no enrollment, "
            "accreditation, bond or licence (pass Directory() to check with them all unknown)"
        )
    if not isinstance(directory, Directory):
        directory = load_directory(directory)
    if sidecar is not None and not isinstance(sidecar, Sidecar):
        sidecar = load_sidecar(sidecar)
    built = engine_for(engine, rulesets, policy, backend)
    if isinstance(source, DataFrame):
        files = source
    else:
        paths = (
            [os.fspath(source)]
            if isinstance(source, str | os.PathLike)
            else [os.fspath(p) for p in source]
        )
        files = spark.read.format("binaryFile").load(paths)
    fields = {f.name: f.dataType for f in files.schema.fields}
    if not isinstance(fields.get("path"), T.StringType) or not isinstance(
        fields.get("content"), T.BinaryType
    ):
        raise TypeError(
            "check_837 reads a DataFrame with columns path (string) and content (binary), as "
            f"spark.read.format('binaryFile') gives; this one has {sorted(fields)}"
        )
    function = X12Files(
        EngineRecipe.of(built), directory, sidecar, None if payers is None else dict(payers)
    )
    output = files.select("path", "content").mapInArrow(function, spark_schema(OUTPUT_COLUMNS))
    return _split(output, persist)
