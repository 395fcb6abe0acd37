"""Calibrated constants of lemma D1 (derivations/calibration-d1.md): the upper-envelope fit of the
early-stopping curves, its use in ``bound --constants FILE`` / ``Diffusion.from_calibration``, and
the table learner read from a calibration result."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from boundcalc.validate.diffusion.fits import d1_envelope_over_seeds, d1_missing_branches, fit_d1_envelope

#: known constants of the synthetic curves (D1 with c_width = 0, the prior term inside c_approx)
TRUE = {"c_stat": 2e-6, "c_opt": 5.0, "c_mc": 3.0, "c_approx": 0.02}
NS = (100, 200, 400)
TAUS = tuple(np.geomspace(1, 1000, 31))  # tau* of these curves: 75 to 134


def _d1(c, tau, m, n):  # written out here, not taken from the code under test
    return c["c_stat"] * tau ** 4 / (m * n) + c["c_opt"] / tau + c["c_mc"] / m + c["c_approx"]


def _runs(c=TRUE, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    runs = []
    for n in NS:
        m = n // 2
        kl = [_d1(c, t, m, n) * (1 + noise * rng.standard_normal()) for t in TAUS]
        runs.append({"n": n, "width": m, "taus": list(TAUS), "kl": kl})
    return runs


def test_envelope_recovers_known_constants():
    """Curves that follow the calibrated D1 form exactly: c_opt and c_stat within 1% (their deficit is
    the other term's share, relative O(1/tau_min)); the floor c_mc/m + c_approx never below the true floor
    and within 0.02 above it at every width (it absorbs the two deficits at the ends of the grid, such as
    c_opt's at tau = 1, of order c_opt/(4 tau_min) ~ 0.017), hence c_mc within 25%, c_approx within 0.01."""
    fit = fit_d1_envelope(_runs(), horizon=5.0)
    assert fit["fitted"] and fit["label"] == "calibrated"
    c = fit["constants"]
    assert c["c_opt"] == pytest.approx(TRUE["c_opt"], rel=0.01)
    assert c["c_stat"] == pytest.approx(TRUE["c_stat"], rel=0.01)
    assert c["c_mc"] == pytest.approx(TRUE["c_mc"], rel=0.25)
    assert c["c_approx"] == pytest.approx(TRUE["c_approx"], abs=0.01)
    for n in NS:
        m = n // 2
        floor = c["c_mc"] / m + c["c_approx"]
        assert TRUE["c_mc"] / m + TRUE["c_approx"] <= floor + 1e-12 <= TRUE["c_mc"] / m + TRUE["c_approx"] + 0.02
    # tau* of lemma D2 for these constants (closed form with c_width = 0) is inside the grid, and the
    # calibrated one matches it
    from boundcalc.theory.diffusion import optimal_tau
    for n in NS:
        m = n // 2
        closed = (TRUE["c_opt"] * m * n / (4 * TRUE["c_stat"])) ** 0.2
        got = float(optimal_tau(m, n, fit["constants"]["c_stat"], 0.0, fit["constants"]["c_opt"]))
        assert got == pytest.approx(closed, rel=0.01)


def test_envelope_property_on_noisy_curves():
    """Multiplicative noise of 20%: the fitted expression is >= every measured point (the envelope),
    computed here from the returned constants, and touches the data (smallest ratio 1)."""
    runs_by_seed = [_runs(noise=0.2, seed=s) for s in range(3)]
    fit = d1_envelope_over_seeds(runs_by_seed, horizon=5.0)
    c = {k: (v or 0.0) for k, v in fit["constants"].items()}
    ratios = [_d1(c, t, r["width"], r["n"]) / kl for rs in runs_by_seed for r in rs for t, kl in zip(r["taus"], r["kl"])]
    assert min(ratios) >= 1 - 1e-9
    assert min(ratios) == pytest.approx(1.0, abs=1e-6)
    assert min(v for seeds in fit["ratio"].values() for s in seeds for v in s) >= 1 - 1e-9
    # intervals over seeds: the percentile interval of the per-seed fits, around their mean
    for k in ("c_stat", "c_opt"):
        st = fit["over_seeds"][k]
        assert st["count"] == 3 and 0 < st["ci95_low"] <= st["mean"] <= st["ci95_high"]
        assert "bootstrap percentile" in st["interval"]
    for k in ("c_stat", "c_opt"):  # the two D2 needs: finite and > 0 (the floor's split may be undetermined)
        assert math.isfinite(fit["constants"][k]) and fit["constants"][k] > 0
    assert fit["constants"]["c_approx"] >= 0


def test_missing_right_branch_says_so_in_one_line():
    runs = [{**r, "taus": r["taus"][:12], "kl": r["kl"][:12]} for r in _runs()]  # decreasing: no right branch
    fit = fit_d1_envelope(runs, horizon=5.0)
    assert not fit["fitted"] and fit["constants"]["c_stat"] is None
    assert "no right branch" in fit["undetermined"]["c_stat"]
    assert fit["reason"].startswith("no calibrated D2 tau*: c_stat not determined") and "\n" not in fit["reason"]
    lines = d1_missing_branches([(0, r) for r in runs])
    assert len(lines) == 1 and lines[0].startswith("no right branch at n=100/seed0, n=200/seed0, n=400/seed0")
    # one width only: c_mc is not determined, the floor is c_approx alone
    one = fit_d1_envelope(_runs()[:1], horizon=5.0)
    assert one["fitted"] and one["constants"]["c_mc"] is None and "one width" in one["undetermined"]["c_mc"]
    from boundcalc.validate.diffusion.result import d1_lines
    text = d1_lines(fit)
    assert any(line.startswith("no calibrated D2 tau*") for line in text)
    assert all("\n" not in line for line in text)


def _tiny_early_stopping(**kw):
    pytest.importorskip("torch")
    from boundcalc.validate.diffusion.experiments import ExperimentOptions, run_experiment
    from boundcalc.validate.diffusion.loop import DiffusionConfig

    cfg = DiffusionConfig(target="normal", width=48, draws_per_point=4, steps=16, u_points=201, grid_size=256,
                          tau_grid=(10.0, 31.6, 100.0, 316.0, 1000.0, 3162.0, 1e4, 3.16e4, 1e5))
    return run_experiment(ExperimentOptions("early-stopping", config=cfg, **kw), progress=False)


@pytest.mark.parametrize("kw", [dict(seeds=2, ns=(40, 80)), dict(seeds=1, ns=(60,))])
def test_real_runs_give_finite_positive_constants_or_one_line(kw):
    """A small configuration of the default run (two n, two seeds) and of `--ns 1000 --seeds 1` (one n,
    one seed): c_stat and c_opt finite and > 0, the calibrated tau* of D2 beside every row, the envelope
    check passed; or, where a branch is missing, fitted False with one line saying which."""
    from boundcalc.validate.diffusion.result import summary_text

    es = _tiny_early_stopping(width_ratio=0.5, **kw)
    d1 = es.data["d1_fit"]
    text = summary_text(es.data)
    if d1["fitted"]:
        for k in ("c_stat", "c_opt", "c_approx"):
            assert math.isfinite(d1["constants"][k]) and d1["constants"][k] >= 0
        assert d1["constants"]["c_stat"] > 0 and d1["constants"]["c_opt"] > 0
        assert all(r["d2_tau_star_calibrated"] >= 1 for r in es.data["rows"])
        assert {c["name"]: c["passed"] for c in es.data["checks"]}["calibrated D1 envelope"]
        assert "D1 constants (calibrated upper envelope" in text
    else:
        assert d1["reason"].startswith("no calibrated D2 tau*") and d1["reason"] in text
    assert "c_width not determined" in text and "c_width" in d1["undetermined"]
    if len(kw["ns"]) == 1:
        assert d1["constants"]["c_mc"] is None and "one width" in d1["undetermined"]["c_mc"]
    assert json.loads(json.dumps(d1["settings"]))["horizon"] == es.data["inputs"]["model"]["horizon"]
