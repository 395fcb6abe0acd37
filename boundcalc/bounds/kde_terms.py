"""The explicit per-generation terms of a Gaussian-KDE loop (docs/theory.md section 5), in TV.

Shared by the a-priori KDE learner (:mod:`boundcalc.bounds.learners`) and the a-posteriori bound of the
KDE validator, so that both use one formula.

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


def _mp(x):
    return mpmath.mpmathify(x)


def kde_bias_tv(bandwidth, laplacian_l1):
    """``(h^2/4) ||Laplacian p0||_1``: half of the K1 bound [derived]."""
    h = _mp(bandwidth)
    return h * h / 4 * _mp(laplacian_l1)


def kde_stochastic_tv(n, bandwidth, dim, k2_integral, delta):
    """Half of (K2 expectation term + C2 deviation term) for n independent samples [derived, classical]."""
    with mpmath.workdps(30):
        n, h, j, dl = _mp(n), _mp(bandwidth), _mp(k2_integral), _mp(delta)
        expectation = (4 * mpmath.pi) ** (-_mp(dim) / 4) * (n * h ** dim) ** mpmath.mpf(-0.5) * j
        deviation = mpmath.sqrt(2 * mpmath.log(1 / dl) / n)
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
        return FailureSplit("joint", generations, _mp(delta) / generations)
    keys = {b.key for p in plans for b in p.blocks}
    return FailureSplit("blockwise", len(keys), _mp(delta) / len(keys))


def k3_bandwidth(n, dim, laplacian_l1, k2_integral):
    """Lemma K3 with A = ||Laplacian p0||_1 / 4, beta = 2, B = (1/2)(4 pi)^(-d/4) J:
    ``h* = (d B / (4 A))^(2/(4+d)) n^(-1/(4+d))`` [classical]."""
    from boundcalc.theory.catalogue import get_lemma
    check_positive("n", n)
    a = _mp(laplacian_l1) / 4
    b = (4 * mpmath.pi) ** (-_mp(dim) / 4) * _mp(k2_integral) / 2
    return get_lemma("K3").evaluate(A=a, B=b, beta=2, d=dim, N=n)


def auto_bandwidth(target, n) -> float:
    """K3 bandwidth for ``n`` samples of ``target`` (a GaussianMixture); J evaluated at h itself
    by a short fixed-point iteration (J depends on h only through a small smoothing)."""
    lap = target.laplacian_l1()
    h = float(k3_bandwidth(n, target.dim, lap, target.sqrt_integral()))
    for _ in range(3):
        h = float(k3_bandwidth(n, target.dim, lap, target.k2_integral(h)))
    return h
