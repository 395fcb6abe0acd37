"""Small numerical routines the symbolic commands need, without importing scipy.

``import scipy.optimize`` / ``scipy.special`` / ``scipy.integrate`` costs 0.2-0.3 s each on a cold
start (more than ``import sympy`` itself), and the bound commands use one root finder, one
minimiser, one log-gamma and one Simpson rule from them.  The functions below carry the same names and
calling conventions as the scipy functions they replace, so a module can swap an import line
(they raise ValueError on misuse, as scipy does; callers turn bad user input into BoundcalcError):

* :func:`brentq` -- Brent's root finder (R. P. Brent, *Algorithms for Minimization without
  Derivatives*, 1973, chapter 4): inverse quadratic interpolation or secant steps kept inside a
  shrinking sign-change bracket, with a bisection step whenever the interpolated step is not
  small enough.  Same stopping rule as ``scipy.optimize.brentq``: ``|step| < (xtol + rtol |x|)/2``.
* :func:`gammaln` -- ``log Gamma(x)`` for ``x > 0``, correctly rounded (mpmath at 80 bits).
* :func:`simpson` -- composite Simpson rule on nodes ``x`` (any positive spacing), along the last
  axis; for an even number of nodes the last interval gets the three-point correction of
  Cartwright (2017).  The arithmetic is laid out as in ``scipy.integrate.simpson`` so the sums
  agree with it to the last bit.
* :func:`minimize_scalar` (``method="bounded"``) -- Brent's minimiser on an interval, the iteration
  of ``scipy.optimize.minimize_scalar(method="bounded")`` step for step.

Tests compare each against scipy (tests/test_numeric.py).
"""

from __future__ import annotations

import math

import numpy as np


_RTOL = 4.0 * np.finfo(float).eps


def brentq(f, a: float, b: float, xtol: float = 2e-12, rtol: float = _RTOL, maxiter: int = 100) -> float:
    """A root of the scalar function ``f`` in ``[a, b]``, where ``f(a)`` and ``f(b)`` differ in sign.

    Returns ``x`` with a sign change of ``f`` within ``(xtol + rtol |x|)`` of it (or ``f(x) == 0``).
    """
    x_prev, x_cur = float(a), float(b)
    f_prev, f_cur = float(f(x_prev)), float(f(x_cur))
    if f_prev * f_cur > 0:
        raise ValueError(f"brentq: f(a) = {f_prev:g} and f(b) = {f_cur:g} must differ in sign")
    if f_prev == 0:
        return x_prev
    if f_cur == 0:
        return x_cur
    x_blk = f_blk = s_prev = s_cur = 0.0
    for _ in range(maxiter):
        if f_prev != 0 and f_cur != 0 and (math.copysign(1.0, f_prev) != math.copysign(1.0, f_cur)):
            # the bracket is [x_prev, x_cur]: restart the contrapoint
            x_blk, f_blk = x_prev, f_prev
            s_prev = s_cur = x_cur - x_prev
        if abs(f_blk) < abs(f_cur):
            # keep the best point in x_cur
            x_prev, x_cur, x_blk = x_cur, x_blk, x_cur
            f_prev, f_cur, f_blk = f_cur, f_blk, f_cur
        delta = (xtol + rtol * abs(x_cur)) / 2
        s_bis = (x_blk - x_cur) / 2
        if f_cur == 0 or abs(s_bis) < delta:
            return x_cur
        if abs(s_prev) > delta and abs(f_cur) < abs(f_prev):
            if x_prev == x_blk:  # two points: secant
                s_try = -f_cur * (x_cur - x_prev) / (f_cur - f_prev)
            else:  # three points: inverse quadratic interpolation
                d_prev = (f_prev - f_cur) / (x_prev - x_cur)
                d_blk = (f_blk - f_cur) / (x_blk - x_cur)
                s_try = -f_cur * (f_blk * d_blk - f_prev * d_prev) / (d_blk * d_prev * (f_blk - f_prev))
            if 2 * abs(s_try) < min(abs(s_prev), 3 * abs(s_bis) - delta):
                s_prev, s_cur = s_cur, s_try  # interpolation accepted
            else:
                s_prev = s_cur = s_bis  # interpolation too slow: bisect
        else:
            s_prev = s_cur = s_bis
        x_prev, f_prev = x_cur, f_cur
        if abs(s_cur) > delta:
            x_cur += s_cur
        else:
            x_cur += delta if s_bis > 0 else -delta
        f_cur = float(f(x_cur))
    raise ValueError(f"brentq: no convergence in {maxiter} iterations on [{a:g}, {b:g}]")


def gammaln(x: float) -> float:
    """``log Gamma(x)`` for ``x > 0``, correctly rounded to double precision."""
    import mpmath  # already loaded by sympy
    with mpmath.workprec(80):
        return float(mpmath.loggamma(mpmath.mpf(float(x))))


def _simpson_pairs(y, h0, h1):
    """Sum of the Simpson parabolas over consecutive node pairs (spacings h0, h1)."""
    hsum = h0 + h1
    hprod = h0 * h1
    h0divh1 = np.true_divide(h0, h1, out=np.zeros_like(h0), where=h1 != 0)
    inv = np.true_divide(1.0, h0divh1, out=np.zeros_like(h0divh1), where=h0divh1 != 0)
    mid = hsum * np.true_divide(hsum, hprod, out=np.zeros_like(hsum), where=hprod != 0)
    tmp = hsum / 6.0 * (y[..., 0:-2:2] * (2.0 - inv) + y[..., 1:-1:2] * mid + y[..., 2::2] * (2.0 - h0divh1))
    return np.sum(tmp, axis=-1)


def simpson(y, x, axis: int = -1):
    """``int y dx`` over the nodes ``x`` (1-D, increasing) along ``axis`` of ``y``."""
    y = np.moveaxis(np.asarray(y, dtype=float), axis, -1)
    x = np.asarray(x, dtype=float)
    n = y.shape[-1]
    if x.shape != (n,) or n < 2:
        raise ValueError(f"simpson: need 1-D nodes matching the last axis of y (got {x.shape} and {n})")
    h = np.diff(x)
    if n == 2:
        return 0.5 * h[0] * (y[..., 1] + y[..., 0])
    if n % 2 == 1:
        return _simpson_pairs(y, h[0::2], h[1::2])
    # even: Simpson on the first n - 1 nodes, a corrected three-point rule on the last interval
    result = _simpson_pairs(y[..., : n - 1], h[0:n - 3:2], h[1:n - 2:2])
    h0, h1 = h[-2], h[-1]
    alpha = (2 * h1 ** 2 + 3 * h0 * h1) / (6 * (h1 + h0))
    beta = (h1 ** 2 + 3.0 * h0 * h1) / (6 * h0)
    eta = (1 * h1 ** 3) / (6 * h0 * (h0 + h1))
    result = result + (alpha * y[..., -1] + beta * y[..., -2] - eta * y[..., -3])
    return result + 0.0


class ScalarMinimum:
    """The result of :func:`minimize_scalar`: the minimiser ``x``, ``fun = f(x)``, ``nfev`` calls."""

    def __init__(self, x: float, fun: float, nfev: int, success: bool):
        self.x, self.fun, self.nfev, self.success = x, fun, nfev, success

    def __repr__(self):
        return f"ScalarMinimum(x={self.x!r}, fun={self.fun!r}, nfev={self.nfev}, success={self.success})"


def minimize_scalar(fun, method: str = "bounded", bounds=None, options=None) -> ScalarMinimum:
    """Minimise a unimodal scalar function on ``bounds = (a, b)`` (``method="bounded"`` only).

    Brent's minimiser (Brent 1973, chapter 5; the Forsythe-Malcolm-Moler ``fmin``): golden-section
    steps on a bracket of the minimum, replaced by the vertex of the parabola through the three best
    points whenever that vertex lies inside the bracket and the step is less than half the step
    before last.  Stops when the bracket half-width falls below ``2 tol - |x - midpoint|`` with
    ``tol = sqrt(2.2e-16) |x| + xatol / 3``; at most ``maxiter`` (500) evaluations.  The same
    iteration as ``scipy.optimize.minimize_scalar(method="bounded")``, step for step.
    """
    if method != "bounded" or bounds is None or len(bounds) != 2:
        raise ValueError("minimize_scalar: only method='bounded' with bounds=(a, b) is provided")
    options = dict(options or {})
    xatol = float(options.pop("xatol", 1e-5))
    maxfun = int(options.pop("maxiter", 500))
    if options:
        raise ValueError(f"minimize_scalar: unknown options {sorted(options)}")
    a, b = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(a) and math.isfinite(b)) or a > b:
        raise ValueError(f"minimize_scalar: bounds must be finite with a <= b (got {bounds})")
    sqrt_eps = math.sqrt(2.2e-16)
    golden_mean = 0.5 * (3.0 - math.sqrt(5.0))
    # x_best: lowest value so far; x_second, x_third: the two next best (the parabola's nodes)
    x_third = a + golden_mean * (b - a)
    x_second = x_best = x_third
    step = last = 0.0
    f_best = fun(x_best)
    f_second = f_third = f_best
    calls, f_new, flag = 1, math.inf, 0
    mid = 0.5 * (a + b)
    tol1 = sqrt_eps * abs(x_best) + xatol / 3.0
    tol2 = 2.0 * tol1
    while abs(x_best - mid) > tol2 - 0.5 * (b - a):
        golden = True
        if abs(last) > tol1:
            golden = False
            r = (x_best - x_second) * (f_best - f_third)
            q = (x_best - x_third) * (f_best - f_second)
            p = (x_best - x_third) * q - (x_best - x_second) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = abs(q)
            r, last = last, step
            if abs(p) < abs(0.5 * q * r) and p > q * (a - x_best) and p < q * (b - x_best):
                step = (p + 0.0) / q  # parabolic step
                x = x_best + step
                if (x - a) < tol2 or (b - x) < tol2:  # too close to an end: step tol1 towards the middle
                    step = tol1 * (float(np.sign(mid - x_best)) + ((mid - x_best) == 0))
            else:
                golden = True
        if golden:
            last = (a - x_best) if x_best >= mid else (b - x_best)
            step = golden_mean * last
        sign = float(np.sign(step)) + (step == 0)
        x = x_best + sign * max(abs(step), tol1)
        f_new = fun(x)
        calls += 1
        if f_new <= f_best:
            if x >= x_best:
                a = x_best
            else:
                b = x_best
            x_third, f_third = x_second, f_second
            x_second, f_second = x_best, f_best
            x_best, f_best = x, f_new
        else:
            if x < x_best:
                a = x
            else:
                b = x
            if f_new <= f_second or x_second == x_best:
                x_third, f_third = x_second, f_second
                x_second, f_second = x, f_new
            elif f_new <= f_third or x_third == x_best or x_third == x_second:
                x_third, f_third = x, f_new
        mid = 0.5 * (a + b)
        tol1 = sqrt_eps * abs(x_best) + xatol / 3.0
        tol2 = 2.0 * tol1
        if calls >= maxfun:
            flag = 1
            break
    if math.isnan(x_best) or math.isnan(f_best) or math.isnan(f_new):
        flag = 2
    return ScalarMinimum(x_best, f_best, calls, flag == 0)
