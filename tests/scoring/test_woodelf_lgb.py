"""scoring.woodelf_lgb: woodelf TreeSHAP of LightGBM boosters equals LightGBM's own pred_contrib.

Reference is always ``booster.predict(X, pred_contrib=True)`` (exact path-dependent TreeSHAP):
hand-written model strings pin each routing rule (missing types, default directions, categorical
sets, NaN/negative/fractional/huge categorical codes), hypothesis trains small boosters on random
data with NaNs and categoricals, and the real ``decay-train`` model (``models.train.fit_routed``
with the project's model config on a simulated world's features) is explained end to end.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import load_config
from models.router import GLOBAL, Calibrator, RoutedModel, SegmentModel
from scoring import woodelf_lgb
from scoring.explain import booster_contributions, explain

TOL = 1e-4

# LightGBM decision_type bits: 1 categorical, 2 default_left, missing type << 2 (0 None, 1 Zero, 2 NaN)
DECISION = {
    ("None", False): 0,
    ("None", True): 2,
    ("Zero", False): 4,
    ("Zero", True): 6,
    ("NaN", False): 8,
    ("NaN", True): 10,
}


def model_string(missing_type: str, default_left: bool, threshold: float) -> str:
    """Two-split tree: root ``c in {0, 3}`` (categorical, feature 0); its left child splits
    numeric feature 1 at ``threshold``. Leaves: c-in/x-left 1.0 (20 rows), c-in/x-right -3.0
    (10 rows), c-out 0.5 (30 rows)."""
    dt = DECISION[(missing_type, default_left)]
    return f"""tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=regression
feature_names=c x
feature_infos=0:3:5 [-5:5]
tree_sizes=500

Tree=0
num_leaves=3
num_cat=1
split_feature=0 1
split_gain=1 1
threshold=0 {threshold!r}
decision_type=1 {dt}
left_child=1 -1
right_child=-2 -3
leaf_value=1 0.5 -3
leaf_weight=20 30 10
leaf_count=20 30 10
internal_value=0 0
internal_weight=60 30
internal_count=60 30
cat_boundaries=0 1
cat_threshold=9
is_linear=0
shrinkage=1


end of trees

pandas_categorical:null
"""


#: Values that exercise every routing rule, for both columns.
EDGE = [
    np.nan,
    0.0,
    -0.0,
    1e-40,
    -1e-40,
    3.0,
    3.9,
    -0.5,
    -0.99,
    -1.0,
    0.7,
    1.0,
    5.0,
    6.0,
    2.0**31 + 3,
    1e10,
    -1e10,
    np.inf,
    -np.inf,
    0.5,
    -0.5,
    0.25,
    -2.0,
]


def edge_grid() -> np.ndarray:
    return np.array([[c, x] for c in EDGE for x in EDGE], dtype=np.float64)


def assert_matches_pred_contrib(booster: lgb.Booster, X: np.ndarray, tol: float = TOL) -> float:
    ref = booster.predict(X, pred_contrib=True)
    got, base = booster_contributions(booster, X, "woodelf")
    f = X.shape[1]
    err = float(np.abs(got - ref[:, :f]).max()) if X.size else 0.0
    assert err <= tol, f"woodelf differs from pred_contrib by {err}"
    np.testing.assert_allclose(base, ref[:, f], atol=1e-12)
    raw = booster.predict(X, raw_score=True)
    np.testing.assert_allclose(got.sum(1) + base, raw, atol=tol)
    return err


def test_categorical_stump_exact_numbers() -> None:
    # categorical root only: in {0, 3} -> (1*20 + -3*10)/30 = -1/3, out -> 0.5; base = 0.5*30/60
    # + (-1/3)*30/60 = 1/12. A row with x NaN and missing_type NaN default right -> leaf -3.
    booster = lgb.Booster(model_str=model_string("NaN", False, 0.5))
    X = np.array([[3.0, 0.0], [np.nan, 0.0], [-0.5, 0.0], [3.0, np.nan]])
    contrib, base = booster_contributions(booster, X, "woodelf")
    assert base[0] == pytest.approx(1 / 12)
    # row 0: c in set (3), x=0 <= 0.5 -> leaf 1. phi_c + phi_x = 1 - 1/12
    # c alone moves E from 1/12 to E[leaf | c in] = -1/3; x only matters inside c's branch.
    # Shapley over {c, x}: phi_x = 1/2[(E[f|x] - E[f]) + (f - E[f|c])]; E[f|x]= 0.5*1 + 0.5*0.5 = 0.75
    phi_x = 0.5 * ((0.75 - 1 / 12) + (1.0 - (-1 / 3)))
    np.testing.assert_allclose(contrib[0], [1 - 1 / 12 - phi_x, phi_x], atol=1e-6)
    # row 1: a NaN category goes right (leaf 0.5) even though 0 is in the set; x (=0, left)
    # still gets credit where c is unknown: phi_x = 1/2[(0.75 - 1/12) + (0.5 - 0.5)] = 1/3
    np.testing.assert_allclose(contrib[1], [0.5 - 1 / 12 - 1 / 3, 1 / 3], atol=1e-6)
    # row 2: -0.5 truncates to category 0: in the set, like row 0
    np.testing.assert_allclose(contrib[2], contrib[0], atol=1e-6)
    # row 3: x NaN, default right -> leaf -3
    assert contrib[3].sum() + base[3] == pytest.approx(-3.0)
    assert_matches_pred_contrib(booster, X)


@pytest.mark.parametrize("missing_type", ["None", "Zero", "NaN"])
@pytest.mark.parametrize("default_left", [False, True])
# inf: the threshold LightGBM writes when every seen value went left (dumped as 1e300)
@pytest.mark.parametrize("threshold", [0.5, -0.5, 0.0, 1e-40, float("inf")])
def test_every_missing_rule_matches_lightgbm(
    missing_type: str, default_left: bool, threshold: float
) -> None:
    booster = lgb.Booster(model_str=model_string(missing_type, default_left, threshold))
    X = edge_grid()
    assert_matches_pred_contrib(booster, X, tol=1e-6)
    # routing itself (not only the SHAP sums): the converted tree predicts LightGBM's leaf values
    ens = woodelf_lgb.ensemble_from_dump(booster.dump_model())
    frame = pd.DataFrame(woodelf_lgb.lightgbm_input(X), columns=woodelf_lgb.feature_keys(2))
    np.testing.assert_array_equal(ens.predict(frame).to_numpy(), booster.predict(X))


def _random_booster(data: st.DataObject) -> tuple[lgb.Booster, np.ndarray]:
    seed = data.draw(st.integers(0, 2**16), label="seed")
    n = data.draw(st.integers(150, 500), label="rows")
    n_num = data.draw(st.integers(1, 3), label="numeric")
    n_cat = data.draw(st.integers(1, 2), label="categorical")
    nan_rate = data.draw(st.sampled_from([0.0, 0.1, 0.4]), label="nan_rate")
    rng = np.random.default_rng(seed)
    cats = [rng.integers(0, data.draw(st.integers(2, 9)), n).astype(float) for _ in range(n_cat)]
    nums = [np.round(rng.normal(size=n), 1) for _ in range(n_num)]  # ties at thresholds
    X = np.column_stack(cats + nums)
    logit = sum(np.isin(c, [0, 2]) * rng.normal() for c in cats) + sum(
        v * rng.normal() for v in nums
    )
    y = (logit + rng.logistic(size=n) > 0).astype(float)
    X[rng.random(X.shape) < nan_rate] = np.nan
    params = {
        "objective": "binary",
        "verbose": -1,
        "num_threads": 1,
        "seed": seed,
        "num_leaves": data.draw(st.integers(2, 15), label="num_leaves"),
        "max_depth": data.draw(st.sampled_from([-1, 2, 4]), label="max_depth"),
        "min_data_in_leaf": 5,
        "min_data_per_group": 5,
        "cat_smooth": 1.0,
        "max_cat_to_onehot": data.draw(st.sampled_from([1, 4]), label="onehot"),
        "zero_as_missing": data.draw(st.booleans(), label="zero_as_missing"),
        "use_missing": data.draw(st.booleans(), label="use_missing"),
    }
    rounds = data.draw(st.integers(1, 12), label="rounds")
    booster = lgb.train(params, lgb.Dataset(X, y, categorical_feature=list(range(n_cat))), rounds)
    # explain training rows plus rows of edge values (unseen / negative / fractional codes)
    edge = rng.choice(np.array(EDGE), size=(40, X.shape[1]))
    return booster, np.vstack([X, edge])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_boosters_with_nans_and_categoricals_match_pred_contrib(data: st.DataObject) -> None:
    booster, X = _random_booster(data)
    assert_matches_pred_contrib(booster, X)
    assert_matches_pred_contrib(booster, X[:7])  # small chunk: woodelf's other code path


def test_single_leaf_booster_has_zero_contributions() -> None:
    X = np.zeros((20, 2))
    booster = lgb.train(
        {"objective": "regression", "verbose": -1, "min_data_in_leaf": 50},
        lgb.Dataset(X, np.arange(20.0)),
        3,
    )
    assert woodelf_lgb.unsupported_reason(booster) is None
    contrib, base = booster_contributions(booster, X, "woodelf")
    assert not contrib.any()
    np.testing.assert_allclose(base, booster.predict(X, raw_score=True))


def test_unsupported_boosters_are_named_and_explain_falls_back(caplog) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    multi = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1},
        lgb.Dataset(X, rng.integers(0, 3, 300)),
        2,
    )
    assert "multiclass" in woodelf_lgb.unsupported_reason(multi)
    linear = lgb.train(
        {"objective": "regression", "linear_tree": True, "verbose": -1},
        lgb.Dataset(X, X[:, 0] * 2 + rng.normal(size=300)),
        3,
    )
    assert "linear" in woodelf_lgb.unsupported_reason(linear)
    with pytest.raises(woodelf_lgb.UnsupportedBooster):
        woodelf_lgb.contributions(linear, X)
    forest = lgb.train(
        {
            "objective": "binary",
            "boosting": "rf",
            "bagging_fraction": 0.5,
            "bagging_freq": 1,
            "verbose": -1,
        },
        lgb.Dataset(X, X[:, 0] > 0),
        3,
    )
    assert "average_output" in woodelf_lgb.unsupported_reason(forest)
    model = RoutedModel(
        ["a", "b"], {}, None, {GLOBAL: SegmentModel(forest, Calibrator("none"))}, {}
    )
    frame = pl.DataFrame({"a": X[:, 0], "b": X[:, 1]})
    with caplog.at_level("INFO", logger="adoption_decay"):
        contrib, base = explain(model, frame, "woodelf")
    assert "average_output" in caplog.text and "explained with pred_contrib" in caplog.text
    np.testing.assert_allclose(contrib.sum(1) + base, model.predict_raw(frame), atol=1e-9)


def test_wrong_width_is_a_clear_error() -> None:
    booster = lgb.Booster(model_str=model_string("NaN", True, 0.5))
    with pytest.raises(ValueError, match=r"\[n, 2\]"):
        woodelf_lgb.contributions(booster, np.zeros((3, 5)))


@pytest.mark.xdist_group("e2e")
def test_decay_train_model_on_simulated_features_matches_pred_contrib(small_world) -> None:
    """The routed model decay-train fits (project model config: categorical segments and
    maturity_stage, NaN features) explained through ``explain(..., "woodelf")``."""
    from models.split import time_split
    from models.train import fit_routed

    cfg = load_config(
        [*small_world.overrides, "model.min_segment_rows=300", "model.min_segment_positives=10"]
    )
    dataset = pl.read_parquet(small_world.output_dir / "dataset.parquet")
    model, _ = fit_routed(time_split(dataset, cfg), cfg)
    cat_features = set(model.categorical_features)
    assert {"size_tier", "maturity_stage"} <= cat_features
    X = model.to_matrix(dataset)
    assert np.isnan(X).any()
    some_cat_split = False
    for m in model.models.values():
        assert woodelf_lgb.unsupported_reason(m.booster) is None
        some_cat_split |= (m.booster.trees_to_dataframe()["decision_type"] == "==").any()
    assert some_cat_split
    contrib, base = explain(model, dataset, "woodelf", chunk_rows=3000, n_jobs=2)
    ref, ref_base = explain(model, dataset, "pred_contrib")
    assert np.abs(contrib - ref).max() <= TOL
    np.testing.assert_allclose(base, ref_base, atol=1e-12)
    np.testing.assert_allclose(contrib.sum(1) + base, model.predict_raw(dataset), atol=TOL)
