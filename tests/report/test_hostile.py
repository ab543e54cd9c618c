"""Customer data is hostile: account ids, segment values and event names that try markup, template
or spreadsheet injection, path traversal or direction tricks render as inert text on every page
(the CSM report and the data profile), and no id can write outside the report's folder or onto
another account's page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import report
from ingest.profile import profile_tables
from ingest.tables import Tables
from report import svg
from report.profile import render_profile_page
from report.render import account_file_names, render_report
from tests.features.helpers import events as event_frame

RTL = "evil\u202egpj.exe"  # shows as "evilexe.jpg" unless the override is neutralised
INJECTIONS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "{% for x in range(3) %}x{% endfor %}",
    "../../etc/passwd",
    "=cmd|' /C calc'!A0",
    RTL,
    "{value} [one|many]",
)
#: Tags the pages are built from: the templates' and the charts' own. Data must never add one.
_SOURCES = [*(Path(report.__file__).parent / "templates").glob("*.j2"), Path(svg.__file__)]
TAGS = {t for f in _SOURCES for t in re.findall(r"<([a-z][a-z0-9]*)", f.read_text("utf-8"))}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _page(path: Path) -> tuple[str, _Page]:
    html = path.read_text("utf-8")
    p = _Page()
    p.feed(html)
    return html, p


def assert_inert(path: Path, scripts: int = 0) -> str:
    """No data string made markup on the page at ``path``; returns its visible text."""
    html, page = _page(path)
    for tag, attrs in page.tags:
        assert tag in TAGS, (path.name, tag)
        assert not [k for k in attrs if k.startswith("on")], (path.name, tag, attrs)
        assert tag != "script" or "src" not in attrs
    assert sum(t == "script" for t, _ in page.tags) == scripts, path.name
    for s in INJECTIONS:
        if re.search(r"[<>\"]", s):
            assert s not in html, (path.name, s)  # only ever escaped
    assert "\u202e" not in html  # direction overrides show as \ufffd, never obeyed
    return re.sub(r"\s+", " ", "".join(page.text))


def _portfolio(ids: list[str], segment: list[str], event: str = INJECTIONS[0]) -> dict[str, Any]:
    """Report inputs for ``ids`` (ranks in order), one hostile segment column and an event name
    in each account's driver sentence, milestone and next step."""
    n = len(ids)
    sentence = f"3 × “{event}” in the last 7 days; accounts like this one have 9."
    scores = pl.DataFrame(
        {
            "account_id": ids,
            "as_of": [date(2026, 11, 1)] * n,
            '<b>"tier"</b>': segment,
            "decay_risk": [round(0.9 - 0.8 * i / max(n, 1), 4) for i in range(n)],
            "risk_tier": ["high"] + ["medium"] * (n - 1),
            "rank": list(range(1, n + 1)),
            "previous_risk": [None] * n,
            "risk_change": [None] * n,
            "model_version": ["1"] * n,
            "driver_1": [f"ev_{event}_7d"] * n,
            "driver_1_text": [sentence] * n,
            "top_cause_kind": ["cause"] + ["none"] * (n - 1),
            "top_cause_family": [event] + [None] * (n - 1),
            "top_cause_driver_text": [sentence] + [None] * (n - 1),
            "next_best_action": [f"Reach out to {s} peers about {event}." for s in segment],
        },
        schema_overrides={"previous_risk": pl.Float64, "risk_change": pl.Float64},
    )
    explanations = pl.DataFrame(
        {
            "account_id": ids,
            "feature": [f"ev_{event}_7d"] * n,
            "family": [event] * n,
            "value": [3.0] * n,
            "peer_median": [9.0] * n,
            "contribution": [0.5] * n,
            "rank": [1] * n,
            "direction": ["risk"] * n,
            "sentence": [sentence] * n,
        }
    )
    history = pl.DataFrame(
        {"account_id": ids, "as_of": [date(2026, 11, 1)] * n, "decay_risk": [0.5] * n}
    )
    usage = pl.DataFrame(
        {"account_id": ids, "week_start": [date(2026, 10, 25)] * n, "active_users": [3] * n}
    )
    milestones = pl.DataFrame(
        {
            "account_id": ids,
            "milestone": [event] * n,
            "description": [f"First {event}"] * n,
            "expected_days": [7] * n,
            "reached_on": [date(2026, 3, 5)] * n,
            "days_to_reach": [4] * n,
            "status": ["reached"] * n,
        }
    )
    meta = {
        "as_of": date(2026, 11, 1),
        "model_version": "1",
        "segments": ['<b>"tier"</b>'],
        "tier_thresholds": {"high": 0.5, "medium": 0.25},
    }
    return {
        "scores": scores,
        "explanations": explanations,
        "history": history,
        "usage": usage,
        "milestones": milestones,
        "meta": meta,
    }


@pytest.mark.parametrize("event", INJECTIONS)
def test_hostile_ids_segments_and_event_names_render_as_text(tmp_path: Path, event: str) -> None:
    ids = list(INJECTIONS)
    segment = list(reversed(INJECTIONS))
    index = render_report(tmp_path / "report", **_portfolio(ids, segment, event))
    text = assert_inert(index, scripts=1)  # the portfolio's own inline script
    pages = sorted((tmp_path / "report" / "accounts").iterdir())
    assert len(pages) == len(ids)
    for path in pages:
        page_text = assert_inert(path)
        assert f"“{event.replace(chr(0x202E), chr(0xFFFD))}”" in page_text  # the words, inert
    for s in INJECTIONS:  # the browser shows every hostile string back, as written
        assert s.replace("\u202e", "\ufffd") in text
    assert "evil\ufffdgpj.exe" in text  # the override is visible, not obeyed


def test_hostile_values_on_the_data_profile_page(tmp_path: Path) -> None:
    ts = [datetime(2026, 1, d, 10, tzinfo=UTC) for d in range(1, 1 + 2 * len(INJECTIONS))]
    rows = [
        (acc, f"u{i}", ev, t, seg)
        for i, (acc, ev, seg, t) in enumerate(
            zip(
                INJECTIONS * 2,
                ["signup"] * len(INJECTIONS) + list(INJECTIONS),
                list(reversed(INJECTIONS)) * 2,
                ts,
                strict=True,
            )
        )
    ]
    events = event_frame(rows, extra=["plan"])
    profile = profile_tables(
        Tables(events, None, None, datetime(2026, 3, 1, tzinfo=UTC), []), horizon_days=14
    )
    out = render_profile_page(profile, tmp_path / "profile.html")
    text = assert_inert(out)
    for s in INJECTIONS:
        assert s.replace("\u202e", "\ufffd") in text  # event names shown back as written


PATH_IDS = [
    "../../x",
    "../x",
    "/abs",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "..",
    ".",
    "C:\\x",
    "x" * 300,
    "x" * 301,
    "Acme",
    "acme",
    "ACME",
    "CON",
    "nul",
    "NUL",
    "a b",
    "a_b",
    "\u202e",
]


def test_file_names_stay_in_the_folder_and_never_collide(tmp_path: Path) -> None:
    ids = [*PATH_IDS, account_file_names(["../../x"])[0].removesuffix(".html")]
    out = tmp_path / "report"
    index = render_report(out, **_portfolio(ids, ["smb"] * len(ids)))
    folder = (out / "accounts").resolve()
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted([index, *(out / "accounts").iterdir()])  # nothing else, anywhere
    pages = list((out / "accounts").iterdir())
    assert len(pages) == len(ids)  # one page per account: no two ids share one
    assert len({p.name.casefold() for p in pages}) == len(ids)  # also on macOS and Windows
    for p in pages:
        assert p.resolve().parent == folder
        assert len(p.name) <= 100
    _, page = _page(index)
    links = [a["href"] for t, a in page.tags if t == "a" and (a.get("href") or "").startswith("a")]
    assert [href.removeprefix("accounts/") for href in links] == account_file_names(ids)
    for aid, href in zip(ids, links, strict=True):  # each link opens that account's own page
        _, acct = _page(out / href)
        h1 = [i for i, (t, a) in enumerate(acct.tags) if a.get("id") == "account-id"]
        assert h1 and aid.replace("\u202e", "\ufffd") in "".join(acct.text)
