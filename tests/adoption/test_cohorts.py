"""Activation by signup month, with intervals and the change from the previous month."""

from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest
from scipy.stats import norm

from adoption.cohorts import cohort_activation
from adoption.timeline import account_timeline, milestone_days
from tests.adoption.helpers import accounts, day, events

Z = norm.ppf(0.975)
M = [{"name": "first_report", "events": ["report"]}]

# Observed until day 66 (2025-03-08, exclusive). Activated = report in the first 10 days.
# January: j1 (day 2), j2 (day 12: too late), j3 (never), j4 (created Jan 31, report on its day 1)
# February: f1 (day 0), f2 (day 5), f3 (never), f4 (day 9), f5 (created day 58: observed 8 days
# < 10, not judged yet). j0 started before the log: left out.
ACC = accounts(
    [
        {"account_id": "j0", "created": -20},
        {"account_id": "j1", "created": 0},
        {"account_id": "j2", "created": 3},
        {"account_id": "j3", "created": 10},
        {"account_id": "j4", "created": 30},
        {"account_id": "f1", "created": 31},
        {"account_id": "f2", "created": 32},
        {"account_id": "f3", "created": 40},
        {"account_id": "f4", "created": 50},
        {"account_id": "f5", "created": 58},
    ]
)
EV = events(
    [
        ("j1", "u", "login", 0),
        ("j0", "u", "report", 1),
        ("j1", "u", "report", 2),
        ("j2", "u", "report", 15),
        ("j4", "u", "report", 31),
        ("f1", "u", "report", 31),
        ("f2", "u", "report", 37),
        ("f4", "u", "report", 59),
        ("f5", "u", "report", 59),
    ]
)


def wilson(x: float, n: float) -> tuple[float, float]:
    p = x / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


def test_cohorts_by_hand() -> None:
    tl = account_timeline(EV, ACC, observed_until=day(66))
    out = cohort_activation(tl, milestone_days(EV, tl, M), within_days=10)
    assert out["signup_month"].to_list() == [date(2025, 1, 1), date(2025, 2, 1)]
    jan, feb = out.iter_rows(named=True)
    assert (jan["n_accounts"], jan["n_observed"], jan["n_not_yet"], jan["n_activated"]) == (
        4,
        4,
        0,
        2,
    )
    assert jan["activation_rate"] == 0.5
    assert (jan["activation_low"], jan["activation_high"]) == pytest.approx(wilson(2, 4))
    assert (feb["n_accounts"], feb["n_observed"], feb["n_not_yet"], feb["n_activated"]) == (
        5,
        4,
        1,
        3,
    )
    assert feb["activation_rate"] == 0.75
    # Median time to value from each month's own curve (no churn here):
    # Jan: j4 at 1, j1 at 2 of 4 -> CIF(2) = 1/2 -> median day 2.
    # Feb: f1 at 0, f5 at 1, f2 at 5 of 5 -> CIF 1/5, 2/5, 3/5 -> median day 5.
    assert (jan["median_day"], feb["median_day"]) == (2, 5)
    # change from January: 0.75 - 0.5, Newcombe interval from the two Wilson intervals
    l1, u1 = wilson(3, 4)
    l0, u0 = wilson(2, 4)
    d = 0.25
    assert jan["change_vs_previous"] is None
    assert feb["change_vs_previous"] == pytest.approx(d)
    assert feb["change_low"] == pytest.approx(d - math.sqrt((0.75 - l1) ** 2 + (u0 - 0.5) ** 2))
    assert feb["change_high"] == pytest.approx(d + math.sqrt((u1 - 0.75) ** 2 + (0.5 - l0) ** 2))


def test_cohorts_per_segment() -> None:
    acc = ACC.with_columns(
        pl.when(pl.col("account_id").is_in(["j1", "j2", "f1"]))
        .then(pl.lit("ent"))
        .otherwise(pl.lit("smb"))
        .alias("plan")
    )
    tl = account_timeline(EV, acc, observed_until=day(66), segments=["plan"])
    out = cohort_activation(tl, milestone_days(EV, tl, M), segments=["plan"], within_days=10)
    ent = out.filter(pl.col("segment") == "ent")
    assert ent["n_observed"].to_list() == [2, 1]
    assert ent["n_activated"].to_list() == [1, 1]
    assert out.filter(pl.col("segment") == "all")["n_accounts"].sum() == 9
