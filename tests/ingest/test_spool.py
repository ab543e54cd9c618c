"""ingest.spool: events validated per hash-chunk of accounts give the same clean rows, rejects
and observation end as one validation of the whole table, for any number of chunks."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from core.errors import DataValidationError
from ingest.load import load_spooled_tables, load_tables
from ingest.spool import chunk_key
from ingest.validate import REASON
from tests.ingest.conftest import NOW, make_cfg, write_csv, write_parquet

SEG = ("data.segments=[industry]",)


def _accounts(path: Path, ids: list[str]) -> Path:
    return write_csv(
        path,
        {
            "account_id": ids,
            "created_at": ["2025-01-01"] * len(ids),
            "industry": ["retail"] * len(ids),
        },
    )


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(pl.all(), nulls_last=True)


def _compare(tmp_path: Path, events: Path, accounts: Path, n: int) -> None:
    """Eager and spooled validation of the same files: clean events, rejects, counts equal."""
    cfg = make_cfg(events, None, accounts, *SEG)
    eager = load_tables(cfg, tmp_path / f"qa{n}", now=NOW)
    spooled = load_spooled_tables(cfg, tmp_path / f"qb{n}", tmp_path / f"spool{n}", n, now=NOW)
    assert_frame_equal(_sorted(spooled.events.collect()), _sorted(eager.events))
    assert spooled.observed_until == eager.observed_until
    qa, qb = tmp_path / f"qa{n}" / "events.parquet", tmp_path / f"qb{n}" / "events.parquet"
    assert qa.exists() == qb.exists()
    if qa.exists():
        a, b = pl.read_parquet(qa), pl.read_parquet(qb)
        assert a.schema == b.schema  # source_file is text again, as read
        assert_frame_equal(_sorted(b), _sorted(a))
    # Every account's events are in the chunk its hash names, and nowhere else.
    for i in range(n):
        chunk = spooled.chunk(i)
        assert chunk.events.select((chunk_key(pl.col("account_id"), n) == i).all()).item(), (
            f"chunk {i} holds another chunk's account"
        )
        assert chunk.accounts is not None
        assert set(chunk.events["account_id"]) <= set(chunk.accounts["account_id"])


@pytest.mark.parametrize("n", [1, 3, 8])
def test_hostile_log_splits_the_same_in_any_number_of_chunks(tmp_path: Path, n: int) -> None:
    ids = [f"a{i}" for i in range(12)]
    accounts = _accounts(tmp_path / "accounts.csv", ids)
    rows = {
        "account_id": [*ids, "a1", "a1", "a2", "zz", None, " ", "a3", "a4", "a5"],
        "timestamp": [
            *[f"2026-03-{d:02d} 10:00" for d in range(1, 13)],
            "2026-03-02 10:00",  # exact copy of a1's row
            "2026-03-02 10:00",  # and again
            "not a time",
            "2026-03-01",
            "2026-03-01",
            "2026-03-01",
            "2099-01-01",  # future
            "",
            "2026-03-06 10:00",  # exact copy of a5's row, in the other file
        ],
        "event": ["login"] * 21,
    }
    write_csv(tmp_path / "events" / "part-1.csv", {k: v[:15] for k, v in rows.items()})
    write_csv(tmp_path / "events" / "part-2.csv", {k: v[15:] for k, v in rows.items()})
    _compare(tmp_path, tmp_path / "events", accounts, n)
    quarantined = pl.read_parquet(tmp_path / f"qb{n}" / "events.parquet")
    assert quarantined.get_column(REASON).value_counts().sort(REASON).rows() == [
        ("duplicate_row", 3),
        ("future_timestamp", 1),
        ("null_id", 2),
        ("null_timestamp", 1),
        ("unknown_account", 1),
        ("unparseable_timestamp", 1),
    ]


events_rows = st.lists(
    st.tuples(
        st.sampled_from(["a0", "a1", "a2", "a3", "a4", "ghost"]),
        st.integers(min_value=0, max_value=6),  # a day of March (0: a bad timestamp)
        st.sampled_from(["login", "export", None]),
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=events_rows, n=st.integers(min_value=1, max_value=5))
def test_spooled_validation_equals_whole_validation(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, int, str | None]], n: int
) -> None:
    """Any log with repeats, unknown accounts and bad timestamps, any number of chunks."""
    tmp = tmp_path_factory.mktemp("spool")
    accounts = _accounts(tmp / "accounts.csv", [f"a{i}" for i in range(5)])
    frame = pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "timestamp": [f"2026-03-{r[1]:02d} 09:00" if r[1] else "bad" for r in rows],
            "event": [r[2] for r in rows],
        },
        schema={"account_id": pl.String, "timestamp": pl.String, "event": pl.String},
    )
    events = write_parquet(tmp / "events.parquet", frame)
    if not frame.filter((pl.col("account_id") != "ghost") & (pl.col("timestamp") != "bad")).height:
        with pytest.raises(DataValidationError, match="no valid events"):
            load_spooled_tables(
                make_cfg(events, None, accounts, *SEG), tmp / "q", tmp / "spool", n, now=NOW
            )
        return
    _compare(tmp, events, accounts, n)


def test_raw_chunks_are_removed_and_clean_chunks_stay(tmp_path: Path) -> None:
    accounts = _accounts(tmp_path / "accounts.csv", ["a1", "a2", "a3"])
    write_csv(
        tmp_path / "events.csv",
        {"account_id": ["a1", "a2", "a3"], "timestamp": ["2026-03-01"] * 3, "event": ["x"] * 3},
    )
    cfg = make_cfg(tmp_path / "events.csv", None, accounts, *SEG)
    spooled = load_spooled_tables(cfg, tmp_path / "q", tmp_path / "spool", 4, now=NOW)
    assert not list((tmp_path / "spool" / "raw").glob("*/*.parquet"))
    files = [f for f in spooled.spool.files if f]
    assert sum(pl.read_parquet(f).height for f in files) == 3 == spooled.spool.rows
    assert spooled.collect().events.height == 3
