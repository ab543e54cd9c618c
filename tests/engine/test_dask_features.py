"""engine=dask: validation and the feature build as tasks on a real LocalCluster give the same
dataset, quarantine and profile as engine=local, on workers too small for the whole build."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from core.config import load_config
from core.errors import ClusterError

pytestmark = pytest.mark.xdist_group("dask")

ROOT = Path(__file__).resolve().parents[2]
#: Per worker: the whole build of WORLD needs more than this in one process (asserted below).
WORKER_LIMIT = "400MiB"
WORLD = [
    "simulate.accounts=400",
    "simulate.days=300",
    "simulate.oracle_replays=2",
    "snapshot.count=10",
    "snapshot.every_days=14",
]


def _cfg(root: Path, name: str, *extra: str) -> Any:
    return load_config(
        [
            f"data.dir={root}/data",
            f"data.events={root}/data/events",
            f"output.dir={root}/{name}",
            *WORLD,
            "seed=7",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipelines.simulate import write_simulation
    from simulator import simulate, spec_from_config

    root = tmp_path_factory.mktemp("dask-world")
    cfg = _cfg(root, "sim")
    write_simulation(simulate(spec_from_config(cfg)), cfg.data.dir)
    # A hive dataset by month (so the cluster reads shares of the files), with a hostile row
    # or two, so the quarantine is compared too.
    flat = Path(cfg.data.dir) / "events.parquet"
    events = pl.read_parquet(flat)
    ghost = events.head(1).with_columns(pl.lit("ghost").alias("account_id"))
    events = pl.concat([events, events.head(3), ghost])
    month = events.get_column("timestamp").dt.strftime("%Y-%m")
    for key in month.unique().sort():
        folder = Path(cfg.data.dir) / "events" / f"month={key}"
        folder.mkdir(parents=True)
        events.filter(month == key).write_parquet(folder / "part-0.parquet")
    flat.unlink()
    return root


def _peak_rss_of_whole_build(root: Path) -> float:
    """Peak RSS (bytes) of one process building the whole dataset with engine=local."""
    code = (
        "import json, resource, sys\n"
        "from core.config import load_config\n"
        "from pipelines.common import build_and_write_dataset\n"
        "cfg = load_config(json.loads(sys.argv[1]))\n"
        "build_and_write_dataset(cfg)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\n"
    )
    overrides = [
        f"data.dir={root}/data",
        f"data.events={root}/data/events",
        f"output.dir={root}/rss",
        *WORLD,
        "seed=7",
    ]
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(overrides)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _limit_bytes() -> float:
    from dask.utils import parse_bytes

    return float(parse_bytes(WORKER_LIMIT))


def test_cluster_build_equals_local_build_on_small_workers(
    world: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pipelines.common import build_and_write_dataset

    caplog.set_level(logging.INFO)
    assert _peak_rss_of_whole_build(world) > _limit_bytes(), (
        "the test world fits one worker: make WORLD bigger or WORKER_LIMIT smaller"
    )
    local, local_cat, _ = build_and_write_dataset(_cfg(world, "local"))
    cfg = _cfg(
        world,
        "dask",
        "engine=dask",
        "engine.n_workers=2",
        f"engine.memory_limit={WORKER_LIMIT}",
        "engine.partitions=6",
    )
    remote, remote_cat, path = build_and_write_dataset(cfg)
    # The workers read the files (shares of the months) and built the chunks.
    assert re.search(r"source files read by [2-9]\d* tasks", caplog.text), caplog.text[-2000:]
    assert "6 feature chunks submitted" in caplog.text
    assert_frame_equal(remote, local)  # row for row, dtypes and order included
    assert remote_cat == local_cat
    assert_frame_equal(pl.read_parquet(path), local)
    # The same rejects (quarantined chunk by chunk: compared as sets) and the same profile.
    qa = pl.read_parquet(world / "local" / "quarantine" / "events.parquet")
    qb = pl.read_parquet(world / "dask" / "quarantine" / "events.parquet")
    assert qa.height == 4
    assert_frame_equal(qb.sort(pl.all()), qa.sort(pl.all()))
    pa = json.loads((world / "local" / "profile.json").read_text())
    pb = json.loads((world / "dask" / "profile.json").read_text())
    assert pa == pb
    # The job's spool is gone afterwards.
    assert not list((world / "dask" / ".spool").glob("events-*"))


def test_local_chunked_build_streams_the_same_dataset(world: Path) -> None:
    from pipelines.common import build_and_write_dataset

    local, _, _ = build_and_write_dataset(_cfg(world, "local2"))
    chunked, _, _ = build_and_write_dataset(_cfg(world, "chunked", "features.chunk_accounts=5"))
    assert_frame_equal(chunked, local)


def test_unreachable_scheduler_is_a_cluster_error(world: Path) -> None:
    from pipelines.common import build_and_write_dataset

    cfg = _cfg(
        world,
        "nowhere",
        "engine=dask",
        "engine.scheduler_address=tcp://127.0.0.1:9",
        "engine.timeout_seconds=2",
    )
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler") as err:
        build_and_write_dataset(cfg)
    assert err.value.exit_code == 8
    assert not (world / "nowhere" / "dataset.parquet").exists()
