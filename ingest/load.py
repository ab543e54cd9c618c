"""``load_tables``: raw sources in, validated canonical :class:`ingest.tables.Tables` out.

Order matters: accounts are validated first because users and events are checked against the
clean account ids (an event of an account that was itself rejected is an unknown account too).
All three tables are validated before ``data.on_error=fail`` raises, so the one error lists every
problem at once instead of one per run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
from omegaconf import DictConfig

from core.config import OnError
from core.errors import DataValidationError
from core.logs import get_logger
from core.progress import step
from ingest.quarantine import log_counts, raise_if_rejected, write_quarantine
from ingest.read import column_mapping, scan_table
from ingest.tables import Tables
from ingest.validate import ValidatedTable, contract_for, fill_event_defaults, validate_table

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


def observed_until_from_events(events: pl.DataFrame) -> datetime:
    """Start (00:00 UTC) of the day after the newest event: the exclusive end of observation.

    Why the whole next day: a log exported mid-day is treated as covering that day; cutoffs are
    dates, so a partial last day can never end a label window early by a few hours.
    """
    newest = events.select(pl.col("timestamp").max()).item()
    if newest is None:
        raise DataValidationError(
            "no valid events: cannot tell when observation ends",
            hint="check data.events and the quarantine, or set data.observed_until",
        )
    day = newest.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=UTC)


def account_attributes(cfg: DictConfig) -> list[str]:
    """Optional accounts columns the features read besides the segments (kept when present)."""
    names: list[str | None] = [cfg.features.renewal_cycle_column, cfg.features.peer_segment]
    return [n for n in names if n]


def load_tables(cfg: DictConfig, quarantine_dir: Path, now: datetime | None = None) -> Tables:
    """Read, map, validate (and quarantine) ``data.events/users/accounts`` into :class:`Tables`.

    ``now`` is the wall-clock instant for the future-timestamp check (default: the real now,
    UTC). With ``data.on_error=fail`` any rejected row raises one
    :class:`core.errors.DataValidationError`; with ``quarantine`` rejected rows are written to
    ``<quarantine_dir>/<table>.parquet`` and the clean rows go on. Table-level problems (missing
    or mistyped columns, unknown segment columns) always raise.
    """
    data = cfg.data
    now = now or datetime.now(UTC)
    mapping = column_mapping(data.columns)
    segments: list[str] = list(data.segments)
    opts = {"timezone": data.timezone, "timestamp_format": data.timestamp_format, "now": now}

    with step("ingest: read and validate tables", log):
        raw_accounts = scan_table("accounts", data.accounts, data.format, mapping)
        raw_users = scan_table("users", data.users, data.format, mapping)
        raw_events = scan_table("events", data.events, data.format, mapping)
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

        done: list[ValidatedTable] = []
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
        events = validate_table(
            raw_events, contract_for("events", event_segments), known_accounts=known, **opts
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
    clean_events = fill_event_defaults(by_name["events"], data.default_event)
    if clean_events.is_empty():
        raise DataValidationError(
            f"no valid events in {data.events} (all rows rejected or none present)",
            hint="check the quarantine folder for the reasons",
        )
    if data.observed_until is not None:
        observed_until = parse_observed_until(data.observed_until)
    else:
        observed_until = observed_until_from_events(clean_events)
    log.info(
        "ingest: %d events, observed until %s (exclusive, UTC)",
        clean_events.height,
        observed_until.isoformat(),
    )
    return Tables(
        events=clean_events,
        users=by_name.get("users"),
        accounts=by_name.get("accounts"),
        observed_until=observed_until,
        segments=segments,
        event_segments=event_segments,
    )
