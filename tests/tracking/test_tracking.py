"""Run logging: what a training run records, in the embedded SQLite store."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlflow import MlflowClient

from tracking import runs as tracking

from .conftest import make_frame


@dataclass
class Result:
    """The fields of models.train.TrainResult that tracking reads."""

    metrics: dict[str, Any]
    split: dict[str, Any]
    figures: dict[str, Any]
    warnings: list[str]
    choices: dict[str, Any] = field(default_factory=dict)


def test_flatten_and_numeric_metrics_exact():
    metrics = {
        "roc_auc": 0.81,
        "per_segment": {"smb": {"pr_auc": 0.4, "n": 12}},
        "note": "text",
        "bad": float("nan"),
        "flag": True,
    }
    assert tracking.flatten(metrics) == {
        "roc_auc": 0.81,
        "per_segment.smb.pr_auc": 0.4,
        "per_segment.smb.n": 12,
        "note": "text",
        "bad": metrics["bad"],
        "flag": True,
    }
    assert tracking.numeric_metrics(metrics) == {
        "roc_auc": 0.81,
        "per_segment.smb.pr_auc": 0.4,
        "per_segment.smb.n": 12.0,
    }
    assert tracking.metric_key("lift@10%:smb") == "lift_10__smb"


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=300),
        st.floats(allow_nan=False, allow_infinity=False),
        max_size=5,
    )
)
def test_metric_keys_are_always_valid_for_mlflow(metrics):
    from mlflow.utils.validation import _validate_metric_name

    for key in tracking.numeric_metrics({"m": metrics}):
        _validate_metric_name(key)
        assert len(key) <= 250


def test_config_params_are_flat_strings_within_limits(cfg_factory):
    cfg = cfg_factory("output.dir=" + "x" * 7000)
    params = tracking.config_params(cfg)
    assert params["model.name"] == "adoption-decay"
    assert params["features.windows_days"] == "[7, 28, 90]"
    assert params["model.params.num_leaves"] == "15"
    assert len(params["output.dir"]) == 6000
    assert not any(k.startswith(("catalogue", "playbook")) for k in params)


def test_training_run_logs_everything(tmp_path: Path, monkeypatch, cfg_factory, restore_mlflow_uri):
    monkeypatch.chdir(tmp_path)
    cfg = cfg_factory()
    dataset = make_frame(50).with_columns(cutoff=pl.lit(dt.date(2026, 10, 5)))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    result = Result(
        metrics={
            "roc_auc": 0.8,
            "pr_auc": 0.5,
            "oracle_roc_auc": 0.85,
            "per_segment": {"smb": {"roc_auc": 0.7}},
            "baselines": {"logistic": {"pr_auc": 0.4}},
            "backtest": [
                {"origin": "2026-08-01", "roc_auc": 0.75},
                {"origin": "2026-09-01", "roc_auc": 0.78},
            ],
        },
        split={
            "train": {"first": dt.date(2025, 1, 6), "last": dt.date(2026, 6, 1)},
            "test_cutoffs": [dt.date(2026, 10, 5)],
            "embargo_days": 28,
        },
        figures={"roc": fig},
        warnings=["LightGBM does not beat the heuristic on pr_auc"],
    )
    catalogue = {"active_users_28d": {"family": "activity", "higher_is": "healthier"}}
    with tracking.run(cfg, run_name="train") as active:
        tracking.log_training_run(result, dataset, catalogue, cfg)
    run = MlflowClient().get_run(active.info.run_id)

    assert run.data.params["model.name"] == "adoption-decay"
    assert run.data.params["data_split.train.first"] == "2025-01-06"
    assert run.data.params["data_split.embargo_days"] == "28"
    m = run.data.metrics
    assert (m["roc_auc"], m["oracle_roc_auc"], m["per_segment.smb.roc_auc"]) == (0.8, 0.85, 0.7)
    assert m["baselines.logistic.pr_auc"] == 0.4
    history = MlflowClient().get_metric_history(run.info.run_id, "backtest.roc_auc")
    assert [(h.step, h.value) for h in history] == [(0, 0.75), (1, 0.78)]
    tags = run.data.tags
    assert tags["warnings"] == "1"
    assert tags["warning.0"] == "LightGBM does not beat the heuristic on pr_auc"
    assert len(tags["mlflow.source.git.commit"]) == 40
    [inp] = run.inputs.dataset_inputs
    assert inp.dataset.digest == tracking.dataset_input(dataset, cfg).digest
    assert inp.tags[0].value == "training"
    files = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert {"config", "figures", "feature_catalogue.yaml", "split.json", "metrics.json"} <= files
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="config/config.yaml"
        )
    )
    assert "name: adoption-decay" in local.read_text()
    assert plt.fignum_exists(fig.number) is False  # figures are closed after logging
    # The artifacts are in the project's folder, with an absolute location.
    assert str(tmp_path / "mlruns" / "artifacts") in run.info.artifact_uri


def test_dataset_digest_changes_with_the_rows(cfg_factory):
    cfg = cfg_factory()
    a = make_frame(40, seed=0)
    assert tracking.dataset_input(a, cfg).digest == tracking.dataset_input(a.clone(), cfg).digest
    assert tracking.dataset_input(a, cfg).digest != tracking.dataset_input(a.head(39), cfg).digest


@pytest.mark.parametrize(
    "uri,remote", [("http://127.0.0.1:5000", True), ("sqlite:///mlruns/mlflow.db", False)]
)
def test_is_remote(uri, remote):
    assert tracking.is_remote(uri) is remote


def test_relative_sqlite_uri_is_resolved_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (
        tracking.resolve_uri("sqlite:///mlruns/mlflow.db")
        == f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    )
    assert tracking.resolve_uri("sqlite:////abs/m.db") == "sqlite:////abs/m.db"
    assert tracking.resolve_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
