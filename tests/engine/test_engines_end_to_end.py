"""The real commands on the three engines: ``decay-score`` with events validated and built per
chunk of accounts (``features.chunk_accounts``) and on a LocalCluster (``engine=dask``) writes
the same scores, drivers and report inputs as the plain local run, from the same model."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.conftest import ScoredWorld

pytestmark = pytest.mark.xdist_group("dask")

FRAMES = ("scores", "explanations", "families", "usage", "milestones")
#: Written at run time, or the run's own MLflow id: not part of the answer.
VOLATILE = ("generated_at", "mlflow_run_id", "scored_at")


def _run(scored: ScoredWorld, name: str, *extra: str) -> Path:
    out = scored.world.root / name
    scored.world.run("score", f"output.dir={out}", "score.report=false", *extra)
    return next((out / "scores").glob("as_of=*"))


def _frame(run: Path, name: str) -> pl.DataFrame:
    frame = pl.read_parquet(run / f"{name}.parquet")
    return frame.drop([c for c in VOLATILE if c in frame.columns])


def test_score_is_the_same_on_every_engine(scored_world: ScoredWorld) -> None:
    plain = _run(scored_world, "engine-local")
    chunked = _run(scored_world, "engine-chunked", "features.chunk_accounts=3")
    cluster = _run(
        scored_world,
        "engine-dask",
        "engine=dask",
        "engine.n_workers=2",
        "engine.memory_limit=1GiB",
        "engine.partitions=5",
    )
    assert (plain / "scores.parquet").exists() and (plain / "explanations.parquet").exists()
    for name in FRAMES:
        if not (plain / f"{name}.parquet").exists():
            continue
        want = _frame(plain, name)
        assert want.height > 0, name
        assert_frame_equal(_frame(chunked, name), want)
        assert_frame_equal(_frame(cluster, name), want)
    # Nothing of the spool is left behind.
    for run in (chunked, cluster):
        assert not list((run.parents[1] / ".spool").glob("events-*"))
