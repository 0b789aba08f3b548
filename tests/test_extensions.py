"""Claim extensions: fields a ruleset declares on the claim and on its lines, read in conditions.

Declared in ``[ruleset.extensions.claim]`` / ``[ruleset.extensions.line]``, parsed by the engine
(``Engine.parse_claim``) as strictly as the claim's own fields, read by rules identically on both
backends (an extension field is never a durable network test: it stays in the Python guard).
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle
import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import BACKENDS, durable_available
from hcpcs_rules import ClaimError, Engine, RulesetError, evaluate_many, parse_claim
from hcpcs_rules.limits import Limits
from hcpcs_rules.model import Extensions

HEADER = """
[ruleset]
name = "ext"
version = "0.1.0"
requires = ["core"]

[ruleset.extensions.claim]
prior_auth = "str"

[ruleset.extensions.line]
order_date = "date"
refills = "int"
rate = "decimal"
urgent = "bool"
flags = "list[str]"

[claims.base]
id = "B"
payer = "medicare"
date_of_service = 2026-03-02
place_of_service = "12"
diagnoses = ["J45.40"]
supplier = { npi = "1234567893" }
extensions = { prior_auth = "PA-1" }
lines = [{ hcpcs = "J7632", units = "240", diagnosis_pointers = [1], extensions = { order_date = 2026-02-20 } }]
"""

RULES = """
[[rule]]
id = "EXT-ORDER-AFTER-SERVICE"
title = "Order dated after the service"
severity = "deny"
message = "Order of {line.extensions.order_date} is after the service on {service.date}."
source = "Test policy"
when = "line.extensions.order_date != None and line.extensions.order_date > service.date"
[[rule.example]]
name = "ordered later"
base = "base"
set = { "line[1].extensions.order_date" = 2026-04-01 }
fires = true
[[rule.example]]
name = "ordered before"
base = "base"
fires = false

[[rule]]
id = "EXT-NO-PRIOR-AUTH"
title = "No prior authorisation number"
on = "claim"
severity = "warn"
message = "No prior authorisation."
source = "Test policy"
when = "claim.extensions.prior_auth == None"
[[rule.example]]
name = "none given"
base = "base"
unset = ["extensions.prior_auth"]
fires = true
[[rule.example]]
name = "given"
base = "base"
fires = false

[[rule]]
id = "EXT-STAT-NOT-URGENT"
title = "STAT flag on a line not marked urgent"
severity = "info"
message = "STAT but not urgent ({line.extensions.refills} refills at {line.extensions.rate})."
source = "Test policy"
when = "'STAT' in line.extensions.flags and (line.extensions.urgent == None or not line.extensions.urgent)"
[[rule.example]]
name = "stat"
base = "base"
set = { "line[1].extensions.flags" = ["STAT"] }
fires = true
[[rule.example]]
name = "stat and urgent"
base = "base"
set = { "line[1].extensions.flags" = ["STAT"], "line[1].extensions.urgent" = true }
fires = false

[[rule]]
id = "EXT-MANY-REFILLS"
title = "Many refills at a high rate"
severity = "warn"
message = "{line.extensions.refills} refills."
source = "Test policy"
when = "line.extensions.refills >= 3 and line.extensions.rate * 2 > 2.5"
[[rule.example]]
name = "many"
base = "base"
set = { "line[1].extensions.refills" = 3, "line[1].extensions.rate" = "1.3" }
fires = true
[[rule.example]]
name = "rate too low"
base = "base"
set = { "line[1].extensions.refills" = 3, "line[1].extensions.rate" = "1.25" }
fires = false
"""


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory):
    path = tmp_path_factory.mktemp("ext") / "ext.toml"
    path.write_text(HEADER + RULES)
    return path


@pytest.fixture(scope="module")
def built(ruleset):
    cache = {}

    def get(backend: str = "python") -> Engine:
        if backend not in cache:
            # humana: a payer the engine adds (as a policy would), checked in workers below
            cache[backend] = Engine(["core", ruleset], backend=backend, payers=["humana"])
        return cache[backend]

    return get


def claim(**line_ext):
    data = {
        "id": "C1",
        "payer": "medicare",
        "date_of_service": "2026-03-02",
        "place_of_service": "12",
        "diagnoses": ["J45.40"],
        "supplier": {"npi": "1234567893"},
        "lines": [
            {"hcpcs": "J7632", "units": "240", "diagnosis_pointers": [1], "extensions": line_ext}
        ],
    }
    return data


def fired(result):
    return sorted((f.rule_id, f.line) for f in result.findings if f.rule_id.startswith("EXT-"))


# ------------------------------------------------------------------------------ reading rules


@pytest.mark.parametrize("backend", BACKENDS)
def test_rules_read_extensions_on_each_backend(built, backend):
    engine = built(backend)
    result = engine.evaluate(claim(order_date="2026-04-01", refills=5, rate="1.3", flags=["STAT"]))
    assert fired(result) == [
        ("EXT-MANY-REFILLS", 1),
        ("EXT-NO-PRIOR-AUTH", None),
        ("EXT-ORDER-AFTER-SERVICE", 1),
        ("EXT-STAT-NOT-URGENT", 1),
    ]
    messages = {f.rule_id: f.message for f in result.findings}
    assert messages["EXT-ORDER-AFTER-SERVICE"] == (
        "Order of 2026-04-01 is after the service on 2026-03-02."
    )
    assert messages["EXT-STAT-NOT-URGENT"] == "STAT but not urgent (5 refills at 1.3)."
    clean = claim(order_date="2026-02-01", urgent=True, flags=["STAT"])
    clean["extensions"] = {"prior_auth": "PA-9"}
    assert fired(engine.evaluate(clean)) == []
    if backend == "durable":
        # The Rete network never tests an extension field; the rules' Python guards do.
        assert "extensions" not in engine.dump("backend")


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_extensions_are_missing_values(built, backend):
    # No extensions object at all, an empty one, and nulls: every field reads as missing, so
    # `x != None and ...` is false and `x == None` true, as for any missing claim value.
    engine = built(backend)
    bare = claim()
    del bare["lines"][0]["extensions"]
    for data in (bare, claim(), claim(order_date=None, refills=None, flags=None)):
        assert fired(engine.evaluate(data)) == [("EXT-NO-PRIOR-AUTH", None)]


extension_values = st.fixed_dictionaries(
    {},
    optional={
        "order_date": st.dates(dt.date(2025, 12, 1), dt.date(2026, 5, 1)).map(str) | st.none(),
        "refills": st.integers(-2, 6) | st.none(),
        "rate": st.decimals("-2", "3", places=2).map(str) | st.none(),
        "urgent": st.booleans() | st.none(),
        "flags": st.lists(st.sampled_from(["STAT", "PRN", "stat"]), max_size=3) | st.none(),
    },
)


@pytest.mark.skipif(not durable_available(), reason="durable-rules does not import")
@given(
    lines=st.lists(extension_values, min_size=1, max_size=3),
    prior_auth=st.sampled_from([None, "PA-1", ""]),
)
def test_backends_agree_on_extension_claims(built, lines, prior_auth):
    data = claim()
    data["lines"] = [{**data["lines"][0], "extensions": ext} for ext in lines]
    if prior_auth is not None:
        data["extensions"] = {"prior_auth": prior_auth}
    python = built("python").evaluate(data, explain=True)
    durable = built("durable").evaluate(data, explain=True)
    assert python.to_dict() | {"trace": None} == durable.to_dict() | {"trace": None}
    assert sorted((s.rule_id, s.subject) for s in python.trace) == sorted(
        (s.rule_id, s.subject) for s in durable.trace
    )


# ------------------------------------------------------------------------------ parsing claims


def errors_of(engine, data):
    with pytest.raises(ClaimError) as info:
        engine.parse_claim(data)
    return dict(info.value.errors)


def test_engine_parse_claim_types_extensions(built):
    typed = built().parse_claim(
        claim(order_date="2026-01-02", refills=2, rate="1.50", urgent=False, flags=["A", "B"])
    )
    ext = typed.lines[0].extensions
    assert dict(ext) == {
        "order_date": dt.date(2026, 1, 2),
        "refills": 2,
        "rate": Decimal("1.5"),
        "urgent": False,
        "flags": ("A", "B"),
    }
    assert typed.extensions.prior_auth is None  # declared, absent: a missing value
    with pytest.raises(AttributeError):
        typed.extensions.not_declared  # noqa: B018
    # A claim the engine parsed is handed back as it is.
    assert built().parse_claim(typed) is typed


def test_undeclared_and_mistyped_extensions_are_claim_errors_with_paths(built):
    data = claim(order_dte="2026-01-02", refills=1.5, rate=0.1, urgent="yes", flags=["A", 1])
    data["extensions"] = {"prior_auth": 12345, "piror_auth": "x"}
    problems = errors_of(built(), data)
    assert "did you mean 'order_date'?" in problems["$.lines[0].extensions.order_dte"]
    assert problems["$.lines[0].extensions.refills"].startswith("not an integer: 1.5")
    assert "binary floats are inexact" in problems["$.lines[0].extensions.rate"]
    assert problems["$.lines[0].extensions.urgent"].startswith("not a boolean")
    assert problems["$.lines[0].extensions.flags[1]"].startswith("not a string")
    assert problems["$.extensions.prior_auth"].startswith("not a string")
    assert "did you mean 'prior_auth'?" in problems["$.extensions.piror_auth"]
    assert "declared claim extensions: prior_auth" in problems["$.extensions.piror_auth"]


def test_extension_values_keep_the_claim_bounds(built):
    limits = Limits()
    problems = errors_of(
        built(),
        claim(
            refills=limits.max_count + 1,
            rate="1" * (limits.max_integer_digits + 1),
            order_date="2026-02-30",
            flags=["x"] * (limits.max_list_items + 1),
        ),
    )
    assert "Limits.max_count" in problems["$.lines[0].extensions.refills"]
    assert "Limits.max_integer_digits" in problems["$.lines[0].extensions.rate"]
    assert "not an ISO date" in problems["$.lines[0].extensions.order_date"]
    assert "Limits.max_list_items" in problems["$.lines[0].extensions.flags"]
    arabic = errors_of(built(), claim(rate="٢", refills="2"))
    assert arabic["$.lines[0].extensions.rate"].startswith("not a decimal number")
    assert arabic["$.lines[0].extensions.refills"].startswith("not an integer")


def test_module_parse_claim_reads_no_extensions():
    # Shape only: an empty extensions object is fine, a field points at Engine.parse_claim.
    assert parse_claim(claim()).lines[0].extensions == Extensions()
    with pytest.raises(ClaimError) as info:
        parse_claim(claim(order_date="2026-01-02"))
    ((path, message),) = info.value.errors
    assert path == "$.lines[0].extensions.order_date"
    assert "Engine.parse_claim" in message


def test_engine_without_declarations_refuses_extension_fields(engines):
    problems = errors_of(engines("python", ("core",)), claim(order_date="2026-01-02"))
    assert "no ruleset of this engine declares line extensions" in str(problems)


def test_a_claim_typed_for_one_engine_is_read_again_by_another(built, engines):
    typed = built().parse_claim(claim(order_date="2026-01-02"))
    with pytest.raises(ClaimError) as info:
        engines("python", ("core",)).evaluate(typed)
    assert info.value.errors[0][0] == "$.lines[0].extensions.order_date"
    # ... and one without extensions is fine on the engine that declares some.
    plain = engines("python", ("core",)).parse_claim(claim())
    assert fired(built().evaluate(plain)) == [("EXT-NO-PRIOR-AUTH", None)]


def test_hand_built_claims_are_read_field_by_field(built):
    typed = built().parse_claim(claim(order_date="2026-04-01"))
    line = typed.lines[0]
    # Extensions built by hand (with a float) are checked like data.
    bad = copy.copy(typed)
    object.__setattr__(bad, "lines", (copy.copy(line),))
    object.__setattr__(bad.lines[0], "extensions", Extensions({"rate": 0.5}))
    assert "binary floats" in errors_of(built(), bad)["$.lines[0].extensions.rate"]

    class Sneaky(Extensions):
        def items(self):  # never called: the reader reads the stored values
            raise AssertionError

    object.__setattr__(bad.lines[0], "extensions", Sneaky({"refills": 2}))
    assert built().parse_claim(bad).lines[0].extensions == Extensions({"refills": 2})
    object.__setattr__(bad.lines[0], "extensions", object.__new__(Sneaky))
    message = errors_of(built(), bad)["$.lines[0].extensions"]
    assert message.startswith("could not be read (AttributeError")


def test_extensions_round_trip_and_pickle(built):
    from hcpcs_rules.claims import unstructure_claim

    typed = built().parse_claim(claim(order_date="2026-01-02", flags=["A"], rate="2.50"))
    plain = unstructure_claim(typed)
    assert plain["lines"][0]["extensions"] == {
        "order_date": "2026-01-02",
        "flags": ["A"],
        "rate": "2.5",
    }
    assert built().parse_claim(plain) == typed
    again = pickle.loads(pickle.dumps(typed))
    assert again == typed and hash(again) == hash(typed)
    assert again.lines[0].extensions.refills is None


def test_workers_parse_with_the_engines_declarations_and_payers(built):
    claims = [
        claim(order_date="2026-04-01"),
        claim(order_dte="2026-04-01"),
        built().parse_claim(claim(order_date="2026-04-01", refills=4, rate="2")),
        claim(order_date="2026-04-01") | {"payer": "humana"},
        claim() | {"payer": "humanna"},
    ] * 2
    outcomes = list(evaluate_many(claims, engine=built(), workers=2, chunksize=2))
    serial = list(evaluate_many(claims, engine=built(), workers=1))
    kinds = ["Result", "ClaimError", "Result", "Result", "ClaimError"] * 2
    assert [type(o).__name__ for o in outcomes] == kinds
    assert [type(o).__name__ for o in serial] == kinds
    for parallel, alone in zip(outcomes, serial, strict=True):
        if isinstance(alone, ClaimError):
            assert parallel.errors == alone.errors
        else:
            assert parallel.to_dict() == alone.to_dict()
    assert ("EXT-MANY-REFILLS", 1) in fired(outcomes[2])
    assert outcomes[4].errors[0][0] == "$.payer"
    assert "did you mean 'humana'?" in outcomes[4].errors[0][1]


# ------------------------------------------------------------------------------ hostile input


def test_hostile_extension_objects_are_refused_quickly(built):
    engine = built()
    started = time.perf_counter()
    huge = claim()
    huge["lines"][0]["extensions"] = {f"k{i}": i for i in range(200_000)}
    assert "Limits.max_list_items" in str(errors_of(engine, huge))
    deep: object = "x"
    for _ in range(10_000):
        deep = {"a": deep}
    problems = errors_of(engine, claim(flags=deep, refills=[deep]))
    assert problems["$.lines[0].extensions.flags"].startswith("not a list")
    assert problems["$.lines[0].extensions.refills"].startswith("not an integer")
    keys = claim()
    keys["lines"][0]["extensions"] = {1: "a", None: "b", ("t",): "c", "x" * 100_000: 1}
    problems = errors_of(engine, keys)
    for path in ("$.lines[0].extensions[1]", "$.lines[0].extensions[None]"):
        assert problems[path].startswith("key is not a string")
    long_key = next(p for p in problems if p.startswith('$.lines[0].extensions["xxx'))
    assert "100,000 characters" in problems[long_key]
    assert errors_of(engine, claim() | {"extensions": [1, 2]})["$.extensions"].startswith(
        "not an object"
    )
    assert errors_of(engine, claim() | {"extensions": None})["$.extensions"].startswith(
        "not an object"
    )
    # Generous bound: the point is that nothing above is quadratic or walks the nesting.
    assert time.perf_counter() - started < 5


# ------------------------------------------------------------------------------ declarations


def build_error(tmp_path, *texts: str) -> str:
    paths = []
    for index, text in enumerate(texts):
        path = tmp_path / f"r{index}.toml"
        path.write_text(text)
        paths.append(path)
    with pytest.raises(RulesetError) as info:
        Engine(["core", *paths], check_examples=False)
    return str(info.value)


def minimal(name: str, declarations: str, when: str = "line.units > 1", requires=("core",)):
    return f"""
[ruleset]
name = "{name}"
version = "1.0.0"
requires = {list(requires)!r}
{declarations}

[[rule]]
id = "{name.upper()}-RULE"
title = "t"
severity = "warn"
message = "m"
source = "s"
when = "{when}"
""".replace("'", '"')


def test_conflicting_declarations_name_both_rulesets(tmp_path):
    first = minimal("alpha", '[ruleset.extensions.line]\norder_date = "date"')
    second = minimal("beta", '[ruleset.extensions.line]\norder_date = "str"')
    message = build_error(tmp_path, first, second)
    assert "r1.toml:7" in message  # the newcomer's own line
    assert "declared 'str' by ruleset 'beta', but 'date' by ruleset 'alpha'" in message
    assert "r0.toml:7" in message


def test_same_declaration_in_two_rulesets_is_shared(tmp_path):
    decl = '[ruleset.extensions.line]\norder_date = "date"'
    paths = []
    for name in ("alpha", "beta"):
        path = tmp_path / f"{name}.toml"
        path.write_text(minimal(name, decl, when="line.extensions.order_date != None"))
        paths.append(path)
    engine = Engine(["core", *paths], check_examples=False)
    assert engine.program.extensions == (("line", "order_date", "date"),)
    result = engine.evaluate(claim(order_date="2026-01-01"))
    assert {f.rule_id for f in result.findings} >= {"ALPHA-RULE", "BETA-RULE"}


def test_reading_an_undeclared_extension_is_a_located_error(tmp_path):
    text = minimal(
        "alpha",
        '[ruleset.extensions.line]\norder_date = "date"',
        when="line.extensions.order_dat != None",
    )
    message = build_error(tmp_path, text)
    assert "r0.toml:15:9" in message
    assert "line.extensions has no field 'order_dat' (did you mean 'order_date'?)" in message
    message = build_error(tmp_path, minimal("alpha", "", when="claim.extensions.pa == None"))
    assert "declare it under [ruleset.extensions.claim]" in message


def test_extensions_of_rulesets_not_required_are_not_visible(tmp_path):
    owner = minimal("alpha", '[ruleset.extensions.line]\norder_date = "date"')
    reader = minimal("beta", "", when="line.extensions.order_date != None")
    message = build_error(tmp_path, owner, reader)
    assert "[BETA-RULE]" in message and "has no field 'order_date'" in message
    requiring = minimal(
        "beta", "", when="line.extensions.order_date != None", requires=("core", "alpha")
    )
    (tmp_path / "a.toml").write_text(owner)
    (tmp_path / "b.toml").write_text(requiring)
    Engine(["core", tmp_path / "a.toml", tmp_path / "b.toml"], check_examples=False)


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        ('[ruleset.extensions.line]\norder_date = "datetime"', "unknown type 'datetime'"),
        ('[ruleset.extensions.line]\nx = "string"', "(did you mean 'str'?)"),
        ('[ruleset.extensions.line]\nOrder = "str"', "extension field name 'Order'"),
        ('[ruleset.extensions.line]\nkeys = "str"', "'keys' is a reserved name"),
        ('[ruleset.extensions.lines]\nx = "str"', "(did you mean 'line'?)"),
        ("extensions = 3", "extensions must be tables"),
        ('[ruleset.extensions]\nline = ["str"]', "must be a table of field = type"),
    ],
)
def test_bad_declarations(tmp_path, declaration, expected):
    assert expected in build_error(tmp_path, minimal("alpha", declaration))


def test_declarations_are_in_the_ir(built):
    assert built().program.extensions == (
        ("claim", "prior_auth", "str"),
        ("line", "flags", "list[str]"),
        ("line", "order_date", "date"),
        ("line", "rate", "decimal"),
        ("line", "refills", "int"),
        ("line", "urgent", "bool"),
    )
    assert '"extensions"' in built().dump("ir")
