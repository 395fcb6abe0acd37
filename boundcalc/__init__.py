"""boundcalc: a symbolic bound calculator for self-consuming generative models.

It implements the theory of Fu et al. (ICML 2024, "Towards Theoretical Understandings of
Self-Consuming Generative Models") and the diffusion-model result it builds on (Li et al.,
NeurIPS 2023): a catalogue of lemmas (sympy statements with assumptions and provenance),
their composition across generations for each data-mixing scheme, solvers for sample sizes,
real fractions and generation counts, and the phase transition in the amount of synthetic data.

A flat, notebook-first namespace::

    >>> import boundcalc as bc
    >>> r = bc.bound(bc.Mix(n_real=1000, n_synth=3000), bc.PowerLaw(C=1, alpha=0.25))
    >>> print(str(r).splitlines()[0])
    scheme mix, learner power, K = 10, delta = 0.05

The symbolic path never imports torch; the empirical validators live in
:mod:`boundcalc.validate` and import torch only when a diffusion loop is run.
"""

import types as _types

# The names are loaded on first use (PEP 562): ``import boundcalc`` and the command line's entry
# point (:mod:`boundcalc.cli.entry`, which must catch an interrupt during the heavy imports) stay
# cheap.  Each group is one static import, so the import graph stays readable.
def __getattr__(name):
    if name in ("PARAMETERS", "BoundcalcError"):
        from boundcalc import _checks as module
    elif name in ("bound", "lemma", "lemmas", "optimum", "phase", "solve"):
        from boundcalc.bounds import api as module
    elif name in ("closed_form", "compose_bound"):
        from boundcalc.bounds import compose as module
    elif name in ("KDE", "Diffusion", "GaussianKDE", "Learner", "PowerLaw", "make_learner"):
        from boundcalc.bounds import learners as module
    elif name == "phase_transition":
        from boundcalc.bounds import phase as module
    elif name in ("SCHEMA_VERSION", "BoundResult", "OptimumResult", "PhaseResult", "SolveResult",
                  "package_version"):
        from boundcalc.bounds import result as module
    elif name in ("optimal_bandwidth", "optimal_tau"):
        from boundcalc.bounds import solve as module
    elif name in ("Accumulate", "AccumulateSubsample", "Block", "GenerationPlan", "Mix", "Replace", "Schedule",
                  "Scheme", "make_scheme", "round_size"):
        from boundcalc.model import schemes as module
    elif name in ("GaussianMixture", "bimodal", "normal", "parse_target"):
        from boundcalc.model import targets as module
    elif name in ("all_lemmas", "get_lemma"):
        from boundcalc.theory import catalogue as module
    elif name == "Lemma":
        from boundcalc.theory import lemma as module
    elif name in ("validate_kde", "validate_diffusion", "validate_gaussian", "validate_toy", "validate_phase",
                  "Generator"):
        from boundcalc import validate as module
    elif name == "sweep":  # the subpackage, callable as bc.sweep(spec, out=DIR) (see _CallableSweep)
        import boundcalc.sweep
        return boundcalc.sweep
    elif name == "__version__":
        from boundcalc.bounds.result import package_version
        value = globals()["__version__"] = package_version()
        return value
    else:
        raise AttributeError(f"module 'boundcalc' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def _run_sweep(spec, out, *, client=None, scheduler=None, workers=None, executor="dask", resume=False,
               retry_failed=False, progress=None, commands=None):
    """Run a sweep (``boundcalc sweep SPEC --out DIR``): every (configuration, seed) of ``spec`` (a TOML
    file, TOML text, a dict or a :class:`boundcalc.sweep.SweepSpec`) as one task, on a Dask
    ``LocalCluster`` (default; ``workers`` processes), an existing cluster (``client=Client(...)`` or
    ``scheduler="tcp://HOST:8786"``) or in this process (``executor="serial"``); one row per task in
    ``out/results.parquet``.  ``commands`` (name -> :class:`boundcalc.sweep.Command`) defaults to the
    calculator's and the validators' commands.  Returns a :class:`boundcalc.sweep.SweepResult`.
    dask and pyarrow are imported only when it runs."""
    from boundcalc.cli.sweep import commands as default_commands
    from boundcalc.sweep import run

    return run(spec, default_commands() if commands is None else commands, out, executor=executor,
               client=client, scheduler=scheduler, workers=workers, resume=resume,
               retry_failed=retry_failed, progress=progress)


class _CallableSweep(_types.ModuleType):
    """The class of the module ``boundcalc.sweep`` (set by that module when it is imported): it is
    both the subpackage (``bc.sweep.load_spec``, ``bc.sweep.run``, ...) and the function
    ``bc.sweep(spec, out=DIR, ...)`` of the public API (a package attribute named like a
    subpackage would be replaced by the subpackage on its first import; a callable module is not)."""

    def __call__(self, spec, out, **options):
        return _run_sweep(spec, out, **options)

    __call__.__doc__ = _run_sweep.__doc__


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = [
    # the functions of a session
    "bound", "solve", "phase", "optimum", "lemma", "lemmas",
    # schemes (what each generation trains on)
    "Replace", "Mix", "Accumulate", "Schedule", "Scheme", "Block", "GenerationPlan", "make_scheme", "round_size",
    # learners (the per-generation error) and targets
    "PowerLaw", "KDE", "GaussianKDE", "Diffusion", "Learner", "make_learner",
    "GaussianMixture", "normal", "bimodal", "parse_target",
    # results
    "BoundResult", "SolveResult", "PhaseResult", "OptimumResult", "SCHEMA_VERSION",
    # lower-level pieces
    "Lemma", "all_lemmas", "get_lemma", "closed_form", "compose_bound", "phase_transition",
    "optimal_bandwidth", "optimal_tau", "PARAMETERS", "BoundcalcError", "__version__",
    # real loops and sweeps
    "validate_kde", "validate_diffusion", "validate_gaussian", "validate_toy", "validate_phase", "Generator", "sweep",
    "AccumulateSubsample",
]
