"""`decay-tune`: Optuna search of the LightGBM parameters, resumable, tracked in MLflow.

One parent MLflow run per call (config, dataset, best params, Optuna's optimisation history and
parameter importance plots) with one nested run per trial (its params, score and state). The
study itself lives in ``tune.storage`` so a second call adds trials to the same study; the best
params are also written to ``${output.dir}/tune/best_params.json`` and read back by
``decay-train model.params=best``.

Only the training and validation periods of the training time split are used, never test.
The search is ``models.tune``; what is tracked is ``tracking.jobs.tune_tracked``. ``engine=dask``
runs the trials as tasks on the cluster, sharing the study through ``optuna_integration.DaskStorage``.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import hydra
from omegaconf import DictConfig

from core.cli import console, job
from core.config import CONF_DIR  # importing core.config registers the schema
from core.logs import get_logger
from core.progress import step
from models import tune as tuning

log = get_logger(__name__)


def tune_job(cfg: DictConfig) -> tuning.TuneResult:
    """The whole ``decay-tune`` step on the configured dataset."""
    from core.cluster import dask_client, is_dask
    from models.train import fit_booster
    from pipelines.common import load_or_build_dataset
    from tracking.jobs import tune_tracked

    with step("dataset", log):
        dataset, _catalogue = load_or_build_dataset(cfg)
    train, valid, features, categorical = tuning.tuning_frames(dataset, cfg)
    with (
        step(f"tune ({cfg.tune.n_trials} trials)", log),
        dask_client(cfg) if is_dask(cfg) else nullcontext() as client,
    ):
        result = tune_tracked(
            train, valid, features, categorical, cfg, fit_booster, dataset, client=client
        )
    print(
        f"study {result.study.study_name}: {result.n_trials} trials "
        f"({result.new_trials} new, {result.pruned} pruned); best valid {result.objective} "
        f"{result.best_value:.4f} at trial {result.best_trial}\n"
        f"best params: {Path(cfg.output.dir) / 'tune' / 'best_params.json'}\n"
        f"train with them: decay-train model.params=best"
    )
    return result


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    tune_job(cfg)


#: The console script (pyproject): Hydra's config errors exit 2 like the job's own.
main = console(_main)

if __name__ == "__main__":
    main()
