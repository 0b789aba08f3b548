"""Proof that the hand-written floor (``benchmarks/floor.py``) implements the engine's rules.

Every timing in ``benchmarks/run.py`` is reported as a ratio to the floor, so the floor must
implement the same rules, not a cheaper subset. This script compares ``floor.check(claim)`` with
``Engine(["core", "j7632"], backend="python").evaluate(claim)`` (:class:`FloorCheck`):

- exactly: the claim id, status and rulesets; the findings in order, each with its rule id,
  severity, line and payer; the line results (HCPCS, billed units, dispensed mg, expected units,
  status); the trace;
- against the compiled program, not against the floor's copies: each engine finding's ``source``
  is its rule's ``source``, and its message is its rule's template filled in (the template's
  literal parts in order, and every value the checker knows independently, such as a claim field,
  the line's date of service or the floor's dispensed mg and expected units, formatted exactly);
- the floor formatted the same values: every value the engine filled in appears in the floor's
  message for that finding.

So a policy analyst may reword a message or a source in a ruleset and this check still passes
(the floor's own hand-copied texts go stale, harmlessly), while a wrong severity, date or value,
or a missing or extra finding, still fails it. The claims:

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
import re
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import floor  # a sibling script: python puts benchmarks/ on the path when run as one
from hcpcs_rules import ClaimError, Engine, ir, parse_claim
from hcpcs_rules.model import Claim, Finding, LineResult, Result
from hcpcs_rules.runtime import format_value
from hcpcs_rules.testing import claimgen

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The rulesets the floor answers for, named so that installed plugins change nothing.
SHIPPED = ["core", "j7632"]


def parse_all(data: Iterable[Any]) -> list[Claim]:
    """The claims that parse; invalid inputs are the parser's business, not the rules'."""
    out = []
    for item in data:
        with contextlib.suppress(ClaimError):
            out.append(parse_claim(item))
    return out


def example_claims(engine: Engine) -> list[Claim]:
    return parse_all(example_data(engine))


def example_data(engine: Engine) -> list[Any]:
    """Every rule's example claims as written (TOML dates as ``date`` objects)."""
    return [e.claim for r in engine.program.rules for e in r.examples]


def bundled_claims() -> list[Claim]:
    return parse_all(bundled_data())


def bundled_data() -> list[Any]:
    data: list[Any] = []
    for path in sorted((ROOT / "examples").glob("*.json")):
        data.append(json.loads(path.read_text()))
    for text in (ROOT / "examples" / "batch.jsonl").read_text().splitlines():
        if text.strip():
            data.append(json.loads(text))
    return data


def generated_claims(count: int, seeds: Iterable[int] = (7, 8, 9)) -> list[Claim]:
    return parse_all(generated_data(count, seeds))


def generated_data(count: int, seeds: Iterable[int] = (7, 8, 9)) -> list[Any]:
    """claimgen's claims as data (a few percent of them are invalid on purpose)."""
    seeds = list(seeds)
    per_seed = -(-count // len(seeds))
    return [c for seed in seeds for c in claimgen.claims(per_seed, seed)]


def hypothesis_claims(count: int) -> list[Claim]:
    """``count`` draws of the test suite's claim strategy (derandomized: the same every run)."""
    return parse_all(hypothesis_data(count))


def hypothesis_data(count: int, strategy: Any = None) -> list[Any]:
    """``count`` draws of ``strategy`` (default: ``claim_json()``), derandomized."""
    if count <= 0:
        return []
    from hypothesis import HealthCheck, given, settings

    from hcpcs_rules.testing.strategies import claim_json

    if strategy is None:
        strategy = claim_json()
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(data: Any) -> None:
        # Hostile values (iterators, subclasses whose methods raise) are kept as drawn.
        try:
            drawn.append(copy.deepcopy(data))
        except Exception:
            drawn.append(data)

    collect()
    return drawn


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
    # A line's own ordering provider (837 loop 2420E) is the one its PECOS rules read.
    ("lines[0].ordering_provider", [None, {"npi": "1993999998"}, {"npi": "1234567893"}]),
    ("lines[0].ordering_provider", [{"npi": "3993999998"}, {"npi": "12345"}]),
    ("lines[0].ordering_provider", [{"npi": "1993999998", "pecos_enrolled": True}]),
    ("lines[0].ordering_provider", [{"npi": "1234567893", "pecos_enrolled": False}]),
    ("supplier.npi", ["1234567893", "1234567890", "", "2", "123456789a"]),
    ("supplier.taxonomy", [None, "333600000X", "3336C0002X", "332B00000X", "207Q00000X", ""]),
    ("supplier.ptan", [None, "", "  ", "AB1234"]),
    ("supplier.accreditation", [None, {"status": "none"}, {"status": "exempt"}]),
    ("supplier.accreditation", [{"status": "accredited"}]),
    ("supplier.accreditation", [{"status": "accredited", "expires": "2026-03-01"}]),
    ("supplier.surety_bond", [None, {"amount": "49999.99"}, {"amount": "50000"}]),
    ("supplier.surety_bond", [{"amount": "50000", "expires": "2026-03-01"}, {"amount": "0"}]),
    ("supplier.pharmacy_license", [None, {"state": "PA"}, {"state": "PA", "status": "none"}]),
    ("supplier.pharmacy_license", [{"state": "PA", "expires": "2026-03-01"}]),
    ("supplier.enrollments", [None, [], [{"payer": "medicare", "status": "revoked", "effective": "2001-01-01"}]]),
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
    return parse_all(mutated_data(engine, count, seed))


def mutated_data(engine: Engine, count: int, seed: int = 11) -> list[Any]:
    """The example claims with 1 to 5 edge values set (see ``_EDGES``); some are invalid."""
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
    return out


def _outcome(function: Callable[[Claim], Result], claim: Claim) -> Result | str:
    try:
        return function(claim)
    except Exception as exc:  # both raising on the same claim counts as agreement
        return f"raised {type(exc).__name__}"


# Roots of the claim's records a message path may read (``supplier.npi`` is the claim's).
_CLAIM_ROOTS = frozenset({"supplier", "patient", "ordering_provider"})
_MISSING = object()  # "the checker does not know this value": only checked against the floor


class FloorCheck:
    """Whether the floor's result for a claim agrees with the engine's (see the module docstring).

    The messages are checked against ``program`` (the engine's compiled rules): each rule's
    message template becomes a regular expression whose literal parts must match exactly and
    whose expressions match either the value the checker computes itself, formatted as messages
    format it, or (for computed expressions: arithmetic, calls, conditionals) any text, which
    must then appear in the floor's message too.
    """

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        self._rules = {rule.id: rule for rule in program.rules}

    def problems(self, claim: Claim, engine: Result, floor_result: Result) -> list[str]:
        """What differs, for a human; empty when the floor agrees with the engine."""
        out = []
        for field in ("claim_id", "status", "rulesets", "lines", "trace", "payer", "overlay"):
            if getattr(engine, field) != getattr(floor_result, field):
                out.append(f"{field}: engine {getattr(engine, field)!r}")
                out.append(f"{' ' * len(field)}  floor  {getattr(floor_result, field)!r}")
        want = [_key(f) for f in engine.findings]
        have = [_key(f) for f in floor_result.findings]
        if want != have:
            for key in sorted(set(want) ^ set(have), key=lambda k: (k[2] or 0, k[0])):
                who = "engine only" if key in want else "floor only"
                out.append(f"{who}: {key[0]} line {key[2]} severity {key[1]} payer {key[3]}")
            if set(want) == set(have):
                out.append("finding order differs")
            return out
        lines = {r.line: r for r in floor_result.lines}
        for found, floor_finding in zip(engine.findings, floor_result.findings, strict=True):
            out += [
                f"{found.rule_id} line {found.line}: {problem}"
                for problem in self.finding_problems(claim, found, floor_finding, lines)
            ]
        return out

    def finding_problems(
        self,
        claim: Claim,
        found: Finding,
        floor_finding: Finding,
        floor_lines: dict[int, LineResult],
    ) -> list[str]:
        """An engine finding against its rule's source and template, and the floor's message."""
        rule = self._rules.get(found.rule_id)
        if rule is None or rule.finding is None:
            return ["no such finding rule in the program"]
        out = []
        if found.source != rule.source:
            out.append(f"source {found.source!r} is not the rule's {rule.source!r}")
        pattern, computed = [], []
        for part in rule.finding.message:
            if isinstance(part, str):
                pattern.append(re.escape(part))
                continue
            value = self.known(part, claim, found.line, floor_lines)
            if value is _MISSING:
                pattern.append("(.*?)")
                computed.append(part)
            else:
                pattern.append(re.escape(format_value(value)))
        match = re.fullmatch("".join(pattern), found.message, re.DOTALL)
        if match is None:
            out.append(
                f"message {found.message!r} is not the rule's template filled in with the "
                f"values the checker knows ({_template(rule.finding.message)})"
            )
            return out
        for text in match.groups():
            if text and text not in floor_finding.message:
                out.append(f"the floor's message {floor_finding.message!r} lacks {text!r}")
        return out

    def known(
        self, expr: ir.Expr, claim: Claim, line: int | None, floor_lines: dict[int, LineResult]
    ) -> Any:
        """The value of a message expression computed here, or _MISSING where it takes rules.

        Paths into the claim are read directly; of the derived facts, the line's date and place
        of service (the line's, else the claim's) and the floor's dispensed mg and expected units.
        Those two come from the floor, already compared with the engine's line results.
        """
        if not isinstance(expr, ir.Path):
            return _MISSING
        record = claim.lines[line - 1] if line is not None else None
        if expr.derived:
            if record is None:
                return _MISSING
            fact = (expr.root, *expr.fields)
            if fact == ("service", "date"):
                dos = record.date_of_service
                return claim.date_of_service if dos is None else dos
            if fact == ("service", "place"):
                pos = record.place_of_service
                return claim.place_of_service if pos is None else pos
            if fact == ("dispensed", "dispensed_mg"):
                return floor_lines[line].dispensed_mg  # type: ignore[index]
            if fact == ("units", "expected_units"):
                return floor_lines[line].expected_units  # type: ignore[index]
            return _MISSING
        if expr.root == "line":
            value: Any = record
        elif expr.root == "claim":
            value = claim
        elif expr.root in _CLAIM_ROOTS:
            value = getattr(claim, expr.root)
        else:
            return _MISSING
        if value is None:
            return _MISSING
        for name in expr.fields:
            value = getattr(value, name, None) if value is not None else None
        return value


def _key(finding: Finding) -> tuple[str, str, int | None, str | None]:
    return (finding.rule_id, finding.severity, finding.line, finding.payer)


def _template(parts: tuple[str | ir.Expr, ...]) -> str:
    return "".join(p if isinstance(p, str) else "{...}" for p in parts)


class Comparison:
    """The outcome of comparing a candidate with the reference engine on a set of claims."""

    def __init__(self) -> None:
        self.claims = 0
        self.findings = 0  # findings the reference reported
        self.rules: set[str] = set()  # rule ids the reference fired
        self.both_raised = 0  # claims on which both raised (counted as agreement)
        self.diffs: list[tuple[Claim, Any, Any, list[str]]] = []


#: How two outcomes of one claim are compared: the problems found, empty when they agree.
Agreement = Callable[[Claim, Result, Result], list[str]]


def whole_results(claim: Claim, expected: Result, got: Result) -> list[str]:
    """Two engines compiled from the same rulesets: everything must be equal, texts included."""
    return [] if expected == got else describe(claim, expected, got).splitlines()[1:]


def differences(
    reference: Callable[[Claim], Result],
    candidate: Callable[[Claim], Result],
    claims: Iterable[Claim],
    agree: Agreement = whole_results,
) -> Comparison:
    """Compare results claim by claim; keep every claim on which they differ."""
    out = Comparison()
    for claim in claims:
        out.claims += 1
        expected, got = _outcome(reference, claim), _outcome(candidate, claim)
        if isinstance(expected, str) and isinstance(got, str):
            out.both_raised += 1
        elif isinstance(expected, str) or isinstance(got, str):
            out.diffs.append((claim, expected, got, describe(claim, expected, got).splitlines()))
        else:
            problems = agree(claim, expected, got)
            if problems:
                out.diffs.append((claim, expected, got, problems))
        if isinstance(expected, Result):
            out.findings += len(expected.findings)
            out.rules.update(f.rule_id for f in expected.findings)
    return out


def describe(claim: Claim, expected: Any, got: Any) -> str:
    """What differs between two whole results, finding by finding, for a human."""
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

    # The floor is hand-written for the shipped rulesets: compare exactly those, whatever else
    # is installed. "humana" (a mutation edge) is a payer no shipped ruleset names: the engines
    # know it as an organisation's policy would add it, so a payer without overlays is compared.
    engine = Engine(SHIPPED, backend="python", payers=["humana"])
    durable = Engine(SHIPPED, backend="durable", payers=["humana"]) if args.durable else None
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
    floor_check = FloorCheck(engine.program)
    for name, claims in sets.items():
        checks: list[tuple[str, Callable[[Claim], Result], Agreement]] = [
            ("floor", floor.check, floor_check.problems)
        ]
        if durable is not None:
            checks.append(("durable", durable.evaluate, whole_results))
        for label, candidate, agree in checks:
            subset = claims[:5000] if label == "durable" and name.startswith("c") else claims
            result = differences(engine.evaluate, candidate, subset, agree)
            print(
                f"| {name} | {label} | {result.claims:,} | {result.findings:,} "
                f"| {len(result.rules)}/{finding_rules} | {result.both_raised} "
                f"| {len(result.diffs)} |"
            )
            for claim, _expected, _got, problems in result.diffs[: args.show]:
                print("\n  ".join([f"claim {claim.id}:", *problems]))
            failed += len(result.diffs)
    total = sum(len(c) for c in sets.values())
    print(f"{total:,} claims in {time.perf_counter() - started:.1f} s; {failed} differences")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
