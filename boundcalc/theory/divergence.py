"""Divergence algebra (docs/theory.md section 3.1, with the 1-D Gaussian TV): lemmas T1, T2, T3, T4, T4p, GTV.

All six are classical facts about the total-variation distance
``TV(P, Q) = sup_A |P(A) - Q(A)| = (1/2) int |p - q|`` and the Kullback-Leibler divergence
``KL(P || Q) = int p log(p / q)``.  Each lemma is registered in :data:`boundcalc.theory.lemma.CATALOGUE`
on import; its proof is in ``derivations/<ID>.md`` and is machine-checked in
``tests/test_lemmas_divergence.py``.

Numeric interface (keyword names are symbol names; every value is range-checked and a bad one
raises :class:`boundcalc._checks.BoundcalcError` naming the parameter and its range):

* ``T1.evaluate(**{"lambda": lam, "TV": tv_r})``  -> ``(1 - lam) tv_r``;
* ``T2.evaluate(TV=tv_pq, a_prev=tv_qr)``          -> ``tv_pq + tv_qr``;
* ``T3.evaluate(TV=tv_pq)``                        -> ``tv_pq``;
* ``T4.evaluate(KL=kl)``                           -> ``sqrt(kl / 2)`` (Pinsker);
* ``T4p.evaluate(KL=kl)``                          -> ``sqrt(1 - exp(-kl))`` (Bretagnolle-Huber);
* ``GTV.evaluate(sigma_1=s1, sigma_2=s2)``         -> exact TV of N(mu, s1^2) and N(mu, s2^2).

:func:`tv_bound_from_kl` returns the better of T4 and T4p; :data:`PINSKER_BH_CROSSOVER` is the KL
value above which Bretagnolle-Huber is the smaller bound.
"""

from __future__ import annotations

import math

import mpmath
import sympy as sp

from boundcalc._checks import BoundcalcError, check_range
from boundcalc.theory.lemma import Lemma, register
from boundcalc.theory.notation import a_prev, kl, lam, s1, s2, tv

__all__ = [
    "T1", "T2", "T3", "T4", "T4p", "GTV",
    "tv_bound_from_kl", "gaussian_tv_1d", "PINSKER_BH_CROSSOVER",
]

# Placeholders used only in the left-hand sides (what is bounded); never evaluated.
TV_of = sp.Function("TV")
KL_of = sp.Function("KL")
Normal = sp.Function("Normal")
p0, r = sp.symbols("p0 r")
P, Q, R = sp.symbols("P Q R")
kernel = sp.Symbol("kernel")
mu = sp.Symbol("mu", real=True)

WORKING_DPS = 30


_TV_RANGE = {"TV": (0, 1, True, True), "a_prev": (0, 1, True, True)}
_KL_RANGE = {"KL": (0, math.inf, True, False)}

# --- T1: mixture identity -----------------------------------------------------------------------
_T1_RHS = (1 - lam) * tv
T1 = register(Lemma(
    id="T1",
    title="Mixture identity for the total-variation distance",
    lhs=TV_of(lam * p0 + (1 - lam) * r, p0),
    relation="=",
    rhs=_T1_RHS,
    hypotheses=(
        "p0 and r are probability distributions on the same space.",
        "0 < lambda <= 1 is the weight of p0 in the mixture.",
        "Corollary (convexity): TV(sum_j w_j r_j, p0) <= sum_j w_j TV(r_j, p0) for weights "
        "w_j >= 0 summing to 1.",
    ),
    provenance="[classical]",
    latex=r"\mathrm{TV}\big(\lambda p_0 + (1-\lambda) r,\ p_0\big) = (1-\lambda)\,\mathrm{TV}(r, p_0)",
    derivation="derivations/T1.md",
    source="Direct computation from the definition TV = (1/2) int |p - q|; see e.g. Tsybakov 2009, "
           "Introduction to Nonparametric Estimation, section 2.4.",
    quantities={
        "lambda": "weight of the real distribution p0 in the mixture (real fraction), in (0, 1]",
        "TV": "TV(r, p0): distance of the other mixture component r from p0, in [0, 1]",
    },
    ranges=_TV_RANGE,
))

# --- T2: triangle inequality --------------------------------------------------------------------
_T2_RHS = tv + a_prev
T2 = register(Lemma(
    id="T2",
    title="Triangle inequality for the total-variation distance",
    lhs=TV_of(P, R),
    relation="<=",
    rhs=_T2_RHS,
    hypotheses=(
        "P, Q and R are probability distributions on the same measurable space.",
    ),
    provenance="[classical]",
    latex=r"\mathrm{TV}(P, R) \le \mathrm{TV}(P, Q) + \mathrm{TV}(Q, R)",
    derivation="derivations/T2.md",
    source="TV is half the L1 distance, a metric; see e.g. Tsybakov 2009, Introduction to "
           "Nonparametric Estimation, section 2.4.",
    quantities={
        "TV": "TV(P, Q), the first leg, in [0, 1] (in the replace loop: P = p_i, Q = q_i = p_{i-1}, "
              "so this is the learning error epsilon_i)",
        "a_prev": "TV(Q, R), the second leg, in [0, 1] (in the replace loop: Q = p_{i-1}, R = p0, "
                  "so this is a_{i-1})",
    },
    ranges=_TV_RANGE,
))

# --- T3: a Markov kernel (in particular a convolution) contracts TV -----------------------------
_T3_RHS = tv
T3 = register(Lemma(
    id="T3",
    title="A Markov kernel, in particular convolution with a density, contracts TV",
    lhs=TV_of(sp.Function("Conv")(P, kernel), sp.Function("Conv")(Q, kernel)),
    relation="<=",
    rhs=_T3_RHS,
    hypotheses=(
        "P and Q are probability distributions on the same space.",
        "The kernel maps each point y to a probability distribution K(. | y); convolution with a "
        "probability density g (for instance the Gaussian phi_h) is the case K(x | y) = g(x - y).",
    ),
    provenance="[classical]",
    latex=r"\mathrm{TV}(P \mathcal{K},\ Q \mathcal{K}) \le \mathrm{TV}(P, Q), \quad \text{in particular} "
          r"\quad \mathrm{TV}(P * \varphi_h,\ Q * \varphi_h) \le \mathrm{TV}(P, Q)",
    derivation="derivations/T3.md",
    source="Data-processing inequality for f-divergences; see e.g. Tsybakov 2009, Introduction to "
           "Nonparametric Estimation, section 2.4, or Devroye & Gyorfi 1985, Nonparametric Density "
           "Estimation: The L1 View.",
    quantities={"TV": "TV(P, Q) before the kernel is applied, in [0, 1]"},
    ranges=_TV_RANGE,
))

# --- T4: Pinsker ------------------------------------------------------------------------------------
_T4_RHS = sp.sqrt(kl / 2)
T4 = register(Lemma(
    id="T4",
    title="Pinsker's inequality",
    lhs=TV_of(P, Q),
    relation="<=",
    rhs=_T4_RHS,
    hypotheses=(
        "P and Q are probability distributions on the same space and KL(P || Q) is finite "
        "(TV is symmetric, so KL(Q || P) may be used instead).",
        "Vacuous (>= 1) when KL >= 2; a bound from a KL bound should take the minimum of T4 "
        "and T4p (Bretagnolle-Huber), which is smaller once KL exceeds about 1.5936.",
    ),
    provenance="[classical]",
    latex=r"\mathrm{TV}(P, Q) \le \sqrt{\mathrm{KL}(P \,\|\, Q) / 2}",
    derivation="derivations/T4.md",
    source="Pinsker 1964; Csiszar 1967; Kullback 1967. Textbook: Tsybakov 2009, Introduction to "
           "Nonparametric Estimation, Lemma 2.5; Cover & Thomas 2006, Lemma 11.6.1.",
    quantities={"KL": "KL(P || Q), in nats, >= 0"},
    ranges=_KL_RANGE,
))

# --- T4p: Bretagnolle-Huber -------------------------------------------------------------------------
_T4P_RHS = sp.sqrt(1 - sp.exp(-kl))
T4p = register(Lemma(
    id="T4p",
    title="Bretagnolle-Huber inequality (square-root form)",
    lhs=TV_of(P, Q),
    relation="<=",
    rhs=_T4P_RHS,
    hypotheses=(
        "P and Q are probability distributions on the same space and KL(P || Q) is finite "
        "(TV is symmetric, so KL(Q || P) may be used instead).",
        "Smaller than Pinsker's bound (T4) if and only if KL > 2 + W_0(-2 exp(-2)) = 1.5936...; "
        "always below 1.",
    ),
    provenance="[classical]",
    latex=r"\mathrm{TV}(P, Q) \le \sqrt{1 - e^{-\mathrm{KL}(P \,\|\, Q)}}",
    derivation="derivations/T4p.md",
    source="Bretagnolle & Huber 1979; Le Cam's inequality TV^2 <= 1 - (int sqrt(pq))^2 "
           "(Le Cam 1973). Textbook: Tsybakov 2009, Introduction to Nonparametric Estimation, "
           "section 2.4.",
    quantities={"KL": "KL(P || Q), in nats, >= 0"},
    ranges=_KL_RANGE,
))

#: KL value where Pinsker and Bretagnolle-Huber give the same TV bound: 2 + W_0(-2 e^-2).
PINSKER_BH_CROSSOVER = float(2 + mpmath.lambertw(-2 * mpmath.exp(-2), 0).real)


def tv_bound_from_kl(kl_value) -> mpmath.mpf:
    """Best TV bound from a KL bound: ``min(sqrt(KL/2), sqrt(1 - exp(-KL)))`` (T4, T4p) [classical].

    Pinsker is the smaller of the two for ``KL < PINSKER_BH_CROSSOVER`` (about 1.5936),
    Bretagnolle-Huber above it.  ``kl_value`` must be in [0, inf).
    """
    return min(T4.evaluate(KL=kl_value), T4p.evaluate(KL=kl_value))


# --- GTV: exact TV of two centred 1-D Gaussians -----------------------------------------------------
_GTV_X0 = s1 * s2 * sp.sqrt(2 * sp.log(s2 / s1) / (s2**2 - s1**2))
_GTV_RHS = sp.erf(_GTV_X0 / (sp.sqrt(2) * s1)) - sp.erf(_GTV_X0 / (sp.sqrt(2) * s2))
_gtv_function = sp.lambdify((s1, s2), _GTV_RHS, modules="mpmath")


def gaussian_tv_1d(sigma_1, sigma_2) -> mpmath.mpf:
    """Exact ``TV(N(mu, sigma_1^2), N(mu, sigma_2^2))`` in 1-D [classical].

    .. math:: x_0 = \\sigma_1 \\sigma_2 \\sqrt{2 \\ln(\\sigma_2/\\sigma_1) / (\\sigma_2^2 - \\sigma_1^2)},
              \\quad \\mathrm{TV} = 2 (\\Phi(x_0/\\sigma_1) - \\Phi(x_0/\\sigma_2))

    for ``sigma_1 < sigma_2``.  TV is symmetric, so the two scales may be given in either order
    (they are sorted); equal scales give 0.  Evaluated in mpmath at 30 digits.
    """
    check_range("sigma_1", sigma_1, 0, math.inf, False, False)
    check_range("sigma_2", sigma_2, 0, math.inf, False, False)
    with mpmath.workdps(WORKING_DPS):
        a, b = sorted((mpmath.mpmathify(sigma_1), mpmath.mpmathify(sigma_2)))
        if a == b:
            return mpmath.mpf(0)
        return mpmath.mpf(_gtv_function(a, b))


def _gtv_numeric(**values):
    missing = [name for name in ("sigma_1", "sigma_2") if name not in values]
    if missing:
        raise BoundcalcError(f"lemma GTV needs values for: {', '.join(missing)}")
    return gaussian_tv_1d(values["sigma_1"], values["sigma_2"])


GTV = register(Lemma(
    id="GTV",
    title="Total-variation distance between two 1-D Gaussians with the same mean",
    lhs=TV_of(Normal(mu, s1**2), Normal(mu, s2**2)),
    relation="=",
    rhs=_GTV_RHS,
    hypotheses=(
        "Both distributions are 1-D Gaussians with the same mean mu.",
        "0 < sigma_1 < sigma_2 (the formula as written; evaluate() sorts the two scales, since TV "
        "is symmetric, and returns 0 for equal scales).",
    ),
    provenance="[classical]",
    latex=r"\mathrm{TV}\big(\mathcal{N}(\mu, \sigma_1^2),\ \mathcal{N}(\mu, \sigma_2^2)\big) "
          r"= 2\Big(\Phi\big(x_0/\sigma_1\big) - \Phi\big(x_0/\sigma_2\big)\Big), \quad "
          r"x_0 = \sigma_1 \sigma_2 \sqrt{\frac{2 \ln(\sigma_2/\sigma_1)}{\sigma_2^2 - \sigma_1^2}}, "
          r"\quad 0 < \sigma_1 < \sigma_2",
    derivation="derivations/GTV.md",
    source="Direct computation through Scheffe's identity TV(P, Q) = P(A) - Q(A), A = {p > q} "
           "(Scheffe 1947; Devroye & Gyorfi 1985, Nonparametric Density Estimation: The L1 View, "
           "chapter 1), applied to the two crossing points of the Gaussian densities.",
    quantities={
        "sigma_1": "the smaller standard deviation, > 0",
        "sigma_2": "the larger standard deviation, > sigma_1",
    },
    numeric=_gtv_numeric,
))
