"""Validated events on disk, one parquet file per hash-chunk of accounts (docs/scaling.md).

Why: a log of 100M events does not fit twice in memory, but one chunk of its accounts does.
Validation then runs in two passes, neither of which holds every event:

1. :func:`partition_raw`: one streaming pass over the source runs the row-level checks
   (``ingest.validate.plan_validation``: parse, null ids, future timestamps, unknown accounts)
   and sinks every row, with its raw columns, canonical values and reason, into
   ``<folder>/raw/__chunk=<i>/`` by ``hash(account_id) % n``.
2. :func:`validate_chunk`, per chunk: the rows of one chunk (source order kept) get the
   exact-duplicate and duplicate-key checks (``ingest.validate.split_rows``; exact, because
   every row of an account is in its chunk and ``account_id`` is part of both keys), the event
   defaults, and the clean rows are written to ``<folder>/events/chunk-<i>.parquet``.

The chunk of an account is the one ``features.build.account_chunks`` gives it (same hash of
the canonical ``account_id``), so the feature build reads one file per chunk. ``engine=dask``
runs :func:`validate_chunk` on the workers, one task per chunk (``features.distributed``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from core.errors import DataValidationError
from ingest.profile import chunk_grains
from ingest.read import RawTable
from ingest.validate import (
    RowSplit,
    TableContract,
    ValidationPlan,
    fill_event_defaults,
    plan_validation,
    split_rows,
)

#: The chunk-number column of the raw spool (a hive key: ``raw/__chunk=3/…``).
CHUNK = "__chunk"
#: Spool files are read once or twice and then removed: fast to write beats small (lz4 writes
#: a 6M-row chunk in 0.65 s against zstd's 0.85 s and reads it in half the time).
SPOOL_COMPRESSION: Final = "lz4"


def chunk_key(account_id: pl.Expr, n: int) -> pl.Expr:
    """The chunk (0..n-1) of each account: the one rule for ingest and the feature build."""
    return (account_id.hash(seed=0) % n).cast(pl.Int64)


@dataclass(frozen=True)
class ChunkResult:
    """One validated chunk: its clean file (None when no row is clean), its rows, the rejected
    raw rows and the profile's aggregations of its clean events (``ingest.profile.chunk_grains``;
    None without clean rows)."""

    index: int
    path: str | None
    rows: int
    rejected: pl.DataFrame
    grains: list[pl.DataFrame] | None = None


@dataclass(frozen=True)
class EventSpool:
    """The clean events of a validated log, chunk by chunk (``ingest.tables.SpooledTables``)."""

    folder: Path
    n: int
    files: tuple[str | None, ...]  # chunk i's clean events, None when it has none
    rows: int
    schema: dict[str, pl.DataType]
    #: Per chunk with clean events: the profile's grains (``ingest.profile.combine_grains``),
    #: aggregated while the chunk was in memory, so the profile and the feature build's first
    #: days need no second pass over the events.
    grains: list[list[pl.DataFrame]] | None = None

    @property
    def newest(self) -> datetime | None:
        """The newest clean timestamp (for ``observed_until``), from the grains' overall rows."""
        if self.grains is None:
            return None
        last = [g[0].get_column("last_ts").item() for g in self.grains]
        return max((t for t in last if t is not None), default=None)

    def scan(self) -> pl.LazyFrame:
        """Every clean event, lazily (streaming aggregations over it hold no event table)."""
        paths = [p for p in self.files if p]
        if not paths:
            return pl.LazyFrame(schema=self.schema)
        return pl.scan_parquet(paths)

    def chunk(self, i: int) -> pl.DataFrame:
        """Chunk ``i``'s clean events, in source order."""
        path = self.files[i]
        return pl.DataFrame(schema=self.schema) if path is None else pl.read_parquet(path)


def raw_dir(folder: Path) -> Path:
    return folder / "raw"


def partition_raw(plan: ValidationPlan, n: int, folder: Path, part: int = 0) -> None:
    """Pass 1: the plan's query, streamed into ``<folder>/raw/part=<part>/__chunk=<i>/``
    (source order kept within a chunk). ``part``: which share of the source files this is
    (one per Dask task; the parts' files are read in part order). A folder left by an earlier
    run is replaced."""
    out = raw_dir(folder) / f"part={part:05d}"
    if out.exists():
        shutil.rmtree(out)
    key = chunk_key(pl.col(plan.split.canon["account_id"]), n)
    try:
        plan.query.with_columns(key.alias(CHUNK)).sink_parquet(
            pl.PartitionBy(out, key=CHUNK, include_key=False, approximate_bytes_per_file=None),
            compression=SPOOL_COMPRESSION,
            mkdir=True,
            engine="streaming",
        )
    except pl.exceptions.PolarsError as err:
        raise DataValidationError(
            f"{plan.name} ({plan.location}): cannot read the table: {err}",
            hint="make every file of the table share the same columns and types",
        ) from err


def validate_chunk(folder: Path, i: int, split: RowSplit, default_event: str) -> ChunkResult:
    """Pass 2 for chunk ``i``: split its raw rows, fill the event defaults, write the clean
    rows. Runs anywhere ``folder`` is readable (a Dask worker); returns only small things."""
    # Parts in order, then each part's files in order: the source order of the chunk's rows.
    files = sorted(raw_dir(folder).glob(f"part=*/{CHUNK}={i}/*.parquet"))
    if not files:
        return ChunkResult(i, None, 0, pl.DataFrame())
    clean, rejected, _ = split_rows(pl.read_parquet(files), split)
    path: str | None = None
    grains: list[pl.DataFrame] | None = None
    if clean.height:
        clean = fill_event_defaults(clean, default_event)
        events = folder / "events"
        events.mkdir(parents=True, exist_ok=True)
        path = str(events / f"chunk-{i:05d}.parquet")
        clean.write_parquet(path, compression=SPOOL_COMPRESSION)
        grains = chunk_grains(clean)
    for done in {f.parent for f in files}:
        shutil.rmtree(done)
    return ChunkResult(i, path, clean.height, rejected, grains)


class SpoolRunner:
    """Where the two passes run: here, one after the other (``engine=local``). The Dask
    runner (``features.distributed.ClusterSpoolRunner``) runs the same functions as tasks."""

    def partition(
        self, raw: RawTable, contract: TableContract, opts: dict[str, Any], n: int, folder: Path
    ) -> RowSplit:
        """Pass 1 over all of ``raw``; returns how its rows split (for pass 2)."""
        plan = plan_validation(raw, contract, **opts)
        partition_raw(plan, n, folder)
        return plan.split

    def validate(
        self, folder: Path, n: int, split: RowSplit, default_event: str
    ) -> list[ChunkResult]:
        """Pass 2 for every chunk, one in memory at a time."""
        return [validate_chunk(folder, i, split, default_event) for i in range(n)]


def spool_from(folder: Path, n: int, results: list[ChunkResult]) -> EventSpool:
    """The spool of the validated chunks (``results`` in any order)."""
    by_index = {r.index: r for r in results}
    files = tuple(by_index[i].path if i in by_index else None for i in range(n))
    first = next((p for p in files if p), None)
    schema = dict(pl.read_parquet_schema(first)) if first else {}
    grains = [r.grains for r in sorted(results, key=lambda r: r.index) if r.grains is not None]
    return EventSpool(
        folder=folder,
        n=n,
        files=files,
        rows=sum(r.rows for r in results),
        schema=schema,
        grains=grains or None,
    )


def rejected_of(results: list[ChunkResult]) -> pl.DataFrame:
    """Every chunk's rejected rows, chunk by chunk (source order within a chunk)."""
    parts = [r.rejected for r in sorted(results, key=lambda r: r.index) if r.rejected.height]
    return pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()
