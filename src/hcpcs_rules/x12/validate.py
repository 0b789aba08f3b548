"""Validating an X12 file against its implementation guide with pyx12, and its 999.

The library's own reader checks what it needs to read claims (envelopes, counts, the claim's
required elements); the implementation guide says much more (every element's code list, length
and usage, every loop's repeat). pyx12's validating reader knows the guides' maps (837P X222A1,
277CA X214, ...) and writes the 999 implementation acknowledgment, so that is what this module
runs. pyx12 is an optional dependency (the ``[x12]`` extra); without it,
:class:`ValidationUnavailable` says how to install it.
"""

from __future__ import annotations

import io
import logging
import os
from typing import Any

import attrs

__all__ = ["Validation", "ValidationUnavailable", "validate_x12"]


class ValidationUnavailable(RuntimeError):
    """pyx12 is not installed."""


@attrs.frozen
class Validation:
    """The outcome of validating one X12 file."""

    valid: bool
    #: The 999 (005010X231A1) answering the file; "" when pyx12 could not read it as X12.
    ack999: str
    #: Each problem pyx12 found, located: ``ISA 000000001 GS 1 ST 0001 segment 17 (HX): ...``
    #: (pyx12 counts a segment's position from its transaction's ST).
    problems: tuple[str, ...]


def _problems(report: dict[str, Any]) -> list[str]:
    out: list[str] = []

    def add(where: str, errors: list[dict[str, Any]]) -> None:
        out.extend(f"{where}: {e.get('err_str') or e.get('err_cde')}" for e in errors)

    for isa in report.get("interchanges", []):
        isa_where = f"ISA {isa.get('isa_trn_set_id')}"
        add(isa_where, isa.get("errors", []))
        for gs in isa.get("groups", []):
            gs_where = f"{isa_where} GS {gs.get('gs_control_num')}"
            add(gs_where, gs.get("errors", []))
            for st in gs.get("transactions", []):
                st_where = f"{gs_where} ST {st.get('trn_set_control_num')}"
                add(st_where, st.get("errors", []))
                for seg in st.get("segments", []):
                    seg_where = f"{st_where} segment {seg.get('seg_count')} ({seg.get('seg_id')})"
                    add(seg_where, seg.get("errors", []))
                    for ele in seg.get("elements", []):
                        add(seg_where, ele.get("errors", []))
    return out


def validate_x12(source: str | os.PathLike[str] | bytes) -> Validation:
    """Validate ``source`` (a path or the file's bytes) with pyx12 against the guide its GS08
    names, and return pyx12's 999 with the problems it found."""
    try:
        import pyx12.errors
        import pyx12.params
        import pyx12.x12n_document
    except ImportError as exc:
        raise ValidationUnavailable(
            "validating X12 needs pyx12: pip install 'hcpcs_rules[x12]'"
        ) from exc
    import json

    # pyx12 logs each problem as an error on its own logger; with no handler Python would print
    # them on stderr. The problems are returned instead, so give its logger a handler that
    # drops them (adding one is what a library's logger should have had; nothing else changes).
    logger = logging.getLogger("pyx12")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    if not isinstance(source, bytes):
        with open(os.fspath(source), "rb") as handle:
            source = handle.read()
    # X12 text is ASCII (its extended set included); latin-1 maps every byte, so a stray byte is
    # reported by pyx12 as a bad character rather than failing in its decoder.
    src: Any = io.StringIO(source.decode("latin-1"))
    ack, report = io.StringIO(), io.StringIO()
    try:
        valid = pyx12.x12n_document.x12n_document(
            pyx12.params.params(), src, ack, None, fd_json=report
        )
    except pyx12.errors.X12Error as exc:  # an envelope pyx12 cannot even start on
        return Validation(False, "", (f"pyx12 could not read the file: {exc}",))
    text = report.getvalue()
    problems = _problems(json.loads(text)) if text.strip() else []
    if not valid and not problems:
        problems = ["pyx12 could not read the file as X12"]
    return Validation(bool(valid), ack.getvalue(), tuple(problems))
