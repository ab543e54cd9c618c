"""Profile the validated tables so that defaults adapt to the data ("profile first", issue 9).

Why: the pipeline meets very different logs (B2B products with seats and roles, consumer
subscriptions, purchase logs, clickstreams), with their own event names, cadences and history
lengths. Defaults tuned on the demo simulator (weekly cutoffs, 52 of them, a fixed vocabulary
and milestone list) would be wrong for most of them. ``profile_tables`` describes the log in one
JSON-able dict and ``profile["suggested"]`` says which defaults it implies, each with a one-line
reason carrying the numbers, so a human (and the report page, ``report.profile``) can see why.

Contract: pure function of the tables (no I/O); polars only; deterministic (sorted outputs,
floats rounded to 6 decimals). It groups the events once per grain (account x day, account x
event, account x user, account x each extra column; one ``collect_all``) and aggregates
everything else from those much smaller results, so 10M events take a few seconds. Days are UTC calendar days (index = days since 1970-01-01, like ``features.windows``).

Event names are customer data: they are kept verbatim in the dict (escaping is the renderer's
job). Feature column names use ``slug``/``unique_slugs`` instead.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from ingest.tables import SpooledTables, Tables, has_value

PROFILE_VERSION = 1
CANONICAL_EVENT_COLUMNS = ("account_id", "user_id", "event", "timestamp", "value")
SLUG_MAX = 40
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")
EVERY_DAYS_CHOICES = (7, 14, 28)
MAX_COUNT = 52
# Milestone candidates: a real step on the journey is reached by some but not (almost) all
# accounts, and typically not on their first day.
MILESTONE_MIN_SHARE = 0.05
MILESTONE_MAX_SHARE = 0.95
MAX_MILESTONES = 5

_DAY = "_day"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# --------------------------------------------------------------------------- slugs


def slug(name: str) -> str:
    """A feature-name-safe identifier for an event name: matches ``SLUG_PATTERN``.

    Lowercase ASCII letters, digits and ``_``, starting with a letter or digit, at most 40
    characters. Accents are folded (``"Exporté" -> "exporte"``), every other run of characters
    becomes one ``_``. A name with nothing usable left (``"???"``, ``"注文"``) becomes
    ``evt_<first 8 hex digits of its SHA-1>`` so it is still stable and never empty. Different
    names can share a slug (``"Report Created"`` and ``"report_created"``): use ``unique_slugs``
    when the slugs must tell names apart.
    """
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    text = text[:SLUG_MAX].rstrip("_")
    if not text:
        # surrogatepass: a lone surrogate (never in polars text, possible in Python str) hashes too
        return "evt_" + hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return text


def _with_suffix(base: str, k: int) -> str:
    suffix = f"_{k}"
    return base[: SLUG_MAX - len(suffix)].rstrip("_") + suffix


def unique_slugs(names: Iterable[str]) -> dict[str, str]:
    """``name -> slug`` with distinct slugs for distinct names, independent of input order.

    Names whose slugs collide are taken in sorted order: the first keeps the plain slug, the
    next get ``_2``, ``_3``, ... (shortened so the result stays within 40 characters). A suffixed
    slug never takes a slug that another name has naturally, so adding an unrelated name to the
    log cannot rename a non-colliding event.
    """
    distinct = sorted(set(names))
    base = {n: slug(n) for n in distinct}
    taken: set[str] = set(base.values())  # every natural slug is reserved for its owner(s)
    used: set[str] = set()
    out: dict[str, str] = {}
    for n in distinct:
        s = base[n]
        if s in used:
            k = 2
            while _with_suffix(s, k) in taken or _with_suffix(s, k) in used:
                k += 1
            s = _with_suffix(s, k)
        used.add(s)
        out[n] = s
    return out


def _words(name: str) -> str:
    """``"report_created" -> "report created"``: an event name read as words (case kept)."""
    return re.sub(r"[\s_\-.:/]+", " ", name).strip() or name


# --------------------------------------------------------------------------- small helpers


def _clean(v: Any) -> Any:
    """JSON-able and deterministic: floats rounded to 6 decimals, NaN/inf -> None."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, int | str):
        return v
    if isinstance(v, float):
        return round(v, 6) if math.isfinite(v) else None
    if isinstance(v, date):  # also datetime
        return v.isoformat()
    return v


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _fmt(x: float | None) -> str:
    """Numbers in reasons: whole numbers plainly, others with one decimal."""
    if x is None:
        return "n/a"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.0f}%"


def _extra_columns(
    events: pl.DataFrame | pl.LazyFrame, event_columns: list[str] | None
) -> list[str]:
    """The non-canonical event columns to profile as candidate segments."""
    schema = events.collect_schema()
    if event_columns is None:
        return [c for c, t in schema.items() if c not in CANONICAL_EVENT_COLUMNS and t == pl.String]
    missing = [c for c in event_columns if c not in schema]
    if missing:
        raise ValueError(
            f"profile_tables: event_columns {missing} are not columns of the events; "
            f"available: {list(schema)}"
        )
    return [c for c in dict.fromkeys(event_columns) if c not in CANONICAL_EVENT_COLUMNS]


def _top_values(df: pl.DataFrame, col: str, k: int) -> list[dict[str, Any]]:
    """Top ``k`` non-null values of a (value, n) frame: count desc, then value."""
    top = df.filter(pl.col(col).is_not_null()).sort(["n", col], descending=[True, False]).head(k)
    return [{"value": v, "n": int(n)} for v, n in top.iter_rows()]


# --------------------------------------------------------------------------- the profile


def _grain_frame(events: pl.LazyFrame, extra: list[str]) -> pl.LazyFrame:
    return events.select(
        "account_id",
        "user_id",
        "event",
        "timestamp",
        "value",
        *extra,
        pl.col("timestamp").dt.date().cast(pl.Int32).alias(_DAY),
    )


def grain_queries(events: pl.LazyFrame, extra: list[str]) -> list[pl.LazyFrame]:
    """The profile's aggregations of the events, one group-by per grain: overall (additive
    parts only), account x day, account x event, account x user, account x each ``extra``
    column. Each is per account or a sum/min/max, so the results of disjoint chunks of
    accounts combine exactly (:func:`combine_grains`)."""
    ev = _grain_frame(events, extra)
    overall = ev.select(
        pl.len().alias("n_events"),
        pl.col("timestamp").min().alias("first_ts"),
        pl.col("timestamp").max().alias("last_ts"),
        (pl.col("user_id") != pl.col("account_id")).sum().alias("n_user_differs"),
        pl.col("value").count().alias("v_n"),
        pl.col("value").sum().alias("v_sum"),
        pl.col("value").min().alias("v_min"),
        pl.col("value").max().alias("v_max"),
        (pl.col("value") < 0).sum().alias("v_neg"),
        # First day with a value (NaN is none): whether the value_* features exist
        # (features.history.value_before) without reading the events again.
        pl.col(_DAY).filter(has_value(pl.col("value"))).min().alias("v_first_day"),
    )
    account_day = ev.group_by("account_id", _DAY).agg(pl.len().alias("n"))
    account_event = ev.group_by("account_id", "event").agg(
        pl.len().alias("n"), pl.col(_DAY).min().alias("first_day")
    )
    # (account, value) pairs: cheaper than n_unique inside a per-account group-by, and they give
    # both the distinct values per account and the overall value counts.
    account_user = ev.group_by("account_id", "user_id").agg(pl.len().alias("n"))
    account_cols = [ev.group_by("account_id", c).agg(pl.len().alias("n")) for c in extra]
    return [overall, account_day, account_event, account_user, *account_cols]


def value_quantiles(events: pl.LazyFrame) -> pl.LazyFrame:
    """Median and 90th percentile of ``value``: the part of the profile that needs every value."""
    return events.select(
        pl.col("value").median().alias("v_median"),
        pl.col("value").quantile(0.9, "linear").alias("v_p90"),
    )


def chunk_grains(events: pl.DataFrame) -> list[pl.DataFrame]:
    """:func:`grain_queries` of one chunk of accounts' events (in memory), with the profile's
    default extra columns (every non-canonical String column)."""
    return pl.collect_all(grain_queries(events.lazy(), _extra_columns(events, None)))


def combine_grains(parts: list[list[pl.DataFrame]], extra: list[str]) -> list[pl.DataFrame]:
    """The chunks' :func:`chunk_grains` as the grains of all events: the overall row from
    sums, minima and maxima, the per-account frames concatenated (accounts are disjoint)."""
    overall = pl.concat([p[0] for p in parts], how="vertical_relaxed").select(
        pl.col("n_events").sum(),
        pl.col("first_ts").min(),
        pl.col("last_ts").max(),
        pl.col("n_user_differs").sum(),
        pl.col("v_n").sum(),
        pl.col("v_sum").sum(),
        pl.col("v_min").min(),
        pl.col("v_max").max(),
        pl.col("v_neg").sum(),
        pl.col("v_first_day").min(),
    )
    rest = [
        pl.concat([p[k] for p in parts], how="vertical_relaxed") for k in range(1, 4 + len(extra))
    ]
    return [overall, *rest]


def profile_tables(
    tables: Tables | SpooledTables,
    *,
    max_event_types: int = 12,
    min_account_share: float = 0.02,
    horizon_days: int = 28,
    min_history_days: int = 28,
    default_event: str = "activity",
    event_columns: list[str] | None = None,
    max_listed_event_types: int = 100,
    max_segment_values: int = 10,
    milestone_exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """Describe the validated tables and the defaults they imply (see the module docstring).

    ``max_event_types`` caps ``suggested["features.vocabulary_events"]`` (event types reached by
    at least ``min_account_share`` of accounts). ``horizon_days`` and ``min_history_days`` shape
    ``suggested["snapshot.count"]``. ``default_event`` is the loader's name for events of a log
    without an event column (``data.default_event``). ``event_columns`` are extra event columns
    the loader kept (default: every non-canonical String column of ``tables.events``), profiled
    as candidate segments. ``event_types`` lists the top ``max_listed_event_types`` (at least
    ``max_event_types``) by accounts reaching; ``n_event_types`` counts them all.
    ``milestone_exclude``: events never proposed as milestones (non-usage events such as
    ``label.excluded_events`` and the friction events: a first support ticket is a step, but not
    one a healthy account should take); excluding them here, not after, lets other event types
    fill the five places.

    Keys: ``profile_version``, ``params``, ``history``, ``event_types``, ``n_event_types``,
    ``event_types_listed``, ``event_column_absent``, ``users``, ``value``, ``cadence``,
    ``segments``, ``suggested`` (each ``{"value", "reason"}``).
    """
    if max_event_types < 1:
        raise ValueError(f"profile_tables: max_event_types must be >= 1, got {max_event_types}")
    if not 0 <= min_account_share <= 1:
        raise ValueError(
            f"profile_tables: min_account_share must be in [0, 1], got {min_account_share}"
        )
    if horizon_days < 1 or min_history_days < 0:
        raise ValueError(
            f"profile_tables: horizon_days must be >= 1 and min_history_days >= 0, "
            f"got {horizon_days} and {min_history_days}"
        )
    events = tables.events
    extra = _extra_columns(events, event_columns)
    spool = tables.spool if isinstance(tables, SpooledTables) else None
    if spool is not None and spool.grains is not None and event_columns is None:
        # Events validated per chunk (ingest.spool): the grains were aggregated per chunk
        # while each chunk was in memory; only the value quantiles read the events again.
        overall, account_day, account_event, account_user, *account_cols = combine_grains(
            spool.grains, extra
        )
        quantiles = value_quantiles(events.lazy()).collect(engine="streaming")
        overall = pl.concat([overall, quantiles], how="horizontal")
    else:
        queries = [*grain_queries(events.lazy(), extra), value_quantiles(events.lazy())]
        if isinstance(events, pl.LazyFrame):
            # Events on disk: one streaming aggregation after the other, so only one query's
            # state is alive (together they took 4x the memory of the largest one).
            results = [q.collect(engine="streaming") for q in queries]
        else:
            results = pl.collect_all(queries)
        overall, account_day, account_event, account_user, *account_cols, quantiles = results
        overall = pl.concat([overall, quantiles], how="horizontal")
    o = overall.row(0, named=True)
    o["n_users"] = account_user["user_id"].n_unique()

    accounts = account_day.group_by("account_id").agg(
        pl.col("n").sum().alias("n_events"),
        pl.len().alias("active_days"),
        pl.col(_DAY).min().alias("first_day"),
        pl.col(_DAY).sort().diff().median().alias("median_gap"),
    )
    n_accounts = accounts.height
    n_events = int(o["n_events"])

    history = _history(o, accounts, tables.observed_until)
    etypes = _event_types(account_event, accounts, n_events, n_accounts)
    n_types = etypes.height
    absent = n_types == 1 and etypes["event"][0] == default_event
    n_listed = max(max_listed_event_types, max_event_types)
    listed = etypes.head(n_listed)
    slugs = unique_slugs(listed["event"].to_list())
    event_types = (
        listed.with_columns(
            pl.col("event").replace_strict(slugs, return_dtype=pl.String).alias("slug")
        )
        .select("event", "slug", pl.exclude("event", "slug"))
        .to_dicts()
    )
    users = _users(o, account_user, tables.users)
    value = _value(o)
    cadence = _cadence(accounts, account_day, n_events)
    segments = _segments(tables, extra, account_cols, n_events, n_accounts, max_segment_values)
    suggested = {
        **_suggest_snapshot(
            cadence["typical_gap_days"], history["span_days"], horizon_days, min_history_days
        ),
        "features.vocabulary_events": _suggest_vocabulary(
            etypes, absent, default_event, min_account_share, max_event_types
        ),
        "milestones": _suggest_milestones(etypes, absent, slugs, milestone_exclude),
        "entity": _suggest_entity(users, n_events),
    }
    return _clean(
        {
            "profile_version": PROFILE_VERSION,
            "params": {
                "max_event_types": max_event_types,
                "min_account_share": min_account_share,
                "horizon_days": horizon_days,
                "min_history_days": min_history_days,
                "default_event": default_event,
                "event_columns": extra,
                "milestone_exclude": list(milestone_exclude),
            },
            "history": history,
            "event_types": event_types,
            "n_event_types": n_types,
            "event_types_listed": listed.height,
            "event_column_absent": absent,
            "users": users,
            "value": value,
            "cadence": cadence,
            "segments": segments,
            "suggested": suggested,
        }
    )


def _history(o: dict[str, Any], accounts: pl.DataFrame, observed_until: datetime) -> dict[str, Any]:
    """Span of the log. ``span_days``: whole UTC days from the first event's day to
    ``observed_until`` (exclusive end), i.e. how far back cutoffs can reach from the newest one."""
    first, last = o["first_ts"], o["last_ts"]
    ou = observed_until if observed_until.tzinfo else observed_until.replace(tzinfo=UTC)
    span = None
    since_last = None
    if first is not None:
        first_midnight = first.replace(hour=0, minute=0, second=0, microsecond=0)
        span = (ou - first_midnight).days
        since_last = (ou - last).total_seconds() / 86400
    stats = accounts.select(
        pl.col("n_events").median().alias("median"),
        pl.col("n_events").quantile(0.9, "linear").alias("p90"),
        pl.col("active_days").median().alias("active_median"),
    ).row(0, named=True)
    return {
        "first_event": first.isoformat() if first is not None else None,
        "last_event": last.isoformat() if last is not None else None,
        "observed_until": ou.isoformat(),
        "span_days": span,
        "days_since_last_event": since_last,
        "n_events": int(o["n_events"]),
        "n_accounts": accounts.height,
        "n_users": int(o["n_users"]),
        "events_per_account": {"median": stats["median"], "p90": stats["p90"]},
        "active_days_per_account": {"median": stats["active_median"]},
    }


def _event_types(
    account_event: pl.DataFrame, accounts: pl.DataFrame, n_events: int, n_accounts: int
) -> pl.DataFrame:
    """One row per event name, sorted by accounts reaching (desc), then name.

    ``median_days_to_first``: over the accounts that reach the event, whole UTC days from the
    account's first active day to the first day with this event (0 = on the first day).
    ``share_first_day``: share of all accounts whose first active day includes the event.
    """
    ttf = (pl.col("first_day") - pl.col("acc_first")).cast(pl.Float64)
    return (
        account_event.join(
            accounts.select("account_id", pl.col("first_day").alias("acc_first")), on="account_id"
        )
        .group_by("event")
        .agg(
            pl.col("n").sum().alias("n_events"),
            pl.len().alias("n_accounts"),
            ttf.median().alias("median_days_to_first"),
            (ttf == 0).sum().alias("n_first_day"),
        )
        .select(
            "event",
            pl.col("n_events").cast(pl.Int64),
            (pl.col("n_events") / n_events).alias("share_events"),
            pl.col("n_accounts").cast(pl.Int64),
            (pl.col("n_accounts") / n_accounts).alias("share_accounts"),
            "median_days_to_first",
            (pl.col("n_first_day") / n_accounts).alias("share_first_day"),
        )
        .sort(["n_accounts", "event"], descending=[True, False])
    )


def _users(
    o: dict[str, Any], account_user: pl.DataFrame, users: pl.DataFrame | None
) -> dict[str, Any]:
    """Single-user logs (user_id == account_id on every row) have no user-level signal."""
    per_account = account_user.group_by("account_id").agg(pl.len().alias("n_users"))
    stats = per_account.select(
        pl.col("n_users").median().alias("median"),
        pl.col("n_users").quantile(0.9, "linear").alias("p90"),
    ).row(0, named=True)
    roles: list[dict[str, Any]] = []
    if users is not None and "role" in users.columns:
        counts = users.group_by("role").agg(pl.len().alias("n"))
        roles = _top_values(counts.rename({"role": "value"}), "value", counts.height)
        roles = [{"role": r["value"], "n": r["n"]} for r in roles]
    return {
        "user_ids_differ": int(o["n_user_differs"]) > 0,
        "share_events_user_differs": _share(int(o["n_user_differs"]), int(o["n_events"])),
        "users_per_account": {"median": stats["median"], "p90": stats["p90"]},
        "has_users_table": users is not None,
        "n_users_table": users.height if users is not None else None,
        "roles": roles,
    }


def _value(o: dict[str, Any]) -> dict[str, Any]:
    """Whether ``value`` carries amounts (purchase logs, durations) and what they look like."""
    n = int(o["v_n"])
    present = n > 0
    return {
        "present": present,
        "n_non_null": n,
        "share_non_null": _share(n, int(o["n_events"])),
        "sum": o["v_sum"] if present else None,
        "median": o["v_median"],
        "p90": o["v_p90"],
        "min": o["v_min"],
        "max": o["v_max"],
        "share_negative": _share(int(o["v_neg"]), n),
    }


def _cadence(accounts: pl.DataFrame, account_day: pl.DataFrame, n_events: int) -> dict[str, Any]:
    """How often accounts come back. ``typical_gap_days``: median over accounts (with at least
    two active days) of the median gap in days between consecutive active days."""
    stats = accounts.select(
        pl.col("median_gap").median().alias("gap"),
        (pl.col("active_days") == 1).sum().alias("single"),
        pl.col("median_gap").is_not_null().sum().alias("with_gap"),
    ).row(0, named=True)
    # 1970-01-01 (day 0) was a Thursday: weekday index (Monday = 0) = (day + 3) mod 7.
    weekday = account_day.group_by(((pl.col(_DAY) + 3) % 7).alias("wd")).agg(pl.col("n").sum())
    by_wd = dict.fromkeys(range(7), 0)
    by_wd.update({int(d): int(n) for d, n in weekday.iter_rows()})
    return {
        "typical_gap_days": stats["gap"],
        "n_accounts_with_gap": int(stats["with_gap"]),
        "share_single_active_day": _share(int(stats["single"]), accounts.height),
        "share_weekend_events": _share(by_wd[5] + by_wd[6], n_events),
        "share_events_by_weekday": {_WEEKDAYS[d]: _share(by_wd[d], n_events) for d in range(7)},
    }


def _segments(
    tables: Tables | SpooledTables,
    extra: list[str],
    account_cols: list[pl.DataFrame],
    n_events: int,
    n_accounts: int,
    k: int,
) -> list[dict[str, Any]]:
    """Candidate segment columns: the accounts table's ``tables.segments`` and extra string
    columns of the events. An event-level column that takes several values within one account
    (a plan that changes, a device) is an attribute of the event, not a fixed segment."""
    out: list[dict[str, Any]] = []
    acc = tables.accounts
    for s in tables.segments:
        if acc is None or s not in acc.columns:
            continue
        counts = acc.group_by(s).agg(pl.len().alias("n"))
        n_null = int(counts.filter(pl.col(s).is_null())["n"].sum())
        out.append(
            {
                "column": s,
                "source": "accounts",
                "n_distinct": int(counts.filter(pl.col(s).is_not_null()).height),
                "top_values": _top_values(counts, s, k),
                "null_share": _share(n_null, acc.height),
                "varies_within_account": False,
                "share_accounts_varying": None,
            }
        )
    for c, pairs in zip(extra, account_cols, strict=True):
        counts = pairs.group_by(c).agg(pl.col("n").sum())
        n_null = int(counts.filter(pl.col(c).is_null())["n"].sum())
        varying = (
            pairs.filter(pl.col(c).is_not_null())
            .group_by("account_id")
            .len()
            .filter(pl.col("len") > 1)
            .height
        )
        out.append(
            {
                "column": c,
                "source": "events",
                "n_distinct": int(counts.filter(pl.col(c).is_not_null()).height),
                "top_values": _top_values(counts, c, k),
                "null_share": _share(n_null, n_events),
                "varies_within_account": varying > 0,
                "share_accounts_varying": _share(varying, n_accounts),
            }
        )
    return out


# --------------------------------------------------------------------------- suggestions


def _suggest_snapshot(
    gap: float | None, span: int | None, horizon_days: int, min_history_days: int
) -> dict[str, dict[str, Any]]:
    """``snapshot.every_days`` and ``snapshot.count``.

    every_days: the smallest of 7, 14, 28 that is at least the typical gap (capped at 28), so a
    cutoff rarely falls between two visits of a typical account; 7 when there is no gap.

    count: cutoffs are ``as_of - k * every_days`` with ``as_of`` = the day of
    ``observed_until``. Every cutoff needs ``min_history_days`` of log before it, so
    ``count = floor((span_days - min_history_days) / every_days) + 1``, capped at 52, at least 1.
    The newest ``ceil(horizon_days / every_days)`` of them cannot be labelled yet (their horizon
    runs past ``observed_until``); the reason says how many remain for training, and warns when
    the span is shorter than ``min_history_days + horizon_days`` (no labelled cutoff at all).
    """
    if gap is None:
        every = 7
        every_reason = "No account has two active days yet, so cutoffs stay weekly (7 days)."
    else:
        every = next((c for c in EVERY_DAYS_CHOICES if c >= gap), EVERY_DAYS_CHOICES[-1])
        if every == 7:
            every_reason = (
                f"Accounts are typically active every {_fmt(gap)} days (median gap "
                f"between active days), so weekly cutoffs follow their rhythm."
            )
        else:
            why = (
                "the longest step offered"
                if gap > EVERY_DAYS_CHOICES[-1]
                else "the smallest of 7/14/28 days at least that gap"
            )
            every_reason = (
                f"Accounts are typically active only every {_fmt(gap)} days, so "
                f"cutoffs every {every} days ({why})."
            )
    if span is None:
        return {
            "snapshot.every_days": {"value": every, "reason": every_reason},
            "snapshot.count": {"value": 1, "reason": "The log has no events: one cutoff."},
        }
    fit = (span - min_history_days) // every + 1 if span >= min_history_days else 0
    count = min(MAX_COUNT, max(1, fit))
    unlabelled = math.ceil(horizon_days / every)
    labelled = max(0, count - unlabelled)
    if span < min_history_days + horizon_days:
        count_reason = (
            f"The log spans only {span} days, less than {min_history_days} days of "
            f"history plus a {horizon_days}-day label window: {count} cutoff(s) "
            f"for scoring, none can be labelled for training."
        )
    else:
        cap = f", capped at {MAX_COUNT}" if fit > MAX_COUNT else ""
        count_reason = (
            f"The log spans {span} days: {fit} cutoffs every {every} days fit after "
            f"{min_history_days} days of history{cap}; {labelled} of {count} have a "
            f"full {horizon_days}-day label window."
        )
    return {
        "snapshot.every_days": {"value": every, "reason": every_reason},
        "snapshot.count": {"value": count, "reason": count_reason},
    }


def _suggest_vocabulary(
    etypes: pl.DataFrame, absent: bool, default_event: str, min_share: float, cap: int
) -> dict[str, Any]:
    """Event types reached by at least ``min_share`` of accounts, top ``cap`` by reach."""
    if absent:
        return {
            "value": [],
            "reason": f"The log has a single event name ('{default_event}', "
            f"the default): no event column, no per-event features.",
        }
    common = etypes.filter(pl.col("share_accounts") >= min_share)
    vocab = common["event"].head(cap).to_list()
    dropped = etypes.height - common.height
    capped = f"; the top {cap} by accounts reaching are kept" if common.height > cap else ""
    rare = f"; {dropped} rarer ones are left out" if dropped else ""
    return {
        "value": vocab,
        "reason": f"{common.height} of {etypes.height} event types are reached by at least "
        f"{_pct(min_share)} of accounts{capped}{rare}.",
    }


def _suggest_milestones(
    etypes: pl.DataFrame, absent: bool, slugs: dict[str, str], exclude: Sequence[str]
) -> dict[str, Any]:
    """Later steps on the journey: first occurrence of an event type reached by 5%..95% of
    accounts with a median time-to-first above 0 days. ``expected_days`` = that median rounded
    up (at least 1). The (at most 5) most widely reached qualify, listed by expected_days."""
    if absent:
        return {"value": [], "reason": "The log has no event names, so no milestones."}
    cand = (
        etypes.filter(
            pl.col("share_accounts").is_between(MILESTONE_MIN_SHARE, MILESTONE_MAX_SHARE),
            pl.col("median_days_to_first") > 0,
            pl.col("event").is_in(list(slugs)),
            ~pl.col("event").is_in(list(exclude)),
        )
        .head(MAX_MILESTONES)
        .with_columns(
            pl.col("median_days_to_first")
            .ceil()
            .clip(lower_bound=1)
            .cast(pl.Int64)
            .alias("expected_days")
        )
        .sort(["expected_days", "event"])
    )
    if cand.is_empty():
        return {
            "value": [],
            "reason": f"No event type is a later step: none is reached by "
            f"{_pct(MILESTONE_MIN_SHARE)}-{_pct(MILESTONE_MAX_SHARE)} "
            f"of accounts after their first day.",
        }
    rows, parts = [], []
    for r in cand.iter_rows(named=True):
        rows.append(
            {
                "name": f"first_{slugs[r['event']]}",
                "events": [r["event"]],
                "expected_days": r["expected_days"],
                "description": f"first {_words(r['event'])}",
            }
        )
        parts.append(
            f"'{r['event']}' ({_pct(r['share_accounts'])} of accounts, median "
            f"{_fmt(r['median_days_to_first'])} days)"
        )
    return {
        "value": rows,
        "reason": f"First reached after the first day by {_pct(MILESTONE_MIN_SHARE)}-"
        f"{_pct(MILESTONE_MAX_SHARE)} of accounts: " + ", ".join(parts) + ".",
    }


def _suggest_entity(users: dict[str, Any], n_events: int) -> dict[str, Any]:
    """The noun for pages: "account" when several people act for one, else "customer"."""
    if users["user_ids_differ"]:
        return {
            "value": "account",
            "reason": f"User ids differ from account ids on "
            f"{_pct(users['share_events_user_differs'])} of events (users per "
            f"account: median {_fmt(users['users_per_account']['median'])}, 90th "
            f"percentile {_fmt(users['users_per_account']['p90'])}), so pages say "
            f"'account'.",
        }
    return {
        "value": "customer",
        "reason": f"Every one of the {n_events} events has user id = account id (a "
        f"single-user log), so pages say 'customer'.",
    }
