"""The one way this project reaches PostgreSQL: DSN from the environment, redaction, ADBC connect.

Why the environment: a connection string carries a password, so config files, MLflow params,
Hydra's saved ``.hydra/config.yaml`` and the logs only ever hold the *name* of the variable
(``data.dsn_env`` / ``sink.dsn_env``). Every message built from a driver error goes through
:func:`redact`, and :func:`connect` re-raises without chaining the driver's exception (its text
could echo the DSN), so a traceback cannot leak it either.

Used by ``ingest.postgres`` (the source) and ``scoring.sink`` (the sink).
"""

from __future__ import annotations

import os
import re
from typing import Any

from core.errors import ConfigValueError, DatabaseError

# user:password@ in a URI, and password=... in a key/value DSN (quoted or not).
_URI_SECRET = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s@]*@", re.IGNORECASE)
_KV_SECRET = re.compile(r"(?P<key>password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
REDACTED = "***"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def quote_table(spec: str, *, suffix: str = "") -> str:
    """``schema.table`` -> ``"schema"."table<suffix>"``; a ``ValueError`` for anything but one
    or two plain identifiers (letters, digits, ``_``, ``$``; not starting with a digit). Quoted,
    so the name is matched exactly (case included) and can never be read as SQL."""
    parts = str(spec).strip().split(".")
    if not 1 <= len(parts) <= 2 or not all(_IDENT.match(p) for p in parts):
        raise ValueError(f"{spec!r} is not a [schema.]table name of plain identifiers")
    parts[-1] += suffix
    if len(parts[-1]) > 63:
        raise ValueError(f"{spec!r}: the table name {parts[-1]!r} is longer than 63 characters")
    return ".".join(f'"{p}"' for p in parts)


def quote_ident(name: str) -> str:
    """A column name as a quoted identifier (embedded quotes doubled)."""
    return '"' + str(name).replace('"', '""') + '"'


def dsn_from_env(env_var: str, key: str) -> str:
    """The connection string in environment variable ``env_var`` (named by config ``key``).

    Unset or empty is a :class:`core.errors.ConfigValueError` (exit 2) naming the variable and
    the config key, never a value."""
    dsn = os.environ.get(str(env_var), "").strip()
    if not dsn:
        raise ConfigValueError(
            f"environment variable {env_var} (named by {key}) is not set: no PostgreSQL "
            "connection string",
            hint=f"export {env_var}=postgresql://user:password@host:5432/db (from your secret "
            f"store), or point {key} at the variable that holds it",
        )
    return dsn


def redact(text: str, dsn: str | None = None) -> str:
    """``text`` with the DSN (and any credentials that look like one) replaced by ``***``."""
    out = str(text)
    if dsn:
        out = out.replace(dsn, REDACTED)
    out = _URI_SECRET.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", out)
    return _KV_SECRET.sub(lambda m: f"{m.group('key')}{REDACTED}", out)


def describe(dsn: str) -> str:
    """Host, port and database of ``dsn`` for messages (no user, no password)."""
    match = re.match(r"[a-z][a-z0-9+.-]*://(?:[^/\s@]*@)?(?P<where>[^/?\s]*)(?P<db>/[^?\s]*)?", dsn)
    if match:
        return f"{match.group('where') or 'localhost'}{match.group('db') or ''}"
    fields = dict(re.findall(r"(host|port|dbname)\s*=\s*(\S+)", dsn))
    return "{}:{}/{}".format(
        fields.get("host", "localhost"), fields.get("port", "5432"), fields.get("dbname", "")
    )


def connect(dsn: str, *, env_var: str, purpose: str, autocommit: bool = False) -> Any:
    """An ADBC PostgreSQL DB-API connection, or a :class:`core.errors.DatabaseError` (exit 7)
    naming ``purpose`` (what the connection is for), the variable and the server (host, port,
    database), never the DSN."""
    import adbc_driver_postgresql.dbapi as pg

    try:
        return pg.connect(dsn, autocommit=autocommit)
    except Exception as err:  # the driver's own error classes; re-raised without the chain
        message = redact(str(err), dsn)
        raise DatabaseError(
            f"{purpose}: cannot connect to PostgreSQL at {redact(describe(dsn), dsn)} "
            f"(DSN from ${env_var}): {message}",
            hint=f"check that the server is up and that ${env_var} holds a valid connection string",
        ) from None
