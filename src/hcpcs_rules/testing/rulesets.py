"""A one-rule ruleset on top of ``core``, written as TOML text, for tests of the compiler.

The tests of hostile rulesets and ``benchmarks/hostile_rulesets.py`` build their cases from the
same rule, so what the benchmark measures is exactly what the tests pin::

    from hcpcs_rules.testing.rulesets import HEADER, rule

    path.write_text(HEADER + rule("line.units > 100", severity='"deny"'))
    Engine(["core", path])
"""

from __future__ import annotations

import json

__all__ = ["HEADER", "rule"]

#: The ``[ruleset]`` table of a ruleset named ``mine`` (requires ``core``) and one example claim,
#: ``base``: a Medicare J7632 line of 240 units whose note is 30 characters long.
HEADER = """
[ruleset]
name = "mine"
version = "0.1.0"
requires = ["core"]

[claims.base]
id = "B"
payer = "medicare"
date_of_service = 2026-03-02
place_of_service = "12"
diagnoses = ["J45.40"]
supplier = { npi = "1234567893" }
lines = [{ hcpcs = "J7632", units = "240", diagnosis_pointers = [1], note = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" }]
"""


def rule(when: str = "line.units > 100", **keys: str) -> str:
    """A finding rule (with a firing example and a near miss) as TOML; ``keys`` are raw TOML."""
    fields = {
        "id": '"MINE-RULE"',
        "title": '"A title"',
        "severity": '"warn"',
        "message": '"Billed {line.units} units."',
        "source": '"Test policy"',
        "when": json.dumps(when),
        **keys,
    }
    body = "\n".join(f"{k} = {v}" for k, v in fields.items())
    return f"""
[[rule]]
{body}
[[rule.example]]
name = "fires"
base = "base"
fires = true
[[rule.example]]
name = "near miss"
base = "base"
set = {{ "line[1].units" = "100" }}
fires = false
"""
