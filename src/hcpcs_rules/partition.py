"""Checking a partition of a table of claims: Arrow record batches in, table rows out.

:mod:`hcpcs_rules.spark` runs these functions inside ``mapInArrow`` and :mod:`hcpcs_rules.dask`
inside ``map_partitions``; they are plain Python and pyarrow, so they are tested without either.

Each input batch gives one output batch holding **both** tables of :mod:`hcpcs_rules.rows`: a
``kind`` column says whether a row is a ``"claim"`` row (``CLAIM_COLUMNS``) or a ``"finding"``
row (``FINDING_COLUMNS``); the other table's columns are null on it. Every claim is therefore
evaluated once, and the two tables are two filters of one output (see docs/scale.md for what that
means for caching). Rows depend only on their input row, never on the partition or batch they
travelled in, so any partitioning gives the same tables.

Nothing in a cell fails the job: a null cell, a cell that is not text, text that is not JSON, a
claim the contract refuses, an 837 that cannot be read, all become claims rows with their error.
What does fail it is an engine that cannot be built in the worker (a ruleset file or plugin module
missing there) or that was built from different ruleset files than the caller's: every row would
be wrong, so the job stops with a :class:`~hcpcs_rules.errors.WorkerError` saying why.

One engine per worker process: the functions carry the engine's picklable recipe
(:class:`EngineRecipe`: its :class:`~hcpcs_rules.engine.EngineConfig`, the plugin modules to
import, the ruleset digests), and each process builds the engine on its first batch and keeps it
(the same bounded per-process cache :func:`~hcpcs_rules.evaluate_many`'s workers use).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from .batch import _BuildFailed, _cannot_build, _plugin_modules, _worker_engine
from .engine import Engine, EngineConfig, default_engine, evaluate_outcome
from .errors import WorkerError
from .failure import EvaluationFailure, claim_id_of
from .model import Result, RulesetDigest
from .policy import Policy
from .reader import DEFAULT_MAX_RECORD_BYTES, Unreadable, read_text
from .rows import (
    CLAIM_COLUMNS,
    FINDING_COLUMNS,
    arrow_schema,
    claim_row,
    describe_location,
    rows_of,
)
from .x12.check import as_outcome, is_x12, locate
from .x12.read import X12Error, read_837p
from .x12.reference import Directory, Sidecar

__all__ = [
    "CLAIMS_PER_BATCH",
    "KINDS",
    "OUTPUT_COLUMNS",
    "EngineRecipe",
    "JsonClaims",
    "X12Files",
    "engine_for",
    "output_schema",
]

#: The values of the output's ``kind`` column.
KINDS = ("claim", "finding")


def _union() -> tuple[tuple[str, str], ...]:
    columns = dict(FINDING_COLUMNS)
    for name, kind in CLAIM_COLUMNS:
        # A name both tables have must mean the same type, or one column could not hold both.
        if columns.setdefault(name, kind) != kind:
            raise AssertionError(f"column {name!r} has two types in rows.py")
    return (("kind", "string"), *columns.items())


#: ``kind``, then every column of FINDING_COLUMNS, then the claims table's other columns.
OUTPUT_COLUMNS: tuple[tuple[str, str], ...] = _union()
FINDING_NAMES = tuple(name for name, _ in FINDING_COLUMNS)
CLAIM_NAMES = tuple(name for name, _ in CLAIM_COLUMNS)


def output_schema() -> Any:
    """The output batches' ``pyarrow.Schema`` (OUTPUT_COLUMNS)."""
    return arrow_schema(OUTPUT_COLUMNS)


@attrs.frozen
class EngineRecipe:
    """What a worker process needs to build the caller's engine, and to prove it did."""

    config: EngineConfig
    #: Modules whose import registers the engine's plugin condition functions.
    imports: tuple[str, ...]
    #: The caller's ruleset files (name, version, sha256): a worker reading other files (a
    #: ruleset path that holds another version on this machine) would check other rules.
    digests: tuple[RulesetDigest, ...]

    @classmethod
    def of(cls, engine: Engine) -> EngineRecipe:
        return cls(engine.config, _plugin_modules(engine.functions), engine.digests)

    def engine(self) -> Engine:
        """This process's engine for the recipe: built on first use, then kept."""
        try:
            engine = _worker_engine(self.config, self.imports)
        except Exception as exc:
            raise _cannot_build(_BuildFailed(f"{type(exc).__name__}: {exc}")) from exc
        if engine.digests != self.digests:
            mine = " ".join(f"{d.name}@{d.version}={d.sha256}" for d in engine.digests)
            theirs = " ".join(f"{d.name}@{d.version}={d.sha256}" for d in self.digests)
            raise WorkerError(
                "a worker process read other ruleset files than the caller: "
                f"worker {mine}; caller {theirs}. Install the same rulesets on every machine "
                "(or give paths that hold the same files everywhere)."
            )
        return engine


def engine_for(
    engine: Engine | None,
    rulesets: Iterable[str | os.PathLike[str]] | None,
    policy: Policy | str | os.PathLike[str] | Mapping[str, Any] | None,
    backend: str | None,
) -> Engine:
    """The caller's engine: ``engine``, else one built here from ``rulesets``/``policy``/
    ``backend``, else the default engine. Built by the caller (Spark's driver, Dask's client),
    so that a broken ruleset or policy fails at once, not in every task."""
    if engine is not None:
        if rulesets is not None or policy is not None or backend is not None:
            raise TypeError("give engine= or rulesets=/policy=/backend=, not both")
        return engine
    if rulesets is None and policy is None and backend is None:
        return default_engine()
    return Engine(
        None if rulesets is None else list(rulesets),
        policy=policy,
        **({"backend": backend} if backend is not None else {}),
    )


#: Claims whose rows make one output batch. The rows are Python dicts until they become Arrow
#: (about 8 a claim on the generated claims), so this, not the size of the batches Spark hands
#: over (10,000 rows by default), bounds a worker's memory: measured in benchmarks/scale.py.
CLAIMS_PER_BATCH = 1000


class _Rows:
    """The rows of one output batch, in input order: each claim's row, then its findings."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.claims = 0

    def claim(self, row: dict[str, Any]) -> None:
        row["kind"] = "claim"
        self.rows.append(row)
        self.claims += 1

    def findings(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            row["kind"] = "finding"
            self.rows.append(row)

    def batch(self, schema: Any) -> Any:
        import pyarrow as pa

        # A column a row lacks (the other table's) is null on it. from_pylist measured faster
        # than building the columns in Python (benchmarks/scale.py --breakdown).
        return pa.RecordBatch.from_pylist(self.rows, schema=schema)

    def flush(self, schema: Any) -> Any:
        """The rows so far as a batch; then none."""
        batch = self.batch(schema)
        self.rows = []
        self.claims = 0
        return batch


def _cell_label(column: str, input: str | None) -> str:
    return input if input is not None else f"the {column!r} cell"


def _json_located(row: dict[str, Any]) -> dict[str, Any]:
    # Where to fix a JSON claim's finding: its line, or the claim (the same paths the command
    # line gives, x12.cli.with_json_paths), for a finding the backend did not locate itself.
    if row["location"] is None:
        row["location"] = "$" if row["line"] is None else f"$.lines[{row['line'] - 1}]"
    return row


def check_cell(
    engine: Engine,
    cell: Any,
    input: str | None,
    out: _Rows,
    *,
    column: str = "claim",
    index: int = 0,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> None:
    """Add to ``out`` the rows of one cell holding a claim as JSON text: its claims row, then
    one row per finding. ``input`` fills the rows' ``input`` column (where the claim came from)."""
    label = _cell_label(column, input)
    if cell is None:
        out.claim(claim_row(Unreadable(f"{label}: null, not a claim"), input))
        return
    if not isinstance(cell, str):
        out.claim(
            claim_row(Unreadable(f"{label}: not JSON text but a {type(cell).__name__}"), input)
        )
        return
    record = read_text(cell, label, max_record_bytes=max_record_bytes)
    if record.problem is not None:
        out.claim(claim_row(record.problem, input))
        return
    outcome = evaluate_outcome(engine, record.claim, False, index)
    if isinstance(outcome, Result):
        claim, findings = rows_of(outcome, input)
        out.claim(claim)
        out.findings(_json_located(row) for row in findings)
    else:
        out.claim(claim_row(outcome, input, claim_id_of(record.claim)))


def _check_input(value: Any, column: str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"input column {column!r} holds a {type(value).__name__}: it must be text")


@attrs.frozen
class JsonClaims:
    """The partition function for a column of claims as JSON text.

    Called with an iterator of ``pyarrow.RecordBatch`` (holding ``column``, and ``input_column``
    when given, whose text fills the rows' ``input``), it yields one batch of
    :func:`output_schema` per input batch.
    """

    recipe: EngineRecipe
    column: str = "claim"
    input_column: str | None = None
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES

    def __call__(self, batches: Iterable[Any]) -> Iterator[Any]:
        schema = output_schema()
        engine: Engine | None = None
        for batch in batches:
            if engine is None:  # built on the first batch: an empty partition builds nothing
                engine = self.recipe.engine()
            for start in range(0, batch.num_rows, CLAIMS_PER_BATCH):
                part = batch.slice(start, CLAIMS_PER_BATCH)
                cells = part.column(self.column).to_pylist()
                inputs = (
                    part.column(self.input_column).to_pylist()
                    if self.input_column is not None
                    else None
                )
                yield self.check(engine, cells, inputs).batch(schema)

    def batches(self, engine: Engine, cells: list[Any], inputs: list[Any] | None) -> Iterator[Any]:
        """The output batches of ``cells`` (see :meth:`check`), CLAIMS_PER_BATCH at a time."""
        schema = output_schema()
        for start in range(0, len(cells), CLAIMS_PER_BATCH):
            end = start + CLAIMS_PER_BATCH
            part = None if inputs is None else inputs[start:end]
            yield self.check(engine, cells[start:end], part).batch(schema)

    def check(self, engine: Engine, cells: list[Any], inputs: list[Any] | None) -> _Rows:
        """The rows of ``cells`` (any Python values: a pandas object column may hold anything),
        with ``inputs`` (text or None, one per cell) as their ``input``."""
        if inputs is None:
            inputs = [None] * len(cells)
        out = _Rows()
        for index, (cell, input) in enumerate(zip(cells, inputs, strict=True)):
            check_cell(
                engine,
                cell,
                _check_input(input, self.input_column),
                out,
                column=self.column,
                index=index,
                max_record_bytes=self.max_record_bytes,
            )
        return out


def _x12_error_row(error: X12Error, path: str | None) -> dict[str, Any]:
    """A refused 837 claim (``invalid``: it has a CLM01) or a file problem outside any claim
    (``unreadable``), located in the file: the row ``check --format parquet`` writes for it."""
    return claim_row(as_outcome(error), path, error.claim_id, error.location)


def check_837_file(
    engine: Engine,
    content: bytes | None,
    path: str | None,
    out: _Rows,
    *,
    directory: Directory,
    sidecar: Sidecar | None = None,
    payers: Mapping[str, str] | None = None,
) -> None:
    """Add to ``out`` the rows of one 837P file's bytes: a claims row per claim (checked or
    refused) and per problem outside a claim, and the checked claims' findings, in file order."""
    for _ in _837_steps(engine, content, path, out, directory, sidecar, payers):
        pass


def _837_steps(
    engine: Engine,
    content: bytes | None,
    path: str | None,
    out: _Rows,
    directory: Directory,
    sidecar: Sidecar | None,
    payers: Mapping[str, str] | None,
) -> Iterator[None]:
    """check_837_file, pausing after each claim's rows so that the caller may flush ``out``: a
    file of 100,000 claims is one row of the input, not one batch of 800,000 rows in memory."""
    if content is None:
        out.claim(claim_row(Unreadable(f"{path}: no content"), path))
        return
    if not is_x12(bytes(content[:64])):
        out.claim(
            claim_row(Unreadable(f"{path}: not an X12 file (it does not start with ISA)"), path)
        )
        return
    reader = read_837p(
        bytes(content),
        parse=engine.parse_claim,
        directory=directory,
        sidecar=sidecar,
        payers=payers,
    )
    index = 0
    try:
        for item in reader:
            if isinstance(item, X12Error):
                out.claim(_x12_error_row(item, path))
                yield
                continue
            outcome = evaluate_outcome(engine, item.claim, False, index)
            index += 1
            if isinstance(outcome, Result):
                claim, findings = rows_of(locate(outcome, item), path)
                out.claim(claim)
                out.findings(findings)
            else:
                row = claim_row(outcome, path, item.claim.id)
                row["location"] = describe_location(item.location)
                out.claim(row)
            yield
    except Exception as exc:
        # The reader reports what a file holds as X12Errors and never raises for it; should it
        # fail anyway, the rest of this file is one failed row, not a failed job.
        failure = EvaluationFailure.from_exception(index, None, exc)
        out.claim(claim_row(failure, path))


@attrs.frozen
class X12Files:
    """The partition function for 837P files: batches holding ``path_column`` (text) and
    ``content_column`` (the file's bytes), as Spark's ``binaryFile`` source reads them."""

    recipe: EngineRecipe
    directory: Directory
    sidecar: Sidecar | None = None
    payers: Mapping[str, str] | None = None
    path_column: str = "path"
    content_column: str = "content"

    def __call__(self, batches: Iterable[Any]) -> Iterator[Any]:
        schema = output_schema()
        engine: Engine | None = None
        for batch in batches:
            if engine is None:
                engine = self.recipe.engine()
            out = _Rows()
            paths = batch.column(self.path_column).to_pylist()
            # One file's bytes at a time: a batch of large files is not copied out all at once.
            contents = batch.column(self.content_column)
            for i, path in enumerate(paths):
                for _ in _837_steps(
                    engine,
                    contents[i].as_py(),
                    _check_input(path, self.path_column),
                    out,
                    self.directory,
                    self.sidecar,
                    self.payers,
                ):
                    if out.claims >= CLAIMS_PER_BATCH:
                        yield out.flush(schema)
            if out.rows:
                yield out.flush(schema)
