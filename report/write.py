"""The report of one scoring run, from the frames that run wrote, with the data profile beside it.

Why a function of its own: ``decay-score`` writes its tables first and the report second into
the same temporary folder, so one atomic swap publishes both; the report reads only those frames
and ``meta``, never the model.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl

from core.logs import get_logger
from core.progress import step

log = get_logger(__name__)


def write_report(
    folder: Path, frames: dict[str, pl.DataFrame], meta: dict[str, Any], profile: Path | None = None
) -> None:
    """Render the CSM report into ``folder``; copy ``profile`` (profile.html) beside it if it exists."""
    from report.render import render_report

    with step("report", log):
        render_report(
            folder,
            frames["scores"],
            frames["explanations"],
            frames["history"],
            frames["usage"],
            frames["milestones"],
            meta,
        )
    if profile is not None and profile.exists():  # the data profile the model was built on
        shutil.copyfile(profile, folder / "profile.html")
