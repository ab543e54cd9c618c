"""Milestones and onboarding: did the account reach its outcomes, and how fast?

Signup is ``accounts.created_at`` (UTC day). Milestone m is reached on the first day with an
event in ``m.events``; at cutoff ``t`` it counts as reached only if that day is ``< t``.
Onboarding looks at the first ``onboarding_days`` days after signup, ``[s, s + D)``, truncated
at ``t`` while that period is still running (so nothing after ``t`` leaks in).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from core.config import FeaturesConfig
from features.context import at
from features.windows import DAY, Engine, T

#: Fewer accounts of the segment than this reached a milestone: no lateness percentile.
LATE_MIN_REACHED = 5


def milestone_first_days(firsts: pl.DataFrame, fcfg: FeaturesConfig) -> pl.DataFrame:
    """account_id -> ``first_<milestone>`` day index (null if never). One group-by over
    ``firsts`` (account_id, event, day = first day: ``Engine.firsts``)."""
    aggs = [
        pl.col(DAY).filter(pl.col("event").is_in(list(m.events))).min().alias(f"first_{m.name}")
        for m in fcfg.milestones
    ]
    if not aggs:
        return firsts.select("account_id").unique()
    return firsts.group_by("account_id").agg(aggs)


def onboarding_invites(signup: pl.DataFrame, engine: Engine, fcfg: FeaturesConfig) -> pl.DataFrame:
    """Per account: invites before the signup day (``inv_s``) and before ``s + D`` (``inv_e``).

    ``signup``: account_id, signup_day (one row per account). Cumulative counts, so the
    invites in ``[s, x)`` are ``C(x) - inv_s``; the feature uses ``x = min(s + D, t)``. Each
    account has its own boundaries here (its signup day), so instead of a boundary grid two
    weighted bincounts over the (few) invite days of ``engine.day_rows("invites")`` count them.
    An account without a signup day has 0 for both (nothing is "before" an unknown day).
    """
    d = int(fcfg.onboarding_days)
    codes = engine.enc.account_codes(signup.get_column("account_id"))
    inv_a, inv_day, inv_n = engine.day_rows("invites")
    n_accounts = engine.n_accounts
    sd = signup.get_column("signup_day")
    known = sd.is_not_null().to_numpy()
    s_of = np.full(n_accounts, np.iinfo(np.int64).min, np.int64)
    s_of[codes[known]] = sd.to_numpy()[known].astype(np.int64)
    s_row = s_of[inv_a]
    w = inv_n.astype(np.float64)
    cols = {}
    for name, shift in (("inv_s", 0), ("inv_e", d)):
        c = np.bincount(inv_a, weights=w * (inv_day < s_row + shift), minlength=n_accounts)
        cols[name] = pl.Series(name, np.rint(c[codes]).astype(np.int64) * known)
    return pl.DataFrame([signup.get_column("account_id"), *cols.values()])


def onboarding(fcfg: FeaturesConfig) -> dict[str, pl.Expr]:
    """invites_first_{D}d: invite events in ``[s, min(s + D, t))``; onboarding_observed_days:
    how many of those D days were before ``t`` (D once the period is over)."""
    d = int(fcfg.onboarding_days)
    over = pl.col(T) >= pl.col("signup_day") + d
    upto = pl.when(over).then(pl.col("inv_e")).otherwise(at("invites"))
    return {
        f"invites_first_{d}d": (upto - pl.col("inv_s")).cast(pl.Float64),
        "onboarding_observed_days": pl.min_horizontal(
            pl.lit(d), pl.col(T) - pl.col("signup_day")
        ).cast(pl.Float64),
    }


def milestones(fcfg: FeaturesConfig) -> tuple[dict[str, pl.Expr], dict[str, pl.Expr]]:
    """Stage 1: <m>_reached (0/1), days_to_<m> (signup -> first day; null if not reached
    before t), <m>_delay_vs_expected (days_to - expected_days; null if not reached),
    <m>_overdue (1 if not reached and tenure > expected_days, else 0).
    Stage 2 (needs stage 1 and the peer segment): <m>_delay_vs_segment = days_to_<m> minus the
    median days_to_<m> of the reached accounts in the same peer segment at the same cutoff;
    <m>_late_pct_vs_segment = for an account that has not reached it, the share of the segment's
    accounts that had reached it (before t) at a younger age than this account is now: how far
    along its segment's time-to-value curve it is already late (0 = none reached it younger,
    1 = all did); null once reached, or with fewer than 5 reached peers. Point in time: only
    milestones reached before the cutoff count, the same rule as every feature."""
    s1: dict[str, pl.Expr] = {}
    s2: dict[str, pl.Expr] = {}
    for m in fcfg.milestones:
        first = pl.col(f"first_{m.name}")
        reached = first.is_not_null() & (first < pl.col(T))
        days_to = (
            pl.when(reached).then(first - pl.col("signup_day")).otherwise(None).cast(pl.Float64)
        )
        tenure = pl.col(T) - pl.col("signup_day")
        s1[f"{m.name}_reached"] = reached.cast(pl.Float64)
        s1[f"days_to_{m.name}"] = days_to
        s1[f"{m.name}_delay_vs_expected"] = days_to - float(m.expected_days)
        s1[f"{m.name}_overdue"] = ((~reached) & (tenure > int(m.expected_days))).cast(pl.Float64)
        s2[f"{m.name}_delay_vs_segment"] = pl.col(f"days_to_{m.name}") - pl.col(
            f"days_to_{m.name}"
        ).median().over("cutoff", "_peer")
        # One ordered pass per (cutoff, segment): reached accounts at their days_to, the others
        # at their age; at equal days the others come first, so a tie is not "younger".
        did = pl.col(f"{m.name}_reached").fill_null(0).cast(pl.Int32)
        age = pl.when(did == 1).then(pl.col(f"days_to_{m.name}")).otherwise(tenure)
        younger = did.cum_sum().over("cutoff", "_peer", order_by=[age, did])
        n_did = did.sum().over("cutoff", "_peer")
        s2[f"{m.name}_late_pct_vs_segment"] = (
            pl.when((did == 0) & tenure.is_not_null() & (n_did >= LATE_MIN_REACHED))
            .then(younger / n_did)
            .otherwise(None)
        )
    return s1, s2
