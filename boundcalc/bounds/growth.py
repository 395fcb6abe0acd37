"""``solve --for growth``: the critical growth exponent of a fully synthetic (replace) loop.

With sizes ``N_i = N_1 i^k`` the replace bound is ``a_K <= sum_{i <= K} eps(N_i)`` (theorem S2), which
stays finite as K -> infinity iff ``sum_i eps(N_1 i^k)`` converges.

* Power learner ``eps(N) = C N^(-alpha)``: theorem S7, critical exponent ``k* = 1/alpha`` (the part
  ``critical exponent`` of S7) and, for k > k*, the limit ``C N_1^(-alpha) zeta(alpha k)`` (S7's right side).
* KDE learner with the bandwidth following N_i (``h_i`` = the K3 choice for N_i): the per-generation
  bound in expectation (lemma KE2's terms, K1 + KE1) at K3's optimum decays like ``N^(-r)`` with
  ``r = beta / (2 beta + d)`` (the exponent of N in K3's h*, times beta), so ``k* = 1/r`` (beta = 2, or the
  Hoelder exponent).  The learner of ``bound`` keeps one bandwidth for all generations: a fixed
  bandwidth is an error floor (the bias ``b(h) > 0`` is paid in every generation), so no finite k exists
  for it; the limit for h_i = K3(N_i) is not evaluated here.
* Diffusion learner: the terms of D1 that do not shrink with N (``c_prior e^(-2T)`` at a fixed horizon,
  ``c_approx``, ``c_mc / m`` at a fixed width, ``c_opt / tau`` at a fixed training time) are an error floor:
  no finite k, with the reason; without any floor the rate is not derived and the request is refused.

All exponents are evaluated through the catalogue objects (S7, K3); nothing is retyped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import mpmath
import sympy as sp

from boundcalc._checks import BoundcalcError, check_optional
from boundcalc.bounds.learners import KDE, Diffusion, Learner, PowerLaw
from boundcalc.bounds.result import Result, _learner_lemmas, calibrated_note, fmt
from boundcalc.theory import notation as S
from boundcalc.theory.catalogue import get_lemma


@dataclass(repr=False)
class GrowthResult(Result):
    """``critical`` = k* (None when no finite k exists), ``limit`` = lim_K a_K bound at the given k
    (None when not evaluated), ``reason`` one line."""
    kind: ClassVar[str] = "growth"
    critical: object
    k: object
    limit: object
    n_first: object
    reason: str
    inputs: dict
    theorems: list = field(default_factory=list)

    @property
    def lemma_ids(self) -> list:
        return _learner_lemmas(self.inputs) + list(self.theorems)

    def _payload(self) -> dict:
        return {"unknown": "growth", "critical_exponent": self.critical, "k": self.k, "limit": self.limit,
                "n_first": self.n_first, "finite": self.critical is not None, "reason": self.reason,
                "inputs": self.inputs}

    def table(self) -> str:
        lines = ["solve for growth: replace loop with N_i = N_1 i^k, bound finite as K -> infinity iff k > k*"]
        lines.append("  k*:    " + ("no finite k" if self.critical is None else fmt(self.critical, 10)))
        if self.k is not None:
            lines.append(f"  k = {fmt(self.k)}, N_1 = {fmt(self.n_first)}: lim_K a_K <= "
                         + ("infinity (k <= k*)" if self.limit is None and self.critical is not None
                            and self.k <= self.critical else
                            "not evaluated" if self.limit is None else fmt(self.limit, 10)))
        lines.append(f"  {self.reason}")
        return "\n".join(lines + calibrated_note(self.inputs))

    def to_latex(self) -> str:
        return r"k^\ast = " + (r"\infty" if self.critical is None else sp.latex(sp.nsimplify(float(self.critical))))


def _kde_rate(learner: KDE):
    """r = beta / (2 beta + d): beta times minus the exponent of N in K3's h* (evaluated from K3's rhs)."""
    beta = 2 if learner.holder_beta is None else learner.holder_beta
    rhs = get_lemma("K3").rhs
    n_exponent = sp.simplify(sp.diff(sp.log(rhs), S.N) * S.N)  # d log h* / d log N
    values = {s: v for s, v in ((sp.Symbol("beta", positive=True), beta), (sp.Symbol("d", positive=True, integer=True), learner.dim))}
    free = {s.name: s for s in n_exponent.free_symbols}
    exponent = n_exponent.subs({free[s.name]: v for s, v in values.items() if s.name in free})
    return -sp.nsimplify(beta) * sp.nsimplify(exponent), beta


def growth(learner: Learner, k=None, n_first=None) -> GrowthResult:
    """The critical exponent k* of a replace loop with N_i = N_1 i^k, and for ``k`` > k* the limit of the
    bound (power learner, theorem S7).  See the module docstring."""
    k = check_optional("growth_k", k) if k is not None else None
    n1 = check_optional("n_real", n_first) if n_first is not None else None
    inputs = {"learner": learner.to_dict(), "scheme": "replace", "k": k, "n_first": n1}
    if isinstance(learner, PowerLaw):
        s7 = get_lemma("S7")
        critical = s7.evaluate_part("critical exponent", alpha=learner.alpha)
        limit = None
        if k is not None and k > critical:
            if n1 is None:
                raise BoundcalcError("growth: the limit for a given k needs N_1 (--n-real)")
            limit = s7.evaluate(C=learner.C, N=n1, alpha=learner.alpha, k=k)
        reason = (f"theorem S7: eps(N) = C N^(-alpha) summed over N_i = N_1 i^k is a p-series of exponent alpha k; "
                  f"it converges iff k > 1/alpha" + ("" if limit is None else "; the limit is C N_1^(-alpha) zeta(alpha k)"))
        return GrowthResult(critical, k, limit, n1, reason, inputs, ["S7", "S2"])
    if isinstance(learner, KDE):
        rate, beta = _kde_rate(learner)
        critical = mpmath.mpf(1) / mpmath.mpf(sp.N(rate, 30))
        reason = (f"KDE with h_i = K3(N_i) (beta = {beta:g}, d = {learner.dim}): the per-generation bound in "
                  f"expectation (bias K1 or K1' plus KE1, composed linearly as in lemma KE2) decays like N^(-{sp.nsimplify(rate)}) at K3's optimum, so "
                  f"k* = {sp.nsimplify(1 / rate)}; the learner of `bound` keeps one bandwidth h for all "
                  f"generations, and a fixed h has no finite k (its bias b(h) > 0 is paid in every generation)")
        return GrowthResult(critical, k, None, n1, reason, inputs, ["K3", "KE2", "S2"])
    if isinstance(learner, Diffusion):
        floors = []
        if learner.c_prior > 0:
            floors.append(f"c_prior e^(-2T) = {learner.c_prior:g} e^(-2 x {learner.horizon:g}) at the fixed horizon T")
        if learner.c_approx > 0:
            floors.append(f"c_approx = {learner.c_approx:g}")
        if learner.width is not None and learner.c_mc > 0:
            floors.append(f"c_mc / m = {learner.c_mc:g} / {learner.width:g} at the fixed width m")
        if learner.tau != "auto" and learner.c_opt > 0:
            floors.append(f"c_opt / tau = {learner.c_opt:g} / {learner.tau:g} at the fixed training time")
        if floors:
            reason = ("no finite k: lemma D1 has terms that do not shrink with N (" + "; ".join(floors)
                      + "), so eps(N_i) stays above a positive floor and the sum over generations diverges")
            return GrowthResult(None, k, None, n1, reason, inputs, ["D1", "S2"])
        raise BoundcalcError("growth: for the diffusion learner without an error floor (c_prior = c_approx = 0, "
                             "width proportional to N, tau auto) the rate of D1 at the D2 optimum is not derived here")
    raise BoundcalcError(f"growth: not derived for the learner {learner.name!r}")
