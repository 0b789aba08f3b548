"""Organisation policy (select/ignore, severity overrides, payer mapping) and result provenance."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import pickle
from pathlib import Path

import attrs
import pytest

import hcpcs_rules
from conftest import BACKENDS, durable_available
from hcpcs_rules import Engine, Policy, PolicyError, evaluate_many
from hcpcs_rules.claims import parse_claim
from hcpcs_rules.cli import main
from hcpcs_rules.policy import bind, discover

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FEE = json.loads((EXAMPLES / "medicare-fee-and-nebulizer.json").read_text())
RULESETS = ["j7632"]  # explicit: other installed plugins must not change these tests


_ENGINES: dict = {}


def engine(policy=None, backend="python"):
    """An engine for this policy (a dict, path or Policy), shared within the module: engines are
    immutable, and building each once keeps these tests fast."""
    key = (json.dumps(policy, sort_keys=True, default=repr), backend)
    if key not in _ENGINES:
        _ENGINES[key] = Engine(RULESETS, backend=backend, check_examples=False, policy=policy)
    return _ENGINES[key]


@pytest.fixture(scope="module")
def plain():
    return engine()


def under(policy, claim, *, explain=False, backend="python"):
    """``claim`` evaluated under ``policy`` by the shared plain engine: the path
    ``hcpcs_rules.evaluate(claim, policy=...)`` takes, without building an engine per policy."""
    plain = engine(backend=backend)
    return plain._evaluate(claim, explain, bind(Policy.from_dict(policy), plain.program))


def example_claim(program, rule_id: str, name: str) -> dict:
    """The claim of one of a rule's own examples: a claim known to fire (or not) that rule."""
    (example,) = [e for e in program.rule(rule_id).examples if e.name == name]
    return copy.deepcopy(example.claim)


def ids(findings) -> list[str]:
    return [f.rule_id for f in findings]


# ----------------------------------------------------------------------------------- reading


def test_a_policy_file_is_read_with_every_section(tmp_path):
    path = tmp_path / "hcpcs-rules.toml"
    path.write_text(
        'select = ["J7632-*", "CLAIM-NPI-INVALID"]\n'
        'ignore = ["J7632-SUP-*"]\n'
        "[severity]\n"
        '"J7632-COM-*" = "warn"\n'
        '"J7632-MCR-KX-INVALID" = { medicare = "info", default = "warn" }\n'
        "[payers]\n"
        'humana = "commercial"\n'
        '"HUM-MA-123" = "medicare_advantage"\n'
    )
    policy = Policy.from_file(path)
    assert policy.select == ("CLAIM-NPI-INVALID", "J7632-*")  # sets, kept sorted
    assert policy.ignore == ("J7632-SUP-*",)
    assert [(s.pattern, s.overlay, s.severity) for s in policy.severity] == [
        ("J7632-COM-*", "*", "warn"),
        ("J7632-MCR-KX-INVALID", "medicare", "info"),
        ("J7632-MCR-KX-INVALID", "*", "warn"),
    ]
    assert policy.payers == (("HUM-MA-123", "medicare_advantage"), ("humana", "commercial"))
    assert policy.origin == str(path)


def test_the_pyproject_form_reads_tool_hcpcs_rules(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "x"\n\n[tool.ruff]\nline-length = 99\n\n'
        '[tool.hcpcs-rules]\nignore = ["J7632-SUP-*"]\n\n'
        '[tool.hcpcs-rules.severity]\n"J7632-COM-*" = "humnaa"\n'
    )
    with pytest.raises(PolicyError) as info:
        Policy.from_file(path)
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == (str(path), 11)
    assert "severity.J7632-COM-*: unknown severity 'humnaa'" in problem.message
    path.write_text(path.read_text().replace("humnaa", "warn"))
    assert Policy.from_file(path).ignore == ("J7632-SUP-*",)
    # Keys of [tool.hcpcs-rules] itself have their lines too; the project's own keys are not ours.
    path.write_text(path.read_text().replace('ignore = ["J7632-SUP-*"]', 'ignore = "J7632-SUP-*"'))
    with pytest.raises(PolicyError) as info:
        Policy.from_file(path)
    (problem,) = info.value.problems
    assert problem.line == 8 and problem.message.startswith("ignore: must be a list")
    (tmp_path / "other").mkdir()
    bare = tmp_path / "other" / "pyproject.toml"
    bare.write_text('[project]\nname = "x"\n')
    with pytest.raises(PolicyError, match=r"no \[tool.hcpcs-rules\] table"):
        Policy.from_file(bare)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('selct = ["X"]\n', 1, "selct: unknown key (did you mean 'select'?)"),
        ('select = "J7632-*"\n', 1, "select: must be a list of rule ids or globs, not a string"),
        ("ignore = [1]\n", 1, "ignore: 1 is not a string"),
        ('ignore = ["j7632-lower"]\n', 1, "is not a rule id or glob"),
        ('\n[severity]\n"X" = 3\n', 3, "severity.X: must be a severity or a table"),
        (
            '[severity]\nX = { medicare = "dney" }\n',
            2,
            "unknown severity 'dney' (did you mean 'deny'?)",
        ),
        ('[severity]\nX = { "Medicare" = "deny" }\n', 2, "'Medicare' is not an overlay name"),
        ("[severity]\nX = {}\n", 2, "an empty table overrides nothing"),
        ('severity = "warn"\n', 1, "severity: must be a table"),
        (
            '[payers]\nhumana = ["commercial"]\n',
            2,
            "payers.humana: must be an overlay name, not a list",
        ),
        ('[payers]\n" humana" = "commercial"\n', 2, "is not a payer id"),
        ("# x\nselect = [\n", 2, "not valid TOML"),
    ],
)
def test_reading_is_strict_with_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "hcpcs-rules.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        Policy.from_file(path)
    assert isinstance(info.value, hcpcs_rules.RulesetError | ValueError)
    (problem,) = info.value.problems
    assert problem.file == str(path)
    assert problem.line == line
    assert message in problem.message
    assert str(info.value).startswith("policy error (1 problem):")


def test_every_reading_problem_is_reported_at_once():
    with pytest.raises(PolicyError) as info:
        Policy.from_dict({"selct": [], "ignore": "X", "payers": {"a": 1, 2: "uhc"}, 3: None})
    assert len(info.value.problems) == 5


def test_what_engine_accepts_as_a_policy(tmp_path):
    with pytest.raises(TypeError, match="policy must be"):
        Engine(RULESETS, policy=42)
    with pytest.raises(PolicyError, match="cannot read the policy"):
        Engine(RULESETS, policy=tmp_path / "missing.toml")
    path = tmp_path / "hcpcs-rules.toml"
    path.write_text('ignore = ["J7632-SUP-*"]\n')
    from_path, from_dict = engine(path), engine({"ignore": ["J7632-SUP-*"]})
    assert from_path.policy == from_dict.policy == Policy(ignore=("J7632-SUP-*",))


# ------------------------------------------------------------------------------- validation


def test_policy_is_checked_against_the_rulesets_with_did_you_mean():
    with pytest.raises(PolicyError) as info:
        engine(
            {
                "select": ["J7632-MCR-KX-INVALD"],
                "ignore": ["CORE-*", "J7632-NOPE-*"],
                "severity": {"J7632-COM-*": {"humnaa": "warn", "medicre": "deny"}},
                "payers": {"humana": "medicre", "acme": "humana"},
            }
        )
    messages = [p.message for p in info.value.problems]
    assert messages == [
        "select: 'J7632-MCR-KX-INVALD' matches no rule of the rulesets in use"
        " (did you mean 'J7632-MCR-KX-INVALID'?)",
        "ignore: 'CORE-*' matches only rules that derive facts (CORE-PAYER-SCOPE, CORE-SERVICE);"
        " a policy selects, ignores and grades findings",
        "ignore: 'J7632-NOPE-*' matches no rule of the rulesets in use"
        " (did you mean 'J7632-SUP-NO-PTAN'?)",
        "severity.J7632-COM-*.humnaa: unknown overlay 'humnaa'",
        "severity.J7632-COM-*.medicre: unknown overlay 'medicre' (did you mean 'medicare'?)",
        "payers.acme: unknown overlay 'humana'; known: aetna, bcbs, cigna, commercial, medicare,"
        " medicare_advantage, uhc",
        "payers.humana: unknown overlay 'medicre' (did you mean 'medicare'?); known: aetna, bcbs,"
        " cigna, commercial, medicare, medicare_advantage, uhc",
    ]


def test_a_policy_built_directly_is_checked_too(plain):
    from hcpcs_rules.policy import SeverityOverride

    built = Policy(
        select=("j7632 lower",),
        severity=(SeverityOverride("J7632-*", "*", "humnaa"),),
        payers=(("x", "medicre"),),
    )
    with pytest.raises(PolicyError) as info:
        bind(built, plain.program)
    assert [p.message.split(":")[0] for p in info.value.problems] == [
        "select",
        "severity.J7632-*",
        "payers.x",
    ]


def test_validation_depends_on_the_rulesets_in_use():
    # J7632's rules exist only when j7632 is loaded: a core-only engine refuses the same policy.
    policy = {"ignore": ["J7632-SUP-*"]}
    engine(policy)
    with pytest.raises(PolicyError, match="matches no rule"):
        Engine(["core"], check_examples=False, policy=policy)


def test_validation_errors_point_at_the_line_of_the_file(tmp_path):
    path = tmp_path / "hcpcs-rules.toml"
    path.write_text('# org policy\n\nignore = ["J7632-SUP-NOT-ENROLED"]\n')
    with pytest.raises(PolicyError) as info:
        engine(path)
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == (str(path), 3)
    assert str(problem).startswith(f"{path}:3: ignore: 'J7632-SUP-NOT-ENROLED' matches no rule")


# ---------------------------------------------------------------------------- select/ignore


def test_ignore_drops_findings_and_says_so(plain):
    before = plain.evaluate(FEE, explain=True)
    assert "J7632-MCR-COMPOUNDED-NOT-COVERED" in ids(before.findings)
    after = under({"ignore": ["J7632-MCR-COMPOUNDED-*"]}, FEE, explain=True)
    assert "J7632-MCR-COMPOUNDED-NOT-COVERED" not in ids(after.findings)
    assert ids(after.ignored) == ["J7632-MCR-COMPOUNDED-NOT-COVERED"]
    assert after.ignored[0] in before.findings  # the finding as the rule emitted it
    # The rule still ran: the trace keeps its step, marked.
    (step,) = [s for s in after.trace if s.rule_id == "J7632-MCR-COMPOUNDED-NOT-COVERED"]
    assert step.ignored and step.finding == "deny"
    assert not any(s.ignored for s in before.trace)
    assert set(ids(after.findings)) == set(ids(before.findings)) - {
        "J7632-MCR-COMPOUNDED-NOT-COVERED"
    }


def test_status_counts_only_the_kept_findings(plain):
    before = plain.evaluate(FEE)
    assert before.status == "deny"
    denies = sorted({f.rule_id for f in before.findings if f.severity in ("deny", "reject")})
    after = under({"ignore": denies}, FEE)
    assert after.status != "deny" and all(
        f.severity not in ("deny", "reject") for f in after.findings
    )
    assert all(r.status in ("clean", "warn", "info") for r in after.lines)


def test_select_keeps_only_the_matching_rules(plain):
    before = plain.evaluate(FEE)
    after = under({"select": ["J7632-MCR-*"]}, FEE)
    assert after.findings and all(f.rule_id.startswith("J7632-MCR-") for f in after.findings)
    assert {f.rule_id for f in after.findings} | {f.rule_id for f in after.ignored} == {
        f.rule_id for f in before.findings
    }


def test_the_most_specific_pattern_decides_and_ignore_wins_ties():
    # An exact select beats a glob ignore (as ruff does) ...
    result = under(
        {"ignore": ["J7632-MCR-*"], "select": ["J7632-MCR-DISPENSING-FEE-NOT-PAYABLE", "CLAIM-*"]},
        FEE,
    )
    assert "J7632-MCR-DISPENSING-FEE-NOT-PAYABLE" in ids(result.findings)
    assert "J7632-MCR-COMPOUNDED-NOT-COVERED" in ids(result.ignored)
    # ... a longer glob beats a shorter one, and at equal specificity ignoring wins.
    longer = under({"select": ["J7632-MCR-C*"], "ignore": ["J7632-MCR-*"]}, FEE)
    assert "J7632-MCR-COMPOUNDED-NOT-COVERED" in ids(longer.findings)
    tie = under({"select": ["J7632-MCR-COMPOUNDED-*"], "ignore": ["J7632-MCR-COMPOUNDED-*"]}, FEE)
    assert "J7632-MCR-COMPOUNDED-NOT-COVERED" in ids(tie.ignored)


# ------------------------------------------------------------------------- severity overrides


def test_a_severity_override_keeps_the_rules_own_severity(plain):
    result = under({"severity": {"J7632-MCR-COMPOUNDED-NOT-COVERED": "warn"}}, FEE, explain=True)
    (finding,) = [f for f in result.findings if f.rule_id == "J7632-MCR-COMPOUNDED-NOT-COVERED"]
    assert (finding.severity, finding.rule_severity) == ("warn", "deny")
    (step,) = [s for s in result.trace if s.rule_id == finding.rule_id]
    assert step.finding == "warn"
    (as_data,) = [f for f in result.to_dict()["findings"] if f["rule_id"] == finding.rule_id]
    assert (as_data["severity"], as_data["rule_severity"]) == ("warn", "deny")
    # Findings the policy did not change say nothing of the kind.
    assert all(f.rule_severity is None for f in plain.evaluate(FEE).findings)


RULE = "J7632-COM-REPLICATES-COMMERCIAL-PRODUCT"


def severity(policy, claim):
    return [f.severity for f in under(policy, claim).findings if f.rule_id == RULE]


def test_severity_per_overlay(plain):
    bcbs = example_claim(plain.program, RULE, "BCBS: deny")
    aetna = example_claim(plain.program, RULE, "Aetna: warn")
    assert severity({}, bcbs) == ["deny"] and severity({}, aetna) == ["warn"]
    tuned = {"severity": {"J7632-COM-*": {"aetna": "info", "commercial": "reject"}}}
    # The overlay's entry first, then the program's (bcbs is a commercial overlay).
    assert severity(tuned, aetna) == ["info"]
    assert severity(tuned, bcbs) == ["reject"]
    # An overlay the table does not cover keeps the rule's severity; "default" covers the rest.
    assert severity({"severity": {RULE: {"aetna": "info"}}}, bcbs) == ["deny"]
    assert severity({"severity": {RULE: {"aetna": "info", "default": "warn"}}}, bcbs) == ["warn"]


def test_a_more_specific_pattern_overrides_a_broader_one(plain):
    aetna = example_claim(plain.program, RULE, "Aetna: warn")
    assert severity({"severity": {"J7632-*": "info", RULE: "reject"}}, aetna) == ["reject"]
    # A broader pattern's overlay entry still applies where the specific one is silent.
    mixed = {"severity": {"J7632-*": {"aetna": "info"}, RULE: {"bcbs": "warn"}}}
    assert severity(mixed, aetna) == ["info"]


# ---------------------------------------------------------------------------- payer mapping


@pytest.mark.parametrize("backend", BACKENDS)
def test_payer_mapping_to_a_commercial_overlay(plain, backend):
    rule = "J7632-COM-REPLICATES-COMMERCIAL-PRODUCT"
    claim = example_claim(plain.program, rule, "Aetna: warn")
    claim["payer"] = "acme-ppo-42"
    snapshot = copy.deepcopy(claim)
    with pytest.raises(hcpcs_rules.ClaimError, match="unknown payer 'acme-ppo-42'"):
        engine(backend=backend).evaluate(claim)  # no overlay, and no mapping, knows it
    mapped_engine = engine({"payers": {"acme-ppo-42": "bcbs"}}, backend=backend)
    mapped = mapped_engine.evaluate(claim)
    (finding,) = [f for f in mapped.findings if f.rule_id == rule]
    assert (finding.severity, finding.payer) == ("deny", "bcbs")
    assert mapped.provenance.payer_mapping == ("acme-ppo-42", "bcbs")
    # The Result names the payer id the claim sent and the overlay the rules applied.
    assert (mapped.payer, mapped.overlay) == ("acme-ppo-42", "bcbs")
    assert claim == snapshot  # the caller's claim is untouched
    typed = parse_claim(claim)
    assert mapped_engine.evaluate(typed) == mapped and typed.payer == "acme-ppo-42"
    # Mapped, the claim gets exactly what the overlay's own claim gets.
    by_hand = engine(backend=backend).evaluate({**claim, "payer": "bcbs"})
    assert mapped.findings == by_hand.findings and mapped.status == by_hand.status


@pytest.mark.parametrize("backend", BACKENDS)
def test_payer_mapping_to_medicare_advantage_and_to_commercial(plain, backend):
    claim = copy.deepcopy(FEE)
    claim["payer"] = "humana"
    ma_rules = {r.id for r in plain.program.rules if "medicare_advantage" in r.scope}
    commercial = under({"payers": {"humana": "commercial"}}, claim, backend=backend)
    assert not ma_rules & set(ids(commercial.findings))
    mapped = under({"payers": {"humana": "medicare_advantage"}}, claim, backend=backend)
    fired = ma_rules & set(ids(mapped.findings))
    assert fired  # Medicare Advantage rules now apply
    assert (mapped.payer, mapped.overlay) == ("humana", "medicare_advantage")
    # By hand: an engine told that humana is a payer, given the claim as Medicare Advantage.
    knows_humana = Engine(RULESETS, backend=backend, check_examples=False, payers=["humana"])
    by_hand = knows_humana.evaluate({**claim, "line_of_business": "medicare_advantage"})
    assert mapped.findings == by_hand.findings
    # And back: a payer sent as MA can be evaluated as plain commercial.
    ma_claim = {**claim, "line_of_business": "medicare_advantage"}
    back = under({"payers": {"humana": "commercial"}}, ma_claim, backend=backend)
    assert not ma_rules & set(ids(back.findings))
    assert back.provenance.payer_mapping == ("humana", "commercial")


@pytest.mark.skipif(not durable_available(), reason="durable-rules does not import on this Python")
def test_both_backends_apply_a_policy_identically():
    policy = {
        "ignore": ["J7632-MCR-EQUIPMENT-*"],
        "severity": {"J7632-MCR-*": {"medicare": "warn"}, "CLAIM-*": "info"},
        "payers": {"humana": "medicare_advantage"},
    }
    engines = [engine(policy, backend=b) for b in ("python", "durable")]
    for claim in (FEE, {**FEE, "payer": "humana"}):
        a, b = (e.evaluate(claim, explain=True) for e in engines)
        # The backends fire in different (valid) orders: the trace is compared as a set, as
        # tests/test_differential.py does.
        assert attrs.evolve(a, trace=()) == attrs.evolve(b, trace=())
        assert {attrs.evolve(s, step=0) for s in a.trace} == {
            attrs.evolve(s, step=0) for s in b.trace
        }
        assert any(s.ignored for s in a.trace) or claim is not FEE


# ------------------------------------------------------------------------------- provenance


def test_provenance_hashes_each_ruleset_file(plain):
    digests = plain.digests
    assert [(d.name, d.version) for d in digests] == [("core", "1.2.0"), ("j7632", "1.2.0")]
    for digest, info in zip(digests, plain.program.rulesets, strict=True):
        expected = hashlib.sha256(Path(info.file).read_bytes()).hexdigest()
        assert digest.sha256 == f"sha256:{expected}"
    result = plain.evaluate(FEE)
    assert result.rulesets == ("core@1.2.0", "j7632@1.2.0")  # unchanged contract
    assert result.provenance.rulesets == digests
    assert result.provenance.policy is None and result.provenance.payer_mapping is None
    data = result.to_dict()
    assert data["provenance"]["rulesets"][1]["sha256"] == digests[1].sha256
    assert data["provenance"]["policy"] is None and data["ignored"] == []


def test_a_changed_ruleset_file_changes_its_hash(tmp_path, plain):
    core = Path(plain.program.rulesets[0].file)
    copy_ = tmp_path / "core.toml"
    copy_.write_bytes(core.read_bytes())
    same = Engine([copy_], check_examples=False).digests[0].sha256
    copy_.write_bytes(core.read_bytes() + b"\n# a comment is a change of content\n")
    changed = Engine([copy_], check_examples=False).digests[0].sha256
    assert same == plain.digests[0].sha256 and changed != same


def test_the_policy_hash_is_of_its_content_not_its_form(tmp_path):
    a = Policy.from_dict(
        {"ignore": ["J7632-SUP-*", "J7632-POS-*"], "payers": {"b": "uhc", "a": "aetna"}}
    )
    path = tmp_path / "hcpcs-rules.toml"
    path.write_text(
        "# the same content in another order\n"
        'ignore = ["J7632-POS-*", "J7632-SUP-*"]\n[payers]\na = "aetna"\nb = "uhc"\n'
    )
    b = Policy.from_file(path)
    assert a.digest == b.digest and a == b and a.origin != b.origin
    assert Policy.from_dict({"ignore": ["J7632-SUP-*"]}).digest != a.digest
    result = engine(a).evaluate(FEE)
    assert result.provenance.policy == a.digest
    assert result.provenance.policy.startswith("sha256:") and len(result.provenance.policy) == 71


def test_examples_are_checked_without_the_policy():
    # A policy ignoring or regrading everything must not make the rulesets' own examples fail.
    e = Engine(
        RULESETS,
        policy={"ignore": ["J7632-*"], "severity": {"CLAIM-*": "info"}, "payers": {"uhc": "aetna"}},
    )
    assert e.policy is not None


def test_module_evaluate_takes_a_policy_explicitly(tmp_path, monkeypatch):
    # A policy file in the working directory is never read by the library.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hcpcs-rules.toml").write_text('ignore = ["J7632-MCR-*"]\n')
    plain = hcpcs_rules.evaluate(FEE)
    assert any(f.rule_id.startswith("J7632-MCR-") for f in plain.findings)
    assert plain.provenance.policy is None
    tuned = hcpcs_rules.evaluate(FEE, policy=tmp_path / "hcpcs-rules.toml")
    assert not any(f.rule_id.startswith("J7632-MCR-") for f in tuned.findings)
    assert tuned.provenance.policy == Policy(ignore=("J7632-MCR-*",)).digest


def test_a_policy_reaches_worker_processes():
    # Workers rebuild the engine from its config (test_check_workers_honour_the_policy runs
    # them): the policy must be in it, picklable, and rebuild the same engine.
    e = engine({"ignore": ["J7632-MCR-COMPOUNDED-*"], "severity": {"CLAIM-*": "info"}})
    assert e.config.policy == e.policy
    config = pickle.loads(pickle.dumps(e.config))
    assert config == e.config and hash(config) == hash(e.config)
    rebuilt = config.build(check_examples=False)
    assert list(evaluate_many([FEE], engine=rebuilt)) == [e.evaluate(FEE)]


def test_bind_is_reusable_and_shares_nothing_between_claims(plain):
    bound = bind(Policy(ignore=("J7632-MCR-*",)), plain.program)
    first = plain._evaluate(FEE, False, bound)
    second = plain._evaluate({**FEE, "payer": "aetna"}, False, bound)
    assert first.ignored and not any(f.rule_id.startswith("J7632-MCR") for f in second.ignored)


# ---------------------------------------------------------------------------------------- CLI


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err, stdin=io.StringIO(""))
    return code, out.getvalue(), err.getvalue()


FEE_PATH = str(EXAMPLES / "medicare-fee-and-nebulizer.json")
CHECK = ["check", "--ruleset", "j7632", "--format", "json", FEE_PATH]


def cli_result(argv) -> dict:
    code, out, err = run(argv)
    assert code in (0, 1), err
    (line,) = out.splitlines()
    return json.loads(line)


def test_discover_prefers_hcpcs_rules_toml_and_skips_a_pyproject_without_the_table(tmp_path):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert discover(deep) is None or not str(discover(deep)).startswith(str(tmp_path))
    (tmp_path / "pyproject.toml").write_text('[tool.hcpcs-rules]\nignore = ["J7632-SUP-*"]\n')
    (tmp_path / "a" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert discover(deep) == tmp_path / "pyproject.toml"
    (tmp_path / "a" / "hcpcs-rules.toml").write_text("")
    assert discover(deep) == tmp_path / "a" / "hcpcs-rules.toml"
    (tmp_path / "a" / "b" / "pyproject.toml").write_text("[tool.hcpcs-rules]\n")
    assert discover(deep) == deep / "pyproject.toml"


def test_check_discovers_the_policy_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.hcpcs-rules]\nignore = ["J7632-MCR-COMPOUNDED-*"]\n'
    )
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    found = cli_result(CHECK)
    assert [f["rule_id"] for f in found["ignored"]] == ["J7632-MCR-COMPOUNDED-NOT-COVERED"]
    assert found["provenance"]["policy"] == Policy(ignore=("J7632-MCR-COMPOUNDED-*",)).digest
    # hcpcs-rules.toml in the same folder comes first.
    (tmp_path / "hcpcs-rules.toml").write_text('[severity]\n"J7632-MCR-*" = "info"\n')
    first = cli_result(CHECK)
    assert first["ignored"] == [] and all(
        f["severity"] == "info" for f in first["findings"] if f["rule_id"].startswith("J7632-MCR")
    )
    # --no-config: the rulesets as written.
    none = cli_result([*CHECK, "--no-config"])
    assert none["provenance"]["policy"] is None and none["status"] == "deny"


def test_check_config_select_and_ignore(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    policy = tmp_path / "org.toml"
    policy.write_text('select = ["J7632-MCR-*"]\nignore = ["J7632-MCR-EQUIPMENT-*"]\n')
    from_file = cli_result([*CHECK, "--config", str(policy)])
    kept = {f["rule_id"] for f in from_file["findings"]}
    assert kept and all(r.startswith("J7632-MCR-") for r in kept)
    assert "J7632-MCR-EQUIPMENT-NOT-COVERED" not in kept
    # --select replaces the file's select; --ignore adds to its ignore (comma-separated, repeatable).
    combined = cli_result(
        [
            *CHECK,
            "--config",
            str(policy),
            "--select",
            "J7632-MCR-*,CLAIM-*",
            "--ignore",
            "J7632-MCR-COMPOUNDED-*",
            "--ignore",
            "J7632-MCR-DISPENSING-FEE-NOT-PAYABLE",
        ]
    )
    ignored = {f["rule_id"] for f in combined["ignored"]}
    assert {"J7632-MCR-EQUIPMENT-NOT-COVERED", "J7632-MCR-COMPOUNDED-NOT-COVERED"} <= ignored
    assert "J7632-MCR-DISPENSING-FEE-NOT-PAYABLE" in ignored
    expected = Policy(
        select=("CLAIM-*", "J7632-MCR-*"),
        ignore=(
            "J7632-MCR-EQUIPMENT-*",
            "J7632-MCR-COMPOUNDED-*",
            "J7632-MCR-DISPENSING-FEE-NOT-PAYABLE",
        ),
    )
    assert combined["provenance"]["policy"] == expected.digest
    # Without any file, the flags alone are the policy.
    alone = cli_result([*CHECK, "--ignore", "J7632-MCR-COMPOUNDED-*"])
    assert alone["provenance"]["policy"] == Policy(ignore=("J7632-MCR-COMPOUNDED-*",)).digest


def test_check_text_output_shows_overrides_and_ignored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hcpcs-rules.toml").write_text(
        'ignore = ["J7632-MCR-COMPOUNDED-*"]\n[severity]\n"J7632-MCR-DISPENSING-*" = "warn"\n'
    )
    code, out, _ = run(["check", "--ruleset", "j7632", "--explain", FEE_PATH])
    assert code == 0  # nothing reaches reject any more
    assert "J7632-MCR-DISPENSING-FEE-NOT-PAYABLE  warn (rule: deny)" in out
    assert "ignored by the policy: J7632-MCR-COMPOUNDED-NOT-COVERED" in out
    assert "[deny, ignored by the policy]" in out


@pytest.mark.parametrize(
    ("files", "argv", "message"),
    [
        ({"hcpcs-rules.toml": 'ignore = ["J7632-NOPE"]\n'}, [], "hcpcs-rules.toml:1: ignore:"),
        ({}, ["--select", "j7632-lower"], "--select: 'j7632-lower' is not a rule id or glob"),
        ({}, ["--config", "missing.toml"], "cannot read the policy"),
        (
            {"hcpcs-rules.toml": 'ignore = ["J7632-SUP-*"]\n'},
            ["--ignore", "J7632-NOPE"],
            "<command line>: --ignore: 'J7632-NOPE' matches no rule",
        ),
        (
            {"p.toml": "[payers]\nx = 'medicre'\n"},
            ["--config", "p.toml"],
            "did you mean 'medicare'",
        ),
    ],
)
def test_a_bad_policy_exits_2_with_a_located_message(tmp_path, monkeypatch, files, argv, message):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code, out, err = run(["check", "--ruleset", "j7632", *argv, FEE_PATH])
    assert code == 2 and out == ""
    assert message in err and err.startswith("hcpcs-rules: policy error")


def test_config_and_no_config_exclude_each_other(capsys):
    code, _, _ = run(["check", "--config", "x.toml", "--no-config", FEE_PATH])
    assert code == 2
    assert "--no-config: not allowed with argument --config" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [2])
def test_check_workers_honour_the_policy(tmp_path, monkeypatch, workers):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hcpcs-rules.toml").write_text('ignore = ["J7632-MCR-COMPOUNDED-*"]\n')
    claims = tmp_path / "claims.jsonl"
    claims.write_text("\n".join(json.dumps({**FEE, "id": f"C{i}"}) for i in range(4)) + "\n")
    argv = ["check", "--ruleset", "j7632", "--format", "json", str(claims)]
    code_1, serial, _ = run(argv)
    code_n, parallel, _ = run([*argv, "--workers", str(workers)])
    assert (code_n, parallel) == (code_1, serial)
    assert all(json.loads(line)["ignored"] for line in parallel.splitlines())


def test_a_policy_engine_is_shared_by_threads_without_mixing():
    from concurrent.futures import ThreadPoolExecutor

    e = engine({"ignore": ["J7632-MCR-COMPOUNDED-*"], "payers": {"humana": "medicare_advantage"}})
    inputs = [{**FEE, "id": f"C{i}", "payer": "humana" if i % 2 else "medicare"} for i in range(64)]
    expected = [e.evaluate(c) for c in inputs]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(e.evaluate, inputs))
    assert got == expected
    assert {r.provenance.payer_mapping for r in got} == {None, ("humana", "medicare_advantage")}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_payer_mapped_to_commercial_keeps_its_own_enrollments(backend):
    # The payer id stays the claim's: its supplier enrollment is recorded under it.
    claim = json.loads((Path(__file__).parents[1] / "examples" / "aetna-clean.json").read_text())
    claim["payer"] = "humana"
    for enrollment in claim["supplier"]["enrollments"]:
        if enrollment["payer"] == "aetna":
            enrollment["payer"] = "humana"
    mapped = under({"payers": {"humana": "commercial"}}, claim, backend=backend)
    knows_humana = Engine(RULESETS, backend=backend, check_examples=False, payers=["humana"])
    assert mapped.findings == knows_humana.evaluate(claim).findings
    assert "J7632-SUP-NOT-ENROLLED" not in ids(mapped.findings)
    assert mapped.provenance.payer_mapping == ("humana", "commercial")
