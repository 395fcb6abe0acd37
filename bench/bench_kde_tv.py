"""The proven TV bound (:func:`boundcalc.bounds.kde_tv.tv_upper_bound`) against the Simpson rule it replaced.

    python bench/bench_kde_tv.py

The peer is the former rule ``0.5 * Simpson(|r - p0|) * (1 + 1e-4)`` on the same grid values.  Both take the
laws' grid values as given; for scale, the cost of those values (one product of the weight rows with the
components' densities on the grid) is printed beside them.  Two shapes: one law (the direct path and the
``mix`` carry call the bound once per distinct law) and a chunk of 256 laws of ~150 components each on a
grid of ~2500 nodes (an ``accumulate`` chunk).  Min and median over 7 repeats; the ratio bound / Simpson.
Asserts nothing.
"""

from __future__ import annotations

import statistics
import timeit

import numpy as np

from boundcalc.bounds.kde_expected import _quadrature, _simpson
from boundcalc.bounds.kde_tv import MixtureTable, tv_upper_bound
from boundcalc.model.targets import SQRT2PI, bimodal


def chunk(rows: int, widths: int, h2: float = 0.149 ** 2, seed: int = 3):
    """Laws r = sum_k pi(k) p0 * phi_(k h^2) over a window of ``widths`` values of k, random pi; the table, x, values."""
    p0 = bimodal()
    rng = np.random.default_rng(seed)
    k_max = 200
    x = _quadrature(p0, k_max * h2).axes[0]
    ks = np.arange(k_max + 1)
    means = np.repeat(p0.means[:, 0][None, :], ks.size, axis=0).ravel()
    scales = np.sqrt(p0.scales[:, 0][None, :] ** 2 + ks[:, None] * h2).ravel()
    weights = np.zeros((rows, means.size))
    for r in range(rows):
        k0 = int(rng.integers(0, k_max + 1 - widths))
        pi = rng.dirichlet(np.ones(widths))
        weights[r].reshape(ks.size, 2)[k0:k0 + widths] = pi[:, None] * p0.weights[None, :]
    target = np.zeros(means.size)
    target[:2] = p0.weights
    table = MixtureTable(means, scales, weights, target)
    return table, x


def densities(table: MixtureTable, x):
    z = (x[None, :] - table.means[:, None]) / table.scales[:, None]
    basis = np.exp(-0.5 * z * z) / (table.scales[:, None] * SQRT2PI)
    return table.weights @ basis, table.target @ basis


def timed(fn, number, repeat=7):
    fn()
    runs = [t / number * 1e3 for t in timeit.repeat(fn, number=number, repeat=repeat)]
    return min(runs), statistics.median(runs)


def main():
    print(f"{'shape':40s} {'values ms':>18s} {'Simpson ms':>18s} {'bound ms':>18s} {'bound/Simpson':>14s}")
    for name, rows, widths, number in (("one law, 150 components", 1, 75, 20),
                                       ("256 laws x 150 components", 256, 75, 1)):
        table, x = chunk(rows, widths)
        values, p0 = densities(table, x)
        t_val = timed(lambda: densities(table, x), number)
        t_simpson = timed(lambda: 0.5 * _simpson(np.abs(values - p0), x) * (1 + 1e-4), number)
        t_bound = timed(lambda: tv_upper_bound(x, values, p0, table), number)
        label = f"{name}, {x.size} nodes"
        print(f"{label:40s} {t_val[0]:8.2f}/{t_val[1]:8.2f} {t_simpson[0]:8.2f}/{t_simpson[1]:8.2f} "
              f"{t_bound[0]:8.2f}/{t_bound[1]:8.2f} {t_bound[0] / t_simpson[0]:14.1f}")
        bound = tv_upper_bound(x, values, p0, table)
        simpson = 0.5 * _simpson(np.abs(values - p0), x)
        print(f"{'':40s} bound / Simpson - 1: min {np.min(bound / simpson - 1):.2e}, max {np.max(bound / simpson - 1):.2e}")


if __name__ == "__main__":
    main()
