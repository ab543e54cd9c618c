"""Milestones and onboarding: did the account reach its outcomes, and how fast?

Signup is ``accounts.created_at`` (UTC day). Milestone m is reached on the first day with an
event in ``m.events``; at cutoff ``t`` it counts as reached only if that day is ``< t``.
Onboarding looks at the first ``onboarding_days`` days after signup, ``[s, s + D)``, truncated
at ``t`` while that period is still running (so nothing after ``t`` leaks in).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from features.context import at
from features.windows import DAY, T


def milestone_first_days(aed: pl.DataFrame, fcfg: Any) -> pl.DataFrame:
    """account_id -> ``first_<milestone>`` day index (null if never). One group-by on day data."""
    aggs = [pl.col(DAY).filter(pl.col("event").is_in(list(m.events))).min().alias(f"first_{m.name}")
            for m in fcfg.milestones]
    if not aggs:
        return aed.select("account_id").unique()
    return aed.group_by("account_id").agg(aggs)


def onboarding_invites(aed: pl.DataFrame, signup: pl.DataFrame, fcfg: Any) -> pl.DataFrame:
    """Per account: invites before the signup day (``inv_s``) and before ``s + D`` (``inv_e``).

    ``signup``: account_id, signup_day. Cumulative counts, so the invites in ``[s, x)`` are
    ``C(x) - inv_s``; the feature uses ``x = min(s + D, t)``.
    """
    d = int(fcfg.onboarding_days)
    inv = (aed.filter(pl.col("event").is_in(list(fcfg.invite_events)))
           .group_by("account_id", DAY).agg(pl.col("n").sum())
           .sort("account_id", DAY)
           .with_columns(pl.col("n").cum_sum().over("account_id").alias("c"))
           .select("account_id", pl.col(DAY).cast(pl.Int32), "c").sort(DAY))
    out = signup.select("account_id", pl.col("signup_day").cast(pl.Int32))
    for name, shift in (("inv_s", 0), ("inv_e", d)):
        q = out.select("account_id", (pl.col("signup_day") + shift).cast(pl.Int32).alias("_b")).sort("_b")
        s = q.join_asof(inv, left_on="_b", right_on=DAY, by="account_id", strategy="backward",
                        allow_exact_matches=False, check_sortedness=False)
        out = out.join(s.select("account_id", pl.col("c").fill_null(0).alias(name)), on="account_id")
    return out.drop("signup_day")


def onboarding(fcfg: Any) -> dict[str, pl.Expr]:
    """invites_first_{D}d: invite events in ``[s, min(s + D, t))``; onboarding_observed_days:
    how many of those D days were before ``t`` (D once the period is over)."""
    d = int(fcfg.onboarding_days)
    over = pl.col(T) >= pl.col("signup_day") + d
    upto = pl.when(over).then(pl.col("inv_e")).otherwise(at("invites"))
    return {
        f"invites_first_{d}d": (upto - pl.col("inv_s")).cast(pl.Float64),
        "onboarding_observed_days": pl.min_horizontal(pl.lit(d), pl.col(T) - pl.col("signup_day"))
        .cast(pl.Float64),
    }


def milestones(fcfg: Any) -> tuple[dict[str, pl.Expr], dict[str, pl.Expr]]:
    """Stage 1: <m>_reached (0/1), days_to_<m> (signup -> first day; null if not reached
    before t), <m>_delay_vs_expected (days_to - expected_days; null if not reached),
    <m>_overdue (1 if not reached and tenure > expected_days, else 0).
    Stage 2 (needs stage 1 and the peer segment): <m>_delay_vs_segment = days_to_<m> minus the
    median days_to_<m> of the reached accounts in the same peer segment at the same cutoff."""
    s1: dict[str, pl.Expr] = {}
    s2: dict[str, pl.Expr] = {}
    for m in fcfg.milestones:
        first = pl.col(f"first_{m.name}")
        reached = first.is_not_null() & (first < pl.col(T))
        days_to = pl.when(reached).then(first - pl.col("signup_day")).otherwise(None).cast(pl.Float64)
        tenure = pl.col(T) - pl.col("signup_day")
        s1[f"{m.name}_reached"] = reached.cast(pl.Float64)
        s1[f"days_to_{m.name}"] = days_to
        s1[f"{m.name}_delay_vs_expected"] = days_to - float(m.expected_days)
        s1[f"{m.name}_overdue"] = ((~reached) & (tenure > int(m.expected_days))).cast(pl.Float64)
        s2[f"{m.name}_delay_vs_segment"] = pl.col(f"days_to_{m.name}") - pl.col(
            f"days_to_{m.name}").median().over("cutoff", "_peer")
    return s1, s2
