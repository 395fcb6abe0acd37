"""The ``boundcalc sweep`` sub-command, and the validator commands of a sweep.

    boundcalc sweep SPEC.toml --out DIR [--executor dask|serial] [--scheduler tcp://HOST:8786]
                    [--workers N] [--resume] [--retry-failed] [--json]
    boundcalc sweep report RESULTS --out DIR [--json]
    boundcalc sweep --list

:mod:`boundcalc.sweep` may not import :mod:`boundcalc.validate` (same layer), so the command
line builds the registry: the calculator's commands from :func:`boundcalc.sweep.bound_commands`
and one adapter per validator command below (``validate kde``, ``validate diffusion loop``,
``validate diffusion phase``, ``validate diffusion early-stopping``).  Every adapter takes the
keywords of :func:`boundcalc.validate.kde_config` / :func:`boundcalc.validate.diffusion_config`
(the command line's options with underscores, the same defaults) and runs the validator's own
units of seed index k (:func:`boundcalc.validate.units`, randomness ``SeedSequence([b, k, ...])``
for base seed b); its ``merge`` (:func:`boundcalc.validate.merge`) turns the rows of one
configuration into the validator's ``--json`` output, byte for byte.

Exit status: 0 when every task succeeded, 1 when some task failed (recorded in the table),
2 on bad input, 130 when interrupted (the finished rows are kept; continue with --resume).
"""

from __future__ import annotations

import functools
import math
import sys

from boundcalc._checks import BoundcalcError

#: fields of the validators' configurations that are not options of one task (the spec's seeds
#: and base_seed give them)
_NOT_TASK_OPTIONS = {"seeds", "seed"}


# -- the validator adapters (over the unit API of boundcalc.validate) --------------------------------
@functools.lru_cache(maxsize=None)
def _option_names(family: str) -> tuple:
    """The options a task of ``validate kde`` / ``validate diffusion *`` takes: the keywords of
    :func:`boundcalc.validate.kde_config` / :func:`boundcalc.validate.diffusion_config` (the
    command line's options with underscores), without seeds and seed."""
    from dataclasses import fields

    if family == "kde":
        from boundcalc.validate.kde.config import KDEValidationConfig as own

        names = [f.name for f in fields(own)]
    else:
        from boundcalc.validate.diffusion.loop import DiffusionConfig
        from boundcalc.validate.diffusion.options import ExperimentOptions

        names = [f.name for f in fields(ExperimentOptions) if f.name not in ("experiment", "config")]
        names += [f.name for f in fields(DiffusionConfig)]
    return tuple(n for n in names if n not in _NOT_TASK_OPTIONS)


def _checked_options(family: str, label: str, options: dict) -> dict:
    allowed = _option_names(family)
    for key in options:
        if key not in allowed:
            raise BoundcalcError(f"{label}: unknown option {key} (valid: {', '.join(allowed)})")
    return dict(options)


def _last(values):
    v = values[-1] if values else None
    return math.nan if v is None else float(v)


def kde_config(options: dict, base_seed: int = 0, seeds: int = 1):
    """The checked :class:`~boundcalc.validate.kde.KDEValidationConfig` of one configuration
    (``validate kde`` with these options, ``--seeds seeds --seed base_seed``)."""
    from boundcalc.validate import kde_config as make

    return make(**_checked_options("kde", "validate kde", options), seeds=seeds, seed=base_seed)


def run_validate_kde(options: dict, base_seed: int, seed_index: int):
    """Unit k of ``validate kde``: the validator's own unit of seed index k (randomness
    ``SeedSequence([base_seed, k])``, the same as seed k of ``boundcalc validate kde --seed
    base_seed``), run by :func:`boundcalc.validate.run_unit`; the row keeps its record."""
    from boundcalc.sweep import TaskOutput
    from boundcalc.validate import merge, run_unit, units
    from boundcalc.validate.kde.context import context_for

    config = kde_config(options, base_seed, seed_index + 1)
    unit = next(u for u in units(config) if u.seed_index == seed_index)
    record = run_unit(unit)
    ctx = context_for(config)
    metrics = {key: record[key] for key in ("a", "eps", "tv_q_p0", "one_step_bound", "composed_bound",
                                            "stochastic", "train_variance")}
    metrics.update(a_final=_last(record["a"]), bound_final=_last(record["composed_bound"]),
                   one_step_bound_final=_last(record["one_step_bound"]),
                   lower_reference=list(ctx.lower_reference), lower_reference_final=float(ctx.lower_reference[-1]),
                   bandwidth=list(ctx.bandwidths), generations_finished=record["generations_finished"],
                   run_status=record["status"])
    # the validator's checks over this one seed (merge of one record: status "incomplete")
    checks = merge(config, [record]).data["checks"]
    return TaskOutput(metrics=metrics, checks=checks, result={"record": record}, device="cpu")


def merge_validate_kde(options: dict, base_seed: int, seeds: int, results: list) -> str:
    """The JSON of ``boundcalc validate kde --seeds S --seed base_seed --json`` from the rows of one
    configuration: :func:`boundcalc.validate.merge` of their records (with missing seeds the
    status is "incomplete")."""
    from boundcalc.validate import merge

    return merge(kde_config(options, base_seed, seeds), [r["record"] for r in results]).to_json()


def diffusion_config(experiment: str, options: dict, base_seed: int = 0, seeds: int = 1):
    """The checked :class:`ExperimentOptions` of one configuration of ``validate diffusion
    <experiment>`` (``--seeds seeds --seed base_seed``)."""
    from boundcalc.validate import diffusion_config as make

    options = _checked_options("diffusion", f"validate diffusion {experiment}", options)
    if options.get("tau") == "held-out":  # the command line's spelling of "auto"
        options["tau"] = "auto"
    return make(experiment, **options, seeds=seeds, seed=base_seed)


def _diffusion_metrics(experiment: str, records: list) -> dict:
    """Per-row metrics from the records of one seed index (all settings of that seed)."""
    metrics: dict = {}
    if experiment == "loop":
        several = len(records) > 1
        for record in records:
            label = record["unit"].rsplit("/", 1)[0]
            gens = record["result"]
            suffix = f"[{label}]" if several else ""
            for key in ("a", "eps", "tv_q_p0"):
                metrics[key + suffix] = [g[key] for g in gens]
            metrics["a_final" + suffix] = _last([g["a"] for g in gens])
    elif experiment == "phase":
        metrics["n_synth"] = [int(r["unit"].split("/")[0].split("=")[1]) for r in records]
        for i in (1, 2):
            metrics[f"a{i}"] = [r["result"][i - 1]["a"] for r in records]
    else:
        metrics.update(n=[r["result"]["n"] for r in records],
                       tau_star=[r["result"]["tau_star"] for r in records],
                       kl_star=[r["result"]["kl_star"] for r in records])
    return {k: (math.nan if v == "nan" else v) if not isinstance(v, list) else
            [math.nan if x == "nan" else x for x in v] for k, v in metrics.items()}


def _run_diffusion(experiment: str, options: dict, base_seed: int, seed_index: int):
    """Unit k of ``validate diffusion <experiment>``: every unit of the validator with seed index
    k (all schemes, ratios or sizes of that seed; randomness ``SeedSequence([base_seed, k, ...])``),
    run by :func:`boundcalc.validate.run_unit`; the row keeps their records."""
    import torch

    from boundcalc.sweep import TaskOutput
    from boundcalc.validate import run_unit, units

    config = diffusion_config(experiment, options, base_seed, seed_index + 1)
    records = [run_unit(u) for u in units(config) if u.seed_index == seed_index]
    return TaskOutput(metrics=_diffusion_metrics(experiment, records), result={"records": records},
                      device=config.config.device, versions={"torch": torch.__version__})


def _merge_diffusion(experiment: str, options: dict, base_seed: int, seeds: int, results: list) -> str:
    """The JSON of ``boundcalc validate diffusion <experiment> --seeds S --seed base_seed --json``
    from the rows of one configuration (every row is needed: the merge fits over all settings)."""
    from boundcalc.validate import merge

    records = [record for r in results for record in r["records"]]
    return merge(diffusion_config(experiment, options, base_seed, seeds), records).to_json()


def run_diffusion_loop(options, base_seed, seed_index):
    return _run_diffusion("loop", options, base_seed, seed_index)


def run_diffusion_phase(options, base_seed, seed_index):
    return _run_diffusion("phase", options, base_seed, seed_index)


def run_diffusion_early_stopping(options, base_seed, seed_index):
    return _run_diffusion("early-stopping", options, base_seed, seed_index)


def check_diffusion(experiment: str, options: dict) -> None:
    """Validate one configuration of ``validate diffusion <experiment>`` (raises BoundcalcError)."""
    from boundcalc.validate import units

    units(diffusion_config(experiment, options))


def validator_commands() -> dict:
    """name -> Command for the validators (one adapter each)."""
    from boundcalc.sweep import Command

    return {
        "validate kde": Command("validate kde", run_validate_kde, _option_names("kde"), check=kde_config,
                                description="one seeded self-consuming KDE loop against the explicit bounds",
                                merge=merge_validate_kde),
        **{f"validate diffusion {name}": Command(f"validate diffusion {name}", fn, _option_names("diffusion"),
                                                 check=functools.partial(check_diffusion, name),
                                                 description=f"validate diffusion {name}: every unit of one seed (torch)",
                                                 merge=functools.partial(_merge_diffusion, name))
           for name, fn in (("loop", run_diffusion_loop), ("phase", run_diffusion_phase),
                            ("early-stopping", run_diffusion_early_stopping))},
    }


def commands() -> dict:
    """The whole registry of sweep commands: the calculator's and the validators'."""
    from boundcalc.sweep import bound_commands

    return {**bound_commands(), **validator_commands()}


# -- the sub-command --------------------------------------------------------------------------------
def register(subparsers):
    """Add ``sweep`` to the sub-parsers of ``boundcalc``."""
    p = subparsers.add_parser(
        "sweep", help="many configurations x seeds, locally or on a Dask cluster, into one Parquet table",
        description="Run every (configuration, seed) of SPEC.toml as one task (unit k uses "
                    "SeedSequence([base_seed, k])) and store one row per task in DIR/results.parquet; "
                    "`boundcalc sweep report RESULTS --out DIR` aggregates over seeds and draws the figures.")
    p.add_argument("spec", nargs="?", metavar="SPEC.toml | report", help="the sweep spec (TOML), or `report`")
    p.add_argument("results", nargs="?", metavar="RESULTS", help="report: the sweep folder or results.parquet")
    p.add_argument("--out", metavar="DIR", help="the sweep folder (run) or the report folder (report)")
    p.add_argument("--executor", default="dask", choices=("dask", "serial"),
                   help="dask (default: a LocalCluster, one worker process per core) or serial (this process)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler, e.g. tcp://HOST:8786")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: one per core)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out: run only the missing rows")
    p.add_argument("--retry-failed", action="store_true", help="with --resume: also rerun the failed rows")
    p.add_argument("--list", action="store_true", help="list the commands a spec can name, with their options")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (no progress bar)")
    p.set_defaults(handler=run)
    return p


def _list_commands() -> int:
    for name, command in commands().items():
        print(f"{name}: {command.description}")
        print("    options: " + ", ".join(command.options))
    return 0


def run(args) -> int:
    """Handler of ``boundcalc sweep``; returns the exit status."""
    if args.list:
        return _list_commands()
    if args.spec is None:
        raise BoundcalcError("give a spec (boundcalc sweep SPEC.toml --out DIR) or `report RESULTS --out DIR`")
    if args.spec == "report":
        return _report(args)
    if args.results is not None:
        raise BoundcalcError(f"unexpected argument {args.results!r} after the spec")
    if not args.out:
        raise BoundcalcError("--out DIR is required (the folder of the results table)")
    if args.workers is not None and args.workers < 1:
        raise BoundcalcError(f"--workers must be an integer >= 1, got {args.workers}")
    if args.executor == "serial" and (args.scheduler or args.workers):
        raise BoundcalcError("--executor serial takes neither --scheduler nor --workers")
    if args.scheduler and args.workers:
        raise BoundcalcError("--workers applies to the local cluster, not to --scheduler")
    if args.retry_failed and not args.resume:
        raise BoundcalcError("--retry-failed needs --resume")
    from boundcalc.sweep import load_spec, run as run_sweep

    spec = load_spec(args.spec)
    try:
        result = run_sweep(spec, commands(), args.out, executor=args.executor, scheduler=args.scheduler,
                           workers=args.workers, resume=args.resume, retry_failed=args.retry_failed,
                           progress=False if args.json else None)
    except KeyboardInterrupt:
        print(f"boundcalc sweep: interrupted; the finished rows are kept in {args.out}, continue with --resume",
              file=sys.stderr)
        return 130
    if args.json:
        from boundcalc._io import dumps

        sys.stdout.write(dumps(result.to_dict()))
    else:
        where = result.executor + (f" ({result.workers} workers)" if result.executor == "dask" and result.workers else "")
        print(f"sweep {spec.command}: {result.total} tasks, {result.skipped} already done, {result.ran} ran, "
              f"{result.failed} failed, {result.seconds:.1f} s on {where}")
        if result.table is not None:
            print(f"wrote {result.table}")
    return 1 if result.failed else 0


def _report(args) -> int:
    if not args.results:
        raise BoundcalcError("sweep report needs RESULTS (the sweep folder or its results.parquet)")
    if not args.out:
        raise BoundcalcError("sweep report needs --out DIR (the folder of the report)")
    from boundcalc.sweep import write_report

    report = write_report(args.results, args.out, commands())
    if args.json:
        from boundcalc._io import dumps

        sys.stdout.write(dumps(report.to_dict()))
    else:
        print(report.text)
        merged = [p for p in report.files if p.parent.name == "merged"]
        for path in report.files:
            if path not in merged:
                print(f"wrote {path}")
        if merged:
            print(f"wrote {len(merged)} merged results (the command's own JSON over all seeds of a "
                  f"configuration) in {merged[0].parent}")
    return 0
