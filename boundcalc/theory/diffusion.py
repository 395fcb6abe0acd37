"""Diffusion-model lemmas D1, D2, D3, D4.

D1 is Li et al. (2023)'s generalization bound (KL from p0 to the law of the reverse-time SDE
driven by the learned score) for a random-feature score model with every hidden factor made a
named constant; D4 is D1 at a stated failure probability delta, the constants that come from
concentration written as ``c_x ell(delta)^k_delta`` with ``ell(delta) = max(1, ln(1/delta^2))``;
D2 is the early-stopping optimum; D3 turns the KL bound of one generation into a TV bound
(Pinsker or Bretagnolle-Huber, whichever is smaller) for a training set of N_i i.i.d. draws of q_i.

:func:`optimal_tau` is the numeric D2 optimum, computed robustly in mpmath; D2's statement is
``tau* = max(1, tau_0)`` with ``tau_0`` the unique positive root of the stationarity equation,
an implemented sympy function (:data:`stationary_root`) so that the statement lambdifies.
"""

from __future__ import annotations

import mpmath
import sympy as sp
from sympy.utilities.lambdify import implemented_function

from boundcalc._checks import BoundcalcError, check_nonnegative, check_positive
from boundcalc.theory.lemma import Lemma, register
from boundcalc.theory.notation import (T, c_approx, c_mc, c_opt, c_prior, c_stat, c_width, delta, k_delta, kl, m,
                                       n, tau)

__all__ = ["D1", "D2", "D3", "D4", "optimal_tau", "early_stopping_objective", "stationary_root",
           "confidence_factor", "CONCENTRATION_CONSTANTS"]

_KL = sp.Function("KL")
_TV = sp.Function("TV")
_p0, _ptau, _p, _q = sp.symbols("p0 p_tau_SDE p q")  # p_tau_SDE: law of the reverse-time SDE
_argmin = sp.Function("argmin")


def early_stopping_objective():
    """``g(tau) = c_stat tau^4/(m n) + c_width tau^3/m^2 + c_opt/tau``: the tau-dependent part of D1."""
    return c_stat * tau ** 4 / (m * n) + c_width * tau ** 3 / m ** 2 + c_opt / tau


D1 = register(Lemma(
    id="D1",
    title="Generalization of a random-feature diffusion model (Li et al. 2023)",
    lhs=_KL(_p0, _ptau),
    relation="<=",
    rhs=(c_stat * tau ** 4 / (m * n) + c_width * tau ** 3 / m ** 2 + c_opt / tau + c_mc / m
         + c_approx + c_prior * sp.exp(-2 * T)),
    parts={
        "statistical": c_stat * tau ** 4 / (m * n),
        "finite width": c_width * tau ** 3 / m ** 2,
        "optimisation": c_opt / tau,
        "monte carlo": c_mc / m,
        "approximation": c_approx,
        "prior": c_prior * sp.exp(-2 * T),
    },
    hypotheses=(
        "p0 has compact support in R^d and a continuously differentiable density (so that its score "
        "exists and the forward process has a continuous score).",
        "The score network is s(x, t) = (1/m) A relu(W x + U e(t)) with W, U random and frozen and A "
        "trained by gradient flow for time tau on the empirical denoising score-matching loss of n "
        "samples of p0, started from a bounded initialisation (bounded initial loss) and with a bounded "
        "weighting function of the noise levels in that loss.",
        "Realisable case (an assumption): the true score lies in the random-feature RKHS and the "
        "trained weights stay bounded.",
        "p_tau is the law at time 0 of the reverse-time SDE driven by the learned score "
        "(dX = [X + 2 s(X, t)] dt + sqrt(2) dW backwards from the prior pi at horizon T); "
        "Li et al.'s Theorem 1 is proved for this law, not for the output of the probability-flow "
        "ODE, so a sampler that integrates the ODE is not covered by D1.",
        "The n training samples are i.i.d. draws of p0 (one law); the random features are drawn "
        "independently of them.",
        "tau >= 1; the statement holds with probability >= 1 - delta over the samples and the "
        "random features, where c_stat, c_width and c_mc are the constants valid at that delta "
        "(lemma D4 writes them as c_x ell(delta)^k_delta, ell(delta) = max(1, ln(1/delta^2))).",
        "The hidden factors of Li et al.'s bound (d log(d+1), polynomials of log(1/delta^2), RKHS "
        "norms, T-dependent constants) are the named constants c_stat, c_width, c_opt, c_mc, "
        "c_approx (the approximation error L_approx) and c_prior (KL(p_T || pi) <= c_prior e^(-2T)); "
        "they are unknown and default to 1 unless the user supplies or calibrates them: with the "
        "defaults the bound shows its shape, not a value.",
    ),
    provenance="[Li23]",
    latex=(r"\mathrm{KL}(p_0 \,\|\, p_\tau^{\mathrm{SDE}}) \le c_{\mathrm{stat}} \frac{\tau^4}{m n} + "
           r"c_{\mathrm{width}} \frac{\tau^3}{m^2} + \frac{c_{\mathrm{opt}}}{\tau} + "
           r"\frac{c_{\mathrm{mc}}}{m} + c_{\mathrm{approx}} + c_{\mathrm{prior}} \, e^{-2T}"),
    derivation="derivations/D1.md",
    source=("Li, Li, Zhang, Bian, On the Generalization Properties of Diffusion Models, NeurIPS 2023 "
            "(arXiv 2311.01797), Theorem 1 (KL from p0 to the law of the reverse-time SDE driven "
            "by the learned score); hidden constants made explicit here."),
    quantities={"tau": "training time of the gradient flow (tau >= 1)",
                "m": "width (number of random features)",
                "n": "number of training samples",
                "T": "horizon of the forward process",
                "c_stat": "constant of the statistical term tau^4/(m n), at the statement's delta",
                "c_width": "constant of the finite-width term tau^3/m^2, at the statement's delta",
                "c_opt": "constant of the optimisation term 1/tau",
                "c_mc": "constant of the random-feature Monte-Carlo term 1/m, at the statement's delta",
                "c_approx": "approximation error L_approx of the random-feature class",
                "c_prior": "constant of the prior mismatch KL(p_T || pi) <= c_prior e^(-2T)"},
))


#: the constants of D1 that come from concentration (over the samples and the random features)
CONCENTRATION_CONSTANTS = ("c_stat", "c_width", "c_mc")


def confidence_factor(delta_value, k_value):
    """``ell(delta)^k`` with ``ell(delta) = max(1, ln(1/delta^2)) = max(1, -2 ln delta)`` (mpmath: finite for
    delta down to 1e-300 and below; delta is the failure probability of one D1 statement)."""
    d = mpmath.mpf(delta_value)
    return max(mpmath.mpf(1), -2 * mpmath.log(d)) ** mpmath.mpf(k_value)


_ELL = sp.Max(1, -2 * sp.log(delta))  # ell(delta) = max(1, ln(1/delta^2)), written so that tiny delta stays finite
_AT_DELTA = {c: c * _ELL ** k_delta for c in (c_stat, c_width, c_mc)}

D4 = register(Lemma(
    id="D4",
    title="Lemma D1 at a stated failure probability",
    lhs=_KL(_p0, _ptau),
    relation="<=",
    rhs=D1.rhs.xreplace(_AT_DELTA),
    parts={
        "confidence factor": _ELL ** k_delta,
        "statistical": _AT_DELTA[c_stat] * tau ** 4 / (m * n),
        "finite width": _AT_DELTA[c_width] * tau ** 3 / m ** 2,
        "monte carlo": _AT_DELTA[c_mc] / m,
    },
    hypotheses=(
        "The hypotheses of D1; the statement holds with probability >= 1 - delta over the n i.i.d. "
        "samples and the random features, 0 < delta < 1.",
        "Li et al.'s hidden factor of the terms that come from concentration (statistical, finite width, "
        "Monte Carlo) is a polynomial of ln(1/delta^2); it is written c_x ell(delta)^k_delta with "
        "ell(delta) = max(1, ln(1/delta^2)), c_x (x = stat, width, mc) the named constants at ell = 1 and "
        "k_delta the degree (default 2, a named exponent: the bound is increasing in k_delta because "
        "ell >= 1, so a k_delta at least the true degree keeps it valid). c_opt, c_approx and c_prior "
        "do not depend on delta.",
        "In a loop of K generations each generation's statement is taken at delta_i = delta/K (lemma C3), "
        "so that all K hold at once with probability >= 1 - delta.",
    ),
    provenance="[Li23, derived]",
    latex=(r"\mathrm{KL}(p_0 \,\|\, p_\tau^{\mathrm{SDE}}) \le \ell(\delta)^{k_\delta} \Big( c_{\mathrm{stat}} "
           r"\frac{\tau^4}{m n} + c_{\mathrm{width}} \frac{\tau^3}{m^2} + \frac{c_{\mathrm{mc}}}{m} \Big) + "
           r"\frac{c_{\mathrm{opt}}}{\tau} + c_{\mathrm{approx}} + c_{\mathrm{prior}} \, e^{-2T} "
           r"\ \text{ with probability} \ge 1 - \delta, \quad \ell(\delta) = \max\big(1, \ln(1/\delta^2)\big)"),
    derivation="derivations/D4.md",
    source=("Li, Li, Zhang, Bian, NeurIPS 2023, Theorem 1 (its hidden factor contains polynomials of "
            "log(1/delta^2)); the named confidence factor and its degree are made explicit here."),
    quantities={"delta": "failure probability of this one statement (delta/K per generation in a loop)",
                "k_delta": "degree of the confidence factor ell(delta)^k_delta (default 2)",
                "c_stat": "constant of the statistical term at ell = 1",
                "c_width": "constant of the finite-width term at ell = 1",
                "c_mc": "constant of the Monte-Carlo term at ell = 1",
                "c_opt": "constant of the optimisation term 1/tau",
                "c_approx": "approximation error L_approx", "c_prior": "constant of the prior mismatch",
                "tau": "training time (tau >= 1)", "m": "width", "n": "training samples", "T": "horizon"},
))


def _mp(name, value, positive=True):
    (check_positive if positive else check_nonnegative)(name, value)
    return mpmath.mpmathify(value)


def optimal_tau(m, n, c_stat=1, c_width=1, c_opt=1):
    r"""Early-stopping time of lemma D2 [Li23, derived]: the minimiser over tau >= 1 of

    .. math::
        g(\tau) = c_{stat} \frac{\tau^4}{m n} + c_{width} \frac{\tau^3}{m^2} + \frac{c_{opt}}{\tau}.

    ``g'(tau) = h(tau) / tau^2`` with ``h(tau) = 4 c_stat tau^5/(m n) + 3 c_width tau^4/m^2 - c_opt``,
    strictly increasing on tau > 0, so g has one stationary point tau_0 (its minimum) and the
    answer is ``max(1, tau_0)``.  The root lies in ``[1, min(U1, U2)]`` with
    ``U1 = (c_opt m n / (4 c_stat))^(1/5)`` (the closed form when c_width = 0) and
    ``U2 = (c_opt m^2 / (3 c_width))^(1/4)``; it is found by Newton's method started at that upper end (monotone
    convergence: the slope function is increasing and convex) in mpmath
    (finite for n up to 1e15 and beyond) and verified by substituting it back.

    Parameters
    ----------
    m, n : positive numbers
        Width and sample size.
    c_stat, c_opt : positive numbers
    c_width : nonnegative number

    Returns
    -------
    mpmath.mpf
        tau* >= 1.
    """
    with mpmath.workdps(40):
        m_, n_ = _mp("m", m), _mp("n", n)
        cs, co = _mp("c_stat", c_stat), _mp("c_opt", c_opt)
        cw = _mp("c_width", c_width, positive=False)
        if 4 * cs / (m_ * n_) + 3 * cw / m_ ** 2 - co >= 0:  # tau^2 g'(tau) >= 0 at tau = 1
            return mpmath.mpf(1)
        root = _newton_root(m_, n_, cs, cw, co)
    return +root


def _newton_root(m_, n_, cs, cw, co):
    """The unique positive root of ``S(tau) = 4 cs tau^5/(m n) + 3 cw tau^4/m^2 - co`` (40 digits)."""
    def slope(x):  # tau^2 g'(tau)
        return 4 * cs * x ** 5 / (m_ * n_) + 3 * cw * x ** 4 / m_ ** 2 - co

    upper = (co * m_ * n_ / (4 * cs)) ** (mpmath.mpf(1) / 5)
    if cw > 0:
        upper = min(upper, (co * m_ ** 2 / (3 * cw)) ** (mpmath.mpf(1) / 4))
    # Newton from the right: tau^2 g' is increasing and convex on tau > 0, and nonnegative at
    # `upper`, so the iterates decrease monotonically to the root (no overshoot).
    root = upper
    for _ in range(400):
        derivative = 20 * cs * root ** 4 / (m_ * n_) + 12 * cw * root ** 3 / m_ ** 2
        step = slope(root) / derivative
        root -= step
        if abs(step) <= mpmath.mpf(10) ** -34 * root:
            break
    else:  # pragma: no cover - cannot happen for a convex increasing function
        raise BoundcalcError("optimal_tau: Newton's method did not converge")
    # substitute back: the residual of tau^2 g'(tau) = 0 relative to its terms
    scale = co + 4 * cs * root ** 5 / (m_ * n_) + 3 * cw * root ** 4 / m_ ** 2
    if abs(slope(root)) > mpmath.mpf(10) ** -25 * scale:
        raise BoundcalcError("optimal_tau: root of g'(tau) did not verify")
    return root


def _stationary_root(c_opt, c_stat, c_width, m, n):
    with mpmath.workdps(40):
        root = _newton_root(_mp("m", m), _mp("n", n), _mp("c_stat", c_stat),
                            _mp("c_width", c_width, positive=False), _mp("c_opt", c_opt))
    return +root


#: tau_0(c_opt, c_stat, c_width, m, n): the unique positive root of
#: 4 c_stat tau^5/(m n) + 3 c_width tau^4/m^2 = c_opt (Newton's method in mpmath when lambdified)
stationary_root = implemented_function("tau_0", _stationary_root)


def _optimal_tau_numeric(m=None, n=None, c_stat=1, c_width=1, c_opt=1, **_unused):
    missing = [name for name, value in (("m", m), ("n", n)) if value is None]
    if missing:
        raise BoundcalcError(f"lemma D2 needs values for: {', '.join(missing)}")
    return optimal_tau(m, n, c_stat=c_stat, c_width=c_width, c_opt=c_opt)


_U1 = (c_opt * m * n / (4 * c_stat)) ** sp.Rational(1, 5)  # the root when c_width = 0

D2 = register(Lemma(
    id="D2",
    title="Early stopping of the random-feature diffusion model",
    lhs=_argmin(early_stopping_objective()),
    relation="=",
    rhs=sp.Max(1, stationary_root(c_opt, c_stat, c_width, m, n)),
    parts={
        "closed form c_width = 0": _U1,
        "stationarity": 4 * c_stat * tau ** 5 / (m * n) + 3 * c_width * tau ** 4 / m ** 2 - c_opt,
    },
    hypotheses=(
        "The tau-dependent part of D1, g(tau) = c_stat tau^4/(m n) + c_width tau^3/m^2 + c_opt/tau, "
        "is minimised over tau >= 1, with c_stat, c_opt > 0, c_width >= 0, m, n > 0.",
        "g'(tau) = 0 iff 4 c_stat tau^5/(m n) + 3 c_width tau^4/m^2 = c_opt; the left side is "
        "strictly increasing, so the root tau_0 is unique and the minimiser is max(1, tau_0).",
        "The statement is the general case (any c_width >= 0; default c_stat = c_width = c_opt = 1), "
        "evaluated by Newton's method in mpmath (optimal_tau); for c_width = 0 the root has the closed "
        "form tau_0 = (c_opt m n / (4 c_stat))^(1/5) (the part 'closed form c_width = 0').",
        "With m proportional to n: tau* = Theta(n^(2/5)) and the optimal bound is of order "
        "n^(-2/5) + m^(-4/5) (Li et al. 2023, eq. 16).",
        "In a loop at failure probability delta the constants are those of the printed bound (lemma D4 at "
        "delta_i = delta/K): c_stat ell(delta_i)^k_delta, c_width ell(delta_i)^k_delta and c_opt, so tau* "
        "depends on delta and K as the bound does.",
    ),
    provenance="[Li23, derived]",
    latex=(r"\tau^* = \arg\min_{\tau \ge 1} \Big[ c_{\mathrm{stat}} \frac{\tau^4}{m n} + "
           r"c_{\mathrm{width}} \frac{\tau^3}{m^2} + \frac{c_{\mathrm{opt}}}{\tau} \Big] = \max(1, \tau_0), \quad "
           r"\frac{4 c_{\mathrm{stat}} \tau_0^5}{m n} + \frac{3 c_{\mathrm{width}} \tau_0^4}{m^2} = c_{\mathrm{opt}}; \quad "
           r"c_{\mathrm{width}} = 0: \ \tau_0 = \Big( \frac{c_{\mathrm{opt}} \, m n}{4 c_{\mathrm{stat}}} \Big)^{1/5}; "
           r"\quad m \propto n: \ \tau^* = \Theta(n^{2/5}), \ "
           r"\min_{\tau} \mathrm{KL} \lesssim n^{-2/5} + m^{-4/5}"),
    derivation="derivations/D2.md",
    source=("Li, Li, Zhang, Bian, NeurIPS 2023, Theorem 1 and eq. (16) (the early-stopping rate); "
            "the stationarity condition and its unique root are derived here."),
    quantities={"c_opt": "constant of the optimisation term 1/tau",
                "c_stat": "constant of the statistical term tau^4/(m n)",
                "c_width": "constant of the finite-width term tau^3/m^2 (default 1)",
                "m": "width (number of random features)",
                "n": "number of training samples"},
    numeric=_optimal_tau_numeric,
))


D3 = register(Lemma(
    id="D3",
    title="One generation of a diffusion model in a self-consuming loop",
    lhs=_TV(_p, _q),
    relation="<=",
    rhs=sp.Min(sp.sqrt(kl / 2), sp.sqrt(1 - sp.exp(-kl))),
    hypotheses=(
        "Generation i trains the random-feature diffusion model of D1 on a training set that, given the "
        "past (every earlier sample and model), is N_i i.i.d. draws of its training law q_i; KL_i is the "
        "D4 bound at n = N_i and delta_i = delta/K (with the chosen tau and m).",
        "Covered training sets: generation 1 (n_real draws of p0); one block of p0; replace (N_i fresh "
        "draws of p_(i-1)); mix and schedule drawn iid with fresh real data (each sample independently "
        "real with probability lambda_i, else from p_(i-1): i.i.d. draws of q_i = lambda_i p0 + "
        "(1 - lambda_i) p_(i-1)). Not covered, and refused: stratified mix/schedule sets of two laws, "
        "reused real data beside synthetic data, accumulate's kept blocks and subsamples of a pool.",
        "The constants of D1 hold uniformly for every q_i: each q_i must itself satisfy D1's "
        "hypotheses. This is an idealisation (a diffusion model's output has Gaussian tails, not "
        "compact support).",
        "Pinsker (TV <= sqrt(KL/2)) and Bretagnolle-Huber (TV <= sqrt(1 - e^(-KL))) both apply; the "
        "smaller is used. Each generation's D4 statement has failure probability delta/K given the past, "
        "so all K hold at once with probability >= 1 - delta (lemma C3).",
    ),
    provenance="[derived]",
    latex=(r"\varepsilon_i = \mathrm{TV}(p_i, q_i) \le \min\Big( \sqrt{\mathrm{KL}_i / 2}, \, "
           r"\sqrt{1 - e^{-\mathrm{KL}_i}} \Big), \quad \mathrm{KL}_i = \text{D4 bound at } n = N_i, \ "
           r"\delta_i = \delta / K"),
    derivation="derivations/D3.md",
    source=("Derived here from D1 (Li et al. 2023), Pinsker's inequality and the Bretagnolle-Huber "
            "inequality (Tsybakov 2009, Lemmas 2.5 and 2.6)."),
    quantities={"KL": "the D1 bound KL_i on KL(q_i || p_i) for generation i"},
))
