"""The Gaussian-KDE loop bound (KE2, KE3, KE5) of an ``accumulate`` loop in O(K), d = 1 [derived].

The quantities of :func:`boundcalc.bounds.kde_expected.expected_bound` and
:func:`~boundcalc.bounds.kde_expected.loop_probability_bound` (``T_r(i) = TV(r_i, p0)``, the KE3 integral
``int sqrt(V_i)``, ``Q_i``, the KE2 composition), carried from generation to generation
(``derivations/cost-in-K.md``, section 10).  With a fixed bandwidth h every function involved is a
combination of the Gaussians ``F_u = p0 * phi_(u h^2 / 2)``, u = 0, 1, 2, ...:

* **laws** (lemma K4): ``r_i = sum_k pi_i(k) F_(2k)`` with ``pi_i = shift((n_real/N_i) e_0 + (n_synth/N_i)
  sum_(j<i) pi_j)``, one running sum;
* **kernels**: accumulate keeps every block, and a block's kernel mass is frozen after its first generation
  (synthetic block of p_j: ``n_synth / N_(j+1)``; reused real block: 1; fresh real block of generation l:
  ``n_real n_synth / (N_l N_(l+1))``), so ``kappa_beta = m_beta / N_beta`` is a constant and the table
  ``M_i(t, k) = sum_beta kappa_beta c_(i,beta)(t) pi_(s_beta)(k)`` (c(t) the weight of ``phi_((1+t) h^2)`` in the
  block's kernel) obeys ``M_i(0, .) = (own draws of plan i)``, ``M_i(t, .) = (n_synth/N_i) P_(i-1)(t-1, .)``,
  ``P_i = P_(i-1) + M_i``: one table per generation for all blocks;
* **V_i**: each block's term ``N^-1 [r_s * G^2 - (r_s * G)^2]`` is at most ``(m/N) sum_t c(t) r_s * phi_t^2`` by
  Cauchy-Schwarz (the direct path's bound past 8 kernel terms) without the subtracted square, and
  ``phi_t^2 = (4 pi (1+t) h^2)^(-1/2) phi_((1+t) h^2 / 2)`` (lemma KE4), so
  ``V_i <= sum_(t,k) M_i(t,k) (4 pi (1+t) h^2)^(-1/2) F_(2k+1+t) - (the real blocks' squares)``, with the real
  blocks' squares bounded below by ``r_i^2 / (number of real blocks * n_real)`` (their means add up to r_i,
  Cauchy-Schwarz); the fresh real block of generation i enters with its own mass, not the frozen one;
* **Q_i, KE2**: running sums of the frozen masses and of the K2 integrals of the laws.

Entries of the tables under ``PRUNE_WEIGHT`` (relative) are dropped, and their mass is carried: a dropped
law mass is added to T_r and to the K2 integral (as :class:`~boundcalc.model.targets.PrunedMixture` bounds
it), the dropped kernel mass enters ``int sqrt(V_i)`` through ``sqrt(pi g_0 m (1 + M_2 + 3 i h^2 / 2))``
(Cauchy-Schwarz with the weight 1 / (1 + x^2)).  The densities of a chunk of generations are one matrix
product of their weight rows with the basis ``F_u`` on the quadrature grid of that chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc.bounds.kde_expected import (QUADRATURE_MARGIN, ExpectedBound, LoopProbabilityBound, _quadrature, _simpson,
                                          _simpson_weights)
from boundcalc.model.kde_law import PRUNE_WEIGHT
from boundcalc.model.schemes import Accumulate
from boundcalc.model.targets import SQRT2PI, GaussianMixture
from boundcalc.theory.catalogue import get_lemma

__all__ = ["applies", "accumulate_bounds", "AccumulateTables"]

#: generations whose densities are computed in one matrix product
CHUNK = 256


def applies(scheme, target) -> bool:
    """True for an ``accumulate`` loop (fresh or reused real data) with p0 a Gaussian mixture in d = 1."""
    return isinstance(scheme, Accumulate) and isinstance(target, GaussianMixture) and target.dim == 1


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


class _KernelTable:
    """``M_i(t, k) = sum_beta kappa_beta c_(i,beta)(t) pi_(s_beta)(k)``, for the real blocks (column 0: their source is
    p0, k = 0) and the synthetic blocks (column 1 + k) side by side, with ``P_i = sum_(s <= i) M_s``:
    ``M_i(0, .)`` the own draws of plan i, ``M_i(t, .) = alpha_i P_(i-1)(t - 1, .)``.  Entries of P under ``prune``
    times its largest are dropped; ``ghost`` is the kappa-weighted mass missing from M_i (dropped from P before,
    or from the laws in the own draws)."""

    def __init__(self, prune: float):
        self.prune = prune
        self._p = _Grown((8, 8))
        self.nt, self.nc = 0, 0
        self._ghost = 0.0
        self._index: dict = {}

    def step(self, alpha: float, own: np.ndarray, own_ghost: float) -> np.ndarray:
        nc = max(self.nc, own.size)
        m = np.zeros((self.nt + 1, nc))
        m[0, :own.size] = own
        if self.nt:
            np.multiply(self._p.data[:self.nt, :self.nc], alpha, out=m[1:, :self.nc])
        self.ghost = alpha * self._ghost + own_ghost
        p = self._p.fit(m.shape)
        block = p[:m.shape[0], :m.shape[1]]
        block += m
        self._ghost += self.ghost
        self.nt, self.nc = m.shape
        small = block < self.prune * float(block.max())
        self._ghost += float(block[small].sum())
        block[small] = 0.0
        rows = np.nonzero(block.any(axis=1))[0]
        self.nt = int(rows[-1]) + 1 if rows.size else 0
        return m

    def index(self, shape):
        """For a table of this shape: u = 2k + 1 + t of every entry (the variance part), and u = 2k + 2 + 2t of
        every entry with the synthetic ones moved by ``shift`` (the means of the two classes in one count)."""
        entry = self._index.get(shape)
        if entry is None:
            t = np.arange(shape[0])[:, None]
            k = np.maximum(np.arange(shape[1]) - 1, 0)[None, :]
            shift = 2 * (shape[0] + shape[1]) + 4
            synthetic = (np.arange(shape[1]) >= 1)[None, :]
            entry = self._index[shape] = ((2 * k + 1 + t).ravel(), (2 * k + 2 + 2 * t + shift * synthetic).ravel(),
                                          shift)
        return entry


class AccumulateTables:
    """The recursions of the module docstring, one generation per :meth:`step` (no grid involved).

    After step i: ``law`` is pi_i (over k = 0..), ``dropped`` the law mass pruned from r_i, ``omega`` the weights
    over u of the Cauchy-Schwarz part of V_i, ``means`` the weights over u of ``A_c = sum_(beta in c) lambda_beta
    r_s * G_(i,beta)`` for the real and the synthetic blocks (lambda_beta = m_(i,beta) / N_beta) with ``q_parts``
    their ``sum m^2 / N``, ``ghost`` the kernel mass dropped from M_i, ``q`` = Q_i (exact), ``kernels`` the table
    M_i (column 0 the real blocks, column 1 + k the synthetic blocks whose source has component k; kappa-weighted,
    before pruning)."""

    def __init__(self, scheme: Accumulate, h2: float, prune: float = PRUNE_WEIGHT):
        self.n_real, self.n_synth = float(scheme.n_real), float(scheme.n_synth)
        self.reused = scheme.real_data == "reused"
        self.h2, self.prune = h2, prune
        self.i = 0
        self._sum = _Grown((8,))       # S = sum_(j<i) pi_j (over k)
        self._sum_dropped = 0.0
        self._kappa_sum = _Grown((8,))  # Y = sum_(j<i) pi_j / N_(j+1)
        self._kappa_dropped = 0.0
        self._table = _KernelTable(prune)
        self._q_real = 0.0             # fresh real data: sum over earlier real blocks of m^2 / n_real
        self._q_synth = 0.0            # sum_(j=2..i) n_synth / N_j^2
        self.law, self.dropped = np.zeros(1), 0.0
        self._g = np.zeros(0)
        self._used = 1                 # the length of S and Y in use (the longest law so far)

    def n_total(self, i: int) -> float:
        return self.n_real + (i - 1) * self.n_synth

    def step(self):
        self.i += 1
        i, n_r, n_s = self.i, self.n_real, self.n_synth
        n_i, n_next = self.n_total(i), self.n_total(i + 1)
        alpha = n_s / n_i if i > 1 else 0.0   # the weight of each earlier output in plan i
        # lemma K4: r_i = ((n_real/N_i) p0 + alpha sum_(j<i) r_j) * phi_h, i.e. the k table shifted by one
        law = np.zeros(self._used + 1)
        np.multiply(self._sum.data[:self._used], alpha, out=law[1:])
        law[1] += n_r / n_i
        small = law < self.prune
        dropped = alpha * self._sum_dropped + float(law[small].sum())
        law[small] = 0.0
        law = law[:int(np.nonzero(law)[0][-1]) + 1]
        # the kernel table: own draws (t = 0), propagation through the synthetic sources (t >= 1)
        # real (column 0): reused kappa = 1/n_real, fresh (the block of generation i) kappa = n_synth / (N_i N_(i+1));
        # weight n_real / N_i, source p0.  Synthetic (column 1 + k): the block of p_j (j < i) has kappa 1/N_(j+1),
        # weight n_synth / N_i, source r_j
        kappa_real = 1.0 / n_r if self.reused else n_s / (n_i * n_next)
        own = np.zeros(self._used + 1)
        own[0] = kappa_real * n_r / n_i
        np.multiply(self._kappa_sum.data[:self._used], alpha, out=own[1:])
        m = self._table.step(alpha, own, alpha * self._kappa_dropped)
        self.kernels = m
        self.ghost = self._table.ghost
        # with the masses of generation i: the fresh real block of generation i has n_real / N_i, not its frozen one
        if not self.reused:
            m = m.copy()
            m[0, 0] = (n_r / n_i) * (n_r / n_i) / n_r
        if self._g.size < m.shape[0]:  # g(t) = (4 pi (1+t) h^2)^(-1/2): phi_t^2 = g(t) phi_((1+t) h^2 / 2) (KE4)
            self._g = (4.0 * math.pi * (1.0 + np.arange(2 * m.shape[0])) * self.h2) ** -0.5
        u_var, u_mean, shift = self._table.index(m.shape)
        self.omega = np.bincount(u_var, weights=(m * self._g[:m.shape[0], None]).ravel())
        # the means r_s * G of the blocks (variance k h^2 + (1 + t) h^2: u = 2k + 2t + 2), real and synthetic apart
        means = np.bincount(u_mean, weights=m.ravel(), minlength=2 * shift)
        self.means = tuple(part[:np.flatnonzero(part)[-1] + 1] if part.any() else part[:0]
                           for part in (means[:shift], means[shift:]))
        # Q_i = sum_beta m_beta^2 / N_beta (exact), by class
        if i >= 2:
            self._q_synth += n_s / (n_i * n_i)
        if self.reused:
            q_real = 1.0 / n_r
        else:
            q_real = self._q_real + n_r / (n_i * n_i)
            frozen = n_r * n_s / (n_i * n_next)
            self._q_real += frozen * frozen / n_r
        self.q_parts = (q_real, self._q_synth)
        self.q = q_real + self._q_synth
        # the running sums for generation i + 1 (the synthetic block of p_i enters plan i + 1 with kappa 1/N_(i+1))
        s = self._sum.fit((law.size,))
        s[:law.size] += law
        self._sum_dropped += dropped
        y = self._kappa_sum.fit((law.size,))
        y[:law.size] += law / n_next
        self._kappa_dropped += dropped / n_next
        self._used = max(self._used, law.size)
        self.law, self.dropped = law, dropped


@dataclass
class _Row:
    """What generation i needs from the grid: weight rows over u (of F_u) and the numbers beside them."""
    law: np.ndarray      # pi_i over k: r_i = sum_k pi_i(k) F_(2k)
    variance: np.ndarray  # omega_i over u: the Cauchy-Schwarz part of V_i
    means: tuple         # the weights over u of A_real and A_synth
    q_parts: tuple       # V_i -= A_real^2 / q_real + A_synth^2 / q_synth (a lower bound of the squares)
    k2: list             # laws (k tables) whose K2 integral J = int sqrt(sum_k pi(k) F_(2k+1)) is needed


def _basis(target: GaussianMixture, x: np.ndarray, h2: float, count: int) -> np.ndarray:
    """Rows F_u(x) = p0 * phi_(u h^2 / 2) at the nodes x, u = 0..count-1 (the arithmetic of
    ``GaussianMixture.convolve(...).density``: a sum over components of w N(x; mu, s^2 + u h^2 / 2))."""
    out = np.zeros((count, x.size))
    u = np.arange(count)[:, None]
    for w, mu, s in zip(target.weights, target.means[:, 0], target.scales[:, 0]):
        scale = np.sqrt(s * s + u * (h2 / 2.0))
        z = (x[None, :] - mu) / scale
        out += w * np.exp(-0.5 * z * z - np.log(scale * SQRT2PI))
    return out


#: singular values of the basis under this fraction of the largest are dropped (their effect is bounded)
RANK_TOLERANCE = 1e-15


class _Grid:
    """The quadrature nodes of a chunk and the basis F_u, u = 0..cover, on them, compressed: the rows of F are
    combinations of a few functions (Gaussians of nearby widths), so ``F ~ C V`` with V the leading right singular
    vectors; a product ``W F`` is computed as ``(W C) V``.  ``eps[u] = max_x |F_u(x) - (C V)_u(x)|`` (measured on
    the nodes, doubled for the rounding of the two products), so at every node ``|W F - (W C) V| <= |W| eps``."""

    def __init__(self, target: GaussianMixture, h2: float, cover: int, extra_variance: float | None = None):
        self.cover = cover
        self.x = _quadrature(target, cover * h2 / 2.0 if extra_variance is None else extra_variance).axes[0]
        self.p0 = target.density(self.x)
        self.simpson = _simpson_weights(self.x)  # integral = values @ weights
        basis = _basis(target, self.x, h2, cover + 1)
        u, s, vt = np.linalg.svd(basis, full_matrices=False)
        rank = max(1, int(np.sum(s > RANK_TOLERANCE * s[0])))
        self.coef, self.vectors = u[:, :rank] * s[:rank], vt[:rank]
        self.eps = 2.0 * np.max(np.abs(basis - self.coef @ self.vectors), axis=1) + 4 * np.finfo(float).eps * np.max(
            np.abs(basis), axis=1)

    def densities(self, weights: np.ndarray):
        """(``W F`` on the nodes, compressed; the bound ``|W| eps`` on its error at every node, one per row)."""
        return (weights @ self.coef) @ self.vectors, np.abs(weights) @ self.eps


def accumulate_bounds(scheme: Accumulate, target: GaussianMixture, h: float, generations: int, delta: float,
                      chunk: int = CHUNK, prune: float = PRUNE_WEIGHT, extra_variance: float | None = None):
    """(ExpectedBound, LoopProbabilityBound) of an ``accumulate`` loop (fresh or reused real data), d = 1, in O(K).

    ``extra_variance`` fixes the quadrature grid (the tests pass the direct path's); by default each chunk of
    generations takes the grid that covers its widest density.  The matrix products run on one BLAS thread
    (many small products, between which waiting BLAS threads would take the cores from the rest)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return _accumulate_bounds(scheme, target, h, generations, delta, chunk, prune, extra_variance)


def _accumulate_bounds(scheme, target, h, generations, delta, chunk, prune, extra_variance):
    if not applies(scheme, target):
        raise BoundcalcError("the O(K) KDE loop bound of accumulate applies to p0 a Gaussian mixture in d = 1")
    K, h, h2 = int(generations), float(h), float(h) * float(h)
    KE1, KE2, KE3, KE5, K1 = (get_lemma(k) for k in ("KE1", "KE2", "KE3", "KE5", "K1"))
    lap = float(target.laplacian_l1())
    bias = float(K1.evaluate(h=h, Lambda=lap)) / 2
    margin = 1.0 + QUADRATURE_MARGIN[1]
    moment = 1.0 + float(np.max(target.means[:, 0] ** 2 + target.scales[:, 0] ** 2))
    # PrunedMixture's slack of the K2 integral for a dropped law mass (the same B)
    slack_b = float(np.max(1 + target.means[:, 0] ** 2 + target.scales[:, 0] ** 2 + (K + 1) * h2))
    tables = AccumulateTables(scheme, h2, prune)
    n_r, n_s = tables.n_real, tables.n_synth

    t_r = np.zeros(K)
    i_v = np.zeros(K)
    q = np.zeros(K)
    j_law = np.zeros(K + 1)     # J of r_j (index j), with its slack
    j_group = np.zeros(K + 1)   # J of the group drawn at generation i (fresh: real + synthetic of p_(i-1))
    grid = None                 # the _Grid of the chunks so far (rebuilt wider when a chunk needs it)

    def flush(rows, first):
        nonlocal grid
        need = max(max(2 * r.law.size, r.variance.size, *(m.size for m in r.means), *(2 * t.size + 1 for t in r.k2))
                   for r in rows)
        if grid is None or need > grid.cover:
            grid = _Grid(target, h2, max(need, int(1.25 * grid.cover) if grid else need), extra_variance)
        x, p0, width = grid.x, grid.p0, grid.x[-1] - grid.x[0]
        size = grid.cover + 1
        laws = np.zeros((len(rows), size))
        weights = np.zeros_like(laws)
        means = [np.zeros_like(laws), np.zeros_like(laws)]
        k2_rows, k2_where = [], []
        for r, row in enumerate(rows):
            laws[r, 0:2 * row.law.size:2] = row.law
            weights[r, :row.variance.size] = row.variance
            for c in (0, 1):
                means[c][r, :row.means[c].size] = row.means[c]
            for n, table in enumerate(row.k2):
                k2_rows.append(table)
                k2_where.append((r, n))
        # every density below is within `err` of the exact sum at each node (the basis' compression); the
        # integrals take it in the direction that keeps them upper bounds (a constant integrates to err * width)
        weights_s = grid.simpson
        dens, err = grid.densities(laws)
        t_r[first:first + len(rows)] = 0.5 * (np.abs(dens - p0) @ weights_s + err * width) * margin
        v, err = grid.densities(weights)
        v += err[:, None]
        for c in (0, 1):  # the subtracted squares, bounded below by Cauchy-Schwarz within each class of blocks
            q_c = np.array([row.q_parts[c] for row in rows])
            a_c, err = grid.densities(means[c])
            a_c -= err[:, None]
            np.maximum(a_c, 0.0, out=a_c)
            a_c *= a_c
            a_c *= np.divide(1.0, q_c, out=np.zeros_like(q_c), where=q_c > 0)[:, None]
            v -= a_c
        np.maximum(v, 0.0, out=v)
        i_v[first:first + len(rows)] = np.sqrt(v, out=v) @ weights_s * margin
        if k2_rows:
            half = np.zeros((len(k2_rows), size))
            for r, table in enumerate(k2_rows):
                half[r, 1:2 * table.size:2] = table
            values, err = grid.densities(half)
            values += err[:, None]
            np.maximum(values, 0.0, out=values)
            values = np.sqrt(values, out=values) @ weights_s * margin
            for (r, n), value in zip(k2_where, values):
                generation = first + r + 1
                if n == 0:
                    j_law[generation - 1] += value   # J(r_(i-1))
                else:
                    j_group[generation] += value     # J of the group drawn at generation i

    rows, first, ghosts, dropped = [], 0, np.zeros(K), np.zeros(K)
    for i in range(1, K + 1):
        previous_law, previous_dropped = tables.law, tables.dropped
        tables.step()
        k2 = []
        if i >= 2:
            k2.append(previous_law)  # J(r_(i-1)): the synthetic block of p_(i-1), drawn at generation i
            j_law[i - 1] = math.sqrt(math.pi * previous_dropped * slack_b) if previous_dropped > 0 else 0.0
            if not tables.reused:  # the group drawn at generation i: n_real of p0 and n_synth of r_(i-1)
                mix = n_s / (n_r + n_s) * previous_law
                mix[0] += n_r / (n_r + n_s)
                k2.append(mix)
                j_group[i] = (math.sqrt(n_s / (n_r + n_s)) * math.sqrt(math.pi * previous_dropped * slack_b)
                              if previous_dropped > 0 else 0.0)
        rows.append(_Row(tables.law, tables.omega, tables.means, tables.q_parts, k2))
        q[i - 1] = tables.q
        ghosts[i - 1] = tables.ghost
        dropped[i - 1] = tables.dropped
        if len(rows) == chunk or i == K:
            flush(rows, first)
            first += len(rows)
            rows = []

    t_r += dropped
    gens = np.arange(1, K + 1)
    g0 = (4.0 * math.pi * h2) ** -0.5
    i_v += np.sqrt(math.pi * g0 * ghosts * (moment + 1.5 * gens * h2))
    # KE2: one KE1 term per group of blocks drawn together (KE1 is linear in J: its value at J = 1 times J)
    j_p0 = _simpson(np.sqrt(_basis(target, grid.x, h2, 2)[1]), grid.x) * margin
    e1 = {n: float(KE1.evaluate(N=n, h=h, d=1, J=1.0)) for n in {n_r, n_s, n_r + n_s}}
    lin, stoch_list = [], []
    singles = 0.0   # sum of n_synth e1(n_synth) J(r_j) over the synthetic groups drawn before generation i
    total = 0.0     # sum of the earlier KE2 values (every earlier output has weight n_synth / N_i)
    for i in range(1, K + 1):
        n_i = n_r + (i - 1) * n_s
        if i == 1:
            stoch = 0.5 * e1[n_r] * j_p0
        elif tables.reused:
            singles += n_s * e1[n_s] * j_law[i - 1]
            stoch = 0.5 * (n_r * e1[n_r] * j_p0 + singles) / n_i
        else:
            stoch = 0.5 * (singles + (n_r + n_s) * e1[n_r + n_s] * j_group[i]) / n_i
            singles += n_s * e1[n_s] * j_law[i - 1]   # the synthetic group of p_(i-1) stands alone from i + 1
        prev = n_s / n_i * total if i > 1 else 0.0
        value = float(KE2.evaluate_numpy(h=h, Lambda=lap, S_stoch=stoch, A_w=prev))
        lin.append(value)
        stoch_list.append(stoch)
        total += value
    variance = KE3.evaluate_numpy(T_r=np.minimum(t_r, 1.0), I_V=i_v)
    bound = KE5.evaluate_numpy(T_r=np.minimum(t_r, 1.0), I_V=i_v, Q_mass=q, K=float(K), delta=float(delta))
    expected = ExpectedBound([h] * K, lin, variance.tolist(), t_r.tolist(), (i_v / 2).tolist(), [bias] * K,
                             stoch_list)
    loop = LoopProbabilityBound(float(delta), bound.tolist(), variance.tolist(), (bound - variance).tolist(),
                                q.tolist())
    return expected, loop
