"""The exact expected laws of a Gaussian-KDE self-consuming loop (lemma K4 of the catalogue).

Shared by the a-priori KDE learner (:mod:`boundcalc.bounds.learners`) and the KDE validator.
"""

from __future__ import annotations

import numpy as np

from boundcalc._checks import BoundcalcError, check_positive, check_positive_int
from boundcalc.model.schemes import Scheme
from boundcalc.model.targets import GaussianMixture

__all__ = ["expected_training_mixtures"]


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
    # tables[j][c, k]: weight of component c of p0 convolved with phi_{h sqrt k} in r_j
    p0_table = np.zeros((n_comp, count + 1))
    p0_table[:, 0] = target.weights
    tables = [p0_table]
    laws = []
    for plan in scheme.plans(count):
        weights = plan.weights()
        mixed = sum(w * tables[j] for j, w in enumerate(weights) if w > 0)
        smoothed = np.zeros_like(mixed)
        smoothed[:, 1:] = mixed[:, :-1]  # convolution with phi_h: k -> k + 1
        tables.append(smoothed)
        laws.append(_table_to_mixture(smoothed, target, h_value))
    return laws


def _table_to_mixture(table, target, h_value) -> GaussianMixture:
    comp, k = np.nonzero(table > 0)
    weights = table[comp, k]
    means = target.means[comp]
    scales = np.sqrt(target.scales[comp] ** 2 + (k * h_value * h_value)[:, None])
    return GaussianMixture(weights / weights.sum(), means, scales, target.name)
