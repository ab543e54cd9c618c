"""The wide point-in-time frame every indicator family reads from.

``build_wide`` samples the day-level tables at every boundary the enabled families need and
joins them onto the eligible (account, cutoff) rows as columns named ``<fact>@<offset>``: the
value over days strictly before ``t - offset``. Families are then plain polars expressions over
those columns (``features.usage``, ``features.role``, ...), so nothing a family computes can see
a day ``>= t``: the only data on a row are samples at ``t`` or earlier.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from features.daily import active_user_counts, usage_expr, user_days
from features.windows import (
    DAY,
    B,
    T,
    at_offset,
    boundary_days,
    cumulative_at,
    day_of,
    sample_before,
)
from ingest.tables import Tables

log = logging.getLogger("adoption_decay")

ACC_FACTS = ("usage_n", "active_day", "errors", "tickets", "invites", "users_net")


def at(fact: str, offset: int = 0) -> pl.Expr:
    """Column holding ``fact`` sampled at boundary ``t - offset``."""
    return pl.col(f"{fact}@{offset}")


def window(fact: str, start: int, end: int = 0) -> pl.Expr:
    """Sum of a cumulative ``fact`` over ``[t - start, t - end)`` (days)."""
    return at(fact, end) - at(fact, start)


def safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den`` as Float64, null where the denominator is 0 or null (undefined, not 0)."""
    den = den.cast(pl.Float64)
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(None)


@dataclass
class Needs:
    """Offsets (days before the cutoff) at which each kind of fact must be sampled."""

    acc: set[int] = field(default_factory=lambda: {0})
    active: set[int] = field(default_factory=set)
    active_widths: set[int] = field(default_factory=set)
    roles: bool = False
    events: bool = False


def needs_for(fcfg: Any, families: Sequence[str]) -> Needs:
    """Which samples the enabled families read (see each family's docstring)."""
    r, bl, k = int(fcfg.recent_days), int(fcfg.baseline_days), int(fcfg.slope_weeks)
    wins = {int(w) for w in fcfg.windows_days}
    n = Needs()
    if {"activity", "breadth", "peer"} & set(families):
        n.acc |= wins
        n.active |= {0}
        n.active_widths |= wins | {r}
    if "breadth" in families:
        n.acc |= {r}
        n.events = True
    if "trends" in families:
        n.acc |= {r, r + bl} | {7 * i for i in range(k + 1)}
        n.active |= {0, r}
        n.active_widths |= {r}
        n.events = True
    if "role" in families:
        n.active |= {0, r}
        n.active_widths |= {r}
        n.roles = True
    if "friction" in families:
        n.acc |= wins | {r, 2 * r}
    return n


def account_days(aed: pl.DataFrame, tables: Tables, fcfg: Any) -> pl.DataFrame:
    """(account_id, day) -> daily facts summed later into cumulative samples.

    usage_n: usage events; active_day: 1 if any usage event that day; errors / tickets /
    invites: configured error / ticket / invite events; users_net: users created minus users
    deactivated that day (users table only), so its cumulative sum is "users existing".
    """
    is_use = usage_expr(fcfg.usage_events, fcfg.non_usage_events)
    n = pl.col("n")
    daily = aed.group_by("account_id", DAY).agg(
        n.filter(is_use).sum().alias("usage_n"),
        n.filter(pl.col("event").is_in(list(fcfg.error_events))).sum().alias("errors"),
        n.filter(pl.col("event").is_in(list(fcfg.ticket_events))).sum().alias("tickets"),
        n.filter(pl.col("event").is_in(list(fcfg.invite_events))).sum().alias("invites"),
    ).with_columns(
        (pl.col("usage_n") > 0).cast(pl.Int64).alias("active_day"),
        pl.lit(0, pl.Int64).alias("users_net"),
    )
    if tables.users is not None:
        u = tables.users
        deact = (day_of(pl.col("deactivated_at")) if "deactivated_at" in u.columns
                 else pl.lit(None, pl.Int32))
        moves = pl.concat([
            u.select("account_id", day_of(pl.col("created_at")).alias(DAY),
                     pl.lit(1, pl.Int64).alias("users_net")),
            u.select("account_id", deact.alias(DAY), pl.lit(-1, pl.Int64).alias("users_net"))
            .drop_nulls(DAY),
        ])
        zeros = {c: pl.lit(0, pl.Int64) for c in ACC_FACTS if c != "users_net"}
        daily = pl.concat([
            daily.select("account_id", pl.col(DAY).cast(pl.Int32), *[pl.col(c).cast(pl.Int64) for c in ACC_FACTS]),
            moves.with_columns(**zeros).select("account_id", pl.col(DAY).cast(pl.Int32), *ACC_FACTS),
        ]).group_by("account_id", DAY).agg([pl.col(c).sum() for c in ACC_FACTS])
    return daily.select("account_id", pl.col(DAY).cast(pl.Int32), *[pl.col(c).cast(pl.Int64) for c in ACC_FACTS])


def event_last(aed: pl.DataFrame, boundaries: pl.Series, fcfg: Any, widths: Sequence[int]) -> pl.DataFrame:
    """Per account and boundary: distinct usage event types per width, last day of each key event.

    Returns ``account_id, b, distinct_<w>..., last_<event>..., last_use`` (last days may be null).
    """
    is_use = usage_expr(fcfg.usage_events, fcfg.non_usage_events)
    rows = aed.select("account_id", "event", DAY, pl.col(DAY).alias("last")).unique()
    s = sample_before(rows, ["account_id", "event"], ["last"], boundaries).with_columns(
        is_use.alias("_use")
    )
    aggs = [((pl.col("last") >= pl.col(B) - w) & pl.col("_use")).sum().alias(f"distinct_{w}")
            for w in sorted(set(widths))]
    aggs += [pl.col("last").filter(pl.col("event") == e).max().alias(f"last_{e}")
             for e in fcfg.key_events]
    aggs.append(pl.col("last").filter(pl.col("_use")).max().alias("last_use"))
    return s.group_by("account_id", B).agg(aggs)


def build_wide(tables: Tables, rows: pl.DataFrame, aed: pl.DataFrame, fcfg: Any,
               families: Sequence[str], udays: pl.DataFrame | None = None) -> pl.DataFrame:
    """Eligible rows plus every ``<fact>@<offset>`` sample the enabled families need.

    ``rows``: account_id, cutoff, ``_t`` (cutoff day). ``udays``: precomputed usage user-days
    (``features.daily.user_days`` with the features' usage set), computed here if None. Samples missing because an account had no
    history yet are 0 for cumulative facts and null for "last day" facts.
    """
    needs = needs_for(fcfg, families)
    cut_days = rows.get_column(T).unique().to_list()
    wide = rows
    entities = rows.select("account_id").unique()

    acc_daily = account_days(aed, tables, fcfg)
    acc = cumulative_at(acc_daily, ["account_id"], list(ACC_FACTS),
                        boundary_days(cut_days, needs.acc), entities)
    for o in sorted(needs.acc):
        wide = at_offset(wide, acc, o, ACC_FACTS, f"@{o}")

    if needs.active:
        if udays is None:
            udays = user_days(tables.events, usage_expr(fcfg.usage_events, fcfg.non_usage_events))
        roles = None
        if needs.roles and tables.users is not None:
            roles = tables.users.select("user_id", "role")
        au = active_user_counts(udays, boundary_days(cut_days, needs.active), needs.active_widths,
                                roles, list(fcfg.roles) if roles is not None else [])
        cols = [c for c in au.columns if c.startswith("au_")]
        for o in sorted(needs.active):
            wide = at_offset(wide, au, o, cols, f"@{o}")
        wide = wide.with_columns(
            [pl.col(c).fill_null(0) for c in wide.columns if c.startswith("au_")]
        )

    if needs.events:
        widths = [int(w) for w in fcfg.windows_days]
        ev = event_last(aed, boundary_days(cut_days, [0]), fcfg, widths)
        cols = [c for c in ev.columns if c not in ("account_id", B)]
        wide = at_offset(wide, ev, 0, cols, "@0")
        wide = wide.with_columns(
            [pl.col(c).fill_null(0) for c in wide.columns if c.startswith("distinct_")]
        )
    return wide
