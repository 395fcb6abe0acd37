"""Tests of :func:`boundcalc.bounds.kde_tv.tv_upper_bound`: a proven upper bound on TV(r, p0) for 1-D Gaussian mixtures.

The expected values are computed here independently of the code under test: the roots of r - p0 by
scipy's ``brentq`` on the sign changes of a fine scan (step 1e-4 over the support), then
``(1/2) sum |F(t_(k+1)) - F(t_k)|`` with F the mixtures' CDFs (``scipy.stats.norm.cdf``).  Every bound must be
at least that value (to 1e-15 absolute, the rounding of the reference) and within RELATIVE of it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from boundcalc.bounds.kde_expected import _quadrature, expected_bound
from boundcalc.bounds.kde_tv import MixtureTable, mixture_table, tv_upper_bound
from boundcalc.model.schemes import Accumulate
from boundcalc.model.targets import GaussianMixture, bimodal, mixture_of, normal, parse_target

#: the bound is within this relative distance of the exact TV
RELATIVE = 1e-6
SCAN_STEP = 1e-4


def _pdf(g: GaussianMixture, x):
    return stats.norm.pdf(np.asarray(x)[..., None], g.means[:, 0], g.scales[:, 0]) @ g.weights


def _cdf(g: GaussianMixture, x):
    return stats.norm.cdf(np.asarray(x)[..., None], g.means[:, 0], g.scales[:, 0]) @ g.weights


def exact_tv(r: GaussianMixture, p0: GaussianMixture) -> float:
    """(1/2) int |r - p0| from the roots of r - p0 (brentq on a fine scan) and CDF differences."""
    lo = min(float(np.min(g.means - 40 * g.scales)) for g in (r, p0))
    hi = max(float(np.max(g.means + 40 * g.scales)) for g in (r, p0))
    xs = np.arange(lo, hi, SCAN_STEP)
    f = _pdf(r, xs) - _pdf(p0, xs)
    change = np.nonzero(np.sign(f[:-1]) * np.sign(f[1:]) < 0)[0]
    fun = (lambda t: float(_pdf(r, t) - _pdf(p0, t)))
    roots = [optimize.brentq(fun, xs[k], xs[k + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps) for k in change]
    points = np.array([-np.inf, *roots, np.inf])
    big_f = np.array([0.0, *(_cdf(r, t) - _cdf(p0, t) for t in roots), 0.0])
    assert len(points) == len(big_f)
    return 0.5 * float(np.sum(np.abs(np.diff(big_f))))


def _bound(r: GaussianMixture, p0: GaussianMixture, extra_variance=None):
    if extra_variance is None:
        extra_variance = max(float(np.max(r.scales ** 2 - np.max(p0.scales) ** 2)), 0.0) + 1e-3
    x = _quadrature(p0, extra_variance).axes[0]
    return float(tv_upper_bound(x, r.density(x), p0.density(x), mixture_table([r], p0))[0])


def _check(r, p0, relative=RELATIVE):
    exact = exact_tv(r, p0)
    got = _bound(r, p0)
    assert got >= exact - 1e-15
    assert got <= exact * (1 + relative)
    return exact, got


def _smoothed(p0: GaussianMixture, var: float) -> GaussianMixture:
    return p0.convolve(math.sqrt(var))


def test_bimodal_one_generation_reference_value():
    """r_1 = p0 * N(0, 0.3^2) for the bimodal target: TV = 0.020848646358506 (four roots near +-2, +-4)."""
    p0 = bimodal()
    exact, got = _check(_smoothed(p0, 0.09), p0)
    assert exact == pytest.approx(0.020848646358506, abs=1e-14)


def test_unequal_weights():
    p0 = GaussianMixture([0.2, 0.5, 0.3], [[-2.0], [0.0], [3.0]], [[0.5], [1.0], [2.0]])
    _check(_smoothed(p0, 0.09), p0)
    r = GaussianMixture([0.6, 0.1, 0.3], [[-1.8], [0.4], [3.0]], [[0.55], [1.3], [1.9]])
    _check(r, p0)


def _touching(q_star: float):
    """r = 0.5 N(0, 1) + 0.5 N(20, 1) and p0 = c N(0.5, 0.8^2) + (1 - c) N(20, 1): near 0, log(r / p0) is a convex
    quadratic with minimum q_star (c solved for it): two roots 2 sqrt(-q_star / 0.28125) apart if q_star < 0,
    none if q_star > 0 (the curves nearly touch)."""
    # log(0.5 N(x; 0, 1) / (c N(x; 0.5, 0.64))) = A x^2 + B x + 0.25 / 1.28 + log(0.4 / c)
    big_a, big_b = 1 / 1.28 - 0.5, -1 / 1.28
    c = math.exp(0.25 / 1.28 + math.log(0.4) - big_b ** 2 / (4 * big_a) - q_star)
    r = GaussianMixture([0.5, 0.5], [[0.0], [20.0]], [[1.0], [1.0]])
    p0 = GaussianMixture([c, 1 - c], [[0.5], [20.0]], [[0.8], [1.0]])
    return r, p0


@pytest.mark.parametrize("q_star", [-1e-3, -1e-6, -1e-9, 1e-9, 1e-6])
def test_near_tangency(q_star):
    r, p0 = _touching(q_star)
    xs = np.linspace(-1, 3, 400001)
    log_ratio = np.log(_pdf(r, xs)) - np.log(_pdf(p0, xs))
    assert np.min(log_ratio) == pytest.approx(q_star, abs=1e-12)  # the construction
    _check(r, p0)


def test_very_small_bandwidth():
    p0 = bimodal()
    exact, got = _check(_smoothed(p0, 0.002 ** 2), p0)
    assert 1e-7 < exact < 1e-5


def test_wide_law_many_generations():
    p0 = bimodal()
    _check(_smoothed(p0, 50 * 0.09), p0)
    _check(_smoothed(normal(0.0, 0.7), 50 * 0.01), normal(0.0, 0.7))


def test_batched_equals_rows():
    p0 = parse_target("bimodal")
    laws = [_smoothed(p0, k * 0.09) for k in (1, 2, 5, 20)] + [
        GaussianMixture([0.3, 0.7], [[-3.0], [3.0]], [[1.05], [1.0]])]
    x = _quadrature(p0, 20 * 0.09).axes[0]
    batch = tv_upper_bound(x, np.stack([g.density(x) for g in laws]), p0.density(x), mixture_table(laws, p0))
    one = [float(tv_upper_bound(x, g.density(x), p0.density(x), mixture_table([g], p0))[0]) for g in laws]
    np.testing.assert_allclose(batch, one, rtol=1e-12, atol=0)
    for g, value in zip(laws, batch):
        exact = exact_tv(g, p0)
        assert exact - 1e-15 <= value <= exact * (1 + RELATIVE)


def test_node_error_only_raises_the_bound():
    p0 = bimodal()
    r = _smoothed(p0, 0.09)
    x = _quadrature(p0, 0.1).axes[0]
    table = mixture_table([r], p0)
    plain = tv_upper_bound(x, r.density(x), p0.density(x), table)[0]
    noisy = tv_upper_bound(x, r.density(x), p0.density(x), table, node_error=1e-9)[0]
    assert plain <= noisy <= plain * (1 + 1e-6)


def test_values_with_an_error_bound():
    """Node values known only to +-1e-15 (a compressed basis: some tail values negative), node_error = 2e-15: the
    bound stays above the exact TV and within RELATIVE of it, for a batch of laws of 20 components."""
    p0 = bimodal()
    laws = [mixture_of([(0.1, _smoothed(p0, k * 0.0225)) for k in range(s, s + 10)])
            for s in (1, 40, 100)]
    x = _quadrature(p0, 110 * 0.0225).axes[0]
    rng = np.random.default_rng(5)
    values = np.stack([g.density(x) for g in laws]) + rng.uniform(-1e-15, 1e-15, (len(laws), x.size))
    got = tv_upper_bound(x, values, p0.density(x), mixture_table(laws, p0), node_error=2e-15)
    for g, value in zip(laws, got):
        exact = exact_tv(g, p0)
        assert exact - 1e-15 <= value <= exact * (1 + RELATIVE)


def test_identical_laws_give_a_tiny_bound():
    """r = p0: every node value is within its rounding of 0, no cell is decided; the refinement stops at its budget
    and the crude rule (interpolant + curvature) bounds each cell: a valid, tiny number."""
    p0 = bimodal()
    x = _quadrature(p0, 0.1).axes[0]
    got = tv_upper_bound(x, p0.density(x), p0.density(x), mixture_table([p0], p0))[0]
    assert 0 <= got < 1e-8


def test_table_checks():
    with pytest.raises(Exception, match="mixture table"):
        MixtureTable([0.0, 1.0], [1.0], [[1.0, 0.0]], [0.0, 1.0])


def test_expected_bound_regression_bimodal():
    """The KE3 term T_r(1) printed by expected_bound is at least the exact TV (it was 2.3e-5 relative below it
    with Simpson's rule and a 1e-4 margin)."""
    got = expected_bound(Accumulate(1000, 1000), parse_target("bimodal"), [0.3], 1).bias_tv[0]
    assert got >= 0.020848646358506
    assert got <= 0.020848646358506 * (1 + RELATIVE)
