"""Inputs of ``boundcalc validate diffusion``: :class:`ExperimentOptions` (one experiment and
its model configuration, :class:`~boundcalc.validate.diffusion.loop.DiffusionConfig`) and
:func:`diffusion_config`, which builds them from keyword options as the command line does."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from boundcalc._checks import BoundcalcError, check_choice, check_fraction, check_positive_int
from boundcalc.validate.diffusion.loop import DiffusionConfig
from boundcalc.validate.guards import estimate_diffusion, refuse_if_too_large

EXPERIMENTS = ("loop", "phase", "early-stopping", "calibrate")


@dataclass
class ExperimentOptions:
    """Inputs of one experiment (besides the model configuration)."""

    #: which validator this configuration belongs to (read by boundcalc.validate.units / merge)
    validator = "diffusion"

    experiment: str
    config: DiffusionConfig = field(default_factory=DiffusionConfig)
    scheme: str = "all"
    n_real: int = 500
    n_synth: int | None = None
    real_data: str = "fresh"
    #: how the mix / schedule training sets of the loop experiment are drawn (boundcalc.model.schemes.DRAWS)
    draw: str = "stratified"
    real_fractions: tuple = (0.2, 0.5, 0.8)
    generations: int = 5
    seeds: int = 3
    seed: int = 0
    ns: tuple = ()
    n_synth_ratios: tuple = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    width_ratio: float | None = 0.5
    delta: float = 0.05

    def checked(self) -> "ExperimentOptions":
        check_choice("experiment", self.experiment, EXPERIMENTS)
        self.config = self.config.checked()
        if self.experiment != "early-stopping" and self.config.model == "mlp-sgd":
            raise BoundcalcError(f"model mlp-sgd applies to early-stopping (an epoch sweep), not {self.experiment}; "
                                 "use --model mlp for a trained MLP in the loop")
        self.n_real = check_positive_int("n_real", self.n_real, 2)
        if self.n_synth is not None:
            self.n_synth = check_positive_int("n_synth", self.n_synth, 0)
        self.generations = check_positive_int("generations", self.generations)
        from boundcalc._checks import check
        self.draw = check("draw", self.draw)
        if self.draw == "iid" and self.real_data != "fresh":
            raise BoundcalcError("draw iid needs real_data fresh: with reused real data the real samples are the same "
                                 "set every generation, not drawn independently from q_i")
        if self.draw == "iid" and self.scheme in ("replace", "accumulate"):
            raise BoundcalcError(f"draw iid (--draw) applies to mix and schedule, not {self.scheme}")
        self.seeds = check_positive_int("seeds", self.seeds)
        self.seed = check_positive_int("seed", self.seed, 0)
        self.real_fractions = tuple(float(check_fraction("real_fractions", v)) for v in self.real_fractions)
        self.ns = tuple(check_positive_int("ns", v, 8) for v in self.ns)
        for v in self.n_synth_ratios:
            if not (math.isfinite(float(v)) and float(v) >= 0):
                raise BoundcalcError(f"n_synth_ratios must be numbers in [0, inf), got {v}")
        self.n_synth_ratios = tuple(float(v) for v in self.n_synth_ratios)
        if self.width_ratio is not None:
            self.width_ratio = float(self.width_ratio)
            if not (self.width_ratio > 0 and math.isfinite(self.width_ratio)):
                raise BoundcalcError(f"width_ratio must be in (0, inf), got {self.width_ratio}")
        refuse_if_too_large(estimate_diffusion(self))  # before anything is drawn or allocated
        return self

    def to_dict(self) -> dict:
        return {"experiment": self.experiment, "model": self.config.to_dict(), "scheme": self.scheme,
                "n_real": self.n_real, "n_synth": self.n_synth, "real_data": self.real_data, "draw": self.draw,
                "real_fractions": list(self.real_fractions), "generations": self.generations,
                "seeds": self.seeds, "seed": self.seed, "ns": list(self.ns),
                "n_synth_ratios": list(self.n_synth_ratios), "width_ratio": self.width_ratio,
                "delta": self.delta}



def diffusion_config(experiment: str, **options) -> ExperimentOptions:
    """Checked :class:`ExperimentOptions` from keyword options, with the command line's defaults.

    Keywords are the options of ``validate diffusion <experiment>`` with underscores: the
    experiment's (scheme, n_real, n_synth, real_data, real_fractions, generations, seeds, seed,
    ns, n_synth_ratios, width_ratio, delta) and the model's (the fields of
    :class:`DiffusionConfig`: target, model, width, tau, steps, draws_per_point, grid_size,
    sampler, ...).  As on the command line, ``generations`` defaults to 4 for calibrate and 5
    otherwise, and giving ``width`` switches off ``width_ratio`` (early-stopping's m = ratio n).

    >>> diffusion_config("loop", seeds=2, width=64).config.width
    64
    """
    model_fields = {f.name for f in fields(DiffusionConfig)}
    own_fields = {f.name for f in fields(ExperimentOptions)} - {"experiment", "config"}
    unknown = sorted(set(options) - model_fields - own_fields)
    if unknown:
        raise BoundcalcError(f"diffusion_config: unknown option(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(sorted(model_fields | own_fields))}")
    model = {k: v for k, v in options.items() if k in model_fields}
    own = {k: v for k, v in options.items() if k in own_fields}
    check_choice("experiment", experiment, EXPERIMENTS)
    own.setdefault("generations", 4 if experiment == "calibrate" else 5)
    if "width" in model and "width_ratio" not in own:
        own["width_ratio"] = None
    return ExperimentOptions(experiment=experiment, config=DiffusionConfig(**model), **own).checked()
