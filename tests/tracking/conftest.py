"""Fixtures for the MLflow tests: a real ``mlflow server`` and small real routed models.

The server runs with a SQLite backend and a temporary artifact folder on a free loopback port, in
its own process session so teardown ends it and every child it spawned (and nothing else).
Its background job runner is switched off (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``): it
is not needed for tracking/registry and would otherwise leave worker processes behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import polars as pl
import pytest

from core.config import load_config
from models.router import GLOBAL, Calibrator, RoutedModel, SegmentModel

MLFLOW_BIN = Path(sys.executable).parent / "mlflow"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of a real MLflow tracking server (SQLite + local artifacts) for this test session."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    cmd = [
        str(MLFLOW_BIN),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root}/mlflow.db",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    logfile = (root / "server.log").open("w")
    proc = subprocess.Popen(
        cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited early: {(root / 'server.log').read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"mlflow server not healthy in 90s: {(root / 'server.log').read_text()}"
                )
            time.sleep(0.3)
        yield uri
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with __import__("contextlib").suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        logfile.close()


@pytest.fixture
def restore_mlflow_uri() -> Iterator[None]:
    """Tests point MLflow at their own stores: put the process-global URIs back afterwards."""
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


def make_frame(n: int = 400, seed: int = 0) -> pl.DataFrame:
    """Toy feature rows: ``signal`` drives the label, ``noise`` does not; two size tiers."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    label = (signal + rng.normal(scale=0.7, size=n) > 0.8).astype(np.int8)
    return pl.DataFrame(
        {
            "account_id": [f"a{i}" for i in range(n)],
            "signal": signal,
            "noise": rng.normal(size=n),
            "plan": rng.choice(["basic", "pro"], size=n).tolist(),
            "size_tier": rng.choice(["smb", "enterprise"], size=n).tolist(),
            "label": pl.Series(label, dtype=pl.Int8),
        }
    )


def make_model(
    frame: pl.DataFrame, features: list[str], rounds: int, leaves: int = 4, seed: int = 0
) -> RoutedModel:
    """A real RoutedModel: one LightGBM booster per size tier plus the global one, Platt-scaled.

    ``plan`` is a categorical feature coded by its levels, so the matrix path is the real one.
    """
    levels = {"plan": ["basic", "pro"]} if "plan" in features else {}
    shell = RoutedModel(
        features, levels, "size_tier", {GLOBAL: SegmentModel(None, Calibrator())}, {}
    )  # type: ignore[arg-type]
    params = {
        "objective": "binary",
        "num_leaves": leaves,
        "min_data_in_leaf": 10,
        "verbose": -1,
        "seed": seed,
        "num_threads": 1,
        "deterministic": True,
    }

    def fit(rows: pl.DataFrame) -> SegmentModel:
        ds = lgb.Dataset(
            shell.to_matrix(rows),
            rows.get_column("label").to_numpy(),
            feature_name=features,
            free_raw_data=False,
        )
        return SegmentModel(lgb.train(params, ds, rounds), Calibrator("sigmoid", a=0.9, b=-0.1))

    models = {GLOBAL: fit(frame)}
    models["smb"] = fit(frame.filter(pl.col("size_tier") == "smb"))
    models["smb"].trained_on = "smb"
    return RoutedModel(
        features,
        levels,
        "size_tier",
        models,
        {"smb": "smb", "enterprise": GLOBAL},
        {"trained_rows": frame.height},
    )


@pytest.fixture
def cfg_factory(tmp_path: Path):
    """Compose the real project config with test overrides (outputs under tmp_path)."""

    def make(*overrides: str):
        return load_config([f"output.dir={tmp_path}/outputs", *overrides])

    return make
