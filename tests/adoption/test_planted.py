"""The adoption map on simulated data finds the behaviour planted in one segment and not the
null one (simulator.planted; the full check over seeds is benchmarks/adoption_map.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from adoption.build import MapParams, build_map
from simulator import SimulationSpec, planted, simulate

END = date(2026, 11, 1)
MILESTONES = [
    {"name": "first_integration", "events": ["integration_connected"], "expected_days": 14},
    {"name": "first_workflow", "events": ["workflow_completed"], "expected_days": 21},
    {"name": "first_automation", "events": ["automation_launched"], "expected_days": 45},
]
CANDIDATE = f"event__{planted.WEBHOOK}__ge1__{planted.WEBHOOK_LANDMARK}d"


@pytest.fixture(scope="module")
def findings() -> pl.DataFrame:
    sim = simulate(
        SimulationSpec(accounts=1000, days=300, seed=12, end_date=END, cutoffs=(), planted=True)
    )
    amap = build_map(
        sim.events,
        sim.accounts,
        sim.users,
        MILESTONES,
        ["size_tier", "use_case"],
        MapParams(),
        observed_until=datetime(END.year, END.month, END.day, tzinfo=UTC),
    )
    return amap.findings.filter(pl.col("status") == "ok")


def _row(findings: pl.DataFrame, column: str, segment: str, candidate: str) -> dict[str, object]:
    row = findings.filter(
        (pl.col("segment_column") == column)
        & (pl.col("segment") == segment)
        & (pl.col("candidate") == candidate)
    )
    assert row.height == 1, (column, segment, candidate)
    return row.row(0, named=True)


@pytest.mark.slow
def test_planted_effect_is_found_in_its_segment_only(findings: pl.DataFrame) -> None:
    hub = _row(findings, "use_case", planted.WEBHOOK_USE_CASE, CANDIDATE)
    assert hub["significant"] and hub["rd_low"] > 0.1  # type: ignore[operator]
    other = _row(findings, "use_case", "analytics", CANDIDATE)
    assert not other["significant"]
    assert other["rd_low"] < 0 < other["rd_high"]  # type: ignore[operator]


@pytest.mark.slow
def test_null_behaviour_is_not_significant_at_the_landmark(findings: pl.DataFrame) -> None:
    null = findings.filter(pl.col("item") == planted.TEMPLATE)
    assert set(null["landmark_day"]) == {7, 14, 30}
    assert not null.filter(pl.col("segment_column") == "all")["significant"].any()
    assert null["significant"].mean() <= 0.05  # type: ignore[operator]
