"""The Gaussian-KDE loop bound (KE2, KE3, KE5) of a ``mix`` loop (fresh or reused real data), in O(K) [derived].

The same quantities as :func:`boundcalc.bounds.kde_expected.expected_bound` and
:func:`~boundcalc.bounds.kde_expected.loop_probability_bound` (``T_r(i) = TV(r_i, p0)``, the KE3 integral
``int sqrt(V_i)``, ``Q_i``, the KE2 linear composition), carried from generation i - 1 to i
(``derivations/cost-in-K.md``, section 7):

* every block of a fresh ``mix`` loop enters one plan, and afterwards its kernel is multiplied by
  ``1 - lambda`` and smoothed by ``phi_h`` each generation: one Gaussian term ``c phi_sigma`` with
  ``c = w (1 - lambda)^a`` and ``sigma^2 = (a + 1) h^2`` at age a;
* ``Q_i = (1 - lambda)^2 Q_(i-1) + sum over the blocks of plan i of w^2 / N_beta`` (exact);
* ``V_i`` is summed exactly over the blocks of age ``a <= L``; the older blocks' terms are variances
  (>= 0), so ``int sqrt(V_i) <= int sqrt(V_recent) + sum_old int sqrt(term)``, each old term is at most
  ``N^-1 r_s * (c phi_sigma)^2`` and ``int sqrt`` of that at most the scalar
  ``B = c N^(-1/2) (4 pi sigma^2)^(-d/4) sum_c sqrt(pi_c) prod_k (8 pi (v_ck + sigma^2/2))^(1/4)``; from one
  generation to the next B shrinks at least by ``rho = (1 - lambda) (1 + h^2 / (2 s_min^2 + (L+2) h^2))^(d/4)``,
  so the old blocks' total is one number carried by ``tail_i = rho tail_(i-1) + (blocks turning L + 1)``.

With reused real data (section 7.1) the synthetic blocks and the laws are those above; the one real block R
(drawn at generation 1, weight lambda in every later plan) has the kernel
``sum_(a <= i-2) lambda (1-lambda)^a phi_((a+1) h^2) + (1-lambda)^(i-1) phi_(i h^2)`` of mass 1, so
``Q_i = 1/n_real + (the synthetic part)``; its term of V_i is summed as the direct path sums it (G^2 expanded by KE4
up to 8 terms, Cauchy-Schwarz beyond) over the ages ``a <= REAL_HEAD * L``, computed once when those are final,
and its older terms are bounded by ``sum_a B(sqrt(c_a))``, a running sum (:class:`_ReusedReal`).  KE2 has one KE1
term per group of blocks drawn together (the real block and the synthetic block of a plan are two).

The densities of all source laws at one kernel width are one matrix product (the laws share their
components; :class:`_BlockDensities`).  Once the laws r_j of lemma K4 have converged (the same object from
generation to generation) the synthetic blocks' terms repeat, and so does ``V_recent``; once, in addition,
the carried numbers (Q_i, the tail, KE2's a_i) repeat, every later generation repeats the last one exactly
(the same operands give the same floats), and the remaining rows are copies.  With ``recent >= K`` nothing
is truncated and the numbers equal the direct sums to rounding (the tests compare them to 1e-12 on the
direct path's grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc.bounds.kde_expected import (EXACT_SQUARE_TERMS, QUADRATURE_MARGIN, ExpectedBound, LoopProbabilityBound,
                                          _quadrature)
from boundcalc.bounds.kde_tv import mixture_table, tv_upper_bound
from boundcalc.model.kde_law import PRUNE_WEIGHT, expected_training_mixtures
from boundcalc.model.schemes import Mix, Schedule
from boundcalc.model.targets import SQRT2PI, GaussianMixture, PrunedMixture, mixture_of
from boundcalc.theory.catalogue import get_lemma
from boundcalc.theory.kde_expected import gaussian_product

__all__ = ["applies", "recent_generations", "steady_mix_bounds", "warm_up_densities"]

#: blocks up to age L are summed exactly in V_i, older ones bounded by the scalar tail: L is the age at
#: which a block's kernel mass (1 - lambda)^a falls under TAIL_MASS, kept in [MIN_RECENT, MAX_RECENT]
TAIL_MASS = 1e-8
MIN_RECENT, MAX_RECENT = 8, 512
#: reused real data: the real block's kernel terms up to age REAL_HEAD * L are summed exactly (its older terms
#: enter the tail through sqrt(c_a), which decays as (1 - lambda)^(a/2): twice the ages for the same size)
REAL_HEAD = 2


def recent_generations(real_fraction: float) -> int:
    """L for a loop of real fraction lambda: ceil(ln TAIL_MASS / ln(1 - lambda)), clamped."""
    if real_fraction >= 1:
        return MIN_RECENT
    if real_fraction <= 0:
        return MAX_RECENT
    return int(min(MAX_RECENT, max(MIN_RECENT, math.ceil(math.log(TAIL_MASS) / math.log1p(-real_fraction)))))


def warm_up_densities(scheme: Mix, generations: int) -> float:
    """About how many mixture densities :func:`steady_mix_bounds` evaluates: two per recent synthetic block
    for every generation until the laws of lemma K4 stop changing, which takes about
    ln(PRUNE_WEIGHT) / ln(1 - lambda) generations (their weights (1 - lambda)^k fall under the pruning level)."""
    lam = _smallest_real_fraction(scheme)
    if lam >= 1:
        return 0.0
    converge = math.log(PRUNE_WEIGHT) / math.log1p(-lam) if lam > 0 else math.inf
    if isinstance(scheme, Schedule) and len(set(scheme.real_fractions)) * len(set(scheme.sizes)) > 1:
        converge = math.inf  # the laws of a schedule that changes keep changing: a new source every generation
    # reused real data: the real block's kernel head (REAL_HEAD L ages, two densities each, once)
    once = 2.0 * REAL_HEAD * recent_generations(lam) if getattr(scheme, "real_data", "fresh") == "reused" else 0.0
    return 2.0 * recent_generations(lam) * min(float(generations), converge) + once


def applies(scheme, target) -> bool:
    """True for a ``mix`` loop (fresh or reused real data) or a ``schedule`` of integer sizes (fresh real data,
    the real fraction and size of each generation given), and p0 a Gaussian mixture in d = 1 or 2."""
    if not (isinstance(target, GaussianMixture) and target.dim in (1, 2)):
        return False
    if isinstance(scheme, Schedule):
        return not scheme.relaxed and any(f < 1 for f in scheme.real_fractions)
    return isinstance(scheme, Mix) and scheme.real_data in ("fresh", "reused") and scheme.n_synth > 0


def _smallest_real_fraction(scheme) -> float:
    """lambda of a mix; the smallest real fraction of a schedule (its slowest decay)."""
    if isinstance(scheme, Schedule):
        return float(min(scheme.real_fractions))
    return float(scheme.n_real) / float(scheme.n_total(2))


class _Last:
    """A catalogue lemma whose last evaluation is kept: a converged loop asks for the same numbers every
    generation, and the lemma's value is a function of them (the same inputs give the same float)."""

    def __init__(self, lemma):
        self.lemma, self.last = lemma, (None, None)

    def evaluate(self, **values):
        key = tuple(sorted(values.items()))
        if self.last[0] != key:
            self.last = (key, self.lemma.evaluate(**values))
        return self.last[1]


def _key(variance: float) -> float:
    return float(f"{variance:.12g}")  # the rounding of the kernel tables of model.kde_blocks


@dataclass
class _Block:
    drawn_at: int
    source: int
    count: float
    weight: float  # w = count / N at the plan that draws it


class _BlockDensities:
    """The two densities of a block's term of V_i on the grid, for a source law r_s and a kernel variance var:
    ``mean = r_s * phi_sigma`` and ``square = r_s * phi_sigma^2 = const r_s * phi_tau`` (lemma KE4).

    ``sources`` are the laws that blocks are drawn from.  In d = 1 they share their components (p0's
    components widened by k h^2, lemma K4): for each convolution width, every distinct component is
    evaluated on the grid once (a basis matrix B, rows = components) and the densities of all sources
    are one matrix product W B (rows of W = the sources' weights).  A component's arithmetic is that of
    ``GaussianMixture.convolve(...).density`` (the same floats; only the order of the sum over components
    differs).  In d = 2, for a law outside ``sources``, or past :data:`BATCH_BYTES` of results, a density
    is evaluated directly."""

    def __init__(self, x, dim, sources=()):
        self.x, self.dim = x, dim
        self.products: dict = {}  # var -> (const, tau^2) of lemma KE4
        self.batches: dict = {}   # convolution width -> densities of all sources (one row each)
        self.row = {id(law): k for k, law in enumerate(sources)}
        self.sources = list(sources)
        self.batched = dim == 1 and len(self.sources) > 0
        if self.batched:
            index: dict = {}      # (mean, scale) of a component -> its column of W, its row of B
            self.weights = []
            for law in self.sources:
                cols = [index.setdefault(k, len(index)) for k in zip(law.means[:, 0].tolist(), law.scales[:, 0].tolist())]
                self.weights.append((cols, law.weights))
            self.components = np.array(list(index), dtype=float).reshape(-1, 2)

    def pair(self, law, var):
        """(mean, square) of a block drawn from ``law`` whose kernel is phi with variance ``var``."""
        if var not in self.products:
            self.products[var] = gaussian_product(var, var, self.dim)  # lemma KE4
        const, tau2 = self.products[var]
        return self._density(law, math.sqrt(var)), const * self._density(law, math.sqrt(tau2))

    def density(self, law):
        """``law.density(x)`` (width 0: sqrt(s^2 + 0) is s in floating point, so the same floats)."""
        return self._density(law, 0.0)

    def _density(self, law, width):
        """``law.convolve(width).density(x)``."""
        k = self.row.get(id(law))
        if not self.batched or k is None or self.sources[k] is not law:
            return law.convolve(width).density(self.x)
        batch = self.batches.get(width)
        if batch is None:
            if (len(self.batches) + 1) * len(self.sources) * self.x.size * 8 > BATCH_BYTES:
                return law.convolve(width).density(self.x)
            means = self.components[:, :1]
            scales = np.sqrt(self.components[:, 1:] ** 2 + width * width)
            z = (self.x[None, :] - means) / scales
            basis = np.exp(-0.5 * (z * z) - np.log(scales * SQRT2PI))
            w = np.zeros((len(self.sources), len(self.components)))
            for r, (cols, weights) in enumerate(self.weights):
                w[r, cols] = weights
            batch = w @ basis
            batch.setflags(write=False)
            self.batches[width] = batch
        return batch[k]


#: memory for the batched densities of :class:`_BlockDensities` (all widths together)
BATCH_BYTES = 1.5e9


def _sqrt_mass_bound(law: GaussianMixture, var: float, count: float, c: float, dim: int) -> float:
    """B of the module docstring: a bound on int sqrt(N^-1 (r_s * (c phi_sigma)^2)) for sigma^2 = var."""
    half = law.scales ** 2 + var / 2.0  # (components, dim): variances of r_s * phi_{sigma / sqrt 2}
    per_component = np.prod((8.0 * math.pi * half) ** 0.25, axis=1)
    return c / math.sqrt(count) * (4.0 * math.pi * var) ** (-dim / 4.0) * float(np.sqrt(law.weights) @ per_component)


class _ReusedReal:
    """The real block R of a ``mix`` loop with reused real data: ``n_real`` samples of p0 drawn at generation 1
    and used by every plan with weight lambda (``derivations/cost-in-K.md``, section 7, reused real data).

    Its kernel at generation i has the terms ``c_a phi_{(a+1) h^2}``, a = 0..i-1, with ``c_a = lambda (1-lambda)^a``
    for a <= i - 2 and ``c_(i-1) = (1-lambda)^(i-1)`` (mass 1).  Its term of V_i is
    ``N_R^-1 [p0 * G^2 - (p0 * G)^2]`` with G^2 expanded exactly (lemma KE4) while G has at most
    EXACT_SQUARE_TERMS terms and no term older than ``head``, else bounded as the direct path bounds it,
    ``G^2 <= (sum_a c_a) sum_a c_a phi_a^2 = sum_a c_a phi_a^2`` (Cauchy-Schwarz, mass 1).  The terms of age
    a > head leave the array for the scalar ``rest``: ``sum_a B(sqrt(c_a))``, B of the module docstring."""

    def __init__(self, target: GaussianMixture, count: float, lam: float, lam_w: float, h2: float, head: int):
        self.target, self.count, self.lam, self.lam_w, self.h2, self.head = target, count, lam, lam_w, h2, head
        self.dim = target.dim
        self.old = 0.0       # sum of B over the terms lambda (1-lambda)^a phi_{(a+1) h^2}, head < a <= i - 2
        self.steady = None   # the array once every head term has its final coefficient (i - 1 > head)

    def coefficient(self, i: int, a: int) -> float:
        return self.lam * self.lam_w ** a if a <= i - 2 else self.lam_w ** (i - 1)

    def key(self, i: int):
        """Equal keys, equal arrays: the head is fixed once generation i has a term older than it."""
        return i if i - 1 <= self.head else "steady"

    def array(self, i: int, densities: _BlockDensities, variances: list) -> np.ndarray:
        """The head's term of V_i on the grid (``variances[a]`` the kernel variance at age a)."""
        if i - 1 > self.head and self.steady is not None:
            return self.steady
        ages = range(min(i - 1, self.head) + 1)
        c = [self.coefficient(i, a) for a in ages]
        pairs = [densities.pair(self.target, variances[a]) for a in ages]
        mean = sum(c_a * m for c_a, (m, _) in zip(c, pairs))
        if i <= EXACT_SQUARE_TERMS and i - 1 <= self.head:  # G^2 = sum_a sum_b c_a c_b phi_a phi_b (KE4)
            square = 0.0
            for a in ages:
                square = square + c[a] * c[a] * pairs[a][1]
                for b in ages[a + 1:]:
                    const, tau2 = gaussian_product(variances[a], variances[b], self.dim)  # lemma KE4
                    square = square + 2.0 * c[a] * c[b] * const * densities.pair(self.target, tau2)[0]
        else:  # Cauchy-Schwarz with the mass 1 of the whole kernel (the direct path's bound)
            square = sum(c_a * s for c_a, (_, s) in zip(c, pairs))
        out = (square - mean ** 2) / self.count
        if i - 1 > self.head:
            self.steady = out
        return out

    def _bound(self, a: int, root_c: float) -> float:
        return _sqrt_mass_bound(self.target, (a + 1) * self.h2, self.count, root_c, self.dim) if root_c > 0 else 0.0

    def rest(self, i: int) -> float:
        """A bound on int sqrt(N_R^-1 p0 * sum_(a > head) c_a phi_a^2) at generation i; called for i = 1, 2, ...
        in turn (the finished terms are one running sum, the last term is the only one that changes)."""
        if i - 2 > self.head:
            a = i - 2  # from now on lambda (1-lambda)^a (underflow of the root to 0 drops terms under 1e-300)
            self.old += self._bound(a, math.sqrt(self.lam) * math.sqrt(self.lam_w) ** a)
        last = self._bound(i - 1, math.sqrt(self.lam_w) ** (i - 1)) if i - 1 > self.head else 0.0
        return self.old + last


def steady_mix_bounds(scheme: Mix, target: GaussianMixture, h: float, generations: int, delta: float,
                      recent: int | None = None, extra_variance: float | None = None, fixed_point: bool = True):
    """(ExpectedBound, LoopProbabilityBound) of a ``mix`` loop (fresh or reused real data), every generation, in O(K).

    ``recent`` is L of the module docstring (the reused real block's head is REAL_HEAD * L ages);
    ``extra_variance`` fixes the quadrature grid (default: the largest variance that any evaluated density
    adds to p0); ``fixed_point=False`` computes every generation (the tests compare the two)."""
    if not applies(scheme, target):
        raise BoundcalcError("the O(K) KDE loop bound applies to mix (fresh or reused real data) and schedules, "
                             "p0 in d = 1 or 2")
    K, dim, h2 = int(generations), target.dim, float(h) * float(h)
    laws = [target] + list(expected_training_mixtures(target, scheme, float(h), K))
    KE1, KE2, KE3, KE5, K1 = (_Last(get_lemma(k)) for k in ("KE1", "KE2", "KE3", "KE5", "K1"))
    lap = float(target.laplacian_l1())
    lam_w = 1.0 - _smallest_real_fraction(scheme)  # the largest weight of p_(i-1) in a plan (mix: 1 - lambda)
    if recent is None:
        recent = recent_generations(1.0 - lam_w)
    reused = getattr(scheme, "real_data", "fresh") == "reused"
    real = None
    if reused:  # the real block, drawn at generation 1 (weight 1 there, lambda in every later plan)
        real = _ReusedReal(target, float(scheme.n_real), float(scheme.n_real) / float(scheme.n_total(2)), lam_w, h2,
                           REAL_HEAD * recent)
    oldest = max(recent, real.head) if reused else recent  # the widest kernel evaluated on the grid
    p0_var = target.scales ** 2
    if extra_variance is None:
        widest = max(float(np.max(law.scales ** 2)) for law in {id(x): x for x in laws}.values())
        extra_variance = max(widest - float(np.max(p0_var)), 0.0) + (min(oldest, K) + 1) * h2
    quad = _quadrature(target, extra_variance)
    x = quad.points
    p0 = target.density(x)
    margin = 1.0 + QUADRATURE_MARGIN[dim]
    s_min2 = float(np.min(p0_var))
    widening = (1.0 + h2 / (2.0 * s_min2 + (recent + 2) * h2)) ** (dim / 4.0)  # rho = w_i * widening

    blocks: list[_Block] = []
    densities = _BlockDensities(x, dim, list({id(law): law for law in laws[:K]}.values()))  # the blocks' sources
    tv_cache: dict = {}        # id(law) -> T_r
    recent_cache: dict = {}    # the recent blocks' identity -> int sqrt(V_recent)
    stoch_cache: dict = {}     # the sources of a plan -> its KE1 term
    variances = [_key(h2)]     # kernel variance at age a, accumulated as model.kde_blocks accumulates it
    tail, q = 0.0, 0.0  # q: the synthetic blocks' part of Q_i (and the real blocks' under fresh real data)
    bias_tv, deviation, variance_bound, qs = [], [], [], []
    lin, lin_bias, lin_stoch = [], [], []
    bias = float(K1.evaluate(h=h, Lambda=lap)) / 2
    last_state = None
    for i in range(1, K + 1):
        plan = scheme.plan(i)
        n_i = float(plan.n_total)
        # w_i: the weight of p_(i-1) in plan i (mix: 1 - lambda); every earlier kernel is multiplied by it
        w_i = sum(float(b.count) for b in plan.blocks if b.source == i - 1 and i > 1) / n_i
        for b in blocks:
            b.weight *= w_i  # the block's kernel mass c at age i - drawn_at
        own = [_Block(i, b.source, float(b.count), b.count / n_i) for b in plan.blocks
               if b.count > 0 and not (reused and b.source == 0)]  # the reused real block is `real`
        # Q_i (exact): earlier masses times w_i, plus the new blocks; the reused real block has mass 1
        q = (w_i * w_i * q if i > 1 else 0.0) + sum(b.weight ** 2 / b.count for b in own)
        blocks.extend(own)
        # blocks turning L + 1 leave the exact sum for the tail
        tail *= w_i * widening if i > 1 else 0.0
        while blocks and i - blocks[0].drawn_at > recent:
            b = blocks.pop(0)
            a = i - b.drawn_at
            tail += _sqrt_mass_bound(laws[b.source], (a + 1) * h2, b.count, b.weight, dim)
        while len(variances) <= min(i, oldest + 1):
            variances.append(_key(variances[-1] + h2))
        key = tuple((id(laws[b.source]), i - b.drawn_at, b.count, b.weight) for b in blocks)
        if reused:
            key += (("real", real.key(i)),)
        i_v_recent = recent_cache.get(key)
        if i_v_recent is None:
            v = np.zeros(x.shape[0])
            for b in blocks:
                var = variances[i - b.drawn_at]
                c = b.weight
                mean, square = densities.pair(laws[b.source], var)
                v += (c * c * square - (c * mean) ** 2) / b.count
            if reused:
                v += real.array(i, densities, variances)
            i_v_recent = quad.integrate(np.sqrt(np.maximum(v, 0.0))) * margin
            recent_cache.clear()
            recent_cache[key] = i_v_recent
        law_i = laws[i]
        if id(law_i) not in tv_cache:
            tv_cache.clear()
            # TV(r_i, p0) <= TV(kept law, p0) + the mass pruned from r_i (zero for an exact law)
            if dim == 1:  # a proven upper bound (exact CDF differences between the roots of r_i - p0)
                kept = float(tv_upper_bound(x, densities.density(law_i), p0, mixture_table([law_i], target))[0])
            else:
                kept = 0.5 * quad.integrate(np.abs(densities.density(law_i) - p0)) * margin
            tv_cache[id(law_i)] = kept + getattr(law_i, "dropped", 0.0)
        t_r = tv_cache[id(law_i)]
        i_v = i_v_recent + tail + (real.rest(i) if reused else 0.0)
        bias_tv.append(t_r)
        deviation.append(i_v / 2)
        variance_bound.append(float(KE3.evaluate(T_r=min(t_r, 1.0), I_V=i_v)))
        qs.append(q + (1.0 / real.count if reused else 0.0))
        # KE2: one KE1 term per group of blocks drawn together (fresh: the whole plan; reused: the real block,
        # drawn at generation 1, and the synthetic block); a group's mixture gives its K2 integral
        groups: dict = {}
        for b in plan.blocks:
            if b.count > 0:
                groups.setdefault(b.drawn_at, []).append(b)
        skey = tuple(tuple((id(laws[b.source]), float(b.count)) for b in g) for g in groups.values())
        if skey not in stoch_cache:  # the same sources (a converged loop): the same KE1 terms
            stoch = 0.0
            for group in groups.values():
                n_g = sum(float(b.count) for b in group)
                rbar = mixture_of([(b.count / n_g, laws[b.source]) for b in group])
                # mass pruned from the laws (lemma K4's tables, at most ~1e-40): int sqrt is subadditive, so the
                # dropped part of a source of weight w adds at most sqrt(w) times that law's K2 slack
                j = rbar.k2_integral(h) + sum(math.sqrt(b.count / n_g) * laws[b.source].k2_slack() for b in group
                                              if isinstance(laws[b.source], PrunedMixture))
                stoch += n_g / n_i * 0.5 * float(KE1.evaluate(N=n_g, h=h, d=dim, J=j))
            stoch_cache.clear()
            stoch_cache[skey] = stoch
        stoch = stoch_cache[skey]
        prev = w_i * lin[-1] if i > 1 else 0
        lin.append(float(KE2.evaluate(h=h, Lambda=lap, S_stoch=stoch, A_w=prev)))
        lin_bias.append(bias)
        lin_stoch.append(stoch)
        # the fixed point: step i + 1 reads laws r_(i-L-1)..r_(i+1) and (q, tail, KE2's a_i); when those laws are
        # the objects step i read (a converged loop) and the numbers equal step i - 1's, step i + 1 repeats step i
        # (with reused real data also the real block's head array fixed and its rest settled: its next terms are 0)
        state = (q, tail, lin[-1], t_r, i_v, stoch, w_i, real.old if reused else None)
        first = i - recent - 2
        settled = not reused or (real.steady is not None and math.sqrt(real.lam_w) ** (i - 1) == 0.0)
        if (fixed_point and settled and i < K and first >= 1 and state == last_state
                and laws[first] is laws[i + 1]):
            rest = K - i
            for column in (bias_tv, deviation, variance_bound, qs, lin, lin_bias, lin_stoch):
                column.extend([column[-1]] * rest)
            break
        last_state = state
    expected = ExpectedBound([float(h)] * K, lin, variance_bound, bias_tv, deviation, lin_bias, lin_stoch)
    bound, dev = [], []
    previous = None
    for i in range(K):
        row = (bias_tv[i], deviation[i], qs[i], variance_bound[i])
        if row != previous:  # a repeated row (the fixed point) repeats its value
            value = float(KE5.evaluate(T_r=min(row[0], 1.0), I_V=2 * row[1], Q_mass=row[2], K=K, delta=delta))
            previous = row
        bound.append(value)
        dev.append(value - row[3])
    return expected, LoopProbabilityBound(float(delta), bound, list(variance_bound), dev, qs)
