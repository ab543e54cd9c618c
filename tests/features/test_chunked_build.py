"""features.chunk_accounts: the build on hash-chunks of accounts gives exactly the same dataset."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from core.config import load_config
from core.errors import ConfigValueError
from features.build import (
    _engine,
    account_chunks,
    build_dataset,
    build_features,
    dataset_fingerprint,
    event_firsts,
)
from features.cutoffs import cutoff_dates
from ingest.load import load_tables
from ingest.tables import Tables

PEERS = "[usage_events_28d,active_users_28d,active_days_28d]"
OVERRIDES = [
    "simulate.accounts=90",
    "simulate.days=240",
    "simulate.oracle_replays=2",
    "snapshot.count=8",
    "snapshot.every_days=14",
    f"features.peer_metrics={PEERS}",
]


def _cfg(root: Path, *extra: str) -> Any:
    return load_config([f"data.dir={root}", f"output.dir={root}/out", *OVERRIDES, *extra])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tables]:
    from pipelines.simulate import write_simulation
    from simulator import simulate, spec_from_config

    root = tmp_path_factory.mktemp("chunked")
    cfg = _cfg(root)
    write_simulation(simulate(spec_from_config(cfg)), cfg.data.dir)
    tables = load_tables(cfg, root / "q", now=datetime(2027, 1, 1, tzinfo=UTC))
    return root, tables


@pytest.fixture(scope="module")
def plain(world: tuple[Path, Tables]) -> tuple[pl.DataFrame, dict[str, Any]]:
    root, tables = world
    return build_dataset(tables, _cfg(root))


@pytest.mark.parametrize("chunks", [1, 3, 7])
def test_chunked_dataset_is_identical_to_the_unchunked_one(
    world: tuple[Path, Tables], plain: tuple[pl.DataFrame, dict[str, Any]], chunks: int
) -> None:
    root, tables = world
    dataset, catalogue = plain
    # The cross-account features are there, so a per-chunk computation of them would differ.
    assert {f"{m}_peer_pct" for m in PEERS.strip("[]").split(",")} <= set(dataset.columns)
    assert any(c.endswith("_delay_vs_segment") for c in dataset.columns)
    assert dataset.height > 300 and dataset["label"].is_not_null().sum() > 0
    got, got_catalogue = build_dataset(tables, _cfg(root, f"features.chunk_accounts={chunks}"))
    # Same rows in the same order (cutoff, account_id), same columns, dtypes and values.
    assert_frame_equal(got, dataset, check_exact=True)
    assert got_catalogue == catalogue


def test_chunks_split_accounts_disjointly_and_keep_every_row(world: tuple[Path, Tables]) -> None:
    _, tables = world
    parts = list(account_chunks(tables, 7))
    assert sum(p.events.height for p in parts) == tables.events.height
    assert tables.users is not None and tables.accounts is not None
    assert sum(p.users.height for p in parts if p.users is not None) == tables.users.height
    ids = [set(p.accounts["account_id"]) for p in parts if p.accounts is not None]
    assert sum(len(s) for s in ids) == tables.accounts.height
    assert len(set().union(*ids)) == tables.accounts.height
    for p in parts:  # events and users of an account live in its chunk
        assert p.accounts is not None and p.users is not None
        assert set(p.events["account_id"]) <= set(p.accounts["account_id"])
        assert set(p.users["account_id"]) <= set(p.accounts["account_id"])
    with pytest.raises(ConfigValueError, match="chunk_accounts must be >= 1"):
        account_chunks(tables, 0)


def test_event_firsts_equal_the_engine_firsts(world: tuple[Path, Tables]) -> None:
    root, tables = world
    cfg = _cfg(root)
    cutoffs = cutoff_dates(str(cfg.snapshot.as_of), 14, 8)
    engine = _engine(tables, cutoffs, cfg.features)
    key = ["account_id", "event"]
    assert_frame_equal(event_firsts(tables.events), engine.firsts().sort(key), check_exact=True)


def test_a_chunk_without_any_value_gets_the_same_value_features(
    world: tuple[Path, Tables],
) -> None:
    """History value sums are left out only when no account has a value: a chunk whose
    accounts have none must still get them (0, as in the whole build), not drop the columns."""
    root, tables = world
    in_chunk = pl.col("account_id").hash(seed=0) % 5 == 2
    events = tables.events.with_columns(
        pl.when(in_chunk).then(None).otherwise(pl.col("value")).alias("value")
    )
    assert events.filter(in_chunk)["value"].null_count() == events.filter(in_chunk).height > 0
    assert events["value"].is_not_null().any()
    sparse = Tables(
        events, tables.users, tables.accounts, tables.observed_until, tables.segments, []
    )
    one, _ = build_dataset(sparse, _cfg(root))
    assert "value_total_lifetime" in one.columns
    got, _ = build_dataset(sparse, _cfg(root, "features.chunk_accounts=5"))
    assert_frame_equal(got, one, check_exact=True)


def test_build_features_chunked_at_one_cutoff(
    world: tuple[Path, Tables], plain: tuple[pl.DataFrame, dict[str, Any]]
) -> None:
    root, tables = world
    dataset, _ = plain
    last = dataset["cutoff"].max()
    got = build_features(tables, [last], _cfg(root, "features.chunk_accounts=4"))  # type: ignore[list-item]
    want = build_features(tables, [last], _cfg(root))  # type: ignore[list-item]
    assert got.height > 0
    assert_frame_equal(got, want, check_exact=True)


def test_chunking_leaves_the_dataset_fingerprint_alone(world: tuple[Path, Tables]) -> None:
    root, _ = world
    base = dataset_fingerprint(_cfg(root))
    assert dataset_fingerprint(_cfg(root, "features.chunk_accounts=3")) == base
    assert dataset_fingerprint(_cfg(root, "features.never_days=999")) != base
