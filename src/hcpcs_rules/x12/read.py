"""Reading 837P (005010X222A1) claims into the claim contract, with where each came from.

One pass over the segments (``tokens.tokenize``), keeping only the claim being read and the
loops above it (billing provider, subscriber, payer), so memory does not grow with the file.
Each claim becomes the contract's JSON shape, is completed from the supplier directory and the
sidecar, and is read by the same claim reader as JSON input (``parse``), so an 837 claim is
held to exactly the contract's checks. What the 837 cannot say is never invented: see
docs/x12.md for the segment-to-field table and for what a missing directory entry does.

Problems are reported, never skipped: a claim with a problem is yielded as an ``X12Error``
naming the segment (ordinal, byte offset, envelope control numbers, CLM01) and reading goes on
with the next claim; a problem outside any claim (the envelope, a count) is an ``X12Error``
without a claim. The reader's ``summary`` counts the claims read, parsed and refused.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

import attrs

from ..claims import parse_claim
from ..errors import ClaimError
from ..model import Claim, Location
from .payers import payer_of
from .reference import Directory, Sidecar
from .tokens import Segment, TokenError, tokenize

__all__ = ["IMPLEMENTATION_GUIDE", "Summary", "X12Claim", "X12Error", "X12File", "read_837p"]

IMPLEMENTATION_GUIDE = "005010X222A1"

# Segments of the 837P the reader knows but takes nothing from (addresses, contact details,
# amounts, rendering/service-facility loops...). Anything else is an unknown segment.
_PASSED_OVER = frozenset(
    {
        "BHT", "PER", "N3", "N4", "DMG", "PAT", "CUR", "AMT", "K3", "CR1", "CR2", "CR3", "CRC",
        "HCP", "CN1", "PS1", "QTY", "MEA", "SV5", "LQ", "FRM", "SVD", "CAS", "OI", "MOA", "MIA",
        "CL1", "TA1",
    }
)  # fmt: skip
_ATTACHMENT_OF_REPORT = {"OB": "operative_report", "09": "clinical_notes"}
_DISPENSED_UNIT_OF_CTP = {"ME": "mg", "GR": "g", "ML": "mL"}
_CLAIM_LOOPS = ("2300", "2310A", "2310")
_LINE_LOOPS = ("2400", "2410", "2420E", "2420F", "2420")

#: An amount as an 837 writes one: digits, an optional point and up to 2 decimals.
_AMOUNT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,2})?")


@attrs.frozen
class X12Claim:
    """A claim read from an 837P, where it sits, and where each of its lines sits."""

    claim: Claim
    location: Location
    line_locations: tuple[Location, ...]


@attrs.frozen
class X12Error:
    """A problem in the file. ``claim_id`` is set when it refuses a claim (CLM01)."""

    message: str
    location: Location
    claim_id: str | None = None
    #: The claim reader's problems, ``(json path, message)``, when the contract refused it.
    errors: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.message,
            "claim_id": self.claim_id,
            "errors": [{"path": p, "message": m} for p, m in self.errors],
            "location": attrs.asdict(self.location),
        }


@attrs.define
class Summary:
    claims_read: int = 0  # CLM segments seen
    claims_parsed: int = 0  # yielded as X12Claim
    claims_refused: int = 0  # yielded as X12Error with a claim id
    errors: int = 0  # X12Error outside any claim (envelope, counts, unknown segments)
    transactions: int = 0
    #: Sidecar claim ids no claim of the file had (a typo in CLM01 or the sidecar), sorted. A
    #: sidecar shared by several files: the ids none of them had are those no file's
    #: :attr:`sidecar_used` holds.
    sidecar_unused: list[str] = attrs.field(factory=list)
    #: Sidecar claim ids a claim of the file had, sorted.
    sidecar_used: list[str] = attrs.field(factory=list)


def _iso(text: str) -> str | None:
    if len(text) != 8 or not text.isdigit():
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


@attrs.define
class _Line:
    lx: str
    location: Location
    data: dict[str, Any] = attrs.field(factory=dict)
    has_sv1: bool = False
    has_date: bool = False
    in_lin: bool = False


@attrs.define
class _Claim:
    id: str
    location: Location
    data: dict[str, Any]
    lines: list[_Line] = attrs.field(factory=list)
    problems: list[tuple[str, Location]] = attrs.field(factory=list)
    loop: str = "2300"
    #: a segment inside it could not be read (it may have been the next subscriber's HL)
    unreadable: bool = False


class X12File:
    """Iterate for ``X12Claim`` / ``X12Error`` items; ``summary`` is complete afterwards.

    Read from a path or bytes, it can be iterated again (each pass reads the file anew and starts
    a new ``summary``), and a pass abandoned part way closes its file when the iterator is closed
    or collected. Read from a stream, it can be iterated once: a second pass is a ValueError.
    """

    def __init__(
        self,
        stream: BinaryIO | None,
        *,
        parse: Callable[[Any], Claim],
        directory: Directory | None,
        sidecar: Sidecar | None,
        payers: Mapping[str, str] | None,
        opener: Callable[[], BinaryIO] | None = None,
    ) -> None:
        if (stream is None) == (opener is None):
            raise TypeError("X12File reads a stream or an opener of fresh streams, one of them")
        self._stream = stream
        self._opener = opener
        self._passes = 0
        self._parse = parse
        self._directory = directory
        self._sidecar = sidecar
        self._payers = payers
        self.summary = Summary()

    # ------------------------------------------------------------------------ the walk

    def __iter__(self) -> Iterator[X12Claim | X12Error]:
        if self._opener is None and self._passes:
            raise ValueError(
                "this X12File reads a stream, which can be read once; read_837p() a path or "
                "bytes to read it again"
            )
        self._passes += 1
        self.summary = Summary()
        stream = self._opener() if self._opener is not None else self._stream
        try:
            yield from self._walk(stream)
        finally:
            if self._opener is not None:
                stream.close()  # also when the pass is abandoned: the iterator closed or collected

    def _walk(self, stream: Any) -> Iterator[X12Claim | X12Error]:
        self._isa: Segment | None = None
        self._gs: Segment | None = None
        self._st: Segment | None = None
        self._gs_count = self._st_count = self._seg_count = 0
        self._skip_transaction = False
        self._loop = ""
        self._billing: dict[str, Any] = {}
        self._subscriber: dict[str, Any] = {}
        # A segment that could not be read may have been an HL, SBR or NM1*PR: until a clean HL,
        # the loop (and so the subscriber and payer) a CLM would take is not known.
        self._loop_unsure = False
        self._claim: _Claim | None = None
        # Bounded by the sidecar's size, never the file's: only ids the sidecar has are kept.
        self._sidecar_used: set[str] = set()
        last: Segment | None = None
        for token in tokenize(stream):
            if isinstance(token, TokenError):
                where = self._where(None, token.ordinal, token.offset)
                if not token.fatal:
                    if self._st is not None:
                        self._seg_count += 1  # a segment all the same: SE01 counts it
                    if self._claim is None:
                        self._loop_unsure = True  # it may have been an HL, SBR or NM1*PR
                    else:
                        self._claim.unreadable = True  # it may have been the next HL
                    if self._claim is not None:
                        self._claim.problems.append((token.message, where))
                    else:
                        yield self._error(token.message, where)
                    continue
                if self._claim is not None:
                    self._claim.problems.append((token.message, where))
                    yield from self._finish_claim()
                else:
                    yield self._error(token.message, where)
                return
            last = token
            yield from self._segment(token)
        yield from self._end_of_file(last)

    def _segment(self, seg: Segment) -> Iterator[X12Claim | X12Error]:
        sid = seg.id
        if self._st is not None and sid not in ("ISA", "GS", "ST"):
            self._seg_count += 1
        if sid == "ISA":
            yield from self._isa_segment(seg)
        elif sid == "IEA":
            yield from self._iea_segment(seg)
        elif sid == "GS":
            yield from self._gs_segment(seg)
        elif sid == "GE":
            yield from self._ge_segment(seg)
        elif sid == "ST":
            yield from self._st_segment(seg)
        elif sid == "SE":
            yield from self._se_segment(seg)
        elif self._st is None:
            yield self._error(f"{sid} segment outside a transaction (ST ... SE)", self._at(seg))
        elif self._skip_transaction:
            return
        else:
            yield from self._body(seg)

    # ---------------------------------------------------------------------- envelopes

    def _isa_segment(self, seg: Segment) -> Iterator[X12Error]:
        if self._isa is not None:
            yield from self._close_st(seg, "ISA")
            yield self._error(
                f"ISA before the IEA of interchange {self._isa.element(13)}: the interchange "
                "is not closed",
                self._at(seg),
            )
        self._isa, self._gs, self._st, self._gs_count = seg, None, None, 0

    def _iea_segment(self, seg: Segment) -> Iterator[X12Error]:
        yield from self._close_st(seg, "IEA")
        if self._isa is None:
            yield self._error("IEA without an ISA", self._at(seg))
            return
        if self._gs is not None:
            yield self._error(f"IEA before the GE of group {self._gs.element(6)}", self._at(seg))
        yield from self._count(seg, "IEA01", seg.element(1), self._gs_count, "functional groups")
        if seg.element(2) != self._isa.element(13):
            yield self._error(
                f"IEA02 {seg.element(2)!r} does not match ISA13 {self._isa.element(13)!r}",
                self._at(seg),
            )
        self._isa = self._gs = None

    def _gs_segment(self, seg: Segment) -> Iterator[X12Error]:
        yield from self._close_st(seg, "GS")
        if self._isa is None:
            yield self._error("GS outside an interchange (no ISA before it)", self._at(seg))
        self._gs, self._st_count = seg, 0
        self._gs_count += 1

    def _ge_segment(self, seg: Segment) -> Iterator[X12Error]:
        yield from self._close_st(seg, "GE")
        if self._gs is None:
            yield self._error("GE without a GS", self._at(seg))
            return
        yield from self._count(seg, "GE01", seg.element(1), self._st_count, "transactions")
        if seg.element(2) != self._gs.element(6):
            yield self._error(
                f"GE02 {seg.element(2)!r} does not match GS06 {self._gs.element(6)!r}",
                self._at(seg),
            )
        self._gs = None

    def _st_segment(self, seg: Segment) -> Iterator[X12Claim | X12Error]:
        yield from self._close_st(seg, "ST")
        if self._gs is None:
            yield self._error("ST outside a functional group (no GS before it)", self._at(seg))
        self._st, self._seg_count, self._st_count = seg, 1, self._st_count + 1
        self._loop, self._billing, self._subscriber = "", {}, {}
        self.summary.transactions += 1
        self._skip_transaction = False
        version = seg.element(3) or (self._gs.element(8) if self._gs else "")
        if seg.element(1) != "837" or version != IMPLEMENTATION_GUIDE:
            self._skip_transaction = True
            yield self._error(
                f"transaction {seg.element(1)!r} version {version!r} is not an 837P "
                f"{IMPLEMENTATION_GUIDE}: its segments are not read",
                self._at(seg),
            )

    def _se_segment(self, seg: Segment) -> Iterator[X12Claim | X12Error]:
        if self._st is None:
            yield self._error("SE without an ST", self._at(seg))
            return
        yield from self._finish_claim()
        yield from self._count(seg, "SE01", seg.element(1), self._seg_count, "segments")
        if seg.element(2) != self._st.element(2):
            yield self._error(
                f"SE02 {seg.element(2)!r} does not match ST02 {self._st.element(2)!r}",
                self._at(seg),
            )
        self._st = None

    def _close_st(self, seg: Segment, what: str) -> Iterator[X12Claim | X12Error]:
        """An envelope segment arrived while a transaction is open: its SE is missing."""
        if self._st is not None:
            yield from self._finish_claim()
            yield self._error(
                f"{what} before the SE of transaction {self._st.element(2)}: the SE is missing",
                self._at(seg),
            )
            self._st = None

    def _count(self, seg: Segment, name: str, text: str, actual: int, what: str):
        if not text.isdigit() or int(text) != actual:
            yield self._error(f"{name} says {text!r} {what}, but there are {actual}", self._at(seg))

    def _end_of_file(self, last: Segment | None) -> Iterator[X12Claim | X12Error]:
        if self._sidecar is not None:
            self.summary.sidecar_unused = sorted(set(self._sidecar.claims) - self._sidecar_used)
            self.summary.sidecar_used = sorted(self._sidecar_used)
        if last is None:
            yield self._error("the file is empty", Location(segment=1, offset=0))
            return
        where = self._at(last)
        if self._claim is not None and self._st is not None:
            self._claim.problems.append(
                ("the file ends inside this claim (no SE): it may be truncated", where)
            )
        yield from self._finish_claim()
        if self._st is not None or self._gs is not None or self._isa is not None:
            open_ = "SE" if self._st is not None else ("GE" if self._gs is not None else "IEA")
            yield self._error(
                f"the file ends before the {open_} that closes it: it is truncated", where
            )

    # ----------------------------------------------------------------- 837P body

    def _body(self, seg: Segment) -> Iterator[X12Claim | X12Error]:
        sid = seg.id
        claim = self._claim
        if sid == "HL":
            yield from self._finish_claim()
            self._loop_unsure = False
            level = seg.element(3)
            if level == "20":
                self._loop, self._billing, self._subscriber = "2000A", {"hl": seg}, {}
            elif level == "22":
                self._loop, self._subscriber = "2000B", {"hl": seg}
            elif level == "23":
                self._loop = "2000C"
            else:
                # Whose claims follow is unknown: forget the provider and subscriber, so a CLM
                # here is refused as misplaced rather than read under the previous payer.
                self._loop, self._billing, self._subscriber = "", {}, {}
                yield self._error(f"HL03 {level!r} is not 20, 22 or 23", self._at(seg))
            return
        if sid == "CLM":
            yield from self._finish_claim()
            yield from self._start_claim(seg)
            return
        if claim is not None:
            self._claim_segment(claim, seg)
            return
        if sid == "PRV" and self._loop == "2000A" and seg.element(1) in ("BI", "PE"):
            self._billing["taxonomy"] = seg.element(3)
        elif sid == "SBR" and self._loop == "2000B":
            self._subscriber["sbr09"] = seg.element(9)
        elif sid == "NM1":
            kind = seg.element(1)
            if kind == "85":
                self._loop = "2010AA"
                self._billing["npi"] = seg.element(9) if seg.element(8) == "XX" else None
                self._billing["nm1"] = seg
            elif kind == "PR":
                self._loop = "2010BB"
                self._subscriber["payer_id"] = seg.element(9)
            elif kind in ("41", "40", "87", "IL", "QC"):
                self._loop = "NM1-" + kind
            else:
                yield self._error(
                    f"NM1*{kind} is misplaced: before the first CLM only the submitter, "
                    "receiver, billing, pay-to, subscriber, payer and patient names belong",
                    self._at(seg),
                )
        elif sid in _PASSED_OVER or sid in ("REF", "PRV", "SBR"):
            pass
        elif sid in ("LX", "SV1", "HI", "NTE", "PWK", "LIN", "CTP", "DTP"):
            yield self._error(f"{sid} is misplaced: it belongs inside a claim", self._at(seg))
        else:
            yield self._error(f"unknown segment {sid!r} in an 837P", self._at(seg))

    def _start_claim(self, seg: Segment) -> Iterator[X12Error]:
        self.summary.claims_read += 1
        claim_id = seg.element(1)
        where = self._at(seg, claim=claim_id or None)
        claim = _Claim(id=claim_id, location=where, data={})
        self._claim = claim
        if self._loop not in ("2000B", "2000C", "NM1-IL", "NM1-QC", "2010BB"):
            claim.problems.append(("CLM is misplaced: it must follow a subscriber HL", where))
        elif self._loop_unsure:
            claim.problems.append(
                (
                    "a segment before this claim could not be read, so its subscriber and payer "
                    "are not known: fix that segment",
                    where,
                )
            )
        if not claim_id:
            claim.problems.append(("CLM01 (the claim id) is missing", where))
        # CLM02, the total charge: a plain amount (the guide's R type, at most 2 decimals here),
        # never an exponent or NaN that a 277CA would have to echo.
        if not _AMOUNT.fullmatch(seg.element(2)):
            claim.problems.append(
                (
                    f"CLM02 (total charge) must be an amount like 480.00, not {seg.element(2)[:20]!r}",
                    where,
                )
            )
        pos, _qualifier, frequency = ((*seg.components(5), "", "", ""))[:3]
        if not pos:
            claim.problems.append(("CLM05-1 (place of service) is missing", where))
        claim.data["id"] = claim_id
        claim.data["place_of_service"] = pos
        if frequency:
            claim.data["frequency"] = frequency
        npi = self._billing.get("npi")
        if not npi:
            claim.problems.append(
                ("the billing provider (2010AA NM1*85 with NM108 XX and an NPI) is missing", where)
            )
        supplier: dict[str, Any] = {"npi": npi or ""}
        if self._billing.get("taxonomy"):
            supplier["taxonomy"] = self._billing["taxonomy"]
        claim.data["supplier"] = supplier
        filing, payer_id = self._subscriber.get("sbr09", ""), self._subscriber.get("payer_id", "")
        if not filing:
            claim.problems.append(("SBR09 (claim filing indicator) is missing", where))
        if not payer_id:
            claim.problems.append(("the payer (2010BB NM1*PR with its id) is missing", where))
        payer, line_of_business = payer_of(filing, payer_id, self._payers)
        claim.data["payer"] = payer
        if line_of_business != "commercial":
            claim.data["line_of_business"] = line_of_business
        return iter(())

    def _claim_segment(self, claim: _Claim, seg: Segment) -> None:
        sid = seg.id
        line = claim.lines[-1] if claim.lines else None
        if claim.unreadable and (sid == "SBR" or (sid == "NM1" and seg.element(1) == "PR")):
            # After an unreadable segment, a subscriber's segments (not the claim's own 2320/2330
            # loops: those follow no read error) say the HL was the segment lost: the claims
            # that follow cannot know their payer.
            self._loop_unsure = True

        def problem(message: str) -> None:
            # The location is built only when there is a problem: most segments have none.
            claim.problems.append((message, self._at(seg, claim.id, line.lx if line else None)))

        if sid == "LX":
            lx = seg.element(1)
            if not lx.isdigit():
                problem(f"LX01 {lx!r} is not a line number")
            claim.lines.append(_Line(lx=lx, location=self._at(seg, claim=claim.id, lx=lx)))
            claim.loop = "2400"
        elif sid == "HI" and claim.loop == "2300":
            for element in seg.elements[1:]:
                parts = element.split(seg.delimiters.component)
                if parts[0] in ("ABK", "ABF") and len(parts) > 1 and parts[1]:
                    claim.data.setdefault("diagnoses", []).append(parts[1])
                elif parts[0] in ("BK", "BF"):
                    problem(f"HI qualifier {parts[0]} is ICD-9-CM; an 837P for 2015 on uses ICD-10")
                elif parts[0] in ("ABK", "ABF"):
                    problem(f"HI {parts[0]} has no diagnosis code")
                # Other HI qualifiers (condition codes BG...) carry nothing the contract has.
        elif sid == "NTE":
            self._text(claim, line, "note", seg.element(2), problem)
        elif sid == "PWK":
            target = claim.data if line is None else line.data
            target.setdefault("attachments", []).append(
                _ATTACHMENT_OF_REPORT.get(seg.element(1), "other")
            )
        elif sid == "NM1":
            kind, npi = seg.element(1), (seg.element(9) if seg.element(8) == "XX" else "")
            if line is None and kind == "DN":
                claim.loop = "2310A"
                claim.data["ordering_provider"] = {"npi": npi}
            elif line is not None and kind in ("DK", "DN"):
                claim.loop = "2420E" if kind == "DK" else "2420F"
                key = "ordering_provider" if kind == "DK" else "referring_provider"
                line.data[key] = {"npi": npi}
            elif kind in ("82", "77", "DQ", "PW", "45", "P3", "QB", "PE"):
                claim.loop = "2310" if line is None else "2420"
            else:
                problem(f"NM1*{kind} is misplaced in a claim")
            if kind in ("DN", "DK") and not npi:
                problem(f"NM1*{kind} has no NPI (NM108 XX, NM109)")
        elif line is None:
            if sid in ("SV1", "LIN", "CTP"):
                problem(f"{sid} is misplaced: it belongs to a service line (after LX)")
            elif sid == "HI":
                problem("HI is misplaced: the claim's diagnoses come before its provider loops")
            elif sid in _PASSED_OVER or sid in ("REF", "PRV", "DTP"):
                pass
            else:
                problem(f"unknown or misplaced segment {sid!r} in claim loop 2300")
        else:
            self._line_segment(claim, line, seg, problem)

    def _line_segment(self, claim: _Claim, line: _Line, seg: Segment, problem) -> None:
        sid, data = seg.id, line.data
        if sid == "SV1":
            if line.has_sv1 or claim.loop != "2400":
                problem("SV1 is misplaced: one per line, right after LX")
            line.has_sv1 = True
            code = seg.components(1)
            if code[0] != "HC" or len(code) < 2 or not code[1]:
                problem("SV101 must be HC:<HCPCS code>[:modifiers]")
            else:
                data["hcpcs"] = code[1]
                data["modifiers"] = [m for m in code[2:6] if m]
                if any(code[6:]):
                    problem("SV101 has a description or more than 4 modifiers")
            if seg.element(2):
                data["charge"] = seg.element(2)
            if seg.element(3):
                data["unit_basis"] = seg.element(3)
            if not seg.element(4):
                problem("SV104 (units) is missing")
            data["units"] = seg.element(4)
            if seg.element(5):
                data["place_of_service"] = seg.element(5)
            pointers = [p for p in seg.components(7) if p]
            for p in pointers:
                if not p.isdigit():
                    problem(f"SV107 pointer {p!r} is not a number")
            data["diagnosis_pointers"] = [int(p) for p in pointers if p.isdigit()]
        elif sid == "DTP" and seg.element(1) == "472":
            if line.has_date:
                problem("a second DTP*472 on the line")
            line.has_date = True
            qualifier, value = seg.element(2), seg.element(3)
            if qualifier == "D8" and _iso(value):
                data["date_of_service"] = _iso(value)
            elif qualifier == "RD8" and len(value) == 17 and value[8] == "-":
                first, last = _iso(value[:8]), _iso(value[9:])
                if not first or not last:
                    problem(f"DTP03 {value!r} is not a CCYYMMDD-CCYYMMDD range")
                else:
                    data["date_of_service"] = first
                    if last != first:
                        data["date_of_service_end"] = last
            else:
                problem(f"DTP*472 {qualifier}*{value} is not D8*CCYYMMDD or RD8*CCYYMMDD-CCYYMMDD")
        elif sid == "LIN":
            claim.loop = "2410"
            if seg.element(2) != "N4" or not seg.element(3):
                problem("LIN must be LIN**N4*<11-digit NDC>")
            data["ndc"] = seg.element(3)
        elif sid == "CTP":
            if claim.loop != "2410":
                problem("CTP is misplaced: it belongs after LIN (loop 2410)")
            quantity, unit = seg.element(4), seg.components(5)[0]
            if not quantity or not unit:
                problem("CTP04 (quantity) and CTP05-1 (unit) are required")
            data["ndc_quantity"], data["ndc_unit"] = quantity, unit
            if unit in _DISPENSED_UNIT_OF_CTP and quantity:
                data["dispensed"] = {"quantity": quantity, "unit": _DISPENSED_UNIT_OF_CTP[unit]}
        elif sid == "REF" and seg.element(1) == "XZ":
            if claim.loop != "2410":
                problem("REF*XZ (prescription number) belongs to loop 2410, after LIN")
            data["prescription_number"] = seg.element(2)
        elif sid in _PASSED_OVER or sid in ("REF", "PRV", "DTP"):
            pass
        elif sid == "HI":
            problem("HI is misplaced: diagnoses belong to the claim (2300), before the first LX")
        else:
            problem(f"unknown or misplaced segment {sid!r} in service line loop 2400")

    @staticmethod
    def _text(claim: _Claim, line: _Line | None, key: str, text: str, problem) -> None:
        target = claim.data if line is None else line.data
        if key in target:
            # The contract has one note per claim and per line: refuse rather than drop one.
            problem("a second NTE here: the claim contract holds one note per claim and per line")
        target[key] = text

    def _finish_claim(self) -> Iterator[X12Claim | X12Error]:
        claim, self._claim = self._claim, None
        if claim is None:
            return
        if not claim.lines:
            claim.problems.append(("the claim has no service line (LX/SV1)", claim.location))
        for line in claim.lines:
            if not line.has_sv1:
                claim.problems.append((f"line LX*{line.lx} has no SV1", line.location))
            if not line.has_date:
                claim.problems.append((f"line LX*{line.lx} has no DTP*472", line.location))
        if claim.problems:
            yield self._refuse(claim, claim.problems)
            return
        data = dict(claim.data)
        data["lines"] = [line.data for line in claim.lines]
        missing = self._complete(claim, data)
        if missing:
            yield self._refuse(claim, [(missing, claim.location)])
            return
        try:
            parsed = self._parse(data)
        except ClaimError as exc:
            self.summary.claims_refused += 1
            yield X12Error(
                f"claim {claim.id}: " + "; ".join(f"{p}: {m}" for p, m in exc.errors),
                claim.location,
                claim.id,
                tuple(exc.errors),
            )
            return
        self.summary.claims_parsed += 1
        yield X12Claim(parsed, claim.location, tuple(line.location for line in claim.lines))

    def _complete(self, claim: _Claim, data: dict[str, Any]) -> str | None:
        """Merge the directory and sidecar; say why not when the sidecar does not fit the claim.

        An NPI the directory has no entry for is left as the 837 gives it: its enrollment data
        stays unknown (not "none"), the rules needing it do not fire and the info findings
        J7632-SUP-DATA-UNKNOWN / J7632-ORDERING-PECOS-UNKNOWN say what could not be verified.
        """
        if self._directory is not None:
            entry = self._directory.suppliers.get(data["supplier"]["npi"])
            if entry is not None:
                data["supplier"].update(entry)
            providers = [data.get("ordering_provider")] + [
                line.get("ordering_provider") for line in data["lines"]
            ]
            for provider in providers:
                if provider is None:
                    continue
                known = self._directory.ordering_providers.get(provider["npi"])
                if known is not None:
                    provider.update(known)
        extra = self._sidecar.claims.get(claim.id) if self._sidecar is not None else None
        if extra is not None:
            self._sidecar_used.add(claim.id)
        if extra:
            for key in ("patient", "extensions"):
                if key in extra:
                    data[key] = extra[key]
            by_lx = {line.lx: line.data for line in claim.lines}
            for lx, fields in extra.get("lines", {}).items():
                target = by_lx.get(lx)
                if target is None:
                    return f"the sidecar gives line {lx} of claim {claim.id}, which has no LX*{lx}"
                fields = dict(fields)
                concentration = fields.pop("concentration_mg_per_ml", None)
                if "dispensed" in fields and "dispensed" in target:
                    return (
                        f"the sidecar gives a dispensed amount for line {lx}, but its CTP already "
                        "does: give one or the other"
                    )
                target.update(fields)
                if concentration is not None:
                    dispensed = target.get("dispensed")
                    if not isinstance(dispensed, dict) or dispensed.get("unit") != "mL":
                        return (
                            f"the sidecar gives a concentration for line {lx}, whose dispensed "
                            "amount is not in mL"
                        )
                    target["dispensed"] = {**dispensed, "concentration_mg_per_ml": concentration}
        return None

    # ------------------------------------------------------------------------ helpers

    def _refuse(self, claim: _Claim, problems: list[tuple[str, Location]]) -> X12Error:
        self.summary.claims_refused += 1
        first = problems[0][1]
        text = "; ".join(
            f"{message} (segment {where.segment}, {where.segment_id}, byte {where.offset})"
            for message, where in problems
        )
        return X12Error(f"claim {claim.id or '(no CLM01)'}: {text}", first, claim.id or None)

    def _error(self, message: str, where: Location) -> X12Error:
        self.summary.errors += 1
        return X12Error(message, where)

    def _where(
        self,
        seg: Segment | None,
        ordinal: int,
        offset: int,
        claim: str | None = None,
        lx: str | None = None,
    ) -> Location:
        if claim is None and self._claim is not None:
            claim = self._claim.id or None
        return Location(
            interchange=self._isa.element(13) if self._isa else None,
            group=self._gs.element(6) if self._gs else None,
            transaction=self._st.element(2) if self._st else None,
            claim=claim,
            lx=int(lx) if lx and lx.isdigit() else None,
            segment=ordinal,
            offset=offset,
            segment_id=seg.id if seg else None,
        )

    def _at(self, seg: Segment, claim: str | None = None, lx: str | None = None) -> Location:
        return self._where(seg, seg.ordinal, seg.offset, claim, lx)


def read_837p(
    source: str | os.PathLike[str] | BinaryIO | bytes,
    *,
    parse: Callable[[Any], Claim] | None = None,
    directory: Directory | None = None,
    sidecar: Sidecar | None = None,
    payers: Mapping[str, str] | None = None,
) -> X12File:
    """Read an 837P file (a path, a binary stream or bytes): iterate the result for claims.

    ``parse`` reads each claim's contract data (default :func:`hcpcs_rules.parse_claim`; pass
    ``engine.parse_claim`` to read it under an engine's payers and extensions). ``directory``
    and ``sidecar`` complete claims with what the 837 does not carry; without a directory the
    claims hold only what the 837 says. ``payers`` maps more payer ids to payer names.
    A path is opened when iteration starts and closed when it ends (or is abandoned); a path or
    bytes can be iterated again, a stream once.
    """
    options: dict[str, Any] = {
        "parse": parse or parse_claim,
        "directory": directory,
        "sidecar": sidecar,
        "payers": payers,
    }
    if isinstance(source, bytes):
        data = source
        return X12File(None, opener=lambda: io.BytesIO(data), **options)
    if isinstance(source, str | os.PathLike):
        path = source
        return X12File(None, opener=lambda: _LazyFile(path), **options)  # type: ignore[arg-type,return-value]
    return X12File(source, **options)


class _LazyFile:
    """Opens the file at the first read and closes it at the end, so an unread X12File holds
    no file descriptor."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = path
        self._file: BinaryIO | None = None

    def read(self, size: int) -> bytes:
        if self._file is None:
            self._file = open(self._path, "rb")  # noqa: SIM115 - closed at end of data
        chunk = self._file.read(size)
        if not chunk:
            self._file.close()
        return chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
