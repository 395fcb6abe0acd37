"""The shared sympy symbols of boundcalc, with their assumptions and valid ranges.

Every lemma and every composed bound is written over these symbols, so that the
statements of different lemmas can be substituted into one another.  sympy can
only encode sign and integrality; the whole range (``0 < lam <= 1``, ``0 < delta < 1``,
``tau >= 1``) is recorded in :data:`RANGES`, checked by :meth:`boundcalc.lemma.Lemma.evaluate`
on every lemma evaluation and by :mod:`boundcalc.errors` where the CLI and schemes take numbers.
"""

from __future__ import annotations

import sympy as sp

# --- sample sizes, generations, probabilities -------------------------------------------
n_real = sp.Symbol("n_real", positive=True, integer=True)      # real samples per generation
n_synth = sp.Symbol("n_synth", nonnegative=True, integer=True)  # synthetic samples
N = sp.Symbol("N", positive=True)                               # training-set size
lam = sp.Symbol("lambda", positive=True)                         # real fraction, 0 < lam <= 1
K = sp.Symbol("K", positive=True, integer=True)                  # number of generations
i = sp.Symbol("i", positive=True, integer=True)                  # generation index
delta = sp.Symbol("delta", positive=True)                        # failure probability, (0, 1)
t = sp.Symbol("t", positive=True)                                # a deviation
# --- errors ---------------------------------------------------------------------------------
eps = sp.Symbol("epsilon", positive=True)        # per-generation learning error (i >= 2)
eps1 = sp.Symbol("epsilon_1", positive=True)     # learning error of generation 1
a_prev = sp.Symbol("a_prev", nonnegative=True)   # TV(p_{i-1}, p0)
tv = sp.Symbol("TV", nonnegative=True)           # a total-variation distance, in [0, 1]
kl = sp.Symbol("KL", nonnegative=True)           # a Kullback-Leibler divergence
# --- power-law learner ------------------------------------------------------------------
C = sp.Symbol("C", positive=True)
alpha = sp.Symbol("alpha", positive=True)        # rate exponent, 0 < alpha < 1 for the phase
# --- kernel density estimation --------------------------------------------------------------
h = sp.Symbol("h", positive=True)                # bandwidth
d = sp.Symbol("d", positive=True, integer=True)  # dimension
beta = sp.Symbol("beta", positive=True)          # smoothness / kernel order
L = sp.Symbol("L", positive=True)                # Hoelder (Nikol'skii) constant
lap = sp.Symbol("Lambda", positive=True)         # ||Laplacian p0||_1
J = sp.Symbol("J", positive=True)                # the K2 integral  int sqrt(qbar * phi_{h/sqrt2})
kappa = sp.Symbol("kappa", positive=True)        # kernel moment int |u|^beta |K(u)| du
A = sp.Symbol("A", positive=True)                # bias coefficient in A h^beta + B (N h^d)^(-1/2)
B = sp.Symbol("B", positive=True)                # stochastic coefficient
s1 = sp.Symbol("sigma_1", positive=True)         # smaller standard deviation
s2 = sp.Symbol("sigma_2", positive=True)         # larger standard deviation
# --- diffusion models (Li et al. 2023) ------------------------------------------------------
tau = sp.Symbol("tau", positive=True)            # training time, tau >= 1
m = sp.Symbol("m", positive=True)                # width of the random-feature model
n = sp.Symbol("n", positive=True)                # number of training samples
T = sp.Symbol("T", positive=True)                # horizon of the forward process
c_stat = sp.Symbol("c_stat", positive=True)
c_width = sp.Symbol("c_width", nonnegative=True)
c_opt = sp.Symbol("c_opt", positive=True)
c_mc = sp.Symbol("c_mc", nonnegative=True)
c_approx = sp.Symbol("c_approx", nonnegative=True)
c_prior = sp.Symbol("c_prior", nonnegative=True)
# --- concentration (McDiarmid, lemma C1) -------------------------------------------------------
c_diff = sp.Symbol("c", positive=True)           # common bounded difference c_j = c of McDiarmid

def latex_name(symbol) -> str:
    """The paper-style LaTeX of a shared symbol: the notation table of :mod:`boundcalc.latex`
    (one entry per symbol), falling back to sympy's printer."""
    from .latex import SYMBOL_MACROS
    entry = SYMBOL_MACROS.get(symbol.name)
    return entry[1] if entry else sp.latex(symbol)


#: Valid numeric range of each symbol name: (low, high, low_inclusive, high_inclusive).
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "n_real": (0, float("inf"), False, False),
    "n_synth": (0, float("inf"), True, False),
    "N": (0, float("inf"), False, False),
    "lambda": (0, 1, False, True),
    "K": (1, float("inf"), True, False),
    "delta": (0, 1, False, False),
    "epsilon": (0, float("inf"), True, False),
    "TV": (0, 1, True, True),
    "C": (0, float("inf"), False, False),
    "alpha": (0, float("inf"), False, False),
    "h": (0, float("inf"), False, False),
    "d": (1, float("inf"), True, False),
    "tau": (1, float("inf"), True, False),
    "m": (0, float("inf"), False, False),
    "T": (0, float("inf"), False, False),
    "c": (0, float("inf"), False, False),
    "n": (0, float("inf"), False, False),
    "i": (1, float("inf"), True, False),
    "t": (0, float("inf"), False, False),
    "epsilon_1": (0, float("inf"), True, False),
    "a_prev": (0, 1, True, True),
    "KL": (0, float("inf"), True, False),
    "beta": (0, float("inf"), False, False),
    "L": (0, float("inf"), False, False),
    "Lambda": (0, float("inf"), False, False),
    "J": (0, float("inf"), False, False),
    "kappa": (0, float("inf"), False, False),
    "A": (0, float("inf"), False, False),
    "B": (0, float("inf"), False, False),
    "sigma_1": (0, float("inf"), False, False),
    "sigma_2": (0, float("inf"), False, False),
    "c_stat": (0, float("inf"), False, False),
    "c_width": (0, float("inf"), True, False),
    "c_opt": (0, float("inf"), False, False),
    "c_mc": (0, float("inf"), True, False),
    "c_approx": (0, float("inf"), True, False),
    "c_prior": (0, float("inf"), True, False),
}

__all__ = [name for name in dir() if not name.startswith("_") and name not in ("sp", "annotations")]
