"""The report's charts as inline SVG: bars, the time line on a true date axis, the events map.

Every mark of an event family carries `data-family`, which the page's filter shows and hides.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

from pipeline.report.data import Point
from transforms.events.taxonomy import FAMILIES
from transforms.geo.shapes import Ring, country_outlines

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
# One colour per family, kept from report to report (violence in warm colours).
FAMILY_COLOURS = dict(
    zip(FAMILIES, ("#d62728", "#ff7f0e", "#9467bd", "#1f77b4", "#17becf", "#7f7f7f", "#8c564b", "#2ca02c"))
)
_SVG = 'xmlns="http://www.w3.org/2000/svg"'


def colour(family: str) -> str:
    return FAMILY_COLOURS.get(family, "#444")


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def bars(items: Sequence[tuple[str, int]], fill: str = PALETTE[0], width: int = 640) -> str:
    """Horizontal bar chart, one labelled bar per item."""
    if not items:
        return "<p class=none>none</p>"
    row, label_w, top = 22, 220, max(n for _, n in items) or 1
    parts = [f'<svg role="img" width="{width}" height="{row * len(items) + 4}" {_SVG}>']
    for i, (label, n) in enumerate(items):
        y, w = i * row + 2, max(1.0, (width - label_w - 60) * n / top)
        text = html.escape(label if len(label) <= 32 else label[:31] + "…")
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{text}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{fill}">'
            f"<title>{html.escape(label)}: {n}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# --- time line -----------------------------------------------------------------------------------
def bin_of(days: Sequence[date]) -> str:
    """Days up to four months of events, weeks up to three years, months beyond."""
    span = (max(days) - min(days)).days if days else 0
    return "day" if span <= 120 else "week" if span <= 3 * 366 else "month"


def bin_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())  # Monday
    if unit == "month":
        return day.replace(day=1)
    return day


def _next(start: date, unit: str) -> date:
    if unit == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=7 if unit == "week" else 1)


def _ticks(first: date, last: date) -> list[tuple[date, str]]:
    """Axis labels at the starts of years, months or days, at most about ten."""
    span = (last - first).days
    if span > 3 * 366:
        step = max(1, math.ceil((last.year - first.year + 1) / 10))
        years = range(first.year + (first.month > 1 or first.day > 1), last.year + 1, step)
        return [(date(y, 1, 1), str(y)) for y in years]
    if span > 60:
        months, current = [], date(first.year, first.month, 1)
        while current <= last:
            if current >= first:
                months.append(current)
            current = _next(current, "month")
        step = max(1, math.ceil(len(months) / 10))
        return [(m, m.strftime("%b %Y")) for m in months[::step]]
    step = max(1, math.ceil((span + 1) / 10))
    return [
        (first + timedelta(days=i), (first + timedelta(days=i)).strftime("%d %b")) for i in range(0, span + 1, step)
    ]


def timeline(dated: Sequence[tuple[date, str, int]], families: Sequence[str], width: int = 900) -> str:
    """Events over time on a true date axis: one row per family (and all events on top), a column
    per day, week or month (`bin_of`) with events, empty stretches left empty."""
    if not dated:
        return "<p class=none>no dated events</p>"
    unit = bin_of([d for d, _, _ in dated])
    counts: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for day, kin, n in dated:
        start = bin_start(day, unit)
        counts[kin][start] += n
        counts[""][start] += n
    first = min(counts[""])
    last = _next(max(counts[""]), unit)  # the end of the last bin
    left, right, row_h, gap, axis_h = 200, 30, 46, 8, 24
    span = max((last - first).days, 1)
    scale = (width - left - right) / span

    def x(day: date) -> float:
        return left + (day - first).days * scale

    rows = [("", "all events"), *((f, f) for f in families if f in counts)]
    height = len(rows) * (row_h + gap) + axis_h
    parts = [f'<svg role="img" class="timeline" width="{width}" height="{height}" {_SVG}>']
    for i, (kin, label) in enumerate(rows):
        top = i * (row_h + gap)
        base = top + row_h
        peak = max(counts[kin].values())
        fam = f' data-family="{_attr(kin)}"' if kin else ""
        parts.append(
            f"<g{fam}>"
            f'<text x="{left - 8}" y="{top + row_h / 2 + 4:.1f}" text-anchor="end">{html.escape(label)}</text>'
            f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#ccc"/>'
            f'<text x="{left - 8}" y="{top + 10}" text-anchor="end" class="peak">{peak}</text>'
        )
        for start, n in sorted(counts[kin].items()):
            x0, x1 = x(start), x(_next(start, unit))
            h = max(1.5, (row_h - 4) * n / peak)
            parts.append(
                f'<rect class="mark" x="{x0:.2f}" y="{base - h:.2f}" width="{max(x1 - x0 - 0.5, 1.0):.2f}" '
                f'height="{h:.2f}" fill="{colour(kin) if kin else "#333"}">'
                f"<title>{_bin_label(start, unit)}: {n} {html.escape(label)}</title></rect>"
            )
        parts.append("</g>")
    axis_y = len(rows) * (row_h + gap)
    for tick, text in _ticks(first, last - timedelta(days=1)):
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="0" x2="{x(tick):.1f}" y2="{axis_y}" stroke="#eee"/>'
            f'<text x="{x(tick):.1f}" y="{axis_y + 14}" text-anchor="middle">{html.escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _bin_label(start: date, unit: str) -> str:
    if unit == "month":
        return start.strftime("%B %Y")
    if unit == "week":
        return f"week of {start.isoformat()}"
    return start.isoformat()


# --- map -----------------------------------------------------------------------------------------
def _view(points: Sequence[Point]) -> tuple[float, float, float, float]:
    """(west, south, east, north) around the points, with a margin; the world when none."""
    if not points:
        return -180.0, -58.0, 180.0, 84.0
    lons, lats = [p.longitude for p in points], [p.latitude for p in points]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    pad_x, pad_y = max(8.0, (east - west) * 0.15), max(5.0, (north - south) * 0.15)
    west, east, south, north = west - pad_x, east + pad_x, south - pad_y, north + pad_y
    # Widen the view to a landscape page: between 1.8 and 2.8 times wider than tall.
    k = math.cos(math.radians((south + north) / 2))
    width, height = (east - west) * k, north - south
    if width < 1.8 * height:
        extra = (1.8 * height - width) / k / 2
        west, east = west - extra, east + extra
    elif width > 2.8 * height:
        extra = (width / 2.8 - height) / 2
        south, north = south - extra, north + extra
    return max(-180.0, west), max(-85.0, south), min(180.0, east), min(85.0, north)


def _path(ring: Ring, k: float) -> str:
    points = " ".join(f"{lon * k:.2f},{-lat:.2f}" for lon, lat in ring)
    return f"M{points}Z"


def events_map(points: Sequence[Point], width: int = 900) -> str:
    """Events on a map of the countries around them (equirectangular, scaled for the latitude):
    a circle per place and family, its area growing with fatalities (the largest 24 px across), solid
    at a city, a ring at the centre of the subdivision or country when that is all that is known."""
    west, south, east, north = _view(points)
    k = math.cos(math.radians((south + north) / 2))  # degrees of longitude to the page's units
    view_w, view_h = (east - west) * k, north - south
    height = max(200, round(width * view_h / view_w))
    unit = view_w / width  # map units per pixel
    parts = [
        f'<svg role="img" class="map" width="{width}" height="{height}" '
        f'viewBox="{west * k:.2f} {-north:.2f} {view_w:.2f} {view_h:.2f}" {_SVG}>',
        f'<rect x="{west * k:.2f}" y="{-north:.2f}" width="{view_w:.2f}" height="{view_h:.2f}" fill="#eef3f7"/>',
        f'<g class="countries" fill="#fdfdf8" stroke="#9aa" stroke-width="{unit * 0.7:.4f}">',
    ]
    for code, rings in sorted(country_outlines().items()):
        if not any(_overlaps(ring, west, south, east, north) for ring in rings):
            continue
        parts.append(f'<path d="{"".join(_path(r, k) for r in rings)}"><title>{code}</title></path>')
    parts.append("</g>")
    most = max((p.fatalities for p in points), default=0) or 1
    for p in sorted(points, key=lambda p: -p.fatalities):  # the largest underneath
        radius = (3.0 + 21.0 * math.sqrt(p.fatalities / most)) * unit  # area by fatalities, at most 24 px
        fill = colour(p.family)
        style = (
            f'fill="{fill}" fill-opacity="0.75" stroke="#fff" stroke-width="{unit * 0.6:.4f}"'
            if p.precision == "city"
            else f'fill="none" stroke="{fill}" stroke-width="{unit * 2:.4f}"'
        )
        where = "" if p.precision == "city" else f" (centre of the {p.precision})"
        parts.append(
            f'<circle class="mark" data-family="{_attr(p.family)}" cx="{p.longitude * k:.3f}" cy="{-p.latitude:.3f}" '
            f'r="{radius:.4f}" {style}><title>{html.escape(p.place)}{where}: {p.events} {html.escape(p.family)} '
            f"event{'s' if p.events != 1 else ''}, {p.fatalities} killed</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _overlaps(ring: Ring, west: float, south: float, east: float, north: float) -> bool:
    lons, lats = [x for x, _ in ring], [y for _, y in ring]
    return min(lons) <= east and max(lons) >= west and min(lats) <= north and max(lats) >= south
