"""Optuna tuning of the LightGBM parameters on the training time split's validation period.

Why these choices:
- TPE sampler seeded from ``cfg.seed`` (offset by the number of trials already in the study, so a
  resumed study explores new points instead of replaying the first random ones).
- Pruning from LightGBM's own per-iteration validation scores (``PruningCallback``): a bad trial
  stops after a few boosting rounds instead of running to early stopping.
- The study lives in ``tune.storage`` (SQLite under the outputs) with ``load_if_exists``: running
  ``decay-tune`` again adds trials to the same study, and ``decay-train model.params=best`` reads
  the best trial back from it.
- The objective is the *validation* score (``tune.objective``: pr_auc | roc_auc | log_loss) of one
  global booster on the same time split as training; the test period is never seen here.
- ``num_leaves`` stays <= 63: explanation (TreeSHAP) cost grows with the number of leaves.
- ``engine=dask`` (``run_study(client=...)``): each trial is one Dask task, a single-worker fit
  on the worker (the frames are broadcast once); the study is shared through
  ``optuna_integration.DaskStorage`` wrapping ``tune.storage`` on the scheduler, so pruning
  reads the other trials' reports as locally. A trial's sampler is seeded with
  ``cfg.seed + trial.number``: the random start-up points (TPE's first 10 trials) are the same
  on every run; later TPE suggestions and pruning depend on which trials finished first, as in
  any parallel Optuna study.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import optuna
import polars as pl
from omegaconf import DictConfig, OmegaConf

from core.errors import ConfigValueError
from core.logs import get_logger
from core.progress import Ticker
from models.metrics import booster_metric

log = get_logger(__name__)

#: ``num_leaves`` upper bound of the search space (explanation cost grows with it).
MAX_LEAVES = 63
#: Names LightGBM gives the training set among its evaluation results (not a validation score).
_TRAIN_NAMES = {"training", "train"}

FitFn = Callable[..., lgb.Booster]


def objective_metric(cfg: DictConfig) -> tuple[str, Literal["maximize", "minimize"]]:
    """(LightGBM metric, direction) for ``cfg.tune.objective`` (``models.metrics.METRICS``)."""
    metric, higher = booster_metric(cfg.tune.objective)
    return metric, "maximize" if higher else "minimize"


def search_space(trial: optuna.Trial) -> dict[str, Any]:
    """The tuned LightGBM parameters (everything else comes from ``model.params``)."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, MAX_LEAVES, log=True),
        "max_depth": trial.suggest_int("max_depth", 3, 8),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 10, 200, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l1": trial.suggest_float("lambda_l1", 1e-3, 10.0, log=True),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


#: Bounds of the search space (``search_space``), to place the configured parameters in it.
_BOUNDS = {
    "learning_rate": (0.01, 0.2),
    "num_leaves": (4, None),
    "max_depth": (3, 8),
    "min_data_in_leaf": (10, 200),
    "feature_fraction": (0.5, 1.0),
    "bagging_fraction": (0.5, 1.0),
    "lambda_l1": (1e-3, 10.0),
    "lambda_l2": (1e-3, 10.0),
}


def configured_point(cfg: DictConfig) -> dict[str, Any]:
    """``model.params`` as a point of the search space (clipped to its bounds; absent ones at
    the lower bound, e.g. no L1): the first trial of a new study.

    Why: on a young log the validation period can favour parameters that do worse than the
    defaults once the model is refit on the latest labels; with the defaults in the race the
    study's best is at least as good as them on validation."""
    base = base_params(cfg)
    out: dict[str, Any] = {}
    for name, (lo, hi) in _BOUNDS.items():
        hi = MAX_LEAVES if hi is None else hi
        v = base.get(name, lo)
        v = min(max(v, lo), hi)
        ints = ("num_leaves", "max_depth", "min_data_in_leaf")
        out[name] = round(v) if name in ints else float(v)
    return out


def base_params(cfg: DictConfig) -> dict[str, Any]:
    """``model.params`` as a plain dict (empty when it is the string ``best``)."""
    params = cfg.model.params
    if isinstance(params, str):
        return {}
    return dict(OmegaConf.to_container(params, resolve=True) or {})  # type: ignore[arg-type]


def trial_params(trial: optuna.Trial, cfg: DictConfig) -> dict[str, Any]:
    """LightGBM params of a trial: ``model.params`` + the sampled ones + seed.

    These are what ``model.params=best`` trains with. The evaluation metric is added only for
    the trial's own fit (``fit_params``), so training keeps early-stopping on its promotion metric.
    """
    params = {**base_params(cfg), **search_space(trial)}
    params.setdefault("bagging_freq", 1)
    params["seed"] = cfg.seed
    params.pop("metric", None)
    return params


def fit_params(params: Mapping[str, Any], cfg: DictConfig) -> dict[str, Any]:
    """Trial params plus ``metric`` = the objective's LightGBM metric (first, for early stopping)."""
    metric, _ = objective_metric(cfg)
    return {**params, "metric": metric}


def validation_result(results: list[Any] | None, metric: str) -> tuple[str, float] | None:
    """(dataset name, value) of ``metric`` on the validation set among LightGBM eval results.

    The validation set is the last evaluated set that is not the training set, whatever name the
    trainer gave it. None when the metric was not evaluated.
    """
    found = None
    for r in results or []:
        name, metric_name, value = r[0], r[1], r[2]
        if name not in _TRAIN_NAMES and metric_name in (metric, f"valid {metric}"):
            found = (name, float(value))
    return found


class PruningCallback:
    """LightGBM callback: report the validation ``metric`` each iteration; prune when Optuna says.

    Equivalent to ``optuna_integration.LightGBMPruningCallback`` but independent of the name the
    trainer gives its validation set.
    """

    order = 40  # after LightGBM's own evaluation logging, before early stopping (30 < 40)

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial = trial
        self.metric = metric

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        found = validation_result(env.evaluation_result_list, self.metric)
        if found is None:
            return
        self.trial.report(found[1], step=env.iteration)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned at iteration {env.iteration} ({self.metric}={found[1]:.4f})"
            )


def booster_score(booster: lgb.Booster, metric: str) -> float:
    """The validation ``metric`` at the booster's best iteration (LightGBM's ``best_score``)."""
    scores = {name: vals for name, vals in booster.best_score.items() if name not in _TRAIN_NAMES}
    for vals in reversed(list(scores.values())):
        if metric in vals:
            return float(vals[metric])
    raise ConfigValueError(
        f"the booster has no validation {metric!r} score (evaluated: "
        f"{ {k: list(v) for k, v in booster.best_score.items()} })",
        hint="fit_booster must evaluate a validation set with params['metric']",
    )


def storage_path(storage: str) -> Path | None:
    """The SQLite file of an Optuna storage URL (None for other databases)."""
    return Path(storage[len("sqlite:///") :]) if storage.startswith("sqlite:///") else None


def open_study(cfg: DictConfig) -> optuna.Study:
    """Create or resume the study ``tune.study_name`` in ``tune.storage`` (folder created)."""
    _, direction = objective_metric(cfg)
    storage = cfg.tune.storage
    path = storage_path(storage)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=storage,
        study_name=cfg.tune.study_name,
        direction=direction,
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=10),
    )
    if study.direction.name.lower() != direction:
        raise ConfigValueError(
            f"study {cfg.tune.study_name!r} was created to {study.direction.name.lower()} "
            f"but tune.objective='{cfg.tune.objective}' needs {direction}",
            hint="use another tune.study_name for a different objective",
        )
    # A fresh seed per session: same seed + same trial count = same suggestions (reproducible),
    # while a resumed study does not replay its first random points.
    study.sampler = optuna.samplers.TPESampler(seed=cfg.seed + len(study.trials))
    study.set_user_attr("objective", str(cfg.tune.objective))  # plain str: stored as JSON
    return study


@dataclass
class TuneResult:
    """Outcome of a tuning session (the study holds every trial, of this and earlier sessions)."""

    study: optuna.Study
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    n_trials: int
    new_trials: int
    objective: str
    pruned: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON written to ``${output.dir}/tune/best_params.json``."""
        return {
            "study_name": self.study.study_name,
            "objective": self.objective,
            "best_value": self.best_value,
            "best_trial": self.best_trial,
            "n_trials": self.n_trials,
            "params": self.best_params,
        }


def run_study(
    study: optuna.Study,
    train: pl.DataFrame,
    valid: pl.DataFrame,
    features: list[str],
    categorical: list[str],
    cfg: DictConfig,
    fit: FitFn,
    on_trial: Callable[[Any, dict[str, Any], float | None, str], None] | None = None,
    client: Any | None = None,
) -> TuneResult:
    """Run ``tune.n_trials`` trials (or until ``tune.timeout`` seconds) on train/valid frames.

    ``fit`` is ``models.train.fit_booster`` (same signature); each trial trains with its params
    plus the pruning callback and scores the booster on ``valid``. ``on_trial(trial, params,
    score, state)`` is called after each trial (used for the nested MLflow runs); with
    ``client`` (``engine=dask``, ``run_on_cluster``) the trials run on the workers and
    ``on_trial`` gets each finished ``FrozenTrial`` afterwards, in trial order.
    """
    before = len(study.trials)
    objective = make_objective(train, valid, features, categorical, cfg, fit, on_trial)
    if before == 0:  # a new study starts from the configured parameters, so "best" is never
        study.enqueue_trial(configured_point(cfg), skip_if_exists=True)  # worse than them
    timeout = cfg.tune.timeout
    ticker = Ticker("tuning trials", int(cfg.tune.n_trials), log)
    if client is not None:
        run_on_cluster(client, study, train, valid, features, categorical, cfg, fit, ticker)
        if on_trial:  # MLflow runs are this process's: logged once the trials are in the study
            for t in study.get_trials(deepcopy=False)[before:]:
                state = t.state.name.lower()
                on_trial(t, dict(t.user_attrs.get("lgb_params", t.params)), t.value, state)
        return summarize(study, before)
    study.optimize(
        objective,
        n_trials=cfg.tune.n_trials,
        timeout=float(timeout) if timeout else None,
        gc_after_trial=True,
        # Optuna's own bar redraws one line: the log gets a line per 10% of trials instead.
        show_progress_bar=False,
        callbacks=[lambda _study, _trial: ticker.tick()],
    )
    return summarize(study, before)


def make_objective(
    train: pl.DataFrame,
    valid: pl.DataFrame,
    features: list[str],
    categorical: list[str],
    cfg: DictConfig,
    fit: FitFn,
    on_trial: Callable[[Any, dict[str, Any], float | None, str], None] | None = None,
) -> Callable[[optuna.Trial], float]:
    """The Optuna objective: fit with the trial's params and the pruning callback, return the
    booster's validation score (``tune.objective``)."""
    metric, _ = objective_metric(cfg)

    def objective(trial: optuna.Trial) -> float:
        params = trial_params(trial, cfg)
        trial.set_user_attr("lgb_params", params)
        try:
            booster = fit(
                train,
                valid,
                features,
                categorical,
                fit_params(params, cfg),
                cfg,
                callbacks=[PruningCallback(trial, metric)],
            )
        except optuna.TrialPruned:
            if on_trial:
                on_trial(trial, params, None, "pruned")
            raise
        score = booster_score(booster, metric)
        trial.set_user_attr("best_iteration", int(booster.best_iteration or 0))
        if on_trial:
            on_trial(trial, params, score, "complete")
        return score

    return objective


def cluster_trial(
    study: optuna.Study,
    train: pl.DataFrame,
    valid: pl.DataFrame,
    features: list[str],
    categorical: list[str],
    cfg: DictConfig,
    fit: FitFn,
    deadline: float | None,
) -> int | None:
    """One trial, run on a Dask worker (``run_on_cluster``); returns its number (None when
    ``deadline``, a UNIX time, has passed before it started).

    Ask-and-tell so the sampler can be seeded by the trial's number (``cfg.seed + number``)
    once the shared storage has given it one; same states as ``study.optimize``: a pruned
    trial is PRUNED, an error FAIL (and raised)."""
    if deadline is not None and time.time() > deadline:
        return None
    trial = study.ask()
    study.sampler = optuna.samplers.TPESampler(seed=int(cfg.seed) + trial.number)
    objective = make_objective(train, valid, features, categorical, cfg, fit)
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    except Exception:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    else:
        study.tell(trial, value)
    return trial.number


def cluster_storage(storage: str, client: Any) -> Any:
    """``optuna_integration.DaskStorage`` over ``storage`` (the scheduler opens it; a relative
    SQLite path is made absolute here, so a LocalCluster's scheduler opens this file)."""
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from optuna_integration import DaskStorage

    path = storage_path(storage)
    url = f"sqlite:///{path.resolve()}" if path is not None else storage
    # DaskStorage is "experimental" since optuna 3.1: said once in docs/scaling.md, not per task.
    client.run(warnings.filterwarnings, "ignore", category=ExperimentalWarning)
    return DaskStorage(storage=url, client=client)


def run_on_cluster(
    client: Any,
    study: optuna.Study,
    train: pl.DataFrame,
    valid: pl.DataFrame,
    features: list[str],
    categorical: list[str],
    cfg: DictConfig,
    fit: FitFn,
    ticker: Ticker | None = None,
) -> list[int]:
    """``tune.n_trials`` trials of ``study`` as Dask tasks (``cluster_trial``) sharing it through
    ``cluster_storage``; returns the numbers of the trials that ran. ``tune.timeout``: trials
    not started by then are skipped (running ones finish). A failed trial's error is raised."""
    import warnings

    from distributed import as_completed
    from optuna.exceptions import ExperimentalWarning

    timeout = cfg.tune.timeout
    deadline = time.time() + float(timeout) if timeout else None
    done: list[int] = []
    with warnings.catch_warnings():  # DaskStorage warns "experimental" each time it is unpickled
        warnings.simplefilter("ignore", ExperimentalWarning)
        shared = optuna.load_study(
            study_name=study.study_name,
            storage=cluster_storage(str(cfg.tune.storage), client),
            pruner=study.pruner,
            sampler=study.sampler,
        )
        frames = client.scatter([train, valid], broadcast=True, hash=False)
        futures = [
            client.submit(
                cluster_trial,
                shared,
                frames[0],
                frames[1],
                features,
                categorical,
                cfg,
                fit,
                deadline,
                pure=False,
            )
            for _ in range(int(cfg.tune.n_trials))
        ]
        try:
            for future in as_completed(futures):
                number = future.result()
                if number is not None:
                    done.append(int(number))
                    if ticker is not None:
                        ticker.tick()
        finally:
            client.cancel(futures)
    return sorted(done)


def summarize(study: optuna.Study, before: int = 0) -> TuneResult:
    """A TuneResult from the study's trials (raises when no trial completed)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ConfigValueError(
            f"study {study.study_name!r} has no completed trial",
            hint="run decay-tune with more tune.n_trials or a longer tune.timeout",
        )
    best = study.best_trial
    assert best.value is not None  # a completed single-objective trial has its value
    history = [
        {"number": t.number, "state": t.state.name.lower(), "value": t.value, "params": t.params}
        for t in study.trials
    ]
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials[before:])
    return TuneResult(
        study=study,
        best_params=dict(best.user_attrs["lgb_params"]),
        best_value=float(best.value),
        best_trial=best.number,
        n_trials=len(study.trials),
        new_trials=len(study.trials) - before,
        objective=str(study.user_attrs.get("objective", "")),
        pruned=pruned,
        history=history,
    )


def best_params(cfg: DictConfig) -> dict[str, Any]:
    """Full LightGBM params of the best trial of ``tune.study_name`` (for ``model.params=best``).

    Raises ``ConfigValueError`` with the hint to run ``decay-tune`` when there is no such study.
    """
    storage = cfg.tune.storage
    path = storage_path(storage)
    hint = f"run decay-tune first (study {cfg.tune.study_name!r} in {storage}), or set model.params"
    if path is not None and not path.exists():
        raise ConfigValueError(
            f"model.params=best but there is no tuning study at {path}", hint=hint
        )
    try:
        study = optuna.load_study(study_name=cfg.tune.study_name, storage=storage)
    except KeyError as err:
        raise ConfigValueError(
            f"model.params=best but study {cfg.tune.study_name!r} does not exist in {storage}",
            hint=hint,
        ) from err
    params = summarize(study).best_params
    log.info("model.params=best: trial %d of study %s", study.best_trial.number, study.study_name)
    return params


def figures(study: optuna.Study) -> dict[str, Any]:
    """Optuna's optimisation history and parameter importance plots (matplotlib figures).

    Importance needs at least two completed trials with varying params; it is skipped (logged)
    when Optuna cannot compute it.
    """
    import warnings

    from optuna.visualization import matplotlib as ovm

    out: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks the matplotlib backend experimental
        out["optimization_history"] = ovm.plot_optimization_history(study).figure
        try:
            out["param_importances"] = ovm.plot_param_importances(study).figure
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            log.warning("parameter importance plot skipped: %s", err)
    return out


def tuning_frames(
    dataset: pl.DataFrame, cfg: DictConfig
) -> tuple[pl.DataFrame, pl.DataFrame, list[str], list[str]]:
    """(train, validation, features, categorical) of the training time split (labelled rows):
    tuning never sees the test period."""
    from models.split import time_split
    from models.train import feature_columns

    split = time_split(dataset, cfg)
    features, categorical = feature_columns(dataset, cfg)
    return split.train, split.validation, features, categorical


def write_best_params(result: TuneResult, cfg: DictConfig) -> Path:
    """``${output.dir}/tune/best_params.json`` (atomic), read back by ``model.params=best``."""
    import json

    from core.atomic import write_text

    path = Path(cfg.output.dir) / "tune" / "best_params.json"
    return write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n", path)


def resolve_params(cfg: DictConfig) -> dict[str, Any] | None:
    """LightGBM params to train with: the tuned best for ``model.params=best``, else None
    (``train_models`` then uses ``model.params`` from the config)."""
    if isinstance(cfg.model.params, str):
        if cfg.model.params != "best":
            raise ConfigValueError(
                f"model.params={cfg.model.params!r} is not a dict or 'best'",
                hint="use model.params=best or set individual model.params.<key>",
            )
        return best_params(cfg)
    return None
