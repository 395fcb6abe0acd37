r"""Bound results as arrays, and their figures (drawn by :mod:`boundcalc._figures`).

This module knows the result types of :mod:`boundcalc.bounds.result`; it turns them into arrays
and hands those to the array-level drawing of :mod:`boundcalc._figures` (which knows no result type).
matplotlib is imported only by the drawing functions, when they are called.

Arrays from results
    * :func:`bound_series` -- ``(a, eps)`` over generations 1..K of a BoundResult;
    * :func:`phase_curve` / :func:`phase_arrays` -- the generation-:math:`I` bound of ``mix`` against
      :math:`n_{\mathrm{synth}}` on a geometric grid, with the threshold :math:`s^*` as a grid point;
    * :func:`diagram_sizes` / :func:`diagram_fraction_generations` -- final bounds over
      :math:`(n_{\mathrm{real}}, n_{\mathrm{synth}})` or (real fraction, generation);
    * :func:`early_stopping_curves` -- the D1 bound against the training time :math:`\tau`, with the D2
      optimum :math:`\tau^*`.

Figures and axes
    * :func:`plot_result` -- what ``Result.plot(ax=None, **kwargs)`` calls: draws a BoundResult
      (:math:`a_i` against :math:`i`), a PhaseResult (bound against :math:`n_{\mathrm{synth}}`) or a
      SolveResult (target and achieved value) on ``ax`` (a new pyplot axis when None, so that a
      notebook shows it) and returns the axis;
    * :func:`generations_figure` / :func:`phase_figure` -- the figures of ``boundcalc plot``.
"""

from __future__ import annotations

import mpmath
import numpy as np

from boundcalc import _figures
from boundcalc._checks import BoundcalcError
from boundcalc._figures import DiagramData, EarlyStoppingCurve, PhaseCurve, as_floats

__all__ = ["bound_series", "phase_curve", "phase_arrays", "diagram_sizes", "diagram_fraction_generations",
           "early_stopping_curves", "plot_result", "generations_figure", "phase_figure"]


# ------------------------------------------------------------------------------------------------
# Arrays from results
# ------------------------------------------------------------------------------------------------

def bound_series(result) -> tuple[np.ndarray, np.ndarray]:
    """``(a, eps)``: the bounds :math:`a_1..a_K` and the one-generation errors :math:`\\varepsilon_1..
    \\varepsilon_K` of a BoundResult, as float arrays (index ``i - 1`` holds generation ``i``)."""
    return as_floats(result.bound), as_floats(result.eps)


def phase_curve(result, n_points: int = 60, low_ratio: float = 1e-2, high_ratio: float = 1e3):
    """(s, f(s)) on a geometric grid of n_synth from ``low_ratio`` to ``high_ratio`` times n_real
    (extended to contain 4 s* when the threshold lies beyond; s* itself is a grid point)."""
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


def phase_arrays(result, n_points: int = 60) -> PhaseCurve:
    """The :class:`boundcalc._figures.PhaseCurve` of a PhaseResult (curve, limit, value at zero,
    threshold and peak when the threshold exists)."""
    s, f = phase_curve(result, n_points)
    exists = bool(result.exists) and result.threshold is not None
    return PhaseCurve(s, f, float(result.inputs["n_real"]), result.inputs.get("generation", "I"),
                      at_zero=float(result.at_zero), limit=float(result.limit),
                      threshold=float(result.threshold) if exists else None,
                      peak=float(result.peak) if exists and result.peak is not None else None)


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
        values[:, k] = as_floats(compute(float(lam)).bound)
    return DiagramData(np.asarray(fractions, float), np.arange(1, max_generations + 1, dtype=float), values,
                       r"real fraction $\lambda$ of each later training set (dimensionless)",
                       r"generation $i$ (count)", False, False,
                       title or r"Bound on $a_i$ over real fraction and generations", level,
                       colour_label=r"bound on $a_i = \mathrm{TV}(p_i, p_0)$ (dimensionless)", x_bounds=(0.0, 1.0))


def early_stopping_curves(learner, sample_sizes, n_points: int = 120, tau_max=None, delta=None,
                          generations: int = 1) -> list[EarlyStoppingCurve]:
    """For each n: KL bound of D1 on a geometric tau grid from 1, with tau* from lemma D2.

    ``learner`` is a :class:`boundcalc.bounds.learners.Diffusion` (its constants, width rule and horizon);
    with ``delta``, the constants of lemma D4 at ``delta_i = delta / generations`` (as in ``bound``)."""
    from boundcalc.bounds.early_stopping import early_stopping_curve  # D1, D2, E1 of the catalogue
    return [early_stopping_curve(learner, n, n_points=n_points, tau_max=tau_max, delta=delta,
                                 generations=generations) for n in sample_sizes]


# ------------------------------------------------------------------------------------------------
# Figures and axes
# ------------------------------------------------------------------------------------------------

def plot_result(result, ax=None, **kwargs):
    """Draw a result object: BoundResult (a_i against i), PhaseResult (bound against n_synth) or
    SolveResult (achieved value against the target).  Returns the axis.  With ``ax=None`` a new
    pyplot axis is made (so that Jupyter shows it).  Keyword arguments: ``label``, ``show_eps``
    (bound); ``n_points`` (phase)."""
    kind = getattr(result, "kind", None)
    if kind not in ("bound", "phase", "solve"):
        raise BoundcalcError(f"cannot plot a {type(result).__name__}; expected BoundResult, PhaseResult "
                             "or SolveResult")
    if ax is None:
        ax = _figures.pyplot_axes()
    if kind == "bound":
        name = kwargs.get("label") or result.inputs.get("scheme", {}).get("scheme", "bound")
        _figures.draw_generations(ax, {name: bound_series(result)}, show_eps=kwargs.get("show_eps", True))
        ax.legend(fontsize=8)
    elif kind == "phase":
        _figures.draw_phase(ax, phase_arrays(result, kwargs.get("n_points", 60)))
    else:
        values = [float(result.target)] + ([float(result.achieved)] if result.achieved is not None else [])
        labels = ["target", "achieved"][:len(values)]
        value = "unreachable" if not result.reachable or result.value is None else f"{float(result.value):.6g}"
        _figures.draw_bars(ax, labels, values, r"bound on $\mathrm{TV}(p_K, p_0)$ (dimensionless)",
                           f"solve for {result.unknown}: {value}")
    return ax


def generations_figure(results: dict, title: str = ""):
    """a_i (and eps_i) against i for several results on one figure: ``results`` maps a scheme name
    to a BoundResult."""
    return _figures.generations_figure({name: bound_series(r) for name, r in results.items()}, title)


def phase_figure(result, title: str = "", n_points: int = 60):
    """The bound at generation I of ``mix`` against n_synth, with the threshold marked."""
    generation = result.inputs.get("generation", "I")
    return _figures.phase_figure(phase_arrays(result, n_points), title or (
        f"Phase transition at generation {generation} of mix "
        rf"($n_{{\mathrm{{real}}}} = {float(result.inputs['n_real']):g}$, {result.method})"))
