"""Solvers: every answer against an independent closed-form computation, and the
smallest-integer property checked by substitution."""

import math

import mpmath
import numpy as np
import pytest

from boundcalc._checks import BoundcalcError
from boundcalc.bounds.learners import KDE, Diffusion, PowerLaw
from boundcalc.bounds.solve import solve


def test_replace_n_synth_matches_the_inverted_closed_form():
    C, alpha, n_real, K, target = 1.0, 0.25, 10_000, 10, 0.12
    # a_K = C n_real^-alpha + (K-1) C s^-alpha <= target  <=>  s >= ((K-1) C / (target - C n_real^-alpha))^(1/alpha)
    exact = ((K - 1) * C / (target - C * n_real ** -alpha)) ** (1 / alpha)
    r = solve("n-synth", target, PowerLaw(C, alpha), scheme="replace", generations=K, n_real=n_real)
    assert r.reachable and r.verified
    assert r.value == math.ceil(exact - 1e-6 * exact) or r.value == math.ceil(exact)
    assert r.achieved <= target


def test_n_real_smallest_integer_by_substitution():
    learner = PowerLaw(1, 0.25)
    r = solve("n-real", 0.1, learner, scheme="mix", generations=10, n_synth=1000)
    lam = lambda n: n / (n + 1000)  # noqa: E731

    def bound(n):  # independent float form of the mix closed form
        eps1, eps = n ** -0.25, (n + 1000) ** -0.25
        q = (1 - lam(n)) ** 9
        return q * eps1 + eps * (1 - q) / lam(n)
    assert bound(r.value) <= 0.1 < bound(r.value - 1)
    assert r.verified and r.checks["closed_form_agrees"]


def test_generations_replace_is_linear():
    C, alpha, n = 1.0, 0.25, 10_000
    eps = n ** -alpha
    target = 0.55
    r = solve("generations", target, PowerLaw(C, alpha), scheme="replace", n_real=n, n_synth=n)
    assert r.value == math.floor(target / eps + 1e-12)  # a_K = K eps
    assert r.verified


def test_generations_mix_converges_below_the_target():
    r = solve("generations", 0.2, PowerLaw(1, 0.25), scheme="mix", n_real=10_000, n_synth=10_000)
    assert r.reachable and r.value is None and r.checks["converged"]
    # the limit is eps / lam
    assert float(r.achieved) == pytest.approx(20_000 ** -0.25 / 0.5, rel=1e-9)


def test_generations_unreachable_when_the_first_generation_misses():
    r = solve("generations", 0.01, PowerLaw(1, 0.25), scheme="replace", n_real=100, n_synth=100)
    assert not r.reachable and r.value == 0 and "a_1" in r.message


def test_n_synth_unreachable_below_the_first_generation_floor():
    # adding synthetic data cannot push a mix loop below eps_1 = C n_real^-alpha
    r = solve("n-synth", 0.05, PowerLaw(1, 0.25), scheme="mix", generations=5, n_real=10_000)
    assert not r.reachable and r.value is None
    assert float(r.floor) >= 10_000 ** -0.25 * (1 - 1e-9)


def test_real_fraction_is_monotone_and_verified():
    learner = PowerLaw(1, 0.25)
    r = solve("real-fraction", 0.12, learner, scheme="mix", generations=10, n_real=10_000, n_synth=10_000)
    assert r.reachable and r.verified
    lam, N = r.value, 20_000

    def bound(l):
        eps1, eps = (l * N) ** -0.25, N ** -0.25
        q = (1 - l) ** 9
        return q * eps1 + eps * (1 - q) / l
    # lam = r / N with r an integer count of real samples (the rounding rule): one fewer fails
    assert (lam * N) == round(lam * N)
    assert bound(lam) <= 0.12 < bound(lam - 1 / N)


def test_real_fraction_unreachable_below_all_real_error():
    r = solve("real-fraction", 0.01, PowerLaw(1, 0.25), scheme="mix", generations=3, n_real=100, n_synth=100)
    assert not r.reachable and "all-real" in r.message


def test_sample_size_growth_is_derived_from_the_learner():
    """With a common N in replace, K eps(N) <= target needs N ~ K^(1/alpha): 4 for alpha = 1/4, 5 for 1/5."""
    for alpha in (0.25, 0.2):
        Ks = np.array([10, 20, 40, 80])
        sizes = [solve("n-synth", 0.5, PowerLaw(1, alpha), scheme="replace", generations=int(K),
                       n_real=10 ** 12).value for K in Ks]
        slope = np.polyfit(np.log(Ks), np.log(sizes), 1)[0]
        assert slope == pytest.approx(1 / alpha, rel=0.05)


def test_solve_with_huge_sizes_and_tiny_delta():
    r = solve("n-real", 1e-3, PowerLaw(1, 0.2), scheme="mix", generations=3, n_synth=1, delta=1e-300)
    assert r.reachable and r.value > 1e14 and mpmath.isfinite(r.achieved)


def test_diffusion_learner_solve_is_verified():
    r = solve("n-real", 0.2, Diffusion(), scheme="mix", generations=5, n_synth=1000, draw="iid")
    assert r.reachable and r.verified and r.achieved <= 0.2


@pytest.mark.parametrize("kwargs, message", [
    (dict(unknown="n-fake"), "unknown \\(--for\\) must be one of"),
    (dict(unknown="n-real", target=0), "target must be in"),
    (dict(unknown="n-real", delta=1.0), "delta must be in \\(0, 1\\)"),
    (dict(unknown="real-fraction", scheme="replace"), "real-fraction applies to mix and schedule"),
])
def test_solver_bad_input(kwargs, message):
    base = dict(unknown="n-real", target=0.1, learner=PowerLaw(1, 0.25), scheme="mix", generations=3,
                n_real=100, n_synth=100)
    base.update(kwargs)
    with pytest.raises(BoundcalcError, match=message):
        solve(**base)


def test_optimum_tau_closed_form_and_minimum():
    from boundcalc.bounds.solve import optimum
    r = optimum("tau", 1e4, c_width=0.0, delta_exponent=0)  # the constants as given
    assert float(r.value) == pytest.approx((1e4 * 1e4 / 4) ** 0.2, rel=1e-12)
    r = optimum("tau", 1e4, c_width=0.0, delta=0.01, generations=4)  # c_stat ell(delta/K)^2, lemma D4
    assert float(r.value) == pytest.approx((1e4 * 1e4 / (4 * (2 * math.log(400)) ** 2)) ** 0.2, rel=1e-12)
    r = optimum("tau", 1e4)  # c_width = 1: numeric root, below the closed form
    assert r.checks["below_neighbours"] and float(r.value) < float(r.checks["closed_form_without_width_term"])


def test_optimum_bandwidth_against_scipy_minimisation():
    from scipy.optimize import minimize_scalar
    from boundcalc.bounds.solve import optimum
    from boundcalc.model.targets import normal
    r = optimum("bandwidth", 2000, target="normal")
    g = normal()
    lap = g.laplacian_l1()

    def objective(h):
        return h * h / 4 * lap + (4 * np.pi) ** -0.25 * (2000 * h) ** -0.5 * g.k2_integral(h) / 2
    best = minimize_scalar(objective, bounds=(0.01, 2), method="bounded", options={"xatol": 1e-8})
    assert float(r.value) == pytest.approx(best.x, rel=1e-4)
    assert objective(float(r.value)) == pytest.approx(best.fun, rel=1e-8)
    # K3 treats J as a constant; J varies slowly with h, so its choice is close to the minimiser
    assert r.checks["k3_bandwidth"] == pytest.approx(best.x, rel=0.02)


def test_n_real_dip_of_a_u_shaped_kde_bound_is_found():
    """With --bandwidth auto the bandwidth follows n_real while later generations keep n_synth
    samples, so a_K is U-shaped in n_real; a narrow dip under the target must not be declared
    unreachable (an example found in review: n_real = 26130 meets 0.27546)."""
    from boundcalc.bounds.compose import compose_bound
    from boundcalc.bounds.learners import GaussianKDE
    from boundcalc.model.schemes import make_scheme
    from boundcalc.model.targets import bimodal
    learner = GaussianKDE(bimodal(), bandwidth="auto")
    # (the printed bound for K >= 2 is lemma KE5 since issue 9; its floor 0.1690057 is at n_real ~ 9859)
    target = 0.169022
    assert compose_bound(make_scheme("replace", 9859, 1000), learner, 3).final <= target
    assert compose_bound(make_scheme("replace", 3000, 1000), learner, 3).final > target
    assert compose_bound(make_scheme("replace", 26130, 1000), learner, 3).final > target
    r = solve("n-real", target, learner, scheme="replace", generations=3, n_synth=1000)
    assert r.reachable and r.value <= 9859 and r.checks["meets_target"] and r.checks["smaller_value_fails"]
    assert not r.checks["monotone_on_scan"]


def test_n_real_search_goes_past_double_precision():
    """Regression (issue 11): target 1e-4, power C = 1, alpha = 1/4, mix with n_synth = n_real, K = 10.
    The search used to stop at 2^53 and call the target unreachable; the answer is about 8.0e16.
    Reference: the recursion a_1 = n^-alpha, a_k = (2n)^-alpha + a_(k-1) / 2, in mpmath at 60 digits."""
    alpha, K, target = mpmath.mpf("0.25"), 10, mpmath.mpf("1e-4")

    def a_K(n):
        with mpmath.workdps(60):
            n = mpmath.mpf(n)
            a = n ** -alpha
            for _ in range(K - 1):
                a = (2 * n) ** -alpha + a / 2
            return a
    r = solve("n-real", 1e-4, PowerLaw(1, 0.25), scheme="mix", generations=K, n_real=10_000)
    assert r.reachable and r.verified
    assert 7.9e16 < r.value < 8.1e16
    assert a_K(r.value) <= target < a_K(r.value - 1)


def test_n_real_unreachable_only_with_a_proven_floor():
    """A KDE with a given bandwidth h cannot go below its bias term (K1 halved): any target under it
    is unreachable, and the floor reported is that bias term (an independent value: (h^2/4) ||Lap p0||_1
    for the standard normal in 1-D, whose Laplacian has L1 norm 4 phi(1) = 4 e^(-1/2) / sqrt(2 pi))."""
    h = 0.5
    learner = KDE(target="normal", bandwidth=h)
    lap = 4 * math.exp(-0.5) / math.sqrt(2 * math.pi)
    bias = h ** 2 / 4 * lap
    r = solve("n-real", bias * 0.9, learner, scheme="replace", generations=1)
    assert not r.reachable and r.verified
    assert float(r.floor) == pytest.approx(bias, rel=1e-9)
    assert "unreachable" in r.message


def test_n_real_not_found_is_never_verified():
    """With no proof of a floor above the target the solver may not call it unreachable."""
    from boundcalc.bounds import solve as solve_module
    r = solve("n-real", 1e-300, PowerLaw(1, 0.25), scheme="mix", generations=2, n_real=10)
    # a_K = O(n^-1/4): 1e-300 needs n ~ 1e1200, past the search limit; the floor 0 proves nothing
    assert r.value is None and not r.reachable and not r.verified
    assert "not proved" in r.message and solve_module.SEARCH_LIMIT < 10 ** 1200


@pytest.mark.parametrize("scheme,target", [("mix", 1e-3), ("replace", 0.5), ("accumulate", 0.05), ("mix", 0.2)])
def test_float_guided_n_real_equals_the_mpmath_scan(monkeypatch, scheme, target):
    """The double-precision guide (closed forms in numpy) only brackets; the answer is the mpmath
    scan-and-bisect answer exactly (the guide switched off as the second implementation)."""
    from boundcalc.bounds import solve as solve_module
    learner = PowerLaw(1.5, 0.3)
    guided = solve("n-real", target, learner, scheme=scheme, generations=6, n_synth=500)
    monkeypatch.setattr(solve_module, "_float_scan", lambda *a, **k: None)
    plain = solve("n-real", target, learner, scheme=scheme, generations=6, n_synth=500)
    assert guided.value == plain.value and guided.verified and plain.verified


@pytest.mark.parametrize("scheme", ["mix", "replace"])
def test_n_synth_unreachable_only_with_a_proven_floor(scheme):
    """replace: a_K >= a_1 = eps(n_real); mix with alpha <= 1: a_K >= eps(n_real) for every n_synth
    (see solve._floor_over_n_synth); the floor is C n_real^-alpha, computed here by hand."""
    r = solve("n-synth", 0.001, PowerLaw(1, 0.5), scheme=scheme, generations=10, n_real=1000)
    assert not r.reachable and r.verified and r.value is None
    assert float(r.floor) == pytest.approx(1000 ** -0.5, rel=1e-12)
    assert "unreachable" in r.message and "floor of generation 1" in r.message


def test_n_synth_without_a_floor_is_not_declared_unreachable():
    # accumulate has no proven floor over n_synth: the scan finds no value, and says it proved nothing
    r = solve("n-synth", 0.001, PowerLaw(1, 0.5), scheme="accumulate", generations=10, n_real=1000)
    assert not r.reachable and not r.verified and r.value is None
    assert r.message.startswith("not found") and "not proved" in r.message
