"""The Gaussian-KDE loop bound (KE2, KE3, KE5) carried by kernel tables in O(K), d = 1 or 2 [derived].

The quantities of :func:`boundcalc.bounds.kde_expected.expected_bound` and
:func:`~boundcalc.bounds.kde_expected.loop_probability_bound` (``T_r(i) = TV(r_i, p0)``, the KE3 integral
``int sqrt(V_i)``, ``Q_i``, the KE2 composition), carried from generation to generation for ``accumulate``,
``mix`` and ``schedule`` loops (``derivations/cost-in-K.md``, section 10).  With a fixed bandwidth h every
function involved is a combination of the Gaussians ``F_u = p0 * phi_(u h^2 / 2)``, u = 0, 1, 2, ...:

* **laws** (lemma K4): ``r_i = sum_k pi_i(k) F_(2k)``, the table pi_i shifted by one in k each generation;
* **kernels**: with ``G_(i,beta) = sum_t c_(i,beta)(t) phi_((1+t) h^2)`` and ``m_(i,beta)`` its mass, the table
  ``M_i(t, k) = sum_beta (m_(i,beta) / N_beta) c_(i,beta)(t) pi_(s_beta)(k)`` (real blocks in column 0, synthetic
  blocks in column 1 + k) is one recursion for all blocks: under accumulate the masses freeze after a block's
  first generation and ``M_i(t, .) = alpha_i P_(i-1)(t-1, .)`` with ``P`` the running sum of the tables; under mix
  and schedule every earlier mass and kernel is multiplied by the weight w_i of p_(i-1), so
  ``M_i(t, .) = w_i^2 M_(i-1)(t-1, .)`` (w_i for a reused real block, whose mass stays 1);
* **V_i**: each block's ``N^-1 r_s * G^2`` is at most ``(m/N) sum_t c(t) r_s * phi_t^2`` (Cauchy-Schwarz, the direct
  path's bound past 8 kernel terms), with ``phi_t^2 = (4 pi (1+t) h^2)^(-1/2) phi_((1+t) h^2 / 2)`` (lemma KE4); the
  subtracted squares of the blocks of one class (real, synthetic) are at least ``A_c^2 / Q_c`` with
  ``A_c = sum_(beta in c) (m/N) r_s * G`` (Cauchy-Schwarz), so
  ``V_i <= sum M_i(t,k) g(t) F_(2k+1+t) - A_real^2 / Q_real - A_synth^2 / Q_synth``;
* **Q_i, KE2**: recursions of the masses; KE1 terms per group of blocks drawn together.

Entries of the tables under ``PRUNE_WEIGHT`` (relative) are dropped and their mass carried: a dropped law mass is
added to T_r and to the K2 integral (as :class:`~boundcalc.model.targets.PrunedMixture` bounds it), the dropped
kernel mass enters ``int sqrt(V_i)`` through ``sqrt(pi g_0 e (1 + M_2 + 3 i h^2 / 2))`` (Cauchy-Schwarz with the
weight 1 / (1 + x^2)).  The densities of a chunk of generations are one matrix product of their weight rows with
the basis F on the chunk's quadrature grid, compressed with a measured, proven allowance.  A ``mix`` loop whose
tables stop changing (its exact fixed point in floating point) repeats its last row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc.bounds.kde_expected import (QUADRATURE_MARGIN, ExpectedBound, LoopProbabilityBound, _quadrature,
                                          _simpson_weights)
from boundcalc.bounds.kde_tv import MixtureTable, tv_upper_bound
from boundcalc.model.kde_law import PRUNE_WEIGHT, loop_moment_bound
from boundcalc.model.schemes import Accumulate, Mix, Replace, Schedule
from boundcalc.model.targets import SQRT2PI, GaussianMixture, dropped_k2_slack
from boundcalc.theory.catalogue import get_lemma

__all__ = ["applies", "basis_entries", "table_bounds", "tables_for", "table_work", "AccumulateTables", "MixTables",
           "ReplaceTables", "MAX_BASIS_ENTRIES"]

#: generations whose densities are computed in one matrix product
CHUNK = 256
#: singular values of the basis under this fraction of the largest are dropped (their effect is bounded)
RANK_TOLERANCE = 1e-15
#: rows of the basis whose singular vectors span it (the allowance is measured on every row)
SAMPLED_ROWS = 96
#: the allowance of the compressed basis is measured per block of this many nodes' share of the grid
NODE_BLOCKS = 64


def applies(scheme, target) -> bool:
    """True for p0 a Gaussian mixture in d = 1 or 2 and an ``accumulate`` or ``replace`` loop, a ``mix`` loop (fresh or
    reused real data) with synthetic data, or a ``schedule`` of integer sizes with some synthetic data."""
    if not (isinstance(target, GaussianMixture) and target.dim in (1, 2)):
        return False
    if isinstance(scheme, (Accumulate, Replace)):
        return True
    if isinstance(scheme, Schedule):
        return not scheme.relaxed and any(f < 1 for f in scheme.real_fractions)
    return isinstance(scheme, Mix) and scheme.n_synth > 0


def _reach(weight: float) -> float:
    """Generations until a factor ``weight`` per generation falls under PRUNE_WEIGHT."""
    return math.log(PRUNE_WEIGHT) / math.log(weight) if 0 < weight < 1 else (0.0 if weight <= 0 else math.inf)


def table_work(scheme, generations: int) -> float:
    """About how many table entries :func:`table_bounds` updates: (entries per generation) x (generations computed).

    replace: i entries at generation i.  accumulate: a table of about (2 ln(N_K / N_1) + 60)^2 entries every generation.  mix and schedule: a table of about
    k_max x t_max entries (k_max the reach of the largest weight w of p_(i-1), t_max that of w^2, or of w for
    reused real data), every generation of a schedule, and for a mix until its fixed point, about 3 k_max generations."""
    K = int(generations)
    if isinstance(scheme, Replace):  # generation i has i entries (one block per earlier generation)
        return K * (K + 1) / 2.0
    if isinstance(scheme, Accumulate):  # k and t concentrate around ln(N_K / N_1) (a count of hops), tails to 1e-40
        side = 2.0 * math.log(1.0 + (K - 1) * float(scheme.n_synth) / float(scheme.n_real)) + 60
        return side * side * K
    if isinstance(scheme, Schedule):
        w = 1.0 - float(min(scheme.real_fractions))
    else:
        w = float(scheme.n_synth) / float(scheme.n_total(2))
    k_max = min(_reach(w), K) + 2
    t_max = min(_reach(w if getattr(scheme, "real_data", "fresh") == "reused" else w * w), K) + 2
    steps = K if isinstance(scheme, Schedule) else min(K, 3 * k_max + 8)
    return k_max * t_max * steps


class _Grown:
    """A 1-D or 2-D float array that grows (doubling its capacity); the caller keeps the used extent."""

    def __init__(self, shape):
        self.data = np.zeros(shape)

    def fit(self, shape):
        if any(n > c for n, c in zip(shape, self.data.shape)):
            bigger = np.zeros(tuple(max(n, 2 * c) for n, c in zip(shape, self.data.shape)))
            bigger[tuple(slice(0, c) for c in self.data.shape)] = self.data
            self.data = bigger
        return self.data


_INDEX: dict = {}


def _index(shape):
    """For a table of this shape (column 0 real, column 1 + k synthetic): u = 2k + 1 + t of every entry (the
    variance part), and u = 2k + 2 + 2t of every entry with the synthetic ones moved by ``shift`` (the means of the
    two classes in one count)."""
    entry = _INDEX.get(shape)
    if entry is None:
        if len(_INDEX) >= 8:  # a few recent shapes (a table grows by one row at a time)
            _INDEX.pop(next(iter(_INDEX)))
        t = np.arange(shape[0])[:, None]
        k = np.maximum(np.arange(shape[1]) - 1, 0)[None, :]
        shift = 2 * (shape[0] + shape[1]) + 4
        synthetic = (np.arange(shape[1]) >= 1)[None, :]
        entry = _INDEX[shape] = ((2 * k + 1 + t).ravel(), (2 * k + 2 + 2 * t + shift * synthetic).ravel(), shift)
    return entry


def _drop_under(a: np.ndarray, level: float) -> float:
    """Zero the entries of ``a`` under ``level`` (in place); their sum."""
    small = a < level
    lost = float(a[small].sum())
    a[small] = 0.0
    return lost


def _last_nonzero(a: np.ndarray) -> np.ndarray:
    nz = np.flatnonzero(a)
    return a[:nz[-1] + 1] if nz.size else a[:0]


@dataclass
class _Group:
    """One KE1 term: ``n`` samples drawn together, whose training law has the k table ``table`` (its K2 integral
    plus ``slack`` for dropped law mass), counted at generation ``first`` only, or from it on (``persistent``)."""
    n: float
    table: np.ndarray
    slack: float
    first: int
    persistent: bool = False


@dataclass
class _Step:
    """What generation i needs: weight rows over u (of F_u) and the numbers beside them."""
    law: np.ndarray       # pi_i over k: r_i = sum_k pi_i(k) F_(2k)
    dropped: float        # the law mass dropped from r_i
    omega: np.ndarray     # the Cauchy-Schwarz part of V_i over u
    means: tuple          # the weights over u of A_real and A_synth
    q_parts: tuple        # (Q_real, Q_synth); V_i -= A_c^2 / Q_c
    ghost: float          # the (m/N)-weighted kernel mass dropped from M_i
    n_total: float        # N_i
    composition: tuple    # (a_sum, a_last): KE2's A_w = a_sum sum_(j<i) KE2_j + a_last KE2_(i-1)
    groups: list = field(default_factory=list)

    @property
    def q(self) -> float:
        return self.q_parts[0] + self.q_parts[1]


class _Tables:
    """Shared by the two recursions: the law table (pruned), the collapse of M_i onto u."""

    def __init__(self, h2: float, prune: float, slack_b: float, dim: int = 1):
        self.h2, self.prune, self.slack_b, self.dim = h2, prune, slack_b, dim
        self.i = 0
        self._g = np.zeros(0)

    def _pruned(self, law: np.ndarray):
        """(the law with entries under the pruning level dropped and trailing zeros cut, the mass dropped)."""
        lost = _drop_under(law, self.prune)
        return _last_nonzero(law), lost

    def _slack(self, dropped: float) -> float:
        """PrunedMixture's bound on the K2 integral of a dropped law mass."""
        return dropped_k2_slack(self.dim, dropped, self.slack_b)

    def _collapse(self, m: np.ndarray):
        """(omega, (A_real weights, A_synth weights)) of a table M (column 0 real, 1 + k synthetic)."""
        if self._g.size < m.shape[0]:  # g(t) = (4 pi (1+t) h^2)^(-d/2): phi_t^2 = g(t) phi_((1+t) h^2 / 2) (KE4)
            self._g = (4.0 * math.pi * (1.0 + np.arange(2 * m.shape[0])) * self.h2) ** (-self.dim / 2.0)
        u_var, u_mean, shift = _index(m.shape)
        omega = np.bincount(u_var, weights=(m * self._g[:m.shape[0], None]).ravel())
        means = np.bincount(u_mean, weights=m.ravel(), minlength=2 * shift)
        return omega, (_last_nonzero(means[:shift]), _last_nonzero(means[shift:]))

    def _drop_small(self, block: np.ndarray) -> float:
        """Zero the entries of ``block`` under the pruning level times its largest; their sum."""
        return _drop_under(block, self.prune * (float(block.max()) if block.size else 0.0))


class AccumulateTables(_Tables):
    """accumulate: every block's mass freezes after its first generation (synthetic block of p_j: n_synth / N_(j+1);
    reused real block: 1; fresh real block of generation l: n_real n_synth / (N_l N_(l+1))), so with
    ``kappa = m / N`` constant, ``M_i(0, .)`` holds the plan's own draws and ``M_i(t, .) = alpha_i P_(i-1)(t-1, .)``,
    ``P_i = P_(i-1) + M_i`` (``derivations/cost-in-K.md``, section 10)."""

    def __init__(self, scheme: Accumulate, h2: float, prune: float = PRUNE_WEIGHT, slack_b: float = 1.0, dim: int = 1):
        super().__init__(h2, prune, slack_b, dim)
        self.n_real, self.n_synth = float(scheme.n_real), float(scheme.n_synth)
        self.reused = scheme.real_data == "reused"
        self._sum, self._sum_dropped = _Grown((8,)), 0.0        # S = sum_(j<i) pi_j
        self._kappa, self._kappa_dropped = _Grown((8,)), 0.0    # Y = sum_(j<i) pi_j / N_(j+1)
        self._used = 1                                          # the longest law so far
        self._p, self._p_ghost = _Grown((8, 8)), 0.0            # P and its dropped mass
        self.nt, self.nc = 0, 0
        self._q_real, self._q_synth = 0.0, 0.0
        self.law, self.dropped = np.zeros(1), 0.0

    def n_total(self, i: int) -> float:
        return self.n_real + (i - 1) * self.n_synth

    def step(self) -> _Step:
        self.i += 1
        i, n_r, n_s = self.i, self.n_real, self.n_synth
        n_i, n_next = self.n_total(i), self.n_total(i + 1)
        alpha = n_s / n_i if i > 1 else 0.0  # the weight of each earlier output in plan i
        previous, previous_dropped = self.law, self.dropped
        # lemma K4: r_i = ((n_real/N_i) p0 + alpha sum_(j<i) r_j) * phi_h: the k table shifted by one
        law = np.zeros(self._used + 1)
        np.multiply(self._sum.data[:self._used], alpha, out=law[1:])
        law[1] += n_r / n_i
        law, lost = self._pruned(law)
        dropped = alpha * self._sum_dropped + lost
        # the kernel table: real (column 0: reused kappa = 1/n_real, fresh (the block of generation i)
        # kappa = n_synth / (N_i N_(i+1)); weight n_real / N_i, source p0), synthetic (column 1 + k: the block of
        # p_j, j < i, kappa 1/N_(j+1), weight alpha, source r_j); t >= 1 the propagation through the p_j
        kappa_real = 1.0 / n_r if self.reused else n_s / (n_i * n_next)
        own = np.zeros(self._used + 1)
        own[0] = kappa_real * n_r / n_i
        np.multiply(self._kappa.data[:self._used], alpha, out=own[1:])
        nc = max(self.nc, own.size)
        m = np.zeros((self.nt + 1, nc))
        m[0, :own.size] = own
        if self.nt:
            np.multiply(self._p.data[:self.nt, :self.nc], alpha, out=m[1:, :self.nc])
        ghost = alpha * (self._p_ghost + self._kappa_dropped)
        block = self._p.fit(m.shape)[:m.shape[0], :m.shape[1]]
        block += m
        self._p_ghost += ghost + self._drop_small(block)
        rows = np.nonzero(block.any(axis=1))[0]
        self.nt, self.nc = (int(rows[-1]) + 1 if rows.size else 0), m.shape[1]
        self.kernels = m
        # the masses of generation i: the fresh real block of generation i has n_real / N_i, not its frozen one
        if not self.reused:
            m = m.copy()
            m[0, 0] = n_r / (n_i * n_i)
        omega, means = self._collapse(m)
        # Q_i = sum_beta m_beta^2 / N_beta (exact), by class
        if i >= 2:
            self._q_synth += n_s / (n_i * n_i)
        if self.reused:
            q_real = 1.0 / n_r
        else:
            q_real = self._q_real + n_r / (n_i * n_i)
            frozen = n_r * n_s / (n_i * n_next)
            self._q_real += frozen * frozen / n_r
        # KE1 groups: the real block of generation 1 (alone; reused: in every plan); fresh: the real block of
        # generation i with the synthetic block of p_(i-1) (both drawn at i), which stands alone from i + 1 on;
        # reused: the synthetic block of p_(i-1) alone from i on
        groups = []
        if i == 1:
            groups.append(_Group(n_r, np.array([1.0]), 0.0, 1, self.reused))
        elif self.reused:
            groups.append(_Group(n_s, previous, self._slack(previous_dropped), i, True))
        else:
            mixed = n_s / (n_r + n_s) * previous
            mixed[0] += n_r / (n_r + n_s)
            groups.append(_Group(n_r + n_s, mixed, math.sqrt(n_s / (n_r + n_s)) * self._slack(previous_dropped), i))
            groups.append(_Group(n_s, previous, self._slack(previous_dropped), i + 1, True))
        # the running sums for generation i + 1 (the synthetic block of p_i enters plan i + 1 with kappa 1/N_(i+1))
        s = self._sum.fit((law.size,))
        s[:law.size] += law
        self._sum_dropped += dropped
        y = self._kappa.fit((law.size,))
        y[:law.size] += law / n_next
        self._kappa_dropped += dropped / n_next
        self._used = max(self._used, law.size)
        self.law, self.dropped = law, dropped
        return _Step(law, dropped, omega, means, (q_real, self._q_synth), ghost, n_i, (alpha, 0.0), groups)


class MixTables(_Tables):
    """mix (fresh or reused real data) and schedule: plan i draws a real block (weight lambda_i) and a block of
    p_(i-1) (weight w_i); every earlier kernel is multiplied by w_i and smoothed, so is every earlier mass (except
    the reused real block's, which stays 1): ``M_i(t, .) = w_i^2 M_(i-1)(t-1, .)`` (w_i in the reused real column),
    ``Q_i = w_i^2 Q_(i-1) + (the new blocks)`` by class."""

    def __init__(self, scheme, h2: float, prune: float = PRUNE_WEIGHT, slack_b: float = 1.0, dim: int = 1):
        super().__init__(h2, prune, slack_b, dim)
        self.scheme = scheme
        self.reused = getattr(scheme, "real_data", "fresh") == "reused"
        self.m = np.zeros((0, 1))
        self.ghost = 0.0
        self._q = (0.0, 0.0)
        self.law, self.dropped = np.array([1.0]), 0.0  # r_0 = p0

    def step(self) -> _Step:
        self.i += 1
        i = self.i
        plan = self.scheme.plan(i)
        n_i = float(plan.n_total)
        real = [b for b in plan.blocks if b.source == 0 and b.count > 0]
        synth = [b for b in plan.blocks if b.source == i - 1 and i > 1 and b.count > 0]
        w = sum(float(b.count) for b in synth) / n_i          # the weight of p_(i-1)
        lam = sum(float(b.count) for b in real) / n_i
        previous, previous_dropped = self.law, self.dropped
        # lemma K4: r_i = (lambda_i p0 + w_i r_(i-1)) * phi_h
        law = np.zeros(previous.size + 1)
        law[1:] = w * previous
        law[1] += lam
        law, lost = self._pruned(law)
        dropped = w * previous_dropped + lost
        # the table: earlier entries times w^2 (the reused real column times w), one step older; the new blocks
        old = self.m
        nc = max(old.shape[1], previous.size + 1)
        m = np.zeros((old.shape[0] + 1, nc))
        m[1:, 1:old.shape[1]] = (w * w) * old[:, 1:]
        m[1:, 0] = (w if self.reused else w * w) * old[:, 0]
        for b in real:  # own draw, weight c / N_i: a new real block has m / N = (c / N_i) / c, the reused one 1 / c
            c = float(b.count)
            m[0, 0] += (1.0 / c if self.reused else 1.0 / n_i) * (c / n_i)
        for b in synth:  # the block of p_(i-1): mass w, N = its count
            m[0, 1:previous.size + 1] += (w / float(b.count)) * w * previous
        self.ghost = (w * self.ghost + sum(w * w / float(b.count) for b in synth) * previous_dropped
                      + self._drop_small(m))
        rows = np.nonzero(m.any(axis=1))[0]
        m = m[:int(rows[-1]) + 1] if rows.size else m[:0]
        cols = np.nonzero(m.any(axis=0))[0]
        m = m[:, :max(int(cols[-1]) + 1, 1)] if cols.size else m[:, :1]
        self.m = self.kernels = m
        omega, means = self._collapse(m)
        q_real, q_synth = self._q
        if self.reused:
            q_real = 1.0 / float(self.scheme.n_real)
        else:
            q_real = w * w * q_real + sum(float(b.count) / (n_i * n_i) for b in real)
        q_synth = w * w * q_synth + sum(float(b.count) / (n_i * n_i) for b in synth)
        self._q = (q_real, q_synth)
        # KE1 groups: the blocks drawn together (fresh: the whole plan; reused: the real block of generation 1,
        # counted in every plan, and the block of p_(i-1))
        groups = []
        if self.reused:
            if i == 1:
                groups.append(_Group(float(self.scheme.n_real), np.array([1.0]), 0.0, 1, True))
            for b in synth:
                groups.append(_Group(float(b.count), previous, self._slack(previous_dropped), i))
        else:
            n_s = sum(float(b.count) for b in synth)
            mixed = (n_s / n_i) * previous  # previous has at least one entry (r_0 = p0: [1])
            mixed[0] += lam
            groups.append(_Group(n_i, mixed, math.sqrt(n_s / n_i) * self._slack(previous_dropped), i))
        self.law, self.dropped = law, dropped
        return _Step(law, dropped, omega, means, self._q, self.ghost, n_i, (0.0, w), groups)

    def state(self):
        """Everything the next step reads besides the plan: equal states and equal plans give equal steps."""
        return (self.law.tobytes(), self.dropped, self.m.shape, self.m.tobytes(), self.ghost, self._q)


class ReplaceTables(_Tables):
    """replace: generation j trains on one block of N_j samples of p_(j-1) (N_1 = n_real, then n_synth), weight 1;
    its kernel is only smoothed afterwards, so at generation i it is ``phi_((1 + i - j) h^2)`` with mass 1, and
    ``r_(j-1) * G = r_i = F_(2i)``.  The table has one entry per block: the variance part ``g(t) / N_(i-t) F_(2i-1-t)``,
    t = 0..i-1, and the means of both classes are ``r_i`` times ``Q_c``, so ``A_c^2 / Q_c = Q_c r_i^2``: the
    subtracted squares exactly, and V_i is the direct sum (a kernel of one term: KE4 exactly)."""

    def __init__(self, scheme: Replace, h2: float, prune: float = PRUNE_WEIGHT, slack_b: float = 1.0, dim: int = 1):
        super().__init__(h2, prune, slack_b, dim)
        self.n_real, self.n_synth = float(scheme.n_real), float(scheme.n_synth)

    def step(self) -> _Step:
        self.i += 1
        i, n_r, n_s = self.i, self.n_real, self.n_synth
        n_i = n_r if i == 1 else n_s
        law = np.zeros(i + 1)
        law[i] = 1.0                                   # r_i = p0 * phi_(i h^2)
        if self._g.size < i:
            self._g = (4.0 * math.pi * (1.0 + np.arange(2 * i)) * self.h2) ** (-self.dim / 2.0)
        t = np.arange(i)
        sizes = np.full(i, n_s)
        sizes[-1] = n_r                                # the block of generation j = i - t; j = 1 is the real one
        omega = np.zeros(2 * i)
        omega[2 * i - 1 - t] = self._g[:i] / sizes     # g(t) / N_(i-t) at u = 2i - 1 - t
        q_parts = (1.0 / n_r, (i - 1) / n_s)
        means = tuple(np.pad(np.array([q_c]), (2 * i, 0)) for q_c in q_parts)  # Q_c r_i at u = 2i
        previous = np.zeros(i)
        previous[i - 1] = 1.0                          # r_(i-1), the law of plan i's one block
        groups = [_Group(n_i, previous, 0.0, i)]
        self.law, self.dropped = law, 0.0
        return _Step(law, 0.0, omega, means, q_parts, 0.0, n_i, (0.0, 1.0 if i > 1 else 0.0), groups)


def tables_for(scheme, h2: float, prune: float = PRUNE_WEIGHT, slack_b: float = 1.0, dim: int = 1):
    kind = AccumulateTables if isinstance(scheme, Accumulate) else ReplaceTables if isinstance(
        scheme, Replace) else MixTables
    return kind(scheme, h2, prune, slack_b, dim)


def _basis(target: GaussianMixture, points: np.ndarray, h2: float, count: int) -> np.ndarray:
    """Rows F_u = p0 * phi_(u h^2 / 2) at the points (d = 1: nodes; d = 2: rows (x, y)), u = 0..count-1 (the arithmetic
    of ``GaussianMixture.convolve(...).density``: over components, w times the product over axes of
    N(x_k; mu_k, s_k^2 + u h^2 / 2))."""
    points = points.reshape(points.shape[0], -1)
    out = np.zeros((count, points.shape[0]))
    u = np.arange(count)[:, None]
    for w, mu, scale0 in zip(target.weights, target.means, target.scales):
        log_density = 0.0
        for k in range(points.shape[1]):
            scale = np.sqrt(scale0[k] * scale0[k] + u * (h2 / 2.0))
            z = (points[None, :, k] - mu[k]) / scale
            log_density = log_density - 0.5 * z * z - np.log(scale * SQRT2PI)
        out += w * np.exp(log_density)
    return out


#: entries of the basis F on the grid (its rows times the nodes; 8 bytes each, a few copies at once); more is refused
MAX_BASIS_ENTRIES = 5 * 10 ** 7


def basis_entries(target: GaussianMixture, h: float, cover: int) -> int:
    """The entries of the basis F_u, u = 0..cover, on the grid that covers F_cover (before any is computed)."""
    return (cover + 1) * math.prod(axis.size for axis in _quadrature(target, cover * float(h) ** 2 / 2.0).axes)


class _Grid:
    """The quadrature nodes of a chunk and the basis F_u, u = 0..cover, on them, compressed: the rows of F are
    Gaussians of nearby widths, so ``F ~ C V`` with V the leading right singular vectors of a sample of its rows
    (rows represented worst are added until all are within ~1e-13 of their largest value) and ``C = F V^T``; a
    product ``W F`` is computed as ``(W C) V``.  ``eps[u, b] = 2 max_(x in block b) |F_u(x) - (C V)_u(x)|`` plus a
    rounding allowance is measured on every row and every node, so at every node x of block b
    ``|W F - (W C) V| <= |W| eps[:, b]`` whatever the sample (the sample only decides how small eps is)."""

    def __init__(self, target: GaussianMixture, h2: float, cover: int, extra_variance: float | None = None):
        self.cover = cover
        quad = _quadrature(target, cover * h2 / 2.0 if extra_variance is None else extra_variance)
        self.x = quad.points
        if (cover + 1) * self.x.shape[0] > MAX_BASIS_ENTRIES:
            raise BoundcalcError(f"generations: the kernel-table carry of the KDE loop bound would need a basis of "
                                 f"{(cover + 1) * self.x.shape[0]:.3g} entries, above the limit {MAX_BASIS_ENTRIES:.0e} "
                                 "(a size guard: its widest kernel against the target's smallest scale); lower "
                                 "--generations or --bandwidth")
        self.p0 = target.density(self.x)
        weights = [_simpson_weights(axis) for axis in quad.axes]  # integral = values @ weights (tensor rule in d = 2)
        self.simpson = weights[0] if len(weights) == 1 else np.outer(weights[0], weights[1]).ravel()
        basis = _basis(target, self.x, h2, cover + 1)
        top = np.max(np.abs(basis), axis=1)
        # rows evenly spaced in log variance (a Gaussian's shape changes with the log of its width), and the first 8
        s2 = float(np.min(target.scales)) ** 2
        spread = np.geomspace(s2, s2 + cover * h2 / 2.0, SAMPLED_ROWS)
        sample = np.union1d(np.arange(min(8, cover + 1)), np.clip(np.round((spread - s2) / (h2 / 2.0)), 0, cover)
                            .astype(int))
        for _ in range(8):  # add the rows worst represented until every row is within ~1e-13 of its largest value
            _, s, vt = np.linalg.svd(basis[sample], full_matrices=False)
            self.vectors = vt[:max(1, int(np.sum(s > RANK_TOLERANCE * s[0])))]
            self.coef = basis @ self.vectors.T
            residual = np.abs(basis - self.coef @ self.vectors)
            error = np.max(residual, axis=1)
            worst = np.argsort(error / top)[::-1][:SAMPLED_ROWS // 3]
            if error[worst[0]] <= 1e-13 * top[worst[0]] or sample.size >= basis.shape[0]:
                break
            sample = np.union1d(sample, worst)
        # the allowance per row and per block of nodes (local: small where the basis is small, in the tails), doubled
        # for the rounding of the two products, plus a few ulps of the block's largest value
        self.blocks = np.array_split(np.arange(self.x.shape[0]), min(NODE_BLOCKS, self.x.shape[0]))
        self.eps = np.stack([2.0 * np.max(residual[:, b], axis=1) + 4 * np.finfo(float).eps
                             * np.max(np.abs(basis[:, b]), axis=1) for b in self.blocks], axis=1)
        self.block_of = np.concatenate([np.full(b.size, j) for j, b in enumerate(self.blocks)])
        self.block_volume = np.array([float(np.sum(self.simpson[b])) for b in self.blocks])

    def densities(self, weights: np.ndarray):
        """(``W F`` on the nodes, compressed; the bound ``|W| eps`` on its error at every node: rows x nodes)."""
        return (weights @ self.coef) @ self.vectors, (np.abs(weights) @ self.eps)[:, self.block_of]

    def integral_of_allowance(self, weights: np.ndarray) -> np.ndarray:
        """The integral over the grid of the allowance ``|W| eps`` (one per row)."""
        return (np.abs(weights) @ self.eps) @ self.block_volume


def table_bounds(scheme, target: GaussianMixture, h: float, generations: int, delta: float, chunk: int = CHUNK,
                 prune: float = PRUNE_WEIGHT, extra_variance: float | None = None, fixed_point: bool = True,
                 union: int | None = None):
    """(ExpectedBound, LoopProbabilityBound) of an accumulate, replace, mix or schedule loop, d = 1 or 2, in O(K).

    ``extra_variance`` fixes the quadrature grid (the tests pass the direct path's); by default each chunk of
    generations takes the grid that covers its widest density.  ``fixed_point=False`` computes every generation of
    a mix loop (the tests compare).  ``union`` is the K of ln(K/delta) when these are the first generations of a
    longer loop (default: generations).  The matrix products run on one BLAS thread (many small products, between which
    waiting BLAS threads would take the cores from the rest)."""
    if not applies(scheme, target):
        raise BoundcalcError("the O(K) KDE loop bound by kernel tables applies to accumulate, replace, mix and schedule "
                             "loops with p0 a Gaussian mixture in d = 1 or 2")
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return _table_bounds(scheme, target, h, generations, delta, chunk, prune, extra_variance, fixed_point,
                             generations if union is None else union)


def _table_bounds(scheme, target, h, generations, delta, chunk, prune, extra_variance, fixed_point, union):
    K, h, h2, dim = int(generations), float(h), float(h) * float(h), target.dim
    KE1, KE2, KE3, KE5, K1 = (get_lemma(k) for k in ("KE1", "KE2", "KE3", "KE5", "K1"))
    lap = float(target.laplacian_l1())
    bias = float(K1.evaluate(h=h, Lambda=lap)) / 2
    margin = 1.0 + QUADRATURE_MARGIN[dim]
    second = target.means ** 2 + target.scales ** 2   # (components, axes)
    slack_b = loop_moment_bound(target, h, K)  # PrunedMixture's B
    tables = tables_for(scheme, h2, prune, slack_b, dim)
    steady = fixed_point and isinstance(scheme, Mix)   # plans 3, 4, ... are the same plan

    t_r, i_v, q, ghosts, dropped, n_totals = (np.zeros(K) for _ in range(6))
    compositions = np.zeros((K, 2))
    once, adds = np.zeros(K + 2), np.zeros(K + 2)    # KE1 terms n e1(n) J: at generation g only / from g on
    e1: dict = {}
    grid = None

    def flush(steps, first):
        nonlocal grid
        need = max(max(2 * s.law.size, s.omega.size, *(m.size for m in s.means), *(2 * g.table.size + 1
                                                                                  for g in s.groups))
                   for s in steps)
        if grid is None or need > grid.cover:
            grid = _Grid(target, h2, max(need, int(1.25 * grid.cover) if grid else need), extra_variance)
        size, weights_s = grid.cover + 1, grid.simpson
        laws, omegas = np.zeros((len(steps), size)), np.zeros((len(steps), size))
        means = [np.zeros((len(steps), size)), np.zeros((len(steps), size))]
        for r, s in enumerate(steps):
            laws[r, 0:2 * s.law.size:2] = s.law
            omegas[r, :s.omega.size] = s.omega
            for c in (0, 1):
                means[c][r, :s.means[c].size] = s.means[c]
        # every density is within `err` of the exact sum at each node (the compressed basis); each integral takes
        # it in the direction that keeps it an upper bound
        dens, err = grid.densities(laws)
        if dim == 1:  # a proven bound on TV(r_i, p0) (bounds/kde_tv.py) from the grid values, within err of r_i
            nk = max(s.law.size for s in steps)
            table = np.zeros((len(steps), nk))
            for r, s in enumerate(steps):
                table[r, :s.law.size] = s.law
            scales = np.sqrt(target.scales[:, 0][None, :] ** 2 + np.arange(nk)[:, None] * h2).ravel()
            p0_weights = np.zeros(scales.size)
            p0_weights[:target.n_components] = target.weights
            components = MixtureTable(np.tile(target.means[:, 0], nk), scales,
                                      (table[:, :, None] * target.weights[None, None, :]).reshape(len(steps), -1),
                                      p0_weights)
            t_r[first:first + len(steps)] = tv_upper_bound(grid.x, dens, grid.p0, components,
                                                           node_error=err.max(axis=1))
        else:  # d = 2: Simpson's rule with its measured margin (derivations/tv-bound.md)
            t_r[first:first + len(steps)] = 0.5 * (np.abs(dens - grid.p0) @ weights_s
                                                   + grid.integral_of_allowance(laws)) * margin
        v, err = grid.densities(omegas)
        v += err
        for c in (0, 1):  # the subtracted squares, bounded below by Cauchy-Schwarz within each class of blocks
            q_c = np.array([s.q_parts[c] for s in steps])
            a_c, err = grid.densities(means[c])
            a_c -= err
            np.maximum(a_c, 0.0, out=a_c)
            a_c *= a_c
            a_c *= np.divide(1.0, q_c, out=np.zeros_like(q_c), where=q_c > 0)[:, None]
            v -= a_c
        np.maximum(v, 0.0, out=v)
        i_v[first:first + len(steps)] = np.sqrt(v, out=v) @ weights_s * margin
        groups = [g for s in steps for g in s.groups]
        if groups:
            half = np.zeros((len(groups), size))
            for r, g in enumerate(groups):
                half[r, 1:2 * g.table.size:2] = g.table
            values, err = grid.densities(half)
            values += err
            np.maximum(values, 0.0, out=values)
            values = np.sqrt(values, out=values) @ weights_s * margin
            for g, j in zip(groups, values):  # KE1 is linear in J: its value at J = 1 times J
                if g.n not in e1:
                    e1[g.n] = float(KE1.evaluate(N=g.n, h=h, d=dim, J=1.0))
                (adds if g.persistent else once)[g.first] += g.n * e1[g.n] * (j + g.slack)

    pending, first, last_state, done, settled = [], 0, None, K, False
    for i in range(1, K + 1):
        step = tables.step()
        pending.append(step)
        t = i - 1
        q[t], ghosts[t], dropped[t], n_totals[t] = step.q, step.ghost, step.dropped, step.n_total
        compositions[t] = step.composition
        if steady and not settled and i >= 3:
            state = tables.state()
            settled = state == last_state  # step i read what step i - 1 read: every later step repeats it
            last_state = state
        if len(pending) == chunk or i == K:
            flush(pending, first)
            first += len(pending)
            pending = []
            if settled and i < K:  # the chunk is finished as it would be without the fixed point (the same grid)
                done = i
                break
    if done < K:  # the remaining rows are copies of row `done` (its KE1 terms counted at every later generation)
        for column in (t_r, i_v, q, ghosts, dropped, n_totals):
            column[done:] = column[done - 1]
        compositions[done:] = compositions[done - 1]
        once[done + 1:K + 1] = once[done]
    t_r += dropped
    gens = np.arange(1, K + 1)
    # the dropped kernel mass: int sqrt(f) <= sqrt(pi^d int prod_k (1 + x_k^2) f), F_u's weighted moment at most
    # max_c prod_k (1 + mu^2 + s^2 + u h^2 / 2) with u <= 3i
    moments = np.max(np.prod(1 + second[None, :, :] + 1.5 * gens[:, None, None] * h2, axis=2), axis=1)
    i_v += np.sqrt(math.pi ** dim * (4.0 * math.pi * h2) ** (-dim / 2.0) * ghosts * moments)
    lin, stoch_list = [], []
    persistent, total = 0.0, 0.0
    for i in range(1, K + 1):
        persistent += adds[i]
        stoch = 0.5 * (persistent + once[i]) / n_totals[i - 1]
        a_sum, a_last = compositions[i - 1]
        prev = a_sum * total + (a_last * lin[-1] if lin else 0.0)
        value = float(KE2.evaluate_numpy(h=h, Lambda=lap, S_stoch=stoch, A_w=prev))
        lin.append(value)
        stoch_list.append(stoch)
        total += value
    variance = KE3.evaluate_numpy(T_r=np.minimum(t_r, 1.0), I_V=i_v)
    bound = KE5.evaluate_numpy(T_r=np.minimum(t_r, 1.0), I_V=i_v, Q_mass=q, K=float(union), delta=float(delta))
    expected = ExpectedBound([h] * K, lin, variance.tolist(), t_r.tolist(), (i_v / 2).tolist(), [bias] * K,
                             stoch_list)
    loop = LoopProbabilityBound(float(delta), bound.tolist(), variance.tolist(), (bound - variance).tolist(),
                                q.tolist())
    return expected, loop
