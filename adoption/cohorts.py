"""Outcome tracking by signup month: is the adoption program moving new accounts?

For each signup month (UTC calendar month of the account's start), segment (plus "all") and
milestone, on accounts that are not left-truncated:

* n_accounts: accounts that started that month; n_observed: those observed for at least
  ``within_days`` days (the rest, n_not_yet, are too recent to judge and left out of the rate);
* activation_rate = n_activated / n_observed, where activated = reached the milestone in the
  first ``within_days`` days (days ``0 .. within_days-1``; accounts that churned before count
  as not activated), with a Wilson interval;
* median time to value from the month's own Aalen–Johansen curve (``adoption.time_to_value``:
  churn competing, every account of the month used, censored where still running), with the
  band-derived interval; null when the month's curve stays below 0.5;
* change_vs_previous: activation rate minus the previous signup month's (the previous month
  with signups, same segment and milestone), Newcombe interval; null for the first month or when either month has no observed
  account. A change whose interval excludes 0 is a real shift in who activates (it does not by
  itself say the program caused it: the mix of accounts may have changed too).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import polars as pl
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from adoption._common import SEGMENT_KEYS, FrameLike, lazy, stack_segments
from adoption.time_to_value import competing_risks_data, cumulative_incidence, median_from_curve

_KEYS = [*SEGMENT_KEYS, "milestone", "signup_month"]


def cohort_activation(
    timeline: FrameLike,
    milestone_days: FrameLike,
    *,
    segments: Sequence[str] = (),
    within_days: int = 30,
    conf_level: float = 0.95,
) -> pl.DataFrame:
    """Per (segment_column, segment, milestone, signup_month): n_accounts, n_observed,
    n_not_yet, n_activated, activation_rate, activation_low, activation_high, median_day,
    median_low, median_high, change_vs_previous, change_low, change_high (module docstring).

    ``timeline``: ``account_timeline`` (with ``segments``; needs ``start``); ``milestone_days``:
    ``milestone_days``. signup_month is a Date (first of the month). Sorted by group, month."""
    if within_days < 1:
        raise ValueError(f"within_days: must be >= 1, got {within_days}")
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level: must be in (0, 1), got {conf_level}")
    segs = list(segments)
    tl = lazy(timeline).with_columns(
        pl.col("start").dt.truncate("1mo").dt.date().alias("signup_month")
    )
    race = (
        stack_segments(
            competing_risks_data(tl, milestone_days, segments=[*segs, "signup_month"]), segs
        )
        .filter(~pl.col("left_truncated"))
        .collect()
    )
    observed = tl.select("account_id", "observed_days")
    d = within_days
    counts = (
        race.lazy()
        .join(observed, on="account_id", how="left")
        .with_columns((pl.col("observed_days") >= d).alias("_obs"))
        .group_by(_KEYS)
        .agg(
            pl.len().cast(pl.Int64).alias("n_accounts"),
            pl.col("_obs").sum().cast(pl.Int64).alias("n_observed"),
            (pl.col("_obs") & (pl.col("event") == 1) & (pl.col("time") < d))
            .sum()
            .cast(pl.Int64)
            .alias("n_activated"),
        )
        .with_columns((pl.col("n_accounts") - pl.col("n_observed")).alias("n_not_yet"))
        .sort(_KEYS)
        .collect()
    )
    curve = cumulative_incidence(race, _KEYS, conf_level=conf_level)
    medians = median_from_curve(curve, _KEYS)
    df = counts.join(medians, on=_KEYS, how="left").with_columns(
        pl.col("n_observed").shift(1).over(_KEYS[:-1]).alias("_n_prev"),
        pl.col("n_activated").shift(1).over(_KEYS[:-1]).alias("_x_prev"),
    )
    n = df["n_observed"].to_numpy().astype(np.float64)
    x = df["n_activated"].to_numpy().astype(np.float64)
    n_prev = df["_n_prev"].fill_null(0).to_numpy().astype(np.float64)
    x_prev = df["_x_prev"].fill_null(0).to_numpy().astype(np.float64)
    alpha = 1.0 - conf_level
    rate, lo, hi = (np.full(df.height, np.nan) for _ in range(3))
    ch, ch_lo, ch_hi = (np.full(df.height, np.nan) for _ in range(3))
    has = n > 0
    both = has & (n_prev > 0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if has.any():
            rate[has] = x[has] / n[has]
            lo[has], hi[has] = proportion_confint(x[has], n[has], alpha=alpha, method="wilson")
        if both.any():
            ch[both] = x[both] / n[both] - x_prev[both] / n_prev[both]
            ch_lo[both], ch_hi[both] = confint_proportions_2indep(
                x[both], n[both], x_prev[both], n_prev[both], method="newcomb", alpha=alpha
            )
    series = {
        "activation_rate": rate,
        "activation_low": lo,
        "activation_high": hi,
        "change_vs_previous": ch,
        "change_low": ch_lo,
        "change_high": ch_hi,
    }
    return df.with_columns(
        [pl.Series(k, v, dtype=pl.Float64, nan_to_null=True) for k, v in series.items()]
    ).select(
        *_KEYS,
        "n_accounts",
        "n_observed",
        "n_not_yet",
        "n_activated",
        "activation_rate",
        "activation_low",
        "activation_high",
        "median_day",
        "median_low",
        "median_high",
        "change_vs_previous",
        "change_low",
        "change_high",
    )
