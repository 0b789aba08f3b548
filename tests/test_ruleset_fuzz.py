"""Fuzzing the ruleset loader and compiler: building an Engine succeeds or raises RulesetError.

Random TOML documents, random rule tables, random conditions generated from a small grammar over
the real fact paths, functions, literals and operators (plus random text), and random message
templates. Whatever comes in, the only outcomes of building an Engine are success and
RulesetError; a successful build then evaluates a sample claim giving a Result (or a ClaimError),
never anything else. What these found is kept as named regression tests in
tests/test_ruleset_limits.py.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import durable_available
from hcpcs_rules import ClaimError, Engine, Result, RulesetError, schema
from hcpcs_rules.functions import FUNCTIONS

SAMPLE = {
    "id": "F",
    "payer": "aetna",
    "date_of_service": "2026-03-02",
    "place_of_service": "12",
    "diagnoses": ["J45.40"],
    "supplier": {"npi": "1234567893", "taxonomy": "3336C0004X"},
    "lines": [
        {
            "hcpcs": "J7632",
            "units": "240",
            "modifiers": ["KO"],
            "note": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
            "dispensed": {"quantity": "2400", "unit": "mg"},
            "diagnosis_pointers": [1],
        }
    ],
}

HEADER = """\
[ruleset]
name = "fuzz"
version = "0.1.0"
requires = ["core"]

[claims.base]
id = "B"
payer = "medicare"
date_of_service = 2026-03-02
place_of_service = "12"
diagnoses = ["J45.40"]
supplier = { npi = "1234567893" }
lines = [{ hcpcs = "J7632", units = "240", diagnosis_pointers = [1] }]
"""


def _paths() -> list[str]:
    out = []
    for root, fields in schema.BASE_ROOTS.items():
        for name, kind in fields.items():
            out.append(f"{root}.{name}")
            for sub in schema.RECORDS.get(kind, {}):
                out.append(f"{root}.{name}.{sub}")
    # Derived facts of the core ruleset, which every fuzzed ruleset requires.
    return [*out, "payer_scope.overlay", "payer_scope.program", "service.date", "service.place"]


PATHS = _paths()

# ----------------------------------------------------------------------------- strategies

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
literals = st.one_of(
    st.integers(-(10**70), 10**70).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(
        lambda d: format(d, "f") if abs(d.adjusted()) < 80 else str(d)
    ),
    st.text(max_size=12).map(json.dumps),
    st.sampled_from(["True", "False", "None", "1e999999", "10**400", "0.000001"]),
    st.dates().map(lambda d: f'date("{d.isoformat()}")'),
    st.sampled_from(['"(a+)+$"', '"("', '"[0-9]{5}"', '"\\\\p{L}+"', '"(?P<x>a)(?P=x)"']),
)


def _combine(children):
    binary = st.sampled_from(
        ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or", "+", "-", "*"]
    )
    return st.one_of(
        st.tuples(children, binary, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda c: f"not {c}"),
        children.map(lambda c: f"-{c}"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(st.sampled_from(sorted(FUNCTIONS)), st.lists(children, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        st.lists(children, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
        st.sampled_from(["payer_scope", "service", "units", "nothing"]).map(
            lambda fact: f"exists({fact})"
        ),
    )


expressions = st.recursive(st.one_of(st.sampled_from(PATHS), literals), _combine, max_leaves=12)
conditions = st.one_of(expressions, expressions, _text)
templates = st.lists(
    st.one_of(
        _text, expressions.map(lambda e: "{" + e + "}"), st.sampled_from(["{{", "}}", "{", "}"])
    ),
    max_size=5,
).map("".join)


def toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string with \uXXXX escapes is a TOML basic string


toml_scalars = st.one_of(
    _text.map(toml_string),
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.dates().map(dt.date.isoformat),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
toml_values = st.recursive(
    toml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
        st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), children, max_size=3).map(
            lambda d: "{ " + ", ".join(f"{k} = {v}" for k, v in d.items()) + " }"
        ),
    ),
    max_leaves=8,
)
RULE_KEYS = ["id", "title", "on", "codes", "scope", "severity", "effective", "when", "message"]
RULE_KEYS += ["derive", "per", "fields", "source", "notes", "bogus"]


@st.composite
def rule_tables(draw) -> str:
    """A [[rule]] with sensible and random values mixed, and its examples."""
    keys = {
        "id": toml_string(draw(st.one_of(st.just("FUZZ-RULE"), _text))),
        "title": toml_string(draw(st.one_of(st.just("A title"), _text))),
        "source": toml_string(draw(st.one_of(st.just("Fuzz policy"), _text))),
    }
    if draw(st.booleans()):
        keys["when"] = toml_string(draw(conditions))
    if draw(st.booleans()):
        keys["severity"] = toml_string(draw(st.sampled_from(["warn", "deny", "bogus"])))
        keys["message"] = toml_string(draw(templates))
    else:
        keys["derive"] = toml_string(draw(st.sampled_from(["fuzz_fact", "units", "Bad"])))
        field = draw(st.sampled_from(["value", "id", "Bad"]))
        keys["fields"] = "{ " + f"{field} = {toml_string(draw(expressions))}" + " }"
    for key in draw(st.lists(st.sampled_from(RULE_KEYS), max_size=3)):
        keys[key] = draw(toml_values)
    body = "\n".join(f"{key} = {value}" for key, value in keys.items())
    examples = ""
    for fires in draw(st.lists(st.booleans(), max_size=2)):
        examples += f'\n[[rule.example]]\nbase = "base"\nfires = {str(fires).lower()}\n'
    return f"\n[[rule]]\n{body}\n{examples}"


# ---------------------------------------------------------------------------- the property


def build_and_evaluate(text: str, backend: str = "python", check_examples: bool = True) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            engine = Engine(["core", path], backend=backend, check_examples=check_examples)
        except RulesetError as exc:
            assert exc.problems and str(exc)
            return
    try:
        try:
            result = engine.evaluate(SAMPLE, explain=True)
        except ClaimError:
            return
        assert isinstance(result, Result)
    finally:
        engine.close()


# Bounded for the "ci" profile (the whole file in well under 30 s); a profile asking for more
# examples ("thorough") gets them.
_N = max(50, settings.default.max_examples)
_fast = settings(max_examples=_N, suppress_health_check=[HealthCheck.too_slow], deadline=None)


@_fast
@given(rule=rule_tables(), check_examples=st.booleans())
def test_random_rules_build_or_raise_ruleset_error(rule, check_examples):
    build_and_evaluate(HEADER + rule, check_examples=check_examples)


@_fast
@given(condition=conditions)
def test_random_conditions_build_or_raise_ruleset_error(condition):
    rule = f"""
[[rule]]
id = "FUZZ-RULE"
title = "t"
source = "s"
severity = "warn"
message = "m"
when = {toml_string(condition)}
"""
    build_and_evaluate(HEADER + rule, check_examples=False)


@_fast
@given(template=templates)
def test_random_message_templates_build_or_raise_ruleset_error(template):
    rule = f"""
[[rule]]
id = "FUZZ-RULE"
title = "t"
source = "s"
severity = "warn"
message = {toml_string(template)}
"""
    build_and_evaluate(HEADER + rule, check_examples=False)


@settings(max_examples=max(40, _N // 2), deadline=None)
@given(
    tables=st.dictionaries(
        st.sampled_from(["ruleset", "constants", "claims", "rule", "other"]),
        st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), toml_values, max_size=4),
        max_size=4,
    ),
    junk=st.text(max_size=40),
)
def test_random_toml_documents_build_or_raise_ruleset_error(tables, junk):
    text = ""
    for name, table in tables.items():
        text += f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in table.items())
    build_and_evaluate(text)
    build_and_evaluate(text + junk)


@pytest.mark.skipif(not durable_available(), reason="durable-rules does not import here")
@settings(
    max_examples=max(15, _N // 10), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(rule=rule_tables())
def test_random_rules_on_the_durable_backend(rule):
    build_and_evaluate(HEADER + rule, backend="durable", check_examples=False)
