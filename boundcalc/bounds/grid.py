"""The grid path: bounds of many loops at once, for sample sizes given as broadcasting integer arrays.

``bc.bound(bc.Mix(n_real=n[:, None], n_synth=n[None, :]), bc.PowerLaw(C=1, alpha=0.25))`` evaluates
a_1..a_K at every point of the broadcast grid through the closed forms of the catalogue (theorem S2
for replace, S3 for mix, S4 for accumulate), compiled once to numpy with the learner's rate
substituted, in double precision.  The scalar path (:func:`boundcalc.bounds.compose.compose_bound`)
iterates theorem S1 exactly in mpmath; the two agree to rounding (tested point by point).

Implemented for learners whose error is a closed expression of N (the power law) and the schemes
replace, mix and accumulate; other combinations are refused with one line.

The sum of S4 (accumulate), ``a_k = eps(N_k) + n_synth sum_(j<k) eps(N_j) / N_(j+1)`` with
``N_j = n_real + (j - 1) n_synth``, is evaluated by :func:`accumulate_grid`: a 2-D array of
(points x a block of generations), summed along the generations and carried from block to block
(at most :data:`GRID_CELLS` doubles at once), the learner's vectorised ``eps_of_ns``; O(K) numpy
work per point and no Python loop over the terms.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from boundcalc._checks import BoundcalcError
from boundcalc.bounds.learners import Learner
from boundcalc.model.schemes import Accumulate, Mix, Replace, Scheme

__all__ = ["GridBoundResult", "accumulate_grid", "grid_bound", "is_grid"]

#: the largest (points x generations) block of the accumulate sum held at once (8 MiB of doubles)
GRID_CELLS = 1 << 20


def is_grid(scheme: Scheme) -> bool:
    """True when a field of the scheme is an integer array (a grid of loops)."""
    return any(isinstance(getattr(scheme, f.name), np.ndarray) for f in dataclasses.fields(scheme))


@dataclass(frozen=True)
class GridBoundResult:
    """a_1..a_K on a grid: ``bound[k]`` is the array of a_(k+1) over the broadcast shape."""
    bound: list
    inputs: dict
    closed_form: str

    @property
    def final(self) -> np.ndarray:
        return self.bound[-1]

    @property
    def shape(self) -> tuple:
        return self.final.shape

    @property
    def generations(self) -> int:
        return len(self.bound)

    def __repr__(self) -> str:
        return (f"GridBoundResult(shape={self.shape}, generations={self.generations}, "
                f"final in [{np.nanmin(self.final):.6g}, {np.nanmax(self.final):.6g}], via {self.closed_form})")


@functools.lru_cache(maxsize=16)
def _compiled(scheme_type: type, learner: Learner, lam_one: bool):
    """The closed form of ``scheme_type`` with the learner's rate, compiled to numpy (once per learner)."""
    from boundcalc.bounds.compose import closed_form
    surrogate = {Replace: Replace(2, 3), Accumulate: Accumulate(2, 3),
                 Mix: Mix(2, 0) if lam_one else Mix(2, 3)}[scheme_type]
    form = closed_form(surrogate, learner, 2)
    expr = form.expr
    if lam_one and isinstance(expr, sp.Piecewise):  # the lambda = 1 form for K >= 2 (K = 1 is eps(n_real))
        expr = expr.args[-1][0]
    params = {s: v for s, v in learner.parameters.items()}
    expr = expr.subs(params)
    symbols = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    return sp.lambdify(symbols, expr, modules="numpy"), tuple(s.name for s in symbols), form.lemma_ids


def grid_bound(scheme: Scheme, learner: Learner, generations: int, delta=0.05,
               final_only: bool = False) -> GridBoundResult:
    """a_1..a_K over the broadcast grid of the scheme's size arrays (closed forms S2-S4 in numpy);
    ``final_only``: a_K alone (``bound`` then holds one array)."""
    if not (learner.rate_only and learner.eps_expr is not None):
        raise BoundcalcError(f"the grid path (array-valued sizes) is implemented for the power learner; "
                             f"got {learner.name}: evaluate one loop at a time")
    if type(scheme) not in (Replace, Mix, Accumulate) or getattr(scheme, "real_data", "fresh") != "fresh":
        raise BoundcalcError(f"the grid path is implemented for replace, mix and accumulate with fresh real data; "
                             f"got {scheme.name}: evaluate one loop at a time")
    n_real = np.asarray(scheme.n_real, dtype=float)
    n_synth = np.asarray(scheme.n_synth, dtype=float)
    n_real, n_synth = np.broadcast_arrays(n_real, n_synth)
    values = {"n_real": n_real, "n_synth": n_synth}
    if isinstance(scheme, Mix):
        values["N"] = n_real + n_synth
        values["lambda"] = n_real / values["N"]
    out = []
    f, names, lemma_ids = _compiled(type(scheme), learner, False)
    if isinstance(scheme, Accumulate):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = accumulate_grid(n_real, n_synth, learner, generations, final_only)
        return GridBoundResult(out, {"scheme": repr(scheme), "learner": learner.to_dict(), "generations": generations,
                                     "delta": delta, "final_only": final_only},
                               "+".join(i for i in lemma_ids if i.startswith("S")))
    f1 = _compiled(Mix, learner, True)[:2] if isinstance(scheme, Mix) and np.any(n_synth == 0) else None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in (range(generations, generations + 1) if final_only else range(1, generations + 1)):
            values["K"] = k
            a = np.broadcast_to(np.asarray(f(*[values[n] for n in names]), dtype=float), n_real.shape)
            if f1 is not None and k >= 2:  # lambda = 1 (no synthetic data): its own form
                a1 = np.broadcast_to(np.asarray(f1[0](*[values[n] for n in f1[1]]), dtype=float), n_real.shape)
                a = np.where(n_synth == 0, a1, a)
            out.append(np.array(a))
    return GridBoundResult(out, {"scheme": repr(scheme), "learner": learner.to_dict(), "generations": generations,
                                 "delta": delta, "final_only": final_only},
                           "+".join(i for i in lemma_ids if i.startswith("S")))


def accumulate_grid(n_real, n_synth, learner: Learner, generations: int, final_only: bool = False) -> list:
    """Theorem S4 (accumulate) on a grid: ``[a_1, ..., a_K]`` (or ``[a_K]`` when ``final_only``), each an
    array of the broadcast shape of ``n_real`` and ``n_synth`` (float arrays), in double precision::

        a_k = eps(N_k) + n_synth S_(k-1),    S_k = S_(k-1) + eps(N_k) / N_(k+1),    S_0 = 0,

    ``N_j = n_real + (j - 1) n_synth`` and eps the learner's ``eps_of_ns``.  The terms eps(N_j) / N_(j+1)
    are made for (all points) x (a block of generations) at once, at most :data:`GRID_CELLS` doubles,
    and summed along the block (``numpy.sum``, or ``numpy.cumsum`` when every a_k is wanted) onto the
    carried S: O(K) numpy work per point, O(points x block) memory (``final_only``).  The value is the
    closed form S4 term by term, as the compiled closed form gives it, up to rounding (the order of
    the additions differs; the tests compare the two)."""
    n_real, n_synth = np.broadcast_arrays(np.asarray(n_real, dtype=float), np.asarray(n_synth, dtype=float))
    shape = n_real.shape
    r, s = n_real.reshape(-1, 1), n_synth.reshape(-1, 1)
    points = r.shape[0]
    K = int(generations)
    block = max(1, GRID_CELLS // max(points, 1))
    carried = np.zeros(points)  # S_(lo-1)
    out = []
    if final_only:
        for lo in range(1, K, block):  # the terms j = lo .. hi - 1 (j < K)
            hi = min(lo + block, K)
            sizes = r + s * np.arange(lo - 1, hi, dtype=float)[None, :]  # N_lo .. N_hi
            carried = carried + (learner.eps_of_ns(sizes[:, :-1]) / sizes[:, 1:]).sum(axis=1)
        last = learner.eps_of_ns(r[:, 0] + s[:, 0] * (K - 1))
        return [np.array((last + s[:, 0] * carried).reshape(shape))]
    for lo in range(1, K + 1, block):  # a_lo .. a_(hi-1) need S_(lo-1) .. S_(hi-2)
        hi = min(lo + block, K + 1)
        sizes = r + s * np.arange(lo - 1, hi, dtype=float)[None, :]  # N_lo .. N_hi
        eps = learner.eps_of_ns(sizes[:, :-1])
        prefix = carried[:, None] + np.cumsum(eps / sizes[:, 1:], axis=1)  # S_lo .. S_(hi-1)
        before = np.concatenate([carried[:, None], prefix[:, :-1]], axis=1)  # S_(lo-1) .. S_(hi-2)
        a = eps + s * before
        out.extend(np.array(a[:, k].reshape(shape)) for k in range(a.shape[1]))
        carried = prefix[:, -1]
    return out
