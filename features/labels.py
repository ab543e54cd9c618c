"""Decay labels: what happened in the horizon ``[t, t + horizon_days)`` after each cutoff.

Chosen by ``cfg.label.name`` (see ``core.config.LabelConfig``):

* ``usage_drop`` (default): mean weekly active users (WAU) over the last ``assess_days`` of the
  horizon < ``drop_fraction`` x mean WAU over the ``baseline_days`` before ``t``. Weeks are
  aligned to the cutoff: baseline weeks ``[t - 7(i+1), t - 7i)``, assess weeks ending at
  ``t + horizon``. The baseline reads the past (known at ``t``), the assessment only the horizon.
* ``inactivity``: no qualifying event at all in ``[t, t + horizon)``.
* ``churn_event``: a configured cancellation event or ``accounts.churned_at`` in the horizon.

Dormant accounts (baseline WAU below ``min_baseline_users``) are part of the population
(``label.dormant=label``, the default): they are scored at serving time, so the model must see
rows like them in training. Their label asks whether they *stay* inactive: ``usage_drop`` is 1
when the assessed WAU is still below ``min_baseline_users`` (they did not come back), 0 when it
reached it; ``inactivity`` keeps its meaning (no qualifying event in the horizon). With
``label.dormant=exclude`` they get no label (the older behaviour: "they cannot decay further").
Every label is null unless the whole horizon is observed: ``t + horizon_days <=
observed_until``. 1 = decayed (or stayed dormant), 0 = not; Int8.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from core.errors import ConfigValueError
from features.cache import DayCache, sample
from features.daily import active_user_counts, usage_expr, user_days
from features.grid import Grid
from features.windows import DAY, T, at_offset, boundary_days, cumulative_at, date_to_day, day_of
from ingest.tables import Tables

LABELS = ("usage_drop", "inactivity", "churn_event")
#: label.dormant: label accounts already inactive at the cutoff (stay dormant = 1), or exclude.
DORMANT = ("label", "exclude")


def observed_end_day(observed_until: datetime) -> int:
    """Last day index ``d`` whose midnight is ``<= observed_until`` (naive = UTC)."""
    if observed_until.tzinfo is not None:
        observed_until = observed_until.astimezone(UTC)
    return date_to_day(observed_until.date())


def _check(lcfg: Any) -> None:
    h, base, assess = int(lcfg.horizon_days), int(lcfg.baseline_days), int(lcfg.assess_days)
    if lcfg.name not in LABELS:
        raise ConfigValueError(
            f"label.name must be one of {list(LABELS)}, got {lcfg.name!r}",
            hint="choose with label=usage_drop|inactivity|churn_event",
        )
    if h < 1:
        raise ConfigValueError(f"label.horizon_days must be >= 1, got {h}")
    if str(lcfg.dormant) not in DORMANT:
        raise ConfigValueError(
            f"label.dormant must be one of {list(DORMANT)}, got {lcfg.dormant!r}"
        )
    if lcfg.name in ("usage_drop", "inactivity") and (base < 7 or base % 7):
        raise ConfigValueError(
            f"label.baseline_days must be a positive multiple of 7 (whole weeks), got {base}"
        )
    if lcfg.name == "usage_drop" and (assess < 7 or assess % 7 or assess > h or (h - assess) % 7):
        raise ConfigValueError(
            f"label.assess_days must be whole weeks within the horizon aligned to the cutoff, got "
            f"assess_days={assess}, horizon_days={h}",
            hint="e.g. horizon_days=28 assess_days=14",
        )


def _baseline_wau(
    events: pl.DataFrame,
    rows: pl.DataFrame,
    lcfg: Any,
    extra_offsets: list[int],
    udays: pl.DataFrame | None = None,
    cache: DayCache | None = None,
) -> pl.DataFrame:
    """Rows plus ``wau_base`` and weekly active users ``au_7@<offset>`` for ``extra_offsets``.

    With ``cache`` (the feature build's, same usage events) the counts come from its dense
    user grid instead of a per-(user, boundary) as-of join: same numbers, far less work."""
    base_offsets = [7 * i for i in range(int(lcfg.baseline_days) // 7)]
    offsets = base_offsets + extra_offsets
    if cache is not None:
        t = rows.get_column(T).to_numpy()
        grid = Grid.of(np.unique(t).tolist(), offsets)
        au7 = cache.active_users(grid, [7])["au_7"]
        acc = cache.enc.account_codes(rows.get_column("account_id"))
        out = rows.with_columns(
            [
                pl.Series(f"au_7@{o}", sample(au7, grid, acc, t - o), dtype=pl.UInt32)
                for o in dict.fromkeys(offsets)
            ]
        )
    else:
        if udays is None:
            udays = user_days(events, usage_expr(lcfg.qualifying_events, lcfg.excluded_events))
        au = active_user_counts(
            udays, boundary_days(rows.get_column(T).unique().to_list(), offsets), [7]
        )
        out = rows
        for o in offsets:
            out = at_offset(out, au, o, ["au_7"], f"@{o}")
        out = out.with_columns([pl.col(f"au_7@{o}").fill_null(0) for o in offsets])
    return out.with_columns(
        pl.mean_horizontal([pl.col(f"au_7@{o}").cast(pl.Float64) for o in base_offsets]).alias(
            "wau_base"
        )
    )


def build_labels(
    tables: Tables,
    rows: pl.DataFrame,
    lcfg: Any,
    udays: pl.DataFrame | None = None,
    cache: DayCache | None = None,
) -> pl.DataFrame:
    """``label`` (Int8, nullable) for each (account_id, cutoff) of ``rows`` (which carry ``_t``).

    ``udays``: optional precomputed ``features.daily.user_days`` for the label's qualifying
    events (saves a pass over the events when the features use the same event set).
    ``cache``: the feature build's ``features.cache.DayCache`` when its usage events are the
    label's qualifying events (the weekly active users then come from its dense user grid).
    Returns ``account_id, cutoff, label`` in the order of ``rows``.
    """
    _check(lcfg)
    h = int(lcfg.horizon_days)
    observed = pl.col(T) + h <= observed_end_day(tables.observed_until)
    name = lcfg.name
    ev = tables.events
    if name == "usage_drop":
        assess = [-(h - 7 * j) for j in range(int(lcfg.assess_days) // 7)]
        r = _baseline_wau(ev, rows, lcfg, assess, udays, cache)
        wau_assess = pl.mean_horizontal([pl.col(f"au_7@{o}").cast(pl.Float64) for o in assess])
        active = pl.col("wau_base") >= float(lcfg.min_baseline_users)
        decayed = (
            pl.when(active)
            .then(wau_assess < float(lcfg.drop_fraction) * pl.col("wau_base"))
            .otherwise(wau_assess < float(lcfg.min_baseline_users))
        )
        has_base = active if str(lcfg.dormant) == "exclude" else pl.lit(True)
    elif name == "inactivity":
        r = _baseline_wau(ev, rows, lcfg, [], udays, cache)
        qual = usage_expr(lcfg.qualifying_events, lcfg.excluded_events)
        r = _horizon_count(ev.filter(qual), r, h)
        decayed = pl.col("_in_horizon") == 0
        has_base = (
            pl.col("wau_base") >= float(lcfg.min_baseline_users)
            if str(lcfg.dormant) == "exclude"
            else pl.lit(True)
        )
    else:
        r = _horizon_count(ev.filter(pl.col("event").is_in(list(lcfg.churn_events))), rows, h)
        decayed = pl.col("_in_horizon") > 0
        if tables.accounts is not None and "churned_at" in tables.accounts.columns:
            churned = tables.accounts.select(
                "account_id", day_of(pl.col("churned_at")).alias("_churn")
            )
            r = r.join(churned, on="account_id", how="left", maintain_order="left")
            in_h = (pl.col("_churn") >= pl.col(T)) & (pl.col("_churn") < pl.col(T) + h)
            decayed = decayed | in_h.fill_null(False)
        has_base = pl.lit(True)
    label = pl.when(observed & has_base).then(decayed.cast(pl.Int8)).otherwise(None).cast(pl.Int8)
    return r.select("account_id", "cutoff", label.alias("label"))


def _horizon_count(events: pl.DataFrame, rows: pl.DataFrame, h: int) -> pl.DataFrame:
    """Rows plus ``_in_horizon``: number of ``events`` in ``[t, t + h)`` per account."""
    daily = (
        events.lazy()
        .group_by("account_id", day_of(pl.col("timestamp")).alias(DAY))
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .collect()
    )
    cum = cumulative_at(
        daily,
        ["account_id"],
        ["n"],
        boundary_days(rows.get_column(T).unique().to_list(), [0, -h]),
        rows.select("account_id").unique(),
    )
    out = at_offset(at_offset(rows, cum, 0, ["n"], "@0"), cum, -h, ["n"], "@end")
    return out.with_columns(
        (pl.col("n@end").fill_null(0) - pl.col("n@0").fill_null(0)).alias("_in_horizon")
    )
