"""The feature build on a Dask cluster (``engine=dask``): the chunked build's chunks as tasks.

Why this shape: every feature but the peer ones reads one account, and the chunked build
already splits the work by a hash of the account id (``features.build``: ``plan_chunks`` on
all accounts, ``build_chunk`` per chunk, ``finish_chunks`` on their rows). On a cluster the
same three functions run; only the middle one runs on the workers, one task per chunk:

1. map: pass 1 of ``ingest.spool`` per share of the source files (row checks, split by
   chunk), then ``ingest.spool.validate_chunk`` per chunk (exact duplicates, event defaults,
   the chunk's clean file and the profile's grains of its accounts);
2. reduce: the profile and the first day of each event, from the chunks' grains (here);
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

from core.cluster import workers
from core.errors import ClusterError
from core.logs import get_logger
from features.build import ChunkMapper, ChunkPlan, build_chunk
from ingest.read import RawTable, restrict
from ingest.spool import ChunkResult, SpoolRunner, partition_raw, validate_chunk
from ingest.tables import SpooledTables, Tables
from ingest.validate import RowSplit, TableContract, plan_validation

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


def _partition_part(
    raw: RawTable,
    files: list[Path],
    part: int,
    contract: TableContract,
    opts: dict[str, Any],
    n: int,
    folder: Path,
) -> int:
    """One task of pass 1: some of the source files, checked and split by chunk."""
    plan = plan_validation(restrict(raw, files), contract, **opts)
    partition_raw(plan, n, folder, part)
    return len(files)


class ClusterSpoolRunner(SpoolRunner):
    """``ingest.spool``'s two passes as tasks: pass 1 per share of the source files (read
    where the task runs), pass 2 per chunk of accounts."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def partition(
        self, raw: RawTable, contract: TableContract, opts: dict[str, Any], n: int, folder: Path
    ) -> RowSplit:
        if raw.origin is not None or len(raw.files) < 2:  # derived or database tables
            return super().partition(raw, contract, opts, n, folder)
        # The plan here too: table-level errors raise before any task, and its row split is
        # the same for every share of the files (they share one schema).
        split = plan_validation(raw, contract, **opts).split
        shares = min(len(raw.files), 2 * workers(self.client))
        size = -(-len(raw.files) // shares)  # contiguous shares keep the files' order
        groups = [raw.files[k : k + size] for k in range(0, len(raw.files), size)]
        run = uuid.uuid4().hex[:8]
        futures = [
            self.client.submit(
                _partition_part,
                raw,
                files,
                k,
                contract,
                opts,
                n,
                folder,
                key=f"partition-files-{k}-{run}",
            )
            for k, files in enumerate(groups)
        ]
        log.info("engine=dask: %d source files read by %d tasks", len(raw.files), len(groups))
        _gather(self.client, futures, "reading the events")
        return split

    def validate(
        self, folder: Path, n: int, split: RowSplit, default_event: str
    ) -> list[ChunkResult]:
        run = uuid.uuid4().hex[:8]
        futures = self.client.map(
            validate_chunk,
            [folder] * n,
            range(n),
            [split] * n,
            [default_event] * n,
            key=[f"validate-chunk-{i}-{run}" for i in range(n)],
            pure=False,
        )
        return _gather(self.client, futures, "validating the events")


def _build_one(tables: SpooledTables, plan: ChunkPlan, i: int, n: int) -> pl.DataFrame | None:
    """One task: chunk ``i`` read on the worker from the spool, built there."""
    return build_chunk(tables.chunk(i), plan, i, n)


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
