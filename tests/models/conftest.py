"""Shared fixtures: a small synthetic dataset with a learnable, segment-dependent signal and a
config shrunk to a few boosting rounds so every training test runs in about a second."""

from __future__ import annotations

import functools
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from core.config import load_config

#: Overrides that keep LightGBM tiny and the split short (weekly cutoffs, 14-day horizon).
SMALL = [
    "model.num_boost_round=40",
    "model.early_stopping_rounds=10",
    "model.min_segment_rows=300",
    "model.min_segment_positives=20",
    "model.params.num_threads=1",
    "model.params.min_data_in_leaf=10",
    "label.horizon_days=14",
    "split.test_cutoffs=4",
    "split.validation_cutoffs=4",
    "backtest.origins=2",
    "backtest.step_cutoffs=4",
    "eval.capacity=5",
    "eval.top_fraction=0.1",
]


def make_dataset(
    n_accounts: int = 150, n_cutoffs: int = 30, seed: int = 0, unlabelled_cutoffs: int = 2
) -> pl.DataFrame:
    """Dataset contract frame: account_id, cutoff, industry, size_tier, maturity_stage, Float64
    features, Int8 label (null for the last ``unlabelled_cutoffs`` cutoffs).

    Size tiers: smb (60%) decays when ``x1`` is high, mid (33%) when ``x2`` is low, ent (~7%,
    too small for its own model); a falling ``active_users_trend_ratio`` adds risk everywhere.
    """
    rng = np.random.default_rng(seed)
    tiers = np.array(["smb"] * 90 + ["mid"] * 50 + ["ent"] * 10)
    tier_of = np.resize(tiers, n_accounts)
    industry_of = rng.choice(["retail", "software"], size=n_accounts)
    n = n_accounts * n_cutoffs
    acc = np.repeat(np.arange(n_accounts), n_cutoffs)
    k = np.tile(np.arange(n_cutoffs), n_accounts)
    start = date(2025, 1, 6)
    cutoffs = [start + timedelta(days=7 * int(i)) for i in k]
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    ratio = np.exp(rng.normal(scale=0.5, size=n))
    noise = rng.normal(size=n)
    tier = tier_of[acc]
    logit = (
        -2.0
        + np.where(tier == "smb", 2.0 * x1, 0.0)
        + np.where(tier == "mid", -2.0 * x2, 0.0)
        - 1.5 * np.log(ratio)
    )
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    x2 = np.where(rng.random(n) < 0.05, np.nan, x2)  # some missing values
    maturity = np.where(k < 8, "onboarding", np.where(k < 20, "growing", "mature"))
    df = pl.DataFrame(
        {
            "account_id": [f"a{i:04d}" for i in acc],
            "cutoff": pl.Series(cutoffs, dtype=pl.Date),
            "industry": industry_of[acc],
            "size_tier": tier,
            "maturity_stage": maturity,
            "x1": x1,
            "x2": x2,
            "active_users_trend_ratio": ratio,
            "noise": noise,
            "label": pl.Series(y, dtype=pl.Int8),
        }
    ).with_columns(pl.col("x2").fill_nan(None))
    last = sorted(set(cutoffs))[-unlabelled_cutoffs:] if unlabelled_cutoffs else []
    return df.with_columns(
        pl.when(pl.col("cutoff").is_in(last)).then(None).otherwise(pl.col("label")).alias("label")
    )


@functools.lru_cache(maxsize=32)
def small_cfg(*overrides: str):
    """The project config with the SMALL overrides (plus ``overrides``); cached (read-only use)."""
    return load_config([*SMALL, *overrides])


@pytest.fixture(scope="session")
def dataset() -> pl.DataFrame:
    return make_dataset()


@pytest.fixture(scope="session")
def cfg():
    return small_cfg()
