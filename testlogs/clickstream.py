"""A single-table web-shop clickstream: anonymous visitors, sessions of page views.

Columns (one table, ``events``): ``visitor`` (str, cookie-like ``v-3f9a1c2e``), ``time``
(``Datetime('us', 'UTC')``, whole milliseconds), ``page`` (str, one of :data:`PAGES`), and the
segment columns ``device``, ``channel`` and ``region`` *on each page view*. Each visitor is
their own "account" and their own only user; there is no visitors table, so the segments are
only known from the events and can change over time: a visitor's device changes per session
(phone at lunch, laptop at night) and a quarter of visitors switch their main device for good;
the channel is the session's traffic source (paid/social acquisition first, then mostly direct
and email); the region changes now and then (travel, VPN).

Vocabulary (:data:`PAGES`): ``home``, ``category``, ``search``, ``product``, ``account``,
``help``, ``add_to_cart``, ``checkout``, ``order_complete``.

Mechanism:

* Visitors arrive over the span (growing traffic); ~45 % bounce for good after one session.
* Returning visitors have a latent session rate (gamma, ~1.5 sessions a week on average), a
  latent exponential lifetime (mean 70 days) after which they lapse (never come back), and a
  weekly rhythm (busier weekends) by thinning.
* A session is a landing page (``home`` for direct/organic/email, ``product`` for paid/social),
  then a gamma-Poisson number of browse pages (category, search, product, account, help), then
  a funnel: ``add_to_cart`` with a visitor-specific probability, ``checkout`` and
  ``order_complete`` after it; page gaps are exponential (~45 s).
* **Leading signals**: over the 3-6 weeks before lapsing the session rate falls (to 40 % at
  the lapse), sessions get shorter (browse pages to 30 %) and the funnel dries up (add-to-cart
  probability to 10 %), so funnel pages and pages per session fall before the visits stop.

Suggested label: ``inactivity`` (no page view in the horizon), horizon 28 days.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from testlogs._common import (
    Shape,
    Window,
    arrivals,
    decode,
    hashed_ids,
    poisson_times,
    sort_events,
    to_timestamps,
    weekly_multiplier,
)

PAGES = (
    "home",
    "category",
    "search",
    "product",
    "account",
    "help",
    "add_to_cart",
    "checkout",
    "order_complete",
)
BROWSE = {"category": 0.3, "search": 0.2, "product": 0.4, "account": 0.05, "help": 0.05}
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_P = (0.55, 0.35, 0.10)
CHANNELS = ("direct", "organic", "email", "paid_search", "social", "referral")
FIRST_CHANNEL_P = (0.1, 0.3, 0.05, 0.25, 0.2, 0.1)  # how visitors were acquired
RETURN_CHANNEL_P = (0.4, 0.2, 0.2, 0.1, 0.07, 0.03)  # how they come back
REGIONS = ("NA", "EU", "APAC", "LATAM")
REGION_P = (0.4, 0.3, 0.2, 0.1)
BOUNCE = 0.45
MEAN_SESSIONS_PER_DAY = 0.22
MEAN_LIFETIME_DAYS = 70
FADE_DAYS = (21.0, 42.0)
WEEKDAY = [0.9, 0.9, 0.9, 0.95, 1.05, 1.2, 1.2]
MS = 1_000


def simulate(rng: np.random.Generator, window: Window, n: int) -> dict[str, pl.DataFrame]:
    """Page views of ``n`` visitors over the whole span (sessions may straddle as-of)."""
    span = float(window.total_days)
    first = arrivals(rng, n, window)
    n = first.size  # including the future newcomers
    first = np.floor(first) + _session_hour(rng, n)
    first = np.minimum(first, span - 1e-3)
    rate = rng.gamma(1.3, MEAN_SESSIONS_PER_DAY / 1.3, n)
    lifetime = np.where(rng.random(n) < BOUNCE, 0.0, rng.exponential(MEAN_LIFETIME_DAYS, n))
    lapse = first + lifetime
    fade = rng.uniform(*FADE_DAYS, n)
    depth = rng.gamma(2.0, 2.0, n)  # mean browse pages per session
    cart_p = rng.beta(2.0, 8.0, n)

    # Return sessions by thinning: weekly rhythm and the pre-lapse fall of the rate.
    peak = max(WEEKDAY)
    idx, t = poisson_times(rng, rate * peak, first, np.minimum(lapse, span))
    t = np.floor(t) + _session_hour(rng, t.size)
    progress = _progress(t, lapse[idx], fade[idx])
    keep = (
        (rng.random(t.size) * peak < weekly_multiplier(t, window, WEEKDAY) * (1.0 - 0.6 * progress))
        & (t > first[idx])
        & (t < span)
    )
    s_vis = np.concatenate([np.arange(n), idx[keep]])
    s_t = np.concatenate([first, t[keep]])
    s_first = np.concatenate([np.ones(n, dtype=bool), np.zeros(int(keep.sum()), dtype=bool)])
    s_prog = np.concatenate([np.zeros(n), progress[keep]])
    order = np.lexsort((s_t, s_vis))
    s_vis, s_t, s_first, s_prog = s_vis[order], s_t[order], s_first[order], s_prog[order]
    n_sess = s_vis.size

    device, channel, region = _session_segments(rng, n, s_vis, s_t, s_first, first, lapse)

    # Pages per session: landing + browse pages + funnel, all shrinking with the fade.
    browse = rng.poisson(depth[s_vis] * (1.0 - 0.7 * s_prog))
    cart = rng.random(n_sess) < cart_p[s_vis] * (1.0 - 0.9 * s_prog)
    checkout = cart & (rng.random(n_sess) < 0.55)
    order_done = checkout & (rng.random(n_sess) < 0.8)
    n_pages = 1 + browse + cart + checkout + order_done
    sess = np.repeat(np.arange(n_sess), n_pages)
    starts = np.cumsum(n_pages) - n_pages
    pos = np.arange(sess.size) - starts[sess]  # 0-based position within the session

    landing = np.where(
        np.isin(channel, [CHANNELS.index(c) for c in ("paid_search", "social")]),
        PAGES.index("product"),
        PAGES.index("home"),
    )
    browse_codes = np.array([PAGES.index(p) for p in BROWSE])
    browse_p = np.array(list(BROWSE.values()))
    page = browse_codes[rng.choice(browse_codes.size, sess.size, p=browse_p)]
    page = np.where(pos == 0, landing[sess], page)
    funnel_pos = pos - 1 - browse[sess]  # 0 cart, 1 checkout, 2 order
    page = np.where(funnel_pos >= 0, PAGES.index("add_to_cart") + funnel_pos, page)

    gaps = np.where(pos == 0, 0.0, 3.0 + rng.exponential(45.0, sess.size))
    offset_s = np.cumsum(gaps)
    offset_s -= offset_s[starts][sess]
    t_page = s_t[sess] + offset_s / 86_400
    keep = t_page < span
    sess, page, t_page = sess[keep], page[keep], t_page[keep]

    visitors = hashed_ids("v-", n, salt=int(rng.integers(2**32)))
    events = pl.DataFrame(
        {
            "visitor": s_vis[sess].astype(np.int32),
            "time": to_timestamps(window, t_page, unit_us=MS),
            "page": page.astype(np.int8),
            "device": device[sess].astype(np.int8),
            "channel": channel[sess].astype(np.int8),
            "region": region[sess].astype(np.int8),
        }
    )
    events = sort_events(events, t_page, s_vis[sess], n, page, len(PAGES), unit_us=MS)
    events = decode(
        events,
        {
            "visitor": visitors,
            "page": PAGES,
            "device": DEVICES,
            "channel": CHANNELS,
            "region": REGIONS,
        },
    )
    return {"events": events}


def _progress(t: np.ndarray, lapse: np.ndarray, fade: np.ndarray) -> np.ndarray:
    """0 before the pre-lapse window, rising linearly to 1 at the lapse."""
    return np.clip((t - (lapse - fade)) / fade, 0.0, 1.0)


def _session_hour(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fraction of the day a session starts: lunch and evening peaks (UTC)."""
    hour = np.where(
        rng.random(size) < 0.4, rng.normal(12.5, 1.5, size), rng.normal(21.0, 2.0, size)
    )
    return np.mod(hour, 24.0) / 24.0


def _session_segments(
    rng: np.random.Generator,
    n: int,
    s_vis: np.ndarray,
    s_t: np.ndarray,
    s_first: np.ndarray,
    first: np.ndarray,
    lapse: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Device, channel and region codes per session (they change over a visitor's life)."""
    n_sess = s_vis.size
    main = rng.choice(len(DEVICES), n, p=DEVICE_P)
    # A quarter of visitors switch main device for good at some point of their life.
    switched = np.where(main == 0, 1, np.where(main == 1, 0, rng.choice(2, n)))
    switch_at = np.where(rng.random(n) < 0.25, first + rng.random(n) * (lapse - first + 30), np.inf)
    device = np.where(s_t >= switch_at[s_vis], switched[s_vis], main[s_vis])
    other = rng.choice(len(DEVICES), n_sess, p=DEVICE_P)
    device = np.where(rng.random(n_sess) < 0.12, other, device)

    channel = np.where(
        s_first,
        rng.choice(len(CHANNELS), n_sess, p=FIRST_CHANNEL_P),
        rng.choice(len(CHANNELS), n_sess, p=RETURN_CHANNEL_P),
    )

    home = rng.choice(len(REGIONS), n, p=REGION_P)
    region = np.where(
        rng.random(n_sess) < 0.03, rng.choice(len(REGIONS), n_sess, p=REGION_P), home[s_vis]
    )
    return device, channel, region


SHAPE = Shape(
    name="clickstream",
    simulate=simulate,
    default_n=4000,
    default_days=120,
    id_column="visitor",
    time_column="time",
    mapping={"account_id": "visitor", "timestamp": "time", "event": "page"},
    segments=["device", "channel", "region"],
    segments_table="events",
    label="inactivity",
    horizon_days=28,
    notes={
        "mechanism": "sessions by thinned Poisson per visitor, exponential lapse; before "
        "lapsing fewer sessions, fewer pages per session, fewer funnel pages; "
        "segments on the events change per session"
    },
)
