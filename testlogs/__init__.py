"""Foreign event logs: a generator independent of ``simulator/``, for "works by config alone" tests.

The product's own simulator is a B2B SaaS world with accounts, users and its own vocabulary; a
pipeline tuned on it may quietly depend on those names and shapes. This package writes logs of
other shapes, with their own column names, vocabularies and churn mechanisms:

* ``purchases`` (:mod:`testlogs.purchases`): transactions only (customer, time, amount).
* ``subscription`` (:mod:`testlogs.subscription`): a B2C app's actions + a subscribers table.
* ``clickstream`` (:mod:`testlogs.clickstream`): page views with segments on the events.

Every shape is simulated over ``[as_of - days, as_of + future_days)`` and split at ``as_of``:
``events`` (and the entity table as a CRM would export it at as_of) is what a user would hand
to the product; ``future_*`` is what really happened next, for a benchmark to score against.
Same ``seed`` and arguments -> identical frames (and byte-identical files).
"""

from __future__ import annotations

import json
import zlib
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from testlogs import clickstream, purchases, subscription
from testlogs._common import Shape, Window, make_window, readme, split

SHAPES: dict[str, Shape] = {
    s.name: s for s in (purchases.SHAPE, subscription.SHAPE, clickstream.SHAPE)
}
DEFAULT_AS_OF = "2026-06-01"

__all__ = ["DEFAULT_AS_OF", "SHAPES", "Shape", "generate", "get_shape", "write"]


def get_shape(shape: str) -> Shape:
    """The :class:`Shape` named ``shape``; a wrong name lists the valid ones."""
    try:
        return SHAPES[shape]
    except KeyError:
        raise ValueError(f"shape={shape!r} is not one of {', '.join(SHAPES)}") from None


def generate(
    shape: str,
    seed: int = 0,
    as_of: str | date | datetime = DEFAULT_AS_OF,
    n: int | None = None,
    days: int | None = None,
    future_days: int | None = None,
) -> dict[str, pl.DataFrame]:
    """Simulate one log and split it at ``as_of`` (00:00 UTC of that day).

    ``n`` entities (customers, members, visitors; default per shape, a few thousand) arrive in
    the ``days`` of history before as-of (default per shape: purchases 273, subscription 182,
    clickstream 120), plus 20 % more newcomers during the ``future_days`` after it (default
    120) who appear only in the future. Returns ``events`` and ``future_events``, plus
    ``subscribers`` and ``future_subscribers`` for the subscription shape.
    """
    return _generate(shape, seed, as_of, n, days, future_days)[0]


def write(
    shape: str,
    out_dir: str | Path,
    seed: int = 0,
    as_of: str | date | datetime = DEFAULT_AS_OF,
    n: int | None = None,
    days: int | None = None,
    future_days: int | None = None,
) -> dict[str, Path]:
    """Generate and write ``out_dir/{events,<entities>}.parquet``, ``out_dir/future/`` and README.json.

    Returns the written paths by key (``events``, ``future_events``, ..., ``readme``).
    """
    frames, window = _generate(shape, seed, as_of, n, days, future_days)
    out = Path(out_dir)
    (out / "future").mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, frame in frames.items():
        name = key.removeprefix("future_") + ".parquet"
        path = out / "future" / name if key.startswith("future_") else out / name
        frame.write_parquet(path, statistics=True)
        paths[key] = path
    info = readme(get_shape(shape), frames, window, int(seed), str(out))
    paths["readme"] = out / "README.json"
    paths["readme"].write_text(json.dumps(info, indent=2) + "\n")
    return paths


def _generate(
    shape: str,
    seed: int,
    as_of: str | date | datetime,
    n: int | None,
    days: int | None,
    future_days: int | None,
) -> tuple[dict[str, pl.DataFrame], Window]:
    spec = get_shape(shape)
    n = spec.default_n if n is None else int(n)
    if n < 1:
        raise ValueError(f"n={n} must be at least 1")
    window = make_window(
        as_of,
        spec.default_days if days is None else int(days),
        spec.default_future_days if future_days is None else int(future_days),
    )
    # One stream per (seed, shape): the same seed gives unrelated worlds for different shapes.
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(spec.name.encode())]))
    world = spec.simulate(rng, window, n)
    return split(spec, world, window.as_of), window
