"""Shared fixtures for the end-to-end tests: a small simulated world run through the real commands.

Session-scoped so the (few-second) simulation and feature build run once per test worker; tests
that use it are grouped onto one xdist worker with ``xdist_group("e2e")``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: A 120-account, 200-day world that trains in seconds: the overrides the in-process scoring
#: and PostgreSQL fixtures share (with their own data.dir, output.dir and MLflow store).
TINY_WORLD = [
    "simulate.accounts=120",
    "simulate.days=200",
    "simulate.oracle_replays=5",
    "snapshot.count=16",
    "split.test_cutoffs=2",
    "split.validation_cutoffs=2",
    "model.num_boost_round=40",
    "backtest.origins=1",
]


@dataclass
class World:
    """Paths and the common overrides of a small simulated world."""

    root: Path
    data_dir: Path
    output_dir: Path
    tracking_uri: str
    overrides: list[str] = field(default_factory=list)

    def run(self, step: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``python -m pipelines.<step>`` with the world's overrides (+ extra) from the repo root."""
        cmd = [sys.executable, "-m", f"pipelines.{step}", *self.overrides, *extra]
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            timeout=900,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd[2:])} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
            )
        return proc


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """250 simulated accounts over 330 days, 30 weekly cutoffs, features built."""
    root = tmp_path_factory.mktemp("world")
    world = World(
        root=root,
        data_dir=root / "data",
        output_dir=root / "out",
        tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db",
    )
    world.overrides = [
        f"data.dir={world.data_dir}",
        f"output.dir={world.output_dir}",
        f"mlflow.tracking_uri={world.tracking_uri}",
        f"mlflow.artifact_location={root}/mlruns/artifacts",
        f"hydra.run.dir={root}/logs/${{hydra.job.name}}",
        "simulate.accounts=250",
        "simulate.days=330",
        "simulate.oracle_replays=50",
        "snapshot.count=30",
    ]
    world.run("simulate")
    world.run("features")
    return world


@dataclass
class ScoredWorld:
    """`small_world`'s data built, trained (no backtest) and scored in its own output folder
    and MLflow store, with each command's output (``procs``: step -> completed process)."""

    world: World
    procs: dict[str, subprocess.CompletedProcess[str]]

    @property
    def run_dir(self) -> Path:
        return next((self.world.output_dir / "scores").glob("as_of=*"))


@pytest.fixture(scope="session")
def scored_world(small_world: World, tmp_path_factory: pytest.TempPathFactory) -> ScoredWorld:
    """One trained model and one scoring run on the small world's data (about a minute): for
    ``decay-explain``, the diagnostics notebook and the progress-lines checks."""
    root = tmp_path_factory.mktemp("scored")
    world = World(
        root=root,
        data_dir=small_world.data_dir,
        output_dir=root / "out",
        tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db",
    )
    swap = {
        "output.dir": f"output.dir={world.output_dir}",
        "mlflow.tracking_uri": f"mlflow.tracking_uri={world.tracking_uri}",
        "mlflow.artifact_location": f"mlflow.artifact_location={root}/mlruns/artifacts",
        "hydra.run.dir": f"hydra.run.dir={root}/logs/${{hydra.job.name}}",
    }
    world.overrides = [swap.get(o.partition("=")[0], o) for o in small_world.overrides]
    procs = {
        "features": world.run("features"),
        "train": world.run("train", "backtest.origins=0"),
        "score": world.run("score"),
    }
    return ScoredWorld(world, procs)
