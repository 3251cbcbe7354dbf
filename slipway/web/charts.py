"""Charts for the dashboard: line and bar charts, a lineage graph and the logo, as inline SVG.

Line charts are drawn twice: as SVG on the server (what a page shows without JavaScript and before the
script runs) and, in the browser, by uPlot (``static/uplot``, served from the package) from the same
data, with hover values, zoom and live refresh (``static/charts.js``; ``live_chart``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape
from typing import Any

from markupsafe import Markup

__all__ = ["bar_chart", "chart_spec", "line_chart", "lineage_graph", "live_chart", "sail_logo", "spec_chart"]

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d")


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.floor(lo / step) * step
    ticks, v = [], start
    while v <= hi + step * 0.001:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{v:.3g}"


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]],
    title: str = "",
    width: int = 560,
    height: int = 220,
    x_label: str = "step",
) -> Markup:
    """One polyline per series; axes with a few round ticks; a legend."""
    points = [(x, y) for s in series.values() for x, y in s if math.isfinite(y)]
    if not points:
        return Markup(f'<div class="chart-empty">{escape(title)}: no data yet</div>')
    left, right, top, bottom = 48, 12, 24 if title else 10, 28
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - abs(y0) * 0.1 - 0.5, y1 + abs(y1) * 0.1 + 0.5
    yt = _ticks(y0, y1)
    y0, y1 = min(y0, yt[0]), max(y1, yt[-1])
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(title)}">']
    if title:
        out.append(f'<text x="{left}" y="14" class="chart-title">{escape(title)}</text>')
    for t in yt:
        y = sy(t)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_fmt(t)}</text>')
    for t in _ticks(x0, x1):
        if x0 <= t <= x1:
            x = sx(t)
            out.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" class="tick">{_fmt(t)}</text>')
    out.append(f'<text x="{width - right}" y="{height - 10}" text-anchor="end" class="tick axis">{escape(x_label)}</text>')
    legend_x = left + 4
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        clean = [(x, y) for x, y in pts if math.isfinite(y)]
        if len(clean) == 1:
            x, y = clean[0]
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
        elif clean:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in clean)
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        if len(series) > 1:
            out.append(f'<text x="{legend_x}" y="{top + 12 + 14 * i}" fill="{color}" class="legend">{escape(name)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def chart_spec(series: dict[str, Sequence[tuple[float, float | None]]], title: str = "",
               x_label: str = "step", unit: str = "") -> dict[str, Any]:
    """The data ``static/charts.js`` draws: a title, the x axis (``time`` is epoch seconds) and named series."""
    return {"title": title, "x": x_label, "unit": unit,
            "series": [{"label": name, "points": [[x, y if y is None or math.isfinite(y) else None] for x, y in pts]}
                       for name, pts in series.items()]}


def live_chart(series: dict[str, Sequence[tuple[float, float | None]]], title: str = "", x_label: str = "step",
               unit: str = "", src: str = "", index: int = 0, every: int = 0) -> Markup:
    """A chart uPlot draws in the browser, with the SVG chart inside until it does (and without JavaScript).

    With ``src``, the browser reloads the chart's data every ``every`` seconds from that URL, which answers a
    list of specs (``chart_spec``); ``index`` picks this chart's.
    """
    return spec_chart(chart_spec(series, title, x_label, unit), src, index, every)


def spec_chart(spec: dict[str, Any], src: str = "", index: int = 0, every: int = 0) -> Markup:
    """``live_chart`` from a spec ``chart_spec`` made."""
    x_label = str(spec["x"])
    svg_series = {s["label"]: [(x, y) for x, y in s["points"] if y is not None] for s in spec["series"]}
    if x_label == "time":  # epoch seconds read badly on an axis: the SVG counts minutes back from the last point
        last = max((x for pts in svg_series.values() for x, _ in pts), default=0.0)
        svg_series = {k: [((x - last) / 60.0, y) for x, y in pts] for k, pts in svg_series.items()}
        x_label = "minutes before the last point"
    live = f' data-src="{escape(src)}" data-index="{index}" data-every="{every}"' if src else ""
    return Markup(f"<figure class=\"uchart\" data-chart='{escape(json.dumps(spec), quote=True)}'{live}>"
                  f'<div class="uchart-plot">{line_chart(svg_series, str(spec["title"]), x_label=x_label)}'
                  "</div></figure>")


def bar_chart(values: dict[str, float], title: str = "", width: int = 560, bar_height: int = 18) -> Markup:
    """Horizontal bars, e.g. class counts of a dataset."""
    if not values:
        return Markup(f'<div class="chart-empty">{escape(title)}: no data</div>')
    top = 24 if title else 4
    height = top + bar_height * len(values) + 6
    vmax = max(values.values()) or 1
    label_w = min(160, 8 * max(len(str(k)) for k in values) + 12)
    pw = width - label_w - 60
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(title)}">']
    if title:
        out.append(f'<text x="4" y="14" class="chart-title">{escape(title)}</text>')
    for i, (k, v) in enumerate(values.items()):
        y = top + i * bar_height
        w = max(1.0, v / vmax * pw)
        out.append(f'<text x="{label_w - 6}" y="{y + bar_height - 5}" text-anchor="end" class="tick">{escape(str(k))}</text>')
        out.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{bar_height - 4}" fill="{PALETTE[0]}"/>')
        out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_height - 5}" class="tick">{_fmt(v)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def lineage_graph(columns: Sequence[Sequence[tuple[str, str, str]]], node_w: int = 190, node_h: int = 44,
                  gap_x: int = 48, gap_y: int = 14) -> Markup:
    """Boxes in columns, left to right, each linked to every box of the next column.

    A node is (label, kind, href); e.g. dataset versions, then the job that read them, then the model.
    """
    cols = [c for c in columns if c]
    if not cols:
        return Markup('<div class="chart-empty">No lineage recorded.</div>')
    rows = max(len(c) for c in cols)
    width = len(cols) * node_w + (len(cols) - 1) * gap_x + 8
    height = rows * node_h + (rows - 1) * gap_y + 8

    def pos(ci: int, ri: int, n: int) -> tuple[float, float]:
        top = (height - (n * node_h + (n - 1) * gap_y)) / 2
        return 4 + ci * (node_w + gap_x), top + ri * (node_h + gap_y)

    out = [f'<svg class="chart lineage" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" aria-label="lineage">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/></marker></defs>']
    for ci in range(len(cols) - 1):
        for ri in range(len(cols[ci])):
            x0, y0 = pos(ci, ri, len(cols[ci]))
            for rj in range(len(cols[ci + 1])):
                x1, y1 = pos(ci + 1, rj, len(cols[ci + 1]))
                out.append(f'<line x1="{x0 + node_w:.1f}" y1="{y0 + node_h / 2:.1f}" x2="{x1 - 2:.1f}" '
                           f'y2="{y1 + node_h / 2:.1f}" stroke="#94a3b8" stroke-width="1.5" marker-end="url(#arrow)"/>')
    for ci, col in enumerate(cols):
        for ri, (label, kind, href) in enumerate(col):
            x, y = pos(ci, ri, len(col))
            shown = label if len(label) <= 26 else label[:25] + "…"
            box = (f'<rect x="{x:.1f}" y="{y:.1f}" width="{node_w}" height="{node_h}" rx="6" class="node"/>'
                   f'<text x="{x + 10:.1f}" y="{y + 18:.1f}" class="node-label">{escape(shown)}</text>'
                   f'<text x="{x + 10:.1f}" y="{y + 34:.1f}" class="tick">{escape(kind)}</text>')
            out.append(f'<a href="{escape(href)}"><title>{escape(label)}</title>{box}</a>' if href else box)
    out.append("</svg>")
    return Markup("".join(out))


def sail_logo(size: int = 22) -> Markup:
    """The mark in the header: a sail over a hull on a slipway, drawn here so no emoji font is needed."""
    return Markup(
        f'<svg class="logo" width="{size}" height="{size}" viewBox="0 0 24 24" aria-hidden="true">'
        '<path d="M12 2 L12 16 L4 16 Z" fill="#93c5fd"/>'
        '<path d="M13 5 L13 16 L20 16 Z" fill="#e0f2fe"/>'
        '<path d="M2 18 H22 L19 21 H5 Z" fill="#f8fafc"/>'
        '<path d="M1 23 L23 20" stroke="#64748b" stroke-width="1.5"/>'
        "</svg>"
    )
