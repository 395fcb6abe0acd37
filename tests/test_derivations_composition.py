"""Pure sympy (and exact-arithmetic) checks of the derivations of the composition theorems
(derivations/S1.md .. S7.md, L1.md, P1.md): recursion, closed forms, KDE loop, phase transition.

Each closed form is substituted back into its recursion and the difference simplified to zero;
numeric claims are reproduced by exact rational iteration or an independent root finder.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import optimize

import boundcalc.theory.notation as S

ROOT = Path(__file__).resolve().parents[1]
x_keep = sp.Symbol("x_keep", positive=True)            # 1 - lam, in (0, 1)
j_idx = sp.Symbol("j", positive=True, integer=True)


def _log(e):
    return sp.expand_log(sp.log(e), force=True)


def _zero(expr):
    return sp.simplify(sp.powsimp(sp.expand(sp.expand_power_exp(expr)), force=True)) == 0


def test_derivation_files_present():
    """The composition theorems' derivation files (split out of the former composition.md and
    phase-transition.md, which now index them) exist and have their sections."""
    for name in ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "L1", "P1"):
        text = (ROOT / "derivations" / f"{name}.md").read_text()
        assert "**Provenance:** [derived]" in text
        assert "## Proof" in text and "## Numeric check" in text
    for index in ("composition.md", "phase-transition.md"):
        assert "P1.md" in (ROOT / "derivations" / index).read_text()


# ------------------------------------------------------------------------------------------------
# 4.1 the recursion
# ------------------------------------------------------------------------------------------------
def test_recursion_mix_difference():
    """Step 2: lam p0 + (1 - lam) p_prev - p0 = (1 - lam)(p_prev - p0) pointwise (lemma T1)."""
    p0, p_prev = sp.symbols("p0 p_prev", real=True)
    assert sp.expand(S.lam * p0 + (1 - S.lam) * p_prev - p0 - (1 - S.lam) * (p_prev - p0)) == 0
    # replace is lam = 0
    assert sp.expand((S.lam * p0 + (1 - S.lam) * p_prev).subs(S.lam, 0) - p_prev) == 0


@pytest.mark.parametrize("generation", [2, 3, 4, 5, 6])
def test_recursion_accumulate_difference(generation):
    """Step 3: q_i - p0 = (n_synth/N_i) sum_{j<i} (p_j - p0) with N_i = n_real + (i - 1) n_synth."""
    p = sp.symbols(f"p0:{generation}", real=True)
    size = S.n_real + (generation - 1) * S.n_synth
    q = (S.n_real * p[0] + S.n_synth * sum(p[1:])) / size
    claimed = S.n_synth / size * sum(pj - p[0] for pj in p[1:])
    assert sp.simplify(q - p[0] - claimed) == 0
    # the coefficients of the recursion sum to the synthetic share, at most 1
    assert sp.simplify(S.n_synth / size * (generation - 1) + S.n_real / size - 1) == 0


# ------------------------------------------------------------------------------------------------
# 4.2 closed forms
# ------------------------------------------------------------------------------------------------
def test_closed_form_replace():
    e = sp.IndexedBase("eps_i")
    closed = sp.Sum(e[j_idx], (j_idx, 1, S.K))
    # A_K = eps_K + A_{K-1}: the sum splits off its last term (symbolic K)
    step = closed.subs(S.K, S.K - 1) + sp.Sum(e[j_idx], (j_idx, S.K, S.K))
    assert sp.simplify(step - closed) == 0
    assert sp.Sum(e[j_idx], (j_idx, S.K, S.K)).doit() == e[S.K]
    assert closed.subs(S.K, 1).doit() == e[1]
    # constant eps: linear growth K eps
    assert sp.Sum(S.eps, (j_idx, 1, S.K)).doit() == S.K * S.eps


def test_closed_form_mix():
    """2.2: A_K = (1-lam)^(K-1) eps1 + eps (1 - (1-lam)^(K-1))/lam solves the mix recursion."""
    lam = 1 - x_keep
    closed = x_keep ** (S.K - 1) * S.eps1 + S.eps * (1 - x_keep ** (S.K - 1)) / lam
    assert sp.simplify(closed.subs(S.K, 1) - S.eps1) == 0
    assert _zero(closed - S.eps - x_keep * closed.subs(S.K, S.K - 1))
    # convex combination theta eps1 + (1 - theta) eps/lam with theta = (1-lam)^(K-1)
    theta = x_keep ** (S.K - 1)
    assert _zero(closed - (theta * S.eps1 + (1 - theta) * S.eps / lam))
    # limit K -> infinity: eps/lam (checked at a concrete lam)
    assert sp.limit(closed.subs(x_keep, sp.Rational(1, 2)), S.K, sp.oo) == 2 * S.eps
    # exact iteration: never above max(eps1, eps/lam)
    lam_v, eps_v, eps1_v = Fraction(1, 2), Fraction(1, 10), Fraction(1, 10)
    a = eps1_v
    for k in range(2, 201):
        a = eps_v + (1 - lam_v) * a
        assert a <= max(eps1_v, eps_v / lam_v)
        assert a == (1 - lam_v) ** (k - 1) * eps1_v + eps_v * (1 - (1 - lam_v) ** (k - 1)) / lam_v


def test_closed_form_accumulate_harmonic_identity():
    """2.3 step 1: sum_{j<=m} H_j = (m+1) H_m - m (induction step and base case)."""
    m_ = sp.Symbol("m_count", positive=True, integer=True)
    rhs = (m_ + 1) * sp.harmonic(m_) - m_
    increment = rhs - rhs.subs(m_, m_ - 1)
    assert sp.simplify(sp.expand_func(increment - sp.harmonic(m_))) == 0
    assert rhs.subs(m_, 1) == 1  # H_1
    for mm in range(1, 30):
        assert sum(sp.harmonic(jj) for jj in range(1, mm + 1)) == rhs.subs(m_, mm)


def test_closed_form_accumulate():
    """2.3 step 2: eps H_i = eps + (1/i) sum_{j<i} eps H_j; K = 50 gives 4.4992 eps."""
    gen = S.i
    lhs = S.eps * sp.harmonic(gen)
    summed = S.eps * (gen * sp.harmonic(gen - 1) - (gen - 1))  # identity with m = i - 1
    assert sp.simplify(sp.expand_func(lhs - (S.eps + summed / gen))) == 0
    # n_synth = n_real: the coefficient n_synth/N_i is 1/i
    assert sp.simplify((S.n_synth / (S.n_real + (gen - 1) * S.n_synth)).subs(S.n_synth, S.n_real) - 1 / gen) == 0
    # exact rational iteration of the recursion
    a = [Fraction(1)]  # eps = 1
    for ii in range(2, 61):
        a.append(1 + Fraction(1, ii) * sum(a))
    for ii, value in enumerate(a, start=1):
        exact = sp.harmonic(ii)
        assert value == Fraction(int(exact.p), int(exact.q))
    assert float(a[49]) == pytest.approx(4.4992, abs=5e-5)
    assert float(a[49]) == pytest.approx(math.log(50) + 0.5772156649 + 1 / 100, abs=1e-4)


def test_final_generation_rescue():
    """2.4: a_K <= eps + (1 - lam_K)(K-1) eps; lam_K >= (K-2)/(K-1) iff <= 2 eps; (K-1)/K gives eps(2 - 1/K)."""
    lam_k = S.lam
    bound = S.eps + (1 - lam_k) * (S.K - 1) * S.eps
    replace_prev = sp.Sum(S.eps, (j_idx, 1, S.K - 1)).doit()
    assert sp.simplify(replace_prev - (S.K - 1) * S.eps) == 0
    assert sp.simplify(bound - (S.eps + (1 - lam_k) * replace_prev)) == 0
    threshold = sp.solve(sp.Eq(bound, 2 * S.eps), lam_k)
    assert len(threshold) == 1 and sp.simplify(threshold[0] - (S.K - 2) / (S.K - 1)) == 0
    at_share = sp.simplify(bound.subs(lam_k, (S.K - 1) / S.K))
    assert sp.simplify(at_share - S.eps * (2 - 1 / S.K)) == 0
    assert sp.simplify(2 * S.eps - at_share - S.eps / S.K) == 0  # strictly below 2 eps
    # (K-1)/K exceeds the exact threshold (K-2)/(K-1)
    assert sp.simplify((S.K - 1) / S.K - (S.K - 2) / (S.K - 1) - 1 / (S.K * (S.K - 1))) == 0
    assert bound.subs({lam_k: sp.Rational(9, 10), S.K: 10}) == sp.Rational(19, 10) * S.eps
    assert bound.subs({lam_k: sp.Rational(8, 9), S.K: 10}) == 2 * S.eps


def test_growing_sample_sizes():
    """2.5 step 1: N_i = N_1 i^(1/alpha + s) gives eps_i = C N_1^(-alpha) i^(-1 - alpha s), a convergent series."""
    n_first = sp.Symbol("N_first", positive=True)
    excess = sp.Symbol("s_excess", positive=True)
    gen = sp.Symbol("i_gen", positive=True)
    eps_i = S.C * (n_first * gen ** (1 / S.alpha + excess)) ** (-S.alpha)
    claimed = S.C * n_first ** (-S.alpha) * gen ** (-1 - S.alpha * excess)
    assert sp.simplify(_log(eps_i) - _log(claimed)) == 0
    series = sp.summation(j_idx ** (-1 - sp.Rational(1, 2)), (j_idx, 1, sp.oo))  # alpha s = 1/2
    assert series == sp.zeta(sp.Rational(3, 2))
    partial = sum(k ** -1.5 for k in range(1, 20001))
    assert partial < float(sp.zeta(sp.Rational(3, 2)))


def test_common_sample_size_growth():
    """2.5 step 2: K C N^(-alpha) <= target iff N >= (K C/target)^(1/alpha): K^4 at alpha = 1/4, K^5 at 1/5."""
    target = sp.Symbol("target", positive=True)
    solution = sp.solve(sp.Eq(S.K * S.C * S.N ** (-S.alpha), target), S.N)
    assert len(solution) == 1
    assert sp.simplify(_log(solution[0]) - _log((S.K * S.C / target) ** (1 / S.alpha))) == 0
    for rate, exponent in ((sp.Rational(1, 4), 4), (sp.Rational(1, 5), 5)):
        needed = ((S.K * S.C / target) ** (1 / S.alpha)).subs(S.alpha, rate)
        assert sp.simplify(S.K * sp.diff(_log(needed), S.K)) == exponent
    # Li23's early-stopped KL ~ N^(-2/5), Pinsker: TV ~ sqrt(KL/2) ~ N^(-1/5)
    tv_rate = sp.sqrt(S.N ** sp.Rational(-2, 5) / 2)
    assert sp.simplify(S.N * sp.diff(_log(tv_rate), S.N)) == sp.Rational(-1, 5)


# ------------------------------------------------------------------------------------------------
# docs/theory.md section 5: the per-generation KDE error
# ------------------------------------------------------------------------------------------------
def test_kde_bias_is_half_k1():
    from boundcalc.bounds.kde_terms import kde_bias_tv
    from boundcalc.theory.catalogue import get_lemma
    k1 = get_lemma("K1").rhs
    assert sp.simplify(k1 / 2 - S.h ** 2 / 4 * S.lap) == 0
    assert float(kde_bias_tv(0.3, 1.7)) == pytest.approx(0.3 ** 2 / 4 * 1.7, rel=1e-14)


def test_kde_deviation_term():
    """Step 4: McDiarmid with c_j = 2/N: exp(-2 t^2/(N (2/N)^2)) = delta' iff t = sqrt(2 ln(1/delta')/N)."""
    dev = sp.Symbol("t_dev", positive=True)
    tail = sp.exp(-2 * dev ** 2 / (S.N * (2 / S.N) ** 2))
    assert sp.simplify(tail - sp.exp(-S.N * dev ** 2 / 2)) == 0
    solution = sp.solve(sp.Eq(tail, S.delta), dev)
    assert len(solution) == 1
    assert sp.simplify(solution[0] ** 2 - 2 * sp.log(1 / S.delta) / S.N) == 0
    # union bound: delta' = delta/K gives ln(K/delta)
    assert sp.simplify(_log(1 / (S.delta / S.K)) - _log(S.K / S.delta)) == 0


def test_kde_stochastic_term_matches_kde_terms():
    from boundcalc.bounds.kde_terms import kde_stochastic_tv
    from boundcalc.theory.catalogue import get_lemma
    n_v, h_v, delta_v, gens = 2000, 0.2, 0.05, 10
    j_v = (8 * math.pi * (1 + h_v * h_v / 2)) ** 0.25
    with mpmath.workdps(30):
        k2 = get_lemma("K2").evaluate(N=n_v, h=h_v, d=1, J=j_v)
        expected = (k2 + mpmath.sqrt(2 * mpmath.log(gens / mpmath.mpf(delta_v)) / n_v)) / 2
        got = kde_stochastic_tv(n_v, h_v, 1, j_v, mpmath.mpf(delta_v) / gens)
        assert abs(got - expected) < mpmath.mpf(10) ** -25


def test_kde_reused_split():
    """Step 6: p_i - q_i * phi = lam (f_real - p0*phi) + (1 - lam)(f_synth - p_prev*phi), pointwise."""
    f_real, f_synth, g_real, g_synth = sp.symbols("f_real f_synth g_real g_synth", real=True)
    p_i = S.lam * f_real + (1 - S.lam) * f_synth
    target = S.lam * g_real + (1 - S.lam) * g_synth
    assert sp.expand(p_i - target - (S.lam * (f_real - g_real) + (1 - S.lam) * (f_synth - g_synth))) == 0
    # the KDE is linear in its sample: a KDE of the union is the size-weighted mixture of the parts' KDEs
    rng = np.random.default_rng(1)
    real, synth, grid, h_v = rng.normal(size=30), rng.normal(size=70), np.linspace(-4, 4, 9), 0.3

    def kde(data):
        return np.exp(-0.5 * ((grid[:, None] - data[None]) / h_v) ** 2).sum(1) / (data.size * h_v * math.sqrt(2 * math.pi))

    assert np.allclose(kde(np.concatenate([real, synth])), 0.3 * kde(real) + 0.7 * kde(synth), rtol=1e-13)


def test_kde_moment_recursion():
    """Step 7: M_i = lam M0 + (1-lam) M_{i-1} + h^2 with closed forms for replace and constant lam."""
    m0 = sp.Symbol("M0", positive=True)
    lam = 1 - x_keep
    closed = m0 + S.h ** 2 * (1 - x_keep ** S.i) / lam
    assert sp.simplify(closed.subs(S.i, 1) - (m0 + S.h ** 2)) == 0
    assert _zero(closed - (lam * m0 + x_keep * closed.subs(S.i, S.i - 1) + S.h ** 2))
    replace = m0 + S.i * S.h ** 2
    assert sp.simplify(replace - (replace.subs(S.i, S.i - 1) + S.h ** 2)) == 0
    assert sp.limit(closed.subs(x_keep, 1 - S.lam), S.lam, 0) == replace  # lam -> 0 is replace
    # second moment of a mixture / of X + h Z
    w = sp.Symbol("w_mix", positive=True)
    ma, mb = sp.symbols("M_a M_b", positive=True)
    assert sp.expand(w * ma + (1 - w) * mb + S.h ** 2 - (w * (ma + S.h ** 2) + (1 - w) * (mb + S.h ** 2))) == 0


# ------------------------------------------------------------------------------------------------
# docs/theory.md section 6: phase transition
# ------------------------------------------------------------------------------------------------
s_syn = sp.Symbol("s_syn", positive=True)        # number of synthetic samples (continuous)
size_total = S.n_real + s_syn


def _f():
    return S.C * size_total ** (-S.alpha) + s_syn / size_total * S.a_prev


def _n_star():
    return (S.a_prev * S.n_real / (S.alpha * S.C)) ** (1 / (1 - S.alpha))


def test_phase_derivative():
    derivative = sp.diff(_f(), s_syn)
    claimed = size_total ** -2 * (S.a_prev * S.n_real - S.alpha * S.C * size_total ** (1 - S.alpha))
    assert _zero(derivative - claimed)


def test_phase_unique_root():
    big_n = sp.Symbol("N_total", positive=True)
    bracket = S.a_prev * S.n_real - S.alpha * S.C * big_n ** (1 - S.alpha)
    assert sp.simplify(sp.diff(bracket, big_n) + S.alpha * (1 - S.alpha) * S.C * big_n ** (-S.alpha)) == 0
    # substituting N* back: alpha C N*^(1-alpha) = a n_real
    assert sp.simplify(_log(S.alpha * S.C * _n_star() ** (1 - S.alpha)) - _log(S.a_prev * S.n_real)) == 0
    # numeric sign scan: f' changes sign exactly once (from + to -) when a transition exists
    rng = np.random.default_rng(4)
    fprime = sp.lambdify([s_syn, S.C, S.alpha, S.n_real, S.a_prev], sp.diff(_f(), s_syn), "numpy")
    for _ in range(20):
        c_v, al_v, n_v = rng.uniform(0.5, 3), rng.uniform(0.05, 0.9), rng.uniform(10, 1e4)
        a_v = al_v * c_v * n_v ** -al_v * rng.uniform(1.1, 5)
        signs = np.sign(fprime(np.geomspace(1e-3, 1e9, 4001), c_v, al_v, n_v, a_v))
        changes = np.flatnonzero(np.diff(signs) != 0)
        assert changes.size == 1 and signs[0] > 0 and signs[-1] < 0


def test_phase_existence_condition():
    """N* > n_real iff a > alpha C n_real^(-alpha): N*/n_real = (a n_real^alpha/(alpha C))^(1/(1-alpha))."""
    ratio = _n_star() / S.n_real
    base = S.a_prev * S.n_real ** S.alpha / (S.alpha * S.C)
    assert sp.simplify(_log(ratio) - _log(base ** (1 / (1 - S.alpha)))) == 0
    # base > 1 iff a > alpha C n_real^(-alpha)
    assert sp.simplify(base.subs(S.a_prev, S.alpha * S.C * S.n_real ** (-S.alpha)) - 1) == 0
    # without a transition (a below the threshold) f decreases on s > 0
    fprime = sp.lambdify([s_syn], sp.diff(_f(), s_syn).subs({S.C: 1, S.alpha: sp.Rational(1, 5),
                                                             S.n_real: 100, S.a_prev: sp.Rational(1, 50)}))
    assert 0.02 < 0.2 * 100 ** -0.2  # below the threshold
    assert all(fprime(v) < 0 for v in np.geomspace(1e-3, 1e9, 200))


def test_phase_limit_from_above():
    big_n = sp.Symbol("N_total", positive=True)
    f_of_n = S.C * big_n ** (-S.alpha) + (big_n - S.n_real) / big_n * S.a_prev
    assert _zero(f_of_n - S.a_prev - (S.C * big_n ** (1 - S.alpha) - S.n_real * S.a_prev) / big_n)
    f_num = _f().subs({S.C: 1, S.alpha: sp.Rational(1, 5), S.n_real: 1000})
    a_v = sp.Integer(1000) ** sp.Rational(-1, 5)
    assert sp.limit(f_num.subs(S.a_prev, a_v), s_syn, sp.oo) == a_v
    # (f - a) N^alpha -> C > 0: the approach is from above
    scaled = (f_of_n - S.a_prev) * big_n ** S.alpha
    assert sp.limit(scaled.subs({S.alpha: sp.Rational(1, 5)}), big_n, sp.oo) == S.C
    gaps = [float((f_num.subs(S.a_prev, a_v) - a_v).subs(s_syn, v)) for v in (1e6, 1e9, 1e12)]
    assert all(g > 0 for g in gaps) and gaps[0] > gaps[1] > gaps[2]


def test_phase_generation_two():
    """a = C n_real^(-alpha): s* = (alpha^(-1/(1-alpha)) - 1) n_real; alpha = 1/5 gives 6.4767 n_real."""
    n_star = _n_star().subs(S.a_prev, S.C * S.n_real ** (-S.alpha))
    claimed = S.alpha ** (-1 / (1 - S.alpha)) * S.n_real
    assert sp.simplify(_log(n_star) - _log(claimed)) == 0
    s_star = (claimed - S.n_real).subs(S.alpha, sp.Rational(1, 5))
    assert sp.simplify(s_star - (5 ** sp.Rational(5, 4) - 1) * S.n_real) == 0
    assert float(s_star / S.n_real) == pytest.approx(6.4767, abs=5e-5)


def test_phase_numeric_root():
    n_v, c_v, al_v = 1000.0, 1.0, 0.2
    a_v = c_v * n_v ** -al_v

    def f(v):
        return c_v * (n_v + v) ** -al_v + v / (n_v + v) * a_v

    def fprime(v):
        return -al_v * c_v * (n_v + v) ** (-al_v - 1) + n_v / (n_v + v) ** 2 * a_v

    root = optimize.brentq(fprime, 1.0, 1e6, xtol=1e-10, rtol=1e-14)
    closed = (5 ** 1.25 - 1) * n_v
    assert root == pytest.approx(closed, rel=1e-8)
    assert closed == pytest.approx(6476.74, abs=0.01)
    grid = np.concatenate([np.linspace(0, 1e6, 200001), [closed]])
    assert f(closed) == pytest.approx(f(grid).max(), rel=1e-12)
    assert f(closed) == pytest.approx(0.38557, abs=1e-5)
    assert f(closed) > a_v
