r"""Array-level figures: lines, bands, phase curves, diagrams, early-stopping curves, panels.

This module draws numbers it is given and knows no result type; the bounds and validators turn
their results into arrays and call it.  matplotlib is imported inside the functions that draw
(``import boundcalc._figures`` does not import it), every figure is made on the Agg canvas without
pyplot (no display, no global figure state; :func:`pyplot_axes` is the one exception, for
notebooks), and every drawing runs under one fixed style (:func:`style`: matplotlib's defaults plus
:data:`STYLE`), so a user's ``matplotlibrc`` or an earlier ``plt.style.use`` does not change the files.

:func:`save_figure` renders PNG and PDF to bytes first and writes them with
:func:`boundcalc._io.write_atomic`.  The bytes carry no creation date and no software version
(PNG ``Software`` and PDF ``CreationDate`` removed, PDF ``Producer`` fixed), so the same inputs give
the same files, run after run.

Figures
-------
* :func:`generations_figure` -- :math:`a_i` (and :math:`\varepsilon_i`) against :math:`i`, one line per series;
* :func:`phase_figure` -- a bound against :math:`n_{\mathrm{synth}}` with a threshold marked;
* :func:`diagram_figure` -- values on a grid, coloured, with the contour of one level;
* :func:`early_stopping_figure` -- a bound against the training time with its optimum marked;
* :func:`panels_figure` -- side-by-side panels described by :class:`Panel` and :class:`Series`
  (the validators' figures);
* :func:`heatmaps_figure` -- side-by-side heat maps (:class:`HeatMap`) with the values in the cells
  (the sweep report's diagrams).
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc._io import safe_name, write_atomic

FORMATS = ("png", "pdf")
#: dots per inch of the PNG files
PNG_DPI = 150
#: the rcParams set on top of matplotlib's defaults for every figure
STYLE = {"font.size": 9.0, "axes.titlesize": 10.0, "axes.labelsize": 9.0, "legend.fontsize": 8.0,
         "xtick.labelsize": 8.0, "ytick.labelsize": 8.0, "axes.grid": False, "pdf.fonttype": 42,
         "svg.hashsalt": "boundcalc", "path.simplify": True, "figure.dpi": 100.0,
         "savefig.dpi": float(PNG_DPI)}
#: colour and marker of each scheme's line
SCHEME_STYLE = {"replace": ("tab:red", "o"), "mix": ("tab:blue", "s"), "accumulate": ("tab:green", "^"),
                "schedule": ("tab:purple", "D")}
CYCLE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray")
TV_LABEL = r"bound on $\mathrm{TV}(p_i, p_0)$ (dimensionless, $\leq 1$)"
#: rcParams that a style must not touch (they select or configure the GUI, not the drawing)
_UNSTYLED = {"backend", "backend_fallback", "interactive", "webagg.port", "webagg.address",
             "webagg.port_retries", "webagg.open_in_browser", "figure.raise_window", "tk.window_focus"}


# ------------------------------------------------------------------------------------------------
# Style, figures and files
# ------------------------------------------------------------------------------------------------

def _rc() -> dict:
    import matplotlib
    from cycler import cycler
    rc = {k: v for k, v in matplotlib.rcParamsDefault.items() if k not in _UNSTYLED}
    rc.update(STYLE)
    rc["axes.prop_cycle"] = cycler(color=list(CYCLE))
    return rc


@contextmanager
def style():
    """matplotlib's defaults plus :data:`STYLE`, whatever the user's rcParams; restored on exit."""
    import warnings

    import matplotlib
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rcParamsDefault holds a few keys matplotlib warns about
        ctx = matplotlib.rc_context(_rc())
        ctx.__enter__()
    try:
        yield
    finally:
        ctx.__exit__(None, None, None)


def new_figure(width: float = 6.4, height: float = 4.4, ncols: int = 1, constrained: bool = False):
    """A figure with ``ncols`` axes side by side on the Agg canvas: returns ``(fig, ax)`` for one axis,
    ``(fig, [ax, ...])`` for several."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    with style():
        fig = Figure(figsize=(width, height), dpi=100, layout="constrained" if constrained else None)
        FigureCanvasAgg(fig)
        axes = [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    return fig, (axes[0] if ncols == 1 else axes)


def pyplot_axes(width: float = 6.4, height: float = 4.4):
    """A new pyplot axis (so that a notebook shows the figure); for ``Result.plot()`` without ``ax``."""
    import matplotlib.pyplot as plt
    with style():
        _, ax = plt.subplots(figsize=(width, height))
    return ax


def figure_bytes(fig, fmt: str) -> bytes:
    """Render ``fig`` to PNG or PDF bytes, without timestamps or software versions (same figure, same bytes)."""
    if fmt not in FORMATS:
        raise BoundcalcError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    metadata = {"CreationDate": None, "ModDate": None, "Producer": "boundcalc", "Creator": "boundcalc"} \
        if fmt == "pdf" else {"Software": None}
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format=fmt, dpi=PNG_DPI if fmt == "png" else None, metadata=metadata, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig, out_dir, name: str, formats=FORMATS) -> list[Path]:
    """Write ``out_dir/name.<fmt>`` for each format atomically; returns the paths written.

    ``name`` must be a plain file name (:func:`boundcalc._io.safe_name`); every format is rendered
    before the first file is written.  The folder is created if needed; callers that own an
    ``--out`` folder check and lock it first (:func:`boundcalc._io.prepare_out_dir`)."""
    name = safe_name(name)
    formats = list(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise BoundcalcError(f"formats must be among {', '.join(FORMATS)}, got {','.join(map(str, formats))!r}")
    out_dir = Path(out_dir)
    blobs = [(fmt, figure_bytes(fig, fmt)) for fmt in dict.fromkeys(formats)]
    return [write_atomic(out_dir / f"{name}.{fmt}", data) for fmt, data in blobs]


def colours(n: int, cmap: str = "viridis", low: float = 0.0, high: float = 0.9) -> list[str]:
    """``n`` colours spread over ``[low, high]`` of a colour map, as hex strings."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex
    return [to_hex(c) for c in colormaps[cmap](np.linspace(low, high, max(n, 1)))][:n]


def as_floats(values) -> np.ndarray:
    """A float array of ``values`` (numpy, mpmath or Python numbers; None becomes NaN)."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def count_text(x: float) -> str:
    """A sample count for a label: 43069 rather than 4.307e+04."""
    return f"{x:.0f}" if 100 <= abs(x) < 1e9 else f"{x:.4g}"


def scale_for(values) -> str:
    """``log`` when the positive values span more than two decades, else ``linear``."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return "log" if v.size and v.max() / v.min() > 100 else "linear"


# ------------------------------------------------------------------------------------------------
# a_i against i
# ------------------------------------------------------------------------------------------------

#: a line over more generations than this is drawn through the first and last value and the smallest and
#: largest value of each of this many equal runs of generations (the drawn range is the data's), without markers
DRAWN_GENERATIONS = 2000


def decimate(values: np.ndarray, buckets: int = DRAWN_GENERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """(generations, values) to draw a long series: all points when there are at most ``buckets``, otherwise
    for each of ``buckets`` equal runs of generations the points of its smallest and largest value (in order),
    and the first and last point."""
    values = np.asarray(values, dtype=float)
    n = values.size
    if n <= buckets:
        return np.arange(1, n + 1), values
    edges = np.linspace(0, n, buckets + 1).astype(int)
    keep = {0, n - 1}
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi > lo:
            run = values[lo:hi]
            keep.update((lo + int(np.nanargmin(run)) if not np.all(np.isnan(run)) else lo,
                         lo + int(np.nanargmax(run)) if not np.all(np.isnan(run)) else lo))
    index = np.array(sorted(keep))
    return index + 1, values[index]


def draw_generations(ax, series: dict, show_eps: bool = True):
    """On ``ax``: for each ``name -> (bound, eps)`` (arrays over generations 1..K; ``eps`` may be
    None) the bound as a solid line with markers and eps dotted, in the scheme's colour; axes
    labelled, log scale when the values span more than two decades, the vacuous level TV = 1
    marked when a value exceeds it.  Past :data:`DRAWN_GENERATIONS` generations a line is drawn
    through :func:`decimate`'s points, without markers."""
    with style():
        everything = []
        for k, (name, (bound, eps)) in enumerate(series.items()):
            color, marker = SCHEME_STYLE.get(name, (CYCLE[k % len(CYCLE)], "o"))
            bound = as_floats(bound)
            generations, drawn = decimate(bound)
            ax.plot(generations, drawn, marker=marker if bound.size <= DRAWN_GENERATIONS else None, ms=4,
                    color=color, label=rf"$a_i$ bound, {name}")
            everything.append(bound)
            if show_eps and eps is not None:
                eps = as_floats(eps)
                ax.plot(*decimate(eps), linestyle=":", color=color, alpha=0.8, label=rf"$\varepsilon_i$, {name}")
                everything.append(eps)
        values = np.concatenate(everything) if everything else np.array([1.0])
        ax.set_xlabel(r"generation $i$ (count)")
        ax.set_ylabel(TV_LABEL)
        ax.set_yscale(scale_for(values))
        if np.nanmax(values) > 1:
            ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle="--")
            ax.text(1, 1.0, r" TV $\leq 1$: the bound is vacuous above", va="bottom", fontsize=8, color="0.3")
        ax.grid(True, which="both", alpha=0.3)
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return ax


def generations_figure(series: dict, title: str = "", show_eps: bool = True):
    """:func:`draw_generations` on a new figure with a title and a legend."""
    if not series:
        raise BoundcalcError("no scheme to plot")
    fig, ax = new_figure()
    draw_generations(ax, series, show_eps)
    with style():
        ax.set_title(title or r"Bound on $a_i = \mathrm{TV}(p_i, p_0)$ across generations")
        ax.legend(ncol=2)
    return fig


# ------------------------------------------------------------------------------------------------
# Phase curve
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PhaseCurve:
    """A bound ``f`` at generation ``generation`` against ``n_synth`` (arrays), with its value at
    ``n_synth = 0``, its limit as ``n_synth`` grows, and the threshold and peak (None when absent)."""
    n_synth: np.ndarray
    bound: np.ndarray
    n_real: float
    generation: int | str
    at_zero: float
    limit: float
    threshold: float | None = None
    peak: float | None = None


def draw_phase(ax, curve: PhaseCurve):
    """The bound against n_synth (log axis); limit and value at zero as horizontal lines; the
    threshold as a red vertical line with the peak marked."""
    g = curve.generation
    with style():
        ax.plot(curve.n_synth, curve.bound, color="tab:blue", label=rf"bound on $a_{{{g}}}$")
        ax.set_xscale("log")
        ax.axhline(curve.limit, color="0.4", linestyle="--", linewidth=0.9,
                   label=rf"limit $n_{{\mathrm{{synth}}}} \to \infty$: {curve.limit:.4g}")
        ax.axhline(curve.at_zero, color="tab:green", linestyle=":", linewidth=0.9,
                   label=rf"at $n_{{\mathrm{{synth}}}} = 0$: {curve.at_zero:.4g}")
        if curve.threshold is not None:
            t = curve.threshold
            ax.axvline(t, color="tab:red", linewidth=1.2,
                       label=rf"threshold $s^* = {count_text(t)}$ ({t / curve.n_real:.3g} $n_{{\mathrm{{real}}}}$)")
            if curve.peak is not None:
                ax.plot([t], [curve.peak], marker="o", color="tab:red", zorder=5)
        ax.set_xlabel(r"synthetic samples $n_{\mathrm{synth}}$ at generation " + f"{g} (samples)")
        ax.set_ylabel(rf"bound on $\mathrm{{TV}}(p_{{{g}}}, p_0)$ (dimensionless)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    return ax


def phase_figure(curve: PhaseCurve, title: str = ""):
    """:func:`draw_phase` on a new figure with a title."""
    fig, ax = new_figure()
    draw_phase(ax, curve)
    with style():
        ax.set_title(title or f"Phase transition at generation {curve.generation}")
    return fig


def draw_bars(ax, labels, values, ylabel: str = "", title: str = ""):
    """A bar per value (grey, then blue), e.g. a target and the value achieved."""
    with style():
        ax.bar(list(labels), as_floats(values), color=["0.6", "tab:blue", "tab:green", "tab:red"][:len(values)])
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    return ax


# ------------------------------------------------------------------------------------------------
# Diagram
# ------------------------------------------------------------------------------------------------

@dataclass
class DiagramData:
    """Values on a grid: ``values[j, k]`` at ``x[k]``, ``y[j]``, with axis labels and scales, a title,
    the level whose contour is drawn, and notes gathered while drawing."""
    x: np.ndarray
    y: np.ndarray
    values: np.ndarray
    x_label: str
    y_label: str
    x_log: bool
    y_log: bool
    title: str
    level: float | None = None
    notes: list = field(default_factory=list)
    colour_label: str = r"bound on $\mathrm{TV}(p_K, p_0)$ (dimensionless)"
    x_bounds: tuple = (None, None)  # the x axis' natural limits (a real fraction lies in [0, 1])


def _edges(centres, log, low=None, high=None):
    """Cell edges around ``centres`` (midpoints, in log space when ``log``), clipped to [low, high]."""
    c = np.log(centres) if log else np.asarray(centres, float)
    if c.size == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    e = np.exp(e) if log else e
    return np.clip(e, low if low is not None else -np.inf, high if high is not None else np.inf)


def diagram_figure(data: DiagramData):
    """Cells coloured by value (log colour scale when the values span more than two decades), with the
    white contour of ``data.level`` (a note is added to ``data.notes`` when the level is outside the range)."""
    from matplotlib.colors import LogNorm, Normalize
    fig, ax = new_figure(6.6, 4.8)
    v = np.where(np.isfinite(data.values), data.values, np.nan)
    positive = v[v > 0]
    with style():
        if positive.size and positive.max() / positive.min() > 100:
            norm = LogNorm(positive.min(), positive.max())
        else:
            norm = Normalize(np.nanmin(v), np.nanmax(v))
        mesh = ax.pcolormesh(_edges(data.x, data.x_log, *data.x_bounds), _edges(data.y, data.y_log), v, norm=norm,
                             cmap="viridis", shading="flat")
        bar = fig.colorbar(mesh, ax=ax)
        bar.set_label(data.colour_label)
        if data.x_log:
            ax.set_xscale("log")
        if data.y_log:
            ax.set_yscale("log")
        title = data.title
        if data.level is not None:
            lo, hi = np.nanmin(v), np.nanmax(v)
            if lo < data.level < hi and min(v.shape) >= 2:
                cs = ax.contour(data.x, data.y, v, levels=[data.level], colors="white", linewidths=1.6)
                ax.clabel(cs, fmt={data.level: f"{data.level:.3g}"}, fontsize=8)
                bar.ax.axhline(data.level, color="white", linewidth=1.6)
                title += f"\nwhite contour: bound = {data.level:.3g}"
            else:
                title += f"\nlevel {data.level:.3g} outside the range [{lo:.3g}, {hi:.3g}]: no contour"
                data.notes.append(f"the level {data.level:g} is outside the range of the bound on this grid "
                                  f"[{lo:.4g}, {hi:.4g}]: no contour drawn")
        ax.set_xlabel(data.x_label)
        ax.set_ylabel(data.y_label)
        ax.set_title(title, fontsize=9)
    return fig


# ------------------------------------------------------------------------------------------------
# Early stopping
# ------------------------------------------------------------------------------------------------

@dataclass
class EarlyStoppingCurve:
    """A KL bound against the training time ``tau`` for one sample size ``n`` (width ``m``), its
    optimum ``(tau_star, kl_star)``, and the tau-dependent terms (name -> array over ``tau``); ``delta_i`` the
    failure probability of the statement whose constants were used (None: the constants as given) and
    ``confidence_factor`` the factor on c_stat, c_width, c_mc there (1 as given)."""
    n: float
    m: float
    tau: np.ndarray
    kl: np.ndarray
    tau_star: float
    kl_star: float
    terms: dict
    delta_i: float | None = None
    confidence_factor: float = 1.0


def early_stopping_figure(curves: list, title: str = "", show_terms: bool = True, chosen_tau: float | None = None,
                          ylabel: str = r"bound on $\mathrm{KL}(p_0 \,\|\, p_\tau)$ (nats), lemma D1"):
    """The KL bound against tau (log-log), tau* marked for each n; the terms of the first curve
    dashed grey; a chosen training time as a black dashed line."""
    if not curves:
        raise BoundcalcError("no curve to plot")
    fig, ax = new_figure()
    with style():
        if chosen_tau is not None:
            ax.axvline(chosen_tau, color="black", linestyle="--", linewidth=1, label=rf"chosen $\tau = {chosen_tau:g}$")
        for k, curve in enumerate(curves):
            color = CYCLE[k % len(CYCLE)]
            ax.plot(curve.tau, curve.kl, color=color,
                    label=rf"$n = {curve.n:g}$, $m = {curve.m:g}$: $\tau^* = {curve.tau_star:.3g}$")
            ax.axvline(curve.tau_star, color=color, linestyle=":", linewidth=1)
            ax.plot([curve.tau_star], [curve.kl_star], marker="o", color=color, zorder=5)
        if show_terms:
            styles = [(0, (5, 2)), (0, (1, 1)), (0, (3, 1, 1, 1)), (0, (6, 2, 1, 2))]
            for k, (name, values) in enumerate(curves[0].terms.items()):
                values = np.asarray(values, dtype=float)
                if np.any(values > 0):
                    ax.plot(curves[0].tau, values, color="0.45", linestyle=styles[k % len(styles)], linewidth=0.9,
                            label=f"{name} term ($n = {curves[0].n:g}$)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        all_kl = np.concatenate([np.asarray(c.kl, dtype=float) for c in curves])
        ax.set_ylim(max(all_kl.min() / 3, 1e-12), all_kl.max() * 2)
        ax.set_xlabel(r"training time $\tau$ of the gradient flow (time units of the flow, $\tau \geq 1$)")
        ax.set_ylabel(ylabel)
        ax.set_title(title or r"Early stopping: D1 bound against $\tau$, optimum $\tau^*$ (lemma D2) marked")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return fig


# ------------------------------------------------------------------------------------------------
# Panels described by data (the validators' figures)
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    """One thing drawn on a panel.

    ``kind``: ``line`` (``marker`` optional), ``points`` (markers only), ``band`` (filled between
    ``low`` and ``high``), ``errorbar`` (``y`` with intervals ``low``..``high``; caps), ``hline`` (at
    ``y``), ``vline`` (at ``x``).  ``clip`` clips ``low``/``high`` to an interval (e.g. (0, 1) for a
    total variation).
    """
    x: object = None
    y: object = None
    label: str | None = None
    kind: str = "line"
    color: str | None = None
    marker: str | None = None
    linestyle: str = "-"
    low: object = None
    high: object = None
    alpha: float = 1.0
    linewidth: float | None = None
    markersize: float = 4.0
    clip: tuple = (-np.inf, np.inf)


@dataclass(frozen=True)
class Panel:
    """One axis: its series, labels, scales (``linear``, ``log`` or ``symlog:<linthresh>``), limits
    (None = automatic), integer or explicit ticks, and where the legend goes (``best``, a matplotlib
    location, ``below`` the axis, or None).  ``right`` is an optional second y axis sharing x."""
    series: tuple = ()
    xlabel: str = ""
    ylabel: str = ""
    title: str = ""
    xscale: str = "linear"
    yscale: str = "linear"
    xlim: tuple = (None, None)
    ylim: tuple = (None, None)
    integer_x: bool = False
    xticks: object = None
    legend: str | None = "best"
    legend_columns: int = 1
    legend_size: float = 8.0
    right: "Panel | None" = None


def _scale(axis_setter, text: str):
    if text.startswith("symlog:"):
        axis_setter("symlog", linthresh=float(text.split(":", 1)[1]))
    else:
        axis_setter(text)


def _draw_series(ax, s: Series):
    kw = {"label": s.label, "color": s.color, "alpha": s.alpha}
    if s.kind in ("line", "points"):
        ax.plot(as_floats(s.x), as_floats(s.y), linestyle=s.linestyle if s.kind == "line" else "none",
                marker=s.marker if s.marker or s.kind == "line" else "o", ms=s.markersize, linewidth=s.linewidth, **kw)
    elif s.kind == "band":
        lo, hi = as_floats(s.low), as_floats(s.high)
        if np.any(np.isfinite(lo) & np.isfinite(hi)):
            ax.fill_between(as_floats(s.x), np.clip(lo, *s.clip), np.clip(hi, *s.clip), linewidth=0, **kw)
    elif s.kind == "errorbar":
        y = as_floats(s.y)
        lo, hi = np.clip(as_floats(s.low), *s.clip), np.clip(as_floats(s.high), *s.clip)
        err = np.vstack([np.nan_to_num(y - lo), np.nan_to_num(hi - y)]).clip(min=0)
        ax.errorbar(as_floats(s.x), y, yerr=err, marker=s.marker or "o", ms=s.markersize, capsize=3,
                    linestyle=s.linestyle, **kw)
    elif s.kind == "hline":
        ax.axhline(float(s.y), linestyle=s.linestyle, linewidth=s.linewidth or 0.9, **kw)
    elif s.kind == "vline":
        ax.axvline(float(s.x), linestyle=s.linestyle, linewidth=s.linewidth or 0.9, **kw)
    else:
        raise BoundcalcError(f"series kind must be line, points, band, errorbar, hline or vline; got {s.kind!r}")


def _draw_panel(ax, panel: Panel, twin: bool = False):
    """Draw ``panel`` on ``ax``; a ``twin`` (right-hand axis) leaves the shared x axis alone."""
    for s in panel.series:
        _draw_series(ax, s)
    _scale(ax.set_yscale, panel.yscale)
    if panel.ylim != (None, None):
        ax.set_ylim(*panel.ylim)
    ax.set_ylabel(panel.ylabel)
    if twin:
        return
    if panel.right is not None:  # before the x ticks: a scale change on the twin would reset them
        right = ax.twinx()
        _draw_panel(right, panel.right, twin=True)
    _scale(ax.set_xscale, panel.xscale)
    if panel.xlim != (None, None):
        ax.set_xlim(*panel.xlim)
    if panel.xticks is not None:
        from matplotlib.ticker import NullFormatter
        ticks = as_floats(panel.xticks)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    elif panel.integer_x:
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(panel.xlabel)
    if panel.title:
        ax.set_title(panel.title)
    ax.grid(True, which="both" if "log" in panel.yscale or "log" in panel.xscale else "major", alpha=0.3)
    h, lab = ax.get_legend_handles_labels()
    if panel.right is not None:
        h2, l2 = right.get_legend_handles_labels()
        h, lab = h + h2, lab + l2
    if panel.legend and h:
        if panel.legend == "below":
            ax.legend(h, lab, fontsize=panel.legend_size, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                      ncol=panel.legend_columns)
        else:
            ax.legend(h, lab, fontsize=panel.legend_size, loc=panel.legend, ncol=panel.legend_columns)


def panels_figure(panels, width: float | None = None, height: float = 4.4, title: str = ""):
    """One row of panels (each a :class:`Panel`), on a constrained layout, under an optional
    overall ``title``; returns the figure."""
    panels = list(panels)
    if not panels:
        raise BoundcalcError("no panel to draw")
    fig, axes = new_figure(width or 5.4 * len(panels), height, ncols=len(panels), constrained=True)
    axes = [axes] if len(panels) == 1 else axes
    with style():
        for ax, panel in zip(axes, panels):
            _draw_panel(ax, panel)
        if title:
            fig.suptitle(title, fontsize=10)
    return fig


# ------------------------------------------------------------------------------------------------
# Heat maps with the values written in the cells
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeatMap:
    """Values on a grid of categories: ``values[j, k]`` at column label ``x[k]``, row label ``y[j]``
    (NaN = no value, left blank); each map has its own linear colour scale."""
    values: np.ndarray
    x: tuple
    y: tuple
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""


def heatmaps_figure(maps, title: str = "", annotate: bool = True):
    """Heat maps side by side, each on its own colour scale, with the values written in the cells when
    ``annotate`` (white on dark cells, black on light ones); returns the figure."""
    maps = list(maps)
    if not maps:
        raise BoundcalcError("no heat map to draw")
    cols, rows = len(maps[0].x), len(maps[0].y)
    fig, axes = new_figure(max(4.6, 0.8 * cols + 1.6) * len(maps), max(4.0, 0.45 * rows + 1.8), ncols=len(maps),
                           constrained=True)
    axes = [axes] if len(maps) == 1 else axes
    with style():
        for ax, hm in zip(axes, maps):
            grid = np.asarray(hm.values, dtype=float)
            finite = grid[np.isfinite(grid)]
            vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
            if annotate:
                for (j, k), v in np.ndenumerate(grid):
                    if np.isfinite(v):
                        shade = (v - vmin) / (vmax - vmin) if vmax > vmin else 0.5
                        ax.text(k, j, f"{v:.3g}", ha="center", va="center", fontsize=7.5,
                                color="black" if shade > 0.6 else "white")
            ax.set_xticks(range(len(hm.x)), list(hm.x), rotation=45 if len(hm.x) > 6 else 0)
            ax.set_yticks(range(len(hm.y)), list(hm.y))
            ax.set_xlabel(hm.xlabel)
            ax.set_ylabel(hm.ylabel)
            ax.set_title(hm.title, fontsize=10)
            fig.colorbar(image, ax=ax, shrink=0.85)
        if title:
            fig.suptitle(title, fontsize=11)
    return fig
