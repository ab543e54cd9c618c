"""Test metrics of decay scores, overall and per segment, and against the simulator's oracle.

Definitions (all on rows with an observed 0/1 label):

- ``roc_auc``, ``pr_auc`` (average precision), ``brier``, ``log_loss``: scikit-learn, through the
  one table ``METRICS`` (name -> function, whether higher is better, LightGBM's name for it) that
  training, tuning, the baseline gate and the registry's promotion gate all use. A ranking metric
  needs both classes, else it is NaN (JSON null). ``brier``/``log_loss`` need probabilities and
  are left out for rank-only scores (the heuristic baseline); the log loss clips them to
  ``[EPS, 1 - EPS]``, here and nowhere else.
- ``lift_at_top``: positive rate among the top ``ceil(top_fraction * n)`` scores over the base
  rate (ties broken by row order: the sort is stable).
- ``recall_at_capacity``: a CS team contacts the ``capacity`` riskiest accounts at *each* cutoff;
  the share of all positives it reaches (ties broken by row order within a cutoff).
- ``base_rate``, ``n``, ``positives``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from omegaconf import DictConfig
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

#: Probabilities are clipped to [EPS, 1 - EPS] for the log loss (isotonic maps reach 0 and 1).
EPS = 1e-6


@dataclass(frozen=True)
class Metric:
    """One metric of 0/1 labels ``y`` and scores ``s`` (both float arrays, already checked).

    ``ranking``: needs both classes (NaN otherwise); else it needs probabilities in [0, 1].
    ``lightgbm``: LightGBM's name for the same metric (None: LightGBM cannot early-stop on it).
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool
    ranking: bool
    lightgbm: str | None

    def __call__(self, y: np.ndarray, s: np.ndarray) -> float:
        if y.size == 0 or (self.ranking and not 0 < y.sum() < y.size):
            return float("nan")
        return float(self.fn(y, s))

    def better(self, new: float, old: float) -> bool:
        """``new`` strictly better than ``old`` (False when either is NaN: a tie or no
        evidence keeps what is there)."""
        if math.isnan(new) or math.isnan(old):
            return False
        return new > old if self.higher_is_better else new < old

    def best(self, values: dict[str, float]) -> str:
        """The key of the best finite value (ties: the first key in sorted order)."""
        finite = sorted(k for k, v in values.items() if math.isfinite(v))
        pick = max if self.higher_is_better else min
        return pick(finite, key=lambda k: values[k])


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(log_loss(y, np.clip(p, EPS, 1 - EPS), labels=[0, 1]))


#: The one metric table. Its names are ``core.config.Metric`` (``model.gate_metric``); those with
#: a LightGBM name are ``core.config.BoosterMetric`` (``model.promotion_metric``,
#: ``tune.objective``): tests/models/test_metrics.py keeps the enums and this table equal.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", roc_auc_score, True, ranking=True, lightgbm="auc"),
        Metric("pr_auc", average_precision_score, True, ranking=True, lightgbm="average_precision"),
        Metric("brier", brier_score_loss, False, ranking=False, lightgbm=None),
        Metric("log_loss", _log_loss, False, ranking=False, lightgbm="binary_logloss"),
    )
}


def booster_metric(name: str) -> tuple[str, bool]:
    """(LightGBM metric, higher is better) of a metric LightGBM evaluates itself."""
    metric = METRICS[name]
    if metric.lightgbm is None:
        raise ValueError(f"LightGBM has no metric {name!r}: choose one of {booster_metrics()}")
    return metric.lightgbm, metric.higher_is_better


def booster_metrics() -> list[str]:
    """Names of the metrics LightGBM can early-stop on (``core.config.BoosterMetric``)."""
    return [name for name, m in METRICS.items() if m.lightgbm is not None]


def _arrays(label: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(label, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(
            f"label and score must be 1-d of the same length, got {y.shape} and {s.shape}"
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"label must be 0/1, got values {np.unique(y)[:5].tolist()}")
    if np.isnan(s).any():
        raise ValueError(f"score contains {int(np.isnan(s).sum())} NaN values")
    return y, s


def lift_at_top(label: Any, score: Any, fraction: float) -> float:
    """Positive rate in the top ``ceil(fraction * n)`` scores divided by the base rate."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"eval.top_fraction must be in (0, 1], got {fraction}")
    y, s = _arrays(label, score)
    if y.size == 0 or y.sum() == 0:
        return float("nan")
    k = max(1, math.ceil(fraction * y.size - 1e-9))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def recall_at_capacity(label: Any, score: Any, cutoff: Any, capacity: int) -> float:
    """Share of positives among the ``capacity`` highest scores of each cutoff."""
    if capacity < 1:
        raise ValueError(f"eval.capacity must be >= 1, got {capacity}")
    y, s = _arrays(label, score)
    if y.sum() == 0:
        return float("nan")
    frame = pl.DataFrame({"cutoff": cutoff, "y": y, "s": s})
    reached = (
        frame.with_columns(
            pl.col("s").rank("ordinal", descending=True).over("cutoff").alias("rank")
        )
        .filter(pl.col("rank") <= capacity)
        .get_column("y")
        .sum()
    )
    return float(reached / y.sum())


def binary_metrics(
    label: Any,
    score: Any,
    cutoff: Any | None = None,
    top_fraction: float = 0.1,
    capacity: int = 50,
    probabilistic: bool = True,
) -> dict[str, float | int]:
    """All metrics of the module docstring for one set of rows (``cutoff`` for the capacity)."""
    y, s = _arrays(label, score)
    n = int(y.size)
    pos = int(y.sum())
    out: dict[str, float | int] = {
        "n": n,
        "positives": pos,
        "base_rate": float(pos / n) if n else float("nan"),
    }
    if probabilistic and n and ((s < 0) | (s > 1)).any():
        raise ValueError("probabilistic metrics need scores in [0, 1]")
    for name, metric in METRICS.items():
        if metric.ranking or probabilistic:
            out[name] = metric(y, s)
    out["lift_at_top"] = lift_at_top(y, s, top_fraction) if n else float("nan")
    out["recall_at_capacity"] = (
        recall_at_capacity(y, s, cutoff, capacity) if n and cutoff is not None else float("nan")
    )
    return out


def evaluate(
    scores: pl.DataFrame,
    cfg: DictConfig,
    score_col: str = "score",
    segment_key: str | None = None,
    probabilistic: bool = True,
) -> dict[str, Any]:
    """Overall metrics at the top level plus ``per_segment`` (when ``segment_key`` is a column).

    ``scores`` holds ``cutoff``, ``label`` and ``score_col`` (and the segment column).
    """
    kw = {
        "top_fraction": cfg.eval.top_fraction,
        "capacity": cfg.eval.capacity,
        "probabilistic": probabilistic,
    }

    def one(frame: pl.DataFrame) -> dict[str, Any]:
        return binary_metrics(
            frame.get_column("label").to_numpy(),
            frame.get_column(score_col).to_numpy(),
            frame.get_column("cutoff"),
            **kw,
        )

    out: dict[str, Any] = one(scores)
    if segment_key is not None and segment_key in scores.columns:
        out["per_segment"] = {
            str(seg): one(part)
            for (seg,), part in scores.with_columns(pl.col(segment_key).fill_null("__null__"))
            .sort(segment_key)
            .group_by(segment_key, maintain_order=True)
        }
    return out


def oracle_metrics(
    scores: pl.DataFrame, truth: pl.DataFrame, score_col: str = "score"
) -> dict[str, Any]:
    """Oracle ROC/PR-AUC on the test rows that have a truth row, and model/oracle ratios.

    ``truth`` is the simulator's table (``account_id``, ``cutoff``, ``oracle_prob``). The model's
    AUCs in the ratios are recomputed on exactly the same joined rows.
    """
    missing = [c for c in ("account_id", "cutoff", "oracle_prob") if c not in truth.columns]
    if missing:
        raise ValueError(f"truth table lacks columns {missing}")
    joined = scores.join(
        truth.select("account_id", "cutoff", "oracle_prob"),
        on=["account_id", "cutoff"],
        how="inner",
    ).drop_nulls("oracle_prob")
    y = joined.get_column("label").to_numpy().astype(np.float64)
    out: dict[str, Any] = {"oracle_rows": joined.height}
    if not 0 < y.sum() < y.size:
        out.update(
            oracle_roc_auc=float("nan"),
            oracle_pr_auc=float("nan"),
            auc_ratio_to_oracle=float("nan"),
            pr_auc_ratio_to_oracle=float("nan"),
        )
        return out
    o = joined.get_column("oracle_prob").to_numpy()
    s = joined.get_column(score_col).to_numpy()
    roc, pr = METRICS["roc_auc"], METRICS["pr_auc"]
    o_roc, o_pr = roc(y, o), pr(y, o)
    out.update(
        oracle_roc_auc=o_roc,
        oracle_pr_auc=o_pr,
        auc_ratio_to_oracle=roc(y, s) / o_roc,
        pr_auc_ratio_to_oracle=pr(y, s) / o_pr,
    )
    return out
