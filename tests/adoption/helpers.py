"""Hand-built canonical tables for the adoption tests: days since a fixed origin, UTC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import polars as pl

from tests.features.helpers import events as event_frame

TS = pl.Datetime("us", "UTC")
ORIGIN = datetime(2025, 1, 1, tzinfo=UTC)


def day(d: float) -> datetime:
    """Day ``d`` after 2025-01-01 00:00 UTC (fractions are parts of a day)."""
    return ORIGIN + timedelta(days=d)


def _maybe_day(d: object) -> datetime | None:
    return None if d is None else day(float(d))  # type: ignore[arg-type]


def events(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    """(account_id, user_id, event, day) tuples -> canonical events frame."""
    return event_frame([(a, u, e, day(d)) for a, u, e, d in rows])


def accounts(rows: Sequence[Mapping[str, object]]) -> pl.DataFrame:
    """Dicts with account_id, created (day), churned (day or None), plus segment columns."""
    segs = sorted({k for r in rows for k in r} - {"account_id", "created", "churned"})
    data: dict[str, list[object]] = {
        "account_id": [r["account_id"] for r in rows],
        "created_at": [_maybe_day(r["created"]) for r in rows],
        "churned_at": [_maybe_day(r.get("churned")) for r in rows],
    }
    schema: dict[str, pl.DataType] = {
        "account_id": pl.String(),
        "created_at": TS,
        "churned_at": TS,
    }
    for s in segs:
        data[s] = [r.get(s) for r in rows]
        schema[s] = pl.String()
    return pl.DataFrame(data, schema=schema)


def users(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """(user_id, account_id, role) tuples -> users frame (created at the origin)."""
    return pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "role": [r[2] for r in rows],
            "created_at": [ORIGIN] * len(rows),
            "deactivated_at": [None] * len(rows),
        },
        schema={
            "user_id": pl.String,
            "account_id": pl.String,
            "role": pl.String,
            "created_at": TS,
            "deactivated_at": TS,
        },
    )
