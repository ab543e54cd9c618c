"""``sink=postgres``: the scores of a run, upserted into PostgreSQL in ONE transaction.

``decay-score`` first writes its folder (``scores/as_of=DATE/``, atomically); then
:meth:`PostgresSink.write` copies from that folder, so the database holds exactly the files:

- ``<table>``: every column of ``scores.parquet``, primary key ``(account_id, as_of)``; a re-run
  of the same ``as_of`` updates each account's row (``INSERT ... ON CONFLICT DO UPDATE``) and
  removes the rows of that ``as_of`` whose account is no longer scored (like the folder, which a
  re-run replaces whole). Other dates are untouched.
- ``<table>_drivers``: ``account_id``, ``as_of`` and the columns of ``explanations.parquet`` (one
  row per account x driver); a run replaces the rows of its ``as_of`` (delete + insert), so an
  account's drivers are always those of its score row.
- ``<table>_nudges``: ``account_id``, ``as_of`` and the adoption-map nudge columns, one row per
  account that has a nudge; replaced per ``as_of`` like the drivers.

Types: text, double precision, bigint, boolean, date, timestamptz; list and struct columns (none
today) are stored as ``jsonb``. Missing tables are created and missing columns added
(``ADD COLUMN IF NOT EXISTS``), never dropped. The run holds a transaction-scoped advisory lock
on the table name, so two sinks into one table queue instead of interleaving.

Why one transaction: the rows are staged with ADBC's Arrow ``COPY`` into temporary tables, then
merged and committed once; a run that fails or is killed at any point before the commit leaves
every table exactly as it was. Any failure is a :class:`core.errors.DatabaseError` (exit 7)
whose message never holds the DSN (``core.database``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from core.config import SinkKind
from core.database import connect, describe, dsn_from_env, quote_ident, quote_table, redact
from core.errors import ConfigValueError, DatabaseError, DecayError
from core.logs import get_logger

log = get_logger(__name__)

KEY = ("account_id", "as_of")
NUDGE_COLUMNS = [
    "milestones_reached",
    "milestones_total",
    "next_milestone",
    "next_milestone_late_pct",
    "peer_gap_events",
    "nudge",
    "next_step_evidence",
]
#: Test hook: when set to a path, the sink touches it after staging and merging, then waits
#: (up to 120 s) before the commit, so a test can kill the process inside the transaction.
HOLD_ENV = "DECAY_SINK_HOLD_BEFORE_COMMIT"


@dataclass(frozen=True)
class PostgresSink:
    """A checked ``sink`` section: quoted table names and the DSN's variable."""

    dsn_env: str
    table: str  # as configured, for messages
    scores: str  # quoted identifiers
    drivers: str
    nudges: str

    @classmethod
    def from_cfg(cls, sink: Any) -> PostgresSink | None:
        """None for ``sink=none``; a config error (exit 2) for a bad table name or an unset
        variable, raised when scoring starts rather than after the work is done."""
        if SinkKind(str(sink.kind)) == SinkKind.none:
            return None
        table = str(sink.table)
        try:
            names = [quote_table(table, suffix=s) for s in ("", "_drivers", "_nudges")]
        except ValueError as err:
            raise ConfigValueError(
                f"sink.table: {err}",
                hint="use letters, digits and underscores, e.g. sink.table=analytics.decay_scores",
            ) from None
        dsn_from_env(str(sink.dsn_env), "sink.dsn_env")
        return cls(str(sink.dsn_env), table, *names)

    def write(self, run_dir: Path, as_of: date) -> dict[str, int]:
        """Upsert ``run_dir``'s scores, drivers and nudges; returns the rows written per table."""
        scores = pl.read_parquet(run_dir / "scores.parquet")
        if "as_of" not in scores.columns:
            scores = scores.with_columns(pl.lit(as_of).alias("as_of"))
        drivers = _keyed(pl.read_parquet(run_dir / "explanations.parquet"), as_of)
        present = [c for c in NUDGE_COLUMNS if c in scores.columns]
        nudges = scores.select(*KEY, *present)
        if "nudge" in present:
            nudges = nudges.filter(pl.col("nudge").is_not_null())
        dsn = dsn_from_env(self.dsn_env, "sink.dsn_env")
        started = time.perf_counter()
        conn = connect(dsn, env_var=self.dsn_env, purpose=f"sink {self.table}")
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT pg_advisory_xact_lock(hashtext({_literal(self.table)}))")
                _stage(cur, "scores", scores)
                _stage(cur, "drivers", drivers)
                _stage(cur, "nudges", nudges)
                _ensure_table(cur, self.scores, scores, primary_key=True)
                _ensure_table(cur, self.drivers, drivers, primary_key=False)
                _ensure_table(cur, self.nudges, nudges, primary_key=False)
                _upsert(cur, self.scores, scores)
                _replace(cur, self.drivers, drivers, "drivers")
                _replace(cur, self.nudges, nudges, "nudges")
                _hold_for_tests()
            conn.commit()
        except DecayError:
            _rollback(conn)
            raise
        except Exception as err:  # driver errors: named, redacted, without the chain
            _rollback(conn)
            raise DatabaseError(
                f"sink: writing the scores of {as_of} to {self.table} at "
                f"{redact(describe(dsn), dsn)} failed (nothing was changed): "
                f"{redact(str(err), dsn)}",
                hint=f"check the server, the rights on {self.table} and ${self.dsn_env}; the "
                f"scores folder {run_dir} is written, re-run decay-score to retry the sink",
            ) from None
        finally:
            conn.close()
        counts = {"scores": scores.height, "drivers": drivers.height, "nudges": nudges.height}
        log.info(
            "sink: %s rows upserted into %s (+ _drivers %d, _nudges %d) in %.1fs",
            counts["scores"],
            self.table,
            counts["drivers"],
            counts["nudges"],
            time.perf_counter() - started,
        )
        return counts


def _keyed(frame: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """``frame`` with ``as_of`` as its second column (after ``account_id``)."""
    if "as_of" in frame.columns:
        return frame
    rest = [c for c in frame.columns if c != "account_id"]
    return frame.with_columns(pl.lit(as_of).alias("as_of")).select("account_id", "as_of", *rest)


def _pg_type(dtype: pl.DataType) -> str:
    if dtype == pl.String or dtype == pl.Categorical or dtype == pl.Null:
        return "text"
    if dtype.is_float():
        return "double precision"
    if dtype.is_integer():
        return "bigint"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    if dtype.is_nested():
        return "jsonb"
    return "text"


def _for_staging(frame: pl.DataFrame) -> Any:
    """Arrow table of ``frame`` with nested columns as JSON text and the rest as is."""
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype.is_nested():
            encoded = pl.struct(col.alias("v")).struct.json_encode()
            text = encoded.str.strip_prefix('{"v":').str.strip_suffix("}")
            exprs.append(pl.when(col.is_null()).then(None).otherwise(text).alias(name))
        elif dtype == pl.Categorical or dtype == pl.Null or _pg_type(dtype) == "text":
            exprs.append(col.cast(pl.String))
        else:
            exprs.append(col)
    return frame.select(exprs).to_arrow()


def _stage(cur: Any, kind: str, frame: pl.DataFrame) -> None:
    cur.adbc_ingest(f"decay_stage_{kind}", _for_staging(frame), mode="create", temporary=True)


def _ensure_table(cur: Any, table: str, frame: pl.DataFrame, *, primary_key: bool) -> None:
    columns = [f"{quote_ident(c)} {_pg_type(t)}" for c, t in frame.schema.items()]
    key = ", ".join(quote_ident(k) for k in KEY)
    if primary_key:
        columns.append(f"PRIMARY KEY ({key})")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(columns)})")
    for name, dtype in frame.schema.items():
        cur.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote_ident(name)} {_pg_type(dtype)}"
        )
    if not primary_key:
        index = quote_ident(table.replace('"', "").replace(".", "_")[:50] + "_key")
        cur.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({key})")


def _select_list(frame: pl.DataFrame) -> tuple[str, str]:
    """(target column list, staging select list with the casts to the target's types)."""
    names = ", ".join(quote_ident(c) for c in frame.columns)
    values = ", ".join(
        f"{quote_ident(c)}::{_pg_type(t)}" if _pg_type(t) == "jsonb" else quote_ident(c)
        for c, t in frame.schema.items()
    )
    return names, values


def _upsert(cur: Any, table: str, frame: pl.DataFrame) -> None:
    names, values = _select_list(frame)
    key = ", ".join(quote_ident(k) for k in KEY)
    update = ", ".join(
        f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in frame.columns if c not in KEY
    )
    cur.execute(
        f"INSERT INTO {table} ({names}) SELECT {values} FROM decay_stage_scores "
        f"ON CONFLICT ({key}) DO UPDATE SET {update}"
    )
    # Like the folder a re-run replaces: accounts of these dates no longer scored go.
    cur.execute(
        f"DELETE FROM {table} t WHERE t.as_of IN (SELECT DISTINCT as_of FROM decay_stage_scores) "
        "AND NOT EXISTS (SELECT 1 FROM decay_stage_scores s "
        "WHERE s.account_id = t.account_id AND s.as_of = t.as_of)"
    )


def _replace(cur: Any, table: str, frame: pl.DataFrame, kind: str) -> None:
    """Delete the rows of the run's dates (the scored accounts' and those no longer scored,
    as the scores table does), then insert the staged ones."""
    cur.execute(
        f"DELETE FROM {table} WHERE as_of IN (SELECT DISTINCT as_of FROM decay_stage_scores)"
    )
    names, values = _select_list(frame)
    cur.execute(f"INSERT INTO {table} ({names}) SELECT {values} FROM decay_stage_{kind}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rollback(conn: Any) -> None:
    try:
        conn.rollback()
    except Exception:  # the connection may be gone; the server rolls back on its own
        log.debug("sink: rollback failed (connection lost); the server discards the transaction")


def _hold_for_tests() -> None:
    marker = os.environ.get(HOLD_ENV)
    if not marker:
        return
    Path(marker).write_text(str(os.getpid()))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)
