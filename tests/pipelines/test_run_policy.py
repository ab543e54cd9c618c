"""``decay-run`` by policy, twice on one as_of (pipelines/run.py, tracking/policy.py).

A small simulated world through the real command: the first run trains (no champion yet), the
second with ``train.policy=every_days`` does not retrain and leaves the same outputs and the same
champion, and a retrain with ``train.policy=always`` (the demo default) registers a new version
of the same model: same scores, so re-running one as_of never changes what CSMs see."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from mlflow import MlflowClient
from polars.testing import assert_frame_equal

from core.config import TrainPolicy, load_config

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2026-11-01"
#: meta.json keys that say when and under which MLflow run, not what was scored.
RUN_KEYS = {"generated_at", "mlflow_run_id"}


def test_the_demo_default_still_trains_on_every_run() -> None:
    cfg = load_config()
    assert cfg.train.policy == TrainPolicy.always
    assert cfg.run.lock_wait_seconds == 0


@dataclass
class World:
    """A small simulated world; ``run`` calls decay-run on it and returns its log."""

    root: Path

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root}/mlruns/mlflow.db"

    def run(self, *extra: str) -> str:
        overrides = [
            f"data.dir={self.root / 'data'}",
            f"output.dir={self.out}",
            f"mlflow.tracking_uri={self.tracking_uri}",
            f"mlflow.artifact_location={self.root}/mlruns/artifacts",
            f"hydra.run.dir={self.root}/logs/${{hydra.job.name}}-${{now:%H%M%S%f}}",
            "simulate.accounts=120",
            "simulate.days=240",
            "simulate.oracle_replays=2",
            "snapshot.count=16",
            "backtest.origins=1",
            "score.report=false",
            f"snapshot.as_of={AS_OF}",
            "run.step_overrides.train=[]",  # no tuning study here: the configured params
        ]
        proc = subprocess.run(
            [sys.executable, "-m", "pipelines.run", *overrides, *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            timeout=900,
        )
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-5000:]
        return log

    def versions(self) -> dict[str, list[str]]:
        """Registered version -> its aliases."""
        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        found = client.search_model_versions("name='adoption-decay'")
        # Search results do not carry aliases: read each version.
        return {
            str(v.version): sorted(client.get_model_version(v.name, v.version).aliases)
            for v in found
        }


@dataclass
class Outputs:
    """What one run left for the as_of: the scoring tables, the dataset, meta.json's content."""

    frames: dict[str, pl.DataFrame]
    meta: dict[str, Any]


def _outputs(out: Path) -> Outputs:
    scores = out / "scores" / f"as_of={AS_OF}"
    meta = json.loads((scores / "meta.json").read_text())
    frames = {
        name: pl.read_parquet(scores / f"{name}.parquet")
        for name in ("scores", "explanations", "drift")
    }
    frames["dataset"] = pl.read_parquet(out / "dataset.parquet")
    return Outputs(frames, {k: v for k, v in meta.items() if k not in RUN_KEYS})


def _assert_same(a: Outputs, b: Outputs, skip: frozenset[str] = frozenset()) -> None:
    """Equal outputs; ``skip``: columns and meta keys that may differ (which version scored)."""
    assert a.frames.keys() == b.frames.keys()
    for name, frame in a.frames.items():
        assert_frame_equal(frame.drop(skip, strict=False), b.frames[name].drop(skip, strict=False))
    assert {k: v for k, v in a.meta.items() if k not in skip} == {
        k: v for k, v in b.meta.items() if k not in skip
    }


@pytest.mark.slow
def test_a_rerun_of_one_as_of_does_not_retrain_and_changes_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    steps = "run.steps=[simulate,features,train,score]"
    first_log = world.run(steps, "train.policy=every_days")
    assert "retraining (tune + train): no champion yet" in first_log
    assert "step train done" in first_log
    assert world.versions() == {"1": ["challenger", "champion"]}
    first = _outputs(world.out)
    assert first.frames["scores"].height > 0 and first.meta["model_version"] == "1"

    again = world.run(steps, "train.policy=every_days")
    assert (
        "not retraining, scoring with the current champion: v1 (champion) was already trained "
        f"at as_of {AS_OF} >= {AS_OF}: not retraining for this as_of"
    ) in again
    assert "step train" not in again and "step score done" in again
    assert world.versions() == {"1": ["challenger", "champion"]}  # nothing registered or moved
    _assert_same(first, _outputs(world.out))

    # The demo default retrains on every run: a new version of the same (deterministic) model,
    # promoted as the newer one; what it scores is what the first version scored.
    retrained = world.run("run.steps=[train,score]")
    assert "retraining (tune + train): train.policy=always" in retrained
    assert world.versions() == {"1": [], "2": ["challenger", "champion"]}
    second = _outputs(world.out)
    assert second.meta["model_version"] == "2"
    _assert_same(first, second, skip=frozenset({"model_version"}))
