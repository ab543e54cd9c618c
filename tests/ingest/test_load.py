"""load_tables end to end on real files: quarantine, fail mode, absent tables, observed_until."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hydra.errors import ConfigCompositionException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DataValidationError
from ingest.load import load_tables
from tests.ingest.conftest import NOW, make_cfg, write_csv, write_parquet


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def messy(tmp_path: Path, accounts_csv: Path) -> dict[str, Path]:
    """Events in two CSV files under a folder, with renamed columns and one of each problem."""
    write_csv(
        tmp_path / "events" / "part-1.csv",
        {
            "acct": ["a1", "a1", "a2", "a2", "zz", None],
            "occurred_at": [
                "2026-03-01 10:00",
                "2026-03-01 10:00",
                "yesterday",
                "2026-03-02 23:30",
                "2026-03-02",
                "2026-03-02",
            ],
            "kind": ["login", "login", "login", "export", "login", "login"],
        },
    )
    write_csv(
        tmp_path / "events" / "part-2.csv",
        {
            "acct": ["a3", "a3"],
            "occurred_at": ["2026-03-03 08:00", "2099-01-01"],
            "kind": [None, "login"],
        },
    )
    write_csv(
        tmp_path / "users.csv",
        {
            "user_id": ["u1", "u2"],
            "acct": ["a1", "nope"],
            "role": ["admin", "member"],
            "created_at": ["2025-06-01", "2025-06-01"],
        },
    )
    return {
        "events": tmp_path / "events",
        "users": tmp_path / "users.csv",
        "accounts": accounts_csv,
    }


MAPPING = (
    "data.columns.account_id=acct",
    "data.columns.timestamp=occurred_at",
    "data.columns.event=kind",
    "data.timezone=Europe/Paris",
    "data.segments=[industry]",
)


def test_quarantine_mode_writes_rejected_rows_and_continues(
    tmp_path: Path, messy: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_cfg(messy["events"], messy["users"], messy["accounts"], *MAPPING)
    qdir = tmp_path / "out" / "quarantine"
    with caplog.at_level(logging.INFO, logger="adoption_decay"):
        tables = load_tables(cfg, qdir, now=NOW)

    assert tables.events.rows() == [
        ("a1", "a1", "login", utc(2026, 3, 1, 9, 0), None),  # CET = UTC+1
        ("a2", "a2", "export", utc(2026, 3, 2, 22, 30), None),
        ("a3", "a3", "activity", utc(2026, 3, 3, 7, 0), None),  # null event -> default
    ]
    assert tables.events.schema == {
        "account_id": pl.String,
        "user_id": pl.String,
        "event": pl.String,
        "timestamp": pl.Datetime("us", "UTC"),
        "value": pl.Float64,
    }
    assert tables.users is not None and tables.users["user_id"].to_list() == ["u1"]
    assert tables.accounts is not None
    assert tables.accounts.columns == ["account_id", "created_at", "industry"]
    assert tables.segments == ["industry"]
    assert tables.observed_until == utc(2026, 3, 4)

    q = pl.read_parquet(qdir / "events.parquet")
    # Source column names, raw values, reason, the concerned source column and the file.
    assert q.columns == ["acct", "occurred_at", "kind", "source_file", "reason", "reason_column"]
    assert q.with_columns(
        pl.col("source_file").map_batches(lambda s: s.str.extract(r"(part-\d)\.csv$"))
    ).rows() == [
        ("a1", "2026-03-01 10:00", "login", "part-1", "duplicate_row", None),
        ("a2", "yesterday", "login", "part-1", "unparseable_timestamp", "occurred_at"),
        ("zz", "2026-03-02", "login", "part-1", "unknown_account", "acct"),
        (None, "2026-03-02", "login", "part-1", "null_id", "acct"),
        ("a3", "2099-01-01", "login", "part-2", "future_timestamp", "occurred_at"),
    ]
    qu = pl.read_parquet(qdir / "users.parquet")
    assert qu.select("user_id", "acct", "reason").rows() == [("u2", "nope", "unknown_account")]
    assert not (qdir / "accounts.parquet").exists()  # nothing rejected, nothing written

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert (
        "events: 8 row(s) read, 3 clean, 5 rejected (duplicate_row[all columns]=1, "
        "future_timestamp[timestamp]=1, null_id[account_id]=1, "
        "unknown_account[account_id]=1, unparseable_timestamp[timestamp]=1)"
    ) in logged


def test_fail_mode_raises_one_error_listing_every_problem(
    tmp_path: Path, messy: dict[str, Path]
) -> None:
    cfg = make_cfg(
        messy["events"], messy["users"], messy["accounts"], *MAPPING, "data.on_error=fail"
    )
    qdir = tmp_path / "q"
    with pytest.raises(DataValidationError) as err:
        load_tables(cfg, qdir, now=NOW)
    msg = str(err.value)
    assert err.value.exit_code == 3
    assert msg.startswith("6 input row(s) break the data contract (6 problem(s)):")
    part1 = messy["events"] / "part-1.csv"
    assert (
        f"- table events, file {messy['events']} [{part1}, {messy['events'] / 'part-2.csv'}], "
        "column timestamp (source column 'occurred_at'): 1 row(s) unparseable_timestamp; "
        f"examples:\n    {part1}: acct='a2', occurred_at='yesterday', kind='login'"
    ) in msg
    assert (
        f"- table users, file {messy['users']}, column account_id (source column 'acct'): "
        "1 row(s) unknown_account"
    ) in msg
    assert "all columns: 1 row(s) duplicate_row" in msg
    assert "data.on_error=quarantine" in msg
    assert not qdir.exists()


def test_fail_mode_shows_at_most_five_examples(tmp_path: Path) -> None:
    events = write_csv(
        tmp_path / "e.csv", {"account_id": [f"a{i}" for i in range(8)], "timestamp": ["bad"] * 8}
    )
    cfg = make_cfg(events, None, None, "data.on_error=fail")
    with pytest.raises(DataValidationError) as err:
        load_tables(cfg, tmp_path / "q", now=NOW)
    msg = str(err.value)
    assert "8 row(s) unparseable_timestamp" in msg
    assert msg.count(f"{events}: account_id=") == 5


def test_events_only_source_with_parquet_glob_and_observed_until(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ev = pl.DataFrame(
        {
            "account_id": ["a", "b"],
            "timestamp": [datetime(2026, 2, 1, 23, 59), datetime(2026, 2, 2, 0, 0)],
            "value": [1, 2],
        }
    )
    write_parquet(tmp_path / "ev" / "2026-02.parquet", ev)
    cfg = make_cfg(tmp_path / "ev" / "*.parquet", None, None, "data.default_event=txn")
    with caplog.at_level(logging.INFO, logger="adoption_decay"):
        tables = load_tables(cfg, tmp_path / "q", now=NOW)
    assert tables.users is None and tables.accounts is None and tables.segments == []
    assert tables.events.rows() == [
        ("a", "a", "txn", utc(2026, 2, 1, 23, 59), 1.0),
        ("b", "b", "txn", utc(2026, 2, 2), 2.0),
    ]
    assert tables.observed_until == utc(2026, 2, 3)
    logged = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("data.users=null") for m in logged) == 1
    assert sum(m.startswith("data.accounts=null") for m in logged) == 1
    assert not (tmp_path / "q").exists()

    fixed = make_cfg(tmp_path / "ev" / "*.parquet", None, None, "data.observed_until=2026-02-10")
    assert load_tables(fixed, tmp_path / "q", now=NOW).observed_until == utc(2026, 2, 10)


def test_stale_quarantine_file_is_removed_when_clean(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    qdir.mkdir()
    (qdir / "events.parquet").write_bytes(b"old")
    events = write_csv(tmp_path / "e.csv", {"account_id": ["a"], "timestamp": ["2026-01-01"]})
    load_tables(make_cfg(events), qdir, now=NOW)
    assert not (qdir / "events.parquet").exists()


def test_all_events_rejected_is_an_error(tmp_path: Path) -> None:
    events = write_csv(tmp_path / "e.csv", {"account_id": [None], "timestamp": ["2026-01-01"]})
    with pytest.raises(DataValidationError, match="no valid events"):
        load_tables(make_cfg(events), tmp_path / "q", now=NOW)
    assert pl.read_parquet(tmp_path / "q" / "events.parquet")["reason"].to_list() == ["null_id"]


def test_invalid_on_error_value_is_rejected_when_composing(tmp_path: Path) -> None:
    events = write_csv(tmp_path / "e.csv", {"account_id": ["a"], "timestamp": ["2026-01-01"]})
    with pytest.raises(ConfigCompositionException) as err:  # data.on_error is an enum
        make_cfg(events, None, None, "data.on_error=ignore")
    assert "data.on_error" in str(err.value.__cause__)


# ---------------------------------------------------------------- row conservation property

_ids = st.sampled_from(["a1", "a2", "a3", "zz", "", None])
_times = st.sampled_from(
    [
        "2026-01-01",
        "2026-01-01 10:00",
        "2026-01-01T10:00:00+05:00",
        "2099-01-01",
        "garbage",
        "2026-13-40",
        "",
        None,
    ]
)
_values = st.sampled_from(["1", "2.5", "-3e2", "abc", "", None])
_rows = st.lists(st.tuples(_ids, _ids, _times, _values), min_size=1, max_size=40)


@pytest.fixture(scope="module")
def prop_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    """Fixed file locations and their two configs, composed once (Hydra compose is ~0.15 s)."""
    root = tmp_path_factory.mktemp("prop")
    write_csv(root / "a.csv", {"account_id": ["a1", "a2", "a3"], "created_at": ["2025-01-01"] * 3})
    return (
        root,
        make_cfg(root / "e.csv", None, root / "a.csv"),
        make_cfg(root / "e.csv", None, None),
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, with_accounts=st.booleans())
def test_clean_plus_rejected_equals_input_rows(
    prop_setup: tuple[Path, Any, Any], rows: list[tuple], with_accounts: bool
) -> None:
    root, cfg_accounts, cfg_events_only = prop_setup
    write_csv(
        root / "e.csv",
        {
            "account_id": [r[0] for r in rows],
            "user_id": [r[1] for r in rows],
            "timestamp": [r[2] for r in rows],
            "value": [r[3] for r in rows],
        },
    )
    qdir = root / "q"
    cfg = cfg_accounts if with_accounts else cfg_events_only
    try:
        clean = load_tables(cfg, qdir, now=NOW).events.height
    except DataValidationError as err:
        assert "no valid events" in str(err)
        clean = 0
    qfile = qdir / "events.parquet"
    rejected = pl.read_parquet(qfile) if qfile.exists() else pl.DataFrame()
    assert clean + rejected.height == len(rows)
    if rejected.height:
        assert rejected["reason"].null_count() == 0


def test_accounts_keep_the_optional_attribute_columns_the_features_read(tmp_path):
    """`plan` (features.renewal_cycle_column) survives validation as a String; unknown extras do not."""
    import polars as pl

    from core.config import load_config
    from ingest.load import load_tables
    from ingest.tables import TS

    acc = pl.DataFrame(
        {
            "account_id": ["a", "b"],
            "created_at": ["2026-01-01", "2026-01-02"],
            "industry": ["x", "y"],
            "size_tier": ["smb", "mid"],
            "use_case": ["u", "u"],
            "plan": ["monthly", "annual"],
            "crm_owner": ["p", "q"],
        }
    ).with_columns(pl.col("created_at").str.to_datetime().dt.replace_time_zone("UTC"))
    ev = pl.DataFrame(
        {"account_id": ["a", "b"], "timestamp": ["2026-02-01", "2026-02-02"]}
    ).with_columns(pl.col("timestamp").str.to_datetime().dt.replace_time_zone("UTC"))
    acc.write_parquet(tmp_path / "accounts.parquet")
    ev.write_parquet(tmp_path / "events.parquet")
    cfg = load_config([f"data.dir={tmp_path}", "data.users=null", "data.truth=null"])
    tables = load_tables(cfg, tmp_path / "q")
    assert tables.accounts["plan"].to_list() == ["monthly", "annual"]
    assert tables.accounts.schema["created_at"] == TS
    assert "crm_owner" not in tables.accounts.columns
