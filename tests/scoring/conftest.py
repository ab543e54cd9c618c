"""Fixtures for scoring tests: hand-built feature frames and small real LightGBM routed models.

Feature names are real catalogue names (conf/catalogue) so sentences render from the real
templates; the model is a real per-segment LightGBM RoutedModel with training-time drift stats.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from omegaconf import OmegaConf

from core.config import load_config
from features.catalogue import expand_patterns
from models.router import GLOBAL, Calibrator, RoutedModel, SegmentModel
from scoring.drift import TRAINING_STATS_KEY, training_distributions

AS_OF = date(2026, 11, 1)
FEATURES = [
    "active_users_28d",
    "active_users_prev_28d",
    "active_users_trend_ratio",
    "integration_errors_28d",
    "first_integration_reached",
    "first_workflow_reached",
    "days_since_last_use",
]

# A one-tree model written by hand: split on feature `a` at 0.5 (NaN goes left), leaves -1 / +2
# with covers 30 / 10, so raw = -1 or 2, base = (30 * -1 + 10 * 2) / 40 = -0.25.
STUMP = """tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=binary sigmoid:1
feature_names=a b
feature_infos=[0:1] [0:1]
tree_sizes=300

Tree=0
num_leaves=2
num_cat=0
split_feature=0
split_gain=1
threshold=0.5
decision_type=10
left_child=-1
right_child=-2
leaf_value=-1 2
leaf_weight=30 10
leaf_count=30 10
internal_value=-0.25
internal_weight=40
internal_count=40
is_linear=0
shrinkage=1


end of trees

pandas_categorical:null
"""


def stump_model(calibrator: Calibrator | None = None) -> RoutedModel:
    """RoutedModel serving every row with the hand-written stump (features ``a``, ``b``)."""
    booster = lgb.Booster(model_str=STUMP)
    return RoutedModel(
        ["a", "b"], {}, None, {GLOBAL: SegmentModel(booster, calibrator or Calibrator("none"))}, {}
    )


def make_features(n: int = 300, seed: int = 0) -> pl.DataFrame:
    """Feature rows of one cutoff; risk rises with errors and falling users. Has a ``label``."""
    rng = np.random.default_rng(seed)
    prev = rng.integers(1, 12, n).astype(float)
    ratio = np.round(rng.uniform(0.2, 1.4, n), 2)
    now = np.round(prev * ratio)
    errors = rng.poisson(1.5, n).astype(float)
    ms1 = (rng.random(n) < 0.6).astype(float)
    ms2 = np.where(ms1 == 1, (rng.random(n) < 0.5).astype(float), 0.0)
    idle = rng.integers(0, 30, n).astype(float)
    logit = 1.5 * (errors - 1.5) - 2.0 * (ratio - 0.8) - 0.8 * ms1
    label = (logit + rng.logistic(size=n) > 0).astype(np.int8)
    now[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame(
        {
            "account_id": [f"acc{i:04d}" for i in range(n)],
            "cutoff": [AS_OF] * n,
            "industry": rng.choice(["retail", "tech"], n).tolist(),
            "size_tier": rng.choice(["smb", "mid", "enterprise"], n).tolist(),
            "use_case": rng.choice(["ops", "sales"], n).tolist(),
            "maturity_stage": ["mature"] * n,
            "active_users_28d": now,
            "active_users_prev_28d": prev,
            "active_users_trend_ratio": ratio,
            "integration_errors_28d": errors,
            "first_integration_reached": ms1,
            "first_workflow_reached": ms2,
            "days_since_last_use": idle,
            "label": pl.Series(label, dtype=pl.Int8),
        }
    )


def make_model(
    frame: pl.DataFrame,
    features: list[str] | None = None,
    rounds: int = 30,
    leaves: int = 7,
    seed: int = 0,
) -> RoutedModel:
    """Real LightGBM per ``size_tier`` (smb has its own; others use the global), Platt-scaled,
    with per-feature training distributions in the metadata for PSI."""
    feats = list(features or FEATURES)
    shell = RoutedModel(feats, {}, "size_tier", {GLOBAL: SegmentModel(None, Calibrator())}, {})  # type: ignore[arg-type]
    params = {
        "objective": "binary",
        "num_leaves": leaves,
        "min_data_in_leaf": 5,
        "verbose": -1,
        "seed": seed,
        "num_threads": 1,
        "deterministic": True,
    }

    def fit(rows: pl.DataFrame, on: str) -> SegmentModel:
        ds = lgb.Dataset(shell.to_matrix(rows), rows["label"].to_numpy(), feature_name=feats)
        return SegmentModel(lgb.train(params, ds, rounds), Calibrator("sigmoid", a=0.8, b=-0.2), on)

    models = {
        GLOBAL: fit(frame, GLOBAL),
        "smb": fit(frame.filter(pl.col("size_tier") == "smb"), "smb"),
    }
    meta = {TRAINING_STATS_KEY: training_distributions(frame, feats, 10)}
    return RoutedModel(
        feats, {}, "size_tier", models, {"smb": "smb", "mid": GLOBAL, "enterprise": GLOBAL}, meta
    )


@pytest.fixture(scope="session")
def cfg() -> Any:
    return load_config([])


@pytest.fixture(scope="session")
def catalogue(cfg: Any) -> dict[str, dict[str, str]]:
    expanded = expand_patterns(cfg.catalogue, cfg.features)
    return {f: expanded[f] for f in FEATURES}


@pytest.fixture(scope="session")
def playbook(cfg: Any) -> dict[str, Any]:
    return OmegaConf.to_container(cfg.playbook, resolve=True)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def milestones(cfg: Any) -> list[dict[str, Any]]:
    return OmegaConf.to_container(cfg.features.milestones, resolve=True)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def frame() -> pl.DataFrame:
    return make_features()


@pytest.fixture(scope="session")
def model(frame: pl.DataFrame) -> RoutedModel:
    return make_model(frame)
