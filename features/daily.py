"""Events aggregated once to day level: the only full passes over the raw events.

Everything downstream (features for every cutoff, labels, eligibility) reads these small tables:

* ``account_event_days``: (account_id, event, day) -> n events. One streaming group-by.
* ``user_days``: (account_id, user_id, day) for days with at least one *usage* event.

"Usage" is a configured event set: the listed events, or when the list is empty every event not
in the exclusion list (so support tickets and errors never count as use of the product).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from features.windows import DAY, B, day_of, sample_before


def usage_expr(include: Sequence[str], exclude: Sequence[str], col: str = "event") -> pl.Expr:
    """Boolean expression: is this event a use of the product?

    ``include`` non-empty: exactly those events; otherwise every event not in ``exclude``.
    """
    if include:
        return pl.col(col).is_in(list(include))
    return ~pl.col(col).is_in(list(exclude))


def account_event_days(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Count events per (account_id, event, UTC day). One pass over the raw events."""
    return (
        events.lazy()
        .group_by("account_id", "event", day_of(pl.col("timestamp")).alias(DAY))
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .collect(engine="streaming")
    )


def user_days(events: pl.DataFrame | pl.LazyFrame, is_usage: pl.Expr) -> pl.DataFrame:
    """Distinct (account_id, user_id, UTC day) with at least one usage event."""
    return (
        events.lazy()
        .filter(is_usage)
        .select("account_id", "user_id", day_of(pl.col("timestamp")).alias(DAY))
        .unique()
        .collect(engine="streaming")
    )


def active_user_counts(
    udays: pl.DataFrame,
    boundaries: pl.Series,
    widths: Sequence[int],
    roles: pl.DataFrame | None = None,
    role_names: Sequence[str] = (),
) -> pl.DataFrame:
    """Distinct active users per account in ``[b - w, b)`` for every boundary ``b`` and width ``w``.

    A user is active in ``[b - w, b)`` iff their last usage day before ``b`` is ``>= b - w``:
    one asof join per (user, boundary) answers every width at once. ``roles`` (user_id, role)
    adds ``au_<role>_<w>`` counts for each name in ``role_names``. Returns
    ``account_id, b, au_<w>..., au_<role>_<w>...`` (UInt32 counts, one row per account x b).
    """
    last = udays.with_columns(pl.col(DAY).alias("last"))
    s = sample_before(last, ["account_id", "user_id"], ["last"], boundaries)
    aggs = [(pl.col("last") >= pl.col(B) - w).sum().alias(f"au_{w}") for w in sorted(set(widths))]
    if roles is not None and role_names:
        s = s.join(roles.select("user_id", "role").unique("user_id"), on="user_id", how="left")
        aggs += [
            ((pl.col("last") >= pl.col(B) - w) & (pl.col("role") == r)).sum().alias(f"au_{r}_{w}")
            for r in role_names
            for w in sorted(set(widths))
        ]
    return s.group_by("account_id", B).agg(aggs)
