"""The QA report as one self-contained HTML page: inline CSS, inline SVG and
a few lines of inline script, nothing fetched from anywhere. Every text that
came from a dropped file is escaped (svg.esc)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import polars as pl

from kqc.report import points
from kqc.report.charts import contaminant_chart, control_chart, uniformity_chart
from kqc.report.svg import esc, fmt


class Selection(Protocol):
    @property
    def ids(self) -> list[str]: ...
    @property
    def flagged(self) -> list[str]: ...
    @property
    def total(self) -> int: ...
    @property
    def total_flagged(self) -> int: ...

    @property
    def left_out(self) -> int: ...

    @property
    def flagged_left_out(self) -> int: ...


class ReportSource(Protocol):
    """What the report reads (kqc.store.report_data.ReportData has it)."""

    @property
    def database(self) -> str: ...
    @property
    def generated_at(self) -> datetime: ...
    @property
    def status_counts(self) -> dict[str, int]: ...
    @property
    def statuses(self) -> pl.DataFrame: ...
    @property
    def flag_counts(self) -> dict[str, int]: ...
    @property
    def open_by_severity(self) -> dict[str, int]: ...
    @property
    def flags(self) -> pl.DataFrame: ...
    @property
    def thresholds(self) -> pl.DataFrame: ...
    @property
    def registers(self) -> pl.DataFrame: ...
    @property
    def uniformity(self) -> Selection: ...
    @property
    def uniformity_results(self) -> pl.DataFrame: ...
    @property
    def contaminants(self) -> Selection: ...
    @property
    def contaminant_results(self) -> pl.DataFrame: ...
    @property
    def control(self) -> Selection: ...
    @property
    def control_points(self) -> pl.DataFrame: ...


def render(data: ReportSource) -> str:
    version = sorted(set(data.thresholds["version"].to_list())) if data.thresholds.height else []
    body = "".join(
        (
            _header(data, ", ".join(version) or "none"),
            _flags_section(data),
            _status_section(data),
            _uniformity_section(data),
            _contaminant_section(data),
            _control_section(data),
            _footer(),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>kqc QA report — {esc(data.database)}</title><style>{_CSS}</style></head>"
        f"<body>{body}<script>{_MEASURE}</script></body></html>\n"
    )


def _header(data: ReportSource, version: str) -> str:
    s = data.status_counts
    sev = data.open_by_severity
    cards = "".join(
        f'<div class="card {cls}"><div class="big">{n:,}</div><div>{esc(label)}</div></div>'
        for cls, n, label in (
            ("fail", s.get("FAIL", 0), "batches FAIL"),
            ("incomplete", s.get("INCOMPLETE", 0), "batches INCOMPLETE"),
            ("pass", s.get("PASS", 0), "batches PASS"),
            ("open", data.flag_counts.get("open", 0), "open flags"),
        )
    )
    severity = ", ".join(
        f"{sev.get(k, 0):,} {k}" for k in ("critical", "major", "minor") if sev.get(k)
    )
    reviewed = ", ".join(
        f"{data.flag_counts.get(k, 0):,} {k}"
        for k in ("confirmed", "dismissed", "resolved")
        if data.flag_counts.get(k)
    )
    return (
        "<header><h1>kqc QA report</h1>"
        f'<p class="meta">Database <code>{esc(data.database)}</code> · generated'
        f" {data.generated_at:%Y-%m-%d %H:%M} UTC · thresholds version {esc(version)}</p>"
        f'<div class="cards">{cards}</div>'
        f'<p class="meta">Open flags: {esc(severity or "none")}'
        f"{' · reviewed: ' + esc(reviewed) if reviewed else ''}.</p></header>"
    )


# Column widths (px) of the flags table; the sentence saying why takes the rest.
_FLAG_WIDTHS = (136, 150, 124, 150, 76, 60, 76, 120, 190)
_SEVERITY_CLASS = {"critical": "sev-critical", "major": "sev-major", "minor": "sev-minor"}


def _flags_section(data: ReportSource) -> str:
    flags = data.flags
    total = data.flag_counts.get("open", 0)
    rows = []
    for f in flags.iter_rows(named=True):
        sev = f["severity"] or ""
        rows.append(
            "<tr>"
            f'<td><span class="pill {_SEVERITY_CLASS.get(sev, "")}">{esc(sev)}</span>'
            f'<br><code class="id">{esc(f["flag_id"])}</code></td>'
            f'<td class="batch"><code>{esc(f["batch_id"])}</code><br>'
            f"<small>{esc(f['product_name'])}</small></td>"
            f"<td>{esc(f['rule'])}</td><td>{esc(f['analyte'])}</td>"
            f'<td class="num">{esc(fmt(f["observed"], 4))}</td>'
            f'<td class="num">{esc(fmt(f["limit_value"], 4))}</td>'
            f"<td>{esc(f['unit'])}</td><td>{esc(f['basis'])}<br><small>{esc(f['profile'])}</small></td>"
            f'<td class="src">{esc(f["source"])}</td><td class="msg">{esc(f["message"])}</td></tr>'
        )
    more = _more(total - flags.height, "open flags", "kqc flags --status open")
    table = (
        '<table class="flags"><colgroup>'
        + "".join(f'<col style="width:{w}px">' for w in _FLAG_WIDTHS)
        + "<col></colgroup><thead><tr><th>severity</th><th>batch</th><th>rule</th>"
        "<th>analyte</th><th>observed</th><th>limit</th><th>unit</th><th>basis</th>"
        "<th>source</th><th>why</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else '<p class="ok">No open flags.</p>'
    )
    return (
        f'<section id="flags"><h2>Open flags <small>({total:,})</small></h2>'
        '<p class="hint">Most severe first. Observed and limit are in the unit shown, on the'
        " basis shown (per_g: per gram of product; per_day: daily exposure at the register's"
        " serving size and servings per day). Decide with <code>kqc review FLAG_ID</code>.</p>"
        f'<div class="scroll">{table}</div>{more}</section>'
    )


def _status_section(data: ReportSource) -> str:
    st = data.statuses
    total = sum(data.status_counts.values())
    rows = "".join(
        f'<tr><td><span class="pill st-{esc(r["status"]).lower()}">{esc(r["status"])}</span></td>'
        f"<td><code>{esc(r['batch_id'])}</code></td><td>{esc(r['product_name'])}</td>"
        f"<td>{esc(r['product_id'])}</td><td>{esc(r['manufactured_on'])}</td>"
        f'<td class="num">{r["open_flags"]}</td></tr>'
        for r in st.iter_rows(named=True)
    )
    more = _more(total - st.height, "batches", "kqc flags, or SELECT * FROM batch_status")
    return (
        f'<section id="status"><h2>Batch status <small>({total:,} batches)</small></h2>'
        '<p class="hint">FAIL: a finding is open or confirmed. INCOMPLETE: only a missing test'
        " or an inconclusive result stands. PASS: nothing left. FAIL first, then INCOMPLETE;"
        " most recently made first.</p>"
        '<div class="scroll short"><table><thead><tr><th>status</th><th>batch</th>'
        "<th>product</th><th>product id</th><th>made</th><th>open flags</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>{more}</section>"
    )


def _uniformity_section(data: ReportSource) -> str:
    sel = data.uniformity
    batches = points.uniformity(
        data.uniformity_results, data.registers, data.thresholds, sel.ids, sel.flagged
    )
    notes = "".join(
        f"<li><code>{esc(b.batch_id)}</code>: {esc(b.note)}</li>" for b in batches if b.note
    )
    chart = (
        uniformity_chart(batches)
        if any(b.units for b in batches)
        else '<p class="ok">No batch has per-unit results.</p>'
    )
    return (
        '<section id="uniformity"><h2>Content uniformity: each unit against the label claim</h2>'
        '<p class="hint">Each dot is one production unit (capsule, tablet, shot): its mitragynine'
        " as % of the label claim per unit, computed as the content_uniformity rule computes it"
        " (a non-detect counts as LOQ/2). The shaded band is 0.75 M – 1.25 M (USP &lt;905&gt;"
        " stage 2, M by the T rule); dashed red lines are the label-claim band in force;"
        " AV is the acceptance value against L1. Red dots: the batch has a content-uniformity"
        " flag.</p>"
        f'<figure class="wide">{chart}</figure>'
        f"{f'<ul class=notes>{notes}</ul>' if notes else ''}"
        f"{_selection_note(sel, 'batches with per-unit results', 'content-uniformity')}</section>"
    )


def _contaminant_section(data: ReportSource) -> str:
    sel = data.contaminants
    found = points.contaminants(data.contaminant_results, data.registers, data.thresholds, sel.ids)
    figures = []
    for basis, heading in (
        ("per_g", "Per gram of product"),
        ("per_day", "Per day (µg/g × serving size × servings per day)"),
    ):
        if any(p.basis == basis for p in found):
            chart = contaminant_chart(found, basis)
            figures.append(f'<h3>{esc(heading)}</h3><figure class="wide">{chart}</figure>')
    body = "".join(figures) or '<p class="ok">No contaminant results.</p>'
    return (
        '<section id="contaminants"><h2>Contaminants against their limits</h2>'
        '<p class="hint">Each mark is one result of a charted batch as a % of the strictest limit'
        " in force for that batch (heavy metals, residual solvents, microbial counts), judged as"
        " the rules judge it. A non-detect is never drawn as zero: a hollow triangle at its"
        " bound (LOQ) means “below this”, orange when that bound is above the limit and so"
        " proves nothing. Hover a mark for the lab's reported text and the limit's source.</p>"
        f"{body}{_selection_note(sel, 'batches with contaminant results', 'contaminant')}"
        "</section>"
    )


def _control_section(data: ReportSource) -> str:
    sel = data.control
    charts = points.control_charts(data.control_points, data.thresholds, sel.ids)
    figures = "".join(
        f"<h3>{esc(c.product_name or c.product_id)} <small><code>{esc(c.product_id)}</code>"
        f'</small></h3><figure class="wide">{control_chart(c, i)}</figure>'
        for i, c in enumerate(charts)
        if c.points
    )
    return (
        '<section id="control"><h2>Control charts: batch mean mitragynine per product</h2>'
        '<p class="hint">Batches in the order made. For each batch the potency_drift rule'
        " compares its mean with the mean ± k SD of every earlier batch of the product"
        " (at least five): the stepped lines are those limits, so a point outside them is out"
        " of control. The most recent batches of each product are shown.</p>"
        f"{figures or '<p class=ok>No batch means yet.</p>'}"
        f"{_selection_note(sel, 'products with batch means', 'potency-drift', 'products')}"
        "</section>"
    )


def _selection_note(sel: Selection, what: str, rule: str, things: str = "batches") -> str:
    text = (
        f"Charted: {len(sel.ids):,} of {sel.total:,} {what} — every one with an open or"
        f" confirmed {rule} flag, up to a limit, then the most recent."
    )
    if sel.left_out:
        text += f" {sel.left_out:,} more {things} not shown"
        text += (
            f", {sel.flagged_left_out:,} of them flagged (see the flags above or kqc flags)."
            if sel.flagged_left_out
            else "."
        )
    return f'<p class="more">{esc(text)}</p>'


def _more(n: int, what: str, where: str) -> str:
    if n <= 0:
        return ""
    return f'<p class="more">{n:,} more {esc(what)} not shown: see <code>{esc(where)}</code>.</p>'


def _footer() -> str:
    return (
        '<footer><p id="drawn-summary" class="meta"></p><p class="meta">Non-detects are never'
        " zeros: in means they count as LOQ/2 and in sums as zero (Directive 2009/90/EC art. 5);"
        " against a limit a non-detect passes only when its LOQ is at or below it. Sources of"
        " every limit: <code>kqc thresholds</code>.</p></footer>"
    )


# Measures every chart once the page is laid out: how many data marks and
# limit lines actually have a size and lie inside their chart. The counts go
# into the DOM (data-marks-drawn on each chart, data-charts-drawn on <body>),
# where a headless browser can read them back.
_MEASURE = """
(function () {
  function measure() {
    var charts = document.querySelectorAll('svg.chart'), ok = 0;
    charts.forEach(function (svg) {
      var box = svg.getBoundingClientRect(), drawn = 0, limits = 0;
      svg.querySelectorAll('.mark, .limit').forEach(function (el) {
        var b = el.getBBox(), r = el.getBoundingClientRect();
        var inside = r.right > box.left && r.left < box.right &&
                     r.bottom > box.top && r.top < box.bottom;
        if ((b.width > 0 || b.height > 0) && inside) {
          if (el.classList.contains('mark')) { drawn++; } else { limits++; }
        }
      });
      svg.setAttribute('data-marks-drawn', drawn);
      svg.setAttribute('data-limits-drawn', limits);
      if (drawn > 0) { ok++; }
    });
    document.body.setAttribute('data-charts', charts.length);
    document.body.setAttribute('data-charts-drawn', ok);
    var note = document.getElementById('drawn-summary');
    if (note) { note.textContent = ok + ' of ' + charts.length + ' charts drawn.'; }
  }
  if (document.readyState === 'complete') { measure(); }
  else { window.addEventListener('load', measure); }
})();
"""

_CSS = """
:root { --ink:#1f2933; --muted:#6b7785; --line:#e3e8ee; --fail:#c62828; --pass:#2e7d32;
        --warn:#ef6c00; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); margin: 0 auto; padding: 24px 32px 48px; max-width: 1400px;
       background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 6px; padding-top: 12px; border-top: 2px solid var(--line); }
h2 small, h3 small { color: var(--muted); font-weight: normal; }
h3 { font-size: 15px; margin: 18px 0 4px; }
.meta, .hint { color: var(--muted); margin: 4px 0 10px; max-width: 1100px; }
.more { color: var(--ink); background: #fff8e1; border-left: 4px solid #f9a825;
        padding: 6px 10px; margin: 8px 0; }
.ok { color: var(--pass); }
.cards { display: flex; gap: 12px; margin: 14px 0; flex-wrap: wrap; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; min-width: 150px;
        border-top: 5px solid var(--muted); }
.card .big { font-size: 26px; font-weight: 700; }
.card.fail { border-top-color: var(--fail); } .card.fail .big { color: var(--fail); }
.card.incomplete { border-top-color: var(--warn); } .card.incomplete .big { color: var(--warn); }
.card.pass { border-top-color: var(--pass); } .card.pass .big { color: var(--pass); }
.card.open { border-top-color: #1565c0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th { text-align: left; background: #f4f6f8; position: sticky; top: 0; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.flags { table-layout: fixed; min-width: 1280px; }
table.flags td { overflow-wrap: anywhere; }
code.id { color: var(--muted); font-size: 11px; }
td.batch code { white-space: nowrap; }
td.src { color: var(--muted); font-size: 12px; }
.scroll { max-height: 640px; overflow: auto; border: 1px solid var(--line); }
.scroll.short { max-height: 360px; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
        font-weight: 600; color: #fff; background: var(--muted); }
.sev-critical, .st-fail { background: var(--fail); }
.sev-major { background: var(--warn); }
.sev-minor { background: #78909c; }
.st-incomplete { background: var(--warn); } .st-pass { background: var(--pass); }
figure.wide { margin: 6px 0 12px; overflow-x: auto; }
svg.chart { font-family: inherit; background: #fff; display: block; }
ul.notes { color: var(--muted); }
code { font-size: 12px; }
footer { margin-top: 36px; border-top: 2px solid var(--line); }
"""
