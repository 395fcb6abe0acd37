"""The O(K) carry of the KDE loop bound (bounds/kde_steady.py) for a schedule whose real fraction and size change
from generation to generation (fresh real data).  Equality with the direct sums and the short-head bound are
checked beside fresh mix in tests/test_scale_recursion.py; here Q_i against the block bookkeeping and a long run."""

from __future__ import annotations

import pytest

from boundcalc.bounds.kde_steady import applies, steady_mix_bounds
from boundcalc.bounds.learners import KDE
from boundcalc.model.kde_blocks import block_structure
from boundcalc.model.schemes import Schedule
from boundcalc.model.targets import parse_target


def test_schedule_q_is_the_block_bookkeeping():
    """Q_i = w_i^2 Q_(i-1) + the new blocks, against kde_blocks' sum of squared kernel masses."""
    from test_scale_recursion import SCHEDULE_FRACTIONS, SCHEDULE_SIZES
    K, target = 13, parse_target("bimodal")
    scheme = Schedule(500, real_fractions=SCHEDULE_FRACTIONS, sizes=SCHEDULE_SIZES)
    h = float(KDE(target="bimodal").resolved_bandwidth(500))
    assert applies(scheme, target)
    _, loop = steady_mix_bounds(scheme, target, h, K, 0.05)
    structure = block_structure(target, scheme, [h] * K, K)
    assert loop.squared_mass_sum == pytest.approx([structure.squared_mass_sum(i) for i in range(1, K + 1)], rel=1e-12)


def test_learner_answers_a_long_varying_schedule():
    """300 generations of a schedule alternating two fractions (past the direct sums' 200): the O(K) carry."""
    learner = KDE(target="bimodal")
    scheme = Schedule(1000, real_fractions=([0.5, 0.6] * 150)[:299], sizes=([2000, 1600] * 150)[:299])
    errors = learner.errors(scheme, 300, 0.05)
    assert len(errors) == 300 and all(0 < float(e.terms["loop_bound"]) < 1 for e in errors)
