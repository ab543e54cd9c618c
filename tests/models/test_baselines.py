"""Baselines: logistic pipeline and the one-line heuristic, with graceful fallbacks."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.baselines import (
    fit_logistic,
    heuristic_feature,
    heuristic_scores,
    predict_logistic,
    training_median,
)

from .conftest import small_cfg


def test_heuristic_scores_exact() -> None:
    frame = pl.DataFrame({"r": [0.5, None, 2.0, float("inf")]})
    np.testing.assert_array_equal(
        heuristic_scores(frame, "r", "healthier", fill=1.0), [-0.5, -1.0, -2.0, -1.0]
    )
    np.testing.assert_array_equal(heuristic_scores(frame, "r", "riskier"), [0.5, 1.25, 2.0, 1.25])
    assert training_median(frame, "r") == 1.25
    with pytest.raises(ValueError, match="'up' is not a valid HigherIs"):
        heuristic_scores(frame, "r", "up")


def test_heuristic_feature_falls_back() -> None:
    cfg = small_cfg("model.heuristic_feature=usage_ratio")
    assert heuristic_feature(["x", "usage_ratio"], cfg) == "usage_ratio"
    assert heuristic_feature(["x", "active_days_trend_ratio"], cfg) == "active_days_trend_ratio"
    assert heuristic_feature(["x"], cfg) is None


def test_logistic_learns_and_tolerates_unseen_levels_and_inf() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    train = pl.DataFrame(
        {"x": x, "empty": [None] * 400, "tier": ["a", "b"] * 200, "label": (x > 0).astype(np.int8)},
        schema_overrides={"empty": pl.Float64},
    )
    model = fit_logistic(train, ["x", "empty", "tier"], ["tier"], seed=0)
    test = pl.DataFrame(
        {"x": [-3.0, 3.0, float("inf")], "empty": [1.0, None, None], "tier": ["zz", None, "a"]}
    )
    p = predict_logistic(model, test)
    assert p[0] < 0.05 and p[1] > 0.95
    assert 0 < p[2] < 1  # inf treated as missing -> median
