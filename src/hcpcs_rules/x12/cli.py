"""``hcpcs-rules check`` on X12 files: the glue between cli.py and the 837P reader."""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

import attrs

from ..errors import printable
from ..model import SEVERITY_RANK, Location, Result
from ..output import Sink
from ..progress import Progress, wanted
from ..rows import describe_location
from .ack import iter_277ca
from .check import as_outcome, check_837p, is_x12
from .read import X12Error
from .reference import Directory, ReferenceError, load_directory, load_sidecar

__all__ = ["check_x12", "describe", "is_x12_path", "with_json_paths"]


def is_x12_path(path: str) -> bool:
    """Whether ``path`` is an X12 file, by its first bytes (not its name)."""
    if path == "-" or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as f:
            return is_x12(f.read(64))
    except OSError:
        return False


def describe(where: Location) -> str:
    """A location as one short text: ``ISA 000000001 GS 1 ST 0001 CLM A-1 LX 2 segment 23 (SV1)
    at byte 812``, or the JSON path (the same text the result tables' ``location`` holds)."""
    return describe_location(where) or ""


def with_json_paths(result: Result) -> Result:
    """A JSON claim's result with each finding located by its JSON path (``$`` for the claim,
    ``$.lines[0]`` for its first line)."""

    def where(finding: Any) -> Any:
        path = "$" if finding.line is None else f"$.lines[{finding.line - 1}]"
        return attrs.evolve(finding, location=Location(json_path=path))

    return attrs.evolve(
        result,
        findings=tuple(where(f) for f in result.findings),
        ignored=tuple(where(f) for f in result.ignored),
    )


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:  # gone since it was looked at: reading it will say so
        return 0


def _report_error(path: str, error: X12Error, fmt: str, out: TextIO, json_line: Any) -> None:
    if fmt == "json":
        print(json_line({"claim": path, **error.to_dict()}, out), file=out)
        return
    kind = "refused" if error.claim_id is not None else "error"
    text = f"{path}  {kind}  {describe(error.location)}: {error.message}"
    print(printable(text), file=out)


def check_x12(
    args: argparse.Namespace,
    engine: Any,
    out: TextIO,
    err: TextIO,
    *,
    report: Any,
    json_line: Any,
    exits: tuple[int, int, int],
    open_tables: Callable[[], Sink] | None = None,
    also: Callable[[], list[Sink]] | None = None,
) -> int:
    """Check every path of ``args.paths`` (all X12) and print as ``check`` does; with
    ``open_tables`` (the table formats), each claim and error goes to the sink it opens instead,
    and standard output gets the summary line only. ``also`` opens more sinks (the HTML report)
    that get every claim and error besides."""
    exit_ok, exit_findings, exit_input = exits
    if (args.format == "277ca" or args.validate_999) and not any(
        is_x12_path(p) for p in args.paths
    ):
        print("check: --format 277ca and --validate-999 answer X12 837P input only", file=err)
        return exit_input
    missing = [p for p in args.paths if p == "-" or not os.path.isfile(p)]
    if missing:
        print(
            f"check: {missing[0]!r} is not a readable file (X12 is read from files, not stdin "
            "or folders)",
            file=err,
        )
        return exit_input
    if not all(is_x12_path(p) for p in args.paths):
        print(
            "check: give X12 files and JSON claims in separate runs (X12 needs --directory)",
            file=err,
        )
        return exit_input
    # Not wired for X12 yet: refused rather than silently ignored.
    if args.workers != 1:
        print("check: --workers is not supported for X12 input yet", file=err)
        return exit_input
    if args.explain and args.format == "277ca":
        print("check: --explain has no place in a 277CA: use --format text or json", file=err)
        return exit_input
    if args.directory is None:
        print(
            "check: an X12 837P needs --directory PATH (the supplier directory): the 837 says "
            "nothing of enrollment, accreditation, bond or licence, and the rules must not read "
            "that silence as 'none'; see docs/x12.md",
            file=err,
        )
        return exit_input
    try:
        directory: Directory = load_directory(args.directory)
        sidecar = load_sidecar(args.sidecar) if args.sidecar else None
    except ReferenceError as exc:  # may quote the directory's or sidecar's own text
        print(printable(f"check: {exc}"), file=err)
        return exit_input
    invalid = False
    if args.validate_999 is not None:
        if len(args.paths) != 1:
            print("check: --validate-999 writes one 999: give one X12 file", file=err)
            return exit_input
        try:
            from .validate import ValidationUnavailable, validate_x12

            validation = validate_x12(args.paths[0])
        except ValidationUnavailable as exc:
            print(f"check: {exc}", file=err)
            return exit_input
        try:
            with open(args.validate_999, "w", encoding="ascii") as f:
                f.write(validation.ack999)
        except OSError as exc:
            print(printable(f"check: cannot write the 999 to {args.validate_999}: {exc}"), file=err)
            return exit_input
        for problem in validation.problems:
            print(printable(f"{args.paths[0]}  invalid  {problem}"), file=err)
        invalid = not validation.valid
    threshold = SEVERITY_RANK[args.fail_on]
    statuses: Counter[str] = Counter()
    read = checked = refused = errors = 0
    worst = False
    ack = args.format == "277ca"
    tables = open_tables() if open_tables is not None else None
    extra = also() if also is not None else []
    # The bar's position: the bytes of the files already checked, plus the offset of the last
    # claim or error of the current one (every outcome knows where in its file it sits).
    sizes = [_size(p) for p in args.paths]
    position = [0, 0]  # [bytes of earlier files, offset in the current file]
    progress = Progress(
        err,
        enabled=wanted(
            out, err, quiet=getattr(args, "quiet", False), summary_only=tables is not None
        ),
        total_bytes=sum(sizes),
        position=lambda: position[0] + position[1],
    )
    err = progress.stream  # messages during the run go above the bar
    # With --format 277ca the acknowledgment goes to stdout and everything said about the run
    # (refusals, file errors, the summary) to stderr, so the 277CA can be piped as it is.
    said = err if ack else out
    sidecar_used: set[str] = set()  # the sidecar's claim ids some file had
    try:
        for number, path in enumerate(args.paths, start=1):
            reader, outcomes = check_837p(
                engine, path, directory=directory, sidecar=sidecar, explain=args.explain
            )

            def counted(outcomes: Any = outcomes, path: str = path) -> Any:
                nonlocal worst
                for outcome in outcomes:
                    where = outcome.location
                    if isinstance(outcome, X12Error):
                        stated = as_outcome(outcome)
                        for sink in extra:
                            sink.add(stated, input=path, claim_id=outcome.claim_id, location=where)
                        if tables is not None:
                            tables.add(
                                stated,
                                input=path,
                                claim_id=outcome.claim_id,
                                location=where,
                            )
                        else:
                            fmt = "text" if ack else args.format
                            _report_error(path, outcome, fmt, said, json_line)
                    else:
                        statuses[outcome.status] += 1
                        if any(SEVERITY_RANK[f.severity] >= threshold for f in outcome.findings):
                            worst = True
                        for sink in extra:
                            sink.add(outcome, input=path)
                        if tables is not None:
                            tables.add(outcome, input=path)
                        elif not ack:
                            report(outcome, args.format, out)
                    if where is not None and where.offset is not None:
                        position[1] = where.offset
                    progress.advance()
                    yield outcome

            if ack:
                # Written as it is made, a transaction at a time: memory stays flat whatever the
                # file's size (a failure part way leaves the 277CA without its trailer, and exit 3).
                for piece in iter_277ca(counted(), path, control_number=number):
                    out.write(piece)
            else:
                for _ in counted():
                    pass
            position[0] += sizes[number - 1]
            position[1] = 0
            summary = reader.summary
            sidecar_used.update(summary.sidecar_used)
            read += summary.claims_read
            checked += summary.claims_parsed
            refused += summary.claims_refused
            errors += summary.errors
    finally:
        progress.close()  # before the summary: the bar leaves no line behind
    err = progress.stream
    if sidecar is not None:
        # One sidecar for every file: an entry is unused when no file had its claim, which is
        # known only once all are read (each file alone would name the others' claims).
        unused = sorted(set(sidecar.claims) - sidecar_used)
        if unused:
            where = f"{args.paths[0]}: " if len(args.paths) == 1 else ""
            what = "this file" if len(args.paths) == 1 else f"any of the {len(args.paths)} files"
            more = len(unused) - 10
            print(
                printable(
                    f"check: {where}the sidecar has entries for claims not in {what}: "
                    f"{', '.join(unused[:10])}{f' and {more} more' if more > 0 else ''}"
                ),
                file=err,
            )
    said = err if ack else out
    if args.format != "json":
        parts = [f"{statuses[k]} {k}" for k in ("reject", "deny", "warn", "clean") if statuses[k]]
        print(
            f"{read} claim{'s' if read != 1 else ''} read: {checked} checked "
            f"({', '.join(parts) or 'none'}), {refused} refused; {errors} file error"
            f"{'s' if errors != 1 else ''}",
            file=said,
        )
    if refused or errors or invalid:
        return exit_input
    return exit_findings if worst else exit_ok
