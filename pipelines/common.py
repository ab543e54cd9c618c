"""Small helpers shared by the console scripts: output paths, loading tables, the cached dataset.

``load_or_build_dataset`` is how ``decay-train`` / ``decay-tune`` get their training data: the
dataset written by ``decay-features`` is reused when its sidecar ``dataset.meta.json`` holds the
same config fingerprint (``features.build.dataset_fingerprint``), otherwise it is rebuilt and
written (atomically) so the next step can reuse it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from omegaconf import DictConfig

from core.atomic import write_parquet, write_text
from core.logs import get_logger
from core.progress import step

log = get_logger(__name__)

DATASET = "dataset.parquet"
META = "dataset.meta.json"
CATALOGUE = "feature_catalogue.yaml"


def output_dir(cfg: DictConfig) -> Path:
    """``${output.dir}`` as a Path (created if missing)."""
    out = Path(cfg.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def load_tables(cfg: DictConfig) -> Any:
    """Validated canonical tables (``ingest.load.load_tables``); rejects go to ``quarantine/``."""
    from ingest.load import load_tables as _load  # lazy: ingest is optional at import time

    return _load(cfg, output_dir(cfg) / "quarantine")


PROFILE = "profile.json"
PROFILE_PAGE = "profile.html"


def load_profiled_tables(cfg: DictConfig) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(tables, profile, defaults): load and validate, profile the events ("profile first"),
    write ``${output.dir}/profile.json`` and ``profile.html``, and fill the settings the user
    left open from the profile (``ingest.defaults``: one log line each) into ``cfg`` in place."""
    tables = load_tables(cfg)
    profile, resolved = _profile(cfg, tables)
    return tables, profile, resolved


def _profile(cfg: DictConfig, tables: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Profile the events, write profile.json/html, fill the open settings into ``cfg``."""
    from ingest.defaults import apply_defaults, profile_for, resolve_defaults
    from report.profile import render_profile_page

    with step("profile the events", log):
        profile = profile_for(tables, cfg)
    out = output_dir(cfg)
    write_text(json.dumps(profile, indent=2, sort_keys=True) + "\n", out / PROFILE)
    render_profile_page(profile, out / PROFILE_PAGE)
    log.info("profile: %s (page %s)", out / PROFILE, out / PROFILE_PAGE)
    resolved = resolve_defaults(cfg, profile)
    apply_defaults(cfg, resolved)
    return profile, resolved


def streams(cfg: DictConfig) -> bool:
    """Whether the dataset is built from events validated per chunk of accounts on disk
    (``features.chunk_accounts`` set, or ``engine=dask``) instead of one events table."""
    from core.cluster import is_dask

    return cfg.features.chunk_accounts is not None or is_dask(cfg)


@dataclass
class JobData:
    """The validated tables of one job and where its chunks run.

    ``tables``: :class:`ingest.tables.Tables` (one events table), or
    :class:`ingest.tables.SpooledTables` when :func:`streams` (events on disk per chunk of
    accounts). ``client``: the Dask client with ``engine=dask``, else None. ``map_chunks``:
    how ``features.build`` builds chunks (None: here, one after the other)."""

    tables: Any
    client: Any
    map_chunks: Any
    #: What the profile filled into the config (``ingest.defaults.resolve_defaults``).
    resolved: dict[str, Any] = field(default_factory=dict)


@contextmanager
def job_data(cfg: DictConfig, profiled: bool = False) -> Iterator[JobData]:
    """Load (validate, quarantine; ``profiled``: and profile, filling the open settings into
    ``cfg``) the tables a job works on, for the duration of the job.

    With :func:`streams` the events are validated into a fresh folder under
    ``data.spool_dir`` (removed afterwards, also when the job fails), in
    ``features.chunk_accounts`` chunks, or as tasks on the cluster with ``engine=dask``
    (``engine.partitions`` chunks); polars then runs lazy queries on its streaming engine,
    so what reads the events (the profile, the report's usage panel, the nudges) never holds
    them whole."""
    import polars as pl

    from core.cluster import dask_client, is_dask, n_partitions, workers
    from ingest.load import load_spooled_tables
    from ingest.spool import SpoolRunner

    with ExitStack() as stack:
        client = stack.enter_context(dask_client(cfg)) if is_dask(cfg) else None
        if not streams(cfg):
            with step("load tables", log):
                if profiled:
                    tables, _, resolved = load_profiled_tables(cfg)
                    data = JobData(tables, client, None, resolved)
                else:
                    data = JobData(load_tables(cfg), client, None)
            yield data
            return
        folder = stack.enter_context(_spool_folder(cfg))
        stack.enter_context(pl.Config(engine_affinity="streaming"))
        quarantine = output_dir(cfg) / "quarantine"
        runner: SpoolRunner | None = None
        if client is None:
            n, mapper = int(cfg.features.chunk_accounts), None
        else:
            from features.distributed import ClusterSpoolRunner, chunk_mapper

            n = n_partitions(cfg, workers(client))
            runner, mapper = ClusterSpoolRunner(client), chunk_mapper(client)
        with step(f"load tables ({n} chunks of accounts)", log):
            spooled = load_spooled_tables(cfg, quarantine, folder, n, runner=runner)
            data = JobData(spooled, client, mapper)
            if profiled:
                _, data.resolved = _profile(cfg, spooled)
        yield data


@contextmanager
def _spool_folder(cfg: DictConfig) -> Iterator[Path]:
    """A fresh folder under ``data.spool_dir`` for this job's validated events, removed after
    (two jobs never share one)."""
    base = Path(cfg.data.spool_dir)
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="events-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def build_and_write_dataset(cfg: DictConfig) -> tuple[pl.DataFrame, dict[str, Any], Path]:
    """Load (validate, quarantine), profile, build features and labels, write the dataset:
    what ``decay-features`` does, and ``decay-train`` when the dataset is stale.

    With ``features.chunk_accounts=N`` the events are validated into N files by account
    (``ingest.spool``) and the build reads one at a time; with ``engine=dask`` the chunks are
    validated and built as tasks on the cluster (``features.distributed``). The dataset is the
    same in all three (docs/scaling.md)."""
    from features.build import build_dataset, dataset_fingerprint, drop_constant_features

    fingerprint = dataset_fingerprint(cfg)  # of the config as given, before data defaults
    with job_data(cfg, profiled=True) as data:
        resolved = data.resolved
        with step("build features and labels", log):
            built = build_dataset(data.tables, cfg, map_chunks=data.map_chunks)
            dataset, catalogue, _ = drop_constant_features(*built)
    return dataset, catalogue, write_dataset(dataset, catalogue, cfg, fingerprint, resolved)


def dataset_defaults(cfg: DictConfig) -> dict[str, Any]:
    """The data-driven defaults the cached dataset was built with (``dataset.meta.json``)."""
    meta = Path(cfg.output.dir) / META
    if not meta.exists():
        return {}
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("defaults") or {}
    except json.JSONDecodeError:
        return {}


def write_dataset(
    dataset: pl.DataFrame,
    catalogue: dict[str, Any],
    cfg: DictConfig,
    fingerprint: str | None = None,
    defaults: dict[str, Any] | None = None,
) -> Path:
    """Write dataset.parquet, feature_catalogue.yaml and dataset.meta.json (last: it validates
    the other two) atomically under ``${output.dir}``; returns the dataset path.

    ``fingerprint``: of the config as the user gave it (before data-driven defaults), so the
    next step, which starts from the same config, recognises the dataset; ``defaults``: what
    the profile filled in (``ingest.defaults``), applied again when the dataset is reused."""
    from features.build import dataset_fingerprint

    out = output_dir(cfg)
    path = write_parquet(dataset, out / DATASET)
    write_text(
        yaml.safe_dump(catalogue, sort_keys=False, allow_unicode=True, width=120), out / CATALOGUE
    )
    # Both fingerprints: of the config as the user gave it, and as filled from the data (a
    # caller holding the filled config, e.g. the same process, recognises the dataset too).
    meta = {
        "fingerprint": fingerprint or dataset_fingerprint(cfg),
        "fingerprint_filled": dataset_fingerprint(cfg),
        "rows": dataset.height,
        "columns": dataset.columns,
        "defaults": defaults or {},
    }
    write_text(json.dumps(meta, indent=2), out / META)
    return path


def read_catalogue(cfg: DictConfig) -> dict[str, Any]:
    """The rendered catalogue written next to the dataset (empty if missing)."""
    path = output_dir(cfg) / CATALOGUE
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def cached_dataset_is_current(cfg: DictConfig) -> bool:
    """True when dataset.parquet, its catalogue and a meta file with today's fingerprint exist."""
    from features.build import dataset_fingerprint

    out = Path(cfg.output.dir)
    meta = out / META
    if not ((out / DATASET).exists() and (out / CATALOGUE).exists() and meta.exists()):
        return False
    try:
        stored = json.loads(meta.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return dataset_fingerprint(cfg) in (stored.get("fingerprint"), stored.get("fingerprint_filled"))


def load_or_build_dataset(cfg: DictConfig) -> tuple[pl.DataFrame, dict[str, Any]]:
    """(dataset, catalogue): reuse ``${output.dir}/dataset.parquet`` when its fingerprint matches
    the config, else load the tables, build, write and return it."""
    from ingest.defaults import apply_defaults

    out = output_dir(cfg)
    if cached_dataset_is_current(cfg):
        log.info("reusing %s (same config fingerprint)", out / DATASET)
        apply_defaults(cfg, dataset_defaults(cfg))
        return pl.read_parquet(out / DATASET), read_catalogue(cfg)
    dataset, catalogue, path = build_and_write_dataset(cfg)
    log.info(
        "wrote %s (%d rows, %d columns) and %s",
        path,
        dataset.height,
        dataset.width,
        out / CATALOGUE,
    )
    return dataset, catalogue


def read_truth(cfg: DictConfig) -> pl.DataFrame | None:
    """The simulator's oracle table when ``data.truth`` is set and exists (None on real data)."""
    path: str | None = cfg.data.truth
    if not path or not Path(path).exists():
        return None
    return pl.read_parquet(path)
