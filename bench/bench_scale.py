"""Scale of the bound calculator: cost in K, grid path, warm solve, phase (issues 11 and 13).

Prints, for each learner (power, kde, diffusion; scheme mix, n_real = n_synth = 1000), the time to
compose K = 10, 1e3, 1e5 generations and its ratio to K = 10; the grid path; a warm
``solve --for n-real`` (power) against the named peer, brentq on the lambdified closed form (S3)
of the same bound; and ``phase --learner kde``.  Min and median over repetitions; the machine's
load average is printed first (two cores shared with other jobs: read ratios, not absolutes).

    python bench/bench_scale.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import time


def timed(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    import numpy as np
    import sympy as sp

    import boundcalc as bc
    from boundcalc._numeric import brentq
    from boundcalc.bounds.compose import closed_form, compose_bound
    from boundcalc.bounds.learners import KDE, Diffusion, PowerLaw
    from boundcalc.bounds.solve import solve
    from boundcalc.model.schemes import Mix

    print(f"load average (1, 5, 15 min): {os.getloadavg()}; cpus: {os.cpu_count()}")
    learners = {"power": PowerLaw(1, 0.25), "kde": KDE(target="bimodal"), "diffusion": Diffusion()}
    sizes = (10, 1000, 10_000) if quick else (10, 1000, 100_000)
    print("\n== cost in K (compose_bound, scheme mix, n_real = n_synth = 1000) ==")
    print(f"{'learner':10s} {'K':>8s} {'min s':>9s} {'median s':>9s} {'ratio to K=10':>14s} {'a_K':>12s}")
    for name, learner in learners.items():
        compose_bound(Mix(1000, 1000), learner, 10)  # warm: compiled evaluators, K3 bandwidth
        base = None
        for K in sizes:
            reps = 5 if K <= 1000 else 1
            out = {}
            lo, med = timed(lambda: out.setdefault("r", compose_bound(Mix(1000, 1000), learner, K)), reps)
            base = base or lo
            print(f"{name:10s} {K:8d} {lo:9.4f} {med:9.4f} {lo / base:14.1f} {float(out['r'].bound[-1]):12.6g}",
                  flush=True)

    print("\n== grid path (bc.bound over broadcast integer arrays) ==")
    n = np.round(np.logspace(2, 6, 1000)).astype(int)
    try:
        lo, med = timed(lambda: bc.bound(bc.Mix(n_real=n[:, None], n_synth=n[None, :]), bc.PowerLaw(C=1, alpha=0.25)), 3)
        print(f"power 1e6 points: min {lo:.3f} s, median {med:.3f} s")
    except bc.BoundcalcError as err:
        print(f"power 1e6 points: not available ({err})")

    print("\n== warm solve --for n-real (power C = 1, alpha = 0.25, mix, K = 10, target 1e-3) ==")
    learner = PowerLaw(1, 0.25)
    run = lambda: solve("n-real", 1e-3, learner, scheme="mix", generations=10, n_synth=1000)  # noqa: E731
    run()
    lo, med = timed(run, 20)
    print(f"boundcalc solve (verified in mpmath): min {lo * 1e3:.3f} ms, median {med * 1e3:.3f} ms -> {run().value}")
    form = closed_form(Mix(1000, 1000), learner, 10)
    # the peer: the closed form S3 lambdified once in n_real, then brentq on a float
    expr = form.expr.subs({s: v for s, v in form.values.items() if s.name not in ("n_real", "N", "lambda")})
    nr = [s for s in expr.free_symbols if s.name == "n_real"]
    N = [s for s in expr.free_symbols if s.name == "N"]
    lam = [s for s in expr.free_symbols if s.name == "lambda"]
    x = sp.Symbol("x", positive=True)
    sub = {}
    if nr:
        sub[nr[0]] = x
    if N:
        sub[N[0]] = x + 1000
    if lam:
        sub[lam[0]] = x / (x + 1000)
    f = sp.lambdify(x, expr.subs(sub) - 1e-3, "math")
    peer = lambda: brentq(f, 1.0, 1e18, xtol=0.5)  # noqa: E731
    lo2, med2 = timed(peer, 20)
    print(f"brentq on the lambdified closed form: min {lo2 * 1e3:.3f} ms, median {med2 * 1e3:.3f} ms -> {peer():.6g}")
    print(f"ratio boundcalc / peer (min): {lo / lo2:.1f}")

    print("\n== phase --learner kde (defaults) ==")
    from boundcalc.bounds.api import phase
    try:
        lo, med = timed(lambda: phase(learner=KDE(target="bimodal"), n_real=10_000), 1 if quick else 3)
        print(f"phase kde: min {lo:.3f} s, median {med:.3f} s")
    except Exception as err:  # noqa: BLE001 - a benchmark reports, it does not stop
        print(f"phase kde: {type(err).__name__}: {err}")


if __name__ == "__main__":
    main()
