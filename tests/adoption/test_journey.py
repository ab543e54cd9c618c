"""Journey around a milestone: timing, roles, over-represented events (by hand)."""

from __future__ import annotations

import math

import polars as pl
import pytest
from scipy.stats import norm

from adoption.journey import events_around_milestones, milestone_roles, milestone_timing
from adoption.timeline import account_timeline, milestone_days
from tests.adoption.helpers import accounts, day, events, users

M = [{"name": "first_share", "events": ["share"]}]
# Milestone = first "share". Reachers r1 (day 5), r2 (day 5), r3 (day 6): median 5 -> anchor 5.
# window = 3: reachers' before = [m-3, m), after = [m, m+3); others' = [2, 5) and [5, 8).
EV = events(
    [
        ("r1", "ur1", "share", 5),
        ("r1", "ur1", "invite", 3),  # before
        ("r1", "ur1", "login", 5.5),  # after (milestone day counts as after)
        ("r1", "ur1", "report", 6),  # after
        ("r2", "ur2a", "share", 5),
        ("r2", "ur2b", "share", 9),  # a later share, by another user
        ("r2", "ur2a", "invite", 4),  # before
        ("r2", "ur2a", "report", 9),  # outside [5, 8)
        ("r3", "x", "share", 6),  # a user missing from the users table
        ("r3", "x", "invite", 2),  # outside [3, 6)
        ("r3", "x", "report", 7),  # after
        ("n1", "n", "invite", 4),  # before [2, 5)
        ("n2", "n", "report", 5),  # after [5, 8)
        ("n4", "n", "invite", 2),  # n4 churned before the anchor -> not compared
        ("n5", "n", "invite", 36),  # n5 observed 6 days < 5 + 3 -> not compared
        ("t1", "n", "share", 1),  # t1 started before the log -> ignored everywhere
        ("a0", "n", "login", 0),  # the log's first day
    ]
)
ACC = accounts(
    [
        *[{"account_id": a, "created": 0} for a in ("r1", "r2", "r3", "n1", "n2", "n3", "a0")],
        {"account_id": "n4", "created": 0, "churned": 3},
        {"account_id": "n5", "created": 34},
        {"account_id": "t1", "created": -10},
    ]
)
USERS = users([("ur1", "r1", "admin"), ("ur2a", "r2", "analyst"), ("ur2b", "r2", "admin")])


def _tl() -> pl.DataFrame:
    return account_timeline(EV, ACC, observed_until=day(40))


def test_timing_median_and_iqr() -> None:
    tl = pl.DataFrame(
        {
            "account_id": list("abcde"),
            "observed_days": [40] * 5,
            "churn_day": [None] * 5,
            "left_truncated": [False, False, False, False, True],
        },
        schema_overrides={"churn_day": pl.Int64},
    )
    md = pl.DataFrame(
        {"account_id": list("abcde"), "milestone": ["m"] * 5, "day": [1, 3, 4, 10, 0]},
    )
    t = milestone_timing(tl, md).row(0, named=True)
    # e is truncated; reach days 1, 3, 4, 10 -> median 3.5, linear quartiles 2.5 and 5.5
    assert (t["n_accounts"], t["n_reached"]) == (4, 4)
    assert (t["median_day"], t["q25_day"], t["q75_day"]) == (3.5, 2.5, 5.5)


def test_roles_of_milestone_events() -> None:
    r = milestone_roles(EV, _tl(), M, USERS)
    got = {row["role"]: row for row in r.iter_rows(named=True)}
    # share events: r1 admin, r2 analyst then admin, r3 unknown (t1 is truncated, ignored)
    assert {k: v["n_events"] for k, v in got.items()} == {"admin": 2, "analyst": 1, "unknown": 1}
    assert got["admin"]["share_events"] == pytest.approx(0.5)
    # first reaching event per account: r1 admin, r2 analyst, r3 unknown
    assert {k: v["n_first"] for k, v in got.items()} == {"admin": 1, "analyst": 1, "unknown": 1}
    assert got["unknown"]["share_first"] == pytest.approx(1 / 3)
    assert r["role"].to_list()[0] == "admin"  # most events first


def katz_adjusted(x1: float, n1: float, x0: float, n0: float) -> tuple[float, float]:
    z = norm.ppf(0.975)
    a, na, b, nb = x1 + 0.5, n1 + 0.5, x0 + 0.5, n0 + 0.5
    log_rr = math.log((a / na) / (b / nb))
    se = math.sqrt(1 / a - 1 / na + 1 / b - 1 / nb)
    return math.exp(log_rr - z * se), math.exp(log_rr + z * se)


def test_events_around_the_milestone_by_hand() -> None:
    out = events_around_milestones(EV, _tl(), M, window_days=3, min_accounts=1)
    got = {(r["side"], r["event"]): r for r in out.iter_rows(named=True)}
    # compared: reachers r1 r2 r3 (3); others n1 n2 n3 a0 (4) - n4 churned, n5 too recent
    assert set(got) == {("before", "invite"), ("after", "report"), ("after", "login")}
    inv = got[("before", "invite")]
    assert inv["anchor_day"] == 5
    assert (inv["n_reachers"], inv["x_reachers"], inv["n_others"], inv["x_others"]) == (3, 2, 4, 1)
    assert inv["lift"] == pytest.approx((2 / 3) / (1 / 4))
    assert (inv["lift_low"], inv["lift_high"]) == pytest.approx(katz_adjusted(2, 3, 1, 4))
    rep = got[("after", "report")]
    assert (rep["x_reachers"], rep["x_others"]) == (2, 1)  # r1 (6), r3 (7); n2 (5)
    login = got[("after", "login")]
    assert (login["x_reachers"], login["x_others"]) == (1, 0)
    assert login["lift"] == math.inf and login["status"] == "ok"
    # the milestone's own event never shows up; rows sorted before -> after
    assert out["side"].to_list() == ["before", "after", "after"]
    strict = events_around_milestones(EV, _tl(), M, window_days=3, min_accounts=2)
    status = dict(
        zip(zip(strict["side"], strict["event"], strict=True), strict["status"], strict=True)
    )
    assert status == {
        ("before", "invite"): "ok",
        ("after", "report"): "ok",
        ("after", "login"): "too few",
    }
    assert strict.filter(pl.col("status") == "too few")["lift"].to_list() == [None]


def test_milestone_days_used_for_the_anchor() -> None:
    md = milestone_days(EV, _tl(), M)
    reached = md.filter(pl.col("day").is_not_null())
    assert dict(zip(reached["account_id"], reached["day"], strict=True)) == {
        "r1": 5,
        "r2": 5,
        "r3": 6,
        "t1": 11,
    }
