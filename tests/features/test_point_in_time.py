"""Hypothesis: no leakage. Features at t ignore events at or after t; labels at t ignore events
outside the window they are defined on."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from core.config import load_config
from core.errors import NoEligibleAccountsError
from features.build import build_features
from features.labels import build_labels
from features.windows import T, date_to_day
from tests.features.helpers import accounts, events, tables, users

CUT = date(2026, 3, 1)
MIDNIGHT = datetime(2026, 3, 1)  # the cutoff, 00:00 UTC
CFG = load_config(["snapshot.as_of=2026-03-01", "snapshot.count=1", "snapshot.min_tenure_days=0"])
ACCS = ["a", "b", "c"]
USERS = [
    (f"{a}{i}", a, role) for a in ACCS for i, role in enumerate(["admin", "builder", "member"])
]
EVENTS = [
    "login",
    "dashboard_viewed",
    "workflow_completed",
    "integration_connected",
    "user_invited",
    "integration_error",
    "support_ticket_opened",
    "subscription_cancelled",
]

# minutes relative to the cutoff; the "past" strictly before it, the "future" at or after it
past = st.integers(-150 * 1440, -1)
future = st.integers(0, 60 * 1440)


def event_rows(offsets):
    user = st.sampled_from(USERS)
    return st.lists(st.tuples(user, st.sampled_from(EVENTS), offsets), max_size=25)


def to_events(rows) -> list[tuple[str, str, str, str]]:
    """Drawn (user, event, minutes from the cutoff) -> helper event tuples."""
    return [
        (acc, uid, ev, (MIDNIGHT + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M"))
        for (uid, acc, _), ev, m in rows
    ]


def make_tables(rows):
    us = users([(u, a, r, "2025-09-01", None) for u, a, r in USERS])
    acc = accounts(
        [
            {
                "account_id": a,
                "created_at": "2025-09-01",
                "seats": 5,
                "size_tier": "smb" if a != "c" else "mid",
            }
            for a in ACCS
        ]
    )
    return tables(events(to_events(rows)), us, acc, observed_until="2026-05-01")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=event_rows(past).filter(len), after_1=event_rows(future), after_2=event_rows(future))
def test_features_at_t_ignore_events_at_or_after_t(before, after_1, after_2):
    f1, f2 = features_at(before + after_1), features_at(before + after_2)
    if isinstance(f1, str) or isinstance(f2, str):  # nobody eligible (e.g. all cancelled)
        assert f1 == f2
    else:
        assert_frame_equal(f1, f2)


def features_at(rows) -> pl.DataFrame | str:
    try:
        return build_features(make_tables(rows), [CUT], CFG)
    except NoEligibleAccountsError as err:
        return type(err).__name__


def label_at(rows, name: str):
    lcfg = load_config([f"label={name}"]).label
    r = pl.DataFrame(
        {"account_id": ACCS, "cutoff": [CUT] * 3, T: [date_to_day(CUT)] * 3},
        schema={"account_id": pl.String, "cutoff": pl.Date, T: pl.Int32},
    )
    return build_labels(make_tables(rows), r, lcfg)


inside = st.integers(
    -28 * 1440, 28 * 1440 - 1
)  # [t - baseline, t + horizon): what usage labels read
outside = st.one_of(st.integers(-200 * 1440, -28 * 1440 - 1), st.integers(28 * 1440, 90 * 1440))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(core=event_rows(inside), out_1=event_rows(outside), out_2=event_rows(outside))
def test_usage_labels_ignore_events_outside_their_window(core, out_1, out_2):
    for name in ("usage_drop", "inactivity"):
        assert_frame_equal(label_at(core + out_1, name), label_at(core + out_2, name))


horizon = st.integers(0, 56 * 1440 - 1)
not_horizon = st.one_of(st.integers(-200 * 1440, -1), st.integers(56 * 1440, 120 * 1440))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(core=event_rows(horizon), out_1=event_rows(not_horizon), out_2=event_rows(not_horizon))
def test_churn_label_reads_only_the_horizon(core, out_1, out_2):
    assert_frame_equal(label_at(core + out_1, "churn_event"), label_at(core + out_2, "churn_event"))
