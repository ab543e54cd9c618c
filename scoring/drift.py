"""Feature drift: Population Stability Index (PSI) of scoring features against training.

Why PSI: it is the number risk teams already read ("< 0.1 stable, 0.1-0.2 moderate, > 0.2 act"),
it needs only a few numbers per feature saved at training time (bin edges and proportions), and
it treats a feature that suddenly goes missing as drift (nulls get their own bin).

Binning contract (shared by training and scoring so a frame compared with itself has PSI 0):
``edges`` are the unique ``bins``-quantiles (0, 1/bins, ..., 1) of the non-null training values;
the inner edges ``edges[1:-1]`` split the real line into ``len(edges) - 1`` bins, a value ``v``
goes to bin ``#(inner edges <= v)`` (values below/above the training range fall in the first/last
bin); nulls and NaN go to one extra, last bin. ``proportions`` has one entry per bin plus the null
bin and sums to 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from core.logs import get_logger

log = get_logger(__name__)

#: Key of ``RoutedModel.metadata`` holding ``{feature: {"edges": [...], "proportions": [...]}}``.
TRAINING_STATS_KEY = "feature_distributions"
#: Floor for empty bins so the log ratio stays finite (a standard choice for PSI).
EPS = 1e-4


def _values(values: pl.Series | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(values, pl.Series):
        return values.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    return np.asarray(values, dtype=np.float64)


def bin_proportions(
    values: pl.Series | np.ndarray | Sequence[float], edges: Sequence[float]
) -> np.ndarray:
    """Share of ``values`` in each bin of ``edges`` (module contract), null bin last."""
    x = _values(values)
    inner = np.asarray(edges, dtype=np.float64)[1:-1]
    n_bins = max(len(edges) - 1, 1)
    missing = np.isnan(x)
    idx = np.searchsorted(inner, x[~missing], side="right")
    counts = np.bincount(idx, minlength=n_bins).astype(np.float64)
    counts = np.append(counts, float(missing.sum()))
    total = counts.sum()
    return counts / total if total else counts


def feature_distribution(
    values: pl.Series | np.ndarray | Sequence[float], bins: int = 10
) -> dict[str, list[float]]:
    """Training-time summary of one feature: quantile ``edges`` and bin ``proportions``."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    x = _values(values)
    finite = x[~np.isnan(x)]
    if finite.size == 0:
        edges = [0.0, 0.0]
    else:
        edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1))).tolist()
        if len(edges) == 1:
            edges = edges * 2
    return {"edges": [float(e) for e in edges], "proportions": bin_proportions(x, edges).tolist()}


def training_distributions(
    frame: pl.DataFrame, features: Sequence[str], bins: int = 10
) -> dict[str, dict[str, Any]]:
    """``feature_distribution`` of every feature of the training frame (for model metadata).

    With a ``cutoff`` column, each entry also holds ``trend_psi``: the PSI between the rows of
    the first and of the last training cutoff on the same bins. Why: features that grow with
    time by construction (tenure, lifetime counts) drift between any two dates; a feature that
    already drifted that much *within* training is expected to have moved again at scoring
    time, so ``feature_psi`` reports it without raising a warning that would drown the others.
    """
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ValueError(f"training frame lacks feature columns {missing[:5]}")
    out: dict[str, dict[str, Any]] = {
        f: feature_distribution(frame.get_column(f), bins) for f in features
    }
    if "cutoff" in frame.columns and frame.get_column("cutoff").n_unique() > 1:
        first = frame.filter(pl.col("cutoff") == pl.col("cutoff").min())
        last = frame.filter(pl.col("cutoff") == pl.col("cutoff").max())
        for f, s in out.items():
            s["trend_psi"] = psi(
                bin_proportions(first.get_column(f), s["edges"]),
                bin_proportions(last.get_column(f), s["edges"]),
            )
    return out


def psi(
    expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray, eps: float = EPS
) -> float:
    """PSI = sum((a - e) * ln(a / e)) over bins, shares floored at ``eps``. 0 = identical."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), eps)
    a = np.maximum(np.asarray(actual, dtype=np.float64), eps)
    if e.shape != a.shape:
        raise ValueError(f"psi: expected {e.shape[0]} bins, got {a.shape[0]}")
    return float(np.sum((a - e) * np.log(a / e)))


def feature_psi(
    frame: pl.DataFrame, stats: Mapping[str, Mapping[str, Any]], warn: float = 0.2
) -> pl.DataFrame:
    """PSI of every feature in ``stats`` between training and ``frame`` (the WHOLE scoring frame).

    Returns ``feature, psi, grows_with_time, drifted``, most drifted first: ``grows_with_time``
    when the feature already drifted past ``warn`` between the first and the last training cutoff
    (``trend_psi``, see ``training_distributions``), and ``drifted`` when ``psi > warn`` for any
    other feature. A feature with training stats but no column in ``frame`` is an error naming it
    (the model could not score it either).
    """
    rows: list[dict[str, Any]] = []
    for feature, s in stats.items():
        if feature not in frame.columns:
            raise ValueError(f"drift: scoring frame lacks feature {feature!r} seen in training")
        if "edges" not in s or "proportions" not in s:
            raise ValueError(
                f"drift: training stats of {feature!r} need 'edges' and "
                f"'proportions', got keys {sorted(s)}"
            )
        actual = bin_proportions(frame.get_column(feature), s["edges"])
        expected = list(s["proportions"])
        if len(expected) == len(actual) - 1:  # stats saved without a null bin
            expected = [*expected, 0.0]
        rows.append(
            {
                "feature": feature,
                "psi": psi(expected, actual),
                "grows_with_time": float(s.get("trend_psi") or 0.0) > warn,
            }
        )
    out = pl.DataFrame(
        rows, schema={"feature": pl.String, "psi": pl.Float64, "grows_with_time": pl.Boolean}
    )
    return out.with_columns(
        ((pl.col("psi") > warn) & ~pl.col("grows_with_time")).alias("drifted")
    ).sort(["psi", "feature"], descending=[True, False])


def log_drift(drift: pl.DataFrame, psi_warn: float) -> None:
    """One info line for features that moved as they did within training, one warning per
    feature that really drifted (``feature_psi``'s ``drifted``)."""
    trending = drift.filter(pl.col("grows_with_time") & (pl.col("psi") > psi_warn))
    if trending.height:
        log.info(
            "drift: %d features moved as they did within training (they grow with time): %s",
            trending.height,
            ", ".join(trending["feature"].to_list()[:8]),
        )
    for f, v in drift.filter(pl.col("drifted")).select("feature", "psi").iter_rows():
        log.warning(
            "drift: feature %s has PSI %.3f > score.psi_warn=%s against training", f, v, psi_warn
        )
