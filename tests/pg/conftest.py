"""Fixtures for the PostgreSQL source and sink tests: a real server and a small simulated world.

The server comes from ``benchmarks.pgserver`` (the one copy of the start/stop code, shared with
``benchmarks.postgres_read``): initdb into a temporary folder, ``postgres`` on a free loopback
port as the ``postgres`` OS user, stopped at the end of the session. Its DSN holds a password,
so the tests can check that it never reaches a message, a log line or an output file.

The world is simulated once (in process, like ``tests/scoring/test_pipeline.py``) and loaded
into the tables ``events``, ``users`` and ``accounts`` with ADBC's Arrow ``COPY``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from benchmarks.pgserver import pg_server
from core.config import load_config
from tests.conftest import TINY_WORLD

ENV = "DECAY_PG_DSN"
AS_OF = "2026-10-25"


def pg_execute(dsn: str, *statements: str) -> None:
    """Run ``statements`` in one committed transaction."""
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(dsn) as conn, conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
        conn.commit()


def pg_load(dsn: str, table: str, frame: pl.DataFrame) -> None:
    """Replace ``table`` with ``frame`` (ADBC bulk ingest)."""
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(dsn) as conn, conn.cursor() as cur:
        cur.adbc_ingest(table, frame.to_arrow(), mode="replace")
        conn.commit()


def pg_read(dsn: str, sql: str) -> pl.DataFrame:
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return pl.from_arrow(cur.fetch_arrow_table())  # type: ignore[return-value]


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of a fresh PostgreSQL server for this test session (password included)."""
    with pg_server() as dsn:
        yield dsn


@pytest.fixture
def pg_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``$DECAY_PG_DSN`` set to the server's DSN for one test; returns the DSN."""
    monkeypatch.setenv(ENV, pg_dsn)
    return pg_dsn


@pytest.fixture(scope="session")
def pg_world(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small simulated world as parquet files AND as the tables events/users/accounts."""
    from pipelines.simulate import write_simulation
    from simulator import simulate, spec_from_config

    root = tmp_path_factory.mktemp("pg_world")
    common = [
        *TINY_WORLD,
        f"snapshot.as_of={AS_OF}",
        "score.report=false",
    ]
    cfg = load_config([f"data.dir={root}/data", *common])
    write_simulation(simulate(spec_from_config(cfg)), cfg.data.dir)
    data = Path(cfg.data.dir)
    for name in ("events", "users", "accounts"):
        pg_load(pg_dsn, name, pl.read_parquet(data / f"{name}.parquet"))
    segments = "[" + ",".join(str(s) for s in cfg.data.segments) + "]"
    return {
        "root": root,
        "data": data,
        "common": common,
        "files": [f"data.dir={data}", *common],
        "postgres": [
            "data=postgres",
            "data.events=events",
            "data.users=users",
            "data.accounts=accounts",
            f"data.segments={segments}",
            *common,
        ],
    }


def world_cfg(world: dict[str, Any], side: str, out: Path, *extra: str) -> Any:
    """The config of one side (``files`` or ``postgres``) with its own outputs and MLflow store."""
    return load_config(
        [
            *world[side],
            f"output.dir={out}",
            f"mlflow.tracking_uri=sqlite:///{out}/mlruns/mlflow.db",
            f"mlflow.artifact_location={out}/mlruns/artifacts",
            *extra,
        ]
    )


@pytest.fixture(scope="session")
def both_sides(pg_world: dict[str, Any], pg_dsn: str) -> dict[str, Any]:
    """features -> train -> score on the parquet files and on PostgreSQL, each with its own
    output folder and MLflow store."""
    import mlflow

    from pipelines.features import features_job
    from pipelines.score import score_job
    from pipelines.train import train_job

    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    old = os.environ.get(ENV)
    os.environ[ENV] = pg_dsn
    out: dict[str, Any] = {}
    try:
        for side in ("files", "postgres"):
            target = pg_world["root"] / f"out_{side}"
            cfg = world_cfg(pg_world, side, target)
            dataset, catalogue = features_job(cfg)
            train_job(world_cfg(pg_world, side, target))
            scored = score_job(world_cfg(pg_world, side, target))
            out[side] = {"dataset": dataset, "catalogue": catalogue, "dir": scored["dir"]}
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry)
    return out
