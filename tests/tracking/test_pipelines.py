"""decay-tune twice then decay-train model.params=best, on tiny simulated data (embedded MLflow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import optuna
import polars as pl
import pytest

from pipelines.train import train_job
from pipelines.tune import tune_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tune_resumes_and_train_uses_best_params(
    tmp_path: Path, monkeypatch, cfg_factory, restore_mlflow_uri
):
    monkeypatch.chdir(tmp_path)
    overrides = [
        f"data.dir={tmp_path}/data",
        "simulate.accounts=200",
        "simulate.days=300",
        "simulate.oracle_replays=10",
        "snapshot.count=30",
        "split.test_cutoffs=2",
        "split.validation_cutoffs=2",
        "backtest.origins=1",
        "model.num_boost_round=40",
        "model.early_stopping_rounds=10",
        "tune.n_trials=2",
    ]
    subprocess.run(
        [sys.executable, "-m", "pipelines.simulate", f"output.dir={tmp_path}/outputs", *overrides],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    cfg = cfg_factory(*overrides)

    first, second = tune_job(cfg), tune_job(cfg)
    assert (first.n_trials, second.n_trials, second.new_trials) == (2, 4, 2)
    study = optuna.load_study(study_name="adoption-decay", storage=str(cfg.tune.storage))
    assert len(study.trials) == 4

    out = train_job(cfg_factory(*overrides, "model.params=best"))
    metrics = json.loads((tmp_path / "outputs" / "train" / "metrics.json").read_text())
    assert {"roc_auc", "pr_auc", "oracle_roc_auc"} <= set(metrics)
    assert 0.5 < metrics["roc_auc"] <= 1.0
    assert out["decision"].decision == "promoted" and out["decision"].version == "1"
    run = mlflow.get_run(out["run_id"])
    best = json.loads((tmp_path / "outputs" / "tune" / "best_params.json").read_text())
    assert run.data.params["lgb.num_leaves"] == str(best["params"]["num_leaves"])
    assert run.data.params["model.params"] == "best"

    champion = mlflow.pyfunc.load_model("models:/adoption-decay@champion")
    frame = pl.read_parquet(tmp_path / "outputs" / "dataset.parquet").tail(50)
    proba = np.asarray(champion.predict(frame.to_pandas()))
    expected = champion.unwrap_python_model().model.predict_proba(frame)
    np.testing.assert_allclose(proba, expected, atol=1e-12)
