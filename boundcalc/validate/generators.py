"""Reference generators of the validators (numpy): the Gaussian KDE and the Gaussian refit.

Both follow the protocol of :mod:`boundcalc.validate.protocol` (``fit`` returns self, fitted
attributes end in ``_``, ``sample(rng, size)``).
"""

from __future__ import annotations

import numpy as np

from boundcalc._checks import BoundcalcError, check_positive
import boundcalc.validate.grid as gridlib
from boundcalc.validate.protocol import FATAL_STATUSES, data_status

_SAMPLE_BLOCK = 1 << 14


class GaussianKDE:
    r"""Gaussian kernel density estimate with a fixed bandwidth h.

    .. math:: \hat f(x) = \frac{1}{N} \sum_{j=1}^N \varphi_h(x - X_j), \qquad
              \varphi_h = N(0, h^2 I_d).

    Sampling picks a training point uniformly and adds ``h Z``, ``Z ~ N(0, I_d)``, so the
    samples have exactly the density :math:`\hat f` [classical].  The constructor only stores
    the bandwidth; :meth:`fit` returns self and sets ``samples_``, ``n_``, ``dim_`` and
    ``status_`` ("ok", "zero_variance" when all points are equal, which is harmless for a fixed
    bandwidth, "non_finite" or "empty", after which :meth:`sample` and :meth:`density` refuse).

    >>> import numpy as np
    >>> kde = GaussianKDE(0.5).fit(np.zeros(3) + [0.0, 1.0, 2.0])
    >>> kde.n_, kde.status_
    (3, 'ok')
    """

    def __init__(self, bandwidth: float):
        self.bandwidth = float(check_positive("bandwidth", bandwidth))

    def fit(self, samples) -> "GaussianKDE":
        x = np.asarray(samples, dtype=float)
        self.samples_ = x
        self.n_ = int(x.shape[0]) if x.ndim else 0
        self.dim_ = 1 if x.ndim <= 1 else int(x.shape[1])
        self.status_ = data_status(x)
        return self

    def _usable(self):
        if not hasattr(self, "status_"):
            raise BoundcalcError("GaussianKDE: call fit(samples) first")
        if self.status_ in FATAL_STATUSES:
            raise BoundcalcError(f"GaussianKDE: cannot use a fit on degenerate data (status {self.status_})")

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws from the fitted density (shape (size,) in 1-D, (size, d) otherwise)."""
        self._usable()
        # the textbook X[I] + h Z with I drawn first, then Z (the same random stream), computed in
        # row blocks: each block of X[I] is gathered (one gather per sample: the costly step at
        # large n) into a cache-sized buffer and added in place to h Z, so no n-sized temporary
        # is made and every sum is the same number as in X[I] + h * Z
        index = rng.integers(self.n_, size=size)
        noise = rng.standard_normal((size,) + self.samples_.shape[1:])
        buffer = np.empty((min(size, _SAMPLE_BLOCK),) + self.samples_.shape[1:])
        for start in range(0, size, _SAMPLE_BLOCK):
            stop = min(start + _SAMPLE_BLOCK, size)
            picked = buffer[: stop - start]
            np.take(self.samples_, index[start:stop], axis=0, out=picked)
            block = noise[start:stop]
            block *= self.bandwidth
            block += picked
        return noise

    def density(self, grid: gridlib.Grid) -> tuple[np.ndarray, float]:
        """Density on ``grid`` (linear binning + FFT) and the fraction of samples outside the grid."""
        self._usable()
        return gridlib.kde_on_grid(self.samples_, grid, self.bandwidth)

    def density_exact(self, points) -> np.ndarray:
        """The exact kernel sum at ``points`` (O(N * points): for tests and small cases)."""
        self._usable()
        pts = np.asarray(points, dtype=float).reshape(-1, self.dim_)
        data = self.samples_.reshape(-1, self.dim_)
        out = np.zeros(pts.shape[0])
        norm = (np.sqrt(2 * np.pi) * self.bandwidth) ** self.dim_ * self.n_
        for start in range(0, data.shape[0], 2048):
            diff = pts[:, None, :] - data[None, start:start + 2048, :]
            out += np.exp(-0.5 * np.sum(diff * diff, axis=2) / self.bandwidth ** 2).sum(axis=1)
        return out / norm


class GaussianRefit:
    """Gaussian maximum-likelihood refit (mean and ddof=0 variance per coordinate) [classical].

    Under ``replace`` with n samples the fitted variance has ``E sigma_t^2 = ((n-1)/n)^t sigma_0^2``
    (the first reference of ``derivations/validate-kde.md``).  Same protocol as GaussianKDE.

    >>> import numpy as np
    >>> fit = GaussianRefit().fit([1.0, 3.0])
    >>> float(fit.mean_[0]), float(fit.variance_[0])
    (2.0, 1.0)
    """

    def fit(self, samples) -> "GaussianRefit":
        x = np.asarray(samples, dtype=float)
        self.status_ = data_status(x)
        x2 = x.reshape(x.shape[0], -1) if x.size else x.reshape(0, 1)
        self.dim_ = x2.shape[1]
        if self.status_ not in FATAL_STATUSES:
            self.mean_ = x2.mean(axis=0)
            self.variance_ = x2.var(axis=0)
        return self

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.status_ in FATAL_STATUSES:
            raise BoundcalcError(f"GaussianRefit: cannot sample a fit on degenerate data (status {self.status_})")
        z = self.mean_ + np.sqrt(self.variance_) * rng.standard_normal((size, self.dim_))
        return z[:, 0] if self.dim_ == 1 else z
