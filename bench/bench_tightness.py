"""Tightness of the KDE bounds against seeded self-consuming loops (issue 9, items 2 and 4).

For each setting, S seeded loops of the KDE validator's code (``iterate_loop``, the fitted KDE's
density on the validator's grid, ``tv_on_grid``) measure ``a_i = TV(p_i, p0)`` and the realised K2
integrals, generations 1..K; beside them the bounds of :mod:`boundcalc.bounds.kde_expected`:

* ``E-lin``: lemma KE2 (linear composition in expectation), divided by the mean measured a_i;
* ``E-var``: lemma KE3 (variance propagation in expectation), divided by the mean measured a_i;
* ``P-loop``: lemma KE5 (probability 1 - delta: KE3 plus one martingale deviation over the whole loop),
  divided by the empirical (1 - delta/K) quantile of the measured a_i (column ``loop/q``);
* ``P-new``: lemma KR5 (probability 1 - delta, realised K2 integral bounded by KR4), divided by the
  empirical (1 - delta/K) quantile of the measured a_i;
* ``P-old``: the same composition with the K2 integral at the expected law (today's a-priori bound,
  not a theorem for i >= 2), divided by the same quantile;
* ``J>Jhat``: runs in which a realised K2 integral exceeded its KR4 bound (must be 0 for a valid
  bound, up to probability delta/2), and ``Jhat/J``, the largest ratio of bound to realised integral.

Prints one table per setting; asserts nothing.  Run (about 5-10 minutes with the defaults):
``python bench/bench_tightness.py [--seeds 50] [--generations 5] [--delta 0.05] [--settings all]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from boundcalc.bounds import kde_terms
from boundcalc.bounds.compose import compose_bound
from boundcalc.bounds.learners import KDE
from boundcalc.bounds.kde_expected import expected_bound, loop_probability_bound, probability_bound
from boundcalc.model.kde_blocks import expected_laws_per_generation
from boundcalc.model.targets import mixture_of
from boundcalc.theory.catalogue import get_lemma
from boundcalc.validate import grid as gridlib
from boundcalc.validate import kde as V

SETTINGS = {
    "normal-mix-fresh": dict(target="normal", scheme="mix", n_real=100000, n_synth=100000, bandwidth="auto"),
    "bimodal-replace": dict(target="bimodal", scheme="replace", n_real=100000, n_synth=100000, bandwidth=0.094),
    "normal-accumulate": dict(target="normal", scheme="accumulate", n_real=20000, n_synth=20000, bandwidth=0.1),
    "normal-mix-reused": dict(target="normal", scheme="mix", n_real=100000, n_synth=100000, bandwidth="auto",
                              real_data="reused"),
}


def measure(ctx, seeds):
    """a_i and realised K2 integrals (of q_i and of each source law used) for ``seeds`` seeded loops."""
    K = ctx.config.generations
    a = np.full((seeds, K), np.nan)
    j_plan = np.full((seeds, K), np.nan)
    j_source = [dict() for _ in range(seeds)]  # (source, generation) -> realised J(p_source) at h_i
    for index in range(seeds):
        rng = V.seed_rng(ctx.config.seed, index)
        densities = {0: ctx.p0_grid}
        make = lambda i, n: V.GaussianKDE(ctx.bandwidths[i - 1])  # noqa: E731
        for step in V.iterate_loop(ctx.scheme, ctx.target, K, make, rng):
            i, h = step.generation, ctx.bandwidths[step.generation - 1]
            p_i, _ = step.model.density(ctx.grid)
            weights = step.source_weights()
            q_i = sum(w * densities[j] for j, w in enumerate(weights) if w > 0)
            a[index, i - 1] = gridlib.tv_on_grid(p_i, ctx.p0_grid, ctx.grid)
            j_plan[index, i - 1] = gridlib.k2_integral_on_grid(q_i, ctx.grid, h)
            for j, w in enumerate(weights):
                if w > 0:
                    j_source[index][(j, i)] = gridlib.k2_integral_on_grid(densities[j], ctx.grid, h)
            densities[i] = p_i
    return a, j_plan, j_source


def old_probability_bound(ctx, delta):
    """Today's a-priori composition: K1 + K2 (J at the expected law of lemma K4) + C2, delta split by C3."""
    K, target, scheme, hs = ctx.config.generations, ctx.target, ctx.scheme, ctx.bandwidths
    laws = expected_laws_per_generation(target, scheme, hs, K)
    split = kde_terms.kde_failure_split(scheme, K, delta)
    lap = float(target.laplacian_l1())
    out = []
    for plan, h in zip(scheme.plans(K), hs):
        w = plan.weights()
        if split.mode == "joint":
            j = mixture_of([(w[s], laws[s]) for s in range(len(w))]).k2_integral(h)
            stoch = float(kde_terms.kde_stochastic_tv(plan.n_total, h, 1, j, split.per_event_delta))
        else:
            stoch = sum(b.count / plan.n_total * float(kde_terms.kde_stochastic_tv(
                b.count, h, 1, laws[b.source].k2_integral(h), split.per_event_delta)) for b in plan.blocks)
        out.append(float(get_lemma("K1").evaluate(h=h, Lambda=lap)) / 2 + stoch
                   + sum(w[j] * out[j - 1] for j in range(1, len(w))))
    return out


def run_setting(name, spec, seeds, K, delta):
    config = V.KDEValidationConfig(generations=K, seeds=seeds, delta=delta, **spec).checked()
    ctx = V.build_context(config)
    start = time.perf_counter()
    a, j_plan, j_source = measure(ctx, seeds)
    loop_seconds = time.perf_counter() - start
    scheme, target, hs = ctx.scheme, ctx.target, ctx.bandwidths
    expected = expected_bound(scheme, target, hs, K)
    prob = probability_bound(scheme, target, hs, K, delta)
    loop = loop_probability_bound(scheme, target, hs, K, delta, expected=expected)
    old = old_probability_bound(ctx, delta)
    mean = a.mean(axis=0)
    quantile = np.quantile(a, 1 - delta / K, axis=0)
    # validity of KR4: realised J against its bound, joint (q_i) or per source
    exceed, worst = 0, np.inf
    for s in range(seeds):
        bad = False
        for i in range(1, K + 1):
            if prob.mode == "joint":
                pairs = [(j_plan[s, i - 1], prob.k2.plan[i - 1])]
            else:
                pairs = [(jr, prob.k2.source[src][i - 1]) for (src, g), jr in j_source[s].items() if g == i]
            for realised, bound in pairs:
                bad |= realised > bound
                worst = min(worst, bound / realised)
        exceed += bad
    print(f"\n== {name}: {spec}, h = {', '.join(f'{h:.4g}' for h in hs)}, {seeds} seeds, "
          f"delta = {delta}, loops {loop_seconds:.0f} s, KR5 mode {prob.mode}")
    print(f"{'gen':>4} {'mean a':>9} {'q(1-d/K)':>9} {'E-lin':>9} {'E-var':>9} {'lin/mean':>9} {'var/mean':>9}"
          f" {'P-loop':>9} {'loop/q':>7} {'P-new':>9} {'new/q':>7} {'P-old':>9} {'old/q':>7} {'Jhat':>7} {'J mean':>7}")
    for i in range(K):
        print(f"{i + 1:>4} {mean[i]:9.5f} {quantile[i]:9.5f} {expected.linear[i]:9.5f} {expected.variance[i]:9.5f}"
              f" {expected.linear[i] / mean[i]:9.2f} {expected.variance[i] / mean[i]:9.2f}"
              f" {loop.bound[i]:9.5f} {loop.bound[i] / quantile[i]:7.2f}"
              f" {prob.bound[i]:9.5f} {prob.bound[i] / quantile[i]:7.2f} {old[i]:9.5f} {old[i] / quantile[i]:7.2f}"
              f" {prob.k2.plan[i]:7.4f} {np.nanmean(j_plan[:, i]):7.4f}")
    print(f"   KR4: runs with a realised J above its bound: {exceed} of {seeds}; smallest Jhat/J {worst:.3f}")
    print(f"   E-var parts, TV(r_i,p0): {', '.join(f'{x:.5f}' for x in expected.bias_tv)}; "
          f"(1/2) int sqrt V_i: {', '.join(f'{x:.5f}' for x in expected.deviation)}")
    print(f"   runs with a_i above E-var at some i: {int(np.sum(np.any(a > np.array(expected.variance), axis=1)))}"
          f"; above P-loop: {int(np.sum(np.any(a > np.array(loop.bound), axis=1)))}"
          f"; above P-new: {int(np.sum(np.any(a > np.array(prob.bound), axis=1)))}")
    if len(set(hs)) == 1:  # the bound `boundcalc bound --learner kde` prints (fixed bandwidth)
        printed = compose_bound(scheme, KDE(target, bandwidth=hs[0]), K, delta)
        bound = [float(x) for x in printed.bound]
        in_exp = [float(t["in_expectation"]) for t in printed.terms]
        print("   printed by `bound` (learner kde): a_i <= " + " ".join(f"{x:.5f}" for x in bound)
              + "  (/q: " + " ".join(f"{x / q:.2f}" for x, q in zip(bound, quantile)) + ")")
        print("   printed in_expectation: E a_i <= " + " ".join(f"{x:.5f}" for x in in_exp)
              + "  (/mean: " + " ".join(f"{x / m:.2f}" for x, m in zip(in_exp, mean)) + ")")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--delta", type=float, default=0.05)
    parser.add_argument("--settings", default="all", help="comma-separated names of " + ", ".join(SETTINGS))
    args = parser.parse_args()
    names = list(SETTINGS) if args.settings == "all" else args.settings.split(",")
    for name in names:
        run_setting(name, SETTINGS[name], args.seeds, args.generations, args.delta)


if __name__ == "__main__":
    main()
