"""The wide point-in-time frame every indicator family reads from.

``build_wide`` asks the window engine (``features.windows``) for the account facts at every
boundary the enabled families need and joins them onto the eligible (account, cutoff) rows as
columns named ``<fact>@<offset>``: the value over days strictly before ``t - offset``. Families
are then plain polars expressions over those columns (``features.usage``, ``features.role``,
...), so nothing a family computes can see a day ``>= t``: the only data on a row are samples
at ``t`` or earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from core.config import FeaturesConfig
from features.windows import NEVER, Engine, Sampler, last_to_series
from ingest.tables import Tables

#: Cumulative account facts: usage_n (usage events), active_day (days with a usage event),
#: errors / tickets / invites (the configured error / ticket / invite events), users_net (users
#: created minus deactivated, users table only: its cumulative value is "users existing").
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


def needs_for(fcfg: FeaturesConfig, families: Sequence[str]) -> Needs:
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


def build_wide(
    tables: Tables,
    rows: pl.DataFrame,
    fcfg: FeaturesConfig,
    families: Sequence[str],
    engine: Engine,
    at: Sampler | None = None,
) -> pl.DataFrame:
    """Eligible rows plus every ``<fact>@<offset>`` sample the enabled families need.

    ``rows``: account_id, cutoff, ``_t`` (cutoff day). ``engine``: the build's window engine.
    Samples: the :data:`ACC_FACTS` (cumulative), ``au_<w>`` / ``au_<role>_<w>`` (distinct users
    active in ``[b - w, b)``), ``distinct_<w>`` (distinct usage event types in ``[t - w, t)``),
    ``last_<event>`` / ``last_use`` (last day before ``t``). Samples missing because an account
    had no history yet are 0 for cumulative facts and counts, null for "last day" facts.
    """
    needs = needs_for(fcfg, families)
    at = at or engine.sampler(rows)
    cols: list[pl.Series] = []

    g = at.grid(needs.acc)
    facts = {
        "usage_n": engine.sums(g, "use"),
        "active_day": engine.active_days(g, "use"),
        "errors": engine.sums(g, "errors"),
        "tickets": engine.sums(g, "tickets"),
        "invites": engine.sums(g, "invites"),
        "users_net": engine.roster_sums(g, "existing"),
    }
    for o in sorted(needs.acc):
        for c in ACC_FACTS:
            cols.append(pl.Series(f"{c}@{o}", at(facts[c], g, o), dtype=pl.Int64))

    if needs.active:
        gu = at.grid(needs.active)
        role_names = list(fcfg.roles) if needs.roles and tables.users is not None else []
        counts = engine.active_users(gu, needs.active_widths, role_names)
        for o in sorted(needs.active):
            for c, v in counts.items():
                cols.append(pl.Series(f"{c}@{o}", at(v, gu, o), dtype=pl.UInt32))

    if needs.events:
        gc = engine.cut_grid
        key = {e: engine.enc.event_codes([e]) for e in fcfg.key_events}
        codes = sorted(set(engine.use) | {c for cs in key.values() for c in cs})
        slot = {c: i for i, c in enumerate(codes)}
        last = engine.last_event_days(codes)  # (codes, accounts, cutoffs)
        n = engine.n_accounts
        lu = (
            last[[slot[c] for c in engine.use]]
            if engine.use
            else np.full((1, n, gc.m), NEVER, np.int32)
        )
        for w in sorted({int(x) for x in fcfg.windows_days}):
            dist = (lu >= (gc.bounds - w)[None, None, :]).sum(axis=0)
            cols.append(pl.Series(f"distinct_{w}@0", at(dist, gc), dtype=pl.UInt32))
        for e, code in key.items():
            x = at(last[slot[code[0]]], gc) if code else np.full(len(at.acc), NEVER, np.int32)
            cols.append(last_to_series(f"last_{e}@0", x))
        cols.append(last_to_series("last_use@0", at(lu.max(axis=0), gc)))
    return rows.with_columns(cols)
