"""Progress of long steps: a bar for a person at a terminal, plain counted lines for a log."""

from __future__ import annotations

import io
import logging
import os
import pty
import re
import subprocess
import sys

import pytest

from core import progress as progress_mod
from core.progress import LIBRARY_BARS_OFF, Ticker, progress, quiet_library_bars
from tests.conftest import ROOT, ScoredWorld

#: Prints a bar over 30 items on stderr (when it is a terminal) and logs every 50%.
SNIPPET = (
    "import logging, time\n"
    "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
    "from core.progress import progress\n"
    "for _ in progress(range(30), 'demo items', every=50):\n"
    "    time.sleep(0.01)\n"
)


def test_log_lines_count_items_every_step_of_percent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="adoption_decay")
    assert list(progress(range(4), "chunks", every=50)) == [0, 1, 2, 3]
    lines = [r.getMessage() for r in caplog.records]
    assert [re.sub(r"in \d+\.\ds$", "in Ts", m) for m in lines] == [
        "chunks: 2/4 (50%) in Ts",
        "chunks: 4/4 (100%) in Ts",
    ]


def test_ticker_counts_callbacks_and_skips_unknown_totals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="adoption_decay")
    ticker = Ticker("tuning trials", 3, every=10)
    for _ in range(3):
        ticker.tick()
    assert [r.getMessage().split(" in ")[0] for r in caplog.records] == [
        "tuning trials: 1/3 (33%)",
        "tuning trials: 2/3 (67%)",
        "tuning trials: 3/3 (100%)",
    ]
    caplog.clear()
    unknown = Ticker("stream", None)
    unknown.tick()
    assert unknown.done == 1 and caplog.records == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    assert list(progress(range(5), "drawn")) == list(range(5))
    assert "\r" in fake.getvalue() and "drawn" in fake.getvalue()


def test_no_terminal_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    assert list(progress(range(5), "hidden")) == list(range(5))
    assert plain.getvalue() == ""


def test_a_real_pseudo_terminal_gets_the_bar_a_pipe_gets_lines() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TQDM_DISABLE", None)
    main, child = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", SNIPPET],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=child,
            env=env,
            timeout=120,
        )
        os.close(child)
        child = -1
        seen = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed: everything was read
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
        if child != -1:
            os.close(child)
    assert proc.returncode == 0
    assert b"\r" in seen and b"demo items" in seen and b"30/30" in seen
    piped = subprocess.run(
        [sys.executable, "-c", SNIPPET], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr
    assert [ln.split(" in ")[0] for ln in piped.stderr.splitlines()] == [
        "demo items: 15/30 (50%)",
        "demo items: 30/30 (100%)",
    ]


def test_library_bars_are_switched_off_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in LIBRARY_BARS_OFF:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(progress_mod, "is_terminal", lambda: True)
    assert quiet_library_bars() == {}
    assert not set(LIBRARY_BARS_OFF) & set(os.environ)
    monkeypatch.setattr(progress_mod, "is_terminal", lambda: False)
    monkeypatch.setenv("TQDM_DISABLE", "0")  # the user's own choice stays
    assert quiet_library_bars() == {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    assert os.environ["TQDM_DISABLE"] == "0"
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"


@pytest.mark.slow
@pytest.mark.xdist_group("e2e")
def test_real_jobs_log_counted_progress_and_no_carriage_returns(
    scored_world: ScoredWorld,
) -> None:
    """features, train and score as a scheduler runs them (stdout and stderr are pipes)."""
    for name, proc in scored_world.procs.items():
        assert "\r" not in proc.stdout + proc.stderr, f"{name} redrew a line"
    features = scored_world.procs["features"].stdout
    assert re.search(r"features: \d+ eligible rows at 30 cutoffs", features)
    assert "features: window engine (30 cutoffs) done in" in features
    train = scored_world.procs["train"].stdout
    assert re.search(r"segment models \(size_tier\): 3/3 \(100%\) in", train)
    assert re.search(r"servable baselines: 3/3 \(100%\) in", train)
    score = scored_world.procs["score"].stdout
    assert re.search(r"risk of [\d,]+ rows \(chunks\): 1/1 \(100%\) in", score)
    assert re.search(r"explain [\d,]+ rows \(TreeSHAP, chunks\): \d+/\d+ \(100%\) in", score)
