"""Time to value: how fast accounts reach each milestone, with churn as a competing risk.

For each milestone and segment (plus "all") every account is in one race (days since start,
``adoption.timeline``):

* reaches the milestone on day ``k`` first -> event 1 at time ``k`` (a milestone on the churn
  day itself counts as reached: the account was there that day);
* churns (``churn_day``) before reaching it -> event 2 (competing risk) at the churn day;
* neither while observed -> censored (event 0) at its last observed day (``observed_days - 1``).

The cumulative incidence ``CIF(t)`` = P(reached the milestone on day <= t, before churning) is
the Aalen–Johansen estimate from ``sksurv.nonparametric.cumulative_incidence_competing_risks``
with pointwise log-log confidence bands (Aalen variance). 1 - Kaplan–Meier would overstate the
share reached, because it pretends churned accounts could still reach it later. Two edge cases
where sksurv's function needs every risk present: with no churn in a group the estimator is
exactly 1 - Kaplan–Meier (``kaplan_meier_estimator`` with log-log bands, Greenwood variance);
with nobody reaching the milestone the CIF is 0 and no band is reported.

Left truncation: accounts that started before the log are **excluded by default** and counted
(``n_left_truncated_excluded``): their early days are missing, so their time to the milestone is
unknown. The proper fix, delayed entry (entering the risk set at the log's first day), is
supported by sksurv's Kaplan–Meier (``time_enter``) but **not** by its competing-risks CIF, so
it is not offered; ``left_truncated="include"`` keeps them as if observed from their start,
which overstates how early milestones happen (accounts that reached them before the log look
as if they reached them on their first logged day) — only for a rough look.

Outputs (``TimeToValue``):

``curve``        one row per (group, distinct time): day, cif, ci_low, ci_high, churn_cif,
                 n_at_risk (time >= day), n_reached, n_churned, n_censored (at that day).
``checkpoints``  per group and checkpoint ``t`` (default 7, 14, 30, 60, 90): share reached
                 within the first ``t`` days (``CIF(t - 1)``: days ``0 .. t-1``, the same
                 "within D days" as the candidates) with its band, null when nobody was followed
                 to day ``t - 1``; n_at_risk at day ``t`` (not reached, not churned, still
                 observed); n_reached, n_churned, n_censored before day ``t``.
``summary``      per group: n_accounts, n_reached, n_churned_first, n_censored,
                 n_left_truncated_excluded, follow_up_days, final_cif, and the median time to
                 the milestone = the first day with CIF >= 0.5, with an interval from the band
                 (first day the upper band reaches 0.5, first day the lower band does). With a
                 competing risk the CIF may level off below 0.5 (many accounts churn first):
                 then the median does not exist and is null — not "later than the log".
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from sksurv.nonparametric import cumulative_incidence_competing_risks, kaplan_meier_estimator

from adoption._common import SEGMENT_KEYS, FrameLike, lazy, require_columns, stack_segments

CURVE_VALUES = ["cif", "ci_low", "ci_high", "churn_cif"]


def _keys(by: Sequence[str]) -> list[str]:
    keys = list(by)
    if not keys:
        raise ValueError("by: need at least one grouping column (e.g. 'milestone')")
    return keys


@dataclass(frozen=True)
class TimeToValue:
    """The three tables of ``time_to_value`` (module docstring)."""

    curve: pl.DataFrame
    checkpoints: pl.DataFrame
    summary: pl.DataFrame


def competing_risks_data(
    timeline: FrameLike,
    milestone_days: FrameLike,
    *,
    segments: Sequence[str] = (),
) -> pl.LazyFrame:
    """Race rows per (account, milestone): account_id, milestone, time (Int64 days), event
    (1 reached, 2 churned first, 0 censored), left_truncated, and the ``segments`` columns.

    ``timeline``: ``adoption.timeline.account_timeline``; ``milestone_days``:
    ``adoption.timeline.milestone_days`` (account_id, milestone, day)."""
    segs = list(segments)
    require_columns(
        timeline,
        ["account_id", "observed_days", "churn_day", "left_truncated", *segs],
        "timeline",
    )
    require_columns(milestone_days, ["account_id", "milestone", "day"], "milestone_days")
    tl = lazy(timeline).select("account_id", "observed_days", "churn_day", "left_truncated", *segs)
    day, churn = pl.col("day"), pl.col("churn_day")
    reached = day.is_not_null() & (churn.is_null() | (day <= churn))
    return (
        lazy(milestone_days)
        .select("account_id", "milestone", "day")
        .join(tl, on="account_id", how="inner")
        .with_columns(
            pl.when(reached)
            .then(day)
            .when(churn.is_not_null())
            .then(churn)
            .otherwise(pl.col("observed_days") - 1)
            .cast(pl.Int64)
            .alias("time"),
            pl.when(reached)
            .then(1)
            .when(churn.is_not_null())
            .then(2)
            .otherwise(0)
            .cast(pl.Int64)
            .alias("event"),
        )
        .select("account_id", "milestone", "time", "event", "left_truncated", *segs)
    )


def _aalen_johansen(
    time: np.ndarray, event: np.ndarray, conf_level: float
) -> tuple[np.ndarray, ...]:
    """(times, cif, ci_low, ci_high, churn_cif) at the distinct times of one group."""
    has_1, has_2 = bool(np.any(event == 1)), bool(np.any(event == 2))
    t = np.unique(time)
    nan = np.full(t.shape, np.nan)
    zero = np.zeros(t.shape)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if has_1 and has_2:
            t, cum, ci = cumulative_incidence_competing_risks(
                event, time, conf_level=conf_level, conf_type="log-log"
            )
            return t, cum[1], ci[1, 0], ci[1, 1], cum[2]
        if has_1:
            t, surv, ci = kaplan_meier_estimator(
                event == 1, time, conf_level=conf_level, conf_type="log-log"
            )
            return t, 1.0 - surv, 1.0 - ci[1], 1.0 - ci[0], np.zeros(t.shape)
        if has_2:
            t, surv = kaplan_meier_estimator(event == 2, time)
            return t, zero, nan, nan, 1.0 - surv
    return t, zero, nan, nan, zero


def cumulative_incidence(
    data: FrameLike, by: Sequence[str], *, conf_level: float = 0.95
) -> pl.DataFrame:
    """The ``curve`` table for any grouping: ``data`` has the ``by`` columns, time, event
    (``competing_risks_data``). One Aalen–Johansen fit per group (a loop over groups, not rows).
    """
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level: must be in (0, 1), got {conf_level}")
    keys = _keys(by)
    df = lazy(data).select(*keys, "time", "event").collect()
    counts = (
        df.lazy()
        .group_by(*keys, "time")
        .agg(
            pl.len().alias("_n"),
            (pl.col("event") == 1).sum().cast(pl.Int64).alias("n_reached"),
            (pl.col("event") == 2).sum().cast(pl.Int64).alias("n_churned"),
            (pl.col("event") == 0).sum().cast(pl.Int64).alias("n_censored"),
        )
        .sort(*keys, "time", descending=[*([False] * len(keys)), True])
        .with_columns(pl.col("_n").cum_sum().over(keys).cast(pl.Int64).alias("n_at_risk"))
        .drop("_n")
        .rename({"time": "day"})
    )
    parts: list[pl.DataFrame] = []
    for key, g in df.partition_by(keys, as_dict=True, maintain_order=True).items():
        t, cif, lo, hi, churn = _aalen_johansen(
            g["time"].to_numpy().astype(np.float64),
            g["event"].to_numpy().astype(np.int64),
            conf_level,
        )
        cols = {k: [v] * len(t) for k, v in zip(keys, key, strict=True)}
        parts.append(
            pl.DataFrame(
                {
                    **cols,
                    "day": np.asarray(t).astype(np.int64),
                    **{
                        name: pl.Series(name, np.asarray(v, np.float64), nan_to_null=True)
                        for name, v in zip(CURVE_VALUES, (cif, lo, hi, churn), strict=True)
                    },
                },
                schema_overrides={k: df.schema[k] for k in keys},
            )
        )
    schema: dict[str, pl.DataType] = {k: df.schema[k] for k in keys}
    schema["day"] = pl.Int64()
    schema.update({c: pl.Float64() for c in CURVE_VALUES})
    curve = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=schema)
    return (
        curve.lazy()
        .join(counts, on=[*keys, "day"], how="left")
        .select(*keys, "day", *CURVE_VALUES, "n_at_risk", "n_reached", "n_churned", "n_censored")
        .sort(*keys, "day")
        .collect()
    )


def curve_at(curve: pl.DataFrame, by: Sequence[str], days: pl.DataFrame) -> pl.DataFrame:
    """Step-function lookup: for each row of ``days`` (``by`` columns + ``day``), the curve row
    with the largest curve day <= ``day`` (CIF 0, no band, before the first curve day; null
    beyond the last curve day, where nothing was followed). Adds cif, ci_low, ci_high,
    churn_cif."""
    keys = _keys(by)
    last = curve.group_by(keys).agg(pl.col("day").max().alias("_last"))
    probe = days.with_columns(pl.col("day").cast(pl.Int64)).sort("day")
    src = curve.select(*keys, pl.col("day").alias("_cday"), *CURVE_VALUES).sort("_cday")
    got = probe.join_asof(
        src,
        left_on="day",
        right_on="_cday",
        by=keys,
        strategy="backward",
        check_sortedness=False,
    )
    got = got.join(last, on=keys, how="left")
    beyond = pl.col("_last").is_null() | (pl.col("day") > pl.col("_last"))
    before = pl.col("_cday").is_null()
    return got.with_columns(
        *[
            pl.when(beyond)
            .then(None)
            .when(before)
            .then(pl.lit(0.0) if c in ("cif", "churn_cif") else None)
            .otherwise(pl.col(c))
            .alias(c)
            for c in CURVE_VALUES
        ]
    ).drop("_cday", "_last")


def median_from_curve(curve: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """Per group: median_day (first day with cif >= 0.5), median_low (first day with
    ci_high >= 0.5), median_high (first day with ci_low >= 0.5); null when never."""
    keys = _keys(by)

    def first_day(col: str) -> pl.Expr:
        return pl.col("day").filter(pl.col(col) >= 0.5).min()

    return curve.group_by(keys).agg(
        first_day("cif").alias("median_day"),
        first_day("ci_high").alias("median_low"),
        first_day("ci_low").alias("median_high"),
    )


def _summary(
    data: pl.DataFrame, curve: pl.DataFrame, keys: list[str], excluded: pl.DataFrame
) -> pl.DataFrame:
    counts = data.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("n_accounts"),
        (pl.col("event") == 1).sum().cast(pl.Int64).alias("n_reached"),
        (pl.col("event") == 2).sum().cast(pl.Int64).alias("n_churned_first"),
        (pl.col("event") == 0).sum().cast(pl.Int64).alias("n_censored"),
        pl.col("time").max().alias("follow_up_days"),
    )
    final = curve.sort("day").group_by(keys).agg(pl.col("cif").last().alias("final_cif"))
    return (
        excluded.join(counts, on=keys, how="full", coalesce=True)
        .join(final, on=keys, how="left")
        .join(median_from_curve(curve, keys), on=keys, how="left")
        .with_columns(
            pl.col("n_left_truncated_excluded").fill_null(0),
            *[pl.col(c).fill_null(0) for c in ("n_accounts", "n_reached", "n_churned_first")],
            pl.col("n_censored").fill_null(0),
        )
        .select(
            *keys,
            "n_accounts",
            "n_reached",
            "n_churned_first",
            "n_censored",
            "n_left_truncated_excluded",
            "follow_up_days",
            "final_cif",
            "median_day",
            "median_low",
            "median_high",
        )
        .sort(keys)
    )


def _checkpoints(
    data: pl.DataFrame, curve: pl.DataFrame, keys: list[str], days: Sequence[int]
) -> pl.DataFrame:
    ts = sorted({int(t) for t in days})
    if any(t < 1 for t in ts):
        raise ValueError(f"checkpoints: days must be >= 1, got {ts}")
    grid = (
        data.select(keys)
        .unique()
        .join(pl.DataFrame({"checkpoint": ts}, schema={"checkpoint": pl.Int64}), how="cross")
    )
    at = curve_at(curve, keys, grid.with_columns((pl.col("checkpoint") - 1).alias("day")))
    counts = (
        data.lazy()
        .join(grid.lazy(), on=keys, how="inner")
        .group_by(*keys, "checkpoint")
        .agg(
            (pl.col("time") >= pl.col("checkpoint")).sum().cast(pl.Int64).alias("n_at_risk"),
            *[
                ((pl.col("time") < pl.col("checkpoint")) & (pl.col("event") == e))
                .sum()
                .cast(pl.Int64)
                .alias(name)
                for e, name in ((1, "n_reached"), (2, "n_churned"), (0, "n_censored"))
            ],
        )
        .collect()
    )
    return (
        at.rename({"cif": "share", "ci_low": "share_low", "ci_high": "share_high"})
        .join(counts, on=[*keys, "checkpoint"], how="left")
        .select(
            *keys,
            "checkpoint",
            "share",
            "share_low",
            "share_high",
            "churn_cif",
            "n_at_risk",
            "n_reached",
            "n_churned",
            "n_censored",
        )
        .sort(*keys, "checkpoint")
    )


def time_to_value(
    timeline: FrameLike,
    milestone_days: FrameLike,
    *,
    segments: Sequence[str] = (),
    checkpoints: Sequence[int] = (7, 14, 30, 60, 90),
    conf_level: float = 0.95,
    left_truncated: Literal["exclude", "include"] = "exclude",
) -> TimeToValue:
    """Cumulative incidence of each milestone per segment (module docstring for every rule).

    ``timeline``: ``account_timeline`` with the ``segments`` columns; ``milestone_days``:
    ``milestone_days``. Groups are (segment_column, segment, milestone), "all" included."""
    if left_truncated not in ("exclude", "include"):
        raise ValueError(f"left_truncated: expected 'exclude' or 'include', got {left_truncated!r}")
    keys = [*SEGMENT_KEYS, "milestone"]
    stacked = stack_segments(
        competing_risks_data(timeline, milestone_days, segments=segments), segments
    ).collect()
    drop = left_truncated == "exclude"
    excluded = stacked.group_by(keys).agg(
        (pl.col("left_truncated") & drop).sum().cast(pl.Int64).alias("n_left_truncated_excluded")
    )
    data = stacked.filter(~pl.col("left_truncated")) if drop else stacked
    curve = cumulative_incidence(data, keys, conf_level=conf_level)
    return TimeToValue(
        curve=curve,
        checkpoints=_checkpoints(data, curve, keys, checkpoints),
        summary=_summary(data, curve, keys, excluded),
    )
