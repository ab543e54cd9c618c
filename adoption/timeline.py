"""Each account's clock: start, how long it was observed, when it churned, whether it is truncated.

Every analysis in ``adoption`` measures time in **days since start**: day ``k`` is the UTC
calendar day ``start_date + k`` (day 0 = the account's start day), the same day arithmetic as
``features.milestones``. "Within D days" always means days ``0 .. D-1`` (``day < D``).

Start
    ``accounts.created_at``. Without an accounts table, the account's first event (then an
    account whose first event falls on the log's first day may have started earlier and is
    marked left-truncated, because nothing tells it apart from one that did).
Left truncation
    An account whose start day is before the log's first day (``log_start``, default the
    earliest event) started before the log: its early days are missing, so its "first D days"
    are not observed. ``left_truncated`` marks it; the analyses exclude such accounts.
Observation
    ``observed_until`` is the exclusive end of the log (``ingest.tables.Tables.observed_until``;
    default: the last event + 1 µs). ``observed_days`` is how many days since start are
    (at least partly) observed: ``date(observed_until - 1 µs) - start_date + 1``. Accounts that
    start on or after ``observed_until`` are dropped; events at or after it are ignored.
Churn (``churn_day``: days since start, null = not churned while observed)
    * ``"churned_at"``: the day of ``accounts.churned_at`` (when before ``observed_until``).
    * ``"inactivity"``: no event at all during the last ``inactive_days`` observed days; the
      account is then churned on the day after its last event (``last_event_day + 1``; day 0
      when it has no event). An account that goes quiet and comes back is not churned. This
      uses the whole observed log (a look-back from its end), which is fine for the
      retrospective analyses here; ``adoption.progress`` rebuilds the timeline at its cutoff.
    * ``"either"``: the earlier of the two.
    * ``"auto"`` (default): ``"churned_at"`` when the accounts table has that column, else
      ``"inactivity"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl

from adoption._common import (
    FrameLike,
    check_segments,
    collect,
    lazy,
    milestone_specs,
    require_columns,
)

ChurnRule = Literal["auto", "churned_at", "inactivity", "either"]
_US = timedelta(microseconds=1)


def _days_between(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    """Whole UTC calendar days from ``earlier`` (a Date) to ``later`` (a Date)."""
    return (later - earlier).dt.total_days().cast(pl.Int64)


def account_timeline(
    events: FrameLike,
    accounts: FrameLike | None = None,
    *,
    observed_until: datetime | None = None,
    segments: Sequence[str] = (),
    churn: ChurnRule = "auto",
    inactive_days: int = 30,
    log_start: datetime | None = None,
) -> pl.DataFrame:
    """One row per account: its clock (see the module docstring for every rule).

    Parameters: canonical ``events`` (account_id, timestamp used) and ``accounts`` (account_id,
    created_at, optional churned_at, the ``segments`` columns); ``observed_until`` exclusive end
    of the log (UTC); ``churn`` and ``inactive_days`` the churn rule; ``log_start`` the first
    instant of the log (default: the earliest event).

    Returns columns: account_id, start (Datetime UTC), start_date (Date), observed_days (Int64 >= 1),
    first_event_day, last_event_day (Int64, null without events), churned_at_day (from
    churned_at), inactive_day (from the inactivity rule), churn_day (the chosen rule),
    left_truncated (bool), then the segment columns (String). Sorted by account_id.
    Events of accounts missing from ``accounts`` are ignored.
    """
    if inactive_days < 1:
        raise ValueError(f"inactive_days: must be >= 1, got {inactive_days}")
    if churn not in ("auto", "churned_at", "inactivity", "either"):
        raise ValueError(
            f"churn: expected 'auto', 'churned_at', 'inactivity' or 'either', got {churn!r}"
        )
    segs = check_segments(segments)
    require_columns(events, ["account_id", "timestamp"], "events")
    ev = lazy(events).select("account_id", "timestamp")
    bounds = ev.select(
        pl.col("timestamp").min().alias("first"), pl.col("timestamp").max().alias("last")
    ).collect()
    first_ts, last_ts = bounds.item(0, "first"), bounds.item(0, "last")
    if observed_until is None:
        if last_ts is None:
            raise ValueError("observed_until: required when events is empty")
        observed_until = last_ts + _US
    if log_start is None:
        log_start = first_ts if first_ts is not None else observed_until
    assert observed_until is not None and log_start is not None
    end_date = (observed_until - _US).date()
    log_start_date = log_start.date()

    per_account = (
        ev.filter(pl.col("timestamp") < observed_until)
        .group_by("account_id")
        .agg(
            pl.col("timestamp").min().alias("_first_ts"),
            pl.col("timestamp").max().alias("_last_ts"),
        )
    )
    has_churned_at = False
    if accounts is not None:
        require_columns(accounts, ["account_id", "created_at", *segs], "accounts")
        acc = lazy(accounts)
        has_churned_at = "churned_at" in acc.collect_schema().names()
        churned = (
            pl.col("churned_at") if has_churned_at else pl.lit(None, dtype=pl.Datetime("us", "UTC"))
        )
        base = acc.select(
            "account_id",
            pl.col("created_at").alias("start"),
            churned.alias("_churned_at"),
            *[pl.col(s).cast(pl.String) for s in segs],
        ).join(per_account, on="account_id", how="left")
        truncated = pl.col("start").dt.date() < pl.lit(log_start_date)
    else:
        if segs:
            raise ValueError(f"segments: {segs} need an accounts table, got accounts=None")
        base = per_account.with_columns(
            pl.col("_first_ts").alias("start"),
            pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("_churned_at"),
        )
        truncated = pl.col("start").dt.date() <= pl.lit(log_start_date)
    if churn == "auto":
        churn = "churned_at" if has_churned_at else "inactivity"
    if churn in ("churned_at", "either") and not has_churned_at:
        raise ValueError(f"churn: {churn!r} needs accounts.churned_at, which is absent")

    start_date = pl.col("start").dt.date()
    days_since = {
        "observed_days": _days_between(pl.lit(end_date), start_date) + 1,
        "first_event_day": _days_between(pl.col("_first_ts").dt.date(), start_date).clip(0),
        "last_event_day": _days_between(pl.col("_last_ts").dt.date(), start_date).clip(0),
        "churned_at_day": pl.when(pl.col("_churned_at") < observed_until).then(
            _days_between(pl.col("_churned_at").dt.date(), start_date).clip(0)
        ),
    }
    out = base.with_columns(start_date.alias("start_date"), **days_since).filter(
        pl.col("start") < observed_until
    )
    quiet_since = (
        pl.when(pl.col("last_event_day").is_null())
        .then(pl.lit(0, dtype=pl.Int64))
        .otherwise(pl.col("last_event_day") + 1)
    )
    quiet_days = pl.col("observed_days") - quiet_since
    out = out.with_columns(
        pl.when(quiet_days >= inactive_days).then(quiet_since).alias("inactive_day"),
        truncated.alias("left_truncated"),
    )
    churn_day = {
        "churned_at": pl.col("churned_at_day"),
        "inactivity": pl.col("inactive_day"),
        "either": pl.min_horizontal("churned_at_day", "inactive_day"),
    }[churn]
    return (
        out.with_columns(churn_day.alias("churn_day"))
        .select(
            "account_id",
            "start",
            "start_date",
            "observed_days",
            "first_event_day",
            "last_event_day",
            "churned_at_day",
            "inactive_day",
            "churn_day",
            "left_truncated",
            *segs,
        )
        .sort("account_id")
        .collect()
    )


def event_days(events: FrameLike, timeline: FrameLike) -> pl.LazyFrame:
    """Events with their day since the account's start: account_id, user_id, event, timestamp,
    day (Int64).

    Only accounts in ``timeline``; events before the start count as day 0 (clock skew between
    the CRM and the product log); events on or after the end of observation are dropped
    (``day < observed_days`` and, within the last day, whatever the log holds)."""
    require_columns(events, ["account_id", "user_id", "event", "timestamp"], "events")
    tl = lazy(timeline).select("account_id", "start_date", "observed_days")
    return (
        lazy(events)
        .select("account_id", "user_id", "event", "timestamp")
        .join(tl, on="account_id", how="inner")
        .with_columns(
            _days_between(pl.col("timestamp").dt.date(), pl.col("start_date")).clip(0).alias("day")
        )
        .filter(pl.col("day") < pl.col("observed_days"))
        .drop("start_date", "observed_days")
    )


def milestone_days(
    events: FrameLike, timeline: FrameLike, milestones: Sequence[Any]
) -> pl.DataFrame:
    """First day since start on which each account did any event of each milestone.

    ``milestones``: MilestoneConfig-like objects or dicts (name, events). Returns one row per
    (account in ``timeline``, milestone): account_id, milestone, day (Int64, null when not
    reached while observed). Sorted by milestone, account_id."""
    specs = milestone_specs(milestones)
    spec = pl.DataFrame(
        {
            "milestone": [m.name for m in specs for _ in m.events],
            "event": [e for m in specs for e in m.events],
        },
        schema={"milestone": pl.String, "event": pl.String},
    ).lazy()
    first = (
        event_days(events, timeline)
        .join(spec, on="event", how="inner")
        .group_by("account_id", "milestone")
        .agg(pl.col("day").min())
    )
    names = pl.DataFrame({"milestone": [m.name for m in specs]}, schema={"milestone": pl.String})
    return (
        lazy(timeline)
        .select("account_id")
        .join(names.lazy(), how="cross")
        .join(first, on=["account_id", "milestone"], how="left")
        .sort("milestone", "account_id")
        .collect()
    )


def retention_outcome(
    events: FrameLike,
    timeline: FrameLike,
    *,
    landmark_days: int,
    horizon_days: int,
    window_days: int,
    usage_events: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Success label "still active at the horizon", one row per account in ``timeline``.

    With ``L = landmark_days``, ``H = horizon_days``, ``w = window_days`` and ``E = L + H``:
    ``outcome = 1`` when the account has at least one event (of ``usage_events``, default any)
    on days ``[E - w, E)`` since start and was not churned by ``accounts.churned_at`` before
    day ``E`` (``churned_at_day`` null or ``>= E``); ``0`` otherwise; null when day ``E - 1``
    is not observed (``observed_days < E``), i.e. the outcome is not known yet. Choose
    ``L`` at least the largest landmark day analysed so the outcome lies after the landmark.

    Returns account_id, outcome (Int8, 1/0/null)."""
    for name, v in (("landmark_days", landmark_days), ("horizon_days", horizon_days)):
        if v < 0:
            raise ValueError(f"{name}: must be >= 0, got {v}")
    end = landmark_days + horizon_days
    if not 1 <= window_days <= end:
        raise ValueError(
            f"window_days: must be in [1, {end}] (landmark + horizon), got {window_days}"
        )
    ed = event_days(events, timeline)
    if usage_events is not None:
        ed = ed.filter(pl.col("event").is_in(list(usage_events)))
    active = (
        ed.filter(pl.col("day").is_between(end - window_days, end, closed="left"))
        .select("account_id")
        .unique()
        .with_columns(pl.lit(True).alias("_active"))
    )
    tl = lazy(timeline).select("account_id", "observed_days", "churned_at_day")
    success = pl.col("_active").fill_null(False) & (
        pl.col("churned_at_day").is_null() | (pl.col("churned_at_day") >= end)
    )
    return collect(
        tl.join(active, on="account_id", how="left")
        .select(
            "account_id",
            pl.when(pl.col("observed_days") >= end)
            .then(success.cast(pl.Int8))
            .otherwise(None)
            .alias("outcome"),
        )
        .sort("account_id")
    )
