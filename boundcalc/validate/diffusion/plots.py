r"""PNG and PDF figures of the diffusion experiments (drawn by :mod:`boundcalc._figures`).

``plot_experiment(data, out_dir)`` draws the figure of ``data["experiment"]`` from the result
JSON alone and returns the written paths (the same data give the same bytes).  Intervals are the
95% Student-t intervals over seeds (clipped to the plotted range; with one seed only the means are
drawn).  ``experiment_panels(data)`` gives the panels without drawing them.
"""

from __future__ import annotations

import numpy as np

from boundcalc import _figures
from boundcalc._figures import Panel, Series, as_floats

#: the range of a total variation: interval ends are clipped to it
TV_RANGE = (0.0, 1.0)


def _mean_and_band(x, summary, color, label) -> list[Series]:
    """The means over seeds as a line with markers, and their 95% interval as a light band."""
    out = [Series(x, summary["mean"], color=color, marker="o", label=label)]
    if np.all(np.isfinite(as_floats(summary["ci95_low"]))):
        out.insert(0, Series(x, low=summary["ci95_low"], high=summary["ci95_high"], kind="band", color=color,
                             alpha=0.12, clip=TV_RANGE))
    return out


def loop_panels(data) -> list[Panel]:
    """a_i and eps_i per scheme (means and 95% bands), and the p-values of the forwarded-sample tests."""
    schemes = data["schemes"]
    colors = _figures.colours(len(schemes))
    a_series, eps_series, p_series = [], [], []
    for k, (sc, color) in enumerate(zip(schemes, colors)):
        gens = np.arange(1, len(sc["n_train"]) + 1, dtype=float)
        a_series += _mean_and_band(gens, sc["a"], color, sc["scheme"])
        eps_series += _mean_and_band(gens, sc["eps"], color, sc["scheme"])
        shift = 0.06 * (k - len(schemes) / 2)  # schemes side by side at each generation
        pts = [(r["generation"] + shift, float(r["sample_test"]["p_value"]))
               for run in sc["runs"] for r in run if r.get("sample_test")]
        if pts:
            g, pv = zip(*pts)
            p_series.append(Series(g, pv, kind="points", color=color, marker="o"))
    check = next((c for c in data.get("checks", []) if c["name"] == "forwarded samples follow the measured law"),
                 None)
    ylim = (None, None)
    if check and check.get("tests"):
        level = check["per_test_level"]
        p_series.append(Series(y=level, kind="hline", color="C3", linestyle="--", linewidth=1.4,
                               label=f"reject below {level:.2g} (family level {check['level']:g}, Bonferroni)"))
        ylim = (level / 5, 1.5)
    return [
        Panel(tuple(a_series), xlabel="generation i", ylabel="a_i = TV(P_i, P0) on cells (lower bound)",
              title="measured a_i (95% CI over seeds)", ylim=(0, None), integer_x=True),
        Panel(tuple(eps_series), xlabel="generation i", ylabel="eps_i = TV(P_i, q_i) on cells (lower bound)",
              title="measured one-generation error", ylim=(0, None), integer_x=True, legend=None),
        Panel(tuple(p_series), xlabel="generation i of the model", ylabel="chi-square p-value",
              title="samples fed forward vs measured law of p_i", yscale="log", ylim=ylim, integer_x=True,
              legend="lower right"),
    ]


def _phase_prediction(data, s_max):
    """The composed bound on a_2 against n_synth from the fitted rate (calibrated): the curve of
    :func:`boundcalc.bounds.phase.phase_transition` for ``PowerLaw(C, alpha)`` on a dense grid."""
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.bounds.phase import phase_transition

    rate, n_real = data["prediction"]["rate"], data["n_real"]
    result = phase_transition(PowerLaw(rate["C"], rate["alpha"]), n_real, generation=2)
    dense = np.concatenate([[0.0], np.geomspace(max(1.0, n_real / 100), s_max, 200)])
    return dense, np.array([float(result.curve(float(s))) for s in dense])


def phase_panels(data) -> list[Panel]:
    """Measured a_2 against n_synth (95% intervals), the calibrated bound and its threshold."""
    rows, pred, n_real = data["rows"], data["prediction"], data["n_real"]
    s = np.array([r["n_synth"] for r in rows], dtype=float)
    a2 = [r["a2"] for r in rows]
    series = [Series(s, [x["mean"] for x in a2], low=[x["ci95_low"] for x in a2], high=[x["ci95_high"] for x in a2],
                     kind="errorbar", color="C0", clip=TV_RANGE, label="measured a_2 (95% CI)")]
    if "bound_a2" in rows[0]:
        series.append(Series(s, [r["bound_a2"] for r in rows], kind="points", color="C3", marker="s",
                             label="composed bound, fitted rate (calibrated)"))
        s_max = max(s.max(), 3 * pred["threshold"]) if pred.get("exists") else s.max()
        dense, curve = _phase_prediction(data, s_max)
        series.append(Series(dense, curve, color="C3", linestyle="--", linewidth=1))
    if pred.get("exists"):
        series.append(Series(x=pred["threshold"], kind="vline", color="C3", linestyle=":", linewidth=1.4,
                             label=f"threshold n_synth* = {pred['threshold']:.3g}"))
    return [Panel(tuple(series), xlabel=f"n_synth (n_real = {n_real:d})", ylabel="a_2 = TV(p_2, p0)",
                  title="phase: generation 2 of mix against n_synth",
                  xscale=f"symlog:{max(1.0, n_real / 2)}", xlim=(0, None), ylim=(0, None), legend="below",
                  legend_columns=2)]


def early_stopping_panels(data) -> list[Panel]:
    """KL against tau for each n (with each seed's minimum), and tau* and the best KL against n beside
    the slopes 2/5 and -2/5 of Li et al."""
    rows = data["rows"]
    colors = _figures.colours(len(rows), "plasma", 0.0, 0.85)
    left = []
    for row, color in zip(rows, colors):
        left.append(Series(row["taus"], row["kl"]["mean"], color=color, marker="",
                           label=f"n = {row['n']} (m = {row['width']})"))
        left.append(Series([float(row["tau_star"]["mean"])], [float(row["kl_star"]["mean"])], kind="points",
                           color=color, markersize=6))
        if row.get("kl_calibrated"):  # the calibrated D1 envelope, drawn up to 10x the largest measured KL
            top = 10 * max(float(v) for v in row["kl"]["mean"] if np.isfinite(float(v)))
            shown = [float(v) if float(v) <= top else np.nan for v in row["kl_calibrated"]]
            left.append(Series(row["taus"], shown, color=color, marker="", linestyle="--",
                               label="calibrated D1 envelope" if row is rows[0] else None))
    n = np.array([r["n"] for r in rows], dtype=float)
    tau_star = np.array([float(r["tau_star"]["mean"]) for r in rows])
    kl_star = np.array([float(r["kl_star"]["mean"]) for r in rows])
    calibrated = [float(r["d2_tau_star_calibrated"]) for r in rows if r.get("d2_tau_star_calibrated")]
    d2 = ((Series(n, calibrated, color="C0", marker="x", linestyle="--", label="D2 tau* (calibrated)"),)
          if len(calibrated) == len(rows) else ())
    right = Panel((Series(n, kl_star, color="C1", marker="s", label="best KL (measured)"),
                   Series(n, kl_star[0] * (n / n[0]) ** -0.4, color="C1", linestyle=":", marker="",
                          label="slope -2/5 (Li)")),
                  ylabel="best KL", yscale="log")
    return [
        Panel(tuple(left), xlabel="training time tau", ylabel="KL(P0 || P_tau) on cells (lower bound)",
              title="KL against tau (lines: mean; dots: mean of per-seed minima)", xscale="log", yscale="log"),
        Panel((Series(n, tau_star, color="C0", marker="o", label="tau* (measured)"),
               Series(n, tau_star[0] * (n / n[0]) ** 0.4, color="C0", linestyle=":", marker="",
                      label="slope 2/5 (Li)")) + d2,
              xlabel="n", ylabel="tau* (geometric mean over seeds)", title="tau* and the best KL against n",
              xscale="log", yscale="log", xticks=n, legend="below", legend_columns=2, right=right),
    ]


def calibrate_panels(data) -> list[Panel]:
    """The fit eps(N) = C N^-alpha on generation-1 runs, then a_i against the calibrated bound on each
    held-out scheme."""
    cal, held = data["calibration"], data["held_out"]
    ns = np.array(cal["ns"], dtype=float)
    mean = np.array([float(cal["eps"][str(int(n))]["mean"]) for n in ns])
    fit = cal["fit"]
    grid = np.geomspace(ns.min(), ns.max() * 4, 50)
    panels = [Panel((Series(ns, mean, kind="points", color="C0", marker="o", markersize=6, label="eps_1 measured"),
                     Series(grid, fit["C"] * grid ** -fit["alpha"], color="C1",
                            label=f"fit {fit['C']:.3g} N^-{fit['alpha']:.3g} (calibrated)")),
                    xlabel="N", ylabel="eps(N)", title="calibration (fitted)", xscale="log", xticks=ns)]
    for row in held:
        gens = np.arange(1, len(row["n_train"]) + 1, dtype=float)
        series = _mean_and_band(gens, row["a"], "C0", "measured a_i")
        if "bound" in row:
            series.append(Series(gens, row["bound"], color="C3", marker="s", linestyle="--", label="bound (calibrated)"))
        panels.append(Panel(tuple(series), xlabel="generation", title=f"held out: {row['scheme']}", ylim=(0, None),
                            integer_x=True))
    return panels


PANELS = {"loop": (loop_panels, "diffusion_loop", 16, 4.4), "phase": (phase_panels, "diffusion_phase", 6.5, 4.6),
          "early-stopping": (early_stopping_panels, "diffusion_early-stopping", 12, 4.6),
          "calibrate": (calibrate_panels, "diffusion_calibrate", None, 3.8)}


def experiment_panels(data: dict) -> list[Panel]:
    """The panels of ``data['experiment']``."""
    return PANELS[data["experiment"]][0](data)


def experiment_figure(data: dict):
    """The figure of ``data['experiment']`` (panels side by side)."""
    make, _, width, height = PANELS[data["experiment"]]
    panels = make(data)
    return _figures.panels_figure(panels, width=width or 3.6 * len(panels), height=height)


def plot_experiment(data: dict, out_dir) -> list:
    """Draw the figure of ``data['experiment']``; write ``<stem>.png`` and ``.pdf`` in ``out_dir``
    atomically and return their paths."""
    return _figures.save_figure(experiment_figure(data), out_dir, PANELS[data["experiment"]][1])

