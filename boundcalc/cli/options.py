"""Options shared by the sub-commands of the command line, and how they become objects."""

from __future__ import annotations

import argparse
import sys

from boundcalc._checks import BoundcalcError


POWER_OPTIONS = ("C", "alpha")
KDE_OPTIONS = ("dim", "bandwidth", "target_distribution", "laplacian_l1", "k2_integral", "holder_L", "holder_beta")
DIFFUSION_OPTIONS = ("width", "width_ratio", "tau", "horizon", "c_stat", "c_width", "c_opt", "c_mc",
                     "c_approx", "c_prior")


class Parser(argparse.ArgumentParser):
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
    from boundcalc.bounds.learners import make_learner
    given = {k: getattr(args, k) for k in POWER_OPTIONS + KDE_OPTIONS + DIFFUSION_OPTIONS
             if getattr(args, k, None) is not None}
    own = {"power": POWER_OPTIONS, "kde": KDE_OPTIONS, "diffusion": DIFFUSION_OPTIONS}[args.learner]
    stray = [k for k in given if k not in own]
    if stray:
        flags = ", ".join(_flag(k) for k in stray)
        raise BoundcalcError(f"{flags} do(es) not apply to --learner {args.learner} (its options: "
                             + ", ".join(_flag(k) for k in own) + ")")
    if args.learner == "kde":
        from boundcalc.model.targets import parse_target
        spec = given.pop("target_distribution", None)
        if spec is not None or (given.get("laplacian_l1") is None and given.get("holder_L") is None):
            given["target"] = parse_target(spec)
        given.setdefault("bandwidth", "auto")
    return make_learner(args.learner, **given)


def scheme_from_args(args, **over):
    from boundcalc.model.schemes import make_scheme
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


def compute_bound(args):
    from boundcalc.bounds.compose import compose_bound
    from boundcalc._checks import check_positive_int
    K = check_positive_int("generations", args.generations)
    return compose_bound(scheme_from_args(args), learner_from_args(args), K, args.delta)
