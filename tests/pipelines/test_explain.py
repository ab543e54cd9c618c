"""`decay-explain` through the real command on a real scoring run, and its argument handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipelines.explain import close_ids, quoted, take_account_id
from tests.conftest import ROOT, ScoredWorld

BIN = Path(sys.executable).parent


def explain(
    world: ScoredWorld, *args: str, output_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    out = output_dir or world.world.output_dir
    cmd = [
        sys.executable,
        "-m",
        "pipelines.explain",
        f"output.dir={out}",
        f"hydra.run.dir={world.world.root}/logs/explain",
        *args,
    ]
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ}
    )


def test_take_account_id_keeps_the_id_verbatim() -> None:
    argv = ["output.dir=x", 'account_id=a\'b "c" ${oc.env:HOME}=1', "explain.format=json"]
    assert take_account_id(argv) == (
        ["output.dir=x", "explain.format=json"],
        'a\'b "c" ${oc.env:HOME}=1',
    )
    assert take_account_id(["explain.account_id=A1"]) == ([], "A1")
    assert take_account_id(["output.dir=x"]) == (["output.dir=x"], None)


def test_close_ids_and_quoting() -> None:
    ids = ["acc-00001", "acc-00002", "ACC-00009", "zeta"]
    first, *near = close_ids("acc-00009", ids)
    assert first == "ACC-00009"  # the same id in another case comes first
    assert sorted(near) == ["acc-00001", "acc-00002"]
    assert close_ids("zeta2", ids, n=1) == ["zeta"]
    assert close_ids("nothing like it", ids) == []
    assert quoted("x" * 100) == repr("x" * 60 + "…")
    assert quoted("a\x1b[2Jb") == "'a\\x1b[2Jb'"


@pytest.mark.slow
@pytest.mark.xdist_group("e2e")
def test_explains_a_scored_account_in_the_pages_words(scored_world: ScoredWorld) -> None:
    scores = pl.read_parquet(scored_world.run_dir / "scores.parquet").sort("rank")
    top = scores.row(0, named=True)
    proc = explain(scored_world, f"account_id={top['account_id']}")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    as_of = scored_world.run_dir.name.removeprefix("as_of=")
    assert lines[0] == f"Account {top['account_id']} · rank 1 of {scores.height} · as of {as_of}"
    assert "Why this risk?" in lines and "Suggested next step" in lines
    assert f"  {top['next_best_action']}" in lines
    assert any(line.strip() == top["driver_1_text"] for line in lines)
    assert "\x1b" not in proc.stdout and "\r" not in proc.stdout  # a pipe: plain text
    # The same account as JSON: the numbers of scores.parquet, stdout nothing but the object.
    proc = explain(scored_world, f"account_id={top['account_id']}", "explain.format=json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["decay_risk"] == pytest.approx(top["decay_risk"])
    assert (out["rank"], out["risk_tier"], out["as_of"]) == (1, top["risk_tier"], as_of)
    assert out["drivers"][0]["sentence"] == top["driver_1_text"]


@pytest.mark.slow
@pytest.mark.xdist_group("e2e")
def test_an_unknown_id_exits_5_naming_it_and_its_neighbours(scored_world: ScoredWorld) -> None:
    scores = pl.read_parquet(scored_world.run_dir / "scores.parquet")
    real = scores["account_id"].sort()[0]
    hostile = real + "'${a}"  # a quote and an interpolation Hydra would choke on
    proc = explain(scored_world, f"account_id={hostile}")
    assert proc.returncode == 5, proc.stderr
    assert f"ERROR: explain: account {hostile!r} was not scored on" in proc.stderr
    assert f"What to do: closest scored ids: {real!r}" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.slow
@pytest.mark.xdist_group("e2e")
def test_no_scoring_run_or_no_id(scored_world: ScoredWorld, tmp_path: Path) -> None:
    proc = explain(scored_world, "account_id=A1", output_dir=tmp_path / "empty")
    assert proc.returncode == 5
    assert "ERROR: explain: no scoring run at all under" in proc.stderr
    proc = explain(scored_world, "account_id=A1", "explain.as_of=2001-01-01")
    assert proc.returncode == 5
    assert "no scoring run at 2001-01-01" in proc.stderr
    proc = explain(scored_world, "account_id=A1", "explain.as_of=yesterday")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "ERROR: config: explain.as_of='yesterday' is not an ISO date "
        "(what to do: explain.as_of=YYYY-MM-DD, or null for the latest run)"
    )
    proc = explain(scored_world)
    assert proc.returncode == 2
    assert "ERROR: config: explain.account_id: no account given" in proc.stderr
    proc = explain(scored_world, "account_id=A1", "explain.format=html")
    assert proc.returncode == 2
    assert proc.stderr.startswith("ERROR: config: explain.format: Invalid value 'html'")


def test_the_console_script_is_installed_and_finds_its_config(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "decay-explain"), "--cfg", "job", "--package", "explain"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "format: text" in proc.stdout and "as_of: null" in proc.stdout
