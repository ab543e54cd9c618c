"""The engine object of one build: the coded events, their day tables, and every query on them.

Families, labels and eligibility ask an :class:`Engine` for (account x boundary) grids (sums,
last days, distinct active users, the user roster, per-event counts) and read them at their rows
with a :class:`~features.windows.grid.Sampler`. Nothing outside this package touches the day
tables or the raw event codes. Every grid value at boundary ``b`` reads only days ``< b``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

import features.windows.tables as day_tables_mod
from features.windows.days import DAY, T, day_of
from features.windows.grid import Grid, Sampler
from features.windows.tables import Encoded, UserPairs, day_tables, encode_events, user_day_rows
from ingest.tables import Tables

#: "No event at all" in :meth:`Engine.first_days` (-> null).
NO_DAY = np.iinfo(np.int32).max


@dataclass
class UserDays:
    """The person-days of one usage event set: distinct (account, user, day) with a usage event.

    ``rows``: ``ent = a * n_users + u`` (Int64) and ``day`` (Int32). The per-pair last usage
    days are memoised per boundary set (the labels and several families share grids).
    """

    rows: pl.DataFrame
    n_users: int
    n_accounts: int
    _pairs: UserPairs | None = None
    _last: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _days: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def person_days(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, u, day) arrays: one row per person-day of use (computed once)."""
        if self._days is None:
            ent = self.rows.get_column("ent").to_numpy()
            self._days = (
                ent // self.n_users,
                ent % self.n_users,
                self.rows.get_column(DAY).to_numpy(),
            )
        return self._days

    def sums(self, grid: Grid, users: np.ndarray | None = None) -> np.ndarray:
        """(accounts, m) person-days before each boundary (of the users where the per-user-code
        mask ``users`` is True, when given)."""
        a, u, d = self.person_days()
        if users is not None:
            keep = users[u]
            a, d = a[keep], d[keep]
        return grid.cum(a, d, None, self.n_accounts)

    def last(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """(pair ents, L): for each (account, user) pair with usage, sorted by ``ent``, its
        last usage day ``< b_k`` for every boundary of ``grid`` (``NEVER`` when none)."""
        key = tuple(int(b) for b in grid.bounds)
        if key not in self._last:
            if self._pairs is None:  # the sort behind np.unique: once per usage set
                uniq, inv = np.unique(self.rows.get_column("ent").to_numpy(), return_inverse=True)
                self._pairs = (uniq, inv, self.rows.get_column(DAY).to_numpy())
            uniq, inv, days = self._pairs
            self._last[key] = (uniq, grid.last(inv, days, len(uniq)))
        return self._last[key]

    def active(
        self,
        grid: Grid,
        widths: Iterable[int],
        role_of: np.ndarray | None = None,
        role_names: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """(accounts, m) distinct active users in ``[b_k - w, b_k)``: ``au_<w>`` and, with
        ``role_of`` (role per user code), ``au_<role>_<w>`` for each of ``role_names``.

        A user is active in ``[b - w, b)`` iff their last usage day before ``b`` is ``>= b - w``,
        so one last-day grid answers every width (backward, or forward with ``b`` after ``t``).
        """
        uniq, last = self.last(grid)
        n = self.n_accounts
        pa, pu = uniq // self.n_users, uniq % self.n_users
        has = np.zeros(n, bool)
        has[pa] = True
        starts = np.searchsorted(pa, np.flatnonzero(has))
        roles = role_of[pu] if role_of is not None and role_names else None

        def per_account(mask: np.ndarray) -> np.ndarray:
            out = np.zeros((n, grid.m), np.int64)
            if len(pa):
                out[has] = np.add.reduceat(mask, starts, axis=0, dtype=np.int64)
            return out

        counts: dict[str, np.ndarray] = {}
        for w in sorted({int(x) for x in widths}):
            act = last >= (grid.bounds.astype(np.int64) - w)[None, :]
            counts[f"au_{w}"] = per_account(act)
            if roles is not None:
                for rn in role_names:
                    counts[f"au_{rn}_{w}"] = per_account(act & (roles == rn)[:, None])
        return counts


@dataclass
class Engine:
    """The coded events of one build and their day tables (``features.windows.tables``).

    ``acc_day``: (a, day) -> ``n`` (all events), ``use`` and the counted sets (Int64).
    ``ae``: (a, e, j) -> first/last day and n, ``j`` the bucket of ``cut_grid`` (the cutoffs).
    ``use``: the usage event codes; ``usage``: their person-days. Built by :func:`build_engine`.
    """

    enc: Encoded
    acc_day: pl.DataFrame
    ae: pl.DataFrame
    cut_grid: Grid
    use: list[int]
    usage: UserDays
    tables: Tables
    _user_days: dict[tuple[int, ...], UserDays] = field(default_factory=dict)
    _cells: dict[bytes, EventCells] = field(default_factory=dict)
    _roles: pl.Series | None = None
    _roster: pl.DataFrame | None = None
    _roster_np: dict[str, np.ndarray] | None = None
    _firsts: pl.DataFrame | None = None

    @property
    def n_accounts(self) -> int:
        return len(self.enc.accounts)

    def sampler(self, rows: pl.DataFrame) -> Sampler:
        """A :class:`Sampler` for ``rows`` (``account_id`` and cutoff day ``_t``), so every family
        reading the same rows shares one account lookup and one set of grid cells."""
        return Sampler(
            self.enc.account_codes(rows.get_column("account_id")), rows.get_column(T).to_numpy()
        )

    # -- per account, from the day table -------------------------------------------------

    def _acc_day_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        ad = self.acc_day
        return ad.get_column("a").to_numpy(), ad.get_column(DAY).to_numpy()

    def sums(self, grid: Grid, column: str) -> np.ndarray:
        """(accounts, m) sum of the ``acc_day`` count ``column`` over days ``< b_k``: ``n``
        (events of any kind), ``use`` (usage events) or a counted set (``build_engine``)."""
        a, d = self._acc_day_arrays()
        return grid.cum(a, d, self.acc_day.get_column(column).to_numpy(), self.n_accounts)

    def active_days(self, grid: Grid, column: str = "n") -> np.ndarray:
        """(accounts, m) days ``< b_k`` with at least one event counted in ``column`` (``n``:
        any event; ``use``: a usage event)."""
        a, d = self._acc_day_arrays()
        if column == "n":  # every row of the day table has an event
            return grid.cum(a, d, None, self.n_accounts)
        w = (self.acc_day.get_column(column).to_numpy() > 0).astype(np.int64)
        return grid.cum(a, d, w, self.n_accounts)

    def last_day(self, grid: Grid) -> np.ndarray:
        """(accounts, m) int32 last day ``< b_k`` with any event (``NEVER`` when none)."""
        a, d = self._acc_day_arrays()
        return grid.last(a, d, self.n_accounts)

    def first_days(self) -> np.ndarray:
        """(accounts,) int64 first day with any event (``NO_DAY`` when none)."""
        a, d = self._acc_day_arrays()
        first = np.full(self.n_accounts, NO_DAY, np.int64)
        np.minimum.at(first, a.astype(np.int64), d.astype(np.int64))
        return first

    def day_rows(self, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(account code, day, count) of the days where the ``acc_day`` count ``column`` is
        positive (e.g. the invite days, for windows that start at each account's signup)."""
        r = self.acc_day.filter(pl.col(column) > 0)
        return (
            r.get_column("a").to_numpy().astype(np.int64),
            r.get_column(DAY).to_numpy(),
            r.get_column(column).to_numpy(),
        )

    def event_sums(self, grid: Grid, codes: Sequence[int]) -> np.ndarray:
        """(accounts, m) events whose code is in ``codes`` over days ``< b_k`` (from the day
        table when ``codes`` is the usage set or every event, else one pass over the codes)."""
        want = sorted({int(c) for c in codes})
        if want == self.use:
            return self.sums(grid, "use")
        if want == list(range(len(self.enc.events))):
            return self.sums(grid, "n")
        fr = self.enc.frame
        sel = np.zeros(max(len(self.enc.events), 1), bool)
        sel[want] = True
        keep = sel[fr.get_column("e").to_numpy()]
        a = fr.get_column("a").to_numpy()[keep]
        return grid.cum(a, fr.get_column(DAY).to_numpy()[keep], None, self.n_accounts)

    def firsts(self) -> pl.DataFrame:
        """(account_id, event, day = first day, n = count): one row per (account, event type)
        with any event (memoised); anchors, milestones and the vocabulary pick read it."""
        if self._firsts is None:
            g = self.ae.group_by("a", "e").agg(pl.col("first").min().alias(DAY), pl.col("n").sum())
            self._firsts = (
                g.select(
                    self.enc.accounts.gather(g.get_column("a")).alias("account_id"),
                    self.enc.events.gather(g.get_column("e")).alias("event"),
                    pl.col(DAY),
                    pl.col("n"),
                )
                if g.height
                else pl.DataFrame(
                    schema={
                        "account_id": pl.String,
                        "event": pl.String,
                        DAY: pl.Int32,
                        "n": pl.Int64,
                    }
                )
            )
        return self._firsts

    def last_event_days(self, codes: Sequence[int]) -> np.ndarray:
        """(len(codes), accounts, cutoffs) int32: the last day ``< t`` of each event code, at
        each cutoff boundary of ``cut_grid`` (``NEVER`` when none)."""
        names = len(self.enc.events)
        k, n = len(codes), self.n_accounts
        slot_of = np.full(max(names, 1), -1, np.int64)
        slot_of[list(codes)] = np.arange(k)
        ae = self.ae
        sl = slot_of[ae.get_column("e").to_numpy()]
        keep = sl >= 0
        gc = self.cut_grid
        return gc.last(
            sl[keep] * n + ae.get_column("a").to_numpy()[keep],
            ae.get_column("last").to_numpy()[keep],
            k * n,
        ).reshape(k, n, gc.m)

    # -- users: person-days, active users, the roster --------------------------------------

    def user_days(self, codes: Sequence[int] | None = None) -> UserDays:
        """Person-days of the usage set ``codes`` (None: the build's usage events), memoised."""
        if codes is None:
            return self.usage
        key = tuple(sorted({int(c) for c in codes}))
        if list(key) == self.use:
            return self.usage
        if key not in self._user_days:
            rows, pairs = user_day_rows(self.enc, list(key))
            self._user_days[key] = UserDays(
                rows, max(len(self.enc.users), 1), self.n_accounts, pairs
            )
        return self._user_days[key]

    def user_roles(self) -> pl.Series:
        """Role (String, null when unknown) of each user code, from the users table."""
        if self._roles is None:
            users = self.tables.users
            frame = pl.DataFrame({"user_id": self.enc.users})
            if users is None:
                self._roles = pl.Series("role", [None] * frame.height, dtype=pl.String)
            else:
                self._roles = frame.join(
                    users.select("user_id", pl.col("role").cast(pl.String)).unique("user_id"),
                    on="user_id",
                    how="left",
                    maintain_order="left",
                ).get_column("role")
        return self._roles

    def active_users(
        self,
        grid: Grid,
        widths: Iterable[int],
        role_names: Sequence[str] = (),
        codes: Sequence[int] | None = None,
    ) -> dict[str, np.ndarray]:
        """(accounts, m) distinct users active in ``[b_k - w, b_k)`` (``UserDays.active``) for
        the usage set ``codes`` (None: the build's), and per role in ``role_names`` (users
        table only)."""
        role_of = (
            self.user_roles().to_numpy() if role_names and self.tables.users is not None else None
        )
        return self.user_days(codes).active(grid, widths, role_of, role_names)

    def roster(self) -> pl.DataFrame:
        """(account_id, role, day, created, left, a): one row per user creation / deactivation
        (UTC day) of the accounts in the dictionary; empty without a users table."""
        if self._roster is None:
            u = self.tables.users
            schema = {
                "account_id": pl.String,
                "role": pl.String,
                DAY: pl.Int32,
                "created": pl.Int64,
                "left": pl.Int64,
            }
            if u is None:
                moves = pl.DataFrame(schema=schema)
            else:
                u = u.filter(pl.col("account_id").is_in(self.enc.accounts.implode()))
                deact = (
                    day_of(pl.col("deactivated_at"))
                    if "deactivated_at" in u.columns
                    else pl.lit(None, pl.Int32)
                )
                moves = pl.concat(
                    [
                        u.select(
                            "account_id",
                            pl.col("role").cast(pl.String),
                            day_of(pl.col("created_at")).alias(DAY),
                            pl.lit(1, pl.Int64).alias("created"),
                            pl.lit(0, pl.Int64).alias("left"),
                        ),
                        u.select(
                            "account_id",
                            pl.col("role").cast(pl.String),
                            deact.alias(DAY),
                            pl.lit(0, pl.Int64).alias("created"),
                            pl.lit(1, pl.Int64).alias("left"),
                        ).drop_nulls(DAY),
                    ]
                )
            self._roster = moves.with_columns(
                pl.Series(
                    "a", self.enc.account_codes(moves.get_column("account_id")), dtype=pl.Int64
                )
            )
        return self._roster

    def _roster_arrays(self) -> dict[str, np.ndarray]:
        """The roster's columns as numpy arrays (converted once: the role strings are costly)."""
        if self._roster_np is None:
            r = self.roster()
            self._roster_np = {
                c: r.get_column(c).to_numpy() for c in r.columns if c != "account_id"
            }
        return self._roster_np

    def _roster_weights(self, fact: str, role: str | None) -> np.ndarray:
        r = self._roster_arrays()
        w = r["created"] - r["left"] if fact == "existing" else r[fact]
        return w if role is None else w * (r["role"] == role)

    def roster_sums(self, grid: Grid, fact: str, role: str | None = None) -> np.ndarray:
        """(accounts, m) users ``created``, deactivated (``left``) or ``existing`` (created
        minus left) on days ``< b_k``; only users of ``role`` when given."""
        r = self._roster_arrays()
        if len(r["a"]) == 0:
            return np.zeros((self.n_accounts, grid.m), np.int64)
        return grid.cum(r["a"], r[DAY], self._roster_weights(fact, role), self.n_accounts)

    def roster_last(self, grid: Grid, fact: str, role: str | None = None) -> np.ndarray:
        """(accounts, m) int32 last day ``< b_k`` a user was ``created`` / ``left`` (of
        ``role`` when given; ``NEVER`` when none)."""
        r = self._roster_arrays()
        hit = self._roster_weights(fact, role) == 1
        return grid.last(r["a"][hit], r[DAY][hit], self.n_accounts)

    # -- raw events -----------------------------------------------------------------------

    def cells(self, grid: Grid) -> EventCells:
        """The raw events' cells in ``grid`` (memoised per boundary set)."""
        key = grid.bounds.tobytes()
        if key not in self._cells:
            self._cells[key] = EventCells(self.enc, grid)
        return self._cells[key]


class EventCells:
    """The flat cell ``account * (m + 1) + bucket`` of every raw event (the rows of
    ``engine.enc.frame``) in one dense (account x bucket) array of ``grid``.

    Why: what must be read from the raw events rather than the day tables (per-event-type
    counts, float value sums) is bincounted into the same grid; computing the key once (on first
    use) saves a pass over millions of rows per reader. Holds the encoded events, not the
    engine (no reference cycle: a build's arrays are freed as soon as the build returns).
    """

    def __init__(self, enc: Encoded, grid: Grid) -> None:
        self.enc = enc
        self.grid = grid
        self.n_accounts = len(enc.accounts)
        self._cells: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Cells of one (account x bucket) array: ``n_accounts * (m + 1)``."""
        return self.n_accounts * (self.grid.m + 1)

    @property
    def cells(self) -> np.ndarray:
        if self._cells is None:
            fr = self.enc.frame
            key = fr.get_column("a").to_numpy().astype(np.int64)
            key *= self.grid.m + 1
            key += self.grid.bucket(fr.get_column(DAY).to_numpy())
            self._cells = key
        return self._cells

    def sums(self, weights: np.ndarray) -> np.ndarray:
        """(accounts, m) sums of one (float) weight per raw event over days ``< b_k``."""
        counts = np.bincount(self.cells, weights=weights, minlength=self.size)
        return self.grid.running(counts, self.n_accounts)

    def per_event(self, codes: Sequence[int]) -> list[np.ndarray]:
        """Per event code (slot ``i`` of ``codes``), the (accounts, m) count grid over days
        ``< b_k``, from one pass over the raw events.

        Each event's key is ``slot * cells + its (account, bucket) cell`` (other event types
        share one extra slot). When the (slots + 1) x accounts x buckets array fits
        ``DENSE_MAX`` one bincount counts them all; otherwise one integer-keyed polars group-by
        finds the occupied cells and each slot's grid is a bincount of its (few) cells, so
        memory stays at one (accounts x buckets) grid per slot.
        """
        enc, n = self.enc, self.n_accounts
        k, size = len(codes), self.size
        shift = np.full(max(len(enc.events), 1), k * size, np.int64)
        shift[list(codes)] = np.arange(k, dtype=np.int64) * size
        key = shift[enc.frame.get_column("e").to_numpy()]
        key += self.cells
        if (k + 1) * size <= day_tables_mod.DENSE_MAX:
            counts = np.bincount(key, minlength=(k + 1) * size)
            return [self.grid.running(counts[i * size : (i + 1) * size], n) for i in range(k)]
        key = key[key < k * size]
        occupied = (
            pl.DataFrame({"k": pl.Series(key, dtype=pl.Int64)})
            .group_by("k")
            .agg(pl.len().cast(pl.Int64).alias("n"))
            .sort("k")
        )
        kk, nn = occupied.get_column("k").to_numpy(), occupied.get_column("n").to_numpy()
        cuts = np.searchsorted(kk, np.arange(k + 1, dtype=np.int64) * size)
        return [
            self.grid.running(
                np.bincount(kk[lo:hi] - i * size, weights=nn[lo:hi], minlength=size)
                .round()
                .astype(np.int64),
                n,
            )
            for i, (lo, hi) in enumerate(itertools.pairwise(cuts))
        ]


def build_engine(
    tables: Tables,
    cut_days: Sequence[int],
    usage: tuple[Sequence[str], Sequence[str]] = ((), ()),
    counted: Mapping[str, Sequence[str]] | None = None,
    extra_accounts: Sequence[pl.Series] = (),
) -> Engine:
    """Encode the events once and aggregate them to the engine's day tables.

    ``cut_days``: the cutoffs (day indexes) of the build. ``usage``: (include, exclude) event
    names of the usage set (``Encoded.usage_codes``). ``counted``: named event sets counted per
    account and day (``Engine.sums(grid, name)``). The accounts table's ids (and
    ``extra_accounts``) join the dictionary, so accounts without events have codes too.
    """
    extra = [tables.accounts.get_column("account_id")] if tables.accounts is not None else []
    enc = encode_events(tables.events, [*extra, *extra_accounts])
    use = enc.usage_codes(list(usage[0]), list(usage[1]))
    codes = {k: enc.event_codes(v) for k, v in (counted or {}).items()}
    cut_grid = Grid.of(cut_days, [0])
    t = day_tables(enc, cut_grid, use, codes)
    users = UserDays(t.user_rows, max(len(enc.users), 1), len(enc.accounts), t.user_pairs)
    return Engine(enc, t.acc_day, t.ae, cut_grid, use, users, tables)
