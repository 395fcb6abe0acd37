r"""Self-consuming Gaussian-KDE loops held against the explicit bounds of THEORY.md 4.3.

What a run does (one seed):

1. for i = 1..K, build generation i's training set from ``scheme.plan(i)``: a block of source 0
   is drawn from the target p0, a block of source j from the fitted KDE of generation j; blocks
   with the same key are the *same samples* (cached), so reused real data and accumulated
   synthetic data are really reused (:func:`iterate_loop`);
2. fit a Gaussian KDE with bandwidth h_i (fixed, or the K3 choice for N_i samples);
3. measure on one fixed grid, against exact densities:

   * ``a_i = TV(p_i, p0)``, ``eps_i = TV(p_i, q_i)`` and ``TV(q_i, p0)``, where
     ``q_i = sum_b (N_b / N_i) p_{source_b}`` is known exactly (p0 and the earlier KDEs);
   * the a-posteriori bound of THEORY.md 4.3 [derived]:

     .. math:: a_i \le b(h_i) + s_i + \mathrm{TV}(q_i, p_0),

     ``b(h) = (h^2/4) ||Laplacian p0||_1`` (K1), ``s_i`` the K2 + C2 stochastic term with the K2
     integral ``J = int sqrt(qbar * phi_{h/sqrt 2})`` of the *actual* qbar (joint mode: q_i;
     blockwise mode: each block's own source, weighted by N_b/N_i), at the per-event failure
     probability of lemma C3;
   * the composed bound ``B_i = b(h_i) + s_i + sum_j w_ij B_j`` (THEORY.md 4.1 with the one-step
     terms), which needs no measured quantity of the loop except the K2 integrals;
   * the training-set variance (for the reference numbers of THEORY.md section 7).

Over S seeds the runner reports means and 95% intervals, the exact expected law r_i of lemma K4
with ``TV(r_i, p0)`` as the lower reference, and the checks listed in
``derivations/validate-kde.md``.

Public API: :class:`GaussianKDE`, :class:`GaussianRefit`, :func:`iterate_loop`,
:class:`KDEValidationConfig`, :func:`validate_kde`, :func:`summary_table`,
:func:`expected_laws`, :func:`variance_recursion`.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from boundcalc.bounds import kde_terms
from boundcalc._checks import (BoundcalcError, check_choice, check_positive, check_positive_int,
                      check_probability)
from boundcalc._io import dumps, write_atomic
from boundcalc.model.schemes import REAL_DATA, SCHEMES, GenerationPlan, Scheme, make_scheme
from boundcalc.model.targets import GaussianMixture, mixture_of, parse_target
from boundcalc.validate import grid as gridlib
from boundcalc.validate.report import (Check, ProgressBar, format_checks, format_table, load_state, nan_to_none,
                     none_to_nan, save_state, summarize_over_seeds)

#: statuses of a fitted generator; the first is normal, the second is reported but harmless for a
#: fixed-bandwidth KDE, the others stop the run of that seed
STATUS_OK = "ok"
STATUS_ZERO_VARIANCE = "zero_variance"
STATUS_NON_FINITE = "non_finite"
STATUS_EMPTY = "empty"
FATAL_STATUSES = (STATUS_NON_FINITE, STATUS_EMPTY)

#: tolerance of the recursion-step and scheme-coefficient checks.  All three TVs are the same
#: quadrature seminorm on one grid, for which the triangle inequality and the mixture identity
#: are exact; only floating-point rounding (about 1e-15 per node) is allowed.
RECURSION_TOLERANCE = 1e-9
#: how many standard errors the Monte-Carlo means may sit from a reference value
REFERENCE_STANDARD_ERRORS = 4.0
#: the Monte-Carlo mean of a_i must stay above TV(r_i, p0) minus this many standard errors
LOWER_REFERENCE_STANDARD_ERRORS = 3.0
#: level of the one-sided binomial test of the bound checks: with S runs, v of which violate a
#: bound that fails with probability at most delta per run, the check fails only when
#: P(Bin(S, delta) >= v) < BINOMIAL_ALPHA
BINOMIAL_ALPHA = 0.01
#: TV <= 1 always, so a bound >= this value says nothing ("vacuous") and is no evidence
VACUOUS_BOUND = 1.0
#: kinds of check (printed beside each check)
KIND_CONSISTENCY = "consistency (holds by construction)"
KIND_BOUND = "bound (a-posteriori theorem, one-sided binomial test over runs)"
KIND_REFERENCE = "reference (Monte-Carlo mean against an exact value)"
KIND_NUMERICAL = "numerical (grid accuracy)"

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
#: size guards: samples per block (n_real, n_synth, a schedule's real or synthetic part), samples
#: per training set, grid nodes in total, and samples drawn over all seeds and generations.  Measured
#: cost: about 0.5 s per 1e6 training samples and 0.8 s per generation on a 2^20-node grid, so each
#: of the two work limits is roughly 10 minutes
MAX_BLOCK_SAMPLES = 10 ** 7
MAX_TRAINING_SET = 2 * 10 ** 7
MAX_GRID_NODES = 2 ** 20
MAX_SAMPLE_WORK = 10 ** 9
#: and grid work: nodes x generations x seeds (each generation costs a few FFTs of the grid)
MAX_GRID_WORK = 10 ** 9

STATE_FILE = "kde_state.json"
RESULT_FILE = "kde_validation.json"


# --------------------------------------------------------------------------------------------
# generators
# --------------------------------------------------------------------------------------------
_STATUS_BLOCK = 1 << 15
_SAMPLE_BLOCK = 1 << 14


def _data_status(x: np.ndarray) -> str:
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


class GaussianKDE:
    r"""Gaussian kernel density estimate with a fixed bandwidth h.

    .. math:: \hat f(x) = \frac{1}{N} \sum_{j=1}^N \varphi_h(x - X_j), \qquad
              \varphi_h = N(0, h^2 I_d).

    Sampling picks a training point uniformly and adds ``h Z``, ``Z ~ N(0, I_d)`` (THEORY.md
    3.3), so the samples have exactly the density :math:`\hat f`.  The constructor only stores
    the bandwidth; :meth:`fit` returns self and sets ``samples_``, ``n_``, ``dim_`` and
    ``status_`` ("ok", "zero_variance" when all points are equal, which is harmless for a fixed
    bandwidth, "non_finite" or "empty", after which :meth:`sample` and :meth:`density` refuse).
    """

    def __init__(self, bandwidth: float):
        self.bandwidth = float(check_positive("bandwidth", bandwidth))

    def fit(self, samples) -> "GaussianKDE":
        x = np.asarray(samples, dtype=float)
        self.samples_ = x
        self.n_ = int(x.shape[0]) if x.ndim else 0
        self.dim_ = 1 if x.ndim <= 1 else int(x.shape[1])
        self.status_ = _data_status(x)
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
    """Gaussian maximum-likelihood refit (mean and ddof=0 variance per coordinate).

    The learner of the first reference of THEORY.md section 7 [classical]: under ``replace``
    with n samples ``E sigma_t^2 = ((n-1)/n)^t``.  Same fit/sample interface as GaussianKDE.
    """

    def fit(self, samples) -> "GaussianRefit":
        x = np.asarray(samples, dtype=float)
        self.status_ = _data_status(x)
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


# --------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------
@dataclass
class LoopStep:
    """One generation of a loop: its plan, the blocks actually used and the fitted model."""

    generation: int
    plan: GenerationPlan
    blocks: list  # [(Block, samples)] in plan order, blocks of size 0 left out
    training_set: np.ndarray
    model: object

    @property
    def n_train(self) -> int:
        return int(self.training_set.shape[0])

    def source_weights(self) -> list[float]:
        """Weights of q_i over (p0, p_1, ..., p_{i-1}) from the *integer* block sizes actually drawn
        (equal to ``plan.weights()`` when the scheme's counts are whole numbers)."""
        w = [0.0] * self.generation
        for block, _ in self.blocks:
            w[block.source] += block.size / self.n_train
        return w


def iterate_loop(scheme: Scheme, target, generations: int, make_generator: Callable,
                 rng: np.random.Generator) -> Iterator[LoopStep]:
    """Run the self-consuming loop of ``scheme`` and yield one :class:`LoopStep` per generation.

    ``make_generator(i, n_train)`` returns an unfitted generator (``fit`` / ``sample``) for
    generation i.  Samples of each block are drawn once, in plan order, from the target
    (source 0) or from generation ``source``'s fitted model, and cached by ``Block.key`` for as
    long as a later plan lists the same key.  The loop stops after a generation whose fit has a
    fatal status (non-finite or empty data); that step is still yielded.
    """
    generations = check_positive_int("generations", generations)
    plans = scheme.plans(generations)
    last_use: dict = {}  # block key -> last generation whose plan lists it
    last_draw: dict = {}  # source j -> last generation that draws new samples of p_j
    for plan in plans:
        for block in plan.blocks:
            last_use[block.key] = plan.generation
            if block.source > 0:
                last_draw[block.source] = max(last_draw.get(block.source, 0), block.drawn_at)
    cache: dict = {}
    models: dict = {}
    for i, plan in enumerate(plans, start=1):
        blocks = []
        for block in plan.blocks:
            if block.size <= 0:
                continue
            if block.key not in cache:
                source = target if block.source == 0 else models[block.source]
                cache[block.key] = source.sample(rng, block.size)
            blocks.append((block, cache[block.key]))
        if not blocks:
            raise BoundcalcError(f"generation {i} has an empty training set; raise --n-real or --sizes")
        training_set = np.concatenate([samples for _, samples in blocks], axis=0)
        model = make_generator(i, training_set.shape[0]).fit(training_set)
        models[i] = model
        yield LoopStep(i, plan, blocks, training_set, model)
        if getattr(model, "status_", STATUS_OK) in FATAL_STATUSES:
            return
        # keep only the samples and models that later plans still use
        cache = {k: v for k, v in cache.items() if last_use[k] > i}
        models = {j: m for j, m in models.items() if last_draw.get(j, 0) > i}


def training_variance(samples) -> float:
    """Total (trace) ddof=0 variance of a training set."""
    x = np.asarray(samples, dtype=float)
    return float(np.sum(x.reshape(x.shape[0], -1).var(axis=0)))


def variance_recursion(target: GaussianMixture, sizes: Sequence[int], bandwidths: Sequence[float]) -> list[float]:
    r"""Expected training-set variance of a fixed-bandwidth KDE loop under ``replace``
    (THEORY.md section 7) [classical]:

    .. math:: v_1 = \frac{N_1 - 1}{N_1} \operatorname{tr}\Sigma_0, \qquad
              v_i = \frac{N_i - 1}{N_i}\,(v_{i-1} + d\,h_{i-1}^2),

    because the KDE of generation i-1 has covariance (training covariance + h^2 I) and the
    ddof=0 variance of N iid draws has expectation (N-1)/N times the variance.  ``sizes`` are
    N_1..N_K, ``bandwidths`` h_1..h_K.  (n = 100, h = 0.2: v_11 = 1.274, v_101 = 2.873.)
    """
    mean = target.weights @ target.means
    total_var = float(target.weights @ np.sum(target.scales ** 2 + target.means ** 2, axis=1) - mean @ mean)
    out = [(sizes[0] - 1) / sizes[0] * total_var]
    for i in range(1, len(sizes)):
        out.append((sizes[i] - 1) / sizes[i] * (out[-1] + target.dim * bandwidths[i - 1] ** 2))
    return out


def expected_laws(target: GaussianMixture, scheme: Scheme, bandwidths: Sequence[float]):
    r"""Lemma K4 [derived]: the exact expected laws r_1..r_K of a Gaussian-KDE loop,
    ``r_0 = p0``, ``r_i = (sum_j w_ij r_j) * phi_{h_i}``.

    Returns ``(laws, source)``.  With one bandwidth for all generations this is
    :func:`boundcalc.theory.kde.expected_training_mixtures`; with per-generation bandwidths
    (``--bandwidth auto`` and a growing N_i) it is computed here from ``mixture_of`` and
    ``GaussianMixture.convolve``.
    """
    generations = len(bandwidths)
    if len(set(bandwidths)) == 1:
        from boundcalc.model.kde_law import expected_training_mixtures
        return (expected_training_mixtures(target, scheme, bandwidths[0], generations),
                "boundcalc.theory.kde.expected_training_mixtures")
    laws = [target]
    for i, plan in enumerate(scheme.plans(generations), start=1):
        mixed = mixture_of([(w, laws[j]) for j, w in enumerate(plan.weights())])
        laws.append(mixed.convolve(bandwidths[i - 1]))
    return laws[1:], "boundcalc.validate.kde.expected_laws (per-generation bandwidths)"


# --------------------------------------------------------------------------------------------
# configuration and run context
# --------------------------------------------------------------------------------------------
def _parse_bandwidth(value):
    if value is None or value == "auto":
        return "auto"
    try:
        h = float(value)
    except (TypeError, ValueError):
        raise BoundcalcError(f"bandwidth must be a number > 0 or 'auto', got {value!r}") from None
    if not (math.isfinite(h) and h > 0):
        raise BoundcalcError(f"bandwidth must be a number in (0, inf) or 'auto', got {value}")
    return h


def _check_at_most(name: str, value, limit, unit: str):
    if value > limit:
        raise BoundcalcError(f"{name} must be at most {limit} {unit} (a size guard: larger runs take many "
                             f"minutes or exhaust memory), got {value}")
    return value


@dataclass(frozen=True)
class KDEValidationConfig:
    """Inputs of ``boundcalc validate kde`` (validated by :meth:`checked`)."""

    scheme: str = "replace"
    generations: int = 5
    n_real: int = 1000
    n_synth: int | None = None
    real_data: str = "fresh"
    bandwidth: object = "auto"
    target: str = "bimodal"
    seeds: int = 10
    seed: int = 0
    delta: float = 0.05
    grid_size: int | None = None
    real_fractions: tuple | None = None
    sizes: tuple | None = None

    def checked(self) -> "KDEValidationConfig":
        check_choice("scheme", self.scheme, SCHEMES)
        check_choice("real_data", self.real_data, REAL_DATA)
        seed = check_positive_int("seed", self.seed, minimum=0)
        if self.grid_size is not None:
            _check_at_most("grid_size (--grid-size)", check_positive_int("grid_size", self.grid_size, minimum=16),
                           MAX_GRID_NODES, "grid nodes (2^20)")
        n_synth = None if self.n_synth is None else check_positive_int("n_synth", self.n_synth, minimum=0)
        n_real = check_positive_int("n_real", self.n_real, minimum=2)
        _check_at_most("n_real (--n-real)", n_real, MAX_BLOCK_SAMPLES, "samples per block")
        if n_synth is not None:
            _check_at_most("n_synth (--n-synth)", n_synth, MAX_BLOCK_SAMPLES, "samples per block")
        return KDEValidationConfig(
            scheme=self.scheme, generations=check_positive_int("generations", self.generations),
            n_real=n_real, n_synth=n_synth,
            real_data=self.real_data, bandwidth=_parse_bandwidth(self.bandwidth),
            target=self.target or "bimodal", seeds=check_positive_int("seeds", self.seeds), seed=seed,
            delta=float(check_probability("delta", self.delta)),
            grid_size=None if self.grid_size is None else int(self.grid_size),
            real_fractions=None if self.real_fractions is None else tuple(float(x) for x in self.real_fractions),
            sizes=None if self.sizes is None else tuple(float(x) for x in self.sizes))

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("real_fractions", "sizes"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    def make_scheme(self) -> Scheme:
        real_fraction = real_fractions = None
        if self.real_fractions is not None:
            if self.scheme == "schedule":
                real_fractions = self.real_fractions
            elif self.scheme == "mix" and len(self.real_fractions) == 1:
                real_fraction = self.real_fractions[0]
            else:
                raise BoundcalcError("real_fractions applies to schedule (one value per generation 2..K, "
                                     "or one for all) and to mix (one value)")
        if self.sizes is not None and self.scheme != "schedule":
            raise BoundcalcError(f"sizes applies to the schedule scheme, not {self.scheme}")
        scheme = make_scheme(self.scheme, self.n_real, self.n_synth, self.real_data,
                             real_fraction=real_fraction, real_fractions=real_fractions, sizes=self.sizes)
        if self.scheme == "schedule":
            scheme.check_generations(self.generations)
        return scheme


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
    if config.bandwidth == "auto":
        auto = {n: float(kde_terms.auto_bandwidth(target, n)) for n in sorted(set(sizes))}
        bandwidths = [auto[n] for n in sizes]
        policy = "auto: lemma K3 bandwidth for N_i samples of the target (depends on N_i only, not on the data)"
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
    laws, source = expected_laws(target, scheme, bandwidths)
    law_grids = [gridlib.density_on_grid(r, grid) for r in laws]
    masses = [gridlib.integral_on_grid(p0_grid, grid)] + [gridlib.integral_on_grid(r, grid) for r in law_grids]
    worst = int(np.argmax(np.abs(np.array(masses) - 1.0)))
    if abs(masses[worst] - 1.0) > MASS_TOLERANCE:
        what = "p0" if worst == 0 else f"the K4 law r_{worst}"
        raise BoundcalcError(
            f"grid integral of {what} is {masses[worst]:.9g}, not within {MASS_TOLERANCE:g} of 1: the grid does not "
            f"resolve the target; raise --grid-size (now {grid.shape[0]}) or use a smoother --target")
    grid_accuracy = {"p0_mass": masses[0], "worst_reference_mass_error": float(np.max(np.abs(np.array(masses[1:]) - 1))),
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
    else:  # one event per distinct (block, bandwidth): a block smoothed with two bandwidths is two events
        events = len({(b.key, h) for p, h in zip(plans, bandwidths) for b in p.blocks if b.size > 0})
    lower = [gridlib.tv_on_grid(r, p0_grid, grid) for r in law_grids]
    last_source_use = {}
    for plan in plans:
        for block in plan.blocks:
            last_source_use[block.source] = plan.generation
    return RunContext(config, target, scheme, plans, sizes, bandwidths, policy, grid, p0_grid, lap,
                      [float(kde_terms.kde_bias_tv(h, lap)) for h in bandwidths], split.mode, events,
                      config.delta / events, lower, source, grid_accuracy, last_source_use)


# --------------------------------------------------------------------------------------------
# one seed
# --------------------------------------------------------------------------------------------
RUN_FIELDS = ("a", "eps", "tv_q_p0", "coefficient_sum", "stochastic", "one_step_bound",
              "composed_bound", "train_variance", "outside_fraction", "kde_mass_lost")
#: the two bounds held against a_i
BOUND_FIELDS = ("one_step_bound", "composed_bound")


def seed_rng(base: int, index: int) -> np.random.Generator:
    """The generator of seed ``index``: ``default_rng(SeedSequence([base, index]))``."""
    return np.random.default_rng(np.random.SeedSequence([int(base), int(index)]))


def run_seed(ctx: RunContext, index: int, make_generator: Callable | None = None,
             on_generation: Callable | None = None, partial: dict | None = None) -> dict:
    """One seeded loop: the per-generation measurements as a JSON-ready record.

    Lists have one entry per generation; generations after a fatal status are None.  If
    ``partial`` is a dict it is overwritten after every generation with the record so far (so an
    interrupted run can report the generations it finished).
    """
    cfg = ctx.config
    K = cfg.generations
    make_generator = make_generator or (lambda i, n: GaussianKDE(ctx.bandwidths[i - 1]))
    record = {key: [math.nan] * K for key in RUN_FIELDS}
    statuses = []
    densities = {0: ctx.p0_grid}
    k2_cache: dict = {}
    rng = seed_rng(cfg.seed, index)
    for step in iterate_loop(ctx.scheme, ctx.target, K, make_generator, rng):
        i, h = step.generation, ctx.bandwidths[step.generation - 1]
        statuses.append(step.model.status_)
        if step.model.status_ in FATAL_STATUSES:
            break
        p_i, outside = step.model.density(ctx.grid)
        weights = step.source_weights()
        q_i = sum(w * densities[j] for j, w in enumerate(weights) if w > 0)
        a_i = gridlib.tv_on_grid(p_i, ctx.p0_grid, ctx.grid)
        tv_q = gridlib.tv_on_grid(q_i, ctx.p0_grid, ctx.grid)
        if ctx.split_mode == "joint":
            s_i = ctx.stochastic_term(step.n_train, h, gridlib.k2_integral_on_grid(q_i, ctx.grid, h))
        else:
            s_i = 0.0
            for block, _ in step.blocks:
                key = (block.source, h)
                if key not in k2_cache:
                    k2_cache[key] = gridlib.k2_integral_on_grid(densities[block.source], ctx.grid, h)
                s_i += block.size / step.n_train * ctx.stochastic_term(block.size, h, k2_cache[key])
        previous = record["a"][: i - 1]
        composed_prev = record["composed_bound"][: i - 1]
        record["a"][i - 1] = a_i
        record["eps"][i - 1] = gridlib.tv_on_grid(p_i, q_i, ctx.grid)
        record["tv_q_p0"][i - 1] = tv_q
        record["coefficient_sum"][i - 1] = float(sum(w * previous[j - 1] for j, w in enumerate(weights) if j > 0))
        record["stochastic"][i - 1] = s_i
        record["one_step_bound"][i - 1] = ctx.bias[i - 1] + s_i + tv_q
        record["composed_bound"][i - 1] = ctx.bias[i - 1] + s_i + float(
            sum(w * composed_prev[j - 1] for j, w in enumerate(weights) if j > 0))
        record["train_variance"][i - 1] = training_variance(step.training_set)
        record["outside_fraction"][i - 1] = outside
        # mass of the KDE missing from the grid (samples outside it, kernel tails beyond it): the
        # grid TV differs from the TV on the whole space by at most half of it plus p0's (< 1e-6)
        record["kde_mass_lost"][i - 1] = 1.0 - gridlib.integral_on_grid(p_i, ctx.grid)
        densities[i] = p_i
        densities = {j: d for j, d in densities.items() if j == 0 or ctx.last_source_use.get(j, 0) > i}
        if partial is not None:
            partial.clear()
            partial.update(_record(index, statuses, record))
        if on_generation:
            on_generation()
    return _record(index, statuses, record)


def _record(index, statuses, record) -> dict:
    fatal = [s for s in statuses if s in FATAL_STATUSES]
    out = {"seed_index": index, "status": fatal[0] if fatal else STATUS_OK,
           "generation_status": list(statuses),
           "generations_finished": sum(1 for x in record["a"] if not math.isnan(x))}
    out.update({key: nan_to_none(values) for key, values in record.items()})
    # TV <= 1, so a bound >= 1 says nothing: flagged, and not counted as evidence by the checks
    out["vacuous_generations"] = {key: [i for i, b in enumerate(record[key], start=1)
                                        if not math.isnan(b) and b >= VACUOUS_BOUND] for key in BOUND_FIELDS}
    return out


# --------------------------------------------------------------------------------------------
# aggregation and checks
# --------------------------------------------------------------------------------------------
def _matrix(runs: list, key: str) -> np.ndarray:
    return np.array([none_to_nan(r[key]) for r in runs], dtype=float)


def bound_evidence(measured: np.ndarray, bound: np.ndarray, delta: float, alpha: float = BINOMIAL_ALPHA) -> dict:
    """One-sided binomial test of "each run violates the bound with probability at most delta".

    ``measured`` and ``bound`` are (runs, generations); a run *violates* when ``measured > bound``
    at some generation with a value.  Runs are independent, so under the theorem the number of
    violating runs V among the S runs with a value is stochastically at most Bin(S, delta), and
    ``p_value = P(Bin(S, delta) >= V)``; the check fails only when ``p_value < alpha``.  Bounds
    >= 1 (TV <= 1 always) are vacuous: they cannot be violated and are not counted as evidence;
    the counts of non-vacuous generations and runs say how much the check rests on.
    """
    rows = [r for r in range(measured.shape[0]) if np.isfinite(measured[r]).any()]
    runs = len(rows)
    violating = non_vacuous_runs = non_vacuous = vacuous = 0
    for r in rows:
        m, b = measured[r], bound[r]
        has = np.isfinite(m)
        violating += bool(np.any(m[has] > b[has]))
        useful = has & (b < VACUOUS_BOUND)
        non_vacuous += int(useful.sum())
        vacuous += int((has & ~(b < VACUOUS_BOUND)).sum())
        non_vacuous_runs += bool(useful.any())
    from scipy import stats  # here, not at import: scipy.stats costs 0.3-0.5 s to import
    p_value = float(stats.binom.sf(violating - 1, runs, delta)) if runs else math.nan
    return {"runs": runs, "runs_violating": violating,
            "share_of_runs_holding": (runs - violating) / runs if runs else math.nan,
            "delta": delta, "p_value": p_value, "alpha": alpha,
            "runs_with_non_vacuous_bound": non_vacuous_runs, "non_vacuous_generations": non_vacuous,
            "vacuous_generations": vacuous, "vacuous": non_vacuous == 0,
            "passed": bool(runs) and p_value >= alpha}


def build_checks(ctx: RunContext, runs: list, summary: dict) -> list[Check]:
    a, eps, tvq = _matrix(runs, "a"), _matrix(runs, "eps"), _matrix(runs, "tv_q_p0")
    checks = []
    finite = np.isfinite(a)
    slack = (eps + tvq - a)[finite]
    worst = float(slack.min()) if slack.size else math.nan
    checks.append(Check(
        "recursion_step", bool(slack.size and worst >= -RECURSION_TOLERANCE),
        "a_i <= eps_i + TV(q_i, p0) on every generation of every run (theorem T2; grid TV is a seminorm, so this "
        f"holds by construction and tests the bookkeeping; tolerance {RECURSION_TOLERANCE:g} for rounding)",
        {"kind": KIND_CONSISTENCY, "steps_checked": int(slack.size), "worst_slack": worst,
         "tolerance": RECURSION_TOLERANCE}))

    coef = _matrix(runs, "coefficient_sum")
    later = np.zeros_like(a, dtype=bool)
    later[:, 1:] = True
    gap = (coef - tvq)[finite & later]
    exact = ctx.scheme.exact_recursion
    if gap.size == 0:
        ok, worst_gap = True, math.nan
    elif exact:
        worst_gap = float(np.max(np.abs(gap)))
        ok = worst_gap <= RECURSION_TOLERANCE
    else:
        worst_gap = float(gap.min())
        ok = worst_gap >= -RECURSION_TOLERANCE
    checks.append(Check(
        "scheme_coefficients",
        ok, ("TV(q_i, p0) = sum_j w_ij a_j (mixture identity T1)" if exact else
             "TV(q_i, p0) <= sum_j w_ij a_j (convexity of TV)") + " on every later generation of every run "
        "(holds by construction on the grid; tests that q_i is the scheme's mixture)",
        {"kind": KIND_CONSISTENCY, "steps_checked": int(gap.size),
         "worst_gap" if not exact else "worst_abs_gap": worst_gap, "tolerance": RECURSION_TOLERANCE}))

    lost = _matrix(runs, "kde_mass_lost")[finite]
    outside = _matrix(runs, "outside_fraction")[finite]
    worst_lost = float(np.max(np.abs(lost))) if lost.size else math.nan
    acc = ctx.grid_accuracy
    checks.append(Check(
        "grid_mass", bool(lost.size) and worst_lost <= MASS_TOLERANCE,
        f"every fitted KDE p_i has grid integral within {MASS_TOLERANCE:g} of 1 (no sample or kernel mass "
        "off the grid), so the grid TVs are those of the whole space up to that and the quadrature error; "
        f"p0 and every K4 law r_i were required to (run refused otherwise)",
        {"kind": KIND_NUMERICAL, "worst_kde_mass_lost": worst_lost,
         "largest_outside_fraction": float(np.max(outside)) if outside.size else math.nan,
         "tolerance": MASS_TOLERANCE, "p0_mass": acc["p0_mass"],
         "worst_reference_mass_error": acc["worst_reference_mass_error"],
         "smallest_scale_in_spacings": acc["smallest_scale_in_spacings"]}))

    for name, words in (("composed_bound", "a_i <= B_i = b(h_i) + s_i + sum_j w_ij B_j for all i"),
                        ("one_step_bound", "a_i <= b(h_i) + s_i + TV(q_i, p0) for all i")):
        ev = bound_evidence(a, _matrix(runs, name), ctx.config.delta)
        passed = ev.pop("passed")
        checks.append(Check(
            name, passed,
            f"{words} (THEORY.md 4.3, explicit constants) fails in a run with probability <= delta: fail only if "
            f"P(Bin(runs, delta) >= runs violating) < {BINOMIAL_ALPHA:g}; bounds >= 1 are vacuous and not evidence",
            {"kind": KIND_BOUND, **ev}))

    mean, se = np.array(summary["a"]["mean"], float), np.array(summary["a"]["se"], float)
    lower = np.array(ctx.lower_reference)
    se_used = np.where(np.isfinite(se), se, 0.0)
    margin = mean + LOWER_REFERENCE_STANDARD_ERRORS * se_used - lower
    valid = np.isfinite(mean)
    checks.append(Check(
        "above_lower_reference", bool(np.all(margin[valid] >= 0)),
        f"Monte-Carlo mean of a_i + {LOWER_REFERENCE_STANDARD_ERRORS:g} se >= TV(r_i, p0) of lemma K4 "
        "(E TV(p_i, p0) >= TV(E p_i, p0) by convexity)",
        {"kind": KIND_REFERENCE, "worst_margin": float(margin[valid].min()) if valid.any() else math.nan,
         "standard_errors": LOWER_REFERENCE_STANDARD_ERRORS}))

    if ctx.config.scheme == "replace" and ctx.bandwidth_policy == "fixed":
        expected = np.array(variance_recursion(ctx.target, ctx.sizes, ctx.bandwidths))
        vm = np.array(summary["train_variance"]["mean"], float)
        vse = np.array(summary["train_variance"]["se"], float)
        ok_rows = np.isfinite(vm) & np.isfinite(vse)
        z = np.abs(vm - expected)[ok_rows] / np.maximum(vse[ok_rows], 1e-300)
        checks.append(Check(
            "reference_variance_recursion", bool(ok_rows.any() and np.all(z <= REFERENCE_STANDARD_ERRORS)),
            "mean training-set variance follows v_i = ((N-1)/N)(v_{i-1} + d h^2) (THEORY.md section 7) within "
            f"{REFERENCE_STANDARD_ERRORS:g} standard errors",
            {"kind": KIND_REFERENCE, "expected": expected.tolist(), "largest_z": float(z.max()) if z.size else math.nan,
             "standard_errors": REFERENCE_STANDARD_ERRORS}))
    return checks


def summarize_runs(ctx: RunContext, runs: list, status: str) -> dict:
    """The JSON object of a validation: inputs, per-generation summaries, bound, reference, checks."""
    runs = sorted(runs, key=lambda r: r["seed_index"])
    summary = {key: summarize_over_seeds(_matrix(runs, key)) for key in RUN_FIELDS} if runs else {}
    checks = [c.to_dict() for c in build_checks(ctx, runs, summary)] if runs else []
    for block in summary.values():
        for key in list(block):
            if key != "count":
                block[key] = nan_to_none(block[key])
    for key in BOUND_FIELDS if runs else ():
        # per generation: runs whose bound is vacuous (>= 1) there
        summary[key]["vacuous_runs"] = [sum(1 for r in runs if g in r["vacuous_generations"][key])
                                        for g in range(1, ctx.config.generations + 1)]
    return {
        "validator": "kde",
        "status": status,
        "inputs": ctx.config.to_dict(),
        "target": ctx.target.to_dict(),
        "scheme": ctx.scheme.to_dict(),
        "bandwidth": {"policy": ctx.bandwidth_policy, "per_generation": ctx.bandwidths},
        "training_set_sizes": ctx.sizes,
        "grid": {**ctx.grid.to_dict(), **ctx.grid_accuracy},
        "failure_split": {"mode": ctx.split_mode, "events": ctx.events, "delta": ctx.config.delta,
                          "per_event_delta": ctx.per_event_delta},
        "laplacian_l1": ctx.laplacian_l1,
        "bias_tv": ctx.bias,
        "lower_reference": {"tv_r_p0": ctx.lower_reference, "source": ctx.lower_reference_source},
        "generations": list(range(1, ctx.config.generations + 1)),
        "seeds_finished": len(runs),
        "runs_stopped_on_degenerate_data": sum(1 for r in runs if r["status"] != STATUS_OK),
        "summary": summary,
        "checks": checks,
        "all_checks_passed": bool(checks) and all(c["passed"] for c in checks),
        "vacuous_checks": [c["name"] for c in checks if c.get("vacuous")],
        "runs": runs,
    }


# --------------------------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------------------------
@dataclass
class KDEValidation:
    """Result of :func:`validate_kde`: ``data`` is the JSON object (see ``summarize_runs``)."""

    data: dict

    @property
    def passed(self) -> bool:
        return self.data["all_checks_passed"]

    @property
    def status(self) -> str:
        return self.data["status"]

    def to_json(self) -> str:
        return dumps(self.data)


def validate_kde(config: KDEValidationConfig, out_dir=None, resume: bool = False,
                 progress: bool | None = None, after_seed: Callable | None = None,
                 make_generator: Callable | None = None) -> KDEValidation:
    """Run S seeded KDE loops and hold them against the bounds.

    With ``out_dir`` the state file ``kde_state.json`` is rewritten atomically after every
    finished seed, and ``resume=True`` continues from it (seeds are independent streams
    ``SeedSequence([seed, k])``, so a resumed run gives the same JSON as an uninterrupted one).
    On ``KeyboardInterrupt`` the finished seeds are kept, ``kde_validation.json`` is written
    with status "interrupted" (with the generations finished by the seed in progress as
    ``partial_run``) and the interrupt propagates.  ``after_seed(index)`` is called
    after each finished seed (used by tests to interrupt).  The ``out_dir`` folder is created and
    tested for writing before the first seed (:func:`prepare_out_dir`); size guards and the grid
    resolution are checked in :func:`build_context`, also before anything is drawn.
    """
    config = config.checked()
    if resume and out_dir is None:
        raise BoundcalcError("--resume needs --out DIR (the folder holding kde_state.json)")
    ctx = build_context(config)
    inputs = config.to_dict()
    state_path = Path(out_dir) / STATE_FILE if out_dir is not None else None
    runs = load_state(state_path, inputs) if resume else {}
    if any(key not in run for run in runs.values() for key in (*RUN_FIELDS, "vacuous_generations")):
        raise BoundcalcError(f"--resume: the state file {state_path} was written by an older boundcalc "
                             "(fields missing); start again with a fresh --out folder")
    if out_dir is not None:
        prepare_out_dir(out_dir)
    todo = [k for k in range(config.seeds) if k not in runs]
    status = "complete"
    bar = ProgressBar(len(todo) * config.generations, "validate kde", enabled=progress)
    partial: dict = {}
    try:
        for k in todo:
            partial.clear()
            runs[k] = run_seed(ctx, k, make_generator, on_generation=bar.update, partial=partial)
            partial.clear()
            if state_path is not None:
                save_state(state_path, inputs, runs)
            if after_seed:
                after_seed(k)
    except KeyboardInterrupt:
        status = "interrupted"
        if out_dir is not None:
            # the seed cut in the middle is kept for inspection (partial_run); --resume recomputes
            # it from its own seed stream, which gives the same numbers
            data = summarize_runs(ctx, list(runs.values()), status)
            data["partial_run"] = dict(partial) or None
            save_state(state_path, inputs, runs, partial=data["partial_run"])
            write_atomic(Path(out_dir) / RESULT_FILE, dumps(data))
        raise
    except OSError as exc:
        if out_dir is None:
            raise
        raise BoundcalcError(f"--out {out_dir}: cannot write {getattr(exc, 'filename', None) or 'the state file'}: "
                             f"{exc.strerror or exc}") from None
    finally:
        bar.close()
    result = KDEValidation(summarize_runs(ctx, list(runs.values()), status))
    if out_dir is not None:
        try:
            write_atomic(Path(out_dir) / RESULT_FILE, result.to_json())
        except OSError as exc:
            raise BoundcalcError(f"--out {out_dir}: cannot write {RESULT_FILE}: {exc.strerror or exc}") from None
    return result


def prepare_out_dir(out_dir) -> Path:
    """Create the ``--out`` folder (with parents) and make sure a file can be written in it, before
    any run starts; any OSError (an existing file of that name, no permission, a read-only or
    virtual file system) becomes a one-line :class:`BoundcalcError`."""
    path = Path(out_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".boundcalc_write_test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        what = "exists and is not a folder" if path.exists() and not path.is_dir() else "cannot be created or written"
        raise BoundcalcError(f"--out {out_dir}: {what} ({exc.strerror or exc}); choose another folder") from None
    return path


def summary_table(data: dict) -> str:
    """The readable summary printed by default: one row per generation, then the checks."""
    s = data["summary"]
    rows = []
    for k, gen in enumerate(data["generations"]):
        def m(key):
            return s[key]["mean"][k]
        lo, hi = s["a"]["ci95_low"][k], s["a"]["ci95_high"][k]
        interval = "-" if lo is None or hi is None else f"[{lo:.4f}, {hi:.4f}]"
        counted = s["a"]["count"][k]
        useful = counted - s["composed_bound"]["vacuous_runs"][k]
        rows.append([gen, data["bandwidth"]["per_generation"][k], m("a"), interval, m("eps"), m("tv_q_p0"),
                     data["lower_reference"]["tv_r_p0"][k], m("one_step_bound"), m("composed_bound"),
                     f"{useful}/{counted}"])
    inp = data["inputs"]
    title = (f"KDE loop: scheme {inp['scheme']}, target {inp['target']}, n_real {inp['n_real']}, "
             f"{data['seeds_finished']}/{inp['seeds']} seeds, delta {inp['delta']} "
             f"({data['failure_split']['mode']} failure split over {data['failure_split']['events']} events); "
             f"means over seeds")
    table = format_table(["gen", "h", "a_i", "a_i 95% CI", "eps_i", "TV(q,p0)", "TV(r,p0)",
                          "1-step bnd", "composed", "B_i<1 runs"], rows, title)
    verdict = "all checks passed" if data["all_checks_passed"] else "SOME CHECKS FAILED"
    if data.get("vacuous_checks"):
        verdict += (f"; VACUOUS: {', '.join(data['vacuous_checks'])} (every bound >= 1, TV <= 1 always: "
                    "no evidence for the bound)")
    return f"{table}\nchecks ({verdict}; status {data['status']}):\n{format_checks(data['checks'])}"
