"""Ruleset mistakes that crashed the compiler or passed silently (found in review): each is a
located RulesetError."""

from __future__ import annotations

import pytest

from hcpcs_rules import Engine, RulesetError
from hcpcs_rules.testing.rulesets import HEADER, rule


def build(tmp_path, text: str) -> RulesetError:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(RulesetError) as caught:
        Engine(["core", path], check_examples=False)
    return caught.value


def test_a_per_program_effective_window_for_commercial_is_refused(tmp_path):
    # A commercial claim's overlay is its payer: a window keyed 'commercial' would never apply.
    text = HEADER + rule(scope='["commercial"]', effective="{ commercial = { from = 2030-01-01 } }")
    error = build(tmp_path, text)
    assert "'commercial' is a program, not an overlay" in str(error)
    assert error.problems[0].line is not None


@pytest.mark.parametrize(
    ("scope", "effective", "refused"),
    [
        ('["medicare"]', "{ aetna = { from = 2030-01-01 } }", "aetna"),
        ('["commercial"]', "{ medicare = { from = 2030-01-01 } }", "medicare"),
        ('["aetna", "medicare"]', "{ cigna = { from = 2030-01-01 } }", "cigna"),
        # In scope: named, through the commercial program, or every claim.
        ('["aetna"]', "{ aetna = { from = 2030-01-01 } }", None),
        ('["commercial"]', "{ cigna = { from = 2030-01-01 } }", None),
        ('["all"]', "{ medicare_advantage = { from = 2030-01-01 } }", None),
    ],
)
def test_a_per_overlay_window_outside_the_scope_is_refused(tmp_path, scope, effective, refused):
    text = HEADER + rule(scope=scope, effective=effective)
    path = tmp_path / "mine.toml"
    path.write_text(text)
    if refused is None:
        Engine(["core", path], check_examples=False)
        return
    error = build(tmp_path, text)
    assert f"the window for {refused!r} never applies" in str(error)
    assert error.problems[0].line is not None


def test_a_reason_code_group_that_is_not_text_is_refused(tmp_path):
    text = HEADER.replace("[ruleset]", "[ruleset]\nreleased = 2026-12-02", 1) + rule(
        reason_codes='{ group = ["CO"], carc = "16", source = "x" }'
    )
    assert "group must be one of" in str(build(tmp_path, text))


@pytest.mark.parametrize("effective", ['{ quarter = ["q"] }', '{ from = ["d"] }'])
def test_a_table_effective_naming_a_list_is_refused(tmp_path, effective):
    table = (
        "\n[tables.t]\n"
        'columns = { code = "str", value = "int", q = "quarter", d = "date" }\n'
        f"effective = {effective}\n"
        'rows = [["A", 1, "2026Q1", 2026-01-01]]\n'
    )
    text = HEADER + table + rule()
    assert "effective" in str(build(tmp_path, text))


def test_reason_code_list_problems_are_at_the_files_line(tmp_path):
    from hcpcs_rules.reasons import load_code_list

    path = tmp_path / "codes.csv"
    path.write_text(
        'list,code,start,stop,description\ncarc,16,,,"a description\nover\nthree lines"\n'
        "carc,B@D,,,bad\n"
    )
    with pytest.raises(RulesetError) as caught:
        load_code_list(path)
    (problem,) = caught.value.problems
    assert problem.line == 5 and "B@D" in problem.message
