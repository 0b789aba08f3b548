"""What one evaluation works on: the claim's facts, and what rules derive and emit.

:class:`Facts` is created per evaluation and never shared, which is what keeps results from
leaking between claims whatever the backend. :func:`fire` is the one place a rule's firing turns
into a finding, a derived fact and a trace step, so both backends produce identical results.
"""

from __future__ import annotations

from typing import Any

from . import ir
from .codegen import CompiledRule, severity_for
from .model import Claim, Finding, TraceStep

__all__ = ["Facts", "fire", "subject_id"]


class Facts:
    __slots__ = (
        "claim",
        "derived",
        "findings",
        "lines",
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


def subject_id(rule: ir.Rule, n: int) -> str:
    return "claim" if rule.on == "claim" else f"line:{n}"


def fact_id(name: str, key: int) -> str:
    return name if key == 0 else f"{name}:{key}"


def fire(
    compiled: CompiledRule, f: Facts, n: int, fact_per: dict[str, str]
) -> dict[str, Any] | None:
    """Apply a rule that matched subject ``n``. Returns the derived fact's fields, if new."""
    rule = compiled.rule
    severity = None
    if compiled.message is not None:
        severity = severity_for(rule, f)
        f.findings.append(
            Finding(
                rule_id=rule.id,
                severity=severity,  # type: ignore[arg-type]
                line=n if rule.on == "line" else None,
                message=compiled.message(f, n),
                source=rule.source,
                payer=f.claim.payer if rule.finding.payer_specific else None,  # type: ignore[union-attr]
            )
        )
    derived_fields = None
    derived_ids: tuple[str, ...] = ()
    if compiled.derive is not None:
        key = n if fact_per[rule.derive] == "line" else 0  # type: ignore[index]
        store = f.derived[rule.derive]  # type: ignore[index]
        if key not in store:  # a per-claim flag is derived once, by the first line that sets it
            derived_fields = compiled.derive(f, n)
            store[key] = derived_fields
            derived_ids = (fact_id(rule.derive, key),)  # type: ignore[arg-type]
    if f.trace is not None:
        matched = (
            subject_id(rule, n),
            *(fact_id(r, n if fact_per[r] == "line" else 0) for r in rule.reads),
        )
        f.trace.append(
            TraceStep(
                step=len(f.trace) + 1,
                rule_id=rule.id,
                ruleset=rule.ruleset,
                subject=subject_id(rule, n).replace(":", " "),
                matched=matched,
                derived=derived_ids,
                finding=severity,
            )
        )
    return derived_fields
