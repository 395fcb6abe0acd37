"""Figures of a sweep report, drawn by :mod:`boundcalc._figures` (no pyplot; files written atomically).

* :func:`draw_phase_diagram`: heat maps over two axes, side by side: the measured final TV
  (mean over seeds), the bound's final value, and their ratio, each on its own colour scale
  with the values written in the cells; other axes are held at their first value (said in
  the title);
* :func:`draw_curves`: the summary metrics against one axis, one line per value of the other
  axes, with the 95% intervals of the means as bands.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from boundcalc import _figures
from boundcalc._io import write_atomic
from boundcalc.sweep.metrics import BOUND, MAX_CURVES, MEASURED, PREFERRED, RATIO, TITLES


def _title(report, metric) -> str:
    """The panel title; "mean over seeds" only when there are several seeds."""
    title = TITLES.get(metric, metric)
    if max(c["seeds"] for c in report.configurations) <= 1:
        title = title.replace(", mean over seeds", "")
    return title


def _save(fig, path: Path) -> Path:
    return write_atomic(path, _figures.figure_bytes(fig, "png"))


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
    configs, note = _slice(report, (x, y))
    xs = sorted({c["axes"][x] for c in configs})
    ys = sorted({c["axes"][y] for c in configs})
    maps = []
    for metric in metrics:
        grid = np.full((len(ys), len(xs)), np.nan)
        for c in configs:
            s = c["metrics"].get(metric)
            if s is not None:
                grid[ys.index(c["axes"][y]), xs.index(c["axes"][x])] = s["mean"]
        maps.append(_figures.HeatMap(grid, tuple(_label(v) for v in xs), tuple(_label(v) for v in ys),
                                     _title(report, metric), x, y))
    title = f"{report.name or 'sweep'}: {report.command}" + (f" ({note})" if note else "")
    fig = _figures.heatmaps_figure(maps, title, annotate=len(xs) <= 12 and len(ys) <= 16)
    return _save(fig, Path(path))


def draw_curves(report, axis: str, path) -> Path | None:
    """Metrics against ``axis`` with 95% interval bands, one line per value of the other axes."""
    metrics = _shown(report)
    if not metrics:
        return None
    others = [a for a in report.axes if a != axis]
    groups: dict = {}
    for c in report.configurations:
        groups.setdefault(tuple(c["axes"][a] for a in others), []).append(c)
    keys = list(itertools.islice(groups, MAX_CURVES))
    xs_all = [c["axes"][axis] for c in report.configurations]
    log_x = min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 20
    panels = []
    for metric in metrics:
        series = []
        for colour, key in zip(itertools.cycle(_figures.CYCLE), keys):
            cs = sorted(groups[key], key=lambda c: c["axes"][axis])
            xs = [c["axes"][axis] for c in cs]
            stats = [c["metrics"].get(metric) or {} for c in cs]
            label = ", ".join(f"{a} = {_label(v)}" for a, v in zip(others, key)) or None
            series.append(_figures.Series(xs, [s.get("mean") for s in stats], label, color=colour, marker="o"))
            series.append(_figures.Series(xs, kind="band", color=colour, alpha=0.2, low=[s.get("ci95_low") for s in stats],
                                          high=[s.get("ci95_high") for s in stats]))
        if metric == RATIO:
            series.append(_figures.Series(y=1.0, kind="hline", color="grey", linestyle="--", linewidth=0.8))
        last = metric == metrics[-1]
        panels.append(_figures.Panel(tuple(series), xlabel=axis, title=_title(report, metric),
                                     xscale="log" if log_x else "linear",
                                     legend="best" if last and others and keys else None, legend_size=7))
    suffix = f" (first {MAX_CURVES} of {len(groups)} lines)" if len(groups) > MAX_CURVES else ""
    bands = "; bands: 95% intervals over seeds" if max(c["seeds"] for c in report.configurations) > 1 else ""
    fig = _figures.panels_figure(panels, width=4.6 * len(panels), height=3.8,
                                 title=f"{report.name or 'sweep'}: {report.command} against {axis}{bands}{suffix}")
    return _save(fig, Path(path))
