"""Registry and promotion gate against a real MLflow server and the embedded SQLite store."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

from core.errors import NoModelError
from tracking import registry
from tracking import runs as tracking
from tracking.registry import beats, promotion_score

from .conftest import make_frame, make_model

TRAIN = make_frame(400, seed=0)
TEST = make_frame(300, seed=1)
ALL = ["signal", "noise", "plan"]


def _train_and_register(cfg, model, name: str):
    with tracking.run(cfg, run_name=name) as active:
        info, decision = registry.register_and_promote(model, TEST, cfg, active.info.run_id)
    return active.info.run_id, info, decision


@pytest.mark.server
@pytest.mark.xdist_group("mlflow_server")
def test_gate_promotes_first_keeps_worse_and_promotes_better(
    mlflow_server, cfg_factory, restore_mlflow_uri
):
    name = f"decay-{uuid.uuid4().hex[:6]}"
    cfg = cfg_factory(f"mlflow.tracking_uri={mlflow_server}", f"model.name={name}")
    stump = make_model(TRAIN, ALL, rounds=1, leaves=2)
    noise_only = make_model(TRAIN, ["noise", "plan"], rounds=20)
    strong = make_model(TRAIN, ALL, rounds=30)
    y = TEST.get_column("label").to_numpy()

    _, _, d1 = _train_and_register(cfg, stump, name)
    client = MlflowClient()  # after the run has pointed MLflow at the server
    assert (d1.version, d1.decision, d1.reason) == ("1", "promoted", "no champion yet")
    assert math.isnan(d1.champion_score)
    assert client.get_model_version_by_alias(name, "champion").version == "1"

    run2, _, d2 = _train_and_register(cfg, noise_only, name)
    assert d2.decision == "kept_champion"
    assert d2.champion_version == "1"
    # Both scores are computed on the same 300 test rows, by each model.
    assert d2.n_rows == 300
    assert d2.challenger_score == pytest.approx(
        promotion_score(y, noise_only.predict_proba(TEST), "pr_auc")
    )
    assert d2.champion_score == pytest.approx(
        promotion_score(y, stump.predict_proba(TEST), "pr_auc")
    )
    assert d2.challenger_score < d2.champion_score
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_model_version_by_alias(name, "challenger").version == "2"

    run3, _, d3 = _train_and_register(cfg, strong, name)
    assert (d3.decision, d3.champion_version) == ("promoted", "1")
    assert d3.challenger_score > d3.champion_score
    assert client.get_model_version_by_alias(name, "champion").version == "3"

    # The decision and both scores are on the run and on the model version.
    v2 = client.get_model_version(name, "2")
    assert v2.tags["promotion.decision"] == "kept_champion"
    assert float(v2.tags["promotion.champion_score"]) == pytest.approx(d2.champion_score, abs=1e-6)
    r2 = client.get_run(run2)
    assert r2.data.tags["promotion.decision"] == "kept_champion"
    assert r2.data.metrics["promotion.challenger_score"] == pytest.approx(d2.challenger_score)
    assert r2.data.metrics["promotion.champion_score"] == pytest.approx(d2.champion_score)
    assert client.get_run(run3).data.tags["model.version"] == "3"

    # A real client: load the champion by alias, pandas in, calibrated probabilities out.
    pyfunc_model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    proba = np.asarray(pyfunc_model.predict(TEST.drop("label").to_pandas()))
    np.testing.assert_allclose(proba, strong.predict_proba(TEST), rtol=0, atol=1e-12)
    assert ((proba >= 0) & (proba <= 1)).all()

    # The scoring helper gets the RoutedModel itself back, with its version facts.
    routed, info = registry.load_routed_model(None, cfg)
    assert info["version"] == "3" and info["run_id"] == run3
    assert set(info["aliases"]) >= {"champion", "challenger"}
    assert routed.routes == strong.routes and routed.feature_names == ALL
    np.testing.assert_allclose(routed.predict_proba(TEST), strong.predict_proba(TEST), atol=1e-12)


@pytest.mark.server
@pytest.mark.xdist_group("mlflow_server")
def test_missing_champion_raises_no_model_error(mlflow_server, cfg_factory, restore_mlflow_uri):
    cfg = cfg_factory(f"mlflow.tracking_uri={mlflow_server}", "model.name=never-trained")
    with pytest.raises(NoModelError, match="run decay-train first") as err:
        registry.load_routed_model(None, cfg)
    assert err.value.exit_code == 4


def test_embedded_sqlite_default_needs_no_server(
    tmp_path: Path, monkeypatch, cfg_factory, restore_mlflow_uri
):
    monkeypatch.chdir(tmp_path)
    cfg = cfg_factory()
    assert cfg.mlflow.tracking_uri == "sqlite:///mlruns/mlflow.db"
    model = make_model(TRAIN, ALL, rounds=5)
    run_id, info, decision = _train_and_register(cfg, model, "embedded")

    assert (tmp_path / "mlruns" / "mlflow.db").is_file()
    exp = mlflow.get_experiment_by_name("adoption-decay")
    assert exp.artifact_location == (tmp_path / "mlruns" / "artifacts").resolve().as_uri()
    assert decision.promoted
    # The model files live under the project's artifact folder, readable without a server.
    assert list((tmp_path / "mlruns" / "artifacts").rglob("router.json"))
    routed, meta = registry.load_routed_model("models:/adoption-decay@champion", cfg)
    assert meta["version"] == "1" and meta["run_id"] == run_id
    np.testing.assert_allclose(routed.predict_proba(TEST), model.predict_proba(TEST), atol=1e-12)
    # The pyfunc itself also takes a polars frame.
    wrapper = mlflow.pyfunc.load_model(info.model_uri).unwrap_python_model()
    np.testing.assert_allclose(wrapper.predict(None, TEST), model.predict_proba(TEST), atol=1e-12)


def test_promotion_score_exact_values_and_direction():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    assert promotion_score(y, p, "roc_auc") == pytest.approx(0.75)
    # AP: ranks 0.9(+) 0.6(-) 0.4(+) 0.1(-) -> (1/1 + 2/3) / 2
    assert promotion_score(y, p, "pr_auc") == pytest.approx((1 + 2 / 3) / 2)
    assert promotion_score(y, p, "brier") == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert math.isnan(promotion_score(np.array([1, 1]), np.array([0.2, 0.3]), "pr_auc"))
    assert beats(0.8, 0.7, "pr_auc") and not beats(0.7, 0.7, "pr_auc")
    assert beats(0.1, 0.2, "log_loss") and not beats(0.3, 0.2, "brier")
    assert not beats(float("nan"), 0.2, "roc_auc")


def test_signature_covers_features_and_segment_from_many_rows():
    model = make_model(TRAIN, ALL, rounds=3)
    # 'noise' is null in the first rows only: the signature still types it as double, optional.
    frame = TEST.with_columns(
        pl.when(pl.int_range(pl.len()) < 5).then(None).otherwise(pl.col("noise")).alias("noise")
    )
    signature, example = registry.signature_and_example(model, frame)
    cols = {c.name: c for c in signature.inputs.inputs}
    assert list(cols) == ["signal", "noise", "plan", "size_tier"]
    assert (cols["noise"].type.name, cols["noise"].required) == ("double", False)
    assert (cols["plan"].type.name, cols["size_tier"].type.name) == ("string", "string")
    assert example.shape == (5, 4)


def test_no_local_registry_yet_is_no_model_error(
    tmp_path: Path, monkeypatch, cfg_factory, restore_mlflow_uri
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NoModelError, match="run decay-train first"):
        registry.load_routed_model(None, cfg_factory())
    assert not (tmp_path / "mlruns").exists()  # looking did not create an empty store


def test_a_champion_that_cannot_be_loaded_is_replaced_by_the_new_model(
    tmp_path: Path, monkeypatch, cfg_factory, restore_mlflow_uri
):
    """A champion pickled by an older version whose module has since moved (the real failure
    after a refactor): scoring says so with exit 4 (run decay-train), and the next training's
    gate promotes its model instead of failing on the old one."""
    import sys
    import types

    monkeypatch.chdir(tmp_path)
    cfg = cfg_factory()
    _train_and_register(cfg, make_model(TRAIN, ALL, rounds=5), "v1")
    [pkl] = list((tmp_path / "mlruns" / "artifacts").rglob("python_model.pkl"))
    gone = types.ModuleType("decay_module_that_moved")

    class Old:
        pass

    Old.__module__ = gone.__name__
    Old.__qualname__ = "Old"
    gone.Old = Old  # type: ignore[attr-defined]
    sys.modules[gone.__name__] = gone
    try:
        import pickle

        pkl.write_bytes(pickle.dumps(Old()))
    finally:
        del sys.modules[gone.__name__]
    with pytest.raises(NoModelError, match="cannot be loaded by this version") as err:
        registry.load_routed_model("models:/adoption-decay@champion", cfg)
    assert err.value.exit_code == 4
    assert "decay_module_that_moved" in str(err.value)

    _, _, decision = _train_and_register(cfg, make_model(TRAIN, ALL, rounds=3), "v2")
    assert (decision.decision, decision.champion_version) == ("promoted", "1")
    assert decision.reason.startswith("champion v1 cannot be loaded")
    _, meta = registry.load_routed_model("models:/adoption-decay@champion", cfg)
    assert meta["version"] == "2"
