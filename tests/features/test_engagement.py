"""Exact numbers for the engagement indicators (features/engagement.py) on a hand-built account.

Cutoff t = 2026-03-01 (00:00 UTC). Weeks are aligned to the cutoff: week 0 = [02-22, 03-01),
week 1 = [02-15, 02-22), ..., week 7 = [01-04, 01-11). recent_days = 28 (4 whole weeks),
slope_weeks = 8. Usage = every event but tickets, errors and cancellations.

Account a, weekly active users (oldest first, weeks 7..0): 1 1 1 1 3 2 2 2;
person-days: 1 1 1 1 3 3 2 2 (u3 uses the product on two days of week 2).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from core.config import load_config
from features.engagement import indicators
from tests.features.helpers import accounts, by_account, events, features_at_t0, tables, users

EVENTS = [
    # u1 (admin): one usage day in each of the 8 weeks; two logins on 02-28 = one person-day
    ("a", "u1", "login", "2026-02-28 23:59"),
    ("a", "u1", "login", "2026-02-28 10:00"),
    ("a", "u1", "login", "2026-02-16 09:00"),
    ("a", "u1", "login", "2026-02-09 09:00"),
    ("a", "u1", "login", "2026-02-02 09:00"),
    ("a", "u1", "login", "2026-01-26 09:00"),
    ("a", "u1", "login", "2026-01-19 09:00"),
    ("a", "u1", "login", "2026-01-12 09:00"),
    ("a", "u1", "login", "2026-01-05 09:00"),
    ("a", "u1", "login", "2026-03-01 00:00"),  # at t: never visible
    # u2 (member): the first minute of week 0 and the last minute of week 1
    ("a", "u2", "dashboard_viewed", "2026-02-22 00:00"),
    ("a", "u2", "dashboard_viewed", "2026-02-21 23:59"),
    ("a", "u2", "report_created", "2026-02-03 09:00"),
    # u3 (builder, deactivated 02-20): two days in week 2, one in week 3
    ("a", "u3", "login", "2026-02-14 09:00"),
    ("a", "u3", "login", "2026-02-10 09:00"),
    ("a", "u3", "login", "2026-02-02 11:00"),
    # friction (not usage): 2 errors last week, 3 in 28 days; 1 ticket in 28 days, none last week
    ("a", "u1", "integration_error", "2026-02-25 09:00"),
    ("a", "u1", "integration_error", "2026-02-25 10:00"),
    ("a", "u1", "integration_error", "2026-02-05 09:00"),
    ("a", "u2", "support_ticket_opened", "2026-02-10 09:00"),
    # b: one active user in week 1 only; c: nobody active in the last 8 weeks
    ("b", "ub1", "login", "2026-02-20 09:00"),
    ("c", "uc1", "login", "2025-12-01 09:00"),
]
USERS = [
    ("u1", "a", "admin", "2026-01-01", None),
    ("u2", "a", "member", "2026-01-01", None),
    ("u3", "a", "builder", "2026-01-01", "2026-02-20"),
    ("u4", "a", "member", "2026-02-25", None),
    ("u5", "a", "admin", "2026-01-01", "2026-01-20"),
    ("u6", "a", "member", "2026-03-05", None),  # created after t: not there yet
    ("u7", "a", "admin", "2026-01-01", "2026-03-02"),  # leaves after t: still there at t
    ("ub1", "b", "admin", "2026-01-01", None),
    ("uc1", "c", "member", "2025-06-01", None),
]
ACCOUNTS = [
    {"account_id": "a", "created_at": "2026-01-01", "seats": 10},
    {"account_id": "b", "created_at": "2026-01-01"},
    {"account_id": "c", "created_at": "2025-06-01"},
]


def build(overrides: list[str] | None = None, with_users: bool = True) -> dict[str, dict]:
    cfg = load_config(["snapshot.as_of=2026-03-01", "snapshot.count=1", *(overrides or [])])
    tab = tables(events(EVENTS), users(USERS) if with_users else None, accounts(ACCOUNTS))
    return by_account(features_at_t0(tab, cfg))


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    return build()


def test_weekly_active_users(rows):
    a = rows["a"]
    assert a["wau_last_week"] == 2
    assert a["wau_mean_28d"] == 2.25  # (2 + 2 + 2 + 3) / 4
    assert a["wau_last_week_ratio"] == pytest.approx(2 / 2.25)
    assert a["wau_trend_ratio_28d"] == 2.25  # / mean(1, 1, 1, 1)
    assert a["wau_slope_rel_8w"] == pytest.approx((8.5 / 42) / 1.625)
    assert a["wau_cv_8w"] == pytest.approx((3.875 / 8) ** 0.5 / 1.625)


def test_lapsing_users(rows):
    # u1, u2, u3 active in the last 28 days; u3 not in the last 7
    assert (rows["a"]["lapsing_users_7d"], rows["a"]["lapsing_users_share_7d"]) == (
        1,
        pytest.approx(1 / 3),
    )
    assert (rows["b"]["lapsing_users_7d"], rows["b"]["lapsing_users_share_7d"]) == (1, 1.0)


def test_person_days(rows):
    a = rows["a"]
    assert a["user_days_last_week"] == 2
    assert a["user_days_last_week_ratio"] == 0.8  # 2 / mean(2, 2, 3, 3)
    assert a["user_days_trend_ratio_28d"] == 2.5  # 2.5 / mean(1, 1, 1, 1)
    assert a["user_days_slope_rel_8w"] == pytest.approx((10 / 42) / 1.75)
    assert a["days_per_active_user_28d"] == pytest.approx(10 / 3)
    # usage events: 3 last week, 11 over 28 days
    assert a["usage_last_week_ratio"] == pytest.approx(3 / (11 / 4))


def test_undefined_ratios_are_null_not_zero(rows):
    b, c = rows["b"], rows["c"]
    assert (b["wau_last_week"], b["wau_mean_28d"], b["wau_last_week_ratio"]) == (0, 0.25, 0.0)
    assert c["wau_mean_28d"] == 0.0
    for name in (
        "wau_last_week_ratio",
        "wau_slope_rel_8w",
        "wau_cv_8w",
        "lapsing_users_share_7d",
        "user_days_last_week_ratio",
        "days_per_active_user_28d",
        "integration_errors_last_week_ratio",
    ):
        assert c[name] is None, name


def test_roster_counts_only_users_known_at_t(rows):
    a = rows["a"]
    # existing at t: u1, u2, u4, u7 (u3 and u5 left before t, u6 is created after t)
    assert (a["users_existing"], a["users_change_28d"], a["users_left_28d"]) == (4, 0, 1)
    assert (a["admins_existing"], a["admins_left_28d"], a["days_since_admin_left"]) == (2, 0, 40)
    assert (a["builders_existing"], a["builders_left_28d"], a["days_since_builder_left"]) == (
        0,
        1,
        9,
    )
    assert (a["members_existing"], a["members_left_28d"], a["days_since_member_left"]) == (
        2,
        0,
        9999,
    )


def test_person_days_by_role(rows):
    a = rows["a"]
    assert a["admin_user_days_last_week_ratio"] == 1.0  # 1 / (4 / 4)
    assert a["member_user_days_last_week_ratio"] == pytest.approx(1 / (3 / 4))
    assert a["builder_user_days_last_week_ratio"] == 0.0  # 0 / (3 / 4)


def test_last_week_friction(rows):
    assert rows["a"]["integration_errors_last_week_ratio"] == pytest.approx(2 / (3 / 4))
    assert rows["a"]["support_tickets_last_week_ratio"] == 0.0
    assert rows["b"]["support_tickets_last_week_ratio"] is None


def test_switches_and_missing_users_table():
    names = set(indicators(load_config().features, ["trends", "role", "friction"], True))
    off = build(["features.engagement=false"])["a"]
    assert not names & set(off)
    no_users = build(with_users=False)["a"]
    assert "wau_mean_28d" in no_users and "users_existing" not in no_users
    assert not any(k.endswith("_left") or k.endswith("s_existing") for k in no_users)
    only_friction = build(["features.families=[activity,friction]"])["a"]
    assert "integration_errors_last_week_ratio" in only_friction
    assert "wau_last_week" not in only_friction and "users_existing" not in only_friction


# -- point in time: users and events at or after t change nothing ------------------------------
MIDNIGHT = datetime(2026, 3, 1)
after_t = st.integers(0, 40 * 1440)  # minutes from the cutoff


def _stamp(minutes: int) -> str:
    return (MIDNIGHT + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M")


def _features(extra_users, extra_events, deact_after):
    """Features at t with late users, late events and past users deactivated after t."""
    us = list(USERS)
    present = [i for i, (_, _, _, c, d) in enumerate(USERS) if d is None and c < "2026-03-01"]
    for i, m in zip(present, deact_after, strict=False):
        us[i] = (*us[i][:4], _stamp(m))
    us += [(f"late{i}", "a", role, _stamp(m), None) for i, (role, m) in enumerate(extra_users)]
    ev = EVENTS + [("a", uid, e, _stamp(m)) for uid, e, m in extra_events]
    cfg = load_config(["snapshot.as_of=2026-03-01", "snapshot.count=1"])
    return features_at_t0(tables(events(ev), users(us), accounts(ACCOUNTS)), cfg)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    users_1=st.lists(
        st.tuples(st.sampled_from(["admin", "builder", "member"]), after_t), max_size=4
    ),
    users_2=st.lists(
        st.tuples(st.sampled_from(["admin", "builder", "member"]), after_t), max_size=4
    ),
    ev=st.lists(
        st.tuples(
            st.sampled_from(["u1", "u2", "u4"]),
            st.sampled_from(["login", "integration_error", "support_ticket_opened"]),
            after_t,
        ),
        max_size=6,
    ),
    deact=st.lists(after_t, max_size=5),
)
def test_engagement_at_t_ignores_users_and_events_at_or_after_t(users_1, users_2, ev, deact):
    assert_frame_equal(_features(users_1, ev, deact), _features(users_2, [], []))


def test_catalogue_covers_every_engagement_feature():
    from features.catalogue import render_catalogue

    cfg = load_config()
    names = list(indicators(cfg.features, ["trends", "role", "friction"], True))
    cat = render_catalogue(names, cfg.catalogue, cfg.features)
    assert set(cat) == set(names)
    assert cat["days_since_admin_left"]["family"] == "role"
    assert cat["wau_last_week_ratio"]["higher_is"] == "healthier"
    assert "{" not in cat["lapsing_users_7d"]["description"]
