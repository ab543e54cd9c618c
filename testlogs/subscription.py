"""A B2C subscription product (a podcast/audio app): one person per subscription.

Tables:

* ``events``: ``member_id`` (str, ``M-000123``), ``ts`` (``Datetime('us', 'UTC')``, whole
  seconds), ``action`` (str, one of :data:`ACTIONS`), ``duration_s`` (f64: seconds listened for
  ``episode_played``, null for every other action). No separate user column: the member is the
  user (the product's ``user_id`` defaults to the account).
* ``subscribers``: ``member_id``, ``joined_at``, ``cancelled_at`` (churn date, null while
  subscribed), ``country`` and ``plan`` (segments; ``plan`` is the plan chosen at signup, a
  downgrade shows only as a ``plan_downgraded`` event, so the segment never leaks the future).

Vocabulary (:data:`ACTIONS`): ``episode_played``, ``search``, ``download``, ``playlist_created``,
``share``, ``profile_edited``, ``payment_failed``, ``plan_downgraded``.

Members join over the history with a growing intake (20 % more join after as-of and exist only
in ``future_*``). Mechanism: daily Poisson counts per member and action (a loop over the 8 actions, each a
members x days matrix), from a latent activity level, per-action tastes, a weekly rhythm,
onboarding (playlists and profile edits in the first week) and vacations (all activity drops for
1-3 weeks, then resumes: recency noise that is *not* churn). Cancellation time is exponential with
a hazard by plan, activity and a gamma frailty, plus a trial-end cancellation wave. Before they
cancel, members follow one of three paths, each with its own leading signal:

* ``fading`` (half of the churners): over 3-9 weeks plays fall to 40 %, shares and new
  playlists almost vanish, downloads vanish in the first half of the fade already and listens
  get shorter, while *searches rise* (looking for something to keep them) -- so the total count,
  and recency, fall less than downloads do.
* ``payment`` (involuntary, more likely in BR/IN/MX): engagement stays normal, while a dunning
  run retries the card (``payment_failed`` first 10-30 days before the cancellation, then every
  4-8 days); recency sees nothing until the end.
* ``downgrade`` (not on ``basic``): a ``plan_downgraded`` 2-7 weeks before cancelling, after
  which downloads (a premium feature) drop to a quarter.

Non-churners also get occasional payment failures and downgrades (at a lower rate), so no single
event is a perfect tell. Suggested label: ``churn_event`` (``cancelled_at`` in the horizon),
horizon 28 days.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from testlogs._common import (
    Shape,
    Window,
    arrivals,
    decode,
    prefixed_ids,
    sort_events,
    to_timestamps,
)

ACTIONS = (
    "episode_played",
    "search",
    "download",
    "playlist_created",
    "share",
    "profile_edited",
    "payment_failed",
    "plan_downgraded",
)
# Daily rate of an average member; multiplier at the end of a fade; multiplier once downgraded.
RATES = {
    "episode_played": (1.0, 0.4, 0.8),
    "search": (0.35, 1.3, 1.0),
    "download": (0.18, 0.05, 0.25),
    "playlist_created": (0.02, 0.1, 0.7),
    "share": (0.04, 0.1, 0.6),
    "profile_edited": (0.006, 1.0, 1.0),
}
WEEKEND_PLAYS = 1.3
COUNTRIES = {
    "US": 0.32,
    "GB": 0.12,
    "DE": 0.1,
    "FR": 0.08,
    "BR": 0.1,
    "IN": 0.1,
    "CA": 0.06,
    "AU": 0.05,
    "MX": 0.07,
}
RISKY_PAYMENTS = ("BR", "IN", "MX")  # card failures 2.5x as often
PLANS = {"basic": 0.35, "premium": 0.35, "family": 0.15, "student": 0.15}
PLAN_HAZARD = {"basic": 1.3, "premium": 0.9, "family": 0.6, "student": 1.5}
MEAN_LIFETIME_DAYS = 320
TRIAL_CHURN = 0.12  # cancel at the end of the 30-day trial
PAYMENT_FAILED_PER_DAY = 0.0015  # background card failures (recovered)
DUNNING_TRIES = 4  # card retries before an involuntary cancellation
DOWNGRADE_MEAN_DAYS = 1000  # background downgrades of non-churners
VACATIONS_PER_DAY = 1 / 120


def _categorical(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    """``n`` codes into ``list(weights)`` drawn with the given (relative) weights."""
    p = np.array(list(weights.values()))
    return rng.choice(p.size, n, p=p / p.sum())


def simulate(rng: np.random.Generator, window: Window, n: int) -> dict[str, pl.DataFrame]:
    """Events and subscribers over the whole span; cancellations beyond it are left null."""
    span = float(window.total_days)
    n_days = int(np.ceil(span))
    join = arrivals(rng, n, window)
    n = join.size  # including the future newcomers
    join = np.floor(join) + rng.uniform(0.3, 0.95, n)
    country = np.array(list(COUNTRIES))[_categorical(rng, COUNTRIES, n)]
    plan_code = _categorical(rng, PLANS, n)
    plan = np.array(list(PLANS))[plan_code]
    pay_risk = np.where(np.isin(country, RISKY_PAYMENTS), 2.5, 1.0)
    activity = rng.gamma(1.5, 1 / 1.5, n)

    # Cancellation: exponential lifetime with frailty, or the trial-end wave.
    hazard = (
        rng.gamma(2.0, 0.5, n)
        / MEAN_LIFETIME_DAYS
        * np.array([PLAN_HAZARD[p] for p in PLANS])[plan_code]
        * np.clip(activity, 0.2, None) ** -0.3
    )
    trial = rng.random(n) < TRIAL_CHURN
    cancel = join + np.where(trial, rng.uniform(27.0, 31.0, n), rng.exponential(1.0, n) / hazard)
    activity = np.where(trial, activity * 0.6, activity)

    # Pre-cancellation path of every member (applies even when the cancellation is after the span).
    w = np.stack([np.full(n, 0.5), 0.25 * pay_risk, np.where(plan == "basic", 0.0, 0.25)], axis=1)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    path = (rng.random(n)[:, None] > cum).sum(axis=1)  # 0 fading, 1 payment, 2 downgrade
    path = np.where(trial, 0, path)
    fade = np.where(path == 0, np.where(trial, rng.uniform(10, 20, n), rng.uniform(21, 63, n)), 0.0)
    downgrade = np.where(plan == "basic", np.inf, join + rng.exponential(DOWNGRADE_MEAN_DAYS, n))
    planted = np.maximum(cancel - rng.uniform(14, 50, n), join + 0.5 * (cancel - join))
    downgrade = np.where(path == 2, np.minimum(downgrade, planted), downgrade)
    end = np.minimum(cancel, span)

    # Day grid (members x days): who is live, fading, downgraded, on vacation.
    mid = np.arange(n_days) + 0.5
    live = (mid[None, :] + 0.5 > join[:, None]) & (mid[None, :] - 0.5 < end[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        progress = np.clip((mid[None, :] - (cancel - fade)[:, None]) / fade[:, None], 0.0, 1.0)
    progress = np.where(fade[:, None] > 0, progress, 0.0)
    downgraded = mid[None, :] >= downgrade[:, None]
    weekday = (np.arange(n_days) + window.first_weekday()) % 7
    weekend = np.where(weekday >= 5, WEEKEND_PLAYS, 1.0)[None, :]
    onboarding = (mid[None, :] - join[:, None]) < 7
    away = _vacations(rng, n, n_days)

    idx_parts, t_parts, code_parts = [], [], []
    base = activity[:, None] * np.where(away, 0.1, 1.0) * live
    for action, (rate, faded, after_downgrade) in RATES.items():
        action_code = ACTIONS.index(action)
        taste = rng.gamma(2.0, 0.5, n)[:, None]
        # Offline listening is the first habit to go: downloads fade twice as fast.
        lead = np.minimum(2.0 * progress, 1.0) if action == "download" else progress
        lam = (
            rate
            * base
            * taste
            * (1.0 - (1.0 - faded) * lead)
            * np.where(downgraded, after_downgrade, 1.0)
        )
        if action in ("episode_played", "share"):
            lam = lam * weekend
        if action in ("playlist_created", "profile_edited"):
            lam = lam * np.where(onboarding, 6.0, 1.0)
        rows, days = np.nonzero(counts := rng.poisson(lam))
        reps = counts[rows, days]
        idx_parts.append(np.repeat(rows, reps))
        t_parts.append(np.repeat(days, reps) + _evening(rng, int(reps.sum())))
        code_parts.append(np.full(int(reps.sum()), action_code))

    # Payment failures: background (billing run ~03:00 UTC) plus the involuntary churners' ones.
    live_pay = rng.random((n, n_days)) < PAYMENT_FAILED_PER_DAY * pay_risk[:, None] * live
    pf_idx, pf_day = np.nonzero(live_pay)
    # Dunning: the first failure 10-30 days before the cancellation, retries every 4-8 days.
    first_fail = cancel - rng.uniform(10.0, 30.0, n)
    retry = rng.uniform(4.0, 8.0, n)
    pay_idx = np.repeat(np.flatnonzero(path == 1), DUNNING_TRIES)
    attempt = np.tile(np.arange(DUNNING_TRIES), int((path == 1).sum()))
    pay_day = first_fail[pay_idx] + attempt * retry[pay_idx]
    before = pay_day < cancel[pay_idx]
    pay_idx, pay_day = pay_idx[before], np.floor(pay_day[before])
    pf_idx = np.concatenate([pf_idx, pay_idx])
    pf_day = np.concatenate([pf_day.astype(np.float64), pay_day])
    idx_parts.append(pf_idx)
    t_parts.append(pf_day + (3.0 + rng.normal(0.0, 0.25, pf_idx.size)) / 24)
    code_parts.append(np.full(pf_idx.size, ACTIONS.index("payment_failed")))
    # Downgrades: one event at the downgrade time, if it happens while subscribed.
    dg_idx = np.flatnonzero(downgrade < end)
    idx_parts.append(dg_idx)
    t_parts.append(downgrade[dg_idx])
    code_parts.append(np.full(dg_idx.size, ACTIONS.index("plan_downgraded")))

    idx = np.concatenate(idx_parts)
    t = np.concatenate(t_parts)
    code = np.concatenate(code_parts)
    keep = (t >= join[idx]) & (t < end[idx])
    idx, t, code = idx[keep], t[keep], code[keep]

    # Listen duration: shorter for shallow members and as a fade progresses.
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.clip((t - (cancel - fade)[idx]) / fade[idx], 0.0, 1.0)
    p = np.where(fade[idx] > 0, p, 0.0)
    listener = np.exp(rng.normal(0.0, 0.3, n))
    duration = np.round(
        np.exp(rng.normal(np.log(1500.0), 0.7, t.size)) * listener[idx] * (1.0 - 0.5 * p)
    )
    duration = np.where(code == ACTIONS.index("episode_played"), np.maximum(duration, 5.0), np.nan)

    ids = prefixed_ids("M-", n)
    events = pl.DataFrame(
        {
            "member_id": idx.astype(np.int32),
            "ts": to_timestamps(window, t),
            "action": code.astype(np.int8),
            "duration_s": duration,
        }
    ).with_columns(pl.col("duration_s").fill_nan(None))
    events = sort_events(events, t, idx, n, code, len(ACTIONS))
    events = decode(events, {"member_id": ids, "action": ACTIONS})
    subscribers = pl.DataFrame(
        {
            "member_id": ids,
            "joined_at": to_timestamps(window, join),
            "cancelled_at": to_timestamps(window, np.minimum(cancel, span)),
            "country": country,
            "plan": plan,
        }
    ).with_columns(
        pl.when(pl.Series(cancel < span)).then(pl.col("cancelled_at")).alias("cancelled_at")
    )
    return {"events": events, "subscribers": subscribers}


def _evening(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fraction of the day (UTC): commute in the morning, most listening in the evening."""
    u = rng.random(size)
    hour = np.where(u < 0.25, rng.normal(8.0, 1.2, size), rng.normal(20.0, 2.5, size))
    hour = np.where(u > 0.85, rng.uniform(0.0, 24.0, size), hour)
    return np.mod(hour, 24.0) / 24.0


def _vacations(rng: np.random.Generator, n: int, n_days: int) -> np.ndarray:
    """Members x days mask of 1-3 week breaks (a loop over at most a few vacation slots)."""
    away = np.zeros((n, n_days), dtype=bool)
    count = rng.poisson(VACATIONS_PER_DAY * n_days, n)
    day = np.arange(n_days)[None, :]
    for slot in range(int(count.max(initial=0))):
        begin = rng.uniform(0, n_days, n)
        length = rng.uniform(7, 21, n)
        on = (count > slot)[:, None] & (day >= begin[:, None]) & (day < (begin + length)[:, None])
        away |= on
    return away


SHAPE = Shape(
    name="subscription",
    simulate=simulate,
    default_n=2000,
    default_days=182,
    id_column="member_id",
    time_column="ts",
    mapping={
        "account_id": "member_id",
        "timestamp": "ts",
        "event": "action",
        "value": "duration_s",
        "created_at": "joined_at",
        "churned_at": "cancelled_at",
    },
    segments=["country", "plan"],
    segments_table="subscribers",
    label="churn_event",
    horizon_days=28,
    entity_table="subscribers",
    entity_start="joined_at",
    entity_end="cancelled_at",
    notes={
        "mechanism": "daily Poisson counts per action; pre-cancellation paths fading "
        "(downloads vanish, searches rise), payment (payment_failed) and "
        "downgrade (plan_downgraded, then fewer downloads); vacations as noise"
    },
)
