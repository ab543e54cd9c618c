"""The retraining policy (tracking/policy.py): the pure rule on hand-made facts, the drift summary
on a hand-made drift table, and reading the facts from a real MLflow store and scores folder."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import mlflow
import polars as pl
import pytest
from mlflow import MlflowClient

from core.config import TrainPolicy, load_config
from tracking.policy import (
    Decision,
    Drift,
    Facts,
    Version,
    decide,
    drift_summary,
    read_drift,
    read_versions,
    train_decision,
)

AS_OF = date(2026, 11, 1)


def _drift(share_of: tuple[int, int], max_psi: float = 0.3, version: str | None = "3") -> Drift:
    drifted, features = share_of
    return Drift(date(2026, 10, 25), version, features, drifted, max_psi, "x")


def _facts(champion_as_of: date | None = date(2026, 10, 1), **kw) -> Facts:
    return Facts(AS_OF, Version("3", champion_as_of), **kw)


# -- the rule ----------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", list(TrainPolicy))
def test_no_champion_trains_whatever_the_policy(policy: TrainPolicy) -> None:
    decision = decide(policy, Facts(AS_OF, None))
    assert decision.train
    assert decision.reason == ("train.policy=always" if policy == "always" else "no champion yet")


def test_always_trains_even_a_fresh_champion() -> None:
    assert decide("always", _facts(AS_OF)) == Decision(True, "train.policy=always")


def test_every_days_counts_data_days_from_the_champions_as_of() -> None:
    # 2026-10-04 -> 2026-11-01 is 28 days: old enough; one day later is not.
    old = decide("every_days", _facts(date(2026, 10, 4)), every_days=28)
    young = decide("every_days", _facts(date(2026, 10, 5)), every_days=28)
    assert old.train and "is 28 days old >= train.every_days=28" in old.reason
    assert not young.train and "is 27 days old < train.every_days=28" in young.reason


def test_a_champion_without_a_recorded_as_of_is_too_old() -> None:
    decision = decide("every_days", _facts(None))
    assert decision.train and "no recorded snapshot.as_of" in decision.reason


@pytest.mark.parametrize("policy", ["every_days", "drift", "every_days_or_drift"])
def test_a_version_trained_at_this_as_of_or_later_is_not_retrained(policy: str) -> None:
    # The re-run of one as_of, and a backfill of an earlier one: the champion stays.
    for champion_as_of in (AS_OF, date(2026, 11, 8)):
        decision = decide(policy, _facts(champion_as_of, drift=_drift((9, 10))), every_days=1)
        assert not decision.train
        assert "v3 (champion) was already trained at as_of" in decision.reason


def test_a_challenger_the_gate_kept_out_is_not_retrained_for_the_same_as_of() -> None:
    facts = _facts(date(2026, 9, 1), challenger=Version("4", AS_OF), drift=_drift((9, 10)))
    decision = decide("every_days_or_drift", facts, every_days=28)
    assert not decision.train
    assert decision.reason.startswith("v4 (challenger (not promoted)) was already trained")


def test_drift_share_is_a_strict_threshold_on_the_compared_features() -> None:
    at = decide("drift", _facts(drift=_drift((2, 10))), drift_share=0.2)
    above = decide("drift", _facts(drift=_drift((3, 10))), drift_share=0.2)
    assert not at.train and "2/10 features drifted (20%)" in at.reason
    assert above.train and above.reason.endswith("> train.drift_share=0.2")


def test_drift_psi_looks_at_the_largest_psi_and_null_switches_a_threshold_off() -> None:
    facts = _facts(drift=_drift((0, 10), max_psi=0.8))
    assert decide("drift", facts, drift_share=0.2, drift_psi=0.5).train
    assert not decide("drift", facts, drift_share=0.2, drift_psi=None).train
    assert not decide("drift", _facts(drift=_drift((9, 10))), drift_share=None).train


def test_drift_measured_against_another_version_is_not_evidence() -> None:
    decision = decide("drift", _facts(drift=_drift((9, 10), version="2")))
    assert not decision.train
    assert "scored by v2, not by champion v3" in decision.reason


def test_no_earlier_scoring_run_means_no_drift_retrain() -> None:
    decision = decide("drift", _facts(drift=None))
    assert decision == Decision(False, "no earlier scoring run to read drift from")


def test_every_days_or_drift_trains_on_either_and_names_every_reason_otherwise() -> None:
    young = date(2026, 10, 20)
    assert decide("every_days_or_drift", _facts(young, drift=_drift((5, 10)))).train
    assert decide("every_days_or_drift", _facts(date(2026, 9, 1), drift=None)).train
    calm = decide("every_days_or_drift", _facts(young, drift=_drift((1, 10))))
    assert not calm.train
    assert "12 days old < train.every_days=28" in calm.reason
    assert "within train.drift_share/drift_psi" in calm.reason


# -- the drift table ---------------------------------------------------------------------------
def _drift_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "feature": ["tenure_days", "a", "b", "c", "d"],
            "psi": [1.5, 0.4, 0.25, 0.1, 0.0],
            "grows_with_time": [True, False, False, False, False],
            "drifted": [False, True, True, False, False],
        }
    )


def test_drift_summary_leaves_out_features_that_grow_with_time() -> None:
    d = drift_summary(_drift_table(), date(2026, 10, 25), "3")
    assert (d.features, d.drifted, d.max_psi, d.max_feature) == (4, 2, 0.4, "a")
    assert d.share == 0.5


def test_read_drift_reads_a_scoring_run_folder(tmp_path: Path) -> None:
    folder = tmp_path / "scores" / "as_of=2026-10-25"
    assert read_drift(None) is None and read_drift(folder) is None
    folder.mkdir(parents=True)
    _drift_table().write_parquet(folder / "drift.parquet")
    (folder / "meta.json").write_text(json.dumps({"as_of": "2026-10-25", "model_version": "3"}))
    d = read_drift(folder)
    assert d == Drift(date(2026, 10, 25), "3", 4, 2, 0.4, "a")


# -- the registry (a real MLflow store) --------------------------------------------------------
def _register(name: str, as_of: str | None) -> str:
    with mlflow.start_run() as run:
        if as_of is not None:
            mlflow.log_param("snapshot.as_of", as_of)
        mlflow.log_text("x", "model/placeholder.txt")
    mv = MlflowClient().create_model_version(
        name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    return str(mv.version)


def test_read_versions_and_train_decision_on_a_real_store(
    tmp_path: Path, restore_mlflow_uri: None
) -> None:
    cfg = load_config(
        [
            f"mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
            f"output.dir={tmp_path}/out",
            "model.name=policy-test",
            "train.policy=every_days",
            "train.every_days=28",
        ]
    )
    # A store nothing was ever trained into: no champion, train (and the file is not created).
    assert read_versions(cfg) == (None, None)
    assert train_decision(cfg, AS_OF, None) == Decision(True, "no champion yet")
    assert not (tmp_path / "mlflow.db").exists()

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_registry_uri(f"sqlite:///{tmp_path}/mlflow.db")
    # Its own experiment: an earlier test in this worker may have left another one active.
    mlflow.set_experiment("policy-test")
    client = MlflowClient()
    client.create_registered_model("policy-test")
    v1 = _register("policy-test", "2026-10-20")
    client.set_registered_model_alias("policy-test", "champion", v1)
    client.set_registered_model_alias("policy-test", "challenger", v1)
    assert read_versions(cfg) == (Version(v1, date(2026, 10, 20)), None)
    decision = train_decision(cfg, AS_OF, None)
    assert not decision.train and "12 days old < train.every_days=28" in decision.reason

    v2 = _register("policy-test", "2026-11-01")  # retrained, kept out by the gate
    client.set_registered_model_alias("policy-test", "challenger", v2)
    assert read_versions(cfg) == (
        Version(v1, date(2026, 10, 20)),
        Version(v2, date(2026, 11, 1)),
    )
    assert train_decision(cfg, date(2026, 12, 1), None).train  # v1 is 42 days old
    assert not train_decision(cfg, AS_OF, None).train  # v2 was trained for this as_of
