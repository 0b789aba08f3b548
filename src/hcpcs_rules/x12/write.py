"""Writing claims as an 837P (005010X222A1), for tests and for users who need fixtures.

``write_837p`` writes what an 837P carries (docs/x12.md has the table); ``reference_data``
gives, for the same claims, the supplier directory and the sidecar that carry the rest, so
``read_837p(write_837p(claims), directory=..., sidecar=...)`` gives the claims back. Values are
written as the claim holds them (an NDC with hyphens is written with hyphens); a claim the 837P
cannot express (a line without a charge, a claim without a place of service, text holding a
delimiter, a dispensed amount that contradicts the line's CTP) is a ``ValueError`` naming the
claim and the field, never a quietly different file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..claims import unstructure_claim
from ..model import Claim, ClaimLine
from ..units import format_decimal
from .payers import PAYER_IDS_FOR_WRITING
from .read import IMPLEMENTATION_GUIDE

__all__ = ["reference_data", "write_837p"]

_REPORT_OF_ATTACHMENT = {"operative_report": "OB", "clinical_notes": "09", "other": "OZ"}
_CTP_OF_DISPENSED_UNIT = {"mg": "ME", "g": "GR", "mL": "ML"}
_MEDICARE_ADVANTAGE_FILING = "16"


def _fixed(text: str, width: int) -> str:
    if len(text) > width:
        raise ValueError(f"{text!r} is longer than the {width} characters of its ISA element")
    return text.ljust(width)


class _Out:
    def __init__(self, element: str, component: str, terminator: str, line_break: bool) -> None:
        self.element, self.component = element, component
        self.end = terminator + ("\n" if line_break else "")
        self.parts: list[str] = []
        self.count = 0
        self.forbidden = {element, component, terminator, "^"}

    def value(self, text: str, where: str) -> str:
        bad = self.forbidden.intersection(text)
        if bad:
            raise ValueError(f"{where}: {text!r} holds the delimiter {sorted(bad)[0]!r}")
        return text

    def seg(self, *elements: str) -> None:
        while len(elements) > 1 and elements[-1] == "":
            elements = elements[:-1]  # no trailing empty elements
        self.parts.append(self.element.join(elements) + self.end)
        self.count += 1


def _date(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def write_837p(
    claims: Iterable[Claim],
    *,
    sender: str = "SENDER",
    receiver: str = "RECEIVER",
    interchange: int = 1,
    created: dt.datetime | None = None,
    element: str = "*",
    component: str = ":",
    terminator: str = "~",
    line_break: bool = True,
) -> str:
    """The claims as one 837P interchange (one ISA, GS and ST), as text.

    Each claim gets its own billing-provider and subscriber HL. The payer is written as SBR09
    and a payer id from the default table (``medicare`` as MB to DME MAC 19003, ``aetna`` 60054,
    ``uhc`` 87726, ``cigna`` 62308, ``bcbs`` as BL); any other payer name is written as the
    payer id itself, which the reader maps back through the same table.
    """
    when = created or dt.datetime(2026, 1, 1, 12, 0)
    out = _Out(element, component, terminator, line_break)
    control = f"{interchange:09d}"
    out.seg(
        "ISA", "00", " " * 10, "00", " " * 10, "ZZ", _fixed(sender, 15), "ZZ",
        _fixed(receiver, 15), when.strftime("%y%m%d"), when.strftime("%H%M"), "^", "00501",
        control, "0", "T", component,
    )  # fmt: skip
    out.seg("GS", "HC", sender, receiver, when.strftime("%Y%m%d"), when.strftime("%H%M"),
            "1", "X", IMPLEMENTATION_GUIDE)  # fmt: skip
    out.count = 0  # SE01 counts from ST
    out.seg("ST", "837", "0001", IMPLEMENTATION_GUIDE)
    out.seg("BHT", "0019", "00", control, when.strftime("%Y%m%d"), when.strftime("%H%M"), "CH")
    out.seg("NM1", "41", "2", sender, "", "", "", "", "46", sender)
    out.seg("PER", "IC", "EDI", "TE", "5555550100")
    out.seg("NM1", "40", "2", receiver, "", "", "", "", "46", receiver)
    hl = 0
    for claim in claims:
        hl += 2
        _claim(out, claim, hl)
    out.seg("SE", str(out.count + 1), "0001")
    out.seg("GE", "1", "1")
    out.seg("IEA", "1", control)
    return "".join(out.parts)


def _claim(out: _Out, claim: Claim, hl: int) -> None:
    where = f"claim {claim.id!r}"
    v = out.value
    if claim.place_of_service is None:
        raise ValueError(f"{where}: place_of_service: an 837P claim needs one (CLM05-1)")
    filing, payer_id = PAYER_IDS_FOR_WRITING.get(claim.payer, ("CI", claim.payer))
    if claim.line_of_business == "medicare_advantage" and claim.payer != "medicare":
        filing = _MEDICARE_ADVANTAGE_FILING
    supplier = claim.supplier
    out.seg("HL", str(hl - 1), "", "20", "1")
    if supplier.taxonomy is not None:
        out.seg("PRV", "BI", "PXC", v(supplier.taxonomy, f"{where}: supplier.taxonomy"))
    out.seg("NM1", "85", "2", "SUPPLIER", "", "", "", "", "XX", v(supplier.npi, f"{where}: npi"))
    out.seg("N3", "1 MAIN ST")
    out.seg("N4", "PITTSBURGH", "PA", "152190000")
    out.seg("REF", "EI", "123456789")
    out.seg("HL", str(hl), str(hl - 1), "22", "0")
    out.seg("SBR", "P", "18", "", "", "", "", "", "", filing)
    out.seg("NM1", "IL", "1", "PATIENT", "PAT", "", "", "", "MI", "M" + str(hl))
    out.seg("NM1", "PR", "2", "PAYER", "", "", "", "", "PI", v(payer_id, f"{where}: payer"))
    total = sum((line.charge or Decimal(0) for line in claim.lines), Decimal(0))
    frequency = claim.frequency or "1"
    out.seg(
        "CLM", v(claim.id, f"{where}: id"), format_decimal(total), "", "",
        out.component.join((v(claim.place_of_service, f"{where}: place_of_service"), "B",
                            v(frequency, f"{where}: frequency"))),
        "Y", "A", "Y", "Y",
    )  # fmt: skip
    for attachment in claim.attachments:
        out.seg("PWK", _REPORT_OF_ATTACHMENT[attachment], "EL")
    if claim.note is not None:
        out.seg("NTE", "ADD", v(claim.note, f"{where}: note"))
    if claim.diagnoses:
        codes = [
            out.component.join(("ABK" if i == 0 else "ABF", v(code, f"{where}: diagnoses")))
            for i, code in enumerate(claim.diagnoses)
        ]
        out.seg("HI", *codes)
    if claim.ordering_provider is not None:
        npi = v(claim.ordering_provider.npi, f"{where}: ordering_provider.npi")
        out.seg("NM1", "DN", "1", "ORDERING", "DOC", "", "", "", "XX", npi)
    for number, line in enumerate(claim.lines, 1):
        _line(out, claim, line, number, f"{where} line {number}")


def _line(out: _Out, claim: Claim, line: ClaimLine, number: int, where: str) -> None:
    v = out.value
    if line.charge is None:
        raise ValueError(f"{where}: charge: an 837P line needs one (SV102)")
    day = line.date_of_service or claim.date_of_service
    if day is None:
        raise ValueError(f"{where}: date_of_service: an 837P line needs one (DTP*472)")
    if len(line.modifiers) > 4:
        raise ValueError(f"{where}: modifiers: SV101 has four modifier slots")
    out.seg("LX", str(number))
    code = out.component.join(
        (
            "HC",
            v(line.hcpcs, f"{where}: hcpcs"),
            *tuple(v(m, f"{where}: modifiers") for m in line.modifiers),
        )
    )
    out.seg(
        "SV1", code, format_decimal(line.charge), v(line.unit_basis or "UN", f"{where}: basis"),
        format_decimal(line.units), v(line.place_of_service or "", f"{where}: place_of_service"),
        "", out.component.join(str(p) for p in line.diagnosis_pointers),
    )  # fmt: skip
    for attachment in line.attachments:
        out.seg("PWK", _REPORT_OF_ATTACHMENT[attachment], "EL")
    if line.date_of_service_end is not None:
        out.seg("DTP", "472", "RD8", f"{_date(day)}-{_date(line.date_of_service_end)}")
    else:
        out.seg("DTP", "472", "D8", _date(day))
    if line.note is not None:
        out.seg("NTE", "ADD", v(line.note, f"{where}: note"))
    if line.ndc is not None:
        out.seg("LIN", "", "N4", v(line.ndc, f"{where}: ndc"))
        if line.ndc_quantity is None or line.ndc_unit is None:
            raise ValueError(f"{where}: an NDC needs ndc_quantity and ndc_unit (CTP04, CTP05)")
        out.seg("CTP", "", "", "", format_decimal(line.ndc_quantity),
                v(line.ndc_unit, f"{where}: ndc_unit"))  # fmt: skip
        _check_ctp(line, where)
        if line.prescription_number is not None:
            out.seg("REF", "XZ", v(line.prescription_number, f"{where}: prescription_number"))
    elif line.ndc_quantity is not None or line.ndc_unit is not None:
        raise ValueError(f"{where}: ndc_quantity and ndc_unit need an NDC (loop 2410 LIN)")
    elif line.prescription_number is not None:
        raise ValueError(f"{where}: prescription_number needs an NDC (loop 2410 LIN)")
    for kind, provider in (("DK", line.ordering_provider), ("DN", line.referring_provider)):
        if provider is not None:
            npi = v(provider.npi, f"{where}: provider npi")
            out.seg("NM1", kind, "1", "PROVIDER", "DOC", "", "", "", "XX", npi)


def _check_ctp(line: ClaimLine, where: str) -> None:
    """The reader takes a dispensed amount from a CTP in ME, GR or ML: it must agree."""
    implied = {v: k for k, v in _CTP_OF_DISPENSED_UNIT.items()}.get(line.ndc_unit or "")
    dispensed = line.dispensed
    if implied is None:
        return
    if dispensed is None:
        raise ValueError(
            f"{where}: a CTP in {line.ndc_unit} is read as the dispensed amount, but the line "
            "has none"
        )
    if dispensed.unit != implied or dispensed.quantity != line.ndc_quantity:
        raise ValueError(
            f"{where}: dispensed {dispensed.quantity} {dispensed.unit} contradicts the CTP "
            f"{line.ndc_quantity} {line.ndc_unit}, which the reader takes as the dispensed amount"
        )


def reference_data(claims: Iterable[Claim]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(directory, sidecar)``: what ``write_837p`` does not carry, for ``read_837p``.

    A supplier (or ordering provider) appearing with different reference data on two claims is
    a ValueError: the directory holds one entry per NPI.
    """
    suppliers: dict[str, dict[str, Any]] = {}
    ordering: dict[str, dict[str, Any]] = {}
    sidecar: dict[str, Any] = {}

    def put(table: dict[str, dict[str, Any]], npi: str, entry: dict[str, Any], what: str) -> None:
        if table.setdefault(npi, entry) != entry:
            raise ValueError(f"{what} NPI {npi} has different reference data on two claims")

    for claim in claims:
        data = unstructure_claim(claim)
        supplier = data["supplier"]
        put(
            suppliers,
            claim.supplier.npi,
            {
                key: supplier[key]
                for key in (
                    "ptan",
                    "enrollments",
                    "accreditation",
                    "surety_bond",
                    "pharmacy_license",
                )
                # [] is kept: no enrollment is known data, unlike a missing key (unknown).
                if supplier.get(key) is not None
            },
            "supplier",
        )
        providers = [data.get("ordering_provider")] + [
            line.get("ordering_provider") for line in data["lines"]
        ]
        for provider in providers:
            if provider is not None:
                known = provider.get("pecos_enrolled")
                put(ordering, provider["npi"], {} if known is None else {"pecos_enrolled": known},
                    "ordering provider")  # fmt: skip
        entry: dict[str, Any] = {}
        if data.get("patient") is not None:
            entry["patient"] = data["patient"]
        if data.get("extensions"):
            entry["extensions"] = data["extensions"]
        lines: dict[str, Any] = {}
        for number, (line, raw) in enumerate(zip(claim.lines, data["lines"], strict=True), 1):
            fields = {
                key: raw[key]
                for key in ("days_supply", "order", "compound", "extensions")
                if raw.get(key) not in (None, {})
            }
            if line.dispensed is not None:
                if line.ndc_unit in _CTP_OF_DISPENSED_UNIT.values() and line.ndc is not None:
                    if line.dispensed.concentration_mg_per_ml is not None:
                        fields["concentration_mg_per_ml"] = raw["dispensed"][
                            "concentration_mg_per_ml"
                        ]
                else:
                    fields["dispensed"] = raw["dispensed"]
            if fields:
                lines[str(number)] = fields
        if lines:
            entry["lines"] = lines
        if entry:
            if claim.id in sidecar:
                raise ValueError(f"claim id {claim.id!r} appears twice: the sidecar is keyed by it")
            sidecar[claim.id] = entry
    return {"suppliers": suppliers, "ordering_providers": ordering}, sidecar
