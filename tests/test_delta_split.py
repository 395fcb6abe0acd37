"""The diffusion learner's failure probability, split the same way everywhere.

``bound --learner diffusion`` takes each generation's D1 statement at ``delta_i = delta / K`` (lemma C3)
with the constants of lemma D4 there: c_stat, c_width and c_mc times ``ell(delta_i)^k_delta``,
``ell(d) = max(1, ln(1/d^2))``.  ``optimum tau``, the early-stopping curves (``plot early-stopping``)
and theorem E1's evaluation must use the same constants for the same N, delta and K.  The expected values
here are typed from the statements (D1 by hand, ell in mpmath, tau* as the root of the stationarity
equation found by mpmath's own root finder), or read from the other command's real output.
"""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest

from boundcalc.cli.main import main

UNIT = dict(c_stat=1.0, c_width=1.0, c_opt=1.0, c_mc=1.0, c_approx=0.0, c_prior=1.0)

#: (N, delta, K, extra learner options): the default constants, a wider ratio and other constants, and a
#: delta_i close to 1 where ell = 1 (no factor)
CASES = [
    (10_000, 0.05, 3, {}),
    (2_000, 1e-6, 7, {"width_ratio": 0.5, "c_stat": 0.2, "c_width": 0.3, "c_opt": 3.0}),
    (50_000, 0.9, 1, {}),
    (10_000, 0.05, 1, {"delta_exponent": 1.5}),
]


def _ell(d):
    """ell(d) = max(1, ln(1/d^2)), in mpmath (typed from lemma D4)."""
    return max(mpmath.mpf(1), mpmath.log(1 / mpmath.mpf(d) ** 2))


def _d1_by_hand(tau, m, n, T, c):
    """Lemma D1's right-hand side, typed from its statement."""
    return (c["c_stat"] * tau ** 4 / (m * n) + c["c_width"] * tau ** 3 / m ** 2 + c["c_opt"] / tau + c["c_mc"] / m
            + c["c_approx"] + c["c_prior"] * mpmath.exp(-2 * T))


def _constants_by_hand(delta, K, delta_exponent=2.0, width_ratio=None, **given):
    c = dict(UNIT, **given)
    factor = _ell(mpmath.mpf(delta) / K) ** delta_exponent
    return {k: (mpmath.mpf(v) * factor if k in ("c_stat", "c_width", "c_mc") else mpmath.mpf(v)) for k, v in c.items()}


def _tau_star_by_hand(m, n, c):
    """The minimiser over tau >= 1 of c_stat tau^4/(m n) + c_width tau^3/m^2 + c_opt/tau: the root of
    4 c_stat tau^5/(m n) + 3 c_width tau^4/m^2 = c_opt by bisection (mpmath's own solver), or 1."""
    def slope(t):
        return 4 * c["c_stat"] * t ** 5 / (m * n) + 3 * c["c_width"] * t ** 4 / m ** 2 - c["c_opt"]
    if slope(mpmath.mpf(1)) >= 0:
        return mpmath.mpf(1)
    hi = mpmath.mpf(2)
    while slope(hi) < 0:
        hi *= 2
    with mpmath.workdps(40):
        return mpmath.findroot(slope, (mpmath.mpf(1), hi), solver="bisect")


def _options(extra):
    argv = []
    for k, v in extra.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    return argv


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def _bound_terms(capsys, n, delta, K, extra):
    out = _run(capsys, "bound", "--learner", "diffusion", "--scheme", "replace", "--n-real", str(n), "--delta",
               str(delta), "--generations", str(K), *_options(extra), "--json")
    terms = json.loads(out)["terms"]
    assert len(terms) == K and len({t["tau"] for t in terms}) == 1  # replace: one N, one tau*
    return terms[0]


# --- 1. optimum tau -------------------------------------------------------------------------------

@pytest.mark.parametrize("n, delta, K, extra", CASES)
def test_optimum_tau_is_the_tau_of_bound(capsys, n, delta, K, extra):
    """For the same N, delta and K, `optimum tau` prints the tau* that `bound --learner diffusion` records."""
    term = _bound_terms(capsys, n, delta, K, extra)
    out = _run(capsys, "optimum", "tau", "--n", str(n), "--delta", str(delta), "--generations", str(K),
               *_options(extra), "--json")
    data = json.loads(out)
    assert data["value"] == term["tau"]
    assert data["inputs"]["delta_i"] == pytest.approx(delta / K, rel=1e-15) == term["delta_i"]
    assert data["inputs"]["confidence_factor"] == pytest.approx(term["confidence_factor"], rel=1e-15)
    # the text output prints the same number (10 significant digits)
    text = _run(capsys, "optimum", "tau", "--n", str(n), "--delta", str(delta), "--generations", str(K),
                *_options(extra))
    assert float(text.split("\n")[0].split("=")[1]) == pytest.approx(term["tau"], rel=1e-9)
    assert f"delta_i = delta/K = {delta:g}/{K}" in text
    # and both are D2 at the constants of D4 at delta / K, computed here
    c = _constants_by_hand(delta, K, **extra)
    m = extra.get("width_ratio", 1.0) * n
    assert term["tau"] == pytest.approx(float(_tau_star_by_hand(m, n, c)), rel=1e-12)


def test_optimum_tau_default_is_one_statement_at_delta():
    """The API's defaults: delta = 0.05 (as `bound`), K = 1 (a single training run), k_delta = 2."""
    import boundcalc as bc
    r = bc.optimum("tau", 10_000)
    c = _constants_by_hand(0.05, 1)
    assert float(r.value) == pytest.approx(float(_tau_star_by_hand(10_000, 10_000, c)), rel=1e-12)
    assert r.inputs["delta_i"] == 0.05 and r.inputs["generations"] == 1
    r = bc.bound(bc.Replace(n_real=10_000, n_synth=10_000), bc.Diffusion(), generations=4, delta=0.02)
    assert float(bc.optimum("tau", 10_000, delta=0.02, generations=4).value) == float(r.terms[0]["tau"])


def test_default_commands_agree_with_bound_for_one_generation(tmp_path, capsys):
    """With their own defaults (delta = 0.05, one statement), `optimum tau` and `plot early-stopping` print the
    tau* (D2) and KL(tau*) (E1) of `bound --learner diffusion --generations 1` at the same N: the numbers, not
    only the options (before the split they printed D2/E1 at the constants as given: tau* = 30.0224 here)."""
    term = _bound_terms(capsys, 10_000, 0.05, 1, {})
    data = json.loads(_run(capsys, "optimum", "tau", "--n", "10000", "--json"))
    assert data["value"] == term["tau"]
    out = _run(capsys, "plot", "early-stopping", "--out", str(tmp_path), "--n-samples", "10000", "--points", "5",
               "--format", "png")
    assert f"n = 10000, m = 10000: tau* = {term['tau']:.6g}, KL bound at tau* = {term['KL']:.6g}" in out
    assert term["tau"] < 20  # (c_opt m n / (4 c_stat ell^2))^(1/5) and below: ell(0.05)^2 = 35.9 shrinks tau*


def test_optimum_delta_options_belong_to_tau(capsys):
    for flag, value in (("--delta", "0.1"), ("--generations", "2"), ("--delta-exponent", "1")):
        code = main(["optimum", "bandwidth", "--n", "100", flag, value])
        err = capsys.readouterr().err
        assert code == 2 and "optimum tau" in err and len(err.strip().splitlines()) == 1
    code = main(["optimum", "tau", "--delta", "1.5"])
    err = capsys.readouterr().err
    assert code == 2 and "delta must be in (0, 1), got 1.5" in err


# --- 2. the early-stopping curve (plot early-stopping) --------------------------------------------

@pytest.mark.parametrize("n, delta, K, extra", CASES)
def test_early_stopping_curve_is_d1_at_the_constants_of_d4(n, delta, K, extra):
    from boundcalc.bounds.early_stopping import early_stopping_curve
    from boundcalc.bounds.learners import Diffusion
    learner = Diffusion(**extra)
    curve = early_stopping_curve(learner, n, n_points=40, delta=delta, generations=K)
    c = _constants_by_hand(delta, K, **extra)
    m = extra.get("width_ratio", 1.0) * n
    assert curve.m == m and curve.delta_i == pytest.approx(delta / K, rel=1e-15)
    factor = _ell(mpmath.mpf(delta) / K) ** extra.get("delta_exponent", 2.0)
    assert curve.confidence_factor == pytest.approx(float(factor), rel=1e-14)
    by_hand = np.array([float(_d1_by_hand(mpmath.mpf(t), m, n, 10, c)) for t in curve.tau])
    np.testing.assert_allclose(curve.kl, by_hand, rtol=1e-13)
    tau = curve.tau
    np.testing.assert_allclose(curve.terms["statistical"], float(c["c_stat"]) * tau ** 4 / (m * n), rtol=1e-13)
    np.testing.assert_allclose(curve.terms["finite width"], float(c["c_width"]) * tau ** 3 / m ** 2, rtol=1e-13)
    np.testing.assert_allclose(curve.terms["optimisation"], float(c["c_opt"]) / tau, rtol=1e-13)
    assert curve.tau_star == pytest.approx(float(_tau_star_by_hand(m, n, c)), rel=1e-12)


def test_plot_early_stopping_prints_the_numbers_of_bound(tmp_path, capsys):
    """The command's printed tau* and KL(tau*) are the bound's terms at the same N, delta and K."""
    term = _bound_terms(capsys, 10_000, 0.01, 5, {})
    out = _run(capsys, "plot", "early-stopping", "--out", str(tmp_path), "--n-samples", "10000", "--delta", "0.01",
               "--generations", "5", "--points", "5", "--format", "png")
    assert f"tau* = {term['tau']:.6g}, KL bound at tau* = {term['KL']:.6g}" in out
    assert "delta_i = delta/K = 0.01/5 = 0.002" in out and f"= {term['confidence_factor']:.6g}," in out


# --- 3. theorem E1 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n, delta, K, extra", CASES)
def test_e1_at_delta_i_is_d1_by_hand_at_its_optimum(capsys, n, delta, K, extra):
    from boundcalc.bounds.early_stopping import early_stopping_curve
    from boundcalc.bounds.learners import Diffusion
    from boundcalc.theory.catalogue import get_lemma
    c = _constants_by_hand(delta, K, **extra)
    m = extra.get("width_ratio", 1.0) * n
    expected = _d1_by_hand(_tau_star_by_hand(m, n, c), m, n, 10, c)
    curve = early_stopping_curve(Diffusion(**extra), n, n_points=20, delta=delta, generations=K)
    assert curve.kl_star == pytest.approx(float(expected), rel=1e-12)
    assert float(get_lemma("E1").evaluate(m=m, n=n, T=10, **c)) == pytest.approx(float(expected), rel=1e-20)
    # the loop bound's KL of a generation of N samples is the same number
    assert _bound_terms(capsys, n, delta, K, extra)["KL"] == pytest.approx(float(expected), rel=1e-12)


def test_without_delta_the_curve_says_constants_as_given():
    """The library function without delta: D1 with the constants as given, recorded as such."""
    from boundcalc.bounds.early_stopping import early_stopping_curve
    from boundcalc.bounds.learners import Diffusion
    curve = early_stopping_curve(Diffusion(), 1000, n_points=10)
    assert curve.delta_i is None and curve.confidence_factor == 1.0
    assert curve.kl_star == pytest.approx(float(_d1_by_hand(_tau_star_by_hand(1000, 1000, UNIT), 1000, 1000, 10, UNIT)),
                                          rel=1e-12)


# --- the floor of `solve --for n-real` (the same constants: a floor of the bound it solves) -------------

def test_solve_floor_is_at_the_constants_of_d4(capsys):
    """a_K >= eps_K >= inf_N eps(N): for a given tau and width the N-free terms of D4 at delta/K, by hand
    (before the split the floor was D1's as given, 0.365 here: too low to prove the target unreachable)."""
    out = _run(capsys, "solve", "--for", "n-real", "--target", "0.5", "--learner", "diffusion", "--scheme", "replace",
               "--tau", "4", "--width", "100", "--generations", "10", "--delta", "0.05", "--json")
    data = json.loads(out)
    L = _ell(mpmath.mpf("0.05") / 10) ** 2
    kl = 1 / mpmath.mpf(4) + L / 100 + L * 4 ** 3 / mpmath.mpf(100) ** 2 + mpmath.exp(-20)  # c_opt/tau, c_mc/m, c_width
    eps = min(mpmath.sqrt(kl / 2), mpmath.sqrt(1 - mpmath.exp(-kl)))
    assert data["floor"] == pytest.approx(float(eps), rel=1e-12)
    assert data["value"] is None and data["verified"] and data["message"].startswith("unreachable")
