"""One self-consuming diffusion loop on the shared scheme module, measured on a fixed partition.

Generation i is trained on the blocks of ``scheme.plan(i)`` by the one loop of the validators
(:func:`boundcalc.validate.loop.iterate_loop`), with :class:`DiffusionGenerator` as the
generator: source 0 is real data drawn from the target, source j >= 1 is samples of generation j's model (probability-flow ODE
sampler ``Psi(u)``, ``u ~ N(0, 1)``).  Blocks with the same ``key`` are the same samples
(cached), so reused real data and the synthetic data that ``accumulate`` keeps are really reused.

Every law is measured as its vector of probabilities of the grid's cells plus the two tails
(a partition of the line): p0 from its exact CDF, p_j as ``Phi(Psi_j^-1(e_{k+1})) -
Phi(Psi_j^-1(e_k))`` by certified bracketed inversion of the sampler's own map
(:func:`ode.cell_probabilities`), so the vector is the law of exactly the samples fed forward.

* ``q_i = sum_j w_ij P_j`` with ``w_ij`` = (samples of source j actually drawn) / (training size);
* ``a_i = TV(P_i, P0)``, ``eps_i = TV(P_i, q_i)``, ``tv_q_i = TV(q_i, P0)`` on the partition: each is
  a lower bound of the continuous TV (data processing) and every model's cell vector sums to 1;
* the **validity gate** of every model: increasing map, inversion converged with total probability
  uncertainty <= ``ode.TOTAL_TOLERANCE``, probabilities summing to 1; a failed model is
  "unmeasured" (its a_i, eps_i are NaN) and fails the run;
* the **forwarded-sample test**: the samples of p_j fed to later generations, binned on the same
  partition, against P_j by a chi-square test (:func:`sample_test`);
* the recursion step ``a_i <= eps_i + tv_q_i`` (lemma T2): on one partition the TV is a seminorm
  of the probability vectors, so it holds by construction (a consistency check: a violation beyond
  rounding, ``RECURSION_TOLERANCE``, is a bug).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from boundcalc._checks import BoundcalcError, check_choice, check_positive, check_positive_int, check_range
from boundcalc.model.targets import GaussianMixture, parse_target
from boundcalc.validate.checks import RECURSION_TOLERANCE
from boundcalc.validate.grid import Grid, cell_edges, grid_for_target, mixture_cell_probabilities, tv_of_probabilities
from boundcalc.validate.loop import iterate_loop
from boundcalc.validate.protocol import FATAL_STATUSES, data_status
from boundcalc.validate.runner import seed_rng as _rng
from boundcalc.validate.diffusion import ode
from boundcalc.validate.diffusion.score_models import MLPScore, RandomFeatureScore

MODELS = ("random-features", "mlp", "mlp-sgd")
#: torch devices of the score network (cuda: the mlp model only; the random-features model's
#: closed-form fit is computed on the CPU)
DEVICES = ("cpu", "cuda")
SAMPLERS = ("ode", "sde")
#: |sum of a model's cell probabilities - 1| allowed by the validity gate
MASS_TOLERANCE = 1e-9
#: fewest expected samples per chi-square bin
MIN_EXPECTED = 5.0
#: most chi-square bins (merged cells of about equal model probability)
MAX_BINS = 50
#: tau grid searched by --tau auto (held-out denoising loss) and by the early-stopping sweep
TAU_GRID = tuple(float(v) for v in np.logspace(0, 6, 25))


def check_device(device: str, model: str) -> str:
    """``device`` if the score network can run there; one-line BoundcalcError otherwise."""
    check_choice("device", device, DEVICES)
    if device == "cuda":
        if model != "mlp":
            raise BoundcalcError(f"device cuda applies to --model mlp (the {model} model is fitted in closed form "
                                 "on the CPU); use --device cpu")
        from boundcalc.validate.diffusion._torch import torch_module

        if not torch_module().cuda.is_available():
            raise BoundcalcError("device cuda was asked for but torch finds no CUDA device here "
                                 "(torch.cuda.is_available() is False); use --device cpu")
    return device


@dataclass
class DiffusionConfig:
    """Everything that defines a diffusion run (the JSON ``inputs``); ``checked()`` validates it."""

    target: str = "bimodal"
    model: str = "random-features"
    width: int = 256
    tau: object = "auto"            # float >= 0, or "auto" (held-out denoising loss)
    validation_fraction: float = 0.2
    horizon: float = 5.0
    t_min: float = 1e-3
    draws_per_point: int = 8
    steps: int = 40
    u_points: int = 801
    grid_size: int = 1024
    sampler: str = "ode"
    mlp_hidden: int = 64
    mlp_steps: int = 1500
    mlp_epochs: int = 2000          # mlp-sgd (early-stopping only): the longest training, in epochs
    tau_grid: tuple = field(default=TAU_GRID)
    device: str = "cpu"             # torch device of the mlp score network: cpu | cuda

    def checked(self) -> "DiffusionConfig":
        self.target_mixture()
        check_choice("model", self.model, MODELS)
        check_choice("sampler", self.sampler, SAMPLERS)
        self.width = check_positive_int("width", self.width, 2)
        if isinstance(self.tau, str) and self.tau != "auto":
            try:
                self.tau = float(self.tau)
            except ValueError:
                raise BoundcalcError(f"tau must be a number >= 0 or 'auto', got {self.tau!r}") from None
        if self.tau != "auto":
            self.tau = float(check_range("tau", self.tau, 0, math.inf, True, False))
        self.validation_fraction = float(check_range("validation_fraction", self.validation_fraction,
                                                     0, 1, False, False))
        self.horizon = float(check_positive("horizon", self.horizon))
        self.t_min = float(check_range("t_min", self.t_min, 0, self.horizon, False, False))
        self.draws_per_point = check_positive_int("draws_per_point", self.draws_per_point)
        self.steps = check_positive_int("steps", self.steps, 2)
        self.u_points = check_positive_int("u_points", self.u_points, 16)
        self.grid_size = check_positive_int("grid_size", self.grid_size, 64)
        self.mlp_hidden = check_positive_int("mlp_hidden", self.mlp_hidden)
        self.mlp_steps = check_positive_int("mlp_steps", self.mlp_steps)
        self.mlp_epochs = check_positive_int("mlp_epochs", self.mlp_epochs)
        self.tau_grid = tuple(float(v) for v in self.tau_grid)
        check_device(self.device, self.model)
        return self

    def target_mixture(self) -> GaussianMixture:
        target = parse_target(self.target)
        if target.dim != 1:
            raise BoundcalcError(f"target must be 1-D for the diffusion validator (got dim {target.dim})")
        return target

    def grid(self) -> Grid:
        # diffusion outputs have Gaussian tails a little wider than the target's: pad by unit variance
        return grid_for_target(self.target_mixture(), self.grid_size, extra_variance=1.0)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["tau_grid"] = [float(v) for v in self.tau_grid]
        return out


@dataclass
class TrainedModel:
    """One generation's fitted model: its score, its training time and its cell probabilities."""

    score: object
    tau: float | None
    cells: object           # ode.CellModel
    info: dict

    @property
    def probabilities(self) -> np.ndarray:
        return self.cells.probabilities

    @property
    def monotone(self) -> bool:
        return self.cells.monotone


def validity(cells, mass_tolerance: float = MASS_TOLERANCE) -> dict:
    """The per-model validity gate: ``measured`` and, when False, the ``reason``."""
    total = float(np.sum(cells.probabilities))
    reasons = []
    if not cells.monotone:
        reasons.append("the sampler map is not increasing (some RK4 step derivative <= 0): no inversion")
    elif not cells.converged:
        reasons.append(f"inversion did not certify the cell probabilities (total uncertainty "
                       f"{cells.total_probability_error:.3g} > {ode.TOTAL_TOLERANCE:g})")
    if not (math.isfinite(total) and abs(total - 1) <= mass_tolerance):
        reasons.append(f"cell probabilities sum to {total!r}, not 1 +- {mass_tolerance:g}")
    if not np.all(np.isfinite(cells.probabilities)) or np.any(cells.probabilities < 0):
        reasons.append("negative or non-finite cell probabilities")
    return {"measured": not reasons, "reason": "; ".join(reasons) or None, "monotone_map": bool(cells.monotone),
            "total_mass": total, "outside_grid_mass": cells.outside_mass,
            "inversion_probability_error": cells.total_probability_error,
            "inversion_x_residual": cells.x_residual, "inversion_iterations": int(cells.iterations),
            "edge_density_mass": cells.edge_density_mass, "unresolved_mass": cells.unresolved_mass}


#: the per-model gate fields an early-stopping sweep reports, one list over training times each
GATE_COLUMNS = ("measured", "reason", "outside_grid_mass", "inversion_probability_error", "inversion_x_residual",
                "edge_density_mass", "unresolved_mass")


def gate_columns(gates) -> dict:
    """The fields of :data:`GATE_COLUMNS` of a sweep's :func:`validity` gates, as lists over its models
    (``reason`` reported as ``reasons``)."""
    return {("reasons" if key == "reason" else key): [g[key] for g in gates] for key in GATE_COLUMNS}


@dataclass(frozen=True)
class SweepData:
    """What one seeded early-stopping sweep at training size n starts from: the cell edges of the
    grid, p0's cell probabilities, the seed keys ``(seed, k, 3, n)`` and the n training samples
    (drawn from ``seed_rng(*keys, 0)``); shared by the random-feature and the MLP-SGD sweeps."""
    edges: np.ndarray
    p0: np.ndarray
    keys: tuple
    x: np.ndarray


def sweep_data(config: DiffusionConfig, seed: int, n: int, k: int) -> SweepData:
    target = config.target_mixture()
    edges = cell_edges(config.grid())
    keys = (seed, k, 3, n)
    return SweepData(edges, mixture_cell_probabilities(target, edges), keys, target.sample(_rng(*keys, 0), n))


def model_cells(score, config: DiffusionConfig, grid: Grid):
    return ode.cell_probabilities(score, cell_edges(grid), config.t_min, config.horizon, config.steps,
                                  u_points=config.u_points)


def train(x, config: DiffusionConfig, grid: Grid, seed_keys: tuple) -> TrainedModel:
    """Fit the configured score model to the training points ``x`` and measure its cell probabilities.

    random-features with ``tau = auto``: the first (1 - validation_fraction) share of a seeded
    permutation trains, the rest picks tau on ``config.tau_grid`` by held-out denoising loss.
    """
    x = np.asarray(x, dtype=float).ravel()
    if x.size < 2:
        raise BoundcalcError("a training set needs at least 2 points")
    info = {"n_train_points": int(x.size)}
    if config.model == "mlp":
        model = MLPScore(hidden=config.mlp_hidden, steps=config.mlp_steps, horizon=config.horizon,
                         t_min=config.t_min, rng=_rng(*seed_keys, 0), device=config.device).fit(x, _rng(*seed_keys, 1))
        score, tau = model.score_function(), None
        info["final_loss"] = model.final_loss_
    else:
        model = RandomFeatureScore(width=config.width, horizon=config.horizon, t_min=config.t_min,
                                   draws_per_point=config.draws_per_point, rng=_rng(*seed_keys, 0))
        if config.tau == "auto":
            order = _rng(*seed_keys, 2).permutation(x.size)
            n_fit = min(max(1, int(round((1 - config.validation_fraction) * x.size))), x.size - 1)
            model.fit(x[order[:n_fit]], _rng(*seed_keys, 1))
            losses = model.held_out_losses(x[order[n_fit:]], _rng(*seed_keys, 3), config.tau_grid)
            tau = float(config.tau_grid[int(np.argmin(losses))])
            info.update(n_fit_points=int(n_fit), tau_rule="held-out denoising loss")
        else:
            model.fit(x, _rng(*seed_keys, 1))
            tau = float(config.tau)
            info["tau_rule"] = "fixed"
        score = model.score_function(tau)
    return TrainedModel(score, tau, model_cells(score, config, grid), info)


def draw_samples(model: TrainedModel, size: int, config: DiffusionConfig, rng) -> np.ndarray:
    if config.sampler == "sde":
        return ode.sample_sde(model.score, size, rng, config.t_min, config.horizon, config.steps)
    return ode.sample(model.score, size, rng, config.t_min, config.horizon, config.steps)


def sample_test(samples, probabilities, edges) -> dict:
    """Chi-square test of ``samples`` against the cell probabilities ``probabilities`` of ``edges``.

    The N + 2 cells (two tails included) are merged into at most ``MAX_BINS`` consecutive bins of
    about equal probability (cuts at the quantiles j/B, B = min(MAX_BINS, n // 10)), then neighbours
    are merged until every bin expects at least ``MIN_EXPECTED`` samples.  Returns the statistic,
    the degrees of freedom (bins - 1) and the p-value of the chi-square law; a sample in a bin of
    model probability 0 gives p = 0.
    """
    from scipy.special import chdtrc  # = scipy.stats.chi2.sf, without importing scipy.stats

    x = np.asarray(samples, dtype=float).ravel()
    probs = np.asarray(probabilities, dtype=float)
    n = x.size
    counts = np.bincount(np.searchsorted(np.asarray(edges, dtype=float), x, side="right"),
                         minlength=probs.size).astype(float)
    bins_wanted = int(max(2, min(MAX_BINS, n // 10)))
    cum = np.cumsum(probs)
    cuts = np.unique(np.searchsorted(cum, np.arange(1, bins_wanted) / bins_wanted, side="left")) + 1
    groups = np.split(np.arange(probs.size), cuts[cuts < probs.size])
    expected, observed = [], []
    acc_e = acc_o = 0.0
    for g in groups:
        acc_e += n * float(probs[g].sum())
        acc_o += float(counts[g].sum())
        if acc_e >= MIN_EXPECTED:
            expected.append(acc_e)
            observed.append(acc_o)
            acc_e = acc_o = 0.0
    if expected:
        expected[-1] += acc_e
        observed[-1] += acc_o
    else:
        expected, observed = [acc_e], [acc_o]
    e, o = np.asarray(expected), np.asarray(observed)
    if e.size < 2:
        return {"samples": int(n), "bins": int(e.size), "chi2": 0.0, "df": 0, "p_value": 1.0,
                "note": "fewer than two bins: not testable"}
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(e > 0, (o - e) ** 2 / e, np.where(o > 0, np.inf, 0.0))
    stat = float(np.sum(terms))
    df = int(e.size - 1)
    return {"samples": int(n), "bins": int(e.size), "chi2": stat, "df": df,
            "p_value": float(chdtrc(df, stat)) if math.isfinite(stat) else 0.0}


class DiffusionGenerator:
    """The diffusion learner as a generator of :mod:`boundcalc.validate.protocol`.

    The constructor stores the configuration, the grid and the integer ``seed_keys`` of this
    generation; :meth:`fit` trains the score model (:func:`train`: its randomness comes from
    ``SeedSequence([*seed_keys, ...])`` and torch generators seeded from it) and measures its
    law on the grid's cells, setting ``model_`` (a :class:`TrainedModel`), ``tau_``,
    ``gate_`` (the validity gate) and ``status_``; :meth:`sample` draws with the configured
    sampler; :meth:`cell_probabilities` gives the certified cell law.
    """

    def __init__(self, config: DiffusionConfig, grid: Grid, seed_keys: tuple):
        self.config, self.grid, self.seed_keys = config, grid, tuple(seed_keys)

    def fit(self, samples) -> "DiffusionGenerator":
        x = np.asarray(samples, dtype=float).ravel()
        self.status_ = data_status(x)
        self.model_ = train(x, self.config, self.grid, self.seed_keys)
        self.tau_ = self.model_.tau
        self.gate_ = validity(self.model_.cells)
        return self

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return draw_samples(self.model_, size, self.config, rng)

    def cell_probabilities(self, edges=None) -> np.ndarray:
        """Probabilities of the cells between ``edges`` (default: the grid's) and the two tails."""
        if edges is None or np.array_equal(np.asarray(edges), cell_edges(self.grid)):
            return self.model_.probabilities
        return ode.cell_probabilities(self.model_.score, np.asarray(edges, dtype=float), self.config.t_min,
                                      self.config.horizon, self.config.steps,
                                      u_points=self.config.u_points).probabilities


def run_loop(scheme, generations: int, config: DiffusionConfig, seed_keys: tuple, progress=None,
             keep_densities: bool = False) -> dict:
    """Run ``generations`` generations of ``scheme`` through the one loop of
    :func:`boundcalc.validate.loop.iterate_loop`; return per-generation records (JSON-ready).

    ``seed_keys`` (integers) seed everything: the real data of block (0, drawn_at), the synthetic
    block (j, drawn_at) and generation i's model each get their own SeedSequence, so the run does
    not depend on the order in which blocks are drawn.  ``progress()`` is called after each
    generation.  ``keep_densities`` adds the grid, the cell edges and the cell probability vectors
    P0, P_1..P_K (numpy, not JSON).

    Each record holds the validity gate of its model (``measured``, ``reason`` and the inversion
    diagnostics) and ``sample_test``: the chi-square test of every sample of p_i fed to a later
    generation against P_i (None for a model whose samples were never fed forward).
    """
    K = check_positive_int("generations", generations)
    target = config.target_mixture()
    grid = config.grid()
    edges = cell_edges(grid)
    p0 = mixture_cell_probabilities(target, edges)
    laws = [p0]
    models: list = [None]
    fed: dict = {}  # block key -> samples of a generator fed forward
    records = []

    def block_rng(block):
        return _rng(*seed_keys, 1, block.source, block.drawn_at)

    def make_generator(i, n_train):
        return DiffusionGenerator(config, grid, (*seed_keys, 2, i))

    for step in iterate_loop(scheme, target, K, make_generator, block_rng):
        i, gen = step.generation, step.model
        if gen.status_ in FATAL_STATUSES:
            raise BoundcalcError(f"generation {i} was trained on degenerate data (status {gen.status_})")
        fed.update({block.key: samples for block, samples in step.blocks if block.source > 0})
        # q_i from the integer block sizes actually drawn (plan.weights() uses the fractional counts)
        weights = step.source_weights()
        q = sum(w * law for w, law in zip(weights, laws))
        model, gate = gen.model_, gen.gate_
        if gate["measured"]:
            P = model.probabilities
            a, eps, tv_q = tv_of_probabilities(P, p0), tv_of_probabilities(P, q), tv_of_probabilities(q, p0)
            holds = bool(a <= eps + tv_q + RECURSION_TOLERANCE)
        else:
            a = eps = math.nan
            tv_q = tv_of_probabilities(q, p0) if np.all(np.isfinite(q)) else math.nan
            holds = True  # nothing measured to check; the gate fails the run instead
        records.append({
            "generation": i, "n_train": step.n_train, "real_fraction": float(step.plan.real_fraction),
            **({} if step.real_count is None else {"real_count": step.real_count}),
            "weights": [float(w) for w in weights], "tau": model.tau,
            "a": a, "eps": eps, "tv_q_p0": tv_q, "recursion_rhs": eps + tv_q, "recursion_holds": holds,
            **gate, "sample_test": None,
            **{k: v for k, v in model.info.items() if k != "n_train_points"}})
        laws.append(model.probabilities if gate["measured"] else np.full_like(p0, np.nan))
        models.append(model)
        if progress is not None:
            progress()
    # the samples of p_j that were fed forward, against P_j
    for j in range(1, K + 1):
        blocks = [fed[key] for key in sorted(fed) if key[0] == j and fed[key].size]
        if blocks and records[j - 1]["measured"]:
            records[j - 1]["sample_test"] = sample_test(np.concatenate(blocks), models[j].probabilities, edges)
    out = {"records": records}
    if keep_densities:  # numpy arrays for plots and tests, not for the JSON
        out["laws"] = laws
        out["edges"] = edges
        out["grid"] = grid
    return out
