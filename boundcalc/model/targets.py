"""Target distributions with exact densities and samplers: Gaussian mixtures in R^d.

A :class:`GaussianMixture` has ``weights`` (c,), ``means`` (c, d) and per-coordinate
standard deviations ``scales`` (c, d) (diagonal covariances).  The class is shared by the
a-priori KDE learner (which needs ``||Laplacian p0||_1`` and the K2 integral), by the
exact expected dynamics of lemma K4 (a KDE loop keeps every expected distribution a
Gaussian mixture), and by the empirical validators (sampling and exact densities).

Named targets (:func:`parse_target`):

* ``normal`` or ``normal:mu=0,sigma=1,dim=1``: one Gaussian N(mu, sigma^2 I_dim);
* ``bimodal`` (the default of the validators, the setting of Li et al. 2023's experiments):
  0.5 N(-3, 1) + 0.5 N(3, 1);
* ``mixture:weights=0.3,0.7;means=-2,1;scales=1,0.5``: a 1-D mixture;
* ``mixture:weights=0.5,0.5;means=-3/0,3/0;scales=1,1``: a 2-D mixture (coordinates of a
  mean separated by ``/``; a scale may be one number per component or ``sx/sy``).
"""

from __future__ import annotations

from dataclasses import dataclass

from numbers import Real

import numpy as np
from boundcalc._checks import BoundcalcError, check

SQRT2PI = np.sqrt(2.0 * np.pi)


@dataclass(frozen=True, eq=False, repr=False)
class GaussianMixture:
    """A Gaussian mixture with diagonal covariances: a frozen value (its arrays are read-only).

    >>> bimodal()
    GaussianMixture(name='bimodal', weights=[0.5, 0.5], means=[[-3.0], [3.0]], scales=[[1.0], [1.0]])
    """
    weights: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    name: str = "mixture"

    def __post_init__(self):
        w = np.atleast_1d(np.asarray(self.weights, dtype=float))
        mu = np.asarray(self.means, dtype=float)
        if mu.ndim == 1:
            mu = mu[:, None]
        sc = np.asarray(self.scales, dtype=float)
        if sc.ndim == 0:
            sc = np.full(mu.shape, float(sc))
        elif sc.ndim == 1:
            sc = np.repeat(sc[:, None], mu.shape[1], axis=1) if sc.shape[0] == mu.shape[0] else sc[None, :]
        if w.ndim != 1 or mu.ndim != 2 or mu.shape[0] != w.shape[0] or sc.shape != mu.shape:
            raise BoundcalcError(
                "target: weights, means and scales must describe the same number of components "
                f"(got {w.shape[0]} weights, {mu.shape[0]} means, {sc.shape[0]} scales)")
        if not np.all(np.isfinite(w)) or np.any(w <= 0) or not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-9):
            raise BoundcalcError(f"target weights must be positive and sum to 1, got {w.tolist()}")
        if not np.all(np.isfinite(mu)) or np.any(np.abs(mu) > 1e100):
            raise BoundcalcError(f"target means must be finite numbers in [-1e100, 1e100], got {mu.tolist()}")
        if not np.all(np.isfinite(sc)) or np.any(sc < 1e-100) or np.any(sc > 1e100):
            raise BoundcalcError(f"target scales must be positive, in [1e-100, 1e100], got {sc.tolist()}")
        w = w / w.sum()
        for name, arr in (("weights", w), ("means", mu), ("scales", sc)):
            arr = np.array(arr, dtype=float)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def __repr__(self) -> str:
        if self.n_components <= 6:
            return (f"GaussianMixture(name={self.name!r}, weights={self.weights.tolist()}, "
                    f"means={self.means.tolist()}, scales={self.scales.tolist()})")
        return (f"GaussianMixture(name={self.name!r}, {self.n_components} components in dim {self.dim}, "
                f"scales in [{self.scales.min():.4g}, {self.scales.max():.4g}])")

    # -- shape -----------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.weights.shape[0]

    # -- densities and sampling ---------------------------------------------------------
    def _as_points(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.dim == 1 and (x.ndim <= 1):
            return x.reshape(-1, 1)
        return x.reshape(-1, self.dim)

    def density(self, x) -> np.ndarray:
        """Exact density at points ``x``: shape (n,) in 1-D, (n, d) otherwise."""
        pts = self._as_points(x)
        z = (pts[:, None, :] - self.means[None]) / self.scales[None]
        log_c = -0.5 * np.sum(z * z, axis=2) - np.sum(np.log(self.scales * SQRT2PI), axis=1)[None]
        out = np.exp(log_c) @ self.weights
        return out.reshape(np.shape(x)[:-1] if self.dim > 1 else np.shape(x))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` independent draws: shape (size,) in 1-D, (size, d) otherwise."""
        comp = rng.choice(self.n_components, size=size, p=self.weights)
        z = rng.standard_normal((size, self.dim))
        x = self.means[comp] + self.scales[comp] * z
        return x[:, 0] if self.dim == 1 else x

    # -- algebra used by lemma K4 -------------------------------------------------------
    def convolve(self, h: float) -> "GaussianMixture":
        """The law of X + h Z, Z ~ N(0, I): every variance grows by h^2."""
        return GaussianMixture(self.weights, self.means, np.sqrt(self.scales ** 2 + h * h), self.name)


    # -- moments ------------------------------------------------------------------------------
    def second_moment(self) -> float:
        """E|X|^2."""
        return float(self.weights @ np.sum(self.means ** 2 + self.scales ** 2, axis=1))

    def product_moment(self) -> float:
        """E prod_k (1 + X_k^2), exact for diagonal Gaussian components."""
        return float(self.weights @ np.prod(1.0 + self.means ** 2 + self.scales ** 2, axis=1))

    # -- quantities for the KDE lemmas ---------------------------------------------------
    def laplacian_l1(self) -> float:
        """``||Laplacian p||_1``: closed form for one isotropic Gaussian in any dim, otherwise
        quadrature on graded nodes (dim 1 or 2)."""
        from boundcalc import _numeric as special  # scipy.special costs 0.2 s to import
        if self.n_components == 1 and np.allclose(self.scales, self.scales[0, 0]):
            s, dim = self.scales[0, 0], self.dim
            # Laplacian of N(mu, s^2 I) is p (|z|^2 - d)/s^2 with z standardised, |z|^2 ~ chi2_d,
            # and E|chi2_d - d| = 4 (d/2)^(d/2) exp(-d/2) / Gamma(d/2) (mean deviation of a gamma law).
            half = dim / 2.0
            with np.errstate(over="ignore", divide="ignore", under="ignore"):  # the caller checks finiteness
                return float(4.0 * np.exp(half * np.log(half) - half - special.gammaln(half)) / s ** 2)
        if self.dim > 2:
            raise BoundcalcError("target: ||Laplacian p0||_1 is computed for mixtures in dim 1 or 2 "
                                 "and for one isotropic Gaussian in any dim; supply --laplacian-l1")
        if self.dim == 1:
            return self._laplacian_l1_1d()
        axes, factors = self._axis_factors()
        (x, y), ((px, px2), (py, py2)) = axes, factors
        lap = (px2 * self.weights) @ py.T + (px * self.weights) @ py2.T
        return _integrate(np.abs(lap), x, y)

    def sqrt_integral(self) -> float:
        """``int sqrt(p)``: closed form for one Gaussian (prod_k (8 pi s_k^2)^(1/4)), quadrature on
        graded nodes in dim 1 or 2, the Cauchy-Schwarz moment bound above."""
        if self.n_components == 1:
            return float(np.prod((8.0 * np.pi * self.scales[0] ** 2) ** 0.25))
        if self.dim > 2:
            return float(np.sqrt(np.pi ** self.dim * self.product_moment()))
        axes, factors = self._axis_factors()
        if self.dim == 1:
            return _integrate(np.sqrt(factors[0][0] @ self.weights), axes[0])
        (px, _), (py, _) = factors
        return _integrate(np.sqrt(np.maximum((px * self.weights) @ py.T, 0.0)), *axes)

    def _laplacian_l1_1d(self) -> float:
        """In 1-D, ``int |p''| = sum_k |p'(z_(k+1)) - p'(z_k)|`` over the sign changes z_k of p''
        (with p'(+-inf) = 0): exact up to the accuracy of the roots, which are bracketed on graded
        nodes and polished by Brent's method."""
        from boundcalc._numeric import brentq  # not scipy.optimize (0.25 s to import)
        mu = self.means[:, 0] - self.weights @ self.means[:, 0]
        sc, w = self.scales[:, 0], self.weights

        def derivatives(x):
            z = (np.atleast_1d(x)[:, None] - mu[None]) / sc[None]
            phi = np.exp(-0.5 * z * z) / (SQRT2PI * sc[None])
            return (phi * (-z / sc[None])) @ w, (phi * (z * z - 1) / sc[None] ** 2) @ w

        x = graded_nodes(mu, sc, per_sd=30)
        second = derivatives(x)[1]
        negative = second < 0  # a root exactly on a node (z = +-1 is a node) is bracketed too
        flips = np.nonzero(negative[:-1] != negative[1:])[0]
        roots = [brentq(lambda t: derivatives(t)[1][0], x[k], x[k + 1], xtol=1e-14 * max(1.0, abs(x[k])))
                 for k in flips]
        first = np.concatenate([[0.0], derivatives(np.array(roots))[0] if roots else [], [0.0]])
        return float(np.sum(np.abs(np.diff(first))))

    def _axis_factors(self):
        """Quadrature nodes per axis and, for each axis, the component factors phi_ck(x) and
        phi_ck''(x) on them (columns = components): a diagonal Gaussian component is the product of
        its axis factors, so densities and Laplacians on the tensor grid are matrix products.
        Computed about the centre of the means (both integrals are translation invariant)."""
        centre = self.weights @ self.means
        axes, factors = [], []
        for k in range(self.dim):
            mu, sc = self.means[:, k] - centre[k], self.scales[:, k]
            x = graded_nodes(mu, sc, per_sd=30 if self.dim == 1 else 25)
            z = (x[:, None] - mu[None]) / sc[None]
            phi = np.exp(-0.5 * z * z) / (SQRT2PI * sc[None])
            axes.append(x)
            factors.append((phi, phi * (z * z - 1) / sc[None] ** 2))
        return axes, factors
    def k2_integral(self, h: float) -> float:
        """The K2 integral ``int sqrt(p * phi_{h/sqrt 2})`` (quadrature; a moment bound if dim > 2).

        Memoised on the mixture's numbers and h (a pure function of them): the laws of a converged
        loop repeat, and their integral is computed once."""
        key = (self.weights.tobytes(), self.means.tobytes(), self.scales.tobytes(), self.means.shape, float(h))
        value = _K2_CACHE.get(key)
        if value is None:
            value = self.convolve(h / np.sqrt(2.0)).sqrt_integral()
            if len(_K2_CACHE) >= _K2_CACHE_SIZE:
                _K2_CACHE.pop(next(iter(_K2_CACHE)))
            _K2_CACHE[key] = value
        return value

    def k2_moment_bound(self, h: float) -> float:
        """Cauchy-Schwarz bound ``sqrt(pi^d E prod_k (1 + X_k^2))`` of the K2 integral."""
        return float(np.sqrt(np.pi ** self.dim * self.convolve(h / np.sqrt(2.0)).product_moment()))

    def to_dict(self) -> dict:
        return {"name": self.name, "weights": self.weights.tolist(),
                "means": self.means.tolist(), "scales": self.scales.tolist()}


def graded_nodes(means, scales, per_sd: int = 30, n_sd: float = 12.0) -> np.ndarray:
    """Quadrature nodes on one axis for a mixture with these component means and scales.

    Each component contributes ``2 n_sd per_sd + 1`` equally spaced nodes on mu +- n_sd s (spacing
    s / per_sd); where windows overlap only the nodes of the finest covering component are kept.
    So a narrow component is resolved wherever it sits, however far the modes are apart or however
    different the scales, with O(components) nodes rather than a uniform grid over the whole box.
    """
    # components with the same mean and scales within a factor 1.5 share one window (the widest
    # of them, at the spacing of the narrowest): the mixtures of lemma K4 have up to c K components
    # whose scales sqrt(s^2 + k h^2) crowd together
    means, scales = np.round(np.asarray(means, float), 12), np.asarray(scales, float)
    bucket = np.floor(np.log(scales) / np.log(1.5))
    keys, inverse = np.unique(np.column_stack([means, bucket]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    finest = np.full(len(keys), np.inf)
    widest = np.zeros(len(keys))
    np.minimum.at(finest, inverse, scales)
    np.maximum.at(widest, inverse, scales)
    centres = keys[:, 0]
    pieces = [np.linspace(m - n_sd * w, m + n_sd * w, int(np.ceil(2 * n_sd * per_sd * w / f)) + 1)
              for m, f, w in zip(centres, finest, widest)]
    nodes = np.concatenate(pieces)
    owner = np.repeat(finest, [len(p) for p in pieces])
    covers = np.abs(nodes[:, None] - centres[None]) <= n_sd * widest[None] * (1 + 1e-12)
    finest_here = np.where(covers, finest[None], np.inf).min(axis=1)
    return np.unique(nodes[owner <= finest_here * (1 + 1e-9)])


def _integrate(values, x, y=None) -> float:
    """Quadrature on graded nodes, in one or two dimensions (see :func:`_quad_1d`)."""
    if y is None:
        return float(_quad_1d(values, x))
    return float(_quad_1d(_quad_1d(values, y, axis=1), x))


def _quad_1d(values, x, axis=-1):
    """Simpson's rule on each run of evenly spaced nodes, the trapezoid rule on the intervals that
    join two runs (a jump in spacing, or the empty gap between far-apart components, where a
    Simpson parabola across unequal steps would amplify rounding)."""
    from boundcalc import _numeric as integrate  # not scipy.integrate (0.3 s to import)
    values = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    steps = np.diff(x)
    even = np.isclose(steps[1:], steps[:-1], rtol=1e-6)
    # runs of intervals [start, stop) with equal steps
    breaks = np.concatenate([[0], np.nonzero(~even)[0] + 1, [steps.size]])
    total = np.zeros(values.shape[:-1])
    for start, stop in zip(breaks[:-1], breaks[1:]):
        if stop - start >= 2:
            total += integrate.simpson(values[..., start:stop + 1], x=x[start:stop + 1], axis=-1)
        else:  # a single interval: a bridge between runs
            total += 0.5 * (values[..., start] + values[..., stop]) * steps[start]
    return total


_K2_CACHE: dict = {}
_K2_CACHE_SIZE = 4096


def dropped_k2_slack(dim: int, dropped: float, bound_b: float) -> float:
    """``sqrt(pi^d m B)``: a bound on ``int sqrt(g_dropped)`` for a dropped mass m whose components have weighted second
    moment at most B (Cauchy-Schwarz with the weight prod_k 1 / (1 + x_k^2); see :class:`PrunedMixture`)."""
    return float(np.sqrt(np.pi ** dim * dropped * bound_b)) if dropped > 0 else 0.0


class PrunedMixture(GaussianMixture):
    """The kept components of an expected law (renormalised), with the mass ``dropped`` from it.

    The K2 integral of the full law r = r_kept + r_dropped is bounded above by that of the kept
    law renormalised plus ``k2_slack(h)`` [derived]: with g = r * phi_{h/sqrt 2},
    ``int sqrt(g) <= int sqrt(g_kept) + int sqrt(g_dropped)`` (sqrt is subadditive),
    ``int sqrt(g_kept) <= J(kept renormalised)`` (its mass is at most 1), and by Cauchy-Schwarz with
    the weight prod_k 1 / (1 + x_k^2) (integral pi^d),
    ``int sqrt(g_dropped) <= sqrt(pi^d m B)`` with m the dropped mass and
    ``B = max_c prod_k (1 + mu_ck^2 + s_ck^2 + (K + 1) h^2)`` bounding the weighted second moment of
    every component the loop can create (scales s^2 + k h^2, k <= K, convolved once more by h^2 / 2).
    The same slack bounds the moment bound used when d > 2.  ``dropped = 0`` gives the law exactly.
    """

    def __init__(self, weights, means, scales, name, dropped, bound_b):
        super().__init__(weights, means, scales, name)
        object.__setattr__(self, "dropped", float(dropped))
        object.__setattr__(self, "moment_b", float(bound_b))

    def k2_slack(self) -> float:
        return dropped_k2_slack(self.dim, self.dropped, self.moment_b)

    def k2_integral(self, h: float) -> float:
        return super().k2_integral(h) + self.k2_slack()

    def k2_moment_bound(self, h: float) -> float:
        return super().k2_moment_bound(h) + self.k2_slack()



def mixture_of(parts) -> GaussianMixture:
    """Flatten ``[(weight, GaussianMixture), ...]`` into one mixture (weights must sum to 1).

    Components with equal mean and scale are merged, so that the mixtures of lemma K4 (every
    component is a component of p0 convolved with some k h^2) stay of size <= c K instead of
    doubling with each accumulated generation.
    """
    parts = [(float(w), g) for w, g in parts if w > 0]
    # a converged loop mixes the same objects with the same weights every generation: memoised on
    # (weight, object) pairs; the cache holds the objects, so an id is never reused while cached
    key = tuple((w, id(g)) for w, g in parts)
    hit = _MIX_CACHE.get(key)
    if hit is not None:
        return hit[0]
    result = _mixture_of(parts)
    if len(_MIX_CACHE) >= 64:
        _MIX_CACHE.pop(next(iter(_MIX_CACHE)))
    _MIX_CACHE[key] = (result, [g for _, g in parts])
    return result


_MIX_CACHE: dict = {}


def _mixture_of(parts) -> GaussianMixture:
    weights = np.concatenate([w * g.weights for w, g in parts])
    rows = np.concatenate([np.concatenate([g.means, g.scales], axis=1) for _, g in parts])
    # merge on values rounded to 1e-12: sqrt(sqrt(s^2 + h^2)^2 + h^2) and sqrt(s^2 + 2 h^2) differ in the last bit
    _, first, inverse = np.unique(np.round(rows, 12), axis=0, return_index=True, return_inverse=True)
    unique = rows[first]
    merged = np.bincount(inverse.ravel(), weights=weights, minlength=unique.shape[0])
    dim = parts[0][1].dim
    dropped = sum(w * getattr(g, "dropped", 0.0) for w, g in parts)
    if dropped > 0:  # a part with pruned mass: carry it (and its moment bound) into the K2 slack
        bound_b = max(getattr(g, "moment_b", 0.0) for _, g in parts)
        return PrunedMixture(merged, unique[:, :dim], unique[:, dim:], parts[0][1].name, dropped, bound_b)
    return GaussianMixture(merged, unique[:, :dim], unique[:, dim:], parts[0][1].name)


def _real(name: str, value) -> float:
    """A real number (not a bool, a string or bytes) as a float; its range is checked by GaussianMixture."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise BoundcalcError(f"target {name} must be a real number, got {value!r}")
    return float(value)


def normal(mu: float = 0.0, sigma: float = 1.0, dim: int = 1) -> GaussianMixture:
    dim = check("dim", dim)
    return GaussianMixture([1.0], np.full((1, dim), _real("mu", mu)), np.full((1, dim), _real("sigma", sigma)),
                           "normal")


def bimodal() -> GaussianMixture:
    """The default target: 0.5 N(-3, 1) + 0.5 N(3, 1) (Li et al. 2023's experiments)."""
    return GaussianMixture([0.5, 0.5], [[-3.0], [3.0]], [[1.0], [1.0]], "bimodal")


def _floats(name, text):
    try:
        return [float(v) for v in text.split("/")]
    except ValueError:
        raise BoundcalcError(f"target: cannot read {name} value {text!r} as numbers") from None


def parse_target(spec: str | None) -> GaussianMixture:
    """Parse a target specification (see the module docstring)."""
    if spec is None or spec == "bimodal":
        return bimodal()
    if not isinstance(spec, str):
        raise BoundcalcError(f"target must be a specification string (bimodal, normal:..., mixture:...), "
                             f"got {spec!r}")
    kind, _, rest = spec.partition(":")
    fields = {}
    if kind not in ("normal", "mixture"):
        raise BoundcalcError(f"target must be normal, bimodal or mixture:...; got {spec!r}")
    for item in filter(None, rest.replace(";", " ").split() if kind == "mixture" else rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise BoundcalcError(f"target: expected key=value in {spec!r}, got {item!r}")
        if key.strip() in fields:
            raise BoundcalcError(f"target: {key.strip()} is given twice in {spec!r}")
        fields[key.strip()] = value.strip()
    if kind == "normal":
        unknown = set(fields) - {"mu", "sigma", "dim"}
        if unknown:
            raise BoundcalcError(f"target: normal takes mu, sigma, dim; got {sorted(unknown)}")
        try:
            mu, sigma = float(fields.get("mu", 0)), float(fields.get("sigma", 1))
        except (ValueError, OverflowError):
            raise BoundcalcError(f"target: cannot read {spec!r} (mu, sigma numbers, dim an integer)") from None
        try:
            dim = check("dim", fields.get("dim", "1"))
        except BoundcalcError as exc:
            raise BoundcalcError(f"target: {exc}") from None
        if dim < 1:
            raise BoundcalcError(f"target: dim must be an integer >= 1, got {dim}")
        return normal(mu, sigma, dim)
    if kind == "mixture":
        need = {"weights", "means", "scales"}
        if set(fields) != need:
            raise BoundcalcError("target: mixture needs weights=..;means=..;scales=.. "
                                 f"(got {sorted(fields)})")
        weights = [_floats("weights", w)[0] for w in fields["weights"].split(",")]
        means = [_floats("means", v) for v in fields["means"].split(",")]
        scales = [_floats("scales", v) for v in fields["scales"].split(",")]
        dim = len(means[0])
        if any(len(mu) != dim for mu in means):
            raise BoundcalcError("target: every mean needs the same number of coordinates")
        scales = [s * dim if len(s) == 1 else s for s in scales]
        return GaussianMixture(weights, means, scales, "mixture")
    raise BoundcalcError(f"target must be normal, bimodal or mixture:...; got {spec!r}")
