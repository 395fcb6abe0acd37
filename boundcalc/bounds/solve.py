"""Solvers: leave exactly one quantity unknown and solve for it (statsmodels' ``solve_power`` style).

:func:`solve` brings the final bound a_K under a target by choosing one of

* ``n-real``: the smallest integer n_real (other inputs fixed; for ``mix`` given by a real fraction,
  n_synth scales with n_real);
* ``n-synth``: the smallest integer n_synth (``mix`` starts at 0, pure real data; the bound need not be
  monotone in n_synth, see :mod:`boundcalc.bounds.phase`, so the range is scanned on a geometric grid before
  the crossing is bisected);
* ``real-fraction``: the smallest real fraction lam of a per-generation budget N = n_real + n_synth:
  every generation trains on lam N real samples (generation 1 on those alone) and, from generation 2,
  (1 - lam) N samples of the previous generation (scheme ``mix``). The bound decreases in lam;
* ``generations``: the largest K such that every a_k, k <= K, stays under the target.

Every answer is substituted back: the result says whether the value meets the target, whether the
next smaller value (or K + 1) fails it, and, where a closed form exists, that it agrees with the
iteration. An unreachable target is reported with the floor that prevents it.

:func:`optimal_tau` (lemma D2) and :func:`optimal_bandwidth` (lemma K3) are re-exported here.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

from boundcalc.bounds.compose import closed_form, final_bound, iter_bounds, learner_errors, recursion
from boundcalc._checks import (BoundcalcError, check, check_choice, check_positive, check_positive_int,
                               check_probability, check_range)
from boundcalc.bounds.kde_terms import auto_bandwidth as optimal_bandwidth
from boundcalc.bounds.learners import DIFFUSION_DELTA_EXPONENT, Learner
from boundcalc.bounds.result import OptimumResult, SolveResult
from boundcalc.model.schemes import Mix, Replace, Scheme, make_scheme
from boundcalc.theory.catalogue import get_lemma

UNKNOWNS = ("n-real", "n-synth", "real-fraction", "generations")
#: the end of the first (double-precision) scan of the solvers
MAX_SIZE = 10 ** 16
#: the end of the extended scan in mpmath (sizes are exact Python integers there)
SEARCH_LIMIT = 10 ** 300
#: the extended scan stops when the bound changed by less than this (relative) over ``_FLAT_STEPS`` doublings
_FLAT_TOL = mpmath.mpf("1e-12")
_FLAT_STEPS = 10


def optimal_tau(m, n, c_stat=1.0, c_width=1.0, c_opt=1.0):
    """Lemma D2: the early-stopping time tau* >= 1, evaluated through the catalogue object."""
    return get_lemma("D2").evaluate(m=m, n=n, c_stat=c_stat, c_width=c_width, c_opt=c_opt)


def bound_sequence(scheme: Scheme, learner: Learner, generations: int, delta) -> list:
    """a_1..a_K (no closed form, no result object): the inner loop of every solver."""
    if hasattr(scheme, "check_generations"):
        scheme.check_generations(generations)
    return recursion([e.eps for e in learner_errors(learner, scheme, generations, delta)], scheme)


def _smallest_integer(f, target, low, high):
    """Smallest integer x in [low, high] with f(x) <= target, assuming f(low) > target >= f(high)
    and one crossing in between.

    The bracket is narrowed by the secant through (log x, f(x)) (a few steps for a smooth bound),
    each guess kept only when it lies strictly inside the bracket; bisection finishes."""
    for _ in range(8):
        if high - low <= 2:
            break
        f_lo, f_hi = f(low), f(high)
        if not (f_lo > target >= f_hi) or f_lo == f_hi:
            break
        u_lo, u_hi = mpmath.log(low) if low > 0 else mpmath.mpf(-1), mpmath.log(high)
        u = u_lo + (u_hi - u_lo) * (f_lo - target) / (f_lo - f_hi)
        guess = int(mpmath.nint(mpmath.exp(u)))
        for x in (guess - 1, guess + 1):  # two probes one apart usually bracket the crossing
            if low < x < high:
                if f(x) <= target:
                    high = x
                else:
                    low = x
    while high - low > 1:
        mid = (low + high) // 2
        if f(mid) <= target:
            high = mid
        else:
            low = mid
    return high


def solve(unknown: str, target, learner: Learner, scheme: str = "mix", generations=None,
          n_real=None, n_synth=None, real_data: str = "fresh", real_fraction=None,
          real_fractions=None, sizes=None, delta=0.05, max_generations: int | None = None,
          draw: str = "stratified") -> SolveResult:
    """Solve for ``unknown`` so that the bound meets ``target`` (see the module docstring)."""
    check_choice("unknown (--for)", unknown, UNKNOWNS)
    target = float(check_range("target", target, 0, 1, False, True))  # a TV distance is at most 1
    if scheme == "schedule" and unknown == "generations" and (
            len(real_fractions or ()) > 1 or len(sizes or ()) > 1):
        raise BoundcalcError("--for generations with schedule needs one --real-fractions value and one "
                             "--sizes value (per-generation lists fix K)")
    if scheme == "schedule" and unknown == "real-fraction" and (real_fractions or real_fraction):
        raise BoundcalcError("--for real-fraction solves for the real fraction: do not give --real-fractions")
    check_probability("delta", delta)
    inputs = {"scheme": scheme, "generations": generations, "n_real": n_real, "n_synth": n_synth,
              "real_data": real_data, "real_fraction": real_fraction, "delta": delta, "draw": draw,
              "learner": learner.to_dict(), "target": target}
    if unknown != "generations":
        generations = check_positive_int("generations", generations if generations is not None else 0)

    def build(**over):
        kw = dict(n_real=n_real, n_synth=n_synth, real_data=real_data, real_fraction=real_fraction,
                  real_fractions=real_fractions, sizes=sizes, draw=draw)
        kw.update(over)
        return make_scheme(scheme, **kw)

    def final(sch, K=generations):
        return final_bound(sch, learner, K, delta)  # O(K) time, O(1) memory for rate-only learners

    if unknown == "n-real":
        f = lambda x: final(build(n_real=x))  # noqa: E731
        return _integer_solve("n-real", f, target, int(getattr(learner, "range", (1,))[0]), inputs,
                              lambda x: build(n_real=x), generations, learner,
                              "more real data does not bring this bound under the target",
                              floor=_floor_over_n_real(learner, build, generations, delta),
                              float_scan=_float_scan(scheme, learner, generations, n_synth, real_data, real_fraction))
    if unknown == "n-synth":
        if scheme == "schedule":
            raise BoundcalcError("--for n-synth applies to replace, mix and accumulate")
        if real_fraction is not None:
            raise BoundcalcError("give n_synth or real_fraction, not both, when solving for n-synth")
        lowest = 0 if scheme == "mix" else 1
        f = lambda x: final(build(n_synth=x))  # noqa: E731
        return _integer_solve("n-synth", f, target, lowest, inputs, lambda x: build(n_synth=x), generations,
                              learner, "synthetic data cannot lower the error of generation 1, which sees only "
                                       "the n_real real samples", ratio=1.5,
                              floor=_floor_over_n_synth(learner, build(n_synth=lowest), generations, delta),
                              floor_reason="the floor of generation 1, proved for this scheme and learner",
                              scan_guide=_n_synth_guide(build(n_synth=1), learner, generations))
    if unknown == "real-fraction":
        return _fraction_solve(target, learner, scheme, generations, n_real, n_synth, real_data, delta, inputs,
                               draw=draw)
    return _generations_solve(target, learner, build(), delta, max_generations, inputs)


def _floor_over_n_real(learner, build=None, generations=1, delta=0.05):
    """A proven lower bound on a_K over every n_real (other inputs fixed), or None.

    Every scheme's recursion reads ``a_K = eps_K + (non-negative weights) . (a_1, ..., a_(K-1))``
    (theorem S1), so ``a_K >= eps_K >= inf_N eps(N)``; the infimum over N of the learner's error is:

    * power: ``C N^(-alpha) -> 0``: 0;
    * kde: ``eps = bias(h) + stochastic >= bias(h)`` for a given bandwidth h (K1 or K1'); with
      ``--bandwidth auto`` h follows n_real to 0: 0;
    * diffusion: the KL of each generation is lemma D1 at the constants of lemma D4 at ``delta_i = delta/K``
      (:meth:`~boundcalc.bounds.learners.Diffusion.delta_split`, as in the bound), a sum of non-negative
      terms; those that cannot vanish as N grows (``c_approx``, ``c_prior e^(-2T)``, ``c_opt / tau`` for a
      given tau, ``c_mc / m`` and ``c_width tau^3 / m^2`` for a given width, the last two times
      ``ell(delta_i)^k_delta``) bound it below; D3 is increasing in KL.

    For replace and a rate-only learner the floor is sharper: generations 2..K do not depend on
    n_real, so the recursion with eps_1 set to the floor above bounds a_K below (its limit).
    """
    from boundcalc.bounds.learners import KDE, Diffusion, PowerLaw
    base = _floor_of_eps(learner, delta, generations)
    if base is None or build is None or not learner.rate_only:
        return base
    sch = build(n_real=1)
    if isinstance(sch, Replace) and generations >= 2:
        # replace: generations 2..K train on n_synth samples whatever n_real is, so the recursion with
        # eps_1 lowered to the floor bounds a_K below for every n_real (S1's weights are non-negative)
        from boundcalc.bounds.compose import STEPWISE_STEPS
        if generations > STEPWISE_STEPS:
            # S1 for replace is a_i = eps(n_synth) + a_(i-1): the recursion from a_1 = base is
            # base + (K - 1) eps(n_synth) exactly; evaluated with downward rounding (a lower bound)
            e = learner.eps_of_n(sch.n_total(2))
            return mpmath.fadd(base, mpmath.fmul(generations - 1, e, rounding="d"), rounding="d")
        eps = [e.eps for e in learner_errors(learner, sch, generations, delta)]
        return recursion([base] + eps[1:], sch)[-1]
    return base


def _floor_over_n_synth(learner, scheme, generations, delta=0.05):
    """A proven lower bound on a_K over every n_synth (other inputs fixed), or None [derived].

    * replace, any rate-only learner: S1 reads ``a_i = eps(n_synth) + a_(i-1)``, so
      ``a_K >= a_1 + (K - 1) inf_N eps(N) = eps(n_real) + (K - 1) inf_N eps(N)``;
    * mix (fresh or reused real data), power learner with ``alpha <= 1``: with ``w = n_synth / N``,
      ``N = n_real + n_synth``, ``a_K = eps(N) (1 + w + ... + w^(K-2)) + w^(K-1) eps(n_real)`` and
      ``eps(N) / (1 - w) = C N^(1 - alpha) / n_real >= C n_real^(-alpha) = eps(n_real)``, hence
      ``a_K >= eps(n_real) ((1 - w^(K-1)) + w^(K-1)) = eps(n_real)`` (attained at n_synth = 0);
    * otherwise (accumulate, mix with alpha > 1, other learners) no floor is claimed: a target not
      reached by the scan is reported as not found, not as unreachable.
    """
    from boundcalc.bounds.learners import PowerLaw
    if not learner.rate_only or scheme.n_real is None:
        return None
    first = learner.eps_of_n(scheme.n_total(1))
    if isinstance(scheme, Replace):
        base = _floor_of_eps(learner, delta, generations)
        return None if base is None else first + (generations - 1) * base
    if isinstance(scheme, Mix) and isinstance(learner, PowerLaw) and learner.alpha <= 1:
        return first
    return None


def _floor_of_eps(learner, delta=0.05, generations=1):
    """inf over N of the learner's eps(N) in a run of ``generations`` generations at failure probability
    ``delta`` (see :func:`_floor_over_n_real`), or None."""
    from boundcalc.bounds.learners import KDE, Diffusion, PowerLaw
    if isinstance(learner, PowerLaw):
        return mpmath.mpf(0)
    if isinstance(learner, KDE):
        return mpmath.mpf(0) if learner.bandwidth == "auto" else mpmath.mpf(learner.bias(float(learner.bandwidth)))
    if isinstance(learner, Diffusion):
        c = dict(learner.delta_split(delta, generations).constants)  # lemma D4 at delta / K, as the bound
        c["c_stat"] = 0.0  # c_stat tau^4 / (m N): dropped (it may vanish)
        tau_given, width_given = learner.tau != "auto", learner.width is not None
        if not tau_given:
            c["c_opt"] = 0.0
        if not (tau_given and width_given):
            c["c_width"] = 0.0
        if not width_given:
            c["c_mc"] = 0.0
        kl = get_lemma("D1").evaluate(check=False, tau=learner.tau if tau_given else 1, n=1,
                                      m=learner.width if width_given else 1, T=learner.horizon, **c)
        return mpmath.mpf(get_lemma("D3").evaluate(KL=kl))
    return None


def _float_scan(scheme, learner, generations, n_synth, real_data, real_fraction):
    """For the power learner under replace, mix or accumulate with fresh real data and a given n_synth:
    x -> a_K(n_real = x) over an integer array, in double precision through the closed forms
    (:mod:`boundcalc.bounds.grid`; accumulate's sum S4 by :func:`~boundcalc.bounds.grid.accumulate_grid`,
    one vectorised pass of O(K) per point); None otherwise.  Only a guide: every answer is re-checked on
    the recursion (:func:`~boundcalc.bounds.compose.final_bound`).

    The scan carries ``monotone = True`` when a_K is proved nonincreasing in n_real [derived]: accumulate
    with the power law, where S4 reads ``a_K = eps(N_K) + n_synth sum_(j<K) eps(N_j) / N_(j+1)``,
    ``N_j = n_real + (j - 1) n_synth`` (with n_synth given, or n_synth = n_real: ``N_j = j n_real`` and
    ``n_synth / N_(j+1) = 1 / (j + 1)``); every term is nonincreasing in n_real since eps(N) = C N^(-alpha)
    decreases and N_(j+1) increases."""
    from boundcalc.bounds.grid import grid_bound
    from boundcalc.bounds.learners import PowerLaw
    if (scheme not in ("replace", "mix", "accumulate") or real_data != "fresh" or real_fraction is not None
            or not (learner.rate_only and learner.eps_expr is not None)):
        return None
    from boundcalc.model.schemes import make_scheme as _make

    def scan(xs):
        synth = np.asarray(xs) if n_synth is None else n_synth
        return grid_bound(_make(scheme, n_real=np.asarray(xs), n_synth=synth), learner, generations,
                          final_only=True).final
    scan.monotone = scheme == "accumulate" and isinstance(learner, PowerLaw)
    scan.generations = generations
    return scan


#: the double-precision guide scans n = 1 .. 4e18 on this many log-spaced integers
_GUIDE_POINTS = 2000


_GUIDE_SIZES = np.unique(np.round(np.logspace(0, 18.6, _GUIDE_POINTS)).astype(np.int64))

#: a full guide scan of accumulate evaluates (points x generations) terms of S4; above this many terms a
#: guide proved monotone (``scan.monotone``) is bisected instead: one point, one O(K) pass per step
_GUIDE_TERMS = 2 * 10 ** 7


def _bisected_guide(float_scan, xs, target):
    """(below, hit), consecutive integers (or the closest the doubles tell apart) with
    scan(below) > target >= scan(hit), by bisection over the guide sizes ``xs`` then over the integers
    between two of them; only for a scan proved nonincreasing (``float_scan.monotone``).  None when the
    ends do not bracket the target or a value is not finite."""
    def value(x):
        return float(float_scan(np.array([x], dtype=np.int64))[0])

    first, last = value(xs[0]), value(xs[-1])
    if not (math.isfinite(first) and math.isfinite(last)) or first <= target or last > target:
        return None
    lo, hi = 0, xs.size - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if value(xs[mid]) <= target else (mid, hi)
    below, hit = int(xs[lo]), int(xs[hi])
    while hit - below > 1:
        mid = (below + hit) // 2
        below, hit = (below, mid) if value(mid) <= target else (mid, hit)
    return below, hit


def _guided_bracket(F, float_scan, target, lowest):
    """(below, hit) with F(below) > target >= F(hit), found from the float guide and confirmed on the
    recursion (F), or None when the guide cannot be trusted (not monotone, no crossing, or disagreement).

    The guide scans :data:`_GUIDE_SIZES` and narrows the first crossing on linearly spaced integers; a
    guide proved monotone whose scan would exceed :data:`_GUIDE_TERMS` terms (accumulate at large K) is
    bisected instead (:func:`_bisected_guide`)."""
    xs = _GUIDE_SIZES[_GUIDE_SIZES >= max(lowest, 1)]
    if getattr(float_scan, "monotone", False) and xs.size * getattr(float_scan, "generations", 1) > _GUIDE_TERMS:
        found = _bisected_guide(float_scan, xs, target)
        if found is None:
            return None
        below, hit = found
    else:
        values = float_scan(xs)
        if not np.all(np.isfinite(values)) or np.any(np.diff(values) > 0):
            return None
        under = np.nonzero(values <= target)[0]
        if under.size == 0 or under[0] == 0:
            return None
        below, hit = int(xs[under[0] - 1]), int(xs[under[0]])
        for _ in range(8):  # narrow the bracket in double precision (integers, linearly spaced)
            if hit - below <= 1:
                break
            fine = np.unique(np.round(np.linspace(below, hit, 1025)).astype(np.int64))
            values = float_scan(fine)
            under = np.nonzero(values <= target)[0]
            if under.size == 0 or under[0] == 0 or np.any(np.diff(values) > 0):
                break
            below, hit = int(fine[under[0] - 1]), int(fine[under[0]])
    xs = np.unique(np.concatenate([xs, [below, hit]]))
    for _ in range(4):  # rounding at the target: widen by one guide step until the recursion confirms
        if F(below) > target and F(hit) <= target:
            return below, hit
        k = int(np.searchsorted(xs, below))
        below, hit = int(xs[max(k - 1, 0)]), int(xs[min(int(np.searchsorted(xs, hit)) + 1, xs.size - 1)])
    return None


def _integer_solve(name, f, target, lowest, inputs, scheme_at, generations, learner, reason, ratio=2.0,
                   floor=None, float_scan=None, floor_reason="the learner's error floor", scan_guide=None):
    """Smallest integer x >= lowest with f(x) <= target.

    A geometric scan (``ratio`` 2 for n-real, 1.5 for n-synth, whose bound rises and falls) finds the first scanned point under the target and bisection the
    crossing before it.  When no scanned point is under the target, the smallest scanned value is
    refined by a golden-section search in log x (a narrow dip between scanned points, as for a KDE
    whose bandwidth is tuned to n_real); only then is the target declared unreachable, with the
    smallest bound found as the floor.
    """
    seen = {}

    def F(x):
        if x not in seen:
            if x < 2 ** 53:
                seen[x] = f(x)
            else:  # beyond double precision: enough digits to tell x from x - 1
                with mpmath.workdps(30 + len(str(x))):
                    seen[x] = f(x)
        return seen[x]

    scanned = False
    guided = skipped = None
    if F(lowest) > target and float_scan is not None:
        guided = _guided_bracket(F, float_scan, target, lowest)
    if F(lowest) <= target:
        value = lowest
    elif guided is not None:  # the float guide brackets the crossing; bisection on the recursion decides it
        scanned = True
        value = _smallest_integer(F, target, *guided)
    else:
        scanned = True
        prev, x, hit = lowest, max(lowest, 1), None
        skipped = _skip_by_guide(scan_guide, lowest, ratio, target) if scan_guide is not None else None
        if skipped is not None and F(skipped[0]) > target:  # the point before the skipped scan, confirmed
            prev, x = skipped[0], skipped[1]
        else:
            skipped = None
        while x <= MAX_SIZE:
            if F(x) <= target:
                hit = x
                break
            prev, x = x, max(x + 1, int(math.ceil(x * ratio)))
        if hit is None:
            prev, hit = _refine_dip(F, seen, target)
        if hit is None and floor is not None and not floor > target:
            prev, hit = _extended_scan(F, seen, target, ratio)
            if hit is None:  # neither found nor proved unreachable: say so, never "verified"
                x_min = min(seen, key=seen.get)
                return SolveResult(name, None, seen[x_min], target, False, False, inputs, floor=floor,
                                   message=f"not found: no {name} up to {max(seen):.3e} brings a_K under "
                                           f"{target:g} (smallest a_K = {mpmath.nstr(seen[x_min], 8)} at {name} = "
                                           f"{x_min}; the bound stopped improving), but the proven floor "
                                           f"{mpmath.nstr(floor, 8)} does not exclude it: unreachability is not "
                                           "proved", checks={"argmin": x_min, "proven_floor": floor})
        if hit is None:
            x_min = min(seen, key=seen.get)
            smallest = seen[x_min]
            if floor is not None:  # proved: a_K >= floor > target for every value
                return SolveResult(name, None, smallest, target, False, True, inputs, floor=floor,
                                   message=f"unreachable: a_K >= {mpmath.nstr(floor, 8)} > {target:g} for every "
                                           f"{name} ({floor_reason}); the smallest bound found is "
                                           f"a_K = {mpmath.nstr(smallest, 8)} (at {name} = {x_min}); " + reason,
                                   checks={"argmin": x_min, "proven_floor": floor})
            # no proven floor: the scan is no proof that the target cannot be met (issue 11)
            return SolveResult(name, None, smallest, target, False, False, inputs, floor=None,
                               message=f"not found: the smallest bound found for {name} in [{lowest}, "
                                       f"{MAX_SIZE:.0e}] is a_K = {mpmath.nstr(smallest, 8)} (at {name} = {x_min}), "
                                       f"above {target:g}; no floor is proved for this scheme and learner, so "
                                       "unreachability is not proved", checks={"argmin": x_min})
        value = _smallest_integer(F, target, prev, hit)
    achieved = F(value)
    ordered = [seen[x] for x in sorted(seen)]
    checks = {"meets_target": bool(achieved <= target),
              "smaller_value_fails": bool(value == lowest or F(value - 1) > target),
              "monotone_on_scan": bool(all(b <= a for a, b in zip(ordered, ordered[1:])))}
    checks.update(_closed_form_check(scheme_at(value), learner, generations, achieved))
    msg = f"smallest {name} = {value} gives a_K = {mpmath.nstr(achieved, 10)} <= {target:g}"
    if scanned and guided is None and skipped is not None:
        checks["monotone_on_scan"] = checks["monotone_on_scan"] and skipped[2]
    if guided is not None:
        checks["monotone_on_scan"] = True  # the guide's scan of the closed form was monotone (or is proved so)
        msg += " (closed form scanned in double precision, the crossing bisected on " + _recursion_arithmetic(
            scheme_at(value), learner, generations) + ")"
    elif scanned and skipped is not None:
        msg += (f" (geometric scan of ratio {ratio:g}, its points before the crossing read from the closed form "
                "in double precision, then bisection on the recursion)")
    elif scanned:
        msg += f" (geometric scan of ratio {ratio:g}, then bisection)"
    if not checks["monotone_on_scan"]:
        msg += "; the bound is not monotone in " + name + ", so a narrower dip below the scanned points cannot be excluded"
    verified = checks["meets_target"] and checks["smaller_value_fails"] and checks.get("closed_form_agrees", True)
    return SolveResult(name, value, achieved, target, True, verified, inputs, message=msg, checks=checks)


#: a scan point is taken from the double-precision guide only when its value is this far (relative) from the target
_GUIDE_MARGIN = 1e-9


def _n_synth_guide(scheme, learner, generations):
    """For ``--for n-synth`` under accumulate with the power learner past ``STEPWISE_STEPS`` generations
    (where every candidate costs thousands of mpmath steps): s -> a_K(n_synth = s) over an integer array in
    double precision, theorem S4 by :func:`~boundcalc.bounds.grid.accumulate_grid` (relative error far
    below :data:`_GUIDE_MARGIN`); None otherwise.  Read by :func:`_skip_by_guide` only."""
    from boundcalc.bounds.compose import STEPWISE_STEPS
    from boundcalc.bounds.grid import accumulate_grid
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.model.schemes import Accumulate
    if not (isinstance(scheme, Accumulate) and isinstance(learner, PowerLaw) and generations > STEPWISE_STEPS
            and getattr(scheme, "real_data", "fresh") == "fresh"):
        return None
    n_real = float(scheme.n_real)

    def guide(xs):
        with np.errstate(all="ignore"):
            return accumulate_grid(np.full(len(xs), n_real), np.asarray(xs, dtype=float), learner, generations,
                                   final_only=True)[0]
    return guide


def _skip_by_guide(guide, lowest, ratio, target):
    """Where the geometric scan of :func:`_integer_solve` may start: ``(prev, x, monotone)`` such that the
    guide puts every scan point before x more than :data:`_GUIDE_MARGIN` (relative) above the target and the
    point after x that far below it, so the scan on the recursion visits x and the next point only (the same
    points it would stop at); ``monotone``: the guide's values on the skipped points do not increase.  None
    when the guide finds no such crossing (the scan then visits every point)."""
    points = [max(lowest, 1)]
    while points[-1] <= MAX_SIZE:
        points.append(max(points[-1] + 1, int(math.ceil(points[-1] * ratio))))
    points = points[:-1]
    values = []
    for lo in range(0, len(points), 16):  # blocks of 16 points: stop at the first block that crosses
        block = guide(points[lo:lo + 16])
        values.extend(block.tolist())
        if not np.all(np.isfinite(block)) or np.any(block <= target * (1 + _GUIDE_MARGIN)):
            break
    values = np.array(values)
    near = np.nonzero(~np.isfinite(values) | (values <= target * (1 + _GUIDE_MARGIN)))[0]
    if near.size == 0:
        return None
    j = int(near[0])
    if j < 2 or not values[j] <= target * (1 - _GUIDE_MARGIN):
        return None
    return points[j - 2], points[j - 1], bool(np.all(np.diff(values[:j + 1]) <= 0))


def _recursion_arithmetic(scheme, learner, generations) -> str:
    """How :func:`~boundcalc.bounds.compose.final_bound` evaluates a_K for this loop, in words: in mpmath,
    or (accumulate and per-generation schedules past ``STEPWISE_STEPS`` generations, a vectorised learner)
    in mpmath for the first generations and then in doubles rounded upward."""
    from boundcalc.bounds.compose import STEPWISE_STEPS, _accumulate_fast, _one_source_fast
    from boundcalc.model.schemes import is_steady
    if _accumulate_fast(scheme, learner, generations) or (
            _one_source_fast(scheme, learner, generations) and not is_steady(scheme)):
        return (f"the recursion: mpmath for generations 1..{STEPWISE_STEPS}, then doubles rounded upward "
                "(an upper bound on the exact value)")
    return "the recursion in mpmath"


def _extended_scan(F, seen, target, ratio):
    """Continue the geometric scan past :data:`MAX_SIZE` with exact integer sizes, in mpmath, up to
    :data:`SEARCH_LIMIT`; stop at the first point under the target, or when the bound has changed by
    less than ``_FLAT_TOL`` (relative) over ``_FLAT_STEPS`` steps.  Returns (below, hit) or (None, None)."""
    x = max(seen)
    history = [F(x)]
    while x < SEARCH_LIMIT:
        prev, x = x, max(x + 1, int(mpmath.ceil(mpmath.mpf(x) * ratio)))
        value = F(x)
        if value <= target:
            return prev, x
        history.append(value)
        if len(history) > _FLAT_STEPS and abs(history[-1 - _FLAT_STEPS] - value) <= _FLAT_TOL * abs(value):
            break
    return None, None


def _refine_dip(F, seen, target):
    """Golden-section search in log x around the smallest value in ``seen`` (x -> F(x), filled by F);
    returns (below, hit) with F(below) > target >= F(hit) when a point under the target is found,
    else (None, None)."""
    xs = sorted(seen)
    k = min(range(len(xs)), key=lambda j: seen[xs[j]])
    lo, hi = (mpmath.log(max(x, 1)) for x in (xs[max(k - 1, 0)], xs[min(k + 1, len(xs) - 1)]))
    golden = (mpmath.sqrt(5) - 1) / 2
    for _ in range(60):
        if hi - lo < mpmath.mpf("1e-9"):
            break
        a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
        if F(int(mpmath.nint(mpmath.exp(a)))) <= F(int(mpmath.nint(mpmath.exp(b)))):
            hi = b
        else:
            lo = a
    best = min((x for x in seen if x >= xs[max(k - 1, 0)]), key=seen.get)
    if seen[best] > target:
        return None, None
    return max(x for x in seen if x < best and seen[x] > target), best


def _closed_form_check(scheme, learner, generations, achieved) -> dict:
    """``closed_form_agrees``: the closed form (S2-S4) equals the solver's a_K to 1e-12 relative.  S4 past
    ``STEPWISE_STEPS`` generations is summed in doubles with an exactly rounded sum (about (k_e + 4) u
    relative, far inside the tolerance) rather than term by term in mpmath (seconds at K = 1e5)."""
    from boundcalc.bounds.compose import STEPWISE_STEPS
    cf = closed_form(scheme, learner, generations, mpmath_terms=STEPWISE_STEPS)
    if cf is None:
        return {}
    value = cf.evaluate()
    return {"closed_form_agrees": bool(abs(value - achieved) <= mpmath.mpf("1e-12") * max(1, abs(achieved)))}


def _fraction_solve(target, learner, scheme, generations, n_real, n_synth, real_data, delta, inputs,
                    draw: str = "stratified"):
    """Smallest real fraction lam = r / N of a per-generation budget N = n_real + n_synth: the real
    count r = round_size(lam N) is an integer (the rounding rule of :mod:`boundcalc.model.schemes`),
    so the search is over r in [1, N] and lam is reported as r / N exactly."""
    if scheme not in ("mix", "schedule"):
        raise BoundcalcError(f"--for real-fraction applies to mix and schedule, not {scheme}")
    n_real = check("n_real", n_real)
    budget = n_real + (n_real if n_synth is None else check("n_synth", n_synth))
    inputs["budget_per_generation"] = budget

    def scheme_at(real):
        return Mix.fraction(mpmath.mpf(real) / budget if real < budget else 1, budget, real_data, draw)

    seen = {}

    def f(real):
        if real not in seen:
            seen[real] = final_bound(scheme_at(real), learner, generations, delta)
        return seen[real]

    if f(budget) > target:
        floor = f(budget)
        return SolveResult("real-fraction", None, floor, target, False, True, inputs, floor=floor,
                           message=f"unreachable: even all-real training sets of {budget:g} samples give "
                                   f"a_K = {mpmath.nstr(floor, 6)} > {target:g}")
    real = 1 if f(1) <= target else _smallest_integer(f, target, 1, budget)
    value = real / budget
    achieved = f(real)
    checks = {"meets_target": bool(achieved <= target), "smaller_value_fails": bool(real == 1 or f(real - 1) > target)}
    checks.update(_closed_form_check(scheme_at(real), learner, generations, achieved))
    return SolveResult("real-fraction", value, achieved, target, True, all(checks.values()), inputs,
                       message=f"real fraction {value:g} of {budget:g} samples per generation "
                               f"({real} real) gives a_K = {mpmath.nstr(achieved, 6)}",
                       checks={**checks, "n_real_per_generation": real})


#: default search limit of the generations solver: one pass for rate-only learners; the KDE's
#: union bound needs a recomputation per candidate K (and K4 laws of up to c K components)
MAX_GENERATIONS = {True: 10_000, False: 64}


def _generations_solve(target, learner, scheme, delta, max_generations, inputs):
    cap = check_positive_int("max_generations", max_generations if max_generations is not None
                             else MAX_GENERATIONS[learner.rate_only])
    from boundcalc.bounds.learners import KDE, MAX_KDE_GENERATIONS, WHY_KDE_GENERATIONS
    if isinstance(learner, KDE) and cap > MAX_KDE_GENERATIONS:  # the search would compose more than the guard allows
        raise BoundcalcError(f"max_generations must be an integer in [1, {MAX_KDE_GENERATIONS}] with the kde learner "
                             f"({WHY_KDE_GENERATIONS}), got {cap}")
    searched, peak = 0, None
    if learner.rate_only:  # a_k does not depend on K: one pass, stopped early
        over, last, searched, peak = _scan_generations(scheme, learner, target, cap)
    else:  # the union bound makes a_k grow with K: double K until "all a_k^(K) <= target" fails, then bisect
        def ok(K):
            return max(bound_sequence(scheme, learner, K, delta)) <= target
        lo, hi = 0, 1
        while hi <= cap and ok(hi):
            lo, hi = hi, min(2 * hi, cap + 1) if hi < cap else cap + 1
        if hi > cap:
            over, last = None, bound_sequence(scheme, learner, cap, delta)
            searched = len(last)
        else:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if ok(mid) else (lo, mid)
            over, last = hi, None
    if over == 1:
        a1 = bound_sequence(scheme, learner, 1, delta)[0]
        return SolveResult("generations", 0, a1, target, False, True, inputs, floor=a1,
                           message=f"unreachable: already a_1 = {mpmath.nstr(a1, 6)} > {target:g}")
    if over is None:
        limit = last[-1]
        # only a rate-only learner's sequence can be said to converge: the KDE's a_k grow with K (delta / K)
        converged = learner.rate_only and (len(last) == 1 or abs(last[-1] - last[-2]) <= mpmath.mpf("1e-12") * abs(last[-1]))
        if converged:
            msg = (f"every K stays under the target: the bound converges to {mpmath.nstr(limit, 6)} "
                   f"(changes below 1e-15 relative after K = {searched})")
        else:
            msg = f"every K <= {cap} stays under the target; the bound reaches {mpmath.nstr(limit, 6)} at K = {cap}"
        return SolveResult("generations", None, limit, target, True, True, inputs, message=msg,
                           checks={"searched_up_to": searched, "converged": bool(converged)})
    value = over - 1
    from boundcalc.bounds.compose import STEPWISE_STEPS
    if learner.rate_only and value > STEPWISE_STEPS:
        # a_k does not depend on K: the pass above saw a_1..a_K under the target (peak); a_K and a_(K+1)
        # again by final_bound, O(K) each (the stored sequence would be O(K) mpmath numbers)
        seq_last, nxt_last = (mpmath.mpf(final_bound(scheme, learner, k, delta)) for k in (value, value + 1))
        checks = {"meets_target": bool(peak <= target and seq_last <= target),
                  "next_generation_fails": bool(nxt_last > target)}
    else:
        seq = bound_sequence(scheme, learner, value, delta)
        nxt = bound_sequence(scheme, learner, value + 1, delta)
        seq_last, nxt_last = seq[-1], nxt[-1]
        checks = {"meets_target": bool(max(seq) <= target), "next_generation_fails": bool(max(nxt) > target)}
    return SolveResult("generations", value, seq_last, target, True, all(checks.values()), inputs,
                       message=f"largest K = {value}: a_K = {mpmath.nstr(seq_last, 6)} <= {target:g}, "
                               f"a_(K+1) = {mpmath.nstr(nxt_last, 6)}", checks=checks)


def _scan_generations(scheme, learner, target, cap):
    """``(over, last, searched, peak)``: the first k with a_k > target (or None), the last one or two values
    seen, the number seen and the maximum of those under the target; the pass stops at ``cap`` or when a_k changes by at most 1e-15
    relative (k > 10).  The blocks of the double continuation (:func:`_rate_only_bounds`) are checked as
    arrays."""
    over, last, k, peak = None, [], 0, None
    tol = mpmath.mpf("1e-15")
    for block in _rate_only_bounds(scheme, learner, cap):
        if isinstance(block, np.ndarray):
            ks = k + 1 + np.arange(block.size)
            prev = np.concatenate([[float(last[-1]) if last else np.nan], block[:-1]])
            stops = (block > target) | (ks >= cap) | ((ks > 10) & (np.abs(block - prev) <= 1e-15 * np.abs(block)))
            end = int(np.argmax(stops)) if stops.any() else block.size - 1
            seen = block[:end + 1]
            under = seen[:-1] if seen[-1] > target else seen  # the peak of the values under the target
            if under.size:
                top = float(under.max())
                peak = top if peak is None or top > peak else peak
            last = ([last[-1]] if last else []) + [mpmath.mpf(v) for v in seen[-2:].tolist()]  # exact
            last = last[-2:]
            k += end + 1
            if stops.any():
                if block[end] > target:
                    over = k
                return over, last, k, peak
            continue
        a = block
        k += 1
        last = [last[-1], a] if last else [a]
        if a > target:
            return k, last, k, peak
        peak = a if peak is None or a > peak else peak
        if k >= cap or (k > 10 and abs(a - last[-2]) <= tol * abs(a)):
            break
    return over, last, k, peak


def _rate_only_bounds(scheme, learner, cap):
    """a_1, a_2, ... of a rate-only learner (a_k does not depend on K), lazily, one mpmath number or a float64
    array (a block of the double continuation) at a time: theorem S1 in mpmath
    (:func:`~boundcalc.bounds.compose.iter_bounds`) for the first ``STEPWISE_STEPS`` generations, then, for a
    vectorised learner (power, table) under accumulate, replace, mix or a schedule, the continuation in
    doubles rounded upward that :func:`~boundcalc.bounds.compose.compose_bound` prints (each value an upper
    bound on the exact one), a block of generations per numpy pass.  When a value of the continuation leaves
    the double range, the mpmath steps take over (from generation 1, the numbers already yielded skipped)."""
    from boundcalc.bounds import compose as C
    fast = cap > C.STEPWISE_STEPS and C._vectorised(learner) and (
        isinstance(scheme, C.Accumulate) or C._one_source_fast(scheme, learner, cap))
    if not fast:
        yield from iter_bounds(scheme, learner)
        return
    state = C._Recursion(scheme)
    for k in range(1, C.STEPWISE_STEPS + 1):
        yield state.step(learner.eps_of_n(scheme.n_total(k)))
    count = C.STEPWISE_STEPS
    try:
        tail = (C._accumulate_tail(scheme, learner, state.total, cap) if state._accumulate
                else C._one_source_tail(scheme, learner, state.a[-1], cap))
        for _, _, values in tail:
            count += values.size
            yield values
    except C._OutOfRange:
        for k, a in enumerate(iter_bounds(scheme, learner), start=1):
            if k > count:
                yield a


def optimum(quantity: str, n, width=None, width_ratio=1.0, c_stat=1.0, c_width=1.0, c_opt=1.0,
            target=None, delta=0.05, generations=1, delta_exponent=DIFFUSION_DELTA_EXPONENT) -> OptimumResult:
    """The optimal training time tau* (lemma D2) or KDE bandwidth h* (lemma K3) for n samples.

    tau: the constants of D2 are those of one D1 statement at failure probability ``delta_i = delta / K``
    (``K = generations``, lemma C3; 1 by default: a single training run), i.e. lemma D4's ``c_stat
    ell(delta_i)^k_delta`` and ``c_width ell(delta_i)^k_delta`` (``k_delta = delta_exponent``) beside ``c_opt``,
    from :meth:`boundcalc.bounds.learners.Diffusion.delta_split`: tau* is the one the diffusion learner uses in
    ``bound`` for the same N, delta and K.  Both optima are checked by evaluating the objective on either side.
    """
    check_choice("quantity", quantity, ("tau", "bandwidth"))
    n = check_positive("n", n)
    if quantity == "tau":
        from boundcalc.bounds.learners import Diffusion
        from boundcalc.theory.diffusion import early_stopping_objective
        from boundcalc.theory import notation as S
        learner = Diffusion(width=width, width_ratio=None if width is not None else width_ratio, c_stat=c_stat,
                            c_width=c_width, c_opt=c_opt, delta_exponent=delta_exponent)
        split = learner.delta_split(delta, generations)
        c = split.constants
        m = learner.width_for(n)
        g = early_stopping_objective().subs({S.m: m, S.n: n, S.c_stat: c["c_stat"], S.c_width: c["c_width"],
                                             S.c_opt: c["c_opt"]})
        g_at = lambda x: mpmath.mpf(str(g.subs(S.tau, x).evalf(30)))  # noqa: E731
        value = learner.tau_for(n, split.delta_i)  # lemma D2 at the constants of D4: what `bound` uses
        objective = g_at(value)
        interior = value > 1
        checks = {"below_neighbours": bool(objective <= g_at(value * 1.01) and (not interior or objective <= g_at(value * 0.99))),
                  "closed_form_without_width_term": get_lemma("D2").evaluate_part(
                      "closed form c_width = 0", m=m, n=n, c_stat=c["c_stat"], c_opt=c["c_opt"])}
        return OptimumResult("tau", value, objective,
                             {"n": n, "width": float(m), "c_stat": c_stat, "c_width": c_width, "c_opt": c_opt,
                              **split.fields()}, checks=checks,
                             curve=g_at,
                             message=f"tau* = {mpmath.nstr(value, 8)} minimises c_stat tau^4/(m n) + c_width tau^3/m^2 + "
                                     f"c_opt/tau over tau >= 1 (value {mpmath.nstr(objective, 6)}); "
                                     + split.sentence())
    from boundcalc.bounds.kde_terms import kde_bias_tv, kde_expectation_tv
    from boundcalc.model.targets import parse_target
    target = target if target is not None and not isinstance(target, str) else parse_target(target)
    lap = target.laplacian_l1()

    def objective_at(h):  # the K3 objective in TV: bias (K1 halved) + expected stochastic term (K2 halved)
        return kde_bias_tv(h, lap) + kde_expectation_tv(n, h, target.dim, target.k2_integral(h))

    from boundcalc._numeric import minimize_scalar  # not scipy.optimize (0.25 s to import)
    k3 = optimal_bandwidth(target, n)  # lemma K3 with J(h) frozen: the choice of --bandwidth auto
    best = minimize_scalar(lambda t: float(objective_at(math.exp(t))), method="bounded",
                           bounds=(math.log(k3) - math.log(10), math.log(k3) + math.log(10)),
                           options={"xatol": 1e-10})
    value = math.exp(best.x)
    objective = objective_at(value)
    checks = {"below_neighbours": bool(objective <= objective_at(value * 1.01) and objective <= objective_at(value * 0.99)),
              "k3_bandwidth": k3, "k3_objective": objective_at(k3)}
    return OptimumResult("bandwidth", value, objective, {"n": n, "target": target.to_dict()}, checks=checks,
                         curve=objective_at,
                         message=f"h* = {value:.6g} minimises (h^2/4)||Laplacian p0||_1 + (1/2)(4 pi)^(-d/4) "
                                 f"(n h^d)^(-1/2) J(h) (value {mpmath.nstr(objective, 6)}); lemma K3 with J "
                                 f"frozen, the choice of --bandwidth auto, gives h = {k3:.6g} "
                                 f"(value {mpmath.nstr(checks['k3_objective'], 6)})")
