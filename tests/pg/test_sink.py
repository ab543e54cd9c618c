"""``sink=postgres``: scores, drivers and nudges upserted in one transaction; read back equal to
the files; a re-run updates instead of duplicating; a failed or killed run changes nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from core.config import load_config
from core.errors import ConfigValueError, DatabaseError
from scoring.sink import HOLD_ENV, PostgresSink
from tests.pg.conftest import AS_OF, ENV, pg_execute, pg_read, world_cfg

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("pg")]
ROOT = Path(__file__).resolve().parents[2]
DAY = date.fromisoformat(AS_OF)


def _sink(table: str) -> PostgresSink:
    sink = PostgresSink.from_cfg(
        load_config(["sink=postgres", f"sink.table={table}", f"sink.dsn_env={ENV}"]).sink
    )
    assert sink is not None
    return sink


def _drop(dsn: str, table: str) -> None:
    pg_execute(dsn, *(f"DROP TABLE IF EXISTS {table}{s}" for s in ("", "_drivers", "_nudges")))


def _scores(dsn: str, table: str) -> pl.DataFrame:
    return pg_read(dsn, f"SELECT * FROM {table} ORDER BY account_id, as_of")


def _doctored(run_dir: Path, target: Path) -> Path:
    """A copy of ``run_dir`` whose risks are all shifted and one account dropped."""
    shutil.copytree(run_dir, target)
    scores = pl.read_parquet(target / "scores.parquet")
    gone = scores["account_id"][0]
    scores.filter(pl.col("account_id") != gone).with_columns(
        (pl.col("decay_risk") / 2).alias("decay_risk")
    ).write_parquet(target / "scores.parquet")
    drivers = pl.read_parquet(target / "explanations.parquet")
    drivers.filter(pl.col("account_id") != gone).head(10).write_parquet(
        target / "explanations.parquet"
    )
    return target


def test_sink_read_back_equals_the_files(both_sides: dict[str, Any], pg_env: str) -> None:
    run_dir = both_sides["postgres"]["dir"]
    _drop(pg_env, "sink_a")
    counts = _sink("sink_a").write(run_dir, DAY)
    files = pl.read_parquet(run_dir / "scores.parquet").sort("account_id")
    assert counts["scores"] == files.height > 20
    assert_frame_equal(_scores(pg_env, "sink_a"), files.select(_scores(pg_env, "sink_a").columns))
    assert _scores(pg_env, "sink_a").columns == files.columns
    drivers = pl.read_parquet(run_dir / "explanations.parquet")
    back = pg_read(pg_env, "SELECT * FROM sink_a_drivers")
    assert back.columns == ["account_id", "as_of", *drivers.columns[1:]]
    assert back["as_of"].unique().to_list() == [DAY]
    assert_frame_equal(
        back.drop("as_of").sort("account_id", "rank", "direction"),
        drivers.sort("account_id", "rank", "direction"),
    )
    nudges = pg_read(pg_env, "SELECT * FROM sink_a_nudges")
    assert nudges.height == counts["nudges"] == files["nudge"].is_not_null().sum()
    assert {"account_id", "as_of", "nudge", "next_step_evidence"} <= set(nudges.columns)
    key = pg_read(
        pg_env,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'sink_a'::regclass AND i.indisprimary "
        "ORDER BY a.attname",
    )
    assert key["attname"].to_list() == ["account_id", "as_of"]


def test_rerun_upserts_without_duplicates(
    both_sides: dict[str, Any], pg_env: str, tmp_path: Path
) -> None:
    run_dir = both_sides["postgres"]["dir"]
    _drop(pg_env, "sink_b")
    sink = _sink("sink_b")
    sink.write(run_dir, DAY)
    # Another date's rows must survive a re-run of this one.
    pg_execute(
        pg_env,
        "INSERT INTO sink_b (account_id, as_of, decay_risk) VALUES ('other', '2026-01-01', 0.5)",
    )
    sink.write(run_dir, DAY)
    files = pl.read_parquet(run_dir / "scores.parquet")
    back = _scores(pg_env, "sink_b")
    assert back.height == files.height + 1
    assert back.select("account_id", "as_of").is_duplicated().sum() == 0
    drivers = pg_read(pg_env, "SELECT count(*) AS n FROM sink_b_drivers")["n"][0]
    assert drivers == pl.read_parquet(run_dir / "explanations.parquet").height
    changed = _doctored(run_dir, tmp_path / "changed")
    sink.write(changed, DAY)
    back = _scores(pg_env, "sink_b").filter(pl.col("as_of") == DAY)
    new = pl.read_parquet(changed / "scores.parquet").sort("account_id")
    assert_frame_equal(back, new.select(back.columns))
    assert pg_read(pg_env, "SELECT count(*) AS n FROM sink_b_drivers")["n"][0] == 10
    assert pg_read(pg_env, "SELECT count(*) AS n FROM sink_b WHERE account_id = 'other'")["n"][0]


def test_a_failing_row_aborts_the_transaction(
    both_sides: dict[str, Any], pg_env: str, tmp_path: Path
) -> None:
    run_dir = both_sides["postgres"]["dir"]
    _drop(pg_env, "sink_c")
    sink = _sink("sink_c")
    sink.write(run_dir, DAY)
    before = _scores(pg_env, "sink_c")
    before_drivers = pg_read(pg_env, "SELECT count(*) AS n FROM sink_c_drivers")["n"][0]
    broken = _doctored(run_dir, tmp_path / "broken")
    scores = pl.read_parquet(broken / "scores.parquet")
    pl.concat([scores, scores.head(1)]).write_parquet(broken / "scores.parquet")  # duplicate key
    with pytest.raises(DatabaseError, match="nothing was changed") as err:
        sink.write(broken, DAY)
    assert err.value.exit_code == 7
    password = pg_env.split(":")[2].split("@")[0]
    assert password not in str(err.value)
    assert_frame_equal(_scores(pg_env, "sink_c"), before)
    assert pg_read(pg_env, "SELECT count(*) AS n FROM sink_c_drivers")["n"][0] == before_drivers


def test_a_run_killed_before_commit_leaves_the_previous_rows(
    both_sides: dict[str, Any], pg_env: str, tmp_path: Path
) -> None:
    run_dir = both_sides["postgres"]["dir"]
    _drop(pg_env, "sink_d")
    _sink("sink_d").write(run_dir, DAY)
    before = _scores(pg_env, "sink_d")
    before_drivers = pg_read(pg_env, "SELECT * FROM sink_d_drivers ORDER BY account_id, rank")
    changed = _doctored(run_dir, tmp_path / "changed")
    marker = tmp_path / "staged"
    code = (
        "import sys; from datetime import date; from pathlib import Path; "
        "from core.config import load_config; from scoring.sink import PostgresSink; "
        "cfg = load_config(['sink=postgres', 'sink.table=sink_d']); "
        "PostgresSink.from_cfg(cfg.sink).write(Path(sys.argv[1]), date.fromisoformat(sys.argv[2]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(changed), AS_OF],
        cwd=ROOT,
        env={**os.environ, HOLD_ENV: str(marker)},
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the sink exited before reaching the commit"
            assert time.monotonic() < deadline, "the sink never reached the commit"
            time.sleep(0.1)
        # Inside the transaction: every row is staged and merged, nothing committed yet.
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert_frame_equal(_scores(pg_env, "sink_d"), before)
    after = pg_read(pg_env, "SELECT * FROM sink_d_drivers ORDER BY account_id, rank")
    assert_frame_equal(after, before_drivers)
    # And the same write, not killed, does land.
    _sink("sink_d").write(changed, DAY)
    assert _scores(pg_env, "sink_d").height == before.height - 1


def test_score_job_writes_the_sink_after_the_folder(
    pg_world: dict[str, Any], both_sides: dict[str, Any], pg_env: str
) -> None:
    import mlflow

    from pipelines.score import score_job

    _drop(pg_env, "analytics.decay_scores")
    pg_execute(pg_env, "CREATE SCHEMA IF NOT EXISTS analytics")
    out = both_sides["postgres"]["dir"].parents[1]
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:
        cfg = world_cfg(
            pg_world,
            "postgres",
            out,
            "sink=postgres",
            "sink.table=analytics.decay_scores",
            "sink.dsn_env=DECAY_SINK_DSN",
        )
        os.environ["DECAY_SINK_DSN"] = pg_env
        result = score_job(cfg)
        files = pl.read_parquet(result["dir"] / "scores.parquet").sort("account_id")
        back = _scores(pg_env, "analytics.decay_scores")
        assert_frame_equal(back, files)
        # An unreachable server: the folder is written, the job fails with exit 7.
        os.environ["DECAY_SINK_DSN"] = pg_env.rsplit(":", 1)[0] + ":1/decay"
        with pytest.raises(DatabaseError, match=r"sink analytics\.decay_scores: cannot") as err:
            score_job(cfg)
        assert err.value.exit_code == 7
        assert (result["dir"] / "scores.parquet").exists()
    finally:
        os.environ.pop("DECAY_SINK_DSN", None)
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry)


@pytest.mark.parametrize("table", ["scores; DROP TABLE x", "a.b.c", '"t"', "x" * 60])
def test_bad_sink_table_is_a_config_error(table: str, pg_env: str) -> None:
    cfg = load_config(["sink=postgres"])
    cfg.sink.table = table
    with pytest.raises(ConfigValueError, match=r"sink\.table") as err:
        PostgresSink.from_cfg(cfg.sink)
    assert err.value.exit_code == 2


def test_sink_none_is_nothing_and_unset_env_fails_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert PostgresSink.from_cfg(load_config([]).sink) is None
    monkeypatch.delenv("DECAY_SINK_NOPE", raising=False)
    cfg = load_config(["sink=postgres", "sink.dsn_env=DECAY_SINK_NOPE"])
    with pytest.raises(ConfigValueError, match=r"DECAY_SINK_NOPE.*sink\.dsn_env"):
        PostgresSink.from_cfg(cfg.sink)
