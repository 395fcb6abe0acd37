"""Composition across generations: the recursion of docs/theory.md section 4.1 iterated exactly, against
independent hand-written float loops, and every closed form of 4.2 against the iteration."""


import mpmath
import numpy as np
import pytest

from boundcalc.bounds.compose import closed_form, compose_bound, iter_bounds
from boundcalc.bounds.learners import Learner, PowerLaw
from boundcalc.model.schemes import make_scheme


class ConstantEps(Learner):
    """A test learner with eps(N) = eps for every N (the 'constant eps' of docs/theory.md section 4.2)."""
    name = "constant"

    def __init__(self, eps):
        self.value = mpmath.mpf(eps)

    def eps_of_n(self, n):
        return self.value


def power(n, C=1.0, alpha=0.25):
    return C * n ** (-alpha)


def test_replace_is_the_sum_of_errors():
    r = compose_bound(make_scheme("replace", 1000, 5000), PowerLaw(1, 0.25), 7)
    expected = power(1000) + 6 * power(5000)
    assert float(r.final) == pytest.approx(expected, rel=1e-13)
    assert [float(a) for a in r.bound] == pytest.approx([power(1000) + k * power(5000) for k in range(7)], rel=1e-13)


def test_mix_matches_an_independent_float_loop():
    n_real, n_synth, K = 1000, 3000, 12
    lam = n_real / (n_real + n_synth)
    a = power(n_real)
    for _ in range(K - 1):
        a = power(n_real + n_synth) + (1 - lam) * a
    r = compose_bound(make_scheme("mix", n_real, n_synth), PowerLaw(1, 0.25), K)
    assert float(r.final) == pytest.approx(a, rel=1e-13)


def test_accumulate_matches_an_independent_float_loop():
    n_real, n_synth, K = 500, 200, 15
    a = []
    for i in range(1, K + 1):
        N = n_real + (i - 1) * n_synth
        a.append(power(N) + (n_synth / N) * sum(a))
    r = compose_bound(make_scheme("accumulate", n_real, n_synth), PowerLaw(1, 0.25), K)
    assert [float(x) for x in r.bound] == pytest.approx(a, rel=1e-12)


@pytest.mark.parametrize("name, kw", [
    ("replace", dict(n_synth=777)), ("mix", dict(n_synth=2500)), ("mix", dict(real_fraction=0.1)),
    ("accumulate", dict(n_synth=300)), ("accumulate", dict(n_synth=1000)),
    ("schedule", dict(real_fractions=[0.3], sizes=[5000])),
])
@pytest.mark.parametrize("K", [1, 2, 5, 40])
def test_closed_forms_agree_with_the_iteration(name, kw, K):
    scheme = make_scheme(name, 1000, **kw)
    r = compose_bound(scheme, PowerLaw(2.0, 0.3), K)
    assert r.closed_form is not None
    # the iteration runs at double precision with an unbounded exponent (mpmath), so 1e-13 relative
    assert abs(r.closed_form.evaluate() - r.final) <= mpmath.mpf("1e-13") * r.final


def test_accumulate_constant_eps_is_the_harmonic_number():
    # docs/theory.md section 4.2: n_synth = n_real and constant eps give eps H_K; K = 50 gives 4.4992 eps
    r = compose_bound(make_scheme("accumulate", 100, 100), ConstantEps(1), 50)
    assert float(r.final) == pytest.approx(float(mpmath.harmonic(50)), rel=1e-14)
    assert round(float(r.final), 4) == 4.4992


def test_mix_stays_below_max_of_eps1_and_eps_over_lambda():
    lam = 0.2
    scheme = make_scheme("mix", 1000, real_fraction=lam)
    learner = PowerLaw(1, 0.25)
    eps1, eps = power(1000), power(1000 / lam)
    r = compose_bound(scheme, learner, 200)
    assert max(float(a) for a in r.bound) <= max(eps1, eps / lam) * (1 + 1e-12)
    assert float(r.final) == pytest.approx(eps / lam, rel=1e-9)  # the limit


def test_final_generation_rescue():
    # generations 2..K-1 fully synthetic, generation K with real share lam_K:
    # a_K = eps + (1 - lam_K)(K - 1) eps; at most 2 eps iff lam_K >= (K-2)/(K-1), which the
    # reported lam_K >= (K-1)/K [Fu24] implies
    K = 10
    for lam_K in (0.5, 0.88, (K - 2) / (K - 1), (K - 1) / K, 0.95):
        scheme = make_scheme("schedule", 100, real_fractions=[0.0] * (K - 2) + [lam_K], sizes=[900])  # lam_K * 900 is whole
        r = compose_bound(scheme, ConstantEps(0.01), K)
        assert float(r.final) == pytest.approx(0.01 + (1 - lam_K) * (K - 1) * 0.01, rel=1e-13)
        assert (float(r.final) <= 0.02 * (1 + 1e-12)) == (lam_K >= (K - 2) / (K - 1) - 1e-15)
        if lam_K >= (K - 1) / K:
            assert float(r.final) <= 0.02


def test_growing_sample_sizes_keep_replace_bounded():
    # N_i = N_1 i^(1/alpha + s): a_K = sum_i C N_i^-alpha <= C N_1^-alpha zeta(1 + s alpha)
    alpha, s, N1, K = 0.25, 1.0, 1000.0, 60
    sizes = [N1 * i ** (1 / alpha + s) for i in range(2, K + 1)]
    scheme = make_scheme("schedule", N1, real_fractions=[0.0], sizes=sizes)
    r = compose_bound(scheme, PowerLaw(1, alpha), K)
    assert float(r.final) <= N1 ** -alpha * float(mpmath.zeta(1 + s * alpha))
    # while a constant N grows linearly
    flat = compose_bound(make_scheme("replace", N1, N1), PowerLaw(1, alpha), K)
    assert float(flat.final) == pytest.approx(K * N1 ** -alpha)


def test_iter_bounds_streams_the_same_sequence():
    scheme = make_scheme("accumulate", 300, 100)
    learner = PowerLaw(1, 0.2)
    stream = iter_bounds(scheme, learner)
    streamed = [next(stream) for _ in range(25)]
    assert streamed == compose_bound(scheme, learner, 25).bound


def test_huge_sizes_and_tiny_delta_stay_finite():
    r = compose_bound(make_scheme("mix", 1e15, 1e15), PowerLaw(1, 0.25), 5, delta=1e-300)
    assert all(mpmath.isfinite(a) and a > 0 for a in r.bound)
    assert float(r.bound[0]) == pytest.approx(1e15 ** -0.25, rel=1e-13)


def test_no_closed_form_for_distribution_dependent_learners():
    from boundcalc.bounds.learners import GaussianKDE
    from boundcalc.model.targets import normal
    assert closed_form(make_scheme("mix", 100, 100), GaussianKDE(normal(), 0.3), 3) is None


def test_result_json_keys_and_determinism():
    r = compose_bound(make_scheme("mix", 1000, 1000), PowerLaw(1, 0.25), 4)
    d = r.to_dict()
    for key in ("bound", "eps", "final", "closed_form", "assumptions", "provenance", "inputs"):
        assert key in d
    assert len(d["bound"]) == len(d["eps"]) == 4
    assert r.to_json() == compose_bound(make_scheme("mix", 1000, 1000), PowerLaw(1, 0.25), 4).to_json()
    assert r._repr_latex_().startswith("$") and "\\lambda" in r.to_latex()


def test_vacuous_bounds_are_flagged():
    r = compose_bound(make_scheme("replace", 10, 10), PowerLaw(1, 0.25), 10)
    assert r.final > 1 and any("vacuous" in n for n in r.notes)


def test_lambdified_closed_form_matches_mpmath_on_many_points():
    import sympy as sp
    from boundcalc.theory import notation as S
    cf = closed_form(make_scheme("mix", 1000, 3000), PowerLaw(1, 0.25), 10)
    names = sorted(cf.values, key=lambda s: s.name)
    f = sp.lambdify(names, cf.expr, modules="numpy")
    rng = np.random.default_rng(0)
    lam = rng.uniform(0.05, 1, 200)
    N = rng.uniform(100, 1e6, 200)
    args = {S.C: 1.0, S.K: 10, S.N: N, S.alpha: 0.25, S.lam: lam, S.n_real: lam * N}
    values = f(*[args[s] for s in names])
    for k in range(0, 200, 37):
        one = {s: (v[k] if isinstance(v, np.ndarray) else v) for s, v in args.items()}
        ref = cf.expr.subs({s: sp.Float(float(v), 30) for s, v in one.items()}).evalf(30)
        assert values[k] == pytest.approx(float(ref), rel=1e-12)


def test_long_mix_and_replace_runs_match_an_independent_recursion():
    """K = 20000 generations (the O(1)-per-step path of replace and mix, eps evaluated once per N)
    against a plain float recursion written here: a_1 = C n^-a, a_i = C N^-a + w a_(i-1)."""
    from boundcalc.bounds.compose import compose_bound
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.model.schemes import Mix, Replace
    K = 20_000
    for scheme, w in ((Mix(1000, 3000), 0.75), (Replace(1000, 3000), 1.0)):
        r = compose_bound(scheme, PowerLaw(2, 0.3), K)
        N = 4000 if w < 1 else 3000
        a, ref = 2 * 1000 ** -0.3, []
        ref.append(a)
        for _ in range(K - 1):
            a = 2 * N ** -0.3 + w * a
            ref.append(a)
        assert len(r.bound) == K
        for i in (0, 1, 100, K - 1):
            assert float(r.bound[i]) == pytest.approx(ref[i], rel=1e-9)
