"""The report's context frames, from the validated tables at one cutoff (pure, polars in/out).

``usage``: weekly active users, active days and usage events for the whole weeks before ``as_of``;
``milestones``: each configured milestone's state as known at ``as_of``. Both read only events
strictly before the cutoff (00:00 UTC), like the features.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

USAGE_WEEKS = 12


def _usage_filter(fcfg: Any) -> pl.Expr:
    usage = [str(e) for e in (fcfg.usage_events or [])]
    if usage:
        return pl.col("event").is_in(usage)
    return ~pl.col("event").is_in([str(e) for e in fcfg.non_usage_events])


def usage_frame(
    events: pl.DataFrame, account_ids: pl.Series, as_of: date, fcfg: Any, weeks: int = USAGE_WEEKS
) -> pl.DataFrame:
    """Weekly usage for the ``weeks`` whole weeks before ``as_of``: ``active_users`` (distinct
    users), ``usage_events`` and ``active_days`` (distinct UTC days with use, 0..7: the panel of
    single-user logs, where active users is only ever 0 or 1).

    Week k covers ``[as_of - 7 * (weeks - k), as_of - 7 * (weeks - k - 1))`` in UTC; every scored
    account gets every week (zeros when idle). Usage = the features' definition of use.
    """
    start = as_of - timedelta(days=7 * weeks)
    t0 = datetime(start.year, start.month, start.day, tzinfo=UTC)
    t1 = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    week = ((pl.col("timestamp") - pl.lit(t0)).dt.total_days() // 7).cast(pl.Int64)
    agg = (
        events.lazy()
        .filter((pl.col("timestamp") >= t0) & (pl.col("timestamp") < t1) & _usage_filter(fcfg))
        .join(pl.LazyFrame({"account_id": account_ids}), on="account_id", how="semi")
        .group_by("account_id", week.alias("_w"))
        .agg(
            pl.col("user_id").n_unique().cast(pl.Int64).alias("active_users"),
            pl.len().cast(pl.Int64).alias("usage_events"),
            pl.col("timestamp").dt.date().n_unique().cast(pl.Int64).alias("active_days"),
        )
        .collect()
    )
    grid = pl.DataFrame({"account_id": account_ids}).join(
        pl.DataFrame({"_w": list(range(weeks))}, schema={"_w": pl.Int64}), how="cross"
    )
    return (
        grid.join(agg, on=["account_id", "_w"], how="left")
        .with_columns(
            pl.lit(start).alias("_s"),
            pl.col("active_users", "usage_events", "active_days").fill_null(0),
        )
        .select(
            "account_id",
            (pl.col("_s") + pl.duration(days=pl.col("_w") * 7)).cast(pl.Date).alias("week_start"),
            "active_users",
            "usage_events",
            "active_days",
        )
        .sort("account_id", "week_start")
    )


def milestone_frame(tables: Any, account_ids: pl.Series, as_of: date, fcfg: Any) -> pl.DataFrame:
    """One row per account and configured milestone, as known at ``as_of`` (events before it).

    ``reached_on``: UTC date of the first milestone event; ``days_to_reach`` from signup
    (``accounts.created_at``, else the first event); status: reached (within ``expected_days``),
    late (after), missing (not reached and the account is older than ``expected_days``), pending.
    """
    t1 = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    ids = pl.DataFrame({"account_id": account_ids})
    ev = tables.events.lazy().filter(pl.col("timestamp") < t1)
    if tables.accounts is not None and "created_at" in tables.accounts.columns:
        signup = tables.accounts.select(
            "account_id", pl.col("created_at").dt.date().alias("signup")
        )
    else:
        signup = (
            ev.group_by("account_id")
            .agg(pl.col("timestamp").min().dt.date().alias("signup"))
            .collect()
        )
    ms = list(fcfg.milestones or [])
    schema = pl.Schema(
        {
            "account_id": pl.String,
            "milestone": pl.String,
            "description": pl.String,
            "expected_days": pl.Int64,
            "reached_on": pl.Date,
            "days_to_reach": pl.Int64,
            "status": pl.String,
        }
    )
    if not ms:
        return pl.DataFrame(schema=schema)
    spec = pl.DataFrame(
        {
            "milestone": [str(m.name) for m in ms],
            "description": [str(m.description or m.name) for m in ms],
            "expected_days": [int(m.expected_days) for m in ms],
        }
    )
    ev_map = pl.DataFrame(
        {
            "milestone": [str(m.name) for m in ms for _ in m.events],
            "event": [str(e) for m in ms for e in m.events],
        }
    )
    reached = (
        ev.join(ev_map.lazy(), on="event", how="inner")
        .group_by("account_id", "milestone")
        .agg(pl.col("timestamp").min().dt.date().alias("reached_on"))
        .collect()
    )
    age = (pl.lit(as_of) - pl.col("signup")).dt.total_days()
    status = (
        pl.when(
            pl.col("reached_on").is_not_null()
            & (pl.col("days_to_reach") <= pl.col("expected_days"))
        )
        .then(pl.lit("reached"))
        .when(pl.col("reached_on").is_not_null())
        .then(pl.lit("late"))
        .when(age > pl.col("expected_days"))
        .then(pl.lit("missing"))
        .otherwise(pl.lit("pending"))
    )
    return (
        ids.join(spec, how="cross")
        .join(reached, on=["account_id", "milestone"], how="left")
        .join(signup, on="account_id", how="left")
        .with_columns(
            (pl.col("reached_on") - pl.col("signup"))
            .dt.total_days()
            .cast(pl.Int64)
            .alias("days_to_reach")
        )
        .with_columns(status.alias("status"))
        .select(list(schema))
        .cast(schema)
    )
