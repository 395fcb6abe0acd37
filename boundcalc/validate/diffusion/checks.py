"""Checks and notes of the diffusion experiments: the validity gate of every model, the
chi-square test of the samples fed forward, the recursion step (consistency), and notes on
resolution and the tau grid."""

from __future__ import annotations

import math

from boundcalc.validate.checks import RECURSION_TOLERANCE

#: a note is printed when the TV between a model's cell probabilities and their trapezoid estimates
#: from the density at the edges exceeds this (the cells do not resolve the density: the cell TVs
#: are then loose lower bounds)
RESOLUTION_TOLERANCE = 0.02
#: family-wise level of the forwarded-sample chi-square tests (Bonferroni over all tests of a run)
SAMPLE_TEST_LEVEL = 0.01


def _flat(units):
    """[(unit label, record)] of a list of (unit label, records)."""
    return [(label, r) for label, recs in units for r in recs]


def _recursion_check(units) -> dict:
    steps = [r for _, r in _flat(units) if r.get("measured", True)]
    bad = [r for r in steps if not r["recursion_holds"]]
    worst = min((float(r["recursion_rhs"]) - float(r["a"]) for r in steps), default=math.nan)
    return {"name": "recursion step", "kind": "consistency, holds by construction", "passed": not bad,
            "statement": f"a_i <= eps_i + TV(q_i, p0) held on {len(steps) - len(bad)} of {len(steps)} "
                         f"measured generation steps (tolerance {RECURSION_TOLERANCE:g}); on one partition "
                         "it holds by construction (triangle inequality of a seminorm), so it checks the "
                         "code, not the theory",
            "steps": len(steps), "violations": len(bad), "smallest_slack": worst}


def _gate_check(units) -> dict:
    """Every model passed the validity gate (certified inversion, probabilities summing to 1)."""
    flat = _flat(units)
    bad = [f"{label} generation {r['generation']}: {r['reason']}" for label, r in flat if not r["measured"]]
    worst_err = max((float(r["inversion_probability_error"]) for _, r in flat), default=math.nan)
    worst_x = max((float(r["inversion_x_residual"]) for _, r in flat), default=math.nan)
    worst_out = max((float(r["outside_grid_mass"]) for _, r in flat), default=math.nan)
    statement = (f"{len(flat) - len(bad)} of {len(flat)} models measured (increasing sampler map, certified "
                 f"inversion, cell probabilities summing to 1); largest total probability uncertainty "
                 f"{worst_err:.2g}, largest |Psi(u) - edge| {worst_x:.2g}, largest mass outside the grid "
                 f"{worst_out:.2g} (kept as the two tail cells)")
    if bad:
        statement += "; unmeasured: " + "; ".join(bad[:5]) + (f"; ... ({len(bad)} in all)" if len(bad) > 5 else "")
    return {"name": "model validity gate", "passed": not bad, "statement": statement, "unmeasured": bad}


def _sample_check(units, level: float = SAMPLE_TEST_LEVEL) -> dict:
    """The samples fed forward follow the measured model law: chi-square, Bonferroni family level."""
    tests = [(label, r["generation"], r["sample_test"]) for label, r in _flat(units) if r.get("sample_test")]
    if not tests:
        return {"name": "forwarded samples follow the measured law", "passed": True, "vacuous": True,
                "statement": "no model's samples were fed forward: nothing tested", "tests": 0}
    per_test = level / len(tests)
    bad = [f"{label} generation {g}: chi2 {t['chi2']:.4g} on {t['df']} df, p = {t['p_value']:.3g}"
           for label, g, t in tests if t["p_value"] < per_test]
    p_min = min(t["p_value"] for _, _, t in tests)
    statement = (f"chi-square of the samples of p_i fed to later generations against the measured cell "
                 f"probabilities of p_i: {len(tests) - len(bad)} of {len(tests)} tests not rejected at "
                 f"p >= {per_test:.3g} (family-wise level {level:g}, Bonferroni); smallest p = {p_min:.3g}")
    if bad:
        statement += "; rejected: " + "; ".join(bad[:5])
    return {"name": "forwarded samples follow the measured law", "kind": "statistical test, can fail",
            "passed": not bad, "statement": statement, "tests": len(tests), "level": level,
            "per_test_level": per_test, "smallest_p": p_min, "rejected": bad}


def _checks(units) -> list:
    return [_gate_check(units), _sample_check(units), _recursion_check(units)]


def _notes(units, tau_grid=None) -> list:
    notes = []
    flat = [r for _, r in _flat(units)]
    if tau_grid:
        taus = [r["tau"] for r in flat if r.get("tau_rule") == "held-out denoising loss"]
        at_edge = sum(1 for t in taus if t is not None and float(t) >= max(tau_grid))
        if at_edge:
            notes.append(f"{at_edge} of {len(taus)} held-out tau choices hit the largest tau of the grid "
                         f"({max(tau_grid):g}): the held-out loss was still falling there")
    unresolved = [float(r["unresolved_mass"]) for r in flat if r["measured"]]
    bad = [m for m in unresolved if not m <= RESOLUTION_TOLERANCE]
    if bad:
        notes.append(f"{len(bad)} of {len(unresolved)} model densities are not resolved by the cells (TV between the "
                     f"cell probabilities and their trapezoid estimates from the edge densities above "
                     f"{RESOLUTION_TOLERANCE}, worst {max(bad):.3f}): spikes narrower than a cell (usually a very "
                     "long training time); their cell TVs are lower bounds that may be loose; raise --grid-size "
                     "or lower --tau")
    notes.append("TVs are between cell-probability vectors (grid cells plus two tails): lower bounds of the "
                 "continuous TVs (data processing); a model's probabilities are those of its own samples")
    return notes

