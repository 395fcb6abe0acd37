"""The KDE loop bound (KE2, KE3, KE5) of a ``mix`` loop with REUSED real data, carried in O(K) (bounds/kde_steady.py).

References not computed by the carry: the direct block sums of ``kde_expected`` (every block, every generation,
the kernel tables of ``model.kde_blocks``), and closed forms of the real block's kernel and of Q_i
(``derivations/cost-in-K.md``, section 7, reused real data).
"""

from __future__ import annotations

import json

import pytest

from boundcalc.bounds.kde_expected import expected_bound, loop_probability_bound
from boundcalc.bounds.kde_steady import applies, steady_mix_bounds
from boundcalc.bounds.learners import KDE
from boundcalc.cli.main import main
from boundcalc.model.kde_blocks import block_structure
from boundcalc.model.schemes import Mix
from boundcalc.model.targets import parse_target


def _case(n_real, n_synth, target="bimodal"):
    return (Mix(n_real, n_synth, real_data="reused"), parse_target(target),
            float(KDE(target=target).resolved_bandwidth(n_real)))


def _direct(scheme, target, h, K):
    hs = [h] * K
    direct = expected_bound(scheme, target, hs, K)
    return direct, loop_probability_bound(scheme, target, hs, K, 0.05, expected=direct), 2 * K * h * h


def test_reused_mix_is_carried():
    scheme, target, _ = _case(500, 500)
    assert applies(scheme, target)
    assert not applies(Mix(500, 0, real_data="reused"), target)


@pytest.mark.parametrize("n_real, n_synth", [(500, 500), (300, 1200)])
@pytest.mark.parametrize("K", [1, 2, 5, 9, 13])
def test_reused_carry_equals_the_direct_sums(n_real, n_synth, K):
    """Nothing left to the tail (recent >= K) and the direct path's grid: the carried T_r, int sqrt(V_i), Q_i,
    KE2, KE3 and KE5 equal the direct sums to 1e-12 (K = 9, 13: the real kernel has more than 8 terms, both
    bound its square by Cauchy-Schwarz; K <= 5: both expand it exactly)."""
    scheme, target, h = _case(n_real, n_synth)
    direct, loop, extra = _direct(scheme, target, h, K)
    carried, carried_loop = steady_mix_bounds(scheme, target, h, K, 0.05, recent=10 ** 9, extra_variance=extra)
    for name in ("linear", "variance", "bias_tv", "deviation", "linear_stochastic"):
        assert getattr(carried, name) == pytest.approx(getattr(direct, name), rel=1e-12, abs=0), name
    assert carried_loop.squared_mass_sum == pytest.approx(loop.squared_mass_sum, rel=1e-12, abs=0)
    assert carried_loop.bound == pytest.approx(loop.bound, rel=1e-12, abs=0)


@pytest.mark.parametrize("recent", [1, 3])
def test_reused_carry_with_a_short_head_is_above_the_direct_sums(recent):
    """Synthetic blocks older than ``recent`` and real-kernel terms older than REAL_HEAD * recent replaced by
    the proven scalar bounds: every KE3 integral and KE5 bound is >= the direct one on the same grid, equal
    while nothing is old enough, and within a factor 1.5 (recent = 1) or 1.1 (recent = 3) at K = 13."""
    scheme, target, h = _case(500, 500)
    K = 13
    direct, loop, extra = _direct(scheme, target, h, K)
    carried, carried_loop = steady_mix_bounds(scheme, target, h, K, 0.05, recent=recent, extra_variance=extra)
    for i in range(K):
        assert carried.deviation[i] >= direct.deviation[i] * (1 - 1e-12)
        assert carried.variance[i] >= direct.variance[i] * (1 - 1e-12)
        assert carried_loop.bound[i] >= loop.bound[i] * (1 - 1e-12)
        if i <= recent:  # generation i + 1: no synthetic block older than recent, no real term older than the head
            assert carried_loop.bound[i] == pytest.approx(loop.bound[i], rel=1e-12)
    assert carried_loop.bound[-1] > loop.bound[-1]
    assert carried_loop.bound[-1] <= (1.5 if recent == 1 else 1.1) * loop.bound[-1]
    # the linear composition KE2 and Q_i do not depend on the split
    assert carried.linear == pytest.approx(direct.linear, rel=1e-12, abs=0)
    assert carried_loop.squared_mass_sum == pytest.approx(loop.squared_mass_sum, rel=1e-12, abs=0)


@pytest.mark.parametrize("n_real, n_synth", [(500, 500), (200, 600)])
def test_real_block_kernel_is_the_closed_form(n_real, n_synth):
    """model.kde_blocks' table of the reused real block: c_a = lambda (1-lambda)^a at variance (a+1) h^2 for
    a <= i - 2, (1-lambda)^(i-1) at i h^2, mass 1 (the derivation's kernel)."""
    scheme, target, h = _case(n_real, n_synth)
    lam, h2, K = n_real / (n_real + n_synth), h * h, 12
    structure = block_structure(target, scheme, [h] * K, K)
    for i in range(1, K + 1):
        table = sorted(structure.kernels[i][(0, 1)].items())
        expected = [((a + 1) * h2, lam * (1 - lam) ** a) for a in range(i - 1)] + [(i * h2, (1 - lam) ** (i - 1))]
        assert [v for v, _ in table] == pytest.approx([v for v, _ in expected], rel=1e-11)
        assert [c for _, c in table] == pytest.approx([c for _, c in expected], rel=1e-12)
        assert structure.mass(i, (0, 1)) == pytest.approx(1.0, rel=1e-14)


def test_q_is_exact():
    """Q_i = 1/n_real + sum_(j=2..i) ((1-lambda)^(i-j+1))^2 / n_synth (closed form), = block_structure's
    squared_mass_sum, whatever the head (recent) is."""
    n_real, n_synth = 600, 300
    scheme, target, h = _case(n_real, n_synth)
    lam, K = n_real / (n_real + n_synth), 60
    closed = [1 / n_real + sum(((1 - lam) ** (i - j + 1)) ** 2 / n_synth for j in range(2, i + 1))
              for i in range(1, K + 1)]
    structure = block_structure(target, scheme, [h] * K, K)
    assert [structure.squared_mass_sum(i) for i in range(1, K + 1)] == pytest.approx(closed, rel=1e-13)
    _, carried_loop = steady_mix_bounds(scheme, target, h, K, 0.05, recent=2)
    assert carried_loop.squared_mass_sum == pytest.approx(closed, rel=1e-13)


def test_cli_bound_with_reused_real_data_past_the_direct_sums(capsys):
    """K = 1000 with reused real data (refused before: K <= 200): the O(K) path; the printed bound of every
    generation is the carried KE5 bound (real fraction 0.9: its laws converge in a few dozen generations)."""
    argv = ["bound", "--learner", "kde", "--real-data", "reused", "-K", "1000", "--n-real", "900", "--n-synth", "100"]
    assert main([*argv, "--json"]) in (0, None)
    data = json.loads(capsys.readouterr().out)
    assert len(data["bound"]) == 1000
    scheme, target, _ = _case(900, 100)
    learner = KDE(target="bimodal")
    _, loop = steady_mix_bounds(scheme, target, float(learner.resolved_bandwidth(900)), 1000, 0.05)
    assert data["final"] == pytest.approx(loop.bound[-1], rel=1e-12)
    assert data["final"] <= 1.0 and data["bound"][-1] >= data["bound"][64]


def test_reused_carry_in_two_dimensions():
    """d = 2 (tensor grid): equal to the direct sums to 1e-12 at K = 9 with nothing in the tail, and above
    them with a short head (recent = 2: synthetic blocks past age 2, real terms past age 4 bounded)."""
    scheme, target = Mix(400, 400, real_data="reused"), parse_target("normal:dim=2")
    h, K = 0.2, 9
    direct, loop, extra = _direct(scheme, target, h, K)
    carried, carried_loop = steady_mix_bounds(scheme, target, h, K, 0.05, recent=10 ** 9, extra_variance=extra)
    assert carried.deviation == pytest.approx(direct.deviation, rel=1e-12, abs=0)
    assert carried_loop.bound == pytest.approx(loop.bound, rel=1e-12, abs=0)
    _, short = steady_mix_bounds(scheme, target, h, K, 0.05, recent=2, extra_variance=extra)
    assert all(s >= d * (1 - 1e-12) for s, d in zip(short.bound, loop.bound))
    assert short.bound[-1] > loop.bound[-1]
