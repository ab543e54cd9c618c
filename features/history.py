"""History family: the account's lifetime in the log (recency, frequency, monetary, rhythm).

Why: it needs no configuration and no product vocabulary, so it works on any event log (a
purchase log, a subscription app, a clickstream): how long the account has been seen, how
often and how recently it is active, how much value it brought, and whether its current quiet
spell is long *for this account* (``overdue_ratio``: a weekly buyer silent for three weeks is
overdue, a quarterly one is not). Recency, frequency and monetary are ``days_since_last_event``,
``lifetime_active_days`` and ``value_per_active_day_lifetime``.

Every value at cutoff ``t`` (00:00 UTC) reads only events with day ``< t``; "active day" is a
UTC day with at least one event of any kind; windows are ``[t - w, t)``.

* ``tenure_since_first_seen_days``: ``t`` minus the first event day of the account;
* ``lifetime_active_days``, ``lifetime_events``: active days and events before ``t``;
* ``days_since_last_event``: ``t`` minus the last active day (an event yesterday gives 1);
* ``active_days_per_week_lifetime``: lifetime active days / max(tenure in weeks, 1);
* ``typical_gap_days``: (last active day - first active day) / (active days - 1), the mean gap
  between the account's active days (null with fewer than 2 active days);
* ``overdue_ratio``: ``days_since_last_event / typical_gap_days`` (null when that is null);
* with a ``value`` column that has any non-null value before the last cutoff (left out with one
  log line otherwise): ``value_total_lifetime`` (sum of ``value`` before ``t``), ``value_<w>d``
  for ``w`` in {``recent_days``, the longest of ``windows_days``}, ``value_per_active_day_lifetime``
  and ``value_trend_ratio`` (per-day value over ``[t - r, t)`` / per-day value over ``[t - r -
  b, t - r)``, null when the baseline is not positive).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from core.config import FeaturesConfig
from core.logs import get_logger
from features.context import safe_div
from features.windows import DAY, NO_DAY, Engine, EventCells, Sampler, T, last_to_series
from ingest.tables import has_value

log = get_logger(__name__)

#: Prefix of the sample columns this module adds to the wide frame (no clash with others).
PREFIX = "hist_"
WEEK = 7


def value_windows(fcfg: FeaturesConfig) -> list[int]:
    """The ``value_<w>d`` windows: the recent window and the longest count window."""
    return sorted({int(fcfg.recent_days), max(int(w) for w in fcfg.windows_days)})


def value_offsets(fcfg: FeaturesConfig) -> list[int]:
    r, b = int(fcfg.recent_days), int(fcfg.baseline_days)
    return sorted({0, r, r + b, *value_windows(fcfg)})


def value_before(value: pl.Expr, days: pl.Expr, before: int) -> pl.Expr:
    """Whether some event on a day before ``before`` (the last cutoff) has a value (NaN counts
    as none): the one rule for whether the ``value_*`` features exist, for the whole build
    (``samples``) and for every chunk of a chunked one (``features.build``, a streaming
    aggregation over events on disk)."""
    return (has_value(value) & (days < before)).any()


def has_value_before(value: pl.Series, days: pl.Series, before: int) -> bool:
    """:func:`value_before` on in-memory columns."""
    frame = pl.DataFrame({"v": value, "d": days})
    return bool(frame.select(value_before(pl.col("v"), pl.col("d"), before)).item())


def _value_cum(engine: Engine, cells: EventCells, before: int) -> np.ndarray | None:
    """(accounts, m) float sums of ``value`` over days ``< b_k`` of ``cells.grid``; None (one
    log line) when the column has no non-null value on a day before ``before`` (the last
    cutoff).

    Float sums, so not ``Grid.cum`` (which rounds its weights to integers). The events frame
    and the engine's encoded frame are row-aligned (``encode_events`` keeps the row order)."""
    events = engine.tables.events
    value = events.get_column("value") if "value" in events.columns else None
    fr = engine.enc.frame
    if value is None or value.len() != fr.height:
        log.info("history value features (value_*) left out: no value column")
        return None
    value = value.cast(pl.Float64).fill_nan(None)
    if not has_value_before(value, fr.get_column(DAY), before):
        log.info(
            "history value features (value_*) left out: the value column is all null "
            "before the last cutoff"
        )
        return None
    return cells.sums(value.fill_null(0.0).to_numpy())


def samples(
    engine: Engine,
    at: Sampler,
    fcfg: FeaturesConfig,
    before: int,
    cells: EventCells | None = None,
) -> list[pl.Series]:
    """``hist_events@0``, ``hist_days@0`` (active days), ``hist_last@0`` (last active day, null
    when none), ``hist_first`` (first event day of the account, null when none: the family
    compares it with ``t``) and, when the value column has values, ``hist_value@<offset>``.
    All sampled over days strictly before ``t - offset``. ``cells``: the build's shared
    raw-event cells (its grid must hold every ``t - o`` of :func:`value_offsets`); made here
    when None."""
    gc = engine.cut_grid
    f = engine.first_days()[at.acc]
    cols = [
        pl.Series(f"{PREFIX}events@0", at(engine.sums(gc, "n"), gc), dtype=pl.Int64),
        pl.Series(f"{PREFIX}days@0", at(engine.active_days(gc), gc), dtype=pl.Int64),
        last_to_series(f"{PREFIX}last@0", at(engine.last_day(gc), gc)),
        pl.Series(f"{PREFIX}first", np.where(f == NO_DAY, 0, f), dtype=pl.Int32).scatter(
            np.flatnonzero(f == NO_DAY), None
        ),
    ]
    offs = value_offsets(fcfg)
    cells = cells or engine.cells(at.grid(offs))
    val = _value_cum(engine, cells, before)
    if val is not None:
        cols += [
            pl.Series(f"{PREFIX}value@{o}", at(val, cells.grid, o), dtype=pl.Float64) for o in offs
        ]
    return cols


def _value_win(start: int, end: int = 0) -> pl.Expr:
    return pl.col(f"{PREFIX}value@{end}") - pl.col(f"{PREFIX}value@{start}")


def indicators(fcfg: FeaturesConfig, has_value: bool) -> dict[str, pl.Expr]:
    """``{feature name: expression}`` over the frame with :func:`samples` (see module doc)."""
    t = pl.col(T)
    first = pl.col(f"{PREFIX}first")
    last = pl.col(f"{PREFIX}last@0")
    days = pl.col(f"{PREFIX}days@0").cast(pl.Float64)
    tenure = pl.when(first < t).then(t - first).otherwise(None).cast(pl.Float64)
    since = (t - last).cast(pl.Float64)
    gap = pl.when(days >= 2).then((last - first).cast(pl.Float64) / (days - 1)).otherwise(None)
    out: dict[str, pl.Expr] = {
        "tenure_since_first_seen_days": tenure,
        "lifetime_active_days": days,
        "lifetime_events": pl.col(f"{PREFIX}events@0").cast(pl.Float64),
        "days_since_last_event": since,
        "active_days_per_week_lifetime": pl.when(tenure.is_not_null())
        .then(days / pl.max_horizontal(tenure / WEEK, pl.lit(1.0)))
        .otherwise(None),
        "typical_gap_days": gap,
        "overdue_ratio": safe_div(since, gap),
    }
    if has_value:
        r, b = int(fcfg.recent_days), int(fcfg.baseline_days)
        out["value_total_lifetime"] = pl.col(f"{PREFIX}value@0")
        for w in value_windows(fcfg):
            out[f"value_{w}d"] = _value_win(w)
        out["value_per_active_day_lifetime"] = safe_div(pl.col(f"{PREFIX}value@0"), days)
        out["value_trend_ratio"] = safe_div(_value_win(r) / r, _value_win(r + b, r) / b)
    return out
