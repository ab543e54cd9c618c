"""TreeSHAP drivers: exact on a hand-made tree, additive, backend-agnostic, chunk-invariant."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from scoring.explain import BACKENDS, booster_contributions, explain, family_contributions
from tests.scoring.conftest import FEATURES, stump_model


def test_stump_contributions_are_exact_for_every_backend() -> None:
    model = stump_model()
    frame = pl.DataFrame({"a": [0.0, 1.0, None], "b": [1.0, 0.0, 0.3]})
    for backend in BACKENDS:
        contrib, base = explain(model, frame, backend)
        # raw = -1 (left, NaN goes left) or 2; base = (30 * -1 + 10 * 2) / 40 = -0.25
        np.testing.assert_allclose(base, [-0.25, -0.25, -0.25], atol=1e-12)
        np.testing.assert_allclose(contrib, [[-0.75, 0.0], [2.25, 0.0], [-0.75, 0.0]], atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_contributions_add_up_to_raw_score_for_every_account(model, frame, backend) -> None:
    contrib, base = explain(model, frame, backend, chunk_rows=64)
    raw = model.predict_raw(frame)
    np.testing.assert_allclose(contrib.sum(axis=1) + base, raw, atol=1e-4)
    assert contrib.shape == (frame.height, len(FEATURES))


@pytest.mark.parametrize("backend", ["woodelf", "shap"])
def test_backends_agree_with_lightgbm_pred_contrib(model, frame, backend) -> None:
    ref, ref_base = explain(model, frame, "pred_contrib")
    got, got_base = explain(model, frame, backend)
    assert np.abs(got - ref).max() <= 1e-4
    np.testing.assert_array_equal(got_base, ref_base)


def test_chunk_size_and_threads_never_change_an_explanation(model, frame) -> None:
    whole, base = explain(model, frame, "woodelf", chunk_rows=10_000)
    for chunk, jobs in ((1, 1), (7, 2), (100, 2)):
        c, b = explain(model, frame, "woodelf", chunk_rows=chunk, n_jobs=jobs)
        np.testing.assert_array_equal(c, whole)
        np.testing.assert_array_equal(b, base)


def test_rows_use_their_segment_model(model, frame) -> None:
    smb = frame.filter(pl.col("size_tier") == "smb").head(5)
    contrib, base = explain(model, smb, "pred_contrib")
    own, own_base = booster_contributions(model.models["smb"].booster, model.to_matrix(smb))
    np.testing.assert_array_equal(contrib, own)
    np.testing.assert_array_equal(base, own_base)


def test_family_sums_keep_additivity() -> None:
    contrib = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    names, sums = family_contributions(contrib, ["x", "y", "z"], {"x": "activity", "y": "activity"})
    assert names == ["activity", "other"]
    np.testing.assert_array_equal(sums, [[-1.0, 0.5], [3.0, -1.0]])


def test_unknown_backend_is_a_config_error(model, frame) -> None:
    from core.errors import ConfigValueError

    with pytest.raises(ConfigValueError, match=r"score\.explainer='treeshap2'"):
        explain(model, frame, "treeshap2")
