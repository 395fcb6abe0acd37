"""Cost in K of the composition (issue 11): the O(K)-time, O(1)-memory paths against direct references.

* ``final_bound`` (the solvers' inner loop) against theorem S1 applied directly with every plan's
  weights (an O(K^2) reference written here) and against the stored sequence of ``recursion``;
* ``_affine_power`` (a steady loop finished in closed form) against the step-by-step iteration;
* the phase curve of a rate-only learner (a_(I-1) once, then the last S1 step) against the full
  I-generation recursion of the same schedule;
* the diffusion learner's per-N cache against eps_of_n per generation;
* ``bound`` at a K beyond the printed table: the first and last rows, every a_i in the JSON.
"""

from __future__ import annotations

import json
import math

import mpmath
import pytest

import boundcalc as bc
from boundcalc.bounds.compose import STEPWISE_STEPS, _affine_power, final_bound, recursion
from boundcalc.bounds.learners import Diffusion, PowerLaw, Table
from boundcalc.bounds.phase import phase_transition
from boundcalc.bounds.result import TABLE_ENDS
from boundcalc.bounds.solve import bound_sequence
from boundcalc.cli.main import main
from boundcalc.model.schemes import Schedule, make_scheme

POWER = PowerLaw(1, 0.3)
SCHEMES = {
    "mix": dict(name="mix", n_real=100, n_synth=300),
    "mix reused": dict(name="mix", n_real=100, n_synth=300, real_data="reused"),
    "mix slow": dict(name="mix", n_real=1, n_synth=10 ** 6),  # far from its fixed point after 4096 steps
    "replace": dict(name="replace", n_real=100, n_synth=50),
    "accumulate": dict(name="accumulate", n_real=100, n_synth=30),
    "schedule": dict(name="schedule", n_real=100, real_fractions=[0.4], sizes=[250]),
}


def _scheme(key):
    kw = dict(SCHEMES[key])
    return make_scheme(kw.pop("name"), **kw)


def _direct(scheme, learner, K):
    """Theorem S1 by its definition: a_i = eps(N_i) + sum_{j >= 1} w_ij a_j with the plan's weights
    (O(K^2); every weight read from the plan, no running sums, no fixed point)."""
    a = []
    for i in range(1, K + 1):
        plan = scheme.plan(i)
        w = plan.weights()
        a.append(learner.eps_of_n(plan.n_total) + mpmath.fsum(w[j] * a[j - 1] for j in range(1, len(w)) if w[j]))
    return a[-1]


@pytest.mark.parametrize("key", sorted(SCHEMES))
@pytest.mark.parametrize("K", [1, 2, 3, 7, 60, 400])
def test_final_bound_equals_the_direct_recursion(key, K):
    scheme = _scheme(key)
    expected = _direct(scheme, POWER, K)
    got = final_bound(scheme, POWER, K)
    assert abs(got - expected) <= mpmath.mpf("1e-12") * abs(expected)
    assert got == recursion([POWER.eps_of_n(scheme.n_total(i)) for i in range(1, K + 1)], scheme)[-1]


@pytest.mark.parametrize("key", sorted(SCHEMES))
@pytest.mark.parametrize("K", [STEPWISE_STEPS, STEPWISE_STEPS + 1, 3 * STEPWISE_STEPS + 17])
def test_final_bound_past_the_stepwise_part(key, K):
    """Beyond 4096 steps a steady loop is finished by binary powering: equal to the stored sequence
    to 1e-12 (exactly while it is stepwise or at its fixed point); accumulate goes on in doubles with a
    rounding allowance (tests/test_scale_accumulate.py): within 1e-12 and never below the mpmath steps."""
    scheme = _scheme(key)
    expected = bound_sequence(scheme, POWER, K, 0.05)[-1]
    got = final_bound(scheme, POWER, K)
    assert abs(got - expected) <= mpmath.mpf("1e-12") * abs(expected)
    if key == "accumulate" and K > STEPWISE_STEPS:
        assert got >= expected
    elif K == STEPWISE_STEPS or key in ("mix", "mix reused", "accumulate"):
        assert got == expected


@pytest.mark.parametrize("e, w, n", [(0.1, 0.5, 1), (0.1, 0.5, 37), (0.01, 1.0, 1000), (0.3, 0.999999, 5000),
                                     (2.0, 0.0, 9)])
def test_affine_power_is_the_n_fold_step(e, w, n):
    e, w = mpmath.mpf(e), mpmath.mpf(w)
    with mpmath.workdps(40):
        a_w, a_e = mpmath.mpf(1), mpmath.mpf(0)  # a -> a_e + a_w a, composed step by step
        for _ in range(n):
            a_e, a_w = e + w * a_e, w * a_w
    got_w, got_e = _affine_power(e, w, n)
    assert abs(got_w - a_w) <= mpmath.mpf("1e-14") * max(abs(a_w), mpmath.mpf("1e-300"))
    assert abs(got_e - a_e) <= mpmath.mpf("1e-14") * abs(a_e)


def test_final_bound_of_a_table_learner_and_of_other_learners():
    table = Table(((10, 0.5), (100, 0.3), (1000, 0.1), (10 ** 6, 0.01)))
    for key in ("mix", "accumulate", "replace"):
        scheme = _scheme(key)
        assert final_bound(scheme, table, 500) == _direct_table(scheme, table, 500)


def _direct_table(scheme, learner, K):
    return recursion([learner.eps_of_n(scheme.n_total(i)) for i in range(1, K + 1)], scheme)[-1]


@pytest.mark.parametrize("I", [2, 3, 9, 40])
def test_phase_curve_is_the_full_recursion_of_the_schedule(I):
    """The rate-only phase path (a_(I-1) once, the last S1 step per point) gives the numbers of the
    I-generation recursion of the schedule of the phase curve, bit for bit."""
    learner, n_real, n_before = PowerLaw(1, 0.2), 1000, 1000
    result = phase_transition(learner, n_real, generation=I)

    def full(s):
        lam = n_real / (n_real + n_before)
        sch = Schedule.continuous(n_real, [lam] * (I - 2) + [n_real / (n_real + s)],
                                  [n_real + n_before] * (I - 2) + [n_real + s])
        return bound_sequence(sch, learner, I, 0.05)[-1]

    for s in (0, 1, 250.5, 10 ** 4, 10 ** 7):
        assert result.curve(s) == full(s)


def test_diffusion_errors_cached_by_n_equal_the_per_generation_lemmas():
    learner = Diffusion()
    scheme = make_scheme("schedule", 200, real_fractions=[0.5, 0.3, 0.3, 0.5], sizes=[300, 400, 400, 300],
                         draw="iid")  # i.i.d. draws of q_i: the sets lemma D1 covers
    errors = learner.errors(scheme, 5, 0.05)
    delta_i = errors[0].terms["delta_i"]
    assert float(delta_i) == pytest.approx(0.05 / 5, rel=1e-15)  # lemma C3
    for e in errors:
        n = scheme.n_total(e.generation)
        assert e.eps == learner.eps_of_n(n, delta_i)
        assert e.terms["KL"] == learner.kl_of_n(n, delta_i) and e.terms["tau"] == learner.tau_for(n, delta_i)
    errors[1].terms["KL"] = None  # one generation's record is its own (not shared with another generation)
    assert errors[2].terms["KL"] is not None or scheme.n_total(3) != scheme.n_total(2)


def test_bound_beyond_the_table_prints_first_and_last_rows(capsys):
    K = 12_345
    assert main(["bound", "--learner", "power", "--C", "1", "--alpha", "0.5", "-K", str(K)]) in (0, None)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line[:5].strip().isdigit()]
    assert [int(r.split()[0]) for r in rows] == [*range(1, TABLE_ENDS + 1), *range(K - TABLE_ENDS + 1, K + 1)]
    assert f"{K - 2 * TABLE_ENDS} generations not printed" in out
    assert main(["bound", "--learner", "power", "--C", "1", "--alpha", "0.5", "-K", str(K), "--json"]) in (0, None)
    data = json.loads(capsys.readouterr().out)
    assert len(data["bound"]) == K and len(data["eps"]) == K
    assert len(data["terms"]) == 2 * TABLE_ENDS and data["terms_omitted"] == K - 2 * TABLE_ENDS
    reference = bc.bound(bc.Mix(n_real=10_000, n_synth=10_000), bc.PowerLaw(C=1, alpha=0.5), generations=K)
    assert data["final"] == float(reference.final)


def _exit_code(argv):
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_a_million_generations_are_accepted_and_more_refused(capsys):
    assert main(["solve", "--for", "real-fraction", "--learner", "power", "--C", "1", "--alpha", "0.5",
                 "-K", "1000000", "--target", "0.02", "--json"]) in (0, None)
    data = json.loads(capsys.readouterr().out)
    assert data["reachable"] and data["verified"]
    assert _exit_code(["bound", "--learner", "power", "--C", "1", "--alpha", "0.5", "-K", "1000001"]) == 2
    assert "generations must be an integer in [1, 1000000]" in capsys.readouterr().err


def test_diffusion_sampler_steps_are_in_the_guard(capsys):
    """--steps 1e7 on a tiny model ran for hours under the flop limit (the RK4 loop's cost per step)."""
    assert _exit_code(["validate", "diffusion", "loop", "--scheme", "replace", "--generations", "1", "--seeds", "1",
                       "--n-real", "40", "--width", "16", "--steps", "1e7", "--grid-size", "64", "--tau", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "size guard" in err[0] and "--steps" in err[0]


@pytest.mark.parametrize("argv, value, limit", [
    (["bound", "-K", "100000", "--scheme", "replace", "--n-synth", "100000"], "100000",
     "[1, 200] with the kde learner and replace here (a size guard"),
    (["bound", "-K", "100001"], "100001", "[1, 100000] with the kde learner and mix (a size guard"),
    (["phase", "--learner", "kde", "--generation", "100000"], "100000", "[1, 200] with the kde learner (a size guard"),
    (["solve", "--for", "generations", "--learner", "kde", "--target", "0.5", "--max-generations", "1000"], "1000",
     "[1, 200] with the kde learner (a size guard"),
])
def test_kde_learner_refuses_more_generations_than_its_guard(argv, value, limit, capsys):
    """K beyond the KDE learner's guards (200 for the direct sums, 1e5 for a loop carried in O(K), the kernel
    tables' size for a replace loop that stays below 1 for long) is refused in one line, before any work."""
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and limit in err[0] and err[0].endswith(value)


# -- the KDE loop bound of a fresh mix loop, carried in O(K) (bounds/kde_steady.py) -------------------
def _kde_case(n_real, n_synth, target="bimodal"):
    from boundcalc.bounds.learners import KDE
    from boundcalc.model.schemes import Mix
    from boundcalc.model.targets import parse_target
    return Mix(n_real, n_synth), parse_target(target), float(KDE(target=target).resolved_bandwidth(n_real))


#: a schedule whose real fraction runs through 0 and 1 (generations 2..13)
SCHEDULE_FRACTIONS = [0.5, 0.3, 1.0, 0.7, 0.0, 0.45, 0.6, 0.5, 0.25, 0.8, 0.5, 0.4]
SCHEDULE_SIZES = [400, 900, 600, 1200, 500, 800, 700, 1000, 650, 300, 900, 750]


@pytest.mark.parametrize("n_real, n_synth, K", [(n_real, n_synth, K) for n_real, n_synth in ((500, 500), (300, 1200))
                                                 for K in (1, 2, 5, 13)] + [("schedule", None, K) for K in (2, 5, 13)])
def test_steady_kde_loop_equals_the_direct_sums(n_real, n_synth, K):
    """With no block left to the tail and the direct path's grid, the carried quantities equal the direct
    block sums of kde_expected (every block, every generation) to 1e-12: fresh mix, and a schedule."""
    from boundcalc.bounds.kde_expected import expected_bound, loop_probability_bound
    from boundcalc.bounds.kde_steady import steady_mix_bounds
    from boundcalc.model.schemes import Schedule
    if n_real == "schedule":
        _, target, h = _kde_case(500, 500)
        scheme = Schedule(500, real_fractions=SCHEDULE_FRACTIONS[:K - 1], sizes=SCHEDULE_SIZES[:K - 1])
    else:
        scheme, target, h = _kde_case(n_real, n_synth)
    hs = [h] * K
    direct = expected_bound(scheme, target, hs, K)
    loop = loop_probability_bound(scheme, target, hs, K, 0.05, expected=direct)
    carried, carried_loop = steady_mix_bounds(scheme, target, h, K, 0.05, recent=10 ** 9,
                                              extra_variance=2 * sum(x * x for x in hs))
    for name in ("linear", "variance", "bias_tv", "deviation"):
        assert getattr(carried, name) == pytest.approx(getattr(direct, name), rel=1e-12, abs=0), name
    assert carried_loop.squared_mass_sum == pytest.approx(loop.squared_mass_sum, rel=1e-12, abs=0)
    assert carried_loop.bound == pytest.approx(loop.bound, rel=1e-12, abs=0)


@pytest.mark.parametrize("kind", ["mix", "schedule"])
@pytest.mark.parametrize("recent", [1, 3])
def test_steady_kde_tail_bound_is_above_the_direct_sum(recent, kind):
    """Blocks older than ``recent`` replaced by the scalar tail bound: every KE3 integral and KE5 bound
    is at least the direct one (same grid), and equal while no block is old enough (a mix, and a schedule
    whose real fraction runs through 0 and 1)."""
    from boundcalc.bounds.kde_expected import expected_bound, loop_probability_bound
    from boundcalc.bounds.kde_steady import steady_mix_bounds
    from boundcalc.model.schemes import Schedule
    scheme, target, h = _kde_case(500, 500)
    K = 12
    if kind == "schedule":
        scheme = Schedule(500, real_fractions=SCHEDULE_FRACTIONS[:K - 1], sizes=SCHEDULE_SIZES[:K - 1])
    hs = [h] * K
    direct = expected_bound(scheme, target, hs, K)
    loop = loop_probability_bound(scheme, target, hs, K, 0.05, expected=direct)
    carried, carried_loop = steady_mix_bounds(scheme, target, h, K, 0.05, recent=recent,
                                              extra_variance=2 * sum(x * x for x in hs))
    for i in range(K):
        assert carried.deviation[i] >= direct.deviation[i] * (1 - 1e-12)
        assert carried_loop.bound[i] >= loop.bound[i] * (1 - 1e-12)
        if i <= recent:  # generation i + 1 has no block older than recent
            assert carried_loop.bound[i] == pytest.approx(loop.bound[i], rel=1e-12)
    assert carried_loop.bound[-1] > loop.bound[-1]  # the tail is a bound, not the sum


def test_steady_kde_tail_recent_generations():
    from boundcalc.bounds.kde_steady import MAX_RECENT, MIN_RECENT, TAIL_MASS, recent_generations
    assert recent_generations(0.5) == 27 and 0.5 ** 27 <= TAIL_MASS < 0.5 ** 26
    assert recent_generations(1.0) == MIN_RECENT and recent_generations(1e-9) == MAX_RECENT


def test_kde_mix_with_slowly_converging_laws_goes_to_the_kernel_tables():
    """At real fraction 0.1 the K4 laws take about 870 generations to converge, each evaluating 2 L = 350
    densities: past the direct sums (K > 200) the warm-up estimate sends the loop to the kernel tables
    (bounds/kde_tables.py), which carry it without waiting for the laws (it used to be refused)."""
    from boundcalc.bounds.kde_steady import warm_up_densities
    from boundcalc.bounds.learners import KDE, MAX_KDE_WARM_UP
    from boundcalc.bounds.kde_tables import table_bounds
    from boundcalc.model.schemes import Mix
    from boundcalc.model.targets import parse_target
    assert warm_up_densities(Mix(10_000, 10_000), 10 ** 5) == pytest.approx(2 * 27 * math.log(1e-40) / math.log(0.5))
    scheme = Mix(10_000, 90_000)
    assert warm_up_densities(scheme, 300) > MAX_KDE_WARM_UP
    learner = KDE(target="bimodal")
    h = learner.resolved_bandwidth(10_000)
    _, loop = table_bounds(scheme, parse_target("bimodal"), h, 300, 0.05)
    assert [float(e.terms["loop_bound"]) for e in learner.errors(scheme, 300, 0.05)] == loop.bound


@pytest.mark.parametrize("bandwidth", ["9007199254740993", "4294967297", "1e90"])
def test_kde_loop_bound_with_a_huge_bandwidth_is_refused(bandwidth, capsys):
    """Found by the property suite (60 examples): the loop bound's quadrature grid for h = 9e15 asked for
    73 TiB (a traceback); now one line naming the bandwidth and the size guard."""
    assert _exit_code(["bound", "--learner", "kde", "--generations", "3", "--bandwidth", bandwidth, "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("boundcalc: error: bandwidth: the quadrature") and "size guard" in err[0]
