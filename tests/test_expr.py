"""The condition language's checker on its own: each problem once, located in the text as given.

Positions are what the compiler maps to a ruleset file's line and column (tests/test_load.py
covers that mapping, tests/test_compile.py the two together): a wrong span here is a caret under
the wrong characters there.
"""

from __future__ import annotations

import pytest

from hcpcs_rules import expr, ir, schema
from hcpcs_rules.expr import Env, ExprError, ExprProblem, parse_expr, parse_template

ENV = Env(
    schema.BASE_ROOTS,
    {"units": {"expected_units": "int"}, "service": {"date": "date"}},
    {"home": ir.Const(("12",), "set[str]")},
)


def problems_of(text: str, *, want_bool: bool = True) -> list[ExprProblem]:
    with pytest.raises(ExprError) as info:
        parse_expr(text, ENV, want_bool=want_bool)
    assert info.value.messages == [p.message for p in info.value.problems]
    return info.value.problems


def span(text: str, problem: ExprProblem) -> str:
    assert problem.offset is not None and problem.end_offset is not None
    return text[problem.offset : problem.end_offset]


@pytest.mark.parametrize(
    ("text", "fragment", "spanned"),
    [
        ("line.unit > 1", "line has no field 'unit'", "line.unit"),
        ("line.units > 1 and servise.date == None", "unknown fact 'servise'", "servise.date"),
        ("npi_vaild(supplier.npi)", "unknown function 'npi_vaild'", "npi_vaild(supplier.npi)"),
        ("hoem == 1", "unknown name 'hoem'", "hoem"),
        (
            "service.date == '2026-01-01'",
            "cannot compare date with str",
            "service.date == '2026-01-01'",
        ),
        ("line.units > 'ten'", "cannot order decimal and str", "line.units > 'ten'"),
        ("line.hcpcs + 1 == 2", "arithmetic needs numbers, not str", "line.hcpcs + 1"),
        ("npi_valid(line.units)", "argument 1 must be str, not decimal", "line.units"),
        ("line.units / 10 > 1", "use ceil_div or billing_units", "line.units / 10"),
        ("line.units", "expected a true/false condition, got decimal", "line.units"),
        ("1 < line.units < 5", "chained comparisons", "1 < line.units < 5"),
        ("line.units > 1 and line.hcpcs", "expected a true/false condition, got str", "line.hcpcs"),
        ("line.modifiers[0] == 'KO'", "indexing is not allowed", "line.modifiers[0]"),
        ("exists(sevice)", "no derived fact 'sevice'", "exists(sevice)"),
        ('date("2026-13-01") == service.date', "not an ISO date", 'date("2026-13-01")'),
        ('matches(line.note, "(")', "not a valid RE2 pattern", '"("'),
        ("line.hcpcs in 'J7632'", "'in' needs a list or set", "line.hcpcs in 'J7632'"),
        ("[line.units] == 1", "may only hold constants", "[line.units]"),
        ("(1 if True else 'a') == 1", "both branches must have one type", "1 if True else 'a'"),
        ("line", "'line' is a fact", "line"),
        ("true", "write True, False or None", "true"),
        ("-line.hcpcs == 1", "operator USub is not allowed here", "-line.hcpcs"),
        ("line.units > 1 and", "syntax error", "d"),  # ends short: the last character
        ("line.units > > 1", "syntax error", ">"),
        (
            "line.units * 1000000000000000000000000000000000000 * 1000000000000000000000000000000000000 > 1",
            "'*' could need up to 92 digits",
            "line.units * 1000000000000000000000000000000000000 * 1000000000000000000000000000000000000",
        ),
    ],
)
def test_each_kind_of_problem_spans_what_it_is_about(text, fragment, spanned):
    (problem,) = problems_of(text)
    assert fragment in problem.message
    assert "column" not in problem.message  # the position is the record's, not the text's
    assert span(text, problem) == spanned
    assert (problem.line, problem.column) == (1, problem.offset + 1)


def test_positions_count_lines_of_the_text_as_given():
    text = "\n  line.units > 1\n  and line.unit > 2"  # a TOML '''...''' value, say
    (problem,) = problems_of(text)
    assert (problem.line, problem.column, problem.end_line, problem.end_column) == (3, 7, 3, 16)
    assert span(text, problem) == "line.unit"


def test_positions_count_characters_not_utf8_bytes():
    # ast counts columns in UTF-8 bytes: 'é' is two of them but one column for the author.
    text = "line.hcpcs == 'é€' and line.unt > 1"
    (problem,) = problems_of(text)
    assert span(text, problem) == "line.unt"


def test_a_condition_over_lines_needs_no_parentheses():
    parsed = parse_expr("line.units > 1\n    and line.hcpcs == 'J7632'\n\tor True", ENV)
    assert isinstance(parsed, ir.BoolOp)


def test_a_syntax_error_on_a_later_line_is_located_there():
    text = "line.units > 1\n  and line.units >\n  and True"
    (problem,) = problems_of(text)
    assert problem.message.startswith("syntax error: ")
    assert problem.line == 3 and text.splitlines()[2][problem.column - 1 :].startswith("and")


@pytest.mark.parametrize(
    "text",
    [
        "line.ndc * ':'",
        "-(line.ndc * ':') > 1",
        "not (line.ndc * ':')",
        "(line.ndc * ':') * 2 > 1",
        "line.ndc * ':' == 'x'",
        "(line.ndc * ':' if True else 1) > 1",
        "max(line.ndc * ':', 1) > 1",
        "[line.ndc * ':'] == 1",
        "line.ndc * ':' in home",
        "(line.ndc * ':') and True",
        "-line.unt > 1",
    ],
)
def test_a_problem_is_reported_once_not_again_by_what_is_built_on_it(text):
    (problem,) = problems_of(text)
    assert span(text, problem) in ("line.ndc * ':'", "line.unt")


def test_independent_problems_are_all_reported_in_order():
    text = "line.unit > 1 and servise.date == None or hoem == 1"
    found = problems_of(text)
    assert [span(text, p) for p in found] == ["line.unit", "servise.date", "hoem"]


def test_problems_about_the_whole_text_have_no_position():
    (problem,) = problems_of("   ")
    assert problem.message == "the expression is empty" and problem.offset is None
    (problem,) = problems_of("not " * 50 + "True")
    assert "nests" in problem.message and problem.line is None


def test_template_problems_are_located_in_the_template():
    text = "Billed {line.unt} units {} and {line.units + ':'} } and {open"
    with pytest.raises(ExprError) as info:
        parse_template(text, ENV)
    found = info.value.problems
    assert [p.message.split(": ")[0] for p in found] == [
        "in {line.unt}",
        "in {}",
        "in {line.units + ':'}",
        "unmatched '}' (write }} for a brace)",
        "unclosed '{' (write {{ for a brace)",
    ]
    assert [span(text, p) for p in found] == ["line.unt", "{}", "line.units + ':'", "}", "{"]


def test_a_template_without_problems_is_unchanged():
    parts = parse_template("Billed {line.units} units {{literally}}.", ENV)
    assert parts[0] == "Billed " and parts[2] == " units {literally}."


class _Finalized:
    """Garbage whose finalizer runs Python code: a collection inside the parser then lets the
    interpreter switch threads mid-parse, the way a busy server's garbage does."""

    def __del__(self):
        sum(range(20))


def test_parses_from_many_threads_at_once():
    """CPython 3.11's AST builder keeps its depth counter per interpreter, so parses in two
    threads at once could fail with "SystemError: AST constructor recursion depth mismatch"
    (seen in CI as a failed concurrent engine build). Our parses take turns."""
    import sys
    import threading

    # A wide tree: many objects built per parse, so many chances to collide (about 60 collisions
    # in 1,600 unlocked parses here).
    text = " and ".join(f"x{i}.y[{i}] > {i}" for i in range(30))
    errors: list[BaseException] = []

    def work():
        for _ in range(400):
            garbage = _Finalized()
            garbage.cycle = garbage  # only the cyclic collector frees it
            try:
                expr.names_used(text)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


def test_a_parse_hit_by_another_threads_parse_is_redone(monkeypatch):
    """Another library's ast.parse in another thread is outside our lock: the collision is a
    SystemError with this message, and the parse is simply done again."""
    real = expr.ast.parse
    calls = []

    def collides_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=48, after=35)")
        return real(*args, **kwargs)

    monkeypatch.setattr(expr.ast, "parse", collides_once)
    assert expr.names_used("a + b") == {"a", "b"}
    assert len(calls) == 2

    def always_other(*args, **kwargs):
        raise SystemError("something else")

    monkeypatch.setattr(expr.ast, "parse", always_other)
    with pytest.raises(SystemError, match="something else"):
        expr.names_used("a + b")
