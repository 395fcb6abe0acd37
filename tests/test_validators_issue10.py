"""Validators that never print impossible numbers, and the Gaussian refit validator.

Expected values come from closed forms (chi-square and log-gamma laws, normal cdfs), quadrature,
or direct Monte Carlo written here (a second implementation), never from the code under test.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from boundcalc._checks import BoundcalcError
from boundcalc.validate.diffusion.fits import (_kl, _refine_minimum, interior_minimum,
                                               merged_cells)
from boundcalc.validate.refit import (expected_nll, mean_law, refit_config, replace_log_law,
                                      tv_normal_to_standard, validate_gaussian)
from boundcalc.validate.summary import bootstrap_mean_interval, summarize_over_seeds


# -- KL on cells: unresolved cells merged, finite, non-negative --------------------------------------
def test_kl_merges_zero_cells_and_stays_a_finite_lower_bound():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(12))
    q = rng.dirichlet(np.ones(12))
    q[[0, 5, 6, 11]] = 0.0  # a leading, two interior and a trailing cell the model gives no mass
    q /= q.sum()
    kl = _kl(p, q)
    assert math.isfinite(kl) and kl >= 0
    # the merged partition by hand: cells 0 -> 1, 5 and 6 -> 4, 11 -> 10
    groups = [[0, 1], [2], [3], [4, 5, 6], [7], [8], [9], [10, 11]]
    P = np.array([p[g].sum() for g in groups])
    Q = np.array([q[g].sum() for g in groups])
    assert kl == pytest.approx(float(np.sum(P * np.log(P / Q))), rel=1e-12)
    # data processing: the merged KL is at most the KL of the fine partition when that is finite
    q2 = q + 1e-3
    q2 /= q2.sum()
    assert _kl(p, q2) <= float(np.sum(p * np.log(p / q2))) + 1e-12
    assert _kl(p, p) == 0.0
    P, Q = merged_cells([0.2, 0.3, 0.5], [0.0, 0.0, 0.0])
    assert P.tolist() == [1.0] and Q.tolist() == [0.0]


def test_refine_minimum_uses_adjacent_points_and_never_goes_negative():
    x = np.log([10.0, 20.0, 40.0, 80.0, 160.0])
    # minimum at index 2, but index 3 unmeasured: no refinement through non-adjacent points
    tau, v = _refine_minimum(x, np.array([0.5, 0.2, 0.01, np.nan, 0.3]))
    assert (tau, v) == (pytest.approx(40.0), 0.01)
    # an asymmetric V whose parabola vertex lies below 0: the grid value is kept
    y = np.array([0.9, 1.0, 0.001, 0.0011, 0.9])
    a, b, c = np.polyfit(x[1:4], y[1:4], 2)
    assert c - b * b / (4 * a) < 0  # the parabola through the three points dips below 0
    tau, v = _refine_minimum(x, y)
    assert v == 0.001 and tau == pytest.approx(40.0)
    # an exact parabola in log tau: vertex recovered
    xs = np.log([1.0, 2.0, 4.0, 8.0])
    tau, v = _refine_minimum(xs, 0.1 + (xs - 1.2) ** 2)
    assert math.log(tau) == pytest.approx(1.2, rel=1e-9) and v == pytest.approx(0.1, rel=1e-9)
    assert interior_minimum([3.0, 1.0, 2.0]) and not interior_minimum([1.0, 2.0, 3.0])
    assert not interior_minimum([np.nan, 1.0, 2.0, np.nan])


# -- range-respecting intervals ---------------------------------------------------------------------
def test_bootstrap_interval_stays_in_range_and_covers():
    tv = np.array([0.0, 0.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0])  # the Student t interval goes below 0 here
    s = summarize_over_seeds(tv[:, None])
    assert s["ci95_low"][0] < 0
    r = summarize_over_seeds(tv[:, None], ranged=True)
    assert 0.0 <= r["ci95_low"][0] <= r["mean"][0] <= r["ci95_high"][0] <= 1.0
    assert "bootstrap percentile" in r["interval"] and "Student t" in s["interval"]
    # coverage of the percentile interval for the mean of a Beta sample, 200 repetitions
    rng = np.random.default_rng(1)
    hits = sum(lo <= 0.25 <= hi for lo, hi in (bootstrap_mean_interval(rng.beta(1, 3, 40)) for _ in range(200)))
    assert stats.binom.cdf(hits, 200, 0.95) > 1e-4  # not far below nominal 95%
    assert summarize_over_seeds(tv[:, None], ranged=True) == r  # fixed seed: same values


def test_kde_validation_intervals_are_in_range():
    from boundcalc.validate.kde import validate_kde

    v = validate_kde(scheme="replace", n_real=60, generations=2, seeds=3, grid_size=512)
    for key in ("a", "eps", "tv_q_p0"):
        s = v.data["summary"][key]
        assert "bootstrap" in s["interval"]
        assert all(0.0 <= lo <= hi <= 1.0 for lo, hi in zip(s["ci95_low"], s["ci95_high"]))
    assert "a_i 95% CI: bootstrap" in v.table()


# -- Gaussian refit: closed forms ------------------------------------------------------------------
@pytest.mark.parametrize("mu,sigma", [(0.0, 1.0), (1.3, 1.0), (-0.4, 0.3), (2.0, 3.0), (0.1, 1e-3)])
def test_tv_normal_closed_form_against_quadrature(mu, sigma):
    f = lambda x: abs(stats.norm.pdf(x, mu, sigma) - stats.norm.pdf(x))  # noqa: E731
    pts = sorted({mu - 8 * sigma, mu, mu + 8 * sigma, -8.0, 0.0, 8.0})
    quad = 0.5 * sum(integrate.quad(f, a, b, limit=200, epsabs=1e-12)[0] for a, b in zip(pts[:-1], pts[1:]))
    assert tv_normal_to_standard(mu, sigma) == pytest.approx(quad, abs=1e-7)


def test_expected_nll_against_monte_carlo():
    x = np.random.default_rng(0).standard_normal(400_000)
    mu, s2 = 0.4, 0.7
    mc = float(np.mean(0.5 * (x - mu) ** 2 / s2 + 0.5 * np.log(2 * np.pi * s2)))
    assert expected_nll(mu, s2) == pytest.approx(mc, abs=5e-3)


def test_replace_log_law_against_monte_carlo():
    """Second implementation: the chi-square recursion drawn directly (no loop, no fit)."""
    n, T, S = 10, 30, 20000
    rng = np.random.default_rng(5)
    log_s2 = np.cumsum(np.log(rng.chisquare(n - 1, size=(S, T)) / n), axis=1)
    mean, var, _ = replace_log_law([n] * T)
    assert mean[-1] == pytest.approx(T * (special.digamma((n - 1) / 2) + math.log(2 / n)), rel=1e-12)
    assert var[-1] == pytest.approx(T * special.polygamma(1, (n - 1) / 2), rel=1e-12)
    se = np.sqrt(var / S)
    assert np.all(np.abs(log_s2.mean(axis=0) - mean) < 4.5 * se)
    assert np.all(np.abs(log_s2.var(axis=0, ddof=1) / var - 1) < 0.05)
    m1, _ = mean_law("replace", [100] * 10)
    assert m1 == pytest.approx((99 / 100) ** np.arange(1, 11), rel=1e-12)


def test_accumulate_mean_law_against_monte_carlo():
    """Second implementation: keep every sample and refit (numpy only), n = s = 20."""
    n, s, T, S = 20, 20, 6, 20000
    rng = np.random.default_rng(7)
    data = rng.standard_normal((S, n))
    sums, sq, count = data.sum(1), (data ** 2).sum(1), n
    out = []
    for t in range(T):
        mu, var = sums / count, sq / count - (sums / count) ** 2
        out.append(var)
        new = mu[:, None] + np.sqrt(var)[:, None] * rng.standard_normal((S, s))
        sums, sq, count = sums + new.sum(1), sq + (new ** 2).sum(1), count + s
    out = np.array(out).T
    m1, m2 = mean_law("accumulate", [n + i * s for i in range(T)])
    se = np.sqrt((m2 - m1 ** 2) / S)
    assert np.all(np.abs(out.mean(0) - m1) < 4.5 * se)
    assert np.all(np.diff(m1) < 0) and m1[-1] > 0.9 * m1[0]  # falls, slowly


def test_gaussian_validator_replace_and_accumulate_pass_their_laws():
    v = validate_gaussian(scheme="replace", n_real=10, generations=100, seeds=300, held_out=50)
    names = {c["name"]: c["passed"] for c in v.checks}
    assert names["replace: law of log sigma_t^2"] and names["held-out NLL finite"]
    assert names["replace: mean law E sigma_t^2"] and v.passed
    assert v.data["law"]["sigma2_mean"]["tested_generations"] == [1]  # only where the mean is estimable
    a = validate_gaussian(scheme="accumulate", real_data="reused", n_real=30, generations=8, seeds=300,
                          held_out=50)
    assert a.passed and "accumulate: mean law E sigma_t^2" in {c["name"] for c in a.checks}
    tv = a.data["summary"]["tv"]
    assert all(0 <= lo <= hi <= 1 for lo, hi in zip(tv["ci95_low"], tv["ci95_high"]))


def test_gaussian_validator_check_fails_on_a_wrong_law(monkeypatch):
    """A refit with ddof=1 (a different law) must fail the replace law check."""
    import boundcalc.validate.generators as gen

    original = gen.GaussianRefit.fit

    def unbiased(self, samples):
        original(self, samples)
        x = np.asarray(samples, dtype=float)
        self.variance_ = self.variance_ * x.shape[0] / (x.shape[0] - 1)
        return self

    monkeypatch.setattr(gen.GaussianRefit, "fit", unbiased)
    v = validate_gaussian(scheme="replace", n_real=10, generations=40, seeds=300, held_out=20)
    assert not {c["name"]: c["passed"] for c in v.checks}["replace: law of log sigma_t^2"]


def test_gaussian_units_merge_and_cli(tmp_path, capsys):
    import boundcalc as bc
    import boundcalc.validate as bv
    from boundcalc.cli.main import main

    cfg = refit_config(n_real=12, generations=3, seeds=5, held_out=10)
    us = bv.units(cfg)
    merged = bv.merge(cfg, [bv.run_unit(u) for u in reversed(us)])
    assert merged.to_json() == bc.validate_gaussian(cfg).to_json()
    code = main(["validate", "gaussian", "--n-real", "12", "--generations", "3", "--seeds", "5", "--held-out", "10",
                 "--json"])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out) == json.loads(merged.to_json())
    assert main(["validate", "gaussian", "--n-real", "1"]) == 2
    assert "n_real must be an integer >= 2, got 1" in capsys.readouterr().err
    with pytest.raises(BoundcalcError, match="n_synth must be at least 2"):
        refit_config(scheme="replace", n_real=10, n_synth=1)


# -- early stopping end to end (tiny torch models) -----------------------------------------------------
def _tiny_early_stopping(**kw):
    pytest.importorskip("torch")
    from boundcalc.validate.diffusion.experiments import ExperimentOptions, run_experiment
    from boundcalc.validate.diffusion.loop import DiffusionConfig

    cfg = DiffusionConfig(target="normal", width=48, draws_per_point=4, steps=16, u_points=201, grid_size=256,
                          tau_grid=(10.0, 31.6, 100.0, 316.0, 1000.0, 3162.0, 1e4, 3.16e4, 1e5))
    return run_experiment(ExperimentOptions("early-stopping", config=cfg, **kw), progress=False)


def test_early_stopping_single_n_single_seed_reports_instead_of_failing():
    """The path of `--ns 1000 --seeds 1`: one n, one seed: no traceback, finite non-negative KLs, the
    D1 line says what was fitted or why not."""
    from boundcalc.validate.diffusion.result import summary_text

    es = _tiny_early_stopping(seeds=1, ns=(60,), width_ratio=0.5)
    names = {c["name"]: c for c in es.data["checks"]}
    assert names["KL finite and non-negative, TV in [0, 1]"]["passed"]
    run = es.data["runs"]["60"][0]
    assert all(math.isfinite(float(v)) and float(v) >= 0 for v in run["kl"])
    assert 0 <= float(run["kl_star"]) <= min(float(v) for v in run["kl"]) + 1e-15
    text = summary_text(es.data)
    assert ("D1 constants" in text) or ("no calibrated D2 tau*" in text)
    d1 = es.data["d1_fit"]
    assert d1["fitted"] or d1["reason"]
    assert "rate slopes with intervals" not in names  # one n: no slope is claimed
    # D1 is a statement about the reverse-time SDE's law; the ODE-sampled models are labelled so
    assert d1["sampler"].startswith("sampler not covered by D1") and d1["sampler"] in es.data["notes"]


def test_early_stopping_two_n_checks_and_range_respecting_intervals():
    es = _tiny_early_stopping(seeds=2, ns=(40, 80), width_ratio=0.5)
    names = {c["name"]: c for c in es.data["checks"]}
    assert {"KL finite and non-negative, TV in [0, 1]", "interior minimum", "rate slopes with intervals"} <= set(names)
    assert names["rate slopes with intervals"]["passed"]
    for row in es.data["rows"]:
        assert row["kl_star"]["ci95_low"] >= 0 and row["tau_star"]["ci95_low"] > 0
        assert not any(float(lo) < 0 for lo in row["kl"]["ci95_low"])  # "nan" where a column has one seed
        assert not any(float(hi) > 1 for hi in row["tv"]["ci95_high"])
    # the interior-minimum check is a real check: a monotone curve fails it
    from boundcalc.validate.diffusion.experiments import early_stopping_checks

    runs = {40: [{**es.data["runs"]["40"][0], "kl": list(np.linspace(1.0, 0.1, 9))}]}
    out = {c["name"]: c["passed"] for c in early_stopping_checks([40], runs, {}, es.data["d1_fit"])}
    assert out["interior minimum"] is False


# -- the phase experiment -------------------------------------------------------------------------------
def test_kde_phase_small_diagram_and_cli(tmp_path, capsys):
    from boundcalc.cli.main import main
    from boundcalc.validate.phase import kde_phase

    import boundcalc as bc

    v = kde_phase(n_reals=(80,), ratios=(0, 4), seeds=4)
    row = v.data["rows"][0]
    # the bound beside the measurement is `boundcalc phase` for the same KDE learner (h = K3(n_real));
    # the proven loop bound (lemma KE5) has no interior peak at this size, and the row says so
    ph = bc.phase(bc.KDE("bimodal", bandwidth="auto"), n_real=80)
    assert row["bound"]["exists"] == ph.exists and row["bound"]["at_zero"] == pytest.approx(float(ph.at_zero), rel=1e-12)
    for c in row["cells"]:
        assert 0 <= c["a2_ci95"][0] <= c["a2_mean"] <= c["a2_ci95"][1] <= 1
    # the paired rise is the mean of per-seed differences of the two cells
    assert row["cells"][1]["rise_from_zero_mean"] == pytest.approx(
        row["cells"][1]["a2_mean"] - row["cells"][0]["a2_mean"], abs=1e-12)
    assert "verdict" in v.data and isinstance(v.data["verdict"]["rise_resolved"], bool)
    assert main(["validate", "phase", "--n-reals", "80", "--ratios", "1", "--seeds", "3"]) == 2
    assert "include 0" in capsys.readouterr().err


# -- 2-D toy data, data-driven bandwidths, held-out NLL ----------------------------------------------------
@pytest.mark.parametrize("rule", ["scott", "silverman"])
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_data_driven_kde_matches_scipy_gaussian_kde(rule, dim):
    """Second implementation: scipy.stats.gaussian_kde with the same rule (its logpdf and factor)."""
    from boundcalc.validate.toy import DataDrivenKDE

    rng = np.random.default_rng(dim)
    x = rng.standard_normal((300, dim)) @ (np.eye(dim) + 0.3)
    y = rng.standard_normal((50, dim))
    ours = DataDrivenKDE(rule).fit(x)
    ref = stats.gaussian_kde(x.T, bw_method=rule)
    assert ours.factor_ == pytest.approx(ref.factor, rel=1e-12)
    assert ours.covariance_ == pytest.approx(ref.covariance, rel=1e-10)
    assert ours.log_density(y) == pytest.approx(ref.logpdf(y.T), rel=1e-9, abs=1e-9)
    # samples have the KDE's covariance: Cov(X) (ddof=0) + kernel covariance
    draws = ours.sample(np.random.default_rng(9), 200_000)
    expected = np.atleast_2d(np.cov(x, rowvar=False, ddof=0)) + ours.covariance_
    assert np.atleast_2d(np.cov(draws, rowvar=False)) == pytest.approx(expected, abs=0.02)


def test_toy_data_sets_lie_on_their_curves_without_noise():
    from boundcalc.validate.toy import toy_data

    rng = np.random.default_rng(0)
    m = toy_data("moons", 0.0).sample(rng, 2000)
    upper = np.hypot(m[:, 0], m[:, 1])
    lower = np.hypot(m[:, 0] - 1, m[:, 1] - 0.5)
    assert np.all(np.minimum(abs(upper - 1), abs(lower - 1)) < 1e-12)
    c = toy_data("circles", 0.0).sample(rng, 2000)
    r = np.hypot(c[:, 0], c[:, 1])
    assert np.all(np.minimum(abs(r - 1), abs(r - 0.5)) < 1e-12) and 0.45 < np.mean(r > 0.75) < 0.55
    s = toy_data("swiss-roll", 0.0).sample(rng, 2000)
    t = np.hypot(s[:, 0], s[:, 1])  # the radius is the parameter t in [1.5 pi, 4.5 pi]
    assert t.min() >= 1.5 * np.pi - 1e-9 and t.max() <= 4.5 * np.pi + 1e-9
    assert np.allclose(s[:, 0], t * np.cos(t)) and np.allclose(s[:, 1], t * np.sin(t))
    with pytest.raises(BoundcalcError, match="data"):
        toy_data("spirals")


def test_toy_validator_nll_and_units_and_cli(capsys):
    import boundcalc as bc
    import boundcalc.validate as bv
    from boundcalc.cli.main import main
    from boundcalc.validate.toy import toy_config

    cfg = toy_config(data="moons", n_real=80, generations=3, seeds=3, held_out=60)
    v = bc.validate_toy(cfg)
    assert v.passed and all(math.isfinite(x) for x in v.data["summary"]["nll"]["mean"])
    assert bv.merge(cfg, [bv.run_unit(u) for u in reversed(bv.units(cfg))]).to_json() == v.to_json()
    # a data-driven bandwidth adds the kernel covariance every generation: the kernel grows (variance
    # explosion of refitting with Scott's rule), while a fixed h keeps it
    det = v.data["summary"]["kernel_det"]["mean"]
    assert det[0] < det[1] < det[2]
    fixed = bc.validate_toy(data="moons", n_real=80, generations=2, seeds=2, held_out=30, bandwidth=0.1)
    assert fixed.data["summary"]["kernel_det"]["mean"] == pytest.approx([1e-4, 1e-4])
    assert main(["validate", "toy", "--data", "circles", "--n-real", "50", "--generations", "2", "--seeds", "2",
                 "--held-out", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inputs"]["data"] == "circles"
    assert main(["validate", "toy", "--bandwidth", "-1"]) == 2


def test_kde_held_out_nll_exact_and_near_the_entropy():
    """Exact KDE log density against scipy.stats.gaussian_kde (same bandwidth), and the validator's
    first-generation NLL close to the entropy of p0 = N(0, 1) (a KDE of 2000 points, h = 0.1)."""
    from boundcalc.validate.kde import validate_kde
    from boundcalc.validate.kde.measure import kde_log_density

    rng = np.random.default_rng(4)
    x, y = rng.standard_normal(500), rng.standard_normal(40) * 3
    ref = stats.gaussian_kde(x, bw_method=0.3 / x.std(ddof=1))
    assert kde_log_density(x, 0.3, y) == pytest.approx(ref.logpdf(y), rel=1e-9)
    assert math.isfinite(kde_log_density(x, 0.05, [40.0])[0])  # far from the data: finite
    v = validate_kde(scheme="replace", target="normal", n_real=2000, bandwidth=0.1, generations=1, seeds=4)
    entropy = 0.5 * math.log(2 * math.pi * math.e)
    assert v.data["summary"]["held_out_nll"]["mean"][0] == pytest.approx(entropy, abs=0.05)
    assert {c["name"]: c["passed"] for c in v.checks}["held_out_nll_finite"]


# -- accumulate-subsample -----------------------------------------------------------------------------------
def test_accumulate_subsample_plan_weights_and_loop_subsamples_the_pool():
    from boundcalc.model.schemes import AccumulateSubsample
    from boundcalc.validate.generators import GaussianRefit
    from boundcalc.validate.loop import iterate_loop
    from boundcalc.model.targets import normal

    sc = AccumulateSubsample(60, 30, 50)
    for i in range(2, 6):
        pool = 60 + (i - 1) * 30
        assert sc.plan(i).weights() == pytest.approx([60 / pool] + [30 / pool] * (i - 1), rel=1e-12)
        assert sc.n_total(i) == pytest.approx(50)
    with pytest.raises(BoundcalcError, match="subsample must be at most"):
        AccumulateSubsample(60, 30, 91)
    steps = list(iterate_loop(sc, normal(), 4, lambda i, n: GaussianRefit(), np.random.default_rng(0)))
    real = steps[0].training_set  # generation 1: the n_real real samples, kept in the pool
    for step in steps[1:]:
        used_real = [s for b, s in step.blocks if b.source == 0][0]
        assert used_real.shape[0] == round(50 * 60 / (60 + (step.generation - 1) * 30))
        assert np.all(np.isin(used_real, real))  # a subsample of the stored real block
        assert len(np.unique(used_real)) == used_real.shape[0]  # without replacement
        assert abs(step.n_train - 50) <= step.generation  # rounding of the stratified counts
