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
``d/dt log p_t(x_t) = -div v`` [classical].  The density measured on the grid is therefore the
density of exactly the samples fed to the next generation (up to the interpolation from the
points ``Psi(u_k)`` to the grid).  :func:`density_instantaneous` is an independent second
implementation (grid points carried forward to T with the divergence integral accumulated),
used by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import check_positive_int
from ._torch import torch_module

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


def flow_map(score, u, t_min: float, horizon: float, steps: int, chunk: int = 16384) -> FlowMap:
    """Carry ``u`` (draws of pi, at time T) back to t_min with RK4; track Psi' exactly."""
    torch = torch_module()
    u = np.asarray(u, dtype=float).ravel()
    grid = time_grid(t_min, horizon, steps)[::-1]
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
    (pi-mass below 2e-17) get density 0.
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
