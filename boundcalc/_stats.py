"""Intervals over seeds shared by the validators and the sweep report (layer 0: numpy only).

:func:`bootstrap_mean_interval` is Efron's percentile interval of a mean: it stays inside the range
of the values, so an interval for a TV stays in [0, 1] and one for a KL or a training time stays
non-negative.
"""

from __future__ import annotations

import numpy as np

#: resamples of the bootstrap percentile interval (fixed generator: same values, same bytes)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_INTERVAL = (f"bootstrap percentile over seeds ({BOOTSTRAP_RESAMPLES} resamples, fixed seed; "
                      "2.5% and 97.5% quantiles of the resampled means: stays in the range of the values)")


def bootstrap_mean_interval(values, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """95% bootstrap percentile interval of the mean of ``values`` (finite, at least two).

    Every resampled mean is an average of the values, so the interval lies in
    ``[min(values), max(values)]``: a TV interval stays in [0, 1], a KL or tau interval stays
    non-negative [classical: Efron's percentile interval].  The resampling generator is seeded
    from the values' count only, so equal inputs give equal bytes.

    >>> lo, hi = bootstrap_mean_interval([0.0, 0.0, 0.0, 1.0])
    >>> 0.0 <= lo <= 0.25 <= hi <= 1.0
    True
    """
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng([20240601, x.size])
    means = x[rng.integers(x.size, size=(resamples, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(max(lo, x.min())), float(min(hi, x.max()))
