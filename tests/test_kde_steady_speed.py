"""The shortcuts of the O(K) KDE loop bound of a fresh mix loop (bounds/kde_steady.py, model/kde_law.py,
the KDE learner's recursion) give the numbers of the plain computations they replace."""

from __future__ import annotations

import numpy as np
import pytest

from boundcalc.bounds.kde_expected import _quadrature
from boundcalc.bounds.kde_steady import _BlockDensities, steady_mix_bounds
from boundcalc.bounds.learners import KDE
from boundcalc.model.kde_law import expected_training_mixtures
from boundcalc.model.schemes import Mix
from boundcalc.model.targets import mixture_of, parse_target


def _case(n_real=300, n_synth=700, target="bimodal"):
    return Mix(n_real, n_synth), parse_target(target), float(KDE(target=target).resolved_bandwidth(n_real))


def test_batched_densities_equal_each_law_evaluated_alone():
    """One matrix product per width over all source laws = GaussianMixture.convolve(width).density per law."""
    scheme, target, h = _case()
    laws = [target] + expected_training_mixtures(target, scheme, h, 60)
    sources = list({id(law): law for law in laws}.values())
    x = _quadrature(target, 30 * h * h).points
    batched = _BlockDensities(x, 1, sources)
    for law in sources[::7] + [sources[-1]]:
        for var in (h * h, 5.5 * h * h, 17 * h * h):
            mean, square = batched.pair(law, var)
            alone = _BlockDensities(x, 1)  # no sources: the direct evaluation
            mean_ref, square_ref = alone.pair(law, var)
            assert np.max(np.abs(mean - mean_ref)) <= 1e-13 * np.max(mean_ref)
            assert np.max(np.abs(square - square_ref)) <= 1e-13 * np.max(square_ref)
        assert np.max(np.abs(batched.density(law) - law.density(x))) <= 1e-13 * np.max(law.density(x))


def test_fixed_point_rows_equal_the_generations_computed_one_by_one():
    """Past the fixed point the rows are copies; computing every generation gives the same floats."""
    scheme, target, h = _case(1000, 1000)
    fast = steady_mix_bounds(scheme, target, h, 400, 0.05)
    slow = steady_mix_bounds(scheme, target, h, 400, 0.05, fixed_point=False)
    for a, b in zip(fast, slow):
        assert a.to_dict() == b.to_dict()


def test_mix_laws_past_their_fixed_point_equal_the_plain_recursion():
    """Lemma K4 for mix, r_i = (lam p0 + (1 - lam) r_(i-1)) * phi_h, iterated as explicit mixtures (no table,
    no pruning, no repeated object) against the carried laws at K = 260 (they stop changing near 130)."""
    scheme, target, h = _case(1000, 1000)
    K = 260
    laws = expected_training_mixtures(target, scheme, h, K)
    assert laws[-1] is laws[200]  # repeated as one object
    plain = target
    for _ in range(K):
        plain = mixture_of([(0.5, target), (0.5, plain)]).convolve(h)  # 2 more components per generation
    x = np.linspace(-40, 40, 4001)
    ref = plain.density(x)
    assert np.max(np.abs(laws[-1].density(x) - ref)) <= 1e-12 * np.max(ref)


def test_learner_recursion_of_a_converged_loop_equals_the_plain_recursion():
    """The KDE learner's eps_i and recursed a_i (theorem S1: eps_i = max(0, B_i - w a_(i-1))) for mix at
    K = 300 (rows repeated past the fixed point) against the recursion written out here from the KE5 rows."""
    import mpmath
    scheme, target, h = _case(1000, 1000)
    learner = KDE(target="bimodal")
    K = 300
    errors = learner.errors(scheme, K, 0.05)
    w = mpmath.mpf(1000) / mpmath.mpf(2000)
    a_prev = None
    for e in errors:
        bound = e.terms["loop_bound"]
        previous = w * a_prev if a_prev is not None else mpmath.mpf(0)
        eps = max(bound - previous, mpmath.mpf(0))
        assert e.eps == eps
        a_prev = eps + previous
    assert errors[-1].eps == errors[-2].eps


def test_reused_fixed_point_rows_equal_the_generations_computed_one_by_one():
    """With reused real data the fill waits for the real block's rest to settle (its factor (1 - lambda)^((i-1)/2)
    underflows near i = 2150 at lambda = 1/2); the rows then equal those computed one by one."""
    scheme, target, h = _case(1000, 1000)
    scheme = Mix(1000, 1000, real_data="reused")
    fast = steady_mix_bounds(scheme, target, h, 2400, 0.05)
    slow = steady_mix_bounds(scheme, target, h, 2400, 0.05, fixed_point=False)
    for a, b in zip(fast, slow):
        assert a.to_dict() == b.to_dict()


def test_a_schedule_that_is_a_mix_gets_the_mix_numbers_past_the_direct_sums():
    """Schedule(n_real, [lam], [N]) with the counts of Mix(n_real, N - n_real) is the same loop: the same eps at
    K = 300 (the O(K) carry); a schedule whose fractions change is carried too (not the mix numbers), and one
    that does not list every generation is refused in one line naming the missing generation."""
    from boundcalc._checks import BoundcalcError
    from boundcalc.model.schemes import Schedule
    learner = KDE(target="bimodal")
    mix = learner.errors(Mix(1000, 1000), 300, 0.05)
    schedule = learner.errors(Schedule(1000, real_fractions=[0.5], sizes=[2000]), 300, 0.05)
    assert [e.eps for e in schedule] == [e.eps for e in mix]
    changing = learner.errors(Schedule(1000, real_fractions=[0.5, 0.25] * 150, sizes=[2000]), 300, 0.05)
    assert len(changing) == 300 and [e.eps for e in changing] != [e.eps for e in mix]
    with pytest.raises(BoundcalcError, match=r"generation 4 is not given"):
        learner.errors(Schedule(1000, real_fractions=[0.5, 0.25], sizes=[2000]), 300, 0.05)
