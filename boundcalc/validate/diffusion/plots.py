"""PNG and PDF figures of the diffusion experiments (matplotlib, Agg back end).

``plot_experiment(data, out_dir)`` draws the figure of ``data["experiment"]`` from the result
JSON and returns the written paths.  Intervals are the 95% Student-t intervals over seeds
(clipped to the plotted range; with one seed only the means are drawn).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _arr(values):
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def _band(ax, x, summary, color, label, clip=(0.0, 1.0)):
    mean, lo, hi = _arr(summary["mean"]), _arr(summary["ci95_low"]), _arr(summary["ci95_high"])
    ax.plot(x, mean, "o-", color=color, label=label, ms=4)
    if np.all(np.isfinite(lo)):
        ax.fill_between(x, np.clip(lo, *clip), np.clip(hi, *clip), color=color, alpha=0.15, lw=0)


def _save(fig, out_dir, stem):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = out_dir / f"{stem}.{ext}"
        fig.savefig(path, dpi=130, bbox_inches="tight", metadata={"CreationDate": None} if ext == "pdf" else None)
        paths.append(path)
    return paths


def plot_loop(data, out_dir):
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    fig.subplots_adjust(wspace=0.3)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(data["schemes"])))
    for k, (sc, color) in enumerate(zip(data["schemes"], colors)):
        gens = np.arange(1, len(sc["n_train"]) + 1)
        _band(axes[0], gens, sc["a"], color, sc["scheme"])
        _band(axes[1], gens, sc["eps"], color, sc["scheme"])
        for run in sc["runs"]:
            pts = [(r["generation"], float(r["sample_test"]["p_value"])) for r in run if r.get("sample_test")]
            if pts:
                g, pv = zip(*pts)
                axes[2].plot(np.asarray(g) + 0.06 * (k - len(colors) / 2), pv, "o", color=color, ms=4)
    axes[0].set(xlabel="generation i", ylabel="a_i = TV(P_i, P0) on cells (lower bound)",
                title="measured a_i (95% CI over seeds)")
    axes[1].set(xlabel="generation i", ylabel="eps_i = TV(P_i, q_i) on cells (lower bound)",
                title="measured one-generation error")
    for ax in axes[:2]:
        ax.set_ylim(bottom=0)
    check = next((c for c in data.get("checks", []) if c["name"] == "forwarded samples follow the measured law"), None)
    if check and check.get("tests"):
        axes[2].axhline(check["per_test_level"], color="C3", ls="--",
                        label=f"reject below {check['per_test_level']:.2g} (family level {check['level']:g}, Bonferroni)")
        axes[2].legend(fontsize=8, loc="lower right")
        axes[2].set_ylim(bottom=check["per_test_level"] / 5, top=1.5)
    axes[2].set_yscale("log")
    axes[2].set(xlabel="generation i of the model", ylabel="chi-square p-value",
                title="samples fed forward vs measured law of p_i")
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    plt.close(fig)
    return _save(fig, out_dir, "diffusion_loop")


def plot_phase(data, out_dir):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    rows = data["rows"]
    s = np.array([r["n_synth"] for r in rows], dtype=float)
    mean = np.array([float(r["a2"]["mean"]) for r in rows])
    lo = np.array([float(r["a2"]["ci95_low"]) for r in rows])
    hi = np.array([float(r["a2"]["ci95_high"]) for r in rows])
    err = None if not np.all(np.isfinite(lo)) else [mean - np.clip(lo, 0, None), np.clip(hi, None, 1) - mean]
    ax.errorbar(s, mean, yerr=err, fmt="o-", capsize=3, label="measured a_2 (95% CI)")
    pred = data["prediction"]
    if "bound_a2" in rows[0]:
        ax.plot(s, [r["bound_a2"] for r in rows], "s", color="C3", label="composed bound, fitted rate (calibrated)")
        C, alpha, n_real = pred["rate"]["C"], pred["rate"]["alpha"], data["n_real"]
        s_max = max(s.max(), 3 * pred["threshold"]) if pred.get("exists") else s.max()
        dense = np.concatenate([[0.0], np.geomspace(max(1.0, n_real / 100), s_max, 200)])
        # docs/theory.md section 6 with a_1 = C n_real^-alpha: the same curve the calculator composes
        curve = C * (n_real + dense) ** -alpha + dense / (n_real + dense) * C * n_real ** -alpha
        ax.plot(dense, curve, "--", color="C3", lw=1)
    if pred.get("exists"):
        ax.axvline(pred["threshold"], color="C3", ls=":", label=f"threshold n_synth* = {pred['threshold']:.3g}")
    ax.set_xscale("symlog", linthresh=max(1.0, data["n_real"] / 2))
    ax.set(xlabel="n_synth (n_real = %d)" % data["n_real"], ylabel="a_2 = TV(p_2, p0)",
           title="phase: generation 2 of mix against n_synth")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    plt.close(fig)
    return _save(fig, out_dir, "diffusion_phase")


def plot_early_stopping(data, out_dir):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    fig.subplots_adjust(wspace=0.4)
    rows = data["rows"]
    colors = plt.cm.plasma(np.linspace(0, 0.85, len(rows)))
    for row, color in zip(rows, colors):
        axes[0].loglog(row["taus"], _arr(row["kl"]["mean"]), "-", color=color, label=f"n = {row['n']} (m = {row['width']})")
        axes[0].plot(float(row["tau_star"]["mean"]), float(row["kl_star"]["mean"]), "o", color=color)
    axes[0].set(xlabel="training time tau", ylabel="KL(P0 || P_tau) on cells (lower bound)",
                title="KL against tau (lines: mean; dots: mean of per-seed minima)")
    axes[0].legend(fontsize=8)
    n = np.array([r["n"] for r in rows], dtype=float)
    tau_star = np.array([float(r["tau_star"]["mean"]) for r in rows])
    kl_star = np.array([float(r["kl_star"]["mean"]) for r in rows])
    ax = axes[1]
    ax.loglog(n, tau_star, "o-", color="C0", label="tau* (measured)")
    ax.loglog(n, tau_star[0] * (n / n[0]) ** 0.4, ":", color="C0", label="slope 2/5 (Li)")
    ax2 = ax.twinx()
    ax2.loglog(n, kl_star, "s-", color="C1", label="best KL (measured)")
    ax2.loglog(n, kl_star[0] * (n / n[0]) ** -0.4, ":", color="C1", label="slope -2/5 (Li)")
    ax.set(xlabel="n", ylabel="tau* (geometric mean over seeds)", title="tau* and the best KL against n")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(n, [str(int(v)) for v in n])
    ax2.set_ylabel("best KL")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    for a in axes:
        a.grid(alpha=0.3, which="both")
    plt.close(fig)
    return _save(fig, out_dir, "diffusion_early-stopping")


def plot_calibrate(data, out_dir):
    plt = _plt()
    held = data["held_out"]
    fig, axes = plt.subplots(1, 1 + len(held), figsize=(3.6 * (1 + len(held)), 3.8))
    cal = data["calibration"]
    ns = np.array(cal["ns"], dtype=float)
    eps = [cal["eps"][str(int(n))] for n in ns]
    mean = np.array([float(e["mean"]) for e in eps])
    axes[0].semilogx(ns, mean, "o", label="eps_1 measured")
    grid = np.geomspace(ns.min(), ns.max() * 4, 50)
    fit = cal["fit"]
    axes[0].semilogx(grid, fit["C"] * grid ** -fit["alpha"], "-", label=f"{fit['C']:.3g} N^-{fit['alpha']:.3g}")
    axes[0].set(xlabel="N", ylabel="eps(N)", title="calibration (fitted)")
    from matplotlib.ticker import NullFormatter

    axes[0].xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_xticks(ns, [str(int(v)) for v in ns])
    axes[0].legend(fontsize=8)
    for ax, row in zip(axes[1:], held):
        gens = np.arange(1, len(row["n_train"]) + 1)
        _band(ax, gens, row["a"], "C0", "measured a_i")
        if "bound" in row:
            ax.plot(gens, row["bound"], "s--", color="C3", label="bound (calibrated)")
        ax.set(xlabel="generation", title=f"held out: {row['scheme']}")
        ax.set_ylim(bottom=0)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    plt.close(fig)
    return _save(fig, out_dir, "diffusion_calibrate")


PLOTTERS = {"loop": plot_loop, "phase": plot_phase, "early-stopping": plot_early_stopping,
            "calibrate": plot_calibrate}


def plot_experiment(data: dict, out_dir) -> list:
    """Draw the figure of ``data['experiment']``; return the written PNG and PDF paths."""
    return PLOTTERS[data["experiment"]](data, out_dir)
