"""Hostile rulesets: every one is refused with a RulesetError naming file, line and rule id.

Regression tests for the ruleset half of issue 8: control characters, conditions that crashed the
compiler (regex syntax, huge literals, deep nesting, arithmetic overflowing the exact context),
regexes that backtracked, example checks that grew with rules x examples, and one broken plugin
stopping every Engine.
"""

from __future__ import annotations

import json
import textwrap
from importlib import metadata

import pytest

from conftest import BACKENDS
from hcpcs_rules import Engine, RulesetError, functions
from hcpcs_rules.engine import _Closures, check_examples_of
from hcpcs_rules.errors import RulesetProblem
from hcpcs_rules.expr import MAX_DEPTH, MAX_NODES, MAX_TEXT
from hcpcs_rules.load import MAX_TOML_DEPTH
from hcpcs_rules.testing.rulesets import HEADER, rule


def write(tmp_path, body: str, header: str = HEADER):
    path = tmp_path / "mine.toml"
    path.write_text(textwrap.dedent(header) + body, encoding="utf-8")
    return path


def refused(tmp_path, body: str, backend: str = "python", header: str = HEADER) -> RulesetError:
    path = write(tmp_path, body, header)
    with pytest.raises(RulesetError) as info:
        Engine(["core", path], backend=backend)
    return info.value


def the_problem(error: RulesetError) -> RulesetProblem:
    (problem,) = error.problems
    return problem


def located(
    tmp_path, body: str, fragment: str | tuple[str, ...], backend: str = "python"
) -> RulesetProblem:
    """The single problem of ``body``, checked to name the file, the rule and a line, and to say
    ``fragment`` (or one of several, where Python versions fail at different points)."""
    error = refused(tmp_path, body, backend)
    problem = the_problem(error)
    assert problem.file == str(tmp_path / "mine.toml")
    assert problem.rule_id == "MINE-RULE"
    assert problem.line is not None
    fragments = (fragment,) if isinstance(fragment, str) else fragment
    assert any(f in problem.message for f in fragments), problem.message
    return problem


# ------------------------------------------------------------------ control characters


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("title", r'"Esc \u001b[2J here"'),
        ("message", r'"Billed \u0000 {line.units}"'),
        ("source", r'"Policy \u009b31m"'),
        ("message", r'"two\nlines {line.units}"'),
        ("title", r'"tab\there"'),
        ("source", r'"reads \u202e backwards"'),
        ("source", r'"line\u2028separator"'),
    ],
)
def test_control_characters_in_one_line_texts_are_refused(tmp_path, key, value):
    problem = located(tmp_path, rule(**{key: value}), "control character")
    assert problem.message.startswith(key)


def test_line_breaks_and_tabs_are_fine_in_notes_and_conditions(tmp_path):
    path = write(
        tmp_path, rule(when="line.units > 100\n\tand line.units < 1000", notes=r'"one\n\ttwo"')
    )
    engine = Engine(["core", path], backend="python")
    assert engine.program.rule("MINE-RULE").doc.notes == "one\n\ttwo"
    header = HEADER.replace('version = "0.1.0"', 'version = "0.1.0"\ndescription = "a\\nb"')
    assert Engine(["core", write(tmp_path, rule(), header)]).program.rulesets[-1].description == (
        "a\nb"
    )


def test_errors_never_print_raw_control_characters(tmp_path):
    body = rule(id=r'"MINE-\u001b[31mRULE"', title=r'"x\u001b]0;owned\u0007"')
    error = refused(tmp_path, body)
    text = str(error)
    assert all(ord(c) >= 0x20 or c == "\n" for c in text), repr(text)
    assert "\\x1b" in text  # escaped, the way repr writes it
    # The rule id and the quoted source line are escaped too.
    problem = RulesetProblem("f\x1b.toml", 3, "ID-\x1b", "m\x9b", 'x = "\x00\u2028"')
    assert str(problem) == 'f\\x1b.toml:3 [ID-\\x1b]: m\\x9b\n    | x = "\\x00\\u2028"'


def test_a_raw_control_character_in_the_file_is_escaped_in_the_quote(tmp_path):
    # TOML refuses raw control characters in strings: the quoted line must not print them raw.
    path = tmp_path / "mine.toml"
    path.write_text(textwrap.dedent(HEADER) + 'x = "a\x1bb"\n', encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        Engine(["core", path])
    assert "\x1b" not in str(info.value) and "\\x1b" in str(info.value)


# ----------------------------------------------------------- names and sizes


@pytest.mark.parametrize(
    ("keys", "fragment"),
    [
        ({"scope": '["medicare", "medicare advantage"]'}, "scope must be"),
        ({"codes": '["J7632", "j7632"]'}, "codes must be"),
        ({"codes": '["J7632 #"]'}, "codes must be"),
        ({"severity": '{ "med icare" = "deny", default = "warn" }'}, "not an overlay name"),
        ({"title": json.dumps("t" * 301)}, "title is 301 characters long"),
        ({"message": json.dumps("m" * 2001)}, "message is 2,001 characters long"),
    ],
)
def test_names_must_match_their_pattern_and_texts_their_length(tmp_path, keys, fragment):
    located(tmp_path, rule(**keys), fragment)


def test_constant_names_and_sizes_are_bounded(tmp_path):
    header = HEADER + '\n[constants]\n"Bad Name" = 1\nbig = 1000000000000000000\n'
    header += "many = [" + ", ".join(["1"] * 1001) + "]\n"
    messages = [p.message for p in refused(tmp_path, rule(), header=header).problems]
    assert any("constant name 'Bad Name'" in m for m in messages)
    assert any("constant 'big': an integer of more than 18 digits" in m for m in messages)
    assert any("constant 'many': a list of 1,001 items" in m for m in messages)


# ----------------------------------------------- conditions that crashed the compiler


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ('matches(line.note, "(")', "not a valid RE2 pattern: missing ): ("),
        ("line.units > " + "9" * 4400, "characters long"),
        ("line.units > " + "9" * 3900, f"an integer of more than {60} digits"),
        ("not " * 250 + "line.units > 1", f"nests 253 deep; at most {MAX_DEPTH}"),
        (" + ".join(["line.units"] * 300) + " > 1", "nests 302 deep"),
        ("not " * 5000 + "line.units > 1", "characters long"),
        # Python 3.11 cannot parse it at all; 3.13's parser can, and then the depth bound holds.
        ("-" * 3980 + "line.units > 1", ("cannot parse", "nests 3983 deep; at most")),
        ("(" * 1000 + "line.units > 1" + ")" * 1000, "too many nested parentheses"),
        (
            "line.units * 1000000000000000000000000000000000000 * 1000000000000000000000000000000000000 > 1",
            "'*' could need up to 92 digits (86 before the decimal point, 6 after); exact arithmetic holds 60",
        ),
        ("line.units > 1e999999999", "needs more than 60 digits"),
        ("line.units * 1e-50 > 1", "could need up to 68 digits"),
        (
            "ceil_div(line.units, 0.0000000000000000000000000000000000000000000000001) > 1",
            "ceil_div() could need",
        ),
    ],
)
def test_conditions_that_crashed_the_compiler_are_ruleset_errors(tmp_path, backend, when, fragment):
    located(tmp_path, rule(when), fragment, backend)


def test_too_many_parts_are_refused(tmp_path):
    when = " or ".join(["1 == 1"] * (MAX_NODES // 3 + 1))
    assert len(when) <= MAX_TEXT
    located(tmp_path, rule(when), "parts; at most")


def test_arithmetic_within_the_bound_is_accepted(tmp_path):
    # 12 + 37 = 49 digits before the point, 6 after: 55 <= 60.
    big = 10**36
    path = write(tmp_path, rule(f"line.units * {big} > {100 * big}"))
    engine = Engine(["core", path])
    result = engine.evaluate(engine.program.rule("MINE-RULE").examples[0].claim)
    assert "MINE-RULE" in {f.rule_id for f in result.findings}


def test_derived_fields_carry_their_digit_bound_to_the_rules_that_read_them(tmp_path):
    derive = """
[[rule]]
id = "MINE-BIG"
title = "Big"
source = "s"
derive = "big"
[rule.fields]
value = "line.units * 1000000000000000000000000000000"
"""
    # 12 + 31 = 43 digits before the point for the field (fine), + 31 more in the rule: 74,
    # and 6 after it.
    problem = located(
        tmp_path, derive + rule("big.value * 1000000000000000000000000000000 > 1"), "could need"
    )
    assert "up to 80 digits (74 before the decimal point, 6 after)" in problem.message


def test_plugin_functions_without_a_bound_count_as_claim_values(tmp_path, monkeypatch):
    monkeypatch.setitem(
        functions.FUNCTIONS,
        "plugin_number",
        functions.Function("plugin_number", ("decimal",), "decimal", lambda x: x, "test"),
    )
    big = 10**36
    ok = f"plugin_number(line.units) * {big} > {100 * big}"
    assert Engine(["core", write(tmp_path, rule(ok))])
    too_big = "plugin_number(line.units) * 1" + "0" * 42 + " > 1"
    located(tmp_path, rule(too_big), "could need up to 61 digits")


_DEEP = MAX_DEPTH - 3  # `line.units > 1` is 3 deep (Compare, Attribute, Name)


def _deepest(kind: str) -> str:
    """An expression exactly MAX_DEPTH deep made of nested ``kind`` nodes."""
    k = _DEEP
    return {
        "not": "not " * k + "line.units > 1",
        "and/or": "".join(f"line.units > {i} {'and' if i % 2 else 'or'} (" for i in range(k))
        + "line.units > 0"
        + ")" * k,
        "sum": " + ".join(["line.number"] * (k + 1)) + " > 1",
        "minus": "-" * (k - 1) + "line.units < 1",
        "comparison": "(" * k + "line.units > 1" + "".join(") != False" for _ in range(k)),
        "if/else": "line.units > "
        + "".join(f"({i} if line.units > {i} else " for i in range(k - 1))
        + "0"
        + ")" * (k - 1),
        "if test": "(" * k + "line.units > 1" + " if True else False)" * k,
        "call": "max(" * (k - 1) + "line.units" + ", 1)" * (k - 1) + " > 1",
        "coalesce": "coalesce(" * (k - 1) + "line.units" + ", 1)" * (k - 1) + " > 1",
        # Deep inside an aggregate's filter, which the generated code nests in a generator.
        "aggregate": "count(l for l in lines if " + "not " * (k - 3) + "l.units > 1) > 0",
        "mixed": "coalesce(max(" * ((k - 1) // 2)
        + "line.units"
        + ", 1), 2)" * ((k - 1) // 2)
        + " > 1",
    }[kind]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "kind",
    [
        "not",
        "and/or",
        "sum",
        "minus",
        "comparison",
        "if/else",
        "if test",
        "call",
        "coalesce",
        "aggregate",
        "mixed",
    ],
)
def test_the_deepest_accepted_expression_of_every_kind_compiles(tmp_path, backend, kind):
    import ast

    from hcpcs_rules.expr import _shape

    when = _deepest(kind)
    assert _shape(ast.parse(when, mode="eval").body)[0] in (MAX_DEPTH, MAX_DEPTH - 1)
    engine = Engine(["core", write(tmp_path, rule(when))], backend=backend, check_examples=False)
    claim = engine.program.rule("MINE-RULE")
    engine.evaluate(next(iter(claim.examples)).claim)  # runs the generated code
    # One level deeper is refused (where the kind allows adding one).
    if kind == "not":
        located(tmp_path, rule("not not " + when), f"at most {MAX_DEPTH}", backend)


# ------------------------------------------------------------------------------- TOML


@pytest.mark.parametrize(
    "value",
    [
        "[" * 400 + "]" * 400,
        "{ a = " * 400 + "1" + " }" * 400,
        "[" * (MAX_TOML_DEPTH + 1) + "]" * (MAX_TOML_DEPTH + 1),
        "9" * 5000,
    ],
)
def test_deep_or_huge_toml_is_a_ruleset_error(tmp_path, value):
    error = refused(tmp_path, rule(), header=HEADER + f"\n[constants]\nx = {value}\n")
    problem = the_problem(error)
    assert problem.file == str(tmp_path / "mine.toml")
    assert "nested" in problem.message or "digits" in problem.message


# ------------------------------------------------------------------------------ regexes


@pytest.mark.parametrize("backend", BACKENDS)
def test_regexes_run_in_linear_time_with_full_match_semantics(tmp_path, backend):
    # (a+)+$ backtracks exponentially in Python's re on this note; RE2 answers at once.
    path = write(
        tmp_path,
        rule('not matches(line.note, "(a+)+$")')
        .replace("set = {", 'set = { "line[1].note" = "aaaa",')
        .replace('"line[1].units" = "100"', '"line[1].units" = "240"'),
    )
    engine = Engine(["core", path], backend=backend)
    examples = engine.program.rule("MINE-RULE").examples
    assert [e.fires for e in examples] == [True, False]  # "...a!" fires, "aaaa" does not
    ids = {f.rule_id for f in engine.evaluate(examples[0].claim).findings}
    assert "MINE-RULE" in ids


def test_matches_is_a_full_match():
    matches = functions.FUNCTIONS["matches"].impl
    assert matches("abc", "abc") and not matches("abcd", "abc") and not matches("xabc", "abc")
    assert matches("ab", "a|ab")  # alternation is anchored as a whole
    assert matches("3336C0004X", "3336[0-9A-Z]{5}X|332B00000X")
    assert not matches("3336C0004XX", "3336[0-9A-Z]{5}X|332B00000X")
    assert not matches(None, "a") and not matches("a", None)
    assert matches("a\ud800", "a.")  # a lone surrogate cannot crash RE2's UTF-8 matching


# ------------------------------------------------------------------------ example checks


def test_example_checks_run_each_rule_with_only_what_it_depends_on():
    engine = Engine(["core", "j7632"], backend="python", check_examples=False)
    closures = _Closures(engine)
    by_id = {r.id: r for r in engine.program.rules}
    deriver = {f.name: f.rule_id for f in engine.program.facts}
    for compiled in engine.program.rules:
        closure = closures.closure(compiled)
        assert compiled.id in closure
        for member in closure:  # closed under "derives a fact it depends on"
            assert {deriver[fact] for fact in by_id[member].depends} <= closure
    units = closures.closure(engine.program.rule("J7632-UNITS-MISMATCH"))
    assert {"J7632-DERIVE-UNITS", "J7632-DERIVE-DISPENSED-MG"} <= units
    assert len(units) < len(engine.program.rules) // 4
    check_examples_of(engine)  # every shipped example still passes through the subsets


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_example_reports_what_the_whole_program_found(tmp_path, backend):
    body = rule().replace('set = { "line[1].units" = "100" }', 'set = { "line[1].units" = "101" }')
    problem = the_problem(refused(tmp_path, body, backend))
    assert problem.rule_id == "MINE-RULE"
    assert "example 'near miss': expected the rule not to fire, it did" in problem.message
    body = rule().replace("fires = true", 'fires = true\nset = { "line[1].units" = "5.5" }')
    problem = the_problem(refused(tmp_path, body, backend))
    # The claim's other findings (from core) are listed, as when examples ran the whole program.
    assert "it did not (the claim got: CLAIM-UNITS-NOT-WHOLE)" in problem.message


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rule_failing_on_its_own_example_is_a_ruleset_error(tmp_path, backend, monkeypatch):
    def explode(value):
        raise ZeroDivisionError("plugin bug")

    monkeypatch.setitem(
        functions.FUNCTIONS,
        "explode",
        functions.Function("explode", ("decimal",), "bool", explode, "test"),
    )
    error = refused(tmp_path, rule("explode(line.units)"), backend)
    problem = the_problem(error)  # once, on the rule that raised, whichever example found it
    assert problem.rule_id == "MINE-RULE" and problem.line is not None
    assert "ZeroDivisionError: plugin bug" in problem.message


# ------------------------------------------------------------------------------ plugins


class _BrokenEntryPoint:
    name = "broken"
    value = "broken_plugin:path"
    group = "hcpcs_rules.rulesets"

    def load(self):
        raise ImportError("No module named 'broken_plugin'")


def test_a_broken_plugin_only_fails_engines_that_use_it(monkeypatch):
    real = metadata.entry_points

    def entry_points(**kwargs):
        found = list(real(**kwargs))
        if kwargs.get("group") == "hcpcs_rules.rulesets":
            found.append(_BrokenEntryPoint())
        return found

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    assert Engine(["core"]).rulesets == ("core@1.2.0",)
    assert Engine(["j7632"]).rulesets == ("core@1.2.0", "j7632@1.2.0")
    for selection in (None, ["core", "broken"]):
        with pytest.raises(RulesetError) as info:
            Engine(selection)
        (problem,) = info.value.problems
        assert problem.file == "<entry point broken = broken_plugin:path>"
        assert "ImportError" in problem.message and "broken_plugin" in problem.message


# ------------------------------------------------------------- found by tests/test_ruleset_fuzz.py


def test_a_single_rule_table_is_a_ruleset_error(tmp_path):
    # `[rule]` instead of `[[rule]]`, with a key: the line-number scan crashed (IndexError).
    path = tmp_path / "mine.toml"
    path.write_text("[ruleset]\n[constants]\n[rule]\n_ = []\n", encoding="utf-8")
    with pytest.raises(RulesetError, match=r"rules must be written as \[\[rule\]\] tables"):
        Engine(["core", path])


def test_a_derive_that_is_not_a_string_is_a_ruleset_error(tmp_path):
    # `derive = []` crashed the compiler (TypeError: unhashable type: 'list').
    body = rule().replace('severity = "warn"', 'severity = "warn"\nderive = []')
    problem = located(tmp_path, body, "derive must name a fact")
    assert problem.line is not None


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_takes_only_lists(tmp_path, backend):
    # `count(claim.date_of_service)` type-checked ("any") and raised TypeError on every claim.
    located(tmp_path, rule("not -count(claim.date_of_service) > 1"), "count() argument 1", backend)
    path = write(tmp_path, rule("count(line.modifiers) < 1 and line.units > 100"))
    assert Engine(["core", path], backend=backend).program.rule("MINE-RULE")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_presence_test_of_a_constant_is_folded(tmp_path, backend):
    # `0 == None` was written as `(0 is None)`: a SyntaxWarning at every build (an error under
    # this suite's warning filter). Found by tests/test_ruleset_fuzz.py.
    path = write(
        tmp_path,
        rule("line.units > 100 and not (0 == None) and 0 != None and None == None"),
    )
    engine = Engine(["core", path], backend=backend)
    claim = engine.program.rule("MINE-RULE").examples[0].claim
    assert "MINE-RULE" in {f.rule_id for f in engine.evaluate(claim).findings}


@pytest.mark.parametrize("backend", BACKENDS)
def test_whole_positive_accepts_integers(tmp_path, backend):
    # `whole_positive(1)` raised AttributeError (an int has no to_integral_value) on every claim.
    path = write(
        tmp_path, rule("whole_positive(1) and whole_positive(line.number) and line.units > 100")
    )
    engine = Engine(["core", path], backend=backend)
    claim = engine.program.rule("MINE-RULE").examples[0].claim
    assert "MINE-RULE" in {f.rule_id for f in engine.evaluate(claim).findings}
    assert not functions.FUNCTIONS["whole_positive"].impl(0)


def test_an_engine_failure_on_examples_is_reported_once(monkeypatch):
    # durable_rules failing (error 303, say) on every example gave one problem per example.
    from hcpcs_rules.errors import BackendError

    engine = Engine(["core"], backend="python", check_examples=False)

    def subset(rule_ids):
        def evaluate(facts):
            raise BackendError("durable_rules failed on claim 'X': error code: 303")

        return evaluate

    monkeypatch.setattr(engine.backend, "subset", subset)
    with pytest.raises(RulesetError) as info:
        check_examples_of(engine)
    (problem,) = info.value.problems
    assert "error code: 303" in problem.message and problem.rule_id is not None
