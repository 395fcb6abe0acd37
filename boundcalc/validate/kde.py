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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .. import kde_terms
from ..errors import (BoundcalcError, check_choice, check_positive, check_positive_int,
                      check_probability)
from ..io import dumps, write_atomic
from ..schemes import REAL_DATA, SCHEMES, GenerationPlan, Scheme, make_scheme
from ..targets import GaussianMixture, mixture_of, parse_target
from . import grid as gridlib
from .report import (Check, ProgressBar, format_checks, format_table, load_state, nan_to_none,
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

STATE_FILE = "kde_state.json"
RESULT_FILE = "kde_validation.json"


# --------------------------------------------------------------------------------------------
# generators
# --------------------------------------------------------------------------------------------
def _data_status(x: np.ndarray) -> str:
    if x.size == 0:
        return STATUS_EMPTY
    if not np.all(np.isfinite(x)):
        return STATUS_NON_FINITE
    if np.all(x == x.reshape(x.shape[0], -1)[0]):
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
        index = rng.integers(self.n_, size=size)
        return self.samples_[index] + self.bandwidth * rng.standard_normal(self.samples_[index].shape)

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
    :func:`boundcalc.lemmas.kde.expected_training_mixtures`; with per-generation bandwidths
    (``--bandwidth auto`` and a growing N_i) it is computed here from ``mixture_of`` and
    ``GaussianMixture.convolve``.
    """
    generations = len(bandwidths)
    if len(set(bandwidths)) == 1:
        from ..lemmas.kde import expected_training_mixtures
        return (expected_training_mixtures(target, scheme, bandwidths[0], generations),
                "boundcalc.lemmas.kde.expected_training_mixtures")
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
            check_positive_int("grid_size", self.grid_size, minimum=16)
        n_synth = None if self.n_synth is None else check_positive_int("n_synth", self.n_synth, minimum=0)
        return KDEValidationConfig(
            scheme=self.scheme, generations=check_positive_int("generations", self.generations),
            n_real=check_positive_int("n_real", self.n_real, minimum=2), n_synth=n_synth,
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
    last_source_use: dict = field(default_factory=dict)  # source j -> last generation whose q_i uses p_j

    def stochastic_term(self, n: int, h: float, k2_integral: float) -> float:
        return float(kde_terms.kde_stochastic_tv(n, h, self.target.dim, k2_integral, self.per_event_delta))


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
    if config.bandwidth == "auto":
        auto = {n: float(kde_terms.auto_bandwidth(target, n)) for n in sorted(set(sizes))}
        bandwidths = [auto[n] for n in sizes]
        policy = "auto: lemma K3 bandwidth for N_i samples of the target (depends on N_i only, not on the data)"
    else:
        bandwidths = [float(config.bandwidth)] * config.generations
        policy = "fixed"
    grid_size = config.grid_size or (4096 if target.dim == 1 else 256)
    grid = gridlib.grid_for_target(target, grid_size, extra_variance=float(np.sum(np.square(bandwidths))))
    min_spacing = max(grid.spacing)
    if min(bandwidths) / math.sqrt(2) < gridlib.MIN_SD_IN_SPACINGS * min_spacing:
        raise BoundcalcError(
            f"bandwidth {min(bandwidths):.4g} is too small for the grid (spacing {min_spacing:.4g}; "
            f"need h >= {math.sqrt(2) * min_spacing:.4g}): raise --grid-size (now {grid_size}) or --bandwidth")
    lap = float(target.laplacian_l1())
    split = kde_terms.kde_failure_split(scheme, config.generations, config.delta)
    if split.mode == "joint":
        events = split.events
    else:  # one event per distinct (block, bandwidth): a block smoothed with two bandwidths is two events
        events = len({(b.key, h) for p, h in zip(plans, bandwidths) for b in p.blocks if b.size > 0})
    p0_grid = gridlib.density_on_grid(target, grid)
    laws, source = expected_laws(target, scheme, bandwidths)
    lower = [gridlib.tv_on_grid(gridlib.density_on_grid(r, grid), p0_grid, grid) for r in laws]
    last_source_use = {}
    for plan in plans:
        for block in plan.blocks:
            last_source_use[block.source] = plan.generation
    return RunContext(config, target, scheme, plans, sizes, bandwidths, policy, grid, p0_grid, lap,
                      [float(kde_terms.kde_bias_tv(h, lap)) for h in bandwidths], split.mode, events,
                      config.delta / events, lower, source, last_source_use)


# --------------------------------------------------------------------------------------------
# one seed
# --------------------------------------------------------------------------------------------
RUN_FIELDS = ("a", "eps", "tv_q_p0", "coefficient_sum", "stochastic", "one_step_bound",
              "composed_bound", "train_variance", "outside_fraction")


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
    return out


# --------------------------------------------------------------------------------------------
# aggregation and checks
# --------------------------------------------------------------------------------------------
def _matrix(runs: list, key: str) -> np.ndarray:
    return np.array([none_to_nan(r[key]) for r in runs], dtype=float)


def _share_holding(measured: np.ndarray, bound: np.ndarray) -> tuple[float, int]:
    """Share of runs in which ``measured <= bound`` at every generation that has a value."""
    holds = [bool(np.all((m <= b)[np.isfinite(m)])) for m, b in zip(measured, bound)]
    return float(np.mean(holds)), int(len(holds) - sum(holds))


def build_checks(ctx: RunContext, runs: list, summary: dict) -> list[Check]:
    a, eps, tvq = _matrix(runs, "a"), _matrix(runs, "eps"), _matrix(runs, "tv_q_p0")
    checks = []
    finite = np.isfinite(a)
    slack = (eps + tvq - a)[finite]
    worst = float(slack.min()) if slack.size else math.nan
    checks.append(Check(
        "recursion_step", bool(slack.size and worst >= -RECURSION_TOLERANCE),
        "a_i <= eps_i + TV(q_i, p0) on every generation of every run (theorem T2; grid TV is a seminorm, "
        f"tolerance {RECURSION_TOLERANCE:g} for rounding)",
        {"steps_checked": int(slack.size), "worst_slack": worst, "tolerance": RECURSION_TOLERANCE}))

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
             "TV(q_i, p0) <= sum_j w_ij a_j (convexity of TV)") + " on every later generation of every run",
        {"steps_checked": int(gap.size), "worst_gap" if not exact else "worst_abs_gap": worst_gap,
         "tolerance": RECURSION_TOLERANCE}))

    required = 1.0 - ctx.config.delta
    for name, key, words in (("composed_bound", "composed_bound",
                              "a_i <= B_i = b(h_i) + s_i + sum_j w_ij B_j for all i"),
                             ("one_step_bound", "one_step_bound",
                              "a_i <= b(h_i) + s_i + TV(q_i, p0) for all i")):
        share, failures = _share_holding(a, _matrix(runs, key))
        checks.append(Check(name, share >= required,
                            f"{words} in at least a 1 - delta share of runs (THEORY.md 4.3, explicit constants)",
                            {"share_of_runs": share, "required_share": required, "runs_violating": failures}))

    mean, se = np.array(summary["a"]["mean"], float), np.array(summary["a"]["se"], float)
    lower = np.array(ctx.lower_reference)
    se_used = np.where(np.isfinite(se), se, 0.0)
    margin = mean + LOWER_REFERENCE_STANDARD_ERRORS * se_used - lower
    valid = np.isfinite(mean)
    checks.append(Check(
        "above_lower_reference", bool(np.all(margin[valid] >= 0)),
        f"Monte-Carlo mean of a_i + {LOWER_REFERENCE_STANDARD_ERRORS:g} se >= TV(r_i, p0) of lemma K4 "
        "(E TV(p_i, p0) >= TV(E p_i, p0) by convexity)",
        {"worst_margin": float(margin[valid].min()) if valid.any() else math.nan,
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
            {"expected": expected.tolist(), "largest_z": float(z.max()) if z.size else math.nan,
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
    return {
        "validator": "kde",
        "status": status,
        "inputs": ctx.config.to_dict(),
        "target": ctx.target.to_dict(),
        "scheme": ctx.scheme.to_dict(),
        "bandwidth": {"policy": ctx.bandwidth_policy, "per_generation": ctx.bandwidths},
        "training_set_sizes": ctx.sizes,
        "grid": ctx.grid.to_dict(),
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
    after each finished seed (used by tests to interrupt).
    """
    config = config.checked()
    if resume and out_dir is None:
        raise BoundcalcError("--resume needs --out DIR (the folder holding kde_state.json)")
    ctx = build_context(config)
    inputs = config.to_dict()
    state_path = Path(out_dir) / STATE_FILE if out_dir is not None else None
    runs = load_state(state_path, inputs) if resume else {}
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
    finally:
        bar.close()
    result = KDEValidation(summarize_runs(ctx, list(runs.values()), status))
    if out_dir is not None:
        write_atomic(Path(out_dir) / RESULT_FILE, result.to_json())
    return result


def summary_table(data: dict) -> str:
    """The readable summary printed by default: one row per generation, then the checks."""
    s = data["summary"]
    rows = []
    for k, gen in enumerate(data["generations"]):
        def m(key):
            return s[key]["mean"][k]
        lo, hi = s["a"]["ci95_low"][k], s["a"]["ci95_high"][k]
        interval = "-" if lo is None or hi is None else f"[{lo:.4f}, {hi:.4f}]"
        rows.append([gen, data["bandwidth"]["per_generation"][k], m("a"), interval, m("eps"), m("tv_q_p0"),
                     data["lower_reference"]["tv_r_p0"][k], m("one_step_bound"), m("composed_bound")])
    inp = data["inputs"]
    title = (f"KDE loop: scheme {inp['scheme']}, target {inp['target']}, n_real {inp['n_real']}, "
             f"{data['seeds_finished']}/{inp['seeds']} seeds, delta {inp['delta']} "
             f"({data['failure_split']['mode']} failure split over {data['failure_split']['events']} events); "
             f"means over seeds")
    table = format_table(["gen", "h", "a_i", "a_i 95% CI", "eps_i", "TV(q,p0)", "TV(r,p0)",
                          "1-step bnd", "composed"], rows, title)
    verdict = "all checks passed" if data["all_checks_passed"] else "SOME CHECKS FAILED"
    return f"{table}\nchecks ({verdict}; status {data['status']}):\n{format_checks(data['checks'])}"
