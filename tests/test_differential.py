"""Both backends return identical results: every example, and generated claims at every boundary.

CI runs a bounded number of examples; `HYPOTHESIS_PROFILE=thorough pytest tests/test_differential.py`
(or benchmarks/differential.py) runs many more.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import durable_available
from hcpcs_rules import ClaimError, Engine
from hcpcs_rules.testing.strategies import (
    claim_json,
    cross_line_claims,
    cross_line_conditions,
    differential_claims,
)

pytestmark = pytest.mark.skipif(
    not durable_available(), reason="durable-rules does not import on this Python"
)


#: Aggregates over lines, line-to-line comparison, per-claim facts with fields, date arithmetic and
#: string concatenation (the built-in rulesets use few of them).
LANG = (str(Path(__file__).with_name("rulesets") / "lang.toml"),)


def both(engines, data, rulesets=None):
    outcomes = []
    for backend in ("python", "durable"):
        try:
            result = engines(backend, rulesets).evaluate(data, explain=True)
        except ClaimError as exc:
            outcomes.append(("ClaimError", exc.errors))
            continue
        if backend == "python":
            # Without explain the python backend runs its fused code (backends/fused.py), with
            # it the per-rule code: the same Result but for the trace.
            assert engines(backend, rulesets).evaluate(data) == attrs.evolve(result, trace=())
        fired = sorted((s.rule_id, s.subject, s.finding) for s in result.trace)
        outcomes.append((result.to_dict() | {"trace": None}, fired))
    return outcomes


@given(differential_claims())
def test_backends_agree_on_boundary_claims(engines, data):
    python, durable = both(engines, data)
    assert python == durable


@given(claim_json())
def test_backends_agree_on_arbitrary_valid_claims(engines, data):
    python, durable = both(engines, data)
    assert python == durable


def test_backends_agree_on_every_ruleset_example(engines):
    program = engines("python").program
    examples = [e.claim for rule in program.rules for e in rule.examples]
    assert len(examples) > 150
    for claim in examples:
        python, durable = both(engines, claim)
        assert python == durable, claim["id"]


@given(cross_line_claims())
def test_backends_agree_on_the_cross_line_language(engines, data):
    python, durable = both(engines, data, LANG)
    assert python == durable
    # The durable session matches a claim rule once, a line rule once per line, as python does.
    assert python[1] == durable[1]


def test_backends_agree_on_the_language_ruleset_examples(engines):
    program = engines("python", LANG).program
    examples = [e.claim for rule in program.rules for e in rule.examples]
    assert len(examples) >= 20
    for claim in examples:
        python, durable = both(engines, claim, LANG)
        assert python == durable, claim["id"]


_GENERATED = """\
[ruleset]
name = "generated"
version = "1.0.0"
released = 2026-12-01
description = "a generated cross-line rule"

[[rule]]
id = "GEN-CLAIM"
title = "t"
on = "claim"
severity = "warn"
when = '''{claim_when}'''
message = "{{count(l for l in lines if l.hcpcs == \\"Q0513\\")}} {{sum(l.units for l in lines)}} {{min(l.date_of_service for l in lines)}} {{claim.date_of_service - max(l.date_of_service for l in lines)}}"
source = "s"

[[rule]]
id = "GEN-LINE"
title = "t"
on = "line"
severity = "warn"
when = '''{line_when}'''
message = "{{line.hcpcs + \\"@\\" + line.ndc}} {{line.date_of_service - 7}} {{max(l.units for l in lines if l.hcpcs == line.hcpcs)}}"
source = "s"

# Reason codes chosen by a generated condition: both backends must pick the same choice.
[rule.reason_codes]
source = "s"
default = [{{ when = '''{claim_when}''', group = "PR", carc = "50" }}, {{ group = "CO", carc = "16", rarc = ["M53"] }}]
"""


@settings(max_examples=25)
@given(
    cross_line_conditions("claim"),
    cross_line_conditions("line"),
    st.lists(cross_line_claims(), min_size=1, max_size=4),
)
def test_backends_agree_on_generated_cross_line_rules(
    tmp_path_factory, claim_when, line_when, claims
):
    path = tmp_path_factory.mktemp("gen") / "generated.toml"
    path.write_text(_GENERATED.format(claim_when=claim_when, line_when=line_when), encoding="utf-8")
    engines = {
        b: Engine([str(path)], backend=b, check_examples=False) for b in ("python", "durable")
    }
    try:
        for data in claims:
            results = [engines[b].evaluate(data, explain=True) for b in ("python", "durable")]
            fused = engines["python"].evaluate(data)
            assert fused == attrs.evolve(results[0], trace=()), (claim_when, line_when, data)
            python, durable = (
                # Backends may fire one stratum's rules in different orders: compare the trace
                # as a set of firings, each once.
                (r.to_dict() | {"trace": None}, sorted((s.rule_id, s.subject) for s in r.trace))
                for r in results
            )
            assert python == durable, (claim_when, line_when, data)
    finally:
        for engine in engines.values():
            engine.close()
