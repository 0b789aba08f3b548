"""Entry points of the built-in rulesets (group ``hcpcs_rules.rulesets``, see pyproject.toml).

In a built wheel the top-level ``rulesets/`` folder ships as ``hcpcs_rules/rulesets``; in an
editable install from a checkout it is still at the top of the tree.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["core", "j7632", "rulesets_dir"]


def rulesets_dir() -> Path:
    packaged = Path(__file__).with_name("rulesets")
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "rulesets"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"the built-in rulesets are missing: neither {packaged} nor {checkout} exists"
    )


def core() -> Path:
    return rulesets_dir() / "core.toml"


def j7632() -> Path:
    return rulesets_dir() / "j7632.toml"
