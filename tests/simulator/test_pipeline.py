"""`decay-simulate` end to end: real process, real files, read back through ingest."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import load_config
from core.errors import ConfigValueError
from ingest.load import load_tables
from simulator import spec_from_config

ROOT = Path(__file__).resolve().parents[2]


def test_decay_simulate_writes_valid_tables(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cmd = [
        sys.executable,
        "-m",
        "pipelines.simulate",
        "simulate.accounts=30",
        "simulate.days=120",
        "simulate.oracle_replays=10",
        f"data.dir={data}",
        f"output.dir={tmp_path / 'out'}",
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "accounts: 30" in done.stdout and "causes" in done.stdout
    for name in ("events", "users", "accounts", "truth"):
        assert (data / f"{name}.parquet").exists()
    cfg = load_config([f"data.dir={data}", "data.on_error=fail"])
    tables = load_tables(cfg, tmp_path / "quarantine", now=datetime(2026, 11, 23, tzinfo=UTC))
    assert tables.accounts is not None and tables.accounts.height == 30
    assert tables.observed_until <= datetime(2026, 11, 1, tzinfo=UTC)


def test_spec_follows_config_and_rejects_a_label_without_login() -> None:
    spec = spec_from_config(
        load_config(["simulate.accounts=77", "seed=5", "snapshot.count=3", "label.horizon_days=21"])
    )
    assert (spec.accounts, spec.seed, spec.label.horizon_days) == (77, 5, 21)
    assert [str(c) for c in spec.cutoffs] == ["2026-10-18", "2026-10-25", "2026-11-01"]
    with pytest.raises(ConfigValueError, match="login"):
        spec_from_config(load_config(["label.excluded_events=[login]"]))
    with pytest.raises(ConfigValueError, match=r"simulate\.accounts"):
        spec_from_config(load_config(["simulate.accounts=0"]))
