"""Reading batch results back for a report: JSON Lines from ``check --format json``, or the
Parquet tables of ``check --format parquet`` and Spark.

Both become the same thing the aggregator eats: claims-table rows and findings-table rows as
:mod:`hcpcs_rules.rows` defines them. A JSON Lines record is rebuilt as the outcome it was printed
from (a :class:`~hcpcs_rules.model.Result`, a :class:`~hcpcs_rules.ClaimError` or an
:class:`~hcpcs_rules.failure.EvaluationFailure`) and turned into rows by ``rows.rows_of``, the same
function every table writer uses, so a report over JSON and one over Parquet count the same rows.

Strictness: a record is rebuilt field by field from the model's type hints; a string where a
number belongs, a list where a string belongs, an unknown severity or a malformed date is a
problem with its JSON path (``results.jsonl:7: $.findings[0].severity: ...``), never coerced.
Keys this version does not know are ignored (a newer ``check`` may write more), and the trace is
not read (the report does not show it). Parquet files are read one record batch at a time, only
the columns the report uses, and their schema is checked before any row is counted.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import attrs

from .. import model
from ..errors import ClaimError
from ..failure import EvaluationFailure
from ..reader import DEFAULT_MAX_RECORD_BYTES, read_claims
from ..rows import CLAIM_COLUMNS, FINDING_COLUMNS

__all__ = [
    "Problem",
    "ReportInputError",
    "TableRows",
    "outcome_from_record",
    "read_inputs",
]

#: Rows per Parquet record batch: a few MB of the report's columns at most.
PARQUET_BATCH_ROWS = 8192
_PARQUET_MAGIC = b"PAR1"


class ReportInputError(Exception):
    """An input the report cannot read at all (missing, not Parquet nor JSON, wrong schema)."""


@attrs.frozen
class Problem:
    """One result record that could not be read; the report counts and lists it."""

    location: str
    message: str


@attrs.frozen
class TableRows:
    """A Parquet record batch for the aggregator: ``table`` is ``"claims"`` or ``"findings"``."""

    table: str
    batch: Any  # a pyarrow.RecordBatch of the columns the report reads
    source: str = ""  # the file, to locate a bad row
    start: int = 0  # the 0-based row number of the batch's first row in that file


class _Invalid(Exception):
    """A value that does not fit; its JSON path is built on the way out (:meth:`within`), so
    reading a good record never formats a path."""

    def __init__(self, message: str, at: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.parts = [at] if at else []

    def within(self, segment: str) -> _Invalid:
        self.parts.append(segment)
        return self

    @property
    def path(self) -> str:
        return "$" + "".join(reversed(self.parts))

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# ------------------------------------------------------------------ JSON records -> outcomes

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_NONE = type(None)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _leaf(tp: Any) -> Callable[[Any], Any]:
    """The reader of one JSON leaf of type ``tp``: exact types only, nothing coerced."""
    if tp is str:

        def read_str(value: Any) -> str:
            if type(value) is not str:
                raise _Invalid(f"expected a string, got {_kind(value)}")
            return value

        return read_str
    if tp is int:

        def read_int(value: Any) -> int:
            if type(value) is not int:  # bool is a subclass of int: refused too
                raise _Invalid(f"expected an integer, got {_kind(value)}")
            return value

        return read_int
    if tp is Decimal:

        def read_decimal(value: Any) -> Decimal:
            # Decimals are written as strings; a JSON number would have passed through a float.
            if type(value) is not str:
                raise _Invalid(f"expected a decimal string, got {_kind(value)}")
            try:
                number = Decimal(value)
            except InvalidOperation:
                raise _Invalid(f"not a decimal number: {value[:40]!r}") from None
            if not number.is_finite():
                raise _Invalid(f"not a finite number: {value[:40]!r}")
            return number

        return read_decimal
    if tp is dt.date:

        def read_date(value: Any) -> dt.date:
            if type(value) is not str or not _DATE.match(value):
                raise _Invalid(f"expected a date YYYY-MM-DD, got {str(value)[:40]!r}")
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise _Invalid(f"not a date: {value!r}") from None

        return read_date
    raise TypeError(f"no reader for {tp!r}")  # a model change the report must learn about


def _reader(tp: Any, skip: frozenset[str]) -> Callable[[Any], Any]:
    """The strict reader of a model type (attrs class, tuple, Literal, optional, leaf)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not _NONE]
        if len(options) != 1:
            raise TypeError(f"no reader for {tp!r}")
        inner = _reader(options[0], skip)

        def read_optional(value: Any) -> Any:
            return None if value is None else inner(value)

        return read_optional
    if origin is Literal:
        allowed = typing.get_args(tp)

        def read_literal(value: Any) -> Any:
            if type(value) is not str or value not in allowed:
                raise _Invalid(f"expected one of {', '.join(allowed)}, got {value!r:.40}")
            return value

        return read_literal
    if origin is tuple:
        item = _reader(typing.get_args(tp)[0], skip)

        def read_tuple(value: Any) -> tuple[Any, ...]:
            if type(value) is not list:
                raise _Invalid(f"expected a list, got {_kind(value)}")
            out = []
            for i, v in enumerate(value):
                try:
                    out.append(item(v))
                except _Invalid as exc:
                    raise exc.within(f"[{i}]") from None
            return tuple(out)

        return read_tuple
    if attrs.has(tp):
        return _class_reader(tp, skip)
    base = getattr(tp, "__supertype__", None)  # a NewType reads as its base
    return _leaf(base if base is not None else tp)


def _class_reader(cls: type, skip: frozenset[str]) -> Callable[[Any], Any]:
    hints = typing.get_type_hints(cls, vars(model))
    plan: list[tuple[str, Callable[[Any], Any] | None, bool]] = []
    for field in attrs.fields(cls):
        required = field.default is attrs.NOTHING
        if f"{cls.__name__}.{field.name}" in skip:
            plan.append((field.name, None, required))
        else:
            plan.append((field.name, _reader(hints[field.name], skip), required))

    def read_object(value: Any) -> Any:
        if type(value) is not dict:
            raise _Invalid(f"expected an object, got {_kind(value)}")
        kwargs = {}
        for name, read, required in plan:
            if read is None:
                continue
            if name not in value:
                if required:
                    raise _Invalid(f"missing key {name!r}")
                continue
            try:
                kwargs[name] = read(value[name])
            except _Invalid as exc:
                raise exc.within(f".{name}") from None
        return cls(**kwargs)

    return read_object


# The trace is what --explain adds; the report never shows it, so it is not rebuilt.
_read_result = _reader(model.Result, frozenset({"Result.trace"}))
_read_errors = _reader(tuple[tuple[str, ...], ...], frozenset())
_read_failure = _reader(EvaluationFailure, frozenset())
_read_location = _reader(model.Location, frozenset())


def outcome_from_record(record: Any) -> tuple[Any, str | None, str | None]:
    """One ``check --format json`` record as ``(outcome, input, claim_id)``, the arguments of
    :meth:`Aggregator.add`. Raises ``ValueError`` with the JSON path of the first problem.

    - a Result's ``to_dict()`` -> the Result (input unknown: the record does not say);
    - ``{"claim": LOCATION, "error": "invalid claim", "claim_id": ID or null, "errors": [[path,
      msg], ...]}`` -> ClaimError (``claim_id`` may be absent: older results);
    - ``{"claim": LOCATION, "error": "internal error", ...EvaluationFailure}`` -> the failure;
    - an X12 refused claim (``error``, ``claim_id``, ``errors`` as objects) -> ClaimError;
      an X12 error outside any claim (no ``claim_id``) -> ``ValueError`` naming it: it is a
      problem of the input file, not a claim.
    """
    try:
        return _outcome(record)
    except _Invalid as exc:
        raise ValueError(str(exc)) from None


def _outcome(record: Any) -> tuple[Any, str | None, str | None]:
    if type(record) is not dict:
        raise _Invalid(f"expected a result object, got {_kind(record)}")
    if "error" not in record:
        if "claim_id" not in record and "lines" in record and "id" in record:
            raise _Invalid("a claim, not a result: run `hcpcs-rules check --format json` on it")
        return _read_result(record), None, None
    where = record.get("claim")
    if type(where) is not str:
        raise _Invalid(f"expected the claim's location (a string), got {_kind(where)}", ".claim")
    kind = record["error"]
    if kind == "invalid claim":
        try:
            errors = _read_errors(record.get("errors"))
        except _Invalid as exc:
            raise exc.within(".errors") from None
        if not errors or any(len(pair) != 2 for pair in errors):
            raise _Invalid("expected a non-empty list of [path, message] pairs", ".errors")
        refused_id = record.get("claim_id")  # absent in results written before 0.2.0
        if refused_id is not None and type(refused_id) is not str:
            raise _Invalid(f"expected a string or null, got {_kind(refused_id)}", ".claim_id")
        return ClaimError(errors), where, refused_id
    if kind == "internal error":
        return _read_failure(record), where, None
    if type(kind) is not str:
        raise _Invalid(f"expected a string, got {_kind(kind)}", ".error")
    claim_id = record.get("claim_id")
    if claim_id is None:
        raise _Invalid(f"an error of the input file, not a claim: {kind}")
    if type(claim_id) is not str:
        raise _Invalid(f"expected a string, got {_kind(claim_id)}", ".claim_id")
    # An X12 claim the reader refused: its problems are objects; without any, the message is one.
    pairs = []
    problems = record.get("errors", [])
    if type(problems) is not list:
        raise _Invalid(f"expected a list, got {_kind(problems)}", ".errors")
    for i, item in enumerate(problems):
        if type(item) is not dict or not all(type(item.get(k)) is str for k in ("path", "message")):
            raise _Invalid("expected an object with a path and a message", f".errors[{i}]")
        pairs.append((item["path"], item["message"]))
    if not pairs:
        location = record.get("location")
        pairs = [(_x12_where(location), kind)]
    return ClaimError(pairs), where, claim_id


def _x12_where(location: Any) -> str:
    from ..rows import describe_location

    if location is None:
        return "$"
    try:
        return describe_location(_read_location(location)) or "$"
    except _Invalid as exc:
        raise exc.within(".location") from None


# ------------------------------------------------------------------------------ the inputs


def read_inputs(
    paths: list[str],
    stdin: Any = None,
    *,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[TableRows | tuple[Any, str | None, str | None] | Problem]:
    """Every input in order: JSON results as ``(outcome, input, claim_id)``, Parquet rows as
    :class:`TableRows`, unreadable records as :class:`Problem`.

    Every path is checked before anything is yielded (exists, readable, a Parquet table's
    schema): a path that cannot be read raises :class:`ReportInputError`, so no report is made
    from part of what was asked for.
    """
    plans = [_plan(path) for path in paths]
    for path, parquet in zip(paths, plans, strict=True):
        if parquet is not None:
            for table, files in parquet:
                for file in files:
                    yield from _parquet_rows(table, file)
            continue
        for record in read_claims(path, stdin, max_record_bytes=max_record_bytes):
            if record.problem is not None:
                message = str(record.problem)
                if isinstance(record.problem, ClaimError):
                    message = "; ".join(f"{p}: {m}" for p, m in record.problem.errors)
                yield Problem(record.location, _without_location(message, record.location))
                continue
            try:
                yield outcome_from_record(record.claim)
            except ValueError as exc:
                yield Problem(record.location, str(exc))


def _without_location(message: str, location: str) -> str:
    prefix = f"{location}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


_TABLES = ("claims", "findings")


def _plan(path: str) -> list[tuple[str, list[Path]]] | None:
    """A Parquet input's tables and files (schemas checked); None for JSON input."""
    if path == "-":
        return None
    p = Path(path)
    try:
        if p.is_dir():
            tables = _parquet_dir(p)
            if tables is None:
                if not any(c.suffix in (".json", ".jsonl") for c in p.iterdir()):
                    raise ReportInputError(
                        f"{path}: no claims/findings Parquet tables and no .json or .jsonl files"
                    )
                return None
            return [(table, files) for table, files in tables]
        with open(p, "rb") as stream:
            head = stream.read(4)
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the name
        raise ReportInputError(f"{path}: cannot read: {exc}") from None
    if head != _PARQUET_MAGIC:
        if not head.strip():
            raise ReportInputError(f"{path}: empty: expected JSON Lines results or Parquet")
        return None
    return [(_table_of(p), [p])]


def _parquet_dir(directory: Path) -> list[tuple[str, list[Path]]] | None:
    """``DIR/claims.parquet`` and ``DIR/findings.parquet`` (files, or folders of part files as
    Spark writes them), or ``DIR/claims/`` and ``DIR/findings/`` folders of parts; None when
    the folder holds neither. A folder of part files alone is one table (named by its schema)."""
    found = []
    for table in _TABLES:
        for candidate in (directory / f"{table}.parquet", directory / table):
            if candidate.is_file():
                found.append((table, [candidate]))
                break
            if candidate.is_dir():
                parts = _parts(candidate)
                if not parts:
                    raise ReportInputError(f"{candidate}: no .parquet part files in this folder")
                found.append((table, parts))
                break
    if not found:
        parts = _parts(directory)
        if not parts:
            return None
        table = _table_of(parts[0])
        for part in parts[1:]:
            if _table_of(part) != table:
                raise ReportInputError(f"{directory}: holds parts of both tables; give one each")
        return [(table, parts)]
    for table, files in found:
        for file in files:
            if _table_of(file) != table:
                raise ReportInputError(f"{file}: holds the {_table_of(file)} table, not {table}")
    return found


def _parts(directory: Path) -> list[Path]:
    # Spark writes _SUCCESS and .crc files beside the parts: only data files count.
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix == ".parquet" and not p.name.startswith(("_", ".")) and p.is_file()
    )


def _pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ReportInputError(
            "reading Parquet needs pyarrow: pip install 'hcpcs-rules[parquet]'"
        ) from None
    return pq


_ARROW_TYPES = {
    "string": ("string", "large_string"),
    "int32": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"),
    "date": ("date32[day]", "date64[ms]"),
}


def _columns(table: str) -> tuple[tuple[str, str], ...]:
    return CLAIM_COLUMNS if table == "claims" else FINDING_COLUMNS


def _table_of(path: Path) -> str:
    """Which table a Parquet file holds, by its schema; every column the report reads must be
    there with a type that holds it."""
    pq = _pyarrow()
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError...: all mean unreadable
        raise ReportInputError(f"{path}: not a readable Parquet file: {exc}") from None
    names = set(schema.names)
    table = "findings" if "rule_id" in names else "claims" if "status" in names else None
    if table is None:
        raise ReportInputError(
            f"{path}: neither a claims table (no 'status' column) nor a findings table "
            "(no 'rule_id' column)"
        )
    for name, kind in _wanted(table):
        if name not in names:
            raise ReportInputError(f"{path}: the {table} table has no {name!r} column")
        actual = str(schema.field(name).type)
        if actual not in _ARROW_TYPES[kind]:
            raise ReportInputError(
                f"{path}: column {name!r} is {actual}, expected {kind} (hcpcs_rules.rows)"
            )
    return table


# The columns the aggregator reads (the others are provenance it does not report per row).
_CLAIM_WANTED = [
    "claim_id",
    "input",
    "status",
    "payer",
    "overlay",
    "date_of_service",
    "lines",
    "findings",
    "reject",
    "deny",
    "warn",
    "info",
    "ignored",
    "error",
    "rulesets",
]
_FINDING_WANTED = [
    "claim_id",
    "input",
    "line",
    "hcpcs",
    "date_of_service",
    "rule_id",
    "severity",
    "message",
    "payer",
    "overlay",
    "location",
]


def _wanted(table: str) -> list[tuple[str, str]]:
    wanted = _CLAIM_WANTED if table == "claims" else _FINDING_WANTED
    kinds = dict(_columns(table))
    return [(name, kinds[name]) for name in wanted]


def _parquet_rows(table: str, path: Path) -> Iterator[TableRows | Problem]:
    pq = _pyarrow()
    columns = [name for name, _ in _wanted(table)]
    try:
        with pq.ParquetFile(path) as file:
            start = 0
            for batch in file.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns):
                yield TableRows(table, batch, str(path), start)
                start += batch.num_rows
    except Exception as exc:  # a corrupt page mid-file: what was read counts, the rest is said
        yield Problem(str(path), f"stopped reading the {table} table: {exc}")
