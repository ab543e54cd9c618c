"""Snapshot cutoffs and which accounts are eligible at each of them.

A cutoff is a ``date`` standing for 00:00 UTC of that day; a row at cutoff ``t`` may only use
what is known strictly before ``t``. Eligibility uses the same rule, and the same window engine
as the features (``features.windows``), so an account that signs up, churns or sends its first
events at or after ``t`` is not visible at ``t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl

from core.errors import ConfigValueError
from features.windows import DAY, Engine, T, day_of
from ingest.tables import Tables


def cutoff_dates(as_of: date | str, every_days: int, count: int) -> list[date]:
    """Cutoffs ``as_of - k * every_days`` for ``k = count-1 .. 0``, oldest first.

    ``as_of`` may be an ISO date string (``snapshot.as_of``).
    """
    if isinstance(as_of, str):
        try:
            as_of = date.fromisoformat(as_of)
        except ValueError as err:
            raise ConfigValueError(
                f"snapshot.as_of must be an ISO date, got {as_of!r}",
                hint="e.g. snapshot.as_of=2026-11-01",
            ) from err
    if every_days < 1:
        raise ConfigValueError(f"snapshot.every_days must be >= 1, got {every_days}")
    if count < 1:
        raise ConfigValueError(f"snapshot.count must be >= 1, got {count}")
    return [as_of - timedelta(days=every_days * k) for k in range(count - 1, -1, -1)]


def account_anchors(
    tables: Tables, firsts: pl.DataFrame, churn_events: Sequence[str]
) -> pl.DataFrame:
    """Per account: ``signup_day`` and ``churn_day`` (UTC day indexes; churn may be null).

    Signup is ``accounts.created_at`` when accounts exist, else the first event. Churn is the
    earlier of ``accounts.churned_at`` and the first configured cancellation event. ``firsts``
    is the (account_id, event, day = first day) table of ``Engine.firsts``.
    """
    first = firsts.group_by("account_id").agg(pl.col(DAY).min().alias("first_day"))
    churn_ev = (
        firsts.filter(pl.col("event").is_in(list(churn_events)))
        .group_by("account_id")
        .agg(pl.col(DAY).min().alias("churn_ev_day"))
    )
    if tables.accounts is not None:
        acc = tables.accounts.select(
            "account_id",
            day_of(pl.col("created_at")).alias("signup_day"),
            (
                day_of(pl.col("churned_at"))
                if "churned_at" in tables.accounts.columns
                else pl.lit(None, pl.Int32)
            ).alias("churned_day"),
        )
    else:
        acc = first.select(
            "account_id",
            pl.col("first_day").alias("signup_day"),
            pl.lit(None, pl.Int32).alias("churned_day"),
        )
    return (
        acc.join(churn_ev, on="account_id", how="left")
        .with_columns(pl.min_horizontal("churned_day", "churn_ev_day").alias("churn_day"))
        .select(
            "account_id", pl.col("signup_day").cast(pl.Int32), pl.col("churn_day").cast(pl.Int32)
        )
    )


def eligible_rows(
    tables: Tables,
    cutoffs: Sequence[date],
    snapshot: Any,
    churn_events: Sequence[str],
    engine: Engine,
) -> pl.DataFrame:
    """The (account_id, cutoff) rows that get features (and labels), sorted by cutoff, account.

    Eligible at ``t`` iff: signed up before ``t`` (signup day < t); tenure ``t - signup`` in whole
    days >= ``snapshot.min_tenure_days``; not churned before ``t``; and at least
    ``snapshot.min_events`` events (of any kind) with ``timestamp < t``.
    Returns ``account_id``, ``cutoff`` (Date), ``_t`` (cutoff day index), ``signup_day``.

    ``engine``: the build's window engine, built with these ``cutoffs`` (the event counts are
    its cumulative counts at each cutoff, the first days its ``firsts``).
    """
    anchors = account_anchors(tables, engine.firsts(), churn_events)
    days = pl.Series("cutoff", list(cutoffs), dtype=pl.Date)
    grid = anchors.join(days.to_frame(), how="cross").with_columns(
        pl.col("cutoff").cast(pl.Int32).alias(T)
    )
    at = engine.sampler(grid)
    counts = engine.sums(engine.cut_grid, "n")
    grid = grid.with_columns(pl.Series("n_events", at(counts, engine.cut_grid), dtype=pl.Int64))
    keep = (
        (pl.col("signup_day") < pl.col(T))
        & (pl.col(T) - pl.col("signup_day") >= int(snapshot.min_tenure_days))
        & (pl.col("churn_day").is_null() | (pl.col("churn_day") >= pl.col(T)))
        & (pl.col("n_events") >= int(snapshot.min_events))
    )
    return (
        grid.filter(keep)
        .select("account_id", "cutoff", T, "signup_day")
        .sort("cutoff", "account_id")
    )
