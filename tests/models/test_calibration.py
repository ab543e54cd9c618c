"""Calibrators map raw scores into [0, 1], monotonically."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.calibration import fit_calibrator, fit_isotonic, fit_sigmoid
from models.router import Calibrator


def test_isotonic_knots_exact() -> None:
    cal = fit_isotonic(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0, 1, 0, 1]), tie_break=0.0)
    assert cal.kind == "isotonic"
    assert cal.x == [0.0, 1.0, 2.0, 3.0]
    assert cal.y == [0.0, 0.5, 0.5, 1.0]
    np.testing.assert_allclose(cal(np.array([-5.0, 0.5, 2.5, 9.0])), [0.0, 0.25, 0.75, 1.0])


def test_isotonic_tie_break_keeps_the_order_and_moves_little() -> None:
    raw = np.array([0.0, 1.0, 2.0, 3.0])
    cal = fit_isotonic(raw, np.array([0, 1, 0, 1]), tie_break=0.1)
    # y' = 0.9 * y + 0.1 * x / 3
    np.testing.assert_allclose(cal.y, [0.0, 0.45 + 0.1 / 3, 0.45 + 0.2 / 3, 1.0])
    grid = np.linspace(0.0, 3.0, 31)
    assert (np.diff(cal(grid)) > 0).all()  # no ties inside the knot range
    exact = fit_isotonic(raw, np.array([0, 1, 0, 1]), tie_break=0.0)
    assert np.abs(cal(grid) - exact(grid)).max() <= 0.1 + 1e-12


def test_sigmoid_recovers_platt_parameters() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(scale=2.0, size=20000)
    y = (rng.random(raw.size) < 1 / (1 + np.exp(-(0.5 * raw - 1.0)))).astype(float)
    cal = fit_sigmoid(raw, y)
    assert cal.a == pytest.approx(0.5, abs=0.05)
    assert cal.b == pytest.approx(-1.0, abs=0.07)


def test_sigmoid_stays_finite_on_separable_data() -> None:
    cal = fit_sigmoid(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
    assert np.isfinite([cal.a, cal.b]).all() and cal.a > 0
    p = cal(np.array([-2.0, 2.0]))
    assert 0 < p[0] < 0.5 < p[1] < 1


@settings(max_examples=60, deadline=None)
@given(
    raw=st.lists(st.floats(-20, 20), min_size=2, max_size=60),
    bits=st.lists(st.integers(0, 1), min_size=60, max_size=60),
    kind=st.sampled_from(["isotonic", "sigmoid", "none"]),
)
def test_calibration_maps_into_unit_interval_monotonically(raw, bits, kind) -> None:
    raw = np.array(raw)
    y = np.array(bits[: raw.size], dtype=float)
    cal = fit_calibrator(raw, y, kind)
    grid = np.linspace(-40, 40, 401)
    p = cal(grid)
    assert ((p >= 0) & (p <= 1)).all()
    assert (np.diff(p) >= -1e-12).all()
    # the calibrator survives its JSON form
    np.testing.assert_array_equal(Calibrator.from_dict(cal.to_dict())(grid), p)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="'beta' is not a valid Calibration"):
        fit_calibrator(np.array([0.0]), np.array([1]), "beta")
    with pytest.raises(ValueError, match="labels must be 0/1"):
        fit_isotonic(np.array([0.0, 1.0]), np.array([0, 3]))
    with pytest.raises(ValueError, match="at least one validation row"):
        fit_sigmoid(np.array([]), np.array([]))
