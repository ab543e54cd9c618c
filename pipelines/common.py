"""Small helpers shared by the console scripts: output paths, loading tables, the cached dataset.

``load_or_build_dataset`` is how ``decay-train`` / ``decay-tune`` get their training data: the
dataset written by ``decay-features`` is reused when its sidecar ``dataset.meta.json`` holds the
same config fingerprint (``features.build.dataset_fingerprint``), otherwise it is rebuilt and
written (atomically) so the next step can reuse it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from core.atomic import write_parquet, write_text
from core.progress import step

log = logging.getLogger("adoption_decay")

DATASET = "dataset.parquet"
META = "dataset.meta.json"
CATALOGUE = "feature_catalogue.yaml"


def output_dir(cfg: Any) -> Path:
    """``${output.dir}`` as a Path (created if missing)."""
    out = Path(str(cfg.output.dir))
    out.mkdir(parents=True, exist_ok=True)
    return out


def load_tables(cfg: Any) -> Any:
    """Validated canonical tables (``ingest.load.load_tables``); rejects go to ``quarantine/``."""
    from ingest.load import load_tables as _load  # lazy: ingest is optional at import time

    return _load(cfg, output_dir(cfg) / "quarantine")


def write_dataset(dataset: pl.DataFrame, catalogue: dict[str, Any], cfg: Any) -> Path:
    """Write dataset.parquet, feature_catalogue.yaml and dataset.meta.json (last: it validates
    the other two) atomically under ``${output.dir}``; returns the dataset path."""
    from features.build import dataset_fingerprint

    out = output_dir(cfg)
    path = write_parquet(dataset, out / DATASET)
    write_text(yaml.safe_dump(catalogue, sort_keys=False, allow_unicode=True, width=120),
               out / CATALOGUE)
    meta = {"fingerprint": dataset_fingerprint(cfg), "rows": dataset.height,
            "columns": dataset.columns}
    write_text(json.dumps(meta, indent=2), out / META)
    return path


def read_catalogue(cfg: Any) -> dict[str, Any]:
    """The rendered catalogue written next to the dataset (empty if missing)."""
    path = output_dir(cfg) / CATALOGUE
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def cached_dataset_is_current(cfg: Any) -> bool:
    """True when dataset.parquet, its catalogue and a meta file with today's fingerprint exist."""
    from features.build import dataset_fingerprint

    out = Path(str(cfg.output.dir))
    meta = out / META
    if not ((out / DATASET).exists() and (out / CATALOGUE).exists() and meta.exists()):
        return False
    try:
        stored = json.loads(meta.read_text(encoding="utf-8")).get("fingerprint")
    except json.JSONDecodeError:
        return False
    return stored == dataset_fingerprint(cfg)


def load_or_build_dataset(cfg: Any) -> tuple[pl.DataFrame, dict[str, Any]]:
    """(dataset, catalogue): reuse ``${output.dir}/dataset.parquet`` when its fingerprint matches
    the config, else load the tables, build, write and return it."""
    from features.build import build_dataset

    out = output_dir(cfg)
    if cached_dataset_is_current(cfg):
        log.info("reusing %s (same config fingerprint)", out / DATASET)
        return pl.read_parquet(out / DATASET), read_catalogue(cfg)
    with step("load tables", log):
        tables = load_tables(cfg)
    with step("build features and labels", log):
        dataset, catalogue = build_dataset(tables, cfg)
    path = write_dataset(dataset, catalogue, cfg)
    log.info("wrote %s (%d rows, %d columns) and %s", path, dataset.height, dataset.width,
             out / CATALOGUE)
    return dataset, catalogue
