"""The condition language across lines, with dates and strings: aggregates over the claim's
lines, line-to-line comparison, per-claim derived facts with fields, date arithmetic and string
concatenation. What each means is fixed in hcpcs_rules.ir's docstring; every behaviour is checked
on both backends."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import BACKENDS
from hcpcs_rules import Engine, RulesetError, schema
from hcpcs_rules.errors import RuleExecutionError
from hcpcs_rules.expr import MAX_AGGREGATES, Env, ExprError, parse_expr

LANG = Path(__file__).with_name("rulesets") / "lang.toml"

HEADER = """\
[ruleset]
name = "mine"
version = "1.0.0"
description = "test"
"""


def claim(*lines: dict, **extra) -> dict:
    base = {
        "id": "C1",
        "payer": "aetna",
        "date_of_service": "2026-03-02",
        "supplier": {"npi": "1234567893"},
        "lines": [{"units": "1", **line} for line in lines],
    }
    return base | extra


def build(tmp_path: Path, body: str, backend: str = "python") -> Engine:
    path = tmp_path / "mine.toml"
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    # These rules have no examples: each test states what they do on claims of its own.
    return Engine([str(path)], backend=backend, check_examples=False)


def rule(when: str, *, on: str = "claim", message: str = "fired", rid: str = "MINE-R") -> str:
    return f"""
[[rule]]
id = "{rid}"
title = "t"
on = "{on}"
severity = "warn"
when = '''{when}'''
message = '''{message}'''
source = "s"
"""


def fired(engine: Engine, data: dict) -> list[tuple[str, int | None, str]]:
    return [(f.rule_id, f.line, f.message) for f in engine.evaluate(data).findings]


def problems(tmp_path: Path, body: str) -> list:
    with pytest.raises(RulesetError) as info:
        build(tmp_path, body)
    return info.value.problems


# -- the test ruleset: every example passes on both backends ------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_language_test_ruleset_builds_and_its_examples_pass(backend):
    engine = Engine([str(LANG)], backend=backend)  # check_examples is on: every example runs
    rules = {r.id: r for r in engine.program.rules}
    assert sum(len(r.examples) for r in rules.values()) >= 20
    # A rule aggregating over a per-claim fact's field runs after the rule deriving it.
    assert rules["LANG-LAST-DAY"].stratum > rules["LANG-DERIVE-TOTALS"].stratum
    assert rules["LANG-LAST-DAY"].reads == ("totals",)


# -- aggregates: semantics ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_dispensing_fee_at_most_once_flags_every_later_line_at_any_claim_size(tmp_path, backend):
    # Issue 10's example: 49 helper rules, at most 50 lines, only the later line flagged. Now one
    # rule, whatever the number of lines, on every fee line after the first.
    engine = build(
        tmp_path,
        rule(
            'any(l.hcpcs == "Q0513" and l.number < line.number for l in lines)',
            on="line",
            message="{count(l for l in lines if l.hcpcs == line.hcpcs)} fees",
        ).replace('on = "line"', 'on = "line"\ncodes = ["Q0513"]'),
        backend,
    )
    lines = [{"hcpcs": "Q0513" if n % 3 == 0 else "J7632"} for n in range(1, 51)]
    found = fired(engine, claim(*lines))
    fee_lines = [n for n in range(1, 51) if n % 3 == 0]
    assert found == [("MINE-R", n, f"{len(fee_lines)} fees") for n in fee_lines[1:]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_aggregates_of_no_lines_and_of_missing_values(tmp_path, backend):
    body = "".join(
        rule(when, rid=f"MINE-{i}", message=message)
        for i, (when, message) in enumerate(
            [
                # sum of no values is 0; missing values are left out
                ('sum(l.charge for l in lines if l.hcpcs == "X") == 0', "sum none"),
                ("sum(l.charge for l in lines) == 5", "sum skips {sum(l.charge for l in lines)}"),
                # min/max of no values are missing: comparisons false, == None true
                ('min(l.charge for l in lines if l.hcpcs == "X") == None', "min none"),
                ('max(l.charge for l in lines if l.hcpcs == "X") < 1', "never"),
                ("max(l.charge for l in lines) == 5", "max {max(l.charge for l in lines)}"),
                # any of none is false, all of none is true
                ('any(True for l in lines if l.hcpcs == "X")', "never"),
                ('all(False for l in lines if l.hcpcs == "X")', "all none"),
                # a missing condition is false, in all() too
                ("all(l.charge > 0 for l in lines)", "never"),
                ("any(l.charge > 0 for l in lines)", "any"),
                ("count(l for l in lines if l.charge > 0) == 1", "count"),
                ("count(l for l in lines) == 2", "count all"),
            ]
        )
    )
    engine = build(tmp_path, body, backend)
    found = [m for _, _, m in fired(engine, claim({"hcpcs": "A"}, {"hcpcs": "B", "charge": "5"}))]
    assert sorted(found) == sorted(
        [
            "sum none",
            "sum skips 5",
            "min none",
            "max 5",
            "all none",
            "any",
            "count",
            "count all",
        ]
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_sums_are_exact_and_keep_their_type(tmp_path, backend):
    engine = build(
        tmp_path,
        rule(
            "sum(l.units for l in lines) == 0.3",
            message="{sum(l.units for l in lines)} and {sum(l.number for l in lines)}",
        ),
        backend,
    )
    found = fired(engine, claim({"hcpcs": "A", "units": "0.1"}, {"hcpcs": "A", "units": "0.2"}))
    assert found == [("MINE-R", None, "0.3 and 3")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_line_to_line_comparison_finds_the_other_line(tmp_path, backend):
    engine = build(
        tmp_path,
        rule(
            "any(l.hcpcs == line.hcpcs and l.date_of_service == line.date_of_service"
            " and l.number != line.number for l in lines)",
            on="line",
        ),
        backend,
    )
    data = claim(
        {"hcpcs": "J7632", "date_of_service": "2026-03-02"},
        {"hcpcs": "J7632", "date_of_service": "2026-03-03"},
        {"hcpcs": "J7632", "date_of_service": "2026-03-02"},
        {"hcpcs": "Q0513", "date_of_service": "2026-03-02"},
    )
    assert [(r, n) for r, n, _ in fired(engine, data)] == [("MINE-R", 1), ("MINE-R", 3)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_claim_rule_derives_a_per_claim_fact_with_fields_read_by_later_rules(tmp_path, backend):
    body = """
[[rule]]
id = "MINE-D"
title = "t"
on = "claim"
derive = "fees"
source = "s"
fields = { lines = 'count(l for l in lines if l.hcpcs == "Q0513")', first = 'min(l.number for l in lines if l.hcpcs == "Q0513")' }
""" + rule(
        'fees.lines > 1 and line.number != fees.first and line.hcpcs == "Q0513"',
        on="line",
        message="{fees.lines} fees; the first on line {fees.first}",
    )
    engine = build(tmp_path, body, backend)
    data = claim({"hcpcs": "J7632"}, {"hcpcs": "Q0513"}, {"hcpcs": "Q0513"})
    assert fired(engine, data) == [("MINE-R", 3, "2 fees; the first on line 2")]
    assert fired(engine, claim({"hcpcs": "Q0513"})) == []


# -- dates and strings --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_date_arithmetic_and_concatenation(tmp_path, backend):
    engine = build(
        tmp_path,
        rule(
            'line.date_of_service - claim.date_of_service > 30 and line.hcpcs + "/" + line.ndc == "J7632/X"',
            on="line",
            message="{line.date_of_service - claim.date_of_service} days; due {claim.date_of_service + 30}, {30 + claim.date_of_service}, {line.date_of_service - 61}",
        ),
        backend,
    )
    late = {"hcpcs": "J7632", "ndc": "X", "date_of_service": "2026-05-02"}
    assert fired(engine, claim(late)) == [
        ("MINE-R", 1, "61 days; due 2026-04-01, 2026-04-01, 2026-03-02")
    ]
    assert fired(engine, claim(late | {"date_of_service": "2026-04-01"})) == []  # 30 days
    assert fired(engine, claim(late | {"ndc": "Y"})) == []
    # A missing operand makes the difference (and the concatenation) missing: false.
    assert fired(engine, claim({k: v for k, v in late.items() if k != "ndc"})) == []
    data = claim(late)
    del data["date_of_service"]
    assert fired(engine, data) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_date_moved_out_of_range_fails_the_rule_by_name(tmp_path, backend):
    engine = build(
        tmp_path, rule("claim.date_of_service + 4000000 > claim.date_of_service"), backend
    )
    with pytest.raises(RuleExecutionError) as info:
        engine.evaluate(claim({"hcpcs": "A"}))
    assert info.value.rule_id == "MINE-R"
    assert "date arithmetic out of range" in str(info.value.__cause__)


# -- type checking: located errors --------------------------------------------------------------

ENV = Env(
    schema.BASE_ROOTS,
    {"units": {"expected_units": "int"}, "flag": {}},
    {},
    per={"units": "line", "flag": "claim"},
)


@pytest.mark.parametrize(
    ("text", "span", "fragment"),
    [
        (
            'count(l for l in lines if l.hcpcs == "Q0513" and l.hcpc == "x") > 1',
            "l.hcpc",
            "l has no field 'hcpc' (did you mean 'hcpcs'?)",
        ),
        (
            "sum(l.hcpcs for l in lines) > 1",
            "l.hcpcs",
            "sum() needs int or decimal values, not str",
        ),
        ("count(l.units for l in lines) > 1", "l.units", "count() counts lines"),
        ("sum(l.units for l in claim) > 1", "claim", "aggregates range over 'lines'"),
        ("sum(l.units for l in lines for m in lines) > 1", None, "one 'for ... in lines' only"),
        ("sum(sum(m.units for m in lines) for l in lines) > 1", None, "cannot be nested"),
        ("sum(units.expected_units for l in lines) > 1", "units.expected_units", "per-line fact"),
        ("any(exists(units) for l in lines)", "exists(units)", "per-line fact"),
        ("any(l.units > 1 for line in lines)", "line", "already a name here"),
        ("count(lines) > 1", "lines", "'lines' can only be aggregated"),
        ("count(l for l in lines if l) > 1", "l", "'l' is a line"),
        ("sum(l.units for l in lines)", "sum(l.units for l in lines)", "expected a true/false"),
        ("any(l.units for l in lines)", "l.units", "expected a true/false condition"),
        ("l.units > 1", "l.units", "unknown fact 'l'"),
        ("(l for l in lines)", None, "only as the argument of count, sum"),
        ("line.date_of_service + claim.date_of_service > 1", None, "two dates cannot be added"),
        ("line.date_of_service * 2 > 1", None, "dates cannot be multiplied"),
        (
            "line.date_of_service - 1.5 > line.date_of_service",
            None,
            "cannot compute date - decimal",
        ),
        ('line.hcpcs - "x" == "y"', None, "strings can only be joined with '+'"),
        ('line.hcpcs + 1 == "y"', None, "arithmetic needs numbers, not str"),
        ("summ(l.units for l in lines) > 1", None, "unknown function 'summ' (did you mean 'sum'?)"),
    ],
)
def test_mistakes_in_the_language_are_located(text, span, fragment):
    with pytest.raises(ExprError) as info:
        parse_expr(text, ENV)
    (problem,) = info.value.problems
    assert fragment in problem.message, problem.message
    if span is not None:
        assert text[problem.offset : problem.end_offset] == span


def test_a_wrong_field_in_a_filter_names_file_line_column_and_rule(tmp_path):
    (problem,) = problems(tmp_path, rule('count(l for l in lines if l.hcpc == "Q0513") > 1'))
    assert problem.rule_id == "MINE-R"
    assert problem.file.endswith("mine.toml") and problem.line == 11
    assert "did you mean 'hcpcs'?" in problem.message
    assert problem.source_line[problem.column - 1 : problem.end_column - 1] == "l.hcpc"


def test_a_claim_rule_aggregates_lines_but_cannot_read_the_line(tmp_path):
    (problem,) = problems(tmp_path, rule("any(l.hcpcs == line.hcpcs for l in lines)"))
    assert "unknown fact 'line'" in problem.message


def test_count_and_max_stay_functions_without_a_generator():
    assert parse_expr("count(line.modifiers) > 1", ENV).left.name == "count"
    assert parse_expr("max(line.units, 2) > 1", ENV).left.name == "max"
    assert parse_expr("max(l.units for l in lines) > 1", ENV).left.op == "max"


def test_min_and_max_take_dates_and_strings():
    assert parse_expr("min(l.date_of_service for l in lines)", ENV, want_bool=False).type == "date"
    assert parse_expr("max(l.hcpcs for l in lines)", ENV, want_bool=False).type == "str"
    assert (
        parse_expr("line.date_of_service - claim.date_of_service", ENV, want_bool=False).type
        == "int"
    )
    assert parse_expr("line.date_of_service - 3", ENV, want_bool=False).type == "date"
    assert parse_expr('line.hcpcs + "x"', ENV, want_bool=False).type == "str"


# -- bounds against hostile rulesets ------------------------------------------------------------


def test_aggregates_per_expression_are_bounded():
    many = " + ".join(["count(l for l in lines)"] * (MAX_AGGREGATES + 1)) + " > 1"
    with pytest.raises(ExprError) as info:
        parse_expr(many, ENV)
    assert f"more than {MAX_AGGREGATES} aggregates" in info.value.messages[0]
    parse_expr(" + ".join(["count(l for l in lines)"] * MAX_AGGREGATES) + " > 1", ENV)


def test_a_sum_that_could_outgrow_exact_arithmetic_is_refused():
    big = "1" + "0" * 40
    with pytest.raises(ExprError) as info:
        parse_expr(f"sum(l.units * {big} for l in lines) > 1", ENV)
    assert info.value.messages[0].startswith("sum() could need up to")
    parse_expr(f"sum(l.units * {big[:30]} for l in lines) > 1", ENV)


def test_days_between_dates_have_a_digit_bound():
    # A difference of dates is a small int: multiplying it by a large constant stays in bounds.
    parse_expr(f"(line.date_of_service - claim.date_of_service) * {'9' * 50} > 1", ENV)
    with pytest.raises(ExprError):
        parse_expr(f"(line.date_of_service - claim.date_of_service) * {'9' * 55} > 1", ENV)


def test_runtime_helpers_are_exact():
    from hcpcs_rules.runtime import RUNTIME

    assert RUNTIME["_agg_sum"]([1, None, 2], 0) == 3
    assert type(RUNTIME["_agg_sum"]([1, 2], 0)) is int
    assert RUNTIME["_agg_sum"]([Decimal("0.1")] * 3, RUNTIME["_ZERO"]) == Decimal("0.3")
    assert RUNTIME["_agg_min"]([None, None]) is None
    assert RUNTIME["_days"](dt.date(2026, 3, 2), dt.date(2026, 2, 28)) == 2
    assert RUNTIME["_shift"](dt.date(2026, 3, 2), 1, -1) == dt.date(2026, 3, 1)
    assert RUNTIME["_cat"]("a", None) is None
