"""Accumulate past the stepwise part: the float continuation (an upper bound on the exact recursion), the
vectorised eps(N) of the rate-only learners, and the rows of long results (issue 11: cost linear in K)."""

from __future__ import annotations

import json
import subprocess
import sys

import mpmath
import numpy as np
import pytest

from boundcalc._checks import BoundcalcError
from boundcalc.bounds import compose
from boundcalc.bounds.compose import (STEPWISE_STEPS, _accumulate_tail, closed_form, compose_bound, final_bound,
                                      learner_errors, n_totals, recursion)
from boundcalc.bounds.learners import PowerLaw, Table
from boundcalc.model.schemes import Accumulate

TABLE = Table(((100, 0.3), (1000, 0.1), (10 ** 4, 0.03), (3 * 10 ** 5, 0.02), (10 ** 9, 0.01)))


def _mp_recursion(scheme, learner, generations):
    """The plain mpmath recursion of S1 (every step in mpmath, no float continuation): the reference."""
    return recursion([e.eps for e in learner_errors(learner, scheme, generations, 0.05)], scheme)


@pytest.mark.parametrize("learner", [PowerLaw(1, 0.25), PowerLaw(3, 0.7), TABLE])
def test_float_continuation_agrees_with_the_mpmath_recursion(learner):
    scheme, K = Accumulate(1000, 100), 20_000
    reference = _mp_recursion(scheme, learner, K)
    fast = compose_bound(scheme, learner, K, with_closed_form=False).bound
    assert len(fast) == K
    # the stepwise part is the very same numbers
    assert all(isinstance(a, mpmath.mpf) and a == b for a, b in zip(fast[:STEPWISE_STEPS], reference))
    assert all(isinstance(a, float) for a in fast[STEPWISE_STEPS:])
    tail = np.array(fast[STEPWISE_STEPS:])
    ref = np.array([float(b) for b in reference[STEPWISE_STEPS:]])
    assert np.max(np.abs(tail / ref - 1)) < 1e-12
    assert np.all(tail >= ref * (1 - 1e-15))
    assert final_bound(scheme, learner, K) == fast[-1]


@pytest.mark.parametrize("learner", [PowerLaw(1, 0.25), PowerLaw(0.5, 1.5), TABLE])
def test_float_continuation_is_above_the_exact_continuation(learner):
    """From the same T_4096, the recursion in 50 digits (exact for this purpose) is below every printed a_i."""
    scheme, K = Accumulate(700, 300), 4096 + 3 * 1024 + 17
    head = compose._stepwise_head(scheme, learner, STEPWISE_STEPS)[0]
    printed = np.concatenate([c[2] for c in _accumulate_tail(scheme, learner, head.total, K)])
    with mpmath.workdps(50):
        total = mpmath.mpf(head.total)
        for k, i in enumerate(range(STEPWISE_STEPS + 1, K + 1)):
            n_i = scheme.n_real + (i - 1) * scheme.n_synth
            eps = (mpmath.mpf(learner.C) * mpmath.mpf(n_i) ** -mpmath.mpf(learner.alpha)
                   if isinstance(learner, PowerLaw) else mpmath.mpf(learner.eps_of_n(n_i)))
            a = eps + mpmath.mpf(scheme.n_synth) / n_i * total
            total += a
            assert printed[k] >= a, (i, printed[k], a)
            assert printed[k] <= a * (1 + mpmath.mpf(1e-12))


def test_float_continuation_against_the_closed_form_s4():
    """S4's telescoped sum, in 30 digits by the closed-form object and in 40 digits here, bounds the same a_K."""
    scheme, learner, K = Accumulate(1000, 1000), PowerLaw(1, 0.25), 6000
    fast = compose_bound(scheme, learner, K)
    value = fast.closed_form.evaluate()
    with mpmath.workdps(40):
        n = [mpmath.mpf(1000 + 1000 * j) for j in range(K + 1)]  # n[j] = N_(j+1)
        direct = n[K - 1] ** -mpmath.mpf(0.25) + 1000 * mpmath.fsum(n[j] ** -mpmath.mpf(0.25) / n[j + 1]
                                                                    for j in range(K - 1))
    assert abs(value / direct - 1) < 1e-20
    assert abs(fast.final / float(direct) - 1) < 1e-12
    assert fast.final >= float(direct)


def test_the_double_sum_closed_form_equals_the_mpmath_one(monkeypatch):
    scheme, learner, K = Accumulate(500, 2000), PowerLaw(2, 0.3), 30_000
    slow = closed_form(scheme, learner, K)
    monkeypatch.setattr(compose, "CLOSED_FORM_MPMATH_TERMS", 1000)
    fast = closed_form(scheme, learner, K)
    assert type(fast).__name__ == "_DoubleSumS4" and type(slow).__name__ == "ClosedForm"
    assert abs(fast.evaluate() / slow.evaluate() - 1) < 1e-14
    assert fast.latex() == slow.latex()


@pytest.mark.parametrize("learner", [PowerLaw(1, 0.25), PowerLaw(7.5, 2.25), PowerLaw(0.01, 0.01), TABLE])
def test_eps_of_ns_equals_eps_of_n(learner):
    rng = np.random.default_rng(11)
    ns = np.unique(np.concatenate([rng.integers(100, 10 ** 9, 300), [100, 1000, 10 ** 4, 10 ** 9, 999, 1001]]))
    if isinstance(learner, PowerLaw):
        ns = np.concatenate([ns, [10 ** 12 + 7, 2 ** 53 + 1]])
    got = learner.eps_of_ns(ns)
    want = np.array([float(learner.eps_of_n(int(n))) for n in ns])
    assert got.dtype == np.float64 and got.shape == ns.shape
    assert np.all(np.abs(got - want) <= 1e-13 * want)
    if isinstance(learner, Table):
        assert np.array_equal(got, want)  # the tabulated doubles themselves


def test_table_eps_of_ns_refuses_the_first_size_outside_the_range():
    with pytest.raises(BoundcalcError, match=r"N = 5e\+09 is outside the tabulated range \[100, 1e\+09\]"):
        TABLE.eps_of_ns([100, 5 * 10 ** 9, 50])
    with pytest.raises(BoundcalcError, match=r"N = 50 is outside"):
        TABLE.eps_of_ns([100, 50, 5 * 10 ** 9])


def test_table_beyond_its_range_is_refused_in_the_continuation():
    small = Table(((100, 0.3), (10 ** 6, 0.1)))
    with pytest.raises(BoundcalcError, match="outside the tabulated range"):
        compose_bound(Accumulate(1000, 100), small, 20_000)


def test_underflow_falls_back_to_the_mpmath_steps():
    """eps below the normal doubles (alpha large): the float continuation is not used, the result is mpmath's."""
    learner, scheme, K = PowerLaw(1e-300, 8.0), Accumulate(1000, 1000), STEPWISE_STEPS + 10
    r = compose_bound(scheme, learner, K, with_closed_form=False)
    assert all(isinstance(a, mpmath.mpf) for a in r.bound)
    assert r.bound == _mp_recursion(scheme, learner, K)
    assert final_bound(scheme, learner, K) == r.bound[-1]


def test_n_totals_of_accumulate_in_closed_form():
    assert n_totals(Accumulate(1000, 7), 5) == [1000, 1007, 1014, 1021, 1028]
    with pytest.raises(BoundcalcError, match="unknown"):
        n_totals(Accumulate(None, 7), 5)


def test_long_result_rows_and_json():
    K = 12_000  # beyond the table rows: terms made when read
    r = compose_bound(Accumulate(1000, 1000), PowerLaw(1, 0.25), K)
    assert len(r.terms) == K and r.terms[-1] == {"generation": K, "n_total": mpmath.mpf(1000 * K)}
    assert r.terms[STEPWISE_STEPS - 1]["n_total"] == mpmath.mpf(1000 * STEPWISE_STEPS)
    assert [t["generation"] for t in r.terms[-3:]] == [K - 2, K - 1, K]
    d = json.loads(r.to_json())
    assert len(d["bound"]) == K and d["final"] == r.bound[-1] and d["terms"][-1]["n_total"] == 1000.0 * K
    text = r.table()
    assert f"{K:>4}  {1000 * K:>12}" in text and "final bound a_K <= 0.6" in text
    small = compose_bound(Accumulate(1000, 1000), PowerLaw(1, 0.25), 5000)
    assert isinstance(small.terms, list) and small.terms[4999] == {"generation": 5000, "n_total": mpmath.mpf(5_000_000)}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "boundcalc", *args], capture_output=True, text=True, timeout=120)


def test_cli_bound_json_accumulate_at_1e5():
    p = _cli("bound", "--learner", "power", "--C", "1", "--alpha", "0.25", "--scheme", "accumulate",
             "--n-real", "1000", "--n-synth", "1000", "-K", "100000", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert len(d["bound"]) == len(d["eps"]) == 100_000
    # the mpmath recursion's a_K (every step S1), and S4's closed form, to 1e-12; the printed one above
    assert abs(d["final"] / 0.636469765720735 - 1) < 1e-12 and d["final"] >= 0.636469765720735
    assert abs(d["closed_form_value"] / d["final"] - 1) < 1e-12


def test_cli_solve_n_real_accumulate_at_1e5():
    p = _cli("solve", "--for", "n-real", "--target", "0.5", "--learner", "power", "--C", "1", "--alpha", "0.25",
             "--scheme", "accumulate", "--n-synth", "1000", "-K", "100000", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["reachable"] and d["verified"]
    n = int(d["value"])
    assert final_bound(Accumulate(n, 1000), PowerLaw(1, 0.25), 100_000) <= 0.5
    assert final_bound(Accumulate(n - 1, 1000), PowerLaw(1, 0.25), 100_000) > 0.5


def _schedule(K, seed=3, zeros=False):
    from boundcalc.model.schemes import Schedule
    rng = np.random.default_rng(seed)
    fractions = np.round(rng.uniform(0.05, 0.95, K - 1), 3)
    if zeros:  # fully synthetic (w = 1) and fully real (w = 0) generations among them
        fractions[rng.integers(0, K - 1, K // 7)] = 0.0
        fractions[rng.integers(0, K - 1, K // 11)] = 1.0
    sizes = rng.integers(500, 5000, K - 1)
    return Schedule(1000, tuple(fractions.tolist()), tuple(int(s) for s in sizes))


@pytest.mark.parametrize("zeros", [False, True])
@pytest.mark.parametrize("learner", [PowerLaw(1, 0.25), TABLE])
def test_schedule_continuation_agrees_with_the_mpmath_recursion(learner, zeros):
    K = 20_000
    scheme = _schedule(K, zeros=zeros)
    reference = _mp_recursion(scheme, learner, K)
    fast = compose_bound(scheme, learner, K, with_closed_form=False)
    assert fast.bound[:STEPWISE_STEPS] == reference[:STEPWISE_STEPS]
    tail = np.array(fast.bound[STEPWISE_STEPS:])
    ref = np.array([float(b) for b in reference[STEPWISE_STEPS:]])
    assert np.max(np.abs(tail / ref - 1)) < 1e-12
    assert np.all(tail >= ref * (1 - 1e-15))
    assert [float(e) for e in fast.eps] == pytest.approx([float(e.eps) for e in learner_errors(learner, scheme, K, 0.05)],
                                                         rel=1e-13)
    assert [t["n_total"] for t in fast.terms] == [scheme.n_total(i) for i in range(1, K + 1)]
    assert final_bound(scheme, learner, K) == fast.bound[-1]


def test_schedule_continuation_is_above_the_exact_continuation():
    scheme, learner, K = _schedule(STEPWISE_STEPS + 3000, seed=5, zeros=True), PowerLaw(2, 0.4), STEPWISE_STEPS + 3000
    head = compose._stepwise_head(scheme, learner, STEPWISE_STEPS)[0]
    printed = np.concatenate([c[2] for c in compose._one_source_tail(scheme, learner, head.a[-1], K)])
    with mpmath.workdps(50):
        a = mpmath.mpf(head.a[-1])
        for k, i in enumerate(range(STEPWISE_STEPS + 1, K + 1)):
            plan = scheme.plan(i)
            synthetic = sum(b.count for b in plan.blocks if b.source)
            a = mpmath.mpf(2) * mpmath.mpf(plan.n_total) ** -mpmath.mpf(0.4) + mpmath.mpf(synthetic) / plan.n_total * a
            assert a <= printed[k] <= a * (1 + mpmath.mpf(1e-12)), i


@pytest.mark.parametrize("kind, kw", [("replace", dict(n_synth=700)), ("mix", dict(n_synth=400_000)),
                                      ("mix", dict(n_synth=400_000, real_data="reused")),
                                      ("schedule", dict(real_fractions=[0.001], sizes=[300_000]))])
def test_steady_loops_past_4096_without_a_fixed_point(kind, kw):
    """replace, and mix / a one-value schedule with w close to 1 (no exact fixed point within 4096 steps): the
    doubles past 4096 agree with the mpmath recursion to 1e-12, are never below it, and the final value is
    final_bound's binary powering (40 digits) to 1e-12, from above."""
    from boundcalc.model.schemes import make_scheme
    scheme, learner, K = make_scheme(kind, 1000, **kw), PowerLaw(1, 0.25), 20_000
    reference = _mp_recursion(scheme, learner, K)
    fast = compose_bound(scheme, learner, K, with_closed_form=False)
    assert fast.bound[:STEPWISE_STEPS] == reference[:STEPWISE_STEPS]
    assert all(isinstance(a, float) for a in fast.bound[STEPWISE_STEPS:])
    tail = np.array(fast.bound[STEPWISE_STEPS:])
    ref = np.array([float(b) for b in reference[STEPWISE_STEPS:]])
    assert np.max(np.abs(tail / ref - 1)) < 1e-12
    assert np.all(tail >= ref * (1 - 1e-15))
    powered = final_bound(scheme, learner, K)
    assert powered <= fast.bound[-1] <= powered * (1 + mpmath.mpf(1e-12))
    assert [t["n_total"] for t in fast.terms[:3]] == [scheme.n_total(1), scheme.n_total(2), scheme.n_total(3)]
    assert fast.terms[K - 1]["n_total"] == scheme.n_total(K)


@pytest.mark.parametrize("learner", [PowerLaw(1, 0.25), TABLE])
def test_steady_loop_at_its_fixed_point_repeats_the_same_numbers(learner):
    from boundcalc.model.schemes import Mix
    scheme, K = Mix(1000, 1000), 12_000
    fast = compose_bound(scheme, learner, K, with_closed_form=False)
    assert fast.bound == _mp_recursion(scheme, learner, K)  # every number, mpmath, as before
    assert fast.eps == [e.eps for e in learner_errors(learner, scheme, K, 0.05)]
    assert len(fast.terms) == K and fast.terms[-1] == {"generation": K, "n_total": mpmath.mpf(2000)}


@pytest.mark.parametrize("kind, kw", [("replace", dict(n_synth=1000)), ("mix", dict(n_synth=300_000, draw="iid")),
                                      ("mix", dict(n_synth=1000, draw="iid"))])
def test_diffusion_past_4096_generations(kind, kw):
    """The diffusion learner's eps depends on N and delta / K: within one run on N alone (Diffusion.run_rate), so
    its steady loops take the same paths: the rows equal learner.errors + the mpmath recursion (1e-12, from above;
    exactly at a fixed point), with the same named terms per generation."""
    from boundcalc.bounds.learners import Diffusion
    from boundcalc.model.schemes import make_scheme
    scheme, learner, K = make_scheme(kind, 1000, **kw), Diffusion(), 12_000
    errors = learner.errors(scheme, K, 0.05)
    reference = recursion([e.eps for e in errors], scheme)
    fast = compose_bound(scheme, learner, K)
    assert fast.bound[:STEPWISE_STEPS] == reference[:STEPWISE_STEPS]
    tail, ref = np.array([float(a) for a in fast.bound]), np.array([float(b) for b in reference])
    assert np.max(np.abs(tail / ref - 1)) < 1e-12 and np.all(tail >= ref * (1 - 1e-15))
    assert [float(e) for e in fast.eps] == [float(e.eps) for e in errors]
    for i in (0, 1, STEPWISE_STEPS, K - 1):
        assert fast.terms[i] == {"generation": i + 1, "n_total": errors[i].n_total, **errors[i].terms}
    assert fast.terms[K - 1] is not fast.terms[K - 1]  # a new dict per read


def test_diffusion_run_rate_refuses_what_errors_refuses():
    from boundcalc.bounds.learners import Diffusion
    with pytest.raises(BoundcalcError, match="lemma D1 needs each training set"):
        compose_bound(Accumulate(1000, 1000), Diffusion(), 10_000)
    rate = Diffusion().run_rate(__import__("boundcalc").Mix(1000, 1000, draw="iid"), 10, 0.05)
    ns = np.array([1000, 2000, 1000, 5 * 10 ** 5])
    assert rate.eps_of_ns(ns).tolist() == [float(rate.eps_of_n(int(n))) for n in ns]


@pytest.mark.parametrize("kind, kw", [("replace", dict(n_synth=1000)), ("mix", dict(n_synth=300_000, draw="iid"))])
def test_diffusion_final_bound_is_the_composed_bound(kind, kw):
    from boundcalc.bounds.learners import Diffusion
    from boundcalc.model.schemes import make_scheme
    scheme, learner = make_scheme(kind, 1000, **kw), Diffusion()
    for K in (50, STEPWISE_STEPS, 9000):
        composed = compose_bound(scheme, learner, K, with_closed_form=False).bound[-1]
        got = final_bound(scheme, learner, K)
        assert abs(got / composed - 1) < 1e-12
        if K <= STEPWISE_STEPS:
            assert got == composed
