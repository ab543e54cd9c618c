"""Nudges per scored account from the adoption map: where it stands on its journey, what its
peers did recently, and the map's number behind the suggested next step.

Pure: frames in, frames out (``pipelines/score.py`` reads the map's files and calls these).

Inputs come from ``adoption.progress`` at the scoring cutoff ``as_of`` (00:00 UTC, events strictly
before it): ``milestone_progress`` (one row per active account and milestone) and ``peer_gaps``
(key events most segment peers did in the last ``lookback_days`` that the account never did).

**No look-ahead.** The reference curve (the map's ``ttv_curve``) is estimated by ``decay-map``
on the events before its ``snapshot.as_of`` (``pipelines.map.map_end``), so the map a run builds
for an as_of knows only that as_of's past; ``pipelines.score.map_nudges`` refuses a map as of a
later date than the scores (it would let the accounts' own future shape how "late" they read).
The curve of an earlier map is the past too and is used as is.

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
finding on what the playbook's next step is about (``scoring.playbook.next_step_about``), in the
account's segment (else all accounts, said as such), and the share of the segment's scored
accounts that have not done so yet:

* a step that names the next milestone: the finding on that milestone (the first configured
  milestone not reached, as in ``scoring.playbook.milestone_progress``);
* a step about key users (``role``): the map's role-coverage finding ("had at least 3 roles
  active in the first 14 days"); about ``onboarding``: the users-added finding;
* any other step: the finding on the event type its driver feature is about (a step quoting
  "integration connected fell ..." quotes "did integration connected at least twice in the
  first 14 days ..."), when the map has one; otherwise nothing (no number is better than an
  unrelated one).

It says "went on to succeed ... as often": an association in the map's landmark analysis, never
a promise that doing it causes success.
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
    "({level}% CI {low}–{high}x); {share_not} of yours have not done so yet."
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


#: The map's finding family the evidence quotes for a next step about each playbook family
#: (``scoring.playbook.next_step_about``); any other family quotes the ``event`` finding on the
#: event type its driver feature is about, when the map has one.
ABOUT_KIND = {"milestone": "milestone", "role": "roles", "onboarding": "users"}


def _findings(top: pl.DataFrame, column: str) -> pl.DataFrame:
    """The replicated findings with a rate ratio of ``top`` for ``segment_column == column``,
    one per (segment, kind, item): the best-ranked (``top`` is in rank order)."""
    replicated = (
        pl.col("replicates").fill_null(False) if "replicates" in top.columns else pl.lit(True)
    )
    threshold = pl.col("threshold") if "threshold" in top.columns else pl.lit(1, pl.Int64)
    return (
        top.filter(
            (pl.col("segment_column") == column) & replicated & pl.col("rate_ratio").is_not_null()
        )
        .select(
            "segment",
            "kind",
            "item",
            threshold.cast(pl.Int64).fill_null(1).alias("threshold"),
            "label",
            "rate_ratio",
            "rr_low",
            "rr_high",
        )
        .unique(subset=["segment", "kind", "item"], keep="first", maintain_order=True)
    )


def _milestone_targets(
    progress: pl.DataFrame, milestones: Sequence[Any], ids: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(target, share_not by segment, share_not over all) for milestone steps: the first
    configured milestone each of ``ids`` has not reached; the shares of ``progress``'s accounts
    that have not reached it."""
    names = [str(m["name"] if isinstance(m, Mapping) else m.name) for m in milestones]
    order = {n: i for i, n in enumerate(names)}
    prog = progress.filter(pl.col("milestone").is_in(names)).with_columns(
        pl.col("milestone").replace_strict(order, return_dtype=pl.Int64).alias("_cfg_order")
    )
    target = (
        prog.filter(~pl.col("reached") & pl.col("account_id").is_in(ids.implode()))
        .sort("account_id", "_cfg_order")
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("segment").first(), pl.col("milestone").first().alias("item"))
        .with_columns(pl.lit("milestone").alias("kind"))
    )
    not_reached = (~pl.col("reached")).mean().alias("_share_not")
    by_segment = prog.group_by("segment", pl.col("milestone").alias("item")).agg(not_reached)
    overall = prog.group_by(pl.col("milestone").alias("item")).agg(not_reached)
    return target, by_segment, overall


def _driver_targets(
    subjects: pl.DataFrame, members: pl.DataFrame, findings: pl.DataFrame
) -> pl.DataFrame:
    """account_id, segment, kind, item for the steps about a role, onboarding (the ``roles`` /
    ``users`` findings) or any other family (the ``event`` finding whose event type the step's
    driver feature names: ``item`` as a ``_``-delimited part of the feature name, the longest
    such item when several match), among ``findings`` (already of the right segment column)."""
    subj = (
        subjects.with_columns(pl.col("next_step_about", "driver").cast(pl.String))
        .filter(
            pl.col("next_step_about").is_not_null() & (pl.col("next_step_about") != "milestone")
        )
        .join(members, on="account_id")
    )
    kind = pl.col("next_step_about").replace_strict(ABOUT_KIND, default="event")
    subj = subj.with_columns(kind.alias("kind"))
    fixed = subj.filter(pl.col("kind") != "event").join(
        findings.select("segment", "kind", "item"), on=["segment", "kind"]
    )
    pattern = pl.lit("(?:^|_)") + pl.col("item").str.escape_regex() + pl.lit("(?:_|$)")
    by_event = (
        subj.filter((pl.col("kind") == "event") & pl.col("driver").is_not_null())
        .join(
            findings.filter(pl.col("kind") == "event").select("segment", "kind", "item"),
            on=["segment", "kind"],
        )
        .filter(pl.col("driver").str.contains(pattern))
        .sort(pl.col("item").str.len_chars(), "item", descending=[True, False])
        .group_by("account_id", maintain_order=True)
        .first()
    )
    cols = ["account_id", "segment", "kind", "item"]
    return pl.concat([fixed.select(cols), by_event.select(cols)]).sort("account_id")


def _share_not_done(
    rows: pl.DataFrame, members: pl.DataFrame, counts: pl.DataFrame, ids: pl.Series
) -> pl.DataFrame:
    """rows + ``_share_not``: of the scored ``members`` (``ids``) in the row's segment (every
    scored member for "all"), the share whose count of the row's behaviour is below its
    threshold: they have not done so yet."""
    scored = members.filter(pl.col("account_id").is_in(ids.implode()))
    keys = rows.select("segment", "kind", "item", "threshold").unique()
    everyone = scored.with_columns(pl.lit("all").alias("segment"))
    pool = pl.concat([scored, everyone]).unique()
    share = (
        pool.join(keys, on="segment")
        .join(counts, on=["account_id", "kind", "item"], how="left")
        .group_by("segment", "kind", "item", "threshold")
        .agg((pl.col("count").fill_null(0) < pl.col("threshold")).mean().alias("_share_not"))
    )
    return rows.join(share, on=["segment", "kind", "item", "threshold"], how="left")


def step_subjects(scores: pl.DataFrame) -> pl.DataFrame | None:
    """account_id, next_step_about, driver (the feature the step's sentence quotes: the likely
    cause's own driver, else the top risk driver) from ``scores``; None when scoring did not
    record what its steps are about."""
    if "next_step_about" not in scores.columns:
        return None
    drivers = [c for c in ("top_cause_driver", "driver_1") if c in scores.columns]
    driver = pl.coalesce(drivers) if drivers else pl.lit(None, pl.String)
    return scores.select("account_id", "next_step_about", driver.cast(pl.String).alias("driver"))


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
    subjects: pl.DataFrame | None = None,
    members: pl.DataFrame | None = None,
    counts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """account_id, ``next_step_evidence``: the map's number behind the next step (module
    docstring), one row per id of ``account_ids`` in order, null when nothing qualifies.

    What the step is about comes from ``subjects`` (account_id, next_step_about, driver: the
    feature the step's sentence quotes; ``scoring.playbook.next_step_about``); without it every
    step counts as about the next milestone.

    * About a milestone: the first of ``milestones`` (config order, as the playbook's
      ``{next_milestone}``) the account has not reached in ``progress``; ``{share_not}`` is the
      share of ``progress``'s accounts (pass the scored ones only) in the segment that have not
      reached it.
    * About a role / onboarding / another family: the ``roles`` / ``users`` finding, or the
      ``event`` finding whose event type the driver feature names; ``{share_not}`` is the share of
      the segment's scored accounts (``members``: account_id, segment) whose lifetime count
      (``counts``: account_id, kind, item, count; ``adoption.progress.behaviour_counts``) is
      below the finding's threshold. Needs ``members`` and ``counts``.

    The finding is the ``top`` (``map/top_indicators``) row with that kind and item, ``replicates``
    true and a rate ratio, for ``segment_column`` (None: the "all" rows) and the account's
    segment value, else the all-accounts row (then "In all accounts", and the share is over all
    scored accounts). ``template`` placeholders: {segment} {entities} {finding} {ratio} {level}
    {low} {high} {share_not}."""
    ids_list = list(account_ids)
    ids = pl.Series("account_id", ids_list, dtype=pl.String)
    frame = pl.DataFrame(ids)
    empty = frame.with_columns(pl.lit(None, pl.String).alias(EVIDENCE_COLUMN))
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
    if top is None or not needed <= set(top.columns):
        return empty
    col = segment_column or "all"
    keys = ["segment", "kind", "item"]
    out_cols = [
        "account_id",
        *keys,
        "threshold",
        "label",
        "rate_ratio",
        "rr_low",
        "rr_high",
        "_share_not",
    ]
    parts: list[pl.DataFrame] = []
    milestone_ids = (
        ids
        if subjects is None
        else subjects.filter(pl.col("next_step_about") == "milestone")["account_id"]
    )
    if progress is not None and not progress.is_empty() and milestone_ids.len():
        target, share_seg, share_all = _milestone_targets(progress, milestones, milestone_ids)
        rows = target.join(_findings(top, col), on=keys).join(
            share_seg, on=["segment", "item"], how="left"
        )
        if col != "all":
            # No replicated finding in the account's segment: the all-accounts one, said as
            # such, with the share counted over all the scored accounts.
            rows = pl.concat(
                [
                    rows.select(out_cols),
                    target.join(rows.select("account_id"), on="account_id", how="anti")
                    .with_columns(pl.lit("all").alias("segment"))
                    .join(_findings(top, "all"), on=keys)
                    .join(share_all, on="item", how="left")
                    .select(out_cols),
                ]
            )
        parts.append(rows.select(out_cols))
    if subjects is not None and members is not None and counts is not None:
        found = _findings(top, col)
        rows = _driver_targets(subjects, members, found).join(found, on=keys)
        if col != "all":
            rest = subjects.join(rows.select("account_id"), on="account_id", how="anti")
            every = members.with_columns(pl.lit("all").alias("segment"))
            found_all = _findings(top, "all")
            rows = pl.concat(
                [
                    rows,
                    _driver_targets(rest, every, found_all)
                    .join(found_all, on=keys)
                    .select(rows.columns),
                ]
            )
        parts.append(_share_not_done(rows, members, counts, ids).select(out_cols))
    rows = pl.concat(parts) if parts else pl.DataFrame()
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
    rows = (
        rows.with_columns(text.alias(EVIDENCE_COLUMN))
        .unique("account_id", keep="first", maintain_order=True)
        .select("account_id", EVIDENCE_COLUMN)
    )
    return frame.join(rows, on="account_id", how="left", maintain_order="left")


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
