"""The compiler's passes one at a time: each run on a small ruleset, after the passes before it.

``after(pass)`` runs every pass before ``pass`` (the fixture), so a test sees exactly what that
pass adds: its output in the Build, or the problems it reports. End-to-end errors are
tests/test_compile.py's; here is which pass owns which decision.
"""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from hcpcs_rules import ir
from hcpcs_rules.compile import PASSES
from hcpcs_rules.compile.examples import check_examples
from hcpcs_rules.compile.graph import order
from hcpcs_rules.compile.lower import lower, severity
from hcpcs_rules.compile.read import read_specs
from hcpcs_rules.compile.resolve import check_requires, resolve_facts
from hcpcs_rules.compile.specs import ExampleSpec, RuleSpec, structure
from hcpcs_rules.compile.state import Build
from hcpcs_rules.compile.stratify import stratify
from hcpcs_rules.compile.typecheck import type_check
from hcpcs_rules.errors import RulesetError
from hcpcs_rules.expr import names_used
from hcpcs_rules.load import Installed, read_ruleset

HEADER = '[ruleset]\nname = "mine"\nversion = "1"\n'


@pytest.fixture
def build(tmp_path):
    """``build(body, step, core=False)``: a Build of ``body`` after the passes before ``step``."""

    def make(body: str, step, *, core: bool = False) -> Build:
        path = tmp_path / "mine.toml"
        # A ruleset reading core's facts or payers must say so (requires is enforced).
        header = HEADER + ('requires = ["core"]\n' if core else "")
        path.write_text(header + textwrap.dedent(body), encoding="utf-8")
        texts = [read_ruleset(Installed().path("core"))] if core else []
        result = Build((*texts, read_ruleset(path)))
        for earlier in PASSES[: PASSES.index(step)]:
            earlier(result)
        return result

    return make


def messages(build: Build) -> list[str]:
    return [p.message for p in build.problems]


def line_of(build: Build, fragment: str) -> int:
    lines = build.texts[-1].lines
    return next(i for i, text in enumerate(lines, start=1) if fragment in text)


def test_the_passes_run_in_this_order():
    assert (
        read_specs,
        resolve_facts,
        type_check,
        lower,
        check_requires,
        stratify,
        check_examples,
    ) == PASSES
    assert all(step.__doc__ for step in PASSES)


# -- the one cycle check ------------------------------------------------------------------------


def test_order_puts_dependencies_first_and_keeps_the_given_order_otherwise():
    deps = {"a": ["c"], "b": [], "c": ["b"], "d": []}
    assert order(list(deps), deps.__getitem__) == (["b", "c", "a", "d"], {})


def test_order_names_the_trail_round_a_cycle_for_each_node_that_runs_into_it():
    deps = {"a": ["b"], "b": ["a"], "c": ["a"], "d": []}
    ordered, stuck = order(list(deps), deps.__getitem__)
    assert ordered == ["d"]
    assert stuck == {"a": ("a", "b", "a"), "b": ("b", "a", "b"), "c": ("c", "a", "b", "a")}


# -- 1. read specs ------------------------------------------------------------------------------

RULE = """
[[rule]]
id = "MINE-X"
title = "X"
source = "S"
severity = "warn"
message = "m"
when = "line.units > 1"
"""


def test_read_specs_reports_unknown_missing_and_mistyped_keys_each_at_its_line(build):
    b = build(
        RULE.replace('title = "X"', 'titel = "X"').replace('source = "S"', "source = 3"),
        read_specs,
    )
    read_specs(b)
    found = {p.message: p.line for p in b.problems}
    assert found == {
        "unknown key 'titel' (did you mean 'title'?)": line_of(b, "titel"),
        "a rule needs a title": line_of(b, "[[rule]]"),  # missing: the table's line
        "a rule needs a source: the policy, article or regulation it rests on": line_of(
            b, "source ="
        ),
    }
    assert all(p.rule_id == "MINE-X" for p in b.problems)
    (work,) = b.rules
    assert work.spec.title is None and work.spec.when == "line.units > 1" and not work.sound


def test_read_specs_drops_a_rule_whose_id_is_taken(build):
    b = build(RULE + RULE.replace('title = "X"', 'title = "Y"'), read_specs)
    read_specs(b)
    assert [w.spec.title for w in b.rules] == ["X"]
    first = line_of(b, "[[rule]]")
    assert messages(b) == [
        f"duplicate rule id 'MINE-X': already defined at {b.texts[0].file}:{first}"
        " (ruleset 'mine'); rule ids are unique across all loaded rulesets:"
        " give this rule another id"
    ]


def test_read_specs_stops_the_build_on_an_unreadable_header(build):
    b = build(RULE, read_specs)
    b.texts[0].header["version"] = "not a version!"
    with pytest.raises(RulesetError, match=r"\[ruleset\] needs a version"):
        read_specs(b)


def test_structure_fills_a_spec_and_keeps_defaults_for_what_is_wrong(build):
    b = build(RULE, read_specs)
    where = b.where(b.texts[0], b.texts[0].rules[0])
    spec = structure(
        RuleSpec, {"id": "X-1", "on": "both", "notes": 1}, where, unknown="unknown key {key}"
    )
    assert (spec.id, spec.on, spec.notes, spec.scope) == ("X-1", "line", None, ("all",))
    assert messages(b) == [
        "a rule needs a title",
        "a rule needs a source: the policy, article or regulation it rests on",
        "notes must be a string",
        "on must be 'line' or 'claim', not 'both'",
    ]


def test_names_used_reads_the_names_of_a_text_without_typing_it():
    assert names_used("b.twice > 4 and exists(a) and ceil_div(x, 2) > limit") == {
        "b",
        "a",
        "exists",
        "ceil_div",
        "x",
        "limit",
    }
    assert names_used("units.expected\n  and not exists(dispensed)") == {
        "units",
        "exists",
        "dispensed",
    }
    assert names_used("b.twice >") == frozenset()  # does not parse: the type check says why


# -- 2. resolve facts ---------------------------------------------------------------------------

FACTS = """
[[rule]]
id = "MINE-B"
title = "b reads a (written first)"
source = "S"
derive = "b"
fields = { twice = "a.units * 2" }

[[rule]]
id = "MINE-A"
title = "a"
source = "S"
derive = "a"
fields = { units = "line.units" }
"""


def test_resolve_facts_orders_facts_by_the_names_their_fields_use(build):
    b = build(FACTS, resolve_facts)
    resolve_facts(b)
    assert b.problems == []
    assert [w.derive for w in b.fact_order] == ["a", "b"]
    assert {f.name: (f.per, f.rule_id) for f in b.facts.values()} == {
        "b": ("line", "MINE-B"),
        "a": ("line", "MINE-A"),
    }


def test_resolve_facts_orders_even_a_field_that_will_not_type(build):
    # A typo in a field is the type check's to report; ordering only reads the names.
    b = build(FACTS.replace("a.units * 2", "a.unit * 2"), resolve_facts)
    resolve_facts(b)
    assert b.problems == [] and [w.derive for w in b.fact_order] == ["a", "b"]


def test_resolve_facts_refuses_facts_whose_fields_read_round_a_cycle(build):
    b = build(FACTS.replace('"line.units"', '"b.twice"'), resolve_facts)
    resolve_facts(b)
    assert b.fact_order == []
    assert messages(b) == [
        "derived fact 'b' depends on itself through other derived facts (b -> a -> b)",
        "derived fact 'a' depends on itself through other derived facts (a -> b -> a)",
    ]
    assert [p.line for p in b.problems] == [line_of(b, "fields = { twice"), line_of(b, "units =")]


def test_resolve_facts_checks_names_and_ownership(build):
    b = build(
        FACTS.replace('derive = "a"', 'derive = "b"').replace("twice", "thrice"), resolve_facts
    )
    resolve_facts(b)
    first = line_of(b, 'derive = "b"')
    assert messages(b) == [
        f"fact 'b' is already derived by MINE-B (ruleset 'mine', {b.texts[-1].file}:{first});"
        " each fact has one rule: give one of them another name",
    ]


# -- 3. type-check ------------------------------------------------------------------------------


def test_type_check_types_fields_in_fact_order_then_conditions(build):
    b = build(FACTS + RULE.replace("line.units > 1", "b.twice > 4 and exists(a)"), type_check)
    type_check(b)
    assert b.problems == []
    assert dict(b.fact_fields) == {"b": {"twice": "decimal"}, "a": {"units": "decimal"}}
    (work,) = [w for w in b.rules if w.spec.id == "MINE-X"]
    assert work.when == (
        ir.Compare(">", ir.Path("b", ("twice",), "decimal", derived=True), ir.Const(4, "int")),
        ir.Exists("a"),
    )
    assert work.message == ("m",)


def test_type_check_locates_a_typo_in_the_condition(build):
    b = build(RULE.replace("line.units", "line.unit"), type_check)
    type_check(b)
    (problem,) = b.problems
    assert problem.message == "when: line has no field 'unit' (did you mean 'units'?)"
    assert problem.line == line_of(b, "when =")
    assert problem.source_line[problem.column - 1 : problem.end_column - 1] == "line.unit"


# -- 4. lower -----------------------------------------------------------------------------------


def test_lower_turns_codes_scope_and_dates_into_fields_not_conjuncts(build):
    body = RULE.replace(
        'severity = "warn"',
        'codes = ["J7632"]\nscope = ["medicare"]\neffective = { from = 2020-01-01 }\n'
        'severity = { medicare = "deny" }',
    )
    b = build(body, lower, core=True)
    lower(b)
    assert b.problems == []
    rule = next(w.lowered for w in b.rules if w.spec.id == "MINE-X")
    # The when condition alone: nothing a backend must undo.
    assert rule.conjuncts == (
        ir.Compare(">", ir.Path("line", ("units",), "decimal"), ir.Const(1, "int")),
    )
    assert (rule.codes, rule.scope) == (("J7632",), ("medicare",))
    assert rule.effective == (ir.Window("*", dt.date(2020, 1, 1), None),)
    # What the fields mean as conditions, defined once in ir.
    assert ir.field_conjuncts(rule) == (
        ir.codes_conjunct(("J7632",)),
        ir.scope_conjunct(("medicare",)),
        ir.Compare(
            ">=",
            ir.Path(ir.SERVICE_FACT, ("date",), "date", derived=True),
            ir.Const(dt.date(2020, 1, 1), "date"),
        ),
    )
    assert ir.field_conjuncts(rule, codes=False, scope=False) == ir.field_conjuncts(rule)[2:]
    assert rule.finding.severity == (("medicare", "deny"),)
    assert rule.depends == (ir.SCOPE_FACT, ir.SERVICE_FACT)
    assert rule.doc == ir.RuleDoc(
        scope=("medicare",),
        codes=("J7632",),
        effective={"from": dt.date(2020, 1, 1)},
        when="line.units > 1",
        message="m",
        notes=None,
    )


def test_lower_leaves_out_a_rule_with_problems(build):
    b = build(RULE.replace('when = "line.units > 1"', 'codes = "J7632"'), lower)
    lower(b)
    assert [w.lowered for w in b.rules] == [None]
    assert messages(b)[0].startswith("codes must be a non-empty list of HCPCS codes")


@pytest.mark.parametrize(
    ("written", "scope", "pairs", "problem"),
    [
        ("warn", ["all"], (("*", "warn"),), None),
        ({"medicare": "deny", "default": "warn"}, ["all"], (("medicare", "deny"), ("*", "warn")), None),
        ({"medicare": "deny"}, ["medicare", "commercial"], (("medicare", "deny"),),
         "severity names no level for commercial and has no default"),
        ({"medicare": "deny"}, ["all"], (("medicare", "deny"),),
         "a per-payer severity needs a default for the other payers"),
        ({"default": "warning"}, ["all"], (("*", "warning"),),
         "severity 'warning' for default is not one of reject, deny, warn, info (did you mean 'warn'?)"),
        (3, ["all"], None, "severity must be a level or a table of levels per overlay"),
    ],
)  # fmt: skip
def test_severity_per_payer_is_decided_in_one_place(build, written, scope, pairs, problem):
    b = build(RULE, lower)
    where = b.where(b.texts[0], b.texts[0].rules[0])
    assert severity(where, written, scope) == pairs
    assert messages(b) == ([] if problem is None else [problem])


# -- 5. stratify --------------------------------------------------------------------------------


def test_stratify_runs_each_rule_after_the_rules_deriving_what_it_reads(build):
    b = build(RULE.replace("line.units > 1", "b.twice > 4") + FACTS, stratify)
    stratify(b)
    assert b.problems == []
    assert [(r.id, r.stratum) for r in b.program_rules] == [
        ("MINE-A", 0),
        ("MINE-B", 1),
        ("MINE-X", 2),
    ]


def test_stratify_refuses_rules_that_read_round_a_cycle(build):
    # The fields are fine; the cycle goes through the conditions, which only rules have.
    cyclic = FACTS.replace('derive = "b"', 'derive = "b"\nwhen = "exists(a)"').replace(
        'derive = "a"', 'derive = "a"\nwhen = "exists(b)"'
    )
    b = build(cyclic.replace("a.units * 2", "line.units"), stratify)
    stratify(b)
    assert messages(b) == [
        "derived facts form a cycle: MINE-B -> MINE-A -> MINE-B",
        "derived facts form a cycle: MINE-A -> MINE-B -> MINE-A",
    ]


# -- 6. check examples --------------------------------------------------------------------------

EXAMPLES = (
    """
[claims.base]
id = "B"
lines = [{ hcpcs = "J7632", units = "2" }]
"""
    + RULE
    + """
[[rule.example]]
name = "patched"
base = "base"
set = { "line[1].units" = "1", "line[2]" = { hcpcs = "A" } }
fires = false

[[rule.example]]
base = "bsae"
fires = true
"""
)


def test_check_examples_patches_base_claims_and_attaches_them(build):
    b = build(EXAMPLES.split("[[rule.example]]\nbase")[0], check_examples)
    check_examples(b)
    assert b.problems == []
    (rule,) = b.program_rules
    (example,) = rule.examples
    first = line_of(b, "[[rule.example]]")
    assert (example.name, example.fires, example.file_line) == ("patched", False, first)
    assert example.claim["lines"] == [{"hcpcs": "J7632", "units": "1"}, {"hcpcs": "A"}]
    assert b.texts[0].claims["base"]["lines"][0]["units"] == "2"  # the base is left as it was


def test_check_examples_reports_each_problem_at_the_examples_line(build):
    b = build(EXAMPLES.replace("fires = false", "fires = false\nfire = true"), check_examples)
    check_examples(b)
    first, second = (i for i, t in enumerate(b.texts[0].lines, 1) if t == "[[rule.example]]")
    assert [(p.message, p.line) for p in b.problems] == [
        ("example: unknown key 'fire' (did you mean 'fires'?)", first),
        ("example base 'bsae' is not a claim in [claims] (did you mean 'base'?)", second),
    ]


def test_check_examples_refuses_patches_that_are_not_tables_or_lists(build):
    body = EXAMPLES.replace(
        'set = { "line[1].units" = "1", "line[2]" = { hcpcs = "A" } }', "set = 1"
    )
    b = build(body.replace('base = "bsae"', 'base = "base"\nunset = "id"'), check_examples)
    check_examples(b)
    assert messages(b) == [
        'example set must be a table of path = value, e.g. set = { "line[1].units" = "1" }',
        "example unset must be a list of paths",
    ]
    assert b.program_rules[0].examples == ()


def test_example_paths_count_lines_from_1_as_findings_do(build):
    # One counting convention wherever an author writes a line: line[1] is line = 1. The old
    # 0-based spelling is refused with its translation, never read silently one line off.
    body = EXAMPLES.replace('"line[2]" = { hcpcs = "A" }', '"line[1].modifiers" = ["KO"]')
    b = build(
        body.replace('base = "bsae"', 'base = "base"\nset = { "lines[0].units" = "3" }'),
        check_examples,
    )
    check_examples(b)
    assert messages(b) == [
        "example patch: 'lines[0].units': a path names a line by its number, counted from 1 "
        "as findings count lines: write 'line[1].units'"
    ]
    (example,) = b.program_rules[0].examples
    assert example.claim["lines"] == [{"hcpcs": "J7632", "units": "1", "modifiers": ["KO"]}]


def test_example_paths_refuse_item_0_and_a_bare_line(build):
    for path, said in (("line[0].units", "items count from 1"), ("line.units", "write line[N]")):
        b = build(EXAMPLES.replace('"line[1].units" = "1"', f'"{path}" = "1"'), check_examples)
        check_examples(b)
        assert said in messages(b)[0]


def test_a_message_with_braces_is_said_as_written(build):
    # Messages are not format strings: only {value!r} is filled in (a brace once crashed this).
    b = build(RULE, check_examples)
    where = b.where(b.texts[0], b.texts[0].rules[0])
    structure(ExampleSpec, {"fires": True, "set": 1}, where, unknown="{key}")
    assert messages(b) == [
        'example set must be a table of path = value, e.g. set = { "line[1].units" = "1" }'
    ]


def test_lower_keeps_per_overlay_dates_as_windows(build):
    body = RULE.replace(
        'severity = "warn"',
        "effective = { medicare = { from = 2007-07-01 }, cigna = { to = 2019-12-31 } }\n"
        'severity = "warn"',
    )
    b = build(body, lower, core=True)
    lower(b)
    assert b.problems == []
    rule = next(w.lowered for w in b.rules if w.spec.id == "MINE-X")
    assert rule.effective == (
        ir.Window("medicare", dt.date(2007, 7, 1), None),
        ir.Window("cigna", None, dt.date(2019, 12, 31)),
    )
    (alternatives,) = ir.effective_conjuncts(rule.effective)
    overlay = ir.Path(ir.SCOPE_FACT, ("overlay",), "str", derived=True)
    # An overlay no window names is not date-limited.
    assert alternatives.values[-1] == ir.Compare(
        "not in", overlay, ir.Const(("medicare", "cigna"), "set[str]")
    )
    assert rule.depends == (ir.SCOPE_FACT, ir.SERVICE_FACT)
