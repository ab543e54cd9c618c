"""``data=postgres``: tables and queries read over ADBC give exactly what the parquet files give
(features, training, scores), validate and quarantine the same way, reject hostile table names,
and never show the DSN (its password) in a message, a log line or an output file."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from core.config import load_config
from core.errors import ConfigValueError, DatabaseError, DataValidationError
from ingest.postgres import PostgresSource
from ingest.read import SOURCE_FILE, scan_table
from tests.pg.conftest import ENV, pg_execute, pg_load, pg_read, world_cfg

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("pg")]
ROOT = Path(__file__).resolve().parents[2]
NOW_FUTURE = "2099-01-01 00:00:00+00"


def test_features_from_postgres_equal_features_from_parquet(both_sides: dict[str, Any]) -> None:
    files, pg = both_sides["files"], both_sides["postgres"]
    assert files["dataset"].height > 100
    assert_frame_equal(pg["dataset"], files["dataset"])
    assert pg["catalogue"] == files["catalogue"]


def test_training_and_scoring_from_postgres_equal_parquet(both_sides: dict[str, Any]) -> None:
    files = pl.read_parquet(both_sides["files"]["dir"] / "scores.parquet")
    pg = pl.read_parquet(both_sides["postgres"]["dir"] / "scores.parquet")
    assert files.height > 20
    assert_frame_equal(pg, files)
    for name in ("explanations", "families"):
        assert_frame_equal(
            pl.read_parquet(both_sides["postgres"]["dir"] / f"{name}.parquet"),
            pl.read_parquet(both_sides["files"]["dir"] / f"{name}.parquet"),
        )


def _source(tmp_path: Path) -> PostgresSource:
    return PostgresSource(dsn_env=ENV, spool_dir=tmp_path / ".spool")


def _bad_events(world: dict[str, Any]) -> pl.DataFrame:
    """400 good events plus a null account, an unknown account and a future timestamp."""
    events = pl.read_parquet(world["data"] / "events.parquet").head(400)
    bad = events.head(3).with_columns(
        pl.Series("account_id", [None, "acc_does_not_exist", events["account_id"][2]]),
        pl.Series(
            "timestamp",
            [events["timestamp"][0], events["timestamp"][1], None],
            dtype=events.schema["timestamp"],
        ),
    )
    future = pl.lit(pl.Series([None, None, "2099-01-01"]).str.to_datetime(time_zone="UTC"))
    bad = bad.with_columns(
        pl.coalesce(future, pl.col("timestamp")).cast(events.schema["timestamp"]).alias("timestamp")
    )
    return pl.concat([events, bad])


def test_quarantine_from_postgres_matches_files(
    pg_world: dict[str, Any], pg_env: str, tmp_path: Path
) -> None:
    from ingest.load import load_tables

    frame = _bad_events(pg_world)
    pg_load(pg_env, "bad_events", frame)
    frame.write_parquet(tmp_path / "bad_events.parquet")
    pg_cfg = world_cfg(pg_world, "postgres", tmp_path / "pg", "data.events=bad_events")
    file_cfg = world_cfg(
        pg_world, "files", tmp_path / "files", f"data.events={tmp_path / 'bad_events.parquet'}"
    )
    pg_tables = load_tables(pg_cfg, tmp_path / "pg" / "quarantine")
    file_tables = load_tables(file_cfg, tmp_path / "files" / "quarantine")
    assert pg_tables.events.height == file_tables.events.height == 400
    assert_frame_equal(pg_tables.events, file_tables.events)
    pg_q = pl.read_parquet(tmp_path / "pg" / "quarantine" / "events.parquet")
    file_q = pl.read_parquet(tmp_path / "files" / "quarantine" / "events.parquet")
    assert pg_q.height == 3
    assert pg_q[SOURCE_FILE].unique().to_list() == ["postgres:bad_events"]
    assert_frame_equal(pg_q.drop(SOURCE_FILE), file_q.drop(SOURCE_FILE))
    assert sorted(pg_q["reason"].to_list()) == sorted(file_q["reason"].to_list())


def test_fail_mode_error_names_the_table_and_the_column(
    pg_world: dict[str, Any], pg_env: str, tmp_path: Path
) -> None:
    from ingest.load import load_tables

    pg_load(pg_env, "bad_events", _bad_events(pg_world))
    cfg = world_cfg(pg_world, "postgres", tmp_path, "data.events=bad_events", "data.on_error=fail")
    with pytest.raises(DataValidationError) as err:
        load_tables(cfg, tmp_path / "quarantine")
    text = str(err.value)
    assert "postgres:bad_events" in text and "account_id" in text and "timestamp" in text
    # A column of the wrong type: named with the table, like a file's.
    pg_execute(
        pg_env,
        "DROP TABLE IF EXISTS int_events",
        "CREATE TABLE int_events AS SELECT account_id, user_id, event, "
        "extract(epoch from timestamp)::bigint AS timestamp, value FROM events LIMIT 50",
    )
    cfg = world_cfg(pg_world, "postgres", tmp_path, "data.events=int_events")
    with pytest.raises(DataValidationError, match=r"postgres:int_events.*timestamp"):
        load_tables(cfg, tmp_path / "quarantine")


def test_query_source_reads_exactly_the_selected_rows(
    pg_world: dict[str, Any], pg_env: str, tmp_path: Path
) -> None:
    from ingest.load import load_tables

    query = (
        "SELECT account_id, user_id, event, timestamp, value FROM events "
        "WHERE event <> 'login' AND account_id IN (SELECT account_id FROM accounts "
        "WHERE size_tier = 'smb')"
    )
    cfg = world_cfg(pg_world, "postgres", tmp_path, f'data.events="{query}"')
    assert cfg.data.events == query
    got = load_tables(cfg, tmp_path / "quarantine").events
    files = load_tables(world_cfg(pg_world, "files", tmp_path / "f"), tmp_path / "fq").events
    smb = pl.read_parquet(pg_world["data"] / "accounts.parquet").filter(
        pl.col("size_tier") == "smb"
    )["account_id"]
    want = files.filter((pl.col("event") != "login") & pl.col("account_id").is_in(smb.implode()))
    assert 0 < got.height < files.height
    assert_frame_equal(got, want)
    raw = scan_table("events", query, None, {}, _source(tmp_path))
    assert raw is not None
    assert raw.location.startswith("postgres:query:")
    assert raw.frame.select(pl.col(SOURCE_FILE).unique()).collect().item() == raw.location


@pytest.mark.parametrize(
    "spec",
    [
        "events; DROP TABLE accounts",
        "public.events.extra",
        '"events"',
        "events -- comment",
        "1events",
        "SELECT 1; DROP TABLE accounts",
        "select * from events; delete from accounts",
        "events WHERE 1=1",
    ],
)
def test_hostile_table_names_are_rejected(
    pg_world: dict[str, Any], pg_env: str, tmp_path: Path, spec: str
) -> None:
    with pytest.raises(DataValidationError, match=r"data\.events"):
        scan_table("events", spec, None, {}, _source(tmp_path))
    assert pg_read(pg_env, "SELECT count(*) AS n FROM accounts")["n"][0] > 0


def test_the_session_is_read_only(pg_world: dict[str, Any], pg_env: str, tmp_path: Path) -> None:
    before = pg_read(pg_env, "SELECT count(*) AS n FROM accounts")["n"][0]
    query = "WITH gone AS (DELETE FROM accounts RETURNING *) SELECT * FROM gone"
    with pytest.raises(DataValidationError, match="read-only"):
        scan_table("accounts", query, None, {}, _source(tmp_path))
    assert pg_read(pg_env, "SELECT count(*) AS n FROM accounts")["n"][0] == before > 0


def test_schema_qualified_names_are_quoted_and_exact(pg_env: str, tmp_path: Path) -> None:
    pg_execute(
        pg_env,
        "CREATE SCHEMA IF NOT EXISTS crm",
        'DROP TABLE IF EXISTS crm."Accounts"',
        "CREATE TABLE crm.\"Accounts\" AS SELECT 'a1'::text AS account_id",
    )
    raw = scan_table("accounts", "crm.Accounts", None, {}, _source(tmp_path))
    assert raw is not None and raw.location == "postgres:crm.Accounts"
    assert raw.frame.collect()["account_id"].to_list() == ["a1"]
    with pytest.raises(DataValidationError, match=r"data\.accounts.*does not exist"):
        scan_table("accounts", "crm.accounts", None, {}, _source(tmp_path))


def test_missing_env_var_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DECAY_PG_OTHER", raising=False)
    source = PostgresSource(dsn_env="DECAY_PG_OTHER", spool_dir=tmp_path)
    with pytest.raises(ConfigValueError, match=r"DECAY_PG_OTHER.*data\.dsn_env") as err:
        scan_table("events", "events", None, {}, source)
    assert err.value.exit_code == 2


def test_dsn_never_in_errors_or_logs(
    pg_world: dict[str, Any],
    pg_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    from ingest.load import load_tables

    password = pg_dsn.split(":")[2].split("@")[0]
    assert len(password) >= 12
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(ENV, pg_dsn)
    load_tables(world_cfg(pg_world, "postgres", tmp_path), tmp_path / "quarantine")
    with pytest.raises(DataValidationError) as missing:
        scan_table("events", "no_such_table", None, {}, _source(tmp_path))
    wrong = pg_dsn.replace(password, password[::-1])
    monkeypatch.setenv(ENV, wrong)
    with pytest.raises(DatabaseError) as refused:
        scan_table("events", "events", None, {}, _source(tmp_path))
    assert refused.value.exit_code == 7
    assert "127.0.0.1" in str(refused.value) and "DECAY_PG_DSN" in str(refused.value)
    texts = [caplog.text, str(missing.value), str(refused.value)]
    for text in texts:
        assert password not in text and password[::-1] not in text
        assert pg_dsn not in text and wrong not in text
    assert "events:" in caplog.text  # the reader did log its lines


def test_cli_exit_codes_and_no_dsn_in_any_output_file(
    pg_world: dict[str, Any], pg_dsn: str, tmp_path: Path
) -> None:
    password = pg_dsn.split(":")[2].split("@")[0]
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-m",
        "pipelines.features",
        *pg_world["postgres"],
        f"output.dir={out}",
        f"hydra.run.dir={out}/logs",
    ]
    env = {**os.environ, ENV: pg_dsn, "PYTHONHASHSEED": "0"}
    ok = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert (out / "dataset.parquet").exists()
    env[ENV] = pg_dsn.replace(password, "wrong-password")
    bad = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 7, bad.stderr[-3000:]
    assert "password authentication failed" in bad.stderr
    env.pop(ENV)
    unset = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert unset.returncode == 2
    assert "DECAY_PG_DSN" in unset.stderr
    for proc in (ok, bad, unset):
        assert password not in proc.stdout + proc.stderr
        assert "wrong-password" not in proc.stdout + proc.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files)
    for path in files:
        assert password.encode() not in path.read_bytes(), path


def test_numeric_and_naive_timestamps_read_like_files(pg_env: str, tmp_path: Path) -> None:
    """``numeric`` (the driver passes it as text) casts to Float64; a naive ``timestamp`` is
    read in ``data.timezone``, exactly as a naive parquet column would be."""
    from ingest.load import load_tables

    pg_execute(
        pg_env,
        "DROP TABLE IF EXISTS typed_events",
        "CREATE TABLE typed_events AS SELECT 'a' || (g % 3) AS account_id, 'u' || g AS user_id, "
        "'login'::varchar(20) AS event, timestamp '2026-01-01' + g * interval '1 hour' "
        "AS timestamp, (g / 4.0)::numeric(10, 2) AS value FROM generate_series(1, 40) g",
    )
    cfg = load_config(
        [
            "data=postgres",
            "data.events=typed_events",
            f"output.dir={tmp_path}",
            "data.timezone=Europe/Paris",
        ]
    )
    events = load_tables(cfg, tmp_path / "quarantine").events.sort("user_id")
    assert events.schema["value"] == pl.Float64
    first = events.filter(pl.col("user_id") == "u1").row(0, named=True)
    assert first["value"] == 0.25
    assert first["timestamp"].isoformat() == "2026-01-01T00:00:00+00:00"  # 01:00 in Paris
    assert events.height == 40
