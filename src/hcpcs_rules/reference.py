"""The rule reference: what each rule does, for whom, since when, and on what source.

Generated from the compiled rulesets, so it cannot drift from what the engine runs:
``hcpcs-rules rule J7632-UNITS-MISMATCH`` prints one rule, ``hcpcs-rules docs`` rewrites
``docs/rules/`` (a test fails when the committed pages are stale).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from . import ir

__all__ = ["index_markdown", "rule_markdown", "write_reference"]

_SCOPE_NAMES = {
    "all": "all payers",
    "medicare": "Medicare fee-for-service (DME MAC)",
    "medicare_advantage": "Medicare Advantage (any payer)",
    "commercial": "commercial lines of business",
}


def _scope_text(scope: list[str]) -> str:
    return ", ".join(_SCOPE_NAMES.get(s, f"{s} (commercial)") for s in scope)


def _severity_rows(rule: ir.Rule) -> list[tuple[str, str]]:
    if rule.finding is None:
        return []
    rows = []
    for overlay, severity in rule.finding.severity:
        name = (
            "every other payer in scope"
            if overlay == "*" and len(rule.finding.severity) > 1
            else _scope_text([overlay])
            if overlay != "*"
            else _scope_text(rule.doc["scope"])
        )
        rows.append((name, severity))
    return rows


def _effective_text(effective: Any) -> str | None:
    if not effective:
        return None

    def window(w: dict[str, dt.date]) -> str:
        parts = []
        if "from" in w:
            parts.append(f"on or after {w['from'].isoformat()}")
        if "to" in w:
            parts.append(f"on or before {w['to'].isoformat()}")
        return " and ".join(parts)

    if set(effective) <= {"from", "to"}:
        return f"dates of service {window(effective)}"
    return "; ".join(f"{name}: dates of service {window(w)}" for name, w in effective.items())


def _example_text(example: ir.Example) -> str:
    verdict = "fires" if example.fires else "does not fire"
    extra = []
    if example.line is not None:
        extra.append(f"line {example.line}")
    if example.severity is not None:
        extra.append(example.severity)
    return f"- {verdict}: {example.name}" + (f" ({', '.join(extra)})" if extra else "")


def rule_markdown(rule: ir.Rule, program: ir.Program) -> str:
    info = next(r for r in program.rulesets if r.name == rule.ruleset)
    doc = rule.doc or {}
    lines = [f"# {rule.id}: {rule.title}", ""]
    applies = "each line" if rule.on == "line" else "the claim (once)"
    if doc.get("codes"):
        applies += f" with HCPCS {', '.join(doc['codes'])}"
    lines += [
        f"- Ruleset: `{info.label}`",
        f"- Fires on: {applies}",
        f"- Scope: {_scope_text(doc.get('scope', ['all']))}",
    ]
    effective = _effective_text(doc.get("effective"))
    if effective:
        lines.append(f"- Effective: {effective}")
    if rule.derive is not None:
        fields = ", ".join(name for name, _ in rule.derive_fields) or "a flag, no fields"
        lines.append(f"- Derives: `{rule.derive}` ({fields})")
    lines.append("")
    rows = _severity_rows(rule)
    if rows:
        lines += [
            "| payer | severity |",
            "|---|---|",
            *(f"| {who} | {severity} |" for who, severity in rows),
            "",
        ]
    if doc.get("when"):
        lines += ["**When it fires**", "", "```", doc["when"].strip(), "```", ""]
    if doc.get("message"):
        lines += ["**Message**", "", "```", doc["message"].strip(), "```", ""]
    lines += ["**Source**", "", rule.source, ""]
    if doc.get("notes"):
        lines += ["**Notes**", "", doc["notes"].strip(), ""]
    if rule.examples:
        lines += ["**Examples**", "", *(_example_text(e) for e in rule.examples), ""]
    return "\n".join(lines)


def index_markdown(program: ir.Program) -> str:
    lines = [
        "# Rule reference",
        "",
        "Generated from the ruleset files by `hcpcs-rules docs`; do not edit by hand.",
        "",
        "| rule | title | on | scope | severity |",
        "|---|---|---|---|---|",
    ]
    for rule in sorted(program.rules, key=lambda r: (r.ruleset != "core", r.ruleset, r.id)):
        severity = (
            ", ".join(
                f"{'default' if o == '*' else o}: {s}" if len(rule.finding.severity) > 1 else s
                for o, s in rule.finding.severity
            )
            if rule.finding
            else f"derives `{rule.derive}`"
        )
        scope = ", ".join(rule.doc.get("scope", ["all"]))
        lines.append(
            f"| [{rule.id}]({rule.id}.md) | {rule.title} | {rule.on} | {scope} | {severity} |"
        )
    return "\n".join(lines) + "\n"


def reference_pages(program: ir.Program) -> dict[str, str]:
    pages = {f"{rule.id}.md": rule_markdown(rule, program) for rule in program.rules}
    pages["README.md"] = index_markdown(program)
    return pages


def write_reference(program: ir.Program, folder: Path) -> list[Path]:
    """Rewrite ``folder`` with one page per rule plus an index; remove stale pages."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = reference_pages(program)
    for stale in folder.glob("*.md"):
        if stale.name not in pages:
            stale.unlink()
    written = []
    for name, text in pages.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
