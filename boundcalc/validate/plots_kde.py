r"""Figure of a KDE validation (PNG and PDF, drawn by :mod:`boundcalc._figures`).

Drawn from the JSON object alone (``KDEValidation.data``), so a saved result can be re-plotted.
Left panel: the measured :math:`a_i = \mathrm{TV}(p_i, p_0)` (mean over seeds with its 95% interval,
and the band holding the central 95% of the runs) against the composed and one-step a-posteriori
bounds and the K4 lower reference :math:`\mathrm{TV}(r_i, p_0)`.  Right panel: the terms of the
one-step bound (:math:`\varepsilon_i`, :math:`\mathrm{TV}(q_i, p_0)`, the stochastic term
:math:`s_i`, the bias :math:`b(h_i)`).  The same data give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from boundcalc import _figures
from boundcalc._figures import Panel, Series, as_floats


def validation_panels(data: dict) -> list[Panel]:
    """The two :class:`~boundcalc._figures.Panel` of a KDE validation's JSON object."""
    inputs = data["inputs"]
    gens = np.array(data["generations"], dtype=float)
    s = data["summary"]
    a = s["a"]
    composed = as_floats(s["composed_bound"]["mean"])
    left = [
        Series(gens, low=a["q025"], high=a["q975"], kind="band", color="C0", alpha=0.18,
               label=r"$a_i$, central 95% of runs"),
        Series(gens, a["mean"], low=a["ci95_low"], high=a["ci95_high"], kind="errorbar", color="C0",
               label=r"$a_i = \mathrm{TV}(p_i, p_0)$, mean and 95% CI"),
        Series(gens, composed, color="C3", marker="s", label=r"composed bound $B_i$ (mean over runs)"),
        Series(gens, s["one_step_bound"]["mean"], color="C1", linestyle="--", marker="^",
               label=r"one-step bound $b + s_i + \mathrm{TV}(q_i, p_0)$"),
        Series(gens, data["lower_reference"]["tv_r_p0"], color="C2", linestyle=":", marker="v",
               label=r"lower reference $\mathrm{TV}(r_i, p_0)$ (K4)"),
    ]
    if np.any(np.asarray(composed, dtype=float) > 1):
        left.append(Series(y=1.0, kind="hline", color="0.5", linestyle="-.", linewidth=0.8,
                           label=r"$\mathrm{TV} \leq 1$: bounds above it are vacuous"))
    tvq = as_floats(s["tv_q_p0"]["mean"])
    right = [
        Series(gens, s["eps"]["mean"], marker="o", color="C0", label=r"$\varepsilon_i = \mathrm{TV}(p_i, q_i)$"),
        Series(gens[1:], tvq[1:], marker="s", color="C1", label=r"$\mathrm{TV}(q_i, p_0)$"),
        Series(gens, s["stochastic"]["mean"], marker="^", color="C2", label=r"stochastic term $s_i$ (K2 + C2)"),
        Series(gens, data["bias_tv"], marker="v", color="C3", label=r"bias $b(h_i)$ (K1)"),
    ]
    real = f" ({inputs['real_data']} real data)" if inputs["scheme"] in ("mix", "accumulate") else ""
    policy = data["bandwidth"]["policy"].split(":")[0]
    ticks = gens if len(gens) <= 20 else None
    common = dict(xlabel=r"generation $i$", yscale="log", xticks=ticks, integer_x=True, legend="below",
                  legend_columns=2)
    return [
        Panel(tuple(left), ylabel=r"total variation to $p_0$",
              title=f"{inputs['scheme']}{real}, n_real {inputs['n_real']}, {data['seeds_finished']} seeds", **common),
        Panel(tuple(right), ylabel="TV (means over seeds)",
              title=f"terms of the bound; bandwidth {policy}, delta {inputs['delta']}", **common),
    ]


def validation_figure(data: dict):
    """The figure of a KDE validation's JSON object (two panels side by side)."""
    return _figures.panels_figure(validation_panels(data), width=11, height=5.2)


def plot_validation(data: dict, out_dir, stem: str | None = None) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` in ``out_dir`` (stem default ``kde_<scheme>``) atomically."""
    stem = stem or f"kde_{data['inputs']['scheme']}"
    return _figures.save_figure(validation_figure(data), out_dir, stem)
