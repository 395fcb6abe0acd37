"""The notebook-first API (issue 8 item 4): the snippet works as written, results print the CLI's
table, JSON says what it is, value objects are frozen and checked through the parameter table, and
the docstring examples run (doctest)."""

import dataclasses
import doctest
import math
import json

import matplotlib
import mpmath
import numpy as np
import pytest

import boundcalc as bc
from boundcalc.cli.main import main

matplotlib.use("Agg")

POWER = bc.PowerLaw(C=1, alpha=0.25)


def _mix_closed_form(n_real, n_synth, K, C=1.0, alpha=0.25):
    """a_K of mix for eps(N) = C N^-alpha, written out here (the geometric series in 1 - lam)."""
    lam = n_real / (n_real + n_synth)
    q = (1 - lam) ** (K - 1)
    return q * C * n_real ** -alpha + C * (n_real + n_synth) ** -alpha * (1 - q) / lam


def test_the_snippet_works_as_written(tmp_path):
    r = bc.bound(bc.Mix(n_real=1000, n_synth=3000), bc.KDE("bimodal"))   # generations default 10
    assert r.generations == 10 and 0 < float(r.final) < 1
    text = repr(r)
    assert text == str(r) and text.startswith("scheme mix, learner kde, K = 10, delta = 0.05")
    assert "mpf(" not in text and "BoundResult(" not in text and len(text.splitlines()) > 10
    assert r._repr_latex_().startswith("$\\displaystyle a_{10} \\le")
    ax = r.plot()
    assert len(ax.lines) == 2
    assert r.to_latex() and json.loads(r.to_json())["final"] == pytest.approx(float(r.final))
    s = bc.solve(0.1, bc.Mix(n_real=None, n_synth=1000), POWER)  # the None is the unknown
    assert s.unknown == "n-real" and s.verified and s.achieved <= 0.1
    # substituted back by hand: the value meets the target, one fewer real sample does not
    assert _mix_closed_form(s.value, 1000, 10) <= 0.1 < _mix_closed_form(s.value - 1, 1000, 10)
    assert bc.lemma("K2").id == "K2" and "D1" in {l.id for l in bc.lemmas()}
    assert bc.phase(bc.PowerLaw(C=1, alpha=0.2), n_real=1000).exists
    assert bc.optimum("tau", 10_000).value > 1


def test_every_result_prints_the_cli_table(capsys):
    cases = [
        (["bound", "--scheme", "mix", "-K", "5", "--n-real", "1000", "--n-synth", "3000", "--learner", "power",
          "--C", "1", "--alpha", "0.25"],
         lambda: bc.bound(bc.Mix(n_real=1000, n_synth=3000), POWER, generations=5)),
        (["solve", "--for", "n-real", "--target", "0.1", "--n-synth", "1000", "--learner", "power", "--C", "1",
          "--alpha", "0.25"],
         lambda: bc.solve(0.1, bc.Mix(n_real=None, n_synth=1000), POWER)),
        (["phase", "--n-real", "1000", "--learner", "power", "--C", "1", "--alpha", "0.2"],
         lambda: bc.phase(bc.PowerLaw(C=1, alpha=0.2), n_real=1000)),
        (["optimum", "tau", "--n", "10000"], lambda: bc.optimum("tau", 10_000)),
        (["optimum", "bandwidth", "--n", "1000"], lambda: bc.optimum("bandwidth", 1000)),
    ]
    for argv, api in cases:
        assert main(argv) == 0
        out = capsys.readouterr().out
        result = api()
        assert out == str(result) + "\n", argv
        assert "mpf(" not in out and "mpf(" not in repr(result)


def test_optimum_prints_no_python_reprs_and_plots(capsys):
    """Issue 11: optimum printed ``mpf('30.17')`` in its checks; OptimumResult.plot failed."""
    assert main(["optimum", "tau"]) == 0
    out = capsys.readouterr().out
    # (c_opt m n / (4 c_stat ell^2))^(1/5) at m = n = 10^4, the constants of lemma D4 at delta = 0.05, K = 1
    closed = (1e8 / (4 * (2 * math.log(1 / 0.05)) ** 2)) ** 0.2
    assert "mpf" not in out and f"closed_form_without_width_term = {closed:.6g}" in out and closed < 30
    for quantity in ("tau", "bandwidth"):
        r = bc.optimum(quantity, 1000)
        ax = r.plot()
        x, y = ax.lines[0].get_data()
        assert np.all(y >= float(r.objective) * (1 - 1e-9))  # the marked point is the minimum of the curve


def test_json_says_what_it_is(capsys):
    checks = {
        "bound": (["bound", "--learner", "power", "--C", "1", "--alpha", "0.25", "-K", "3", "--json"], {"T1", "T2"}),
        "solve": (["solve", "--for", "generations", "--target", "0.5", "--learner", "power", "--C", "1",
                   "--alpha", "0.25", "--json"], {"T1", "T2"}),
        "phase": (["phase", "--learner", "power", "--C", "1", "--alpha", "0.2", "--json"], {"T1", "T2"}),
        "optimum": (["optimum", "tau", "--json"], {"D2"}),
    }
    for kind, (argv, lemmas) in checks.items():
        assert main(argv) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["kind"] == kind and data["boundcalc_version"] == bc.__version__
        assert data["schema_version"] == bc.SCHEMA_VERSION == 1
        assert lemmas <= set(data["lemma_ids"])
        assert all(bc.lemma(i) for i in data["lemma_ids"])  # every id is in the catalogue
    r = bc.bound(bc.Mix(n_real=100, n_synth=100), bc.KDE("normal", bandwidth=0.3), generations=2)
    data = json.loads(r.to_json())
    assert {"K1", "K2", "C2", "C3", "K4"} <= set(data["lemma_ids"]) and data["kind"] == "bound"


def test_value_objects_are_frozen_and_fresh():
    """Issue 8: changing n_synth on a Mix after one bound gave the old bound (0.320 instead of 0.179)."""
    m = bc.Mix(n_real=1000, n_synth=1000)
    first = bc.bound(m, POWER)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.n_synth = 3000
    changed = m.replace(n_synth=3000)
    assert float(bc.bound(changed, POWER).final) == pytest.approx(_mix_closed_form(1000, 3000, 10), rel=1e-12)
    assert float(first.final) == pytest.approx(_mix_closed_form(1000, 1000, 10), rel=1e-12)
    for learner in (POWER, bc.KDE("normal", bandwidth=0.2), bc.Diffusion()):
        field = dataclasses.fields(learner)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(learner, field, 1)


def test_diffusion_tau_star_follows_the_constants():
    """Issue 8: tau* was cached on the object with lru_cache, so a changed constant kept the old tau*."""
    a = bc.Diffusion()
    b = a.replace(c_opt=16.0)
    n, m = 10_000, 10_000
    # with c_width = 0 the D2 optimum is (c_opt m n / (4 c_stat))^(1/5): check the ratio 16^(1/5)
    a0, b0 = a.replace(c_width=0.0), b.replace(c_width=0.0)
    assert float(b0.tau_for(n) / a0.tau_for(n)) == pytest.approx(16 ** 0.2, rel=1e-9)
    assert float(a0.tau_for(n)) == pytest.approx((m * n / 4) ** 0.2, rel=1e-9)
    assert a.tau_for(n) != b.tau_for(n)


def test_readable_reprs():
    assert repr(bc.Mix(n_real=1000, n_synth=3000)) == "Mix(n_real=1000, n_synth=3000, real_data='fresh')"
    assert repr(bc.Replace(10, 20)) == "Replace(n_real=10, n_synth=20)"
    assert repr(bc.PowerLaw(C=1, alpha=0.25)) == "PowerLaw(C=1, alpha=0.25)"
    assert repr(bc.Diffusion(width=256, tau=4)) == "Diffusion(width=256, tau=4)"
    assert repr(bc.KDE("normal", bandwidth=0.2)).startswith("KDE(target=GaussianMixture(name='normal'")
    assert bc.GaussianKDE is bc.KDE
    grid = bc.Mix(n_real=np.arange(100, 200, dtype=np.int64), n_synth=10)
    assert repr(grid) == "Mix(n_real=array(shape=(100,), min=100, max=199), n_synth=10, real_data='fresh')"
    with pytest.raises(bc.BoundcalcError, match="grid"):
        grid.plan(1)
    with pytest.raises(bc.BoundcalcError, match="n_real must be an integer >= 1"):
        bc.Mix(n_real=np.array([1.5, 2.0]), n_synth=1)


@pytest.mark.parametrize("make, message", [
    (lambda: bc.Mix(n_real=2.5, n_synth=10), "n_real must be an integer >= 1, got 2.5"),
    (lambda: bc.Mix(n_real=10, n_synth=-1), "n_synth must be an integer >= 0, got -1"),
    (lambda: bc.Replace(n_real=10, n_synth=0), "n_synth must be an integer >= 1, got 0"),
    (lambda: bc.Mix(n_real=10, n_synth=10, real_data="old"), "real_data must be one of fresh, reused; got 'old'"),
    (lambda: bc.Schedule(10, real_fractions=[1.5]), "schedule_fractions must be comma-separated numbers in [0, 1]"),
    (lambda: bc.Schedule(10, real_fractions=[0.5], sizes=[7.5]), "sizes must be comma-separated integers >= 1"),
    (lambda: bc.PowerLaw(C=0, alpha=1), "C must be in (0, inf), got 0"),
    (lambda: bc.PowerLaw(C=1, alpha=float("nan")), "alpha must be a number in (0, inf), got nan"),
    (lambda: bc.KDE("normal", bandwidth="wide"), "bandwidth must be in (0, inf) or 'auto', got 'wide'"),
    (lambda: bc.Diffusion(tau=0.5), "tau must be in [1, inf) or 'auto', got 0.5"),
    (lambda: bc.Diffusion(width=10, width_ratio=2), "width (m) or width_ratio"),
    (lambda: bc.bound(bc.Mix(n_real=10, n_synth=10), POWER, generations=2.5), "generations must be an integer in [1, 1000000]"),
    (lambda: bc.bound(bc.Mix(n_real=10, n_synth=10), POWER, delta=1), "delta must be in (0, 1), got 1"),
    (lambda: bc.bound(bc.Mix(n_real=None, n_synth=10), POWER), "unknown (None)"),
    (lambda: bc.bound("mix", POWER), "scheme must be a Scheme"),
    (lambda: bc.solve(0.1, bc.Mix(n_real=None, n_synth=None), POWER), "exactly one unknown"),
    (lambda: bc.solve(0.1, bc.Mix(n_real=10, n_synth=10), POWER), "exactly one unknown"),
    (lambda: bc.solve(0.1, bc.Mix(n_real=None, n_synth=10), POWER, generations=None), "exactly one unknown"),
    (lambda: bc.solve(1.5, bc.Mix(n_real=None, n_synth=10), POWER), "target must be in (0, 1], got 1.5"),
    (lambda: bc.phase(POWER, 100, previous_tv=0.5, n_synth_before=10), "not both"),
    (lambda: bc.optimum("tau", 100, width=5, width_ratio=2), "not both"),
])
def test_api_errors_name_parameter_value_and_range(make, message):
    with pytest.raises(bc.BoundcalcError) as info:
        make()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_solve_each_unknown_substituted_back():
    # n_synth: the replace bound eps(n_real) + (K-1) eps(n_synth) is decreasing in n_synth
    s = bc.solve(0.5, bc.Replace(n_real=10_000, n_synth=None), POWER, generations=5)
    f = lambda n: 10_000 ** -0.25 + 4 * n ** -0.25  # noqa: E731
    assert s.verified and f(s.value) <= 0.5 < f(s.value - 1)
    # the real fraction of a budget: lam = r / N with r integer; one fewer real sample fails
    s = bc.solve(0.12, bc.Mix.fraction(None, n_total=20_000), POWER)
    r = round(s.value * 20_000)
    assert s.verified and r == s.value * 20_000
    assert _mix_closed_form(r, 20_000 - r, 10) <= 0.12 < _mix_closed_form(r - 1, 20_001 - r, 10)
    # generations: the largest K with a_K <= target; replace's a_K = K eps(n) grows linearly
    s = bc.solve(0.5, bc.Replace(n_real=10_000, n_synth=10_000), POWER, generations=None)
    assert s.value == 5 and 5 * 0.1 <= 0.5 < 6 * 0.1


def test_one_rounding_rule_for_sizes():
    assert bc.round_size(2.5) == 3 and bc.round_size(3.5) == 4 and bc.round_size(0.49999) == 0
    assert bc.round_size(10 ** 30 / 3) == int(10 ** 30 / 3 + 0.5)  # exact for large floats
    # mix from a real fraction: n_synth = round_size(n_real (1 - lam) / lam)
    assert bc.make_scheme("mix", 1000, real_fraction=0.3).n_synth == 2333
    # schedule: real count round_size(lam N), the rest synthetic
    plan = bc.Schedule(100, real_fractions=[0.333], sizes=[1000]).plan(2)
    assert [b.count for b in plan.blocks] == [333, 667]
    # a fraction solve and the bound describe the same integer sets
    m = bc.Mix.fraction(0.3, 1001)
    assert (m.n_real, m.n_synth) == (300, 701)


def test_docstring_examples_run():
    """The examples of the public docstrings are part of the test suite."""
    import boundcalc._checks
    import boundcalc.bounds.api
    import boundcalc.bounds.learners
    import boundcalc.model.schemes
    import boundcalc.model.targets
    failed = 0
    for module in (bc, boundcalc.bounds.api, boundcalc.model.schemes, boundcalc.bounds.learners,
                   boundcalc.model.targets, boundcalc._checks):
        outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        failed += outcome.failed
        assert outcome.attempted > 0 or module is boundcalc.model.targets, module.__name__
    assert failed == 0


def test_public_namespace_is_explicit():
    assert len(bc.__all__) == len(set(bc.__all__))
    for name in bc.__all__:
        assert hasattr(bc, name), name
    for name in ("bound", "solve", "phase", "optimum", "lemma", "lemmas", "Mix", "Replace", "Accumulate",
                 "Schedule", "PowerLaw", "KDE", "GaussianKDE", "Diffusion"):
        assert name in bc.__all__
    assert callable(bc.solve) and bc.bound.__doc__ and ".. math::" in bc.bound.__doc__


def test_parameter_table_drives_the_cli_defaults():
    from boundcalc._checks import PARAMETERS, defaults_table
    assert PARAMETERS["scheme"].default("bound") == "mix" and PARAMETERS["scheme"].default("validate kde") == "replace"
    assert PARAMETERS["generations"].default("bound") == 10 and PARAMETERS["n_real"].default("validate kde") == 1000
    table = defaults_table()
    assert table.startswith("| option |") and "`--schedule-fractions (alias --real-fractions)`" in table
    from boundcalc.cli.main import build_parser
    args = build_parser().parse_args(["bound"])
    assert (args.scheme, args.generations, args.n_real, args.learner) == ("mix", 10, 10_000, "kde")
    args = build_parser().parse_args(["validate", "kde"])
    assert (args.scheme, args.generations, args.n_real, args.seeds) == ("replace", 5, 1000, 10)


def test_latex_of_an_unreachable_solve_is_valid_text():
    r = bc.solve(0.01, bc.Mix.fraction(None, n_total=200), POWER, generations=3)
    assert not r.reachable
    latex = r.to_latex()
    assert latex.startswith("\\text{unreachable") and "a\\_K" in latex and "a_K" not in latex


def test_solve_schedule_n_real_with_sizes_following_it():
    """Schedule(n_real=None, ...) leaves the sizes to follow n_real (sizes default to n_real)."""
    scheme = bc.Schedule(None, real_fractions=[0.0])
    assert scheme.unknowns == ("n_real",) and scheme.sizes is None
    r = bc.solve(0.31, scheme, POWER, generations=3)
    a3 = lambda n: 3 * n ** -0.25  # noqa: E731  (every generation trains on n samples, none real after the first)
    assert r.verified and a3(r.value) <= 0.31 < a3(r.value - 1)
