"""The benchmarks of hcpcs_rules, in one script: ``python benchmarks/run.py [--quick]``.

What it measures, and why each number is trustworthy:

1. **Cost per claim** of the hand-written floor (``floor.py``: the same rules as plain Python,
   proven equal by ``check_floor.py``), the python backend, the durable backend, and durable_rules'
   C core driven directly (``raw_durable.py``: the engine's own work for the same facts). Claims
   are parsed to typed ``Claim`` objects beforehand, so parsing is not timed. Before any timing,
   floor, python and durable must return identical results on the whole stream.
2. **Throughput** with 1 and 8 threads sharing one Engine, and with a process pool over all cores
   (``hcpcs_rules.batch.evaluate_many``, including its start-up).
3. **Engine build time** (load + compile + backend build), with and without running the
   rulesets' examples, for ``["core"]`` and for every installed ruleset.
4. **Claim size**: 1, 10 and 50 J7632 lines per claim.
5. **Ruleset size**: the j7632 ruleset replicated under new rule ids and fact names to 10x and
   50x its rules (written to a temporary directory), next to ``core``.
6. **Memory and correctness over a long run**: ``soak.py`` in a subprocess per backend.

Method: everything compared in one table is measured in the same process, interleaved round-robin
with a rotating start, after a warm-up pass, over several timed rounds with ``time.perf_counter``.
Tables give medians and the ratio to the floor measured in the same rounds. Times are reported,
never asserted: the machine is shared and noisy, ratios are the stable part. ``--quick`` takes about
one minute; the full run about five (266 s on a 2-core machine).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import gc
import json
import os
import pickle
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

# Sibling scripts: python puts benchmarks/ on the path when this file is run as a script.
import check_floor
import floor
from hcpcs_rules import Engine, RulesetError, parse_claim
from hcpcs_rules.batch import evaluate_many
from hcpcs_rules.model import Claim
from raw_durable import RawDurable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

BACKENDS = ("python", "durable")


@attrs.frozen
class Plan:
    """How much of everything to measure."""

    stream: int  # claims in the per-claim stream
    rounds: int  # timed rounds per interleaved measurement
    thread_claims: int
    thread_rounds: int
    process_claims: int
    process_rounds: int
    build_rounds: int
    size_bases: int  # base claims replicated to 1, 10, 50 lines
    size_rounds: int
    ruleset_claims: int
    ruleset_rounds: int
    soak_claims: int


QUICK = Plan(1000, 5, 2000, 3, 10_000, 1, 3, 40, 3, 100, 3, 20_000)
FULL = Plan(2000, 11, 4000, 5, 50_000, 3, 7, 150, 7, 300, 5, 200_000)
SECTIONS = ("cost", "threads", "processes", "build", "size", "rulesets", "soak")


# ----------------------------------------------------------------------------- reporting


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A markdown table; numeric columns right-aligned."""
    print("| " + " | ".join(headers) + " |")
    aligns = []
    for index in range(len(headers)):
        numeric = rows and all(
            isinstance(row[index], int | float)
            or re.fullmatch(r"[-+~\d.,x%µ ]+(ms|s|MB|/s)?", str(row[index]))
            for row in rows
        )
        aligns.append("---:" if numeric else "---")
    print("|" + "|".join(aligns) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


def us(seconds: float, count: int) -> str:
    value = seconds / count * 1e6
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:,.1f}x"


def heading(text: str) -> None:
    print(f"\n## {text}\n", flush=True)


def machine() -> None:
    model = "unknown"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = []
    for package in ("hcpcs-rules", "durable-rules"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    print("# hcpcs_rules benchmarks\n")
    table(
        ["", ""],
        [
            ["date", dt.datetime.now().isoformat(timespec="seconds")],
            ["nproc", f"{os.cpu_count()} ({usable} usable)"],
            ["CPU", model],
            ["Python", f"{platform.python_implementation()} {platform.python_version()}"],
            ["OS", platform.platform()],
            ["packages", ", ".join(versions)],
            ["source", commit or "unknown"],
        ],
    )


# -------------------------------------------------------------------------------- timing


def interleaved(
    passes: dict[str, Callable[[], Any]],
    rounds: int,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds per pass of each callable: warm-up first, then round-robin, rotating the start.
    ``clock``: wall clock by default; ``time.process_time`` (CPU time of this process) on a
    machine shared with other work, whose time a wall clock would count."""
    names = list(passes)
    for _ in range(warmup):
        for name in names:
            passes[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()  # the previous pass's garbage is not this pass's cost
            started = clock()
            passes[name]()
            times[name].append(clock() - started)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def loop(function: Callable[[Claim], Any], claims: Sequence[Claim]) -> Callable[[], None]:
    def run() -> None:
        for claim in claims:
            function(claim)

    return run


def same_results(
    engines: dict[str, Callable[[Claim], Any]],
    claims: Sequence[Claim],
    floor_check: check_floor.FloorCheck | None = None,
) -> int:
    """Claims on which an engine disagrees with the first one; prints the first such claim.

    Backends must give equal results. The floor, when ``floor_check`` is given, is compared as
    ``check_floor.py`` compares it: findings, severities, lines and values exactly, messages and
    sources against the rules (its own copies of the texts may be older than the rulesets').
    """
    (first, reference), *others = engines.items()
    bad = 0
    for claim in claims:
        expected = reference(claim)
        for name, function in others:
            got = function(claim)
            if name == "floor" and floor_check is not None:
                problems = floor_check.problems(claim, expected, got)
            else:
                problems = check_floor.whole_results(claim, expected, got)
            if problems:
                if not bad:
                    print(f"DIFFERENT RESULTS ({first} vs {name}):")
                    print("\n  ".join([f"claim {claim.id}:", *problems]))
                bad += 1
    return bad


# ---------------------------------------------------------------------------- the claims


def j7632_claims(claims: Sequence[Claim], lines: int, count: int) -> list[Claim]:
    """``count`` claims of ``lines`` lines each, made by repeating each claim's J7632 lines.

    Each is parsed again: a claim made with ``attrs.evolve`` is not one the parser read, so
    every engine would read it again field by field on each evaluation (the floor does not),
    and the table would time parsing, not evaluation, as it did before issue 13.
    """
    out = []
    for claim in claims:
        j7632 = [line for line in claim.lines if line.hcpcs == "J7632"]
        if j7632:
            chosen = tuple(j7632[i % len(j7632)] for i in range(lines))
            out.append(parse_claim(attrs.evolve(claim, lines=chosen)))
        if len(out) == count:
            break
    return out


# ------------------------------------------------------------------------------ sections


def section_cost(plan: Plan, stream: list[Claim], engines: dict[str, Engine]) -> None:
    heading("1. Cost per claim")
    python, durable = engines["python"], engines["durable"]
    lines = sum(len(c.lines) for c in stream) / len(stream)
    print(
        f"{len(stream):,} claims from hcpcs_rules.testing.claimgen (seed 7; {lines:.2f} lines and "
        f"{sum(len(floor.check(c).findings) for c in stream) / len(stream):.1f} findings per "
        f"claim on average), parsed beforehand; 1 warm-up + {plan.rounds} timed rounds.\n"
    )
    bad = same_results(
        {"python": python.evaluate, "floor": floor.check, "durable": durable.evaluate},
        stream,
        check_floor.FloorCheck(python.program),
    )
    if bad:
        print(f"\n{bad} claims differ: no timing is meaningful until they agree.")
        sys.exit(1)
    print(
        "Python and durable results are identical, and the floor agrees with them as "
        "check_floor.py compares it, on every claim of the stream.\n"
    )
    raw = RawDurable(durable, stream)
    raw.verify()
    times = interleaved(
        {
            "floor (hand-written Python)": loop(floor.check, stream),
            "python backend": loop(python.evaluate, stream),
            "durable backend": loop(durable.evaluate, stream),
            f"raw durable ({raw.mode})": raw.run_all,
        },
        plan.rounds,
    )
    base = median(times["floor (hand-written Python)"])
    rows = []
    for name, values in times.items():
        rows.append(
            [
                name,
                us(median(values), len(stream)),
                ratio(median(values), base),
                f"{us(min(values), len(stream))} - {us(max(values), len(stream))}",
            ]
        )
    table(["engine", "median µs/claim", "x floor", "min - max µs/claim"], rows)
    durable_s, raw_s = median(times["durable backend"]), median(times[f"raw durable ({raw.mode})"])
    print(
        f"Raw durable replays, per claim, the C calls the durable backend made "
        f"({raw.actions / len(stream):.1f} actions per claim), with no-op actions and facts "
        f"JSON-encoded beforehand. Durable backend minus raw durable = "
        f"{us(durable_s - raw_s, len(stream))} µs/claim "
        f"({(durable_s - raw_s) / durable_s:.0%} of the backend's time): our Python around the "
        f"C engine (fact building and JSON, decoding actions, guards, findings, the Result)."
    )
    if raw.mode != "replay":
        print(
            f"\nNOTE: the backend could not be recorded ({raw.why}); raw durable ran only the "
            "base facts and the stratum gates, so fewer actions fired than in the real backend."
        )
    raw.close()


def section_threads(plan: Plan, claims: list[Claim], engines: dict[str, Engine]) -> None:
    heading("2a. Throughput with threads (one shared Engine)")
    executors = {n: ThreadPoolExecutor(max_workers=n) for n in (1, 8)}

    def threaded(engine: Engine, threads: int) -> Callable[[], None]:
        chunks = [claims[i::threads] for i in range(threads)]  # one long task per thread
        evaluate = engine.evaluate

        def work(chunk: list[Claim]) -> None:
            for claim in chunk:
                evaluate(claim)

        return lambda: list(executors[threads].map(work, chunks))

    passes = {
        f"{backend}|{threads}": threaded(engines[backend], threads)
        for backend in BACKENDS
        for threads in (1, 8)
    }
    times = interleaved(passes, plan.thread_rounds)
    for executor in executors.values():
        executor.shutdown()
    rows = []
    for backend in BACKENDS:
        one = median(times[f"{backend}|1"])
        eight = median(times[f"{backend}|8"])
        rows.append(
            [
                backend,
                f"{len(claims) / one:,.0f}",
                f"{len(claims) / eight:,.0f}",
                ratio(one, eight),
            ]
        )
    print(
        f"{len(claims):,} claims split evenly over the threads, 1 warm-up + "
        f"{plan.thread_rounds} rounds, interleaved.\n"
    )
    table(["backend", "claims/s, 1 thread", "claims/s, 8 threads", "8 threads vs 1"], rows)
    print(
        "Evaluation is Python (and, for durable, C calls that keep the GIL), so threads share one "
        "core's worth of work; the durable backend also serialises evaluations per Engine."
    )


def section_processes(plan: Plan, claims: list[Claim]) -> None:
    workers = os.cpu_count() or 1
    heading(f"2b. Throughput with a process pool ({workers} workers, evaluate_many)")
    floor_check = check_floor.FloorCheck(Engine(backend="python", check_examples=False).program)
    rows = []
    for backend in BACKENDS:
        # Start-up alone: a few claims (spawning workers, each compiling its own Engine, plus
        # the Engine evaluate_many builds up front to fail early on a broken ruleset).
        tiny = claims[: 2 * workers]
        started = time.perf_counter()
        list(evaluate_many(tiny, workers=workers, backend=backend))
        startup = time.perf_counter() - started
        walls = []
        results: list[Any] = []
        for _ in range(plan.process_rounds):
            started = time.perf_counter()
            results = list(evaluate_many(claims, workers=workers, backend=backend))
            walls.append(time.perf_counter() - started)
        wall = median(walls)
        agree = all(
            not floor_check.problems(c, r, floor.check(c))
            for r, c in zip(results, claims, strict=True)
        )
        rows.append(
            [
                backend,
                f"{len(claims):,}",
                f"{wall:.2f} s",
                f"{len(claims) / wall:,.0f}",
                f"{len(claims) / max(wall - startup, 1e-9):,.0f}",
                f"{startup:.2f} s",
                "yes" if agree else "NO",
            ]
        )
    print(
        f"Typed claims, median of {plan.process_rounds} run(s); each run includes start-up. "
        "'without start-up' subtracts the wall time of a run over only 2 claims per worker.\n"
    )
    table(
        [
            "backend",
            "claims",
            "wall",
            "claims/s",
            "claims/s without start-up",
            "start-up",
            "results agree with the floor",
        ],
        rows,
    )
    # The parent pickles every claim out and unpickles every result back, on one core.
    sample = claims[:1000]
    outcomes = [floor.check(c) for c in sample]
    started = time.perf_counter()
    for claim, outcome in zip(sample, outcomes, strict=True):
        pickle.loads(pickle.dumps(claim))
        pickle.loads(pickle.dumps(outcome))
    per_claim = (time.perf_counter() - started) / len(sample)
    print(
        f"Pickling a typed Claim and its Result there and back costs {per_claim * 1e6:.0f} µs "
        "per claim (both ends counted), and the parent's share of it happens on one core: "
        "with a backend this fast the pool pays mostly for transport."
    )


def section_build(plan: Plan) -> None:
    heading("3. Engine build time (load + compile + backend)")
    configs = {}
    for label, rulesets in (("core", ["core"]), ("all installed", None)):
        for backend in BACKENDS:
            for examples in (False, True):

                def build(r=rulesets, b=backend, e=examples) -> None:
                    Engine(r, backend=b, check_examples=e).close()

                configs[(label, backend, examples)] = build
    times = interleaved({f"{k[0]}|{k[1]}|{k[2]}": v for k, v in configs.items()}, plan.build_rounds)
    rows = []
    for label, rulesets in (("core", ["core"]), ("all installed", None)):
        program = Engine(rulesets, backend="python", check_examples=False).program
        examples = sum(len(r.examples) for r in program.rules)
        for backend in BACKENDS:
            without = median(times[f"{label}|{backend}|False"])
            with_examples = median(times[f"{label}|{backend}|True"])
            rows.append(
                [
                    label,
                    backend,
                    len(program.rules),
                    examples,
                    f"{without * 1e3:,.1f} ms",
                    f"{with_examples * 1e3:,.1f} ms",
                ]
            )
    print(f"Median of {plan.build_rounds} builds each, interleaved, after a warm-up build.\n")
    table(
        ["rulesets", "backend", "rules", "examples", "check_examples=False", "with examples"],
        rows,
    )


def section_size(plan: Plan, stream: list[Claim], engines: dict[str, Engine]) -> None:
    heading("4. Cost by claim size (J7632 lines per claim)")
    python, durable = engines["python"], engines["durable"]
    rows = []
    for size in (1, 10, 50):
        claims = j7632_claims(stream, size, plan.size_bases)
        bad = same_results(
            {"python": python.evaluate, "floor": floor.check, "durable": durable.evaluate},
            claims,
            check_floor.FloorCheck(python.program),
        )
        raw = RawDurable(durable, claims)
        raw.verify()
        times = interleaved(
            {
                "floor": loop(floor.check, claims),
                "python": loop(python.evaluate, claims),
                "durable": loop(durable.evaluate, claims),
                "raw": raw.run_all,
            },
            plan.size_rounds,
        )
        raw.close()
        m = {name: median(values) for name, values in times.items()}
        n = len(claims)
        rows.append(
            [
                size,
                us(m["floor"], n),
                f"{us(m['python'], n)} ({ratio(m['python'], m['floor'])})",
                f"{us(m['durable'], n)} ({ratio(m['durable'], m['floor'])})",
                us(m["raw"], n),
                us(m["python"], n * size),
                us(m["durable"], n * size),
                "yes" if not bad else f"NO ({bad})",
            ]
        )
    print(
        f"{plan.size_bases} claims per size, each made of one stream claim's J7632 lines repeated; "
        f"1 warm-up + {plan.size_rounds} rounds, engines interleaved. Cells: median µs per claim "
        "(x floor).\n"
    )
    table(
        [
            "lines",
            "floor",
            "python",
            "durable",
            "raw durable",
            "python µs/line",
            "durable µs/line",
            "identical",
        ],
        rows,
    )


_FACT_REF = r"(?<![\w.])({names})(?=[.)])"  # a derived fact name used in an expression


def _rename(expression: str, renames: dict[str, str]) -> str:
    pattern = _FACT_REF.format(names="|".join(map(re.escape, renames)))
    return re.sub(pattern, lambda m: renames[m.group(1)], expression)


def _toml(value: Any) -> str:
    """A TOML value on one line (inline tables and arrays); enough for ruleset files."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are valid in TOML basic strings
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def replicate_j7632(copies: int, directory: Path) -> Path:
    """j7632.toml's rules ``copies`` times, as ruleset ``j7632r<copies>``.

    Copy k renames each rule id ``X`` to ``X-Rkk`` and each derived fact ``f`` to ``f_rkk``, with
    every reference to them in that copy's conditions, fields and messages, so each copy is an
    independent chain doing the same work as the original.
    """
    data = tomllib.loads((ROOT / "rulesets" / "j7632.toml").read_text())
    facts = [rule["derive"] for rule in data["rule"] if "derive" in rule]
    out = [
        "[ruleset]",
        f'name = "j7632r{copies}"',
        'version = "1.0.0"',
        # The original's release date: the reason codes its rules cite are checked against it.
        f"released = {data['ruleset']['released'].isoformat()}",
        f'description = "j7632 replicated {copies} times (benchmark)"',
        'requires = ["core"]',
        "",
        "[constants]",
        *(f"{name} = {_toml(value)}" for name, value in data["constants"].items()),
    ]
    for copy_index in range(1, copies + 1):
        renames = {fact: f"{fact}_r{copy_index:02d}" for fact in facts}
        for rule in data["rule"]:
            rule = dict(rule)
            rule["id"] = f"{rule['id']}-R{copy_index:02d}"
            if "derive" in rule:
                rule["derive"] = renames[rule["derive"]]
            if "when" in rule:
                rule["when"] = _rename(rule["when"], renames)
            if "message" in rule:  # only inside {expressions}: the text says "units." too
                rule["message"] = re.sub(
                    r"\{[^{}]*\}", lambda m, r=renames: _rename(m.group(0), r), rule["message"]
                )
            fields = {k: _rename(v, renames) for k, v in rule.pop("fields", {}).items()}
            examples = rule.pop("example", [])
            out += ["", "[[rule]]", *(f"{k} = {_toml(v)}" for k, v in rule.items())]
            if fields:
                out += ["[rule.fields]", *(f"{k} = {_toml(v)}" for k, v in fields.items())]
            for example in examples:
                out += ["[[rule.example]]", *(f"{k} = {_toml(v)}" for k, v in example.items())]
    out += ["", "[claims]", *(f"{k} = {_toml(v)}" for k, v in data["claims"].items())]
    path = directory / f"j7632r{copies}.toml"
    path.write_text("\n".join(out) + "\n")
    return path


def _replication_ok(single: Any, replicated: Any, copies: int) -> bool:
    """The replicated ruleset reports each j7632 finding ``copies`` times, core's once."""

    def key(finding: Any) -> tuple:
        return (finding.line, re.sub(r"-R\d\d$", "", finding.rule_id), finding.severity,
                finding.message, finding.source, finding.payer)  # fmt: skip

    want: collections.Counter = collections.Counter()
    for finding in single.findings:
        want[key(finding)] += copies if finding.rule_id.startswith("J7632-") else 1
    got = collections.Counter(key(f) for f in replicated.findings)
    return want == got and single.lines == replicated.lines and single.status == replicated.status


def _durable_works(rulesets: list[Any], claims: Sequence[Claim]) -> str | None:
    """None when the durable backend builds ``rulesets`` and evaluates ``claims``, else why not."""
    try:
        engine = Engine(rulesets, backend="durable", check_examples=False)
    except RulesetError as exc:
        return f"refused at build: {str(exc).splitlines()[-1].strip()}"
    try:
        for claim in claims:
            engine.evaluate(claim)
    except Exception as exc:
        return f"builds, then evaluation raises {type(exc).__name__}: {exc}"
    finally:
        engine.close()
    return None


def section_rulesets(plan: Plan, stream: list[Claim]) -> None:
    heading("5. Cost by ruleset size (j7632 replicated)")
    claims = stream[: plan.ruleset_claims]
    rows = []
    notes = []
    with tempfile.TemporaryDirectory(prefix="hcpcs-bench-") as tmp:

        def rulesets_for(copies: int) -> list[Any]:
            if copies == 1:
                return ["core", "j7632"]
            return ["core", str(replicate_j7632(copies, Path(tmp)))]

        sizes = [1, 10, 50]
        probe = claims[:20]
        failing = [c for c in sizes if _durable_works(rulesets_for(c), probe) is not None]
        if failing:
            # Bisect for the largest replication the durable backend runs, and measure it and
            # the first size that fails too, so the table shows where and how it breaks.
            low = max((c for c in sizes if c < failing[0]), default=0)
            high = failing[0]
            why = _durable_works(rulesets_for(high), probe)
            while high - low > 1:
                middle = (low + high) // 2
                problem = _durable_works(rulesets_for(middle), probe)
                if problem is None:
                    low = middle
                else:
                    high, why = middle, problem
            sizes = sorted({*sizes, *(c for c in (low, high) if c > 1)})
            notes.append(
                f"The durable backend runs at most {low} copies of j7632 "
                f"({len(_program_rules(rulesets_for(low)))} rules); "
                f"{high} copies: {why}."
            )
        reference = Engine(["core", "j7632"], backend="python", check_examples=False)
        for copies in sizes:
            rulesets = rulesets_for(copies)
            label = "core + j7632" + (f" x{copies}" if copies > 1 else "")
            rows.append(_measure_ruleset(plan, claims, label, copies, rulesets, reference))
    print(
        f"{len(claims)} stream claims, 1 warm-up + {plan.ruleset_rounds} rounds, engines "
        "interleaved per size; builds with check_examples=False (one build each). 'replicated' "
        "checks that the python backend reports every j7632 finding once per copy.\n"
    )
    table(
        [
            "rulesets",
            "rules",
            "python build",
            "python µs/claim",
            "durable build",
            "durable µs/claim",
            "raw durable µs/claim",
            "python = durable",
            "replicated",
        ],
        rows,
    )
    for note in notes:
        print(note)


def _program_rules(rulesets: list[Any]) -> tuple[Any, ...]:
    return Engine(rulesets, backend="python", check_examples=False).program.rules


def _measure_ruleset(
    plan: Plan,
    claims: list[Claim],
    label: str,
    copies: int,
    rulesets: list[Any],
    reference: Engine,
) -> list[Any]:
    started = time.perf_counter()
    python = Engine(rulesets, backend="python", check_examples=False)
    python_build = time.perf_counter() - started
    replicated_ok = all(
        _replication_ok(reference.evaluate(c), python.evaluate(c), copies) for c in claims
    )
    durable: Engine | None = None
    durable_note = ""
    started = time.perf_counter()
    try:
        durable = Engine(rulesets, backend="durable", check_examples=False)
    except RulesetError as exc:
        durable_note = f"refused: {str(exc).splitlines()[-1].strip()[:160]}"
    durable_build = time.perf_counter() - started
    passes: dict[str, Callable[[], Any]] = {"python": loop(python.evaluate, claims)}
    raw = None
    agree = "n/a"
    if durable is not None:
        try:
            bad = same_results({"python": python.evaluate, "durable": durable.evaluate}, claims)
            agree = "yes" if not bad else f"NO ({bad})"
            raw = RawDurable(durable, claims)
            raw.verify()
            passes["durable"] = loop(durable.evaluate, claims)
            passes["raw"] = raw.run_all
        except Exception as exc:  # a run-time refusal of the C engine is a result too
            durable_note = f"fails at run time: {type(exc).__name__}: {exc}"[:160]
    times = interleaved(passes, plan.ruleset_rounds)
    if raw is not None:
        raw.close()
    if durable is not None:
        durable.close()
    m = {name: median(values) for name, values in times.items()}
    n = len(claims)
    return [
        label,
        len(python.program.rules),
        f"{python_build * 1e3:,.0f} ms",
        us(m["python"], n),
        f"{durable_build * 1e3:,.0f} ms" if durable is not None else "-",
        us(m["durable"], n) if "durable" in m else durable_note or "-",
        us(m["raw"], n) if "raw" in m else "-",
        agree,
        "yes" if replicated_ok else "NO",
    ]


def section_soak(plan: Plan) -> None:
    heading(f"6. Memory and correctness over {plan.soak_claims:,} claims (soak.py)")
    rows = []
    for backend in BACKENDS:
        command = [
            sys.executable,
            str(HERE / "soak.py"),
            "--backend",
            backend,
            "--claims",
            str(plan.soak_claims),
            "--json",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        try:
            report = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            print(f"soak.py --backend {backend} failed (exit {done.returncode}):")
            print(done.stderr[-2000:])
            continue
        rows.append(
            [
                backend,
                f"{report['claims']:,}",
                f"{report['rss_checkpoint_mb']:.1f} MB",
                f"{report['hwm_checkpoint_mb']:.1f} MB",
                f"{report['rss_end_mb']:.1f} MB",
                f"{report['hwm_end_mb']:.1f} MB",
                f"{report['growth_mb']:+.1f} MB",
                report["failures"],
                f"{report['fresh_engine_failures']} of {report['fresh_engine_checked']}",
                f"{report['claims_per_s_after_checkpoint']:,.0f}",
            ]
        )
    print(
        "One subprocess per backend: one Engine evaluates 10,000 distinct claimgen claims in a "
        "cycle; every repeat must equal the first result ('failures'), and a fresh Engine "
        "re-checks a sample at the end. Memory from /proc/self/status.\n"
    )
    table(
        [
            "backend",
            "claims",
            "VmRSS after 10,000",
            "VmHWM after 10,000",
            "VmRSS at end",
            "VmHWM at end",
            "RSS growth",
            "failures",
            "fresh engine differs",
            "claims/s",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (about 2 minutes)")
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    machine()
    print(
        f"Mode: {'--quick' if args.quick else 'full'}: {plan.stream:,}-claim stream, "
        f"{plan.rounds} timed rounds, soak {plan.soak_claims:,} claims."
    )
    stream = check_floor.generated_claims(plan.stream, seeds=(7,))
    try:
        engines = {backend: Engine(backend=backend) for backend in BACKENDS}
    except Exception as exc:  # durable_rules does not import on Python 3.13+
        print(f"\nCannot build both backends, and every table compares them: {exc}")
        return 2
    if "cost" in args.only:
        section_cost(plan, stream, engines)
    if "threads" in args.only:
        thread_claims = check_floor.generated_claims(plan.thread_claims, seeds=(8,))
        section_threads(plan, thread_claims, engines)
    if "processes" in args.only:
        section_processes(plan, check_floor.generated_claims(plan.process_claims, seeds=(9,)))
    if "build" in args.only:
        section_build(plan)
    if "size" in args.only:
        section_size(plan, stream, engines)
    if "rulesets" in args.only:
        section_rulesets(plan, stream)
    if "soak" in args.only:
        section_soak(plan)
    print(f"\nTotal run time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
