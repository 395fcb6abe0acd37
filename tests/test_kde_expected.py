"""Tests of lemmas KE1-KE4 (bounds on E TV(p_i, p0) of a Gaussian-KDE loop) and of
:mod:`boundcalc.bounds.kde_expected` / :mod:`boundcalc.model.kde_blocks`.

Algebraic steps are checked with sympy; numbers against scipy quadrature, closed forms, and a second
plain-numpy implementation of the loop (``tests/_kde_loop.py``) with stated Monte-Carlo tolerances.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, stats

from _kde_loop import kernel_sum, run_loop
from boundcalc._checks import BoundcalcError
from boundcalc.bounds.kde_expected import expected_bound, propagated_variance, resolve_bandwidths
from boundcalc.model.kde_blocks import block_structure
from boundcalc.model.schemes import make_scheme
from boundcalc.model.targets import bimodal, normal
from boundcalc.theory.catalogue import get_lemma
from boundcalc.theory.kde_expected import gaussian_product


# --- KE1 ----------------------------------------------------------------------------------------
def test_ke1_jensen_sqrt():
    u = sp.Symbol("u", positive=True)
    assert sp.simplify(sp.diff(sp.sqrt(u), u, 2)) == -u ** sp.Rational(-3, 2) / 4
    rng = np.random.default_rng(1)
    for _ in range(200):  # E sqrt(G) <= sqrt(E G) for random finite distributions
        g = rng.exponential(size=6)
        w = rng.dirichlet(np.ones(6))
        assert w @ np.sqrt(g) <= math.sqrt(w @ g) + 1e-15


def test_ke1_monte_carlo_random_law():
    n, h, reps = 500, 0.3, 60
    bound = float(get_lemma("KE1").evaluate(N=n, h=h, d=1, J=(8 * math.pi * (1.25 + h * h / 2)) ** 0.25))
    assert bound == pytest.approx(0.10358, abs=1e-5)
    rng = np.random.default_rng(11)
    x = np.arange(-8, 8, 0.01)
    errors = []
    for _ in range(reps):
        mu = 0.5 * rng.standard_normal()
        pts = mu + rng.standard_normal(n)
        exact = stats.norm.pdf(x, mu, math.sqrt(1 + h * h))
        errors.append(np.sum(np.abs(kernel_sum(x, pts, h) - exact)) * 0.01)
    mean, se = np.mean(errors), np.std(errors, ddof=1) / math.sqrt(reps)
    assert mean == pytest.approx(0.068, abs=0.008)
    assert mean + 4 * se < bound


# --- KE4 ----------------------------------------------------------------------------------------
def test_ke4_identity_one_dimension():
    u = sp.Symbol("u", real=True)
    a2, b2 = sp.symbols("a2 b2", positive=True)

    def phi(var):
        return sp.exp(-u ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)

    tau2 = a2 * b2 / (a2 + b2)
    lemma = get_lemma("KE4")
    const = lemma.rhs.subs({sp.Symbol("d", positive=True, integer=True): 1,
                            sp.Symbol("sigma_a2", positive=True): a2, sp.Symbol("sigma_b2", positive=True): b2})
    assert sp.simplify(phi(a2) * phi(b2) / (const * phi(tau2))) == 1


def test_ke4_identity_product_form():
    a2, b2 = sp.symbols("a2 b2", positive=True)
    lemma = get_lemma("KE4")
    d = [s for s in lemma.rhs.free_symbols if s.name == "d"][0]
    one = lemma.rhs.subs({d: 1})
    for dim in (1, 2, 3):
        assert sp.simplify(lemma.rhs.subs({d: dim}) - one ** dim) == 0


def test_ke4_numeric():
    const, tau2 = gaussian_product(0.3, 1.7, 1)
    assert const == pytest.approx((4 * math.pi) ** -0.5, rel=1e-14)
    assert tau2 == pytest.approx(0.255, rel=1e-14)
    u = np.linspace(-3, 3, 20)
    lhs = stats.norm.pdf(u, 0, math.sqrt(0.3)) * stats.norm.pdf(u, 0, math.sqrt(1.7))
    np.testing.assert_allclose(lhs, const * stats.norm.pdf(u, 0, math.sqrt(tau2)), rtol=1e-12)
    const2, _ = gaussian_product(0.3, 1.7, 2)
    assert const2 == pytest.approx(const ** 2, rel=1e-13)


# --- KE2 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, real_data", [("mix", "fresh"), ("mix", "reused"), ("accumulate", "fresh"),
                                             ("accumulate", "reused")])
def test_ke2_group_weights(name, real_data):
    from boundcalc.bounds.kde_expected import _groups
    scheme = make_scheme(name, 300, 200, real_data)
    for plan in scheme.plans(4):
        groups = _groups(plan)
        assert sum(sum(b.count for b in g) for g in groups) == pytest.approx(plan.n_total)
        assert all(len({b.drawn_at for b in g}) == 1 for g in groups)
        assert len(groups) == len({b.drawn_at for b in plan.blocks})


def _monte_carlo(scheme, target, h, generations, seeds, seed):
    rng = np.random.default_rng(seed)
    grid = np.arange(-9.0, 9.0, 0.02)
    w, mu, sc = target.weights, target.means[:, 0], target.scales[:, 0]
    runs = [run_loop(scheme, w, mu, sc, h, generations, rng, grid, k2=False) for _ in range(seeds)]
    return runs


@pytest.mark.parametrize("name, real_data", [("mix", "fresh"), ("accumulate", "fresh")])
def test_ke2_monte_carlo(name, real_data):
    scheme = make_scheme(name, 400, 400, real_data)
    runs = _monte_carlo(scheme, normal(), 0.3, 3, 40, 5)
    a = np.array([r["a"] for r in runs])
    bound = expected_bound(scheme, normal(), 0.3, 3).linear
    mean, se = a.mean(axis=0), a.std(axis=0, ddof=1) / math.sqrt(len(a))
    assert np.all(mean + 4 * se < np.array(bound)), (mean, bound)


# --- KE3 ----------------------------------------------------------------------------------------
def test_ke3_kernels_replace():
    h = 0.2
    s = block_structure(normal(), make_scheme("replace", 100, 50), h, 4)
    for i in range(1, 5):
        expected = {(0, 1): {round(i * h * h, 12): 1.0}}
        expected.update({(g - 1, g): {round((i - g + 1) * h * h, 12): 1.0} for g in range(2, i + 1)})
        got = {k: {round(v, 12): c for v, c in kern.items()} for k, kern in s.kernels[i].items()}
        assert got.keys() == expected.keys()
        for k in got:
            assert got[k].keys() == expected[k].keys()
            for v in got[k]:
                assert got[k][v] == pytest.approx(expected[k][v], rel=1e-12)


def _paths(scheme, i, h2):
    """Second implementation: enumerate every path of a block to p_i as (key, weight, variance)."""
    plan = scheme.plan(i)
    out = []
    for b in plan.blocks:
        w = b.count / plan.n_total
        out.append((b.key, w, h2))
        if b.source >= 1:
            out += [(k, w * c, v + h2) for k, c, v in _paths(scheme, b.source, h2)]
    return out


@pytest.mark.parametrize("real_data", ["fresh", "reused"])
def test_ke3_kernels_accumulate(real_data):
    h2 = 0.09
    scheme = make_scheme("accumulate", 300, 200, real_data)
    s = block_structure(normal(), scheme, 0.3, 5)
    for i in range(1, 6):
        brute: dict = {}
        for key, c, v in _paths(scheme, i, h2):
            brute.setdefault(key, {})
            brute[key][round(v, 10)] = brute[key].get(round(v, 10), 0.0) + c
        got = {k: {round(v, 10): c for v, c in kern.items()} for k, kern in s.kernels[i].items()}
        assert got.keys() == brute.keys()
        for k in got:
            assert got[k].keys() == brute[k].keys()
            for v in got[k]:
                assert got[k][v] == pytest.approx(brute[k][v], rel=1e-12)


def test_ke3_pointwise_variance():
    """Generation 1: V_1(x) is the exact variance of p_1(x); generation 2 (replace): an upper bound."""
    n, h, reps = 40, 0.4, 4000
    scheme = make_scheme("replace", n, n)
    x0 = np.array([0.0, 1.3])
    v1 = propagated_variance(scheme, normal(), h, 2, 1, x0)
    v2 = propagated_variance(scheme, normal(), h, 2, 2, x0)
    rng = np.random.default_rng(3)
    p1, p2 = np.empty((reps, 2)), np.empty((reps, 2))
    for r in range(reps):
        t1 = rng.standard_normal(n)
        p1[r] = kernel_sum(x0, t1, h)
        t2 = t1[rng.integers(n, size=n)] + h * rng.standard_normal(n)
        p2[r] = kernel_sum(x0, t2, h)
    for p, v, exact in ((p1, v1, True), (p2, v2, False)):
        dev = p - p.mean(axis=0)
        var = np.mean(dev ** 2, axis=0)
        se = np.std(dev ** 2, axis=0, ddof=1) / math.sqrt(reps)
        assert np.all(var < v + 4 * se)
        if exact:
            assert np.all(np.abs(var - v) < 4 * se)
    assert np.all(v2 > v1)


def test_ke3_generation_one_closed_form():
    n, h = 1000, 0.25
    got = expected_bound(make_scheme("replace", n, n), normal(), h, 1)
    bias = 0.5 * integrate.quad(lambda x: abs(stats.norm.pdf(x, 0, math.sqrt(1 + h * h)) - stats.norm.pdf(x)),
                                -15, 15, points=[-1.2, 1.2], limit=200)[0]

    def sd(x):
        square = (4 * math.pi) ** -0.5 / h * stats.norm.pdf(x, 0, math.sqrt(1 + h * h / 2))
        return math.sqrt(max(square - stats.norm.pdf(x, 0, math.sqrt(1 + h * h)) ** 2, 0) / n)

    dev = 0.5 * integrate.quad(sd, -15, 15, limit=200)[0]
    # TV(r_1, p0): the proven bound of bounds/kde_tv.py (no margin): above, and within 1e-6;
    # sqrt(V_1): Simpson's rule (a smooth integrand) plus the stated margin of 1e-4: above, and close
    assert bias <= got.bias_tv[0] <= bias * (1 + 1e-6)
    assert dev <= got.deviation[0] <= dev * (1 + 1.2e-4)
    assert bias + dev <= got.variance[0] <= (bias + dev) * (1 + 1.2e-4)


@pytest.mark.parametrize("name, real_data", [("replace", "fresh"), ("mix", "reused"), ("accumulate", "fresh")])
def test_ke3_monte_carlo(name, real_data):
    scheme = make_scheme(name, 400, 400, real_data)
    runs = _monte_carlo(scheme, normal(), 0.3, 3, 40, 8)
    a = np.array([r["a"] for r in runs])
    got = expected_bound(scheme, normal(), 0.3, 3)
    mean, se = a.mean(axis=0), a.std(axis=0, ddof=1) / math.sqrt(len(a))
    assert np.all(mean + 4 * se < np.array(got.variance)), (mean, got.variance)
    # and it is not vacuous: within a factor 2.5 of the Monte-Carlo mean here
    assert np.all(np.array(got.variance) < 2.5 * mean)


def test_expected_bound_bimodal_and_best():
    got = expected_bound(make_scheme("replace", 1000, 1000), bimodal(), 0.2, 3)
    assert got.best == [min(a, b) for a, b in zip(got.linear, got.variance)]
    assert all(b > 0 for b in got.best)
    assert got.variance[2] < got.linear[2]  # variances add, norms do not
    d = got.to_dict()
    assert "KE3" in d["lemmas"] and len(d["variance"]) == 3


def test_two_dimensions_closed_form():
    """d = 2, generation 1, p0 = N(0, I_2): KE3 against radial scipy integrals, KE2 against its closed form."""
    from boundcalc.bounds.kde_expected import loop_probability_bound
    h, n = 0.3, 2000
    scheme = make_scheme("mix", n, n)
    got = expected_bound(scheme, normal(dim=2), h, 2)

    def gauss(r, var):
        return math.exp(-r * r / (2 * var)) / (2 * math.pi * var)

    bias = 0.5 * integrate.quad(lambda r: abs(gauss(r, 1 + h * h) - gauss(r, 1)) * 2 * math.pi * r, 0, 20,
                                points=[1.5], limit=200)[0]
    dev = 0.5 * integrate.quad(lambda r: math.sqrt(max((4 * math.pi * h * h) ** -1 * gauss(r, 1 + h * h / 2)
                                                       - gauss(r, 1 + h * h) ** 2, 0) / n) * 2 * math.pi * r,
                               0, 20, limit=200)[0]
    assert bias <= got.bias_tv[0] <= bias * (1 + 2.5e-3)  # margin 2e-3 over the quadrature error
    assert dev <= got.deviation[0] <= dev * (1 + 2.5e-3)
    lap = 4 * math.exp(-1) / math.gamma(1)  # ||Laplacian N(0, I_2)||_1 = 4 (d/2)^(d/2) e^(-d/2) / Gamma(d/2)
    j = (8 * math.pi * (1 + h * h / 2)) ** 0.5
    expected = h * h / 4 * lap + 0.5 * (4 * math.pi) ** -0.5 * (n * h * h) ** -0.5 * j
    assert got.linear[0] == pytest.approx(expected, rel=1e-4)
    loop = loop_probability_bound(scheme, normal(dim=2), h, 2, 0.05, expected=got)
    assert loop.bound[0] == pytest.approx(got.variance[0] + 0.5 * math.sqrt(2 * math.log(2 / 0.05) / n), rel=1e-9)


def test_three_dimensions_use_the_linear_bound():
    from boundcalc.bounds.kde_expected import loop_probability_bound
    scheme = make_scheme("mix", 2000, 2000)
    got = expected_bound(scheme, normal(dim=3), 0.3, 2)
    assert got.variance == [math.inf, math.inf] and got.best == got.linear
    with pytest.raises(BoundcalcError, match="dimension 1 or 2"):
        expected_bound(scheme, normal(dim=3), 0.3, 2, linear=False)
    with pytest.raises(BoundcalcError, match="dimension 1 or 2"):
        loop_probability_bound(scheme, normal(dim=3), 0.3, 2, 0.05)


def test_bad_input():
    with pytest.raises(BoundcalcError, match="bandwidth"):
        resolve_bandwidths(normal(), make_scheme("replace", 100, 100), "wide", 2)
    with pytest.raises(BoundcalcError, match="bandwidths must list"):
        block_structure(normal(), make_scheme("replace", 100, 100), [0.1, 0.2, 0.3], 2)
    with pytest.raises(BoundcalcError, match="generation"):
        propagated_variance(make_scheme("replace", 100, 100), normal(), 0.3, 2, 3, [0.0])


# --- KE5 ----------------------------------------------------------------------------------------
def test_ke5_deviation_algebra():
    n_beta, m, q, t, delta, k = sp.symbols("N_beta m Q t delta K", positive=True)
    # each of the N_beta samples of a block has range 2 m / N_beta: the block adds 4 m^2 / N_beta
    assert sp.simplify(n_beta * (2 * m / n_beta) ** 2 - 4 * m ** 2 / n_beta) == 0
    # exp(-2 t^2 / (4 Q)) = delta / K at t = sqrt(2 ln(K/delta) Q)
    t_star = sp.sqrt(2 * sp.log(k / delta) * q)
    assert sp.simplify(sp.exp(-2 * t_star ** 2 / (4 * q)) - delta / k) == 0


def _lineage_fraction(scheme, generations, block_key, sample, rng):
    """Fraction of T_i descending from one sample of a block, by simulating indices only."""
    lineage = {}  # generation -> boolean array over T_t
    cache = {}
    for plan in scheme.plans(generations):
        parts = []
        for b in plan.blocks:
            if b.key not in cache:
                size = b.size
                if b.source == 0:
                    flags = np.zeros(size, bool)
                else:
                    flags = lineage[b.source][rng.integers(len(lineage[b.source]), size=size)]
                if b.key == block_key:
                    flags = flags.copy()
                    flags[sample] = True
                cache[b.key] = flags
            parts.append(cache[b.key])
        lineage[plan.generation] = np.concatenate(parts)
    return [lineage[i].mean() for i in range(1, generations + 1)]


@pytest.mark.parametrize("name, real_data, key", [("accumulate", "fresh", (1, 2)), ("mix", "reused", (0, 1)),
                                                  ("replace", "fresh", (0, 1))])
def test_ke5_lineage_fraction(name, real_data, key):
    scheme = make_scheme(name, 50, 30, real_data)
    structure = block_structure(normal(), scheme, 0.3, 4)
    rng = np.random.default_rng(2)
    fractions = np.array([_lineage_fraction(scheme, 4, key, 0, rng) for _ in range(3000)])
    expected = np.array([structure.mass(i, key) / structure.blocks[key].count for i in range(1, 5)])
    se = fractions.std(axis=0, ddof=1) / math.sqrt(len(fractions)) + 1e-12
    assert np.all(np.abs(fractions.mean(axis=0) - expected) < 4 * se + 1e-9), (fractions.mean(axis=0), expected)


def test_ke5_generation_one():
    from boundcalc.bounds.kde_expected import loop_probability_bound
    n, K, delta = 1000, 4, 0.05
    got = loop_probability_bound(make_scheme("mix", n, n), normal(), 0.3, K, delta)
    assert got.squared_mass_sum[0] == pytest.approx(1 / n, rel=1e-12)
    assert got.deviation[0] == pytest.approx(0.5 * math.sqrt(2 * math.log(K / delta) / n), rel=1e-9)
    # mix with real fraction 1/2 and fresh real data: Q_2 = 1/(2n) (own blocks, mass 1/2 each) + (1/2)^2 / n
    assert got.squared_mass_sum[1] == pytest.approx(2 * 0.25 / n + 0.25 / n, rel=1e-12)


@pytest.mark.parametrize("target_name, name, real_data", [("normal", "replace", "fresh"), ("bimodal", "mix", "reused"),
                                                          ("normal", "accumulate", "fresh")])
def test_ke5_monte_carlo(target_name, name, real_data):
    from boundcalc.bounds.kde_expected import loop_probability_bound
    target = normal() if target_name == "normal" else bimodal()
    scheme = make_scheme(name, 300, 300, real_data)
    bound = np.array(loop_probability_bound(scheme, target, 0.3, 3, 0.05).bound)
    rng = np.random.default_rng(19)
    grid = np.arange(-12.0, 12.0, 0.02)
    w, mu, sc = target.weights, target.means[:, 0], target.scales[:, 0]
    for _ in range(30):
        run = run_loop(scheme, w, mu, sc, 0.3, 3, rng, grid, k2=False)
        assert np.all(np.array(run["a"]) <= bound)


def test_ke3_square_bound():
    from boundcalc.bounds import kde_expected as KE
    scheme = make_scheme("accumulate", 500, 500)
    structure = block_structure(normal(), scheme, 0.3, 5)
    x = np.linspace(-8, 8, 801)
    for i in (2, 5):
        exact = KE._propagated_variance(structure, i, x, 1, exact_terms=100)
        cheap = KE._propagated_variance(structure, i, x, 1, exact_terms=0)
        assert np.all(cheap >= exact - 1e-15)
        ratio = np.sum(np.sqrt(cheap)) / np.sum(np.sqrt(exact))
        assert 1.0 <= ratio < 1.03
