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
import importlib
import os
import sys

from .errors import BoundcalcError

#: modules that add sub-commands: each has ``register(subparsers)``; missing ones are skipped
_PLUGINS = {"top": ("boundcalc.export_cli",),
            "validate": ("boundcalc.validate.kde_cli", "boundcalc.validate.diffusion_cli")}

POWER_OPTIONS = ("C", "alpha")
KDE_OPTIONS = ("dim", "bandwidth", "target_distribution", "laplacian_l1", "k2_integral", "holder_L", "holder_beta")
DIFFUSION_OPTIONS = ("width", "width_ratio", "tau", "horizon", "c_stat", "c_width", "c_opt", "c_mc",
                     "c_approx", "c_prior")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _float_list(text):
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _number_or_auto(text):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def add_scheme_options(p, generations=True):
    g = p.add_argument_group("loop")
    g.add_argument("--scheme", choices=("replace", "mix", "accumulate", "schedule"), default="mix",
                   help="data-mixing scheme (default mix)")
    if generations:
        g.add_argument("--generations", "-K", type=float, default=10, help="number of generations K (default 10)")
    g.add_argument("--n-real", type=float, default=10_000, help="real samples per generation (default 10000)")
    g.add_argument("--n-synth", type=float, default=None, help="synthetic samples (default: n-real)")
    g.add_argument("--real-fraction", type=float, default=None,
                   help="mix: real share of each later training set, instead of --n-synth")
    g.add_argument("--real-data", choices=("fresh", "reused"), default="fresh",
                   help="fresh real samples each generation, or the same set (default fresh)")
    g.add_argument("--real-fractions", type=_float_list, default=None,
                   help="schedule: lam_2,...,lam_K (or one value for all)")
    g.add_argument("--sizes", type=_float_list, default=None, help="schedule: N_2,...,N_K (or one value)")
    g.add_argument("--delta", type=float, default=0.05, help="failure probability of the whole statement (default 0.05)")


def add_phase_options(p):
    """The options of ``phase`` (also taken by ``plot phase``), learner options included."""
    p.add_argument("--generation", type=int, default=2, help="generation I >= 2 (default 2)")
    p.add_argument("--n-real", type=float, default=10_000, help="real samples (default 10000)")
    p.add_argument("--n-synth-before", type=float, default=None,
                   help="synthetic samples in generations 2..I-1 (default n-real)")
    p.add_argument("--previous-tv", type=float, default=None, help="a_(I-1) supplied directly, in [0, 1]")
    p.add_argument("--delta", type=float, default=0.05)
    add_learner_options(p)


def add_learner_options(p, target_flag=True):
    """Learner options. ``solve`` uses --target for the bound's target, so there the KDE's
    distribution is given by its alias --p0 only."""
    g = p.add_argument_group("learner")
    g.add_argument("--learner", choices=("power", "kde", "diffusion"), default="kde",
                   help="per-generation error model (default kde: explicit constants)")
    g.add_argument("--C", type=float, help="power: eps(N) = C N^-alpha")
    g.add_argument("--alpha", type=float, help="power: rate exponent")
    g.add_argument("--dim", type=int, help="kde: dimension (default: the target's)")
    g.add_argument("--bandwidth", type=_number_or_auto, help="kde: bandwidth h or 'auto' (K3; default auto)")
    flags = ("--target", "--p0") if target_flag else ("--p0",)
    g.add_argument(*flags, dest="target_distribution",
                   help="kde: p0 = normal[:mu=..,sigma=..,dim=..], bimodal (default), or "
                        "mixture:weights=..;means=..;scales=..")
    g.add_argument("--laplacian-l1", type=float, help="kde: ||Laplacian p0||_1 instead of a target")
    g.add_argument("--k2-integral", type=float, help="kde: bound on the K2 integral of every training law")
    g.add_argument("--holder-L", type=float, help="kde: Hoelder constant L (lemma K1')")
    g.add_argument("--holder-beta", type=float, help="kde: Hoelder exponent beta in (0, 2]")
    g.add_argument("--width", type=float, help="diffusion: width m (default: proportional to N)")
    g.add_argument("--width-ratio", type=float, help="diffusion: m = ratio * N (default 1)")
    g.add_argument("--tau", type=_number_or_auto, help="diffusion: training time or 'auto' (D2; default auto)")
    g.add_argument("--horizon", type=float, help="diffusion: horizon T (default 10)")
    for name in ("stat", "width", "opt", "mc", "approx", "prior"):
        g.add_argument(f"--c-{name}", type=float, dest=f"c_{name}", help=f"diffusion: constant c_{name} of D1")


def _flag(dest: str) -> str:
    return "--p0" if dest == "target_distribution" else "--" + dest.replace("_", "-")


def learner_from_args(args):
    from .learners import make_learner
    given = {k: getattr(args, k) for k in POWER_OPTIONS + KDE_OPTIONS + DIFFUSION_OPTIONS
             if getattr(args, k, None) is not None}
    own = {"power": POWER_OPTIONS, "kde": KDE_OPTIONS, "diffusion": DIFFUSION_OPTIONS}[args.learner]
    stray = [k for k in given if k not in own]
    if stray:
        flags = ", ".join(_flag(k) for k in stray)
        raise BoundcalcError(f"{flags} do(es) not apply to --learner {args.learner} (its options: "
                             + ", ".join(_flag(k) for k in own) + ")")
    if args.learner == "kde":
        from .targets import parse_target
        spec = given.pop("target_distribution", None)
        if spec is not None or (given.get("laplacian_l1") is None and given.get("holder_L") is None):
            given["target"] = parse_target(spec)
        given.setdefault("bandwidth", "auto")
    return make_learner(args.learner, **given)


def scheme_from_args(args, **over):
    from .schemes import make_scheme
    kw = dict(n_real=args.n_real, n_synth=args.n_synth, real_data=args.real_data,
              real_fraction=args.real_fraction, real_fractions=args.real_fractions, sizes=args.sizes)
    kw.update(over)
    return make_scheme(args.scheme, **kw)


def _fmt(x, digits=6):
    import mpmath
    if x is None:
        return "-"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    return mpmath.nstr(mpmath.mpmathify(x), digits)


def _emit(args, result, table: str):
    if getattr(args, "json", False):
        sys.stdout.write(result.to_json())
    elif getattr(args, "latex", False):
        print(result.to_latex())
    else:
        print(table)


# --- sub-commands -----------------------------------------------------------------------------
def cmd_lemmas(args):
    from .io import dumps
    from .lemma import all_lemmas
    lemmas = all_lemmas()
    if args.json:
        sys.stdout.write(dumps({"lemmas": [l.to_dict() for l in lemmas]}))
        return 0
    width = max(len(l.id) for l in lemmas)
    for l in lemmas:
        print(f"{l.id:<{width}}  {l.provenance:<18} {l.title}")
    return 0


def cmd_show(args):
    from .io import dumps
    from .lemma import get_lemma
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


def compute_bound(args):
    from .compose import compose_bound
    from .errors import check_positive_int
    K = check_positive_int("generations", args.generations)
    return compose_bound(scheme_from_args(args), learner_from_args(args), K, args.delta)


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
    from .solve import solve
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
    from .phase import phase_transition
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
    from .solve import optimum
    if args.quantity == "tau":
        result = optimum("tau", args.n, width=args.width, width_ratio=args.width_ratio,
                         c_stat=args.c_stat, c_width=args.c_width, c_opt=args.c_opt)
    else:
        result = optimum("bandwidth", args.n, target=args.target_distribution)
    _emit(args, result, f"{result.quantity}* = {_fmt(result.value, 10)}\n  {result.message}\n"
                        f"  checks: {result.checks}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="boundcalc", description="Bounds for self-consuming generative models "
                     "(Fu et al. 2024; Li et al. 2023).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

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
    vsub = validate.add_subparsers(dest="validator", metavar="VALIDATOR", parser_class=_Parser)
    validate.set_defaults(handler=lambda a: _missing(validate))
    for module in _PLUGINS["validate"]:
        _register(module, vsub)
    for module in _PLUGINS["top"]:
        _register(module, sub)
    return parser


def _missing(parser):
    parser.print_help(sys.stderr)
    return 2


def _register(module_name, subparsers):
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return
    module.register(subparsers)


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
