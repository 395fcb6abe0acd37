"""Input validation shared by the library and the command line.

Every check raises :class:`BoundcalcError` (a ``ValueError``) whose message names the
parameter and its valid range; the CLI prints that message on one line and exits 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import mpmath
import numpy as np


class BoundcalcError(ValueError):
    """Bad input: the message names the parameter and what is allowed."""


def _fmt(x) -> str:
    if x == math.inf:
        return "inf"
    if x == -math.inf:
        return "-inf"
    return f"{x:g}" if isinstance(x, float) else str(x)


def check_range(name: str, value, low=-math.inf, high=math.inf,
                low_inclusive: bool = True, high_inclusive: bool = True):
    """Return ``value`` if it is a finite-or-allowed real number inside the range, else raise.

    The message reads e.g. ``delta must be in (0, 1), got 1.5``.
    """
    try:  # an mpmath number keeps its unbounded exponent (delta = 1e-400 stays positive)
        x = value if isinstance(value, mpmath.mpf) else float(value)
    except (TypeError, ValueError):
        raise BoundcalcError(f"{name} must be a number, got {value!r}") from None
    except OverflowError:  # an integer beyond the doubles (e.g. the sum of two sizes near 1e308)
        raise BoundcalcError(f"{name} must be a number below 1.8e308 (a double), got {mpmath.nstr(mpmath.mpf(value), 4)}") from None
    if mpmath.isnan(x):
        raise BoundcalcError(f"{name} must be a number, got nan")
    left = "[" if low_inclusive else "("
    right = "]" if high_inclusive else ")"
    ok_low = x >= low if low_inclusive else x > low
    ok_high = x <= high if high_inclusive else x < high
    if not (ok_low and ok_high):
        raise BoundcalcError(
            f"{name} must be in {left}{_fmt(low)}, {_fmt(high)}{right}, got {value}")
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return x


def check_positive(name: str, value):
    return check_range(name, value, 0, math.inf, False, False)


def check_nonnegative(name: str, value):
    return check_range(name, value, 0, math.inf, True, False)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (floats such as 1e6 that are whole numbers are accepted)."""
    if isinstance(value, bool) or not isinstance(value, (Real, str)):
        raise BoundcalcError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BoundcalcError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if not math.isfinite(x) or x != int(x) or x < minimum:
        raise BoundcalcError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(x)


def check_choice(name: str, value, choices):
    if value not in choices:
        raise BoundcalcError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def check_fraction(name: str, value):
    """A real fraction in (0, 1]."""
    return check_range(name, value, 0, 1, False, True)


def check_probability(name: str, value):
    """A failure probability in (0, 1)."""
    return check_range(name, value, 0, 1, False, False)


def parse_number_list(name: str, text):
    """``"0.5,0.2"`` -> ``(0.5, 0.2)``; None stays None; anything else names ``name``."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise BoundcalcError(f"{name} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise BoundcalcError(f"{name} must list at least one number")
    return values


# --- the declarative parameter table ------------------------------------------------------------
#
# One row per parameter: its Python name, its kind, its valid range, its default in each command,
# its command-line flag (with the aliases kept for old spellings) and its help text.  The value
# objects (schemes, learners), the public functions and the command line all validate through
# :func:`check`, so a bad value gives the same one-line message everywhere, and the CLI options are
# generated from these rows (:mod:`boundcalc.cli.options`).

#: kinds of parameters and what they accept
KINDS = {
    "size": "a sample size: an integer >= low (whole floats such as 1e6 are accepted)",
    "int": "an integer in [low, high]",
    "float": "a real number in the range",
    "probability": "a real number in (0, 1)",
    "fraction": "a real number in (0, 1]",
    "choice": "one of the listed words",
    "numbers": "comma-separated numbers, each in the range",
    "sizes": "comma-separated sample sizes, each an integer >= low",
    "number_or_word": "a real number in the range, or one of the listed words",
    "text": "free text (parsed by the code that uses it)",
}


@dataclass(frozen=True)
class Param:
    """One row of the parameter table.

    ``low``/``high`` bound numbers (``low_open``/``high_open`` exclude the end); ``choices`` are
    the words a ``choice`` or ``number_or_word`` parameter takes; ``defaults`` maps a command
    (``"bound"``, ``"validate kde"``, ...) to its default there (a missing command means no
    default: the parameter is required or derived); ``flag`` is the canonical option and
    ``aliases`` the other spellings still accepted (old names kept for compatibility).
    """
    name: str
    kind: str
    help: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    defaults: tuple = ()  # ((command, value), ...): a frozen mapping
    flag: str = ""
    aliases: tuple = ()
    symbol: str = ""  # the symbol of the theory, for the README table
    label: str = ""  # the name the messages use (default: name)
    why: str = ""  # why the range has the upper end it has (said in the message)

    def __post_init__(self):
        if self.kind not in KINDS:  # pragma: no cover - a programming error in the table
            raise ValueError(f"unknown kind {self.kind!r} of parameter {self.name}")
        if not self.flag:
            object.__setattr__(self, "flag", "--" + self.name.replace("_", "-"))
        if not self.label:
            object.__setattr__(self, "label", self.name)

    # -- text -----------------------------------------------------------------------------
    def interval(self) -> str:
        left = "(" if self.low_open else "["
        right = ")" if self.high_open or self.high == math.inf else "]"
        return f"{left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

    def range_text(self) -> str:
        """What the parameter accepts, as the error messages say it."""
        k = self.kind
        if k in ("size", "int", "sizes"):
            text = f"an integer >= {_fmt(self.low)}" if self.high == math.inf else \
                f"an integer in [{_fmt(self.low)}, {_fmt(self.high)}]"
            text = ("comma-separated integers" + text[10:]) if k == "sizes" else text
            return text + (f" ({self.why})" if self.why else "")
        if k == "choice":
            return "one of " + ", ".join(map(str, self.choices)) + (f" ({self.why})" if self.why else "")
        if k == "numbers":
            return f"comma-separated numbers in {self.interval()}"
        if k == "number_or_word":
            return f"in {self.interval()} or " + " or ".join(repr(c) for c in self.choices)
        if k == "text":
            return "a specification (see the help)"
        return f"in {self.interval()}"

    def default(self, command: str):
        return dict(self.defaults).get(command)

    # -- checking -------------------------------------------------------------------------
    def fail(self, value, what: str | None = None):
        got = repr(value) if isinstance(value, str) else _fmt_value(value)
        raise BoundcalcError(f"{self.label} must be {what or self.range_text()}, got {got}")

    def check(self, value):
        """Return the value in its normal type (int for sizes, tuple for lists), or raise."""
        k = self.kind
        if k == "choice":
            if value not in self.choices:
                raise BoundcalcError(f"{self.label} must be one of {', '.join(map(str, self.choices))}; got {value!r}")
            return value
        if k == "text":
            if not isinstance(value, str):
                self.fail(value, "text")
            return value
        if k in ("numbers", "sizes"):
            items = _as_items(self, value)
            single = Param(self.name, "size" if k == "sizes" else "float", self.help, self.low, self.high,
                           self.low_open, self.high_open, label=self.label)
            try:
                return tuple(single.check(v) for v in items)
            except BoundcalcError:
                self.fail(value if isinstance(value, str) else ",".join(_fmt_value(v) for v in items))
        if k == "number_or_word":
            if isinstance(value, str) and value.strip().lower() in self.choices:
                return value.strip().lower()
            number = _as_number(value)
            if number is None:
                self.fail(value)
            return self._check_number(number, value)
        number = _as_number(value)
        if number is None:
            if k in ("size", "int"):
                self.fail(value)
            self.fail(value, f"a number {self.range_text()}")
        return self._check_number(number, value)

    def _check_number(self, x, original):
        if isinstance(x, float) and math.isnan(x) or isinstance(x, mpmath.mpf) and mpmath.isnan(x):
            self.fail(original, None if self.kind in ("size", "int") else f"a number {self.range_text()}")
        if self.kind in ("size", "int"):
            if not _is_whole(x) or not (self.low <= x <= self.high):
                self.fail(original)
            return int(x)
        ok_low = x > self.low if self.low_open else x >= self.low
        ok_high = x < self.high if self.high_open else x <= self.high
        if not (ok_low and ok_high):
            self.fail(original)
        if isinstance(x, int) and not isinstance(x, bool):
            return x
        return x

    # -- command line ---------------------------------------------------------------------
    def parse(self, text: str):
        """The argparse ``type``: convert the text (a range check follows in :meth:`check`)."""
        import argparse
        try:
            if self.kind in ("numbers", "sizes"):
                return _as_items(self, text)
            if self.kind == "number_or_word" and text.strip().lower() in self.choices:
                return text.strip().lower()
            if self.kind in ("size", "int", "float", "probability", "fraction", "number_or_word"):
                if _as_number(text) is None:
                    raise BoundcalcError
                return float(text) if self.kind not in ("size", "int") or not text.strip().lstrip("+-").isdigit() \
                    else int(text)
        except BoundcalcError:
            raise argparse.ArgumentTypeError(f"{self.label} must be {self.range_text()}, got {text!r}") from None
        return text


def _fmt_value(v) -> str:
    if isinstance(v, float):
        return repr(v) if not math.isfinite(v) else f"{v:g}"
    return str(v)


def _is_whole(x) -> bool:
    if isinstance(x, int):
        return True
    try:
        return bool(mpmath.isfinite(x)) and x == int(x)
    except (OverflowError, ValueError):
        return False


def _as_number(value):
    """An int, float or mpf from a number or a numeric string; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, mpmath.mpf):
        return value
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text or not text.isascii():  # unicode digits are not numbers here
            return None
        try:
            return int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            return None
    if isinstance(value, Real):
        return float(value)
    return None


def _as_items(param: Param, value) -> tuple:
    if isinstance(value, str):
        parts = [v.strip() for v in value.split(",")]
        if not any(parts):
            raise BoundcalcError(f"{param.label} must list at least one number ({param.range_text()})")
        values = [_as_number(v) for v in parts]
        if any(v is None for v in values):
            raise BoundcalcError(f"{param.label} must be {param.range_text()}, got {value!r}")
        return tuple(values)
    try:
        items = tuple(value)
    except TypeError:
        items = (value,)
    if not items:
        raise BoundcalcError(f"{param.label} must list at least one number ({param.range_text()})")
    return items


def _p(name, kind, help, low=-math.inf, high=math.inf, low_open=False, high_open=False, *, choices=(),
       defaults=None, flag="", aliases=(), symbol="", label="", why=""):
    return Param(name, kind, help, low, high, low_open, high_open, tuple(choices),
                 tuple((defaults or {}).items()), flag, tuple(aliases), symbol, label, why)


#: the most generations a bound, a search or a phase diagram composes.  The recursion costs O(K) time;
#: searches keep O(1) numbers per candidate (compose.final_bound), but ``bound`` returns one row per
#: generation (past 4096 generations a double each, terms records made when read; about 0.2 GB at 1e6) and its
#: JSON carries every a_i: a larger K is refused rather than left to exhaust memory.  Measured
#: (bench/bench_scale.py, two shared cores): the power learner's ``bound`` at K = 1e6 in 0.004-0.7 s by
#: scheme, its solves in under a second.
MAX_GENERATIONS = 10 ** 6
_WHY_K = "a size guard: the bound is composed generation by generation"
#: points of a plotted curve, and of each axis of a diagram (every point is one composed bound)
MAX_POINTS = 10 ** 4
MAX_DIAGRAM_GRID = 400
_WHY_POINTS = "a size guard: every point is one composed bound"


INF = math.inf
#: commands of the calculator (bound, solve, plot generations / diagram take the same loop options)
_LOOP = ("bound", "solve", "plot")

PARAMETERS: dict[str, Param] = {p.name: p for p in [
    # -- the loop ------------------------------------------------------------------------------
    _p("scheme", "choice", "data-mixing scheme", choices=("replace", "mix", "accumulate", "schedule"),
       why="also accumulate-subsample in bound, validate kde and validate gaussian",
       defaults={"bound": "mix", "solve": "mix", "plot": "mix", "validate kde": "replace",
                 "validate diffusion": "all", "validate gaussian": "replace"}),
    _p("generations", "size", "number of generations K", 1, MAX_GENERATIONS, symbol="K", why=_WHY_K,
       defaults={"bound": 10, "solve": 10, "plot": 10, "optimum": 1, "plot early-stopping": 1, "validate kde": 5,
                 "validate diffusion": "5 (loop), 4 (calibrate)", "validate gaussian": 10}, aliases=("-K",)),
    _p("n_real", "size", "real samples per generation (generation 1 trains on them alone)", 1,
       symbol="n_real", defaults={"bound": 10_000, "solve": 10_000, "plot": 10_000, "phase": 10_000,
                                  "validate kde": 1000, "validate diffusion": 500, "validate gaussian": 100}),
    _p("n_synth", "size", "synthetic samples per later generation (mix accepts 0)", 0, symbol="n_synth",
       defaults={"bound": "n_real", "solve": "n_real", "plot": "n_real", "validate kde": "n_real",
                 "validate diffusion": "n_real", "validate gaussian": "n_real"}),
    _p("real_data", "choice", "fresh real samples each generation, or the same set reused",
       choices=("fresh", "reused"), defaults={"bound": "fresh", "solve": "fresh", "plot": "fresh",
                                              "validate gaussian": "fresh",
                                              "validate kde": "fresh", "validate diffusion": "fresh"}),
    _p("draw", "choice", "mix/schedule: how a later training set is drawn: stratified = exactly "
       "round(lambda N_i) real samples and the rest from p_(i-1); iid = each of the N_i samples independently "
       "real with probability lambda (needs fresh real data)", choices=("stratified", "iid"),
       defaults={"bound": "stratified", "solve": "stratified", "plot": "stratified", "phase": "stratified",
                 "validate diffusion": "stratified"}),
    _p("real_fraction", "fraction", "mix: real share lambda of each later training set, instead of --n-synth",
       0, 1, True, False, symbol="lambda"),
    _p("schedule_fractions", "numbers", "schedule: real fractions lambda_2,...,lambda_K (one value for all)",
       0, 1, aliases=("--real-fractions",), symbol="lambda_i"),
    _p("n_total", "size", "mix: the per-generation budget n_real + n_synth (with the real fraction unknown)", 2,
       symbol="N"),
    _p("sizes", "sizes", "schedule: training-set sizes N_2,...,N_K (one value for all)", 1, symbol="N_i"),
    _p("mix_fractions", "numbers", "validate diffusion loop: the real fractions of the mix settings run",
       0, 1, True, False, aliases=("--real-fractions",), defaults={"validate diffusion": "0.2,0.5,0.8"}),
    _p("delta", "probability", "failure probability of the whole K-generation statement", 0, 1, True, True,
       symbol="delta", defaults={"bound": 0.05, "solve": 0.05, "plot": 0.05, "phase": 0.05, "optimum": 0.05,
                                 "validate kde": 0.05}),
    # -- learners ------------------------------------------------------------------------------
    _p("learner", "choice", "per-generation error model", choices=("power", "kde", "diffusion", "table"),
       defaults={"bound": "kde", "solve": "kde", "plot": "kde", "phase": "kde"}),
    _p("C", "float", "power: eps(N) = C N^-alpha", 0, INF, True, True, symbol="C"),
    _p("table", "text", "table: a CSV file of N and eps(N) (two columns, optional header), or the --json output "
       "of validate diffusion calibrate (its measured eps per N, calibrated); eps between the "
       "points is the non-increasing step envelope, N outside the table is refused"),
    _p("constants", "text", "diffusion: a calibration file of the D1 constants: the --json output of validate "
       "diffusion early-stopping, or a JSON object {\"c_stat\": .., \"c_opt\": .., ...} (a calibrated bound, "
       "not a proved one; not with --c-* options)"),
    _p("alpha", "float", "power: rate exponent alpha", 0, INF, True, True, symbol="alpha"),
    _p("dim", "size", "kde: dimension d (default: the target's)", 1, 300, symbol="d",
       why="the K3 objective leaves double precision beyond d = 300; the bound is vacuous far below it"),
    _p("bandwidth", "number_or_word", "kde: bandwidth h, or 'auto' = lemma K3 for n_real samples of p0, "
       "fixed over the generations", 0, INF, True, True, choices=("auto",), symbol="h",
       defaults={"bound": "auto", "solve": "auto", "plot": "auto", "phase": "auto"}),
    _p("kde_bandwidth", "number_or_word", "validate kde: bandwidth h, or 'per-generation' = lemma K3 for "
       "each generation's N_i (an oracle choice from p0; 'auto' is kept as its alias here), or 'scott' / "
       "'silverman' = computed from each generation's training data as scipy.stats.gaussian_kde (no proved bound)",
       0, INF, True, True,
       choices=("per-generation", "auto", "scott", "silverman"), flag="--bandwidth", label="bandwidth", defaults={"validate kde": "per-generation"}),
    _p("p0", "text", "kde: p0 = bimodal, normal[:mu=..,sigma=..,dim=..] or mixture:weights=..;means=..;scales=..",
       aliases=("--target",), symbol="p_0",
       defaults={"bound": "bimodal", "solve": "bimodal", "plot": "bimodal", "phase": "bimodal",
                 "optimum": "bimodal", "validate kde": "bimodal", "validate diffusion": "bimodal"}),
    _p("laplacian_l1", "float", "kde: ||Laplacian p0||_1 instead of a target", 0, 1e100, True, True),
    _p("k2_integral", "float", "kde: bound on the K2 integral of every training law", 0, 1e100, True, True),
    _p("holder_L", "float", "kde: Hoelder constant L (lemma K1')", 0, INF, True, True, symbol="L"),
    _p("holder_beta", "float", "kde: Hoelder exponent beta", 0, 2, True, False, symbol="beta"),
    _p("width", "float", "diffusion: width m (default: width_ratio * N)", 0, INF, True, True, symbol="m"),
    _p("width_ratio", "float", "diffusion: m = width_ratio * N", 0, INF, True, True,
       defaults={"bound": 1.0, "solve": 1.0, "plot": 1.0, "phase": 1.0, "optimum": 1.0,
                 "validate diffusion": "0.5 (early-stopping)"}),
    _p("tau", "number_or_word", "diffusion: training time tau, or 'auto' = the D2 optimum tau*",
       1, INF, False, True, choices=("auto",), symbol="tau",
       defaults={"bound": "auto", "solve": "auto", "plot": "auto", "phase": "auto"}),
    _p("train_time", "number_or_word", "validate diffusion: training time tau, or 'held-out' = the minimum "
       "of the held-out denoising loss ('auto' is kept as its alias here)", 0, INF, False, True,
       choices=("held-out", "auto"), flag="--tau", label="tau", defaults={"validate diffusion": "held-out"}),
    _p("horizon", "float", "diffusion: horizon T", 0, INF, True, True, symbol="T",
       defaults={"bound": 10.0, "solve": 10.0, "plot": 10.0, "phase": 10.0}),
    *[_p(f"c_{k}", "float", f"diffusion: constant c_{k} of lemma D1", 0, INF,
         k in ("stat", "opt"), True,
         defaults={c: v for c in ("bound", "solve", "plot", "phase")
                   + (("optimum",) if k in ("stat", "width", "opt") else ())})
      for k, v in (("stat", 1.0), ("width", 1.0), ("opt", 1.0), ("mc", 1.0), ("approx", 0.0), ("prior", 1.0))],
    _p("delta_exponent", "float", "diffusion: degree k_delta of the confidence factor ell(delta/K)^k_delta of "
       "c_stat, c_width, c_mc (lemma D4, ell(d) = max(1, ln(1/d^2)))", 0, 1000, symbol="k_delta",
       defaults={c: 2.0 for c in ("bound", "solve", "plot", "phase", "optimum")}),
    # -- solve, phase, optimum -----------------------------------------------------------------
    _p("target", "fraction", "solve: the level the final bound a_K must meet", 0, 1, True, False),
    _p("unknown", "choice", "solve: the quantity solved for",
       choices=("n-real", "n-synth", "real-fraction", "generations", "growth"), flag="--for"),
    _p("growth_k", "float", "solve --for growth: the growth exponent k of N_i = N_1 i^k (N_1 = --n-real) "
       "at which the limit of the bound is evaluated", 0, 1e100, True, True),
    _p("max_generations", "size", "solve --for generations: search limit", 1, MAX_GENERATIONS, why=_WHY_K,
       defaults={"solve": "10000 (64 for kde)"}),
    _p("generation", "size", "phase: generation I at which n_synth varies", 2, MAX_GENERATIONS, symbol="I", why=_WHY_K,
       defaults={"phase": 2}),
    _p("n_synth_before", "size", "phase: synthetic samples in generations 2..I-1", 0,
       defaults={"phase": "n_real"}),
    _p("previous_tv", "float", "phase: a_(I-1) supplied directly instead of computed", 0, 1),
    _p("n", "size", "optimum: training samples n", 1, symbol="n", defaults={"optimum": 10_000}),
    _p("quantity", "choice", "optimum: tau (lemma D2) or bandwidth (lemma K3)", choices=("tau", "bandwidth")),
    # -- plots -----------------------------------------------------------------------------------
    _p("points", "size", "plot: points of the curve", 3, MAX_POINTS, why=_WHY_POINTS),
    _p("grid", "size", "plot diagram: points per axis", 2, MAX_DIAGRAM_GRID, why=_WHY_POINTS),
    _p("level", "fraction", "plot diagram: bound level whose contour is drawn", 0, 1, True, False),
    _p("tau_max", "float", "plot early-stopping: right end of the tau axis", 1, INF, False, True),
    _p("n_samples", "sizes", "plot early-stopping: training-set sizes n", 1),
    # -- validators ----------------------------------------------------------------------------
    _p("ns", "sizes", "validate diffusion early-stopping / calibrate: training sizes n", 8),
    _p("n_synth_ratios", "numbers", "validate diffusion phase: n_synth / n_real values", 0, INF, False, True,
       defaults={"validate diffusion": "0,0.5,1,2,4,8"}),
    _p("model", "choice", "validate diffusion: score model (mlp-sgd: early-stopping only, an MLP trained by SGD "
       "with training time in epochs, Li et al.'s own 1-D experiment)", choices=("random-features", "mlp", "mlp-sgd"),
       defaults={"validate diffusion": "random-features"}),
    _p("mlp_epochs", "size", "validate diffusion early-stopping --model mlp-sgd: the longest training, in epochs "
       "(the KL is measured on a geometric grid of 13 epochs up to it)", 1, defaults={"validate diffusion": 2000}),
    _p("features", "size", "validate diffusion: random features m of the score model", 1, flag="--width", label="width",
       defaults={"validate diffusion": 256}),
    _p("steps", "size", "validate diffusion: RK4 steps of the probability-flow ODE", 1,
       defaults={"validate diffusion": 40}),
    _p("draws_per_point", "size", "validate diffusion: (t, z) draws per training point", 1,
       defaults={"validate diffusion": 8}),
    _p("sampler", "choice", "validate diffusion: ode (the measured law is the law of the samples) or sde",
       choices=("ode", "sde"), defaults={"validate diffusion": "ode"}),
    _p("device", "choice", "validate diffusion: torch device of the score network (cuda: --model mlp, "
       "a CUDA build of torch and a GPU)", choices=("cpu", "cuda"), defaults={"validate diffusion": "cpu"}),
    _p("seeds", "size", "number of seeded runs", 1, defaults={"validate kde": 10, "validate diffusion": 3,
                                                              "validate gaussian": 1000}),
    _p("seed", "int", "base seed", 0, defaults={"validate kde": 0, "validate diffusion": 0, "validate gaussian": 0}),
    _p("subsample", "size", "accumulate-subsample: training-set size N drawn from the accumulated pool", 1,
       defaults={"validate gaussian": "n_real", "bound": "n_real", "validate kde": "n_real"}),
    _p("held_out", "size", "held-out real samples of p0 per run, for the negative log-likelihood metric", 2,
       defaults={"validate gaussian": 1000, "validate toy": 1000}),
    _p("grid_size", "size", "grid nodes per axis", 2,
       defaults={"validate kde": "4096 (1-D), 256 (2-D)", "validate diffusion": 1024}),
]}


def param(name: str) -> Param:
    """The row of ``name`` in the parameter table."""
    return PARAMETERS[name]


def check(name: str, value):
    """Check ``value`` against the row ``name`` of the parameter table and return it normalised
    (sizes as ``int``, lists as tuples); raise :class:`BoundcalcError` naming the parameter, the
    value and the valid range otherwise.

    >>> check("n_real", 1e3)
    1000
    >>> check("n_real", 2.5)
    Traceback (most recent call last):
    ...
    boundcalc._checks.BoundcalcError: n_real must be an integer >= 1, got 2.5
    """
    return PARAMETERS[name].check(value)


def check_optional(name: str, value):
    """:func:`check`, letting ``None`` through (an unknown or an unset option)."""
    return None if value is None else check(name, value)


def defaults_table(commands=("bound", "solve", "phase", "optimum", "validate kde", "validate diffusion")) -> str:
    """The per-command defaults as one Markdown table (rows: parameters with a default somewhere)."""
    rows = [p for p in PARAMETERS.values() if p.defaults or p.aliases]
    head = "| option | " + " | ".join(f"`{c}`" for c in commands) + " | valid values |"
    lines = [head, "|" + "---|" * (len(commands) + 2)]
    for p in rows:
        cells = [("" if p.default(c) is None else f"{p.default(c)}") for c in commands]
        flag = p.flag + "".join(f" (alias {a})" for a in p.aliases)
        lines.append(f"| `{flag}` | " + " | ".join(cells) + f" | {p.range_text()} |")
    return "\n".join(lines)
