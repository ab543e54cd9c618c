"""decay-features end to end on tiny real files: the cached dataset and the console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import yaml

from core.config import load_config
from pipelines.common import load_or_build_dataset
from tests.features.helpers import scenario

ROOT = Path(__file__).resolve().parents[2]


def write_data(d: Path) -> None:
    t = scenario()
    d.mkdir(parents=True, exist_ok=True)
    t.events.write_parquet(d / "events.parquet")
    t.users.write_parquet(d / "users.parquet")
    t.accounts.write_parquet(d / "accounts.parquet")


def overrides(tmp: Path) -> list[str]:
    return [
        f"data.dir={tmp / 'data'}",
        "data.truth=null",
        f"output.dir={tmp / 'out'}",
        "snapshot.as_of=2026-03-01",
        "snapshot.count=2",
        "data.observed_until=2026-06-01",
    ]


def test_load_or_build_writes_then_reuses_then_rebuilds(tmp_path):
    write_data(tmp_path / "data")
    cfg = load_config(overrides(tmp_path))
    ds, cat = load_or_build_dataset(cfg)
    out = tmp_path / "out"
    assert pl.read_parquet(out / "dataset.parquet").equals(ds)
    assert yaml.safe_load((out / "feature_catalogue.yaml").read_text()) == cat
    meta = json.loads((out / "dataset.meta.json").read_text())
    assert (
        meta["rows"] == ds.height == 5
    )  # a, b, c at 03-01; a, b at 02-22 (c has no event before 02-22)
    stamp = (out / "dataset.parquet").stat().st_mtime_ns
    ds2, cat2 = load_or_build_dataset(cfg)
    assert (out / "dataset.parquet").stat().st_mtime_ns == stamp and ds2.equals(ds) and cat2 == cat
    cfg3 = load_config([*overrides(tmp_path), "label=inactivity"])
    load_or_build_dataset(cfg3)
    assert json.loads((out / "dataset.meta.json").read_text())["fingerprint"] != meta["fingerprint"]


def test_console_script_writes_dataset_and_prints_summary(tmp_path):
    write_data(tmp_path / "data")
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.features", *overrides(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rows 5 | accounts 3 | cutoffs 2" in proc.stdout
    assert "per size_tier:" in proc.stdout
    assert (tmp_path / "out" / "dataset.parquet").exists()
    assert (tmp_path / "out" / "feature_catalogue.yaml").exists()


def test_console_script_exit_code_when_nothing_is_eligible(tmp_path):
    write_data(tmp_path / "data")
    args = [*overrides(tmp_path), "snapshot.as_of=2020-01-01"]
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.features", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 5, proc.stderr[-2000:]
