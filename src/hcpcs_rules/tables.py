"""Tables and reference data: key -> value tables a ruleset declares, inline or as a CSV file.

A ruleset declares a table under ``[tables.<name>]`` (docs/ruleset-format.md, "Tables and
reference data"): its typed columns, which column is the key and which the value, the rows
(written inline, or a CSV file beside the ruleset) and, optionally, effective-date columns so a
row applies by the line's date of service (a ``quarter`` like ``2026Q1``, or ``from``/``to``
dates). Everything is read strictly: a cell that is not of its column's type, a duplicate key,
overlapping dates for one key, a path leaving the ruleset's folder, a file too large or not UTF-8
is a located :class:`~hcpcs_rules.errors.RulesetProblem`.

A :class:`Table` is built once, when an Engine compiles its rulesets, and is immutable after:
generated code holds it as a constant and only reads it, so threads share it and nothing about
it grows with the claims evaluated. Conditions reach it through four functions registered in
:mod:`hcpcs_rules.functions` (``lookup``, ``lookup_on``, ``in_table``, ``in_table_on``) whose
types :func:`call_type` derives from the table itself: the compiler needs no new IR node, only a
constant whose value is a Table (type ``"table"``).
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import MappingProxyType
from typing import Any

from . import ir, schema
from .errors import UNPRINTABLE, RulesetProblem, did_you_mean, printable
from .limits import CEILING_DECIMAL_PLACES, CEILING_INTEGER_DIGITS

__all__ = [
    "COLUMN_TYPES",
    "MAX_CELL",
    "MAX_COLUMNS",
    "MAX_CSV_BYTES",
    "MAX_INLINE_ROWS",
    "MAX_ROWS",
    "MAX_TABLES",
    "TABLE_FUNCTIONS",
    "Table",
    "call_type",
    "read_tables",
    "tables_used",
]

#: The types a column may have: the condition language's scalar types, and ``quarter`` (``2026Q1``)
#: for the column that says from which quarter a row applies.
COLUMN_TYPES = ("str", "int", "decimal", "date", "bool", "quarter")
#: Bounds, far above real reference data (the quarterly DME MUE table has a few thousand rows)
#: and low enough that a hostile file is refused before it costs anything.
MAX_TABLES = 100  # tables per ruleset file
MAX_COLUMNS = 32
MAX_INLINE_ROWS = 1_000  # rows written in the TOML itself
MAX_ROWS = 100_000  # rows of one CSV file (reading takes about 10-20 µs a row)
MAX_CSV_BYTES = 16 * 1024 * 1024
MAX_CELL = 2_000  # characters in one cell (a string constant's limit)
#: A table with more bad cells than this stops being read: one problem per cell up to here.
_MAX_PROBLEMS = 20

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
# Numbers hold what a claim's numbers hold (12 digits before the point, 6 after), so arithmetic
# on a looked-up value is bounded like arithmetic on a claim value (functions.CLAIM_BOUND).
_INT = re.compile(rf"-?[0-9]{{1,{CEILING_INTEGER_DIGITS}}}\Z")
_DECIMAL = re.compile(
    rf"-?[0-9]{{1,{CEILING_INTEGER_DIGITS}}}(\.[0-9]{{1,{CEILING_DECIMAL_PLACES}}})?\Z"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_QUARTER = re.compile(r"([0-9]{4})Q([1-4])\Z")
_DECL_KEYS = ("columns", "key", "value", "effective", "rows", "file", "source")


class Table:
    """One declared table, typed and indexed; immutable once built.

    Equal (and hashed) by name and content digest, so a Program holding it compares and hashes
    cheaply whatever its size; ``str()`` is what ``hcpcs-rules dump ir`` shows (name, rows,
    digest), never the rows themselves.
    """

    __slots__ = (
        "_index",
        "columns",
        "digest",
        "effective",
        "key",
        "name",
        "origin",
        "rows",
        "source",
        "value",
    )

    def __init__(
        self,
        name: str,
        columns: tuple[tuple[str, str], ...],
        key: str,
        value: str,
        effective: tuple[str, ...],
        origin: str,
        source: str,
        rows: int,
        digest: str,
        index: Mapping[Any, Any],
    ) -> None:
        self.name = name
        self.columns = columns
        self.key = key
        self.value = value
        #: ``()`` (undated), ``("quarter", column)`` or ``("from", column[, column])``.
        self.effective = effective
        #: Where the rows come from: ``"inline"``, or the CSV path as the ruleset wrote it.
        self.origin = origin
        self.source = source  # the citation the author gave ("" if none)
        self.rows = rows
        self.digest = digest
        # key -> value; for a dated table key -> (starts, ends, values), sorted by start.
        self._index = MappingProxyType(dict(index))

    @property
    def dated(self) -> bool:
        return bool(self.effective)

    def column_type(self, column: str) -> str:
        return dict(self.columns)[column]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return (self.name, self.digest) == (other.name, other.digest)

    def __hash__(self) -> int:
        return hash((Table, self.name, self.digest))

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, "_index"):  # set once, in __init__
            raise AttributeError(f"a Table is immutable (cannot set {name!r})")
        object.__setattr__(self, name, value)

    def __str__(self) -> str:
        return f"table {self.name}: {self.rows} rows, sha256:{self.digest}"

    __repr__ = __str__

    # -- what the condition functions do --------------------------------------------------

    def get(self, key: Any) -> Any:
        if key is None or self.dated:
            return None
        try:
            return self._index.get(key)
        except TypeError:  # an unhashable key (a list) is in no table
            return None

    def get_on(self, key: Any, day: dt.date | None) -> Any:
        if key is None or day is None or not self.dated:
            return None
        try:
            found = self._index.get(key)
        except TypeError:
            return None
        if found is None:
            return None
        starts, ends, values = found
        at = bisect.bisect_right(starts, day) - 1
        if at < 0 or (ends[at] is not None and day > ends[at]):
            return None
        return values[at]


# --------------------------------------------------------------------- condition functions


def lookup(table: Table | None, key: Any) -> Any:
    return None if table is None else table.get(key)


def lookup_on(table: Table | None, key: Any, day: dt.date | None) -> Any:
    return None if table is None else table.get_on(key, day)


def in_table(table: Table | None, key: Any) -> bool:
    return lookup(table, key) is not None


def in_table_on(table: Table | None, key: Any, day: dt.date | None) -> bool:
    return lookup_on(table, key, day) is not None


#: name -> (impl, params, whether the table must be dated, doc); registered by functions.py.
TABLE_FUNCTIONS: dict[str, tuple[Any, tuple[str, ...], bool, str]] = {
    "lookup": (
        lookup,
        ("table", "any"),
        False,
        "The table's value for the key (none when the key is not in it).",
    ),
    "lookup_on": (
        lookup_on,
        ("table", "any", "date"),
        True,
        "A dated table's value for the key in force on the date (none if no row applies).",
    ),
    "in_table": (in_table, ("table", "any"), False, "The key is in the table."),
    "in_table_on": (
        in_table_on,
        ("table", "any", "date"),
        True,
        "A dated table has a row for the key in force on the date.",
    ),
}


def call_type(name: str, args: Sequence[ir.Expr]) -> str | tuple[int, str]:
    """The type of a call to one of :data:`TABLE_FUNCTIONS`, from the table it names, or the
    (argument index, message) of what is wrong with it."""
    table = args[0].value if args and isinstance(args[0], ir.Const) else None
    if table is None and args[0].type == "any":
        return "any"  # a table that could not be read: its problems are reported already
    if not isinstance(table, Table):
        return 0, f"{name}() argument 1 must be the name of a table"
    if name not in TABLE_FUNCTIONS:  # a plugin function declaring "$table": not ours to type
        return 0, f"{name}() declares the return type '$table', which only table functions have"
    _impl, _params, dated, _doc = TABLE_FUNCTIONS[name]
    if dated and not table.dated:
        plain = name.removesuffix("_on")
        return 0, f"table {table.name!r} has no effective dates: use {plain}({table.name}, key)"
    if table.dated and not dated:
        return 0, (
            f"table {table.name!r} is dated: use {name}_on({table.name}, key, service.date) "
            "so the row in force on the date of service is used"
        )
    key_type = table.column_type(table.key)
    if not schema.comparable(key_type, args[1].type):
        return 1, f"table {table.name!r} has {key_type} keys, not {args[1].type}"
    if name.startswith("in_table"):
        return "bool"
    return table.column_type(table.value)


def tables_used(exprs: Sequence[ir.Expr]) -> list[Table]:
    """The tables the expressions read, each once, in the order first met."""
    found: dict[int, Table] = {}
    for expr in exprs:
        for node in ir.walk(expr):
            if isinstance(node, ir.Const) and isinstance(node.value, Table):
                found.setdefault(id(node.value), node.value)
    return list(found.values())


# ------------------------------------------------------------------------------- reading


def read_tables(
    file: str,
    declared: Any,
    lines: Mapping[str, Mapping[str, int]],
    quote: Callable[[int | None], str | None] | None = None,
) -> tuple[dict[str, Table | None], list[RulesetProblem]]:
    """The tables a ruleset file declares (``[tables]`` as TOML gave it), and every problem.

    A table that cannot be read maps to None (its problems are in the list), so the compiler
    still knows the name and does not report its every use as an unknown name too.

    ``lines`` gives, per table, the line of its ``[tables.<name>]`` header (key ``""``) and of
    each of its keys; ``quote(line)`` the file's text at a line. A CSV file is read relative to
    ``file``'s folder.
    """
    problems: list[RulesetProblem] = []
    tables: dict[str, Table | None] = {}
    if not declared:
        return tables, problems
    if not isinstance(declared, dict):
        problems.append(RulesetProblem(file, None, None, "[tables] must hold [tables.<name>]"))
        return tables, problems
    if len(declared) > MAX_TABLES:
        problems.append(
            RulesetProblem(file, None, None, f"{len(declared):,} tables; at most {MAX_TABLES}")
        )
        return tables, problems
    for name, decl in declared.items():
        reader = _TableReader(file, str(name), lines.get(name, {}), quote, problems)
        tables[name] = reader.read(decl)
    return tables, problems


# A row as read: its typed cells, and where it is written (file, line, what to call it).
_Row = tuple[tuple[Any, ...], tuple[str, int | None, str]]


class _TableReader:
    """Reads one ``[tables.<name>]`` declaration and its rows, reporting each problem once.

    Problems about the declaration are located at the TOML file's line of the key concerned;
    problems about a cell at the CSV file's line (or the TOML ``rows`` line and the row's number)
    and name the column. Cell problems are capped, so a hostile file costs a bounded report.
    """

    def __init__(self, file, name, lines, quote, sink: list[RulesetProblem]) -> None:
        self.file = file
        self.name = name
        self.lines = lines
        self.quote = quote or (lambda line: None)
        self.sink = sink
        self.count = 0
        self.open_end: str | None = None  # an effective `to` column: an empty cell is open

    def line_of(self, key: str = "") -> int | None:
        return self.lines.get(key, self.lines.get(""))

    def report(self, message: str, key: str = "") -> None:
        line = self.line_of(key)
        self.sink.append(
            RulesetProblem(
                self.file, line, None, f"table {self.name!r}: {message}", self.quote(line)
            )
        )
        self.count += 1

    def cell_problem(
        self, file: str, line: int | None, message: str, quote: str | None = None
    ) -> bool:
        """Record a problem in the rows; False once the cap is reached (stop reading)."""
        self.count += 1
        if self.count > _MAX_PROBLEMS:
            return False
        if self.count == _MAX_PROBLEMS:
            message += f" (reading stopped after {_MAX_PROBLEMS} problems)"
        if quote is not None and len(quote) > 200:
            quote = quote[:200] + "..."
        self.sink.append(RulesetProblem(file, line, None, f"table {self.name!r}, {message}", quote))
        return self.count < _MAX_PROBLEMS

    # -- the declaration ----------------------------------------------------------------

    def read(self, decl: Any) -> Table | None:
        if not _NAME.match(self.name):
            self.report("a table name is lowercase letters, digits and _ (at most 64)")
            return None
        if not isinstance(decl, dict):
            self.report("declare it as [tables.<name>] with columns, key, value, rows or file")
            return None
        for key in decl:
            if key not in _DECL_KEYS:
                self.report(f"unknown key {key!r}{did_you_mean(str(key), _DECL_KEYS)}", key)
                return None
        columns = self.columns(decl.get("columns"))
        if columns is None:
            return None
        types = dict(columns)
        effective = self.effective(decl.get("effective"), types)
        if effective is None:
            return None
        dates = effective[1:]
        names = [c for c, _ in columns]
        key = decl.get("key", names[0])
        if key not in names or key in dates or types[key] == "quarter":
            choices = [c for c in names if c not in dates]
            self.report(
                f"key must name a column other than the dates{did_you_mean(str(key), choices)}",
                "key",
            )
            return None
        rest = [c for c in names if c != key and c not in dates]
        value = decl.get("value", rest[0] if len(rest) == 1 else None)
        if value not in rest or types[value] == "quarter":
            self.report(
                f"value must name the column a lookup returns, one of {', '.join(rest) or 'none'}"
                + did_you_mean(str(value), rest),
                "value",
            )
            return None
        source = decl.get("source", "")
        if not isinstance(source, str) or len(source) > 4_000 or UNPRINTABLE.search(source):
            self.report("source must be one line of text, at most 4,000 characters", "source")
            return None
        if ("rows" in decl) == ("file" in decl):
            self.report('give its rows inline (rows = [...]) or in a CSV file (file = "...")')
            return None
        if effective[:1] == ("from",) and len(dates) == 2:
            self.open_end = dates[1]
        if "rows" in decl:
            origin = "inline"
            rows = self.inline_rows(decl["rows"], columns)
        else:
            origin = decl["file"] if isinstance(decl["file"], str) else ""
            rows = self.csv_rows(decl["file"], columns)
        if rows is None or self.count:
            return None
        index = self.index(rows, names.index(key), names.index(value), effective, names)
        if index is None:
            return None
        # Each column has one type, so a value written as text (a Decimal, a date) is not
        # confused with a string of another column: the columns are part of what is hashed.
        content = [columns, key, value, effective, [r for r, _ in rows]]
        digest = hashlib.sha256(json.dumps(content, default=str).encode()).hexdigest()
        return Table(
            self.name, columns, key, value, effective, origin, source, len(rows), digest, index
        )

    def columns(self, columns: Any) -> tuple[tuple[str, str], ...] | None:
        kinds = ", ".join(COLUMN_TYPES)
        if not isinstance(columns, dict) or not columns:
            self.report(f'needs columns = {{ name = "type", ... }} (types: {kinds})', "columns")
            return None
        if len(columns) > MAX_COLUMNS:
            self.report(f"{len(columns)} columns; at most {MAX_COLUMNS}", "columns")
            return None
        for column, kind in columns.items():
            if not _NAME.match(column):
                self.report(f"column {column!r}: use lowercase letters, digits and _", "columns")
                return None
            if kind not in COLUMN_TYPES:
                hint = did_you_mean(str(kind), COLUMN_TYPES) if isinstance(kind, str) else ""
                self.report(f"column {column!r}: type {kind!r}{hint}; one of {kinds}", "columns")
                return None
        return tuple(columns.items())

    def effective(self, effective: Any, types: dict[str, str]) -> tuple[str, ...] | None:
        """``()`` when undated, ``("quarter", column)`` or ``("from", from[, to])``."""
        quarters = [c for c, t in types.items() if t == "quarter"]
        wrong = 'effective must be { quarter = "column" } or { from = "column", to = "column" } (to optional)'
        if effective is None:
            if quarters:
                self.report(
                    f'column {quarters[0]!r} is a quarter: add effective = {{ quarter = "{quarters[0]}" }}',
                    "columns",
                )
                return None
            return ()
        if not isinstance(effective, dict) or not effective:
            self.report(wrong, "effective")
            return None
        if set(effective) == {"quarter"}:
            column = effective["quarter"]
            if not isinstance(column, str) or types.get(column) != "quarter" or len(quarters) != 1:
                self.report(
                    "effective quarter must name the one column of type quarter", "effective"
                )
                return None
            return ("quarter", column)
        if "from" in effective and set(effective) <= {"from", "to"} and not quarters:
            chosen = [effective["from"], *([effective["to"]] if "to" in effective else [])]
            for column in chosen:
                if not isinstance(column, str) or types.get(column) != "date":
                    hint = did_you_mean(str(column), list(types))
                    self.report(f"effective {column!r} must name a date column{hint}", "effective")
                    return None
            if len(set(chosen)) == len(chosen):
                return ("from", *chosen)
        self.report(wrong, "effective")
        return None

    # -- the rows -----------------------------------------------------------------------

    def typed_row(self, cells: Sequence[Any], columns, written: bool, fail) -> tuple | None:
        out = []
        for (column, kind), cell in zip(columns, cells, strict=True):
            if column == self.open_end and cell == "":
                out.append(None)  # no end: in force until superseded
                continue
            try:
                out.append(_cell(kind, cell, written=written))
            except ValueError as exc:
                if not fail(f"column {column!r}: {printable(str(exc))}"):
                    return None
                out.append(None)
        return tuple(out)

    def converters(self, columns) -> list[Callable[[str], Any]]:
        """Per column, a converter of a CSV cell that gives what :func:`_cell` gives for a cell
        it accepts, and raises for any cell it refuses (the text holds no control character)."""
        out = [_FAST[kind] for _, kind in columns]
        if self.open_end is not None:
            at = [c for c, _ in columns].index(self.open_end)
            out[at] = lambda cell: None if cell == "" else _fast_date(cell)
        return out

    def inline_rows(self, rows: Any, columns) -> list[_Row] | None:
        if not isinstance(rows, list):
            self.report("rows must be a list of rows, each a list of cells in column order", "rows")
            return None
        if len(rows) > MAX_INLINE_ROWS:
            self.report(
                f"{len(rows):,} rows; at most {MAX_INLINE_ROWS:,} inline (larger: a CSV file)",
                "rows",
            )
            return None
        line = self.line_of("rows")
        out: list[_Row] = []
        for number, row in enumerate(rows, start=1):

            def fail(message: str, number: int = number) -> bool:
                return self.cell_problem(
                    self.file, line, f"row {number}: {message}", self.quote(line)
                )

            if not isinstance(row, list) or len(row) != len(columns):
                names = ", ".join(c for c, _ in columns)
                if not fail(f"a row is a list of {len(columns)} cells ({names})"):
                    return None
                continue
            typed = self.typed_row(row, columns, False, fail)
            if typed is None:
                return None
            out.append((typed, (self.file, line, f"row {number}")))
        return out

    def csv_rows(self, written: Any, columns) -> list[_Row] | None:
        path, why = _data_path(self.file, written)
        if path is None:
            self.report(why, "file")
            return None
        shown = str(path)
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_CSV_BYTES + 1)
        except OSError as exc:
            self.report(f"file {written!r}: cannot read: {exc}", "file")
            return None
        if len(data) > MAX_CSV_BYTES:
            self.cell_problem(shown, None, f"larger than {MAX_CSV_BYTES:,} bytes")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            self.cell_problem(shown, line, f"not UTF-8: byte {data[exc.start]:#04x} on this line")
            return None
        text = text.removeprefix("\ufeff")  # the byte-order mark spreadsheets write is no cell
        lines = text.split("\n")

        def quote(line: int | None) -> str | None:
            return lines[line - 1].rstrip("\r") if line and 0 < line <= len(lines) else None

        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        names = [c for c, _ in columns]
        # The common case, a clean file, is typed by plain converters; a row they refuse is read
        # again cell by cell to say which cell and why. Control characters are looked for once in
        # the whole text: only a file holding one needs every cell checked.
        fast = None if _CELL_UNPRINTABLE.search(text) else self.converters(columns)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            self.cell_problem(shown, 1, f"not CSV: {exc}", quote(1))
            return None
        if header != names:
            why = f"the header row must name the columns {', '.join(names)}, in that order"
            missing = [c for c in names if c not in (header or [])]
            extra = [c for c in header or [] if c not in names]
            if missing or extra:
                listed = ", ".join(repr(printable(c[:64])) for c in extra[:5]) or "none"
                why += f" (missing: {', '.join(missing) or 'none'}; not declared: {listed})"
            self.cell_problem(shown, 1, why, quote(1))
            return None
        out: list[_Row] = []
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # a malformed quote, a cell over csv's own size limit
                line = reader.line_num
                self.cell_problem(shown, line, f"not CSV: {printable(str(exc))}", quote(line))
                return None
            line = reader.line_num
            if len(out) >= MAX_ROWS:
                self.cell_problem(shown, line, f"more than {MAX_ROWS:,} rows")
                return None

            def fail(message: str, line: int = line) -> bool:
                return self.cell_problem(shown, line, message, quote(line))

            if len(row) != len(names):
                said = f"{len(row)} cells; the header has {len(names)}" if row else "an empty row"
                if not fail(said):
                    return None
                continue
            try:
                typed = (
                    tuple([c(cell) for c, cell in zip(fast, row, strict=True)]) if fast else None
                )
            except (ValueError, KeyError, ArithmeticError):
                typed = None
            if typed is None:
                typed = self.typed_row(row, columns, True, fail)
            if typed is None:
                return None
            out.append((typed, (shown, line, f"line {line}")))
        return out

    # -- the index ----------------------------------------------------------------------

    def index(self, rows: list[_Row], key: int, value: int, effective, names) -> dict | None:
        """key -> value, or for a dated table key -> (starts, ends, values) sorted by start;
        None (reported) on a duplicate key or dates overlapping for one key."""
        if not effective:
            out: dict[Any, Any] = {}
            first: dict[Any, tuple[str, int | None, str]] = {}
            for cells, where in rows:
                k = cells[key]
                if k in first:
                    self.duplicate(where, f"duplicate key {k!r}: also at {_at(first[k])}")
                    continue
                first[k] = where
                out[k] = cells[value]
            return None if self.count else out
        start_at = names.index(effective[1])
        end_at = names.index(effective[2]) if len(effective) == 3 else None
        by_key: dict[Any, list[tuple[dt.date, dt.date | None, Any, Any]]] = {}
        for cells, where in rows:
            start = cells[start_at]
            end = cells[end_at] if end_at is not None else None
            if end is not None and end < start:
                self.duplicate(where, f"{effective[2]!r} {end} is before {effective[1]!r} {start}")
                continue
            by_key.setdefault(cells[key], []).append((start, end, cells[value], where))
        out = {}
        for k, entries in by_key.items():
            entries.sort(key=lambda e: e[0])
            if effective[0] == "quarter":
                # A quarter's row holds until the key's next quarter: that row supersedes it.
                entries = [
                    (start, nxt[0] - dt.timedelta(days=1) if nxt else None, v, where)
                    for (start, _, v, where), nxt in zip(entries, [*entries[1:], None], strict=True)
                ]
            for before, after in itertools.pairwise(entries):
                if before[0] == after[0] or before[1] is None or before[1] >= after[0]:
                    self.duplicate(
                        after[3], f"key {k!r}: dates overlap the row at {_at(before[3])}"
                    )
            starts, ends, values, _ = zip(*entries, strict=True)
            out[k] = (tuple(starts), tuple(ends), tuple(values))
        return None if self.count else out

    def duplicate(self, where: tuple[str, int | None, str], message: str) -> None:
        file, line, row = where
        said = f"{row}: {message}" if file == self.file and row.startswith("row") else message
        self.cell_problem(file, line, said)


def _at(where: tuple[str, int | None, str]) -> str:
    file, line, row = where
    return f"{Path(file).name}:{line}" if row.startswith("line") else row


# Control characters a CSV file may not hold in a cell; its line breaks end rows.
_CELL_UNPRINTABLE = re.compile(
    UNPRINTABLE.pattern.replace("\x00-\x1f", "\x00-\x09\x0b\x0c\x0e-\x1f")
)


def _fast_str(cell: str) -> str:
    if not cell or len(cell) > MAX_CELL:
        raise ValueError(cell)
    return cell


def _fast_number(pattern: re.Pattern[str], make: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(cell: str) -> Any:
        if not pattern.match(cell):
            raise ValueError(cell)
        return make(cell)

    return convert


def _fast_date(cell: str) -> dt.date:
    if not _DATE.match(cell):
        raise ValueError(cell)
    return dt.date.fromisoformat(cell)


_QUARTERS: dict[str, dt.date] = {}  # "2026Q1" -> its first day; few distinct values


def _fast_quarter(cell: str) -> dt.date:
    day = _QUARTERS.get(cell)
    if day is None:
        day = _cell("quarter", cell, written=True)
        if len(_QUARTERS) < 4_000:  # bounded, whatever files are read: years 1000-1999 fill it
            _QUARTERS[cell] = day
    return day


_FAST: dict[str, Callable[[str], Any]] = {
    "str": _fast_str,
    "int": _fast_number(_INT, int),
    "decimal": _fast_number(_DECIMAL, Decimal),
    "date": _fast_date,
    "bool": {"true": True, "false": False}.__getitem__,
    "quarter": _fast_quarter,
}


def _cell(kind: str, cell: Any, *, written: bool) -> Any:
    """``cell`` as a value of ``kind``, or ValueError saying why. ``written``: a CSV cell,
    always a string; otherwise a TOML value, which must already have the type (a decimal may
    be an integer or a string: TOML's floats are binary, never exact)."""
    if isinstance(cell, str):
        if len(cell) > MAX_CELL:
            raise ValueError(f"a cell of {len(cell):,} characters; at most {MAX_CELL:,}")
        bad = UNPRINTABLE.search(cell)
        if bad:
            raise ValueError(f"control character {bad.group()!r}")
    if kind == "str":
        if not isinstance(cell, str) or not cell:
            raise ValueError(f"not a non-empty string: {cell!r}")
        return cell
    if kind == "bool":
        if isinstance(cell, bool):
            return cell
        if written and cell in ("true", "false"):
            return cell == "true"
        raise ValueError(f"not true or false: {cell!r}")
    if kind in ("int", "decimal"):
        what = "an integer" if kind == "int" else "a decimal number"
        if isinstance(cell, float):
            raise ValueError(f"{cell!r} is a TOML float, never exact: write it as a string")
        if type(cell) is int and not written:
            cell = str(cell)
        elif not isinstance(cell, str) or (kind == "int" and not written):
            raise ValueError(f"not {what}: {cell!r}")
        if not (_INT if kind == "int" else _DECIMAL).match(cell):
            places = "" if kind == "int" else f" and {CEILING_DECIMAL_PLACES} decimal places"
            raise ValueError(
                f"not {what} of at most {CEILING_INTEGER_DIGITS} digits{places}: {cell[:80]!r}"
            )
        return int(cell) if kind == "int" else Decimal(cell)
    if kind == "date":
        if isinstance(cell, dt.date) and not isinstance(cell, dt.datetime):
            return cell
        if written and isinstance(cell, str) and _DATE.match(cell):  # TOML has its own dates
            try:
                return dt.date.fromisoformat(cell)
            except ValueError:
                pass
        raise ValueError(f"not a date (YYYY-MM-DD): {cell!r}"[:120])
    match = _QUARTER.match(cell) if isinstance(cell, str) else None
    if match is None:
        raise ValueError(f"not a quarter like 2026Q1: {cell!r}"[:120])
    return dt.date(int(match.group(1)), 3 * int(match.group(2)) - 2, 1)


def _data_path(file: str, written: Any) -> tuple[Path | None, str]:
    """The CSV file a ruleset names, or None and why it is refused: only a file inside the
    ruleset's own folder (no absolute path, no ``..``, no link leading out)."""
    if not isinstance(written, str) or not written or len(written) > 300:
        return None, 'file must be a relative path to a CSV file beside the ruleset, e.g. "mue.csv"'
    if UNPRINTABLE.search(written) or "\\" in written:
        return None, f"file {printable(written)!r}: write the path with / and printable characters"
    windows = PureWindowsPath(written)
    if PurePosixPath(written).is_absolute() or windows.is_absolute() or windows.drive:
        return None, f"file {written!r}: an absolute path; name a file in the ruleset's folder"
    if ".." in PurePosixPath(written).parts:
        return None, f"file {written!r}: '..' leaves the ruleset's folder; name a file inside it"
    folder = Path(file).parent
    path = folder / written
    try:
        inside = path.resolve(strict=True).is_relative_to(folder.resolve(strict=True))
    except (OSError, RuntimeError):
        return None, f"file {written!r}: no such file beside {Path(file).name}"
    if not inside:
        return None, f"file {written!r}: a link leading out of the ruleset's folder"
    if not path.is_file():
        return None, f"file {written!r}: not a regular file"
    return path, ""
