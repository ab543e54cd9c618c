"""Distinct usage user-days: the dense (user x day) path and the hash fallback agree exactly."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

import features.cache as cache_mod
from core.config import load_config
from features.cache import day_cache
from features.grid import Grid
from features.windows import date_to_day
from tests.features.helpers import events, scenario, tables


def _user_facts(
    c: cache_mod.DayCache, grid: Grid
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, dict]:
    uniq, last = c.user_last(grid)
    return c.user_rows.sort("ent", "day"), uniq, last, c.active_users(grid, [7, 28])


def test_dense_and_hashed_user_days_agree(monkeypatch):
    tables = scenario()
    fcfg = load_config().features
    cuts = [date_to_day(date(2026, 2, 1)), date_to_day(date(2026, 3, 1))]
    grid = Grid.of(cuts, [0, 7])
    dense = _user_facts(day_cache(tables, cuts, fcfg), grid)
    monkeypatch.setattr(cache_mod, "USER_DAY_MAX", 0)
    hashed = _user_facts(day_cache(tables, cuts, fcfg), grid)
    assert dense[0].height > 0
    assert_frame_equal(dense[0], hashed[0])
    np.testing.assert_array_equal(dense[1], hashed[1])
    np.testing.assert_array_equal(dense[2], hashed[2])
    assert dense[3].keys() == hashed[3].keys()
    for k in dense[3]:
        np.testing.assert_array_equal(dense[3][k], hashed[3][k])


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
    c = day_cache(tables(ev, None, None), [date_to_day(date(2026, 2, 1))], load_config().features)
    n_users = len(c.enc.users)
    got = c.user_rows.sort("ent", "day")
    d10, d11 = date_to_day(date(2026, 1, 10)), date_to_day(date(2026, 1, 11))
    assert got["ent"].to_list() == [0 * n_users + 0, 1 * n_users + 0, 1 * n_users + 1]
    assert got["day"].to_list() == [d10, d10, d11]
    counts = c.active_users(Grid.of([date_to_day(date(2026, 1, 12))], [0]), [7])
    assert counts["au_7"].tolist() == [[1], [2]]
