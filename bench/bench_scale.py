"""Scale of the bound calculator: cost in K, grid path, warm solve, phase (issues 11 and 13).

Prints, for each learner (power, kde, diffusion, table) and scheme (mix, replace, accumulate, mix with
reused real data, mix drawn iid; n_real = n_synth = 1000; a scheme a learner's lemmas do not cover is
printed as refused), the time to compose K = 10, 1e3, 1e5 generations (and 1e6
for power, table and diffusion; for the KDE learner 100 and 200 under mix and accumulate, whose loops go on in O(K)
past 64 generations (mix with fresh or reused real data, accumulate in d = 1), 50 for the other schemes, and 1e5
under replace, answered where its bound provably reaches 1) and its ratio to K = 10 (a run predicted past a budget, or refused by a size guard,
is said so);
the solvers and phase at K up to 1e6; the grid path; a warm
``solve --for n-real`` (power) against the named peer, brentq on the lambdified closed form (S3)
of the same bound; and ``phase --learner kde``.  Min and median over repetitions; the machine's
load average is printed first (two cores shared with other jobs: read ratios, not absolutes).

A schedule appears twice: ``schedule`` with per-generation lists (K - 1 real fractions cycling through 0.5,
0.3, 0.7 and sizes through 1000, 2000, 3000; built for each K) and ``schedule 1`` (one fraction 0.5, one size
2000: the steady loop); accumulate and the per-generation schedule go on in doubles past 4096 generations
for the power and table learners (``derivations/cost-in-K.md`` section 8).

    python bench/bench_scale.py [--quick] [--only power,table]

``--only`` keeps the cost-in-K rows of the learners named (comma-separated) and the sections that use them
(the searches and the grid path use power, the last section kde).
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
    only = None
    if "--only" in argv:
        position = argv.index("--only")
        if position + 1 >= len(argv):
            sys.exit("bench_scale: --only needs a comma-separated list of learners (power, kde, diffusion, table)")
        only = set(argv[position + 1].split(","))
        unknown = only - {"power", "kde", "diffusion", "table"}
        if unknown:
            sys.exit(f"bench_scale: --only: unknown learner(s) {', '.join(sorted(unknown))}; valid: power, kde, "
                     "diffusion, table")
    import numpy as np
    import sympy as sp

    import boundcalc as bc
    from boundcalc._numeric import brentq
    from boundcalc.bounds.compose import closed_form, compose_bound
    from boundcalc.bounds.learners import KDE, Diffusion, PowerLaw
    from boundcalc.bounds.solve import solve
    from boundcalc.model.schemes import Mix

    print(f"load average (1, 5, 15 min): {os.getloadavg()}; cpus: {os.cpu_count()}")
    from boundcalc.bounds.learners import Table
    from boundcalc.model.schemes import make_scheme
    learners = {"power": PowerLaw(1, 0.25), "kde": KDE(target="bimodal"), "diffusion": Diffusion(),
                "table": Table(((100, 0.3), (1000, 0.1), (10 ** 4, 0.03), (10 ** 9, 0.01)))}
    schemes = {"mix": dict(n_real=1000, n_synth=1000), "replace": dict(n_real=1000, n_synth=1000),
               "accumulate": dict(n_real=1000, n_synth=1000),
               "mix reused": dict(n_real=1000, n_synth=1000, real_data="reused"),
               "mix iid": dict(n_real=1000, n_synth=1000, draw="iid"),  # the diffusion learner's covered mix
               # per-generation lists of K - 1 values (built for each K), and the steady one-value schedule
               "schedule": lambda K: dict(n_real=1000, real_fractions=[(0.5, 0.3, 0.7)[i % 3] for i in range(K - 1)],
                                          sizes=[(1000, 2000, 3000)[i % 3] for i in range(K - 1)]),
               "schedule 1": dict(n_real=1000, real_fractions=[0.5], sizes=[2000])}
    if only is not None:
        learners = {k: v for k, v in learners.items() if k in only}
    sizes = (10, 1000, 10_000) if quick else (10, 1000, 100_000)
    #: a run predicted (from the previous K, cubic growth) to take longer than this is skipped, not run
    budget = 20.0 if quick else 60.0
    print("\n== cost in K (compose_bound, n_real = n_synth = 1000; ratio of the min to K = 10) ==")
    print(f"{'learner':10s} {'scheme':11s} {'K':>8s} {'min s':>9s} {'median s':>9s} {'ratio to K=10':>14s} {'a_K':>12s}")
    for name, learner in learners.items():
        for scheme_name, kw in schemes.items():
            scheme_at = lambda K, kw=kw, name=scheme_name.split()[0]: make_scheme(  # noqa: E731
                name, **(kw(K) if callable(kw) else kw))
            try:
                compose_bound(scheme_at(10), learner, 10)  # warm: compiled evaluators, K3 bandwidth
            except bc.BoundcalcError as err:  # a scheme this learner's lemmas do not cover
                print(f"{name:10s} {scheme_name:11s} {'':8s} {'refused':>9s} ({str(err)[:90]}...)", flush=True)
                continue
            base = previous = None
            ks = sizes + ((10 ** 6,) if name in ("power", "table", "diffusion") and not quick else ())
            # the KDE learner: the direct sums up to 64 generations, beyond them the O(K) carries of mix and
            # accumulate (bounds/kde_steady.py, bounds/kde_tables.py); replace
            # past 200 when its bound provably reaches 1 by then (n_synth = 1000: from generation 138)
            # (and a schedule of one fraction and one size, which is a fresh mix)
            steady_kde = name == "kde" and scheme_name in ("mix", "mix reused", "replace", "schedule 1", "accumulate")
            if name == "kde":
                ks = ((10, 100, 200) if scheme_name != "replace" else (10, 50)) + sizes[1:] if steady_kde else (10, 50, 1000)
                if scheme_name == "schedule":  # the carry past 200, up to its warm-up guard (fractions down to 0.3)
                    ks = (10, 50, 250, 1000)
                    steady_kde = True
            for K in ks:
                scheme = scheme_at(K)
                if previous is not None and previous[1] * K / previous[0] > budget and not steady_kde:
                    print(f"{name:10s} {scheme_name:11s} {K:8d} {'skipped':>9s} (predicted over {budget:g} s "
                          f"from K = {previous[0]}, linear growth)", flush=True)
                    continue
                reps = 5 if K <= 1000 and name != "kde" else (2 if name in ("power", "table", "diffusion") else 1)
                out = {}
                try:
                    lo, med = timed(lambda: out.__setitem__("r", compose_bound(scheme, learner, K, with_closed_form=False)),
                                    reps)
                except bc.BoundcalcError as err:
                    print(f"{name:10s} {scheme_name:11s} {K:8d} {'refused':>9s} ({str(err)[:90]}...)", flush=True)
                    continue
                base = base or lo
                previous = (K, lo)
                print(f"{name:10s} {scheme_name:11s} {K:8d} {lo:9.4f} {med:9.4f} {lo / base:14.1f} "
                      f"{float(out['r'].bound[-1]):12.6g}", flush=True)

    if only is not None and "power" not in only:
        return
    print("\n== searches at K = 1e6 (power C = 1, alpha = 0.25; O(K) time, O(1) memory per candidate; accumulate's "
          "float guide bisected, one vectorised O(K) pass per step) ==")
    from boundcalc.bounds.phase import phase_transition as phase_of
    runs = {
        "solve real-fraction (mix)": lambda K: solve("real-fraction", 0.1, PowerLaw(1, 0.25), scheme="mix",
                                                     generations=K, n_real=10_000),
        "solve n-real (mix)": lambda K: solve("n-real", 0.1, PowerLaw(1, 0.25), scheme="mix", generations=K,
                                              n_synth=1000),
        "solve n-synth (mix)": lambda K: solve("n-synth", 0.3, PowerLaw(1, 0.25), scheme="mix", generations=K,
                                               n_real=1000),
        "phase (generation I = K)": lambda K: phase_of(PowerLaw(1, 0.2), n_real=1000, generation=K),
        "solve n-real (accumulate)": lambda K: solve("n-real", 0.5, PowerLaw(1, 0.25), scheme="accumulate",
                                                     generations=K, n_synth=1000),
        "solve n-synth (accumulate)": lambda K: solve("n-synth", 0.6, PowerLaw(1, 0.25), scheme="accumulate",
                                                      generations=K, n_real=100),
        "solve n-real (replace)*": lambda K: solve("n-real", 0.05, PowerLaw(1, 0.5), scheme="replace",
                                                   generations=K, n_synth=10 ** 16),
        "solve n-real (replace, floor)": lambda K: solve("n-real", 0.5, PowerLaw(1, 0.25), scheme="replace",
                                                         generations=K, n_synth=1000),
        "solve n-synth (replace)": lambda K: solve("n-synth", 0.5, PowerLaw(1, 0.25), scheme="replace",
                                                   generations=K, n_real=100_000),
        "solve real-fraction (sched)": lambda K: solve("real-fraction", 0.5, PowerLaw(1, 0.25), scheme="schedule",
                                                       generations=K, n_real=1000, n_synth=1000),
        "solve generations (accum)": lambda K: solve("generations", 0.64, PowerLaw(1, 0.25), scheme="accumulate",
                                                     n_real=1000, n_synth=1000, max_generations=K),
        "solve generations (replace)*": lambda K: solve("generations", 0.9, PowerLaw(0.001, 0.5), scheme="replace",
                                                        n_real=1000, n_synth=10 ** 15, max_generations=K),
    }
    print("(* alpha = 0.5, C as written in bench/bench_scale.py; generations: K is --max-generations; real-fraction "
          "applies to mix and schedule only)")
    print(f"{'search':28s} {'K':>8s} {'min s':>9s} {'median s':>9s} {'ratio to K=10':>14s}")
    for label, run in runs.items():
        base = None
        for K in ((10, 1000, 10 ** 5) if quick else (10, 1000, 10 ** 5, 10 ** 6)):
            lo, med = timed(lambda: run(K), 3 if K <= 1000 else 2)
            base = base or lo
            print(f"{label:28s} {K:8d} {lo:9.4f} {med:9.4f} {lo / base:14.1f}", flush=True)

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

    if only is not None and "kde" not in only:
        return
    print("\n== phase --learner kde (defaults) ==")
    from boundcalc.bounds.api import phase
    try:
        lo, med = timed(lambda: phase(learner=KDE(target="bimodal"), n_real=10_000), 1 if quick else 3)
        print(f"phase kde: min {lo:.3f} s, median {med:.3f} s")
    except Exception as err:  # noqa: BLE001 - a benchmark reports, it does not stop
        print(f"phase kde: {type(err).__name__}: {err}")


if __name__ == "__main__":
    main()
