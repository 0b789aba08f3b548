"""End to end, claim data in, Result out: ``python benchmarks/e2e.py [--quick]``.

Where ``run.py`` times evaluation of already typed claims, this times what a user pays first:

1. **Structuring alone** (dict -> ``Claim``): the engine's reader (``Engine.parse_claim``: its
   generated fast path), the same reader without the fast path (its detailed path, what every
   claim cost before issue 13), a structurer built from cattrs' generated functions with one
   validating hook per field type (the issue's suggestion, measured as the alternative), and the
   end-to-end floor's hand-written structurer (``floor_e2e.structure``).
2. **Evaluation alone** (typed ``Claim`` -> ``Result``): ``Engine.evaluate`` vs ``floor.check``.
3. **End to end** (dict -> ``Result``): ``Engine.evaluate(dict)`` vs ``floor_e2e.check(dict)``.
4. **JSON text -> Result**: ``floor_e2e.check_json`` (its decoder refuses duplicate keys, as the
   project's reader does) vs ``json.loads`` then ``Engine.evaluate``, and vs the project's own
   record decoder (``reader``, what the CLI runs per document) then ``Engine.evaluate``.

Each on claims of 1 line, of 2-3 lines (claimgen's own), of 10 and of 50 lines (a claim's lines
repeated). The claims are claimgen's valid ones (seed 7). Before any timing, the engine and the
floors must agree on every claim (the same Claim, digit for digit, and results as
``check_floor.py`` compares them); the cattrs prototype must build the same claims too.
Everything in one table is measured in one process, interleaved round-robin after a warm-up
(``run.interleaved``); medians, and ratios to the floor of the same rounds. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import cattrs

# Sibling scripts: python puts benchmarks/ on the path when this file is run as a script.
import check_floor
import check_floor_e2e
import floor
import floor_e2e
from hcpcs_rules import Engine, claims, model, reader
from run import heading, interleaved, machine, median, table

LIMITS = claims.DEFAULT_LIMITS


# --------------------------------------------------------------------- the cattrs alternative


class _Doubt(Exception):
    pass


def cattrs_structurer(payers: frozenset[str]) -> Callable[[Any], model.Claim]:
    """dict -> Claim through cattrs' generated per-class functions, one hook per field type.

    A timing prototype of the issue's suggestion, not a validator to ship: the hooks test the
    exact types and bounds the fast path tests, but list limits are per type, not per field
    (cattrs hooks see the type only), and Dispensed's cross-field check is left out. On valid
    claims it builds the engine's claims (checked before timing).
    """
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=False)
    most = LIMITS.max_string_length
    top = 10**LIMITS.max_integer_digits
    count = LIMITS.max_count
    canonical = claims._canonical_decimal(LIMITS, False).match
    positive = claims._canonical_decimal(LIMITS, True).match

    def string(v: Any, _: Any) -> str:
        if type(v) is str and len(v) <= most:
            return v
        raise _Doubt

    def non_blank(v: Any, _: Any) -> str:
        if type(v) is str and len(v) <= most and v.strip():
            return v
        raise _Doubt

    def payer(v: Any, _: Any) -> str:
        if type(v) is str and v in payers:
            return v
        raise _Doubt

    def boolean(v: Any, _: Any) -> bool:
        if type(v) is bool:
            return v
        raise _Doubt

    def integer(v: Any, _: Any) -> int:
        if type(v) is int and -count <= v <= count:
            return v
        raise _Doubt

    def positive_int(v: Any, _: Any) -> int:
        if type(v) is int and 0 < v <= count:
            return v
        raise _Doubt

    def decimal(v: Any, _: Any) -> Decimal:
        if (type(v) is str and canonical(v)) or (type(v) is int and -top < v < top):
            return Decimal(v)
        raise _Doubt

    def positive_decimal(v: Any, _: Any) -> Decimal:
        if (type(v) is str and positive(v)) or (type(v) is int and 0 < v < top):
            return Decimal(v)
        raise _Doubt

    def date(v: Any, _: Any) -> dt.date:
        if type(v) is str and claims._ISO_DATE_MATCH(v):
            return dt.date.fromisoformat(v)
        raise _Doubt

    def extensions(v: Any, _: Any) -> model.Extensions:
        if type(v) is dict and not v:
            return model.NO_EXTENSIONS
        raise _Doubt

    for kind, hook in [
        (str, string),
        (model.NonBlankStr, non_blank),
        (model.PayerName, payer),
        (bool, boolean),
        (int, integer),
        (model.PositiveInt, positive_int),
        (Decimal, decimal),
        (model.PositiveDecimal, positive_decimal),
        (dt.date, date),
        (model.Extensions, extensions),
    ]:
        conv.register_structure_hook(kind, hook)

    def is_tuple(kind: Any) -> bool:
        return getattr(kind, "__origin__", None) is tuple

    def tuple_hook(kind: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        item = kind.__args__[0]
        read = conv.get_structure_hook(item)

        def structure(v: Any, _: Any) -> tuple[Any, ...]:
            if (type(v) is list or type(v) is tuple) and len(v) <= LIMITS.max_list_items:
                return tuple([read(x, item) for x in v])
            raise _Doubt

        return structure

    conv.register_structure_hook_factory(is_tuple, tuple_hook)
    claim_hook = conv.get_structure_hook(model.Claim)

    def structure(data: Any) -> model.Claim:
        if type(data) is not dict:
            raise _Doubt
        return claim_hook(data, model.Claim)

    return structure


# ---------------------------------------------------------------------------------- claims


def valid_stream(engine: Engine, count: int) -> list[dict[str, Any]]:
    """claimgen's claims (seed 7) that the engine accepts, as plain data."""
    out = []
    for data in check_floor.generated_data(count, seeds=(7,)):
        try:
            engine.parse_claim(data)
        except claims.ClaimError:
            continue
        out.append(data)
    return out


def with_lines(stream: Sequence[dict[str, Any]], lines: int, count: int) -> list[dict[str, Any]]:
    """``count`` claims of exactly ``lines`` lines, each claim's lines repeated in order."""
    out = []
    for data in stream:
        claim = copy.deepcopy(data)
        claim["lines"] = [
            copy.deepcopy(data["lines"][i % len(data["lines"])]) for i in range(lines)
        ]
        out.append(claim)
        if len(out) == count:
            break
    return out


def groups(stream: Sequence[dict[str, Any]], count: int) -> dict[str, list[dict[str, Any]]]:
    natural = [c for c in stream if 2 <= len(c["lines"]) <= 3][:count]
    return {
        "1 line": with_lines(stream, 1, count),
        "2-3 lines": natural,
        "10 lines": with_lines(stream, 10, count),
        "50 lines": with_lines(stream, 50, max(count // 5, 20)),
    }


def verify(engine: Engine, sets: dict[str, list[dict[str, Any]]], alternative: Any) -> None:
    """No timing means anything unless the engine and the floors agree on every claim."""
    bad = 0
    for name, data in sets.items():
        outcome = check_floor_e2e.compare(engine, data)
        texts = check_floor_e2e.compare(engine, [json.dumps(d) for d in data], as_json=True)
        if outcome.diffs or texts.diffs or outcome.refused:
            print(f"{name}: the engine and the end-to-end floor disagree:")
            for shown, problems in (outcome.diffs + texts.diffs)[:3]:
                print("\n  ".join([f"input {shown}:", *problems]))
            bad += 1
        for item in data:
            if repr(alternative(item)) != repr(engine.parse_claim(item)):
                print(f"{name}: the cattrs prototype builds another claim")
                bad += 1
                break
    if bad:
        sys.exit(1)


# ----------------------------------------------------------------------------------- timing


def loop(function: Callable[[Any], Any], items: Sequence[Any]) -> Callable[[], None]:
    def run() -> None:
        for item in items:
            function(item)

    return run


def decode(text: str) -> Any:
    """One JSON document as the project's reader decodes it (duplicate keys refused...)."""
    record = reader._record("<text>", text)
    if record.problem is not None:
        raise record.problem
    return record.claim


def without_fast_path(engine: Engine) -> Callable[[Any], Any]:
    schema, limits = engine.claim_schema, engine.limits

    def parse(data: Any) -> Any:
        return claims._read_detailed(data, limits, schema)

    return parse


#: What ``timed`` measures with: the wall clock, or CPU time with ``--cpu``.
CLOCK: Callable[[], float] = time.perf_counter


def timed(passes: dict[str, Callable[[], None]], count: int, rounds: int) -> dict[str, float]:
    """Median seconds per item of each pass."""
    times = interleaved(passes, rounds, clock=CLOCK)
    return {name: median(values) / count for name, values in times.items()}


def breakdown(engine: Engine, data: Sequence[dict[str, Any]], rounds: int) -> None:
    """Where the fast path's time goes: the same claims' objects, decimals and dates alone."""
    typed = [engine.parse_claim(d) for d in data]
    objects: list[tuple[type, dict[str, Any]]] = []
    decimals: list[str] = []
    dates: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, tuple):
            for item in value:
                walk(item)
        elif type(value).__module__ == model.__name__ and hasattr(type(value), "__attrs_attrs__"):
            fields = {a.name: getattr(value, a.name) for a in type(value).__attrs_attrs__}
            objects.append((type(value), fields))
            for item in fields.values():
                walk(item)
        elif type(value) is Decimal:
            decimals.append(str(value))
        elif type(value) is dt.date:
            dates.append(value.isoformat())

    for claim in typed:
        walk(claim)
    canonical = claims._canonical_decimal(LIMITS, False).match
    iso = claims._ISO_DATE_MATCH
    from_iso = dt.date.fromisoformat

    # Built as the fast path builds them: slots set directly (claims._slot_setters).
    slotted = []
    for cls, fields in objects:
        setters = claims._slot_setters(cls)
        assert setters is not None, cls
        slotted.append((cls, [(setters[name], value) for name, value in fields.items()]))
    new = object.__new__

    def build() -> None:
        for cls, pairs in slotted:
            o = new(cls)
            for setter, value in pairs:
                setter(o, value)

    def build_init() -> None:
        for cls, fields in objects:
            cls(**fields)

    def numbers() -> None:
        for text in decimals:
            if canonical(text):
                Decimal(text)

    def days() -> None:
        for text in dates:
            if iso(text):
                from_iso(text)

    t = timed(
        {
            "whole": loop(engine.parse_claim, data),
            "objects": build,
            "init": build_init,
            "decimals": numbers,
            "dates": days,
        },
        len(data),
        rounds,
    )
    rest = t["whole"] - t["objects"] - t["decimals"] - t["dates"]
    rows = [
        [
            f"building the {len(objects) / len(data):.1f} model objects (slots set directly; "
            f"through their attrs __init__: {t['init'] * 1e6:,.1f})",
            f"{t['objects'] * 1e6:,.1f}",
        ],
        [
            f"{len(decimals) / len(data):.1f} decimals: canonical test + Decimal(text)",
            f"{t['decimals'] * 1e6:,.1f}",
        ],
        [
            f"{len(dates) / len(data):.1f} dates: ISO test + date.fromisoformat",
            f"{t['dates'] * 1e6:,.1f}",
        ],
        ["the rest: type and size tests, key checks, dict lookups, calls", f"{rest * 1e6:,.1f}"],
        ["Engine.parse_claim (fast path), whole", f"{t['whole'] * 1e6:,.1f}"],
    ]
    table(["part", "µs per claim"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer claims and rounds")
    parser.add_argument(
        "--cpu", action="store_true", help="time in CPU time (a shared machine), not wall clock"
    )
    parser.add_argument(
        "--eval-only", action="store_true", help="only the evaluation / end-to-end table"
    )
    args = parser.parse_args(argv)
    count, rounds = (300, 5) if args.quick else (600, 15)
    global CLOCK
    if args.cpu:
        CLOCK = time.process_time

    machine()
    engine = check_floor_e2e.engine_for_floor()
    stream = valid_stream(engine, 3 * count)
    sets = groups(stream, count)
    alternative = cattrs_structurer(engine.payers)
    verify(engine, sets, alternative)
    texts = {name: [json.dumps(d) for d in data] for name, data in sets.items()}
    typed = {name: [engine.parse_claim(d) for d in data] for name, data in sets.items()}
    print(
        f"Claims: claimgen (seed 7), valid ones, as decoded JSON; {count} per group (50 lines: "
        f"{len(sets['50 lines'])}). 1 warm-up + {rounds} interleaved rounds per table. The "
        "engine and the end-to-end floor agree on every claim (same Claim, same Result as "
        "check_floor.py compares them), from dicts and from JSON text; the cattrs prototype "
        "builds the same claims.\n"
    )

    print(f"Clock: {'CPU time of this process' if args.cpu else 'wall clock'}.\n")
    if not args.eval_only:
        structuring(engine, sets, alternative, rounds)
    evaluation(engine, sets, typed, texts, rounds)
    return 0


def structuring(engine: Engine, sets: dict[str, Any], alternative: Any, rounds: int) -> None:
    heading("Structuring alone (dict -> Claim), µs per claim")
    rows = []
    for name, data in sets.items():
        t = timed(
            {
                "floor": loop(floor_e2e.structure, data),
                "engine": loop(engine.parse_claim, data),
                "detailed": loop(without_fast_path(engine), data),
                "cattrs": loop(alternative, data),
            },
            len(data),
            rounds,
        )
        base = t["floor"]
        rows.append(
            [name]
            + [f"{t[k] * 1e6:,.1f}" for k in ("floor", "engine", "detailed", "cattrs")]
            + [f"{t[k] / base:.2f}x" for k in ("engine", "detailed", "cattrs")]
        )
    table(
        [
            "claims",
            "floor_e2e.structure",
            "engine (fast path)",
            "detailed path only",
            "cattrs prototype",
            "engine x floor",
            "detailed x floor",
            "cattrs x floor",
        ],
        rows,
    )

    heading("Where the fast path's time goes (2-3 line claims)")
    breakdown(engine, sets["2-3 lines"], rounds)


def evaluation(
    engine: Engine,
    sets: dict[str, Any],
    typed: dict[str, Any],
    texts: dict[str, Any],
    rounds: int,
) -> None:
    heading("Evaluation alone, end to end, and JSON text in: µs per claim")
    rows = []
    for name, data in sets.items():
        t = timed(
            {
                "floor eval": loop(floor.check, typed[name]),
                "engine eval": loop(engine.evaluate, typed[name]),
                "floor e2e": loop(floor_e2e.check, data),
                "engine e2e": loop(engine.evaluate, data),
                "floor json": loop(floor_e2e.check_json, texts[name]),
                "engine json": loop(lambda text: engine.evaluate(json.loads(text)), texts[name]),
                "engine reader": loop(lambda text: engine.evaluate(decode(text)), texts[name]),
            },
            len(data),
            rounds,
        )
        rows.append(
            [
                name,
                f"{t['floor eval'] * 1e6:,.1f}",
                f"{t['engine eval'] * 1e6:,.1f}",
                f"{t['engine eval'] / t['floor eval']:.2f}x",
                f"{t['floor e2e'] * 1e6:,.1f}",
                f"{t['engine e2e'] * 1e6:,.1f}",
                f"{t['engine e2e'] / t['floor e2e']:.2f}x",
                f"{t['floor json'] * 1e6:,.1f}",
                f"{t['engine json'] * 1e6:,.1f}",
                f"{t['engine json'] / t['floor json']:.2f}x",
                f"{t['engine reader'] * 1e6:,.1f}",
                f"{t['engine reader'] / t['floor json']:.2f}x",
            ]
        )
    table(
        [
            "claims",
            "floor eval",
            "engine eval",
            "eval x floor",
            "floor e2e",
            "engine e2e",
            "e2e x floor",
            "floor JSON",
            "engine JSON",
            "JSON x floor",
            "engine reader JSON",
            "reader x floor",
        ],
        rows,
    )
    print(
        "eval: typed Claim in (floor.check vs Engine.evaluate); e2e: dict in "
        "(floor_e2e.check vs Engine.evaluate(dict)); JSON: text in (floor_e2e.check_json, whose "
        "decoder refuses duplicate keys, vs json.loads + Engine.evaluate, which does not; "
        "engine reader: the project's own record decoder, which does, as the CLI reads a "
        "document, + Engine.evaluate)."
    )


if __name__ == "__main__":
    sys.exit(main())
