"""Segments on the events: an account's value at a cutoff is its latest one strictly before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from features.segments import event_segments_at
from features.windows import T, build_engine, date_to_day
from ingest.tables import Tables


def _events(rows: list[tuple[str, str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "user_id": [r[0] for r in rows],
            "event": ["visit"] * len(rows),
            "timestamp": [datetime.fromisoformat(r[1]).replace(tzinfo=UTC) for r in rows],
            "value": [None] * len(rows),
            "device": [r[2] for r in rows],
        },
        schema={
            "account_id": pl.String,
            "user_id": pl.String,
            "event": pl.String,
            "timestamp": pl.Datetime("us", "UTC"),
            "value": pl.Float64,
            "device": pl.String,
        },
    )


def _rows(ids: list[str], day: str) -> pl.DataFrame:
    t = date_to_day(datetime.fromisoformat(day).date())
    return pl.DataFrame(
        {"account_id": ids, T: [t] * len(ids)}, schema={"account_id": pl.String, T: pl.Int32}
    )


def segments_at(ev: pl.DataFrame, rows: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``event_segments_at`` on an engine over ``ev`` for the cutoffs of ``rows``."""
    tables = Tables(ev, None, None, datetime(2027, 1, 1, tzinfo=UTC), [], ["device"])
    engine = build_engine(tables, rows[T].unique().to_list(), extra_accounts=[rows["account_id"]])
    return event_segments_at(engine, rows, columns)


def test_latest_value_before_the_cutoff_exact() -> None:
    ev = _events(
        [
            ("a", "2026-02-01 10:00", "ios"),
            ("a", "2026-02-20 09:00", "android"),
            ("a", "2026-03-01 00:00", "web"),  # at the cutoff: not seen
            ("b", "2026-02-10 10:00", "web"),
            ("b", "2026-02-11 10:00", None),  # null skipped
            ("c", "2026-03-02 10:00", "ios"),
        ]
    )  # only after the cutoff
    got = segments_at(ev, _rows(["a", "b", "c"], "2026-03-01"), ["device"])
    assert got["device"].to_list() == ["android", "web", None]
    later = segments_at(ev, _rows(["a"], "2026-03-02"), ["device"])
    assert later["device"].to_list() == ["web"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from(["x", "y", None])), min_size=1, max_size=25
    ),
    st.integers(1, 45),
)
def test_events_at_or_after_the_cutoff_change_nothing(evs, cut) -> None:
    base = datetime(2026, 1, 1, 12)
    rows = [("a", (base + timedelta(days=d)).isoformat(), v) for d, v in evs]
    t_day = (base + timedelta(days=cut)).date().isoformat()
    full = segments_at(_events(rows), _rows(["a"], t_day), ["device"])
    seen = [(d, v) for d, v in evs if d < cut and v is not None]
    expect = max(v for d, v in seen if d == max(d for d, _ in seen)) if seen else None
    assert full["device"].to_list() == [expect]  # latest day; same-instant ties: sorts last
    before = [r for r, (d, _) in zip(rows, evs, strict=True) if d < cut]
    if before:  # dropping everything at/after the cutoff changes nothing
        assert segments_at(_events(before), _rows(["a"], t_day), ["device"]).equals(full)


def test_segments_sent_with_the_events_are_dataset_columns_at_each_cutoff(tmp_path) -> None:
    """A clickstream's device/channel/region live on the events: the dataset carries each
    account's latest value strictly before each cutoff (they used to be dropped silently)."""
    from datetime import UTC, datetime

    import testlogs
    from core.config import load_config
    from features.build import build_dataset
    from pipelines.common import load_profiled_tables

    testlogs.write("clickstream", tmp_path / "data", seed=3, n=300)
    readme = (tmp_path / "data" / "README.json").read_text()
    import json

    overrides = json.loads(readme)["suggested_config"]["overrides"]
    cfg = load_config([*overrides, f"output.dir={tmp_path}/out"])
    tables, _, _ = load_profiled_tables(cfg)
    assert tables.event_segments == ["device", "channel", "region"]
    dataset, _ = build_dataset(tables, cfg)
    assert {"device", "channel", "region"} <= set(dataset.columns)
    row = dataset.filter(pl.col("device").is_not_null()).row(0, named=True)
    cut = datetime.combine(row["cutoff"], datetime.min.time(), tzinfo=UTC)
    before = tables.events.filter(
        (pl.col("account_id") == row["account_id"])
        & (pl.col("timestamp") < cut)
        & pl.col("device").is_not_null()
    ).sort("timestamp", "device")
    assert row["device"] == before["device"][-1]
