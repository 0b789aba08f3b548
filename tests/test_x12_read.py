"""X12 837P in and out: tokenizer, the loop-by-loop mapping, locations, directory and sidecar,
bad input, the round trip, and JSON vs 837P giving the same findings on both backends.

Every 837P here is generated in the test (by ``write_837p`` or by hand below); no third-party
sample file is used.
"""

from __future__ import annotations

import importlib.util
import io
import json
import random
import sys
import tracemalloc
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import BACKENDS
from hcpcs_rules import parse_claim
from hcpcs_rules.cli import main
from hcpcs_rules.model import Location
from hcpcs_rules.testing import claimgen
from hcpcs_rules.x12 import (
    Directory,
    ReferenceError,
    X12Claim,
    X12Error,
    check_837p,
    load_directory,
    load_sidecar,
    payer_of,
    read_837p,
    reference_data,
    tokenize,
    write_837p,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "x12"
HAS_PYX12 = importlib.util.find_spec("pyx12") is not None

# ----------------------------------------------------------------------------- helpers

ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*^*00501*"
    "000000007*0*T*:~"
)
BILLING = ["HL*1**20*1", "PRV*BI*PXC*3336C0004X", "NM1*85*2*ACME RX*****XX*1234567893"]
SUBSCRIBER = ["HL*2*1*22*0", "SBR*P*18*******MB", "NM1*IL*1*DOE*JANE****MI*X1",
              "NM1*PR*2*DME MAC*****PI*19003"]  # fmt: skip


def claim_segments(clm01: str = "C1", lines: list[list[str]] | None = None, extra=()) -> list[str]:
    lines = lines if lines is not None else [line_segments()]
    out = [f"CLM*{clm01}*480***12:B:1*Y*A*Y*Y", *extra, "HI*ABK:J4540"]
    for number, segs in enumerate(lines, 1):
        out += [f"LX*{number}", *segs]
    return out


def line_segments(*extra: str, date: str = "DTP*472*D8*20260302") -> list[str]:
    return ["SV1*HC:J7632:KO:GA*480*UN*240*12**1", date, *extra]


def x12(*body: str, st02: str = "0001", se_count: int | None = None) -> bytes:
    """One interchange with one 837P transaction around ``body``, counts right unless told."""
    st_body = ["ST*837*" + st02 + "*005010X222A1", "BHT*0019*00*1*20260101*1200*CH", *body]
    count = len(st_body) + 1 if se_count is None else se_count
    segs = [ISA, "GS*HC*S*R*20260101*1200*5*X*005010X222A1", *st_body, f"SE*{count}*{st02}",
            "GE*1*5", "IEA*1*000000007"]  # fmt: skip
    return "\n".join(s if s.endswith("~") else s + "~" for s in segs).encode()


def standard(*claims_: list[str]) -> bytes:
    body = [*BILLING, *SUBSCRIBER]
    for c in claims_:
        body += c
    return x12(*body)


def items(data: bytes, **kw):
    reader = read_837p(data, **kw)
    return list(reader), reader.summary


def only_claim(data: bytes, **kw):
    got, _ = items(data, **kw)
    assert [type(i) for i in got] == [X12Claim], got
    return got[0].claim


def errors_of(got) -> list[str]:
    return [i.message for i in got if isinstance(i, X12Error)]


# ------------------------------------------------------------------------ tokenizer


def test_tokenizer_positions_and_line_breaks():
    data = b"\r\n" + x12("NTE*ADD*HELLO")
    segs = list(tokenize(io.BytesIO(data)))
    assert [s.id for s in segs][:4] == ["ISA", "GS", "ST", "BHT"]
    assert segs[0].offset == 2 and segs[0].ordinal == 1
    nte = next(s for s in segs if s.id == "NTE")
    assert data[nte.offset : nte.offset + 11] == b"NTE*ADD*HEL"
    assert nte.ordinal == 5


def test_tokenizer_small_reads_give_the_same_segments():
    data = standard(claim_segments())

    class Trickle(io.RawIOBase):
        def __init__(self):
            self.data, self.pos = data, 0

        def readable(self):
            return True

        def read(self, size=-1):
            chunk = self.data[self.pos : self.pos + 3]  # 3 bytes at a time
            self.pos += len(chunk)
            return chunk

    whole = [(s.elements, s.offset) for s in tokenize(io.BytesIO(data))]
    assert [(s.elements, s.offset) for s in tokenize(Trickle())] == whole


def test_each_isa_sets_its_own_delimiters():
    first = standard(claim_segments("A1"))
    second = (
        standard(claim_segments("B1"))
        .decode()
        .replace("*", "|")
        .replace("~", "!")
        .replace("HC:J7632:KO:GA", "HC>J7632>KO>GA")
        .replace("12:B:1", "12>B>1")
        .replace("ABK:", "ABK>")
    )
    second = second[:104] + ">" + second[105:]
    got, _summary = items(first + second.encode())
    assert [i.claim.id for i in got] == ["A1", "B1"], errors_of(got)
    assert got[1].claim.lines[0].modifiers == ("KO", "GA")


@pytest.mark.skipif(not HAS_PYX12, reason="pyx12 (the [x12] extra) is not installed")
@pytest.mark.parametrize("line_break", [True, False])
def test_tokenizer_reads_files_exactly_as_pyx12(line_break):
    from pyx12.rawx12file import RawX12File
    from pyx12.x12file import X12Reader

    claims = [parse_claim(d) for d in _writable(claimgen.claims(40, seed=11))]
    assert len(claims) > 20
    text = write_837p(claims, line_break=line_break) + write_837p(claims[:3], interchange=2)
    ours = [s.text for s in tokenize(io.BytesIO(text.encode()))]
    assert ours == list(RawX12File(io.StringIO(text)))
    theirs = [seg.format() for seg in X12Reader(io.StringIO(text))]
    assert [s.rstrip("~") for s in theirs] == ours


# ------------------------------------------------------------------ one test per loop


def test_2000a_billing_provider_taxonomy_and_2010aa_npi():
    claim = only_claim(standard(claim_segments()))
    assert claim.supplier.npi == "1234567893"
    assert claim.supplier.taxonomy == "3336C0004X"


@pytest.mark.parametrize(
    ("sbr09", "payer_id", "payer", "lob"),
    [
        ("MB", "19003", "medicare", "commercial"),
        ("MB", "ANYTHING", "medicare", "commercial"),
        ("16", "87726", "uhc", "medicare_advantage"),
        ("CI", "60054", "aetna", "commercial"),
        ("CI", "87726", "uhc", "commercial"),
        ("CI", "62308", "cigna", "commercial"),
        ("BL", "00570", "bcbs", "commercial"),
        ("CI", "HUM01", "HUM01", "commercial"),  # kept for the policy's [payers] to map
    ],
)
def test_2000b_sbr09_and_2010bb_payer_id(sbr09, payer_id, payer, lob):
    body = [*BILLING, "HL*2*1*22*0", f"SBR*P*18*******{sbr09}", "NM1*IL*1*DOE*J****MI*1",
            f"NM1*PR*2*P*****PI*{payer_id}", *claim_segments()]  # fmt: skip
    claim = only_claim(x12(*body))
    assert (claim.payer, claim.line_of_business) == (payer, lob)
    assert payer_of(sbr09, payer_id) == (payer, lob)


def test_payer_table_is_extended_by_the_caller():
    assert payer_of("CI", "HUM01", {"HUM01": "humana"}) == ("humana", "commercial")
    body = [*BILLING, "HL*2*1*22*0", "SBR*P*18*******CI", "NM1*PR*2*P*****PI*HUM01",
            *claim_segments()]  # fmt: skip
    assert only_claim(x12(*body), payers={"HUM01": "humana"}).payer == "humana"


def test_2300_claim_id_place_of_service_frequency_note_attachments():
    segs = claim_segments("CLAIM-9", extra=["PWK*OB*EL", "PWK*09*EL", "PWK*XX*EL",
                                            "NTE*ADD*SEE RECORDS"])  # fmt: skip
    segs[0] = "CLM*CLAIM-9*480***21:B:7*Y*A*Y*Y"
    claim = only_claim(standard(segs))
    assert (claim.id, claim.place_of_service, claim.frequency) == ("CLAIM-9", "21", "7")
    assert claim.note == "SEE RECORDS"
    assert claim.attachments == ("operative_report", "clinical_notes", "other")


def test_2300_hi_diagnoses_principal_then_others():
    segs = claim_segments()
    segs[1] = "HI*ABK:J4540*ABF:J4550*BG:01"  # a condition code is not a diagnosis
    assert only_claim(standard(segs)).diagnoses == ("J4540", "J4550")


def test_2310a_referring_provider_is_the_claims_ordering_provider():
    segs = claim_segments()
    segs.insert(2, "NM1*DN*1*WELBY*MARCUS****XX*1993999998")
    assert only_claim(standard(segs)).ordering_provider.npi == "1993999998"


def test_2400_service_line():
    line = ["SV1*HC:J7632:KO:GA:JW:KX*480.50*MJ*30*32**1:3", "DTP*472*D8*20260302",
            "NTE*ADD*LINE NOTE", "PWK*OB*EL"]  # fmt: skip
    got = only_claim(standard(claim_segments(lines=[line]))).lines[0]
    assert got.hcpcs == "J7632" and got.modifiers == ("KO", "GA", "JW", "KX")
    assert str(got.charge) == "480.5" and str(got.units) == "30" and got.unit_basis == "MJ"
    assert got.place_of_service == "32" and got.diagnosis_pointers == (1, 3)
    assert got.note == "LINE NOTE" and got.attachments == ("operative_report",)


def test_2400_dtp_472_single_date_and_range():
    single = only_claim(standard(claim_segments())).lines[0]
    assert str(single.date_of_service) == "2026-03-02" and single.date_of_service_end is None
    ranged = only_claim(
        standard(claim_segments(lines=[line_segments(date="DTP*472*RD8*20260301-20260331")]))
    ).lines[0]
    assert (str(ranged.date_of_service), str(ranged.date_of_service_end)) == (
        "2026-03-01",
        "2026-03-31",
    )


@pytest.mark.parametrize(
    ("unit", "dispensed"),
    [("ME", ("2400", "mg")), ("GR", ("2.4", "g")), ("ML", ("240", "mL")), ("F2", None),
     ("UN", None)],
)  # fmt: skip
def test_2410_ndc_with_ctp_quantity_and_unit(unit, dispensed):
    quantity = dispensed[0] if dispensed else "240"
    line = line_segments("LIN**N4*00172640649", f"CTP****{quantity}*{unit}", "REF*XZ*RX778")
    got = only_claim(standard(claim_segments(lines=[line]))).lines[0]
    assert (got.ndc, str(got.ndc_quantity), got.ndc_unit) == ("00172640649", quantity, unit)
    assert got.prescription_number == "RX778"
    if dispensed is None:
        assert got.dispensed is None
    else:
        assert (str(got.dispensed.quantity), got.dispensed.unit) == dispensed
        assert got.dispensed.concentration_mg_per_ml is None  # an 837 gives no concentration


def test_2420e_ordering_and_2420f_referring_provider_of_a_line():
    line = line_segments("NM1*DK*1*ORD*A****XX*1993999998", "NM1*DN*1*REF*B****XX*1234567893")
    got = only_claim(standard(claim_segments(lines=[line])))
    assert got.lines[0].ordering_provider.npi == "1993999998"
    assert got.lines[0].referring_provider.npi == "1234567893"
    assert got.ordering_provider is None  # the claim level is 2310A only


# ----------------------------------------------------------------------- locations


def test_claims_and_lines_carry_their_location():
    data = standard(claim_segments("C1"), claim_segments("C2", lines=[line_segments()] * 2))
    got, _ = items(data)
    first, second = got
    assert first.location == Location(interchange="000000007", group="5", transaction="0001",
                                       claim="C1", segment=12, offset=first.location.offset,
                                       segment_id="CLM")  # fmt: skip
    assert data[first.location.offset :].startswith(b"CLM*C1*")
    lx2 = second.line_locations[1]
    assert (lx2.claim, lx2.lx, lx2.segment_id) == ("C2", 2, "LX")
    assert data[lx2.offset :].startswith(b"LX*2~")


@pytest.mark.parametrize("backend", BACKENDS)
def test_findings_say_where_to_fix_them(engines, backend):
    engine = engines(backend)
    text = (EXAMPLES / "claims.837").read_bytes()
    _, outcomes = check_837p(
        engine, text, directory=load_directory(EXAMPLES / "directory.json"),
        sidecar=load_sidecar(EXAMPLES / "sidecar.json"),
    )  # fmt: skip
    results = list(outcomes)
    fee = next(r for r in results if r.claim_id == "EX-MCR-FEE")
    assert fee.location.segment_id == "CLM" and fee.location.claim == "EX-MCR-FEE"
    for finding in fee.findings:
        assert finding.location.lx == finding.line
        assert text[finding.location.offset :].startswith(f"LX*{finding.line}~".encode())
    assert fee.to_dict()["findings"][0]["location"]["claim"] == "EX-MCR-FEE"


# --------------------------------------------------------- directory and sidecar


def test_directory_and_sidecar_complete_the_claim():
    line = line_segments("LIN**N4*00172640649", "CTP****240*ML")
    data = standard(claim_segments("C1", lines=[line]))
    directory = load_directory({
        "suppliers": {"1234567893": {"ptan": "AB1234", "enrollments": [
            {"payer": "medicare", "status": "active", "effective": "2019-01-01"}]}},
    })  # fmt: skip
    sidecar = load_sidecar({"C1": {"patient": {"inpatient_stay": False}, "lines": {
        "1": {"days_supply": 30, "concentration_mg_per_ml": "10"}}}})  # fmt: skip
    claim = only_claim(data, directory=directory, sidecar=sidecar)
    assert claim.supplier.ptan == "AB1234" and claim.supplier.enrollments[0].payer == "medicare"
    assert claim.patient.inpatient_stay is False and claim.lines[0].days_supply == 30
    assert str(claim.lines[0].dispensed.concentration_mg_per_ml) == "10"


def test_a_supplier_missing_from_the_directory_is_read_with_its_data_unknown():
    # Not refused and not "unenrolled": tests/test_x12_reference.py checks what the rules make of it.
    data = standard(claim_segments("C1"))
    got, summary = items(data, directory=Directory())
    (claim,) = got
    supplier = claim.claim.supplier
    assert (supplier.npi, supplier.enrollments, supplier.accreditation) == (
        "1234567893",
        None,
        None,
    )
    assert (summary.claims_read, summary.claims_parsed, summary.claims_refused) == (1, 1, 0)


def test_an_ordering_provider_missing_from_the_directory_has_pecos_unknown():
    segs = claim_segments("C1")
    segs.insert(2, "NM1*DN*1*WELBY*MARCUS****XX*1993999998")
    directory = Directory(suppliers={"1234567893": {}})
    assert only_claim(standard(segs), directory=directory).ordering_provider.pecos_enrolled is None
    known = Directory(suppliers={"1234567893": {}},
                      ordering_providers={"1993999998": {"pecos_enrolled": True}})  # fmt: skip
    assert only_claim(standard(segs), directory=known).ordering_provider.pecos_enrolled is True


def test_check_837p_needs_a_directory(engines):
    with pytest.raises(ValueError, match="supplier directory"):
        check_837p(engines("python"), b"", directory=None)


def test_sidecar_problems_are_refusals_with_reasons():
    line = line_segments("LIN**N4*00172640649", "CTP****2400*ME")
    data = standard(claim_segments("C1", lines=[line]))
    for entry, text in [
        ({"lines": {"2": {"days_supply": 30}}}, "has no LX*2"),
        ({"lines": {"1": {"dispensed": {"quantity": "1", "unit": "g"}}}}, "give one or the other"),
        ({"lines": {"1": {"concentration_mg_per_ml": "10"}}}, "not in mL"),
    ]:
        (error,) = items(data, sidecar=load_sidecar({"C1": entry}))[0]
        assert text in error.message
    bad_value = load_sidecar({"C1": {"lines": {"1": {"days_supply": -3}}}})
    (error,) = items(data, sidecar=bad_value)[0]
    assert error.errors[0][0] == "$.lines[0].days_supply"


def test_reference_files_are_read_strictly(tmp_path):
    for text, fragment in [
        ('{"suppliers": {"1": {"ptan": "A"}}, "suppliers": {}}', "duplicate key"),
        ('{"suppliers": {"1": {"bond": {}}}}', "unknown key 'bond'"),
        ('{"vendors": {}}', "unknown key 'vendors'"),
        ('{"suppliers": {"1": {"surety_bond": {"amount": 50000.0}}}}', "float"),
    ]:
        path = tmp_path / "dir.json"
        path.write_text(text)
        with pytest.raises(ReferenceError, match=fragment):
            load_directory(path)
    with pytest.raises(ReferenceError, match="cannot read"):
        load_sidecar(tmp_path / "missing.json")


# -------------------------------------------------------------------------- bad input


def test_not_x12_and_empty():
    (error,) = items(b'{"id": "x"}')[0]
    assert "must start with an ISA" in error.message
    (error,) = items(b"")[0]
    assert "empty" in error.message


def test_unusable_delimiters():
    data = standard(claim_segments()).decode()
    data = data[:104] + "*" + data[105:]  # component separator = element separator
    (error,) = items(data.encode())[0]
    assert "usable delimiters" in error.message and error.location.segment == 1


def test_wrong_segment_count_is_reported_and_the_claims_still_read():
    body = [*BILLING, *SUBSCRIBER, *claim_segments("C1"), *claim_segments("C2")]
    got, summary = items(x12(*body, se_count=99))
    assert [i.claim.id for i in got if isinstance(i, X12Claim)] == ["C1", "C2"]
    (message,) = errors_of(got)
    assert "SE01 says '99' segments" in message
    assert summary.errors == 1


def test_envelope_mismatches():
    data = (
        standard(claim_segments())
        .replace(b"GE*1*5", b"GE*2*6")
        .replace(b"IEA*1*000000007", b"IEA*1*000000008")
    )
    messages = errors_of(items(data)[0])
    assert any("GE01 says '2' transactions" in m for m in messages)
    assert any("GE02 '6' does not match GS06 '5'" in m for m in messages)
    assert any("IEA02 '000000008' does not match ISA13" in m for m in messages)


def test_truncated_file_refuses_the_unfinished_claim_only():
    data = standard(claim_segments("C1"), claim_segments("C2"))
    cut = data[: data.index(b"DTP*472", data.index(b"CLM*C2")) + 5]
    got, summary = items(cut)
    assert isinstance(got[0], X12Claim) and got[0].claim.id == "C1"
    assert got[1].claim_id == "C2" and "truncated" in got[1].message
    assert (summary.claims_read, summary.claims_parsed, summary.claims_refused) == (2, 1, 1)


def test_unknown_segment_refuses_its_claim_and_the_next_claim_is_read():
    bad = claim_segments("C1", lines=[line_segments("ZZZ*1")])
    got, summary = items(standard(bad, claim_segments("C2")))
    assert got[0].claim_id == "C1" and "unknown or misplaced segment 'ZZZ'" in got[0].message
    assert got[0].location.segment_id == "ZZZ" and got[0].location.lx == 1
    assert got[1].claim.id == "C2"
    assert (summary.claims_read, summary.claims_parsed, summary.claims_refused) == (2, 1, 1)


@pytest.mark.parametrize(
    ("segs", "fragment"),
    [
        (
            ["CLM*C1*480***12:B:1", "HI*ABK:J4540", "SV1*HC:J7632*1*UN*1"],
            "belongs to a service line",
        ),
        (["CLM*C1*480***12:B:1", "LX*1", "DTP*472*D8*20260302"], "has no SV1"),
        (["CLM*C1*480***12:B:1", "LX*1", "SV1*HC:J7632*1*UN*1"], "has no DTP*472"),
        (["CLM*C1*480***12:B:1"], "no service line"),
        (["CLM*C1*480", "LX*1", *line_segments()], "CLM05-1"),
        (["CLM**480***12:B:1", "LX*1", *line_segments()], "CLM01"),
        (["CLM*C1*480***12:B:1", "LX*1", *line_segments(date="DTP*472*D8*2026-03-02")], "D8"),
        (["CLM*C1*480***12:B:1", "LX*1", *line_segments("CTP****1*ME")], "after LIN"),
        (["CLM*C1*480***12:B:1", "LX*1", "SV1*HC:J7632*1*UN", "DTP*472*D8*20260302"], "SV104"),
        (["CLM*C1*480***12:B:1", "HI*BK:4939", "LX*1", *line_segments()], "ICD-9"),
    ],
)
def test_claims_missing_or_misplacing_required_parts_are_refused(segs, fragment):
    got, summary = items(standard(segs, claim_segments("GOOD")))
    assert got[0].claim_id in ("C1", None) and fragment in got[0].message, got[0].message
    assert got[1].claim.id == "GOOD"
    assert summary.claims_refused == 1


def test_claim_errors_from_the_contract_keep_their_json_paths():
    line = ["SV1*HC:J7632*480*UN*NaN*12**1", "DTP*472*D8*20260302"]
    (error,) = items(standard(claim_segments("C1", lines=[line])))[0]
    assert error.errors[0][0] == "$.lines[0].units" and error.location.claim == "C1"


def test_segments_outside_a_claim_and_other_transactions():
    messages = errors_of(items(x12(*BILLING, "LX*1", *SUBSCRIBER, "ZZZ*1"))[0])
    assert any("LX is misplaced" in m for m in messages)
    assert any("unknown segment 'ZZZ'" in m for m in messages)
    other = x12("NM1*85*2*X").replace(b"ST*837*0001*005010X222A1", b"ST*835*0001*005010X221A1")
    assert any("is not an 837P" in m for m in errors_of(items(other)[0]))


def test_non_ascii_segment_refuses_its_claim():
    segs = claim_segments("C1", extra=["NTE*ADD*CAF\u00c9"])
    data = standard(segs, claim_segments("C2"))
    got, _ = items(data)
    assert "not ASCII" in got[0].message and got[1].claim.id == "C2"


# ---------------------------------------------------------------------- round trip

SAFE_TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-", min_size=1, max_size=80)
NPI = st.sampled_from(["1234567893", "1993999998", "1245319599", "1003000126"])
DATE = st.dates(min_value=__import__("datetime").date(2006, 1, 1),
                max_value=__import__("datetime").date(2030, 12, 31))  # fmt: skip
DECIMAL = st.decimals(min_value=1, max_value=99999, places=2).map(str)


@st.composite
def x12_claims(draw, reference: bool):
    """Claim data in the subset of the contract an 837P expresses (docs/x12.md), plus, with
    ``reference``, what the directory and the sidecar carry."""
    payer = draw(st.sampled_from(["medicare", "aetna", "uhc", "cigna", "bcbs", "HUM01"]))
    data = {
        "id": draw(st.text(alphabet="ABCXYZ0123456789-", min_size=1, max_size=20)),
        "payer": payer,
        "place_of_service": draw(st.sampled_from(["12", "01", "31", "99"])),
        "frequency": draw(st.sampled_from(["1", "7", "8"])),
        "supplier": {"npi": draw(NPI)},
        "lines": [],
    }
    if payer != "medicare" and draw(st.booleans()):
        data["line_of_business"] = "medicare_advantage"
    if draw(st.booleans()):
        data["supplier"]["taxonomy"] = "3336C0004X"
    data["diagnoses"] = draw(st.lists(st.sampled_from(["J4540", "J45.50", "R05"]), max_size=12))
    if draw(st.booleans()):
        data["ordering_provider"] = {"npi": draw(NPI)}
    if draw(st.booleans()):
        data["note"] = draw(SAFE_TEXT)
    data["attachments"] = draw(st.lists(st.sampled_from(["operative_report", "clinical_notes",
                                                         "other"]), max_size=2))  # fmt: skip
    for _ in range(draw(st.integers(1, 4))):
        day = draw(DATE)
        line = {
            "hcpcs": draw(st.sampled_from(["J7632", "J7631", "Q0513", "E0570"])),
            "units": draw(st.sampled_from(["240", "0", "2.5", "1"])),
            "unit_basis": draw(st.sampled_from(["UN", "MJ"])),
            "charge": draw(DECIMAL),
            "date_of_service": day.isoformat(),
            "modifiers": draw(
                st.lists(st.sampled_from(["KO", "GA", "GZ", "KX", "22"]), max_size=4)
            ),
            "diagnosis_pointers": draw(st.lists(st.integers(1, 12), max_size=4)),
        }
        if draw(st.booleans()):
            line["date_of_service_end"] = (day + __import__("datetime").timedelta(
                days=draw(st.integers(1, 40)))).isoformat()  # fmt: skip
        if draw(st.booleans()):
            line["place_of_service"] = draw(st.sampled_from(["12", "32"]))
        if draw(st.booleans()):
            quantity = draw(DECIMAL)
            unit = draw(st.sampled_from(["ME", "GR", "ML", "F2", "UN"]))
            line |= {"ndc": "00172640649", "ndc_quantity": quantity, "ndc_unit": unit}
            if unit in ("ME", "GR", "ML"):
                line["dispensed"] = {"quantity": quantity,
                                     "unit": {"ME": "mg", "GR": "g", "ML": "mL"}[unit]}  # fmt: skip
                if unit == "ML" and reference and draw(st.booleans()):
                    line["dispensed"]["concentration_mg_per_ml"] = "10"
            if draw(st.booleans()):
                line["prescription_number"] = "RX" + str(draw(st.integers(1, 99999)))
        elif reference and draw(st.booleans()):
            line["dispensed"] = {"quantity": draw(DECIMAL), "unit": draw(st.sampled_from(
                ["mg", "mcg", "g"]))}  # fmt: skip
        if draw(st.booleans()):
            line["note"] = draw(SAFE_TEXT)
        line["attachments"] = draw(st.lists(st.sampled_from(["operative_report", "other"]),
                                            max_size=2))  # fmt: skip
        for key in ("ordering_provider", "referring_provider"):
            if draw(st.booleans()):
                line[key] = {"npi": draw(NPI)}
        if reference:
            if draw(st.booleans()):
                line["days_supply"] = draw(st.integers(1, 90))
            if draw(st.booleans()):
                line["order"] = {"dose_mg": "20", "times_per_day": draw(st.integers(1, 6))}
            if draw(st.booleans()):
                line["compound"] = {"bulk_ingredients": draw(st.booleans())}
        data["lines"].append(line)
    if reference:
        # One NPI, one directory entry: the same reference data wherever it appears.
        data["supplier"] |= {
            "ptan": "AB1234",
            "enrollments": [{"payer": "medicare", "status": "active", "effective": "2019-01-01"}],
            "accreditation": {"status": "accredited", "expires": "2027-06-30"},
        }
        for provider in [data.get("ordering_provider")] + [
            line.get("ordering_provider") for line in data["lines"]
        ]:
            if provider is not None:
                provider["pecos_enrolled"] = provider["npi"] != "1993999998"
        if draw(st.booleans()):
            data["patient"] = {"snf_part_a_stay": draw(st.booleans())}
    return data


@given(st.lists(x12_claims(reference=False), min_size=1, max_size=3, unique_by=lambda d: d["id"]))
def test_round_trip_837_alone(datas):
    claims = [parse_claim(d) for d in datas]
    got, summary = items(write_837p(claims).encode())
    assert [i.claim for i in got] == claims, errors_of(got)
    assert summary.claims_parsed == len(claims)


@given(st.lists(x12_claims(reference=True), min_size=1, max_size=3, unique_by=lambda d: d["id"]))
def test_round_trip_with_directory_and_sidecar(datas):
    claims = [parse_claim(d) for d in datas]
    directory, sidecar = reference_data(claims)
    got, _ = items(
        write_837p(claims, line_break=False).encode(),
        directory=load_directory(directory),
        sidecar=load_sidecar(sidecar),
    )
    assert [i.claim for i in got] == claims, errors_of(got)


def test_writer_refuses_what_an_837_cannot_say():
    base = {"id": "W1", "payer": "aetna", "place_of_service": "12", "supplier": {"npi": "1"},
            "lines": [{"hcpcs": "J7632", "units": "1", "charge": "1",
                       "date_of_service": "2026-03-02"}]}  # fmt: skip
    cases = [
        ({"place_of_service": None}, "CLM05-1"),
        ({"lines": [{"hcpcs": "J7632", "units": "1", "date_of_service": "2026-03-02"}]}, "SV102"),
        ({"lines": [{"hcpcs": "J7632", "units": "1", "charge": "1"}]}, "DTP*472"),
        ({"note": "A~B"}, "delimiter"),
        ({"lines": [{"hcpcs": "J7632", "units": "1", "charge": "1", "date_of_service":
                     "2026-03-02", "ndc": "1", "ndc_quantity": "5", "ndc_unit": "ME",
                     "dispensed": {"quantity": "6", "unit": "mg"}}]}, "contradicts"),
    ]  # fmt: skip
    for change, fragment in cases:
        with pytest.raises(ValueError, match=fragment.replace("*", r"\*")):
            write_837p([parse_claim({**base, **change})])


# ------------------------------------------------------------ JSON vs 837P findings


def _writable(datas):
    """The generated claims the contract accepts and an 837P can carry (each a fresh id)."""
    out = []
    for index, data in enumerate(datas):
        # An 837P needs a claim place of service and a charge per line; these load claims
        # often leave them out, so they get the first line's and a fixed charge (the JSON side
        # is evaluated with the same values).
        data = {**data, "lines": [dict(line) for line in data.get("lines") or []]}
        if data.get("place_of_service") is None and data["lines"]:
            data["place_of_service"] = data["lines"][0].get("place_of_service") or "12"
        for line in data["lines"]:
            line.setdefault("charge", "10.00")
        try:
            claim = parse_claim(data)
            write_837p([claim])
        except ValueError:
            continue
        if claim.extensions:
            continue
        out.append(data | {"id": f"G{index}"})
    return out


def _json_and_837_agree(engine, datas):
    claims = [parse_claim(d) for d in datas]
    # The directory holds one entry per NPI, so each claim gets its own NPI here.
    claims = [
        attrs.evolve(
            c,
            supplier=attrs.evolve(c.supplier, npi=f"N{i}"),
            ordering_provider=c.ordering_provider
            and attrs.evolve(c.ordering_provider, npi=f"O{i}"),
        )
        for i, c in enumerate(claims)
    ]
    directory, sidecar = reference_data(claims)
    _, outcomes = check_837p(engine, write_837p(claims).encode(),
                             directory=load_directory(directory),
                             sidecar=load_sidecar(sidecar))  # fmt: skip
    from_837 = list(outcomes)
    assert not [o for o in from_837 if isinstance(o, X12Error)], errors_of(from_837)
    assert len(from_837) == len(claims)
    for claim, result in zip(claims, from_837, strict=True):
        expected = engine.evaluate(claim)
        unlocated = [attrs.evolve(f, location=None) for f in result.findings]
        assert unlocated == list(expected.findings), claim.id
        assert (result.status, result.lines) == (expected.status, expected.lines)
        assert all(f.location is not None for f in result.findings)


@pytest.mark.parametrize("backend", BACKENDS)
def test_json_and_837_give_the_same_findings(engines, backend):
    datas = _writable(claimgen.claims(120, seed=7))
    assert len(datas) > 40
    _json_and_837_agree(engines(backend), datas)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_example_837_gives_the_json_examples_findings(engines, backend):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import make
    finally:
        sys.path.remove(str(EXAMPLES))
    for name, text in make.files().items():
        assert (EXAMPLES / name).read_text() == text, f"{name}: run examples/x12/make.py"
    engine = engines(backend)
    _, outcomes = check_837p(engine, EXAMPLES / "claims.837",
                             directory=load_directory(EXAMPLES / "directory.json"),
                             sidecar=load_sidecar(EXAMPLES / "sidecar.json"))  # fmt: skip
    results = list(outcomes)
    for claim, result in zip(make.claims(), results, strict=True):
        expected = engine.evaluate(claim)
        assert [attrs.evolve(f, location=None) for f in result.findings] == list(expected.findings)
    assert {r.status for r in results} >= {"deny", "clean"}


# --------------------------------------------------------------------------- the CLI


def test_cli_checks_x12_by_content_with_locations(tmp_path, capsys):
    copy = tmp_path / "claims.txt"  # not named .837: recognised by content
    copy.write_bytes((EXAMPLES / "claims.837").read_bytes())
    args = ["check", str(copy), "--directory", str(EXAMPLES / "directory.json"),
            "--sidecar", str(EXAMPLES / "sidecar.json"), "--format", "json"]  # fmt: skip
    assert main(args) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 5
    finding = records[0]["findings"][0]
    assert finding["location"]["claim"] == "EX-MCR-GA" and finding["location"]["lx"] == 1
    assert records[0]["location"]["segment_id"] == "CLM"


def test_cli_x12_text_summary_counts_refusals(tmp_path, capsys):
    path = tmp_path / "in.837"
    path.write_bytes(standard(claim_segments("C1"), claim_segments("C2", lines=[["ZZZ"]])))
    directory = tmp_path / "dir.json"
    directory.write_text(json.dumps({"suppliers": {"1234567893": {}}}))
    assert main(["check", str(path), "--directory", str(directory)]) == 2
    out = capsys.readouterr().out
    assert "2 claims read: 1 checked" in out and "1 refused" in out
    assert "refused  ISA 000000007 GS 5 ST 0001 CLM C2" in out


def test_cli_x12_needs_a_directory(capsys):
    assert main(["check", str(EXAMPLES / "claims.837")]) == 2
    assert "needs --directory" in capsys.readouterr().err


def test_cli_json_findings_are_located_by_json_path(capsys):
    assert main(["check", str(ROOT / "examples" / "medicare-j7632-ga.json"), "--format",
                 "json"]) == 0  # fmt: skip
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["findings"][0]["location"]["json_path"] == "$.lines[0]"


# ------------------------------------------------------------------------ memory


class _Repeat(io.RawIOBase):
    """An 837P of ``count`` claims made on the fly, so the test's own memory stays flat."""

    def __init__(self, count: int):
        head = standard().decode()
        self.parts = [head[: head.index("SE*")].encode()]
        self.block = "".join(s + "~\n" for s in claim_segments("C")).encode()
        self.count, self.buffer = count, b""

    def readable(self):
        return True

    def read(self, size=-1):
        while len(self.buffer) < size and self.count:
            self.buffer += self.block
            self.count -= 1
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return self.parts.pop() + chunk if self.parts else chunk


def _peak(count: int) -> int:
    tracemalloc.start()
    try:
        for _ in read_837p(_Repeat(count)):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_file():
    # The small file must fill the tokenizer's 64 KiB read chunk too (1,000 claims of ~106 bytes):
    # at 200 claims (21 KB) its peak stayed under one chunk and the comparison failed whenever
    # nothing else had warmed the process, measuring the chunk rather than growth.
    small, large = _peak(1000), _peak(4000)
    assert large < small * 1.5 + 200_000, (small, large)


def test_random_garbage_never_crashes():
    rng = random.Random(5)
    base = standard(claim_segments("C1"), claim_segments("C2"))
    for _ in range(200):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.choice(b"*~:^ZA9\n\x00\xff")
        _got, summary = items(bytes(data))
        assert summary.claims_read == summary.claims_parsed + summary.claims_refused


def test_cli_x12_json_error_records_carry_locations(tmp_path, capsys):
    path = tmp_path / "in.837"
    path.write_bytes(standard(claim_segments("C1", lines=[["ZZZ"]])))
    directory = tmp_path / "dir.json"
    directory.write_text(json.dumps({"suppliers": {"1234567893": {}}}))
    assert main(["check", str(path), "--directory", str(directory), "--format", "json"]) == 2
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["claim_id"] == "C1" and record["location"]["segment_id"] == "ZZZ"
    assert record["location"]["lx"] == 1 and record["location"]["transaction"] == "0001"


def test_cli_refuses_mixing_x12_and_json(capsys):
    args = ["check", str(EXAMPLES / "claims.837"), str(ROOT / "examples" / "aetna-clean.json"),
            "--directory", str(EXAMPLES / "directory.json")]  # fmt: skip
    assert main(args) == 2
    assert "separate runs" in capsys.readouterr().err


def test_sidecar_entries_for_claims_not_in_the_file_are_reported(tmp_path, capsys):
    sidecar = {"C1": {"patient": {"inpatient_stay": False}}, "C9": {}, "C8": {}}
    got, summary = items(standard(claim_segments("C1")), sidecar=load_sidecar(sidecar))
    assert got[0].claim.patient.inpatient_stay is False
    assert summary.sidecar_unused == ["C8", "C9"]
    path, side = tmp_path / "in.837", tmp_path / "side.json"
    path.write_bytes(standard(claim_segments("C1")))
    side.write_text(json.dumps(sidecar))
    directory = tmp_path / "dir.json"
    directory.write_text(json.dumps({"suppliers": {"1234567893": {}}}))
    main(["check", str(path), "--directory", str(directory), "--sidecar", str(side)])
    assert f"{path}: the sidecar has entries for claims not in this file: C8, C9" in (
        capsys.readouterr().err
    )


def test_a_sidecar_shared_by_several_files_names_only_claims_no_file_had(tmp_path, capsys):
    """Each file alone would call the other's claims unused: the report waits for all files."""
    sidecar = {"C1": {}, "C2": {}, "C9": {}}
    first, second, side = tmp_path / "a.837", tmp_path / "b.837", tmp_path / "side.json"
    first.write_bytes(standard(claim_segments("C1")))
    second.write_bytes(standard(claim_segments("C2")))
    side.write_text(json.dumps(sidecar))
    _, summary = items(standard(claim_segments("C1")), sidecar=load_sidecar(sidecar))
    assert summary.sidecar_used == ["C1"] and summary.sidecar_unused == ["C2", "C9"]
    directory = tmp_path / "dir.json"
    directory.write_text(json.dumps({"suppliers": {"1234567893": {}}}))
    args = ["--directory", str(directory), "--sidecar", str(side)]
    main(["check", str(first), str(second), *args])
    err = capsys.readouterr().err
    assert "the sidecar has entries for claims not in any of the 2 files: C9\n" in err
    assert "C1" not in err and "C2" not in err
    sidecar.pop("C9")
    side.write_text(json.dumps(sidecar))
    main(["check", str(first), str(second), *args])
    assert "sidecar" not in capsys.readouterr().err


def test_a_path_or_bytes_reads_again_and_a_stream_once(tmp_path):
    data = standard(claim_segments("R1"), claim_segments("R2"))
    path = tmp_path / "two.837"
    path.write_bytes(data)
    for source in (data, path):
        reader = read_837p(source)
        first = [item.claim.id for item in reader]
        assert first == ["R1", "R2"] and reader.summary.claims_read == 2
        # A second pass reads the file anew, with a summary of its own.
        assert [item.claim.id for item in reader] == first and reader.summary.claims_read == 2
    stream = read_837p(io.BytesIO(data))
    assert len(list(stream)) == 2
    with pytest.raises(ValueError, match="can be read once"):
        list(stream)


def test_an_abandoned_pass_closes_its_file(tmp_path, monkeypatch):
    data = standard(claim_segments("R1"), claim_segments("R2"))
    path = tmp_path / "two.837"
    path.write_bytes(data)
    opened = []
    real_open = open

    def spying_open(*args, **kwargs):
        handle = real_open(*args, **kwargs)
        opened.append(handle)
        return handle

    monkeypatch.setattr("builtins.open", spying_open)
    walk = iter(read_837p(path))
    assert next(walk).claim.id == "R1"
    assert len(opened) == 1 and not opened[0].closed
    walk.close()  # the caller stops after the first claim
    assert opened[0].closed
