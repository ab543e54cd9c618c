"""Candidate early behaviours: what each account did in its first D days, point in time.

Every candidate is a yes/no statement about days ``0 .. D-1`` since the account's start
(``adoption.timeline``), with ``D`` its *landmark day*. Nothing at or after day ``D`` is used
for an account's value, so the landmark analysis can compare accounts at day ``D`` without
looking ahead. Families (``kind``):

``milestone``  reached milestone m in the first D days (first event in ``m.events``).
``event``      did event e at least N times in the first D days.
``users``      added at least N users in the first ``users_days`` days (distinct user ids whose
               first event in the account falls in the window).
``roles``      had at least N distinct roles active in the first D days (roles from ``users``).

How D and N come from the data (documented so a reader can redo it by hand):

* D: ``landmark_days`` (default 7, 14, 30; for milestones also each ``expected_days``), each
  kept only when at least ``min_accounts`` accounts that are not left-truncated were observed
  for D days ("what the history supports").
* The *eligible* accounts for D: not left-truncated and ``observed_days >= D``. Thresholds are
  computed on them only (a short-observed account's count is not complete).
* N for ``event``: 1 ("did it at all") plus the ``quantiles`` (default 25/50/75 %) of the
  per-account counts in the first D days **among eligible accounts that did it at least once**,
  with the ``"lower"`` rule (of the two sorted counts around the quantile, the lower one, so N
  is always a count some account had); duplicates dropped. Event types are kept when at least
  ``min_accounts`` eligible accounts did them in the first D days; with explicit
  ``key_events`` only those are considered, each kept when at least one eligible account did
  it; ``exclude_events`` are never candidates.
* N for ``users`` (D = ``users_days``) and ``roles``: the same quantiles of the distinct users /
  roles among eligible accounts with at least one, keeping N >= 2 (one user or one role is
  every account), each family kept when at least ``min_accounts`` eligible accounts have one.
* The thresholds look at behaviour counts only, never at the outcome.

``day_reached`` is the day the statement first became true (the day of the N-th occurrence,
the N-th distinct user, the N-th role, or the milestone), null when it did not become true in the
first D days. An account observed for fewer than D days may still do it later: filter on
``observed_days >= D`` (the landmark analysis does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from adoption._common import FrameLike, humanise, lazy, milestone_specs, require_columns
from adoption.timeline import event_days

#: Output columns, in order.
CANDIDATE_COLUMNS = [
    "account_id",
    "candidate",
    "kind",
    "item",
    "threshold",
    "label",
    "landmark_day",
    "day_reached",
]


def _supported_days(timeline: pl.LazyFrame, days: Sequence[int], min_accounts: int) -> list[int]:
    """The D in ``days`` for which >= ``min_accounts`` untruncated accounts were observed D days."""
    uniq = sorted({int(d) for d in days if int(d) >= 1})
    if not uniq:
        return []
    counts = (
        timeline.filter(~pl.col("left_truncated"))
        .select([(pl.col("observed_days") >= d).sum().alias(str(d)) for d in uniq])
        .collect()
    )
    return [d for d in uniq if counts.item(0, str(d)) >= min_accounts]


def occurrences(
    ed: pl.LazyFrame,
    users: FrameLike | None,
    milestones: Sequence[Any],
    key_events: Sequence[str] | None,
    exclude_events: Sequence[str],
) -> pl.LazyFrame:
    """(account_id, kind, item, day): one row per occurrence that counts toward a candidate."""
    cols = ["account_id", "kind", "item", "day"]
    ev = ed.filter(~pl.col("event").is_in(list(exclude_events)))
    if key_events is not None:
        ev = ev.filter(pl.col("event").is_in(list(key_events)))
    parts = [
        ev.select("account_id", pl.lit("event").alias("kind"), pl.col("event").alias("item"), "day")
    ]
    parts.append(
        ed.filter(pl.col("user_id").is_not_null())
        .group_by("account_id", "user_id")
        .agg(pl.col("day").min())
        .select("account_id", pl.lit("users").alias("kind"), pl.lit("users").alias("item"), "day")
    )
    if users is not None:
        require_columns(users, ["user_id", "role"], "users")
        roles = (
            lazy(users)
            .select("user_id", pl.col("role").cast(pl.String))
            .unique("user_id", keep="first")
        )
        parts.append(
            ed.join(roles, on="user_id", how="inner")
            .filter(pl.col("role").is_not_null())
            .group_by("account_id", "role")
            .agg(pl.col("day").min())
            .select(
                "account_id", pl.lit("roles").alias("kind"), pl.lit("roles").alias("item"), "day"
            )
        )
    specs = milestone_specs(milestones)
    if specs:
        spec = pl.DataFrame(
            {
                "milestone": [m.name for m in specs for _ in m.events],
                "event": [e for m in specs for e in m.events],
            },
            schema={"milestone": pl.String, "event": pl.String},
        ).lazy()
        parts.append(
            ed.join(spec, on="event", how="inner")
            .group_by("account_id", "milestone")
            .agg(pl.col("day").min())
            .select(
                "account_id",
                pl.lit("milestone").alias("kind"),
                pl.col("milestone").alias("item"),
                "day",
            )
        )
    return pl.concat([p.select(cols) for p in parts], how="vertical")


def _label() -> pl.Expr:
    kind, item, n, d = (
        pl.col("kind"),
        humanise(pl.col("item")),
        pl.col("threshold"),
        pl.col("landmark_day"),
    )
    return (
        pl.when(kind == "milestone")
        .then(pl.format("reached {} in the first {} days", item, d))
        .when((kind == "event") & (n == 1))
        .then(pl.format("did {} in the first {} days", item, d))
        .when(kind == "event")
        .then(pl.format("did {} at least {} times in the first {} days", item, n, d))
        .when(kind == "users")
        .then(pl.format("added at least {} users in the first {} days", n, d))
        .otherwise(pl.format("had at least {} roles active in the first {} days", n, d))
        .alias("label")
    )


def _name() -> pl.Expr:
    kind, item, n, d = pl.col("kind"), pl.col("item"), pl.col("threshold"), pl.col("landmark_day")
    return (
        pl.when(kind == "milestone")
        .then(pl.format("milestone__{}__{}d", item, d))
        .when(kind == "event")
        .then(pl.format("event__{}__ge{}__{}d", item, n, d))
        .otherwise(pl.format("{}__ge{}__{}d", kind, n, d))
        .alias("candidate")
    )


def candidate_behaviours(
    events: FrameLike,
    timeline: FrameLike,
    milestones: Sequence[Any] = (),
    users: FrameLike | None = None,
    *,
    landmark_days: Sequence[int] = (7, 14, 30),
    quantiles: Sequence[float] = (0.25, 0.5, 0.75),
    key_events: Sequence[str] | None = None,
    exclude_events: Sequence[str] = (),
    min_accounts: int = 10,
    users_days: int = 10,
) -> pl.DataFrame:
    """Long table of candidate early behaviours, one row per (account, candidate).

    ``events``: canonical events; ``timeline``: ``adoption.timeline.account_timeline``;
    ``milestones``: MilestoneConfig-like (name, events, expected_days); ``users``: canonical
    users (user_id, role) for the ``roles`` family (skipped when None). See the module docstring
    for how D and N are chosen.

    Returns ``CANDIDATE_COLUMNS``: account_id, candidate (stable machine name, e.g.
    ``event__report_created__ge3__14d``), kind, item (event type, milestone name, "users" or
    "roles"), threshold N (Int64; 1 for milestones), label (human wording that reads after
    "Accounts that ...": "did report created at least 3 times in the first 14 days"),
    landmark_day D (Int64), day_reached (Int64 in ``[0, D)``, null when not done in the first D
    days). Every account of ``timeline`` has a row for every candidate, including left-truncated
    ones (the analyses drop those). Sorted by kind, item, landmark_day, threshold, account_id.
    """
    if min_accounts < 1:
        raise ValueError(f"min_accounts: must be >= 1, got {min_accounts}")
    bad_q = [q for q in quantiles if not 0.0 <= q <= 1.0]
    if bad_q:
        raise ValueError(f"quantiles: must lie in [0, 1], got {bad_q}")
    tl = lazy(timeline)
    specs = milestone_specs(milestones)
    event_d = _supported_days(tl, landmark_days, min_accounts)
    milestone_d = _supported_days(
        tl, [*landmark_days, *(m.expected_days for m in specs)], min_accounts
    )
    users_d = _supported_days(tl, [users_days], min_accounts)
    kind_days = pl.DataFrame(
        {
            "kind": ["event"] * len(event_d)
            + ["roles"] * len(event_d)
            + ["users"] * len(users_d)
            + ["milestone"] * len(milestone_d),
            "landmark_day": [*event_d, *event_d, *users_d, *milestone_d],
        },
        schema={"kind": pl.String, "landmark_day": pl.Int64},
    )
    empty = pl.DataFrame(
        schema={
            "account_id": pl.String,
            "candidate": pl.String,
            "kind": pl.String,
            "item": pl.String,
            "threshold": pl.Int64,
            "label": pl.String,
            "landmark_day": pl.Int64,
            "day_reached": pl.Int64,
        }
    )
    if kind_days.height == 0:
        return empty
    max_d = int(kind_days["landmark_day"].max())  # type: ignore[arg-type]
    ed = event_days(events, tl).filter(pl.col("day") < max_d)
    occ = occurrences(ed, users, milestones, key_events, exclude_events)
    per = (
        occ.join(kind_days.lazy(), on="kind", how="inner")
        .filter(pl.col("day") < pl.col("landmark_day"))
        .group_by("account_id", "kind", "item", "landmark_day")
        .agg(pl.col("day").sort().alias("days"), pl.len().cast(pl.Int64).alias("count"))
    )
    eligible = tl.filter(~pl.col("left_truncated")).select("account_id", "observed_days")
    qs = [
        pl.col("count").quantile(q, interpolation="lower").cast(pl.Int64).alias(f"q{i}")
        for i, q in enumerate(quantiles)
    ]
    thresholds = (
        per.join(eligible, on="account_id", how="inner")
        .filter(pl.col("observed_days") >= pl.col("landmark_day"))
        .group_by("kind", "item", "landmark_day")
        .agg(pl.len().alias("n_doers"), *qs)
    )
    keep = pl.col("n_doers") >= min_accounts
    if key_events is not None:
        keep = keep | ((pl.col("kind") == "event") & pl.col("item").is_in(list(key_events)))
    ones = pl.concat_list(pl.lit(1, dtype=pl.Int64))
    q_list = pl.concat_list([f"q{i}" for i in range(len(quantiles))]) if quantiles else ones
    n_list = pl.when(pl.col("kind") == "event").then(pl.concat_list(ones, q_list)).otherwise(q_list)
    counted = (
        thresholds.filter(keep & (pl.col("kind") != "milestone"))
        .with_columns(n_list.alias("threshold"))
        .explode("threshold")
        .filter((pl.col("kind") == "event") | (pl.col("threshold") >= 2))
        .select("kind", "item", "landmark_day", "threshold")
        .unique()
    )
    # Configured milestones stay candidates even when nobody reached them (reported as "too
    # few" downstream rather than silently missing); D = landmark_days + its expected_days.
    supported = set(milestone_d)
    m_rows = [
        (m.name, d)
        for m in specs
        for d in sorted({*(int(x) for x in landmark_days), m.expected_days} & supported)
    ]
    configured = pl.DataFrame(
        {
            "kind": ["milestone"] * len(m_rows),
            "item": [r[0] for r in m_rows],
            "landmark_day": [r[1] for r in m_rows],
            "threshold": [1] * len(m_rows),
        },
        schema={
            "kind": pl.String,
            "item": pl.String,
            "landmark_day": pl.Int64,
            "threshold": pl.Int64,
        },
    ).lazy()
    spec = pl.concat([counted, configured], how="vertical").with_columns(_name(), _label())
    spec_df = spec.collect()
    if spec_df.height == 0:
        return empty
    reached = (
        per.join(spec_df.lazy(), on=["kind", "item", "landmark_day"], how="inner")
        .select(
            "account_id",
            "candidate",
            pl.col("days").list.get(pl.col("threshold") - 1, null_on_oob=True).alias("day_reached"),
        )
        .filter(pl.col("day_reached").is_not_null())
    )
    return (
        tl.select("account_id")
        .join(spec_df.lazy(), how="cross")
        .join(reached, on=["account_id", "candidate"], how="left")
        .select(CANDIDATE_COLUMNS)
        .sort("kind", "item", "landmark_day", "threshold", "account_id")
        .collect()
    )
