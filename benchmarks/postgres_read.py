"""Benchmark (not a test): reading 10M events from PostgreSQL, ours vs a plain ``COPY``.

Starts its own server (``benchmarks.pgserver``, the same code as the tests' fixture), loads the
demo events (``data/demo/events.parquet``, replicated under new account ids up to ``--events``;
synthetic events from ``benchmarks.ingest_load`` when there is no demo data) into table
``events``, then measures, each in its own subprocess so the peak memory of one cannot mix with
another's (``VmHWM`` of the child: its own peak RSS):

- ``copy_text``: ``COPY events TO STDOUT`` through psycopg, the bytes discarded: the floor of
  getting the rows out of the server at all (what the ratio is measured against);
- ``ours_spool``: ADBC record batches into the spool parquet file only (memory bounded by one
  batch: the peak says so);
- ``ours_read``: ``ingest.read.scan_table`` with ``data=postgres``: ADBC record batches spooled
  to parquet, then the frame collected (what validation starts from);
- ``ours_load``: ``ingest.load.load_tables`` with ``data=postgres`` (read + validate +
  quarantine): the feature build's input, like ``benchmarks.ingest_load``;
- ``adbc_arrow`` / ``connectorx_arrow``: the two Arrow-native readers straight into one polars
  frame (no spool), the reader choice of docs/postgres.md.

Writes ``benchmarks/results/postgres_read.json``. Target: ``ours_read`` at least 0.5 x the rows
per second of ``copy_text``.

Usage: ``.venv/bin/python -m benchmarks.postgres_read [--events 10000000]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
ENV = "DECAY_BENCH_PG_DSN"
NOW = datetime(2026, 11, 23, tzinfo=UTC)
KINDS = ["copy_text", "ours_spool", "ours_read", "ours_load", "adbc_arrow", "connectorx_arrow"]


def demo_events(n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events, accounts): ``n`` demo events (copies of the log under new account ids)."""
    data = ROOT / "data" / "demo"
    if not (data / "events.parquet").exists():
        from benchmarks.ingest_load import make_events

        events = make_events(n, 20_000, seed=42).with_columns(
            pl.col("timestamp").dt.replace_time_zone("UTC")
        )
        ids = events.select(pl.col("account_id").drop_nulls().unique())
        return events, ids.with_columns(
            pl.lit(datetime(2024, 6, 1, tzinfo=UTC)).alias("created_at")
        )
    events = pl.read_parquet(data / "events.parquet")
    accounts = pl.read_parquet(data / "accounts.parquet")
    copies, parts, acc_parts = 0, [], []
    total = 0
    while total < n:
        suffix = "" if copies == 0 else f"_r{copies}"
        parts.append(events.with_columns(pl.col("account_id") + suffix).head(n - total))
        acc_parts.append(accounts.with_columns(pl.col("account_id") + suffix))
        total += parts[-1].height
        copies += 1
    return pl.concat(parts), pl.concat(acc_parts)


def load(dsn: str, table: str, frame: pl.DataFrame) -> float:
    """Bulk-load ``frame`` into ``table`` (ADBC COPY, 1M-row chunks); returns seconds."""
    import adbc_driver_postgresql.dbapi as pg

    start = time.perf_counter()
    with pg.connect(dsn) as conn, conn.cursor() as cur:
        for i, chunk in enumerate(frame.iter_slices(1_000_000)):
            cur.adbc_ingest(table, chunk.to_arrow(), mode="replace" if i == 0 else "append")
        conn.commit()
    with pg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - start


def peak_rss_mib() -> int:
    """This process's peak RSS since its ``exec`` (``VmHWM``; ``ru_maxrss`` would carry the
    parent's peak over the fork), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure(kind: str, spool: Path) -> dict[str, Any]:
    """One measurement in this (child) process; the DSN comes from ``$DECAY_BENCH_PG_DSN``."""
    import adbc_driver_postgresql.dbapi as pg
    import connectorx as cx
    import psycopg

    from core.config import load_config
    from ingest.load import load_tables
    from ingest.postgres import PostgresSource, spool_table
    from ingest.read import scan_table

    dsn = os.environ[ENV]
    start = time.perf_counter()  # after the imports: they are not the reader's work
    rows: int
    extra: dict[str, Any] = {}
    if kind == "copy_text":
        nbytes = 0
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            with cur.copy("COPY events TO STDOUT") as copy:
                for block in copy:
                    nbytes += len(block)
            cur.execute("SELECT count(*) FROM events")
            rows = int(cur.fetchone()[0])  # type: ignore[index]
        extra["mib"] = round(nbytes / 2**20)
        seconds = time.perf_counter() - start  # the count(*) is not part of COPY's time
    elif kind == "ours_spool":
        _, _, rows = spool_table("events", "events", PostgresSource(ENV, spool))
        seconds = time.perf_counter() - start
    elif kind == "ours_read":
        raw = scan_table("events", "events", None, {}, PostgresSource(ENV, spool))
        assert raw is not None
        frame = raw.frame.collect()
        rows = frame.height
        seconds = time.perf_counter() - start
        extra["spool_mib"] = round((spool / "events.parquet").stat().st_size / 2**20)
    elif kind == "ours_load":
        cfg = load_config(
            [
                "data=postgres",
                f"data.dsn_env={ENV}",
                "data.events=events",
                "data.accounts=accounts",
                "data.segments=[industry]",
                f"data.spool_dir={spool}",
            ]
        )
        tables = load_tables(cfg, spool / "quarantine", now=NOW)
        rows = tables.events.height
        seconds = time.perf_counter() - start
    elif kind == "adbc_arrow":
        with pg.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM events")
            frame = pl.from_arrow(cur.fetch_arrow_table())
        rows = frame.height  # type: ignore[union-attr]
        seconds = time.perf_counter() - start
    elif kind == "connectorx_arrow":
        frame = pl.from_arrow(cx.read_sql(dsn, "SELECT * FROM events", return_type="arrow"))
        rows = frame.height  # type: ignore[union-attr]
        seconds = time.perf_counter() - start
    else:
        raise SystemExit(f"unknown measurement {kind!r}; one of {KINDS}")
    return {
        "seconds": round(seconds, 2),
        "rows": rows,
        "rows_per_s": round(rows / seconds),
        "peak_rss_mib": peak_rss_mib(),
        **extra,
    }


def run_child(kind: str, dsn: str, spool: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.postgres_read",
            "--measure",
            kind,
            "--spool",
            str(spool),
        ],
        cwd=ROOT,
        env={**os.environ, ENV: dsn},  # the DSN by environment, never on a command line
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=1, help="runs per measurement (best kept)")
    ap.add_argument("--measure", choices=KINDS, help=argparse.SUPPRESS)
    ap.add_argument("--spool", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.spool)))
        return

    import adbc_driver_postgresql
    import connectorx

    from benchmarks.pgserver import pg_server

    events, accounts = demo_events(args.events)
    results: dict[str, Any] = {
        "events": events.height,
        "polars": pl.__version__,
        "adbc_driver_postgresql": adbc_driver_postgresql.__version__,
        "connectorx": connectorx.__version__,
    }
    with pg_server() as dsn, tempfile.TemporaryDirectory() as tmp:
        results["load_s"] = round(load(dsn, "events", events) + load(dsn, "accounts", accounts), 1)
        del events
        print(f"loaded {results['events']} events in {results['load_s']}s", flush=True)
        for kind in KINDS:
            best: dict[str, Any] | None = None
            for _ in range(args.repeats):
                got = run_child(kind, dsn, Path(tmp) / kind)
                best = got if best is None or got["seconds"] < best["seconds"] else best
            results[kind] = best
            print(kind, best, flush=True)
    floor = results["copy_text"]["rows_per_s"]
    results["ours_read_vs_copy"] = round(results["ours_read"]["rows_per_s"] / floor, 2)
    results["ours_load_vs_copy"] = round(results["ours_load"]["rows_per_s"] / floor, 2)
    results["connectorx_vs_adbc"] = round(
        results["connectorx_arrow"]["rows_per_s"] / results["adbc_arrow"]["rows_per_s"], 2
    )
    results["target_ours_read_vs_copy"] = 0.5
    # The machine is shared: the load average says how noisy these numbers are.
    results["load_avg_1m"] = round(os.getloadavg()[0], 2)
    results["cpus"] = os.cpu_count()
    out = Path(__file__).parent / "results" / "postgres_read.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
