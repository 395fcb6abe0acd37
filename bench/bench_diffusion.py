"""Benchmarks of the diffusion validator (issue 5); prints ratios measured in this one run.

1. One generation of the random-feature model (m = 512, n = 1e4 training points, 1e5 generated
   samples, 1-D): fit (features, Gram matrix, eigendecomposition), the tau choice, the model
   density on the grid and the 1e5 ODE samples, against the time of the bare matrix products the
   generation needs in the dense formulation: the Gram product Phi^T Phi and Phi^T z, and for
   every drift evaluation of the sampler and of the density the outer product x W^T + c and the
   two products with A and A*W.  Target: the generation within 3x of its matrix products.  Both
   drift evaluations are timed: the dense one (N x m pre-activations) and the default kink table
   (sorted relu kinks and prefix sums, O(N log m)).
2. The closed-form gradient flow for a sweep of tau (one eigendecomposition, then every tau) versus
   explicit gradient descent iterated to the same training times (step size at the stability
   limit 1/lambda_max of the flow in its units, so the fewest steps that are stable).

Usage: ``python bench/bench_diffusion.py [--quick] [--threads 1|2]``.  No timing is asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (m = 128, n = 2000, 2e4 samples)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the validator's)")
    args = parser.parse_args(argv)

    from boundcalc.model.targets import bimodal
    from boundcalc.validate.diffusion import ode
    from boundcalc.validate.diffusion._torch import torch_module
    from boundcalc.validate.diffusion.loop import DiffusionConfig, model_cells, train

    torch = torch_module()
    if args.threads:
        torch.set_num_threads(min(args.threads, 2))
    m, n, n_samples = (128, 2000, 20_000) if args.quick else (512, 10_000, 100_000)
    config = DiffusionConfig(width=m).checked()
    grid = config.grid()
    x = bimodal().sample(np.random.default_rng(0), n)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; m = {m}, n = {n}, "
          f"{n_samples} samples, {config.draws_per_point} (t, z) draws per point, {config.steps} RK4 steps, "
          f"grid {config.grid_size}, tau = {config.tau}")

    # -- 1. one generation ---------------------------------------------------------------------------
    from boundcalc.validate.diffusion.score_models import RandomFeatureScoreFunction

    train(x[:200], config, grid, (9, 9))  # warm up torch
    t0 = time.perf_counter()
    model = train(x, config, grid, (1, 2))  # fit (80%), tau by held-out loss (20%), cell probabilities
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = ode.sample(model.score, n_samples, np.random.default_rng(3), config.t_min, config.horizon, config.steps)
    t_sample = time.perf_counter() - t0
    t_density = best_of(lambda: model_cells(model.score, config, grid), 1)
    t_fit = t_train - t_density
    dense = RandomFeatureScoreFunction(model.score._Wn, model.score._U, model.score._An, "dense")
    t0 = time.perf_counter()
    d_dense = model_cells(dense, config, grid)
    samples_dense = ode.sample(dense, n_samples, np.random.default_rng(3), config.t_min, config.horizon, config.steps)
    t_dense_ode = time.perf_counter() - t0
    agree = max(np.max(np.abs(d_dense.probabilities - model.probabilities)), np.max(np.abs(samples_dense - samples)))

    # bare matrix products of the same shapes
    rows = n * config.draws_per_point
    g = torch.Generator().manual_seed(0)
    Phi = torch.rand((min(rows, 16384), m), generator=g, dtype=torch.float64)
    z = torch.rand(min(rows, 16384), generator=g, dtype=torch.float64)
    chunks = rows / Phi.shape[0]  # the fit (80%) and the held-out (20%) moments together cover all rows
    t_gram = best_of(lambda: (Phi.T @ Phi, Phi.T @ z)) * chunks
    # drift evaluations: 4 per RK4 step per point; points = samples + the u table + the inversion
    # passes (about 2 probes per edge per iteration, iterations as reported by the cell model)
    nodes = int(model.probabilities.size)
    points = n_samples + config.u_points + 2 * nodes * int(model.cells.iterations)
    evaluations = 4 * config.steps
    xb = torch.rand(16384, generator=g, dtype=torch.float64)
    W = torch.rand(m, generator=g, dtype=torch.float64)
    c = torch.rand(m, generator=g, dtype=torch.float64)
    A = torch.rand(m, generator=g, dtype=torch.float64)

    def drift_products():
        pre = torch.addr(c.expand(xb.shape[0], -1), xb, W)
        return pre @ A, pre @ A

    t_drift = best_of(drift_products) * (points / xb.shape[0]) * evaluations
    t_products = t_gram + t_drift
    t_generation = t_train + t_sample
    t_generation_dense = t_fit + t_dense_ode
    print("\n1. one generation of the random-feature model")
    print(f"   fit (moments of {rows} rows, eigh) + tau choice: {t_fit:8.3f} s   (tau* = {model.tau:.3g})")
    print(f"   cell probabilities ({nodes} cells):           {t_density:8.3f} s")
    print(f"   {n_samples} ODE samples:                       {t_sample:8.3f} s   (sample mean {samples.mean():+.3f}, "
          f"sd {samples.std():.3f})")
    print(f"   whole generation (kink-table drift):         {t_generation:8.3f} s")
    print(f"   whole generation (dense N x m drift):        {t_generation_dense:8.3f} s   (max difference to the "
          f"kink-table run {agree:.1e})")
    print(f"   matrix products of the dense formulation:    {t_products:8.3f} s   (Gram {t_gram:.3f} s, drift "
          f"{t_drift:.3f} s for {points} points x {evaluations} evaluations)")
    print(f"   RATIO dense generation / its matrix products = {t_generation_dense / t_products:.2f}  (target <= 3)")
    print(f"   RATIO default generation / those matrix products = {t_generation / t_products:.2f}  "
          f"(the 1-D kink table needs no N x m products in the ODE)")

    # -- 2. closed-form tau sweep vs gradient descent ----------------------------------------------
    from boundcalc.validate.diffusion.score_models import RandomFeatureScore

    taus = np.array(config.tau_grid)
    taus = taus[taus <= 1e4]
    t0 = time.perf_counter()
    rf = RandomFeatureScore(width=m, rng=np.random.default_rng(4)).fit(x[: n // 5], np.random.default_rng(5))
    closed = rf.flow(taus).coefficients
    t_closed = time.perf_counter() - t0
    lam_max = rf.eigenvalues_.max() / m
    eta = 1.0 / lam_max
    t0 = time.perf_counter()
    # the same moments (G, b) are the starting point of gradient descent: time them too
    rf_gd = RandomFeatureScore(width=m, rng=np.random.default_rng(4))
    G, b, _, _ = rf_gd._moments(x[: n // 5], np.random.default_rng(5))
    Gt, bt = torch.as_tensor(G), torch.as_tensor(b)
    A_gd = torch.zeros(m, dtype=torch.float64)
    done, steps_total, gd = 0.0, 0, []
    for tau in taus:
        k = int(np.ceil((tau - done) / eta))
        h = (tau - done) / k if k else 0.0
        for _ in range(k):
            A_gd = A_gd + h * (bt - Gt @ A_gd / m)
        steps_total += k
        done = tau
        gd.append(A_gd.numpy().copy())
    t_gd = time.perf_counter() - t0
    rel = np.linalg.norm(np.array(gd)[-1] - closed[-1]) / np.linalg.norm(closed[-1])
    print("\n2. tau sweep: closed-form gradient flow vs explicit gradient descent")
    print(f"   {len(taus)} training times up to tau = {taus[-1]:.3g} (n = {n // 5}, m = {m})")
    print(f"   closed form (moments + one eigh + all taus): {t_closed:8.3f} s")
    print(f"   gradient descent at step 1/lambda_max ({steps_total} steps): {t_gd:8.3f} s "
          f"(relative difference at the last tau {rel:.2e}, first-order in the step)")
    print(f"   SPEED-UP closed form / gradient descent = {t_gd / t_closed:.1f}x")
    full = max(config.tau_grid)
    steps_full = int(np.ceil(full / eta))
    print(f"   (the --tau auto sweep runs to tau = {full:g}: gradient descent would need {steps_full} steps, "
          f"projected {t_gd * steps_full / steps_total:.0f} s at the measured cost per step; the closed form "
          f"costs the same {t_closed:.3f} s)")


if __name__ == "__main__":
    main()
