"""The O(K) carry of the KDE loop bound (bounds/kde_steady.py) for a schedule whose real fraction and size change
from generation to generation (fresh real data): each block's kernel mass is multiplied by the weight w_i of
p_(i-1) in every later plan, Q_i = w_i^2 Q_(i-1) + the new blocks, the tail by w_i times the widening factor."""

from __future__ import annotations

import pytest

from boundcalc.bounds.kde_expected import expected_bound, loop_probability_bound
from boundcalc.bounds.kde_steady import applies, steady_mix_bounds
from boundcalc.bounds.learners import KDE
from boundcalc.model.kde_blocks import block_structure
from boundcalc.model.schemes import Schedule
from boundcalc.model.targets import parse_target

FRACTIONS = [0.5, 0.3, 1.0, 0.7, 0.0, 0.45, 0.6, 0.5, 0.25, 0.8, 0.5, 0.4]
SIZES = [400, 900, 600, 1200, 500, 800, 700, 1000, 650, 300, 900, 750]


def _case(K):
    scheme = Schedule(500, real_fractions=FRACTIONS[:K - 1], sizes=SIZES[:K - 1])
    return scheme, parse_target("bimodal"), float(KDE(target="bimodal").resolved_bandwidth(500))


@pytest.mark.parametrize("K", [2, 5, 9, 13])
def test_schedule_carry_equals_the_direct_sums(K):
    """No block left to the tail and the direct grid: the carried quantities equal the direct block sums (1e-12),
    Q_i equals the block bookkeeping."""
    scheme, target, h = _case(K)
    assert applies(scheme, target)
    hs = [h] * K
    direct = expected_bound(scheme, target, hs, K)
    loop = loop_probability_bound(scheme, target, hs, K, 0.05, expected=direct)
    carried, carried_loop = steady_mix_bounds(scheme, target, h, K, 0.05, recent=10 ** 9,
                                              extra_variance=2 * sum(x * x for x in hs))
    for name in ("linear", "variance", "bias_tv", "deviation"):
        assert getattr(carried, name) == pytest.approx(getattr(direct, name), rel=1e-12, abs=1e-15), name
    structure = block_structure(target, scheme, hs, K)
    assert carried_loop.squared_mass_sum == pytest.approx([structure.squared_mass_sum(i) for i in range(1, K + 1)],
                                                          rel=1e-12)
    assert carried_loop.bound == pytest.approx(loop.bound, rel=1e-12, abs=0)


@pytest.mark.parametrize("recent", [1, 3])
def test_schedule_tail_bound_is_above_the_direct_sum(recent):
    scheme, target, h = _case(13)
    K = 13
    hs = [h] * K
    direct = expected_bound(scheme, target, hs, K)
    loop = loop_probability_bound(scheme, target, hs, K, 0.05, expected=direct)
    carried, carried_loop = steady_mix_bounds(scheme, target, h, K, 0.05, recent=recent,
                                              extra_variance=2 * sum(x * x for x in hs))
    for i in range(K):
        assert carried.deviation[i] >= direct.deviation[i] * (1 - 1e-12)
        assert carried_loop.bound[i] >= loop.bound[i] * (1 - 1e-12)
    assert carried_loop.bound[-1] > loop.bound[-1]


def test_learner_answers_a_long_varying_schedule():
    """300 generations of a schedule alternating two fractions (past the direct sums' 200): the O(K) carry."""
    learner = KDE(target="bimodal")
    scheme = Schedule(1000, real_fractions=[0.5, 0.6] * 150, sizes=[2000, 1600] * 150)
    errors = learner.errors(scheme, 300, 0.05)
    assert len(errors) == 300 and all(0 < float(e.terms["loop_bound"]) < 1 for e in errors)
