"""The truth oracle against realised labels, and leading signals that precede the usage fall."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from simulator import Simulation
from tests.simulator.conftest import AS_OF, realised_labels

START = AS_OF - timedelta(days=200)


def test_oracle_is_calibrated_and_sharp_on_realised_labels(sim: Simulation) -> None:
    lab = realised_labels(sim)
    assert lab.height > 1500
    assert lab["oracle_prob"].null_count() == 0  # a label that can exist has an oracle
    p = lab["oracle_prob"].to_numpy()
    y = lab["label"].to_numpy()
    assert 0.01 < y.mean() < 0.2
    # E[label] = E[oracle]: the realised rate is within a few standard errors of the mean oracle
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(y.mean() - p.mean()) < 4 * se + 0.004
    assert roc_auc_score(y, p) > 0.93
    assert (lab["oracle_se"] >= 0).all() and (lab["oracle_se"] <= 0.5 / np.sqrt(100) + 1e-12).all()


def test_oracle_is_null_only_where_the_label_cannot_exist(sim: Simulation) -> None:
    tr = sim.truth
    assert tr["oracle_prob"].null_count() > 0  # brand-new / inactive accounts have no label
    assert (
        tr.filter(pl.col("oracle_prob").is_null())["oracle_se"].null_count()
        == tr["oracle_prob"].null_count()
    )
    assert tr["oracle_prob"].drop_nulls().is_between(0, 1).all()


def _onsets(sim: Simulation, cause: str, before: int, after: int) -> pl.DataFrame:
    """Distinct (account, onset) of a cause with `before` days of history and `after` of future."""
    return (
        sim.truth.filter(pl.col("cause") == cause)
        .select("account_id", "cause_onset")
        .unique()
        .filter(
            (pl.col("cause_onset") >= START + timedelta(days=before))
            & (pl.col("cause_onset") + pl.duration(days=after) <= AS_OF)
        )
    )


def _window_stats(
    sim: Simulation, onsets: pl.DataFrame, lo: int, hi: int, event: str
) -> tuple[float, np.ndarray]:
    """Over days [onset + lo, onset + hi): `event` per active user-day pooled over the accounts,
    and each account's mean weekly active users (ordered as `onsets`)."""
    ev = sim.events.join(onsets, on="account_id").with_columns(
        rel=(pl.col("timestamp").dt.date() - pl.col("cause_onset")).dt.total_days()
    )
    ev = ev.filter(pl.col("rel").is_between(lo, hi - 1))
    logins = ev.filter(pl.col("event") == "login")
    rate = ev.filter(pl.col("event") == event).height / max(logins.height, 1)
    wau = (
        logins.with_columns(wk=(pl.col("rel") - lo) // 7)
        .group_by("account_id", "wk")
        .agg(n=pl.col("user_id").n_unique())
        .group_by("account_id")
        .agg(wau=pl.col("n").sum() / ((hi - lo) / 7))
    )
    wau = onsets.join(wau, on="account_id", how="left", maintain_order="left")
    return rate, wau["wau"].fill_null(0).to_numpy()


def test_integration_errors_spike_before_usage_falls(sim: Simulation) -> None:
    onsets = _onsets(sim, "integration_broken", 28, 56)
    assert onsets.height >= 5
    err_before, wau_before = _window_stats(sim, onsets, -28, 0, "integration_error")
    err_first, wau_first = _window_stats(sim, onsets, 0, 7, "integration_error")
    _, wau_late = _window_stats(sim, onsets, 42, 56, "integration_error")
    assert err_first > 8 * err_before  # the signal is there in the first week...
    assert np.median(wau_first / wau_before) > 0.85  # ...while usage has not fallen yet
    # usage falls weeks later, most where integrations matter (pooled: large accounts weigh most)
    assert wau_late.sum() < 0.75 * wau_before.sum()


def test_support_tickets_pile_up_before_usage_falls(sim: Simulation) -> None:
    onsets = _onsets(sim, "support_overload", 28, 70)
    assert onsets.height >= 5
    tick_before, wau_before = _window_stats(sim, onsets, -28, 0, "support_ticket_opened")
    tick_first, wau_first = _window_stats(sim, onsets, 0, 14, "support_ticket_opened")
    _, wau_late = _window_stats(sim, onsets, 56, 70, "support_ticket_opened")
    assert tick_first > 8 * tick_before
    assert np.median(wau_first / wau_before) > 0.85
    assert np.median(wau_late / wau_before) < 0.8  # per account: ticket overload hurts smb most


def test_champion_left_is_the_main_admin_deactivated_at_onset(sim: Simulation) -> None:
    onsets = _onsets(sim, "champion_left", 0, 0)
    assert onsets.height >= 5
    first_admin = (
        sim.users.filter(pl.col("role") == "admin")
        .sort("created_at")
        .group_by("account_id")
        .first()
    )
    joined = onsets.join(first_admin, on="account_id")
    assert joined.height == onsets.height
    assert (joined["deactivated_at"].dt.date() == joined["cause_onset"]).all()


def test_seasonal_dips_are_harmless(sim: Simulation) -> None:
    lab = realised_labels(sim)
    by_cause = dict(lab.group_by("cause").agg(pl.col("label").mean()).iter_rows())
    assert by_cause["seasonal_dip"] < 0.05
    decays = (
        "champion_left",
        "integration_broken",
        "onboarding_stalled",
        "support_overload",
        "random_onset",
    )
    assert min(by_cause[c] for c in decays) > 2 * by_cause["seasonal_dip"]
    assert by_cause["none"] < 0.02
