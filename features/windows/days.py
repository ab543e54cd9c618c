"""Day indexes: the one time unit of the window engine.

A day is an Int32 index, days since 1970-01-01 (UTC). A cutoff date ``t`` stands for 00:00 UTC
of that day, so an event with ``timestamp < t`` is exactly an event whose UTC day index is
``< day(t)``. Windows are given as offsets from the cutoff: ``[t - start, t - end)``, whole
days, exclusive end; a positive offset is before the cutoff, a negative one after it.
"""

from __future__ import annotations

from datetime import date

import polars as pl

DAY = "day"  # day index column of the day-level tables
T = "_t"  # the cutoff as a day index on feature and label rows


def day_of(expr: pl.Expr) -> pl.Expr:
    """UTC day index (Int32 days since 1970-01-01) of a Datetime/Date expression."""
    return expr.dt.date().cast(pl.Int32)


def date_to_day(d: date) -> int:
    """Day index of a calendar date (00:00 UTC)."""
    return (d - date(1970, 1, 1)).days


def in_window(day: pl.Expr, start: int, end: int = 0) -> pl.Expr:
    """Is the day index ``day`` in ``[t - start, t - end)`` of the row's cutoff ``_t``?

    Backward window of ``w`` days: ``in_window(d, w)``; forward horizon of ``h`` days
    ``[t, t + h)``: ``in_window(d, 0, -h)``. Null days are null (never happened)."""
    return (day >= pl.col(T) - start) & (day < pl.col(T) - end)
