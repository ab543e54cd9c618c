"""`decay-features`: point-in-time features and labels for every snapshot cutoff.

Writes ``${output.dir}/dataset.parquet`` (+ ``dataset.meta.json``) and
``${output.dir}/feature_catalogue.yaml``, then prints a short summary: rows, accounts, cutoffs,
features per family, label base rate overall and per segment.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from typing import Any, cast

import hydra
import polars as pl
from omegaconf import DictConfig

from core.cli import console, job
from core.config import CONF_DIR  # importing core.config registers the schema
from core.logs import get_logger

log = get_logger(__name__)


def summary(dataset: pl.DataFrame, catalogue: dict[str, Any], cfg: DictConfig) -> str:
    """Human summary of a built dataset (what the console prints)."""
    fams = Counter(entry["family"] for entry in catalogue.values())
    labelled = dataset.filter(pl.col("label").is_not_null())
    rate = cast(float | None, labelled["label"].mean()) if labelled.height else None
    first, last = cast(date, dataset["cutoff"].min()), cast(date, dataset["cutoff"].max())
    lines = [
        f"rows {dataset.height} | accounts {dataset['account_id'].n_unique()} | "
        f"cutoffs {dataset['cutoff'].n_unique()} ({first} .. {last})",
        f"features {len(catalogue)}: " + ", ".join(f"{f} {n}" for f, n in fams.items()),
        f"label {cfg.label.name} (horizon {cfg.label.horizon_days}d): {labelled.height} labelled rows, "
        f"base rate {rate:.3f}"
        if rate is not None
        else f"label {cfg.label.name}: no labelled rows",
    ]
    seg: str | None = cfg.features.peer_segment
    if seg is not None and seg in dataset.columns and labelled.height:
        per = (
            labelled.group_by(seg)
            .agg(pl.len().alias("rows"), pl.col("label").mean().alias("rate"))
            .sort(seg)
        )
        lines.append(
            "per "
            + seg
            + ": "
            + ", ".join(
                f"{r[seg]} {r['rate']:.3f} ({r['rows']} rows)" for r in per.iter_rows(named=True)
            )
        )
    return "\n".join(lines)


def features_job(cfg: DictConfig) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Load tables, build dataset + catalogue, write them atomically; returns both."""
    from pipelines.common import CATALOGUE, build_and_write_dataset, output_dir

    started = time.perf_counter()
    dataset, catalogue, path = build_and_write_dataset(cfg)
    log.info("wrote %s and %s", path, output_dir(cfg) / CATALOGUE)
    print(summary(dataset, catalogue, cfg))
    print(f"dataset: {path} ({time.perf_counter() - started:.1f}s)")
    return dataset, catalogue


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    features_job(cfg)


#: The console script (pyproject): Hydra's config errors exit 2 like the job's own.
main = console(_main)

if __name__ == "__main__":
    main()
