"""Plots of a KDE validation (matplotlib, Agg backend; PNG and PDF).

Drawn from the JSON object alone (``KDEValidation.data``), so a saved result can be re-plotted.
Left panel: the measured a_i = TV(p_i, p0) (mean over seeds with its 95% interval, and the band
holding the central 95% of the runs) against the composed and one-step a-posteriori bounds and
the K4 lower reference TV(r_i, p0).  Right panel: the terms of the one-step bound (eps_i,
TV(q_i, p0), the stochastic term s_i, the bias b(h_i)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _arr(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def plot_validation(data: dict, out_dir, stem: str | None = None) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` in ``out_dir`` (stem default ``kde_<scheme>``)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = data["inputs"]
    stem = stem or f"kde_{inputs['scheme']}"
    gens = np.array(data["generations"])
    s = data["summary"]
    a = s["a"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.2), constrained_layout=True)

    left.fill_between(gens, _arr(a["q025"]), _arr(a["q975"]), color="C0", alpha=0.18,
                      label="a_i, central 95% of runs")
    mean = _arr(a["mean"])
    err = np.vstack([mean - _arr(a["ci95_low"]), _arr(a["ci95_high"]) - mean])
    left.errorbar(gens, mean, yerr=np.nan_to_num(err), color="C0", marker="o", ms=4, capsize=3,
                  label="a_i = TV(p_i, p0), mean and 95% CI")
    left.plot(gens, _arr(s["composed_bound"]["mean"]), color="C3", marker="s", ms=4,
              label="composed bound B_i (mean over runs)")
    left.plot(gens, _arr(s["one_step_bound"]["mean"]), color="C1", ls="--", marker="^", ms=4,
              label="one-step bound b + s_i + TV(q_i, p0)")
    left.plot(gens, data["lower_reference"]["tv_r_p0"], color="C2", ls=":", marker="v", ms=4,
              label="lower reference TV(r_i, p0) (K4)")
    if np.nanmax(_arr(s["composed_bound"]["mean"])) > 1:
        left.axhline(1.0, color="0.5", lw=0.8, ls="-.", label="TV <= 1: bounds above it are vacuous")
    left.set_yscale("log")
    left.set_xlabel("generation i")
    left.set_ylabel("total variation to p0")
    real = f" ({inputs['real_data']} real data)" if inputs["scheme"] in ("mix", "accumulate") else ""
    left.set_title(f"{inputs['scheme']}{real}, n_real {inputs['n_real']}, {data['seeds_finished']} seeds")
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    left.grid(True, which="both", alpha=0.3)

    right.plot(gens, _arr(s["eps"]["mean"]), marker="o", ms=4, label="eps_i = TV(p_i, q_i)")
    tvq = _arr(s["tv_q_p0"]["mean"])
    right.plot(gens[1:], tvq[1:], marker="s", ms=4, label="TV(q_i, p0)")
    right.plot(gens, _arr(s["stochastic"]["mean"]), marker="^", ms=4, label="stochastic term s_i (K2 + C2)")
    right.plot(gens, data["bias_tv"], marker="v", ms=4, label="bias b(h_i) (K1)")
    right.set_yscale("log")
    right.set_xlabel("generation i")
    right.set_ylabel("TV (means over seeds)")
    policy = data["bandwidth"]["policy"].split(":")[0]
    right.set_title(f"terms of the bound; bandwidth {policy}, delta {inputs['delta']}")
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    right.grid(True, which="both", alpha=0.3)
    if len(gens) <= 20:
        for ax in (left, right):
            ax.set_xticks(gens)

    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths
