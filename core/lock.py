"""One run per output folder: an exclusive ``flock`` on ``${output.dir}/.decay-run.lock``.

Why ``flock`` and not "create the file if it does not exist": the kernel releases the lock when
the process holding it ends, however it ends (exit, exception, SIGKILL, OOM killer, reboot), so
there is never a stale lock to clean up by hand. The file itself stays; it is only the thing
locked, and it holds the holder's pid, host and start time so the message of a run that could
not get the lock says who has it. Its content is informative only: the lock is the ``flock``.

Contract:
- ``output_lock(folder, wait_seconds)`` takes the lock, waiting up to ``wait_seconds`` (0 = try
  once) for another holder to finish, and raises ``LockHeldError`` (exit code 6: retry later)
  when it cannot; nothing in ``folder`` but the lock file is touched before the lock is held.
- The lock belongs to the open file description. ``decay-run`` passes the descriptor to its step
  processes (``HeldLock.fd`` in ``pass_fds``), so a step left running after its parent was killed
  still holds the lock until it ends: no second run starts under an orphaned step. The steps do
  not take the lock themselves (a step run by hand is not locked).
- Local file systems only: ``flock`` on NFS is emulated (or not) depending on the client, so
  two hosts sharing an output folder over NFS need the orchestrator's own exclusion.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import LockHeldError
from core.logs import get_logger

log = get_logger(__name__)

#: The lock file's name inside ``${output.dir}``.
LOCK_NAME = ".decay-run.lock"
#: How often a waiting run tries again (seconds).
POLL_SECONDS = 0.5


def lock_path(folder: str | os.PathLike[str]) -> Path:
    """The lock file of an output folder."""
    return Path(folder) / LOCK_NAME


def holder(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What the lock file says about its holder (``{}`` when empty or unreadable). Informative
    only: the file may name a run that has ended (the lock itself is released by then)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        info = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _describe(info: dict[str, Any]) -> str:
    if not info:
        return "another process"
    return (
        f"pid {info.get('pid', '?')} on {info.get('host', '?')} "
        f"(started {info.get('started', '?')}: {info.get('command', '?')})"
    )


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass(frozen=True)
class HeldLock:
    """A held lock: its file and the open descriptor that holds it (for ``pass_fds``)."""

    path: Path
    fd: int


@contextlib.contextmanager
def output_lock(
    folder: str | os.PathLike[str], wait_seconds: float = 0, command: str = ""
) -> Iterator[HeldLock]:
    """Hold the exclusive lock of ``folder`` for the ``with`` block; yields the ``HeldLock``.

    Waits up to ``wait_seconds`` (0 = one try) while another process holds it, then raises
    ``LockHeldError`` naming the holder. Released when the block ends or the process dies.
    ``command``: what this run is, written into the lock file for the next one's message.
    """
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(0.0, float(wait_seconds))
        announced = False
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockHeldError(
                    f"another run holds {path}: {_describe(holder(path))}",
                    hint="retry later (exit code 6 is retryable), or wait for it with "
                    "run.lock_wait_seconds=<seconds>",
                )
            if not announced:
                log.info(
                    "waiting up to %.0fs for %s held by %s",
                    wait_seconds,
                    path,
                    _describe(holder(path)),
                )
                announced = True
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
        log.info("holding %s (pid %d)", path, info["pid"])
        yield HeldLock(path, fd)
    finally:
        # Closing the last descriptor of it releases the lock (a step process that inherited it
        # holds it until it ends). The file stays: deleting it would let a waiter lock an unlinked
        # inode while a third process creates and locks a new one.
        os.close(fd)
