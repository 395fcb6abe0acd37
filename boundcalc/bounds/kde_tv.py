"""A proven upper bound on ``TV(r, p0) = (1/2) int |r - p0|`` for 1-D Gaussian mixtures, many laws r at once [derived].

The term ``T_r(i) = TV(r_i, p0)`` of lemmas KE3 and KE5 (``derivations/KE3.md``, step 7; the proof is in
``derivations/tv-bound.md``).  ``f = r - p0 = sum_j W_j N(x; mu_j, s_j^2)`` is a signed Gaussian mixture and
``F = sum_j W_j Phi((x - mu_j) / s_j)`` its integral, so over any interval where f keeps one sign
``int |f| = |F(b) - F(a)|`` exactly.  Given f on a uniform grid (the values the callers compute anyway):

1. **Curvature.** On each cell ``|f''| <= M2``, from the grid values of the envelope ``E = r + p0`` alone
   (``|N''| = N |z^2 - 1| / s^2``, ``N z^2 t^2 / s^2 <= e^{t^2/2s^2} (N(x+t) + N(x-t)) - 2 N(x)``, and
   ``N (1 + z^2)`` varies by at most ``e^{5 dx^2 / 32 s^2}`` over a cell beyond its larger end value).
2. **Cells.** A cell whose two node values have one sign and exceed ``M2 dx^2 / 8`` has no root; a cell
   with a sign change and ``|f'| >= g = |secant| - M2 dx > 0`` has exactly one.  Every other cell is decided again
   with M2 from its components (tighter), then cut into :data:`SPLIT` sub-cells evaluated from the components, up to
   :data:`LEVELS` levels in all; a cell still undecided (or one whose crude bound is negligible, under
   :data:`NEGLIGIBLE` of its row's ``sum |f| dx``) gets ``int |f| <= int |linear interpolant| + M2 dx^3 / 12``.
3. **Pieces.** The roots (``x_hat``: the secant root, then one regula-falsi step unless its remainder is already
   under 1e-3 of the rounding of a CDF value) and the runs of undecided cells cut ``[x_lo, x_hi]`` into pieces on
   which f keeps one sign except within ``|f(x_hat)| / g`` of an end; there
   ``int |f| <= |F(b) - F(a)| + (sum over the piece's ends of) f(x_hat)^2 / g``.
4. **Tails.** Beyond each row's ends ``x_lo``, ``x_hi`` (where the rectangle sum of r + p0 beyond is negligible, or
   the second and last-but-one nodes) ``int |f| <= int (r + p0)``, two exact CDF tails.

Floating point: every node value carries ``(m + 8) eps E`` (m terms of relative error a few eps) plus
the caller's ``node_error``, and every CDF value ``(m + 4) eps (mass of r + mass of p0)``; both are added in
the direction of the bound.  Cost beyond the caller's grid values: about twenty vectorised passes over the
(rows, nodes) array, one CDF of the mixture (m normal CDFs) per root and per row end, and component
evaluations on the few undecided cells (near the roots).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc.model.targets import SQRT2PI, GaussianMixture

__all__ = ["MixtureTable", "mixture_table", "tv_upper_bound", "SPLIT", "LEVELS"]

_EPS = float(np.finfo(float).eps)
#: an undecided grid cell is decided again with M2 from its components (level 1), then cut into SPLIT sub-cells,
#: at most LEVELS - 1 times (SPLIT^(LEVELS - 1) finer than the grid)
SPLIT, LEVELS = 8, 7
#: undecided cells refined in one level, at most (more are bounded by the crude rule at once)
MAX_CELLS = 2 ** 17
#: an undecided grid cell whose crude bound is below this fraction of its row's sum |f| dx is not refined
NEGLIGIBLE = 1e-13
#: component evaluations held in memory at once (cells x points x components)
_BATCH = 2 ** 21


@dataclass(frozen=True)
class MixtureTable:
    """Gaussian components ``N(mu_j, s_j^2)`` shared by the laws: ``means`` and ``scales`` (m,), the laws'
    weights ``weights`` (rows, m) and p0's weights ``target`` (m,), all >= 0 (a law's row need not sum to 1:
    a pruned law passes its kept components)."""
    means: np.ndarray
    scales: np.ndarray
    weights: np.ndarray
    target: np.ndarray

    def __post_init__(self):
        means = np.asarray(self.means, dtype=float).ravel()
        scales = np.asarray(self.scales, dtype=float).ravel()
        weights = np.atleast_2d(np.asarray(self.weights, dtype=float))
        target = np.asarray(self.target, dtype=float).ravel()
        m = means.size
        if scales.size != m or weights.shape[1] != m or target.size != m:
            raise BoundcalcError(f"mixture table: {m} means, {scales.size} scales, {weights.shape[1]} weight columns and "
                                 f"{target.size} target weights; they must agree")
        if m == 0 or not np.all(scales > 0) or np.any(weights < 0) or np.any(target < 0):
            raise BoundcalcError("mixture table: scales must be > 0 and weights >= 0")
        for name, value in (("means", means), ("scales", scales), ("weights", weights), ("target", target)):
            object.__setattr__(self, name, value)

    @property
    def rows(self) -> int:
        return self.weights.shape[0]

    @cached_property
    def signed(self) -> np.ndarray:
        """W of f = r - p0, one row per law."""
        return self.weights - self.target[None, :]

    @cached_property
    def total(self) -> np.ndarray:
        """The weights of r + p0 (>= |W| component by component)."""
        return self.weights + self.target[None, :]


def mixture_table(laws, target: GaussianMixture) -> MixtureTable:
    """The table of 1-D mixtures ``laws`` (rows) against ``target``: the union of their components."""
    laws = list(laws)
    if target.dim != 1 or any(law.dim != 1 for law in laws):
        raise BoundcalcError("mixture table: the exact TV bound is computed in dimension 1")
    index: dict = {}
    cols = []
    for g in [target, *laws]:
        cols.append([index.setdefault(k, len(index)) for k in zip(g.means[:, 0].tolist(), g.scales[:, 0].tolist())])
    comps = np.array(list(index), dtype=float).reshape(-1, 2)
    weights = np.zeros((len(laws), len(index)))
    for r, (law, c) in enumerate(zip(laws, cols[1:])):
        np.add.at(weights[r], c, law.weights)
    p0 = np.zeros(len(index))
    np.add.at(p0, cols[0], target.weights)
    return MixtureTable(comps[:, 0], comps[:, 1], weights, p0)


#: normal CDFs of arrays this large are computed by scipy.special.ndtr (imported then); smaller ones by math.erfc,
#: element by element (the bound commands of a few laws import no scipy: its import costs 0.1-0.3 s)
SCIPY_SIZE = 2 ** 15
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _ndtr(z) -> np.ndarray:
    """Phi(z) = erfc(-z / sqrt 2) / 2, to a few ulps either way (the choice depends on the size only)."""
    z = np.asarray(z, dtype=float)
    if z.size >= SCIPY_SIZE:
        from scipy.special import ndtr
        return ndtr(z)
    return 0.5 * _ERFC(-z / math.sqrt(2.0)).astype(float)


def _components(table: MixtureTable, pts: np.ndarray, cols=slice(None)):
    """(N_j(pts), z_j(pts)) with a trailing component axis (the components ``cols``)."""
    z = (pts[..., None] - table.means[cols]) / table.scales[cols]
    return np.exp(-0.5 * z * z - np.log(table.scales[cols] * SQRT2PI)), z


def _weights(table: MixtureTable, row):
    """(cols, signed, total): the rows' W and Wr + Wp (one row per entry of ``row``), over all components."""
    return slice(None), table.signed[row], table.total[row]


def _used(table: MixtureTable) -> MixtureTable:
    """The table without the components of weight 0 in every row and in p0 (they add nothing to any sum)."""
    used = (table.weights > 0).any(axis=0) | (table.target > 0)
    if used.all():
        return table
    return MixtureTable(table.means[used], table.scales[used], table.weights[:, used], table.target[used])


class _Cells:
    """Cells gathered over the levels: one-root cells (for the root step) and undecided cells (crude bound)."""

    def __init__(self):
        self.roots = []   # (row, a, b, fa, fb, g)
        self.crude = []   # (row, a, b, bound)

    def classify(self, row, a, b, fa, fb, ea, eb, m2):
        """Decide the cells (arrays): returns the mask of the undecided ones; keeps the one-root cells."""
        dx = (b - a) * (1.0 + 4 * _EPS)
        sa = np.where(np.abs(fa) > ea, np.sign(fa), 0.0)
        sb = np.where(np.abs(fb) > eb, np.sign(fb), 0.0)
        no_root = (sa == sb) & (sa != 0) & (np.minimum(np.abs(fa) - ea, np.abs(fb) - eb) > m2 * dx * dx / 8)
        g = (np.abs(fb - fa) - ea - eb) / dx - m2 * dx
        one = (sa == -sb) & (sa != 0) & (g > 0)
        if one.any():
            self.roots.append((row[one], a[one], b[one], fa[one], fb[one], g[one]))
        return ~(no_root | one)

    @staticmethod
    def crude_bound(row, a, b, fa, fb, ea, eb, m2):
        """int_a^b |f| <= int |interpolant of the true node values| + M2 dx^3 / 12."""
        dx = (b - a) * (1.0 + 4 * _EPS)
        return dx * (np.abs(fa) + ea + np.abs(fb) + eb) / 2 + m2 * dx ** 3 / 12

    def bound_crude(self, row, a, b, fa, fb, ea, eb, m2):
        self.crude.append((row, a, b, self.crude_bound(row, a, b, fa, fb, ea, eb, m2)))

    def runs(self):
        """The crude cells merged into runs of adjacent cells (row, start, end, summed bound), sorted."""
        if not self.crude:
            return np.zeros(0, dtype=int), np.zeros(0), np.zeros(0), np.zeros(0)
        row, a, b, bound = (np.concatenate(v) for v in zip(*self.crude))
        order = np.lexsort((a, row))
        row, a, b, bound = row[order], a[order], b[order], bound[order]
        start = np.ones(row.size, dtype=bool)
        start[1:] = (row[1:] != row[:-1]) | (a[1:] != b[:-1])
        first = np.flatnonzero(start)
        last = np.append(first[1:], row.size) - 1
        return row[first], a[first], b[last], np.add.reduceat(bound, first)


def _refine(table: MixtureTable, cells: _Cells, args, level: int):
    """Cut the undecided cells ``args = (row, a, b, fa, fb, ea, eb, m2)`` into SPLIT sub-cells, evaluated from the
    components, and decide them; past the budget (level or cell count) the crude rule bounds them at once."""
    if level > LEVELS or args[0].size > MAX_CELLS:
        cells.bound_crude(*args)
        return
    row, a, b = args[:3]
    m = table.means.size
    split = 1 if level == 1 else SPLIT  # level 1: the cell itself, its M2 from the components
    t = np.linspace(0.0, 1.0, split + 1)
    step = max(1, _BATCH // ((split + 1) * m))
    undecided = []
    for lo in range(0, row.size, step):
        r_, a_, b_ = row[lo:lo + step], a[lo:lo + step], b[lo:lo + step]
        pts = a_[:, None] + (b_ - a_)[:, None] * t
        pts[:, 0], pts[:, -1] = a_, b_
        cols, signed, total = _weights(table, r_)
        dens, z = _components(table, pts, cols)             # (C, S + 1, components)
        f = np.einsum("csm,cm->cs", dens, signed)
        e = (m + 8) * _EPS * np.einsum("csm,cm->cs", dens, total)
        # per component on each sub-cell: |N''| <= e^(dx^2 / 8 s^2) max(N(a), N(b)) max |z^2 - 1| / s^2
        dx = pts[:, 1:] - pts[:, :-1]
        scales2 = table.scales[cols] ** 2
        grow = np.exp((dx * dx)[..., None] / (8 * scales2))
        za, zb = z[:, :-1], z[:, 1:]
        bend = np.maximum(np.abs(za * za - 1), np.abs(zb * zb - 1))
        bend = np.where((za < 0) & (zb > 0), np.maximum(bend, 1.0), bend)
        peak = np.maximum(dens[:, :-1], dens[:, 1:]) * grow * bend / scales2
        m2 = np.einsum("csm,cm->cs", peak, np.abs(signed)) * (1 + (m + 8) * _EPS)
        args = (np.repeat(r_, split), pts[:, :-1].ravel(), pts[:, 1:].ravel(), f[:, :-1].ravel(), f[:, 1:].ravel(),
                e[:, :-1].ravel(), e[:, 1:].ravel(), m2.ravel())
        left = cells.classify(*args)
        if left.any():
            undecided.append(tuple(v[left] for v in args))
    if not undecided:
        return
    _refine(table, cells, [np.concatenate(v) for v in zip(*undecided)], level + 1)


def _mixture_values(table: MixtureTable, row, pts):
    """(f, its error bound) at points pts (one per row index)."""
    m = table.means.size
    cols, signed, total = _weights(table, row)
    dens, _ = _components(table, pts, cols)
    f = np.einsum("pm,pm->p", dens, signed)
    e = (m + 8) * _EPS * np.einsum("pm,pm->p", dens, total)
    return f, e


def _roots(table: MixtureTable, cells: _Cells, negligible: np.ndarray):
    """(row, x_hat, remainder) of the one-root cells: the secant root, then one regula-falsi step where the
    remainder ``(|f(x_hat)| + e)^2 / g`` is not below ``negligible[row]`` already; the smaller remainder is kept."""
    if not cells.roots:
        return np.zeros(0, dtype=int), np.zeros(0), np.zeros(0)
    row, a, b, fa, fb, g = (np.concatenate(v) for v in zip(*cells.roots))
    best_x, best_r = np.zeros_like(a), np.full_like(a, np.inf)
    todo = np.arange(row.size)
    for _ in range(2):
        r_, a_, b_, fa_, fb_ = row[todo], a[todo], b[todo], fa[todo], fb[todo]
        x = np.clip(a_ + (b_ - a_) * (fa_ / (fa_ - fb_)), a_, b_)
        f, e = _mixture_values(table, r_, x)
        rem = (np.abs(f) + e) ** 2 / g[todo]
        better = rem < best_r[todo]
        best_x[todo[better]], best_r[todo[better]] = x[better], rem[better]
        # the sub-bracket with the sign change (when the sign of f(x) is certain)
        sure = np.abs(f) > e
        left = sure & (np.sign(f) == np.sign(fb_))   # root in [a, x]
        right = sure & (np.sign(f) == np.sign(fa_))  # root in [x, b]
        b[todo], fb[todo] = np.where(left, x, b_), np.where(left, f, fb_)
        a[todo], fa[todo] = np.where(right, x, a_), np.where(right, f, fa_)
        todo = todo[best_r[todo] > negligible[row[todo]]]
        if not todo.size:
            break
    return row, best_x, best_r


def _cdf(table: MixtureTable, row, pts):
    """F(pts[p]) = sum_j W[row[p], j] Phi((pts[p] - mu_j) / s_j), in batches."""
    out = np.zeros(pts.size)
    step = max(1, _BATCH // table.means.size)
    for lo in range(0, pts.size, step):
        z = (pts[lo:lo + step, None] - table.means) / table.scales
        out[lo:lo + step] = np.einsum("pm,pm->p", _ndtr(z), table.signed[row[lo:lo + step]])
    return out


def tv_upper_bound(x, law_values, target_values, table: MixtureTable, node_error=0.0) -> np.ndarray:
    """A proven upper bound on ``TV(r, p0) = (1/2) int |r - p0|`` for each law r of ``table`` (one per row).

    ``x``: uniform grid nodes (n >= 4); ``law_values`` (rows, n) or (n,): r at the nodes; ``target_values`` (n,):
    p0 at the nodes; ``node_error`` (scalar or one per row): a bound on ``|law_values - r(x)|`` beyond the rounding
    of a direct sum over the components (e.g. a compressed basis).  Returns an array of shape (rows,).
    """
    x = np.asarray(x, dtype=float)
    r = np.atleast_2d(np.asarray(law_values, dtype=float))
    p0 = np.asarray(target_values, dtype=float)
    rows, n = r.shape
    if n < 4 or x.shape != (n,) or p0.shape != (n,) or rows != table.rows:
        raise BoundcalcError(f"tv bound: {n} nodes, {x.size} grid points, {p0.size} target values, {rows} law rows for "
                             f"{table.rows} table rows; they must agree (n >= 4)")
    m = table.means.size                # the caller's sums: up to m terms
    table = _used(table)
    node_error = np.broadcast_to(np.asarray(node_error, dtype=float), (rows,))
    dx = float(np.max(np.diff(x)))
    s_min = float(np.min(table.scales))
    kappa = (m + 8) * _EPS              # node values: |error| <= kappa (r + p0) + node_error
    ne = node_error[:, None]
    f = r - p0
    env = r + p0
    # step 1: D >= sum_j (Wr + Wp)_j N_j (z_j^2 + 1) / s_j^2 at the interior nodes x_1..x_(n-2) (t = dx), from
    # E_hi = (1 + kappa) env + ne at the neighbours and E_lo = (1 - kappa) env - ne at the node
    u = math.exp(dx * dx / (2 * s_min * s_min)) * (1 + 16 * _EPS)
    inv = 1.0 / (dx * dx)
    d = env[:, 2:] + env[:, :-2]
    d *= u * (1 + kappa) * inv
    d -= (2 * (1 - kappa) * inv - (1 + kappa) / (s_min * s_min)) * env[:, 1:-1]
    d += ne * ((2 * u + 2) * inv + 1 / (s_min * s_min))
    np.maximum(d, 0.0, out=d)
    # the cells (x_k, x_(k+1)), k = 1..n-3 (the two end cells join the tails, step 4): M2 on each
    m2 = d[:, :-1] + d[:, 1:]
    m2 *= math.exp(5 * dx * dx / (32 * s_min * s_min))
    # step 2: a cell whose node values have one sign and exceed their error by M2 dx^2 / 8 has no root
    margin = np.abs(f[:, 1:-1])
    scale = margin.sum(axis=1) * dx     # about int |f|: what a cell's crude bound is negligible against
    margin -= kappa * env[:, 1:-1]
    margin -= ne
    sign = np.signbit(f[:, 1:-1])
    dxm = dx * (1.0 + 4 * _EPS)
    candidate = np.minimum(margin[:, :-1], margin[:, 1:]) <= m2 * (dxm * dxm / 8)
    candidate |= sign[:, :-1] != sign[:, 1:]
    # the ends lo < hi of each row: beyond them the rectangle sum of r + p0 is under NEGLIGIBLE of sum |f| dx (the far
    # tails, where the node values may be within their error of 0); there the tails' exact masses bound int |f|
    # (the sums on every 16th node, times 16: the choice of the ends is free, only the tails' masses are bounds)
    tol = (NEGLIGIBLE * scale)[:, None] / (16 * dx)
    lo = np.maximum(16 * (np.cumsum(env[:, ::16], axis=1) <= tol).sum(axis=1) - 16, 1)
    hi = np.minimum(n - 1 - 16 * ((np.cumsum(env[:, ::-16], axis=1) <= tol).sum(axis=1) - 1), n - 2)
    bad = lo >= hi
    lo[bad], hi[bad] = 1, n - 2
    cells = _Cells()
    row, k = np.nonzero(candidate)
    k = k + 1  # the cell (x_k, x_(k+1))
    inside = (k >= lo[row]) & (k < hi[row])
    row, k = row[inside], k[inside]
    if row.size:
        fa, fb = f[row, k], f[row, k + 1]
        ea = kappa * env[row, k] + node_error[row]
        eb = kappa * env[row, k + 1] + node_error[row]
        args = (row, x[k], x[k + 1], fa, fb, ea, eb, m2[row, k - 1])
        left = cells.classify(*args)
        if left.any():
            args = tuple(v[left] for v in args)
            # an undecided cell whose crude bound is under NEGLIGIBLE of the row's sum |f| dx (the far tails, where
            # the node values are within their error of 0) takes it at once; the others are refined
            small = cells.crude_bound(*args) <= NEGLIGIBLE * scale[args[0]]
            if small.any():
                cells.bound_crude(*(v[small] for v in args))
            if not small.all():
                _refine(table, cells, [v[~small] for v in args], 1)
    # step 3: pieces between the roots and the undecided cells
    mass = table.total.sum(axis=1)
    allowance = (table.means.size + 4) * _EPS * mass   # the rounding of one CDF value
    root_row, root_x, remainder = _roots(table, cells, 1e-3 * allowance)
    crude = cells.runs()
    # F at the ends x_lo, x_hi of each row, and the tails beyond them, int (r + p0) (step 4)
    signed = table.signed
    ends = np.unique(np.concatenate([lo, hi]))   # usually a few nodes shared by many rows
    z_ends = (x[ends][:, None] - table.means) / table.scales
    phi, phi_c = _ndtr(z_ends), _ndtr(-z_ends)
    phi_lo, phi_hi = phi[np.searchsorted(ends, lo)], phi[np.searchsorted(ends, hi)]
    tails = np.einsum("rm,rm->r", table.total, phi_lo + phi_c[np.searchsorted(ends, hi)])
    ends_row = np.repeat(np.arange(rows), 2)
    ends_x = np.column_stack([x[lo], x[hi]]).ravel()
    ends_f = np.column_stack([np.einsum("rm,rm->r", signed, phi_lo), np.einsum("rm,rm->r", signed, phi_hi)]).ravel()
    ev_row = np.concatenate([ends_row, root_row, crude[0], crude[0]]).astype(int)
    ev_x = np.concatenate([ends_x, root_x, crude[1], crude[2]])
    ev_flag = np.concatenate([np.zeros(ends_row.size + root_row.size), np.ones(crude[0].size), np.zeros(crude[0].size)])
    big_f = np.concatenate([ends_f, np.full(ev_x.size - ends_f.size, np.nan)])
    order = np.lexsort((ev_flag, ev_x, ev_row))
    ev_row, ev_x, ev_flag, big_f = ev_row[order], ev_x[order], ev_flag[order], big_f[order]
    inner = np.isnan(big_f)
    if inner.any():
        big_f[inner] = _cdf(table, ev_row[inner], ev_x[inner])
    piece = (ev_row[1:] == ev_row[:-1]) & (ev_flag[:-1] == 0)
    total = np.bincount(ev_row[:-1][piece], weights=np.abs(big_f[1:] - big_f[:-1])[piece], minlength=rows)
    total += 2 * allowance * np.bincount(ev_row[:-1][piece], minlength=rows)
    total += np.bincount(root_row, weights=remainder, minlength=rows)
    total += np.bincount(crude[0].astype(int), weights=crude[3], minlength=rows)
    total += tails + 2 * allowance
    return 0.5 * total
