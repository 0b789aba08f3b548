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

Both are read as strictly as a claim: duplicate keys, floats and unknown keys are errors. Their
values are checked with the claim they are merged into (so a bad date is a ClaimError at its
claim path, e.g. ``$.supplier.enrollments[0].effective``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

__all__ = [
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
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_float), str(path)
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


def load_directory(source: str | os.PathLike[str] | Mapping[str, Any]) -> Directory:
    """Read a supplier directory (a JSON file's path, or the same data as a mapping)."""
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
