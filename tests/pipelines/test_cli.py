"""The console scripts as a scheduler sees them: installed entry points, exit codes, messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "script",
    ["decay-simulate", "decay-features", "decay-train", "decay-tune", "decay-score", "decay-run"],
)
def test_console_scripts_are_installed_and_find_their_config(script: str, tmp_path: Path) -> None:
    # Run from an unrelated folder: the entry point must still find conf/.
    proc = subprocess.run(
        [str(BIN / script), "--cfg", "job", "--package", "snapshot"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "every_days: null" in proc.stdout  # null: the cutoff cadence comes from the data


def test_a_typo_in_an_override_fails_at_start_up_naming_the_key(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "decay-features"), "label.horizon_dayz=3", f"output.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2  # the documented config exit code, not Hydra's 1
    assert "horizon_dayz" in proc.stderr
    assert not (tmp_path / "dataset.parquet").exists()


def test_a_wrongly_typed_value_fails_at_start_up(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "decay-features"), "snapshot.every_days=weekly", f"output.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "every_days" in proc.stderr


def test_decay_run_rejects_unknown_steps_with_the_config_exit_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(BIN / "decay-run"),
            "run.steps=[features,deploy]",
            f"output.dir={tmp_path}",
            f"hydra.run.dir={tmp_path}/logs",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "deploy" in proc.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("e2e")
def test_decay_run_end_to_end_on_a_small_world(small_world) -> None:
    """The main job: reuses the simulated data and dataset, tunes, trains, promotes, scores."""
    proc = small_world.run("run", "tune.n_trials=2", "backtest.origins=1")
    out = small_world.output_dir
    assert "CSM report:" in proc.stdout
    assert "skipping simulate" in proc.stderr + proc.stdout
    metrics = json.loads((out / "train" / "metrics.json").read_text())
    assert 0.5 < metrics["roc_auc"] <= 1.0
    assert 0.0 < metrics["oracle_roc_auc"] <= 1.0
    best = json.loads((out / "tune" / "best_params.json").read_text())
    assert best, "tuning wrote no best parameters"
    as_of = out / "scores" / "as_of=2026-11-01"
    scores = pl.read_parquet(as_of / "scores.parquet")
    assert scores.height > 0
    assert scores["decay_risk"].is_between(0, 1).all()
    assert sorted(scores["rank"].to_list()) == list(range(1, scores.height + 1))
    assert (as_of / "report" / "index.html").exists()
    assert len(list((as_of / "report" / "accounts").glob("*.html"))) == scores.height


@pytest.mark.slow
@pytest.mark.xdist_group("e2e")
def test_a_foreign_csv_event_log_alone_runs_end_to_end_by_config(
    small_world, tmp_path: Path
) -> None:
    """Someone else's schema: events only, as CSV files in a folder, other column names and a
    naive local time zone — features, training and scoring by configuration alone."""
    events = pl.read_parquet(small_world.data_dir / "events.parquet")
    foreign = events.select(
        pl.col("account_id").alias("company"),
        pl.col("user_id").alias("who"),
        pl.col("event").alias("action"),
        pl.col("timestamp")
        .dt.convert_time_zone("America/New_York")
        .dt.replace_time_zone(None)
        .dt.strftime("%Y-%m-%d %H:%M:%S")
        .alias("occurred_at"),
    )
    src = tmp_path / "export"
    src.mkdir()
    half = foreign.height // 2
    foreign.head(half).write_csv(src / "part-1.csv")
    foreign.tail(foreign.height - half).write_csv(src / "part-2.csv")
    out = tmp_path / "out"
    common = [
        f"data.events={src}",
        "data.users=null",
        "data.accounts=null",
        "data.truth=null",
        "data.segments=[]",
        "data.columns.account_id=company",
        "data.columns.user_id=who",
        "data.columns.event=action",
        "data.columns.timestamp=occurred_at",
        "data.timezone=America/New_York",
        f"output.dir={out}",
        f"mlflow.tracking_uri=sqlite:///{tmp_path}/mlruns/mlflow.db",
        f"mlflow.artifact_location={tmp_path}/mlruns/artifacts",
        "model.name=foreign-log",
        "snapshot.count=30",
        "backtest.origins=1",
        f"hydra.run.dir={tmp_path}/logs",
    ]
    for step in ("features", "train", "score"):
        proc = subprocess.run(
            [sys.executable, "-m", f"pipelines.{step}", *common],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"{step}: {proc.stderr[-3000:]}"
    dataset = pl.read_parquet(out / "dataset.parquet")
    assert dataset.height > 0 and "size_tier" not in dataset.columns
    assert not any(c.startswith("active_admins") for c in dataset.columns)  # no users table
    assert not (out / "quarantine").exists()  # every row of the CSV export was valid
    scores = pl.read_parquet(out / "scores" / "as_of=2026-11-01" / "scores.parquet")
    assert scores.height > 0 and scores["decay_risk"].is_between(0, 1).all()


def test_a_bad_choice_inside_the_job_also_exits_2(tmp_path: Path) -> None:
    # checked by the job before any data is read (no data needed for this test)
    proc = subprocess.run(
        [
            str(BIN / "decay-train"),
            "model.params=bestest",
            f"output.dir={tmp_path}",
            f"data.dir={tmp_path}/none",
            f"hydra.run.dir={tmp_path}/logs",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "bestest" in proc.stderr
