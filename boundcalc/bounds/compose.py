"""Composition across generations (docs/theory.md section 4): the recursion and its closed forms.

The recursion [derived] (lemmas T2 then T1, or convexity for ``accumulate``)::

    a_1 <= eps_1,    a_i <= eps_i + TV(q_i, p0),    TV(q_i, p0) <= sum_j w_ij a_j,

with ``w_ij`` the weight of p_j in the training law q_i (:meth:`Scheme.tv_coefficients`).
:func:`compose_bound` iterates it exactly in mpmath (every step taken with equality), with
eps_i from the learner; :func:`closed_form` gives the finite-sum closed forms that exist for
learners whose error depends on N alone:

* replace:     a_K = eps(n_real) + (K - 1) eps(n_synth);
* mix (and schedule with constant lam, N):
               a_K = (1 - lam)^(K-1) eps(n_real) + eps(N) (1 - (1 - lam)^(K-1)) / lam;
* accumulate:  a_K = eps(N_K) + n_synth sum_{j=1}^{K-1} eps(N_j) / N_{j+1},
               N_j = n_real + (j - 1) n_synth (with N_j = j n and constant eps: eps H_K).

Each closed form is checked against the iteration in the tests and proved in
``derivations/composition.md``.
"""

from __future__ import annotations

import mpmath
import sympy as sp
from sympy.utilities.lambdify import implemented_function

from boundcalc.theory import notation as S
from boundcalc._checks import check_positive_int, check_probability
from boundcalc.bounds.learners import Learner
from boundcalc.bounds.result import BoundResult, ClosedForm
from boundcalc.model.schemes import Accumulate, Mix, Replace, Schedule, Scheme

_j = sp.Symbol("j", positive=True, integer=True)


def recursion(eps: list, scheme: Scheme) -> list:
    """a_1..a_K from eps_1..eps_K by the recursion of docs/theory.md section 4.1, every step with equality."""
    state = _Recursion(scheme)
    return [state.step(e) for e in eps]


class _Recursion:
    """a_i = eps_i + sum_j w_ij a_j, one generation per :meth:`step` (a running sum for accumulate)."""

    def __init__(self, scheme: Scheme):
        self.scheme, self.a, self.total = scheme, [], mpmath.mpf(0)

    def step(self, e):
        i = len(self.a) + 1
        if i == 1:
            value = e
        elif isinstance(self.scheme, Accumulate):  # uniform weights n_synth / N_i on every earlier a_j
            value = e + mpmath.mpf(self.scheme.n_synth) / mpmath.mpf(self.scheme.n_total(i)) * self.total
        else:  # the plan's synthetic blocks (one, p_{i-1}, for replace / mix / schedule)
            plan = self.scheme.plan(i)
            n_i = mpmath.mpf(plan.n_total)
            value = e + mpmath.fsum(mpmath.mpf(b.count) / n_i * self.a[b.source - 1]
                                    for b in plan.blocks if b.source)
        self.a.append(value)
        self.total += value
        return value


def iter_bounds(scheme: Scheme, learner: Learner):
    """Yield a_1, a_2, ... without end, for a learner whose eps depends on N alone
    (the generations solver stops as soon as the target is crossed or the sequence has converged)."""
    if not learner.rate_only:
        raise ValueError("iter_bounds needs a learner whose error depends on N alone")
    state = _Recursion(scheme)
    while True:
        yield state.step(learner.eps_of_n(scheme.n_total(len(state.a) + 1)))


def _eps_function(learner: Learner):
    """eps(N) as a sympy function: the learner's expression when it has one, else implemented numerically."""
    if learner.eps_expr is not None:
        return lambda arg: learner.eps_expr.subs(S.N, arg)
    return implemented_function("varepsilon", learner.eps_of_n)


def _eps_latex(learner: Learner):
    """LaTeX of eps(arg): ``C\\,arg^{-\\alpha}`` for the power law, ``\\varepsilon(arg)`` otherwise."""
    if learner.eps_expr is not None and learner.name == "power":
        return lambda arg: f"C\\,{'(' + arg + ')' if ' ' in arg or '+' in arg else arg}^{{-\\alpha}}"
    return lambda arg: f"\\varepsilon({arg})"


_NR, _NS = r"n_{\mathrm{real}}", r"n_{\mathrm{synth}}"


def closed_form(scheme: Scheme, learner: Learner, generations: int) -> ClosedForm | None:
    """The closed form of a_K for this scheme and learner, or None where none is derived."""
    if not learner.rate_only:
        return None
    eps = _eps_function(learner)
    tex = _eps_latex(learner)
    K = S.K
    values = {S.K: generations, S.n_real: scheme.n_real, **learner.parameters}
    if isinstance(scheme, Replace):
        expr = eps(S.n_real) + (K - 1) * eps(S.n_synth)
        values[S.n_synth] = scheme.n_synth
        return ClosedForm(expr, values, "replace: sum of the per-generation errors", ("T2",),
                          f"{tex(_NR)} + (K-1)\\,{tex(_NS)}")
    if isinstance(scheme, Schedule):
        if len(set(scheme.real_fractions)) > 1 or len(set(scheme.sizes)) > 1:
            return None
        lam_value, size = scheme.real_fractions[0], scheme.sizes[0]
    elif isinstance(scheme, Mix):
        size = scheme.n_real + scheme.n_synth
        lam_value = scheme.n_real / size
    elif isinstance(scheme, Accumulate):
        term = eps(S.n_real + (_j - 1) * S.n_synth) / (S.n_real + _j * S.n_synth)
        expr = eps(S.n_real + (K - 1) * S.n_synth) + S.n_synth * sp.Sum(term, (_j, 1, K - 1))
        values[S.n_synth] = scheme.n_synth
        return ClosedForm(expr, values, "accumulate: telescoped prefix sums", ("T2", "T1"),
                          f"{tex('N_K')} + {_NS} \\sum_{{j=1}}^{{K-1}} \\frac{{{tex('N_j')}}}{{N_{{j+1}}}}",
                          f"N_j = {_NR} + (j-1)\\, {_NS}")
    else:
        return None
    if lam_value == 1:
        expr = sp.Piecewise((eps(S.n_real), sp.Eq(K, 1)), (eps(S.N), True))
        template = f"{tex('N')} \\ (K \\ge 2)"
    elif lam_value == 0:  # the limit lam -> 0 of the geometric series: K - 1 fully synthetic generations
        values[S.N] = size
        return ClosedForm(eps(S.n_real) + (K - 1) * eps(S.N), values,
                          "schedule with no real data after generation 1: sum of the per-generation errors",
                          ("T2",), f"{tex(_NR)} + (K-1)\\,{tex('N')}")
    else:
        expr = (1 - S.lam) ** (K - 1) * eps(S.n_real) + eps(S.N) * (1 - (1 - S.lam) ** (K - 1)) / S.lam
        template = (f"(1-\\lambda)^{{K-1}}\\, {tex(_NR)} + "
                    f"\\frac{{1-(1-\\lambda)^{{K-1}}}}{{\\lambda}}\\, {tex('N')}")
    values.update({S.lam: lam_value, S.N: size})
    return ClosedForm(expr, values, "mix: geometric series in (1 - lambda)", ("T2", "T1"), template)


def compose_bound(scheme: Scheme, learner: Learner, generations: int, delta=0.05,
                  with_closed_form: bool = True) -> BoundResult:
    """Bounds a_1..a_K on TV(p_i, p0) for ``generations`` generations of ``scheme``.

    delta is the failure probability of the whole K-generation statement (split by lemma C3
    inside learners that use it; the power law uses none).
    """
    K = check_positive_int("generations", generations)
    check_probability("delta", delta)
    if isinstance(scheme, Schedule):
        scheme.check_generations(K)
    errors = learner.errors(scheme, K, delta)
    eps = [e.eps for e in errors]
    bound = recursion(eps, scheme)
    provenance = sorted(set(learner.lemma_ids) | {"T1", "T2"} | ({"C3"} if learner.uses_delta else set()),
                        key=_lemma_order)
    notes = []
    if bound[-1] > 1:
        notes.append("the bound exceeds 1 and is vacuous there (TV <= 1 always)")
    if not scheme.exact_recursion:
        notes.append("TV(q_i, p0) is bounded by convexity of TV (lemma T1's corollary), not an identity")
    return BoundResult(
        bound=bound, eps=eps,
        inputs={"scheme": scheme.to_dict(), "learner": learner.to_dict(), "generations": K, "delta": delta},
        assumptions=_scheme_assumptions(scheme) + learner.assumptions(scheme),
        provenance=provenance,
        closed_form=closed_form(scheme, learner, K) if with_closed_form else None,
        terms=[{"generation": e.generation, "n_total": e.n_total, **e.terms} for e in errors],
        notes=notes)


def _scheme_assumptions(scheme: Scheme) -> list[str]:
    items = ["generation 1 is trained on n_real real samples; a_i = TV(p_i, p0) is bounded by "
             "a_i <= eps_i + TV(q_i, p0) (lemmas T2, T1)"]
    if getattr(scheme, "real_data", "fresh") == "reused":
        items.append("real data reused: the same n_real real samples in every generation")
    return items


_ORDER = ["T1", "T2", "T3", "T4", "T4p", "GTV", "C1", "C2", "C3", "K1", "K1p", "K2", "K3", "K4", "D1", "D2", "D3"]


def _lemma_order(lemma_id: str) -> int:
    return _ORDER.index(lemma_id) if lemma_id in _ORDER else len(_ORDER)
