"""Benchmark (not a test): ``report.render.render_report`` for 10k accounts.

Writes ``benchmarks/results/report_render.json`` with wall and CPU time, accounts per second,
the size of the index and of an average account page, total bytes written and peak RSS. CPU time
is reported next to wall time because the machine is shared: wall time includes waiting for disk
and for other people's processes.

Usage: ``.venv/bin/python benchmarks/report_render.py [--accounts 10000] [--seed 42]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from report.render import render_report
from report.sample import sample_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    inputs = sample_inputs(args.accounts, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        out = Path(tmp) / "report"
        render_report(out, **{**inputs, "scores": inputs["scores"].head(50)})  # warm templates
        wall0, cpu0 = time.perf_counter(), time.process_time()
        index = render_report(out, **inputs)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        pages = list((out / "accounts").iterdir())
        page_bytes = sum(p.stat().st_size for p in pages)
        result = {
            "accounts": args.accounts,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "accounts_per_s_wall": round(args.accounts / wall),
            "accounts_per_s_cpu": round(args.accounts / cpu),
            "index_mib": round(index.stat().st_size / 2**20, 2),
            "account_page_kib_mean": round(page_bytes / len(pages) / 1024, 1),
            "total_mib": round((page_bytes + index.stat().st_size) / 2**20, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    dest = Path(__file__).resolve().parent / "results" / "report_render.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
