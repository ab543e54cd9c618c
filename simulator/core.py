"""`simulate`: the whole simulation, from a seed to the canonical tables and the truth.

Order of draws (each stage has its own child seed, so e.g. changing ``oracle_replays`` never
changes the events): accounts and rosters -> mechanisms (day by day over the simulated period
plus one horizon, so causes starting after the last observed day are known to the truth) ->
the planted adoption behaviours' plan (``simulator.planted``, its own seed: abandoned
integration hubs get an ``integration_gap`` episode) -> active user-days -> events (+ the
planted events) -> the adoption map's truth -> truth per cutoff. Output tables follow ``ingest/tables.py``:
ids are strings, timestamps ``Datetime("us", "UTC")``. The simulated period is the ``days`` whole
UTC days before ``end_date`` (exclusive); nothing at or after ``end_date`` is written, except
``accounts.renewal_date`` (the next renewal, a date in the future as a CRM would show it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from core.errors import ConfigValueError
from core.logs import get_logger
from core.progress import progress, step
from simulator import calendar, planted, world
from simulator.activity import (
    US_PER_DAY,
    RawEvents,
    build_events,
    calendar_base,
    draw_active_days,
)
from simulator.entities import draw_accounts, draw_users
from simulator.mechanisms import Episodes, HazardState, curves, run_hazards, stall_episodes
from simulator.oracle import LabelSpec, causes, cutoff_truth
from simulator.world import NEVER

log = get_logger(__name__)

TS = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class SimulationSpec:
    """Everything a simulation depends on. ``cutoffs`` are the truth's cutoff dates."""

    accounts: int = 1200
    days: int = 540
    seed: int = 42
    end_date: date = date(2026, 11, 1)
    cutoffs: tuple[date, ...] = ()
    label: LabelSpec = field(default_factory=LabelSpec)
    oracle_replays: int = 200
    # Plant the adoption map's test behaviours (simulator.planted: a webhook that matters for
    # integration hubs only, a null one that long-lived accounts accumulate, one confounded by
    # size) with their ground truth. Off: the world is drawn exactly as before they existed.
    planted: bool = False

    @property
    def start_date(self) -> date:
        return self.end_date - timedelta(days=self.days)


@dataclass
class Simulation:
    """The four tables plus a few numbers for the summary."""

    events: pl.DataFrame
    users: pl.DataFrame
    accounts: pl.DataFrame
    truth: pl.DataFrame
    realised_label_rate: float  # realised usage_drop rate over truth rows with an observed label
    elapsed_s: dict[str, float]
    # Ground truth of the planted adoption behaviours (simulator.planted): effects at the
    # landmarks per segment, and the true median days to each milestone per segment.
    map_truth: pl.DataFrame = field(default_factory=pl.DataFrame)
    ttv_truth: pl.DataFrame = field(default_factory=pl.DataFrame)


#: The cutoff schedule the data profile picks for the demo world (see ``cutoffs_from_config``).
DEMO_EVERY_DAYS, DEMO_COUNT = 7, 52


def cutoffs_from_config(snapshot: Any) -> tuple[date, ...]:
    """``as_of - k * every_days`` for ``k = 0 .. count-1``, oldest first."""
    as_of = date.fromisoformat(str(snapshot.as_of))
    # Open settings (null) take what the data profile picks on the demo world: weekly, 52 (its
    # 540 days of daily use; ingest.defaults), so truth rows match the dataset's cutoffs.
    every = int(snapshot.every_days or DEMO_EVERY_DAYS)
    count = int(snapshot.count or DEMO_COUNT)
    return tuple(sorted(as_of - timedelta(days=k * every) for k in range(count)))


def spec_from_config(cfg: Any) -> SimulationSpec:
    """Build the spec from the project config (``simulate``, ``snapshot``, ``label``).

    The truth is always for the default label semantics (usage_drop); with another
    ``label=...`` group the usage_drop defaults of ``LabelConfig`` are used.
    """
    from core.config import LabelConfig

    lab = cfg.label if str(cfg.label.name) == "usage_drop" else LabelConfig()
    if "login" in list(lab.excluded_events) or (
        lab.qualifying_events and "login" not in list(lab.qualifying_events)
    ):
        raise ConfigValueError(
            "the simulator's truth needs `login` to count as usage, but "
            f"label.excluded_events={list(lab.excluded_events)} / "
            f"label.qualifying_events={list(lab.qualifying_events)}",
            hint="keep login a qualifying (non-excluded) event",
        )
    try:
        label = LabelSpec(
            horizon_days=int(lab.horizon_days),
            baseline_days=int(lab.baseline_days),
            assess_days=int(lab.assess_days),
            drop_fraction=float(lab.drop_fraction),
            min_baseline_users=float(lab.min_baseline_users),
        )
        spec = SimulationSpec(
            accounts=int(cfg.simulate.accounts),
            days=int(cfg.simulate.days),
            seed=int(cfg.simulate.seed),
            end_date=date.fromisoformat(str(cfg.simulate.end_date)),
            cutoffs=cutoffs_from_config(cfg.snapshot),
            label=label,
            oracle_replays=int(cfg.simulate.oracle_replays),
            planted=bool(cfg.simulate.planted),
        )
    except ValueError as err:
        raise ConfigValueError(str(err), hint="fix the simulate/label/snapshot values") from err
    if spec.accounts < 1 or spec.days < 60 or spec.oracle_replays < 1:
        raise ConfigValueError(
            f"simulate.accounts={spec.accounts}, simulate.days={spec.days}, "
            f"simulate.oracle_replays={spec.oracle_replays}",
            hint="need accounts >= 1, days >= 60, oracle_replays >= 1",
        )
    return spec


def _ts(us: np.ndarray, start: date) -> pl.Series:
    """Microseconds since ``start`` 00:00 UTC -> Datetime(us, UTC)."""
    epoch_us = (start - date(1970, 1, 1)).days * US_PER_DAY
    return (
        pl.Series(np.asarray(us, dtype=np.int64) + epoch_us)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )


def _date(days: np.ndarray, start: date) -> pl.Series:
    base = np.datetime64(start, "D")
    return pl.Series((base + np.asarray(days)).astype("datetime64[D]")).cast(pl.Date)


def simulate(spec: SimulationSpec) -> Simulation:
    """Run the simulation described by ``spec`` (deterministic per ``spec.seed``)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # six children; the first five are the same as before the planted behaviours existed
    seeds = np.random.SeedSequence(spec.seed).spawn(6)
    rng_world, rng_mech, rng_act, rng_ev, rng_oracle, rng_plant = (
        np.random.default_rng(s) for s in seeds
    )
    start, n_days = spec.start_date, spec.days
    n_ext = n_days + spec.label.horizon_days + 7
    weekday = calendar.weekday_factor(start, n_ext)
    season = calendar.season_factor(start, n_ext)
    dip = calendar.dip_hazard_factor(start, n_ext)

    with step("simulate: accounts, users, mechanisms", log):
        acc = draw_accounts(rng_world, spec.accounts, n_days)
        users = draw_users(rng_world, acc, n_ext)
        stall = stall_episodes(rng_mech, acc)
        free_from = acc.created + world.HAZARD_MIN_AGE_DAYS
        churn = np.full(acc.n, NEVER)
        free_from[stall.acct] = np.maximum(free_from[stall.acct], stall.end)
        churn[stall.acct] = stall.churn
        state = HazardState(
            acct=np.arange(acc.n),
            free_from=free_from,
            champion=np.ones(acc.n, dtype=bool),
            churn=churn,
        )
        base_episodes = Episodes.concat([stall, run_hazards(rng_mech, acc, state, 0, n_ext, dip)])
        base_churn = state.churn
        plan = planted.draw_plan(rng_plant, acc, n_ext) if spec.planted else None
        if plan is not None:  # abandoned integration hubs get an integration_gap episode
            gap = plan.gap()
            churn = base_churn.copy()
            np.minimum.at(churn, gap.acct, gap.churn)
            episodes = Episodes.concat([base_episodes, gap])
            episodes = episodes.take(np.flatnonzero(episodes.onset < churn[episodes.acct]))
        else:
            episodes, churn = base_episodes, base_churn
        cl = episodes.kind == world.CHAMPION_LEFT
        champ_of = np.full(acc.n, -1)
        champ_of[users.acct[users.champion]] = np.flatnonzero(users.champion)
        users.deactivated[champ_of[episodes.acct[cl]]] = episodes.onset[cl]
        log.info(
            "simulate: %d accounts, %d planned users, %d episodes", acc.n, users.n, len(episodes)
        )
    timings["entities_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    with step("simulate: active user-days and events", log):
        days = np.arange(n_days)
        cur = curves(episodes, acc.n, days, churn)
        base = calendar_base(acc, np.arange(acc.n), days, season, weekday)
        cells = draw_active_days(rng_act, acc, users, cur, base, n_days)
        raw, user_created_us, acc_created_us = build_events(rng_ev, acc, users, cells, cur)
        if plan is not None:
            extra = planted.planted_events(rng_plant, plan, users, cells, raw)
            raw = RawEvents(
                *(np.concatenate([getattr(raw, f), getattr(extra, f)]) for f in RAW_FIELDS)
            )
        events, users_df, accounts_df = _frames(
            rng_ev, spec, acc, users, raw, user_created_us, acc_created_us, churn
        )
        log.info("simulate: %d active user-days, %d events", len(cells.user), events.height)
    timings["events_s"] = time.perf_counter() - t1

    t3 = time.perf_counter()
    map_truth, ttv_truth = (
        _planted_truth(
            spec, acc, users, plan, base_episodes, base_churn, episodes, churn, events, accounts_df
        )
        if plan is not None
        else (pl.DataFrame(), pl.DataFrame())
    )
    timings["planted_truth_s"] = time.perf_counter() - t3

    t2 = time.perf_counter()
    truth, realised_rate = _truth(
        rng_oracle, spec, acc, users, episodes, cells, accounts_df, season, weekday, dip
    )
    timings["truth_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t0
    return Simulation(
        events=events,
        users=users_df,
        accounts=accounts_df,
        truth=truth,
        realised_label_rate=realised_rate,
        elapsed_s=timings,
        map_truth=map_truth,
        ttv_truth=ttv_truth,
    )


RAW_FIELDS = ("acct", "user", "event", "ts_us", "value")


def _planted_truth(
    spec: SimulationSpec,
    acc: Any,
    users: Any,
    plan: planted.Plan,
    base_episodes: Episodes,
    base_churn: np.ndarray,
    episodes: Episodes,
    churn: np.ndarray,
    events: pl.DataFrame,
    accounts_df: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``map_truth`` and ``ttv_truth`` (see ``simulator.planted``): success probabilities under
    the real latent state, without any integration gap and with one for every integration hub."""
    n_days = spec.days
    season = calendar.season_factor(spec.start_date, n_days)
    weekday = calendar.weekday_factor(spec.start_date, n_days)
    gap_churn = base_churn.copy()
    np.minimum.at(gap_churn, plan.gap_all.acct, plan.gap_all.churn)

    def prob(ep: Episodes, ch: np.ndarray) -> np.ndarray:
        return planted.success_probability(acc, users, ep, ch, n_days, season, weekday)

    p_actual = prob(episodes, churn)
    p_no_gap = prob(base_episodes, base_churn)
    p_gap = prob(Episodes.concat([base_episodes, plan.gap_all]), gap_churn)
    map_truth = planted.map_truth(
        accounts_df, events, p_actual, p_no_gap, p_gap, acc.created, churn
    )
    return map_truth, planted.ttv_truth(events, accounts_df, spec.start_date, n_days)


def _frames(
    rng: np.random.Generator,
    spec: SimulationSpec,
    acc: Any,
    users: Any,
    raw: Any,
    user_created_us: np.ndarray,
    acc_created_us: np.ndarray,
    churn: np.ndarray,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Canonical events/users/accounts frames (cancellations added, churned users deactivated)."""
    start, n_days = spec.start_date, spec.days
    acc_ids = pl.Series("account_id", [f"acc-{i + 1:05d}" for i in range(acc.n)])
    # ---- churn: cancelled by an admin present that day (else anyone present, else the champion)
    churned = np.flatnonzero(churn < n_days)
    churn_us = churn * US_PER_DAY + (rng.uniform(9, 18, acc.n) * 3600e6).astype(np.int64)
    present = (
        (users.created < churn[users.acct])
        & (users.deactivated > churn[users.acct])
        & (churn[users.acct] < n_days)
    )
    pref = np.where(present, np.where(users.role == world.ADMIN, 0, 1), 2 + ~users.champion)
    order = np.lexsort((pref, users.acct))
    first = order[np.unique(users.acct[order], return_index=True)[1]]
    canceller = np.full(acc.n, -1)
    canceller[users.acct[first]] = first
    cancel_user = canceller[churned]
    ev_acct = np.concatenate([raw.acct, churned])
    ev_user = np.concatenate([raw.user, cancel_user])
    ev_type = np.concatenate([raw.event, np.full(len(churned), world.EV["subscription_cancelled"])])
    ev_ts = np.concatenate([raw.ts_us, churn_us[churned]])
    ev_val = np.concatenate([raw.value, np.full(len(churned), np.nan)])
    order = np.argsort(ev_ts, kind="stable")

    # ---- users: deactivations after the end are not known yet (null)
    rank = (
        np.arange(users.n)
        - np.r_[0, np.cumsum(np.bincount(users.acct, minlength=acc.n))[:-1]][users.acct]
    )
    user_ids = acc_ids.gather(users.acct) + pl.Series([f"-u{k:04d}" for k in rank])
    deact_us = users.deactivated * US_PER_DAY + (rng.uniform(8, 20, users.n) * 3600e6).astype(
        np.int64
    )
    deact_us = np.where(users.deactivated < n_days, deact_us, np.iinfo(np.int64).max)
    deact_us = np.minimum(
        deact_us, np.where(churn[users.acct] < n_days, churn_us[users.acct], np.iinfo(np.int64).max)
    )
    # users planned to join after the end, or after their account churned, never existed
    keep = (user_created_us < n_days * US_PER_DAY) & (user_created_us < churn_us[users.acct])
    never = deact_us == np.iinfo(np.int64).max
    users_df = pl.DataFrame(
        {
            "user_id": user_ids.filter(pl.Series(keep)),
            "account_id": acc_ids.gather(users.acct[keep]),
            "role": pl.Series(world.ROLES).gather(users.role[keep]),
            "created_at": _ts(user_created_us[keep], start),
            "deactivated_at": _ts(np.where(never, 0, deact_us)[keep], start),
        }
    ).with_columns(
        pl.when(pl.Series(never[keep]))
        .then(None)
        .otherwise(pl.col("deactivated_at"))
        .alias("deactivated_at")
    )

    events = pl.DataFrame(
        {
            "account_id": acc_ids.gather(ev_acct[order]),
            "user_id": user_ids.gather(ev_user[order]),
            "event": pl.Series(world.EVENTS).gather(ev_type[order]),
            "timestamp": _ts(ev_ts[order], start),
            "value": pl.Series(ev_val[order]).fill_nan(None),
        }
    )

    # ---- accounts: segments, seats, next renewal as seen at the end (or the churn renewal)
    renewal = np.where(
        churn < n_days, churn, acc.next_renewal(np.arange(acc.n), np.full(acc.n, n_days))
    )
    accounts_df = pl.DataFrame(
        {
            "account_id": acc_ids,
            "industry": pl.Series(world.INDUSTRIES).gather(acc.industry),
            "size_tier": pl.Series(world.TIERS).gather(acc.tier),
            "use_case": pl.Series(world.USE_CASES).gather(acc.use_case),
            "plan": pl.Series(world.PLANS).gather(acc.tier),
            "created_at": _ts(acc_created_us, start),
            "renewal_date": _ts(renewal * US_PER_DAY, start),
            "churned_at": _ts(np.where(churn < n_days, churn_us, 0), start),
            "seats": pl.Series(acc.seats, dtype=pl.Int64),
        }
    ).with_columns(
        pl.when(pl.Series(churn < n_days))
        .then(pl.col("churned_at"))
        .otherwise(None)
        .alias("churned_at")
    )
    return events, users_df, accounts_df


def _truth(
    rng: np.random.Generator,
    spec: SimulationSpec,
    acc: Any,
    users: Any,
    episodes: Episodes,
    cells: Any,
    accounts_df: pl.DataFrame,
    season: np.ndarray,
    weekday: np.ndarray,
    dip: np.ndarray,
) -> tuple[pl.DataFrame, float]:
    """Truth rows for every cutoff inside the simulated period (later cutoffs are skipped)."""
    start, n_days = spec.start_date, spec.days
    cts = [(c - start).days for c in spec.cutoffs]
    skipped = [c for c, ct in zip(spec.cutoffs, cts, strict=True) if not 0 < ct <= n_days]
    if skipped:
        log.info(
            "simulate: %d cutoffs outside the simulated period skipped in truth (%s..%s)",
            len(skipped),
            skipped[0],
            skipped[-1],
        )
    parts = []
    realised = []
    for ct in progress(
        [ct for ct in cts if 0 < ct <= n_days], desc="simulate: truth oracle", logger=log
    ):
        tr = cutoff_truth(
            rng,
            acc,
            users,
            episodes,
            cells,
            ct,
            n_days,
            spec.label,
            spec.oracle_replays,
            season,
            weekday,
            dip,
        )
        parts.append((np.full(len(tr.acct), ct), tr))
        realised.append(tr.realised)
    if not parts:
        return _empty_truth(), float("nan")
    ct_all = np.concatenate([p[0] for p in parts])
    acct = np.concatenate([p[1].acct for p in parts])
    prob = np.concatenate([p[1].oracle_prob for p in parts])
    se = np.concatenate([p[1].oracle_se for p in parts])
    kind, onset = causes(episodes, acct, ct_all, spec.label.horizon_days)
    names = pl.Series([*world.MECHANISMS, "none"])
    truth = (
        pl.DataFrame(
            {
                "account_id": accounts_df["account_id"].gather(acct),
                "cutoff": _date(ct_all, start),
                "oracle_prob": pl.Series(prob).fill_nan(None),
                "oracle_se": pl.Series(se).fill_nan(None),
                "cause": names.gather(np.where(kind < 0, len(world.MECHANISMS), kind)),
                "cause_onset": _date(np.maximum(onset, 0), start),
            }
        )
        .with_columns(
            pl.when(pl.Series(kind < 0))
            .then(None)
            .otherwise(pl.col("cause_onset"))
            .alias("cause_onset")
        )
        .sort("cutoff", "account_id")
    )
    r = np.concatenate(realised)
    rate = float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")
    return truth, rate


def _empty_truth() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "account_id": pl.String,
            "cutoff": pl.Date,
            "oracle_prob": pl.Float64,
            "oracle_se": pl.Float64,
            "cause": pl.String,
            "cause_onset": pl.Date,
        }
    )
