"""Tests of the concentration lemmas C1 (McDiarmid), C2 (KDE L1 deviation), C3 (union bound).

Each derivation step is checked with sympy; each lemma numerically against an independent
reference (exact binomial tails, Monte Carlo with fixed seeds and stated tolerances, closed forms);
``lemma.evaluate`` (mpmath) against a numpy ``lambdify`` of ``rhs``.
"""

from __future__ import annotations

import math
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import stats

from boundcalc._checks import BoundcalcError
from boundcalc.theory.catalogue import get_lemma
from boundcalc.theory.catalogue import concentration
from boundcalc.theory.notation import K, N, c_diff, delta, t

ROOT = Path(__file__).resolve().parents[1]
IDS = ["C1", "C2", "C3"]


def numpy_value(lemma, values):
    symbols = lemma.free_symbols
    function = sp.lambdify(symbols, lemma.rhs, modules="numpy")
    return float(function(*[np.float64(values[s.name]) for s in symbols]))


# --- metadata and interface ---------------------------------------------------------------------
@pytest.mark.parametrize("lemma_id,values", [
    ("C1", {"t": 0.13, "N": 40, "c": 0.05}),
    ("C2", {"N": 500, "delta": 0.05}),
    ("C2", {"N": 3.0e7, "delta": 1e-12}),
    ("C3", {"delta": 0.01}),
])
def test_evaluate_mpmath_agrees_with_numpy_lambdify(lemma_id, values):
    lemma = get_lemma(lemma_id)
    got = lemma.evaluate(**values)
    assert isinstance(got, mpmath.mpf)
    assert float(got) == pytest.approx(numpy_value(lemma, values), rel=1e-13)


@pytest.mark.parametrize("lemma_id,values,name", [
    ("C1", {"t": 0, "N": 10, "c": 1}, "t"),
    ("C1", {"t": 1, "N": -3, "c": 1}, "N"),
    ("C1", {"t": 1, "N": 10, "c": 0}, "c"),
    ("C2", {"N": 0, "delta": 0.1}, "N"),
    ("C2", {"N": 100, "delta": 1.0}, "delta"),
    ("C2", {"N": 100, "delta": 0.0}, "delta"),
    ("C3", {"delta": 1.5}, "delta"),
])
def test_bad_input_names_parameter(lemma_id, values, name):
    with pytest.raises(BoundcalcError, match=rf"^{name} must be"):
        get_lemma(lemma_id).evaluate(**values)


def test_missing_value_is_reported():
    with pytest.raises(BoundcalcError, match="C2 needs values for: delta"):
        get_lemma("C2").evaluate(N=10)
    with pytest.raises(BoundcalcError, match="C1 needs values for: c, t"):
        get_lemma("C1").evaluate(N=10)


# --- C1: McDiarmid --------------------------------------------------------------------------------
s = sp.Symbol("s", positive=True)
u = sp.Symbol("u", real=True)
theta = sp.Symbol("theta", positive=True)   # in (0, 1)
width = sp.Symbol("ell", positive=True)     # b - a


def _phi(v):
    return -theta * v + sp.log(1 - theta + theta * sp.exp(v))


def test_c1_step3a_chord():
    a, b, x = sp.symbols("a b x", real=True)
    chord = (b - x) / (b - a) * sp.exp(s * a) + (x - a) / (b - a) * sp.exp(s * b)
    assert sp.simplify(chord.subs(x, a) - sp.exp(s * a)) == 0
    assert sp.simplify(chord.subs(x, b) - sp.exp(s * b)) == 0
    assert sp.diff(chord, x, 2) == 0                     # the chord is linear in x
    assert sp.simplify(sp.diff(sp.exp(s * x), x, 2) - s**2 * sp.exp(s * x)) == 0  # e^{sx} convex
    # expectation of the chord at E D = 0 (linear, so evaluate at x = 0)
    assert sp.simplify(chord.subs(x, 0) - (b * sp.exp(s * a) - a * sp.exp(s * b)) / (b - a)) == 0
    # numeric: e^{sx} below the chord on [a, b]
    xs = np.linspace(-0.7, 1.3, 201)
    for sv in (0.5, 2.0, 7.0):
        chord_values = (1.3 - xs) / 2 * np.exp(-0.7 * sv) + (xs + 0.7) / 2 * np.exp(1.3 * sv)
        assert np.all(np.exp(sv * xs) <= chord_values * (1 + 1e-12))


def test_c1_step3b_phi_form():
    a = -theta * width            # a <= 0 <= b, b - a = ell
    b = (1 - theta) * width
    ratio = (b * sp.exp(s * a) - a * sp.exp(s * b)) / (b - a)
    assert sp.simplify(ratio - sp.exp(_phi(s * width))) == 0
    assert sp.simplify(-a / (b - a) - theta) == 0


def test_c1_step3c_phi_taylor():
    assert sp.simplify(_phi(u).subs(u, 0)) == 0
    assert sp.simplify(sp.diff(_phi(u), u).subs(u, 0)) == 0
    rho = theta * sp.exp(u) / (1 - theta + theta * sp.exp(u))
    assert sp.simplify(sp.diff(_phi(u), u, 2) - rho * (1 - rho)) == 0
    r = sp.Symbol("r", real=True)
    assert sp.expand(sp.Rational(1, 4) - r * (1 - r) - (r - sp.Rational(1, 2)) ** 2) == 0
    # numeric: phi(u) <= u^2 / 8 on a grid of theta in (0, 1) and u
    th, uu = np.meshgrid(np.linspace(0.01, 0.99, 99), np.linspace(-15, 15, 301))
    phi = -th * uu + np.log1p(th * np.expm1(uu))
    assert np.all(phi <= uu**2 / 8 + 1e-12)


def test_c1_step6_optimal_s():
    total = sp.Symbol("S", positive=True)
    exponent = -s * t + s**2 * total / 8
    s_star = sp.solve(sp.diff(exponent, s), s)
    assert s_star == [4 * t / total]
    assert sp.simplify(sp.diff(exponent, s, 2) - total / 4) == 0
    assert sp.simplify(exponent.subs(s, s_star[0]) + 2 * t**2 / total) == 0


def test_c1_step7_equal_differences():
    j = sp.Symbol("j", positive=True, integer=True)
    total = sp.summation(c_diff**2, (j, 1, N))
    assert sp.simplify(total - N * c_diff**2) == 0
    general = sp.exp(-2 * t**2 / sp.Symbol("S", positive=True))
    assert sp.simplify(general.subs(sp.Symbol("S", positive=True), total) - get_lemma("C1").rhs) == 0


def test_c1_exact_binomial_tails():
    lemma = get_lemma("C1")
    doubled_exponent_fails = False
    for n_inputs in (5, 10, 40, 200):
        for success in (0.1, 0.5, 0.8):
            for deviation in (0.05, 0.1, 0.2, 0.3):
                # P(mean - p >= t) = P(S >= ceil(n (p + t)))
                threshold = math.ceil(n_inputs * (success + deviation) - 1e-9)
                exact = stats.binom.sf(threshold - 1, n_inputs, success)
                bound = float(lemma.evaluate(t=deviation, N=n_inputs, c=1 / n_inputs))
                assert bound == pytest.approx(math.exp(-2 * n_inputs * deviation**2), rel=1e-13)
                assert exact <= bound
                if exact > math.exp(-4 * n_inputs * deviation**2):
                    doubled_exponent_fails = True
    assert doubled_exponent_fails  # the check would catch an exponent twice too large


def test_c1_monte_carlo_occupancy():
    """Z = number of occupied bins, 30 balls in 30 bins: changing one ball moves Z by at most 1."""
    rng = np.random.default_rng(11)
    balls, bins, runs = 30, 30, 20000
    draws = rng.integers(0, bins, size=(runs, balls))
    occupied = np.array([np.unique(row).size for row in draws])
    mean_exact = bins * (1 - (1 - 1 / bins) ** balls)
    assert occupied.mean() == pytest.approx(mean_exact, abs=4 * occupied.std() / math.sqrt(runs))
    lemma = get_lemma("C1")
    for deviation in (1, 2, 3, 4):
        for tail in (occupied - mean_exact, mean_exact - occupied):  # upper and lower tails
            frequency = np.mean(tail >= deviation)
            standard_error = math.sqrt(max(frequency * (1 - frequency), 1 / runs) / runs)
            bound = float(lemma.evaluate(t=deviation, N=balls, c=1))
            assert frequency <= bound + 4 * standard_error


# --- C2: L1 deviation of a kernel density estimate -------------------------------------------------
def test_c2_step1_one_sample_changes_one_term():
    size = 5
    values = sp.symbols(f"k0:{size}")          # K_h(x - X_j), j = 0..4
    moved = sp.Symbol("k2_moved")              # K_h(x - X_2')
    estimate = sum(values) / size
    estimate_moved = (sum(values) - values[2] + moved) / size
    assert sp.simplify(estimate - estimate_moved - (values[2] - moved) / size) == 0


def test_c2_step2_kernel_is_density():
    x, y = sp.symbols("x y", real=True)
    bandwidth = sp.Symbol("h", positive=True)
    gaussian = sp.exp(-((x - y) / bandwidth) ** 2 / 2) / (sp.sqrt(2 * sp.pi) * bandwidth)
    assert sp.simplify(sp.integrate(gaussian, (x, -sp.oo, sp.oo)) - 1) == 0
    epanechnikov = sp.Rational(3, 4) * (1 - ((x - y) / bandwidth) ** 2) / bandwidth
    assert sp.simplify(sp.integrate(epanechnikov, (x, y - bandwidth, y + bandwidth)) - 1) == 0
    # the bounded difference: (1/N)(1 + 1) for N = n, and C1 with c = 2/N
    n_sym = sp.Symbol("n", positive=True)
    assert sp.simplify((1 + 1) / n_sym - 2 / n_sym) == 0


def test_c2_step2_bounded_difference_numeric():
    rng = np.random.default_rng(8)
    size, bandwidth = 200, 0.3
    grid = np.linspace(-8, 48, 28001)
    step = grid[1] - grid[0]
    samples = rng.standard_normal(size)
    samples[0] = 0.0

    def estimate(points):
        z = (grid[:, None] - points[None, :]) / bandwidth
        return np.exp(-0.5 * z**2).sum(axis=1) / (size * bandwidth * math.sqrt(2 * math.pi))

    base = estimate(samples)
    far = samples.copy()
    far[0] = 40.0
    change = np.trapezoid(np.abs(estimate(far) - base), dx=step)
    assert change == pytest.approx(2 / size, abs=1e-6)
    for target in rng.uniform(-3, 3, size=10):
        moved = samples.copy()
        moved[0] = target
        change = np.trapezoid(np.abs(estimate(moved) - base), dx=step)
        # closed form: (2/N) TV(N(0, h^2), N(target, h^2)) = (2/N)(2 Phi(|target|/(2h)) - 1)
        exact = 2 / size * (2 * stats.norm.cdf(abs(target) / (2 * bandwidth)) - 1)
        assert change == pytest.approx(exact, abs=1e-6)
        assert change <= 2 / size + 1e-9


def test_c2_step4_mcdiarmid_with_two_over_n():
    at_two_over_n = get_lemma("C1").rhs.subs(c_diff, 2 / N)
    assert sp.simplify(at_two_over_n - sp.exp(-N * t**2 / 2)) == 0


def test_c2_step5_solve_for_delta():
    tail = sp.exp(-N * t**2 / 2)
    t_delta = get_lemma("C2").rhs
    assert sp.simplify(tail.subs(t, t_delta) - delta) == 0
    assert sp.diff(tail, t).is_negative
    roots = sp.solve(sp.Eq(tail, delta), t)
    positive = [root for root in roots if root.subs({N: 7, delta: sp.Rational(1, 3)}).is_positive]
    assert len(positive) == 1 and sp.simplify(positive[0] - t_delta) == 0
    # step 6: in TV the deviation is halved
    assert sp.simplify(t_delta / 2 - sp.sqrt(sp.log(1 / delta) / (2 * N))) == 0


def test_c2_extreme_inputs():
    lemma = get_lemma("C2")
    got = lemma.evaluate(N=1e15, delta=1e-300)
    assert mpmath.isfinite(got) and got > 0
    assert float(got) == pytest.approx(math.sqrt(600 * math.log(10) / 1e15), rel=1e-14)
    assert float(got) == pytest.approx(1.1754e-6, rel=1e-4)
    assert float(concentration.kde_l1_deviation(1e15, 1e-300)) == float(got)
    # string input with more digits than a float and tiny delta stay exact in mpmath
    from_strings = lemma.evaluate(N="1000000000000000", delta="1e-300")
    assert float(from_strings) == pytest.approx(float(got), rel=1e-15)
    values = [float(lemma.evaluate(N=n, delta=1e-6)) for n in (10, 1e3, 1e6, 1e12, 1e15)]
    assert values == sorted(values, reverse=True)
    values = [float(lemma.evaluate(N=100, delta=d)) for d in (0.5, 1e-3, 1e-30, 1e-300)]
    assert values == sorted(values)


def _gaussian_kde_l1_deviations(rng, sampler, expected, size, bandwidth, grid, runs):
    step = grid[1] - grid[0]
    norm = size * bandwidth * math.sqrt(2 * math.pi)
    errors = np.empty(runs)
    for k in range(runs):
        points = sampler(rng)
        estimate = np.exp(-0.5 * ((grid[:, None] - points[None, :]) / bandwidth) ** 2).sum(axis=1) / norm
        errors[k] = np.trapezoid(np.abs(estimate - expected), dx=step)
    return errors


def test_c2_monte_carlo_gaussian_kde():
    size, bandwidth, runs = 500, 0.3, 400
    grid = np.linspace(-10, 10, 401)
    spread = math.sqrt(1 + bandwidth**2)  # E f_hat = p0 * phi_h exactly
    rng = np.random.default_rng(2024)
    identical = _gaussian_kde_l1_deviations(
        rng, lambda r: r.standard_normal(size), stats.norm.pdf(grid, 0, spread),
        size, bandwidth, grid, runs)
    centres = np.repeat([-3.0, 3.0], size // 2)  # fixed assignment: independent, not identical
    mixed = _gaussian_kde_l1_deviations(
        rng, lambda r: centres + r.standard_normal(size),
        0.5 * stats.norm.pdf(grid, -3, spread) + 0.5 * stats.norm.pdf(grid, 3, spread),
        size, bandwidth, grid, runs)
    lemma = get_lemma("C2")
    for errors in (identical, mixed):
        assert errors.std() > 0.005  # the error really fluctuates
        for level in (0.2, 0.1, 0.05):
            deviation = np.quantile(errors, 1 - level) - errors.mean()
            assert 0 < deviation < float(lemma.evaluate(N=size, delta=level))
        # the McDiarmid tail itself at t = 0.05 (bound exp(-N t^2 / 2) = 0.535)
        frequency = np.mean(errors - errors.mean() >= 0.05)
        assert frequency <= float(get_lemma("C1").evaluate(t=0.05, N=size, c=2 / size))


# --- C3: union bound --------------------------------------------------------------------------------
def test_c3_step3_sum_of_levels():
    k = sp.Symbol("k", positive=True, integer=True)
    assert sp.simplify(sp.summation(delta / K, (k, 1, K)) - delta) == 0
    assert sp.simplify(K * (delta / K) - delta) == 0
    assert get_lemma("C3").rhs == delta


def test_c3_numeric_disjoint_and_independent():
    rng = np.random.default_rng(5)
    total, draws = 0.05, 200000
    lemma = get_lemma("C3")
    assert float(lemma.evaluate(delta=total)) == total
    for events in (1, 4, 10, 50):
        level = float(concentration.union_per_event_delta(total, events))
        assert level == pytest.approx(total / events, rel=1e-15)
        # disjoint events E_k = {U in [(k-1) level, k level)}: union has probability exactly delta
        uniform = rng.random(draws)
        union = np.zeros(draws, dtype=bool)
        for j in range(events):
            union |= (uniform >= j * level) & (uniform < (j + 1) * level)
        se = math.sqrt(total * (1 - total) / draws)
        assert abs(union.mean() - total) < 4 * se
        # independent events: exact 1 - (1 - level)^K <= delta, Monte Carlo agrees
        exact = 1 - (1 - level) ** events
        assert exact <= total + 1e-15
        independent = (rng.random((draws, events)) < level).any(axis=1)
        assert abs(independent.mean() - exact) < 4 * math.sqrt(exact * (1 - exact) / draws)
        # dependent events through a shared Gaussian factor, each at level delta / K
        shared = rng.standard_normal((draws, 1))
        own = rng.standard_normal((draws, events))
        score = 0.7 * shared + math.sqrt(1 - 0.49) * own  # each column is N(0, 1)
        dependent = (score > stats.norm.isf(level)).any(axis=1)
        assert dependent.mean() <= total + 4 * se
    for exact_k in range(1, 51):
        assert 1 - (1 - total / exact_k) ** exact_k <= total + 1e-15


def test_c3_per_event_level_input_checks():
    assert float(concentration.union_per_event_delta(0.1, 1e3)) == pytest.approx(1e-4, rel=1e-15)
    assert float(concentration.union_per_event_delta(1e-300, 10**6)) == pytest.approx(1e-306, rel=1e-14)
    with pytest.raises(BoundcalcError, match="^K must be"):
        concentration.union_per_event_delta(0.1, 0)
    with pytest.raises(BoundcalcError, match="^K must be"):
        concentration.union_per_event_delta(0.1, 2.5)
    with pytest.raises(BoundcalcError, match="^delta must be"):
        concentration.union_per_event_delta(1.0, 3)
