"""Planted early behaviours with a known effect on success, for the adoption-map benchmark.

Three behaviours, each a new event type placed on an active user-day (so the truth oracle's
rule "every event belongs to an active user-day" still holds), each with its ground truth:

``webhook_configured`` (a real effect that differs by segment)
    Half the accounts plan it in days 1..9 after signup ("early"), a quarter in days 16..60,
    the rest never, in every use case alike; the event is the first admin/builder active day on
    or after the planned day. An ``integration_hub`` account without an early webhook
    abandons the product with probability ``GAP_P``: an ``integration_gap`` episode from day
    ``GAP_ONSET_DAY`` (after the last landmark, so nothing before day 30 gives it away) takes
    usage to zero within days and ends in churn at the next renewal. Other use cases: no
    effect at all. So "configured a webhook in the first 14 days" raises the success rate in
    ``use_case = integration_hub`` and nowhere else.
``template_shared`` (no effect; the immortal-time trap)
    ``TEMPLATE_P`` of the accounts share templates at a constant rate per day of life
    (``TEMPLATE_RATE``, placed on the next active day), whatever they are like: accounts that
    live longer share more, so "ever shared a template" looks good, yet doing it changes nothing
    and by a fixed landmark it is independent of everything that drives success.
``sso_configured`` (no effect; confounded by size)
    Configured by an admin in the first two weeks with a probability set by ``size_tier`` only
    (``SSO_P``). Size drives success (monthly smb contracts churn, annual ones cannot before
    their renewal), so SSO goes with success overall but not within a size tier.

Everything here draws from its own generator (a child seed of the simulation), so the events
and episodes of the existing world do not move; only the abandoned accounts' activity changes.

Ground truth (``map_truth``, ``ttv_truth``): the success outcome is the adoption map's default
(``adoption.timeline.retention_outcome`` with the ``map.*`` defaults: an event on days
``[OUTCOME_END_DAY - OUTCOME_WINDOW_DAYS, OUTCOME_END_DAY)`` since start and no cancellation
before ``OUTCOME_END_DAY``). Each account's success probability given everything the simulator
knows (episodes, roster, calendar) is exact: ``1[churn >= end] x (1 - prod(1 - p_user_day))``
over the window. From it: the causal risk difference of each behaviour at its landmark (zero
for the two null behaviours) and the landmark risk difference expected given the latent state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from simulator import world
from simulator.activity import Cells, RawEvents, calendar_base
from simulator.entities import Accounts, Users
from simulator.mechanisms import Episodes, curves
from simulator.world import EV, NEVER

US_PER_DAY = 86_400_000_000

WEBHOOK, TEMPLATE, SSO = "webhook_configured", "template_shared", "sso_configured"
#: The segment where the webhook matters, and the landmark day of its planted rule.
WEBHOOK_USE_CASE = "integration_hub"
WEBHOOK_LANDMARK = 14
WEBHOOK_EARLY_P, WEBHOOK_EARLY_DAYS = 0.5, (1, 9)
WEBHOOK_LATE_P, WEBHOOK_LATE_DAYS = 0.25, (16, 60)
#: P(an integration hub without an early webhook abandons the product).
GAP_P = 0.35
GAP_ONSET_DAY = 30
CHURN_AFTER_FALL_DAYS = 21  # cancels at the first renewal at least this long after the fall
TEMPLATE_P, TEMPLATE_RATE = 0.8, 1 / 60
SSO_P = np.array([0.08, 0.45, 0.85])  # smb, mid, enterprise
SSO_DAYS = (1, 12)
#: The map's success outcome (map.* defaults: last landmark 30 + outcome_horizon_days 60,
#: outcome_window_days 28).
OUTCOME_END_DAY, OUTCOME_WINDOW_DAYS = 90, 28
LANDMARKS = (7, 14, 30)
#: Milestones of conf/features/default.yaml and their events (time-to-value truth).
MILESTONE_EVENTS = {
    "first_integration": "integration_connected",
    "first_workflow": "workflow_completed",
    "first_automation": "automation_launched",
}
#: Accounts followed at least this many days give the time-to-value truth (no censoring).
TTV_FOLLOW_DAYS = 150


@dataclass
class Plan:
    """The planted behaviours' latent plan, one entry per account unless noted."""

    webhook_day: np.ndarray  # planned day (NEVER: never)
    webhook_early: np.ndarray  # bool: planned in the first WEBHOOK_LANDMARK days
    gap_all: Episodes  # the integration_gap episode every integration hub would have
    gap_fired: np.ndarray  # bool per account: abandons (its gap episode is real)
    sso_day: np.ndarray
    template_acct: np.ndarray  # one entry per scheduled template share
    template_day: np.ndarray

    def gap(self) -> Episodes:
        """The real integration_gap episodes."""
        return self.gap_all.take(np.flatnonzero(self.gap_fired[self.gap_all.acct]))


def _days(rng: np.random.Generator, lo_hi: tuple[int, int], n: int) -> np.ndarray:
    return rng.integers(lo_hi[0], lo_hi[1] + 1, n).astype(np.int64)


def gap_episodes(rng: np.random.Generator, acc: Accounts, acct: np.ndarray) -> Episodes:
    """An integration_gap episode for each of ``acct`` (row = account): from signup +
    ``GAP_ONSET_DAY`` usage falls to 0 (lag 0..10 days, time constant 2..5 days) and the account
    cancels at the first renewal at least 21 days after the fall."""
    k = world.INTEGRATION_GAP
    n = len(acct)
    onset = acc.created[acct] + GAP_ONSET_DAY
    lag = rng.integers(world.LAG_RANGE[k, 0], world.LAG_RANGE[k, 1] + 1, n).astype(np.int64)
    tau = rng.uniform(world.TAU_RANGE[k, 0], world.TAU_RANGE[k, 1], n)
    churn = acc.next_renewal(acct, onset + lag + CHURN_AFTER_FALL_DAYS)
    full = np.full(n, 1, dtype=np.int64)
    return Episodes(
        row=acct,
        acct=acct,
        kind=np.full(n, k),
        onset=onset,
        lag=lag,
        floor=np.full(n, world.FLOOR[k, 0]),
        tau=tau,
        dur=full * world.DURATION_RANGE[k, 0],
        rec=full * world.RECOVERY_RANGE[k, 0],
        churn=churn,
        end=churn,
    )


def draw_plan(rng: np.random.Generator, acc: Accounts, until_day: int) -> Plan:
    """Draw every planted behaviour's plan (module docstring) up to ``until_day``."""
    n = acc.n
    u = rng.random(n)
    early = u < WEBHOOK_EARLY_P
    late = ~early & (u < WEBHOOK_EARLY_P + WEBHOOK_LATE_P)
    webhook_day = np.where(
        early,
        acc.created + _days(rng, WEBHOOK_EARLY_DAYS, n),
        np.where(late, acc.created + _days(rng, WEBHOOK_LATE_DAYS, n), NEVER),
    )
    hub = np.flatnonzero(acc.use_case == world.USE_CASES.index(WEBHOOK_USE_CASE))
    gap_all = gap_episodes(rng, acc, hub)
    fired = np.zeros(n, dtype=bool)
    fired[hub] = ~early[hub] & (rng.random(len(hub)) < GAP_P)
    sso_day = np.where(
        rng.random(n) < SSO_P[acc.tier], acc.created + _days(rng, SSO_DAYS, n), NEVER
    )
    sharer = rng.random(n) < TEMPLATE_P
    life = np.maximum(until_day - acc.created, 0)
    k = rng.poisson(TEMPLATE_RATE * life * sharer)
    t_acct = np.repeat(np.arange(n), k)
    t_day = acc.created[t_acct] + np.floor(rng.random(len(t_acct)) * life[t_acct]).astype(np.int64)
    return Plan(webhook_day, early, gap_all, fired, sso_day, t_acct, t_day)


def _first_cell_on_or_after(
    cell_acct: np.ndarray, cell_day: np.ndarray, ok: np.ndarray, acct: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """Per query (acct, day): the first cell of that account with ``ok`` on or after ``day``
    (-1 when none)."""
    idx = np.flatnonzero(ok)
    key = cell_acct[idx] * (NEVER * 2) + cell_day[idx]
    order = np.argsort(key, kind="stable")
    idx, key = idx[order], key[order]
    pos = np.searchsorted(key, acct * (NEVER * 2) + np.minimum(day, NEVER))
    found = pos < len(idx)
    hit = np.full(len(acct), -1)
    hit[found] = idx[pos[found]]
    same = hit >= 0
    same[same] = cell_acct[hit[same]] == acct[same]
    return np.where(same, hit, -1)


def planted_events(
    rng: np.random.Generator, plan: Plan, users: Users, cells: Cells, raw: RawEvents
) -> RawEvents:
    """The planted events, each on the first fitting active user-day on or after its planned
    day, a few minutes after that session's login (``raw``: the other events, whose logins
    give one session start per cell, in cell order)."""
    cell_acct = users.acct[cells.user]
    role = users.role[cells.user]
    login_ts = raw.ts_us[raw.event == EV["login"]]
    n = len(plan.webhook_day)
    queries = (
        (WEBHOOK, np.arange(n), plan.webhook_day, role != world.MEMBER),
        (SSO, np.arange(n), plan.sso_day, role == world.ADMIN),
        (TEMPLATE, plan.template_acct, plan.template_day, np.ones(len(role), dtype=bool)),
    )
    out_cell, out_type = [], []
    for name, acct, day, ok in queries:
        planned = day < NEVER
        c = _first_cell_on_or_after(cell_acct, cells.day, ok, acct[planned], day[planned])
        c = c[c >= 0]
        out_cell.append(c)
        out_type.append(np.full(len(c), EV[name]))
    cell = np.concatenate(out_cell)
    etype = np.concatenate(out_type)
    day_end = (cells.day[cell] + 1) * US_PER_DAY - 1
    ts = np.minimum(
        login_ts[cell] + (rng.uniform(1, 30, len(cell)) * 60e6).astype(np.int64), day_end
    )
    return RawEvents(
        acct=cell_acct[cell],
        user=cells.user[cell],
        event=etype,
        ts_us=ts,
        value=np.full(len(cell), np.nan),
    )


def success_probability(
    acc: Accounts,
    users: Users,
    episodes: Episodes,
    churn: np.ndarray,
    n_days: int,
    season: np.ndarray,
    weekday: np.ndarray,
) -> np.ndarray:
    """P(success outcome | latent state) per account (module docstring); NaN when day
    ``OUTCOME_END_DAY - 1`` since start is not simulated. ``episodes`` (rows = accounts) and
    ``churn`` describe one scenario; activity is as in ``activity.draw_active_days``."""
    days = np.arange(n_days)
    cur = curves(episodes, acc.n, days, churn)
    f = calendar_base(acc, np.arange(acc.n), days, season, weekday) * cur.engagement * cur.alive
    end = acc.created + OUTCOME_END_DAY
    known = end <= n_days
    sel = np.flatnonzero(known[users.acct])
    a = users.acct[sel]
    win = acc.created[a][:, None] + (OUTCOME_END_DAY - OUTCOME_WINDOW_DAYS)
    win = win + np.arange(OUTCOME_WINDOW_DAYS)[None, :]
    p = users.p_active[sel, None] * f[a[:, None], win]
    admin_like = (users.role[sel] == world.ADMIN) & ~users.champion[sel]
    p = np.where(admin_like[:, None], p * cur.admin[a[:, None], win], p)
    p = np.minimum(p, world.P_MAX)
    present = (win > users.created[sel, None]) & (win < users.deactivated[sel, None])
    log_none = np.zeros(acc.n)
    np.add.at(log_none, a, (np.log1p(-p) * present).sum(axis=1))
    prob = np.where(churn >= end, -np.expm1(log_none), 0.0)
    return np.where(known, prob, np.nan)


def _segment_rows(frame: pl.LazyFrame, segments: list[str]) -> pl.LazyFrame:
    parts = [frame.with_columns(segment_column=pl.lit("all"), segment=pl.lit("all"))]
    parts += [
        frame.with_columns(segment_column=pl.lit(s), segment=pl.col(s).cast(pl.String))
        for s in segments
    ]
    return pl.concat([p.drop(segments) for p in parts], how="vertical")


def first_days(events: pl.DataFrame, accounts: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """First day since start (UTC calendar days) of each event in ``names`` per account:
    account_id, event, day."""
    return (
        events.lazy()
        .filter(pl.col("event").is_in(names))
        .group_by("account_id", "event")
        .agg(pl.col("timestamp").min())
        .join(accounts.lazy().select("account_id", "created_at"), on="account_id")
        .select(
            "account_id",
            "event",
            (pl.col("timestamp").dt.date() - pl.col("created_at").dt.date())
            .dt.total_days()
            .alias("day"),
        )
        .collect()
    )


SEGMENTS = ["industry", "size_tier", "use_case"]


def map_truth(
    accounts: pl.DataFrame,
    events: pl.DataFrame,
    p_actual: np.ndarray,
    p_no_gap: np.ndarray,
    p_gap: np.ndarray,
    created_day: np.ndarray,
    churn_day: np.ndarray,
) -> pl.DataFrame:
    """One row per (behaviour, landmark day, segment_column, segment): support of the landmark
    analysis (accounts started after the first simulated day, outcome day simulated, not
    churned before the landmark), ``true_effect`` (the causal risk difference of doing it in
    the first D days: ``GAP_P x (p_no_gap - p_gap)`` averaged over the segment's accounts of
    the webhook's segment at its landmark, 0 for the null behaviours, null where the planted
    rule says nothing), and ``expected_rd`` (mean success probability of the accounts that did
    it minus that of those that did not, given the latent state: what the landmark risk
    difference estimates on this sample)."""
    firsts = first_days(events, accounts, [WEBHOOK, TEMPLATE, SSO])
    base = accounts.select("account_id", *SEGMENTS).with_columns(
        pl.Series("p", p_actual),
        pl.Series("effect", GAP_P * (p_no_gap - p_gap)),
        pl.Series("_created", created_day),
        pl.Series("_churn", churn_day),
    )
    rows = []
    for name in (WEBHOOK, TEMPLATE, SSO):
        for d in LANDMARKS:
            did = firsts.filter((pl.col("event") == name) & (pl.col("day") < d)).select(
                "account_id", pl.lit(True).alias("did")
            )
            if name == WEBHOOK and d == WEBHOOK_LANDMARK:
                effect = pl.col("effect").fill_nan(None).fill_null(0.0)
            elif name == WEBHOOK:
                effect = pl.lit(None, pl.Float64)
            else:
                effect = pl.lit(0.0)
            pop = (
                base.lazy()
                .filter(pl.col("p").is_not_nan() & (pl.col("_created") >= 1))
                .filter(pl.col("_churn") >= pl.col("_created") + d)
                .join(did.lazy(), on="account_id", how="left")
                .with_columns(pl.col("did").fill_null(False), effect.alias("_eff"))
            )
            rows.append(
                _segment_rows(pop, SEGMENTS)
                .group_by("segment_column", "segment")
                .agg(
                    pl.col("did").sum().cast(pl.Int64).alias("n_did"),
                    (~pl.col("did")).sum().cast(pl.Int64).alias("n_not"),
                    pl.col("_eff").mean().alias("true_effect"),
                    (
                        pl.col("p").filter(pl.col("did")).mean()
                        - pl.col("p").filter(~pl.col("did")).mean()
                    ).alias("expected_rd"),
                )
                .with_columns(
                    pl.lit(name).alias("behaviour"), pl.lit(d, pl.Int64).alias("landmark_day")
                )
                .collect()
            )
    kinds = {WEBHOOK: "effect by segment", TEMPLATE: "null (immortal time)", SSO: "confounded"}
    return (
        pl.concat(rows)
        .with_columns(pl.col("behaviour").replace_strict(kinds).alias("planted"))
        .select(
            "behaviour",
            "planted",
            "landmark_day",
            "segment_column",
            "segment",
            "n_did",
            "n_not",
            "true_effect",
            "expected_rd",
        )
        .sort(
            "behaviour",
            "landmark_day",
            pl.col("segment_column") != "all",
            "segment_column",
            "segment",
        )
    )


def ttv_truth(
    events: pl.DataFrame, accounts: pl.DataFrame, start: date, n_days: int
) -> pl.DataFrame:
    """True median days to each milestone per segment: over the accounts started on day 1 or
    later and followed at least ``TTV_FOLLOW_DAYS`` days (no censoring), the first day ``t``
    with P(reached on day <= t) >= 0.5 (churned first = never, as the competing-risk CIF);
    null when under half reach it. Columns: milestone, segment_column, segment, n_accounts,
    share_reached, true_median_day. ``start``: the first simulated day (day index 0)."""
    firsts = first_days(events, accounts, list(MILESTONE_EVENTS.values()))
    to_name = {v: k for k, v in MILESTONE_EVENTS.items()}
    acc = accounts.with_columns(
        (pl.col("created_at").dt.date() - pl.lit(start)).dt.total_days().alias("_c")
    ).filter((pl.col("_c") >= 1) & (pl.col("_c") + TTV_FOLLOW_DAYS <= n_days))
    grid = acc.select("account_id", *SEGMENTS).join(
        pl.DataFrame({"milestone": list(MILESTONE_EVENTS)}), how="cross"
    )
    reached = firsts.with_columns(pl.col("event").replace_strict(to_name).alias("milestone"))
    rows = grid.join(
        reached.select("account_id", "milestone", "day"), on=["account_id", "milestone"], how="left"
    ).with_columns(pl.col("day").fill_null(NEVER))
    return (
        _segment_rows(rows.lazy(), SEGMENTS)
        .group_by("milestone", "segment_column", "segment")
        .agg(
            pl.len().alias("n_accounts"),
            (pl.col("day") < NEVER).mean().alias("share_reached"),
            pl.col("day").sort().get((pl.len() - 1) // 2).alias("_med"),
        )
        .with_columns(pl.when(pl.col("_med") < NEVER).then(pl.col("_med")).alias("true_median_day"))
        .drop("_med")
        .sort("milestone", pl.col("segment_column") != "all", "segment_column", "segment")
        .collect()
    )
