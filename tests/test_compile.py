"""Ruleset authoring errors: every problem, with file, line and rule id; no way to run code."""

from __future__ import annotations

import textwrap

import pytest

from hcpcs_rules import Engine, RulesetError
from hcpcs_rules.compile import compile_files

HEADER = """
[ruleset]
name = "mine"
version = "0.1.0"
requires = ["core"]

[constants]
home = ["12", "01"]

[claims.base]
id = "B"
payer = "aetna"
date_of_service = 2026-03-02
place_of_service = "12"
diagnoses = ["J45.40"]
supplier = { npi = "1234567893" }
lines = [{ hcpcs = "J7632", units = "240", diagnosis_pointers = [1] }]
"""

GOOD_RULE = """
[[rule]]
id = "MINE-UNITS-HIGH"
title = "Many units"
codes = ["J7632"]
severity = "warn"
when = "line.units > 100"
message = "Billed {line.units} units."
source = "Test policy"
[[rule.example]]
name = "fires"
base = "base"
fires = true
[[rule.example]]
name = "near miss"
base = "base"
set = { "line[1].units" = "100" }
fires = false
"""


def write(tmp_path, body: str, name: str = "mine.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(HEADER) + textwrap.dedent(body), encoding="utf-8")
    return path


def problems(tmp_path, body: str, **kwargs) -> list:
    path = write(tmp_path, body)
    with pytest.raises(RulesetError) as info:
        Engine(["core", path], backend="python", **kwargs)
    return list(info.value.problems)


def line_of(path, fragment: str) -> int:
    return next(
        i for i, text in enumerate(path.read_text().splitlines(), start=1) if fragment in text
    )


def test_a_good_plugin_ruleset_compiles_and_runs(tmp_path):
    engine = Engine(["core", write(tmp_path, GOOD_RULE)], backend="python")
    assert engine.rulesets == ("core@1.2.0", "mine@0.1.0")
    result = engine.evaluate(engine.program.rule("MINE-UNITS-HIGH").examples[0].claim)
    assert [f.rule_id for f in result.findings] == ["MINE-UNITS-HIGH"]


def test_unknown_field_names_file_line_rule_and_suggests(tmp_path):
    body = GOOD_RULE.replace("line.units > 100", "line.unit > 100")
    path = write(tmp_path, body)
    with pytest.raises(RulesetError) as info:
        Engine(["core", path], backend="python")
    (problem,) = info.value.problems
    assert problem.file == str(path)
    assert problem.rule_id == "MINE-UNITS-HIGH"
    assert problem.line == line_of(path, "when =")
    assert "line has no field 'unit' (did you mean 'units'?)" in problem.message
    assert 'when = "line.unit > 100"' in str(info.value)  # the offending source line is quoted


@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ("npi_vaild(supplier.npi)", "unknown function 'npi_vaild' (did you mean 'npi_valid'?)"),
        ("servise.date == None", "unknown fact 'servise' (did you mean 'service'?)"),
        ("service.date == '2026-01-01'", "cannot compare date with str"),
        ("line.units > 'ten'", "cannot order decimal and str"),
        ("line.hcpcs + 1 == 2", "arithmetic needs numbers"),
        ("npi_valid(line.units)", "argument 1 must be str, not decimal"),
        ("line.units / 10 > 1", "use ceil_div or billing_units"),
        ("line.units", "expected a true/false condition"),
        ("1 < line.units < 5", "chained comparisons"),
        ("line.hcpcs ==", "syntax error"),
        ("hoem == 1", "unknown name 'hoem' (did you mean 'home'?)"),
        ("exists(sevice)", "no derived fact 'sevice'"),
    ],
)
def test_condition_mistakes_are_reported(tmp_path, when, fragment):
    found = problems(tmp_path, GOOD_RULE.replace("line.units > 100", when))
    assert any(fragment in p.message for p in found), [p.message for p in found]


@pytest.mark.parametrize(
    "when",
    [
        "__import__('os').system('true')",
        "line.__class__ == 1",
        "line.hcpcs.upper() == 'J'",
        "(lambda: 1)() == 1",
        "line.modifiers[0] == 'KO'",
        "open('/etc/passwd') == 1",
        "eval('1') == 1",
        "[x for x in line.modifiers] == 1",
        "f'{line.hcpcs}' == 'x'",
    ],
)
def test_a_ruleset_cannot_run_code(tmp_path, when):
    found = problems(tmp_path, GOOD_RULE.replace("line.units > 100", when.replace('"', "'")))
    assert found and all(p.rule_id == "MINE-UNITS-HIGH" for p in found)


def test_every_problem_is_listed_at_once(tmp_path):
    body = (
        GOOD_RULE.replace("line.units > 100", "line.unit > 100").replace(
            'severity = "warn"', 'severity = "warning"'
        )
        + """
[[rule]]
id = "MINE-NO-SOURCE"
title = "x"
severity = "info"
message = "m"
when = "True"
"""
    )
    found = problems(tmp_path, body)
    messages = [p.message for p in found]
    assert any("field 'unit'" in m for m in messages)
    assert any("'warning'" in m and "did you mean 'warn'" in m for m in messages)
    assert any("needs a source" in m for m in messages)


def test_a_finding_rule_needs_an_example_and_a_near_miss(tmp_path):
    body = GOOD_RULE[: GOOD_RULE.index('[[rule.example]]\nname = "near miss"')]
    found = problems(tmp_path, body)
    assert [p.message for p in found] == [
        "every rule that emits findings needs an example that fires it and a near miss that does not"
    ]
    Engine(["core", write(tmp_path, body)], backend="python", check_examples=False)


def test_duplicate_rule_ids_across_rulesets_name_both(tmp_path):
    body = GOOD_RULE.replace("MINE-UNITS-HIGH", "CLAIM-NPI-INVALID")
    found = problems(tmp_path, body)
    (dup,) = [p for p in found if "duplicate" in p.message]
    assert dup.rule_id == "CLAIM-NPI-INVALID"
    assert "core.toml" in dup.message and dup.file.endswith("mine.toml")


def test_an_example_that_disagrees_is_refused_at_build(tmp_path):
    body = GOOD_RULE.replace(
        'set = { "line[1].units" = "100" }', 'set = { "line[1].units" = "101" }'
    )
    path = write(tmp_path, body)
    with pytest.raises(RulesetError) as info:
        Engine(["core", path], backend="python")
    (problem,) = info.value.problems
    assert problem.line == line_of(path, "[[rule.example]]") + 4  # the second example
    assert "expected the rule not to fire, it did" in problem.message
    # Skipping example checks is the author's explicit choice.
    Engine(["core", path], backend="python", check_examples=False)


def test_bad_toml_names_the_line(tmp_path):
    path = write(tmp_path, GOOD_RULE + "\n[[rule]\nid = 1\n")
    with pytest.raises(RulesetError) as info:
        compile_files(["core", path])
    assert info.value.problems[0].line is not None
    assert "not valid TOML" in info.value.problems[0].message


def test_unknown_rule_keys_are_errors_with_a_hint(tmp_path):
    found = problems(
        tmp_path,
        GOOD_RULE.replace('source = "Test policy"', 'source = "Test policy"\nsevirity = "warn"'),
    )
    assert any("unknown key 'sevirity'" in p.message for p in found)


def test_derived_fact_cycles_are_refused(tmp_path):
    body = """
[[rule]]
id = "MINE-A"
title = "a"
derive = "a"
source = "s"
[rule.fields]
x = "b.y"

[[rule]]
id = "MINE-B"
title = "b"
derive = "b"
source = "s"
[rule.fields]
y = "a.x"
"""
    found = problems(tmp_path, body)
    assert any("depends on itself" in p.message or "cycle" in p.message for p in found)


def test_scope_without_core_facts_explains_what_is_missing(tmp_path):
    path = tmp_path / "alone.toml"
    path.write_text(
        textwrap.dedent("""
        [ruleset]
        name = "alone"
        version = "1"
        [[rule]]
        id = "ALONE-X"
        title = "x"
        scope = ["medicare"]
        severity = "info"
        message = "m"
        source = "s"
    """)
    )
    with pytest.raises(RulesetError) as info:
        compile_files([path])
    assert any("needs a derived fact 'payer_scope'" in p.message for p in info.value.problems)


def test_unknown_ruleset_name_suggests(tmp_path):
    with pytest.raises(RulesetError) as info:
        Engine(["jj7632"], backend="python")
    assert "did you mean 'j7632'?" in str(info.value)


def test_decimal_literals_are_exact(tmp_path):
    engine = Engine(
        [
            "core",
            write(
                tmp_path,
                GOOD_RULE.replace("line.units > 100", "line.units * 1.1 > 110.0000000000000000001"),
            ),
        ],
        backend="python",
        check_examples=False,
    )
    rule = engine.program.rule("MINE-UNITS-HIGH")
    claim = rule.examples[0].claim  # 240 units: 264 > 110.00...1
    assert engine.evaluate(claim).findings
    claim["lines"][0]["units"] = (
        "100"  # 110.0 is not > 110.0000000000000000001 (a float would say equal)
    )
    assert not engine.evaluate(claim).findings


# ------------------------------------------- where an expression's problem is in the file


def test_a_typo_on_the_third_line_of_a_multi_line_condition_gets_its_line_column_and_caret(
    tmp_path,
):
    when = "'''\n    line.units > 100\n    and line.hcpcs == \"J7632\"\n    and line.unitz > 1'''"
    path = write(tmp_path, GOOD_RULE.replace('"line.units > 100"', when))
    with pytest.raises(RulesetError) as info:
        Engine(["core", path], backend="python")
    (problem,) = info.value.problems
    typo_line = line_of(path, "and line.unitz")
    assert (problem.line, problem.column, problem.end_column) == (typo_line, 9, 19)
    assert str(problem) == (
        f"{path}:{typo_line}:9 [MINE-UNITS-HIGH]: when: line has no field 'unitz'"
        " (did you mean 'units'?)\n"
        "    |     and line.unitz > 1'''\n"
        "    |         ^^^^^^^^^^"
    )


def test_a_condition_over_lines_without_parentheses_compiles(tmp_path):
    when = '"""\n    line.units > 100\n    and line.hcpcs == "J7632""""'
    Engine(["core", write(tmp_path, GOOD_RULE.replace('"line.units > 100"', when))])


def test_a_syntax_error_in_a_joined_condition_points_at_its_own_line(tmp_path):
    when = '"""\\\n    line.units > 100 \\\n    and and line.hcpcs == "J7632""""'
    path = write(tmp_path, GOOD_RULE.replace('"line.units > 100"', when))
    (problem,) = problems(tmp_path, GOOD_RULE.replace('"line.units > 100"', when))
    assert problem.message.startswith("when: syntax error")
    assert problem.line == line_of(path, "and and")
    assert problem.source_line[problem.column - 1 :].startswith("and line.hcpcs")


def test_an_escaped_string_maps_the_problem_to_where_it_is_written(tmp_path):
    when = r'"matches(line.note, \"(\") and line.units > 100"'
    path = write(tmp_path, GOOD_RULE.replace('"line.units > 100"', when))
    (problem,) = problems(tmp_path, GOOD_RULE.replace('"line.units > 100"', when))
    assert "not a valid RE2 pattern" in problem.message
    assert problem.line == line_of(path, "when =")
    assert problem.source_line[problem.column - 1 : problem.end_column - 1] == r"\"(\""


def test_message_template_problems_are_located_in_the_message(tmp_path):
    body = GOOD_RULE.replace('"Billed {line.units} units."', '"Billed {line.unit} units }."')
    found = problems(tmp_path, body)
    assert [p.message for p in found] == [
        "message: in {line.unit}: line has no field 'unit' (did you mean 'units'?)",
        "message: unmatched '}' (write }} for a brace)",
    ]
    assert [p.source_line[p.column - 1 : p.end_column - 1] for p in found] == ["line.unit", "}"]


def test_a_field_expression_in_a_fields_table_is_located(tmp_path):
    derive = '\n[[rule]]\nid = "MINE-D"\ntitle = "d"\nsource = "s"\nderive = "d"\n[rule.fields]\nx = "line.ndc * 2"\n'
    (problem,) = problems(tmp_path, derive + GOOD_RULE)
    assert problem.message == "field 'x': arithmetic needs numbers, not str"
    assert problem.source_line[problem.column - 1 : problem.end_column - 1] == "line.ndc * 2"


def test_where_the_file_position_is_unknown_the_message_says_whose_column_it_is(tmp_path):
    derive = '\n[[rule]]\nid = "MINE-D"\ntitle = "d"\nsource = "s"\nderive = "d"\nfields = { x = "1 + line.ndc" }\n'
    (problem,) = problems(tmp_path, derive + GOOD_RULE)
    assert problem.column is None
    assert problem.message == (
        "field 'x': arithmetic needs numbers, not str (at column 1 of the text, not of the file)"
    )


@pytest.mark.parametrize(
    ("severity", "message"),
    [
        ('"warning"', "severity 'warning' is not one of reject, deny, warn, info"),
        (
            '{ aetna = "deny", default = "warning" }',
            "severity 'warning' for default is not one of reject, deny, warn, info",
        ),
        ('{ aetna = "denied", default = "warn" }', "severity 'denied' for aetna is not one of"),
    ],
)
def test_severity_problems_use_the_authors_words(tmp_path, severity, message):
    (problem,) = problems(tmp_path, GOOD_RULE.replace('"warn"', severity, 1))
    assert problem.message.startswith(message) and "*" not in problem.message


def test_located_ruleset_errors_survive_pickling(tmp_path):
    import pickle

    path = write(tmp_path, GOOD_RULE.replace("line.units > 100", "line.unit > 100"))
    with pytest.raises(RulesetError) as info:
        Engine(["core", path], backend="python")
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value) and "^" in str(copy)
    assert copy.problems[0].column == info.value.problems[0].column == 9
