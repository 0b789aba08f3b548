"""Pass 4, lower: the catalogue vocabulary (codes, scope, effective dates, severities per payer)
into IR fields, and each sound rule into an :class:`~hcpcs_rules.ir.Rule`.

- ``codes = ["J7632"]``            -> ``Rule.codes``
- ``scope = ["medicare", ...]``    -> ``Rule.scope``, judged on the claim's derived ``payer_scope``
- ``effective = {from = ...}``     -> ``Rule.effective``, windows on the line's ``service.date``
- ``severity = {medicare = ...}``  -> ``FindingSpec.severity``, looked up by the claim's payer
  overlay at emit time (:func:`severity` is the one place that decides it)
- ``reason_codes = {...}``         -> ``FindingSpec.reasons`` (compile/reasons.py), chosen the
  same way, then by condition

``Rule.conjuncts`` holds the ``when`` condition only. What the fields mean as conditions is
defined once, in :func:`hcpcs_rules.ir.field_conjuncts`; each backend decides how to honour them
(the python backend indexes on codes and scope, the durable one makes network tests of them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from .. import ir
from ..ir import SCOPE_FACT, SERVICE_FACT
from .context import CODE, FACT_NAME, MAX_LIST_ITEMS, PROGRAMS, SEVERITIES, Where, hint
from .reasons import lower_reasons
from .state import Build, RuleWork


def lower(build: Build) -> None:
    """Lower every rule; a rule with any problem so far (or found here) is left out."""
    for work in build.rules:
        rule = _lower(build, work)
        if rule is not None and work.sound:
            work.lowered = rule


def _lower(build: Build, work: RuleWork) -> ir.Rule | None:
    where, spec, on = work.where, work.spec, work.on
    codes = _codes(where, spec.codes, on)
    scope = _scope(build, where, spec.scope)
    windows = _effective(build, where, spec.effective, on)
    _check_reachable(where, windows, scope)
    # The facts a rule's scope and dates join, read off what they mean as conditions.
    implied = [*ir.effective_conjuncts(windows)]
    if "all" not in scope:
        implied.append(ir.scope_conjunct(tuple(scope)))
    finding = None
    if spec.severity is not None and "message" in work.rule.data:
        pairs = severity(where, spec.severity, scope, _overlays(build, work.ruleset))
        if pairs is not None and work.message is not None:
            finding = ir.FindingSpec(
                pairs, work.message, payer_specific="all" not in scope or len(pairs) > 1
            )
    derive_fields = tuple(work.fields.items()) if work.derive is not None else ()
    reads, tested = set(), set()
    messages = [] if finding is None else [p for p in finding.message if not isinstance(p, str)]
    for expr in [*implied, *work.when, *(e for _, e in derive_fields), *messages]:
        for node in ir.walk(expr):
            if isinstance(node, ir.Path) and node.derived:
                reads.add(node.root)
            elif isinstance(node, ir.Exists):
                tested.add(node.fact)
    if finding is not None and len(finding.severity) > 1:
        reads.add(SCOPE_FACT)  # the severity is looked up by the claim's overlay
    if "reason_codes" in work.rule.data:
        if finding is None and spec.severity is None:
            where.error("reason_codes belongs to a rule that emits findings", key="reason_codes")
        elif finding is not None:
            reasons, reason_tested = lower_reasons(
                build, work, scope, _overlays(build, work.ruleset), reads
            )
            # Codes chosen by the claim's payer make the finding name that payer, as a
            # per-payer severity does.
            finding = attrs.evolve(
                finding, reasons=reasons, payer_specific=finding.payer_specific or len(reasons) > 1
            )
            tested |= reason_tested
            if len(reasons) > 1 and SCOPE_FACT not in reads:
                # The codes are looked up by the claim's overlay, as a severity would be.
                reads.add(SCOPE_FACT)
    for fact in sorted(reads | tested):
        if on == "claim" and fact in build.facts and build.facts[fact].per == "line":
            where.error(f"a claim rule cannot read the per-line fact {fact!r}", key="when")
    if work.derive is not None and work.derive in reads | tested:
        where.error(f"a rule cannot read the fact {work.derive!r} it derives", key="derive")
    if not work.sound:
        return None
    return ir.Rule(
        id=work.rule.id or "?",
        ruleset=work.ruleset,
        title=spec.title.strip(),
        on=on,  # type: ignore[arg-type]
        conjuncts=tuple(work.when),
        finding=finding,
        derive=work.derive,
        derive_fields=derive_fields,
        source=spec.source.strip(),
        stratum=0,
        reads=tuple(sorted(reads)),
        depends=tuple(sorted(reads | tested)),
        file=where.text.file,
        file_line=work.rule.line,
        codes=codes,
        scope=tuple(scope),
        effective=windows,
        doc=ir.RuleDoc(
            scope=tuple(scope),
            codes=tuple(spec.codes) if isinstance(spec.codes, list) else (),
            effective=spec.effective if windows else None,
            when=spec.when,
            message=spec.message,
            notes=spec.notes,
        ),
    )


def _codes(where: Where, codes: Any, on: str) -> tuple[str, ...]:
    if codes is None:
        return ()
    if on != "line":
        where.error(
            "codes only applies to line rules; a claim rule can test a derived flag instead",
            key="codes",
        )
        return ()
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
        return ()
    return tuple(codes)


def _scope(build: Build, where: Where, scope: Any) -> list[str]:
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
    _require_fact(build, where, "scope", SCOPE_FACT, {"overlay", "program"}, "scope")
    for overlay in scope:
        _known_overlay(build, where, "scope", overlay, "scope")
    return scope


def _overlays(build: Build, ruleset: str) -> frozenset[str] | None:
    """The overlays ``ruleset`` knows, or None when it does not see the fact overlays are judged
    on: then another problem says to require core, and naming each overlay unknown as well would
    report one mistake many times."""
    owner = build.facts.get(SCOPE_FACT)
    if owner is None or owner.ruleset not in build.visible(ruleset):
        return None
    return build.overlays(ruleset)


def _known_overlay(build: Build, where: Where, key: str, overlay: str, what: str) -> bool:
    """Whether ``overlay`` may be named by this rule; if not, report it: an overlay that is
    not a program, nor a payer the rule's ruleset or one it requires declares. A typo
    (``medicre``) would otherwise be a rule that never applies, or a severity never used."""
    ruleset = build.infos[where.text.file].name
    known = _overlays(build, ruleset)
    if known is None or overlay in known:
        return True
    where.error(
        f"{what}: unknown overlay {overlay!r}{hint(overlay, sorted(known))}; known: the programs"
        f" {', '.join(PROGRAMS)} and the payers declared by {ruleset!r} and the rulesets it"
        " requires ([ruleset] payers = [...])",
        key=key,
    )
    return False


def _effective(build: Build, where: Where, effective: Any, on: str) -> tuple[ir.Window, ...]:
    if effective is None:
        return ()
    if on != "line":
        where.error(
            "effective dates are judged on a line's date of service: use them on line rules",
            key="effective",
        )
        return ()
    if not isinstance(effective, dict) or not effective:
        where.error(
            "effective must be a table: {from = 2007-07-01, to = ...} or one such table per overlay",
            key="effective",
        )
        return ()
    if not _require_fact(build, where, "effective", SERVICE_FACT, {"date"}, "effective"):
        return ()
    if set(effective) <= {"from", "to"}:
        return (_window(where, "*", effective),)
    if not _require_fact(
        build, where, "effective", SCOPE_FACT, {"overlay"}, "per-overlay effective dates"
    ):
        return ()
    windows = []
    for name, window in effective.items():
        if not FACT_NAME.match(name):
            where.error(
                f"effective: {name!r} is not an overlay name (lowercase letters, digits and _)",
                key="effective",
            )
            continue
        if name == "commercial":
            # Dates are judged on the claim's overlay, and a commercial claim's overlay is its
            # payer: a window keyed by the program would never apply.
            where.error(
                "effective: 'commercial' is a program, not an overlay: give the window per payer "
                "(aetna = {...}) or for every claim ({from = ...})",
                key="effective",
            )
            continue
        if not _known_overlay(build, where, "effective", name, "effective"):
            continue
        if not isinstance(window, dict) or not window or not set(window) <= {"from", "to"}:
            where.error(
                f"effective.{name} must be a table {{from = ..., to = ...}}", key="effective"
            )
            continue
        windows.append(_window(where, name, window))
    return tuple(windows)


def _check_reachable(where: Where, windows: tuple[ir.Window, ...], scope: list[str]) -> None:
    """A per-overlay window for an overlay the rule's scope never lets in would never apply: a
    mistake (a scope narrowed later, or the window's overlay mistyped as another payer's).
    An overlay is in scope when the scope is all, names it, or names its program (``commercial``
    takes every payer's commercial overlay)."""
    if "all" in scope:
        return
    for window in windows:
        name = window.overlay
        program = name if name in ("medicare", "medicare_advantage") else "commercial"
        if name != "*" and name not in scope and program not in scope:
            where.error(
                f"effective: the window for {name!r} never applies: the rule's scope "
                f"({', '.join(scope)}) takes no {name} claim; drop the window or widen the scope",
                key="effective",
            )


def _window(where: Where, overlay: str, window: dict[str, Any]) -> ir.Window:
    ends: dict[str, dt.date | None] = {"from": None, "to": None}
    for key in ends:
        if key not in window:
            continue
        value = window[key]
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            where.error(
                f"effective {key} must be a TOML date like 2007-07-01, not {value!r}",
                key="effective",
            )
            continue
        ends[key] = value
    start, end = ends["from"], ends["to"]
    if start is not None and end is not None and end < start:
        where.error("effective 'to' is before 'from'", key="effective")
    return ir.Window(overlay, start, end)


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


def severity(
    where: Where, written: Any, scope: list[str], known: frozenset[str] | None = None
) -> tuple[tuple[str, str], ...] | None:
    """The severity of a rule's findings per payer: where it is decided, once.

    ``severity = "warn"`` gives ``(("*", "warn"),)``; a table ``{medicare = "deny", default =
    "warn"}`` gives ``(("medicare", "deny"), ("*", "warn"))``, tried in order against the
    claim's payer overlay and then its program at run time
    (:func:`hcpcs_rules.runtime.severity_for`), ``"*"`` matching any. A table must cover the
    rule's scope (or have a ``default``) and name nothing outside it, nor (given ``known``, the
    overlays the ruleset knows) an unknown overlay. None if it is unusable.
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
            elif known is not None and overlay not in known:
                where.error(
                    f"severity: unknown overlay {overlay!r}{hint(overlay, sorted(known))}"
                    " (a program, or a payer declared in [ruleset] payers of this ruleset or"
                    " one it requires)",
                    key="severity",
                )
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
