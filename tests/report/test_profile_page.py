"""``report.profile``: the data-profile page shows the profile and escapes customer data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.profile import profile_tables
from ingest.tables import Tables
from report.profile import fmt_share, fmt_when, render_profile_page
from tests.features.helpers import events

SCRIPT = "<script>alert(1)</script>"
ATTR = 'x" onmouseover="alert(2)'


def _ts(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


@pytest.fixture(scope="module")
def profile() -> dict:
    rows = [
        ("a1", "u1", "signup", _ts(1), "gold"),
        ("a1", "u2", SCRIPT, _ts(3), "gold"),
        ("a2", "u3", "signup", _ts(2), SCRIPT),
        ("a2", "u3", ATTR, _ts(9), ATTR),
        ("a3", "u4", "signup", _ts(5), "gold"),
        ("a3", "u4", SCRIPT, _ts(8), "gold"),
    ]
    ev = events(rows, extra=['<b>"tier"</b>'])
    return profile_tables(
        Tables(ev, None, None, datetime(2026, 3, 1, tzinfo=UTC), []), horizon_days=14
    )


def test_page_escapes_customer_data(profile: dict, tmp_path: Path) -> None:
    out = render_profile_page(profile, tmp_path / "profile" / "profile.html")
    html = out.read_text("utf-8")
    assert SCRIPT not in html and "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '"onmouseover=' not in html and 'onmouseover="' not in html
    assert "x&#34; onmouseover=&#34;alert(2)" in html
    assert '<b>"tier"</b>' not in html and "&lt;b&gt;&#34;tier&#34;&lt;/b&gt;" in html


def test_page_shows_event_types_and_suggestions(profile: dict, tmp_path: Path) -> None:
    out = render_profile_page(profile, tmp_path / "profile.html")
    assert out == tmp_path / "profile.html"
    assert [p.name for p in tmp_path.iterdir()] == ["profile.html"]  # no temp file left
    html = out.read_text("utf-8")
    for e in profile["event_types"]:
        assert f"<code>{e['slug']}</code>" in html
    assert '<td class="name">signup</td>' in html
    # signup: 3 of 3 accounts; the <script> event: 2 of 3 -> bar widths are numbers we format
    assert 'style="width: 100.0%"' in html and 'style="width: 66.7%"' in html
    for key, s in profile["suggested"].items():
        assert f"<code>{key}</code>" in html
        assert s["reason"].split(":")[0].replace("'", "&#39;") in html
    assert "first_script_alert_1_script" in html
    assert "Content-Security-Policy" in html and "<style>:root" in html


def test_page_renders_a_profile_read_back_from_json(profile: dict, tmp_path: Path) -> None:
    again = json.loads(json.dumps(profile))
    html = render_profile_page(again, tmp_path / "p.html").read_text("utf-8")
    assert re.search(r"Data profile — 6 events, 3 accounts", html)


def test_fmt_share() -> None:
    assert [fmt_share(p) for p in (None, 0.0, 0.034, 0.5, 1.0)] == [
        "—",
        "0%",
        "3.4%",
        "50%",
        "100%",
    ]


def test_fmt_when() -> None:
    assert fmt_when("2026-01-05T09:00:00+00:00") == "2026-01-05 09:00 UTC"
    assert fmt_when(None) == "—" and fmt_when("soon") == "soon"
