"""Accounts and their user rosters, drawn once per simulation (vectorised numpy).

Why a planned roster: who joins and leaves a customer (hires, resignations, replacements) is
decided by the customer, not by how much they use the product, so the simulator draws every
user's join and leave day up front. That plan is part of the latent state the truth oracle
conditions on; only the champion admin's departure is a decay mechanism (drawn from a hazard,
see ``simulator.mechanisms``). Day indices count whole UTC days from the first simulated day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import world
from simulator.world import NEVER


@dataclass
class Accounts:
    """One entry per account (index = account number). Days are simulation day indices."""

    tier: np.ndarray  # int, index into world.TIERS
    industry: np.ndarray  # int, index into world.INDUSTRIES
    use_case: np.ndarray  # int, index into world.USE_CASES
    region: np.ndarray  # int, index into world.REGION_HOUR
    seats: np.ndarray  # int, licensed seats
    created: np.ndarray  # int day of signup
    term: np.ndarray  # int contract term in days (30 monthly, 365 annual)
    engagement: np.ndarray  # float multiplier of every user's activity (account culture)
    m_integration: np.ndarray  # int day the first integration is connected (NEVER if not)
    m_workflow: np.ndarray  # int day the first workflow completes (NEVER if not)
    m_automation: np.ndarray  # int day the first automation launches (NEVER if not)
    stalled: np.ndarray  # bool: onboarding stalls (decided at signup)

    @property
    def n(self) -> int:
        return len(self.tier)

    def next_renewal(self, acct: np.ndarray, day: np.ndarray) -> np.ndarray:
        """First renewal day >= ``day`` (renewals every ``term`` days after signup)."""
        c, term = self.created[acct], self.term[acct]
        k = np.maximum(np.ceil((day - c) / term), 1).astype(np.int64)
        return c + k * term


@dataclass
class Users:
    """One entry per user. Active days are ``created < d < deactivated`` (join day excluded)."""

    acct: np.ndarray  # int account index
    role: np.ndarray  # int, index into world.ROLES
    p_active: np.ndarray  # float daily activity probability on a normal weekday at full engagement
    created: np.ndarray  # int join day
    deactivated: np.ndarray  # int leave day (NEVER if planned to stay; champion: set by mechanisms)
    champion: np.ndarray  # bool: the account's first (main) admin
    founding: np.ndarray  # bool: invited in the account's first 10 days

    @property
    def n(self) -> int:
        return len(self.acct)


def _log_uniform_int(rng: np.random.Generator, lo: int, hi: int, size: int) -> np.ndarray:
    return np.round(np.exp(rng.uniform(np.log(lo), np.log(hi), size))).astype(np.int64)


def draw_accounts(rng: np.random.Generator, n: int, n_days: int) -> Accounts:
    """Draw ``n`` accounts signing up over the simulated ``n_days`` (a launch wave, then steady)."""
    if n < 1:
        raise ValueError(f"simulate.accounts must be >= 1, got {n}")
    if n_days < 60:
        raise ValueError(f"simulate.days must be >= 60, got {n_days}")
    tier = rng.choice(len(world.TIERS), size=n, p=world.TIER_P)
    industry = rng.choice(len(world.INDUSTRIES), size=n, p=world.INDUSTRY_P)
    use_case = rng.choice(len(world.USE_CASES), size=n, p=world.USE_CASE_P)
    region = rng.choice(len(world.REGION_HOUR), size=n, p=world.REGION_P)
    seats = np.empty(n, dtype=np.int64)
    for t, name in enumerate(world.TIERS):
        lo, hi = world.SEAT_RANGE[name]
        idx = np.flatnonzero(tier == t)
        if name == "smb":
            seats[idx] = rng.integers(lo, hi + 1, size=len(idx))
        else:
            seats[idx] = _log_uniform_int(rng, lo, hi, len(idx))
    launch = rng.random(n) < 0.35
    late_end = max(n_days - 30, 61)
    created = np.where(launch, rng.integers(0, 60, size=n), rng.integers(60, late_end, size=n))
    engagement = np.clip(rng.lognormal(0.0, 0.25, size=n), 0.5, 1.6)
    stalled = rng.random(n) < world.STALL_P[tier] / np.minimum(engagement, 1.0)
    integ_p = np.where(use_case == world.USE_CASES.index("integration_hub"), 0.95, 0.78)
    m_integration = np.where(
        rng.random(n) < integ_p,
        created + 1 + np.round(rng.gamma(2.0, 4.0, n)).astype(np.int64),
        NEVER,
    )
    m_workflow = np.where(
        stalled, NEVER, created + 1 + np.round(rng.gamma(2.0, 5.0, n)).astype(np.int64)
    )
    auto_p = np.where(use_case == world.USE_CASES.index("workflow_automation"), 0.95, 0.75)
    m_automation = np.where(
        (rng.random(n) < auto_p) & ~stalled,
        m_workflow + np.round(rng.gamma(2.0, 8.0, n)).astype(np.int64),
        NEVER,
    )
    return Accounts(
        tier=tier,
        industry=industry,
        use_case=use_case,
        region=region,
        seats=seats,
        created=created.astype(np.int64),
        term=world.TERM_DAYS[tier],
        engagement=engagement,
        m_integration=m_integration,
        m_workflow=m_workflow,
        m_automation=m_automation,
        stalled=stalled,
    )


def draw_users(rng: np.random.Generator, acc: Accounts, until_day: int) -> Users:
    """Plan every account's roster up to ``until_day`` (exclusive): champion, founding team,
    growth hires, and replacements after each planned departure (exponential tenure)."""
    n_target = np.maximum(2, np.round(acc.seats * rng.uniform(0.5, 0.9, acc.n))).astype(np.int64)
    slot_acct = np.repeat(np.arange(acc.n), n_target)
    first = np.r_[0, np.cumsum(n_target)[:-1]]
    slot_idx = np.arange(len(slot_acct)) - np.repeat(first, n_target)
    champion = slot_idx == 0
    share = rng.uniform(0.2, 0.5, acc.n) * np.where(acc.stalled, 0.35, 1.0)
    k0 = np.round((n_target - 1) * share).astype(np.int64)
    founding = ~champion & (slot_idx <= k0[slot_acct])
    c = acc.created[slot_acct]
    growth = c + 10 + np.round(rng.exponential(70.0, len(slot_acct))).astype(np.int64)
    join = np.where(
        champion, c, np.where(founding, c + rng.integers(0, 10, len(slot_acct)), growth)
    )
    tier = acc.tier[slot_acct]
    u = rng.random(len(slot_acct))[:, None]
    role = (u > np.cumsum(world.ROLE_P_BY_TIER, axis=1)[tier]).sum(axis=1)
    role = np.where(champion, world.ADMIN, role)

    parts: list[tuple[np.ndarray, ...]] = []
    alive = join < until_day
    gen = 0
    while alive.any():
        idx = np.flatnonzero(alive)
        level = rng.choice(len(world.LEVEL_MULT), size=len(idx), p=world.LEVEL_P)
        p = world.ROLE_BASE_P[role[idx]] * world.LEVEL_MULT[level]
        p = np.where(champion[idx] & (gen == 0), world.CHAMPION_P, p)
        p = np.minimum(p * acc.engagement[slot_acct[idx]], 0.95)
        tenure = np.maximum(1, np.round(rng.exponential(world.USER_TENURE_MEAN_DAYS, len(idx))))
        is_champ = champion[idx] & (gen == 0)
        leave = np.where(is_champ, NEVER, join[idx] + tenure.astype(np.int64))
        parts.append(
            (slot_acct[idx], role[idx], p, join[idx], leave, is_champ, founding[idx] & (gen == 0))
        )
        # the replacement joins a few weeks after the departure, same role
        join = join.copy()
        join[idx] = leave + rng.integers(5, 40, len(idx))
        alive = np.zeros(len(slot_acct), dtype=bool)
        alive[idx] = ~is_champ & (join[idx] < until_day)
        gen += 1
    cols = [np.concatenate(x) for x in zip(*parts, strict=True)]
    order = np.lexsort((cols[3], cols[0]))  # by account, then join day
    acct, role_u, p_u, created, deact, champ, found = (x[order] for x in cols)
    return Users(
        acct=acct.astype(np.int64),
        role=role_u.astype(np.int64),
        p_active=p_u,
        created=created.astype(np.int64),
        deactivated=deact.astype(np.int64),
        champion=champ.astype(bool),
        founding=found.astype(bool),
    )
