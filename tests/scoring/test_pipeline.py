"""`decay-score` end to end on real files: simulated tables, a real decay-train champion in a
real MLflow (SQLite) store, atomic outputs, change since last run and the error exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import polars as pl
import pytest

from core.cli import job
from core.config import load_config
from pipelines.score import score_job
from tests.conftest import TINY_WORLD

# Module-scoped fixtures are built once: keep these tests on one xdist worker.
pytestmark = pytest.mark.xdist_group("score_world")

AS_OF = "2026-10-25"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Simulated data + a trained, registered champion (in-process decay-simulate/-train)."""
    from pipelines.simulate import write_simulation
    from pipelines.train import train_job
    from simulator import simulate, spec_from_config

    root = tmp_path_factory.mktemp("score_world")
    base = [
        f"data.dir={root}/data",
        f"output.dir={root}/out",
        f"mlflow.tracking_uri=sqlite:///{root}/mlruns/mlflow.db",
        f"mlflow.artifact_location={root}/mlruns/artifacts",
        *TINY_WORLD,
    ]
    cfg = load_config(base)
    write_simulation(simulate(spec_from_config(cfg)), cfg.data.dir)
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    train_job(cfg)
    yield {"root": root, "base": base}
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


def _cfg(world: dict[str, Any], *extra: str) -> Any:
    return load_config([*world["base"], f"snapshot.as_of={AS_OF}", "score.report=false", *extra])


def _run_dir(world: dict[str, Any], as_of: str = AS_OF) -> Path:
    return world["root"] / "out" / "scores" / f"as_of={as_of}"


def test_scores_every_eligible_account_and_writes_all_outputs(world) -> None:
    out = score_job(_cfg(world, "score.report=true"))
    d = out["dir"]
    scores = pl.read_parquet(d / "scores.parquet")
    crm = pl.read_csv(d / "scores.csv")
    expl = pl.read_parquet(d / "explanations.parquet")
    assert scores.height == crm.height == out["n_accounts"] > 0
    assert scores["account_id"].n_unique() == scores.height
    assert sorted(scores["rank"].to_list()) == list(range(1, scores.height + 1))
    assert scores["decay_risk"].is_between(0, 1).all()
    assert scores["model_version"].unique().to_list() == ["1"]
    assert set(expl["account_id"]) <= set(scores["account_id"])
    assert expl["sentence"].null_count() == 0
    usage = pl.read_parquet(d / "usage.parquet")
    assert usage.height == 12 * scores.height
    ms = pl.read_parquet(d / "milestones.parquet")
    assert set(ms["status"]) <= {"reached", "late", "missing", "pending"}
    meta = json.loads((d / "meta.json").read_text())
    assert meta["n_accounts"] == scores.height and meta["as_of"] == AS_OF
    assert (d / "report" / "index.html").exists()
    run = mlflow.get_run(out["run_id"])
    assert run.data.tags["job"] == "score"
    assert run.data.metrics["n_accounts"] == scores.height
    assert any(k.startswith("psi.") for k in run.data.metrics)
    assert run.data.tags["drift.warn"] in ("true", "false")


def test_rerun_replaces_the_folder_whole_and_change_uses_previous_run(world) -> None:
    earlier = "2026-10-18"
    first = score_job(_cfg(world, f"snapshot.as_of={earlier}"))
    prev = pl.read_parquet(first["dir"] / "scores.parquet")
    score_job(_cfg(world))
    stale = _run_dir(world) / "stale.txt"
    stale.write_text("from an older run")
    score_job(_cfg(world))
    assert not stale.exists()
    now = pl.read_parquet(_run_dir(world) / "scores.parquet")
    both = now.join(prev.select("account_id", pl.col("decay_risk").alias("old")), on="account_id")
    assert both.height > 0
    assert (both["previous_risk"] == both["old"]).all()
    assert ((both["risk_change"] - (both["decay_risk"] - both["old"])).abs() < 1e-12).all()
    hist = pl.read_parquet(_run_dir(world) / "history.parquet")
    assert set(hist["as_of"].cast(pl.String)) >= {earlier, AS_OF}


def _exit_code(cfg: Any, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as err:
        job(score_job)(cfg)
    return int(err.value.code), capsys.readouterr().err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*")) if p.is_file()}


def test_schema_error_exits_3_and_leaves_previous_outputs(world, capsys) -> None:
    score_job(_cfg(world))
    before = _snapshot(_run_dir(world))
    bad = world["root"] / "bad_events.parquet"
    pl.read_parquet(world["root"] / "data" / "events.parquet").drop("timestamp").write_parquet(bad)
    code, err = _exit_code(_cfg(world, f"data.events={bad}"), capsys)
    assert code == 3
    assert "timestamp" in err
    assert _snapshot(_run_dir(world)) == before


def test_no_champion_exits_4_with_what_to_do(world, tmp_path, capsys) -> None:
    code, err = _exit_code(
        _cfg(world, f"mlflow.tracking_uri=sqlite:///{tmp_path}/empty.db"), capsys
    )
    assert code == 4
    assert "run decay-train first" in err


def test_no_eligible_accounts_exits_5(world, capsys) -> None:
    code, err = _exit_code(_cfg(world, "snapshot.as_of=2025-01-01"), capsys)
    assert code == 5
    assert "no eligible accounts" in err
    assert not _run_dir(world, "2025-01-01").exists()
