"""The 277CA (005010X214) answering a checked 837P, and the 999 of pyx12's validation.

Every 837P here is generated in the test (``write_837p`` or the helpers of test_x12_read); the
277CAs are validated with pyx12's own X214 map, which is the issue's "done when".
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import attrs
import pytest

from conftest import BACKENDS
from hcpcs_rules import parse_claim
from hcpcs_rules.cli import main
from hcpcs_rules.model import Finding, Location, ReasonCodes, Result
from hcpcs_rules.testing import claimgen
from hcpcs_rules.x12 import (
    X12Error,
    acknowledge,
    check_837p,
    iter_277ca,
    load_directory,
    load_sidecar,
    reference_data,
    validate_x12,
    write_277ca,
    write_837p,
)
from hcpcs_rules.x12.ack import STC12_MAX, stc_message
from test_x12_read import _writable, claim_segments, line_segments, standard, x12

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "x12"
HAS_PYX12 = importlib.util.find_spec("pyx12") is not None
needs_pyx12 = pytest.mark.skipif(not HAS_PYX12, reason="pyx12 (the [x12] extra) is not installed")
WHEN = dt.datetime(2026, 3, 3, 9, 30)


def segments(text: str) -> list[list[str]]:
    return [s.strip().split("*") for s in text.split("~") if s.strip()]


def claim_stcs(text: str) -> dict[str, list[list[str]]]:
    """CLM01 (2200D TRN02) -> that claim's STC segments."""
    out: dict[str, list[list[str]]] = {}
    current = None
    for seg in segments(text):
        if seg[0] == "TRN" and seg[1] == "2" and current is not None:
            current = seg[2]
            out[current] = []
        elif seg[0] == "HL":
            current = "" if seg[3] == "PT" else None
        elif seg[0] == "STC" and current:
            out[current].append(seg)
    return out


def assert_valid(text: str) -> None:
    validation = validate_x12(text.encode("ascii"))
    assert validation.valid, validation.problems
    assert "AK9*A" in validation.ack999


def example_277ca(engine) -> str:
    return acknowledge(
        engine, EXAMPLES / "claims.837", directory=load_directory(EXAMPLES / "directory.json"),
        sidecar=load_sidecar(EXAMPLES / "sidecar.json"), now=WHEN,
    )  # fmt: skip


# ------------------------------------------------------------- valid against the guide


@needs_pyx12
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_example_277ca_validates_and_is_the_shipped_one(engines, backend):
    # Both backends give the shipped file byte for byte.
    text = example_277ca(engines(backend))
    assert_valid(text)
    assert (EXAMPLES / "claims.277ca").read_text() == text, "run examples/x12/make.py"


@needs_pyx12
@pytest.mark.parametrize("backend", BACKENDS)
def test_generated_claims_give_a_valid_277ca_with_one_stc_per_finding(engines, backend):
    engine = engines(backend)
    claims = [parse_claim(d) for d in _writable(claimgen.claims(60, seed=11))]
    # The directory holds one entry per NPI, so each claim gets its own NPIs here.
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
    data = write_837p(claims).encode()
    directory, sidecar = load_directory(directory), load_sidecar(sidecar)
    _, outcomes = check_837p(engine, data, directory=directory, sidecar=sidecar)
    outcomes = list(outcomes)
    text = write_277ca(outcomes, data, now=WHEN)
    assert_valid(text)
    stcs = claim_stcs(text)
    assert len(stcs) == len(outcomes) == len(claims)
    for outcome in outcomes:
        if isinstance(outcome, X12Error):
            assert [s[1] for s in stcs[outcome.claim_id]] == ["A3:23:41"]
            continue
        assert len(stcs[outcome.claim_id]) == max(1, len(outcome.findings))
        rejected = any(f.severity == "reject" for f in outcome.findings)
        assert {s[3] for s in stcs[outcome.claim_id]} == {"U" if rejected else "WQ"}


# ---------------------------------------------------------------- the STC mapping


def _finding(severity, rule="R-1", line=1, message="m", codes=None):
    return Finding(rule_id=rule, severity=severity, line=line, message=message, source="src",
                   reason_codes=codes)  # fmt: skip


def _results_for(data: bytes, findings_by_claim: dict[str, list[Finding]]) -> list[Result]:
    out = []
    for seg in segments(data.decode()):
        if seg[0] == "CLM":
            findings = findings_by_claim[seg[1]]
            where = Location(interchange="000000007", group="5", transaction="0001", claim=seg[1])
            status = min((f.severity for f in findings), default="clean", key=["reject", "deny",
                         "warn", "info"].index)  # fmt: skip
            status = status if status != "info" else "clean"
            out.append(Result(claim_id=seg[1], status=status, findings=tuple(findings), lines=(),
                              rulesets=(), location=where))  # fmt: skip
    return out


KINDS = {
    "REJ": [
        _finding("reject", codes=ReasonCodes(group="CO", carc="16", rarc=("M119",))),
        _finding("warn"),
    ],
    "DEN": [_finding("deny", codes=ReasonCodes(group="PR", carc="50"))],
    "WRN": [_finding("warn")],
    "INF": [_finding("info", line=None)],
    "CLN": [],
}


def _kinds_file() -> bytes:
    return standard(*(claim_segments(name) for name in [*KINDS, "BAD"]))


def test_one_stc_per_finding_kind():
    data = _kinds_file()
    outcomes: list = _results_for(data, {**KINDS, "BAD": []})[:-1]
    refusal = X12Error(
        "claim BAD: CLM05 is empty", Location(interchange="000000007", group="5",
        transaction="0001", claim="BAD", segment=40, segment_id="CLM"), claim_id="BAD",
        errors=(("$.place_of_service", "required"),),
    )  # fmt: skip
    outcomes.append(refusal)
    text = write_277ca(outcomes, data, now=WHEN)
    stcs = claim_stcs(text)
    codes = {claim: [(s[1], s[3]) for s in segs] for claim, segs in stcs.items()}
    # A rejecting finding comes first; the claim's action (U) stands on each of its STCs.
    assert codes["REJ"] == [("A3:23:41", "U"), ("A2:20:41", "U")]
    assert stcs["REJ"][0][12] == "R-1 LX 1 CO-16 M119 - m"
    # A denial is the payer's answer after adjudication, not a front-end rejection.
    assert codes["DEN"] == [("A2:20:41", "WQ")] and stcs["DEN"][0][12] == "R-1 LX 1 PR-50 - m"
    assert codes["WRN"] == [("A2:20:41", "WQ")]
    assert codes["INF"] == [("A2:20:41", "WQ")] and stcs["INF"][0][12] == "R-1 - m"
    assert codes["CLN"] == [("A2:20:41", "WQ")] and len(stcs["CLN"][0]) == 5  # no STC12
    assert codes["BAD"] == [("A3:23:41", "U")]
    assert stcs["BAD"][0][12] == "refused - claim BAD CLM05 is empty; $.place_of_service required"
    # Accepted claims get the scrubber's control number; rejected ones none.
    refs = [s for s in segments(text) if s[0] == "REF"]
    assert len(refs) == 4 and all(r[1] == "1K" for r in refs)
    if HAS_PYX12:
        assert_valid(text)


def test_which_severities_reject_is_a_choice():
    data = _kinds_file()
    outcomes = _results_for(data, {**KINDS, "BAD": []})
    stcs = claim_stcs(write_277ca(outcomes, data, now=WHEN, rejecting=("reject", "deny")))
    assert [(s[1], s[3]) for s in stcs["DEN"]] == [("A3:23:41", "U")]
    assert [(s[1], s[3]) for s in stcs["WRN"]] == [("A2:20:41", "WQ")]


def test_stc12_is_cut_to_264_characters_and_safe_in_an_element():
    long = "caf\u00e9 *total* ~x~ a:b^c\n" + "word " * 100
    finding = _finding("reject", message=long)
    text = stc_message(finding)
    assert len(text) == STC12_MAX and text.endswith("...")
    assert not set("*~:^\n") & set(text) and text.isascii() and "caf? total x a b c" in text
    short = stc_message(_finding("warn", message="fine"))
    assert short == "R-1 LX 1 - fine"
    data = _kinds_file()
    outcomes = _results_for(data, {**KINDS, "BAD": [finding]})
    out = write_277ca(outcomes, data, now=WHEN)
    assert claim_stcs(out)["BAD"][0][12] == text
    if HAS_PYX12:
        assert_valid(out)


# ----------------------------------------------------- envelope, counts, control numbers


def _two_transactions() -> bytes:
    one = standard(claim_segments("A1"), claim_segments("A2")).decode()
    first = one[: one.index("GE*")]
    second = (
        one[one.index("ST*") : one.index("GE*")]
        .replace("ST*837*0001", "ST*837*0002")
        .replace("*0001~", "*0002~")
        .replace("CLM*A1", "CLM*B1")
        .replace("CLM*A2", "CLM*B2")
    )
    return (first + second + "GE*2*5~\nIEA*1*000000007~\n").encode()


def test_control_numbers_and_segment_counts(engines):
    data = _two_transactions()
    engine = engines("python")
    directory = load_directory({"suppliers": {"1234567893": {"enrollments": []}}})
    text = acknowledge(engine, data, directory=directory, now=WHEN, control_number=42)
    segs = segments(text)
    assert [s[0] for s in segs[:2]] == ["ISA", "GS"] and [s[0] for s in segs[-2:]] == ["GE", "IEA"]
    isa = text.split("~")[0]
    assert len(isa) == 105 and segs[0][13] == "000000042" and segs[0][16] == ":"
    assert segs[0][6].strip() == "RECEIVER" and segs[0][8].strip() == "SENDER"
    assert (
        segs[1][6] == "42"
        and segs[-2] == ["GE", "2", "42"]
        and segs[-1] == ["IEA", "1", "000000042"]
    )
    starts = [i for i, s in enumerate(segs) if s[0] == "ST"]
    ends = [i for i, s in enumerate(segs) if s[0] == "SE"]
    assert [segs[i][2] for i in starts] == ["0001", "0002"]
    for start, end in zip(starts, ends, strict=True):
        assert segs[end] == ["SE", str(end - start + 1), segs[start][2]]
    # Each transaction's 2200B echoes the 837's BHT03 and totals its claims' charges.
    assert next(s for s in segs if s[0] == "TRN" and s[1] == "2") == ["TRN", "2", "1"]
    assert [s[4] for s in segs if s[0] == "STC" and s[1].startswith("A1:19:AY")] == ["960", "960"]
    assert sorted(claim_stcs(text)) == ["A1", "A2", "B1", "B2"]
    if HAS_PYX12:
        assert_valid(text)


def test_the_277ca_streams_a_transaction_at_a_time(engines):
    data = _two_transactions()
    directory = load_directory({"suppliers": {"1234567893": {"enrollments": []}}})
    _, outcomes = check_837p(engines("python"), data, directory=directory)
    outcomes = list(outcomes)
    taken = []

    def lazily():
        for outcome in outcomes:
            taken.append(outcome)
            yield outcome

    pieces = iter_277ca(lazily(), data, now=WHEN, control_number=42)
    head = next(pieces)
    assert [s[0] for s in segments(head)] == ["ISA", "GS"] and len(taken) == 1
    first = next(pieces)  # the first ST...SE, written once the second transaction begins
    assert segments(first)[0][0] == "ST" and sorted(claim_stcs(first)) == ["A1", "A2"]
    rest = list(pieces)
    assert [segments(p)[0][0] for p in rest] == ["ST", "GE", "IEA"]
    whole = write_277ca(outcomes, data, now=WHEN, control_number=42)
    assert "".join([head, first, *rest]) == whole


def test_a_refused_claim_is_acknowledged_and_envelope_errors_are_not(engines):
    bad = claim_segments("C2", lines=[line_segments(date="DTP*472*D8*2026")])
    bad[0] = bad[0].replace("*480*", "*NaN*")
    data = x12(
        "NM1*41*2*SUBMITTER*****46*S1", "NM1*40*2*SCRUBBER*****46*R1",
        "HL*1**20*1", "PRV*BI*PXC*3336C0004X", "NM1*85*2*ACME RX*****XX*1234567893",
        "HL*2*1*22*0", "SBR*P*18*******MB", "NM1*IL*1*DOE*JANE****MI*X1",
        "NM1*PR*2*DME MAC*****PI*19003", *claim_segments("C1"), *bad, se_count=3,
    )  # fmt: skip
    directory = load_directory({"suppliers": {"1234567893": {"enrollments": []}}})
    _, outcomes = check_837p(engines("python"), data, directory=directory)
    outcomes = list(outcomes)
    assert any(isinstance(o, X12Error) and o.claim_id is None for o in outcomes)  # SE01
    text = write_277ca(outcomes, data, now=WHEN)
    stcs = claim_stcs(text)
    assert sorted(stcs) == ["C1", "C2"] and stcs["C2"][0][1:4] == ["A3:23:41", "20260303", "U"]
    assert "2026" in stcs["C2"][0][12] and stcs["C2"][0][4] == "0"  # no amount from NaN
    segs = segments(text)
    assert ["NM1", "AY", "2", "SCRUBBER", "", "", "", "", "46", "R1"] in segs
    assert ["NM1", "41", "2", "SUBMITTER", "", "", "", "", "46", "S1"] in segs
    assert ["NM1", "QC", "1", "DOE", "JANE", "", "", "", "MI", "X1"] in segs
    if HAS_PYX12:
        assert_valid(text)


def test_a_file_without_claims_and_outcomes_of_another_file():
    empty = x12("HL*1**20*1", "NM1*85*2*ACME RX*****XX*1234567893")
    text = write_277ca([], empty, now=WHEN)
    assert [s[0] for s in segments(text)] == ["ISA", "IEA"] and segments(text)[-1][1] == "0"
    data = _kinds_file()
    stranger = _results_for(data, {**KINDS, "BAD": []})
    with pytest.raises(ValueError, match="not in the given 837"):
        write_277ca(stranger, empty, now=WHEN)
    with pytest.raises(ValueError, match="control_number"):
        write_277ca([], empty, control_number=10**9)


# -------------------------------------------------------------------------- the 999


@needs_pyx12
def test_999_of_a_valid_837():
    validation = validate_x12(EXAMPLES / "claims.837")
    assert validation.valid and validation.problems == ()
    assert "AK2*837*0001*005010X222A1" in validation.ack999 and "IK5*A" in validation.ack999


@needs_pyx12
def test_999_of_a_broken_837_names_segments_and_elements():
    text = (EXAMPLES / "claims.837").read_text()
    broken = text.replace("DTP*472*D8*20260302~", "DTP*472*D8*2026030~", 1).replace(
        "HI*ABK:J45.40~", "HX*ABK:J45.40~", 1
    )
    validation = validate_x12(broken.encode())
    assert not validation.valid
    assert "IK3*HX*" in validation.ack999 and "IK4*3*1251*8*2026030" in validation.ack999
    assert "IK5*R" in validation.ack999
    assert any("segment 17 (HX)" in p for p in validation.problems)
    assert any(
        p.startswith("ISA 000000001 GS 1 ST 0001 segment 21 (DTP)") for p in validation.problems
    )


# -------------------------------------------------------------------------- the CLI


def _cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@needs_pyx12
def test_cli_writes_the_277ca_and_the_999(tmp_path, capsys):
    ack999 = tmp_path / "in.999"
    code, out, err = _cli(
        ["check", str(EXAMPLES / "claims.837"), "--directory", str(EXAMPLES / "directory.json"),
         "--sidecar", str(EXAMPLES / "sidecar.json"), "--format", "277ca",
         "--validate-999", str(ack999)], capsys,
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("ISA*") and "ST*277*0001*005010X214~" in out
    assert "5 claims read: 5 checked" in err  # the summary goes to stderr, the 277CA alone out
    assert_valid(out)
    assert "AK9*A*1*1*1" in ack999.read_text()


@needs_pyx12
def test_cli_reports_an_invalid_file_and_still_acknowledges_its_claims(tmp_path, capsys):
    broken = tmp_path / "broken.txt"
    broken.write_text((EXAMPLES / "claims.837").read_text().replace("HI*ABK:J45.40~", "HX*X~", 1))
    ack999 = tmp_path / "out.999"
    code, out, err = _cli(
        ["check", str(broken), "--directory", str(EXAMPLES / "directory.json"), "--format",
         "277ca", "--validate-999", str(ack999)], capsys,
    )  # fmt: skip
    assert code == 2
    assert "invalid  ISA 000000001 GS 1 ST 0001 segment 17 (HX)" in err
    assert "IK3*HX*17" in ack999.read_text()
    assert claim_stcs(out)["EX-MCR-GA"][0][1] == "A3:23:41" and len(claim_stcs(out)) == 5


def test_cli_277ca_needs_x12_input(capsys):
    code, out, err = _cli(["check", str(ROOT / "examples" / "aetna-clean.json"),
                           "--format", "277ca"], capsys)  # fmt: skip
    assert code == 2 and out == "" and "X12 837P input only" in err


def test_cli_validate_without_pyx12_is_a_clear_message(monkeypatch, tmp_path, capsys):
    # A None entry in sys.modules makes the import fail as if pyx12 were not installed.
    monkeypatch.setitem(sys.modules, "pyx12", None)
    monkeypatch.setitem(sys.modules, "pyx12.params", None)
    monkeypatch.setitem(sys.modules, "pyx12.x12n_document", None)
    code, _, err = _cli(
        ["check", str(EXAMPLES / "claims.837"), "--directory", str(EXAMPLES / "directory.json"),
         "--validate-999", str(tmp_path / "x.999")], capsys,
    )  # fmt: skip
    assert code == 2 and "pip install 'hcpcs_rules[x12]'" in err and "Traceback" not in err
    assert not (tmp_path / "x.999").exists()


def test_cli_numbers_the_interchanges_of_several_files(tmp_path, capsys):
    paths = []
    for name in ("a.837", "b.837"):
        (tmp_path / name).write_bytes((EXAMPLES / "claims.837").read_bytes())
        paths.append(str(tmp_path / name))
    code, out, err = _cli(["check", *paths, "--directory", str(EXAMPLES / "directory.json"),
                           "--format", "277ca"], capsys)  # fmt: skip
    assert code == 0, err
    isas = [s for s in segments(out) if s[0] in ("ISA", "IEA")]
    assert [(s[0], s[-2] if s[0] == "ISA" else s[2]) for s in isas] == [
        ("ISA", "T"),
        ("IEA", "000000001"),
        ("ISA", "T"),
        ("IEA", "000000002"),
    ]
    assert [s[13] for s in isas if s[0] == "ISA"] == ["000000001", "000000002"]
    assert "10 claims read: 10 checked" in err
