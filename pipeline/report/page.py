"""A Report as terminal text and as one self-contained HTML page (inline SVG, CSS and a few lines
of script for the family filter; nothing loaded from the network when it is viewed).

The filter: one checkbox per event family hides or shows its marks on the map, its row of the
time line and its row of the family table; the page's address can preselect families
(`report.html#families=Battles,Protests`) so a filtered view can be shared.
"""

from __future__ import annotations

import html
from typing import Any, Optional

from pipeline.report.charts import PALETTE, bars, bin_of, colour, events_map, timeline
from pipeline.report.data import Report


# --- terminal ------------------------------------------------------------------------------------
def _table(title: str, header: tuple[str, ...], body: list[tuple[Any, ...]]) -> list[str]:
    if not body:
        return [f"{title}: none", ""]
    cells = [tuple("" if v is None else str(v) for v in row) for row in body]
    widths = [max(len(header[i]), *(len(r[i]) for r in cells)) for i in range(len(header))]
    numeric = [all(isinstance(row[i], (int, float)) for row in body) for i in range(len(header))]

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return [title, "  " + line(header), *("  " + line(r) for r in cells), ""]


def _span(report: Report) -> Optional[str]:
    days = [d for d, _, _ in report.dated_events]
    return f"{min(days)} to {max(days)}" if days else None


def _undated(report: Report) -> str:
    coarse = f" ({report.coarse_events} dated only to a month or year)" if report.coarse_events else ""
    return f"{report.undated_events} events without a day{coarse}"


def to_text(report: Report) -> str:
    lines = [f"newsbeam report: {report.source}", ""]
    lines += _table("rows by table", ("table", "rows"), list(report.counts.items()))
    lines += [f"duplicate ratio: {report.duplicate_ratio:.1%} of the articles that passed cleaning", ""]
    lines += _table("events by family", ("family", "events", "killed"), report.events_by_family)
    lines += _table("events by type", ("type", "events"), report.events_by_type)
    span = _span(report)
    lines += [
        f"event dates: {span}; {_undated(report)}" if span else f"event dates: none; {_undated(report)}",
        f"on the map: {sum(p.events for p in report.points)} events at {len(report.points)} points, "
        f"{report.unplaced_events} without a place the map knows",
        "",
    ]
    lines += _table("top actors", ("actor", "sector", "country", "events"), report.top_actors)
    lines += _table("top places", ("place", "country", "events"), report.top_places)
    lines += _table("duplicates by method", ("method", "rows"), report.duplicates_by_method)
    lines += _table(
        "dead letters by reason",
        ("stage", "reason", "rows"),
        [(s, r if len(r) <= 80 else r[:77] + "...", n) for s, r, n in report.dead_letters],
    )
    return "\n".join(lines).rstrip() + "\n"


# --- HTML ----------------------------------------------------------------------------------------
def _html_table(header: tuple[str, ...], body: list[tuple[Any, ...]], families: Optional[list[str]] = None) -> str:
    if not body:
        return "<p class=none>none</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = []
    for i, row in enumerate(body):
        tag = f' data-family="{html.escape(families[i], quote=True)}"' if families else ""
        cells = "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row)
        rows.append(f"<tr{tag}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _filter(report: Report) -> str:
    boxes = "".join(
        f'<label><input type="checkbox" checked data-filter="{html.escape(name, quote=True)}">'
        f'<i style="background:{colour(name)}"></i>{html.escape(name)} ({n})</label>'
        for name, n, _ in report.events_by_family
    )
    return f'<div class="filter">{boxes}</div>' if boxes else ""


_SCRIPT = """
const boxes = [...document.querySelectorAll('[data-filter]')];
function apply() {
  const shown = new Set(boxes.filter(b => b.checked).map(b => b.dataset.filter));
  document.querySelectorAll('[data-family]').forEach(el => {
    el.style.display = shown.has(el.dataset.family) ? '' : 'none';
  });
}
const wanted = decodeURIComponent(location.hash).match(/families=([^&]*)/);
if (wanted) { const names = wanted[1].split(','); boxes.forEach(b => b.checked = names.includes(b.dataset.filter)); }
boxes.forEach(b => b.addEventListener('change', apply));
apply();
"""

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card b { display: block; font-size: 1.5em; } .card span { color: #666; }
.filter { position: sticky; top: 0; background: #fff; padding: 6px 0; border-bottom: 1px solid #eee; z-index: 1; }
.filter label { margin-right: 14px; white-space: nowrap; cursor: pointer; }
.filter i { display: inline-block; width: 11px; height: 11px; margin: 0 4px 0 3px; border-radius: 2px; }
svg text { font: 12px system-ui, sans-serif; fill: #333; } svg .peak { fill: #888; font-size: 10px; }
.note { color: #666; }
table { border-collapse: collapse; margin-top: 1em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
.none { color: #888; }
"""


def to_html(report: Report) -> str:
    cards = "".join(
        f"<div class=card><b>{n:,}</b><span>{html.escape(name.replace('_', ' '))}</span></div>"
        for name, n in report.counts.items()
    )
    stages: dict[str, int] = {}
    for stage, _, n in report.dead_letters:
        stages[stage] = stages.get(stage, 0) + n
    mapped = sum(p.events for p in report.points)
    span = _span(report)
    sections = [
        (
            "Events map",
            events_map(report.points)
            + f"<p class=note>{mapped} events at {len(report.points)} places; a ring stands at the centre of the "
            f"subdivision or country when the city is not known; area grows with fatalities; "
            f"{report.unplaced_events} events have no place the map knows.</p>",
        ),
        (
            "Time line",
            timeline(report.dated_events, report.families)
            + (
                f"<p class=note>Events per {bin_of([d for d, _, _ in report.dated_events])} by the date they "
                f"happened (the publication date when the text gives none), {span}; "
                f"{_undated(report)}.</p>"
                if span
                else ""
            ),
        ),
        (
            "Event families",
            _html_table(("family", "events", "killed"), report.events_by_family, report.families),
        ),
        ("Events by type", bars(report.events_by_type)),
        (
            "Top actors",
            bars([(f"{a} ({c or s})" if (c or s) else a, n) for a, s, c, n in report.top_actors], PALETTE[1]),
        ),
        ("Top places", bars([(f"{p} ({c})" if c else p, n) for p, c, n in report.top_places], PALETTE[2])),
        (
            f"Duplicates: {report.duplicate_ratio:.1%} of the articles that passed cleaning",
            bars(report.duplicates_by_method, PALETTE[7]),
        ),
        (
            "Dead letters by stage",
            bars(sorted(stages.items(), key=lambda kv: -kv[1]), PALETTE[3])
            + _html_table(("stage", "reason", "rows"), report.dead_letters),
        ),
    ]
    body = "".join(f"<section><h2>{html.escape(title)}</h2>{content}</section>" for title, content in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>newsbeam report</title>
<style>{_STYLE}</style></head>
<body><h1>newsbeam report</h1><p>{html.escape(report.source)}</p>
<div class=cards>{cards}</div>{_filter(report)}{body}
<script>{_SCRIPT}</script></body></html>
"""
