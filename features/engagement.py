"""Engagement indicators: the weekly-active-user (WAU) series, lapsing users, the user roster
and short-window friction, as extra leading indicators of the existing families.

Why: a decay label is usually stated in weekly active users relative to the account's own
recent level (``label=usage_drop``: mean WAU at the end of the horizon < a fraction of the mean
WAU of the weeks before ``t``). The 28-day windows of ``features.usage`` blur that level and its
direction; the per-week series, the users who were active this month but not this week, the
people who left (by role: an admin leaving takes the account's know-how) and a fresh spike of
errors or tickets are what a CSM would look at first. Nothing here is specific to one product:
it needs only events with users and, for the roster, a users table.

Time semantics (docs/ARCHITECTURE.md): every value at cutoff ``t`` (00:00 UTC) reads only
days ``< t``. Weeks are aligned to the cutoff: week ``i`` (``i = 0`` the last one) is
``[t - 7(i+1), t - 7i)``. A user "exists" at ``t`` when created before ``t`` and not
deactivated before ``t``.

``features.engagement`` (default true) switches them all; within it each indicator belongs to
an existing family and is on with it (so no new family name is needed): ``trends`` -> WAU and
person-day series, lapsing users; ``role`` -> roster and per-role person-days (users table
only); ``friction`` -> last-week friction ratios. Windows reuse ``features.slope_weeks`` (weeks
of history) and ``features.recent_days`` (the usual level: its whole weeks); a week is 7 days.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from core.config import FeaturesConfig
from features import momentum
from features.context import safe_div
from features.usage import weekly_slope
from features.windows import Engine, Grid, Sampler, T, last_to_series
from ingest.tables import Tables

#: Prefix of the sample columns this module adds to the wide frame (no clash with context.py).
PREFIX = "eng_"
#: Days in a week: the unit of weekly active users and of every "last week" indicator.
WEEK = 7


def enabled(fcfg: FeaturesConfig) -> bool:
    """``features.engagement``: are the engagement indicators on?"""
    return bool(fcfg.engagement)


def _wau(i: int) -> pl.Expr:
    """Distinct active users in week ``i`` before the cutoff (``i = 0``: ``[t - 7, t)``)."""
    return pl.col(f"{PREFIX}au_7@{7 * i}").cast(pl.Float64)


def _acc(fact: str, offset: int) -> pl.Expr:
    """A cumulative account fact sampled at ``t - offset`` (0 before any history)."""
    return pl.col(f"{PREFIX}{fact}@{offset}").cast(pl.Float64)


def _win(fact: str, start: int, end: int = 0) -> pl.Expr:
    """Sum of a cumulative account fact over ``[t - start, t - end)``."""
    return _acc(fact, end) - _acc(fact, start)


def _mean(exprs: Sequence[pl.Expr]) -> pl.Expr:
    return pl.mean_horizontal(list(exprs))


def _std(exprs: Sequence[pl.Expr], mean: pl.Expr) -> pl.Expr:
    """Population standard deviation (ddof=0) of ``exprs`` row-wise, given their ``mean``.

    Two-pass horizontal sums: ~30x cheaper than ``concat_list(...).list.std`` (which builds a
    list per row) and equal to it up to rounding."""
    dev = [(e.cast(pl.Float64) - mean) ** 2 for e in exprs]
    return (pl.sum_horizontal(dev) / len(dev)).sqrt()


def with_samples(
    wide: pl.DataFrame,
    tables: Tables,
    engine: Engine,
    fcfg: FeaturesConfig,
    families: Sequence[str],
    at: Sampler | None = None,
) -> pl.DataFrame:
    """``wide`` plus the ``eng_<fact>@<offset>`` samples the engagement indicators read.

    ``wide`` carries ``account_id`` and ``_t`` (cutoff day); ``engine`` is the build's window
    engine (``features.windows``). Every sample is a value over days strictly before
    ``t - offset``: distinct active users (``au_<w>``), person-days (``ud``, ``ud_<role>``: a
    user using the product on a day), usage events, the roster (``created``, ``left``, per
    role) and friction counts; ``last_left_<role>`` is the last day a user of that role left.
    """
    if not enabled(fcfg):
        return wide
    weeks, short, recent = int(fcfg.slope_weeks), WEEK, int(fcfg.recent_days)
    at = at or engine.sampler(wide)
    cols: list[pl.Series] = []

    def put(name: str, grid: Grid, values: np.ndarray, offsets: Sequence[int]) -> None:
        for o in offsets:
            cols.append(pl.Series(f"{PREFIX}{name}@{o}", at(values, grid, o), dtype=pl.Int64))

    week_offsets = [7 * i for i in range(weeks + 1)]
    want_users = "role" in families and tables.users is not None
    if "trends" in families:
        gu = at.grid(week_offsets[:-1])
        counts = engine.active_users(gu, [7, short, recent])
        put("au_7", gu, counts["au_7"], week_offsets[:-1])
        for w in sorted({short, recent} - {WEEK}):  # au_7@0 is week 0 above
            put(f"au_{w}", gu, counts[f"au_{w}"], [0])
        # one person-day grid serves the weekly series and, when on, the momentum indicators
        ud_offsets = sorted(
            set(week_offsets)
            | {recent}
            | set(momentum.offsets(fcfg) if momentum.enabled(fcfg, families) else ())
        )
        g = at.grid(ud_offsets)
        put("ud", g, engine.usage.sums(g), ud_offsets)
        gs = at.grid([0, short, recent])
        put("usage", gs, engine.sums(gs, "use"), [0, short, recent])
    if want_users:
        roles = [str(r) for r in fcfg.roles]
        g = at.grid([0, recent])
        for fact in ("created", "left"):
            put(fact, g, engine.roster_sums(g, fact), [0, recent])
            for r in roles:
                put(f"{fact}_{r}", g, engine.roster_sums(g, fact, r), [0, recent])
        gc = at.grid([0])
        for r in roles:
            last = engine.roster_last(gc, "left", r)
            cols.append(last_to_series(f"{PREFIX}last_left_{r}", at(last, gc)))
        # person-days by role: who keeps using the product
        urole = engine.user_roles()
        gr = at.grid([0, short, recent])
        for r in roles:
            mine = (urole == r).fill_null(False).to_numpy()
            put(f"ud_{r}", gr, engine.usage.sums(gr, mine), [0, short, recent])
    if "friction" in families:
        g = at.grid([0, short, recent])
        for fact in ("errors", "tickets"):
            put(fact, g, engine.sums(g, fact), [0, short, recent])
    return wide.with_columns(cols) if cols else wide


def baseline_weeks(fcfg: FeaturesConfig) -> int:
    """Whole weeks in the recent window (``features.recent_days // 7``, at least 1)."""
    return max(1, int(fcfg.recent_days) // WEEK)


def indicators(
    fcfg: FeaturesConfig, families: Sequence[str], has_users: bool
) -> dict[str, pl.Expr]:
    """``{feature name: expression}`` over the frame from ``with_samples``.

    ``k = features.slope_weeks`` weeks of history, ``r = features.recent_days`` (its
    ``b = r // 7`` whole weeks are the account's usual level), "last week" = ``[t - 7, t)``.

    trends:

    * ``wau_last_week``: distinct active users in ``[t - 7, t)``.
    * ``wau_mean_{r}d``: mean of the ``b`` weekly active-user counts before ``t``.
    * ``wau_last_week_ratio``: ``wau_last_week / wau_mean_{r}d`` (1 = at its usual level).
    * ``wau_trend_ratio_{r}d``: ``wau_mean_{r}d`` / mean WAU of the ``b`` weeks before them
      (needs ``k >= 2b``).
    * ``wau_slope_rel_{k}w``: least-squares slope of the ``k`` weekly counts divided by their
      mean (share of the usual level gained per week; null when nobody was active).
    * ``wau_cv_{k}w``: standard deviation / mean of the ``k`` weekly counts (how noisy the
      level is; null when nobody was active).
    * ``lapsing_users_7d``: users active in ``[t - r, t)`` but not in ``[t - 7, t)``;
      ``lapsing_users_share_7d``: the same / active users in ``[t - r, t)``.
    * person-days (a user using the product on a day; more sensitive than WAU, which saturates
      when people use the product most days): ``user_days_last_week``,
      ``user_days_last_week_ratio`` (/ weekly mean over the ``b`` weeks),
      ``user_days_trend_ratio_{r}d``, ``user_days_slope_rel_{k}w`` (as for WAU) and
      ``days_per_active_user_{r}d`` (person-days / active users over ``[t - r, t)``).
    * ``usage_last_week_ratio``: usage events last week / weekly mean over ``[t - r, t)``.

    role (users table): ``users_existing``, ``users_change_{r}d`` (existing now minus existing
    at ``t - r``), ``users_left_{r}d`` (deactivated in ``[t - r, t)``), and per role
    ``<role>s_existing``, ``<role>s_left_{r}d``, ``days_since_<role>_left`` (``t`` minus the
    day of the last deactivation; ``never_days`` when none) and
    ``<role>_user_days_last_week_ratio`` (person-days of that role last week / their weekly mean
    over ``[t - r, t)``).

    friction: ``integration_errors_last_week_ratio`` and ``support_tickets_last_week_ratio``:
    count last week / weekly mean over ``[t - r, t)`` (1 = usual, > 1 a fresh spike).

    Every ratio is null when its denominator is 0 (undefined, not 0).
    """
    if not enabled(fcfg):
        return {}
    k, b = int(fcfg.slope_weeks), baseline_weeks(fcfg)
    s, r = WEEK, int(fcfg.recent_days)
    never = float(fcfg.never_days)

    def last_week_ratio(fact: str) -> pl.Expr:
        return safe_div(_win(fact, s), _win(fact, r) * s / r)

    out: dict[str, pl.Expr] = {}
    if "trends" in families:
        weeks = [_wau(i) for i in range(k)]
        base = _mean(weeks[:b])
        out["wau_last_week"] = weeks[0]
        out[f"wau_mean_{r}d"] = base
        out["wau_last_week_ratio"] = safe_div(weeks[0], base)
        if k >= 2 * b:
            out[f"wau_trend_ratio_{r}d"] = safe_div(base, _mean(weeks[b : 2 * b]))
        mean_k = _mean(weeks)
        out[f"wau_slope_rel_{k}w"] = safe_div(weekly_slope(weeks[::-1]), mean_k)
        out[f"wau_cv_{k}w"] = safe_div(_std(weeks, mean_k), mean_k)
        au_r = pl.col(f"{PREFIX}au_{r}@0").cast(pl.Float64)
        lapsing = au_r - pl.col(f"{PREFIX}au_{s}@0").cast(pl.Float64)
        out["lapsing_users_7d"] = lapsing
        out["lapsing_users_share_7d"] = safe_div(lapsing, au_r)
        ud = [_win("ud", 7 * (i + 1), 7 * i) for i in range(k)]
        ud_base = _mean(ud[:b])
        out["user_days_last_week"] = ud[0]
        out["user_days_last_week_ratio"] = safe_div(ud[0], ud_base)
        if k >= 2 * b:
            out[f"user_days_trend_ratio_{r}d"] = safe_div(ud_base, _mean(ud[b : 2 * b]))
        out[f"user_days_slope_rel_{k}w"] = safe_div(weekly_slope(ud[::-1]), _mean(ud))
        out[f"days_per_active_user_{r}d"] = safe_div(_win("ud", r), au_r)
        out["usage_last_week_ratio"] = last_week_ratio("usage")
        out |= momentum.indicators(fcfg, families, lambda o: _acc("ud", o))  # momentum, last year
    if "role" in families and has_users:
        out["users_existing"] = _acc("created", 0) - _acc("left", 0)
        out[f"users_change_{r}d"] = _win("created", r) - _win("left", r)
        out[f"users_left_{r}d"] = _win("left", r)
        for role in fcfg.roles:
            out[f"{role}s_existing"] = _acc(f"created_{role}", 0) - _acc(f"left_{role}", 0)
            out[f"{role}s_left_{r}d"] = _win(f"left_{role}", r)
            out[f"days_since_{role}_left"] = (
                (pl.col(T) - pl.col(f"{PREFIX}last_left_{role}")).cast(pl.Float64).fill_null(never)
            )
            out[f"{role}_user_days_last_week_ratio"] = last_week_ratio(f"ud_{role}")
    if "friction" in families:
        out["integration_errors_last_week_ratio"] = last_week_ratio("errors")
        out["support_tickets_last_week_ratio"] = last_week_ratio("tickets")
    return out
