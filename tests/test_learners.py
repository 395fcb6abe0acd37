"""Learners: eps_i against formulas written out independently here, and one Monte-Carlo
check that the KDE bound of generation 1 holds as often as it claims."""

import math

import mpmath
import numpy as np
import pytest
from scipy import stats

from boundcalc._checks import BoundcalcError
from boundcalc.bounds.learners import Diffusion, GaussianKDE, PowerLaw, make_learner
from boundcalc.model.schemes import make_scheme
from boundcalc.model.targets import normal


def kde_eps(N, h, J, delta, lap):
    """docs/theory.md section 5 in TV: (h^2/4) lap + (1/2)[(4 pi)^(-1/4) (N h)^(-1/2) J + sqrt(2 ln(1/delta)/N)], d = 1."""
    return h * h / 4 * lap + 0.5 * ((4 * math.pi) ** -0.25 * (N * h) ** -0.5 * J + math.sqrt(2 * math.log(1 / delta) / N))


def test_power_law_is_exact():
    assert PowerLaw(2.0, 0.5).eps_of_n(400) == mpmath.mpf("0.1")


def test_kde_generation_one_and_two_replace_normal():
    h, N, delta, K = 0.2, 2000, 0.05, 2
    learner = GaussianKDE(normal(), bandwidth=h)
    errs = learner.conditional_errors(make_scheme("replace", N, N), K, delta)  # the L1 composition
    lap = 4 * stats.norm.pdf(1)
    J1 = (8 * math.pi * (1 + h * h / 2)) ** 0.25            # q_1 = p0 = N(0, 1)
    J2 = (8 * math.pi * (1 + h * h + h * h / 2)) ** 0.25    # q_2 = E p_1 = N(0, 1 + h^2) (lemma K4)
    assert float(errs[0].eps) == pytest.approx(kde_eps(N, h, J1, delta / K, lap), rel=1e-9)
    assert float(errs[1].eps) == pytest.approx(kde_eps(N, h, J2, delta / K, lap), rel=1e-9)


def test_kde_reused_real_data_is_bounded_blockwise():
    h, n, delta, K = 0.3, 1000, 0.1, 3
    learner = GaussianKDE(normal(), bandwidth=h)
    scheme = make_scheme("mix", n, n, real_data="reused")
    errs = learner.conditional_errors(scheme, K, delta)
    # distinct blocks: the real set (drawn once) + one synthetic block per later generation = K events
    d_event = delta / 3
    lap = 4 * stats.norm.pdf(1)
    J_real = (8 * math.pi * (1 + h * h / 2)) ** 0.25
    J_p1 = (8 * math.pi * (1 + h * h + h * h / 2)) ** 0.25   # source p_1, expected law N(0, 1 + h^2)
    s_real = kde_eps(n, h, J_real, d_event, 0)
    s_synth = kde_eps(n, h, J_p1, d_event, 0)
    assert float(errs[1].eps) == pytest.approx(h * h / 4 * lap + 0.5 * s_real + 0.5 * s_synth, rel=1e-9)


def test_kde_high_dimension_uses_the_moment_bound():
    learner = GaussianKDE(normal(dim=3), bandwidth=0.5)
    err = learner.errors(make_scheme("replace", 1000, 1000), 1, 0.05)[0]
    J = math.sqrt(math.pi ** 3 * (1 + 1 + 0.125) ** 3)  # E prod (1 + X_k^2), X_k ~ N(0, 1 + h^2/2)
    lap = normal(dim=3).laplacian_l1()
    expected = 0.25 * 0.25 * lap + 0.5 * ((4 * math.pi) ** -0.75 * (1000 * 0.125) ** -0.5 * J
                                         + math.sqrt(2 * math.log(1 / 0.05) / 1000))
    assert float(err.eps) == pytest.approx(expected, rel=1e-9)


def test_kde_holder_version_uses_the_gaussian_kernel_moment():
    learner = GaussianKDE(bandwidth=0.3, laplacian_l1=None, k2_integral=2.3, holder_L=2.0, holder_beta=1.0)
    err = learner.errors(make_scheme("replace", 500, 500), 1, 0.05)[0]
    kappa = math.sqrt(2 / math.pi)  # E|Z| for Z ~ N(0, 1)
    expected = 0.5 * 2.0 * 0.3 * kappa + 0.5 * ((4 * math.pi) ** -0.25 * (500 * 0.3) ** -0.5 * 2.3
                                                + math.sqrt(2 * math.log(20) / 500))
    assert float(err.eps) == pytest.approx(expected, rel=1e-9)


def test_kde_generation_one_bound_holds_in_monte_carlo():
    """TV(f_hat, p0) <= eps_1 with probability >= 1 - delta: 40 seeded KDEs of N(0, 1), N = 400."""
    N, delta = 400, 0.1
    learner = GaussianKDE(normal(), bandwidth="auto")
    h = learner.resolved_bandwidth(N)
    bound = float(learner.errors(make_scheme("replace", N, N), 1, delta)[0].eps)
    grid = np.linspace(-9, 9, 3601)
    p0 = stats.norm.pdf(grid)
    misses = 0
    for seed in range(40):
        x = np.random.default_rng(seed).standard_normal(N)
        f = stats.norm.pdf((grid[:, None] - x[None]) / h).mean(axis=1) / h
        tv = 0.5 * np.trapezoid(np.abs(f - p0), grid)
        misses += tv > bound
    assert misses <= 4  # at most a delta share (the bound is loose: in practice none)


def test_diffusion_eps_by_hand():
    learner = Diffusion(width=100.0, tau=4.0, horizon=2.0)
    n = 500.0
    kl = 4 ** 4 / (100 * n) + 4 ** 3 / 100 ** 2 + 1 / 4 + 1 / 100 + 0 + math.exp(-4)
    tv = min(math.sqrt(kl / 2), math.sqrt(1 - math.exp(-kl)))
    assert float(learner.eps_of_n(n)) == pytest.approx(tv, rel=1e-12)


def test_diffusion_auto_tau_uses_d2_and_proportional_width():
    learner = Diffusion(width_ratio=2.0, c_width=0.0)
    n = 1e4
    tau = (2 * n * n / 4) ** 0.2  # D2 closed form with c_width = 0, m = 2 n
    assert float(learner.tau_for(n)) == pytest.approx(tau, rel=1e-12)
    kl = tau ** 4 / (2 * n * n) + 1 / tau + 1 / (2 * n) + math.exp(-20)
    assert float(learner.eps_of_n(n)) == pytest.approx(math.sqrt(kl / 2), rel=1e-10)


@pytest.mark.parametrize("name, options, message", [
    ("power", {"C": 1}, "needs --alpha"),
    ("power", {"C": -1, "alpha": 0.2}, "C must be in"),
    ("kde", {"bandwidth": -0.1, "target": normal()}, "bandwidth must be in"),
    ("kde", {"bandwidth": 0.1}, "kde learner needs --target"),
    ("kde", {"target": normal(), "holder_L": 1.0, "holder_beta": 3.0}, r"holder_beta must be in \(0, 2\]"),
    ("diffusion", {"tau": 0.5}, "tau must be in"),
    ("diffusion", {"c_foo": 1}, "unknown diffusion constants"),
    ("magic", {}, "learner must be one of"),
])
def test_bad_learner_options(name, options, message):
    with pytest.raises(BoundcalcError, match=message):
        make_learner(name, **options)


def test_kde_loop_bound_is_lemma_ke5_for_every_scheme():
    """For K >= 2 the printed a_i is lemma KE5 (probability 1 - delta, all i) and the term in_expectation
    the KE3 bound on E a_i; checked against the math helper's functions and the recursion S1."""
    from boundcalc.bounds.compose import compose_bound
    from boundcalc.bounds.kde_expected import expected_bound, loop_probability_bound
    h, K, delta = 0.2, 3, 0.05
    for scheme in (make_scheme("replace", 2000, 2000), make_scheme("mix", 1000, 1000, real_data="reused"),
                   make_scheme("accumulate", 500, 500)):
        result = compose_bound(scheme, GaussianKDE(normal(), bandwidth=h), K, delta)
        ke5 = loop_probability_bound(scheme, normal(), h, K, delta).bound
        ke3 = expected_bound(scheme, normal(), h, K).best
        for i in range(K):
            assert float(result.bound[i]) >= ke5[i] * (1 - 1e-12)
            assert float(result.bound[i]) == pytest.approx(ke5[i], rel=1e-9)
            assert float(result.terms[i]["in_expectation"]) == pytest.approx(ke3[i], rel=1e-12)
            assert ke3[i] < ke5[i]
        assert not any("expected training law" in a for a in result.assumptions)


def test_kde_loop_without_a_theorem_is_refused():
    from boundcalc._checks import BoundcalcError
    with pytest.raises(BoundcalcError, match="dim = 3"):
        GaussianKDE(normal(dim=3), bandwidth=0.5).errors(make_scheme("replace", 1000, 1000), 2, 0.05)
    with pytest.raises(BoundcalcError, match="no --target"):
        GaussianKDE(bandwidth=0.2, dim=1, laplacian_l1=0.8, k2_integral=2.1).errors(
            make_scheme("replace", 1000, 1000), 2, 0.05)


def test_auto_bandwidth_with_hoelder_class_minimises_the_hoelder_bound():
    """--holder-L 2 --holder-beta 1 --bandwidth auto: h minimises (L/2) h E|Z| + (1/2)(4 pi)^(-1/4) J (n h)^(-1/2)
    (scipy's minimiser at the returned h's J), not the beta = 2 choice."""
    from scipy import optimize
    n, L = 10000, 2.0
    learner = GaussianKDE(normal(), bandwidth="auto", holder_L=L, holder_beta=1.0)
    h = learner.resolved_bandwidth(n)
    J = normal().k2_integral(h)
    f = lambda t: L / 2 * t * math.sqrt(2 / math.pi) + 0.5 * (4 * math.pi) ** -0.25 * J / math.sqrt(n * t)  # noqa: E731
    best = optimize.minimize_scalar(f, bounds=(1e-4, 2), method="bounded", options={"xatol": 1e-10})
    assert h == pytest.approx(best.x, rel=1e-4)
    assert abs(h - GaussianKDE(normal(), bandwidth="auto").resolved_bandwidth(n)) > 0.1 * h
