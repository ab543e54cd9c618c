"""Checking one raw table against the data contract (``ingest/tables.py``, docs/ARCHITECTURE.md).

Two kinds of problems, handled differently on purpose:

* **Table-level** (a required column is missing, a column has a type that cannot mean what the
  contract says, a segment column does not exist): nothing in the table can be trusted, so
  :class:`core.errors.DataValidationError` is raised at once, whatever ``data.on_error`` says.
* **Row-level** (a timestamp that does not parse, a null id, an event of an unknown account,
  ...): the row is *rejected* with a ``reason`` code and the ``reason_column`` it concerns. Every
  input row ends up either clean or rejected (never dropped), and each rejected row keeps its raw
  source values so a human can fix the source. :mod:`ingest.load` decides whether rejected rows
  fail the job or go to the quarantine.

A row with several problems gets one reason: cast/parse failures first (in contract column
order), then the rest in :data:`REASONS` order. Everything is one
lazy polars query per table (parse, flag, collect once), so 10M events take seconds.

Time semantics: canonical timestamps are ``Datetime("us", "UTC")``. Naive source timestamps
(naive parquet datetimes, CSV strings without an offset, dates) are wall-clock times in
``data.timezone`` and are converted to UTC; strings with an offset (``+02:00``, ``Z``) keep
their instant. Local times that do not exist (skipped by a DST change) count as unparseable;
ambiguous ones (repeated by a DST change) take the earlier instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from core.errors import DataValidationError
from core.logs import get_logger
from core.progress import step
from ingest.read import SOURCE_FILE, RawTable
from ingest.tables import (
    ACCOUNTS_OPTIONAL,
    ACCOUNTS_REQUIRED,
    EVENTS_OPTIONAL,
    EVENTS_REQUIRED,
    TS,
    USERS_OPTIONAL,
    USERS_REQUIRED,
)

REASON = "reason"
REASON_COLUMN = "reason_column"
# Row-level reason codes, in priority order (a row with several problems gets the first).
REASONS = (
    "uncastable_value",  # value cannot be cast to the column type (e.g. value="abc")
    "unparseable_timestamp",  # timestamp text matches neither data.timestamp_format nor ISO 8601
    "null_id",  # id column null or blank
    "null_timestamp",  # required timestamp (timestamp / created_at) is null
    "future_timestamp",  # required timestamp after the wall-clock time of validation
    "unknown_account",  # account_id not in the (clean) accounts table
    "duplicate_row",  # exact copy of an earlier row (all source columns); first kept
    "duplicate_id",  # users/accounts: same key as an earlier clean row; first kept
)

_P = "__parsed_"  # prefix of parsed canonical columns inside the query


log = get_logger(__name__)


@dataclass(frozen=True)
class TableContract:
    """What one canonical table must look like.

    ``ids``: must be non-null. ``times``: required timestamps (non-null, not in the future).
    ``key``: unique per row (first kept). ``account_ref``: checked against the accounts table.
    ``extra_strings``: further required String columns (the segment columns of accounts).
    ``optional_strings``: String attribute columns kept when the source has them (e.g. the
    ``plan`` that sets the renewal cycle); never required.
    """

    name: str
    required: Mapping[str, pl.DataType]
    optional: Mapping[str, pl.DataType]
    ids: tuple[str, ...]
    times: tuple[str, ...]
    key: str | None = None
    account_ref: bool = False
    extra_strings: tuple[str, ...] = ()
    optional_strings: tuple[str, ...] = ()

    def columns(self) -> dict[str, pl.DataType]:
        """All contract columns with their canonical dtypes, in canonical order."""
        cols: dict[str, pl.DataType] = dict(self.required)
        cols.update({c: pl.String() for c in self.extra_strings})
        cols.update({c: pl.String() for c in self.optional_strings if c not in cols})
        cols.update(self.optional)
        return cols


def contract_for(
    table: str,
    segments: list[str] | tuple[str, ...] = (),
    attributes: list[str] | tuple[str, ...] = (),
) -> TableContract:
    """The contract of ``events``, ``users`` or ``accounts``. ``segments`` are required String
    columns of accounts, or of events for segments that live on the events (e.g. a
    clickstream's device); optional attribute columns only apply to accounts."""
    if table == "events":  # segments here are the ones that live on the events
        return TableContract(
            "events",
            EVENTS_REQUIRED,
            EVENTS_OPTIONAL,
            ids=("account_id",),
            times=("timestamp",),
            account_ref=True,
            extra_strings=tuple(segments),
        )
    if table == "users":
        return TableContract(
            "users",
            USERS_REQUIRED,
            USERS_OPTIONAL,
            ids=("user_id", "account_id"),
            times=("created_at",),
            key="user_id",
            account_ref=True,
        )
    if table == "accounts":
        return TableContract(
            "accounts",
            ACCOUNTS_REQUIRED,
            ACCOUNTS_OPTIONAL,
            ids=("account_id",),
            times=("created_at",),
            key="account_id",
            extra_strings=tuple(segments),
            optional_strings=tuple(a for a in attributes if a not in segments),
        )
    raise ValueError(f"unknown table {table!r}; expected events, users or accounts")


@dataclass
class ValidatedTable:
    """Result of validating one table.

    ``clean``: contract columns only, canonical names and dtypes. ``rejected``: every rejected
    row with all its raw source columns (canonical names), ``source_file``, ``reason`` and
    ``reason_column``. ``len(clean) + len(rejected)`` is the number of input rows.
    """

    raw: RawTable
    clean: pl.DataFrame
    rejected: pl.DataFrame
    counts: dict[tuple[str, str | None], int] = field(default_factory=dict)
    #: Clean rows when they are not in ``clean`` (events validated into ``ingest.spool``).
    n_clean: int | None = None

    @property
    def clean_rows(self) -> int:
        return self.clean.height if self.n_clean is None else self.n_clean

    @property
    def n_input(self) -> int:
        return self.clean_rows + self.rejected.height


# ----------------------------------------------------------------------------- table level


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return "string"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return "float"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.Date:
        return "date"
    if dtype == pl.Null:
        return "null"
    return "other"


# Source kinds each canonical dtype accepts; anything else is a mistyped column (fatal).
_ACCEPTS = {
    "string": {"string", "integer", "null"},  # integer ids are common; cast to text
    "datetime": {"string", "datetime", "date", "null"},  # strings are parsed row by row
    "float": {"string", "integer", "float", "null"},
    "integer": {"string", "integer", "float", "null"},  # floats must be whole numbers
}


def _target_kind(dtype: pl.DataType) -> str:
    kind = _kind(dtype)
    return "float" if kind == "float" else kind


def check_schema(raw: RawTable, contract: TableContract) -> None:
    """Raise if a required column is missing or any contract column has an unusable dtype.

    Fatal for the whole table regardless of ``data.on_error``: without the column (or with, say,
    a boolean ``timestamp``) no row can be validated. The message names the table, file(s),
    column (and its source name), expected and found dtype.
    """
    schema = raw.frame.collect_schema()
    available = [c for c in schema.names() if c != SOURCE_FILE]
    missing = [c for c in contract.required if c not in schema]
    missing_segments = [c for c in contract.extra_strings if c not in schema]
    if missing_segments:
        raise DataValidationError(
            f"{contract.name} ({raw.location}): segment column(s) {missing_segments} from "
            f"data.segments not found; available columns: {available}",
            hint="set data.segments to columns of the accounts table (or map them with "
            "data.columns)",
        )
    if missing:
        shown = ", ".join(
            f"{c} (expected source column '{raw.source_name(c)}')" if raw.source_name(c) != c else c
            for c in missing
        )
        raise DataValidationError(
            f"{contract.name} ({raw.location}): required column(s) missing: {shown}; "
            f"available columns: {available}",
            hint="map your column names with data.columns.<canonical>=<source column>",
        )
    for col, want in contract.columns().items():
        if col not in schema:
            continue
        found = schema[col]
        if col in contract.extra_strings or col in contract.optional_strings:
            ok = not found.is_nested()  # any scalar segment value reads as text
        else:
            ok = _kind(found) in _ACCEPTS[_target_kind(want)]
        if not ok:
            raise DataValidationError(
                f"{contract.name} ({raw.location}): column {raw.label(col)} has dtype {found}, "
                f"expected {want}",
                hint=f"store {col} as {want} (or as text that casts to it) in the source",
            )


# ----------------------------------------------------------------------------- parsing

Stages = list[list[pl.Expr]]


def _iso_utc(col: str, timezone: str) -> tuple[Stages, pl.Expr]:
    """Parse ISO 8601 text (date, date + time, optional fraction, optional offset or Z) to UTC.

    Cheap string slicing (no regex) splits an optional ``Z``/``±HH:MM``/``±HHMM`` suffix from the
    local part, the local part is completed to ``YYYY-MM-DD HH:MM:SS[.f]`` and parsed with ONE
    explicit format, then the offset (or ``timezone`` for naive values) turns it into UTC. A mix
    of forms in one column still parses (no per-file format guessing).

    Returns the helper-column stages and the final expression: intermediate results are
    materialised as temporary columns because the same nested expression referenced several
    times is evaluated several times (8x slower on 2M rows than staged: ~1 s).
    """
    t = f"__iso_{col}_"
    s, z, ol, b, o, loc, om = (pl.col(t + x) for x in ("s", "z", "ol", "b", "o", "l", "om"))
    n = s.str.len_chars()
    signed = lambda back: s.str.slice(-back, 1).is_in(["+", "-"])  # noqa: E731
    colon = (n >= 22) & signed(6) & (s.str.slice(-3, 1) == ":")
    plain = (n >= 21) & signed(5) & ~colon
    sign = pl.when(o.str.starts_with("-")).then(-1).otherwise(1)
    body_len = b.str.len_chars()
    stages: Stages = [
        [pl.col(col).str.strip_chars().str.replace("T", " ", literal=True).alias(t + "s")],
        [(s.str.ends_with("Z") | s.str.ends_with("z")).alias(t + "z")],
        [pl.when(z).then(s.str.head(-1)).otherwise(s).alias(t + "s")],
        [pl.when(colon).then(6).when(plain).then(5).otherwise(0).alias(t + "ol")],
        [s.str.head(n - ol).alias(t + "b"), s.str.tail(ol).alias(t + "o")],
        [
            pl.when(body_len == 10)
            .then(b + " 00:00:00")
            .when(body_len == 16)
            .then(b + ":00")
            .otherwise(b)
            .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us")
            .alias(t + "l"),
            (
                sign
                * (
                    o.str.slice(1, 2).cast(pl.Int64, strict=False) * 60
                    + o.str.tail(2).cast(pl.Int64, strict=False)
                )
            )
            .fill_null(0)
            .alias(t + "om"),
        ],
    ]
    with_offset = loc.dt.replace_time_zone("UTC") - pl.duration(minutes=om)
    final = pl.when(z | (ol > 0)).then(with_offset).otherwise(_local_to_utc(loc, timezone))
    return stages, final


def _local_to_utc(naive: pl.Expr, timezone: str) -> pl.Expr:
    return naive.dt.replace_time_zone(
        timezone, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


def _returns_aware(expr: pl.Expr, col: str) -> bool:
    """Whether a string -> datetime expression on ``col`` yields tz-aware values (``%z``)."""
    probe = pl.LazyFrame(schema={col: pl.String}).select(expr.alias("y")).collect_schema()
    return getattr(probe["y"], "time_zone", None) is not None


def parse_expr(
    col: str, source: pl.DataType, target: pl.DataType, timezone: str, timestamp_format: str | None
) -> tuple[Stages, pl.Expr] | pl.Expr | None:
    """Expression turning raw column ``col`` into its canonical dtype; None if already canonical.

    ISO 8601 text returns ``(stages, expr)``: helper columns to add first (see :func:`_iso_utc`).
    Values that cannot be converted become null; :func:`validate_table` rejects the rows where
    the raw value was non-null but the parsed one is null.
    """
    c = pl.col(col)
    kind, want = _kind(source), _target_kind(target)
    if want == "string":
        if source == pl.String:
            return None
        return c.cast(pl.String)
    if want == "datetime":
        if kind == "string":
            if timestamp_format is None:
                return _iso_utc(col, timezone)
            parsed = c.str.strip_chars().str.to_datetime(
                timestamp_format, strict=False, time_unit="us"
            )
            if _returns_aware(parsed, col):
                return parsed.dt.convert_time_zone("UTC")
            return _local_to_utc(parsed, timezone)
        if kind == "datetime":
            if source == TS:
                return None
            if getattr(source, "time_zone", None) is None:
                return _local_to_utc(c.cast(pl.Datetime("us")), timezone)
            return c.dt.convert_time_zone("UTC").cast(TS)
        if kind == "date":
            return _local_to_utc(c.cast(pl.Datetime("us")), timezone)
        return c.cast(TS)  # all-null column
    if want == "float":
        if source == pl.Float64:
            return None
        if kind == "string":
            return c.str.strip_chars().cast(pl.Float64, strict=False)
        return c.cast(pl.Float64)
    # integer
    if source == pl.Int64:
        return None
    if kind == "string":
        return c.str.strip_chars().cast(pl.Int64, strict=False)
    if kind == "float":
        return pl.when(c == c.round()).then(c.cast(pl.Int64, strict=False))
    return c.cast(pl.Int64, strict=False)


# ----------------------------------------------------------------------------- row level

_DUP_CANDIDATE = "__duplicate_candidate"


def _exact_duplicates(df: pl.DataFrame, raw_cols: list[str]) -> pl.Series:
    """True for rows that exactly repeat an earlier row (all source columns; first kept).

    Why two steps: an exact ``is_first_distinct`` over a struct of every column costs ~2 s per
    10M rows, a hash ~0.5 s. Exact duplicates always share a hash, so the exact comparison only
    runs on the (usually tiny) set of rows whose hash occurs more than once; hash collisions
    between different rows are therefore never mistaken for duplicates.
    """
    positions = df.select(pl.arg_where(pl.col(_DUP_CANDIDATE))).to_series()
    if positions.is_empty():
        return pl.repeat(False, df.height, dtype=pl.Boolean, eager=True)
    subset = df[positions].select(pl.struct(raw_cols).is_first_distinct().alias("first"))
    repeated = positions.filter(~subset["first"])
    return df.select(pl.int_range(pl.len()).is_in(repeated.implode()).alias("d"))["d"]


def _mark(df: pl.DataFrame, flag: pl.Series, code: str, column: str | None) -> pl.DataFrame:
    """Give ``code``/``column`` to flagged rows that have no reason yet (earlier reasons win)."""
    if not flag.any():
        return df
    hit = pl.lit(flag) & pl.col(REASON).is_null()
    return df.with_columns(
        pl.when(hit).then(pl.lit(code)).otherwise(pl.col(REASON)).alias(REASON),
        pl.when(hit)
        .then(pl.lit(column, dtype=pl.String))
        .otherwise(pl.col(REASON_COLUMN))
        .alias(REASON_COLUMN),
    )


def validate_table(
    raw: RawTable,
    contract: TableContract,
    *,
    timezone: str = "UTC",
    timestamp_format: str | None = None,
    now: datetime,
    known_accounts: pl.Series | None = None,
) -> ValidatedTable:
    """Split one raw table into clean canonical rows and rejected raw rows (with reasons).

    ``now`` is the wall-clock instant (tz-aware) after which required timestamps count as
    future. ``known_accounts`` (the clean accounts' ids) enables the unknown-account check;
    None when the source has no accounts table. Raises for table-level problems only.
    The log gets the table's start and elapsed time (a long log validates for a while).
    """
    with step(f"ingest: validate {contract.name}", log):
        plan = plan_validation(
            raw,
            contract,
            timezone=timezone,
            timestamp_format=timestamp_format,
            now=now,
            known_accounts=known_accounts,
        )
        clean, rejected, counts = split_rows(collect_rows(plan), plan.split)
        return ValidatedTable(raw=raw, clean=clean, rejected=rejected, counts=counts)


@dataclass(frozen=True)
class RowSplit:
    """What splitting collected rows into clean and rejected needs (plain, picklable data: a
    Dask worker splits its partition with it, ``ingest.spool.validate_chunk``)."""

    wanted: tuple[str, ...]  # contract columns present, in canonical order
    canon: dict[str, str]  # contract column -> its canonical value's column in the query
    raw_cols: tuple[str, ...]  # source columns (partition columns included)
    row_cols: tuple[str, ...]  # a row's own columns: the exact-duplicate key
    key: str | None  # unique key (users/accounts), first kept


@dataclass(frozen=True)
class ValidationPlan:
    """One table's validation as a lazy query (parsed columns, ``reason``, ``reason_column``
    per row) and how to split its collected rows (:meth:`split`)."""

    name: str
    location: str
    query: pl.LazyFrame
    split: RowSplit


def plan_validation(
    raw: RawTable,
    contract: TableContract,
    *,
    timezone: str,
    timestamp_format: str | None,
    now: datetime,
    known_accounts: pl.Series | None,
) -> ValidationPlan:
    """The row-level checks of ``raw`` as one lazy query; every check is per row, so the query
    streams (exact duplicates and duplicate keys are decided on the collected rows:
    :func:`split_rows`). ``source_file`` and partition columns are Categorical inside it (a
    path string per row is the largest column of a big log) and String again in ``rejected``."""
    check_schema(raw, contract)
    schema = raw.frame.collect_schema()
    raw_cols = [c for c in schema.names() if c != SOURCE_FILE]
    # A row's own columns: not the hive partition columns, which say where its file sits.
    row_cols = [c for c in raw_cols if c not in raw.partitions]
    wanted = {c: t for c, t in contract.columns().items() if c in schema}

    parsed: dict[str, pl.Expr] = {}
    stages: Stages = []
    for col, target in wanted.items():
        expr = parse_expr(col, schema[col], target, timezone, timestamp_format)
        if isinstance(expr, tuple):
            for i, stage in enumerate(expr[0]):  # columns' helper stages run side by side
                if i == len(stages):
                    stages.append([])
                stages[i].extend(stage)
            expr = expr[1]
        if expr is not None:
            parsed[col] = expr
    # Name of the canonical value of each contract column inside the query.
    canon = {c: (f"{_P}{c}" if c in parsed else c) for c in wanted}

    checks: list[tuple[str, str | None, pl.Expr]] = []
    for col in wanted:
        if col in parsed:
            code = "unparseable_timestamp" if wanted[col] == TS else "uncastable_value"
            failed = pl.col(col).is_not_null() & pl.col(canon[col]).is_null()
            if schema[col] == pl.String:
                failed = failed & (pl.col(col).str.strip_chars() != "")
            checks.append((code, col, failed))
    for col in contract.ids:
        value = pl.col(canon[col])
        checks.append(("null_id", col, value.is_null() | (value.str.strip_chars() == "")))
    for col in contract.times:
        blank = pl.col(col).str.strip_chars() == "" if schema[col] == pl.String else pl.lit(False)
        checks.append(("null_timestamp", col, pl.col(col).is_null() | blank))
    for col in contract.times:
        checks.append(("future_timestamp", col, pl.col(canon[col]) > pl.lit(now).cast(TS)))
    if contract.account_ref and known_accounts is not None:
        checks.append(
            (
                "unknown_account",
                "account_id",
                ~pl.col(canon["account_id"]).is_in(known_accounts.implode()),
            )
        )

    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    reason_col: pl.Expr = pl.lit(None, dtype=pl.String)
    for code, column, flag in reversed(checks):  # build the when-chain so the first check wins
        reason = pl.when(flag.fill_null(False)).then(pl.lit(code)).otherwise(reason)
        reason_col = (
            pl.when(flag.fill_null(False))
            .then(pl.lit(column, dtype=pl.String))
            .otherwise(reason_col)
        )

    lf = raw.frame
    for stage in stages:
        lf = lf.with_columns(stage)
    lf = lf.with_columns([e.alias(f"{_P}{c}") for c, e in parsed.items()])
    helpers = {e.meta.output_name() for stage in stages for e in stage}
    if helpers:
        lf = lf.drop(sorted(helpers))
    # (a partition key that is a contract column, e.g. an event segment, stays text)
    where = [c for c in (SOURCE_FILE, *raw.partitions) if c not in wanted]
    lf = lf.with_columns(
        reason.alias(REASON),
        reason_col.alias(REASON_COLUMN),
        *[pl.col(c).cast(pl.Categorical) for c in where if c in schema],
    )
    split = RowSplit(
        wanted=tuple(wanted),
        canon=canon,
        raw_cols=tuple(raw_cols),
        row_cols=tuple(row_cols),
        key=contract.key,
    )
    return ValidationPlan(contract.name, raw.location, lf, split)


def split_rows(
    df: pl.DataFrame, split: RowSplit
) -> tuple[pl.DataFrame, pl.DataFrame, dict[tuple[str, str | None], int]]:
    """(clean, rejected, counts) of the collected rows of a :class:`ValidationPlan` query:
    exact duplicates (all of a row's own columns; first kept) and duplicate keys are marked
    here, on rows in source order. Exact on any subset that holds every row of an account,
    since ``account_id`` is part of both keys (``ingest.spool``)."""
    row_cols = list(split.row_cols)
    df = df.with_columns(
        # Rows sharing a 64-bit hash of all source columns: the only possible exact duplicates.
        pl.struct(row_cols).hash(seed=0).is_duplicated().alias(_DUP_CANDIDATE)
    )
    df = _mark(df, _exact_duplicates(df, row_cols), "duplicate_row", None)
    if split.key is not None:
        ok = pl.col(REASON).is_null()
        key = pl.col(split.canon[split.key])
        dup_key = df.select((ok & ~pl.when(ok).then(key).is_first_distinct()).alias("d"))["d"]
        df = _mark(df, dup_key, "duplicate_id", split.key)

    is_clean = pl.col(REASON).is_null()
    clean = df.filter(is_clean).select([pl.col(split.canon[c]).alias(c) for c in split.wanted])
    # Categorical inside the query (plan_validation); text in the quarantine, as read.
    where = [c for c in (*split.raw_cols, SOURCE_FILE) if isinstance(df.schema[c], pl.Categorical)]
    rejected = (
        df.filter(~is_clean)
        .select([*split.raw_cols, SOURCE_FILE, REASON, REASON_COLUMN])
        .with_columns(pl.col(c).cast(pl.String) for c in where)
    )
    return clean, rejected, reason_counts(rejected)


def reason_counts(rejected: pl.DataFrame) -> dict[tuple[str, str | None], int]:
    """Rejected rows per (reason, reason_column), sorted: what ``log_counts`` prints."""
    return {
        (r, c): n
        for r, c, n in rejected.group_by(REASON, REASON_COLUMN)
        .len()
        .sort(REASON, REASON_COLUMN)
        .iter_rows()
    }


def collect_rows(plan: ValidationPlan) -> pl.DataFrame:
    """Run a plan's query (streaming read); a source that cannot be read is a data error."""
    try:
        return plan.query.collect(engine="streaming")
    except pl.exceptions.PolarsError as err:  # e.g. files of one table with different schemas
        raise DataValidationError(
            f"{plan.name} ({plan.location}): cannot read the table: {err}",
            hint="make every file of the table share the same columns and types",
        ) from err


def fill_event_defaults(events: pl.DataFrame, default_event: str) -> pl.DataFrame:
    """Complete the optional event columns: ``user_id`` = account_id, ``event`` = default, ``value`` null.

    Why: account-level logs (no users) and single-kind logs (no event names) are valid sources;
    downstream code can then rely on all five columns. Null ``user_id``/``event`` values in a
    present column (or blank ones) get the same defaults (an event without a user is an
    account-level event).
    """
    cols = events.columns

    def blank_as_null(col: str) -> pl.Expr:
        return pl.when(pl.col(col).str.strip_chars() != "").then(pl.col(col))

    user = (
        blank_as_null("user_id").fill_null(pl.col("account_id"))
        if "user_id" in cols
        else pl.col("account_id")
    )
    event = (
        blank_as_null("event").fill_null(pl.lit(default_event))
        if "event" in cols
        else pl.lit(default_event)
    )
    value = pl.col("value") if "value" in cols else pl.lit(None, dtype=pl.Float64)
    canonical = ("account_id", "user_id", "event", "timestamp", "value")
    extra = [c for c in cols if c not in canonical]  # segments that live on the events
    return events.select(
        pl.col("account_id"),
        user.alias("user_id"),
        event.alias("event"),
        pl.col("timestamp"),
        value.cast(pl.Float64).alias("value"),
        *[blank_as_null(c).alias(c) for c in extra],
    )
