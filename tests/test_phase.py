"""Phase transition (docs/theory.md section 6): closed form against the numbers it claims,
the numeric locator against the closed form, and the no-transition case."""

import pytest

from boundcalc.bounds.learners import Diffusion, PowerLaw
from boundcalc.bounds.phase import _numeric_phase, phase_transition


def test_generation_two_threshold_is_5_to_the_5_over_4_minus_1():
    r = phase_transition(PowerLaw(1, 0.2), 1000)
    assert r.exists
    assert float(r.threshold) / 1000 == pytest.approx(5 ** 1.25 - 1, rel=1e-12)
    assert round(float(r.threshold) / 1000, 4) == 6.4767
    assert abs(r.checks["derivative_at_threshold"]) < 1e-10
    assert r.checks["rises_before"] and r.checks["falls_after"] and r.checks["above_limit"]
    # the limit is a_1 = C n_real^-alpha, approached from above
    assert float(r.limit) == pytest.approx(1000 ** -0.2)


def test_peak_value_by_direct_evaluation():
    C, alpha, n = 1.0, 0.2, 1000.0
    r = phase_transition(PowerLaw(C, alpha), n)
    s = float(r.threshold)
    a1 = C * n ** -alpha
    direct = C * (n + s) ** -alpha + s / (n + s) * a1
    assert float(r.peak) == pytest.approx(direct, rel=1e-12)
    for other in (0.5 * s, 0.9 * s, 1.1 * s, 3 * s):
        assert C * (n + other) ** -alpha + other / (n + other) * a1 < direct


def test_no_transition_when_previous_error_is_small():
    r = phase_transition(PowerLaw(1, 0.2), 1000, previous_tv=0.01)
    assert not r.exists and r.threshold is None and "no transition" in r.message


def test_numeric_locator_agrees_with_closed_form():
    learner = PowerLaw(1, 0.3)
    closed = phase_transition(learner, 500, generation=3)
    f = closed.curve
    numeric = _numeric_phase(f, 500, closed.previous_tv, {})
    assert numeric.exists and numeric.checks["local_maximum"]
    assert float(numeric.threshold) == pytest.approx(float(closed.threshold), rel=1e-6)
    assert float(numeric.peak) == pytest.approx(float(closed.peak), rel=1e-10)


def test_later_generation_uses_the_bound_of_earlier_generations():
    learner = PowerLaw(1, 0.2)
    r = phase_transition(learner, 1000, generation=4, n_synth_before=2000)
    # a_3 of the mix loop with 2000 synthetic samples, computed by hand
    lam = 1000 / 3000
    a = 1000 ** -0.2
    for _ in range(2):
        a = 3000 ** -0.2 + (1 - lam) * a
    assert float(r.previous_tv) == pytest.approx(a, rel=1e-13)
    N_star = (a * 1000 / (0.2 * 1)) ** (1 / 0.8)
    assert float(r.threshold) == pytest.approx(N_star - 1000, rel=1e-12)


def test_diffusion_with_fixed_tau_has_no_interior_peak():
    # with tau fixed, eps(N) tends to c_opt/tau + ... > 0, so f rises monotonically to its limit
    # lemma D1 covers iid mix sets only; k_delta = 0 keeps the constants as given (no confidence factor),
    # at which the statistical term tau^4/(m N) of a fixed tau = 20 does not dominate the curve
    r = phase_transition(Diffusion(tau=20.0, delta_exponent=0), 1000, draw="iid")
    assert r.method == "numeric" and not r.exists and "rises" in r.message
    f = r.curve
    values = [f(s) for s in (0, 1e2, 1e4, 1e6)]
    assert values == sorted(values)


def test_diffusion_with_early_stopping_has_a_verified_peak():
    r = phase_transition(Diffusion(), 1000, draw="iid")  # tau = tau*(N): eps(N) ~ N^(-1/5) after Pinsker
    if not r.exists:  # the power-law-like regime: eps(N) -> small as N grows
        pytest.fail(r.message)
    assert r.checks["local_maximum"] and r.checks["interior"] and r.peak > r.at_zero


def test_no_transition_for_alpha_at_least_one():
    # f(s) = C/N + s/N a_1 with a_1 = C/n_real is constant for alpha = 1: no peak, whatever rounding says
    r = phase_transition(PowerLaw(1, 1.0), 1000)
    assert not r.exists and r.threshold is None
    f = r.curve
    assert float(f(0)) == pytest.approx(float(f(5000)), rel=1e-12)
    assert not phase_transition(PowerLaw(1, 1.5), 1000).exists
