"""Shared fixtures and Hypothesis profiles.

Profiles: "ci" (default; bounded so the suite stays fast), "dev" (fewer examples), "thorough"
(many more, for nightly-style runs): ``HYPOTHESIS_PROFILE=thorough pytest``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def durable_available() -> bool:
    try:
        import durable_rules_engine  # noqa: F401
    except ImportError:
        return False
    return True


BACKENDS = [
    "python",
    pytest.param(
        "durable",
        marks=pytest.mark.skipif(
            not durable_available(), reason="durable-rules does not import on this Python"
        ),
    ),
]


#: The rulesets this library ships. Tests name them rather than take every installed ruleset,
#: so a plugin installed beside the library cannot change what they check.
SHIPPED = ("core", "j7632")


@pytest.fixture(scope="session")
def engines():
    """One engine per (backend, rulesets) pair, built once for the whole session; the shipped
    rulesets unless others are named."""
    from hcpcs_rules import Engine

    cache: dict = {}

    def get(backend: str, rulesets: tuple[str, ...] | None = None):
        key = (backend, rulesets or SHIPPED)
        if key not in cache:
            cache[key] = Engine(list(key[1]), backend=backend)
        return cache[key]

    return get


@pytest.fixture(autouse=True)
def fast_path_agrees(monkeypatch):
    """Every claim any test reads through the claim reader's fast path is read again by the
    detailed reader, which must build the same claim (digit for digit: compared by repr).

    So the whole suite's claims, regression cases included, are a differential test of the fast
    path (tests/test_claims_fastpath.py has its own properties). A claim the fast path is unsure
    of is read by the detailed reader only, as in production: its ClaimError is that reader's.
    """
    from hcpcs_rules import ClaimError, claims

    fast = claims._read_fast

    def checked(data, limits, schema):
        claim = fast(data, limits, schema)
        if claim is not None:
            try:
                detailed = claims._read_detailed(data, limits, schema)
            except ClaimError as exc:  # pragma: no cover - the failure this fixture exists for
                raise AssertionError(
                    f"the fast path accepted a claim the detailed reader refuses: {exc}"
                ) from None
            assert repr(claim) == repr(detailed), "the fast path built another claim"
        return claim

    monkeypatch.setattr(claims, "_read_fast", checked)
