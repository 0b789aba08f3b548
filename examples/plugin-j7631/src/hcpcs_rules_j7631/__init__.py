"""J7631 rules for hcpcs_rules, shipped as a plugin distribution.

hcpcs_rules finds the ruleset through the ``hcpcs_rules.rulesets`` entry point declared in this
distribution's ``pyproject.toml``; nothing is imported from here until an Engine selects it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ruleset_path"]


def ruleset_path() -> Path:
    """The ruleset file, packaged beside this module."""
    return Path(__file__).with_name("j7631.toml")
