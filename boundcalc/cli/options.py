"""Options shared by the sub-commands of the command line, generated from the parameter table of
:mod:`boundcalc._checks`, and how they become objects.

Every option is added by :func:`add_option` from its row: the flag and its aliases, the parse
function (whose error names the parameter and its range), the per-command default and the help
text.  The action records which options the user typed (``args._given``) so that an option that
does not apply, or conflicts with another, is refused with one line instead of being ignored.
"""

from __future__ import annotations

import argparse
import re
import sys

from boundcalc._checks import BoundcalcError, param
from boundcalc.bounds.result import fmt as _fmt  # noqa: F401  (the tables' number format, kept for callers)

POWER_OPTIONS = ("C", "alpha")
KDE_OPTIONS = ("dim", "bandwidth", "target_distribution", "laplacian_l1", "k2_integral", "holder_L", "holder_beta")
DIFFUSION_OPTIONS = ("width", "width_ratio", "tau", "horizon", "c_stat", "c_width", "c_opt", "c_mc",
                     "c_approx", "c_prior", "delta_exponent", "constants")

#: numbers such as -1, -1e3, -.5, -inf and -nan are values, not option names
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)

_UNSET = object()


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), exit status 2, and negative numbers
    (``-1e3``, ``-inf``) read as values."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message):
        # one line even when a typed value holds a newline or another control character
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Given(argparse.Action):
    """Store the value and remember that (and how) the option was typed."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _record(namespace, self.dest, option_string)


class _GivenTrue(argparse.Action):
    def __init__(self, option_strings, dest, default=False, required=False, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, required=required, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True)
        _record(namespace, self.dest, option_string)


def _record(namespace, dest, option_string):
    spelled = dict(getattr(namespace, "_spelled", {}))
    spelled[dest] = option_string
    namespace._spelled = spelled


def given(args, dest: str) -> bool:
    """True when the user typed the option whose destination is ``dest``."""
    return dest in getattr(args, "_spelled", {})


def spelled(args, dest: str) -> str | None:
    """The spelling the user typed for ``dest`` (an alias or the canonical flag), or None."""
    return getattr(args, "_spelled", {}).get(dest)


def add_flag(parser, *flags, help=None, dest=None):
    """A store-true option that records being given (``--json``, ``--latex``, ...)."""
    kwargs = {"dest": dest} if dest else {}
    return parser.add_argument(*flags, action=_GivenTrue, help=help, **kwargs)


def add_option(parser, name: str, command: str | None = None, *, flags=None, dest=None, default=_UNSET,
               help=None, choices=None, required=False, metavar=None):
    """Add the option of table row ``name`` to ``parser`` (or an argument group).

    The default is the row's default for ``command`` when that is a valid value (descriptive
    defaults such as "n_real" leave the option unset, ``None``); the help text ends with the default
    and the valid range.
    """
    p = param(name)
    flags = tuple(flags) if flags else (p.flag, *p.aliases)
    if default is _UNSET:
        default = p.default(command) if command else None
        if default is not None and not (choices and default in choices):
            try:
                default = p.check(default)
            except BoundcalcError:
                default = None
    shown_default = p.default(command) if command else None
    text = help or p.help
    if shown_default is not None:
        text += f" (default {shown_default})"
    text += f"; {p.range_text()}" if p.kind != "text" else ""
    kwargs = dict(action=_Given, default=default, help=text.replace("%", "%%"), required=required,
                  dest=dest or name, metavar=metavar)
    if p.kind == "choice" or choices:
        kwargs["choices"] = tuple(choices or p.choices)
    else:
        kwargs["type"] = p.parse
        if metavar is None:
            kwargs["metavar"] = {"size": "N", "int": "N", "sizes": "N1,N2,..", "numbers": "X1,X2,..",
                                 "number_or_word": "X|" + "|".join(p.choices), "text": "SPEC"}.get(p.kind, "X")
    return parser.add_argument(*flags, **kwargs)


#: the schemes of ``boundcalc bound`` and ``validate kde``: the shared ones and accumulate-subsample
SUBSAMPLE_SCHEME = "accumulate-subsample"


def add_scheme_options(p, generations=True, command: str = "bound", subsample: bool = False):
    """The loop options; ``subsample=True`` adds the scheme accumulate-subsample and ``--subsample``."""
    from boundcalc.model.schemes import SCHEMES

    g = p.add_argument_group("loop")
    add_option(g, "scheme", command, choices=SCHEMES + (SUBSAMPLE_SCHEME,) if subsample else None)
    if subsample:
        add_option(g, "subsample", command)
    if generations:
        add_option(g, "generations", command)
    add_option(g, "n_real", command)
    add_option(g, "n_synth", command)
    add_option(g, "real_fraction", command)
    add_option(g, "real_data", command)
    add_option(g, "draw", command)
    add_option(g, "schedule_fractions", command,
               help="schedule: real fractions lambda_2,...,lambda_K (one value for all); --real-fractions "
                    "is its old spelling")
    add_option(g, "sizes", command)
    add_option(g, "delta", command)


def add_phase_options(p):
    """The options of ``phase`` (also taken by ``plot phase``), learner options included."""
    add_option(p, "generation", "phase")
    add_option(p, "n_real", "phase")
    add_option(p, "n_synth_before", "phase")
    add_option(p, "previous_tv", "phase")
    add_option(p, "delta", "phase")
    add_option(p, "draw", "phase")
    add_learner_options(p)


def add_learner_options(p, target_flag=True):
    """Learner options (no defaults here: the learner's own defaults apply, and an option of another
    learner is refused).  ``solve`` uses --target for the bound's target, so there the KDE's
    distribution is given by --p0 only."""
    g = p.add_argument_group("learner")
    add_option(g, "learner", "bound")
    for name in POWER_OPTIONS + ("dim", "bandwidth", "table"):
        add_option(g, name, default=None)
    add_option(g, "p0", flags=("--p0", "--target") if target_flag else ("--p0",), dest="target_distribution",
               default=None, help="kde: p0 = bimodal (default), normal[:mu=..,sigma=..,dim=..] or "
                                  "mixture:weights=..;means=..;scales=..")
    for name in ("laplacian_l1", "k2_integral", "holder_L", "holder_beta", "width", "width_ratio", "tau", "horizon",
                 "c_stat", "c_width", "c_opt", "c_mc", "c_approx", "c_prior", "delta_exponent", "constants"):
        add_option(g, name, default=None, metavar="FILE" if name == "constants" else None)


def _flag(dest: str) -> str:
    return "--p0" if dest == "target_distribution" else "--" + dest.replace("_", "-")


def learner_from_args(args):
    from boundcalc.bounds.learners import make_learner
    given_options = {k: getattr(args, k) for k in POWER_OPTIONS + KDE_OPTIONS + DIFFUSION_OPTIONS + ("table",)
                     if getattr(args, k, None) is not None}
    own = {"power": POWER_OPTIONS, "kde": KDE_OPTIONS, "diffusion": DIFFUSION_OPTIONS, "table": ("table",)}[args.learner]
    stray = [k for k in given_options if k not in own]
    if stray:
        flags = ", ".join(_flag(k) for k in stray)
        raise BoundcalcError(f"{flags} do(es) not apply to --learner {args.learner} (its options: "
                             + ", ".join(_flag(k) for k in own) + ")")
    if "constants" in given_options:
        clash = [k for k in given_options if k.startswith("c_")]
        if clash:
            raise BoundcalcError(f"--constants and {', '.join(_flag(k) for k in clash)} cannot be given together "
                                 f"(the constants of {given_options['constants']} are the calibrated ones)")
    if args.learner == "kde":
        from boundcalc.model.targets import parse_target
        spec = given_options.pop("target_distribution", None)
        if spec is not None or (given_options.get("laplacian_l1") is None and given_options.get("holder_L") is None):
            given_options["target"] = parse_target(spec)
        given_options.setdefault("bandwidth", "auto")
    return make_learner(args.learner, **given_options)


def scheme_from_args(args, **over):
    from boundcalc.model.schemes import make_scheme
    if getattr(args, "scheme", None) == SUBSAMPLE_SCHEME:
        return subsample_scheme_from_args(args, **over)
    if getattr(args, "subsample", None) is not None:
        raise BoundcalcError(f"--subsample applies to --scheme {SUBSAMPLE_SCHEME}, not {args.scheme}")
    kw = dict(n_real=args.n_real, n_synth=args.n_synth, real_data=args.real_data,
              real_fraction=args.real_fraction, real_fractions=args.schedule_fractions, sizes=args.sizes,
              draw=getattr(args, "draw", "stratified"))
    kw.update(over)
    return make_scheme(args.scheme, **kw)


def subsample_scheme_from_args(args, **over):
    """``AccumulateSubsample(n_real, n_synth (default n_real), subsample (default n_real))``; the options
    that do not apply to it (real fractions, sizes, real_data: its real data are always reused) are refused."""
    from boundcalc.model.schemes import AccumulateSubsample

    for dest in ("real_fraction", "schedule_fractions", "sizes", "real_data"):
        if given(args, dest):
            raise BoundcalcError(f"{spelled(args, dest)} does not apply to --scheme {SUBSAMPLE_SCHEME} (the pool keeps "
                                 "the n_real real samples and n_synth of every earlier generation)")
    n_real = over.get("n_real", args.n_real)
    n_synth = over.get("n_synth", args.n_synth)
    n_synth = n_real if n_synth is None else n_synth
    subsample = over.get("subsample", args.subsample)
    return AccumulateSubsample(n_real, n_synth, n_real if subsample is None else subsample)


def interrupted(command: str, out, kept: str) -> int:
    """The one line of a validator interrupted by Ctrl-C (what ``--out`` keeps, and how to go on); exit status 130."""
    where = f"; the finished {kept} are kept in {out}, continue with --resume" if out is not None else ""
    print(f"boundcalc {command}: interrupted{where}", file=sys.stderr)
    return 130


def refuse_together(args, *dests):
    """Refuse two options given together (one line naming both)."""
    typed = [d for d in dests if given(args, d)]
    if len(typed) > 1:
        raise BoundcalcError(" and ".join(spelled(args, d) for d in typed) + " cannot be given together")


def _emit(args, result, table: str | None = None):
    """Print the result: JSON with --json, LaTeX with --latex, else its table (``str(result)``)."""
    if getattr(args, "json", False):
        sys.stdout.write(result.to_json())
    elif getattr(args, "latex", False):
        print(result.to_latex())
    else:
        print(table if table is not None else str(result))


def compute_bound(args):
    from boundcalc._checks import check
    from boundcalc.bounds.compose import compose_bound
    K = check("generations", args.generations)
    return compose_bound(scheme_from_args(args), learner_from_args(args), K, args.delta)
