"""The KDE loop bound (KE2, KE3, KE5) carried by kernel tables in O(K) (bounds/kde_tables.py): accumulate, mix, schedule.

References not computed by the carry: the block bookkeeping of ``model.kde_blocks`` (every block's kernel table as a
``{variance: weight}`` dict, its mass), the laws of ``model.kde_law`` and the direct block sums of ``kde_expected``;
a second evaluation of the carried variance bound written here from those tables with
``GaussianMixture.convolve(...).density`` (``derivations/cost-in-K.md``, section 10).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from boundcalc.bounds.kde_tables import AccumulateTables, applies, table_bounds, tables_for
from boundcalc.bounds.kde_expected import (QUADRATURE_MARGIN, _quadrature, expected_bound,
                                          loop_probability_bound)
from boundcalc.bounds.learners import KDE, KDE_DIRECT_GENERATIONS, MAX_KDE_MIX_GENERATIONS
from boundcalc.cli.main import main
from boundcalc.model.kde_blocks import block_structure
from boundcalc.model.schemes import Accumulate, Mix, Replace, Schedule
from boundcalc.model.targets import parse_target

H = 0.3


def _scheme(name, K, n_real=300, n_synth=500):
    """The loops the tables carry: accumulate and mix with fresh or reused real data, and a schedule whose real
    fractions run through 0, 1 and values between and whose sizes change (K - 1 of each)."""
    if name == "replace":
        return Replace(n_real, n_synth)
    if name == "schedule":
        return Schedule(n_real, real_fractions=[(0.5, 0.0, 1.0, 0.3, 0.8)[j % 5] for j in range(K - 1)],
                        sizes=[(n_real + n_synth, 2 * n_synth, n_real)[j % 3] for j in range(K - 1)])
    kind, real_data = name.split()
    return (Accumulate if kind == "accumulate" else Mix)(n_real, n_synth, real_data=real_data)


SCHEMES = ["accumulate fresh", "accumulate reused", "mix fresh", "mix reused", "schedule"]


def _direct(scheme, target, K):
    hs = [H] * K
    direct = expected_bound(scheme, target, hs, K)
    return direct, loop_probability_bound(scheme, target, hs, K, 0.05, expected=direct), 2 * K * H * H


TWO_D = "mixture:weights=0.5,0.5;means=-2/0,2/1;scales=1/0.8,0.7/1"


def test_the_tables_carry_every_scheme_in_one_and_two_dimensions():
    target = parse_target("bimodal")
    assert all(applies(_scheme(name, 5), target) for name in SCHEMES + ["replace"])
    assert not applies(Mix(100, 0), target)
    two = parse_target(TWO_D)
    assert two.dim == 2 and applies(Accumulate(100, 100), two)
    three = parse_target("mixture:weights=1;means=0/0/0;scales=1/1/1")
    assert three.dim == 3 and not applies(Accumulate(100, 100), three)


def _k_of(law, target):
    """The k of every component of a K4 law of the one-component target N(0, 1): scale^2 = 1 + k h^2."""
    k = np.rint((law.scales[:, 0] ** 2 - target.scales[0, 0] ** 2) / (H * H)).astype(int)
    assert np.allclose(law.scales[:, 0] ** 2, 1 + k * H * H, rtol=0, atol=1e-12)
    return k


@pytest.mark.parametrize("name", SCHEMES)
def test_kernel_table_is_the_block_bookkeeping(name):
    """M_i(t, k) = sum_beta (m_beta / N_beta) c_(i,beta)(t) pi_(s_beta)(k), from the kernel dicts of model.kde_blocks:
    the weight c(t) of variance (1 + t) h^2, the mass m_beta at generation i (accumulate: after the block's first
    generation, when it freezes), the source law's weights over k; real blocks in column 0, synthetic in 1 + k."""
    target = parse_target("normal")
    K = 7
    scheme = _scheme(name, K + 1)
    structure = block_structure(target, scheme, H, K + 1)
    tables = tables_for(scheme, H * H)
    for i in range(1, K + 1):
        tables.step()
        expected = np.zeros((i, 2 + i))
        for key, kernel in structure.kernels[i].items():
            block = structure.blocks[key]
            later = min(block.drawn_at + 1, K + 1) if isinstance(scheme, Accumulate) else i
            kappa = structure.mass(later, key) / block.count
            law = structure.laws[block.source]
            ks = _k_of(law, target)
            for var, c in kernel.items():
                t = int(round(var / (H * H))) - 1
                if block.source == 0:
                    expected[t, 0] += kappa * c
                else:
                    for k, w in zip(ks, law.weights):
                        expected[t, 1 + k] += kappa * c * w
        got = tables.kernels
        assert got.shape[0] <= expected.shape[0]
        padded = np.zeros_like(expected)
        padded[:got.shape[0], :min(got.shape[1], expected.shape[1])] = got[:, :expected.shape[1]]
        assert np.all(got[:, expected.shape[1]:] == 0)
        np.testing.assert_allclose(padded, expected, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("name", SCHEMES + ["replace"])
def test_q_and_the_laws_are_the_block_bookkeeping(name):
    """Q_i = sum_beta m_(i,beta)^2 / N_beta (masses of model.kde_blocks) and the law tables pi_i (model.kde_law's
    laws, here N(0, 1 + k h^2) components) at every generation."""
    target = parse_target("normal")
    K = 9
    scheme = _scheme(name, K, 400, 250)
    structure = block_structure(target, scheme, H, K)
    tables = tables_for(scheme, H * H)
    for i in range(1, K + 1):
        step = tables.step()
        assert step.q == pytest.approx(structure.squared_mass_sum(i), rel=1e-13, abs=0)
        law = structure.laws[i]
        table = np.zeros(i + 2)
        table[_k_of(law, target)] = law.weights
        np.testing.assert_allclose(np.pad(tables.law, (0, i + 2 - tables.law.size)), table, rtol=1e-12, atol=0)


def _variance_bound_by_hand(structure, i, x, q_parts, dim=1):
    """The carried bound on V_i(x) written from the block tables: per block (m/N) sum_t c(t) r_s * phi_t^2
    (Cauchy-Schwarz, phi_t^2 = (4 pi v)^(-1/2) phi_(v/2), v = (1+t) h^2), minus, per class c of blocks (real,
    synthetic), A_c^2 / Q_c with A_c = sum_(beta in c) (m/N) r_s * G."""
    v = np.zeros(x.shape[0])
    means = [np.zeros(x.shape[0]), np.zeros(x.shape[0])]
    for key, kernel in structure.kernels[i].items():
        block = structure.blocks[key]
        law = structure.laws[block.source]
        mass = structure.mass(i, key)
        for var, c in kernel.items():
            v += mass / block.count * c * (4 * math.pi * var) ** (-dim / 2) * law.convolve(math.sqrt(var / 2)).density(x)
            means[block.source >= 1] += mass / block.count * c * law.convolve(math.sqrt(var)).density(x)
    for c in (0, 1):
        if q_parts[c] > 0:
            v -= means[c] ** 2 / q_parts[c]
    return v


@pytest.mark.parametrize("name", SCHEMES + ["replace"])
def test_carried_variance_integral_equals_a_second_evaluation(name):
    """int sqrt(V_i) of the carry equals the same bound evaluated here from the block tables (on the same grid,
    with the same margin): never below it, and above it by at most 1e-5 relative (the allowance for the compressed
    basis, at most ~1e-17 per node, grows to ~1e-7 relative through the square root where V_i is ~0 in the tails).
    The kernel table, its collapse onto the basis F_u, the compressed basis and the class sums are checked at once."""
    target = parse_target("bimodal")
    K = 6
    scheme = _scheme(name, K, 500, 700)
    extra = 2 * K * H * H
    carried, _ = table_bounds(scheme, target, H, K, 0.05, extra_variance=extra)
    structure = block_structure(target, scheme, H, K)
    quad = _quadrature(target, extra)
    x = quad.axes[0]
    tables = tables_for(scheme, H * H)
    for i in range(1, K + 1):
        step = tables.step()
        v = _variance_bound_by_hand(structure, i, x, step.q_parts)
        by_hand = quad.integrate(np.sqrt(np.maximum(v, 0.0))) * (1 + QUADRATURE_MARGIN[1])
        assert by_hand * (1 - 1e-12) <= 2 * carried.deviation[i - 1] <= by_hand * (1 + 1e-5), i


@pytest.mark.parametrize("name", SCHEMES + ["replace"])
def test_carry_is_above_the_direct_sums_and_close(name):
    """On the direct path's grid: T_r equal (the same laws), Q_i equal, int sqrt(V_i) >= the direct sum (each
    block's term bounded above: Cauchy-Schwarz, subtracted squares bounded below) and within 3% of it, KE2 within
    the quadrature margin above it (K2 integrals on the grid, times the margin, against the graded nodes), KE5 >=
    the direct KE5 and within 1%."""
    target = parse_target("bimodal")
    K = 10
    scheme = _scheme(name, K, 1000, 1000)
    direct, loop, extra = _direct(scheme, target, K)
    carried, carried_loop = table_bounds(scheme, target, H, K, 0.05, extra_variance=extra)
    assert carried.bias_tv == pytest.approx(direct.bias_tv, rel=1e-9, abs=0)
    assert carried_loop.squared_mass_sum == pytest.approx(loop.squared_mass_sum, rel=1e-13, abs=0)
    for c, d in zip(carried.deviation, direct.deviation):
        assert d * (1 - 1e-12) <= c <= 1.03 * d
    for c, d in zip(carried.linear, direct.linear):
        assert d <= c <= d * (1 + 2 * QUADRATURE_MARGIN[1])
    for c, d in zip(carried_loop.bound, loop.bound):
        assert d * (1 - 1e-12) <= c <= 1.01 * d
    # one block, one term: exact up to the compressed basis' allowance (1e-5, see the second evaluation above)
    assert direct.deviation[0] <= carried.deviation[0] <= direct.deviation[0] * (1 + 1e-5)


def test_generation_one_is_lemma_ke5_of_one_block():
    """Generation 1 (one block of p0, kernel phi_h): Cauchy-Schwarz is an equality and the subtracted square is
    exact, so the carry's int sqrt(V_1) is the direct one (up to the compressed basis' allowance, 1e-5)."""
    target = parse_target("normal")
    scheme = Accumulate(800, 200)
    direct, _, extra = _direct(scheme, target, 1)
    carried, _ = table_bounds(scheme, target, H, 1, 0.05, extra_variance=extra)
    assert direct.deviation[0] <= carried.deviation[0] <= direct.deviation[0] * (1 + 1e-5)


def test_a_long_carry_keeps_its_dropped_mass_tiny_and_grows_slowly():
    """K = 3000 (pruning active): the dropped kernel and law masses stay under 1e-30, every bound is finite and
    positive, T_r (the drift of r_i away from p0) grows with i, and Q_i converges (it is a convergent sum)."""
    target = parse_target("bimodal")
    scheme = Accumulate(1000, 1000)
    tables = AccumulateTables(scheme, H * H)
    for _ in range(3000):
        step = tables.step()
        assert step.ghost < 1e-30 and step.dropped < 1e-30
    carried, loop = table_bounds(scheme, target, H, 3000, 0.05)
    assert all(math.isfinite(b) and b > 0 for b in loop.bound)
    assert carried.bias_tv[2999] > carried.bias_tv[999] > carried.bias_tv[99]
    q = loop.squared_mass_sum
    assert q[2999] - q[1499] < 1e-3 * q[2999]


def test_the_learner_takes_the_carry_past_the_direct_generations(capsys):
    """Past KDE_DIRECT_GENERATIONS the accumulate loop bound is the carry (its rows equal accumulate_bounds), each
    a_i of the S1 recursion is >= the KE5 row; past MAX_KDE_MIX_GENERATIONS one line, exit 2."""
    K = KDE_DIRECT_GENERATIONS + 36
    learner = KDE(target="bimodal", bandwidth=H)
    scheme = Accumulate(1000, 1000)
    errors = learner.errors(scheme, K, 0.05)
    _, loop = table_bounds(scheme, parse_target("bimodal"), H, K, 0.05)
    assert [float(e.terms["loop_bound"]) for e in errors] == loop.bound
    assert main(["bound", "--learner", "kde", "--bandwidth", str(H), "--scheme", "accumulate", "--n-real", "1000",
                 "--n-synth", "1000", "-K", str(K), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(a >= b * (1 - 1e-15) for a, b in zip(out["bound"], loop.bound))
    assert main(["bound", "--learner", "kde", "--scheme", "accumulate", "-K", str(MAX_KDE_MIX_GENERATIONS + 1)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"[1, {MAX_KDE_MIX_GENERATIONS}]" in err[0] and "accumulate" in err[0]


@pytest.mark.parametrize("real_data", ["fresh", "reused"])
def test_mix_fixed_point_rows_are_the_computed_ones(real_data):
    """A mix loop's tables reach their exact fixed point in floating point (here by generation ~250 at real fraction
    0.7); the rows copied from there equal those computed generation by generation."""
    target = parse_target("bimodal")
    scheme = Mix(700, 300, real_data=real_data)
    K = 400
    fast = table_bounds(scheme, target, H, K, 0.05)
    slow = table_bounds(scheme, target, H, K, 0.05, fixed_point=False)
    assert fast[0].to_dict() == slow[0].to_dict()
    assert fast[1].to_dict() == slow[1].to_dict()


def test_small_real_fractions_and_long_schedules_are_answered(capsys):
    """Past the warm-up guard of the mix carry (real fraction 0.1) and for a schedule of per-generation lists past
    550 generations, the learner takes the kernel tables (its rows are table_bounds'); a mix whose tables would be
    too large (real fraction 0.001) is refused in one line naming the table entries."""
    learner = KDE(target="bimodal", bandwidth=H)
    target = parse_target("bimodal")
    for scheme, K in ((Mix(100, 900), 2000), (_scheme("schedule", 700), 700)):
        errors = learner.errors(scheme, K, 0.05)
        _, loop = table_bounds(scheme, target, H, K, 0.05)
        assert [float(e.terms["loop_bound"]) for e in errors] == loop.bound
        assert all(math.isfinite(b) for b in loop.bound)
    assert main(["bound", "--learner", "kde", "--scheme", "mix", "--n-real", "1", "--n-synth", "999", "-K",
                 "2000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "table entries" in err[0] and "real fraction 0.001" in err[0]


@pytest.mark.parametrize("name", ["accumulate fresh", "mix reused", "replace"])
def test_two_dimensions_second_evaluation_and_direct_sums(name):
    """d = 2 (a two-component target with unequal scales per axis): the carried int sqrt(V_i) equals the bound
    evaluated here from the block tables (never below, at most 1e-5 above), and on the direct path's grid T_r and
    Q_i are the direct ones, int sqrt(V_i) and KE5 at or above the direct sums (within 5% and 2%: in d = 2
    Cauchy-Schwarz on a kernel of several terms loses more: 3.8% and 1.05% with the reused real block at K = 4)."""
    target = parse_target(TWO_D)
    K = 4
    scheme = _scheme(name, K, 500, 700)
    direct, loop, extra = _direct(scheme, target, K)
    carried, carried_loop = table_bounds(scheme, target, H, K, 0.05, extra_variance=extra)
    structure = block_structure(target, scheme, H, K)
    quad = _quadrature(target, extra)
    x = quad.points
    tables = tables_for(scheme, H * H, dim=2)
    for i in range(1, K + 1):
        step = tables.step()
        v = _variance_bound_by_hand(structure, i, x, step.q_parts, dim=2)
        by_hand = quad.integrate(np.sqrt(np.maximum(v, 0.0))) * (1 + QUADRATURE_MARGIN[2])
        assert by_hand * (1 - 1e-12) <= 2 * carried.deviation[i - 1] <= by_hand * (1 + 1e-5), i
    assert carried.bias_tv == pytest.approx(direct.bias_tv, rel=1e-9, abs=0)
    assert carried_loop.squared_mass_sum == pytest.approx(loop.squared_mass_sum, rel=1e-13, abs=0)
    for c, d in zip(carried.deviation, direct.deviation):
        assert d * (1 - 1e-9) <= c <= 1.05 * d
    for c, d in zip(carried_loop.bound, loop.bound):
        assert d * (1 - 1e-9) <= c <= 1.02 * d
