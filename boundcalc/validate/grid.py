"""Regular grids in 1-D and 2-D, and the quadratures the validators measure on them.

Every empirical total-variation number of the validators is a quadrature on one fixed grid
against exact densities (docs/theory.md section 8): never a comparison of two small samples.

The functions here are small and stable, shared by the KDE and the diffusion validators:

* :class:`Grid` and :func:`grid_for_target`: a regular grid chosen once per run;
* :func:`density_on_grid`: an exact density (e.g. a :class:`~boundcalc.model.targets.GaussianMixture`)
  evaluated at the grid nodes, shaped like the grid;
* :func:`integral_on_grid` and :func:`tv_on_grid`: the rectangle (equivalently trapezoid, for
  functions that vanish at the grid ends) rule, ``TV(p, q) = (1/2) sum |p - q| dV``;
* :func:`linear_binning`, :func:`gaussian_smooth`, :func:`kde_on_grid`: the density of a
  Gaussian kernel density estimate on the grid by linear binning and one FFT convolution (the
  method of KDEpy's ``FFTKDE``), with the sample mass falling outside the grid reported;
* :func:`k2_integral_on_grid`: the K2 integral ``int sqrt(g * phi_{h/sqrt 2})`` of a density
  given on the grid.

Accuracy (tested in ``tests/test_validate_kde.py``): linear binning moves each sample's mass to
its two neighbouring nodes keeping its mean, which adds at most ``dx^2/4`` of variance to its
kernel; so the FFT density agrees with the exact kernel sum to at most ``(dx/h)^2 / 8`` of the
peak (about ``(dx/h)^2 / 12`` on average).  The TV quadrature of smooth densities that vanish at
the grid ends is accurate to O(dx^2) (the kinks of ``|p - q|``), about 1e-6 at dx = 0.01, far
below the Monte-Carlo noise the validators measure.  FFT round-off (about 1e-17) in the far tails
makes the K2 integral come out about 1e-8 (relative) too large: on the safe side of a bound.  Provenance of the numerical methods: [classical]
(Silverman 1982, linear binning + FFT; Wand 1994).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from boundcalc._checks import BoundcalcError, check_positive, check_positive_int

#: a Gaussian kernel is truncated this many standard deviations from its centre (weight lost
#: beyond it: about 1e-15 of the mass)
KERNEL_HALF_WIDTH_SD = 8.0
#: smallest smoothing standard deviation, in grid spacings, for which a sampled Gaussian kernel
#: keeps its mass to better than 1e-12 (Poisson summation: error about 2 exp(-2 pi^2 (sd/dx)^2))
MIN_SD_IN_SPACINGS = 1.0


@dataclass(frozen=True)
class Grid:
    """A regular grid: ``shape[k]`` nodes from ``lower[k]`` to ``upper[k]`` on axis k (ends included)."""

    lower: tuple
    upper: tuple
    shape: tuple

    def __post_init__(self):
        if not (len(self.lower) == len(self.upper) == len(self.shape)) or len(self.shape) not in (1, 2):
            raise BoundcalcError("grid: lower, upper and shape must have one entry per axis (1 or 2 axes)")
        for lo, hi, size in zip(self.lower, self.upper, self.shape):
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise BoundcalcError(f"grid: each axis needs finite lower < upper, got [{lo}, {hi}]")
            check_positive_int("grid_size", size, minimum=16)

    @property
    def dim(self) -> int:
        return len(self.shape)

    @property
    def spacing(self) -> tuple:
        """Node spacing dx_k on each axis."""
        return tuple((hi - lo) / (size - 1) for lo, hi, size in zip(self.lower, self.upper, self.shape))

    @property
    def cell_volume(self) -> float:
        """``prod_k dx_k``, the quadrature weight of one node."""
        return float(np.prod(self.spacing))

    @property
    def axes(self) -> list:
        """The node coordinates of each axis."""
        return [np.linspace(lo, hi, size) for lo, hi, size in zip(self.lower, self.upper, self.shape)]

    def points(self) -> np.ndarray:
        """All nodes: shape (n,) in 1-D, (n_x * n_y, 2) in 2-D (row-major, x slowest)."""
        if self.dim == 1:
            return self.axes[0]
        gx, gy = np.meshgrid(*self.axes, indexing="ij")
        return np.column_stack([gx.ravel(), gy.ravel()])

    def to_dict(self) -> dict:
        return {"lower": list(self.lower), "upper": list(self.upper), "shape": list(self.shape),
                "spacing": list(self.spacing)}


def make_grid(lower, upper, size) -> Grid:
    """A grid with ``size`` nodes per axis on the box ``[lower, upper]`` (sequences or scalars)."""
    lower = tuple(float(v) for v in np.atleast_1d(lower))
    upper = tuple(float(v) for v in np.atleast_1d(upper))
    size = check_positive_int("grid_size", size, minimum=16)
    return Grid(lower, upper, (size,) * len(lower))


def grid_for_target(target, size, extra_variance: float = 0.0, n_sd: float = KERNEL_HALF_WIDTH_SD) -> Grid:
    """The box ``means -+ n_sd * sqrt(scales^2 + extra_variance)`` of a Gaussian mixture.

    ``extra_variance`` is the largest variance a loop may add to a component (a KDE loop adds
    ``h^2`` per fully synthetic generation, lemma K4), so that the grid chosen once covers every
    generation of the run.
    """
    check_range_extra = float(extra_variance)
    if not np.isfinite(check_range_extra) or check_range_extra < 0:
        raise BoundcalcError(f"extra_variance must be in [0, inf), got {extra_variance}")
    spread = np.sqrt(target.scales ** 2 + check_range_extra)
    lower = np.min(target.means - n_sd * spread, axis=0)
    upper = np.max(target.means + n_sd * spread, axis=0)
    return make_grid(lower, upper, size)


def density_on_grid(density, grid: Grid) -> np.ndarray:
    """An exact density on the grid nodes, shaped ``grid.shape``.

    ``density`` is an object with a ``density(points)`` method (a ``GaussianMixture``) or a
    callable taking the points array of :meth:`Grid.points`.
    """
    fn = density.density if hasattr(density, "density") else density
    return np.asarray(fn(grid.points()), dtype=float).reshape(grid.shape)


def integral_on_grid(values, grid: Grid) -> float:
    """``int f`` by the rectangle rule ``sum f dV`` (the trapezoid rule when f vanishes at the ends)."""
    return float(np.sum(values) * grid.cell_volume)


def tv_on_grid(p, q, grid: Grid) -> float:
    """``TV(p, q) = (1/2) int |p - q|`` by quadrature of two densities given on ``grid``.

    On one grid this is a seminorm of the node values, so the triangle inequality and the
    mixture identity hold for it exactly (up to floating-point rounding).
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.shape != tuple(grid.shape) or q.shape != tuple(grid.shape):
        raise BoundcalcError(f"tv_on_grid: densities must have the grid shape {grid.shape}, "
                             f"got {p.shape} and {q.shape}")
    return 0.5 * float(np.sum(np.abs(p - q)) * grid.cell_volume)


@dataclass(frozen=True)
class Binned:
    """Linear-binning result: ``weights`` (grid shape) sum to the fraction of samples inside the grid."""

    weights: np.ndarray
    outside_fraction: float


def linear_binning(samples, grid: Grid) -> Binned:
    """Share each sample between the 2^d nodes around it, in proportion to proximity.

    Returns node weights that sum to (samples inside the grid) / (all samples); samples outside
    the grid box are dropped and their share is reported in ``outside_fraction``.
    """
    x = np.asarray(samples, dtype=float)
    if grid.dim == 1:
        return _linear_binning_1d(x.ravel(), grid)
    x = x.reshape(-1, grid.dim)
    n = x.shape[0]
    if n == 0:
        raise BoundcalcError("linear_binning needs at least one sample")
    lower = np.asarray(grid.lower)
    spacing = np.asarray(grid.spacing)
    shape = np.asarray(grid.shape)
    u = (x - lower) / spacing
    inside = np.all((u >= 0) & (u <= shape - 1), axis=1)
    u = u[inside]
    base = np.minimum(np.floor(u).astype(np.int64), shape - 2)
    frac = u - base
    size = int(np.prod(shape))
    counts = np.zeros(size)
    for dx in (0, 1):
        wx = frac[:, 0] if dx else 1 - frac[:, 0]
        for dy in (0, 1):
            wy = frac[:, 1] if dy else 1 - frac[:, 1]
            index = (base[:, 0] + dx) * shape[1] + (base[:, 1] + dy)
            counts += np.bincount(index, weights=wx * wy, minlength=size)
    return Binned(counts.reshape(grid.shape) / n, float(1.0 - inside.sum() / n))


#: samples binned per pass of the 1-D path: its few temporaries stay in the CPU cache
BINNING_CHUNK = 1 << 15


def _linear_binning_1d(x: np.ndarray, grid: Grid) -> Binned:
    """The 1-D path of :func:`linear_binning`: the same node weights, bit for bit, cache-sized.

    ``u = (x - lower) / dx``; a sample at ``u`` gives ``1 - frac(u)`` to node ``floor(u)`` and
    ``frac(u)`` to the next node (``floor`` capped at size - 2 so that ``u = size - 1`` gives all
    its mass to the last node).  The samples are taken in chunks of :data:`BINNING_CHUNK`, in
    order, and each weight is added to its node by ``np.add.at`` (one addition per sample, in
    sample order: the same sums as one ``np.bincount`` over all samples).  The mask of samples
    outside the grid is built only for a chunk whose range of ``u`` says some are outside.
    """
    n = x.size
    if n == 0:
        raise BoundcalcError("linear_binning needs at least one sample")
    size = grid.shape[0]
    lower, dx = grid.lower[0], grid.spacing[0]
    low = np.zeros(size)  # weights 1 - frac(u) at node floor(u)
    high = np.zeros(size)  # weights frac(u), to be moved one node up
    inside_count = 0
    for start in range(0, n, BINNING_CHUNK):
        u = x[start:start + BINNING_CHUNK] - lower
        u /= dx
        u_max = u.max()
        if not (u.min() >= 0 and u_max <= size - 1):  # False too for NaN: the mask drops them
            u = u[(u >= 0) & (u <= size - 1)]
            u_max = u.max() if u.size else 0.0
        inside_count += u.size
        base = u.astype(np.intp)  # u >= 0: truncation is the floor
        if u_max >= size - 1:  # a sample on the last node: its floor is capped at size - 2
            np.minimum(base, size - 2, out=base)
        u -= base  # now frac(u)
        np.add.at(high, base, u)
        np.subtract(1.0, u, out=u)  # 1 - frac(u)
        np.add.at(low, base, u)
    low[1:] += high[:-1]
    return Binned(low / n, float(1.0 - inside_count / n))


def gaussian_kernel_weights(sd: float, spacing: float, half_width: int) -> np.ndarray:
    """``phi_sd(j dx) dx`` for ``j = -half_width..half_width``: a sampled 1-D Gaussian kernel."""
    offsets = np.arange(-half_width, half_width + 1) * spacing
    return np.exp(-0.5 * (offsets / sd) ** 2) / (np.sqrt(2 * np.pi) * sd) * spacing


def _fast_length(target: int) -> int:
    """The smallest ``2^a 3^b 5^c >= target`` (a length whose real FFT is fast)."""
    best, p5 = None, 1
    while p5 < 2 * target:
        p35 = p5
        while p35 < 2 * target:
            p = p35
            while p < target:
                p *= 2
            best = p if best is None or p < best else best
            p35 *= 3
        p5 *= 5
    return best


@functools.lru_cache(maxsize=64)
def _kernel_spectrum(sd: float, spacing: tuple, shape: tuple):
    """(FFT lengths, real FFT of the sampled kernel, kernel shape) for :func:`gaussian_smooth`;
    cached: a run smooths with the same few bandwidths on one grid."""
    kernel = None
    for axis, dx in enumerate(spacing):
        if sd < MIN_SD_IN_SPACINGS * dx:
            raise BoundcalcError(
                f"bandwidth too small for the grid: smoothing sd {sd:.4g} is below one grid spacing "
                f"{dx:.4g}; raise --grid-size (now {shape[axis]}) or the bandwidth")
        half = int(min(shape[axis] - 1, np.ceil(KERNEL_HALF_WIDTH_SD * sd / dx)))
        k = gaussian_kernel_weights(sd, dx, half)
        kernel = k if kernel is None else np.multiply.outer(kernel, k)
    lengths = tuple(_fast_length(n + k - 1) for n, k in zip(shape, kernel.shape))
    spectrum = np.fft.rfftn(kernel, lengths, axes=tuple(range(len(lengths))))
    spectrum.flags.writeable = False
    return lengths, spectrum, kernel.shape


def gaussian_smooth(values, grid: Grid, sd: float) -> np.ndarray:
    """The grid function ``values`` convolved with ``N(0, sd^2 I)``, by one FFT convolution.

    Mass that the convolution pushes beyond the grid is lost (choose the grid wide enough).
    ``sd`` must be at least one grid spacing on every axis (else the sampled kernel is not a
    faithful Gaussian); a :class:`BoundcalcError` says so and names the grid size.

    The full linear convolution is computed by real FFTs of a 5-smooth length at least
    ``size + kernel - 1`` per axis (no wrap-around), and its central ``size`` nodes are kept:
    the arithmetic of ``scipy.signal.fftconvolve(values, kernel, mode="same")``, with the
    kernel's spectrum computed once per (sd, grid).
    """
    check_positive("smoothing sd", sd)
    values = np.asarray(values, dtype=float)
    lengths, spectrum, kshape = _kernel_spectrum(float(sd), tuple(grid.spacing), tuple(grid.shape))
    axes = tuple(range(len(lengths)))
    # unnormalised inverse, then one factor 1/prod(lengths): the rounding of scipy's transform
    full = np.fft.irfftn(np.fft.rfftn(values, lengths, axes=axes) * spectrum, lengths, axes=axes, norm="forward")
    full *= 1.0 / float(np.prod(lengths))
    centre = tuple(slice((k - 1) // 2, (k - 1) // 2 + n) for n, k in zip(values.shape, kshape))
    return full[centre].copy()


def kde_on_grid(samples, grid: Grid, bandwidth: float) -> tuple[np.ndarray, float]:
    """Density of the Gaussian KDE ``(1/N) sum_j phi_h(x - X_j)`` at the grid nodes.

    Linear binning followed by one FFT convolution with the sampled kernel.  Returns the density
    (grid shape) and the fraction of samples that fell outside the grid (their kernels are
    missing from the density).
    """
    binned = linear_binning(samples, grid)
    density = gaussian_smooth(binned.weights / grid.cell_volume, grid, bandwidth)
    return np.maximum(density, 0.0), binned.outside_fraction


def k2_integral_on_grid(density, grid: Grid, bandwidth: float) -> float:
    """The K2 integral ``J = int sqrt(g * phi_{h/sqrt 2})`` of a density ``g`` given on the grid."""
    smoothed = gaussian_smooth(density, grid, bandwidth / np.sqrt(2.0))
    return integral_on_grid(np.sqrt(np.maximum(smoothed, 0.0)), grid)


# -- cells of a 1-D grid (the diffusion validator measures laws as cell probabilities) --------------
def cell_edges(grid: Grid) -> np.ndarray:
    """Edges ``x_0 - dx/2, x_0 + dx/2, ..., x_{N-1} + dx/2`` of the N cells centred at the nodes of a 1-D grid."""
    if grid.dim != 1:
        raise BoundcalcError("cell_edges: the grid must be 1-D")
    dx = grid.spacing[0]
    return grid.lower[0] - 0.5 * dx + dx * np.arange(grid.shape[0] + 1)


def mixture_cell_probabilities(target, edges) -> np.ndarray:
    """Exact probabilities of ``(-inf, e_0), [e_0, e_1), ..., [e_{N-1}, e_N), [e_N, inf)`` under a
    1-D Gaussian mixture (N + 2 numbers that sum to 1: two tails and N cells)."""
    from scipy.special import ndtr

    edges = np.asarray(edges, dtype=float).ravel()
    z = (edges[:, None] - target.means[:, 0][None]) / target.scales[:, 0][None]
    cdf = ndtr(z) @ target.weights
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def tv_of_probabilities(p, q) -> float:
    """``(1/2) sum_k |p_k - q_k|``: the TV of two laws on one partition (a lower bound of the TV of
    any laws with these cell probabilities, by the data-processing inequality)."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise BoundcalcError(f"tv_of_probabilities: shapes differ ({p.shape} and {q.shape})")
    return 0.5 * float(np.sum(np.abs(p - q)))
