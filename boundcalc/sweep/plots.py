"""Figures of a sweep report (matplotlib, imported lazily, Agg back end; files written atomically).

* :func:`draw_phase_diagram`: heat maps over two axes, side by side: the measured final TV
  (mean over seeds), the bound's final value, and their ratio, each on its own colour scale
  with the values written in the cells; other axes are held at their first value (said in
  the title);
* :func:`draw_curves`: the summary metrics against one axis, one line per value of the other
  axes, with the 95% intervals of the means as bands.
"""

from __future__ import annotations

import io
import itertools
import math
from pathlib import Path

import numpy as np

from boundcalc.sweep.metrics import BOUND, MAX_CURVES, MEASURED, PREFERRED, RATIO, TITLES


def _title(report, metric) -> str:
    """The panel title; "mean over seeds" only when there are several seeds."""
    title = TITLES.get(metric, metric)
    if max(c["seeds"] for c in report.configurations) <= 1:
        title = title.replace(", mean over seeds", "")
    return title


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    from boundcalc._io import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return write_atomic(path, buf.getvalue())


def _label(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _shown(report) -> list:
    present = [m for m in PREFERRED if any(m in c["metrics"] for c in report.configurations)]
    if not present:
        present = list(report.configurations[0]["metrics"])
    return present[:3]


def _slice(report, fixed_axes):
    """Configurations whose other axes are at their first value."""
    others = [a for a in report.axes if a not in fixed_axes]
    first = {a: report.configurations[0]["axes"][a] for a in others}
    chosen = [c for c in report.configurations if all(c["axes"][a] == first[a] for a in others)]
    note = ", ".join(f"{a} = {_label(v)}" for a, v in first.items())
    return chosen, note


def draw_phase_diagram(report, x: str, y: str, path) -> Path | None:
    """Heat maps of the measured TV, the bound and their ratio over axes ``x`` and ``y`` (each on
    its own colour scale, values written in the cells)."""
    metrics = [m for m in (MEASURED, BOUND, RATIO) if any(m in c["metrics"] for c in report.configurations)]
    if not metrics:
        metrics = _shown(report)[:1]
    if not metrics:
        return None
    plt = _plt()
    configs, note = _slice(report, (x, y))
    xs = sorted({c["axes"][x] for c in configs})
    ys = sorted({c["axes"][y] for c in configs})
    panel = max(4.6, 0.8 * len(xs) + 1.6)
    fig, axes = plt.subplots(1, len(metrics), figsize=(panel * len(metrics), max(4.0, 0.45 * len(ys) + 1.8)),
                             squeeze=False)
    annotate = len(xs) <= 12 and len(ys) <= 16
    for ax, metric in zip(axes[0], metrics):
        grid = np.full((len(ys), len(xs)), np.nan)
        for c in configs:
            s = c["metrics"].get(metric)
            if s is not None:
                grid[ys.index(c["axes"][y]), xs.index(c["axes"][x])] = s["mean"]
        finite = grid[np.isfinite(grid)]
        vmax = float(finite.max()) if finite.size else 1.0
        vmin = float(finite.min()) if finite.size else 0.0
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
        for (i, j), v in np.ndenumerate(grid):
            if annotate and np.isfinite(v):
                shade = (v - vmin) / (vmax - vmin) if vmax > vmin else 0.5
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7.5,
                        color="black" if shade > 0.6 else "white")
        ax.set_xticks(range(len(xs)), [_label(v) for v in xs], rotation=45 if len(xs) > 6 else 0)
        ax.set_yticks(range(len(ys)), [_label(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(_title(report, metric), fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.85)
    title = f"{report.name or 'sweep'}: {report.command}" + (f" ({note})" if note else "")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, Path(path))


def draw_curves(report, axis: str, path) -> Path | None:
    """Metrics against ``axis`` with 95% interval bands, one line per value of the other axes."""
    metrics = _shown(report)
    if not metrics:
        return None
    plt = _plt()
    others = [a for a in report.axes if a != axis]
    groups: dict = {}
    for c in report.configurations:
        groups.setdefault(tuple(c["axes"][a] for a in others), []).append(c)
    keys = list(itertools.islice(groups, MAX_CURVES))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.6), squeeze=False)
    xs_all = [c["axes"][axis] for c in report.configurations]
    log_x = min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 20
    for ax, metric in zip(axes[0], metrics):
        for key in keys:
            cs = sorted(groups[key], key=lambda c: c["axes"][axis])
            xs = np.array([c["axes"][axis] for c in cs], dtype=float)
            stats = [c["metrics"].get(metric) for c in cs]
            mean = np.array([np.nan if s is None else s["mean"] for s in stats], dtype=float)
            lo = np.array([np.nan if s is None else s["ci95_low"] for s in stats], dtype=float)
            hi = np.array([np.nan if s is None else s["ci95_high"] for s in stats], dtype=float)
            label = ", ".join(f"{a} = {_label(v)}" for a, v in zip(others, key)) or None
            line, = ax.plot(xs, mean, marker="o", ms=4, label=label)
            band = np.isfinite(lo) & np.isfinite(hi)
            if band.any():
                ax.fill_between(xs[band], lo[band], hi[band], color=line.get_color(), alpha=0.2, lw=0)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(axis)
        ax.set_title(_title(report, metric), fontsize=10)
        ax.grid(alpha=0.3)
        if metric == RATIO:
            ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    if others and keys:
        axes[0][-1].legend(fontsize=7, loc="best")
    suffix = f" (first {MAX_CURVES} of {len(groups)} lines)" if len(groups) > MAX_CURVES else ""
    bands = "; bands: 95% intervals over seeds" if max(c["seeds"] for c in report.configurations) > 1 else ""
    fig.suptitle(f"{report.name or 'sweep'}: {report.command} against {axis}{bands}{suffix}", fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))
