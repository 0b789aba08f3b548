"""Stage 2 of the pipeline: what ruleset files *mean* -> a validated, stratified :class:`~ir.Program`.

The compiler reads :class:`~hcpcs_rules.load.RulesetText` values and checks everything a ruleset
author can get wrong, collecting every problem (with file, line and rule id) before raising one
:class:`~hcpcs_rules.errors.RulesetError`: unknown keys, fields or functions (with "did you mean"),
wrong types, duplicate ids across rulesets, cycles between derived facts, examples that are not
claims.

It is an ordered sequence of passes (:data:`PASSES`), each a function of the shared
:class:`~.context.Build` in a module of its own:

1. :func:`~.read.read_specs` (``read.py``): headers, constants, each rule's keys and their shape;
2. :func:`~.resolve.resolve_facts` (``resolve.py``): derived facts declared, ordered by what
   their fields read;
3. :func:`~.typecheck.type_check` (``typecheck.py``): fact fields, ``when``, message templates;
4. :func:`~.lower.lower` (``lower.py``): codes, scope, effective dates and severities per payer
   into IR fields (``Rule.codes``, ``scope``, ``effective``, ``finding.severity``; their meaning
   as conditions is :func:`hcpcs_rules.ir.field_conjuncts`); each sound rule becomes an
   :class:`~hcpcs_rules.ir.Rule`;
5. :func:`~.resolve.check_requires` (``resolve.py``): each rule reads only the facts of its own
   ruleset and the rulesets it requires;
6. :func:`~.stratify.stratify` (``stratify.py``): strata and evaluation order;
7. :func:`~.examples.check_examples` (``examples.py``): example claims built and patched.

Problems are reported through an error context bound to the file and rule
(:class:`~.context.Where`). Two derived facts have a fixed meaning for the lowering and must be
declared by some ruleset (the built-in ``core`` does): ``payer_scope`` (per claim: ``overlay``,
``program``) and ``service`` (per line: ``date``, ``place``); see :mod:`hcpcs_rules.ir`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .. import ir, load
from ..errors import RulesetError, RulesetProblem

# The lowering's fixed facts and IR shapes are defined with the IR, where the backends read them
# too; re-exported because the lowering writes them.
from ..ir import SCOPE_FACT, SERVICE_FACT, codes_conjunct, field_conjuncts, scope_conjunct
from ..reasons import CodeList
from .context import MAX_INT_DIGITS, MAX_LIST_ITEMS, MAX_TEXT, PROGRAMS, SEVERITIES
from .examples import check_examples
from .lower import lower
from .read import read_specs
from .resolve import check_requires, resolve_facts
from .state import Build
from .stratify import stratify
from .typecheck import type_check

__all__ = [
    "MAX_INT_DIGITS",
    "MAX_LIST_ITEMS",
    "MAX_TEXT",
    "PASSES",
    "PROGRAMS",
    "SCOPE_FACT",
    "SERVICE_FACT",
    "SEVERITIES",
    "check_requires",
    "codes_conjunct",
    "compile_files",
    "compile_program",
    "field_conjuncts",
    "scope_conjunct",
]

#: The compiler, in order. Each pass reads what earlier ones left in the Build and adds its own;
#: problems are collected across all of them and raised together at the end.
PASSES: tuple[Callable[[Build], None], ...] = (
    read_specs,
    resolve_facts,
    type_check,
    lower,
    check_requires,
    stratify,
    check_examples,
)


def compile_files(
    selection: Iterable[str | Path] | None = None, reason_codes: CodeList | None = None
) -> ir.Program:
    """Resolve ruleset names/paths (plus what they require) and compile them (``reason_codes``:
    see :func:`compile_program`)."""
    # Once per build: names in the selection and in `requires` both use it. Entry points are
    # loaded only for the rulesets actually used.
    installed = load.Installed()
    files = load.resolve(selection, installed)
    texts: dict[str, load.RulesetText] = {}
    order: list[str] = []
    pending = [load.read_ruleset(f) for f in files]
    problems: list[RulesetProblem] = []
    while pending:
        text = pending.pop(0)
        if text.name in texts:
            if texts[text.name].file != text.file:
                problems.append(
                    text.problem(
                        text.header_line,
                        None,
                        f"ruleset {text.name!r} is also defined in {texts[text.name].file}",
                    )
                )
            continue
        texts[text.name] = text
        order.append(text.name)
        for required in text.header.get("requires", []) or []:
            if isinstance(required, str) and required not in texts and required in installed:
                try:
                    pending.append(load.read_ruleset(installed.path(required)))
                except RulesetError as exc:
                    problems.extend(exc.problems)
    if problems:
        raise RulesetError(problems)
    # Required rulesets come first, so their facts are declared before they are used.
    ranked = sorted(order, key=lambda n: (_depth(n, texts), order.index(n)))
    try:
        return compile_program([texts[n] for n in ranked], reason_codes)
    except RulesetError as exc:
        _name_unloaded_owners(exc, installed, set(texts))
        raise


#: How the type checker words a name or fact it does not know (expr.py); one that is a fact of
#: an installed ruleset that is not loaded gets told which one (tests/test_namespaces.py).
_UNKNOWN_NAME = re.compile(r"unknown (?:name|fact) '([a-z][a-z0-9_]*)'")


def _name_unloaded_owners(exc: RulesetError, installed: load.Installed, loaded: set[str]) -> None:
    """Add to each "unknown name" (or fact) problem whose name is a fact derived by an installed ruleset
    that this build did not load, which ruleset derives it and the ``requires`` to add.

    Only on a failed build, and only reading the other rulesets' files (no compiling); a plugin
    that cannot even be read is passed over, as it would be if it were not installed.
    """
    wanted = {m.group(1) for p in exc.problems for m in _UNKNOWN_NAME.finditer(p.message)}
    if not wanted:
        return
    owners: dict[str, str] = {}
    for name in installed.names():
        if name in loaded:
            continue
        try:
            text = load.read_ruleset(installed.path(name))
        except RulesetError:
            continue
        for rule in text.rules:
            derive = rule.data.get("derive")
            if isinstance(derive, str) and derive in wanted:
                owners.setdefault(derive, f"{name} ({text.file}:{rule.line_of('derive')})")
    for problem in exc.problems:
        match = _UNKNOWN_NAME.search(problem.message)
        if match is None or match.group(1) not in owners:
            continue
        owner = owners[match.group(1)]
        problem.message += (
            f"; {match.group(1)!r} is a fact of the installed ruleset {owner}:"
            f" add {owner.split()[0]!r} to this ruleset's requires to read it"
        )


def _depth(
    name: str, texts: dict[str, load.RulesetText], seen: frozenset[str] = frozenset()
) -> int:
    if name in seen or name not in texts:
        return 0
    requires = texts[name].header.get("requires", []) or []
    return 1 + max(
        (_depth(r, texts, seen | {name}) for r in requires if isinstance(r, str)), default=-1
    )


def compile_program(
    texts: Sequence[load.RulesetText], reason_codes: CodeList | None = None
) -> ir.Program:
    """Compile already-read rulesets (in dependency order) into one Program; ``reason_codes``
    replaces the shipped CARC/RARC list rules' reason codes are checked against."""
    build = Build(tuple(texts))
    if reason_codes is not None:
        build.code_list = reason_codes
    for step in PASSES:
        step(build)
    if build.problems:
        raise RulesetError(build.problems)
    return build.program()
