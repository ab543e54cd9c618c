"""Friction family: integration errors and support tickets, and their trend.

Counts are events in ``[t - w, t)`` (exclusive end); the trend compares the last r days with the
r days before them (r = ``features.recent_days``).
"""

from __future__ import annotations

import polars as pl

from core.config import FeaturesConfig
from features.context import window

FRICTION = {"integration_errors": "errors", "support_tickets": "tickets"}


def friction(fcfg: FeaturesConfig) -> dict[str, pl.Expr]:
    """<kind>_{w}d per window, <kind>_prev_{r}d and <kind>_change_{r}d (current - previous)."""
    r = int(fcfg.recent_days)
    out: dict[str, pl.Expr] = {}
    for name, fact in FRICTION.items():
        for w in (int(x) for x in fcfg.windows_days):
            out[f"{name}_{w}d"] = window(fact, w)
        out[f"{name}_prev_{r}d"] = window(fact, 2 * r, r)
        out[f"{name}_change_{r}d"] = window(fact, r) - window(fact, 2 * r, r)
    return out
