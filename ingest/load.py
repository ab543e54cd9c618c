"""``load_tables``: raw sources in, validated canonical :class:`ingest.tables.Tables` out.

Order matters: accounts are validated first because users and events are checked against the
clean account ids (an event of an account that was itself rejected is an unknown account too).
All three tables are validated before ``data.on_error=fail`` raises, so the one error lists every
problem at once instead of one per run.

``data.layout=tracking_plan``: the ``tracks`` and ``groups`` tables are validated against their
own contracts first (rejected rows named by *their* table and columns: quarantine/tracks.parquet,
quarantine/groups.parquet; tracks of users without a group call get ``user_has_no_group``), then
:mod:`ingest.layouts` derives events, users and accounts from the clean rows, and those go through
the same validation as files (their rejects name the trait or property they came from).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from omegaconf import DictConfig

from core.config import DataLayout, OnError
from core.errors import DataValidationError
from core.logs import get_logger
from core.progress import step
from ingest import layouts
from ingest.postgres import PostgresSource
from ingest.quarantine import log_counts, raise_if_rejected, write_quarantine
from ingest.read import RawTable, column_mapping, scan_table
from ingest.spool import EventSpool, SpoolRunner, rejected_of, spool_from
from ingest.tables import SpooledTables, Tables
from ingest.validate import (
    REASON,
    REASON_COLUMN,
    ValidatedTable,
    check_schema,
    contract_for,
    fill_event_defaults,
    reason_counts,
    validate_table,
)

log = get_logger(__name__)


def parse_observed_until(value: str | date | datetime) -> datetime:
    """``data.observed_until`` (ISO date, or date-time; naive means UTC) as a UTC datetime."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError as err:
            raise DataValidationError(
                f"data.observed_until={value!r} is not an ISO date",
                hint="use e.g. data.observed_until=2026-11-01, or null to derive it from events",
            ) from err
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _day_after(newest: datetime) -> datetime:
    """Start (00:00 UTC) of the day after the newest event: the exclusive end of observation.

    Why the whole next day: a log exported mid-day is treated as covering that day; cutoffs are
    dates, so a partial last day can never end a label window early by a few hours.
    """
    day = newest.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=UTC)


def account_attributes(cfg: DictConfig) -> list[str]:
    """Optional accounts columns the features read besides the segments (kept when present)."""
    names: list[str | None] = [cfg.features.renewal_cycle_column, cfg.features.peer_segment]
    return [n for n in names if n]


@dataclass
class _SpoolRequest:
    folder: Path
    n: int
    runner: SpoolRunner


def load_tables(cfg: DictConfig, quarantine_dir: Path, now: datetime | None = None) -> Tables:
    """Read, map, validate (and quarantine) ``data.events/users/accounts`` into :class:`Tables`.

    ``now`` is the wall-clock instant for the future-timestamp check (default: the real now,
    UTC). With ``data.on_error=fail`` any rejected row raises one
    :class:`core.errors.DataValidationError`; with ``quarantine`` rejected rows are written to
    ``<quarantine_dir>/<table>.parquet`` and the clean rows go on. Table-level problems (missing
    or mistyped columns, unknown segment columns) always raise.
    """
    tables = _load(cfg, quarantine_dir, now, None)
    assert isinstance(tables, Tables)
    return tables


def load_spooled_tables(
    cfg: DictConfig,
    quarantine_dir: Path,
    folder: Path,
    n: int,
    now: datetime | None = None,
    runner: SpoolRunner | None = None,
) -> SpooledTables:
    """:func:`load_tables` with the events validated per hash-chunk of accounts into
    ``folder`` (``ingest.spool``): the same clean rows and the same rejects (the quarantine
    is ordered chunk by chunk), with no step holding every event. ``runner`` runs the two
    passes (default here; ``features.distributed.ClusterSpoolRunner`` on a Dask cluster)."""
    if n < 1:
        raise DataValidationError(f"the number of account chunks must be >= 1, got {n}")
    request = _SpoolRequest(Path(folder), n, runner or SpoolRunner())
    tables = _load(cfg, quarantine_dir, now, request)
    assert isinstance(tables, SpooledTables)
    return tables


def _validate_spooled(
    raw: RawTable, contract: Any, request: _SpoolRequest, default_event: str, **opts: Any
) -> tuple[ValidatedTable, EventSpool]:
    """The events table through the two-pass spool (``ingest.spool``)."""
    with step(f"ingest: validate {contract.name} in {request.n} chunks of accounts", log):
        split = request.runner.partition(raw, contract, opts, request.n, request.folder)
        results = request.runner.validate(request.folder, request.n, split, default_event)
    spool = spool_from(request.folder, request.n, results)
    rejected = rejected_of(results)
    table = ValidatedTable(
        raw=raw,
        clean=pl.DataFrame(schema=spool.schema),  # the rows are in the spool, not here
        rejected=rejected,
        counts=reason_counts(rejected) if rejected.height else {},
        n_clean=spool.rows,
    )
    return table, spool


def _load(
    cfg: DictConfig, quarantine_dir: Path, now: datetime | None, spooled: _SpoolRequest | None
) -> Tables | SpooledTables:
    data = cfg.data
    now = now or datetime.now(UTC)
    mapping = column_mapping(data.columns)
    segments: list[str] = list(data.segments)
    opts = {"timezone": data.timezone, "timestamp_format": data.timestamp_format, "now": now}

    source = PostgresSource.from_data(data)  # None: files (data=postgres: docs/postgres.md)
    with step("ingest: read and validate tables", log):
        # Tables validated before the canonical three (tracking plan: tracks and groups).
        done: list[ValidatedTable] = []
        if data.layout == DataLayout.tracking_plan:
            raw_accounts, raw_users, raw_events, done = read_tracking_plan(
                cfg, mapping, source, opts
            )
        else:
            raw_accounts = scan_table("accounts", data.accounts, data.format, mapping, source)
            raw_users = scan_table("users", data.users, data.format, mapping, source)
            raw_events = scan_table("events", data.events, data.format, mapping, source)
        # Segments live in the accounts table, or on the events (the latest value before each
        # cutoff is the account's: features.segments); accounts win when both have a column.
        acc_cols = set(raw_accounts.frame.collect_schema().names()) if raw_accounts else set()
        ev_cols = set(raw_events.frame.collect_schema().names()) if raw_events else set()
        event_segments = [s for s in segments if s not in acc_cols and s in ev_cols]
        segments = [s for s in segments if s not in event_segments]
        if event_segments:
            log.info(
                "segments %s read from the events (latest value before each cutoff)", event_segments
            )
        if raw_accounts is None and segments:
            log.info(
                "data.accounts=null: data.segments=%s ignored (no such column on the "
                "events either)",
                segments,
            )
            segments = []

        known: pl.Series | None = None
        if raw_accounts is not None:
            accounts = validate_table(
                raw_accounts, contract_for("accounts", segments, account_attributes(cfg)), **opts
            )
            known = accounts.clean["account_id"]
            done.append(accounts)
        if raw_users is not None:
            done.append(
                validate_table(raw_users, contract_for("users"), known_accounts=known, **opts)
            )
        assert raw_events is not None  # data.events is a path (the schema has no null for it)
        spool: EventSpool | None = None
        ev_contract = contract_for("events", event_segments)
        if spooled is None:
            events = validate_table(raw_events, ev_contract, known_accounts=known, **opts)
        else:
            events, spool = _validate_spooled(
                raw_events,
                ev_contract,
                spooled,
                str(data.default_event),
                known_accounts=known,
                **opts,
            )
        done.append(events)

    for table in done:
        log_counts(table)
    if data.on_error == OnError.fail:
        raise_if_rejected(done)
    else:
        for table in done:
            write_quarantine(table, Path(quarantine_dir))

    by_name = {t.raw.name: t.clean for t in done}
    if spool is None:
        clean_events = fill_event_defaults(by_name["events"], data.default_event)
        rows, newest = clean_events.height, clean_events.get_column("timestamp").max()
    else:
        rows, newest = spool.rows, spool.newest
    if rows == 0 or newest is None:
        raise DataValidationError(
            f"no valid events in {data.events} (all rows rejected or none present)",
            hint="check the quarantine folder for the reasons",
        )
    if data.observed_until is not None:
        observed_until = parse_observed_until(data.observed_until)
    else:
        observed_until = _day_after(newest)  # type: ignore[arg-type]
    where = "" if spool is None else f" in {spool.n} chunks of accounts under {spool.folder}"
    log.info(
        "ingest: %d events%s, observed until %s (exclusive, UTC)",
        rows,
        where,
        observed_until.isoformat(),
    )
    rest: dict[str, Any] = {
        "users": by_name.get("users"),
        "accounts": by_name.get("accounts"),
        "observed_until": observed_until,
        "segments": segments,
        "event_segments": event_segments,
    }
    if spool is None:
        return Tables(events=clean_events, **rest)
    return SpooledTables(spool=spool, **rest)


# ----------------------------------------------------------------------------- tracking plan


def tracking_plan_of(cfg: DictConfig, groups: pl.LazyFrame) -> layouts.TrackingPlan:
    """``data.tracking_plan`` in canonical terms: which trait fills which users/accounts/events
    column. Segments must be set on some group call (like a segment column must exist); the
    optional account and user traits are kept only when some call sets them."""
    data, tp = cfg.data, cfg.data.tracking_plan
    # A segment sent as an event property lives on the events (features.segments).
    segments = [s for s in data.segments if s not in list(tp.event_properties)]
    mapped = {str(k): str(v) for k, v in dict(tp.account_traits).items()}
    optional = [*account_attributes(cfg), *layouts.ACCOUNT_COLUMNS, *mapped]
    wanted = {c: mapped.get(c, c) for c in dict.fromkeys([*segments, *optional])}
    user = {str(c): str(k) for c, k in dict(tp.user_traits).items()}
    keys = list(dict.fromkeys([*wanted.values(), *user.values()]))
    set_ = set(layouts.set_keys(groups, keys, tp.traits))
    unset = [s for s in segments if wanted[s] not in set_]
    if unset:
        raise DataValidationError(
            f"groups ({data.groups}): segment trait(s) {unset} from data.segments are set on no "
            f"group call (traits column {tp.traits!r}, columns "
            f"{groups.collect_schema().names()})",
            hint="set data.segments to traits of the group calls, or map one with "
            "data.tracking_plan.account_traits.<segment>=<trait>",
        )
    for column in optional:
        if wanted[column] not in set_ and column in mapped:
            log.info(
                "tracking plan: trait %r (accounts.%s) is set on no group call",
                mapped[column],
                column,
            )
    account = {c: k for c, k in wanted.items() if k in set_}
    user = {c: k for c, k in user.items() if k in set_}  # role: null when never set
    event: dict[str, str] = {}
    if tp.segments_as_of_event:
        event = {s: account.pop(s) for s in segments}
    return layouts.TrackingPlan(
        properties=tp.properties,
        traits=tp.traits,
        value_property=tp.value_property,
        event_properties=tuple(str(p) for p in tp.event_properties),
        user_traits=user,
        account_traits=account,
        event_traits=event,
    )


def _source_names(
    raw: RawTable, traits: Mapping[str, str], json_column: str | None, group_id: str
) -> dict[str, str]:
    """Canonical column -> where it came from (``traits.<key>``, a column), for messages and
    the quarantine; the columns ``data.columns`` renamed keep their source names."""
    columns = raw.frame.collect_schema().names()

    def where(key: str) -> str:
        return key if key in columns or json_column is None else f"{json_column}.{key}"

    names = dict(raw.source_names)
    names |= {c: where(k) for c, k in traits.items() if where(k) != c}
    if group_id != "account_id":
        names["account_id"] = group_id
    return names


def read_tracking_plan(
    cfg: DictConfig, mapping: dict[str, str], source: Any, opts: dict[str, Any]
) -> tuple[RawTable | None, RawTable | None, RawTable | None, list[ValidatedTable]]:
    """Read and validate ``data.tracks``/``data.groups``, derive the canonical three (raw, to
    be validated like files) and return them with the two validated source tables."""
    data, tp = cfg.data, cfg.data.tracking_plan
    if data.tracks is None or data.groups is None:
        raise DataValidationError(
            "data.layout=tracking_plan needs data.tracks and data.groups",
            hint="e.g. data=tracking_plan data.tracks=exports/tracks.parquet "
            "data.groups=exports/groups.parquet",
        )
    raw_tracks = scan_table("tracks", data.tracks, data.format, mapping, source)
    raw_groups = scan_table("groups", data.groups, data.format, mapping, source)
    assert raw_tracks is not None and raw_groups is not None
    group_id = str(tp.group_id)
    gnames = raw_groups.frame.collect_schema().names()
    if group_id not in gnames and "account_id" in gnames:
        group_id = "account_id"  # mapped by data.columns.account_id=<group id column>
    account_source = raw_groups.source_name(group_id)  # the groups' own name for it
    raw_groups.frame = layouts.as_json_text(raw_groups.frame, tp.traits)
    raw_tracks.frame = layouts.as_json_text(raw_tracks.frame, tp.properties)

    groups = validate_table(
        raw_groups, layouts.groups_contract(raw_groups.frame, group_id, tp.traits), **opts
    )
    clean_groups = groups.clean.lazy().rename(
        {group_id: "account_id"} if group_id != "account_id" else {}
    )
    contract = layouts.tracks_contract_for(raw_tracks.frame, tp.properties)
    check_schema(raw_tracks, contract)
    grouped, ungrouped = layouts.split_grouped(raw_tracks.frame, clean_groups)
    tracks = validate_table(replace(raw_tracks, frame=grouped), contract, **opts)
    tracks = _with_rejected(tracks, ungrouped)

    plan = tracking_plan_of(cfg, clean_groups)
    derived = layouts.derive_tables(tracks.clean.lazy(), clean_groups, plan)
    origin = f"derived from tracks ({raw_tracks.location}) and groups ({raw_groups.location})"

    def raw(name: str, frame: pl.LazyFrame, names: dict[str, str], files: RawTable) -> RawTable:
        return RawTable(
            name=name,
            spec=origin,
            files=files.files,
            format=files.format,
            frame=frame,
            source_names=names,
            origin=origin,
        )

    props = {"value": plan.value_property} if plan.value_property else {}
    props |= {p: p for p in plan.event_properties}
    ev_names = _source_names(raw_tracks, props, plan.properties, account_source)
    ev_names |= _source_names(raw_groups, plan.event_traits, plan.traits, account_source)
    acc_names = _source_names(raw_groups, plan.account_traits, plan.traits, account_source)
    user_names = _source_names(raw_groups, plan.user_traits, plan.traits, account_source)
    log.info(
        "tracking plan: accounts <- traits %s, users <- traits %s, events <- traits %s",
        dict(plan.account_traits),
        dict(plan.user_traits),
        dict(plan.event_traits),
    )
    return (
        raw("accounts", derived.accounts, acc_names, raw_groups),
        raw("users", derived.users, user_names, raw_groups),
        raw("events", derived.events, ev_names, raw_tracks),
        [tracks, groups],
    )


def _with_rejected(table: ValidatedTable, ungrouped: pl.LazyFrame) -> ValidatedTable:
    """``table`` plus the tracks of users without a group call, raw, as ``user_has_no_group``."""
    rows = (
        ungrouped.select(table.rejected.drop(REASON, REASON_COLUMN).columns)
        .with_columns(
            pl.lit(layouts.NO_GROUP).alias(REASON),
            pl.lit("user_id", dtype=pl.String).alias(REASON_COLUMN),
        )
        .collect()
    )
    if rows.is_empty():
        return table
    rejected = pl.concat([table.rejected, rows], how="vertical_relaxed")
    counts = dict(table.counts)
    counts[(layouts.NO_GROUP, "user_id")] = rows.height
    return replace(table, rejected=rejected, counts=counts)
