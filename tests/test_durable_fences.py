"""The fences around durable_rules, each proven (see backends/durable/ for what each is for)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import durable_available
from hcpcs_rules import BackendError, ClaimError, Engine, RuleExecutionError, RulesetError
from hcpcs_rules.functions import FUNCTIONS, register
from hcpcs_rules.testing.claimgen import claims

pytestmark = pytest.mark.skipif(
    not durable_available(), reason="durable-rules does not import on this Python"
)


def outcome(engine: Engine, data) -> object:
    try:
        return engine.evaluate(data).to_dict()
    except ClaimError as exc:
        return ("ClaimError", exc.errors)


@pytest.fixture(scope="module")
def durable_engine():
    return Engine(["core", "j7632"], backend="durable")


def test_one_engine_shared_by_8_threads_gives_the_serial_results(durable_engine):
    stream = claims(4000, seed=11)
    serial = [outcome(durable_engine, c) for c in stream]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as possible, to provoke races
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            threaded = list(pool.map(lambda c: outcome(durable_engine, c), stream))
    finally:
        sys.setswitchinterval(old)
    assert threaded == serial
    assert sum(isinstance(o, tuple) for o in serial) > 50  # invalid claims were in the mix
    assert len({o["status"] for o in serial if isinstance(o, dict)}) >= 3
    assert durable_engine.backend.live_sessions == 0


def test_durable_starts_no_background_threads():
    before = threading.active_count()
    engine = Engine(["core"], backend="durable")
    for c in claims(50, seed=3):
        outcome(engine, c)
    assert threading.active_count() == before


def test_more_evaluations_than_the_session_table_holds(durable_engine):
    """The C engine caps live sessions at 1,024 per ruleset: every session must be deleted."""
    stream = claims(1500, seed=5)
    for data in stream:
        outcome(durable_engine, data)
    assert durable_engine.backend.live_sessions == 0


@pytest.fixture
def exploding_function():
    if "test_explode" not in FUNCTIONS:

        @register("test_explode", ["str"], "bool", doc="raises on 'boom' (tests only)")
        def _explode(value):
            if value == "boom":
                raise ZeroDivisionError("boom")
            return False

    yield "test_explode"


def test_a_failing_evaluation_leaves_no_state_behind(tmp_path, exploding_function):
    path = tmp_path / "explode.toml"
    path.write_text(
        textwrap.dedent("""
        [ruleset]
        name = "explode"
        version = "1"
        requires = ["core"]
        [[rule]]
        id = "EXPLODE-NOTE"
        title = "explodes"
        severity = "info"
        when = "test_explode(line.note)"
        message = "never"
        source = "test"
        [[rule.example]]
        name = "a"
        claim = { id = "A", payer = "aetna", supplier = { npi = "1234567893" }, lines = [{ hcpcs = "J7631", units = "1" }] }
        fires = false
    """)
    )
    engine = Engine(["core", path], backend="durable", check_examples=False)
    good = {
        "id": "G",
        "payer": "aetna",
        "date_of_service": "2026-01-01",
        "place_of_service": "12",
        "diagnoses": ["J45.40"],
        "supplier": {"npi": "1234567893"},
        "lines": [{"hcpcs": "J7631", "units": "1", "diagnosis_pointers": [1]}],
    }
    bad = {**good, "id": "B", "lines": [{"hcpcs": "J7631", "units": "1", "note": "boom"}]}
    baseline = engine.evaluate(good)
    # More failures than the C session table could hold if any one of them leaked its session.
    for _ in range(1100):
        with pytest.raises(RuleExecutionError) as info:
            engine.evaluate(bad)
    assert info.value.rule_id == "EXPLODE-NOTE" and isinstance(
        info.value.__cause__, ZeroDivisionError
    )
    assert engine.backend.live_sessions == 0
    assert engine.evaluate(good) == baseline


def many_rules(tmp_path, name: str, count: int, rule: str, *, requires_core: bool = True):
    """A ruleset of ``count`` rules from ``rule``, a TOML template of one rule body formatted with
    ``i`` (the rule's index): how these tests walk durable_rules up to its limits."""
    header = f'[ruleset]\nname = "{name}"\nversion = "1"\n'
    if requires_core:
        header += 'requires = ["core"]\n'
    body = "\n".join(
        f'[[rule]]\nid = "{name.upper()}-{i:04d}"\ntitle = "{name} {i}"\nseverity = "info"\n'
        f'message = "m"\nsource = "test"\n' + textwrap.dedent(rule).format(i=i)
        for i in range(count)
    )
    path = tmp_path / f"{name}{count}.toml"
    path.write_text(header + body)
    return path


def test_512_sibling_tests_are_refused_at_build_not_hung(tmp_path):
    """durable_rules spins forever on the first assert with 512 tests on one field."""
    path = many_rules(tmp_path, "sib", 512, 'codes = ["C{i:04d}"]')
    script = textwrap.dedent(f"""
        from hcpcs_rules import Engine, RulesetError
        try:
            Engine(["core", {str(path)!r}], backend="durable", check_examples=False)
        except RulesetError as exc:
            print("REFUSED", exc)
        else:
            print("BUILT")
    """)
    # A subprocess with a timeout: if the fence ever broke, this test fails instead of hanging CI.
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert "REFUSED" in done.stdout, done.stdout + done.stderr
    assert (
        "tests hang off one node of the line network" in done.stdout and "SIB-0000" in done.stdout
    )


def test_the_same_rules_as_a_set_are_fine(tmp_path):
    codes = ", ".join(f'"C{i:04d}"' for i in range(600))
    path = tmp_path / "set.toml"
    path.write_text(
        textwrap.dedent(f"""
        [ruleset]
        name = "codeset"
        version = "1"
        requires = ["core"]
        [constants]
        codes = [{codes}]
        [[rule]]
        id = "SET-CODE"
        title = "in the set"
        severity = "info"
        when = "line.hcpcs in codes"
        message = "m"
        source = "test"
        [[rule.example]]
        name = "in"
        claim = {{ id = "A", payer = "aetna", supplier = {{ npi = "1234567893" }}, lines = [{{ hcpcs = "C0599", units = "1" }}] }}
        fires = true
        [[rule.example]]
        name = "out"
        claim = {{ id = "A", payer = "aetna", supplier = {{ npi = "1234567893" }}, lines = [{{ hcpcs = "C0600", units = "1" }}] }}
        fires = false
    """)
    )
    Engine(["core", path], backend="durable")


def test_rulesets_are_freed_when_engines_go_away():
    engine = Engine(["core"], backend="durable", check_examples=False)
    finalizer = engine.backend._finalizer
    assert finalizer.alive
    del engine
    gc.collect()
    assert not finalizer.alive
    closed = Engine(["core"], backend="durable", check_examples=False)
    closed.close()
    assert not closed.backend._finalizer.alive


def test_facts_no_rule_uses_do_not_raise_message_not_handled(tmp_path):
    """durable's Python wrapper raises MessageNotHandledException; the C level just reports it."""
    path = tmp_path / "tiny.toml"
    path.write_text(
        textwrap.dedent("""
        [ruleset]
        name = "tiny"
        version = "1"
        [[rule]]
        id = "TINY-PAYER"
        title = "medicare claim"
        on = "claim"
        severity = "info"
        when = "claim.payer == 'medicare'"
        message = "m"
        source = "test"
        [[rule.example]]
        name = "fires"
        claim = { id = "A", payer = "medicare", supplier = { npi = "1234567893" }, lines = [{ hcpcs = "J7631", units = "1" }] }
        fires = true
        [[rule.example]]
        name = "near miss"
        claim = { id = "A", payer = "aetna", supplier = { npi = "1234567893" }, lines = [{ hcpcs = "J7631", units = "1" }, { hcpcs = "J7632", units = "1" }] }
        fires = false
    """)
    )
    engine = Engine([path], backend="durable")
    assert engine.program.strata == 1


def test_claim_errors_never_reach_the_engine(durable_engine):
    with pytest.raises(ClaimError):
        durable_engine.evaluate({"id": "x"})
    assert durable_engine.backend.live_sessions == 0


def test_ruleset_errors_from_durable_itself_are_ruleset_errors(monkeypatch):
    from hcpcs_rules.backends import durable

    def refuse(name, definition):
        raise RuntimeError("Could not create ruleset, error code: 113")

    monkeypatch.setattr(durable._import_engine(), "create_ruleset", refuse)
    with pytest.raises(RulesetError, match="error code: 113"):
        Engine(["core"], backend="durable", check_examples=False)


def _inequality_rules(tmp_path, count: int):
    return many_rules(
        tmp_path, "ne", count, """when = "line.hcpcs != 'C{i:03d}'" """, requires_core=False
    )


def test_more_than_64_tests_matching_one_fact_are_refused_at_build(tmp_path):
    """65 tests that all match one line fail every assert with error 303 (measured); 64 run."""
    claim = {
        "id": "A",
        "payer": "aetna",
        "supplier": {"npi": "1234567893"},
        "lines": [{"hcpcs": "J7632", "units": "1"}],
    }
    engine = Engine([_inequality_rules(tmp_path, 64)], backend="durable", check_examples=False)
    assert len(engine.evaluate(claim).findings) == 64
    with pytest.raises(RulesetError, match="up to 65 tests can pass for one line fact"):
        Engine([_inequality_rules(tmp_path, 65)], backend="durable", check_examples=False)
    # The python backend has no such limit.
    python = Engine([_inequality_rules(tmp_path, 65)], backend="python", check_examples=False)
    assert len(python.evaluate(claim).findings) == 65


def _service_joins(tmp_path, count: int):
    # Identical tests: they would share one node, were it not a join (joins never share).
    return many_rules(tmp_path, "join", count, """when = "service.date > date('2000-01-01')" """)


def test_joins_never_share_nodes_and_count_against_the_stack(tmp_path, monkeypatch):
    """Every rule joining `service` to its line adds its own node, pushed for every service fact.

    core has two such rules: 62 more fit in the 64-entry stack, 63 more are refused at build,
    and without the check they really do fail every evaluation with error 303.
    """
    from hcpcs_rules.backends import durable

    claim = {
        "id": "A",
        "payer": "aetna",
        "date_of_service": "2026-01-02",
        "supplier": {"npi": "1234567893"},
        "lines": [{"hcpcs": "J7632", "units": "1"}],
    }
    fits = Engine(["core", _service_joins(tmp_path, 62)], backend="durable", check_examples=False)
    assert sum(f.rule_id.startswith("JOIN-") for f in fits.evaluate(claim).findings) == 62
    too_many = _service_joins(tmp_path, 63)
    with pytest.raises(RulesetError, match="up to 65 tests can pass for one service fact"):
        Engine(["core", too_many], backend="durable", check_examples=False)
    monkeypatch.setattr(durable.network, "check_limits", lambda *args: None)
    unchecked = Engine(["core", too_many], backend="durable", check_examples=False)
    with pytest.raises(BackendError, match="303") as info:
        unchecked.evaluate(claim)
    assert type(info.value.__cause__).__module__ == "durable_rules_engine"
    assert unchecked.backend.live_sessions == 0


def test_256_patterns_on_one_node_are_refused_with_the_reason(tmp_path):
    """Rules with the same test end their patterns on one shared node: 255 fit; from 256 on, the
    C engine reads past the end of its list (measured: intermittent segfaults at 256, error 108
    or not at 257, depending on what lies beyond), so the build refuses them."""

    def rules(count: int):
        return many_rules(
            tmp_path,
            "same",
            count,
            """on = "claim"\nwhen = "claim.payer == 'medicare'" """,
            requires_core=False,
        )

    claim = {
        "id": "A",
        "payer": "medicare",
        "supplier": {"npi": "1234567893"},
        "lines": [{"hcpcs": "J7632", "units": "1"}],
    }
    fits = Engine([rules(255)], backend="durable", check_examples=False)
    for _ in range(20):
        assert len(fits.evaluate(claim).findings) == 255
    with pytest.raises(
        RulesetError, match="256 rule patterns end on one test of the claim network"
    ):
        Engine([rules(256)], backend="durable", check_examples=False)


def _scoped_rules(tmp_path, count: int):
    # Identical scope tests: each still adds its own `$or` node (measured: they are never shared).
    return many_rules(
        tmp_path, "scoped", count, 'on = "claim"\nscope = ["medicare", "medicare_advantage"]'
    )


def test_scope_tests_never_share_nodes_and_cost_a_stack_entry_per_passing_option(
    tmp_path, monkeypatch
):
    """A scope is a `$or` on the payer_scope fact. durable_rules gives every rule its own `$or`
    node, and a fact passing two of its options takes one more stack entry per node (measured:
    64 one-option nodes fit, 63 two-option ones): a Medicare claim passes both the overlay and
    the program option, so 63 scoped rules fit and 64 are refused at build, where without the
    check every evaluation fails with error 303."""
    from hcpcs_rules.backends import durable

    claim = {
        "id": "A",
        "payer": "medicare",
        "supplier": {"npi": "1234567893"},
        "lines": [{"hcpcs": "J7632", "units": "1"}],
    }
    fits = Engine(["core", _scoped_rules(tmp_path, 63)], backend="durable", check_examples=False)
    assert sum(f.rule_id.startswith("SCOPED-") for f in fits.evaluate(claim).findings) == 63
    too_many = _scoped_rules(tmp_path, 64)
    with pytest.raises(RulesetError, match="up to 65 tests can pass for one payer_scope fact"):
        Engine(["core", too_many], backend="durable", check_examples=False)
    monkeypatch.setattr(durable.network, "check_limits", lambda *args: None)
    unchecked = Engine(["core", too_many], backend="durable", check_examples=False)
    with pytest.raises(BackendError, match="303"):
        unchecked.evaluate(claim)
    assert unchecked.backend.live_sessions == 0
