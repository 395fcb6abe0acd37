"""Empirical validators: real self-consuming loops held against the bounds.

One loop, one runner, two experiments:

* :mod:`.protocol`: the generator protocol (fit / sample / law on a grid or cells) any learner
  implements to be run through the loop; :mod:`.generators`: the Gaussian KDE and refit;
* :mod:`.loop`: the one self-consuming loop, driven by the shared scheme objects
  (``scheme.plan(i)``);
* :mod:`.runner`: units (one configuration and seed index each), per-unit files in ``--out``,
  resume, progress; :mod:`.summary`: summaries over seeds and tables; :mod:`.checks`: shared
  checks; :mod:`.result`: the result object (table repr, ``checks``, ``plot``, ``to_json``);
* :mod:`.grid`: grids, exact densities and TV by quadrature or on cells;
* :mod:`.kde`: Gaussian-KDE loops against the explicit a-posteriori bounds;
* :mod:`.diffusion`: torch diffusion loops (torch imported lazily, inside functions).

Every experiment is a list of pure units and a merge of their records::

    units(config) -> list[Unit];  run_unit(unit) -> dict;  merge(config, records) -> result

and ``validate_kde`` / ``validate_diffusion`` run them in one process (same bytes as a merge of
the same units run anywhere else).  Importing this package imports neither scipy nor torch.
"""

from __future__ import annotations

from boundcalc.validate.protocol import Generator
from boundcalc.validate.runner import Unit

__all__ = ["Generator", "Unit", "diffusion_config", "kde_config", "merge", "phase_config", "refit_config", "run_unit",
           "units", "validate_diffusion", "validate_gaussian", "validate_kde", "validate_phase", "validate_toy"]


def validate_gaussian(config=None, **options):
    """Seeded Gaussian refit loops against their exact laws (:func:`boundcalc.validate.refit.validate_gaussian`);
    returns a :class:`~boundcalc.validate.refit.RefitValidation`."""
    from boundcalc.validate.refit import validate_gaussian as run

    return run(config, **options)


def validate_toy(config=None, **options):
    """KDE loops on 2-D toy data measured by held-out NLL (:func:`boundcalc.validate.toy.validate_toy`)."""
    from boundcalc.validate.toy import validate_toy as run

    return run(config, **options)


def refit_config(**options):
    """A checked :class:`~boundcalc.validate.refit.RefitConfig` (options of ``validate gaussian``)."""
    from boundcalc.validate.refit import refit_config as make

    return make(**options)


def validate_kde(config=None, out_dir=None, resume: bool = False, **options):
    """Seeded Gaussian-KDE loops against the explicit bounds (:func:`boundcalc.validate.kde.validate_kde`);
    returns a :class:`~boundcalc.validate.kde.KDEValidation`."""
    from boundcalc.validate.kde import validate_kde as run

    return run(config, out_dir=out_dir, resume=resume, **options)


def validate_diffusion(experiment: str = "loop", options=None, out_dir=None, resume: bool = False, **keywords):
    """One diffusion experiment (loop, phase, early-stopping, calibrate;
    :func:`boundcalc.validate.diffusion.validate_diffusion`); returns a
    :class:`~boundcalc.validate.diffusion.DiffusionValidation`."""
    from boundcalc.validate.diffusion.experiments import validate_diffusion as run

    return run(experiment, options, out_dir=out_dir, resume=resume, **keywords)


def validate_phase(config=None, out_dir=None, resume: bool = False, **options):
    """The measured phase diagram (KDE or diffusion) beside the bound's
    (:func:`boundcalc.validate.phase.validate_phase`); returns a :class:`~boundcalc.validate.phase.PhaseValidation`."""
    from boundcalc.validate.phase import validate_phase as run

    return run(config, out_dir=out_dir, resume=resume, **options)


def phase_config(**options):
    """A checked :class:`~boundcalc.validate.phase.PhaseConfig` (options of ``validate phase``)."""
    from boundcalc.validate.phase import phase_config as make

    return make(**options)


def kde_config(**options):
    """A checked :class:`~boundcalc.validate.kde.KDEValidationConfig` (options of ``validate kde``)."""
    from boundcalc.validate.kde import kde_config as make

    return make(**options)


def diffusion_config(experiment: str, **options):
    """A checked :class:`~boundcalc.validate.diffusion.experiments.ExperimentOptions`."""
    from boundcalc.validate.diffusion.experiments import diffusion_config as make

    return make(experiment, **options)


def _family(config) -> str:
    family = getattr(config, "validator", None)
    if family not in ("kde", "diffusion", "refit", "toy", "phase"):
        from boundcalc._checks import BoundcalcError

        raise BoundcalcError(f"config must be a KDE, diffusion or Gaussian refit validation configuration "
                             f"(kde_config(...), diffusion_config(...), refit_config(...) or phase_config(...)), "
                             f"got {type(config).__name__}")
    return family


def units(config) -> list:
    """The pure units of an experiment: one per (configuration, seed index)."""
    if _family(config) == "kde":
        from boundcalc.validate.kde import units as kde_units

        return kde_units(config)
    if _family(config) in ("refit", "toy", "phase"):
        from boundcalc.validate import phase, refit, toy

        return {"refit": refit, "toy": toy, "phase": phase}[_family(config)].units(config)
    from boundcalc.validate.diffusion.experiments import units as diffusion_units

    return diffusion_units(config)


def run_unit(unit: Unit) -> dict:
    """The JSON-ready record of one unit (pure: depends on the unit only)."""
    if unit.experiment == "kde":
        from boundcalc.validate.kde import run_unit as run

        return run(unit)
    if unit.experiment in ("gaussian-refit", "toy-kde", "phase"):
        from boundcalc.validate import phase, refit, toy

        return {"gaussian-refit": refit, "toy-kde": toy, "phase": phase}[unit.experiment].run_unit(unit)
    from boundcalc.validate.diffusion.experiments import run_unit as run

    return run(unit)


def merge(config, records):
    """The result object of an experiment from the records of its units (any order)."""
    if _family(config) == "kde":
        from boundcalc.validate.kde import merge as kde_merge

        return kde_merge(config, records)
    if _family(config) in ("refit", "toy", "phase"):
        from boundcalc.validate import phase, refit, toy

        return {"refit": refit, "toy": toy, "phase": phase}[_family(config)].merge(config, records)
    from boundcalc.validate.diffusion.experiments import merge as diffusion_merge

    return diffusion_merge(config, records)
