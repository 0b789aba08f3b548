"""Checking a Dask DataFrame of claims: :func:`check_claims`, a thin adapter over the partition
function :mod:`hcpcs_rules.spark` runs (:mod:`hcpcs_rules.partition`).

Needs the ``dask`` extra (``pip install 'hcpcs-rules[dask]'``: dask[dataframe], pyarrow).
Returns ``(findings, claims)`` Dask DataFrames with the columns of :mod:`hcpcs_rules.rows`, as
pandas ``ArrowDtype`` columns (``string``, ``int32``, ``date32``: nulls stay nulls, dates stay
dates). Both are filters of one ``map_partitions``: compute them together
(``dask.compute(findings, claims)``) and each claim is evaluated once; computing them one after
the other evaluates every claim twice. Each worker process builds the engine once from its recipe.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

try:
    import dask.dataframe as dd
    import pandas as pd
    import pyarrow as pa
except ImportError as exc:  # an optional extra: say which
    raise ImportError("hcpcs_rules.dask needs dask: pip install 'hcpcs-rules[dask]'") from exc

from .engine import Engine
from .partition import (
    CLAIM_NAMES,
    FINDING_NAMES,
    EngineRecipe,
    JsonClaims,
    engine_for,
    output_schema,
)
from .policy import Policy
from .reader import DEFAULT_MAX_RECORD_BYTES

__all__ = ["check_claims"]


def _missing(value: Any) -> bool:
    # pandas marks a missing cell None, NaN or pd.NA depending on the column's dtype: each is a
    # null cell, not a float or an object to report as such.
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _frame(table: Any) -> pd.DataFrame:
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _check_partition(frame: pd.DataFrame, function: JsonClaims) -> pd.DataFrame:
    engine = function.recipe.engine()
    cells = [None if _missing(c) else c for c in frame[function.column].tolist()]
    inputs = (
        [None if _missing(v) else v for v in frame[function.input_column].tolist()]
        if function.input_column is not None
        else None
    )
    batches = list(function.batches(engine, cells, inputs))
    return _frame(pa.Table.from_batches(batches, schema=output_schema()))


def check_claims(
    ddf: dd.DataFrame,
    column: str = "claim",
    *,
    input_column: str | None = None,
    engine: Engine | None = None,
    rulesets: Iterable[str | os.PathLike[str]] | None = None,
    policy: Policy | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    backend: str | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> tuple[dd.DataFrame, dd.DataFrame]:
    """Check every claim of ``ddf[column]`` (claims as JSON text). The arguments and the rows
    are those of :func:`hcpcs_rules.spark.check_claims`; a cell that is not text (a number, a
    dict) is an ``unreadable`` claims row, as is a missing one."""
    built = engine_for(engine, rulesets, policy, backend)
    for name, what in ((column, "claims"), (input_column, "input")):
        if name is not None and name not in ddf.columns:
            raise ValueError(f"{what} column {name!r} is not in the DataFrame: {list(ddf.columns)}")
    function = JsonClaims(EngineRecipe.of(built), column, input_column, max_record_bytes)
    meta = _frame(output_schema().empty_table())
    combined = ddf.map_partitions(_check_partition, function, meta=meta)
    kind = combined["kind"]
    findings = combined[kind == "finding"][list(FINDING_NAMES)]
    claims = combined[kind == "claim"][list(CLAIM_NAMES)]
    return findings, claims
