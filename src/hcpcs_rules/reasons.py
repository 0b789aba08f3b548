"""The payer reason code lists rules cite: CARCs and RARCs with their start and stop dates.

A rule's ``reason_codes`` (docs/ruleset-format.md, "Payer reason codes") names a group code, a
claim adjustment reason code (CARC) and remittance advice remark codes (RARCs). The compiler
checks every code against a :class:`CodeList`: the one shipped in ``data/reason_codes.csv`` (the
codes the shipped rulesets cite), or a full list the user gives (``Engine(reason_codes=path)``,
``compile_files(..., reason_codes=load_code_list(path))``). Group codes are a fixed X12 list,
kept here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import attrs

from .errors import RulesetError, RulesetProblem, printable

__all__ = ["DEFAULT_CODE_LIST", "GROUP_CODES", "CodeList", "ReasonCode", "load_code_list"]

#: X12 claim adjustment group codes: who carries the adjustment.
GROUP_CODES: Mapping[str, str] = MappingProxyType(
    {
        "CO": "contractual obligation (the provider is liable)",
        "PR": "patient responsibility",
        "OA": "other adjustment",
        "PI": "payer-initiated reduction",
        "CR": "correction or reversal",
    }
)

#: The lists a code may belong to, as the CSV's ``list`` column names them.
LISTS = ("carc", "rarc")
_COLUMNS = ["list", "code", "start", "stop", "description"]
_HERE = Path(__file__).parent / "data" / "reason_codes.csv"
# A code list beyond this is not a code list; stop reading before it costs memory.
_MAX_BYTES = 4 * 1024 * 1024


@attrs.frozen
class ReasonCode:
    list: str  # "carc" or "rarc"
    code: str
    #: The first day it may be used; None where the list this was read from does not record it
    #: (the shipped list records only the dates that were checked against a source).
    start: dt.date | None
    stop: dt.date | None  # the last day it may be used; None while in use
    description: str


@attrs.frozen
class CodeList:
    """Codes by (list, code), and where they were read from (for messages)."""

    origin: str
    codes: Mapping[tuple[str, str], ReasonCode] = attrs.field(repr=False)

    def get(self, kind: str, code: str) -> ReasonCode | None:
        return self.codes.get((kind, code))

    def names(self, kind: str) -> list[str]:
        return sorted(c for k, c in self.codes if k == kind)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def load_code_list(path: str | Path | None = None) -> CodeList:
    """Read a code list CSV (columns ``list,code,start,stop,description``; ``stop`` may be
    empty). Every problem is a :class:`RulesetError` at the file's line, all of them at once."""
    file = Path(path) if path is not None else _HERE
    origin = str(file)
    try:
        with open(file, "rb") as handle:  # never more than the bound, whatever the file is
            raw = handle.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise RulesetError(
            [
                RulesetProblem(
                    origin, None, None, f"cannot read the reason code list: {exc.strerror}"
                )
            ]
        ) from None
    if len(raw) > _MAX_BYTES:
        raise RulesetError(
            [
                RulesetProblem(
                    origin, None, None, f"reason code list larger than {_MAX_BYTES:,} bytes"
                )
            ]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RulesetError(
            [
                RulesetProblem(
                    origin, None, None, f"reason code list is not UTF-8 (byte {exc.start})"
                )
            ]
        ) from None
    problems: list[RulesetProblem] = []
    codes: dict[tuple[str, str], ReasonCode] = {}
    seen_at: dict[tuple[str, str], int] = {}
    rows = csv.reader(io.StringIO(text, newline=""))
    for record, row in enumerate(rows, start=1):
        # Problems are reported at the file's line where the record ends (a quoted description
        # may span lines), as tables.py does; the header is record 1.
        number = rows.line_num

        def bad(message: str, number: int = number, row: list[str] = row) -> None:
            problems.append(RulesetProblem(origin, number, None, message, printable(",".join(row))))

        if record == 1:
            if row != _COLUMNS:
                bad(f"the first row must name the columns {','.join(_COLUMNS)}")
                break
            continue
        if not row:
            continue
        if len(row) != len(_COLUMNS):
            bad(f"expected {len(_COLUMNS)} cells, found {len(row)}")
            continue
        kind, code, start_text, stop_text, description = (c.strip() for c in row)
        if kind not in LISTS:
            bad(f"list must be one of {', '.join(LISTS)}, not {kind!r}")
            continue
        if not code or not code.isascii() or not code.isalnum() or len(code) > 5:
            bad(f"code must be 1 to 5 letters or digits, not {code!r}")
            continue
        start = _date(start_text) if start_text else None
        stop = _date(stop_text) if stop_text else None
        if start_text and start is None:
            bad(f"start must be empty or a date YYYY-MM-DD, not {start_text!r}")
            continue
        if stop_text and stop is None:
            bad(f"stop must be empty or a date YYYY-MM-DD, not {stop_text!r}")
            continue
        if stop is not None and start is not None and stop < start:
            bad(f"{kind} {code}: stop {stop} is before start {start}")
            continue
        if (kind, code) in codes:
            bad(f"{kind} {code} is listed twice (also at line {seen_at[(kind, code)]})")
            continue
        codes[(kind, code)] = ReasonCode(kind, code, start, stop, description)
        seen_at[(kind, code)] = number
        if len(problems) >= 20:
            break
    if not text.strip():
        problems.append(RulesetProblem(origin, None, None, "the reason code list is empty"))
    if problems:
        raise RulesetError(problems)
    return CodeList(origin, MappingProxyType(codes))


#: The shipped list: the codes the shipped rulesets cite (read once, immutable).
DEFAULT_CODE_LIST = attrs.evolve(
    load_code_list(), origin="shipped with hcpcs_rules (hcpcs_rules/data/reason_codes.csv)"
)
