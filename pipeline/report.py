"""`newsbeam report`: what a run (or the whole lake) holds, in the terminal and as one HTML page.

DuckDB reads the tables where the run wrote them: Parquet (flat or the lake's `dt=` partitions),
else JSON Lines. The page is self-contained (inline SVG charts, no scripts, no network), so it
can be mailed or attached to a ticket.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import Any, Optional

import duckdb

from transforms.core.records import TABLES

TOP = 10
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


class ReportError(Exception):
    """The folder holds no newsbeam tables; the message is one line for the user."""


@dataclasses.dataclass
class Report:
    source: str
    counts: dict[str, int]
    events_by_type: list[tuple[str, int]]
    events_by_day: list[tuple[str, str, int]]  # day, event type, events
    top_actors: list[tuple[str, Optional[str], int]]  # actor, sector, events
    top_places: list[tuple[str, Optional[str], int]]  # place, country, events
    duplicates_by_method: list[tuple[str, int]]
    dead_letters: list[tuple[str, str, int]]  # stage, reason, count

    @property
    def duplicate_ratio(self) -> float:
        """Duplicates among the articles read that passed cleaning (articles + duplicates)."""
        seen = self.counts.get("articles", 0) + self.counts.get("duplicates", 0)
        return self.counts.get("duplicates", 0) / seen if seen else 0.0


def _relation(output: Path, table: str) -> Optional[str]:
    """A DuckDB table expression over one table's files, or None when it has none."""
    for fmt, reader in (("parquet", "read_parquet"), ("jsonl", "read_json_auto")):
        folder = output / fmt / table
        if folder.is_dir() and any(folder.rglob(f"*.{fmt}")):
            pattern = str(folder / "**" / f"*.{fmt}").replace("'", "''")
            extra = ", union_by_name=true" + (", format='newline_delimited'" if fmt == "jsonl" else "")
            return f"{reader}('{pattern}'{extra})"
    return None


def build(output: Path) -> Report:
    """Query the tables under `output` into a Report."""
    con = duckdb.connect()
    found = {t.name: _relation(output, t.name) for t in TABLES}
    if not any(found.values()):
        raise ReportError(f"report: no newsbeam tables under {output} (expected {output}/parquet/<table>/ or jsonl/)")
    for name, relation in found.items():
        if relation:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM {relation}")

    def rows(sql: str, *needs: str) -> list[tuple]:
        return con.execute(sql).fetchall() if all(found.get(n) for n in needs) else []

    counts = {
        name: (con.execute(f"SELECT count(*) FROM {name}").fetchone() or (0,))[0] if rel else 0
        for name, rel in found.items()
    }
    day = "strftime(coalesce(event_date, published), '%Y-%m-%d')"
    return Report(
        source=str(output),
        counts=counts,
        events_by_type=rows("SELECT event_type, count(*) n FROM events GROUP BY 1 ORDER BY n DESC, 1", "events"),
        events_by_day=rows(
            f"SELECT {day} d, event_type, count(*) FROM events WHERE {day} IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
            "events",
        ),
        top_actors=rows(
            "SELECT actor, any_value(actor_sector), count(*) n FROM events WHERE actor IS NOT NULL "
            f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {TOP}",
            "events",
        ),
        top_places=rows(
            "SELECT location, any_value(location_country), count(*) n FROM events "
            f"WHERE location IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1 LIMIT {TOP}",
            "events",
        ),
        duplicates_by_method=rows(
            "SELECT method, count(*) n FROM duplicates GROUP BY 1 ORDER BY n DESC, 1", "duplicates"
        ),
        dead_letters=rows(
            f"SELECT stage, reason, count(*) n FROM dead_letters GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT {TOP * 2}",
            "dead_letters",
        ),
    )


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


def to_text(report: Report) -> str:
    days: dict[str, int] = {}
    for day, _, n in report.events_by_day:
        days[day] = days.get(day, 0) + n
    lines = [f"newsbeam report: {report.source}", ""]
    lines += _table("rows by table", ("table", "rows"), list(report.counts.items()))
    lines += [f"duplicate ratio: {report.duplicate_ratio:.1%} of the articles that passed cleaning", ""]
    lines += _table("events by type", ("type", "events"), report.events_by_type)
    lines += _table("events by day", ("day", "events"), sorted(days.items()))
    lines += _table("top actors", ("actor", "sector", "events"), report.top_actors)
    lines += _table("top places", ("place", "country", "events"), report.top_places)
    lines += _table("duplicates by method", ("method", "rows"), report.duplicates_by_method)
    lines += _table(
        "dead letters by reason",
        ("stage", "reason", "rows"),
        [(s, r if len(r) <= 80 else r[:77] + "...", n) for s, r, n in report.dead_letters],
    )
    return "\n".join(lines).rstrip() + "\n"


# --- HTML ----------------------------------------------------------------------------------------
def _bars(items: list[tuple[str, int]], colour: str = PALETTE[0], width: int = 640) -> str:
    """Horizontal bar chart, one labelled bar per item."""
    if not items:
        return "<p class=none>none</p>"
    row, label_w, top = 22, 220, max(n for _, n in items) or 1
    parts = [f'<svg role="img" width="{width}" height="{row * len(items) + 4}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, n) in enumerate(items):
        y, w = i * row + 2, max(1.0, (width - label_w - 60) * n / top)
        text = html.escape(label if len(label) <= 32 else label[:31] + "…")
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{text}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{colour}">'
            f"<title>{html.escape(label)}: {n}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _stacked_days(rows: list[tuple[str, str, int]], width: int = 720, height: int = 220) -> str:
    """Events per day as columns stacked by event type, with a legend."""
    if not rows:
        return "<p class=none>no dated events</p>"
    days = sorted({d for d, _, _ in rows})
    totals: dict[str, int] = {}
    for _, kind, n in rows:
        totals[kind] = totals.get(kind, 0) + n
    kinds = sorted(totals, key=lambda k: (-totals[k], k))
    colour = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(kinds)}
    per_day: dict[str, dict[str, int]] = {d: {} for d in days}
    for d, kind, n in rows:
        per_day[d][kind] = n
    top = max(sum(v.values()) for v in per_day.values())
    left, bottom, plot_h = 40, 40, height - 50
    step = (width - left - 10) / len(days)
    bar = max(2.0, min(40.0, step * 0.8))
    parts = [
        f'<svg role="img" width="{width}" height="{height + 22 * ((len(kinds) + 3) // 4)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{height - bottom - plot_h + 12}" text-anchor="end">{top}</text>',
    ]
    label_every = max(1, len(days) // 8)
    for i, d in enumerate(days):
        x, y = left + i * step + (step - bar) / 2, float(height - bottom)
        for kind in kinds:
            n = per_day[d].get(kind, 0)
            if n:
                h = plot_h * n / top
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour[kind]}">'
                    f"<title>{d} {html.escape(kind)}: {n}</title></rect>"
                )
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle">{d}</text>')
    for i, kind in enumerate(kinds):
        x, y = 10 + (i % 4) * 180, height + 4 + 22 * (i // 4)
        parts.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour[kind]}"/>'
            f'<text x="{x + 18}" y="{y + 11}">{html.escape(kind)} ({totals[kind]})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(header: tuple[str, ...], body: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>" for row in body
    )
    return f"<table><tr>{head}</tr>{rows}</table>" if body else "<p class=none>none</p>"


def to_html(report: Report) -> str:
    cards = "".join(
        f"<div class=card><b>{n:,}</b><span>{html.escape(name.replace('_', ' '))}</span></div>"
        for name, n in report.counts.items()
    )
    stages: dict[str, int] = {}
    for stage, _, n in report.dead_letters:
        stages[stage] = stages.get(stage, 0) + n
    sections = [
        ("Events per day, by type", _stacked_days(report.events_by_day)),
        ("Events by type", _bars(report.events_by_type)),
        ("Top actors", _bars([(f"{a} ({s})" if s else a, n) for a, s, n in report.top_actors], PALETTE[1])),
        ("Top places", _bars([(f"{p} ({c})" if c else p, n) for p, c, n in report.top_places], PALETTE[2])),
        (
            f"Duplicates: {report.duplicate_ratio:.1%} of the articles that passed cleaning",
            _bars(report.duplicates_by_method, PALETTE[7]),
        ),
        (
            "Dead letters by stage",
            _bars(sorted(stages.items(), key=lambda kv: -kv[1]), PALETTE[3])
            + _html_table(("stage", "reason", "rows"), report.dead_letters),
        ),
    ]
    body = "".join(f"<section><h2>{html.escape(title)}</h2>{content}</section>" for title, content in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>newsbeam report</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }}
h1 {{ font-size: 1.4em; }} h2 {{ font-size: 1.1em; margin-top: 2em; border-bottom: 1px solid #ddd; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 110px; }}
.card b {{ display: block; font-size: 1.5em; }} .card span {{ color: #666; }}
svg text {{ font: 12px system-ui, sans-serif; fill: #333; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
td, th {{ border: 1px solid #ddd; padding: 3px 8px; text-align: left; }}
.none {{ color: #888; }}
</style></head>
<body><h1>newsbeam report</h1><p>{html.escape(report.source)}</p>
<div class=cards>{cards}</div>{body}</body></html>
"""
