# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Model diagnostics: is the served model better than the simple rules, and can we trust it?
#
# After `decay-train` and `decay-score`: the training run's test metrics per segment against the
# baselines, the calibration of its probabilities on the test rows, what drives its risk (exact
# TreeSHAP: summary and dependence plots) and one account's explanation as a CSM reads it.
#
# Inputs (environment variables, like notebook 01):
# - `ADOPTION_DECAY_OUTPUT`: the output folder (`dataset.parquet`, `scores/as_of=*/`;
#   default `outputs/demo`);
# - `ADOPTION_DECAY_TRACKING_URI`: the MLflow store the training logged to (default the
#   project's `sqlite:///mlruns/mlflow.db`);
# - `ADOPTION_DECAY_ACCOUNT`: the account to explain (default: the riskiest of the latest run).
#
# The test rows are never seen by the evaluated model; the served model is refit on every
# labelled cutoff (`model.refit`), so its own scores on those rows would be in-sample. The
# notebook therefore refits the *evaluation* model from the run's logged config and split (a few
# seconds; LightGBM is deterministic) and checks that it reproduces the logged test ROC-AUC.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import polars as pl
import shap
import yaml
from omegaconf import OmegaConf
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score

from core.config import load_config

OUTPUT = Path(os.environ.get("ADOPTION_DECAY_OUTPUT", "outputs/demo"))
TRACKING_URI = os.environ.get("ADOPTION_DECAY_TRACKING_URI", "sqlite:///mlruns/mlflow.db")
ACCOUNT = os.environ.get("ADOPTION_DECAY_ACCOUNT") or None
mlflow.set_tracking_uri(TRACKING_URI)
train_runs = mlflow.search_runs(
    search_all_experiments=True,
    filter_string="tags.step = 'train'",
    order_by=["attributes.start_time DESC"],
    max_results=1,
    output_format="list",
)
run = train_runs[0]
run_id = run.info.run_id
metrics = mlflow.artifacts.load_dict(f"runs:/{run_id}/metrics.json")
split_info = mlflow.artifacts.load_dict(f"runs:/{run_id}/split.json")
print(f"training run {run_id} ({run.info.run_name}), served: {metrics.get('served')}")
print(f"test: {split_info['test']} — {metrics['n']} rows, {metrics['positives']} positives")

# %% [markdown]
# ## Test metrics per segment against the baselines
#
# `metrics.json` (also the run's artifact) holds the served model's test metrics overall and per
# segment, and the baselines' overall. The per-segment table below adds the two baselines
# refit with the evaluation model (`logistic` on the same indicators, the one-line `heuristic`).

# %%
overall = pl.DataFrame(
    [
        {"model": "lightgbm", **{k: metrics.get(k) for k in ("roc_auc", "pr_auc", "brier")}},
        *[
            {"model": name, **{k: v.get(k) for k in ("roc_auc", "pr_auc", "brier")}}
            for name, v in (metrics.get("baselines") or {}).items()
            if isinstance(v.get("roc_auc"), float)
        ],
    ]
).sort("roc_auc", descending=True, nulls_last=True)
print(overall)

# %%
# The evaluation model: the run's config and split, refit here (no backtest, no refit).
from models.split import time_split
from models.train import feature_columns, fit_routed, run_baselines, score_frame

logged = yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{run_id}/config/config.yaml"))
cfg = OmegaConf.merge(load_config([]), {k: logged[k] for k in logged if k != "hydra"})
dataset = pl.read_parquet(OUTPUT / "dataset.parquet")
split = time_split(dataset, cfg)
model, details = fit_routed(split, cfg, None)
test = score_frame(model, split.test).to_pandas()
features, categorical = feature_columns(dataset, cfg)
_, baseline_scores = run_baselines(split, cfg, features, categorical)
refit_auc = roc_auc_score(test["label"], test["score"])
print(f"refit evaluation model: test ROC-AUC {refit_auc:.4f} (logged {metrics['roc_auc']:.4f})")

# %%
segment = model.segment_key
rows = []
for seg, part in test.groupby(segment) if segment else [("all", test)]:
    idx = part.index.to_numpy()
    if part["label"].nunique() < 2:
        continue
    row = {"segment": seg, "rows": len(part), "positives": int(part["label"].sum())}
    row["lightgbm"] = roc_auc_score(part["label"], part["score"])
    for name, s in baseline_scores.items():
        row[name] = roc_auc_score(part["label"], np.asarray(s)[idx])
    rows.append(row)
per_segment = pl.DataFrame(rows)
print(per_segment)
models_shown = ["lightgbm", *baseline_scores]
fig, ax = plt.subplots(figsize=(8, 3))
width = 0.8 / len(models_shown)
for i, name in enumerate(models_shown):
    ax.bar(
        np.arange(per_segment.height) + i * width, per_segment[name].to_list(), width, label=name
    )
ax.set_xticks(np.arange(per_segment.height) + 0.4 - width / 2, per_segment["segment"].to_list())
ax.axhline(0.5, color="grey", lw=0.8, ls="--")
ax.set_ylim(0.4, 1.0)
ax.set_ylabel("test ROC-AUC")
ax.set_title(f"Test ROC-AUC per {segment or 'segment'}: model against the baselines")
ax.legend(fontsize=8, ncol=len(models_shown))
fig.tight_layout()

# %% [markdown]
# ## Calibration on the test rows
#
# A reliability curve: among test rows with a predicted risk of about p, how many decayed?
# Points under the diagonal mean the model overstates the risk. Few positives make the bins
# noisy: the bar chart below shows how many rows each bin holds.

# %%
n_bins = 8
true_rate, predicted = calibration_curve(
    test["label"], test["score"], n_bins=n_bins, strategy="quantile"
)
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect")
ax.plot(predicted, true_rate, marker="o", label="lightgbm (calibrated)")
ax.set_xlabel("predicted risk")
ax.set_ylabel("observed decay rate")
ax.set_title("Reliability on the test rows")
ax.legend(fontsize=8)
ax2.hist(test["score"], bins=20)
ax2.set_xlabel("predicted risk")
ax2.set_title("Rows per predicted risk")
fig.tight_layout()
brier = float(np.mean((test["score"] - test["label"]) ** 2))
print(f"Brier score {brier:.4f} (base rate {test['label'].mean():.3f})")

# %% [markdown]
# ## What drives the risk: exact TreeSHAP
#
# The same explainer as scoring (`scoring.explain.explain`, LightGBM's exact TreeSHAP in log-odds;
# positive raises the risk), on the test rows; shap draws the summary and a dependence plot of
# the most important indicator.

# %%
from scoring.explain import explain

frame = split.test
contrib, base = explain(model, frame)
X = model.to_matrix(frame)
names = model.feature_names
assert np.allclose(contrib.sum(axis=1) + base, model.predict_raw(frame), atol=1e-6)
shap.summary_plot(contrib, X, feature_names=names, max_display=12, show=False)
plt.title("TreeSHAP on the test rows (log-odds)")
plt.tight_layout()

# %%
top = names[int(np.argmax(np.abs(contrib).mean(axis=0)))]
shap.dependence_plot(top, contrib, X, feature_names=names, interaction_index=None, show=False)
plt.title(f"How {top} moves the risk")
plt.tight_layout()

# %% [markdown]
# ## One account, as the CSM reads it
#
# The latest scoring run's explanation of one account: the very text `decay-explain
# account_id=ID` prints, in the words of its report page.

# %%
from pipelines.explain import account_frames, find_run
from report.render import account_views, page_words
from report.terminal import account_lines

as_of, run_folder = find_run(OUTPUT, None)
if ACCOUNT is None:
    ACCOUNT = pl.read_parquet(run_folder / "scores.parquet").sort("rank")["account_id"][0]
frames, meta = account_frames(run_folder, ACCOUNT)
w = page_words(meta, frames["usage"], frames["milestones"])
[view] = account_views(frames, meta, w)
print("\n".join(account_lines(view, w, as_of=as_of, n_accounts=int(meta["n_accounts"]))))
