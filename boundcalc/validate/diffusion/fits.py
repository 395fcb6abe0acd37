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


def _geometric(values) -> dict:
    """Geometric mean and 95% interval (Student t on log10) of positive values."""
    logs = [math.log10(float(v)) if float(v) > 0 else math.nan for v in values]
    st = _stat(logs)
    return {"mean": 10 ** st["mean"], "ci95_low": 10 ** st["ci95_low"] if math.isfinite(st["ci95_low"]) else math.nan,
            "ci95_high": 10 ** st["ci95_high"] if math.isfinite(st["ci95_high"]) else math.nan,
            "count": st["count"], "scale": "geometric (interval on log10)",
            "interval": "Student t on log10 of the values, transformed back (stays positive)"}



# -- the calibrated D1 envelope ---------------------------------------------------------------------
#: the constants of lemma D1 a calibration file carries (the names of the catalogue's statement)
D1_CONSTANTS = ("c_stat", "c_width", "c_opt", "c_mc", "c_approx", "c_prior")


def _curve(run):
    """(taus, KLs, index of the grid minimum) of one run, NaN (unmeasured) points left out."""
    taus = np.asarray([float(t) for t in run["taus"]], dtype=float)
    kl = np.asarray([float(v) for v in run["kl"]], dtype=float)
    ok = np.isfinite(kl) & (kl >= 0) & (taus >= 1)
    taus, kl = taus[ok], kl[ok]
    return taus, kl, (int(np.argmin(kl)) if kl.size else -1)


def _floor_fit(widths, levels, minima) -> tuple[float | None, float]:
    """The smallest floor ``c_mc/m + c_approx`` (both >= 0) with ``c_mc/m_r + c_approx >= level_r`` for
    every run r, smallest in the sum of ``floor(m_r)/minimum_r`` (``minima``: each run's smallest
    measured KL; a linear program in two unknowns).  With one width the floor is
    ``c_approx = max level_r`` and c_mc is not determined (None)."""
    m = np.asarray(widths, dtype=float)
    y = np.maximum(np.asarray(levels, dtype=float), 0.0)
    if np.unique(m).size < 2:
        return None, float(y.max())
    from scipy.optimize import linprog

    A = np.column_stack([1.0 / m, np.ones_like(m)])
    low = np.asarray(minima, dtype=float)
    weight = 1.0 / np.maximum(low, max(1e-12, 1e-9 * float(low.max())))
    res = linprog(A.T @ weight / weight.sum(), A_ub=-A, b_ub=-y, bounds=[(0, None)] * 2, method="highs")
    if res.x is None:  # pragma: no cover - the program is always feasible (c_approx = max level)
        return 0.0, float(y.max())
    c_mc, c_approx = (float(v) for v in res.x)
    # the solver's tolerance: raise c_approx by the largest violation so the floor covers every level
    c_approx += max(0.0, float(np.max(y - (c_mc / m + c_approx))))
    return c_mc, c_approx


@lru_cache(maxsize=1)
def _d1_envelope_function():
    """Lemma D1's right-hand side with c_width = 0 and c_prior = 0 (the calibrated form), lambdified
    from the catalogue object, as a function of (tau, m, n, c_stat, c_opt, c_mc, c_approx)."""
    import sympy as sp

    from boundcalc.theory import notation as S
    from boundcalc.theory.catalogue import get_lemma

    rhs = get_lemma("D1").rhs.subs({S.c_width: 0, S.c_prior: 0})
    return sp.lambdify((S.tau, S.m, S.n, S.c_stat, S.c_opt, S.c_mc, S.c_approx), rhs, "math")


def _d1_value(c, tau, m, n):
    """The calibrated D1 expression at (tau, m, n) (c_width = 0, the prior term inside c_approx)."""
    return _d1_envelope_function()(float(tau), float(m), float(n), c["c_stat"], c["c_opt"], c["c_mc"] or 0.0,
                                   c["c_approx"])


def _envelope_constants(runs) -> dict:
    """One envelope fit (see :func:`fit_d1_envelope`) of the given runs: constants, and the one-line
    reasons of the constants the data cannot determine."""
    curves = [(r, *_curve(r)) for r in runs]
    curves = [(r, t, v, k) for r, t, v, k in curves if k >= 0]
    undetermined = {}
    if not curves:
        return {"constants": None, "undetermined": {"all": "no measured KL in the runs"}}
    widths = [float(r["width"]) for r, *_ in curves]
    minima = [v[k] for _, _, v, k in curves]

    stat_term = d1_tau_terms()[0]  # the coefficient of c_stat in D1

    def stat(r, t):
        return stat_term(float(t), float(r["width"]), float(r["n"]))

    # 1. c_opt from the left branches: the steepest rise in 1/tau above the run's minimum (tau_min, KL_min),
    #    c_opt >= (KL - KL_min) / (1/tau - 1/tau_min) for every left point of every run
    left = [(kl - vs[k]) / (1 / t - 1 / ts[k]) for r, ts, vs, k in curves for t, kl in zip(ts[:k], vs[:k])]
    c_opt = max([0.0] + left)
    # 2. c_stat from the right branches: the excess over the run's level KL_min - c_opt/tau_min (the floor the
    #    left branch implies, at least 0) and the optimisation term, in units of tau^4/(m n)
    level = [max(0.0, vs[k] - c_opt / ts[k]) for r, ts, vs, k in curves]
    right = [(kl - base - c_opt / t) / stat(r, t) for (r, ts, vs, k), base in zip(curves, level)
             for t, kl in zip(ts[k + 1:], vs[k + 1:])]
    c_stat = max([0.0] + right)
    if not left:
        undetermined["c_opt"] = "no left branch (every minimum is at the smallest tau of the grid)"
    elif not c_opt > 0:
        undetermined["c_opt"] = "the left branches never rise above their minimum"
    if not right:
        undetermined["c_stat"] = "no right branch (every minimum is at the largest tau of the grid)"
    elif not c_stat > 0:
        undetermined["c_stat"] = "the right branches never rise above their minimum"
    # 3. the floor: the smallest c_mc/m + c_approx that makes the whole expression an envelope of every point
    c = {"c_stat": c_stat, "c_opt": c_opt, "c_mc": 0.0, "c_approx": 0.0}
    residual = [float(np.max(vs - np.array([_d1_value(c, t, float(r["width"]), float(r["n"])) for t in ts])))
                for r, ts, vs, k in curves]
    c_mc, c_approx = _floor_fit(widths, residual, minima)
    if c_mc is None:
        undetermined["c_mc"] = (f"one width m = {widths[0]:g} in the runs: the floor is c_approx alone "
                                "(c_mc/m cannot be told from c_approx)")
    elif not c_mc > 0:
        undetermined["c_mc"], c_mc = ("the floor (each run's KL less the fitted tau-terms) does not fall with the "
                                      "width m: the floor is c_approx alone"), None
    return {"constants": {"c_stat": float(c_stat), "c_opt": float(c_opt), "c_mc": None if c_mc is None else float(c_mc),
                          "c_approx": float(c_approx)},
            "undetermined": undetermined}


def fit_d1_envelope(runs, horizon: float | None = None) -> dict:
    """Calibrated constants of lemma D1: the smallest constants, each from the part of the measured
    KL(tau) curves where its term matters, such that the D1 expression is an upper envelope of
    every measured KL [calibrated, derivations/calibration-d1.md].

    The expression is ``c_stat tau^4/(m n) + c_opt/tau + c_mc/m + c_approx`` (D1 with
    ``c_width = 0`` and the prior term, fixed by the one horizon of the runs, inside ``c_approx``).
    Each run (one n, one seed) is cut at its grid minimum (tau_min, KL_min) into a left branch
    (tau < tau_min) and a right branch (tau > tau_min):

    1. ``c_opt`` = the largest ``(KL - KL_min)/(1/tau - 1/tau_min)`` over the left-branch points of every
       run: the steepest rise in 1/tau above the minimum (the left branch is where 1/tau matters);
    2. ``c_stat`` = the largest ``(KL - L_r - c_opt/tau) m n/tau^4`` over the right-branch points, with
       ``L_r = max(0, KL_min - c_opt/tau_min)`` the level the left branch leaves at the minimum;
    3. the floor ``c_mc/m + c_approx`` (both >= 0): every run's ``max_tau (KL - c_stat tau^4/(m n) -
       c_opt/tau)`` lies under it, smallest in the sum of floor/KL_min (a linear program in two
       unknowns), which makes the expression >= every measured KL (the envelope property, by construction).

    On curves of exactly this form c_opt and c_stat come out within a relative O(1/tau_min) of the truth
    (the statistical term's small share on the left), and the floor within c_opt's deficit at the
    smallest tau of the grid (tests/test_calibration.py states the tolerance).
    Constants the data cannot determine (no left or no right branch, one width for c_mc) are
    ``None`` with a one-line reason in ``undetermined``; ``fitted`` is True when c_stat and c_opt
    are both > 0 (then lemma D2's tau* is defined).  ``ratio`` gives fitted / measured per point
    (>= 1 up to rounding).  Intervals over seeds come from the same fit run on each seed alone.
    """
    fit = _envelope_constants(runs)
    c, undetermined = fit["constants"], dict(fit["undetermined"])
    horizon_text = f"{horizon:g}" if horizon is not None else "the runs'"
    undetermined["c_width"] = ("not separable from c_stat: with m proportional to n both growing terms "
                               "(tau^4/(m n), tau^3/m^2) fall like 1/n^2 and the right branches follow neither "
                               "tau-shape; the right branch is given to c_stat (D2 needs c_stat > 0), c_width = 0")
    undetermined["c_prior"] = (f"one horizon T = {horizon_text} in the runs: the prior term c_prior e^(-2T) is "
                               "inside c_approx (c_prior = 0; conservative for a larger horizon)")
    out = {"label": "calibrated", "form": "c_stat tau^4/(m n) + c_opt/tau + c_mc/m + c_approx (D1 with "
           "c_width = 0, the prior term inside c_approx)",
           "method": "upper envelope: c_opt from the left branches (tau < grid minimum), c_stat from the right "
                     "branches, c_mc/m + c_approx from the minima (derivations/calibration-d1.md)",
           "horizon": horizon}
    if c is None:
        return {**out, "fitted": False, "constants": {k: None for k in D1_CONSTANTS},
                "undetermined": undetermined, "reason": undetermined["all"], "ratio": {}}
    constants = {"c_stat": c["c_stat"] if "c_stat" not in undetermined else None, "c_width": None,
                 "c_opt": c["c_opt"] if "c_opt" not in undetermined else None, "c_mc": c["c_mc"],
                 "c_approx": c["c_approx"], "c_prior": None}
    full = {**c, "c_stat": c["c_stat"], "c_opt": c["c_opt"]}
    ratio = {}
    for r in runs:
        taus, kl, k = _curve(r)
        key = f"n={r['n']}"
        ratio.setdefault(key, []).append(
            [float(_d1_value(full, t, float(r["width"]), float(r["n"])) / v) if v > 0 else math.inf
             for t, v in zip(taus, kl)])
    fitted = constants["c_stat"] is not None and constants["c_opt"] is not None
    missing = [k for k in ("c_stat", "c_opt") if constants[k] is None]
    return {**out, "fitted": fitted, "constants": constants, "undetermined": undetermined,
            "reason": None if fitted else (f"no calibrated D2 tau*: {missing[0]} not determined "
                                           f"({undetermined[missing[0]]})"),
            "ratio": ratio}


def d1_envelope_over_seeds(runs_by_seed, horizon: float | None = None) -> dict:
    """:func:`fit_d1_envelope` of all runs pooled (the exported constants: an envelope of every
    measured point), with each constant's mean over seeds and its bootstrap percentile interval
    from the same fit run on each seed's runs alone."""
    pooled = fit_d1_envelope([r for rs in runs_by_seed for r in rs], horizon)
    per_seed = [fit_d1_envelope(rs, horizon)["constants"] for rs in runs_by_seed]
    over = {}
    for k in D1_CONSTANTS:
        values = [s[k] for s in per_seed]
        if all(v is None for v in values):
            continue
        over[k] = {**_stat([math.nan if v is None else v for v in values], ranged=True), "per_seed": values}
    return {**pooled, "over_seeds": over, "seeds": len(runs_by_seed)}


def d1_missing_branches(runs) -> list[str]:
    """One line per kind of missing branch: the (n, seed) runs whose grid minimum is at the first
    or the last tau (no left or no right branch there)."""
    lines = []
    for side, test in (("left", lambda k, size: k == 0), ("right", lambda k, size: k == size - 1)):
        where = [f"n={r['n']}/seed{s}" for s, r in runs if (lambda c: c[2] >= 0 and test(c[2], c[0].size))(_curve(r))]
        if where:
            end = "smallest" if side == "left" else "largest"
            lines.append(f"no {side} branch at {', '.join(where)}: the minimum is at the {end} tau of the grid "
                         f"(those runs do not inform c_{'opt' if side == 'left' else 'stat'})")
    return lines
