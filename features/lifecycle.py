"""Lifecycle family: tenure, days to renewal and the maturity stage.

Tenure counts whole UTC days from the signup day to the cutoff day (signup yesterday -> 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from core.errors import ConfigValueError
from features.windows import T

STAGES = ("onboarding", "growing", "mature")


def tenure_days() -> pl.Expr:
    """Whole days from signup to the cutoff (``signup_day`` and ``_t`` on the wide frame)."""
    return (pl.col(T) - pl.col("signup_day")).cast(pl.Float64)


def maturity_stage(maturity_days: Sequence[int]) -> pl.Expr:
    """onboarding if tenure < a; growing if a <= tenure < b; mature if tenure >= b."""
    if len(maturity_days) != 2 or int(maturity_days[0]) >= int(maturity_days[1]):
        raise ConfigValueError(
            f"features.maturity_days must be two increasing day counts, got {list(maturity_days)}",
            hint="e.g. features.maturity_days=[90,365]")
    a, b = (int(x) for x in maturity_days)
    ten = tenure_days()
    return (pl.when(ten < a).then(pl.lit(STAGES[0]))
            .when(ten < b).then(pl.lit(STAGES[1]))
            .otherwise(pl.lit(STAGES[2])).alias("maturity_stage"))


def lifecycle(fcfg: Any, has_renewal: bool) -> dict[str, pl.Expr]:
    """tenure_days; days_to_renewal (renewal day - cutoff day; negative once passed, null unknown)."""
    out = {"tenure_days": tenure_days()}
    if has_renewal:
        out["days_to_renewal"] = (pl.col("renewal_day") - pl.col(T)).cast(pl.Float64)
    return out
