"""The engine's day tables: dense numpy aggregation and the polars group-by fallback agree."""

from __future__ import annotations

from datetime import date

import polars as pl
from polars.testing import assert_frame_equal

import features.windows.tables as tables_mod
from features.windows import Engine, build_engine, date_to_day
from tests.features.helpers import scenario

COUNTED = {
    "errors": ["integration_error"],
    "tickets": ["support_ticket_opened"],
    "invites": ["user_invited"],
}


def _engine(cuts: list[int]) -> Engine:
    usage = ((), ("support_ticket_opened", "integration_error", "subscription_cancelled"))
    return build_engine(scenario(), cuts, usage, COUNTED)


def _tables_sorted(e: Engine) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return (e.acc_day.sort("a", "day"), e.ae.sort("a", "e", "j"), e.usage.rows.sort("ent", "day"))


def test_dense_and_groupby_paths_agree(monkeypatch):
    cuts = [date_to_day(date(2026, 2, 1)), date_to_day(date(2026, 3, 1))]
    dense = _engine(cuts)
    monkeypatch.setattr(tables_mod, "DENSE_MAX", 0)
    hashed = _engine(cuts)
    assert dense.acc_day.height > 0 and dense.ae.height > 0
    assert dense.acc_day.columns == ["a", "day", "n", "use", "errors", "tickets", "invites"]
    for x, y in zip(_tables_sorted(dense), _tables_sorted(hashed), strict=True):
        assert_frame_equal(x, y)
    # every event is counted once in each table
    assert dense.acc_day["n"].sum() == dense.ae["n"].sum() == scenario().events.height
    assert dense.acc_day["errors"].sum() == 2 and dense.acc_day["invites"].sum() == 2
