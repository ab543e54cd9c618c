"""Determinism, the canonical schema, and that the data looks like a real B2B SaaS product."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from ingest.tables import (
    ACCOUNTS_OPTIONAL,
    ACCOUNTS_REQUIRED,
    EVENTS_OPTIONAL,
    EVENTS_REQUIRED,
    USERS_OPTIONAL,
    USERS_REQUIRED,
)
from simulator import Simulation, simulate
from simulator.world import MECHANISMS
from tests.simulator.conftest import AS_OF, small_spec

REQUIRED_EVENTS = {
    "login",
    "dashboard_viewed",
    "report_created",
    "export_created",
    "integration_connected",
    "integration_synced",
    "integration_error",
    "workflow_created",
    "workflow_completed",
    "automation_launched",
    "user_invited",
    "support_ticket_opened",
    "api_call",
    "comment_added",
    "file_uploaded",
    "settings_changed",
    "subscription_cancelled",
}


def test_same_seed_same_frames_and_other_seed_differs() -> None:
    a = simulate(small_spec(accounts=40, days=90, seed=3, replays=20))
    b = simulate(small_spec(accounts=40, days=90, seed=3, replays=20))
    c = simulate(small_spec(accounts=40, days=90, seed=4, replays=20))
    for name in ("events", "users", "accounts", "truth"):
        assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.events.equals(c.events)
    assert not a.accounts.equals(c.accounts)


def test_schema_matches_the_canonical_contract(sim: Simulation) -> None:
    assert dict(sim.events.schema) == {**EVENTS_REQUIRED, **EVENTS_OPTIONAL}
    assert dict(sim.users.schema) == {**USERS_REQUIRED, **USERS_OPTIONAL}
    acc = sim.accounts.schema
    for col, dtype in {**ACCOUNTS_REQUIRED, **ACCOUNTS_OPTIONAL}.items():
        assert acc[col] == dtype, col
    for seg in ("industry", "size_tier", "use_case", "plan"):
        assert acc[seg] == pl.String
    assert sim.truth.schema == pl.Schema(
        {
            "account_id": pl.String,
            "cutoff": pl.Date,
            "oracle_prob": pl.Float64,
            "oracle_se": pl.Float64,
            "cause": pl.String,
            "cause_onset": pl.Date,
        }
    )
    for name in ("events", "users", "accounts"):
        df = getattr(sim, name)
        assert df.select(pl.col("account_id").null_count()).item() == 0
    assert sim.events["timestamp"].max().date() < AS_OF  # nothing at or after the end


def test_segments_seats_and_signups_are_realistic(sim: Simulation) -> None:
    acc = sim.accounts
    seats = acc.group_by("size_tier").agg(lo=pl.col("seats").min(), hi=pl.col("seats").max())
    bounds = {"smb": (3, 15), "mid": (15, 80), "enterprise": (80, 400)}
    for tier, lo, hi in seats.iter_rows():
        assert bounds[tier][0] <= lo and hi <= bounds[tier][1], tier
    assert set(acc["size_tier"]) == set(bounds)
    assert acc["industry"].n_unique() >= 5
    assert acc["use_case"].n_unique() >= 3
    # signups spread over the period, renewals after signup
    assert (acc["created_at"].max() - acc["created_at"].min()).days > 100
    assert (acc["renewal_date"] > acc["created_at"]).all()


def test_users_roles_and_joins_and_leaves(sim: Simulation) -> None:
    users = sim.users
    assert set(users["role"]) == {"admin", "builder", "member"}
    assert users["deactivated_at"].is_not_null().sum() > 50
    assert (
        users.filter(pl.col("deactivated_at").is_not_null())
        .select((pl.col("deactivated_at") > pl.col("created_at")).all())
        .item()
    )
    # every event's user belongs to the event's account and acts between joining and leaving
    ev = sim.events.join(users, on="user_id", how="left", suffix="_u")
    assert ev["account_id_u"].null_count() == 0
    assert (ev["account_id"] == ev["account_id_u"]).all()
    assert (ev["timestamp"] > ev["created_at"]).all()
    assert (
        ev.filter(
            pl.col("deactivated_at").is_not_null()
            & (pl.col("timestamp") > pl.col("deactivated_at"))
        ).height
        == 0
    )


def test_event_catalogue_and_role_behaviour(sim: Simulation) -> None:
    ev = sim.events
    assert ev["event"].n_unique() >= 15
    assert set(ev["event"]) >= REQUIRED_EVENTS
    mix = (
        ev.join(sim.users.select("user_id", "role"), on="user_id")
        .group_by("role")
        .agg(
            settings=(pl.col("event") == "settings_changed").mean(),
            workflows=pl.col("event").is_in(["workflow_created", "automation_launched"]).mean(),
            views=pl.col("event").is_in(["dashboard_viewed", "report_viewed"]).mean(),
        )
        .sort("role")
    )
    admin, builder, member = mix.rows(named=True)
    assert admin["settings"] > 3 * member["settings"]
    assert builder["workflows"] > 2 * admin["workflows"] > 0
    assert member["views"] > builder["views"]


def test_weekday_rhythm_and_december_dip() -> None:
    s = simulate(small_spec(accounts=120, days=400, seed=11, replays=5))
    daily = (
        s.events.filter(pl.col("event") == "login")
        .group_by(day=pl.col("timestamp").dt.date())
        .agg(n=pl.len())
        .with_columns(
            wd=pl.col("day").dt.weekday(),
            month=pl.col("day").dt.month(),
            dom=pl.col("day").dt.day(),
        )
    )
    weekday = daily.filter(pl.col("wd") <= 5)["n"].mean()
    weekend = daily.filter(pl.col("wd") >= 6)["n"].mean()
    assert weekday > 4 * weekend
    work = daily.filter(pl.col("wd") <= 5)
    holidays = work.filter((pl.col("month") == 12) & (pl.col("dom") >= 22))["n"].mean()
    early_dec = work.filter((pl.col("month") == 12) & (pl.col("dom").is_between(1, 19)))["n"].mean()
    assert holidays < 0.75 * early_dec


def test_milestones_and_onboarding_invites(sim: Simulation) -> None:
    first = (
        sim.events.filter(
            pl.col("event").is_in(
                ["integration_connected", "workflow_completed", "automation_launched"]
            )
        )
        .group_by("account_id", "event")
        .agg(first=pl.col("timestamp").min())
        .join(sim.accounts.select("account_id", "created_at"), on="account_id")
        .with_columns(days=(pl.col("first") - pl.col("created_at")).dt.total_days())
    )
    med = dict(first.group_by("event").agg(pl.col("days").median()).iter_rows())
    assert med["integration_connected"] < med["workflow_completed"] < med["automation_launched"]
    assert med["integration_connected"] <= 14
    invites = (
        sim.events.filter(pl.col("event") == "user_invited")
        .join(sim.accounts.select("account_id", "created_at"), on="account_id")
        .filter(pl.col("timestamp") < pl.col("created_at") + pl.duration(days=10))
    )
    assert invites["account_id"].n_unique() > 0.5 * sim.accounts.height


def test_churned_accounts_cancel_once_and_go_silent(sim: Simulation) -> None:
    churned = sim.accounts.filter(pl.col("churned_at").is_not_null())
    assert churned.height >= 5
    cancels = sim.events.filter(pl.col("event") == "subscription_cancelled")
    assert cancels.height == churned.height
    joined = cancels.join(churned, on="account_id")
    assert (joined["timestamp"] == joined["churned_at"]).all()
    after = sim.events.join(churned.select("account_id", "churned_at"), on="account_id").filter(
        pl.col("timestamp") > pl.col("churned_at")
    )
    assert after.height == 0


def test_every_mechanism_is_planted_with_an_onset(sim: Simulation) -> None:
    tr = sim.truth
    # integration_gap is planted only with simulate.planted (the adoption map's test behaviours)
    assert set(tr["cause"]) == {*MECHANISMS, "none"} - {"integration_gap"}
    assert tr.filter(pl.col("cause") != "none")["cause_onset"].null_count() == 0
    assert (
        tr.filter(pl.col("cause") == "none")["cause_onset"].null_count()
        == tr.filter(pl.col("cause") == "none").height
    )
    # the cause runs at the cutoff or starts within the horizon after it
    assert (
        tr.filter(
            (pl.col("cause") != "none")
            & (pl.col("cause_onset") >= pl.col("cutoff") + pl.duration(days=28))
        ).height
        == 0
    )
