"""Fits and summaries of the diffusion experiments: power-law rate, D1 constants, slopes,
cell KL, refined minima, geometric means [calibrated where constants are fitted to runs]."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc.validate.summary import summarize_over_seeds


def _stat(values, ranged: bool = False) -> dict:
    """mean, 95% interval over seeds of a 1-D list (one column of summarize_over_seeds; ``ranged``:
    the bootstrap percentile interval, for a TV or a KL), with ``interval`` naming it."""
    s = summarize_over_seeds(np.asarray([float(v) for v in values], dtype=float)[:, None], ranged=ranged)
    return {k: (v if k == "interval" else v[0]) for k, v in s.items()}


def fit_power_law(sizes, errors) -> dict:
    """Least squares of log eps = log C - alpha log N over the given (N, eps) pairs [calibrated]."""
    N = np.asarray(sizes, dtype=float)
    e = np.asarray([float(v) for v in errors], dtype=float)
    ok = np.isfinite(e) & (e > 0)
    if np.unique(N[ok]).size < 2:
        raise BoundcalcError("fitting eps(N) = C N^-alpha needs errors at two or more sizes")
    slope, intercept = np.polyfit(np.log(N[ok]), np.log(e[ok]), 1)
    resid = np.log(e[ok]) - (intercept + slope * np.log(N[ok]))
    return {"C": float(np.exp(intercept)), "alpha": float(-slope), "points": int(ok.sum()),
            "log_residual_sd": float(np.std(resid)), "label": "calibrated"}


def _power_learner(fit):
    if not (fit["alpha"] > 0):
        return None
    from boundcalc.bounds.learners import PowerLaw

    return PowerLaw(fit["C"], fit["alpha"])


def composed_bound(scheme, learner, generations: int, delta: float) -> list:
    """a_1..a_K bound of the lead's calculator (boundcalc.bounds.compose.compose_bound)."""
    from boundcalc.bounds.compose import compose_bound

    return [float(v) for v in compose_bound(scheme, learner, generations, delta=delta).bound]


#: cells whose model probability is at most this are merged into a neighbour before the KL (the
#: inversion certifies cell edges to 1e-9 in probability, so such a cell's q is not resolved)
KL_MERGE_TOLERANCE = 1e-9


def merged_cells(p, q, tolerance: float = KL_MERGE_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """The partition coarsened so that every cell has model probability ``q > tolerance``: each
    cell with ``q <= tolerance`` joins the nearest resolved cell on its left (leading ones: the
    first resolved cell).  Returns the merged ``(p, q)`` (both still sum as before).

    >>> P, Q = merged_cells([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.0, 0.5])
    >>> [round(float(v), 12) for v in P], [round(float(v), 12) for v in Q]
    ([0.6, 0.4], [0.5, 0.5])
    """
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    resolved = q > tolerance
    if not resolved.any():
        return np.array([p.sum()]), np.array([q.sum()])
    group = np.maximum(np.cumsum(resolved) - 1, 0)
    return np.bincount(group, weights=p), np.bincount(group, weights=q)


def _kl(p, q) -> float:
    """``KL(p || q) = sum_k p_k log(p_k / q_k)`` of two cell-probability vectors, after merging
    every cell whose model probability is at most ``KL_MERGE_TOLERANCE`` (far tails beyond the
    range of a sampler, where q is 0 or below what the inversion resolves) into its neighbour
    (:func:`merged_cells`).  A coarser partition: by data processing the value is still a lower
    bound of the continuous KL, it is finite (every merged cell has q > 0) and non-negative
    (Gibbs) [classical].

    >>> round(_kl([0.5, 0.5, 1e-12], [0.5, 0.5, 0.0]), 9)
    0.0
    """
    p, q = merged_cells(p, q)
    mask = p > 0
    if not mask.any():
        return 0.0
    if np.any(q[mask] <= 0):
        return math.inf
    return float(max(0.0, np.sum(p[mask] * (np.log(p[mask]) - np.log(q[mask])))))


def _refine_minimum(log_tau, values) -> tuple[float, float]:
    """Minimum on the grid, refined by a parabola through the grid point of smallest value and its
    two *adjacent* grid points (in log tau), when all three are finite and the parabola is convex
    with its vertex between them.  The refined value is never below 0 (a KL) nor above the grid
    minimum; a vertex below 0 keeps the grid value.  ``values`` may hold NaN (unmeasured points):
    they are never used, and a minimum next to one is not refined.

    >>> _refine_minimum([0.0, 1.0, 2.0], [1.0, 0.0, 1.0])
    (2.718281828459045, 0.0)
    """
    log_tau, values = np.asarray(log_tau, dtype=float), np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        return math.nan, math.nan
    k = int(np.nanargmin(np.where(finite, values, np.inf)))
    if 0 < k < len(values) - 1 and finite[k - 1] and finite[k + 1]:
        x, y = log_tau[k - 1:k + 2], values[k - 1:k + 2]
        a, b, c = np.polyfit(x, y, 2)
        if a > 0:
            xm = -b / (2 * a)
            vertex = c - b * b / (4 * a)
            if x[0] <= xm <= x[2] and vertex >= 0:
                return float(np.exp(xm)), float(min(vertex, values[k]))
    return float(np.exp(log_tau[k])), float(values[k])


def interior_minimum(values) -> bool:
    """True when the smallest finite value is at an interior grid point (not the first or the last)."""
    values = np.asarray([float(v) for v in values], dtype=float)
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size < 3:
        return False
    k = int(finite[np.argmin(values[finite])])
    return bool(finite[0] < k < finite[-1])


def _slope(x, y) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray([float(v) for v in y])
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


@lru_cache(maxsize=1)
def d1_tau_terms() -> tuple:
    """The coefficients of c_stat, c_width and c_opt in lemma D1's right-hand side (D1 is linear
    in its constants), as functions of (tau, m, n), read off the catalogue object by
    differentiation: ``tau^4/(m n)``, ``tau^3/m^2``, ``1/tau`` [Li23].

    >>> [round(f(2.0, 10, 10), 6) for f in d1_tau_terms()]
    [0.16, 0.08, 0.5]
    """
    import sympy as sp

    from boundcalc.theory import notation as S
    from boundcalc.theory.catalogue import get_lemma

    rhs = get_lemma("D1").rhs
    return tuple(sp.lambdify((S.tau, S.m, S.n), sp.diff(rhs, c), "math") for c in (S.c_stat, S.c_width, S.c_opt))


def _d1_nnls(rows, rhs, columns):
    from scipy.optimize import nnls

    X, y = np.asarray(rows)[:, columns], np.asarray(rhs)
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(X / scale, y)
    coef = coef / scale
    full = np.zeros(4)
    full[columns] = coef
    return full, float(np.sqrt(np.mean((X @ coef - y) ** 2)))


def fit_d1_constants(runs, window: float = 10.0) -> dict:
    """Fit the D1 form ``KL ~ c_stat tau^4/(m n) + c_width tau^3/m^2 + c_opt/tau + floor`` [calibrated].

    The columns are the terms of lemma D1's statement (:func:`d1_tau_terms`); ``floor`` stands for
    its terms that do not depend on tau (c_mc/m + c_approx + c_prior e^(-2T)).

    Non-negative least squares on *relative* residuals (rows divided by the measured KL), using the
    points with tau within a factor ``window`` of each run's tau* (the part of the curve D2 is about).

    D2's tau* needs ``c_stat > 0`` and ``c_opt > 0``.  When the full fit puts ``c_stat = 0`` (at
    one width m for every n the term ``tau^3/m^2`` can take the whole rise after tau*), the fit
    is repeated with ``c_width = 0`` (the statistical term alone carries the rise) and says so
    in ``form``.  ``fitted`` is False, with a one-line ``reason``, when no usable fit exists
    (fewer than 5 points, or a constant still at 0).  With one sample size only the
    ``c_width = 0`` form is fitted.
    """
    terms = d1_tau_terms()
    rows, rhs, sizes = [], [], set()
    for r in runs:
        tau_star = float(r["tau_star"])
        if not (math.isfinite(tau_star) and tau_star > 0):
            continue
        for tau, kl in zip(r["taus"], r["kl"]):
            kl = float(kl)
            if math.isfinite(kl) and kl > 0 and tau_star / window <= tau <= tau_star * window:
                rows.append(np.array([term(tau, r["width"], r["n"]) for term in terms] + [1.0]) / kl)
                rhs.append(1.0)
                sizes.add(int(r["n"]))
    out = {"c_stat": math.nan, "c_width": math.nan, "c_opt": math.nan, "floor": math.nan,
           "rms_relative_residual": math.nan, "points": len(rhs), "sample_sizes": len(sizes),
           "window": f"tau in [tau*/{window:g}, {window:g} tau*] of each run", "label": "calibrated"}
    if len(rhs) < 5:
        return {**out, "fitted": False, "form": None,
                "reason": (f"the D1 constants cannot be fitted: {len(rhs)} measured points near tau* "
                           "(needs at least 5)")}
    if len(sizes) >= 2:
        coef, rms = _d1_nnls(rows, rhs, [0, 1, 2, 3])
        form = "full D1 form"
    else:
        coef, rms = np.zeros(4), math.nan
        form = "one sample size"
    if not coef[0] > 0:
        coef, rms = _d1_nnls(rows, rhs, [0, 2, 3])
        form = ("c_width = 0 (one sample size: the two growing terms cannot be told apart)" if len(sizes) < 2 else
                "c_width = 0 (the full fit put c_stat = 0: the term tau^3/m^2 alone took the rise after tau*; "
                "refitted with the statistical term tau^4/(m n) carrying it)")
    out.update(c_stat=float(coef[0]), c_width=float(coef[1]), c_opt=float(coef[2]), floor=float(coef[3]),
               rms_relative_residual=rms, form=form)
    if coef[0] > 0 and coef[2] > 0:
        return {**out, "fitted": True, "reason": None}
    zero = "c_stat" if not coef[0] > 0 else "c_opt"
    return {**out, "fitted": False,
            "reason": f"the D1 fit is degenerate ({zero} = 0 even with c_width = 0): no calibrated D2 tau*"}


def _geometric(values) -> dict:
    """Geometric mean and 95% interval (Student t on log10) of positive values."""
    logs = [math.log10(float(v)) if float(v) > 0 else math.nan for v in values]
    st = _stat(logs)
    return {"mean": 10 ** st["mean"], "ci95_low": 10 ** st["ci95_low"] if math.isfinite(st["ci95_low"]) else math.nan,
            "ci95_high": 10 ** st["ci95_high"] if math.isfinite(st["ci95_high"]) else math.nan,
            "count": st["count"], "scale": "geometric (interval on log10)",
            "interval": "Student t on log10 of the values, transformed back (stays positive)"}

