"""`decay-tune`: Optuna search of the LightGBM parameters, resumable, tracked in MLflow.

One parent MLflow run per call (config, dataset, best params, Optuna's optimisation history and
parameter importance plots) with one nested run per trial (its params, score and state). The
study itself lives in ``tune.storage`` so a second call adds trials to the same study; the best
params are also written to ``${output.dir}/tune/best_params.json`` and read back by
``decay-train model.params=best``.

Only the training and validation periods of the training time split are used, never test.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import mlflow
import optuna
import polars as pl
from omegaconf import DictConfig

from core.atomic import write_text
from core.cli import console, job
from core.config import CONF_DIR  # importing core.config registers the schema
from core.progress import step
from models import tracking
from models import tune as tuning

log = logging.getLogger("adoption_decay")


def tuning_frames(dataset: pl.DataFrame, cfg: DictConfig
                  ) -> tuple[pl.DataFrame, pl.DataFrame, list[str], list[str]]:
    """(train, validation, features, categorical) of the training time split (labelled rows)."""
    from models.split import time_split
    from models.train import feature_columns

    split = time_split(dataset, cfg)
    features = feature_columns(dataset, cfg)
    if isinstance(features, tuple):
        features, categorical = features
    else:
        categorical = [f for f in features if dataset.schema[f] in (pl.String, pl.Categorical)]
    return split.train, split.validation, list(features), list(categorical)


def _trial_logger(cfg: DictConfig):
    """``on_trial`` hook: one nested MLflow run per trial (skipped when mlflow.log_trials=false)."""
    if not cfg.mlflow.log_trials:
        return None
    objective = str(cfg.tune.objective)

    def on_trial(trial: optuna.Trial, params: dict[str, Any], score: float | None,
                 state: str) -> None:
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            tracking.log_params(params)
            tracking.log_tags({"trial.number": trial.number, "trial.state": state,
                               "optuna.study": trial.study.study_name})
            if score is not None:
                mlflow.log_metric(f"valid_{objective}", score)

    return on_trial


def write_best_params(result: tuning.TuneResult, cfg: DictConfig) -> Path:
    """``${output.dir}/tune/best_params.json`` (atomic)."""
    path = Path(str(cfg.output.dir)) / "tune" / "best_params.json"
    return write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n", path)


def tune_frames(train: pl.DataFrame, valid: pl.DataFrame, features: list[str],
                categorical: list[str], cfg: DictConfig, fit: tuning.FitFn,
                dataset: pl.DataFrame | None = None) -> tuning.TuneResult:
    """Tune on given train/validation frames inside one parent MLflow run; write best params."""
    study = tuning.open_study(cfg)
    before = len(study.trials)
    with tracking.run(cfg, run_name="tune", tags={"step": "tune",
                                                  "optuna.study": study.study_name}):
        tracking.log_config(cfg)
        tracking.log_git_commit()
        if dataset is not None:
            tracking.log_dataset(dataset, cfg, context="tuning")
        result = tuning.run_study(study, train, valid, features, categorical, cfg, fit,
                                  on_trial=_trial_logger(cfg))
        tracking.log_params({f"best.{k}": v for k, v in result.best_params.items()})
        mlflow.log_metrics({f"best_valid_{result.objective}": result.best_value,
                            "n_trials": result.n_trials, "new_trials": result.new_trials,
                            "pruned_trials": result.pruned})
        tracking.log_tags({"best_trial": result.best_trial})
        tracking.log_figures(tuning.figures(study), folder="optuna")
        path = write_best_params(result, cfg)
        mlflow.log_artifact(str(path), artifact_path="tune")
    log.info("study %s: %d new trials (%d pruned), %d in total; best %s=%.4f (trial %d)",
             study.study_name, len(study.trials) - before, result.pruned, result.n_trials,
             result.objective, result.best_value, result.best_trial)
    return result


def tune_job(cfg: DictConfig) -> tuning.TuneResult:
    """The whole ``decay-tune`` step on the configured dataset."""
    from models.train import fit_booster
    from pipelines.common import load_or_build_dataset

    with step("dataset", log):
        dataset, _catalogue = load_or_build_dataset(cfg)
    train, valid, features, categorical = tuning_frames(dataset, cfg)
    with step(f"tune ({cfg.tune.n_trials} trials)", log):
        result = tune_frames(train, valid, features, categorical, cfg, fit_booster, dataset)
    print(f"study {result.study.study_name}: {result.n_trials} trials "
          f"({result.new_trials} new, {result.pruned} pruned); best valid {result.objective} "
          f"{result.best_value:.4f} at trial {result.best_trial}\n"
          f"best params: {Path(str(cfg.output.dir)) / 'tune' / 'best_params.json'}\n"
          f"train with them: decay-train model.params=best")
    return result


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    tune_job(cfg)


#: The console script (pyproject): Hydra's config errors exit 2 like the job's own.
main = console(_main)

if __name__ == "__main__":
    main()
