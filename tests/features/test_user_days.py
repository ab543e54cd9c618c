"""Distinct usage user-days: the dense (user x day) path and the hash fallback agree exactly."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

import features.windows.tables as tables_mod
from features.windows import Engine, Grid, build_engine, date_to_day
from tests.features.helpers import events, scenario, tables

USAGE = ((), ("support_ticket_opened", "integration_error", "subscription_cancelled"))


def _user_facts(e: Engine, grid: Grid) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, dict]:
    uniq, last = e.usage.last(grid)
    return e.usage.rows.sort("ent", "day"), uniq, last, e.active_users(grid, [7, 28])


def test_dense_and_hashed_user_days_agree(monkeypatch):
    cuts = [date_to_day(date(2026, 2, 1)), date_to_day(date(2026, 3, 1))]
    grid = Grid.of(cuts, [0, 7])
    dense = _user_facts(build_engine(scenario(), cuts, USAGE), grid)
    monkeypatch.setattr(tables_mod, "USER_DAY_MAX", 0)
    hashed = _user_facts(build_engine(scenario(), cuts, USAGE), grid)
    assert dense[0].height > 0
    assert_frame_equal(dense[0], hashed[0])
    np.testing.assert_array_equal(dense[1], hashed[1])
    np.testing.assert_array_equal(dense[2], hashed[2])
    assert dense[3].keys() == hashed[3].keys()
    for k in dense[3]:
        np.testing.assert_array_equal(dense[3][k], hashed[3][k])


def test_another_usage_set_gets_its_own_user_days(monkeypatch):
    # the label's qualifying events need not be the features' usage events
    cuts = [date_to_day(date(2026, 3, 1))]
    grid = Grid.of(cuts, [0])
    e = build_engine(scenario(), cuts, USAGE)
    logins = e.enc.event_codes(["login"])
    assert e.user_days(e.use) is e.usage and e.user_days(logins) is e.user_days(logins)
    # a: u1 logged in on 02-28 (login at t is not before t); b: ub1 on 02-26
    got = e.active_users(grid, [7], codes=logins)["au_7"][:, 0]
    a, b = e.enc.account_codes(pl.Series(["a", "b"]))
    assert got[a] == 1 and got[b] == 1
    monkeypatch.setattr(tables_mod, "USER_DAY_MAX", 0)
    hashed = build_engine(scenario(), cuts, USAGE)
    np.testing.assert_array_equal(got, hashed.active_users(grid, [7], codes=logins)["au_7"][:, 0])


def test_user_in_two_accounts_counts_in_both():
    # u1 uses A and B on the same day: the dense (user x day) path must not merge them.
    ev = events(
        [
            ("A", "u1", "login", "2026-01-10 09:00"),
            ("B", "u1", "login", "2026-01-10 10:00"),
            ("B", "u2", "login", "2026-01-11 10:00"),
            ("B", "u2", "login", "2026-01-11 11:00"),
        ]
    )
    e = build_engine(tables(ev, None, None), [date_to_day(date(2026, 2, 1))], USAGE)
    n_users = len(e.enc.users)
    got = e.usage.rows.sort("ent", "day")
    d10, d11 = date_to_day(date(2026, 1, 10)), date_to_day(date(2026, 1, 11))
    assert got["ent"].to_list() == [0 * n_users + 0, 1 * n_users + 0, 1 * n_users + 1]
    assert got["day"].to_list() == [d10, d10, d11]
    counts = e.active_users(Grid.of([date_to_day(date(2026, 1, 12))], [0]), [7])
    assert counts["au_7"].tolist() == [[1], [2]]
