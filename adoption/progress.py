"""Where each account stands on its journey at a cutoff, for nudges. Point in time.

Everything here is computed **as of a cutoff t** from events with ``timestamp < t`` and
accounts created before ``t`` only: the timeline is rebuilt with ``observed_until = t``
(``adoption.timeline.account_timeline``), so churn (``accounts.churned_at < t``, or the
inactivity rule applied to the days before ``t``), milestones reached and the account's age use
nothing at or after ``t``. Accounts churned before ``t`` are left out (nobody to nudge).

The reference curve is an input, not estimated here: pass ``curve`` = ``time_to_value(...)
.curve`` estimated by the caller on **earlier** data, e.g. accounts that started before
``t - horizon`` with events before ``t`` (or the curve from the previous scoring run). Estimating
it from the same accounts that are being scored would let their own future leak into their
lateness. ``curve`` needs segment_column, segment, milestone, day, cif.

``milestone_progress`` (one row per account and milestone):

* reached / day_reached: the milestone's first event before ``t`` (days since start);
* order: milestones ordered by the segment's median reach day **among reachers** (the first day
  the curve reaches half its final level, ``cif >= final_cif / 2``; defined whenever anyone
  reached it, unlike the overall median), then by name; milestones nobody in the curve
  reached come last;
* late_percentile (null when reached): the share of the segment's eventual reachers who had
  reached it before the account's current age ``age_days`` = ``CIF(age_days - 1) / final_cif``.
  0.8 means 80 % of the accounts that get there had got there at this age: it is late;
* is_next: the first milestone in that order not yet reached.

The curve used is the account's segment's (``segment`` column) when it has that milestone,
else the "all" curve (``curve_segment`` says which).

``progress_summary``: one row per account: "k of n steps", the reached milestones in order, the
next milestone with its median day and the account's late_percentile for it.

``behaviour_counts``: how often each active account has done each behaviour of the map's
families before ``t`` (events of an event type, distinct users, distinct roles, milestones
reached): with a finding's threshold N, "has done so yet" is ``count >= N``.

``peer_gaps``: for each account, key events that at least ``min_share`` of its segment peers
(the other active accounts of its segment, at least ``min_peers`` of them) did in the
``lookback_days`` before ``t`` (``[t - lookback, t)``) and that it has not done (``absent="ever"``:
never before ``t``; ``absent="window"``: not in the same window).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl

from adoption._common import (
    ALL,
    UNKNOWN,
    FrameLike,
    humanise,
    lazy,
    milestone_specs,
    percent,
    require_columns,
)
from adoption.candidates import occurrences
from adoption.timeline import ChurnRule, account_timeline, event_days, milestone_days


def _active_at(
    events: FrameLike,
    accounts: FrameLike | None,
    cutoff: datetime,
    segment: str | None,
    churn: ChurnRule,
    inactive_days: int,
) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """(events before the cutoff, timeline at the cutoff of the accounts active there) with a
    ``segment`` column (the account's value, or "all")."""
    if cutoff.tzinfo is None:
        raise ValueError(f"cutoff: must be timezone-aware (UTC), got {cutoff!r}")
    ev = lazy(events).filter(pl.col("timestamp") < cutoff)
    acc = None if accounts is None else lazy(accounts).filter(pl.col("created_at") < cutoff)
    segs = [segment] if segment else []
    tl = account_timeline(
        ev,
        acc,
        observed_until=cutoff,
        segments=segs,
        churn=churn,
        inactive_days=inactive_days,
    ).filter(pl.col("churn_day").is_null())
    seg = pl.col(segment).fill_null(UNKNOWN) if segment else pl.lit(ALL)
    return ev, tl.with_columns(seg.alias("segment"))


def _reference(curve: FrameLike, segment: str | None) -> pl.DataFrame:
    """Per (segment_column, segment, milestone) of the usable curves: final_cif, median_day."""
    require_columns(curve, ["segment_column", "segment", "milestone", "day", "cif"], "curve")
    cols = [ALL, segment] if segment else [ALL]
    c = lazy(curve).filter(pl.col("segment_column").is_in(cols) & pl.col("cif").is_not_null())
    final = c.group_by("segment_column", "segment", "milestone").agg(
        pl.col("cif").max().alias("final_cif")
    )
    return (
        c.join(final, on=["segment_column", "segment", "milestone"])
        .filter(pl.col("final_cif") > 0)
        .group_by("segment_column", "segment", "milestone", "final_cif")
        .agg(
            pl.col("day").filter(pl.col("cif") >= pl.col("final_cif") / 2).min().alias("median_day")
        )
        .collect()
    )


def milestone_progress(
    events: FrameLike,
    accounts: FrameLike | None,
    milestones: Sequence[Any],
    curve: FrameLike,
    *,
    cutoff: datetime,
    segment: str | None = None,
    churn: ChurnRule = "auto",
    inactive_days: int = 30,
) -> pl.DataFrame:
    """Per (active account at ``cutoff``, milestone): account_id, segment, age_days, milestone,
    order (1 = earliest in the journey), reached, day_reached, median_day, curve_segment,
    late_percentile, is_next (module docstring). Sorted by account_id, order."""
    specs = milestone_specs(milestones)
    ev, tl = _active_at(events, accounts, cutoff, segment, churn, inactive_days)
    md = milestone_days(ev, tl, specs)
    ref = _reference(curve, segment)
    seg_ref = ref.filter(pl.col("segment_column") != ALL) if segment else ref.clear()
    all_ref = ref.filter(pl.col("segment_column") == ALL).drop("segment_column", "segment")
    rows = (
        md.join(tl.select("account_id", "segment", "observed_days"), on="account_id")
        .rename({"day": "day_reached", "observed_days": "age_days"})
        .join(
            seg_ref.drop("segment_column"),
            on=["segment", "milestone"],
            how="left",
        )
        .join(all_ref, on="milestone", how="left", suffix="_all")
        .with_columns(
            pl.when(pl.col("final_cif").is_not_null())
            .then(pl.col("segment"))
            .when(pl.col("final_cif_all").is_not_null())
            .then(pl.lit(ALL))
            .alias("curve_segment"),
            pl.coalesce("final_cif", "final_cif_all").alias("final_cif"),
            pl.coalesce("median_day", "median_day_all").alias("median_day"),
        )
        .drop("final_cif_all", "median_day_all")
        .with_columns(
            pl.when(pl.col("curve_segment") == pl.col("segment"))
            .then(pl.lit(segment or ALL))
            .otherwise(pl.lit(ALL))
            .alias("_ref_column")
        )
    )
    # CIF(age - 1) from the chosen curve: step function, 0 before its first day, final after.
    cdf = (
        lazy(curve)
        .filter(pl.col("cif").is_not_null())
        .select(
            pl.col("segment_column").alias("_ref_column"),
            pl.col("segment").alias("curve_segment"),
            "milestone",
            pl.col("day").alias("_cday"),
            pl.col("cif").alias("_cif"),
        )
        .collect()
        .sort("_cday")
    )
    probe = rows.with_columns((pl.col("age_days") - 1).alias("_probe")).sort("_probe")
    got = probe.join_asof(
        cdf,
        left_on="_probe",
        right_on="_cday",
        by=["_ref_column", "curve_segment", "milestone"],
        strategy="backward",
        check_sortedness=False,
    )
    reached = pl.col("day_reached").is_not_null()
    late = (
        pl.when(reached | pl.col("final_cif").is_null())
        .then(None)
        .otherwise(pl.col("_cif").fill_null(0.0) / pl.col("final_cif"))
    )
    order = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("account_id")
    out = got.sort("account_id", "median_day", "milestone", nulls_last=True).with_columns(
        reached.alias("reached"), late.clip(0.0, 1.0).alias("late_percentile"), order.alias("order")
    )
    first_open = pl.col("order").filter(~pl.col("reached")).min().over("account_id")
    return (
        out.with_columns((~pl.col("reached") & (pl.col("order") == first_open)).alias("is_next"))
        .select(
            "account_id",
            "segment",
            "age_days",
            "milestone",
            "order",
            "reached",
            "day_reached",
            "median_day",
            "curve_segment",
            "late_percentile",
            "is_next",
        )
        .sort("account_id", "order")
    )


def progress_summary(progress: FrameLike) -> pl.DataFrame:
    """One row per account from ``milestone_progress``: account_id, segment, age_days,
    n_reached, n_milestones, progress_label ("k of n steps"), reached_milestones (list, in
    journey order), next_milestone, next_median_day, next_late_percentile (nulls when every
    milestone is reached)."""
    nxt = pl.col("is_next")
    return (
        lazy(progress)
        .sort("account_id", "order")
        .group_by("account_id", maintain_order=True)
        .agg(
            pl.col("segment").first(),
            pl.col("age_days").first(),
            pl.col("reached").sum().cast(pl.Int64).alias("n_reached"),
            pl.len().cast(pl.Int64).alias("n_milestones"),
            pl.col("milestone").filter(pl.col("reached")).alias("reached_milestones"),
            pl.col("milestone").filter(nxt).first().alias("next_milestone"),
            pl.col("median_day").filter(nxt).first().alias("next_median_day"),
            pl.col("late_percentile").filter(nxt).first().alias("next_late_percentile"),
        )
        .with_columns(
            pl.format("{} of {} steps", "n_reached", "n_milestones").alias("progress_label")
        )
        .select(
            "account_id",
            "segment",
            "age_days",
            "n_reached",
            "n_milestones",
            "progress_label",
            "reached_milestones",
            "next_milestone",
            "next_median_day",
            "next_late_percentile",
        )
        .collect()
    )


def peer_gaps(
    events: FrameLike,
    accounts: FrameLike | None,
    *,
    cutoff: datetime,
    segment: str | None = None,
    key_events: Sequence[str] | None = None,
    lookback_days: int = 14,
    min_share: float = 0.5,
    min_peers: int = 5,
    absent: Literal["ever", "window"] = "ever",
    churn: ChurnRule = "auto",
    inactive_days: int = 30,
) -> pl.DataFrame:
    """What its peers did recently that it has not (module docstring).

    Returns account_id, segment, event, n_peers, n_peers_did, peer_share (= n_peers_did /
    n_peers; the account itself is never among n_peers_did since it did not do the event in the
    window), label. Sorted by account_id, peer_share descending, event."""
    if lookback_days < 1:
        raise ValueError(f"lookback_days: must be >= 1, got {lookback_days}")
    if not 0.0 < min_share <= 1.0:
        raise ValueError(f"min_share: must be in (0, 1], got {min_share}")
    if absent not in ("ever", "window"):
        raise ValueError(f"absent: expected 'ever' or 'window', got {absent!r}")
    ev, tl = _active_at(events, accounts, cutoff, segment, churn, inactive_days)
    since = cutoff - timedelta(days=lookback_days)
    done = event_days(ev, tl).select("account_id", "event", "timestamp")
    if key_events is not None:
        done = done.filter(pl.col("event").is_in(list(key_events)))
    recent = done.filter(pl.col("timestamp") >= since).select("account_id", "event").unique()
    before = done.select("account_id", "event").unique() if absent == "ever" else recent
    members = tl.lazy().select("account_id", "segment")
    sizes = members.group_by("segment").agg(pl.len().cast(pl.Int64).alias("_n_seg"))
    popular = (
        recent.join(members, on="account_id")
        .group_by("segment", "event")
        .agg(pl.len().cast(pl.Int64).alias("n_peers_did"))
        .join(sizes, on="segment")
    )
    when_text = "in the last {} days; this account {}".format(
        lookback_days, "never has" if absent == "ever" else "has not in that time"
    )
    return (
        members.join(popular, on="segment")
        .join(before, on=["account_id", "event"], how="anti")
        .with_columns((pl.col("_n_seg") - 1).alias("n_peers"))
        .with_columns((pl.col("n_peers_did") / pl.col("n_peers")).alias("peer_share"))
        .filter((pl.col("n_peers") >= min_peers) & (pl.col("peer_share") >= min_share))
        .with_columns(
            pl.format(
                "{} of similar accounts did {} {}",
                percent(pl.col("peer_share")),
                humanise(pl.col("event")),
                pl.lit(when_text),
            ).alias("label")
        )
        .select("account_id", "segment", "event", "n_peers", "n_peers_did", "peer_share", "label")
        .sort("account_id", "peer_share", "event", descending=[False, True, False])
        .collect()
    )


def behaviour_counts(
    events: FrameLike,
    accounts: FrameLike | None,
    users: FrameLike | None = None,
    *,
    cutoff: datetime,
    segment: str | None = None,
    milestones: Sequence[Any] = (),
    churn: ChurnRule = "auto",
    inactive_days: int = 30,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(members, counts) at ``cutoff``: members = account_id, segment of every active account;
    counts = account_id, kind, item, count (Int64) over its whole history before ``cutoff``, for
    the candidate families of ``adoption.candidates`` (``event``: occurrences of the event type;
    ``users``: distinct users; ``roles``: distinct roles of active users, needs ``users``;
    ``milestone``: 1 when reached). A behaviour an account never did has no row (count 0)."""
    ev, tl = _active_at(events, accounts, cutoff, segment, churn, inactive_days)
    occ = occurrences(event_days(ev, tl), users, milestones, None, ())
    counts = (
        occ.group_by("account_id", "kind", "item")
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .sort("account_id", "kind", "item")
        .collect()
    )
    return tl.select("account_id", "segment"), counts
