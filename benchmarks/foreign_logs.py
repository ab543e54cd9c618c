"""The product against its built-in baselines on foreign logs, on the held-out period after as_of.

Why: the product is judged on logs it has never seen. For each ``testlogs`` shape (and the real
CDNOW purchase log shipped by ``lifetimes``) this runs what a user would run, by config alone
(the shape's README mapping, label, horizon and ``snapshot.as_of``): profile -> defaults ->
features -> training with the gate -> the served model refit on every labelled cutoff. Then it
scores every eligible entity at ``as_of`` with the served model and with each built-in baseline
(each refit the same way) and measures them against what really happened after as_of (the
generator's ``future/`` files), with the ROC-AUC's standard error (Hanley & McNeil, 1982).
The demo's own test ROC-AUC is recorded beside it (``metrics.json`` of a default training).

    python -m benchmarks.foreign_logs [shape ...]   # -> benchmarks/results/foreign_logs.json
"""

from __future__ import annotations

import json
import logging
import math
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from omegaconf import OmegaConf
from sklearn.metrics import roc_auc_score

import testlogs
from core.config import load_config
from features.build import build_dataset, build_features
from features.labels import build_labels
from features.windows import T, date_to_day
from ingest.defaults import KEYS
from ingest.load import load_tables
from models.split import labelled, time_split
from models.train import fit_servable, refit_routed, train_models
from pipelines.common import load_profiled_tables

RESULTS = Path(__file__).parent / "results" / "foreign_logs.json"
SHAPES = {"purchases": 4000, "subscription": 2500, "clickstream": 4000, "cdnow": 23570}


def auc_se(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """ROC-AUC and its Hanley-McNeil standard error."""
    auc = float(roc_auc_score(y, s))
    n1, n0 = float(y.sum()), float(y.size - y.sum())
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) + (n0 - 1) * (q2 - auc * auc)) / (n1 * n0)
    return auc, math.sqrt(max(var, 0.0))


def run_shape(shape: str, n: int, seed: int, root: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    data = root / shape
    if shape == "cdnow":  # the real purchase log shipped by lifetimes (testlogs.public)
        from testlogs.public import CDNOW_AS_OF, write_cdnow

        write_cdnow(data)
        as_of = date.fromisoformat(str(CDNOW_AS_OF)[:10])
    else:
        testlogs.write(shape, data, seed=seed, n=n)
        as_of = date.fromisoformat(testlogs.DEFAULT_AS_OF)
    info = json.loads((data / "README.json").read_text())["suggested_config"]
    base = [
        *info["overrides"],
        f"snapshot.as_of={as_of}",
        f"output.dir={root / 'out' / shape}",
        "model.params.num_threads=2",
    ]
    cfg = load_config(base)
    tables, _, _ = load_profiled_tables(cfg)
    dataset, _ = build_dataset(tables, cfg)
    result = train_models(dataset, cfg)
    everything = labelled(dataset)
    models = {"product": result.model}
    split = time_split(dataset, cfg)
    if split.evaluated:
        for kind, (m, _) in fit_servable(split, cfg, result.gate_model).items():
            models[kind] = refit_routed(m, everything, cfg)
    # What really happened next: the same log with the future appended, observed to as_of + h.
    h = int(cfg.label.horizon_days)
    full = root / f"{shape}_full"
    full.mkdir()
    pl.concat(
        [
            pl.read_parquet(data / "events.parquet"),
            pl.read_parquet(data / "future" / "events.parquet"),
        ]
    ).write_parquet(full / "events.parquet")
    over = [
        *base,
        f"data.events={full / 'events.parquet'}",
        f"data.observed_until={as_of + timedelta(days=h)}",
    ]
    if (data / "future" / "subscribers.parquet").exists():
        over.append(f"data.accounts={data / 'future' / 'subscribers.parquet'}")
    cfg_full = load_config(over)
    for key in KEYS:  # the training's data-driven choices, not a new profile of the future
        OmegaConf.update(cfg_full, key, OmegaConf.select(cfg, key), merge=False)
    tables_full = load_tables(cfg_full, root / f"{shape}_quarantine")
    feats = build_features(tables_full, [as_of], cfg_full)
    rows = feats.select("account_id", "cutoff").with_columns(
        pl.lit(date_to_day(as_of), pl.Int32).alias(T)
    )
    truth = build_labels(tables_full, rows, cfg_full.label)
    keep = truth.get_column("label").is_not_null().to_numpy()
    y = truth.get_column("label").to_numpy()[keep].astype(float)
    out: dict[str, Any] = {
        "shape": shape,
        "entities": n,
        "label": str(cfg.label.name),
        "horizon_days": h,
        "as_of": as_of.isoformat(),
        "scored": int(keep.sum()),
        "positives": int(y.sum()),
        "served": result.metrics.get("served"),
        "test_roc_auc_in_training": result.metrics.get("roc_auc"),
        "held_out": {},
    }
    for name, m in models.items():
        s = m.predict_proba(feats)[keep]
        auc, se = auc_se(y, s)
        out["held_out"][name] = {"roc_auc": round(auc, 4), "se": round(se, 4)}
    best = max((v["roc_auc"], k) for k, v in out["held_out"].items() if k != "product")
    out["best_baseline"] = best[1]
    out["product_minus_best_baseline"] = round(out["held_out"]["product"]["roc_auc"] - best[0], 4)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory(prefix="foreign_logs_") as tmp:
        for shape, n in SHAPES.items():
            if len(sys.argv) > 1 and shape not in sys.argv[1:]:
                continue
            rows.append(run_shape(shape, n, seed=11, root=Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"shapes": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
