"""Helpers for ruleset authors' own test suites (plugins included).

Every rule ships example claims: ones that must fire it and near misses that must not. Building
an Engine already refuses a ruleset whose examples disagree; these helpers run the same checks on
every backend available here and report every problem at once, for a test like::

    from hcpcs_rules.testing import assert_examples_pass

    def test_my_ruleset_examples():
        assert_examples_pass(["core", "path/to/mine.toml"])

Submodules, imported on their own so that this one needs nothing beyond the library:

- :mod:`hcpcs_rules.testing.strategies`: Hypothesis strategies for claims (valid, mutated,
  hostile) and their parts; needs Hypothesis (the ``[test]`` extra);
- :mod:`hcpcs_rules.testing.claimgen`: seeded streams of mixed claims for load tests, standard
  library only;
- :mod:`hcpcs_rules.testing.rulesets`: a one-rule ruleset on top of ``core``, as TOML text, for
  tests of how rulesets are compiled.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from ..engine import Engine, check_examples_of
from ..errors import RulesetError, RulesetProblem

__all__ = ["assert_examples_pass", "available_backends", "example_problems"]


def available_backends() -> tuple[str, ...]:
    """The backends this Python can run: always "python"; "durable" where durable_rules imports."""
    try:
        import durable_rules_engine  # noqa: F401
    except ImportError:
        return ("python",)
    return ("python", "durable")


def example_problems(
    rulesets: Iterable[str | os.PathLike[str]] | None, backend: str
) -> list[RulesetProblem]:
    """Every disagreement between the rulesets' examples and what ``backend`` does with them."""
    try:
        engine = Engine(rulesets, backend=backend, check_examples=False)
        check_examples_of(engine)
    except RulesetError as exc:
        return list(exc.problems)
    return []


def assert_examples_pass(
    rulesets: Iterable[str | os.PathLike[str]] | None = None,
    backends: Sequence[str] | None = None,
) -> None:
    """Raise AssertionError listing, per backend, every example that does not behave as written."""
    selection = None if rulesets is None else list(rulesets)
    report = []
    for backend in backends or available_backends():
        report += [f"[{backend}] {problem}" for problem in example_problems(selection, backend)]
    if report:
        raise AssertionError("ruleset examples disagree:\n" + "\n".join(report))
