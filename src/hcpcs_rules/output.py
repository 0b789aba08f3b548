"""Batch outputs: the claims and findings tables of :mod:`hcpcs_rules.rows`, written to files.

``hcpcs-rules check ... --format parquet|csv --output DIR`` writes ``DIR/claims.<ext>`` (one row
per claim read: checked, refused or failed) and ``DIR/findings.<ext>`` (one row per finding), with
exactly the columns and types of :data:`~hcpcs_rules.rows.CLAIM_COLUMNS` and
:data:`~hcpcs_rules.rows.FINDING_COLUMNS`, the same tables the Spark module writes.

Anything that consumes a run's outcomes is a :class:`Sink`: it is given every outcome in input
order, with where it came from (``add``), then either ``close``d (the run ended) or ``abort``ed
(the run was interrupted or crashed). :class:`TableSink` is the file writer; the command's printer
is another, and so can be an aggregator that summarises a run (the HTML report's), fed by the same
loop.

Writing is streamed, so memory stays flat whatever the number of claims: Parquet rows are gathered
column by column into record batches of at most ``batch_rows`` rows, each written as one row group
as soon as it is full; CSV rows are written as they come. Files are written under temporary names
(``claims.parquet.<pid>.partial``) in the output folder and renamed when the run ends, so a table
under its final name is always a complete one; an aborted run removes its partial files and leaves
whatever was there before untouched.

CSV: UTF-8 without a byte order mark, a header row of the column names, RFC 4180 quoting with
``\\r\\n`` line ends. Every text and date cell is quoted (dates as ``2026-03-02``), numbers are
not, and a null is an empty, unquoted cell: ``""`` is an empty text, nothing at all is null.

Text that is not valid Unicode cannot go into either format: a lone surrogate (JSON allows
``"\\ud800"`` in a claim id) is written as its escape, the six characters ``\\ud800``, and
:attr:`TableSink.escaped` counts the cells where that happened, so the caller can say so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .errors import ClaimError, HcpcsRulesError
from .failure import EvaluationFailure
from .model import Location, Result
from .rows import CLAIM_COLUMNS, FINDING_COLUMNS, arrow_schema, rows_of

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "TABLE_FORMATS",
    "OutputError",
    "Sink",
    "TableSink",
    "check_destination",
    "require_pyarrow",
    "table_paths",
]

#: The table formats and their file extensions.
TABLE_FORMATS = ("parquet", "csv")

#: Rows gathered before a Parquet row group is written. A findings row holds about 1 KB of
#: Python objects, so a full batch of either table stays near 10 MB however long the run.
DEFAULT_BATCH_ROWS = 8192

_PARQUET_HINT = "pip install 'hcpcs-rules[parquet]'"

Outcome = Result | ClaimError | EvaluationFailure | BaseException


class OutputError(HcpcsRulesError):
    """The tables cannot be written: a bad ``--output``, a missing extra, a full disk."""


class Sink(Protocol):
    """What a run feeds its outcomes to, in input order."""

    def add(
        self,
        outcome: Outcome,
        *,
        input: str | None,
        claim_id: str | None = None,
        location: Location | None = None,
    ) -> None:
        """One outcome: a Result, a ClaimError, an EvaluationFailure, or another exception for an
        unreadable record. ``input`` says where it came from (``claims.jsonl:12``, an X12 file's
        name); ``claim_id`` and ``location`` name and place a refused claim (a Result carries its
        own)."""

    def close(self) -> None:
        """The run ended: finish (may raise :class:`OutputError`)."""

    def abort(self) -> None:
        """The run was interrupted or failed: drop what was only half done. Never raises."""


def require_pyarrow() -> None:
    """Raise :class:`OutputError` naming the extra to install when pyarrow cannot be imported."""
    try:
        import pyarrow.parquet  # noqa: F401 - imports pyarrow too
    except ImportError as exc:
        raise OutputError(
            f"--format parquet needs pyarrow, which is not installed ({exc}): {_PARQUET_HINT}"
        ) from None


def table_paths(directory: str | os.PathLike[str], fmt: str) -> tuple[Path, Path]:
    """``(claims file, findings file)`` of a table format in ``directory``."""
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"not a table format: {fmt!r} (one of {', '.join(TABLE_FORMATS)})")
    folder = Path(directory)
    return folder / f"claims.{fmt}", folder / f"findings.{fmt}"


def check_destination(directory: str | os.PathLike[str], fmt: str, *, force: bool = False) -> None:
    """Refuse an output folder the tables cannot or must not be written to, before any claim is
    read, and without changing anything: ``directory`` must be a folder or not exist yet (it is
    then created, with its parents), and must not hold this format's tables already unless
    ``force`` (they are then replaced when the run ends; other files are left alone)."""
    folder = Path(directory)
    try:
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"--output {folder}: exists and is not a folder")
        for path in table_paths(folder, fmt):
            if path.is_dir() or (path.exists() and not path.is_file()):
                raise OutputError(f"--output {folder}: {path.name} exists and is not a file")
            if path.exists() and not force:
                raise OutputError(
                    f"--output {folder}: already holds {path.name} (give --force to replace "
                    "the tables, or another folder)"
                )
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise OutputError(f"--output {folder}: cannot use it: {_os_text(exc)}") from None


def _os_text(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _escape(value: str) -> str:
    """``value`` with any lone surrogate written as its ``\\udXXX`` escape."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _encodable(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Table:
    """One table file written under a temporary name, renamed into place by ``finish``."""

    def __init__(self, path: Path, columns: tuple[tuple[str, str], ...]) -> None:
        self.path = path
        self.partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        self.columns = columns
        self.names = [name for name, _ in columns]
        self.escaped = 0  # cells whose lone surrogates were escaped

    def write(self, row: dict[str, Any]) -> None:
        raise NotImplementedError

    def _close_file(self) -> None:
        raise NotImplementedError

    def rename(self) -> None:
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        # The file is being thrown away: how closing it ends does not matter.
        with contextlib.suppress(Exception):
            self._close_file()
        with contextlib.suppress(OSError):
            os.unlink(self.partial)


class _ParquetTable(_Table):
    """Rows gathered by column and written a record batch (one row group) at a time."""

    def __init__(self, path: Path, columns: tuple[tuple[str, str], ...], batch_rows: int) -> None:
        super().__init__(path, columns)
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self.schema = arrow_schema(columns)
        self.batch_rows = batch_rows
        self.buffer: dict[str, list[Any]] = {name: [] for name in self.names}
        self.buffered = 0
        self.row_groups = 0
        self._writer = pq.ParquetWriter(self.partial, self.schema)

    def write(self, row: dict[str, Any]) -> None:
        for name, column in self.buffer.items():
            column.append(row[name])
        self.buffered += 1
        if self.buffered >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        if not self.buffered:
            return
        pa = self._pa
        try:
            batch = pa.RecordBatch.from_pydict(self.buffer, schema=self.schema)
        except UnicodeEncodeError:  # a lone surrogate somewhere: rare, so found only now
            for (_, kind), column in zip(self.columns, self.buffer.values(), strict=True):
                if kind != "string":
                    continue
                for i, value in enumerate(column):
                    if value is not None and not _encodable(value):
                        column[i] = _escape(value)
                        self.escaped += 1
            batch = pa.RecordBatch.from_pydict(self.buffer, schema=self.schema)
        self._writer.write_batch(batch)
        self.row_groups += 1
        for column in self.buffer.values():
            column.clear()
        self.buffered = 0

    def _close_file(self) -> None:
        try:
            self._flush()
        finally:
            self._writer.close()


class _CsvTable(_Table):
    """Rows written as they come, with the quoting the module docstring describes."""

    def __init__(self, path: Path, columns: tuple[tuple[str, str], ...]) -> None:
        super().__init__(path, columns)
        # newline="": the line ends written are exactly those below, on every platform.
        self._file = open(self.partial, "w", encoding="utf-8", newline="")  # noqa: SIM115
        cells: list[Callable[[Any], str]] = [
            _number_cell if kind == "int32" else _date_cell if kind == "date" else _text_cell
            for _, kind in columns
        ]
        self._cells = list(zip(self.names, cells, strict=True))
        self._file.write(",".join(_text_cell(name) for name in self.names) + "\r\n")

    def write(self, row: dict[str, Any]) -> None:
        line = ",".join(cell(row[name]) for name, cell in self._cells) + "\r\n"
        try:
            self._file.write(line)
        except UnicodeEncodeError:  # nothing of the line was written: encoding comes first
            self.escaped += sum(
                1 for name in self.names if isinstance(row[name], str) and not _encodable(row[name])
            )
            self._file.write(_escape(line))

    def _close_file(self) -> None:
        self._file.close()


def _text_cell(value: str | None) -> str:
    if value is None:
        return ""
    return '"' + value.replace('"', '""') + '"'


def _number_cell(value: int | None) -> str:
    return "" if value is None else str(value)


def _date_cell(value: Any) -> str:
    return "" if value is None else '"' + value.isoformat() + '"'


class TableSink:
    """Writes the claims and findings tables of every outcome it is given into ``directory``.

    ``fmt`` is ``"parquet"`` (needs pyarrow: the ``parquet`` extra) or ``"csv"``. The folder is
    checked as :func:`check_destination` says, created if missing, and both tables are opened at
    once, so that a folder that cannot be written is an :class:`OutputError` before any claim.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        fmt: str,
        *,
        force: bool = False,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")
        if fmt == "parquet":
            require_pyarrow()
        check_destination(directory, fmt, force=force)
        self.directory = Path(directory)
        self.format = fmt
        claims_path, findings_path = table_paths(self.directory, fmt)
        self._tables: list[_Table] = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for path, columns in ((claims_path, CLAIM_COLUMNS), (findings_path, FINDING_COLUMNS)):
                self._tables.append(
                    _ParquetTable(path, columns, batch_rows)
                    if fmt == "parquet"
                    else _CsvTable(path, columns)
                )
        except (OSError, ValueError) as exc:
            self.abort()
            raise OutputError(f"--output {self.directory}: cannot write: {_os_text(exc)}") from None
        self.claims_table, self.findings_table = self._tables
        self.claims = 0  # rows of the claims table written so far
        self.findings = 0
        self._done = False

    @property
    def paths(self) -> tuple[Path, Path]:
        """The final ``(claims, findings)`` files."""
        return self.claims_table.path, self.findings_table.path

    @property
    def escaped(self) -> int:
        """Cells whose lone surrogates were written as escapes (see the module docstring)."""
        return sum(table.escaped for table in self._tables)

    def add(
        self,
        outcome: Outcome,
        *,
        input: str | None,
        claim_id: str | None = None,
        location: Location | None = None,
    ) -> None:
        claim, findings = rows_of(outcome, input, claim_id, location)
        try:
            self.claims_table.write(claim)
            for row in findings:
                self.findings_table.write(row)
        except OSError as exc:  # a full disk, a vanished folder
            raise OutputError(
                f"cannot write the tables in {self.directory}: {_os_text(exc)}"
            ) from None
        self.claims += 1
        self.findings += len(findings)

    def close(self) -> None:
        """Write what is buffered, and put both tables in place."""
        if self._done:
            return
        self._done = True
        try:
            # Both files complete before either is renamed: a failure leaves neither in place.
            for table in self._tables:
                table._close_file()
            for table in self._tables:
                table.rename()
        except OSError as exc:
            for table in self._tables:
                table.discard()
            raise OutputError(
                f"cannot write the tables in {self.directory}: {_os_text(exc)}"
            ) from None

    def abort(self) -> None:
        """Remove the partial files; tables already in the folder stay as they were."""
        self._done = True
        for table in self._tables:
            table.discard()
