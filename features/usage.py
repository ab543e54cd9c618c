"""Usage-based families: activity, trends, breadth & depth.

All windows are ``[t - w, t)`` in whole UTC days before the cutoff ``t`` (exclusive end).
"Usage" is the configured event set (``features.usage_events`` or every event not in
``features.non_usage_events``). Each function returns ``{feature name: expression}`` over the
wide frame from ``features.context.build_wide``.
"""

from __future__ import annotations

import polars as pl

from core.config import FeaturesConfig
from features.context import at, safe_div, window
from features.windows import T


def activity(fcfg: FeaturesConfig) -> dict[str, pl.Expr]:
    """active_users_{w}d (distinct users with a usage event), usage_events_{w}d, active_days_{w}d."""
    out: dict[str, pl.Expr] = {}
    for w in (int(x) for x in fcfg.windows_days):
        out[f"active_users_{w}d"] = at(f"au_{w}")
        out[f"usage_events_{w}d"] = window("usage_n", w)
        out[f"active_days_{w}d"] = window("active_day", w)
    return out


def weekly_slope(weeks: list[pl.Expr]) -> pl.Expr:
    """Least-squares slope of ``weeks`` (oldest first) per week: units of y per week."""
    k = len(weeks)
    if k < 2:
        return pl.lit(None, pl.Float64)
    xbar = (k - 1) / 2
    sxx = sum((x - xbar) ** 2 for x in range(k))
    return pl.sum_horizontal([(x - xbar) * y.cast(pl.Float64) for x, y in enumerate(weeks)]) / sxx


def trends(fcfg: FeaturesConfig) -> dict[str, pl.Expr]:
    """Recent vs baseline, weekly slope, days since last use.

    * ``active_users_prev_{r}d``: active users in ``[t - 2r, t - r)`` (r = recent_days);
      ``active_users_trend_ratio`` = active_users_{r}d / active_users_prev_{r}d.
    * ``usage_events_trend_ratio`` / ``active_days_trend_ratio``: per-day rate over the recent
      ``[t - r, t)`` divided by the per-day rate over the baseline ``[t - r - b, t - r)``.
    * ``usage_slope_{k}w``: least-squares slope of weekly usage events over the k whole weeks
      before ``t`` (weeks aligned to the cutoff), in events per week per week.
    * ``days_since_last_use`` / ``days_since_last_<event>``: ``t - day of last occurrence``
      (an event yesterday gives 1); ``never_days`` when it never happened before ``t``.
    """
    r, b, k = int(fcfg.recent_days), int(fcfg.baseline_days), int(fcfg.slope_weeks)
    never = float(fcfg.never_days)
    out: dict[str, pl.Expr] = {
        f"active_users_prev_{r}d": at(f"au_{r}", r),
        "active_users_trend_ratio": safe_div(at(f"au_{r}"), at(f"au_{r}", r)),
        "usage_events_trend_ratio": safe_div(
            window("usage_n", r) / r, window("usage_n", r + b, r) / b
        ),
        "active_days_trend_ratio": safe_div(
            window("active_day", r) / r, window("active_day", r + b, r) / b
        ),
        f"usage_slope_{k}w": weekly_slope(
            [window("usage_n", 7 * (i + 1), 7 * i) for i in range(k - 1, -1, -1)]
        ),
        "days_since_last_use": (pl.col(T) - at("last_use")).cast(pl.Float64).fill_null(never),
    }
    for e in fcfg.key_events:
        out[f"days_since_last_{e}"] = (
            (pl.col(T) - at(f"last_{e}")).cast(pl.Float64).fill_null(never)
        )
    return out


def breadth(fcfg: FeaturesConfig, has_seats: bool, has_users: bool) -> dict[str, pl.Expr]:
    """Distinct features used, depth per active user, share of seats active.

    * ``distinct_features_{w}d``: distinct usage event types in ``[t - w, t)``.
    * ``events_per_active_user_{r}d``: usage events / active users over ``[t - r, t)``.
    * ``share_of_seats_active_{r}d``: active users / ``accounts.seats``; when seats are missing,
      / users existing at ``t`` (created before ``t``, not deactivated before ``t``). Left out
      when neither seats nor users are available.
    """
    r = int(fcfg.recent_days)
    out: dict[str, pl.Expr] = {
        f"distinct_features_{int(w)}d": at(f"distinct_{int(w)}") for w in fcfg.windows_days
    }
    out[f"events_per_active_user_{r}d"] = safe_div(window("usage_n", r), at(f"au_{r}"))
    if has_seats or has_users:
        den = pl.col("seats").cast(pl.Float64) if has_seats else pl.lit(None, pl.Float64)
        if has_users:
            den = den.fill_null(at("users_net").cast(pl.Float64))
        out[f"share_of_seats_active_{r}d"] = safe_div(at(f"au_{r}"), den)
    return out
