"""Rolling-origin backtest: is the model's quality stable over time or drifting?

The same training (strategy, params, calibration) is repeated at ``backtest.origins`` origins;
origin ``k`` moves the test period back by ``k * backtest.step_cutoffs`` labelled cutoffs and
trains only on labels observable before its own test period (``models.split.time_split`` with
``origin=k``, embargo included). Origin 0 is the main training split: its metrics are reused, not
recomputed. Entries are ordered oldest first, so "step i" in MLflow moves forward in time.

``stability`` summarises ROC-AUC over origins: mean, (population) std, min, max and the trend
(least-squares slope per origin step, i.e. change in ROC-AUC per ``step_cutoffs`` cutoffs; > 0 =
improving over time). With fewer than two origins std and trend are NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
from omegaconf import DictConfig

from core.logs import get_logger
from core.progress import progress
from models import metrics
from models.router import RoutedModel
from models.split import TimeSplit, rolling_origins

log = get_logger(__name__)

#: Test metrics kept per origin.
ORIGIN_METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "lift_at_top",
    "recall_at_capacity",
    "base_rate",
    "n",
    "positives",
)


def origin_entry(split: TimeSplit, test_metrics: dict[str, Any]) -> dict[str, Any]:
    """One backtest row: origin index, its periods (ISO cutoffs) and its overall test metrics."""
    d = split.describe()
    entry: dict[str, Any] = {
        "origin": d["test"][0],
        "origin_index": split.origin,
        "train": d["train"],
        "validation": d["validation"],
        "test": d["test"],
    }
    entry.update({m: test_metrics[m] for m in ORIGIN_METRICS if m in test_metrics})
    return entry


def run_backtest(
    dataset: pl.DataFrame,
    cfg: DictConfig,
    fit: Callable[[TimeSplit], RoutedModel],
    main: tuple[TimeSplit, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Per-origin test metrics, oldest origin first.

    ``fit(split) -> RoutedModel`` trains on a split (``models.train.fit_routed``); ``main`` is the
    already trained origin 0 (its split and test metrics) so it is not trained twice.
    """
    splits = rolling_origins(dataset, cfg)
    out: list[dict[str, Any]] = []
    for split in progress(splits, desc="backtest origins", logger=log):
        if split.origin == 0 and main is not None:
            out.append(origin_entry(main[0], main[1]))
            continue
        model = fit(split)
        test = split.test
        scores = test.select("cutoff", "label").with_columns(
            pl.Series("score", model.predict_proba(test), dtype=pl.Float64)
        )
        out.append(origin_entry(split, metrics.evaluate(scores, cfg)))
        log.info(
            "backtest origin %s: roc_auc %.4f pr_auc %.4f",
            out[-1]["origin"],
            out[-1]["roc_auc"],
            out[-1]["pr_auc"],
        )
    return out


def stability(entries: list[dict[str, Any]], metric: str = "roc_auc") -> dict[str, Any]:
    """Mean/std/min/max/trend of ``metric`` over the backtest entries (module docstring)."""
    v = np.array([e.get(metric, np.nan) for e in entries], dtype=np.float64)
    v = v[np.isfinite(v)]
    nan = float("nan")
    if v.size == 0:
        return {
            "metric": metric,
            "origins": 0,
            "mean": nan,
            "std": nan,
            "min": nan,
            "max": nan,
            "trend": nan,
        }
    trend = float(np.polyfit(np.arange(v.size, dtype=np.float64), v, 1)[0]) if v.size > 1 else nan
    return {
        "metric": metric,
        "origins": int(v.size),
        "mean": float(v.mean()),
        "std": float(v.std()) if v.size > 1 else nan,
        "min": float(v.min()),
        "max": float(v.max()),
        "trend": trend,
    }
