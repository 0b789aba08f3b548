"""The ``hcpcs-rules`` command.

``hcpcs-rules check PATH...`` checks claims: a JSON claim, a JSON array of claims, JSON Lines
(one claim per line), a folder of ``.json``/``.jsonl`` files, or ``-`` for standard input.

Exit status: 0 when no finding reached ``--fail-on`` (default: reject); 1 when one did; 2 on a
usage error, an unreadable file, or an invalid claim (each invalid claim is reported with its
``ClaimError`` and the run goes on with the next one).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .errors import ClaimError, RulesetError
from .model import SEVERITY_RANK

__all__ = ["main"]

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2


class _Unreadable(Exception):
    """A file (or line of a file) that is not JSON at all."""


def _iter_claims(path_text: str, stdin: TextIO) -> Iterator[tuple[str, Any]]:
    """Yield (location, claim data) for every claim under ``path_text``."""
    if path_text == "-":
        yield from _parse_text("<stdin>", stdin.read())
        return
    path = Path(path_text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl"))
        if not files:
            raise _Unreadable(f"{path}: no .json or .jsonl files in this folder")
        for file in files:
            yield from _iter_claims(str(file), stdin)
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Unreadable(f"{path}: cannot read: {exc}") from None
    yield from _parse_text(str(path), text, jsonl=path.suffix == ".jsonl")


def _parse_text(name: str, text: str, jsonl: bool = False) -> Iterator[tuple[str, Any]]:
    """One JSON document (a claim or an array of claims), or JSON Lines (one claim per line).

    ``.jsonl`` files are always read as lines; other text is read as lines only when it is not
    one JSON document. Numbers with a fraction stay visible as floats (see _FloatLiteral) so
    the claim parser reports them instead of guessing.
    """
    if not jsonl:
        try:
            data = json.loads(text, parse_float=_FloatLiteral)
        except json.JSONDecodeError as exc:
            if len([ln for ln in text.splitlines() if ln.strip()]) < 2:
                raise _Unreadable(f"{name}: not JSON: {exc}") from None
        else:
            if isinstance(data, list):
                for index, item in enumerate(data):
                    yield f"{name}[{index}]", item
            else:
                yield name, data
            return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{name}:{number}", json.loads(line, parse_float=_FloatLiteral)
        except json.JSONDecodeError as exc:
            yield f"{name}:{number}", _Unreadable(f"{name}:{number}: not JSON: {exc}")


class _FloatLiteral(float):
    """A JSON number with a fraction or exponent: kept as a float subclass so the claim parser
    reports it as a float (inexact), with its original text."""

    def __new__(cls, text: str) -> _FloatLiteral:
        obj = super().__new__(cls, text)
        obj.text = text  # type: ignore[attr-defined]
        return obj

    def __repr__(self) -> str:
        return self.text  # type: ignore[attr-defined]


def _check(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from .batch import evaluate_many

    engine = _engine(args, err)
    threshold = SEVERITY_RANK[args.fail_on]
    statuses: Counter[str] = Counter()
    worst_reached = False
    # Claims stream through evaluate_many (in order, bounded memory, optionally in worker
    # processes); `pending` remembers where each one came from, and the unreadable inputs met on
    # the way, so the report keeps the input's order.
    pending: deque[tuple[str, Exception | None]] = deque()

    def feed() -> Iterator[Any]:
        for path in args.paths:
            try:
                for location, data in _iter_claims(path, stdin):
                    if isinstance(data, _Unreadable):
                        pending.append((location, data))
                    else:
                        pending.append((location, None))
                        yield data
            except _Unreadable as exc:
                pending.append((path, exc))

    def flush_unreadable() -> None:
        while pending and pending[0][1] is not None:
            print(f"hcpcs-rules: {pending.popleft()[1]}", file=err)
            statuses["unreadable"] += 1

    workers = args.workers
    results = evaluate_many(
        feed(),
        engine=engine if workers == 1 else None,
        workers=workers,
        rulesets=args.rulesets,
        backend=args.backend,
        explain=args.explain,
    )
    for result in results:
        flush_unreadable()
        location, _ = pending.popleft()
        if isinstance(result, ClaimError):
            statuses["invalid"] += 1
            _report_invalid(location, result, args.format, out)
            continue
        statuses[result.status] += 1
        if any(SEVERITY_RANK[f.severity] >= threshold for f in result.findings):
            worst_reached = True
        _report(result, args.format, out)
    flush_unreadable()
    if args.format == "text":
        total = sum(statuses.values())
        parts = [
            f"{statuses[k]} {k}"
            for k in ("reject", "deny", "warn", "clean", "invalid", "unreadable")
            if statuses[k]
        ]
        print(f"{total} claim{'s' if total != 1 else ''}: {', '.join(parts) or 'none'}", file=out)
    if statuses["invalid"] or statuses["unreadable"]:
        return EXIT_INPUT
    return EXIT_FINDINGS if worst_reached else EXIT_OK


def _report(result: Any, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        print(json.dumps(result.to_dict(), ensure_ascii=False), file=out)
        return
    if not result.findings:
        print(f"{result.claim_id}  -  clean", file=out)
    for f in result.findings:
        line = "claim " if f.line is None else f"line {f.line}"
        print(f"{result.claim_id}  {line}  {f.rule_id}  {f.severity}  {f.message}", file=out)
    for step in result.trace:
        derived = f" -> {', '.join(step.derived)}" if step.derived else ""
        emitted = f" [{step.finding}]" if step.finding else ""
        print(
            f"    trace {step.step:>3}: {step.rule_id} on {step.subject} matched {', '.join(step.matched)}{derived}{emitted}",
            file=out,
        )


def _report_invalid(location: str, exc: ClaimError, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        record = {
            "claim": location,
            "error": "invalid claim",
            "errors": [list(e) for e in exc.errors],
        }
        print(json.dumps(record, ensure_ascii=False), file=out)
        return
    for path, message in exc.errors:
        print(f"{location}  invalid  {path}: {message}", file=out)


class _Failed(Exception):
    """Building the engine or program failed; the message was printed."""


def _engine(args: argparse.Namespace, err: TextIO) -> Any:
    from .engine import Engine

    try:
        return Engine(args.rulesets, backend=args.backend, check_examples=False)
    except (RulesetError, RuntimeError) as exc:  # RuntimeError: backend unavailable here
        print(f"hcpcs-rules: {exc}", file=err)
        raise _Failed from None


def _program(args: argparse.Namespace, err: TextIO) -> Any:
    from .compile import compile_files

    try:
        return compile_files(args.rulesets)
    except RulesetError as exc:
        print(f"hcpcs-rules: {exc}", file=err)
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
        print(f"hcpcs-rules: no rule {args.rule_id!r}{more}", file=err)
        return EXIT_INPUT
    print(rule_markdown(program.rule(args.rule_id), program), file=out)
    return EXIT_OK


def _docs(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .reference import write_reference

    written = write_reference(_program(args, err), Path(args.out))
    print(f"wrote {len(written)} pages to {args.out}", file=out)
    return EXIT_OK


def _functions(out: TextIO) -> int:
    from .functions import FUNCTIONS

    for name, fn in sorted(FUNCTIONS.items()):
        print(f"{name}({', '.join(fn.params)}) -> {fn.returns}: {fn.doc}", file=out)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hcpcs-rules", description="Check claim lines against HCPCS rulesets."
    )
    parser.add_argument("--version", action="version", version=f"hcpcs-rules {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

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

    check = sub.add_parser("check", help="check claims and print findings")
    check.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="JSON claim, JSON array, JSON Lines, folder, or - for stdin",
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
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
    engine_options(check)

    dump = sub.add_parser("dump", help="print a compiled artefact: the IR or the backend's")
    dump.add_argument("what", choices=("ir", "backend"))
    engine_options(dump)

    rule = sub.add_parser(
        "rule",
        help="print one rule's reference: severity by payer, when it fires, source, examples",
    )
    rule.add_argument("rule_id", metavar="RULE_ID")
    rule.add_argument("--ruleset", dest="rulesets", action="append", metavar="NAME_OR_PATH")

    docs = sub.add_parser("docs", help="regenerate the rule reference pages (docs/rules/)")
    docs.add_argument("--out", default="docs/rules", help="folder to write (default: docs/rules)")
    docs.add_argument("--ruleset", dest="rulesets", action="append", metavar="NAME_OR_PATH")

    sub.add_parser("functions", help="list the functions conditions may call")
    return parser


def main(
    argv: list[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    out, err, stdin = out or sys.stdout, err or sys.stderr, stdin or sys.stdin
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    try:
        if args.command == "check":
            return _check(args, out, err, stdin)
        if args.command == "dump":
            return _dump(args, out, err)
        if args.command == "rule":
            return _rule(args, out, err)
        if args.command == "docs":
            return _docs(args, out, err)
        return _functions(out)
    except _Failed:
        return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
