"""`decay-train`: train the routed model, log it to MLflow, register it and run the promotion gate.

Steps: dataset (reused when built from the same config) -> truth (simulated data only) ->
``models.train.train_models`` -> ``${output.dir}/train/metrics.json`` (atomic; for scripts) ->
one MLflow run (config, dataset, git commit, metrics, figures, catalogue, split, warnings) ->
pyfunc model registered as ``model.name`` with alias ``challenger`` -> promotion gate (alias
``champion`` only if it beats the current champion on the same test rows).

``model.params=best`` trains with the best trial of the ``decay-tune`` study. ``engine=dask``
trains every booster on the cluster (``core.cluster.dask_client``, ``models.distributed``).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import hydra
from omegaconf import DictConfig

from core.cli import console, job
from core.config import CONF_DIR  # importing core.config registers the schema
from core.logs import get_logger
from core.progress import step

log = get_logger(__name__)


def train_job(cfg: DictConfig) -> dict[str, Any]:
    """Run the whole training step; returns ``{"metrics", "run_id", "decision", "model_uri"}``."""
    from core.cluster import dask_client, is_dask
    from models.results import summary, write_metrics
    from models.train import train_models
    from models.tune import resolve_params
    from pipelines.common import dataset_defaults, load_or_build_dataset, read_truth
    from tracking.jobs import log_train_run

    params = resolve_params(cfg)  # fail fast (no study) before any heavy work
    with step("dataset", log):
        dataset, catalogue = load_or_build_dataset(cfg)
    truth = read_truth(cfg)
    with step("train", log), dask_client(cfg) if is_dask(cfg) else nullcontext() as client:
        result = train_models(dataset, cfg, truth=truth, params=params, client=client)
    # Scoring rebuilds features with the same data-driven choices (vocabulary, milestones...).
    result.model.metadata["data_defaults"] = dataset_defaults(cfg)
    metrics_path = write_metrics(result.metrics, cfg)
    log.info("metrics written to %s", metrics_path)
    with step("mlflow", log):
        run_id, info, decision = log_train_run(cfg, result, dataset, catalogue, params)
    print(summary(result.metrics, decision))
    print(f"metrics: {metrics_path}\nmlflow run: {run_id} ({cfg.mlflow.tracking_uri})")
    return {
        "metrics": result.metrics,
        "run_id": run_id,
        "decision": decision,
        "model_uri": info.model_uri,
    }


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    train_job(cfg)


#: The console script (pyproject): Hydra's config errors exit 2 like the job's own.
main = console(_main)

if __name__ == "__main__":
    main()
