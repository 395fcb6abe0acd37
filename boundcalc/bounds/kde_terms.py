"""The explicit per-generation terms of a Gaussian-KDE loop (theorem L1), in TV.

Shared by the a-priori KDE learner (:mod:`boundcalc.bounds.learners`) and the a-posteriori bound of the
KDE validator, so that both use one formula.  Every term is the evaluation of the catalogue object
that states it (looked up in the catalogue at call time, compiled once per object):

* bias, lemma K1 halved:  ``b(h) = (h^2 / 4) ||Laplacian p0||_1``;
* stochastic term, lemmas K2 + C2 halved:
  ``s = (1/2) [ (4 pi)^(-d/4) (N h^d)^(-1/2) J + sqrt(2 ln(1/delta') / N) ]``,
  where J is the K2 integral of the average density of the N independent samples;
* failure split (lemma C3): when every generation's training set is drawn afresh, one event per
  generation at ``delta / K`` and the K2/C2 terms are applied to all N_i samples jointly;
  otherwise (reused real data, accumulated synthetic data) each *block* of samples is bounded on
  its own, ``s_i <= sum_b (N_b / N_i) s_b``, and the union runs over every distinct block drawn
  in the K generations.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath

from boundcalc._checks import check_positive, check_probability
from boundcalc.model.schemes import Scheme
from boundcalc.theory.catalogue import get_lemma
from boundcalc.theory.concentration import union_per_event_delta


def _mp(x):
    return mpmath.mpmathify(x)


def kde_bias_tv(bandwidth, laplacian_l1):
    """``(h^2/4) ||Laplacian p0||_1``: half of the K1 bound [derived]."""
    return get_lemma("K1").evaluate(check=False, h=bandwidth, Lambda=laplacian_l1) / 2


def kde_expectation_tv(n, bandwidth, dim, k2_integral):
    """Half of the K2 bound ``(4 pi)^(-d/4) (n h^d)^(-1/2) J`` (expected L1 error, in TV) [derived]."""
    with mpmath.workdps(30):
        return get_lemma("K2").evaluate(check=False, N=n, h=bandwidth, d=dim, J=k2_integral) / 2


def kde_deviation_tv(n, delta):
    """Half of the C2 deviation ``sqrt(2 ln(1/delta) / n)`` (in TV) [classical]."""
    with mpmath.workdps(30):
        return get_lemma("C2").evaluate(check=False, N=n, delta=delta) / 2


def kde_stochastic_tv(n, bandwidth, dim, k2_integral, delta):
    """Half of (K2 expectation term + C2 deviation term) for n independent samples [derived, classical]."""
    with mpmath.workdps(30):
        expectation = get_lemma("K2").evaluate(check=False, N=n, h=bandwidth, d=dim, J=k2_integral)
        deviation = get_lemma("C2").evaluate(check=False, N=n, delta=delta)
        return (expectation + deviation) / 2


@dataclass(frozen=True)
class FailureSplit:
    """How delta is shared (lemma C3): ``mode`` is "joint" or "blockwise"."""
    mode: str
    events: int
    per_event_delta: object  # mpmath.mpf

    def to_dict(self):
        return {"mode": self.mode, "events": self.events, "per_event_delta": self.per_event_delta}


def kde_failure_split(scheme: Scheme, generations: int, delta) -> FailureSplit:
    """The union bound of docs/theory.md section 5 for ``generations`` generations of ``scheme``."""
    check_probability("delta", delta)
    plans = scheme.plans(generations)
    if all(p.all_fresh for p in plans):
        return FailureSplit("joint", generations, union_per_event_delta(delta, generations))
    keys = {b.key for p in plans for b in p.blocks}
    return FailureSplit("blockwise", len(keys), union_per_event_delta(delta, len(keys)))


def k3_bandwidth(n, dim, laplacian_l1, k2_integral):
    """Lemma K3 with the coefficients of the TV bound ``A h^2 + B (n h^d)^(-1/2)``:
    ``A = ||Laplacian p0||_1 / 4`` (K1 halved at h = 1), beta = 2, ``B = (1/2)(4 pi)^(-d/4) J``
    (K2 halved at N = h = 1): ``h* = (d B / (4 A))^(2/(4+d)) n^(-1/(4+d))`` [classical]."""
    check_positive("n", n)
    a = kde_bias_tv(1, laplacian_l1)
    b = kde_expectation_tv(1, 1, dim, k2_integral)
    return get_lemma("K3").evaluate(A=a, B=b, beta=2, d=dim, N=n)


def auto_bandwidth(target, n) -> float:
    """K3 bandwidth for ``n`` samples of ``target`` (a GaussianMixture); J evaluated at h itself
    by a short fixed-point iteration (J depends on h only through a small smoothing).

    Memoised on the target's numbers and n (a pure function of them: the phase and solve searches
    ask for the same bandwidth hundreds of times)."""
    lemmas = tuple(get_lemma(i) for i in ("K1", "K2", "K3"))  # the catalogue objects it rests on
    key = (target.weights.tobytes(), target.means.tobytes(), target.scales.tobytes(), target.means.shape,
           str(n), type(target).__name__, tuple(id(obj) for obj in lemmas))
    hit = _BANDWIDTHS.get(key)
    if hit is None:
        # the entry holds the lemma objects, so their ids cannot be reused while it is cached
        hit = (_auto_bandwidth(target, n), lemmas)
        if len(_BANDWIDTHS) >= 1024:
            _BANDWIDTHS.pop(next(iter(_BANDWIDTHS)))
        _BANDWIDTHS[key] = hit
    return hit[0]


_BANDWIDTHS: dict = {}


def _auto_bandwidth(target, n) -> float:
    lap = target.laplacian_l1()
    h = float(k3_bandwidth(n, target.dim, lap, target.sqrt_integral()))
    for _ in range(3):
        h = float(k3_bandwidth(n, target.dim, lap, target.k2_integral(h)))
    return h
