"""Test metrics of decay scores, overall and per segment, and against the simulator's oracle.

Definitions (all on rows with an observed 0/1 label):

- ``roc_auc``, ``pr_auc`` (average precision), ``brier``, ``log_loss``: scikit-learn; a ranking
  metric needs both classes, else it is NaN (JSON null). ``brier``/``log_loss`` need
  probabilities and are left out for rank-only scores (the heuristic baseline).
- ``lift_at_top``: positive rate among the top ``ceil(top_fraction * n)`` scores over the base
  rate (ties broken by row order: the sort is stable).
- ``recall_at_capacity``: a CS team contacts the ``capacity`` riskiest accounts at *each* cutoff;
  the share of all positives it reaches (ties broken by row order within a cutoff).
- ``base_rate``, ``n``, ``positives``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

#: Probabilities are clipped to [EPS, 1 - EPS] for the log loss (isotonic maps reach 0 and 1).
EPS = 1e-6


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
    both = 0 < pos < n
    out: dict[str, float | int] = {
        "n": n,
        "positives": pos,
        "base_rate": float(pos / n) if n else float("nan"),
        "roc_auc": float(roc_auc_score(y, s)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, s)) if both else float("nan"),
    }
    if probabilistic:
        if n and ((s < 0) | (s > 1)).any():
            raise ValueError("probabilistic metrics need scores in [0, 1]")
        p = np.clip(s, EPS, 1 - EPS)
        out["brier"] = float(brier_score_loss(y, s)) if n else float("nan")
        out["log_loss"] = float(log_loss(y, p, labels=[0, 1])) if n else float("nan")
    out["lift_at_top"] = lift_at_top(y, s, top_fraction) if n else float("nan")
    out["recall_at_capacity"] = (
        recall_at_capacity(y, s, cutoff, capacity) if n and cutoff is not None else float("nan")
    )
    return out


def evaluate(
    scores: pl.DataFrame,
    cfg: Any,
    score_col: str = "score",
    segment_key: str | None = None,
    probabilistic: bool = True,
) -> dict[str, Any]:
    """Overall metrics at the top level plus ``per_segment`` (when ``segment_key`` is a column).

    ``scores`` holds ``cutoff``, ``label`` and ``score_col`` (and the segment column).
    """
    kw = {
        "top_fraction": float(cfg.eval.top_fraction),
        "capacity": int(cfg.eval.capacity),
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
    o_roc, o_pr = float(roc_auc_score(y, o)), float(average_precision_score(y, o))
    out.update(
        oracle_roc_auc=o_roc,
        oracle_pr_auc=o_pr,
        auc_ratio_to_oracle=float(roc_auc_score(y, s)) / o_roc,
        pr_auc_ratio_to_oracle=float(average_precision_score(y, s)) / o_pr,
    )
    return out
