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
# # Which indicators lead adoption decay?
#
# Before any model exists: how well does each leading indicator, on its own, separate accounts
# whose adoption decays in the following horizon from those whose does not — per segment — and
# **how early** does it do so? Read it with `feature_catalogue.yaml` at hand.
#
# Inputs: `dataset.parquet` and `feature_catalogue.yaml` written by `decay-features`
# (`ADOPTION_DECAY_OUTPUT` points at that folder; default `outputs/demo`).

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
import yaml
from sklearn.metrics import roc_auc_score

OUTPUT = Path(os.environ.get("ADOPTION_DECAY_OUTPUT", "outputs/demo"))
SEGMENT = os.environ.get("ADOPTION_DECAY_SEGMENT", "size_tier")
dataset = pl.read_parquet(OUTPUT / "dataset.parquet")
catalogue = yaml.safe_load((OUTPUT / "feature_catalogue.yaml").read_text())
labelled = dataset.filter(pl.col("label").is_not_null())
features = [c for c in catalogue if c in dataset.columns and dataset[c].dtype.is_numeric()]
print(f"{dataset.height} rows, {labelled.height} labelled, {len(features)} numeric indicators")

# %% [markdown]
# ## Base rate of decay per segment and over time

# %%
segment_col = SEGMENT if SEGMENT in labelled.columns else None
if segment_col:
    print(
        labelled.group_by(segment_col)
        .agg(rows=pl.len(), decay_rate=pl.col("label").mean())
        .sort(segment_col)
    )
by_cutoff = labelled.group_by("cutoff").agg(decay_rate=pl.col("label").mean()).sort("cutoff")
fig, ax = plt.subplots(figsize=(8, 2.5))
ax.plot(by_cutoff["cutoff"].to_list(), by_cutoff["decay_rate"].to_list())
ax.set_title("Share of accounts whose adoption decays in the next horizon")
ax.set_ylabel("decay rate")
fig.tight_layout()


# %% [markdown]
# ## Univariate separation per segment
# ROC-AUC of each indicator alone, oriented so that 0.5 is "no signal" and 1.0 perfect; the
# sign tells whether low or high values precede decay.


# %%
def oriented_auc(frame: pl.DataFrame, feature: str) -> float:
    """|AUC - 0.5| + 0.5 of one indicator against the label (nulls to the median)."""
    y = frame["label"].to_numpy()
    if y.min() == y.max():
        return float("nan")
    x = frame[feature].cast(pl.Float64)
    x = x.fill_null(x.median() if x.null_count() < len(x) else 0.0).fill_nan(0.0).to_numpy()
    auc = roc_auc_score(y, x)
    return 0.5 + abs(auc - 0.5)


groups = labelled.partition_by(segment_col, as_dict=True) if segment_col else {("all",): labelled}
rows = []
for key, frame in sorted(groups.items(), key=lambda kv: str(kv[0])):
    for f in features:
        rows.append(
            {
                "segment": str(key[0]),
                "feature": f,
                "auc": oriented_auc(frame, f),
                "family": catalogue[f].get("family", "?"),
            }
        )
aucs = pl.DataFrame(rows)
top = (
    aucs.group_by("feature")
    .agg(pl.col("auc").mean().alias("mean_auc"))
    .sort("mean_auc", descending=True)
    .head(15)["feature"]
    .to_list()
)
pivot = aucs.filter(pl.col("feature").is_in(top)).pivot(on="segment", index="feature", values="auc")
pivot = pivot.with_columns(pl.col("feature").cast(pl.Enum(top))).sort("feature")
segments = [c for c in pivot.columns if c != "feature"]
fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(segments), 0.4 * len(top) + 1))
im = ax.imshow(pivot.select(segments).to_numpy(), vmin=0.5, vmax=1.0, cmap="viridis", aspect="auto")
ax.set_yticks(range(len(top)), top)
ax.set_xticks(range(len(segments)), segments)
ax.set_title("Oriented ROC-AUC of single indicators, by segment")
fig.colorbar(im)
fig.tight_layout()
print(pivot)

# %% [markdown]
# ## How early? The same indicator measured k weeks before the cutoff
# For the label at cutoff `t`, take the indicator at `t - 7k`. An indicator that still separates
# at k = 4 is a leading indicator a CSM can act on a month ahead.

# %%
lags = range(0, 7)
lead_rows = []
for f in top[:6]:
    for k in lags:
        earlier = dataset.select(
            "account_id",
            (pl.col("cutoff") + pl.duration(days=7 * k)).alias("cutoff"),
            pl.col(f).alias("_lagged"),
        )
        joined = labelled.select("account_id", "cutoff", "label").join(
            earlier, on=["account_id", "cutoff"], how="inner"
        )
        if joined.height and joined["label"].n_unique() == 2:
            lead_rows.append(
                {
                    "feature": f,
                    "weeks_before": k,
                    "auc": oriented_auc(joined.rename({"_lagged": f}), f),
                }
            )
lead = pl.DataFrame(lead_rows)
fig, ax = plt.subplots(figsize=(8, 3.5))
for f in top[:6]:
    part = lead.filter(pl.col("feature") == f)
    ax.plot(part["weeks_before"].to_list(), part["auc"].to_list(), marker="o", label=f)
ax.set_xlabel("weeks before the cutoff the indicator was measured")
ax.set_ylabel("oriented ROC-AUC")
ax.legend(fontsize=7)
ax.set_title("Lead time of the strongest indicators")
fig.tight_layout()

# %% [markdown]
# ## Trajectories: decaying vs healthy accounts
# Mean of the strongest indicator at each of the weeks before the cutoff, split by the label.

# %%
f = top[0]
traj = []
for k in range(0, 9):
    earlier = dataset.select(
        "account_id",
        (pl.col("cutoff") + pl.duration(days=7 * k)).alias("cutoff"),
        pl.col(f).alias("v"),
    )
    j = labelled.select("account_id", "cutoff", "label").join(earlier, on=["account_id", "cutoff"])
    traj.append(j.group_by("label").agg(pl.col("v").mean()).with_columns(pl.lit(-k).alias("week")))
traj_df = pl.concat(traj).sort("week")
fig, ax = plt.subplots(figsize=(8, 3))
for lbl, name in [(0, "stays healthy"), (1, "decays")]:
    part = traj_df.filter(pl.col("label") == lbl)
    ax.plot(part["week"].to_list(), part["v"].to_list(), marker="o", label=name)
ax.set_xlabel("weeks relative to the cutoff")
ax.set_title(f"{f}: {catalogue[f].get('description', '')}")
ax.legend()
fig.tight_layout()
assert np.isfinite(traj_df["v"].drop_nulls().to_numpy()).all()
