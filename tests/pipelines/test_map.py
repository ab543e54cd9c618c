"""`decay-map` end to end: the real command on a small simulated world, and by config alone on a
log that has no accounts table, no milestones and no segments (the map says what it could not do)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import testlogs
from core.config import load_config

pytestmark = pytest.mark.slow


@pytest.mark.xdist_group("e2e")
def test_decay_map_writes_tables_pages_and_an_mlflow_run(small_world) -> None:
    from mlflow import MlflowClient

    proc = small_world.run("map")
    out = small_world.output_dir / "map"
    assert "adoption map:" in proc.stdout
    findings = pl.read_parquet(out / "findings.parquet")
    assert findings.height > 0
    ok = findings.filter(pl.col("status") == "ok")
    # Every reported estimate carries its interval and its support.
    assert ok["rd_low"].le(ok["risk_difference"]).all()
    assert ok["risk_difference"].le(ok["rd_high"]).all()
    assert ok["n_did"].ge(10).all() and ok["n_not"].ge(10).all()
    assert ok["q_value"].ge(ok["p_value"] - 1e-12).all()  # BH never lowers a p-value
    ttv = pl.read_parquet(out / "time_to_value.parquet")
    assert set(ttv["milestone"]) >= {"first_workflow"}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["entity_plural"] == "accounts"
    pages = {p.name for p in out.glob("*.html")}
    assert "index.html" in pages
    assert any(p.startswith("segment-") for p in pages)
    assert any(p.startswith("milestone-") for p in pages)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "goes with" in index.lower() or "go with" in index.lower()
    client = MlflowClient(small_world.tracking_uri)
    exp = client.get_experiment_by_name("adoption-decay")
    runs = client.search_runs([exp.experiment_id], "tags.job = 'map'")
    assert runs, "no MLflow run tagged job=map"
    assert runs[0].data.metrics["findings"] == findings.height
    # Idempotent: a second run replaces the folder whole and gives the same findings.
    small_world.run("map")
    again = pl.read_parquet(out / "findings.parquet")
    assert again.equals(findings)


@pytest.mark.xdist_group("foreign_map")
def test_a_log_without_accounts_or_milestones_gets_a_map_that_says_what_it_could_not_do(
    tmp_path: Path,
) -> None:
    from pipelines.map import map_job

    testlogs.write("purchases", tmp_path / "data", seed=3, n=400)
    overrides = json.loads((tmp_path / "data" / "README.json").read_text())["suggested_config"][
        "overrides"
    ]
    cfg = load_config(
        [
            *overrides,
            f"output.dir={tmp_path}/out",
            f"mlflow.tracking_uri=sqlite:///{tmp_path}/mlruns/mlflow.db",
            f"mlflow.artifact_location={tmp_path}/mlruns/artifacts",
            "features.milestones=[]",
        ]
    )
    out = map_job(cfg)
    assert out["notes"], "the map should say what this log could not support"
    index = (out["dir"] / "index.html").read_text(encoding="utf-8")
    assert "could not" in index.lower()
    assert "workflow" not in index.lower()  # the demo's words never leak into a foreign log
    # The demo's key events are not in this log: its own event types are the candidates.
    findings = pl.read_parquet(out["dir"] / "findings.parquet")
    assert findings.height > 0
    # (a log without an event column: every row is data.default_event)
    assert set(findings["item"]) <= {str(cfg.data.default_event), "users", "roles"}
