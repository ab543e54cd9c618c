"""Cause attribution on simulated data: does `top_cause_family` name the planted cause?

Evaluation only (it reads the simulator's truth; product code never does). For the high-risk
accounts of one or more scoring runs (``risk_tier == "high"`` or the top ``top_fraction`` by rank)
whose truth at that cutoff is a planted decay cause with onset before the cutoff, the attribution
matches when ``top_cause_family`` is one of the families the cause is expected to show in
(`EXPECTED_FAMILIES`). The issue's bar is a match rate of at least 0.8.

``python -m benchmarks.cause_attribution`` trains the real champion (``decay-train``, in a
temporary output folder and MLflow store, reusing ``outputs/demo/dataset.parquet`` when it was
built from the same config) on the full demo data (``data/demo``, 1200 accounts), scores the
last ``--cutoffs`` weekly cutoffs with ``decay-score`` and writes
``benchmarks/results/cause_attribution.json``: the rate, per-cause counts, which families win
instead, and how often a cause is claimed for high-risk accounts WITHOUT a planted cause (the
issue's bar there: at most 0.35, while the rate on planted causes stays at least 0.75). A
high-risk account with no cause claimed (``top_cause_kind`` ``none``: "no single cause stands
out") counts as a miss when it has a planted cause and as a correct abstention when it has none.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from simulator.core import DEMO_EVERY_DAYS

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "cause_attribution.json"

#: Planted simulator cause -> indicator families where its leading signal lives (evaluation only).
EXPECTED_FAMILIES: dict[str, tuple[str, ...]] = {
    "champion_left": ("role",),
    "integration_broken": ("friction",),
    "support_overload": ("friction",),
    "onboarding_stalled": ("milestones", "onboarding"),
}
#: Truth causes that are not a decay cause the features could name.
NO_CAUSE = ("none", "random_onset", "seasonal_dip")


def high_risk(scores: pl.DataFrame, top_fraction: float = 0.1) -> pl.DataFrame:
    """Rows of ``scores`` (one or more runs, column ``as_of``) in tier high or the top
    ``top_fraction`` of their run by rank."""
    n = pl.len().over("as_of")
    return scores.filter(
        (pl.col("risk_tier") == "high")
        | (pl.col("rank") <= (n.cast(pl.Float64) * top_fraction).ceil())
    )


def attribution_table(
    scores: pl.DataFrame,
    truth: pl.DataFrame,
    expected: Mapping[str, Sequence[str]] = EXPECTED_FAMILIES,
    top_fraction: float = 0.1,
) -> pl.DataFrame:
    """High-risk rows with a planted cause (onset before the cutoff): account_id, as_of, cause,
    top_cause_family, top_cause_kind, top_family, match (bool)."""
    t = truth.select("account_id", pl.col("cutoff").alias("as_of"), "cause", "cause_onset")
    exp = pl.DataFrame({"cause": list(expected), "_expected": [list(v) for v in expected.values()]})
    return (
        high_risk(scores, top_fraction)
        .join(t, on=["account_id", "as_of"], how="inner")
        .filter(pl.col("cause").is_in(list(expected)) & (pl.col("cause_onset") < pl.col("as_of")))
        .join(exp, on="cause", how="left")
        .with_columns(
            pl.col("_expected")
            .list.contains(pl.col("top_cause_family"))
            .fill_null(False)
            .alias("match")
        )
        .select(
            "account_id",
            "as_of",
            "cause",
            "top_cause_family",
            "top_cause_kind",
            "top_family",
            "match",
        )
    )


def summarise(
    scores: pl.DataFrame, truth: pl.DataFrame, top_fraction: float = 0.1
) -> dict[str, Any]:
    """The rate, per-cause counts and confusions, and the same rate for the plain top family."""
    tab = attribution_table(scores, truth, top_fraction=top_fraction)
    per_cause = {}
    for (cause,), part in tab.partition_by("cause", as_dict=True, maintain_order=True).items():
        per_cause[str(cause)] = {
            "n": part.height,
            "matched": int(part["match"].sum()),
            "rate": round(float(part["match"].mean()), 4),
            "won_instead": dict(
                sorted(
                    part.filter(~pl.col("match"))
                    .group_by("top_cause_family")
                    .len()
                    .select(pl.col("top_cause_family").fill_null("(no single cause)"), "len")
                    .iter_rows(),
                    key=lambda kv: -kv[1],
                )
            ),
        }
    exp = pl.DataFrame(
        {"cause": list(EXPECTED_FAMILIES), "_e": [list(v) for v in EXPECTED_FAMILIES.values()]}
    )
    plain = tab.join(exp, on="cause").select(
        pl.col("_e").list.contains(pl.col("top_family")).fill_null(False).mean()
    )
    t = truth.select("account_id", pl.col("cutoff").alias("as_of"), "cause")
    risky = high_risk(scores, top_fraction).with_columns(
        (pl.col("top_cause_kind") == "cause").fill_null(False).alias("_claimed")
    )
    none = risky.join(t, on=["account_id", "as_of"]).filter(pl.col("cause").is_in(list(NO_CAUSE)))
    planted = risky.join(tab.select("account_id", "as_of"), on=["account_id", "as_of"])
    return {
        "n_high_risk_with_cause": tab.height,
        "matched": int(tab["match"].sum()),
        "rate": round(float(tab["match"].mean()), 4) if tab.height else None,
        "per_cause": dict(sorted(per_cause.items())),
        "rate_if_plain_top_family": round(float(plain.item()), 4) if tab.height else None,
        "no_cause_high_risk": none.height,
        "no_cause_claimed_a_cause_share": (
            round(float(none["_claimed"].mean()), 4) if none.height else None
        ),
        "planted_no_single_cause_share": (
            round(1 - float(planted["_claimed"].mean()), 4) if planted.height else None
        ),
        "n_high_risk": risky.height,
        "high_risk_claimed_a_cause_share": (
            round(float(risky["_claimed"].mean()), 4) if risky.height else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cutoffs", type=int, default=8, help="weekly cutoffs scored (latest first)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary output folder")
    args = parser.parse_args()

    import mlflow

    from core.config import load_config
    from pipelines.score import score_job
    from pipelines.train import train_job
    from scoring.history import parse_as_of

    tmp = Path(tempfile.mkdtemp(prefix="cause_attribution_"))
    base = [
        f"output.dir={tmp}/out",
        f"mlflow.tracking_uri=sqlite:///{tmp}/mlruns/mlflow.db",
        f"mlflow.artifact_location={tmp}/mlruns/artifacts",
        "backtest.origins=1",
    ]
    cfg = load_config(base)
    cached = ROOT / "outputs" / "demo"
    from features.build import dataset_fingerprint

    meta = cached / "dataset.meta.json"
    if meta.exists() and json.loads(meta.read_text()).get("fingerprint") == dataset_fingerprint(
        cfg
    ):
        (tmp / "out").mkdir(parents=True)
        for name in ("dataset.parquet", "dataset.meta.json"):
            shutil.copy(cached / name, tmp / "out" / name)
    t0 = time.perf_counter()
    trained = train_job(cfg)
    train_s = time.perf_counter() - t0
    last = parse_as_of(cfg.snapshot.as_of)
    step = int(cfg.snapshot.every_days or DEMO_EVERY_DAYS)
    runs = []
    t0 = time.perf_counter()
    for k in range(args.cutoffs):
        as_of = last - timedelta(days=step * k)
        out = score_job(load_config([*base, f"snapshot.as_of={as_of}", "score.report=false"]))
        runs.append(pl.read_parquet(out["dir"] / "scores.parquet"))
    score_s = time.perf_counter() - t0
    scores = pl.concat(runs, how="diagonal_relaxed")
    truth = pl.read_parquet(str(cfg.data.truth))
    result = {
        "data": str(cfg.data.dir),
        "accounts": int(truth["account_id"].n_unique()),
        "cutoffs_scored": sorted(str(d) for d in scores["as_of"].unique().to_list()),
        "accounts_scored": scores.height,
        "high_risk": "risk_tier == high or top 10% by rank, per cutoff",
        "expected_families": {k: list(v) for k, v in EXPECTED_FAMILIES.items()},
        "method": {
            k: (list(v) if not isinstance(v, (str, int, float)) else v)
            for k, v in cfg.score.items()
            if str(k).startswith("cause_")
        },
        "test_pr_auc": trained["metrics"].get("pr_auc"),
        **summarise(scores, truth),
        "seconds": {"train": round(train_s, 1), "score": round(score_s, 1)},
    }
    mlflow.end_run()
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, default=str))
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
