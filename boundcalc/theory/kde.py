"""Kernel-density-estimation lemmas K1, K1', K2, K3, K4 (docs/theory.md section 3.3).

Each lemma is registered in :data:`boundcalc.theory.lemma.CATALOGUE` on import and proved in
``derivations/<ID>.md``.  The computation of lemma K4's expected laws lives with the loop it
describes, in :mod:`boundcalc.model.kde_law`.

Notation: ``phi_h`` is the Gaussian kernel N(0, h^2 I_d); ``p * phi_h`` a convolution;
``f_hat(x) = (1/N) sum_j phi_h(x - X_j)`` the Gaussian kernel density estimate.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from boundcalc._checks import BoundcalcError, check_positive, check_positive_int
from boundcalc.theory.lemma import Lemma, register
from boundcalc.theory.notation import A, B, J, L, N, beta, d, h, i, kappa, lap, s1

__all__ = ["K1", "K1p", "K2", "K3", "K4", "optimal_bandwidth_expr"]

# --- placeholders used only in the left-hand sides (what is bounded) ----------------------
_p, _q, _K, _fhat = sp.symbols("p q K_kernel f_hat")
_L1 = sp.Function("L1norm")          # ||.||_1
_E = sp.Function("E")                # expectation
_conv = sp.Function("conv")          # convolution p * k
_phi = sp.Function("phi")            # Gaussian kernel phi_h
_Var = sp.Function("Var")
_r = sp.Function("r")                # expected law r_i of lemma K4


K1 = register(Lemma(
    id="K1",
    title="Bias of a Gaussian kernel smoother, explicit constant",
    lhs=_L1(_conv(_p, _phi(h)) - _p),
    relation="<=",
    rhs=h ** 2 / 2 * lap,
    hypotheses=(
        "p is a probability density on R^d whose second partial derivatives are integrable, "
        "so that its Laplacian has finite L1 norm Lambda = ||Delta p||_1.",
        "phi_h is the Gaussian kernel N(0, h^2 I_d), h > 0.",
    ),
    provenance="[derived]",
    latex=(r"\| p * \varphi_h - p \|_1 \le \frac{h^2}{2} \, \| \Delta p \|_1"),
    derivation="derivations/K1.md",
    source=("Derived here from the heat equation satisfied by Gaussian smoothing and Young's "
            "inequality (the heat-semigroup argument of e.g. Evans, Partial Differential Equations, "
            "2010, section 2.3)."),
    quantities={"h": "bandwidth of the Gaussian kernel",
                "Lambda": "||Delta p||_1, the L1 norm of the Laplacian of p"},
))


K1p = register(Lemma(
    id="K1p",
    title="Bias of a kernel smoother of order ell on an L1-Hoelder (Nikol'skii) class",
    lhs=_L1(_conv(_p, _K) - _p),
    relation="<=",
    rhs=L * h ** beta * kappa,
    hypotheses=(
        "ell is the largest integer strictly smaller than beta; p has ell derivatives and "
        "||p^(ell)(. + t) - p^(ell)||_1 <= L |t|^(beta - ell) for every t (Nikol'skii class "
        "N(beta, L) in L1).",
        "Any dimension d when beta <= 2 (ell <= 1; for ell = 1 the condition is on the gradient, "
        "int |grad p(x + t) - grad p(x)| dx <= L |t|^(beta - 1), |.| Euclidean); d = 1 when beta > 2.",
        "The kernel K integrates to 1, has order ell (int u^j K(u) du = 0 for 1 <= j <= ell) "
        "and a finite moment kappa = int |u|^beta |K(u)| du; K_h(u) = h^(-d) K(u / h), h > 0.",
    ),
    provenance="[classical]",
    latex=(r"\| p * K_h - p \|_1 \le L \, h^{\beta} \int |u|^{\beta} \, |K(u)| \, du"),
    derivation="derivations/K1p.md",
    source=("Tsybakov, Introduction to Nonparametric Estimation, 2009, section 1.2 "
            "(Nikol'skii classes, Proposition 1.5, stated there in L2); Devroye & Gyorfi, "
            "Nonparametric Density Estimation: the L1 View, 1985."),
    quantities={"L": "Nikol'skii (L1-Hoelder) constant of p",
                "h": "bandwidth",
                "beta": "smoothness exponent of the class",
                "kappa": "kernel moment int |u|^beta |K(u)| du"},
))


K2 = register(Lemma(
    id="K2",
    title="Expected L1 stochastic error of a Gaussian kernel density estimate",
    lhs=_E(_L1(_fhat - _E(_fhat))),
    relation="<=",
    rhs=(4 * sp.pi) ** (-d / 4) * (N * h ** d) ** sp.Rational(-1, 2) * J,
    hypotheses=(
        "X_1, ..., X_N are independent (not necessarily identically distributed) on R^d, "
        "X_j with density q_j; qbar = (1/N) sum_j q_j.",
        "f_hat(x) = (1/N) sum_j phi_h(x - X_j) with the Gaussian kernel phi_h = N(0, h^2 I_d).",
        "J = int sqrt(qbar * phi_{h/sqrt 2}) is finite (true when qbar has a finite moment of "
        "order > d; in d = 1, J <= sqrt(pi (1 + E_g X^2)) with g = qbar * phi_{h/sqrt 2}).",
    ),
    provenance="[derived]",
    latex=(r"\mathbb{E} \, \| \hat f - \mathbb{E} \hat f \|_1 \le (4\pi)^{-d/4} \, (N h^d)^{-1/2}"
           r" \int \sqrt{\bar q * \varphi_{h/\sqrt{2}}}"),
    derivation="derivations/K2.md",
    source=("Derived here (variance of the kernel estimate, Jensen, Fubini); the same route as "
            "Devroye & Gyorfi, Nonparametric Density Estimation: the L1 View, 1985, chapter 5."),
    quantities={"N": "number of independent samples",
                "h": "bandwidth of the Gaussian kernel",
                "d": "dimension",
                "J": "the integral int sqrt(qbar * phi_{h/sqrt 2}) of the average sample density"},
))


def optimal_bandwidth_expr():
    """The K3 minimiser ``h* = (d B / (2 beta A))^(2/(2 beta + d)) N^(-1/(2 beta + d))`` as sympy."""
    return (d * B / (2 * beta * A)) ** (2 / (2 * beta + d)) * N ** (-1 / (2 * beta + d))


_hvar = sp.Symbol("h_var", positive=True)  # the argument of the minimised function (lhs only)

K3 = register(Lemma(
    id="K3",
    title="Optimal bandwidth and rate of a kernel density estimate",
    lhs=sp.Function("argmin")(A * _hvar ** beta + B * (N * _hvar ** d) ** sp.Rational(-1, 2)),
    relation="=",
    rhs=optimal_bandwidth_expr(),
    hypotheses=(
        "The L1 error is bounded by A h^beta + B (N h^d)^(-1/2) with A, B > 0 independent of h "
        "(bias K1 or K1', stochastic term K2).",
        "beta > 0, d >= 1, N > 0; the minimum over h > 0 is then unique and the minimal value "
        "is proportional to N^(-beta/(2 beta + d)).",
    ),
    provenance="[classical]",
    latex=(r"\arg\min_{h>0} \Big[ A h^{\beta} + B (N h^d)^{-1/2} \Big] = "
           r"\Big( \frac{d B}{2 \beta A} \Big)^{2/(2\beta+d)} N^{-1/(2\beta+d)}, \quad "
           r"\min_{h>0} \Big[ A h^{\beta} + B (N h^d)^{-1/2} \Big] \propto N^{-\beta/(2\beta+d)}"),
    derivation="derivations/K3.md",
    source=("Tsybakov, Introduction to Nonparametric Estimation, 2009, section 1.2 (bias-variance "
            "balance); Devroye & Gyorfi 1985, chapter 5."),
    quantities={"A": "bias coefficient (A h^beta)",
                "B": "stochastic coefficient (B (N h^d)^(-1/2))",
                "beta": "bias exponent (2 for the Gaussian kernel)",
                "d": "dimension",
                "N": "sample size"},
))


K4 = register(Lemma(
    id="K4",
    title="Exact expected dynamics of a Gaussian-KDE self-consuming loop",
    lhs=_Var(_r(i)),
    relation="=",
    rhs=s1 ** 2 + i * h ** 2,
    hypotheses=(
        "Generation i fits a Gaussian KDE with fixed bandwidth h to its training set and samples "
        "it by picking a training point uniformly and adding h Z, Z ~ N(0, I_d).",
        "r_i is the law of one synthetic sample of generation i averaged over all randomness; "
        "with lam_i the real fraction of generation i, r_1 = p_0 * phi_h and "
        "r_i = (lam_i p_0 + (1 - lam_i) r_{i-1}) * phi_h (in general r_i = (sum_j w_ij r_j) * phi_h "
        "with the scheme's plan weights and r_0 = p_0).",
        "The evaluable right-hand side is the replace scheme (lam_i = 0) with p_0 = N(mu, sigma_1^2) "
        "in d = 1: r_i = N(mu, sigma_1^2 + i h^2).",
        "For constant lam the laws converge to sum_{k>=1} lam (1-lam)^(k-1) p_0 * phi_{h sqrt k}; "
        "TV(r_i, p_0) <= E TV(p_i, p_0) by convexity of TV (a lower reference).",
    ),
    provenance="[derived]",
    latex=(r"r_1 = p_0 * \varphi_h, \quad r_i = \big(\lambda_i p_0 + (1-\lambda_i) r_{i-1}\big) * \varphi_h; "
           r"\quad p_0 = N(\mu, \sigma^2), \ \lambda_i = 0: \ r_i = N(\mu, \sigma^2 + i h^2); "
           r"\quad \lambda_i = \lambda: \ r_i \to \sum_{k \ge 1} \lambda (1-\lambda)^{k-1} \, p_0 * \varphi_{h\sqrt{k}}; "
           r"\quad \mathrm{TV}(r_i, p_0) \le \mathbb{E}\, \mathrm{TV}(p_i, p_0)"),
    derivation="derivations/K4.md",
    source="Derived here (law of a resampled-and-jittered point; Gaussian convolution algebra; Jensen).",
    quantities={"sigma_1": "standard deviation of p0 = N(mu, sigma_1^2)",
                "i": "generation index",
                "h": "bandwidth of the Gaussian kernel"},
))
