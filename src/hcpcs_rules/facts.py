"""What one evaluation works on: the claim's facts, and what rules derive and emit.

:class:`Facts` is created per evaluation and never shared, which is what keeps results from
leaking between claims whatever the backend. :func:`make_fire` is the one place a rule's firing
turns into a finding, a derived fact and a trace step, so both backends produce identical results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ir
from .codegen import CompiledRule
from .model import Claim, Finding, ReasonCodes, TraceStep
from .runtime import reason_for, severity_for

__all__ = ["Facts", "fact_id", "make_fire"]


class Facts:
    __slots__ = (
        "claim",
        "derived",
        "findings",
        "lines",
        "ordered",
        "ordering_provider",
        "patient",
        "supplier",
        "trace",
    )

    def __init__(self, claim: Claim, fact_names: tuple[str, ...], explain: bool) -> None:
        self.claim = claim
        self.lines = claim.lines
        self.supplier = claim.supplier
        self.patient = claim.patient
        self.ordering_provider = claim.ordering_provider
        #: derived fact name -> {line number (0 for per-claim facts): {field: value}}
        self.derived: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in fact_names}
        self.findings: list[Finding] = []
        self.trace: list[TraceStep] | None = [] if explain else None
        #: Set by a backend whose findings are already in the Result's order (no sort needed).
        self.ordered = False


def fact_id(name: str, key: int) -> str:
    return name if key == 0 else f"{name}:{key}"


def make_fire(
    compiled: CompiledRule, fact_per: dict[str, str]
) -> Callable[..., dict[str, Any] | None]:
    """The one way a rule's firing on subject ``n`` becomes a finding, a derived fact and a trace
    step, shared by both backends. Everything fixed per rule is looked up here, once.

    The returned callable gives the derived fact's fields when it created a new one, else None.
    """
    rule = compiled.rule
    # A rule with a message emits a finding (and the compiler gives every finding one). The
    # caller passes the text and fields, or the compiled rule has message()/derive() for them.
    emits = rule.finding is not None and bool(rule.finding.message)
    message = compiled.message
    derive = compiled.derive
    rule_id, source, on_line = rule.id, rule.source, rule.on == "line"
    single_severity = None
    payer_specific = False
    if rule.finding is not None:
        payer_specific = rule.finding.payer_specific
        if len(rule.finding.severity) == 1:
            single_severity = rule.finding.severity[0][1]
    # Reason codes: fixed per rule when it has one choice for every payer (built once here),
    # else chosen per firing by the claim's overlay and the generated reason(f, n, i) tests.
    reasons = () if rule.finding is None else rule.finding.reasons
    fixed_codes = None
    if len(reasons) == 1 and len(reasons[0][1]) == 1:
        fixed_codes = _codes(reasons[0][1][0])
    reason_test = compiled.reason
    fact = rule.derive
    fact_on_line = fact is not None and fact_per[fact] == "line"
    read_keys = tuple((name, fact_per[name] == "line") for name in rule.reads)

    def fire(
        f: Facts, n: int, text: str | None = None, fields: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        # ``text`` / ``fields``: the message and derived fields when the caller already computed
        # them (the python backend's run functions do); otherwise they are computed here.
        severity = None
        if emits:
            severity = single_severity or severity_for(rule, f)
            codes = fixed_codes
            if codes is None and reasons:
                choice = reason_for(rule, f, n, reason_test)
                codes = None if choice is None else _codes(choice)
            f.findings.append(
                Finding(
                    rule_id=rule_id,
                    severity=severity,  # type: ignore[arg-type]
                    line=n if on_line else None,
                    message=message(f, n) if text is None else text,
                    source=source,
                    payer=f.claim.payer if payer_specific else None,
                    reason_codes=codes,
                )
            )
        derived_fields = None
        derived_ids: tuple[str, ...] = ()
        if fact is not None:
            key = n if fact_on_line else 0
            store = f.derived[fact]  # type: ignore[index]
            if key not in store:  # a per-claim flag is derived once, by the first line setting it
                derived_fields = store[key] = derive(f, n) if fields is None else fields
        if f.trace is not None:
            if derived_fields is not None:
                derived_ids = (fact_id(fact, key),)  # type: ignore[arg-type]
            subject = f"line:{n}" if on_line else "claim"
            matched = (
                subject,
                *(fact_id(name, n if per_line else 0) for name, per_line in read_keys),
            )
            f.trace.append(
                TraceStep(
                    step=len(f.trace) + 1,
                    rule_id=rule_id,
                    ruleset=rule.ruleset,
                    subject=subject.replace(":", " "),
                    matched=matched,
                    derived=derived_ids,
                    finding=severity,
                )
            )
        return derived_fields

    return fire


def _codes(choice: ir.ReasonChoice) -> ReasonCodes:
    return ReasonCodes(group=choice.group, carc=choice.carc, rarc=choice.rarc, source=choice.source)
