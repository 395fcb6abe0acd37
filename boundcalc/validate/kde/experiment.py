"""The KDE validation as units and a merge, and its single-process runner :func:`validate_kde`.

* :func:`units`: one :class:`~boundcalc.validate.runner.Unit` per seed index k (seed k draws from
  ``SeedSequence([seed, k])``);
* :func:`run_unit`: one seeded loop (:func:`boundcalc.validate.kde.measure.run_seed`), a JSON-ready
  record;
* :func:`merge`: the records (any order) -> :class:`KDEValidation`: summaries over seeds, the
  K4 lower reference and the checks;
* :func:`validate_kde`: all three in one process, with per-unit files in ``out_dir``, resume,
  progress and interruption.  Its result is byte for byte ``merge(config, [run_unit(u) for u in
  units(config)])``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable, Iterable

from boundcalc._checks import BoundcalcError
from boundcalc._io import dumps, write_atomic
from boundcalc.bounds.kde_expected import expected_bound
from boundcalc.validate.kde.checks import build_checks, matrix
from boundcalc.validate.kde.config import KDEValidationConfig
from boundcalc.validate.kde.context import RunContext, build_context, context_for
from boundcalc.validate.kde.context import NO_BOUND_REASON
from boundcalc.validate.kde.measure import BANDWIDTH_FIELD, BOUND_FIELDS, RUN_FIELDS, run_seed
from boundcalc.validate.kde.result import KDEValidation
from boundcalc.validate.generators import GaussianKDE
from boundcalc.validate.protocol import STATUS_OK, Generator
from boundcalc.validate.runner import ProgressBar, Unit, UnitStore, run_units, to_record
from boundcalc.validate.summary import nan_to_none, summarize_over_seeds

EXPERIMENT = "kde"
#: summaries whose interval must respect a range (TVs in [0, 1], non-negative bounds and variances):
#: bootstrap percentile intervals (the others: Student t)
RANGED_FIELDS = ("a", "eps", "tv_q_p0", "one_step_bound", "composed_bound", "train_variance", "outside_fraction")
RESULT_FILE = "kde_validation.json"
#: the folder (inside ``--out``) holding one record file per seed
UNITS_DIR = f"units/{EXPERIMENT}"


def kde_config(**options) -> KDEValidationConfig:
    """A checked :class:`KDEValidationConfig` from the options of ``validate kde`` (underscores)."""
    return KDEValidationConfig(**options).checked()


def units(config: KDEValidationConfig) -> list[Unit]:
    """One unit per seed index k = 0..seeds-1 (key ``seed<k>``)."""
    config = config.checked()
    return [Unit(EXPERIMENT, f"seed{k}", k, config) for k in range(config.seeds)]


def run_unit(unit: Unit, make_generator: Callable | None = None) -> dict:
    """The record of one seeded loop (pure: the same unit gives the same record anywhere).

    ``make_generator(i, n_train)`` replaces the Gaussian KDE of bandwidth h_i (any generator of
    :mod:`boundcalc.validate.protocol` with a ``density(grid)``).
    """
    return to_record(_run(unit, context_for(unit.config), make_generator))


def _run(unit: Unit, ctx: RunContext, make_generator=None, on_generation=None, partial=None) -> dict:
    record = run_seed(ctx, unit.seed_index, make_generator, on_generation=on_generation, partial=partial)
    return {"unit": unit.key, **record}


_EXPECTED: dict = {}


def _expected_bound(ctx: RunContext) -> list:
    """``expected_bound(...).best`` for the run's scheme, target and bandwidths (memoised per configuration)."""
    key = dumps(ctx.config.to_dict())
    if key not in _EXPECTED:
        _EXPECTED[key] = [float(x) for x in expected_bound(ctx.scheme, ctx.target, ctx.bandwidths,
                                                           ctx.config.generations).best]
    return list(_EXPECTED[key])


def merge(config: KDEValidationConfig, records: Iterable[dict], status: str | None = None) -> KDEValidation:
    """The :class:`KDEValidation` of the records of ``units(config)`` (any order).

    Fewer records than seeds give status "incomplete" (summaries over the finished seeds).
    """
    config = config.checked()
    return _merge(context_for(config), records, status)


def _merge(ctx: RunContext, records: Iterable[dict], status: str | None = None,
           learner: str | None = None) -> KDEValidation:
    runs, seen = [], set()
    for record in records:
        record = to_record(record)
        key = record.pop("unit", f"seed{record['seed_index']}")
        if key in seen:
            raise BoundcalcError(f"merge: unit {key} given twice")
        seen.add(key)
        runs.append(record)
    if status is None:
        status = "complete" if len(runs) == ctx.config.seeds else "incomplete"
    return KDEValidation(summarize_runs(ctx, runs, status, learner))


def summarize_runs(ctx: RunContext, runs: list, status: str, learner: str | None = None) -> dict:
    """The JSON object of a validation: inputs, per-generation summaries, bound, reference, checks.

    ``learner`` names a user's generator (None: the Gaussian KDE); it is then recorded as
    ``"learner"`` and the checks are those of :func:`build_checks` with ``kde_learner=False``."""
    runs = sorted(runs, key=lambda r: r["seed_index"])
    fields = RUN_FIELDS + ((BANDWIDTH_FIELD,) if ctx.config.data_driven else ())
    summary = {key: summarize_over_seeds(matrix(runs, key), ranged=key in RANGED_FIELDS + (BANDWIDTH_FIELD,))
               for key in fields} if runs else {}
    checks = [c.to_dict() for c in build_checks(ctx, runs, summary, learner is None)] if runs else []
    for block in summary.values():
        for key in list(block):
            if key not in ("count", "interval"):
                block[key] = nan_to_none(block[key])
    if runs and learner is None and not ctx.config.data_driven:  # the KE2/KE3 bound on E a_i (deterministic: the same number in every run)
        try:
            expected = _expected_bound(ctx)
        except BoundcalcError as exc:  # a scheme the KE lemmas do not cover: their one-line reason
            summary["expected_bound"] = {"refused": str(exc)}
        else:
            summary["expected_bound"] = {"mean": expected, "per_run": {str(r["seed_index"]): expected for r in runs},
                                         "statement": "E a_i <= mean[i-1] (in expectation; the same number in every "
                                                      "run)"}
    for key in BOUND_FIELDS if runs else ():
        # per generation: runs whose bound is vacuous (>= 1) there
        summary[key]["vacuous_runs"] = [sum(1 for r in runs if g in r["vacuous_generations"][key])
                                        for g in range(1, ctx.config.generations + 1)]
    data = {
        "validator": "kde",
        "status": status,
        "inputs": ctx.config.to_dict(),
        "target": ctx.target.to_dict(),
        "scheme": ctx.scheme.to_dict(),
        "bandwidth": ({"policy": ctx.bandwidth_policy, "per_generation": ctx.bandwidths} if not ctx.config.data_driven
                      else {"policy": ctx.bandwidth_policy, "data_driven": True, "bound": NO_BOUND_REASON,
                            "per_generation": summary[BANDWIDTH_FIELD]["mean"] if runs else None,
                            "grid_sizing": ctx.bandwidths}),
        "training_set_sizes": ctx.sizes,
        "grid": {**ctx.grid.to_dict(), **ctx.grid_accuracy},
        "failure_split": {"mode": ctx.split_mode, "events": ctx.events, "delta": ctx.config.delta,
                          "per_event_delta": ctx.per_event_delta},
        "laplacian_l1": ctx.laplacian_l1,
        "bias_tv": ctx.bias,
        "lower_reference": {"tv_r_p0": ctx.lower_reference, "source": ctx.lower_reference_source},
        "generations": list(range(1, ctx.config.generations + 1)),
        "seeds_finished": len(runs),
        "runs_stopped_on_degenerate_data": sum(1 for r in runs if r["status"] != STATUS_OK),
        "summary": summary,
        "checks": checks,
        "all_checks_passed": bool(checks) and all(c["passed"] for c in checks),
        "vacuous_checks": [c["name"] for c in checks if c.get("vacuous")],
        "runs": runs,
    }
    if learner is not None:
        data["learner"] = learner
    return data



def _copies_of(template):
    """A factory giving each generation a fresh deep copy of an unfitted generator."""
    def make(generation, n_train):
        return copy.deepcopy(template)
    return make


def validate_kde(config: KDEValidationConfig | None = None, out_dir=None, resume: bool = False,
                 progress: bool | None = None, after_seed: Callable | None = None,
                 make_generator: Callable | None = None, generator=None, **options) -> KDEValidation:
    """Run S seeded KDE loops and hold them against the bounds.

    ``config`` is a :class:`KDEValidationConfig`, or leave it out and give its fields as
    keywords (``validate_kde(scheme="mix", n_real=500, seeds=20)``).

    With ``out_dir`` every finished seed is stored at once in its own file
    ``units/kde/seed<k>.json`` (atomic), and ``resume=True`` runs only the seeds missing there
    (seeds are independent streams ``SeedSequence([seed, k])``, so a resumed run gives the same
    JSON as an uninterrupted one).  On ``KeyboardInterrupt`` the finished seeds are kept,
    ``kde_validation.json`` is written with status "interrupted" (with the generations finished
    by the seed in progress as ``partial_run``) and the interrupt propagates.  ``after_seed(k)``
    is called after each finished seed (used by tests to interrupt).

    Your own learner: ``generator`` is an unfitted generator of the protocol
    (:mod:`boundcalc.validate.protocol`) with a ``density(grid)``; each generation fits a fresh
    deep copy of it.  The measured TVs, the recursion-step and scheme checks are then those of
    your learner; the a-posteriori bounds still use the KDE terms of bandwidth h_i, so for another
    learner they are labelled a yardstick, not a theorem, and the KDE's references (K4 law,
    variance recursion) are left out; the JSON names the learner under ``"learner"``.
    ``make_generator(i, n_train)`` is a factory of Gaussian-KDE variants (a per-generation
    bandwidth, or a deliberately broken KDE in the tests): it is held to all the KDE's checks.  The
    ``out_dir`` folder is created and tested for writing before the first seed; size guards and
    the grid resolution are checked before anything is drawn.

    >>> r = validate_kde(generations=2, n_real=200, seeds=2)
    >>> r.status, len(r.data["runs"])
    ('complete', 2)
    """
    if config is None:
        config = KDEValidationConfig(**options)
    elif options:
        raise BoundcalcError(f"validate_kde: give a config or keyword options, not both ({', '.join(options)})")
    config = config.checked()
    if generator is not None:
        if make_generator is not None:
            raise BoundcalcError("validate_kde: give generator or make_generator, not both")
        if not isinstance(generator, Generator):
            raise BoundcalcError(f"generator must have fit(samples) and sample(rng, size) "
                                 f"(boundcalc.validate.protocol), got {type(generator).__name__}")
        make_generator = _copies_of(generator)
    learner = (None if generator is None or isinstance(generator, GaussianKDE) else
               f"user generator {type(generator).__name__} (a deep copy fitted each generation)")
    if resume and out_dir is None:
        raise BoundcalcError("--resume needs --out DIR (the folder holding the stored seeds)")
    ctx = build_context(config)
    store = UnitStore(EXPERIMENT, config.to_dict(), out_dir, resume)
    todo = [u for u in units(config) if u.key not in store.records]
    bar = ProgressBar(len(todo) * config.generations, "validate kde", enabled=progress)
    partial: dict = {}

    def one(unit):
        partial.clear()
        record = _run(unit, ctx, make_generator, on_generation=bar.update, partial=partial)
        partial.clear()
        return record

    status = "complete"
    try:
        run_units(todo, one, store, after_unit=(lambda u: after_seed(u.seed_index)) if after_seed else None)
    except KeyboardInterrupt:
        if out_dir is not None:
            # the seed cut in the middle is kept for inspection (partial_run); --resume recomputes
            # it from its own seed stream, which gives the same numbers
            data = _merge(ctx, store.records.values(), "interrupted", learner).data
            data["partial_run"] = dict(partial) or None
            write_atomic(Path(out_dir) / RESULT_FILE, dumps(data))
        raise
    finally:
        bar.close()
    result = _merge(ctx, store.records.values(), status, learner)
    if out_dir is not None:
        try:
            write_atomic(Path(out_dir) / RESULT_FILE, result.to_json())
        except OSError as exc:
            raise BoundcalcError(f"--out {out_dir}: cannot write {RESULT_FILE}: {exc.strerror or exc}") from None
    return result
