"""Both backends return identical results: every example, and generated claims at every boundary.

CI runs a bounded number of examples; `HYPOTHESIS_PROFILE=thorough pytest tests/test_differential.py`
(or benchmarks/differential.py) runs many more.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given

from conftest import durable_available
from hcpcs_rules import ClaimError
from hcpcs_rules.testing.strategies import claim_json, cross_line_claims, differential_claims

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
