"""Cutoff schedule and eligibility rules."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import ConfigValueError
from features.cutoffs import cutoff_dates, eligible_rows
from features.windows import build_engine, date_to_day
from tests.features.helpers import T0, accounts, events, scenario, tables


def test_cutoff_dates_oldest_first_any_step():
    assert cutoff_dates("2026-03-01", 7, 3) == [
        date(2026, 2, 15),
        date(2026, 2, 22),
        date(2026, 3, 1),
    ]
    assert cutoff_dates(date(2026, 3, 1), 10, 2) == [date(2026, 2, 19), date(2026, 3, 1)]


@pytest.mark.parametrize("args", [("2026-13-01", 7, 1), ("2026-03-01", 0, 1), ("2026-03-01", 7, 0)])
def test_cutoff_dates_rejects_bad_config(args):
    with pytest.raises(ConfigValueError):
        cutoff_dates(*args)


def eligible(t, cfg, cutoffs=None) -> list[tuple[str, date]]:
    cutoffs = cutoffs or cutoff_dates(T0, 7, 1)
    engine = build_engine(t, [date_to_day(c) for c in cutoffs])
    df = eligible_rows(t, cutoffs, cfg.snapshot, ["subscription_cancelled"], engine)
    return list(zip(df["account_id"], df["cutoff"], strict=True))


def test_eligibility_rules(cfg_t0):
    # d: tenure 9 < 14; e: churned 02-15 < t; f: no events; g: its only event is at t
    assert eligible(scenario(), cfg_t0) == [
        ("a", date(2026, 3, 1)),
        ("b", date(2026, 3, 1)),
        ("c", date(2026, 3, 1)),
    ]


def test_eligibility_over_several_cutoffs(cfg_t0):
    cut = [date(2026, 2, 15), date(2026, 3, 1), date(2026, 3, 8)]
    got = eligible(scenario(), cfg_t0, cut)
    # e is eligible before it churned; d becomes old enough on 03-08 (tenure 16); g sends its
    # first event at 03-01 so is eligible from 03-08 on.
    assert ("e", date(2026, 2, 15)) in got and ("e", date(2026, 3, 1)) not in got
    assert ("d", date(2026, 3, 8)) in got and ("d", date(2026, 3, 1)) not in got
    assert ("g", date(2026, 3, 8)) in got and ("g", date(2026, 3, 1)) not in got
    assert ("a", date(2026, 2, 15)) in got and ("b", date(2026, 2, 15)) in got


def test_cancellation_event_makes_an_account_churned(cfg_t0):
    ev = events(
        [
            ("x", "u", "login", "2026-01-05 10:00"),
            ("x", "u", "subscription_cancelled", "2026-02-01 10:00"),
        ]
    )
    t = tables(ev, None, accounts([{"account_id": "x", "created_at": "2026-01-01"}]))
    assert eligible(t, cfg_t0) == []


def test_min_events_and_tenure_are_config(cfg_t0):
    cfg = cfg_t0.copy()
    cfg.snapshot.min_tenure_days = 9
    cfg.snapshot.min_events = 3
    # d (tenure 9) is now old enough but has 1 event, b has 2; a has 11 events before t
    got = [a for a, _ in eligible(scenario(), cfg)]
    assert got == ["a"]


def test_events_only_signup_is_the_first_event(cfg_t0):
    got = [a for a, _ in eligible(scenario(with_users=False, with_accounts=False), cfg_t0)]
    # b's first event 01-20 (tenure 40), c's 02-27 (tenure 2: too young), e 02-10 (no churn
    # information without accounts), d 02-27 too young
    assert got == ["a", "b", "e"]
