"""Progress and step logging for long jobs.

Why: scheduled jobs run without a terminal, so progress must also reach the log as periodic
lines with counts and elapsed time; interactive users get a tqdm bar on stderr.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from core.logs import PROJECT

T = TypeVar("T")


def progress(
    items: Iterable[T],
    desc: str,
    total: int | None = None,
    logger: logging.Logger | None = None,
    every: int = 10,
) -> Iterator[T]:
    """Iterate with a bar (when stderr is a terminal) and log a line every ``every`` percent."""
    log = logger or logging.getLogger(PROJECT)
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    start = time.perf_counter()
    bar = tqdm(items, desc=desc, total=total, disable=not sys.stderr.isatty(), leave=False)
    next_pct = every
    for i, item in enumerate(bar, start=1):
        yield item
        if total:
            pct = 100 * i / total
            if pct >= next_pct or i == total:
                log.info(
                    "%s: %d/%d (%.0f%%) in %.1fs", desc, i, total, pct, time.perf_counter() - start
                )
                while next_pct <= pct:
                    next_pct += every


@contextlib.contextmanager
def step(name: str, logger: logging.Logger | None = None) -> Iterator[None]:
    """Log the start and the elapsed time of a named step."""
    log = logger or logging.getLogger(PROJECT)
    log.info("%s ...", name)
    start = time.perf_counter()
    yield
    log.info("%s done in %.1fs", name, time.perf_counter() - start)
