"""Nudges per scored account from the adoption map: where it stands on its journey, what its
peers did recently, and the map's number behind the suggested next step.

Pure: frames in, frames out (``pipelines/score.py`` reads the map's files and calls these).

Inputs come from ``adoption.progress`` at the scoring cutoff ``as_of`` (00:00 UTC, events strictly
before it): ``milestone_progress`` (one row per active account and milestone) and ``peer_gaps``
(key events most segment peers did in the last ``lookback_days`` that the account never did).

**Look-ahead caveat.** The reference curve (the map's ``ttv_curve``) is estimated on the whole
log, i.e. on accounts' histories up to the log's end. Scoring at the latest ``as_of`` (the usual
run: ``as_of`` = the end of the log) that is the past and nothing leaks; scoring an *earlier*
``as_of`` with today's map lets later behaviour shape how "late" an account reads then. The
lateness is a description for a CSM, not a model feature, so the scores are never affected.

Columns added to ``scores`` (``NUDGE_COLUMNS``; all null for an account the map cannot place,
e.g. churned before ``as_of`` by the map's rule, and for every account without a map):

* ``milestones_reached`` / ``milestones_total`` (Int64): milestones reached before ``as_of``, of
  those configured;
* ``next_milestone`` (String): the next one on the segment's usual path (humanised);
* ``next_milestone_late_pct`` (Float64, 0..100): of the segment's accounts that reached it, the
  percentage that had reached it by this account's current age (70 = later than 70 % of them);
* ``peer_gap_events`` (String): up to ``max_events`` humanised key events, ", "-separated, that
  at least ``nudge.min_share`` of its segment peers did in the last ``nudge.lookback_days`` and it
  never did;
* ``nudge`` (String): the two facts above as one short text a CRM or e-mail tool can use.

``next_step_evidence`` (``playbook_evidence``): one optional sentence with the map's replicated
finding for the milestone the playbook's next step is about (the first configured milestone not
reached, as in ``scoring.playbook.milestone_progress``) in the account's segment, and the share of
the segment's scored accounts that have not reached it. It says "went on to succeed ... as
often": an association in the map's landmark analysis, never a promise that doing it causes
success.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from features.catalogue import humanise
from scoring.sentences import DEFAULT_ENTITY, PLACEHOLDER

NUDGE_SCHEMA: dict[str, pl.DataType] = {
    "milestones_reached": pl.Int64(),
    "milestones_total": pl.Int64(),
    "next_milestone": pl.String(),
    "next_milestone_late_pct": pl.Float64(),
    "peer_gap_events": pl.String(),
    "nudge": pl.String(),
}
NUDGE_COLUMNS = list(NUDGE_SCHEMA)
EVIDENCE_COLUMN = "next_step_evidence"

#: The evidence sentence when the playbook has no ``evidence`` template of its own.
DEFAULT_EVIDENCE = (
    "In {segment} {entities}, those that {finding} went on to succeed {ratio}x as often "
    "({level}% CI {low}–{high}x); {share_not} of yours have not reached it yet."
)
#: The placeholders an evidence template may use.
EVIDENCE_PLACEHOLDERS = (
    "segment",
    "entities",
    "finding",
    "ratio",
    "level",
    "low",
    "high",
    "share_not",
)
#: Lateness at or above this share reads "later than N% of ..."; below it, "on pace".
LATE_FROM = 0.5


def _words(values: Iterable[Any]) -> dict[str, str]:
    """Machine name -> words (``features.catalogue.humanise``) for each distinct value."""
    return {str(v): humanise(str(v)) for v in set(values) if v is not None}


def _humanised(frame: pl.DataFrame, column: str) -> pl.Expr:
    mapping = _words(frame[column].to_list()) if frame.height else {}
    return pl.col(column).replace_strict(mapping, default=None, return_dtype=pl.String)


def lookback_words(days: int) -> str:
    """``14`` -> "2 weeks", ``7`` -> "week", ``1`` -> "day", ``10`` -> "10 days" (after "the
    last")."""
    if days % 7 == 0:
        weeks = days // 7
        return "week" if weeks == 1 else f"{weeks} weeks"
    return "day" if days == 1 else f"{days} days"


def _and_list(items: pl.Expr) -> pl.Expr:
    """List of strings -> "a", "a and b", "a, b and c"."""
    n = items.list.len()
    head = items.list.slice(0, n - 1).list.join(", ")
    return (
        pl.when(n <= 1)
        .then(items.list.first())
        .otherwise(pl.format("{} and {}", head, items.list.last()))
    )


def _percent(share: pl.Expr) -> pl.Expr:
    return pl.format("{}%", (share * 100).round(0).cast(pl.Int64))


def empty_nudges(account_ids: pl.Series | Sequence[str]) -> pl.DataFrame:
    """``account_id`` plus every nudge column, all null (no map)."""
    ids = pl.Series("account_id", list(account_ids), dtype=pl.String)
    return pl.DataFrame(ids).with_columns(
        [pl.lit(None, dtype).alias(c) for c, dtype in NUDGE_SCHEMA.items()]
    )


def account_nudges(
    account_ids: pl.Series | Sequence[str],
    progress: pl.DataFrame | None,
    gaps: pl.DataFrame | None,
    *,
    entity: tuple[str, str] = DEFAULT_ENTITY,
    max_events: int = 3,
    lookback_days: int = 14,
    order: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One row per id of ``account_ids`` (in that order): account_id and ``NUDGE_COLUMNS``.

    ``order``: milestone names in the configured journey order. Given, the next milestone is the
    first of them not reached, the same one the playbook's next step and its evidence are about
    (so the page never names two different "next" milestones); else ``progress``'s ``is_next``
    (the segment's usual order).

    ``progress``: ``adoption.progress.milestone_progress`` (account_id, segment, milestone, order,
    reached, curve_segment, late_percentile, is_next); ``gaps``: ``adoption.progress.peer_gaps``
    (account_id, segment, event, peer_share; sorted by peer_share descending). Either may be
    None or empty; ids in neither get nulls."""
    if max_events < 1:
        raise ValueError(f"max_events: must be >= 1, got {max_events}")
    out = empty_nudges(account_ids).select("account_id")
    one, many = entity
    if progress is not None and progress.height and order:
        rank = {str(n): i for i, n in enumerate(order)}
        progress = progress.with_columns(
            pl.col("milestone")
            .replace_strict(rank, default=len(rank), return_dtype=pl.Int64)
            .alias("_cfg")
        )
        first_open = (
            pl.when(~pl.col("reached"))
            .then(pl.col("_cfg"))
            .otherwise(None)
            .min()
            .over("account_id")
        )
        progress = progress.with_columns(
            (~pl.col("reached") & (pl.col("_cfg") == first_open)).alias("is_next")
        )
    if progress is not None and progress.height:
        nxt = pl.col("is_next")
        steps = (
            progress.sort("account_id", "order")
            .group_by("account_id", maintain_order=True)
            .agg(
                pl.col("reached").sum().cast(pl.Int64).alias("milestones_reached"),
                pl.len().cast(pl.Int64).alias("milestones_total"),
                pl.col("milestone").filter(nxt).first().alias("_next"),
                pl.col("late_percentile").filter(nxt).first().alias("_late"),
                pl.col("curve_segment").filter(nxt).first().alias("_curve_segment"),
            )
        )
        steps = steps.with_columns(
            _humanised(steps, "_next").alias("next_milestone"),
            _humanised(steps, "_curve_segment").alias("_seg_words"),
            (pl.col("_late") * 100).alias("next_milestone_late_pct"),
        )
        who = (
            pl.when(pl.col("_curve_segment") == "all")
            .then(pl.lit(many))
            .otherwise(pl.format("{} {}", "_seg_words", pl.lit(many)))
        )
        who_one = (
            pl.when(pl.col("_curve_segment") == "all")
            .then(pl.lit(one))
            .otherwise(pl.format("{} {}", "_seg_words", pl.lit(one)))
        )
        step_word = (
            pl.when(pl.col("milestones_total") == 1).then(pl.lit("step")).otherwise(pl.lit("steps"))
        )
        done = pl.format("{} of {} {} done", "milestones_reached", "milestones_total", step_word)
        pace = (
            pl.when(pl.col("_late").is_null())
            .then(pl.lit(""))
            .when(pl.col("_late") >= 0.995)
            .then(pl.format(" — later than every {} that got there", who_one))
            .when(pl.col("_late") >= LATE_FROM)
            .then(
                pl.format(" — later than {} of {} that got there", _percent(pl.col("_late")), who)
            )
            .otherwise(pl.format(" — on pace: most {} that got there took longer", who))
        )
        text = (
            pl.when(pl.col("next_milestone").is_null())
            .then(pl.format("{}.", done))
            .otherwise(pl.format("{}; next: {}{}.", done, "next_milestone", pace))
        )
        steps = steps.with_columns(text.alias("_progress_text"))
        out = out.join(
            steps.select(
                "account_id",
                "milestones_reached",
                "milestones_total",
                "next_milestone",
                "next_milestone_late_pct",
                "_progress_text",
            ),
            on="account_id",
            how="left",
            maintain_order="left",
        )
    else:
        out = out.with_columns(
            *[pl.lit(None, NUDGE_SCHEMA[c]).alias(c) for c in NUDGE_COLUMNS[:4]],
            pl.lit(None, pl.String).alias("_progress_text"),
        )
    if gaps is not None and gaps.height:
        top = (
            gaps.sort(["account_id", "peer_share", "event"], descending=[False, True, False])
            .group_by("account_id", maintain_order=True)
            .agg(pl.col("event").head(max_events).alias("_events"))
        )
        mapping = _words(gaps["event"].to_list())
        top = top.with_columns(
            pl.col("_events").list.eval(
                pl.element().replace_strict(mapping, default=None, return_dtype=pl.String)
            )
        )
        Many = many[:1].upper() + many[1:]
        top = top.with_columns(
            pl.col("_events").list.join(", ").alias("peer_gap_events"),
            pl.format(
                "{} like yours used {} in the last {}.",
                pl.lit(Many),
                _and_list(pl.col("_events")),
                pl.lit(lookback_words(lookback_days)),
            ).alias("_peer_text"),
        )
        out = out.join(
            top.select("account_id", "peer_gap_events", "_peer_text"),
            on="account_id",
            how="left",
            maintain_order="left",
        )
    else:
        out = out.with_columns(
            pl.lit(None, pl.String).alias("peer_gap_events"),
            pl.lit(None, pl.String).alias("_peer_text"),
        )
    nudge = pl.concat_str(["_progress_text", "_peer_text"], separator=" ", ignore_nulls=True)
    return out.with_columns(
        pl.when(pl.col("_progress_text").is_null() & pl.col("_peer_text").is_null())
        .then(None)
        .otherwise(nudge)
        .alias("nudge")
    ).select("account_id", *NUDGE_COLUMNS)


def _ratio_text(x: pl.Expr) -> pl.Expr:
    """A rate ratio for a sentence: one decimal from 1 up ("1.4"), two below ("0.85")."""
    one = x.round(1)
    two = x.round(2)
    return (
        pl.when(x >= 0.995)
        .then(pl.format("{}", one.cast(pl.String)))
        .otherwise(pl.format("{}", two.cast(pl.String)))
    )


def _fill(template: str, values: Mapping[str, pl.Expr]) -> pl.Expr:
    """``template`` with each ``{name}`` replaced by ``values[name]`` (a string expression);
    raises ValueError naming an unknown placeholder."""
    parts: list[pl.Expr] = []
    pos = 0
    for m in PLACEHOLDER.finditer(template):
        name = m.group(1)
        if name not in values:
            raise ValueError(
                f"playbook.evidence: unknown placeholder {{{name}}}; use {sorted(values)}"
            )
        parts.append(pl.lit(template[pos : m.start()]))
        parts.append(values[name])
        pos = m.end()
    parts.append(pl.lit(template[pos:]))
    return pl.concat_str(parts)


def playbook_evidence(
    account_ids: pl.Series | Sequence[str],
    progress: pl.DataFrame | None,
    top: pl.DataFrame | None,
    milestones: Sequence[Any],
    *,
    segment_column: str | None,
    template: str | None = None,
    entity: tuple[str, str] = DEFAULT_ENTITY,
    conf_level: float = 0.95,
) -> pl.DataFrame:
    """account_id, ``next_step_evidence``: the map's number behind the next step (module
    docstring), one row per id of ``account_ids`` in order, null when nothing qualifies.

    The milestone is the first of ``milestones`` (config order, as the playbook's
    ``{next_milestone}``) the account has not reached in ``progress``; the finding is the
    ``top`` (``map/top_indicators``) row with ``kind == "milestone"``, ``item`` = that milestone,
    ``replicates`` true and a rate ratio, for ``segment_column`` (None: the "all" rows) and the
    account's segment value, else the all-accounts row (then "In all accounts", and the share is
    over all of ``progress``). ``{share_not}`` is the share of the accounts of ``progress`` (pass
    the scored accounts only) in that segment that have not reached it. ``template`` placeholders:
    {segment} {entities} {finding} {ratio} {level} {low} {high} {share_not}."""
    ids = pl.DataFrame(pl.Series("account_id", list(account_ids), dtype=pl.String))
    empty = ids.with_columns(pl.lit(None, pl.String).alias(EVIDENCE_COLUMN))
    needed = {
        "segment_column",
        "segment",
        "kind",
        "item",
        "label",
        "rate_ratio",
        "rr_low",
        "rr_high",
    }
    if progress is None or progress.is_empty() or top is None or not needed <= set(top.columns):
        return empty
    names = [str(m["name"] if isinstance(m, Mapping) else m.name) for m in milestones]
    order = {n: i for i, n in enumerate(names)}
    prog = progress.filter(pl.col("milestone").is_in(names)).with_columns(
        pl.col("milestone").replace_strict(order, return_dtype=pl.Int64).alias("_cfg_order")
    )
    if prog.is_empty():
        return empty
    share_not = prog.group_by("segment", "milestone").agg(
        (~pl.col("reached")).mean().alias("_share_not")
    )
    target = (
        prog.filter(~pl.col("reached"))
        .sort("account_id", "_cfg_order")
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("segment").first(), pl.col("milestone").first())
    )
    col = segment_column or "all"
    replicated = (
        pl.col("replicates").fill_null(False) if "replicates" in top.columns else pl.lit(True)
    )

    def findings(column: str) -> pl.DataFrame:
        return (
            top.filter(
                (pl.col("segment_column") == column)
                & (pl.col("kind") == "milestone")
                & replicated
                & pl.col("rate_ratio").is_not_null()
            )
            .select(
                "segment",
                pl.col("item").alias("milestone"),
                "label",
                "rate_ratio",
                "rr_low",
                "rr_high",
            )
            .unique(subset=["segment", "milestone"], keep="first")
        )

    keys = ["segment", "milestone"]
    rows = target.join(findings(col), on=keys).join(share_not, on=keys, how="left")
    if col != "all":
        # No replicated finding in the account's segment: the all-accounts one, said as such,
        # with the share counted over all the scored accounts.
        share_all = prog.group_by("milestone").agg((~pl.col("reached")).mean().alias("_share_not"))
        fallback = (
            target.join(rows.select("account_id"), on="account_id", how="anti")
            .with_columns(pl.lit("all").alias("segment"))
            .join(findings("all"), on=keys)
            .join(share_all, on="milestone", how="left")
        )
        rows = pl.concat([rows, fallback.select(rows.columns)])
    if rows.is_empty():
        return empty
    _one, many = entity
    seg_words = _humanised(rows, "segment")
    values = {
        "segment": pl.when(pl.col("segment") == "all").then(pl.lit("all")).otherwise(seg_words),
        "entities": pl.lit(many),
        "finding": pl.col("label"),
        "ratio": _ratio_text(pl.col("rate_ratio")),
        "level": pl.lit(str(round(conf_level * 100))),
        "low": _ratio_text(pl.col("rr_low")),
        "high": _ratio_text(pl.col("rr_high")),
        "share_not": _percent(pl.col("_share_not")),
    }
    text = _fill(template or DEFAULT_EVIDENCE, values)
    rows = rows.with_columns(text.alias(EVIDENCE_COLUMN)).select("account_id", EVIDENCE_COLUMN)
    return ids.join(rows, on="account_id", how="left", maintain_order="left")


def with_nudges(scores: pl.DataFrame, *frames: pl.DataFrame) -> pl.DataFrame:
    """``scores`` with the columns of each frame (keyed by account_id) joined on, row order kept;
    columns of the same name already in ``scores`` are replaced."""
    out = scores
    for frame in frames:
        cols = [c for c in frame.columns if c != "account_id"]
        out = out.drop(cols, strict=False).join(
            frame, on="account_id", how="left", maintain_order="left"
        )
    return out


def journey_at(
    events: pl.DataFrame | pl.LazyFrame,
    accounts: pl.DataFrame | pl.LazyFrame | None,
    milestones: Sequence[Any],
    curve: pl.DataFrame | None,
    account_ids: pl.Series | Sequence[str],
    *,
    cutoff: Any,
    segment: str | None,
    key_events: Sequence[str] | None = None,
    lookback_days: int = 14,
    min_share: float = 0.5,
    min_peers: int = 5,
    churn: Any = "auto",
    inactive_days: int = 30,
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(milestone progress, peer gaps) at ``cutoff`` (``adoption.progress``), restricted to
    ``account_ids``; peers are every active account of the segment, scored or not. Progress is
    None without milestones or without a usable ``curve`` (the map's ``ttv_curve``)."""
    from adoption.progress import milestone_progress, peer_gaps

    ids = pl.Series("account_id", list(account_ids), dtype=pl.String)
    progress = None
    usable = curve is not None and curve.height > 0 and "cif" in curve.columns
    if milestones and usable:
        assert curve is not None
        progress = milestone_progress(
            events,
            accounts,
            milestones,
            curve,
            cutoff=cutoff,
            segment=segment,
            churn=churn,
            inactive_days=inactive_days,
        ).filter(pl.col("account_id").is_in(ids.implode()))
    gaps = peer_gaps(
        events,
        accounts,
        cutoff=cutoff,
        segment=segment,
        key_events=key_events,
        lookback_days=lookback_days,
        min_share=min_share,
        min_peers=min_peers,
        churn=churn,
        inactive_days=inactive_days,
    ).filter(pl.col("account_id").is_in(ids.implode()))
    return progress, gaps
