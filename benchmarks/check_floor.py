"""Proof that the hand-written floor (``benchmarks/floor.py``) answers exactly like the engine.

Every timing in ``benchmarks/run.py`` is reported as a ratio to the floor, so the floor must
implement the same rules, not a cheaper subset. This script compares ``floor.check(claim)`` with
``Engine(backend="python").evaluate(claim)`` (whole :class:`Result` equality: findings with ids,
severities, lines, messages, sources and payers, line results, status, rulesets, trace) on:

a. every example claim of every rule of the compiled program;
b. the bundled ``examples/*.json`` and ``examples/batch.jsonl``;
c. claims from ``hcpcs_rules.testing.claimgen`` (the load-test generator; invalid ones are skipped);
d. claims from the Hypothesis strategy ``hcpcs_rules.testing.strategies.claim_json`` (more optional fields);
e. the example claims mutated at random with edge values (odd payers, blank strings, missing
   records, boundary dates and quantities), to reach branches neither generator does.

With ``--durable`` the durable backend is compared too (on a, b, e and part of c). It exits 1 if
anything differs and prints the first differences. Run it after any change to the rulesets, the
floor or the engine: ``python benchmarks/check_floor.py [--claims N] [--durable]``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import json
import random
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import floor  # a sibling script: python puts benchmarks/ on the path when run as one
from hcpcs_rules import ClaimError, Engine, parse_claim
from hcpcs_rules.model import Claim, Result
from hcpcs_rules.testing import claimgen

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def parse_all(data: Iterable[Any]) -> list[Claim]:
    """The claims that parse; invalid inputs are the parser's business, not the rules'."""
    out = []
    for item in data:
        with contextlib.suppress(ClaimError):
            out.append(parse_claim(item))
    return out


def example_claims(engine: Engine) -> list[Claim]:
    return parse_all(e.claim for r in engine.program.rules for e in r.examples)


def bundled_claims() -> list[Claim]:
    data: list[Any] = []
    for path in sorted((ROOT / "examples").glob("*.json")):
        data.append(json.loads(path.read_text()))
    for text in (ROOT / "examples" / "batch.jsonl").read_text().splitlines():
        if text.strip():
            data.append(json.loads(text))
    return parse_all(data)


def generated_claims(count: int, seeds: Iterable[int] = (7, 8, 9)) -> list[Claim]:
    seeds = list(seeds)
    per_seed = -(-count // len(seeds))
    return parse_all(c for seed in seeds for c in claimgen.claims(per_seed, seed))


def hypothesis_claims(count: int) -> list[Claim]:
    """``count`` draws of the test suite's claim strategy (derandomized: the same every run)."""
    if count <= 0:
        return []
    from hypothesis import HealthCheck, given, settings

    from hcpcs_rules.testing.strategies import claim_json

    drawn: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(claim_json())
    def collect(data: Any) -> None:
        drawn.append(copy.deepcopy(data))

    collect()
    return parse_all(drawn)


# Edge values per field path; a mutation sets one of them (None removes the key).
_EDGES: list[tuple[str, list[Any]]] = [
    ("payer", ["medicare", "aetna", "bcbs", "cigna", "uhc", "humana", "commercial"]),
    ("payer", ["medicare_advantage"]),
    ("line_of_business", ["commercial", "medicare_advantage", None]),
    ("date_of_service", [None, "2007-06-30", "2007-07-01", "2009-10-01", "2009-10-02"]),
    ("date_of_service", ["2011-07-01", "2014-01-05", "2014-01-06", "2016-12-31", "2017-01-01"]),
    ("place_of_service", [None, "12", "31", "32", "09", "11", "30", "99", "1", "abc"]),
    ("diagnoses", [[], ["J45.40"], ["R05.9"], ["J42", "E11.9"], ["j44.9"], ["J4540", "X"]]),
    ("patient", [None, {}, {"snf_part_a_stay": True}, {"inpatient_stay": True}]),
    ("ordering_provider", [None, {"npi": "1993999998"}, {"npi": "3993999998"}]),
    ("ordering_provider.pecos_enrolled", [True, False, None]),
    ("supplier.npi", ["1234567893", "1234567890", "", "2", "123456789a"]),
    ("supplier.taxonomy", [None, "333600000X", "3336C0002X", "332B00000X", "207Q00000X", ""]),
    ("supplier.ptan", [None, "", "  ", "AB1234"]),
    ("supplier.accreditation", [None, {"status": "none"}, {"status": "exempt"}]),
    ("supplier.accreditation", [{"status": "accredited"}]),
    ("supplier.accreditation", [{"status": "accredited", "expires": "2026-03-01"}]),
    ("supplier.surety_bond", [None, {"amount": "49999.99"}, {"amount": "50000"}]),
    ("supplier.surety_bond", [{"amount": "50000", "expires": "2026-03-01"}]),
    ("supplier.pharmacy_license", [None, {"state": "PA"}]),
    ("supplier.pharmacy_license", [{"state": "PA", "expires": "2026-03-01"}]),
    ("supplier.enrollments", [[], [{"payer": "medicare", "status": "revoked", "effective": "2001-01-01"}]]),
    ("supplier.enrollments", [[{"payer": "aetna", "status": "active", "effective": "2026-03-02", "end": "2026-03-02"}]]),
    ("lines[0].hcpcs", ["J7632", "J7631", "Q0513", "Q0514", "G0333", "E0570", "A7005", "99213"]),
    ("lines[0].units", ["240", "240.0", "0", "-1", "240.5", "249", "497", "250", "1E+3", "0.0001"]),
    ("lines[0].modifiers", [[], ["GA"], ["KO", "GZ"], ["KP", "GA", "KX"], ["KO", "22"]]),
    ("lines[0].modifiers", [["KO", "GA", "GZ", "22", "59"], ["KQ", "GA", "JW", "22"]]),
    ("lines[0].date_of_service", [None, "2007-07-01", "2011-06-30", "2015-05-31", "2026-03-02"]),
    ("lines[0].date_of_service", ["2013-10-31", "2013-11-01", "2013-12-31", "2014-01-01", "2016-01-01"]),
    ("lines[0].place_of_service", [None, "01", "04", "31", "32", "09", "21", "30", "99"]),
    ("lines[0].dispensed", [None, {"quantity": "2400", "unit": "mg"}]),
    ("lines[0].dispensed", [{"quantity": "240", "unit": "mL"}, {"quantity": "2.4", "unit": "g"}]),
    ("lines[0].dispensed", [{"quantity": "240", "unit": "mL", "concentration_mg_per_ml": "10.5"}]),
    ("lines[0].dispensed", [{"quantity": "2400005", "unit": "mcg"}, {"quantity": "1", "unit": "ug"}]),
    ("lines[0].days_supply", [None, 1, 30, 31, 32, 62, 90, 91, 93, 94, 400]),
    ("lines[0].order", [None, {"dose_mg": "20", "times_per_day": 4}, {"dose_mg": "0.5", "times_per_day": 1}]),
    ("lines[0].ndc", [None, "00172-6406-49", "0172-6406-49", "1234567890", "", "  ", "12345678901"]),
    ("lines[0].ndc_quantity", [None, "240", "0.5"]),
    ("lines[0].ndc_unit", [None, "ML", "UN", "MG", "", " "]),
    ("lines[0].diagnosis_pointers", [[], [1], [2], [0], [1, 2], [2, 1, 3]]),
    ("lines[0].note", [None, "", "   ", "took longer", "one two three four five six seven eight nine ten"]),
    ("lines[0].attachments", [[], ["other"], ["clinical_notes"], ["operative_report", "other"]]),
    ("lines[0].compound", [None, {}, {"bulk_ingredients": True}, {"replicates_commercial_product": True}]),
    ("lines[0].compound", [{"bulk_ingredients": False, "replicates_commercial_product": False}]),
    ("lines[1]", [{"hcpcs": "Q0513", "units": "1", "diagnosis_pointers": [1]}]),
    ("lines[1]", [{"hcpcs": "J7611", "units": "50", "modifiers": ["KO"], "diagnosis_pointers": [1]}]),
    ("lines[1]", [{"hcpcs": "E0570", "units": "1", "diagnosis_pointers": [1]}]),
    ("lines[1]", [{"hcpcs": "J7632", "units": "241", "diagnosis_pointers": [1], "dispensed": {"quantity": "2405", "unit": "mg"}}]),
]  # fmt: skip


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``lines[0].units``-style paths, creating records on the way; None removes the key."""
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, index = part.partition("[")
        steps.append(name)
        if index:
            steps.append(int(index.rstrip("]")))
    target: Any = data
    for step in steps[:-1]:
        if isinstance(step, int):
            if step >= len(target):
                return  # no such line: nothing to mutate
            target = target[step]
        else:
            if target.get(step) is None:
                target[step] = {}
            target = target[step]
    last = steps[-1]
    if isinstance(last, int):
        if last < len(target):
            target[last] = copy.deepcopy(value)
        elif last == len(target) and value is not None:
            target.append(copy.deepcopy(value))
    elif value is None:
        target.pop(last, None)
    else:
        target[last] = copy.deepcopy(value)


def _plain(value: Any) -> Any:
    """TOML dates in example claims -> ISO strings, so mutations can mix both freely."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def mutated_claims(engine: Engine, count: int, seed: int = 11) -> list[Claim]:
    rng = random.Random(seed)
    bases = [_plain(e.claim) for r in engine.program.rules for e in r.examples]
    out: list[Any] = []
    for index in range(count):
        data = copy.deepcopy(rng.choice(bases))
        data["id"] = f"MUT-{index}"
        for _ in range(rng.randint(1, 5)):
            path, values = rng.choice(_EDGES)
            _set(data, path, rng.choice(values))
        out.append(data)
    return parse_all(out)


def _outcome(function: Callable[[Claim], Result], claim: Claim) -> Result | str:
    try:
        return function(claim)
    except Exception as exc:  # both raising on the same claim counts as agreement
        return f"raised {type(exc).__name__}"


class Comparison:
    """The outcome of comparing a candidate with the reference engine on a set of claims."""

    def __init__(self) -> None:
        self.claims = 0
        self.findings = 0  # findings the reference reported
        self.rules: set[str] = set()  # rule ids the reference fired
        self.both_raised = 0  # claims on which both raised (counted as agreement)
        self.diffs: list[tuple[Claim, Any, Any]] = []


def differences(
    reference: Callable[[Claim], Result],
    candidate: Callable[[Claim], Result],
    claims: Iterable[Claim],
) -> Comparison:
    """Compare whole results claim by claim; keep every claim on which they differ."""
    out = Comparison()
    for claim in claims:
        out.claims += 1
        expected, got = _outcome(reference, claim), _outcome(candidate, claim)
        if isinstance(expected, str) and isinstance(got, str):
            out.both_raised += 1
        elif expected != got:
            out.diffs.append((claim, expected, got))
        if isinstance(expected, Result):
            out.findings += len(expected.findings)
            out.rules.update(f.rule_id for f in expected.findings)
    return out


def describe(claim: Claim, expected: Any, got: Any) -> str:
    """What differs, finding by finding, for a human."""
    lines = [f"claim {claim.id}:"]
    if isinstance(expected, str) or isinstance(got, str):
        lines.append(f"  engine: {expected if isinstance(expected, str) else 'a result'}")
        lines.append(f"  other:  {got if isinstance(got, str) else 'a result'}")
        return "\n".join(lines)
    want = {(f.line, f.rule_id): f for f in expected.findings}
    have = {(f.line, f.rule_id): f for f in got.findings}
    for key in sorted(want.keys() | have.keys(), key=lambda k: (k[0] or 0, k[1])):
        if want.get(key) != have.get(key):
            lines.append(f"  {key}: engine {want.get(key)}")
            lines.append(f"  {' ' * len(str(key))}  other  {have.get(key)}")
    if [f.sort_key() for f in expected.findings] != [f.sort_key() for f in got.findings]:
        lines.append("  finding order differs")
    for field in ("status", "lines", "rulesets", "trace", "claim_id"):
        if getattr(expected, field) != getattr(got, field):
            lines.append(f"  {field}: engine {getattr(expected, field)!r}")
            lines.append(f"  {' ' * len(field)}  other  {getattr(got, field)!r}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=30000, help="claimgen claims (c)")
    parser.add_argument("--hypothesis", type=int, default=5000, help="strategy draws (d)")
    parser.add_argument("--mutations", type=int, default=20000, help="mutated examples (e)")
    parser.add_argument("--durable", action="store_true", help="also compare the durable backend")
    parser.add_argument("--show", type=int, default=5, help="differences to print per set")
    args = parser.parse_args(argv)

    engine = Engine(backend="python")
    durable = Engine(backend="durable") if args.durable else None
    started = time.perf_counter()
    sets = {
        "a. rule examples": example_claims(engine),
        "b. bundled examples": bundled_claims(),
        "c. claimgen (seeds 7, 8, 9)": generated_claims(args.claims),
        "d. hypothesis claim_json": hypothesis_claims(args.hypothesis),
        "e. mutated examples": mutated_claims(engine, args.mutations),
    }
    print(f"engine rulesets {', '.join(engine.rulesets)}; floor {', '.join(floor.RULESETS)}")
    finding_rules = sum(1 for r in engine.program.rules if r.finding is not None)
    print(
        "\n| claim set | candidate (vs python backend) | claims | findings | rules fired "
        "| both raised | differences |\n|---|---|---:|---:|---:|---:|---:|"
    )
    failed = 0
    for name, claims in sets.items():
        checks = [("floor", floor.check)]
        if durable is not None:
            checks.append(("durable", durable.evaluate))
        for label, candidate in checks:
            subset = claims[:5000] if label == "durable" and name.startswith("c") else claims
            result = differences(engine.evaluate, candidate, subset)
            print(
                f"| {name} | {label} | {result.claims:,} | {result.findings:,} "
                f"| {len(result.rules)}/{finding_rules} | {result.both_raised} "
                f"| {len(result.diffs)} |"
            )
            for claim, expected, got in result.diffs[: args.show]:
                print(describe(claim, expected, got))
            failed += len(result.diffs)
    total = sum(len(c) for c in sets.values())
    print(f"{total:,} claims in {time.perf_counter() - started:.1f} s; {failed} differences")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
