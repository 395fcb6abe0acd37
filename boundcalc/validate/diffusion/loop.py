"""One self-consuming diffusion loop on the shared scheme module, measured on a fixed grid.

Generation i is trained on the blocks of ``scheme.plan(i)``: source 0 is real data drawn
from the target, source j >= 1 is samples of generation j's model (probability-flow ODE
sampler).  Blocks with the same ``key`` are the same samples (cached), so reused real data and
the synthetic data that ``accumulate`` keeps are really reused.

On the grid, with p0 exact and p_j the ODE density of generation j (the density of exactly the
samples fed forward):

* ``q_i = sum_j w_ij p_j`` with ``w = plan.weights()`` (exact on the grid);
* ``a_i = TV(p_i, p0)``, ``eps_i = TV(p_i, q_i)``, ``tv_q_i = TV(q_i, p0)``;
* the recursion step ``a_i <= eps_i + tv_q_i`` (lemma T2 [classical]).  On one grid the
  quadrature TV is a seminorm of the node values, so the step holds exactly for the grid
  numbers too: a violation beyond rounding (``RECURSION_TOLERANCE``) is a bug, not noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ...errors import BoundcalcError, check_choice, check_positive, check_positive_int, check_range
from ...targets import GaussianMixture, parse_target
from ..grid import Grid, density_on_grid, grid_for_target, integral_on_grid, tv_on_grid
from . import ode
from .score_models import MLPScore, RandomFeatureScore

MODELS = ("random-features", "mlp")
SAMPLERS = ("ode", "sde")
RECURSION_TOLERANCE = 1e-9
#: tau grid searched by --tau auto (held-out denoising loss) and by the early-stopping sweep
TAU_GRID = tuple(float(v) for v in np.logspace(0, 6, 25))


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
    tau_grid: tuple = field(default=TAU_GRID)

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
        self.tau_grid = tuple(float(v) for v in self.tau_grid)
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
    """One generation's fitted model: its score, its training time and its density on the grid."""

    score: object
    tau: float | None
    density: np.ndarray
    monotone: bool
    info: dict


def _rng(*keys) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def model_density(score, config: DiffusionConfig, grid: Grid):
    return ode.density_on_grid(score, grid.points(), config.t_min, config.horizon, config.steps,
                               u_points=config.u_points)


def train(x, config: DiffusionConfig, grid: Grid, seed_keys: tuple) -> TrainedModel:
    """Fit the configured score model to the training points ``x`` and measure its density.

    random-features with ``tau = auto``: the first (1 - validation_fraction) share of a seeded
    permutation trains, the rest picks tau on ``config.tau_grid`` by held-out denoising loss.
    """
    x = np.asarray(x, dtype=float).ravel()
    if x.size < 2:
        raise BoundcalcError("a training set needs at least 2 points")
    info = {"n_train_points": int(x.size)}
    if config.model == "mlp":
        model = MLPScore(hidden=config.mlp_hidden, steps=config.mlp_steps, horizon=config.horizon,
                         t_min=config.t_min, rng=_rng(*seed_keys, 0)).fit(x, _rng(*seed_keys, 1))
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
    d = model_density(score, config, grid)
    if d.nonfinite:
        info["nonfinite_density_nodes"] = d.nonfinite
    return TrainedModel(score, tau, d.density, d.monotone, info)


def draw_samples(model: TrainedModel, size: int, config: DiffusionConfig, rng) -> np.ndarray:
    if config.sampler == "sde":
        return ode.sample_sde(model.score, size, rng, config.t_min, config.horizon, config.steps)
    return ode.sample(model.score, size, rng, config.t_min, config.horizon, config.steps)


def run_loop(scheme, generations: int, config: DiffusionConfig, seed_keys: tuple, progress=None,
             keep_densities: bool = False) -> dict:
    """Run ``generations`` generations of ``scheme``; return per-generation records (JSON-ready).

    ``seed_keys`` (integers) seed everything: the real data of block (0, drawn_at), the synthetic
    block (j, drawn_at) and generation i's model each get their own SeedSequence, so the run does
    not depend on the order in which blocks are drawn.  ``progress()`` is called after each
    generation.  ``keep_densities`` adds the grid and p0, p_1..p_K on it (numpy, not JSON).
    """
    K = check_positive_int("generations", generations)
    if hasattr(scheme, "check_generations"):
        scheme.check_generations(K)
    target = config.target_mixture()
    grid = config.grid()
    p0 = density_on_grid(target, grid)
    densities = [p0]
    models: list[TrainedModel | None] = [None]
    cache: dict = {}
    records = []
    for i in range(1, K + 1):
        plan = scheme.plan(i)
        parts = []
        for block in plan.blocks:
            if block.key not in cache:
                rng = _rng(*seed_keys, 1, block.source, block.drawn_at)
                if block.size < 1:
                    cache[block.key] = np.empty(0)
                elif block.source == 0:
                    cache[block.key] = target.sample(rng, block.size)
                else:
                    cache[block.key] = draw_samples(models[block.source], block.size, config, rng)
            parts.append(cache[block.key])
        x = np.concatenate(parts)
        weights = plan.weights()
        q = sum(w * dens for w, dens in zip(weights, densities))
        model = train(x, config, grid, (*seed_keys, 2, i))
        a = tv_on_grid(model.density, p0, grid)
        eps = tv_on_grid(model.density, q, grid)
        tv_q = tv_on_grid(q, p0, grid)
        records.append({
            "generation": i, "n_train": int(x.size), "real_fraction": float(plan.real_fraction),
            "weights": [float(w) for w in weights], "tau": model.tau,
            "a": a, "eps": eps, "tv_q_p0": tv_q, "recursion_rhs": eps + tv_q,
            "recursion_holds": bool(a <= eps + tv_q + RECURSION_TOLERANCE),
            "mass_on_grid": integral_on_grid(model.density, grid), "monotone_map": bool(model.monotone),
            **{k: v for k, v in model.info.items() if k != "n_train_points"}})
        densities.append(model.density)
        models.append(model)
        if progress is not None:
            progress()
    out = {"records": records}
    if keep_densities:  # numpy arrays for plots and tests, not for the JSON
        out["densities"] = densities
        out["grid"] = grid
    return out
