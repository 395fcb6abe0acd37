"""One seed of a KDE validation: the loop of the scheme with its per-generation measurements.

For generation i (training set from ``scheme.plan(i)``, :func:`boundcalc.validate.loop.iterate_loop`):

* ``a_i = TV(p_i, p0)``, ``eps_i = TV(p_i, q_i)`` and ``TV(q_i, p0)`` on the grid, where
  ``q_i = sum_b (N_b / N_i) p_{source_b}`` is known exactly (p0 and the earlier KDEs);
* the stochastic term ``s_i`` (lemmas K2 + C2 at the per-event failure probability of C3) with
  the K2 integral of the *actual* qbar (joint mode: q_i; blockwise mode: each block's own source);
* the one-step bound ``b(h_i) + s_i + TV(q_i, p0)`` and the composed bound
  ``B_i = b(h_i) + s_i + sum_j w_ij B_j`` [derived]: the recursion of the bounds
  (:func:`boundcalc.bounds.compose.recursion`) with eps_j = b(h_j) + s_j, on the scheme object
  that defined the loop;
* the training-set variance, the mass of the KDE outside the grid;
* the held-out negative log-likelihood ``-(1/M) sum_m log p_i(y_m)`` on ``HELD_OUT`` samples y_m of
  p0 drawn once per seed from their own stream (``seed_rng(seed, k, 1)``, so every other number of
  the seed is unchanged): for the Gaussian KDE the exact kernel sum (log-sum-exp) while training
  x held-out points <= ``EXACT_NLL_WORK``, otherwise (and for other generators) p_i read off the grid by
  linear interpolation (the density the TVs use).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

import boundcalc.validate.grid as gridlib
from boundcalc.bounds.compose import recursion, recursion_step
from boundcalc.validate.checks import VACUOUS_BOUND
from boundcalc.validate.generators import GaussianKDE
from boundcalc.validate.kde.context import RunContext
from boundcalc.validate.loop import iterate_loop
from boundcalc._checks import BoundcalcError
from boundcalc.validate.protocol import FATAL_STATUSES, STATUS_OK
from boundcalc.validate.runner import seed_rng
from boundcalc.validate.summary import nan_to_none

RUN_FIELDS = ("a", "eps", "tv_q_p0", "coefficient_sum", "stochastic", "one_step_bound",
              "composed_bound", "train_variance", "outside_fraction", "kde_mass_lost", "held_out_nll")
#: the realised bandwidth h_i of each generation, recorded when it is data-driven (scott, silverman)
BANDWIDTH_FIELD = "bandwidth"
#: held-out samples of p0 per seed for the NLL metric
HELD_OUT = 1000


#: above this many kernel evaluations (training points x held-out points) the NLL is read off the grid
EXACT_NLL_WORK = 2 * 10 ** 8


def kde_log_density(samples, bandwidth: float, points) -> np.ndarray:
    """Exact ``log (1/N) sum_j phi_h(y - X_j)`` of a Gaussian KDE (log-sum-exp over chunks, so a point far
    from every training point still gets its finite log density)."""
    from scipy.special import logsumexp

    x = np.asarray(samples, dtype=float)
    d = 1 if x.ndim == 1 else x.shape[1]
    x = x.reshape(-1, d) / bandwidth
    y = np.asarray(points, dtype=float).reshape(-1, d) / bandwidth
    out = np.empty(y.shape[0])
    step = max(1, int(4_000_000 // max(x.shape[0], 1)))
    for start in range(0, y.shape[0], step):
        d2 = np.sum((y[start:start + step, None, :] - x[None, :, :]) ** 2, axis=2)
        out[start:start + step] = logsumexp(-0.5 * d2, axis=1)
    return out - math.log(x.shape[0]) - d * (0.5 * math.log(2 * math.pi) + math.log(bandwidth))


def grid_log_density(values, grid, points) -> np.ndarray:
    """``log p(y)`` at ``points`` from density values on the grid nodes (linear / bilinear
    interpolation; -inf outside the grid or where the interpolated density is 0)."""
    pts = np.asarray(points, dtype=float).reshape(-1, grid.dim)
    if grid.dim == 1:
        dens = np.interp(pts[:, 0], grid.axes[0], np.asarray(values).reshape(-1), left=0.0, right=0.0)
    else:
        from scipy.interpolate import RegularGridInterpolator

        dens = RegularGridInterpolator(tuple(grid.axes), np.asarray(values).reshape(grid.shape),
                                       bounds_error=False, fill_value=0.0)(pts)
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(dens, 0.0))
#: the two bounds held against a_i
BOUND_FIELDS = ("one_step_bound", "composed_bound")


class RuleBandwidthKDE(GaussianKDE):
    r"""Gaussian KDE in 1-D whose bandwidth is computed from its training data at :meth:`fit`, as
    ``scipy.stats.gaussian_kde`` does: ``h = f(N) * sd(X)`` with the sample sd (ddof=1) and Scott's
    ``f = N^(-1/5)`` or Silverman's ``f = (3N/4)^(-1/5)``
    (:func:`boundcalc.validate.toy.bandwidth_factor`, d = 1).  The bandwidth depends on the data, so
    the KDE lemmas (which fix h beforehand) do not apply to it.

    >>> import numpy as np
    >>> kde = RuleBandwidthKDE("scott").fit(np.array([0.0, 1.0, 2.0, 3.0]))
    >>> round(kde.bandwidth, 6), round(kde.factor_, 6)
    (0.978391, 0.757858)
    """

    def __init__(self, rule: str):
        from boundcalc.validate.toy import RULES

        if rule not in RULES:
            raise BoundcalcError(f"bandwidth rule must be one of {', '.join(RULES)}, got {rule!r}")
        self.rule = rule
        self.bandwidth = math.nan

    def fit(self, samples) -> "RuleBandwidthKDE":
        from boundcalc.validate.toy import bandwidth_factor

        super().fit(samples)
        x = np.asarray(samples, dtype=float).reshape(-1)
        self.factor_ = bandwidth_factor(self.rule, x.shape[0], 1)
        sd = float(np.std(x, ddof=1)) if x.shape[0] > 1 else 0.0
        self.bandwidth = self.factor_ * sd
        return self


def run_seed(ctx: RunContext, index: int, make_generator: Callable | None = None,
             on_generation: Callable | None = None, partial: dict | None = None) -> dict:
    """One seeded loop: the per-generation measurements as a JSON-ready record.

    Lists have one entry per generation; generations after a fatal status are None.  If
    ``partial`` is a dict it is overwritten after every generation with the record so far (so an
    interrupted run can report the generations it finished; their composed bounds are filled in
    when the interrupt arrives).
    """
    cfg = ctx.config
    K = cfg.generations
    if make_generator is None:
        if cfg.data_driven:
            make_generator = (lambda i, n: RuleBandwidthKDE(cfg.bandwidth))
        else:
            make_generator = (lambda i, n: GaussianKDE(ctx.bandwidths[i - 1]))
    record = {key: [math.nan] * K for key in RUN_FIELDS + ((BANDWIDTH_FIELD,) if cfg.data_driven else ())}
    statuses: list = []
    bound_eps: list = []  # b(h_j) + s_j of the generations so far
    rng = seed_rng(cfg.seed, index)
    try:
        _measure(ctx, index, make_generator, rng, record, statuses, bound_eps, on_generation, partial)
    except KeyboardInterrupt:
        if partial is not None and bound_eps and not cfg.data_driven:  # generations finished by the seed cut short
            _compose(record, bound_eps, ctx.scheme)
            partial.clear()
            partial.update(_record(index, statuses, record))
        raise
    if not cfg.data_driven:
        _compose(record, bound_eps, ctx.scheme)
    return _record(index, statuses, record)


def _measure(ctx: RunContext, index, make_generator, rng, record, statuses, bound_eps, on_generation, partial):
    """The generations of one seed, measured into ``record`` (composed bounds filled after)."""
    K = ctx.config.generations
    densities = {0: ctx.p0_grid}
    held_out = ctx.target.sample(seed_rng(ctx.config.seed, index, 1), HELD_OUT)
    k2_cache: dict = {}
    for step in iterate_loop(ctx.scheme, ctx.target, K, make_generator, rng):
        i, h = step.generation, ctx.bandwidths[step.generation - 1]
        statuses.append(step.model.status_)
        if step.model.status_ in FATAL_STATUSES:
            break
        data_driven = ctx.config.data_driven
        if data_driven:
            h = step.model.bandwidth
            record[BANDWIDTH_FIELD][i - 1] = h
        p_i, outside = step.model.density(ctx.grid)
        weights = step.source_weights()
        q_i = sum(w * densities[j] for j, w in enumerate(weights) if w > 0)
        a_i = gridlib.tv_on_grid(p_i, ctx.p0_grid, ctx.grid)
        tv_q = gridlib.tv_on_grid(q_i, ctx.p0_grid, ctx.grid)
        if data_driven:  # the lemmas fix h beforehand: no stochastic term, no bound (context.NO_BOUND_REASON)
            s_i = math.nan
        elif ctx.split_mode == "joint":
            s_i = ctx.stochastic_term(step.n_train, h, gridlib.k2_integral_on_grid(q_i, ctx.grid, h))
        else:
            s_i = 0.0
            for block, _ in step.blocks:
                key = (block.source, h)
                if key not in k2_cache:
                    k2_cache[key] = gridlib.k2_integral_on_grid(densities[block.source], ctx.grid, h)
                s_i += block.size / step.n_train * ctx.stochastic_term(block.size, h, k2_cache[key])
        previous = record["a"][: i - 1]
        bound_eps.append(ctx.bias[i - 1] + s_i)
        record["a"][i - 1] = a_i
        record["eps"][i - 1] = gridlib.tv_on_grid(p_i, q_i, ctx.grid)
        record["tv_q_p0"][i - 1] = tv_q
        record["coefficient_sum"][i - 1] = float(recursion_step(0, weights, previous))  # theorem S1 with eps_i = 0
        record["stochastic"][i - 1] = s_i
        record["one_step_bound"][i - 1] = ctx.bias[i - 1] + s_i + tv_q
        record["train_variance"][i - 1] = training_variance(step.training_set)
        record["outside_fraction"][i - 1] = outside
        # mass of the KDE missing from the grid (samples outside it, kernel tails beyond it): the
        # grid TV differs from the TV on the whole space by at most half of it plus p0's (< 1e-6)
        record["kde_mass_lost"][i - 1] = 1.0 - gridlib.integral_on_grid(p_i, ctx.grid)
        model = step.model
        if isinstance(model, GaussianKDE) and model.n_ * HELD_OUT <= EXACT_NLL_WORK:
            nll = -float(np.mean(kde_log_density(model.samples_, model.bandwidth, held_out)))
        else:
            nll = -float(np.mean(grid_log_density(p_i, ctx.grid, held_out)))
        record["held_out_nll"][i - 1] = nll if math.isfinite(nll) else math.inf
        densities[i] = p_i
        densities = {j: d for j, d in densities.items() if j == 0 or ctx.last_source_use.get(j, 0) > i}
        if partial is not None:
            partial.clear()
            partial.update(_record(index, statuses, record))
        if on_generation:
            on_generation()


def _compose(record: dict, bound_eps: list, scheme) -> None:
    """Fill ``composed_bound`` of the finished generations: the recursion of the bounds
    (:func:`boundcalc.bounds.compose.recursion`, theorem of derivations/composition.md) with
    eps_j = b(h_j) + s_j, on the scheme object that defined the loop (one call per seed)."""
    if bound_eps:
        record["composed_bound"][: len(bound_eps)] = [float(b) for b in recursion(bound_eps, scheme)]


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



def training_variance(samples) -> float:
    """Total (trace) ddof=0 variance of a training set."""
    x = np.asarray(samples, dtype=float)
    return float(np.sum(x.reshape(x.shape[0], -1).var(axis=0)))


