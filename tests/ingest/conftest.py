"""Shared helpers for ingest tests: real files in tmp_path and configs via ``load_config``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from core.config import load_config

# Fixed "wall-clock now" so future-timestamp checks are deterministic.
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def write_csv(path: Path, rows: dict[str, list[Any]]) -> Path:
    """Write a CSV of strings (None = empty field) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema={k: pl.String for k in rows}).write_csv(path)
    return path


def write_parquet(path: Path, df: pl.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path)
    return path


def make_cfg(
    events: Path | str,
    users: Path | str | None = None,
    accounts: Path | str | None = None,
    *extra: str,
) -> Any:
    """Config pointing at the given tables; None tables become ``data.<table>=null``."""

    def spec(p: Path | str | None) -> str:
        return "null" if p is None else f"'{p}'"

    segments = [] if any(e.startswith("data.segments=") for e in extra) else ["data.segments=[]"]
    return load_config(
        [
            f"data.events={spec(events)}",
            f"data.users={spec(users)}",
            f"data.accounts={spec(accounts)}",
            *segments,
            *extra,
        ]
    )


@pytest.fixture
def accounts_csv(tmp_path: Path) -> Path:
    """Three accounts a1..a3 with an industry segment, created in 2025."""
    return write_csv(
        tmp_path / "accounts.csv",
        {
            "account_id": ["a1", "a2", "a3"],
            "created_at": ["2025-01-01", "2025-01-02", "2025-01-03"],
            "industry": ["retail", "saas", "saas"],
        },
    )
