"""Fits and summaries of the diffusion experiments: power-law rate, D1 constants, slopes,
cell KL, refined minima, geometric means [calibrated where constants are fitted to runs]."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc.validate.summary import summarize_over_seeds


def _stat(values) -> dict:
    """mean, 95% interval over seeds of a 1-D list (one column of summarize_over_seeds)."""
    s = summarize_over_seeds(np.asarray([float(v) for v in values], dtype=float)[:, None])
    return {k: v[0] for k, v in s.items()}


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


def _kl(p, q) -> float:
    """``KL(p || q) = sum_k p_k log(p_k / q_k)`` of two cell-probability vectors (a lower bound of the
    continuous KL, by data processing).  Cells at either end where q is exactly 0 (beyond the
    range ``Psi([-u_max, u_max])`` of a sampler, where its probability is below 1e-17 but not 0)
    are merged into the neighbouring cell first: a coarser partition, still a lower bound.
    ``inf`` when an interior cell has q_k = 0 < p_k."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    positive = np.flatnonzero(q > 0)
    if positive.size:
        first, last = positive[0], positive[-1]
        p = np.concatenate([[p[:first + 1].sum()], p[first + 1:last], [p[last:].sum()]]) if last > first else np.array([p.sum()])
        q = np.concatenate([[q[:first + 1].sum()], q[first + 1:last], [q[last:].sum()]]) if last > first else np.array([q.sum()])
    mask = p > 0
    if np.any(q[mask] <= 0):
        return math.inf
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(q[mask]))))


def _refine_minimum(log_tau, values) -> tuple[float, float]:
    """Minimum on the grid, refined by a parabola through the three points around it (in log tau)."""
    k = int(np.argmin(values))
    if 0 < k < len(values) - 1:
        x, y = log_tau[k - 1:k + 2], values[k - 1:k + 2]
        a, b, c = np.polyfit(x, y, 2)
        if a > 0:
            xm = -b / (2 * a)
            if x[0] <= xm <= x[2]:
                return float(np.exp(xm)), float(min(c - b * b / (4 * a), values[k]))
    return float(np.exp(log_tau[k])), float(values[k])


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


def fit_d1_constants(runs, window: float = 10.0) -> dict:
    """Fit the D1 form ``KL ~ c_stat tau^4/(m n) + c_width tau^3/m^2 + c_opt/tau + floor`` [calibrated].

    The columns are the terms of lemma D1's statement (:func:`d1_tau_terms`); ``floor`` stands for
    its terms that do not depend on tau (c_mc/m + c_approx + c_prior e^(-2T)).

    Non-negative least squares on *relative* residuals (rows divided by the measured KL), using the
    points with tau within a factor ``window`` of each run's tau* (the part of the curve D2 is about).
    """
    from scipy.optimize import nnls

    terms = d1_tau_terms()
    rows, rhs = [], []
    for r in runs:
        tau_star = float(r["tau_star"])
        for tau, kl in zip(r["taus"], r["kl"]):
            kl = float(kl)
            if math.isfinite(kl) and kl > 0 and tau_star / window <= tau <= tau_star * window:
                rows.append(np.array([term(tau, r["width"], r["n"]) for term in terms] + [1.0]) / kl)
                rhs.append(1.0)
    X, y = np.asarray(rows), np.asarray(rhs)
    scale = np.max(np.abs(X), axis=0)
    coef, _ = nnls(X / scale, y)
    coef = coef / scale
    return {"c_stat": float(coef[0]), "c_width": float(coef[1]), "c_opt": float(coef[2]), "floor": float(coef[3]),
            "rms_relative_residual": float(np.sqrt(np.mean((X @ coef - y) ** 2))), "points": int(len(y)),
            "window": f"tau in [tau*/{window:g}, {window:g} tau*] of each run", "label": "calibrated"}


def _geometric(values) -> dict:
    """Geometric mean and 95% interval (Student t on log10) of positive values."""
    logs = [math.log10(float(v)) for v in values]
    st = _stat(logs)
    return {"mean": 10 ** st["mean"], "ci95_low": 10 ** st["ci95_low"] if math.isfinite(st["ci95_low"]) else math.nan,
            "ci95_high": 10 ** st["ci95_high"] if math.isfinite(st["ci95_high"]) else math.nan,
            "count": st["count"], "scale": "geometric (interval on log10)"}

