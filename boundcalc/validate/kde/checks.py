"""The checks of a KDE validation (listed in ``derivations/validate-kde.md``): the recursion
step and the scheme coefficients (consistency), the grid mass (numerical), the composed and
one-step a-posteriori bounds (binomial test over runs), the K4 lower reference and, for
``replace`` with a fixed bandwidth, the training-variance recursion (references)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from boundcalc.model.targets import GaussianMixture
from boundcalc.validate.checks import (BINOMIAL_ALPHA, KIND_BOUND, KIND_CONSISTENCY, KIND_NUMERICAL, KIND_REFERENCE,
                                       RECURSION_TOLERANCE, Check, bound_evidence, recursion_slack)
from boundcalc.validate.kde.context import MASS_TOLERANCE, RunContext
from boundcalc.validate.summary import none_to_nan

#: how many standard errors the Monte-Carlo means may sit from a reference value
REFERENCE_STANDARD_ERRORS = 4.0
#: the Monte-Carlo mean of a_i must stay above TV(r_i, p0) minus this many standard errors
LOWER_REFERENCE_STANDARD_ERRORS = 3.0


def matrix(runs: list, key: str) -> np.ndarray:
    """The (runs, generations) array of one record field (None -> NaN)."""
    return np.array([none_to_nan(r[key]) for r in runs], dtype=float)


def variance_recursion(target: GaussianMixture, sizes: Sequence[int], bandwidths: Sequence[float]) -> list[float]:
    r"""Expected training-set variance of a fixed-bandwidth KDE loop under ``replace`` [classical]:

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




#: the kind of the bound checks when the learner is not the Gaussian KDE the bounds are about
KIND_YARDSTICK = "yardstick (the KDE's explicit bound; not a theorem for this learner)"


def build_checks(ctx: RunContext, runs: list, summary: dict, kde_learner: bool = True) -> list[Check]:
    """The checks of the module text.  With ``kde_learner=False`` (a user's generator) the bound
    checks are labelled yardsticks, and the KDE's references (the K4 law, the variance
    recursion of a KDE) are left out: they describe a KDE, not the learner that ran."""
    a, eps, tvq = matrix(runs, "a"), matrix(runs, "eps"), matrix(runs, "tv_q_p0")
    checks = []
    finite = np.isfinite(a)
    slack = recursion_slack(a, eps, tvq)
    worst = float(slack.min()) if slack.size else math.nan
    checks.append(Check(
        "recursion_step", bool(slack.size and worst >= -RECURSION_TOLERANCE),
        "a_i <= eps_i + TV(q_i, p0) on every generation of every run (theorem T2; grid TV is a seminorm, so this "
        f"holds by construction and tests the bookkeeping; tolerance {RECURSION_TOLERANCE:g} for rounding)",
        {"kind": KIND_CONSISTENCY, "steps_checked": int(slack.size), "worst_slack": worst,
         "tolerance": RECURSION_TOLERANCE}))

    coef = matrix(runs, "coefficient_sum")
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
             "TV(q_i, p0) <= sum_j w_ij a_j (convexity of TV)") + " on every later generation of every run "
        "(holds by construction on the grid; tests that q_i is the scheme's mixture)",
        {"kind": KIND_CONSISTENCY, "steps_checked": int(gap.size),
         "worst_gap" if not exact else "worst_abs_gap": worst_gap, "tolerance": RECURSION_TOLERANCE}))

    lost = matrix(runs, "kde_mass_lost")[finite]
    outside = matrix(runs, "outside_fraction")[finite]
    worst_lost = float(np.max(np.abs(lost))) if lost.size else math.nan
    acc = ctx.grid_accuracy
    checks.append(Check(
        "grid_mass", bool(lost.size) and worst_lost <= MASS_TOLERANCE,
        f"every fitted KDE p_i has grid integral within {MASS_TOLERANCE:g} of 1 (no sample or kernel mass "
        "off the grid), so the grid TVs are those of the whole space up to that and the quadrature error; "
        f"p0 and every K4 law r_i were required to (run refused otherwise)",
        {"kind": KIND_NUMERICAL, "worst_kde_mass_lost": worst_lost,
         "largest_outside_fraction": float(np.max(outside)) if outside.size else math.nan,
         "tolerance": MASS_TOLERANCE, "p0_mass": acc["p0_mass"],
         "worst_reference_mass_error": acc["worst_reference_mass_error"],
         "smallest_scale_in_spacings": acc["smallest_scale_in_spacings"]}))

    if runs and "held_out_nll" in runs[0]:
        nll = matrix(runs, "held_out_nll")
        bad = int(np.sum(finite & ~np.isfinite(nll)))
        checks.append(Check(
            "held_out_nll_finite", bad == 0,
            f"the held-out NLL (1000 samples of p0 per seed, apart from the training data) is "
            f"finite at every measured generation ({bad} not)",
            {"kind": KIND_NUMERICAL, "not_finite": bad}))

    if ctx.config.data_driven:  # no bound and no K4 law for a data-driven bandwidth (context.NO_BOUND_REASON)
        return checks

    for name, words in (("composed_bound", "a_i <= B_i = b(h_i) + s_i + sum_j w_ij B_j for all i"),
                        ("one_step_bound", "a_i <= b(h_i) + s_i + TV(q_i, p0) for all i")):
        ev = bound_evidence(a, matrix(runs, name), ctx.config.delta)
        passed = ev.pop("passed")
        checks.append(Check(
            name, passed,
            f"{words} (explicit constants, derivations/validate-kde.md) fails in a run with probability <= delta: fail only if "
            f"P(Bin(runs, delta) >= runs violating) < {BINOMIAL_ALPHA:g}; bounds >= 1 are vacuous and not evidence",
            {"kind": KIND_BOUND if kde_learner else KIND_YARDSTICK, **ev}))

    if not kde_learner:
        return checks

    mean, se = np.array(summary["a"]["mean"], float), np.array(summary["a"]["se"], float)
    lower = np.array(ctx.lower_reference)
    se_used = np.where(np.isfinite(se), se, 0.0)
    margin = mean + LOWER_REFERENCE_STANDARD_ERRORS * se_used - lower
    valid = np.isfinite(mean)
    checks.append(Check(
        "above_lower_reference", bool(np.all(margin[valid] >= 0)),
        f"Monte-Carlo mean of a_i + {LOWER_REFERENCE_STANDARD_ERRORS:g} se >= TV(r_i, p0) of lemma K4 "
        "(E TV(p_i, p0) >= TV(E p_i, p0) by convexity)",
        {"kind": KIND_REFERENCE, "worst_margin": float(margin[valid].min()) if valid.any() else math.nan,
         "standard_errors": LOWER_REFERENCE_STANDARD_ERRORS}))

    if ctx.config.scheme == "replace" and ctx.bandwidth_policy == "fixed":
        expected = np.array(variance_recursion(ctx.target, ctx.sizes, ctx.bandwidths))
        vm = np.array(summary["train_variance"]["mean"], float)
        vse = np.array(summary["train_variance"]["se"], float)
        ok_rows = np.isfinite(vm) & np.isfinite(vse)
        z = np.abs(vm - expected)[ok_rows] / np.maximum(vse[ok_rows], 1e-300)
        checks.append(Check(
            "reference_variance_recursion", bool(ok_rows.any() and np.all(z <= REFERENCE_STANDARD_ERRORS)),
            "mean training-set variance follows v_i = ((N-1)/N)(v_{i-1} + d h^2) (derivations/validate-kde.md) within "
            f"{REFERENCE_STANDARD_ERRORS:g} standard errors",
            {"kind": KIND_REFERENCE, "expected": expected.tolist(), "largest_z": float(z.max()) if z.size else math.nan,
             "standard_errors": REFERENCE_STANDARD_ERRORS}))
    return checks


