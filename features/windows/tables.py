"""The only full passes over the raw events: integer codes once, then three day-level tables.

``encode_events`` turns the string ids into integer codes and timestamps into UTC day indexes
(one pass), so every aggregation after it hashes or scatters small integers instead of strings.
:func:`day_tables` then aggregates the coded events into the small tables the engine answers
every window from:

* ``acc_day``: (a, day) -> ``n`` (all events) and one count per named event set (``use`` and
  the counted sets: errors, tickets, invites, ...);
* ``ae``: (a, e, j) -> first / last day and ``n``, with ``j`` the cutoff bucket of the day;
* user rows: distinct (ent = a * n_users + u, day) with a usage event (the person-days).

Each table has a dense numpy path (scatter-adds over an (account x day x ...) array, used when
it fits ``DENSE_MAX`` / ``USER_DAY_MAX`` cells) and an integer-keyed polars group-by fallback;
both give the same tables (``tests/features/test_day_tables.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from features.windows.days import DAY, day_of
from features.windows.grid import Grid

#: Largest dense key space (cells) aggregated with numpy scatter-adds instead of a hash
#: group-by: 2^24 cells keep each dense array under 128 MiB; typical builds (thousands of
#: accounts x hundreds of days x a few event classes) fit, bigger ones fall back to polars.
DENSE_MAX = 1 << 24
#: Largest (user x day) mark array (bytes, one per cell) for the dense distinct user-days.
USER_DAY_MAX = 1 << 26

#: The dense user rows' (sorted distinct ent = a * n_users + u, pair index of each row, day).
UserPairs = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Encoded:
    """Raw events as integer codes: ``a`` (account), ``u`` (user), ``e`` (event), ``day``.

    ``accounts``/``users``/``events`` are the dictionaries: code ``i`` is ``<keys>[i]``.
    ``accounts`` also holds ids known only from other tables (accounts without events).
    Rows are in the order of the raw events (so raw columns such as ``value`` align).
    """

    frame: pl.DataFrame
    accounts: pl.Series
    users: pl.Series
    events: pl.Series

    def event_codes(self, names: Iterable[str]) -> list[int]:
        """Codes of the named events that occur at all (absent names simply match nothing)."""
        wanted = {str(n) for n in names}
        return [i for i, e in enumerate(self.events.to_list()) if e in wanted]

    def usage_codes(self, include: Sequence[str], exclude: Sequence[str]) -> list[int]:
        """Codes of the events that count as use: exactly ``include`` when it is non-empty,
        otherwise every event not in ``exclude`` (so tickets and errors are not use)."""
        if include:
            return self.event_codes(include)
        skip = {str(e) for e in exclude}
        return [i for i, e in enumerate(self.events.to_list()) if e not in skip]

    def account_codes(self, ids: pl.Series) -> np.ndarray:
        """Codes (int64) of account ids that are in the dictionary (e.g. eligible rows)."""
        return ids.cast(pl.Enum(self.accounts)).to_physical().cast(pl.Int64).to_numpy()


def encode_events(
    events: pl.DataFrame | pl.LazyFrame, extra_accounts: Sequence[pl.Series] = ()
) -> Encoded:
    """One pass over the raw events: string ids -> integer codes, timestamp -> UTC day index.

    Each id column is cast to a Categorical with its own fresh ``pl.Categories``, which hashes
    every string once and numbers the distinct ones in order of appearance; those numbers are
    then mapped to the rank in the sorted dictionary (a gather over a small lookup table).
    Codes are therefore exactly those of ``cast(pl.Enum(sorted distinct ids))``, without a
    separate distinct-values pass over the strings.
    """
    cols = {"account_id": "a", "user_id": "u", "event": "e"}
    cats = {c: pl.Categories.random() for c in cols}
    raw = (
        events.lazy()
        .select(
            *[pl.col(c).cast(pl.String).cast(pl.Categorical(cats[c])).alias(c) for c in cols],
            day_of(pl.col("timestamp")).alias(DAY),
        )
        .collect()
    )
    dicts: dict[str, pl.Series] = {}
    codes: dict[str, pl.Series] = {}
    for c, short in cols.items():
        # ``raw`` holds the categorical column, so its categories are alive here.
        seen = cats[c].to_series().rename(c)
        extra = [s.cast(pl.String).rename(c) for s in extra_accounts] if short == "a" else []
        keys = (pl.concat([seen, *extra]).unique() if extra else seen).sort()
        lut = seen.cast(pl.Enum(keys)).to_physical().cast(pl.UInt32)
        codes[short] = lut.gather(raw.get_column(c).to_physical()).rename(short)  # null stays null
        dicts[short] = keys
    frame = pl.DataFrame([codes["a"], codes["u"], codes["e"], raw.get_column(DAY)])
    return Encoded(frame, dicts["a"], dicts["u"], dicts["e"])


def _classes(n_ev: int, sets: Mapping[str, list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(classes: (k, len(sets)) bool membership rows, class of each event code)."""
    member = np.zeros((n_ev, len(sets)), bool)
    for i, codes in enumerate(sets.values()):
        member[codes, i] = True
    classes, cls_of = np.unique(member, axis=0, return_inverse=True)
    return classes, cls_of.reshape(-1)


def _key(major: np.ndarray, size: int, minor: np.ndarray, shift: int = 0) -> np.ndarray:
    """``major * size + minor + shift`` as a fresh int64 array, computed in place.

    Why: at 10M events every temporary is an 80 MB allocation whose page faults cost about
    as much as the arithmetic; one buffer updated in place avoids three of them."""
    key = major.astype(np.int64)
    key *= size
    key += minor
    if shift:
        key += shift
    return key


def _acc_day_dense(
    a: np.ndarray,
    e: np.ndarray,
    d: np.ndarray,
    d0: int,
    span: int,
    n_acc: int,
    sets: Mapping[str, list[int]],
    classes: np.ndarray,
    cls_of: np.ndarray,
) -> pl.DataFrame:
    """acc_day (a, day, n, <sets>...) by one bincount over the dense (account x day x
    membership class) key; rows are the cells with any event, sorted by (a, day).

    An event's class is the set of ``sets`` it belongs to (few distinct classes, at most one per
    event type), so one pass counts every set: a set's count is the sum of its classes' counts.
    """
    n_cls = len(classes)
    key = _key(a, span, d, -d0)
    key *= n_cls
    key += cls_of[e]
    per = np.bincount(key, minlength=n_acc * span * n_cls).reshape(n_acc * span, n_cls)
    n = per.sum(axis=1)
    nz = np.flatnonzero(n)
    per = per[nz]
    cols = {
        "n": n[nz],
        **{name: per @ classes[:, i].astype(np.int64) for i, name in enumerate(sets)},
    }
    return pl.DataFrame(
        {
            "a": pl.Series((nz // span).astype(np.uint32), dtype=pl.UInt32),
            DAY: pl.Series((nz % span + d0).astype(np.int32), dtype=pl.Int32),
            **{k: pl.Series(v.astype(np.int64), dtype=pl.Int64) for k, v in cols.items()},
        }
    )


def _ae_dense(
    a: np.ndarray, e: np.ndarray, d: np.ndarray, j: np.ndarray, n_acc: int, n_ev: int, m1: int
) -> pl.DataFrame:
    """ae (a, e, j, first, last, n) by scatter min/max/count over the dense (account x event x
    bucket) key; rows are the cells with any event, sorted by (a, e, j)."""
    key = _key(a, n_ev, e)
    key *= m1
    key += j
    size = n_acc * n_ev * m1
    n = np.bincount(key, minlength=size)
    d32 = d.astype(np.int32)
    first = np.full(size, np.iinfo(np.int32).max, np.int32)
    last = np.full(size, np.iinfo(np.int32).min, np.int32)
    np.minimum.at(first, key, d32)
    np.maximum.at(last, key, d32)
    nz = np.flatnonzero(n)
    return pl.DataFrame(
        {
            "a": pl.Series((nz // (n_ev * m1)).astype(np.uint32), dtype=pl.UInt32),
            "e": pl.Series((nz // m1 % n_ev).astype(np.uint32), dtype=pl.UInt32),
            "j": pl.Series((nz % m1).astype(np.uint32), dtype=pl.UInt32),
            "first": pl.Series(first[nz], dtype=pl.Int32),
            "last": pl.Series(last[nz], dtype=pl.Int32),
            "n": pl.Series(n[nz].astype(np.int64), dtype=pl.Int64),
        }
    )


def _user_rows_dense(
    fr: pl.DataFrame,
    a: np.ndarray,
    e: np.ndarray,
    d: np.ndarray,
    use: list[int],
    d0: int,
    span: int,
    n_users: int,
) -> tuple[pl.DataFrame, UserPairs] | None:
    """Distinct usage (ent = a * n_users + u, day) by marking a dense (user x day) array.

    Why: a hash ``unique`` over the ~10M usage rows, then a sort of the ~1M user-days in
    ``UserDays.last``, were the costliest steps of the user counts. When every user's usage
    rows name one account (the normal case: a user belongs to one account), (user, day)
    determines the row, so a boolean scatter over ``n_users * span`` cells finds the distinct
    user-days, the account is looked up per user, and the (account, user) pairs are sorted
    among the few distinct users instead of the user-days. Returns ``(user_rows, (uniq, inv,
    days))`` as ``UserDays`` stores them, or None (the caller falls back to the hash path) when
    ids are null, a user spans accounts, or the array would exceed ``USER_DAY_MAX`` cells.
    Rows come out sorted by (user, day); no consumer depends on the order (the hash path's is
    arbitrary).
    """
    if (
        n_users * span > USER_DAY_MAX
        or fr.get_column("a").null_count()
        or fr.get_column("u").null_count()
        or fr.get_column("e").null_count()
        or fr.get_column(DAY).null_count()
    ):
        return None
    is_use = np.zeros(max([*use, int(e.max()) if len(e) else 0]) + 1, bool)
    is_use[use] = True
    rows = is_use[e]
    u = fr.get_column("u").to_numpy()
    if not rows.all():  # compress only when some events are not usage
        u, a, d = u[rows], a[rows], d[rows]
    acc_of = np.zeros(n_users, np.int64)
    acc_of[u] = a
    if not np.array_equal(acc_of[u], a):
        return None
    key = _key(u, span, d, -d0)
    mark = np.zeros(n_users * span, bool)
    mark[key] = True
    nz = np.flatnonzero(mark)
    uk = nz // span
    days = (nz % span + d0).astype(np.int32)
    present = np.flatnonzero(np.bincount(uk, minlength=n_users))
    ent_u = acc_of[present] * n_users + present  # ent of each user with usage
    order = np.argsort(ent_u, kind="stable")
    rank = np.zeros(n_users, np.int64)
    rank[present[order]] = np.arange(len(present))
    rows_df = pl.DataFrame(
        {
            "ent": pl.Series(acc_of[uk] * n_users + uk, dtype=pl.Int64),
            DAY: pl.Series(days, dtype=pl.Int32),
        }
    )
    return rows_df, (ent_u[order], rank[uk], days)


def _user_rows_hashed(
    f: pl.LazyFrame, use: list[int], n_users: int, d0: int, span: int
) -> pl.LazyFrame:
    """The hash fallback of :func:`_user_rows_dense` (lazy): one integer-keyed ``unique``."""
    a64 = pl.col("a").cast(pl.Int64)
    return (
        f.filter(pl.col("e").is_in(use))
        .select(
            ((a64 * n_users + pl.col("u").cast(pl.Int64)) * span + (pl.col(DAY) - d0)).alias("k")
        )
        .unique()
        .select(
            (pl.col("k") // span).alias("ent"),
            (pl.col("k") % span + d0).cast(pl.Int32).alias(DAY),
        )
    )


@dataclass(frozen=True)
class DayTables:
    """What :func:`day_tables` returns (see the module docstring); ``user_pairs`` is the dense
    path's sorted (account, user) pairs for ``UserDays`` (None after the hash fallback)."""

    acc_day: pl.DataFrame
    ae: pl.DataFrame
    user_rows: pl.DataFrame
    user_pairs: UserPairs | None


def _span(fr: pl.DataFrame) -> tuple[int, int]:
    """(first day, number of days) of the coded events (0, 1 when there are none)."""
    days = fr.get_column(DAY)
    lo, hi = days.min(), days.max()
    d0 = lo if isinstance(lo, int) else 0
    return d0, (hi if isinstance(hi, int) else 0) - d0 + 1


def day_tables(
    enc: Encoded, cut_grid: Grid, use: list[int], counted: Mapping[str, list[int]]
) -> DayTables:
    """Aggregate the coded events to ``acc_day`` (``n``, ``use`` and each ``counted`` set of
    event codes), ``ae`` (by bucket of ``cut_grid``) and the usage user rows of ``use``."""
    e = pl.col("e")
    fr = enc.frame
    d0, span = _span(fr)
    n_ev, n_users, m1 = max(len(enc.events), 1), max(len(enc.users), 1), cut_grid.m + 1
    a_np, e_np, d_np = (fr.get_column(c).to_numpy() for c in ("a", "e", DAY))
    j = cut_grid.bucket(d_np)
    # One Int64 key per group-by: hashing one integer is ~2x cheaper than a multi-column key.
    # Sizes are bounded by codes < 2^32 and day spans / bucket counts of a few thousand.
    a64 = pl.col("a").cast(pl.Int64)
    f = fr.with_columns(pl.Series("j", j, dtype=pl.Int64)).lazy()
    n_acc = len(enc.accounts)
    lazy: list[pl.LazyFrame] = []
    sets = {"use": use, **counted}
    classes, cls_of = _classes(n_ev, sets)
    # The three dense passes read the same arrays and write nothing shared; numpy releases the
    # GIL in their heavy steps, so they run side by side (~1.8x faster on 2 cores). Results do
    # not depend on the number of threads.
    with ThreadPoolExecutor(max_workers=max(1, min(3, pl.thread_pool_size()))) as pool:
        fut_users = pool.submit(_user_rows_dense, fr, a_np, e_np, d_np, use, d0, span, n_users)
        fut_ad = (
            pool.submit(_acc_day_dense, a_np, e_np, d_np, d0, span, n_acc, sets, classes, cls_of)
            if n_acc * span * len(classes) <= DENSE_MAX
            else None
        )
        fut_ae = (
            pool.submit(_ae_dense, a_np, e_np, d_np, j, n_acc, n_ev, m1)
            if n_acc * n_ev * m1 <= DENSE_MAX
            else None
        )
        dense_users = fut_users.result()
        dense_ad = None if fut_ad is None else fut_ad.result()
        dense_ae = None if fut_ae is None else fut_ae.result()
    user_rows: pl.DataFrame | pl.LazyFrame
    if dense_users is not None:
        user_rows = dense_users[0]
    else:
        user_rows = _user_rows_hashed(f, use, n_users, d0, span)
        lazy.append(user_rows)
    acc_day: pl.DataFrame | pl.LazyFrame
    if dense_ad is not None:
        acc_day = dense_ad
    else:
        acc_day = (
            f.group_by((a64 * span + (pl.col(DAY) - d0)).alias("k"))
            .agg(
                pl.len().cast(pl.Int64).alias("n"),
                *[e.is_in(codes).sum().cast(pl.Int64).alias(k) for k, codes in sets.items()],
            )
            .select(
                (pl.col("k") // span).cast(pl.UInt32).alias("a"),
                (pl.col("k") % span + d0).cast(pl.Int32).alias(DAY),
                "n",
                *sets,
            )
        )
        lazy.append(acc_day)
    ae: pl.DataFrame | pl.LazyFrame
    if dense_ae is not None:
        ae = dense_ae
    else:
        ae = (
            f.group_by(((a64 * n_ev + e.cast(pl.Int64)) * m1 + pl.col("j")).alias("k"))
            .agg(
                pl.col(DAY).min().alias("first"),
                pl.col(DAY).max().alias("last"),
                pl.len().cast(pl.Int64).alias("n"),
            )
            .select(
                (pl.col("k") // (n_ev * m1)).cast(pl.UInt32).alias("a"),
                (pl.col("k") // m1 % n_ev).cast(pl.UInt32).alias("e"),
                (pl.col("k") % m1).cast(pl.UInt32).alias("j"),
                "first",
                "last",
                "n",
            )
        )
        lazy.append(ae)
    done = iter(pl.collect_all(lazy))
    user_rows = next(done) if isinstance(user_rows, pl.LazyFrame) else user_rows
    acc_day = next(done) if isinstance(acc_day, pl.LazyFrame) else acc_day
    ae = next(done) if isinstance(ae, pl.LazyFrame) else ae
    return DayTables(acc_day, ae, user_rows, None if dense_users is None else dense_users[1])


def user_day_rows(enc: Encoded, use: list[int]) -> tuple[pl.DataFrame, UserPairs | None]:
    """The usage user rows of another event set (e.g. the label's qualifying events): the
    user-rows part of :func:`day_tables` alone, dense when it fits, else hashed."""
    fr = enc.frame
    d0, span = _span(fr)
    n_users = max(len(enc.users), 1)
    a_np, e_np, d_np = (fr.get_column(c).to_numpy() for c in ("a", "e", DAY))
    dense = _user_rows_dense(fr, a_np, e_np, d_np, use, d0, span, n_users)
    if dense is not None:
        return dense
    return _user_rows_hashed(fr.lazy(), use, n_users, d0, span).collect(), None
