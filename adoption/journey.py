"""The journey around each milestone: when it happens, who does it, what goes on around it.

All on accounts that are not left-truncated (``adoption.timeline``), per segment (plus "all").

``milestone_timing``
    Among accounts that reached the milestone while observed: median day since start and the
    interquartile range (linear interpolation). Descriptive: accounts observed for a short time
    can only have reached it early, so this leans early; ``adoption.time_to_value`` is the
    censoring-aware curve.
``milestone_roles``
    Which roles do it: every event of the milestone's event types, by the role of its user
    (``users.role``; "unknown" when the user is not in ``users``): n_events and share_events;
    and the role of the user whose event first reached the milestone in each account
    (n_first, share_first; ties at one timestamp broken by user_id).
``events_around_milestones``
    Which event types are over-represented just before and just after the milestone, at account
    level (all the account's users as one sequence):

    * reachers, anchored at their milestone day ``m``: "before" = days ``[m - w, m)``, "after" =
      days ``[m, m + w)`` (the milestone day itself counts as after), ``w = window_days``;
      kept when observed through ``m + w - 1``;
    * comparison = accounts that never reached it while observed, anchored at their own start +
      ``a``, ``a`` = the floor of the reachers' median milestone day in the same segment; kept
      when still active at ``a`` (``churn_day`` null or ``>= a``) and observed through
      ``a + w - 1``. Windows are clipped at day 0.

    For each event type (the milestone's own event types excluded, they define the groups):
    ``p_reachers`` = share of reachers with at least one such event in the window,
    ``p_others`` the same among the comparison accounts, ``lift = p_reachers / p_others``
    (inf when p_others is 0), with a Katz log-scale interval with 0.5 added to each count and
    group size (``confint_proportions_2indep(compare="ratio", method="log-adjusted")``). Rows where fewer
    than ``min_accounts`` reachers did the event, or either group has fewer than
    ``min_accounts`` accounts, get status "too few" and no lift. Like the landmark findings
    these are associations: what tends to happen around the milestone, not what causes it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from statsmodels.stats.proportion import confint_proportions_2indep

from adoption._common import (
    SEGMENT_KEYS,
    UNKNOWN,
    FrameLike,
    lazy,
    milestone_specs,
    require_columns,
    stack_segments,
)
from adoption.timeline import event_days, milestone_days

_KEYS = [*SEGMENT_KEYS, "milestone"]


def _untruncated(timeline: FrameLike, segments: Sequence[str]) -> pl.LazyFrame:
    segs = list(segments)
    require_columns(
        timeline,
        ["account_id", "observed_days", "churn_day", "left_truncated", *segs],
        "timeline",
    )
    return (
        lazy(timeline)
        .filter(~pl.col("left_truncated"))
        .select("account_id", "observed_days", "churn_day", *segs)
    )


def milestone_timing(
    timeline: FrameLike, milestone_days: FrameLike, *, segments: Sequence[str] = ()
) -> pl.DataFrame:
    """Per (segment_column, segment, milestone): n_accounts, n_reached, median_day, q25_day,
    q75_day (days since start among reachers; null when nobody reached it)."""
    require_columns(milestone_days, ["account_id", "milestone", "day"], "milestone_days")
    rows = lazy(milestone_days).join(_untruncated(timeline, segments), on="account_id")
    reached = pl.col("day").drop_nulls()
    return (
        stack_segments(rows, segments)
        .group_by(_KEYS)
        .agg(
            pl.len().cast(pl.Int64).alias("n_accounts"),
            pl.col("day").is_not_null().sum().cast(pl.Int64).alias("n_reached"),
            reached.cast(pl.Float64).median().alias("median_day"),
            reached.cast(pl.Float64).quantile(0.25, interpolation="linear").alias("q25_day"),
            reached.cast(pl.Float64).quantile(0.75, interpolation="linear").alias("q75_day"),
        )
        .sort(_KEYS)
        .collect()
    )


def _roles(users: FrameLike | None) -> pl.LazyFrame:
    if users is None:
        return pl.LazyFrame(schema={"user_id": pl.String, "role": pl.String})
    require_columns(users, ["user_id", "role"], "users")
    return (
        lazy(users)
        .select("user_id", pl.col("role").cast(pl.String))
        .unique("user_id", keep="first")
    )


def _milestone_events(milestones: Sequence[Any]) -> pl.LazyFrame:
    specs = milestone_specs(milestones)
    return pl.DataFrame(
        {
            "milestone": [m.name for m in specs for _ in m.events],
            "event": [e for m in specs for e in m.events],
        },
        schema={"milestone": pl.String, "event": pl.String},
    ).lazy()


def milestone_roles(
    events: FrameLike,
    timeline: FrameLike,
    milestones: Sequence[Any],
    users: FrameLike | None,
    *,
    segments: Sequence[str] = (),
) -> pl.DataFrame:
    """Per (segment_column, segment, milestone, role): n_events, share_events (of the
    milestone's events in the group), n_first, share_first (of the accounts that reached it).
    Sorted by group, then n_events descending."""
    tl = _untruncated(timeline, segments)
    ev = (
        event_days(events, timeline)
        .join(_milestone_events(milestones), on="event", how="inner")
        .join(_roles(users), on="user_id", how="left")
        .with_columns(pl.col("role").fill_null(UNKNOWN))
        .join(tl.select("account_id", *segments), on="account_id", how="inner")
    )
    first = (
        ev.sort("timestamp", "user_id")
        .group_by("account_id", "milestone")
        .agg(pl.col("role").first(), *[pl.col(c).first() for c in segments])
    )
    by_events = (
        stack_segments(ev, segments)
        .group_by(*_KEYS, "role")
        .agg(pl.len().cast(pl.Int64).alias("n_events"))
    )
    by_first = (
        stack_segments(first, segments)
        .group_by(*_KEYS, "role")
        .agg(pl.len().cast(pl.Int64).alias("n_first"))
    )
    return (
        by_events.join(by_first, on=[*_KEYS, "role"], how="full", coalesce=True)
        .with_columns(pl.col("n_events").fill_null(0), pl.col("n_first").fill_null(0))
        .with_columns(
            (pl.col("n_events") / pl.col("n_events").sum().over(_KEYS)).alias("share_events"),
            (pl.col("n_first") / pl.col("n_first").sum().over(_KEYS)).alias("share_first"),
        )
        .select(*_KEYS, "role", "n_events", "share_events", "n_first", "share_first")
        .sort(*_KEYS, "n_events", "role", descending=[False, False, False, True, False])
        .collect()
    )


def events_around_milestones(
    events: FrameLike,
    timeline: FrameLike,
    milestones: Sequence[Any],
    *,
    segments: Sequence[str] = (),
    window_days: int = 7,
    min_accounts: int = 5,
    conf_level: float = 0.95,
    exclude_events: Sequence[str] = (),
) -> pl.DataFrame:
    """Over-represented event types before/after each milestone (module docstring).

    Returns per (segment_column, segment, milestone, side ("before" | "after"), event):
    anchor_day (the comparison anchor ``a``), n_reachers, x_reachers, p_reachers, n_others,
    x_others, p_others, lift, lift_low, lift_high, status ("ok" | "too few"). Sorted by group,
    side, then lift_low descending."""
    if window_days < 1:
        raise ValueError(f"window_days: must be >= 1, got {window_days}")
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level: must be in (0, 1), got {conf_level}")
    segs = list(segments)
    w = int(window_days)
    tl = _untruncated(timeline, segs)
    md = milestone_days(events, timeline, milestones).lazy()
    timing = milestone_timing(timeline, md, segments=segs).lazy()
    anchors = timing.select(*_KEYS, pl.col("median_day").floor().cast(pl.Int64).alias("anchor_day"))
    rows = (
        stack_segments(md.join(tl, on="account_id", how="inner"), segs)
        .join(anchors, on=_KEYS, how="inner")
        .filter(pl.col("anchor_day").is_not_null())
    )
    reacher = pl.col("day").is_not_null()
    anchor = pl.when(reacher).then(pl.col("day")).otherwise(pl.col("anchor_day"))
    alive = pl.col("churn_day").is_null() | (pl.col("churn_day") >= pl.col("anchor_day"))
    eligible = (
        rows.with_columns(anchor.alias("_a"), reacher.alias("_reacher"))
        .filter((pl.col("observed_days") >= pl.col("_a") + w) & (pl.col("_reacher") | alive))
        .select(*_KEYS, "account_id", "anchor_day", "_a", "_reacher")
    )
    sizes = eligible.group_by(*_KEYS, "anchor_day").agg(
        pl.col("_reacher").sum().cast(pl.Int64).alias("n_reachers"),
        (~pl.col("_reacher")).sum().cast(pl.Int64).alias("n_others"),
    )
    own = _milestone_events(milestones)
    daily = (
        event_days(events, timeline)
        .filter(~pl.col("event").is_in(list(exclude_events)))
        .select("account_id", "event", "day")
        .unique()
    )
    seen = (
        eligible.join(daily, on="account_id", how="inner")
        .filter(pl.col("day").is_between(pl.col("_a") - w, pl.col("_a") + w, closed="left"))
        .join(own, on=["milestone", "event"], how="anti")
        .with_columns(
            pl.when(pl.col("day") < pl.col("_a"))
            .then(pl.lit("before"))
            .otherwise(pl.lit("after"))
            .alias("side")
        )
        .select(*_KEYS, "side", "event", "account_id", "_reacher")
        .unique()
        .group_by(*_KEYS, "side", "event")
        .agg(
            pl.col("_reacher").sum().cast(pl.Int64).alias("x_reachers"),
            (~pl.col("_reacher")).sum().cast(pl.Int64).alias("x_others"),
        )
    )
    df = (
        seen.join(sizes, on=_KEYS, how="inner")
        .with_columns(
            (pl.col("x_reachers") / pl.col("n_reachers")).alias("p_reachers"),
            (pl.col("x_others") / pl.col("n_others")).alias("p_others"),
        )
        .collect()
    )
    ok = (
        (df["x_reachers"] >= min_accounts)
        & (df["n_reachers"] >= min_accounts)
        & (df["n_others"] >= min_accounts)
    ).to_numpy()
    lo = np.full(df.height, np.nan)
    hi = np.full(df.height, np.nan)
    lift = np.full(df.height, np.nan)
    idx = np.flatnonzero(ok)
    if idx.size:
        a = df["x_reachers"].to_numpy()[idx].astype(np.float64)
        na = df["n_reachers"].to_numpy()[idx].astype(np.float64)
        b = df["x_others"].to_numpy()[idx].astype(np.float64)
        nb = df["n_others"].to_numpy()[idx].astype(np.float64)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo[idx], hi[idx] = confint_proportions_2indep(
                a, na, b, nb, compare="ratio", method="log-adjusted", alpha=1.0 - conf_level
            )
            lift[idx] = np.where(b > 0, (a / na) / np.where(b > 0, b / nb, 1.0), np.inf)
    return (
        df.with_columns(
            pl.Series("lift", lift, nan_to_null=True),
            pl.Series("lift_low", lo, nan_to_null=True),
            pl.Series("lift_high", hi, nan_to_null=True),
            pl.Series("status", np.where(ok, "ok", "too few"), dtype=pl.String),
        )
        .select(
            *_KEYS,
            "side",
            "event",
            "anchor_day",
            "n_reachers",
            "x_reachers",
            "p_reachers",
            "n_others",
            "x_others",
            "p_others",
            "lift",
            "lift_low",
            "lift_high",
            "status",
        )
        .sort(
            *_KEYS,
            pl.col("side") == "after",
            pl.col("lift_low").fill_null(-1.0),
            "event",
            descending=[False, False, False, False, True, False],
        )
    )
