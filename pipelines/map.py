"""`decay-map`: the adoption map — which early behaviours go with success in each segment, when
they happen on the journey and how long they take (time to value).

Steps: tables (with the data profile's defaults: milestones, segments) -> ``adoption.build.build_map``
-> ``${output.dir}/map/`` as ONE atomic folder swap (tables as parquet, ``meta.json``, the pages:
``index.html``, one page per segment and per milestone) -> one MLflow run (tag ``job=map``).
A log the map cannot read (no milestones, no start dates, too short) gives pages that say what
could not be done, not a failure.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from core.cli import console, job
from core.config import CONF_DIR  # importing core.config registers the schema
from core.logs import get_logger
from core.progress import step

log = get_logger(__name__)


def map_params(cfg: DictConfig, event_types: list[str] | None = None) -> Any:
    """``map.*`` as ``adoption.build.MapParams``; key events and the events that are not use
    (tickets, errors, cancellations) come from ``features`` so the map and the model agree.
    Key events the log does not have are dropped; with none left, every event type of the log
    is a candidate (a purchase log's "purchase", a clickstream's pages), in its own words."""
    from adoption.build import MapParams

    f = cfg.features
    key = [str(e) for e in f.key_events]
    if event_types is not None:
        key = [e for e in key if e in set(event_types)]
    return MapParams.from_cfg(
        cfg.map, key_events=key or None, exclude_events=list(f.non_usage_events)
    )


def map_end(cfg: DictConfig, observed_until: datetime) -> datetime:
    """The exclusive end of what the map reads: the log's end, or ``snapshot.as_of`` (00:00 UTC)
    when that is earlier, so the map a run builds for an as_of knows only that as_of's past
    (its curves feed the nudges of the scores at the same as_of)."""
    from scoring.history import parse_as_of

    as_of = parse_as_of(cfg.snapshot.as_of)
    cutoff = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    return min(observed_until, cutoff)


def map_meta(
    cfg: DictConfig, amap: Any, tables: Any, out_root: Path, end: datetime | None = None
) -> dict[str, Any]:
    """What the pages and ``meta.json`` say about the map: the nouns, the dates, the notes, the
    parameters, and a link back to the latest CSM report when there is one."""
    from report.words import entity_noun, has_users
    from scoring.history import past_runs

    entity = entity_noun(cfg.data.get("entity"), has_users(tables.events))
    runs = past_runs(out_root, datetime.max.date())
    report = runs[-1][1].parent / "report" / "index.html" if runs else None
    href = (
        Path("..", *report.relative_to(out_root).parts).as_posix()
        if report is not None and report.exists()
        else None
    )
    return {
        "entity": entity[0],
        "entity_plural": entity[1],
        "as_of": (end or tables.observed_until).date().isoformat(),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "segments": list(tables.segments),
        "notes": list(amap.notes),
        "params": dataclasses.asdict(amap.params),
        "milestones": OmegaConf.to_container(cfg.features.milestones, resolve=True),
        "conf_level": amap.params.conf_level,
        "report_href": href,
    }


def write_map(tmp: Path, amap: Any, meta: dict[str, Any]) -> None:
    """The map's tables as parquet, ``meta.json`` and the pages, all under ``tmp``."""
    from report.map_pages import render_map

    frames = amap.frames()
    for name, frame in frames.items():
        frame.write_parquet(tmp / f"{name}.parquet")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    render_map(tmp, frames, meta)


def map_job(cfg: DictConfig) -> dict[str, Any]:
    """Build, write and track the adoption map; returns ``{"dir", "n_findings", "notes", "run_id"}``."""
    from adoption.build import build_map
    from core.atomic import atomic_dir
    from pipelines.common import load_profiled_tables, output_dir
    from tracking.jobs import log_map_run

    with step("load tables", log):
        tables, _profile, _resolved = load_profiled_tables(cfg)
    params = map_params(cfg, tables.events.get_column("event").unique().to_list())
    end = map_end(cfg, tables.observed_until)
    if end < tables.observed_until:
        log.info(
            "adoption map as of %s: events from then on (up to %s) are left out "
            "(snapshot.as_of is before the log's end)",
            end.date(),
            tables.observed_until.date(),
        )
    with step("adoption map", log):
        amap = build_map(
            tables.events,
            tables.accounts,
            tables.users,
            list(cfg.features.milestones),
            list(tables.segments),
            params,
            observed_until=end,
        )
    out_root = output_dir(cfg)
    target = out_root / "map"
    meta = map_meta(cfg, amap, tables, out_root, end)
    with step(f"write {target}", log), atomic_dir(target) as tmp:
        write_map(tmp, amap, meta)
    run_id = log_map_run(cfg, amap, target)
    return {
        "dir": target,
        "n_findings": amap.findings.height,
        "notes": amap.notes,
        "run_id": run_id,
    }


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    out = map_job(cfg)
    print(f"adoption map: {out['n_findings']} findings -> {out['dir'] / 'index.html'}")
    for note in out["notes"]:
        print(f"  note: {note}")


#: The console script (pyproject): Hydra's config errors exit 2 like the job's own.
main = console(_main)

if __name__ == "__main__":
    main()
