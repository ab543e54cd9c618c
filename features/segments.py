"""Segment columns that live on the events: an account's value at a cutoff, point in time.

Why: in clickstreams and many tracking plans the segment (device, channel, plan, region) is a
property sent with every event, not a column of a CRM table, and it can change (a visitor
switches device, an account upgrades). The value of an account at cutoff ``t`` is its latest
non-null value on an event strictly before ``t`` (same rule as every feature: nothing at or after
``t``), null when it has sent none yet. Ties within one timestamp take the value that sorts last,
so the result does not depend on row order.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from features.windows import T, day_of


def event_segments_at(
    events: pl.DataFrame, rows: pl.DataFrame, columns: Sequence[str]
) -> pl.DataFrame:
    """``rows`` (account_id, ``_t`` cutoff day) plus each of ``columns`` at the cutoff.

    One pass per column: the last non-null value per (account, day) (latest timestamp, ties by
    value), then an as-of join on the day before the cutoff."""
    out = rows
    for col in columns:
        daily = (
            events.lazy()
            .filter(pl.col(col).is_not_null())
            .select(
                "account_id",
                day_of(pl.col("timestamp")).alias("_day"),
                "timestamp",
                pl.col(col).cast(pl.String),
            )
            .sort("account_id", "_day", "timestamp", col)
            .group_by("account_id", "_day")
            .agg(pl.col(col).last())
            .sort("_day")
            .collect()
        )
        probe = (
            out.select("account_id", T)
            .unique()
            .with_columns((pl.col(T) - 1).cast(pl.Int32).alias("_day"))
            .sort("_day")
        )
        got = probe.join_asof(
            daily.with_columns(pl.col("_day").cast(pl.Int32)),
            on="_day",
            by="account_id",
            strategy="backward",
            check_sortedness=False,
        )
        out = out.join(
            got.select("account_id", T, col),
            on=["account_id", T],
            how="left",
            maintain_order="left",
        )
    return out
