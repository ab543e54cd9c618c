"""Benchmark (not a test): ``ingest.load.load_tables`` on 10M parquet events and 2M CSV events.

Writes ``benchmarks/results/ingest_load.json`` with wall time, rows per second and peak RSS for
each case, next to the time of one plain polars group-by pass over the same parquet events
measured in the same run (the floor any validation pass is compared with).

Usage: ``.venv/bin/python benchmarks/ingest_load.py [--events 10000000] [--csv-events 2000000]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from core.config import load_config
from ingest.load import load_tables

EVENTS = [
    "login",
    "dashboard_viewed",
    "report_created",
    "workflow_completed",
    "api_call",
    "export",
    "user_invited",
    "integration_synced",
    "support_ticket_opened",
]
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def make_events(n: int, accounts: int, seed: int) -> pl.DataFrame:
    """Synthetic events over 600 days from 2025-01-01 (naive timestamps), with 0.1% null
    account ids, 0.1% unknown accounts and 0.1% future timestamps (quarantine path exercised)."""
    rnd = pl.lit(pl.int_range(0, n, eager=True).shuffle(seed=seed))
    bad = pl.int_range(0, n) % 1000
    account = pl.format("acc_{}", rnd % accounts)
    ts = pl.lit(datetime(2025, 1, 1)) + pl.duration(seconds=(rnd * 7919) % (600 * 86400))
    return pl.select(
        pl.when(bad == 1)
        .then(None)
        .when(bad == 2)
        .then(pl.lit("acc_unknown"))
        .otherwise(account)
        .alias("account_id"),
        pl.format("u_{}", rnd % (accounts * 8)).alias("user_id"),
        pl.lit(pl.Series(EVENTS)).gather(rnd % len(EVENTS)).alias("event"),
        pl.when(bad == 3).then(pl.lit(datetime(2099, 1, 1))).otherwise(ts).alias("timestamp"),
        (rnd % 100).cast(pl.Float64).alias("value"),
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--csv-events", type=int, default=2_000_000)
    ap.add_argument("--accounts", type=int, default=20_000)
    args = ap.parse_args()
    results: dict[str, object] = {
        "events": args.events,
        "csv_events": args.csv_events,
        "accounts": args.accounts,
        "polars": pl.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        accounts = pl.select(
            pl.format("acc_{}", pl.int_range(0, args.accounts)).alias("account_id"),
            pl.lit(datetime(2024, 6, 1)).alias("created_at"),
            pl.lit("saas").alias("industry"),
        )
        accounts.write_parquet(root / "accounts.parquet")
        events = make_events(args.events, args.accounts, seed=42)
        events.write_parquet(root / "events.parquet")
        events.head(args.csv_events).write_csv(root / "events.csv")
        del events

        _, t_group = timed(
            lambda: (
                pl.scan_parquet(root / "events.parquet")
                .group_by("account_id")
                .agg(pl.len(), pl.col("timestamp").max())
                .collect(engine="streaming")
            )
        )
        results["groupby_pass_s"] = round(t_group, 3)

        for name, path, fmt_over in (
            ("parquet", "events.parquet", []),
            ("csv", "events.csv", ["data.timezone=Europe/Paris"]),
        ):
            cfg = load_config(
                [
                    f"data.events={root / path}",
                    "data.users=null",
                    f"data.accounts={root / 'accounts.parquet'}",
                    "data.segments=[industry]",
                    *fmt_over,
                ]
            )
            tables, secs = timed(lambda cfg=cfg: load_tables(cfg, root / "q", now=NOW))
            n = args.events if name == "parquet" else args.csv_events
            results[name] = {
                "wall_s": round(secs, 3),
                "rows_per_s": round(n / secs),
                "clean_rows": tables.events.height,
                "rejected_rows": pl.read_parquet(root / "q" / "events.parquet").height,
                "x_groupby_pass": round(secs / t_group, 1) if name == "parquet" else None,
                "peak_rss_mib_so_far": round(peak_rss_mib()),
            }
            del tables
            print(name, results[name], flush=True)
    # The machine is shared: the load average says how noisy these numbers are.
    results["load_avg_1m"] = round(os.getloadavg()[0], 2)
    out = Path(__file__).parent / "results" / "ingest_load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
