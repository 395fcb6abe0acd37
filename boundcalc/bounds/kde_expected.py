"""Bounds of a Gaussian-KDE loop from the lemmas KE1-KE4 and KR1-KR5 of the catalogue.

* :func:`expected_bound`: two bounds on ``E a_i = E TV(p_i, p_0)`` (theorems in expectation, no
  failure probability): the linear composition of lemma KE2 and the variance propagation of lemma
  KE3 (the tighter one; both are reported).
* :func:`loop_probability_bound`: lemma KE5, a probability-(1 - delta) bound from KE3 plus one
  martingale deviation over the whole loop (no realised K2 integral, no per-generation composition).
* :func:`realised_k2_bound`: lemma KR4, a probability-(1 - delta_J) bound on the realised K2
  integral of every generation's training law (d = 1).
* :func:`probability_bound`: lemma KR5, the a-priori probability-(1 - delta) bound whose K2 integral
  is the KR4 bound instead of the integral at the expected law.

Every formula is evaluated through a catalogue object (``get_lemma(...).evaluate``); this module
only adds up, integrates explicit Gaussian mixtures (``TV(r_i, p0)`` in d = 1 by the proven bound of
:mod:`boundcalc.bounds.kde_tv`, the other integrals by quadrature) and runs the recursions over generations and
blocks.  Bandwidths: a number (fixed), ``"auto"`` (the K3 choice for N_i samples of
the target at generation i, as ``validate kde --bandwidth auto``), or one value per generation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from boundcalc._checks import BoundcalcError, check_positive_int, check_probability
from boundcalc.bounds.kde_terms import auto_bandwidth, kde_failure_split
from boundcalc.bounds.kde_tv import mixture_table, tv_upper_bound
from boundcalc.model.kde_blocks import block_structure
from boundcalc.model.schemes import Scheme
from boundcalc.model.targets import GaussianMixture, mixture_of
from boundcalc.theory.catalogue import get_lemma
from boundcalc.theory.kde_expected import gaussian_product

__all__ = ["ExpectedBound", "RealisedK2Bound", "ProbabilityBound", "LoopProbabilityBound", "resolve_bandwidths",
           "expected_bound", "propagated_variance", "loop_probability_bound", "realised_k2_bound", "probability_bound"]

#: quadrature: nodes per smallest standard deviation, and standard deviations beyond the extreme means
#: (d = 1; in d = 2 a tensor grid with fewer nodes per axis)
NODES_PER_SD = {1: 40, 2: 12}
TAIL_SDS = {1: 12.0, 2: 9.0}
#: relative margin added to the quadrature values of KE3 that are not proven bounds: int sqrt(V_i) (d = 1 and 2; the
#: integrand is smooth, measured error under 1e-13 in d = 1) and, in d = 2 only, TV(r_i, p0) (measured error up to
#: 2.5e-4 of Simpson's rule, from the kinks of |r_i - p0|: derivations/tv-bound.md, section 9).  In d = 1,
#: TV(r_i, p0) is :func:`boundcalc.bounds.kde_tv.tv_upper_bound`, a proven upper bound without a margin.
QUADRATURE_MARGIN = {1: 1e-4, 2: 2e-3}


def resolve_bandwidths(target: GaussianMixture, scheme: Scheme, bandwidth, generations) -> list[float]:
    """h_1..h_K: a number for all generations, ``"auto"`` (K3 for N_i samples, per generation, as the
    KDE validator does) or a sequence of K values."""
    count = check_positive_int("generations", generations)
    if isinstance(bandwidth, str):
        if bandwidth != "auto":
            raise BoundcalcError(f"bandwidth must be a number > 0, 'auto' or one value per generation; got {bandwidth!r}")
        cache = {}
        out = []
        for i in range(1, count + 1):
            n = scheme.n_total(i)
            if n not in cache:
                cache[n] = float(auto_bandwidth(target, n))
            out.append(cache[n])
        return out
    if np.ndim(bandwidth) == 0:
        return [float(bandwidth)] * count
    return [float(x) for x in bandwidth]


def _simpson_pattern(count: int) -> np.ndarray:
    """(1, 4, 2, 4, ..., 4, 1) for an odd ``count`` >= 3 of uniform nodes (Simpson's weights without dx/3)."""
    if count % 2 == 0 or count < 3:
        raise BoundcalcError(f"quadrature: Simpson's rule needs an odd number >= 3 of nodes, got {count}")
    w = np.ones(count)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w


def _simpson_weights(x) -> np.ndarray:
    """Composite Simpson's weights (dx/3) (1, 4, 2, 4, ..., 4, 1) on the uniform nodes ``x``: integral = values @ w."""
    x = np.asarray(x, dtype=float)
    return _simpson_pattern(x.size) * ((x[-1] - x[0]) / (x.size - 1) / 3.0)


def _simpson(values, x, axis=-1):
    """Composite Simpson's rule on the uniform nodes ``x`` (an odd count), along ``axis``: weights
    (dx/3) (1, 4, 2, 4, ..., 4, 1); equal to scipy.integrate.simpson there (numpy only, so the
    symbolic commands import no scipy)."""
    values = np.asarray(values, dtype=float)
    x = np.asarray(x, dtype=float)
    w = _simpson_pattern(x.size)
    dx = (x[-1] - x[0]) / (x.size - 1)
    return np.tensordot(np.moveaxis(values, axis, -1), w, axes=([-1], [0])) * dx / 3.0


@dataclass(frozen=True)
class _Quadrature:
    """Simpson's rule on a uniform tensor grid (d = 1 or 2); ``points`` as GaussianMixture.density takes them."""
    axes: tuple

    @property
    def points(self) -> np.ndarray:
        if len(self.axes) == 1:
            return self.axes[0]
        x, y = np.meshgrid(*self.axes, indexing="ij")
        return np.column_stack([x.ravel(), y.ravel()])

    def integrate(self, values) -> float:
        values = np.asarray(values, dtype=float)
        if len(self.axes) == 1:
            return float(_simpson(values, self.axes[0]))
        grid = values.reshape(len(self.axes[0]), len(self.axes[1]))
        return float(_simpson(_simpson(grid, self.axes[1], axis=1), self.axes[0]))


#: nodes of the quadrature grid of the loop bound (all axes together); a wider grid is refused
MAX_QUADRATURE_NODES = 2 ** 22


def _quadrature(target: GaussianMixture, extra_variance: float) -> _Quadrature:
    """Uniform nodes covering every mixture of the loop (p_0 smoothed by at most ``extra_variance``).

    A grid of more than :data:`MAX_QUADRATURE_NODES` nodes (a bandwidth far wider than the target's
    smallest scale, or very many generations) is refused in one line before anything is allocated."""
    dim = target.dim
    counts = []
    for k in range(dim):
        s_min = float(np.min(target.scales[:, k]))
        s_max = math.sqrt(float(np.max(target.scales[:, k])) ** 2 + extra_variance)
        span = float(np.max(target.means[:, k]) - np.min(target.means[:, k])) + 2 * TAIL_SDS[dim] * s_max
        counts.append(span / (s_min / NODES_PER_SD[dim]) + 2)
    nodes = math.prod(counts)
    if not nodes <= MAX_QUADRATURE_NODES:
        raise BoundcalcError(f"bandwidth: the quadrature of the KDE loop bound would need {nodes:.3g} grid nodes, "
                             f"above the limit {MAX_QUADRATURE_NODES} (a size guard: the kernels widen the laws by "
                             f"sqrt({extra_variance:.3g}) against the target's smallest scale); lower --bandwidth "
                             "or --generations")
    axes = []
    for k in range(dim):
        s_min = float(np.min(target.scales[:, k]))
        s_max = math.sqrt(float(np.max(target.scales[:, k])) ** 2 + extra_variance)
        lo = float(np.min(target.means[:, k])) - TAIL_SDS[dim] * s_max
        hi = float(np.max(target.means[:, k])) + TAIL_SDS[dim] * s_max
        count = int(math.ceil((hi - lo) / (s_min / NODES_PER_SD[dim]))) + 1
        step = (s_min / NODES_PER_SD[dim])
        if not step > 2.0 ** 20 * np.finfo(float).eps * max(abs(lo), abs(hi)):  # nodes exact to 1e-6 of a step
            raise BoundcalcError(f"target: the quadrature grid of the KDE loop bound cannot resolve a scale of {s_min:.3g} "
                                 f"at a mean of {max(abs(lo), abs(hi)):.3g} in double precision (its nodes would "
                                 "coincide); centre the target nearer 0 or widen its scales")
        axes.append(np.linspace(lo, hi, count | 1))  # odd count: Simpson's rule on an even number of intervals
    return _Quadrature(tuple(axes))


def _nodes(target: GaussianMixture, extra_variance: float) -> np.ndarray:
    """The 1-D nodes of :func:`_quadrature` (kept for the tests of the 1-D path)."""
    return _quadrature(target, extra_variance).axes[0]


def _integral(values, x) -> float:
    return float(_simpson(values, x))


def _require_dim(target, what, dims=(1,)):
    if target.dim not in dims:
        raise BoundcalcError(f"target: {what} is computed in dimension {' or '.join(map(str, dims))}; "
                             f"got dimension {target.dim}")


# ------------------------------------------------------------------------------------------------
# bounds in expectation (KE1, KE2, KE3)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExpectedBound:
    """Per generation (index i - 1): ``linear`` (KE2), ``variance`` (KE3) and their parts."""
    bandwidths: list
    linear: list
    variance: list
    bias_tv: list            # TV(r_i, p0) (KE3): a proven upper bound in d = 1 (kde_tv), quadrature + margin in d = 2
    deviation: list          # (1/2) int sqrt(V_i)  (KE3)
    linear_bias: list        # (h_i^2/4) ||Laplacian p0||_1  (K1 halved)
    linear_stochastic: list  # the KE1 terms of KE2

    @property
    def best(self) -> list:
        """The smaller of the two bounds, generation by generation (both are theorems)."""
        return [min(a, b) for a, b in zip(self.linear, self.variance)]

    def to_dict(self) -> dict:
        return {"bandwidths": self.bandwidths, "linear": self.linear, "variance": self.variance,
                "best": self.best, "bias_tv": self.bias_tv, "deviation": self.deviation,
                "linear_bias": self.linear_bias, "linear_stochastic": self.linear_stochastic,
                "lemmas": ["KE1", "KE2", "KE3", "KE4", "K1", "K4"],
                "statement": "bounds on E TV(p_i, p0) (in expectation, no failure probability)"}


def _groups(plan):
    """Blocks of a plan grouped by the generation at which they were drawn (independent given the past)."""
    groups: dict = {}
    for b in plan.blocks:
        if b.count > 0:
            groups.setdefault(b.drawn_at, []).append(b)
    return list(groups.values())


def expected_bound(scheme: Scheme, target: GaussianMixture, bandwidth, generations,
                   linear: bool = True) -> ExpectedBound:
    """Bounds on ``E a_i``, i = 1..K, by lemmas KE2 (``linear``) and KE3 (``variance``) [derived].

    KE3 is evaluated in d = 1 and 2 (quadrature on a tensor grid; above, ``variance`` is infinite and
    ``best`` is KE2); KE2 in any dimension (K2 integral by quadrature in d <= 2, its moment bound above).
    """
    count = check_positive_int("generations", generations)
    hs = resolve_bandwidths(target, scheme, bandwidth, count)
    structure = block_structure(target, scheme, hs, count)
    laws = structure.laws
    KE1, KE2, KE3, K1 = (get_lemma(k) for k in ("KE1", "KE2", "KE3", "K1"))
    lap = float(target.laplacian_l1())
    plans = scheme.plans(count)
    if target.dim > 2 and not linear:
        _require_dim(target, "the variance-propagation bound KE3", (1, 2))

    variance, bias_tv, deviation = [], [], []
    if target.dim > 2:
        variance, bias_tv, deviation = [math.inf] * count, [math.nan] * count, [math.nan] * count
    else:
        quad = _quadrature(target, 2.0 * sum(h * h for h in hs))
        x = quad.points
        p0 = target.density(x)
    for i in range(1, count + 1 if target.dim <= 2 else 1):
        v = _propagated_variance(structure, i, x, target.dim)
        margin = 1.0 + QUADRATURE_MARGIN[target.dim]
        if target.dim == 1:  # a proven upper bound (exact CDF differences between the roots of r_i - p0)
            t_r = float(tv_upper_bound(x, laws[i].density(x), p0, mixture_table([laws[i]], target))[0]
                        ) + getattr(laws[i], "dropped", 0.0)
        else:
            t_r = 0.5 * quad.integrate(np.abs(laws[i].density(x) - p0)) * margin
        i_v = quad.integrate(np.sqrt(np.maximum(v, 0.0))) * margin
        bias_tv.append(t_r)
        deviation.append(i_v / 2)
        variance.append(float(KE3.evaluate(T_r=min(t_r, 1.0), I_V=i_v)))

    lin, lin_bias, lin_stoch = [], [], []
    if linear:
        for plan, h in zip(plans, hs):
            stoch = 0.0
            for group in _groups(plan):
                n_g = sum(b.count for b in group)
                rbar = mixture_of([(b.count / n_g, laws[b.source]) for b in group])
                j = rbar.k2_integral(h) if target.dim <= 2 else rbar.k2_moment_bound(h)
                stoch += n_g / plan.n_total * 0.5 * float(KE1.evaluate(N=n_g, h=h, d=target.dim, J=j))
            w = plan.weights()
            prev = sum(w[j] * lin[j - 1] for j in range(1, len(w)))
            bias = float(K1.evaluate(h=h, Lambda=lap)) / 2
            lin.append(float(KE2.evaluate(h=h, Lambda=lap, S_stoch=stoch, A_w=prev)))
            lin_bias.append(bias)
            lin_stoch.append(stoch)
    else:
        lin = [math.inf] * count
    return ExpectedBound(hs, lin, variance, bias_tv, deviation, lin_bias, lin_stoch)


@dataclass(frozen=True)
class LoopProbabilityBound:
    """Lemma KE5 per generation: ``bound = expectation + deviation`` with ``expectation`` the KE3 bound
    on E a_i and ``deviation = (1/2) sqrt(2 ln(K/delta) Q_i)``; holds for all i at once w.p. >= 1 - delta."""
    delta: float
    bound: list
    expectation: list
    deviation: list
    squared_mass_sum: list

    def to_dict(self) -> dict:
        return {"delta": self.delta, "bound": self.bound, "expectation": self.expectation,
                "deviation": self.deviation, "Q": self.squared_mass_sum,
                "lemmas": ["KE5", "KE3", "KE4", "K4", "C3"],
                "statement": "a_i <= bound[i-1] for every i <= K at once, with probability >= 1 - delta"}


def loop_probability_bound(scheme: Scheme, target: GaussianMixture, bandwidth, generations, delta,
                           expected: ExpectedBound | None = None, union: int | None = None) -> LoopProbabilityBound:
    """Lemma KE5 [derived]: ``a_i <= TV(r_i, p0) + (1/2) int sqrt(V_i) + (1/2) sqrt(2 ln(K/delta) Q_i)`` for
    all i <= K with probability >= 1 - delta (d = 1 or 2).  ``expected`` may pass a computed :func:`expected_bound`;
    ``union`` is the K of ln(K/delta) when these are the first generations of a longer loop (default: generations)."""
    _require_dim(target, "the probability bound KE5", (1, 2))
    count = check_positive_int("generations", generations)
    check_probability("delta", delta)
    hs = resolve_bandwidths(target, scheme, bandwidth, count)
    if expected is None:
        expected = expected_bound(scheme, target, hs, count, linear=False)
    structure = block_structure(target, scheme, hs, count)
    KE5 = get_lemma("KE5")
    bound, dev, qs = [], [], []
    for i in range(1, count + 1):
        q = structure.squared_mass_sum(i)
        value = float(KE5.evaluate(T_r=min(expected.bias_tv[i - 1], 1.0), I_V=2 * expected.deviation[i - 1],
                                   Q_mass=q, K=count if union is None else union, delta=delta))
        bound.append(value)
        dev.append(value - expected.variance[i - 1])
        qs.append(q)
    return LoopProbabilityBound(float(delta), bound, list(expected.variance), dev, qs)


#: kernels G_{i,beta} with more Gaussian terms than this have G^2 bounded by Cauchy-Schwarz (KE3, step 8)
EXACT_SQUARE_TERMS = 8


def _propagated_variance(structure, i, x, dim, exact_terms: int = EXACT_SQUARE_TERMS) -> np.ndarray:
    """V_i(x) of lemma KE3: sum over blocks of N_beta^-1 [r_s * G^2 - (r_s * G)^2] at the points x.

    G^2 is expanded exactly by lemma KE4 when G has at most ``exact_terms`` terms; otherwise it is
    replaced by its upper bound ``m sum_k c_k phi_{sigma_k}^2`` (Cauchy-Schwarz, m = sum_k c_k), which
    keeps V_i an upper bound and costs K instead of K^2 terms (accumulate over many generations)."""
    v = np.zeros(x.shape[0], dtype=float)
    for key, kernel in structure.kernels[i].items():
        block = structure.blocks[key]
        law = structure.laws[block.source]
        items = sorted((var, float(c)) for var, c in kernel.items())  # counts may be mpf (continuous schedules)
        mass = sum(c for _, c in items)
        mean_part = np.zeros_like(v)
        square_part = np.zeros_like(v)
        for a, (var_a, c_a) in enumerate(items):
            mean_part += c_a * law.convolve(math.sqrt(var_a)).density(x)
            if len(items) > exact_terms:
                const, tau2 = gaussian_product(var_a, var_a, dim)  # lemma KE4, phi_sigma^2
                square_part += mass * c_a * const * law.convolve(math.sqrt(tau2)).density(x)
                continue
            for var_b, c_b in items[a:]:
                const, tau2 = gaussian_product(var_a, var_b, dim)  # lemma KE4
                twice = 1.0 if var_b == var_a else 2.0
                square_part += twice * c_a * c_b * const * law.convolve(math.sqrt(tau2)).density(x)
        v += (square_part - mean_part ** 2) / block.count
    return v


def propagated_variance(scheme: Scheme, target: GaussianMixture, bandwidth, generations, generation, points):
    """``V_i(x)`` of lemma KE3 at ``points`` (d = 1 or 2): a pointwise bound on ``E (p_i(x) - r_i(x))^2`` [derived]."""
    _require_dim(target, "the propagated variance of KE3", (1, 2))
    count = check_positive_int("generations", generations)
    i = check_positive_int("generation", generation)
    if i > count:
        raise BoundcalcError(f"generation must be in [1, {count}], got {i}")
    hs = resolve_bandwidths(target, scheme, bandwidth, count)
    structure = block_structure(target, scheme, hs, count)
    pts = np.asarray(points, dtype=float)
    return _propagated_variance(structure, i, pts if target.dim == 1 else pts.reshape(-1, target.dim), target.dim)


# ------------------------------------------------------------------------------------------------
# the realised K2 integral (KR1-KR4) and the probability-(1 - delta) bound (KR5)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RealisedK2Bound:
    """Lemma KR4: with probability >= 1 - ``delta_j``, for every generation i, the realised K2
    integral of q_i is at most ``plan[i - 1]`` and that of each source law p_s (s < K) at most
    ``source[s]``; ``second_moment[s]`` is m_hat_s, ``radius[key]`` R_beta, ``events`` 2B."""
    centre: float
    delta_j: float
    events: int
    plan: list
    source: dict
    second_moment: dict
    radius: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"centre": self.centre, "delta_J": self.delta_j, "events": self.events, "plan": self.plan,
                "source": {str(k): v for k, v in self.source.items()},
                "second_moment": {str(k): v for k, v in self.second_moment.items()},
                "lemmas": ["KR1", "KR2", "KR3", "KR4", "C3"]}


def realised_k2_bound(scheme: Scheme, target: GaussianMixture, bandwidth, generations, delta_j,
                      centre: float | None = None) -> RealisedK2Bound:
    """Lemma KR4 [derived]: a probability-(1 - delta_J) bound on the realised K2 integrals (d = 1).

    ``centre`` is the point c of the second moments (default: the mean of p_0).
    """
    _require_dim(target, "the realised K2 bound KR4 (lemma KR1)")
    count = check_positive_int("generations", generations)
    check_probability("delta_j", delta_j)
    hs = resolve_bandwidths(target, scheme, bandwidth, count)
    plans = scheme.plans(count)
    c = float(target.weights @ target.means[:, 0]) if centre is None else float(centre)
    KR2, KR3, KR4 = (get_lemma(k) for k in ("KR2", "KR3", "KR4"))
    # blocks whose samples feed a later generation: those of plans 1..K-1 (later plans use p_s, s < K)
    feeding = {}
    for plan in plans[:-1]:
        for b in plan.blocks:
            if b.count > 0:
                feeding.setdefault(b.key, b)
    events = max(2 * len(feeding), 1)
    level = float(delta_j) / events
    log_term = math.log(1.0 / level)
    rho = float(np.max(np.abs(target.means[:, 0] - c)))
    s_max = float(np.max(target.scales))
    m_hat = {0: float(target.weights @ ((target.means[:, 0] - c) ** 2 + target.scales[:, 0] ** 2))}
    radius_of_set: dict = {}  # generation s -> radius of its training set T_s
    radius: dict = {}
    s_hat: dict = {}
    for s, (plan, h) in enumerate(zip(plans[:-1], hs[:-1]), start=1):
        for b in plan.blocks:
            if b.count <= 0 or b.key in radius:
                continue
            z = float(KR3.evaluate(N=b.count, delta=level))
            radius[b.key] = (rho + s_max * z) if b.source == 0 else radius_of_set[b.source] + hs[b.source - 1] * z
            r2 = radius[b.key] ** 2
            m_src = m_hat[b.source]
            s_hat[b.key] = m_src + float(KR2.evaluate(v_B=r2 * m_src, b_B=r2, N=b.count, delta=level))
        radius_of_set[s] = max(radius[b.key] for b in plan.blocks if b.count > 0)
        m_hat[s] = sum(b.count / plan.n_total * s_hat[b.key] for b in plan.blocks if b.count > 0) + h * h
    plan_bounds = []
    for plan, h in zip(plans, hs):
        moment = sum(w * m_hat[j] for j, w in enumerate(plan.weights()) if w > 0)
        plan_bounds.append(float(KR4.evaluate(M_hat=moment, h=h)))
    source = {s: [float(KR4.evaluate(M_hat=m_hat[s], h=h)) for h in hs] for s in m_hat}
    return RealisedK2Bound(c, float(delta_j), events, plan_bounds, source, m_hat, radius)


@dataclass(frozen=True)
class ProbabilityBound:
    """Lemma KR5: per generation, a bound on a_i holding for all i at once with probability >= 1 - delta."""
    delta: float
    mode: str
    bound: list
    stochastic: list
    bias: list
    k2: RealisedK2Bound

    def to_dict(self) -> dict:
        return {"delta": self.delta, "mode": self.mode, "bound": self.bound, "stochastic": self.stochastic,
                "bias": self.bias, "k2": self.k2.to_dict(),
                "lemmas": ["KR5", "KR4", "K1", "K2", "C2", "C3"]}


def probability_bound(scheme: Scheme, target: GaussianMixture, bandwidth, generations, delta) -> ProbabilityBound:
    """Lemma KR5 [derived]: the a-priori bound on a_i with the KR4 bound on the realised K2 integral;
    delta/2 for the deviation events (C2, split as :func:`boundcalc.bounds.kde_terms.kde_failure_split`),
    delta/2 for the moment events of KR4.  In blockwise mode a block smoothed with two bandwidths (a
    reused block under ``"auto"``) is two deviation events."""
    count = check_positive_int("generations", generations)
    check_probability("delta", delta)
    hs = resolve_bandwidths(target, scheme, bandwidth, count)
    k2 = realised_k2_bound(scheme, target, hs, count, float(delta) / 2)
    split = kde_failure_split(scheme, count, float(delta) / 2)
    per_event = split.per_event_delta
    if split.mode != "joint":  # one deviation event per distinct (block, bandwidth) pair (lemma C3)
        pairs = {(b.key, h) for plan, h in zip(scheme.plans(count), hs) for b in plan.blocks if b.count > 0}
        per_event = float(delta) / 2 / len(pairs)
    K1, K2, C2, KR5 = (get_lemma(k) for k in ("K1", "K2", "C2", "KR5"))
    lap = float(target.laplacian_l1())
    bound, stoch_list, bias_list = [], [], []
    for i, (plan, h) in enumerate(zip(scheme.plans(count), hs), start=1):
        w = plan.weights()
        prev = sum(w[j] * bound[j - 1] for j in range(1, len(w)))
        bias = float(K1.evaluate(h=h, Lambda=lap)) / 2
        if split.mode == "joint":
            value = float(KR5.evaluate(h=h, Lambda=lap, d=target.dim, N=plan.n_total, J_hat=k2.plan[i - 1],
                                       K=count, delta=delta, A_w=prev))
            stoch = value - bias - prev
        else:
            stoch = 0.0
            for b in plan.blocks:
                if b.count <= 0:
                    continue
                j = k2.source[b.source][i - 1]
                term = float(K2.evaluate(N=b.count, h=h, d=target.dim, J=j)) + float(
                    C2.evaluate(N=b.count, delta=per_event))
                stoch += b.count / plan.n_total * term / 2
            value = bias + stoch + prev
        bound.append(value)
        stoch_list.append(stoch)
        bias_list.append(bias)
    return ProbabilityBound(float(delta), split.mode, bound, stoch_list, bias_list, k2)
