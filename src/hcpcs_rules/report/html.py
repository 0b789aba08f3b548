"""The report as one self-contained HTML file: :func:`render_html`.

Everything is inline: the stylesheet, the charts (SVG drawn here, no chart library), and one small
script that filters the findings table. A Content-Security-Policy in the page allows exactly that
stylesheet and that script (by their sha256) and nothing from anywhere else, so the file opens
offline and a string from a claim could not run or fetch anything even if escaping failed.
Every string from the input (claim ids, payers, messages, errors, file names) is HTML-escaped.

The numbers are drawn from the aggregator's data, which is also embedded as JSON
(``<script type="application/json" id="report-data">``); each number in the page carries its
value in a ``data-count`` attribute, so a program can read the same values the page shows.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from html import escape
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ..rows import STATUSES
from .aggregate import REFUSED, SEVERITIES

__all__ = ["render_html"]

COLORS = {
    "reject": "#b3261e",
    "deny": "#e8710a",
    "warn": "#d9a400",
    "info": "#1a73e8",
    "clean": "#188038",
    "invalid": "#7b1fa2",
    "failed": "#3c4043",
    "unreadable": "#9aa0a6",
}
LABELS = {
    "reject": "reject",
    "deny": "deny",
    "warn": "warn",
    "info": "info",
    "clean": "clean",
    "invalid": "invalid",
    "failed": "failed",
    "unreadable": "unreadable",
}

_CSS = """
:root { color-scheme: light; --ink: #202124; --muted: #5f6368; --rule: #dadce0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--ink); background: #fff; margin: 0 auto; max-width: 1180px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 10px; border-bottom: 1px solid var(--rule); padding-bottom: 4px; }
section { margin: 0 0 28px; }
.meta, .note { color: var(--muted); font-size: 12.5px; }
.meta code { font-size: 12px; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 0 0 12px; }
.tile { border: 1px solid var(--rule); border-radius: 6px; padding: 8px 12px; min-width: 108px; }
.tile .label { color: var(--muted); font-size: 12px; display: block; }
.tile .n { font-size: 20px; font-weight: 600; }
.tile.reject { border-left: 5px solid #b3261e; } .tile.deny { border-left: 5px solid #e8710a; }
.tile.warn { border-left: 5px solid #d9a400; } .tile.clean { border-left: 5px solid #188038; }
.tile.refused { border-left: 5px solid #7b1fa2; } .tile.info { border-left: 5px solid #1a73e8; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--rule);
  vertical-align: top; }
th { background: #f1f3f4; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.id, td.code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12px; overflow-wrap: break-word; }
td.day { white-space: nowrap; }
td.msg { min-width: 260px; }
tr.other td { font-style: italic; color: var(--muted); }
#rules-table td:first-child, #rules-table td:nth-child(4) { white-space: nowrap; }
tr[hidden] { display: none; }
.sev { display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff; font-size: 12px;
  white-space: nowrap; margin: 0 2px 2px 0; }
.sev.reject { background: #b3261e; } .sev.deny { background: #e8710a; }
.sev.warn { background: #d9a400; color: #202124; } .sev.info { background: #1a73e8; }
.sev.clean { background: #188038; } .sev.invalid { background: #7b1fa2; }
.sev.failed { background: #3c4043; } .sev.unreadable { background: #9aa0a6; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; font-size: 12px; margin: 4px 0 8px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.legend .reject { background: #b3261e; } .legend .deny { background: #e8710a; }
.legend .warn { background: #d9a400; } .legend .info { background: #1a73e8; }
.legend .clean { background: #188038; } .legend .invalid { background: #7b1fa2; }
.legend .failed { background: #3c4043; } .legend .unreadable { background: #9aa0a6; }
svg { display: block; max-width: 100%; height: auto; margin: 0 0 10px; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  fill: #202124; }
svg .axis { stroke: #dadce0; }
.warning { border: 1px solid #e8710a; background: #fef7e0; padding: 8px 12px; border-radius: 6px;
  margin: 0 0 20px; }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 0 0 8px; }
.controls input, .controls select { font: inherit; padding: 3px 6px; }
.controls input { min-width: 260px; }
.two { display: grid; grid-template-columns: minmax(0, 1fr); gap: 8px; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .controls, .screen-only { display: none; }
  section { break-inside: auto; }
  svg, .tiles, tr { break-inside: avoid; }
  thead { display: table-header-group; }
  h2 { break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
@page { margin: 14mm; }
"""

# Hides the findings rows that do not match the text, severity and rule chosen, and says how
# many remain. Plain DOM: no library, nothing loaded.
_SCRIPT = """
(function () {
  var text = document.getElementById("filter-text");
  var severity = document.getElementById("filter-severity");
  var rule = document.getElementById("filter-rule");
  var count = document.getElementById("filter-count");
  if (!text || !severity || !rule || !count) { return; }
  var rows = document.querySelectorAll("#findings-table tbody tr");
  function apply() {
    var wanted = text.value.trim().toLowerCase(), sev = severity.value, id = rule.value;
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var ok = (!sev || row.getAttribute("data-severity") === sev) &&
        (!id || row.getAttribute("data-rule") === id) &&
        (!wanted || row.textContent.toLowerCase().indexOf(wanted) !== -1);
      row.hidden = !ok;
      if (ok) { shown++; }
    }
    count.textContent = shown.toLocaleString("en-US");
    count.setAttribute("data-count", String(shown));
  }
  text.addEventListener("input", apply);
  severity.addEventListener("change", apply);
  rule.addEventListener("change", apply);
})();
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


# Nothing but the page's own style and script: no network, no other script, no form target.
_CSP = (
    f"default-src 'none'; style-src '{_sha256(_CSS)}'; script-src '{_sha256(_SCRIPT)}'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def _e(value: Any) -> str:
    """Text for the page: escaped for element content and attribute values alike."""
    return escape("" if value is None else str(value), quote=True)


def _n(value: int) -> str:
    return f"{value:,}"


def _num(value: int, key: str, tag: str = "span", cls: str = "n") -> str:
    return f'<{tag} class="{cls}" data-key="{_e(key)}" data-count="{value}">{_n(value)}</{tag}>'


def _cell(value: int, col: str) -> str:
    return f'<td class="n" data-col="{_e(col)}" data-count="{value}">{_n(value)}</td>'


def _short(text: str, limit: int = 44) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_for_script(data: Any) -> str:
    # Inside <script> only "</" and "<!--" could end or bend the element; escaping every <, >
    # and & (and the two JavaScript line separators) keeps the JSON inert and still valid JSON.
    text = json.dumps(data, ensure_ascii=False, sort_keys=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# ------------------------------------------------------------------------------ charts


def _legend(keys: tuple[str, ...]) -> str:
    items = "".join(f'<span><i class="{k}"></i>{_e(LABELS[k])}</span>' for k in keys)
    return f'<div class="legend">{items}</div>'


def _hbars(rows: list[tuple[str, dict[str, int]]], keys: tuple[str, ...], title: str) -> str:
    """Horizontal stacked bars: one per ``(label, {key: count})``, segments in ``keys`` order."""
    if not rows:
        return ""
    label_w, bar_w, row_h, pad = 300, 560, 22, 6
    width = label_w + bar_w + 90
    height = pad * 2 + row_h * len(rows)
    biggest = max((sum(c.get(k, 0) for k in keys) for _, c in rows), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">'
        f"<title>{_e(title)}</title>"
    ]
    for i, (label, counts) in enumerate(rows):
        y = pad + i * row_h
        total = sum(counts.get(k, 0) for k in keys)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{_e(_short(label))}'
            f"<title>{_e(label)}</title></text>"
        )
        x = float(label_w)
        for key in keys:
            value = counts.get(key, 0)
            if not value:
                continue
            w = bar_w * value / biggest
            parts.append(
                f'<rect x="{x:.2f}" y="{y + 3}" width="{max(w, 0.8):.2f}" height="{row_h - 6}" '
                f'fill="{COLORS[key]}"><title>{_e(label)}: {_n(value)} {_e(LABELS[key])}</title></rect>'
            )
            x += w
        parts.append(f'<text x="{x + 6:.2f}" y="{y + 15}">{_n(total)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _columns(months: list[tuple[str, dict[str, int]]], title: str) -> str:
    """Vertical bars, one per month, stacked by severity."""
    if not months:
        return ""
    width, height, left, right, bottom, top = 1000, 230, 48, 30, 34, 10
    area_w, area_h = width - left - right, height - bottom - top
    step = area_w / len(months)
    bar = max(1.0, min(28.0, step * 0.75))
    biggest = max(sum(c.values()) for _, c in months) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">'
        f"<title>{_e(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{top + area_h}" x2="{width - right}" y2="{top + area_h}"/>',
        f'<text x="{left - 6}" y="{top + 8}" text-anchor="end">{_n(biggest)}</text>',
        f'<text x="{left - 6}" y="{top + area_h}" text-anchor="end">0</text>',
    ]
    every = max(1, -(-len(months) // 12))  # at most a dozen labels
    for i, (label, counts) in enumerate(months):
        x = left + i * step + (step - bar) / 2
        y = float(top + area_h)
        for key in SEVERITIES:
            value = counts.get(key, 0)
            if not value:
                continue
            h = area_h * value / biggest
            y -= h
            parts.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{bar:.2f}" height="{max(h, 0.8):.2f}" '
                f'fill="{COLORS[key]}"><title>{_e(label)}: {_n(value)} {key}</title></rect>'
            )
        if i % every == 0 or i == len(months) - 1:
            parts.append(
                f'<text x="{x + bar / 2:.2f}" y="{top + area_h + 16}" '
                f'text-anchor="middle">{_e(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------- sections


def _header(meta: dict[str, Any], data: dict[str, Any]) -> str:
    inputs = ", ".join(f"<code>{_e(p)}</code>" for p in meta["inputs"]) or "(fed directly)"
    rulesets = "; ".join(
        f"<code>{_e(r['rulesets'])}</code> ({_n(r['claims'])} claims)" for r in data["rulesets"]
    )
    if data["rulesets_other_claims"]:
        rulesets += f"; other selections: {_n(data['rulesets_other_claims'])} claims"
    return (
        f"<header><h1>{_e(meta['title'])}</h1>"
        f'<p class="meta">Generated {_e(meta["generated"])} by hcpcs-rules {_e(meta["version"])} '
        f"from {inputs}.{' Rulesets: ' + rulesets + '.' if rulesets else ''}</p></header>"
    )


def _warnings(data: dict[str, Any]) -> str:
    out = []
    problems = data["problems"]
    if problems["total"]:
        out.append(
            f'<div class="warning" id="problems-warning">{_num(problems["total"], "problems.total", cls="")} '
            "input record(s) could not be read and are not counted below "
            '(<a href="#problems">the list</a>).</div>'
        )
    totals = data["totals"]
    if totals["claims"] and totals["claim_findings"] != totals["findings"]:
        out.append(
            '<div class="warning" id="mismatch-warning">The claims rows count '
            f"{_num(totals['claim_findings'], 'totals.claim_findings', cls='')} findings, but "
            f"{_num(totals['findings'], 'totals.findings_rows', cls='')} finding rows were read: "
            "the claims and findings tables given do not match (one may be missing or "
            "incomplete).</div>"
        )
    return "".join(out)


def _totals(data: dict[str, Any]) -> str:
    t = data["totals"]
    tiles = [
        ("", "Claims", _num(t["claims"], "totals.claims")),
        ("", "Checked", _num(t["checked"], "totals.checked")),
        *(
            (s, s.capitalize(), _num(t["by_status"][s], f"totals.by_status.{s}"))
            for s in ("reject", "deny", "warn", "clean")
        ),
        ("refused", "Refused", _num(t["refused"], "totals.refused")),
        ("", "Findings", _num(t["findings"], "totals.findings")),
        ("", "Service lines", _num(t["lines"], "totals.lines")),
    ]
    html = "".join(
        f'<div class="tile {cls}"><span class="label">{_e(label)}</span>{num}</div>'
        for cls, label, num in tiles
    )
    refused = ", ".join(
        f"{_num(t['by_status'][s], f'totals.by_status.{s}', cls='')} {s}" for s in REFUSED
    )
    severities = ", ".join(
        f"{_num(t['by_severity'][s], f'totals.by_severity.{s}', cls='')} {s}" for s in SEVERITIES
    )
    chart = _hbars(
        [("All claims", t["by_status"])], STATUSES, "Claims by status (each claim counted once)"
    )
    return (
        '<section id="totals"><h2>Claims by status</h2>'
        f'<div class="tiles">{html}</div>{_legend(STATUSES)}{chart}'
        f'<p class="note">A claim\'s status is its most severe finding. Refused: {refused}. '
        f"Findings by severity: {severities}; "
        f"{_num(t['ignored'], 'totals.ignored', cls='')} more ignored by the policy.</p></section>"
    )


def _payer_label(payer: str | None, overlay: str | None) -> str:
    p = payer if payer is not None else "(none)"
    return p if overlay in (None, payer) else f"{p} as {overlay}"


def _payers(data: dict[str, Any]) -> str:
    payers, other = data["payers"], data["payers_other"]
    if not payers and not other["claims"] and not other["findings"]:
        return ""
    chart_rows = [(_payer_label(p["payer"], p["overlay"]), p["by_status"]) for p in payers]
    if other["claims"]:
        chart_rows.append(("other payers", other["by_status"]))
    head = "".join(f'<th class="n">{_e(s)}</th>' for s in STATUSES)
    body = []
    for p in payers:
        cells = "".join(_cell(p["by_status"][s], s) for s in STATUSES)
        body.append(
            f'<tr data-payer="{_e(p["payer"])}" data-overlay="{_e(p["overlay"])}">'
            f'<td class="id">{_e(p["payer"] if p["payer"] is not None else "(none)")}</td>'
            f'<td class="id">{_e(p["overlay"] if p["overlay"] is not None else "(none)")}</td>'
            f"{_cell(p['claims'], 'claims')}{cells}{_cell(p['findings'], 'findings')}</tr>"
        )
    if other["claims"] or other["findings"]:
        cells = "".join(_cell(other["by_status"][s], s) for s in STATUSES)
        what = f"{_n(other['payers'])} more payer/overlay pairs"
        if other["overflow_rows"]:
            what += f", and {_n(other['overflow_rows'])} rows past the cap of distinct pairs"
        body.append(
            f'<tr class="other" data-payer-other="1"><td colspan="2">other ({what})</td>'
            f"{_cell(other['claims'], 'claims')}{cells}{_cell(other['findings'], 'findings')}</tr>"
        )
    return (
        '<section id="payers"><h2>By payer</h2>'
        '<p class="note">Claims by the payer they name, and the payer overlay the rules '
        "applied (a Medicare Advantage plan, a mapped payer...); refused claims have none.</p>"
        f"{_legend(STATUSES)}{_hbars(chart_rows, STATUSES, 'Claims by payer and status')}"
        '<table id="payers-table"><thead><tr><th>payer</th><th>overlay</th>'
        f'<th class="n">claims</th>{head}<th class="n">findings</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></section>"
    )


def _rules(data: dict[str, Any]) -> str:
    rules, other = data["rules"], data["rules_other"]
    if not rules:
        return ""
    chart = _hbars([(r["rule_id"], r["by_severity"]) for r in rules[:15]], SEVERITIES, "Top rules")
    body = []
    for r in rules:
        ex = r["example"]
        line = "claim" if ex["line"] is None else f"line {ex['line']}"
        sevs = " ".join(
            f'<span class="sev {s}" data-severity="{s}" data-count="{r["by_severity"][s]}">'
            f"{s} {_n(r['by_severity'][s])}</span>"
            for s in SEVERITIES
            if r["by_severity"][s]
        )
        body.append(
            f'<tr data-rule="{_e(r["rule_id"])}"><td class="id">{_e(r["rule_id"])}</td>'
            f"{_cell(r['findings'], 'findings')}<td>{sevs}</td>"
            f'<td class="id">{_e(ex["claim_id"])} <span class="note">{_e(line)}</span></td>'
            f'<td class="msg">{_e(ex["message"])}</td></tr>'
        )
    if other["findings"]:
        what = f"{_n(other['rules'])} more rules"
        if other["overflow_rows"]:
            what += f", and {_n(other['overflow_rows'])} findings past the cap of distinct rules"
        body.append(
            f'<tr class="other" data-rule-other="1"><td>other ({what})</td>'
            f"{_cell(other['findings'], 'findings')}<td></td><td></td><td></td></tr>"
        )
    return (
        '<section id="rules"><h2>Top rules</h2>'
        f"{_legend(SEVERITIES)}{chart}"
        '<table id="rules-table"><thead><tr><th>rule</th><th class="n">findings</th>'
        "<th>severity (after the policy)</th><th>example claim</th><th>its message</th>"
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></section>"
    )


def _months(data: dict[str, Any]) -> str:
    months = data["months"]
    earlier, undated, other = data["months_earlier"], data["months_undated"], data["months_other"]
    rows = [(m["month"], m) for m in months]
    extra = []
    if earlier["months"]:
        extra.append((f"earlier ({_n(earlier['months'])} months)", earlier, "earlier"))
    if undated["claims"] or any(undated["by_severity"].values()):
        extra.append(("no date of service", undated, "undated"))
    if other["overflow_rows"]:
        extra.append(("past the cap of distinct months", other, "other"))
    if not rows and not extra:
        return ""
    chart = _columns(
        [(m["month"], m["by_severity"]) for m in months], "Findings by month of date of service"
    )
    head = "".join(f'<th class="n">{s}</th>' for s in SEVERITIES)
    body = []
    for label, m, key in [*((r[0], r[1], r[0]) for r in rows), *extra]:
        cls = "" if key == label else ' class="other"'
        cells = "".join(_cell(m["by_severity"][s], s) for s in SEVERITIES)
        body.append(
            f'<tr{cls} data-month="{_e(key)}"><td>{_e(label)}</td>{_cell(m["claims"], "claims")}'
            f"{cells}</tr>"
        )
    return (
        '<section id="months"><h2>Findings by month of date of service</h2>'
        f"{_legend(SEVERITIES)}{chart}"
        '<table id="months-table"><thead><tr><th>month</th><th class="n">claims</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        '<p class="note">A claim counts in the month of its earliest line; a finding in the '
        "month of its line (a claim-level finding: the claim's).</p></section>"
    )


def _columns_of(rows: list[dict[str, Any]], columns: list[tuple[str, str, Any, str | None]]) -> Any:
    """The header cells, and a function drawing a row's cells, of the columns worth showing: a
    column naming an optional key is left out when no row has a value for it (JSON Lines
    results do not say which input a claim came from)."""
    kept = [c for c in columns if c[3] is None or any(r[c[3]] is not None for r in rows)]
    head = "".join(f"<th>{_e(title)}</th>" for title, _, _, _ in kept)

    def cells(row: dict[str, Any]) -> str:
        return "".join(
            f'<td class="{cls}">{draw(row)}</td>' if cls else f"<td>{draw(row)}</td>"
            for _, cls, draw, _ in kept
        )

    return head, cells


def _findings(data: dict[str, Any]) -> str:
    table = data["findings_table"]
    rows = table["rows"]
    if not table["total"]:
        return '<section id="findings"><h2>Findings</h2><p>No findings.</p></section>'
    rule_ids = sorted({r["rule_id"] for r in rows})
    options = "".join(f'<option value="{_e(r)}">{_e(r)}</option>' for r in rule_ids)
    severities = "".join(f'<option value="{s}">{s}</option>' for s in SEVERITIES)
    columns = [
        ("claim", "id", lambda r: _e(r["claim_id"]), None),
        ("line", "", lambda r: "claim" if r["line"] is None else str(r["line"]), None),
        ("HCPCS", "code", lambda r: _e(r["hcpcs"]), None),
        ("date of service", "day", lambda r: _e(r["date_of_service"]), None),
        ("payer", "id", lambda r: _e(_payer_label(r["payer"], r["overlay"])), None),
        ("rule", "id", lambda r: _e(r["rule_id"]), None),
        (
            "severity",
            "",
            lambda r: f'<span class="sev {r["severity"]}">{r["severity"]}</span>',
            None,
        ),
        ("message", "msg", lambda r: _e(r["message"]), None),
        ("location", "code", lambda r: _e(r["location"]), "location"),
        ("input", "code", lambda r: _e(r["input"]), "input"),
    ]
    head, cells = _columns_of(rows, columns)
    body = [
        f'<tr data-severity="{r["severity"]}" data-rule="{_e(r["rule_id"])}">{cells(r)}</tr>'
        for r in rows
    ]
    rest = ""
    if table["not_shown"]:
        rest = (
            f'<p class="note">The first {_n(len(rows))} findings are listed; '
            f"{_num(table['not_shown'], 'findings_table.not_shown', cls='')} more are counted "
            "above but not listed.</p>"
        )
    return (
        '<section id="findings"><h2>Findings</h2>'
        '<div class="controls"><label>Filter <input id="filter-text" type="search" '
        'placeholder="claim id, message, payer..." autocomplete="off"></label>'
        '<label>Severity <select id="filter-severity"><option value="">all</option>'
        f"{severities}</select></label>"
        f'<label>Rule <select id="filter-rule"><option value="">all</option>{options}'
        "</select></label></div>"
        f'<p class="note">Showing <span id="filter-count" data-count="{len(rows)}">'
        f"{_n(len(rows))}</span> of {_num(len(rows), 'findings_table.listed', cls='')} listed "
        f"findings.</p>{rest}"
        f'<table id="findings-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        "</section>"
    )


def _refused(data: dict[str, Any]) -> str:
    refused = data["refused"]
    if not refused["total"]:
        return ""
    columns = [
        ("claim", "id", lambda r: _e(r["claim_id"]), "claim_id"),
        ("input", "code", lambda r: _e(r["input"]), "input"),
        ("status", "", lambda r: f'<span class="sev {r["status"]}">{r["status"]}</span>', None),
        ("why", "msg", lambda r: _e(r["error"]), None),
    ]
    head, cells = _columns_of(refused["rows"], columns)
    body = "".join(f'<tr data-status="{r["status"]}">{cells(r)}</tr>' for r in refused["rows"])
    rest = ""
    if refused["not_shown"]:
        rest = (
            f'<p class="note">{_num(refused["not_shown"], "refused.not_shown", cls="")} more '
            "refused claims are counted but not listed.</p>"
        )
    return (
        '<section id="refused"><h2>Refused claims</h2>'
        '<p class="note">Claims that were not checked: invalid (the claim does not fit the '
        "input format: fix and resend), failed (an internal error: report it), unreadable.</p>"
        f'<table id="refused-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        f"{rest}</section>"
    )


def _problems(data: dict[str, Any]) -> str:
    problems = data["problems"]
    if not problems["total"]:
        return ""
    body = "".join(
        f'<tr><td class="code">{_e(p["location"])}</td><td class="msg">{_e(p["message"])}</td></tr>'
        for p in problems["rows"]
    )
    rest = ""
    if problems["not_shown"]:
        rest = f'<p class="note">{_n(problems["not_shown"])} more are not listed.</p>'
    return (
        '<section id="problems"><h2>Input records that could not be read</h2>'
        '<table id="problems-table"><thead><tr><th>where</th><th>problem</th></tr></thead>'
        f"<tbody>{body}</tbody></table>{rest}</section>"
    )


def _footer(data: dict[str, Any]) -> str:
    caps = data["caps"]
    return (
        '<footer class="note"><p>Counted exactly for up to '
        f"{_n(caps['payers'])} payer/overlay pairs, {_n(caps['rules'])} rules and "
        f"{_n(caps['months'])} months (rows with a key first seen after a cap are counted as "
        f'"other"); the first {_n(caps["findings"])} findings and {_n(caps["refused"])} refused '
        "claims are listed. The numbers are also in this file as JSON "
        "(<code>script#report-data</code>).</p></footer>"
    )


def _version() -> str:
    # As the package's __init__ finds it; imported from there, this stage would import a later one.
    try:
        return version("hcpcs-rules")
    except PackageNotFoundError:
        return "0+unknown"


def render_html(
    data: dict[str, Any],
    *,
    title: str = "Claim check report",
    inputs: list[str] | tuple[str, ...] = (),
    generated: dt.datetime | None = None,
) -> str:
    """The report page for ``data`` (from :meth:`Aggregator.close`), as one HTML document."""
    when = (generated or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    meta = {
        "title": title,
        "inputs": list(inputs),
        "generated": when.strftime("%Y-%m-%d %H:%M UTC"),
        "version": _version(),
    }
    body = "".join(
        (
            _header(meta, data),
            _warnings(data),
            _totals(data),
            _payers(data),
            _rules(data),
            _months(data),
            _findings(data),
            _refused(data),
            _problems(data),
            _footer(data),
        )
    )
    # The listed findings are in the table already: embedding them again would double the page.
    table = data["findings_table"]
    listed = {
        "listed": len(table["rows"]),
        "total": table["total"],
        "not_shown": table["not_shown"],
    }
    embedded = _json_for_script({"meta": meta, **data, "findings_table": listed})
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="hcpcs-rules report">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n"
        f'<script type="application/json" id="report-data">{embedded}</script>\n'
        f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )
