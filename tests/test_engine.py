"""The engine: forward chaining, results, the trace, artefacts and plugin discovery."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hcpcs_rules
from conftest import BACKENDS
from hcpcs_rules import ClaimError, Engine, Result
from hcpcs_rules.testing.strategies import differential_claims, json_values, mutated_claims

NO_DATE_CLAIM = {
    "id": "C-NODATE",
    "payer": "aetna",
    "place_of_service": "12",
    "diagnoses": ["J45.40"],
    "supplier": {"npi": "1234567893"},
    "lines": [{"hcpcs": "J7631", "units": "240", "diagnosis_pointers": [1]}],
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_finding_that_exists_only_because_a_derived_fact_fired_a_second_rule(engines, backend):
    """CLAIM-DOS-MISSING reads `service`, which CORE-SERVICE derives from the line: a chain."""
    result = engines(backend, ("core",)).evaluate(NO_DATE_CLAIM, explain=True)
    assert [f.rule_id for f in result.findings] == ["CLAIM-DOS-MISSING"]
    steps = {s.rule_id: s for s in result.trace}
    derive, consume = steps["CORE-SERVICE"], steps["CLAIM-DOS-MISSING"]
    assert derive.derived == ("service:1",)
    assert "service:1" in consume.matched and consume.finding == "reject"
    assert derive.step < consume.step


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_carry_the_payer_the_overlay_and_each_lines_date(engines, backend):
    claim = {
        **NO_DATE_CLAIM,
        "date_of_service": "2026-03-02",
        "lines": [
            {"hcpcs": "J7631", "units": "240", "diagnosis_pointers": [1]},
            {"hcpcs": "J7631", "units": "240", "date_of_service": "2026-02-27"},
        ],
    }
    result = engines(backend, ("core",)).evaluate(claim)
    assert (result.payer, result.overlay) == ("aetna", "aetna")
    assert [str(line.date_of_service) for line in result.lines] == ["2026-03-02", "2026-02-27"]
    ma = engines(backend, ("core",)).evaluate({**claim, "line_of_business": "medicare_advantage"})
    assert (ma.payer, ma.overlay) == ("aetna", "medicare_advantage")
    undated = engines(backend, ("core",)).evaluate(NO_DATE_CLAIM)
    assert undated.lines[0].date_of_service is None
    assert undated.to_dict()["lines"][0]["date_of_service"] is None
    assert result.to_dict()["overlay"] == "aetna"


@pytest.mark.parametrize("backend", BACKENDS)
def test_trace_is_empty_unless_explain(engines, backend):
    assert engines(backend, ("core",)).evaluate(NO_DATE_CLAIM).trace == ()


@pytest.mark.parametrize("backend", BACKENDS)
def test_findings_are_in_stable_order_and_status_is_the_worst(engines, backend):
    claim = json.loads(json.dumps(NO_DATE_CLAIM))
    claim["supplier"]["npi"] = "1234567890"
    claim["lines"].append(
        {
            "hcpcs": "J7631",
            "units": "2.5",
            "modifiers": ["GA", "GZ"],
            "date_of_service": "2026-01-01",
            "diagnosis_pointers": [1],
        }
    )
    result = engines(backend, ("core",)).evaluate(claim)
    keys = [(f.line or 0, f.rule_id) for f in result.findings]
    assert keys == sorted(keys)
    assert result.findings[0].line is None and result.findings[0].rule_id == "CLAIM-NPI-INVALID"
    assert result.status == "reject"
    assert [line.status for line in result.lines] == ["reject", "reject"]
    assert result.rulesets == ("core@1.2.0",)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_core_example_passes(engines, backend):
    """Engine construction runs them; this states it as a test of its own."""
    from hcpcs_rules.engine import run_example

    engine = engines(backend, ("core",))
    outcomes = [
        (r.id, e.name, run_example(engine, r, e)) for r in engine.program.rules for e in r.examples
    ]
    assert len(outcomes) >= 20
    assert [o for o in outcomes if o[2] is not None] == []


@pytest.mark.parametrize(
    ("severities", "claim_status", "line_statuses"),
    [
        ([], "clean", ["clean", "clean"]),
        ([("info", 1)], "clean", ["clean", "clean"]),
        ([("info", 1), ("warn", 2)], "warn", ["clean", "warn"]),
        ([("warn", 1), ("deny", None), ("info", 2)], "deny", ["warn", "clean"]),
        ([("deny", 2), ("reject", 2), ("warn", 1)], "reject", ["warn", "reject"]),
    ],
)
def test_status_is_the_most_severe_finding(engines, severities, claim_status, line_statuses):
    """reject > deny > warn > (info or nothing) = clean, for the claim and for each line."""
    from hcpcs_rules.facts import Facts
    from hcpcs_rules.model import Finding

    engine = engines("python", ("core",))
    claim = hcpcs_rules.parse_claim({**NO_DATE_CLAIM, "lines": NO_DATE_CLAIM["lines"] * 2})
    facts = Facts(claim, (), False)
    facts.findings.extend(
        Finding(rule_id=f"R{i}", severity=s, line=n, message="m", source="s")
        for i, (s, n) in enumerate(severities)
    )
    result = engine._result(claim, facts)
    assert result.status == claim_status
    assert [line.status for line in result.lines] == line_statuses


def test_module_level_evaluate_uses_a_lazily_built_default_engine():
    result = hcpcs_rules.evaluate(NO_DATE_CLAIM)
    assert isinstance(result, Result) and result.claim_id == "C-NODATE"
    from hcpcs_rules.engine import default_engine

    assert default_engine() is default_engine()


def test_version_comes_from_package_metadata():
    from importlib.metadata import version

    assert hcpcs_rules.__version__ == version("hcpcs-rules")


@pytest.mark.parametrize("backend", BACKENDS)
def test_ir_and_backend_artefacts_can_be_dumped(engines, backend):
    engine = engines(backend, ("core",))
    ir = json.loads(engine.dump("ir"))
    assert {r["id"] for r in ir["rules"]} >= {"CLAIM-NPI-INVALID", "CORE-SERVICE"}
    artefact = engine.dump("backend")
    if backend == "durable":
        definition = json.loads(artefact)
        assert "__begin__" in definition
        assert any("__gate__" in json.dumps(r) for r in definition.values())
    else:
        # The driver calls each rule's run, so that is all that is generated.
        assert "def run(f, subjects):" in artefact and "def match(" not in artefact


def test_generated_code_is_registered_for_tracebacks_and_inspect():
    import inspect

    engine = Engine(["core"], backend="python")
    compiled = next(c for c in engine.backend._compiled if c.rule.id == "CLAIM-NPI-INVALID")
    assert compiled.filename.startswith("<hcpcs_rules generated core:CLAIM-NPI-INVALID ")
    assert "npi_valid" in inspect.getsource(compiled.run)


def test_two_engines_keep_their_own_source_of_a_rule_for_tracebacks(tmp_path):
    """Two versions of one ruleset's rule alive at once (a reload, two tenants): each engine's
    generated code stays registered under its own name, so a traceback shows its own lines."""
    import inspect
    import linecache

    from hcpcs_rules.testing.rulesets import HEADER, rule

    engines = []
    for units in ("100", "200"):
        folder = tmp_path / units
        folder.mkdir()
        path = folder / "mine.toml"
        path.write_text(textwrap.dedent(HEADER) + rule(f"line.units > {units}"))
        engines.append(Engine(["core", path], check_examples=False))
    first, second = (
        next(c for c in e.backend._compiled if c.rule.id == "MINE-RULE") for e in engines
    )
    assert first.filename != second.filename
    for compiled, units in ((first, "100"), (second, "200")):
        assert linecache.getlines(compiled.filename) == compiled.source.splitlines(keepends=True)
        assert f"> {units}" in inspect.getsource(compiled.run)


def test_plugins_are_discovered_through_entry_points(tmp_path, monkeypatch):
    """A third-party distribution registers a ruleset exactly as the built-ins do."""
    ruleset = tmp_path / "plug.toml"
    ruleset.write_text(
        textwrap.dedent("""
        [ruleset]
        name = "plug"
        version = "2.0"
        requires = ["core"]
        [[rule]]
        id = "PLUG-ANY-LINE"
        title = "Every line"
        severity = "info"
        message = "line {line.number} seen"
        source = "plugin test"
        [[rule.example]]
        name = "fires"
        claim = { id = "P", payer = "aetna", supplier = { npi = "1234567893" }, lines = [{ hcpcs = "J7631", units = "1" }] }
        fires = true
        [[rule.example]]
        name = "never silent"
        claim = { id = "P", payer = "aetna", supplier = { npi = "1234567893" }, lines = [{ hcpcs = "J7631", units = "1" }] }
        fires = true
    """)
    )
    site = tmp_path / "site"
    dist = site / "hcpcs_plug-2.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hcpcs-plug\nVersion: 2.0\n")
    (dist / "entry_points.txt").write_text(
        "[hcpcs_rules.rulesets]\nplug = hcpcs_plug_module:path\n"
    )
    (site / "hcpcs_plug_module.py").write_text(f"def path():\n    return {str(ruleset)!r}\n")
    monkeypatch.syspath_prepend(str(site))
    from hcpcs_rules.load import discover

    assert "plug" in discover()
    # The examples above never include a near miss: the plugin is refused, naming its file.
    with pytest.raises(hcpcs_rules.RulesetError) as info:
        Engine(["plug"], backend="python")
    assert str(ruleset) in str(info.value) and "near miss" in str(info.value)
    text = ruleset.read_text()
    near_miss = text[text.index('[[rule.example]]\nname = "never silent"') :]
    fixed = (
        near_miss.replace("never silent", "other code")
        .replace('"J7631"', '"J7632"')
        .replace("fires = true", "fires = false")
    )
    ruleset.write_text(
        text.replace(near_miss, fixed).replace(
            'source = "plugin test"', 'source = "plugin test"\nwhen = "line.hcpcs == \'J7631\'"'
        )
    )
    engine = Engine(["plug"], backend="python")
    assert engine.rulesets == ("core@1.2.0", "plug@2.0")  # its requirement came along


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown backend 'rete'"):
        Engine(["core"], backend="rete")


@pytest.mark.skipif(sys.version_info < (3, 13), reason="durable-rules imports below 3.13")
def test_durable_on_313_says_why():
    with pytest.raises(RuntimeError, match=r"3\.13"):
        Engine(["core"], backend="durable")


@pytest.mark.parametrize("backend", BACKENDS)
@given(st.one_of(mutated_claims(), differential_claims(), json_values()))
def test_any_input_gives_a_result_or_a_claim_error(engines, backend, data):
    """No input, however malformed, surfaces another exception type or leaves state behind."""
    engine = engines(backend)
    try:
        result = engine.evaluate(data)
    except ClaimError:
        return
    assert result.status in ("reject", "deny", "warn", "clean")
    if backend == "durable":
        assert engine.backend.live_sessions == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_engine_shared_by_8_threads_matches_a_serial_run(engines, backend):
    """One Engine, many threads: results never mix between claims."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from hcpcs_rules.testing.claimgen import claims

    engine = engines(backend)

    def outcome(data):
        try:
            return engine.evaluate(data, explain=True).to_dict()
        except ClaimError as exc:
            return exc.errors

    stream = claims(2000, seed=31)
    serial = [outcome(c) for c in stream]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            threaded = list(pool.map(outcome, stream))
    finally:
        sys.setswitchinterval(old)
    assert threaded == serial
