"""The exact expected laws of a Gaussian-KDE self-consuming loop (lemma K4 of the catalogue).

Shared by the a-priori KDE learner (:mod:`boundcalc.bounds.learners`) and the KDE validator.
"""

from __future__ import annotations

import numpy as np

from boundcalc._checks import BoundcalcError, check_positive, check_positive_int
from boundcalc.model.schemes import Scheme
from boundcalc.model.targets import GaussianMixture, mixture_of

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
