"""The report's usage and milestone frames: exact numbers on a hand-built log, cutoff exclusive."""

from __future__ import annotations

from datetime import date

import polars as pl

from core.config import load_config
from ingest.tables import Tables
from report.inputs import milestone_frame, usage_frame
from tests.features.helpers import accounts, events, ts

AS_OF = date(2026, 3, 1)


def _events() -> pl.DataFrame:
    return events(
        [
            ("a", "u1", "login", "2026-02-28 23:59"),  # last week
            ("a", "u2", "dashboard_viewed", "2026-02-23 08:00"),  # last week
            ("a", "u1", "support_ticket_opened", "2026-02-27 10:00"),  # not usage
            ("a", "u1", "login", "2026-03-01 00:00"),  # at the cutoff: never visible
            ("a", "u3", "login", "2026-02-20 09:00"),  # the week before
            ("a", "u1", "integration_connected", "2026-01-05 09:00"),  # milestone, day 4
            ("b", "u9", "workflow_completed", "2026-02-25 09:00"),  # milestone, day 55 (late)
        ]
    )


def test_usage_frame_counts_whole_weeks_before_the_cutoff() -> None:
    fcfg = load_config().features
    out = usage_frame(_events(), pl.Series(["a", "b"]), AS_OF, fcfg, weeks=2)
    rows = {
        (r["account_id"], str(r["week_start"])): (r["active_users"], r["usage_events"])
        for r in out.iter_rows(named=True)
    }
    assert rows == {
        ("a", "2026-02-15"): (1, 1),
        ("a", "2026-02-22"): (2, 2),
        ("b", "2026-02-15"): (0, 0),
        ("b", "2026-02-22"): (1, 1),
    }


def test_usage_frame_counts_active_days_for_single_user_logs() -> None:
    """active_days: distinct UTC days with use per week (two events on one day count once)."""
    fcfg = load_config().features
    log = events(
        [
            ("c", "c", "login", "2026-02-23 08:00"),
            ("c", "c", "login", "2026-02-23 21:00"),
            ("c", "c", "login", "2026-02-27 10:00"),
            ("c", "c", "login", "2026-02-20 10:00"),
        ]
    )
    out = usage_frame(log, pl.Series(["c"]), AS_OF, fcfg, weeks=2)
    assert out.columns == [
        "account_id",
        "week_start",
        "active_users",
        "usage_events",
        "active_days",
    ]
    assert out.select("active_users", "usage_events", "active_days").rows() == [
        (1, 1, 1),
        (1, 3, 2),
    ]


def test_milestone_frame_states_as_known_at_the_cutoff() -> None:
    cfg = load_config()
    acc = accounts(
        [
            {"account_id": "a", "created_at": "2026-01-01"},
            {"account_id": "b", "created_at": "2026-01-01"},
        ]
    )
    tables = Tables(_events(), None, acc, ts("2026-06-01"), ["industry", "size_tier", "use_case"])
    out = milestone_frame(tables, pl.Series(["a", "b"]), AS_OF, cfg.features)
    got = {
        (r["account_id"], r["milestone"]): (r["status"], r["days_to_reach"])
        for r in out.iter_rows(named=True)
    }
    # expected days (conf/features/default.yaml): integration 14, workflow 21, automation 45;
    # both accounts are 59 days old at the cutoff.
    assert got == {
        ("a", "first_integration"): ("reached", 4),
        ("a", "first_workflow"): ("missing", None),
        ("a", "first_automation"): ("missing", None),
        ("b", "first_integration"): ("missing", None),
        ("b", "first_workflow"): ("late", 55),
        ("b", "first_automation"): ("missing", None),
    }
