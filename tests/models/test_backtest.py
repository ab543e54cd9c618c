"""Backtest stability summary on exact numbers."""

from __future__ import annotations

import math

import pytest

from models.backtest import stability


def test_stability_exact() -> None:
    s = stability([{"roc_auc": 0.80}, {"roc_auc": 0.82}, {"roc_auc": 0.84}])
    assert s["origins"] == 3
    assert s["mean"] == pytest.approx(0.82)
    assert s["std"] == pytest.approx(math.sqrt(((0.02) ** 2 * 2) / 3))
    assert s["trend"] == pytest.approx(0.02)
    assert (s["min"], s["max"]) == (0.80, 0.84)


def test_stability_with_one_or_no_origin() -> None:
    s = stability([{"roc_auc": 0.7}, {"roc_auc": float("nan")}])
    assert s["origins"] == 1 and s["mean"] == 0.7
    assert math.isnan(s["std"]) and math.isnan(s["trend"])
    assert stability([])["origins"] == 0
