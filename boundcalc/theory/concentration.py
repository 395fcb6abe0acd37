"""Concentration (docs/theory.md section 3.2): lemmas C1 (McDiarmid), C2 (L1 deviation of a KDE), C3 (union bound).

Each lemma is registered in :data:`boundcalc.theory.lemma.CATALOGUE` on import; its proof is in
``derivations/<ID>.md`` and is machine-checked in ``tests/test_lemmas_concentration.py``.

Numeric interface (keyword names are symbol names; values are range-checked and a bad one
raises :class:`boundcalc._checks.BoundcalcError` naming the parameter and its range; mpmath at
30 digits, so ``N = 1e15`` and ``delta = 1e-300`` stay finite):

* ``C1.evaluate(t=t, N=n, c=c)``    -> ``exp(-2 t^2 / (N c^2))``, the tail probability bound for
  N independent inputs with equal bounded differences c;
* ``C2.evaluate(N=n, delta=delta)`` -> ``sqrt(2 ln(1/delta) / N)``, the L1 deviation term of a
  kernel density estimate (halve it for TV);
* ``C3.evaluate(delta=delta)``      -> ``delta``: K events, each at level ``delta / K``, fail
  together with probability at most delta; :func:`union_per_event_delta` gives ``delta / K``.
"""

from __future__ import annotations

import math

import mpmath
import sympy as sp

from boundcalc._checks import check_positive_int, check_probability
from boundcalc.theory.lemma import CATALOGUE, Lemma, register
from boundcalc.theory.notation import K, N, c_diff, delta, t

__all__ = ["C1", "C2", "C3", "union_per_event_delta", "kde_l1_deviation"]

# Placeholders used only in the left-hand sides (what is bounded); never evaluated.
Prob = sp.Function("Pr")
Expect = sp.Function("E")
L1 = sp.Function("L1norm")
Z = sp.Symbol("Z")
f_hat, p = sp.symbols("f_hat p")

# --- C1: McDiarmid's bounded-difference inequality ----------------------------------------------
_C1_RHS = sp.exp(-2 * t**2 / (N * c_diff**2))
C1 = register(Lemma(
    id="C1",
    title="McDiarmid's bounded-difference inequality",
    lhs=Prob(sp.Ge(Z - Expect(Z), t, evaluate=False)),
    relation="<=",
    rhs=_C1_RHS,
    hypotheses=(
        "Z = g(X_1, ..., X_N) with X_1, ..., X_N independent (not necessarily identically "
        "distributed).",
        "Bounded differences: changing the j-th argument alone changes g by at most c_j; the "
        "registered right-hand side is the case c_j = c for every j, where sum_j c_j^2 = N c^2.",
        "t > 0; the same bound holds for the lower tail Pr(EZ - Z >= t).",
    ),
    provenance="[classical]",
    latex=r"\Pr\big(Z - \mathbb{E} Z \ge t\big) \le \exp\!\Big(-\frac{2 t^2}{\sum_{j=1}^{N} c_j^2}\Big) "
          r"= \exp\!\Big(-\frac{2 t^2}{N c^2}\Big) \quad \text{when } c_j = c",
    derivation="derivations/C1.md",
    source="McDiarmid 1989, 'On the method of bounded differences', Surveys in Combinatorics; "
           "Hoeffding 1963 for the lemma on bounded variables; Boucheron, Lugosi & Massart 2013, "
           "Concentration Inequalities, Theorem 6.2.",
    quantities={
        "t": "the deviation of Z above its mean, > 0",
        "N": "number of independent inputs of Z",
        "c": "common bounded difference: changing one input changes Z by at most c",
    },
    ranges={"t": (0, math.inf, False, False)},
))

# --- C2: L1 deviation of a kernel density estimate ------------------------------------------------
_C2_RHS = sp.sqrt(2 * sp.log(1 / delta) / N)
C2 = register(Lemma(
    id="C2",
    title="Deviation of the L1 error of a kernel density estimate (Devroye)",
    lhs=L1(f_hat - p) - Expect(L1(f_hat - p)),
    relation="<=",
    rhs=_C2_RHS,
    hypotheses=(
        "f_hat(x) = (1/N) sum_j K_h(x - X_j) with a kernel K >= 0, int K = 1, and K_h(u) = "
        "h^-d K(u/h); for a signed kernel replace the constant 2 below by 2 int |K|.",
        "X_1, ..., X_N are independent, not necessarily identically distributed.",
        "p is any fixed integrable function (the target density, or E f_hat).",
        "The inequality holds with probability at least 1 - delta, 0 < delta < 1; in TV "
        "(half the L1 distance) the deviation term is sqrt(ln(1/delta) / (2 N)).",
    ),
    provenance="[classical]",
    latex=r"\|\hat f - p\|_1 \le \mathbb{E}\|\hat f - p\|_1 + \sqrt{\frac{2 \ln(1/\delta)}{N}} "
          r"\quad \text{with probability at least } 1 - \delta",
    derivation="derivations/C2.md",
    source="Devroye 1991, 'Exponential inequalities in nonparametric estimation'; Devroye & "
           "Lugosi 2001, Combinatorial Methods in Density Estimation (bounded differences 2/N "
           "of the L1 error of a kernel estimate, combined with McDiarmid 1989).",
    quantities={
        "N": "number of independent samples in the estimate",
        "delta": "failure probability, in (0, 1)",
    },
    ))


def kde_l1_deviation(n_samples, failure_probability) -> mpmath.mpf:
    """``sqrt(2 ln(1/delta) / N)``: the deviation term of C2 in L1 (halve it for TV) [classical]."""
    return CATALOGUE["C2"].evaluate(N=n_samples, delta=failure_probability)


# --- C3: union bound over K statements ------------------------------------------------------------
_C3_RHS = K * (delta / K)  # sympy simplifies this to delta on construction
C3 = register(Lemma(
    id="C3",
    title="Union bound over K statements, each at level delta/K",
    lhs=Prob(sp.Symbol("E_1 or ... or E_K")),
    relation="<=",
    rhs=_C3_RHS,
    parts={"per event": delta / K},
    hypotheses=(
        "E_1, ..., E_K are events (arbitrarily dependent), the failures of K statements.",
        "Each has probability at most delta / K (the per-event level; union_per_event_delta "
        "returns it); the right-hand side K * (delta / K) equals delta.",
        "0 < delta < 1 and K >= 1 is an integer.",
    ),
    provenance="[classical]",
    latex=r"\Pr\Big(\bigcup_{k=1}^{K} E_k\Big) \le \sum_{k=1}^{K} \Pr(E_k) "
          r"\le K \cdot \frac{\delta}{K} = \delta",
    derivation="derivations/C3.md",
    source="Boole's inequality (countable subadditivity of a probability measure); e.g. "
           "Billingsley 1995, Probability and Measure, section 2.",
    quantities={"delta": "total failure probability of the K statements together, in (0, 1)"},
    ranges={"K": (1, math.inf, True, False)},
    ))


def union_per_event_delta(total_delta, events) -> mpmath.mpf:
    """Per-event failure level ``delta / K`` of lemma C3 (``events`` = K >= 1) [classical]:
    the part "per event" of C3's object, evaluated through the catalogue."""
    check_probability("delta", total_delta)
    k = check_positive_int("K", events)
    return CATALOGUE["C3"].evaluate_part("per event", check=False, delta=total_delta, K=k)
