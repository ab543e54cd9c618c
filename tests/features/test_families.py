"""Exact numbers for every indicator family on the hand-built scenario (tests/features/helpers.py).

Cutoff t = 2026-03-01 (00:00 UTC). Windows are [t - w, t): 7d = [02-22, 03-01), 28d =
[02-01, 03-01), 90d = [2025-12-01, 03-01); the previous 28d = [01-04, 02-01).
"""

from __future__ import annotations

import polars as pl
import pytest

from features.build import build_features
from features.cutoffs import cutoff_dates
from tests.features.helpers import by_account, features_at_t0, scenario


@pytest.fixture(scope="module")
def rows(cfg_t0) -> dict[str, dict]:
    return by_account(features_at_t0(scenario(), cfg_t0))


def test_only_eligible_accounts_get_rows(rows):
    assert sorted(rows) == ["a", "b", "c"]


def test_activity_windows_have_exclusive_ends(rows):
    a = rows["a"]
    # 7d: login at 02-28 23:59 and dashboard at 02-22 00:00; the login at t and the dashboard at
    # 02-21 23:59 are out; the support ticket is not usage.
    assert (a["active_users_7d"], a["usage_events_7d"], a["active_days_7d"]) == (2, 2, 2)
    assert (a["active_users_28d"], a["usage_events_28d"], a["active_days_28d"]) == (3, 4, 4)
    assert (a["active_users_90d"], a["usage_events_90d"], a["active_days_90d"]) == (3, 8, 8)
    assert (rows["b"]["active_users_28d"], rows["b"]["usage_events_28d"]) == (1, 1)


def test_trends(rows):
    a = rows["a"]
    assert a["active_users_prev_28d"] == 1  # only u1 in [01-04, 02-01)
    assert a["active_users_trend_ratio"] == 3.0
    # 4 usage events in 28d vs 4 in the 56 days before: (4/28) / (4/56)
    assert a["usage_events_trend_ratio"] == pytest.approx(2.0)
    assert a["active_days_trend_ratio"] == pytest.approx(2.0)
    # weekly usage oldest -> newest [1, 1, 1, 0, 0, 1, 1, 2]: slope 3.5 / 42
    assert a["usage_slope_8w"] == pytest.approx(3.5 / 42)
    assert a["days_since_last_use"] == 1
    assert a["days_since_last_dashboard_viewed"] == 7
    assert a["days_since_last_report_created"] == 19
    assert a["days_since_last_workflow_completed"] == 40
    assert rows["b"]["days_since_last_dashboard_viewed"] == 9999  # b never had one: never_days
    # automation_launched occurs nowhere in the data: no constant 9999 column
    assert "days_since_last_automation_launched" not in a
    assert rows["c"]["active_users_trend_ratio"] is None  # no users before: undefined, not 0


def test_breadth_and_depth(rows):
    a = rows["a"]
    assert (a["distinct_features_7d"], a["distinct_features_28d"], a["distinct_features_90d"]) == (
        2,
        3,
        6,
    )
    assert a["events_per_active_user_28d"] == pytest.approx(4 / 3)
    assert a["share_of_seats_active_28d"] == 0.75  # 3 active / 4 seats
    # b has no seats: 1 active / 1 user existing at t
    assert rows["b"]["share_of_seats_active_28d"] == 1.0


def test_share_of_seats_falls_back_to_users_existing_at_t(cfg_t0):
    t = scenario()
    t.accounts = t.accounts.with_columns(pl.lit(None, pl.Int64).alias("seats"))
    a = features_at_t0(t, cfg_t0).filter(pl.col("account_id") == "a")
    # u3 deactivated before t and u4 created after t: 2 users exist, 3 were active
    assert a["share_of_seats_active_28d"].item() == 1.5


def test_role_disengagement(rows):
    a = rows["a"]
    assert (a["active_admins_28d"], a["active_admins_prev_28d"], a["active_admins_change_28d"]) == (
        1,
        1,
        0,
    )
    assert (
        a["active_builders_28d"],
        a["active_builders_prev_28d"],
        a["active_builders_change_28d"],
    ) == (1, 0, 1)
    assert (a["active_members_28d"], a["active_members_prev_28d"]) == (1, 0)
    assert rows["b"]["active_admins_28d"] == 1


def test_milestones(rows):
    a, b, c = rows["a"], rows["b"], rows["c"]
    assert (a["first_integration_reached"], a["days_to_first_integration"]) == (1, 4)
    assert a["first_integration_delay_vs_expected"] == 4 - 14
    assert a["first_integration_overdue"] == 0
    assert (a["days_to_first_workflow"], a["first_workflow_delay_vs_expected"]) == (19, -2)
    # b never completed a workflow: not reached, overdue (tenure 50 > 21 expected days)
    assert (b["first_workflow_reached"], b["days_to_first_workflow"]) == (0, None)
    assert b["first_workflow_overdue"] == 1
    # no automation_launched anywhere in the data: the milestone is left out, not constant 0
    assert not [k for k in a if "first_automation" in k]
    # smb peers reached first_integration after 4 (a) and 10 (b) days: median 7
    assert (a["first_integration_delay_vs_segment"], b["first_integration_delay_vs_segment"]) == (
        -3,
        3,
    )
    assert c["first_integration_delay_vs_segment"] is None


def test_onboarding(rows):
    a = rows["a"]
    assert a["invites_first_10d"] == 1  # 01-03 counts, 01-15 is after the first 10 days
    assert a["onboarding_observed_days"] == 10


def test_onboarding_is_truncated_at_the_cutoff(cfg_t0):
    from tests.features.helpers import accounts, events, tables

    ev = events(
        [
            ("n", "x", "user_invited", "2026-02-10 10:00"),
            ("n", "x", "user_invited", "2026-02-14 10:00"),
            ("n", "x", "user_invited", "2026-02-16 10:00"),
        ]
    )  # after t: not seen
    t = tables(ev, None, accounts([{"account_id": "n", "created_at": "2026-02-08"}]))
    cfg = cfg_t0.copy()
    cfg.snapshot.as_of = "2026-02-15"
    cfg.snapshot.min_tenure_days = 0
    cfg.features.onboarding_days = 14
    r = build_features(t, cutoff_dates("2026-02-15", 7, 1), cfg).row(0, named=True)
    assert (r["invites_first_14d"], r["onboarding_observed_days"]) == (2, 7)


def test_friction(rows):
    a = rows["a"]
    assert (
        a["integration_errors_7d"],
        a["integration_errors_28d"],
        a["integration_errors_90d"],
    ) == (0, 1, 2)
    assert (a["integration_errors_prev_28d"], a["integration_errors_change_28d"]) == (1, 0)
    assert (a["support_tickets_7d"], a["support_tickets_28d"], a["support_tickets_prev_28d"]) == (
        1,
        1,
        0,
    )
    assert a["support_tickets_change_28d"] == 1


def test_lifecycle(rows):
    a, c = rows["a"], rows["c"]
    assert (a["tenure_days"], a["days_to_renewal"], a["maturity_stage"]) == (59, 31, "onboarding")
    assert (c["tenure_days"], c["days_to_renewal"], c["maturity_stage"]) == (273, None, "growing")


def test_peer_percentiles_within_segment_at_the_cutoff(rows):
    # smb: a (3 users) above b (1 user); c alone in mid -> 0.5
    assert (rows["a"]["active_users_28d_peer_pct"], rows["b"]["active_users_28d_peer_pct"]) == (
        1.0,
        0.0,
    )
    assert rows["c"]["active_users_28d_peer_pct"] == 0.5


def test_peer_percentile_ties_share_the_mean_rank():
    from features.peer import percentile

    df = pl.DataFrame({"cutoff": [1] * 4, "_peer": ["x"] * 4, "m": [1.0, 2.0, 2.0, None]})
    out = df.select(percentile("m")).to_series().to_list()
    assert out == [0.0, 0.75, 0.75, None]


def test_dataset_contract_dtypes_and_order(cfg_t0):
    df = features_at_t0(scenario(), cfg_t0)
    assert df.columns[:6] == [
        "account_id",
        "cutoff",
        "industry",
        "size_tier",
        "use_case",
        "maturity_stage",
    ]
    assert df.schema["cutoff"] == pl.Date
    assert all(t == pl.Float64 for t in list(df.schema.values())[6:])


def test_late_percentile_against_the_segment_by_hand() -> None:
    """<m>_late_pct_vs_segment: share of the segment's reached accounts (before t) that reached
    it younger than this account is now; null once reached or with fewer than 5 reached peers."""
    from omegaconf import OmegaConf

    from features.milestones import milestones as milestone_exprs
    from features.windows import T

    fcfg = OmegaConf.create({"milestones": [{"name": "m", "events": ["x"], "expected_days": 10}]})
    # Segment a: reached at 2, 4, 6, 8, 10 days; open accounts aged 5, 6, 11 and 1.
    days_to = [2, 4, 6, 8, 10, None, None, None, None]
    age = [20, 20, 20, 20, 20, 5, 6, 11, 1]
    frame = pl.DataFrame(
        {
            "cutoff": [0] * 9 + [0] * 3,
            "_peer": ["a"] * 9 + ["b"] * 3,
            T: [100] * 12,
            "signup_day": [100 - a for a in age] + [90, 80, 70],
            "m_reached": [1.0 if d is not None else 0.0 for d in days_to] + [1.0, 1.0, 0.0],
            "days_to_m": [float(d) if d is not None else None for d in days_to] + [3.0, 4.0, None],
        }
    )
    _, s2 = milestone_exprs(fcfg)
    got = frame.with_columns(s2["m_late_pct_vs_segment"].alias("late"))["late"].to_list()
    # Aged 5: 2 and 4 were younger (2/5); aged 6: a tie at 6 is not younger (2/5); 11: all 5;
    # 1: none. Reached accounts: null. Segment b has 2 reached peers only: null.
    assert got[:5] == [None] * 5
    assert got[5:9] == [2 / 5, 2 / 5, 1.0, 0.0]
    assert got[9:] == [None, None, None]
