"""The gap decomposition of benchmarks/oracle_gap.py on hand-made frames with exact numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from benchmarks.oracle_gap import onset_age_bucket, pairwise_decomposition, with_latent_cause

# Positives: two of group a, one of group b; three negatives (one tied with b under the model).
FRAME = pl.DataFrame(
    {
        "g": ["a", "a", "b", "n", "n", "n"],
        "label": [1, 1, 1, 0, 0, 0],
        "model": [0.9, 0.4, 0.6, 0.5, 0.3, 0.6],
        "oracle": [0.9, 0.8, 0.15, 0.1, 0.2, 0.3],
    }
)


def test_positive_groups_split_the_auc_loss_and_the_gap_exactly() -> None:
    out = pairwise_decomposition(FRAME, ["g"], {"model": "model", "oracle": "oracle"})
    rows = {r["g"]: r for r in out.iter_rows(named=True)}
    # model wins: 0.9 beats 3/3, 0.4 beats 1/3, 0.6 beats 2/3 and ties 1/3 -> 2.5/3
    assert rows["a"]["n"] == 2 and rows["b"]["n"] == 1
    assert rows["a"]["auc_model"] == pytest.approx(2 / 3)
    assert rows["b"]["auc_model"] == pytest.approx(2.5 / 3)
    assert rows["a"]["loss_model"] == pytest.approx(2 / 9)
    assert rows["b"]["loss_model"] == pytest.approx(0.5 / 9)
    assert rows["a"]["loss_share_model"] == pytest.approx(0.8)
    assert rows["b"]["loss_share_model"] == pytest.approx(0.2)
    # oracle: a ranks above every negative, b (0.15) above one of three
    assert rows["b"]["loss_oracle"] == pytest.approx(2 / 9)
    # the gap: a costs the model 2/9 more than the oracle, b 1.5/9 less; shares 4 and -3
    assert rows["a"]["gap_share"] == pytest.approx(4.0)
    assert rows["b"]["gap_share"] == pytest.approx(-3.0)
    assert out.get_column("gap_share").sum() == pytest.approx(1.0)
    y = FRAME["label"].to_numpy()
    assert out.get_column("gap").sum() == pytest.approx(
        roc_auc_score(y, FRAME["oracle"]) - roc_auc_score(y, FRAME["model"])
    )
    assert out.get_column("g").to_list() == ["a", "b"]  # sorted by gap share


def test_negative_groups_sum_to_one_minus_auc() -> None:
    rng = np.random.default_rng(0)
    n = 200
    frame = pl.DataFrame(
        {
            "g": rng.choice(["x", "y", "z"], n),
            "label": rng.random(n) < 0.3,
            "s": np.round(rng.random(n), 1),
        }
    )  # rounded: many ties
    frame = frame.with_columns(pl.col("label").cast(pl.Int8))
    y = frame["label"].to_numpy()
    for side in ("positives", "negatives"):
        out = pairwise_decomposition(frame, ["g"], {"m": "s"}, side=side)
        assert out.get_column("loss_m").sum() == pytest.approx(1 - roc_auc_score(y, frame["s"]))
        assert out.get_column("loss_share_m").sum() == pytest.approx(1.0)
        assert out.get_column("n").sum() == int((y == (1 if side == "positives" else 0)).sum())


def test_onset_age_buckets_and_latent_columns_see_only_the_past() -> None:
    cut = date(2026, 3, 1)
    onsets = [
        None,
        date(2026, 3, 5),
        date(2026, 3, 1),
        date(2026, 2, 28),
        date(2026, 2, 22),
        date(2026, 2, 15),
        date(2026, 2, 1),
    ]
    truth = pl.DataFrame(
        {
            "account_id": [f"a{i}" for i in range(7)],
            "cutoff": [cut] * 7,
            "cause": ["none"] + ["champion_left"] * 6,
            "cause_onset": onsets,
        }
    )
    buckets = truth.select(onset_age_bucket()).to_series().to_list()
    assert buckets == ["none", "after_cutoff", "after_cutoff", "1-6d", "7-13d", "14-27d", "28d+"]
    ds = truth.select("account_id", "cutoff", pl.lit(1.0).alias("f"), pl.lit(0).alias("label"))
    out = with_latent_cause(ds, truth)
    assert out.columns[-1] == "label"
    assert out["latent_past_cause"].to_list() == ["none", "none", "none"] + ["champion_left"] * 4
    assert out["latent_past_onset_age_days"].to_list() == [None, None, None, 1.0, 7.0, 14.0, 28.0]
