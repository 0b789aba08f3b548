"""Constants, tables and example claims shared between rulesets: ``[ruleset] uses`` imports a
required ruleset's constants and tables, ``base = "ruleset:claim"`` takes its example claim;
every mistake is a located RulesetError with did-you-mean; both backends agree."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import BACKENDS
from hcpcs_rules import Engine, RulesetError
from hcpcs_rules.compile import compile_files
from hcpcs_rules.reference import rule_markdown

# A ruleset other rulesets build on: a constant, a table and an example claim of its own, and one
# constant it imports from core (which it may not pass on: only a ruleset's own names are shared).
SHARED = """
[ruleset]
name = "shbase"
version = "1.0"
requires = ["core"]
uses = ["core.ndc_units"]

[constants]
max_units = 240
home = ["12", "01"]

[tables.ndc_route]
columns = { ndc = "str", route = "str" }
rows = [["00172640649", "inhalation"], ["42571013201", "oral"]]

[claims.home_j7631]
id = "SH-1"
payer = "medicare"
date_of_service = 2026-03-02
place_of_service = "12"
diagnoses = ["J45.40"]
supplier = { npi = "1234567893" }
lines = [{ hcpcs = "J7631", units = "240", diagnosis_pointers = [1], ndc = "00172-6406-49" }]
"""

# A plugin using all three, and core's example claim through shbase's requires.
PLUGIN_HEADER = """
[ruleset]
name = "shplug"
version = "1.0"
requires = ["shbase"]
uses = ["shbase.max_units", "shbase.ndc_route", "shbase.home"]
"""
PLUGIN_RULES = """
[[rule]]
id = "SHPLUG-OVER"
title = "Over the shared maximum"
source = "test"
severity = "warn"
message = "{line.units} units, at most {max_units}, route {lookup(ndc_route, ndc_normalized(line.ndc))}"
when = "line.units > max_units and lookup(ndc_route, ndc_normalized(line.ndc)) == 'inhalation' and service.place in home"
[[rule.example]]
name = "241 units, from shbase's claim"
base = "shbase:home_j7631"
set = { "line[1].units" = "241" }
fires = true
[[rule.example]]
name = "240 units"
base = "shbase:home_j7631"
fires = false
[[rule.example]]
name = "core's clean claim, 241 units"
base = "core:clean"
set = { "line[1].units" = "241" }
fires = true
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def problems(selection) -> list[str]:
    with pytest.raises(RulesetError) as info:
        compile_files(selection)
    return [str(p) for p in info.value.problems]


def line_of(file: str, fragment: str) -> int:
    lines = Path(file).read_text(encoding="utf-8").split("\n")
    return next(i for i, text in enumerate(lines, start=1) if fragment in text)


@pytest.fixture
def shared(tmp_path) -> str:
    return write(tmp_path, "shbase", SHARED)


@pytest.mark.parametrize("backend", BACKENDS)
def test_imported_constants_tables_and_claims_work(tmp_path, shared, backend):
    plugin = write(tmp_path, "shplug", PLUGIN_HEADER + PLUGIN_RULES)
    # Building runs every example on the backend: both claim bases and all three imports work.
    engine = Engine(["core", shared, plugin], backend=backend)
    claim = {
        "id": "C",
        "payer": "medicare",
        "date_of_service": "2026-03-02",
        "place_of_service": "12",
        "diagnoses": ["J45.40"],
        "supplier": {"npi": "1234567893"},
        "lines": [
            {"hcpcs": "J7631", "units": u, "diagnosis_pointers": [1], "ndc": ndc}
            for u, ndc in [
                ("241", "00172-6406-49"),
                ("241", "42571-0132-01"),
                ("240", "00172640649"),
            ]
        ],
    }
    found = [f for f in engine.evaluate(claim).findings if f.rule_id == "SHPLUG-OVER"]
    assert [f.line for f in found] == [1]
    assert found[0].message == "241 units, at most 240, route inhalation"


def test_imported_names_are_typed_like_local_ones(tmp_path, shared):
    bad = PLUGIN_RULES.replace("line.units > max_units", "line.units > home")
    plugin = write(tmp_path, "shplug", PLUGIN_HEADER + bad)
    (message,) = problems(["core", shared, plugin])
    assert "[SHPLUG-OVER]" in message and "home" in message


def test_without_uses_the_names_stay_unknown(tmp_path, shared):
    header = PLUGIN_HEADER.replace(
        'uses = ["shbase.max_units", "shbase.ndc_route", "shbase.home"]', ""
    )
    plugin = write(tmp_path, "shplug", header + PLUGIN_RULES)
    found = problems(["core", shared, plugin])
    assert any("unknown name 'max_units'" in p for p in found), found


def test_an_unknown_name_that_a_required_ruleset_defines_says_uses(tmp_path, shared):
    header = PLUGIN_HEADER.replace('"shbase.ndc_route", ', "")
    plugin = write(tmp_path, "shplug", header + PLUGIN_RULES)
    found = problems(["core", shared, plugin])
    assert found and all("unknown name 'ndc_route'" in p for p in found)
    assert all(
        """'ndc_route' is a constant of the required ruleset 'shbase': add uses = ["shbase.ndc_route"]"""
        in p
        for p in found
    )


def test_unknown_name_of_a_ruleset_not_required_gets_no_uses_hint(tmp_path, shared):
    # j7632 is loaded and defines mg_per_unit, but shplug does not require it: no `uses` advice.
    rules = PLUGIN_RULES.replace("line.units > max_units", "line.units > mg_per_unit")
    plugin = write(tmp_path, "shplug", PLUGIN_HEADER + rules)
    found = problems(["core", "j7632", shared, plugin])
    assert any("unknown name 'mg_per_unit'" in p for p in found)
    assert not any("add uses" in p for p in found)


def test_the_rule_reference_lists_an_imported_table(tmp_path, shared):
    plugin = write(tmp_path, "shplug", PLUGIN_HEADER + PLUGIN_RULES)
    engine = Engine(["core", shared, plugin], check_examples=False)
    rule = next(r for r in engine.program.rules if r.id == "SHPLUG-OVER")
    assert "- `ndc_route`: inline, 2 rows" in rule_markdown(rule, engine.program)


def test_too_many_uses_items(tmp_path, shared):
    items = ", ".join(f'"shbase.n{i}"' for i in range(1001))
    header = PLUGIN_HEADER.replace(
        'uses = ["shbase.max_units", "shbase.ndc_route", "shbase.home"]', f"uses = [{items}]"
    )
    plugin = write(tmp_path, "shplug", header + PLUGIN_RULES)
    found = [p for p in problems(["core", shared, plugin]) if "uses:" in p]
    assert len(found) == 1 and "1,001 items; at most 1,000" in found[0]


def test_requiring_through_another_ruleset_is_enough(tmp_path, shared):
    # shplug requires shbase, which requires core: core's constants are visible, as its facts
    # are; and core's example claim is a base too.
    header = PLUGIN_HEADER.replace('"shbase.home"]', '"shbase.home", "core.ndc_units"]')
    rule = """
[[rule]]
id = "SHPLUG-UNIT"
title = "NDC unit"
source = "test"
severity = "info"
message = "unit {line.ndc_unit}"
when = "line.ndc_unit in ndc_units"
[[rule.example]]
name = "ML"
base = "core:clean"
fires = true
[[rule.example]]
name = "none"
base = "core:clean"
unset = ["line[1].ndc_unit", "line[1].ndc_quantity"]
fires = false
"""
    plugin = write(tmp_path, "shplug", header + PLUGIN_RULES + rule)
    assert Engine(["core", shared, plugin]).rulesets == ("core@1.2.0", "shbase@1.0", "shplug@1.0")


def _uses_problem(tmp_path, shared, uses: str, extra: str = "") -> tuple[str, str]:
    header = PLUGIN_HEADER.replace(
        'uses = ["shbase.max_units", "shbase.ndc_route", "shbase.home"]', f"uses = {uses}"
    )
    plugin = write(tmp_path, "shplug", header + extra + PLUGIN_RULES)
    found = [p for p in problems(["core", "j7632", shared, plugin]) if "uses" in p]
    assert found, "expected a uses problem"
    return found[0], plugin


@pytest.mark.parametrize(
    ("uses", "expected"),
    [
        (
            '["shbase.max_unit", "shbase.ndc_route", "shbase.home"]',
            "ruleset 'shbase' has no constant or table 'max_unit' (did you mean 'max_units'?)",
        ),
        (
            '["shbse.max_units", "shbase.ndc_route", "shbase.home"]',
            "no ruleset 'shbse' is loaded (did you mean 'shbase'?)",
        ),
        (
            '["j7632.mg_per_unit", "shbase.max_units", "shbase.ndc_route", "shbase.home"]',
            "ruleset 'shplug' does not require 'j7632', so cannot use its constants: add requires = ['shbase', 'j7632']",
        ),
        ('["max_units", "shbase.ndc_route", "shbase.home"]', "'max_units' is not \"ruleset.name\""),
        (
            '["shbase.ndc_units", "shbase.max_units", "shbase.ndc_route", "shbase.home"]',
            "ruleset 'shbase' has no constant or table 'ndc_units'; 'shbase' imports it from 'core.ndc_units': use that",
        ),
        (
            '["shbase.max_units", "shbase.max_units", "shbase.ndc_route", "shbase.home"]',
            "it is listed twice",
        ),
        (
            '["shplug.max_units", "shbase.ndc_route", "shbase.home"]',
            "names this ruleset's own 'max_units'",
        ),
    ],
)
def test_uses_mistakes_are_located(tmp_path, shared, uses, expected):
    message, plugin = _uses_problem(tmp_path, shared, uses)
    assert expected in message
    # At the `uses` line of the plugin's file, naming no rule (it is a header problem).
    assert message.startswith(f"{plugin}:{line_of(plugin, 'uses = ')}: ")


def test_two_imports_of_one_name(tmp_path, shared):
    # A second required ruleset with a constant of the same name: importing both is refused.
    other = write(
        tmp_path,
        "shother",
        '[ruleset]\nname = "shother"\nversion = "1"\nrequires = ["core"]\n[constants]\nhome = ["31"]\n',
    )
    header = PLUGIN_HEADER.replace('requires = ["shbase"]', 'requires = ["shbase", "shother"]')
    header = header.replace('"shbase.home"]', '"shbase.home", "shother.home"]')
    plugin = write(tmp_path, "shplug", header + PLUGIN_RULES)
    (message,) = problems(["core", shared, other, plugin])
    assert (
        "uses: 'shother.home' imports 'home', which 'shbase.home' already imports: a name means one thing"
        in message
    )


def test_a_local_name_may_not_hide_an_import(tmp_path, shared):
    plugin = write(
        tmp_path, "shplug", PLUGIN_HEADER + "[constants]\nmax_units = 100\n" + PLUGIN_RULES
    )
    (message,) = problems(["core", shared, plugin])
    local = line_of(plugin, "max_units = 100")
    assert message.startswith(f"{plugin}:{line_of(plugin, 'uses = ')}: ")
    assert f"imports 'max_units', but this file defines 'max_units' too (line {local})" in message


def test_a_local_table_may_not_hide_an_import(tmp_path, shared):
    table = '[tables.ndc_route]\ncolumns = { ndc = "str", route = "str" }\nrows = [["1", "x"]]\n'
    plugin = write(tmp_path, "shplug", PLUGIN_HEADER + table + PLUGIN_RULES)
    found = problems(["core", shared, plugin])
    assert any("imports 'ndc_route', but this file defines 'ndc_route' too" in p for p in found)


def test_uses_must_be_a_list(tmp_path, shared):
    header = PLUGIN_HEADER.replace(
        'uses = ["shbase.max_units", "shbase.ndc_route", "shbase.home"]',
        'uses = "shbase.max_units"',
    )
    plugin = write(tmp_path, "shplug", header + PLUGIN_RULES)
    found = problems(["core", shared, plugin])
    assert any('uses must be a list of "ruleset.name" strings' in p for p in found)


def test_a_typo_in_uses_key_gets_did_you_mean(tmp_path, shared):
    header = PLUGIN_HEADER.replace("uses = ", "use = ")
    plugin = write(tmp_path, "shplug", header + PLUGIN_RULES)
    found = problems(["core", shared, plugin])
    assert any("unknown key 'use' in [ruleset] (did you mean 'uses'?)" in p for p in found)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (
            "shbase:home_j763",
            "ruleset 'shbase' has no claim 'home_j763' in [claims] (did you mean 'home_j7631'?)",
        ),
        ("shbse:home_j7631", "no ruleset 'shbse' is loaded (did you mean 'shbase'?)"),
        (
            "j7632:medicare_j7632",
            "ruleset 'shplug' does not require 'j7632', so cannot use its example claims: add requires = ['shbase', 'j7632']",
        ),
        ("home_j7631", "example base 'home_j7631' is not a claim in [claims]"),
    ],
)
def test_base_mistakes_are_located(tmp_path, shared, base, expected):
    rules = PLUGIN_RULES.replace('base = "core:clean"', f'base = "{base}"')
    plugin = write(tmp_path, "shplug", PLUGIN_HEADER + rules)
    (message,) = problems(["core", "j7632", shared, plugin])
    assert expected in message
    line = line_of(plugin, 'name = "core\'s clean claim, 241 units"') - 1  # the [[rule.example]]
    assert message.startswith(f"{plugin}:{line} [SHPLUG-OVER]: ")


def test_shipped_rulesets_build_with_shared_data():
    # The built-in rulesets still build and pass their examples with the new header key known.
    assert Engine(["core", "j7632"])
