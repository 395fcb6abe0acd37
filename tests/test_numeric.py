"""The scipy-free routines of boundcalc._numeric agree with scipy (a second implementation) to
the last bit on the inputs the package feeds them, and with closed forms."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy import integrate, optimize, special

from boundcalc import _numeric as N



@pytest.mark.parametrize("n", [2, 3, 4, 5, 10, 11, 64, 101])
@pytest.mark.parametrize("uneven", [False, True])
def test_simpson_matches_scipy_bit_for_bit(n, uneven):
    rng = np.random.default_rng(n)
    x = np.cumsum(rng.uniform(0.1, 1.0, n)) if uneven else np.linspace(-2.0, 3.0, n)
    y = rng.normal(size=(3, n))
    assert np.array_equal(N.simpson(y, x=x, axis=-1), integrate.simpson(y, x=x, axis=-1))
    assert np.array_equal(N.simpson(y.T, x=x, axis=0), integrate.simpson(y.T, x=x, axis=0))


def test_simpson_is_exact_for_cubics():
    x = np.linspace(0.0, 2.0, 9)
    assert N.simpson(x ** 3 - x, x) == pytest.approx(2.0 ** 4 / 4 - 2.0, rel=1e-14)


FUNCTIONS = [(lambda t: math.cos(t) - t, 0.0, 1.0), (lambda t: t ** 3 - 2.0, 0.0, 3.0),
             (lambda t: math.exp(t) - 5.0, -1.0, 4.0), (lambda t: math.tanh(10 * (t - 0.3)), -2.0, 2.0)]


@pytest.mark.parametrize("f, a, b", FUNCTIONS)
@pytest.mark.parametrize("xtol", [2e-12, 1e-14])
def test_brentq_matches_scipy(f, a, b, xtol):
    assert N.brentq(f, a, b, xtol=xtol) == optimize.brentq(f, a, b, xtol=xtol)


def test_brentq_root_and_bad_bracket():
    assert N.brentq(lambda t: t * t - 2.0, 0.0, 2.0, xtol=1e-15) == pytest.approx(math.sqrt(2.0), abs=4e-15)
    with pytest.raises(ValueError, match="differ in sign"):
        N.brentq(lambda t: t * t + 1.0, -1.0, 1.0)


@pytest.mark.parametrize("d", range(1, 40))
def test_gammaln_correctly_rounded(d):
    with mpmath.workprec(200):
        exact = float(mpmath.loggamma(mpmath.mpf(d) / 2))
    assert N.gammaln(d / 2) == exact
    assert N.gammaln(d / 2) == pytest.approx(float(special.gammaln(d / 2)), rel=1e-15, abs=1e-15)


MINIMA = [(lambda t: (t - 0.3) ** 2, (-1.0, 2.0)), (lambda t: math.cos(t) + 0.1 * t, (0.0, 6.0)),
          (lambda t: abs(t - 1.234567) ** 1.5, (0.0, 3.0)), (lambda t: t ** 4 - 3 * t, (-2.0, 5.0)),
          (lambda t: t, (0.0, 1.0))]


@pytest.mark.parametrize("f, bounds", MINIMA)
@pytest.mark.parametrize("xatol", [1e-5, 1e-10])
def test_minimize_scalar_matches_scipy(f, bounds, xatol):
    ours = N.minimize_scalar(f, method="bounded", bounds=bounds, options={"xatol": xatol})
    ref = optimize.minimize_scalar(f, method="bounded", bounds=bounds, options={"xatol": xatol})
    assert (ours.x, ours.fun, ours.nfev, ours.success) == (ref.x, ref.fun, ref.nfev, ref.success)


def test_minimize_scalar_finds_closed_form_minimum():
    best = N.minimize_scalar(lambda t: t ** 4 - 3 * t, bounds=(-2.0, 5.0), options={"xatol": 1e-12})
    assert best.x == pytest.approx((3 / 4) ** (1 / 3), abs=1e-7)


def test_symbolic_commands_import_no_scipy():
    import subprocess
    import sys
    code = ("import sys; from boundcalc.cli.main import main; main(['bound', '--json']); "
            "main(['optimum', 'bandwidth']); "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'matplotlib', 'torch')); "
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY []"
