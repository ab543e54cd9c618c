"""Exact TreeSHAP drivers of the serving segment model, in raw (log-odds) units.

Why several backends: LightGBM's own ``pred_contrib`` is the reference (and what
``shap.TreeExplainer`` calls for LightGBM), but it is the bottleneck of scoring; ``woodelf``
(``woodelf-explainer``) computes the same path-dependent TreeSHAP values several times faster.
All backends return ``contrib[n, n_features]`` and ``base[n]`` with
``contrib.sum(1) + base == booster raw score`` (to ~1e-5: woodelf works in float32); the base
value is always taken from ``pred_contrib`` (the tree-path-dependent expected value), which is
one constant per booster.

Rows are routed exactly as ``RoutedModel.predict_raw`` routes them, explained in chunks of
``chunk_rows`` (bounded memory), optionally on ``n_jobs`` threads. A row's explanation depends on
that row and the booster only, so chunking never changes a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import polars as pl

from core.config import Explainer
from core.errors import ConfigValueError
from core.logs import get_logger
from core.progress import progress
from models.router import RoutedModel

log = get_logger(__name__)

#: ``score.explainer``: the schema's enum is the one list of backends.
BACKENDS = tuple(Explainer)


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigValueError(
            f"score.explainer={backend!r} is not a known explainer",
            hint=f"choose from {list(BACKENDS)}",
        )


def base_value(booster: lgb.Booster, n_features: int) -> float:
    """The booster's TreeSHAP base value (expected raw score over the training cover)."""
    probe = np.full((1, n_features), np.nan)
    return float(np.asarray(booster.predict(probe, pred_contrib=True))[0, n_features])


def has_categorical_splits(booster: lgb.Booster) -> bool:
    """True when any tree splits on a categorical set (woodelf only parses numeric splits)."""
    trees = booster.trees_to_dataframe()
    return bool((trees["decision_type"] == "==").any())


def booster_contributions(
    booster: lgb.Booster, X: np.ndarray, backend: str = "pred_contrib"
) -> tuple[np.ndarray, np.ndarray]:
    """TreeSHAP of ``booster`` on float64 matrix ``X``: ``(contrib[n, f], base[n])``."""
    _check_backend(backend)
    n, f = X.shape
    if n == 0:
        return np.empty((0, f)), np.empty(0)
    if backend == "pred_contrib":
        c = np.asarray(booster.predict(X, pred_contrib=True))
        return np.ascontiguousarray(c[:, :f]), c[:, f].copy()
    base = np.full(n, base_value(booster, f))
    if backend == "woodelf":  # our converter: categorical splits and LightGBM's missing values
        from scoring import woodelf_lgb

        return woodelf_lgb.contributions(booster, X), base
    import warnings

    import shap

    with warnings.catch_warnings():  # "output has changed to a list" notice for binary LightGBM
        warnings.simplefilter("ignore", UserWarning)
        values = shap.TreeExplainer(
            booster, feature_perturbation="tree_path_dependent"
        ).shap_values(X)
    values = values[1] if isinstance(values, list) else values
    return np.asarray(values, dtype=np.float64), base


def _chunks(n: int, chunk_rows: int) -> list[slice]:
    if chunk_rows < 1:
        raise ConfigValueError(f"score.chunk_rows must be >= 1, got {chunk_rows}")
    return [slice(s, min(s + chunk_rows, n)) for s in range(0, n, chunk_rows)]


def explain(
    model: RoutedModel,
    frame: pl.DataFrame,
    backend: str = "pred_contrib",
    chunk_rows: int = 200_000,
    n_jobs: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact TreeSHAP of each row's serving model: ``(contrib[n, n_features], base[n])``.

    ``contrib`` columns follow ``model.feature_names``; ``contrib.sum(1) + base`` equals
    ``model.predict_raw(frame)``. ``woodelf`` goes through ``scoring.woodelf_lgb`` (categorical
    splits and missing values included); a booster it cannot reproduce exactly (linear trees,
    multiclass), or one with categorical splits under ``shap``, is explained with
    ``pred_contrib`` instead (logged), so the values stay exact.
    """
    _check_backend(backend)
    n, f = frame.height, len(model.feature_names)
    contrib = np.empty((n, f), dtype=np.float64)
    base = np.empty(n, dtype=np.float64)
    keys = model.route(frame)
    jobs = []
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        booster = model.models[key].booster
        use = backend
        if not isinstance(booster, lgb.Booster):  # a served baseline: its own exact SHAP
            use = "pred_contrib"
        elif backend == "woodelf":
            from scoring.woodelf_lgb import unsupported_reason

            reason = unsupported_reason(booster)
            if reason is not None:
                log.info("model %s: %s: explained with pred_contrib", key, reason)
                use = "pred_contrib"
        elif backend == "shap" and has_categorical_splits(booster):
            log.info("model %s has categorical splits: explained with pred_contrib", key)
            use = "pred_contrib"
        for part in _chunks(idx.size, chunk_rows):
            jobs.append((booster, idx[part], use))

    def run(job: tuple[lgb.Booster, np.ndarray, str]) -> None:
        booster, rows, use = job
        X = model.to_matrix(frame[rows])
        contrib[rows], base[rows] = booster_contributions(booster, X, use)

    desc = f"explain {n:,} rows (TreeSHAP, chunks)"
    if n_jobs > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            for _ in progress(pool.map(run, jobs), desc, total=len(jobs), logger=log):
                pass
    else:
        for job in progress(jobs, desc, logger=log):
            run(job)
    return contrib, base


def family_contributions(
    contrib: np.ndarray, feature_names: Sequence[str], families: Mapping[str, str]
) -> tuple[list[str], np.ndarray]:
    """Contributions summed per indicator family: ``(family names, sums[n, n_families])``.

    ``families`` maps feature -> family (catalogue); features without one count as ``other``.
    Family sums keep additivity: ``sums.sum(1) == contrib.sum(1)``.
    """
    fam_of = [str(families.get(f, "other")) for f in feature_names]
    names = sorted(set(fam_of))
    member = np.zeros((len(feature_names), len(names)))
    member[np.arange(len(feature_names)), [names.index(x) for x in fam_of]] = 1.0
    return names, contrib @ member


# -- drivers ---------------------------------------------------------------------------------
def top_contributions(contrib: np.ndarray, k_risk: int, k_protective: int) -> pl.DataFrame:
    """Long ``_row, _f, contribution, rank, direction`` of each row's top ``k_risk`` positive and
    top ``k_protective`` negative contributions (ties: feature order). Zero never counts."""
    frames = []
    n, f = contrib.shape
    for direction, k, sign in (("risk", k_risk, 1.0), ("protective", k_protective, -1.0)):
        k = min(k, f)
        if k <= 0 or n == 0:
            continue
        order = np.argsort(-sign * contrib, axis=1, kind="stable")[:, :k]
        values = np.take_along_axis(contrib, order, axis=1)
        frames.append(
            pl.DataFrame(
                {
                    "_row": np.repeat(np.arange(n), k),
                    "_f": order.ravel(),
                    "contribution": values.ravel(),
                    "rank": np.tile(np.arange(1, k + 1), n),
                    "direction": np.full(n * k, direction),
                }
            ).filter(pl.col("contribution") * sign > 0)
        )
    if not frames:
        return pl.DataFrame(
            schema={
                "_row": pl.Int64,
                "_f": pl.Int64,
                "contribution": pl.Float64,
                "rank": pl.Int64,
                "direction": pl.String,
            }
        )
    return pl.concat(frames).with_columns(pl.col("_row", "_f", "rank").cast(pl.Int64))
