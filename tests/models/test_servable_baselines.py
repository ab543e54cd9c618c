"""Servable baselines: exact explanations, persistence, and the gate that serves them."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.baselines import servable_inputs
from models.btyd_scorer import BTYDScorer
from models.linear import LinearScorer
from models.router import GLOBAL, Calibrator, RoutedModel, SegmentModel
from models.train import gate_against_baselines


def _xy(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.poisson(3, n), rng.normal(size=n), rng.exponential(10, n)]).astype(
        float
    )
    X[rng.random(n) < 0.1, 1] = np.nan
    logit = -0.5 * np.log1p(X[:, 0]) + 0.8 * np.nan_to_num(X[:, 1])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return X, y


def test_linear_scorer_contributions_add_up_to_the_raw_score() -> None:
    X, y = _xy()
    sc = LinearScorer.fit("event_counts", X, y, [0, 1], seed=1)
    raw = sc.predict(X, raw_score=True)
    c = sc.predict(X, pred_contrib=True)
    assert c.shape == (X.shape[0], X.shape[1] + 1)
    np.testing.assert_allclose(c.sum(axis=1), raw, atol=1e-9)
    assert np.all(c[:, 2] == 0)  # an unused column gets nothing
    p = sc.predict(X)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-raw)))
    assert sc.log1p == [True, False]  # counts are log1p'd, a signed column is not


def test_linear_scorer_ranks_like_the_one_feature_for_recency() -> None:
    X, y = _xy()
    sc = LinearScorer.fit("recency", X, y, [2], seed=0)
    order = np.argsort(sc.predict(X, raw_score=True))
    days = X[order, 2]
    assert np.all(np.diff(days) >= 0) or np.all(np.diff(days) <= 0)  # monotone in the feature


def test_routed_baseline_saves_and_loads_exactly(tmp_path) -> None:
    X, y = _xy()
    sc = LinearScorer.fit("event_counts", X, y, [0, 1], seed=1)
    feats = ["a", "b", "c"]
    m = RoutedModel(
        feats,
        {},
        None,
        {GLOBAL: SegmentModel(sc, Calibrator("none"))},
        {},
        {"served": "event_counts"},
    )
    frame = pl.DataFrame({f: X[:, i] for i, f in enumerate(feats)})
    back = RoutedModel.load(m.save(tmp_path / "m"))
    np.testing.assert_array_equal(back.predict_proba(frame), m.predict_proba(frame))
    assert back.kind == "event_counts"
    c1, b1 = m.contributions(frame)
    np.testing.assert_allclose(c1.sum(1) + b1, m.predict_raw(frame), atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 5))
def test_btyd_scorer_shapley_values_are_exact_and_additive(seed) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    active = rng.integers(1, 40, n).astype(float)
    tenure = active + rng.integers(0, 120, n)
    since = rng.integers(0, 60, n).astype(float)
    X = np.column_stack([rng.normal(size=n), active, since, tenure])  # servable_inputs order
    sc = BTYDScorer.fit(X, np.zeros(n), [1, 2, 3], horizon_days=28, seed=seed)
    raw = sc.predict(X, raw_score=True)
    c = sc.predict(X, pred_contrib=True)
    np.testing.assert_allclose(c.sum(axis=1), raw, atol=1e-8)
    assert np.all(c[:, 0] == 0)
    p = sc.predict(X)
    assert np.all((p > 0) & (p < 1))
    back = BTYDScorer.from_dict(sc.to_dict())
    np.testing.assert_array_equal(back.predict(X, raw_score=True), raw)


def test_servable_inputs_follow_the_dataset() -> None:
    cols = [
        "ev_play_28d",
        "ev_play_7d",
        "ev_search_28d",
        "tenure_since_first_seen_days",
        "days_since_last_event",
        "lifetime_active_days",
    ]
    assert servable_inputs("recency", cols, 28) == ["days_since_last_event"]
    assert servable_inputs("event_counts", cols, 28) == [
        "ev_play_28d",
        "ev_search_28d",
        "tenure_since_first_seen_days",
    ]
    assert servable_inputs("btyd", cols, 28) == [
        "lifetime_active_days",
        "days_since_last_event",
        "tenure_since_first_seen_days",
    ]
    assert servable_inputs("event_counts", ["usage_events_28d", "tenure_days"], 28) == [
        "usage_events_28d",
        "tenure_days",
    ]
    assert servable_inputs("btyd", cols[:2], 28) == []
    with pytest.raises(ValueError, match="unknown servable"):
        servable_inputs("oracle", cols, 28)


def test_gate_serves_lightgbm_only_when_it_strictly_beats_every_baseline() -> None:
    base = {
        "recency": {"roc_auc": 0.70},
        "event_counts": {"roc_auc": 0.76},
        "logistic": {"roc_auc": 0.99},
    }  # the non-servable logistic is reported, not served
    assert gate_against_baselines({"roc_auc": 0.80}, base, "roc_auc")[0] == "lightgbm"
    served, why = gate_against_baselines({"roc_auc": 0.76}, base, "roc_auc")
    assert served == "event_counts" and "does not beat" in why  # a tie serves the baseline
    assert gate_against_baselines({"roc_auc": float("nan")}, base, "roc_auc")[0] == "event_counts"
    assert gate_against_baselines({"roc_auc": 0.5}, {}, "roc_auc")[0] == "lightgbm"


def test_gate_compares_in_the_direction_of_its_metric() -> None:
    # log loss: lower is better, so LightGBM must be strictly *below* every servable baseline
    base = {"recency": {"log_loss": 0.40}, "event_counts": {"log_loss": 0.35}}
    assert gate_against_baselines({"log_loss": 0.30}, base, "log_loss")[0] == "lightgbm"
    served, why = gate_against_baselines({"log_loss": 0.38}, base, "log_loss")
    assert served == "event_counts" and "0.3500" in why  # the best baseline has the lowest loss
