"""One small simulation shared by the simulator tests (seconds, not minutes)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from simulator import LabelSpec, Simulation, SimulationSpec, simulate

AS_OF = date(2026, 11, 1)
EXCLUDED = ["support_ticket_opened", "integration_error", "subscription_cancelled"]


def small_spec(
    accounts: int = 260, days: int = 200, seed: int = 7, replays: int = 100
) -> SimulationSpec:
    """Weekly cutoffs ending at the simulation end (the default schedule, truncated)."""
    cutoffs = tuple(AS_OF - timedelta(days=7 * k) for k in range(26))
    return SimulationSpec(
        accounts=accounts,
        days=days,
        seed=seed,
        end_date=AS_OF,
        cutoffs=cutoffs,
        label=LabelSpec(),
        oracle_replays=replays,
    )


@pytest.fixture(scope="session")
def sim() -> Simulation:
    return simulate(small_spec())


DEFAULT_LABEL = LabelSpec()


def realised_labels(sim: Simulation, label: LabelSpec = DEFAULT_LABEL) -> pl.DataFrame:
    """usage_drop computed independently from the events (weekly cutoffs aligned to AS_OF):
    truth rows with an observed horizon and a baseline >= min, plus `label`, `baseline`."""
    usage = sim.events.filter(~pl.col("event").is_in(EXCLUDED))
    # grid week w: the w-th whole week before AS_OF (w = 0 is [AS_OF - 7d, AS_OF))
    wau = (
        usage.with_columns(
            w=((pl.lit(AS_OF) - pl.col("timestamp").dt.date()).dt.total_days() - 1) // 7
        )
        .group_by("account_id", "w")
        .agg(wau=pl.col("user_id").n_unique())
    )
    truth = sim.truth.with_columns(j=(pl.lit(AS_OF) - pl.col("cutoff")).dt.total_days() // 7)
    truth = truth.filter(pl.col("j") >= label.horizon_days // 7)

    def mean_wau(weeks: list[int], name: str) -> pl.DataFrame:
        rows = truth.select("account_id", "j").join(pl.DataFrame({"k": weeks}), how="cross")
        rows = rows.with_columns(w=pl.col("j") + pl.col("k"))
        return (
            rows.join(wau, on=["account_id", "w"], how="left")
            .group_by("account_id", "j")
            .agg((pl.col("wau").fill_null(0).sum() / len(weeks)).alias(name))
        )

    base = mean_wau(list(range(label.baseline_days // 7)), "baseline")
    h = label.horizon_days // 7
    assess = mean_wau(list(range(-h, -h + label.assess_days // 7)), "assess")
    return (
        truth.join(base, on=["account_id", "j"])
        .join(assess, on=["account_id", "j"])
        .filter(pl.col("baseline") >= label.min_baseline_users)
        .with_columns(
            label=(pl.col("assess") < label.drop_fraction * pl.col("baseline")).cast(pl.Int8)
        )
    )
