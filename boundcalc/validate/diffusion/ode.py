"""Probability-flow ODE: sampling and the exact model density on a 1-D grid.

For the OU forward process ``dx = -x dt + sqrt(2) dW`` the probability-flow ODE of a score
``s`` is ``dx/dt = v(x, t) = -x - s(x, t)``.  The model law ``p_model`` is the law of
``x_{t_min}`` when ``x_T ~ pi = N(0, 1)`` is carried backwards from ``T`` to ``t_min``.

We integrate with a fixed classical Runge-Kutta (RK4) scheme on the time grid
``t_k = t_min + (T - t_min)(k/S)^2``.  The discrete map ``Psi: x_T -> x_{t_min}`` IS the
sampler, and its density is computed for the same map: in 1-D, ``Psi' `` follows from the
chain rule through every RK4 stage, using the exact derivative ``dv/dx = -1 - ds/dx`` (the
divergence; analytic for the relu features).  Then

.. math:: p_{model}(\\Psi(u)) = \\pi(u) / \\Psi'(u),

the discrete form of the instantaneous change of variables
``d/dt log p_t(x_t) = -div v`` [classical].

What the validator measures is :func:`cell_probabilities`: the law of the samples ``Psi(u)`` as
probabilities of grid cells and two tails, ``Phi(Psi^-1(e_{k+1})) - Phi(Psi^-1(e_k))``, with every
pre-image found by certified bracketed root finding on the sampler's own map (so the vector is the
law of exactly the samples fed forward, up to the reported bracket widths, and sums to 1).
:func:`density_on_grid` (node densities by interpolation + Newton steps, not guarded) is kept for
the accuracy tests of the RK4 derivative; it is exact only where its reported residual is small.
:func:`density_instantaneous` is an independent second implementation (grid points carried
forward to T with the divergence integral accumulated), used by the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from boundcalc._checks import check_positive_int
from boundcalc.validate.diffusion._torch import torch_module

LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def time_grid(t_min: float, horizon: float, steps: int) -> np.ndarray:
    """t_k = t_min + (horizon - t_min)(k/steps)^2, k = 0..steps (fine steps near t_min)."""
    k = np.arange(check_positive_int("steps", steps) + 1) / steps
    return t_min + (horizon - t_min) * k ** 2


def _drift(score, x, t):
    s, ds = score.evaluate(x, float(t))
    return -x - s, -1.0 - ds


@dataclass(frozen=True)
class FlowMap:
    """Images x = Psi(u) and log Psi'(u); ``monotone`` is False if some Psi' <= 0."""
    u: np.ndarray
    x: np.ndarray
    log_derivative: np.ndarray
    monotone: bool


def flow_map(score, u, t_min: float, horizon: float, steps: int, chunk: int = 16384,
             log_derivative: bool = True) -> FlowMap:
    """Carry ``u`` (draws of pi, at time T) back to t_min with RK4; track Psi' exactly.

    A score with an ``evaluate_numpy`` method (the random-feature score's kink tables) is
    integrated in numpy: the same operations in the same order as the torch loop, hence the same
    numbers, without torch's per-operation overhead (about 2 microseconds an operation, 3000
    operations a pass: the fixed cost of a pass that the certified inversion pays ten times a
    model).  ``log_derivative=False`` skips the ``log Psi'`` sum (returned as NaN) for callers
    that need only the images and the monotonicity check.
    """
    u = np.asarray(u, dtype=float).ravel()
    grid = time_grid(t_min, horizon, steps)[::-1]
    if hasattr(score, "evaluate_numpy"):
        return _flow_map_numpy(score, u, grid, chunk, log_derivative)
    torch = torch_module()
    xs, logs = [], []
    monotone = True
    with torch.no_grad():
        for start in range(0, u.size, chunk):
            x = torch.as_tensor(u[start:start + chunk].copy())
            logd = torch.zeros_like(x)
            for t0, t1 in zip(grid[:-1], grid[1:]):
                dt = t1 - t0  # negative
                k1, d1 = _drift(score, x, t0)
                k2, d2 = _drift(score, x + 0.5 * dt * k1, t0 + 0.5 * dt)
                d2 = d2 * (1 + 0.5 * dt * d1)
                k3, d3 = _drift(score, x + 0.5 * dt * k2, t0 + 0.5 * dt)
                d3 = d3 * (1 + 0.5 * dt * d2)
                k4, d4 = _drift(score, x + dt * k3, t1)
                d4 = d4 * (1 + dt * d3)
                x = x + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
                step_derivative = 1 + (dt / 6) * (d1 + 2 * d2 + 2 * d3 + d4)
                if bool((step_derivative <= 0).any()):
                    monotone = False
                logd = logd + torch.log(torch.clamp(step_derivative, min=1e-300))
            xs.append(x.numpy())
            logs.append(logd.numpy())
    return FlowMap(u, np.concatenate(xs), np.concatenate(logs), monotone)


def _drift_numpy(score, x, t):
    s, ds = score.evaluate_numpy(x, float(t))
    return -x - s, -1.0 - ds


def _flow_map_numpy(score, u, grid, chunk, log_derivative):
    """The RK4 loop of :func:`flow_map` on numpy arrays (operation for operation the same).

    ``log Psi'`` is summed in torch, one ``log`` per step on the same 1-D chunk as the torch
    loop, so its value does not depend on which loop ran.
    """
    xs, logs = [], []
    monotone = True
    torch = torch_module() if log_derivative else None
    for start in range(0, u.size, chunk):
        x = u[start:start + chunk].copy()
        logd = torch.zeros(x.shape, dtype=torch.float64) if log_derivative else None
        for t0, t1 in zip(grid[:-1], grid[1:]):
            dt = t1 - t0  # negative
            half = 0.5 * dt
            k1, d1 = _drift_numpy(score, x, t0)
            k2, d2 = _drift_numpy(score, x + half * k1, t0 + half)
            d2 = d2 * (1 + half * d1)
            k3, d3 = _drift_numpy(score, x + half * k2, t0 + half)
            d3 = d3 * (1 + half * d2)
            k4, d4 = _drift_numpy(score, x + dt * k3, t1)
            d4 = d4 * (1 + dt * d3)
            sixth = dt / 6
            x = x + sixth * (k1 + 2 * k2 + 2 * k3 + k4)
            step_derivative = 1 + sixth * (d1 + 2 * d2 + 2 * d3 + d4)
            if monotone and bool((step_derivative <= 0).any()):
                monotone = False
            if log_derivative:
                logd = logd + torch.log(torch.clamp(torch.from_numpy(step_derivative), min=1e-300))
        xs.append(x)
        logs.append(logd.numpy() if log_derivative else np.full(x.shape, np.nan))
    return FlowMap(u, np.concatenate(xs), np.concatenate(logs), monotone)


def sample(score, size: int, rng: np.random.Generator, t_min: float, horizon: float, steps: int) -> np.ndarray:
    """``size`` samples of the model: Psi(u), u ~ N(0, 1) drawn from ``rng``."""
    u = rng.standard_normal(check_positive_int("size", size))
    return flow_map(score, u, t_min, horizon, steps).x


@dataclass(frozen=True)
class GridDensity:
    """Model density on a grid, with diagnostics."""
    grid: np.ndarray
    density: np.ndarray
    monotone: bool
    covered: tuple[float, float]  # the range Psi([-u_max, u_max])
    inversion_residual: float     # max |Psi(u_node) - node| after the Newton steps
    nonfinite: int = 0            # nodes whose value overflowed (set to 0; flagged by the grid mass)


def density_on_grid(score, grid, t_min: float, horizon: float, steps: int,
                    u_points: int = 801, u_max: float = 8.5, newton_steps: int = 2) -> GridDensity:
    """Density of the ODE sampler at the grid nodes: ``pi(u)/Psi'(u)`` where ``Psi(u) = node``.

    ``Psi`` is tabulated on ``u_points`` values in ``[-u_max, u_max]``; each node's preimage is
    interpolated from the table and polished by Newton steps ``u <- u - (Psi(u) - x)/Psi'(u)``
    (each one more pass of the flow map over the nodes).  Nodes outside ``Psi([-u_max, u_max])``
    (pi-mass below 2e-17) get density 0.  The Newton steps are not guarded: on stiff or spiky
    models the residual can be large (observed 0.3 to 1e3); the validator's loops use
    :func:`cell_probabilities` instead, and this function serves the RK4 accuracy tests.
    """
    grid = np.asarray(grid, dtype=float)
    u = np.linspace(-u_max, u_max, check_positive_int("u_points", u_points, 3))
    fm = flow_map(score, u, t_min, horizon, steps)
    monotone = fm.monotone and bool(np.all(np.diff(fm.x) > 0))
    order = np.argsort(fm.x, kind="stable")
    x_sorted, u_sorted = fm.x[order], u[order]
    inside = (grid >= x_sorted[0]) & (grid <= x_sorted[-1])
    dens = np.zeros_like(grid)
    residual, nonfinite = 0.0, 0
    if inside.any():
        nodes = grid[inside]
        u_nodes = np.interp(nodes, x_sorted, u_sorted)
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(newton_steps):
                fn = flow_map(score, u_nodes, t_min, horizon, steps)
                step = (fn.x - nodes) * np.exp(-fn.log_derivative)
                u_nodes = np.clip(u_nodes - np.where(np.isfinite(step), step, 0.0), -u_max, u_max)
            fn = flow_map(score, u_nodes, t_min, horizon, steps)
            residual = float(np.max(np.abs(fn.x - nodes)))
            values = np.exp(-0.5 * u_nodes ** 2 - LOG_SQRT_2PI - fn.log_derivative)
        dens[inside] = np.where(np.isfinite(values), values, 0.0)
        nonfinite = int(np.sum(~np.isfinite(values)))
        monotone = monotone and fn.monotone
    return GridDensity(grid, dens, monotone, (float(x_sorted[0]), float(x_sorted[-1])), residual, nonfinite)


def density_instantaneous(score, points, t_min: float, horizon: float, steps: int) -> np.ndarray:
    """Second implementation: carry ``points`` forward t_min -> T with RK4 on (x, l),
    dl/dt = div v(x, t), and return pi(x_T) exp(l_T) (instantaneous change of variables)."""
    torch = torch_module()
    grid = time_grid(t_min, horizon, steps)
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(points, dtype=float).ravel().copy())
        ell = torch.zeros_like(x)
        for t0, t1 in zip(grid[:-1], grid[1:]):
            dt = t1 - t0
            k1, d1 = _drift(score, x, t0)
            k2, d2 = _drift(score, x + 0.5 * dt * k1, t0 + 0.5 * dt)
            k3, d3 = _drift(score, x + 0.5 * dt * k2, t0 + 0.5 * dt)
            k4, d4 = _drift(score, x + dt * k3, t1)
            x = x + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
            ell = ell + (dt / 6) * (d1 + 2 * d2 + 2 * d3 + d4)
        xT, ell = x.numpy(), ell.numpy()
    return np.exp(-0.5 * xT * xT - LOG_SQRT_2PI + ell)


def sample_sde(score, size: int, rng: np.random.Generator, t_min: float, horizon: float, steps: int) -> np.ndarray:
    """Reverse-SDE sampler (Euler-Maruyama), an option: dx = (-x - 2 s) dt + sqrt(2) dW backwards.

    Its law is close to, but not exactly, the ODE density: a loop that feeds these samples
    forward no longer has the measured density of its own samples.
    """
    torch = torch_module()
    grid = time_grid(t_min, horizon, steps)[::-1]
    x = torch.as_tensor(rng.standard_normal(check_positive_int("size", size)))
    with torch.no_grad():
        for t0, t1 in zip(grid[:-1], grid[1:]):
            h = t0 - t1
            s, _ = score.evaluate(x, float(t0))
            noise = torch.as_tensor(rng.standard_normal(x.shape[0]))
            x = x + h * (x + 2 * s) + np.sqrt(2 * h) * noise
    return x.numpy()


# -- cell probabilities: the measured law of the sampler ---------------------------------------
#: largest allowed uncertainty of one cell-edge CDF value Phi(Psi^-1(e)) after the root finding
EDGE_TOLERANCE = 1e-9
#: a model is "measured" only when the total probability uncertainty over all edges is below this
TOTAL_TOLERANCE = 1e-6
#: probes sit at least this share of the bracket away from the estimate (measured fastest of 0-0.1)
PROBE = 0.01


@dataclass(frozen=True)
class CellModel:
    """The law of the ODE sampler ``Psi(u)``, ``u ~ N(0, 1)``, as probabilities of grid cells.

    ``edges`` (N + 1,) cut the line into N cells and two tails; ``probabilities`` (N + 2,) holds
    ``P(X < e_0)``, the N cell probabilities ``Phi(Psi^-1(e_{k+1})) - Phi(Psi^-1(e_k))``, and
    ``P(X >= e_N)``.  ``cdf`` (N + 1,) is ``Phi(Psi^-1(e_k))``.

    Diagnostics: ``probability_error`` is the largest width, in probability, of the certified
    bracket ``Phi(u_lo) <= P(X < e) <= Phi(u_hi)`` left by the root finding at one edge, and
    ``total_probability_error`` their sum (it bounds the error of the TV on cells);
    ``x_residual`` is ``max |Psi(u_e) - e|`` at the returned pre-images (edges inside the tabulated
    range); ``outside_mass`` is the two tail probabilities; ``edge_density_mass`` is the trapezoid
    integral of the density ``pi(u_e)/Psi'(u_e)`` at the edges plus the tails, and ``unresolved_mass``
    is ``(1/2) sum_k |P_k - dx (f(e_k) + f(e_{k+1}))/2|`` over the cells: the TV between the cell
    probabilities and their trapezoid estimates from the edge densities, O(dx^2) for a density the
    cells resolve, large when it has spikes narrower than a cell (mass an edge never sees).
    """
    edges: np.ndarray
    cdf: np.ndarray
    probabilities: np.ndarray
    monotone: bool
    probability_error: float
    total_probability_error: float
    x_residual: float
    outside_mass: float
    edge_density_mass: float
    unresolved_mass: float
    iterations: int
    converged: bool

    @property
    def cells(self) -> np.ndarray:
        """The N interior cell probabilities (without the two tails)."""
        return self.probabilities[1:-1]


def _normal_cdf(u):
    from scipy.special import ndtr
    return ndtr(np.asarray(u, dtype=float))


def cell_probabilities(score, edges, t_min: float, horizon: float, steps: int, u_points: int = 801,
                       u_max: float = 8.5, max_iterations: int = 100) -> CellModel:
    """``P(Psi(u) < e)`` at every edge by bracketed root finding on the monotone map ``Psi``.

    ``Psi`` is tabulated at ``u_points`` values in ``[-u_max, u_max]``; if the table is increasing,
    each edge inside ``[Psi(-u_max), Psi(u_max)]`` gets a bracket ``[u_j, u_{j+1}]`` with
    ``Psi(u_j) <= e < Psi(u_{j+1})`` and the bracket is shrunk by the Illinois variant of regula
    falsi: each iteration probes ``c -+ delta`` around the estimate ``c`` (delta about 0.4
    EDGE_TOLERANCE in probability, at least 1% of the bracket), so a good estimate closes the
    bracket at once, and an iteration that did not halve the bracket is followed by a bisection
    (the bracket at least halves every two iterations: it converges for any increasing map), until
    ``Phi(u_hi) - Phi(u_lo) <= EDGE_TOLERANCE``.  Every evaluation
    is a pass of the sampler's own map, so the probabilities are those of the samples up to the
    reported bracket widths.  Edges below ``Psi(-u_max)`` get ``P = 0`` and edges above
    ``Psi(u_max)`` get ``P = 1`` (each off by at most ``Phi(-u_max) = 2e-17``, added to the errors).
    A non-increasing table gives ``monotone = False`` and ``converged = False`` (no inversion).
    """
    edges = np.asarray(edges, dtype=float).ravel()
    u_table = np.linspace(-u_max, u_max, check_positive_int("u_points", u_points, 3))
    fm = flow_map(score, u_table, t_min, horizon, steps, log_derivative=False)
    x_table = fm.x
    tail = float(_normal_cdf(-u_max))
    n_edges = edges.size
    nan_model = CellModel(edges, np.full(n_edges, np.nan), np.full(n_edges + 1, np.nan), False,
                          math.inf, math.inf, math.inf, math.nan, math.nan, math.nan, 0, False)
    if not (fm.monotone and np.all(np.isfinite(x_table)) and np.all(np.diff(x_table) > 0)):
        return nan_model
    monotone = True
    below, above = edges < x_table[0], edges >= x_table[-1]
    inside = ~(below | above)
    cdf = np.where(above, 1.0, 0.0)
    err = np.where(inside, 0.0, tail)
    x_residual, iterations, converged = 0.0, 0, True
    density_at_edges = np.zeros(n_edges)
    if inside.any():
        e = edges[inside]
        j = np.searchsorted(x_table, e, side="right") - 1          # x_j <= e < x_{j+1}
        lo, hi = u_table[j], u_table[j + 1]
        f_lo, f_hi = x_table[j] - e, x_table[j + 1] - e             # f_lo <= 0 < f_hi
        side = np.zeros(e.size, dtype=int)                          # last side kept (Illinois)
        hi = np.where(f_lo == 0, lo, hi)                            # an edge hit by the table
        slow = np.zeros(e.size, dtype=bool)
        active = (_normal_cdf(hi) - _normal_cdf(lo) > EDGE_TOLERANCE) & (f_lo != 0)
        while active.any() and iterations < max_iterations:
            iterations += 1
            idx = np.flatnonzero(active)
            a, b, fa, fb = lo[idx], hi[idx], f_lo[idx], f_hi[idx]
            with np.errstate(divide="ignore", invalid="ignore"):
                c = (a * fb - b * fa) / (fb - fa)
            bisect = ~np.isfinite(c) | (c <= a) | (c >= b) | slow[idx]
            c = np.where(bisect, 0.5 * (a + b), c)
            # probe both sides of the estimate: a bracket of probability width ~0.8 EDGE_TOLERANCE
            # around it ends the search when the estimate is good (regula falsi alone keeps one
            # end fixed for ever on a straight map)
            density_u = np.exp(-0.5 * c * c - LOG_SQRT_2PI)
            delta = np.minimum(0.25 * (b - a), np.maximum(PROBE * (b - a), 0.4 * EDGE_TOLERANCE / np.maximum(density_u, 1e-300)))
            probe_map = flow_map(score, np.concatenate([c - delta, c + delta]), t_min, horizon, steps,
                                 log_derivative=False)
            probes = probe_map.x
            monotone = monotone and probe_map.monotone  # every RK4 step derivative > 0 there too
            f1, f2 = probes[:idx.size] - e[idx], probes[idx.size:] - e[idx]
            if not (np.all(np.isfinite(f1)) and np.all(np.isfinite(f2))):
                converged = False
                break
            right_of = f2 <= 0                                      # root in [c + delta, b]
            left_of = f1 > 0                                        # root in [a, c - delta]
            both = ~(right_of | left_of)                            # root in [c - delta, c + delta]
            new_lo = np.where(right_of, c + delta, np.where(both, c - delta, a))
            new_hi = np.where(left_of, c - delta, np.where(both, c + delta, b))
            # Illinois: halve the function value at an end kept twice in a row
            prev = side[idx]
            new_flo = np.where(right_of, f2, np.where(both, f1, np.where(prev == -1, 0.5 * fa, fa)))
            new_fhi = np.where(left_of, f1, np.where(both, f2, np.where(prev == 1, 0.5 * fb, fb)))
            side[idx] = np.where(right_of, 1, np.where(left_of, -1, 0))
            slow[idx] = (new_hi - new_lo) > 0.5 * (b - a)           # bisect next time
            lo[idx], hi[idx], f_lo[idx], f_hi[idx] = new_lo, new_hi, new_flo, new_fhi
            active[idx] = (_normal_cdf(new_hi) - _normal_cdf(new_lo) > EDGE_TOLERANCE) & (new_flo != 0)
        if active.any():
            converged = False
        hi = np.where(f_lo == 0, lo, hi)                            # an end that is the root
        # the returned pre-image: linear interpolation inside the final bracket (the Illinois
        # values f are scaled, so interpolate on the true map values at the two ends instead)
        p_lo, p_hi = _normal_cdf(lo), _normal_cdf(hi)
        u_root = 0.5 * (lo + hi)
        final = flow_map(score, u_root, t_min, horizon, steps)
        x_residual = float(np.max(np.abs(final.x - e)))
        cdf[inside] = 0.5 * (p_lo + p_hi)
        err[inside] = 0.5 * (p_hi - p_lo)
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.exp(-0.5 * u_root ** 2 - LOG_SQRT_2PI - final.log_derivative)
        density_at_edges[inside] = np.where(np.isfinite(values), values, np.inf)
    cdf = np.maximum.accumulate(np.clip(cdf, 0.0, 1.0))
    probabilities = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    if edges.size > 1:
        trapezoid = 0.5 * (density_at_edges[1:] + density_at_edges[:-1]) * np.diff(edges)
        edge_mass = float(np.sum(trapezoid))
        with np.errstate(invalid="ignore"):
            unresolved = 0.5 * float(np.sum(np.abs(probabilities[1:-1] - trapezoid)))
    else:
        edge_mass, unresolved = 0.0, 0.0
    edge_mass += float(probabilities[0] + probabilities[-1])
    total_err = float(np.sum(err))
    monotone = monotone and final.monotone if inside.any() else monotone
    return CellModel(edges, cdf, probabilities, monotone, float(np.max(err)), total_err, x_residual,
                     float(probabilities[0] + probabilities[-1]), edge_mass, unresolved, iterations,
                     bool(monotone and converged and total_err <= TOTAL_TOLERANCE))
