"""The exact expected laws of a Gaussian-KDE self-consuming loop (lemma K4 of the catalogue).

Shared by the a-priori KDE learner (:mod:`boundcalc.bounds.learners`) and the KDE validator.
"""

from __future__ import annotations

import numpy as np

from boundcalc._checks import BoundcalcError, check_positive, check_positive_int
from boundcalc.model.schemes import Scheme
from boundcalc.model.targets import GaussianMixture, PrunedMixture, mixture_of

__all__ = ["expected_training_mixtures", "expected_laws_per_generation"]


def expected_training_mixtures(target: GaussianMixture, scheme: Scheme, bandwidth,
                               generations) -> list[GaussianMixture]:
    r"""Exact expected laws ``r_1, ..., r_K`` of a Gaussian-KDE loop (lemma K4) [derived].

    .. math::
        r_0 = p_0, \qquad r_i = \Big(\sum_{j=0}^{i-1} w_{ij} \, r_j\Big) * \varphi_h ,

    with ``w_ij`` the weights of the scheme's plan for generation i (``plan.weights()``) and
    ``phi_h = N(0, h^2 I)``.  ``r_i`` is the law of one sample of generation i's output averaged
    over all randomness; reused samples do not change it (only marginal laws enter).

    Every component of ``r_i`` is a component of ``p_0`` convolved with ``phi_{h sqrt k}`` for
    some ``1 <= k <= i``, so the laws are tracked exactly as a weight table over
    (component of p0, k): at most ``c K`` components, for every scheme (including accumulate).

    Parameters
    ----------
    target : GaussianMixture
        The real distribution p0.
    scheme : boundcalc.model.schemes.Scheme
        The data-mixing scheme (its ``plan(i).weights()`` defines the loop).
    bandwidth : float
        Kernel bandwidth h > 0, fixed across generations.
    generations : int
        K >= 1.

    Returns
    -------
    list of GaussianMixture
        ``[r_1, ..., r_K]``.
    """
    if not isinstance(target, GaussianMixture):
        raise BoundcalcError(f"target must be a GaussianMixture, got {type(target).__name__}")
    if not isinstance(scheme, Scheme):
        raise BoundcalcError(f"scheme must be a boundcalc Scheme, got {type(scheme).__name__}")
    h_value = float(check_positive("bandwidth", bandwidth))
    count = check_positive_int("generations", generations)
    n_comp = target.n_components
    from boundcalc.model.schemes import Accumulate, Mix, Replace, Schedule
    # tables[j][c, k - k0_j]: weight of component c of p0 convolved with phi_{h sqrt k} in r_j,
    # over a window of k starting at k0_j (entries under PRUNE_WEIGHT are dropped, see below)
    tables = {0: (0, np.asarray(target.weights, float)[:, None])}
    dropped = {0: 0.0}  # mass dropped from r_j by pruning (its own and inherited)
    running, running_dropped = None, 0.0  # accumulate: sum of the tables of r_1..r_(i-1)
    laws, previous_key, previous_law = [], None, None
    for i in range(1, count + 1):
        plan = scheme.plan(i)
        n_i = float(plan.n_total)
        if isinstance(scheme, Accumulate) and i >= 2:
            # every earlier p_j (j >= 1) has weight n_synth / N_i: a running sum instead of i - 1 terms
            parts = [(b.count / n_i, tables[0]) for b in plan.blocks if b.source == 0]
            parts.append((scheme.n_synth / n_i, running))
            lost = float(scheme.n_synth / n_i * running_dropped)
        else:
            parts = [(b.count / n_i, tables[b.source]) for b in plan.blocks]
            lost = float(sum(b.count / n_i * dropped[b.source] for b in plan.blocks))
        k0 = min(t[0] for _, t in parts)
        k1 = max(t[0] + t[1].shape[1] for _, t in parts)
        mixed = np.zeros((n_comp, k1 - k0))
        for w, (start, arr) in parts:
            if w > 0:
                mixed[:, start - k0:start - k0 + arr.shape[1]] += float(w) * arr
        k0 += 1  # convolution with phi_h: k -> k + 1
        keep = mixed >= PRUNE_WEIGHT
        lost += float(mixed[~keep].sum())
        mixed[~keep] = 0.0
        columns = np.nonzero(keep.any(axis=0))[0]
        table = (k0 + int(columns[0]), mixed[:, columns[0]:columns[-1] + 1])
        if isinstance(scheme, Accumulate):  # later plans read p0 and the running sum only
            running, running_dropped = _add_tables(running, table), running_dropped + lost
        else:
            tables[i], dropped[i] = table, lost
            if i >= 2 and isinstance(scheme, (Mix, Replace, Schedule)):  # they read p0 and p_{i-1} only
                tables.pop(i - 1, None)
        key = (table[0], table[1].tobytes(), lost)
        if key != previous_key:  # a repeated law (a converged loop) is the same object: its K2 integral is reused
            previous_law = _table_to_mixture(table, target, h_value, lost, count)
            previous_key = key
        elif isinstance(scheme, Mix) and i >= 3:
            # plan i + 1 of mix has plan i's weights on p0 and r_i, and r_i's table is r_(i-1)'s: it repeats
            # step i, and so on (the same object for every later generation)
            laws.extend([previous_law] * (count - i + 1))
            break
        laws.append(previous_law)
    return laws


#: a component of an expected law whose weight falls under this is dropped; the mass dropped is
#: carried along and its contribution to the K2 integral bounded (and added) by :class:`PrunedMixture`
PRUNE_WEIGHT = 1e-40


def _add_tables(a, b):
    if a is None:
        return b
    k0 = min(a[0], b[0])
    k1 = max(a[0] + a[1].shape[1], b[0] + b[1].shape[1])
    out = np.zeros((a[1].shape[0], k1 - k0))
    for start, arr in (a, b):
        out[:, start - k0:start - k0 + arr.shape[1]] += arr
    return (k0, out)


def loop_moment_bound(target: GaussianMixture, h: float, generations: int) -> float:
    """B = max_c prod_k (1 + mu_ck^2 + s_ck^2 + (K + 1) h^2): the weighted second moment of every component a loop of
    K generations can create (scales s^2 + k h^2, k <= K, convolved once more by h^2 / 2); see PrunedMixture."""
    return float(np.max(np.prod(1 + target.means ** 2 + target.scales ** 2 + (generations + 1) * h * h, axis=1)))


def _table_to_mixture(table, target, h_value, dropped=0.0, generations=1) -> GaussianMixture:
    start, arr = table
    comp, k = np.nonzero(arr > 0)
    k = k + start
    weights = arr[comp, k - start]
    means = target.means[comp]
    scales = np.sqrt(target.scales[comp] ** 2 + (k * h_value * h_value)[:, None])
    if dropped <= 0:
        return GaussianMixture(weights / weights.sum(), means, scales, target.name)
    return PrunedMixture(weights / weights.sum(), means, scales, target.name, dropped,
                         loop_moment_bound(target, h_value, generations))


def expected_laws_per_generation(target: GaussianMixture, scheme: Scheme, bandwidths) -> list[GaussianMixture]:
    r"""Lemma K4 with one bandwidth per generation [derived]:
    ``r_0 = p0``, ``r_i = (sum_j w_ij r_j) * phi_{h_i}`` for ``bandwidths = (h_1, ..., h_K)``.

    With equal bandwidths this is :func:`expected_training_mixtures`; with different ones (the
    K3 bandwidth of a growing N_i) each law is carried as an explicit Gaussian mixture
    (mixing, then convolving every component with ``phi_{h_i}``), which is exact but grows with
    the number of distinct paths through the plans.

    >>> from boundcalc.model.schemes import Replace
    >>> from boundcalc.model.targets import parse_target
    >>> r = expected_laws_per_generation(parse_target("normal"), Replace(100, 100), [0.3, 0.4])
    >>> [round(float(law.scales[0, 0]) ** 2, 6) for law in r]
    [1.09, 1.25]
    """
    if not isinstance(target, GaussianMixture):
        raise BoundcalcError(f"target must be a GaussianMixture, got {type(target).__name__}")
    if not isinstance(scheme, Scheme):
        raise BoundcalcError(f"scheme must be a boundcalc Scheme, got {type(scheme).__name__}")
    widths = [float(check_positive("bandwidth", h)) for h in bandwidths]
    if len(set(widths)) == 1:
        return expected_training_mixtures(target, scheme, widths[0], len(widths))
    laws = [target]
    for i, plan in enumerate(scheme.plans(check_positive_int("generations", len(widths))), start=1):
        mixed = mixture_of([(w, laws[j]) for j, w in enumerate(plan.weights())])
        laws.append(mixed.convolve(widths[i - 1]))
    return laws[1:]
