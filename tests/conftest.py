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
