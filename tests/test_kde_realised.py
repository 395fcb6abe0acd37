"""Tests of lemmas KR1-KR5 (a proven high-probability bound on the realised K2 integral of a KDE
loop, and the a-priori probability-(1 - delta) bound that uses it).

Algebra in sympy; numbers against scipy/mpmath and a second plain-numpy loop (``tests/_kde_loop.py``).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import integrate, special, stats

from _kde_loop import run_loop
from boundcalc._checks import BoundcalcError
from boundcalc.bounds.kde_expected import probability_bound, realised_k2_bound
from boundcalc.model.schemes import make_scheme
from boundcalc.model.targets import GaussianMixture, bimodal, normal
from boundcalc.theory.catalogue import get_lemma


# --- KR1 ----------------------------------------------------------------------------------------
def test_kr1_cauchy_integral():
    x = sp.Symbol("x", real=True)
    a = sp.Symbol("a", positive=True)
    assert sp.simplify(sp.integrate(1 / (1 + x ** 2 / a ** 2), (x, -sp.oo, sp.oo)) - sp.pi * a) == 0


def test_kr1_optimal_scale():
    a, m = sp.symbols("a m", positive=True)
    f = a + m / a
    assert sp.solve(sp.diff(f, a), a) == [sp.sqrt(m)]
    assert sp.simplify(sp.diff(f, a, 2).subs(a, sp.sqrt(m))) == 2 / sp.sqrt(m)
    assert sp.simplify(f.subs(a, sp.sqrt(m)) - 2 * sp.sqrt(m)) == 0
    # sqrt((1 + m/a^2) pi a) at a = sqrt(m) is the catalogue's right-hand side
    value = sp.sqrt((1 + m / a ** 2) * sp.pi * a).subs(a, sp.sqrt(m))
    rhs = get_lemma("KR1").rhs
    mc = [s for s in rhs.free_symbols if s.name == "m_c"][0]
    assert sp.simplify(value - rhs.subs(mc, m)) == 0


def test_kr1_numeric():
    kr1 = get_lemma("KR1")
    targets = [normal(), normal(2.0, 0.3), bimodal(),
               GaussianMixture([0.2, 0.5, 0.3], [[-4.0], [0.5], [6.0]], [[0.4], [1.0], [2.0]])]
    for g in targets:
        j = g.sqrt_integral()
        for c in (-1.0, 0.0, 0.7, 3.0):
            m = float(g.weights @ ((g.means[:, 0] - c) ** 2 + g.scales[:, 0] ** 2))
            assert j <= float(kr1.evaluate(m_c=m)) * (1 + 1e-9)
    g = normal(2.0, 0.3)
    assert float(kr1.evaluate(m_c=0.09)) / g.sqrt_integral() == pytest.approx((math.pi / 2) ** 0.25, rel=1e-8)


# --- KR2 ----------------------------------------------------------------------------------------
def test_kr2_phi_ratio_monotone():
    u = np.concatenate([np.linspace(-30, -1e-3, 3000), np.linspace(1e-3, 30, 3000)])
    ratio = np.expm1(u) - u
    ratio = ratio / u ** 2
    assert np.all(np.diff(ratio) >= -1e-12)
    assert ratio[2999] < 0.5 < ratio[3000]


def test_kr2_series_bound():
    for k in range(2, 31):
        assert sp.factorial(k) >= 2 * 3 ** (k - 2)
    u = np.linspace(0, 2.999, 2000)
    assert np.all(np.expm1(u) - u <= u ** 2 / (2 * (1 - u / 3)) * (1 + 1e-12) + 1e-300)


def test_kr2_chernoff_exponent():
    V, c, t = sp.symbols("V c t", positive=True)
    s = sp.sqrt(2 * V * t) + c * t
    w = c * sp.sqrt(2 * t / V)
    assert sp.simplify((1 + 2 * c * s / V) - (1 + w) ** 2) == 0  # so sqrt(1 + 2cs/V) = 1 + w
    lam = (1 - 1 / (1 + w)) / c
    assert sp.simplify(lam * s - lam ** 2 * V / (2 * (1 - c * lam)) - t) == 0
    assert sp.simplify(1 - c * lam - 1 / (1 + w)) == 0  # lam < 1/c


def test_kr2_monte_carlo():
    n, r, delta, reps = 200, 3.0, 0.05, 4000
    mean_y = integrate.quad(lambda x: min(x * x, r * r) * stats.norm.pdf(x), -12, 12, points=[-3, 3])[0]
    dev = float(get_lemma("KR2").evaluate(v_B=r * r * mean_y, b_B=r * r, N=n, delta=delta))
    rng = np.random.default_rng(21)
    y = np.minimum(rng.standard_normal((reps, n)) ** 2, r * r)
    failures = int(np.sum(y.mean(axis=1) - mean_y > dev))
    assert failures <= delta * reps


# --- KR3 ----------------------------------------------------------------------------------------
def test_kr3_normal_tail():
    u, z = sp.symbols("u z", positive=True)
    tail = 2 * sp.integrate(sp.exp(-u ** 2 / 2) / sp.sqrt(2 * sp.pi), (u, z, sp.oo))
    assert sp.simplify((tail - sp.erfc(z / sp.sqrt(2))).rewrite(sp.erf)) == 0


def test_kr3_numeric():
    kr3 = get_lemma("KR3")
    assert float(kr3.evaluate(N=1e5, delta=1e-2)) == pytest.approx(math.sqrt(2) * special.erfcinv(1e-7), rel=1e-12)
    assert float(kr3.evaluate(N=1e5, delta=1e-2)) == pytest.approx(5.32672, abs=1e-5)
    z = kr3.evaluate(N=1000, delta=1e-300)
    with mpmath.workdps(60):
        assert 1000 * mpmath.erfc(mpmath.mpf(z) / mpmath.sqrt(2)) == pytest.approx(1e-300, rel=1e-20)
    n, delta, reps = 1000, 0.1, 3000
    zq = float(kr3.evaluate(N=n, delta=delta))
    rng = np.random.default_rng(4)
    hits = sum(np.max(np.abs(rng.standard_normal(n))) > zq for _ in range(reps))
    # for independent normals the union bound is nearly tight: P = 1 - (1 - delta/N)^N = 0.0952
    exact = 1 - (1 - delta / n) ** n
    assert abs(hits / reps - exact) < 4 * math.sqrt(exact * (1 - exact) / reps)
    assert hits <= stats.binom.ppf(1 - 1e-4, reps, delta)  # consistent with P <= delta
    with pytest.raises(BoundcalcError, match="delta"):
        kr3.evaluate(N=10, delta=1.5)


# --- KR4 ----------------------------------------------------------------------------------------
def test_kr4_kde_second_moment():
    y, c, h = sp.symbols("y c h", real=True)
    z = sp.Symbol("z", real=True)
    density = sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi)
    moment = sp.integrate(sp.expand((y + h * z - c) ** 2) * density, (z, -sp.oo, sp.oo))
    assert sp.simplify(moment - ((y - c) ** 2 + h ** 2)) == 0


def _loops(scheme, target, h, generations, seeds, seed, k2=True):
    rng = np.random.default_rng(seed)
    grid = np.arange(-12.0, 12.0, 0.02)
    w, mu, sc = target.weights, target.means[:, 0], target.scales[:, 0]
    return [run_loop(scheme, w, mu, sc, h, generations, rng, grid, k2) for _ in range(seeds)]


CASES = [("normal", "replace", "fresh"), ("bimodal", "mix", "fresh"), ("normal", "accumulate", "fresh"),
         ("bimodal", "mix", "reused")]


@pytest.mark.parametrize("target_name, name, real_data", CASES)
def test_kr4_monte_carlo(target_name, name, real_data):
    target = normal() if target_name == "normal" else bimodal()
    scheme = make_scheme(name, 300, 300, real_data)
    k2 = realised_k2_bound(scheme, target, 0.3, 4, 0.05)
    for run in _loops(scheme, target, 0.3, 4, 30, 13):
        for i in range(4):
            assert run["J_plan"][i] <= k2.plan[i]
            for source, j in run["J_source"][i].items():
                assert j <= k2.source[source][i]


def test_kr4_structure():
    scheme = make_scheme("accumulate", 300, 300)
    k2 = realised_k2_bound(scheme, normal(), 0.3, 4, 0.05)
    # blocks of plans 1..3: real blocks drawn at 1, 2, 3 and kept blocks of p_1, p_2 -> 5 blocks, 10 events
    assert k2.events == 10
    assert k2.second_moment[0] == pytest.approx(1.0)
    # each source moment exceeds the previous one by at least h^2 (no deviation can make it smaller)
    assert all(k2.second_moment[s] >= 1.0 + 0.09 for s in (1, 2, 3))
    assert k2.plan == sorted(k2.plan)
    smaller = realised_k2_bound(scheme, normal(), 0.3, 4, 1e-6)
    assert all(a > b for a, b in zip(smaller.plan[1:], k2.plan[1:]))
    with pytest.raises(BoundcalcError, match="dimension 1"):
        realised_k2_bound(scheme, normal(dim=2), 0.3, 4, 0.05)


# --- KR5 ----------------------------------------------------------------------------------------
def test_kr5_delta_split():
    n, h, K, delta = 1000, 0.3, 3, 0.05
    scheme = make_scheme("mix", n, n)
    got = probability_bound(scheme, normal(), h, K, delta)
    assert got.mode == "joint" and got.k2.delta_j == pytest.approx(delta / 2)
    lap = 4 * math.exp(-0.5) / math.sqrt(2 * math.pi)  # ||N(0,1)''||_1
    expected = []
    for i in range(1, K + 1):
        n_i = n if i == 1 else 2 * n
        j = got.k2.plan[i - 1]
        stoch = 0.5 * ((4 * math.pi) ** -0.25 * (n_i * h) ** -0.5 * j + math.sqrt(2 * math.log(2 * K / delta) / n_i))
        expected.append(h * h / 4 * lap + stoch + (0.5 * expected[-1] if i > 1 else 0.0))
    assert got.bound == pytest.approx(expected, rel=1e-9)
    reused = probability_bound(make_scheme("mix", n, n, "reused"), normal(), h, K, delta)
    assert reused.mode == "blockwise"
    assert reused.bound[1] > got.bound[1]


@pytest.mark.parametrize("name", ["mix", "accumulate"])
def test_kr5_holds_in_monte_carlo(name):
    scheme = make_scheme(name, 300, 300)
    bound = probability_bound(scheme, normal(), 0.3, 3, 0.05).bound
    for run in _loops(scheme, normal(), 0.3, 3, 30, 17, k2=False):
        assert np.all(np.array(run["a"]) <= np.array(bound))
