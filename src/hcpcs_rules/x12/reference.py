"""Reference data an 837P does not carry: the supplier directory and the per-claim sidecar.

An 837P says who billed (an NPI) but nothing of what a scrubber checks about that supplier
(enrollments per payer, accreditation, surety bond, pharmacy licence, the PTAN) or whether the
ordering provider is in PECOS; nor the clinical facts the J7632 rules read (the order, the days'
supply, the compound, the patient's stays, a concentration for a volume). Both come from files
the user keeps, in the claim contract's own JSON shapes (docs/x12.md):

- the **directory**, keyed by NPI: ``{"suppliers": {NPI: {...}}, "ordering_providers": {NPI:
  {"pecos_enrolled": true}}}``;
- the **sidecar**, keyed by CLM01: ``{CLM01: {"patient": ..., "extensions": ..., "lines": {LX01:
  {...}}}}``.

The directory may also be a CSV file (a ``.csv`` path), one row per fact (``DIRECTORY_CSV_COLUMNS``,
docs/x12.md), read as strictly, each problem reported as ``file:row``.

An NPI the directory lacks, or a key its entry lacks, is *unknown* (the rules needing it do not
fire; info findings say what could not be verified); "known to have none" is written explicitly
(``"enrollments": []``, accreditation status ``"none"``, a bond of amount ``"0"``, a licence with
status ``"none"``, ``"pecos_enrolled": false``).

Both are read as strictly as a claim: duplicate keys, floats and unknown keys are errors. Their
values are checked with the claim they are merged into (so a bad date is a ClaimError at its
claim path, e.g. ``$.supplier.enrollments[0].effective``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "DIRECTORY_CSV_COLUMNS",
    "SIDECAR_CLAIM_KEYS",
    "SIDECAR_LINE_KEYS",
    "SUPPLIER_KEYS",
    "Directory",
    "ReferenceError",
    "Sidecar",
    "load_directory",
    "load_sidecar",
]

#: What a directory entry may give about a supplier (the claim's ``supplier`` keys the 837 lacks).
SUPPLIER_KEYS = frozenset(
    {"ptan", "enrollments", "accreditation", "surety_bond", "pharmacy_license"}
)
ORDERING_KEYS = frozenset({"pecos_enrolled"})
SIDECAR_CLAIM_KEYS = frozenset({"patient", "extensions", "lines"})
SIDECAR_LINE_KEYS = frozenset(
    {"days_supply", "order", "compound", "dispensed", "concentration_mg_per_ml", "extensions"}
)


class ReferenceError(ValueError):
    """A directory or sidecar file that cannot be used: says which file and which key."""


@attrs.frozen
class Directory:
    suppliers: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    ordering_providers: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)


@attrs.frozen
class Sidecar:
    claims: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    # NaN, Infinity, -Infinity: not numbers a directory can hold.
    raise ValueError(f"{name} is not a number a directory may hold")


def _no_float(text: str) -> Any:
    raise ValueError(f'{text} is a JSON float: write quantities as strings ("0.5")')


def _read_json(source: str | os.PathLike[str] | Mapping[str, Any], what: str) -> tuple[Any, str]:
    if isinstance(source, Mapping):
        return dict(source), f"<{what}>"
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReferenceError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        return (
            json.loads(
                text,
                object_pairs_hook=_no_duplicates,
                parse_float=_no_float,
                parse_constant=_no_constant,
            ),
            str(path),
        )
    except ValueError as exc:
        raise ReferenceError(f"{path}: not a usable {what} (JSON): {exc}") from None


def _objects(value: Any, origin: str, path: str, allowed: frozenset[str]) -> dict[str, dict]:
    if not isinstance(value, dict):
        raise ReferenceError(f"{origin}: {path}: must be an object keyed by id")
    for key, entry in value.items():
        if not isinstance(entry, dict):
            raise ReferenceError(f"{origin}: {path}.{key}: must be an object")
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise ReferenceError(
                f"{origin}: {path}.{key}: unknown key {unknown[0]!r} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
    return value


#: The header a CSV directory must have, in this order (docs/x12.md, "Supplier directory as CSV").
DIRECTORY_CSV_COLUMNS = ("npi", "record", "value", "status", "start", "end")
_CSV_RECORDS = frozenset(
    {"ptan", "enrollment", "accreditation", "surety_bond", "pharmacy_license", "pecos"}
)
_CSV_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_CSV_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")
_CSV_STATUSES = {
    "enrollment": None,  # any non-blank status; only "active" lets a supplier bill
    "accreditation": frozenset({"accredited", "exempt", "none"}),
    "pharmacy_license": frozenset({"licensed", "none"}),
}


def _csv_directory(path: Path) -> Directory:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is fine
    except OSError as exc:
        raise ReferenceError(
            f"{path}: cannot read the supplier directory: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError as exc:
        raise ReferenceError(f"{path}: the supplier directory is not UTF-8: {exc}") from None
    rows = csv.reader(text.splitlines(), strict=True)
    suppliers: dict[str, dict[str, Any]] = {}
    ordering: dict[str, dict[str, Any]] = {}
    none_enrolled: set[str] = set()  # NPIs given as "known to have no enrollment"
    try:
        header = next(rows, None)
        if header is None or tuple(c.strip() for c in header) != DIRECTORY_CSV_COLUMNS:
            raise ReferenceError(
                f"{path}:1: the header must be {','.join(DIRECTORY_CSV_COLUMNS)}, not "
                f"{','.join(header or [])!r}"
            )
        for number, row in enumerate(rows, start=2):
            if not row:
                continue  # a blank line separates nothing, but is not worth refusing the file
            where = f"{path}:{number}"
            if len(row) != len(DIRECTORY_CSV_COLUMNS):
                raise ReferenceError(
                    f"{where}: {len(row)} cells, expected {len(DIRECTORY_CSV_COLUMNS)} "
                    f"({','.join(DIRECTORY_CSV_COLUMNS)})"
                )
            cells = dict(zip(DIRECTORY_CSV_COLUMNS, row, strict=True))
            _csv_row(where, cells, suppliers, ordering, none_enrolled)
    except csv.Error as exc:
        raise ReferenceError(f"{path}:{rows.line_num}: not valid CSV: {exc}") from None
    return Directory(suppliers=suppliers, ordering_providers=ordering)


def _csv_row(
    where: str,
    cells: dict[str, str],
    suppliers: dict[str, dict[str, Any]],
    ordering: dict[str, dict[str, Any]],
    none_enrolled: set[str],
) -> None:
    npi, record, value, status, start, end = (cells[c] for c in DIRECTORY_CSV_COLUMNS)
    if not npi.strip():
        raise ReferenceError(f"{where}: npi is empty")
    if record not in _CSV_RECORDS:
        raise ReferenceError(
            f"{where}: unknown record {record!r} (allowed: {', '.join(sorted(_CSV_RECORDS))})"
        )

    def date(column: str, text: str, required: bool) -> str | None:
        if not text:
            if required:
                raise ReferenceError(f"{where}: {record} needs a {column} date (YYYY-MM-DD)")
            return None
        try:
            if _CSV_DATE.match(text) is None:
                raise ValueError
            dt.date.fromisoformat(text)
        except ValueError:
            raise ReferenceError(f"{where}: {column} {text!r} is not a date (YYYY-MM-DD)") from None
        return text

    def unused(*columns: str) -> None:
        for column in columns:
            if cells[column]:
                raise ReferenceError(f"{where}: {record} takes no {column} ({cells[column]!r})")

    allowed = _CSV_STATUSES.get(record)
    if allowed is not None and status and status not in allowed:
        raise ReferenceError(
            f"{where}: {record} status {status!r} (allowed: {', '.join(sorted(allowed))})"
        )
    if record == "pecos":
        unused("status", "start", "end")
        if value not in ("true", "false"):
            raise ReferenceError(f"{where}: pecos value must be true or false, not {value!r}")
        if npi in ordering:
            raise ReferenceError(f"{where}: a second pecos row for NPI {npi}")
        ordering[npi] = {"pecos_enrolled": value == "true"}
        return
    entry = suppliers.setdefault(npi, {})
    if record == "enrollment":
        enrollments = entry.setdefault("enrollments", [])
        if status == "none":
            # "Known to have no enrollment": the supplier's only enrollment row.
            unused("value", "start", "end")
            if enrollments or npi in none_enrolled:
                raise ReferenceError(f"{where}: enrollment 'none' must be the NPI's only one")
            none_enrolled.add(npi)
            return
        if npi in none_enrolled:
            raise ReferenceError(f"{where}: NPI {npi} already has enrollment 'none'")
        if not value.strip() or not status.strip():
            raise ReferenceError(f"{where}: an enrollment needs a payer (value) and a status")
        enrollment: dict[str, Any] = {
            "payer": value,
            "status": status,
            "effective": date("start", start, True),
        }
        if end:
            enrollment["end"] = date("end", end, False)
        enrollments.append(enrollment)
        return
    if record in entry:
        raise ReferenceError(f"{where}: a second {record} row for NPI {npi}")
    if record == "ptan":
        unused("status", "start", "end")
        if not value.strip():
            raise ReferenceError(f"{where}: ptan value is empty")
        entry["ptan"] = value
    elif record == "accreditation":
        unused("value", "start")
        if not status:
            raise ReferenceError(f"{where}: accreditation needs a status")
        entry["accreditation"] = {"status": status, "expires": date("end", end, False)}
    elif record == "surety_bond":
        unused("status", "start")
        if _CSV_AMOUNT.match(value) is None:
            raise ReferenceError(f"{where}: surety_bond value {value!r} is not an amount")
        entry["surety_bond"] = {"amount": value, "expires": date("end", end, False)}
    else:  # pharmacy_license
        unused("start")
        if not value.strip():
            raise ReferenceError(f"{where}: pharmacy_license needs a state (value)")
        entry["pharmacy_license"] = {
            "state": value,
            "status": status or "licensed",
            "expires": date("end", end, False),
        }


def load_directory(source: str | os.PathLike[str] | Mapping[str, Any]) -> Directory:
    """Read a supplier directory (a JSON or ``.csv`` file's path, or JSON-shaped data)."""
    if not isinstance(source, Mapping) and Path(source).suffix.lower() == ".csv":
        return _csv_directory(Path(source))
    data, origin = _read_json(source, "supplier directory")
    if not isinstance(data, dict):
        raise ReferenceError(f"{origin}: the supplier directory must be a JSON object")
    unknown = sorted(set(data) - {"suppliers", "ordering_providers"})
    if unknown:
        raise ReferenceError(
            f"{origin}: unknown key {unknown[0]!r} (allowed: ordering_providers, suppliers)"
        )
    return Directory(
        suppliers=_objects(data.get("suppliers", {}), origin, "suppliers", SUPPLIER_KEYS),
        ordering_providers=_objects(
            data.get("ordering_providers", {}), origin, "ordering_providers", ORDERING_KEYS
        ),
    )


def load_sidecar(source: str | os.PathLike[str] | Mapping[str, Any]) -> Sidecar:
    """Read a claim sidecar (a JSON file's path, or the same data as a mapping)."""
    data, origin = _read_json(source, "claim sidecar")
    claims = _objects(data, origin, "$", SIDECAR_CLAIM_KEYS)
    for claim_id, entry in claims.items():
        _objects(entry.get("lines", {}), origin, f"{claim_id}.lines", SIDECAR_LINE_KEYS)
    return Sidecar(claims=claims)
