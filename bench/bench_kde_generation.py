"""Benchmark: one generation of a 1-D self-consuming KDE loop with n = 1e5 samples on a
4096-point grid (issue 4: target at most 0.2 s).

Prints times measured in this one run and ratios between them; asserts nothing:

* ``generation``: sample n points from the previous KDE + fit + density on the grid (linear
  binning + FFT) + TV(p_i, p0) and TV(p_i, q_i) by quadrature;
* ``validator generation``: the same inside ``run_seed`` (adds the K2 integral of q_i, one more
  FFT convolution, and the bound terms), per generation of a 3-generation run;
* ``fft``: one FFT convolution of a 4096-point grid function with the sampled Gaussian kernel;
* ``direct``: the exact kernel sum the grid density replaces, n * 4096 kernel evaluations,
  timed on a subsample and scaled to n (it is linear in n).

Run: ``python bench/bench_kde_generation.py [--n 100000] [--grid 4096] [--repeat 15]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from boundcalc.model.targets import bimodal
from boundcalc.validate import grid as G
from boundcalc.validate import kde as V


def best_time(fn, repeat):
    """Median wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--grid", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    n, size, repeat = args.n, args.grid, args.repeat
    target = bimodal()
    h = 0.1
    grid = G.grid_for_target(target, size, extra_variance=5 * h * h)
    p0 = G.density_on_grid(target, grid)
    rng = np.random.default_rng(0)
    previous = V.GaussianKDE(h).fit(target.sample(rng, n))
    q, _ = previous.density(grid)

    def generation():
        model = V.GaussianKDE(h).fit(previous.sample(rng, n))
        dens, _ = model.density(grid)
        return G.tv_on_grid(dens, p0, grid), G.tv_on_grid(dens, q, grid)

    t_gen = best_time(generation, repeat)
    t_fft = best_time(lambda: G.gaussian_smooth(q, grid, h), repeat)

    config = V.KDEValidationConfig(scheme="replace", generations=3, n_real=n, bandwidth=h, seeds=1,
                                   grid_size=size).checked()
    ctx = V.build_context(config)
    t_validator = best_time(lambda: V.run_seed(ctx, 0), max(3, repeat // 5)) / config.generations

    sub = min(n, 2000)
    data, points = previous.samples_[:sub], grid.axes[0]

    def direct():
        diff = points[:, None] - data[None, :]
        return np.exp(-0.5 * (diff / h) ** 2).sum(axis=1)

    t_direct = best_time(direct, 3) * n / sub
    evaluations = n * size
    print(f"one 1-D KDE generation, n = {n}, grid = {size} points, h = {h} (median of {repeat})")
    print(f"  generation (sample + fit + grid density + 2 TVs): {t_gen * 1e3:8.2f} ms   "
          f"target <= 200 ms: ratio to target {t_gen / 0.2:.3f}")
    print(f"  validator generation (adds K2 integral, bound): {t_validator * 1e3:8.2f} ms   "
          f"ratio to target {t_validator / 0.2:.3f}")
    print(f"  one FFT convolution of the grid:                 {t_fft * 1e3:8.3f} ms")
    print(f"  direct kernel sum, {evaluations:.3g} evaluations (scaled from {sub} samples): {t_direct:8.2f} s")
    print(f"  ratio generation / one FFT convolution:           {t_gen / t_fft:8.1f}")
    print(f"  ratio direct kernel sum / one FFT convolution:    {t_direct / t_fft:8.0f}"
          f"   (the FFT replaces {evaluations:.3g} density evaluations)")
    print(f"  ratio direct kernel sum / generation:             {t_direct / t_gen:8.0f}")
    print(f"  FFT time per replaced evaluation: {t_fft / evaluations * 1e12:.3f} ps; "
          f"direct time per evaluation: {t_direct / evaluations * 1e9:.3f} ns")


if __name__ == "__main__":
    main()
