"""A transactions-only purchase log (retail / CDNOW-like): who bought when, for how much.

Columns (one table, ``events``): ``customer`` (str, ``C-000123``), ``purchased_at``
(``Datetime('us', 'UTC')``, whole seconds), ``amount`` (f64, currency units, two decimals).
There are no event names, no users and no customers table: the log *is* the product's only
source, as with a shop's order export. A customer exists from their first purchase.

Mechanism (a Pareto/NBD world with what such a model does not capture):

* **Staggered joins**: first purchases arrive over the history with a growing intake (a young
  shop), and 20 % more customers after as-of (only in ``future_*``); the first purchase is
  always in the log.
* **Heterogeneous rates**: each customer buys as a Poisson process with a latent rate drawn from
  a gamma distribution (mean one purchase every ~24 days, shape < 1: many rare buyers).
* **Dropout**: a latent exponential lifetime with a gamma-distributed dropout rate (Pareto/NBD);
  about a quarter of customers are one-and-done (lifetime 0: only the first purchase).
* **Not BTYD**: (a) for most customers who drop out (80 %), the last 30-75 days before dropout
  *fade*: the rate falls linearly to a quarter and basket amounts to about a third, so recent
  spend and the gap trend carry information recency/frequency do not; (b) a December peak and
  a summer dip (yearly) and busier weekends (weekly) modulate every rate; (c) baskets are
  bigger in December.

A good predictor at as-of therefore uses the *trend* in gaps and amounts, not only the last
purchase date. Suggested label: ``inactivity`` (no purchase in the horizon), horizon 56 days.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from testlogs._common import (
    Shape,
    Window,
    arrivals,
    decode,
    poisson_times,
    prefixed_ids,
    sort_events,
    to_timestamps,
    weekly_multiplier,
)

MEAN_RATE_PER_DAY = 1 / 24  # purchases per day of an average live customer
RATE_SHAPE = 0.8  # gamma shape of the latent rate (heterogeneity)
MEAN_LIFETIME_DAYS = 180  # mean of the gamma-distributed dropout rate's reciprocal
LIFETIME_SHAPE = 1.5
ONE_AND_DONE = 0.25  # share of customers who never come back
FADE_SHARE = 0.8  # share of dropouts whose rate and baskets fade first
FADE_DAYS = (30.0, 75.0)
FADE_RATE_FLOOR = 0.25  # rate multiplier reached at dropout
FADE_AMOUNT_FLOOR = 0.35  # basket multiplier reached at dropout
WEEKDAY = [0.9, 0.9, 0.95, 1.0, 1.1, 1.3, 1.25]  # Monday .. Sunday


def _yearly(t_days: np.ndarray, window: Window) -> np.ndarray:
    """December peak (gifts) and a summer dip, as a multiplier of the purchase rate."""
    doy = (np.floor(t_days) + window.first_day_of_year() - 1) % 365 + 1
    december = 0.45 * np.exp(-(((doy - 345) / 14.0) ** 2))
    summer = -0.2 * np.exp(-(((doy - 210) / 25.0) ** 2))
    return 1.0 + december + summer


def _fade_progress(t: np.ndarray, death: np.ndarray, fade: np.ndarray) -> np.ndarray:
    """0 before the fade window, rising linearly to 1 at dropout (0 for customers without fade)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (t - (death - fade)) / fade
    return np.where(fade > 0, np.clip(p, 0.0, 1.0), 0.0)


def simulate(rng: np.random.Generator, window: Window, n: int) -> dict[str, pl.DataFrame]:
    """The whole purchase log over ``[window.start, window.end)`` for ``n`` customers."""
    span = float(window.total_days)
    join = arrivals(rng, n, window)
    n = join.size  # including the future newcomers
    join = np.floor(join) + _time_of_day(rng, n)
    rate = rng.gamma(RATE_SHAPE, MEAN_RATE_PER_DAY / RATE_SHAPE, n)
    dropout = rng.gamma(LIFETIME_SHAPE, 1 / (MEAN_LIFETIME_DAYS * LIFETIME_SHAPE), n)
    lifetime = rng.exponential(1.0, n) / dropout
    lifetime[rng.random(n) < ONE_AND_DONE] = 0.0
    death = join + lifetime
    fade = np.where(rng.random(n) < FADE_SHARE, rng.uniform(*FADE_DAYS, n), 0.0)
    basket = np.exp(rng.normal(np.log(32.0), 0.6, n))  # typical basket per customer

    # Repeat purchases by thinning a homogeneous process at the peak multiplier.
    peak = max(WEEKDAY) * 1.45
    idx, t = poisson_times(rng, rate * peak, join, np.minimum(death, span))
    t = np.floor(t) + _time_of_day(rng, t.size)
    progress = _fade_progress(t, death[idx], fade[idx])
    intensity = (
        weekly_multiplier(t, window, WEEKDAY)
        * _yearly(t, window)
        * (1.0 - (1.0 - FADE_RATE_FLOOR) * progress)
    )
    keep = (rng.random(t.size) * peak < intensity) & (t > join[idx]) & (t < span)
    idx, t, progress = idx[keep], t[keep], progress[keep]

    # The first purchase defines the customer; it is always there.
    idx = np.concatenate([np.arange(n), idx])
    t = np.concatenate([join, t])
    progress = np.concatenate([np.zeros(n), progress])
    december = _yearly(t, window) > 1.2
    amount = (
        basket[idx]
        * np.exp(rng.normal(0.0, 0.35, t.size))
        * (1.0 - (1.0 - FADE_AMOUNT_FLOOR) * progress)
        * np.where(december, 1.15, 1.0)
    )
    amount = np.round(np.maximum(amount, 0.99), 2)

    events = pl.DataFrame(
        {
            "customer": idx.astype(np.int32),
            "purchased_at": to_timestamps(window, t),
            "amount": amount,
        }
    )
    events = sort_events(events, t, idx, n)
    events = decode(events, {"customer": prefixed_ids("C-", n)})
    return {"events": events}


def _time_of_day(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fraction of the day: shop hours with a lunch and an evening bump, some night orders."""
    hour = np.where(
        rng.random(size) < 0.55, rng.normal(13.0, 2.5, size), rng.normal(20.0, 2.0, size)
    )
    hour = np.where(rng.random(size) < 0.08, rng.uniform(0.0, 24.0, size), hour)
    return np.mod(hour, 24.0) / 24.0


SHAPE = Shape(
    name="purchases",
    simulate=simulate,
    default_n=3000,
    default_days=273,
    id_column="customer",
    time_column="purchased_at",
    mapping={"account_id": "customer", "timestamp": "purchased_at", "value": "amount"},
    segments=[],
    segments_table=None,
    label="inactivity",
    horizon_days=56,
    notes={
        "mechanism": "gamma-heterogeneous Poisson purchases, exponential dropout, pre-dropout "
        "fade of rate and basket, yearly and weekly seasonality"
    },
)
