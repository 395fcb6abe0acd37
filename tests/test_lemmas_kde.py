"""Tests of the KDE lemmas K1, K1', K2, K3, K4 and of ``expected_training_mixtures``.

Every algebraic step of ``derivations/K*.md`` is checked with sympy; every numeric claim against an
independent reference (scipy quadrature, a closed form, or a seeded numpy Monte Carlo with a stated
tolerance).  The Monte Carlo loops below are a second implementation of the self-consuming KDE loop,
driven only by the scheme's blocks.
"""

from __future__ import annotations

import math
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import integrate, optimize, stats

import boundcalc.theory.notation as S
from boundcalc._checks import BoundcalcError
from boundcalc.theory.catalogue import get_lemma
from boundcalc.model.kde_law import expected_training_mixtures
from boundcalc.theory.kde import optimal_bandwidth_expr
from boundcalc.model.schemes import make_scheme
from boundcalc.model.targets import GaussianMixture, bimodal, normal

ROOT = Path(__file__).resolve().parents[1]
IDS = ("K1", "K1p", "K2", "K3", "K4")
PHI1 = math.exp(-0.5) / math.sqrt(2 * math.pi)  # standard normal density at 1


def _log(e):
    return sp.expand_log(sp.log(e), force=True)


# ------------------------------------------------------------------------------------------------
# metadata: provenance, derivation file, Statement block, symbols
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lemma_id", IDS)
def test_evaluate_agrees_with_numpy_lambdify(lemma_id):
    lemma = get_lemma(lemma_id)
    rng = np.random.default_rng(7)
    symbols = lemma.free_symbols
    for _ in range(5):
        values = {}
        for sym in symbols:
            if sym.name == "d":
                values["d"] = int(rng.integers(1, 4))
            elif sym.name in ("N", "i"):
                values[sym.name] = int(rng.integers(1, 5000))
            else:
                values[sym.name] = float(rng.uniform(0.1, 3.0))
        f = sp.lambdify(symbols, lemma.rhs, modules="numpy")
        expected = float(f(*[values[s.name] for s in symbols]))
        got = lemma.evaluate(**values)
        assert isinstance(got, mpmath.mpf)
        assert float(got) == pytest.approx(expected, rel=1e-12)


def test_evaluate_extreme_sizes_stay_finite():
    k2 = get_lemma("K2").evaluate(N=1e15, h=1e-3, d=1, J=3.0)
    assert mpmath.isfinite(k2) and 0 < k2 < 1e-5
    h_star = get_lemma("K3").evaluate(A=1, B=1, beta=2, d=1, N=1e15)
    assert float(h_star) == pytest.approx(0.25 ** 0.4 * 1e-3, rel=1e-12)


# ------------------------------------------------------------------------------------------------
# K1
# ------------------------------------------------------------------------------------------------
def test_k1_heat_kernel_equation():
    """Step 1: d g_s/ds = (1/2) Laplacian g_s for g_s = N(0, s I), d = 1 and d = 2."""
    x, y, s = sp.symbols("x y s_time", positive=True)
    g1 = sp.exp(-x ** 2 / (2 * s)) / sp.sqrt(2 * sp.pi * s)
    assert sp.simplify(sp.diff(g1, s) - sp.diff(g1, x, 2) / 2) == 0
    g2 = sp.exp(-(x ** 2 + y ** 2) / (2 * s)) / (2 * sp.pi * s)
    assert sp.simplify(sp.diff(g2, s) - (sp.diff(g2, x, 2) + sp.diff(g2, y, 2)) / 2) == 0


def test_k1_time_integral():
    """Step 4: (1/2) int_0^{h^2} Lambda ds = (h^2/2) Lambda, the lemma's rhs."""
    s = sp.Symbol("s_time", positive=True)
    integral = sp.integrate(S.lap / 2, (s, 0, S.h ** 2))
    assert sp.simplify(integral - get_lemma("K1").rhs) == 0


def test_k1_laplacian_l1_closed_form():
    """Step 5: ||p''||_1 = 4 phi(1) for p = N(0, 1), by sympy, and the targets module agrees."""
    x = sp.Symbol("x", real=True)
    phi = sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi)
    second = sp.diff(phi, x, 2)
    assert sp.simplify(second - (x ** 2 - 1) * phi) == 0
    assert sp.simplify(sp.integrate((x ** 2 - 1) * phi, (x, -sp.oo, sp.oo))) == 0
    inner = sp.integrate((1 - x ** 2) * phi, (x, -1, 1))
    assert sp.simplify(inner - 2 * phi.subs(x, 1)) == 0
    total = 2 * inner  # outer part equals the inner part since the whole integral is 0
    assert float(total) == pytest.approx(4 * PHI1, rel=1e-14)
    assert normal().laplacian_l1() == pytest.approx(4 * PHI1, rel=1e-12)
    assert normal(sigma=2.0).laplacian_l1() == pytest.approx(PHI1, rel=1e-12)  # 4 phi(1)/s^2


def test_k1_numeric_gaussian():
    h = 0.05
    exact, _ = integrate.quad(lambda v: abs(stats.norm.pdf(v, scale=math.sqrt(1 + h * h)) - stats.norm.pdf(v)),
                              -np.inf, np.inf, limit=400, epsabs=1e-14)
    assert exact == pytest.approx(0.0012083, abs=1e-7)
    bound = float(get_lemma("K1").evaluate(h=h, Lambda=4 * PHI1))
    assert bound == pytest.approx(0.0012099, abs=1e-7)
    assert exact <= bound


def test_k1_numeric_bimodal():
    """Bimodal target, h = 0.3: quadrature of the exact smoothing error and of ||p''||_1."""
    h = 0.3

    def dens(v, s2):
        return 0.5 * (stats.norm.pdf(v, -3, math.sqrt(s2)) + stats.norm.pdf(v, 3, math.sqrt(s2)))

    def second(v):
        return 0.5 * sum(((v - mu) ** 2 - 1) * stats.norm.pdf(v, mu) for mu in (-3, 3))

    pts = [-4, -3, -2, 0, 2, 3, 4]
    lap, _ = integrate.quad(lambda v: abs(second(v)), -15, 15, points=pts, limit=400)
    assert bimodal().laplacian_l1() == pytest.approx(lap, rel=1e-6)
    exact, _ = integrate.quad(lambda v: abs(dens(v, 1 + h * h) - dens(v, 1)), -15, 15, points=pts, limit=400)
    bound = float(get_lemma("K1").evaluate(h=h, Lambda=lap))
    assert exact <= bound
    assert exact >= 0.9 * bound  # near-tight for small h


# ------------------------------------------------------------------------------------------------
# K1'
# ------------------------------------------------------------------------------------------------
def test_k1p_taylor_weights():
    """Step 3: int_0^1 (1-t)^(ell-1) dt / (ell-1)! = 1/ell!."""
    t = sp.Symbol("t_taylor", positive=True)
    for ell in range(1, 6):
        value = sp.integrate((1 - t) ** (ell - 1), (t, 0, 1)) / sp.factorial(ell - 1)
        assert sp.simplify(value - 1 / sp.factorial(ell)) == 0


def test_k1p_beta_constant():
    """Steps 4-5: c = int (1-t)^(ell-1) t^(beta-ell) dt/(ell-1)! = Gamma(beta-ell+1)/Gamma(beta+1) < 1."""
    t = sp.Symbol("t_taylor", positive=True)
    for ell in (1, 2, 3):
        b = sp.Symbol("b", positive=True)  # beta = ell + b, b in (0, 1]
        beta_val = ell + b
        c = sp.integrate((1 - t) ** (ell - 1) * t ** (beta_val - ell), (t, 0, 1)) / sp.factorial(ell - 1)
        closed = sp.gamma(beta_val - ell + 1) / sp.gamma(beta_val + 1)
        assert sp.simplify(sp.gammasimp(c - closed)) == 0
        product = sp.Mul(*[beta_val - j for j in range(ell)])
        assert sp.simplify(sp.gammasimp(closed * product) - 1) == 0
        for bv in np.linspace(0.01, 1.0, 25):
            assert float(closed.subs(b, bv)) < 1.0
    # the Gaussian kernel at beta = 2 (ell = 1) gives K1's constant 1/2
    assert sp.gamma(2) / sp.gamma(3) == sp.Rational(1, 2)


def _gaussian_abs_moment(beta_value):
    return 2 ** (beta_value / 2) * math.gamma((beta_value + 1) / 2) / math.sqrt(math.pi)


def test_k1p_kernel_moment_closed_form():
    for beta_value in (0.5, 1.0, 2.0, 3.0):
        quad, _ = integrate.quad(lambda u: abs(u) ** beta_value * stats.norm.pdf(u), -np.inf, np.inf)
        assert _gaussian_abs_moment(beta_value) == pytest.approx(quad, rel=1e-9)


@pytest.mark.parametrize("h", [0.05, 0.3])
def test_k1p_numeric_uniform(h):
    """Uniform[0,1] (beta = 1, L = 2), Gaussian kernel: the exact error is below 2 h E|Z| and close to it."""
    def error(v):
        smooth = stats.norm.cdf(v / h) - stats.norm.cdf((v - 1) / h)
        return abs(smooth - (1.0 if 0 <= v <= 1 else 0.0))

    exact = sum(integrate.quad(error, a, b, limit=400, epsabs=1e-13)[0]
                for a, b in ((-12 * h, 0), (0, 1), (1, 1 + 12 * h)))
    # the Nikol'skii constant: ||p(. + t) - p||_1 = 2 |t| for |t| <= 1
    for shift in (0.01, 0.3, 1.0):
        shifted, _ = integrate.quad(lambda v: abs(float(0 <= v + shift <= 1) - float(0 <= v <= 1)),
                                    -2, 3, points=[-shift, 1 - shift, 0, 1], limit=200)
        assert shifted == pytest.approx(2 * shift, rel=1e-8)
    bound = float(get_lemma("K1p").evaluate(L=2, h=h, beta=1, kappa=_gaussian_abs_moment(1.0)))
    assert bound == pytest.approx(2 * h * math.sqrt(2 / math.pi), rel=1e-12)
    assert exact <= bound * (1 + 1e-9)
    assert exact >= 0.5 * bound


def test_k1p_numeric_gaussian():
    """N(0,1), beta = 2, ell = 1: L = ||p''||_1 = 4 phi(1), kappa = E Z^2 = 1."""
    h = 0.05
    exact, _ = integrate.quad(lambda v: abs(stats.norm.pdf(v, scale=math.sqrt(1 + h * h)) - stats.norm.pdf(v)),
                              -np.inf, np.inf, limit=400, epsabs=1e-14)
    bound = float(get_lemma("K1p").evaluate(L=4 * PHI1, h=h, beta=2, kappa=1.0))
    assert exact <= bound
    assert bound == pytest.approx(2 * float(get_lemma("K1").evaluate(h=h, Lambda=4 * PHI1)), rel=1e-12)


# ------------------------------------------------------------------------------------------------
# K2
# ------------------------------------------------------------------------------------------------
def test_k2_kernel_square_identity():
    """Step 3: phi_h^2 = (4 pi)^(-d/2) h^-d phi_{h/sqrt 2}, symbolic d and explicit d = 1, 2, 3."""
    r = sp.Symbol("r_norm", positive=True)
    d, h = S.d, S.h

    def phi_radial(width, dim):
        return (2 * sp.pi * width ** 2) ** (-dim / 2) * sp.exp(-r ** 2 / (2 * width ** 2))

    diff = phi_radial(h, d) ** 2 - (4 * sp.pi) ** (-d / 2) * h ** (-d) * phi_radial(h / sp.sqrt(2), d)
    assert sp.simplify(sp.powsimp(sp.expand_power_base(diff, force=True), force=True)) == 0
    coords = sp.symbols("u1 u2 u3", real=True)
    for dim in (1, 2, 3):
        def phi(width):
            return sp.Mul(*[sp.exp(-c ** 2 / (2 * width ** 2)) / sp.sqrt(2 * sp.pi * width ** 2)
                            for c in coords[:dim]])
        lhs = phi(h) ** 2
        rhs = (4 * sp.pi) ** sp.Rational(-dim, 2) * h ** (-dim) * phi(h / sp.sqrt(2))
        assert sp.simplify(lhs - rhs) == 0


def test_k2_constant_collection():
    """Step 5: sqrt((1/N)(4 pi)^(-d/2) h^-d G) = (4 pi)^(-d/4) (N h^d)^(-1/2) sqrt(G)."""
    G = sp.Symbol("G", positive=True)
    lhs = sp.sqrt((4 * sp.pi) ** (-S.d / 2) * S.h ** (-S.d) * G / S.N)
    rhs = get_lemma("K2").rhs.subs(S.J, sp.sqrt(G))
    assert sp.simplify(_log(lhs) - _log(rhs)) == 0


def test_k2_sqrt_integral_closed_form():
    """Step 7: int sqrt(N(mu, v) density) = (8 pi v)^(1/4); GaussianMixture.k2_integral agrees."""
    x = sp.Symbol("x", real=True)
    mu = sp.Symbol("mu", real=True)
    v = sp.Symbol("v", positive=True)
    dens = sp.exp(-(x - mu) ** 2 / (2 * v)) / sp.sqrt(2 * sp.pi * v)
    value = sp.integrate(sp.sqrt(dens), (x, -sp.oo, sp.oo))
    assert sp.simplify(_log(value) - _log((8 * sp.pi * v) ** sp.Rational(1, 4))) == 0
    for sigma, h in ((1.0, 0.2), (2.5, 0.7)):
        closed = (8 * math.pi * (sigma ** 2 + h * h / 2)) ** 0.25
        assert normal(mu=1.0, sigma=sigma).k2_integral(h) == pytest.approx(closed, rel=1e-12)
    # a mixture: quadrature of the explicit formula (independent of the targets module)
    h = 0.3
    v_mix = 1 + h * h / 2
    quad, _ = integrate.quad(lambda t: math.sqrt(0.5 * stats.norm.pdf(t, -3, math.sqrt(v_mix))
                                                 + 0.5 * stats.norm.pdf(t, 3, math.sqrt(v_mix))),
                             -20, 20, points=[-3, 0, 3], limit=400)
    assert bimodal().k2_integral(h) == pytest.approx(quad, rel=1e-7)


def test_k2_moment_closure():
    """Step 6: int dx/(1+x^2) = pi, and int sqrt(g) <= sqrt(pi (1 + E_g X^2)) on examples."""
    x = sp.Symbol("x", real=True)
    assert sp.integrate(1 / (1 + x ** 2), (x, -sp.oo, sp.oo)) == sp.pi
    h = 0.2
    for target in (normal(), normal(mu=2.0, sigma=0.5), bimodal()):
        smoothed = target.convolve(h / math.sqrt(2))
        assert target.k2_integral(h) <= math.sqrt(math.pi * (1 + smoothed.second_moment()))
        assert target.k2_moment_bound(h) == pytest.approx(math.sqrt(math.pi * (1 + smoothed.second_moment())))


def _kde_on_grid(samples, grid, h):
    z = (grid[:, None] - samples[None, :]) / h
    return np.exp(-0.5 * z * z).sum(axis=1) / (samples.size * h * math.sqrt(2 * math.pi))


def test_k2_monte_carlo_gaussian():
    """p0 = N(0,1), N = 2000, h = 0.2: MC mean of ||f_hat - E f_hat||_1 about 0.0442, bound 0.0598.

    Tolerance: 4 Monte-Carlo standard errors (80 replications, seed 2024)."""
    n_samples, h, reps = 2000, 0.2, 80
    grid = np.linspace(-6, 6, 601)
    dx = grid[1] - grid[0]
    mean_density = stats.norm.pdf(grid, scale=math.sqrt(1 + h * h))  # E f_hat = p0 * phi_h exactly
    rng = np.random.default_rng(2024)
    errors = np.array([np.abs(_kde_on_grid(rng.standard_normal(n_samples), grid, h) - mean_density).sum() * dx
                       for _ in range(reps)])
    mc_mean, mc_se = errors.mean(), errors.std(ddof=1) / math.sqrt(reps)
    j_value = (8 * math.pi * (1 + h * h / 2)) ** 0.25
    bound = float(get_lemma("K2").evaluate(N=n_samples, h=h, d=1, J=j_value))
    assert bound == pytest.approx(0.0598, abs=1e-4)
    assert abs(mc_mean - 0.0442) < 4 * mc_se
    assert mc_mean + 4 * mc_se < bound


def test_k2_monte_carlo_non_identical():
    """Independent but not identically distributed samples: half N(-3,1), half N(3,1)."""
    n_samples, h, reps = 400, 0.3, 60
    grid = np.linspace(-9, 9, 601)
    dx = grid[1] - grid[0]
    s = math.sqrt(1 + h * h)
    mean_density = 0.5 * (stats.norm.pdf(grid, -3, s) + stats.norm.pdf(grid, 3, s))
    rng = np.random.default_rng(11)
    half = n_samples // 2
    errors = []
    for _ in range(reps):
        samples = np.concatenate([rng.normal(-3, 1, half), rng.normal(3, 1, half)])
        errors.append(np.abs(_kde_on_grid(samples, grid, h) - mean_density).sum() * dx)
    errors = np.array(errors)
    bound = float(get_lemma("K2").evaluate(N=n_samples, h=h, d=1, J=bimodal().k2_integral(h)))
    assert errors.mean() + 4 * errors.std(ddof=1) / math.sqrt(reps) < bound


# ------------------------------------------------------------------------------------------------
# K3
# ------------------------------------------------------------------------------------------------
_HV = sp.Symbol("h_var", positive=True)


def _k3_terms():
    return S.A * _HV ** S.beta, S.B * (S.N * _HV ** S.d) ** sp.Rational(-1, 2)


def test_k3_rhs_is_stated_minimiser():
    assert sp.simplify(get_lemma("K3").rhs - optimal_bandwidth_expr()) == 0


def test_k3_stationary_point():
    """Steps 1-2: f'(h) = beta A h^(beta-1) - (d/2) B N^(-1/2) h^(-d/2-1), zero at h*."""
    bias, stoch = _k3_terms()
    f = bias + stoch
    derivative = S.beta * S.A * _HV ** (S.beta - 1) - S.d / 2 * S.B * S.N ** sp.Rational(-1, 2) * _HV ** (-S.d / 2 - 1)
    assert sp.simplify(sp.diff(f, _HV) - derivative) == 0
    h_star = get_lemma("K3").rhs
    positive_part = (S.beta * S.A * _HV ** (S.beta - 1)).subs(_HV, h_star)
    negative_part = (S.d / 2 * S.B * S.N ** sp.Rational(-1, 2) * _HV ** (-S.d / 2 - 1)).subs(_HV, h_star)
    assert sp.simplify(_log(positive_part) - _log(negative_part)) == 0


def test_k3_second_derivative():
    """Step 3: f''(h*) > 0 (symbolic for beta, d in {1, 2}; numeric at random parameters)."""
    bias, stoch = _k3_terms()
    f = bias + stoch
    h_star = get_lemma("K3").rhs
    for beta_value in (1, 2):
        for d_value in (1, 2):
            sub = {S.beta: beta_value, S.d: d_value}
            second = sp.diff(f.subs(sub), _HV, 2).subs(_HV, h_star.subs(sub))
            assert sp.simplify(second).is_positive
    rng = np.random.default_rng(3)
    f_num = sp.lambdify([_HV, S.A, S.B, S.beta, S.d, S.N], sp.diff(f, _HV, 2), "numpy")
    h_num = sp.lambdify([S.A, S.B, S.beta, S.d, S.N], h_star, "numpy")
    for _ in range(20):
        a, b, be, dd, n = rng.uniform(0.1, 5), rng.uniform(0.1, 5), rng.uniform(0.5, 4), int(rng.integers(1, 6)), 10 ** rng.uniform(1, 8)
        assert f_num(h_num(a, b, be, dd, n), a, b, be, dd, n) > 0


def test_k3_rate_exponent():
    """Step 4: at h* the stochastic term is (2 beta/d) times the bias term, and f(h*) ~ N^(-beta/(2 beta + d))."""
    bias, stoch = _k3_terms()
    h_star = get_lemma("K3").rhs
    assert sp.simplify(_log(stoch.subs(_HV, h_star)) - _log(bias.subs(_HV, h_star)) - _log(2 * S.beta / S.d)) == 0
    exponent = sp.simplify(S.N * sp.diff(_log(bias.subs(_HV, h_star)), S.N))
    assert sp.simplify(exponent + S.beta / (2 * S.beta + S.d)) == 0
    assert exponent.subs({S.beta: 2, S.d: 1}) == sp.Rational(-2, 5)


def test_k3_numeric_minimum():
    a, b, be, dd, n = 1.0, 1.0, 2.0, 1, 1000
    h_star = float(get_lemma("K3").evaluate(A=a, B=b, beta=be, d=dd, N=n))
    assert h_star == pytest.approx(0.25 ** 0.4 * 1000 ** -0.2, rel=1e-12)
    assert h_star == pytest.approx(0.14427, abs=1e-5)
    res = optimize.minimize_scalar(lambda x: a * x ** be + b * (n * x ** dd) ** -0.5, bounds=(1e-4, 2),
                                   method="bounded", options={"xatol": 1e-10})
    assert res.x == pytest.approx(h_star, abs=1e-6)


# ------------------------------------------------------------------------------------------------
# K4
# ------------------------------------------------------------------------------------------------
def test_k4_replace_variance_induction():
    """Step 3: Gaussian convolution adds variances (characteristic functions), induction on i."""
    w, mu = sp.symbols("w_freq mu", real=True)
    v = sp.Symbol("v", positive=True)
    char = sp.exp(sp.I * w * mu - v * w ** 2 / 2) * sp.exp(-S.h ** 2 * w ** 2 / 2)
    assert sp.simplify(char - sp.exp(sp.I * w * mu - (v + S.h ** 2) * w ** 2 / 2)) == 0
    rhs = get_lemma("K4").rhs
    assert sp.simplify(rhs.subs(S.i, 1) - (S.s1 ** 2 + S.h ** 2)) == 0
    assert sp.simplify(rhs - (rhs.subs(S.i, S.i - 1) + S.h ** 2)) == 0


def test_k4_constant_lambda_weights():
    """Steps 4-5: w_k^(i) = lam [k=1] + (1-lam) w_{k-1}^(i-1); weights sum to 1; the geometric limit."""
    lam, k, gen = S.lam, sp.Symbol("k", positive=True, integer=True), S.i

    def weight(kk, ii):  # closed form for 1 <= kk <= ii
        return sp.Piecewise((lam * (1 - lam) ** (kk - 1), kk < ii), ((1 - lam) ** (ii - 1), True))

    for ii in range(2, 9):
        for kk in range(1, ii + 1):
            recursed = (lam if kk == 1 else 0) + (1 - lam) * (weight(kk - 1, ii - 1) if kk >= 2 else 0)
            assert sp.simplify(weight(kk, ii) - recursed) == 0
    x = sp.Symbol("x_keep", positive=True)  # x = 1 - lam
    total = sp.summation((1 - x) * x ** (k - 1), (k, 1, gen - 1)) + x ** (gen - 1)
    assert sp.simplify(total - 1) == 0
    y = sp.Symbol("y_odds", positive=True)  # 1 - lam = 1/(1 + y) covers lam in (0, 1)
    limit_sum = sp.summation((1 - 1 / (1 + y)) * (1 + y) ** (1 - k), (k, 1, sp.oo))
    assert sp.simplify(limit_sum - 1) == 0
    assert sp.limit(sp.Rational(3, 4) ** gen, gen, sp.oo) == 0  # the last weight vanishes


def test_k4_expected_laws_replace_match_lemma():
    target = normal(mu=1.5, sigma=2.0)
    h = 0.4
    laws = expected_training_mixtures(target, make_scheme("replace", 50), h, 6)
    assert len(laws) == 6
    for gen, law in enumerate(laws, start=1):
        assert isinstance(law, GaussianMixture) and law.n_components == 1
        assert law.means[0, 0] == pytest.approx(1.5)
        variance = float(get_lemma("K4").evaluate(sigma_1=2.0, i=gen, h=h))
        assert law.scales[0, 0] ** 2 == pytest.approx(variance, rel=1e-12)


def _mixture_moment_recursion(scheme, m0, h, generations):
    """Second moments M(r_i) from the recursion of derivation step 6 (independent of the code)."""
    moments = [m0]
    for gen in range(1, generations + 1):
        w = scheme.plan(gen).weights()
        moments.append(sum(wj * moments[j] for j, wj in enumerate(w)) + h * h)
    return moments[1:]


@pytest.mark.parametrize("name, options", [("mix", {"n_synth": 30}), ("accumulate", {"n_synth": 20}),
                                           ("schedule", {"real_fractions": [0.2, 0.5, 0.9]})])
def test_k4_second_moment_recursion(name, options):
    h = 0.3
    target = bimodal()
    scheme = make_scheme(name, 20, **options)
    laws = expected_training_mixtures(target, scheme, h, 4)
    expected = _mixture_moment_recursion(scheme, target.second_moment(), h, 4)
    for law, moment in zip(laws, expected):
        assert law.second_moment() == pytest.approx(moment, rel=1e-12)
        assert law.weights.sum() == pytest.approx(1.0, abs=1e-12)
    if name == "mix":  # closed form M_i = M0 + h^2 (1 - (1-lam)^i)/lam
        lam = 20 / 50
        for gen, law in enumerate(laws, start=1):
            closed = target.second_moment() + h * h * (1 - (1 - lam) ** gen) / lam
            assert law.second_moment() == pytest.approx(closed, rel=1e-12)


def test_k4_constant_lambda_closed_form_mixture():
    """The mixture weights of r_i for mix equal the closed form of step 4."""
    lam, h, gens = 0.25, 0.5, 7
    laws = expected_training_mixtures(normal(), make_scheme("mix", 10, real_fraction=lam), h, gens)
    final = laws[-1]
    variances = final.scales[:, 0] ** 2
    for k in range(1, gens + 1):
        expected = lam * (1 - lam) ** (k - 1) if k < gens else (1 - lam) ** (gens - 1)
        idx = np.flatnonzero(np.isclose(variances, 1 + k * h * h))
        assert idx.size == 1 and final.weights[idx[0]] == pytest.approx(expected, rel=1e-12)


def test_k4_accumulate_components_stay_linear():
    laws = expected_training_mixtures(bimodal(), make_scheme("accumulate", 100, real_data="reused"), 0.2, 40)
    assert laws[-1].n_components <= 2 * 40
    assert laws[-1].weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_k4_bad_input():
    with pytest.raises(BoundcalcError, match="bandwidth"):
        expected_training_mixtures(normal(), make_scheme("replace", 10), -0.1, 3)
    with pytest.raises(BoundcalcError, match="generations"):
        expected_training_mixtures(normal(), make_scheme("replace", 10), 0.1, 0)
    with pytest.raises(BoundcalcError, match="target"):
        expected_training_mixtures("normal", make_scheme("replace", 10), 0.1, 3)


def _simulate_kde_loop(target, scheme, h, generations, loops, probes, rng):
    """A second implementation of the loop from the scheme's blocks, vectorised over loops.

    Returns, per generation, ``probes`` output samples of each loop's KDE (shape (loops, probes))."""
    drawn = {}           # (source, drawn_at) -> samples, shape (loops, count)
    training = {}        # generation -> training set (loops, N_i)

    def sample_output(gen, count):
        train = training[gen]
        idx = rng.integers(0, train.shape[1], size=(loops, count))
        return np.take_along_axis(train, idx, axis=1) + h * rng.standard_normal((loops, count))

    outputs = []
    for gen in range(1, generations + 1):
        parts = []
        for block in scheme.plan(gen).blocks:
            if block.key not in drawn:
                if block.source == 0:
                    drawn[block.key] = target.sample(rng, loops * block.size).reshape(loops, block.size)
                else:
                    drawn[block.key] = sample_output(block.source, block.size)
            parts.append(drawn[block.key])
        training[gen] = np.concatenate(parts, axis=1)
        outputs.append(sample_output(gen, probes))
    return outputs


def test_k4_monte_carlo_replace():
    """Replace, N(0,1), n = 20, h = 0.3: mean centred second moment of generation i = 1 + i h^2 (4 SE).

    The statistic is (1/n) sum_k Y_k^2 over the n outputs of one loop, centred at the known mean, so
    its expectation is exactly Var r_i; the within-loop sample variance follows a different law
    (checked too)."""
    h, loops, gens = 0.3, 400, 4
    rng = np.random.default_rng(5)
    outputs = _simulate_kde_loop(normal(), make_scheme("replace", 20), h, gens, loops, 20, rng)
    shrink = (20 - 1) / 20
    within = shrink * 1.0  # E of the ddof=0 sample variance of the real training set
    for gen, out in enumerate(outputs, start=1):
        per_loop = np.mean(out ** 2, axis=1)  # centred at the known mean 0
        se = per_loop.std(ddof=1) / math.sqrt(loops)
        expected = float(get_lemma("K4").evaluate(sigma_1=1.0, i=gen, h=h))
        assert abs(per_loop.mean() - expected) < 4 * se
        # the ddof=0 sample variance *within* a loop is smaller: the n outputs share p_i, and
        # E S^2 = ((n-1)/n)(E S^2(training set) + h^2) (docs/theory.md section 9), not Var r_i
        within = shrink * (within + h * h)
        sample_var = out.var(axis=1)
        assert abs(sample_var.mean() - within) < 4 * sample_var.std(ddof=1) / math.sqrt(loops)
        assert within < expected


@pytest.mark.parametrize("name, real_data", [("mix", "fresh"), ("accumulate", "reused")])
def test_k4_monte_carlo_mix(name, real_data):
    """Bimodal target: MC second moment and CDF at a few points against the exact expected law (4 SE)."""
    h, loops, gens = 0.5, 300, 4
    target = bimodal()
    scheme = make_scheme(name, 16, 16, real_data=real_data)
    laws = expected_training_mixtures(target, scheme, h, gens)
    outputs = _simulate_kde_loop(target, scheme, h, gens, loops, 16, np.random.default_rng(17))
    for law, out in zip(laws, outputs):
        per_loop = np.mean(out ** 2, axis=1)
        assert abs(per_loop.mean() - law.second_moment()) < 4 * per_loop.std(ddof=1) / math.sqrt(loops)
        for x in (-3.0, -1.0, 2.0):
            exact_cdf = float(law.weights @ stats.norm.cdf((x - law.means[:, 0]) / law.scales[:, 0]))
            per_loop_cdf = np.mean(out <= x, axis=1)
            se = per_loop_cdf.std(ddof=1) / math.sqrt(loops)
            assert abs(per_loop_cdf.mean() - exact_cdf) < 4 * se + 1e-3


def test_k4_lower_reference():
    """TV(r_i, p0) <= E TV(p_i, p0): the exact expected law is a lower reference (replace, n = 50)."""
    h, loops, gens, n = 0.3, 30, 3, 50
    grid = np.linspace(-8, 8, 801)
    dx = grid[1] - grid[0]
    p0_grid = stats.norm.pdf(grid)
    rng = np.random.default_rng(23)
    laws = expected_training_mixtures(normal(), make_scheme("replace", n), h, gens)
    train = rng.standard_normal((loops, n))
    for law in laws:
        measured = np.array([0.5 * np.abs(_kde_on_grid(train[l], grid, h) - p0_grid).sum() * dx for l in range(loops)])
        s = law.scales[0, 0]
        tv_expected, _ = integrate.quad(lambda v: 0.5 * abs(stats.norm.pdf(v, scale=s) - stats.norm.pdf(v)),
                                        -np.inf, np.inf, limit=200)
        assert tv_expected < measured.mean() - 4 * measured.std(ddof=1) / math.sqrt(loops)
        idx = rng.integers(0, n, size=(loops, n))
        train = np.take_along_axis(train, idx, axis=1) + h * rng.standard_normal((loops, n))
