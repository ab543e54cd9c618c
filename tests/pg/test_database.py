"""``core.database``: the DSN helpers need no server (these run in ``make test-fast`` too)."""

from __future__ import annotations

import pytest

from core.database import describe, dsn_from_env, quote_table, redact
from core.errors import ConfigValueError
from ingest.postgres import source_sql


def test_redact_hides_the_dsn_and_anything_shaped_like_a_credential() -> None:
    dsn = "postgresql://reader:s3cr3t-pw@db.internal:5432/analytics?sslmode=require"
    text = f"failed for {dsn}; retry postgres://u:other-pw@h/db with password=kv-secret"
    out = redact(text, dsn)
    for secret in ("s3cr3t-pw", "other-pw", "kv-secret", "reader"):
        assert secret not in out
    assert out.count("***") == 3
    assert redact("host=h password='a b' dbname=x") == "host=h password=*** dbname=x"


def test_describe_names_the_server_without_the_user() -> None:
    assert (
        describe("postgresql://reader:pw@db.internal:5432/analytics")
        == "db.internal:5432/analytics"
    )
    assert describe("host=db port=6543 dbname=app user=u password=pw") == "db:6543/app"


def test_quote_table_accepts_only_plain_identifiers() -> None:
    assert quote_table("crm.Accounts") == '"crm"."Accounts"'
    assert quote_table("decay_scores", suffix="_drivers") == '"decay_scores_drivers"'
    for bad in ("a.b.c", "x;y", '"t"', "", "a b", "9lives", "t" * 64):
        with pytest.raises(ValueError):
            quote_table(bad)


def test_source_sql_keeps_queries_and_quotes_names() -> None:
    assert source_sql("public.events") == (
        'SELECT * FROM "public"."events"',
        "postgres:public.events",
    )
    sql, origin = source_sql("  WITH x AS (SELECT 1) SELECT * FROM x;  ")
    assert sql == "WITH x AS (SELECT 1) SELECT * FROM x"
    assert origin.startswith("postgres:query:") and len(origin) == len("postgres:query:") + 12


def test_dsn_from_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECAY_TEST_DSN", "  ")
    with pytest.raises(ConfigValueError, match=r"DECAY_TEST_DSN \(named by sink\.dsn_env\)"):
        dsn_from_env("DECAY_TEST_DSN", "sink.dsn_env")
    monkeypatch.setenv("DECAY_TEST_DSN", "postgresql://h/db")
    assert dsn_from_env("DECAY_TEST_DSN", "sink.dsn_env") == "postgresql://h/db"
