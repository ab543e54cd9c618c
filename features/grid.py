"""Dense (entity x boundary) grids: the fast engine behind every point-in-time sample.

Why: the features and labels only ever read an entity's history *strictly before a boundary
day* ``b`` (a cutoff ``t`` or ``t - offset``). Sorting the distinct boundaries ``b_0 < ... <
b_{m-1}`` cuts the day axis into buckets: bucket ``j`` holds the days ``b_{j-1} <= d < b_j``
(bucket 0 everything before ``b_0``, bucket ``m`` everything from ``b_{m-1}`` on, which no
boundary sees). A day in bucket ``j`` is before ``b_k`` exactly when ``j <= k``, so

* a cumulative sum over days ``< b_k`` is the running sum of per-bucket sums up to ``k``;
* the last day ``< b_k`` is the running maximum of per-bucket maxima up to ``k``.

This is exact for any cutoff schedule and any window lengths (they only decide the boundary
set), and its cost grows with entities x distinct boundaries, not with days or cutoffs x
windows. The per-bucket aggregates are one integer-keyed polars group-by; the running sums and
maxima are numpy cumulative operations over a dense ``(entities, m)`` array.

``encode_events`` turns the string ids of the raw events into integer codes once, so every
group-by after it hashes small integers instead of strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from features.windows import DAY, day_of

NEVER = np.iinfo(np.int32).min  # "no day before this boundary" in last-day grids (-> null)


@dataclass(frozen=True)
class Encoded:
    """Raw events as integer codes: ``a`` (account), ``u`` (user), ``e`` (event), ``day``.

    ``accounts``/``users``/``events`` are the dictionaries: code ``i`` is ``<keys>[i]``.
    ``accounts`` also holds ids known only from other tables (accounts without events).
    """

    frame: pl.DataFrame
    accounts: pl.Series
    users: pl.Series
    events: pl.Series

    def event_codes(self, names: Iterable[str]) -> list[int]:
        """Codes of the named events that occur at all (absent names simply match nothing)."""
        wanted = {str(n) for n in names}
        return [i for i, e in enumerate(self.events.to_list()) if e in wanted]

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


@dataclass(frozen=True)
class Grid:
    """Sorted distinct boundary days (Int32 days since epoch) and bucket arithmetic over them."""

    bounds: np.ndarray

    @classmethod
    def of(cls, cutoff_days: Iterable[int], offsets: Iterable[int]) -> Grid:
        """Boundaries ``t - o`` for every cutoff day ``t`` and offset ``o``."""
        ts, offs = set(cutoff_days), set(offsets)
        return cls(np.array(sorted({t - o for t in ts for o in offs}), dtype=np.int32))

    @property
    def m(self) -> int:
        return len(self.bounds)

    def bucket(self, days: np.ndarray) -> np.ndarray:
        """Bucket of each day: number of boundaries ``<= day`` (0..m; m = seen by none).

        Days span a few thousand values while rows number millions, so the buckets of the
        span are computed once and gathered (a binary search per row costs ~10x more).
        """
        if len(days) == 0 or days.dtype.kind not in "iu":  # float days (NaN = null): search
            return np.searchsorted(self.bounds, days, side="right")
        lo, hi = int(days.min()), int(days.max())
        if hi - lo > 4 * len(days) + 1_000_000:  # sparse span: search per row instead
            return np.searchsorted(self.bounds, days, side="right")
        lut = np.searchsorted(self.bounds, np.arange(lo, hi + 1, dtype=np.int64), side="right")
        return lut[days.astype(np.int64) - lo]

    def index(self, days: np.ndarray) -> np.ndarray:
        """Column of each boundary day (which must be one of the boundaries).

        A lookup table over the boundary span (a few hundred days) maps each day to its column
        (-1 off the grid): one gather per row instead of a binary search and a comparison.
        """
        if len(days) == 0:
            return np.zeros(0, np.int64)
        if self.m == 0:
            raise ValueError("boundary day not in the grid")
        lo, hi = int(self.bounds[0]), int(self.bounds[-1])
        lut = np.full(hi - lo + 1, -1, np.int64)
        lut[self.bounds.astype(np.int64) - lo] = np.arange(self.m)
        d = days.astype(np.int64) - lo
        if int(d.min()) < 0 or int(d.max()) > hi - lo:
            raise ValueError("boundary day not in the grid")
        idx = lut[d]
        if int(idx.min()) < 0:
            raise ValueError("boundary day not in the grid")
        return idx

    def cum(
        self, ent: np.ndarray, days: np.ndarray, weights: np.ndarray | None, n: int
    ) -> np.ndarray:
        """(n, m) int64: sum of ``weights`` (1 each when None) over days ``< b_k`` per entity."""
        m1 = self.m + 1
        flat = np.bincount(
            ent.astype(np.int64) * m1 + self.bucket(days),
            weights=None if weights is None else weights.astype(np.float64),
            minlength=n * m1,
        )
        per = flat.reshape(n, m1)[:, : self.m]
        return np.cumsum(np.rint(per).astype(np.int64) if weights is not None else per, axis=1)

    def last(self, ent: np.ndarray, days: np.ndarray, n: int) -> np.ndarray:
        """(n, m) int32: each entity's last day ``< b_k`` (``NEVER`` when there is none).

        ``ent``/``days`` may repeat (any rows); the per-bucket maximum is one unbuffered
        ``np.maximum.at`` scatter into the dense grid (~20x faster than a hash group-by).
        """
        m1 = self.m + 1
        grid = np.full(n * m1, NEVER, dtype=np.int32)
        if len(ent):
            key = ent.astype(np.int64) * m1 + self.bucket(days)
            np.maximum.at(grid, key, days.astype(np.int32))
        return np.maximum.accumulate(grid.reshape(n, m1)[:, : self.m], axis=1)
