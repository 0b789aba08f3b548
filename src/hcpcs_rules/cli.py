"""The ``hcpcs-rules`` command.

``hcpcs-rules check PATH...`` checks claims: a JSON claim, a JSON array of claims, JSON Lines
(one claim per line), a folder of ``.json``/``.jsonl`` files, or ``-`` for standard input. Input is
read by :mod:`hcpcs_rules.reader`: streamed, one record at a time, each record judged on its own.
With ``--format parquet|csv --output DIR`` it writes the claims and findings tables
(:mod:`hcpcs_rules.output`) instead of printing each claim; a long run shows a progress bar on a
terminal's stderr (:mod:`hcpcs_rules.progress`).

Exit status (the highest that applies wins, except 130 and 141 which end the run):

- 0: no finding reached ``--fail-on`` (default: reject);
- 1: a finding did;
- 2: a usage error, a broken ruleset, an unreadable file or record, or an invalid claim (each
  is reported and the run goes on with the next one); or the tables cannot be written (the run
  stops, and leaves no partial table);
- 3: an internal failure: evaluating a claim failed inside the library, a plugin function or a
  worker process (reported as an ``EvaluationFailure`` record, the run goes on), worker processes
  could not start, or the command itself crashed. One line on stderr; the traceback only with
  ``--debug``;
- 130: interrupted (Ctrl-C);
- 141: standard output was closed early (``| head``): the run stops quietly.

Text output escapes control characters (C0, DEL, C1, Unicode line and paragraph separators,
bidirectional controls) in everything that comes from input or rulesets, so a claim cannot drive
the terminal; ``--format json`` output is JSON-escaped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .errors import ClaimError, RulesetError, WorkerError
from .errors import printable as escape_controls
from .failure import EvaluationFailure, one_line
from .model import SEVERITY_RANK
from .reader import DEFAULT_MAX_RECORD_BYTES

__all__ = ["EXIT_CODES", "main"]

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141  # 128 + SIGINT, 128 + SIGPIPE, as shells report
EXIT_CODES = {
    EXIT_OK: "no finding reached --fail-on",
    EXIT_FINDINGS: "a finding reached --fail-on",
    EXIT_INPUT: "usage error, broken ruleset, unreadable input or invalid claim",
    EXIT_INTERNAL: "internal failure (an evaluation failed, workers could not start, a crash)",
    EXIT_INTERRUPTED: "interrupted",
    EXIT_BROKEN_PIPE: "standard output closed early",
}


def printable(value: Any) -> str:
    """``value`` as text safe to print on a terminal: unsafe characters become escapes."""
    return escape_controls(str(value))


def _say(err: TextIO, message: str) -> None:
    """A message on stderr (its first line prefixed with the command's name), each line escaped."""
    for number, line in enumerate(message.split("\n")):
        print(f"hcpcs-rules: {printable(line)}" if number == 0 else printable(line), file=err)


def _print_lines(text: str, out: TextIO) -> None:
    """Multi-line text from rulesets or plugins, each line escaped."""
    for line in text.split("\n"):
        print(printable(line), file=out)


def _json_line(record: Any, out: TextIO) -> str:
    text = json.dumps(record, ensure_ascii=False)
    if not text.isascii():
        try:
            text.encode(getattr(out, "encoding", None) or "utf-8")
        except UnicodeEncodeError:  # lone surrogates, or a narrow output encoding
            text = json.dumps(record)
    return text


class _StderrHandler(logging.Handler):
    """Shows the library's warnings (a worker replaced...) on the command's stderr."""

    def __init__(self, err: TextIO) -> None:
        super().__init__(logging.WARNING)
        self.err = err

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"hcpcs-rules: warning: {printable(record.getMessage())}", file=self.err)
        except Exception:  # a warning must never end the run
            self.handleError(record)


_TABLE_FORMATS = ("parquet", "csv")  # output.TABLE_FORMATS, without importing it at start-up


def _check(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from .output import OutputError

    problem = _output_problem(args)
    if problem is not None:
        _say(err, problem)
        return EXIT_INPUT
    args.policy = _policy(args, err)
    # A ruleset whose examples fail is not run on claims: its answers cannot be trusted.
    engine = _engine(args, err, check_examples=True)
    from .x12.cli import check_x12, is_x12_path

    # The tables are opened when the claims start to flow, so that a usage error found on the
    # way (by the X12 checks, say) leaves no empty tables behind.
    tables = _Tables(args)
    try:
        # X12 files are recognised by content (an ISA first), whatever their names.
        x12_only = args.format == "277ca" or args.validate_999  # meaningless for JSON claims
        if any(is_x12_path(p) for p in args.paths) or args.directory or args.sidecar or x12_only:
            exits = (EXIT_OK, EXIT_FINDINGS, EXIT_INPUT)
            code = check_x12(
                args,
                engine,
                out,
                err,
                report=_report,
                json_line=_json_line,
                exits=exits,
                open_tables=tables.open if args.format in _TABLE_FORMATS else None,
                also=tables.also,
            )
        else:
            code = _check_json(args, engine, out, err, stdin, tables)
    except OutputError as exc:  # the tables cannot be written (a full disk...): none are left
        tables.abort()
        _say(err, str(exc))
        return EXIT_INPUT
    except BaseException:
        tables.abort()
        raise
    try:
        escaped = tables.close()
    except OutputError as exc:
        _say(err, str(exc))
        return max(code, EXIT_INPUT)
    if escaped:
        _say(
            err,
            f"warning: {escaped} table cell{'s' if escaped != 1 else ''} held text that is not "
            "valid Unicode (a lone surrogate); written with \\u escapes instead",
        )
    return code


def _output_problem(args: argparse.Namespace) -> str | None:
    """Why ``--format``/``--output``/``--force`` do not go together, or None. Checked before the
    engine is built, and before anything is written."""
    from .output import OutputError, check_destination, require_pyarrow

    if args.html is not None:
        html = Path(args.html)
        if html.is_dir():
            return f"--html {args.html}: is a folder; give the report's file name"
        if not html.parent.is_dir():
            return f"--html {args.html}: no folder {str(html.parent)!r} to write it in"
    table = args.format in _TABLE_FORMATS
    if table and args.output is None:
        return f"--format {args.format} writes two tables (claims, findings): give --output DIR"
    if not table and args.output is not None:
        return (
            "--output DIR is for --format parquet or csv; text, json and 277ca go to standard "
            "output (redirect it to a file)"
        )
    if args.force and args.output is None:
        return "--force replaces the tables of --output DIR: give --output too"
    if table and args.explain:
        return "--explain has no place in the tables: use --format json for the trace"
    if not table:
        return None
    try:
        if args.format == "parquet":
            require_pyarrow()
        check_destination(args.output, args.format, force=args.force)
    except OutputError as exc:
        return str(exc)
    return None


class _Tables:
    """The run's files: the table writer (``--format parquet|csv``) and the HTML report
    (``--html``), each opened on first use; closing or aborting one never opened does nothing."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sink: Any = None
        self.report: Any = None

    def open(self) -> Any:
        from .output import TableSink

        if self.sink is None:
            self.sink = TableSink(self.args.output, self.args.format, force=self.args.force)
        return self.sink

    def also(self) -> list[Any]:
        """The sinks fed every outcome besides the run's own output: the HTML report."""
        if self.args.html is None:
            return []
        if self.report is None:
            from .report import HtmlReport

            self.report = HtmlReport(self.args.html, inputs=self.args.paths)
        return [self.report]

    def close(self) -> int:
        """Put the tables and the report in place; how many table cells had to be escaped."""
        escaped = 0
        if self.sink is not None:
            try:
                self.sink.close()
            except BaseException:
                if self.report is not None:
                    self.report.abort()  # no page for a run whose tables were not written
                raise
            escaped = self.sink.escaped
        if self.report is not None:
            try:
                self.report.close()
            except OSError as exc:
                from .output import OutputError

                raise OutputError(
                    f"--html {self.args.html}: cannot write the report: {exc}"
                ) from exc
        return escaped

    def abort(self) -> None:
        if self.sink is not None:
            self.sink.abort()
        if self.report is not None:
            self.report.abort()


class _Printer:
    """The text and json formats as a sink: each outcome printed on standard output (an
    unreadable record is said on standard error by the loop itself, in every format)."""

    def __init__(self, fmt: str, out: TextIO) -> None:
        self.format = fmt
        self.out = out

    def add(
        self, outcome: Any, *, input: str | None, claim_id: str | None = None, location: Any = None
    ) -> None:
        location_text = input or ""
        if isinstance(outcome, ClaimError):
            _report_invalid(location_text, outcome, self.format, self.out, claim_id)
        elif isinstance(outcome, EvaluationFailure):
            _report_failure(location_text, outcome, self.format, self.out)
        elif not isinstance(outcome, BaseException):
            _report(outcome, self.format, self.out)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _refused_id(claim_id: str | None, error: ClaimError) -> str | None:
    """The id of a claim the contract refused, unless the id itself is what was wrong."""
    if claim_id is None:
        return None
    for path, _ in error.errors:
        if path == "$.id" or path.startswith(("$.id.", "$.id[")):
            return None
    return claim_id


def _check_json(
    args: argparse.Namespace, engine: Any, out: TextIO, err: TextIO, stdin: TextIO, tables: Any
) -> int:
    from .batch import evaluate_many
    from .failure import claim_id_of
    from .progress import Progress, wanted
    from .reader import ReadMeter, input_size, read_claims
    from .x12.cli import with_json_paths

    table = args.format in _TABLE_FORMATS
    threshold = SEVERITY_RANK[args.fail_on]
    statuses: Counter[str] = Counter()
    worst_reached = False
    meter = ReadMeter()
    sizes = [input_size(path, stdin) for path in args.paths]
    progress = Progress(
        err,
        enabled=wanted(out, err, quiet=args.quiet, summary_only=table),
        total_bytes=None if None in sizes else sum(s or 0 for s in sizes),
        position=lambda: meter.bytes_read,
    )
    err = progress.stream  # messages during the run go above the bar
    sinks: list[Any] = [tables.open()] if table else [_Printer(args.format, out)]
    sinks += tables.also()
    # Claims stream through evaluate_many (in order, bounded memory, optionally in worker
    # processes); `pending` remembers where each one came from and its id, and the records refused
    # on the way (unreadable, or invalid before parsing), so the report keeps the input's order.
    pending: deque[tuple[str, Exception | None, str | None]] = deque()

    def feed() -> Iterator[Any]:
        for path in args.paths:
            for record in read_claims(
                path, stdin, max_record_bytes=args.max_record_bytes, meter=meter
            ):
                pending.append((record.location, record.problem, claim_id_of(record.claim)))
                if record.problem is None:
                    yield record.claim

    def emit(outcome: Any, location: str, claim_id: str | None = None) -> None:
        for sink in sinks:
            sink.add(outcome, input=location, claim_id=claim_id)
        progress.advance()

    def flush_refused() -> None:
        while pending and pending[0][1] is not None:
            location, problem, _ = pending.popleft()
            if isinstance(problem, ClaimError):
                statuses["invalid"] += 1
            else:
                _say(err, str(problem))
                statuses["unreadable"] += 1
            emit(problem, location)

    handler = _StderrHandler(err)
    logger = logging.getLogger("hcpcs_rules")
    logger.addHandler(handler)
    results = evaluate_many(feed(), engine=engine, workers=args.workers, explain=args.explain)
    try:
        for result in results:
            flush_refused()
            location, _, claim_id = pending.popleft()
            if isinstance(result, ClaimError):
                statuses["invalid"] += 1
                emit(result, location, _refused_id(claim_id, result))
            elif isinstance(result, EvaluationFailure):
                statuses["failed"] += 1
                emit(result, location)
            else:
                statuses[result.status] += 1
                if any(SEVERITY_RANK[f.severity] >= threshold for f in result.findings):
                    worst_reached = True
                emit(with_json_paths(result), location)
        flush_refused()
    finally:
        results.close()  # stops worker processes at once if the output went away
        logger.removeHandler(handler)
        progress.close()  # before the summary: the bar leaves no line behind
    if args.format != "json":
        total = sum(statuses.values())
        parts = [
            f"{statuses[k]} {k}"
            for k in ("reject", "deny", "warn", "clean", "invalid", "unreadable", "failed")
            if statuses[k]
        ]
        print(f"{total} claim{'s' if total != 1 else ''}: {', '.join(parts) or 'none'}", file=out)
    if statuses["failed"]:
        return EXIT_INTERNAL
    if statuses["invalid"] or statuses["unreadable"]:
        return EXIT_INPUT
    return EXIT_FINDINGS if worst_reached else EXIT_OK


def _report(result: Any, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        print(_json_line(result.to_dict(), out), file=out)
        return
    claim_id = printable(result.claim_id)
    if not result.findings:
        print(f"{claim_id}  -  clean", file=out)
    for f in result.findings:
        line = "claim " if f.line is None else f"line {f.line}"
        # An overridden severity shows the rule's own beside it: the policy changed it, not the rule.
        severity = (
            f.severity if f.rule_severity is None else f"{f.severity} (rule: {f.rule_severity})"
        )
        # An X12 finding says where in the file to fix it; a JSON one's path is its line.
        at = ""
        if f.location is not None and f.location.segment is not None:
            from .x12.cli import describe

            at = f"  [{printable(describe(f.location))}]"  # CLM01 and ids come from the file
        print(
            f"{claim_id}  {line}  {printable(f.rule_id)}  {severity}  {printable(f.message)}{at}",
            file=out,
        )
    if result.ignored:
        ids = ", ".join(sorted({printable(f.rule_id) for f in result.ignored}))
        print(f"{claim_id}  -  ignored by the policy: {ids}", file=out)
    for step in result.trace:
        derived = f" -> {', '.join(step.derived)}" if step.derived else ""
        emitted = f" [{step.finding}]" if step.finding else ""
        if step.ignored:
            emitted = f" [{step.finding}, ignored by the policy]"
        text = (
            f"{step.rule_id} on {step.subject} matched {', '.join(step.matched)}{derived}{emitted}"
        )
        print(f"    trace {step.step:>3}: {printable(text)}", file=out)


def _report_invalid(
    location: str, exc: ClaimError, fmt: str, out: TextIO, claim_id: str | None = None
) -> None:
    if fmt == "json":
        # The claim's id when the record had a readable one and the id was not the problem
        # (None otherwise), so that a refused claim can be found and counted by id downstream.
        record = {
            "claim": location,
            "error": "invalid claim",
            "claim_id": claim_id,
            "errors": [list(e) for e in exc.errors],
        }
        print(_json_line(record, out), file=out)
        return
    for path, message in exc.errors:
        print(f"{printable(location)}  invalid  {printable(path)}: {printable(message)}", file=out)


def _report_failure(location: str, failure: EvaluationFailure, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        record = {"claim": location, "error": "internal error", **failure.to_dict()}
        print(_json_line(record, out), file=out)
        return
    rule = f" in rule {printable(failure.rule_id)}" if failure.rule_id else ""
    print(
        f"{printable(location)}  failed  {printable(failure.error_type)}{rule}: "
        f"{printable(failure.message)}",
        file=out,
    )


class _Failed(Exception):
    """Building the engine or program failed; the message was printed."""


def _engine(args: argparse.Namespace, err: TextIO, check_examples: bool = False) -> Any:
    from .engine import Engine
    from .limits import Limits

    # Only `check` reads claims; its --max-lines reaches the workers through Engine.config.
    max_lines = getattr(args, "max_lines", None)
    limits = None if max_lines is None else Limits(max_lines=max_lines)
    try:
        return Engine(
            args.rulesets,
            backend=args.backend,
            check_examples=check_examples,
            limits=limits,
            policy=getattr(args, "policy", None),  # only `check` reads one
        )
    except (RulesetError, RuntimeError) as exc:  # RuntimeError: backend unavailable here
        _say(err, str(exc))
        raise _Failed from None


def _policy(args: argparse.Namespace, err: TextIO) -> Any:
    """``check``'s policy: --config, else the file discovered from the working directory (unless
    --no-config), extended by --select/--ignore. The only place anything looks for a policy."""
    from .policy import Policy, discover

    try:
        if args.config is not None:
            policy = Policy.from_file(args.config)
        elif args.no_config:
            policy = None
        else:
            found = discover(Path.cwd())
            policy = None if found is None else Policy.from_file(found)
        if args.select is None and not args.ignore:
            return policy
        return (policy or Policy(origin="<command line>")).extend(
            select=None if args.select is None else _split_patterns(args.select),
            ignore=[p for text in args.ignore for p in _split_patterns([text])],
        )
    except RulesetError as exc:  # PolicyError
        _say(err, str(exc))
        raise _Failed from None


def _split_patterns(texts: list[str]) -> list[str]:
    return [p.strip() for text in texts for p in text.split(",") if p.strip()]


def _program(args: argparse.Namespace, err: TextIO) -> Any:
    from .compile import compile_files

    try:
        return compile_files(args.rulesets)
    except RulesetError as exc:
        _say(err, str(exc))
        raise _Failed from None


def _dump(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    print(_engine(args, err).dump(args.what), file=out)
    return EXIT_OK


def _rule(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import difflib

    from .reference import rule_markdown

    program = _program(args, err)
    ids = [r.id for r in program.rules]
    if args.rule_id not in ids:
        hint = difflib.get_close_matches(args.rule_id.upper(), ids, n=3)
        more = f"; did you mean {', '.join(hint)}?" if hint else ""
        _say(err, f"no rule {args.rule_id!r}{more}")
        return EXIT_INPUT
    _print_lines(rule_markdown(program.rule(args.rule_id), program), out)
    return EXIT_OK


def _docs(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .reference import DocsError, write_reference

    program = _program(args, err)
    try:
        # With --ruleset, only those rulesets' pages (not those of rulesets they require).
        only = _named_rulesets(program, args.rulesets) if args.rulesets else None
        written = write_reference(program, Path(args.out), only=only)
    except (DocsError, OSError) as exc:
        _say(err, f"docs: {exc}")
        return EXIT_INPUT
    print(f"wrote {len(written)} pages to {printable(args.out)}", file=out)
    return EXIT_OK


def _named_rulesets(program: Any, selection: list[str]) -> set[str]:
    paths = {os.path.realpath(s) for s in selection if s.endswith(".toml")}
    return {
        r.name for r in program.rulesets if r.name in selection or os.path.realpath(r.file) in paths
    }


def _functions(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .registry import build_functions

    try:
        table = build_functions(args.rulesets)
    except RulesetError as exc:
        _say(err, str(exc))
        return EXIT_INPUT
    for name, fn in sorted(table.items()):
        shown = f"{name}({', '.join(fn.params)}) -> {fn.shown_returns}: {fn.doc} [{fn.origin}]"
        _print_lines(shown, out)
    return EXIT_OK


def _rulesets(out: TextIO) -> int:
    from .registry import installed_rulesets

    broken = False
    for info in installed_rulesets():
        origin = info.distribution or "no distribution"
        _print_lines(
            f"{info.name} {info.version or '?'}  ({origin}; entry point {info.entry_point})", out
        )
        if info.path is not None:
            _print_lines(f"    file: {info.path}", out)
        for point in info.functions:
            _print_lines(f"    functions: entry point {point}", out)
        if info.problem is not None:
            broken = True
            _print_lines(f"    BROKEN: {info.problem}", out)
    return EXIT_INPUT if broken else EXIT_OK


def _test(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .authoring import junit_xml, run_examples

    cases = run_examples(args.names or None, args.backends)
    for case in cases:
        if not case.passed:
            what = f"[{case.rule_id}] example {case.example!r}" if case.rule_id else "build"
            _print_lines(f"FAIL {case.backend}: {case.where}: {what}: {case.problem}", out)
    if args.junit_xml:
        Path(args.junit_xml).write_text(junit_xml(cases), encoding="utf-8")
    by_backend: Counter[str] = Counter(c.backend for c in cases)
    failed: Counter[str] = Counter(c.backend for c in cases if not c.passed)
    for backend in by_backend:
        print(
            f"{backend}: {by_backend[backend] - failed[backend]} passed, {failed[backend]} failed",
            file=out,
        )
    return EXIT_FINDINGS if failed else EXIT_OK


def _claims_with_locations(
    args: argparse.Namespace, err: TextIO, stdin: TextIO, parse: Any = None
) -> Iterator[Any]:
    """``(location, claim)`` for every claim of ``args.paths``: JSON as ``check`` reads it, an
    837P (recognised by its content) read with ``--directory`` and ``--sidecar`` as ``check``
    reads one (``parse``: the engine's, so its payers and extensions are known). Records that
    are not claims are said on ``err`` and left out."""
    from .reader import read_claims
    from .x12.cli import is_x12_path

    x12 = _x12_reference(args, err) if any(is_x12_path(p) for p in args.paths) else None
    for path in args.paths:
        if x12 is not None and is_x12_path(path):
            from .x12 import X12Error, read_837p
            from .x12.cli import describe

            directory, sidecar = x12
            reader = read_837p(path, parse=parse, directory=directory, sidecar=sidecar)
            for item in reader:
                if isinstance(item, X12Error):
                    _say(err, f"{path}: {item.message} [{describe(item.location)}]")
                else:
                    yield f"{path}:{item.claim.id}", item.claim
            continue
        for record in read_claims(path, stdin, max_record_bytes=args.max_record_bytes):
            if record.problem is None:
                yield record.location, record.claim
            else:  # unreadable or not a claim: said, and left out of the counts
                _say(err, f"{record.location}: {record.problem}")


def _x12_reference(args: argparse.Namespace, err: TextIO) -> tuple[Any, Any]:
    """The directory and sidecar an 837P input needs (``--directory`` required, as for
    ``check``); raises _Failed, said, when it is missing or unreadable."""
    from .x12.reference import ReferenceError, load_directory, load_sidecar

    if args.directory is None:
        _say(err, "an X12 837P needs --directory PATH (the supplier directory); see docs/x12.md")
        raise _Failed
    try:
        directory = load_directory(args.directory)
        sidecar = load_sidecar(args.sidecar) if args.sidecar else None
    except ReferenceError as exc:
        _say(err, str(exc))
        raise _Failed from None
    return directory, sidecar


def _coverage(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from .authoring import coverage

    engine = _engine(args, err)
    claims = _claims_with_locations(args, err, stdin, engine.parse_claim)
    report = coverage(engine, (claim for _, claim in claims))
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2), file=out)
        return EXIT_OK
    width = max((len(r) for r in report.fired), default=0)
    for rule_id, count in report.fired.items():
        _print_lines(f"{rule_id:<{width}}  {count}", out)
    never = report.never
    print(
        f"{report.claims} claims ({report.invalid} invalid, {report.failed} failed); "
        f"{len(report.fired) - len(never)} of {len(report.fired)} rules fired",
        file=out,
    )
    if never:
        _print_lines("never fired: " + ", ".join(never), out)
    return EXIT_OK


def _diff(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from .authoring import diff
    from .engine import Engine

    engines = []
    for side in (args.old, args.new):
        try:
            engines.append(Engine(side, backend=args.backend))
        except (RulesetError, RuntimeError) as exc:
            _say(err, str(exc))
            return EXIT_INPUT
    # An 837's claims are read under the new rulesets' payers and extensions; the old engine
    # reads each claim again under its own (a claim it cannot take is a status of "invalid").
    claims = _claims_with_locations(args, err, stdin, engines[1].parse_claim)
    totals: Counter[str] = Counter()
    for change in diff(engines[0], engines[1], claims):
        totals["claims"] += 1
        if not change.changes and change.old_status == change.new_status:
            continue
        totals["changed"] += 1
        for c in change.changes:
            totals[c.kind] += 1
        if args.format == "json":
            print(json.dumps(change.to_dict()), file=out)
            continue
        _print_lines(
            f"{change.location} {change.claim_id or ''}: {change.old_status} -> {change.new_status}",
            out,
        )
        for c in change.changes:
            line = "claim" if c.line is None else f"line {c.line}"
            if c.kind == "severity":
                text = f"  ~ {c.rule_id} ({line}): {c.old_severity} -> {c.new_severity}"
            elif c.kind == "added":
                text = f"  + {c.rule_id} ({line}, {c.new_severity}): {c.message}"
            else:
                text = f"  - {c.rule_id} ({line}, {c.old_severity}): {c.message}"
            _print_lines(text, out)
    summary = (
        f"{totals['claims']} claims, {totals['changed']} changed: {totals['added']} findings added, "
        f"{totals['removed']} removed, {totals['severity']} changed severity"
    )
    print(summary, file=err if args.format == "json" else out)
    return EXIT_FINDINGS if totals["changed"] else EXIT_OK


def _html_report(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    """``report``: results (JSON Lines or Parquet) -> one HTML file (hcpcs_rules.report)."""
    from .report import Caps, ReportInputError, aggregate_inputs, render_html, write_html

    if args.paths.count("-") > 1:
        _say(err, "report: standard input (-) can be read only once")
        return EXIT_INPUT
    try:
        caps = Caps(findings=args.max_findings)
        aggregator = aggregate_inputs(
            args.paths, stdin, caps=caps, max_record_bytes=args.max_record_bytes
        )
    except ReportInputError as exc:  # nothing is written from part of the inputs
        _say(err, f"report: {exc}")
        return EXIT_INPUT
    data = aggregator.close()
    for problem in data["problems"]["rows"]:
        _say(err, f"{problem['location']}: {problem['message']}")
    if data["problems"]["not_shown"]:
        _say(err, f"... and {data['problems']['not_shown']:,} more unreadable records")
    page = render_html(data, title=args.title, inputs=args.paths)
    if args.output == "-":
        out.write(page)
    else:
        try:
            write_html(args.output, page)
        except OSError as exc:
            _say(err, f"report: cannot write {args.output}: {exc.strerror or exc}")
            return EXIT_INPUT
    totals = data["totals"]
    # A one-line summary on stderr: stdout may be the page itself (-o -).
    _say(
        err,
        f"report: {totals['claims']:,} claims, {totals['findings']:,} findings"
        + (f", {aggregator.problems:,} unreadable records" if aggregator.problems else "")
        + ("" if args.output == "-" else f" -> {args.output}"),
    )
    return EXIT_INPUT if aggregator.problems else EXIT_OK


_EPILOG = "exit status:\n" + "\n".join(
    f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items()
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hcpcs-rules",
        description="Check claim lines against HCPCS rulesets.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hcpcs-rules {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an internal failure"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    # --debug is accepted after the command too; SUPPRESS keeps a subcommand from resetting it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the traceback of an internal failure",
    )

    def engine_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--ruleset",
            dest="rulesets",
            action="append",
            metavar="NAME_OR_PATH",
            help="use only these rulesets (repeatable; default: all installed)",
        )
        p.add_argument(
            "--backend",
            default="python",
            choices=("python", "durable"),
            help="engine backend (default: python)",
        )

    check = sub.add_parser(
        "check",
        parents=[common],
        help="check claims and print findings",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="JSON claim, JSON array, JSON Lines, folder, or - for stdin",
    )
    check.add_argument(
        "--format",
        choices=("text", "json", "277ca", "parquet", "csv"),
        default="text",
        help="277ca: a 277CA claim acknowledgment for X12 837P input (docs/x12.md); parquet, "
        "csv: the claims and findings tables, written into --output DIR (docs/outputs.md)",
    )
    check.add_argument(
        "--output",
        metavar="DIR",
        help="with --format parquet|csv: the folder that gets claims.EXT and findings.EXT "
        "(created if missing); standard output then gets only the summary line",
    )
    check.add_argument(
        "--html",
        metavar="PATH",
        help="also write the HTML report of the run to PATH (one self-contained page: "
        "docs/reports.md), whatever --format prints",
    )
    check.add_argument(
        "--force",
        action="store_true",
        help="replace the tables already in --output DIR (other files there are left alone)",
    )
    check.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar (one is shown on a terminal's stderr for runs over 2 seconds)",
    )
    check.add_argument(
        "--validate-999",
        metavar="PATH",
        help="X12 input: also validate it against the 837P guide with pyx12 (the [x12] extra) "
        "and write its 999 to PATH",
    )
    check.add_argument(
        "--directory",
        metavar="PATH",
        help="supplier directory (JSON keyed by NPI) for X12 837P input; see docs/x12.md",
    )
    check.add_argument(
        "--sidecar", metavar="PATH", help="per-claim data keyed by CLM01 for X12 837P input"
    )
    check.add_argument(
        "--fail-on",
        choices=("reject", "deny", "warn", "info"),
        default="reject",
        help="exit 1 when a finding is at least this severe",
    )
    check.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="evaluate in N worker processes (0: one per CPU; default: 1, in this process)",
    )
    check.add_argument(
        "--explain",
        action="store_true",
        help="also print which rules fired on which facts (text) / fill trace (json)",
    )
    check.add_argument(
        "--max-record-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_RECORD_BYTES,
        metavar="BYTES",
        help=f"largest JSON Lines line, array element or document read (default: {DEFAULT_MAX_RECORD_BYTES:,})",
    )
    check.add_argument(
        "--max-lines",
        type=_positive_int,
        default=None,
        metavar="N",
        help="most service lines per claim (default: 50, the 837P limit; see Limits in docs/claim-format.md)",
    )
    config = check.add_mutually_exclusive_group()
    config.add_argument(
        "--config",
        metavar="PATH",
        help="policy file (hcpcs-rules.toml, or a pyproject.toml with [tool.hcpcs-rules]); "
        "default: the nearest one from the working directory up",
    )
    config.add_argument(
        "--no-config", action="store_true", help="use no policy file, not even a discovered one"
    )
    check.add_argument(
        "--select",
        action="append",
        metavar="IDS",
        help="keep only these rules' findings: ids or globs, comma-separated (replaces the policy's select)",
    )
    check.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="IDS",
        help="drop these rules' findings: ids or globs, comma-separated (added to the policy's ignore)",
    )
    engine_options(check)

    dump = sub.add_parser(
        "dump", parents=[common], help="print a compiled artefact: the IR or the backend's"
    )
    dump.add_argument("what", choices=("ir", "backend"))
    engine_options(dump)

    rule = sub.add_parser(
        "rule",
        parents=[common],
        help="print one rule's reference: severity by payer, when it fires, source, examples",
    )
    rule.add_argument("rule_id", metavar="RULE_ID")
    rule.add_argument("--ruleset", dest="rulesets", action="append", metavar="NAME_OR_PATH")

    docs = sub.add_parser(
        "docs", parents=[common], help="regenerate the rule reference pages (docs/rules/)"
    )
    docs.add_argument("--out", default="docs/rules", help="folder to write (default: docs/rules)")
    docs.add_argument("--ruleset", dest="rulesets", action="append", metavar="NAME_OR_PATH")

    functions = sub.add_parser(
        "functions",
        parents=[common],
        help="list the functions conditions may call, with who registered each",
    )
    functions.add_argument("--ruleset", dest="rulesets", action="append", metavar="NAME_OR_PATH")

    sub.add_parser(
        "rulesets", parents=[common], help="list installed rulesets: version, distribution, file"
    )

    test = sub.add_parser(
        "test", parents=[common], help="run rulesets' examples on every available backend"
    )
    test.add_argument("names", nargs="*", metavar="RULESET", help="names or paths (default: all)")
    test.add_argument(
        "--backend",
        dest="backends",
        action="append",
        choices=("python", "durable"),
        help="only this backend (repeatable; default: every one available here)",
    )
    test.add_argument("--junit-xml", metavar="PATH", help="also write JUnit XML for CI")

    def claim_input(p: argparse.ArgumentParser) -> None:
        p.add_argument("paths", nargs="+", metavar="PATH", help="claims, as for check")
        p.add_argument(
            "--directory", metavar="PATH", help="supplier directory for X12 837P input (as check)"
        )
        p.add_argument("--sidecar", metavar="PATH", help="per-claim data for X12 837P input")
        p.add_argument("--format", choices=("text", "json"), default="text")
        p.add_argument(
            "--max-record-bytes",
            type=_positive_int,
            default=DEFAULT_MAX_RECORD_BYTES,
            metavar="BYTES",
            help="largest record read (as for check)",
        )

    cover = sub.add_parser(
        "coverage", parents=[common], help="how often each rule fired over claims; which never did"
    )
    claim_input(cover)
    engine_options(cover)

    compare = sub.add_parser(
        "diff",
        parents=[common],
        help="findings that appear, disappear or change severity between two ruleset versions",
    )
    claim_input(compare)
    compare.add_argument(
        "--old", action="append", required=True, metavar="NAME_OR_PATH", help="repeatable"
    )
    compare.add_argument(
        "--new", action="append", required=True, metavar="NAME_OR_PATH", help="repeatable"
    )
    compare.add_argument("--backend", default="python", choices=("python", "durable"))

    report = sub.add_parser(
        "report",
        parents=[common],
        help="write an HTML report of checked claims (docs/reports.md)",
        description="Read the results of `check --format json` (JSON Lines) or the Parquet "
        "tables of `check --format parquet` / Spark, and write one self-contained HTML page: "
        "totals by status and payer, top rules, findings by month, a table of findings.",
    )
    report.add_argument(
        "paths",
        nargs="+",
        metavar="RESULTS",
        help="JSON Lines results, a folder of them, Parquet files or a folder of claims/findings "
        "tables, or - for stdin",
    )
    report.add_argument(
        "-o", "--output", required=True, metavar="PATH", help="the HTML file (- for stdout)"
    )
    report.add_argument("--title", default="Claim check report", help="the page's title")
    report.add_argument(
        "--max-findings",
        type=_positive_int,
        default=2000,
        metavar="N",
        help="findings listed in the table (default: 2000; all are counted)",
    )
    report.add_argument(
        "--max-record-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_RECORD_BYTES,
        metavar="BYTES",
        help="largest JSON Lines record read (as for check)",
    )
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _run(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    try:
        if args.command == "check":
            return _check(args, out, err, stdin)
        if args.command == "dump":
            return _dump(args, out, err)
        if args.command == "rule":
            return _rule(args, out, err)
        if args.command == "docs":
            return _docs(args, out, err)
        if args.command == "rulesets":
            return _rulesets(out)
        if args.command == "test":
            return _test(args, out, err)
        if args.command == "coverage":
            return _coverage(args, out, err, stdin)
        if args.command == "diff":
            return _diff(args, out, err, stdin)
        if args.command == "report":
            return _html_report(args, out, err, stdin)
        return _functions(args, out, err)
    except _Failed:
        return EXIT_INPUT


def main(
    argv: list[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run the command; returns the exit status (see the module docstring). Never raises, and
    never prints a traceback unless ``--debug`` is given."""
    out, err, stdin = out or sys.stdout, err or sys.stderr, stdin or sys.stdin
    for stream in (out, err):
        if stream is sys.stdout or stream is sys.stderr:
            # Text the output encoding cannot hold is escaped rather than a crash mid-report.
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")
    # Known before parsing, so that a failure while parsing is reported as --debug asks.
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
            return exc.code if isinstance(exc.code, int) else EXIT_INPUT
        debug = args.debug
        return _run(args, out, err, stdin)
    except BrokenPipeError:
        _silence(out)
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        _quietly(err, "interrupted")
        return EXIT_INTERRUPTED
    except WorkerError as exc:
        return _internal(err, exc, debug, "worker processes failed")
    except Exception as exc:
        return _internal(err, exc, debug, "internal error")


def _internal(err: TextIO, exc: Exception, debug: bool, what: str) -> int:
    if debug:
        traceback.print_exc(file=err)
    hint = "" if debug else " (run with --debug for the traceback)"
    _quietly(err, f"{what}: {type(exc).__name__}: {one_line(exc)}{hint}")
    return EXIT_INTERNAL


def _quietly(err: TextIO, message: str) -> None:
    with contextlib.suppress(Exception):  # stderr itself is gone: the exit status still tells
        print(f"hcpcs-rules: {printable(message)}", file=err)


def _silence(out: TextIO) -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush of what
    is still buffered cannot fail (and print its own traceback) at exit."""
    if out is sys.stdout:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
