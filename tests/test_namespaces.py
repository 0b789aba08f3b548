"""Rulesets side by side: requires enforced, collisions named, overlays checked, library
versions stated, and the library's own engines unaffected by whatever else is installed.

Plugins here are real installed distributions: a ``*.dist-info`` with an ``entry_points.txt`` on
a temporary ``sys.path`` entry, found by ``importlib.metadata`` exactly as pip-installed ones are.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import hcpcs_rules
from hcpcs_rules import Engine, RulesetError
from hcpcs_rules.compile import compile_files
from hcpcs_rules.load import Installed, read_ruleset, running_version
from hcpcs_rules.testing.claimgen import claims

SHIPPED = ["core", "j7632"]
J7632_FILE = str(Installed().path("j7632"))
CORE_FILE = str(Installed().path("core"))


def _line(file: str, fragment: str) -> int:
    lines = Path(file).read_text(encoding="utf-8").split("\n")
    return next(i for i, text in enumerate(lines, start=1) if fragment in text)


def ruleset(tmp_path: Path, name: str, body: str, header: str = "") -> Path:
    """A ruleset file ``name.toml``: a header (name, version, then ``header``) and ``body``."""
    path = tmp_path / f"{name}.toml"
    text = f'[ruleset]\nname = "{name}"\nversion = "1.0"\n{textwrap.dedent(header)}'
    path.write_text(text + textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install(name, target)`` (names here start ``nstest_``, so as not to meet a real plugin):
    an installed distribution whose entry point registers the
    ruleset ``name``; ``target`` is the ruleset's path, or an exception the entry point's module
    raises when it is imported (a broken plugin)."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(name: str, target: Path | BaseException) -> None:
        module = f"hcpcs_ns_test_{name}"
        dist = site / f"hcpcs_ns_test_{name}-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: hcpcs-ns-test-{name}\nVersion: 1.0\n"
        )
        (dist / "entry_points.txt").write_text(f"[hcpcs_rules.rulesets]\n{name} = {module}:path\n")
        if isinstance(target, BaseException):
            code = f"raise {type(target).__name__}({str(target)!r})\n"
        else:
            code = f"def path():\n    return {str(target)!r}\n"
        (site / f"{module}.py").write_text(code)

    return make


def problems(selection) -> list[str]:
    with pytest.raises(RulesetError) as info:
        compile_files(selection)
    return [str(p) for p in info.value.problems]


# A plugin rule reading j7632's derived `units` fact.
READS_UNITS = """
[[rule]]
id = "PLUG-UNITS"
title = "Reads j7632's units"
severity = "info"
message = "units {units.expected_units}"
source = "test"
when = "units.expected_units > 2"
"""


# -- requires is enforced -------------------------------------------------------------------------


def test_reading_a_loaded_rulesets_fact_without_requiring_it_names_the_owner(tmp_path):
    plug = ruleset(tmp_path, "plug", READS_UNITS, 'requires = ["core"]\n')
    (problem,) = problems([*SHIPPED, plug])
    derive_line = _line(J7632_FILE, 'derive = "units"')
    assert problem.startswith(f"{plug}:{_line(str(plug), 'when =')}")  # the key that reads it
    assert "[PLUG-UNITS]" in problem
    assert (
        "reads the fact 'units' of ruleset 'j7632'"
        f" (J7632-DERIVE-UNITS, {J7632_FILE}:{derive_line}), which 'plug' does not require:"
        ' add requires = ["core", "j7632"]'
    ) in problem


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('when = "exists(units)"\nseverity = "info"\nmessage = "m"', "when ="),
        ('severity = "info"\nmessage = "{units.expected_units} units"', "message ="),
        ('derive = "mine"\n[rule.fields]\nx = "units.expected_units + 1"', "x ="),
    ],
    ids=["exists", "message", "field"],
)
def test_every_way_of_reading_a_fact_is_checked(tmp_path, body, key):
    rule = f'[[rule]]\nid = "PLUG-R"\ntitle = "t"\nsource = "s"\n{body}\n'
    plug = ruleset(tmp_path, "plug", rule, 'requires = ["core"]\n')
    (problem,) = problems([*SHIPPED, plug])
    assert "reads the fact 'units' of ruleset 'j7632'" in problem
    line = _line(str(plug), key)
    if key == "x =":
        line = _line(str(plug), "[rule.fields]")  # a field is reported at its table
    assert problem.startswith(f"{plug}:{line} [PLUG-R]")


def test_reading_an_unloaded_rulesets_fact_names_the_installed_owner(tmp_path):
    """Same mistake, j7632 not selected: the name is unknown to this build, and the error still
    says whose fact it is and what to require."""
    plug = ruleset(tmp_path, "plug", READS_UNITS, 'requires = ["core"]\n')
    found = problems(["core", plug])
    assert len(found) == 2  # the condition and the message
    assert all("unknown fact 'units'" in p for p in found)
    assert all("is a fact of the installed ruleset j7632 (" in p for p in found)
    assert all("add 'j7632' to this ruleset's requires" in p for p in found)


def test_naming_the_unloaded_owner_passes_over_a_broken_plugin(tmp_path, install):
    install("nstest_broken", ImportError("this plugin cannot import"))
    plug = ruleset(tmp_path, "plug", READS_UNITS, 'requires = ["core"]\n')
    found = problems(["core", plug])
    assert len(found) == 2 and all("installed ruleset j7632 (" in p for p in found)
    assert not any("broken" in p for p in found)


def test_requiring_the_owner_builds_and_requires_is_transitive(tmp_path):
    ruleset(tmp_path, "plug", READS_UNITS, 'requires = ["j7632"]\n')
    # `upper` requires only plug; it reads j7632's units and core's payer_scope (its scope)
    # through plug's requirements.
    upper = ruleset(
        tmp_path,
        "upper",
        READS_UNITS.replace("PLUG-UNITS", "UPPER-UNITS") + 'scope = ["medicare"]\n',
        'requires = ["plug"]\n',
    )
    program = compile_files([tmp_path / "plug.toml", *SHIPPED, upper])
    assert [r.name for r in program.rulesets] == ["core", "j7632", "plug", "upper"]
    assert program.rule("UPPER-UNITS").reads == ("payer_scope", "units")


def test_scope_without_requiring_core_is_refused_even_when_core_is_loaded(tmp_path):
    plug = ruleset(
        tmp_path,
        "plug",
        """
        [[rule]]
        id = "PLUG-MCR"
        title = "Medicare only"
        scope = ["medicare"]
        severity = { medicare = "deny", default = "warn" }
        message = "m"
        source = "test"
        """,
    )
    (problem,) = problems(["core", plug])
    assert f"{plug}:{_line(str(plug), 'scope =')}" in problem
    assert "reads the fact 'payer_scope' of ruleset 'core'" in problem
    assert 'add requires = ["core"]' in problem


def test_a_required_ruleset_that_is_not_installed_is_named(tmp_path):
    plug = ruleset(tmp_path, "plug", READS_UNITS, 'requires = ["core", "j7362"]\n')
    found = problems(["core", plug])
    # at the requires line (the header is lines 1-3, then requires)
    assert any(
        p.startswith(f"{plug}:4: requires ruleset 'j7362', which is not installed (nor given")
        for p in found
    )


def test_a_ruleset_cannot_require_itself(tmp_path):
    plug = ruleset(tmp_path, "plug", READS_UNITS, 'requires = ["plug"]\n')
    assert any("ruleset 'plug' requires itself" in p for p in problems([plug]))


# -- collisions name both owners -------------------------------------------------------------------


def test_re_deriving_a_fact_names_both_owners_and_blames_the_newcomer(tmp_path):
    plug = ruleset(
        tmp_path,
        "plug",
        """
        [[rule]]
        id = "PLUG-DERIVE-UNITS"
        title = "J7631 units"
        codes = ["J7631"]
        derive = "units"
        source = "test"
        [rule.fields]
        expected_units = "line.units"
        """,
        'requires = ["j7632"]\n',
    )
    # Listed first, loaded after what it requires: the plugin is the newcomer either way.
    (problem,) = problems([plug, *SHIPPED])
    assert problem.startswith(f"{plug}:{_line(str(plug), 'derive =')} [PLUG-DERIVE-UNITS]")
    first = _line(J7632_FILE, 'derive = "units"')
    assert (
        "fact 'units' is already derived by J7632-DERIVE-UNITS (ruleset 'j7632',"
        f" {J7632_FILE}:{first}); each fact has one rule: derive it under another name"
        " (e.g. 'plug_units'), or add 'j7632' to requires and read that ruleset's fact"
    ) in problem


def test_a_duplicate_rule_id_blames_the_plugin_and_points_at_the_first(tmp_path):
    plug = ruleset(
        tmp_path,
        "plug",
        READS_UNITS.replace("PLUG-UNITS", "J7632-UNITS-MISMATCH"),
        'requires = ["j7632"]\n',
    )
    (problem,) = problems([plug, *SHIPPED])
    first = _line(J7632_FILE, 'id = "J7632-UNITS-MISMATCH"') - 1  # the [[rule]] line
    assert problem.startswith(f"{plug}:{_line(str(plug), '[[rule]]')} [J7632-UNITS-MISMATCH]")
    assert f"already defined at {J7632_FILE}:{first} (ruleset 'j7632')" in problem


def test_constants_and_example_claims_are_per_file(tmp_path):
    """The same constant and claim names in two rulesets do not meet: each file sees its own."""
    body = """
    [constants]
    ndc_units = 3
    [claims.clean]
    id = "X"
    payer = "aetna"
    supplier = { npi = "1234567893" }
    lines = [{ hcpcs = "J7631", units = "5" }]
    [[rule]]
    id = "PLUG-MANY"
    title = "Many units"
    severity = "info"
    message = "many"
    source = "test"
    when = "line.units > ndc_units"
    [[rule.example]]
    base = "clean"
    fires = true
    """
    plug = ruleset(tmp_path, "plug", body, 'requires = ["core"]\n')
    program = compile_files(["core", plug])  # core has a list constant ndc_units too
    assert program.rule("PLUG-MANY").examples[0].claim["id"] == "X"


# -- overlays ------------------------------------------------------------------------------------


def _scoped(scope: str, severity: str = '"warn"', effective: str = "") -> str:
    return f"""
    [[rule]]
    id = "PLUG-SCOPED"
    title = "Scoped"
    scope = {scope}
    severity = {severity}
    message = "m"
    source = "test"
    {effective}
    """


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_scoped('["medicre"]'), "scope: unknown overlay 'medicre' (did you mean 'medicare'?)"),
        (
            _scoped('["aetna", "humana"]', '{ humnaa = "deny", default = "warn" }'),
            "severity: unknown overlay 'humnaa' (did you mean 'humana'?)",
        ),
        (
            _scoped('["all"]', effective="effective = { medicre = { from = 2020-01-01 } }"),
            "effective: unknown overlay 'medicre' (did you mean 'medicare'?)",
        ),
    ],
    ids=["scope", "severity", "effective"],
)
def test_an_unknown_overlay_is_refused_with_did_you_mean(tmp_path, body, expected):
    plug = ruleset(tmp_path, "plug", body, 'requires = ["core"]\npayers = ["humana"]\n')
    (problem,) = problems(["core", plug])
    assert expected in problem and "[PLUG-SCOPED]" in problem


def test_an_overlay_without_requiring_core_is_one_problem_not_two(tmp_path):
    plug = ruleset(tmp_path, "plug", _scoped('["aetna"]', '{ aetna = "deny", default = "warn" }'))
    found = problems(["core", plug])
    assert all("unknown overlay" not in p for p in found)
    assert found and all('add requires = ["core"]' in p for p in found)


def test_declared_payers_are_overlays_for_their_ruleset_and_those_requiring_it(tmp_path):
    ruleset(tmp_path, "payer", "", 'requires = ["core"]\npayers = ["humana"]\n')
    user = ruleset(tmp_path, "user", _scoped('["humana", "commercial"]'), 'requires = ["payer"]\n')
    program = compile_files([tmp_path / "payer.toml", user])
    assert program.rule("PLUG-SCOPED").scope == ("humana", "commercial")
    assert program.payers == {"medicare", "aetna", "bcbs", "cigna", "uhc", "humana"}
    assert program.overlays == program.payers | {"medicare_advantage", "commercial"}
    # A payer another ruleset declares is not this one's to use unless it requires that one.
    other = ruleset(tmp_path, "other", _scoped('["humana"]'), 'requires = ["core"]\n')
    (problem,) = problems([tmp_path / "payer.toml", other])
    assert "unknown overlay 'humana'" in problem


def test_the_shipped_rulesets_know_their_payers():
    program = compile_files(SHIPPED)
    assert program.payers == {"medicare", "aetna", "bcbs", "cigna", "uhc"}
    scoped = {o for r in program.rules for o in r.scope} - {"all"}
    assert scoped <= program.overlays


@pytest.mark.parametrize("payer", ["commercial", "medicare_advantage", "all", "default"])
def test_a_payer_may_not_take_a_reserved_name(tmp_path, payer):
    plug = ruleset(tmp_path, "plug", "", f'payers = ["{payer}"]\n')
    (problem,) = problems([plug])
    assert f"payers: {payer!r} is " in problem and "not a payer id" in problem


# -- the library version a ruleset needs ---------------------------------------------------------


def test_a_ruleset_needing_a_newer_library_says_both_versions(tmp_path):
    plug = ruleset(tmp_path, "plug", READS_UNITS, 'requires = ["j7632"]\nhcpcs_rules = ">=999"\n')
    (problem,) = problems([plug])  # stops there: nothing else is reported
    assert f"needs hcpcs_rules >=999, but hcpcs_rules {hcpcs_rules.__version__} is installed" in (
        problem
    )
    assert running_version() == hcpcs_rules.__version__


def test_a_version_specifier_is_checked(tmp_path):
    bad = ruleset(tmp_path, "plug", "", 'hcpcs_rules = "version two\\u001b[31m"\n')
    (problem,) = problems([bad])
    assert "hcpcs_rules = 'version two\\x1b[31m' is not a version specifier" in problem
    long = ruleset(tmp_path, "long", "", f'hcpcs_rules = "{">=1," * 100}"\n')
    (problem,) = problems([long])
    assert "a specifier of 400 characters; at most 200" in problem
    wrong = ruleset(tmp_path, "wrong", "", "hcpcs_rules = 2\n")
    (problem,) = problems([wrong])
    assert 'hcpcs_rules must be a version specifier string, e.g. hcpcs_rules = ">=0.2"' in problem
    ok = ruleset(tmp_path, "fine", "", f'hcpcs_rules = ">={hcpcs_rules.__version__},<999"\n')
    assert [r.name for r in compile_files([ok]).rulesets] == ["fine"]


# -- the library's engines and whatever else is installed ----------------------------------------

EVERY_LINE = """
[claims.one]
id = "P"
payer = "aetna"
supplier = { npi = "1234567893" }
lines = [{ hcpcs = "J7632", units = "1" }]

[[rule]]
id = "NOISY-EVERY-LINE"
title = "Every line"
severity = "reject"
message = "line {line.number} seen"
source = "test"
when = "line.hcpcs != 'A0000'"
[[rule.example]]
base = "one"
fires = true
[[rule.example]]
name = "near miss"
base = "one"
set = { "line[1].hcpcs" = "A0000" }
fires = false
"""


def test_installed_plugins_do_not_change_the_shipped_engines(tmp_path, install):
    stream = claims(60, seed=5)

    def outcomes(engine):
        out = []
        for data in stream:
            try:
                out.append(engine.evaluate(data).to_dict())
            except hcpcs_rules.ClaimError as exc:
                out.append(exc.errors)
        return out

    before = outcomes(Engine(SHIPPED, backend="python"))
    install("nstest_noisy", ruleset(tmp_path, "nstest_noisy", EVERY_LINE, 'requires = ["core"]\n'))
    install("nstest_broken", ImportError("this plugin cannot import"))
    assert {"nstest_noisy", "nstest_broken"} <= set(Installed().names())
    engine = Engine(SHIPPED, backend="python")
    assert engine.rulesets == ("core@1.2.0", "j7632@1.2.0")
    assert outcomes(engine) == before
    # The noisy plugin is real: selected, it fires on every line.
    noisy = Engine(["nstest_noisy"], backend="python")
    assert noisy.evaluate(stream[0]).status == "reject"
    # Every installed ruleset, the broken one included, is a clear error naming it.
    with pytest.raises(RulesetError, match="nstest_broken = hcpcs_ns_test_nstest_broken:path"):
        Engine(backend="python")


def test_the_suites_shared_engines_select_the_shipped_rulesets(engines):
    assert engines("python").rulesets == ("core@1.2.0", "j7632@1.2.0")


def test_the_version_is_checked_before_what_a_newer_library_may_add(tmp_path):
    """A ruleset for a newer library may hold tables and keys this one does not know: its user
    hears only that the library is too old, at the hcpcs_rules line."""
    plug = ruleset(
        tmp_path,
        "plug",
        "[widgets.crosswalk]\nx = 1\n[[rule]]\nid = 7\n",
        'hcpcs_rules = ">=999"\nnew_key = 1\n',
    )
    with pytest.raises(RulesetError) as info:
        read_ruleset(plug)
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == (str(plug), 4)
    assert problem.message.startswith("this ruleset needs hcpcs_rules >=999, but hcpcs_rules ")
    # Satisfied, the same file is refused for what this library does not know.
    plug.write_text(plug.read_text().replace(">=999", ">=0.1"))
    with pytest.raises(RulesetError, match="unknown top-level table 'widgets'"):
        read_ruleset(plug)
