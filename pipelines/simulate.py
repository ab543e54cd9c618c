"""`decay-simulate`: write the demo data (events, users, accounts, truth parquet) to ``data.dir``.

Thin wrapper: the simulation lives in ``simulator``; this entry point reads the config, writes
each table atomically (a failed run leaves the previous demo data intact) and prints a summary.
Example: ``python -m pipelines.simulate simulate.accounts=200 data.dir=/tmp/demo``.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import cast

import hydra
import polars as pl
from omegaconf import DictConfig

from core.atomic import write_parquet
from core.cli import console, job
from core.config import CONF_DIR  # importing core.config registers the schema
from core.logs import get_logger
from simulator import Simulation, simulate, spec_from_config

log = get_logger(__name__)


def write_simulation(sim: Simulation, data_dir: str | Path) -> dict[str, Path]:
    """Write the four tables as ``<data_dir>/<name>.parquet`` (each atomically), plus the
    adoption map's ground truth (``map_truth``, ``ttv_truth``) when behaviours were planted."""
    out = Path(data_dir)
    paths = {}
    names = ["events", "users", "accounts", "truth"]
    names += [n for n in ("map_truth", "ttv_truth") if not getattr(sim, n).is_empty()]
    for name in names:
        paths[name] = write_parquet(getattr(sim, name), out / f"{name}.parquet")
        log.info("wrote %s: %d rows -> %s", name, getattr(sim, name).height, paths[name])
    return paths


def summary(sim: Simulation) -> str:
    """A few human-readable lines: sizes, date range, label base rate, planted causes."""
    ev, tr = sim.events, sim.truth
    first = cast(datetime, ev["timestamp"].min())
    last = cast(datetime, ev["timestamp"].max())
    causes = (
        tr.filter(pl.col("cause") != "none")
        .group_by("cause")
        .agg(pl.len())
        .sort("len", descending=True)
    )
    cause_txt = ", ".join(f"{c} {n}" for c, n in causes.iter_rows()) or "none"
    churned = sim.accounts["churned_at"].is_not_null().sum()
    mean_prob = cast(float | None, tr["oracle_prob"].mean())
    lines = [
        f"accounts: {sim.accounts.height} ({churned} churned)   users: {sim.users.height}   "
        f"events: {ev.height:,} ({ev['event'].n_unique()} types)",
        f"events from {first} to {last}",
        f"truth: {tr.height} account-cutoffs over {tr['cutoff'].n_unique()} cutoffs; "
        f"mean oracle_prob {mean_prob if mean_prob is None else round(float(mean_prob), 4)}, "
        f"realised usage_drop rate {sim.realised_label_rate:.4f}",
        f"causes (account-cutoffs): {cause_txt}",
    ]
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    started = time.perf_counter()
    spec = spec_from_config(cfg)
    log.info(
        "simulate: %d accounts, %d days to %s, seed %d, %d truth cutoffs, %d replays",
        spec.accounts,
        spec.days,
        spec.end_date,
        spec.seed,
        len(spec.cutoffs),
        spec.oracle_replays,
    )
    sim = simulate(spec)
    write_simulation(sim, cfg.data.dir)
    elapsed = time.perf_counter() - started
    log.info(
        "simulate finished in %.1fs (%s)",
        elapsed,
        ", ".join(f"{k} {v:.1f}" for k, v in sim.elapsed_s.items()),
    )
    print(summary(sim))
    print(f"written to {Path(cfg.data.dir).resolve()} in {elapsed:.0f}s")


#: The console script (pyproject): Hydra's config errors exit 2 like the job's own.
main = console(_main)

if __name__ == "__main__":
    main()
