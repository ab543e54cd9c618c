"""Training: routing and fallback, auto choices, determinism, persistence, contributions, results.

Real LightGBM on the small synthetic dataset of conftest (a few dozen boosting rounds)."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import polars as pl
import pytest

from core.errors import DataValidationError
from models.router import GLOBAL, RoutedModel
from models.split import time_split
from models.train import baseline_warnings, feature_columns, fit_booster, fit_routed, train_models
from scoring.drift import TRAINING_STATS_KEY, feature_psi

from .conftest import make_dataset, small_cfg

FIGURES = {
    "roc",
    "pr",
    "calibration",
    "lift",
    "shap_importance",
    "shap_importance_ent",
    "shap_importance_mid",
    "shap_importance_smb",
    "backtest",
}


@pytest.fixture(scope="module")
def split(dataset):
    return time_split(dataset, small_cfg())


@pytest.fixture(scope="module")
def auto(split):
    return fit_routed(split, small_cfg("model.strategy=auto"))


@pytest.fixture(scope="module")
def result(dataset):
    test_rows = dataset.filter(pl.col("label").is_not_null())
    truth = test_rows.select(
        "account_id", "cutoff", (pl.col("label").cast(pl.Float64) * 0.8 + 0.1).alias("oracle_prob")
    )
    return train_models(dataset, small_cfg(), truth=truth)


def test_feature_columns_and_bad_dtype_named(dataset) -> None:
    features, categorical = feature_columns(dataset, small_cfg())
    assert features == [
        "industry",
        "size_tier",
        "maturity_stage",
        "x1",
        "x2",
        "active_users_trend_ratio",
        "noise",
    ]
    assert categorical == ["industry", "size_tier", "maturity_stage"]
    bad = dataset.with_columns(pl.lit(date(2026, 1, 1)).alias("signup_day"))
    with pytest.raises(DataValidationError, match="'signup_day' has dtype Date"):
        feature_columns(bad, small_cfg())


def test_auto_keeps_per_segment_winner_and_records_both_scores(auto) -> None:
    model, details = auto
    assert set(details) == {"ent", "mid", "smb"}
    assert details["ent"]["serves"] == "global"
    assert "180 training rows < model.min_segment_rows=300" in details["ent"]["reason"]
    assert "validation_segment" not in details["ent"]
    for seg in ("mid", "smb"):
        d = details[seg]
        seg_score, glob_score = d["validation_segment"], d["validation_global"]
        assert d["serves"] == ("segment" if seg_score > glob_score else "global")
        assert model.routes[seg] == (seg if d["serves"] == "segment" else GLOBAL)
        assert (seg in model.models) == (d["serves"] == "segment")
    # the smb signal differs from the rest: its own model wins on this data
    assert details["smb"]["serves"] == "segment"
    assert model.metadata["choices"] == details


def test_per_segment_routes_rows_to_their_booster_and_tiny_segments_to_global(split) -> None:
    model, details = fit_routed(split, small_cfg("model.strategy=per_segment"))
    assert {s: d["serves"] for s, d in details.items()} == {
        "ent": "global",
        "mid": "segment",
        "smb": "segment",
    }
    assert sorted(model.models) == [GLOBAL, "mid", "smb"]
    test = split.test.with_columns(
        pl.when(pl.col("account_id") == "a0000")
        .then(pl.lit("xl"))  # unseen segment
        .otherwise(pl.col("size_tier"))
        .alias("size_tier")
    )
    raw = model.predict_raw(test)
    X = model.to_matrix(test)
    seg = test.get_column("size_tier").to_numpy()
    for key, rows in (
        (GLOBAL, (seg == "ent") | (seg == "xl")),
        ("mid", seg == "mid"),
        ("smb", seg == "smb"),
    ):
        assert rows.any()
        np.testing.assert_array_equal(
            raw[rows], model.models[key].booster.predict(X[rows], raw_score=True)
        )


def test_min_segment_positives_forces_fallback(split) -> None:
    _, details = fit_routed(
        split, small_cfg("model.strategy=per_segment", "model.min_segment_positives=100000")
    )
    assert {d["serves"] for d in details.values()} == {"global"}
    assert "model.min_segment_positives=100000" in details["smb"]["reason"]


def test_global_strategy_and_missing_segment_key(split) -> None:
    model, details = fit_routed(split, small_cfg("model.strategy=global"))
    assert list(model.models) == [GLOBAL]
    assert {d["reason"] for d in details.values()} == {"model.strategy=global"}
    no_key = time_split(make_dataset().drop("size_tier"), small_cfg())
    model, details = fit_routed(no_key, small_cfg())
    assert model.segment_key is None and details == {} and list(model.models) == [GLOBAL]
    model, details = fit_routed(split, small_cfg("model.segment_key=null"))
    assert model.segment_key is None and details == {}


def test_same_seed_identical_predictions_other_seed_differs(split, auto) -> None:
    again, _ = fit_routed(split, small_cfg("model.strategy=auto"))
    np.testing.assert_array_equal(
        auto[0].predict_proba(split.test), again.predict_proba(split.test)
    )
    other, _ = fit_routed(split, small_cfg("model.strategy=auto", "seed=7"))
    assert not np.array_equal(auto[0].predict_raw(split.test), other.predict_raw(split.test))


def test_save_load_roundtrip(auto, split, tmp_path) -> None:
    model = auto[0]
    loaded = RoutedModel.load(model.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict_proba(split.test), model.predict_proba(split.test))
    c1, b1 = model.contributions(split.test)
    c2, b2 = loaded.contributions(split.test)
    np.testing.assert_allclose(c1, c2)
    np.testing.assert_allclose(b1, b2)
    assert loaded.routes == model.routes
    assert loaded.metadata["features"] == model.feature_names


def test_contributions_add_up_to_raw_score(auto, split) -> None:
    model = auto[0]
    contrib, base = model.contributions(split.test)
    assert contrib.shape == (split.test.height, len(model.feature_names))
    np.testing.assert_allclose(
        contrib.sum(axis=1) + base, model.predict_raw(split.test), rtol=1e-9, atol=1e-9
    )


def test_probabilities_are_calibrated_into_unit_interval(auto, split) -> None:
    model = auto[0]
    p = model.predict_proba(split.validation)
    assert ((p >= 0) & (p <= 1)).all()
    # isotonic fit on validation scores of the train-only booster; the tested booster is then
    # refit on train + validation (model.fit_on_validation), so its calibrated probabilities
    # reproduce the validation base rate closely, not exactly
    g = model.models[GLOBAL]
    p_global = g.calibrator(g.booster.predict(model.to_matrix(split.validation), raw_score=True))
    assert p_global.mean() == pytest.approx(split.validation.get_column("label").mean(), abs=0.03)
    smb = split.validation.filter(pl.col("size_tier") == "smb")
    assert model.predict_proba(smb).mean() == pytest.approx(
        smb.get_column("label").mean(), abs=0.03
    )


def test_calibrator_is_exact_on_its_own_rows_without_the_validation_refit(split) -> None:
    # isotonic fit on validation reproduces the validation base rate of the rows it was fit on
    # (up to the tie-break tilt of at most 1e-4)
    model, _ = fit_routed(
        split, small_cfg("model.fit_on_validation=false", "model.strategy=global")
    )
    g = model.models[GLOBAL]
    p_global = g.calibrator(g.booster.predict(model.to_matrix(split.validation), raw_score=True))
    assert p_global.mean() == pytest.approx(split.validation.get_column("label").mean(), abs=1e-4)


def test_metadata_holds_what_scoring_needs(auto, split) -> None:
    model = auto[0]
    md = model.metadata
    numeric = ["x1", "x2", "active_users_trend_ratio", "noise"]
    assert md["features"] == model.feature_names
    assert sorted(md[TRAINING_STATS_KEY]) == sorted(numeric)
    for stats in md[TRAINING_STATS_KEY].values():
        assert sum(stats["proportions"]) == pytest.approx(1.0)
    assert md["base_rate"] == pytest.approx(split.train.get_column("label").mean())
    assert md["split"] == split.describe()
    assert md["segment_key"] == "size_tier" and md["calibration"] == "isotonic"
    assert md["params"]["seed"] == 42 and md["params"]["deterministic"] is True
    # training rows compared with themselves do not drift
    psi = feature_psi(split.train, md[TRAINING_STATS_KEY])
    assert psi.get_column("psi").max() == pytest.approx(0.0, abs=1e-12)
    json.dumps(md)


def test_class_imbalance_weight_and_callbacks(split) -> None:
    cfg = small_cfg()
    features, categorical = feature_columns(split.train, cfg)
    seen: list[int] = []
    booster = fit_booster(
        split.train,
        split.validation,
        features,
        categorical,
        {},
        cfg,
        callbacks=[lambda env: seen.append(env.iteration)],
    )
    y = split.train.get_column("label").to_numpy()
    assert booster.params["scale_pos_weight"] == pytest.approx((y == 0).sum() / y.sum())
    assert seen and seen[0] == 0
    assert "validation" in booster.best_score
    plain = fit_booster(
        split.train,
        split.validation,
        features,
        categorical,
        {},
        small_cfg("model.calibration=none"),
    )
    assert "scale_pos_weight" not in plain.params


def test_train_models_result(result, dataset) -> None:
    m = result.metrics
    assert set(result.figures) == FIGURES
    assert result.test_scores.columns == ["account_id", "cutoff", "size_tier", "label", "score"]
    assert result.test_scores.height == result.split["rows"]["test"] == 600
    assert result.split["test"] == ["2025-06-23", "2025-07-14"]
    assert result.choices == {s: d["serves"] for s, d in m["choices"].items()}
    assert set(m["per_segment"]) == {"ent", "mid", "smb"}
    assert set(m["baselines"]) == {"logistic", "heuristic"}
    assert m["baselines"]["heuristic"]["feature"] == "active_users_trend_ratio"
    # the learnable signal is found and beats both baselines on this data
    assert m["roc_auc"] > 0.75
    assert m["roc_auc"] > m["baselines"]["logistic"]["roc_auc"]
    assert m["pr_auc"] > m["baselines"]["heuristic"]["pr_auc"]
    assert result.warnings == []
    # perfect oracle: oracle AUC 1 and the ratio is the model's own AUC
    assert m["oracle_roc_auc"] == 1.0 and m["auc_ratio_to_oracle"] == pytest.approx(m["roc_auc"])
    # backtest: oldest origin first, the last one is the main split
    assert [b["origin_index"] for b in m["backtest"]] == [1, 0]
    assert m["backtest"][1]["roc_auc"] == m["roc_auc"]
    assert m["backtest"][0]["test"][1] < m["backtest"][1]["test"][0]
    assert m["backtest_stability"]["origins"] == 2
    json.dumps(m)


def test_warns_loudly_when_a_baseline_is_not_beaten(caplog) -> None:
    ds = make_dataset(n_accounts=100, n_cutoffs=24)
    # the heuristic feature *is* the label: LightGBM can at best tie it
    ds = ds.with_columns(
        (1.0 - pl.col("label").cast(pl.Float64).fill_null(0.0)).alias("active_users_trend_ratio")
    )
    with caplog.at_level("WARNING", logger="adoption_decay"):
        res = train_models(ds, small_cfg("backtest.origins=1", "model.strategy=global"))
    assert any("heuristic baseline on test pr_auc" in w for w in res.warnings)
    assert any("does not beat the heuristic" in r.message for r in caplog.records)


def test_baseline_warnings_exact() -> None:
    w = baseline_warnings(
        {"roc_auc": 0.8, "pr_auc": 0.5},
        {"logistic": {"roc_auc": 0.7, "pr_auc": 0.5}, "heuristic": {"skipped": "no feature"}},
    )
    assert w == ["LightGBM does not beat the logistic baseline on test pr_auc: 0.5000 vs 0.5000"]
