"""Hive-partitioned parquet datasets (``events/month=2026-01/part-0.parquet``) as one table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from core.errors import DataValidationError
from ingest.load import load_tables
from ingest.read import SOURCE_FILE, hive_keys, resolve_files, scan_table
from tests.ingest.conftest import NOW, make_cfg, write_parquet


def _events() -> pl.DataFrame:
    """Seven events of two accounts over three months, one of them rejected (null account)."""
    ts = [
        datetime(2026, 1, 3, 9, tzinfo=UTC),
        datetime(2026, 1, 20, 10, tzinfo=UTC),
        datetime(2026, 2, 1, 0, tzinfo=UTC),
        datetime(2026, 2, 14, 8, tzinfo=UTC),
        datetime(2026, 3, 2, 7, tzinfo=UTC),
        datetime(2026, 3, 30, 23, tzinfo=UTC),
        datetime(2026, 3, 31, 1, tzinfo=UTC),
    ]
    return pl.DataFrame(
        {
            "account_id": ["a1", "a2", "a1", None, "a2", "a1", "a2"],
            "user_id": ["u1", "u2", "u1", "u3", "u2", "u1", "u2"],
            "event": ["login", "login", "export", "login", "login", "export", "login"],
            "timestamp": ts,
            "value": [None, 1.0, 2.5, None, None, 4.0, None],
        }
    )


def _write_hive(root: Path, events: pl.DataFrame, nested: bool = False) -> Path:
    """``root/month=YYYY-MM[/half=N]/part-N.parquet``, one file per half month."""
    keyed = events.with_columns(
        pl.col("timestamp").dt.strftime("%Y-%m").alias("_m"),
        (pl.col("timestamp").dt.day() > 15).cast(pl.Int8).cast(pl.String).alias("_h"),
    )
    for (m, h), part in keyed.group_by("_m", "_h", maintain_order=True):
        part = part.drop("_m", "_h")
        folder = root / f"month={m}" / (f"half={h}" if nested else "")
        write_parquet(folder / f"part-{h}.parquet", part)
    (root / "_SUCCESS").write_text("")  # writer markers are not data
    return root


def test_hive_dataset_loads_the_same_clean_rows_as_one_file(tmp_path: Path) -> None:
    events = _events()
    flat = write_parquet(tmp_path / "flat" / "events.parquet", events)
    hive = _write_hive(tmp_path / "hive", events, nested=True)
    one = load_tables(make_cfg(flat), tmp_path / "q1", now=NOW)
    many = load_tables(make_cfg(hive), tmp_path / "q2", now=NOW)
    # Partition columns are extra columns: not in the clean table, which equals the file's.
    assert many.events.columns == one.events.columns
    assert "month" not in many.events.columns
    key = ["timestamp", "account_id"]
    assert_frame_equal(many.events.sort(key), one.events.sort(key))
    assert many.events.height == 6
    assert many.observed_until == one.observed_until
    # The quarantine still names the file of the rejected row, and keeps its partition values.
    rejected = pl.read_parquet(tmp_path / "q2" / "events.parquet")
    assert rejected.height == 1
    assert rejected["month"].to_list() == ["2026-02"]
    assert rejected["half"].to_list() == ["0"]
    assert Path(rejected[SOURCE_FILE][0]) == hive / "month=2026-02" / "half=0" / "part-0.parquet"


def test_partition_columns_are_text_and_filters_on_them_skip_files(tmp_path: Path) -> None:
    hive = _write_hive(tmp_path / "ev", _events(), nested=True)
    raw = scan_table("events", str(hive), None, {})
    schema = raw.frame.collect_schema()
    assert schema["month"] == pl.String
    assert schema["half"] == pl.String  # "0"/"1" not inferred as integers
    assert len(raw.files) == 5
    march = raw.frame.filter(pl.col("month") == "2026-03")
    plan = march.explain()
    assert "month=2026-01" not in plan and "month=2026-02" not in plan
    df = march.collect()
    assert df.height == 3
    assert set(df[SOURCE_FILE].map_elements(lambda p: Path(p).parent.parent.name, pl.String)) == {
        "month=2026-03"
    }


def test_glob_of_partitions_reads_partition_columns(tmp_path: Path) -> None:
    hive = _write_hive(tmp_path / "ev", _events())
    raw = scan_table("events", str(hive / "month=2026-0[23]" / "*.parquet"), None, {})
    df = raw.frame.collect()
    assert [f.parent.name for f in raw.files] == ["month=2026-02", *["month=2026-03"] * 2]
    assert df["month"].to_list() == ["2026-02"] * 2 + ["2026-03"] * 3
    assert df["event"].to_list() == ["export", "login", "login", "export", "login"]


def test_flat_folder_and_single_partition_file_get_no_partition_columns(tmp_path: Path) -> None:
    hive = _write_hive(tmp_path / "ev", _events())
    one = hive / "month=2026-01" / "part-0.parquet"
    assert hive_keys(str(one), [one], "events") == []
    assert "month" not in scan_table("events", str(one), None, {}).frame.collect_schema()
    flat = write_parquet(tmp_path / "flat" / "e.parquet", _events())
    assert scan_table("events", str(flat.parent), None, {}).frame.collect_schema().names() == [
        *_events().columns,
        SOURCE_FILE,
    ]


def test_empty_partition_folder_errors_clearly(tmp_path: Path) -> None:
    (tmp_path / "ev" / "month=2026-01").mkdir(parents=True)
    (tmp_path / "ev" / "month=2026-02").mkdir()
    with pytest.raises(
        DataValidationError,
        match=r"no parquet/csv files found for table 'events' at .*ev \(hive dataset, 2 "
        r"partition folder\(s\)\)",
    ):
        resolve_files(str(tmp_path / "ev"), None, "events")


def test_ragged_partition_keys_error_names_both_files(tmp_path: Path) -> None:
    write_parquet(tmp_path / "ev" / "month=2026-01" / "a.parquet", _events())
    write_parquet(tmp_path / "ev" / "month=2026-02" / "day=1" / "b.parquet", _events())
    with pytest.raises(DataValidationError, match=r"different partition keys: \['month'\]"):
        scan_table("events", str(tmp_path / "ev"), None, {})


def test_partitioned_csv_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "ev" / "month=2026-01" / "a.csv"
    path.parent.mkdir(parents=True)
    _events().drop("timestamp").write_csv(path)
    with pytest.raises(DataValidationError, match="hive partitions are read for parquet only"):
        scan_table("events", str(tmp_path / "ev"), None, {})


def test_a_row_in_two_partitions_is_one_exact_duplicate(tmp_path: Path) -> None:
    row = _events().head(2)
    write_parquet(tmp_path / "ev" / "load_date=2026-04-01" / "a.parquet", row)
    write_parquet(tmp_path / "ev" / "load_date=2026-04-02" / "a.parquet", row.head(1))
    tables = load_tables(make_cfg(tmp_path / "ev"), tmp_path / "q", now=NOW)
    assert tables.events.height == 2
    rejected = pl.read_parquet(tmp_path / "q" / "events.parquet")
    assert rejected["reason"].to_list() == ["duplicate_row"]
    assert rejected["load_date"].to_list() == ["2026-04-02"]


def test_partition_key_that_is_also_a_file_column_is_refused(tmp_path: Path) -> None:
    write_parquet(tmp_path / "ev" / "event=login" / "a.parquet", _events())
    with pytest.raises(DataValidationError, match=r"partition key\(s\) \['event'\] are also"):
        scan_table("events", str(tmp_path / "ev"), None, {})
