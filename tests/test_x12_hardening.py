"""837P input the reader must refuse rather than misread (found in review): a subscriber loop
that could not be read, a total charge that is not an amount, files pyx12 cannot start on."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from hcpcs_rules.x12 import X12Claim, X12Error, load_directory, load_sidecar, read_837p

EXAMPLES = Path(__file__).parents[1] / "examples" / "x12"
TEXT = (EXAMPLES / "claims.837").read_bytes()


def outcomes(data: bytes) -> list[X12Claim | X12Error]:
    return list(
        read_837p(
            data,
            directory=load_directory(EXAMPLES / "directory.json"),
            sidecar=load_sidecar(EXAMPLES / "sidecar.json"),
        )
    )


def claims(items) -> dict[str, X12Claim]:
    return {item.claim.id: item for item in items if isinstance(item, X12Claim)}


def second_subscriber(data: bytes, replacement: bytes) -> tuple[bytes, str]:
    """``data`` with its second subscriber HL replaced, and the id of the claim under it."""
    hls = [m for m in re.finditer(rb"HL\*\d+\*\d*\*22\*0~", data)]
    target = hls[1]
    claim_id = re.search(rb"CLM\*([^*]+)\*", data[target.end() :]).group(1).decode()
    return data[: target.start()] + replacement + data[target.end() :], claim_id


@pytest.mark.parametrize("replacement", [b"HL*4*3*2*0~", b"HL*4*3*22\xe9*0~"])
def test_a_subscriber_loop_that_cannot_be_read_refuses_its_claim(replacement):
    good = claims(outcomes(TEXT))
    data, claim_id = second_subscriber(TEXT, replacement)
    got = outcomes(data)
    # Never read under the previous claim's subscriber and payer: refused, with its reason.
    assert claim_id in good and claim_id not in claims(got)
    refused = [o for o in got if isinstance(o, X12Error) and o.claim_id == claim_id]
    assert refused, [str(o) for o in got if isinstance(o, X12Error)]
    # The other claims are read as before.
    assert set(claims(got)) == set(good) - {claim_id}


@pytest.mark.parametrize("charge", [b"NaN", b"abc", b"1E+999999999", b"480.001"])
def test_a_total_charge_that_is_not_an_amount_refuses_the_claim(charge):
    data = TEXT.replace(b"CLM*EX-MCR-GA*480*", b"CLM*EX-MCR-GA*" + charge + b"*", 1)
    got = outcomes(data)
    assert "EX-MCR-GA" not in claims(got)
    (refused,) = [o for o in got if isinstance(o, X12Error) and o.claim_id == "EX-MCR-GA"]
    assert "CLM02 (total charge) must be an amount" in str(refused)


@pytest.mark.skipif(importlib.util.find_spec("pyx12") is None, reason="pyx12 is not installed")
def test_validation_reports_what_pyx12_cannot_start_on(tmp_path):
    from hcpcs_rules.x12 import validate_x12

    path = tmp_path / "non-ascii.837"
    path.write_bytes(TEXT.replace(b"N3*1 MAIN ST~", b"N3*1 MA\xefN ST~", 1))
    assert validate_x12(path).valid is False  # a result, not a UnicodeDecodeError
    broken = TEXT.replace(b"*0*T*:~", b"*0*T*:*EXTRA~", 1)  # an ISA of 17 elements
    result = validate_x12(broken)
    assert result.valid is False and result.problems


def test_a_directory_holding_nan_is_refused_when_loaded(tmp_path):
    from hcpcs_rules.x12.reference import ReferenceError as DirectoryError

    path = tmp_path / "directory.json"
    path.write_text('{"1234567893": {"surety_bond": {"amount": NaN}}}')
    with pytest.raises(DirectoryError, match="NaN is not a number"):
        load_directory(path)


def test_flags_not_wired_for_x12_are_refused_not_ignored(capsys):
    from hcpcs_rules.cli import main

    base = ["check", str(EXAMPLES / "claims.837"), "--directory", str(EXAMPLES / "directory.json")]
    assert main([*base, "--workers", "2"]) == 2
    assert "--workers is not supported for X12 input yet" in capsys.readouterr().err
    assert main([*base, "--explain", "--format", "277ca"]) == 2
    assert "--explain has no place in a 277CA" in capsys.readouterr().err
    assert main(["check", "nosuch.837", "--directory", str(EXAMPLES / "directory.json")]) == 2
    assert "'nosuch.837' is not a readable file" in capsys.readouterr().err


def test_a_findings_location_is_escaped_on_the_terminal():
    import io

    from hcpcs_rules.cli import _report
    from hcpcs_rules.model import Finding, Location, Result

    where = Location(claim="EX\x1b[2JA", segment=3, offset=10, segment_id="CLM")
    finding = Finding(
        rule_id="R-1", severity="warn", line=None, message="m", source="s", location=where
    )
    result = Result(claim_id="EX", status="warn", findings=(finding,), lines=(), rulesets=())
    out = io.StringIO()
    _report(result, "text", out)
    assert "\x1b" not in out.getvalue() and "\\x1b" in out.getvalue()


def test_explain_traces_each_837_claim_as_for_json(capsys):
    """Each claim read from the 837 is evaluated with its trace: the text lists the rules that
    fired and what they derived; the JSON result carries the same steps."""
    import json

    from hcpcs_rules.cli import main

    base = ["check", str(EXAMPLES / "claims.837"), "--directory", str(EXAMPLES / "directory.json")]
    base += ["--sidecar", str(EXAMPLES / "sidecar.json")]
    main([*base, "--explain"])
    text = capsys.readouterr().out
    assert "CORE-PAYER-SCOPE" in text and "-> payer_scope" in text
    main([*base, "--explain", "--format", "json"])
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    checked = [r for r in results if "trace" in r]
    assert checked and all(r["trace"] for r in checked)
    fired = {step["rule_id"] for r in checked for step in r["trace"]}
    assert {"CORE-PAYER-SCOPE", "CORE-SERVICE"} <= fired
    main(base)  # without --explain: no trace
    assert "-> payer_scope" not in capsys.readouterr().out
