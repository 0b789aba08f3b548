"""Payer reason codes: every finding rule suggests a group code, a CARC and RARCs, per payer
overlay and by condition; the codes are checked at build against a dated code list."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest

from conftest import BACKENDS
from hcpcs_rules import Engine, RulesetError
from hcpcs_rules.cli import main
from hcpcs_rules.model import ReasonCodes
from hcpcs_rules.reasons import DEFAULT_CODE_LIST, load_code_list
from hcpcs_rules.reference import rule_markdown

ROOT = Path(__file__).resolve().parent.parent
GA_CLAIM = json.loads((ROOT / "examples" / "medicare-j7632-ga.json").read_text())

RULESET = """\
[ruleset]
name = "rc"
version = "1.0.0"
requires = ["core"]
released = {released}

[[rule]]
id = "RC-UNITS"
title = "Units over four"
source = "test"
codes = ["J7632"]
when = "line.units > 4"
severity = "warn"
message = "too many units"
{codes}
[[rule.example]]
name = "fires"
claim = {{ id = "E", payer = "aetna", date_of_service = 2026-03-02, place_of_service = "12", diagnoses = ["J45.40"], supplier = {{ npi = "1234567893" }}, lines = [{{ hcpcs = "J7632", units = "240", diagnosis_pointers = [1] }}] }}
fires = true

[[rule.example]]
name = "near miss"
claim = {{ id = "E", payer = "aetna", date_of_service = 2026-03-02, place_of_service = "12", diagnoses = ["J45.40"], supplier = {{ npi = "1234567893" }}, lines = [{{ hcpcs = "J7632", units = "4", diagnosis_pointers = [1] }}] }}
fires = false
"""

PER_OVERLAY = """\
[rule.reason_codes]
source = "test source"
medicare = [
  { when = "'GA' in line.modifiers", group = "PR", carc = "50" },
  { when = "line.units > 300", group = "CO", carc = "151", rarc = ["N362"], source = "own source" },
  { group = "CO", carc = "50", rarc = ["N115"] },
]
aetna = { group = "CO", carc = "16", rarc = ["M53", "M119"] }
default = { group = "OA", carc = "96" }
"""


def write(tmp_path: Path, codes: str, released: str = "2026-12-01") -> Path:
    path = tmp_path / "rc.toml"
    path.write_text(RULESET.format(codes=codes, released=released))
    return path


def claim(payer: str, units: str = "240", modifiers: tuple[str, ...] = ()) -> dict:
    return {
        "id": "C1",
        "payer": payer,
        "date_of_service": "2026-03-02",
        "place_of_service": "12",
        "diagnoses": ["J45.40"],
        "supplier": {"npi": "1234567893"},
        "lines": [
            {
                "hcpcs": "J7632",
                "units": units,
                "modifiers": list(modifiers),
                "diagnosis_pointers": [1],
            }
        ],
    }


def codes_of(result, rule_id: str) -> ReasonCodes | None:
    (finding,) = [f for f in result.findings if f.rule_id == rule_id]
    return finding.reason_codes


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_overlay_and_conditional_codes_on_both_backends(tmp_path, backend):
    engine = Engine([write(tmp_path, PER_OVERLAY)], backend=backend)
    run = lambda c: codes_of(engine.evaluate(c), "RC-UNITS")  # noqa: E731
    assert run(claim("medicare", modifiers=("GA",))) == ReasonCodes(
        group="PR", carc="50", rarc=(), source="test source"
    )
    # The first choice whose condition holds wins: GA before the units test.
    assert run(claim("medicare", units="400", modifiers=("GA",))).group == "PR"
    assert run(claim("medicare", units="400")) == ReasonCodes(
        group="CO", carc="151", rarc=("N362",), source="own source"
    )
    assert run(claim("medicare")) == ReasonCodes(
        group="CO", carc="50", rarc=("N115",), source="test source"
    )
    assert run(claim("aetna")).rarc == ("M53", "M119")
    assert run(claim("cigna")) == ReasonCodes(group="OA", carc="96", source="test source")
    # The codes depend on the payer, so the finding names it (as a per-payer severity would).
    (finding,) = engine.evaluate(claim("cigna")).findings
    assert finding.payer == "cigna"


@pytest.mark.parametrize("backend", BACKENDS)
def test_shipped_medicare_denial_is_pr_50_with_ga_and_co_50_without(engines, backend):
    engine = engines(backend)
    with_ga = engine.evaluate(GA_CLAIM)
    assert codes_of(with_ga, "J7632-MCR-COMPOUNDED-NOT-COVERED") == ReasonCodes(
        group="PR",
        carc="50",
        rarc=(),
        source="Noridian claim adjustment group codes page: with GA (ABN on file) the beneficiary is liable",
    )
    without = copy.deepcopy(GA_CLAIM)
    for line in without["lines"]:
        line["modifiers"] = [m for m in line.get("modifiers", []) if m != "GA"]
    codes = codes_of(engine.evaluate(without), "J7632-MCR-COMPOUNDED-NOT-COVERED")
    assert (codes.group, codes.carc, codes.rarc) == ("CO", "50", ("N115",))
    assert codes.source.startswith("LCD L33370")


def test_every_shipped_finding_rule_declares_codes_with_a_source(engines):
    program = engines("python").program
    finders = [r for r in program.rules if r.finding is not None]
    assert finders
    for rule in finders:
        assert rule.finding.reasons, rule.id
        for _, choices in rule.finding.reasons:
            assert all(c.source and c.carc for c in choices), rule.id


def test_a_rule_without_codes_gives_findings_without_codes(tmp_path):
    engine = Engine([write(tmp_path, "")])
    assert codes_of(engine.evaluate(claim("aetna")), "RC-UNITS") is None
    assert engine.evaluate(claim("aetna")).to_dict()["findings"][0]["reason_codes"] is None


def test_to_dict_and_cli_json_carry_the_codes(tmp_path):
    path = write(
        tmp_path, 'reason_codes = { group = "CO", carc = "16", rarc = ["M53"], source = "s" }'
    )
    engine = Engine([path])
    found = engine.evaluate(claim("aetna")).to_dict()["findings"]
    assert found[0]["reason_codes"] == {"group": "CO", "carc": "16", "rarc": ["M53"], "source": "s"}
    claim_file = tmp_path / "c.json"
    claim_file.write_text(json.dumps(claim("aetna")))
    out = io.StringIO()
    argv = ["check", str(claim_file), "--ruleset", str(path), "--format", "json"]
    assert main(argv, out=out, err=io.StringIO()) == 0
    (finding,) = json.loads(out.getvalue().splitlines()[0])["findings"]
    assert finding["reason_codes"] == {"group": "CO", "carc": "16", "rarc": ["M53"], "source": "s"}


def test_reference_shows_the_codes(tmp_path):
    engine = Engine([write(tmp_path, PER_OVERLAY)])
    rule = next(r for r in engine.program.rules if r.id == "RC-UNITS")
    page = rule_markdown(rule, engine.program)
    assert "**Suggested payer reason codes**" in page
    assert "| medicare | `'GA' in line.modifiers` | PR | 50 |  | test source |" in page
    assert "| medicare | otherwise | CO | 50 | N115 | test source |" in page
    assert "| default |  | OA | 96 |  | test source |" in page


def problems(tmp_path, codes: str, **kw) -> list[str]:
    with pytest.raises(RulesetError) as info:
        Engine([write(tmp_path, codes)], **kw)
    return [str(p) for p in info.value.problems]


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_unknown_code_is_refused_at_its_line(tmp_path):
    (message,) = problems(
        tmp_path, 'reason_codes = { group = "CO", carc = "16", rarc = ["M5"], source = "s" }'
    )
    path = tmp_path / "rc.toml"
    assert f"rc.toml:{line_of(path, 'reason_codes')}" in message
    assert "[RC-UNITS]" in message and "unknown RARC 'M5'" in message


def test_conditions_and_shape_are_checked(tmp_path):
    bad = problems(
        tmp_path,
        '[rule.reason_codes]\nsource = "s"\nmedicare = [{ when = "line.unitz > 1", group = "XX", carc = "50" }, { group = "CO", carc = "50", when = "true" }]\nmedicre = { group = "CO", carc = "50" }\n',
    )
    text = "\n".join(bad)
    assert "line has no field 'unitz'" in text
    assert "group must be one of CO, PR, OA, PI, CR" in text
    assert "the last choice must have no 'when'" in text
    assert "unknown overlay 'medicre'" in text and "did you mean 'medicare'" in text
    assert "has no default" not in text or "default" in text
    path = tmp_path / "rc.toml"
    assert f"rc.toml:{line_of(path, 'medicre =')}" in text


def test_stopped_code_refused_against_released_date_with_a_user_list(tmp_path):
    shipped = (ROOT / "src" / "hcpcs_rules" / "data" / "reason_codes.csv").read_text()

    def code_list(name: str, m53_stop: str, extra: str = "") -> Path:
        path = tmp_path / name
        path.write_text(
            shipped.replace("rarc,M53,1997-01-01,,", f"rarc,M53,1997-01-01,{m53_stop},") + extra
        )
        return path

    cited = 'reason_codes = { group = "CO", carc = "16", rarc = ["M53"], source = "s" }'
    # M53 stops 2026-12-05: core (released 2026-12-02) and rc (2026-12-01) may cite it...
    late = code_list("late.csv", "2026-12-05", "rarc,X99,2020-01-01,,a user's own code\n")
    engine = Engine([write(tmp_path, cited)], reason_codes=late)
    assert codes_of(engine.evaluate(claim("aetna")), "RC-UNITS").rarc == ("M53",)
    assert engine.config.reason_codes == str(late)
    # ... a ruleset released after the stop date may not, and is refused at its rule.
    with pytest.raises(RulesetError) as info:
        Engine([write(tmp_path, cited, released="2026-12-10")], reason_codes=late)
    found = [str(p) for p in info.value.problems]
    assert len(found) == 1 and "[RC-UNITS]" in found[0]
    assert (
        "RARC 'M53' stopped on 2026-12-05, before the ruleset's release date 2026-12-10" in found[0]
    )
    # A code only the user's list has is accepted.
    engine = Engine([write(tmp_path, cited.replace("M53", "X99"))], reason_codes=late)
    assert codes_of(engine.evaluate(claim("aetna")), "RC-UNITS").rarc == ("X99",)
    # A stop date before core's own release refuses core's rules too: nothing is skipped.
    early = code_list("early.csv", "2020-06-30")
    with pytest.raises(RulesetError) as info:
        Engine([write(tmp_path, cited)], reason_codes=early)
    found = [str(p) for p in info.value.problems]
    assert any("core.toml" in m and "[CLAIM-UNITS-NOT-WHOLE]" in m for m in found)
    # A list lacking the codes the rulesets cite: unknown codes, refused, not ignored.
    small = tmp_path / "small.csv"
    small.write_text("list,code,start,stop,description\ncarc,16,1995-01-01,,lacks information\n")
    with pytest.raises(RulesetError, match="unknown CARC"):
        Engine([write(tmp_path, cited)], reason_codes=small)


def test_citing_codes_needs_a_release_date(tmp_path):
    path = tmp_path / "rc.toml"
    path.write_text(
        RULESET.format(
            codes='reason_codes = { group = "CO", carc = "16", source = "s" }', released="1"
        ).replace("released = 1\n", "")
    )
    with pytest.raises(RulesetError, match=r"needs a release date in its header"):
        Engine([path])


def test_code_list_problems_are_located(tmp_path):
    listing = tmp_path / "codes.csv"
    listing.write_text(
        "list,code,start,stop,description\n"
        "carc,16,1995-01-01,,ok\n"
        "card,17,1995-01-01,,bad list\n"
        "carc,18,1995-13-01,,bad date\n"
        "carc,16,1995-01-01,,twice\n"
        "carc,19,2000-01-01,1999-01-01,stops first\n"
    )
    with pytest.raises(RulesetError) as info:
        load_code_list(listing)
    lines = [p.line for p in info.value.problems]
    assert lines == [3, 4, 5, 6]
    text = str(info.value)
    assert "list must be one of carc, rarc" in text and "listed twice (also at line 2)" in text


def test_shipped_code_list_is_dated():
    assert DEFAULT_CODE_LIST.get("carc", "50").start.year == 1995
    assert DEFAULT_CODE_LIST.get("rarc", "N115") is not None
    assert all(c.stop is None for c in DEFAULT_CODE_LIST.codes.values())
