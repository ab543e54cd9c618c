"""days_to_renewal is point-in-time: only the phase of the CRM's renewal date on its contract cycle.

A CRM export holds the *next* renewal as of the export (or the end date of a churned contract).
Read at an older cutoff, ``renewal - t`` would reveal how far the export lies in the future and,
for churned accounts, when they churned. The feature must be the days to the next anniversary.
"""

from __future__ import annotations

import polars as pl

from features.build import build_features
from features.cutoffs import cutoff_dates
from tests.features.helpers import accounts, events, tables


def _tables(plan: str | None) -> tuple:
    acc = accounts([{"account_id": "a", "created_at": "2025-01-01", "renewal_date": "2026-04-01"}])
    if plan is not None:
        acc = acc.with_columns(pl.lit(plan).alias("plan"))
    ev = events(
        [("a", "u1", "login", "2026-01-05 10:00"), ("a", "u1", "login", "2026-02-20 10:00")]
    )
    return tables(ev, None, acc)


def test_annual_cycle_rolls_back_a_snapshot_renewal_date(cfg_t0):
    # renewal 2026-04-01; cutoff 2026-03-01 -> 31 days; cutoff a year + 31 days earlier is also 31.
    rows = build_features(_tables("annual"), cutoff_dates("2026-03-01", 7, 1), cfg_t0)
    assert rows["days_to_renewal"].to_list() == [31.0]


def test_monthly_cycle_uses_the_plan_column(cfg_t0):
    # 2026-04-01 - 2026-03-01 = 31 days; on a 30-day cycle the next renewal is 1 day away.
    rows = build_features(_tables("monthly"), cutoff_dates("2026-03-01", 7, 1), cfg_t0)
    assert rows["days_to_renewal"].to_list() == [1.0]


def test_without_plan_the_default_cycle_applies(cfg_t0):
    rows = build_features(_tables(None), cutoff_dates("2026-03-01", 14, 4), cfg_t0)
    got = dict(
        zip(
            rows["cutoff"].cast(pl.String).to_list(), rows["days_to_renewal"].to_list(), strict=True
        )
    )
    assert got == {"2026-01-18": 73.0, "2026-02-01": 59.0, "2026-02-15": 45.0, "2026-03-01": 31.0}


def test_a_later_renewal_date_in_the_snapshot_does_not_change_the_feature(cfg_t0):
    # The same contract exported a year later shows renewal 2027-04-01: same phase, same feature.
    a = build_features(_tables("annual"), cutoff_dates("2026-03-01", 7, 1), cfg_t0)
    t = _tables("annual")
    later = t.accounts.with_columns(pl.col("renewal_date").dt.offset_by("365d"))
    b = build_features(tables(t.events, None, later), cutoff_dates("2026-03-01", 7, 1), cfg_t0)
    assert a["days_to_renewal"].to_list() == b["days_to_renewal"].to_list() == [31.0]
