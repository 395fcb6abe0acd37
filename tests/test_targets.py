"""Targets: exact densities, samplers and the density quantities of the KDE lemmas,
against quadrature, closed forms and Monte Carlo."""

import numpy as np
import pytest
from scipy import integrate, stats

from boundcalc._checks import BoundcalcError
from boundcalc.model.targets import GaussianMixture, bimodal, mixture_of, normal, parse_target


def test_density_matches_scipy_and_integrates_to_one():
    g = parse_target("mixture:weights=0.3,0.7;means=-2,1;scales=1,0.5")
    x = np.linspace(-6, 5, 101)
    ref = 0.3 * stats.norm.pdf(x, -2, 1) + 0.7 * stats.norm.pdf(x, 1, 0.5)
    assert np.allclose(g.density(x), ref, rtol=1e-12)
    assert integrate.quad(lambda t: g.density(np.array([t]))[0], -np.inf, np.inf)[0] == pytest.approx(1, abs=1e-9)


def test_two_dimensional_density_matches_scipy():
    g = parse_target("mixture:weights=0.5,0.5;means=-3/0,3/1;scales=1,0.5/2")
    pts = np.random.default_rng(1).normal(size=(50, 2)) * 3
    ref = (0.5 * stats.multivariate_normal.pdf(pts, [-3, 0], np.diag([1, 1]))
           + 0.5 * stats.multivariate_normal.pdf(pts, [3, 1], np.diag([0.25, 4])))
    assert np.allclose(g.density(pts), ref, rtol=1e-12)


def test_sampler_moments_monte_carlo():
    g = bimodal()
    x = g.sample(np.random.default_rng(0), 200_000)
    # E X = 0, E X^2 = 9 + 1 = 10; standard error of the second moment ~ sqrt(Var X^2 / n) ~ 0.014
    assert abs(x.mean()) < 0.03
    assert np.mean(x ** 2) == pytest.approx(g.second_moment(), abs=0.06)


def test_laplacian_l1_closed_forms():
    # ||phi''||_1 = 4 phi(1) for N(0, 1); scales as 1/s^2
    assert normal().laplacian_l1() == pytest.approx(4 * stats.norm.pdf(1), rel=1e-12)
    assert normal(sigma=2).laplacian_l1() == pytest.approx(stats.norm.pdf(1), rel=1e-12)
    # 2-D isotropic: E|chi2_2 - 2| = 4/e, by quadrature of the chi-square density
    ref = integrate.quad(lambda r: abs(r - 2) * stats.chi2.pdf(r, 2), 0, 2)[0] + \
        integrate.quad(lambda r: abs(r - 2) * stats.chi2.pdf(r, 2), 2, np.inf)[0]
    assert normal(dim=2).laplacian_l1() == pytest.approx(ref, rel=1e-9)
    # well-separated equal-weight modes: the mixture's value is that of one mode
    assert bimodal().laplacian_l1() == pytest.approx(4 * stats.norm.pdf(1), rel=1e-4)


def test_laplacian_l1_of_a_mixture_by_independent_quadrature():
    g = parse_target("mixture:weights=0.4,0.6;means=-1,1;scales=0.8,1.2")

    def second_derivative(t):
        return sum(w * stats.norm.pdf(t, m, s) * ((t - m) ** 2 / s ** 4 - 1 / s ** 2)
                   for w, m, s in [(0.4, -1, 0.8), (0.6, 1, 1.2)])
    ref = integrate.quad(lambda t: abs(second_derivative(t)), -15, 15, limit=400)[0]
    assert g.laplacian_l1() == pytest.approx(ref, rel=1e-6)


def test_k2_integral_closed_form_and_moment_bound():
    # one Gaussian: int sqrt(N(0, v)) = (8 pi v)^(1/4), v = s^2 + h^2/2
    h = 0.2
    assert normal().k2_integral(h) == pytest.approx((8 * np.pi * (1 + h * h / 2)) ** 0.25, rel=1e-12)
    # quadrature path (two components) against scipy
    g = bimodal()
    ref = integrate.quad(lambda t: np.sqrt(g.convolve(h / np.sqrt(2)).density(np.array([t]))[0]), -20, 20, limit=400)[0]
    assert g.k2_integral(h) == pytest.approx(ref, rel=1e-6)
    # Cauchy-Schwarz moment bound is an upper bound
    assert g.k2_moment_bound(h) >= g.k2_integral(h)


def test_convolve_and_mix_are_exact():
    g = normal(mu=1, sigma=0.5).convolve(0.3)
    assert g.scales[0, 0] == pytest.approx(np.hypot(0.5, 0.3))
    m = mixture_of([(0.25, normal()), (0.75, normal().convolve(0.1)), (0.0, bimodal())])
    assert m.n_components == 2 and m.weights.sum() == pytest.approx(1)


def test_mixture_of_merges_equal_components():
    b = bimodal()
    r = b
    for _ in range(30):  # an accumulate-like recursion: without merging this has 2^30 components
        r = mixture_of([(0.5, b), (0.5, r)]).convolve(0.2)
    assert r.n_components <= 2 * 31
    assert r.weights.sum() == pytest.approx(1)


@pytest.mark.parametrize("spec, message", [
    ("cauchy", "target must be normal, bimodal or mixture"),
    ("normal:mean=1", "normal takes mu, sigma, dim"),
    ("mixture:weights=0.5,0.6;means=0,1;scales=1,1", "sum to 1"),
    ("mixture:weights=1;means=0", "mixture needs"),
    ("mixture:weights=0.5,0.5;means=0,1;scales=1,-1", "scales must be positive"),
])
def test_bad_targets(spec, message):
    with pytest.raises(BoundcalcError, match=message):
        parse_target(spec)


def test_mixture_shape_errors():
    with pytest.raises(BoundcalcError, match="same number of components"):
        GaussianMixture([0.5, 0.5], [[0.0]], [[1.0]])


@pytest.mark.parametrize("spread", [3.0, 1e2, 1e5])
def test_quadrature_does_not_depend_on_where_the_modes_sit(spread):
    """Far-apart modes: each integral is that of the separate components (a uniform grid over the
    whole box would step over them and give a bound that is too small)."""
    g = parse_target(f"mixture:weights=0.5,0.5;means={-spread},{spread};scales=1,1")
    if spread > 10:  # disjoint components: ||Laplacian||_1 = 4 phi(1), int sqrt = 2 sqrt(0.5) (8 pi)^(1/4)
        assert g.laplacian_l1() == pytest.approx(4 * stats.norm.pdf(1), rel=1e-10)
        assert g.sqrt_integral() == pytest.approx(2 * np.sqrt(0.5) * (8 * np.pi) ** 0.25, rel=1e-8)
    ref = integrate.quad(lambda t: np.sqrt(g.density(np.array([t]))[0]), -spread - 15, -spread + 15, limit=200)[0] \
        + integrate.quad(lambda t: np.sqrt(g.density(np.array([t]))[0]), spread - 15, spread + 15, limit=200)[0]
    if spread > 10:
        assert g.sqrt_integral() == pytest.approx(ref, rel=1e-7)


def test_quadrature_resolves_very_different_scales():
    g = parse_target("mixture:weights=0.5,0.5;means=0,0;scales=0.01,100")

    def second_derivative(t):
        return sum(0.5 * stats.norm.pdf(t, 0, s) * (t * t / s ** 4 - 1 / s ** 2) for s in (0.01, 100))
    pts = [-0.01, 0, 0.01]
    ref = sum(integrate.quad(lambda t: abs(second_derivative(t)), a, b, limit=400, points=pts if a < 0 < b else None)[0]
              for a, b in [(-2000, -1), (-1, 1), (1, 2000)])
    assert g.laplacian_l1() == pytest.approx(ref, rel=1e-6)
    ref_sqrt = sum(integrate.quad(lambda t: np.sqrt(g.density(np.array([t]))[0]), a, b, limit=400)[0]
                   for a, b in [(-2000, -1), (-1, 1), (1, 2000)])
    assert g.sqrt_integral() == pytest.approx(ref_sqrt, rel=1e-6)


def test_two_dimensional_quadrature_against_scipy():
    g = parse_target("mixture:weights=0.4,0.6;means=-1/0,1/0.5;scales=0.7,1/1.5")
    ref = integrate.dblquad(lambda y, x: np.sqrt(g.density(np.array([[x, y]]))[0]), -12, 12, -16, 16,
                            epsabs=1e-9)[0]
    assert g.sqrt_integral() == pytest.approx(ref, rel=1e-6)
