"""The notation of boundcalc: one row per shared symbol.

Each row holds the sympy symbol (with the sign and integrality sympy can encode), its paper-style
TeX, the one LaTeX macro the derivation document defines for it, its meaning in words and its
valid numeric range ``(low, high, low_inclusive, high_inclusive)``.  Every lemma, theorem and
composed bound is written over these symbols, so that statements can be substituted into one
another; the range is checked on every lemma evaluation (:meth:`boundcalc.theory.lemma.Lemma.evaluate`)
and by the parameter table of :mod:`boundcalc._checks`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

INF = float("inf")


@dataclass(frozen=True)
class Notation:
    """One shared symbol: ``symbol``, ``tex``, ``macro``, ``meaning``, ``range``."""
    symbol: sp.Symbol
    tex: str
    macro: str
    meaning: str
    range: tuple | None  # (low, high, low_inclusive, high_inclusive), or None when unrestricted

    @property
    def name(self) -> str:
        return self.symbol.name

    def range_text(self) -> str:
        """The range as an interval, e.g. ``(0, 1]``; empty when unrestricted."""
        if self.range is None:
            return ""
        low, high, low_in, high_in = self.range
        hi = r"\infty" if high == INF else f"{high:g}"
        return f"{'[' if low_in else '('}{low:g}, {hi}{']' if high_in else ')'}"


#: every row, in the order of this module
TABLE: dict[str, Notation] = {}


def _row(name: str, assumptions: dict, tex: str, macro: str, meaning: str, rng) -> sp.Symbol:
    symbol = sp.Symbol(name, **assumptions)
    TABLE[name] = Notation(symbol, tex, macro, meaning, rng)
    return symbol


# --- sample sizes, generations, probabilities -------------------------------------------
n_real = _row("n_real", dict(positive=True, integer=True), 'n_{\\mathrm{real}}', "nreal",
              'real samples in each training set', (0, INF, False, False))
n_synth = _row("n_synth", dict(nonnegative=True, integer=True), 'n_{\\mathrm{synth}}', "nsynth",
               'synthetic samples added to a training set', (0, INF, True, False))
N = _row("N", dict(positive=True), 'N', "Ntrain",
         'training-set size ($N_i$ at generation $i$)', (0, INF, False, False))
lam = _row("lambda", dict(positive=True), '\\lambda', "lam",
           'real fraction of a training set ($\\lambda_i$ at generation $i$)', (0, 1, False, True))
K = _row("K", dict(positive=True, integer=True), 'K', "Kgen",
         'number of generations', (1, INF, True, False))
i = _row("i", dict(positive=True, integer=True), 'i', "igen",
         'generation index', (1, INF, True, False))
delta = _row("delta", dict(positive=True), '\\delta', "fail",
             'failure probability of the whole K-generation statement', (0, 1, False, False))
t = _row("t", dict(positive=True), 't', "dev",
         'a deviation (lemma C1)', (0, INF, False, False))

# --- errors -------------------------------------------
eps = _row("epsilon", dict(positive=True), '\\varepsilon', "eps",
           'one-generation learning error $\\mathrm{TV}(p_i, q_i)$, $i \\ge 2$', (0, INF, True, False))
eps1 = _row("epsilon_1", dict(positive=True), '\\varepsilon_1', "epsone",
            'learning error of generation 1', (0, INF, True, False))
a_prev = _row("a_prev", dict(nonnegative=True), 'a_{i-1}', "aprev",
              'bound on $\\mathrm{TV}(p_{i-1}, p_0)$', (0, 1, True, True))
tv = _row("TV", dict(nonnegative=True), '\\mathrm{TV}', "TV",
          'total-variation distance, in [0, 1]', (0, 1, True, True))
kl = _row("KL", dict(nonnegative=True), '\\mathrm{KL}', "KL",
          'Kullback-Leibler divergence (nats)', (0, INF, True, False))

# --- power-law learner -------------------------------------------
C = _row("C", dict(positive=True), 'C', "Crate",
         'constant of the power-law learner $\\varepsilon(N) = C N^{-\\alpha}$', (0, INF, False, False))
alpha = _row("alpha", dict(positive=True), '\\alpha', "rate",
             'rate exponent of the power-law learner', (0, INF, False, False))

# --- kernel density estimation -------------------------------------------
h = _row("h", dict(positive=True), 'h', "bw",
         'kernel bandwidth', (0, INF, False, False))
d = _row("d", dict(positive=True, integer=True), 'd', "dimn",
         'dimension of the data', (1, INF, True, False))
beta = _row("beta", dict(positive=True), '\\beta', "smooth",
            "smoothness / kernel order (lemmas K1', K3)", (0, INF, False, False))
L = _row("L", dict(positive=True), 'L', "Hold",
         "Hoelder (Nikol'skii) constant (lemma K1')", (0, INF, False, False))
lap = _row("Lambda", dict(positive=True), '\\|\\Delta p_0\\|_1', "Lap",
           '$L^1$ norm of the Laplacian of $p_0$ (lemma K1)', (0, INF, False, False))
J = _row("J", dict(positive=True), 'J', "Jint",
         'the integral $\\int \\sqrt{\\bar q * \\varphi_{h/\\sqrt 2}}$ of lemma K2', (0, INF, False, False))
kappa = _row("kappa", dict(positive=True), '\\kappa', "kmom",
             "kernel moment $\\int |u|^\\beta |K(u)|\\, du$ (lemma K1')", (0, INF, False, False))
A = _row("A", dict(positive=True), 'A', "Abias",
         'bias coefficient in $A h^\\beta + B (N h^d)^{-1/2}$ (lemma K3)', (0, INF, False, False))
B = _row("B", dict(positive=True), 'B', "Bstoch",
         'stochastic coefficient (lemma K3)', (0, INF, False, False))
s1 = _row("sigma_1", dict(positive=True), '\\sigma_1', "sone",
          'the smaller standard deviation (lemma GTV)', (0, INF, False, False))
s2 = _row("sigma_2", dict(positive=True), '\\sigma_2', "stwo",
          'the larger standard deviation (lemma GTV)', (0, INF, False, False))

# --- diffusion models (Li et al. 2023) -------------------------------------------
tau = _row("tau", dict(positive=True), '\\tau', "ttrain",
           'training time of the gradient flow (lemmas D1, D2)', (1, INF, True, False))
m = _row("m", dict(positive=True), 'm', "rfwidth",
         'width (number of random features) of the score model', (0, INF, False, False))
n = _row("n", dict(positive=True), 'n', "nsamp",
         'training samples of one diffusion model (lemma D1)', (0, INF, False, False))
T = _row("T", dict(positive=True), 'T', "horizon",
         'horizon of the forward diffusion process', (0, INF, False, False))
c_stat = _row("c_stat", dict(positive=True), 'c_{\\mathrm{stat}}', "cstat",
              'constant of the statistical term of D1', (0, INF, False, False))
c_width = _row("c_width", dict(nonnegative=True), 'c_{\\mathrm{width}}', "cwidth",
               'constant of the finite-width term of D1', (0, INF, True, False))
c_opt = _row("c_opt", dict(positive=True), 'c_{\\mathrm{opt}}', "copt",
             'constant of the optimisation term of D1', (0, INF, False, False))
c_mc = _row("c_mc", dict(nonnegative=True), 'c_{\\mathrm{mc}}', "cmc",
            'constant of the random-feature Monte-Carlo term of D1', (0, INF, True, False))
c_approx = _row("c_approx", dict(nonnegative=True), 'c_{\\mathrm{approx}}', "capprox",
                'approximation error of the random-feature class (D1)', (0, INF, True, False))
c_prior = _row("c_prior", dict(nonnegative=True), 'c_{\\mathrm{prior}}', "cprior",
               'constant of the prior mismatch of D1', (0, INF, True, False))
k_delta = _row("k_delta", dict(nonnegative=True), 'k_\\delta', "kdelta",
               'degree of the confidence factor $\\ell(\\delta)^{k_\\delta}$ of the concentration constants '
               '(lemma D4)', (0, INF, True, False))

# --- concentration (McDiarmid, lemma C1) -------------------------------------------
c_diff = _row("c", dict(positive=True), 'c', "cdiff",
              "common bounded difference of McDiarmid's inequality (lemma C1)", (0, INF, False, False))

# --- composition theorems -------------------------------------------
k_growth = _row("k", dict(positive=True), 'k', "kgrow",
                'growth exponent of the sample sizes $N_i = N_1 i^k$ (theorem S7)', (0, INF, False, False))


# --- KDE loop: bounds in expectation (KE1-KE4) and on the realised K2 integral (KR1-KR5) ---------
S_stoch = _row("S_stoch", dict(nonnegative=True), 'S_i', "Sstoch",
               'expected stochastic term of a generation, a sum of halved KE1 terms (lemma KE2)', (0, INF, True, False))
A_w = _row("A_w", dict(nonnegative=True), 'A_w', "Aweighted",
           '$\\sum_j w_{ij} \\bar A_j$, the weighted bounds of earlier generations (lemmas KE2, KR5)', (0, INF, True, False))
T_r = _row("T_r", dict(nonnegative=True), 'T_r', "TVexpected",
           '$\\mathrm{TV}(r_i, p_0)$, the bias of the expected law of lemma K4 (lemma KE3)', (0, 1, True, True))
I_V = _row("I_V", dict(nonnegative=True), 'I_V', "Isqrtvar",
           '$\\int \\sqrt{V_i}$, the integral of the propagated standard deviation (lemma KE3)', (0, INF, True, False))
sa2 = _row("sigma_a2", dict(positive=True), '\\sigma_a^2', "sigasq",
           'variance of the first Gaussian kernel (lemma KE4)', (0, INF, False, False))
sb2 = _row("sigma_b2", dict(positive=True), '\\sigma_b^2', "sigbsq",
           'variance of the second Gaussian kernel (lemma KE4)', (0, INF, False, False))
m_c = _row("m_c", dict(positive=True), 'm_c', "mcentre",
           'second moment $\\mathbb{E}_g (X - c)^2$ about a centre $c$ (lemma KR1)', (0, INF, False, False))
M_hat = _row("M_hat", dict(nonnegative=True), '\\hat M', "Mhat",
             'high-probability bound on the second moment of a training law (lemma KR4)', (0, INF, True, False))
v_B = _row("v_B", dict(nonnegative=True), 'v', "vBern",
           "average non-centred second moment of Bernstein's inequality (lemma KR2)", (0, INF, True, False))
b_B = _row("b_B", dict(positive=True), 'b', "bBern",
           "upper bound of the variables of Bernstein's inequality (lemma KR2)", (0, INF, False, False))
J_hat = _row("J_hat", dict(positive=True), '\\hat J', "Jhat",
             'high-probability bound on the realised K2 integral (lemmas KR4, KR5)', (0, INF, False, False))

Q_mass = _row("Q_mass", dict(nonnegative=True), 'Q_i', "Qmass",
              '$\\sum_\\beta m_{i,\\beta}^2 / N_\\beta$, squared kernel masses of the blocks over their sizes (lemma KE5)',
              (0, INF, True, False))


#: valid numeric range of each symbol name (rows without a range are unrestricted)
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    name: row.range for name, row in TABLE.items() if row.range is not None}


def latex_name(symbol) -> str:
    """The paper-style TeX of a shared symbol, falling back to sympy's printer."""
    row = TABLE.get(symbol.name)
    return row.tex if row else sp.latex(symbol)


__all__ = ["Notation", "TABLE", "RANGES", "latex_name"] + [
    name for name, value in list(globals().items()) if isinstance(value, sp.Symbol)]
