"""Source layouts other than the canonical three tables, derived into events, users and accounts.

``tracking_plan`` (Segment, RudderStack, Snowplow and alike): a ``tracks`` table (one row per
track call: ``user_id``, ``event``, ``timestamp``, JSON ``properties``) and a ``groups`` table
(one row per group call: ``user_id``, ``account_id`` = the group id, ``timestamp``, traits as
JSON or as columns). Pure polars functions over LazyFrames (whatever the source: files, a
database), applied after both tables passed their own validation (:data:`tracks_contract`,
:func:`groups_contract`); the canonical tables they return are validated again by
:mod:`ingest.load`, exactly like files.

Mapping rules (docs/tracking_plan.md):

* **Event -> account.** A track belongs to the account of the user's latest group call at or
  before its timestamp; a track before the user's first group call belongs to that first group
  (sign-up events usually precede the group call). Ties within one timestamp take the group id
  that sorts last. Tracks of users never grouped are not events: :func:`split_grouped` sets
  them aside and the quarantine gives them reason :data:`NO_GROUP`.
* **Traits.** Group calls are merged like the trackers do: a trait keeps the latest non-null
  value set (a call without it changes nothing). Accounts take each trait's latest value;
  with ``event_traits`` (``data.tracking_plan.segments_as_of_event``) a segment trait goes on
  every event as of the event instead (null before the account's first call setting it).
* **Users.** One row per grouped user: ``account_id`` of the latest group call, user traits
  (e.g. ``role``) latest value over all the user's calls, ``created_at`` the trait if set, else
  first seen (first group call or track).
* **Accounts.** One row per group id: ``created_at`` the trait if set, else first seen (first
  group call or event), segment and attribute traits latest values.
* Trait and property values are text as sent (a nested value is its JSON text); the canonical
  validation casts them (``seats`` to integer, ``renewal_date`` to a timestamp) and rejects the
  rows that do not cast, as for a CRM export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from core.errors import ConfigValueError
from ingest.read import SOURCE_FILE
from ingest.tables import TS
from ingest.validate import TableContract

#: Reason code of a track whose user has no (clean) group call at all.
NO_GROUP = "user_has_no_group"
#: Accounts columns read from traits of their own name when some group call sets them.
ACCOUNT_COLUMNS = ("created_at", "renewal_date", "churned_at", "seats")

tracks_contract = TableContract(
    "tracks",
    {"user_id": pl.String(), "timestamp": TS},
    {},
    ids=("user_id",),
    times=("timestamp",),
)


@dataclass(frozen=True)
class TrackingPlan:
    """What to take from a tracking plan, in canonical terms (built from config by load).

    ``properties``/``traits``: the JSON text columns (None = absent; traits then are columns).
    ``value_property``: property -> ``events.value``. ``event_properties``: properties copied to
    event columns of their own name. ``user_traits``/``account_traits``/``event_traits``:
    canonical column -> trait key (event traits are taken as of each event)."""

    properties: str | None = "properties"
    traits: str | None = "traits"
    value_property: str | None = None
    event_properties: tuple[str, ...] = ()
    user_traits: Mapping[str, str] = field(default_factory=dict)
    account_traits: Mapping[str, str] = field(default_factory=dict)
    event_traits: Mapping[str, str] = field(default_factory=dict)


@dataclass
class DerivedTables:
    """The canonical tables derived from a tracking plan (lazy; validated by the caller)."""

    events: pl.LazyFrame
    users: pl.LazyFrame
    accounts: pl.LazyFrame


# ----------------------------------------------------------------------------- JSON values


def json_path(key: str) -> str:
    """A JSONPath selecting top-level ``key`` (any characters but both quote kinds at once)."""
    if "'" not in key:
        return f"$['{key}']"
    if '"' not in key:
        return f'$["{key}"]'
    raise ConfigValueError(
        f"property/trait key {key!r} holds both quote characters",
        hint="rename the key in the tracking plan, or extract it upstream",
    )


def as_json_text(frame: pl.LazyFrame, column: str | None) -> pl.LazyFrame:
    """``column`` as JSON text when the source stores it as a struct (parquet, databases)."""
    if column is None or column not in (schema := frame.collect_schema()):
        return frame
    if isinstance(schema[column], pl.Struct):
        return frame.with_columns(pl.col(column).struct.json_encode())
    return frame


def value_of(key: str, names: Sequence[str], json_column: str | None) -> pl.Expr | None:
    """A trait/property: the column named ``key`` if present, else the key in the JSON text
    (null where the text is not JSON or lacks it); None when neither can hold it."""
    if key in names:
        return pl.col(key)
    if json_column is not None and json_column in names:
        return pl.col(json_column).str.json_path_match(json_path(key))
    return None


def set_keys(frame: pl.LazyFrame, keys: Sequence[str], json_column: str | None) -> list[str]:
    """Those of ``keys`` with a column, or set (non-null) on at least one row of the JSON."""
    names = frame.collect_schema().names()
    present = [k for k in keys if k in names]
    probe = {k: value_of(k, names, json_column) for k in keys if k not in names}
    exprs = [e.is_not_null().any().alias(k) for k, e in probe.items() if e is not None]
    if exprs:
        row = frame.select(exprs).collect().row(0, named=True)
        present += [k for k, is_set in row.items() if is_set]
    return [k for k in keys if k in present]


# ----------------------------------------------------------------------------- contracts


def groups_contract(groups: pl.LazyFrame, group_id: str, traits: str | None) -> TableContract:
    """The groups table's own contract: ids and time required, every scalar trait column kept
    (text, whole numbers, numbers and times in their canonical dtype; other scalars as text).
    ``source_file`` is kept too, so derived rows can name their file."""
    schema = groups.collect_schema()
    fixed = {"user_id", group_id, "timestamp", SOURCE_FILE}
    typed: dict[str, pl.DataType] = {}
    texts = [SOURCE_FILE] + ([traits] if traits is not None and traits in schema else [])
    for name, dtype in schema.items():
        if name in fixed or name == traits or dtype.is_nested():
            continue
        if dtype.is_integer():
            typed[name] = pl.Int64()
        elif dtype.is_float() or isinstance(dtype, pl.Decimal):
            typed[name] = pl.Float64()
        elif isinstance(dtype, pl.Datetime) or dtype == pl.Date:
            typed[name] = TS
        else:
            texts.append(name)
    return TableContract(
        "groups",
        {"user_id": pl.String(), group_id: pl.String(), "timestamp": TS},
        typed,
        ids=("user_id", group_id),
        times=("timestamp",),
        optional_strings=tuple(texts),
    )


def tracks_contract_for(tracks: pl.LazyFrame, properties: str | None) -> TableContract:
    """:data:`tracks_contract` keeping ``event``, the properties and ``source_file``."""
    names = tracks.collect_schema().names()
    keep = [c for c in ("event", properties, SOURCE_FILE) if c is not None and c in names]
    return TableContract(
        tracks_contract.name,
        tracks_contract.required,
        tracks_contract.optional,
        ids=tracks_contract.ids,
        times=tracks_contract.times,
        optional_strings=tuple(keep),
    )


# ----------------------------------------------------------------------------- mapping


def _user_key() -> pl.Expr:
    return pl.col("user_id").cast(pl.String)


def split_grouped(tracks: pl.LazyFrame, groups: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(tracks of users with a group call, tracks of users without). Rows with a null or blank
    user id stay on the first side (validation rejects them as ``null_id``). Works on raw
    tracks too (the user id compared as text), so the quarantine can keep the raw values."""
    users = groups.select(_user_key().alias("__uid")).unique()
    key = _user_key()
    blank = key.is_null() | (key.str.strip_chars() == "")
    marked = tracks.with_columns(key.alias("__uid"))
    known = marked.join(
        users.with_columns(pl.lit(True).alias("__g")),
        on="__uid",
        how="left",
        maintain_order="left",  # source order: "first kept" for duplicates, deterministic output
    )
    grouped = known.filter(pl.col("__g").is_not_null() | blank.fill_null(True))
    ungrouped = known.filter(pl.col("__g").is_null() & ~blank.fill_null(True))
    return grouped.drop("__uid", "__g"), ungrouped.drop("__uid", "__g")


def _calls_per_instant(
    groups: pl.LazyFrame, by: str, traits: Mapping[str, str], json_column: str | None
) -> pl.LazyFrame:
    """One row per (``by``, timestamp): each trait's value set at that instant (the one that
    sorts last when several calls set it at once), null when no call then set it."""
    names = groups.collect_schema().names()
    exprs = {col: value_of(key, names, json_column) for col, key in traits.items()}
    values = [e.alias(col) for col, e in exprs.items() if e is not None]
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c, e in exprs.items() if e is None]
    return (
        groups.select(by, "timestamp", *values, *missing)
        .group_by(by, "timestamp")
        .agg([pl.col(c).drop_nulls().sort().last() for c in traits])
    )


def _latest(frame: pl.LazyFrame, by: str, columns: Sequence[str]) -> pl.LazyFrame:
    """Per ``by``: each column's latest non-null value (``frame`` has one row per instant)."""
    return frame.group_by(by).agg(
        [pl.col(c).sort_by("timestamp").drop_nulls().last() for c in columns]
    )


def _memberships(groups: pl.LazyFrame) -> pl.LazyFrame:
    """(user_id, timestamp, account_id): one group per user and instant (the id sorting last)."""
    return groups.group_by("user_id", "timestamp").agg(pl.col("account_id").max())


def _first_groups(member: pl.LazyFrame) -> pl.LazyFrame:
    """(user_id, ``__first``): each user's first group."""
    return member.group_by("user_id").agg(
        pl.col("account_id").sort_by("timestamp").first().alias("__first")
    )


def assign_accounts(tracks: pl.LazyFrame, groups: pl.LazyFrame) -> pl.LazyFrame:
    """Tracks (of grouped users) with ``account_id``: the latest group call at or before each
    track, else the user's first group call. A user without any group call gets null."""
    member = _memberships(groups).sort("timestamp")
    first = _first_groups(member)
    # Stable: tracks at one instant keep their source order (the output is the same every run).
    at = tracks.sort("timestamp", maintain_order=True).join_asof(
        member, on="timestamp", by="user_id", strategy="backward", check_sortedness=False
    )
    return (
        at.join(first, on="user_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("account_id", "__first").alias("account_id"))
        .drop("__first")
    )


def _first_seen(*frames: pl.LazyFrame, by: str) -> pl.LazyFrame:
    parts = [f.select(by, "timestamp") for f in frames]
    return pl.concat(parts).group_by(by).agg(pl.col("timestamp").min().alias("__first_seen"))


def _created(trait_dtype: pl.DataType | None) -> pl.Expr:
    """``created_at``: the trait when set, else first seen (as ISO text when the trait is text,
    so validation parses both alike, microseconds kept)."""
    first = pl.col("__first_seen")
    if trait_dtype is None:
        return first.alias("created_at")
    if trait_dtype == pl.String:
        first = first.dt.to_string("%Y-%m-%dT%H:%M:%S%.6f+00:00")
    return pl.coalesce(pl.col("created_at"), first).alias("created_at")


def derive_events(tracks: pl.LazyFrame, groups: pl.LazyFrame, plan: TrackingPlan) -> pl.LazyFrame:
    """Canonical events from the tracks of grouped users: account (:func:`assign_accounts`),
    ``value`` and the event properties from the JSON, event traits as of each event. The
    properties column itself is kept as sent (the canonical validation leaves it out)."""
    names = tracks.collect_schema().names()
    extra: list[pl.Expr] = []
    if plan.value_property is not None:
        value = value_of(plan.value_property, names, plan.properties)
        if value is not None:
            extra.append(value.alias("value"))
    for key in plan.event_properties:
        prop = value_of(key, names, plan.properties)
        if prop is not None and key not in ("value", "account_id", "user_id", "timestamp"):
            extra.append(prop.cast(pl.String).alias(key))
    events = assign_accounts(tracks, groups).with_columns(extra)
    if plan.event_traits:
        at = _calls_per_instant(groups, "account_id", plan.event_traits, plan.traits)
        timeline = (
            at.sort("account_id", "timestamp")
            .with_columns([pl.col(c).forward_fill().over("account_id") for c in plan.event_traits])
            .sort("timestamp")
        )
        events = (
            events.drop([c for c in plan.event_traits if c in names])
            .sort("timestamp")
            .join_asof(
                timeline,
                on="timestamp",
                by="account_id",
                strategy="backward",
                check_sortedness=False,
            )
        )
    return events


def derive_users(tracks: pl.LazyFrame, groups: pl.LazyFrame, plan: TrackingPlan) -> pl.LazyFrame:
    """One row per grouped user: latest group, latest user traits, ``created_at``, source file."""
    member = _memberships(groups)
    latest = member.group_by("user_id").agg(pl.col("account_id").sort_by("timestamp").last())
    traits = dict(plan.user_traits)
    values = _latest(
        _calls_per_instant(groups, "user_id", traits, plan.traits), "user_id", list(traits)
    )
    files = groups.group_by("user_id").agg(pl.col(SOURCE_FILE).sort_by("timestamp").last())
    seen = _first_seen(groups, tracks.filter(_user_key().is_not_null()), by="user_id")
    schema = values.collect_schema()
    users = latest.join(values, on="user_id", how="left").join(seen, on="user_id", how="left")
    users = users.with_columns(_created(schema.get("created_at")))
    if "role" not in traits:
        users = users.with_columns(pl.lit(None, dtype=pl.String).alias("role"))
    if SOURCE_FILE in groups.collect_schema():
        users = users.join(files, on="user_id", how="left")
    return users.drop("__first_seen")


def derive_accounts(tracks: pl.LazyFrame, groups: pl.LazyFrame, plan: TrackingPlan) -> pl.LazyFrame:
    """One row per group id: ``created_at`` and the account traits' latest values.

    First seen is the first group call or event of the account; an event can only precede the
    account's first call when it is a track before its user's first group call (rule of
    :func:`assign_accounts`), so those are added without joining every track."""
    traits = dict(plan.account_traits)
    per = _calls_per_instant(groups, "account_id", traits, plan.traits)
    values = _latest(per, "account_id", list(traits))
    early = (
        tracks.filter(_user_key().is_not_null())
        .group_by("user_id")
        .agg(pl.col("timestamp").min())
        .join(_first_groups(_memberships(groups)), on="user_id")
        .select(pl.col("__first").alias("account_id"), "timestamp")
    )
    seen = _first_seen(groups, early, by="account_id")
    schema = values.collect_schema()
    accounts = seen.join(values, on="account_id", how="left").with_columns(
        _created(schema.get("created_at"))
    )
    if SOURCE_FILE in groups.collect_schema():
        files = groups.group_by("account_id").agg(pl.col(SOURCE_FILE).sort_by("timestamp").last())
        accounts = accounts.join(files, on="account_id", how="left")
    return accounts.drop("__first_seen")


def derive_tables(tracks: pl.LazyFrame, groups: pl.LazyFrame, plan: TrackingPlan) -> DerivedTables:
    """Events, users and accounts from validated tracks (of grouped users) and group calls.

    ``tracks``: user_id, timestamp (UTC), optional event and properties; ``groups``: user_id,
    account_id, timestamp, traits. Every track row becomes exactly one event."""
    events = derive_events(tracks, groups, plan)
    return DerivedTables(
        events=events,
        users=derive_users(tracks, groups, plan),
        accounts=derive_accounts(tracks, groups, plan),
    )
