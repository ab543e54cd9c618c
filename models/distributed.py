"""LightGBM boosters fit on a Dask cluster (``engine=dask``) through LightGBM's own Dask estimator.

``fit_on_cluster`` is the one switch ``models.train.fit_booster`` / ``refit_booster`` take when a
``distributed.Client`` is passed: the rows (already encoded by ``models.router.build_matrix``)
are cut into ``n_parts`` contiguous chunks placed round-robin on the workers,
``lightgbm.DaskLGBMClassifier`` trains data-parallel on them, and the local ``lgb.Booster`` comes
back, so calibration, routing, SHAP, MLflow and the pyfunc see the same kind of object as with
``engine=local``.

Early stopping, and why it is not LightGBM's callback: on a cluster every worker evaluates only
its own part of an ``eval_set`` (LightGBM does not reduce metrics across machines), so workers
could stop at different rounds and the network training would hang. Here the cluster trains the
full ``num_boost_round`` rounds and early stopping is applied afterwards, on the client, to the
validation metric of every round on ALL validation rows, with ``lgb.early_stopping``'s rule
(first metric only, stop after ``rounds`` rounds without a strict improvement, keep the best
round). The booster returned is cut to that round and carries ``best_iteration`` and
``best_score`` like a locally early-stopped one. Cost: the rounds after the stop are trained and
thrown away.

Numbers: data-parallel LightGBM builds each feature's histogram bins on one worker's rows, and
which rows a worker holds (and its rank in LightGBM's network) is the Dask scheduler's choice. So
a cluster booster is close to, not identical with, the local one, and two cluster fits of the same
rows can differ a little too (tests/engine states the tolerance, docs/scaling.md the numbers);
``engine=local`` stays bit-for-bit reproducible.
"""

from __future__ import annotations

import math
import warnings
from itertools import pairwise
from typing import Any

import lightgbm as lgb
import numpy as np

from core.errors import ConfigValueError
from core.logs import get_logger
from models import metrics

log = get_logger(__name__)

#: The validation set's name in ``best_score`` (as ``fit_booster`` names it locally).
VALIDATION = "validation"
#: LightGBM's names for the thread count (set per worker by ``lightgbm.dask``).
_THREAD_ALIASES = {"num_threads", "num_thread", "nthread", "nthreads", "n_jobs"}


def _first_metric(params: dict[str, Any]) -> str:
    metric = params.get("metric")
    if isinstance(metric, (list, tuple)):
        metric = metric[0] if metric else None
    if not metric:
        raise ConfigValueError(
            f"early stopping on the cluster needs params['metric'], got {params.get('metric')!r}"
        )
    return str(metric)


def _metric_by_lightgbm_name(name: str) -> metrics.Metric:
    for m in metrics.METRICS.values():
        if m.lightgbm == name:
            return m
    raise ConfigValueError(
        f"LightGBM metric {name!r} cannot be evaluated for early stopping on the cluster",
        hint=f"use one of {metrics.booster_metrics()}",
    )


def validation_curve(booster: lgb.Booster, X: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    """The validation ``metric`` (a LightGBM name) after each round 1..n of ``booster``."""
    m = _metric_by_lightgbm_name(metric)
    raw = np.zeros(X.shape[0], dtype=np.float64)
    out = np.empty(booster.current_iteration(), dtype=np.float64)
    for i in range(out.size):
        raw += np.asarray(
            booster.predict(X, raw_score=True, start_iteration=i, num_iteration=1), dtype=np.float64
        )
        out[i] = m(y, raw) if m.ranking else m(y, 1.0 / (1.0 + np.exp(-raw)))
    return out


def early_stop(curve: np.ndarray, rounds: int, higher_is_better: bool) -> int:
    """The round (1-based) ``lgb.early_stopping(rounds, first_metric_only=True)`` keeps for this
    validation curve: the first best value seen before ``rounds`` rounds pass without a strict
    improvement (NaN never improves)."""
    best_i, best = 0, -math.inf if higher_is_better else math.inf
    for i, v in enumerate(curve):
        if not math.isnan(v) and (v > best if higher_is_better else v < best):
            best_i, best = i, float(v)
        elif i - best_i >= rounds:
            break
    return best_i + 1


def _placed(client: Any, X: np.ndarray, y: np.ndarray, n_parts: int) -> tuple[Any, Any]:
    """(X, y) as Dask arrays of ``n_parts`` contiguous row chunks, chunk i (of X and y alike)
    scattered to worker i mod W: every worker gets rows to train on."""
    import dask
    import dask.array as da

    workers = sorted(client.scheduler_info()["workers"])
    bounds = np.linspace(0, X.shape[0], max(1, min(n_parts, X.shape[0])) + 1).astype(int)
    xs, ys = [], []
    for i, (lo, hi) in enumerate(pairwise(bounds)):
        where = [workers[i % len(workers)]]
        # hash=False: fits of the same rows (refits, backtest) must not share keys, or one
        # fit releasing its chunks would take them from the next one.
        fx, fy = client.scatter([X[lo:hi], y[lo:hi]], workers=where, hash=False)
        xs.append(da.from_delayed(dask.delayed(fx), shape=(hi - lo, X.shape[1]), dtype=X.dtype))
        ys.append(da.from_delayed(dask.delayed(fy), shape=(hi - lo,), dtype=y.dtype))
    return da.concatenate(xs, axis=0), da.concatenate(ys, axis=0)


def fit_on_cluster(
    client: Any,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    *,
    feature_name: list[str],
    categorical_feature: list[str],
    num_boost_round: int,
    n_parts: int,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    early_stopping_rounds: int = 0,
) -> lgb.Booster:
    """A booster trained data-parallel on the cluster behind ``client``.

    ``params`` are the full LightGBM params (``models.train.lgb_params`` + imbalance weight);
    ``X`` / ``y`` the encoded training rows. With ``valid`` and ``early_stopping_rounds > 0``
    the booster is cut to the early-stopping round (module docstring); without, it has
    ``num_boost_round`` trees and ``best_iteration = 0`` like ``lgb.train`` without a callback.
    """
    from lightgbm import DaskLGBMClassifier

    dX, dy = _placed(client, X, y, n_parts)
    # LightGBM sizes each worker's threads to its Dask threads: the configured count is moot.
    own = {k: v for k, v in params.items() if k not in _THREAD_ALIASES}
    estimator = DaskLGBMClassifier(client=client, n_estimators=int(num_boost_round), **own)
    with warnings.catch_warnings():  # the scikit-learn wrapper always passes n_jobs
        warnings.filterwarnings("ignore", "Parameter .* will be ignored", UserWarning)
        estimator.fit(
            dX, dy, feature_name=list(feature_name), categorical_feature=categorical_feature
        )
    booster: lgb.Booster = estimator.to_local().booster_
    if valid is None:
        return booster
    metric = _first_metric(params)
    curve = validation_curve(booster, valid[0], valid[1], metric)
    if early_stopping_rounds <= 0:
        booster.best_score = {VALIDATION: {metric: float(curve[-1])}}
        return booster
    best = early_stop(
        curve, early_stopping_rounds, _metric_by_lightgbm_name(metric).higher_is_better
    )
    cut = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    cut.best_iteration = best
    cut.best_score = {VALIDATION: {metric: float(curve[best - 1])}}
    log.info(
        "cluster booster: %d rounds trained, early stopping on validation %s keeps %d",
        curve.size,
        metric,
        best,
    )
    return cut
