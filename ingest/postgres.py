"""Reading a raw table from PostgreSQL (``data=postgres``): a table name or a query, as parquet.

How: the query result is streamed over ADBC (Arrow record batches, the driver's binary ``COPY``
under the hood) into one spool parquet file per table under ``data.spool_dir``, written batch by
batch, so memory stays bounded by one batch whatever the table's size. ``ingest.read.scan_table``
then scans that file like any parquet source, so validation, quarantine and every step after it
are exactly the code that reads files. Each row's :data:`ingest.read.SOURCE_FILE` reads
``postgres:<schema.table>`` or ``postgres:query:<digest>`` instead of the spool path.

Safety: ``data.events`` etc. are either a ``SELECT``/``WITH`` query (one statement) or a
``[schema.]table`` name of plain identifiers, which is double-quoted (so matched exactly, case
included); anything else is rejected before a connection is opened. The session is read-only
(``default_transaction_read_only``), so a query cannot change the database. The DSN comes only
from the environment variable ``data.dsn_env`` and never reaches a message (``core.database``).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import DataSource
from core.database import connect, describe, dsn_from_env, redact
from core.database import quote_table as quote_ident_path
from core.errors import DatabaseError, DataValidationError
from core.logs import get_logger

log = get_logger(__name__)

_QUERY = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
# Size of one record batch the driver aims at (a hint): what the spool holds in memory at once.
BATCH_HINT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class PostgresSource:
    """Where ``data=postgres`` reads from: the DSN's variable and the spool folder."""

    dsn_env: str
    spool_dir: Path

    @classmethod
    def from_data(cls, data: Any) -> PostgresSource | None:
        """From the ``data`` config section; None when ``data.source`` is files."""
        if DataSource(str(data.get("source", DataSource.files))) != DataSource.postgres:
            return None
        return cls(dsn_env=str(data.dsn_env), spool_dir=Path(str(data.spool_dir)))


def quote_table(spec: str) -> str:
    """``schema.table`` -> ``"schema"."table"``: only plain identifiers, else a data error."""
    try:
        return quote_ident_path(spec)
    except ValueError as err:
        raise DataValidationError(
            f"{spec!r} is neither a [schema.]table name nor a SELECT/WITH query ({err})",
            hint="name a table with letters, digits and underscores (e.g. analytics.events), "
            "or give a query starting with SELECT or WITH",
        ) from None


def source_sql(spec: str) -> tuple[str, str]:
    """(SQL to run, origin label for ``source_file`` and messages) of a table name or a query."""
    text = str(spec).strip()
    if _QUERY.match(text):
        body = text.rstrip().rstrip(";").rstrip()
        if ";" in body:
            raise DataValidationError(
                "the query holds more than one statement (a ';' before its end)",
                hint="give exactly one SELECT/WITH query (no ';' inside it)",
            )
        digest = hashlib.sha256(body.encode()).hexdigest()[:12]
        return body, f"postgres:query:{digest}"
    quoted = quote_table(text)
    return f"SELECT * FROM {quoted}", f"postgres:{text}"


def spool_table(name: str, spec: str, source: PostgresSource) -> tuple[Path, str, int]:
    """Stream table ``name`` (``data.<name>`` = ``spec``) into ``<spool_dir>/<name>.parquet``.

    Returns (spool path, origin label, rows). A missing variable is a config error (exit 2);
    an unreachable server a :class:`core.errors.DatabaseError` (exit 7); a query the server
    refuses (unknown table or column, syntax) a :class:`core.errors.DataValidationError` (exit
    3) naming ``data.<name>`` and the origin, like an unreadable file."""
    import pyarrow.parquet as pq

    try:
        sql, origin = source_sql(spec)
    except DataValidationError as err:
        raise DataValidationError(f"data.{name}: {err.args[0]}", hint=err.hint) from None
    dsn = dsn_from_env(source.dsn_env, "data.dsn_env")
    source.spool_dir.mkdir(parents=True, exist_ok=True)
    path = source.spool_dir / f"{name}.parquet"
    tmp = source.spool_dir / f".{name}.{os.getpid()}.parquet.tmp"
    started = time.perf_counter()
    rows = 0
    conn = connect(dsn, env_var=source.dsn_env, purpose=f"reading data.{name}", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SET default_transaction_read_only = on")
            cur.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_HINT_BYTES)}
            )
            cur.execute(sql)
            reader = cur.fetch_record_batch()
            schema = _plain_schema(reader.schema)
            with pq.ParquetWriter(tmp, schema) as writer:
                for batch in reader:
                    writer.write_batch(_plain_batch(batch, schema))
                    rows += batch.num_rows
        os.replace(tmp, path)
    except Exception as err:  # driver errors: re-raised named, redacted, without the chain
        tmp.unlink(missing_ok=True)
        message = redact(str(err), dsn)
        if _is_server_refusal(err):
            raise DataValidationError(
                f"cannot read {name} from {origin} (data.{name}): {message}",
                hint=f"check that data.{name} names an existing table or a valid query",
            ) from None
        raise DatabaseError(
            f"reading {name} from {origin} at {redact(describe(dsn), dsn)} failed: {message}",
            hint=f"check the server and the connection string in ${source.dsn_env}",
        ) from None
    finally:
        conn.close()
    log.info(
        "%s: %d rows from %s (server %s, DSN from $%s) spooled in %.1fs",
        name,
        rows,
        origin,
        redact(describe(dsn), dsn),
        source.dsn_env,
        time.perf_counter() - started,
    )
    return path, origin, rows


def _plain_schema(schema: Any) -> Any:
    """The reader's schema without driver metadata and with extension types (``numeric`` and
    other types the driver passes as opaque text) as their storage type."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(
                f.name, f.type.storage_type if isinstance(f.type, pa.BaseExtensionType) else f.type
            )
            for f in schema
        ]
    )


def _plain_batch(batch: Any, schema: Any) -> Any:
    import pyarrow as pa

    columns = [c.storage if isinstance(c.type, pa.BaseExtensionType) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _is_server_refusal(err: Exception) -> bool:
    """True for errors the server raised about the statement: SQLSTATE classes 42 (syntax,
    unknown table or column, no privilege), 22 (data), 25 (write in the read-only session),
    0A (not supported)."""
    state = str(getattr(err, "sqlstate", "") or "")
    return state[:2] in {"42", "22", "25", "0A"}
