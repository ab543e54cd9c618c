"""Short-term momentum and same-period-last-year indicators (family ``trends``).

Why: a decay that starts without a warning sign (no champion leaving, no error spike) shows
first as daily use bending down a few days before the cutoff, long before a 28-day window or
even last week's total moves much. A seasonal lull (holidays, the summer) bends it too, but the
same weeks of last year tell that apart. Nothing here is specific to one product: it reads only
person-days of use (a user using the product on a day; ``features.windows.UserDays``).

Time semantics (docs/ARCHITECTURE.md): every value at cutoff ``t`` (00:00 UTC) reads only days
``< t``. ``ud[t - a, t - b)`` is the number of person-days in those whole days. Weekdays matter
for any window that is not whole weeks (a window of the last 3 days is Thursday to Saturday for
a Sunday cutoff), so every short window is compared with the *same weekdays* of the previous
weeks, and every moving level is a 7-day sum (one of each weekday).

Switched by ``features.momentum`` (default false; on with the ``trends`` family). Parameters:
``features.momentum_days`` (short windows), ``features.momentum_slope_days``,
``features.momentum_below_fraction`` / ``features.momentum_max_days`` (the run below the usual
level), ``features.last_year_days`` (0, the default = no same-period-last-year indicators: they
need more than a year of history on most training rows, which the demo data does not have, so
their use could not be measured there; 364 keeps weekdays aligned); the usual level
is the whole weeks of ``features.recent_days``, the long baseline the ``features.baseline_days``
before them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from core.config import FeaturesConfig
from core.errors import ConfigValueError
from features.context import safe_div
from features.usage import weekly_slope
from features.windows import T

#: Days in a week: moving levels are 7-day sums, short windows are matched by weekday.
WEEK = 7


def enabled(fcfg: FeaturesConfig, families: Sequence[str]) -> bool:
    """``features.momentum`` is on and so is the ``trends`` family."""
    return bool(fcfg.momentum) and "trends" in families


def _params(fcfg: FeaturesConfig) -> dict[str, Any]:
    spans = sorted({int(k) for k in fcfg.momentum_days})
    p: dict[str, Any] = {
        "spans": spans,
        "weeks": max(1, int(fcfg.recent_days) // WEEK),
        "slope": int(fcfg.momentum_slope_days),
        "run": int(fcfg.momentum_max_days),
        "fraction": float(fcfg.momentum_below_fraction),
        "recent": int(fcfg.recent_days),
        "baseline": int(fcfg.baseline_days),
        "year": int(fcfg.last_year_days),
    }
    bad = [k for k in spans if k < 1] + ([p["slope"]] if p["slope"] < 2 else [])
    if bad or p["run"] < 1 or p["fraction"] <= 0:
        raise ConfigValueError(
            f"features.momentum_days must be >= 1, momentum_slope_days >= 2, momentum_max_days "
            f">= 1 and momentum_below_fraction > 0; got {spans}, {p['slope']}, {p['run']}, "
            f"{p['fraction']}"
        )
    return p


def offsets(fcfg: FeaturesConfig) -> list[int]:
    """Every offset (days before ``t``) at which cumulative person-days are sampled."""
    p = _params(fcfg)
    out = {0, p["recent"], p["recent"] + p["baseline"]}
    for k in p["spans"]:
        out |= {WEEK * i for i in range(p["weeks"] + 1)} | {
            k + WEEK * i for i in range(p["weeks"] + 1)
        }
    out |= set(range(max(p["slope"], p["run"]) + WEEK + 1))  # 7-day moving sums W(j), j <= max
    if p["year"] > 0:
        y, r = p["year"], p["recent"]
        out |= {y - r, y, y + r}
    return sorted(o for o in out if o >= 0)


#: Cumulative person-days before ``t - offset`` as an expression (``features.engagement``
#: samples them, at the offsets of :func:`offsets` among its own, and passes the reader in).
UserDays = Callable[[int], pl.Expr]


def _vs_usual(series: list[pl.Expr]) -> pl.Expr:
    """``series[0] / mean(series[1:])`` (null when the mean is 0)."""
    return safe_div(series[0], pl.mean_horizontal(series[1:]))


def indicators(fcfg: FeaturesConfig, families: Sequence[str], ud: UserDays) -> dict[str, pl.Expr]:
    """``{feature name: expression}`` over the wide frame; ``ud(o)`` reads the cumulative
    person-days before ``t - o`` (sampled by ``features.engagement.with_samples``).

    With ``b = recent_days // 7`` weeks, ``W(j) = ud[t - j - 7, t - j)`` (the 7-day moving
    person-days ending ``j`` days before ``t``) and ``L`` = the mean weekly person-days over the
    ``baseline_days`` before the last ``recent_days`` (``[t - recent - baseline, t - recent)``):

    * ``user_days_{k}d_vs_usual`` (k in ``momentum_days``): person-days in ``[t - k, t)`` divided
      by the mean of the same ``k`` weekdays in each of the ``b`` weeks before,
      ``ud[t - k - 7i, t - 7i)`` for ``i = 1..b`` (1 = usual; 0.5 = half the usual use).
      (Distinct active users of the same windows were tried and measured no better: person-days
      react first, a user stays "active" in a window while using the product less often.)
    * ``user_days_daily_slope_{s}d`` (s = ``momentum_slope_days``): least-squares slope of
      ``W(j)`` over ``j = s .. 0`` (oldest first), per day, divided by the mean of those ``W``:
      the share of the usual weekly use gained (lost if negative) per day.
    * ``user_days_7d_vs_long_baseline``: ``W(0) / L``.
    * ``days_below_usual_use``: consecutive days ``j = 0, 1, ..`` for which ``W(j) < fraction x
      L`` (``momentum_below_fraction``), i.e. how many days ago the moving weekly use last was
      at or above that level; at most ``momentum_max_days + 1`` (below for the whole span);
      null when ``L = 0``.
    * ``user_days_vs_last_year_{r}d`` (``last_year_days = y > 0``, ``r = recent_days``):
      ``ud[t - r, t) / ud[t - y - r, t - y)`` (the same weeks a year earlier; y = 364 keeps the
      weekdays); ``user_days_last_year_next_{r}d_ratio``: ``ud[t - y, t - y + r) /
      ud[t - y - r, t - y)``, how use moved over the coming ``r`` days last year (< 1: a
      seasonal lull ahead). Both null unless the account signed up at least ``y + r`` days
      before ``t`` (and when the denominator is 0).
    """
    if not enabled(fcfg, families):
        return {}
    p = _params(fcfg)
    b, s, r, bl = p["weeks"], p["slope"], p["recent"], p["baseline"]

    def _win(start: int, end: int = 0) -> pl.Expr:
        """Person-days in ``[t - start, t - end)``."""
        return ud(end).cast(pl.Float64) - ud(start).cast(pl.Float64)

    out: dict[str, pl.Expr] = {}
    for k in p["spans"]:
        out[f"user_days_{k}d_vs_usual"] = _vs_usual(
            [_win(k + WEEK * i, WEEK * i) for i in range(b + 1)]
        )
    moving = [_win(j + WEEK, j) for j in range(max(s, p["run"]) + 1)]
    trail = moving[: s + 1]
    out[f"user_days_daily_slope_{s}d"] = safe_div(
        weekly_slope(trail[::-1]), pl.mean_horizontal(trail)
    )
    long_level = _win(r + bl, r) * WEEK / bl
    out["user_days_7d_vs_long_baseline"] = safe_div(moving[0], long_level)
    limit = p["fraction"] * long_level
    run = pl.lit(True)
    days = pl.lit(0.0)
    for w in moving[: p["run"] + 1]:
        run = run & (w < limit)
        days = days + run.cast(pl.Float64)
    out["days_below_usual_use"] = pl.when(long_level > 0).then(days).otherwise(None)
    if p["year"] > 0:
        y = p["year"]
        known = (pl.col(T) - pl.col("signup_day")) >= y + r
        last_year = _win(y + r, y)
        out[f"user_days_vs_last_year_{r}d"] = (
            pl.when(known).then(safe_div(_win(r), last_year)).otherwise(None)
        )
        out[f"user_days_last_year_next_{r}d_ratio"] = (
            pl.when(known).then(safe_div(_win(y, y - r), last_year)).otherwise(None)
        )
    return out
