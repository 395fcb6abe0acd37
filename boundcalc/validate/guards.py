"""Size guards of the validators: one estimate of a run's work and memory, one refusal.

Every validator has one function that estimates, from its checked inputs and before anything is
drawn or allocated, what the run would do: samples per block and per training set, samples fitted
in all, grid nodes, the size of the largest model, the bytes it holds at once and the arithmetic of
the whole run.  :func:`refuse_if_too_large` turns the first amount above its limit into one
:class:`~boundcalc._checks.BoundcalcError` line, in the wording ``validate kde`` has always used::

    the run would fit 3e+09 training samples in all (seeds x sum of N_i); at most 1e+09 (size
    guard, about 10 minutes): lower --seeds, --generations or --n-real

The limits are where a run stops being an experiment and becomes a job for a cluster: about ten
minutes of one core, or 2 GiB of memory.  Measured speeds behind them (one core of the CI machine):
the KDE validator fits about 2e6 training samples per second and processes a 2^20-node grid in
about 0.8 s per generation; the diffusion validator does about 5e9 floating-point operations per
second in its random-feature fits (``validate diffusion loop --scheme replace --seeds 1
--generations 2 --n-real 2000 --width 1024``: 3.4e10 operations in the Gram matrices, 6 s beyond
the start-up).  The estimates are of the order of the work, not exact counts: a refused run is
refused because it is far too large, not because it is a little too large.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from boundcalc._checks import MAX_GENERATIONS, BoundcalcError

#: samples drawn in one block (n_real, n_synth, a schedule's real or synthetic part)
MAX_BLOCK_SAMPLES = 10 ** 7
#: samples of one training set
MAX_TRAINING_SET = 2 * 10 ** 7
#: nodes of one grid
MAX_GRID_NODES = 2 ** 20
#: KDE: training samples fitted over all seeds and generations
MAX_SAMPLE_WORK = 10 ** 9
#: KDE: grid nodes x generations x seeds (each generation costs a few FFTs of the grid)
MAX_GRID_WORK = 10 ** 9
#: bytes held at once by one seed of a run (grids of every generation, one model's matrices)
MAX_BYTES = 2 * 2 ** 30
#: diffusion: floating-point operations of the whole run (about 10 minutes at 5e9 per second)
MAX_FLOPS = 3 * 10 ** 12
#: diffusion: the fixed cost of measuring one model's law (sampler set-up, certified inversion in Python),
#: in operation-equivalents: about 0.04 s per measurement on small models (early-stopping, n = 16 and 32,
#: m = 16, 4 steps, 64 grid nodes: 40 units of 17 measurements took 29 s under load)
MEASUREMENT_OVERHEAD = 2 * 10 ** 8
#: diffusion: the fixed cost of one RK4 step of the sampler's numpy loop, per measured law (a Python
#: loop of about 40 array operations, run by the sampler and the certified inversion of every law), in
#: operation-equivalents: measured 0.9 ms per step (validate diffusion loop, m = 16, 64 grid nodes, one
#: law: 2000 steps 11.1 s, 8000 steps 16.4 s); without it --steps 1e7 ran for hours under the limit
STEP_OVERHEAD = 5 * 10 ** 6
#: diffusion: random features m of one score model (its Gram matrix is m x m)
MAX_WIDTH = 2 ** 14

TEN_MINUTES = "about 10 minutes"
MEMORY = "2 GiB of memory"


@dataclass(frozen=True)
class Amount:
    """One estimated amount of a run and its limit.

    ``verb`` and ``what`` make the sentence "the run would <verb> <amount> <what>"; ``why`` says
    what the limit protects (time or memory); ``fix`` names the options that lower the amount.
    """
    verb: str
    amount: float
    what: str
    limit: float
    why: str
    fix: str

    def exceeded(self) -> bool:
        return not (self.amount <= self.limit)

    def message(self) -> str:
        return (f"the run would {self.verb} {self.amount:.3g} {self.what}; at most {self.limit:.3g} "
                f"(size guard, {self.why}): {self.fix}")


@dataclass(frozen=True)
class WorkEstimate:
    """What one validator run would do, amount by amount (see :func:`estimate_kde`,
    :func:`estimate_diffusion`)."""
    validator: str
    amounts: tuple

    def as_dict(self) -> dict:
        return {a.what: a.amount for a in self.amounts}


def refuse_if_too_large(estimate: WorkEstimate) -> WorkEstimate:
    """Raise one :class:`BoundcalcError` line for the first amount above its limit; else return
    the estimate."""
    for amount in estimate.amounts:
        if amount.exceeded():
            raise BoundcalcError(amount.message())
    return estimate


def _generations(K) -> int:
    if K > MAX_GENERATIONS:
        raise BoundcalcError(f"generations must be an integer in [1, {MAX_GENERATIONS}] (a size guard: every "
                             f"generation is a trained model), got {K}")
    return int(K)


def _sum_of_sizes(scheme, K: int, cap: float) -> float:
    """sum_i N_i for i = 1..K, stopping as soon as it passes ``cap`` (the loop stays short)."""
    total = 0.0
    for i in range(1, K + 1):
        total += float(scheme.n_total(i))
        if total > cap:
            return total
    return total


def _largest_size(scheme, K: int) -> float:
    """max_i N_i: the sizes grow with i (accumulate) or are constant after generation 2, except
    for a schedule, whose sizes are read one by one (its length is bounded by its options)."""
    if type(scheme).__name__ == "Schedule":
        return max(float(scheme.n_total(i)) for i in range(1, K + 1))
    return max(float(scheme.n_total(i)) for i in {1, min(2, K), K})


def estimate_kde(config) -> WorkEstimate:
    """Work and memory of ``validate kde`` with a checked ``KDEValidationConfig``.

    Samples: the blocks n_real and n_synth, the largest training set max_i N_i, and S sum_i N_i
    fitted in all.  Grid: at least the default nodes (4096 in 1-D, 256^2 in 2-D) or ``grid_size``
    per axis, S K nodes processed, and (K + 3) grids of 8-byte densities held at once (p0, the K4
    laws r_i and a seed's working arrays).
    """
    K, S = _generations(config.generations), int(config.seeds)
    scheme = config.make_scheme()
    from boundcalc.model.targets import parse_target

    dim = parse_target(config.target).dim
    if dim not in (1, 2):  # the same refusal as the run's own (boundcalc.validate.kde.context)
        raise BoundcalcError(f"target: the KDE validator works in dimension 1 or 2, got {dim}")
    per_axis = int(config.grid_size) if config.grid_size else (4096 if dim == 1 else 256)
    nodes = float(per_axis) ** dim
    amounts = [
        Amount("draw blocks of", max(float(config.n_real), float(config.n_synth or 0)), "samples",
               MAX_BLOCK_SAMPLES, MEMORY, "lower --n-real or --n-synth"),
        Amount("train on", _largest_size(scheme, K), "samples in one training set", MAX_TRAINING_SET, MEMORY,
               "lower --n-real, --n-synth, --sizes or --generations"),
        Amount("fit", S * _sum_of_sizes(scheme, K, MAX_SAMPLE_WORK / max(S, 1)),
               "training samples in all (seeds x sum of N_i)", MAX_SAMPLE_WORK, TEN_MINUTES,
               "lower --seeds, --generations or --n-real"),
        Amount("use", nodes, "grid nodes", MAX_GRID_NODES, MEMORY, "lower --grid-size"),
        Amount("process", S * K * nodes, "grid nodes in all (seeds x generations x nodes)", MAX_GRID_WORK,
               TEN_MINUTES, "lower --seeds, --generations or --grid-size"),
        Amount("hold", 8.0 * (K + 3) * nodes, "bytes of grid densities at once", MAX_BYTES, MEMORY,
               "lower --generations or --grid-size"),
    ]
    return WorkEstimate("kde", tuple(amounts))


def _diffusion_models(options):
    """(training size N summed over generations, width m, training times tried, laws measured) of
    every model set one seed fits, and the largest block of samples drawn."""
    from boundcalc.model.schemes import Accumulate, Mix, Replace, make_scheme

    config = options.config
    n_real = int(options.n_real)
    n_synth = n_real if options.n_synth is None else int(options.n_synth)
    taus = len(config.tau_grid) if config.tau == "auto" else 1
    m = int(config.width)
    models, blocks = [], [n_real, n_synth]
    if options.experiment == "loop":
        K = _generations(options.generations)
        if options.scheme == "all":
            schemes = [Replace(n_real, n_synth), Accumulate(n_real, n_synth)]
            schemes += [make_scheme("mix", n_real, real_fraction=lam) for lam in options.real_fractions]
        elif options.scheme == "mix" and options.n_synth is None:
            schemes = [make_scheme("mix", n_real, real_fraction=lam) for lam in options.real_fractions]
        elif options.scheme == "schedule":
            schemes = [make_scheme("schedule", n_real, real_fractions=options.real_fractions)]
        else:
            schemes = [make_scheme(options.scheme, n_real, options.n_synth)]
        for scheme in schemes:
            blocks.append(float(scheme.n_total(min(2, K))))
            capped = _sum_of_sizes(scheme, K, 1e15)
            models.append((capped, m, taus, K))
    elif options.experiment == "phase":
        for ratio in options.n_synth_ratios:
            s = float(ratio) * n_real
            blocks.append(s)
            models.append((2 * n_real + s, m, taus, 2))
    elif options.experiment == "early-stopping":
        for n in options.ns or ((1000,) if options.config.model == "mlp-sgd" else (128, 256, 512, 1024)):
            width = m if options.width_ratio is None else max(16, round(options.width_ratio * n))
            blocks.append(n)
            sweep = sum(1 for t in config.tau_grid if t >= 10)
            if config.model == "mlp-sgd":  # one SGD run, its law measured at 13 epochs
                width, sweep = config.mlp_hidden, 13
            models.append((n, width, 1, sweep))  # one fit, its law measured at every tau of the sweep
    else:
        K = _generations(options.generations)
        for n in options.ns or (250, 500, 1000, 2000):
            blocks.append(n)
            models.append((n, m, taus, 1))
        for scheme in (Replace(n_real, n_real), Mix(n_real, n_real), Mix(n_real, 4 * n_real),
                       Accumulate(n_real, n_real)):
            blocks.append(float(scheme.n_total(min(2, K))))
            models.append((_sum_of_sizes(scheme, K, 1e15), m, taus, K))
    return models, max(blocks)


def estimate_diffusion(options) -> WorkEstimate:
    """Work and memory of ``validate diffusion <experiment>`` with checked ``ExperimentOptions``.

    One random-feature model on N training points with width m and d draws per point costs about
    ``N d m^2`` operations (its Gram matrix), ``m^3`` per training time tried (the eigendecomposition
    and the held-out loss) and ``4 m steps (N + u_points + grid_size)`` for the RK4 sampler (the
    samples fed forward and the inverted cell edges); it holds about ``8 (3 m^2 + 16384 m)`` bytes
    (Gram matrix, eigenvectors, one chunk of features).  An MLP costs about
    ``mlp_steps x 256 x 6 mlp_hidden^2`` to train.  Every measured law adds a fixed cost per RK4 step
    (:data:`STEP_OVERHEAD`, the sampler's Python loop) and per measurement.  The run multiplies by the seeds.
    """
    config = options.config
    S = int(options.seeds)
    models, largest_block = _diffusion_models(options)
    d, steps = int(config.draws_per_point), int(config.steps)
    flops, widest, sizes = 0.0, 0, []
    for total_n, m, taus, generations in models:  # generations: the laws measured
        widest = max(widest, m)
        per_point = d * m * m + 4.0 * m * steps
        if config.model == "mlp":
            per_point = 4.0 * steps * 6 * config.mlp_hidden ** 2
            fixed = config.mlp_steps * 256 * 6.0 * config.mlp_hidden ** 2
        elif config.model == "mlp-sgd":  # epochs x n points x (forward + backward: 6 H^2)
            per_point = config.mlp_epochs * 6.0 * config.mlp_hidden ** 2
            fixed = 0.0
        else:
            fixed = taus * float(m) ** 3
        cells = 4.0 * (6 * m * m if config.model == "mlp-sgd" else m) * steps * (config.u_points + config.grid_size)
        flops += total_n * per_point + generations * (fixed + cells + MEASUREMENT_OVERHEAD + steps * STEP_OVERHEAD)
        sizes.append(total_n / max(generations, 1))
    model_bytes = 8.0 * (3 * widest * widest + 16384 * widest) if config.model not in ("mlp", "mlp-sgd") else \
        8.0 * (16384 * config.mlp_hidden)
    amounts = [
        Amount("draw blocks of", float(largest_block), "samples", MAX_BLOCK_SAMPLES, MEMORY,
               "lower --n-real, --n-synth or --n-synth-ratios"),
        Amount("use", float(config.grid_size), "grid nodes", MAX_GRID_NODES, MEMORY, "lower --grid-size"),
        Amount("fit score models with", float(widest), "random features", MAX_WIDTH, MEMORY,
               "lower --width (or --width-ratio)"),
        Amount("hold", model_bytes, "bytes in one score model", MAX_BYTES, MEMORY, "lower --width"),
        Amount("do", S * flops, "floating-point operations in all (seeds x models x fit, sampler and cells)",
               MAX_FLOPS, TEN_MINUTES, "lower --seeds, --generations, --n-real, --width, --steps or "
               "--draws-per-point"),
    ]
    if math.isnan(S * flops):  # pragma: no cover - every input above is a checked finite number
        raise BoundcalcError("validate diffusion: the size of the run could not be estimated")
    return WorkEstimate("diffusion", tuple(amounts))
