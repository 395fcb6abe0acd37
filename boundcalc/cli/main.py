"""The ``boundcalc`` command line.

    boundcalc lemmas [--json]
    boundcalc show LEMMA_ID [--latex] [--json]
    boundcalc bound [--scheme S] [--generations K] [--n-real N] [--n-synth M] [--real-data fresh|reused]
                    [--delta D] [--learner power|kde|diffusion] [learner options] [--json] [--latex]
    boundcalc solve --for {n-real,n-synth,real-fraction,generations} --target EPS [bound options] [--json]
    boundcalc phase [--generation I] [--n-real N] [learner options] [--json]
    boundcalc optimum {tau,bandwidth} [--n N] [...] [--json]
    boundcalc validate {kde,diffusion} ...

Every option has a built-in default except the learner's own parameters: ``boundcalc bound`` alone
computes the bound of a ``mix`` loop of 10 generations of a Gaussian KDE on the two-mode target.
Bad input prints one line naming the parameter and its valid range and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from boundcalc._checks import BoundcalcError
from boundcalc.cli import export, sweep, validate_diffusion, validate_kde
from boundcalc.cli.options import (Parser, _emit, _fmt, add_learner_options, add_phase_options,
                                   add_scheme_options, compute_bound, learner_from_args,
                                   scheme_from_args)

# --- sub-commands -----------------------------------------------------------------------------
def cmd_lemmas(args):
    from boundcalc._io import dumps
    from boundcalc.theory.catalogue import all_lemmas
    lemmas = all_lemmas()
    if args.json:
        sys.stdout.write(dumps({"lemmas": [l.to_dict() for l in lemmas]}))
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
        sys.stdout.write(dumps(lemma.to_dict()))
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
        print(f"  proof: {lemma.derivation}")
    return 0


def cmd_bound(args):
    result = compute_bound(args)
    extra = [k for k in result.terms[0] if k not in ("generation", "n_total")]
    lines = [f"scheme {args.scheme}, learner {args.learner}, K = {result.generations}, delta = {args.delta:g}",
             f"{'i':>4}  {'N_i':>12}" + "".join(f"  {k:>11}" for k in extra)
             + f"  {'eps_i':>12}  {'a_i (bound)':>12}"]
    for t, e, a in zip(result.terms, result.eps, result.bound):
        lines.append(f"{t['generation']:>4}  {_fmt(t['n_total']):>12}" + "".join(f"  {_fmt(t[k]):>11}" for k in extra)
                     + f"  {_fmt(e):>12}  {_fmt(a):>12}")
    lines.append(f"final bound a_K <= {_fmt(result.final, 8)}")
    if result.closed_form is not None:
        lines.append(f"closed form: {result.closed_form.name}; value {_fmt(result.closed_form.evaluate(), 8)}")
    lines.append("lemmas: " + ", ".join(result.provenance))
    lines += ["assumptions:"] + [f"  - {a}" for a in result.assumptions]
    lines += [f"note: {n}" for n in result.notes]
    _emit(args, result, "\n".join(lines))
    return 0


def cmd_solve(args):
    from boundcalc.bounds.solve import solve
    generations = None if args.unknown == "generations" else args.generations
    result = solve(args.unknown, args.target, learner_from_args(args), scheme=args.scheme,
                   generations=generations, n_real=args.n_real, n_synth=args.n_synth,
                   real_data=args.real_data, real_fraction=args.real_fraction,
                   real_fractions=args.real_fractions, sizes=args.sizes, delta=args.delta,
                   max_generations=args.max_generations)
    table = "\n".join([f"solve for {result.unknown}: target a_K <= {args.target:g}",
                       f"  value:     {_fmt(result.value, 10)}",
                       f"  achieved:  {_fmt(result.achieved, 8)}",
                       f"  reachable: {result.reachable}   verified: {result.verified}",
                       f"  {result.message}"])
    _emit(args, result, table)
    return 0


def cmd_phase(args):
    from boundcalc.bounds.phase import phase_transition
    result = phase_transition(learner_from_args(args), args.n_real, args.generation,
                              previous_tv=args.previous_tv, n_synth_before=args.n_synth_before, delta=args.delta)
    table = "\n".join([f"phase transition at generation {args.generation} ({result.method})",
                       f"  exists:     {result.exists}",
                       f"  threshold:  n_synth* = {_fmt(result.threshold, 8)}",
                       f"  at n_synth = 0: {_fmt(result.at_zero)}   peak: {_fmt(result.peak)}   limit: {_fmt(result.limit)}",
                       f"  {result.message}"])
    _emit(args, result, table)
    return 0


def cmd_optimum(args):
    from boundcalc.bounds.solve import optimum
    if args.quantity == "tau":
        result = optimum("tau", args.n, width=args.width, width_ratio=args.width_ratio,
                         c_stat=args.c_stat, c_width=args.c_width, c_opt=args.c_opt)
    else:
        result = optimum("bandwidth", args.n, target=args.target_distribution)
    _emit(args, result, f"{result.quantity}* = {_fmt(result.value, 10)}\n  {result.message}\n"
                        f"  checks: {result.checks}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="boundcalc", description="Bounds for self-consuming generative models "
                     "(Fu et al. 2024; Li et al. 2023).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("lemmas", help="list the lemma catalogue")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_lemmas)

    p = sub.add_parser("show", help="one lemma: statement, hypotheses, provenance")
    p.add_argument("lemma_id", metavar="LEMMA_ID")
    p.add_argument("--latex", action="store_true", help="print the authored LaTeX template")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("bound", help="bounds a_1..a_K on TV(p_K, p0)")
    add_scheme_options(p)
    add_learner_options(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--latex", action="store_true", help="print the closed form with the numbers used")
    p.set_defaults(handler=cmd_bound)

    p = sub.add_parser("solve", help="solve for one unknown so that a_K meets a target")
    p.add_argument("--for", dest="unknown", required=True,
                   choices=("n-real", "n-synth", "real-fraction", "generations"))
    p.add_argument("--target", type=float, required=True, help="target for a_K, in (0, 1]")
    p.add_argument("--max-generations", type=int, default=None,
                   help="generations: search limit (default 10000; 64 for the kde learner)")
    add_scheme_options(p)
    add_learner_options(p, target_flag=False)
    p.add_argument("--json", action="store_true")
    p.add_argument("--latex", action="store_true")
    p.set_defaults(handler=cmd_solve)

    p = sub.add_parser("phase", help="phase transition in the amount of synthetic data")
    add_phase_options(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--latex", action="store_true")
    p.set_defaults(handler=cmd_phase)

    p = sub.add_parser("optimum", help="optimal training time tau* (D2) or KDE bandwidth h* (K3)")
    p.add_argument("quantity", choices=("tau", "bandwidth"))
    p.add_argument("--n", type=float, default=10_000, help="training samples (default 10000)")
    p.add_argument("--width", type=float, help="tau: width m (default: proportional to n)")
    p.add_argument("--width-ratio", type=float, default=1.0, help="tau: m = ratio * n (default 1)")
    for name in ("stat", "width", "opt"):
        p.add_argument(f"--c-{name}", type=float, dest=f"c_{name}", default=1.0, help=f"tau: constant c_{name}")
    p.add_argument("--target", "--p0", dest="target_distribution", help="bandwidth: p0 (default bimodal)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_optimum)

    validate = sub.add_parser("validate", help="run real self-consuming loops against the bounds")
    vsub = validate.add_subparsers(dest="validator", metavar="VALIDATOR", parser_class=Parser)
    validate.set_defaults(handler=lambda a: _missing(validate))
    validate_kde.register(vsub)
    validate_diffusion.register(vsub)
    export.register(sub)
    sweep.register(sub)
    return parser


def _missing(parser):
    parser.print_help(sys.stderr)
    return 2


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
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
