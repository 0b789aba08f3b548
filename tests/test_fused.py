"""The python backend's fused code (``backends/fused.py``) against its per-rule code.

Without ``explain`` a claim runs through one generated function; with it (and for example
checks) through one function per rule. Both must return the same Result but for the trace, on
every ruleset shape: the shipped rulesets, the cross-line language ruleset, the golden rulesets
of ``test_codegen.py``, generated rules, policies, and shapes where findings cannot come out in
order. These run on any Python (no durable_rules needed); ``test_differential.py`` also checks
the fused results against durable_rules.
"""

from __future__ import annotations

import datetime as dt
import linecache
import textwrap
import traceback
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hcpcs_rules import ClaimError, Engine, RuleExecutionError
from hcpcs_rules.backends.fused import (
    _FINDING,
    _FINDING_ARGS,
    _LINE_RESULT,
    _LINE_RESULT_ARGS,
    FUSED_NAME,
)
from hcpcs_rules.engine import _RESULT, _RESULT_ARGS
from hcpcs_rules.model import Finding, LineResult, ReasonCodes, Result
from hcpcs_rules.runtime import slot_builder
from hcpcs_rules.testing.strategies import (
    claim_json,
    cross_line_claims,
    cross_line_conditions,
    differential_claims,
)
from test_codegen import CASES

LANG = (str(Path(__file__).with_name("rulesets") / "lang.toml"),)


def agree(engine: Engine, data) -> None:
    """The fused Result equals the per-rule one (explain=True) without its trace, and the one
    the engine assembles in a second pass after the fused rules (``Engine._result``, what a
    claim under a per-call policy runs) equals the one the fused rules build as they go."""
    try:
        traced = engine.evaluate(data, explain=True)
    except ClaimError as exc:
        with pytest.raises(ClaimError) as again:
            engine.evaluate(data)
        assert again.value.errors == exc.errors
        return
    fused = engine.evaluate(data)
    assert fused == attrs.evolve(traced, trace=())
    assert fused == engine._evaluate(data, False, engine._policy)


def examples(engine: Engine) -> list:
    return [e.claim for rule in engine.program.rules for e in rule.examples]


def test_shipped_program_is_fused_in_order(engines):
    """The shipped rulesets' findings come out in the Result's order: no sort per claim."""
    fused = engines("python").backend.fused
    assert fused.ordered
    assert fused.source.count("for n, line in enumerate(lines, 1):") == 2


def test_the_fused_rules_build_the_result_lines(engines):
    """The shipped rulesets' LineResults and statuses are built by the fused function as it
    runs (one pass), with or without a policy (applied to that Result after: see below)."""
    engine = engines("python")
    assert engine.backend.fused.results
    assert engine._fast is not None
    assert "keep(_L(" in engine.backend.fused.source
    policy = {"severity": {"J7632-UNITS-UNVERIFIABLE": "deny"}}
    assert Engine(["core", "j7632"], policy=policy, check_examples=False)._fast is not None


def test_findings_built_by_their_slots_equal_findings_built_by_init(engines):
    """The fused code's findings are built by setting their slots (``_F``): the same objects
    as ``Finding(...)`` makes, defaults included."""
    assert _FINDING is not None
    assert "emit(_F(" in engines("python").backend.fused.source
    codes = ReasonCodes(group="CO", carc="16", rarc=("N290",), source="test")
    for payer, reason_codes in ((None, None), ("aetna", codes)):
        args = ("R-1", "deny", 2, "message", "source", payer, reason_codes)
        built, made = _FINDING(*args), Finding(**dict(zip(_FINDING_ARGS, args, strict=True)))
        assert built == made and hash(built) == hash(made)
        assert attrs.asdict(built) == attrs.asdict(made)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            built.severity = "warn"  # type: ignore[misc]
    assert _LINE_RESULT is not None
    args = (1, "J7632", Decimal("2"), Decimal("20.5"), 3, "deny", dt.date(2026, 1, 2))
    built = _LINE_RESULT(*args)
    assert built == LineResult(**dict(zip(_LINE_RESULT_ARGS, args, strict=True)))
    assert _RESULT is not None
    args = ("C", "deny", (made,), (built,), ("core",), None, "aetna", "aetna")
    result = _RESULT(*args)
    assert result == Result(**dict(zip(_RESULT_ARGS, args, strict=True)))
    assert (result.trace, result.ignored, result.location) == ((), (), None)


def test_the_slot_builder_keeps_init_for_classes_it_cannot_build():
    """A class whose __init__ does more than store its fields (a validator, a converter, a
    post-init hook, a factory default) is built through it: no builder."""

    @attrs.frozen
    class Checked:
        a: int = attrs.field(validator=attrs.validators.instance_of(int))

    @attrs.frozen
    class Converted:
        a: int = attrs.field(converter=int)

    @attrs.frozen
    class Hooked:
        a: int

        def __attrs_post_init__(self) -> None:
            pass

    @attrs.frozen
    class Listed:
        a: int
        b: list = attrs.field(factory=list)

    @attrs.frozen
    class Hidden:
        a: int
        b: int = attrs.field(init=False, default=0)

    class NotAttrs:
        __slots__ = ("a",)

    @attrs.frozen
    class Plain:
        a: int
        b: int = 2

    for cls in (Checked, Converted, Hooked, Listed, Hidden, NotAttrs):
        assert slot_builder(cls, ("a",)) is None, cls
    assert slot_builder(Plain, ("c",)) is None  # no such field
    plain = slot_builder(Plain, ("a",))
    assert plain is not None and plain(1) == Plain(1)


@pytest.mark.parametrize("rulesets", [None, LANG], ids=["shipped", "lang"])
def test_fused_agrees_on_every_ruleset_example(engines, rulesets):
    engine = engines("python", rulesets)
    claims = examples(engine)
    assert len(claims) >= 20
    for claim in claims:
        agree(engine, claim)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_agrees_on_the_golden_rulesets(tmp_path, engines, name):
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(CASES[name]), encoding="utf-8")
    engine = Engine([path], check_examples=False)
    for claim in examples(engines("python")):
        agree(engine, claim)


@given(differential_claims())
def test_fused_agrees_on_boundary_claims(engines, data):
    agree(engines("python"), data)


@given(claim_json())
def test_fused_agrees_on_arbitrary_claims(engines, data):
    agree(engines("python"), data)


@given(cross_line_claims())
def test_fused_agrees_on_the_cross_line_language(engines, data):
    agree(engines("python", LANG), data)


def test_fused_agrees_under_a_policy(engines):
    policy = {
        "ignore": ["CLAIM-DX-POINTER-INVALID"],
        "severity": {"J7632-UNITS-UNVERIFIABLE": "deny"},
    }
    engine = Engine(["core", "j7632"], policy=policy, check_examples=False)
    claims = examples(engines("python"))
    for claim in claims:
        agree(engine, claim)
    assert any(engine.evaluate(c).ignored for c in claims)


# Shapes the fused code cannot produce in order: a finding rule deriving a fact that a rule of
# the same loop reads (it runs first, whatever its id), and findings from two loops over the
# lines (a claim flag derived from the lines, read by a finding rule). The engine sorts them.
UNORDERED = """
[ruleset]
name = "unordered"
version = "1.0.0"
requires = ["core"]

[[rule]]
id = "UNORD-Z-DERIVES"
title = "A finding that also derives a fact"
codes = ["J7632"]
severity = "info"
when = "line.units > 1"
message = "units {line.units}"
derive = "many"
source = "test"
[rule.fields]
units = "line.units"

[[rule]]
id = "UNORD-A-READS"
title = "Reads the fact derived on its own line"
severity = "warn"
when = "many.units > 2"
message = "many {many.units}"
source = "test"

[[rule]]
id = "UNORD-FLAG"
title = "Some line is a fee"
when = "line.hcpcs == 'Q0513'"
derive = "fee_claim"
per = "claim"
source = "test"

[[rule]]
id = "UNORD-B-FEE"
title = "A line of a claim with a fee"
severity = "info"
when = "exists(fee_claim) and line.units >= 1"
message = "fee claim"
source = "test"
"""


def test_unordered_shapes_are_sorted_by_the_engine(tmp_path, engines):
    path = tmp_path / "unordered.toml"
    path.write_text(textwrap.dedent(UNORDERED), encoding="utf-8")
    engine = Engine(["core", path], check_examples=False)
    assert not engine.backend.fused.ordered
    claim = {
        "id": "U",
        "payer": "aetna",
        "date_of_service": "2026-01-01",
        "supplier": {"npi": "1234567893"},
        "lines": [
            {"hcpcs": "J7632", "units": "3"},
            {"hcpcs": "Q0513", "units": "1"},
            {"hcpcs": "J7632", "units": "5"},
        ],
    }
    result = engine.evaluate(claim)
    assert [(f.line, f.rule_id) for f in result.findings] == sorted(
        (f.line or 0, f.rule_id) for f in result.findings
    )
    assert {"UNORD-A-READS", "UNORD-Z-DERIVES", "UNORD-B-FEE"} <= {
        f.rule_id for f in result.findings
    }
    agree(engine, claim)
    for data in examples(engines("python")):
        agree(engine, data)


# Line findings from two loops: a finding rule deriving a claim flag that a later line rule
# reads runs in a loop of its own, so no line's status is known before the last loop is over.
TWO_LOOPS = """
[ruleset]
name = "two_loops"
version = "1.0.0"
requires = ["core"]

[[rule]]
id = "TWO-BIG"
title = "A big line, which also marks the claim"
severity = "deny"
when = "line.units > 4"
message = "big line {line.units}"
derive = "big_claim"
per = "claim"
source = "test"

[[rule]]
id = "TWO-AFTER-BIG"
title = "Every J7632 line of a claim with a big line"
codes = ["J7632"]
severity = "warn"
when = "exists(big_claim)"
message = "after a big line"
source = "test"
"""

# Claim rules only: no loop over the lines but the one building the LineResults.
CLAIM_ONLY = """
[ruleset]
name = "claim_only"
version = "1.0.0"

[[rule]]
id = "ONLY-MANY-LINES"
title = "Many lines"
on = "claim"
severity = "warn"
when = "count(l for l in lines) > 2"
message = "many lines"
source = "test"
"""

_TWO_LOOPS_CLAIM = {
    "id": "T",
    "payer": "aetna",
    "date_of_service": "2026-01-01",
    "supplier": {"npi": "1234567893"},
    "lines": [
        {"hcpcs": "J7632", "units": "3", "date_of_service": "2026-01-02"},
        {"hcpcs": "Q0513", "units": "5"},
        {"hcpcs": "J7632", "units": "1"},
    ],
}


def test_line_findings_from_two_loops_leave_the_result_to_the_engine(tmp_path, engines):
    path = tmp_path / "two_loops.toml"
    path.write_text(textwrap.dedent(TWO_LOOPS), encoding="utf-8")
    engine = Engine(["core", path], check_examples=False)
    assert not engine.backend.fused.results
    assert engine._fast is None
    result = engine.evaluate(_TWO_LOOPS_CLAIM)
    assert [(f.line, f.rule_id) for f in result.findings if f.rule_id.startswith("TWO-")] == [
        (1, "TWO-AFTER-BIG"),
        (2, "TWO-BIG"),
        (3, "TWO-AFTER-BIG"),
    ]
    agree(engine, _TWO_LOOPS_CLAIM)
    for data in examples(engines("python")):
        agree(engine, data)


def test_claim_rules_only_still_get_their_line_results(tmp_path):
    path = tmp_path / "claim_only.toml"
    path.write_text(textwrap.dedent(CLAIM_ONLY), encoding="utf-8")
    engine = Engine([path], check_examples=False)
    assert engine.backend.fused.results and engine._fast is not None
    assert "for n, line in enumerate(lines, 1):" in engine.backend.fused.source
    result = engine.evaluate(_TWO_LOOPS_CLAIM)
    assert result.status == "warn"
    assert [(r.line, r.status, str(r.date_of_service)) for r in result.lines] == [
        (1, "clean", "2026-01-02"),
        (2, "clean", "2026-01-01"),
        (3, "clean", "2026-01-01"),
    ]
    agree(engine, _TWO_LOOPS_CLAIM)


_GENERATED = """\
[ruleset]
name = "generated"
version = "1.0.0"
released = 2026-12-01
requires = ["core"]

[[rule]]
id = "GEN-CLAIM"
title = "t"
on = "claim"
severity = {{ medicare = "deny", default = "warn" }}
when = '''{claim_when}'''
message = "{{count(l for l in lines if l.hcpcs == \\"Q0513\\")}} {{sum(l.units for l in lines)}}"
source = "s"

[[rule]]
id = "GEN-LINE"
title = "t"
on = "line"
scope = ["aetna", "medicare"]
severity = "warn"
when = '''{line_when}'''
message = "{{line.hcpcs}} {{max(l.units for l in lines if l.hcpcs == line.hcpcs)}}"
source = "s"
[rule.reason_codes]
source = "s"
default = [{{ when = '''{claim_when}''', group = "PR", carc = "50" }}, {{ group = "CO", carc = "16" }}]
"""


@settings(max_examples=15)
@given(
    cross_line_conditions("claim"),
    cross_line_conditions("line"),
    st.lists(cross_line_claims(), min_size=1, max_size=3),
)
def test_fused_agrees_on_generated_rules(tmp_path_factory, claim_when, line_when, claims):
    path = tmp_path_factory.mktemp("gen") / "generated.toml"
    path.write_text(_GENERATED.format(claim_when=claim_when, line_when=line_when), encoding="utf-8")
    engine = Engine(["core", str(path)], check_examples=False)
    for data in claims:
        agree(engine, data)


# ------------------------------------------------------------------------- rule identity


def test_fused_source_names_every_rule_and_is_registered(engines):
    import inspect

    engine = engines("python")
    fused = engine.backend.fused
    source = inspect.getsource(fused.evaluate)
    assert source == fused.source
    assert fused.filename.startswith(FUSED_NAME)
    assert linecache.getlines(fused.filename) == fused.source.splitlines(keepends=True)
    lines = fused.source.splitlines()
    assert len(lines) == len(fused.rule_at)
    for rule in engine.program.rules:
        marks = [i for i, line in enumerate(lines) if line.strip() == f"# rule: {rule.id}"]
        assert len(marks) == 1, rule.id
        # The comment and the code under it belong to the rule.
        assert fused.rule_at[marks[0]] == rule.id
        assert fused.rule_at[marks[0] + 1] == rule.id
    assert set(fused.rule_at) - {None} == {r.id for r in engine.program.rules}


RAISES = """
[ruleset]
name = "raises"
version = "1.0.0"
requires = ["core"]

[[rule]]
id = "RAISES-A-FINE"
title = "Fires on every line"
severity = "info"
when = "line.units > 0"
message = "fine"
source = "test"

[[rule]]
id = "RAISES-DATE"
title = "A date moved out of range"
codes = ["J7632"]
severity = "warn"
when = "line.date_of_service + 4000000 > line.date_of_service"
message = "never"
source = "test"

[[rule]]
id = "RAISES-Z-FINE"
title = "Fires on every line"
severity = "info"
when = "line.units > 0"
message = "fine too"
source = "test"
"""


@pytest.mark.parametrize("explain", [False, True])
def test_an_exception_in_fused_code_names_its_rule(tmp_path, explain):
    path = tmp_path / "raises.toml"
    path.write_text(textwrap.dedent(RAISES), encoding="utf-8")
    engine = Engine(["core", path], check_examples=False)
    claim = {
        "id": "R",
        "payer": "aetna",
        "supplier": {"npi": "1234567893"},
        "lines": [
            {"hcpcs": "J7631", "units": "1", "date_of_service": "2026-01-01"},
            {"hcpcs": "J7632", "units": "1", "date_of_service": "2026-01-01"},
        ],
    }
    with pytest.raises(RuleExecutionError) as info:
        engine.evaluate(claim, explain=explain)
    assert info.value.rule_id == "RAISES-DATE"
    assert info.value.claim_id == "R"
    # The traceback shows the generated line that raised, as written in the dump.
    shown = "".join(traceback.format_exception(info.value.__cause__))
    if not explain:
        assert engine.backend.fused.filename in shown
        assert "4000000" in shown


# --------------------------------------------------------------- the one-pass Result, with a policy

_POLICIES = [
    {"ignore": ["J7632-SUP-*", "CLAIM-NDC-FORMAT", "J7632-ORDERING-*"]},
    {"select": ["J7632-*", "CLAIM-*"], "ignore": ["J7632-UNITS-*"]},
    {
        "severity": {
            "J7632-COM-*": "info",
            "J7632-MCR-COMPOUNDED-NOT-COVERED": {"medicare": "warn", "default": "reject"},
            "CLAIM-*": "deny",
        }
    },
    {
        "ignore": ["J7632-MOD22-*"],
        "severity": {"J7632-POS-*": {"commercial": "info", "medicare_advantage": "reject"}},
        "payers": {"uhc": "aetna", "medicare": "medicare", "bcbs": "medicare_advantage"},
    },
    {},  # a policy that changes nothing
]


@pytest.mark.parametrize("policy", _POLICIES, ids=range(len(_POLICIES)))
def test_the_one_pass_result_under_a_policy_is_the_two_pass_one(policy):
    """Engine.evaluate applies its policy to the fused function's Result (statuses recomputed
    only where the policy changed a finding); Engine._evaluate applies it in _result's second
    pass over the derived facts. Same Result, field for field, on generated claims."""
    from hcpcs_rules.testing import claimgen

    engine = Engine(["core", "j7632"], policy=policy)
    assert engine._fast is not None
    changed = 0
    for data in claimgen.claims(400, seed=11):
        try:
            claim = engine.parse_claim(data)
        except ClaimError:
            continue
        one = engine.evaluate(claim)
        two = engine._evaluate(claim, False, engine._policy)
        assert one == two, claim.id
        changed += one.ignored != () or any(f.rule_severity for f in one.findings)
    if policy:
        assert changed  # the policy did touch findings: the recomputed statuses were exercised
