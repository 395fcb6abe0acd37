"""The result of a KDE validation: :class:`KDEValidation` and its table."""

from __future__ import annotations

from boundcalc.validate.checks import format_checks, verdict
from boundcalc.validate.result import ValidationResult
from boundcalc.validate.summary import format_table, interval_text


class KDEValidation(ValidationResult):
    """Result of :func:`boundcalc.validate.kde.validate_kde`: ``data`` is the JSON object
    (inputs, per-generation summaries over seeds, bounds, references, checks, runs)."""

    validator = "kde"

    @property
    def passed(self) -> bool:
        return self.data["all_checks_passed"]

    def table(self) -> str:
        return summary_table(self.data)

    def figure(self):
        """The figure as a matplotlib Figure (no file written)."""
        from boundcalc.validate.plots_kde import validation_figure

        return validation_figure(self.data)

    def _draw(self, out_dir):
        from boundcalc.validate.plots_kde import plot_validation

        return plot_validation(self.data, out_dir)


def summary_table(data: dict) -> str:
    """The readable summary printed by default: one row per generation, then the checks."""
    s = data["summary"]
    rows = []
    for k, gen in enumerate(data["generations"]):
        if not s:
            break

        def m(key):
            return s[key]["mean"][k]
        lo, hi = s["a"]["ci95_low"][k], s["a"]["ci95_high"][k]
        interval = interval_text(lo, hi)
        counted = s["a"]["count"][k]
        useful = ("-" if data["bandwidth"].get("data_driven") else
                  f"{counted - s['composed_bound']['vacuous_runs'][k]}/{counted}")
        rows.append([gen, data["bandwidth"]["per_generation"][k], m("a"), interval, m("eps"), m("tv_q_p0"),
                     data["lower_reference"]["tv_r_p0"][k], m("one_step_bound"), m("composed_bound"),
                     useful, m("held_out_nll") if "held_out_nll" in s else None])
    inp = data["inputs"]
    title = (f"KDE loop: scheme {inp['scheme']}, target {inp['target']}, n_real {inp['n_real']}, "
             f"{data['seeds_finished']}/{inp['seeds']} seeds, delta {inp['delta']} "
             f"({data['failure_split']['mode']} failure split over {data['failure_split']['events']} events); "
             f"means over seeds")
    table = format_table(["gen", "h", "a_i", "a_i 95% CI", "eps_i", "TV(q,p0)", "TV(r,p0)",
                          "1-step bnd", "composed", "B_i<1 runs", "held-out NLL"], rows, title)
    if s and s["a"].get("interval"):
        table += "\na_i 95% CI: " + s["a"]["interval"]
    if data["bandwidth"].get("data_driven"):
        table += f"\nbandwidth {inp['bandwidth']} (h = mean over seeds): {data['bandwidth']['bound']}"
    said = verdict(data["all_checks_passed"])
    if data.get("vacuous_checks"):
        said += (f"; VACUOUS: {', '.join(data['vacuous_checks'])} (every bound >= 1, TV <= 1 always: "
                    "no evidence for the bound)")
    return f"{table}\nchecks ({said}; status {data['status']}):\n{format_checks(data['checks'])}"
