"""Benchmark: our point-in-time feature build against featuretools deep feature synthesis (DFS).

``python -m benchmarks.featuretools_peer [--events 1M] [--every-weeks 1] [--seed 7]``

featuretools is the reference for cutoff-time semantics, so it is the peer to measure against:
the same sample, the same (account, cutoff) rows, the same labels, the same LightGBM.

1. **Sample**: a seeded random order of the demo's accounts (``data/demo``, simulated when
   missing), whole accounts taken while the events stay <= ``--events``, so every history is
   intact (``sample_accounts``). Events, users and accounts of those accounts go to a temp folder.
2. **Ours**, in a child process of the main env: ``pipelines.common.load_profiled_tables`` (read,
   validate, profile) and ``features.build.build_dataset`` (features + labels; the labels are
   timed apart, the peer computes none), then the dataset is written. Cutoffs: ``snapshot.count``
   = ``52 // every_weeks`` every ``7 * every_weeks`` days back from ``snapshot.as_of``.
3. **Peer**, in a child process of its own env (``benchmarks/peer/.venv``, ``make peer-venv``:
   featuretools needs pandas < 3): ``benchmarks/peer/dfs.py`` builds an EntitySet accounts ->
   users -> events (events also -> accounts), and runs ``ft.dfs`` (``max_depth=2``) with
   ``cutoff_time`` = exactly our dataset's (account_id, cutoff) rows (``cutoff_times``) at
   00:00 UTC and ``include_cutoff_time=False``, so a row at cutoff ``t`` sees only events with
   timestamp ``< t``, as ours does; no ``training_window`` (all history before ``t``).
4. **Same model**: both feature sets get the same labels (ours), the same time split
   (``models.split.time_split``) and the same routed LightGBM (``models.train.fit_routed``, the
   model ``decay-train`` evaluates) at each rolling origin of its backtest; ROC-AUC (with its
   Hanley-McNeil standard error, the ``benchmarks.foreign_logs`` helper) on the same test rows,
   and the peer-minus-ours difference with paired bootstrap intervals (``paired_auc_diff``).

Time and peak memory of each child are measured the same way from this process: wall time from
start to exit (imports included) and the peak RSS of the child's process tree sampled every
10 ms with psutil (its process list refreshed each second). Each child also reports its stage
times. One run measures both sides; the result goes to ``benchmarks/results/featuretools_peer.json``. ``--every-weeks K`` thins the
cutoffs of BOTH sides identically (recorded in the json) when DFS over every weekly cutoff is
too slow for the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.scale import DEMO, ROOT, ensure_demo, parse_count

RESULT = Path(__file__).resolve().parent / "results" / "featuretools_peer.json"
PEER_DIR = Path(__file__).resolve().parent / "peer"
PEER_PY = PEER_DIR / ".venv" / "bin" / "python"
DFS = PEER_DIR / "dfs.py"
GIB = 1024**3
WEEKLY_CUTOFFS = 52
#: Training needs these from the data-driven defaults the child's profile chose.
TRAINING_KEYS = ("model.segment_key",)


# -- pure pieces (tested in tests/benchmarks/test_featuretools_peer.py) ------------------------
def sample_accounts(events: pl.LazyFrame, n_events: int, seed: int) -> list[str]:
    """Sorted ids of whole accounts, in a seeded random order, while their events stay
    ``<= n_events`` (at least one account)."""
    per = (
        events.group_by("account_id")
        .agg(pl.len().alias("events"))
        .sort("account_id")
        .collect()
        .sample(fraction=1.0, shuffle=True, seed=seed)
        .with_columns(pl.col("events").cum_sum().alias("total"))
    )
    keep = per.filter((pl.col("total") <= n_events) | (pl.int_range(pl.len()) == 0))
    return sorted(keep.get_column("account_id").to_list())


def cutoff_times(dataset: pl.DataFrame) -> pl.DataFrame:
    """featuretools' ``cutoff_time`` table: one row per dataset row, ``account_id`` and ``time`` =
    the cutoff's 00:00 UTC as a naive datetime (the peer's timestamps are naive UTC too).

    Used with ``include_cutoff_time=False``: featuretools then reads data with time ``< time``,
    which is our contract (a row at cutoff ``t`` sees events with timestamp ``< t``)."""
    return dataset.select(
        "account_id", pl.col("cutoff").cast(pl.Datetime("us")).alias("time")
    ).sort("time", "account_id")


def safe_names(names: list[str]) -> list[str]:
    """DFS feature names (``MEAN(users.COUNT(events))``) as LightGBM-safe, unique identifiers."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        base = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or "feature"
        safe, k = base, 1
        while safe in seen:
            k += 1
            safe = f"{base}_{k}"
        seen.add(safe)
        out.append(safe)
    return out


def peer_dataset(dataset: pl.DataFrame, matrix: pl.DataFrame) -> pl.DataFrame:
    """Our dataset's rows and labels with the peer's features instead of ours.

    ``matrix``: the DFS feature matrix with ``account_id`` and ``time`` (the cutoff at 00:00).
    Features sorted by name; numeric and boolean ones become Float64, strings/categoricals String (LightGBM's
    categorical features here); other dtypes (datetimes) are dropped. Raises when a dataset row
    has no peer row."""
    # Sorted: DFS's column order varies between runs (hash seeds), and with feature_fraction
    # so would LightGBM's model; by name, the same features always give the same model.
    feats = sorted(c for c in matrix.columns if c not in ("account_id", "time"))
    exprs: list[pl.Expr] = []
    for name, safe in zip(feats, safe_names(feats), strict=True):
        dtype = matrix.schema[name]
        if dtype.is_numeric() or dtype == pl.Boolean:
            exprs.append(pl.col(name).cast(pl.Float64).alias(safe))
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            exprs.append(pl.col(name).cast(pl.String).alias(safe))
    peer = matrix.select(
        pl.col("account_id").cast(pl.String), pl.col("time").dt.date().alias("cutoff"), *exprs
    )
    out = dataset.select("account_id", "cutoff", "label").join(
        peer, on=["account_id", "cutoff"], how="left", validate="1:1"
    )
    if feats and out.height != dataset.height:
        raise ValueError(f"peer rows {out.height} != dataset rows {dataset.height}")
    missing = out.join(peer.select("account_id", "cutoff"), on=["account_id", "cutoff"], how="anti")
    if missing.height:
        raise ValueError(f"{missing.height} dataset rows have no peer feature row")
    return out.select("account_id", "cutoff", pl.exclude("account_id", "cutoff", "label"), "label")


# -- the two builds, each in a child process --------------------------------------------------
def build_config(data: Path, out: Path, every_weeks: int) -> list[str]:
    """The overrides of our build (and of the training that judges both feature sets)."""
    return [
        f"data.events='{data / 'events.parquet'}'",
        f"data.users='{data / 'users.parquet'}'",
        f"data.accounts='{data / 'accounts.parquet'}'",
        f"snapshot.count={WEEKLY_CUTOFFS // every_weeks}",
        f"snapshot.every_days={7 * every_weeks}",
        f"output.dir='{out}'",
        "model.params.num_threads=2",
    ]


def ours_child(data: Path, out: Path, every_weeks: int) -> None:
    """Our build on ``data`` with stage times; writes ``out/dataset.parquet``; prints JSON."""
    from omegaconf import OmegaConf

    from benchmarks.scale import Stages, wrap
    from core.config import load_config
    from features import build
    from pipelines.common import load_profiled_tables

    cfg = load_config(build_config(data, out, every_weeks))
    stages = Stages()
    wrap(build, "build_labels", stages, "labels", "features")
    stages.mark("load")
    tables, _, _ = load_profiled_tables(cfg)
    stages.mark("features")
    dataset, catalogue = build.build_dataset(tables, cfg)
    stages.mark("write")
    dataset.write_parquet(out / "dataset.parquet")
    stages.stop()
    keys = {k: OmegaConf.select(cfg, k) for k in TRAINING_KEYS}
    print(
        json.dumps(
            {
                "stages_s": {
                    s: round(stages.times.get(s, 0.0), 2)
                    for s in ("load", "features", "labels", "write")
                },
                "rows": dataset.height,
                "features": len(catalogue),
                "defaults": keys,
            }
        )
    )


def measure(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd`` from the repo root; wall time, peak RSS of its process tree (psutil, every
    10 ms) and the JSON of its last stdout line."""
    import psutil

    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"},
        )
        root, peak, tree, listed = psutil.Process(proc.pid), 0, [], 0.0
        while proc.poll() is None:
            try:
                if time.perf_counter() - listed > 1.0:  # listing scans /proc: once a second
                    tree, listed = [root, *root.children(recursive=True)], time.perf_counter()
                peak = max(peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:  # a process left between listing and reading
                tree, listed = [], 0.0
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ... exited {proc.returncode}:\n{stderr[-4000:]}")
    report = json.loads(stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 2), "peak_rss_gib": round(peak / GIB, 3), **report}


# -- the same model on both feature sets -----------------------------------------------------
def held_out(dataset: pl.DataFrame, cfg: Any) -> tuple[dict[str, Any], pl.DataFrame]:
    """Test ROC-AUC of the routed LightGBM that ``decay-train`` evaluates (``fit_routed`` on
    ``time_split``; origin 0 = its test period) and at each rolling origin of its backtest
    (``rolling_origins``, oldest first); and the test scores (``origin``, ``account_id``,
    ``cutoff``, ``label``, ``score``) of every origin."""
    from benchmarks.foreign_logs import auc_se
    from models.split import rolling_origins
    from models.train import feature_columns, fit_routed, score_frame

    scores, aucs = [], {}
    for split in rolling_origins(dataset, cfg):
        model, _ = fit_routed(split, cfg)
        test = score_frame(model, split.test).select(
            pl.lit(split.origin).alias("origin"), "account_id", "cutoff", "label", "score"
        )
        y = test.get_column("label").cast(pl.Float64).to_numpy()
        aucs[split.origin] = auc_se(y, test.get_column("score").to_numpy())
        scores.append(test)
        if split.origin == 0:
            main = split
    features, categorical = feature_columns(dataset, cfg)
    y0 = main.test.get_column("label").cast(pl.Float64).to_numpy()
    out = {
        "model_inputs": len(features),
        "categorical_inputs": len(categorical),
        "roc_auc": round(aucs[0][0], 4),
        "se": round(aucs[0][1], 4),
        "backtest_roc_auc": {f"origin_{k}": round(v[0], 4) for k, v in sorted(aucs.items())},
        "backtest_mean_roc_auc": round(float(np.mean([v[0] for v in aucs.values()])), 4),
        "test_rows": main.test.height,
        "test_positives": int(y0.sum()),
        "train_rows": main.train.height,
        "validation_rows": main.validation.height,
        "split": main.describe(),
    }
    return out, pl.concat(scores)


def paired_auc_diff(scores: pl.DataFrame, seed: int = 0, n: int = 2000) -> dict[str, Any]:
    """ROC-AUC(peer) - ROC-AUC(ours) on the same test rows, per origin and averaged over origins,
    with 95% paired bootstrap intervals (rows resampled within each origin, both sides together).

    ``scores``: ``origin``, ``label``, ``ours``, ``peer`` (one row per test row and origin)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    parts = scores.sort("origin").partition_by("origin", as_dict=True, maintain_order=True)
    origins = [int(key[0]) for key in parts]
    groups = [
        (g.get_column("label").to_numpy(), g.get_column("ours").to_numpy(), g["peer"].to_numpy())
        for g in parts.values()
    ]

    def diff(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return float(roc_auc_score(y, b) - roc_auc_score(y, a))

    points = [diff(*g) for g in groups]
    boots = np.full((n, len(groups)), np.nan)
    for r in range(n):
        for k, (y, a, b) in enumerate(groups):
            i = rng.integers(0, y.size, y.size)
            if 0 < y[i].sum() < y.size:
                boots[r, k] = diff(y[i], a[i], b[i])

    def ci(values: np.ndarray) -> list[float]:
        return [round(float(q), 4) for q in np.nanpercentile(values, [2.5, 97.5])]

    return {
        "mean": round(float(np.mean(points)), 4),
        "ci95": ci(np.nanmean(boots, axis=1)),
        "per_origin": {
            f"origin_{origin}": {"diff": round(d, 4), "ci95": ci(boots[:, k])}
            for k, (origin, d) in enumerate(zip(origins, points, strict=True))
        },
    }


def compare(ours: pl.DataFrame, peer: pl.DataFrame) -> pl.DataFrame:
    """The two sides' test scores side by side (the same rows: checked)."""
    keys = ["origin", "account_id", "cutoff"]
    both = ours.rename({"score": "ours"}).join(
        peer.select(*keys, pl.col("score").alias("peer")), on=keys, how="inner", validate="1:1"
    )
    if not both.height == ours.height == peer.height:
        raise ValueError(f"test rows differ: ours {ours.height}, peer {peer.height}")
    return both


def _table(res: dict[str, Any]) -> str:
    o, p, r = res["ours"], res["peer"], res["ratios"]
    diff = r["backtest_mean_roc_auc_diff"]
    rows = [
        ("", "ours", "featuretools", "peer / ours"),
        (
            "features",
            o["features"],
            p["features"],
            f"(built; model inputs {o['model_inputs']} / {p['model_inputs']})",
        ),
        ("wall s", o["wall_s"], p["wall_s"], r["time"]),
        ("build s", o["build_s"], p["build_s"], r["build_time"]),
        ("peak RSS GiB", o["peak_rss_gib"], p["peak_rss_gib"], r["peak_rss"]),
        (
            "test ROC-AUC",
            o["roc_auc"],
            p["roc_auc"],
            f"{r['roc_auc_diff']:+.4f} (95% {diff['per_origin']['origin_0']['ci95']})",
        ),
        (
            "backtest mean",
            o["backtest_mean_roc_auc"],
            p["backtest_mean_roc_auc"],
            f"{diff['mean']:+.4f} (95% {diff['ci95']})",
        ),
    ]
    return "\n".join(f"{a:<14}{b!s:>10}{c!s:>14}   {d}" for a, b, c, d in rows)


def write_sample(n_events: int, seed: int, out: Path) -> dict[str, int]:
    """The demo's events, users and accounts of ``sample_accounts`` as parquet files in ``out``."""
    ids = pl.Series(sample_accounts(pl.scan_parquet(DEMO / "events.parquet"), n_events, seed))
    counts = {}
    for name in ("events", "users", "accounts"):
        frame = pl.scan_parquet(DEMO / f"{name}.parquet")
        frame.filter(pl.col("account_id").is_in(ids.implode())).sink_parquet(
            out / f"{name}.parquet"
        )
        counts[name] = pl.scan_parquet(out / f"{name}.parquet").select(pl.len()).collect().item()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", default="1M", help="events in the sample (whole accounts)")
    ap.add_argument("--every-weeks", type=int, default=1, help="cutoff every K weeks (both)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the account sample")
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument("--keep", type=Path, help="keep sample, cutoff times, both feature sets here")
    ap.add_argument("--ours-child", nargs=3, metavar=("DATA", "OUT", "K"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ours_child:
        ours_child(Path(args.ours_child[0]), Path(args.ours_child[1]), int(args.ours_child[2]))
        return
    if not PEER_PY.exists():
        raise SystemExit(f"{PEER_PY} missing: run `make peer-venv` first")
    if WEEKLY_CUTOFFS % args.every_weeks:
        raise SystemExit(f"--every-weeks must divide {WEEKLY_CUTOFFS}, got {args.every_weeks}")
    from omegaconf import OmegaConf

    from core.config import load_config

    ensure_demo()
    n_events, k = parse_count(args.events), args.every_weeks
    work = tempfile.TemporaryDirectory(prefix="featuretools-peer-")
    with nullcontext(str(args.keep)) if args.keep else work as tmp:
        data, ours_out, cuts, matrix_path = (
            Path(tmp) / p for p in ("data", "ours", "cutoff_times.parquet", "features.parquet")
        )
        data.mkdir(parents=True, exist_ok=True)
        ours_out.mkdir(exist_ok=True)
        counts = write_sample(n_events, args.seed, data)
        print(f"sample: {counts}; our build ...", flush=True)
        me = [sys.executable, "-m", "benchmarks.featuretools_peer"]
        ours = measure([*me, "--ours-child", str(data), str(ours_out), str(k)])
        dataset = pl.read_parquet(ours_out / "dataset.parquet")
        cutoff_times(dataset).write_parquet(cuts)
        print(f"ours: {json.dumps(ours)}\nfeaturetools DFS ...", flush=True)
        dfs = [str(PEER_PY), str(DFS), "--data", str(data), "--cutoff-times", str(cuts)]
        peer = measure([*dfs, "--out", str(matrix_path)])
        print(f"peer: {json.dumps(peer)}\ntraining ...", flush=True)
        matrix = pl.read_parquet(matrix_path)
    cfg = load_config(build_config(data, ours_out, k))
    for key, value in ours.pop("defaults").items():  # the child's data-driven choices
        OmegaConf.update(cfg, key, value, merge=False)
    ours_eval, ours_scores = held_out(dataset, cfg)
    peer_eval, peer_scores = held_out(peer_dataset(dataset, matrix), cfg)
    ours.update(ours_eval)
    peer.update(peer_eval)
    diff = paired_auc_diff(compare(ours_scores, peer_scores), seed=args.seed)
    ours["build_s"] = round(ours["stages_s"]["features"] + ours["stages_s"]["labels"], 2)
    peer["build_s"] = peer["stages_s"]["dfs"]
    res = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m_after": os.getloadavg()[0],
        },
        "sample": {**counts, "requested_events": n_events, "seed": args.seed, "of": "data/demo"},
        "rows": dataset.height,
        "labelled_rows": int(dataset.get_column("label").is_not_null().sum()),
        "cutoffs": dataset.get_column("cutoff").n_unique(),
        "cutoff_every_days": 7 * k,
        "cutoffs_thinned": k > 1,
        "semantics": "a row at cutoff t (00:00 UTC) sees events with timestamp < t on both sides "
        "(peer: cutoff_time at 00:00, include_cutoff_time=False, no training_window)",
        "ours": ours,
        "peer": peer,
        "ratios": {
            "time": round(peer["wall_s"] / ours["wall_s"], 2),
            "build_time": round(peer["build_s"] / ours["build_s"], 2),
            "peak_rss": round(peer["peak_rss_gib"] / ours["peak_rss_gib"], 2),
            "roc_auc_diff": round(peer["roc_auc"] - ours["roc_auc"], 4),
            "backtest_mean_roc_auc_diff": diff,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(_table(res))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
