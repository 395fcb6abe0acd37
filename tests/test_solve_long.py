"""The solvers at K = 1e5 generations against a second implementation written out here.

The reference is theorem S1's recursion for each scheme in plain Python floats (one loop over the
generations, no closed form, nothing from boundcalc), with a bisection (or a scan) on it.  The solver's
a_K is the recursion in mpmath for 4096 generations, then doubles rounded upward (relative excess far
below 1e-12), so the two agree to 1e-12 relative; the answers are compared with that tolerance at the
target (a reference value within 1e-12 of the target may fall either way).
"""

from __future__ import annotations

import numpy as np
import pytest

import boundcalc.bounds.solve as solve_module
from boundcalc.bounds.grid import _compiled, accumulate_grid
from boundcalc.bounds.learners import PowerLaw
from boundcalc.bounds.solve import solve
from boundcalc.model.schemes import Accumulate

K = 100_000
TOL = 1e-12


def eps(C, alpha, n):
    return C * float(n) ** -alpha


def ref_accumulate(C, alpha, n_real, n_synth, K):
    """a_K of accumulate: a_1 = eps(n_real), a_i = eps(N_i) + (n_synth / N_i) (a_1 + ... + a_(i-1)),
    N_i = n_real + (i - 1) n_synth."""
    total = a = eps(C, alpha, n_real)
    for i in range(2, K + 1):
        n_i = n_real + (i - 1) * n_synth
        a = eps(C, alpha, n_i) + n_synth / n_i * total
        total += a
    return a


def ref_one_source(C, alpha, n_first, n_later, synthetic, K):
    """a_K of a loop whose generation i >= 2 trains on n_later samples, ``synthetic`` of them from p_(i-1):
    a_1 = eps(n_first), a_i = eps(n_later) + (synthetic / n_later) a_(i-1) (replace: synthetic = n_later)."""
    a, e, w = eps(C, alpha, n_first), eps(C, alpha, n_later), synthetic / n_later
    for _ in range(2, K + 1):
        a = e + w * a
    return a


def ref_smallest(f, target, low, high):
    """Smallest integer x in [low, high] with f(x) <= target by bisection (f(low) > target >= f(high))."""
    assert f(low) > target >= f(high)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if f(mid) <= target else (mid, high)
    return high


def assert_crossing(f, value, target):
    """value is the smallest integer under the target for f, to the tolerance: f(value) <= target and
    f(value - 1) > target, each up to 1e-12 relative."""
    assert f(value) <= target * (1 + TOL)
    assert f(value - 1) > target * (1 - TOL)


POWER = PowerLaw(C=1, alpha=0.25)


def test_n_real_accumulate_at_1e5_is_the_float_recursion():
    target = 0.5
    r = solve("n-real", target, POWER, scheme="accumulate", generations=K, n_synth=1000)
    f = lambda n: ref_accumulate(1, 0.25, n, 1000, K)  # noqa: E731
    assert r.verified and r.value == ref_smallest(f, target, 1000, 10_000)
    assert_crossing(f, r.value, target)
    assert abs(float(r.achieved) / f(r.value) - 1) < TOL


def test_n_real_replace_at_1e5_is_the_float_recursion():
    learner, target, n_synth = PowerLaw(C=1, alpha=0.5), 0.05, 10 ** 14
    r = solve("n-real", target, learner, scheme="replace", generations=K, n_synth=n_synth)
    f = lambda n: ref_one_source(1, 0.5, n, n_synth, n_synth, K)  # noqa: E731
    assert r.verified and r.value == ref_smallest(f, target, 1, 10 ** 6)
    assert_crossing(f, r.value, target)


def test_n_real_replace_unreachable_floor_at_1e5():
    """replace with n_synth = 1000: a_K >= (K - 1) eps(1000) whatever n_real; the floor is that sum."""
    r = solve("n-real", 0.5, POWER, scheme="replace", generations=K, n_synth=1000)
    assert not r.reachable and r.verified
    assert abs(float(r.floor) / ((K - 1) * eps(1, 0.25, 1000)) - 1) < TOL
    assert float(r.floor) <= ref_one_source(1, 0.25, 10 ** 12, 1000, 1000, K)


def test_n_real_mix_at_1e5_is_the_float_recursion():
    target = 0.5
    r = solve("n-real", target, POWER, scheme="mix", generations=K, n_synth=1000)
    f = lambda n: ref_one_source(1, 0.25, n, n + 1000, 1000, K)  # noqa: E731
    assert r.verified and r.value == ref_smallest(f, target, 1, 10 ** 6)
    assert_crossing(f, r.value, target)


@pytest.mark.parametrize("scheme", ["mix", "schedule"])
def test_real_fraction_at_1e5_is_the_float_recursion(scheme):
    """A budget of N = 2000 samples per generation, r of them real: a_1 = eps(r), then a_i = eps(N) +
    (1 - r / N) a_(i-1)."""
    target, budget = 0.5, 2000
    r = solve("real-fraction", target, POWER, scheme=scheme, generations=K, n_real=1000, n_synth=1000)
    f = lambda real: ref_one_source(1, 0.25, real, budget, budget - real, K)  # noqa: E731
    real = r.checks["n_real_per_generation"]
    assert r.verified and real == ref_smallest(f, target, 1, budget)
    assert r.value == real / budget
    assert_crossing(f, real, target)


def test_n_synth_accumulate_at_1e5_is_the_float_recursion():
    """The bound is not monotone in n_synth: the reference checks the crossing and that no point of a
    geometric grid below the answer meets the target."""
    target, n_real = 0.6, 100
    r = solve("n-synth", target, POWER, scheme="accumulate", generations=K, n_real=n_real)
    f = lambda s: ref_accumulate(1, 0.25, n_real, s, K)  # noqa: E731
    assert r.verified
    assert_crossing(f, r.value, target)
    for s in np.unique(np.geomspace(1, r.value - 1, 12).astype(int)):
        assert f(int(s)) > target


def test_generations_accumulate_past_4096_is_the_float_recursion():
    """Largest K with a_K <= target (a_k increases here): the reference steps the recursion until it
    crosses; the solver's a_K and a_(K+1) come from the double continuation."""
    learner, target = PowerLaw(C=1, alpha=0.25), 0.62
    r = solve("generations", target, learner, scheme="accumulate", n_real=1000, n_synth=1000,
              max_generations=10 ** 6)
    total = a = eps(1, 0.25, 1000)
    k = 1
    while True:
        n_i = 1000 + k * 1000
        nxt = eps(1, 0.25, n_i) + 1000 / n_i * total
        if nxt > target:
            break
        total += nxt
        a, k = nxt, k + 1
    assert k > 4096
    assert r.verified and r.value == k
    assert abs(float(r.achieved) / a - 1) < TOL


@pytest.mark.parametrize("n_synth", [1000.0, None])
def test_accumulate_guide_equals_the_compiled_closed_form(n_synth):
    """accumulate_grid (blocks of points x generations) against the compiled closed form S4 of the old
    guide (a Python sum over the terms), at a few points, K = 1e5 and small K."""
    f, names, _ = _compiled(Accumulate, POWER, False)
    assert names == ("K", "n_real", "n_synth")
    xs = np.array([1.0, 37.0, 3286.0, 2.5e9, 4e18])
    synth = xs if n_synth is None else np.full(xs.shape, n_synth)
    for generations in (1, 2, 17, K):
        new = accumulate_grid(xs, synth, POWER, generations, final_only=True)[0]
        old = np.array([f(generations, x, s) for x, s in zip(xs.tolist(), synth.tolist())])
        np.testing.assert_allclose(new, old, rtol=1e-12, atol=0)
    every = accumulate_grid(xs[:3], synth[:3], POWER, 40)
    for k in (1, 2, 40):
        np.testing.assert_allclose(every[k - 1], [f(k, x, s) for x, s in zip(xs[:3].tolist(), synth[:3].tolist())],
                                   rtol=1e-12, atol=0)


def test_bisected_guide_gives_the_scanned_answer(monkeypatch):
    """At small K the full guide scan is used; forcing the bisected guide (proved monotone for accumulate)
    gives the same answers."""
    cases = [(0.5, 300, 1000), (0.3, 64, 1), (0.2, 4096, 50)]
    scanned = [solve("n-real", t, POWER, scheme="accumulate", generations=k, n_synth=s).value for t, k, s in cases]
    monkeypatch.setattr(solve_module, "_GUIDE_TERMS", 0)
    bisected = [solve("n-real", t, POWER, scheme="accumulate", generations=k, n_synth=s) for t, k, s in cases]
    assert [r.value for r in bisected] == scanned
    assert all(r.verified and "doubles rounded upward" not in r.message for r in bisected)


def test_message_says_how_the_recursion_is_evaluated():
    long = solve("n-real", 0.5, POWER, scheme="accumulate", generations=5000, n_synth=1000)
    assert "mpmath for generations 1..4096, then doubles rounded upward" in long.message
    short = solve("n-real", 0.5, POWER, scheme="accumulate", generations=50, n_synth=1000)
    assert "the recursion in mpmath" in short.message


def test_n_synth_guide_skips_to_the_scan_point_the_recursion_stops_at(monkeypatch):
    """accumulate past 4096 generations: the scan points before the crossing are read from the closed
    form in doubles; the answer and the monotonicity verdict are those of the scan on the recursion."""
    guided = solve("n-synth", 0.6, POWER, scheme="accumulate", generations=5000, n_real=100)
    assert "read from the closed form" in guided.message
    monkeypatch.setattr(solve_module, "_n_synth_guide", lambda *a, **k: None)
    plain = solve("n-synth", 0.6, POWER, scheme="accumulate", generations=5000, n_real=100)
    assert "read from the closed form" not in plain.message
    assert guided.verified and plain.verified and guided.value == plain.value
    assert guided.checks["monotone_on_scan"] == plain.checks["monotone_on_scan"]
    f = lambda s: ref_accumulate(1, 0.25, 100, s, 5000)  # noqa: E731
    assert_crossing(f, guided.value, 0.6)
