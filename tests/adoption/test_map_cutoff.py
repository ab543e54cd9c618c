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


def test_top_indicators_without_a_cut_keeps_every_finding_the_map_stands_behind() -> None:
    """Seven significant, replicated, positive behaviours in one segment plus one that is not
    significant and one that did not replicate: k=5 keeps the five surest (by rd_low), None all
    seven, in the same order; the other two never."""
    from adoption.build import top_indicators

    n = 9
    findings = pl.DataFrame(
        {
            "segment_column": ["size_tier"] * n,
            "segment": ["smb"] * n,
            "kind": ["event"] * n,
            "item": [f"e{i}" for i in range(n)],
            "landmark_day": [14] * n,
            "n_did": list(range(10, 10 + n)),  # distinct splits
            "x_did": [5] * n,
            "n_not": [20] * n,
            "x_not": [5] * n,
            "rd_low": [0.01 * (i + 1) for i in range(n)],
            "significant": [True] * 7 + [False, True],
            "replicates": [True] * 8 + [False],
        }
    )
    five = top_indicators(findings, 5)
    every = top_indicators(findings, None)
    assert five["item"].to_list() == ["e6", "e5", "e4", "e3", "e2"]
    assert every["item"].to_list() == ["e6", "e5", "e4", "e3", "e2", "e1", "e0"]
    assert every["rank"].to_list() == list(range(1, 8))
