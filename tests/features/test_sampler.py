"""Sampler: memoised flat-cell sampling equals the plain 2-D gather at ``t - offset``."""

from __future__ import annotations

import numpy as np
import pytest

from features.windows import Grid, Sampler


def test_sampler_matches_the_2d_gather_and_reuses_cells():
    grid = Grid.of([100, 107, 114], [0, 7])  # boundaries 93, 100, 107, 114
    values = np.arange(3 * grid.m, dtype=np.int64).reshape(3, grid.m) * 10
    acc = np.array([0, 2, 1, 2])
    t = np.array([100, 114, 107, 100], dtype=np.int32)
    at = Sampler(acc, t)
    assert at(values, grid, 0).tolist() == [10, 110, 60, 90]
    assert at(values, grid, 7).tolist() == [0, 100, 50, 80]
    for o in (0, 7):
        np.testing.assert_array_equal(at(values * 2, grid, o), (values * 2)[acc, grid.index(t - o)])
    assert len(at._flat) == 2  # one cell index per (boundary set, offset)
    assert at.window(values, grid, 7).tolist() == [10, 10, 10, 10]
    np.testing.assert_array_equal(at.grid([0, 7]).bounds, grid.bounds)


def test_sampler_rejects_wrong_grid_shape_and_unknown_boundary():
    grid = Grid.of([100], [0])
    at = Sampler(np.array([0]), np.array([100], dtype=np.int32))
    with pytest.raises(ValueError, match="boundary columns"):
        at(np.zeros((1, 2), np.int64), grid)
    with pytest.raises(ValueError, match="not in the grid"):
        at(np.zeros((1, 1), np.int64), grid, 3)
