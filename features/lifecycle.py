"""Lifecycle family: tenure, days to renewal and the maturity stage.

Tenure counts whole UTC days from the signup day to the cutoff day (signup yesterday -> 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from core.config import FeaturesConfig
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
            hint="e.g. features.maturity_days=[90,365]",
        )
    a, b = (int(x) for x in maturity_days)
    ten = tenure_days()
    return (
        pl.when(ten < a)
        .then(pl.lit(STAGES[0]))
        .when(ten < b)
        .then(pl.lit(STAGES[1]))
        .otherwise(pl.lit(STAGES[2]))
        .alias("maturity_stage")
    )


def renewal_cycle(fcfg: FeaturesConfig, account_columns: Sequence[str]) -> pl.Expr:
    """Contract cycle in days per account: ``features.renewal_cycle_by`` on the column
    ``features.renewal_cycle_column`` (e.g. plan monthly -> 30), else ``renewal_cycle_days``."""
    default = int(fcfg.renewal_cycle_days)
    col = fcfg.renewal_cycle_column
    by = dict(fcfg.renewal_cycle_by or {})
    if col and col in account_columns and by:
        return (
            pl.col(col)
            .cast(pl.String)
            .replace_strict(
                list(by), [int(v) for v in by.values()], default=default, return_dtype=pl.Int64
            )
        )
    return pl.lit(default, dtype=pl.Int64)


def lifecycle(fcfg: FeaturesConfig, has_renewal: bool) -> dict[str, pl.Expr]:
    """tenure_days; days_to_renewal: days from the cutoff to the next renewal on the contract cycle.

    Why the cycle: a CRM's ``renewal_date`` is a snapshot taken at export time (the *next*
    renewal then, or the date a churned contract ended). Used as is, ``renewal - t`` at an older
    cutoff reveals the future — how far the export is from t, and for churned accounts the churn
    date. Only the phase of the date on its cycle is known at t, so the feature is
    ``(renewal_day - t) mod cycle`` in [0, cycle): the next anniversary on or after t.
    """
    out = {"tenure_days": tenure_days()}
    if has_renewal:
        cycle = pl.col("renewal_cycle_days")
        diff = pl.col("renewal_day") - pl.col(T)
        out["days_to_renewal"] = (((diff % cycle) + cycle) % cycle).cast(pl.Float64)
    return out
