"""A tracking-plan export (tracks + groups) runs features -> train -> score by config alone.

The sample script (``testlogs.tracking_plan``) writes a small simulated world twice: as its
canonical tables and as the tracks/groups a tracker would have sent. The mapping
(``ingest.layouts``) must give back exactly the canonical events, users and accounts, and the
features built from the export must equal those built from the canonical parquet files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from core.config import load_config
from ingest.load import load_tables
from testlogs import tracking_plan

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tracking_plan")]

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "events": ["user_id", "timestamp", "event"],
    "users": ["user_id"],
    "accounts": ["account_id"],
}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tracking_plan")
    paths = tracking_plan.write(out / "data", accounts=250, days=330, seed=5)
    assert {"tracks", "groups", "canonical_events", "readme"} <= set(paths)
    return out


def common(out: Path, name: str) -> list[str]:
    return [
        f"output.dir={out / name}",
        f"mlflow.tracking_uri=sqlite:///{out}/mlruns/mlflow.db",
        f"mlflow.artifact_location={out}/mlruns/artifacts",
        f"model.name={name}",
        "snapshot.count=20",
        "backtest.origins=1",
        "model.params.num_threads=1",
        f"hydra.run.dir={out}/logs/{name}",
    ]


def run(step: str, *overrides: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", f"pipelines.{step}", *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"{step}: {proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def test_the_sample_is_deterministic(tmp_path: Path, export: Path) -> None:
    again = tracking_plan.write(tmp_path, accounts=250, days=330, seed=5)
    for name in ("tracks", "groups"):
        assert_frame_equal(
            pl.read_parquet(again[name]), pl.read_parquet(export / "data" / f"{name}.parquet")
        )


def test_the_derived_tables_are_the_canonical_ones(export: Path, tmp_path: Path) -> None:
    data = export / "data"
    derived = load_tables(load_config(["data=tracking_plan", f"data.dir={data}"]), tmp_path / "q1")
    canonical = load_tables(
        load_config([f"data.dir={data / 'canonical'}", "data.truth=null"]), tmp_path / "q2"
    )
    assert not (tmp_path / "q1").exists() or not any((tmp_path / "q1").iterdir())
    for name, key in KEYS.items():
        want = getattr(canonical, name)
        got = getattr(derived, name)
        assert sorted(got.columns) == sorted(want.columns), name
        assert_frame_equal(got.select(want.columns).sort(key), want.sort(key))
    assert derived.segments == canonical.segments == ["industry", "size_tier", "use_case"]
    assert derived.observed_until == canonical.observed_until


def test_features_train_and_score_by_config_alone_match_the_canonical_files(export: Path) -> None:
    data = export / "data"
    plan = ["data=tracking_plan", f"data.dir={data}", *common(export, "plan")]
    for step in ("features", "train", "score"):
        run(step, *plan)
    run("features", f"data.dir={data / 'canonical'}", "data.truth=null", *common(export, "canon"))

    got = pl.read_parquet(export / "plan" / "dataset.parquet")
    want = pl.read_parquet(export / "canon" / "dataset.parquet")
    assert got.height > 1000 and got["label"].is_not_null().sum() > 100
    assert got.columns == want.columns
    # the traits reached the features: roles and deactivations (users), seats, renewal (accounts)
    for column in ("active_admins_28d", "admins_left_28d", "share_of_seats_active_28d"):
        assert column in got.columns
    assert "days_to_renewal" in got.columns and "industry" in got.columns
    key = ["account_id", "cutoff"]
    assert_frame_equal(got.sort(key), want.sort(key), check_exact=False, rel_tol=1e-9)
    scores = pl.read_parquet(export / "plan" / "scores" / "as_of=2026-11-01" / "scores.parquet")
    assert scores.height > 100 and scores["decay_risk"].is_between(0, 1).all()
