"""solve --for growth: the critical exponent k* of a replace loop with N_i = N_1 i^k (issue 9, item 4).

Expected values are closed forms (k* = 1/alpha, (2 beta + d)/beta) and mpmath's zeta / partial sums,
not the code under test."""

import subprocess
import sys

import mpmath
import pytest

import boundcalc as bc
from boundcalc.bounds.growth import growth
from boundcalc.bounds.learners import KDE, Diffusion, PowerLaw


@pytest.mark.parametrize("alpha", [0.25, 0.5, 1.0, 0.3])
def test_power_law_critical_exponent_is_one_over_alpha(alpha):
    r = growth(PowerLaw(1, alpha))
    assert float(r.critical) == pytest.approx(1 / alpha, rel=1e-14)
    assert r.limit is None


def test_power_law_limit_is_the_zeta_series_and_bounds_every_partial_sum():
    C, alpha, n1, k = 2.0, 0.25, 100, 5
    r = growth(PowerLaw(C, alpha), k=k, n_first=n1)
    zeta = C * n1 ** -alpha * mpmath.zeta(alpha * k)
    assert float(r.limit) == pytest.approx(float(zeta), rel=1e-12)
    partial = mpmath.fsum(C * (n1 * i ** k) ** -alpha for i in range(1, 20001))
    assert partial < r.limit and float(partial) > 0.9 * float(r.limit)  # tail ~ 4 (2e4)^(-1/4) of zeta(5/4) = 4.6


def test_power_law_below_critical_has_no_limit():
    r = growth(PowerLaw(1, 0.25), k=3, n_first=100)
    assert r.limit is None and "infinity" in r.table()


@pytest.mark.parametrize("dim, expected", [(1, 2.5), (2, 3.0)])
def test_kde_critical_exponent_is_the_k3_rate(dim, expected):
    r = growth(KDE(bc.normal(dim=dim)))
    assert float(r.critical) == pytest.approx(expected, rel=1e-14)  # (4 + d) / 2
    assert "fixed h has no finite k" in r.reason


def test_kde_hoelder_exponent_changes_the_rate():
    r = growth(KDE("normal", holder_L=2, holder_beta=1))
    assert float(r.critical) == pytest.approx(3.0, rel=1e-14)  # (2 beta + d) / beta


def test_diffusion_with_a_floor_has_no_finite_k():
    r = growth(Diffusion())
    assert r.critical is None and "no finite k" in r.reason and "c_prior" in r.reason
    r = growth(Diffusion(c_prior=0, width=256))
    assert r.critical is None and "fixed width" in r.reason
    with pytest.raises(bc.BoundcalcError, match="not derived"):
        growth(Diffusion(c_prior=0, width_ratio=1))


def test_cli_solve_for_growth():
    run = lambda *a: subprocess.run([sys.executable, "-m", "boundcalc.cli.main", *a], capture_output=True, text=True)  # noqa: E731
    out = run("solve", "--for", "growth", "--learner", "power", "--C", "1", "--alpha", "0.25")
    assert out.returncode == 0 and "k*:    4" in out.stdout
    bad = run("solve", "--for", "growth", "--learner", "power", "--C", "1", "--alpha", "0.25", "--target", "0.1")
    assert bad.returncode == 2 and "--target does not apply" in bad.stderr and "Traceback" not in bad.stderr
    missing = run("solve", "--for", "n-real", "--learner", "power", "--C", "1", "--alpha", "0.25")
    assert missing.returncode == 2 and "needs --target" in missing.stderr
