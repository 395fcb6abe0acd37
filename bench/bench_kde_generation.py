"""Benchmark: one generation of a 1-D self-consuming KDE loop (sample n points from the previous
KDE, fit, density on a 4096-point grid) against the tools a user would pick instead.

Peers, timed side by side in this one run (each repetition runs every contender once, in turn, so
all see the same machine load; min and median over the repetitions):

* ``KDEpy FFTKDE``: the usual sampler ``x[rng.integers(n, size=n)] + h * rng.standard_normal(n)``,
  then ``FFTKDE(bw=h).fit(x).evaluate(grid)`` (linear binning in Cython + FFT convolution);
  optional: skipped with a message when KDEpy is not installed (``pip install KDEpy``);
* ``scipy gaussian_kde``: the same sampler, then ``gaussian_kde(x, bw_method=h / sd(x))(grid)``,
  the exact kernel sum; timed at the smallest n only (it is O(n * grid)).

``boundcalc`` is ``GaussianKDE(h).fit(previous.sample(rng, n)).density(grid)``.  Goal: at most
KDEpy's time at every n from 1e4 to 1e6.  The densities of boundcalc and KDEpy on the same
samples are compared too (they implement the same estimator).

Run: ``python bench/bench_kde_generation.py [--sizes 10000,100000,1000000] [--grid 4096] [--repeat 15]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from boundcalc.model.targets import bimodal
from boundcalc.validate import grid as G
from boundcalc.validate import kde as V


def load():
    return "load average %.2f %.2f %.2f (1, 5, 15 min) on %d cores" % (*os.getloadavg(), os.cpu_count())


def side_by_side(contenders, repeat):
    """{name: [seconds]} with every contender run once per repetition, in turn."""
    times = {name: [] for name in contenders}
    for fn in contenders.values():  # warm up
        fn()
    for _ in range(repeat):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--grid", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    try:
        from KDEpy import FFTKDE
    except ImportError:
        FFTKDE = None
        print("KDEpy is not installed: its column is skipped (pip install KDEpy)")
    from scipy.stats import gaussian_kde

    target, h = bimodal(), 0.1
    grid = G.grid_for_target(target, args.grid, extra_variance=5 * h * h)
    points = grid.axes[0]
    print(f"one 1-D KDE generation: sample n from the previous KDE + fit + density on {args.grid} grid points, "
          f"h = {h}; {args.repeat} repetitions; {load()}")
    print(f"{'n':>9s} {'contender':18s} {'min ms':>9s} {'median ms':>10s} {'ratio to boundcalc (min, median)':>34s}")
    for n in sizes:
        rng = np.random.default_rng(0)
        previous = V.GaussianKDE(h).fit(target.sample(rng, n))
        data = previous.samples_

        def ours():
            return V.GaussianKDE(h).fit(previous.sample(rng, n)).density(grid)[0]

        def usual_sample():
            return data[rng.integers(n, size=n)] + h * rng.standard_normal(n)

        contenders = {"boundcalc": ours}
        if FFTKDE is not None:
            contenders["KDEpy FFTKDE"] = lambda: FFTKDE(bw=h).fit(usual_sample()).evaluate(points)
        if n <= 10 ** 4:  # O(n * grid): only at the smallest size
            contenders["scipy gaussian_kde"] = lambda: (lambda x: gaussian_kde(x, bw_method=h / x.std(ddof=1))(points))(usual_sample())
        times = side_by_side(contenders, args.repeat if n < 10 ** 6 else max(5, args.repeat // 2))
        base_min, base_med = min(times["boundcalc"]), statistics.median(times["boundcalc"])
        for name, ts in times.items():
            t_min, t_med = min(ts), statistics.median(ts)
            print(f"{n:9d} {name:18s} {t_min * 1e3:9.2f} {t_med * 1e3:10.2f} {t_min / base_min:17.2f} {t_med / base_med:8.2f}")
        if FFTKDE is not None:
            x = usual_sample()
            parts = side_by_side({"boundcalc": lambda: V.GaussianKDE(h).fit(x).density(grid),
                                  "KDEpy": lambda: FFTKDE(bw=h).fit(x).evaluate(points)}, args.repeat)
            print(f"{'':9s} fit + density only, on the same samples (the sampler is shared): boundcalc min "
                  f"{min(parts['boundcalc']) * 1e3:.2f} ms, median {statistics.median(parts['boundcalc']) * 1e3:.2f} ms; "
                  f"KDEpy min {min(parts['KDEpy']) * 1e3:.2f} ms, median {statistics.median(parts['KDEpy']) * 1e3:.2f} ms; "
                  f"ratio of medians {statistics.median(parts['KDEpy']) / statistics.median(parts['boundcalc']):.2f}")
            ref = FFTKDE(bw=h).fit(x).evaluate(points)
            mine = V.GaussianKDE(h).fit(x).density(grid)[0]
            print(f"{'':9s} same samples: max |boundcalc - KDEpy| = {np.max(np.abs(mine - ref)):.1e} "
                  f"(peak {ref.max():.3f})")
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
