"""Exact numbers for the short-term momentum and last-year indicators (features/momentum.py).

Cutoff t = 2026-03-01 (a Sunday, 00:00 UTC); recent_days = 28 (b = 4 weeks), baseline_days = 56,
momentum_days = [3, 7, 14], momentum_slope_days = 14, momentum_below_fraction = 0.75,
last_year_days = 364 (t - 364 = 2025-03-02; switched on here, off by default).

Account a (signed up 2025-10-01, too young for last year): u1 uses the product every day from
2025-12-01 to 2026-02-25 (not on the last three days before t), u2 only on 2026-02-27.
So the last 3 days hold 1 person-day (usually 3 on those weekdays), the last 7 days 5 (usually
7), the last 14 days 12 (usually 14); the 7-day moving person-days W(j) ending j days before t
are W(0) = 5, W(1) = 6, W(2) = 6 and 7 before; the long baseline [t - 84, t - 28) is 7 a week.

Account b (signed up 2024-12-01): ub1 uses the product on 4 days of [2025-02-02, 2025-03-02)
(the 28 days before t - 364), on 2 days of [2025-03-02, 2025-03-30) and on 6 days of the last 28.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from core.config import load_config
from core.errors import ConfigValueError
from features.catalogue import render_catalogue
from features.momentum import indicators
from tests.features.helpers import accounts, by_account, events, features_at_t0, tables, users


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


EVENTS = (
    [("a", "u1", "login", f"{d} 09:00") for d in _days(date(2025, 12, 1), date(2026, 2, 25))]
    + [
        ("a", "u2", "dashboard_viewed", "2026-02-27 23:59"),
        ("a", "u2", "dashboard_viewed", "2026-03-01 00:00"),
    ]  # at t: never visible
    + [
        ("b", "ub1", "login", f"{d} 10:00")
        for d in (
            "2025-02-02",
            "2025-02-10",
            "2025-02-20",
            "2025-03-01",
            "2025-03-02",
            "2025-03-29",
        )
    ]
    + [("b", "ub1", "login", f"2026-02-{d:02d} 10:00") for d in (1, 5, 9, 13, 17, 21)]
    + [("b", "ub1", "integration_error", "2025-03-10 10:00")]  # not use: never counted
)
USERS = [
    ("u1", "a", "admin", "2025-10-01", None),
    ("u2", "a", "member", "2025-10-01", None),
    ("ub1", "b", "admin", "2024-12-01", None),
]
ACCOUNTS = [
    {"account_id": "a", "created_at": "2025-10-01", "seats": 5},
    {"account_id": "b", "created_at": "2024-12-01", "seats": 5},
]


#: momentum and last year are off by default (features.momentum=false, last_year_days=0);
#: these tests switch them on.
ON = [
    "snapshot.as_of=2026-03-01",
    "snapshot.count=1",
    "features.momentum=true",
    "features.last_year_days=364",
]


def build(overrides: list[str] | None = None, extra: list | None = None) -> dict[str, dict]:
    cfg = load_config([*ON, *(overrides or [])])
    tab = tables(events(EVENTS + (extra or [])), users(USERS), accounts(ACCOUNTS))
    return by_account(features_at_t0(tab, cfg))


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    return build()


def test_short_windows_vs_the_same_weekdays_of_the_weeks_before(rows):
    a = rows["a"]
    assert a["user_days_3d_vs_usual"] == pytest.approx(1 / 3)
    assert a["user_days_7d_vs_usual"] == pytest.approx(5 / 7)
    assert a["user_days_14d_vs_usual"] == pytest.approx(12 / 14)


def test_slope_long_baseline_and_days_below(rows):
    a = rows["a"]
    # W over j = 14..0: twelve 7s, then 6, 6, 5; slope -5/56 per day, mean 101/15
    assert a["user_days_daily_slope_14d"] == pytest.approx((-5 / 56) / (101 / 15))
    assert a["user_days_7d_vs_long_baseline"] == pytest.approx(5 / 7)
    # 0.75 x 7 = 5.25: W(0) = 5 is below, W(1) = 6 is not
    assert a["days_below_usual_use"] == 1.0
    assert build(["features.momentum_below_fraction=0.9"])["a"]["days_below_usual_use"] == 3.0


def test_same_period_last_year(rows):
    b = rows["b"]
    assert b["user_days_vs_last_year_28d"] == pytest.approx(6 / 4)
    assert b["user_days_last_year_next_28d_ratio"] == pytest.approx(2 / 4)
    # a signed up less than 364 + 28 days before t: undefined, not 0
    assert rows["a"]["user_days_vs_last_year_28d"] is None
    assert rows["a"]["user_days_last_year_next_28d_ratio"] is None


def test_switches_and_parameters():
    off = build(["features.momentum=false"])["a"]
    assert "user_days_3d_vs_usual" not in off and "wau_last_week" in off
    assert (
        "user_days_vs_last_year_28d"
        not in features_at_t0(
            tables(events(EVENTS), users(USERS), accounts(ACCOUNTS)),
            load_config(["snapshot.as_of=2026-03-01", "snapshot.count=1"]),
        ).columns
    )  # default: off
    no_year = build(["features.last_year_days=0"])["b"]
    assert "user_days_vs_last_year_28d" not in no_year and "days_below_usual_use" in no_year
    names = set(build(["features.momentum_days=[2]", "features.momentum_slope_days=7"])["a"])
    assert {"user_days_2d_vs_usual", "user_days_daily_slope_7d"} <= names
    assert "user_days_3d_vs_usual" not in names
    with pytest.raises(ConfigValueError, match="momentum_days"):
        build(["features.momentum_days=[0]"])


def test_catalogue_covers_every_momentum_feature():
    cfg = load_config(["features.momentum=true", "features.last_year_days=364"])
    names = list(indicators(cfg.features, ["trends"], lambda o: pl.lit(0)))
    assert "user_days_vs_last_year_28d" in names
    cat = render_catalogue(names, cfg.catalogue, cfg.features)
    assert set(cat) == set(names)
    assert all(e["family"] == "trends" for e in cat.values())
    assert cat["days_below_usual_use"]["higher_is"] == "riskier"
    assert "75%" in cat["days_below_usual_use"]["description"]
    assert "{" not in cat["user_days_3d_vs_usual"]["description"]


# -- point in time: with more than a year of history, events at or after t change nothing -------
MIDNIGHT = datetime(2026, 3, 1)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(late=st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 60 * 1440)), max_size=8))
def test_momentum_at_t_ignores_events_at_or_after_t(late):
    extra = [
        (
            acc,
            "u1" if acc == "a" else "ub1",
            "login",
            (MIDNIGHT + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M"),
        )
        for acc, m in late
    ]
    cfg = load_config(ON)
    base = features_at_t0(tables(events(EVENTS), users(USERS), accounts(ACCOUNTS)), cfg)
    more = features_at_t0(tables(events(EVENTS + extra), users(USERS), accounts(ACCOUNTS)), cfg)
    assert_frame_equal(base, more)
