"""Early stopping of the diffusion learner: lemma D1 along the training time, tau* of D2 (theorem E1).

Every number is an evaluation of a catalogue object: the KL bound of D1 (and its named terms,
``D1.parts``), the optimum of D2 and the early-stopped bound E1.  The figure code
(:mod:`boundcalc.bounds.plots`) and the diffusion validator's calibration call these functions
instead of writing the terms again.

* :func:`d1_term_basis` -- the coefficient of each named constant in D1's right-hand side
  (D1 is linear in its constants: the coefficient is the partial derivative), vectorised in numpy;
* :func:`d1_kl` -- D1's right-hand side, vectorised in numpy;
* :func:`early_stopping_curve` -- D1 on a geometric grid of tau from 1, with tau* (D2) and the
  early-stopped bound (E1) [Li23, derived]; given a failure probability delta (and K generations), at the
  constants of lemma D4 at delta_i = delta/K, as the diffusion learner's ``bound``.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from boundcalc._figures import EarlyStoppingCurve
from boundcalc.theory import notation as S
from boundcalc.theory.catalogue import get_lemma

__all__ = ["D1_CONSTANTS", "d1_term_basis", "d1_kl", "EarlyStoppingValues", "early_stopping_curve"]

#: the named constants of lemma D1, in the order of its statement
D1_CONSTANTS = ("c_stat", "c_width", "c_opt", "c_mc", "c_approx", "c_prior")

#: names of the tau-dependent terms of D1 drawn beside the curve (keys of ``D1.parts``)
TAU_TERMS = ("statistical", "finite width", "optimisation")


@functools.lru_cache(maxsize=8)
def _basis_functions(d1_rhs: sp.Expr):
    """Per constant c: the numpy function of (tau, m, n, T) that is dD1/dc (cached per statement)."""
    args = (S.tau, S.m, S.n, S.T)
    out = {}
    for name in D1_CONSTANTS:
        coefficient = sp.diff(d1_rhs, getattr(S, name))
        out[name] = sp.lambdify(args, coefficient, modules="numpy")
    return out


def d1_term_basis(tau, m, n, T=10.0) -> dict:
    """The coefficient of each named constant in lemma D1's right-hand side, at arrays of
    (tau, m, n, T) [Li23]: ``tau^4/(m n)``, ``tau^3/m^2``, ``1/tau``, ``1/m``, ``1``, ``e^(-2T)``.

    D1 is linear in its constants, so ``KL bound = sum_c c * basis[c]``; the calibration of the
    constants is a linear least-squares fit on these columns.

    >>> b = d1_term_basis(2.0, 10.0, 10.0, T=1.0)
    >>> round(float(b["c_stat"]), 6), round(float(b["c_opt"]), 6)
    (0.16, 0.5)
    """
    tau, m, n, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (tau, m, n, T)))
    return {name: np.broadcast_to(np.asarray(f(tau, m, n, T), dtype=float), tau.shape).copy()
            for name, f in _basis_functions(get_lemma("D1").rhs).items()}


def d1_kl(tau, m, n, T, constants: dict):
    """Lemma D1's KL bound at arrays of (tau, m, n, T) in double precision (numpy), constants by name."""
    return get_lemma("D1").evaluate_numpy(tau=tau, m=m, n=n, T=T, **{k: constants[k] for k in D1_CONSTANTS})


#: D1 along tau for one sample size (the figure leaf's record, filled here with the catalogue's numbers)
EarlyStoppingValues = EarlyStoppingCurve


def early_stopping_curve(learner, n, n_points: int = 120, tau_max=None, delta=None,
                         generations: int = 1) -> EarlyStoppingValues:
    """D1's KL bound on a geometric tau grid from 1 to ``tau_max`` (default max(10, 10 tau*)), with
    tau* from lemma D2 and the bound there from theorem E1 [Li23, derived].

    ``learner`` is a :class:`boundcalc.bounds.learners.Diffusion` (its constants, width rule, horizon).
    With a failure probability ``delta`` the curve is one statement of a run of K = ``generations``
    generations: its constants are those of lemma D4 at ``delta_i = delta / K`` (lemma C3; c_stat, c_width,
    c_mc times ``ell(delta_i)^k_delta``, :meth:`~boundcalc.bounds.learners.Diffusion.delta_split`), so D1 with
    them is D4, and tau* and KL(tau*) are those of ``bound`` for the same N, delta and K.  ``delta=None``:
    D1 with the constants as given (already valid at the failure probability meant; ``delta_i`` None).
    """
    d1 = get_lemma("D1")
    split = None if delta is None else learner.delta_split(delta, generations)
    c = learner.constants if split is None else split.constants
    m_exact = learner.width_for(n)
    m = float(m_exact)
    tau_star = float(get_lemma("D2").evaluate(m=m_exact, n=n, c_stat=c["c_stat"], c_width=c["c_width"],
                                              c_opt=c["c_opt"]))
    top = tau_max if tau_max is not None else max(10.0, 10 * tau_star)
    tau = np.unique(np.append(np.geomspace(1.0, top, n_points), tau_star))
    kl = np.array([float(d1.evaluate(tau=t, m=m_exact, n=n, T=learner.horizon, **c)) for t in tau])
    values = {"tau": tau, "m": m, "n": n, **{k: float(c[k]) for k in D1_CONSTANTS}}
    terms = {name: d1.evaluate_numpy(part=name, **values) for name in TAU_TERMS}
    kl_star = float(get_lemma("E1").evaluate(m=m_exact, n=n, T=learner.horizon, **c))
    return EarlyStoppingValues(float(n), m, tau, kl, tau_star, kl_star, terms,
                               delta_i=None if split is None else float(split.delta_i),
                               confidence_factor=1.0 if split is None else float(split.factor))
