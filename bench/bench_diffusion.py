"""Benchmarks of the diffusion validator, each a ratio measured side by side in this one run.

Every contender is run once per repetition, in turn, so all see the same machine load; min and
median over the repetitions are printed, with the load average before and after.

1. ``validate diffusion loop`` (the default experiment, a subprocess): wall and CPU time.
   Goal: <= 10 s.
2. The closed-form tau sweep against explicit gradient descent on the same random-feature model
   (m = 512, n = 2000 points, 8 (t, z) draws each, the tau grid of ``--tau auto`` up to 1e4):
   the closed form is the moments (G, b), one ``eigh`` and every tau; gradient descent starts
   from the same moments (timed too) and steps at 1/lambda_max (the largest stable step) to the
   same training times.  Printed end to end and for the sweep alone (given the moments, which
   both need).  Goal: >= 50x.
3. The random-feature fit (moments, ``eigh``, the tau chosen by held-out loss) against the
   typical user's torch loop: mini-batch Adam on the same features and the same denoising loss;
   the time Adam needs to bring its held-out loss within 5%, 1% and 0.2% of the closed form's.
   Goal: the closed form ahead at every size.
4. One generation with the default kink-table drift against the bare dense matrix products that
   the same generation needs in the dense formulation (the Gram product Phi^T Phi, Phi^T z, and
   for each drift evaluation x W^T + c and two products with A, A*W).  ``--dense`` also times
   the dense generation itself (minutes).

Usage: ``python bench/bench_diffusion.py [--quick] [--repeat 3] [--parts 1,2,3,4] [--dense]``.  No
timing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np


def load():
    return "load average %.2f %.2f %.2f (1, 5, 15 min) on %d cores" % (*os.getloadavg(), os.cpu_count())


def side_by_side(contenders, repeat):
    """{name: [seconds]}: every contender once per repetition, in turn; returns the last results too."""
    times = {name: [] for name in contenders}
    results = {}
    for _ in range(repeat):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return times, results


def fmt(ts):
    return f"min {min(ts):8.3f} s, median {statistics.median(ts):8.3f} s"


def ratio(a, b):
    """(ratio of minima, ratio of medians) of a over b."""
    return min(a) / min(b), statistics.median(a) / statistics.median(b)


def bench_loop(repeat):
    cmd = [sys.executable, "-m", "boundcalc.cli.main", "validate", "diffusion", "loop", "--json"]
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    print(f"1. `boundcalc validate diffusion loop --json` (default), {repeat} runs: wall {fmt(walls)}; "
          f"CPU {fmt(cpus)}  (goal <= 10 s)")


def bench_sweep(torch, m, n, repeat):
    from boundcalc.model.targets import bimodal
    from boundcalc.validate.diffusion.loop import TAU_GRID
    from boundcalc.validate.diffusion.score_models import RandomFeatureScore

    x = bimodal().sample(np.random.default_rng(0), n)
    taus = np.array([t for t in TAU_GRID if t <= 1e4])

    def moments():
        return RandomFeatureScore(width=m, draws_per_point=8, rng=np.random.default_rng(4))._moments(
            x, np.random.default_rng(5))

    G, b, _, _ = moments()
    lam_max = float(np.linalg.eigvalsh(G).max()) / m
    eta = 1.0 / lam_max
    Gt, bt = torch.as_tensor(G), torch.as_tensor(b)

    def closed_sweep(rf):
        return rf.flow(taus).coefficients

    def closed_end_to_end():
        rf = RandomFeatureScore(width=m, draws_per_point=8, rng=np.random.default_rng(4)).fit(x, np.random.default_rng(5))
        return closed_sweep(rf)

    def gd_steps(Gt, bt):
        A = torch.zeros(m, dtype=torch.float64)
        done, out, steps = 0.0, [], 0
        for tau in taus:
            k = int(np.ceil((tau - done) / eta))
            h = (tau - done) / k if k else 0.0
            for _ in range(k):
                A = A + h * (bt - Gt @ A / m)
            steps += k
            done = tau
            out.append(A.numpy().copy())
        return np.array(out), steps

    def gd_end_to_end():
        G, b, _, _ = moments()
        return gd_steps(torch.as_tensor(G), torch.as_tensor(b))

    fitted = RandomFeatureScore(width=m, draws_per_point=8, rng=np.random.default_rng(4)).fit(x, np.random.default_rng(5))

    def closed_given_moments():  # eigh + every tau, from the same G, b
        from boundcalc.validate.diffusion._torch import single_thread
        with single_thread():
            evals, evecs = torch.linalg.eigh(torch.as_tensor(fitted.gram_))
        fitted.eigenvalues_ = np.clip(evals.numpy(), 0.0, None)
        fitted.eigenvectors_ = evecs.numpy()
        return closed_sweep(fitted)

    times, res = side_by_side({"closed form": closed_end_to_end, "gradient descent": gd_end_to_end,
                               "closed form, sweep only": closed_given_moments,
                               "gradient descent, steps only": lambda: gd_steps(Gt, bt)}, repeat)
    gd, steps = res["gradient descent"]
    rel = np.linalg.norm(gd[-1] - res["closed form"][-1]) / np.linalg.norm(res["closed form"][-1])
    print(f"2. tau sweep, {len(taus)} training times up to {taus[-1]:g}, m = {m}, n = {n} ({8 * n} rows), "
          f"{repeat} repetitions")
    for name, ts in times.items():
        print(f"   {name:30s} {fmt(ts)}")
    print(f"   gradient descent: {steps} steps of 1/lambda_max; relative difference to the closed form at the "
          f"last tau {rel:.2e} (first order in the step)")
    r_end, r_sweep = ratio(times["gradient descent"], times["closed form"]), \
        ratio(times["gradient descent, steps only"], times["closed form, sweep only"])
    print(f"   SPEED-UP end to end (both compute the moments): {r_end[0]:.1f}x (minima), {r_end[1]:.1f}x (medians)")
    print(f"   SPEED-UP of the sweep given the moments:        {r_sweep[0]:.1f}x (minima), {r_sweep[1]:.1f}x "
          f"(medians)  (goal >= 50x)")


TOLERANCES = (0.05, 0.01, 0.002)


def bench_fit_vs_adam(torch, m, sizes, repeat, max_seconds):
    from boundcalc.model.targets import bimodal
    from boundcalc.validate.diffusion.loop import TAU_GRID
    from boundcalc.validate.diffusion.score_models import RandomFeatureScore

    print(f"3. random-feature fit (moments + eigh + tau by held-out loss over {len(TAU_GRID)} taus) against "
          f"mini-batch Adam (batch 2048 rows, lr 0.03 on A/m, held-out loss checked every 50 steps): the time "
          f"Adam needs to bring its held-out loss within {', '.join(f'{r:.1%}' for r in TOLERANCES)} of the "
          f"closed form's; m = {m}, {repeat} repetitions, Adam stopped after {max_seconds:g} s")
    for n in sizes:
        x = bimodal().sample(np.random.default_rng(0), n)
        n_fit = int(round(0.8 * n))
        x_fit, x_val = x[:n_fit], x[n_fit:]

        def closed():
            rf = RandomFeatureScore(width=m, draws_per_point=8, rng=np.random.default_rng(4)).fit(
                x_fit, np.random.default_rng(5))
            losses = rf.held_out_losses(x_val, np.random.default_rng(6), TAU_GRID)
            return float(losses.min()), rf

        best, rf = closed()
        Gv, bv, cv, _ = rf._moments(x_val, np.random.default_rng(6))
        Gv_t, bv_t = torch.as_tensor(Gv), torch.as_tensor(bv)
        targets = [best * (1 + r) for r in TOLERANCES]
        xt, t, sig, z = rf._draws(x_fit, np.random.default_rng(5))

        def adam():
            """{tolerance: seconds to reach it (inf if not reached)}, steps, last held-out loss."""
            gen = torch.Generator().manual_seed(0)
            a = torch.zeros(m, dtype=torch.float64, requires_grad=True)  # a = A / m
            opt = torch.optim.Adam([a], lr=0.03)
            rows = xt.size
            reached = {}
            t0, step = time.perf_counter(), 0
            while True:
                idx = torch.randint(rows, (2048,), generator=gen).numpy()
                phi = rf._features(xt[idx], t[idx], sig[idx])
                loss = torch.mean((phi @ a + torch.as_tensor(z[idx])) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                if step % 50 == 0:
                    with torch.no_grad():
                        held = float(a @ Gv_t @ a - 2.0 * a @ bv_t + cv)
                    elapsed = time.perf_counter() - t0
                    for r, target in zip(TOLERANCES, targets):
                        if r not in reached and held <= target:
                            reached[r] = elapsed
                    if len(reached) == len(TOLERANCES) or elapsed > max_seconds:
                        return {r: reached.get(r, np.inf) for r in TOLERANCES}, step, held

        closed_times, adam_runs = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            closed()
            closed_times.append(time.perf_counter() - t0)
            adam_runs.append(adam())
        c_min, c_med = min(closed_times), statistics.median(closed_times)
        print(f"   n = {n:6d}: closed form {fmt(closed_times)} (held-out loss {best:.5f}); Adam stopped after "
              f"{adam_runs[-1][1]} steps at held-out {adam_runs[-1][2]:.5f}")
        for r in TOLERANCES:
            ts = [run[0][r] for run in adam_runs]
            if all(np.isfinite(ts)):
                print(f"      Adam to within {r:5.1%}: {fmt(ts)}; Adam / closed form {min(ts) / c_min:.1f}x (minima), "
                      f"{statistics.median(ts) / c_med:.1f}x (medians)")
            else:
                done = [v for v in ts if np.isfinite(v)]
                got = (f"reached in {len(done)} of {repeat} runs (min {min(done):.3f} s, "
                       f"{min(done) / c_min:.1f}x the closed form's minimum), " if done else "")
                print(f"      Adam to within {r:5.1%}: {got}not reached within {max_seconds:g} s in "
                      f"{repeat - len(done)} of {repeat} runs")


def bench_generation(torch, m, n, n_samples, repeat, dense):
    from boundcalc.model.targets import bimodal
    from boundcalc.validate.diffusion import ode
    from boundcalc.validate.diffusion.loop import DiffusionConfig, model_cells, train
    from boundcalc.validate.diffusion.score_models import RandomFeatureScoreFunction

    config = DiffusionConfig(width=m).checked()
    grid = config.grid()
    x = bimodal().sample(np.random.default_rng(0), n)
    train(x[:200], config, grid, (9, 9))  # warm up

    def generation():
        model = train(x, config, grid, (1, 2))
        samples = ode.sample(model.score, n_samples, np.random.default_rng(3), config.t_min, config.horizon,
                             config.steps)
        return model, samples

    rows = n * config.draws_per_point
    g = torch.Generator().manual_seed(0)
    block = min(rows, 16384)
    Phi = torch.rand((block, m), generator=g, dtype=torch.float64)
    zz = torch.rand(block, generator=g, dtype=torch.float64)
    xb = torch.rand(16384, generator=g, dtype=torch.float64)
    W, c, A = (torch.rand(m, generator=g, dtype=torch.float64) for _ in range(3))
    model, _ = generation()
    nodes = int(model.probabilities.size)
    points = n_samples + config.u_points + 2 * nodes * int(model.cells.iterations)
    evaluations = 4 * config.steps

    drift_blocks = points / xb.shape[0]
    sampled = 8  # drift evaluations timed on one block of 16384 points, scaled (the cost is linear)

    def products():
        """Seconds of the dense formulation's products: every Gram block, and the drift products
        timed for ``sampled`` evaluations of one block and scaled to all points and evaluations."""
        t0 = time.perf_counter()
        for _ in range(int(np.ceil(rows / block))):
            Phi.T @ Phi, Phi.T @ zz
        t1 = time.perf_counter()
        for _ in range(sampled):
            pre = torch.addr(c.expand(xb.shape[0], -1), xb, W)
            pre @ A, pre @ A
        t2 = time.perf_counter()
        return (t1 - t0) + (t2 - t1) * drift_blocks * evaluations / sampled

    product_seconds = []
    times, _ = side_by_side({"generation (kink-table drift)": generation,
                             "dense matrix products": lambda: product_seconds.append(products())}, repeat)
    times["dense matrix products"] = product_seconds  # the scaled product time, not the timing run's
    print(f"4. one generation, m = {m}, n = {n} ({rows} rows), {n_samples} ODE samples, {nodes} cells "
          f"({model.cells.iterations} inversion iterations), {repeat} repetitions")
    for name, ts in times.items():
        print(f"   {name:30s} {fmt(ts)}")
    r = ratio(times["generation (kink-table drift)"], times["dense matrix products"])
    print(f"   RATIO generation / the dense formulation's bare matrix products: {r[0]:.2f} (minima), "
          f"{r[1]:.2f} (medians)  ({points} points x {evaluations} drift evaluations; the drift products "
          f"timed on {sampled} evaluations of 16384 points and scaled)")
    if dense:
        dense_score = RandomFeatureScoreFunction(model.score._Wn, model.score._U, model.score._An, "dense")
        t0 = time.perf_counter()
        model_cells(dense_score, config, grid)
        ode.sample(dense_score, n_samples, np.random.default_rng(3), config.t_min, config.horizon, config.steps)
        print(f"   dense generation (N x m drift, once): {time.perf_counter() - t0:.1f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (m = 128, n = 2000, 2e4 samples)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-loop", action="store_true", help="do not time validate diffusion loop")
    parser.add_argument("--dense", action="store_true", help="also time the dense generation (minutes)")
    parser.add_argument("--adam-seconds", type=float, default=30.0, help="give up on Adam after this long")
    parser.add_argument("--parts", default="1,2,3,4", help="which benchmarks to run (default all)")
    args = parser.parse_args(argv)

    from boundcalc.validate.diffusion._torch import torch_module

    torch = torch_module()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {load()}")
    parts = {int(p) for p in args.parts.split(",")}
    if 1 in parts and not args.skip_loop:
        bench_loop(args.repeat)
    m = 128 if args.quick else 512
    if 2 in parts:
        bench_sweep(torch, m, 500 if args.quick else 2000, args.repeat)
    if 3 in parts:
        bench_fit_vs_adam(torch, m, [1000, 3000] if args.quick else [1000, 3000, 10000], args.repeat,
                          args.adam_seconds)
    if 4 in parts:
        bench_generation(torch, m, 2000 if args.quick else 10000, 20000 if args.quick else 100000, args.repeat,
                         args.dense)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
