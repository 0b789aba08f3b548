"""The 277CA claim acknowledgment (005010X214) for a checked 837P: one STC per finding.

A scrubber answers each 837P transaction with a 277CA transaction saying, claim by claim,
whether the claim goes on (accepted) or comes back (rejected), and why. The mapping from
findings to ``STC`` composites is documented in docs/x12.md ("The 277CA"); in short:

* a rejecting finding (severity ``reject`` by default) is ``A3:23:41``, an informational one
  (deny, warn, info) ``A2:20:41``, with the finding's rule id, line, suggested reason codes and
  message in STC12; a claim with no finding is one ``A2:20:41`` STC;
* a claim the reader refused (an input error with its CLM01 known) is ``A3:23:41`` with the
  reason in STC12;
* findings a policy ignores are not acknowledged (they do not count in the claim's status).

The claims' results carry no names, identifiers or charges, so the writer reads those from the
837 itself, in a second streaming pass over the same file, pairing each result with its CLM by
envelope control numbers and CLM01 in file order. Memory holds one transaction's
acknowledgments at a time (SE01 and the batch totals in 2200B come before the claims).
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO

import attrs

from ..model import Finding, Result
from .read import X12Error
from .tokens import Segment, TokenError, tokenize

__all__ = [
    "ACCEPTED",
    "IMPLEMENTATION_GUIDE_277CA",
    "REJECTED",
    "STC12_MAX",
    "acknowledge",
    "stc_message",
    "write_277ca",
]

IMPLEMENTATION_GUIDE_277CA = "005010X214"
#: Data element 933 (free-form message text) is at most 264 characters.
STC12_MAX = 264
#: STC01 for a claim, or a finding, that comes back: category A3 (rejected), status 23 (returned
#: to entity), entity 41 (the submitter) -- the convention DME MAC custom edits use.
REJECTED = ("A3", "23", "41")
#: STC01 for a claim accepted into processing (A2, status 20), with or without information.
ACCEPTED = ("A2", "20", "41")

# Output delimiters; any of them inside copied text would break the segment, and X12 has no
# escape, so they are replaced (see _text).
_ELEMENT, _COMPONENT, _REPETITION, _TERMINATOR = "*", ":", "^", "~"
# ... and so are control characters: one translation table does both.
_UNSAFE = str.maketrans(
    {c: " " for c in (_ELEMENT, _COMPONENT, _REPETITION, _TERMINATOR, "\x7f", *map(chr, range(32)))}
)
# When a value the 277CA requires is absent from the 837 (the claim is then refused, and its
# STC says why), the element still needs a value: this one says so rather than inventing one.
_MISSING = "NOTPROVIDED"


def _text(value: str) -> str:
    """``value`` safe inside one element: delimiters and control characters become spaces,
    anything outside ASCII a ``?`` (X12's extended character set is ASCII-only)."""
    cleaned = value.translate(_UNSAFE)
    if not cleaned.isascii():
        cleaned = cleaned.encode("ascii", "replace").decode("ascii")
    return " ".join(cleaned.split())


def _cut(text: str, limit: int = STC12_MAX) -> str:
    """``text`` within ``limit`` characters; a cut one ends in ``...`` so a reader knows."""
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def stc_message(finding: Finding) -> str:
    """The STC12 text of a finding: rule id, line, suggested codes first (so a cut keeps
    them), then the message; at most 264 characters, safe in an element."""
    parts = [finding.rule_id]
    if finding.line is not None:
        lx = finding.location.lx if finding.location and finding.location.lx else finding.line
        parts.append(f"LX {lx}")
    codes = finding.reason_codes
    if codes is not None:
        parts.append(" ".join([f"{codes.group}-{codes.carc}", *codes.rarc]))
    return _cut(_text(" ".join(parts) + " - " + finding.message))


def _refusal_message(error: X12Error) -> str:
    """STC12 for a refused claim: the reader's message (it names the segments) and the claim
    contract's problems, if any."""
    details = "; ".join(f"{path} {message}" for path, message in error.errors)
    return _cut(_text("refused - " + error.message + (f"; {details}" if details else "")))


# ------------------------------------------------------------------ what the 837 says of a claim


@attrs.define
class _Transaction:
    """An input transaction's envelope and parties, shared by its claims."""

    interchange: str | None
    group: str | None
    transaction: str | None
    isa: tuple[str, str, str, str, str] = ("ZZ", "", "ZZ", "", "T")  # ISA05-08, ISA15
    bht03: str = ""
    submitter: tuple[str, str, str, str] = ("2", "", "", "")  # NM102, NM103, NM104, NM109
    receiver: tuple[str, str] = ("", "")  # NM103, NM109


@attrs.define
class _Header:
    """What a 277CA says of a claim that its Result does not carry."""

    txn: _Transaction
    claim_id: str
    charge: Decimal | None
    billing: tuple[str, str, str, str]  # NM102, NM103, NM104, NM109
    patient: tuple[str, str, str]  # last, first, member id
    dates: list[str] = attrs.field(factory=list)
    d9: str | None = None
    in_lines: bool = False

    @property
    def key(self) -> tuple[str | None, str | None, str | None, str]:
        return (self.txn.interchange, self.txn.group, self.txn.transaction, self.claim_id)


def _dates(seg: Segment) -> list[str]:
    value = seg.element(3)
    if seg.element(2) == "RD8" and "-" in value:
        return value.split("-", 1)
    return [value]


def _headers(stream: BinaryIO) -> Iterator[_Header]:
    """Each CLM of the file, in order, with its transaction, billing provider and patient."""
    isa: Segment | None = None
    gs: Segment | None = None
    txn: _Transaction | None = None
    billing: tuple[str, str, str, str] = ("2", "", "", "")
    subscriber: tuple[str, str, str] = ("", "", "")
    patient: tuple[str, str] | None = None
    current: _Header | None = None
    for seg in tokenize(stream):
        if isinstance(seg, TokenError):
            if seg.fatal:
                break
            continue
        sid = seg.id
        if sid in ("HL", "SE", "ST", "GE", "IEA", "CLM") and current is not None:
            yield current
            current = None
        if sid == "ISA":
            isa, gs = seg, None
        elif sid == "GS":
            gs = seg
        elif sid == "ST":
            txn = _Transaction(
                isa.element(13) if isa else None,
                gs.element(6) if gs else None,
                seg.element(2),
            )
            if isa is not None:
                txn.isa = tuple(isa.element(i).strip() for i in (5, 6, 7, 8, 15))  # type: ignore[assignment]
            billing, subscriber, patient = ("2", "", "", ""), ("", "", ""), None
        elif txn is None:
            continue
        elif sid == "BHT":
            txn.bht03 = seg.element(3)
        elif sid == "HL":
            level = seg.element(3)
            if level == "20":
                billing, subscriber, patient = ("2", "", "", ""), ("", "", ""), None
            elif level == "22":
                subscriber, patient = ("", "", ""), None
            elif level == "23":
                patient = None
        elif sid == "NM1":
            kind = seg.element(1)
            if kind == "41":
                txn.submitter = (seg.element(2), seg.element(3), seg.element(4), seg.element(9))
            elif kind == "40":
                txn.receiver = (seg.element(3), seg.element(9))
            elif kind == "85":
                billing = (seg.element(2), seg.element(3), seg.element(4), seg.element(9))
            elif kind == "IL":
                subscriber = (seg.element(3), seg.element(4), seg.element(9))
            elif kind == "QC":
                patient = (seg.element(3), seg.element(4))
        elif sid == "CLM":
            try:
                charge: Decimal | None = Decimal(seg.element(2))
            except InvalidOperation:
                charge = None
            if charge is not None and not charge.is_finite():
                charge = None  # NaN/Infinity: the reader refuses the claim; write no amount
            last, first = patient if patient is not None else subscriber[:2]
            current = _Header(txn, seg.element(1), charge, billing, (last, first, subscriber[2]))
        elif current is None:
            continue
        elif sid == "LX":
            current.in_lines = True
        elif sid == "DTP" and seg.element(1) == "472":
            current.dates.extend(_dates(seg))
        elif sid == "REF" and seg.element(1) == "D9" and not current.in_lines:
            current.d9 = seg.element(2)
    if current is not None:
        yield current


def _open(source: str | os.PathLike[str] | BinaryIO | bytes) -> tuple[BinaryIO, bool]:
    if isinstance(source, bytes):
        return io.BytesIO(source), True
    if isinstance(source, str | os.PathLike):
        return open(source, "rb"), True  # closed by write_277ca
    return source, False


# --------------------------------------------------------------------------------- writing


@attrs.define
class _Ack:
    header: _Header
    rejected: bool
    stcs: list[tuple[tuple[str, str, str], str | None]]  # (STC01, STC12)


def _key(outcome: Result | X12Error) -> tuple[str | None, str | None, str | None, str | None]:
    where = outcome.location
    # A Result's claim_id is what the contract made of CLM01; its location keeps CLM01 as read.
    claim = where.claim if isinstance(outcome, Result) and where is not None else None
    claim = claim or outcome.claim_id
    if where is None:
        return (None, None, None, claim)
    return (where.interchange, where.group, where.transaction, claim)


def _ack(header: _Header, outcome: Result | X12Error, rejecting: frozenset[str]) -> _Ack:
    if isinstance(outcome, X12Error):
        return _Ack(header, True, [(REJECTED, _refusal_message(outcome))])
    worst = [f for f in outcome.findings if f.severity in rejecting]
    rest = [f for f in outcome.findings if f.severity not in rejecting]
    stcs: list[tuple[tuple[str, str, str], str | None]] = [
        (REJECTED, stc_message(f)) for f in worst
    ]
    stcs += [(ACCEPTED, stc_message(f)) for f in rest]
    if not stcs:
        stcs.append((ACCEPTED, None))
    return _Ack(header, bool(worst), stcs)


def _paired(
    outcomes: Iterable[Result | X12Error], headers: Iterator[_Header]
) -> Iterator[tuple[Result | X12Error, _Header]]:
    """Each claim outcome with its CLM's header. Both are in file order, so a header without
    an outcome (a claim the reader did not answer for, as in a transaction it skipped) is
    passed over; errors outside any claim have nothing to acknowledge (the 999 reports them)."""
    for outcome in outcomes:
        if isinstance(outcome, X12Error) and outcome.claim_id is None:
            continue
        key = _key(outcome)
        for header in headers:
            if header.key == key:
                yield outcome, header
                break
        else:
            raise ValueError(
                f"write_277ca: claim {outcome.claim_id!r} is not in the given 837 (in file "
                "order): pass the outcomes of this very file"
            )


def _amount(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    return text


def _segment(*elements: str) -> str:
    items = list(elements)
    while len(items) > 1 and items[-1] == "":
        items.pop()
    return _ELEMENT.join(items) + _TERMINATOR


def _transaction_segments(acks: list[_Ack], st02: str, when: dt.datetime, trace: str) -> list[str]:
    txn = acks[0].header.txn
    day, time = when.strftime("%Y%m%d"), when.strftime("%H%M")
    accepted = [a for a in acks if not a.rejected]

    def total(items: list[_Ack]) -> Decimal:
        return sum((a.header.charge or Decimal(0) for a in items), Decimal(0))

    def tallies(accept_qty: str, reject_qty: str, items: list[_Ack]) -> list[str]:
        ok = [a for a in items if not a.rejected]
        bad = [a for a in items if a.rejected]
        out = []
        if ok:
            out.append(_segment("QTY", accept_qty, str(len(ok))))
        if bad:
            out.append(_segment("QTY", reject_qty, str(len(bad))))
        if ok:
            out.append(_segment("AMT", "YU", _amount(total(ok))))
        if bad:
            out.append(_segment("AMT", "YY", _amount(total(bad))))
        return out

    source_name, source_id = txn.receiver
    sub_type, sub_name, sub_first, sub_id = txn.submitter
    segs = [
        _segment("ST", "277", st02, IMPLEMENTATION_GUIDE_277CA),
        _segment("BHT", "0085", "08", _text(trace), day, time, "TH"),
        _segment("HL", "1", "", "20", "1"),
        _segment(
            "NM1",
            "AY",
            "2",
            _text(source_name) or _MISSING,
            "",
            "",
            "",
            "",
            "46",
            _text(source_id) or _MISSING,
        ),
        _segment("TRN", "1", _text(trace)),
        _segment("DTP", "050", "D8", day),
        _segment("DTP", "009", "D8", day),
        _segment("HL", "2", "1", "21", "1"),
        _segment(
            "NM1",
            "41",
            sub_type if sub_type in ("1", "2") else "2",
            _text(sub_name) or _MISSING,
            _text(sub_first) if sub_type == "1" else "",
            "",
            "",
            "",
            "46",
            _text(sub_id) or _MISSING,
        ),
        _segment("TRN", "2", _text(txn.bht03) or _MISSING),
        _segment("STC", "A1:19:AY", day, "WQ" if accepted else "U", _amount(total(acks))),
        *tallies("90", "AA", acks),
    ]
    hl = 2
    i = 0
    while i < len(acks):
        # Consecutive claims of one billing provider share a 2000C, keeping file order.
        j = i
        while j < len(acks) and acks[j].header.billing == acks[i].header.billing:
            j += 1
        group = acks[i:j]
        hl += 1
        provider_hl = hl
        kind, name, first, npi = group[0].header.billing
        kind = kind if kind in ("1", "2") else "2"
        segs += [
            _segment("HL", str(provider_hl), "2", "19", "1"),
            _segment(
                "NM1",
                "85",
                kind,
                _text(name) or _MISSING,
                _text(first) if kind == "1" else "",
                "",
                "",
                "",
                "XX",
                _text(npi) or _MISSING,
            ),
            _segment("TRN", "1", str(provider_hl)),
            _segment(
                "STC",
                "A1:19:85",
                "",
                "WQ" if any(not a.rejected for a in group) else "U",
                _amount(total(group)),
            ),
            *tallies("QA", "QC", group),
        ]
        for ack in group:
            hl += 1
            head = ack.header
            last, pfirst, member = head.patient
            action = "U" if ack.rejected else "WQ"
            charge = _amount(head.charge) if head.charge is not None else "0"
            segs += [
                _segment("HL", str(hl), str(provider_hl), "PT"),
                _segment(
                    "NM1",
                    "QC",
                    "1",
                    _text(last) or _MISSING,
                    _text(pfirst),
                    "",
                    "",
                    "",
                    "MI",
                    _text(member) or _MISSING,
                ),
                _segment("TRN", "2", _text(head.claim_id) or _MISSING),
            ]
            for (category, status, entity), message in ack.stcs:
                segs.append(
                    _segment(
                        "STC",
                        _COMPONENT.join((category, status, entity)),
                        day,
                        action,
                        charge,
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        message or "",
                    )
                )
            if not ack.rejected:
                # The scrubber's own control number for a claim it passes on.
                segs.append(_segment("REF", "1K", _text(f"{trace}-{hl}")))
            if head.d9:
                segs.append(_segment("REF", "D9", _text(head.d9)))
            dates = sorted(d for d in head.dates if len(d) == 8 and d.isdigit())
            if dates:
                if dates[0] == dates[-1]:
                    segs.append(_segment("DTP", "472", "D8", dates[0]))
                else:
                    segs.append(_segment("DTP", "472", "RD8", f"{dates[0]}-{dates[-1]}"))
            else:
                # DTP*472 is required; a claim without a usable date was refused, and its
                # STC says so: the day of processing stands in, as "no service date known"
                # cannot be written.
                segs.append(_segment("DTP", "472", "D8", day))
        i = j
    segs.append(_segment("SE", str(len(segs) + 1), st02))
    return segs


def write_277ca(
    outcomes: Iterable[Result | X12Error],
    source: str | os.PathLike[str] | BinaryIO | bytes,
    *,
    control_number: int = 1,
    now: dt.datetime | None = None,
    rejecting: Iterable[str] = ("reject",),
    sender: tuple[str, str] | None = None,
    receiver: tuple[str, str] | None = None,
) -> str:
    """The 277CA (005010X214) answering the 837P ``source`` checked into ``outcomes``.

    ``outcomes`` are the located results and errors of :func:`check_837p` on ``source`` (the
    same file, in its order); ``source`` is read again for what a Result does not carry (the
    parties' names and identifiers, the charges, the service dates). One ISA/GS interchange
    with ISA13 and GS06 = ``control_number``, and one ST per input transaction that had a
    claim. ``rejecting``: the severities that make a claim come back (A3); by default only
    ``reject`` (see docs/x12.md for why a denial is not a rejection). ``sender``/``receiver``
    are the interchange's (qualifier, id) pairs; by default the input's, swapped.

    The whole acknowledgment as one string; :func:`iter_277ca` gives the same text piece by
    piece, in memory bounded by one transaction, for files of any size.
    """
    return "".join(
        iter_277ca(
            outcomes,
            source,
            control_number=control_number,
            now=now,
            rejecting=rejecting,
            sender=sender,
            receiver=receiver,
        )
    )


def iter_277ca(
    outcomes: Iterable[Result | X12Error],
    source: str | os.PathLike[str] | BinaryIO | bytes,
    *,
    control_number: int = 1,
    now: dt.datetime | None = None,
    rejecting: Iterable[str] = ("reject",),
    sender: tuple[str, str] | None = None,
    receiver: tuple[str, str] | None = None,
) -> Iterator[str]:
    """:func:`write_277ca`'s text in pieces (the header, then one ST...SE per transaction, then
    the trailer), each ending with a newline; the same options. Only the transaction being
    answered is held in memory: the interchange header needs the first transaction's ISA, and
    GE's count is written last."""
    if not 0 < control_number < 10**9:
        raise ValueError("control_number must be between 1 and 999999999 (ISA13 has 9 digits)")
    when = (now or dt.datetime.now()).replace(microsecond=0)
    severities = frozenset(rejecting)
    control = f"{control_number:09d}"
    count = 0
    stream, owned = _open(source)
    try:
        current: list[_Ack] = []

        def flush() -> str:
            nonlocal count
            count += 1
            st02 = f"{count:04d}"
            segs = _transaction_segments(current, st02, when, f"{control_number}{st02}")
            current.clear()
            return "\n".join(segs) + "\n"

        for outcome, header in _paired(outcomes, _headers(stream)):
            if not current and not count:
                yield _interchange_header(header.txn.isa, when, control_number, sender, receiver)
            elif current and current[0].header.txn is not header.txn:
                yield flush()
            current.append(_ack(header, outcome, severities))
        if current:
            yield flush()
    finally:
        if owned:
            stream.close()
    if not count:
        # Nothing to acknowledge (no claim in the file): an interchange without a functional
        # group, as a GS must hold at least one transaction.
        isa = _interchange_header(("ZZ", "", "ZZ", "", "T"), when, control_number, sender, receiver)
        yield isa.split("\n", 1)[0] + "\n" + _segment("IEA", "0", control) + "\n"
        return
    yield _segment("GE", str(count), str(control_number)) + "\n"
    yield _segment("IEA", "1", control) + "\n"


def _interchange_header(
    isa: tuple[str, str, str, str, str],
    when: dt.datetime,
    control_number: int,
    sender: tuple[str, str] | None,
    receiver: tuple[str, str] | None,
) -> str:
    """ISA and GS, from the input's first interchange (``isa``: its sender qualifier and id,
    receiver qualifier and id, usage indicator), the parties swapped unless given."""
    ours = sender or (isa[2], isa[3])
    theirs = receiver or (isa[0], isa[1])
    usage = isa[4] if isa[4] in ("P", "T") else "T"
    head = [
        _segment(
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            ours[0] or "ZZ",
            (ours[1] or _MISSING)[:15].ljust(15),
            theirs[0] or "ZZ",
            (theirs[1] or _MISSING)[:15].ljust(15),
            when.strftime("%y%m%d"),
            when.strftime("%H%M"),
            _REPETITION,
            "00501",
            f"{control_number:09d}",
            "0",
            usage,
            _COMPONENT,
        ),
        _segment(
            "GS",
            "HN",
            ours[1] or _MISSING,
            theirs[1] or _MISSING,
            when.strftime("%Y%m%d"),
            when.strftime("%H%M"),
            str(control_number),
            "X",
            IMPLEMENTATION_GUIDE_277CA,
        ),
    ]
    return "\n".join(head) + "\n"


def acknowledge(
    engine: Any,
    source: str | os.PathLike[str] | bytes,
    *,
    directory: Any,
    sidecar: Any = None,
    **options: Any,
) -> str:
    """Check the 837P ``source`` with ``engine`` and return its 277CA (``write_277ca``'s
    options pass through)."""
    from .check import check_837p

    _, outcomes = check_837p(engine, source, directory=directory, sidecar=sidecar)
    return write_277ca(outcomes, source, **options)
