"""Benchmark: simulate ~10M events (default world, 540 days) and time each stage.

``python -m benchmarks.simulate_bench [--accounts N] [--days D] [--replays R] [--cutoffs K]``

Reports events/second and events/minute of the event generation (accounts, rosters, mechanisms,
active user-days, events and canonical frames; target >= 10M events per minute), the truth
oracle's time for the default 52 weekly cutoffs, the total wall time and the peak RSS, to
``benchmarks/results/simulate.json``. Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil

from simulator import LabelSpec, SimulationSpec, simulate

RESULT = Path(__file__).resolve().parent / "results" / "simulate.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=2100)
    parser.add_argument("--days", type=int, default=540)
    parser.add_argument("--replays", type=int, default=200)
    parser.add_argument("--cutoffs", type=int, default=52)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    end = date(2026, 11, 1)
    spec = SimulationSpec(
        accounts=args.accounts,
        days=args.days,
        seed=args.seed,
        end_date=end,
        cutoffs=tuple(end - timedelta(days=7 * k) for k in range(args.cutoffs)),
        label=LabelSpec(),
        oracle_replays=args.replays,
    )
    started = time.perf_counter()
    sim = simulate(spec)
    wall = time.perf_counter() - started
    gen_s = sim.elapsed_s["entities_s"] + sim.elapsed_s["events_s"]
    n = sim.events.height
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0],
            "total_ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        },
        "params": vars(args),
        "events": n,
        "users": sim.users.height,
        "truth_rows": sim.truth.height,
        "generation_wall_s": round(gen_s, 2),
        "events_per_second": round(n / gen_s),
        "events_per_minute": round(60 * n / gen_s),
        "target_events_per_minute": 10_000_000,
        "meets_target": 60 * n / gen_s >= 10_000_000,
        "truth_oracle_s": round(sim.elapsed_s["truth_s"], 2),
        "total_wall_s": round(wall, 2),
        "peak_rss_gib": round(peak / 2**30, 3),
        "stage_s": {k: round(v, 2) for k, v in sim.elapsed_s.items()},
        "mean_oracle_prob": sim.truth["oracle_prob"].mean(),
        "realised_label_rate": sim.realised_label_rate,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
