"""Expected error of a Gaussian-KDE self-consuming loop: lemmas KE1, KE2, KE3, KE4.

These are theorems *in expectation* about ``a_i = TV(p_i, p_0)``; they need no deviation term and
no union bound, so they compose linearly through the generations.

* KE1 [derived]: lemma K2 at a *random* training law: the K2 integral may be taken at the expected
  law, because ``J(q) = int sqrt(q * phi_{h/sqrt 2})`` is concave in q (Jensen).
* KE2 [derived]: the linear composition ``E a_i <= b(h) + E s_i + sum_j w_ij E a_j``.
* KE3 [derived]: variance propagation: ``E a_i <= TV(r_i, p_0) + (1/2) int sqrt(V_i)``, with r_i the
  exact expected law (lemma K4) and V_i a pointwise bound on ``E (p_i - r_i)^2`` obtained from the
  block structure of the loop (the block deviations are martingale differences, so their squares
  add instead of their norms).
* KE4 [classical]: the product of two Gaussian kernels is a Gaussian kernel times a constant.
* KE5 [derived]: a probability-(1 - delta) bound from KE3 and one martingale over the whole loop
  (Azuma-Hoeffding with conditional ranges ``2 m_{i,beta} / N_beta``): no per-generation triangle
  inequality, no realised K2 integral, no smoothness of p_0.

The block bookkeeping (which kernel each block's deviation reaches generation i through) is in
:mod:`boundcalc.model.kde_blocks`; the numbers in :mod:`boundcalc.bounds.kde_expected`.
"""

from __future__ import annotations

import mpmath
import sympy as sp

from boundcalc.theory.lemma import Lemma, register
from boundcalc.theory.notation import A_w, I_V, J, K, N, Q_mass, S_stoch, T_r, d, delta, h, lap, sa2, sb2

__all__ = ["KE1", "KE2", "KE3", "KE4", "KE5", "gaussian_product"]

# --- placeholders of the left-hand sides (never evaluated) -----------------------------------------
_E = sp.Function("E")
_L1 = sp.Function("L1norm")
_TV = sp.Function("TV")
_fhat, _q, _p0 = sp.symbols("f_hat q p_0")
_conv = sp.Function("conv")
_phi = sp.Function("phi")
_a_i = sp.Symbol("a_i")

KE1 = register(Lemma(
    id="KE1",
    title="Expected L1 deviation of a kernel estimate fitted to a random training law",
    lhs=_E(_L1(_fhat - _conv(_q, _phi(h)))),
    relation="<=",
    rhs=(4 * sp.pi) ** (-d / 4) * (N * h ** d) ** sp.Rational(-1, 2) * J,
    hypotheses=(
        "q is a random probability density on R^d (a mixture of earlier outputs of the loop); given q, "
        "X_1, ..., X_N are independent, X_k with density q_k, and q = (1/N) sum_k q_k.",
        "f_hat = (1/N) sum_k phi_h(. - X_k) with the Gaussian kernel phi_h = N(0, h^2 I_d), h > 0.",
        "J = int sqrt(E[q] * phi_{h/sqrt 2}) < infinity, with E[q] the expected (unconditional) law.",
    ),
    provenance="[derived]",
    latex=(r"\mathbb{E} \, \| \hat f - q * \varphi_h \|_1 \le (4\pi)^{-d/4} \, (N h^d)^{-1/2}"
           r" \int \sqrt{\mathbb{E}[q] * \varphi_{h/\sqrt{2}}}"),
    derivation="derivations/KE1.md",
    source="Derived here: lemma K2 conditionally on q, then Jensen's inequality for the concave map "
           "q -> int sqrt(q * phi_{h/sqrt 2}).",
    quantities={"N": "number of samples, independent given q",
                "h": "bandwidth", "d": "dimension",
                "J": "the K2 integral of the expected training law E[q]"},
))


KE2 = register(Lemma(
    id="KE2",
    title="Expected TV of a Gaussian-KDE loop, linear composition over generations",
    lhs=_E(_a_i),
    relation="<=",
    rhs=h ** 2 / 4 * lap + S_stoch + A_w,
    hypotheses=(
        "p_0 is a density on R^d with integrable second derivatives, Lambda = ||Delta p_0||_1 (lemma K1).",
        "Generation i fits a Gaussian KDE with bandwidth h_i to a training set made of blocks; a block "
        "of N_b samples of source s (p_0, or the output p_s of generation s) drawn when generation g is "
        "built is, given everything drawn before it, N_b independent draws of p_s (reused real data "
        "and accumulate's kept blocks are such blocks, drawn once and used again).",
        "The blocks of generation i are grouped by the generation g at which they were drawn; a group G "
        "of N_G samples has expected law rbar_G = sum_{b in G} (N_b / N_G) r_{s_b}, with r_s the "
        "expected law of lemma K4 (r_0 = p_0).",
        "S = sum_G (N_G / N_i) (1/2) (4 pi)^(-d/4) (N_G h^d)^(-1/2) J(rbar_G) (lemma KE1, halved for "
        "TV); w_ij are the plan weights and Abar_j the bound of generation j (Abar_j >= E a_j).",
    ),
    provenance="[derived]",
    latex=(r"\mathbb{E}\, a_i \le \frac{h^2}{4} \| \Delta p_0 \|_1 + \sum_{G} \frac{N_G}{N_i} \, \frac{1}{2} "
           r"(4\pi)^{-d/4} (N_G h^d)^{-1/2} \int \sqrt{\bar r_G * \varphi_{h/\sqrt{2}}} "
           r"+ \sum_{j=1}^{i-1} w_{ij} \, \bar A_j"),
    derivation="derivations/KE2.md",
    source="Derived here (triangle inequality through p_0 * phi_h, contraction of TV under "
           "convolution, convexity of TV, lemmas K1 and KE1, linearity of expectation).",
    quantities={"h": "bandwidth of generation i",
                "Lambda": "||Delta p_0||_1",
                "S_stoch": "the expected stochastic term: sum over groups of halved KE1 terms",
                "A_w": "sum_j w_ij Abar_j, the weighted bounds of earlier generations"},
))


KE3 = register(Lemma(
    id="KE3",
    title="Expected TV of a Gaussian-KDE loop by propagation of block variances",
    lhs=_E(_a_i),
    relation="<=",
    rhs=T_r + I_V / 2,
    hypotheses=(
        "Generation i fits a Gaussian KDE with bandwidth h_i to a training set made of blocks; a block "
        "beta of N_beta samples of source s_beta (p_0, or an earlier output p_s) is, given everything "
        "drawn before it, N_beta independent draws of p_{s_beta}; a block used by several generations "
        "(reused real data, accumulate's kept blocks) is one block.",
        "r_i is the expected law of lemma K4 (r_0 = p_0); G_{i,beta} is the deterministic kernel through "
        "which block beta reaches p_i: G_{i,beta} = w_{i,beta} phi_{h_i} [beta in plan i] + "
        "sum_{b in plan i, s_b >= 1} w_{i,b} G_{s_b,beta} * phi_{h_i}, a nonnegative combination of "
        "Gaussian kernels.",
        "V_i = sum_beta N_beta^(-1) [ r_{s_beta} * G_{i,beta}^2 - (r_{s_beta} * G_{i,beta})^2 ] (squares "
        "of Gaussian kernels by lemma KE4); p_0 is any probability density (no smoothness needed).",
        "T_r = TV(r_i, p_0) and I_V = int sqrt(V_i), both integrals of explicit Gaussian mixtures.",
    ),
    provenance="[derived]",
    latex=(r"\mathbb{E}\, a_i \le \mathrm{TV}(r_i, p_0) + \frac{1}{2} \int \sqrt{V_i}, \quad "
           r"V_i = \sum_{\beta} \frac{1}{N_\beta} \Big[ r_{s_\beta} * G_{i,\beta}^2 - "
           r"\big(r_{s_\beta} * G_{i,\beta}\big)^2 \Big]"),
    derivation="derivations/KE3.md",
    source="Derived here (the block deviations of the loop are martingale differences; orthogonality, "
           "Jensen pointwise, Fubini; lemma K4 for the mean).",
    quantities={"T_r": "TV(r_i, p_0), the exact bias of the expected law",
                "I_V": "int sqrt(V_i), the integral of the propagated standard deviation"},
))


KE4 = register(Lemma(
    id="KE4",
    title="Product of two Gaussian kernels",
    lhs=_phi(sp.sqrt(sa2)) * _phi(sp.sqrt(sb2)) / _phi(sp.sqrt(sa2 * sb2 / (sa2 + sb2))),
    relation="=",
    rhs=(2 * sp.pi * (sa2 + sb2)) ** (-d / 2),
    hypotheses=(
        "phi_s is the density of N(0, s^2 I_d); the identity holds pointwise for every u in R^d.",
        "sigma_a^2, sigma_b^2 > 0 are the variances of the two kernels.",
    ),
    provenance="[classical]",
    latex=(r"\varphi_{\sigma_a}(u) \, \varphi_{\sigma_b}(u) = \big(2\pi(\sigma_a^2 + \sigma_b^2)\big)^{-d/2} "
           r"\, \varphi_{\tau}(u), \quad \tau^2 = \frac{\sigma_a^2 \sigma_b^2}{\sigma_a^2 + \sigma_b^2}"),
    derivation="derivations/KE4.md",
    source="Completing the square in the exponent (e.g. Bromiley 2003, 'Products and convolutions of "
           "Gaussian probability density functions').",
    quantities={"sigma_a2": "variance of the first kernel", "sigma_b2": "variance of the second kernel",
                "d": "dimension"},
))

KE5 = register(Lemma(
    id="KE5",
    title="Probability-(1 - delta) bound of a Gaussian-KDE loop by one martingale over the loop",
    lhs=_a_i,
    relation="<=",
    rhs=T_r + I_V / 2 + sp.sqrt(2 * sp.log(K / delta) * Q_mass) / 2,
    hypotheses=(
        "The loop, blocks and kernels G_{i,beta} of lemma KE3 (every scheme; reused and kept blocks are one "
        "block each); p_0 is any probability density that can be sampled as a function of independent "
        "variables (e.g. a component label and a standard normal); no smoothness is needed.",
        "A sample of generation s is T_s[index] + h_s Z with an index uniform on the training set T_s and Z "
        "standard normal, both independent of everything else (the KDE sampler).",
        "m_{i,beta} = int G_{i,beta} (the total weight of the kernel) and Q_i = sum_beta m_{i,beta}^2 / N_beta; "
        "T_r = TV(r_i, p_0) and I_V = int sqrt(V_i) as in KE3.",
        "With probability at least 1 - delta the bound holds for every generation i <= K at once (one event per "
        "generation at level delta / K, lemma C3).",
    ),
    provenance="[derived]",
    latex=(r"a_i \le \mathrm{TV}(r_i, p_0) + \frac{1}{2} \int \sqrt{V_i} + \frac{1}{2} \sqrt{2 \ln(K/\delta) \, Q_i}"
           r" \ \forall i \le K \text{ with probability} \ge 1 - \delta, \quad "
           r"Q_i = \sum_{\beta} \frac{m_{i,\beta}^2}{N_\beta}, \quad m_{i,\beta} = \int G_{i,\beta}"),
    derivation="derivations/KE5.md",
    source="Derived here (lemma KE3 for the mean; Doob martingale of ||p_i - r_i||_1 over the independent "
           "variables of the loop in drawing order, conditional ranges by coupling the future, and the "
           "Azuma-Hoeffding inequality as in the proof of McDiarmid's inequality C1; lemma C3).",
    quantities={"T_r": "TV(r_i, p_0), the exact bias of the expected law",
                "I_V": "int sqrt(V_i) of lemma KE3",
                "Q_mass": "sum over blocks of the squared kernel mass over the block size",
                "K": "number of generations", "delta": "total failure probability"},
))

#: the variance tau^2 of KE4's product kernel, as sympy (the lemma's rhs is the constant)
PRODUCT_VARIANCE = sa2 * sb2 / (sa2 + sb2)
_product_variance = sp.lambdify((sa2, sb2), PRODUCT_VARIANCE, modules="mpmath")


def gaussian_product(var_a, var_b, dim) -> tuple[float, float]:
    """Lemma KE4: ``phi_a phi_b = const * phi_tau``; returns ``(const, tau^2)`` as floats [classical]."""
    const = KE4.evaluate(sigma_a2=var_a, sigma_b2=var_b, d=dim)
    with mpmath.workdps(30):
        tau2 = _product_variance(mpmath.mpf(var_a), mpmath.mpf(var_b))
    return float(const), float(tau2)
