"""The ``boundcalc`` command line.

    boundcalc lemmas [--json]
    boundcalc show LEMMA_ID [--latex] [--json]
    boundcalc bound [--scheme S] [--generations K] [--n-real N] [--n-synth M] [--real-data fresh|reused]
                    [--delta D] [--learner power|kde|diffusion] [learner options] [--json] [--latex]
    boundcalc solve --for {n-real,n-synth,real-fraction,generations} --target EPS [bound options] [--json]
    boundcalc solve --for growth [--growth-k K --n-real N_1] [learner options] [--json]
    boundcalc phase [--generation I] [--n-real N] [learner options] [--json]
    boundcalc optimum {tau,bandwidth} [--n N] [--delta D] [--generations K] [...] [--json]
    boundcalc validate {kde,diffusion} ...

Every option has a built-in default except the learner's own parameters: ``boundcalc bound`` alone
computes the bound of a ``mix`` loop of 10 generations of a Gaussian KDE on the two-mode target.
The options, their defaults and ranges come from the parameter table of :mod:`boundcalc._checks`.
Bad input prints one line naming the parameter, the value and its valid range and exits with
status 2; an option that does not apply to the command, or conflicts with another, is refused the
same way.  The tables printed are ``str(result)`` of the result objects, as in the Python API.
"""

from __future__ import annotations

import argparse
import os
import sys

from boundcalc._checks import BoundcalcError
from boundcalc.cli import (export, sweep, validate_diffusion, validate_gaussian, validate_kde, validate_phase,
                           validate_toy)
from boundcalc._checks import param
from boundcalc.bounds.result import header
from boundcalc.cli.options import (Parser, _emit, add_flag, add_learner_options, add_option, add_phase_options,
                                   add_scheme_options, compute_bound, given, learner_from_args,
                                   refuse_together, spelled)

# --- sub-commands -----------------------------------------------------------------------------
def cmd_lemmas(args):
    from boundcalc._io import dumps
    from boundcalc.theory.catalogue import all_lemmas
    lemmas = all_lemmas()
    if args.json:
        sys.stdout.write(dumps({**header("lemmas", [l.id for l in lemmas]), "lemmas": [l.to_dict() for l in lemmas]}))
        return 0
    width = max(len(l.id) for l in lemmas)
    for l in lemmas:
        print(f"{l.id:<{width}}  {l.provenance:<18} {l.title}")
    return 0


def cmd_show(args):
    from boundcalc._io import dumps
    from boundcalc.theory.catalogue import get_lemma
    lemma = get_lemma(args.lemma_id.replace("'", "p"))
    if args.json:
        sys.stdout.write(dumps({**header("lemma", [lemma.id]), **lemma.to_dict()}))
    elif args.latex:
        print(lemma.latex)
    else:
        print(f"{lemma.id}: {lemma.title}   {lemma.provenance}")
        print(f"  statement: {lemma.statement}")
        print("  hypotheses:")
        for h in lemma.hypotheses:
            print(f"    - {h}")
        if lemma.quantities:
            print("  quantities:")
            for k, v in lemma.quantities.items():
                print(f"    {k}: {v}")
        print(f"  source: {lemma.source}")
        from boundcalc.document.derivations import MissingProofError, derivation_location
        try:
            print(f"  proof: {derivation_location(lemma)} (and in the document: boundcalc latex)")
        except MissingProofError as exc:  # a broken installation, not a bad option: exit status 1
            print(f"boundcalc: error: {exc}", file=sys.stderr)
            return 1
    return 0


def cmd_bound(args):
    _emit(args, compute_bound(args))
    return 0


#: the options that state the unknown of ``solve --for X`` (giving them is refused)
SOLVE_UNKNOWN_OPTIONS = {"n-real": ("n_real",), "n-synth": ("n_synth", "real_fraction"),
                         "real-fraction": ("real_fraction", "schedule_fractions"), "generations": ("generations",),
                         "growth": ()}


def cmd_solve(args):
    from boundcalc.bounds.solve import solve
    if args.unknown == "growth":  # a replace loop with N_i = N_1 i^k (N_1 = --n-real): the critical exponent k*
        from boundcalc.bounds.growth import growth
        if given(args, "target"):
            raise BoundcalcError("--target does not apply to --for growth (k* does not depend on a target)")
        _emit(args, growth(learner_from_args(args), k=args.growth_k,
                           n_first=args.n_real if given(args, "n_real") else None))
        return 0
    if args.target is None:
        raise BoundcalcError(f"solve --for {args.unknown} needs --target (the level a_K must meet, in (0, 1])")
    for dest in SOLVE_UNKNOWN_OPTIONS[args.unknown]:
        if given(args, dest):
            raise BoundcalcError(f"{spelled(args, dest)} gives a value to the unknown of --for {args.unknown}; "
                                 "drop it (the solver finds it)")
    if given(args, "max_generations") and args.unknown != "generations":
        raise BoundcalcError("--max-generations applies to --for generations only")
    from boundcalc._checks import check, check_optional  # the table's limits (K <= MAX_GENERATIONS) first
    generations = None if args.unknown == "generations" else check("generations", args.generations)
    max_generations = check_optional("max_generations", args.max_generations)
    result = solve(args.unknown, args.target, learner_from_args(args), scheme=args.scheme,
                   generations=generations, n_real=args.n_real, n_synth=args.n_synth,
                   real_data=args.real_data, real_fraction=args.real_fraction,
                   real_fractions=args.schedule_fractions, sizes=args.sizes, delta=args.delta,
                   max_generations=max_generations, draw=args.draw)
    _emit(args, result)
    return 0


def cmd_phase(args):
    from boundcalc.bounds.phase import phase_transition
    refuse_together(args, "n_synth_before", "previous_tv")
    result = phase_transition(learner_from_args(args), args.n_real, args.generation,
                              previous_tv=args.previous_tv, n_synth_before=args.n_synth_before, delta=args.delta,
                              draw=args.draw)
    _emit(args, result)
    return 0


def cmd_optimum(args):
    from boundcalc.bounds.api import optimum
    refuse_together(args, "width", "width_ratio")
    own = {"tau": ("width", "width_ratio", "c_stat", "c_width", "c_opt", "delta", "generations", "delta_exponent"),
           "bandwidth": ("target_distribution",)}
    other = "bandwidth" if args.quantity == "tau" else "tau"
    stray = [spelled(args, d) for d in own[other] if given(args, d)]
    if stray:
        raise BoundcalcError(f"{', '.join(stray)} do(es) not apply to optimum {args.quantity} "
                             f"(they belong to optimum {other})")
    if args.quantity == "tau":
        result = optimum("tau", args.n, width=args.width, width_ratio=args.width_ratio,
                         c_stat=args.c_stat, c_width=args.c_width, c_opt=args.c_opt, delta=args.delta,
                         generations=args.generations, delta_exponent=args.delta_exponent)
    else:
        result = optimum("bandwidth", args.n, p0=args.target_distribution or "bimodal")
    _emit(args, result)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from boundcalc.bounds.result import package_version
    parser = Parser(prog="boundcalc", description="Bounds for self-consuming generative models "
                     "(Fu et al. 2024; Li et al. 2023).")
    parser.add_argument("--version", action="version", version=f"boundcalc {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("lemmas", help="list the lemma catalogue")
    add_flag(p, "--json")
    p.set_defaults(handler=cmd_lemmas)

    p = sub.add_parser("show", help="one lemma: statement, hypotheses, provenance")
    p.add_argument("lemma_id", metavar="LEMMA_ID")
    add_flag(p, "--latex", help="print the authored LaTeX template")
    add_flag(p, "--json")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("bound", help="bounds a_1..a_K on TV(p_K, p0)")
    add_scheme_options(p, command="bound", subsample=True)
    add_learner_options(p)
    add_flag(p, "--json", help="print the result as one JSON object")
    add_flag(p, "--latex", help="print the closed form with the numbers used")
    p.set_defaults(handler=cmd_bound)

    p = sub.add_parser("solve", help="solve for one unknown so that a_K meets a target")
    add_option(p, "unknown", flags=("--for",), required=True)
    add_option(p, "target", help="the level the final bound a_K must meet (not with --for growth)")
    add_option(p, "growth_k", "solve")
    add_option(p, "max_generations", "solve")
    add_scheme_options(p, command="solve")
    add_learner_options(p, target_flag=False)
    add_flag(p, "--json", help="print the result as one JSON object")
    add_flag(p, "--latex", help="print the solved value in LaTeX")
    p.set_defaults(handler=cmd_solve)

    p = sub.add_parser("phase", help="phase transition in the amount of synthetic data")
    add_phase_options(p)
    add_flag(p, "--json", help="print the result as one JSON object")
    add_flag(p, "--latex", help="print the threshold in LaTeX")
    p.set_defaults(handler=cmd_phase)

    p = sub.add_parser("optimum", help="optimal training time tau* (D2) or KDE bandwidth h* (K3)")
    p.add_argument("quantity", choices=param("quantity").choices)
    add_option(p, "n", "optimum")
    add_option(p, "width", help="tau: width m (default: width_ratio * n)")
    add_option(p, "width_ratio", help="tau: m = width_ratio * n (default 1)")
    for name in ("c_stat", "c_width", "c_opt"):
        add_option(p, name, "optimum", help=f"tau: {param(name).help}")
    add_option(p, "delta", "optimum", help="tau: failure probability delta of the run whose statement this is")
    add_option(p, "generations", "optimum", help="tau: generations K of that run (the statement is taken at "
                                                 "delta_i = delta/K, lemma C3; 1: a single training run)")
    add_option(p, "delta_exponent", "optimum", help="tau: degree k_delta of the confidence factor ell(delta_i)^k_delta "
                                                    "of c_stat, c_width (lemma D4; 0: the constants as given)")
    add_option(p, "p0", flags=("--p0", "--target"), dest="target_distribution",
               help="bandwidth: p0 (default bimodal)")
    add_flag(p, "--json", help="print the result as one JSON object")
    add_flag(p, "--latex", help="print the optimum in LaTeX")
    p.set_defaults(handler=cmd_optimum)

    validate = sub.add_parser("validate", help="run real self-consuming loops against the bounds")
    vsub = validate.add_subparsers(dest="validator", metavar="VALIDATOR", parser_class=Parser)
    validate.set_defaults(handler=lambda a: _missing(validate))
    validate_kde.register(vsub)
    validate_diffusion.register(vsub)
    validate_gaussian.register(vsub)
    validate_phase.register(vsub)
    validate_toy.register(vsub)
    export.register(sub)
    sweep.register(sub)
    return parser


def _missing(parser):
    """A command level without its sub-command: print that level's help to stdout, exit 0 (like pip)."""
    parser.print_help(sys.stdout)
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        if getattr(args, "json", False) and getattr(args, "latex", False):
            raise BoundcalcError("--json and --latex cannot be given together (choose one output)")
        return args.handler(args) or 0
    except BoundcalcError as exc:
        print(f"boundcalc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("boundcalc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `boundcalc ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
