"""Evaluating a bound term through its catalogue object against the formula typed inline (issue 8).

    python bench/bench_catalogue_eval.py

The peer is the code this replaced: the K2 + C2 stochastic term and the K1 bias written out in
mpmath, as ``bounds/kde_terms.py`` had them before the terms came from the catalogue (kept here,
in the benchmark only, as the reference).  Printed side by side: min and median over 9 repeats of
3000 calls, and the ratio object / inline (below 1 is faster).  Then two whole queries
(``compose_bound`` with the KDE and diffusion learners) for scale.  Asserts nothing.
"""

from __future__ import annotations

import statistics
import timeit

import mpmath

from boundcalc.bounds import kde_terms


def inline_stochastic_tv(n, bandwidth, dim, k2_integral, delta):  # the pre-catalogue code (peer)
    with mpmath.workdps(30):
        n, h, j, dl = (mpmath.mpmathify(x) for x in (n, bandwidth, k2_integral, delta))
        expectation = (4 * mpmath.pi) ** (-mpmath.mpf(dim) / 4) * (n * h ** dim) ** mpmath.mpf(-0.5) * j
        deviation = mpmath.sqrt(2 * mpmath.log(1 / dl) / n)
        return (expectation + deviation) / 2


def inline_bias_tv(bandwidth, laplacian_l1):  # the pre-catalogue code (peer)
    h = mpmath.mpmathify(bandwidth)
    return h * h / 4 * mpmath.mpmathify(laplacian_l1)


def timed(fn, number=3000, repeat=9):
    fn()
    runs = [t / number * 1e6 for t in timeit.repeat(fn, number=number, repeat=repeat)]
    return min(runs), statistics.median(runs)


def main():
    pairs = [
        ("K2 + C2 stochastic term, d = 1", lambda: kde_terms.kde_stochastic_tv(2000, 0.2, 1, 2.1, 0.005),
         lambda: inline_stochastic_tv(2000, 0.2, 1, 2.1, 0.005)),
        ("K2 + C2 stochastic term, d = 3", lambda: kde_terms.kde_stochastic_tv(2000, 0.2, 3, 2.1, 0.005),
         lambda: inline_stochastic_tv(2000, 0.2, 3, 2.1, 0.005)),
        ("K1 bias", lambda: kde_terms.kde_bias_tv(0.2, 0.8), lambda: inline_bias_tv(0.2, 0.8)),
    ]
    print(f"{'term':34s} {'object min/median us':>22s} {'inline min/median us':>22s} {'ratio (min)':>12s}")
    for name, obj, inline in pairs:
        a, b = timed(obj), timed(inline)
        print(f"{name:34s} {a[0]:10.1f} /{a[1]:9.1f} {b[0]:10.1f} /{b[1]:9.1f} {a[0] / b[0]:12.2f}")
        assert abs(float(obj()) - float(inline())) <= 1e-15 * abs(float(inline()))

    from boundcalc.bounds.compose import compose_bound
    from boundcalc.bounds.learners import Diffusion, GaussianKDE
    from boundcalc.model.schemes import Mix
    from boundcalc.model.targets import parse_target
    target = parse_target("bimodal")
    for name, fn in (("compose_bound kde mix K=10", lambda: compose_bound(Mix(1000, 3000, "fresh"),
                                                                           GaussianKDE(target=target), 10)),
                     ("compose_bound diffusion mix K=10", lambda: compose_bound(Mix(1000, 3000, "fresh"),
                                                                                 Diffusion(), 10))):
        lo, med = timed(fn, number=3, repeat=5)
        print(f"{name:34s} {lo / 1e3:10.1f} /{med / 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
