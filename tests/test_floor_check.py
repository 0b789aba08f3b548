"""benchmarks/check_floor.py proves the floor implements the rules, whatever their wording.

The floor (benchmarks/floor.py) hand-copies every message and source of j7632; the check must not
fail when an analyst rewords one in the ruleset, and must still fail when a rule's meaning moves
away from the floor's (a severity, an effective date) or a value or a finding is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

import check_floor
import floor
import floor_e2e
from hcpcs_rules import Engine
from hcpcs_rules.builtin import rulesets_dir

# A line starting a key or a table: where the value of the key before it ends. Continuation lines
# of multi-line strings in the shipped rulesets are indented, so they never look like one.
_NEXT_KEY = re.compile(r"^(?:[A-Za-z_]+ = |\[)", re.M)


def edit_key(text: str, rule_id: str, key: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced by ``new`` once, inside the value of one rule's ``key``."""
    start = text.index(f'id = "{rule_id}"\n')
    end = text.find("[[rule]]", start)
    block = text[start:end]
    found = re.search(rf"^{key} = ", block, re.M)
    assert found, (rule_id, key)
    stop = _NEXT_KEY.search(block, found.end()).start()
    value = block[found.start() : stop]
    assert value.count(old) == 1, (rule_id, key, old, value)
    return (
        text[:start] + block[: found.start()] + value.replace(old, new) + block[stop:] + text[end:]
    )


def engine_from(tmp_path: Path, text: str) -> Engine:
    # Examples are not checked: a changed severity or date makes some disagree, which is the point.
    path = tmp_path / "j7632.toml"
    path.write_text(text, encoding="utf-8")
    return Engine(["core", path], backend="python", check_examples=False)


def floor_differences(engine: Engine) -> check_floor.Comparison:
    """The check's comparison of the floor with ``engine`` on every rule's example claims."""
    agree = check_floor.FloorCheck(engine.program).problems
    claims = check_floor.example_claims(engine)
    return check_floor.differences(engine.evaluate, floor.check, claims, agree)


@pytest.fixture(scope="module")
def shipped() -> str:
    return (rulesets_dir() / "j7632.toml").read_text(encoding="utf-8")


def test_the_shipped_rulesets_agree_with_the_floor(tmp_path, shipped):
    result = floor_differences(engine_from(tmp_path, shipped))
    assert result.claims > 150
    assert not result.diffs, result.diffs[:3]


def test_a_reworded_message_and_source_still_pass(tmp_path, shipped):
    text = edit_key(shipped, "J7632-UNITS-MISMATCH", "message", "Billed ", "The line bills ")
    text = edit_key(text, "J7632-UNITS-MISMATCH", "message", "rounded up", "always rounded up")
    text = edit_key(
        text, "J7632-POS-PRISON", "source", "generally does not", "does not, as a rule,"
    )
    engine = engine_from(tmp_path, text)

    result = floor_differences(engine)

    assert not result.diffs, [problems for *_, problems in result.diffs[:3]]
    # Not vacuous: the reworded rules fired, and their texts now differ from the floor's copies.
    claims = check_floor.example_claims(engine)
    reworded = {"J7632-UNITS-MISMATCH", "J7632-POS-PRISON"}
    pairs = [
        (mine, theirs)
        for claim in claims
        for mine, theirs in zip(
            engine.evaluate(claim).findings, floor.check(claim).findings, strict=True
        )
        if mine.rule_id in reworded
    ]
    assert {mine.rule_id for mine, _ in pairs} == reworded
    for mine, theirs in pairs:
        if mine.rule_id == "J7632-UNITS-MISMATCH":
            assert mine.message.startswith("The line bills ")
            assert mine.message != theirs.message
        else:
            assert "does not, as a rule," in mine.source
            assert mine.source != theirs.source


@pytest.mark.parametrize(
    ("rule_id", "key", "old", "new"),
    [
        ("J7632-POS-PRISON", "severity", '"warn"', '"deny"'),
        ("J7632-ORDERING-NOT-PECOS", "effective", "2014-01-06", "2014-01-05"),
    ],
)
def test_a_changed_severity_or_date_fails(tmp_path, shipped, rule_id, key, old, new):
    result = floor_differences(engine_from(tmp_path, edit_key(shipped, rule_id, key, old, new)))

    assert result.diffs
    assert all(any(rule_id in p for p in problems) for *_, problems in result.diffs)


@pytest.fixture(scope="module")
def mismatch():
    """An engine, an example claim firing J7632-UNITS-MISMATCH and J7632-UNITS-EXCEED-ORDER."""
    engine = Engine(["core", "j7632"], backend="python")
    for claim in check_floor.example_claims(engine):
        fired = {f.rule_id for f in engine.evaluate(claim).findings}
        if {"J7632-UNITS-MISMATCH", "J7632-UNITS-EXCEED-ORDER"} <= fired:
            return engine, claim
    raise AssertionError("no example claim fires both rules")


def _with_finding(result, rule_id: str, **changes):
    findings = tuple(
        attrs.evolve(f, **changes) if f.rule_id == rule_id else f for f in result.findings
    )
    return attrs.evolve(result, findings=findings)


def test_a_wrong_value_in_the_engine_message_fails(mismatch):
    engine, claim = mismatch
    mine, theirs = engine.evaluate(claim), floor.check(claim)
    check = check_floor.FloorCheck(engine.program)
    assert check.problems(claim, mine, theirs) == []
    (finding,) = (f for f in mine.findings if f.rule_id == "J7632-UNITS-MISMATCH")
    units = str(theirs.lines[finding.line - 1].expected_units)
    wrong = finding.message.replace(f"supports {units} units", f"supports {units}0 units")
    assert wrong != finding.message

    problems = check.problems(claim, _with_finding(mine, finding.rule_id, message=wrong), theirs)

    assert any("not the rule's template filled in" in p for p in problems), problems


def test_a_source_other_than_the_rules_fails(mismatch):
    engine, claim = mismatch
    mine, theirs = engine.evaluate(claim), floor.check(claim)
    changed = _with_finding(mine, "J7632-UNITS-MISMATCH", source="Somewhere else")

    problems = check_floor.FloorCheck(engine.program).problems(claim, changed, theirs)

    assert any("is not the rule's" in p for p in problems), problems


def test_a_computed_value_missing_from_the_floor_message_fails(mismatch):
    # The ordered mg of J7632-UNITS-EXCEED-ORDER is arithmetic the checker does not redo: the
    # floor's message must show the same number the engine's does.
    engine, claim = mismatch
    mine, theirs = engine.evaluate(claim), floor.check(claim)
    (finding,) = (f for f in theirs.findings if f.rule_id == "J7632-UNITS-EXCEED-ORDER")
    ordered = finding.message.rsplit("= ", 1)[1].split(" mg")[0]
    wrong = finding.message.replace(f"= {ordered} mg", "= 1 mg")
    assert wrong != finding.message

    problems = check_floor.FloorCheck(engine.program).problems(
        claim, mine, _with_finding(theirs, finding.rule_id, message=wrong)
    )

    assert any("lacks" in p and ordered in p for p in problems), problems


def test_a_missing_finding_fails(mismatch):
    engine, claim = mismatch
    mine, theirs = engine.evaluate(claim), floor.check(claim)
    fewer = attrs.evolve(
        theirs,
        findings=tuple(f for f in theirs.findings if f.rule_id != "J7632-UNITS-EXCEED-ORDER"),
    )

    problems = check_floor.FloorCheck(engine.program).problems(claim, mine, fewer)

    assert any(p.startswith("engine only: J7632-UNITS-EXCEED-ORDER") for p in problems), problems


# ------------------------------------------------------------------ the end-to-end floor
# benchmarks/floor_e2e.py structures claims by hand; check_floor_e2e.py proves it accepts and
# refuses exactly what the engine does and builds the same claims. CI runs the script on many
# more inputs; these run it on a sample, and show it fails when the floor drifts.


@pytest.fixture(scope="module")
def e2e_engine():
    import check_floor_e2e

    return check_floor_e2e.engine_for_floor()


def test_the_end_to_end_floor_agrees_with_the_engine_on_every_input_set(e2e_engine):
    import check_floor_e2e

    sets = check_floor_e2e.input_sets(e2e_engine, claims=300, draws=60)
    for name, data in sets.items():
        result = check_floor_e2e.compare(e2e_engine, data)
        assert not result.diffs, (name, result.diffs[:3])
        assert result.inputs == len(data) > 0
    # Not vacuous: valid and invalid inputs, hostile ones included, were both seen.
    hostile = check_floor_e2e.compare(e2e_engine, sets["g. hypothesis hostile_claims"])
    assert hostile.accepted and hostile.refused
    texts = check_floor_e2e.json_texts(sets["k. examples with boundary values"][:200])
    as_json = check_floor_e2e.compare(e2e_engine, texts, as_json=True)
    assert not as_json.diffs, as_json.diffs[:3]
    assert as_json.accepted and as_json.refused


@pytest.mark.parametrize(
    ("name", "replacement"),
    [
        # Accepts a blank id, status or state.
        ("_non_blank", lambda v: v if type(v) is str else floor_e2e._string(None)),
        # Refuses a line count the engine accepts.
        ("_LINES", 49),
        # Keeps trailing fractional zeros ("240.0" stays 240.0): another claim, another message.
        ("_decimal_text", lambda v: floor_e2e.Decimal(v.strip())),
    ],
)
def test_a_floor_that_drifts_from_the_engine_fails_the_check(
    e2e_engine, monkeypatch, name, replacement
):
    import check_floor_e2e

    monkeypatch.setattr(floor_e2e, name, replacement)
    data = check_floor_e2e.boundary_data(e2e_engine, 600)

    assert check_floor_e2e.compare(e2e_engine, data).diffs
