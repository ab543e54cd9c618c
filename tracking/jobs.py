"""What each job records in MLflow: the training run (with registration and the promotion gate),
the tuning study's parent and trial runs, and the scoring run.

Why here: the entry points in ``pipelines/`` only say *when* a job is tracked; which params,
metrics, tags and artifacts make a run reproducible and comparable is the tracking package's job,
in one place next to the generic run helpers of ``tracking.runs``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import optuna
import polars as pl
from omegaconf import DictConfig

from core.logs import get_logger
from tracking import registry, runs

log = get_logger(__name__)


def log_train_run(
    cfg: DictConfig,
    result: Any,
    dataset: pl.DataFrame,
    catalogue: Any,
    params: dict[str, Any] | None,
) -> tuple[str, Any, registry.PromotionDecision | None]:
    """One MLflow run for a training (``models.train.TrainResult``): everything
    ``runs.log_training_run`` logs plus the data profile, then registration as challenger and the
    promotion gate on the run's own test rows. Returns ``(run_id, model_info, decision)``."""
    with runs.run(cfg, run_name="train", tags={"step": "train"}) as active:
        run_id = active.info.run_id
        runs.log_training_run(result, dataset, catalogue, cfg)
        runs.log_profile(Path(cfg.output.dir))
        if params is not None:
            runs.log_params({f"lgb.{k}": v for k, v in params.items()})
            runs.log_tags({"params_source": "tuning study best trial"})
        info, decision = registry.register_and_promote(
            result.model,
            registry.test_rows(dataset, result.test_scores),
            cfg,
            run_id,
            gate_model=result.gate_model,
            example_frame=dataset.head(2000),
        )
    return run_id, info, decision


def trial_logger(cfg: DictConfig) -> Callable[..., None] | None:
    """``on_trial`` hook: one nested MLflow run per trial (None when mlflow.log_trials=false)."""
    if not cfg.mlflow.log_trials:
        return None
    objective = cfg.tune.objective

    def on_trial(
        trial: optuna.Trial | optuna.trial.FrozenTrial,
        params: dict[str, Any],
        score: float | None,
        state: str,
    ) -> None:
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            runs.log_params(params)
            runs.log_tags(
                {
                    "trial.number": trial.number,
                    "trial.state": state,
                    "optuna.study": cfg.tune.study_name,
                }
            )
            if score is not None:
                mlflow.log_metric(f"valid_{objective}", score)

    return on_trial


def tune_tracked(
    train: pl.DataFrame,
    valid: pl.DataFrame,
    features: list[str],
    categorical: list[str],
    cfg: DictConfig,
    fit: Any,
    dataset: pl.DataFrame | None = None,
    client: Any | None = None,
) -> Any:
    """Run the study (``models.tune.run_study``) inside one parent MLflow run with a nested run
    per trial; write and log the best params. Returns the ``models.tune.TuneResult``.
    ``client`` (``engine=dask``): the trials run on that cluster."""
    from models import tune as tuning

    study = tuning.open_study(cfg)
    before = len(study.trials)
    with runs.run(cfg, run_name="tune", tags={"step": "tune", "optuna.study": study.study_name}):
        runs.log_config(cfg)
        runs.log_git_commit()
        if dataset is not None:
            runs.log_dataset(dataset, cfg, context="tuning")
        result = tuning.run_study(
            study,
            train,
            valid,
            features,
            categorical,
            cfg,
            fit,
            on_trial=trial_logger(cfg),
            client=client,
        )
        runs.log_params({f"best.{k}": v for k, v in result.best_params.items()})
        mlflow.log_metrics(
            {
                f"best_valid_{result.objective}": result.best_value,
                "n_trials": result.n_trials,
                "new_trials": result.new_trials,
                "pruned_trials": result.pruned,
            }
        )
        runs.log_tags({"best_trial": result.best_trial})
        runs.log_figures(tuning.figures(study), folder="optuna")
        path = tuning.write_best_params(result, cfg)
        mlflow.log_artifact(str(path), artifact_path="tune")
    log.info(
        "study %s: %d new trials (%d pruned), %d in total; best %s=%.4f (trial %d)",
        study.study_name,
        len(study.trials) - before,
        result.pruned,
        result.n_trials,
        result.objective,
        result.best_value,
        result.best_trial,
    )
    return result


def log_score_run(
    cfg: DictConfig,
    as_of: date,
    drift: pl.DataFrame,
    info: dict[str, Any],
    summary: dict[str, float],
) -> str:
    """One MLflow run (tag ``job=score``) for a scoring run: the scoring params, the risk summary,
    the PSI of every feature and which drifted. Returns the run id."""
    tags = {
        "job": "score",
        "step": "score",
        "as_of": as_of.isoformat(),
        "model.version": str(info.get("version", "")),
        "model.uri": str(info.get("uri", "")),
    }
    drifted = drift.filter(pl.col("drifted"))["feature"].to_list()
    tags["drift.warn_features"] = ",".join(drifted) if drifted else "none"
    tags["drift.warn"] = str(bool(drifted)).lower()
    with runs.run(cfg, run_name=f"score {as_of.isoformat()}", tags=tags) as active:
        mlflow.log_params(
            {
                "as_of": as_of.isoformat(),
                "explainer": cfg.score.explainer,
                "tier_mode": cfg.score.tier_mode,
                "chunk_rows": cfg.score.chunk_rows,
                "psi_warn": cfg.score.psi_warn,
            }
        )
        metrics = dict(summary)
        metrics["drift.n_warn"] = float(len(drifted))
        for f, v in drift.select("feature", "psi").iter_rows():
            metrics[runs.metric_key(f"psi.{f}")] = float(v)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(
            {r["feature"]: r["psi"] for r in drift.iter_rows(named=True)}, "drift/psi.json"
        )
        return active.info.run_id


def log_map_run(cfg: DictConfig, amap: Any, folder: Path) -> str:
    """One MLflow run (tag ``job=map``) for the adoption map: its parameters, how many findings
    passed the false-discovery check and replicated, the median time to value per milestone for
    all accounts, and the map folder (tables + pages) as artifacts. Returns the run id."""
    import dataclasses

    findings = amap.findings
    metrics: dict[str, float] = {
        "accounts": float(amap.timeline.height),
        "findings": float(findings.height),
        "significant": float(findings["significant"].sum()) if findings.height else 0.0,
        "replicated": float(amap.top.height),
    }
    if amap.ttv.height:
        overall = amap.ttv.filter(pl.col("segment_column") == "all")
        for name, median in overall.select("milestone", "median_day").iter_rows():
            if median is not None:
                metrics[runs.metric_key(f"ttv_median_days.{name}")] = float(median)
    with runs.run(cfg, run_name="map", tags={"job": "map", "step": "map"}) as active:
        runs.log_params({f"map.{k}": v for k, v in dataclasses.asdict(amap.params).items()})
        mlflow.log_metrics(metrics)
        runs.log_tags({"map.notes": " | ".join(amap.notes) or "none"})
        mlflow.log_artifacts(str(folder), artifact_path="map")
        return active.info.run_id
