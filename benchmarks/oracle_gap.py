"""Where the model loses to the simulator's oracle, and what more data or knowledge would buy.

Evaluation only: the simulator's truth (``oracle_prob``, ``cause``, ``cause_onset``) is read to
measure and explain the gap, and in one arm (the ceiling, 3.) as a deliberately latent input; the
product never reads it. Issue 4's target is a test ROC-AUC of at least ``TARGET_RATIO`` of the
oracle's on the default demo data.

``python -m benchmarks.oracle_gap`` builds the demo dataset with the default config (in a
temporary output folder) and, at the last ``backtest.origins`` rolling origins
(``models.split.rolling_origins``), trains the routed LightGBM exactly as ``decay-train`` does
(``models.train.fit_routed``, default config) in four arms, each repeated with the LightGBM seeds
``--seeds`` (config ``seed``; default 42, the config's, then 1 and 2) so a difference between arms
can be read against the seed spread (``differences``: paired by seed, same test rows):

1. ``base``: the default training. Per origin: test ROC-AUC / PR-AUC (calibrated scores, as
   ``decay-train`` reports them), the oracle's on the same rows (``models.metrics.oracle_metrics``)
   and the ratios; the mean over origins.
2. Gap decomposition of ``base`` (first seed) on the pooled test rows of all origins. ROC-AUC is
   the mean over (positive, negative) pairs of "the positive ranks above" (ties 1/2), so for any partition of
   the positives into groups ``g``: ``1 - AUC = sum_g loss_g`` with
   ``loss_g = n_g / P * (1 - AUC(positives of g vs all negatives))`` (the pairwise-ranking loss of
   the group; the same holds for a partition of the negatives). The model's shortfall against
   the oracle splits the same way, ``AUC_oracle - AUC_model = sum_g (loss_g,model -
   loss_g,oracle)``, and ``gap_share`` is each group's part of it (shares sum to 1; a group the
   model ranks better than the oracle has a negative share). Groups: planted cause kind x onset
   age at the cutoff (``ONSET_AGE_BUCKETS``), for the positives and for the negatives, and
   ``size_tier`` (also the AUCs within each tier).
3. ``ceiling``: the same training with two latent columns from the truth added to every row:
   the cause kind of an episode whose onset is before the cutoff and its age in days (none/null
   otherwise; the truth names one cause per row). No event log shows these directly; the ratio
   bounds what any log-based indicator of "which mechanism started when" could add. (The oracle
   knows more: every past episode's parameters, and an onboarding stall from signup on.)
4. Learning curve, always judged on the demo's test rows with the demo's validation rows (early
   stopping, calibration and the per-segment choice): training rows of half of the demo accounts
   (seeded draw), of all of them (= ``base``), and of all of them plus more simulated worlds
   (``--worlds 1,2``: a world the demo's size with seed ``--world-seed``, then one twice its size
   with the next seed, added cumulatively: 2x and 4x the demo's accounts). Each world is
   simulated into the temporary folder like the demo (same period), its features built with the
   same config; its truth is unused, so its oracle runs one replay (the oracle has its own random
   stream: events do not depend on it).

Writes ``benchmarks/results/oracle_gap.json``: config, seeds, per-origin and mean numbers,
decomposition tables, runtimes, machine info and a ``conclusion`` computed from the numbers.
Deterministic given the seeds (and LightGBM's thread count, ``model.params.num_threads``).
Extra Hydra overrides after ``--`` apply to every arm (e.g. ``-- model.strategy=global``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from core.logs import get_logger
from simulator.core import DEMO_COUNT, DEMO_EVERY_DAYS

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "oracle_gap.json"

#: Issue 4, "Target": test ROC-AUC at least this share of the oracle's on the default demo data.
TARGET_RATIO = 0.97
#: Onset age = whole days from the cause's onset day to the cutoff (the days of its effect the
#: features could have seen). ``after_cutoff``: onset on or after the cutoff (not yet visible to
#: anyone; the oracle knows only the hazard); ``none``: no planted cause in the horizon.
ONSET_AGE_BUCKETS = ("1-6d", "7-13d", "14-27d", "28d+", "after_cutoff", "none")
#: The latent columns of the ceiling arm (strings are categorical features for the model).
LATENT_CAUSE, LATENT_AGE = "latent_past_cause", "latent_past_onset_age_days"

log = get_logger(__name__)


# -- analysis (pure) ------------------------------------------------------------------------
def onset_age_bucket(cutoff: str = "cutoff", onset: str = "cause_onset") -> pl.Expr:
    """``ONSET_AGE_BUCKETS`` label of each row from its cutoff and cause onset (Date columns)."""
    age = (pl.col(cutoff) - pl.col(onset)).dt.total_days()
    return (
        pl.when(pl.col(onset).is_null())
        .then(pl.lit("none"))
        .when(age <= 0)
        .then(pl.lit("after_cutoff"))
        .when(age < 7)
        .then(pl.lit("1-6d"))
        .when(age < 14)
        .then(pl.lit("7-13d"))
        .when(age < 28)
        .then(pl.lit("14-27d"))
        .otherwise(pl.lit("28d+"))
        .alias("onset_age")
    )


def pairwise_wins(label: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Per row, the share of the opposite class it is ranked correctly against (ties 1/2).

    A positive's win is the share of negatives scored below it; a negative's, the share of
    positives scored above it. The mean win over either class is the ROC-AUC.
    """
    y = np.asarray(label, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    if pos.size == 0 or neg.size == 0:
        raise ValueError(f"need both classes, got {pos.size} positives and {neg.size} negatives")
    win = np.empty(s.size)
    lo, hi = np.searchsorted(neg, s[y], "left"), np.searchsorted(neg, s[y], "right")
    win[y] = (lo + 0.5 * (hi - lo)) / neg.size
    lo, hi = np.searchsorted(pos, s[~y], "left"), np.searchsorted(pos, s[~y], "right")
    win[~y] = (pos.size - hi + 0.5 * (hi - lo)) / pos.size
    return win


def pairwise_decomposition(
    frame: pl.DataFrame,
    by: list[str],
    scores: dict[str, str],
    side: str = "positives",
    label: str = "label",
) -> pl.DataFrame:
    """The ROC-AUC loss of each group of one class (module docstring, 2.).

    ``scores`` maps a name to a score column (e.g. ``{"model": "score", "oracle":
    "oracle_prob"}``). One row per group of ``by`` among the rows of class ``side``
    (positives | negatives): ``n``, and per score name ``auc_<name>`` (the group vs the whole
    other class), ``loss_<name>`` (its summand of ``1 - AUC``) and ``loss_share_<name>`` (of
    ``1 - AUC``). With exactly two names the first is the model and the second the reference:
    ``gap`` = loss of the first minus loss of the second, ``gap_share`` = ``gap`` over the summed
    gap. Sorted by ``gap_share`` (else the first loss) descending.
    """
    if side not in ("positives", "negatives"):
        raise ValueError(f"side must be 'positives' or 'negatives', got {side!r}")
    y = frame.get_column(label).cast(pl.Int8).to_numpy() == 1
    rows = frame.select(*by).with_columns(pl.Series("_in", y if side == "positives" else ~y))
    cols = []
    for name, col in scores.items():
        win = pairwise_wins(y, frame.get_column(col).to_numpy())
        cols.append(pl.Series(f"_w_{name}", win))
    part = rows.with_columns(cols).filter(pl.col("_in"))
    total = part.height
    aggs: list[pl.Expr] = [pl.len().alias("n")]
    for name in scores:
        aggs += [
            pl.col(f"_w_{name}").mean().alias(f"auc_{name}"),
            ((1 - pl.col(f"_w_{name}")).sum() / total).alias(f"loss_{name}"),
        ]
    out = part.group_by(by).agg(aggs)
    names = list(scores)
    for name in names:
        loss = out.get_column(f"loss_{name}").sum()
        out = out.with_columns(
            (pl.col(f"loss_{name}") / loss if loss > 0 else pl.lit(None)).alias(
                f"loss_share_{name}"
            )
        )
    if len(names) == 2:
        gap = pl.col(f"loss_{names[0]}") - pl.col(f"loss_{names[1]}")
        out = out.with_columns(gap.alias("gap"))
        total_gap = out.get_column("gap").sum()
        out = out.with_columns(
            (pl.col("gap") / total_gap if total_gap != 0 else pl.lit(None)).alias("gap_share")
        )
        return out.sort(["gap_share", *by], descending=[True] + [False] * len(by), nulls_last=True)
    return out.sort([f"loss_{names[0]}", *by], descending=[True] + [False] * len(by))


def within_groups(
    frame: pl.DataFrame, by: str, scores: dict[str, str], label: str = "label"
) -> list[dict[str, Any]]:
    """ROC-AUC of each score within each value of ``by`` (and the first over the second)."""
    from sklearn.metrics import roc_auc_score

    out = []
    for (value,), part in frame.sort(by).group_by(by, maintain_order=True):
        y = part.get_column(label).to_numpy()
        row: dict[str, Any] = {by: value, "n": part.height, "positives": int(y.sum())}
        both = 0 < y.sum() < y.size
        for name, col in scores.items():
            row[f"auc_{name}"] = (
                float(roc_auc_score(y, part.get_column(col).to_numpy())) if both else None
            )
        a, b = (row[f"auc_{n}"] for n in list(scores)[:2])
        row["ratio"] = a / b if a is not None and b else None
        out.append(row)
    return out


def with_latent_cause(dataset: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """``dataset`` plus the truth's past cause kind and onset age (only onsets before the cutoff;
    ``none``/null otherwise), as feature columns before ``label``."""
    past = pl.col("cause_onset") < pl.col("cutoff")
    latent = truth.select(
        "account_id",
        "cutoff",
        pl.when(past).then(pl.col("cause")).otherwise(pl.lit("none")).alias(LATENT_CAUSE),
        pl.when(past)
        .then((pl.col("cutoff") - pl.col("cause_onset")).dt.total_days().cast(pl.Float64))
        .alias(LATENT_AGE),
    )
    out = dataset.join(latent, on=["account_id", "cutoff"], how="left").with_columns(
        pl.col(LATENT_CAUSE).fill_null("none")
    )
    return out.select([c for c in out.columns if c != "label"] + ["label"])


def account_sample(dataset: pl.DataFrame, fraction: float, seed: int) -> list[str]:
    """A seeded draw of about ``fraction`` of the dataset's accounts (sorted ids)."""
    ids = dataset.get_column("account_id").unique().sort()
    keep = np.random.default_rng(seed).random(ids.len()) < fraction
    return ids.filter(pl.Series(keep)).to_list()


# -- training arms --------------------------------------------------------------------------
def fit_origins(
    name: str,
    dataset: pl.DataFrame,
    cfg: Any,
    truth: pl.DataFrame,
    train_accounts: list[str] | None = None,
    extra_train: pl.DataFrame | None = None,
) -> tuple[list[dict[str, Any]], pl.DataFrame]:
    """Fit the routed model at every rolling origin; score the test rows against the oracle.

    ``train_accounts`` keeps only those accounts' training rows; ``extra_train`` adds its
    labelled rows whose cutoffs are training cutoffs of the split. Validation and test rows are
    always the dataset's. Returns per-origin metrics and the pooled test scores.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    from models import metrics
    from models.split import rolling_origins
    from models.train import fit_routed, score_frame

    origins, pooled = [], []
    for split in rolling_origins(dataset, cfg):
        train = split.train
        if train_accounts is not None:
            train = train.filter(pl.col("account_id").is_in(train_accounts))
        if extra_train is not None:
            more = (
                extra_train.filter(
                    pl.col("label").is_not_null() & pl.col("cutoff").is_in(split.cutoffs["train"])
                )
                .select(train.columns)
                .cast(train.schema)
            )
            train = pl.concat([train, more]).sort(["cutoff", "account_id"])
        split = dataclasses.replace(split, train=train)
        t0 = time.perf_counter()
        model, _ = fit_routed(split, cfg)
        fit_s = time.perf_counter() - t0
        scores = score_frame(model, split.test).with_columns(
            pl.Series("score_raw", model.predict_raw(split.test), dtype=pl.Float64)
        )
        om = metrics.oracle_metrics(scores, truth)
        raw = metrics.oracle_metrics(scores, truth, score_col="score_raw")
        y = scores.get_column("label").to_numpy()
        s = scores.get_column("score").to_numpy()
        row = {
            "origin": split.origin,
            "test": [str(split.cutoffs["test"][0]), str(split.cutoffs["test"][-1])],
            "train_rows": train.height,
            "train_positives": int(train.get_column("label").cast(pl.Int64).sum()),
            "test_rows": scores.height,
            "test_positives": int(y.sum()),
            "oracle_rows": om["oracle_rows"],
            "roc_auc": float(roc_auc_score(y, s)),
            "pr_auc": float(average_precision_score(y, s)),
            "oracle_roc_auc": om["oracle_roc_auc"],
            "oracle_pr_auc": om["oracle_pr_auc"],
            "ratio": om["auc_ratio_to_oracle"],
            "pr_ratio": om["pr_auc_ratio_to_oracle"],
            "ratio_uncalibrated": raw["auc_ratio_to_oracle"],
            "best_iteration": model.metadata["best_iteration"],
            "fit_s": round(fit_s, 1),
        }
        origins.append(row)
        pooled.append(scores.with_columns(pl.lit(split.origin).alias("origin")))
        log.warning(
            "[%s seed %d] origin %d test %s..%s: roc %.4f oracle %.4f ratio %.4f (%.0fs)",
            name,
            int(cfg.seed),
            split.origin,
            *row["test"],
            row["roc_auc"],
            row["oracle_roc_auc"],
            row["ratio"],
            fit_s,
        )
    return origins, pl.concat(pooled)


#: Per-origin numbers averaged over origins (and then over seeds).
MEAN_KEYS = (
    "roc_auc",
    "pr_auc",
    "oracle_roc_auc",
    "oracle_pr_auc",
    "ratio",
    "pr_ratio",
    "ratio_uncalibrated",
)


def run_arm(
    name: str, dataset: pl.DataFrame, cfgs: dict[int, Any], truth: pl.DataFrame, **kw: Any
) -> dict[str, Any]:
    """``fit_origins`` once per LightGBM seed (``cfgs``: seed -> config). ``mean`` averages the
    per-seed means over seeds; ``pooled`` holds the first seed's pooled test scores."""
    t0 = time.perf_counter()
    runs, pooled = {}, None
    for seed, cfg in cfgs.items():
        origins, scores = fit_origins(name, dataset, cfg, truth, **kw)
        runs[str(seed)] = {
            "mean": {k: float(np.mean([o[k] for o in origins])) for k in MEAN_KEYS},
            "origins": origins,
        }
        pooled = scores if pooled is None else pooled
    per_seed = {k: [r["mean"][k] for r in runs.values()] for k in MEAN_KEYS}
    return {
        "mean": {k: float(np.mean(v)) for k, v in per_seed.items()},
        "sd_over_seeds": {
            k: float(np.std(per_seed[k], ddof=1)) if len(runs) > 1 else None
            for k in ("roc_auc", "pr_auc", "ratio", "pr_ratio")
        },
        "runs": runs,
        "seconds": round(time.perf_counter() - t0, 1),
        "pooled": pooled,
    }


def paired_difference(a: dict[str, Any], b: dict[str, Any], key: str = "ratio") -> dict[str, Any]:
    """Arm ``b`` minus arm ``a`` per seed (same seeds, same test rows): mean and sd over seeds."""
    d = [b["runs"][s]["mean"][key] - a["runs"][s]["mean"][key] for s in a["runs"] if s in b["runs"]]
    return {
        "mean": float(np.mean(d)),
        "sd": float(np.std(d, ddof=1)) if len(d) > 1 else None,
        "per_seed": [round(x, 4) for x in d],
    }


def decomposition(
    pooled: pl.DataFrame,
    truth: pl.DataFrame,
    segment_key: str | None,
    ceiling: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Gap tables of the pooled test rows (module docstring, 2.); ``ceiling`` (pooled scores of
    the ceiling arm, same rows) adds that arm's AUC per group."""
    from sklearn.metrics import roc_auc_score

    keys = ["account_id", "cutoff"]
    j = pooled.join(
        truth.select(*keys, "oracle_prob", "cause", "cause_onset"), on=keys, how="inner"
    ).with_columns(onset_age_bucket())
    if ceiling is not None:
        j = j.join(
            ceiling.select(*keys, pl.col("score").alias("score_ceiling")), on=keys, how="left"
        )
    y = j.get_column("label").to_numpy()
    both = {"model": "score", "oracle": "oracle_prob"}

    def table(by: list[str], side: str) -> list[dict[str, Any]]:
        t = pairwise_decomposition(j, by, both, side=side)
        if ceiling is not None:
            c = pairwise_decomposition(j, by, {"ceiling": "score_ceiling"}, side=side)
            t = t.join(c.select(*by, "auc_ceiling"), on=by, how="left")
        pos = (
            j.filter(pl.col("label") == 1)
            if side == "positives"
            else j.filter(pl.col("label") == 0)
        )
        t = t.join(
            pos.group_by(by).agg(pl.col("oracle_prob").mean().alias("mean_oracle_prob")),
            on=by,
            how="left",
        )
        return [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
            for r in t.iter_rows(named=True)
        ]

    out: dict[str, Any] = {
        "rows": j.height,
        "positives": int(y.sum()),
        "pooled_roc_auc": {
            "model": float(roc_auc_score(y, j["score"])),
            "oracle": float(roc_auc_score(y, j["oracle_prob"])),
        },
        "positives_by_onset_age": table(["onset_age"], "positives"),
        "positives_by_cause": table(["cause"], "positives"),
        "positives_by_cause_onset_age": table(["cause", "onset_age"], "positives"),
        "negatives_by_cause_onset_age": table(["cause", "onset_age"], "negatives"),
    }
    if ceiling is not None:
        out["pooled_roc_auc"]["ceiling"] = float(roc_auc_score(y, j["score_ceiling"]))
    if segment_key is not None and segment_key in j.columns:
        out[f"positives_by_{segment_key}"] = table([segment_key], "positives")
        out[f"within_{segment_key}"] = [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
            for r in within_groups(j, segment_key, both)
        ]
    return out


# -- data -----------------------------------------------------------------------------------
def build(overrides: list[str]) -> tuple[Any, pl.DataFrame, float]:
    """(config, dataset, seconds): the dataset built from the config's tables (fresh, in the
    config's ``output.dir``)."""
    from core.config import load_config
    from pipelines.common import load_or_build_dataset

    cfg = load_config(overrides)
    t0 = time.perf_counter()
    dataset, _ = load_or_build_dataset(cfg)
    return cfg, dataset, time.perf_counter() - t0


def other_world(
    base: list[str], tmp: Path, seed: int, accounts: int
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Simulate another world like the demo's (same period, ``accounts`` accounts, seed
    ``seed``), build its dataset with the same config; account ids are prefixed ``w<seed>-``."""
    from core.config import load_config
    from pipelines.simulate import write_simulation
    from simulator import simulate, spec_from_config

    data = tmp / f"world{seed}"
    t0 = time.perf_counter()
    spec = spec_from_config(
        load_config(
            [
                *base,
                f"simulate.seed={seed}",
                f"simulate.accounts={accounts}",
                "simulate.oracle_replays=1",
            ]
        )
    )
    sim = simulate(spec)
    write_simulation(sim, data)
    sim_s = time.perf_counter() - t0
    _, ds, build_s = build([*base, f"data.dir={data}", f"output.dir={tmp / f'out{seed}'}"])
    ds = ds.with_columns(pl.format("w{}-{}", pl.lit(seed), "account_id").alias("account_id"))
    info = {
        "seed": seed,
        "accounts": spec.accounts,
        "days": spec.days,
        "end_date": str(spec.end_date),
        "events": sim.events.height,
        "dataset_rows": ds.height,
        "labelled_rows": int(ds.get_column("label").is_not_null().sum()),
        "simulate_s": round(sim_s, 1),
        "build_s": round(build_s, 1),
    }
    return ds, info


# -- report ---------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    import lightgbm

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "polars": pl.__version__,
        "lightgbm": lightgbm.__version__,
        "total_ram_gib": round(ram, 1),
    }


def git_state() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    # porcelain lines are "XY path": the status columns may start with a space (no strip)
    dirty = [line[3:] for line in run("status", "--porcelain").splitlines() if line.strip()]
    return {"commit": run("rev-parse", "HEAD").strip() or None, "dirty_paths": dirty}


def _pm(d: dict[str, Any] | None) -> str:
    """``+0.004 +/- 0.002`` (mean and sd over seeds of a paired difference)."""
    if d is None:
        return "n/a"
    return f"{d['mean']:+.3f}" + (f" +/- {d['sd']:.3f}" if d.get("sd") is not None else "")


def conclusion(result: dict[str, Any]) -> str:
    """A few sentences computed from the numbers (no fixed verdicts)."""
    target = result["target_ratio"]
    arms = result["arms"]
    base = arms["base"]["mean"]["ratio"]
    n_seeds, n_origins = (
        len(arms["base"]["runs"]),
        len(next(iter(arms["base"]["runs"].values()))["origins"]),
    )
    sd = arms["base"]["sd_over_seeds"]["ratio"]
    parts = [
        f"The default model reaches {base:.3f} of the oracle's test ROC-AUC (mean of "
        f"{n_origins} origins x {n_seeds} LightGBM seeds"
        + (f", sd over seeds {sd:.3f}" if sd is not None else "")
        + f"; target {target}): {'meets' if base >= target else 'misses'} it by "
        f"{abs(base - target):.3f}."
    ]
    dec = result["decomposition"]
    gap = dec["pooled_roc_auc"]["oracle"] - dec["pooled_roc_auc"]["model"]
    by_age = {r["onset_age"]: r for r in dec["positives_by_onset_age"]}
    past = sum(r["gap_share"] for a, r in by_age.items() if a not in ("none", "after_cutoff"))
    top = dec["positives_by_cause_onset_age"][:3]
    txt = ", ".join(
        f"{r['cause']}/{r['onset_age']} {r['gap_share']:.0%} (n={r['n']}, model AUC "
        f"{r['auc_model']:.2f} vs oracle {r['auc_oracle']:.2f})"
        for r in top
    )
    parts.append(
        f"Pooled test shortfall {gap:.3f} AUC; positives whose cause began before the "
        f"cutoff carry {past:.0%} of it; largest cause x onset-age groups among positives: "
        f"{txt}."
    )
    neg = dec["negatives_by_cause_onset_age"][:1]
    if neg:
        parts.append(
            f"Among negatives, {neg[0]['cause']}/{neg[0]['onset_age']} (n={neg[0]['n']}) "
            f"carries {neg[0]['gap_share']:.0%} (model {neg[0]['auc_model']:.3f} vs oracle "
            f"{neg[0]['auc_oracle']:.3f} against all positives)."
        )
    if "ceiling" in arms:
        c = arms["ceiling"]["mean"]["ratio"]
        closed = (c - base) / (1 - base) if base < 1 else float("nan")
        parts.append(
            f"With the true past cause kind and onset age as features the ratio is "
            f"{c:.3f} ({_pm(result['differences'].get('ceiling_vs_base'))} vs default; "
            f"{'reaches' if c >= target else 'still below'} the target; {closed:.0%} of "
            f"the distance to the oracle closed): the most any log-based indicator of "
            f"which mechanism started when could add."
        )
    lc = result.get("learning_curve") or []
    if len(lc) >= 2:
        txt = ", ".join(
            f"{p['label']} ({p['train_accounts']} accounts) {p['ratio']:.3f}" for p in lc
        )
        a, b = lc[-2], lc[-1]
        diff = result["differences"].get(f"{b['arm']}_vs_{a['arm']}")
        slope = result["learning_curve_slope_per_doubling"]
        s = f"Learning curve (mean ratio): {txt}; last step {_pm(diff)}"
        if diff is not None and diff.get("sd") is not None and abs(diff["mean"]) < 2 * diff["sd"]:
            s += " (within twice its seed spread)"
        s += f"; least-squares slope {slope:+.4f} per doubling of training accounts"
        if base < target and slope > 0:
            s += (
                f", so about {(target - b['ratio']) / slope:.0f} more doublings would reach the "
                f"target if that rate held"
            )
        parts.append(s + ".")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds",
        default="42,1,2",
        help="LightGBM seeds (config `seed`), comma-separated; the first one's "
        "test scores are decomposed",
    )
    parser.add_argument(
        "--half-seed",
        type=int,
        default=0,
        help="seed of the draw of half of the demo accounts (learning curve)",
    )
    parser.add_argument(
        "--worlds",
        default="1,2",
        help="sizes (x simulate.accounts) of the extra simulated worlds added "
        "cumulatively to the training rows; empty = none",
    )
    parser.add_argument(
        "--world-seed",
        type=int,
        default=43,
        help="simulator seed of the first extra world (the next ones +1, +2...; the demo's is 42)",
    )
    parser.add_argument("--no-ceiling", action="store_true", help="skip the ceiling arm")
    parser.add_argument("--output", type=Path, default=RESULT)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every arm (after --)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("adoption_decay").setLevel(logging.WARNING)

    from core.config import load_config
    from features.build import dataset_fingerprint
    from models.train import lgb_params

    seeds = [int(x) for x in str(args.seeds).split(",") if x.strip()]
    scales = [float(x) for x in str(args.worlds).split(",") if x.strip()]
    if not seeds:
        parser.error("--seeds needs at least one seed")
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="oracle_gap_"))
    base = list(args.overrides)
    seconds: dict[str, float] = {}
    try:
        cfg, demo, build_s = build([*base, f"output.dir={tmp / 'out'}"])
        seconds["build_demo"] = round(build_s, 1)
        cfgs = {s: load_config([*base, f"output.dir={tmp / 'out'}", f"seed={s}"]) for s in seeds}
        truth = pl.read_parquet(str(cfg.data.truth))
        key = cfg.model.segment_key
        arms: dict[str, Any] = {"base": run_arm("base", demo, cfgs, truth)}
        ceiling = None
        if not args.no_ceiling:
            arms["ceiling"] = run_arm("ceiling", with_latent_cause(demo, truth), cfgs, truth)
            ceiling = arms["ceiling"]["pooled"]
        dec = decomposition(arms["base"]["pooled"], truth, key, ceiling)

        half = account_sample(demo, 0.5, args.half_seed)
        arms["half_accounts"] = run_arm("half_accounts", demo, cfgs, truth, train_accounts=half)
        n_demo = demo.get_column("account_id").n_unique()
        curve = [
            {"label": "half of the demo", "arm": "half_accounts", "train_accounts": len(half)},
            {"label": "demo", "arm": "base", "train_accounts": n_demo},
        ]
        worlds, extra = [], None
        for i, scale in enumerate(scales):
            seed = args.world_seed + i
            other, info = other_world(base, tmp, seed, round(scale * int(cfg.simulate.accounts)))
            worlds.append(info)
            seconds[f"world_{seed}"] = round(info["simulate_s"] + info["build_s"], 1)
            extra = other if extra is None else pl.concat([extra, other.select(extra.columns)])
            name = f"demo_plus_worlds_{i + 1}"
            arms[name] = run_arm(name, demo, cfgs, truth, extra_train=extra)
            curve.append(
                {
                    "label": "demo + world"
                    + ("s " if i else " ")
                    + ", ".join(str(w["seed"]) for w in worlds),
                    "arm": name,
                    "train_accounts": n_demo + extra.get_column("account_id").n_unique(),
                }
            )
        for point in curve:
            arm = arms[point["arm"]]
            point.update(
                ratio=arm["mean"]["ratio"],
                ratio_sd_over_seeds=arm["sd_over_seeds"]["ratio"],
                pr_ratio=arm["mean"]["pr_ratio"],
                roc_auc=arm["mean"]["roc_auc"],
                train_rows=next(iter(arm["runs"].values()))["origins"][-1]["train_rows"],
            )
        x = np.log2([p["train_accounts"] for p in curve])
        slope = float(np.polyfit(x, [p["ratio"] for p in curve], 1)[0])
        differences = {
            f"{b['arm']}_vs_{a['arm']}": paired_difference(arms[a["arm"]], arms[b["arm"]])
            for a, b in pairwise(curve)
        }
        if "ceiling" in arms:
            differences["ceiling_vs_base"] = paired_difference(arms["base"], arms["ceiling"])
        for name, arm in arms.items():
            seconds[f"arm_{name}"] = arm["seconds"]
            arm.pop("pooled")
        seconds["total"] = round(time.perf_counter() - started, 1)
        result: dict[str, Any] = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                **machine(),
                "load_avg_1m_before": round(load_before, 2),
                "load_avg_1m_after": round(os.getloadavg()[0], 2),
            },
            "git": git_state(),
            "target_ratio": TARGET_RATIO,
            "config": {
                "overrides": base,
                "data": str(cfg.data.dir),
                "dataset_fingerprint": dataset_fingerprint(cfg),
                "dataset": {
                    "rows": demo.height,
                    "columns": demo.width,
                    "accounts": n_demo,
                    "labelled_rows": int(demo.get_column("label").is_not_null().sum()),
                },
                "label": str(cfg.label.name),
                "horizon_days": int(cfg.label.horizon_days),
                "snapshot": {
                    "as_of": str(cfg.snapshot.as_of),
                    "every_days": int(cfg.snapshot.every_days or DEMO_EVERY_DAYS),
                    "count": int(cfg.snapshot.count or DEMO_COUNT),
                },
                "split": {k: cfg.split[k] for k in cfg.split},
                "backtest": {k: cfg.backtest[k] for k in cfg.backtest},
                "model": {
                    "strategy": str(cfg.model.strategy),
                    "segment_key": key,
                    "calibration": str(cfg.model.calibration),
                    "promotion_metric": str(cfg.model.promotion_metric),
                    "num_boost_round": int(cfg.model.num_boost_round),
                    "early_stopping_rounds": int(cfg.model.early_stopping_rounds),
                    "params": lgb_params(cfg),
                },
            },
            "seeds": {
                "lightgbm": seeds,
                "decomposed": seeds[0],
                "half_accounts": args.half_seed,
                "worlds": [w["seed"] for w in worlds],
            },
            "onset_age_buckets": list(ONSET_AGE_BUCKETS),
            "ceiling_features": [LATENT_CAUSE, LATENT_AGE],
            "worlds": worlds,
            "learning_curve": curve,
            "learning_curve_slope_per_doubling": slope,
            "differences": differences,
            "decomposition": dec,
            "arms": arms,
            "seconds": seconds,
        }
        result = {"conclusion": conclusion(result), **result}
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps({"conclusion": result["conclusion"], "seconds": seconds}, indent=2))


if __name__ == "__main__":
    main()
