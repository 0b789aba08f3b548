"""Pass 4, lower: the catalogue vocabulary (codes, scope, effective dates, severities per payer)
into plain conjuncts and IR fields, and each sound rule into an :class:`~hcpcs_rules.ir.Rule`.

- ``codes = ["J7632"]``            -> ``line.hcpcs in ("J7632",)``, and ``Rule.codes``
- ``scope = ["medicare", ...]``    -> a test on the claim's derived ``payer_scope``, ``Rule.scope``
- ``effective = {from = ...}``     -> tests on the line's derived ``service.date``
- ``severity = {medicare = ...}``  -> ``FindingSpec.severity``, looked up by the claim's payer
  overlay at emit time (:func:`severity` is the one place that decides it)

The conjuncts come first, in that order, then the ``when`` conjuncts: the backends index on them
(see :func:`~hcpcs_rules.ir.codes_conjunct`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import ir
from ..ir import SCOPE_FACT, SERVICE_FACT, codes_conjunct, scope_conjunct
from .context import CODE, FACT_NAME, MAX_LIST_ITEMS, SEVERITIES, Where, hint
from .state import Build, RuleWork


def lower(build: Build) -> None:
    """Lower every rule; a rule with any problem so far (or found here) is left out."""
    for work in build.rules:
        rule = _lower(build, work)
        if rule is not None and work.sound:
            work.lowered = rule


def _lower(build: Build, work: RuleWork) -> ir.Rule | None:
    where, spec, on = work.where, work.spec, work.on
    conjuncts: list[ir.Expr] = []
    conjuncts += _codes(where, spec.codes, on)
    scope = _scope(build, where, spec.scope, conjuncts)
    effective = _effective(build, where, spec.effective, on, conjuncts)
    conjuncts += work.when
    finding = None
    if spec.severity is not None and "message" in work.rule.data:
        pairs = severity(where, spec.severity, scope)
        if pairs is not None and work.message is not None:
            finding = ir.FindingSpec(
                pairs, work.message, payer_specific="all" not in scope or len(pairs) > 1
            )
    derive_fields = tuple(work.fields.items()) if work.derive is not None else ()
    reads, tested = set(), set()
    messages = [] if finding is None else [p for p in finding.message if not isinstance(p, str)]
    for expr in [*conjuncts, *(e for _, e in derive_fields), *messages]:
        for node in ir.walk(expr):
            if isinstance(node, ir.Path) and node.derived:
                reads.add(node.root)
            elif isinstance(node, ir.Exists):
                tested.add(node.fact)
    if finding is not None and len(finding.severity) > 1:
        reads.add(SCOPE_FACT)  # the severity is looked up by the claim's overlay
    for fact in sorted(reads | tested):
        if on == "claim" and fact in build.facts and build.facts[fact].per == "line":
            where.error(f"a claim rule cannot read the per-line fact {fact!r}", key="when")
    if work.derive is not None and work.derive in reads | tested:
        where.error(f"a rule cannot read the fact {work.derive!r} it derives", key="derive")
    if not work.sound:
        return None
    codes = spec.codes
    return ir.Rule(
        id=work.rule.id or "?",
        ruleset=work.ruleset,
        title=spec.title.strip(),
        on=on,  # type: ignore[arg-type]
        conjuncts=tuple(conjuncts),
        finding=finding,
        derive=work.derive,
        derive_fields=derive_fields,
        source=spec.source.strip(),
        stratum=0,
        reads=tuple(sorted(reads)),
        depends=tuple(sorted(reads | tested)),
        file=where.text.file,
        file_line=work.rule.line,
        codes=tuple(codes) if on == "line" and codes else (),
        scope=tuple(scope),
        doc=ir.RuleDoc(
            scope=tuple(scope),
            codes=tuple(codes) if isinstance(codes, list) else (),
            effective=effective,
            when=spec.when,
            message=spec.message,
            notes=spec.notes,
        ),
    )


def _codes(where: Where, codes: Any, on: str) -> list[ir.Expr]:
    if codes is None:
        return []
    if on != "line":
        where.error(
            "codes only applies to line rules; a claim rule can test a derived flag instead",
            key="codes",
        )
        return []
    if (
        not isinstance(codes, list)
        or not codes
        or len(codes) > MAX_LIST_ITEMS
        or not all(isinstance(c, str) and CODE.match(c) for c in codes)
    ):
        where.error(
            f"codes must be a non-empty list of HCPCS codes (capitals and digits, at most 16 each, at most {MAX_LIST_ITEMS:,} codes)",
            key="codes",
        )
        return []
    return [codes_conjunct(tuple(codes))]


def _scope(build: Build, where: Where, scope: Any, conjuncts: list[ir.Expr]) -> list[str]:
    if isinstance(scope, str):
        scope = [scope]
    elif isinstance(scope, tuple):  # the spec's default, ("all",)
        scope = list(scope)
    if (
        not isinstance(scope, list)
        or not scope
        or len(scope) > MAX_LIST_ITEMS
        or not all(isinstance(s, str) and FACT_NAME.match(s) for s in scope)
    ):
        where.error(
            'scope must be a list of payer overlays (lowercase letters, digits and _), e.g. ["medicare", "medicare_advantage"] or ["all"]',
            key="scope",
        )
        return ["all"]
    if "all" in scope:
        if len(scope) > 1:
            where.error("scope 'all' cannot be combined with other overlays", key="scope")
        return ["all"]
    if _require_fact(build, where, "scope", SCOPE_FACT, {"overlay", "program"}, "scope"):
        conjuncts.append(scope_conjunct(tuple(scope)))
    return scope


def _effective(
    build: Build, where: Where, effective: Any, on: str, conjuncts: list[ir.Expr]
) -> Any:
    if effective is None:
        return None
    if on != "line":
        where.error(
            "effective dates are judged on a line's date of service: use them on line rules",
            key="effective",
        )
        return None
    if not isinstance(effective, dict) or not effective:
        where.error(
            "effective must be a table: {from = 2007-07-01, to = ...} or one such table per overlay",
            key="effective",
        )
        return None
    if not _require_fact(build, where, "effective", SERVICE_FACT, {"date"}, "effective"):
        return None
    dos = ir.Path(SERVICE_FACT, ("date",), "date", derived=True)
    if set(effective) <= {"from", "to"}:
        conjuncts.extend(_window(where, effective, dos))
        return effective
    if not _require_fact(
        build, where, "effective", SCOPE_FACT, {"overlay"}, "per-overlay effective dates"
    ):
        return None
    overlay = ir.Path(SCOPE_FACT, ("overlay",), "str", derived=True)
    alternatives: list[ir.Expr] = []
    for name, window in effective.items():
        if not FACT_NAME.match(name):
            where.error(
                f"effective: {name!r} is not an overlay name (lowercase letters, digits and _)",
                key="effective",
            )
            continue
        if not isinstance(window, dict) or not window or not set(window) <= {"from", "to"}:
            where.error(
                f"effective.{name} must be a table {{from = ..., to = ...}}", key="effective"
            )
            continue
        tests = _window(where, window, dos)
        alternatives.append(
            ir.BoolOp("and", (ir.Compare("==", overlay, ir.Const(name, "str")), *tests))
        )
    # Overlays with no window of their own are not date-limited.
    alternatives.append(ir.Compare("not in", overlay, ir.Const(tuple(effective), "set[str]")))
    conjuncts.append(ir.BoolOp("or", tuple(alternatives)))
    return effective


def _window(where: Where, window: dict[str, Any], dos: ir.Path) -> list[ir.Expr]:
    tests: list[ir.Expr] = []
    for key, op in (("from", ">="), ("to", "<=")):
        if key not in window:
            continue
        value = window[key]
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            where.error(
                f"effective {key} must be a TOML date like 2007-07-01, not {value!r}",
                key="effective",
            )
            continue
        tests.append(ir.Compare(op, dos, ir.Const(value, "date")))
    start, end = window.get("from"), window.get("to")
    if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
        where.error("effective 'to' is before 'from'", key="effective")
    return tests


def _require_fact(
    build: Build, where: Where, key: str, fact: str, fields: set[str], why: str
) -> bool:
    have = build.fact_fields.get(fact)
    if have is None or not fields <= set(have):
        where.error(
            f'{why} needs a derived fact {fact!r} with fields {", ".join(sorted(fields))} (the core ruleset declares it: add requires = ["core"])',
            key=key,
        )
        return False
    return True


def severity(where: Where, written: Any, scope: list[str]) -> tuple[tuple[str, str], ...] | None:
    """The severity of a rule's findings per payer: where it is decided, once.

    ``severity = "warn"`` gives ``(("*", "warn"),)``; a table ``{medicare = "deny", default =
    "warn"}`` gives ``(("medicare", "deny"), ("*", "warn"))``, tried in order against the
    claim's payer overlay and then its program at run time
    (:func:`hcpcs_rules.runtime.severity_for`), ``"*"`` matching any. A table must cover the
    rule's scope (or have a ``default``) and name nothing outside it. None if it is unusable.
    """
    pairs: list[tuple[str, str]] = []
    # The IR's "*" (any other overlay) as the author wrote it, for messages: "default" in a
    # table, nothing for a plain severity = "level".
    said_any = ""
    if isinstance(written, str):
        pairs = [("*", written)]
    elif isinstance(written, dict):
        default = None
        for overlay, value in written.items():
            if not FACT_NAME.match(overlay):
                where.error(
                    f"severity: {overlay!r} is not an overlay name (lowercase letters, digits and _)",
                    key="severity",
                )
                continue
            if overlay == "default":
                default = value
            else:
                pairs.append((overlay, value))
        if default is not None:
            pairs.append(("*", default))
            said_any = " for default"
        elif "all" not in scope:
            missing = [s for s in scope if s not in dict(pairs)]
            if missing:
                where.error(
                    f"severity names no level for {', '.join(missing)} and has no default",
                    key="severity",
                )
        else:
            where.error("a per-payer severity needs a default for the other payers", key="severity")
    else:
        where.error("severity must be a level or a table of levels per overlay", key="severity")
        return None
    for overlay, value in pairs:
        if value not in SEVERITIES:
            said = said_any if overlay == "*" else f" for {overlay}"
            where.error(
                f"severity {value!r}{said} is not one of {', '.join(SEVERITIES)}{hint(str(value), SEVERITIES)}",
                key="severity",
            )
    if "all" not in scope:
        for overlay, _ in pairs:
            if overlay != "*" and overlay not in scope:
                where.error(
                    f"severity names {overlay!r}, which is outside the rule's scope {scope}",
                    key="severity",
                )
    return tuple(pairs)
