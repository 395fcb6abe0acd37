"""The calculator's commands as sweep commands: ``bound``, ``solve``, ``phase``.

Each takes the options of the command line's sub-command of the same name (underscores for
dashes; the KDE learner's distribution is ``p0``) with the same defaults, builds the scheme and
learner through :mod:`boundcalc.model` / :mod:`boundcalc.bounds`, and returns the result's
numbers as metrics and its whole JSON as ``result``.  They are deterministic (``seeded =
False``): a bound is a number, not a draw, so its seeds repeat it.
"""

from __future__ import annotations

import math

from boundcalc._checks import BoundcalcError
from boundcalc.sweep.tasks import Command, TaskOutput

LEARNER_OPTIONS = {
    "power": ("C", "alpha"),
    "kde": ("dim", "bandwidth", "p0", "laplacian_l1", "k2_integral", "holder_L", "holder_beta"),
    "diffusion": ("width", "width_ratio", "tau", "horizon", "c_stat", "c_width", "c_opt", "c_mc", "c_approx",
                  "c_prior", "delta_exponent"),
}
ALL_LEARNER_OPTIONS = ("learner",) + tuple(k for v in LEARNER_OPTIONS.values() for k in v)
SCHEME_OPTIONS = ("scheme", "n_real", "n_synth", "real_fraction", "real_data", "real_fractions", "sizes", "delta",
                  "draw")
BOUND_OPTIONS = SCHEME_OPTIONS + ("generations",) + ALL_LEARNER_OPTIONS
SOLVE_OPTIONS = ("unknown", "target", "max_generations") + BOUND_OPTIONS
PHASE_OPTIONS = ("generation", "n_real", "n_synth_before", "previous_tv", "delta", "draw") + ALL_LEARNER_OPTIONS


def _float(x) -> float:
    """A bound as a float (mpmath numbers beyond a double become inf or 0 as a double does)."""
    if x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def learner_from_options(options: dict):
    """The learner of the options (``learner`` = power | kde | diffusion, default kde)."""
    from boundcalc.bounds.learners import make_learner

    name = options.get("learner", "kde")
    if name not in LEARNER_OPTIONS:
        raise BoundcalcError(f"learner must be one of power, kde, diffusion, got {name!r}")
    own = LEARNER_OPTIONS[name]
    given = {k: options[k] for k in ALL_LEARNER_OPTIONS[1:] if options.get(k) is not None}
    stray = [k for k in given if k not in own]
    if stray:
        raise BoundcalcError(f"option(s) {', '.join(stray)} do(es) not apply to learner {name} "
                             f"(its options: {', '.join(own)})")
    if name == "kde":
        from boundcalc.model.targets import parse_target

        spec = given.pop("p0", None)
        if spec is not None or (given.get("laplacian_l1") is None and given.get("holder_L") is None):
            given["target"] = parse_target(spec)
        given.setdefault("bandwidth", "auto")
    return make_learner(name, **given)


def _list(x):
    return None if x is None else (list(x) if isinstance(x, (list, tuple)) else [x])


def _scheme(options: dict, **over):
    from boundcalc.model.schemes import make_scheme

    kw = dict(n_real=options.get("n_real", 10_000), n_synth=options.get("n_synth"),
              real_data=options.get("real_data", "fresh"), real_fraction=options.get("real_fraction"),
              real_fractions=_list(options.get("real_fractions")), sizes=_list(options.get("sizes")),
              draw=options.get("draw", "stratified"))
    kw.update(over)
    return make_scheme(options.get("scheme", "mix"), **kw)


def run_bound(options: dict, base_seed: int, seed_index: int) -> TaskOutput:
    """``boundcalc bound``: a_1..a_K of the scheme and learner (metrics bound_final, bound, eps)."""
    from boundcalc._checks import check_positive_int
    from boundcalc.bounds.compose import compose_bound

    K = check_positive_int("generations", options.get("generations", 10))
    result = compose_bound(_scheme(options), learner_from_options(options), K, options.get("delta", 0.05))
    cf = result.closed_form
    metrics = {"bound_final": _float(result.final), "bound": [_float(b) for b in result.bound],
               "eps": [_float(e) for e in result.eps],
               "closed_form_value": _float(cf.evaluate()) if cf is not None else None}
    return TaskOutput(metrics=metrics, result=result.to_dict())


def run_solve(options: dict, base_seed: int, seed_index: int) -> TaskOutput:
    """``boundcalc solve``: the value of ``unknown`` bringing a_K under ``target``."""
    from boundcalc.bounds.solve import solve

    if options.get("unknown") is None or options.get("target") is None:
        raise BoundcalcError("solve needs the options unknown (n-real | n-synth | real-fraction | generations) "
                             "and target")
    unknown = options["unknown"]
    generations = None if unknown == "generations" else options.get("generations", 10)
    result = solve(unknown, options["target"], learner_from_options(options), scheme=options.get("scheme", "mix"),
                   generations=generations, n_real=options.get("n_real", 10_000), n_synth=options.get("n_synth"),
                   real_data=options.get("real_data", "fresh"), real_fraction=options.get("real_fraction"),
                   real_fractions=_list(options.get("real_fractions")), sizes=_list(options.get("sizes")),
                   delta=options.get("delta", 0.05), max_generations=options.get("max_generations"),
                   draw=options.get("draw", "stratified"))
    metrics = {"value": _float(result.value), "achieved": _float(result.achieved),
               "reachable": bool(result.reachable), "verified": bool(result.verified)}
    checks = [{"name": "verified", "passed": bool(result.verified)}] if result.reachable else []
    return TaskOutput(metrics=metrics, checks=checks, result=result.to_dict())


def run_phase(options: dict, base_seed: int, seed_index: int) -> TaskOutput:
    """``boundcalc phase``: the threshold amount of synthetic data at one generation."""
    from boundcalc.bounds.phase import phase_transition

    result = phase_transition(learner_from_options(options), options.get("n_real", 10_000),
                              options.get("generation", 2), previous_tv=options.get("previous_tv"),
                              n_synth_before=options.get("n_synth_before"), delta=options.get("delta", 0.05),
                              draw=options.get("draw", "stratified"))
    metrics = {"exists": bool(result.exists), "threshold": _float(result.threshold), "peak": _float(result.peak),
               "limit": _float(result.limit), "at_zero": _float(result.at_zero)}
    return TaskOutput(metrics=metrics, result=result.to_dict())


def bound_commands() -> dict:
    """name -> :class:`Command` for the calculator's commands."""
    return {
        "bound": Command("bound", run_bound, BOUND_OPTIONS, seeded=False,
                         description="bounds a_1..a_K on TV(p_K, p0)"),
        "solve": Command("solve", run_solve, SOLVE_OPTIONS, seeded=False,
                         description="solve for one unknown so that a_K meets a target"),
        "phase": Command("phase", run_phase, PHASE_OPTIONS, seeded=False,
                         description="phase transition in the amount of synthetic data"),
    }
