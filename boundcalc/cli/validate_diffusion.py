"""The ``boundcalc validate diffusion`` sub-command.

``register(subparsers)`` adds the parser "diffusion" (with the sub-commands loop, phase,
early-stopping, calibrate) to the sub-parsers of ``boundcalc validate``; each sets
``handler=run_<name>``, and ``run_<name>(args)`` returns the exit status: 0 when every check
passed, 1 when a check failed, 130 when interrupted (finished units kept in ``--out``; continue
with ``--resume``).  Bad input raises :class:`~boundcalc._checks.BoundcalcError` (one line,
exit status 2).  Importing this module does not import torch.

Output: the summary table by default; ``--json`` prints the one JSON object instead;
``--out DIR`` writes ``diffusion_<experiment>.json``, one record file per finished unit in
``units/diffusion-<experiment>/`` (what ``--resume`` continues from) and the plots
``diffusion_<experiment>*.png`` / ``.pdf``.
"""

from __future__ import annotations

import argparse
import sys

from boundcalc._checks import BoundcalcError, parse_number_list

DESCRIPTION = ("Run self-consuming diffusion loops (random-feature score model of Li et al. 2023 "
               "with closed-form gradient flow, or a small MLP) under the shared data-mixing schemes, "
               "measure a_i = TV(p_i, p0) and eps_i = TV(p_i, q_i) on a grid against exact densities, "
               "and hold them against the calculator. Needs torch (pip install 'boundcalc[validate]').")

EXPERIMENT_HELP = {
    "loop": "a_i over generations for replace, mix at several real fractions and accumulate; "
            "a validity gate on every model, a chi-square test of the samples fed forward against the "
            "measured model law, and the recursion step a_i <= eps_i + TV(q_i, p0) (consistency)",
    "phase": "a_2 against n_synth at fixed n_real (mix) beside the bound from the fitted rate and its threshold",
    "early-stopping": "KL(p0 || p_tau) against the training time tau for several n; slopes of tau* and "
                      "the best KL against n beside Li's 2/5 and -2/5",
    "calibrate": "fit eps(N) = C N^-alpha on generation-1 runs, test the composed bounds on held-out "
                 "schemes and generations (calibrated, not proved)",
}


def _common_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("scheme and sizes")
    g.add_argument("--scheme", default="all",
                   help="loop: all (replace, mix at each --real-fractions, accumulate) | replace | mix | accumulate | schedule")
    g.add_argument("--n-real", default="500", help="real samples n_real (default 500)")
    g.add_argument("--n-synth", default=None, help="synthetic samples per generation (default n_real)")
    g.add_argument("--real-data", default="fresh", help="fresh | reused real data (mix, accumulate)")
    g.add_argument("--real-fractions", default="0.2,0.5,0.8", help="real fractions of mix (default 0.2,0.5,0.8)")
    g.add_argument("--generations", default=None, help="generations K (default 5 for loop, 4 for calibrate)")
    g.add_argument("--ns", default=None, help="early-stopping / calibrate: training sizes n, comma-separated")
    g.add_argument("--n-synth-ratios", default="0,0.5,1,2,4,8",
                   help="phase: n_synth / n_real values (default 0,0.5,1,2,4,8)")
    g.add_argument("--target", default="bimodal", help="1-D target: bimodal (default) | normal:... | mixture:...")
    g = p.add_argument_group("model")
    g.add_argument("--model", default="random-features", help="random-features (default) | mlp")
    g.add_argument("--width", default=None,
                   help="random features m (default 256; early-stopping default: m = --width-ratio * n)")
    g.add_argument("--width-ratio", default="0.5", help="early-stopping: m = ratio * n when --width is not given")
    g.add_argument("--tau", default="auto",
                   help="training time tau >= 0, or auto = minimum held-out denoising loss (default auto)")
    g.add_argument("--steps", default="40", help="RK4 steps of the probability-flow ODE (default 40)")
    g.add_argument("--draws-per-point", default="8", help="(t, z) draws per training point (default 8)")
    g.add_argument("--grid-size", default="1024", help="grid nodes for TV and KL (default 1024)")
    g.add_argument("--sampler", default="ode", help="ode (default; measured law = law of the samples) | sde (its samples do not follow the "
                        "measured ODE law: the forwarded-sample check fails)")
    g = p.add_argument_group("runs and output")
    g.add_argument("--seeds", default="3", help="seeded runs per setting (default 3)")
    g.add_argument("--seed", default="0", help="base seed (default 0)")
    g.add_argument("--json", action="store_true", help="print the result as one JSON object")
    g.add_argument("--out", default=None, help="folder for the JSON, the resume state and the plots")
    g.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    g.add_argument("--no-plots", action="store_true", help="with --out: skip the plots")
    return p


def register(subparsers):
    """Add ``diffusion`` and its sub-commands to the sub-parsers of ``boundcalc validate``."""
    parser = subparsers.add_parser("diffusion", help="self-consuming diffusion loops in torch",
                                   description=DESCRIPTION)
    sub = parser.add_subparsers(dest="experiment", metavar="{loop,phase,early-stopping,calibrate}")
    sub.required = True
    common = _common_options()
    for name, handler in (("loop", run_loop), ("phase", run_phase), ("early-stopping", run_early_stopping),
                          ("calibrate", run_calibrate)):
        p = sub.add_parser(name, parents=[common], help=EXPERIMENT_HELP[name], description=EXPERIMENT_HELP[name])
        p.set_defaults(handler=handler)
    return parser


def options_from_args(args, experiment: str):
    """The :class:`~boundcalc.validate.diffusion.experiments.ExperimentOptions` of parsed arguments."""
    from boundcalc.validate.diffusion.options import diffusion_config

    options = dict(target=args.target, model=args.model, tau=args.tau, steps=args.steps,
                   draws_per_point=args.draws_per_point, grid_size=args.grid_size, sampler=args.sampler,
                   scheme=args.scheme, n_real=args.n_real, n_synth=args.n_synth, real_data=args.real_data,
                   real_fractions=parse_number_list("real_fractions", args.real_fractions),
                   seeds=args.seeds, seed=args.seed, ns=parse_number_list("ns", args.ns) or (),
                   n_synth_ratios=parse_number_list("n_synth_ratios", args.n_synth_ratios),
                   width_ratio=args.width_ratio)
    if args.width is not None:
        options.update(width=args.width, width_ratio=None)
    if args.generations is not None:
        options["generations"] = args.generations
    return diffusion_config(experiment, **options)


def check_out_dir(path) -> None:
    """Fail early (one line, exit status 2) when ``--out`` cannot hold the results: an existing
    file, or a folder that cannot be created or written."""
    import tempfile
    from pathlib import Path

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise BoundcalcError(f"--out {path}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".boundcalc-write-test-"):
            pass
    except OSError as exc:
        raise BoundcalcError(f"--out {path}: cannot write there ({exc.strerror or exc})") from None


def _run(args, experiment: str) -> int:
    from boundcalc.validate.diffusion._torch import torch_module

    options = options_from_args(args, experiment)
    if args.resume and not args.out:
        raise BoundcalcError("--resume needs --out DIR (the folder of the interrupted run)")
    if args.out and not args.resume:
        check_out_dir(args.out)  # before torch is loaded: a bad --out is a one-line error at once
    torch_module()  # one-line error and exit status 2 when torch is missing
    from boundcalc.validate.diffusion.experiments import result_file, run_experiment

    try:
        result = run_experiment(options, out_dir=args.out, resume=args.resume)
    except KeyboardInterrupt:
        where = f"; the finished runs are kept in {args.out}, continue with --resume" if args.out else ""
        print(f"boundcalc validate diffusion {experiment}: interrupted{where}", file=sys.stderr)
        return 130
    except OSError as exc:
        raise BoundcalcError(f"cannot write the results to --out {args.out}: {exc.strerror or exc}") from None
    written = []
    if args.out:
        written.append(result_file(args.out, experiment))
        if not args.no_plots:
            try:
                written.extend(result.plot(args.out))
            except OSError as exc:
                raise BoundcalcError(f"cannot write the plots to --out {args.out}: {exc.strerror or exc}") from None
    return result.emit(args.json, written)


def run_loop(args) -> int:
    """Handler of ``boundcalc validate diffusion loop``."""
    return _run(args, "loop")


def run_phase(args) -> int:
    """Handler of ``boundcalc validate diffusion phase``."""
    return _run(args, "phase")


def run_early_stopping(args) -> int:
    """Handler of ``boundcalc validate diffusion early-stopping``."""
    return _run(args, "early-stopping")


def run_calibrate(args) -> int:
    """Handler of ``boundcalc validate diffusion calibrate``."""
    return _run(args, "calibrate")
