"""The output lock (core/lock.py): exclusive across processes, released by the kernel when the
holder dies (SIGKILL included), inherited by the step processes, with a waiting period."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.errors import DecayError, LockHeldError
from core.lock import LOCK_NAME, holder, output_lock

ROOT = Path(__file__).resolve().parents[2]

#: A process that takes the lock, says so, optionally starts a grandchild that inherits the
#: descriptor (``sleep``), then sleeps until killed.
HOLDER = textwrap.dedent(
    """
    import subprocess, sys, time
    from core.lock import output_lock
    with output_lock(sys.argv[1], 0, command="test holder") as lock:
        if sys.argv[2] == "child":
            sleeper = subprocess.Popen(["sleep", "120"], pass_fds=(lock.fd,))
            print(f"child {sleeper.pid}", flush=True)
        print("held", flush=True)
        time.sleep(float(sys.argv[3]))
    """
)


def _start_holder(
    folder: Path, mode: str = "alone", seconds: float = 120
) -> tuple[subprocess.Popen[str], list[str]]:
    """The holder process, once it holds the lock, and the lines it printed until then."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), mode, str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    while True:  # wait until it holds the lock
        line = proc.stdout.readline()
        assert line, f"holder exited {proc.wait()} before taking the lock"
        lines.append(line.strip())
        if line.strip() == "held":
            return proc, lines


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_a_second_holder_is_refused_naming_the_first_then_the_lock_frees_on_sigkill(
    tmp_path: Path,
) -> None:
    proc, _ = _start_holder(tmp_path)
    try:
        info = holder(tmp_path / LOCK_NAME)
        assert info["pid"] == proc.pid and info["command"] == "test holder"
        assert info["host"] and info["started"]
        with pytest.raises(LockHeldError) as err, output_lock(tmp_path, 0):
            pytest.fail("took a lock another process holds")
        assert err.value.exit_code == 6 and isinstance(err.value, DecayError)
        assert f"pid {proc.pid}" in str(err.value) and "retry later" in str(err.value)
        os.kill(proc.pid, signal.SIGKILL)  # no cleanup code runs: the kernel releases it
        proc.wait(timeout=10)
        with output_lock(tmp_path, 5) as lock:  # taken at once, no stale lock
            assert lock.path == tmp_path / LOCK_NAME
            assert holder(lock.path)["pid"] == os.getpid()
    finally:
        _kill(proc)


def test_waiting_gives_up_after_lock_wait_seconds(tmp_path: Path) -> None:
    proc, _ = _start_holder(tmp_path)
    try:
        t0 = time.monotonic()
        with pytest.raises(LockHeldError), output_lock(tmp_path, 1.0):
            pytest.fail("took a held lock")
        assert 1.0 <= time.monotonic() - t0 < 5.0
    finally:
        _kill(proc)


def test_a_waiting_run_gets_the_lock_when_the_holder_ends(tmp_path: Path) -> None:
    proc, _ = _start_holder(tmp_path, seconds=1.5)
    try:
        t0 = time.monotonic()
        with output_lock(tmp_path, 30) as lock:
            waited = time.monotonic() - t0
            assert holder(lock.path)["pid"] == os.getpid()
        assert proc.wait(timeout=10) == 0
        assert 0.5 < waited < 20
    finally:
        _kill(proc)


def test_a_step_process_that_inherited_the_lock_holds_it_after_its_parent_died(
    tmp_path: Path,
) -> None:
    proc, lines = _start_holder(tmp_path, mode="child")
    sleeper = int(lines[0].split()[1])
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        with pytest.raises(LockHeldError), output_lock(tmp_path, 0):
            pytest.fail("an orphaned step still runs: the lock must still be held")
        os.kill(sleeper, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the grandchild is reaped by init, not by us
            try:
                with output_lock(tmp_path, 0):
                    break
            except LockHeldError:
                time.sleep(0.1)
        else:
            pytest.fail("the lock was not released after the last holder died")
    finally:
        _kill(proc)
        with contextlib.suppress(ProcessLookupError):
            os.kill(sleeper, signal.SIGKILL)


def test_the_lock_is_released_when_the_block_raises_and_the_file_stays(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), output_lock(tmp_path / "out", 0):
        raise RuntimeError("step failed")
    with output_lock(tmp_path / "out", 0) as lock:
        assert lock.path.exists()
    assert (tmp_path / "out" / LOCK_NAME).exists()
