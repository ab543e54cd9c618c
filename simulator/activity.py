"""From latent state to the event log: active user-days, then the events of each active day.

The one rule that makes the truth oracle exact: a user is *active* on a day with probability
``p_active(user) x engagement(account, day) x calendar x onboarding ramp`` independently of
everything else, and every event of the log belongs to an active user-day that starts with a
``login``. So "distinct users with >= 1 usage event in a week" is exactly the number of users with
an active day in that week, whatever the other events of the day are. Friction events
(``integration_error``, ``support_ticket_opened``), milestone firsts and invitations are placed on
active user-days only. Loops here run over user chunks, never over events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from simulator import world
from simulator.entities import Accounts, Users
from simulator.mechanisms import Curves
from simulator.world import EV

US_PER_DAY = 86_400_000_000
_CHUNK_USERS = 4096


def onboarding_ramp(acc: Accounts, acct: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Adoption spreads over the first weeks: 0.55 on day 1 towards 1 (time constant 18 days);
    0 on and before the signup day. Shape (len(acct), len(days))."""
    age = days[None, :] - acc.created[acct][:, None]
    return np.where(age > 0, 0.55 + 0.45 * -np.expm1(-np.maximum(age, 0) / 18.0), 0.0)


def calendar_base(
    acc: Accounts, acct: np.ndarray, days: np.ndarray, season: np.ndarray, weekday: np.ndarray
) -> np.ndarray:
    """Everything of the daily activity probability that is fixed in advance (per account row):
    industry season x weekday x onboarding ramp. Shape (len(acct), len(days))."""
    return (
        season[acc.industry[acct]][:, days]
        * weekday[days][None, :]
        * onboarding_ramp(acc, acct, days)
    )


@dataclass
class Cells:
    """Active user-days, sorted by day: user index and day index."""

    user: np.ndarray
    day: np.ndarray


def draw_active_days(
    rng: np.random.Generator,
    acc: Accounts,
    users: Users,
    cur: Curves,
    base: np.ndarray,
    n_days: int,
) -> Cells:
    """Bernoulli draw of every (user, day) over ``[0, n_days)``; ``cur``/``base`` are per account
    over at least ``n_days`` days. Vectorised over chunks of users."""
    days = np.arange(n_days)
    users_out, days_out = [], []
    admin_like = (users.role == world.ADMIN) & ~users.champion
    for lo in range(0, users.n, _CHUNK_USERS):
        sl = slice(lo, min(lo + _CHUNK_USERS, users.n))
        a = users.acct[sl]
        p = (
            users.p_active[sl, None]
            * base[a, :n_days]
            * cur.engagement[a, :n_days]
            * cur.alive[a, :n_days]
        )
        p = np.minimum(np.where(admin_like[sl, None], p * cur.admin[a, :n_days], p), world.P_MAX)
        present = (days[None, :] > users.created[sl, None]) & (
            days[None, :] < users.deactivated[sl, None]
        )
        hit = (rng.random(p.shape, dtype=np.float32) < p) & present
        u, d = np.nonzero(hit)
        users_out.append(u + lo)
        days_out.append(d)
    user = np.concatenate(users_out)
    day = np.concatenate(days_out)
    order = np.argsort(day, kind="stable")
    return Cells(user=user[order].astype(np.int64), day=day[order].astype(np.int64))


def _first_cell(
    acct: np.ndarray, day: np.ndarray, ok: np.ndarray, from_day: np.ndarray
) -> np.ndarray:
    """Index of each account's first active cell with ``ok`` and ``day >= from_day[acct]``."""
    idx = np.flatnonzero(ok & (day >= from_day[acct]))
    order = np.lexsort((day[idx], acct[idx]))
    idx = idx[order]
    _, first = np.unique(acct[idx], return_index=True)
    return idx[first]


@dataclass
class RawEvents:
    """The event log as arrays (before names are attached)."""

    acct: np.ndarray
    user: np.ndarray
    event: np.ndarray
    ts_us: np.ndarray  # microseconds since the first simulated day 00:00 UTC
    value: np.ndarray  # NaN = null


def build_events(
    rng: np.random.Generator, acc: Accounts, users: Users, cells: Cells, cur: Curves
) -> tuple[RawEvents, np.ndarray, np.ndarray]:
    """Turn active user-days into events. Returns the events, each user's ``created_at`` (set
    from the invitation when an admin invited them) and each account's ``created_at``, both in
    microseconds since day 0."""
    n_cells = len(cells.user)
    a = users.acct[cells.user]
    role = users.role[cells.user]
    day = cells.day
    # ---- how many events of each kind per active day
    n_extra = rng.poisson(world.EXTRA_EVENTS_PER_DAY[role])
    integ = day >= acc.m_integration[a]
    err_mean = (world.BASE_ERROR_RATE * integ + cur.error_rate[a, day]) * (role != world.MEMBER)
    n_err = rng.poisson(err_mean)
    tick_mean = (world.BASE_TICKET_RATE + cur.ticket_rate[a, day]) * np.where(
        role == world.ADMIN, 1.5, 1.0
    )
    n_tick = rng.poisson(tick_mean)
    n_base = 1 + n_extra + n_err + n_tick

    # ---- milestone firsts and invitations: one extra event on a chosen active day
    add_cell, add_type = [], []
    maker = role != world.MEMBER
    for ev_name, m_day in (
        ("integration_connected", acc.m_integration),
        ("workflow_completed", acc.m_workflow),
        ("automation_launched", acc.m_automation),
    ):
        c = _first_cell(a, day, maker, m_day)
        add_cell.append(c)
        add_type.append(np.full(len(c), EV[ev_name]))
    inv_cell, inv_user = _invitations(users, cells, a, role)
    add_cell.append(inv_cell)
    add_type.append(np.full(len(inv_cell), EV["user_invited"]))
    add_cell_a = np.concatenate(add_cell)
    add_type_a = np.concatenate(add_type)
    order = np.argsort(add_cell_a, kind="stable")
    add_cell_a, add_type_a = add_cell_a[order], add_type_a[order]
    n_add = np.bincount(add_cell_a, minlength=n_cells)
    n_tot = n_base + n_add

    # ---- event rows
    cell = np.repeat(np.arange(n_cells), n_tot)
    starts = np.r_[0, np.cumsum(n_tot)[:-1]]
    pos = np.arange(len(cell)) - starts[cell]
    ev_a = a[cell]
    ev_role = role[cell]
    etype = np.empty(len(cell), dtype=np.int64)
    # extras from the role x use-case mix (searchsorted on row-offset cumulative probabilities)
    cdf = world.event_mix_cdf()
    n_ev = cdf.shape[-1]
    flat = (cdf.reshape(-1, n_ev) + np.arange(cdf.shape[0] * cdf.shape[1])[:, None]).ravel()
    mix_row = acc.use_case[ev_a] * len(world.ROLES) + ev_role
    u = rng.random(len(cell))
    drawn = np.searchsorted(flat, mix_row + u, side="right") - mix_row * n_ev
    etype[:] = np.clip(drawn, 0, n_ev - 1)
    k_extra = n_extra[cell]
    k_err = n_err[cell]
    k_tick = n_tick[cell]
    etype[pos == 0] = EV["login"]
    in_err = (pos > k_extra) & (pos <= k_extra + k_err)
    in_tick = (pos > k_extra + k_err) & (pos <= k_extra + k_err + k_tick)
    etype[in_err] = EV["integration_error"]
    etype[in_tick] = EV["support_ticket_opened"]
    added = pos >= n_base[cell]
    etype[added] = add_type_a  # cells and positions are both ascending: same order
    # gating: a feature cannot be used before its milestone (the firsts were placed above)
    ev_day = day[cell]
    mix = (pos > 0) & (pos <= k_extra)
    for name, gate in world.GATED.items():
        m_day = {
            "integration": acc.m_integration,
            "workflow": acc.m_workflow,
            "automation": acc.m_automation,
        }[gate]
        etype[mix & (etype == EV[name]) & (ev_day < m_day[ev_a])] = EV["dashboard_viewed"]
    # a broken integration turns most syncs into errors
    broken = cur.error_rate[ev_a, ev_day] > 0
    etype[mix & broken & (etype == EV["integration_synced"]) & (rng.random(len(cell)) < 0.7)] = EV[
        "integration_error"
    ]

    # ---- timestamps: a session in the account's business hours, one event every few minutes
    start_s = (
        world.REGION_HOUR[acc.region[a]] * 3600 + rng.normal(0, 2.5 * 3600, n_cells)
    ) % 86_400
    gap_s = rng.uniform(20, 480, n_cells)
    start_s = np.minimum(start_s, np.maximum(86_399 - n_tot * gap_s, 0))
    offset_s = start_s[cell] + pos * gap_s[cell]
    ts = ev_day * US_PER_DAY + np.minimum(offset_s * 1e6, US_PER_DAY - 1).astype(np.int64)

    value = _values(rng, etype)
    acc_created = account_created_us(rng, acc)
    created_us = _user_created(
        rng, acc_created, users, inv_user, ts[starts[inv_cell] + n_tot[inv_cell] - 1]
    )
    raw = RawEvents(acct=ev_a, user=cells.user[cell], event=etype, ts_us=ts, value=value)
    return raw, created_us, acc_created


def _values(rng: np.random.Generator, etype: np.ndarray) -> np.ndarray:
    """Event values: api calls per batch, workflow run seconds, upload MB, exported rows."""
    value = np.full(len(etype), np.nan)
    for name, draw in (
        ("api_call", lambda k: 1.0 + rng.poisson(20, k)),
        ("workflow_completed", lambda k: np.round(rng.lognormal(4.0, 1.0, k), 1)),
        ("file_uploaded", lambda k: np.round(rng.lognormal(0.5, 1.2, k), 2)),
        ("export_created", lambda k: np.floor(rng.lognormal(6.0, 1.5, k))),
    ):
        m = etype == EV[name]
        value[m] = draw(int(m.sum()))
    return value


def _invitations(
    users: Users, cells: Cells, a: np.ndarray, role: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each non-champion user, the latest active admin day of the same account within the
    3 days up to their join day: that admin invites them (no such day: they joined by SSO)."""
    admin_cells = pl.DataFrame(
        {
            "acct": a,
            "day": cells.day,
            "cell": np.arange(len(a)),
            "user": cells.user,
        }
    ).filter(pl.Series(role == world.ADMIN))
    joiners = (
        pl.DataFrame(
            {
                "acct": users.acct,
                "day": users.created,
                "joiner": np.arange(users.n),
            }
        )
        .filter(pl.Series(~users.champion))
        .sort("day")
    )
    hit = joiners.join_asof(
        admin_cells.sort("day"),
        on="day",
        by="acct",
        strategy="backward",
        tolerance=3,
        check_sortedness=False,
    ).filter(pl.col("cell").is_not_null() & (pl.col("user") != pl.col("joiner")))
    return hit["cell"].to_numpy().astype(np.int64), hit["joiner"].to_numpy().astype(np.int64)


def account_created_us(rng: np.random.Generator, acc: Accounts) -> np.ndarray:
    """Account ``created_at`` (us since day 0): office hours of the signup day."""
    return acc.created * US_PER_DAY + (rng.uniform(8, 18, acc.n) * 3600e6).astype(np.int64)


def _user_created(
    rng: np.random.Generator,
    acc_created: np.ndarray,
    users: Users,
    inv_user: np.ndarray,
    inv_cell_last_ts: np.ndarray,
) -> np.ndarray:
    """``created_at`` (us) per user: one minute after the account's signup for the champion, a
    few minutes after the invitation (the inviting session's last event) for invited users, an
    office-hours time on the join day otherwise. Always before the user's first active day."""
    day_us = users.created * US_PER_DAY
    created = day_us + (rng.uniform(7, 19, users.n) * 3600e6).astype(np.int64)
    created = np.maximum(created, acc_created[users.acct] + 120_000_000)
    after = inv_cell_last_ts + (rng.uniform(1, 30, len(inv_user)) * 60e6).astype(np.int64)
    created[inv_user] = np.minimum(after, day_us[inv_user] + US_PER_DAY - 1)
    champ = np.flatnonzero(users.champion)
    created[champ] = acc_created[users.acct[champ]] + 60_000_000
    return created
