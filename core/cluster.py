"""The Dask cluster behind ``engine=dask``: connect to one, or start a local one, for one job.

Why a context manager: a job owns the cluster it starts (LocalCluster workers are child
processes, closed with the job even when it fails) but never a cluster it was pointed at
(``engine.scheduler_address``: closing the client leaves the cluster running for others).
A scheduler that cannot be reached is :class:`core.errors.ClusterError` (exit 8, retry later).

Worker processes import the project like this process does (the same interpreter and the
same ``sys.path``), so the polars code a partition runs is the code of this checkout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.config import EngineKind
from core.errors import ClusterError, ConfigValueError
from core.logs import get_logger

log = get_logger(__name__)


def is_dask(cfg: Any) -> bool:
    """Whether the job runs on a Dask cluster (``engine=dask``)."""
    engine = getattr(cfg, "engine", None)
    return engine is not None and str(engine.kind) == EngineKind.dask


def n_partitions(cfg: Any, workers: int) -> int:
    """Hash partitions of accounts: ``engine.partitions``, else four per worker (at least 1)."""
    chosen = cfg.engine.partitions
    if chosen is None:
        return max(1, 4 * workers)
    if int(chosen) < 1:
        raise ConfigValueError(f"engine.partitions must be >= 1 or null, got {chosen}")
    return int(chosen)


def _worker_env(threads: int) -> dict[str, str]:
    """Environment of LocalCluster workers: this checkout importable, polars sized to the
    worker's threads (else every worker starts one polars thread per core of the machine)."""
    path = os.pathsep.join(p for p in sys.path if p)
    return {"PYTHONPATH": path, "POLARS_MAX_THREADS": str(threads)}


@contextmanager
def dask_client(cfg: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cfg.engine``; closes what it started.

    ``engine.scheduler_address`` set: connect (``engine.timeout_seconds``), never close the
    cluster. Otherwise a ``LocalCluster`` of ``engine.n_workers`` processes with
    ``engine.threads_per_worker`` threads and ``engine.memory_limit`` each, no dashboard.
    """
    from distributed import Client, LocalCluster

    eng = cfg.engine
    timeout = float(eng.timeout_seconds)
    if eng.scheduler_address:
        try:
            client = Client(str(eng.scheduler_address), timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise ClusterError(
                f"engine.scheduler_address={eng.scheduler_address}: cannot reach the Dask "
                f"scheduler within {timeout:g}s ({type(err).__name__}: {err})",
                hint="start the cluster (dask scheduler / dask worker) or fix the address; "
                "engine=local runs without one",
            ) from err
        log.info(
            "engine=dask: connected to %s (%d workers)",
            eng.scheduler_address,
            len(client.scheduler_info().get("workers", {})),
        )
        try:
            yield client
        finally:
            client.close()
        return
    threads = int(eng.threads_per_worker)
    cluster = LocalCluster(
        n_workers=int(eng.n_workers),
        threads_per_worker=threads,
        memory_limit=str(eng.memory_limit),
        processes=True,
        dashboard_address=None,
        env=_worker_env(threads),
    )
    client = Client(cluster, timeout=timeout)
    log.info(
        "engine=dask: LocalCluster of %d workers x %d threads, %s each",
        int(eng.n_workers),
        threads,
        eng.memory_limit,
    )
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def workers(client: Any) -> int:
    """How many workers the cluster has now (at least 1, for sizing partitions)."""
    return max(1, len(client.scheduler_info().get("workers", {})))
