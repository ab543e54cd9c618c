"""Canonical tables: the data contract every source is mapped onto.

Any event log (product analytics, transaction log, clickstream) reaches the pipeline through a
column mapping in config (``data.columns.<canonical>=<source column>``) and is validated against
these dtypes. All timestamps are UTC, microsecond precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:  # the spool module imports this one (the bare contract)
    from ingest.spool import EventSpool

TS = pl.Datetime("us", "UTC")

# Required and optional columns per table, with their canonical dtypes.
EVENTS_REQUIRED: dict[str, pl.DataType] = {"account_id": pl.String(), "timestamp": TS}
EVENTS_OPTIONAL: dict[str, pl.DataType] = {
    "user_id": pl.String(),  # defaults to the account id (account-level logs)
    "event": pl.String(),  # defaults to data.default_event
    "value": pl.Float64(),  # defaults to null
}
USERS_REQUIRED: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "account_id": pl.String(),
    "role": pl.String(),
    "created_at": TS,
}
USERS_OPTIONAL: dict[str, pl.DataType] = {"deactivated_at": TS}
ACCOUNTS_REQUIRED: dict[str, pl.DataType] = {"account_id": pl.String(), "created_at": TS}
ACCOUNTS_OPTIONAL: dict[str, pl.DataType] = {
    "renewal_date": TS,
    "churned_at": TS,
    "seats": pl.Int64(),
}  # plus the segment columns named in data.segments (String)


def has_value(value: pl.Expr) -> pl.Expr:
    """Whether an event's ``value`` counts as a value: non-null and not NaN (the one rule for the
    profile's grains and the ``value_*`` features, ``features.history.value_before``)."""
    return value.cast(pl.Float64).fill_nan(None).is_not_null()


@dataclass
class Tables:
    """Validated canonical tables.

    ``events`` always has all of account_id, user_id, event, timestamp, value (optional columns
    filled with their defaults). ``users``/``accounts`` are None when the source has no such table.
    ``observed_until`` is the exclusive end of observation (UTC): nothing at or after it is known,
    so label windows must end on or before it.
    """

    events: pl.DataFrame
    users: pl.DataFrame | None
    accounts: pl.DataFrame | None
    observed_until: datetime
    segments: list[str]
    #: Segment columns that live on the events (String, nullable): an account's value at a
    #: cutoff is its latest non-null value strictly before it (``features.segments``).
    event_segments: list[str] = field(default_factory=list)


@dataclass
class SpooledTables:
    """Validated tables whose events stay on disk, one file per hash-chunk of accounts
    (``ingest.spool``; docs/scaling.md): what ``decay-features`` builds from when
    ``features.chunk_accounts`` is set or ``engine=dask``, so no step holds every event.

    ``events`` is a lazy scan of every clean event (for streaming aggregations: the profile,
    the first day of each event); :meth:`chunk` is one chunk as eager :class:`Tables`, the unit
    every feature is computed on. Users and accounts are small and stay in memory.
    """

    spool: EventSpool
    users: pl.DataFrame | None
    accounts: pl.DataFrame | None
    observed_until: datetime
    segments: list[str]
    event_segments: list[str] = field(default_factory=list)

    @property
    def events(self) -> pl.LazyFrame:
        return self.spool.scan()

    @property
    def n_chunks(self) -> int:
        return self.spool.n

    def chunk(self, i: int) -> Tables:
        """Chunk ``i``: its events (source order), and the users and accounts of its accounts."""
        from ingest.spool import chunk_key

        def part(df: pl.DataFrame | None) -> pl.DataFrame | None:
            if df is None:
                return None
            return df.filter(chunk_key(pl.col("account_id"), self.n_chunks) == i)

        return Tables(
            events=self.spool.chunk(i),
            users=part(self.users),
            accounts=part(self.accounts),
            observed_until=self.observed_until,
            segments=self.segments,
            event_segments=self.event_segments,
        )

    def collect(self) -> Tables:
        """All events in one :class:`Tables` (memory grows with events: small logs, tests)."""
        return Tables(
            events=self.events.collect(),
            users=self.users,
            accounts=self.accounts,
            observed_until=self.observed_until,
            segments=self.segments,
            event_segments=self.event_segments,
        )
