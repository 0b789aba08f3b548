"""Checking an 837P with an engine: each claim's Result carries where its findings sit."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import attrs

from ..errors import ClaimError
from ..model import Result
from ..reader import Unreadable
from .read import X12Claim, X12Error, X12File, read_837p
from .reference import Directory, Sidecar

__all__ = ["as_outcome", "check_837p", "is_x12", "locate"]


def is_x12(head: bytes) -> bool:
    """Whether a file starting with ``head`` is X12: it starts with an ISA segment (after line
    breaks, which the tokenizer skips too)."""
    return head.lstrip(b"\r\n")[:3] == b"ISA"


def locate(result: Result, item: X12Claim) -> Result:
    """``result`` with the claim's location, and each finding's: its line's LX segment for a
    line finding, the CLM segment for a claim-level one."""

    def where(finding: Any) -> Any:
        line = finding.line
        spot = (
            item.line_locations[line - 1]
            if line is not None and 0 < line <= len(item.line_locations)
            else item.location
        )
        return attrs.evolve(finding, location=spot)

    return attrs.evolve(
        result,
        location=item.location,
        findings=tuple(where(f) for f in result.findings),
        ignored=tuple(where(f) for f in result.ignored),
    )


def check_837p(
    engine: Any,
    source: str | os.PathLike[str] | BinaryIO | bytes,
    *,
    directory: Directory | None,
    sidecar: Sidecar | None = None,
    payers: Mapping[str, str] | None = None,
    explain: bool = False,
) -> tuple[X12File, Iterator[Result | X12Error]]:
    """Read ``source`` with ``engine.parse_claim`` and evaluate each claim (with its trace
    when ``explain``, as ``Engine.evaluate`` gives it).

    Returns the reader (its ``summary`` is complete once the iterator is exhausted) and an
    iterator of a located ``Result`` per good claim and an ``X12Error`` per refused claim or
    envelope problem, in file order. ``directory`` is required, so that forgetting it is an
    error rather than a file of claims whose supplier data are all unknown; an empty
    ``Directory()`` asks for exactly that (each claim is checked, the rules needing the data
    skip it and info findings say what could not be verified).
    """
    if directory is None:
        raise ValueError(
            "check_837p needs a supplier directory: an 837P carries no enrollment, "
            "accreditation, bond or licence (pass Directory() to check with them all unknown)"
        )
    reader = read_837p(
        source, parse=engine.parse_claim, directory=directory, sidecar=sidecar, payers=payers
    )

    def outcomes() -> Iterator[Result | X12Error]:
        for item in reader:
            if isinstance(item, X12Error):
                yield item
            else:
                yield locate(engine.evaluate(item.claim, explain=explain), item)

    return reader, outcomes()


def as_outcome(error: X12Error) -> ClaimError | Unreadable:
    """An X12 problem as the tables state it: a refused claim (one with a CLM01) is an invalid
    claim, with the claim reader's problems when the contract refused it, else with what the 837
    lacks; a problem outside any claim (the envelope, a segment that cannot be read) is an
    unreadable record. Where it sits goes in the row's ``location``."""
    if error.claim_id is None:
        return Unreadable(error.message)
    if error.errors:
        return ClaimError(list(error.errors))
    # The reader says "claim <CLM01>: <what is wrong>"; the row names the claim in its own column.
    prefix = f"claim {error.claim_id}: "
    text = error.message[len(prefix) :] if error.message.startswith(prefix) else error.message
    return ClaimError([("$", text)])
