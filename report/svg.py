"""Inline SVG charts for the CSM report, built as plain strings.

Why strings and not matplotlib: the report must be a self-contained HTML file (no image files, no
network), render 10k account pages in seconds, and stay crisp at any zoom. Each helper returns a
``markupsafe.Markup`` so Jinja's autoescaping leaves the SVG intact; every piece of *data* text put
inside an SVG (labels, titles) is escaped here. No helper emits an ``xmlns`` URL: inline SVG in
HTML does not need one, and the report must not contain any http(s) reference.

Coordinates are SVG user units (1 unit = 1 CSS pixel at the given width/height).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date

from markupsafe import Markup, escape

from report.words import unbidi

# Colour-blind-safe pair (orange vs blue) for "raises risk" vs "lowers risk"; text labels always
# accompany the colour so it is never the only cue.
RISK_COLOUR = "#d9480f"
PROTECTIVE_COLOUR = "#1c7ed6"
LINE_COLOUR = "#3b5bdb"
MUTED_COLOUR = "#868e96"
GRID_COLOUR = "#e9ecef"


def coord(x: float) -> str:
    """Compact coordinate: one decimal, no trailing ``.0``."""
    s = f"{x:.1f}"
    return s[:-2] if s.endswith(".0") else s


def percent_grid(
    levels: Sequence[float],
    y_of: Callable[[float], float],
    x1: float,
    x2: float,
    label_x: float,
    dashed: Sequence[float] = (),
) -> list[str]:
    """Horizontal grid lines of a fixed 0–100% scale at ``levels`` (shares), each with its
    percent label right-aligned at ``label_x``; the ``dashed`` levels drawn dashed. One grid
    for every percent chart (the risk trend here, the adoption map's curves and cohort rates)."""
    parts = []
    for p in levels:
        y = coord(y_of(p))
        dash = ' stroke-dasharray="3 3"' if p in dashed else ""
        parts.append(
            f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{GRID_COLOUR}"{dash}/>'
            f'<text x="{label_x}" y="{y}" dy="3" text-anchor="end" class="axis">'
            f"{p * 100:.0f}%</text>"
        )
    return parts


def _finite(values: Sequence[float | None]) -> list[tuple[int, float]]:
    return [
        (i, float(v))
        for i, v in enumerate(values)
        if v is not None and not math.isnan(float(v)) and not math.isinf(float(v))
    ]


def sparkline_points(
    values: Sequence[float | None],
    width: float,
    height: float,
    y_min: float | None = None,
    y_max: float | None = None,
    pad: float = 2.0,
) -> list[tuple[float, float]]:
    """Map values to (x, y) inside ``[pad, width-pad] x [pad, height-pad]``; missing values skipped.

    x spreads the *positions* evenly (weekly data), y grows upwards (SVG y grows downwards, hence
    the flip). A flat series sits in the middle. ``y_min``/``y_max`` fix the scale (e.g. 0..1 for
    a probability) and values outside it are clamped so nothing is drawn outside the box.
    """
    pts = _finite(values)
    if not pts:
        return []
    lo = min(v for _, v in pts) if y_min is None else y_min
    hi = max(v for _, v in pts) if y_max is None else y_max
    n = len(values)
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    out = []
    for i, v in pts:
        x = pad + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)
        frac = (min(max(v, lo), hi) - lo) / (hi - lo) if hi > lo else 0.5
        out.append((x, pad + inner_h * (1 - frac)))
    return out


def sparkline(
    values: Sequence[float | None],
    label: str,
    width: int = 96,
    height: int = 24,
    colour: str = LINE_COLOUR,
    y_min: float | None = None,
    y_max: float | None = None,
) -> Markup:
    """A tiny line chart (no axes) with the last point marked; ``label`` is read by screen readers."""
    pts = sparkline_points(values, width, height, y_min, y_max)
    title = f"<title>{escape(unbidi(label))}</title>"
    head = (
        f'<svg class="spark" role="img" aria-label="{escape(unbidi(label))}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">{title}'
    )
    if not pts:
        return Markup(
            f'{head}<line x1="2" y1="{coord(height / 2)}" x2="{width - 2}" '
            f'y2="{coord(height / 2)}" stroke="{GRID_COLOUR}" stroke-dasharray="3 3"/></svg>'
        )
    poly = " ".join(f"{coord(x)},{coord(y)}" for x, y in pts)
    area = (
        f'<polygon points="{coord(pts[0][0])},{height - 2} {poly} {coord(pts[-1][0])},{height - 2}" '
        f'fill="{colour}" fill-opacity="0.12" stroke="none"/>'
    )
    lx, ly = pts[-1]
    return Markup(
        f'{head}{area}<polyline points="{poly}" fill="none" stroke="{colour}" '
        f'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>'
        f'<circle cx="{coord(lx)}" cy="{coord(ly)}" r="2" fill="{colour}"/></svg>'
    )


def risk_trend(
    dates: Sequence[date],
    risks: Sequence[float],
    label: str,
    thresholds: dict[str, float] | None = None,
    width: int = 420,
    height: int = 140,
) -> Markup:
    """Decay risk over scoring runs on a fixed 0–100% scale, with tier thresholds as dashed lines.

    A fixed scale matters: a CSM compares accounts, and an auto-scaled 3-point wiggle would look
    as alarming as a jump from 10% to 80%.
    """
    left, right, top, bottom = 36, 86, 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom

    def y_of(p: float) -> float:
        return top + plot_h * (1 - min(max(p, 0.0), 1.0))

    parts = [
        f'<svg class="trend" role="img" aria-label="{escape(unbidi(label))}" width="100%" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(unbidi(label))}</title>"
    ]
    parts += percent_grid((0.0, 0.25, 0.5, 0.75, 1.0), y_of, left, width - right, left - 6)
    for name, p in sorted((thresholds or {}).items(), key=lambda kv: kv[1]):
        y = coord(y_of(p))
        parts.append(
            f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" '
            f'stroke="{MUTED_COLOUR}" stroke-dasharray="4 3"/>'
            f'<text x="{width - right + 6}" y="{y}" dy="3" class="axis">'
            f"{escape(unbidi(name))} ≥ {p * 100:.0f}%</text>"
        )
    n = len(risks)
    xs = [left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2) for i in range(n)]
    if n:
        poly = " ".join(f"{coord(x)},{coord(y_of(r))}" for x, r in zip(xs, risks, strict=True))
        parts.append(
            f'<polyline points="{poly}" fill="none" stroke="{LINE_COLOUR}" '
            f'stroke-width="2" stroke-linejoin="round"/>'
        )
        for x, r, d in zip(xs, risks, dates, strict=True):
            parts.append(
                f'<circle cx="{coord(x)}" cy="{coord(y_of(r))}" r="3.5" fill="#fff" '
                f'stroke="{LINE_COLOUR}" stroke-width="2"><title>{d.isoformat()}: '
                f"{r * 100:.0f}%</title></circle>"
            )
        parts.append(
            f'<text x="{coord(xs[0])}" y="{height - 6}" text-anchor="start" class="axis">'
            f"{dates[0].isoformat()}</text>"
        )
        if n > 1:
            parts.append(
                f'<text x="{coord(xs[-1])}" y="{height - 6}" text-anchor="end" '
                f'class="axis">{dates[-1].isoformat()}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def weekly_bars(
    weeks: Sequence[date],
    values: Sequence[float | None],
    label: str,
    width: int = 420,
    height: int = 110,
) -> Markup:
    """Weekly active users as columns, first and last week labelled, the maximum on the axis."""
    left, right, top, bottom = 30, 4, 8, 20
    plot_w, plot_h = width - left - right, height - top - bottom
    vals = [0.0 if v is None else float(v) for v in values]
    hi = max(vals, default=0.0) or 1.0
    n = max(len(vals), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.7, 1.0)
    parts = [
        f'<svg class="bars" role="img" aria-label="{escape(unbidi(label))}" width="100%" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(unbidi(label))}</title>"
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="{GRID_COLOUR}"/>'
        f'<text x="{left - 5}" y="{top}" dy="6" text-anchor="end" class="axis">'
        f"{hi:,.0f}</text>"
        f'<text x="{left - 5}" y="{top + plot_h}" text-anchor="end" class="axis">0</text>'
    ]
    for i, (w, v) in enumerate(zip(weeks, vals, strict=True)):
        h = plot_h * v / hi
        x = left + slot * i + (slot - bar_w) / 2
        parts.append(
            f'<rect x="{coord(x)}" y="{coord(top + plot_h - h)}" width="{coord(bar_w)}" '
            f'height="{coord(h)}" rx="1.5" fill="{LINE_COLOUR}" fill-opacity="0.75">'
            f"<title>Week of {w.isoformat()}: {v:,.0f}</title></rect>"
        )
    if weeks:
        parts.append(
            f'<text x="{left}" y="{height - 5}" class="axis">'
            f"{weeks[0].isoformat()}</text>"
            f'<text x="{width - right}" y="{height - 5}" text-anchor="end" class="axis">'
            f"{weeks[-1].isoformat()}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def contribution_bar(
    contribution: float, max_abs: float, width: int = 180, height: int = 16
) -> Markup:
    """One diverging bar: right of the centre line raises risk, left of it lowers risk.

    ``contribution`` is in log-odds units; all bars of one account share ``max_abs`` so their
    lengths compare.
    """
    mid = width / 2
    scale = (mid - 2) / max_abs if max_abs > 0 else 0.0
    length = abs(contribution) * scale
    raises = contribution >= 0
    x = mid if raises else mid - length
    colour = RISK_COLOUR if raises else PROTECTIVE_COLOUR
    return Markup(
        f'<svg class="cbar" aria-hidden="true" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
        f'<rect x="{coord(x)}" y="2" width="{coord(max(length, 1.0))}" height="{height - 4}" '
        f'rx="2" fill="{colour}"/>'
        f'<line x1="{coord(mid)}" y1="0" x2="{coord(mid)}" y2="{height}" '
        f'stroke="#495057" stroke-width="1"/></svg>'
    )


def peer_scale(
    value: float | None, peer: float | None, raises_risk: bool, width: int = 200, height: int = 22
) -> Markup:
    """This account (dot) against its segment's peer median (grey tick) on a shared 0..max scale.

    The dot is orange when this indicator pushes the account's risk up, blue when it protects.
    Negative values (e.g. trends) get a scale that spans them too.
    """
    known = [v for v in (value, peer) if v is not None and math.isfinite(v)]
    if not known:
        return Markup("")
    lo, hi = min([0.0, *known]), max([0.0, *known])
    span = (hi - lo) or 1.0
    pad = 6

    def x_of(v: float) -> float:
        return pad + (width - 2 * pad) * (v - lo) / span

    mid_y = height / 2
    parts = [
        f'<svg class="pscale" aria-hidden="true" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
        f'<line x1="{pad}" y1="{coord(mid_y)}" x2="{width - pad}" y2="{coord(mid_y)}" '
        f'stroke="{GRID_COLOUR}" stroke-width="4" stroke-linecap="round"/>'
    ]
    if peer is not None and math.isfinite(peer):
        px = coord(x_of(peer))
        parts.append(
            f'<line x1="{px}" y1="3" x2="{px}" y2="{height - 3}" stroke="{MUTED_COLOUR}" '
            f'stroke-width="3" stroke-linecap="round"/>'
        )
    if value is not None and math.isfinite(value):
        colour = RISK_COLOUR if raises_risk else PROTECTIVE_COLOUR
        parts.append(
            f'<circle cx="{coord(x_of(value))}" cy="{coord(mid_y)}" r="6" fill="{colour}" '
            f'stroke="#fff" stroke-width="1.5"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
