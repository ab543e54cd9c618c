"""The files of one scoring run, written into a temporary folder the job then swaps in whole.

Why here and not in the entry point: what a scoring run leaves behind (parquet tables, the CRM
CSV with formula neutralisation, meta.json) is part of
the scoring contract the README documents; ``pipelines/score.py`` only decides when to write it
(and adds the report, which ``report`` draws from these frames).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from scoring.score import neutralise_formulas


def write_score_outputs(
    tmp: Path,
    frames: dict[str, pl.DataFrame],
    crm: pl.DataFrame,
    meta: dict[str, Any],
    *,
    csv_neutralise: bool = True,
) -> None:
    """Write ``frames`` as parquet, ``crm`` as scores.csv (cells a spreadsheet would run
    neutralised unless ``csv_neutralise`` is false) and ``meta`` as meta.json under ``tmp``."""
    for name, frame in frames.items():
        frame.write_parquet(tmp / f"{name}.parquet")
    (neutralise_formulas(crm) if csv_neutralise else crm).write_csv(tmp / "scores.csv")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
