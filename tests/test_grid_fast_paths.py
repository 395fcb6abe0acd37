"""The fast paths of validate/grid.py (1-D binning in cache-sized chunks, FFT convolution by numpy
real FFTs with a cached kernel spectrum, the one-gather KDE sampler) against plain second
implementations written here: a per-sample loop, a direct convolution sum, the textbook sampler."""

from __future__ import annotations

import numpy as np
import pytest

from boundcalc.model.targets import bimodal
from boundcalc.validate import grid as G
from boundcalc.validate.generators import GaussianKDE


def _binning_by_loop(x, grid):
    """Linear binning one sample at a time, in sample order (the definition)."""
    size, lower, dx = grid.shape[0], grid.lower[0], grid.spacing[0]
    low, high, inside = np.zeros(size), np.zeros(size), 0
    for value in x:
        u = (value - lower) / dx
        if not (u >= 0 and u <= size - 1):
            continue
        inside += 1
        base = min(int(np.floor(u)), size - 2)
        frac = u - base
        low[base] += 1 - frac
        high[base] += frac
    low[1:] += high[:-1]
    return low / len(x), 1.0 - inside / len(x)


@pytest.mark.parametrize("n", [1, 7, 5000, 2 * G.BINNING_CHUNK + 3])
def test_1d_binning_is_the_per_sample_sum_bit_for_bit(n):
    grid = G.make_grid(-4.0, 4.0, 64)
    x = np.random.default_rng(n).normal(0.0, 1.6, n)
    if n > 3:  # the two ends, a NaN and an infinity
        x[0], x[1], x[2], x[3] = 4.0, -4.0, np.nan, -np.inf
    binned = G.linear_binning(x, grid)
    weights, outside = _binning_by_loop(x, grid)
    assert np.array_equal(binned.weights, weights)
    assert binned.outside_fraction == outside


@pytest.mark.parametrize("sd", [0.13, 0.5, 3.0])
def test_gaussian_smooth_is_the_direct_convolution(sd):
    grid = G.make_grid(-5.0, 5.0, 200)
    rng = np.random.default_rng(1)
    values = rng.random(200)
    dx = grid.spacing[0]
    half = int(min(199, np.ceil(G.KERNEL_HALF_WIDTH_SD * sd / dx)))
    kernel = G.gaussian_kernel_weights(sd, dx, half)
    direct = np.array([sum(values[j] * kernel[i - j + half] for j in range(200) if 0 <= i - j + half < kernel.size)
                       for i in range(200)])
    smoothed = G.gaussian_smooth(values, grid, sd)
    assert np.allclose(smoothed, direct, rtol=0, atol=1e-14 * np.abs(direct).max())
    assert np.array_equal(smoothed, G.gaussian_smooth(values, grid, sd))  # cached spectrum: same bits


def test_gaussian_smooth_2d_is_separable_direct_convolution():
    grid = G.make_grid([-3.0, -2.0], [3.0, 2.0], 32)
    values = np.random.default_rng(2).random((32, 32))
    sd = 0.4
    out = G.gaussian_smooth(values, grid, sd)
    rows = np.stack([G.gaussian_smooth(r, G.make_grid(-3.0, 3.0, 32), sd) for r in values.T], axis=1)  # along x
    both = np.stack([G.gaussian_smooth(c, G.make_grid(-2.0, 2.0, 32), sd) for c in rows])  # then along y
    assert np.allclose(out, both, rtol=0, atol=1e-14)


def test_sampler_is_the_textbook_sampler_with_the_same_stream():
    x = bimodal().sample(np.random.default_rng(3), 1000)
    model = GaussianKDE(0.2).fit(x)
    got = model.sample(np.random.default_rng(4), 5000)
    rng = np.random.default_rng(4)
    index = rng.integers(1000, size=5000)
    expected = x[index] + 0.2 * rng.standard_normal(5000)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("case", ["ok", "equal", "nan", "inf", "equal2d", "ok2d"])
def test_data_status_in_blocks_matches_its_definition(case):
    from boundcalc.validate.protocol import _STATUS_BLOCK, data_status as _data_status
    n = 2 * _STATUS_BLOCK + 5
    x = {"ok": np.r_[np.ones(n - 1), 2.0], "equal": np.full(n, 3.5), "nan": np.r_[np.ones(n - 1), np.nan],
         "inf": np.r_[np.ones(_STATUS_BLOCK + 1), -np.inf, np.ones(3)], "equal2d": np.ones((n, 2)),
         "ok2d": np.c_[np.ones(n), np.r_[np.zeros(n - 1), 1.0]]}[case]
    finite = bool(np.all(np.isfinite(x)))
    expected = "non_finite" if not finite else ("zero_variance" if np.all(x == x.reshape(n, -1)[0]) else "ok")
    assert _data_status(x) == expected


@pytest.mark.parametrize("size", [1, 3, 2 * (1 << 14) + 7])
def test_sampler_in_blocks_is_the_textbook_sampler_in_2d(size):
    x = np.random.default_rng(5).normal(size=(300, 2))
    got = GaussianKDE(0.3).fit(x).sample(np.random.default_rng(6), size)
    rng = np.random.default_rng(6)
    index = rng.integers(300, size=size)
    assert np.array_equal(got, x[index] + 0.3 * rng.standard_normal((size, 2)))
