"""Unknown payers are claim errors: a misspelt payer must not make a claim look clean.

Before, ``"payer": "medicre"`` was taken as a commercial payer's overlay, so no Medicare rule ran.
The payers an engine knows are :attr:`Engine.payers`: the contract's (``CORE_PAYERS``), those
its rulesets declare, and those passed as ``Engine(payers=...)`` (a policy's payer mapping).
"""

from __future__ import annotations

import types

import pytest

from conftest import BACKENDS
from hcpcs_rules import ClaimError, Engine, parse_claim
from hcpcs_rules.engine import CORE_PAYERS, EngineConfig, known_payers
from hcpcs_rules.testing import claimgen, strategies


def claim(payer: str, **extra):
    return {
        "id": "P1",
        "payer": payer,
        "date_of_service": "2026-03-02",
        "place_of_service": "12",
        "diagnoses": ["J45.40"],
        "supplier": {"npi": "1234567893"},
        "lines": [{"hcpcs": "J7632", "units": "240", "diagnosis_pointers": [1]}],
        **extra,
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("payer", "suggested"),
    [("medicre", "medicare"), ("Medicare", "medicare"), ("aetan", "aetna"), ("UHC", None)],
)
def test_unknown_payer_is_a_claim_error_with_did_you_mean(engines, backend, payer, suggested):
    with pytest.raises(ClaimError) as info:
        engines(backend).evaluate(claim(payer))
    ((path, message),) = info.value.errors
    assert path == "$.payer"
    assert message.startswith(f"unknown payer {payer!r}")
    if suggested:
        assert f"(did you mean {suggested!r}?)" in message
    assert "case-sensitive" in message and "medicare" in message


def test_known_payers_still_run_their_rules(engines):
    # The misspelt claim would have been "clean" as a commercial payer; the right one is not.
    result = engines("python").evaluate(claim("medicare"))
    assert any(f.payer == "medicare" for f in result.findings)
    for payer in sorted(CORE_PAYERS):
        engines("python").evaluate(claim(payer))


def test_engine_payers_add_known_names(engines):
    engine = Engine(["core"], payers=["humana", "humana"])
    assert engine.payers == CORE_PAYERS | {"humana"}
    assert engine.config.payers == ("humana",)
    result = engine.evaluate(claim("humana"), explain=True)
    assert result.claim_id == "P1"
    with pytest.raises(ClaimError):
        engines("python", ("core",)).evaluate(claim("humana"))


def test_payer_names_are_checked():
    with pytest.raises(TypeError, match="list of payer names"):
        Engine(["core"], payers="humana")
    with pytest.raises(ValueError, match="line of business"):
        Engine(["core"], payers=["commercial"])
    with pytest.raises(ValueError, match="not a payer name"):
        Engine(["core"], payers=[" "])


def test_known_payers_take_what_the_program_declares():
    program = types.SimpleNamespace(payers=frozenset({"kaiser"}))
    assert known_payers(program, ["humana"]) == CORE_PAYERS | {"kaiser", "humana"}  # type: ignore[arg-type]
    assert known_payers(types.SimpleNamespace()) == CORE_PAYERS  # type: ignore[arg-type]


def test_module_parse_claim_reads_shape_only(engines):
    # Without an engine there is no list of payers; the engine checks the parsed claim again.
    typed = parse_claim(claim("medicre"))
    assert typed.payer == "medicre"
    with pytest.raises(ClaimError) as info:
        engines("python").evaluate(typed)
    assert info.value.errors[0][0] == "$.payer"
    known = parse_claim(claim("aetna"))
    assert engines("python").parse_claim(known) is known  # same shape, known payer: not re-read


def test_lines_of_business_are_still_not_payers(engines):
    with pytest.raises(ClaimError) as info:
        engines("python").parse_claim(claim("medicare_advantage"))
    assert "line of business" in info.value.errors[0][1]


def test_workers_rebuild_the_same_payers():
    # Workers build their engine from its config (tests/test_extensions.py runs a batch on them).
    engine = Engine(["core"], payers=["humana"], check_examples=False)
    assert engine.config.build().payers == engine.payers
    assert EngineConfig(rulesets=("core",), payers=("humana",)).build().payers == engine.payers


def test_claim_generators_use_known_payers():
    assert set(strategies.PAYERS) <= CORE_PAYERS
    assert set(claimgen.PAYERS) <= CORE_PAYERS
