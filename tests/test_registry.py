"""The plugin registry: functions belong to an Engine's build; entry points; listing; reload of
a function; a function raising during an example is reported where the example is written."""

from __future__ import annotations

import io
import pickle
import sys
import textwrap
import threading

import pytest

import registry_plugin
from hcpcs_rules import Engine, RulesetError, evaluate_many, functions
from hcpcs_rules.cli import main
from hcpcs_rules.registry import FunctionTable, build_functions, installed_rulesets
from hcpcs_rules.testing import available_backends
from hcpcs_rules.testing.rulesets import HEADER, rule

# Fires on the base claim (240 units, note ending in "!"); its near miss bills 100 units.
FLAG_RULE = HEADER + rule("line.units > 100 and note_flag(line.note)")


@pytest.fixture
def flag_ruleset(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(FLAG_RULE)
    return path


def _claim(note: str) -> dict:
    return {
        "id": "R",
        "payer": "medicare",
        "date_of_service": "2026-03-02",
        "place_of_service": "12",
        "diagnoses": ["J45.40"],
        "supplier": {"npi": "1234567893"},
        "lines": [{"hcpcs": "J7632", "units": "240", "diagnosis_pointers": [1], "note": note}],
    }


def _fires(engine: Engine, note: str) -> bool:
    return any(f.rule_id == "MINE-RULE" for f in engine.evaluate(_claim(note)).findings)


def test_two_engines_have_different_function_sets(flag_ruleset):
    bang = Engine([flag_ruleset], functions=[registry_plugin.note_ends_in_bang])
    with pytest.raises(RulesetError, match="unknown function 'note_flag'"):
        Engine([flag_ruleset])  # the function is bang's, not the process's
    by_name = Engine(
        [flag_ruleset],
        functions=["registry_plugin:note_starts_with_z"],
        check_examples=False,  # the examples were written for the '!' function
    )
    assert _fires(bang, "hello!") and not _fires(bang, "zed")
    assert _fires(by_name, "zed") and not _fires(by_name, "hello!")
    assert "note_flag" not in functions.FUNCTIONS
    assert bang.functions["note_flag"].origin.startswith("Engine(functions=[registry_plugin:")
    assert bang.functions["npi_valid"].origin == functions.BUILTIN_ORIGIN


def test_concurrent_builds_do_not_see_each_others_functions(flag_ruleset):
    """The table in effect is per thread: two builds at once each compile with their own."""
    engines: dict[str, Engine] = {}
    errors: list[BaseException] = []

    def build(name, provider):
        try:
            for _ in range(5):
                engines[name] = Engine([flag_ruleset], functions=[provider], check_examples=False)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=build, args=("bang", registry_plugin.note_ends_in_bang)),
        threading.Thread(target=build, args=("z", registry_plugin.note_starts_with_z)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _fires(engines["bang"], "x!") and not _fires(engines["bang"], "zz")
    assert _fires(engines["z"], "zz") and not _fires(engines["z"], "x!")


def test_config_carries_providers_and_workers_rebuild_them(flag_ruleset):
    engine = Engine([flag_ruleset], functions=["registry_plugin:note_ends_in_bang"])
    assert pickle.loads(pickle.dumps(engine.config)) == engine.config
    claims = [_claim("a!"), _claim("b"), _claim("c!"), _claim("d")] * 3
    serial = [r.to_dict() for r in evaluate_many(claims, engine=engine)]
    parallel = [r.to_dict() for r in evaluate_many(claims, engine=engine, workers=2, chunksize=2)]
    assert parallel == serial
    assert [any(f["rule_id"] == "MINE-RULE" for f in r["findings"]) for r in serial[:4]] == [
        True,
        False,
        True,
        False,
    ]


def test_colliding_providers_name_both_owners(flag_ruleset):
    with pytest.raises(RulesetError) as caught:
        Engine(
            [flag_ruleset],
            functions=[registry_plugin.note_ends_in_bang, registry_plugin.note_starts_with_z],
        )
    text = str(caught.value)
    assert "'note_flag' is registered twice" in text
    assert "registry_plugin:note_ends_in_bang" in text
    assert "registry_plugin:note_starts_with_z" in text


def test_a_provider_may_replace_on_purpose(flag_ruleset):
    def replacing(table: FunctionTable) -> None:
        @table.register("note_flag", ["str"], "bool", doc="x", replace=True)
        def note_flag(note):
            return note == "exact"

    engine = Engine(
        [flag_ruleset],
        functions=[registry_plugin.note_ends_in_bang, replacing],
        check_examples=False,
    )
    assert _fires(engine, "exact") and not _fires(engine, "a!")


def test_broken_or_bad_providers_are_ruleset_errors(flag_ruleset):
    for provider, why in [
        (registry_plugin.broken, "ImportError: this provider cannot load"),
        ("registry_plugin:nothing_here", "AttributeError"),
        ("no_colon_here", "a provider path is 'module:callable'"),
        ("registry_plugin:FunctionTable.register", "cannot register functions"),
    ]:
        with pytest.raises(RulesetError, match="cannot register functions") as caught:
            Engine([flag_ruleset], functions=[provider])
        assert why in str(caught.value)


def test_process_wide_register_is_still_supported_and_can_be_replaced(flag_ruleset):
    def first(note):
        return note == "one"

    def second(note):
        return note == "two"

    try:
        functions.register("note_flag", ["str"], "bool", doc="first")(first)
        old = Engine([flag_ruleset], check_examples=False)
        with pytest.raises(ValueError, match=r"already registered .*replace=True"):
            functions.register("note_flag", ["str"], "bool", doc="second")(second)
        functions.register("note_flag", ["str"], "bool", doc="second", replace=True)(second)
        new = Engine([flag_ruleset], check_examples=False)
        assert functions.FUNCTIONS["note_flag"].origin == __name__
    finally:
        functions.unregister("note_flag")
    # An engine keeps the functions it was built with.
    assert _fires(old, "one") and not _fires(old, "two")
    assert _fires(new, "two") and not _fires(new, "one")
    with pytest.raises(ValueError, match="built-in"):
        functions.register("npi_valid", ["str"], "bool", doc="x", replace=True)(first)
    with pytest.raises(ValueError, match="built-in"):
        functions.unregister("npi_valid")


@pytest.mark.parametrize("backend", available_backends())
def test_a_function_raising_in_an_example_names_the_example_and_rule(flag_ruleset, backend):
    with pytest.raises(RulesetError) as caught:
        Engine([flag_ruleset], functions=[registry_plugin.raising], backend=backend)
    problems = [p for p in caught.value.problems if p.rule_id == "MINE-RULE"]
    assert len(problems) == 1
    problem = problems[0]
    # Reported at the example whose claim made it raise, naming the rule and where it is. The
    # python backend runs an example through its rule's closure only, so that is MINE-RULE's
    # own first example; durable runs the whole network, and core's first example gets there
    # first.
    with open(problem.file, encoding="utf-8") as handle:
        assert handle.read().splitlines()[problem.line - 1] == "[[rule.example]]"
    rule_line = FLAG_RULE.splitlines().index("[[rule]]") + 1
    assert f"rule MINE-RULE ({flag_ruleset}:{rule_line}) raised ValueError" in problem.message
    assert "the plugin function failed on purpose while running example " in problem.message
    assert "note_flag (from Engine(functions=[registry_plugin:raising]))" in problem.message
    assert f"{problem.file}:{problem.line} [MINE-RULE]" in str(caught.value)
    if backend == "python":
        example_line = FLAG_RULE.splitlines().index("[[rule.example]]") + 1
        assert (problem.file, problem.line) == (str(flag_ruleset), example_line)
        assert "while running example 'fires' of MINE-RULE" in problem.message


# ---------------------------------------------------------------------- entry points


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A distribution 'acme-rules' installed on sys.path: a ruleset and its functions through
    entry points, and a second ruleset whose functions entry point is broken."""
    site = tmp_path / "site"
    package = site / "acme_rules"
    package.mkdir(parents=True)
    (package / "acme.toml").write_text(FLAG_RULE.replace('name = "mine"', 'name = "acme"'))
    (package / "other.toml").write_text(
        HEADER.replace('name = "mine"', 'name = "other"')
        + rule("line.units > 100", id='"OTHER-RULE"')
    )
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            def acme():
                return Path(__file__).with_name("acme.toml")

            def other():
                return Path(__file__).with_name("other.toml")

            def acme_functions(table):
                @table.register("note_flag", ["str"], "bool", doc="acme: note ends in '!'")
                def note_flag(note):
                    return note is not None and note.endswith("!")

            def other_functions(table):
                raise RuntimeError("other's functions are broken")
            """
        )
    )
    info = site / "acme_rules-2.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 2.1\n")
    (info / "entry_points.txt").write_text(
        "[hcpcs_rules.rulesets]\nacme = acme_rules:acme\nother = acme_rules:other\n\n"
        "[hcpcs_rules.functions]\nacme = acme_rules:acme_functions\n"
        "other = acme_rules:other_functions\n"
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("acme_rules", None)


def test_entry_point_functions_load_with_their_ruleset_only(installed_plugin):
    engine = Engine(["acme"])
    assert engine.rulesets == ("core@1.2.0", "acme@0.1.0")
    assert engine.functions["note_flag"].origin == (
        "acme-rules 2.1 (entry point acme = acme_rules:acme_functions)"
    )
    assert _fires(engine, "x!") and not _fires(engine, "x")
    # 'other' has broken functions: only engines selecting it fail, naming the entry point.
    assert "note_flag" not in Engine(["core"]).functions
    with pytest.raises(RulesetError) as caught:
        Engine(["other"])
    assert "<entry point hcpcs_rules.functions: other = acme_rules:other_functions>" in str(
        caught.value
    )
    assert "RuntimeError: other's functions are broken" in str(caught.value)


def test_a_ruleset_requiring_a_plugin_gets_its_functions(installed_plugin, tmp_path):
    child = tmp_path / "child.toml"
    child.write_text(
        HEADER.replace('name = "mine"', 'name = "child"').replace(
            'requires = ["core"]', 'requires = ["acme"]'
        )
        + rule("line.units > 200 and note_flag(line.note)", id='"CHILD-RULE"')
    )
    assert "note_flag" in Engine([child]).functions


def test_listing_rulesets_and_functions(installed_plugin):
    infos = {i.name: i for i in installed_rulesets()}
    assert infos["acme"].version == "0.1.0"
    assert infos["acme"].distribution == "acme-rules 2.1"
    assert infos["acme"].entry_point == "acme = acme_rules:acme"
    assert infos["acme"].functions == ("acme = acme_rules:acme_functions",)
    assert infos["core"].version == "1.2.0" and infos["core"].problem is None
    table = build_functions(["acme"])
    assert table["note_flag"].doc == "acme: note ends in '!'"

    out, err = io.StringIO(), io.StringIO()
    assert main(["rulesets"], out=out, err=err) == 0
    text = out.getvalue()
    assert "acme 0.1.0  (acme-rules 2.1; entry point acme = acme_rules:acme)" in text
    assert "functions: entry point acme = acme_rules:acme_functions" in text
    assert "core 1.2.0" in text and "j7632 1.2.0" in text

    out = io.StringIO()
    assert main(["functions", "--ruleset", "acme"], out=out, err=err) == 0
    assert (
        "note_flag(str) -> bool: acme: note ends in '!' "
        "[acme-rules 2.1 (entry point acme = acme_rules:acme_functions)]" in out.getvalue()
    )
    assert "npi_valid(str) -> bool" in out.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert main(["functions"], out=out, err=err) == 2  # every installed: other's are broken
    assert "other's functions are broken" in err.getvalue()


def test_rulesets_lists_a_broken_plugin_with_its_problem(installed_plugin):
    (installed_plugin / "acme_rules" / "other.toml").unlink()
    out = io.StringIO()
    assert main(["rulesets"], out=out, err=io.StringIO()) == 2
    assert "BROKEN: FileNotFoundError" in out.getvalue()
    assert "acme 0.1.0" in out.getvalue()  # the others are still listed


@pytest.mark.parametrize("backend", available_backends())
def test_plugin_functions_run_identically_on_every_backend(installed_plugin, backend):
    engine = Engine(["acme"], backend=backend)
    assert [_fires(engine, note) for note in ("a!", "b", "!")] == [True, False, True]


def test_a_provider_cannot_replace_a_built_in(flag_ruleset):
    def evil(table: FunctionTable) -> None:
        @table.register("npi_valid", ["str"], "bool", doc="x", replace=True)
        def npi_valid(npi):
            return True

    with pytest.raises(RulesetError, match="'npi_valid' is a built-in and cannot be replaced"):
        Engine([flag_ruleset], functions=[evil], check_examples=False)


def test_a_new_version_given_by_path_gets_its_plugins_functions(installed_plugin, tmp_path):
    # How a vendor tests a quarterly update (hcpcs-rules test/diff with a path): the file is
    # named like the installed ruleset, whose functions entry point it needs.
    next_version = tmp_path / "acme-next.toml"
    next_version.write_text((installed_plugin / "acme_rules" / "acme.toml").read_text())
    engine = Engine([next_version])
    assert "note_flag" in engine.functions and _fires(engine, "x!")
