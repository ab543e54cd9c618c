"""The window engine: every point-in-time number of the dataset comes from here.

Contract (the definition of "no leakage", docs/ARCHITECTURE.md "Time semantics"):

* Time is whole UTC days: a day is an Int32 index, days since 1970-01-01. A cutoff date ``t``
  stands for 00:00 UTC of that day, so "timestamp ``< t``" is exactly "day index ``< day(t)``".
* Every value is sampled at a *boundary* ``b = t - o`` (``o`` an offset in days) and reads only
  the days ``< b`` (strict). Sums come from cumulative values ``C(b)`` (over days ``< b``):
  the sum over ``[t - s, t - e)`` is ``C(t - e) - C(t - s)``.

  - features look BACKWARD: window ``[t - w, t)`` = offsets ``(w, 0)``; a feature row at ``t``
    samples only offsets ``>= 0``, so it sees only events with timestamp ``< t``;
  - labels look FORWARD: the horizon ``[t, t + h)`` = offsets ``(0, -h)`` (negative offsets
    are boundaries after the cutoff), with exactly the same grids.

* "Last day before ``b``" is the maximum day ``< b`` (null when none): recency, "anything in
  ``[a, b)``" (last day ``>= a``), and distinct users or event types active in ``[b - w, b)``
  (their own last day before ``b`` is ``>= b - w``).
* Eligibility reads the same samples at ``t``: events before ``t``, first days before ``t``.

Mechanism (why it is fast): the raw events are encoded to integer codes and aggregated to day
level ONCE (``tables``: the only full passes over the events). Every window is then answered
from dense (account x boundary) grids (``grid``): the sorted distinct boundaries of all cutoffs
and offsets cut the day axis into buckets, and a cumulative sum or last day at each boundary is
a running sum or maximum over the per-bucket aggregates. Exact for any cutoff schedule and any
window lengths; the cost grows with accounts x distinct boundaries, not cutoffs x windows.

Layout: ``days`` (day indexes, ``in_window``), ``grid`` (:class:`Grid`, :class:`Sampler`),
``tables`` (encoding and the day tables, dense paths with polars fallbacks), ``engine``
(:class:`Engine`: the queries the families, labels and eligibility ask). Import from here.

Typical use::

    engine = build_engine(tables, cut_days, usage=(include, exclude), counted={...})
    at = engine.sampler(rows)                    # rows: account_id, _t (cutoff day)
    g = at.grid([0, 28])                         # boundaries t and t - 28
    usage = engine.sums(g, "use")                # (accounts, boundaries) cumulative counts
    usage_28d = at.window(usage, g, 28)          # per row: usage events in [t - 28, t)
    ahead = at.grid([0, -28])
    horizon = at.window(engine.sums(ahead, "n"), ahead, 0, -28)  # events in [t, t + 28)
"""

from features.windows.days import DAY, T, date_to_day, day_of, in_window
from features.windows.engine import NO_DAY, Engine, EventCells, UserDays, build_engine
from features.windows.grid import NEVER, Grid, Sampler, last_to_series
from features.windows.tables import Encoded, encode_events

__all__ = [
    "DAY",
    "NEVER",
    "NO_DAY",
    "Encoded",
    "Engine",
    "EventCells",
    "Grid",
    "Sampler",
    "T",
    "UserDays",
    "build_engine",
    "date_to_day",
    "day_of",
    "encode_events",
    "in_window",
    "last_to_series",
]
