r"""The generator protocol: what a learner must offer to be run through a self-consuming loop.

A *generator* is a learner in the style of scikit-learn estimators: the constructor only stores
parameters, :meth:`fit` learns from a training set and returns ``self``, and everything learnt
is an attribute whose name ends in ``_``.  The loop (:func:`boundcalc.validate.loop.iterate_loop`)
needs three things of it:

``fit(samples) -> self``
    learn from ``samples`` (shape ``(N,)`` in 1-D, ``(N, d)`` otherwise) and set ``status_``:
    ``"ok"``; ``"zero_variance"`` (all points equal: an expected state of a collapsing loop,
    reported, not an error); ``"non_finite"`` or ``"empty"`` (fatal: the loop stops after this
    generation and the run is reported as stopped on degenerate data).
``sample(rng, size) -> ndarray``
    ``size`` independent draws from the fitted law, using only the ``numpy.random.Generator``
    ``rng`` it is given (so a seed fixes them; a torch sampler seeds a ``torch.Generator`` from
    ``rng``).  Same shape convention as the training set.
the fitted law, measured on the validator's partition of space, one of:
    ``density(grid) -> (values, outside_fraction)``: the density at the nodes of a
    :class:`boundcalc.validate.grid.Grid` and the share of probability not represented on the
    grid (the KDE validator measures TV by quadrature on the grid);
    ``cell_probabilities(edges) -> ndarray``: the probabilities of the cells between the 1-D
    ``edges`` plus the two tails (the diffusion validator measures TV between such vectors, a
    lower bound of the continuous TV by data processing).

The law must be the law of the samples that :meth:`sample` returns: the validator feeds those
samples to the next generation and measures the next generation's training law ``q_i`` from
the laws.  The measured TVs are then exactly those of the loop that ran.

Example (a Gaussian refit; :class:`boundcalc.validate.generators.GaussianRefit` is the same)::

    >>> import numpy as np
    >>> class Refit:
    ...     def fit(self, x):
    ...         x = np.asarray(x, float)
    ...         self.mean_, self.sd_, self.status_ = x.mean(), x.std(), "ok"
    ...         return self
    ...     def sample(self, rng, size):
    ...         return self.mean_ + self.sd_ * rng.standard_normal(size)
    >>> isinstance(Refit(), Generator)
    True
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

#: statuses of a fitted generator; the first is normal, the second is reported but harmless for a
#: fixed-bandwidth KDE, the others stop the run of that seed
STATUS_OK = "ok"
STATUS_ZERO_VARIANCE = "zero_variance"
STATUS_NON_FINITE = "non_finite"
STATUS_EMPTY = "empty"
FATAL_STATUSES = (STATUS_NON_FINITE, STATUS_EMPTY)


@runtime_checkable
class Generator(Protocol):
    """A learner the loop can fit, sample and measure (see the module text)."""

    def fit(self, samples) -> "Generator":  # pragma: no cover - protocol
        ...

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:  # pragma: no cover - protocol
        ...


_STATUS_BLOCK = 1 << 15


def data_status(x: np.ndarray) -> str:
    """The status a training set gives a fit: empty, non-finite, all points equal, or ok."""
    if x.size == 0:
        return STATUS_EMPTY
    # min and max, no temporaries: they propagate NaN and +-inf, and all rows equal the first
    # exactly when every coordinate has min == max; taken over cache-sized row blocks so that a
    # large sample is read from memory once
    flat = x.reshape(x.shape[0], -1) if x.ndim > 1 else x
    lo = hi = None
    for start in range(0, flat.shape[0], _STATUS_BLOCK):
        block = flat[start:start + _STATUS_BLOCK]
        b_lo, b_hi = block.min(axis=0), block.max(axis=0)
        lo = b_lo if lo is None else np.minimum(lo, b_lo)
        hi = b_hi if hi is None else np.maximum(hi, b_hi)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return STATUS_NON_FINITE
    if np.all(lo == hi):
        return STATUS_ZERO_VARIANCE
    return STATUS_OK
