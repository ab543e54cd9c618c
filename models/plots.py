"""Training plots (plain matplotlib ``Figure`` objects: no pyplot state, no GUI backend needed).

Every function takes arrays/frames and returns a ``matplotlib.figure.Figure``; the pipeline logs
them to MLflow. Curves are on test rows: ROC and PR (model vs baselines), the calibration curve
(``sklearn.calibration.calibration_curve``, quantile bins), cumulative gains/lift, global SHAP
importance (mean |TreeSHAP contribution| in raw log-odds units, via ``RoutedModel.contributions``)
overall and per segment, and the backtest metrics over origins.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from models.router import RoutedModel

TOP_FEATURES = 20


def _both_classes(y: np.ndarray) -> bool:
    return 0 < y.sum() < y.size


def roc_figure(y: np.ndarray, scores: dict[str, np.ndarray]) -> Figure:
    """ROC curves of each named score (first = the model) with the chance diagonal."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    if _both_classes(y):
        for name, s in scores.items():
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    ax.legend(loc="lower right")
    return fig


def pr_figure(y: np.ndarray, scores: dict[str, np.ndarray]) -> Figure:
    """Precision-recall curves of each named score with the base rate as reference."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    if _both_classes(y):
        for name, s in scores.items():
            precision, recall, _ = precision_recall_curve(y, s)
            ax.plot(recall, precision, label=name)
        ax.axhline(float(y.mean()), ls="--", c="grey", lw=0.8, label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)", ylim=(0, 1.02))
    ax.legend(loc="upper right")
    return fig


def calibration_figure(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> Figure:
    """Reliability diagram: mean predicted vs observed decay rate per quantile bin."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    if y.size:
        observed, predicted = calibration_curve(
            y, np.clip(proba, 0, 1), n_bins=bins, strategy="quantile"
        )
        ax.plot(predicted, observed, marker="o", label="model")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8, label="perfect")
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed decay rate",
        title="Calibration (test)",
    )
    ax.legend(loc="upper left")
    return fig


def gains(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(share of accounts contacted, share of positives reached), riskiest first (stable ties)."""
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    hits = np.cumsum(np.asarray(y, dtype=np.float64)[order])
    n = np.arange(1, y.size + 1) / max(y.size, 1)
    return n, hits / max(hits[-1] if hits.size else 0.0, 1.0)


def lift_figure(y: np.ndarray, scores: dict[str, np.ndarray]) -> Figure:
    """Cumulative gains (left) and lift (right) of each named score."""
    fig = Figure(figsize=(10, 4.5))
    ax_g, ax_l = fig.subplots(1, 2)
    for name, s in scores.items():
        x, g = gains(y, s)
        ax_g.plot(x, g, label=name)
        ax_l.plot(x, np.divide(g, x, out=np.zeros_like(g), where=x > 0), label=name)
    ax_g.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax_g.set(
        xlabel="share of accounts contacted",
        ylabel="share of decays reached",
        title="Cumulative gains (test)",
    )
    ax_l.axhline(1.0, ls="--", c="grey", lw=0.8)
    ax_l.set(xlabel="share of accounts contacted", ylabel="lift", title="Lift (test)")
    ax_g.legend(loc="lower right")
    return fig


def shap_importance(contrib: np.ndarray, names: list[str]) -> pl.DataFrame:
    """``feature, mean_abs_contribution`` (raw log-odds units), largest first."""
    return pl.DataFrame(
        {
            "feature": names,
            "mean_abs_contribution": np.abs(contrib).mean(axis=0)
            if contrib.shape[0]
            else np.zeros(len(names)),
        }
    ).sort(["mean_abs_contribution", "feature"], descending=[True, False])


def importance_figure(importance: pl.DataFrame, title: str, top: int = TOP_FEATURES) -> Figure:
    """Horizontal bars of the ``top`` features of a ``shap_importance`` table."""
    head = importance.head(top).reverse()
    fig = Figure(figsize=(7, 0.3 * max(head.height, 4) + 1))
    ax = fig.add_subplot()
    ax.barh(
        head.get_column("feature").to_list(), head.get_column("mean_abs_contribution").to_numpy()
    )
    ax.set(xlabel="mean |SHAP contribution| (log-odds)", title=title)
    fig.tight_layout()
    return fig


def backtest_figure(entries: list[dict[str, Any]]) -> Figure:
    """ROC-AUC and PR-AUC per backtest origin (oldest first) with the test base rate."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    x = [str(e["origin"]) for e in entries]
    for m in ("roc_auc", "pr_auc", "base_rate"):
        ax.plot(x, [e.get(m, np.nan) for e in entries], marker="o", label=m)
    ax.set(
        xlabel="first test cutoff of origin",
        ylabel="test metric",
        ylim=(0, 1.02),
        title="Backtest over rolling origins",
    )
    ax.legend(loc="lower left")
    return fig


def training_figures(
    test_scores: pl.DataFrame,
    baseline_scores: dict[str, np.ndarray],
    model: RoutedModel,
    test_frame: pl.DataFrame,
    backtest: list[dict[str, Any]],
    seed: int = 0,
    max_rows: int = 3000,
) -> dict[str, Figure]:
    """All figures of a training run, by name (``roc``, ``pr``, ``calibration``, ``lift``,
    ``shap_importance``, ``shap_importance_<segment>``, ``backtest``).

    SHAP importance uses a seeded sample of at most ``max_rows`` test rows (TreeSHAP cost).
    """
    y = test_scores.get_column("label").cast(pl.Float64).to_numpy()
    p = test_scores.get_column("score").to_numpy()
    scores = {"lightgbm": p, **baseline_scores}
    figs: dict[str, Figure] = {
        "roc": roc_figure(y, scores),
        "pr": pr_figure(y, scores),
        "calibration": calibration_figure(y, p),
        "lift": lift_figure(y, scores),
    }
    sample = (
        test_frame.sample(n=max_rows, seed=seed) if test_frame.height > max_rows else test_frame
    )
    contrib, _ = model.contributions(sample)
    names = model.feature_names
    figs["shap_importance"] = importance_figure(
        shap_importance(contrib, names), "Global feature importance (test)"
    )
    key = model.segment_key
    if key is not None and key in sample.columns:
        seg = sample.get_column(key).cast(pl.String).fill_null("__null__").to_numpy()
        for value in sorted(set(seg.tolist())):
            mask = seg == value
            figs[f"shap_importance_{value}"] = importance_figure(
                shap_importance(contrib[mask], names), f"Feature importance: {key}={value}"
            )
    if backtest:
        figs["backtest"] = backtest_figure(backtest)
    return figs
