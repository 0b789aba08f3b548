"""The rule reference: what each rule does, for whom, since when, and on what source.

Generated from the compiled rulesets, so it cannot drift from what the engine runs:
``hcpcs-rules rule J7632-UNITS-MISMATCH`` prints one rule, ``hcpcs-rules docs`` rewrites
``docs/rules/`` (a test fails when the committed pages are stale). It never removes or\noverwrites a file it did not write (see :func:`write_reference`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import attrs

from . import ir
from .tables import Table, tables_used

__all__ = ["MANIFEST", "DocsError", "index_markdown", "rule_markdown", "write_reference"]

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
            else _scope_text(rule.doc.scope)
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
    doc = rule.doc
    lines = [f"# {rule.id}: {rule.title}", ""]
    applies = "each line" if rule.on == "line" else "the claim (once)"
    if doc.codes:
        applies += f" with HCPCS {', '.join(doc.codes)}"
    lines += [
        f"- Ruleset: `{info.label}`",
        f"- Fires on: {applies}",
        f"- Scope: {_scope_text(doc.scope)}",
    ]
    effective = _effective_text(doc.effective)
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
    codes = _reason_rows(rule)
    if codes:
        lines += [
            "**Suggested payer reason codes**",
            "",
            "| payer | when | group | CARC | RARC | source |",
            "|---|---|---|---|---|---|",
            *codes,
            "",
        ]
    if doc.when:
        lines += ["**When it fires**", "", "```", doc.when.strip(), "```", ""]
    if doc.message:
        lines += ["**Message**", "", "```", doc.message.strip(), "```", ""]
    lines += ["**Source**", "", rule.source, ""]
    used = _tables_of(rule)
    if used:
        lines += ["**Tables**", "", *(_table_text(t) for t in used), ""]
    if doc.notes:
        lines += ["**Notes**", "", doc.notes.strip(), ""]
    if rule.examples:
        lines += ["**Examples**", "", *(_example_text(e) for e in rule.examples), ""]
    return "\n".join(lines)


def _tables_of(rule: ir.Rule) -> list[Table]:
    exprs = [*rule.conjuncts, *(expr for _, expr in rule.derive_fields)]
    if rule.finding is not None:
        exprs += [part for part in rule.finding.message if not isinstance(part, str)]
    return tables_used(exprs)


def _table_text(table: Table) -> str:
    """One table a rule reads: name, where its rows come from, how many, its columns."""
    roles = {table.key: "key", table.value: "value"}
    kind, *dates = table.effective or ("",)
    for column, role in zip(dates, ("from", "to") if kind == "from" else (kind,), strict=False):
        roles[column] = f"effective {role}"
    columns = ", ".join(
        f"{name} {kind}" + (f" ({roles[name]})" if name in roles else "")
        for name, kind in table.columns
    )
    origin = "inline" if table.origin == "inline" else f"`{table.origin}`"
    text = f"- `{table.name}`: {origin}, {table.rows:,} rows; columns {columns}"
    return text + (f". Source: {table.source}" if table.source else "")


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
        scope = ", ".join(rule.doc.scope)
        lines.append(
            f"| [{rule.id}]({rule.id}.md) | {rule.title} | {rule.on} | {scope} | {severity} |"
        )
    return "\n".join(lines) + "\n"


def reference_pages(program: ir.Program, only: set[str] | None = None) -> dict[str, str]:
    """Every page: one per rule (of the rulesets named in ``only``, if given) and the index."""
    rules = [r for r in program.rules if only is None or r.ruleset in only]
    pages = {f"{rule.id}.md": rule_markdown(rule, program) for rule in rules}
    if only is not None:
        program = attrs.evolve(program, rules=tuple(rules))
    pages["README.md"] = index_markdown(program)
    return pages


#: Lists the pages ``write_reference`` wrote in a folder: the only files it may ever remove.
#: One page a line, then a tab and the ruleset it documents (the index: the rulesets it lists,
#: ``*`` for all); a line without a tab (older versions) counts as a page of every ruleset.
MANIFEST = ".hcpcs-rules-docs"
_MANIFEST_HEAD = (
    "# Pages written here by `hcpcs-rules docs`, one per line, with the ruleset each documents.\n"
    "# When a rule goes away its page is removed, but only if it is listed here and still reads\n"
    "# as a generated page.\n"
)
_PAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.md\Z")
_INDEX_HEAD = "# Rule reference\n\nGenerated from the ruleset files by `hcpcs-rules docs`"
ALL = "*"


class DocsError(Exception):
    """The reference cannot be written without touching a file it did not write."""


def write_reference(program: ir.Program, folder: Path, only: set[str] | None = None) -> list[Path]:
    """Write one page per rule plus an index into ``folder``; remove the pages of rules that are
    gone. Only pages this function wrote are ever removed or overwritten: a stale page goes only
    if the folder's manifest (``.hcpcs-rules-docs``) lists it and it still starts like a generated
    page; a file in the way of a new page that does not look generated is a :class:`DocsError`
    (nothing is written then).

    ``only``: document just these rulesets (by name). Pages of other rulesets in the folder are
    left alone and stay in the manifest; a stale page is removed only if the manifest says it
    documented one of ``only``. The index lists the rules of ``only``, and is written only if
    the folder has none or its index was written for the same rulesets.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tag = ALL if only is None else ",".join(sorted(only))
    pages = reference_pages(program, only)
    owners = {
        name: (tag if name == "README.md" else program.rule(name[:-3]).ruleset) for name in pages
    }
    manifest = _manifest(folder)
    index = folder / "README.md"
    # Another run's index (of other rulesets) is not this run's to redo; a file of someone
    # else's in its place is refused below, as for any page.
    theirs = manifest.get("README.md") != tag
    if only is not None and _looks_generated(index) and theirs:
        del pages["README.md"]
    for name in pages:
        path = folder / name
        if (path.exists() or path.is_symlink()) and not _looks_generated(path):
            raise DocsError(
                f"{path} exists and was not written by `hcpcs-rules docs`; not overwriting it "
                "(move it away, or choose another --out folder)"
            )
    kept: dict[str, str | None] = {}
    for name, owner in sorted(manifest.items()):
        if name in pages:
            continue
        if only is None:
            ours = True
        elif name == "README.md":
            ours = owner == tag
        else:
            ours = owner in only  # an older manifest's page (owner None) is nobody's to remove
        if not ours:
            kept[name] = owner
        elif _looks_generated(folder / name):
            (folder / name).unlink()
    written = []
    for name, text in pages.items():
        path = folder / name
        _replace(path, text)
        written.append(path)
        kept[name] = owners[name]
    _replace(
        folder / MANIFEST,
        _MANIFEST_HEAD
        + "".join(
            f"{name}\t{kept[name]}\n" if kept[name] else f"{name}\n" for name in sorted(kept)
        ),
    )
    return written


def _manifest(folder: Path) -> dict[str, str | None]:
    """The manifest's pages and whose they are (None: an older manifest did not say)."""
    try:
        text = (folder / MANIFEST).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        name, _, owner = line.partition("\t")
        if _PAGE_NAME.match(name):
            out[name] = owner or None
    return out


def _looks_generated(path: Path) -> bool:
    """A regular file (not a link) that begins as a page of ours named like it begins."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    if path.name == "README.md":
        return head.startswith(_INDEX_HEAD)
    return head.startswith(f"# {path.stem}: ")


def _replace(path: Path, text: str) -> None:
    """Write through a temporary file: a link at ``path`` is replaced, never followed."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _reason_rows(rule: ir.Rule) -> list[str]:
    """One table row per reason-code choice, in the order they are tried."""
    if rule.finding is None:
        return []
    rows = []
    many = len(rule.finding.reasons) > 1
    for overlay, choices in rule.finding.reasons:
        who = ("default" if many else "all payers") if overlay == "*" else overlay
        for choice in choices:
            when = (
                f"`{choice.when_text}`"
                if choice.when_text
                else "otherwise"
                if len(choices) > 1
                else ""
            )
            rarc = ", ".join(choice.rarc)
            rows.append(
                f"| {who} | {when} | {choice.group} | {choice.carc} | {rarc} | {choice.source} |"
            )
    return rows
