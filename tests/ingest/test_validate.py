"""Row- and table-level validation of one table against the contract (hand-built frames)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from core.errors import DataValidationError
from ingest.read import SOURCE_FILE, RawTable
from ingest.validate import contract_for, fill_event_defaults, validate_table
from tests.ingest.conftest import NOW


def raw(name: str, df: pl.DataFrame, source_names: dict[str, str] | None = None) -> RawTable:
    """A RawTable as scan_table would produce it, from an in-memory frame."""
    frame = df.lazy().with_columns(pl.lit(f"{name}.csv").alias(SOURCE_FILE))
    return RawTable(
        name=name,
        spec=f"{name}.csv",
        files=[Path(f"{name}.csv")],
        format="csv",
        frame=frame,
        source_names=source_names or {},
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def check(table: str, df: pl.DataFrame, **kw: object):
    return validate_table(
        raw(table, df),
        contract_for(table, kw.pop("segments", ())),  # type: ignore[arg-type]
        now=NOW,
        **kw,
    )  # type: ignore[arg-type]


def test_naive_strings_are_local_time_converted_to_utc() -> None:
    df = pl.DataFrame(
        {
            "account_id": ["a", "a", "a", "a", "a"],
            "timestamp": [
                "2026-01-15 09:30",
                "2026-07-15T09:30:00",
                "2026-01-15",
                "2026-01-15T09:30:00.250+02:00",
                "2026-01-15T09:30:00Z",
            ],
        }
    )
    out = check("events", df, timezone="America/New_York")
    assert out.rejected.height == 0
    assert out.clean["timestamp"].to_list() == [
        utc(2026, 1, 15, 14, 30),  # EST = UTC-5
        utc(2026, 7, 15, 13, 30),  # EDT = UTC-4
        utc(2026, 1, 15, 5, 0),  # date = local midnight
        datetime(2026, 1, 15, 7, 30, 0, 250000, tzinfo=UTC),  # explicit offset wins
        utc(2026, 1, 15, 9, 30),  # Z = UTC
    ]
    assert out.clean.schema["timestamp"] == pl.Datetime("us", "UTC")


def test_timestamp_format_and_unparseable_rows() -> None:
    df = pl.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "timestamp": ["15/01/2026 10:00", "2026-01-15 10:00", "not a date"],
        }
    )
    out = check("events", df, timezone="Europe/Berlin", timestamp_format="%d/%m/%Y %H:%M")
    assert out.clean["timestamp"].to_list() == [utc(2026, 1, 15, 9, 0)]
    assert out.rejected.select("account_id", "timestamp", "reason", "reason_column").rows() == [
        ("b", "2026-01-15 10:00", "unparseable_timestamp", "timestamp"),
        ("c", "not a date", "unparseable_timestamp", "timestamp"),
    ]


def test_parquet_datetimes_naive_aware_and_date() -> None:
    df = pl.DataFrame(
        {
            "account_id": ["a", "b"],
            "created_at": [datetime(2026, 3, 1, 12, 0), datetime(2026, 8, 1, 12, 0)],  # naive
            "renewal_date": pl.Series([datetime(2027, 1, 1), None]).dt.replace_time_zone(
                "Asia/Tokyo"
            ),
            "churned_at": pl.Series([None, datetime(2026, 9, 1).date()]),
        }
    )
    out = check("accounts", df, timezone="Europe/London")
    assert out.clean.rows() == [
        ("a", utc(2026, 3, 1, 12, 0), utc(2026, 12, 31, 15, 0), None),
        ("b", utc(2026, 8, 1, 11, 0), None, utc(2026, 8, 31, 23, 0)),
    ]


def test_nonexistent_local_time_is_unparseable() -> None:
    df = pl.DataFrame(
        {"account_id": ["a", "b"], "timestamp": ["2026-03-29 02:30", "2026-10-25 02:30"]}
    )
    out = check("events", df, timezone="Europe/Paris")
    assert out.rejected["reason"].to_list() == ["unparseable_timestamp"]  # skipped by DST
    assert out.clean["timestamp"].to_list() == [utc(2026, 10, 25, 0, 30)]  # ambiguous: earliest


def test_null_ids_future_uncastable_and_duplicates_with_counts() -> None:
    df = pl.DataFrame(
        {
            "account_id": ["a", None, " ", "a", "a", "a", "a", "b"],
            "timestamp": [
                "2026-05-01",
                "2026-05-01",
                "2026-05-01",
                "2026-11-01 12:00:01",
                "2026-05-02",
                "2026-05-02",
                None,
                "2026-05-03",
            ],
            "value": ["1", "2", "3", "4", "5", "5", "6", "abc"],
        }
    )
    out = check("events", df)
    assert out.rejected.select("account_id", "value", "reason", "reason_column").rows() == [
        (None, "2", "null_id", "account_id"),
        (" ", "3", "null_id", "account_id"),
        ("a", "4", "future_timestamp", "timestamp"),
        ("a", "5", "duplicate_row", None),
        ("a", "6", "null_timestamp", "timestamp"),
        ("b", "abc", "uncastable_value", "value"),
    ]
    assert out.clean.rows() == [("a", utc(2026, 5, 1), 1.0), ("a", utc(2026, 5, 2), 5.0)]
    assert out.counts == {
        ("duplicate_row", None): 1,
        ("future_timestamp", "timestamp"): 1,
        ("null_id", "account_id"): 2,
        ("null_timestamp", "timestamp"): 1,
        ("uncastable_value", "value"): 1,
    }
    assert out.n_input == 8


def test_duplicates_keep_first_and_compare_all_source_columns() -> None:
    df = pl.DataFrame(
        {
            "account_id": ["a", "a", "a", "a"],
            "timestamp": ["2026-05-01"] * 4,
            "extra": ["x", "y", "x", "x"],
        }
    )
    out = check("events", df)
    assert out.clean.height == 2  # rows 0 and 1 differ in a non-contract column
    assert out.rejected["reason"].to_list() == ["duplicate_row", "duplicate_row"]
    assert out.rejected["extra"].to_list() == ["x", "x"]


def test_unknown_accounts_for_events_and_users() -> None:
    known = pl.Series(["a1", "a2"])
    events = pl.DataFrame({"account_id": ["a1", "zz", "a2"], "timestamp": ["2026-01-01"] * 3})
    out = check("events", events, known_accounts=known)
    assert out.rejected.select("account_id", "reason").rows() == [("zz", "unknown_account")]
    users = pl.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "account_id": ["a1", "zz"],
            "role": ["admin", "member"],
            "created_at": ["2025-01-01"] * 2,
        }
    )
    out = check("users", users, known_accounts=known)
    assert out.rejected.select("user_id", "reason", "reason_column").rows() == [
        ("u2", "unknown_account", "account_id")
    ]
    assert out.clean["user_id"].to_list() == ["u1"]


def test_duplicate_key_keeps_first_clean_row() -> None:
    df = pl.DataFrame(
        {
            "account_id": ["a", "a", "b", "b"],
            "created_at": ["bad", "2025-01-01", "2025-01-01", "2025-02-01"],
        }
    )
    out = check("accounts", df)
    # The first 'a' is unparseable, so the second 'a' is the first clean one and is kept.
    assert out.clean.rows() == [("a", utc(2025, 1, 1)), ("b", utc(2025, 1, 1))]
    assert out.rejected.select("created_at", "reason", "reason_column").rows() == [
        ("bad", "unparseable_timestamp", "created_at"),
        ("2025-02-01", "duplicate_id", "account_id"),
    ]


def test_integer_ids_and_seats_are_cast() -> None:
    df = pl.DataFrame(
        {
            "account_id": [7, 8, 9],
            "created_at": [datetime(2025, 1, 1)] * 3,
            "seats": [10.0, 2.5, None],
            "tier": pl.Series(["s", "m", "s"], dtype=pl.Categorical),
        }
    )
    out = check("accounts", df, segments=["tier"])
    assert out.clean.schema == {
        "account_id": pl.String,
        "created_at": pl.Datetime("us", "UTC"),
        "tier": pl.String,
        "seats": pl.Int64,
    }
    assert out.clean.select("account_id", "seats", "tier").rows() == [
        ("7", 10, "s"),
        ("9", None, "s"),
    ]
    assert out.rejected.select("account_id", "reason", "reason_column").rows() == [
        (8, "uncastable_value", "seats")
    ]


def test_missing_required_column_is_fatal_and_named() -> None:
    r = raw(
        "events",
        pl.DataFrame({"acct": ["a"], "event_time": ["2026-01-01"]}),
        source_names={"timestamp": "event_time"},
    )
    r.frame = pl.LazyFrame({"acct": ["a"], SOURCE_FILE: ["events.csv"]})
    with pytest.raises(DataValidationError) as err:
        validate_table(r, contract_for("events"), now=NOW)
    msg = str(err.value)
    assert "events (events.csv)" in msg
    assert "account_id" in msg and "timestamp (expected source column 'event_time')" in msg
    assert "available columns: ['acct']" in msg


def test_mistyped_column_is_fatal_names_expected_and_found() -> None:
    df = pl.DataFrame({"account_id": ["a"], "timestamp": [True]})
    with pytest.raises(
        DataValidationError,
        match=r"column timestamp has dtype Boolean, "
        r"expected Datetime\(time_unit='us', time_zone='UTC'\)",
    ):
        check("events", df)


def test_missing_segment_names_it_and_available_columns() -> None:
    df = pl.DataFrame({"account_id": ["a"], "created_at": ["2025-01-01"], "industry": ["x"]})
    with pytest.raises(
        DataValidationError,
        match=r"\['size_tier'\].*available columns: "
        r"\['account_id', 'created_at', 'industry'\]",
    ):
        check("accounts", df, segments=["industry", "size_tier"])


def test_fill_event_defaults() -> None:
    clean = pl.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "user_id": [None, "u", " "],
            "timestamp": [utc(2026, 1, 1)] * 3,
        }
    )
    out = fill_event_defaults(clean, "activity")
    assert out.columns == ["account_id", "user_id", "event", "timestamp", "value"]
    assert out.select("user_id", "event", "value").rows() == [
        ("a", "activity", None),
        ("u", "activity", None),
        ("c", "activity", None),
    ]
    assert out.schema["value"] == pl.Float64
    named = fill_event_defaults(clean.with_columns(event=pl.Series(["x", None, ""])), "act")
    assert named["event"].to_list() == ["x", "act", "act"]


def test_iso_offset_variants_and_garbage() -> None:
    df = pl.DataFrame(
        {
            "account_id": ["a"] * 8,
            "timestamp": [
                "2026-01-15T09:30:00+0530",
                "2026-01-15 09:30+02:00",
                "2026-01-15T09:30:00-05:00",
                "2026-01-15T09:30:00.5z",
                " 2026-01-15 09:30:00 ",
                "2026-13-40",
                "2026-01-15T25:00",
                "15.01.2026",
            ],
        }
    )
    out = check("events", df, timezone="Asia/Tokyo")
    assert out.clean["timestamp"].to_list() == [
        utc(2026, 1, 15, 4, 0),
        utc(2026, 1, 15, 7, 30),
        utc(2026, 1, 15, 14, 30),
        datetime(2026, 1, 15, 9, 30, 0, 500000, tzinfo=UTC),
        utc(2026, 1, 15, 0, 30),  # JST+9
    ]
    assert out.rejected["timestamp"].to_list() == ["2026-13-40", "2026-01-15T25:00", "15.01.2026"]
    assert set(out.rejected["reason"]) == {"unparseable_timestamp"}


def test_timestamp_format_with_offset_keeps_the_instant() -> None:
    df = pl.DataFrame({"account_id": ["a"], "timestamp": ["15/01/2026 10:00 +0100"]})
    out = check("events", df, timezone="Asia/Tokyo", timestamp_format="%d/%m/%Y %H:%M %z")
    assert out.clean["timestamp"].to_list() == [utc(2026, 1, 15, 9, 0)]
