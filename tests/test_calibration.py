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
        # the drawn envelope (kl_calibrated, at each row's taus) lies above every seed's measured KL there
        for row in es.data["rows"]:
            for run in es.data["runs"][str(row["n"])]:
                for f, kl in zip(row["kl_calibrated"], run["kl"]):
                    assert not math.isfinite(float(kl)) or f >= float(kl) * (1 - 1e-9)  # NaN: unmeasured model
        assert {c["name"]: c["passed"] for c in es.data["checks"]}["calibrated D1 envelope"]
        assert "D1 constants (calibrated upper envelope" in text
    else:
        assert d1["reason"].startswith("no calibrated D2 tau*") and d1["reason"] in text
    assert "c_width not determined" in text and "c_width" in d1["undetermined"]
    if len(kw["ns"]) == 1:
        assert d1["constants"]["c_mc"] is None and "one width" in d1["undetermined"]["c_mc"]
    assert json.loads(json.dumps(d1["settings"]))["horizon"] == es.data["inputs"]["model"]["horizon"]


# -- calibrated constants in `bound` -------------------------------------------------------------------
def _bound_text(learner, generations=2):
    import boundcalc as bc
    return bc.bound(bc.Replace(1000, 1000), learner, generations)


def test_from_calibration_reads_a_real_early_stopping_result(tmp_path):
    """The validator writes the JSON, the bounds layer reads it back (it never imports the validator):
    the same constants (null -> term left out, 0), the horizon and width rule of the runs, and a result
    labelled calibrated in its header, assumptions and JSON, without the 'constants of 1' line."""
    import boundcalc as bc

    es = _tiny_early_stopping(seeds=2, ns=(40, 80), width_ratio=0.5)
    d1 = es.data["d1_fit"]
    if not d1["fitted"]:
        pytest.skip(f"tiny run without a calibrated fit: {d1['reason']}")
    path = tmp_path / "es.json"
    path.write_text(es.to_json())
    learner = bc.Diffusion.from_calibration(path)
    for k, v in d1["constants"].items():
        assert getattr(learner, k) == (0.0 if v is None else pytest.approx(v, rel=1e-15)), k
    assert learner.horizon == es.data["inputs"]["model"]["horizon"] and learner.width_ratio == 0.5
    assert learner.calibrated_from == str(path)
    result = _bound_text(learner)
    text = str(result)
    assert text.splitlines()[0].startswith(f"scheme replace, learner diffusion (calibrated: fitted to measurements "
                                           f"in {path}; not a proved bound)")
    assert any(a.startswith(f"calibrated: the D1 constants were fitted to measurements in {path}")
               and "not a proved one" in a for a in result.assumptions)
    assert "SHAPE" not in text and "constants of 1" not in text
    data = json.loads(result.to_json())
    assert data["inputs"]["learner"]["status"] == "calibrated"
    assert data["inputs"]["learner"]["calibrated_from"] == str(path)
    # tau* of the bound is lemma D2 at the calibrated constants (closed form, c_width = 0)
    m, n = 0.5 * 1000, 1000
    closed = (learner.c_opt * m * n / (4 * learner.c_stat)) ** 0.2
    assert float(result.terms[0]["tau"]) == pytest.approx(max(1.0, closed), rel=1e-9)
    # an override of the width rule replaces the file's
    assert bc.Diffusion.from_calibration(path, width=64).width == 64


def test_constants_file_schema_and_refusals(tmp_path):
    import boundcalc as bc
    from boundcalc._checks import BoundcalcError

    good = tmp_path / "c.json"
    good.write_text(json.dumps({"c_stat": 1e-13, "c_opt": 1300.0, "c_approx": 0.05, "c_mc": None}))
    d = bc.Diffusion.from_calibration(good)
    assert (d.c_stat, d.c_opt, d.c_approx, d.c_mc, d.c_width, d.c_prior) == (1e-13, 1300.0, 0.05, 0.0, 0.0, 0.0)
    assert d.horizon == 10.0  # a file of constants carries no settings: the learner's defaults apply
    # calibrated constants are an envelope of measured runs: no confidence factor (lemma D4) unless asked,
    # so delta does not change the number, and the assumptions say no failure probability is claimed
    assert d.delta_exponent == 0.0
    scheme = bc.Replace(1000, 1000)
    a, b = (bc.bound(scheme, d, 3, delta=x).final for x in (0.05, 1e-30))
    assert a == b
    assert any("no failure probability is claimed" in t for t in d.assumptions(scheme))
    d2 = bc.Diffusion.from_calibration(good, delta_exponent=2)
    assert bc.bound(scheme, d2, 3, delta=1e-30).final > bc.bound(scheme, d2, 3, delta=0.05).final
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"c_stat": 1.0, "c_opt": 2.0, "c_foo": 3.0, "tau": 4}))
    with pytest.raises(BoundcalcError) as e:
        bc.Diffusion.from_calibration(bad)
    assert str(e.value) == (f"constants file {bad}: unknown key(s) c_foo, tau; valid: c_stat, c_width, c_opt, "
                            "c_mc, c_approx, c_prior")
    for content, words in (({"c_stat": 1.0}, "c_opt required"), ({"c_stat": -1.0, "c_opt": 1.0}, "c_stat must be"),
                           ([1, 2], "not a JSON object")):
        bad.write_text(json.dumps(content))
        with pytest.raises(BoundcalcError, match=words):
            bc.Diffusion.from_calibration(bad)
    with pytest.raises(BoundcalcError, match="c_stat cannot be given with a calibration file"):
        bc.Diffusion.from_calibration(good, c_stat=2.0)
    # an early-stopping result without a fit, and a result of another experiment
    bad.write_text(json.dumps({"experiment": "early-stopping", "d1_fit": {
        "fitted": False, "constants": {}, "reason": "no calibrated D2 tau*: c_stat not determined (no right branch)"}}))
    with pytest.raises(BoundcalcError, match="no right branch"):
        bc.Diffusion.from_calibration(bad)
    bad.write_text(json.dumps({"experiment": "calibrate", "calibration": {}}))
    with pytest.raises(BoundcalcError, match="validate diffusion calibrate"):
        bc.Diffusion.from_calibration(bad)


def test_cli_constants_option(tmp_path, capsys):
    from boundcalc.cli.main import main

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"c_stat": 1e-13, "c_opt": 1300.0, "c_approx": 0.05}))
    assert main(["bound", "--learner", "diffusion", "--constants", str(path), "--generations", "2", "--draw", "iid"]) in (0, None)
    out = capsys.readouterr().out
    assert "learner diffusion (calibrated" in out and "SHAPE" not in out
    assert main(["bound", "--learner", "diffusion", "--constants", str(path), "--json", "--draw", "iid"]) in (0, None)
    assert json.loads(capsys.readouterr().out)["inputs"]["learner"]["status"] == "calibrated"
    for command in (["solve", "--for", "n-real", "--target", "0.5", "--generations", "1"], ["phase", "--draw", "iid"]):
        assert main(command + ["--learner", "diffusion", "--constants", str(path)]) in (0, None)
        assert f"calibrated: the learner was fitted to measurements in {path}; not a proved bound" in capsys.readouterr().out
    for extra, words in ((["--learner", "diffusion", "--c-stat", "2"], "--constants and --c-stat cannot be given together"),
                         (["--learner", "power", "--C", "1", "--alpha", "0.5"], "--constants do(es) not apply to --learner power")):
        assert main(["bound", "--constants", str(path)] + extra) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1


# -- the table learner from a calibration result -----------------------------------------------------
def test_table_from_a_real_calibrate_result(tmp_path, capsys):
    pytest.importorskip("torch")
    import boundcalc as bc
    from boundcalc._checks import BoundcalcError
    from boundcalc.bounds.learners import make_learner
    from boundcalc.cli.main import main
    from boundcalc.validate.diffusion.experiments import ExperimentOptions, run_experiment
    from boundcalc.validate.diffusion.loop import DiffusionConfig

    cfg = DiffusionConfig(target="normal", width=32, draws_per_point=4, steps=16, u_points=201, grid_size=256,
                          tau_grid=(10.0, 100.0, 1000.0))
    cal = run_experiment(ExperimentOptions("calibrate", config=cfg, ns=(40, 80), seeds=2, generations=1, n_real=40),
                         progress=False)
    path = tmp_path / "cal.json"
    path.write_text(cal.to_json())
    table = make_learner("table", table=str(path))
    measured = {int(n): v["mean"] for n, v in cal.data["calibration"]["eps"].items()}
    assert dict((int(n), e) for n, e in table.points) == pytest.approx(measured)
    assert "calibrated" in table.source and str(path) in table.source
    result = bc.bound(bc.Replace(40, 40), table, 1)
    assert float(result.final) == pytest.approx(max(measured[40], measured[80]))  # the step envelope at N = 40
    assert any("calibrated, the measured generation-1 TV errors" in a for a in result.assumptions)
    assert str(result).startswith(f"scheme replace, learner table (calibrated: fitted to measurements in {path}")
    assert json.loads(result.to_json())["inputs"]["learner"]["status"] == "calibrated"
    with pytest.raises(BoundcalcError, match="outside the tabulated range"):
        bc.bound(bc.Replace(100, 100), table, 1)
    # CSV still read; other JSON refused with one line
    csv = tmp_path / "t.csv"
    csv.write_text("N,eps\n40,0.3\n80,0.2\n")
    assert make_learner("table", table=str(csv)).points == ((40.0, 0.3), (80.0, 0.2))
    other = tmp_path / "o.json"
    other.write_text(json.dumps({"experiment": "loop", "schemes": []}))
    assert main(["bound", "--learner", "table", "--table", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "is a result of `validate diffusion loop`; --table takes a CSV of N and eps(N) or the --json output" in err
