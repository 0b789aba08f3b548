"""Reference data an 837 does not carry: unknown is not "none" (docs/x12.md, docs/claim-format.md).

A supplier or ordering provider the directory lacks is checked, not refused; the rules needing
its data do not fire and one info finding per area says what could not be verified. The same
holds for JSON claims that leave those fields out. And the directory may be a CSV file.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from conftest import BACKENDS
from hcpcs_rules.x12 import Directory, X12Error, check_837p, load_directory
from hcpcs_rules.x12.reference import ReferenceError
from test_x12_read import claim_segments, line_segments, standard

ROOT = Path(__file__).resolve().parent.parent
SUPPLIER_RULES = {
    "J7632-SUP-NOT-ENROLLED",
    "J7632-SUP-NOT-ACCREDITED",
    "J7632-SUP-SURETY-BOND",
    "J7632-SUP-NO-PHARMACY-LICENSE",
    "J7632-SUP-NO-PTAN",
    "J7632-ORDERING-NOT-PECOS",
}
UNKNOWN_RULES = {
    "J7632-SUP-DATA-UNKNOWN",
    "J7632-SUP-MCR-DATA-UNKNOWN",
    "J7632-ORDERING-PECOS-UNKNOWN",
}
FULL_SUPPLIER = {
    "ptan": "AB1234",
    "enrollments": [{"payer": "medicare", "status": "active", "effective": "2019-01-01"}],
    "accreditation": {"status": "accredited", "expires": "2027-06-30"},
    "surety_bond": {"amount": "50000", "expires": "2027-01-31"},
    "pharmacy_license": {"state": "PA", "expires": "2027-12-31"},
}


def medicare_837() -> bytes:
    segs = claim_segments("C1")
    segs.insert(2, "NM1*DN*1*WELBY*MARCUS****XX*1993999998")  # 2310A, read as the ordering provider
    return standard(segs)


def results(engine, data: bytes, directory: Directory):
    reader, outcomes = check_837p(engine, data, directory=directory)
    got = list(outcomes)
    assert not [g for g in got if isinstance(g, X12Error)], got
    return got, reader.summary


def ids(result) -> set[str]:
    return {f.rule_id for f in result.findings}


@pytest.mark.parametrize("backend", BACKENDS)
def test_837_supplier_without_directory_entry_is_checked_with_info_and_no_supplier_deny(
    engines, backend
):
    (result,), summary = results(engines(backend), medicare_837(), Directory())
    assert (summary.claims_read, summary.claims_parsed, summary.claims_refused) == (1, 1, 0)
    assert ids(result) & SUPPLIER_RULES == set()
    assert ids(result) >= UNKNOWN_RULES
    info = {f.rule_id: f for f in result.findings if f.rule_id in UNKNOWN_RULES}
    assert all(f.severity == "info" for f in info.values())
    assert "NPI 1234567893" in info["J7632-SUP-DATA-UNKNOWN"].message
    assert "enrollments unknown" in info["J7632-SUP-DATA-UNKNOWN"].message
    assert "NPI 1993999998" in info["J7632-ORDERING-PECOS-UNKNOWN"].message
    assert info["J7632-SUP-DATA-UNKNOWN"].reason_codes.carc == "B7"
    assert info["J7632-ORDERING-PECOS-UNKNOWN"].location.claim == "C1"
    # Rules that need no directory data still ran: GA on a Medicare J7632 line is a denial.
    assert "J7632-MCR-COMPOUNDED-NOT-COVERED" in ids(result)


@pytest.mark.parametrize("backend", BACKENDS)
def test_837_with_directory_entry_checks_the_known_data(engines, backend):
    known = Directory(
        suppliers={"1234567893": FULL_SUPPLIER},
        ordering_providers={"1993999998": {"pecos_enrolled": True}},
    )
    (result,), _ = results(engines(backend), medicare_837(), known)
    assert ids(result) & (SUPPLIER_RULES | UNKNOWN_RULES) == set()
    # Known "none" is data: an entry saying no enrollment and no PECOS is denied.
    none = Directory(
        suppliers={"1234567893": {**FULL_SUPPLIER, "enrollments": []}},
        ordering_providers={"1993999998": {"pecos_enrolled": False}},
    )
    (result,), _ = results(engines(backend), medicare_837(), none)
    assert {"J7632-SUP-NOT-ENROLLED", "J7632-ORDERING-NOT-PECOS"} <= ids(result)
    assert ids(result) & UNKNOWN_RULES == set()


def line_ordering_837() -> bytes:
    """A DME claim whose ordering provider is on its line (2420E, NM1*DK), none at 2310A."""
    return standard(claim_segments("C1", lines=[line_segments("NM1*DK*1*ORD*A****XX*1234567893")]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lines_own_ordering_provider_is_the_one_the_pecos_rules_check(engines, backend):
    """Until rulesets 1.2.0 only the claim's provider (2310A) was read: a line naming its own
    (2420E) was denied as having none."""
    engine = engines(backend)
    enrolled = Directory(
        suppliers={"1234567893": FULL_SUPPLIER},
        ordering_providers={"1234567893": {"pecos_enrolled": True}},
    )
    (result,), _ = results(engine, line_ordering_837(), enrolled)
    assert result.findings and ids(result) & {"J7632-ORDERING-NOT-PECOS", *UNKNOWN_RULES} == set()
    not_enrolled = Directory(
        suppliers={"1234567893": FULL_SUPPLIER},
        ordering_providers={"1234567893": {"pecos_enrolled": False}},
    )
    (result,), _ = results(engine, line_ordering_837(), not_enrolled)
    (denial,) = [f for f in result.findings if f.rule_id == "J7632-ORDERING-NOT-PECOS"]
    assert denial.line == 1 and "not enrolled in PECOS (NPI 1234567893" in denial.message
    unknown = Directory(suppliers={"1234567893": FULL_SUPPLIER})
    (result,), _ = results(engine, line_ordering_837(), unknown)
    (info,) = [f for f in result.findings if f.rule_id == "J7632-ORDERING-PECOS-UNKNOWN"]
    assert info.line == 1 and "NPI 1234567893" in info.message
    assert "J7632-ORDERING-NOT-PECOS" not in ids(result)


def json_claim() -> dict:
    return json.loads((ROOT / "examples" / "medicare-j7632-ga.json").read_text())


@pytest.mark.parametrize("backend", BACKENDS)
def test_json_claim_without_supplier_data_gets_info_not_deny(engines, backend):
    engine = engines(backend)
    full = json_claim()
    assert ids(engine.evaluate(full)) & UNKNOWN_RULES == set()
    bare = copy.deepcopy(full)
    for key in ("enrollments", "accreditation", "surety_bond", "pharmacy_license", "ptan"):
        bare["supplier"].pop(key, None)
    bare["ordering_provider"].pop("pecos_enrolled", None)
    got = ids(engine.evaluate(bare))
    assert got & SUPPLIER_RULES == set()
    assert got >= UNKNOWN_RULES


@pytest.mark.parametrize("backend", BACKENDS)
def test_json_known_none_forms_still_deny(engines, backend):
    engine = engines(backend)
    claim = json_claim()
    claim["supplier"].update(
        enrollments=[],
        accreditation={"status": "none"},
        surety_bond={"amount": "0"},
        pharmacy_license={"state": "PA", "status": "none"},
    )
    result = engine.evaluate(claim)
    assert SUPPLIER_RULES - {"J7632-SUP-NO-PTAN", "J7632-ORDERING-NOT-PECOS"} <= ids(result)
    assert ids(result) & UNKNOWN_RULES == set()
    licence = next(f for f in result.findings if f.rule_id == "J7632-SUP-NO-PHARMACY-LICENSE")
    assert licence.message.startswith("The supplier holds no pharmacy licence")


CSV = """\
npi,record,value,status,start,end
1234567893,ptan,AB1234,,,
1234567893,enrollment,medicare,active,2019-01-01,
1234567893,enrollment,aetna,active,2019-01-01,2026-03-01
1234567893,accreditation,,accredited,,2027-06-30
1234567893,surety_bond,50000,,,2027-01-31
1234567893,pharmacy_license,PA,,,2027-12-31
1992753880,enrollment,,none,,
1992753880,pharmacy_license,NJ,none,,
1993999998,pecos,true,,,
"""


def test_csv_directory_reads_like_the_json_one(tmp_path):
    path = tmp_path / "directory.csv"
    path.write_text(CSV)
    got = load_directory(path)
    assert got.suppliers["1234567893"] == {
        "ptan": "AB1234",
        "enrollments": [
            {"payer": "medicare", "status": "active", "effective": "2019-01-01"},
            {"payer": "aetna", "status": "active", "effective": "2019-01-01", "end": "2026-03-01"},
        ],
        "accreditation": {"status": "accredited", "expires": "2027-06-30"},
        "surety_bond": {"amount": "50000", "expires": "2027-01-31"},
        "pharmacy_license": {"state": "PA", "status": "licensed", "expires": "2027-12-31"},
    }
    # Known none is kept as data; what a row does not give stays unknown (absent).
    assert got.suppliers["1992753880"] == {
        "enrollments": [],
        "pharmacy_license": {"state": "NJ", "status": "none", "expires": None},
    }
    assert got.ordering_providers == {"1993999998": {"pecos_enrolled": True}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_csv_directory_checks_claims_like_the_json_one(engines, backend, tmp_path):
    path = tmp_path / "directory.csv"
    path.write_text(CSV)
    engine = engines(backend)
    (from_csv,), _ = results(engine, medicare_837(), load_directory(path))
    as_json = Directory(
        suppliers={"1234567893": FULL_SUPPLIER},
        ordering_providers={"1993999998": {"pecos_enrolled": True}},
    )
    (from_json,), _ = results(engine, medicare_837(), as_json)
    assert from_csv.findings == from_json.findings


@pytest.mark.parametrize(
    ("rows", "where", "text"),
    [
        ("npi,record,value\n", ":1:", "header must be"),
        ("1,ptan,X,,\n", ":2:", "5 cells, expected 6"),
        ("1,enrolment,aetna,active,2019-01-01,\n", ":2:", "unknown record 'enrolment'"),
        ("1,enrollment,aetna,active,2019-13-01,\n", ":2:", "start '2019-13-01' is not a date"),
        ("1,enrollment,aetna,active,,\n", ":2:", "needs a start date"),
        ("1,accreditation,,gold,,\n", ":2:", "status 'gold'"),
        ("1,surety_bond,5e4,,,\n", ":2:", "not an amount"),
        ("1,ptan,A,,,\n1,ptan,B,,,\n", ":3:", "a second ptan row"),
        ("1,enrollment,,none,,\n1,enrollment,aetna,active,2019-01-01,\n", ":3:", "'none'"),
        ("1,pecos,yes,,,\n", ":2:", "true or false"),
        ("1,ptan,A,active,,\n", ":2:", "takes no status"),
        (",ptan,A,,,\n", ":2:", "npi is empty"),
        ('1,ptan,"A,,,\n', ":", "not valid CSV"),
    ],
)
def test_csv_directory_problems_name_file_and_row(tmp_path, rows, where, text):
    path = tmp_path / "dir.csv"
    body = rows if rows.startswith("npi,") else "npi,record,value,status,start,end\n" + rows
    path.write_text(body)
    with pytest.raises(ReferenceError) as info:
        load_directory(path)
    message = str(info.value)
    assert message.startswith(str(path) + where) and text in message, message


def test_cli_checks_with_a_csv_directory_and_reports_the_unknowns(tmp_path, capsys):
    from hcpcs_rules.cli import main

    path = tmp_path / "in.837"
    path.write_bytes(medicare_837())
    directory = tmp_path / "dir.csv"
    # The supplier is known (PTAN only); everything else about it and the ordering provider is not.
    directory.write_text("npi,record,value,status,start,end\n1234567893,ptan,AB1234,,,\n")
    main(["check", str(path), "--directory", str(directory), "--format", "json"])
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    found = {f["rule_id"] for r in records for f in r.get("findings", [])}
    assert found >= UNKNOWN_RULES and not found & SUPPLIER_RULES, found
    bad = tmp_path / "bad.csv"
    bad.write_text("npi,record,value,status,start,end\n1234567893,ptan,,,,\n")
    assert main(["check", str(path), "--directory", str(bad)]) == 2
    assert f"{bad}:2: ptan value is empty" in capsys.readouterr().err


@pytest.mark.parametrize("backend", BACKENDS)
def test_837_without_sidecar_leaves_clinical_facts_unknown_and_says_so(engines, backend):
    # No CTP and no sidecar: no dispensed amount, order, days' supply, stays or compound.
    (result,), _ = results(engines(backend), medicare_837(), Directory())
    got = ids(result)
    assert "J7632-UNITS-UNVERIFIABLE" in got  # says the units could not be checked
    silent = {
        "J7632-UNITS-EXCEED-ORDER",
        "J7632-SUPPLY-OVER-3-MONTHS",
        "J7632-POS-SNF-PART-A",
        "J7632-POS-INPATIENT",
        "J7632-UNITS-MISMATCH",
    }
    assert got & silent == set()
