"""The wide point-in-time frame every indicator family reads from.

``build_wide`` samples the day-level tables at every boundary the enabled families need and
joins them onto the eligible (account, cutoff) rows as columns named ``<fact>@<offset>``: the
value over days strictly before ``t - offset``. Families are then plain polars expressions over
those columns (``features.usage``, ``features.role``, ...), so nothing a family computes can see
a day ``>= t``: the only data on a row are samples at ``t`` or earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from core.logs import get_logger
from features.cache import DayCache, Sampler, last_to_series, users_net_days
from features.daily import usage_expr
from features.grid import NEVER, Grid
from features.windows import (
    DAY,
    B,
    day_of,
    sample_before,
)
from ingest.tables import Tables

log = get_logger(__name__)

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
    daily = (
        aed.group_by("account_id", DAY)
        .agg(
            n.filter(is_use).sum().alias("usage_n"),
            n.filter(pl.col("event").is_in(list(fcfg.error_events))).sum().alias("errors"),
            n.filter(pl.col("event").is_in(list(fcfg.ticket_events))).sum().alias("tickets"),
            n.filter(pl.col("event").is_in(list(fcfg.invite_events))).sum().alias("invites"),
        )
        .with_columns(
            (pl.col("usage_n") > 0).cast(pl.Int64).alias("active_day"),
            pl.lit(0, pl.Int64).alias("users_net"),
        )
    )
    if tables.users is not None:
        u = tables.users
        deact = (
            day_of(pl.col("deactivated_at"))
            if "deactivated_at" in u.columns
            else pl.lit(None, pl.Int32)
        )
        moves = pl.concat(
            [
                u.select(
                    "account_id",
                    day_of(pl.col("created_at")).alias(DAY),
                    pl.lit(1, pl.Int64).alias("users_net"),
                ),
                u.select(
                    "account_id", deact.alias(DAY), pl.lit(-1, pl.Int64).alias("users_net")
                ).drop_nulls(DAY),
            ]
        )
        zeros = {c: pl.lit(0, pl.Int64) for c in ACC_FACTS if c != "users_net"}
        daily = (
            pl.concat(
                [
                    daily.select(
                        "account_id",
                        pl.col(DAY).cast(pl.Int32),
                        *[pl.col(c).cast(pl.Int64) for c in ACC_FACTS],
                    ),
                    moves.with_columns(**zeros).select(
                        "account_id", pl.col(DAY).cast(pl.Int32), *ACC_FACTS
                    ),
                ]
            )
            .group_by("account_id", DAY)
            .agg([pl.col(c).sum() for c in ACC_FACTS])
        )
    return daily.select(
        "account_id", pl.col(DAY).cast(pl.Int32), *[pl.col(c).cast(pl.Int64) for c in ACC_FACTS]
    )


def event_last(
    aed: pl.DataFrame, boundaries: pl.Series, fcfg: Any, widths: Sequence[int]
) -> pl.DataFrame:
    """Per account and boundary: distinct usage event types per width, last day of each key event.

    Returns ``account_id, b, distinct_<w>..., last_<event>..., last_use`` (last days may be null).
    """
    is_use = usage_expr(fcfg.usage_events, fcfg.non_usage_events)
    rows = aed.select("account_id", "event", DAY, pl.col(DAY).alias("last")).unique()
    s = sample_before(rows, ["account_id", "event"], ["last"], boundaries).with_columns(
        is_use.alias("_use")
    )
    aggs = [
        ((pl.col("last") >= pl.col(B) - w) & pl.col("_use")).sum().alias(f"distinct_{w}")
        for w in sorted(set(widths))
    ]
    aggs += [
        pl.col("last").filter(pl.col("event") == e).max().alias(f"last_{e}")
        for e in fcfg.key_events
    ]
    aggs.append(pl.col("last").filter(pl.col("_use")).max().alias("last_use"))
    return s.group_by("account_id", B).agg(aggs)


class EventCells:
    """The flat cell ``account * (m + 1) + bucket`` of every raw event (the rows of
    ``cache.enc.frame``) in one dense (account x bucket) array of ``grid``.

    Why: the families that must read the raw events rather than the cache's day tables (the
    vocabulary's per-event counts, the history's value sums) bincount them into the same grid;
    computing the key once (on first use) saves a few passes over millions of rows. A bincount of
    ``cells`` over ``n_accounts * (m + 1)`` bins, reshaped and cumulated over its first ``m``
    columns, is exactly ``grid.cum`` (sums over days ``< b_k``).
    """

    def __init__(self, cache: DayCache, grid: Grid) -> None:
        self.cache = cache
        self.grid = grid
        self._cells: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Cells of one (account x bucket) array: ``n_accounts * (m + 1)``."""
        return self.cache.n_accounts * (self.grid.m + 1)

    @property
    def cells(self) -> np.ndarray:
        if self._cells is None:
            fr = self.cache.enc.frame
            key = fr.get_column("a").to_numpy().astype(np.int64)
            key *= self.grid.m + 1
            key += self.grid.bucket(fr.get_column(DAY).to_numpy())
            self._cells = key
        return self._cells

    def cum(self, counts: np.ndarray) -> np.ndarray:
        """(accounts, m) running sums of a flat (account x bucket) ``bincount`` result."""
        m = self.grid.m
        per = counts.reshape(self.cache.n_accounts, m + 1)[:, :m]
        return np.cumsum(per, axis=1)


def build_wide(
    tables: Tables,
    rows: pl.DataFrame,
    fcfg: Any,
    families: Sequence[str],
    cache: DayCache,
    at: Sampler | None = None,
) -> pl.DataFrame:
    """Eligible rows plus every ``<fact>@<offset>`` sample the enabled families need.

    ``rows``: account_id, cutoff, ``_t`` (cutoff day). ``cache``: the build's shared day-level
    aggregates (``features.cache.day_cache``). Every sample is read from a dense (account x
    boundary) grid (``features.grid``): the same values as the day-level definitions of
    ``account_days``, ``active_user_counts`` and ``event_last``. Samples missing because an
    account had no history yet are 0 for cumulative facts and counts, null for "last day" facts.
    """
    needs = needs_for(fcfg, families)
    at = at or cache.sampler(rows)
    acc, t, cut_days = at.acc, at.t, at.cut_days
    n = cache.n_accounts
    cols: list[pl.Series] = []

    g = Grid.of(cut_days, needs.acc)
    ad = cache.acc_day
    a, d = ad.get_column("a").to_numpy(), ad.get_column(DAY).to_numpy()
    facts = {
        "usage_n": g.cum(a, d, ad.get_column("use").to_numpy(), n),
        "active_day": g.cum(a, d, (ad.get_column("use").to_numpy() > 0).astype(np.int64), n),
        "errors": g.cum(a, d, ad.get_column("err").to_numpy(), n),
        "tickets": g.cum(a, d, ad.get_column("tick").to_numpy(), n),
        "invites": g.cum(a, d, ad.get_column("inv").to_numpy(), n),
    }
    ua, ud, uw = users_net_days(tables, cache.enc)
    facts["users_net"] = g.cum(ua, ud, uw, n) if len(ua) else np.zeros((n, g.m), np.int64)
    for o in sorted(needs.acc):
        for c in ACC_FACTS:
            cols.append(pl.Series(f"{c}@{o}", at(facts[c], g, o), dtype=pl.Int64))

    if needs.active:
        gu = Grid.of(cut_days, needs.active)
        role_names = list(fcfg.roles) if needs.roles and tables.users is not None else []
        counts = cache.active_users(
            gu, needs.active_widths, tables.users if role_names else None, role_names
        )
        for o in sorted(needs.active):
            for c, v in counts.items():
                cols.append(pl.Series(f"{c}@{o}", at(v, gu, o), dtype=pl.UInt32))

    if needs.events:
        gc = cache.cut_grid
        use = cache.use
        ae = cache.ae.filter(
            pl.col("e").is_in(list(set(use) | set(cache.enc.event_codes(fcfg.key_events))))
        )
        n_ev = len(cache.enc.events)
        ent = ae.get_column("a").to_numpy().astype(np.int64) * n_ev + ae.get_column("e").to_numpy()
        last = gc.last(ent, ae.get_column("last").to_numpy(), n * n_ev).reshape(n, n_ev, gc.m)
        bi = gc.index(t)
        lu = last[:, use, :] if use else np.full((n, 1, gc.m), NEVER, np.int32)
        for w in sorted({int(x) for x in fcfg.windows_days}):
            dist = (lu >= (gc.bounds - w)[None, None, :]).sum(axis=1)
            cols.append(pl.Series(f"distinct_{w}@0", dist[acc, bi], dtype=pl.UInt32))
        for e in fcfg.key_events:
            code = cache.enc.event_codes([e])
            x = last[acc, code[0], bi] if code else np.full(len(acc), NEVER, np.int32)
            cols.append(last_to_series(f"last_{e}@0", x))
        cols.append(last_to_series("last_use@0", lu.max(axis=1)[acc, bi]))
    return rows.with_columns(cols)
