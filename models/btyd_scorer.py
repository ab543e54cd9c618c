"""The BTYD baseline in the booster interface, so the gate can serve it and scoring explain it.

Why from dataset columns: the history family already holds the BTYD summary of every row at its
cutoff (``features.history``): ``lifetime_active_days`` (x + 1 transactions on active days),
``tenure_since_first_seen_days`` (T) and ``days_since_last_event`` (T - recency). So the
baseline reads the same matrix as LightGBM (``RoutedModel.to_matrix``) and needs no events at
scoring time. Fitting and prediction are ``models.btyd``'s (lifetimes' BG/NBD or Pareto/NBD,
chosen by held-out likelihood).

Inputs (``inputs``, matrix columns) are in ``servable_inputs("btyd")`` order.
``predict(X, raw_score=True)`` is the log-odds of P(no active day in the next ``horizon_days``);
``predict(X, pred_contrib=True)`` gives exact Shapley values of that raw score over the three
inputs against a reference row (the training medians): with three players all 8 coalitions are
evaluated, so ``sum(phi) + base == raw`` holds exactly (baseline Shapley; "goes with", like every
explanation here).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

import numpy as np
import polars as pl

from models import btyd
from models.scorer import JsonScorer

EPS = 1e-6


def _summary(X3: np.ndarray) -> pl.DataFrame:
    """BTYD summary rows (frequency, recency, T) from the columns in
    ``models.baselines.servable_inputs("btyd")`` order: (lifetime active days, days since the
    last event, tenure since first seen).

    Shapley coalitions mix a row's values with the reference row's, so the combination is made
    consistent: recency within [0, T], and 0 when there is no repeat active day (the model's
    definition)."""
    active, since, T = (np.nan_to_num(X3[:, k], nan=0.0) for k in range(3))
    freq = np.clip(np.round(active) - 1.0, 0.0, None)
    T = np.clip(T, 0.0, None)
    rec = np.where(freq > 0, np.clip(T - since, 0.0, T), 0.0)
    n = X3.shape[0]
    return pl.DataFrame(
        {
            "account_id": [str(i) for i in range(n)],
            "cutoff": [date(2000, 1, 1)] * n,
            "frequency": freq,
            "recency": rec,
            "T": T,
            "has_history": active >= 1,
        }
    )


@dataclass
class BTYDScorer(JsonScorer):
    """Fitted BTYD model over matrix columns ``inputs`` (active days, T, days since last)."""

    FORMAT: ClassVar[str] = "btyd_scorer/1"

    n_features: int
    inputs: list[int]
    horizon_days: int
    model: dict[str, Any] = field(default_factory=dict)
    reference: list[float] = field(default_factory=list)
    kind: str = "btyd"

    @classmethod
    def fit(
        cls, X: np.ndarray, y: np.ndarray, inputs: list[int], horizon_days: int, seed: int
    ) -> BTYDScorer:
        """Fit on the rows' own summaries (each row one observation; the labels are unused: a
        BTYD model learns from the purchase history alone, which is its point)."""
        X3 = np.asarray(X, dtype=np.float64)[:, inputs]
        fit = btyd.fit_summary(_summary(X3), seed)
        ref = np.nanmedian(X3, axis=0)
        return cls(
            n_features=X.shape[1],
            inputs=list(inputs),
            horizon_days=int(horizon_days),
            model=fit.to_dict(),
            reference=[float(v) for v in ref],
        )

    def refit(self, X: np.ndarray, y: np.ndarray, seed: int) -> BTYDScorer:
        return BTYDScorer.fit(X, y, self.inputs, self.horizon_days, seed=seed)

    def _raw3(self, X3: np.ndarray) -> np.ndarray:
        p = btyd.BTYDModel.from_dict(self.model).p_inactive(_summary(X3), self.horizon_days)
        p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
        return np.log(p / (1 - p))

    def predict(
        self, X: np.ndarray, raw_score: bool = False, pred_contrib: bool = False, **_: Any
    ) -> np.ndarray:
        """Like ``lgb.Booster.predict``: probabilities, raw log-odds, or contributions + base."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        X3 = X[:, self.inputs]
        if not pred_contrib:
            raw = self._raw3(X3)
            return raw if raw_score else 1.0 / (1.0 + np.exp(-raw))
        n, k = X3.shape[0], 3
        ref = np.asarray(self.reference)
        value: dict[tuple[int, ...], np.ndarray] = {}
        for r in range(k + 1):
            for coal in itertools.combinations(range(k), r):
                Z = np.tile(ref, (n, 1))
                Z[:, list(coal)] = X3[:, list(coal)]
                value[coal] = self._raw3(Z)
        phi = np.zeros((n, k))
        for j in range(k):
            others = [i for i in range(k) if i != j]
            for r in range(k):
                w = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
                for coal in itertools.combinations(others, r):
                    with_j = tuple(sorted((*coal, j)))
                    phi[:, j] += w * (value[with_j] - value[coal])
        out = np.zeros((n, self.n_features + 1))
        out[:, self.inputs] = phi
        out[:, self.n_features] = value[()]
        return out
