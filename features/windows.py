"""Point-in-time window arithmetic shared by every indicator family and the labels.

Why this module exists: computing 52 cutoffs with one group-by per cutoff re-reads the events 52
times. Instead the events are aggregated ONCE to day level (small tables), and every window
``[a, b)`` is answered from values *sampled at window boundaries*:

* sums: ``S[a, b) = C(b) - C(a)`` where ``C(b)`` is the cumulative sum over days ``< b``;
* "anything in ``[a, b)``": the last day with activity strictly before ``b`` is ``>= a``.

Both samples come from one backward ``join_asof`` with ``allow_exact_matches=False`` (strict
``day < b``) of (entity, boundary) rows against per-entity day rows. Boundaries are deduplicated
across cutoffs (with weekly cutoffs, ``t - 7`` is the previous cutoff), so the cost grows with
the number of distinct boundary days, not cutoffs x windows. The method works for any cutoff
schedule.

Days are integers: days since 1970-01-01 (UTC). A cutoff date ``t`` is 00:00 UTC, so an event
with ``timestamp < t`` is exactly an event whose UTC day index is ``< day(t)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import polars as pl

DAY = "day"
B = "b"  # boundary day column (exclusive end of a window), Int32 days since epoch
T = "_t"  # the cutoff as a day index on feature rows


def day_of(expr: pl.Expr) -> pl.Expr:
    """UTC day index (Int32 days since 1970-01-01) of a Datetime/Date expression."""
    return expr.dt.date().cast(pl.Int32)


def date_to_day(d: date) -> int:
    """Day index of a calendar date (00:00 UTC)."""
    return (d - date(1970, 1, 1)).days


def boundary_days(cutoff_days: Iterable[int], offsets: Iterable[int]) -> pl.Series:
    """Sorted distinct boundary days ``t - o`` for every cutoff day ``t`` and offset ``o``.

    Negative offsets are boundaries after the cutoff (used by labels only).
    """
    ts = sorted(set(cutoff_days))
    offs = sorted(set(offsets))
    return pl.Series(B, sorted({t - o for t in ts for o in offs}), dtype=pl.Int32)


def sample_before(
    day_rows: pl.DataFrame,
    keys: Sequence[str],
    value_cols: Sequence[str],
    boundaries: pl.Series,
    entities: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Value of ``value_cols`` on each entity's last day strictly before each boundary.

    ``day_rows``: one row per (keys, ``day``) holding the columns to sample (e.g. cumulative
    sums, or the day itself). ``entities``: distinct key rows to sample (default: those present
    in ``day_rows``), crossed with every boundary. Entities with no day before a boundary get
    nulls. Returns ``keys + [b] + value_cols``.
    """
    keys = list(keys)
    if entities is None:
        entities = day_rows.select(keys).unique()
    grid = entities.join(boundaries.to_frame(), how="cross").sort(B)
    right = day_rows.select([*keys, DAY, *value_cols]).sort(DAY)
    out = grid.join_asof(
        right,
        left_on=B,
        right_on=DAY,
        by=keys,
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    return out.select([*keys, B, *value_cols])


def cumulative_at(
    day_rows: pl.DataFrame,
    keys: Sequence[str],
    value_cols: Sequence[str],
    boundaries: pl.Series,
    entities: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Cumulative sums of ``value_cols`` over days ``< b`` per entity, for each boundary ``b``.

    Missing history counts as 0, so ``C(b) - C(a)`` is the exact sum over ``[a, b)``.
    """
    keys = list(keys)
    cum = day_rows.sort([*keys, DAY]).with_columns(
        [pl.col(c).cum_sum().over(keys) for c in value_cols]
    )
    out = sample_before(cum, keys, value_cols, boundaries, entities)
    return out.with_columns([pl.col(c).fill_null(0) for c in value_cols])


def at_offset(
    rows: pl.DataFrame,
    table: pl.DataFrame,
    offset: int,
    cols: Sequence[str],
    suffix: str,
    key: str = "account_id",
) -> pl.DataFrame:
    """Join ``table`` (``key``, ``b``, cols) onto feature rows at boundary ``t - offset``.

    The sampled columns are renamed ``<col><suffix>``; rows without a sample keep nulls.
    """
    right = table.select([pl.col(key), pl.col(B), *[pl.col(c).alias(f"{c}{suffix}") for c in cols]])
    return (
        rows.with_columns((pl.col(T) - offset).cast(pl.Int32).alias("_b"))
        .join(
            right,
            left_on=[key, "_b"],
            right_on=[key, B],
            how="left",
            maintain_order="left",
        )
        .drop("_b")
    )
