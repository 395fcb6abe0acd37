"""Benchmarks of the symbolic core (issue 2). Prints ratios measured in one run; asserts nothing.

    python bench/bench_core.py

1. cold ``boundcalc bound ... --json`` against ``python -c "import sympy"`` (medians of 5 runs);
2. a composed bound (mix closed form, power learner) on 10^6 parameter points: lambdified and
   vectorised with numpy against per-point sympy evaluation (timed on 200 points, per point);
3. a warm ``solve`` (n-real, mix, K = 10, power learner): median of 30 calls.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def median_wall(cmd, runs=5):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cold_start():
    sympy_t = median_wall([sys.executable, "-c", "import sympy"])
    bound_t = median_wall([sys.executable, "-m", "boundcalc.cli.main", "bound", "--scheme", "mix",
                           "--generations", "10", "--n-real", "1000", "--learner", "power",
                           "--C", "1", "--alpha", "0.25", "--json"])
    print(f"cold start: import sympy {sympy_t:.3f} s, boundcalc bound --json {bound_t:.3f} s, "
          f"ratio {bound_t / sympy_t:.2f} (target <= 2)")


def vectorised():
    import numpy as np
    import sympy as sp

    from boundcalc.theory import notation as S
    from boundcalc.bounds.compose import closed_form
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.model.schemes import make_scheme

    cf = closed_form(make_scheme("mix", 1000, 3000), PowerLaw(1, 0.25), 10)
    names = sorted(cf.values, key=lambda s: s.name)
    f = sp.lambdify(names, cf.expr, modules="numpy")
    rng = np.random.default_rng(0)
    n = 10 ** 6
    lam = rng.uniform(0.05, 1, n)
    N = rng.uniform(100, 1e6, n)
    values = {S.C: 1.0, S.K: 10, S.N: N, S.alpha: 0.25, S.lam: lam, S.n_real: lam * N}
    t0 = time.perf_counter()
    out = f(*[values[s] for s in names])
    vec_t = time.perf_counter() - t0
    m = 200
    t0 = time.perf_counter()
    for k in range(m):
        point = {s: (v[k] if isinstance(v, np.ndarray) else v) for s, v in values.items()}
        float(cf.expr.subs(point).evalf())
    per_point = (time.perf_counter() - t0) / m
    print(f"10^6 points: vectorised {vec_t:.3f} s; per-point sympy {per_point * 1e3:.2f} ms/point "
          f"-> {per_point * n:.0f} s for 10^6; speed-up {per_point * n / vec_t:.0f}x (target >= 1000x); "
          f"checksum {float(np.mean(out)):.6f}")


def warm_solve():
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.bounds.solve import solve
    learner = PowerLaw(1, 0.25)
    solve("n-real", 0.1, learner, scheme="mix", generations=10, n_synth=1000)
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        r = solve("n-real", 0.1, learner, scheme="mix", generations=10, n_synth=1000)
        times.append(time.perf_counter() - t0)
    print(f"warm solve (n-real = {r.value}): median {statistics.median(times) * 1e3:.1f} ms (target < 20 ms)")


if __name__ == "__main__":
    cold_start()
    vectorised()
    warm_solve()
