"""Composition across generations: the recursion (theorem S1) and its closed forms (S2-S4).

The recursion [derived] (lemmas T2 then T1, or convexity for ``accumulate``)::

    a_1 <= eps_1,    a_i <= eps_i + TV(q_i, p0),    TV(q_i, p0) <= sum_j w_ij a_j,

with ``w_ij`` the weight of p_j in the training law q_i (the scheme's plan).  Every step is the
evaluation of theorem S1 of the catalogue (:func:`recursion_step`); :func:`compose_bound` iterates
it exactly in mpmath (every step taken with equality), with eps_i from the learner.
:func:`closed_form` takes the finite-sum closed forms from the theorem objects S2 (replace),
S3 (mix, and schedule with constant lam, N) and S4 (accumulate), with the learner's rate
substituted for ``varepsilon(N)``.  Each closed form is checked against the iteration in the tests
and proved in ``derivations/S2.md`` .. ``S4.md``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import mpmath
import numpy as np
import sympy as sp
from sympy.utilities.lambdify import implemented_function

from boundcalc.theory import notation as S
from boundcalc.theory.catalogue import get_lemma
from boundcalc.theory.theorems import closed_form_template, with_rate
from boundcalc._checks import check_positive_int, check_probability
from boundcalc.bounds.learners import Learner
from boundcalc.bounds.result import TABLE_ROWS, BoundResult, ClosedForm
from boundcalc.model.schemes import Accumulate, Mix, Replace, Schedule, Scheme, is_steady, n_totals


def recursion_step(eps_i, weights, previous):
    """One step of theorem S1: ``eps_i + sum_{j >= 1} weights[j] * previous[j-1]``.

    ``weights`` is a plan's weight list indexed by source (index 0, the real data, carries no
    earlier bound and is ignored); ``previous`` the bounds a_1..a_{i-1}.  For the validators.
    """
    pairs = [(mpmath.mpmathify(w), previous[j - 1]) for j, w in enumerate(weights) if j > 0 and w]
    return get_lemma("S1").evaluate(epsilon=eps_i, weights=[w for w, _ in pairs], previous=[a for _, a in pairs])


def recursion(eps: list, scheme: Scheme) -> list:
    """a_1..a_K from eps_1..eps_K by theorem S1, every step with equality."""
    state = _Recursion(scheme)
    return [state.step(e) for e in eps]


#: True when every plan i >= 2 is plan 2 with its synthetic source moved to p_{i-1} (replace, mix, a
#: one-value schedule): :func:`boundcalc.model.schemes.is_steady`; N_1..N_K: :func:`boundcalc.model.schemes.n_totals`
_steady = is_steady



class _Recursion:
    """a_i = eps_i + sum_j w_ij a_j (theorem S1), one generation per :meth:`step`, in O(1) per step:

    * accumulate: every earlier a_j has the same weight n_synth / N_i, so the weighted sum is
      that weight times the running total (one term of S1's sum instead of i - 1);
    * replace and mix: the plan of generation i >= 2 is that of generation 2 with its synthetic
      source p_1 moved to p_{i-1}, so its weights are read once (no plan built per generation).
    """

    def __init__(self, scheme: Scheme):
        self.scheme, self.a, self.total = scheme, [], mpmath.mpf(0)
        self.theorem = get_lemma("S1")
        # S1's numeric evaluator, called directly in the one-term steps (the catalogue object's own function,
        # without the keyword handling of ``evaluate``)
        self._s1 = self.theorem.numeric if self.theorem.numeric is not None else self.theorem.evaluate
        self._steady_weights = None
        self._accumulate = isinstance(scheme, Accumulate)
        if self._accumulate:
            scheme._require_complete()  # once: the steps read n_real and n_synth directly
        self._last_eps = None  # eps_{i-1} (for the fixed point of a steady loop)
        self.count = 0
        if _steady(scheme):
            plan = scheme.plan(2) if scheme.n_real is not None else None
            if plan is not None:
                n_2 = mpmath.mpf(plan.n_total)
                sources = [b for b in plan.blocks if b.source]
                if all(b.source == 1 for b in sources):  # one synthetic source, the previous generation
                    self._steady_weights = [mpmath.mpf(b.count) / n_2 for b in sources]

    def step(self, e):
        self.count += 1
        i = self.count  # the generation (``a`` may be trimmed by :func:`final_bound`)
        if i == 1:
            weights, previous = (), ()
        elif self._accumulate:  # uniform weights n_synth / N_i on every earlier a_j: S1 with one term
            n_i = self.scheme.n_real + (i - 1) * self.scheme.n_synth  # N_i (Accumulate.n_total, without its checks)
            value = self._s1(epsilon=e, weights=(mpmath.mpf(self.scheme.n_synth) / mpmath.mpf(n_i),),
                             previous=(self.total,))
            self.a.append(value)
            self._last_eps = e
            self.total += value
            return value
        elif self._steady_weights is not None:
            if len(self._steady_weights) == 1:
                return self._steady_step(e, self._steady_weights[0])
            weights = self._steady_weights
            previous = [self.a[-1]] * len(weights)
        else:  # the plan's synthetic blocks (one, p_{i-1}, for replace / mix / schedule)
            plan = self.scheme.plan(i)
            n_i = mpmath.mpf(plan.n_total)
            sources = [b for b in plan.blocks if b.source]
            weights = [mpmath.mpf(b.count) / n_i for b in sources]
            previous = [self.a[b.source - 1] for b in sources]
        value = self.theorem.evaluate(epsilon=e, weights=weights, previous=previous)
        self.a.append(value)
        self._last_eps = e
        if self._accumulate:
            self.total += value
        return value

    def _steady_step(self, e, w):
        """S1 with one synthetic source p_{i-1} of weight w: ``e + w * a_{i-1}`` by S1's numeric evaluator.
        Fixed point: when eps_i = eps_{i-1} and a_{i-1} = a_{i-2} (both steps steady), S1 receives the
        operands of the previous step and returns its number, a_i = a_{i-1}: the object is reused, no call."""
        a = self.a
        if self.count >= 4 and e == self._last_eps and a[-1] == a[-2]:
            value = a[-1]
        else:
            value = self._s1(epsilon=e, weights=(w,), previous=(a[-1],))
        a.append(value)
        self._last_eps = e
        return value


#: a steady loop (replace, mix) not at its fixed point after this many steps is finished in closed form
STEPWISE_STEPS = 4096
#: past :data:`STEPWISE_STEPS` generations, :func:`final_bound` steps a steady loop this many times (to its
#: exact fixed point if it gets there) before the binary powering: O(log K) per call, which the solvers
#: repeat for every candidate
STEADY_HEAD = 64


def _affine_power(e, w, steps):
    """``(w^n, e (1 + w + ... + w^(n-1)))`` for n = ``steps``: the n-fold composition of the S1 step
    ``a -> e + w a`` of a steady loop, by binary powering (O(log n) operations, 40 digits) [derived]:
    composing ``a -> e1 + w1 a`` after ``a -> e2 + w2 a`` gives ``a -> (e1 + w1 e2) + w1 w2 a``."""
    with mpmath.workdps(40):
        e, w = mpmath.mpf(e), mpmath.mpf(w)
        acc_w, acc_e = mpmath.mpf(1), mpmath.mpf(0)
        base_w, base_e = w, e
        n = int(steps)
        while n:
            if n & 1:
                acc_e, acc_w = base_e + base_w * acc_e, base_w * acc_w
            base_e, base_w = base_e + base_w * base_e, base_w * base_w
            n >>= 1
        return +acc_w, +acc_e


#: the double rounding unit u = 2^-53
_UNIT = 2.0 ** -53
#: the smallest normal double: below it a double's relative error is no longer u
_TINY = float(np.finfo(np.float64).tiny)
#: generations per chunk of the float continuation of accumulate (the block of its prefix sums)
TAIL_BLOCK = 1024


class _OutOfRange(Exception):
    """A value of the float continuation left the normal double range (the mpmath steps are used)."""


def _vectorised(learner: Learner) -> bool:
    """True for a rate-only learner with the plain ``errors`` and a vectorised eps (power, table)."""
    return (learner.rate_only and type(learner).errors is Learner.errors
            and learner.eps_of_ns_error() is not None)


def _accumulate_fast(scheme: Scheme, learner: Learner, generations: int) -> bool:
    """True when :func:`compose_bound` and :func:`final_bound` continue accumulate in floats."""
    return isinstance(scheme, Accumulate) and generations > STEPWISE_STEPS and _vectorised(learner)


def _run_rate(scheme: Scheme, learner: Learner, generations: int, delta):
    """eps as a function of N alone for this run, or None: the learner itself when it is vectorised (power,
    table); the diffusion learner's :meth:`~boundcalc.bounds.learners.Diffusion.run_rate` (eps depends on N
    and on delta / K, fixed in one run; it refuses an uncovered scheme with its one line)."""
    if _vectorised(learner):
        return learner
    make = getattr(learner, "run_rate", None)
    return make(scheme, generations, delta) if make is not None else None


def _accumulate_sizes(scheme: Accumulate, start: int, stop: int) -> np.ndarray:
    """``float(N_i)``, N_i = n_real + (i - 1) n_synth, for start <= i < stop (each the correctly rounded
    double of the integer: int64 arithmetic then one conversion, or Python integers beyond 2^62)."""
    if scheme.n_real + (stop - 2) * scheme.n_synth < 2 ** 62:
        steps = np.arange(start - 1, stop - 1, dtype=np.int64)
        return (scheme.n_real + steps * scheme.n_synth).astype(np.float64)
    return np.array([float(scheme.n_real + (i - 1) * scheme.n_synth) for i in range(start, stop)], dtype=np.float64)


def _accumulate_tail(scheme: Accumulate, learner: Learner, total, generations: int, start: int = STEPWISE_STEPS + 1):
    """Generations ``start..K`` of accumulate in double precision from the mpmath running total
    ``total`` = T_(start-1) = a_1 + ... + a_(start-1); yields ``(N, eps, a)`` float64 arrays of at most
    :data:`TAIL_BLOCK` generations each (``derivations/cost-in-K.md``, section 8) [derived].

    Theorem S1 for accumulate telescopes (theorem S4's identity): with S_i = T_i / N_(i+1),
    ``S_i = S_(i-1) + eps_i / N_(i+1)`` and ``a_i = eps_i + n_synth S_(i-1)``, sums of nonnegative terms
    only.  Each chunk adds its terms by ``numpy.cumsum`` (sequential) onto the carried S, so a term of
    S_(i-1) in chunk c (counted from 0) passes through at most ``TAIL_BLOCK + c`` roundings; with the
    learner's eps error ``k_e u`` (:meth:`Learner.eps_of_ns_error`) and at most 10 further roundings
    (the sizes, the quotient, the product with n_synth, the last sum, the start S_(start-1) taken from
    mpmath), the computed a_i is within a factor ``(1 + u)^(+-D)``, ``D = TAIL_BLOCK + c + k_e + 10``, of
    the exact continuation; it is multiplied by ``1 + (2 D + 4) u`` (rounded up by 2u to spare), which
    makes the printed number an upper bound on the exact one.  A value outside the normal double
    range (underflow of eps, overflow) raises :class:`_OutOfRange`.
    """
    k_e = float(learner.eps_of_ns_error())
    exact_zero = k_e == 0  # a zero eps is exact only for a learner whose doubles are its values (table)
    n_synth = float(scheme.n_synth)
    s = float(total / mpmath.mpf(scheme.n_real + (start - 1) * scheme.n_synth))  # S_(start-1)
    for c, lo in enumerate(range(start, generations + 1, TAIL_BLOCK)):
        hi = min(lo + TAIL_BLOCK, generations + 1)
        sizes = _accumulate_sizes(scheme, lo, hi + 1)  # N_lo .. N_hi (N_(i+1) divides eps_i)
        eps = learner.eps_of_ns(sizes[:-1])
        quotients = eps / sizes[1:]
        prefix = s + np.cumsum(quotients)  # S_lo .. S_(hi-1)
        before = np.empty_like(prefix)  # S_(i-1)
        before[0] = s
        before[1:] = prefix[:-1]
        a = eps + n_synth * before
        allowance = 1.0 + (2.0 * (TAIL_BLOCK + c + k_e + 10) + 4.0) * _UNIT
        a *= allowance
        bad = ~np.isfinite(a) | ~np.isfinite(prefix) | ((quotients < _TINY) & (eps != 0))
        bad |= (eps < _TINY) & ((eps != 0) | (not exact_zero))
        if bad.any():
            raise _OutOfRange(lo + int(np.argmax(bad)))
        s = float(prefix[-1])
        yield sizes[:-1], eps, a


def _one_source_fast(scheme: Scheme, learner: Learner | None, generations: int) -> bool:
    """True when a scheme whose plans have one synthetic source p_(i-1) (replace, mix, a schedule) goes on in
    doubles past :data:`STEPWISE_STEPS` in :func:`compose_bound` (integer sizes below 2^53, a vectorised
    rate-only learner); :func:`final_bound` takes a per-generation schedule so (a steady loop it finishes by
    binary powering).  ``learner`` None: the scheme's condition alone."""
    if generations <= STEPWISE_STEPS or getattr(scheme, "relaxed", False):
        return False
    if learner is not None and not _vectorised(learner):
        return False
    if isinstance(scheme, Schedule):
        return max(scheme.sizes) < 2 ** 53
    if isinstance(scheme, (Replace, Mix)):
        return scheme.n_total(2) < 2 ** 53
    return False


def _one_source_arrays(scheme: Scheme):
    """``(lo, hi) -> (N_i, synthetic count_i)`` for lo <= i < hi, as float64 arrays: a schedule's lists
    (:func:`_schedule_arrays`), or plan 2's numbers repeated for a steady loop."""
    if isinstance(scheme, Schedule) and not _steady(scheme):
        return lambda lo, hi: _schedule_arrays(scheme, lo, hi)
    plan = scheme.plan(2)
    size, synthetic = float(plan.n_total), float(sum(b.count for b in plan.blocks if b.source))
    return lambda lo, hi: (np.full(hi - lo, size), np.full(hi - lo, synthetic))


def _schedule_arrays(scheme: Schedule, start: int, stop: int):
    """``(N_i, synthetic count_i)`` as float64 arrays for start <= i < stop, by the plan's rule: lam_i and
    N_i from the lists (one value: every generation), real = round_size(lam_i N_i) = floor(x + 1/2) of the
    double x = lam_i N_i (taken exactly as floor(x) + [x - floor(x) >= 1/2]), synthetic = N_i - real."""
    index = np.arange(start - 2, stop - 2)
    fractions = np.asarray(scheme.real_fractions, dtype=np.float64)
    sizes = np.asarray(scheme.sizes, dtype=np.float64)  # integers below 2^53: exact
    lam = fractions[0] if len(fractions) == 1 else fractions[index]
    size = np.full(len(index), sizes[0]) if len(sizes) == 1 else sizes[index]
    x = lam * size
    whole = np.floor(x)
    real = whole + (x - whole >= 0.5)
    return size, size - real


def _one_source_tail(scheme: Scheme, learner: Learner, previous, generations: int, start: int = STEPWISE_STEPS + 1):
    """Generations ``start..K`` of replace, mix or a schedule in double precision from the mpmath
    a_(start-1) = ``previous``; yields ``(N, eps, a)`` float64 arrays of at most 2^16 generations each [derived].

    S1 with one synthetic source p_(i-1) of weight w_i = (synthetic count) / N_i: ``a_i = eps_i + w_i a_(i-1)``,
    a product and a sum of nonnegative numbers, rounded upward at every step: eps_i and w_i are each
    multiplied by a factor that covers their roundings (eps: the learner's ``k_e u`` and one; w: the quotient
    and one, ``(1 - u)^2 (1 + 4u) >= 1``; w = 0 and w = 1 are exact), and each step's result by ``1 + 4u``
    (exact in doubles), which covers its three roundings (``(1 - u)^3 (1 + 4u) >= 1``).  By induction (S1 is
    increasing in eps_i, w_i and a_(i-1)) every printed a_i is at least the exact recursion from
    ``previous``; the excess of one step is damped by the later weights: about ``4u / (1 - w)`` relative for
    weights up to w < 1, at most ``4u`` per generation when they are 1 (``replace`` is summed by
    :func:`_replace_tail` instead)."""
    if isinstance(scheme, Replace):
        yield from _replace_tail(scheme, learner, previous, generations, start)
        return
    k_e = float(learner.eps_of_ns_error())
    eps_up = 1.0 + (2.0 * k_e + 4.0) * _UNIT
    w_up = 1.0 + 4.0 * _UNIT
    step_up = 1.0 + 4.0 * _UNIT
    exact_zero = k_e == 0
    a = float(previous)
    arrays = _one_source_arrays(scheme)
    for lo in range(start, generations + 1, 1 << 16):
        hi = min(lo + (1 << 16), generations + 1)
        sizes, synthetic = arrays(lo, hi)
        eps = learner.eps_of_ns(sizes)
        bad = ~np.isfinite(eps) | ((eps < _TINY) & ((eps != 0) | (not exact_zero)))
        if bad.any():
            raise _OutOfRange(lo + int(np.argmax(bad)))
        weights = synthetic / sizes
        weights = np.where(synthetic == sizes, 1.0, np.where(synthetic == 0, 0.0, weights * w_up))
        out = []
        append = out.append
        for e, w in zip((eps * eps_up).tolist(), weights.tolist()):
            a = (e + w * a) * step_up
            append(a)
        values = np.array(out)
        if not np.isfinite(values[-1]):
            raise _OutOfRange(lo)
        yield sizes, eps, values


def _replace_tail(scheme: Replace, learner: Learner, previous, generations: int, start: int):
    """``replace`` past ``start - 1``: S1 is ``a_i = a_(i-1) + eps(n_synth)``, a running sum of nonnegative
    terms, added as :func:`_accumulate_tail` adds its quotients (chunks of :data:`TAIL_BLOCK` by
    ``numpy.cumsum`` onto the carried sum: at most ``TAIL_BLOCK + c`` roundings in chunk c), each a_i multiplied
    by ``1 + (2 D + 4) u``, ``D = TAIL_BLOCK + c + k_e + 4`` (the eps and the start from mpmath counted)."""
    k_e = float(learner.eps_of_ns_error())
    size = float(scheme.n_total(2))
    eps_value = learner.eps_of_ns(np.array([size]))
    if not (np.isfinite(eps_value[0]) and (eps_value[0] >= _TINY or (eps_value[0] == 0 and k_e == 0))):
        raise _OutOfRange(start)
    a = float(previous)
    for c, lo in enumerate(range(start, generations + 1, TAIL_BLOCK)):
        count = min(TAIL_BLOCK, generations + 1 - lo)
        eps = np.full(count, eps_value[0])
        prefix = a + np.cumsum(eps)
        a = float(prefix[-1])
        values = prefix * (1.0 + (2.0 * (TAIL_BLOCK + c + k_e + 4) + 4.0) * _UNIT)
        if not np.isfinite(values[-1]):
            raise _OutOfRange(lo)
        yield np.full(count, size), eps, values


def _stepwise_head(scheme: Scheme, rate, steps: int):
    """The first ``steps`` generations in mpmath, every step theorem S1 as in :func:`recursion`:
    ``(state, eps)``, the recursion's state (a_1.., the running total) and eps_1..eps_steps, eps(N) evaluated
    once per distinct N_i (as :func:`learner_errors` does) by ``rate`` (a vectorised learner, or a run rate)."""
    state = _Recursion(scheme)
    memo, eps = {}, []
    for n in n_totals(scheme, steps):
        if n not in memo:
            memo[n] = rate.eps_of_n(n)
        eps.append(memo[n])
        state.step(memo[n])
    return state, eps


def final_bound(scheme: Scheme, learner: Learner, generations: int, delta=0.05, union: int | None = None):
    """a_K alone, in O(K) time and O(1) memory for a rate-only learner (the solvers' inner loop).

    The recursion is iterated as by :func:`recursion` (every step theorem S1) keeping only what the
    next step reads (a_{i-1}, a_{i-2}, the running total of accumulate), with eps(N) evaluated once per
    run of equal N_i.  A steady loop (replace, mix: one synthetic source p_{i-1} of weight w and
    eps_i = eps for i >= 2) of K > :data:`STEPWISE_STEPS` generations not at its fixed point after
    :data:`STEADY_HEAD` steps is finished by :func:`_affine_power`: ``a_K = w^n a_{K-n} + e (1 + ... +
    w^(n-1))`` in 40 digits, the same number up to rounding (tests compare the two to 1e-12); K <=
    :data:`STEPWISE_STEPS` is stepped to the end.  Accumulate and a per-generation schedule go on in
    doubles past :data:`STEPWISE_STEPS` (:func:`_accumulate_tail`, :func:`_one_source_tail`) for a vectorised
    learner.  The diffusion learner takes the same paths with its eps of this run (:func:`_run_rate`).
    Other learners and schemes: :func:`recursion`.  ``union`` (default K) is the number of generations over
    which delta is split (lemma C3) when these K are the first generations of a longer run.
    """
    K = check_positive_int("generations", generations)
    if isinstance(scheme, Schedule):
        scheme.check_generations(K)
    rate = learner if learner.rate_only and type(learner).errors is Learner.errors else None
    if rate is None and (_steady(scheme) or isinstance(scheme, Accumulate) or _one_source_fast(scheme, None, K)):
        rate = _run_rate(scheme, learner, K if union is None else union, delta)
    if rate is None:
        if union is not None and union != K and learner.uses_delta:
            raise ValueError("final_bound: union needs a learner whose eps is a function of N within one run")
        return recursion([e.eps for e in learner_errors(learner, scheme, K, delta)], scheme)[-1]
    vectorised = rate is not learner or _vectorised(learner)
    if vectorised and ((isinstance(scheme, Accumulate) and K > STEPWISE_STEPS)
                       or (_one_source_fast(scheme, None, K) and not _steady(scheme))):
        state, _ = _stepwise_head(scheme, rate, STEPWISE_STEPS)
        try:
            tail = (_accumulate_tail(scheme, rate, state.total, K) if state._accumulate
                    else _one_source_tail(scheme, rate, state.a[-1], K))
            for _, _, a in tail:
                last = a[-1]
            return float(last)
        except _OutOfRange:
            pass  # the mpmath steps below
    state = _Recursion(scheme)
    if state._steady_weights == [] and K >= 2:
        # no synthetic source in plans i >= 2 (mix with n_synth = 0): S1 reads a_i = eps_i with eps_i = eps(N_2)
        # for every i >= 2, so a_K is the recursion's step 2 (the same S1 evaluation, the same number)
        return recursion([rate.eps_of_n(scheme.n_total(1)), rate.eps_of_n(scheme.n_total(2))], scheme)[-1]
    steady = state._steady_weights is not None and len(state._steady_weights) == 1
    if not (steady or state._accumulate):  # a step may read any earlier a_j: keep them all
        return recursion([e.eps for e in learner_errors(learner, scheme, K, delta)], scheme)[-1]
    last_n, last_eps = None, None
    head = STEPWISE_STEPS if K <= STEPWISE_STEPS else STEADY_HEAD  # (K <= STEPWISE_STEPS: every step)
    for i in range(1, K + 1):
        n = scheme.n_total(1) if i == 1 else (scheme.n_total(2) if steady else scheme.n_total(i))
        if n != last_n:
            last_n, last_eps = n, rate.eps_of_n(n)
        state.step(last_eps)
        a = state.a
        if steady and state.count >= 3 and a[-1] == a[-2]:
            return a[-1]  # the exact fixed point: every later step returns the same number
        if len(a) > 3:
            del a[:-3]
        if steady and i == head and head < STEPWISE_STEPS and _fixed_point_soon(a, state._steady_weights[0], i):
            head = STEPWISE_STEPS  # stepped on to the exact fixed point, as for K <= STEPWISE_STEPS
        if steady and i >= head and i < K:
            w_n, e_n = _affine_power(last_eps, state._steady_weights[0], K - i)
            return +(e_n + w_n * a[-1])
    return state.a[-1]


def _fixed_point_soon(a, w, i: int) -> bool:
    """True when a steady loop a_i = e + w a_(i-1) (w < 1) is predicted to reach its exact fixed point in
    doubles' precision before step :data:`STEPWISE_STEPS` - 16: its increments shrink by w per step, from
    d = |a_i - a_(i-1)| to below 1e-17 |a_i| after log(1e-17 |a_i| / d) / log(w) steps.  Such a loop is
    stepped on (the numbers of the stepwise path); others are finished by the binary powering."""
    w = float(w)
    d, size = abs(float(a[-1] - a[-2])), abs(float(a[-1]))
    if not 0 < w < 1 or not math.isfinite(d) or size == 0:
        return False
    if d <= 1e-17 * size:
        return True
    return i + math.log(1e-17 * size / d) / math.log(w) < STEPWISE_STEPS - 16


def last_step(scheme: Scheme, learner: Learner, generation: int, previous_bound):
    """a_I from a_(I-1) for a rate-only learner whose plan I reads p0 and p_(I-1) only: theorem S1
    for generation I alone, with the weights of the scheme's plan I (as :func:`recursion` takes it)."""
    plan = scheme.plan(generation)
    n_i = mpmath.mpf(plan.n_total)
    sources = [b for b in plan.blocks if b.source]
    if any(b.source != generation - 1 for b in sources):
        raise ValueError("last_step needs a plan whose synthetic data comes from the previous generation")
    return get_lemma("S1").evaluate(epsilon=learner.eps_of_n(plan.n_total),
                                    weights=[mpmath.mpf(b.count) / n_i for b in sources],
                                    previous=[previous_bound] * len(sources))


def iter_bounds(scheme: Scheme, learner: Learner):
    """Yield a_1, a_2, ... without end, for a learner whose eps depends on N alone
    (the generations solver stops as soon as the target is crossed or the sequence has converged)."""
    if not learner.rate_only:
        raise ValueError("iter_bounds needs a learner whose error depends on N alone")
    state = _Recursion(scheme)
    while True:
        yield state.step(learner.eps_of_n(scheme.n_total(state.count + 1)))


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


def closed_form(scheme: Scheme, learner: Learner, generations: int,
                mpmath_terms: int | None = None) -> ClosedForm | None:
    """The closed form of a_K for this scheme and learner (theorems S2, S3, S4 with the learner's
    rate substituted), or None where none is derived.  ``mpmath_terms``: S4 is summed term by term in
    mpmath up to this many generations (default :data:`CLOSED_FORM_MPMATH_TERMS`), beyond in doubles with
    an exactly rounded sum (:class:`_DoubleSumS4`, a vectorised learner)."""
    if not learner.rate_only:
        return None
    eps = _eps_function(learner)
    tex = _eps_latex(learner)
    K = S.K
    values = {S.K: generations, S.n_real: scheme.n_real, **learner.parameters}
    if isinstance(scheme, Replace):
        values[S.n_synth] = scheme.n_synth
        template, _ = closed_form_template("S2", tex)
        return ClosedForm(with_rate(get_lemma("S2").rhs, eps), values,
                          "replace: sum of the per-generation errors", ("S2", "T2"), template)
    if isinstance(scheme, Schedule):
        if len(set(scheme.real_fractions)) > 1 or len(set(scheme.sizes)) > 1:
            return None
        lam_value, size = scheme.real_fractions[0], scheme.sizes[0]
    elif isinstance(scheme, Mix):
        size = scheme.n_real + scheme.n_synth
        lam_value = scheme.n_real / size
    elif isinstance(scheme, Accumulate):
        values[S.n_synth] = scheme.n_synth
        template, where = closed_form_template("S4", tex)
        limit = CLOSED_FORM_MPMATH_TERMS if mpmath_terms is None else mpmath_terms
        double = generations > limit and _vectorised(learner)
        form = (_DoubleSumS4 if double else ClosedForm)(
            with_rate(get_lemma("S4").rhs, eps), values, "accumulate: telescoped prefix sums", ("S4", "T2", "T1"),
            template, where)
        if double:
            form.sizes, form.learner = (scheme.n_real, scheme.n_synth, generations), learner
        return form
    else:
        return None
    mix = get_lemma("S3")
    if lam_value == 1:
        expr = sp.Piecewise((with_rate(mix.rhs.subs(K, 1), eps), sp.Eq(K, 1)),
                            (with_rate(mix.parts["lambda = 1, K >= 2"], eps), True))
        template, _ = closed_form_template("S3 lambda = 1", tex)
    elif lam_value == 0:  # the limit lam -> 0 of S3: K - 1 fully synthetic generations of size N (S2)
        values[S.N] = size
        template = tex(r"n_{\mathrm{real}}") + r" + (K-1)\," + tex("N")
        return ClosedForm(with_rate(get_lemma("S2").rhs.subs(S.n_synth, S.N), eps), values,
                          "schedule with no real data after generation 1: sum of the per-generation errors",
                          ("S2", "T2"), template)
    else:
        expr = with_rate(mix.rhs, eps)
        template, _ = closed_form_template("S3", tex)
    values.update({S.lam: lam_value, S.N: size})
    return ClosedForm(expr, values, "mix: geometric series in (1 - lambda)", ("S3", "T2", "T1"), template)


#: the closed form S4 is evaluated term by term in mpmath (30 digits) up to this many generations; beyond,
#: for a vectorised learner, in double precision with an exactly rounded sum (:class:`_DoubleSumS4`)
CLOSED_FORM_MPMATH_TERMS = 100_000


class _DoubleSumS4(ClosedForm):
    """The closed form S4 whose value is ``eps(N_K) + n_synth sum_(j<K) eps(N_j) / N_(j+1)`` with the
    terms in double precision (the learner's :meth:`~Learner.eps_of_ns`, relative error (k_e + 2) u each)
    and their sum by ``math.fsum`` (exactly rounded): the same number as the 30-digit evaluation to about
    ``(k_e + 4) u`` relative, at the cost of K vectorised evaluations instead of K mpmath powers."""

    sizes: tuple
    learner: Learner

    def evaluate(self):
        cached = self.__dict__.get("_value")
        if cached is None:
            n_real, n_synth, generations = self.sizes
            scheme = Accumulate(n_real, n_synth)
            parts = []
            for lo in range(1, generations, 1 << 16):
                hi = min(lo + (1 << 16), generations)
                sizes = _accumulate_sizes(scheme, lo, hi + 1)  # N_lo .. N_hi
                parts.append(self.learner.eps_of_ns(sizes[:-1]) / sizes[1:])
            total = math.fsum(np.concatenate(parts).tolist()) if parts else 0.0
            last = float(self.learner.eps_of_ns(_accumulate_sizes(scheme, generations, generations + 1))[0])
            cached = self.__dict__["_value"] = mpmath.mpf(last) + mpmath.mpf(n_synth) * mpmath.mpf(total)
        return cached


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
    rows = None
    if (isinstance(scheme, Accumulate) and K > STEPWISE_STEPS) or _one_source_fast(scheme, None, K):
        rate = _run_rate(scheme, learner, K, delta)
        rows = _long_rows(scheme, rate, K) if rate is not None else None
    if rows is not None:
        bound, eps, terms = rows
    else:
        errors = learner_errors(learner, scheme, K, delta)
        eps = [e.eps for e in errors]
        bound = recursion(eps, scheme)
        terms = [{"generation": e.generation, "n_total": e.n_total, **e.terms} for e in errors]
    form = closed_form(scheme, learner, K) if with_closed_form else None
    used = set(learner.lemma_ids) | {"T1", "T2", "S1"} | ({"C3"} if learner.uses_delta else set())
    used |= {lemma_id for lemma_id in (form.lemma_ids if form is not None else ()) if lemma_id.startswith("S")}
    if learner.name == "kde":
        used.add("L1")  # the per-generation error of the KDE loop
    provenance = sorted(used, key=_lemma_order)
    notes = list(learner.notes(scheme, errors, delta)) if rows is None else []  # (the fast rows: rate-only learners)
    if bound[-1] > 1:
        notes.append("the bound exceeds 1 and is vacuous there (TV <= 1 always)")
    if not scheme.exact_recursion:
        notes.append("TV(q_i, p0) is bounded by convexity of TV (lemma T1's corollary), not an identity")
    return BoundResult(
        bound=bound, eps=eps,
        inputs={"scheme": scheme.to_dict(), "learner": learner.to_dict(), "generations": K, "delta": delta},
        assumptions=_scheme_assumptions(scheme) + learner.assumptions(scheme),
        provenance=provenance,
        closed_form=form,
        terms=terms,
        notes=notes)


def _long_rows(scheme: Scheme, learner, generations: int):
    """``(bound, eps, terms)`` of accumulate, replace, mix or a schedule past :data:`STEPWISE_STEPS`
    generations for a vectorised rate-only learner or a run rate (:func:`_run_rate`): generations 1..4096 by the mpmath steps (the numbers
    :func:`recursion` gives, mpmath numbers); a steady loop at its exact fixed point repeats its last numbers
    (the same objects, as :func:`recursion` does); otherwise the rest by :func:`_accumulate_tail` or
    :func:`_one_source_tail` (Python floats, each an upper bound on the exact continuation); the terms rows
    are :class:`_SizeRows`.
    None when a value leaves the double range (the caller then takes the mpmath steps)."""
    head, eps = _stepwise_head(scheme, learner, STEPWISE_STEPS)
    terms = _SizeRows(scheme, generations, learner.terms_of)
    rest = generations - STEPWISE_STEPS
    if _steady(scheme) and head.a[-1] == head.a[-2] and eps[-1] == eps[-2]:
        # at the exact fixed point (section 2): every later step returns the same numbers, as objects
        return head.a + [head.a[-1]] * rest, eps + [eps[-1]] * rest, (list(terms) if generations <= TABLE_ROWS
                                                                        else terms)
    try:
        chunks = list(_accumulate_tail(scheme, learner, head.total, generations) if head._accumulate
                      else _one_source_tail(scheme, learner, head.a[-1], generations))
    except _OutOfRange:
        return None
    bound = head.a + np.concatenate([c[2] for c in chunks]).tolist()
    eps += np.concatenate([c[1] for c in chunks]).tolist()
    return bound, eps, (list(terms) if generations <= TABLE_ROWS else terms)


class _SizeRows(Sequence):
    """The terms rows ``{"generation": i, "n_total": N_i, **terms_of(N_i)}`` of accumulate (N_i = n_real +
    (i - 1) n_synth), replace, mix or a schedule (N_i = n_real, then its size of generation i), N_i an mpmath
    number as :func:`learner_errors` gives it, the learner's named terms (none for power and table; KL, tau,
    width, ... for diffusion) a new dict per row: made when read, O(1) memory for any K (no plan built)."""

    def __init__(self, scheme: Scheme, generations: int, terms_of=None):
        self.scheme, self.generations, self.terms_of = scheme, generations, terms_of

    def size(self, i: int) -> int:
        """N_i (1-based i) without building plan i."""
        scheme = self.scheme
        if isinstance(scheme, Accumulate):
            return scheme.n_real + (i - 1) * scheme.n_synth
        if i == 1:
            return scheme.n_real
        if isinstance(scheme, Schedule) and not _steady(scheme):
            return scheme.sizes[0] if len(scheme.sizes) == 1 else scheme.sizes[i - 2]
        return scheme.n_total(2)

    def __len__(self) -> int:
        return self.generations

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.generations))]
        i = operator.index(index)
        if i < 0:
            i += self.generations
        if not 0 <= i < self.generations:
            raise IndexError("generation index out of range")
        n = self.size(i + 1)
        return {"generation": i + 1, "n_total": mpmath.mpf(n), **(self.terms_of(n) if self.terms_of else {})}

    def __repr__(self) -> str:
        return f"<{self.generations} rows generation, n_total of {self.scheme!r}>"


def learner_errors(learner: Learner, scheme: Scheme, generations: int, delta):
    """The learner's eps_1..eps_K; for a learner with the plain rate-only ``errors`` (eps a function
    of N alone) eps(N) is evaluated once per distinct N and the sizes come from :func:`n_totals`."""
    if learner.rate_only and type(learner).errors is Learner.errors:
        from boundcalc.bounds.learners import GenerationError
        memo = {}
        out = []
        for i, n in enumerate(n_totals(scheme, generations), start=1):
            if n not in memo:
                memo[n] = (mpmath.mpmathify(n), learner.eps_of_n(n))
            out.append(GenerationError(i, *memo[n]))
        return out
    return learner.errors(scheme, generations, delta)


def _scheme_assumptions(scheme: Scheme) -> list[str]:
    items = ["generation 1 is trained on n_real real samples; a_i = TV(p_i, p0) is bounded by "
             "a_i <= eps_i + TV(q_i, p0) (lemmas T2, T1)"]
    if getattr(scheme, "real_data", "fresh") == "reused":
        items.append("real data reused: the same n_real real samples in every generation")
    return items


_ORDER = ["T1", "T2", "T3", "T4", "T4p", "GTV", "C1", "C2", "C3", "K1", "K1p", "K2", "K3", "K4", "D1", "D4", "D2", "D3",
          "S1", "S2", "S3", "S4", "S5", "S6", "S7", "L1", "P1", "E1"]


def _lemma_order(lemma_id: str) -> tuple:
    """Catalogue order, ties (ids outside ``_ORDER``) by name: the same bytes in every run (a set's
    iteration order of strings changes with the hash seed)."""
    return (_ORDER.index(lemma_id) if lemma_id in _ORDER else len(_ORDER), lemma_id)
