"""Render the data profile (``ingest.profile.profile_tables``) as one self-contained HTML page.

Why a page: before any feature is built, whoever onboards a new log needs to see what the
pipeline saw (history length, event names and how widely they are used, users, values, cadence,
candidate segments) and which defaults it derived, each with its reason, so a wrong guess is
caught before an hour of training. Like the CSM report (``report.render``) it must open offline
from a shared drive: the CSS is inline and a Content-Security-Policy forbids any fetch.

Event names, segment values and column names are customer data: the Jinja environment
autoescapes everything, and the view below only adds numbers and pre-formatted numeric strings
(bar widths are computed here, never taken from the data).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from core.atomic import write_text
from report.render import fmt_num, page_environment
from report.words import counted

TEMPLATES = Path(__file__).resolve().parent / "templates"

SETTING_LABELS = {
    "snapshot.every_days": "Days between cutoffs",
    "snapshot.count": "Number of cutoffs",
    "features.vocabulary_events": "Event types with their own features",
    "milestones": "Candidate milestones",
    "entity": "What pages call a customer",
}


def fmt_share(p: float | None) -> str:
    """Share 0..1 -> percent with one decimal below 10% (``0.034 -> '3.4%'``), else whole."""
    if p is None:
        return "—"
    pct = p * 100
    if 0 < pct < 10:
        return f"{pct:.1f}%"
    return f"{pct:.0f}%"


def fmt_when(iso: str | None) -> str:
    """ISO timestamp from the profile -> ``'2026-01-05 09:00 UTC'`` (the profile stores UTC)."""
    if not iso:
        return "—"
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def _width(p: float | None) -> str:
    """CSS width of a share bar, ``'0.0'..'100.0'`` (a number we format, never data)."""
    return f"{min(100.0, max(0.0, float(p or 0.0) * 100)):.1f}"


@functools.lru_cache(maxsize=1)
def _environment() -> Environment:
    """One Jinja environment, autoescaping every template and neutralising direction controls
    (``report.render.shown``): event names are data."""
    env = page_environment(num=fmt_num, share=fmt_share, width=_width, when=fmt_when, count=counted)
    env.globals["css"] = Markup((TEMPLATES / "report.css").read_text("utf-8"))
    return env


def _suggestion_view(key: str, s: dict[str, Any]) -> dict[str, Any]:
    value = s.get("value")
    if key == "milestones":
        kind = "milestones"
    elif isinstance(value, list):
        kind = "list"
    else:
        kind = "scalar"
    return {
        "key": key,
        "label": SETTING_LABELS.get(key, key),
        "kind": kind,
        "value": value,
        "reason": s.get("reason", ""),
    }


def render_profile_page(profile: dict[str, Any], out_path: Path) -> Path:
    """Write the profile page to ``out_path`` atomically (``core.atomic``); return the path.

    ``profile`` is the dict of ``ingest.profile.profile_tables`` (or the same dict read back
    from JSON). A failed render leaves any previous page untouched.
    """
    suggested = [_suggestion_view(k, v) for k, v in profile["suggested"].items()]
    weekdays = [
        {"day": d, "share": s} for d, s in profile["cadence"]["share_events_by_weekday"].items()
    ]
    html = (
        _environment()
        .get_template("profile.html.j2")
        .render(p=profile, h=profile["history"], suggested=suggested, weekdays=weekdays)
    )
    return write_text(html, Path(out_path))
