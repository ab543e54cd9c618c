"""Render the adoption map (``adoption.build.AdoptionMap.frames()``) as static, self-contained pages.

Why pages: the map answers "what goes with accounts that succeed, and how fast do they get
there?" for the people who run onboarding and Customer Success. Like the CSM report
(``report.render``) the pages open offline from a shared drive: CSS inline, charts as inline SVG
(helpers below, next to the report's own ``report.svg``), and a Content-Security-Policy that
forbids any fetch.

Pages (``render_map``):

``index.html``               what the map is (goes with, not causes), what the log could not
                             support, time to value per milestone for everyone, the top
                             replicated indicators, and the segments (each linking to its page).
``segment-<slug>.html``      one segment against everyone: time to value per milestone, its top
                             indicators (shrunk next to raw), activation by signup month.
``milestone-<slug>.html``    one milestone: cumulative incidence with its band and the
                             churned-first curve, numbers at risk, timing among reachers, roles,
                             events over-represented before and after it, time to value per
                             segment.

Every number shown carries its uncertainty (an interval at the map's ``conf_level`` and the
counts behind it) and the words say "goes with", never "causes". Values in the data (segment
values, milestone names, event and role names) are shown through Jinja's autoescaping and
``report.render.shown`` (direction controls neutralised); they become file names only through
`page_file_names` (``[a-z0-9-]`` plus a hash when needed), so no value can leave ``out_dir``.
A log the map could not read (empty frames) gets pages that say what could not be done.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import polars as pl
from jinja2 import Environment
from markupsafe import Markup, escape
from statsmodels.stats.proportion import proportion_confint

from core.errors import DataValidationError
from features.catalogue import humanise
from report.render import fmt_moment, fmt_num, fmt_pct, page_environment
from report.svg import LINE_COLOUR, MUTED_COLOUR, RISK_COLOUR, coord, percent_grid
from report.words import counted, plural, ucfirst, unbidi

TEMPLATES = Path(__file__).resolve().parent / "templates"
ALL = "all"  # adoption._common.ALL: segment_column and segment of the everyone row

#: Columns each frame must have when it has rows (an empty frame may have none).
REQUIRED: dict[str, tuple[str, ...]] = {
    "findings": ("segment_column", "segment", "status"),
    "top_indicators": (
        "segment_column",
        "segment",
        "rank",
        "label",
        "n_did",
        "n_total",
        "activation_rate",
        "activation_low",
        "activation_high",
        "precision",
        "precision_low",
        "precision_high",
        "rate_not",
        "n_not",
        "risk_difference",
        "rd_low",
        "rd_high",
        "rate_ratio",
        "rr_low",
        "rr_high",
        "q_value",
        "replicates",
    ),
    "ttv_curve": (
        "segment_column",
        "segment",
        "milestone",
        "day",
        "cif",
        "ci_low",
        "ci_high",
        "churn_cif",
        "n_at_risk",
        "n_reached",
        "n_churned",
        "n_censored",
    ),
    "ttv_checkpoints": (
        "segment_column",
        "segment",
        "milestone",
        "checkpoint",
        "share",
        "share_low",
        "share_high",
        "n_at_risk",
    ),
    "time_to_value": (
        "segment_column",
        "segment",
        "milestone",
        "n_accounts",
        "n_reached",
        "n_churned_first",
        "n_censored",
        "median_day",
        "median_low",
        "median_high",
    ),
    "milestone_timing": (
        "segment_column",
        "segment",
        "milestone",
        "n_reached",
        "median_day",
        "q25_day",
        "q75_day",
    ),
    "milestone_roles": ("segment_column", "segment", "milestone", "role", "n_events", "n_first"),
    "events_around": (
        "segment_column",
        "segment",
        "milestone",
        "side",
        "event",
        "n_reachers",
        "x_reachers",
        "n_others",
        "x_others",
        "lift",
        "lift_low",
        "lift_high",
        "status",
    ),
    "cohorts": (
        "segment_column",
        "segment",
        "milestone",
        "signup_month",
        "n_accounts",
        "n_observed",
        "n_activated",
        "activation_rate",
        "activation_low",
        "activation_high",
    ),
    "segments": ("segment_column", "segment", "milestone"),
}

#: How many rows of events before/after a milestone a page lists (the strongest first).
AROUND_ROWS = 10
#: The charts stop where few accounts are left to follow (the band is wide there anyway).
MIN_AT_RISK = 10

# --------------------------------------------------------------------------- file names

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(value: str, limit: int = 40) -> str:
    """``value`` as lowercase ``[a-z0-9-]``: other runs become one "-", ends stripped, at most
    ``limit`` characters ("" when nothing is left, e.g. ``"<>"``)."""
    return _NOT_SLUG.sub("-", str(value).lower())[:limit].strip("-")


def page_file_names(prefix: str, keys: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """Collision-free page file names ``<prefix>-<slug>.html`` for data values.

    Each key (e.g. ``(segment column, value)``) is slugged part by part and joined with "-".
    A key whose slug is empty, or shared with another key ("Acme" and "acme", "a b" and "a-b"),
    gets ``--`` and the first 10 hex digits of the SHA-1 of the key appended (an empty slug
    reads "value" first): a plain slug never
    contains "--" (runs collapse), so no value can be crafted to take a hashed name, and two
    keys share a name only if their SHA-1 prefixes do. Names are ``[a-z0-9-]`` plus ``.html``:
    no value can leave the folder (``../``) or break a URL.
    """
    stems = {k: "-".join(p for p in (slug(part) for part in k) if p) for k in keys}
    counts: dict[str, int] = {}
    for s in stems.values():
        counts[s] = counts.get(s, 0) + 1
    out: dict[tuple[str, ...], str] = {}
    for k, s in stems.items():
        if not s or counts[s] > 1:
            digest = hashlib.sha1("\x1f".join(k).encode("utf-8")).hexdigest()[:10]
            s = f"{s[:40].rstrip('-') or 'value'}--{digest}"
        out[k] = f"{prefix}-{s}.html"
    if len(set(out.values())) != len(out):  # a SHA-1 prefix collision: never in practice
        raise DataValidationError(f"map pages: two values share a page name under '{prefix}'")
    return out


def _inside(out_dir: Path, name: str) -> Path:
    path = (out_dir / name).resolve()
    if path.parent != out_dir.resolve():
        raise DataValidationError(f"map pages: file name {name!r} would leave {out_dir}")
    return path


# --------------------------------------------------------------------------- formatting


def _num(v: Any) -> float | None:
    if v is None:
        return None
    x = float(v)
    return None if math.isnan(x) else x


def fmt_interval(lo: float | None, hi: float | None, unit: str = "%") -> str:
    """An interval of shares: ``'39–45%'``; ``'—'`` when either end is unknown."""
    if lo is None or hi is None:
        return "—"
    return f"{fmt_pct(lo).rstrip('%')}–{fmt_pct(hi).rstrip('%')}{unit}"


def fmt_points(d: float | None) -> str:
    """A difference of two shares in percentage points, signed: ``0.299 -> '+29.9 pts'``."""
    if d is None or not math.isfinite(d):
        return "—"
    pts = d * 100
    sign = "+" if pts > 0 else ("−" if pts < 0 else "±")
    return f"{sign}{abs(pts):.1f} pts"


def fmt_points_ci(lo: float | None, hi: float | None) -> str:
    """``'+25.0 to +35.1 pts'``."""
    if lo is None or hi is None:
        return "—"
    return f"{fmt_points(lo).removesuffix(' pts')} to {fmt_points(hi)}"


def fmt_ratio(r: float | None) -> str:
    """A ratio: one decimal from 1 up (``'1.4×'``), two below (``'0.35×'``), as the findings'
    own wording does; ``'—'`` when there is none."""
    if r is None:
        return "—"
    if math.isinf(r):
        return "∞"
    return f"{r:.1f}×" if r >= 0.995 else f"{r:.2f}×"


def fmt_ratio_ci(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return "—"
    return f"{fmt_ratio(lo).rstrip('×')}–{fmt_ratio(hi)}"


def fmt_q(q: float | None) -> str:
    """q-value (false discovery rate): ``'<0.001'``, else three decimals."""
    if q is None:
        return "—"
    return "<0.001" if q < 0.001 else f"{q:.3f}"


def fmt_day(d: float | None) -> str:
    return "—" if d is None else f"day {fmt_num(d)}"


def fmt_day_ci(lo: float | None, hi: float | None) -> str:
    """Interval of a median day: ``'33–37'``; an open upper end reads ``'33 to beyond the log'``."""
    if lo is None:
        return "—"
    if hi is None:
        return f"{fmt_num(lo)} to beyond the log"
    return f"{fmt_num(lo)}–{fmt_num(hi)}"


def _share_view(p: Any, lo: Any, hi: Any) -> dict[str, str]:
    return {"est": fmt_pct(_num(p)), "ci": fmt_interval(_num(lo), _num(hi))}


def _median_view(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """Median time to value of one ``time_to_value`` row, with its interval and why it may be
    missing (the curve levels off below one half: many churn first or never get there)."""
    if not row:
        return {"est": "—", "ci": "—", "day": None, "low": None, "high": None, "why": ""}
    day, lo, hi = (_num(row.get(c)) for c in ("median_day", "median_low", "median_high"))
    why = ""
    if day is None:
        final = _num(row.get("final_cif"))
        why = "fewer than half get there while observed" + (
            f" (the curve levels off at {fmt_pct(final)})" if final is not None else ""
        )
    return {
        "est": fmt_day(day) if day is not None else "not reached by half",
        "ci": fmt_day_ci(lo, hi) if day is not None else "—",
        "day": day,
        "low": lo,
        "high": hi,
        "why": why,
    }


# --------------------------------------------------------------------------- SVG charts


def _steps(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """A right-continuous step function through ``points`` (x sorted): flat, then up."""
    out: list[tuple[float, float]] = []
    for i, (x, y) in enumerate(points):
        if i:
            out.append((x, points[i - 1][1]))
        out.append((x, y))
    return out


def cif_chart(
    days: Sequence[int],
    cif: Sequence[float | None],
    low: Sequence[float | None],
    high: Sequence[float | None],
    churn: Sequence[float | None] | None,
    label: str,
    x_end: float,
    *,
    small: bool = False,
    ticks: Sequence[int] = (),
) -> Markup:
    """Cumulative incidence (share reached by each day, a step curve from 0 at day 0) with its
    band as a shaded area, and optionally the churned-first curve dashed, on a fixed 0–100%
    scale up to day ``x_end``. ``label`` is the chart's accessible name (escaped here)."""
    width, height = (260, 96) if small else (640, 240)
    left, right, top, bottom = (36, 8, 6, 16) if small else (40, 14, 10, 26)
    plot_w, plot_h = width - left - right, height - top - bottom
    x_end = max(float(x_end), 1.0)

    def xy(d: float, p: float) -> tuple[float, float]:
        return (
            left + plot_w * min(max(d, 0.0), x_end) / x_end,
            top + plot_h * (1 - min(max(p, 0.0), 1.0)),
        )

    def pts(values: Sequence[float | None]) -> list[tuple[float, float]]:
        got = [(float(d), float(v)) for d, v in zip(days, values, strict=True) if v is not None]
        got = [(d, v) for d, v in got if d <= x_end and math.isfinite(v)]
        if got and got[0][0] > 0:
            got.insert(0, (0.0, 0.0))
        return got

    def poly(p: Sequence[tuple[float, float]]) -> str:
        return " ".join(f"{coord(x)},{coord(y)}" for x, y in (xy(d, v) for d, v in p))

    name = escape(unbidi(label))
    parts = [
        f'<svg class="cif{" mini" if small else ""}" role="img" aria-label="{name}" '
        f'width="{width if small else "100%"}" height="{height if small else ""}" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{name}</title>"
    ]
    parts[0] = parts[0].replace(' height=""', "")
    levels = (0.0, 0.5, 1.0) if small else (0.0, 0.25, 0.5, 0.75, 1.0)
    parts += percent_grid(
        levels, lambda p: xy(0, p)[1], left, width - right, left - 4, dashed=(0.5,)
    )
    for t in ticks:
        if 0 <= t <= x_end:
            x, _ = xy(t, 0)
            anchor = "start" if t == 0 else ("end" if t == ticks[-1] and small else "middle")
            parts.append(
                f'<text x="{coord(x)}" y="{height - (4 if small else 8)}" text-anchor="{anchor}" '
                f'class="axis">{t}</text>'
            )
    band = [
        (float(d), float(lo), float(hi))
        for d, lo, hi in zip(days, low, high, strict=True)
        if lo is not None and hi is not None and d <= x_end
    ]
    if band:
        up = _steps([(d, hi) for d, _, hi in band])
        down = _steps([(d, lo) for d, lo, _ in band])
        last = min(float(max(days)), x_end)
        up.append((last, up[-1][1]))
        down.append((last, down[-1][1]))
        parts.append(
            f'<polygon class="band" points="{poly(up)} {poly(down[::-1])}" '
            f'fill="{LINE_COLOUR}" fill-opacity="0.16" stroke="none"/>'
        )
    for values, colour, cls, extra in (
        (churn, RISK_COLOUR, "churn", ' stroke-dasharray="5 4"'),
        (cif, LINE_COLOUR, "reached", ""),
    ):
        if values is None:
            continue
        got = pts(values)
        if not got:
            continue
        st = _steps(got)
        last = min(float(max(days)), x_end)
        if st[-1][0] < last:
            st.append((last, st[-1][1]))
        parts.append(
            f'<polyline class="{cls}" points="{poly(st)}" fill="none" stroke="{colour}" '
            f'stroke-width="{1.5 if small else 2}" stroke-linejoin="round"{extra}/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def rate_trend(
    months: Sequence[date],
    rate: Sequence[float | None],
    low: Sequence[float | None],
    high: Sequence[float | None],
    label: str,
    support: Sequence[str] = (),
    reference: Mapping[date, float | None] | None = None,
) -> Markup:
    """A rate per signup month on a fixed 0–100% scale: the band of its interval shaded, the
    rate as a line with dots (hover: month, rate, interval, support), and optionally a
    reference rate per month (everyone) dashed. Months are placed by calendar distance."""
    width, height = 640, 200
    left, right, top, bottom = 40, 14, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    idx = [m.year * 12 + m.month for m in months]
    lo_i, hi_i = (min(idx), max(idx)) if idx else (0, 1)
    span = max(hi_i - lo_i, 1)

    def x_of(i: int) -> float:
        return left + (plot_w * (i - lo_i) / span if hi_i > lo_i else plot_w / 2)

    def y_of(p: float) -> float:
        return top + plot_h * (1 - min(max(p, 0.0), 1.0))

    name = escape(unbidi(label))
    parts = [
        f'<svg class="trend cohort" role="img" aria-label="{name}" width="100%" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{name}</title>"
    ]
    parts += percent_grid((0.0, 0.25, 0.5, 0.75, 1.0), y_of, left, width - right, left - 4)
    band = [
        (x_of(i), float(lo), float(hi))
        for i, lo, hi in zip(idx, low, high, strict=True)
        if lo is not None and hi is not None
    ]
    if band:
        upper = " ".join(f"{coord(x)},{coord(y_of(hi))}" for x, _, hi in band)
        lower = " ".join(f"{coord(x)},{coord(y_of(lo))}" for x, lo, _ in band[::-1])
        parts.append(
            f'<polygon class="band" points="{upper} {lower}" fill="{LINE_COLOUR}" '
            f'fill-opacity="0.16" stroke="none"/>'
        )
    if reference:
        ref = [(x_of(m.year * 12 + m.month), v) for m, v in sorted(reference.items())]
        ref_pts = [(x, float(v)) for x, v in ref if v is not None]
        if ref_pts:
            parts.append(
                '<polyline class="reference" points="'
                + " ".join(f"{coord(x)},{coord(y_of(v))}" for x, v in ref_pts)
                + f'" fill="none" stroke="{MUTED_COLOUR}" stroke-width="1.5" '
                f'stroke-dasharray="5 4"/>'
            )
    line = sorted(
        (x_of(i), float(r), k)
        for k, (i, r) in enumerate(zip(idx, rate, strict=True))
        if r is not None
    )
    if line:
        parts.append(
            '<polyline class="rate" points="'
            + " ".join(f"{coord(x)},{coord(y_of(r))}" for x, r, _ in line)
            + f'" fill="none" stroke="{LINE_COLOUR}" stroke-width="2" stroke-linejoin="round"/>'
        )
        for x, r, k in line:
            tip = f"{months[k].strftime('%Y-%m')}: {fmt_pct(r)} ({fmt_interval(low[k], high[k])})"
            if k < len(support):
                tip += f", {support[k]}"
            parts.append(
                f'<circle cx="{coord(x)}" cy="{coord(y_of(r))}" r="3.5" fill="#fff" '
                f'stroke="{LINE_COLOUR}" stroke-width="2"><title>{escape(tip)}</title></circle>'
            )
    if months:
        first, last = months[idx.index(lo_i)], months[idx.index(hi_i)]
        parts.append(
            f'<text x="{left}" y="{height - 6}" class="axis">{first.strftime("%Y-%m")}</text>'
        )
        if hi_i > lo_i:
            parts.append(
                f'<text x="{width - right}" y="{height - 6}" text-anchor="end" class="axis">'
                f"{last.strftime('%Y-%m')}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


# --------------------------------------------------------------------------- inputs


_EMPTY_TYPES: dict[str, Any] = {
    c: pl.String
    for c in ("segment_column", "segment", "milestone", "label", "status", "side", "event", "role")
}


def _frames(frames: Mapping[str, Any]) -> dict[str, pl.DataFrame]:
    """Every frame the pages read, empty when absent; a frame with rows must have the columns
    the pages show (``REQUIRED``)."""
    out: dict[str, pl.DataFrame] = {}
    for name, cols in REQUIRED.items():
        frame = frames.get(name)
        if frame is None:
            frame = pl.DataFrame()
        if not isinstance(frame, pl.DataFrame):
            raise DataValidationError(
                f"map pages: frame '{name}' must be a polars DataFrame, got {type(frame).__name__}"
            )
        if not frame.height:  # nothing to show: the columns only, so every lookup finds none
            frame = pl.DataFrame(schema={c: _EMPTY_TYPES.get(c, pl.Float64) for c in cols})
        else:
            missing = [c for c in cols if c not in frame.columns]
            if missing:
                raise DataValidationError(
                    f"map pages: frame '{name}' is missing column(s) {missing}",
                    hint="pass AdoptionMap.frames() unchanged (adoption/build.py)",
                )
            frame = frame.with_columns(
                pl.col("segment_column", "segment").cast(pl.String),
                *([pl.col("milestone").cast(pl.String)] if "milestone" in cols else []),
            )
        out[name] = frame
    return out


def _report_href(meta: Mapping[str, Any]) -> str:
    """The optional relative link back to the CSM report; anything with a scheme or host
    (``http:``, ``javascript:``, ``//host``) is refused: the pages must not point outside."""
    href = str(meta.get("report_href") or "")
    if not href:
        return ""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith(("/", "\\")) or "\\" in href:
        raise DataValidationError(
            f"map pages: meta['report_href'] must be a relative path, got {href!r}"
        )
    return href


def _rows(frame: pl.DataFrame, column: str, segment: str, **eq: str) -> pl.DataFrame:
    if not frame.height:
        return frame
    cond = (pl.col("segment_column") == column) & (pl.col("segment") == segment)
    for k, v in eq.items():
        cond = cond & (pl.col(k) == v)
    return frame.filter(cond)


def _one(frame: pl.DataFrame, column: str, segment: str, **eq: str) -> dict[str, Any] | None:
    got = _rows(frame, column, segment, **eq)
    return got.row(0, named=True) if got.height else None


@dataclass(frozen=True)
class _Segment:
    column: str
    value: str
    file: str

    @property
    def title(self) -> str:
        return humanise(self.column, capital=True)


def _segments(f: dict[str, pl.DataFrame], order: Sequence[str]) -> list[_Segment]:
    """Every (segment column, value) any frame reports on, "all" left out; in the order of
    ``meta['segments']``, then by value."""
    keys: set[tuple[str, str]] = set()
    for frame in f.values():
        if frame.height:
            keys |= set(
                frame.filter(pl.col("segment_column") != ALL)
                .select("segment_column", "segment")
                .unique()
                .iter_rows()
            )
    rank = {c: i for i, c in enumerate(order)}
    ordered = sorted(keys, key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1]))
    files = page_file_names("segment", ordered)
    return [_Segment(c, v, files[(c, v)]) for c, v in ordered]


def _milestones(f: dict[str, pl.DataFrame]) -> tuple[list[str], dict[str, str]]:
    """Milestone names in journey order (median time to value for everyone, then name), and
    their page file names."""
    names: set[str] = set()
    for name in ("time_to_value", "ttv_curve", "ttv_checkpoints", "milestone_timing", "cohorts"):
        if f[name].height:
            names |= set(f[name]["milestone"].drop_nulls().to_list())
    ttv = f["time_to_value"]
    median = {
        r["milestone"]: _num(r["median_day"])
        for r in (_rows(ttv, ALL, ALL).iter_rows(named=True) if ttv.height else [])
    }
    ordered = sorted(
        names, key=lambda m: (median.get(m) is None, median.get(m) or 0.0, m.casefold(), m)
    )
    files = page_file_names("milestone", [(m,) for m in ordered])
    return ordered, {m: files[(m,)] for m in ordered}


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class _Words:
    entity: str
    entities: str
    conf_level: float
    params: Mapping[str, Any]

    @property
    def level(self) -> int:
        """The intervals' level in percent, as printed ("95% CI")."""
        return round(self.conf_level * 100)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "entities": self.entities,
            "Entity": ucfirst(self.entity),
            "Entities": ucfirst(self.entities),
            "level": self.level,
        }


def _words(meta: Mapping[str, Any]) -> _Words:
    entity = " ".join(str(meta.get("entity") or "account").split()) or "account"
    entities = " ".join(str(meta.get("entity_plural") or plural(entity)).split())
    level = float(meta.get("conf_level") or 0.95)
    if not 0.0 < level < 1.0:
        raise DataValidationError(f"map pages: meta['conf_level'] must be in (0, 1), got {level}")
    return _Words(entity, entities, level, dict(meta.get("params") or {}))


def _indicator_view(r: Mapping[str, Any], w: _Words) -> dict[str, Any]:
    """One landmark finding in words and numbers (``adoption.landmark``): who did it, how much
    more often they went on to succeed, the interval and the support."""
    rr, rr_lo, rr_hi = _num(r["rate_ratio"]), _num(r["rr_low"]), _num(r["rr_high"])
    label = str(r["label"])
    n_did, n_total = int(r["n_did"]), int(r["n_total"])
    support = f"{n_did:,} of {n_total:,} {w.entities} did it"
    if rr is not None:
        sentence = (
            f"{ucfirst(w.entities)} that {label} went on to succeed {fmt_ratio(rr)} as often as "
            f"those that did not ({w.level}% CI {fmt_ratio_ci(rr_lo, rr_hi)}; {support})."
        )
    else:
        sentence = (
            f"{ucfirst(w.entities)} that {label} went on to succeed in "
            f"{fmt_pct(_num(r['precision']))} of cases, against none of the others ({support})."
        )
    rep = r.get("replicates")
    late = (_num(r.get("late_risk_difference")), _num(r.get("late_rd_low")))
    late_hi = _num(r.get("late_rd_high"))
    return {
        "rank": r["rank"],
        "label": ucfirst(label),
        "sentence": sentence,
        "activation": _share_view(r["activation_rate"], r["activation_low"], r["activation_high"]),
        "precision": _share_view(r["precision"], r["precision_low"], r["precision_high"]),
        "rate_not": fmt_pct(_num(r["rate_not"])),
        "n_not": int(r["n_not"]),
        "rd": fmt_points(_num(r["risk_difference"])),
        "rd_ci": fmt_points_ci(_num(r["rd_low"]), _num(r["rd_high"])),
        "shrunk": fmt_points(_num(r.get("shrunk_risk_difference"))),
        "weight": _num(r.get("shrink_weight")),
        "rr": fmt_ratio(rr),
        "rr_ci": fmt_ratio_ci(rr_lo, rr_hi),
        "n_did": n_did,
        "n_total": n_total,
        "q": fmt_q(_num(r["q_value"])),
        "replicates": "yes" if rep is True else ("no" if rep is False else "could not check"),
        "late": (
            f"{fmt_points(late[0])} ({fmt_points_ci(late[1], late_hi)}) in later signups"
            if late[0] is not None
            else ""
        ),
    }


def _top(f: dict[str, pl.DataFrame], column: str, segment: str, w: _Words) -> list[dict[str, Any]]:
    top = _rows(f["top_indicators"], column, segment)
    return [_indicator_view(r, w) for r in top.sort("rank").iter_rows(named=True)]


def _no_top_reason(f: dict[str, pl.DataFrame], column: str, segment: str, w: _Words) -> str:
    """Why a group has no top indicator, in one sentence."""
    found = _rows(f["findings"], column, segment)
    if not found.height:
        return (
            f"Early behaviours could not be judged: too few {w.entities} are observed long "
            "enough after their start to compare those that did something with those that did "
            "not."
        )
    n_ok = int((found["status"] == "ok").sum())
    if not n_ok:
        return (
            f"Could not compare behaviours here: every one of the {found.height:,} checked had "
            f"too few {w.entities} on one side."
        )
    return (
        f"None of the {n_ok:,} behaviours compared here both passed the false-discovery check "
        f"and held up again in {w.entities} that signed up later, so none is listed."
    )


def _checkpoints(
    f: dict[str, pl.DataFrame], column: str, segment: str, milestone: str
) -> list[dict[str, Any]]:
    cps = _rows(f["ttv_checkpoints"], column, segment, milestone=milestone)
    return [
        {
            "day": int(r["checkpoint"]),
            **_share_view(r["share"], r["share_low"], r["share_high"]),
            "share": _num(r["share"]),
            "n_at_risk": r["n_at_risk"],
        }
        for r in cps.sort("checkpoint").iter_rows(named=True)
    ]


def _checkpoint_days(f: dict[str, pl.DataFrame]) -> list[int]:
    cps = f["ttv_checkpoints"]
    return sorted({int(d) for d in cps["checkpoint"].to_list()}) if cps.height else []


def _x_end(curve: pl.DataFrame, checkpoints: Sequence[int]) -> int:
    """Where the chart stops: the last followed day, at most twice the last checkpoint (180 by
    default) so the first weeks stay readable, and not past where fewer than ``MIN_AT_RISK``
    accounts are left (unless that is before the last checkpoint)."""
    if not curve.height:
        return max(checkpoints, default=90)
    last = int(curve["day"].max())  # type: ignore[arg-type]
    cap = 2 * max(checkpoints, default=90)
    thin = curve.filter(pl.col("n_at_risk") < MIN_AT_RISK)["day"].min()
    if thin is not None:
        cap = min(cap, max(int(thin), max(checkpoints, default=0)))  # type: ignore[arg-type]
    return max(1, min(last, cap))


def _ticks(x_end: int) -> list[int]:
    step = next(s for s in (7, 14, 30, 60, 90, 180, 365, 730, 10**9) if x_end / s <= 8)
    return list(range(0, x_end + 1, step))


def _curve_chart(
    curve: pl.DataFrame, label: str, x_end: int, *, small: bool, churn: bool
) -> Markup:
    if not curve.height:
        return Markup("")
    c = curve.sort("day")
    return cif_chart(
        c["day"].to_list(),
        c["cif"].to_list(),
        c["ci_low"].to_list(),
        c["ci_high"].to_list(),
        c["churn_cif"].to_list() if churn else None,
        label,
        x_end,
        small=small,
        ticks=_ticks(x_end) if not small else [0, x_end],
    )


def _at_risk(curve: pl.DataFrame, days: Sequence[int]) -> list[dict[str, int]]:
    """Numbers under the curve at a few days: still on the way (not reached, not churned,
    still observed: the "number at risk"), reached before that day, churned first before it."""
    c = curve.sort("day")
    out = []
    for d in days:
        later = c.filter(pl.col("day") >= d)
        before = c.filter(pl.col("day") < d)
        out.append(
            {
                "day": d,
                "at_risk": int(later["n_at_risk"][0]) if later.height else 0,
                "reached": int(before["n_reached"].sum()),
                "churned": int(before["n_churned"].sum()),
            }
        )
    return out


def _ttv_summary(row: Mapping[str, Any] | None, w: _Words) -> str:
    if not row:
        return ""
    n, reached = int(row["n_accounts"]), int(row["n_reached"])
    churned, censored = int(row["n_churned_first"]), int(row["n_censored"])
    return (
        f"{reached:,} of {counted(n, w.entity, w.entities)} reached it while observed; "
        f"{churned:,} churned first and {censored:,} are still on the way."
    )


def _milestone_card(
    f: dict[str, pl.DataFrame], m: str, file: str, w: _Words, cps: Sequence[int]
) -> dict[str, Any]:
    row = _one(f["time_to_value"], ALL, ALL, milestone=m)
    curve = _rows(f["ttv_curve"], ALL, ALL, milestone=m)
    x_end = _x_end(curve, cps)
    title = humanise(m, capital=True)
    return {
        "name": m,
        "title": title,
        "file": file,
        "median": _median_view(row),
        "summary": _ttv_summary(row, w),
        "checkpoints": _checkpoints(f, ALL, ALL, m),
        "x_end": x_end,
        "chart": _curve_chart(
            curve,
            f"Share of {w.entities} that reached {title}, by day",
            x_end,
            small=True,
            churn=False,
        ),
    }


def _segment_rows(
    f: dict[str, pl.DataFrame], segments: Sequence[_Segment], milestones: Sequence[str], w: _Words
) -> list[dict[str, Any]]:
    """The index's segments table: per segment its support, median time to value per milestone
    and its strongest replicated indicator."""
    ttv, top = f["time_to_value"], f["top_indicators"]
    rows = []
    for s in segments:
        per_ms = []
        for m in milestones:
            r = _one(ttv, s.column, s.value, milestone=m)
            per_ms.append({"median": _median_view(r)})
        n = _rows(ttv, s.column, s.value)["n_accounts"].max() if ttv.height else None
        best = _rows(top, s.column, s.value).filter(pl.col("rank") == 1) if top.height else top
        rows.append(
            {
                "title": s.title,
                "value": s.value,
                "file": s.file,
                "n_accounts": n,
                "milestones": per_ms,
                "top": ucfirst(str(best["label"][0])) if best.height else "",
            }
        )
    return rows


def _segment_view(
    f: dict[str, pl.DataFrame],
    s: _Segment,
    milestones: Sequence[str],
    w: _Words,
    ms_files: dict[str, str],
    cps: Sequence[int],
) -> dict[str, Any]:
    ttv, cohorts = f["time_to_value"], f["cohorts"]
    compare = []
    for m in milestones:
        mine, every = (
            _one(ttv, s.column, s.value, milestone=m),
            _one(ttv, ALL, ALL, milestone=m),
        )
        if mine is None and every is None:
            continue
        theirs = {c["day"]: c for c in _checkpoints(f, ALL, ALL, m)}
        ours = {c["day"]: c for c in _checkpoints(f, s.column, s.value, m)}
        compare.append(
            {
                "name": m,
                "title": humanise(m, capital=True),
                "file": ms_files.get(m, ""),
                "median": _median_view(mine),
                "median_all": _median_view(every),
                "support": _ttv_summary(mine, w),
                "checkpoints": [{"day": d, "mine": ours.get(d), "all": theirs.get(d)} for d in cps],
            }
        )
    trends = []
    for m in milestones:
        seg_rows = _rows(cohorts, s.column, s.value, milestone=m).sort("signup_month")
        if not seg_rows.height:
            continue
        all_rows = _rows(cohorts, ALL, ALL, milestone=m)
        reference = {
            r["signup_month"]: _num(r["activation_rate"]) for r in all_rows.iter_rows(named=True)
        }
        title = humanise(m, capital=True)
        rows = list(seg_rows.iter_rows(named=True))
        trends.append(
            {
                "title": title,
                "chart": rate_trend(
                    seg_rows["signup_month"].to_list(),
                    [_num(v) for v in seg_rows["activation_rate"].to_list()],
                    [_num(v) for v in seg_rows["activation_low"].to_list()],
                    [_num(v) for v in seg_rows["activation_high"].to_list()],
                    f"Share of {s.title} = {s.value} {w.entities} that reached {title} "
                    f"{_within(w)}, by signup month",
                    support=[
                        f"{int(r['n_activated']):,} of {int(r['n_observed']):,}" for r in rows
                    ],
                    reference=reference,
                ),
                "rows": [_cohort_row(r) for r in rows],
            }
        )
    return {
        "title": s.title,
        "value": s.value,
        "column": s.column,
        "cp_days": list(cps),
        "compare": compare,
        "top": _top(f, s.column, s.value, w),
        "no_top": _no_top_reason(f, s.column, s.value, w),
        "trends": trends,
    }


def _within(w: _Words) -> str:
    days = w.params.get("cohort_within_days")
    return f"within {counted(days, 'day')}" if days else "within the map's activation window"


def _cohort_row(r: Mapping[str, Any]) -> dict[str, Any]:
    month = r["signup_month"]
    ch = _num(r.get("change_vs_previous"))
    return {
        "month": month.strftime("%Y-%m") if isinstance(month, date) else str(month),
        "n_accounts": int(r["n_accounts"]),
        "n_observed": int(r["n_observed"]),
        "n_not_yet": int(r.get("n_not_yet") or 0),
        "n_activated": int(r["n_activated"]),
        **_share_view(r["activation_rate"], r["activation_low"], r["activation_high"]),
        "change": fmt_points(ch) if ch is not None else "—",
        "change_ci": fmt_points_ci(_num(r.get("change_low")), _num(r.get("change_high"))),
        "median": _median_view(r) if "median_day" in r else _median_view(None),
    }


def _wilson(x: int, n: int, conf_level: float) -> tuple[float | None, float | None]:
    """Wilson interval of ``x`` of ``n`` (as ``adoption`` uses for every rate)."""
    if n <= 0:
        return None, None
    lo, hi = proportion_confint(x, n, alpha=1 - conf_level, method="wilson")
    return float(lo), float(hi)


def _milestone_view(
    f: dict[str, pl.DataFrame],
    m: str,
    segments: Sequence[_Segment],
    w: _Words,
    cps: Sequence[int],
    descriptions: Mapping[str, str],
) -> dict[str, Any]:
    title = humanise(m, capital=True)
    curve = _rows(f["ttv_curve"], ALL, ALL, milestone=m)
    x_end = _x_end(curve, cps)
    ttv_all = _one(f["time_to_value"], ALL, ALL, milestone=m)
    timing = _one(f["milestone_timing"], ALL, ALL, milestone=m)
    roles = _rows(f["milestone_roles"], ALL, ALL, milestone=m)
    n_first = int(roles["n_first"].sum()) if roles.height else 0
    n_events = int(roles["n_events"].sum()) if roles.height else 0
    role_rows = []
    for r in roles.sort(["n_first", "n_events", "role"], descending=[True, True, False]).iter_rows(
        named=True
    ):
        lo, hi = _wilson(int(r["n_first"]), n_first, w.conf_level)
        role_rows.append(
            {
                "role": r["role"],
                "n_first": int(r["n_first"]),
                "first": _share_view(r["n_first"] / n_first if n_first else None, lo, hi),
                "n_events": int(r["n_events"]),
                "events": fmt_pct(r["n_events"] / n_events) if n_events else "—",
            }
        )
    around = _rows(f["events_around"], ALL, ALL, milestone=m)
    sides = {}
    for side in ("before", "after"):
        rows = around.filter(pl.col("side") == side) if around.height else around
        ok = rows.filter(pl.col("status") == "ok") if rows.height else rows
        shown_rows = (
            ok.filter(pl.col("lift_low") > 1)
            .sort(["lift_low", "event"], descending=[True, False])
            .head(AROUND_ROWS)
            if ok.height
            else ok
        )
        sides[side] = {
            "n_checked": ok.height,
            "n_too_few": rows.height - ok.height,
            "rows": [_around_row(r) for r in shown_rows.iter_rows(named=True)],
            "anchor_day": int(rows["anchor_day"][0]) if rows.height else None,
        }
    per_segment = []
    for s in segments:
        ttv = _one(f["time_to_value"], s.column, s.value, milestone=m)
        if ttv is None:
            continue
        cp = [c for c in _checkpoints(f, s.column, s.value, m) if cps and c["day"] == cps[0]]
        per_segment.append(
            {
                "title": s.title,
                "value": s.value,
                "file": s.file,
                "n_accounts": int(ttv["n_accounts"]),
                "n_reached": int(ttv["n_reached"]),
                "median": _median_view(ttv),
                "first_cp": cp[0] if cp else None,
            }
        )
    risk_days = [d for d in _ticks(x_end) if d <= x_end]
    return {
        "name": m,
        "title": title,
        "description": descriptions.get(m, ""),
        "median": _median_view(ttv_all),
        "ttv": ttv_all,
        "summary": _ttv_summary(ttv_all, w),
        "checkpoints": _checkpoints(f, ALL, ALL, m),
        "first_cp_day": cps[0] if cps else None,
        "chart": _curve_chart(
            curve,
            f"Share of {w.entities} that reached {title} (solid, with its band) and that "
            f"churned first (dashed), by day since start",
            x_end,
            small=False,
            churn=True,
        ),
        "x_end": x_end,
        "follow_up": int(curve["day"].max()) if curve.height else None,  # type: ignore[arg-type]
        "at_risk": _at_risk(curve, risk_days) if curve.height else [],
        "timing": timing,
        "timing_iqr": (
            f"{fmt_num(_num(timing['q25_day']))}–{fmt_num(_num(timing['q75_day']))}"
            if timing and timing["median_day"] is not None
            else "—"
        ),
        "roles": role_rows,
        "n_first": n_first,
        "n_events": n_events,
        "around": sides,
        "has_around": bool(around.height),
        "window_days": w.params.get("journey_window_days"),
        "per_segment": per_segment,
    }


def _around_row(r: Mapping[str, Any]) -> dict[str, Any]:
    lift, lo, hi = _num(r["lift"]), _num(r["lift_low"]), _num(r["lift_high"])
    return {
        "event": humanise(str(r["event"])),
        "raw_event": r["event"],
        "reachers": f"{int(r['x_reachers']):,} of {int(r['n_reachers']):,}",
        "p_reachers": fmt_pct(int(r["x_reachers"]) / int(r["n_reachers"])),
        "others": f"{int(r['x_others']):,} of {int(r['n_others']):,}",
        "p_others": fmt_pct(int(r["x_others"]) / int(r["n_others"])),
        "lift": "only those who reached it"
        if lift is not None and math.isinf(lift)
        else fmt_ratio(lift),
        "lift_ci": fmt_ratio_ci(lo, hi),
    }


def _descriptions(meta: Mapping[str, Any]) -> dict[str, str]:
    """Milestone name -> description from ``meta['milestones']`` (MilestoneConfig-like objects
    or dicts; optional)."""
    out: dict[str, str] = {}
    for m in meta.get("milestones") or ():
        name, desc = (
            (m.get("name"), m.get("description"))
            if isinstance(m, Mapping)
            else (getattr(m, "name", None), getattr(m, "description", None))
        )
        if name and desc:
            out[str(name)] = str(desc)
    return out


# --------------------------------------------------------------------------- entry point


@functools.lru_cache(maxsize=1)
def _environment() -> Environment:
    """One Jinja environment: autoescaping everything, direction controls in data neutralised
    (``report.render.shown``), the report's stylesheet plus the map's own inline."""
    env = page_environment(num=fmt_num, pct=fmt_pct, count=counted, day=fmt_day)
    css = (TEMPLATES / "report.css").read_text("utf-8") + (TEMPLATES / "map.css").read_text("utf-8")
    env.globals["css"] = Markup(css)
    return env


def _n_accounts(f: dict[str, pl.DataFrame]) -> int | None:
    ttv = f["time_to_value"]
    if ttv.height:
        got = _rows(ttv, ALL, ALL)["n_accounts"].max()
        return None if got is None else int(got)  # type: ignore[arg-type]
    return None


def render_map(out_dir: Path, frames: dict[str, pl.DataFrame], meta: dict[str, Any]) -> Path:
    """Write the adoption map's pages into ``out_dir`` (created if needed); return the index.

    ``frames``: ``AdoptionMap.frames()`` (findings, top_indicators, ttv_curve, ttv_checkpoints,
    time_to_value, milestone_timing, milestone_roles, events_around, cohorts, segments); any of
    them may be empty or absent. ``meta``: ``entity`` / ``entity_plural`` (the noun for one
    account, default "account"/"accounts"), ``generated_at``, ``as_of`` (may be None),
    ``segments`` (segment column names, their order on the pages), and optionally
    ``report_href`` (relative link to the CSM report), ``notes`` (``AdoptionMap.notes``: what
    the log could not support), ``conf_level`` (default 0.95, the intervals' level),
    ``params`` (``MapParams`` as a mapping: ``cohort_within_days``, ``journey_window_days``,
    ``outcome_horizon_days`` make the wording precise) and ``milestones`` (configured
    milestones with ``name``/``description``). Files are written in place: the caller renders
    into a temporary folder and swaps it in.
    """
    out_dir = Path(out_dir)
    f = _frames(frames)
    w = _words(meta)
    report_href = _report_href(meta)
    segments = _segments(f, [str(s) for s in meta.get("segments") or ()])
    milestones, ms_files = _milestones(f)
    cps = _checkpoint_days(f)
    descriptions = _descriptions(meta)
    common = {
        "w": w.as_dict(),
        "as_of": fmt_moment(meta.get("as_of")),
        "generated_at": fmt_moment(meta.get("generated_at")),
        "report_href": report_href,
        "success": _success_words(w),
        "within": _within(w),
    }
    env = _environment()
    out_dir.mkdir(parents=True, exist_ok=True)
    top_all = _top(f, ALL, ALL, w)
    index = env.get_template("map_index.html.j2").render(
        notes=[str(n) for n in meta.get("notes") or ()],
        n_accounts=_n_accounts(f),
        milestones=[_milestone_card(f, m, ms_files[m], w, cps) for m in milestones],
        ms_titles=[humanise(m, capital=True) for m in milestones],
        top=top_all,
        no_top=_no_top_reason(f, ALL, ALL, w),
        segments=_segment_rows(f, segments, milestones, w),
        cp_days=cps,
        configured_segments=[humanise(str(s), capital=True) for s in meta.get("segments") or ()],
        **common,
    )
    index_path = _inside(out_dir, "index.html")
    index_path.write_text(index, encoding="utf-8")
    seg_tpl = env.get_template("map_segment.html.j2")
    for s in segments:
        html = seg_tpl.render(s=_segment_view(f, s, milestones, w, ms_files, cps), **common)
        _inside(out_dir, s.file).write_text(html, encoding="utf-8")
    ms_tpl = env.get_template("map_milestone.html.j2")
    for m in milestones:
        html = ms_tpl.render(m=_milestone_view(f, m, segments, w, cps, descriptions), **common)
        _inside(out_dir, ms_files[m]).write_text(html, encoding="utf-8")
    return index_path


def _success_words(w: _Words) -> str:
    """What "succeed" means on these pages (``adoption.timeline.retention_outcome``)."""
    h = w.params.get("outcome_horizon_days")
    when = (
        f"{counted(h, 'day')} after the last early period the map looks at"
        if h
        else "a fixed time after the early period the map looks at (map.outcome_horizon_days)"
    )
    return f"Success means the {w.entity} was still active {when}."
