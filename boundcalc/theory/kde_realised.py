"""A proven high-probability bound on the *realised* K2 integral of a Gaussian-KDE loop (d = 1):
lemmas KR1, KR2, KR3, KR4, KR5.

The K2 integral ``J(q) = int sqrt(q * phi_{h/sqrt 2})`` of generation i depends on the realised
training law q_i (a mixture of p_0 and earlier fitted KDEs), which is random.  The route:

* KR1 [derived]: ``J(g) <= (4 pi^2 E_g (X - c)^2)^(1/4)`` for any density g on R and any c
  (Cauchy-Schwarz with the Cauchy weight at its best scale);
* KR2 [classical]: Bernstein's inequality for independent variables bounded above;
* KR3 [classical]: ``max_k |Z_k| <= sqrt 2 erfc^{-1}(delta / N)`` with probability >= 1 - delta for
  N standard normal variables (union bound);
* KR4 [derived]: with probability >= 1 - delta_J, every training law's second moment about c is
  below a recursively computed M_i (radius events by KR3, truncated Bernstein by KR2, one pair of
  events per distinct block, lemma C3), so ``J(q_i) <= (4 pi^2 (M_i + h_i^2/2))^(1/4)``;
* KR5 [derived]: the a-priori KDE bound with that J: probability >= 1 - delta, delta split in halves
  between the deviation events (C2) and the moment events (KR4).

The recursion over blocks is in :mod:`boundcalc.bounds.kde_expected`.
"""

from __future__ import annotations

import math

import mpmath
import sympy as sp

from boundcalc.theory.lemma import Lemma, register
from boundcalc.theory.notation import A_w, J_hat, K, M_hat, N, b_B, d, delta, h, lap, m_c, v_B

__all__ = ["KR1", "KR2", "KR3", "KR4", "KR5"]

_E = sp.Function("E")
_Pr = sp.Function("Pr")
_Jf = sp.Function("J")
_g, _q = sp.symbols("g q")
_max_abs_z = sp.Symbol("max_k|Z_k|")
_mean_dev = sp.Symbol("(1/N)sum_k(Y_k-EY_k)")
_a_i = sp.Symbol("a_i")

KR1 = register(Lemma(
    id="KR1",
    title="Second-moment bound on the K2 integral (d = 1)",
    lhs=_Jf(_g),
    relation="<=",
    rhs=(4 * sp.pi ** 2 * m_c) ** sp.Rational(1, 4),
    hypotheses=(
        "g is a probability density on R (d = 1) and c a real number; m_c = E_g (X - c)^2 is finite "
        "and > 0.",
        "J(g) = int sqrt(g); applied to g = q * phi_{h/sqrt 2}, m_c = E_q (X - c)^2 + h^2/2.",
    ),
    provenance="[derived]",
    latex=r"\int \sqrt{g} \le \big(4 \pi^2 \, \mathbb{E}_g (X - c)^2\big)^{1/4}",
    derivation="derivations/KR1.md",
    source="Derived here (Cauchy-Schwarz against the Cauchy weight (1 + (x - c)^2 / a^2)^(-1), "
           "a = sqrt(m_c)); the same device as the moment closure of lemma K2.",
    quantities={"m_c": "second moment of g about c"},
))


KR2 = register(Lemma(
    id="KR2",
    title="Bernstein's inequality for independent variables bounded above",
    lhs=_mean_dev,
    relation="<=",
    rhs=sp.sqrt(2 * v_B * sp.log(1 / delta) / N) + b_B * sp.log(1 / delta) / (3 * N),
    hypotheses=(
        "Y_1, ..., Y_N are independent (not necessarily identically distributed), Y_k <= b.",
        "v = (1/N) sum_k E[Y_k^2] (non-centred second moments; a bound on it may be used).",
        "The inequality holds with probability at least 1 - delta, 0 < delta < 1; conditionally on a "
        "sigma-field given which the Y_k are independent, with v then the conditional quantity.",
    ),
    provenance="[classical]",
    latex=(r"\frac{1}{N} \sum_{k=1}^{N} \big(Y_k - \mathbb{E} Y_k\big) \le \sqrt{\frac{2 v \ln(1/\delta)}{N}}"
           r" + \frac{b \ln(1/\delta)}{3 N} \quad \text{with probability at least } 1 - \delta"),
    derivation="derivations/KR2.md",
    source="Bernstein 1927; Boucheron, Lugosi & Massart 2013, Concentration Inequalities, "
           "Theorem 2.10 and Corollary 2.11.",
    quantities={"v_B": "average non-centred second moment (1/N) sum E Y_k^2",
                "b_B": "upper bound of every Y_k",
                "N": "number of variables", "delta": "failure probability"},
))


KR3 = register(Lemma(
    id="KR3",
    title="Maximum of N standard normal variables",
    lhs=_max_abs_z,
    relation="<=",
    rhs=sp.sqrt(2) * sp.erfcinv(delta / N),
    hypotheses=(
        "Z_1, ..., Z_N are standard normal (any dependence), N >= 1.",
        "The inequality holds with probability at least 1 - delta, 0 < delta < 1 (P(|Z| > z) = "
        "erfc(z / sqrt 2) and a union bound over the N variables).",
    ),
    provenance="[classical]",
    latex=(r"\max_{k \le N} |Z_k| \le \sqrt{2} \, \operatorname{erfc}^{-1}(\delta / N) "
           r"\quad \text{with probability at least } 1 - \delta"),
    derivation="derivations/KR3.md",
    source="Boole's inequality and the normal tail P(|Z| > z) = erfc(z / sqrt 2); e.g. Boucheron, "
           "Lugosi & Massart 2013, section 2.5.",
    quantities={"N": "number of standard normal variables", "delta": "failure probability"},
    ranges={"N": (1, math.inf, True, False)},
    numeric=lambda **v: _normal_max_radius(**v),
))


def _normal_max_radius(N, delta):
    """``sqrt 2 erfc^{-1}(delta / N)`` in mpmath (which has no erfcinv): ``erfinv(1 - y)`` at enough
    digits that ``1 - y`` keeps the 30 significant digits of y, then rounded to 30 digits."""
    from boundcalc._checks import check_probability, check_range
    check_probability("delta", delta)
    check_range("N", N, 1, math.inf, True, False)
    with mpmath.workdps(30):
        y = mpmath.mpf(delta) / mpmath.mpf(N)
        digits = 40 + int(-mpmath.log10(y))
    with mpmath.workdps(digits):
        z = mpmath.sqrt(2) * mpmath.erfinv(1 - mpmath.mpf(delta) / mpmath.mpf(N))
    with mpmath.workdps(30):
        return +z


KR4 = register(Lemma(
    id="KR4",
    title="High-probability bound on the realised K2 integral of a KDE loop (d = 1)",
    lhs=_Jf(_q),
    relation="<=",
    rhs=(4 * sp.pi ** 2 * (M_hat + h ** 2 / 2)) ** sp.Rational(1, 4),
    hypotheses=(
        "d = 1. p_0 has finite second moment m_0 = E_{p_0} (X - c)^2 about a fixed c and a known radius "
        "tail: for a Gaussian mixture sum_m pi_m N(mu_m, s_m^2), |X - c| <= rho + s_max |Z| with "
        "rho = max_m |mu_m - c|, Z standard normal.",
        "Generation s fits a Gaussian KDE with bandwidth h_s to its training set T_s (a sample of it is "
        "a uniformly chosen point of T_s plus h_s Z); a block beta of N_beta samples of source s_beta is, "
        "given everything drawn before it, N_beta independent draws of p_{s_beta}; reused blocks count once.",
        "Recursion over the B distinct blocks that feed a later generation, each with two events at "
        "level delta_J / (2B) (lemma C3), L = ln(2B / delta_J): radius R_beta = rho + s_max z_beta "
        "(source 0) or max_{b in plan s} R_b + h_s z_beta (source s >= 1), z_beta = sqrt 2 erfc^-1("
        "delta_J / (2 B N_beta)) (KR3); m_hat_0 = m_0, m_hat_s = sum_{b in plan s} w_{sb} S_hat_b + h_s^2, "
        "S_hat_beta = m_hat_{s_beta} + sqrt(2 R_beta^2 m_hat_{s_beta} L / N_beta) + R_beta^2 L / (3 N_beta) "
        "(KR2 on min((X - c)^2, R_beta^2)).",
        "q = sum_b w_b p_{s_b} is the realised training law of generation i (or of one group of its "
        "blocks), M_hat = sum_b w_b m_hat_{s_b}, h = h_i; the bound then holds for every generation "
        "i <= K at once with probability at least 1 - delta_J (KR1 with m_c = E_q (X - c)^2 + h^2/2).",
    ),
    provenance="[derived]",
    latex=(r"\int \sqrt{q_i * \varphi_{h_i/\sqrt{2}}} \le \Big(4\pi^2 \big(\hat M_i + \tfrac{h_i^2}{2}\big)\Big)^{1/4}"
           r" \ \forall i \le K \text{ with probability} \ge 1 - \delta_J, \quad "
           r"\hat M_i = \sum_{b} w_{ib} \, \hat m_{s_b}, \quad \hat m_0 = \mathbb{E}_{p_0}(X - c)^2, \quad "
           r"\hat m_s = \sum_{b \in \mathrm{plan}\, s} w_{sb} \, \hat S_b + h_s^2, \quad "
           r"\hat S_\beta = \hat m_{s_\beta} + \sqrt{\frac{2 R_\beta^2 \hat m_{s_\beta} L}{N_\beta}} + \frac{R_\beta^2 L}{3 N_\beta}"),
    derivation="derivations/KR4.md",
    source="Derived here (lemmas KR1, KR2, KR3, C3; second moments of a Gaussian KDE sample).",
    quantities={"M_hat": "high-probability bound on E_q (X - c)^2 for the realised training law q",
                "h": "bandwidth of the generation"},
))


KR5 = register(Lemma(
    id="KR5",
    title="A-priori probability-(1 - delta) bound of a KDE loop with the realised K2 integral",
    lhs=_a_i,
    relation="<=",
    rhs=(h ** 2 / 4 * lap
         + ((4 * sp.pi) ** (-d / 4) * (N * h ** d) ** sp.Rational(-1, 2) * J_hat
            + sp.sqrt(2 * sp.log(2 * K / delta) / N)) / 2
         + A_w),
    hypotheses=(
        "The hypotheses of lemma KR4 (d = 1, p_0 a Gaussian mixture or with a known radius tail) and of "
        "lemma K1 (Lambda = ||Delta p_0||_1 finite); bandwidth h_i at generation i.",
        "Joint mode (every block of every generation is drawn afresh): one deviation event per generation "
        "at level delta / (2K) (lemmas K2, C2 given the past), J_hat = the KR4 bound for q_i at "
        "delta_J = delta / 2; A_w = sum_j w_ij Abar_j.",
        "Blockwise mode (reused or kept blocks): the stochastic term is sum_b (N_b / N_i) times the same "
        "expression with N_b and the KR4 bound for p_{s_b}, one deviation event per distinct block at "
        "level delta / (2 B'), B' the number of distinct blocks.",
        "All events together fail with probability at most delta/2 + delta/2 = delta (lemma C3); the "
        "bound then holds for every i <= K at once.",
    ),
    provenance="[derived]",
    latex=(r"a_i \le \frac{h^2}{4} \|\Delta p_0\|_1 + \frac{1}{2} \Big[ (4\pi)^{-d/4} (N_i h^d)^{-1/2} \hat J_i "
           r"+ \sqrt{\frac{2 \ln(2K/\delta)}{N_i}} \Big] + \sum_{j=1}^{i-1} w_{ij} \bar A_j"
           r" \ \forall i \le K \text{ with probability} \ge 1 - \delta"),
    derivation="derivations/KR5.md",
    source="Derived here (lemmas K1, K2, C2, C3, KR4; triangle inequality and convexity of TV).",
    quantities={"J_hat": "the KR4 bound on the realised K2 integral",
                "h": "bandwidth of generation i", "Lambda": "||Delta p_0||_1", "d": "dimension",
                "N": "training-set size N_i",
                "A_w": "sum_j w_ij Abar_j over earlier generations",
                "K": "number of generations", "delta": "total failure probability"},
))
