"""The feature build on a Dask cluster (``engine=dask``): the chunked build's chunks as tasks.

Why this shape: every feature but the peer ones reads one account, and the chunked build
already splits the work by a hash of the account id (``features.build``: ``plan_chunks`` on
all accounts, ``build_chunk`` per chunk, ``finish_chunks`` on their rows). On a cluster the
same three functions run; only the middle one runs on the workers, one task per chunk:

1. map: ``ingest.spool.validate_chunk`` per chunk (exact duplicates, event defaults, the
   clean file of the chunk), after this process streamed the source into the raw spool;
2. reduce: the profile and the first day of each event (streaming over the spool, here);
3. map: ``features.build.build_chunk`` per chunk (window engine, samples, per-account
   indicators and labels of the chunk's accounts): the heavy part;
4. reduce: ``features.build.finish_chunks`` (peer percentiles and milestone delays among
   peers read every account of a segment), here.

So the features are identical to ``engine=local`` row for row (tests/engine). Workers read
the spool from ``data.spool_dir``: on a remote cluster it must be a folder every worker sees.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import polars as pl

from core.errors import ClusterError
from core.logs import get_logger
from features.build import ChunkMapper, ChunkPlan, build_chunk
from ingest.load import ChunkRunner
from ingest.spool import ChunkResult, validate_chunk
from ingest.tables import SpooledTables, Tables
from ingest.validate import RowSplit

log = get_logger(__name__)


def _gather(client: Any, futures: list[Any], what: str) -> list[Any]:
    """Results in task order; a cluster that loses its workers is a ClusterError (exit 8),
    an error inside a task is re-raised as it is (a data error stays exit 3)."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    try:
        return list(client.gather(futures))
    except (KilledWorker, FutureCancelledError, OSError) as err:
        raise ClusterError(
            f"engine=dask: {what} failed on the cluster ({type(err).__name__}: {err})",
            hint="a worker died (often: over its memory limit); raise engine.memory_limit or "
            "engine.partitions, then retry",
        ) from err


def chunk_runner(client: Any) -> ChunkRunner:
    """Validate chunks as tasks (``ingest.load.load_spooled_tables(run=...)``)."""

    def run(folder: Path, n: int, split: RowSplit, default_event: str) -> list[ChunkResult]:
        futures = client.map(
            validate_chunk,
            [folder] * n,
            range(n),
            [split] * n,
            [default_event] * n,
            key=[f"validate-chunk-{i}-{uuid.uuid4().hex[:8]}" for i in range(n)],
            pure=False,
        )
        return _gather(client, futures, "validating the events")

    return run


def _build_one(tables: SpooledTables | Tables, plan: ChunkPlan, i: int, n: int) -> Any:
    """One task: chunk ``i`` read on the worker from the spool, built there."""
    chunk = tables.chunk(i) if isinstance(tables, SpooledTables) else tables
    return build_chunk(chunk, plan, i, n)


def chunk_mapper(client: Any) -> ChunkMapper:
    """Build chunks as tasks (``features.build.build_dataset(map_chunks=...)``). The tables
    (users, accounts, the spool's file list: small) and the plan go to the workers once."""

    def run(tables: SpooledTables | Tables, plan: ChunkPlan, n: int) -> list[pl.DataFrame | None]:
        if not isinstance(tables, SpooledTables):
            raise TypeError("engine=dask builds from spooled tables (ingest.spool)")
        shared_tables, shared_plan = client.scatter([tables, plan], broadcast=True)
        run = uuid.uuid4().hex[:8]
        futures = [
            client.submit(
                _build_one, shared_tables, shared_plan, i, n, key=f"build-chunk-{i}-{run}"
            )
            for i in range(n)
        ]
        log.info("engine=dask: %d feature chunks submitted", n)
        return _gather(client, futures, "building the features")

    return run
