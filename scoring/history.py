"""Where scoring runs live on disk, and the risk history they leave behind.

Why a module: the change since the last run, the trend on each account page and ``decay-run``'s
idempotence all read the same layout, ``${output.dir}/scores/as_of=DATE/``; one module owns it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from core.errors import ConfigValueError

SCORES_DIR = "scores"


def parse_as_of(value: Any) -> date:
    """``snapshot.as_of`` as a date (ISO ``YYYY-MM-DD``); ConfigValueError otherwise."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as err:
        raise ConfigValueError(
            f"snapshot.as_of={value!r} is not an ISO date", hint="use snapshot.as_of=YYYY-MM-DD"
        ) from err


def run_dir(out_root: Path, as_of: date) -> Path:
    """The folder of the scoring run at ``as_of``."""
    return out_root / SCORES_DIR / f"as_of={as_of.isoformat()}"


def past_runs(out_root: Path, before: date) -> list[tuple[date, Path]]:
    """Earlier scoring runs ``(as_of, scores.parquet)`` under ``out_root``, oldest first."""
    runs = []
    for path in (out_root / SCORES_DIR).glob("as_of=*/scores.parquet"):
        try:
            d = date.fromisoformat(path.parent.name.removeprefix("as_of="))
        except ValueError:
            continue
        if d < before:
            runs.append((d, path))
    return sorted(runs)


def previous_scores(out_root: Path, as_of: date) -> pl.DataFrame | None:
    """account_id, decay_risk of the latest earlier run (None when this is the first)."""
    runs = past_runs(out_root, as_of)
    if not runs:
        return None
    return pl.read_parquet(runs[-1][1], columns=["account_id", "decay_risk"])


def history_frame(out_root: Path, scores: pl.DataFrame) -> pl.DataFrame:
    """account_id, as_of, decay_risk of every earlier run plus this one, for the scored accounts."""
    as_of = scores["as_of"][0]
    frames = [
        pl.read_parquet(p, columns=["account_id", "as_of", "decay_risk"])
        for _, p in past_runs(out_root, as_of)
    ]
    frames.append(scores.select("account_id", "as_of", "decay_risk"))
    ids = scores.select("account_id")
    return (
        pl.concat([f.with_columns(pl.col("as_of").cast(pl.Date)) for f in frames])
        .join(ids, on="account_id", how="semi")
        .sort("account_id", "as_of")
    )
