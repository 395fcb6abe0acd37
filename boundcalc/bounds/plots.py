r"""Figures of the bounds (matplotlib; imported only inside the functions that draw).

* :func:`plot_result` -- draws any result object on an axis (``BoundResult.plot()`` and friends);
* :func:`generations_figure` -- :math:`a_i` against :math:`i`, one line per scheme;
* :func:`phase_figure` -- the generation-:math:`I` bound of ``mix`` against :math:`n_{\mathrm{synth}}`
  with the threshold :math:`s^*` marked (THEORY.md section 5);
* :func:`diagram_figure` -- a phase diagram coloured by the final bound :math:`a_K`, over
  :math:`(n_{\mathrm{real}}, n_{\mathrm{synth}})` or (real fraction, generations), with the contour of a
  chosen level (data from :func:`diagram_sizes` / :func:`diagram_fraction_generations`);
* :func:`early_stopping_figure` -- the D1 bound against the training time :math:`\tau` with the D2
  optimum :math:`\tau^*` marked (data from :func:`early_stopping_curves`).

Every figure is drawn on a ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no display
needed) and written by :func:`save_figure` as PNG and PDF through
:func:`boundcalc._io.write_atomic` (rendered to bytes first, so an interrupted export never leaves a
half file; the PDF carries no creation date, so the same inputs give the same bytes).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import mpmath
import numpy as np

from boundcalc._checks import BoundcalcError

TV_LABEL = r"bound on $\mathrm{TV}(p_i, p_0)$ (dimensionless, $\leq 1$)"
SCHEME_STYLE = {"replace": ("tab:red", "o"), "mix": ("tab:blue", "s"), "accumulate": ("tab:green", "^"),
                "schedule": ("tab:purple", "D")}
FORMATS = ("png", "pdf")


# ------------------------------------------------------------------------------------------------
# Figures and files
# ------------------------------------------------------------------------------------------------

def new_figure(width: float = 6.4, height: float = 4.4):
    """A figure with one axis, on the Agg canvas (works without a display and inside tests)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def figure_bytes(fig, fmt: str) -> bytes:
    """Render ``fig`` to PNG or PDF bytes (no timestamps or software tags, for reproducible files)."""
    if fmt not in FORMATS:
        raise BoundcalcError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    buf = io.BytesIO()
    metadata = {"CreationDate": None, "Producer": "boundcalc"} if fmt == "pdf" else {"Software": None}
    fig.savefig(buf, format=fmt, dpi=150 if fmt == "png" else None, metadata=metadata, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig, out_dir, name: str, formats=FORMATS) -> list[Path]:
    """Write ``out_dir/name.png`` and ``out_dir/name.pdf`` atomically; returns the paths written."""
    from boundcalc._io import write_atomic
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BoundcalcError(f"--out must be a directory, got the file {out_dir}")
    blobs = [(fmt, figure_bytes(fig, fmt)) for fmt in formats]  # render everything before writing
    return [write_atomic(out_dir / f"{name}.{fmt}", data) for fmt, data in blobs]


def _floats(values) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=float)


def _count(x: float) -> str:
    """A sample count for a label: 43069 rather than 4.307e+04."""
    return f"{x:.0f}" if 100 <= abs(x) < 1e9 else f"{x:.4g}"


def _scale_for(values) -> str:
    """``log`` when the positive values span more than two decades, else ``linear``."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return "log" if v.size and v.max() / v.min() > 100 else "linear"


# ------------------------------------------------------------------------------------------------
# Results on an axis
# ------------------------------------------------------------------------------------------------

def plot_result(result, ax=None, **kwargs):
    """Draw a result object: BoundResult (a_i against i), PhaseResult (bound against n_synth) or
    SolveResult (achieved value against the target).  Returns the axis.  With ``ax=None`` a new
    pyplot figure is made (so that Jupyter shows it)."""
    drawer = {"bound": plot_bound, "phase": plot_phase, "solve": plot_solve}.get(getattr(result, "kind", None))
    if drawer is None:
        raise BoundcalcError(f"cannot plot a {type(result).__name__}; expected BoundResult, PhaseResult "
                             "or SolveResult")
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(6.4, 4.4))
    drawer(result, ax, **kwargs)
    return ax


def plot_bound(result, ax, label: str | None = None, color=None, marker="o", show_eps: bool = True):
    """a_i against i (solid), and eps_i (dotted) when ``show_eps``."""
    generations = np.arange(1, result.generations + 1)
    bound = _floats(result.bound)
    name = label or result.inputs.get("scheme", {}).get("scheme", "bound")
    ax.plot(generations, bound, marker=marker, color=color, label=rf"$a_i$ bound, {name}")
    if show_eps:
        ax.plot(generations, _floats(result.eps), linestyle=":", color=color, alpha=0.8,
                label=rf"$\varepsilon_i$, {name}")
    _label_generations(ax, [bound])
    return ax


def _label_generations(ax, series):
    ax.set_xlabel(r"generation $i$ (count)")
    ax.set_ylabel(TV_LABEL)
    values = np.concatenate([np.asarray(s, dtype=float) for s in series])
    ax.set_yscale(_scale_for(values))
    if np.nanmax(values) > 1:
        ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle="--")
        ax.text(1, 1.0, r" TV $\leq 1$: the bound is vacuous above", va="bottom", fontsize=8, color="0.3")
    ax.grid(True, which="both", alpha=0.3)
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def phase_curve(result, n_points: int = 60, low_ratio: float = 1e-2, high_ratio: float = 1e3):
    """(s, f(s)) on a geometric grid of n_synth from ``low_ratio`` to ``high_ratio`` times n_real
    (extended to contain 4 s* when the threshold lies beyond)."""
    if result.curve is None:
        raise BoundcalcError("this PhaseResult has no curve to plot")
    n_real = float(result.inputs["n_real"])
    high = high_ratio * n_real
    if result.threshold is not None:
        high = max(high, 4 * float(result.threshold))
    s = np.geomspace(low_ratio * n_real, high, n_points)
    if result.threshold is not None:
        s = np.unique(np.append(s, float(result.threshold)))
    return s, np.array([float(result.curve(mpmath.mpf(float(x)))) for x in s])


def plot_phase(result, ax, n_points: int = 60):
    """The bound at generation I against n_synth (log axis), threshold and peak marked."""
    s, f = phase_curve(result, n_points)
    generation = result.inputs.get("generation", "I")
    ax.plot(s, f, color="tab:blue", label=rf"bound on $a_{{{generation}}}$")
    ax.set_xscale("log")
    ax.axhline(float(result.limit), color="0.4", linestyle="--", linewidth=0.9,
               label=rf"limit $n_{{\mathrm{{synth}}}} \to \infty$: {float(result.limit):.4g}")
    ax.axhline(float(result.at_zero), color="tab:green", linestyle=":", linewidth=0.9,
               label=rf"at $n_{{\mathrm{{synth}}}} = 0$: {float(result.at_zero):.4g}")
    if result.exists and result.threshold is not None:
        t = float(result.threshold)
        ax.axvline(t, color="tab:red", linewidth=1.2,
                   label=rf"threshold $s^* = {_count(t)}$ ({t / float(result.inputs['n_real']):.3g} $n_{{\mathrm{{real}}}}$)")
        ax.plot([t], [float(result.peak)], marker="o", color="tab:red", zorder=5)
    ax.set_xlabel(r"synthetic samples $n_{\mathrm{synth}}$ at generation " + f"{generation} (samples)")
    ax.set_ylabel(rf"bound on $\mathrm{{TV}}(p_{{{generation}}}, p_0)$ (dimensionless)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_solve(result, ax):
    """A solve result: the achieved final bound against the target, with the solved value in the title."""
    values = [float(result.target)] + ([float(result.achieved)] if result.achieved is not None else [])
    labels = ["target"] + (["achieved"] if result.achieved is not None else [])
    ax.bar(labels, values, color=["0.6", "tab:blue"][:len(values)])
    ax.set_ylabel(r"bound on $\mathrm{TV}(p_K, p_0)$ (dimensionless)")
    value = "unreachable" if not result.reachable or result.value is None else f"{float(result.value):.6g}"
    ax.set_title(f"solve for {result.unknown}: {value}", fontsize=10)
    return ax


# ------------------------------------------------------------------------------------------------
# Figures of the plot commands
# ------------------------------------------------------------------------------------------------

def generations_figure(results: dict, title: str = ""):
    """a_i against i for several schemes on one figure: ``results`` maps a scheme name to a BoundResult."""
    if not results:
        raise BoundcalcError("no scheme to plot")
    fig, ax = new_figure()
    for name, result in results.items():
        color, marker = SCHEME_STYLE.get(name, (None, "o"))
        plot_bound(result, ax, label=name, color=color, marker=marker)
    _label_generations(ax, [_floats(r.bound) for r in results.values()] + [_floats(r.eps) for r in results.values()])
    ax.set_title(title or r"Bound on $a_i = \mathrm{TV}(p_i, p_0)$ across generations", fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    return fig


def phase_figure(result, title: str = "", n_points: int = 60):
    fig, ax = new_figure()
    plot_phase(result, ax, n_points)
    generation = result.inputs.get("generation", "I")
    ax.set_title(title or (f"Phase transition at generation {generation} of mix "
                           rf"($n_{{\mathrm{{real}}}} = {float(result.inputs['n_real']):g}$, {result.method})"),
                 fontsize=10)
    return fig


@dataclass
class DiagramData:
    """Final bounds on a grid: ``values[j, k]`` at ``x[k]``, ``y[j]``."""
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


def diagram_sizes(compute, n_real_values, n_synth_values, generations: int, level=None, title="") -> DiagramData:
    """a_K over (n_real, n_synth): ``compute(n_real, n_synth)`` returns the BoundResult of one cell."""
    values = np.empty((len(n_synth_values), len(n_real_values)))
    for k, nr in enumerate(n_real_values):
        for j, ns in enumerate(n_synth_values):
            values[j, k] = float(compute(float(nr), float(ns)).final)
    return DiagramData(np.asarray(n_real_values, float), np.asarray(n_synth_values, float), values,
                       r"real samples $n_{\mathrm{real}}$ (samples)",
                       r"synthetic samples $n_{\mathrm{synth}}$ (samples)", True, True,
                       title or rf"Final bound $a_K$, $K = {generations}$", level)


def diagram_fraction_generations(compute, fractions, max_generations: int, level=None, title="") -> DiagramData:
    """a_i over (real fraction, generation i = 1..max_generations): ``compute(fraction)`` returns the
    BoundResult of ``max_generations`` generations (one recursion gives every generation)."""
    values = np.empty((max_generations, len(fractions)))
    for k, lam in enumerate(fractions):
        values[:, k] = _floats(compute(float(lam)).bound)
    return DiagramData(np.asarray(fractions, float), np.arange(1, max_generations + 1, dtype=float), values,
                       r"real fraction $\lambda$ of each later training set (dimensionless)",
                       r"generation $i$ (count)", False, False,
                       title or r"Bound on $a_i$ over real fraction and generations", level,
                       colour_label=r"bound on $a_i = \mathrm{TV}(p_i, p_0)$ (dimensionless)", x_bounds=(0.0, 1.0))


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
    """Colour by the bound (log colour scale when it spans more than two decades), contour at ``level``."""
    from matplotlib.colors import LogNorm, Normalize
    fig, ax = new_figure(6.6, 4.8)
    v = np.where(np.isfinite(data.values), data.values, np.nan)
    positive = v[v > 0]
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


@dataclass
class EarlyStoppingCurve:
    """The D1 bound against tau for one sample size n (width m), with the D2 optimum."""
    n: float
    m: float
    tau: np.ndarray
    kl: np.ndarray
    tau_star: float
    kl_star: float
    terms: dict


def early_stopping_curves(learner, sample_sizes, n_points: int = 120, tau_max=None) -> list[EarlyStoppingCurve]:
    """For each n: KL bound of D1 on a geometric tau grid from 1, with tau* from lemma D2.

    ``learner`` is a :class:`boundcalc.bounds.learners.Diffusion` (its constants, width rule and horizon)."""
    from boundcalc.bounds.early_stopping import early_stopping_curve  # D1, D2, E1 of the catalogue
    curves = []
    for n in sample_sizes:
        v = early_stopping_curve(learner, n, n_points=n_points, tau_max=tau_max)
        curves.append(EarlyStoppingCurve(v.n, v.m, v.tau, v.kl, v.tau_star, v.kl_star, v.terms))
    return curves


def early_stopping_figure(curves: list[EarlyStoppingCurve], title: str = "", show_terms: bool = True,
                          chosen_tau: float | None = None):
    """KL bound of D1 against tau (log-log), tau* marked for each n; the three tau-dependent terms of
    the first curve dashed; a user-chosen training time (``--tau``) as a black dashed line."""
    fig, ax = new_figure()
    if chosen_tau is not None:
        ax.axvline(chosen_tau, color="black", linestyle="--", linewidth=1, label=rf"chosen $\tau = {chosen_tau:g}$")
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for k, curve in enumerate(curves):
        color = colors[k % len(colors)]
        ax.plot(curve.tau, curve.kl, color=color,
                label=rf"$n = {curve.n:g}$, $m = {curve.m:g}$: $\tau^* = {curve.tau_star:.3g}$")
        ax.axvline(curve.tau_star, color=color, linestyle=":", linewidth=1)
        ax.plot([curve.tau_star], [curve.kl_star], marker="o", color=color, zorder=5)
    if show_terms and curves:
        styles = {"statistical": (0, (5, 2)), "finite width": (0, (1, 1)), "optimisation": (0, (3, 1, 1, 1))}
        for name, values in curves[0].terms.items():
            if np.any(values > 0):
                ax.plot(curves[0].tau, values, color="0.45", linestyle=styles[name], linewidth=0.9,
                        label=f"{name} term ($n = {curves[0].n:g}$)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    all_kl = np.concatenate([c.kl for c in curves])
    ax.set_ylim(max(all_kl.min() / 3, 1e-12), all_kl.max() * 2)
    ax.set_xlabel(r"training time $\tau$ of the gradient flow (time units of the flow, $\tau \geq 1$)")
    ax.set_ylabel(r"bound on $\mathrm{KL}(p_0 \,\|\, p_\tau)$ (nats), lemma D1")
    ax.set_title(title or r"Early stopping: D1 bound against $\tau$, optimum $\tau^*$ (lemma D2) marked",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return fig
