"""The whole adoption map from the canonical tables: one call, one ``AdoptionMap`` of frames.

Why one function: ``decay-map``, ``decay-run``'s map step, the benchmark and the notebook all need
the same map from the same tables with the same rules; the statistics live in the modules of this
package, the order they are called in and what is kept lives here.

What it does, in order (every step documented in its own module):
timeline -> milestone days -> candidate early behaviours -> the success outcome (still active
``outcome_horizon_days`` after the last landmark, ``adoption.timeline.retention_outcome``) ->
landmark findings + replication in a later signup cohort -> the top replicated indicators per
segment -> time to value (competing risks) -> journey (timing, roles, events around) -> cohorts.

A log the map cannot read (no accounts table: no start dates; no milestones; nobody observed long
enough) does not fail: ``AdoptionMap.notes`` says what could not be done and why, and the frames
it could not fill are empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import polars as pl

from adoption._common import ALL, milestone_specs
from adoption.candidates import candidate_behaviours
from adoption.cohorts import cohort_activation
from adoption.journey import events_around_milestones, milestone_roles, milestone_timing
from adoption.landmark import FINDING_KEYS, landmark_effects, replicate
from adoption.time_to_value import time_to_value
from adoption.timeline import account_timeline, milestone_days, retention_outcome
from core.config import MapConfig
from core.logs import get_logger

log = get_logger(__name__)


#: The typed ``map`` section's defaults: the one source of MapParams' defaults too.
_MAP = MapConfig()


@dataclass(frozen=True)
class MapParams:
    """The knobs of the map (``map.*`` in config) as plain values. Defaults are the schema's
    (``core.config.MapConfig``), so ``MapParams()`` and ``MapParams.from_cfg(default config)``
    agree by construction; ``key_events`` and ``exclude_events`` come from ``features``."""

    landmark_days: tuple[int, ...] = tuple(_MAP.landmark_days)
    outcome_horizon_days: int = _MAP.outcome_horizon_days
    outcome_window_days: int = _MAP.outcome_window_days
    churn: str = str(_MAP.churn)
    inactive_days: int = _MAP.inactive_days
    min_n: int = _MAP.min_n
    min_accounts: int = _MAP.min_accounts
    alpha: float = _MAP.alpha
    conf_level: float = _MAP.conf_level
    top_k: int = _MAP.top_k
    journey_window_days: int = _MAP.journey_window_days
    checkpoints: tuple[int, ...] = tuple(_MAP.checkpoints)
    cohort_within_days: int = _MAP.cohort_within_days
    key_events: tuple[str, ...] | None = None
    exclude_events: tuple[str, ...] = ()

    @classmethod
    def from_cfg(cls, section: Any, **extra: Any) -> MapParams:
        """From the ``map`` config section (any mapping with these names), plus overrides."""
        names = {f.name for f in fields(cls)}
        values = {k: section[k] for k in names if k in section and section[k] is not None}
        values.update({k: v for k, v in extra.items() if v is not None})
        for k in ("landmark_days", "checkpoints", "key_events", "exclude_events"):
            if k in values and values[k] is not None:
                values[k] = tuple(values[k])
        return cls(**values)


@dataclass
class AdoptionMap:
    """The map's tables (each a polars frame; see the module of each for its columns)."""

    timeline: pl.DataFrame
    findings: pl.DataFrame  # landmark_effects joined with replicate
    top: pl.DataFrame  # per segment: the top_k replicated indicators that go with success
    curve: pl.DataFrame  # time to value: cumulative incidence per day
    checkpoints: pl.DataFrame  # share reached by day 30/60/90 with intervals
    ttv: pl.DataFrame  # per milestone and segment: median time to value, shares, support
    timing: pl.DataFrame
    roles: pl.DataFrame
    around: pl.DataFrame
    cohorts: pl.DataFrame
    segments_table: pl.DataFrame  # one row per segment: activation, time to value, top finding
    notes: list[str] = field(default_factory=list)
    params: MapParams = field(default_factory=MapParams)

    def frames(self) -> dict[str, pl.DataFrame]:
        """The tables by file name (``map/<name>.parquet``)."""
        return {
            "findings": self.findings,
            "top_indicators": self.top,
            "ttv_curve": self.curve,
            "ttv_checkpoints": self.checkpoints,
            "time_to_value": self.ttv,
            "milestone_timing": self.timing,
            "milestone_roles": self.roles,
            "events_around": self.around,
            "cohorts": self.cohorts,
            "segments": self.segments_table,
        }


def top_indicators(findings: pl.DataFrame, k: int | None) -> pl.DataFrame:
    """Per segment, the ``k`` (None: all) findings that go with success most surely: significant after
    Benjamini-Hochberg, replicated in the later signup cohort, positive risk difference; ranked
    by the lower end of the risk difference's interval (the effect we are surest of), one row per
    behaviour item (the best threshold/landmark of each)."""
    if findings.is_empty():
        return findings.with_columns(pl.lit(None, pl.Int64).alias("rank"))
    keep = findings.filter(
        pl.col("significant") & pl.col("replicates").fill_null(False) & (pl.col("rd_low") > 0)
    )
    # The same accounts split the same way (a milestone and its own event done once) is one
    # finding, shown under the milestone's name.
    same_split = ["segment_column", "segment", "landmark_day", "n_did", "x_did", "n_not", "x_not"]
    return (
        keep.sort([pl.col("kind") != "milestone", "rd_low"], descending=[False, True])
        .unique(subset=same_split, keep="first")
        .sort("rd_low", descending=True)
        .unique(subset=["segment_column", "segment", "kind", "item"], keep="first")
        .sort(["segment_column", "segment", "rd_low"], descending=[False, False, True])
        .with_columns(pl.int_range(1, pl.len() + 1).over("segment_column", "segment").alias("rank"))
        .filter(pl.col("rank") <= (k if k is not None else pl.len()))
    )


def segment_table(ttv: pl.DataFrame, top: pl.DataFrame, checkpoints: pl.DataFrame) -> pl.DataFrame:
    """One row per (segment_column, segment, milestone): support, share reached by the first
    checkpoint with its interval, median time to value with its interval, and the segment's
    strongest replicated indicator in words (null when none qualifies)."""
    if ttv.is_empty():
        return pl.DataFrame()
    first_cp = (
        checkpoints.filter(pl.col("checkpoint") == pl.col("checkpoint").min())
        if checkpoints.height
        else None
    )
    out = ttv.select(
        "segment_column",
        "segment",
        "milestone",
        "n_accounts",
        "n_reached",
        "median_day",
        "median_low",
        "median_high",
    )
    if first_cp is not None:
        out = out.join(
            first_cp.select(
                "segment_column",
                "segment",
                "milestone",
                pl.col("checkpoint").alias("by_day"),
                pl.col("share").alias("share_by_day"),
                "share_low",
                "share_high",
            ),
            on=["segment_column", "segment", "milestone"],
            how="left",
        )
    best = top.filter(pl.col("rank") == 1).select(
        "segment_column", "segment", pl.col("wording").alias("top_indicator")
    )
    return out.join(best, on=["segment_column", "segment"], how="left").sort(
        pl.col("segment_column") != ALL, "segment_column", "segment", "milestone"
    )


def _empty_map(timeline: pl.DataFrame, params: MapParams, notes: list[str]) -> AdoptionMap:
    empty = pl.DataFrame()
    return AdoptionMap(
        timeline,
        empty,
        empty,
        empty,
        empty,
        empty,
        empty,
        empty,
        empty,
        empty,
        empty,
        notes,
        params,
    )


def build_map(
    events: pl.DataFrame,
    accounts: pl.DataFrame | None,
    users: pl.DataFrame | None,
    milestones: Sequence[Any],
    segments: Sequence[str],
    params: MapParams | None = None,
    *,
    observed_until: Any = None,
) -> AdoptionMap:
    """The adoption map of one log (module docstring). ``segments``: segment columns present in
    ``accounts``; ``milestones``: MilestoneConfig-like items (name, events, expected_days);
    ``observed_until``: exclusive end (UTC) of what the map may read, default the log's end."""
    p = params or MapParams()
    notes: list[str] = []
    if observed_until is not None:
        # The map of a cutoff reads nothing at or after it (a map for an earlier as_of must not
        # know what happened later; the timeline also drops later churn dates and accounts).
        events = events.filter(pl.col("timestamp") < observed_until)
    segs = [s for s in segments if accounts is not None and s in accounts.columns]
    if accounts is None or "created_at" not in accounts.columns:
        notes.append(
            "no accounts table with start dates: each account's journey starts at its first event"
        )
    tl = account_timeline(
        events,
        accounts,
        observed_until=observed_until,
        segments=segs,
        churn=p.churn,  # type: ignore[arg-type]
        inactive_days=p.inactive_days,
    )
    n_trunc = int(tl["left_truncated"].sum())
    if n_trunc:
        notes.append(
            f"{n_trunc:,} of {tl.height:,} accounts started before the log begins: left out of "
            "the map (their first days are not in the log)"
        )
    specs = milestone_specs(milestones)
    if not specs:
        notes.append(
            "no milestones are configured or found in this log: time to value and the journey "
            "are not drawn (set features.milestones)"
        )
    md = milestone_days(events, tl, specs)
    cands = candidate_behaviours(
        events,
        tl,
        specs,
        users,
        landmark_days=p.landmark_days,
        key_events=list(p.key_events) if p.key_events is not None else None,
        exclude_events=list(p.exclude_events),
        min_accounts=p.min_accounts,
    )
    if cands.is_empty():
        notes.append(
            f"no account of the log is observed for {min(p.landmark_days)} days after its "
            "start: no early behaviour can be judged yet"
        )
        return _empty_map(tl, p, notes)
    last_landmark = int(cands["landmark_day"].max())  # type: ignore[arg-type]
    outcome = retention_outcome(
        events,
        tl,
        landmark_days=last_landmark,
        horizon_days=p.outcome_horizon_days,
        window_days=p.outcome_window_days,
    )
    n_known = int(outcome["outcome"].is_not_null().sum())
    if n_known < 2 * p.min_n:
        notes.append(
            f"only {n_known} accounts are observed {last_landmark + p.outcome_horizon_days} days "
            "after their start (when success is measured): too few to compare behaviours"
        )
        findings = pl.DataFrame()
        top = pl.DataFrame()
    else:
        stat = {"alpha": p.alpha, "min_n": p.min_n, "conf_level": p.conf_level}
        findings = landmark_effects(cands, tl, outcome, segments=segs, **stat)  # type: ignore[arg-type]
        rep = replicate(cands, tl, outcome, segments=segs, **stat)  # type: ignore[arg-type]
        findings = findings.join(rep, on=FINDING_KEYS, how="left")
        top = top_indicators(findings, p.top_k)
    if specs:
        ttv = time_to_value(
            tl, md, segments=segs, checkpoints=p.checkpoints, conf_level=p.conf_level
        )
        timing = milestone_timing(tl, md, segments=segs)
        roles = (
            milestone_roles(events, tl, specs, users, segments=segs)
            if users is not None
            else pl.DataFrame()
        )
        around = events_around_milestones(
            events,
            tl,
            specs,
            segments=segs,
            window_days=p.journey_window_days,
            min_accounts=p.min_accounts,
            conf_level=p.conf_level,
            exclude_events=list(p.exclude_events),
        )
        cohorts = cohort_activation(
            tl, md, segments=segs, within_days=p.cohort_within_days, conf_level=p.conf_level
        )
        curve, checkpoints, summary = ttv.curve, ttv.checkpoints, ttv.summary
    else:
        curve = checkpoints = summary = timing = roles = around = cohorts = pl.DataFrame()
    seg_table = segment_table(summary, top, checkpoints) if specs else pl.DataFrame()
    log.info(
        "adoption map: %d accounts, %d candidate behaviours, %d findings (%d significant), "
        "%d milestones",
        tl.height,
        cands["candidate"].n_unique(),
        findings.height,
        int(findings["significant"].sum()) if findings.height else 0,
        len(specs),
    )
    return AdoptionMap(
        tl,
        findings,
        top,
        curve,
        checkpoints,
        summary,
        timing,
        roles,
        around,
        cohorts,
        seg_table,
        notes,
        p,
    )
