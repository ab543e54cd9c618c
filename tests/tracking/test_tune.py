"""Optuna tuning: resumable study, pruning callback, nested MLflow runs, best params round trip."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import mlflow
import optuna
import pytest
from hydra.errors import ConfigCompositionException

from core.errors import ConfigValueError
from models import tune as tuning
from models.train import fit_booster
from tracking.jobs import tune_tracked as tune_frames

from .conftest import make_frame

FEATURES = ["signal", "noise", "plan"]


@pytest.fixture
def tune_cfg(tmp_path: Path, monkeypatch, cfg_factory, restore_mlflow_uri):
    monkeypatch.chdir(tmp_path)
    return cfg_factory(
        "tune.n_trials=2",
        "model.num_boost_round=30",
        "model.early_stopping_rounds=5",
        "model.name=tune-test",
    )


def test_two_sessions_add_up_in_one_study_with_nested_runs(tune_cfg, tmp_path: Path):
    train, valid = make_frame(300, seed=0), make_frame(200, seed=1)
    first = tune_frames(train, valid, FEATURES, ["plan"], tune_cfg, fit_booster)
    second = tune_frames(train, valid, FEATURES, ["plan"], tune_cfg, fit_booster)
    assert (first.n_trials, first.new_trials) == (2, 2)
    assert (second.n_trials, second.new_trials) == (4, 2)
    db = tmp_path / "outputs" / "tune" / "optuna.db"
    assert db.is_file()
    study = optuna.load_study(study_name="tune-test", storage=f"sqlite:///{db}")
    assert len(study.trials) == 4
    # The resumed session sampled new points (its sampler seed is offset by the trial count).
    assert study.trials[2].params != study.trials[0].params

    best = json.loads((tmp_path / "outputs" / "tune" / "best_params.json").read_text())
    assert best["n_trials"] == 4 and best["objective"] == "pr_auc"
    assert best["best_value"] == pytest.approx(study.best_value)
    assert "metric" not in best["params"] and best["params"]["seed"] == 42
    assert best["params"]["num_leaves"] <= 63
    # model.params=best reads the same params back from the study.
    assert tuning.best_params(tune_cfg) == best["params"]

    runs = mlflow.search_runs(experiment_names=["adoption-decay"], output_format="list")
    parents = [r for r in runs if r.data.tags.get("step") == "tune"]
    trials = [r for r in runs if "trial.number" in r.data.tags]
    assert len(parents) == 2 and len(trials) == 4
    parent_ids = {r.info.run_id for r in parents}
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == parent_ids
    complete = [r for r in trials if r.data.tags["trial.state"] == "complete"]
    assert all("valid_pr_auc" in r.data.metrics for r in complete)
    latest = max(parents, key=lambda r: r.info.start_time)
    assert latest.data.metrics["n_trials"] == 4
    assert latest.data.params["best.num_leaves"] == str(best["params"]["num_leaves"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(latest.info.run_id, "optuna")}
    assert "optuna/optimization_history.png" in artifacts


def test_best_params_without_study_names_the_fix(tune_cfg):
    with pytest.raises(ConfigValueError, match="run decay-tune first") as err:
        tuning.best_params(tune_cfg)
    assert err.value.exit_code == 2


def test_search_space_respects_leaf_cap_and_seed(tune_cfg):
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        params = tuning.trial_params(trial, tune_cfg)
        assert 4 <= params["num_leaves"] <= tuning.MAX_LEAVES
        assert params["seed"] == 42 and "metric" not in params
        assert tuning.fit_params(params, tune_cfg)["metric"] == "average_precision"
        # model.params from conf/model/lightgbm.yaml are kept unless tuned.
        assert params["objective"] == "binary"
        study.tell(trial, 0.0)


def test_pruning_callback_reports_validation_metric_and_prunes():
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5)
    )
    trial = study.ask()
    callback = tuning.PruningCallback(trial, "average_precision")
    results = [
        lgb.basic.EvalResult("training", "average_precision", 0.9, True),
        lgb.basic.EvalResult("valid", "average_precision", 0.7, True),
    ]
    env = lgb.callback.CallbackEnv(
        model=None,
        params={},
        iteration=0,
        begin_iteration=0,
        end_iteration=10,
        evaluation_result_list=results,
    )
    callback(env)  # 0.7 >= 0.5: goes on
    assert study.trials[0].intermediate_values == {0: 0.7}
    low = [lgb.basic.EvalResult("valid", "average_precision", 0.2, True)]
    with pytest.raises(optuna.TrialPruned, match="pruned at iteration 1"):
        callback(
            lgb.callback.CallbackEnv(
                model=None,
                params={},
                iteration=1,
                begin_iteration=0,
                end_iteration=10,
                evaluation_result_list=low,
            )
        )


def test_unknown_objective_is_a_config_error(cfg_factory):
    # tune.objective is an enum of the metrics LightGBM evaluates: rejected when composing
    with pytest.raises(ConfigCompositionException) as err:
        cfg_factory("tune.objective=accuracy")
    assert "tune.objective" in str(err.value.__cause__)
    with pytest.raises(ConfigCompositionException):  # brier: a test metric, not a LightGBM one
        cfg_factory("tune.objective=brier")
    assert tuning.objective_metric(cfg_factory("tune.objective=log_loss")) == (
        "binary_logloss",
        "minimize",
    )


def test_a_new_study_starts_from_the_configured_parameters() -> None:
    from core.config import load_config
    from models.tune import configured_point

    point = configured_point(load_config([]))
    # conf/model/lightgbm.yaml: lr 0.05, 15 leaves, depth 5, 40 per leaf, no L1 (lower bound)
    assert point == {
        "learning_rate": 0.05,
        "num_leaves": 15,
        "max_depth": 5,
        "min_data_in_leaf": 40,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "lambda_l1": 1e-3,
        "lambda_l2": 1.0,
    }
    wild = configured_point(
        load_config(["model.params.learning_rate=0.9", "model.params.min_data_in_leaf=1"])
    )
    assert wild["learning_rate"] == 0.2 and wild["min_data_in_leaf"] == 10  # clipped to bounds
