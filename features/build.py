"""Assemble the training/scoring dataset: eligible rows x point-in-time features (+ labels).

Contract (docs/ARCHITECTURE.md, "dataset.parquet"): one row per eligible (account, cutoff);
columns ``account_id`` (str), ``cutoff`` (Date), the segment columns (str), ``maturity_stage``
(str), Float64 features (nulls where undefined), and ``label`` (Int8, null when unobserved) in
that order. ``build_features`` is the same without labels, so scoring one ``as_of`` cutoff gives
exactly the rows ``build_dataset`` gives for that cutoff.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any

import polars as pl
from omegaconf import DictConfig

from core.config import FeaturesConfig
from core.errors import ConfigValueError, DataValidationError, NoEligibleAccountsError
from core.logs import get_logger
from core.progress import step
from features import (
    engagement,
    friction,
    history,
    lifecycle,
    milestones,
    peer,
    role,
    usage,
    vocabulary,
)
from features.catalogue import FAMILIES, render_catalogue
from features.context import build_wide
from features.cutoffs import cutoff_dates, eligible_rows
from features.labels import build_labels
from features.segments import event_segments_at
from features.windows import DAY, Engine, T, build_engine, date_to_day, day_of
from ingest.spool import chunk_key
from ingest.tables import SpooledTables, Tables

log = get_logger(__name__)

# Bump when the feature code changes meaning, so cached datasets are rebuilt.
FEATURES_VERSION = "4"
ID_COLUMNS = ("account_id", "cutoff")
NON_FEATURES = (*ID_COLUMNS, "maturity_stage", "label")


def _section(cfg: DictConfig, name: str) -> Any:
    return getattr(cfg, name)


def _effective_families(tables: Tables | SpooledTables, fcfg: FeaturesConfig) -> list[str]:
    """Configured families minus those whose source table is missing (one log line each)."""
    fams = [str(f) for f in fcfg.families]
    unknown = sorted(set(fams) - set(FAMILIES))
    if unknown:
        raise ConfigValueError(
            f"features.families has unknown families {unknown}",
            hint=f"choose from {list(FAMILIES)}",
        )
    needs_table = {
        "role": ("users", tables.users),
        "lifecycle": ("accounts", tables.accounts),
        "milestones": ("accounts", tables.accounts),
    }
    out = []
    for f in fams:
        if f in needs_table and needs_table[f][1] is None:
            log.info(
                "feature family %r left out: no %s table (data.%s=null)",
                f,
                needs_table[f][0],
                needs_table[f][0],
            )
            continue
        out.append(f)
    return out


def _segments(tables: Tables | SpooledTables, cfg: DictConfig) -> list[str]:
    """The account-table segment columns (those on the events: ``tables.event_segments``)."""
    segs = [str(s) for s in cfg.data.segments if str(s) not in tables.event_segments]
    if tables.accounts is None:
        if segs:
            log.info("segment columns %s left out: no accounts table", segs)
        return []
    missing = [s for s in segs if s not in tables.accounts.columns]
    if missing:
        raise DataValidationError(
            f"accounts table lacks segment columns {missing} (data.segments)",
            hint="map them with data.columns or set data.segments",
        )
    return segs


def _with_statics(
    rows: pl.DataFrame,
    tables: Tables,
    fcfg: FeaturesConfig,
    families: Sequence[str],
    segments: Sequence[str],
    engine: Engine,
) -> pl.DataFrame:
    """Join per-account static facts (segments, seats, renewal, milestone days, onboarding):
    milestone first days from ``engine.firsts()``, invite days from ``engine.day_rows``."""
    out = rows
    acc = tables.accounts
    if acc is not None:
        cols = [pl.col("account_id"), *[pl.col(s).cast(pl.String) for s in segments]]
        if "seats" in acc.columns:
            cols.append(pl.col("seats").cast(pl.Float64))
        if "renewal_date" in acc.columns:
            cols.append(day_of(pl.col("renewal_date")).alias("renewal_day"))
            cols.append(lifecycle.renewal_cycle(fcfg, acc.columns).alias("renewal_cycle_days"))
        extra = [c for c in (fcfg.peer_segment,) if c in acc.columns and c not in segments]
        cols += [pl.col(c).cast(pl.String) for c in extra]
        out = out.join(acc.select(cols), on="account_id", how="left", maintain_order="left")
    peer_col = str(fcfg.peer_segment) if fcfg.peer_segment else ""
    if peer_col in out.columns:
        out = out.with_columns(pl.col(peer_col).alias("_peer"))
    else:
        if {"peer", "milestones"} & set(families):
            log.info(
                "peer segment %r not available: peers are all accounts at the cutoff", peer_col
            )
        out = out.with_columns(pl.lit("all").alias("_peer"))
    if "milestones" in families:
        out = out.join(
            milestones.milestone_first_days(engine.firsts(), fcfg),
            on="account_id",
            how="left",
            maintain_order="left",
        )
        for m in fcfg.milestones:
            if f"first_{m.name}" not in out.columns:
                out = out.with_columns(pl.lit(None, pl.Int32).alias(f"first_{m.name}"))
    if "onboarding" in families:
        signup = rows.select("account_id", "signup_day").unique("account_id")
        out = out.join(
            milestones.onboarding_invites(signup, engine, fcfg),
            on="account_id",
            how="left",
            maintain_order="left",
        )
    return out


#: Feature-name prefixes fed by a configured event list: left out when none of its events
#: occurs (they would be a constant 0 over the whole dataset).
SOURCED = {
    "error_events": ("integration_errors_",),
    "ticket_events": ("support_tickets_",),
    "invite_events": ("invites_first_",),
}


def _resolve(
    fcfg: FeaturesConfig,
    families: list[str],
    tables: Tables | SpooledTables,
    firsts: pl.DataFrame,
    before: int,
) -> tuple[Any, list[str]]:
    """The features config as this data resolves it, and the families left.

    Why: a configured name whose source never occurs in the data gives a feature that is
    constant over the whole dataset (``days_since_last_<event>`` = ``never_days`` everywhere,
    friction counts of 0, milestones never reached, roles with no users): noise for the model
    and wrong words in the catalogue. So, on a copy: key events, error / ticket / invite events,
    milestones (none of whose events occur) and roles (no user created before the last cutoff)
    are kept only when present, one log line per group; ``vocabulary_events`` becomes the
    concrete list (``features.vocabulary.resolve``) and the family is left out when it is empty.
    "Present" means on a day before ``before`` (the last cutoff), so the feature set is
    point-in-time like the values. The copy is what the families and the catalogue read.
    ``firsts``: (account_id, event, day = first day) from ``Engine.firsts``.
    """
    out = copy.deepcopy(fcfg)
    present = set(firsts.filter(pl.col(DAY) < before).get_column("event").unique().to_list())
    keys = [str(e) for e in fcfg.key_events]
    absent = [e for e in keys if e not in present]
    if absent:
        log.info(
            "features.key_events absent from the data before the last cutoff, their "
            "days_since_last_<event> left out: %s",
            absent,
        )
    out.key_events = [e for e in keys if e in present]
    for key, prefixes in SOURCED.items():
        names = [str(e) for e in getattr(fcfg, key)]
        kept = [e for e in names if e in present]
        if not kept:
            log.info(
                "features.%s %s: features %s left out",
                key,
                f"{names} absent from the data before the last cutoff" if names else "empty",
                [f"{p}*" for p in prefixes],
            )
        setattr(out, key, kept)
    if "milestones" in families:
        gone = [str(m.name) for m in fcfg.milestones if not {str(e) for e in m.events} & present]
        if gone:
            log.info(
                "milestones left out: none of their events occurs before the last cutoff: %s", gone
            )
        out.milestones = [m for m in fcfg.milestones if str(m.name) not in gone]
    if tables.users is not None:
        have = set(
            tables.users.filter(day_of(pl.col("created_at")) < before)
            .get_column("role")
            .cast(pl.String)
            .unique()
            .to_list()
        )
        gone = [str(r) for r in fcfg.roles if str(r) not in have]
        if gone:
            log.info(
                "features.roles left out: no user with them created before the last cutoff: %s",
                gone,
            )
        out.roles = [str(r) for r in fcfg.roles if str(r) in have]
    if "vocabulary" in families:
        out.vocabulary_events = vocabulary.resolve(firsts, fcfg, before)
        if not out.vocabulary_events:
            families = [f for f in families if f != "vocabulary"]
    return out, families


def _sourced(exprs: dict[str, pl.Expr], fcfg: FeaturesConfig) -> dict[str, pl.Expr]:
    """``exprs`` without the features of ``SOURCED`` groups whose event list is empty."""
    drop = tuple(
        p for key, prefixes in SOURCED.items() if not list(getattr(fcfg, key)) for p in prefixes
    )
    return {n: e for n, e in exprs.items() if not n.startswith(drop)} if drop else exprs


def _family_exprs(
    fcfg: FeaturesConfig,
    families: Sequence[str],
    tables: Tables | SpooledTables,
    wide_cols: Sequence[str],
) -> tuple[dict[str, pl.Expr], dict[str, pl.Expr]]:
    s1: dict[str, pl.Expr] = {}
    s2: dict[str, pl.Expr] = {}
    has_seats = "seats" in wide_cols
    has_users = tables.users is not None
    for fam in families:
        if fam == "activity":
            s1 |= usage.activity(fcfg)
        elif fam == "trends":
            s1 |= usage.trends(fcfg)
        elif fam == "breadth":
            if not (has_seats or has_users):
                log.info("feature share_of_seats_active left out: no seats and no users table")
            s1 |= usage.breadth(fcfg, has_seats, has_users)
        elif fam == "role":
            s1 |= role.role(fcfg)
        elif fam == "milestones":
            a, b = milestones.milestones(fcfg)
            s1 |= a
            s2 |= b
        elif fam == "onboarding":
            s1 |= milestones.onboarding(fcfg)
        elif fam == "friction":
            s1 |= friction.friction(fcfg)
        elif fam == "lifecycle":
            s1 |= lifecycle.lifecycle(fcfg, "renewal_day" in wide_cols)
        elif fam == "vocabulary":
            s1 |= vocabulary.indicators(fcfg)
        elif fam == "history":
            s1 |= history.indicators(fcfg, f"{history.PREFIX}value@0" in wide_cols)
    s1 = _sourced(s1, fcfg)
    if "peer" in families:
        metrics = [str(m) for m in fcfg.peer_metrics]
        absent = [m for m in metrics if m not in s1]
        if absent:
            log.info("peer metrics %s left out: not produced by the enabled families", absent)
        s2 |= peer.peer([m for m in metrics if m in s1])
    return s1, s2


def _build(
    tables: Tables | SpooledTables,
    cutoffs: Sequence[date],
    cfg: DictConfig,
    shared: dict[str, Any] | None = None,
    with_labels: bool = False,
    map_chunks: ChunkMapper | None = None,
) -> tuple[pl.DataFrame, list[str], list[str]]:
    """Eligible rows with ``_t`` and all feature columns; returns (frame, features, segments).

    ``shared`` (optional) receives ``engine``, the build's window engine (for the labels; not
    with ``features.chunk_accounts``), and ``features``, the features config as resolved for
    this data (``_resolve``). ``with_labels``: also the ``label`` column (last), from each
    chunk's engine; only used with ``features.chunk_accounts`` (``_build_chunked``).
    """
    fcfg = _section(cfg, "features")
    if fcfg.chunk_accounts is not None or isinstance(tables, SpooledTables):
        return _build_chunked(tables, cutoffs, cfg, shared, with_labels, map_chunks)
    families = _effective_families(tables, fcfg)
    segments = _segments(tables, cfg)
    with step(f"features: window engine ({len(cutoffs)} cutoffs)", log):
        engine = _engine(tables, cutoffs, fcfg)
    last_cut = date_to_day(max(cutoffs))
    fcfg, families = _resolve(fcfg, families, tables, engine.firsts(), last_cut)
    if shared is not None:
        shared["engine"] = engine
        shared["features"] = fcfg
    with step("features: eligible rows", log):
        rows = eligible_rows(tables, cutoffs, cfg.snapshot, list(cfg.label.churn_events), engine)
    log.info("features: %d eligible rows at %d cutoffs", rows.height, len(cutoffs))
    if rows.height == 0:
        _raise_none_eligible(cutoffs)
    wide, segments = _wide(tables, rows, fcfg, families, segments, engine, last_cut)
    s1, s2 = _family_exprs(fcfg, families, tables, wide.columns)
    s1 |= _sourced(engagement.indicators(fcfg, families, tables.users is not None), fcfg)
    # One lazy query over the wide frame (two dependent with_columns and the final select), so
    # polars can drop unread columns early and fuse the passes instead of materialising each.
    lf = wide.lazy().with_columns([e.alias(n) for n, e in s1.items()])
    return _finish(lf, s1, s2, fcfg, families, segments, ())


def _engine(tables: Tables, cutoffs: Sequence[date], fcfg: Any) -> Engine:
    return build_engine(
        tables,
        [date_to_day(c) for c in cutoffs],
        usage=(fcfg.usage_events, fcfg.non_usage_events),
        counted={
            "errors": fcfg.error_events,
            "tickets": fcfg.ticket_events,
            "invites": fcfg.invite_events,
        },
    )


def _raise_none_eligible(cutoffs: Sequence[date]) -> None:
    raise NoEligibleAccountsError(
        f"no eligible accounts at cutoffs {cutoffs[0]}..{cutoffs[-1]} ({len(cutoffs)} cutoffs)",
        hint="check snapshot.as_of against the data dates, snapshot.min_tenure_days and min_events",
    )


def _wide(
    tables: Tables,
    rows: pl.DataFrame,
    fcfg: Any,
    families: list[str],
    segments: list[str],
    engine: Engine,
    last_cut: int,
) -> tuple[pl.DataFrame, list[str]]:
    """The eligible rows with statics and every window sample the families read (and the
    segment columns, event segments included)."""
    if tables.event_segments:  # segments sent with the events: their value at each cutoff
        rows = event_segments_at(engine, rows, tables.event_segments)
    rows = _with_statics(rows, tables, fcfg, families, segments, engine)
    segments = [*segments, *tables.event_segments]
    # One sampler for both: the same rows, so one account lookup and shared grid cells.
    with step(f"features: window samples of {rows.height:,} rows", log):
        at = engine.sampler(rows)
        wide = engagement.with_samples(
            build_wide(tables, rows, fcfg, families, engine, at), tables, engine, fcfg, families, at
        )
        extra = []
        # The raw-event families share one grid and the events' cells in it (on first use).
        cells = engine.cells(at.grid({*vocabulary.offsets(fcfg), *history.value_offsets(fcfg)}))
        if "vocabulary" in families:
            extra += vocabulary.samples(engine, at, fcfg, cells)
        if "history" in families:
            extra += history.samples(engine, at, fcfg, last_cut, cells)
        if extra:
            wide = wide.with_columns(extra)
    return wide, segments


def _finish(
    lf: pl.LazyFrame,
    s1: dict[str, pl.Expr],
    s2: dict[str, pl.Expr],
    fcfg: Any,
    families: list[str],
    segments: list[str],
    tail: Sequence[str],
) -> tuple[pl.DataFrame, list[str], list[str]]:
    """The cross-row features (``s2``: peer percentiles, milestone delays among peers) and the
    final columns: ids, ``_t``, segments, maturity stage, features, then ``tail``."""
    if s2:
        lf = lf.with_columns([e.alias(n) for n, e in s2.items()])
    names = list(s1) + list(s2)
    stage = lifecycle.maturity_stage(list(fcfg.maturity_days))
    with step(f"features: {len(names)} indicators of {len(families)} families", log):
        out = lf.select(
            *ID_COLUMNS,
            T,
            *segments,
            stage,
            *[pl.col(n).cast(pl.Float64).fill_nan(None) for n in names],
            *tail,
        ).collect()
    return out, names, segments


def account_chunks(tables: Tables | SpooledTables, n: int) -> Iterator[Tables]:
    """``tables`` split into ``n`` disjoint groups of accounts by a seeded hash of
    ``account_id`` (``ingest.spool.chunk_key``: the same split on every run and in ingest);
    events, users and accounts of one account land in the same chunk, each chunk in the
    tables' row order. Made one at a time (a chunk is a copy of its rows), so at most one
    chunk's copy is alive beside the tables. Spooled tables are already chunked (``n`` is
    theirs): each chunk is read from its file."""
    if n < 1:
        raise ConfigValueError(f"features.chunk_accounts must be >= 1 or null, got {n}")
    if isinstance(tables, SpooledTables):
        return (tables.chunk(i) for i in range(tables.n_chunks))
    eager = tables

    def part(df: pl.DataFrame | None, i: int) -> pl.DataFrame | None:
        if df is None:
            return None
        return df.filter(chunk_key(pl.col("account_id"), n) == i)

    return (
        dataclasses.replace(
            eager,
            events=part(eager.events, i),  # type: ignore[arg-type]
            users=part(eager.users, i),
            accounts=part(eager.accounts, i),
        )
        for i in range(n)
    )


def event_firsts(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """(account_id, event, day = first UTC day, n = count) straight from the events: what
    ``Engine.firsts`` gives for an engine over all of them, without building that engine.
    A streaming group-by, so events on disk (``SpooledTables.events``) are never held whole;
    per account, so the firsts of disjoint chunks of accounts concatenate to the whole."""
    return (
        events.lazy()
        .group_by("account_id", "event")
        .agg(day_of(pl.col("timestamp")).min().alias(DAY), pl.len().cast(pl.Int64).alias("n"))
        .sort("account_id", "event")
        .collect(engine="streaming")
    )


def _grain_firsts(grains: list[list[pl.DataFrame]]) -> pl.DataFrame:
    """:func:`event_firsts` from the chunks' account x event grain (``ingest.profile``: the
    same group-by, made while validating each chunk)."""
    return (
        pl.concat([g[2] for g in grains], how="vertical_relaxed")
        .select(
            "account_id",
            "event",
            pl.col("first_day").cast(pl.Int32).alias(DAY),
            pl.col("n").cast(pl.Int64),
        )
        .sort("account_id", "event")
    )


def _value_samples(
    events: pl.DataFrame | pl.LazyFrame,
    fcfg: Any,
    families: Sequence[str],
    before: int,
    grains: list[list[pl.DataFrame]] | None = None,
) -> list[str]:
    """The history value samples (``hist_value@<o>``) the whole build makes: all of them when
    some event before the last cutoff has a value (``history.value_before``; from spooled
    chunks: their first day with a value, the same rule), else none."""
    if "history" not in families or "value" not in events.collect_schema().names():
        return []
    if grains is not None:
        days = [g[0].get_column("v_first_day").item() for g in grains]
        has = any(d is not None and d < before for d in days)
    else:
        day = day_of(pl.col("timestamp"))
        query = events.lazy().select(history.value_before(pl.col("value"), day, before))
        has = bool(query.collect(engine="streaming").item())
    if not has:
        return []
    return [f"{history.PREFIX}value@{o}" for o in history.value_offsets(fcfg)]


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
    """What every chunk of a chunked build shares, decided once on all accounts: the features
    config as the whole data resolves it, the families, segments and cutoffs, and which
    ``value_*`` samples exist. Plain data, so a Dask worker gets it with its task."""

    cfg: Any  # DictConfig (the label, snapshot and features sections are read)
    fcfg: Any  # the resolved features config
    families: list[str]
    segments: list[str]
    out_segments: list[str]
    cutoffs: list[date]
    last_cut: int
    values: list[str]
    with_labels: bool


def plan_chunks(
    tables: Tables | SpooledTables,
    cutoffs: Sequence[date],
    cfg: DictConfig,
    with_labels: bool,
    firsts: pl.DataFrame | None = None,
    values: list[str] | None = None,
) -> ChunkPlan:
    """The shared part of a chunked build (``firsts`` / ``values`` when already reduced from
    the chunks, as ``engine=dask`` does; else computed here from ``tables.events``)."""
    fcfg = _section(cfg, "features")
    families = _effective_families(tables, fcfg)
    segments = _segments(tables, cfg)
    last_cut = date_to_day(max(cutoffs))
    grains = tables.spool.grains if isinstance(tables, SpooledTables) else None
    if firsts is None:
        firsts = event_firsts(tables.events) if grains is None else _grain_firsts(grains)
    fcfg, families = _resolve(fcfg, families, tables, firsts, last_cut)
    if values is None:
        values = _value_samples(tables.events, fcfg, families, last_cut, grains)
    return ChunkPlan(
        cfg=cfg,
        fcfg=fcfg,
        families=families,
        segments=segments,
        out_segments=[*segments, *tables.event_segments],
        cutoffs=list(cutoffs),
        last_cut=last_cut,
        values=values,
        with_labels=with_labels,
    )


def build_chunk(chunk: Tables, plan: ChunkPlan, index: int = 0, n: int = 1) -> pl.DataFrame | None:
    """One chunk's eligible rows with ``_t``, statics, window samples, every per-account
    indicator (``s1``) and, with labels, ``label`` (None when none is eligible): the unit of
    work of the chunked build, run here in a loop or on a Dask worker."""
    cfg, fcfg, cutoffs = plan.cfg, plan.fcfg, plan.cutoffs
    no_accounts = chunk.accounts is None or chunk.accounts.is_empty()
    if chunk.events.is_empty() and (no_accounts or int(cfg.snapshot.min_events) > 0):
        return None  # no account of the chunk can be eligible
    with step(f"features: chunk {index + 1}/{n}: window engine ({len(cutoffs)} cutoffs)", log):
        engine = _engine(chunk, cutoffs, fcfg)
    rows = eligible_rows(chunk, cutoffs, cfg.snapshot, list(cfg.label.churn_events), engine)
    if rows.height == 0:
        return None
    wide, _ = _wide(chunk, rows, fcfg, plan.families, plan.segments, engine, plan.last_cut)
    if plan.values:  # left out by history only when no account has a value: 0 for these
        wide = wide.with_columns(
            pl.lit(0.0, pl.Float64).alias(c) for c in plan.values if c not in wide.columns
        )
    s1, _ = _family_exprs(fcfg, plan.families, chunk, wide.columns)
    s1 |= _sourced(engagement.indicators(fcfg, plan.families, chunk.users is not None), fcfg)
    part = wide.lazy().with_columns([e.alias(k) for k, e in s1.items()]).collect()
    if plan.with_labels:
        labels = build_labels(chunk, part.select(*ID_COLUMNS, T), cfg.label, engine=engine)
        part = part.with_columns(labels.get_column("label"))
    return part


def finish_chunks(
    parts: Sequence[pl.DataFrame], plan: ChunkPlan, tables: Tables | SpooledTables
) -> tuple[pl.DataFrame, list[str], list[str]]:
    """The reduce step: the chunks' rows in the unchunked order (cutoff, account_id), then the
    features that read across accounts (``s2``: peer percentiles, milestone delays among
    peers) on all of them (``_finish``)."""
    height = sum(p.height for p in parts)
    log.info("features: %d eligible rows at %d cutoffs", height, len(plan.cutoffs))
    if height == 0:
        _raise_none_eligible(plan.cutoffs)
    # s1/s2 expressions again, from the columns every part has (the same in each part).
    s1, s2 = _family_exprs(plan.fcfg, plan.families, tables, parts[0].columns)
    s1 |= _sourced(
        engagement.indicators(plan.fcfg, plan.families, tables.users is not None), plan.fcfg
    )
    lf = pl.concat(parts, how="vertical").lazy().sort("cutoff", "account_id")
    tail = ("label",) if plan.with_labels else ()
    return _finish(lf, s1, s2, plan.fcfg, plan.families, plan.out_segments, tail)


#: Builds chunks 0..n-1 of ``tables`` (``build_chunk`` each): a loop here
#: (:func:`build_chunks_here`), tasks on a Dask cluster with ``engine=dask``
#: (``features.distributed``).
ChunkMapper = Callable[["Tables | SpooledTables", ChunkPlan, int], list[pl.DataFrame | None]]


def build_chunks_here(
    tables: Tables | SpooledTables, plan: ChunkPlan, n: int
) -> list[pl.DataFrame | None]:
    """One chunk after the other in this process: one chunk's events and engine at a time."""
    return [build_chunk(chunk, plan, i, n) for i, chunk in enumerate(account_chunks(tables, n))]


def _build_chunked(
    tables: Tables | SpooledTables,
    cutoffs: Sequence[date],
    cfg: DictConfig,
    shared: dict[str, Any] | None,
    with_labels: bool,
    map_chunks: ChunkMapper | None = None,
) -> tuple[pl.DataFrame, list[str], list[str]]:
    """``_build`` on hash-chunks of accounts, one engine each (``features.chunk_accounts``
    chunks, or the spool's): :func:`plan_chunks` on all accounts, :func:`build_chunk` per
    chunk, :func:`finish_chunks` on their rows. Every feature but the ``s2`` ones reads one
    account, so the dataset equals the unchunked build."""
    plan = plan_chunks(tables, cutoffs, cfg, with_labels)
    if shared is not None:
        shared["features"] = plan.fcfg
    n = tables.n_chunks if isinstance(tables, SpooledTables) else int(plan.fcfg.chunk_accounts)
    parts = [p for p in (map_chunks or build_chunks_here)(tables, plan, n) if p is not None]
    if not parts:
        _raise_none_eligible(plan.cutoffs)
    return finish_chunks(parts, plan, tables)


def build_features(
    tables: Tables | SpooledTables,
    cutoffs: Sequence[date],
    cfg: DictConfig,
    shared: dict[str, Any] | None = None,
    map_chunks: ChunkMapper | None = None,
) -> pl.DataFrame:
    """Point-in-time features (no labels) for the eligible accounts at ``cutoffs``.

    Row at cutoff ``t`` reads only events with ``timestamp < t``. Columns: ids, segments,
    maturity_stage, features. Raises NoEligibleAccountsError when no row is eligible.
    ``shared`` (optional) receives ``features``: the features config as resolved for this data
    (the concrete vocabulary, absent sources left out), to render the catalogue with.
    """
    out, _, _ = _build(tables, sorted(cutoffs), cfg, shared, map_chunks=map_chunks)
    return out.drop(T)


def build_dataset(
    tables: Tables | SpooledTables, cfg: DictConfig, map_chunks: ChunkMapper | None = None
) -> tuple[pl.DataFrame, dict[str, dict[str, str]]]:
    """dataset.parquet contents and the rendered feature catalogue for the snapshot schedule.

    Settings left open in ``cfg`` (the cutoff schedule, vocabulary, milestones, ...) are filled
    from the data's profile first (``ingest.defaults``); pipelines resolve them beforehand (so
    they can write the profile and log the choices once) and pass the filled config."""
    from ingest.defaults import with_data_defaults

    cfg, _ = with_data_defaults(cfg, tables)
    snap = cfg.snapshot
    cutoffs = cutoff_dates(str(snap.as_of), int(snap.every_days), int(snap.count))
    shared: dict[str, Any] = {}
    if cfg.features.chunk_accounts is not None or isinstance(tables, SpooledTables):
        # labels from each chunk's engine
        feats, names, _ = _build(tables, cutoffs, cfg, shared, True, map_chunks)
        dataset = feats.drop(T)
    else:
        feats, names, _ = _build(tables, cutoffs, cfg, shared)
        rows = feats.select("account_id", "cutoff", T)
        labels = build_labels(tables, rows, cfg.label, engine=shared["engine"])
        dataset = feats.drop(T).with_columns(labels.get_column("label"))
    catalogue = render_catalogue(names, cfg.catalogue, shared["features"])
    return dataset, catalogue


def drop_constant_features(
    dataset: pl.DataFrame, catalogue: dict[str, dict[str, str]]
) -> tuple[pl.DataFrame, dict[str, dict[str, str]], list[str]]:
    """Leave out features with one value on every row of the dataset (no nulls), unless another
    feature's sentence quotes them: (dataset, catalogue, dropped).

    Why: a column that never varies carries nothing for the model and reads as noise on the
    pages (e.g. ``onboarding_observed_days`` when every eligible account is past onboarding, or
    a count of an event that is always 0). Scoring builds them anyway and ignores them: the model
    lists the columns it reads. Applied by the pipelines to the dataset they write."""
    cited = {
        m for e in catalogue.values() for m in re.findall(r"\{(\w+)\}", str(e.get("sentence", "")))
    }
    if dataset.height < 2:
        return dataset, catalogue, []
    stats = dataset.select(
        [
            pl.struct(pl.col(n).null_count().alias("z"), pl.col(n).n_unique().alias("u")).alias(n)
            for n in catalogue
            if n in dataset.columns and n not in cited
        ]
    )
    dropped = [n for n in stats.columns if stats[n][0]["z"] == 0 and stats[n][0]["u"] <= 1]
    if dropped:
        log.info("features with one value on every row left out: %s", dropped)
    return (
        dataset.drop(dropped),
        {k: v for k, v in catalogue.items() if k not in dropped},
        dropped,
    )


def feature_columns(dataset: pl.DataFrame, segments: Sequence[str] = ()) -> list[str]:
    """The numeric feature columns of a dataset (everything but ids, segments, stage, label)."""
    skip = set(NON_FEATURES) | set(segments)
    return [c for c, t in dataset.schema.items() if c not in skip and t == pl.Float64]


def _plain(section: Any) -> Any:
    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        return dataclasses.asdict(section)
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(section):
            return OmegaConf.to_container(section, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    return section


def dataset_fingerprint(cfg: DictConfig) -> str:
    """Stable sha256 of the resolved data/snapshot/label/features/catalogue sections (+ code
    version): equal fingerprints mean a cached dataset.parquet can be reused as is."""
    payload = {
        k: _plain(getattr(cfg, k)) for k in ("data", "snapshot", "label", "features", "catalogue")
    }
    # How the build is chunked does not change the dataset (docs/scaling.md).
    payload["features"].pop("chunk_accounts", None)
    payload["_version"] = FEATURES_VERSION
    blob = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
