"""Account clocks, milestone days and the retention outcome on a hand-built log."""

from __future__ import annotations

import polars as pl
import pytest

from adoption.timeline import (
    ChurnRule,
    account_timeline,
    event_days,
    milestone_days,
    retention_outcome,
)
from tests.adoption.helpers import accounts, day, events

# Log: first event day 0, observed until day 40 (exclusive) -> last observed day 39.
EV = events(
    [
        ("a", "u1", "login", 0.5),
        ("a", "u1", "report", 3),
        ("a", "u1", "login", 25),
        ("a", "u1", "login", 35),
        ("b", "u2", "login", 2.5),
        ("b", "u2", "report", 6),
        ("b", "u2", "login", 24),  # after churned_at: still an event, churn says otherwise
        ("c", "u3", "report", 0),
        ("c", "u3", "login", 1),
        ("f", "u4", "login", 20),
        ("f", "u4", "login", 45),  # at/after observed_until: ignored
    ]
)
ACC = accounts(
    [
        {"account_id": "a", "created": 0, "plan": "smb"},
        {"account_id": "b", "created": 2.4, "churned": 12.5, "plan": "ent"},
        {"account_id": "c", "created": -3, "plan": None},  # started before the log
        {"account_id": "d", "created": 5, "plan": "smb"},  # never active
        {"account_id": "e", "created": 50, "plan": "smb"},  # starts after the log ends
        {"account_id": "f", "created": 15, "plan": "smb"},
    ]
)
UNTIL = day(40)


def _tl(churn: ChurnRule = "auto") -> pl.DataFrame:
    return account_timeline(
        EV, ACC, observed_until=UNTIL, segments=["plan"], inactive_days=10, churn=churn
    )


def test_clock_columns_by_hand() -> None:
    tl = _tl()
    assert tl["account_id"].to_list() == ["a", "b", "c", "d", "f"]  # e starts after the log
    rows = {r["account_id"]: r for r in tl.iter_rows(named=True)}
    # a: start day 0, observed days 0..39.
    assert rows["a"]["observed_days"] == 40
    assert (rows["a"]["first_event_day"], rows["a"]["last_event_day"]) == (0, 35)
    # quiet since day 36, only 4 observed quiet days < 10: not inactive.
    assert rows["a"]["inactive_day"] is None and rows["a"]["churn_day"] is None
    # b: created day 2 (10:00) -> start day 2; churned_at day 12 -> day 10 since start.
    assert rows["b"]["observed_days"] == 38
    assert (rows["b"]["first_event_day"], rows["b"]["last_event_day"]) == (0, 22)
    assert rows["b"]["churned_at_day"] == 10
    assert rows["b"]["churn_day"] == 10  # auto -> churned_at, the column exists
    # c: started 3 days before the log's first day.
    assert rows["c"]["left_truncated"] is True
    assert rows["c"]["observed_days"] == 43
    assert (rows["c"]["first_event_day"], rows["c"]["last_event_day"]) == (3, 4)
    # d: no event at all in 35 observed days -> inactive from day 0.
    assert rows["d"]["inactive_day"] == 0 and rows["d"]["churn_day"] is None
    assert not any(rows[k]["left_truncated"] for k in "abdf")
    assert rows["c"]["plan"] is None and rows["a"]["plan"] == "smb"


def test_churn_rules() -> None:
    inact = {r["account_id"]: r["churn_day"] for r in _tl(churn="inactivity").iter_rows(named=True)}
    # b: last event day 22, quiet days 23..37 (15 >= 10) -> churned day 23.
    # c: last event day 4, quiet 5..42 -> 5. f: last event day 5 (day 20), quiet 6..24 -> 6.
    assert inact == {"a": None, "b": 23, "c": 5, "d": 0, "f": 6}
    either = {r["account_id"]: r["churn_day"] for r in _tl(churn="either").iter_rows(named=True)}
    assert either == {"a": None, "b": 10, "c": 5, "d": 0, "f": 6}


def test_without_accounts_start_is_first_event_and_first_day_is_truncated() -> None:
    tl = account_timeline(EV, None, observed_until=UNTIL)
    rows = {r["account_id"]: r for r in tl.iter_rows(named=True)}
    assert rows["a"]["start"] == day(0.5) and rows["a"]["left_truncated"] is True
    assert rows["c"]["left_truncated"] is True  # first event on the log's first day
    assert rows["b"]["left_truncated"] is False and rows["b"]["churn_day"] is None
    with pytest.raises(ValueError, match="churned_at"):
        account_timeline(EV, None, observed_until=UNTIL, churn="churned_at")


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="churn"):
        account_timeline(EV, ACC, observed_until=UNTIL, churn="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inactive_days"):
        account_timeline(EV, ACC, observed_until=UNTIL, inactive_days=0)
    with pytest.raises(ValueError, match="segments"):
        account_timeline(EV, ACC, observed_until=UNTIL, segments=["segment"])


def test_event_days_clip_before_start_and_drop_after_end() -> None:
    tl = _tl()
    ed = event_days(EV, tl).collect().sort("account_id", "timestamp")
    c = ed.filter(pl.col("account_id") == "c")["day"].to_list()
    assert c == [3, 4]
    f = ed.filter(pl.col("account_id") == "f")["day"].to_list()
    assert f == [5]  # the day-45 event is after the end of observation
    early = events([("a", "u1", "login", -2)])
    assert event_days(early, tl).collect()["day"].to_list() == [0]


def test_milestone_days() -> None:
    md = milestone_days(EV, _tl(), [{"name": "first_report", "events": ["report"]}])
    got = dict(zip(md["account_id"], md["day"], strict=True))
    assert got == {"a": 3, "b": 4, "c": 3, "d": None, "f": None}
    with pytest.raises(ValueError, match="milestones"):
        milestone_days(EV, _tl(), [{"name": "x", "events": []}])


def test_retention_outcome_window_churn_and_unobserved() -> None:
    # E = 10 + 20 = 30; active window days [20, 30).
    out = retention_outcome(EV, _tl(), landmark_days=10, horizon_days=20, window_days=10)
    got = dict(zip(out["account_id"], out["outcome"], strict=True))
    # a: login day 25 in the window -> 1. b: login day 22 in the window but churned_at day 10
    # -> 0. c: nothing in days 20..29 -> 0. d: -> 0. f: observed 25 days < 30 -> unknown.
    assert got == {"a": 1, "b": 0, "c": 0, "d": 0, "f": None}
    only_reports = retention_outcome(
        EV, _tl(), landmark_days=10, horizon_days=20, window_days=10, usage_events=["report"]
    )
    assert only_reports.filter(pl.col("account_id") == "a")["outcome"].item() == 0
    with pytest.raises(ValueError, match="window_days"):
        retention_outcome(EV, _tl(), landmark_days=1, horizon_days=1, window_days=3)
