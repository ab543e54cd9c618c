"""`decay-train`: train the routed model, log it to MLflow, register it and run the promotion gate.

Steps: dataset (reused when built from the same config) -> truth (simulated data only) ->
``models.train.train_models`` -> ``${output.dir}/train/metrics.json`` (atomic; for scripts) ->
one MLflow run (config, dataset, git commit, metrics, figures, catalogue, split, warnings) ->
pyfunc model registered as ``model.name`` with alias ``challenger`` -> promotion gate (alias
``champion`` only if it beats the current champion on the same test rows).

``model.params=best`` trains with the best trial of the ``decay-tune`` study.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import hydra
import polars as pl
from omegaconf import DictConfig

from core.atomic import write_text
from core.cli import console, job
from core.config import CONF_DIR  # importing core.config registers the schema
from core.errors import ConfigValueError
from core.progress import step
from models import registry, tracking
from models.tune import best_params

log = logging.getLogger("adoption_decay")


def read_truth(cfg: DictConfig) -> pl.DataFrame | None:
    """The simulator's oracle table when ``data.truth`` is set and exists (None on real data)."""
    path = cfg.data.get("truth")
    if not path or not Path(str(path)).exists():
        return None
    return pl.read_parquet(str(path))


def resolve_params(cfg: DictConfig) -> dict[str, Any] | None:
    """LightGBM params to train with: the tuned best for ``model.params=best``, else None
    (``train_models`` then uses ``model.params`` from the config)."""
    if isinstance(cfg.model.params, str):
        if cfg.model.params != "best":
            raise ConfigValueError(f"model.params={cfg.model.params!r} is not a dict or 'best'",
                                   hint="use model.params=best or set individual model.params.<key>")
        return best_params(cfg)
    return None


def _json_safe(obj: Any) -> Any:
    """NaN/inf become null so metrics.json is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_metrics(metrics: dict[str, Any], cfg: DictConfig) -> Path:
    """``${output.dir}/train/metrics.json``: the test metrics (overall at the top level)."""
    text = json.dumps(_json_safe(json.loads(json.dumps(metrics, default=str))), indent=2,
                      sort_keys=True)
    return write_text(text + "\n", Path(str(cfg.output.dir)) / "train" / "metrics.json")


def test_rows(dataset: pl.DataFrame, test_scores: pl.DataFrame) -> pl.DataFrame:
    """The dataset rows (features + label) of the run's scored test rows: the gate's common ground."""
    keys = ["account_id", "cutoff"]
    return dataset.join(test_scores.select(keys).unique(), on=keys, how="semi")


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and math.isfinite(v) else "n/a"


def summary(metrics: dict[str, Any], decision: registry.PromotionDecision | None) -> str:
    """A few lines for the terminal: model vs baselines and oracle, and the promotion decision."""
    if metrics.get("evaluated") is False:
        lines = [f"UNEVALUATED: {metrics.get('split_rule')}"]
    else:
        lines = [f"test  roc_auc {_fmt(metrics.get('roc_auc'))}  "
                 f"pr_auc {_fmt(metrics.get('pr_auc'))}"]
    if metrics.get("served") and metrics.get("served") != "lightgbm":
        lines.append(f"served: {metrics['served']} baseline ({metrics.get('served_reason')})")
    if metrics.get("oracle_roc_auc") is not None:
        ratio = metrics.get("auc_ratio_to_oracle")
        if ratio is None and metrics.get("roc_auc") and metrics.get("oracle_roc_auc"):
            ratio = metrics["roc_auc"] / metrics["oracle_roc_auc"]
        lines.append(f"oracle roc_auc {_fmt(metrics['oracle_roc_auc'])}  model/oracle {_fmt(ratio)}")
    for name, vals in (metrics.get("baselines") or {}).items():
        if isinstance(vals, dict):
            lines.append(f"baseline {name}: roc_auc {_fmt(vals.get('roc_auc'))}  "
                         f"pr_auc {_fmt(vals.get('pr_auc'))}")
    if decision is not None:
        lines.append(f"model {decision.model_name} v{decision.version}: {decision.decision} "
                     f"({decision.reason})")
    return "\n".join(lines)


def train_job(cfg: DictConfig) -> dict[str, Any]:
    """Run the whole training step; returns ``{"metrics", "run_id", "decision", "model_uri"}``."""
    from models.train import train_models
    from pipelines.common import dataset_defaults, load_or_build_dataset

    params = resolve_params(cfg)  # fail fast (no study) before any heavy work
    with step("dataset", log):
        dataset, catalogue = load_or_build_dataset(cfg)
    truth = read_truth(cfg)
    with step("train", log):
        result = train_models(dataset, cfg, truth=truth, params=params)
    # Scoring rebuilds features with the same data-driven choices (vocabulary, milestones...).
    result.model.metadata["data_defaults"] = dataset_defaults(cfg)
    metrics_path = write_metrics(result.metrics, cfg)
    log.info("metrics written to %s", metrics_path)

    with step("mlflow", log), tracking.run(cfg, run_name="train", tags={"step": "train"}) as active:
        run_id = active.info.run_id
        tracking.log_training_run(result, dataset, catalogue, cfg)
        tracking.log_profile(Path(str(cfg.output.dir)))
        if params is not None:
            tracking.log_params({f"lgb.{k}": v for k, v in params.items()})
            tracking.log_tags({"params_source": "tuning study best trial"})
        info, decision = registry.register_and_promote(
            result.model, test_rows(dataset, result.test_scores), cfg, run_id,
            gate_model=result.gate_model, example_frame=dataset.head(2000))
    print(summary(result.metrics, decision))
    print(f"metrics: {metrics_path}\nmlflow run: {run_id} ({cfg.mlflow.tracking_uri})")
    return {"metrics": result.metrics, "run_id": run_id, "decision": decision,
            "model_uri": info.model_uri}


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    train_job(cfg)


#: The console script (pyproject): Hydra's config errors exit 2 like the job's own.
main = console(_main)

if __name__ == "__main__":
    main()
