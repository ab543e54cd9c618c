"""The planted adoption behaviours (simulator.planted): their events, rates and ground truth."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from simulator import Simulation, planted, simulate, world
from simulator.entities import draw_accounts
from simulator.world import NEVER
from tests.simulator.conftest import AS_OF, small_spec


@pytest.fixture(scope="module")
def sim() -> Simulation:
    """The small test world with the adoption map's behaviours planted (simulate.planted)."""
    return simulate(dataclasses.replace(small_spec(), planted=True))


def test_without_planting_the_world_is_drawn_as_before(sim: Simulation) -> None:
    plain = simulate(small_spec())
    assert plain.map_truth.is_empty() and plain.ttv_truth.is_empty()
    new = {planted.WEBHOOK, planted.TEMPLATE, planted.SSO}
    assert not new & set(plain.events["event"].unique())
    assert new <= set(sim.events["event"].unique())


PLANTED = [planted.WEBHOOK, planted.TEMPLATE, planted.SSO]


def _days_since_start(sim: Simulation, event: str) -> pl.DataFrame:
    return (
        sim.events.filter(pl.col("event") == event)
        .join(sim.accounts, on="account_id")
        .with_columns(
            day=(pl.col("timestamp").dt.date() - pl.col("created_at").dt.date()).dt.total_days()
        )
    )


def test_planted_events_sit_on_active_user_days_of_the_right_roles(sim: Simulation) -> None:
    ev = sim.events.with_columns(d=pl.col("timestamp").dt.date())
    logins = ev.filter(pl.col("event") == "login").select("user_id", "d").unique()
    mine = ev.filter(pl.col("event").is_in(PLANTED))
    assert set(mine["event"]) == set(PLANTED)
    # every planted event belongs to a day on which its user logged in (the oracle's rule)
    assert mine.join(logins, on=["user_id", "d"], how="anti").height == 0
    roles = mine.join(sim.users.select("user_id", "role"), on="user_id")
    assert set(roles.filter(pl.col("event") == planted.SSO)["role"]) == {"admin"}
    assert "member" not in set(roles.filter(pl.col("event") == planted.WEBHOOK)["role"])
    once = mine.filter(pl.col("event") != planted.TEMPLATE).group_by("account_id", "event").len()
    assert once["len"].max() == 1


def test_planted_rates(sim: Simulation) -> None:
    acc = sim.accounts.filter(pl.col("created_at") < pl.lit(AS_OF - timedelta(days=30)))
    n = acc.height
    web = _days_since_start(sim, planted.WEBHOOK).filter(pl.col("day") < 14)
    share = web.join(acc, on="account_id", how="semi")["account_id"].n_unique() / n
    assert 0.38 < share < 0.62  # planned in days 1..9 for half of the accounts
    sso = (
        acc.join(
            _days_since_start(sim, planted.SSO).select("account_id", "day"),
            on="account_id",
            how="left",
        )
        .group_by("size_tier")
        .agg((pl.col("day") < 14).fill_null(False).mean().alias("share"))
    )
    by_tier = dict(sso.iter_rows())
    assert by_tier["smb"] < 0.2 < by_tier["mid"] < by_tier["enterprise"]
    assert by_tier["enterprise"] > 0.6
    # template shares: a constant rate per day of the account's life, whatever its size
    end = pl.lit(AS_OF).cast(pl.Datetime("us", "UTC"))
    life = sim.accounts.select(
        "account_id",
        "size_tier",
        (pl.min_horizontal(pl.col("churned_at").fill_null(end), end) - pl.col("created_at"))
        .dt.total_days()
        .alias("life"),
    )
    shares = sim.events.filter(pl.col("event") == planted.TEMPLATE).group_by("account_id").len()
    rate = (
        life.join(shares, on="account_id", how="left")
        .group_by("size_tier")
        .agg((pl.col("len").fill_null(0).sum() / pl.col("life").sum()).alias("rate"))
    )
    expected = planted.TEMPLATE_P * planted.TEMPLATE_RATE
    for tier, r in rate.iter_rows():
        assert 0.6 * expected < r < 1.4 * expected, tier


def test_integration_gap_episode_abandons_and_cancels_at_a_renewal() -> None:
    acc = draw_accounts(np.random.default_rng(0), 50, 400)
    acct = np.arange(acc.n)
    ep = planted.gap_episodes(np.random.default_rng(1), acc, acct)
    assert (ep.kind == world.INTEGRATION_GAP).all()
    assert (ep.onset == acc.created + planted.GAP_ONSET_DAY).all()
    assert (ep.floor == 0).all()
    fall = ep.onset + ep.lag
    assert (ep.churn >= fall + planted.CHURN_AFTER_FALL_DAYS).all()
    assert ((ep.churn - acc.created) % acc.term == 0).all()  # at a renewal
    assert (ep.end == ep.churn).all() and (ep.churn < NEVER).all()


def test_truth_has_the_planted_effect_only_in_integration_hubs(sim: Simulation) -> None:
    t = sim.map_truth.filter(
        (pl.col("behaviour") == planted.WEBHOOK)
        & (pl.col("landmark_day") == planted.WEBHOOK_LANDMARK)
        & (pl.col("segment_column") == "use_case")
    )
    effect = dict(t.select("segment", "true_effect").iter_rows())
    assert effect.pop(planted.WEBHOOK_USE_CASE) > 0.2
    assert set(effect.values()) == {0.0}
    nulls = sim.map_truth.filter(pl.col("behaviour") != planted.WEBHOOK)
    assert (nulls["true_effect"] == 0).all()
    assert set(sim.map_truth["segment_column"]) == {"all", "industry", "size_tier", "use_case"}
    # abandoned hubs: no early webhook, cause integration_gap in the oracle's truth
    gap = sim.truth.filter(pl.col("cause") == "integration_gap")["account_id"].unique()
    assert gap.len() > 0
    early = _days_since_start(sim, planted.WEBHOOK).filter(pl.col("day") < 14)["account_id"]
    hubs = sim.accounts.filter(pl.col("use_case") == planted.WEBHOOK_USE_CASE)["account_id"]
    assert set(gap) <= set(hubs) - set(early)


def test_success_probability_is_zero_after_an_early_churn() -> None:
    from simulator import calendar
    from simulator.entities import draw_users
    from simulator.mechanisms import Episodes

    rng = np.random.default_rng(3)
    acc = draw_accounts(rng, 30, 200)
    users = draw_users(rng, acc, 200)
    start = date(2026, 1, 1)
    season, weekday = calendar.season_factor(start, 200), calendar.weekday_factor(start, 200)
    never = np.full(acc.n, NEVER)
    p = planted.success_probability(acc, users, Episodes.empty(), never, 200, season, weekday)
    known = acc.created + planted.OUTCOME_END_DAY <= 200
    assert np.isnan(p[~known]).all()
    assert (p[known] > 0.9).all()  # healthy accounts are almost surely active in the window
    early = acc.created + 60
    p0 = planted.success_probability(acc, users, Episodes.empty(), early, 200, season, weekday)
    assert (p0[known] == 0).all()


def test_ttv_truth_orders_the_milestones(sim: Simulation) -> None:
    med = dict(
        sim.ttv_truth.filter(pl.col("segment_column") == "all")
        .select("milestone", "true_median_day")
        .iter_rows()
    )
    assert max(med["first_integration"], med["first_workflow"]) < med["first_automation"]
    assert med["first_integration"] <= 14
