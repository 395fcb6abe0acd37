"""A second, plain-numpy implementation of a self-consuming Gaussian-KDE loop in d = 1, driven only
by a scheme's blocks, for the Monte-Carlo tests of lemmas KE1-KE3 and KR4-KR5.

Densities are exact kernel sums on a uniform grid (no binning, no FFT): independent of the
validator's grid code and of boundcalc.bounds.
"""

from __future__ import annotations

import numpy as np

SQRT2PI = np.sqrt(2 * np.pi)


def kernel_sum(points, centres, scale):
    """(1/n) sum_k phi_scale(x - c_k) at ``points``."""
    out = np.zeros_like(points)
    for start in range(0, len(centres), 256):
        z = (points[:, None] - centres[None, start:start + 256]) / scale
        out += np.exp(-0.5 * z * z).sum(axis=1)
    return out / (len(centres) * scale * SQRT2PI)


def mixture_density(points, weights, means, scales):
    z = (points[:, None] - np.asarray(means)[None]) / np.asarray(scales)[None]
    return (np.exp(-0.5 * z * z) / (np.asarray(scales)[None] * SQRT2PI)) @ np.asarray(weights)


def run_loop(scheme, weights, means, scales, h, generations, rng, grid, k2=True):
    """One seeded loop.  Returns a dict of lists over generations: ``a`` (TV(p_i, p0) by quadrature),
    ``J_plan`` (realised int sqrt(q_i * phi_{h/sqrt2})), ``J_source`` (list of dicts source -> realised
    int sqrt(p_s * phi_{h/sqrt2}) for the sources of generation i); ``k2=False`` skips the integrals."""
    dx = grid[1] - grid[0]
    p0 = mixture_density(grid, weights, means, scales)
    training = {}   # generation -> training points
    cache = {}      # block key -> samples
    out = {"a": [], "J_plan": [], "J_source": []}

    def sample(source, size):
        if source == 0:
            comp = rng.choice(len(weights), size=size, p=weights)
            return np.asarray(means)[comp] + np.asarray(scales)[comp] * rng.standard_normal(size)
        pts = training[source]
        return pts[rng.integers(len(pts), size=size)] + h * rng.standard_normal(size)

    def smoothed(source, extra):
        """source density convolved with N(0, extra^2) on the grid."""
        if source == 0:
            return mixture_density(grid, weights, means, np.sqrt(np.asarray(scales) ** 2 + extra ** 2))
        return kernel_sum(grid, training[source], np.sqrt(h * h + extra * extra))

    for plan in scheme.plans(generations):
        parts = []
        for b in plan.blocks:
            if b.size <= 0:
                continue
            if b.key not in cache:
                cache[b.key] = sample(b.source, b.size)
            parts.append((b, cache[b.key]))
        pts = np.concatenate([x for _, x in parts])
        n = len(pts)
        p_i = kernel_sum(grid, pts, h)
        out["a"].append(0.5 * np.sum(np.abs(p_i - p0)) * dx)
        training[plan.generation] = pts
        if not k2:
            continue
        sources = {}
        for b, x in parts:
            sources[b.source] = sources.get(b.source, 0) + len(x) / n
        q_smooth = sum(w * smoothed(s, h / np.sqrt(2)) for s, w in sources.items())
        out["J_plan"].append(np.sum(np.sqrt(np.maximum(q_smooth, 0))) * dx)
        out["J_source"].append({s: np.sum(np.sqrt(np.maximum(smoothed(s, h / np.sqrt(2)), 0))) * dx
                                for s in sources})
    return out
