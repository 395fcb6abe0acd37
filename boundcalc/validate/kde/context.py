"""What every seed of a KDE validation shares: target, scheme, bandwidths, grid, bias terms,
failure split and the K4 lower reference (:func:`build_context`), and the size and resolution
guards checked before anything is drawn."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc.bounds import kde_terms
from boundcalc.theory.concentration import union_per_event_delta
from boundcalc.model.kde_law import expected_laws_per_generation, expected_training_mixtures
from boundcalc.model.schemes import Scheme
from boundcalc.model.targets import GaussianMixture, parse_target
import boundcalc.validate.grid as gridlib
from boundcalc.validate.kde.config import (KDEValidationConfig, MAX_BLOCK_SAMPLES, MAX_GRID_NODES, MAX_GRID_WORK,
                                           MAX_SAMPLE_WORK, MAX_TRAINING_SET)


#: the grid integral of p0, of every K4 law r_i and of every fitted KDE must be within this of 1:
#: the TV measured on the grid is then within about this much of the TV on the whole space
MASS_TOLERANCE = 1e-6
#: every standard deviation of the target must span at least this many grid spacings.  The TV
#: quadrature error of Gaussian densities is about 0.01 (dx / sigma)^2, measured up to 7e-4 at
#: sigma = 5 dx, an order of magnitude below the Monte-Carlo spread of a_i (about 1e-2)
MIN_SCALE_IN_SPACINGS = 5.0
#: linear binning moves a point at fraction f of a cell onto its two nodes: to leading order its
#: kernel changes by (1/2) f (1 - f) dx^2 phi_h'', whose L1 norm is at most (1/8) dx^2 4 phi(1) / h^2,
#: so in TV by at most phi(1)/4 (dx/h)^2 = 0.0605 (dx/h)^2 per axis; by convexity the same holds for
#: the whole KDE (an estimate of the grid KDE's error, recorded with the grid)
BINNING_TV_COEFFICIENT = 0.25 * math.exp(-0.5) / math.sqrt(2 * math.pi)
#: default nodes per axis (1-D, 2-D), raised to a power of two when the target or the bandwidth
#: needs a finer grid
DEFAULT_GRID_SIZE = {1: 4096, 2: 256}


def expected_laws(target: GaussianMixture, scheme: Scheme, bandwidths: Sequence[float]):
    r"""Lemma K4 [derived]: the exact expected laws r_1..r_K of a Gaussian-KDE loop,
    ``r_0 = p0``, ``r_i = (sum_j w_ij r_j) * phi_{h_i}`` (from :mod:`boundcalc.model.kde_law`).

    Returns ``(laws, source)``, ``source`` naming the function that gave them.
    """
    if len(set(bandwidths)) == 1:
        return (expected_training_mixtures(target, scheme, bandwidths[0], len(bandwidths)),
                "boundcalc.model.kde_law.expected_training_mixtures")
    return (expected_laws_per_generation(target, scheme, bandwidths),
            "boundcalc.model.kde_law.expected_laws_per_generation (per-generation bandwidths)")


@dataclass
class RunContext:
    """Everything a run shares across seeds (deterministic given the config)."""

    config: KDEValidationConfig
    target: GaussianMixture
    scheme: Scheme
    plans: list
    sizes: list  # N_i, integer training-set sizes
    bandwidths: list  # h_i
    bandwidth_policy: str
    grid: gridlib.Grid
    p0_grid: np.ndarray
    laplacian_l1: float
    bias: list  # b(h_i)
    split_mode: str
    events: int
    per_event_delta: float
    lower_reference: list  # TV(r_i, p0)
    lower_reference_source: str
    grid_accuracy: dict  # grid integrals of p0 and the K4 laws, resolution of the target
    last_source_use: dict = field(default_factory=dict)  # source j -> last generation whose q_i uses p_j

    def stochastic_term(self, n: int, h: float, k2_integral: float) -> float:
        return float(kde_terms.kde_stochastic_tv(n, h, self.target.dim, k2_integral, self.per_event_delta))


def _check_sizes(config: KDEValidationConfig, plans, sizes):
    """Size guards (blocks, training sets, total samples drawn): refuse runs that would take many
    minutes or exhaust memory, before anything is drawn."""
    for plan, n in zip(plans, sizes):
        for block in plan.blocks:
            if block.size > MAX_BLOCK_SAMPLES:
                raise BoundcalcError(
                    f"generation {plan.generation} draws a block of {block.size} samples; at most "
                    f"{MAX_BLOCK_SAMPLES} per block (size guard): lower --n-real, --n-synth or --sizes")
        if n > MAX_TRAINING_SET:
            raise BoundcalcError(
                f"generation {plan.generation} trains on {n} samples; at most {MAX_TRAINING_SET} per training "
                "set (size guard): lower --n-real, --n-synth, --sizes or --generations")
    work = config.seeds * sum(sizes)
    if work > MAX_SAMPLE_WORK:
        raise BoundcalcError(
            f"the run would fit {work:.3g} training samples in all (seeds x sum of N_i); at most "
            f"{MAX_SAMPLE_WORK:.0e} (size guard, about 10 minutes): lower --seeds, --generations or --n-real")


def _scale_in_spacings(target: GaussianMixture, grid: gridlib.Grid) -> float:
    """The smallest target standard deviation (over components and axes) in grid spacings."""
    return float(min(np.min(target.scales[:, k]) / dx for k, dx in enumerate(grid.spacing)))


def choose_grid(target: GaussianMixture, bandwidths: Sequence[float], grid_size: int | None) -> gridlib.Grid:
    """The grid of a run: the box ``means -+ 8 sqrt(scales^2 + sum_i h_i^2)`` (every K4 law inside it),
    with ``grid_size`` nodes per axis, or by default 4096 (1-D) / 256 (2-D) raised to the smallest
    power of two that resolves the target and the kernels.

    Resolution required: every target scale >= MIN_SCALE_IN_SPACINGS spacings (TV quadrature
    accurate to about 1e-3) and h / sqrt 2 >= one spacing (the K2 smoothing).  A grid that cannot
    meet it within MAX_GRID_NODES nodes in total is refused (one-line BoundcalcError naming
    --grid-size, --target and --bandwidth).
    """
    dim = target.dim
    box = gridlib.grid_for_target(target, 16, extra_variance=float(np.sum(np.square(bandwidths))))
    widths = [hi - lo for lo, hi in zip(box.lower, box.upper)]
    scale = [float(np.min(target.scales[:, k])) for k in range(dim)]
    h_min = min(bandwidths)
    # nodes per axis needed: (size - 1) dx = width with dx <= scale / 5 and dx <= h / sqrt 2
    needed = max(math.ceil(w * max(MIN_SCALE_IN_SPACINGS / s, math.sqrt(2) * gridlib.MIN_SD_IN_SPACINGS / h_min))
                 + 1 for w, s in zip(widths, scale))
    per_axis_limit = int(round(MAX_GRID_NODES ** (1.0 / dim)))
    if grid_size is None:
        size = DEFAULT_GRID_SIZE[dim]
        while size < needed and size < per_axis_limit:
            size *= 2
    else:
        size = int(grid_size)
    if size > per_axis_limit:
        raise BoundcalcError(f"--grid-size {size} gives {size ** dim} nodes in {dim}-D; at most {MAX_GRID_NODES} "
                             f"(2^20) in total (size guard): use --grid-size <= {per_axis_limit}")
    grid = gridlib.grid_for_target(target, size, extra_variance=float(np.sum(np.square(bandwidths))))
    if size < needed:
        dx = max(grid.spacing)
        too_fine_kernel = h_min / math.sqrt(2) < gridlib.MIN_SD_IN_SPACINGS * dx
        coarse_target = _scale_in_spacings(target, grid) < MIN_SCALE_IN_SPACINGS
        if needed <= per_axis_limit:
            fix = f"raise --grid-size (now {size}) to at least {needed}"
        else:
            fix = (f"that needs {needed} nodes per axis, above the limit --grid-size <= {per_axis_limit} "
                   f"({MAX_GRID_NODES} nodes in total)")
        if coarse_target:
            hint = ("" if needed <= per_axis_limit else
                    ": use a --target whose smallest scale is a larger share of its spread, or a smaller "
                    "--bandwidth (the grid box is means -+ 8 sqrt(scales^2 + sum_i h_i^2))")
            raise BoundcalcError(
                f"grid too coarse for the target: its smallest scale {min(scale):.4g} spans "
                f"{_scale_in_spacings(target, grid):.3g} grid spacings (dx {dx:.4g}), need >= "
                f"{MIN_SCALE_IN_SPACINGS:g}; {fix}{hint}")
        if too_fine_kernel:
            raise BoundcalcError(
                f"bandwidth {h_min:.4g} is too small for the grid (spacing {dx:.4g}; need h >= "
                f"{math.sqrt(2) * dx:.4g}): {fix}, or raise --bandwidth")
    return grid


def build_context(config: KDEValidationConfig) -> RunContext:
    """Target, scheme, bandwidths, grid, failure split and the K4 lower reference of a run."""
    target = parse_target(config.target)
    if target.dim not in (1, 2):
        raise BoundcalcError(f"target: the KDE validator works in dimension 1 or 2, got {target.dim}")
    scheme = config.make_scheme()
    plans = scheme.plans(config.generations)
    sizes = [sum(b.size for b in p.blocks if b.size > 0) for p in plans]
    for i, n in enumerate(sizes, start=1):
        if n < 1:
            raise BoundcalcError(f"generation {i} has an empty training set; raise --n-real or --sizes")
    _check_sizes(config, plans, sizes)
    if config.data_driven:
        if target.dim != 1:
            raise BoundcalcError(f"bandwidth {config.bandwidth}: data-driven bandwidths in validate kde are 1-D (the "
                                 f"grid KDE has an isotropic kernel); the target is {target.dim}-D: use "
                                 "'boundcalc validate toy' for 2-D data with scott/silverman")
        # the realised h_i is random (and grows with the training variance along a loop); these
        # nominal values (the rule on p0's own sd, times 1.5) only size the grid box and its
        # resolution: the measured h_i are recorded per seed, the grid_mass check holds the rest
        bandwidths = [1.5 * nominal_rule_bandwidth(config.bandwidth, target, n) for n in sizes]
        policy = DATA_DRIVEN_POLICY.format(rule=config.bandwidth)
    elif config.bandwidth == "auto":
        auto = {n: float(kde_terms.auto_bandwidth(target, n)) for n in sorted(set(sizes))}
        bandwidths = [auto[n] for n in sizes]
        policy = ("auto (oracle): lemma K3 bandwidth for N_i samples of the target, computed from p0 itself "
                  "(depends on N_i only, not on the data)")
    else:
        bandwidths = [float(config.bandwidth)] * config.generations
        policy = "fixed"
    grid = choose_grid(target, bandwidths, config.grid_size)
    grid_work = config.seeds * config.generations * int(np.prod(grid.shape))
    if grid_work > MAX_GRID_WORK:
        raise BoundcalcError(
            f"the run would process {grid_work:.3g} grid nodes in all (seeds x generations x {int(np.prod(grid.shape))} "
            f"nodes); at most {MAX_GRID_WORK:.0e} (size guard, about 10 minutes): lower --seeds, --generations "
            "or --grid-size")
    p0_grid = gridlib.density_on_grid(target, grid)
    if config.data_driven:  # lemma K4 is the law of a KDE whose bandwidth does not depend on the data
        laws, source = [], NO_BOUND_REASON
    else:
        laws, source = expected_laws(target, scheme, bandwidths)
    law_grids = [gridlib.density_on_grid(r, grid) for r in laws]
    masses = [gridlib.integral_on_grid(p0_grid, grid)] + [gridlib.integral_on_grid(r, grid) for r in law_grids]
    worst = int(np.argmax(np.abs(np.array(masses) - 1.0)))
    if abs(masses[worst] - 1.0) > MASS_TOLERANCE:
        what = "p0" if worst == 0 else f"the K4 law r_{worst}"
        raise BoundcalcError(
            f"grid integral of {what} is {masses[worst]:.9g}, not within {MASS_TOLERANCE:g} of 1: the grid does not "
            f"resolve the target; raise --grid-size (now {grid.shape[0]}) or use a smoother --target")
    grid_accuracy = {"p0_mass": masses[0], "worst_reference_mass_error": (float(np.max(np.abs(np.array(masses[1:]) - 1)))
                                                                            if law_grids else math.nan),
                     "mass_tolerance": MASS_TOLERANCE,
                     "smallest_scale_in_spacings": _scale_in_spacings(target, grid),
                     "required_scale_in_spacings": MIN_SCALE_IN_SPACINGS,
                     "smallest_bandwidth_in_spacings": min(bandwidths) / max(grid.spacing),
                     # linear binning moves one kernel by 0.06 (dx/h)^2 in TV per axis (leading order)
                     "binning_tv_error_estimate": BINNING_TV_COEFFICIENT * target.dim * (max(grid.spacing) / min(bandwidths)) ** 2,
                     "size_source": "--grid-size" if config.grid_size else "default (raised when target or bandwidth need more)"}
    lap = float(target.laplacian_l1())
    split = kde_terms.kde_failure_split(scheme, config.generations, config.delta)
    if split.mode == "joint":
        events = split.events
    else:  # one event per distinct (block, bandwidth): a block smoothed with two bandwidths is two events;
        # a generation's subset of a kept block (accumulate-subsample) is its own event: the subset is an
        # i.i.d. sample of the block's source (chosen independently of the values), a different one each
        # generation, and its count is fixed before anything is drawn
        events = len({(b.key, h, p.generation if subsampled(b) else 0)
                      for p, h in zip(plans, bandwidths) for b in p.blocks if b.size > 0})
    lower = ([gridlib.tv_on_grid(r, p0_grid, grid) for r in law_grids] if law_grids
             else [math.nan] * config.generations)
    bias = ([math.nan] * config.generations if config.data_driven
            else [float(kde_terms.kde_bias_tv(h, lap)) for h in bandwidths])
    last_source_use = {}
    for plan in plans:
        for block in plan.blocks:
            last_source_use[block.source] = plan.generation
    return RunContext(config, target, scheme, plans, sizes, bandwidths, policy, grid, p0_grid, lap,
                      bias, split.mode, events,
                      float(union_per_event_delta(config.delta, events)), lower, source, grid_accuracy,
                      last_source_use)




def subsampled(block) -> bool:
    """True when a plan uses a proper subset of a kept block (accumulate-subsample)."""
    return block.pool is not None and block.size < round(block.pool)


#: the one line said for a data-driven bandwidth, in place of the bound columns and the K4 reference
NO_BOUND_REASON = ("no proved bound: the KDE lemmas (K1-K4, C2) assume a bandwidth fixed independently of the "
                   "data, and a data-driven h_i (scott, silverman) is computed from the training data")
DATA_DRIVEN_POLICY = ("{rule}: h_i = f(N_i) * sd of generation i's training data (ddof=1), as "
                      "scipy.stats.gaussian_kde (data-driven: no proved bound applies)")


def nominal_rule_bandwidth(rule: str, target: GaussianMixture, n: int) -> float:
    """The rule's bandwidth for n samples if the training sd were p0's own sd (grid sizing only)."""
    from boundcalc.validate.toy import bandwidth_factor

    mean = float(target.weights @ target.means[:, 0])
    var = float(target.weights @ (target.scales[:, 0] ** 2 + target.means[:, 0] ** 2)) - mean * mean
    return bandwidth_factor(rule, n, 1) * math.sqrt(var)


@lru_cache(maxsize=8)
def context_for(config: KDEValidationConfig) -> RunContext:
    """:func:`build_context` of a checked configuration, kept for the next units of the same
    configuration (a worker running many units of one configuration builds it once)."""
    return build_context(config)
