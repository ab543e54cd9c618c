"""Reading sources: file / folder / glob, parquet / CSV, format override, column mapping."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest

from core.errors import DataValidationError
from ingest.read import SOURCE_FILE, apply_mapping, column_mapping, resolve_files, scan_table
from ingest.validate import contract_for, validate_table
from tests.ingest.conftest import NOW, write_csv, write_parquet


def _events(ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"acct": ids, "ts": ["2026-01-01T00:00:00"] * len(ids)})


def test_single_csv_file_reads_strings_and_source_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", {"account_id": ["007", "8"], "value": ["1.5", "x"]})
    raw = scan_table("events", str(path), None, {})
    df = raw.frame.collect()
    assert raw.format == "csv"
    assert df.schema == {"account_id": pl.String, "value": pl.String, SOURCE_FILE: pl.String}
    assert df["account_id"].to_list() == ["007", "8"]  # no inference: leading zero kept
    assert df[SOURCE_FILE].to_list() == [str(path), str(path)]


def test_folder_reads_all_parquet_files_in_order(tmp_path: Path) -> None:
    write_parquet(tmp_path / "ev" / "part-1.parquet", _events(["a", "b"]))
    write_parquet(tmp_path / "ev" / "part-2.parquet", _events(["c"]))
    (tmp_path / "ev" / "_SUCCESS").write_text("")  # non-data files are ignored
    raw = scan_table("events", str(tmp_path / "ev"), None, {})
    df = raw.frame.collect()
    assert [f.name for f in raw.files] == ["part-1.parquet", "part-2.parquet"]
    assert df["acct"].to_list() == ["a", "b", "c"]
    assert [Path(p).name for p in df[SOURCE_FILE]] == ["part-1.parquet"] * 2 + ["part-2.parquet"]


def test_glob_selects_matching_csv_files(tmp_path: Path) -> None:
    write_csv(tmp_path / "x" / "events_2025.csv", {"acct": ["a"]})
    write_csv(tmp_path / "x" / "events_2026.csv", {"acct": ["b", "c"]})
    write_csv(tmp_path / "x" / "other.csv", {"acct": ["zzz"]})
    raw = scan_table("events", str(tmp_path / "x" / "events_*.csv"), None, {})
    assert raw.frame.collect()["acct"].to_list() == ["a", "b", "c"]


def test_format_override_reads_file_without_extension(tmp_path: Path) -> None:
    write_csv(tmp_path / "export.txt", {"acct": ["a"]})
    with pytest.raises(DataValidationError, match="cannot tell the format"):
        scan_table("events", str(tmp_path / "export.txt"), None, {})
    raw = scan_table("events", str(tmp_path / "export.txt"), "csv", {})
    assert raw.frame.collect()["acct"].to_list() == ["a"]


def test_mixed_formats_need_data_format(tmp_path: Path) -> None:
    write_parquet(tmp_path / "mix" / "a.parquet", _events(["a"]))
    write_csv(tmp_path / "mix" / "b.csv", {"acct": ["b"], "ts": ["2026-01-01"]})
    with pytest.raises(DataValidationError, match="mixes formats"):
        resolve_files(str(tmp_path / "mix"), None, "events")
    files, fmt = resolve_files(str(tmp_path / "mix"), "parquet", "events")
    assert (fmt, [f.name for f in files]) == ("parquet", ["a.parquet"])


def test_no_files_error_names_table_and_path(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"no parquet/csv files found for table 'users'"):
        scan_table("users", str(tmp_path / "nothing_*.csv"), None, {})


def test_mapping_renames_only_present_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", {"acct": ["a"], "when": ["2026-01-01"], "kind": ["x"]})
    mapping = column_mapping(
        {"account_id": "acct", "timestamp": "when", "user_id": "uid", "event": "event"}
    )
    assert mapping == {"account_id": "acct", "timestamp": "when", "user_id": "uid"}
    raw = scan_table("events", str(path), None, mapping)
    assert raw.frame.collect_schema().names() == ["account_id", "timestamp", "kind", SOURCE_FILE]
    assert raw.source_names == {"account_id": "acct", "timestamp": "when"}
    assert raw.label("timestamp") == "timestamp (source column 'when')"


def test_mapping_conflict_is_an_error() -> None:
    lf = pl.LazyFrame({"acct": ["a"], "account_id": ["b"]})
    with pytest.raises(DataValidationError, match=r"both column 'acct'.*'account_id'"):
        apply_mapping(lf, {"account_id": "acct"}, "events", "e.csv")


def test_absent_table_is_none_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="adoption_decay"):
        assert scan_table("users", None, None, {}) is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith("data.users=null") and "role features" in lines[0]


def test_parquet_files_with_different_types_fail_clearly(tmp_path: Path) -> None:
    write_parquet(
        tmp_path / "ev" / "a.parquet",
        pl.DataFrame({"account_id": ["a"], "timestamp": ["2026-01-01"]}),
    )
    write_parquet(
        tmp_path / "ev" / "b.parquet",
        pl.DataFrame({"account_id": [1], "timestamp": ["2026-01-01"]}),
    )
    raw = scan_table("events", str(tmp_path / "ev"), None, {})
    with pytest.raises(DataValidationError, match=r"events \(.*ev \[.*a\.parquet.*cannot read"):
        validate_table(raw, contract_for("events"), now=NOW)
