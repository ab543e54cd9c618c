"""Benchmark: the whole pipeline at 1M, 10M (and 100M) events, engine=local against engine=dask.

``python -m benchmarks.pipeline_scale [--events 1M,10M] [--engines local,dask] [--allow-100m]``

For each size, in one run:

* **simulate**: ``decay-simulate`` with ``simulate.accounts`` sized to the wanted event count
  (about 5,000 events per account over 540 days; the truth oracle at 2 replays). A size above
  20M is instead the largest simulated world replicated with renamed ids
  (``benchmarks.scale.replicate``: the same accounts' shapes, more of them), because the
  simulator holds its whole log in memory; its time is then the replication's.
* **features**, **train**, **score**, **explain**: the console scripts as a scheduler runs them
  (``python -m pipelines.<step>``), once per engine on the same data: ``engine=local`` with
  ``features.chunk_accounts=16`` (the bounded-memory build: docs/scaling.md) and
  ``engine=dask`` (a LocalCluster of 2 workers x 1 thread). ``decay-train`` trains with the
  configured parameters (no tuning) and one backtest origin; ``decay-score`` scores the last
  cutoff; ``decay-explain`` explains the first scored account.

Each step's wall time and the peak RSS of its whole process tree (the job and, with Dask, its
scheduler and worker processes), sampled every 50 ms with psutil, and events per second.
Ratios: dask / local per step and size, and each size against the first (the reference) per
engine. Writes ``benchmarks/results/pipeline_scale.json`` and prints the README table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.scale import GIB, parse_count, replicate

ROOT = Path(__file__).resolve().parent.parent
RESULT = Path(__file__).resolve().parent / "results" / "pipeline_scale.json"
EVENTS_PER_ACCOUNT = 5100  # the simulator's default world over 540 days
MAX_SIMULATED = 20_000_000
STEPS = ("features", "train", "score", "explain")
ENGINES = {
    "local": ["engine=local", "features.chunk_accounts=16"],
    "dask": ["engine=dask", "engine.n_workers=2", "engine.threads_per_worker=1"],
}


def _tree_rss(proc: Any) -> int:
    """RSS of a process and all its descendants (Dask workers are grandchildren)."""
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def measure(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Run ``cmd``; wall seconds and the peak RSS of its process tree. Raises on failure."""
    import psutil

    started = time.perf_counter()
    popen = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"},
    )
    peak = [0]
    proc = psutil.Process(popen.pid)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], _tree_rss(proc))
            except psutil.NoSuchProcess:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = popen.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    if popen.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd[2:5])} ... exited {popen.returncode}\n{out[-2000:]}\n{err[-4000:]}"
        )
    return {"s": round(seconds, 2), "peak_rss_gib": round(peak[0] / GIB, 3), "stdout": out}


def _world_overrides(work: Path, data: Path, name: str) -> list[str]:
    out = work / f"out-{name}"
    return [
        f"data.dir={data}",
        f"data.events='{data / 'events'}'",
        f"data.users='{data / 'users.parquet'}'",
        f"data.accounts='{data / 'accounts.parquet'}'",
        f"output.dir={out}",
        f"mlflow.tracking_uri=sqlite:///{out}/mlflow.db",
        f"mlflow.artifact_location={out}/artifacts",
        f"hydra.run.dir={out}/logs/${{hydra.job.name}}",
        "backtest.origins=1",
        "score.report=false",
    ]


def _as_folder(data: Path) -> None:
    """``events.parquet`` -> ``events/events.parquet`` (one layout for simulated and
    replicated worlds)."""
    flat = data / "events.parquet"
    if flat.exists():
        (data / "events").mkdir(exist_ok=True)
        flat.rename(data / "events" / "events.parquet")


def simulate(n_events: int, data: Path, simulated: dict[int, Path]) -> dict[str, Any]:
    """The world of ``n_events`` in ``data``: simulated, or replicated from the largest one."""
    if n_events > MAX_SIMULATED:
        if not simulated:  # the largest world the simulator makes, as the source
            simulate(MAX_SIMULATED // 2, data.parent / "data-source", simulated)
        source = max(simulated)
        started = time.perf_counter()
        shape = replicate(n_events, data, "hive", source=simulated[source])
        return {
            "s": round(time.perf_counter() - started, 2),
            "how": f"replicated from the simulated {source:,}-event world",
            "events": shape["events"],
        }
    accounts = max(20, round(n_events / EVENTS_PER_ACCOUNT))
    cmd = [
        sys.executable,
        "-m",
        "pipelines.simulate",
        f"data.dir={data}",
        f"simulate.accounts={accounts}",
        "simulate.oracle_replays=2",
        f"hydra.run.dir={data}/logs",
    ]
    result = measure(cmd, ROOT)
    result.pop("stdout")
    events = pl.scan_parquet(data / "events.parquet").select(pl.len()).collect().item()
    _as_folder(data)
    simulated[int(events)] = data
    return {**result, "how": f"decay-simulate, {accounts} accounts", "events": int(events)}


def first_account(out: Path) -> str:
    scores = sorted((out / "scores").glob("as_of=*/scores.parquet"))
    return str(pl.read_parquet(scores[-1])["account_id"][0])


def run_engine(work: Path, data: Path, n: int, engine: str) -> dict[str, Any]:
    name = f"{n}-{engine}"
    base = [*_world_overrides(work, data, name), *ENGINES[engine]]
    steps: dict[str, Any] = {}
    for step in STEPS:
        extra = [f"account_id={first_account(work / f'out-{name}')}"] if step == "explain" else []
        cmd = [sys.executable, "-m", f"pipelines.{step}", *base, *extra]
        print(f"pipeline_scale: {n:,} events, {engine}: {step} ...", flush=True)
        result = measure(cmd, ROOT)
        result.pop("stdout")
        steps[step] = result
    rows = pl.scan_parquet(work / f"out-{name}" / "dataset.parquet").select(pl.len()).collect()
    shutil.rmtree(work / f"out-{name}", ignore_errors=True)
    return {"steps": steps, "dataset_rows": int(rows.item())}


def table(result: dict[str, Any]) -> str:
    """The README table: one row per size and engine."""
    head = "| events | engine | " + " | ".join(f"{s} s / GiB" for s in ("simulate", *STEPS))
    head += " | features events/s |\n|---|---|" + "---|" * (len(STEPS) + 2) + "\n"
    lines = []
    for size in result["sizes"]:
        sim = size["simulate"]
        for engine, run in size["engines"].items():
            cells = [
                f"{sim['s']:.0f}"
                + (f" / {sim['peak_rss_gib']:.1f}" if "peak_rss_gib" in sim else "")
            ]
            cells += [
                f"{run['steps'][s]['s']:.0f} / {run['steps'][s]['peak_rss_gib']:.1f}" for s in STEPS
            ]
            eps = size["events"] / run["steps"]["features"]["s"]
            lines.append(
                f"| {size['events']:,} | {engine} | " + " | ".join(cells) + f" | {eps:,.0f} |"
            )
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1M,10M", help="comma-separated sizes (first: ref)")
    parser.add_argument("--engines", default="local,dask", help="local and/or dask")
    parser.add_argument("--allow-100m", action="store_true", help="permit sizes above 50M")
    parser.add_argument(
        "--append",
        action="store_true",
        help="add these sizes to the sizes already in the results file (the reference stays "
        "the first size measured; the 100M case after a 1M,10M run)",
    )
    args = parser.parse_args()
    sizes = [parse_count(s) for s in args.events.split(",")]
    engines = [e.strip() for e in args.engines.split(",")]
    if not set(engines) <= set(ENGINES):
        raise SystemExit(f"--engines: {sorted(ENGINES)}, got {args.engines!r}")
    if max(sizes) > 50_000_000 and not args.allow_100m:
        raise SystemExit("sizes above 50M need --allow-100m (many minutes, about 8 GiB)")
    out: list[dict[str, Any]] = []
    if args.append and RESULT.exists():
        out = [
            size
            for size in json.loads(RESULT.read_text(encoding="utf-8"))["sizes"]
            if size["wanted"] not in sizes
        ]
    simulated: dict[int, Path] = {}
    with tempfile.TemporaryDirectory(prefix="decay-pipeline-") as tmp:
        work = Path(tmp)
        for n in sizes:
            data = work / f"data-{n}"
            print(f"pipeline_scale: {n:,} events: simulate ...", flush=True)
            sim = simulate(n, data, simulated)
            size = {"wanted": n, "events": sim["events"], "simulate": sim, "engines": {}}
            for engine in engines:
                size["engines"][engine] = run_engine(work, data, n, engine)
            out.append(size)
            print(json.dumps(size), flush=True)
    ref = out[0]
    for size in out:
        for run in size["engines"].values():
            run.pop("vs_local", None)
            run.pop("vs_reference", None)
        for engine, run in size["engines"].items():
            if "local" in size["engines"] and engine != "local":
                local = size["engines"]["local"]["steps"]
                run["vs_local"] = {
                    s: {
                        "time": round(run["steps"][s]["s"] / local[s]["s"], 3),
                        "peak_rss": round(
                            run["steps"][s]["peak_rss_gib"] / local[s]["peak_rss_gib"], 3
                        ),
                    }
                    for s in STEPS
                }
            if engine in ref["engines"]:
                first = ref["engines"][engine]["steps"]
                run["vs_reference"] = {
                    "events": round(size["events"] / ref["events"], 2),
                    **{
                        s: {
                            "time": round(run["steps"][s]["s"] / first[s]["s"], 2),
                            "peak_rss": round(
                                run["steps"][s]["peak_rss_gib"] / first[s]["peak_rss_gib"], 2
                            ),
                        }
                        for s in STEPS
                    },
                }
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "engines": ENGINES,
        "sizes": out,
    }
    result["table"] = table(result)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(result["table"])
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
