"""Synthetic report inputs of any size, shaped exactly like the scoring outputs.

Why: the report's browser test, its render benchmark and a quick visual preview need realistic
frames (segments, tiers, nullable changes, long explanations, weekly usage, milestones) without
training a model. Everything is vectorised numpy/polars from one seeded generator, so the same
``(n_accounts, seed)`` always gives the same frames.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from features.catalogue import humanise

SEGMENTS = {
    "industry": ["fintech", "healthcare", "retail", "software"],
    "size_tier": ["smb", "mid", "enterprise"],
    "use_case": ["analytics", "automation", "reporting"],
}
FEATURES = [  # (feature, family, typical value)
    ("active_admins_28d", "role", 3.0),
    ("active_users_trend_28d", "trends", -0.1),
    ("days_since_last_workflow", "activity", 6.0),
    ("integrations_connected", "breadth", 2.0),
    ("support_tickets_28d", "friction", 1.0),
    ("features_used_28d", "breadth", 8.0),
    ("weekly_active_users_28d", "activity", 20.0),
    ("days_to_first_workflow", "onboarding", 9.0),
]
MILESTONES = [
    ("first_dashboard", "Created a first dashboard", 7),
    ("first_workflow", "Launched a first automation", 21),
    ("first_integration", "Connected a first integration", 30),
    ("five_active_users", "Five people active in one week", 45),
]
THRESHOLDS = {"high": 0.5, "medium": 0.25}


def sample_inputs(
    n_accounts: int, seed: int, as_of: date = date(2026, 11, 1), n_runs: int = 6, n_weeks: int = 12
) -> dict[str, Any]:
    """Keyword arguments for ``report.render.render_report`` (all but ``out_dir``).

    ``decay_risk`` is drawn from Beta(1.3, 2.5); about one account in eight has no previous run
    (null change); each account gets 3 risk drivers and 2 protective factors.
    """
    rng = np.random.default_rng(seed)
    n = n_accounts
    ids = np.array([f"ACC-{i:05d}" for i in range(n)])
    risk = rng.beta(1.3, 2.5, n).round(4)
    order = np.argsort(-risk, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    prev = np.clip(risk + rng.normal(0, 0.06, n), 0, 1).round(4)
    has_prev = rng.random(n) > 0.125
    tier = np.where(
        risk >= THRESHOLDS["high"], "high", np.where(risk >= THRESHOLDS["medium"], "medium", "low")
    )
    seg_vals = {k: np.array(v)[rng.integers(0, len(v), n)] for k, v in SEGMENTS.items()}

    feat_idx = np.argsort(rng.random((n, len(FEATURES))), axis=1)[:, :5]  # 5 distinct features
    names = np.array([f[0] for f in FEATURES])[feat_idx]
    fams = np.array([f[1] for f in FEATURES])[feat_idx]
    typical = np.array([f[2] for f in FEATURES])[feat_idx]
    mags = np.sort(rng.gamma(2.0, 0.25, (n, 5)), axis=1)[:, ::-1]
    contrib = np.concatenate([mags[:, :3], -mags[:, 3:]], axis=1).round(4)
    direction = np.where(contrib > 0, "risk", "protective")
    value = (typical * rng.uniform(0.2, 1.8, (n, 5))).round(2)
    peer = typical.round(2)
    exp_rank = np.tile(np.array([1, 2, 3, 1, 2]), (n, 1))
    pretty = np.array([humanise(f[0], capital=True) for f in FEATURES])[feat_idx]
    sentence = np.char.add(
        np.char.add(
            np.char.add(np.char.add(pretty, " is "), value.astype(str)), "; similar accounts have "
        ),
        peer.astype(str),
    )
    explanations = pl.DataFrame(
        {
            "account_id": np.repeat(ids, 5),
            "feature": names.ravel(),
            "family": fams.ravel(),
            "value": value.ravel(),
            "peer_median": peer.ravel(),
            "contribution": contrib.ravel(),
            "rank": exp_rank.ravel(),
            "direction": direction.ravel(),
            "sentence": sentence.ravel(),
        }
    )

    scores = (
        pl.DataFrame(
            {
                "account_id": ids,
                "as_of": [as_of] * n,
                **seg_vals,
                "decay_risk": risk,
                "risk_tier": tier,
                "rank": rank,
                "previous_risk": np.where(has_prev, prev, np.nan),
                "model_version": ["7"] * n,
                **{f"driver_{k + 1}": names[:, k] for k in range(3)},
                **{f"driver_{k + 1}_text": sentence[:, k] for k in range(3)},
                **{f"driver_{k + 1}_family": fams[:, k] for k in range(3)},
                **{f"protective_{k + 1}": names[:, 3 + k] for k in range(2)},
                **{f"protective_{k + 1}_text": sentence[:, 3 + k] for k in range(2)},
                "next_best_action": np.where(
                    tier == "high",
                    "Book a call with the account's admin this week: usage is falling.",
                    np.where(
                        tier == "medium",
                        "Share the automation template peers in this segment use.",
                        "No action needed; celebrate their progress.",
                    ),
                ),
            }
        )
        .with_columns(pl.col("previous_risk").fill_nan(None))
        .with_columns(
            (pl.col("decay_risk") - pl.col("previous_risk")).round(4).alias("risk_change"),
        )
        .sort("rank")
    )

    run_dates = [as_of - timedelta(days=7 * k) for k in range(n_runs - 1, -1, -1)]
    steps = rng.normal(0, 0.04, (n, n_runs))
    steps[:, -1] = 0.0  # the latest run is today's score
    walk = np.clip(risk[:, None] + np.cumsum(steps[:, ::-1], axis=1)[:, ::-1], 0, 1)
    history = pl.DataFrame(
        {
            "account_id": np.repeat(ids, n_runs),
            "as_of": run_dates * n,
            "decay_risk": walk.round(4).ravel(),
        }
    )

    weeks = [as_of - timedelta(days=7 * k) for k in range(n_weeks, 0, -1)]
    base = rng.integers(5, 60, n)
    slope = -risk * rng.uniform(0.0, 0.08, n)
    t = np.arange(n_weeks)
    wau = np.maximum(
        0, base[:, None] * (1 + slope[:, None] * t) + rng.normal(0, 1.5, (n, n_weeks))
    ).round()
    usage = pl.DataFrame(
        {
            "account_id": np.repeat(ids, n_weeks),
            "week_start": weeks * n,
            "active_users": wau.astype(np.int64).ravel(),
            "usage_events": (wau * rng.uniform(8, 20, (n, n_weeks))).astype(np.int64).ravel(),
        }
    )

    m = len(MILESTONES)
    expected = np.array([e for _, _, e in MILESTONES])
    days = np.round(expected[None, :] * rng.uniform(0.4, 2.2, (n, m))).astype(np.int64)
    reached = rng.random((n, m)) > 0.25
    age = rng.integers(20, 400, n)[:, None]
    status = np.where(
        reached,
        np.where(days <= expected, "reached", "late"),
        np.where(age > expected, "missing", "pending"),
    )
    start = np.datetime64(as_of) - age.astype("timedelta64[D]")
    reached_on = np.where(reached, start + days.astype("timedelta64[D]"), np.datetime64("NaT"))
    milestones = pl.DataFrame(
        {
            "account_id": np.repeat(ids, m),
            "milestone": [k for k, _, _ in MILESTONES] * n,
            "description": [d for _, d, _ in MILESTONES] * n,
            "expected_days": np.tile(expected, n),
            "reached_on": reached_on.ravel().astype("datetime64[D]"),
            "days_to_reach": np.where(reached, days, np.minimum(age, 9999)).ravel(),
            "status": status.ravel(),
        }
    )

    tier_counts = {t: int((tier == t).sum()) for t in ("high", "medium", "low")}
    meta = {
        "as_of": as_of,
        "model_version": "7",
        "model_uri": "models:/adoption-decay@champion",
        "segments": list(SEGMENTS),
        "n_accounts": n,
        "tier_counts": tier_counts,
        "generated_at": datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
        "tier_thresholds": THRESHOLDS,
        "horizon_days": 28,
    }
    return {
        "scores": scores,
        "explanations": explanations,
        "history": history,
        "usage": usage,
        "milestones": milestones,
        "meta": meta,
    }
