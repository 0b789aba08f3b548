"""Hostile claims: each case of issue 8's "Claims" list, the limits, typed claims, closed engines.

The contract under test: ``evaluate(claim)`` returns a ``Result`` or raises ``ClaimError`` whose
every problem has a JSON path starting with ``$``; nothing else, on either backend, and no
durable session left behind. Costs are measured by ``benchmarks/hostile_claims.py``, never
asserted here as times; where a case is about cost, the test proves the expensive work is not
done (items never read, hints never computed) instead.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings

from conftest import BACKENDS
from hcpcs_rules import Claim, ClaimError, Engine, EngineClosed, Limits, Result, parse_claim
from hcpcs_rules.testing.strategies import (
    UNICODE_DIGITS,
    BrokenMapping,
    LookalikeStr,
    RaisingDecimal,
    RaisingDict,
    RaisingInt,
    RaisingList,
    RaisingStr,
    disguised_claims,
    hostile_claims,
    nested,
)
from test_claims import GOOD

J7632_LINE = {
    "hcpcs": "J7632",
    "modifiers": ["KO", "GA"],
    "units": "240",
    "dispensed": {"quantity": "2400", "unit": "mg"},
    "order": {"dose_mg": "20", "times_per_day": 4},
    "days_supply": 30,
    "diagnosis_pointers": [1],
}


def good() -> dict:
    return copy.deepcopy(GOOD)


def problems_of(data, engine: Engine | None = None, **kwargs) -> list[tuple[str, str]]:
    with pytest.raises(ClaimError) as info:
        if engine is None:
            parse_claim(data, **kwargs)
        else:
            engine.evaluate(data)
    errors = list(info.value.errors)
    assert errors and all(path.startswith("$") and message for path, message in errors), errors
    return errors


def outcome(engine: Engine, data) -> object:
    """What the contract allows: a Result (as data) or a ClaimError (its problems)."""
    try:
        result = engine.evaluate(data)
    except ClaimError as exc:
        assert exc.errors and all(path.startswith("$") for path, _ in exc.errors)
        return ("ClaimError", exc.errors)
    finally:
        if engine.backend_name == "durable":
            assert engine.backend.live_sessions == 0
    assert isinstance(result, Result)
    return result.to_dict()


# ------------------------------------------------------------------------- mixed-type keys


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({1: "x", "zz": "y"}, [("$[1]", "key is not a string"), ("$.zz", "unknown key")]),
        ({None: "x", "zz": "y"}, [("$[None]", "key is not a string"), ("$.zz", "unknown key")]),
        ({(1, "a"): "x", "id2": "y"}, [("$[[...]]", "key is not a string"), ("$.id2", "unknown")]),
        ({frozenset({1}): "x"}, [("$[<frozenset>]", "key is not a string: a set")]),
        ({10**5000: "x"}, [("$[an integer of about 5,000 digits]", "key is not a string")]),
    ],
)
def test_mixed_type_keys_at_claim_level_are_claim_errors(engines, backend, extra, expected):
    errors = problems_of(good() | extra, engines(backend))
    assert [(p, m[: len(f)]) for (p, m), (_, f) in zip(errors, expected, strict=True)] == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_type_keys_at_line_level_are_claim_errors(engines, backend):
    claim = good()
    claim["lines"][0] |= {1: "x", None: "y", (2,): "z", "zz": "w"}
    claim["supplier"][2.5] = "v"
    paths = [p for p, _ in problems_of(claim, engines(backend))]
    assert paths == [
        "$.supplier[2.5]",
        "$.lines[0][1]",
        "$.lines[0][None]",
        "$.lines[0][[...]]",
        "$.lines[0].zz",
    ]


def test_a_str_subclass_key_that_spells_a_known_key_twice_is_a_duplicate():
    claim = good()
    claim[LookalikeStr("payer")] = "aetna"  # a dict can hold it next to "payer"
    assert problems_of(claim) == [("$.payer", "duplicate key")]


def test_a_str_subclass_key_alone_is_read_as_the_plain_key():
    claim = good()
    claim[LookalikeStr("payer")] = claim.pop("payer")
    assert parse_claim(claim).payer == "medicare"


# ------------------------------------------------------------------ trailing zeros and sizes


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("field", "path"),
    [
        (("units",), "$.lines[0].units"),
        (("dispensed", "quantity"), "$.lines[0].dispensed.quantity"),
        (("order", "dose_mg"), "$.lines[0].order.dose_mg"),
    ],
)
def test_seventy_trailing_zeros_are_refused_before_any_arithmetic(engines, backend, field, path):
    claim = good() | {"lines": [copy.deepcopy(J7632_LINE)]}
    target = claim["lines"][0]
    for step in field[:-1]:
        target = target[step]
    target[field[-1]] = "240." + "0" * 70
    assert problems_of(claim, engines(backend)) == [
        (path, "too long for a number: 74 characters (at most 40; Limits.max_number_length)")
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_trailing_zeros_within_the_length_cap_are_dropped_and_the_claim_evaluates(engines, backend):
    """The product of three padded quantities once exceeded 60 digits (RuleExecutionError)."""
    padded = "0" * 30
    line = copy.deepcopy(J7632_LINE) | {"units": "240." + padded}
    line["dispensed"]["quantity"] = "2400." + padded[:-2]
    line["order"]["dose_mg"] = "20." + padded
    plain = engines(backend).evaluate(good() | {"lines": [J7632_LINE]})
    result = engines(backend).evaluate(good() | {"lines": [line]})
    assert result == plain
    assert str(result.lines[0].billed_units) == "240"
    assert result.to_dict()["lines"][0]["billed_units"] == "240"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fifty_megabyte_number_is_too_long_and_not_echoed(engines, backend):
    claim = good()
    claim["lines"][0]["units"] = "250." + "0" * 50_000_000
    ((path, message),) = problems_of(claim, engines(backend))
    assert path == "$.lines[0].units"
    assert message.startswith("too long for a number: 50,000,004 characters")
    assert len(message) < 200


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fifty_megabyte_number_of_digits_is_refused_the_same_way(engines, backend):
    claim = good()
    claim["lines"][0]["charge"] = "9" * 50_000_000
    ((_, message),) = problems_of(claim, engines(backend))
    assert "Limits.max_number_length" in message and len(message) < 200


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.00000000", Decimal(0)),
        ("1.00000000", Decimal(1)),
        ("-0.000", Decimal(0)),
        ("2.50", Decimal("2.5")),
        ("2400", Decimal(2400)),
        (" 0012.340 ", Decimal("12.34")),
        ("999999999999.999999", Decimal("999999999999.999999")),
    ],
)
def test_trailing_fractional_zeros_do_not_count_as_decimal_places(text, value):
    claim = good()
    claim["lines"][0]["charge"] = text
    charge = parse_claim(claim).lines[0].charge
    assert charge == value and type(charge) is Decimal
    assert charge.as_tuple().exponent >= -6  # stored without the padding


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("text", "printed"), [("0.00000000", "0"), ("1.00000000", "1")])
def test_padded_zero_and_one_units_evaluate_as_zero_and_one(engines, backend, text, printed):
    """ "0.00000000" was refused as too precise while "1.00000000" was accepted."""
    claim = good()
    claim["lines"][0]["units"] = text
    result = engines(backend).evaluate(claim)
    assert result.to_dict()["lines"][0]["billed_units"] == printed
    plain = good()
    plain["lines"][0]["units"] = printed
    assert result == engines(backend).evaluate(plain)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("0.0000001", "too precise"),
        ("1.0000001", "too precise"),
        ("1000000000000", "out of range"),
        ("-1000000000000.5", "out of range"),
        (10**12, "out of range"),
        (Decimal("1E+12"), "out of range"),
        (Decimal("1." + "0" * 5000 + "1"), "too precise"),
        (Decimal("NaN"), "not a decimal number"),
        (Decimal("-Infinity"), "not a decimal number"),
    ],
)
def test_decimal_bounds_name_their_limit(value, fragment):
    claim = good()
    claim["lines"][0]["charge"] = value
    ((path, message),) = problems_of(claim)
    assert path == "$.lines[0].charge" and fragment in message
    if fragment != "not a decimal number":
        assert "Limits.max_" in message


@pytest.mark.parametrize("script", sorted(UNICODE_DIGITS))
@pytest.mark.parametrize(
    ("keys", "text"),
    [
        (("lines", 0, "units"), "240"),
        (("lines", 0, "dispensed", "quantity"), "2400"),
        (("lines", 0, "days_supply"), None),
        (("date_of_service",), "2026-03-02"),
        (("supplier", "enrollments", 0, "effective"), "2019-01-01"),
    ],
)
def test_digits_of_other_scripts_are_refused(script, keys, text):
    claim = good()
    target = claim
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = (text or "30").translate(UNICODE_DIGITS[script])
    ((path, _),) = problems_of(claim)
    assert path == "$." + ".".join(k if isinstance(k, str) else f"[{k}]" for k in keys).replace(
        ".[", "["
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("script", sorted(UNICODE_DIGITS))
def test_units_in_other_scripts_digits_are_refused_on_both_backends(engines, backend, script):
    claim = good()
    units = "240".translate(UNICODE_DIGITS[script])  # Arabic-Indic, full-width, Devanagari
    claim["lines"][0]["units"] = units
    assert problems_of(claim, engines(backend)) == [
        ("$.lines[0].units", f"not a decimal number: {units!r}")
    ]


# ---------------------------------------------------------------------------------- lines


@pytest.mark.parametrize("backend", BACKENDS)
def test_fifty_lines_evaluate_and_fifty_one_are_refused(engines, backend):
    engine = engines(backend)
    result = engine.evaluate(good() | {"lines": [J7632_LINE] * 50})
    assert len(result.lines) == 50
    assert problems_of(good() | {"lines": [J7632_LINE] * 51}, engine) == [
        ("$.lines", "too many items: 51 (at most 50 lines per claim; Limits.max_lines)")
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("count", [16_000, 100_000])
def test_sixteen_and_a_hundred_thousand_valid_lines_are_refused(engines, backend, count):
    """Durable took 15.7 s for 16,000 lines (its cost grows faster than the lines)."""
    assert problems_of(good() | {"lines": [J7632_LINE] * count}, engines(backend)) == [
        ("$.lines", f"too many items: {count:,} (at most 50 lines per claim; Limits.max_lines)")
    ]


def test_a_hundred_thousand_lines_are_refused_without_reading_one():
    """Had any line been read, each would report its own problem: there is exactly one."""
    unreadable = RaisingDict({"hcpcs": "J7632"})
    assert problems_of(good() | {"lines": [unreadable] * 100_000}) == [
        ("$.lines", "too many items: 100,000 (at most 50 lines per claim; Limits.max_lines)")
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hundred_thousand_invalid_lines_are_one_problem(engines, backend):
    claim = good() | {"lines": [{"hcpcs": 1, "bad": True}] * 100_000}
    assert [p for p, _ in problems_of(claim, engines(backend))] == ["$.lines"]


def test_every_list_has_a_bound_named_in_its_message():
    cases = [
        ({"diagnoses": ["J45.40"] * 13}, "$.diagnoses", "at most 12 diagnoses per claim"),
        (
            {"lines": [dict(GOOD["lines"][0], diagnosis_pointers=[1] * 5)]},
            "$.lines[0].diagnosis_pointers",
            "Limits.max_diagnosis_pointers",
        ),
        (
            {"lines": [dict(GOOD["lines"][0], modifiers=["KO"] * 101)]},
            "$.lines[0].modifiers",
            "at most 100 items per list; Limits.max_list_items",
        ),
        (
            {"supplier": dict(GOOD["supplier"], enrollments=[{}] * 101)},
            "$.supplier.enrollments",
            "Limits.max_list_items",
        ),
    ]
    for change, path, fragment in cases:
        ((where, message),) = problems_of(good() | change)
        assert where == path and fragment in message, (where, message)


@pytest.mark.parametrize("backend", BACKENDS)
def test_five_modifiers_stay_a_finding_not_an_input_error(engines, backend):
    """The modifier slots are a rule (CLAIM-MODIFIERS-TOO-MANY); only absurd sizes are refused."""
    line = dict(J7632_LINE, modifiers=["KO", "GA", "JW", "59", "76"])
    result = engines(backend).evaluate(good() | {"lines": [line]})
    assert "CLAIM-MODIFIERS-TOO-MANY" in {f.rule_id for f in result.findings}


def test_a_string_over_the_limit_is_refused_with_its_length_only():
    claim = good()
    claim["lines"][0]["note"] = "word " * 2001
    ((path, message),) = problems_of(claim)
    assert path == "$.lines[0].note"
    assert message == "too long: 10,005 characters (at most 10,000; Limits.max_string_length)"


def test_an_object_with_too_many_keys_is_refused_before_its_keys_are_read():
    claim = good()
    claim["patient"] = {f"k{i}": i for i in range(101)}
    assert problems_of(claim) == [
        ("$.patient", "too many keys: 101 (at most 100 per object; Limits.max_list_items)")
    ]


def test_input_nested_far_below_the_shape_is_never_descended():
    claim = good()
    claim["lines"][0]["modifiers"] = nested(100_000)
    claim["supplier"]["unknown"] = nested(100_000)
    assert problems_of(claim) == [
        ("$.supplier.unknown", "unknown key"),
        ("$.lines[0].modifiers[0]", "not a string: [...] is a list"),
    ]


# ---------------------------------------------------------------------- long unknown keys


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fifty_megabyte_unknown_key_is_truncated_and_gets_no_hint(engines, backend, monkeypatch):
    import difflib

    def no_hints(*args, **kwargs):
        raise AssertionError("did-you-mean ran over a huge key")

    engine = engines(backend)
    claim = good()
    claim["lines"][0]["u" * 50_000_000] = 1
    monkeypatch.setattr(difflib, "get_close_matches", no_hints)
    ((path, message),) = problems_of(claim, engine)
    assert path == '$.lines[0]["' + "u" * 40 + '"...]'
    assert message == "unknown key (50,000,000 characters)"


def test_odd_keys_are_quoted_and_escaped_in_paths():
    claim = good() | {"\x1b[2J": 1, "a.b": 2, "": 3}
    assert [p for p, _ in problems_of(claim)] == ['$["\\u001b[2J"]', '$["a.b"]', '$[""]']


def test_short_typos_still_get_a_hint():
    claim = good()
    claim["lines"][0]["unitz"] = "1"
    assert ("$.lines[0].unitz", "unknown key (did you mean 'units'?)") in problems_of(claim)


# -------------------------------------------------------------------- every problem at once


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_supplier_and_no_lines_are_both_reported(engines, backend):
    claim = {"id": "C", "payer": "aetna", "supplier": {}, "lines": []}
    assert problems_of(claim, engines(backend)) == [
        ("$.supplier.npi", "required key is missing"),
        ("$.lines", "a claim needs at least one line"),
    ]


# ----------------------------------------------------------------------------- subclasses


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_str_subclass_with_a_raising_hash_as_the_code_evaluates_like_the_plain_code(
    engines, backend
):
    engine = engines(backend)
    hostile = good()
    hostile["lines"][0]["hcpcs"] = RaisingStr("J7632")
    hostile["payer"] = RaisingStr("medicare")
    assert outcome(engine, hostile) == outcome(engine, good())
    claim = parse_claim(hostile)
    assert type(claim.lines[0].hcpcs) is str and type(claim.payer) is str


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_int_subclass_with_a_raising_gt_evaluates_like_the_plain_int(engines, backend):
    engine = engines(backend)
    hostile = good()
    hostile["lines"][0]["days_supply"] = RaisingInt(30)
    hostile["lines"][0]["order"]["times_per_day"] = RaisingInt(4)
    hostile["lines"][0]["diagnosis_pointers"] = [RaisingInt(1)]
    hostile["lines"][0]["units"] = RaisingInt(240)
    plain = good()
    plain["lines"][0]["units"] = 240
    assert outcome(engine, hostile) == outcome(engine, plain)
    line = parse_claim(hostile).lines[0]
    assert type(line.days_supply) is int and type(line.diagnosis_pointers[0]) is int
    assert type(line.units) is Decimal


def test_decimal_and_date_subclasses_become_exact_types():
    from hcpcs_rules.testing.strategies import LyingDate

    claim = good()
    claim["lines"][0]["units"] = RaisingDecimal("240.00")
    claim["date_of_service"] = LyingDate(2026, 3, 2)
    typed = parse_claim(claim)
    assert type(typed.lines[0].units) is Decimal and typed.lines[0].units == 240
    assert type(typed.date_of_service) is dt.date
    assert typed.date_of_service == dt.date(2026, 3, 2)  # the real date, not what toordinal says


def test_container_subclasses_and_mappings_that_raise_are_problems_at_their_path():
    claim = good()
    claim["supplier"] = RaisingDict(GOOD["supplier"])
    claim["lines"][0]["modifiers"] = RaisingList(["KO"])
    claim["patient"] = BrokenMapping(endless=False)
    claim["ordering_provider"] = BrokenMapping(endless=True)
    typed_problems = problems_of(claim)
    assert typed_problems == [
        ("$.patient", "could not be read as an object (KeyError: 'BrokenMapping')"),
        (
            "$.ordering_provider",
            "too many keys (more than 100 per object; Limits.max_list_items)",
        ),
    ]
    # The dict and list subclasses were read through dict/list's own methods, not theirs.
    del claim["patient"], claim["ordering_provider"]
    typed = parse_claim(claim)
    assert typed.lines[0].modifiers == ("KO",) and typed.supplier.npi == "1234567893"


@pytest.mark.parametrize(
    "data", [b"{}", bytearray(b"{}"), {1, 2}, iter([]), object(), BrokenMapping(endless=False)]
)
def test_a_claim_that_is_not_an_object_is_one_problem_at_the_root(data):
    assert [p for p, _ in problems_of(data)] == ["$"]


# ---------------------------------------------------------------------------- typed claims


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_typed_claim_without_lines_is_a_claim_error(engines, backend):
    typed = parse_claim(GOOD)
    assert problems_of(attrs.evolve(typed, lines=()), engines(backend)) == [
        ("$.lines", "a claim needs at least one line")
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_quantities_in_a_typed_claim_are_claim_errors(engines, backend):
    typed = parse_claim(GOOD)
    line = attrs.evolve(typed.lines[0], units=240.0)
    dispensed = attrs.evolve(typed.lines[0].dispensed, quantity=2400.0)
    bad = attrs.evolve(typed, lines=(attrs.evolve(line, dispensed=dispensed),))
    assert [p for p, _ in problems_of(bad, engines(backend))] == [
        "$.lines[0].units",
        "$.lines[0].dispensed.quantity",
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_typed_claim_built_by_hand_is_checked_and_evaluates_like_its_data(engines, backend):
    typed = parse_claim(GOOD)
    by_hand = attrs.evolve(typed)  # equal, but not built by parse_claim
    assert by_hand == typed and by_hand is not typed
    assert outcome(engines(backend), by_hand) == outcome(engines(backend), GOOD)
    assert parse_claim(by_hand) is not by_hand  # read like data...
    assert parse_claim(by_hand) == by_hand  # ...into the same claim


def test_a_claim_parse_claim_built_is_returned_unchanged():
    typed = parse_claim(GOOD)
    assert parse_claim(typed) is typed


def test_a_trusted_claim_is_checked_again_under_other_limits():
    typed = parse_claim(good() | {"lines": GOOD["lines"] * 3})
    assert parse_claim(typed) is typed
    assert problems_of(typed, limits=Limits(max_lines=2)) == [
        ("$.lines", "too many items: 3 (at most 2 lines per claim; Limits.max_lines)")
    ]


def test_trust_is_by_identity_and_is_forgotten_with_the_claim():
    import gc

    from hcpcs_rules import claims

    gc.collect()  # claims of earlier tests that only a collection frees
    before = len(claims._trusted)
    kept = [parse_claim(GOOD) for _ in range(100)]
    assert len(claims._trusted) == before + 100
    del kept
    gc.collect()
    assert len(claims._trusted) == before


def test_a_claim_subclass_whose_equality_raises_is_read_like_data():
    @attrs.frozen(eq=False)
    class HostileClaim(Claim):
        def __eq__(self, other):
            raise RuntimeError("HostileClaim.__eq__")

        def __hash__(self):
            raise RuntimeError("HostileClaim.__hash__")

    typed = parse_claim(GOOD)
    hostile = HostileClaim(**{a.name: getattr(typed, a.name) for a in attrs.fields(Claim)})
    parsed = parse_claim(hostile)
    assert type(parsed) is Claim and parsed == typed


# -------------------------------------------------------------------------------- limits


def test_limits_can_be_raised_and_lowered_per_engine(engines):
    engine = Engine(["core"], limits=Limits(max_lines=2, max_string_length=5))
    assert engine.limits == Limits(max_lines=2, max_string_length=5)
    small = {"id": "C-1", "payer": "aetna", "supplier": {"npi": "1234567893"}}
    claim = small | {"lines": [{"hcpcs": "J7632", "units": "1"}] * 3}
    assert problems_of(claim, engine) == [
        ("$.supplier.npi", "too long: 10 characters (at most 5; Limits.max_string_length)"),
        ("$.lines", "too many items: 3 (at most 2 lines per claim; Limits.max_lines)"),
    ]
    wide = Engine(["core"], limits=Limits(max_lines=60))
    assert len(wide.evaluate(good() | {"lines": GOOD["lines"] * 60}).lines) == 60
    assert engines("python", ("core",)).limits == Limits()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_lines": 0},
        {"max_lines": True},
        {"max_lines": 2.0},
        {"max_decimal_places": -1},
        # Over the ceilings the rule compiler's digit bound relies on.
        {"max_integer_digits": 13},
        {"max_decimal_places": 7},
        {"max_count": 1_000_001},
    ],
)
def test_limits_refuse_values_that_cannot_work(kwargs):
    with pytest.raises(ValueError, match="Limits"):
        Limits(**kwargs)


def test_limits_are_a_frozen_value_with_documented_defaults():
    limits = Limits()
    assert (limits.max_lines, limits.max_diagnoses, limits.max_diagnosis_pointers) == (50, 12, 4)
    assert (limits.max_decimal_places, limits.max_integer_digits) == (6, 12)
    assert limits.max_count == 1_000_000
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        limits.max_lines = 100  # type: ignore[misc]
    with pytest.raises(TypeError):
        parse_claim(GOOD, limits={"max_lines": 100})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Engine(["core"], limits={"max_lines": 100}, check_examples=False)  # type: ignore[arg-type]


def test_an_engine_with_strict_limits_still_builds_with_the_bundled_examples():
    """Examples are written against the default limits; strict limits apply to claims only."""
    engine = Engine(["core"], limits=Limits(max_lines=1))
    assert problems_of(good() | {"lines": GOOD["lines"] * 2}, engine)[0][0] == "$.lines"


# --------------------------------------------------------------------------- closed engines


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_closed_engine_raises_engine_closed_on_both_backends(backend):
    engine = Engine(["core"], backend=backend, check_examples=False)
    assert isinstance(engine.evaluate(GOOD), Result)
    engine.close()
    engine.close()  # idempotent
    with pytest.raises(EngineClosed, match="closed"):
        engine.evaluate(GOOD)
    with pytest.raises(EngineClosed):
        engine.evaluate({"not": "a claim"})  # closed wins over the claim's own problems
    assert isinstance(EngineClosed("x"), RuntimeError)


@pytest.mark.parametrize("backend", BACKENDS)
def test_evaluations_racing_close_give_results_or_engine_closed_only(backend):
    """Whatever the interleaving, no evaluation reaches durable's C engine after close."""
    for _round in range(5):
        engine = Engine(["core"], backend=backend, check_examples=False)
        expected = engine.evaluate(GOOD).status
        seen: list[object] = []
        start = threading.Barrier(5)

        def worker(engine=engine, seen=seen, start=start):
            start.wait()
            for _ in range(40):
                try:
                    seen.append(engine.evaluate(GOOD).status)
                except EngineClosed:
                    seen.append("closed")
                except Exception as exc:  # anything else is the bug under test
                    seen.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        start.wait()
        engine.close()
        for thread in threads:
            thread.join()
        assert all(isinstance(s, str) for s in seen), [s for s in seen if not isinstance(s, str)]
        assert set(seen) <= {expected, "closed"}
        with pytest.raises(EngineClosed):
            engine.evaluate(GOOD)
        if backend == "durable":
            assert engine.backend.live_sessions == 0


def test_closing_the_durable_engine_directly_on_the_backend_is_guarded_too():
    pytest.importorskip("durable_rules_engine")
    engine = Engine(["core"], backend="durable", check_examples=False)
    engine.backend.close()  # bypassing Engine.close: the backend's own check must hold
    with pytest.raises(EngineClosed):
        engine.evaluate(GOOD)
    assert engine.backend.live_sessions == 0


# -------------------------------------------------------------------------------- fuzzing


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=120)
@given(hostile_claims())
def test_any_hostile_input_gives_a_result_or_a_claim_error(engines, backend, data):
    outcome(engines(backend), data)


@pytest.mark.parametrize("backend", BACKENDS)
@given(disguised_claims())
def test_values_in_subclasses_evaluate_exactly_like_plain_values(engines, backend, pair):
    """str, int and dict subclasses whose methods raise: the same Result (or problems)."""
    plain, disguised = pair
    assert outcome(engines(backend), disguised) == outcome(engines(backend), plain)


@given(hostile_claims())
def test_parsing_a_hostile_input_twice_gives_the_same_answer(data):
    """Nothing about a first read (a consumed iterator aside) may change the second."""
    first = second = None
    try:
        first = parse_claim(data)
    except ClaimError as exc:
        first = exc.errors
    try:
        second = parse_claim(data)
    except ClaimError as exc:
        second = exc.errors
    if not any(type(v).__name__ == "list_iterator" for v in _values(data)):
        assert first == second


def _values(data: object) -> list[object]:
    out, stack = [], [data]
    while stack and len(out) < 10_000:
        value = stack.pop()
        out.append(value)
        if type(value) is dict:
            stack.extend(value.values())
        elif type(value) is list:
            stack.extend(value[:100])
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_compilers_digit_bound_and_the_claim_limits_share_their_ceilings(backend, engines):
    """The compiler refuses arithmetic that could outgrow 60 digits for claim numbers within the
    ceilings; a Limits can never admit larger numbers, so a rule never rounds at run time."""
    from hcpcs_rules import functions, limits
    from hcpcs_rules.units import EXACT_CONTEXT

    assert functions.CLAIM_BOUND == (limits.CEILING_INTEGER_DIGITS, limits.CEILING_DECIMAL_PLACES)
    assert (len(str(limits.CEILING_COUNT)), 0) == functions.COUNT_BOUND
    largest = "9" * limits.CEILING_INTEGER_DIGITS + "." + "9" * limits.CEILING_DECIMAL_PLACES
    data = good()
    line = data["lines"][0]
    line["units"] = largest
    line["dispensed"] = {"quantity": largest, "unit": "mL", "concentration_mg_per_ml": largest}
    line["days_supply"] = limits.CEILING_COUNT
    line["order"] = {"dose_mg": largest, "times_per_day": limits.CEILING_COUNT}
    result = engines(backend).evaluate(data)  # the widest claim the ceilings allow: no rounding
    assert result.lines[0].billed_units == Decimal(largest)
    exact = EXACT_CONTEXT.multiply(Decimal(largest), Decimal(largest))  # 36 digits, unrounded
    assert result.lines[0].dispensed_mg == exact
