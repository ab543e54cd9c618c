"""Shared plumbing of the foreign-log generators: the time axis, ids, the as-of split, the spec.

Why one time axis: every shape simulates in *float days since the start of its history*
(``start = as_of - history_days``), vectorised in numpy, and converts to UTC timestamps only at
the end. That keeps the mechanisms readable (rates per day, windows in days) and makes the
as-of split exact: it is done once, here, on the final timestamps, for all shapes alike.

Nothing here knows about the product's canonical tables; a shape only states which of its own
columns a user would map onto them (:class:`Shape.mapping`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

TS = pl.Datetime("us", "UTC")
US_PER_DAY = 86_400 * 1_000_000


@dataclass(frozen=True)
class Window:
    """The simulated span: history ``[start, as_of)`` then the future ``[as_of, end)`` (UTC)."""

    start: datetime
    as_of: datetime
    end: datetime

    @property
    def history_days(self) -> int:
        return (self.as_of - self.start).days

    @property
    def total_days(self) -> int:
        return (self.end - self.start).days

    def first_weekday(self) -> int:
        """Weekday of day 0 (Monday = 0), so shapes can lay a real calendar over float days."""
        return self.start.weekday()

    def first_day_of_year(self) -> int:
        """Day of year (1-based) of day 0, for yearly seasonality."""
        return self.start.timetuple().tm_yday


@dataclass(frozen=True)
class Shape:
    """One foreign log shape: how to simulate it and what a user would say to map it.

    ``simulate(rng, window, n)`` returns the *whole* world (history and future together):
    ``events`` plus, for shapes with one, an entity table. The split at as-of is not the
    shape's business (:func:`split`).
    """

    name: str
    simulate: Callable[[np.random.Generator, Window, int], dict[str, pl.DataFrame]]
    default_n: int
    default_days: int
    # The entity id and the time column, in the shape's own words.
    id_column: str
    time_column: str
    # Canonical column -> this shape's column (what goes to data.columns.*).
    mapping: dict[str, str]
    segments: list[str]
    # Where the segment columns live: "events" (may change over time), an entity table, or None.
    segments_table: str | None
    label: str
    horizon_days: int
    # Entity table name (e.g. "subscribers"), its start and end columns; None if the shape has none.
    entity_table: str | None = None
    entity_start: str | None = None
    entity_end: str | None = None
    default_future_days: int = 120
    notes: dict[str, str] = field(default_factory=dict)


def parse_as_of(as_of: str | date | datetime) -> datetime:
    """As-of as 00:00 UTC of its day (a datetime with a time part is truncated to its day)."""
    if isinstance(as_of, datetime):
        day = as_of.astimezone(UTC).date() if as_of.tzinfo else as_of.date()
    elif isinstance(as_of, date):
        day = as_of
    else:
        try:
            day = date.fromisoformat(str(as_of)[:10])
        except ValueError as exc:
            raise ValueError(f"as_of={as_of!r} is not an ISO date (YYYY-MM-DD)") from exc
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def make_window(as_of: str | date | datetime, history_days: int, future_days: int) -> Window:
    """The span ``[as_of - history_days, as_of + future_days)``; both lengths in whole days."""
    if history_days < 28:
        raise ValueError(f"days={history_days} is too short: at least 28 days of history")
    if future_days < 1:
        raise ValueError(f"future_days={future_days} must be at least 1")
    cut = parse_as_of(as_of)
    return Window(cut - timedelta(days=history_days), cut, cut + timedelta(days=future_days))


def time_units(t_days: np.ndarray, unit_us: int = 1_000_000) -> np.ndarray:
    """Float days since the window start -> whole ``unit_us`` units (int64), floored.

    Flooring (seconds for transaction logs, milliseconds for clickstreams) is what real exports
    do, and it keeps the output byte-stable across platforms (no float printing involved).
    """
    return np.floor(np.asarray(t_days, dtype=np.float64) * (US_PER_DAY / unit_us)).astype(np.int64)


def to_timestamps(window: Window, t_days: np.ndarray, unit_us: int = 1_000_000) -> pl.Series:
    """Float days since ``window.start`` -> UTC ``Datetime('us')``, floored to ``unit_us``."""
    start_us = int(window.start.timestamp() * 1_000_000)
    us = start_us + time_units(t_days, unit_us) * unit_us
    return pl.Series(us, dtype=pl.Int64).cast(TS)


def sort_events(
    frame: pl.DataFrame,
    t_days: np.ndarray,
    entity: np.ndarray,
    n_entities: int,
    code: np.ndarray | None = None,
    n_codes: int = 1,
    unit_us: int = 1_000_000,
) -> pl.DataFrame:
    """Rows of ``frame`` (aligned with the arrays) ordered by time, entity, code, then input order.

    Why one packed int64 key: a multi-column sort of millions of rows is ~10x slower than a
    single-key one; ties keep the (deterministic) generation order, so the output is stable.
    """
    units = time_units(t_days, unit_us)
    width = int(n_entities) * int(n_codes)
    if units.size and int(units.max()) + 1 > (2**62) // max(width, 1):
        return frame.sort(frame.columns, nulls_last=True, maintain_order=True)
    key = (units * n_entities + entity.astype(np.int64)) * n_codes
    if code is not None:
        key += code.astype(np.int64)
    return (
        frame.with_columns(pl.Series("__key", key)).sort("__key", maintain_order=True).drop("__key")
    )


def arrivals(
    rng: np.random.Generator, n: int, window: Window, growth: float = 3.0, newcomers: float = 0.2
) -> np.ndarray:
    """Arrival times (float days): ``n`` in the history, ``round(newcomers * n)`` more after as-of.

    The history intake grows exponentially (``growth`` = intake at as-of over intake at the
    start: a young product, so late cohorts are big and have short histories). The newcomers
    arrive uniformly over the future: they exist only in ``future_*``, as entities unknown at
    as-of do in real logs, so a benchmark must ignore what it could not have scored.
    """
    hist = float(window.history_days)
    g = np.log(growth) / hist
    known = np.log1p(rng.random(n) * np.expm1(g * hist)) / g
    late = rng.uniform(hist, float(window.total_days), round(newcomers * n))
    return np.sort(np.concatenate([known, late]))


def poisson_times(
    rng: np.random.Generator, rate: np.ndarray, begin: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Homogeneous Poisson candidates per entity: (entity index, time) with time in [begin, end).

    Vectorised: one Poisson count per entity, then uniform times; the caller thins them with
    whatever time-varying multiplier its mechanism has (Lewis-Shedler thinning).
    """
    dur = np.clip(end - begin, 0.0, None)
    counts = rng.poisson(rate * dur)
    idx = np.repeat(np.arange(rate.size), counts)
    t = begin[idx] + rng.random(idx.size) * dur[idx]
    return idx, t


def weekly_multiplier(t_days: np.ndarray, window: Window, by_weekday: list[float]) -> np.ndarray:
    """Multiplier by real weekday (Monday first) of each float day."""
    weekday = (np.floor(t_days).astype(np.int64) + window.first_weekday()) % 7
    return np.asarray(by_weekday, dtype=np.float64)[weekday]


def prefixed_ids(prefix: str, n: int, width: int = 6) -> np.ndarray:
    """``C-000123``-style ids (zero-padded, so string order equals number order)."""
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))


def hashed_ids(prefix: str, n: int, salt: int) -> np.ndarray:
    """Opaque cookie-like ids (``v-3f9a1c2e``), unique: an odd multiplier is a bijection mod 2**32."""
    h = np.arange(n, dtype=np.uint64) * np.uint64(2_654_435_761) + np.uint64(salt % 2**32)
    h = h % np.uint64(2**32)
    return np.char.mod(prefix + "%08x", h)


def decode(
    frame: pl.DataFrame, vocab: dict[str, np.ndarray | list[str] | tuple[str, ...]]
) -> pl.DataFrame:
    """Replace integer code columns by their strings: ``vocab[col][code]``.

    Why codes first: sorting millions of rows on integer codes and gathering strings afterwards
    is several times faster than building and sorting numpy unicode arrays, and just as
    deterministic (zero-padded ids sort the same either way).
    """
    return frame.with_columns(
        pl.Series(col, list(names) if not isinstance(names, np.ndarray) else names, dtype=pl.String)
        .gather(frame[col])
        .alias(col)
        for col, names in vocab.items()
    )


def split(shape: Shape, world: dict[str, pl.DataFrame], as_of: datetime) -> dict[str, pl.DataFrame]:
    """Cut the world at ``as_of``: what was known before it, and what happened from it on.

    * ``events``: ``time < as_of``; ``future_events``: ``time >= as_of``.
    * entity table (e.g. ``subscribers``): the export a CRM would give at as_of: entities that
      started before as_of, their end date only if it is before as_of (else null).
      ``future_<table>``: every entity with its full end date (null = not ended in the span).
    """
    ts = pl.col(shape.time_column)
    out = {
        "events": world["events"].filter(ts < as_of),
        "future_events": world["events"].filter(ts >= as_of),
    }
    if shape.entity_table is not None:
        table = world[shape.entity_table]
        start, end = pl.col(str(shape.entity_start)), pl.col(str(shape.entity_end))
        out[shape.entity_table] = table.filter(start < as_of).with_columns(
            pl.when(end < as_of).then(end).otherwise(None).alias(str(shape.entity_end))
        )
        out[f"future_{shape.entity_table}"] = table
    return out


def readme(
    shape: Shape, frames: dict[str, pl.DataFrame], window: Window, seed: int, out_dir: str
) -> dict[str, object]:
    """The ``README.json`` content: files, columns, segments and the mapping a user would state."""
    files = {"events": "events.parquet", "future_events": "future/events.parquet"}
    if shape.entity_table is not None:
        files[shape.entity_table] = f"{shape.entity_table}.parquet"
        files[f"future_{shape.entity_table}"] = f"future/{shape.entity_table}.parquet"
    tables = ["events"] + ([shape.entity_table] if shape.entity_table else [])
    columns = {t: {c: str(d) for c, d in frames[t].schema.items()} for t in tables}
    accounts = files.get(str(shape.entity_table)) if shape.entity_table else None
    data = {
        "dir": out_dir,
        "events": "${data.dir}/events.parquet",
        "users": None,
        "accounts": None if accounts is None else "${data.dir}/" + accounts,
        "truth": None,
        "columns": dict(shape.mapping),
        "segments": list(shape.segments),
    }
    overrides = ["data=files", f"data.dir={out_dir}", "data.users=null"]
    overrides.append(
        "data.accounts=null" if accounts is None else f"data.accounts=${{data.dir}}/{accounts}"
    )
    overrides += [f"data.columns.{k}={v}" for k, v in shape.mapping.items()]
    overrides.append(f"data.segments=[{','.join(shape.segments)}]")
    overrides += [f"label={shape.label}", f"label.horizon_days={shape.horizon_days}"]
    return {
        "shape": shape.name,
        "generator": "testlogs",
        "seed": seed,
        "as_of": window.as_of.date().isoformat(),
        "history_start": window.start.date().isoformat(),
        "future_end": window.end.date().isoformat(),
        "timezone": "UTC",
        "files": files,
        "rows": {k: frames[k].height for k in files},
        "entity_column": shape.id_column,
        "time_column": shape.time_column,
        "columns": columns,
        "segments": {"table": shape.segments_table, "columns": list(shape.segments)},
        "suggested_config": {
            "data": data,
            "label": {"name": shape.label, "horizon_days": shape.horizon_days},
            "overrides": overrides,
        },
        "notes": dict(shape.notes),
    }
