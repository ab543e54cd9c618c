"""Per foreign log shape, the real jobs by config alone: decay-train (MLflow store, registry,
gate) then decay-score at as_of with its report; the pages speak the data's words only.

The demo's vocabulary (accounts, champions, integrations, seats, admins, builders, workflows,
milestones, weekly active users) must not appear on any page of a log that has none of them.
"""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

import testlogs
from core.config import load_config
from pipelines.score import score_job
from pipelines.train import train_job
from tests.report.test_words import DEMO_WORDS, seen_text

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("foreign_reports")]


@pytest.fixture(scope="module", params=["purchases", "subscription", "clickstream"])
def scored(request, tmp_path_factory):
    import mlflow

    shape = request.param
    root = tmp_path_factory.mktemp(f"{shape}_jobs")
    testlogs.write(shape, root / "data", seed=5, n=1200)
    overrides = json.loads((root / "data" / "README.json").read_text())["suggested_config"][
        "overrides"
    ]
    base = [
        *overrides,
        f"snapshot.as_of={testlogs.DEFAULT_AS_OF}",
        f"output.dir={root}/out",
        f"mlflow.tracking_uri=sqlite:///{root}/mlruns/mlflow.db",
        f"mlflow.artifact_location={root}/mlruns/artifacts",
        f"model.name={shape}",
        "backtest.origins=1",
        "model.params.num_threads=1",
    ]
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    trained = train_job(load_config(base))
    out = score_job(load_config(base))
    yield shape, trained, out
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


def trained_milestones(out: dict) -> list[str]:
    """Names of the milestones the scored features used (the training's data defaults)."""
    ms = pl.read_parquet(out["dir"] / "milestones.parquet")
    return sorted(ms.get_column("milestone").unique().to_list()) if ms.height else []


def test_every_page_speaks_the_datas_words(scored) -> None:
    shape, _, out = scored
    pages = [
        out["dir"] / "report" / "index.html",
        *sorted((out["dir"] / "report" / "accounts").glob("*.html"))[:25],
    ]
    assert len(pages) > 1
    # milestones discovered from the data (first use of its own key events) are the data's own
    discovered = bool(trained_milestones(out))
    allowed = {"milestone", "milestones"} if discovered else set()
    for page in pages:
        # the footer's registry URI names MLflow's alias ("...@champion"), not a person
        text = re.sub(r"models:/\S+", "", seen_text(page))
        found = {m.group(0).lower() for m in DEMO_WORDS.finditer(text)} - allowed
        assert sorted(found) == [], (shape, page.name)
    text = seen_text(pages[0])
    assert "customer" in text.lower()  # every shape is one person per entity: "customer"
    assert "Test ROC-AUC" in text or "Ranked by" in text  # the footer's measured quality
    assert (out["dir"] / "report" / "profile.html").exists()  # the data profile beside it
    assert 'href="profile.html"' in pages[0].read_text()


def test_scores_cover_every_eligible_entity_with_relative_tiers(scored) -> None:
    _, trained, out = scored
    scores = pl.read_parquet(out["dir"] / "scores.parquet")
    assert scores.height == out["n_accounts"] > 100
    tiers = dict(scores.group_by("risk_tier").len().iter_rows())
    assert 0 < tiers.get("high", 0) <= max(1, int(0.1 * scores.height) + 1)
    assert trained["metrics"]["evaluated"] is True
    assert trained["metrics"]["served"] in {"lightgbm", "recency", "event_counts", "btyd"}
