"""Vocabulary family: the data's own event types as features (``ev_<slug>_*``).

Why: the other families speak a B2B SaaS product's words (dashboards, workflows, integrations).
On a foreign log (a purchase log, a subscription app with its own eight event names, a
clickstream) those names never occur, while the per-event-type behaviour of the events that do
occur is what separates decaying accounts (a logistic regression on per-event 28-day counts beat
the model without them). This family models every chosen event type ``e`` of the log itself:

* ``ev_<s>_<w>d``: events ``e`` in ``[t - w, t)`` for each ``w`` in ``features.windows_days``;
* ``ev_<s>_days_since_last``: ``t`` minus the day of the last ``e`` before ``t`` (an event
  yesterday gives 1; null when ``e`` never happened before ``t``: no sentinel);
* ``ev_<s>_trend_ratio``: per-day rate of ``e`` over the recent ``[t - r, t)`` divided by the
  per-day rate over the baseline ``[t - r - b, t - r)`` (r = ``recent_days``, b =
  ``baseline_days``; null when the baseline has none);
* ``ev_<s>_share_<r>d``: ``e``'s share of all the account's events in ``[t - r, t)`` (null when
  the account had none).

``s`` is the event's column-safe slug (``ingest.profile.unique_slugs``: lowercase ASCII
``[a-z0-9_]``, at most 40 characters, collisions suffixed ``_2``, ... in sorted name order); the
catalogue sentences use the event's own name as words. Which events:
``features.vocabulary_events``, or when that is null the automatic pick of
:func:`pick_vocabulary` (the widespread event types). Both only look at events before the last
cutoff of the build, so the feature set (like every value) is point-in-time.
"""

from __future__ import annotations

import polars as pl

from core.config import FeaturesConfig
from core.logs import get_logger
from features.context import safe_div
from features.windows import DAY, Engine, EventCells, Sampler, T, last_to_series
from ingest.profile import unique_slugs

log = get_logger(__name__)

#: Prefix of the sample columns this module adds to the wide frame (no clash with others).
PREFIX = "voc_"


def pick_vocabulary(
    source: Engine | pl.DataFrame, fcfg: FeaturesConfig, before: int | None = None
) -> list[str]:
    """The event types the family models when ``features.vocabulary_events`` is null.

    An event type qualifies when at least ``features.vocabulary_min_account_share`` of the
    accounts with any event reached it and it is not one of ``features.non_usage_events``
    (friction and cancellations have their own families, like ``ingest.defaults``' profile
    pick); the ``features.vocabulary_max_events`` reached by the most accounts are kept (ties by
    name), in that order. ``source``: the build's :class:`~features.windows.Engine` or its ``firsts()`` frame
    (account_id, event, day = first day). ``before`` (a day index): only events on days
    ``< before`` count (the last cutoff).
    """
    firsts = source.firsts() if isinstance(source, Engine) else source
    if before is not None:
        firsts = firsts.filter(pl.col(DAY) < before)
    n_acc = firsts.get_column("account_id").n_unique()
    if n_acc == 0:
        return []
    share = float(fcfg.vocabulary_min_account_share)
    skip = [str(e) for e in fcfg.non_usage_events]
    top = (
        firsts.filter(~pl.col("event").is_in(skip))
        .group_by("event")
        .agg(pl.col("account_id").n_unique().alias("n"))
        .filter(pl.col("n") >= share * n_acc)
        .sort(["n", "event"], descending=[True, False])
        .head(max(0, int(fcfg.vocabulary_max_events)))
    )
    return top.get_column("event").to_list()


def resolve(firsts: pl.DataFrame, fcfg: FeaturesConfig, before: int) -> list[str]:
    """The vocabulary of this build: the configured or automatically picked event types that
    occur before ``before`` (empty, with one log line, when the log has a single event type).

    ``firsts``: (account_id, event, day = first day) as from ``Engine.firsts``."""
    seen = firsts.filter(pl.col(DAY) < before)
    present = set(seen.get_column("event").unique().to_list())
    if len(present) <= 1:
        log.info(
            "feature family 'vocabulary' left out: the log has %s event type before the "
            "last cutoff",
            "a single" if present else "no",
        )
        return []
    configured = fcfg.vocabulary_events
    if configured is None:
        chosen = pick_vocabulary(seen, fcfg)
        log.info(
            "vocabulary: %d event types reached by >= %s of the accounts (at most %d): %s",
            len(chosen),
            fcfg.vocabulary_min_account_share,
            int(fcfg.vocabulary_max_events),
            chosen,
        )
        return chosen
    names = list(dict.fromkeys(str(e) for e in configured))
    absent = [e for e in names if e not in present]
    if absent:
        log.info(
            "features.vocabulary_events absent from the data before the last cutoff, left out: %s",
            absent,
        )
    return [e for e in names if e in present]


def offsets(fcfg: FeaturesConfig) -> list[int]:
    """Boundary offsets (days before ``t``) of the count samples: 0, each window, r and r + b."""
    r, b = int(fcfg.recent_days), int(fcfg.baseline_days)
    return sorted({0, r, r + b} | {int(w) for w in fcfg.windows_days})


def samples(
    engine: Engine, at: Sampler, fcfg: FeaturesConfig, cells: EventCells | None = None
) -> list[pl.Series]:
    """The ``voc_<slug>@<offset>`` count samples, ``voc_last_<slug>@0`` last days (null when
    never) and ``voc_all@<offset>`` (events of any kind) for ``features.vocabulary_events`` (the
    resolved list: every name occurs in the data). Values over days strictly before ``t -
    offset``, so nothing at or after ``t`` is read. ``cells``: the build's shared raw-event
    cells (its grid must hold every boundary ``t - o`` of :func:`offsets`); made here when
    None."""
    events = [str(e) for e in fcfg.vocabulary_events or []]
    if not events:
        return []
    slugs = unique_slugs(events)
    names = engine.enc.events.to_list()
    codes = engine.enc.event_codes(events)  # ascending codes: slot i is names[codes[i]]
    offs = offsets(fcfg)
    cells = cells or engine.cells(at.grid(offs))
    g = cells.grid
    cols: list[pl.Series] = []
    for c, cum in zip(codes, cells.per_event(codes), strict=True):
        s = slugs[names[c]]
        cols += [pl.Series(f"{PREFIX}{s}@{o}", at(cum, g, o), dtype=pl.Int64) for o in offs]
    all_cum = engine.sums(g, "n")
    r = int(fcfg.recent_days)
    cols += [pl.Series(f"{PREFIX}all@{o}", at(all_cum, g, o), dtype=pl.Int64) for o in (0, r)]
    # Last days read only cutoff boundaries: the engine's (account, event, cutoff) maxima.
    gc = engine.cut_grid
    last = engine.last_event_days(codes)
    for i, c in enumerate(codes):
        cols.append(last_to_series(f"{PREFIX}last_{slugs[names[c]]}@0", at(last[i], gc)))
    return cols


def _win(s: str, start: int, end: int = 0) -> pl.Expr:
    """Events of slug ``s`` in ``[t - start, t - end)``."""
    return (pl.col(f"{PREFIX}{s}@{end}") - pl.col(f"{PREFIX}{s}@{start}")).cast(pl.Float64)


def indicators(fcfg: FeaturesConfig) -> dict[str, pl.Expr]:
    """``{feature name: expression}`` over the frame with :func:`samples` (see module doc)."""
    events = [str(e) for e in fcfg.vocabulary_events or []]
    r, b = int(fcfg.recent_days), int(fcfg.baseline_days)
    slugs = unique_slugs(events)
    all_r = (pl.col(f"{PREFIX}all@0") - pl.col(f"{PREFIX}all@{r}")).cast(pl.Float64)
    out: dict[str, pl.Expr] = {}
    for e in events:
        s = slugs[e]
        for w in sorted({int(x) for x in fcfg.windows_days}):
            out[f"ev_{s}_{w}d"] = _win(s, w)
        last = pl.col(f"{PREFIX}last_{s}@0")
        out[f"ev_{s}_days_since_last"] = (pl.col(T) - last).cast(pl.Float64)
        out[f"ev_{s}_trend_ratio"] = safe_div(_win(s, r) / r, _win(s, r + b, r) / b)
        out[f"ev_{s}_share_{r}d"] = safe_div(_win(s, r), all_r)
    return out
