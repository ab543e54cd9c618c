"""Hand-built canonical tables for the feature tests (tiny, readable, exact)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from features.build import build_features
from features.cutoffs import cutoff_dates
from ingest.tables import TS, Tables

SEGMENTS = ["industry", "size_tier", "use_case"]


def ts(s: str | datetime | None) -> datetime | None:
    """'2026-02-28 23:59' or '2026-02-28' -> aware UTC datetime (a datetime as it is)."""
    if s is None or isinstance(s, datetime):
        return s
    fmt = "%Y-%m-%d %H:%M" if " " in s else "%Y-%m-%d"
    return datetime.strptime(s, fmt).replace(tzinfo=UTC)


def events(rows: Sequence[tuple[Any, ...]], extra: Sequence[str] = ()) -> pl.DataFrame:
    """(account_id, user_id, event, timestamp, *extra) tuples -> canonical events frame; the
    timestamp a string (``ts``) or an aware datetime; ``extra`` names further string columns
    (segments sent with the events), one per further tuple item."""
    return pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "user_id": [r[1] for r in rows],
            "event": [r[2] for r in rows],
            "timestamp": [ts(r[3]) for r in rows],
            "value": [None] * len(rows),
            **{name: [r[4 + i] for r in rows] for i, name in enumerate(extra)},
        },
        schema={
            "account_id": pl.String,
            "user_id": pl.String,
            "event": pl.String,
            "timestamp": TS,
            "value": pl.Float64,
            **dict.fromkeys(extra, pl.String),
        },
    )


def users(rows: list[tuple[str, str, str, str, str | None]]) -> pl.DataFrame:
    """(user_id, account_id, role, created_at, deactivated_at) tuples -> users frame."""
    return pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "role": [r[2] for r in rows],
            "created_at": [ts(r[3]) for r in rows],
            "deactivated_at": [ts(r[4]) for r in rows],
        },
        schema={
            "user_id": pl.String,
            "account_id": pl.String,
            "role": pl.String,
            "created_at": TS,
            "deactivated_at": TS,
        },
    )


def accounts(rows: list[dict]) -> pl.DataFrame:
    """Dicts with account_id, size_tier, created_at and optional renewal/churned/seats."""
    return pl.DataFrame(
        {
            "account_id": [r["account_id"] for r in rows],
            "industry": [r.get("industry", "saas") for r in rows],
            "size_tier": [r.get("size_tier", "smb") for r in rows],
            "use_case": [r.get("use_case", "ops") for r in rows],
            "created_at": [ts(r["created_at"]) for r in rows],
            "renewal_date": [ts(r.get("renewal_date")) for r in rows],
            "churned_at": [ts(r.get("churned_at")) for r in rows],
            "seats": [r.get("seats") for r in rows],
        },
        schema={
            "account_id": pl.String,
            "industry": pl.String,
            "size_tier": pl.String,
            "use_case": pl.String,
            "created_at": TS,
            "renewal_date": TS,
            "churned_at": TS,
            "seats": pl.Int64,
        },
    )


def tables(
    ev: pl.DataFrame,
    us: pl.DataFrame | None = None,
    acc: pl.DataFrame | None = None,
    observed_until: str = "2026-06-01",
) -> Tables:
    return Tables(ev, us, acc, ts(observed_until), SEGMENTS if acc is not None else [])


# The main hand-built scenario, cutoff t = 2026-03-01 (see test_families.py for the numbers).
T0 = "2026-03-01"


def features_at_t0(tab: Tables, cfg: object) -> pl.DataFrame:
    """``build_features`` at the one cutoff T0 (the exact-number tests' common case)."""
    return build_features(tab, cutoff_dates(T0, 7, 1), cfg)


def by_account(df: pl.DataFrame) -> dict[str, dict]:
    """One dict of features per account (rows of a single-cutoff frame)."""
    return {r["account_id"]: r for r in df.iter_rows(named=True)}


SCENARIO_EVENTS = [
    ("a", "u1", "login", "2026-02-28 23:59"),  # t-1: inside every window
    ("a", "u1", "login", "2026-03-01 00:00"),  # at t: never visible
    ("a", "u2", "dashboard_viewed", "2026-02-22 00:00"),  # first minute of [t-7, t)
    ("a", "u2", "dashboard_viewed", "2026-02-21 23:59"),  # just outside [t-7, t)
    ("a", "u1", "support_ticket_opened", "2026-02-27 10:00"),
    ("a", "u3", "report_created", "2026-02-10 12:00"),
    ("a", "u1", "workflow_completed", "2026-01-20 09:00"),
    ("a", "u1", "integration_connected", "2026-01-05 09:00"),
    ("a", "u1", "user_invited", "2026-01-03 09:00"),
    ("a", "u1", "user_invited", "2026-01-15 09:00"),
    ("a", "u2", "integration_error", "2026-02-15 09:00"),
    ("a", "u2", "integration_error", "2026-01-10 09:00"),
    ("b", "ub1", "integration_connected", "2026-01-20 08:00"),
    ("b", "ub1", "login", "2026-02-26 08:00"),
    ("c", "uc1", "login", "2026-02-27 08:00"),
    ("d", "ud1", "login", "2026-02-27 08:00"),  # too young at t
    ("e", "ue1", "login", "2026-02-10 08:00"),  # churned before t
    ("g", "ug1", "login", "2026-03-01 00:00"),  # only event at t: 0 events before t
]

SCENARIO_USERS = [
    ("u1", "a", "admin", "2026-01-01", None),
    ("u2", "a", "member", "2026-01-01", None),
    ("u3", "a", "builder", "2026-02-01", "2026-02-25"),
    ("u4", "a", "member", "2026-03-05", None),  # created after t
    ("ub1", "b", "admin", "2026-01-10", None),
    ("uc1", "c", "member", "2025-06-01", None),
    ("ud1", "d", "member", "2026-02-20", None),
    ("ue1", "e", "member", "2026-01-01", None),
    ("ug1", "g", "member", "2026-01-01", None),
]

SCENARIO_ACCOUNTS = [
    {"account_id": "a", "created_at": "2026-01-01", "renewal_date": "2026-04-01", "seats": 4},
    {"account_id": "b", "created_at": "2026-01-10"},
    {"account_id": "c", "created_at": "2025-06-01", "size_tier": "mid", "seats": 10},
    {"account_id": "d", "created_at": "2026-02-20"},
    {"account_id": "e", "created_at": "2026-01-01", "churned_at": "2026-02-15"},
    {"account_id": "f", "created_at": "2026-01-01"},
    {"account_id": "g", "created_at": "2026-01-01"},
]


def scenario(with_users: bool = True, with_accounts: bool = True) -> Tables:
    return tables(
        events(SCENARIO_EVENTS),
        users(SCENARIO_USERS) if with_users else None,
        accounts(SCENARIO_ACCOUNTS) if with_accounts else None,
    )
