"""A logistic regression that can stand in for a LightGBM booster: served, explained, saved.

Why: the promotion gate (``models.train``) serves the best built-in baseline when LightGBM does
not beat it, and scoring must not care which one it got. ``LinearScorer`` answers the two calls
the rest of the code makes of a booster, ``predict(X, raw_score=True)`` and
``predict(X, pred_contrib=True)``, on the same float64 matrix ``RoutedModel.to_matrix`` builds
(NaN = missing), so the router, the explanations, the pyfunc and the report work unchanged.

Model: each input column ``j`` is imputed (training median), optionally ``log1p``-transformed
(non-negative count-like columns: the classic churn-analysis recipe), standardised, and enters a
seeded L2 logistic regression (scikit-learn). Columns of the model's feature list that it does not
use get weight 0.

Explanations are exact SHAP values for a linear model with the training means as the reference
(interventional, independent features): ``phi_j = w_j (z_j - mean_j)`` in log-odds units, and
the base value ``b + sum_j w_j mean_j``, so ``sum(phi) + base == raw score`` to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression

from models.scorer import JsonScorer


@dataclass
class LinearScorer(JsonScorer):
    """Fitted logistic model over columns ``inputs`` (indexes into the model's feature matrix).

    ``kind`` names the baseline it implements (for logs, metrics and the report's footer).
    """

    FORMAT: ClassVar[str] = "linear_scorer/1"

    kind: str
    n_features: int
    inputs: list[int] = field(default_factory=list)
    log1p: list[bool] = field(default_factory=list)
    median: list[float] = field(default_factory=list)
    center: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    coef: list[float] = field(default_factory=list)
    intercept: float = 0.0
    mean_z: list[float] = field(default_factory=list)

    # -- fitting ------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        kind: str,
        X: np.ndarray,
        y: np.ndarray,
        inputs: list[int],
        seed: int,
        C: float = 1.0,
        max_iter: int = 2000,
    ) -> LinearScorer:
        """Fit on rows ``X`` (the full model matrix) using only the columns ``inputs``.

        Columns that are entirely missing or constant in training are dropped (nothing to learn).
        """
        Xs = np.asarray(X, dtype=np.float64)[:, inputs]
        Xs = np.where(np.isfinite(Xs), Xs, np.nan)
        keep, logs, med = [], [], []
        for k in range(Xs.shape[1]):
            col = Xs[:, k]
            ok = col[~np.isnan(col)]
            if ok.size == 0 or np.all(ok == ok[0]):
                continue
            keep.append(k)
            logs.append(bool(ok.min() >= 0))
            med.append(float(np.median(ok)))
        if not keep:
            raise ValueError(f"{kind} baseline: no usable input column")
        scorer = cls(
            kind=kind,
            n_features=X.shape[1],
            inputs=[inputs[k] for k in keep],
            log1p=logs,
            median=med,
        )
        raw = scorer._transform_raw(np.asarray(X, dtype=np.float64))
        scorer.center = raw.mean(axis=0).tolist()
        sd = raw.std(axis=0)
        scorer.scale = np.where(sd > 0, sd, 1.0).tolist()
        z = scorer._standardise(raw)
        model = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
        model.fit(z, np.asarray(y, dtype=np.float64))
        scorer.coef = model.coef_[0].astype(float).tolist()
        scorer.intercept = float(model.intercept_[0])
        scorer.mean_z = z.mean(axis=0).tolist()
        return scorer

    def refit(self, X: np.ndarray, y: np.ndarray, seed: int) -> LinearScorer:
        return LinearScorer.fit(self.kind, X, y, self.inputs, seed=seed)

    # -- the booster interface --------------------------------------------------------------
    def _transform_raw(self, X: np.ndarray) -> np.ndarray:
        Xs = X[:, self.inputs].astype(np.float64, copy=True)
        bad = ~np.isfinite(Xs)
        Xs[bad] = np.take(np.asarray(self.median), np.nonzero(bad)[1])
        lg = np.asarray(self.log1p, dtype=bool)
        if lg.any():
            Xs[:, lg] = np.log1p(np.clip(Xs[:, lg], 0.0, None))
        return Xs

    def _standardise(self, raw: np.ndarray) -> np.ndarray:
        return (raw - np.asarray(self.center)) / np.asarray(self.scale)

    def predict(
        self, X: np.ndarray, raw_score: bool = False, pred_contrib: bool = False, **_: Any
    ) -> np.ndarray:
        """Like ``lgb.Booster.predict``: probabilities, raw log-odds, or contributions + base."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        z = self._standardise(self._transform_raw(X))
        w = np.asarray(self.coef)
        if pred_contrib:
            out = np.zeros((X.shape[0], self.n_features + 1))
            phi = (z - np.asarray(self.mean_z)) * w
            out[:, list(self.inputs)] += phi  # inputs are distinct: one column each
            out[:, self.n_features] = self.intercept + float(w @ np.asarray(self.mean_z))
            return out
        raw = z @ w + self.intercept
        return raw if raw_score else 1.0 / (1.0 + np.exp(-raw))
