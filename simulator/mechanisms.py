"""Planted decay mechanisms: onset hazards, episode parameters and the curves they imply.

The latent adoption state of an account is a sequence of non-overlapping *episodes*. Each
episode has a kind (``world.MECHANISMS``), an onset day (when its leading signal appears: the
champion is deactivated, integration errors spike, tickets pile up, the onboarding milestone is
missed) and parameters drawn at onset: the lag until usage starts to fall, the floor it falls
towards, how long the decayed state lasts, the recovery, and whether it ends in churn at a
renewal. A new hazard-driven onset can happen only in a healthy account (no episode running).

Why this shape: the process is Markov in (episode parameters, champion present, integration
connected, day). The truth oracle can therefore *condition* on everything drawn before a cutoff
and *replay* the rest with the very same functions (`run_hazards`, `draw_episodes`, `curves`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from simulator import world
from simulator.entities import Accounts
from simulator.world import NEVER


@dataclass
class Episodes:
    """Episodes as parallel arrays. ``row`` is the output row an episode belongs to (an account
    index in the simulation, an (account, replay) row in the oracle); ``acct`` the account."""

    row: np.ndarray
    acct: np.ndarray
    kind: np.ndarray
    onset: np.ndarray
    lag: np.ndarray
    floor: np.ndarray
    tau: np.ndarray
    dur: np.ndarray
    rec: np.ndarray
    churn: np.ndarray  # churn day (NEVER if the episode does not end in churn)
    end: np.ndarray  # first healthy day after the episode (or the churn day)

    def __len__(self) -> int:
        return len(self.row)

    def take(self, idx: np.ndarray) -> Episodes:
        return Episodes(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Episodes]) -> Episodes:
        return Episodes(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(Episodes)
            }
        )

    @staticmethod
    def empty() -> Episodes:
        z = np.zeros(0, dtype=np.int64)
        return Episodes(z, z, z, z, z, np.zeros(0), np.zeros(0), z, z, z, z)


def _int_in(rng: np.random.Generator, ranges: np.ndarray) -> np.ndarray:
    return rng.integers(ranges[:, 0], ranges[:, 1] + 1)


def draw_episodes(
    rng: np.random.Generator,
    acc: Accounts,
    row: np.ndarray,
    acct: np.ndarray,
    kind: np.ndarray,
    onset: np.ndarray,
) -> Episodes:
    """Draw the parameters of new episodes starting on ``onset`` (all drawn at onset time)."""
    n = len(row)
    tier = acc.tier[acct]
    lag = _int_in(rng, world.LAG_RANGE[kind]).astype(np.int64)
    dur = _int_in(rng, world.DURATION_RANGE[kind]).astype(np.int64)
    rec = _int_in(rng, world.RECOVERY_RANGE[kind]).astype(np.int64)
    tau = rng.uniform(world.TAU_RANGE[kind, 0], world.TAU_RANGE[kind, 1])
    base = world.FLOOR[kind, tier]
    jitter = rng.uniform(-0.2, 0.2, n)
    floor = np.where(
        kind == world.RANDOM_ONSET,
        base + jitter,
        np.where(
            kind == world.SEASONAL_DIP,
            base + 0.75 * jitter,
            np.clip(base * (1 + jitter), 0.02, 0.95),
        ),
    )
    u_churn = rng.random(n)
    fall = onset + lag
    candidate = acc.next_renewal(acct, fall + world.CHURN_MIN_DAYS_AFTER_FALL)
    churns = (
        (kind != world.SEASONAL_DIP) & (u_churn < world.CHURN_P[tier]) & (candidate < fall + dur)
    )
    churn = np.where(churns, candidate, NEVER)
    end = np.where(churns, candidate, fall + dur + rec)
    return Episodes(
        row=row,
        acct=acct,
        kind=kind,
        onset=onset,
        lag=lag,
        floor=floor,
        tau=tau,
        dur=dur,
        rec=rec,
        churn=churn,
        end=end,
    )


def stall_episodes(rng: np.random.Generator, acc: Accounts) -> Episodes:
    """Onboarding stalls are decided at signup: the onset is the day the milestone was due."""
    acct = np.flatnonzero(acc.stalled)
    onset = acc.created[acct] + world.STALL_EXPECTED_DAY
    kind = np.full(len(acct), world.ONBOARDING_STALLED)
    return draw_episodes(rng, acc, acct, acct, kind, onset)


@dataclass
class HazardState:
    """Per-row state the hazards depend on (mutated by `run_hazards`)."""

    acct: np.ndarray
    free_from: np.ndarray  # first day a new onset may happen (end of the running episode)
    champion: np.ndarray  # bool: champion admin still there
    churn: np.ndarray  # churn day already scheduled (NEVER if none)


def run_hazards(
    rng: np.random.Generator,
    acc: Accounts,
    state: HazardState,
    start: int,
    stop: int,
    dip_factor: np.ndarray,
) -> Episodes:
    """Draw hazard-driven onsets day by day over ``[start, stop)`` (one vector step per day).

    ``dip_factor[d]`` multiplies the seasonal-dip hazard on day ``d``. The hazard of a row on a day
    is zero unless the account is at least ``HAZARD_MIN_AGE_DAYS`` old, healthy and not churned;
    champion loss needs the champion, a broken integration needs a connected integration.
    """
    a = state.acct
    inv_g = 1.0 / acc.engagement[a]
    min_day = acc.created[a] + world.HAZARD_MIN_AGE_DAYS
    cum_kinds = np.arange(len(world.HAZARD))  # the hazard-driven kinds
    new: list[Episodes] = []
    for d in range(start, stop):
        u = rng.random(len(a))
        eligible = (d >= state.free_from) & (d >= min_day) & (d < state.churn)
        if not eligible.any():
            continue
        idx = np.flatnonzero(eligible)
        lam = np.broadcast_to(world.HAZARD, (len(idx), len(world.HAZARD))).copy()
        lam *= inv_g[idx, None]
        lam[:, world.CHAMPION_LEFT] *= state.champion[idx]
        lam[:, world.INTEGRATION_BROKEN] *= d >= acc.m_integration[a[idx]]
        lam[:, world.SEASONAL_DIP] *= dip_factor[d]
        total = lam.sum(axis=1)
        hit = u[idx] < -np.expm1(-total)
        if not hit.any():
            continue
        rows = idx[hit]
        lam_hit = lam[hit]
        # which mechanism: reuse the uniform's position inside the hit interval (independent of it)
        v = u[rows] / -np.expm1(-total[hit])
        cdf = np.cumsum(lam_hit, axis=1) / total[hit, None]
        kind = cum_kinds[(v[:, None] > cdf).sum(axis=1).clip(max=len(cum_kinds) - 1)]
        ep = draw_episodes(rng, acc, rows, a[rows], kind, np.full(len(rows), d))
        new.append(ep)
        state.free_from[rows] = ep.end
        state.churn[rows] = np.minimum(state.churn[rows], ep.churn)
        state.champion[rows] &= kind != world.CHAMPION_LEFT
    return Episodes.concat(new) if new else Episodes.empty()


@dataclass
class Curves:
    """Per-row, per-day effects of the episodes, shape (n_rows, n_days) each."""

    engagement: np.ndarray  # multiplier of every user's daily activity probability
    admin: np.ndarray  # extra multiplier for (non-champion) admins
    error_rate: np.ndarray  # extra integration_error events per active admin/builder day
    ticket_rate: np.ndarray  # extra support_ticket_opened events per active user-day
    alive: np.ndarray  # bool: account not churned yet


def episode_curves(ep: Episodes, days: np.ndarray) -> tuple[np.ndarray, ...]:
    """Effects of each episode on ``days`` (absolute day indices), shape (n_episodes, n_days)."""
    x = days[None, :] - ep.onset[:, None]
    lag, dur = ep.lag[:, None], ep.dur[:, None]
    floor, tau = ep.floor[:, None], ep.tau[:, None]
    fall_end = lag + dur
    rec_end = fall_end + ep.rec[:, None]
    decayed = floor + (1 - floor) * np.exp(-np.clip(x - lag, 0, None) / tau)
    v_end = floor + (1 - floor) * np.exp(-dur / tau)
    ramp = v_end + (1 - v_end) * (x - fall_end) / ep.rec[:, None]
    eng = np.where(
        (x >= lag) & (x < fall_end), decayed, np.where((x >= fall_end) & (x < rec_end), ramp, 1.0)
    )
    kind = ep.kind[:, None]
    running = (x >= 0) & (x < rec_end)
    admin = np.where(
        (kind == world.CHAMPION_LEFT) & running, world.ADMIN_FACTOR_AFTER_CHAMPION, 1.0
    )
    before_recovery = (x >= 0) & (x < fall_end)
    err = np.where(
        (kind == world.INTEGRATION_BROKEN) & before_recovery,
        world.ERROR_SPIKE_RATE * np.minimum(1.0, (x + 1) / 3.0),
        0.0,
    )
    tick = np.where(
        (kind == world.SUPPORT_OVERLOAD) & before_recovery,
        world.TICKET_PILEUP_RATE * np.minimum(1.0, (x + 1) / np.maximum(lag, 1)),
        0.0,
    )
    return eng, admin, err, tick


def curves(ep: Episodes, n_rows: int, days: np.ndarray, churn: np.ndarray) -> Curves:
    """Combine the (non-overlapping) episodes of every row into per-row daily curves.

    ``churn[row]`` is the row's churn day (NEVER if none): the account is gone from that day.
    """
    n_days = len(days)
    eng = np.ones((n_rows, n_days))
    admin = np.ones((n_rows, n_days))
    err = np.zeros((n_rows, n_days))
    tick = np.zeros((n_rows, n_days))
    if len(ep):
        e_eng, e_admin, e_err, e_tick = episode_curves(ep, days)
        np.multiply.at(eng, ep.row, e_eng)
        np.multiply.at(admin, ep.row, e_admin)
        np.add.at(err, ep.row, e_err)
        np.add.at(tick, ep.row, e_tick)
    alive = days[None, :] < churn[:, None]
    return Curves(engagement=eng, admin=admin, error_rate=err, ticket_rate=tick, alive=alive)
