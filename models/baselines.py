"""Baselines trained on the same split as LightGBM, so its gain is measured, not assumed.

- ``logistic``: scikit-learn pipeline on the same features: numeric -> median imputation +
  standardisation, categorical -> "missing" imputation + one-hot (unseen levels ignored), then a
  seeded L2 logistic regression. Infinite values are treated as missing.
- ``heuristic``: one line a CSM could apply by hand: rank accounts by one feature
  (``model.heuristic_feature``, default ``active_users_trend_ratio``; the shipped
  ``conf/model/lightgbm.yaml`` uses ``user_days_last_week_ratio``, the best single ratio on the
  training period of the demo data; ``model.heuristic_higher_is`` = healthier means the lowest
  value is the riskiest). Missing values rank as the median. When
  the feature is absent the first present ``*_trend_ratio`` feature is used instead (logged); with
  none the heuristic is skipped. It is a rank, not a probability: only ranking metrics apply.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from omegaconf import DictConfig
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core.config import HigherIs
from core.logs import get_logger

log = get_logger(__name__)

MISSING_LEVEL = "__missing__"


def _inputs(frame: pl.DataFrame, numeric: list[str], categorical: list[str]) -> pl.DataFrame:
    """Model inputs with inf -> null (numeric) and categoricals as strings."""
    return frame.select(
        *[
            pl.col(c)
            .cast(pl.Float64)
            .pipe(lambda e: pl.when(e.is_infinite()).then(None).otherwise(e))
            .alias(c)
            for c in numeric
        ],
        *[pl.col(c).cast(pl.String).alias(c) for c in categorical],
    )


def fit_logistic(
    train: pl.DataFrame,
    features: list[str],
    categorical: list[str],
    seed: int,
    max_iter: int = 1000,
) -> Pipeline:
    """Fit the logistic baseline on ``train`` (``label`` 0/1) with the same inputs as LightGBM.

    Numeric columns that are entirely null in ``train`` are dropped (nothing to impute from).
    """
    numeric = [
        f
        for f in features
        if f not in categorical and train.get_column(f).null_count() < train.height
    ]
    cats = [f for f in features if f in categorical]
    steps = []
    if numeric:
        steps.append(
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)
        )
    if cats:
        steps.append(
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                cats,
            )
        )
    if not steps:
        raise ValueError("logistic baseline: no usable feature column")
    model = Pipeline(
        [
            ("prepare", ColumnTransformer(steps)),
            ("classifier", LogisticRegression(max_iter=max_iter, random_state=seed)),
        ]
    )
    model.fit(_inputs(train, numeric, cats), train.get_column("label").to_numpy())
    model.input_columns_ = (numeric, cats)
    return model


def predict_logistic(model: Pipeline, frame: pl.DataFrame) -> np.ndarray:
    """P(label = 1) of the logistic baseline for each row of ``frame``."""
    numeric, cats = model.input_columns_
    return model.predict_proba(_inputs(frame, numeric, cats))[:, 1]


def heuristic_feature(columns: list[str], cfg: DictConfig) -> str | None:
    """The heuristic's feature: the configured one, else the first ``*_trend_ratio`` present."""
    wanted: str = cfg.model.heuristic_feature
    if wanted in columns:
        return wanted
    fallback = next((c for c in columns if c.endswith("_trend_ratio")), None)
    log.warning(
        "heuristic baseline: feature %r not in the dataset; using %s",
        wanted,
        repr(fallback) if fallback else "nothing (heuristic skipped)",
    )
    return fallback


def heuristic_scores(
    frame: pl.DataFrame,
    feature: str,
    higher_is: HigherIs | str = HigherIs.healthier,
    fill: float | None = None,
) -> np.ndarray:
    """Risk rank score: ``-feature`` (higher_is=healthier) or ``feature`` (riskier).

    Missing/non-finite values take ``fill`` (the training median; the frame's median if None).
    Any other ``higher_is`` is a ``ValueError`` from the enum.
    """
    higher_is = HigherIs(higher_is)
    if feature not in frame.columns:
        raise ValueError(f"heuristic baseline: frame has no column {feature!r}")
    x = frame.get_column(feature).cast(pl.Float64).to_numpy().copy()
    bad = ~np.isfinite(x)
    if fill is None:
        fill = float(np.median(x[~bad])) if (~bad).any() else 0.0
    x[bad] = fill
    return -x if higher_is == HigherIs.healthier else x


def training_median(train: pl.DataFrame, feature: str) -> float:
    """Median of the finite training values of ``feature`` (0.0 when there are none)."""
    x = train.get_column(feature).cast(pl.Float64).to_numpy()
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else 0.0


# -- servable baselines: what the gate may serve instead of LightGBM ---------------------------
#: The built-in baselines every training measures on the same test rows (issue: "beats what a
#: data team could write in an afternoon"), in the order they are tried:
#: - ``recency``: days since the account's last event (any event), as a one-feature logistic
#:   regression on log1p(days), so it ranks exactly as the raw recency and is a probability;
#: - ``event_counts``: the classic churn-analysis recipe, a logistic regression on the
#:   per-event-type counts of the recent window (``ev_<event>_<recent>d``; the account's own
#:   usage counts when the log has no event names) plus tenure;
#: - ``btyd``: a buy-till-you-die model on the active-day history (``models.btyd``; for the
#:   ``inactivity`` label, whose question it answers).
SERVABLE = ("recency", "event_counts", "btyd")


def servable_inputs(kind: str, columns: list[str], recent_days: int) -> list[str]:
    """The dataset columns a servable baseline reads (empty = it cannot run on this dataset)."""
    present = set(columns)
    if kind == "recency":
        for c in ("days_since_last_event", "days_since_last_use"):
            if c in present:
                return [c]
        return []
    if kind == "event_counts":
        counts = [c for c in columns if c.startswith("ev_") and c.endswith(f"_{recent_days}d")]
        if not counts:
            counts = [
                c
                for c in (f"usage_events_{recent_days}d", f"active_days_{recent_days}d")
                if c in present
            ]
        tenure = next(
            (c for c in ("tenure_since_first_seen_days", "tenure_days") if c in present), None
        )
        return counts + ([tenure] if counts and tenure else [])
    if kind == "btyd":
        need = ("lifetime_active_days", "days_since_last_event", "tenure_since_first_seen_days")
        return list(need) if set(need) <= present else []
    raise ValueError(f"unknown servable baseline {kind!r}; known: {SERVABLE}")
