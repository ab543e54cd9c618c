"""History family (features/history.py): the account's lifetime in the log, exact numbers.

The shop log of tests/features/test_vocabulary.py, cutoff t = 2026-03-01 (00:00 UTC).
p: events on 9 distinct days before t, first 2025-11-20 (t - 101), last 02-28 (t - 1); purchase
values 10 (02-28), 20 (02-25), 30 (02-10), 40 (01-20), 50 (01-10), 60 (2025-11-20) and 100 at t
(never visible). q: one page view on 02-20 (t - 9), no value.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from features.build import build_features
from features.cutoffs import cutoff_dates
from ingest.tables import Tables
from tests.features.helpers import T0, accounts, by_account, ts
from tests.features.test_vocabulary import SHOP, shop, shop_cfg, shop_events

CUT = cutoff_dates(T0, 7, 1)


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    return by_account(build_features(shop(), CUT, shop_cfg()))


def test_tenure_frequency_and_recency(rows):
    p, q = rows["p"], rows["q"]
    assert (p["tenure_since_first_seen_days"], q["tenure_since_first_seen_days"]) == (101, 9)
    assert (p["lifetime_active_days"], p["lifetime_events"]) == (9, 9)  # the event at t is out
    assert (q["lifetime_active_days"], q["lifetime_events"]) == (1, 1)
    assert (p["days_since_last_event"], q["days_since_last_event"]) == (1, 9)
    assert p["active_days_per_week_lifetime"] == pytest.approx(9 / (101 / 7))
    assert q["active_days_per_week_lifetime"] == pytest.approx(1 / (9 / 7))


def test_typical_gap_and_overdue_ratio(rows):
    p, q = rows["p"], rows["q"]
    # (last active day - first active day) / (active days - 1) = 100 / 8
    assert p["typical_gap_days"] == pytest.approx(12.5)
    assert p["overdue_ratio"] == pytest.approx(1 / 12.5)
    assert (q["typical_gap_days"], q["overdue_ratio"]) == (None, None)  # one active day


def test_value_features(rows):
    p, q = rows["p"], rows["q"]
    assert p["value_total_lifetime"] == pytest.approx(210.0)
    assert (p["value_28d"], p["value_90d"]) == (pytest.approx(60.0), pytest.approx(150.0))
    assert p["value_per_active_day_lifetime"] == pytest.approx(210 / 9)
    # 60 in the last 28 days vs 90 in the 56 days before: (60/28) / (90/56)
    assert p["value_trend_ratio"] == pytest.approx(4 / 3)
    assert (q["value_total_lifetime"], q["value_28d"], q["value_per_active_day_lifetime"]) == (
        0,
        0,
        0,
    )
    assert q["value_trend_ratio"] is None


def test_value_features_absent_when_value_is_all_null(caplog):
    no_value = [(a, e, t, None) for a, e, t, _ in SHOP]
    with caplog.at_level(logging.INFO, logger="adoption_decay"):
        df = build_features(shop(no_value), CUT, shop_cfg())
    assert not [c for c in df.columns if c.startswith("value_")]
    assert "days_since_last_event" in df.columns
    assert sum("value features (value_*) left out" in r.getMessage() for r in caplog.records) == 1


def test_values_only_at_or_after_the_cutoff_count_as_all_null():
    late = [(a, e, t, v if t >= "2026-03-01" else None) for a, e, t, v in SHOP]
    df = build_features(shop(late), CUT, shop_cfg())
    assert not [c for c in df.columns if c.startswith("value_")]


def test_an_account_without_events_before_t_gets_nulls_not_sentinels():
    acc = accounts([{"account_id": a, "created_at": "2025-11-01"} for a in ("p", "q", "n")])
    ev = shop_events([*SHOP, ("n", "page view", "2026-03-05 10:00", None)])  # after t only
    tab = Tables(ev, None, acc, ts("2026-06-01"), ["industry", "size_tier", "use_case"])
    n = by_account(build_features(tab, CUT, shop_cfg("snapshot.min_events=0")))["n"]
    assert (n["lifetime_events"], n["lifetime_active_days"]) == (0, 0)
    assert (n["tenure_since_first_seen_days"], n["days_since_last_event"]) == (None, None)
    assert (n["active_days_per_week_lifetime"], n["typical_gap_days"], n["overdue_ratio"]) == (
        None,
        None,
        None,
    )
    assert (n["ev_page_view_28d"], n["ev_page_view_days_since_last"]) == (0, None)
    assert n["ev_page_view_share_28d"] is None


# --- point in time: events at or after t change nothing (vocabulary and history) -----------------
MIDNIGHT = datetime(2026, 3, 1)
ACCS = ["p", "q"]
NAMES = ["Purchase", "page view", "refund"]
past = st.integers(-150 * 1440, -1)
future = st.integers(0, 60 * 1440)


def drawn(offsets):
    value = st.one_of(st.none(), st.floats(0, 100, allow_nan=False))
    return st.lists(
        st.tuples(st.sampled_from(ACCS), st.sampled_from(NAMES), offsets, value), max_size=25
    )


def as_rows(draws):
    return [
        (a, e, (MIDNIGHT + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M"), v)
        for a, e, m, v in draws
    ]


def built(draws) -> pl.DataFrame:
    return build_features(shop(as_rows(draws)), CUT, shop_cfg())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=drawn(past).filter(len), after_1=drawn(future), after_2=drawn(future))
def test_new_families_at_t_ignore_events_at_or_after_t(before, after_1, after_2):
    assert_frame_equal(built(before + after_1), built(before + after_2))
