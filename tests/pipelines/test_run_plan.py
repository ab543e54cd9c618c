"""What ``decay-run`` plans to run (pipelines/run.py): the policy reads the latest scoring run
*before* ``snapshot.as_of`` from the output folder and the champion from the registry, and
tune + train are dropped when it says the champion stays. No step is run here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import polars as pl
import pytest
from mlflow import MlflowClient

from core.config import Step, load_config
from pipelines.run import apply_policy

ALL = [Step.features, Step.tune, Step.train, Step.map, Step.score]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[str]:
    """A SQLite MLflow store with champion v1 of ``plan-test`` trained at as_of 2026-10-25."""
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.create_run(client.create_experiment("plan", f"{tmp_path}/artifacts"))
    client.log_param(run.info.run_id, "snapshot.as_of", "2026-10-25")
    client.log_text(run.info.run_id, "x", "model/placeholder.txt")
    client.create_registered_model("plan-test")
    mv = client.create_model_version(
        "plan-test", f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias("plan-test", "champion", mv.version)
    yield uri
    mlflow.set_tracking_uri(before[0])
    mlflow.set_registry_uri(before[1])


def _scoring_run(out: Path, as_of: str, drifted: int, version: str = "1") -> None:
    """A scoring run folder with 4 compared features, ``drifted`` of them drifted."""
    folder = out / "scores" / f"as_of={as_of}"
    folder.mkdir(parents=True)
    pl.DataFrame(
        {
            "feature": ["a", "b", "c", "d"],
            "psi": [0.3] * drifted + [0.01] * (4 - drifted),
            "grows_with_time": [False] * 4,
            "drifted": [True] * drifted + [False] * (4 - drifted),
        }
    ).write_parquet(folder / "drift.parquet")
    (folder / "scores.parquet").write_bytes(b"")  # scoring.history finds runs by this file
    (folder / "meta.json").write_text(json.dumps({"as_of": as_of, "model_version": version}))


def _cfg(tmp_path: Path, uri: str, *extra: str):
    return load_config(
        [
            f"mlflow.tracking_uri={uri}",
            f"output.dir={tmp_path / 'out'}",
            "model.name=plan-test",
            "snapshot.as_of=2026-11-01",
            "train.policy=drift",
            *extra,
        ]
    )


def test_drift_in_the_run_before_as_of_keeps_tune_and_train(tmp_path: Path, store: str) -> None:
    out = tmp_path / "out"
    _scoring_run(out, "2026-10-18", drifted=0)
    _scoring_run(out, "2026-10-25", drifted=3)  # the latest before as_of: 75% drifted
    _scoring_run(out, "2026-11-01", drifted=0)  # this as_of's own earlier run: not looked at
    assert apply_policy(_cfg(tmp_path, store), list(ALL)) == ALL


def test_a_calm_previous_run_drops_tune_and_train(tmp_path: Path, store: str) -> None:
    out = tmp_path / "out"
    _scoring_run(out, "2026-10-18", drifted=4)  # older: superseded by the next run
    _scoring_run(out, "2026-10-25", drifted=0)
    _scoring_run(out, "2026-11-01", drifted=4)  # this as_of's own run: not looked at
    assert apply_policy(_cfg(tmp_path, store), list(ALL)) == [Step.features, Step.map, Step.score]


def test_the_policy_is_not_read_without_tune_or_train(tmp_path: Path) -> None:
    # No store at all: nothing asks the registry when there is nothing to skip.
    cfg = _cfg(tmp_path, "sqlite:///nowhere/at/all.db")
    assert apply_policy(cfg, [Step.features, Step.score]) == [Step.features, Step.score]


def test_always_keeps_every_step_without_reading_anything(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "sqlite:///nowhere/at/all.db", "train.policy=always")
    assert apply_policy(cfg, list(ALL)) == ALL


def test_a_database_or_a_tracking_plan_is_never_simulated_over(tmp_path: Path) -> None:
    """Missing demo files mean simulate; the same with data=postgres or data=tracking_plan means
    the user's own source: nothing is simulated (it would write demo files nobody reads)."""
    from pipelines.run import plan

    missing = f"data.dir={tmp_path}/nothing"
    assert plan(load_config([missing]))[0] == Step.simulate
    for choice in (["data=postgres"], ["data=tracking_plan"]):
        steps = plan(load_config([missing, *choice]))
        assert Step.simulate not in steps and steps[0] == Step.features, choice
