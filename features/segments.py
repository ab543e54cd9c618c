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

from features.windows import DAY, Engine, day_of, last_to_series


def event_segments_at(engine: Engine, rows: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """``rows`` (account_id, ``_t`` cutoff day) plus each of ``columns`` at the cutoff.

    Per column: the last non-null value per (account, day) (latest timestamp, ties by value),
    then the window engine's last such day before ``t`` (``Grid.last``) picks the value.
    ``engine.tables.events`` holds the columns; its cutoffs include those of ``rows``."""
    at = engine.sampler(rows)
    grid = at.grid([0])
    out = rows
    for col in columns:
        daily = (
            engine.tables.events.lazy()
            .filter(pl.col(col).is_not_null())
            .select(
                "account_id",
                day_of(pl.col("timestamp")).alias(DAY),
                "timestamp",
                pl.col(col).cast(pl.String),
            )
            .sort("account_id", DAY, "timestamp", col)
            .group_by("account_id", DAY)
            .agg(pl.col(col).last())
            .collect()
        )
        a = engine.enc.account_codes(daily.get_column("account_id"))
        last = grid.last(a, daily.get_column(DAY).to_numpy(), engine.n_accounts)
        probe = pl.DataFrame([rows.get_column("account_id"), last_to_series(DAY, at(last, grid))])
        got = probe.join(daily, on=["account_id", DAY], how="left", maintain_order="left")
        out = out.with_columns(got.get_column(col))
    return out
