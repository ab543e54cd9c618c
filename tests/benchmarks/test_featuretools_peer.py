"""The featuretools peer benchmark's own pieces: the account sample, the cutoff-time table and
the alignment of the peer's features with our rows and labels (main env only: the peer's
environment is not needed)."""

from __future__ import annotations

import subprocess
from datetime import date, datetime

import polars as pl
import pytest

from benchmarks.featuretools_peer import (
    DFS,
    PEER_PY,
    cutoff_times,
    peer_dataset,
    safe_names,
    sample_accounts,
)

#: Accounts a..e with 5, 1, 3, 2 and 4 events.
EVENTS = pl.DataFrame({"account_id": list("aaaaabcccddeeee"), "value": range(15)}).lazy()
SIZES = {"a": 5, "b": 1, "c": 3, "d": 2, "e": 4}


def test_sample_takes_whole_accounts_up_to_the_event_budget():
    for seed in range(20):
        ids = sample_accounts(EVENTS, 8, seed)
        assert ids == sorted(ids)
        assert 0 < sum(SIZES[a] for a in ids) <= 8
        # a prefix of one seeded order of accounts: a larger budget only adds accounts
        assert set(ids) <= set(sample_accounts(EVENTS, 11, seed))
    assert sample_accounts(EVENTS, 8, 3) == sample_accounts(EVENTS, 8, 3)
    assert len({tuple(sample_accounts(EVENTS, 8, s)) for s in range(20)}) > 1
    assert sample_accounts(EVENTS, 15, 0) == list("abcde")


def test_sample_keeps_one_account_even_below_the_budget():
    ids = sample_accounts(EVENTS, 0, 1)
    assert len(ids) == 1


def test_cutoff_times_are_the_dataset_rows_at_midnight():
    dataset = pl.DataFrame(
        {
            "account_id": ["b", "a", "a"],
            "cutoff": [date(2026, 3, 8), date(2026, 3, 8), date(2026, 3, 1)],
            "x": [1.0, 2.0, 3.0],
        }
    )
    out = cutoff_times(dataset)
    assert dict(out.schema) == {"account_id": pl.String, "time": pl.Datetime("us")}
    assert out.rows() == [
        ("a", datetime(2026, 3, 1)),
        ("a", datetime(2026, 3, 8)),
        ("b", datetime(2026, 3, 8)),
    ]


def test_safe_names_are_lightgbm_safe_and_unique():
    names = ["COUNT(events)", "MEAN(users.COUNT(events))", "TREND(events.value, timestamp)", "a b"]
    assert safe_names([*names, "COUNT[events]"]) == [
        "COUNT_events",
        "MEAN_users_COUNT_events",
        "TREND_events_value_timestamp",
        "a_b",
        "COUNT_events_2",
    ]


def dataset() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": ["a", "a", "b"],
            "cutoff": [date(2026, 3, 1), date(2026, 3, 8), date(2026, 3, 8)],
            "ours": [1.0, 2.0, 3.0],
            "label": pl.Series([0, None, 1], dtype=pl.Int8),
        }
    )


def test_peer_dataset_takes_our_rows_and_labels_with_peer_features():
    matrix = pl.DataFrame(
        {
            "account_id": ["b", "a", "a", "c"],
            "time": [datetime(2026, 3, d) for d in (8, 8, 1, 1)],
            "COUNT(events)": [7, 5, 3, 1],
            "size_tier": pl.Series(["smb", "mid", "mid", "smb"], dtype=pl.Categorical),
            "renewal_date": [datetime(2027, 1, 1)] * 4,
            "flag": [True, False, None, True],
        }
    )
    out = peer_dataset(dataset(), matrix)
    assert out.columns == ["account_id", "cutoff", "COUNT_events", "flag", "size_tier", "label"]
    assert out.schema["COUNT_events"] == pl.Float64
    assert out.schema["size_tier"] == pl.String
    assert out.rows() == [
        ("a", date(2026, 3, 1), 3.0, None, "mid", 0),
        ("a", date(2026, 3, 8), 5.0, 0.0, "mid", None),
        ("b", date(2026, 3, 8), 7.0, 1.0, "smb", 1),
    ]


def test_peer_dataset_refuses_a_row_without_peer_features():
    matrix = pl.DataFrame(
        {"account_id": ["a"], "time": [datetime(2026, 3, 1)], "COUNT(events)": [3]}
    )
    with pytest.raises(ValueError, match="2 dataset rows have no peer feature row"):
        peer_dataset(dataset(), matrix)


def test_peer_reads_only_events_before_the_cutoff(tmp_path):
    """The peer's DFS at cutoff 2026-03-08 counts the event 1 µs before 00:00 UTC, not the one
    at 00:00 (our contract); a user created after the cutoff is not counted either."""
    utc = pl.Datetime("us", "UTC")
    t = datetime(2026, 3, 8)
    pl.DataFrame(
        {
            "account_id": ["a"],
            "industry": ["retail"],
            "size_tier": ["smb"],
            "created_at": [datetime(2026, 1, 1)],
            "renewal_date": [datetime(2027, 1, 1)],
            "churned_at": [datetime(2026, 3, 9)],
            "seats": [10],
        },
        schema_overrides={"created_at": utc, "renewal_date": utc, "churned_at": utc},
    ).write_parquet(tmp_path / "accounts.parquet")
    pl.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "account_id": ["a", "a"],
            "role": ["admin", "member"],
            "created_at": [datetime(2026, 1, 1), t],
            "deactivated_at": [None, None],
        },
        schema_overrides={"created_at": utc, "deactivated_at": utc},
    ).write_parquet(tmp_path / "users.parquet")
    stamps = [datetime(2026, 3, 1), datetime(2026, 3, 7, 23, 59, 59, 999999), t]
    pl.DataFrame(
        {
            "account_id": ["a"] * 3,
            "user_id": ["u1"] * 3,
            "event": ["login"] * 3,
            "timestamp": stamps,
            "value": [1.0, 2.0, 4.0],
        },
        schema_overrides={"timestamp": utc},
    ).write_parquet(tmp_path / "events.parquet")
    rows = pl.DataFrame({"account_id": ["a"], "cutoff": [t.date()]})
    cutoff_times(rows).write_parquet(tmp_path / "cutoffs.parquet")
    out, cuts = tmp_path / "features.parquet", tmp_path / "cutoffs.parquet"
    subprocess.run(
        [
            str(PEER_PY),
            str(DFS),
            "--data",
            str(tmp_path),
            "--cutoff-times",
            str(cuts),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    got = pl.read_parquet(out).row(0, named=True)
    assert got["COUNT(events)"] == 2
    assert got["SUM(events.value)"] == 3.0
    assert got["COUNT(users)"] == 1
    assert got["TIME_SINCE_LAST(events.timestamp)"] == pytest.approx(1e-6)
