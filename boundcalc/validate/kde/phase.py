"""The phase-transition experiment for the Gaussian KDE (``boundcalc validate phase``): a
measured diagram of a_2 = TV(p_2, p0) over (real size n_real) x (synthetic size n_synth) beside
the bound's diagram of the calculator (``boundcalc phase``, the same learner).

Design (so that a peak can be seen if there is one):

* the learner is the one ``boundcalc phase --learner kde`` bounds: a Gaussian KDE with the fixed
  bandwidth h = K3(n_real) (lemma K3's choice for n_real samples of p0, the same at both
  generations), target p0 = the bimodal default;
* the synthetic sizes are multiples of n_real that bracket the bound's threshold n_synth* (about
  4 n_real for this learner), with points on both sides of it and far beyond it;
* generation 1 trains on n_real samples of p0, generation 2 on n_real fresh real samples and
  n_synth samples of p_1 (mix); a_2 is measured against the exact p0 on a grid (the KDE
  validator, one seeded loop per seed);
* enough seeds to resolve a rise: the 95% interval of each cell's mean a_2 (bootstrap percentile,
  in [0, 1]) has a half-width reported beside the target half-width; the rise is judged from the
  paired differences a_2(n_synth) - a_2(0) of the same seed indices (common random numbers), with
  their bootstrap interval.

Labels: the measured a_2 are "measured"; the bound's curve is the calculator's theorem (proved,
hypotheses on p0 and the KDE).
"""

from __future__ import annotations

import math

import numpy as np

from boundcalc._checks import BoundcalcError, check_positive_int
from boundcalc.validate.checks import format_checks
from boundcalc.validate.result import ValidationResult
from boundcalc.validate.summary import BOOTSTRAP_INTERVAL, bootstrap_mean_interval, format_table

DEFAULT_N_REALS = (250, 500, 1000)
DEFAULT_RATIOS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
#: the target half-width of each cell's 95% interval (the issue's design number)
TARGET_HALF_WIDTH = 0.02


def _bound_curve(n_real: int, delta: float):
    from boundcalc.bounds.learners import KDE
    from boundcalc.bounds.phase import phase_transition

    learner = KDE("bimodal", bandwidth="auto")
    ph = phase_transition(learner, n_real, generation=2, delta=delta)
    return ph


def kde_phase(n_reals=DEFAULT_N_REALS, ratios=DEFAULT_RATIOS, seeds: int = 44, seed: int = 0,
              delta: float = 0.05, grid_size: int | None = None) -> "PhaseValidation":
    """Measure a_2 on the (n_real, n_synth = ratio n_real) grid with ``seeds`` seeded loops per cell
    and put the bound's a_2 (``boundcalc phase``, KDE learner with h = K3(n_real)) beside it."""
    from boundcalc.bounds import kde_terms
    from boundcalc.model.targets import bimodal
    from boundcalc.validate.kde import validate_kde

    seeds = check_positive_int("seeds", seeds, minimum=2)
    n_reals = [check_positive_int("n_real", n, minimum=2) for n in n_reals]
    ratios = sorted(float(r) for r in ratios)
    if not ratios or ratios[0] != 0.0 or any(not (math.isfinite(r) and r >= 0) for r in ratios):
        raise BoundcalcError(f"ratios must be finite numbers >= 0 and include 0 (the reference), got {ratios}")
    target = bimodal()
    rows, checks_failed = [], []
    for n in n_reals:
        h = float(kde_terms.auto_bandwidth(target, n))
        ph = _bound_curve(n, delta)
        per_ratio, a0 = [], None
        for r in ratios:
            s = int(round(r * n))
            v = validate_kde(scheme="mix", n_real=n, n_synth=s, generations=2, seeds=seeds, seed=seed,
                             bandwidth=h, delta=delta, grid_size=grid_size)
            if not v.passed:
                checks_failed.append(f"n_real={n}, n_synth={s}")
            a2 = np.array([float(run["a"][1]) for run in v.data["runs"]])
            if a0 is None:
                a0 = a2
            lo, hi = bootstrap_mean_interval(a2)
            diff = a2 - a0
            dlo, dhi = bootstrap_mean_interval(diff) if r > 0 else (0.0, 0.0)
            per_ratio.append({"ratio": r, "n_synth": s, "a2_mean": float(a2.mean()), "a2_ci95": [lo, hi],
                              "a2_sd": float(a2.std(ddof=1)), "half_width": (hi - lo) / 2,
                              "rise_from_zero_mean": float(diff.mean()), "rise_from_zero_ci95": [dlo, dhi],
                              "bound_a2": float(ph.curve(s)) if ph.curve is not None else None,
                              "composed_bound_mean": float(v.data["summary"]["composed_bound"]["mean"][1])})
        dense = [float(x) for x in np.geomspace(0.5, max(ratios[-1], 1.0) * 2, 25)]
        rows.append({"n_real": n, "bandwidth": h, "cells": per_ratio,
                     "bound_curve": {"ratio": dense, "a2": [float(ph.curve(int(round(x * n)))) for x in dense],
                                     "a2_at_zero": float(ph.at_zero)},
                     "bound": {"exists": bool(ph.exists), "threshold": None if ph.threshold is None else
                               float(ph.threshold), "peak": float(ph.peak), "limit": float(ph.limit),
                               "at_zero": float(ph.at_zero)}})
    # the measured verdict: a rise is resolved when some n_synth > 0 has a paired-difference interval
    # entirely above 0; a peak when moreover the largest n_synth falls back below it
    rises = [(row["n_real"], c["n_synth"]) for row in rows for c in row["cells"][1:] if c["rise_from_zero_ci95"][0] > 0]
    falls = [(row["n_real"], c["n_synth"]) for row in rows for c in row["cells"][1:] if c["rise_from_zero_ci95"][1] < 0]
    near = []
    for row in rows:
        t = row["bound"]["threshold"]
        if t is not None:
            c = min(row["cells"], key=lambda c: abs(c["n_synth"] - t))
            near.append(f"n_real {row['n_real']}: at n_synth {c['n_synth']} (bound threshold {t:.0f}) measured "
                        f"a_2 - a_2(0) = {c['rise_from_zero_mean']:+.4f} [{c['rise_from_zero_ci95'][0]:+.4f}, "
                        f"{c['rise_from_zero_ci95'][1]:+.4f}]")
    statement = ("a rise of a_2 with n_synth is resolved at (n_real, n_synth) = " + str(rises) if rises else
                 "no rise of the measured a_2 above its value at n_synth = 0 is resolved in any cell")
    if falls:
        statement += f"; a_2 falls below its n_synth = 0 value (interval below 0) at {falls}"
    worst_half = max(c["half_width"] for row in rows for c in row["cells"])
    checks = [
        {"name": "intervals in [0, 1]", "passed": all(0 <= c["a2_ci95"][0] <= c["a2_ci95"][1] <= 1
                                                        for row in rows for c in row["cells"]),
         "statement": "every cell's 95% interval for the mean a_2 lies in [0, 1] (bootstrap percentile)"},
        {"name": "resolution", "passed": worst_half <= TARGET_HALF_WIDTH,
         "statement": f"largest half-width of a cell's 95% interval {worst_half:.4f} (target {TARGET_HALF_WIDTH})"},
        {"name": "KDE validations", "passed": not checks_failed,
         "statement": "every cell's KDE validation passed its own checks (bound, recursion, grid)"
                      if not checks_failed else f"checks failed in {checks_failed[:5]}"},
    ]
    data = {"experiment": "kde-phase", "learner": "Gaussian KDE, fixed bandwidth h = K3(n_real) (as boundcalc phase "
                                                  "--learner kde --bandwidth auto)",
            "target": "bimodal", "generation": 2, "scheme": "mix (n_real fresh real + n_synth of p_1)",
            "inputs": {"n_reals": n_reals, "ratios": ratios, "seeds": seeds, "seed": seed, "delta": delta,
                       "grid_size": grid_size},
            "interval": BOOTSTRAP_INTERVAL, "target_half_width": TARGET_HALF_WIDTH, "rows": rows,
            "verdict": {"rise_resolved": bool(rises), "rises": rises, "falls": falls, "statement": statement,
                        "at_bound_threshold": near},
            "checks": checks, "label": "measured (a_2); proved (bound)"}
    data["passed"] = all(c["passed"] for c in checks)
    from boundcalc.validate.runner import to_record

    return PhaseValidation(to_record(data))


class PhaseValidation(ValidationResult):
    validator = "kde-phase"

    def table(self) -> str:
        d = self.data
        lines = []
        for row in d["rows"]:
            b = row["bound"]
            rows = [[c["n_synth"], f"{c['ratio']:g}", f"{c['a2_mean']:.4f} [{c['a2_ci95'][0]:.4f}, {c['a2_ci95'][1]:.4f}]",
                     f"{c['rise_from_zero_mean']:+.4f} [{c['rise_from_zero_ci95'][0]:+.4f}, {c['rise_from_zero_ci95'][1]:+.4f}]",
                     c["bound_a2"]] for c in row["cells"]]
            title = (f"n_real {row['n_real']} (h = {row['bandwidth']:.4g}); bound: "
                     + (f"threshold n_synth* = {b['threshold']:.0f}, peak {b['peak']:.4g}, limit {b['limit']:.4g}"
                        if b["exists"] else "no transition"))
            lines.append(format_table(["n_synth", "ratio", "a_2 measured [95% CI]", "a_2 - a_2(0) [95% CI]",
                                       "bound a_2"], rows, title))
        lines.append("intervals: " + d["interval"])
        lines.append("verdict: " + d["verdict"]["statement"])
        lines.extend("  " + s for s in d["verdict"]["at_bound_threshold"])
        lines.append("checks:\n" + format_checks(d["checks"]))
        return "\n\n".join(lines)

    def figure(self):
        from boundcalc import _figures

        d = self.data
        fig, (ax1, ax2, ax3) = _figures.new_figure(15, 4.6, ncols=3)
        n_reals = [row["n_real"] for row in d["rows"]]
        ratios = d["inputs"]["ratios"]
        measured = np.array([[c["a2_mean"] for c in row["cells"]] for row in d["rows"]])
        bound = np.array([[c["bound_a2"] for c in row["cells"]] for row in d["rows"]], dtype=float)
        vmin, vmax = float(np.nanmin(measured)), float(np.nanmax(bound))
        from matplotlib.colors import LogNorm
        norm = LogNorm(vmin=vmin, vmax=vmax)
        for ax, values, title in ((ax1, measured, "measured mean $a_2$"), (ax2, bound, "bound on $a_2$ (boundcalc phase)")):
            im = ax.imshow(values, origin="lower", aspect="auto", norm=norm, cmap="viridis")
            ax.set_xticks(range(len(ratios)), [f"{r:g}" for r in ratios])
            ax.set_yticks(range(len(n_reals)), [str(n) for n in n_reals])
            ax.set_xlabel(r"$n_{synth} / n_{real}$")
            ax.set_ylabel(r"$n_{real}$")
            ax.set_title(title)
            for j in range(values.shape[0]):
                for k in range(values.shape[1]):
                    ax.text(k, j, f"{values[j, k]:.3f}", ha="center", va="center", fontsize=7, color="w")
        fig.colorbar(im, ax=[ax1, ax2], label=r"TV$(p_2, p_0)$")
        for j, row in enumerate(d["rows"]):
            x = [max(c["ratio"], 0.25) for c in row["cells"]]
            rise = [c["rise_from_zero_mean"] for c in row["cells"]]
            lo = [c["rise_from_zero_ci95"][0] for c in row["cells"]]
            hi = [c["rise_from_zero_ci95"][1] for c in row["cells"]]
            col = f"C{j}"
            ax3.errorbar(x, rise, yerr=[np.subtract(rise, lo), np.subtract(hi, rise)], color=col, marker="o",
                         capsize=3, label=f"measured, n_real {row['n_real']}")
            bc = row["bound_curve"]
            ax3.plot([0.25] + bc["ratio"], [0.0] + list(np.subtract(bc["a2"], bc["a2_at_zero"])), color=col,
                     linestyle="--",
                     label=f"bound, n_real {row['n_real']}")
            if row["bound"]["threshold"]:
                ax3.axvline(row["bound"]["threshold"] / row["n_real"], color=col, linestyle=":", linewidth=0.8)
        ax3.axhline(0.0, color="0.5", linewidth=0.8)
        ax3.set_xscale("log")
        ticks = [0.25] + [r for r in ratios if r > 0]
        ax3.set_xticks(ticks, ["0"] + [f"{r:g}" for r in ratios if r > 0])
        ax3.minorticks_off()
        ax3.set_xlabel(r"$n_{synth} / n_{real}$ (0 drawn at 0.25)")
        ax3.set_ylabel(r"$a_2(n_{synth}) - a_2(0)$")
        ax3.set_title("rise from n_synth = 0 (paired seeds, 95% CI)")
        ax3.legend(fontsize=6)
        return fig

    def _draw(self, out_dir):
        from boundcalc import _figures

        return _figures.save_figure(self.figure(), out_dir, "kde_phase")
