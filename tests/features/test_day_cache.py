"""The shared day cache: dense numpy aggregation and the polars group-by fallback agree exactly."""

from __future__ import annotations

from datetime import date

import polars as pl
from polars.testing import assert_frame_equal

import features.cache as cache_mod
from core.config import load_config
from features.cache import day_cache
from features.windows import date_to_day
from tests.features.helpers import scenario


def _tables_sorted(c: cache_mod.DayCache) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return (c.acc_day.sort("a", "day"), c.ae.sort("a", "e", "j"), c.user_rows.sort("ent", "day"))


def test_dense_and_groupby_paths_agree(monkeypatch):
    tables = scenario()
    fcfg = load_config().features
    cuts = [date_to_day(date(2026, 2, 1)), date_to_day(date(2026, 3, 1))]
    dense = day_cache(tables, cuts, fcfg)
    monkeypatch.setattr(cache_mod, "DENSE_MAX", 0)
    hashed = day_cache(tables, cuts, fcfg)
    assert dense.acc_day.height > 0 and dense.ae.height > 0
    for x, y in zip(_tables_sorted(dense), _tables_sorted(hashed), strict=True):
        assert_frame_equal(x, y)
    # every event is counted once in each table
    assert dense.acc_day["n"].sum() == dense.ae["n"].sum() == tables.events.height
