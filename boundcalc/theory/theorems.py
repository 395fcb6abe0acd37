"""The composition theorems as catalogue objects (kind ``"theorem"``).

Each theorem is a :class:`boundcalc.theory.lemma.Theorem` (the Lemma shape: statement, hypotheses,
provenance, authored LaTeX, derivation file, source), registered in the same catalogue, so
``get_lemma("S1")`` and ``all_lemmas()`` return them and the derivation tests cover them.

Notation: ``a_i = TV(p_i, p0)``, ``eps_i = TV(p_i, q_i)``, ``q_i`` the law of generation i's
training set, ``N_i`` its size, ``lambda_i`` its real fraction, ``K`` the number of generations.

* S1  the recursion ``a_i <= eps_i + sum_{j<i} w_ij a_j`` (evaluated one generation at a time by
  :func:`recursion_step`, the theorem's numeric evaluator);
* S2, S3, S4  the closed forms for ``replace``, ``mix`` and ``accumulate`` for a learner whose error
  is a function ``varepsilon(N)`` of the training-set size (:data:`RATE`; substitute the learner's
  rate with :func:`with_rate`); S5 the harmonic form of ``accumulate``;
* S6  final-generation rescue; S7  growing sample sizes in ``replace``;
* L1  the explicit per-generation error of a Gaussian-KDE loop, composed of K1, K2, C2 at the
  per-generation level of C3;
* P1  the phase transition in the amount of synthetic data (power-law learner);
* E1  the early-stopped bound of D1 (D1 at the D2 optimum).

Statements that compose lemmas (L1, E1) are built from the lemmas' own right-hand sides, and their
numeric evaluation calls the lemma objects through the catalogue, so a change to a lemma reaches
every theorem that uses it.
"""

from __future__ import annotations

import math

import mpmath
import sympy as sp

from boundcalc._checks import BoundcalcError
from boundcalc.theory.concentration import C2
from boundcalc.theory.diffusion import D1, D2
from boundcalc.theory.kde import K1, K2
from boundcalc.theory.lemma import CATALOGUE, Theorem, register
from boundcalc.theory.notation import (C, K, N, a_prev, alpha, c_opt, c_stat, delta, eps, i, k_growth, lam, m, n,
                                       n_real, n_synth, tau)

__all__ = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "L1", "P1", "E1", "RATE", "with_rate",
           "recursion_step", "closed_form_template"]

#: the learner's error as a function of the training-set size, ``varepsilon(N)``, in S2-S4
RATE = sp.Function("varepsilon")

_j = sp.Symbol("j", positive=True, integer=True)  # summation index
_TV = sp.Function("TV")
_a = sp.Function("a")          # a(j) = bound on TV(p_j, p0)
_w = sp.Function("w")          # w(i, j) = weight of p_j in q_i
_argmax = sp.Function("argmax")
_KL = sp.Function("KL")
_p, _p0, _q = sp.symbols("p_i p_0 q_i")

_DERIVED = "[derived]"


def with_rate(expr: sp.Expr, rate) -> sp.Expr:
    """``expr`` with ``varepsilon(arg)`` replaced by ``rate(arg)`` (a sympy expression of arg)."""
    return expr.replace(RATE, rate)


# ------------------------------------------------------------------------------------------------
# S1: the recursion
# ------------------------------------------------------------------------------------------------
def recursion_step(epsilon, weights=(), previous=()):
    r"""Right-hand side of theorem S1 for one generation [derived]:

    .. math:: a_i \le \varepsilon_i + \sum_{j<i} w_{ij}\, a_j ,

    ``weights`` the nonnegative coefficients ``w_ij`` (mpmath numbers), ``previous`` the matching
    bounds ``a_j``; evaluated in the current mpmath precision with ``mpmath.fsum``.  Without
    earlier bounds (generation 1) the result is ``eps_1`` itself, unrounded.
    """
    if len(weights) == 0:
        return epsilon
    return epsilon + mpmath.fsum(w * a for w, a in zip(weights, previous))


def _recursion_numeric(epsilon=None, weights=(), previous=(), **_unused):
    if epsilon is None:
        raise BoundcalcError("theorem S1 needs a value for: epsilon")
    if len(weights) != len(previous):
        raise BoundcalcError(f"theorem S1 needs one weight per earlier bound; got {len(weights)} weights "
                             f"and {len(previous)} bounds")
    return recursion_step(epsilon, weights, previous)


S1 = register(Theorem(
    id="S1",
    title="The recursion across generations",
    lhs=_TV(_p, _p0),
    relation="<=",
    rhs=eps + sp.Sum(_w(i, _j) * _a(_j), (_j, 1, i - 1)),
    hypotheses=(
        "Generation 1 trains on real data only (q_1 = p0), so a_1 <= eps_1.",
        "The training law of generation i is a mixture q_i = w_i0 p0 + sum_{j<i} w_ij p_j with "
        "nonnegative weights summing to 1 (the plan of the scheme: mix, schedule and replace use "
        "p_{i-1} alone with w = 1 - lambda_i; accumulate uses w_ij = n_synth / N_i for every j < i).",
        "eps_i bounds TV(p_i, q_i), the one-generation error of the learner trained on q_i.",
        "The coefficients w_ij are nonnegative, so the sequence defined with equality dominates every "
        "sequence satisfying the inequalities: boundcalc iterates it with equality.",
    ),
    provenance=_DERIVED,
    latex=(r"a_1 \le \varepsilon_1, \qquad a_i \le \varepsilon_i + \mathrm{TV}(q_i, p_0) "
           r"\le \varepsilon_i + \sum_{j=1}^{i-1} w_{ij}\, a_j \quad (i \ge 2)"),
    derivation="derivations/S1.md",
    source=("Derived here from the triangle inequality (T2) and the mixture identity and convexity of "
            "TV (T1); the same recursion as Fu et al., ICML 2024."),
    quantities={"epsilon": "eps_i, the one-generation error TV(p_i, q_i)",
                "i": "generation index"},
    numeric=_recursion_numeric,
))


# ------------------------------------------------------------------------------------------------
# S2-S5: closed forms
# ------------------------------------------------------------------------------------------------
S2 = register(Theorem(
    id="S2",
    title="Replace: the sum of the per-generation errors",
    lhs=_a(K),
    relation="<=",
    rhs=RATE(n_real) + (K - 1) * RATE(n_synth),
    hypotheses=(
        "Scheme replace: generation 1 trains on n_real real samples, every later generation on "
        "n_synth samples of the previous generation only (w_{i,i-1} = 1 in S1).",
        "The learner's error depends on the training-set size alone, eps_i = varepsilon(N_i); in "
        "general a_K <= sum_{i <= K} eps_i.",
    ),
    provenance=_DERIVED,
    latex=(r"a_K \le \sum_{i=1}^{K} \varepsilon_i = \varepsilon(n_{\mathrm{real}}) + "
           r"(K-1)\, \varepsilon(n_{\mathrm{synth}})"),
    derivation="derivations/S2.md",
    source="Derived here by unrolling S1 (linear growth in K, as observed by Fu et al., ICML 2024).",
    quantities={"n_real": "real samples of generation 1", "n_synth": "samples of every later generation",
                "K": "number of generations"},
))

S3 = register(Theorem(
    id="S3",
    title="Mix with a constant real fraction: a geometric series",
    lhs=_a(K),
    relation="<=",
    rhs=(1 - lam) ** (K - 1) * RATE(n_real) + RATE(N) * (1 - (1 - lam) ** (K - 1)) / lam,
    parts={"lambda = 1, K >= 2": RATE(N)},
    hypotheses=(
        "Scheme mix (or schedule with constant lambda and N): generation 1 trains on n_real real "
        "samples, every later generation on N samples of which a fraction lambda in (0, 1] is fresh "
        "real data and the rest comes from the previous generation (w_{i,i-1} = 1 - lambda in S1).",
        "eps_1 = varepsilon(n_real) and eps_i = varepsilon(N) for i >= 2.",
        "With theta = (1 - lambda)^(K-1) the bound is the convex combination theta eps_1 + "
        "(1 - theta) eps / lambda: at most max(eps_1, eps / lambda) for every K, tending to "
        "eps / lambda; for lambda = 1 it is varepsilon(N) from K = 2 on.",
    ),
    provenance=_DERIVED,
    latex=(r"a_K \le (1-\lambda)^{K-1} \varepsilon(n_{\mathrm{real}}) + "
           r"\frac{1-(1-\lambda)^{K-1}}{\lambda}\, \varepsilon(N) "
           r"\le \max\Big(\varepsilon(n_{\mathrm{real}}), \frac{\varepsilon(N)}{\lambda}\Big)"),
    derivation="derivations/S3.md",
    source=("Derived here by solving S1 with equality; reproduces the bounded-error claim of Fu et al., "
            "ICML 2024, for a real fraction bounded away from zero."),
    quantities={"lambda": "real fraction of every training set from generation 2 on",
                "n_real": "real samples of generation 1", "N": "training-set size from generation 2 on",
                "K": "number of generations"},
))

_N_of = lambda index: n_real + (index - 1) * n_synth  # noqa: E731  (N_j of accumulate)

S4 = register(Theorem(
    id="S4",
    title="Accumulate: telescoped prefix sums",
    lhs=_a(K),
    relation="<=",
    rhs=RATE(_N_of(K)) + n_synth * sp.Sum(RATE(_N_of(_j)) / (n_real + _j * n_synth), (_j, 1, K - 1)),
    hypotheses=(
        "Scheme accumulate: generation i trains on N_i = n_real + (i - 1) n_synth samples, the n_real "
        "real ones and n_synth samples of each earlier generation (w_ij = n_synth / N_i in S1).",
        "eps_i = varepsilon(N_i): the learner's error depends on the training-set size alone.",
        "TV(q_i, p0) <= (n_synth / N_i) sum_{j<i} a_j holds by convexity of TV, an inequality (not an "
        "identity) once two synthetic sources mix.",
    ),
    provenance=_DERIVED,
    latex=(r"a_K \le \varepsilon(N_K) + n_{\mathrm{synth}} \sum_{j=1}^{K-1} \frac{\varepsilon(N_j)}{N_{j+1}}, "
           r"\qquad N_j = n_{\mathrm{real}} + (j-1)\, n_{\mathrm{synth}}"),
    derivation="derivations/S4.md",
    source="Derived here by telescoping the prefix sums of S1.",
    quantities={"n_real": "real samples in every training set", "n_synth": "samples added per generation",
                "K": "number of generations"},
))

S5 = register(Theorem(
    id="S5",
    title="Accumulate with equal blocks: logarithmic growth",
    lhs=_a(K),
    relation="<=",
    rhs=eps * sp.harmonic(K),
    hypotheses=(
        "Scheme accumulate with n_synth = n_real, so N_i = i n_real and w_ij = 1/i in S1.",
        "eps_i = eps for every i (a learner whose error does not improve with the growing set, or an "
        "upper bound on all eps_i).",
    ),
    provenance=_DERIVED,
    latex=(r"a_K \le \varepsilon H_K = \varepsilon \sum_{i=1}^{K} \frac{1}{i} \approx "
           r"\varepsilon (\ln K + 0.5772)"),
    derivation="derivations/S5.md",
    source="Derived here from S1 and the identity sum_{j<=m} H_j = (m + 1) H_m - m.",
    quantities={"epsilon": "common one-generation error", "K": "number of generations"},
))

S6 = register(Theorem(
    id="S6",
    title="Final-generation rescue",
    lhs=_a(K),
    relation="<=",
    rhs=eps + (1 - lam) * (K - 1) * eps,
    hypotheses=(
        "Generations 2, ..., K-1 are fully synthetic (replace), generation K mixes a real fraction "
        "lambda = lambda_K with samples of generation K-1 (one step of S1 with w = 1 - lambda_K).",
        "eps_i = eps for every i.",
        "lambda_K >= (K-2)/(K-1) gives a_K <= 2 eps; lambda_K = (K-1)/K gives a_K <= (2 - 1/K) eps.",
    ),
    provenance=_DERIVED,
    latex=(r"a_K \le \varepsilon + (1-\lambda_K)(K-1)\,\varepsilon, \qquad \lambda_K \ge \frac{K-1}{K} "
           r"\ \Rightarrow\ a_K < 2\varepsilon"),
    derivation="derivations/S6.md",
    source=("Derived here from S2 and one step of S1; the real share Omega((i-1)/i) of Fu et al., "
            "ICML 2024."),
    quantities={"epsilon": "common one-generation error", "lambda": "real fraction lambda_K of the last generation",
                "K": "number of generations"},
))

S7 = register(Theorem(
    id="S7",
    title="Growing sample sizes in replace",
    lhs=_a(K),
    relation="<=",
    rhs=C * N ** (-alpha) * sp.zeta(alpha * k_growth),
    parts={"critical exponent": 1 / alpha},
    hypotheses=(
        "Scheme replace with sizes N_i = N_1 i^k (N = N_1 the first size), eps(N) = C N^(-alpha), "
        "C, alpha > 0.",
        "k > 1/alpha: then sum_i C N_i^(-alpha) = C N_1^(-alpha) sum_i i^(-alpha k) converges and the "
        "bound holds for every K; for k <= 1/alpha the sum diverges (k* = 1/alpha is the critical "
        "exponent).",
        "With one common size N, K C N^(-alpha) <= target iff N >= (K C / target)^(1/alpha): N must grow "
        "like K^(1/alpha) (K^4 for alpha = 1/4).",
    ),
    provenance=_DERIVED,
    latex=(r"N_i = N_1\, i^{k},\ k > \frac{1}{\alpha} \ \Rightarrow\ a_K \le C N_1^{-\alpha} \zeta(\alpha k) "
           r"\text{ for every } K; \qquad K\, C N^{-\alpha} \le \varepsilon^\star \iff "
           r"N \ge (K C/\varepsilon^\star)^{1/\alpha}"),
    derivation="derivations/S7.md",
    source=("Derived here from S2 and the p-series; the quartic growth of fully synthetic loops reported "
            "by Fu et al., ICML 2024, for alpha = 1/4."),
    quantities={"C": "constant of the power-law rate", "alpha": "rate exponent",
                "N": "the first training-set size N_1", "k": "growth exponent of the sizes, k > 1/alpha"},
    ranges={"k": (0, math.inf, False, False)},
))


# ------------------------------------------------------------------------------------------------
# L1: the per-generation error of a Gaussian-KDE loop, composed of K1, K2, C2 (level of C3)
# ------------------------------------------------------------------------------------------------
_L1_BIAS = K1.rhs / 2
_L1_EXPECTATION = K2.rhs / 2
_L1_DEVIATION = C2.rhs.subs(delta, delta / K) / 2


def _kde_loop_numeric(**values):
    """bias + expectation + deviation, each from its lemma object in the catalogue."""
    missing = [name for name in ("Lambda", "h", "d", "N", "J", "delta", "K") if name not in values]
    if missing:
        raise BoundcalcError(f"theorem L1 needs values for: {', '.join(missing)}")
    v = values
    with mpmath.workdps(30):
        level = CATALOGUE["C3"].evaluate_part("per event", delta=v["delta"], K=v["K"])
        return (CATALOGUE["K1"].evaluate(h=v["h"], Lambda=v["Lambda"]) / 2
                + (CATALOGUE["K2"].evaluate(N=v["N"], h=v["h"], d=v["d"], J=v["J"])
                   + CATALOGUE["C2"].evaluate(N=v["N"], delta=level)) / 2)


L1 = register(Theorem(
    id="L1",
    title="Explicit per-generation error of a Gaussian-KDE loop",
    lhs=_TV(_p, _q),
    relation="<=",
    rhs=_L1_BIAS + _L1_EXPECTATION + _L1_DEVIATION,
    parts={"bias": _L1_BIAS, "expectation": _L1_EXPECTATION, "deviation": _L1_DEVIATION},
    hypotheses=(
        "Generation i fits a Gaussian KDE of bandwidth h to N = N_i samples that, given the past, are "
        "independent with average density q_i; J = J_i = int sqrt(q_i * phi_{h/sqrt 2}) (lemma K2).",
        "p0 has an integrable Laplacian, Lambda = ||Delta p0||_1 (lemma K1); then "
        "a_i <= b(h) + s_i + TV(q_i, p0) with b(h) = (h^2/4) Lambda and s_i = TV(p_i, q_i * phi_h) "
        "(triangle inequality T2 twice and the contraction T3).",
        "The deviation of C2 is taken at the per-generation level delta/K of the union bound C3, so "
        "the K statements hold together with probability >= 1 - delta (fresh training sets: the "
        "joint split; with reused or accumulated blocks each distinct block is bounded once, "
        "s_i <= sum_b (N_b / N_i) s_b, and the union runs over the blocks).",
    ),
    provenance=_DERIVED,
    latex=(r"\varepsilon_i \le \underbrace{\tfrac{h^2}{4} \|\Delta p_0\|_1}_{b(h)} + "
           r"\tfrac12 \Big[(4\pi)^{-d/4} (N_i h^d)^{-1/2} J_i + \sqrt{2 \ln(K/\delta)/N_i}\Big], \qquad "
           r"a_i \le \varepsilon_i + \mathrm{TV}(q_i, p_0)"),
    derivation="derivations/L1.md",
    source="Derived here from lemmas T2, T3, K1, K2, C2 and C3.",
    quantities={"Lambda": "||Delta p0||_1", "h": "bandwidth", "d": "dimension",
                "N": "training-set size N_i", "J": "the K2 integral J_i of the training law",
                "delta": "failure probability of the K-generation statement",
                "K": "number of generations (events of the union bound)"},
    numeric=_kde_loop_numeric,
))


# ------------------------------------------------------------------------------------------------
# P1: the phase transition (power-law learner)
# ------------------------------------------------------------------------------------------------
_P1_CRITICAL = (a_prev * n_real / (alpha * C)) ** (1 / (1 - alpha))

P1 = register(Theorem(
    id="P1",
    title="Phase transition in the amount of synthetic data",
    lhs=_argmax(C * (n_real + n_synth) ** (-alpha) + n_synth / (n_real + n_synth) * a_prev),
    relation="=",
    rhs=_P1_CRITICAL - n_real,
    parts={
        "curve": C * (n_real + n_synth) ** (-alpha) + n_synth / (n_real + n_synth) * a_prev,
        "critical size": _P1_CRITICAL,
        "condition": alpha * C * n_real ** (-alpha),
    },
    hypotheses=(
        "Generation I of mix with n_real real samples fixed and s = n_synth synthetic samples of "
        "p_{I-1} varied; a_prev = a_{I-1} bounds TV(p_{I-1}, p0); the bound is S1 with equality, "
        "f(s) = C (n_real + s)^(-alpha) + s / (n_real + s) a_prev.",
        "eps(N) = C N^(-alpha) with C > 0 and 0 < alpha < 1.",
        "A transition (s* > 0) exists iff a_prev > alpha C n_real^(-alpha) (the part 'condition'): f "
        "then rises on [0, s*], falls after it and tends to a_prev from above; otherwise f decreases.",
        "At generation 2 (a_prev = C n_real^(-alpha)): s* = (alpha^(-1/(1-alpha)) - 1) n_real, "
        "6.4767 n_real for alpha = 1/5.",
    ),
    provenance=_DERIVED,
    latex=(r"f(s) = C (n_{\mathrm{real}} + s)^{-\alpha} + \frac{s}{n_{\mathrm{real}} + s}\, a_{i-1}, \qquad "
           r"s^* = \Big(\frac{a_{i-1}\, n_{\mathrm{real}}}{\alpha C}\Big)^{1/(1-\alpha)} - n_{\mathrm{real}} "
           r"\ \text{ iff } \ a_{i-1} > \alpha C n_{\mathrm{real}}^{-\alpha}"),
    derivation="derivations/P1.md",
    source=("Derived here; reproduces the phase transition reported by Fu et al., ICML 2024, for the "
            "mix scheme."),
    quantities={"a_prev": "bound a_{I-1} on the previous generation", "n_real": "real samples",
                "alpha": "rate exponent, 0 < alpha < 1", "C": "constant of the power-law rate"},
    ranges={"alpha": (0, 1, False, False)},
))


# ------------------------------------------------------------------------------------------------
# E1: the early-stopped bound (D1 at the optimum of D2)
# ------------------------------------------------------------------------------------------------
_D1_CONSTANTS = ("c_stat", "c_width", "c_opt", "c_mc", "c_approx", "c_prior")


def _early_stopped_numeric(**values):
    """D1 evaluated at tau* of D2, both through the catalogue."""
    missing = [name for name in ("m", "n", "T") + _D1_CONSTANTS if name not in values]
    if missing:
        raise BoundcalcError(f"theorem E1 needs values for: {', '.join(missing)}")
    tau_star = CATALOGUE["D2"].evaluate(m=values["m"], n=values["n"], c_stat=values["c_stat"],
                                        c_width=values["c_width"], c_opt=values["c_opt"])
    return CATALOGUE["D1"].evaluate(tau=tau_star, **{k: values[k] for k in ("m", "n", "T") + _D1_CONSTANTS})


E1 = register(Theorem(
    id="E1",
    title="The early-stopped diffusion bound",
    lhs=_KL(_p0, sp.Symbol("p_tau*_SDE")),
    relation="<=",
    rhs=D1.rhs.subs(tau, D2.rhs),
    parts={"rate, m = r n, c_width = 0": (sp.Rational(5, 4) * c_opt ** sp.Rational(4, 5)
                                          * (4 * c_stat) ** sp.Rational(1, 5) * (m * n) ** sp.Rational(-1, 5))},
    hypotheses=(
        "The hypotheses of D1, at the training time tau* = max(1, tau_0) of D2 (the minimiser over "
        "tau >= 1 of the tau-dependent part of D1).",
        "The bound is D1's right-hand side at tau*: the optimisation, statistical and finite-width "
        "terms balance; with c_width = 0 and tau_0 >= 1 their sum is (5/4) c_opt^(4/5) (4 c_stat)^(1/5) "
        "(m n)^(-1/5) (the part 'rate, m = r n, c_width = 0'), of order n^(-2/5) when m = r n.",
        "With m proportional to n the early-stopped KL is of order n^(-2/5) + m^(-4/5) plus the "
        "n-independent terms c_mc/m + c_approx + c_prior e^(-2T); after Pinsker (D3) the one-generation "
        "TV is of order N^(-1/5), so a fully synthetic loop needs N growing like K^5 (S7 with alpha = 1/5).",
        "The constants are those valid at the statement's failure probability (as in D1). At a stated "
        "delta_i (delta/K for one of K generations, lemma C3) they are lemma D4's: c_stat, c_width and c_mc "
        "times ell(delta_i)^k_delta, ell(d) = max(1, ln(1/d^2)); E1 with them is D4 at the D2 optimum of "
        "D4's own tau-dependent part, the tau* and KL that the diffusion learner's loop bound uses.",
    ),
    provenance="[Li23, derived]",
    latex=(r"\mathrm{KL}(p_0 \,\|\, p_{\tau^*}^{\mathrm{SDE}}) \le \Big[ c_{\mathrm{stat}} \frac{\tau^4}{m n} + "
           r"c_{\mathrm{width}} \frac{\tau^3}{m^2} + \frac{c_{\mathrm{opt}}}{\tau} \Big]_{\tau = \tau^*} + "
           r"\frac{c_{\mathrm{mc}}}{m} + c_{\mathrm{approx}} + c_{\mathrm{prior}} \, e^{-2T}, \qquad "
           r"m \propto n: \ \mathrm{KL} \lesssim n^{-2/5} + m^{-4/5} + \frac{c_{\mathrm{mc}}}{m} + "
           r"c_{\mathrm{approx}} + c_{\mathrm{prior}} \, e^{-2T}"),
    derivation="derivations/E1.md",
    source=("Li, Li, Zhang, Bian, NeurIPS 2023, Theorem 1 and eq. (16); the optimum of D2 substituted "
            "into D1 here."),
    quantities={"m": "width", "n": "number of training samples", "T": "horizon",
                "c_stat": "D1 constant", "c_width": "D1 constant", "c_opt": "D1 constant",
                "c_mc": "D1 constant", "c_approx": "D1 constant", "c_prior": "D1 constant"},
    numeric=_early_stopped_numeric,
))


# ------------------------------------------------------------------------------------------------
# authored LaTeX of the closed forms S2-S4 as boundcalc prints them
# ------------------------------------------------------------------------------------------------
def closed_form_template(theorem_id: str, rate_tex) -> tuple[str, str]:
    """``(template, where)``: the authored LaTeX of the right-hand side of S2, S3 (general lambda or
    ``"S3 lambda = 1"``) or S4, with ``rate_tex(arg)`` the LaTeX of the learner's rate at ``arg``."""
    nr, ns = r"n_{\mathrm{real}}", r"n_{\mathrm{synth}}"
    if theorem_id == "S2":
        return f"{rate_tex(nr)} + (K-1)\\,{rate_tex(ns)}", ""
    if theorem_id == "S3":
        return (f"(1-\\lambda)^{{K-1}}\\, {rate_tex(nr)} + "
                f"\\frac{{1-(1-\\lambda)^{{K-1}}}}{{\\lambda}}\\, {rate_tex('N')}"), ""
    if theorem_id == "S3 lambda = 1":
        return f"{rate_tex('N')} \\ (K \\ge 2)", ""
    if theorem_id == "S4":
        return (f"{rate_tex('N_K')} + {ns} \\sum_{{j=1}}^{{K-1}} \\frac{{{rate_tex('N_j')}}}{{N_{{j+1}}}}",
                f"N_j = {nr} + (j-1)\\, {ns}")
    raise BoundcalcError(f"no closed-form template for {theorem_id!r}")
