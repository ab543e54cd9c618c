"""Metrics on hand-made cases with exact expected numbers."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from core.config import BoosterMetric, Metric
from models.metrics import (
    EPS,
    METRICS,
    binary_metrics,
    booster_metric,
    booster_metrics,
    evaluate,
    lift_at_top,
    oracle_metrics,
    recall_at_capacity,
)

from .conftest import small_cfg

Y = np.array([1, 0, 1, 0, 0, 0, 0, 1, 0, 0])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])


def test_lift_at_top_exact() -> None:
    # top 20% = 2 rows (1, 0): rate 0.5 over base rate 0.3
    assert lift_at_top(Y, S, 0.2) == pytest.approx(0.5 / 0.3)
    # top 10% = 1 row (positive): 1 / 0.3
    assert lift_at_top(Y, S, 0.1) == pytest.approx(1 / 0.3)
    # top 25% of 10 rows = ceil(2.5) = 3 rows: 2/3 over 0.3
    assert lift_at_top(Y, S, 0.25) == pytest.approx((2 / 3) / 0.3)
    assert lift_at_top(Y, S, 1.0) == pytest.approx(1.0)


def test_lift_ties_are_broken_by_row_order() -> None:
    assert lift_at_top([0, 1], [0.5, 0.5], 0.5) == 0.0
    assert lift_at_top([1, 0], [0.5, 0.5], 0.5) == 2.0


def test_recall_at_capacity_is_per_cutoff() -> None:
    cut = ["a"] * 5 + ["b"] * 5
    # capacity 1: cutoff a picks row 0 (pos), cutoff b picks row 5 (neg): 1 of 3 positives
    assert recall_at_capacity(Y, S, cut, 1) == pytest.approx(1 / 3)
    # capacity 3: a picks rows 0,1,2 (2 pos), b picks 5,6,7 (1 pos): 3 of 3
    assert recall_at_capacity(Y, S, cut, 3) == pytest.approx(1.0)
    # a single cutoff with capacity 3 reaches rows 0,1,2: 2 of 3
    assert recall_at_capacity(Y, S, ["x"] * 10, 3) == pytest.approx(2 / 3)


def test_binary_metrics_exact() -> None:
    m = binary_metrics(Y, S, cutoff=["a"] * 5 + ["b"] * 5, top_fraction=0.2, capacity=1)
    assert m["n"] == 10 and m["positives"] == 3
    assert m["base_rate"] == pytest.approx(0.3)
    # positives at ranks 1, 3, 8: pairs won 7 + 6 + 2 = 15 of 21
    assert m["roc_auc"] == pytest.approx(15 / 21)
    # AP = (1/1 + 2/3 + 3/8) / 3
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3 + 3 / 8) / 3)
    assert m["brier"] == pytest.approx(float(np.mean((S - Y) ** 2)))
    assert m["log_loss"] == pytest.approx(float(-np.mean(Y * np.log(S) + (1 - Y) * np.log(1 - S))))
    assert m["lift_at_top"] == pytest.approx(0.5 / 0.3)
    assert m["recall_at_capacity"] == pytest.approx(1 / 3)


def test_single_class_gives_nan_rank_metrics_not_errors() -> None:
    m = binary_metrics([0, 0, 0], [0.1, 0.2, 0.3], cutoff=["a"] * 3)
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])
    assert math.isnan(m["lift_at_top"]) and math.isnan(m["recall_at_capacity"])
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)


def test_rank_scores_skip_probability_metrics_and_bad_input_is_named() -> None:
    m = binary_metrics(Y, -S * 10, probabilistic=False)
    assert "brier" not in m and "log_loss" not in m
    assert m["roc_auc"] == pytest.approx(1 - 15 / 21)
    with pytest.raises(ValueError, match="label must be 0/1"):
        binary_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        binary_metrics([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match=r"scores in \[0, 1\]"):
        binary_metrics([0, 1], [0.1, 1.5])


def test_evaluate_per_segment_and_oracle_ratios() -> None:
    cut = [date(2026, 1, 5)] * 5 + [date(2026, 1, 12)] * 5
    scores = pl.DataFrame(
        {
            "account_id": [f"a{i}" for i in range(10)],
            "cutoff": cut,
            "tier": ["s"] * 4 + ["m"] * 6,
            "label": Y,
            "score": S,
        }
    )
    out = evaluate(
        scores, small_cfg("eval.capacity=1", "eval.top_fraction=0.2"), segment_key="tier"
    )
    assert out["roc_auc"] == pytest.approx(15 / 21)
    assert list(out["per_segment"]) == ["m", "s"]
    # segment s: labels 1,0,1,0 with decreasing scores: AUC 3/4
    assert out["per_segment"]["s"]["roc_auc"] == pytest.approx(0.75)
    assert out["per_segment"]["m"]["n"] == 6
    truth = pl.DataFrame(
        {"account_id": [f"a{i}" for i in range(10)], "cutoff": cut, "oracle_prob": Y * 0.9 + 0.05}
    )  # a perfect oracle
    o = oracle_metrics(scores, truth)
    assert o["oracle_rows"] == 10
    assert o["oracle_roc_auc"] == 1.0 and o["oracle_pr_auc"] == 1.0
    assert o["auc_ratio_to_oracle"] == pytest.approx(15 / 21)
    # only the truth rows that exist are compared
    o = oracle_metrics(scores, truth.head(4))
    assert o["oracle_rows"] == 4 and o["auc_ratio_to_oracle"] == pytest.approx(0.75)


def test_one_metric_table_behind_the_config_choices() -> None:
    # model.gate_metric may name any metric of the table; model.promotion_metric and
    # tune.objective only those LightGBM evaluates itself (early stopping, pruning).
    assert set(METRICS) == {m.value for m in Metric}
    assert set(booster_metrics()) == {m.value for m in BoosterMetric}
    assert booster_metric("log_loss") == ("binary_logloss", False)
    assert booster_metric("pr_auc") == ("average_precision", True)
    with pytest.raises(ValueError, match="LightGBM has no metric 'brier'"):
        booster_metric("brier")


def test_metric_directions_and_the_one_log_loss_clipping() -> None:
    y = np.array([1.0, 0.0])
    # the log loss clips once, to [EPS, 1 - EPS]: a confident miss costs -log(EPS), not inf
    assert METRICS["log_loss"](y, np.array([0.0, 1.0])) == pytest.approx(-math.log(EPS))
    assert METRICS["brier"](y, np.array([1.0, 0.0])) == 0.0
    assert math.isnan(METRICS["roc_auc"](np.array([1.0, 1.0]), np.array([0.2, 0.3])))
    assert METRICS["roc_auc"].better(0.8, 0.7) and not METRICS["roc_auc"].better(0.7, 0.7)
    assert METRICS["log_loss"].better(0.1, 0.2) and not METRICS["brier"].better(0.3, 0.2)
    assert not METRICS["pr_auc"].better(float("nan"), 0.1)
    assert METRICS["brier"].best({"b": 0.2, "a": 0.2, "c": 0.3}) == "a"  # ties: sorted order
    assert METRICS["roc_auc"].best({"b": 0.6, "a": float("nan")}) == "b"
