"""Benchmarks of the symbolic core. Prints ratios measured side by side in one run; asserts nothing.

    python bench/bench_core.py [--repeat 7] [--skip-cold]

1. cold start of every symbolic command (``lemmas``, ``show``, ``bound``, ``solve``, ``phase``,
   ``optimum``) against the peer ``python -c "import sympy"`` (sympy's import is the floor: every
   command needs it).  Each repetition runs the peer and then every command, so the two see the
   same machine load; the ratio is taken on the minima and on the medians.  Goal: <= 1.5x.
   Three "(floor)" rows show what any command pays before boundcalc's own work: numpy (which
   sympy does not import), sympy's lazy imports on the first product, and ``import boundcalc``.
2. a composed bound (mix closed form, power learner) on 10^6 parameter points: lambdified and
   vectorised with numpy against per-point sympy evaluation (timed on 200 points, per point);
3. a warm ``solve`` (n-real, mix, K = 10, power learner) against ``scipy.optimize.brentq`` on the
   lambdified bound (the peer a user would write by hand).

The load average of the machine (``os.getloadavg``) is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

#: what every command pays before boundcalc's own work: ``python -c`` of each (the floor under part 1)
FLOOR = [
    ("(floor) import sympy, numpy", "import sympy, numpy"),
    ("(floor) + first sympy product", "import sympy, numpy; x = sympy.Symbol('x'); 2 * x * sympy.Symbol('y')"),
    ("(floor) import boundcalc", "import boundcalc"),
]

COMMANDS = [
    ("lemmas", ["lemmas"]),
    ("show K2 --json", ["show", "K2", "--json"]),
    ("bound --json (KDE learner)", ["bound", "--json"]),
    ("bound --learner power --json", ["bound", "--learner", "power", "--C", "1", "--alpha", "0.25", "--json"]),
    ("solve --for n-real (power)", ["solve", "--for", "n-real", "--target", "0.2", "--learner", "power",
                                    "--C", "1", "--alpha", "0.25", "--json"]),
    ("phase --learner power", ["phase", "--learner", "power", "--C", "1", "--alpha", "0.25", "--json"]),
    ("optimum tau", ["optimum", "tau", "--json"]),
    ("optimum bandwidth", ["optimum", "bandwidth", "--json"]),
]


def load():
    return "load average %.2f %.2f %.2f (1, 5, 15 min) on %d cores" % (*os.getloadavg(), os.cpu_count())


def wall(cmd):
    """(wall seconds, CPU seconds user + system) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cold_start(repeat):
    peer = [sys.executable, "-c", "import sympy"]
    times = {name: [] for name, _ in COMMANDS}
    peer_times = []
    wall(peer)  # page cache
    runs = [(name, [sys.executable, "-c", code]) for name, code in FLOOR] + \
        [(name, [sys.executable, "-m", "boundcalc.cli.main", *args]) for name, args in COMMANDS]
    times.update({name: [] for name, _ in FLOOR})
    for _ in range(repeat):
        for name, cmd in runs:
            peer_times.append(wall(peer))  # the peer right before each command: same load
            times[name].append(wall(cmd))
    pw = [w for w, _ in peer_times]
    pc = [c for _, c in peer_times]
    print(f"1. cold start, {repeat} repetitions; peer `python -c \"import sympy\"`: wall min {min(pw):.3f} s, "
          f"median {statistics.median(pw):.3f} s; CPU min {min(pc):.3f} s, median {statistics.median(pc):.3f} s")
    print(f"   {'command':30s} {'wall min':>8s} {'median':>7s} {'CPU min':>8s} {'median':>7s} | ratio to the peer: "
          f"{'wall min':>8s} {'median':>7s} {'CPU min':>8s} {'median':>7s}  (goal <= 1.5)")
    for name, _ in FLOOR + COMMANDS:
        w = [x for x, _ in times[name]]
        c = [x for _, x in times[name]]
        print(f"   {name:30s} {min(w):7.3f}s {statistics.median(w):6.3f}s {min(c):7.3f}s {statistics.median(c):6.3f}s | "
              f"{'':18s}{min(w) / min(pw):8.2f} {statistics.median(w) / statistics.median(pw):7.2f} "
              f"{min(c) / min(pc):8.2f} {statistics.median(c) / statistics.median(pc):7.2f}")


def vectorised(repeat):
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
    vec, per = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f(*[values[s] for s in names])
        vec.append(time.perf_counter() - t0)
        m = 50
        t0 = time.perf_counter()
        for k in range(m):
            point = {s: (v[k] if isinstance(v, np.ndarray) else v) for s, v in values.items()}
            float(cf.expr.subs(point).evalf())
        per.append((time.perf_counter() - t0) / m)
    print(f"2. 10^6 points of the composed mix bound: vectorised min {min(vec):.3f} s, median "
          f"{statistics.median(vec):.3f} s; per-point sympy min {min(per) * 1e3:.2f} ms, median "
          f"{statistics.median(per) * 1e3:.2f} ms -> speed-up (medians) {statistics.median(per) * n / statistics.median(vec):.0f}x; "
          f"checksum {float(np.mean(out)):.6f}")


def warm_solve(repeat):
    import sympy as sp
    from scipy.optimize import brentq

    from boundcalc.bounds.compose import closed_form
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.bounds.solve import solve
    from boundcalc.model.schemes import make_scheme
    from boundcalc.theory import notation as S

    learner = PowerLaw(1, 0.25)
    solve("n-real", 0.1, learner, scheme="mix", generations=10, n_synth=1000)
    ours, peer = [], []
    for _ in range(repeat * 4):
        t0 = time.perf_counter()
        r = solve("n-real", 0.1, learner, scheme="mix", generations=10, n_synth=1000)
        ours.append(time.perf_counter() - t0)
    cf = closed_form(make_scheme("mix", 1000, 1000), learner, 10)
    names = sorted(cf.values, key=lambda s: s.name)
    f = sp.lambdify(names, cf.expr, modules="math")

    def a_K(n_real):
        vals = {S.C: 1.0, S.K: 10, S.alpha: 0.25, S.N: n_real + 1000, S.lam: n_real / (n_real + 1000),
                S.n_real: n_real}
        return f(*[vals[s] for s in names]) - 0.1

    for _ in range(repeat * 4):
        t0 = time.perf_counter()
        root = brentq(a_K, 1.0, 1e12)
        peer.append(time.perf_counter() - t0)
    print(f"3. warm solve (n-real = {r.value}): min {min(ours) * 1e3:.2f} ms, median "
          f"{statistics.median(ours) * 1e3:.2f} ms; peer brentq on the lambdified bound (root {root:.1f}): "
          f"min {min(peer) * 1e3:.3f} ms, median {statistics.median(peer) * 1e3:.3f} ms; "
          f"ratio of medians {statistics.median(ours) / statistics.median(peer):.0f}x (goal: <= 1 ms)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}; {load()}")
    if not args.skip_cold:
        cold_start(args.repeat)
    vectorised(max(3, args.repeat // 2))
    warm_solve(args.repeat)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
