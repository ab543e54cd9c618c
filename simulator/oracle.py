"""The truth oracle: P(usage_drop label = 1 | everything the simulator knows at the cutoff).

Label (``LabelConfig`` usage_drop semantics, weeks aligned to the cutoff ``t``): with
``WAU(week)`` = distinct users with >= 1 usage event in the week,
``baseline`` = mean WAU over the ``baseline_days // 7`` weeks ending at ``t`` and ``assess`` =
mean WAU over the ``assess_days // 7`` weeks ending at ``t + horizon_days``, the label is 1 when
``assess < drop_fraction x baseline``; it exists only when ``baseline >= min_baseline_users``.

What is fixed at ``t`` and conditioned on: the account, its planned roster, its milestone days,
the realised activity before ``t`` (hence the baseline), and every episode whose onset is before
``t`` with all its parameters (plus the onboarding stall decided at signup). What is random after
``t`` and replayed ``replays`` times: new hazard-driven onsets in the horizon (with their
parameters), and every user's daily activity. Activity is replayed per user and week: a user is
weekly active with ``q = 1 - prod(1 - p_day)`` over their present days of the week, which is
exactly the distribution of the generator's independent daily draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from simulator import world
from simulator.activity import Cells, calendar_base
from simulator.entities import Accounts, Users
from simulator.mechanisms import Episodes, HazardState, curves, episode_curves, run_hazards
from simulator.world import NEVER


@dataclass(frozen=True)
class LabelSpec:
    """usage_drop parameters (see ``core.config.LabelConfig``); days are whole days."""

    horizon_days: int = 28
    baseline_days: int = 28
    assess_days: int = 14
    drop_fraction: float = 0.5
    min_baseline_users: float = 1.0

    def __post_init__(self) -> None:
        for name in ("baseline_days", "assess_days"):
            if getattr(self, name) < 7:
                raise ValueError(
                    f"label.{name} must be >= 7 (whole weeks), got {getattr(self, name)}"
                )
        if self.assess_days > self.horizon_days:
            raise ValueError(
                f"label.assess_days={self.assess_days} exceeds label.horizon_days="
                f"{self.horizon_days}"
            )

    @property
    def baseline_weeks(self) -> int:
        return self.baseline_days // 7

    @property
    def assess_weeks(self) -> int:
        return self.assess_days // 7


def weekly_active(
    cells: Cells, users: Users, acct_of_interest: np.ndarray, end_day: int, n_weeks: int
) -> np.ndarray:
    """Realised WAU per account for the ``n_weeks`` weeks ending at ``end_day`` (exclusive).

    Returns shape (len(acct_of_interest), n_weeks), week 0 the earliest.
    """
    lo, hi = np.searchsorted(cells.day, [end_day - 7 * n_weeks, end_day])
    u, d = cells.user[lo:hi], cells.day[lo:hi]
    week = n_weeks - 1 - (end_day - 1 - d) // 7
    key = np.unique(u * n_weeks + week)
    uu, ww = key // n_weeks, key % n_weeks
    lookup = np.full(int(users.acct.max(initial=0)) + 2, -1)
    lookup[acct_of_interest] = np.arange(len(acct_of_interest))
    local = lookup[users.acct[uu]]
    keep = local >= 0
    out = np.zeros((len(acct_of_interest), n_weeks))
    np.add.at(out, (local[keep], ww[keep]), 1.0)
    return out


@dataclass
class CutoffTruth:
    acct: np.ndarray
    oracle_prob: np.ndarray  # NaN where the label cannot exist (baseline too low)
    oracle_se: np.ndarray
    realised: np.ndarray  # realised label (NaN where undefined or horizon not observed)


def _known_state(
    acc: Accounts, ep: Episodes, acct: np.ndarray, ct: int
) -> tuple[Episodes, HazardState, np.ndarray]:
    """Episodes known at day ``ct`` for ``acct`` (row = local index) and the hazard state."""
    lookup = np.full(acc.n, -1)
    lookup[acct] = np.arange(len(acct))
    local = lookup[ep.acct]
    known = (local >= 0) & ((ep.onset < ct) | np.isin(ep.kind, world.SIGNUP_KINDS))
    kep = ep.take(np.flatnonzero(known))
    kep.row = local[known]
    n = len(acct)
    free_from = acc.created[acct] + world.HAZARD_MIN_AGE_DAYS
    np.maximum.at(free_from, kep.row, kep.end)
    churn = np.full(n, NEVER)
    np.minimum.at(churn, kep.row, kep.churn)
    champion_end = np.full(n, NEVER)
    cl = kep.kind == world.CHAMPION_LEFT
    np.minimum.at(champion_end, kep.row[cl], kep.onset[cl])
    state = HazardState(acct=acct, free_from=free_from, champion=champion_end == NEVER, churn=churn)
    return kep, state, champion_end


def cutoff_truth(
    rng: np.random.Generator,
    acc: Accounts,
    users: Users,
    episodes: Episodes,
    cells: Cells,
    ct: int,
    n_observed: int,
    label: LabelSpec,
    replays: int,
    season: np.ndarray,
    weekday: np.ndarray,
    dip: np.ndarray,
) -> CutoffTruth:
    """Oracle for every account existing and not churned at cutoff day ``ct``."""
    realised_churn = np.full(acc.n, NEVER)
    np.minimum.at(realised_churn, episodes.acct, episodes.churn)
    acct = np.flatnonzero((acc.created < ct) & (realised_churn >= ct))
    n_acc = len(acct)
    prob = np.full(n_acc, np.nan)
    se = np.full(n_acc, np.nan)
    realised = np.full(n_acc, np.nan)
    if n_acc == 0:
        return CutoffTruth(acct, prob, se, realised)
    baseline = weekly_active(cells, users, acct, ct, label.baseline_weeks).mean(axis=1)
    ok = baseline >= label.min_baseline_users
    h_end = ct + label.horizon_days
    if h_end <= n_observed:
        assess = weekly_active(cells, users, acct, h_end, label.assess_weeks).mean(axis=1)
        realised = np.where(ok, (assess < label.drop_fraction * baseline).astype(float), np.nan)
    sc = np.flatnonzero(ok)
    if len(sc) == 0:
        return CutoffTruth(acct, prob, se, realised)
    p_sc = _replay(
        rng, acc, users, episodes, acct[sc], baseline[sc], ct, label, replays, season, weekday, dip
    )
    prob[sc] = p_sc
    se[sc] = np.sqrt(p_sc * (1 - p_sc) / replays)
    return CutoffTruth(acct, prob, se, realised)


def _weekly_q(p: np.ndarray, n_weeks: int) -> np.ndarray:
    """P(active at least once in each week) from daily probabilities (..., 7 * n_weeks)."""
    logs = np.log1p(-p).reshape(*p.shape[:-1], n_weeks, 7).sum(axis=-1)
    return -np.expm1(logs)


def _replay(
    rng: np.random.Generator,
    acc: Accounts,
    users: Users,
    episodes: Episodes,
    acct: np.ndarray,
    baseline: np.ndarray,
    ct: int,
    label: LabelSpec,
    R: int,
    season: np.ndarray,
    weekday: np.ndarray,
    dip: np.ndarray,
) -> np.ndarray:
    """Monte Carlo over ``R`` replays of the horizon; returns P(label = 1) per account.

    Replays without a new onset in the horizon share the account's known path, so each user's
    weekly activity probability is computed once for them; only the (user, replay) pairs of
    replays with a new episode get their own. Weekly activity is then one Bernoulli draw per
    (user, replay, week), exactly as the generator's daily draws aggregate.
    """
    n = len(acct)
    kep, state0, champion_end = _known_state(acc, episodes, acct, ct)
    # ---- replay the mechanisms: rows are (account, replay), row = i * R + r
    rows_acct = np.repeat(acct, R)
    state = HazardState(
        acct=rows_acct,
        free_from=np.repeat(state0.free_from, R),
        champion=np.repeat(state0.champion, R),
        churn=np.repeat(state0.churn, R),
    )
    h_end = ct + label.horizon_days
    new = run_hazards(rng, acc, state, ct, h_end, dip)
    n_weeks = label.assess_weeks
    days = np.arange(h_end - 7 * n_weeks, h_end)
    known = curves(kep, n, days, state0.churn)
    base = calendar_base(acc, acct, days, season, weekday)
    f0 = known.engagement * known.alive * base  # (n, n_days) on the known path

    # ---- users of the scored accounts present on some assessed day (sorted by account)
    lookup = np.full(acc.n, -1)
    lookup[acct] = np.arange(n)
    local = lookup[users.acct]
    # the champion's realised departure may lie after the cutoff: use only what is known
    champ_local = np.where(users.champion & (local >= 0), local, 0)
    deact = np.where(users.champion, champion_end[champ_local], users.deactivated)
    s = np.maximum(users.created + 1, days[0])
    e = np.minimum(deact, h_end)
    sel = np.flatnonzero((local >= 0) & ((s < e) | users.champion))  # champion: replays may differ
    u_loc, u_p = local[sel], users.p_active[sel]
    u_admin = (users.role[sel] == world.ADMIN) & ~users.champion[sel]
    u_champ = users.champion[sel]
    u_s, u_e = s[sel], e[sel]

    def daily_p(f: np.ndarray, adm: np.ndarray, ends: np.ndarray, who: np.ndarray) -> np.ndarray:
        f = np.where(u_admin[who, None], f * adm, f)
        pres = (days[None, :] >= u_s[who, None]) & (days[None, :] < ends[:, None])
        return np.minimum(u_p[who, None] * f, world.P_MAX) * pres

    all_u = np.arange(len(sel))
    q0 = _weekly_q(daily_p(f0[u_loc], known.admin[u_loc], u_e, all_u), n_weeks)  # (U, W)
    hits = rng.random((len(sel), R, n_weeks), dtype=np.float32) < q0[:, None, :]

    # ---- replays with a new episode: their own path for every user of the account
    if len(new):
        e_eng, e_admin, _, _ = episode_curves(new, days)
        ch_rows, inv = np.unique(new.row, return_inverse=True)
        eng_m = np.ones((len(ch_rows), len(days)))
        adm_m = np.ones((len(ch_rows), len(days)))
        np.multiply.at(eng_m, inv, e_eng)
        np.multiply.at(adm_m, inv, e_admin)
        ch_acc = ch_rows // R
        alive = days[None, :] < state.churn[ch_rows][:, None]
        f_ch = known.engagement[ch_acc] * eng_m * alive * base[ch_acc]
        a_ch = known.admin[ch_acc] * adm_m
        cl_end = np.full(len(ch_rows), NEVER)
        cl = new.kind == world.CHAMPION_LEFT
        np.minimum.at(cl_end, inv[cl], new.onset[cl])
        # pairs (changed row, user of its account); users of an account are contiguous
        u_start = np.searchsorted(u_loc, np.arange(n))
        u_cnt = np.searchsorted(u_loc, np.arange(n), side="right") - u_start
        cnt = u_cnt[ch_acc]
        pair_row = np.repeat(np.arange(len(ch_rows)), cnt)
        pair_user = (
            np.arange(cnt.sum())
            - np.repeat(np.cumsum(cnt) - cnt, cnt)
            + np.repeat(u_start[ch_acc], cnt)
        )
        ends = np.where(
            u_champ[pair_user], np.minimum(u_e[pair_user], cl_end[pair_row]), u_e[pair_user]
        )
        q = _weekly_q(daily_p(f_ch[pair_row], a_ch[pair_row], ends, pair_user), n_weeks)
        hits[pair_user, ch_rows[pair_row] % R] = rng.random(q.shape) < q

    wau = np.zeros((n, R, n_weeks))
    has = np.unique(u_loc)
    if len(has):
        wau[has] = np.add.reduceat(hits, np.searchsorted(u_loc, has), axis=0, dtype=np.float64)
    label_r = wau.mean(axis=2) < label.drop_fraction * baseline[:, None]
    return label_r.mean(axis=1)


def causes(
    episodes: Episodes, acct: np.ndarray, ct: np.ndarray, horizon_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Planted cause per (account, cutoff): the earliest episode running at the cutoff or starting
    within the horizon after it. Returns (kind index or -1, onset day or -1)."""
    rows = pl.DataFrame({"acct": acct, "ct": ct, "i": np.arange(len(acct))})
    eps = pl.DataFrame(
        {"acct": episodes.acct, "kind": episodes.kind, "onset": episodes.onset, "end": episodes.end}
    )
    hit = (
        rows.join(eps, on="acct", how="inner")
        .filter((pl.col("onset") < pl.col("ct") + horizon_days) & (pl.col("end") > pl.col("ct")))
        .sort("onset")
        .group_by("i")
        .first()
    )
    kind = np.full(len(acct), -1)
    onset = np.full(len(acct), -1)
    idx = hit["i"].to_numpy()
    kind[idx] = hit["kind"].to_numpy()
    onset[idx] = hit["onset"].to_numpy()
    return kind, onset
