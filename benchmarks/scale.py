"""Benchmark: where time and memory go in ``decay-features`` as the event log grows (issue 13).

``python -m benchmarks.scale [--events 10M,30M] [--layout hive,flat] [--chunk-accounts 0,8]
[--allow-100m]``

The demo world (``data/demo``, written by ``decay-simulate`` when missing) is replicated with
renamed account and user ids (copy ``k`` of account ``a`` is ``a~r<k>``; the last copy takes
only as many whole accounts as reach the wanted event count), so every copy has the demo's
shape and the log grows in accounts, not in depth. The events are written as a hive-partitioned
dataset (``events/month=YYYY-MM/part-<k>.parquet``), read the way a warehouse export would be,
or (``--layout flat``) as one ``events.parquet``; ``--layout hive,flat`` measures both.
``--chunk-accounts 0,8`` also builds with ``features.chunk_accounts=8`` (0: unchunked).

Each size runs ``pipelines.features.features_job`` (validate, profile, build, write; 52 weekly
cutoffs) once in a child process that samples its own RSS with psutil every 10 ms and records
the peak and the time of each stage: ``ingest`` (read + validate), ``profile``, ``defaults``
(the build's data defaults), ``engine`` (the window engine's day tables), ``families`` (eligible
rows, window samples, indicators), ``labels``, ``finish`` (constant features dropped) and
``write``. Stage boundaries come from wrapping the functions the job calls, not from edits to
them. The parent writes ``benchmarks/results/scale.json`` with each run's ratios to the first
size with the same layout and chunking (10M, the reference, measured in the same run).
Targets (issue 13, at 100M): time <= 12x the 10M run, peak < 8 GiB. ``make bench`` runs
``--events 10M,30M --chunk-accounts 16``; ``make bench-100m`` the 100M case.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"
RESULT = Path(__file__).resolve().parent / "results" / "scale.json"
GIB = 1024**3
CUTOFFS = 52
SEGMENTS = "[industry,size_tier,use_case]"


def parse_count(text: str) -> int:
    """``10M`` / ``500k`` / ``12000000`` as an integer event count."""
    text = text.strip().lower()
    scale = {"k": 10**3, "m": 10**6, "g": 10**9}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def ensure_demo() -> None:
    """Simulate the demo world only when its events are missing."""
    if not (DEMO / "events.parquet").exists():
        subprocess.run([str(Path(sys.executable).parent / "decay-simulate")], cwd=ROOT, check=True)


def replicate(
    n_events: int, out: Path, layout: str = "hive", source: Path = DEMO
) -> dict[str, int]:
    """Write ``out/{events/month=*/part-<k>.parquet, users.parquet, accounts.parquet}``
    (``layout="flat"``: the same events as one ``out/events/events.parquet``) from the world
    in ``source`` (``events.parquet`` or an ``events/`` folder, users and accounts)."""
    flat = source / "events.parquet"
    events = pl.read_parquet(flat if flat.exists() else source / "events" / "*.parquet")
    users = pl.read_parquet(source / "users.parquet")
    accounts = pl.read_parquet(source / "accounts.parquet")
    per_account = events.group_by("account_id").len().sort("account_id")
    copies = math.ceil(n_events / events.height)
    months = events.with_columns(pl.col("timestamp").dt.strftime("%Y-%m").alias("_month"))
    parts = months.partition_by("_month", as_dict=True, include_key=False)
    acc_parts, user_parts, written = [], [], 0
    for k in range(copies):
        left = n_events - written
        if left >= events.height:
            keep = None
        else:  # whole accounts, in id order, up to the events still wanted
            cum = per_account.with_columns(pl.col("len").cum_sum().alias("cum"))
            keep = cum.filter(pl.col("cum") <= left)["account_id"].implode()

        def rename(df: pl.DataFrame, k: int = k, keep: Any = keep) -> pl.DataFrame:
            if keep is not None:
                df = df.filter(pl.col("account_id").is_in(keep))
            cols = [c for c in ("account_id", "user_id") if c in df.columns]
            return df.with_columns(pl.col(c) + f"~r{k}" for c in cols)

        for (month,), part in parts.items():
            chunk = rename(part)
            if chunk.height:
                folder = out / "events" / f"month={month}"
                folder.mkdir(parents=True, exist_ok=True)
                chunk.write_parquet(folder / f"part-{k:03d}.parquet")
                written += chunk.height
        acc_parts.append(rename(accounts))
        user_parts.append(rename(users))
    if layout == "flat":
        flat = out / "events" / "events.parquet"
        pl.scan_parquet(str(out / "events" / "month=*" / "*.parquet")).sink_parquet(flat)
        for folder in (out / "events").glob("month=*"):
            shutil.rmtree(folder)
    pl.concat(acc_parts).write_parquet(out / "accounts.parquet")
    pl.concat(user_parts).write_parquet(out / "users.parquet")
    return {"events": written, "accounts": sum(p.height for p in acc_parts), "copies": copies}


class Stages:
    """The current stage's name, its start, and the peak RSS sampled while it ran."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.current = "start"
        self.started = time.perf_counter()
        self.times: dict[str, float] = {}
        self.peaks: dict[str, int] = {}
        self.baseline = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = self._proc.memory_info().rss
            self.peaks[self.current] = max(self.peaks.get(self.current, 0), rss)
            time.sleep(0.01)

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        rss = self._proc.memory_info().rss
        self.peaks[self.current] = max(self.peaks.get(self.current, 0), rss)
        self.times[self.current] = self.times.get(self.current, 0.0) + now - self.started
        self.current, self.started = name, now
        self.peaks[name] = max(self.peaks.get(name, 0), rss)

    def stop(self) -> None:
        self.mark("end")
        self._stop.set()
        self._thread.join()


def wrap(module: Any, attr: str, stages: Stages, name: str, after: str) -> None:
    """Replace ``module.attr`` so its calls run as stage ``name``, followed by ``after``."""
    original: Callable[..., Any] = getattr(module, attr)

    def timed(*args: Any, **kwargs: Any) -> Any:
        stages.mark(name)
        try:
            return original(*args, **kwargs)
        finally:
            stages.mark(after)

    setattr(module, attr, timed)


def child(data: Path, out: Path, chunks: int) -> None:
    """Run ``features_job`` on ``data`` with stage marks; print one JSON line."""
    import ingest.defaults
    import ingest.load
    import pipelines.common
    from core.config import load_config
    from features import build
    from pipelines.features import features_job

    cfg = load_config(
        [
            f"data.events='{data / 'events'}'",
            f"data.users='{data / 'users.parquet'}'",
            f"data.accounts='{data / 'accounts.parquet'}'",
            f"data.segments={SEGMENTS}",
            f"snapshot.count={CUTOFFS}",
            "snapshot.every_days=7",
            f"output.dir='{out}'",
            *([f"features.chunk_accounts={chunks}"] if chunks else []),
        ]
    )
    stages = Stages()
    wrap(pipelines.common, "load_tables", stages, "ingest", "profile")
    wrap(ingest.load, "load_spooled_tables", stages, "ingest", "profile")
    wrap(ingest.defaults, "profile_for", stages, "profile", "defaults")
    wrap(build, "build_engine", stages, "engine", "families")
    wrap(build, "build_labels", stages, "labels", "finish")
    wrap(pipelines.common, "write_dataset", stages, "write", "summary")
    t0 = time.perf_counter()
    stages.mark("start")
    dataset, catalogue = features_job(cfg)
    total = time.perf_counter() - t0
    stages.stop()
    order = ["ingest", "profile", "defaults", "engine", "families", "labels", "finish", "write"]
    print(
        json.dumps(
            {
                "total_s": round(total, 2),
                "baseline_rss_gib": round(stages.baseline / GIB, 3),
                "stages": {
                    s: {
                        "s": round(stages.times.get(s, 0.0), 2),
                        "peak_rss_gib": round(stages.peaks.get(s, 0) / GIB, 3),
                    }
                    for s in order
                },
                "rows": dataset.height,
                "features": len(catalogue),
            }
        )
    )


def run_size(n_events: int, work: Path, layout: str, chunks: int) -> dict[str, Any]:
    data, out = work / f"data-{n_events}-{layout}", work / f"out-{n_events}-{layout}"
    t0 = time.perf_counter()
    shape = replicate(n_events, data, layout)
    prep = time.perf_counter() - t0
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--child", str(data), str(out), str(chunks)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode != 0:
        raise SystemExit(f"child failed for {n_events} events:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(shape)
    result["layout"] = layout
    result["chunk_accounts"] = chunks or None
    result["prepare_s"] = round(prep, 2)
    # The child's own samples: ru_maxrss of children is no cross-check here, since it counts
    # the parent's pages at fork time (the parent has just held the replicated demo).
    result["peak_rss_gib"] = max(s["peak_rss_gib"] for s in result["stages"].values())
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="10M,30M", help="comma-separated sizes (first: ref)")
    parser.add_argument("--layout", default="hive", help="hive, flat or both: hive,flat")
    parser.add_argument("--allow-100m", action="store_true", help="permit sizes above 50M")
    parser.add_argument("--chunk-accounts", default="0", help="0 (unchunked) and/or N: 0,8")
    parser.add_argument("--child", nargs=3, metavar=("DATA", "OUT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
        return
    sizes = [parse_count(s) for s in args.events.split(",")]
    layouts = [s.strip() for s in args.layout.split(",")]
    if not set(layouts) <= {"hive", "flat"}:
        raise SystemExit(f"--layout: hive and/or flat, got {args.layout!r}")
    chunkings = [int(c) for c in args.chunk_accounts.split(",")]
    if max(sizes) > 50_000_000 and not args.allow_100m:
        raise SystemExit("sizes above 50M need --allow-100m (the machine may be shared)")
    ensure_demo()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="decay-scale-") as tmp:
        for layout in layouts:
            for chunks in chunkings:
                for n in sizes:
                    print(f"scale: {n:,} events, {layout}, chunks {chunks} ...", flush=True)
                    runs.append(run_size(n, Path(tmp), layout, chunks))
                    print(json.dumps(runs[-1]), flush=True)
    for r in runs:
        same = ("layout", "chunk_accounts")
        ref = next(q for q in runs if all(q[k] == r[k] for k in same))
        r["ratio_vs_ref"] = {
            "events": round(r["events"] / ref["events"], 3),
            "time": round(r["total_s"] / ref["total_s"], 3),
            "peak_rss": round(r["peak_rss_gib"] / ref["peak_rss_gib"], 3),
        }
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "polars": pl.__version__,
        "cutoffs": CUTOFFS,
        "reference_events": runs[0]["events"],
        "targets_at_100m": {"time_vs_10m": 12, "peak_rss_gib": 8},
        "runs": runs,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
