"""Tests of the divergence lemmas T1, T2, T3, T4, T4p, GTV (derivations/<ID>.md).

Each derivation step is checked symbolically with sympy; each lemma is checked numerically against
an independent reference (scipy quadrature, closed forms, exact discrete computations); the mpmath
value of ``lemma.evaluate`` is compared with a numpy ``lambdify`` of ``rhs``.
"""

from __future__ import annotations

import math
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import integrate, optimize, special, stats

from boundcalc._checks import BoundcalcError
from boundcalc.theory.catalogue import get_lemma
from boundcalc.theory.catalogue import divergence
from boundcalc.theory.notation import a_prev, kl, lam, s1, s2, tv

ROOT = Path(__file__).resolve().parents[1]
IDS = ["T1", "T2", "T3", "T4", "T4p", "GTV"]


# --- independent references ------------------------------------------------------------------
def tv_quadrature(pdf_a, pdf_b, lo=-60.0, hi=60.0, grid=20001):
    """(1/2) int |a - b| by scipy quad, split at the sign changes of a - b (found by brentq)."""
    xs = np.linspace(lo, hi, grid)
    diff = pdf_a(xs) - pdf_b(xs)
    nonzero = np.nonzero(diff)[0]  # skip exact zeros (underflowed tails, crossings on the grid)
    flips = np.nonzero(np.sign(diff[nonzero[:-1]]) != np.sign(diff[nonzero[1:]]))[0]
    cuts = [lo]
    for k in flips:
        left, right = xs[nonzero[k]], xs[nonzero[k + 1]]
        cuts.append(optimize.brentq(lambda x: pdf_a(x) - pdf_b(x), left, right, xtol=1e-14))
    cuts.append(hi)
    total = 0.0
    for left, right in zip(cuts[:-1], cuts[1:]):
        value, _ = integrate.quad(lambda x: pdf_a(x) - pdf_b(x), left, right,
                                  limit=400, epsabs=1e-13, epsrel=1e-12)
        total += abs(value)
    return 0.5 * total


def normal_pdf(mean, sd):
    return lambda x: stats.norm.pdf(x, mean, sd)


def gaussian_kl(m1, sd1, m2, sd2):
    """Closed form KL(N(m1, sd1^2) || N(m2, sd2^2))."""
    return math.log(sd2 / sd1) + (sd1**2 + (m1 - m2) ** 2) / (2 * sd2**2) - 0.5


def numpy_rhs(lemma):
    symbols = lemma.free_symbols
    return sp.lambdify(symbols, lemma.rhs, modules="numpy"), [s.name for s in symbols]


def random_simplex(rng, size, count):
    x = rng.exponential(size=(count, size))
    return x / x.sum(axis=1, keepdims=True)


# --- metadata -----------------------------------------------------------------------------------
@pytest.mark.parametrize("lemma_id,values", [
    ("T1", {"lambda": 0.37, "TV": 0.61}),
    ("T2", {"TV": 0.12, "a_prev": 0.31}),
    ("T3", {"TV": 0.44}),
    ("T4", {"KL": 0.73}),
    ("T4p", {"KL": 2.9}),
    ("GTV", {"sigma_1": 0.8, "sigma_2": 1.9}),
])
def test_evaluate_mpmath_agrees_with_numpy_lambdify(lemma_id, values):
    lemma = get_lemma(lemma_id)
    function, names = numpy_rhs(lemma)
    expected = float(function(*[np.float64(values[name]) for name in names]))
    got = lemma.evaluate(**values)
    assert isinstance(got, mpmath.mpf)
    assert float(got) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("lemma_id,values,name", [
    ("T1", {"lambda": 1.5, "TV": 0.2}, "lambda"),
    ("T1", {"lambda": 0.0, "TV": 0.2}, "lambda"),
    ("T1", {"lambda": 0.5, "TV": 1.2}, "TV"),
    ("T2", {"TV": -0.1, "a_prev": 0.2}, "TV"),
    ("T2", {"TV": 0.1, "a_prev": 2}, "a_prev"),
    ("T3", {"TV": float("nan")}, "TV"),
    ("T4", {"KL": -1}, "KL"),
    ("T4p", {"KL": "abc"}, "KL"),
    ("GTV", {"sigma_1": 0, "sigma_2": 1}, "sigma_1"),
    ("GTV", {"sigma_1": 1, "sigma_2": -2}, "sigma_2"),
])
def test_bad_input_names_parameter(lemma_id, values, name):
    with pytest.raises(BoundcalcError, match=rf"^{name} must be"):
        get_lemma(lemma_id).evaluate(**values)


def test_missing_value_is_reported():
    with pytest.raises(BoundcalcError, match="T1 needs values for: TV"):
        get_lemma("T1").evaluate(lam=0.5)
    with pytest.raises(BoundcalcError, match="GTV needs values for: sigma_2"):
        get_lemma("GTV").evaluate(sigma_1=1)


# --- T1 ------------------------------------------------------------------------------------------
def test_t1_step1_difference_is_rescaled():
    p0, r = sp.symbols("p0 r", nonnegative=True)
    mixture_minus_p0 = lam * p0 + (1 - lam) * r - p0
    assert sp.expand(mixture_minus_p0 - (1 - lam) * (r - p0)) == 0


def test_t1_step2_absolute_value_factors():
    nu = sp.Symbol("nu", nonnegative=True)  # nu = 1 - lambda >= 0
    x = sp.Symbol("x", real=True)
    assert sp.simplify(sp.Abs(nu * x) - nu * sp.Abs(x)) == 0
    # and the lemma's rhs is (1 - lambda) TV, i.e. nu TV
    assert sp.simplify(get_lemma("T1").rhs.subs(lam, 1 - nu) - nu * tv) == 0


def test_t1_corollary_step_weights_sum_to_one():
    w1, w2 = sp.symbols("w1 w2", nonnegative=True)
    w3 = 1 - w1 - w2
    r1, r2, r3, p0 = sp.symbols("r1 r2 r3 p0")
    lhs = w1 * r1 + w2 * r2 + w3 * r3 - p0
    rhs = w1 * (r1 - p0) + w2 * (r2 - p0) + w3 * (r3 - p0)
    assert sp.expand(lhs - rhs) == 0


def test_t1_numeric_against_quadrature():
    lemma = get_lemma("T1")
    p0, r = normal_pdf(0, 1), normal_pdf(0, 2)
    tv_r_closed = float(divergence.gaussian_tv_1d(1, 2))
    tv_r_quad = tv_quadrature(r, p0)
    assert tv_r_quad == pytest.approx(0.3226746, abs=5e-8)
    assert tv_r_closed == pytest.approx(tv_r_quad, abs=1e-10)
    function, names = numpy_rhs(lemma)
    for weight in (0.1, 0.3, 0.7, 1.0):
        mixture = lambda x, w=weight: w * p0(x) + (1 - w) * r(x)  # noqa: E731
        lhs_quad = tv_quadrature(mixture, p0)
        got = float(lemma.evaluate(**{"lambda": weight, "TV": tv_r_closed}))
        assert got == pytest.approx(lhs_quad, abs=1e-8)
        values = {"lambda": weight, "TV": tv_r_quad}
        assert float(function(*[values[n] for n in names])) == pytest.approx(lhs_quad, abs=1e-8)


def test_t1_convexity_numeric():
    p0 = normal_pdf(0, 1)
    parts = [normal_pdf(1, 1), normal_pdf(-0.5, 2), normal_pdf(3, 0.5)]
    weights = [0.2, 0.5, 0.3]
    mixture = lambda x: sum(w * f(x) for w, f in zip(weights, parts))  # noqa: E731
    left = tv_quadrature(mixture, p0)
    right = sum(w * tv_quadrature(f, p0) for w, f in zip(weights, parts))
    assert left < right - 1e-3  # strict here: the components differ from p0 in different directions


# --- T2 ------------------------------------------------------------------------------------------
def test_t2_step1_scalar_triangle_inequality():
    u, v, w = sp.symbols("u v w", nonnegative=True)
    gap = lambda x, y: sp.simplify(sp.Abs(x) + sp.Abs(y) - sp.Abs(x + y))  # noqa: E731
    cases = [
        gap(u, v), gap(-u, -v),                    # same signs: gap is 0
        gap(v + w, -v), gap(u, -(u + w)),          # opposite signs, either one larger
        gap(-(v + w), v), gap(-u, u + w),
    ]
    for value in cases:
        assert value.is_nonnegative, value
    assert cases[0] == 0 and cases[1] == 0
    p, q, r = sp.symbols("p q r")
    assert sp.expand((p - q) + (q - r) - (p - r)) == 0
    assert sp.simplify(get_lemma("T2").rhs - (tv + a_prev)) == 0


def test_t2_numeric_discrete_and_gaussian():
    rng = np.random.default_rng(1)
    P, Q, R = (random_simplex(rng, 7, 2000) for _ in range(3))
    tv_ = lambda a, b: 0.5 * np.abs(a - b).sum(axis=1)  # noqa: E731
    lemma = get_lemma("T2")
    bound = np.array([float(lemma.evaluate(TV=x, a_prev=y)) for x, y in zip(tv_(P, Q), tv_(Q, R))])
    assert np.all(tv_(P, R) <= bound + 1e-15)
    between = 0.4 * P + 0.6 * R  # Q between P and R pointwise: equality
    assert np.max(np.abs(tv_(P, between) + tv_(between, R) - tv_(P, R))) < 1e-15
    a, b, c = normal_pdf(0, 1), normal_pdf(0.5, 1), normal_pdf(1.5, 2)
    assert tv_quadrature(a, c) <= float(lemma.evaluate(TV=tv_quadrature(a, b),
                                                       a_prev=tv_quadrature(b, c))) + 1e-12


# --- T3 ------------------------------------------------------------------------------------------
def test_t3_steps_discrete_kernel():
    # symbolic 3x3 Markov kernel: column y is the law k(. | y); last row fixes the column sums
    k = sp.Matrix(3, 3, lambda x, y: sp.Symbol(f"k{x}{y}", nonnegative=True))
    k[2, :] = sp.Matrix([[1 - k[0, y] - k[1, y] for y in range(3)]])
    p = sp.Matrix(sp.symbols("p0:3", nonnegative=True))
    q = sp.Matrix(sp.symbols("q0:3", nonnegative=True))
    # step 1: linearity, (P K) - (Q K) = K (p - q)
    assert sp.simplify(k * p - k * q - k * (p - q)) == sp.zeros(3, 1)
    # steps 3-4: sum_x sum_y k(x|y) |p_y - q_y| = sum_y |p_y - q_y| (column sums are 1)
    absdiff = [sp.Abs(p[y] - q[y]) for y in range(3)]
    double_sum = sum(k[x, y] * absdiff[y] for x in range(3) for y in range(3))
    assert sp.simplify(double_sum - sum(absdiff)) == 0
    for y in range(3):
        assert sp.simplify(sum(k[x, y] for x in range(3)) - 1) == 0


def test_t3_step4_gaussian_kernel_normalised():
    x, y = sp.symbols("x y", real=True)
    bandwidth = sp.Symbol("h", positive=True)
    phi = sp.exp(-(x - y) ** 2 / (2 * bandwidth**2)) / (sp.sqrt(2 * sp.pi) * bandwidth)
    assert sp.simplify(sp.integrate(phi, (x, -sp.oo, sp.oo)) - 1) == 0


def test_t3_numeric_gaussian_closed_form():
    lemma = get_lemma("T3")
    before = float(divergence.gaussian_tv_1d(1, 2))
    assert before == pytest.approx(0.3226746, abs=5e-8)
    previous = before
    for bandwidth in (0.1, 0.5, 1.0, 2.0, 5.0):
        after = float(divergence.gaussian_tv_1d(math.sqrt(1 + bandwidth**2), math.sqrt(4 + bandwidth**2)))
        assert after <= float(lemma.evaluate(TV=before))
        assert after < previous  # more smoothing, smaller distance
        previous = after
    # the convolved pair by quadrature agrees with the closed form
    assert tv_quadrature(normal_pdf(0, math.sqrt(1.25)), normal_pdf(0, math.sqrt(4.25))) == pytest.approx(
        float(divergence.gaussian_tv_1d(math.sqrt(1.25), math.sqrt(4.25))), abs=1e-9)


def test_t3_numeric_mixture_quadrature():
    def bimodal(extra_var):
        sd = math.sqrt(1 + extra_var)
        return lambda x: 0.5 * stats.norm.pdf(x, -3, sd) + 0.5 * stats.norm.pdf(x, 3, sd)

    wide = lambda extra_var: normal_pdf(0, math.sqrt(9 + extra_var))  # noqa: E731
    before = tv_quadrature(bimodal(0), wide(0))
    assert before > 0.2
    for bandwidth in (0.5, 2.0):
        after = tv_quadrature(bimodal(bandwidth**2), wide(bandwidth**2))
        assert after <= float(get_lemma("T3").evaluate(TV=before)) + 1e-12
        assert after < before


def test_t3_numeric_random_markov_kernels():
    rng = np.random.default_rng(3)
    P, Q = random_simplex(rng, 6, 500), random_simplex(rng, 6, 500)
    kernels = rng.exponential(size=(500, 6, 6))
    kernels /= kernels.sum(axis=1, keepdims=True)  # column y is k(. | y)
    out_p = np.einsum("nxy,ny->nx", kernels, P)
    out_q = np.einsum("nxy,ny->nx", kernels, Q)
    before = 0.5 * np.abs(P - Q).sum(axis=1)
    after = 0.5 * np.abs(out_p - out_q).sum(axis=1)
    assert np.all(after <= before + 1e-15)
    assert np.all(after < before)  # strictly, for these fully mixing kernels


# --- T4 ------------------------------------------------------------------------------------------
def _binary_kl(a, b):
    return special.xlogy(a, a / b) + special.xlogy(1 - a, (1 - a) / (1 - b))


def test_t4_step1_scheffe_identity():
    rng = np.random.default_rng(4)
    P, Q = random_simplex(rng, 9, 2000), random_simplex(rng, 9, 2000)
    half_l1 = 0.5 * np.abs(P - Q).sum(axis=1)
    on_a = np.where(P > Q, P - Q, 0.0).sum(axis=1)
    assert np.max(np.abs(half_l1 - on_a)) < 1e-15


def test_t4_step2_log_sum_convexity():
    x = sp.Symbol("x", positive=True)
    assert sp.simplify(sp.diff(x * sp.log(x), x, 2) - 1 / x) == 0
    rng = np.random.default_rng(5)
    P, Q = random_simplex(rng, 9, 2000), random_simplex(rng, 9, 2000)
    kl_full = np.sum(P * np.log(P / Q), axis=1)
    a, b = np.where(P > Q, P, 0).sum(axis=1), np.where(P > Q, Q, 0).sum(axis=1)
    assert np.all(kl_full >= _binary_kl(a, b) - 1e-14)


def test_t4_step3_two_point_inequality():
    a = sp.Symbol("a", positive=True)
    b = sp.Symbol("b", positive=True)
    kl2 = a * sp.log(a / b) + (1 - a) * sp.log((1 - a) / (1 - b))
    g = kl2 - 2 * (a - b) ** 2
    assert sp.simplify(g.subs(b, a)) == 0
    factored = (b - a) * (1 - 2 * b) ** 2 / (b * (1 - b))
    assert sp.simplify(sp.diff(g, b) - factored) == 0
    assert sp.expand(1 - 4 * b * (1 - b) - (1 - 2 * b) ** 2) == 0
    grid = np.linspace(0.001, 0.999, 400)
    A, Bv = np.meshgrid(grid, grid)
    assert np.min(_binary_kl(A, Bv) - 2 * (A - Bv) ** 2) > -1e-12


def test_t4_numeric_gaussians():
    lemma = get_lemma("T4")
    pairs = [(0, 1, 0.3, 1), (0, 1, 1, 1), (0, 1, 0, 1.5), (0, 1, 0.5, 0.7), (-1, 2, 1, 1)]
    for m1, sd1, m2, sd2 in pairs:
        kl_value = gaussian_kl(m1, sd1, m2, sd2)
        tv_value = tv_quadrature(normal_pdf(m1, sd1), normal_pdf(m2, sd2))
        assert tv_value <= float(lemma.evaluate(KL=kl_value))
    # mean shift 0.3, unit variances: TV = 2 Phi(0.15) - 1 and KL = 0.045 (closed forms)
    assert tv_quadrature(normal_pdf(0, 1), normal_pdf(0.3, 1)) == pytest.approx(
        2 * stats.norm.cdf(0.15) - 1, abs=1e-10)
    assert float(lemma.evaluate(KL=0.045)) == pytest.approx(0.15, abs=1e-15)


def test_t4_constant_is_sharp():
    lemma = get_lemma("T4")
    ratios = []
    for e in (0.1, 0.02, 0.005):
        kl_value = float(_binary_kl(0.5 + e, 0.5))
        ratios.append(e / float(lemma.evaluate(KL=kl_value)))
    assert all(r <= 1 for r in ratios)
    assert ratios == sorted(ratios)
    assert ratios[-1] > 0.9999


# --- T4p -----------------------------------------------------------------------------------------
def test_t4p_step1_min_max_product():
    u, w = sp.symbols("u w", nonnegative=True)
    for p, q in ((u + w, u), (u, u + w)):  # p >= q, then p <= q
        assert sp.simplify(sp.Min(p, q) * sp.Max(p, q) - p * q) == 0


def test_t4p_step3_min_max_integrals():
    u, w = sp.symbols("u w", nonnegative=True)
    for p, q in ((u + w, u), (u, u + w)):
        assert sp.simplify(sp.Min(p, q) - (p + q - sp.Abs(p - q)) / 2) == 0
        assert sp.simplify(sp.Max(p, q) - (p + q + sp.Abs(p - q)) / 2) == 0
    # integrals: int p = int q = 1 and int |p - q| = 2 TV
    int_min = (1 + 1 - 2 * tv) / 2
    int_max = (1 + 1 + 2 * tv) / 2
    assert sp.expand(int_min * int_max - (1 - tv**2)) == 0
    # numeric Le Cam: TV^2 <= 1 - BC^2 on random discrete pairs
    rng = np.random.default_rng(6)
    P, Q = random_simplex(rng, 8, 2000), random_simplex(rng, 8, 2000)
    tv_ = 0.5 * np.abs(P - Q).sum(axis=1)
    bc = np.sqrt(P * Q).sum(axis=1)
    assert np.all(tv_**2 <= 1 - bc**2 + 1e-15)


def test_t4p_step4_jensen():
    x = sp.Symbol("x", real=True)
    assert sp.simplify(sp.exp(-kl / 2) ** 2 - sp.exp(-kl)) == 0
    assert sp.diff(sp.exp(x), x, 2).is_positive
    rng = np.random.default_rng(7)
    P, Q = random_simplex(rng, 8, 2000), random_simplex(rng, 8, 2000)
    bc = np.sqrt(P * Q).sum(axis=1)
    kl_full = np.sum(P * np.log(P / Q), axis=1)
    assert np.all(bc >= np.exp(-kl_full / 2) - 1e-15)
    tv_ = 0.5 * np.abs(P - Q).sum(axis=1)
    bounds = np.array([float(get_lemma("T4p").evaluate(KL=v)) for v in kl_full])
    assert np.all(tv_ <= bounds + 1e-15)


def test_t4p_crossover():
    k = sp.Symbol("k", nonnegative=True)
    g = (1 - sp.exp(-k)) - k / 2
    assert g.subs(k, 0) == 0
    assert sp.simplify(sp.diff(g, k) - (sp.exp(-k) - sp.Rational(1, 2))) == 0
    assert sp.simplify(sp.diff(g, k, 2) + sp.exp(-k)) == 0
    # root: k = 2 + w with w e^w = x := -2 e^-2, i.e. e^-w = w / x (definition of Lambert W)
    w = sp.Symbol("w")
    x = -2 * sp.exp(-2)
    root_equation = sp.expand(sp.exp(-(2 + w)) - (1 - (2 + w) / 2))
    assert sp.simplify(root_equation.subs(sp.exp(-w), w / x)) == 0
    for branch, expected in ((0, 1.5936242600400401), (-1, 0.0)):
        W = sp.LambertW(x, branch)
        assert abs(sp.N(W * sp.exp(W) - x, 40)) < 1e-35
        assert float(sp.N(2 + W, 30)) == pytest.approx(expected, abs=1e-15)
    # the same statement through the difference of the registered right sides (squared)
    t4, t4p = get_lemma("T4").rhs, get_lemma("T4p").rhs
    assert sp.simplify((t4p**2 - t4**2) - g.subs(k, kl)) == 0
    root = float(mpmath.findroot(lambda v: 1 - mpmath.exp(-v) - v / 2, 1.5))
    via_scipy = float(2 + special.lambertw(-2 * math.exp(-2), 0).real)
    assert root == pytest.approx(via_scipy, abs=1e-12)
    assert divergence.PINSKER_BH_CROSSOVER == pytest.approx(root, abs=1e-12)
    assert root == pytest.approx(1.5936243, abs=1e-7)
    at_root = float(get_lemma("T4").evaluate(KL=root))
    assert at_root == pytest.approx(float(get_lemma("T4p").evaluate(KL=root)), abs=1e-12)
    assert at_root == pytest.approx(0.8926, abs=1e-4)
    # g > 0 below the root (Pinsker smaller), < 0 above (Bretagnolle-Huber smaller)
    below, above = root - 1e-3, root + 1e-3
    assert float(get_lemma("T4").evaluate(KL=below)) < float(get_lemma("T4p").evaluate(KL=below))
    assert float(get_lemma("T4p").evaluate(KL=above)) < float(get_lemma("T4").evaluate(KL=above))
    assert divergence.tv_bound_from_kl(below) == get_lemma("T4").evaluate(KL=below)
    assert divergence.tv_bound_from_kl(above) == get_lemma("T4p").evaluate(KL=above)
    grid = np.linspace(1e-3, 20, 2000)
    sign = np.sign(1 - np.exp(-grid) - grid / 2)
    assert np.all(sign[grid < root - 1e-9] > 0) and np.all(sign[grid > root + 1e-9] < 0)
    assert float(divergence.tv_bound_from_kl(1e6)) <= 1.0


def test_t4p_numeric_gaussians():
    lemma = get_lemma("T4p")
    kl_value = gaussian_kl(0, 1, 3, 1)
    assert kl_value == pytest.approx(4.5)
    tv_value = tv_quadrature(normal_pdf(0, 1), normal_pdf(3, 1))
    assert tv_value == pytest.approx(2 * stats.norm.cdf(1.5) - 1, abs=1e-10)
    assert tv_value == pytest.approx(0.8664, abs=1e-4)
    assert float(lemma.evaluate(KL=kl_value)) == pytest.approx(math.sqrt(-math.expm1(-4.5)), rel=1e-14)
    assert float(lemma.evaluate(KL=kl_value)) == pytest.approx(0.99443, abs=1e-5)
    assert float(get_lemma("T4").evaluate(KL=kl_value)) == pytest.approx(1.5)
    assert tv_value <= float(lemma.evaluate(KL=kl_value))
    for m1, sd1, m2, sd2 in [(0, 1, 2, 1), (0, 1, 0, 4), (0, 0.3, 1, 1), (0, 1, 0.2, 1.1)]:
        kl_value = gaussian_kl(m1, sd1, m2, sd2)
        assert tv_quadrature(normal_pdf(m1, sd1), normal_pdf(m2, sd2)) <= float(lemma.evaluate(KL=kl_value))


# --- GTV -----------------------------------------------------------------------------------------
X = sp.Symbol("x", real=True)


def _log_normal_pdf(sd):
    return -X**2 / (2 * sd**2) - sp.log(sd) - sp.log(2 * sp.pi) / 2


def test_gtv_step1_log_ratio():
    ratio = _log_normal_pdf(s1) - _log_normal_pdf(s2)
    claimed = sp.log(s2 / s1) - X**2 / 2 * (1 / s1**2 - 1 / s2**2)
    assert sp.simplify(sp.expand_log(ratio - claimed, force=True)) == 0


def test_gtv_step2_crossing_point():
    x0 = s1 * s2 * sp.sqrt(2 * sp.log(s2 / s1) / (s2**2 - s1**2))
    ratio = sp.log(s2 / s1) - X**2 / 2 * (1 / s1**2 - 1 / s2**2)
    assert sp.simplify(ratio.subs(X, x0)) == 0
    y = sp.Symbol("y", positive=True)  # y = x^2
    as_function_of_square = ratio.subs(X, sp.sqrt(y))
    assert sp.simplify(sp.diff(as_function_of_square, y) + (1 / s1**2 - 1 / s2**2) / 2) == 0
    assert sp.simplify(divergence._GTV_X0 - x0) == 0


def test_gtv_step4_interval_probability():
    sd, bound = sp.symbols("sd bound", positive=True)
    density = sp.exp(-X**2 / (2 * sd**2)) / (sp.sqrt(2 * sp.pi) * sd)
    mass = sp.integrate(density, (X, -bound, bound))
    assert sp.simplify(mass - sp.erf(bound / (sp.sqrt(2) * sd))) == 0
    a, b = sp.symbols("a b", positive=True)
    Phi = lambda z: (1 + sp.erf(z / sp.sqrt(2))) / 2  # noqa: E731
    assert sp.simplify(2 * (Phi(a) - Phi(b)) - (sp.erf(a / sp.sqrt(2)) - sp.erf(b / sp.sqrt(2)))) == 0
    x0 = divergence._GTV_X0
    assert sp.simplify(get_lemma("GTV").rhs - 2 * (Phi(x0 / s1) - Phi(x0 / s2))) == 0


def test_gtv_step5_scale_invariance_and_ratio_two():
    c = sp.Symbol("c", positive=True)
    rhs = get_lemma("GTV").rhs
    assert sp.simplify(rhs.subs({s1: c * s1, s2: c * s2}, simultaneous=True) - rhs) == 0
    at_ratio_two = sp.simplify(rhs.subs(s2, 2 * s1))
    assert s1 not in at_ratio_two.free_symbols
    z = math.sqrt(2 * math.log(2) / 3)
    expected = 2 * (stats.norm.cdf(2 * z) - stats.norm.cdf(z))
    assert float(at_ratio_two) == pytest.approx(expected, abs=1e-14)
    assert float(get_lemma("GTV").evaluate(sigma_1=3.7, sigma_2=7.4)) == pytest.approx(0.3226746, abs=5e-8)


@pytest.mark.parametrize("sd1,sd2", [(1, 2), (0.5, 0.6), (1, 10), (2, 3.3), (1, 1.001), (0.01, 0.03)])
def test_gtv_numeric_quadrature(sd1, sd2):
    lemma = get_lemma("GTV")
    got = float(lemma.evaluate(sigma_1=sd1, sigma_2=sd2))
    scale = max(sd1, sd2)
    quad = tv_quadrature(normal_pdf(0, sd1), normal_pdf(0, sd2), lo=-40 * scale, hi=40 * scale)
    assert got == pytest.approx(quad, abs=1e-9)
    x0 = sd1 * sd2 * math.sqrt(2 * math.log(sd2 / sd1) / (sd2**2 - sd1**2))
    assert got == pytest.approx(2 * (stats.norm.cdf(x0 / sd1) - stats.norm.cdf(x0 / sd2)), abs=1e-12)
    function, names = numpy_rhs(lemma)
    values = {"sigma_1": sd1, "sigma_2": sd2}
    assert got == pytest.approx(float(function(*[values[n] for n in names])), abs=1e-9)


def test_gtv_order_and_equal_scales():
    lemma = get_lemma("GTV")
    assert lemma.evaluate(sigma_1=2, sigma_2=1) == lemma.evaluate(sigma_1=1, sigma_2=2)
    assert lemma.evaluate(sigma_1=1.5, sigma_2=1.5) == 0
    # continuity at equal scales: tiny ratios give tiny TV (mpmath keeps the 0/0 form accurate)
    tiny = float(lemma.evaluate(sigma_1=1, sigma_2=1 + 1e-9))
    assert 0 < tiny < 1e-9
