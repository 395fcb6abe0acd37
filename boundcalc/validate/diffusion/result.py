"""The result of a diffusion experiment: :class:`DiffusionValidation` and its summary text."""

from __future__ import annotations

import math

from boundcalc.validate.checks import format_checks
from boundcalc.validate.result import ValidationResult
from boundcalc.validate.summary import format_table


class DiffusionValidation(ValidationResult):
    """Result of one diffusion experiment: ``data`` is the JSON object (``experiment``,
    ``inputs``, the experiment's tables, ``checks``, ``notes``, ``passed``)."""

    validator = "diffusion"

    @property
    def passed(self) -> bool:
        return bool(self.data["passed"])

    def table(self) -> str:
        return summary_text(self.data)

    def figure(self):
        """The figure as a matplotlib Figure (no file written)."""
        from boundcalc.validate.diffusion.plots import experiment_figure

        return experiment_figure(self.data)

    def _draw(self, out_dir):
        from boundcalc.validate.diffusion.plots import plot_experiment

        return plot_experiment(self.data, out_dir)


def _ci(s, k=None):
    s = {key: float(s[key] if k is None else s[key][k]) for key in ("mean", "ci95_low", "ci95_high")}
    if not math.isfinite(s["mean"]):
        return "-"
    if not math.isfinite(s["ci95_low"]):
        return f"{s['mean']:.4f}"
    return f"{s['mean']:.4f} [{s['ci95_low']:.4f}, {s['ci95_high']:.4f}]"


def _smallest_p(runs, g) -> str:
    ps = [float(run[g]["sample_test"]["p_value"]) for run in runs if run[g].get("sample_test")]
    return f"{min(ps):.3g}" if ps else "-"


def _measured_count(runs, g) -> str:
    return f"{sum(1 for run in runs if run[g].get('measured', True))}/{len(runs)}"


def summary_text(data: dict) -> str:
    kind = data["experiment"]
    lines = []
    if kind == "loop":
        for sc in data["schemes"]:
            rows = [[g + 1, sc["n_train"][g], _ci(sc["a"], g), _ci(sc["eps"], g), _ci(sc["tv_q_p0"], g),
                     _smallest_p(sc["runs"], g), _measured_count(sc["runs"], g)]
                    for g in range(len(sc["n_train"]))]
            lines.append(format_table(["gen", "N_i", "a_i = TV(p_i,p0) [95% CI]", "eps_i = TV(p_i,q_i)",
                                       "TV(q_i,p0)", "samples fed: min chi2 p", "measured"], rows,
                                      title=f"{sc['scheme']} (measured; TVs on cells, lower bounds)"))
        if data["schemes"]:
            lines.append("intervals: " + data["schemes"][0]["a"].get("interval", ""))
    elif kind == "phase":
        rows = [[r["n_synth"], _ci(r["a2"]), _ci(r["eps2"]), r.get("bound_a2")] for r in data["rows"]]
        lines.append(format_table(["n_synth", "a_2 measured [95% CI]", "eps_2", "bound a_2 (calibrated)"], rows,
                                  title=f"phase: mix, n_real = {data['n_real']}, generation 2"))
        p = data["prediction"]
        fit = p["rate"]
        lines.append(f"fitted rate (calibrated): eps(N) = {fit['C']:.4g} N^-{fit['alpha']:.4g}")
        if "exists" in p:
            lines.append("calculator (calibrated): " + (
                f"threshold n_synth* = {p['threshold']:.4g}, peak {p['peak']:.4g}, limit {p['limit']:.4g}"
                if p["exists"] else f"no transition for the fitted rate (limit {p['limit']:.4g})"))
        elif "error" in p:
            lines.append(p["error"])
        lines.append(data["peak"]["statement"])
        lines.append("intervals: " + data["rows"][0]["a2"].get("interval", ""))
    elif kind == "early-stopping":
        rows = [[r["n"], r["width"], _ci(r["tau_star"]), _ci(r["kl_star"]), r.get("d2_tau_star_calibrated"),
                 _ratio_text(r.get("envelope_ratio"))] for r in data["rows"]]
        lines.append(format_table(["n", "m", "tau* measured (geometric mean) [95% CI]", "best KL(p0||p_tau)",
                                   "D2 tau* (calibrated)", "fitted/measured KL: min median max"],
                                  rows, title="early stopping (" + (
                                      "MLP trained by SGD; tau in epochs, m = hidden width)"
                                      if data.get("inputs", {}).get("model", {}).get("model") == "mlp-sgd"
                                      else "random features)")))
        sl = data["slopes"]
        lines.append(f"slope of log tau* vs log n: {_ci(sl['log_tau_star_vs_log_n'])} (Li: 2/5); "
                     f"slope of log best KL vs log n: {_ci(sl['log_best_kl_vs_log_n'])} (Li: -2/5); {sl['width_rule']}")
        lines.extend(d1_lines(data["d1_fit"]))
        lines.append("intervals: tau* " + data["rows"][0]["tau_star"].get("interval", "") + "; best KL "
                     + data["rows"][0]["kl_star"].get("interval", "") + "; slopes " + sl["log_tau_star_vs_log_n"].get(
                         "interval", ""))
    else:
        cal = data["calibration"]
        fit = cal["fit"]
        lines.append(format_table(["n", "eps_1 measured [95% CI]", "C n^-alpha"],
                                  [[n, _ci(cal["eps"][str(n)]), fit["C"] * n ** -fit["alpha"]] for n in cal["ns"]],
                                  title=f"calibration (replace, generation 1): eps(N) = {fit['C']:.4g} N^-{fit['alpha']:.4g}"))
        for row in data["held_out"]:
            K = len(row["n_train"])
            rows = [[g + 1, row["n_train"][g], _ci(row["a"], g), (row.get("bound") or [None] * K)[g],
                     (row.get("ratio_bound_over_measured") or [None] * K)[g]] for g in range(K)]
            lines.append(format_table(["gen", "N_i", "a_i measured", "bound (calibrated)", "bound/measured"], rows,
                                      title=f"held out: {row['scheme']}"))
    lines.extend(f"note: {n}" for n in data.get("notes", []))
    if data["checks"]:
        lines.append("checks:")
        lines.append(format_checks(data["checks"]))
    return "\n\n".join(lines)


def _ratio_text(r) -> str | None:
    return None if not r else f"{r['min']:.3g} {r['median']:.3g} {r['max']:.3g}"


def d1_lines(d1) -> list[str]:
    """The calibrated D1 constants (pooled envelope, mean over seeds [95% interval]), one line per
    constant the data cannot determine, one line per missing branch (an older result: its own line)."""
    if "constants" not in d1:  # a result written before the envelope fit
        return [f"D1 fit: {d1.get('reason') or d1.get('form')}"]
    lines = []
    if d1["fitted"]:
        over = d1.get("over_seeds", {})
        parts = []
        for k, v in d1["constants"].items():
            if v is None:
                continue
            st = over.get(k)
            spread = (f" (per-seed mean {st['mean']:.4g} [{st['ci95_low']:.4g}, {st['ci95_high']:.4g}])"
                      if st and st.get("count", 0) > 1 and math.isfinite(float(st["ci95_low"])) else "")
            parts.append(f"{k} {v:.4g}{spread}")
        lines.append("D1 constants (calibrated upper envelope of every measured KL, all seeds pooled; "
                     + d1["form"] + "): " + ", ".join(parts))
    else:
        lines.append(d1["reason"])
    lines.extend(f"{k} not determined: {why}" for k, why in d1.get("undetermined", {}).items())
    lines.extend(d1.get("missing_branches", []))
    return lines

