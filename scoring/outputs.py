"""The files of one scoring run, written into a temporary folder the job then swaps in whole.

Why here and not in the entry point: what a scoring run leaves behind (parquet tables, the CRM
CSV with formula neutralisation, meta.json, the report and the data profile beside it) is part of
the scoring contract the README documents; ``pipelines/score.py`` only decides when to write it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from core.logs import get_logger
from core.progress import step
from scoring.score import neutralise_formulas

log = get_logger(__name__)


def write_score_outputs(
    tmp: Path,
    frames: dict[str, pl.DataFrame],
    crm: pl.DataFrame,
    meta: dict[str, Any],
    *,
    csv_neutralise: bool = True,
    report: bool = True,
    profile: Path | None = None,
) -> None:
    """Write ``frames`` as parquet, ``crm`` as scores.csv, ``meta`` as meta.json and (``report``)
    the CSM report with the data profile page beside it, all under ``tmp``."""
    for name, frame in frames.items():
        frame.write_parquet(tmp / f"{name}.parquet")
    (neutralise_formulas(crm) if csv_neutralise else crm).write_csv(tmp / "scores.csv")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    if not report:
        return
    from report.render import render_report  # lazy: the report is optional

    with step("report", log):
        render_report(
            tmp / "report",
            frames["scores"],
            frames["explanations"],
            frames["history"],
            frames["usage"],
            frames["milestones"],
            meta,
        )
    if profile is not None and profile.exists():  # the data profile the model was built on
        shutil.copyfile(profile, tmp / "report" / "profile.html")
