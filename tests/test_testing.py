"""hcpcs_rules.testing: what plugin authors run in their own suites."""

from __future__ import annotations

import pytest

from hcpcs_rules.testing import assert_examples_pass, available_backends, example_problems


def test_the_built_in_rulesets_pass_on_every_available_backend():
    assert "python" in available_backends()
    assert_examples_pass()


def test_a_disagreeing_example_is_reported_per_backend(tmp_path):
    path = tmp_path / "wrong.toml"
    path.write_text(
        """
[ruleset]
name = "wrong"
version = "1"
[[rule]]
id = "WRONG-ANY"
title = "always"
severity = "info"
message = "m"
source = "test"
[[rule.example]]
name = "claims it never fires"
claim = { id = "A", payer = "aetna", supplier = { npi = "1234567893" }, lines = [{ hcpcs = "J7632", units = "1" }] }
fires = false
"""
    )
    problems = example_problems([path], "python")
    assert {p.rule_id for p in problems} == {"WRONG-ANY"}
    assert any("expected the rule not to fire" in p.message for p in problems)
    assert any("needs an example that fires it" in p.message for p in problems)
    with pytest.raises(AssertionError, match=r"\[python\] .*WRONG-ANY"):
        assert_examples_pass([path], backends=["python"])
