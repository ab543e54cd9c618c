"""Progress and step logging for long jobs.

Why: scheduled jobs run without a terminal, so progress must also reach the log as periodic
lines with counts and elapsed time (``features: 3/10 (30%) in 1.2s``); a person at a terminal
also gets a tqdm bar on stderr. Without a terminal nothing redraws a line: no carriage returns in
a scheduler's log, from our bars (`progress` draws one only when stderr is a terminal) or from the
libraries' (`quiet_library_bars`: MLflow's artifact bars, any tqdm bar created later).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from core.logs import PROJECT

T = TypeVar("T")

#: Environment defaults that switch library progress bars off when stderr is not a terminal:
#: MLflow reads its switch at each upload or download; tqdm reads ``TQDM_*`` when it is first
#: imported (a library imported later, a child process).
LIBRARY_BARS_OFF = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "TQDM_DISABLE": "1"}


def is_terminal() -> bool:
    """True when stderr is a terminal (a person watches): bars are drawn there."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def quiet_library_bars() -> dict[str, str]:
    """Without a terminal, set `LIBRARY_BARS_OFF` in the environment (values the user set win);
    returns what it set. Called once when a console script starts (``core.cli.console``)."""
    if is_terminal():
        return {}
    added = {k: v for k, v in LIBRARY_BARS_OFF.items() if k not in os.environ}
    os.environ.update(added)
    return added


class Ticker:
    """Counts finished items of a known ``total`` and logs ``desc: i/total (p%) in s`` every
    ``every`` percent and at the end: the log side of `progress`, also usable from a callback
    (a tuning trial finished) where there is no loop to wrap."""

    def __init__(
        self, desc: str, total: int | None, logger: logging.Logger | None = None, every: int = 10
    ) -> None:
        self.desc, self.total, self.every = desc, total, every
        self.log = logger or logging.getLogger(PROJECT)
        self.done = 0
        self._next_pct: float = every
        self._start = time.perf_counter()

    def tick(self, n: int = 1) -> None:
        self.done += n
        if not self.total:
            return
        pct = 100 * self.done / self.total
        if pct >= self._next_pct or self.done == self.total:
            self.log.info(
                "%s: %d/%d (%.0f%%) in %.1fs",
                self.desc,
                self.done,
                self.total,
                pct,
                time.perf_counter() - self._start,
            )
            while self._next_pct <= pct:
                self._next_pct += self.every


def progress(
    items: Iterable[T],
    desc: str,
    total: int | None = None,
    logger: logging.Logger | None = None,
    every: int = 10,
) -> Iterator[T]:
    """Iterate with a bar (only when stderr is a terminal) and log a line every ``every``
    percent (`Ticker`)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    ticker = Ticker(desc, total, logger, every)
    bar = tqdm(items, desc=desc, total=total, disable=not is_terminal(), leave=False)
    for item in bar:
        yield item
        ticker.tick()


@contextlib.contextmanager
def step(name: str, logger: logging.Logger | None = None) -> Iterator[None]:
    """Log the start and the elapsed time of a named step."""
    log = logger or logging.getLogger(PROJECT)
    log.info("%s ...", name)
    start = time.perf_counter()
    yield
    log.info("%s done in %.1fs", name, time.perf_counter() - start)
