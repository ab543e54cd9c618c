"""The adoption map's pages (``report.map_pages``): hand-made map frames whose numbers are known,
hostile segment values and milestone names, empty maps, and one map built from a small log."""

from __future__ import annotations

import math
import random
import re
from datetime import date, datetime
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from adoption.build import MapParams, build_map, segment_table
from core.errors import DataValidationError
from report.map_pages import page_file_names, render_map, slug
from tests.adoption import helpers as h

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PATH = "../../etc/passwd"
HOSTILE = (SCRIPT, IMG, PATH)
SEGMENTS = [("industry", "fintech"), ("industry", SCRIPT), ("industry", IMG), ("size_tier", PATH)]
GROUPS = [("all", "all"), *SEGMENTS]
MILESTONES = ["first_workflow", SCRIPT]
CHECKPOINTS = (30, 60, 90)
REPORT_HREF = "../scores/as_of=2026-11-01/report/index.html"
PAGE_NAME = re.compile(r"^(index|segment-[a-z0-9-]+|milestone-[a-z0-9-]+)\.html$")


def _keys(g: tuple[str, str], m: str) -> dict[str, str]:
    return {"segment_column": g[0], "segment": g[1], "milestone": m}


def _curve(n: int) -> list[dict[str, Any]]:
    """A consistent race table: every day 1..120 one reached on even days, one churned every
    10th day; n_at_risk = how many are still in the race at that day."""
    rows, at_risk, cif = [], n, 0.0
    for d in range(1, 121):
        reached, churned = int(d % 2 == 0), int(d % 10 == 0)
        cif = 0.7 * (1 - math.exp(-d / 25))
        rows.append(
            {
                "day": d,
                "cif": cif,
                "ci_low": cif * 0.9,
                "ci_high": min(1.0, cif * 1.1),
                "churn_cif": 0.001 * d,
                "n_at_risk": at_risk,
                "n_reached": reached,
                "n_churned": churned,
                "n_censored": 0,
            }
        )
        at_risk -= reached + churned
    return rows


def _indicator(g: tuple[str, str], rank: int, label: str, rd: float) -> dict[str, Any]:
    return {
        "segment_column": g[0],
        "segment": g[1],
        "candidate": f"c{rank}",
        "kind": "event",
        "item": f"i{rank}",
        "landmark_day": 30,
        "rank": rank,
        "label": label,
        "n_did": 60,
        "x_did": 54,
        "n_not": 40,
        "x_not": 20,
        "n_total": 100,
        "activation_rate": 0.6,
        "activation_low": 0.502,
        "activation_high": 0.691,
        "precision": 0.9,
        "precision_low": 0.8,
        "precision_high": 0.953,
        "rate_not": 0.5,
        "risk_difference": rd,
        "rd_low": rd - 0.12,
        "rd_high": rd + 0.11,
        "rd_variance": 0.004,
        "rate_ratio": 1.8,
        "rr_low": 1.35,
        "rr_high": 2.42,
        "p_value": 0.0001,
        "q_value": 0.0004 if rank == 1 else 0.0123,
        "significant": True,
        "status": "ok",
        "shrink_weight": 1.0 if g[0] == "all" else 0.25,
        "shrunk_risk_difference": rd if g[0] == "all" else rd * 0.6,
        "wording": f"Accounts that {label} went on to succeed 1.8x as often.",
        "late_risk_difference": rd - 0.02,
        "late_rd_low": rd - 0.2,
        "late_rd_high": rd + 0.15,
        "replicates": True,
    }


def map_frames() -> dict[str, pl.DataFrame]:
    """Every frame of ``AdoptionMap.frames()`` by hand, for the groups and milestones above."""
    ttv, curve, cps, timing, roles, around, cohorts = [], [], [], [], [], [], []
    for gi, g in enumerate(GROUPS):
        n = 100 - 10 * gi
        for mi, m in enumerate(MILESTONES):
            no_median = g == ("size_tier", PATH) and mi == 1
            med = None if no_median else 20 + gi + 10 * mi
            ttv.append(
                {
                    **_keys(g, m),
                    "n_accounts": n,
                    "n_reached": 60 - 5 * gi,
                    "n_churned_first": 10,
                    "n_censored": n - (60 - 5 * gi) - 10,
                    "n_left_truncated_excluded": 0,
                    "follow_up_days": 120,
                    "final_cif": 0.4 if no_median else 0.7,
                    "median_day": med,
                    "median_low": None if med is None else med - 2,
                    "median_high": None if med is None else med + 3,
                }
            )
            c = _curve(n)
            if g == GROUPS[0]:
                curve += [{**_keys(g, m), **r} for r in c]
            for k, t in enumerate(CHECKPOINTS):
                share = c[t - 2]["cif"]  # CIF(t - 1): the curve's row of day t - 1
                cps.append(
                    {
                        **_keys(g, m),
                        "checkpoint": t,
                        "share": share,
                        "share_low": share - 0.031 - 0.01 * k,
                        "share_high": share + 0.029,
                        "churn_cif": 0.001 * t,
                        "n_at_risk": c[t - 1]["n_at_risk"],
                        "n_reached": t // 2,
                        "n_churned": t // 10,
                        "n_censored": 0,
                    }
                )
            timing.append(
                {
                    **_keys(g, m),
                    "n_accounts": n,
                    "n_reached": 60 - 5 * gi,
                    "median_day": 18.0 + mi,
                    "q25_day": 12.0,
                    "q75_day": 27.5,
                }
            )
            if g == GROUPS[0]:
                for role, n_events, n_first in (("admin", 40, 45), ("<b>builder</b>", 160, 15)):
                    roles.append(
                        {
                            **_keys(g, m),
                            "role": role,
                            "n_events": n_events,
                            "share_events": n_events / 200,
                            "n_first": n_first,
                            "share_first": n_first / 60,
                        }
                    )
                for side in ("before", "after"):
                    for event, x, lift, lo, hi, status in (
                        ("report_viewed", 30, 2.0, 1.5, 2.6, "ok"),
                        (IMG, 24, 1.6, 1.1, 2.3, "ok"),
                        ("login", 21, 1.05, 0.9, 1.2, "ok"),
                        ("rare_event", 2, None, None, None, "too few"),
                    ):
                        around.append(
                            {
                                **_keys(g, m),
                                "side": side,
                                "event": event,
                                "anchor_day": 18,
                                "n_reachers": 60,
                                "x_reachers": x,
                                "p_reachers": x / 60,
                                "n_others": 40,
                                "x_others": 10,
                                "p_others": 0.25,
                                "lift": lift,
                                "lift_low": lo,
                                "lift_high": hi,
                                "status": status,
                            }
                        )
            for k in range(6):
                observed = 5 if k == 5 else 18
                act = 9 + k if k < 5 else 2
                cohorts.append(
                    {
                        **_keys(g, m),
                        "signup_month": date(2025, 1 + k, 1),
                        "n_accounts": 20,
                        "n_observed": observed,
                        "n_not_yet": 20 - observed,
                        "n_activated": act,
                        "activation_rate": act / observed,
                        "activation_low": act / observed - 0.2,
                        "activation_high": min(1.0, act / observed + 0.18),
                        "median_day": 25 - k,
                        "median_low": 20 - k,
                        "median_high": None if k == 5 else 31 - k,
                        "change_vs_previous": None if k == 0 else 0.05,
                        "change_low": None if k == 0 else -0.25,
                        "change_high": None if k == 0 else 0.33,
                    }
                )
    all_, fintech, script = GROUPS[0], GROUPS[1], GROUPS[2]
    top = pl.DataFrame(
        [
            _indicator(all_, 1, "reached first workflow in the first 30 days", 0.4),
            _indicator(all_, 2, f"did {SCRIPT} at least 3 times in the first 14 days", 0.25),
            _indicator(fintech, 1, "reached first workflow in the first 30 days", 0.35),
            _indicator(script, 1, "added at least 2 users in the first 10 days", 0.3),
        ]
    )
    findings = pl.concat(
        [
            top.drop("rank"),
            pl.DataFrame(
                [
                    {**_indicator(GROUPS[3], 1, "x", 0.1), "status": "ok", "replicates": False},
                    {**_indicator(GROUPS[4], 1, "x", 0.1), "status": "too few"},
                ]
            ).drop("rank"),
        ],
        how="vertical",
    )
    ttv_df, cps_df = pl.DataFrame(ttv), pl.DataFrame(cps)
    return {
        "findings": findings,
        "top_indicators": top,
        "ttv_curve": pl.DataFrame(curve),
        "ttv_checkpoints": cps_df,
        "time_to_value": ttv_df,
        "milestone_timing": pl.DataFrame(timing),
        "milestone_roles": pl.DataFrame(roles),
        "events_around": pl.DataFrame(around),
        "cohorts": pl.DataFrame(cohorts),
        "segments": segment_table(ttv_df, top, cps_df),
    }


def map_meta(**extra: Any) -> dict[str, Any]:
    return {
        "entity": "account",
        "entity_plural": "accounts",
        "generated_at": datetime(2026, 11, 1, 7, 30),
        "as_of": date(2026, 11, 1),
        "segments": ["industry", "size_tier"],
        "report_href": REPORT_HREF,
        "notes": [f"18 of 1,200 accounts started before the log begins {SCRIPT}"],
        "params": {"cohort_within_days": 30, "journey_window_days": 7},
        **extra,
    }


def pages(out: Path) -> dict[str, str]:
    return {p.name: p.read_text("utf-8") for p in sorted(out.iterdir())}


class _Tags(HTMLParser):
    """Every start tag with its attributes (what a browser would build from the page)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Tags()
    p.feed(html)
    return p.tags


def text(html: str) -> str:
    """What a reader sees: no style block, no tags, entities decoded, spaces collapsed."""
    body = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    body = re.sub(r"<title>.*?</title>", " ", body, flags=re.S)
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())
    return re.sub(r" ([,.;)])", r"\1", words)


def _links(html: str) -> list[str]:
    return [a["href"] or "" for t, a in tags(html) if t == "a" and "href" in a]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("map")
    out = base / "map"
    frames = map_frames()
    index = render_map(out, frames, map_meta())
    return {"base": base, "out": out, "index": index, "frames": frames, "pages": pages(out)}


def _segment_file(pages_: dict[str, str], column: str, value: str) -> str:
    names = page_file_names("segment", [(c, v) for c, v in SEGMENTS])
    return names[(column, value)]


def _milestone_file(name: str) -> str:
    # milestone names are in journey order on the pages, but file names do not depend on it
    return page_file_names("milestone", [(m,) for m in MILESTONES])[(name,)]


# --------------------------------------------------------------------------- files and links


def test_every_page_exists_and_is_linked_from_the_index(rendered: dict[str, Any]) -> None:
    out, p = rendered["out"], rendered["pages"]
    assert rendered["index"] == out / "index.html"
    seg_files = sorted(page_file_names("segment", SEGMENTS).values())
    ms_files = sorted(page_file_names("milestone", [(m,) for m in MILESTONES]).values())
    assert sorted(p) == sorted(["index.html", *seg_files, *ms_files])
    links = set(_links(p["index.html"]))
    assert set(seg_files) <= links and set(ms_files) <= links
    for name in [*seg_files, *ms_files]:
        assert "index.html" in _links(p[name])  # the way back


def test_hostile_values_are_escaped_and_stay_inside_the_folder(rendered: dict[str, Any]) -> None:
    base, out, p = rendered["base"], rendered["out"], rendered["pages"]
    assert sorted(x.name for x in base.iterdir()) == ["map"]  # nothing written beside it
    assert all(x.is_file() and x.parent == out for x in out.rglob("*"))
    assert all(PAGE_NAME.fullmatch(name) for name in p), sorted(p)
    for name, html in p.items():
        for bad in HOSTILE[:2]:
            assert bad not in html, (name, bad)
        found = tags(html)
        assert not [t for t, _ in found if t in ("script", "img", "iframe", "object")], name
        assert not [k for _, a in found for k in a if k.startswith("on")], name
    index = p["index.html"]
    # the values are shown (escaped), as the reader would read them
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in index
    assert PATH in text(index)
    seg = p[_segment_file(p, "industry", SCRIPT)]
    assert f"Industry = {SCRIPT}" in text(seg)
    ms = p[_milestone_file(SCRIPT)]
    assert SCRIPT in text(ms) and "&lt;b&gt;builder&lt;/b&gt;" in ms


def test_file_names_are_safe_and_collision_free() -> None:
    keys = [("Acme",), ("acme",), ("a b",), ("a-b",), ("<>",), ("",), (PATH,), ("con",)]
    names = page_file_names("segment", keys)
    assert len(set(names.values())) == len(keys)
    assert all(re.fullmatch(r"segment-[a-z0-9-]+\.html", n) for n in names.values())
    assert names[(PATH,)] == "segment-etc-passwd.html"
    assert names[("con",)] == "segment-con.html"  # the prefix keeps device names harmless
    assert "--" in names[("Acme",)] and "--" in names[("<>",)]
    # a value spelled like another's hashed name keeps its own, different, name
    crafted = names[("Acme",)].removeprefix("segment-").removesuffix(".html")
    again = page_file_names("segment", [*keys, (crafted,)])
    assert len(set(again.values())) == len(keys) + 1
    assert slug("Ünïcode & <Co>/7") == "n-code-co-7"


# --------------------------------------------------------------------------- numbers


def test_index_numbers_equal_the_frames(rendered: dict[str, Any]) -> None:
    index = rendered["pages"]["index.html"]
    ttv = rendered["frames"]["time_to_value"].filter(pl.col("segment_column") == "all")
    for r in ttv.iter_rows(named=True):
        assert (
            f'data-median-day="{r["median_day"]}" data-median-low="{r["median_low"]}" '
            f'data-median-high="{r["median_high"]}">day {r["median_day"]}</span> '
            f'<span class="ci">{r["median_low"]}–{r["median_high"]}</span>'
        ) in index
    cp = rendered["frames"]["ttv_checkpoints"].row(0, named=True)  # all, first_workflow, day 30
    shown = f"{cp['share'] * 100:.0f}%"
    band = f"{cp['share_low'] * 100:.0f}–{cp['share_high'] * 100:.0f}%"
    assert f'<span class="est">{shown}</span> <span class="ci">{band}</span>' in index
    words = text(index)
    # the top indicator for all accounts: rates, difference, ratio with their intervals, support
    assert "60% 50–69%" in words  # did it
    assert "+40.0 pts +28.0 to +51.0 pts" in words
    assert "1.8× 1.4–2.4×" in words
    assert "60 of 100" in words and "<0.001" in words and "0.012" in words
    assert "went on to succeed 1.8× as often as those that did not (95% CI 1.4–2.4×" in words


def test_milestone_page_numbers_equal_the_frames(rendered: dict[str, Any]) -> None:
    f = rendered["frames"]
    html = rendered["pages"][_milestone_file("first_workflow")]
    words = text(html)
    assert "Median day 18, middle half between days 12–27.5" in words
    # numbers at risk under the chart: the checkpoints' own counts at their days
    cps = f["ttv_checkpoints"].filter(
        (pl.col("segment_column") == "all") & (pl.col("milestone") == "first_workflow")
    )
    for r in cps.iter_rows(named=True):
        assert f'data-day="{r["checkpoint"]}">{r["n_at_risk"]}</td>' in html
    assert 'data-day="0">100</td>' in html
    # roles: first to do it with a Wilson interval and its support
    assert "admin 75% 63–84% 45 of 60" in words  # Wilson interval of 45 of 60
    # events around: only "ok" rows whose interval is above 1
    assert "2.0× 1.5–2.6×" in words and "1.6× 1.1–2.3×" in words
    assert "Login" not in words and "login" not in words and "rare event" not in words
    # per segment median with interval, and the one segment without a median says why
    fintech = f["time_to_value"].filter(
        (pl.col("segment") == "fintech") & (pl.col("milestone") == "first_workflow")
    )
    assert f'data-median-day="{fintech["median_day"][0]}"' in html
    other = rendered["pages"][_milestone_file(SCRIPT)]
    assert "not reached by half" in text(other)
    assert "fewer than half get there while observed (the curve levels off at 40%)" in text(other)


def test_segment_page_compares_with_everyone(rendered: dict[str, Any]) -> None:
    p = rendered["pages"]
    html = p[_segment_file(p, "industry", "fintech")]
    words = text(html)
    ttv = rendered["frames"]["time_to_value"]
    mine = ttv.filter((pl.col("segment") == "fintech") & (pl.col("milestone") == "first_workflow"))
    every = ttv.filter((pl.col("segment") == "all") & (pl.col("milestone") == "first_workflow"))
    assert f'data-median-day="{mine["median_day"][0]}"' in html
    assert f"all: day {every['median_day'][0]} ({every['median_low'][0]}–" in words
    # shrunk next to raw: raw +35.0 pts with its interval, shrunk 0.6 x 0.35 = +21.0 pts
    assert "+35.0 pts +23.0 to +46.0 pts" in words and "+21.0 pts 25% own data" in words
    # the cohort trend: one chart per milestone with its band, numbers by month
    assert html.count('class="trend cohort"') == 2 and 'class="band"' in html
    assert "2025-01 20 2 50% 30–68% 9 of 18" in words
    # a segment with findings but none replicated, and one with too few, say so
    img = text(p[_segment_file(p, "industry", IMG)])
    assert "None of the 1 behaviours compared here" in img
    path = text(p[_segment_file(p, "size_tier", PATH)])
    assert "Could not compare behaviours here" in path


# --------------------------------------------------------------------------- words and links


def test_no_external_references_but_the_report_link(rendered: dict[str, Any]) -> None:
    for name, html in rendered["pages"].items():
        for t, a in tags(html):
            for attr in ("href", "src", "action", "xlink:href"):
                v = a.get(attr)
                if v is None or (t == "a" and v == REPORT_HREF) or v == "data:,":
                    continue
                assert "http" not in v and "//" not in v and ":" not in v, (name, t, v)
        assert html.count(f'href="{REPORT_HREF}"') >= 1, name
        assert "default-src 'none'" in html


@pytest.mark.parametrize("href", ["https://evil.example/x", "javascript:alert(1)", "//host/x"])
def test_report_link_must_be_relative(tmp_path: Path, href: str) -> None:
    with pytest.raises(DataValidationError, match="report_href"):
        render_map(tmp_path / "m", map_frames(), map_meta(report_href=href))


def test_goes_with_never_causes(rendered: dict[str, Any]) -> None:
    for name, html in rendered["pages"].items():
        words = text(html).lower()
        assert "goes with" in words or "go with" in words, name
        for hit in re.finditer(r"caus", words):
            before = words[max(0, hit.start() - 40) : hit.start()]
            assert re.search(r"\bnot\b", before), (name, words[hit.start() - 60 : hit.end() + 20])


def test_the_entity_noun_is_the_data_s_own(tmp_path: Path) -> None:
    out = tmp_path / "m"
    meta = map_meta(entity="customer", entity_plural="customers", notes=[])
    render_map(out, map_frames(), meta)
    for name, html in pages(out).items():
        words = text(html)
        assert "account" not in words.lower(), (name, re.findall(r".{30}account.{30}", words))
        assert "customers" in words


# --------------------------------------------------------------------------- what could not be done


def test_an_empty_map_says_what_could_not_be_done(tmp_path: Path) -> None:
    out = tmp_path / "m"
    notes = ["no milestones are configured or found in this log"]
    index = render_map(out, {}, map_meta(notes=notes, segments=[], report_href=None))
    assert sorted(pages(out)) == ["index.html"]
    html = index.read_text("utf-8")
    for id_ in ("no-milestones", "no-top", "no-segments"):
        assert f'id="{id_}"' in html
    words = text(html)
    assert "Time to value could not be drawn" in words and "could not be judged" in words
    assert notes[0] in words and "report-link" not in html


def test_empty_frames_with_segments_configured(tmp_path: Path) -> None:
    frames = {k: pl.DataFrame() for k in map_frames()}
    index = render_map(tmp_path / "m", frames, map_meta())
    words = text(index.read_text("utf-8"))
    assert "Segments could not be compared" in words and "Industry, Size tier" in words


def test_findings_without_milestones(tmp_path: Path) -> None:
    full = map_frames()
    frames = {"findings": full["findings"], "top_indicators": full["top_indicators"]}
    out = tmp_path / "m"
    index = render_map(out, frames, map_meta())
    html = index.read_text("utf-8")
    assert 'id="no-milestones"' in html and 'class="peers indicators"' in html
    names = sorted(pages(out))
    assert names == sorted(["index.html", *page_file_names("segment", SEGMENTS).values()])
    seg = pages(out)[_segment_file({}, "industry", "fintech")]
    assert 'id="no-compare"' in seg and 'id="no-cohorts"' in seg


def test_a_frame_missing_columns_is_named(tmp_path: Path) -> None:
    frames = map_frames()
    frames["time_to_value"] = frames["time_to_value"].drop("median_low")
    with pytest.raises(DataValidationError, match=r"time_to_value.*median_low"):
        render_map(tmp_path / "m", frames, map_meta())


# --------------------------------------------------------------------------- a real map


def small_log() -> dict[str, Any]:
    """120 accounts over 400 days: half of them build reports often, three industries (one
    hostile), admins and builders, some churn."""
    rng = random.Random(3)
    accs, evs, users = [], [], []
    for i in range(120):
        aid, created = f"A{i:03d}", rng.uniform(0, 200)
        churn = created + rng.uniform(20, 150) if rng.random() < 0.3 else None
        accs.append(
            {
                "account_id": aid,
                "created": created,
                "churned": churn,
                "industry": ["fintech", "retail", SCRIPT][i % 3],
            }
        )
        users += [(f"{aid}-u1", aid, "admin"), (f"{aid}-u2", aid, "builder")]
        good, d, end = rng.random() < 0.5, created, min(churn or 400, 400)
        while d < end:
            evs.append((aid, f"{aid}-u{rng.randint(1, 2)}", "login", d))
            if good and rng.random() < 0.3:
                evs.append((aid, f"{aid}-u2", "report_created", d + 0.1))
            if rng.random() < 0.1:
                evs.append((aid, f"{aid}-u1", IMG, d + 0.2))
            d += rng.uniform(1, 6) if good else rng.uniform(3, 15)
    return {"events": h.events(evs), "accounts": h.accounts(accs), "users": h.users(users)}


def test_pages_of_a_map_built_from_a_log(tmp_path: Path) -> None:
    log = small_log()
    milestone = {"name": "first_report", "events": ["report_created"], "expected_days": 14}
    amap = build_map(
        log["events"],
        log["accounts"],
        log["users"],
        [milestone],
        ["industry"],
        MapParams(min_n=5, min_accounts=5),
        observed_until=h.day(400),
    )
    out = tmp_path / "m"
    index = render_map(out, amap.frames(), map_meta(notes=amap.notes, report_href=None))
    files = pages(out)
    assert len(files) == 1 + 3 + 1  # index, three industries, one milestone
    assert all(PAGE_NAME.fullmatch(n) for n in files)
    ttv = amap.ttv.filter(pl.col("segment_column") == "all").row(0, named=True)
    html = index.read_text("utf-8")
    if ttv["median_day"] is not None:
        assert f'data-median-day="{ttv["median_day"]}"' in html
    ms = files["milestone-first-report.html"]
    cps = amap.checkpoints.filter(pl.col("segment_column") == "all")
    for r in cps.iter_rows(named=True):
        if f'data-day="{r["checkpoint"]}"' in ms:
            assert f'data-day="{r["checkpoint"]}">{r["n_at_risk"]}</td>' in ms
    assert SCRIPT not in "".join(files.values())
