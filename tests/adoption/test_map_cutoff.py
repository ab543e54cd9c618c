"""A map as of an earlier date reads nothing at or after it: the same map as one built from a
log that ends there (no look-ahead for the nudges of an earlier as_of)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from adoption.build import MapParams, build_map
from simulator import SimulationSpec, simulate

MILESTONES = [
    {"name": "first_integration", "events": ["integration_connected"], "expected_days": 14},
    {"name": "first_workflow", "events": ["workflow_completed"], "expected_days": 21},
]


def test_a_map_as_of_a_cutoff_equals_the_map_of_the_log_cut_there() -> None:
    sim = simulate(
        SimulationSpec(accounts=300, days=240, seed=5, end_date=date(2026, 11, 1), cutoffs=())
    )
    cut = datetime(2026, 8, 1, tzinfo=UTC)
    params = MapParams(min_accounts=5, min_n=5)
    segs = ["size_tier"]
    early = build_map(
        sim.events, sim.accounts, sim.users, MILESTONES, segs, params, observed_until=cut
    )
    past_events = sim.events.filter(pl.col("timestamp") < cut)
    past_accounts = sim.accounts.filter(pl.col("created_at") < cut).with_columns(
        pl.when(pl.col("churned_at") < cut).then(pl.col("churned_at")).alias("churned_at")
    )
    cut_log = build_map(
        past_events, past_accounts, sim.users, MILESTONES, segs, params, observed_until=cut
    )
    late = build_map(
        sim.events,
        sim.accounts,
        sim.users,
        MILESTONES,
        segs,
        params,
        observed_until=datetime(2026, 11, 1, tzinfo=UTC),
    )
    a, b = early.frames(), cut_log.frames()
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].equals(b[name]), name
    assert early.findings.height > 0
    # the later map does see more: its findings are not the early ones
    assert not early.findings.equals(late.findings)
