"""Two ``decay-run`` calls on one output folder never interleave (core/lock.py, pipelines/run.py).

Real processes on a tiny event log (``run.steps=[features]``). The first run is paused with
SIGSTOP while it holds the lock, so the overlap does not depend on timing: a second run with
``run.lock_wait_seconds=0`` exits 6 and touches nothing; a third one waits, and completes after
the first is resumed and ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import psutil

from core.lock import LOCK_NAME, holder

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _events(folder: Path) -> Path:
    """3 accounts active every third day of 2026's first 120 days (as in test_cli)."""
    rows = [
        {"account_id": a, "user_id": f"{a}-u1", "timestamp": f"{day}T10:00:00"}
        for a in ("a1", "a2", "a3")
        for day in pl.date_range(pl.date(2026, 1, 1), pl.date(2026, 4, 30), "3d", eager=True)
    ]
    path = folder / "events.csv"
    pl.DataFrame(rows).with_columns(event=pl.lit("report_created")).write_csv(path)
    return path


def _start(tmp: Path, name: str, *extra: str) -> subprocess.Popen[bytes]:
    """decay-run of the features step alone on the tiny log; its output goes to <name>.log."""
    args = [
        f"data.events={tmp / 'events.csv'}",
        "data.users=null",
        "data.accounts=null",
        "data.truth=null",
        "data.segments=[]",
        "snapshot.as_of=2026-05-01",
        "run.steps=[features]",
        f"output.dir={tmp / 'out'}",
        f"hydra.run.dir={tmp / 'logs' / name}",  # outside the output folder
        *extra,
    ]
    log = (tmp / f"{name}.log").open("wb")
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.Popen(
        [str(BIN / "decay-run"), *args], cwd=tmp, stdout=log, stderr=subprocess.STDOUT, env=env
    )


def _until(cond: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime in ns) of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_second_run_exits_6_untouched_and_a_waiting_one_runs_after_the_first(
    tmp_path: Path,
) -> None:
    _events(tmp_path)
    lock = tmp_path / "out" / LOCK_NAME
    first = _start(tmp_path, "first")
    waiting: subprocess.Popen[bytes] | None = None
    try:
        parent = psutil.Process(first.pid)
        _until(lambda: bool(parent.children()), "the first run to start its step")
        assert holder(lock).get("pid") == first.pid
        os.kill(first.pid, signal.SIGSTOP)  # holds the lock until resumed
        assert first.poll() is None
        # Its features step (a child that inherited the lock) runs on and ends (a zombie until
        # the paused parent reaps it).
        _until(
            lambda: all(c.status() == psutil.STATUS_ZOMBIE for c in parent.children()),
            "the first run's step to end",
        )
        dataset = tmp_path / "out" / "dataset.parquet"
        assert dataset.exists()
        before = _snapshot(tmp_path / "out")

        second = _start(tmp_path, "second")  # run.lock_wait_seconds=0 by default
        assert second.wait(timeout=120) == 6
        said = (tmp_path / "second.log").read_text()
        assert f"another run holds {lock}: pid {first.pid}" in said
        assert "retry later" in said and "step features" not in said
        assert _snapshot(tmp_path / "out") == before  # nothing touched, not even the lock file

        waiting = _start(tmp_path, "waiting", "run.lock_wait_seconds=120")
        _until(lambda: "waiting up to 120s" in (tmp_path / "waiting.log").read_text(), "a wait")
        assert waiting.poll() is None and _snapshot(tmp_path / "out") == before
        os.kill(first.pid, signal.SIGCONT)
        assert first.wait(timeout=120) == 0
        assert waiting.wait(timeout=120) == 0, (tmp_path / "waiting.log").read_text()[-3000:]
    finally:
        for proc in (first, waiting):
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait(timeout=30)
    log = (tmp_path / "waiting.log").read_text()
    assert log.index("waiting up to") < log.index("holding") < log.index("step features done")
    assert holder(lock)["pid"] == waiting.pid
    # The output is the waiting run's own complete dataset: 3 accounts at every cutoff.
    rows = pl.read_parquet(dataset)
    assert rows["account_id"].n_unique() == 3 and rows.height > 3
    assert _snapshot(tmp_path / "out")["dataset.parquet"] != before["dataset.parquet"]
