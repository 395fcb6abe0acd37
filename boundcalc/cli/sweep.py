"""The ``boundcalc sweep`` sub-command, and the validator commands of a sweep.

    boundcalc sweep SPEC.toml --out DIR [--executor dask|serial] [--scheduler tcp://HOST:8786]
                    [--workers N] [--resume] [--retry-failed] [--json]
    boundcalc sweep report RESULTS --out DIR [--json]
    boundcalc sweep --list

:mod:`boundcalc.sweep` may not import :mod:`boundcalc.validate` (same layer), so the command
line builds the registry: the calculator's commands from :func:`boundcalc.sweep.bound_commands`
and one adapter per validator command below (``validate kde``, ``validate diffusion loop``,
``validate diffusion phase``, ``validate diffusion early-stopping``).  Every adapter takes the
options of its command line (underscores for dashes; the same defaults, read from the
sub-command's own parser) and runs one unit of randomness: seed index k of base seed b.

Exit status: 0 when every task succeeded, 1 when some task failed (recorded in the table),
2 on bad input, 130 when interrupted (the finished rows are kept; continue with --resume).
"""

from __future__ import annotations

import argparse
import functools
import math
import sys

from boundcalc._checks import BoundcalcError

#: options of the validators' command lines that are not options of one task
_NOT_TASK_OPTIONS = {"json", "out", "resume", "seeds", "seed", "no_plots", "handler", "validator", "experiment",
                     "command"}


# -- the validator adapters ------------------------------------------------------------------------
def _validator_defaults(*path: str) -> argparse.Namespace:
    """The parsed defaults of ``boundcalc validate <path>`` (so a task's options are read exactly as
    the command line reads them); a fresh copy each call."""
    return argparse.Namespace(**vars(_parsed_defaults(path)))


@functools.lru_cache(maxsize=None)
def _parsed_defaults(path: tuple) -> argparse.Namespace:
    from boundcalc.cli import validate_diffusion, validate_kde
    from boundcalc.cli.options import Parser

    parser = Parser(prog="boundcalc validate")
    sub = parser.add_subparsers(dest="validator", parser_class=Parser)
    validate_kde.register(sub)
    validate_diffusion.register(sub)
    return parser.parse_args(list(path))


@functools.lru_cache(maxsize=None)
def _option_names(*path: str) -> tuple:
    return tuple(k for k in vars(_validator_defaults(*path)) if k not in _NOT_TASK_OPTIONS)


def _as_text(value):
    """An option value as the command line would receive it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ",".join(repr(float(v)) if isinstance(v, float) else str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def _namespace(path: tuple, options: dict, seeds: int, seed: int) -> argparse.Namespace:
    ns = _validator_defaults(*path)
    allowed = _option_names(*path)
    for key, value in options.items():
        if key not in allowed:
            raise BoundcalcError(f"validate {' '.join(path)}: unknown option {key} (valid: {', '.join(allowed)})")
        setattr(ns, key, _as_text(value))
    ns.seeds, ns.seed = str(seeds), str(seed)
    return ns


def _last(values):
    v = values[-1] if values else None
    return math.nan if v is None else float(v)


def kde_config(options: dict, base_seed: int = 0):
    """The validated :class:`~boundcalc.validate.kde.KDEValidationConfig` of one configuration."""
    from boundcalc.cli.validate_kde import config_from_args

    return config_from_args(_namespace(("kde",), options, 1, base_seed))


def run_validate_kde(options: dict, base_seed: int, seed_index: int):
    """Unit k of ``validate kde``: one seeded loop with ``SeedSequence([base_seed, k])`` (the
    same stream as seed k of ``boundcalc validate kde --seed base_seed``), summarised and checked
    on its own.

    Adapter over the current validator API (build_context, run_seed, summarize_runs); to be
    switched to the validator's unit API (units / run_unit / merge) when it lands.
    """
    from boundcalc.sweep import TaskOutput
    from boundcalc.validate.kde import build_context, run_seed, summarize_runs

    ctx = build_context(kde_config(options, base_seed))
    record = run_seed(ctx, seed_index)
    data = summarize_runs(ctx, [record], "complete")
    metrics = {key: record[key] for key in ("a", "eps", "tv_q_p0", "one_step_bound", "composed_bound",
                                            "stochastic", "train_variance")}
    metrics.update(a_final=_last(record["a"]), bound_final=_last(record["composed_bound"]),
                   one_step_bound_final=_last(record["one_step_bound"]),
                   lower_reference=list(ctx.lower_reference), lower_reference_final=float(ctx.lower_reference[-1]),
                   bandwidth=list(ctx.bandwidths), generations_finished=record["generations_finished"],
                   run_status=record["status"])
    return TaskOutput(metrics=metrics, checks=data["checks"], result=data, device="cpu")


def merge_validate_kde(options: dict, base_seed: int, seeds: int, results: list) -> str:
    """The JSON of ``boundcalc validate kde --seeds S --seed base_seed`` from the rows of one
    configuration (their runs are seeds 0..S-1 of the same streams; with missing seeds the
    status is "incomplete").  Adapter over the current validator API (summarize_runs); the
    unit API's merge(config, records) takes its place."""
    from boundcalc._io import dumps
    from boundcalc.cli.validate_kde import config_from_args
    from boundcalc.validate.kde import build_context, summarize_runs

    ctx = build_context(config_from_args(_namespace(("kde",), options, seeds, base_seed)))
    runs = [result["runs"][0] for result in results]
    return dumps(summarize_runs(ctx, runs, "complete" if len(runs) == seeds else "incomplete"))


def diffusion_options(experiment: str, options: dict, seed: int):
    """The :class:`ExperimentOptions` of one configuration of ``validate diffusion <experiment>``."""
    from boundcalc.cli.validate_diffusion import options_from_args

    return options_from_args(_namespace(("diffusion", experiment), options, 1, seed), experiment)


def _run_diffusion(experiment: str, options: dict, base_seed: int, seed_index: int):
    """Unit k of ``validate diffusion <experiment>``: the experiment with one seed, whose base
    seed is drawn from ``SeedSequence([base_seed, k])`` (:func:`~boundcalc.sweep.derived_seed`).

    Adapter over the current validator API (run_experiment with seeds = 1); to be switched to
    the validator's unit API when it lands.
    """
    from boundcalc.sweep import TaskOutput, derived_seed
    from boundcalc.validate.diffusion.experiments import run_experiment

    result = run_experiment(diffusion_options(experiment, options, derived_seed(base_seed, seed_index)),
                            progress=False)
    data = result.data
    metrics: dict = {}
    if experiment == "loop":
        several = len(data["schemes"]) > 1
        for entry in data["schemes"]:
            gens = entry["runs"][0]
            suffix = f"[{entry['scheme']}]" if several else ""
            for key in ("a", "eps", "tv_q_p0"):
                metrics[key + suffix] = [g[key] for g in gens]
            metrics["a_final" + suffix] = _last([g["a"] for g in gens])
    elif experiment == "phase":
        rows = data["rows"]
        metrics.update(n_synth=[r["n_synth"] for r in rows], a2=[r["a2"]["mean"] for r in rows],
                       a1=[r["a1"]["mean"] for r in rows], bound_a2=[r.get("bound_a2") for r in rows])
        pred = data["prediction"]
        metrics.update(threshold_calibrated=pred.get("threshold"), alpha_calibrated=pred["rate"].get("alpha"))
    else:
        rows = data["runs"]
        ns = sorted(rows, key=int)
        metrics.update(n=[int(n) for n in ns], tau_star=[rows[n][0]["tau_star"] for n in ns],
                       kl_star=[rows[n][0]["kl_star"] for n in ns])
    checks = [{"name": c.get("name", f"check{i}"), "passed": c["passed"]} for i, c in enumerate(data["checks"])]
    import torch

    return TaskOutput(metrics=metrics, checks=checks, result=data, device="cpu", versions={"torch": torch.__version__})


def run_diffusion_loop(options, base_seed, seed_index):
    return _run_diffusion("loop", options, base_seed, seed_index)


def run_diffusion_phase(options, base_seed, seed_index):
    return _run_diffusion("phase", options, base_seed, seed_index)


def run_diffusion_early_stopping(options, base_seed, seed_index):
    return _run_diffusion("early-stopping", options, base_seed, seed_index)


def check_diffusion(experiment: str, options: dict) -> None:
    """Validate one configuration of ``validate diffusion <experiment>`` (raises BoundcalcError)."""
    diffusion_options(experiment, options, 0)


def validator_commands() -> dict:
    """name -> Command for the validators (one adapter each)."""
    from boundcalc.sweep import Command

    return {
        "validate kde": Command("validate kde", run_validate_kde, _option_names("kde"), check=kde_config,
                                description="one seeded self-consuming KDE loop against the explicit bounds",
                                merge=merge_validate_kde),
        **{f"validate diffusion {name}": Command(f"validate diffusion {name}", fn, _option_names("diffusion", name),
                                                 check=functools.partial(check_diffusion, name),
                                                 description=f"validate diffusion {name} with one seed (torch)")
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
