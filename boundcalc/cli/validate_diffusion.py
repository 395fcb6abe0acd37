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
``diffusion_<experiment>*.png`` / ``.pdf``; the folder is checked, created and locked before the
run (:func:`boundcalc._io.prepare_out_dir`): an unusable folder, a folder in use by another run, and
a folder that already holds this experiment's result (without ``--resume`` or ``--force``) are
one-line errors, exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from boundcalc._checks import BoundcalcError

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


#: which experiments each experiment-specific option applies to (others are refused, not ignored)
APPLIES_TO = {"generations": ("loop", "calibrate"), "n_synth_ratios": ("phase",),
              "ns": ("early-stopping", "calibrate"), "mix_fractions": ("loop",),
               "scheme": ("loop",), "n_synth": ("loop",), "real_data": ("loop",), "draw": ("loop",),
               "mlp_epochs": ("early-stopping",)}


def _common_options() -> argparse.ArgumentParser:
    """The options of every experiment, from the parameter table (:mod:`boundcalc._checks`).

    Old spellings kept as aliases: ``--real-fractions`` (now ``--mix-fractions``: the real fractions
    of the mix settings run by ``loop``) and ``--tau auto`` (the minimum of the held-out denoising
    loss, now ``--tau held-out``; ``boundcalc bound``'s ``--tau auto`` is lemma D2's tau*).
    """
    from boundcalc.cli.options import add_flag, add_option

    command = "validate diffusion"
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("scheme and sizes")
    add_option(g, "scheme", command, default="all", choices=("all", "replace", "mix", "accumulate", "schedule"),
               help="loop: all (replace, mix at each --mix-fractions, accumulate) | replace | mix | accumulate | schedule")
    add_option(g, "n_real", command)
    add_option(g, "n_synth", command)
    add_option(g, "real_data", command)
    add_option(g, "draw", command)
    add_option(g, "mix_fractions", command, dest="real_fractions")
    add_option(g, "generations", command, default=None)
    add_option(g, "ns", command)
    add_option(g, "n_synth_ratios", command)
    add_option(g, "p0", command, flags=("--target", "--p0"), dest="target",
               help="1-D target: bimodal (default) | normal:... | mixture:...")
    g = p.add_argument_group("model")
    add_option(g, "model", command)
    add_option(g, "mlp_epochs", command)
    add_option(g, "features", command, dest="width", default=None,
               help="random features m (default 256; early-stopping default: m = --width-ratio * n)")
    add_option(g, "width_ratio", command, default=0.5,
               help="early-stopping: m = ratio * n when --width is not given")
    add_option(g, "train_time", command, dest="tau")
    for name in ("steps", "draws_per_point", "grid_size", "sampler", "device"):
        add_option(g, name, command)
    g = p.add_argument_group("runs and output")
    add_option(g, "seeds", command)
    add_option(g, "seed", command)
    add_flag(g, "--json", help="print the result as one JSON object")
    g.add_argument("--out", default=None, help="folder for the JSON, the resume state and the plots")
    add_flag(g, "--resume", help="continue the run saved in --out")
    add_flag(g, "--force", help="with --out: replace this experiment's result already in the folder (refused without "
                                "--resume or --force)")
    add_flag(g, "--no-plots", help="with --out: skip the plots")
    return p


def register(subparsers):
    """Add ``diffusion`` and its sub-commands to the sub-parsers of ``boundcalc validate``;
    ``boundcalc validate diffusion`` alone prints its help (stdout, exit 0)."""
    parser = subparsers.add_parser("diffusion", help="self-consuming diffusion loops in torch",
                                   description=DESCRIPTION)
    from boundcalc.cli.options import Parser
    sub = parser.add_subparsers(dest="experiment", metavar="{loop,phase,early-stopping,calibrate}",
                                parser_class=Parser)
    parser.set_defaults(handler=lambda args: (parser.print_help(sys.stdout), 0)[1])
    common = _common_options()
    for name, handler in (("loop", run_loop), ("phase", run_phase), ("early-stopping", run_early_stopping),
                          ("calibrate", run_calibrate)):
        p = sub.add_parser(name, parents=[common], help=EXPERIMENT_HELP[name], description=EXPERIMENT_HELP[name])
        p.set_defaults(handler=handler)
    return parser


def _refuse_inapplicable(args, experiment: str) -> None:
    from boundcalc.cli.options import given, spelled
    for dest, experiments in APPLIES_TO.items():
        option = "real_fractions" if dest == "mix_fractions" else dest
        if experiment not in experiments and given(args, option):
            raise BoundcalcError(f"{spelled(args, option)} does not apply to validate diffusion {experiment} "
                                 f"(it applies to {', '.join(experiments)})")


def options_from_args(args, experiment: str):
    """The :class:`~boundcalc.validate.diffusion.experiments.ExperimentOptions` of parsed arguments."""
    from boundcalc.validate.diffusion.options import diffusion_config

    _refuse_inapplicable(args, experiment)
    from boundcalc.cli.options import given
    if given(args, "mlp_epochs") and args.model != "mlp-sgd":
        raise BoundcalcError(f"--mlp-epochs applies to --model mlp-sgd, not {args.model}")
    options = dict(target=args.target, model=args.model, mlp_epochs=args.mlp_epochs,
                   tau="auto" if args.tau in ("held-out", "auto") else args.tau, steps=args.steps,
                   draws_per_point=args.draws_per_point, grid_size=args.grid_size, sampler=args.sampler,
                   device=args.device,
                   scheme=args.scheme, n_real=args.n_real, n_synth=args.n_synth, real_data=args.real_data,
                   draw=args.draw,
                   real_fractions=tuple(args.real_fractions),
                   seeds=args.seeds, seed=args.seed, ns=tuple(args.ns or ()),
                   n_synth_ratios=tuple(args.n_synth_ratios), width_ratio=args.width_ratio)
    if args.width is not None:
        options.update(width=args.width, width_ratio=None)
    if args.generations is not None:
        options["generations"] = args.generations
    return diffusion_config(experiment, **options)


def _out_dir(args, experiment: str):
    """The checked and locked ``--out`` folder (``with`` gives its Path), or None without ``--out``."""
    from contextlib import nullcontext

    from boundcalc._io import prepare_out_dir

    if args.out is None:
        if args.resume:
            raise BoundcalcError("--resume needs --out DIR (the folder of the interrupted run)")
        if args.force:
            raise BoundcalcError("--force applies with --out DIR (it replaces the result saved there)")
        return nullcontext(None)
    results = (f"diffusion_{experiment}.json", f"units/diffusion-{experiment}")
    return prepare_out_dir(args.out, resume=args.resume, force=args.force, results=results)


def _run(args, experiment: str) -> int:
    from boundcalc.cli.options import interrupted
    from boundcalc.validate.diffusion._torch import torch_module

    options = options_from_args(args, experiment)
    with _out_dir(args, experiment) as folder:
        torch_module()  # one-line error and exit status 2 when torch is missing
        from boundcalc.validate.diffusion.experiments import result_file, run_experiment

        try:
            result = run_experiment(options, out_dir=folder, resume=args.resume)
        except KeyboardInterrupt:
            return interrupted(f"validate diffusion {experiment}", args.out if folder else None, "runs")
        except OSError as exc:
            raise BoundcalcError(f"cannot write the results to --out {args.out}: {exc.strerror or exc}") from None
        written = []
        if folder is not None:
            written.append(result_file(folder, experiment))
            if not args.no_plots:
                try:
                    written.extend(result.plot(folder))
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
