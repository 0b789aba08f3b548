"""Code generation by stage: golden ``dump ir`` / ``dump backend`` text, and the emitter's output.

The golden files under ``tests/golden/`` hold, for each small ruleset written below, the IR the
compiler produces and the Python the python backend generates from it. A change to either shows
up as a diff in review, next to the change that caused it. When the change is intended,
regenerate them and commit the result::

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_codegen.py

The direct tests below pin the cases where the generated text is the semantics: missing values,
``in`` with constants, exact arithmetic, constant folding, and the function registry's emission
hooks (``prepare``, ``inline``).
"""

from __future__ import annotations

import linecache
import os
import textwrap
import warnings
from decimal import Decimal
from pathlib import Path

import pytest

from hcpcs_rules import Engine, functions, ir
from hcpcs_rules.backends.durable.translate import translate
from hcpcs_rules.codegen import _Emitter, compile_rule

GOLDEN = Path(__file__).parent / "golden"
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))

# Declares the two facts with a fixed meaning (ir.SCOPE_FACT, ir.SERVICE_FACT) itself, so the
# golden text holds this file's rules only. Covers codes (one, several), scope, effective dates,
# per-payer severity, arithmetic, matches (prepared pattern) and coalesce (inline).
SCOPED = """
[ruleset]
name = "scoped"
version = "1.0.0"

[[rule]]
id = "SCOPED-PAYER"
title = "Payer overlay"
on = "claim"
derive = "payer_scope"
source = "test"
[rule.fields]
overlay = "claim.payer"
program = "'medicare' if claim.payer == 'medicare' else 'commercial'"

[[rule]]
id = "SCOPED-SERVICE"
title = "Service date and place"
derive = "service"
source = "test"
[rule.fields]
date = "coalesce(line.date_of_service, claim.date_of_service)"
place = "coalesce(line.place_of_service, claim.place_of_service)"

[[rule]]
id = "SCOPED-UNITS-HIGH"
title = "Units over the limit"
codes = ["J7632"]
severity = { medicare = "deny", default = "warn" }
when = "line.units * 2 + 1 > 100 and not blank(line.ndc)"
message = "Billed {line.units} units ({line.units * 2} doses)."
source = "test"

[[rule]]
id = "SCOPED-NDC-PATTERN"
title = "NDC not 11 digits"
codes = ["J7632", "J7633"]
scope = ["medicare"]
effective = { from = 2020-01-01 }
severity = "reject"
when = "line.ndc != None and not matches(line.ndc, '[0-9]{11}')"
message = "NDC {line.ndc} is not 11 digits."
source = "test"
"""

# Derived facts per line and per claim, joins, exists / not exists, a conditional, `in` with a
# constant set, the roots that may be missing (patient, ordering_provider), nested records and
# a coalesce whose first argument is not simple (called, not inlined).
JOINS = """
[ruleset]
name = "joins"
version = "1.0.0"

[constants]
home = ["12", "01"]

[[rule]]
id = "JOINS-DOSE"
title = "Milligrams dispensed"
codes = ["J7632"]
when = "line.dispensed.quantity != None"
derive = "dose"
source = "test"
[rule.fields]
mg = "dispensed_mg(line.dispensed)"
amount = "coalesce(line.dispensed.quantity, line.units)"

[[rule]]
id = "JOINS-HAS-DOSE"
title = "Some line has a dose"
when = "exists(dose)"
derive = "has_dose"
per = "claim"
source = "test"

[[rule]]
id = "JOINS-DOSE-LARGE"
title = "Large dose at home"
severity = "warn"
when = "dose.mg > 1000 and line.place_of_service in home"
message = "{dose.mg} mg is {'over' if dose.mg > 2000 else 'near'} the limit."
source = "test"

[[rule]]
id = "JOINS-NO-DOSE"
title = "No line has a dose"
on = "claim"
severity = "info"
when = "not exists(has_dose) and (patient.inpatient_stay or ordering_provider.npi == None)"
message = "No dose on claim {claim.id}."
source = "test"
"""

CASES = {"scoped": SCOPED, "joins": JOINS}


def _engine(tmp_path: Path, name: str) -> Engine:
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(CASES[name]), encoding="utf-8")
    return Engine([path], backend="python", check_examples=False)


@pytest.mark.parametrize("what", ["ir", "backend"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_dump_matches_golden(tmp_path, name, what):
    engine = _engine(tmp_path, name)
    try:
        # The IR names the file it came from: the temporary directory is not part of the answer.
        text = engine.dump(what).replace(str(tmp_path) + os.sep, "") + "\n"
    finally:
        engine.close()
    golden = GOLDEN / f"{name}.{'ir.json' if what == 'ir' else 'python.py.txt'}"
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no {golden.name}: run with UPDATE_GOLDEN=1 to create it"
    assert text == golden.read_text(encoding="utf-8")


def test_python_backend_generates_only_run(tmp_path):
    # The driver calls each rule's run and nothing else; run computes message and fields inline.
    engine = _engine(tmp_path, "joins")
    for compiled in engine.backend._compiled:
        assert compiled.run is not None
        assert (compiled.match, compiled.message, compiled.derive) == (None, None, None)
        assert "def match" not in compiled.source and "def message" not in compiled.source


# ------------------------------------------------------------------------- the emitter itself

FACTS = {
    "dose": ir.DerivedFact("dose", "line", (("mg", "decimal"),), "R", "t"),
    "flag": ir.DerivedFact("flag", "claim", (), "R", "t"),
}


def emit(node: ir.Expr) -> tuple[str, _Emitter]:
    emitter = _Emitter(FACTS)
    return emitter.expr(node), emitter


UNITS = ir.Path("line", ("units",), "decimal")
QUANTITY = ir.Path("line", ("dispensed", "quantity"), "decimal")


def test_missing_operands_make_a_comparison_false():
    code, _ = emit(ir.Compare(">", UNITS, ir.Const(100, "int")))
    assert code == "(line.units is not None and line.units > 100)"
    # A guarded path is not cheap to read twice: it goes through a temporary.
    code, _ = emit(ir.Compare("<", QUANTITY, UNITS))
    assert code == (
        "((_t1 := (None if line.dispensed is None else line.dispensed.quantity)) is not None"
        " and line.units is not None and _t1 < line.units)"
    )


def test_paths_guard_every_record_that_may_be_missing():
    code, emitter = emit(ir.Path("line", ("dispensed", "unit"), "str"))
    assert code == "(None if line.dispensed is None else line.dispensed.unit)"
    code, emitter = emit(ir.Path("patient", ("inpatient_stay",), "bool"))
    assert code == "(None if patient is None else patient.inpatient_stay)"
    assert emitter.roots == {"patient"}
    assert emit(ir.Path("line", ("number",), "int"))[0] == "n"
    code, emitter = emit(ir.Path("dose", ("mg",), "decimal", derived=True))
    assert code == "d_dose['mg']" and emitter.derived == {"dose": "line"}


def test_in_a_constant_set_needs_no_guard():
    tokens = ir.Const(("01", "12"), "set[str]")
    code, emitter = emit(ir.Compare("in", ir.Path("line", ("place_of_service",), "str"), tokens))
    assert code == "(line.place_of_service in _K0)"
    assert emitter.constants == {"_K0": frozenset({"01", "12"})}
    # ...but `in` a list read from the claim does: the list may be missing.
    code, _ = emit(
        ir.Compare("in", ir.Const("GA", "str"), ir.Path("line", ("modifiers",), "list[str]"))
    )
    assert code == "(line.modifiers is not None and 'GA' in line.modifiers)"


def test_arithmetic_goes_through_the_exact_helpers():
    node = ir.Arith(
        "+",
        ir.Arith("*", UNITS, ir.Const(Decimal("2.5"), "decimal"), "decimal"),
        ir.Const(1, "int"),
        "decimal",
    )
    code, emitter = emit(node)
    assert code == "_add(_mul(line.units, _K0), 1)"
    assert emitter.constants == {"_K0": Decimal("2.5")}
    assert emit(ir.Arith("-", UNITS, UNITS, "decimal"))[0] == "_sub(line.units, line.units)"


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("==", 0, None, "False"),
        ("!=", 0, None, "True"),
        ("==", None, None, "True"),
        ("!=", None, None, "False"),
        ("==", None, "x", "False"),
    ],
)
def test_a_presence_test_of_constants_folds(op, left, right, expected):
    node = ir.Compare(op, ir.Const(left, "any"), ir.Const(right, "any"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # `0 is None` would be a SyntaxWarning at compile time
        code, _ = emit(node)
        assert code == expected
        assert eval(compile(code, "<test>", "eval")) is (expected == "True")


def test_a_presence_test_of_a_value_is_an_is_test():
    assert emit(ir.Compare("==", UNITS, ir.Const(None, "null")))[0] == "(line.units is None)"
    assert emit(ir.Compare("!=", ir.Const(None, "null"), UNITS))[0] == ("(line.units is not None)")


def test_boolean_contexts_get_true_bools():
    flag = ir.Path("patient", ("inpatient_stay",), "bool")
    code, _ = emit(ir.BoolOp("or", (flag, ir.Exists("flag"))))
    assert code == (
        "(bool((None if patient is None else patient.inpatient_stay)) or (0 in f.derived['flag']))"
    )
    assert emit(ir.Not(ir.Exists("dose")))[0] == "(not (n in f.derived['dose']))"
    # coalesce returns "$same", which may be missing: it is no bool, unlike a "bool" function.
    both = ir.Call("coalesce", (ir.Path("line", ("ndc",), "str"), ir.Const("", "str")), "str")
    blank = ir.Call("blank", (ir.Path("line", ("ndc",), "str"),), "bool")
    code, _ = emit(ir.BoolOp("and", (both, blank)))
    # blank is written inline (a "bool" function's template): no bool() around it either.
    assert code == (
        "(bool((line.ndc if line.ndc is not None else '')) and "
        "(line.ndc is None or not line.ndc.strip()))"
    )


def test_cond():
    node = ir.Cond(
        ir.Compare("==", UNITS, ir.Const(None, "null")),
        ir.Const("none", "str"),
        ir.Const("some", "str"),
        "str",
    )
    assert emit(node)[0] == "('none' if (line.units is None) else 'some')"


def test_matches_pattern_is_prepared_once_by_its_registry_entry():
    pattern = ir.Const("[0-9]{11}", "str")
    ndc = ir.Path("line", ("ndc",), "str")
    node = ir.BoolOp("and", (ir.Call("matches", (ndc, pattern), "bool"),) * 2)
    code, emitter = emit(node)
    assert code == "(_f_matches(line.ndc, _K0) and _f_matches(line.ndc, _K0))"
    assert emitter.constants["_K0"].fullmatch("12345678901") is not None
    assert emitter.constants["_f_matches"] is functions.FUNCTIONS["matches"].impl


def test_coalesce_is_inlined_only_over_simple_arguments():
    simple = ir.Call("coalesce", (UNITS, ir.Const(0, "int")), "decimal")
    assert emit(simple)[0] == "(line.units if line.units is not None else 0)"
    code, emitter = emit(ir.Call("coalesce", (QUANTITY, UNITS), "decimal"))
    assert code == (
        "_f_coalesce((None if line.dispensed is None else line.dispensed.quantity), line.units)"
    )
    assert emitter.constants["_f_coalesce"] is functions.FUNCTIONS["coalesce"].impl


def test_the_emitter_names_no_function(monkeypatch):
    # A plugin function declares the same hooks and is emitted the same way.
    monkeypatch.setitem(functions.FUNCTIONS, "twice_or", functions.FUNCTIONS["coalesce"])
    monkeypatch.setitem(
        functions.FUNCTIONS,
        "either",
        functions.Function(
            "either",
            ("str", "str"),
            "$same",
            lambda a, b: a or b,
            "test",
            inline="({0} or {1})",
        ),
    )
    node = ir.Call("either", (ir.Path("line", ("ndc",), "str"), ir.Const("x", "str")), "str")
    assert emit(node)[0] == "(line.ndc or 'x')"
    node = ir.Call("twice_or", (UNITS, UNITS), "decimal")
    assert emit(node)[0] == "(line.units if line.units is not None else line.units)"


def test_register_checks_the_emission_hooks():
    with pytest.raises(ValueError, match="prepare needs constant_params"):
        functions.register("bad_prepare", ["str"], "bool", doc="x", prepare=str)
    for template in ("{2}", "{0.real}", "{0!r}", "{x}", "{0"):
        with pytest.raises(ValueError, match="inline template"):
            functions.register("bad_inline", ["str", "str"], "str", doc="x", inline=template)
    assert "bad_prepare" not in functions.FUNCTIONS and "bad_inline" not in functions.FUNCTIONS


def test_an_unknown_node_kind_is_a_compiler_bug():
    with pytest.raises(TypeError, match="unknown IR node"):
        emit(("not", "a node"))  # type: ignore[arg-type]


def test_generated_functions_are_only_those_asked_for(tmp_path):
    engine = _engine(tmp_path, "joins")
    rule = engine.program.rule("JOINS-DOSE-LARGE")
    guard = compile_rule(rule, engine.program, match=rule.conjuncts[:1], producers=True)
    assert guard.run is None and guard.derive is None  # the rule derives nothing
    assert guard.source.startswith("def match(f, n):\n")
    assert "def message(f, n):" in guard.source
    bare = compile_rule(rule, engine.program, producers=True)
    assert bare.match is None and "def match" not in bare.source


def test_durable_guards_exist_only_where_python_has_something_to_test(tmp_path):
    engine = _engine(tmp_path, "joins")
    _definition, plans, _needed = translate(engine.program)
    by_id = {plan.rule.id: plan for plan in plans.values()}
    # exists(dose) is a join pattern of the network: nothing is left for a Python guard.
    assert by_id["JOINS-HAS-DOSE"].guard is None
    # A decimal comparison is exact only in Python: the guard tests it (and only it).
    guard = by_id["JOINS-DOSE-LARGE"].guard
    assert guard is not None
    match = "".join(linecache.getlines(guard.__code__.co_filename)).split("def message")[0]
    # The place test is a network pattern (a small set of strings): not repeated in Python.
    assert "d_dose['mg'] > 1000" in match and "place_of_service" not in match
