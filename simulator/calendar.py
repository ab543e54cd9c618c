"""Deterministic calendar rhythms: weekday/weekend, industry seasonality, seasonal-dip hazard.

Why separate: these factors are known in advance for every day (no randomness), so both the
event generator and the truth oracle read the very same arrays. Day ``d`` is the UTC day
``start + d``.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from simulator import world

# Monday..Sunday activity multipliers (B2B: weekends are quiet).
WEEKDAY_FACTOR = np.array([1.0, 1.05, 1.05, 1.0, 0.85, 0.12, 0.08])


def day_dates(start: date, n_days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weekday (0=Mon), month (1..12) and day of month of days ``0..n_days-1`` after ``start``."""
    base = np.datetime64(start, "D")
    days = base + np.arange(n_days)
    weekday = ((days.astype("int64") + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday
    months = days.astype("datetime64[M]")
    month = (months.astype("int64") % 12 + 1).astype(np.int64)
    dom = (days - months.astype("datetime64[D]")).astype("int64") + 1
    return weekday, month, dom


def weekday_factor(start: date, n_days: int) -> np.ndarray:
    """Activity multiplier per day from the day of the week, shape (n_days,)."""
    weekday, _, _ = day_dates(start, n_days)
    return WEEKDAY_FACTOR[weekday]


def season_factor(start: date, n_days: int) -> np.ndarray:
    """Activity multiplier per industry and day, shape (n_industries, n_days).

    Late December (22nd to 1 January) is the deepest dip everywhere except retail (peak season);
    August is slower, most of all in education (which also slows in July).
    """
    _, month, dom = day_dates(start, n_days)
    holidays = ((month == 12) & (dom >= 22)) | ((month == 1) & (dom == 1))
    out = np.ones((len(world.INDUSTRIES), n_days))
    for i, industry in enumerate(world.INDUSTRIES):
        f = np.ones(n_days)
        f[holidays] = 0.75 if industry == "retail" else 0.45
        f[month == 8] = 0.6 if industry == "education" else 0.85
        if industry == "education":
            f[month == 7] = 0.75
        if industry == "retail":
            f[(month == 11) | ((month == 12) & (dom < 22))] = 1.1
        out[i] = f
    return out


def dip_hazard_factor(start: date, n_days: int) -> np.ndarray:
    """Multiplier of the seasonal-dip onset hazard per day: peaks in August and late December."""
    _, month, dom = day_dates(start, n_days)
    peak = (month == 8) | ((month == 12) & (dom >= 10))
    return np.where(peak, world.SEASONAL_DIP_PEAK, 1.0)
