"""PSI of scoring features against the training distribution."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.drift import bin_proportions, feature_distribution, feature_psi, psi


def test_deciles_and_null_bin_by_hand() -> None:
    d = feature_distribution([1.0, 2.0, 3.0, 4.0, None], bins=2)
    assert d["edges"] == [1.0, 2.5, 4.0]
    assert d["proportions"] == [0.4, 0.4, 0.2]  # <2.5, >=2.5, null


def test_psi_by_hand() -> None:
    expected = psi([0.5, 0.5], [0.25, 0.75])
    assert math.isclose(expected, (-0.25) * math.log(0.5) + 0.25 * math.log(1.5))


def test_same_frame_has_zero_psi_and_a_shift_is_flagged() -> None:
    rng = np.random.default_rng(1)
    train = pl.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000)})
    stats = {f: feature_distribution(train[f], 10) for f in ("x", "y")}
    same = feature_psi(train, stats, warn=0.2)
    assert same["psi"].max() < 1e-12
    assert not same["drifted"].any()
    shifted = train.with_columns(
        pl.col("x") + 1.0,
        pl.when(pl.int_range(pl.len()) % 2 == 0).then(None).otherwise(pl.col("y")).alias("y"),
    )
    out = feature_psi(shifted, stats, warn=0.2)
    assert sorted(out["feature"].to_list()) == ["x", "y"]
    assert out["drifted"].all()
    assert out.filter(pl.col("feature") == "x")["psi"][0] > 0.5


def test_missing_feature_is_named() -> None:
    import pytest

    with pytest.raises(ValueError, match="'gone'"):
        feature_psi(pl.DataFrame({"x": [1.0]}), {"gone": {"edges": [0, 1], "proportions": [1, 0]}})


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=1, max_size=60),
    st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=1, max_size=60),
    st.integers(1, 12),
)
def test_proportions_sum_to_one_and_psi_is_non_negative(train, score, bins) -> None:
    stats = feature_distribution(pl.Series(train, dtype=pl.Float64), bins)
    assert math.isclose(sum(stats["proportions"]), 1.0)
    actual = bin_proportions(pl.Series(score, dtype=pl.Float64), stats["edges"])
    assert math.isclose(actual.sum(), 1.0)
    assert psi(stats["proportions"], actual) >= 0.0
    assert psi(stats["proportions"], stats["proportions"]) == 0.0


def test_features_that_grow_with_time_are_reported_not_warned() -> None:
    from datetime import date, timedelta

    import numpy as np

    from scoring.drift import feature_psi, training_distributions

    rng = np.random.default_rng(0)
    cut = [date(2026, 1, 5) + timedelta(days=7 * k) for k in range(10)]
    n = 200
    rows = pl.DataFrame(
        {
            "cutoff": pl.Series([c for c in cut for _ in range(n)], dtype=pl.Date),
            "tenure": np.concatenate([rng.normal(30 + 7 * k, 5, n) for k in range(10)]),  # grows
            "usage": rng.normal(10, 2, 10 * n),  # stable
        }
    )
    stats = training_distributions(rows, ["tenure", "usage"], bins=10)
    assert stats["tenure"]["trend_psi"] > 1.0 and stats["usage"]["trend_psi"] < 0.1
    later = pl.DataFrame({"tenure": rng.normal(130, 5, n), "usage": rng.normal(14, 2, n)})
    out = feature_psi(later, stats, warn=0.2)
    got = {r["feature"]: (r["grows_with_time"], r["drifted"]) for r in out.iter_rows(named=True)}
    assert got["tenure"] == (True, False)  # moved as it always does: no warning
    assert got["usage"] == (False, True)  # a real shift: warned
