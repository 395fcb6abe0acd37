"""Phase transition in the amount of synthetic data (theorem P1) [derived, reproduces Fu24].

Generation I of ``mix`` with n_real real samples and s synthetic samples of p_{I-1}:

    f(s) = eps(n_real + s) + s / (n_real + s) * a_{I-1}.

For the power law ``eps(N) = C N^(-alpha)`` with 0 < alpha < 1 (theorem P1 of the catalogue, which
this module evaluates), ``f'(s) = 0`` iff
``a_{I-1} n_real = alpha C N^(1 - alpha)``, so

    N* = (a_{I-1} n_real / (alpha C))^(1 / (1 - alpha)),    s* = N* - n_real,

and a transition (f rising on [0, s*], falling after it towards a_{I-1}) exists iff
``a_{I-1} > alpha C n_real^(-alpha)``.  For other learners the maximiser of f is located
numerically (geometric grid, then golden-section refinement in log s) and checked.

a_{I-1} is the bound of the same ``mix`` loop with ``n_synth_before`` synthetic samples in
generations 2..I-1 (default n_real), or a value the user supplies (``previous_tv``).
"""

from __future__ import annotations

import math

import mpmath

from boundcalc._checks import BoundcalcError, check, check_probability, check_range
from boundcalc.bounds.learners import Learner, PowerLaw
from boundcalc.bounds.result import PhaseResult
from boundcalc.model.schemes import Schedule
from boundcalc.bounds.compose import final_bound, last_step
from boundcalc.bounds.solve import bound_sequence
from boundcalc.theory.catalogue import get_lemma

#: n_synth / n_real at which the limit s -> infinity is evaluated for numeric learners
LIMIT_RATIO = mpmath.mpf(10) ** 15


def phase_transition(learner: Learner, n_real, generation: int = 2, previous_tv=None,
                     n_synth_before=None, delta=0.05, draw: str = "stratified") -> PhaseResult:
    """Locate the threshold amount of synthetic data at ``generation`` (>= 2); ``draw`` is how the mix
    training sets are drawn (:data:`boundcalc.model.schemes.DRAWS`; the diffusion learner needs "iid")."""
    n_real = check("n_real", n_real)
    I = check("generation", generation)
    if previous_tv is not None and n_synth_before is not None:
        raise BoundcalcError("give previous_tv (a_(I-1) directly) or n_synth_before (to compute a_(I-1)), "
                             "not both: previous_tv replaces the generations that n_synth_before describes")
    check_probability("delta", delta)
    n_before = n_real if n_synth_before is None else check("n_synth_before", n_synth_before)
    if not math.isfinite(float(mpmath.mpf(n_real) + n_before)):
        raise BoundcalcError(f"n_real + n_synth_before (the size of generations 2..I-1) must be below 1.8e308, got "
                             f"{mpmath.nstr(mpmath.mpf(n_real) + n_before, 4)}")
    check("draw", draw)
    inputs = {"learner": learner.to_dict(), "n_real": n_real, "generation": I,
              "n_synth_before": n_before, "delta": delta, "previous_tv": previous_tv, "draw": draw}

    def scheme_at(s):
        lam_before = n_real / (n_real + n_before)
        return Schedule.continuous(n_real, [lam_before] * (I - 2) + [n_real / (n_real + s)],
                                   [n_real + n_before] * (I - 2) + [n_real + s], draw=draw)

    if previous_tv is not None:
        a_prev = mpmath.mpf(check_range("previous_tv", previous_tv, 0, 1))
        rest = lambda s: learner_eps_at(learner, scheme_at(s), I, delta)  # noqa: E731
        f = lambda s: rest(s) + mpmath.mpf(s) / (n_real + mpmath.mpf(s)) * a_prev  # noqa: E731
    elif getattr(learner, "run_rate", None) is not None and I >= 3:
        # the diffusion learner: within the I-generation statement every eps is at delta / I (lemma C3), so eps
        # is a function of N alone there (its run rate) and the paths of a rate-only learner apply, with
        # a_(I-1) the first I - 1 generations of that statement
        lam_before = n_real / (n_real + n_before)
        rate = learner.run_rate(scheme_at(0), I, delta)  # refuses an uncovered loop in one line
        a_prev = final_bound(Schedule.continuous(n_real, [lam_before], [n_real + n_before], draw=draw), learner,
                             I - 1, delta, union=I)
        f = lambda s: last_step(Schedule.continuous(n_real, [n_real / (n_real + s)], [n_real + s], draw=draw),  # noqa: E731
                                rate, 2, a_prev)
    elif learner.rate_only and type(learner).errors is Learner.errors:
        # eps depends on N alone and plans 1..I-1 do not depend on s: a_(I-1) once (O(I) time, O(1)
        # memory), then f(s) is the last step of theorem S1, as the recursion takes it
        lam_before = n_real / (n_real + n_before)
        a_prev = final_bound(Schedule.continuous(n_real, [lam_before], [n_real + n_before]), learner, I - 1, delta)
        # plan I of scheme_at(s) has the counts of plan 2 of the one-step schedule below (its source
        # p_(I-1) read as p_1): built in O(1) instead of a list of I entries per point
        f = lambda s: last_step(Schedule.continuous(n_real, [n_real / (n_real + s)], [n_real + s]),  # noqa: E731
                                learner, 2, a_prev)
    else:  # the same I-generation statement (and delta split) as f itself
        a_prev = bound_sequence(scheme_at(0), learner, I, delta)[I - 2]
        f = lambda s: bound_sequence(scheme_at(s), learner, I, delta)[-1]  # noqa: E731

    if isinstance(learner, PowerLaw):
        return _vacuous_check(_power_phase(learner, n_real, a_prev, f, inputs))
    return _vacuous_check(_numeric_phase(f, n_real, a_prev, inputs))


def _vacuous_check(result: PhaseResult) -> PhaseResult:
    """A peak of the bound at or above 1 is no transition of TV (TV <= 1 always): report it as
    vacuous, with the threshold of the bound itself kept among the checks."""
    if result.exists and result.peak >= 1:
        result.checks["threshold_of_the_bound"] = result.threshold
        result.message = (f"vacuous: the bound peaks at {mpmath.nstr(result.peak, 6)} >= 1 (at n_synth = "
                          f"{mpmath.nstr(result.threshold, 8)}); TV <= 1 always, so this is no phase transition "
                          "of TV(p_I, p0)")
        result.exists, result.threshold, result.vacuous = False, None, True
    elif not result.exists and min(result.at_zero, result.limit) >= 1:
        result.vacuous = True
        result.message = "vacuous: the bound is >= 1 for every n_synth (TV <= 1 always). " + result.message
    return result


def learner_eps_at(learner, scheme, generation, delta):
    return learner.errors(scheme, generation, delta)[-1].eps


def _power_phase(learner, n_real, a_prev, f, inputs):
    C, alpha = mpmath.mpf(learner.C), mpmath.mpf(learner.alpha)
    at_zero = f(0)
    if alpha >= 1:
        # f'(s) has the sign of a_(I-1) n_real - alpha C N^(1-alpha), N = n_real + s: for alpha = 1 a
        # constant sign, for alpha > 1 negative then positive; never an interior maximum
        return PhaseResult(False, None, max(at_zero, a_prev), a_prev, at_zero, inputs, "closed form", a_prev,
                           message=f"no transition: with alpha = {mpmath.nstr(alpha, 6)} >= 1 the bound has no "
                                   f"interior maximum in n_synth (it moves monotonically, or falls then rises, "
                                   f"from {mpmath.nstr(at_zero, 6)} towards {mpmath.nstr(a_prev, 6)})", curve=f)
    theorem = get_lemma("P1")  # the phase transition: threshold, critical size, existence condition
    values = {"a_prev": a_prev, "n_real": n_real, "alpha": alpha, "C": C}
    condition = theorem.evaluate_part("condition", check=False, alpha=alpha, C=C, n_real=n_real)
    closed = (r"s^* = \left(\frac{a_{I-1}\, n_{\mathrm{real}}}{\alpha C}\right)^{1/(1-\alpha)}"
              r" - n_{\mathrm{real}}, \quad \text{exists iff } a_{I-1} > \alpha C n_{\mathrm{real}}^{-\alpha}")
    if a_prev <= condition:
        return PhaseResult(False, None, at_zero, a_prev, at_zero, inputs, "closed form", a_prev, closed,
                           message=f"no transition: a_(I-1) = {mpmath.nstr(a_prev, 6)} <= alpha C n_real^-alpha = "
                                   f"{mpmath.nstr(condition, 6)}, so the bound decreases in n_synth from "
                                   f"{mpmath.nstr(at_zero, 6)} towards {mpmath.nstr(a_prev, 6)}",
                           checks={"condition": condition}, curve=f)
    s_star = theorem.evaluate(check=False, **values)  # a_prev may exceed 1 (a vacuous bound)
    peak = f(s_star)
    h = s_star * mpmath.mpf("1e-6")
    derivative = (f(s_star + h) - f(s_star - h)) / (2 * h)
    checks = {"derivative_at_threshold": derivative,
              "rises_before": bool(f(s_star / 2) < peak), "falls_after": bool(f(2 * s_star) < peak),
              "above_limit": bool(peak > a_prev)}
    return PhaseResult(True, s_star, peak, a_prev, at_zero, inputs, "closed form", a_prev, closed,
                       message=f"threshold n_synth* = {mpmath.nstr(s_star, 8)} "
                               f"({mpmath.nstr(s_star / n_real, 6)} n_real): the bound rises from "
                               f"{mpmath.nstr(at_zero, 6)} to {mpmath.nstr(peak, 6)}, then falls towards "
                               f"{mpmath.nstr(a_prev, 6)}", checks=checks, curve=f)


def _numeric_phase(f, n_real, a_prev, inputs):
    at_zero = f(0)
    limit = f(LIMIT_RATIO * n_real)
    ratios = [mpmath.mpf(10) ** (k / 8) for k in range(-32, 9 * 8 + 1)]  # 1e-4 .. 1e9 times n_real
    values = [f(r * n_real) for r in ratios]
    best = max(range(len(values)), key=lambda k: values[k])
    if values[best] <= at_zero * (1 + mpmath.mpf("1e-12")):  # rounding noise is no peak
        return PhaseResult(False, None, at_zero, limit, at_zero, inputs, "numeric", a_prev,
                           message=f"no transition found on n_synth in [1e-4, 1e9] n_real: the bound never "
                                   f"exceeds its value {mpmath.nstr(at_zero, 6)} at n_synth = 0; "
                                   f"limit {mpmath.nstr(limit, 6)}", curve=f)
    if best == len(values) - 1:
        return PhaseResult(False, None, limit, limit, at_zero, inputs, "numeric", a_prev,
                           message=f"no transition: the bound rises with n_synth all the way to its limit "
                                   f"{mpmath.nstr(limit, 6)} (no interior maximum on [1e-4, 1e9] n_real)", curve=f)
    lo = mpmath.log(ratios[max(best - 1, 0)] * n_real)
    hi = mpmath.log(ratios[min(best + 1, len(ratios) - 1)] * n_real)
    g = lambda x: -f(mpmath.exp(x))  # noqa: E731
    golden = (mpmath.sqrt(5) - 1) / 2
    for _ in range(50):  # the bracket shrinks to 1e-10 of its width in log s
        x1, x2 = hi - golden * (hi - lo), lo + golden * (hi - lo)
        if g(x1) < g(x2):
            hi = x2
        else:
            lo = x1
    s_star = mpmath.exp((lo + hi) / 2)
    peak = f(s_star)
    checks = {"local_maximum": bool(peak >= f(s_star * 0.99) and peak >= f(s_star * 1.01)),
              "above_start": bool(peak > at_zero), "interior": bool(0 < best < len(ratios) - 1)}
    return PhaseResult(True, s_star, peak, limit, at_zero, inputs, "numeric", a_prev,
                       message=f"threshold n_synth* = {mpmath.nstr(s_star, 8)} ({mpmath.nstr(s_star / n_real, 6)} "
                               f"n_real), located numerically: peak {mpmath.nstr(peak, 6)}, limit "
                               f"{mpmath.nstr(limit, 6)}", checks=checks, curve=f)
