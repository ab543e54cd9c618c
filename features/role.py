"""Role family: disengagement by role (e.g. the admins stop logging in before everyone else).

Needs the users table (user -> role); left out with one logged line when it is missing.
Windows are ``[t - r, t)`` and the previous ``[t - 2r, t - r)`` with r = ``features.recent_days``.
"""

from __future__ import annotations

import polars as pl

from core.config import FeaturesConfig
from features.context import at


def role(fcfg: FeaturesConfig) -> dict[str, pl.Expr]:
    """active_<role>s_{r}d, active_<role>s_prev_{r}d and their change (current - previous)."""
    r = int(fcfg.recent_days)
    out: dict[str, pl.Expr] = {}
    for name in fcfg.roles:
        cur, prev = at(f"au_{name}_{r}"), at(f"au_{name}_{r}", r)
        out[f"active_{name}s_{r}d"] = cur
        out[f"active_{name}s_prev_{r}d"] = prev
        out[f"active_{name}s_change_{r}d"] = cur.cast(pl.Float64) - prev.cast(pl.Float64)
    return out
