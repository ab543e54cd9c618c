"""A throwaway PostgreSQL server for the tests and the read benchmark (the one copy of this code).

``pg_server(root)`` runs ``initdb`` into a fresh folder, starts ``postgres`` on a free loopback
port (unix socket in the same folder, fsync off: nothing here must survive), waits until it
accepts connections, creates database ``decay`` and yields its DSN (with a password: the tests
check it is redacted). On exit the server gets a fast shutdown and the folder is removed.

As root (this machine, CI containers) the server runs as the ``postgres`` OS user through
``runuser``, because PostgreSQL refuses to run as root; as any other user it runs as that user.
Needs the Debian ``postgresql`` package (``make postgres``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DATABASE = "decay"


def pg_bin() -> Path:
    """The newest installed ``/usr/lib/postgresql/<version>/bin`` (or the one on PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError("PostgreSQL is not installed: run `make postgres`")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def pg_server(settings: dict[str, str] | None = None) -> Iterator[str]:
    """DSN ``postgresql://decay:<password>@127.0.0.1:<port>/decay`` of a fresh server."""
    bindir = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="decay-pg-"))
    password = secrets.token_hex(12)
    proc: subprocess.Popen[bytes] | None = None
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        pwfile = root / "pw"
        pwfile.write_text(password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        data = root / "data"
        subprocess.run(
            _as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "decay",
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        port = free_port()
        options = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}
        options.update(settings or {})
        cmd = [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-k",
            str(root),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
        ]
        for key, value in options.items():
            cmd += ["-c", f"{key}={value}"]
        log = (root / "server.log").open("wb")
        proc = subprocess.Popen(
            _as_server_user(cmd), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        _wait_ready(bindir, root, port, proc)
        subprocess.run(
            _as_server_user(
                [
                    str(bindir / "createdb"),
                    "-h",
                    str(root),
                    "-p",
                    str(port),
                    "-U",
                    "decay",
                    DATABASE,
                ]
            ),
            check=True,
            capture_output=True,
        )
        yield f"postgresql://decay:{password}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(bindir: Path, root: Path, port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited early: {(root / 'server.log').read_text()}")
        ready = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"],
            capture_output=True,
        )
        if ready.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"postgres not ready in 60s: {(root / 'server.log').read_text()}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT to the postmaster's session), SIGKILL if it hangs."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
