"""Why the landmark: a behaviour that only "works" because long-lived accounts have time to do it.

World 1 (no effect): lifetimes are exponential (mean 60 days, so the future of an account alive
at day D does not depend on its past) and behaviour ``b`` happens at a uniform time in the first
90 days if the account is still alive then. Success = still active on days [90, 120). Doing
``b`` changes nothing, yet "accounts that ever did b" succeed far more often than those that never
did — they had to live long enough to do it. The landmark analysis at D = 14 (alive at 14, did b
by 14 or not) finds nothing.

World 2 (planted effect): doing ``b`` in the first 14 days raises the success probability from
0.40 to 0.60 (true risk difference 0.20); the landmark analysis finds it, its interval covers
0.20, and it replicates in the later signup cohort.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from adoption.candidates import candidate_behaviours
from adoption.landmark import landmark_effects, replicate, two_group_stats
from adoption.timeline import account_timeline, retention_outcome
from tests.adoption.helpers import ORIGIN, TS

DAY_US = 86_400_000_000


def _frames(
    ids: np.ndarray,
    created: np.ndarray,
    event_acc: np.ndarray,
    event_name: list[str],
    event_day: np.ndarray,
    churned: np.ndarray | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    origin = pl.lit(ORIGIN).cast(TS)
    ev = pl.DataFrame(
        {
            "account_id": event_acc,
            "event": event_name,
            "_us": np.rint((created[event_acc.astype(int)] + event_day) * DAY_US).astype(np.int64),
        }
    ).select(
        pl.format("a{}", "account_id").alias("account_id"),
        pl.format("a{}u", "account_id").alias("user_id"),
        "event",
        (origin + pl.duration(microseconds=pl.col("_us"))).alias("timestamp"),
        pl.lit(None, dtype=pl.Float64).alias("value"),
    )
    acc = pl.DataFrame({"i": ids, "_c": np.rint(created * DAY_US).astype(np.int64)}).select(
        pl.format("a{}", "i").alias("account_id"),
        (origin + pl.duration(microseconds=pl.col("_c"))).alias("created_at"),
    )
    if churned is not None:
        us = np.rint(np.where(np.isfinite(churned), churned, 0.0) * DAY_US)
        acc = acc.with_columns(
            pl.when(pl.Series(np.isfinite(churned)))
            .then(origin + pl.duration(microseconds=pl.lit(pl.Series(us.astype(np.int64)))))
            .otherwise(None)
            .alias("churned_at")
        )
    return ev, acc


def _immortal_world(n: int = 3000, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    created = np.zeros(n)
    life = rng.exponential(60.0, n)
    b_day = rng.uniform(0, 90, n)
    # a login every 5 days while alive, b once if alive at b_day
    login_acc, login_day = [], []
    for k in range(0, 400, 5):
        alive = life > k
        login_acc.append(ids[alive])
        login_day.append(np.full(alive.sum(), float(k) + 0.1))
    did_b = b_day < life
    acc_idx = np.concatenate([*login_acc, ids[did_b]])
    days = np.concatenate([*login_day, b_day[did_b]])
    names = ["login"] * (len(acc_idx) - int(did_b.sum())) + ["b"] * int(did_b.sum())
    churned = np.where(life < 400, life, np.inf)
    return _frames(ids, created, acc_idx, names, days, churned)


def test_naive_comparison_finds_an_effect_the_landmark_does_not() -> None:
    ev, acc = _immortal_world()
    tl = account_timeline(ev, acc, observed_until=ORIGIN.replace(year=2026), log_start=ORIGIN)
    outcome = retention_outcome(ev, tl, landmark_days=30, horizon_days=90, window_days=30)
    # outcome = alive through day 119 (a login in [90, 120) and churned_at not before day 120)
    assert 0.10 < outcome["outcome"].mean() < 0.17  # type: ignore[operator]

    # Naive: ever did b (any time in the log) vs never, all accounts.
    ever = ev.filter(pl.col("event") == "b").select("account_id").unique()
    naive = (
        outcome.join(ever.with_columns(pl.lit(True).alias("did")), on="account_id", how="left")
        .with_columns(pl.col("did").fill_null(False))
        .select(
            pl.col("did").sum().alias("n_did"),
            (pl.col("did") & (pl.col("outcome") == 1)).sum().alias("x_did"),
            (~pl.col("did")).sum().alias("n_not"),
            (~pl.col("did") & (pl.col("outcome") == 1)).sum().alias("x_not"),
        )
    )
    n = two_group_stats(naive).row(0, named=True)
    assert n["risk_difference"] > 0.2  # ~0.26: every success did b, no failure-free non-doer
    assert n["p_value"] < 1e-12

    cand = candidate_behaviours(
        ev, tl, (), None, landmark_days=(14,), key_events=["b"], exclude_events=["login"]
    )
    assert cand["candidate"].unique().to_list() == ["event__b__ge1__14d"]
    eff = landmark_effects(cand, tl, outcome).row(0, named=True)
    assert eff["status"] == "ok"
    assert not eff["significant"]
    assert eff["rd_low"] < 0 < eff["rd_high"]
    assert abs(eff["risk_difference"]) < 0.05
    # the landmark keeps only accounts alive at day 14 (about exp(-14/60) = 79 %)
    assert 0.75 < eff["n_total"] / 3000 < 0.83


def _planted_world(
    n: int = 1200, seed: int = 11
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    created = rng.integers(0, 120, n).astype(float)  # signups over four months
    did = rng.uniform(size=n) < 0.4
    b_day = rng.uniform(0, 14, n)
    success = rng.uniform(size=n) < np.where(did, 0.60, 0.40)
    acc_idx = np.concatenate([ids, ids[did]])
    days = np.concatenate([np.full(n, 0.1), b_day[did]])
    names = ["login"] * n + ["b"] * int(did.sum())
    ev, acc = _frames(ids, created, acc_idx, names, days, None)
    outcome = pl.DataFrame(
        {"account_id": [f"a{i}" for i in ids], "outcome": success.astype(np.int8)}
    )
    return ev, acc, outcome


def test_planted_effect_is_found_and_replicates() -> None:
    ev, acc, outcome = _planted_world()
    tl = account_timeline(
        ev,
        acc,
        observed_until=ORIGIN.replace(year=2026),
        log_start=ORIGIN,
        churn="inactivity",
        inactive_days=400,
    )
    cand = candidate_behaviours(
        ev, tl, (), None, landmark_days=(14,), key_events=["b"], exclude_events=["login"]
    )
    eff = landmark_effects(cand, tl, outcome).row(0, named=True)
    assert eff["significant"]
    assert eff["rd_low"] < 0.20 < eff["rd_high"]
    assert eff["rd_low"] > 0
    assert 0.35 < eff["activation_rate"] < 0.45
    assert eff["wording"].startswith("Accounts that did b in the first 14 days went on to succeed")
    rep = replicate(cand, tl, outcome).row(0, named=True)
    assert rep["replicates"] is True
