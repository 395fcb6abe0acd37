"""Issue 9, item 1: which training sets lemma D1 covers, and its failure probability (lemma D4).

* coverage: a number where every training set is, given the past, N_i i.i.d. draws of q_i (generation 1,
  replace, mix/schedule with draw = iid and fresh real data), one line otherwise (stratified mix sets,
  reused real data, accumulate), in the API and on every command line path (exit status 2);
* delta: the printed bound is lemma D4 at delta/K per generation; expected values are computed here by
  hand from the closed form (not by the code under test);
* the validators' iid draw: the real count is Binomial(N_i, lam_i), and reruns are byte-identical.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import boundcalc as bc
from boundcalc._checks import BoundcalcError
from boundcalc.bounds.learners import KDE, Diffusion
from boundcalc.cli.main import main
from boundcalc.model.schemes import Accumulate, AccumulateSubsample, Mix, Replace, Schedule, make_scheme
from boundcalc.theory.catalogue import get_lemma


# --- hand arithmetic ----------------------------------------------------------------------------

def _ell(delta):
    return max(1.0, -2.0 * math.log(delta))  # ln(1/delta^2), without underflow at delta = 1e-300


def _kl(n, m, tau, T, delta, k=2.0, c_stat=1.0, c_width=1.0, c_opt=1.0, c_mc=1.0, c_approx=0.0, c_prior=1.0):
    L = _ell(delta) ** k
    return (L * (c_stat * tau ** 4 / (m * n) + c_width * tau ** 3 / m ** 2 + c_mc / m)
            + c_opt / tau + c_approx + c_prior * math.exp(-2 * T))


def _tv(kl):
    return min(math.sqrt(kl / 2), math.sqrt(1 - math.exp(-kl)))


# --- lemma D4 -----------------------------------------------------------------------------------

def test_d4_numeric():
    """tau = 2, m = n = 10, T = 1, unit constants, k = 2, delta = 1e-300: ell = 600 ln 10."""
    ell = 600 * math.log(10)
    expected = ell ** 2 * (16 / 100 + 8 / 100 + 1 / 10) + 1 / 2 + math.exp(-2)
    got = get_lemma("D4").evaluate(tau=2, m=10, n=10, T=1, c_stat=1, c_width=1, c_opt=1, c_mc=1, c_approx=0,
                                   c_prior=1, delta=1e-300, k_delta=2)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(648952.96, rel=1e-8)
    # delta = 0.05: ell = 2 ln 20, the factor 35.8976...
    assert float(bc.Diffusion().confidence_factor(0.05)) == pytest.approx((2 * math.log(20)) ** 2, rel=1e-14)
    assert (2 * math.log(20)) ** 2 == pytest.approx(35.8976, abs=1e-4)


def test_d4_monotone_in_delta_and_degree():
    d4 = get_lemma("D4")
    base = dict(tau=3, m=50, n=200, T=2, c_stat=1, c_width=0.5, c_opt=1, c_mc=2, c_approx=0.01, c_prior=1)
    deltas = [0.9, 0.5, 0.1, 1e-3, 1e-10, 1e-100, 1e-300]
    for k in (0, 1, 2, 3.5):
        values = [float(d4.evaluate(**base, delta=d, k_delta=k)) for d in deltas]
        assert values == sorted(values)  # non-increasing in delta
        if k > 0:
            assert values[-1] > values[2] > values[0]
    for d in (0.1, 1e-50):
        by_k = [float(d4.evaluate(**base, delta=d, k_delta=k)) for k in (0, 1, 2, 3)]
        assert by_k == sorted(by_k) and by_k[-1] > by_k[0]
    # ell = 1 for delta >= e^(-1/2): D4 is D1 with the constants as given
    d1 = float(get_lemma("D1").evaluate(**base))
    assert float(d4.evaluate(**base, delta=0.7, k_delta=3)) == pytest.approx(d1, rel=1e-15)


def test_diffusion_bound_at_delta_matches_hand_formula():
    learner = Diffusion(width=1000, tau=4, horizon=2)
    scheme = Replace(1000, 2000)
    K = 3
    for delta in (0.05, 1e-300):
        d_i = delta / K
        e1, e2 = _tv(_kl(1000, 1000, 4, 2, d_i)), _tv(_kl(2000, 1000, 4, 2, d_i))
        expected = [e1, e1 + e2, e1 + 2 * e2]  # replace: a_i = eps_i + a_(i-1)
        got = [float(v) for v in bc.bound(scheme, learner, generations=K, delta=delta).bound]
        assert got == pytest.approx(expected, rel=1e-12)
    # mix drawn iid, lam = 1/2: a_i = eps(N) + (1/2) a_(i-1), tau* of D2 at the same constants
    mix = Mix(1000, 1000, draw="iid")
    fixed = Diffusion(width=500, tau=3, horizon=3, delta_exponent=1.5)
    d_i = 0.01 / 4
    e1 = _tv(_kl(1000, 500, 3, 3, d_i, k=1.5))
    e = _tv(_kl(2000, 500, 3, 3, d_i, k=1.5))
    a = [e1]
    for _ in range(3):
        a.append(e + 0.5 * a[-1])
    got = [float(v) for v in bc.bound(mix, fixed, generations=4, delta=0.01).bound]
    assert got == pytest.approx(a, rel=1e-12)


def test_delta_changes_the_printed_bound_monotonically():
    scheme = Mix(1000, 3000, draw="iid")
    finals = [float(bc.bound(scheme, Diffusion(), generations=5, delta=d).final)
              for d in (0.5, 0.05, 1e-3, 1e-20, 1e-300)]
    assert finals == sorted(finals) and finals[0] < finals[-1]
    assert Diffusion.uses_delta and not Diffusion.rate_only
    r = bc.bound(scheme, Diffusion(), generations=5, delta=0.05)
    assert "C3" in r.provenance and "D4" in r.provenance


def test_tau_star_uses_the_delta_dependent_constants():
    """tau* of D2 for c_stat ell^k, c_width ell^k, c_opt (the bound printed), so it moves with delta."""
    learner = Diffusion(c_width=0.0)
    n = 10_000
    for delta_i in (0.01, 1e-30):
        L = _ell(delta_i) ** 2
        tau_closed = (n * n / (4 * L)) ** 0.2  # c_width = 0: (c_opt m n / (4 c_stat L))^(1/5), m = n
        assert float(learner.tau_for(n, delta_i)) == pytest.approx(tau_closed, rel=1e-10)
    r = bc.bound(Replace(n, n), learner, generations=2, delta=0.02)
    assert float(r.terms[0]["tau"]) == pytest.approx((n * n / (4 * _ell(0.01) ** 2)) ** 0.2, rel=1e-10)


# --- coverage in the API ------------------------------------------------------------------------

def test_diffusion_coverage_reused_refused_fresh_iid_covered():
    fresh = bc.bound(Mix(1000, 1000, "fresh", draw="iid"), Diffusion(), generations=3)
    assert 0 < float(fresh.final) < 1
    with pytest.raises(BoundcalcError, match=r"reused.*not a fresh") as info:
        bc.bound(Mix(1000, 1000, "reused"), Diffusion(), generations=3)
    assert "\n" not in str(info.value) and "--draw iid" in str(info.value)
    with pytest.raises(BoundcalcError, match="draw iid needs real_data fresh"):
        Mix(1000, 1000, "reused", draw="iid")
    with pytest.raises(BoundcalcError, match="reused"):
        bc.bound(Accumulate(1000, 1000, "reused"), Diffusion(), generations=2)


def test_diffusion_coverage_stratified_refused_iid_covered():
    with pytest.raises(BoundcalcError, match=r"mix/schedule with --draw stratified \(the default\): generation 2") as info:
        bc.bound(Mix(1000, 3000), Diffusion(), generations=2)
    assert "\n" not in str(info.value)
    with pytest.raises(BoundcalcError, match="schedule with --draw stratified"):
        bc.bound(Schedule(1000, real_fractions=[0.5]), Diffusion(), generations=3)
    assert float(bc.bound(Schedule(1000, real_fractions=[0.5], draw="iid"), Diffusion(), generations=3).final) > 0
    # one law per training set: covered whatever the draw
    assert float(bc.bound(Mix(1000, 3000), Diffusion(), generations=1).final) > 0  # generation 1 only
    assert float(bc.bound(Replace(1000, 1000), Diffusion(), generations=4).final) > 0
    assert float(bc.bound(Mix(1000, 0, "reused"), Diffusion(), generations=3).final) > 0  # the one real set, p0
    assert float(bc.bound(Schedule(1000, real_fractions=[0.0, 1.0], sizes=[500, 800]), Diffusion(),
                          generations=3).final) > 0  # p_1 alone, then p0 alone
    for scheme in (Accumulate(1000, 1000), AccumulateSubsample(1000, 500, 800)):
        with pytest.raises(BoundcalcError, match="kept from earlier generations"):
            bc.bound(scheme, Diffusion(), generations=2)


def test_fresh_and_reused_no_longer_print_the_same_number():
    """Before issue 9 both printed the same numbers; now reused is refused and fresh (iid) is a theorem."""
    assert make_scheme("mix", 1000, 1000, draw="iid").to_dict()["draw"] == "iid"
    assert repr(make_scheme("mix", 1000, 1000, draw="iid")) == "Mix(n_real=1000, n_synth=1000, real_data='fresh', draw='iid')"
    assert repr(make_scheme("mix", 1000, 1000)) == "Mix(n_real=1000, n_synth=1000, real_data='fresh')"
    with pytest.raises(BoundcalcError, match="draw iid .* applies to mix and schedule, not replace"):
        make_scheme("replace", 1000, draw="iid")
    with pytest.raises(BoundcalcError, match="draw must be one of stratified, iid"):
        make_scheme("mix", 1000, draw="random")


def test_kde_learner_refuses_draw_iid():
    with pytest.raises(BoundcalcError, match="kde learner: lemmas KE1-KE5 and KR1-KR5 are stated for fixed block"):
        bc.bound(Mix(1000, 1000, draw="iid"), KDE("normal"), generations=2)
    assert float(bc.bound(Mix(1000, 1000, draw="iid"), KDE("normal"), generations=1).final) > 0


def test_solve_and_phase_follow_the_coverage():
    with pytest.raises(BoundcalcError, match="--draw stratified"):
        bc.solve(0.5, Mix(None, 1000), Diffusion(), generations=3)
    r = bc.solve(0.5, Mix(None, 1000, draw="iid"), Diffusion(), generations=3)
    assert r.reachable and r.verified
    with pytest.raises(BoundcalcError, match="schedule with --draw stratified"):
        bc.phase(Diffusion(), n_real=1000)
    assert bc.phase(Diffusion(), n_real=1000, draw="iid").peak > 0


# --- every command line path: one line, exit status 2 -------------------------------------------

REFUSED = [
    ["bound", "--learner", "diffusion"],
    ["bound", "--learner", "diffusion", "--real-data", "reused"],
    ["bound", "--learner", "diffusion", "--scheme", "accumulate"],
    ["bound", "--learner", "diffusion", "--scheme", "schedule", "--schedule-fractions", "0.5"],
    ["solve", "--for", "n-real", "--target", "0.5", "--learner", "diffusion"],
    # n_synth = 0 (all real: one law) is covered, so a target it misses makes the solver look at n_synth >= 1
    ["solve", "--for", "n-synth", "--target", "0.01", "--learner", "diffusion"],
    ["solve", "--for", "generations", "--target", "0.5", "--learner", "diffusion"],
    ["solve", "--for", "real-fraction", "--target", "0.5", "--learner", "diffusion"],
    ["phase", "--learner", "diffusion"],
    ["bound", "--learner", "kde", "--draw", "iid", "--generations", "2"],
    ["bound", "--learner", "diffusion", "--scheme", "replace", "--draw", "iid"],
    ["bound", "--learner", "diffusion", "--real-data", "reused", "--draw", "iid"],
]


@pytest.mark.parametrize("argv", REFUSED, ids=[" ".join(a[:3]) + f"#{k}" for k, a in enumerate(REFUSED)])
def test_cli_refusals_are_one_line_exit_2(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("boundcalc") and "Traceback" not in err


@pytest.mark.parametrize("figure", ["generations --scheme mix", "diagram --grid 3", "phase"])
def test_cli_plot_refusals_are_one_line_exit_2(capsys, tmp_path, figure):
    try:
        code = main(["plot", *figure.split(), "--learner", "diffusion", "--out", str(tmp_path / "f")])
    except SystemExit as exc:
        code = exc.code
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "lemma D1 needs" in err
    assert not (tmp_path / "f").exists() or not any((tmp_path / "f").iterdir())


def test_cli_plot_generations_leaves_out_a_refused_default_scheme(capsys, tmp_path):
    code = main(["plot", "generations", "--learner", "diffusion", "--draw", "iid", "--out", str(tmp_path)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "mix: a_K <=" in out and "replace: a_K <=" in out and "accumulate: no bound: diffusion learner" in out


def test_cli_delta_changes_the_diffusion_bound_subprocess():
    def final(*extra):
        done = subprocess.run([sys.executable, "-m", "boundcalc", "bound", "--learner", "diffusion", "--draw", "iid",
                               "--json", *extra], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        import json
        return json.loads(done.stdout)["final"]

    loose, tight = final("--delta", "0.05"), final("--delta", "1e-300")
    assert float(tight) > float(loose)
    done = subprocess.run([sys.executable, "-m", "boundcalc", "bound", "--learner", "diffusion", "--real-data",
                           "reused"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == "" and len(done.stderr.strip().splitlines()) == 1


# --- the validators' iid draw -------------------------------------------------------------------

class _Stub:
    """A generator whose samples sit near 0 (p0's sit near 10), so real samples can be counted."""
    status_ = "ok"

    def fit(self, x):
        return self

    def sample(self, rng, size):
        return rng.normal(0.0, 1.0, size=(size, 1))


class _Target:
    def sample(self, rng, size):
        return rng.normal(10.0, 1.0, size=(size, 1))


def _real_counts(scheme, seeds, per_block=False):
    from boundcalc.validate.loop import iterate_loop
    from boundcalc.validate.runner import seed_rng
    counts, sets = [], []
    for s in range(seeds):
        rng = (lambda block, s=s: seed_rng(7, s, block.source, block.drawn_at)) if per_block else seed_rng(7, s)
        steps = list(iterate_loop(scheme, _Target(), 2, lambda i, n: _Stub(), rng))
        x = steps[1].training_set
        counts.append(int((x[:, 0] > 5).sum()))
        assert steps[1].real_count == counts[-1] and x.shape[0] == 200
        assert steps[1].source_weights() == pytest.approx([0.3, 0.7], rel=1e-15)
        sets.append(x.tobytes())
    return np.array(counts), sets


@pytest.mark.parametrize("per_block", [False, True])
def test_iid_draw_real_count_is_binomial(per_block):
    """N = 200, lam = 0.3: mean 60, variance 42.  z-tests at |z| < 4 (false alarm about 6e-5 each, and
    the seeds are fixed, so the outcome is deterministic)."""
    S = 400
    counts, _ = _real_counts(Mix(60, 140, draw="iid"), S, per_block)
    mean, var = counts.mean(), counts.var(ddof=1)
    assert abs(mean - 60) / math.sqrt(42 / S) < 4
    assert abs(var - 42) / (42 * math.sqrt(2 / (S - 1))) < 4
    assert len(set(counts.tolist())) > 10  # really random, not the stratified 60


def test_iid_draw_is_reproducible_byte_for_byte_and_stratified_is_exact():
    a_counts, a_sets = _real_counts(Mix(60, 140, draw="iid"), 20, per_block=True)
    b_counts, b_sets = _real_counts(Mix(60, 140, draw="iid"), 20, per_block=True)
    assert a_sets == b_sets and (a_counts == b_counts).all()
    from boundcalc.validate.loop import iterate_loop
    from boundcalc.validate.runner import seed_rng
    steps = list(iterate_loop(Mix(60, 140), _Target(), 2, lambda i, n: _Stub(), seed_rng(7, 0)))
    assert int((steps[1].training_set[:, 0] > 5).sum()) == 60 and steps[1].real_count is None


def test_validate_diffusion_options_take_draw():
    from boundcalc.validate.diffusion.experiments import _scheme_list
    from boundcalc.validate.diffusion.options import diffusion_config
    options = diffusion_config("loop", scheme="all", draw="iid", n_real=50, generations=2, seeds=1)
    schemes = dict(_scheme_list(options))
    assert all(s.draw == "iid" for label, s in schemes.items() if label.startswith("mix"))
    assert options.to_dict()["draw"] == "iid"
    with pytest.raises(BoundcalcError, match="draw iid needs real_data fresh"):
        diffusion_config("loop", scheme="mix", draw="iid", real_data="reused")
