"""Sub-commands ``boundcalc latex`` and ``boundcalc plot ...`` (registered by :mod:`boundcalc.cli.main`).

    boundcalc latex [--out FILE.tex] [--pdf]        the derivation document (stdout without --out)
    boundcalc latex --markdown [--out FILE.md]      the same content as Markdown
    boundcalc plot generations --out DIR [--scheme S1,S2] [bound options]
    boundcalc plot phase --out DIR [phase options]
    boundcalc plot diagram --out DIR [--axes sizes|fraction-generations] [--level A] [bound options]
    boundcalc plot early-stopping --out DIR [--n-samples N1,N2] [--delta D] [--generations K] [diffusion options]

Every file is written atomically (:func:`boundcalc._io.write_atomic`) with the user's umask; plots
are written as PNG and PDF, byte-identical across runs.  ``--out`` is checked before any work
(:func:`boundcalc._io.prepare_out_dir` / :func:`~boundcalc._io.prepare_out_file`): an empty path, a
file where a folder is needed, a parent that is a file, a place that cannot be written (``/proc``,
``/sys``, no permission) and a folder in use by another ``boundcalc plot`` are refused; ``--name``
must be a plain file name that stays inside ``--out``.  Bad options raise
:class:`boundcalc._checks.BoundcalcError` (one line, exit status 2).
A derivation file missing from the installation stops ``latex`` with one line and exit status 1
(:class:`boundcalc.document.derivations.MissingProofError`): the document never lacks a proof.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from boundcalc._checks import BoundcalcError, check, check_positive, check_positive_int, check_range

DEFAULT_SCHEMES = ("replace", "mix", "accumulate")
#: default grid points per axis of ``plot diagram``, by learner (the power law is cheap to evaluate)
DIAGRAM_GRID = {"power": 40, "diffusion": 16, "kde": 5}
#: default points of the ``plot phase`` curve, by learner (each KDE point costs K2 quadratures)
PHASE_POINTS = {"power": 80, "diffusion": 60, "kde": 16}


def register(subparsers) -> None:
    from boundcalc.cli.options import add_flag, add_learner_options, add_option, add_phase_options, add_scheme_options

    p = subparsers.add_parser("latex", help="the derivation document (LaTeX, PDF or Markdown)")
    p.add_argument("--out", help="output file (default: print to stdout)")
    add_flag(p, "--pdf", help="also compile FILE.pdf with pdflatex (needs --out)")
    add_flag(p, "--markdown", help="write Markdown with $...$ math instead of LaTeX")
    p.set_defaults(handler=cmd_latex)

    plot = subparsers.add_parser("plot", help="figures of the bounds (PNG and PDF)")
    psub = plot.add_subparsers(dest="figure", metavar="FIGURE", parser_class=subparsers._parser_class)
    plot.set_defaults(handler=lambda args: _missing(plot))  # help on stdout, exit 0

    g = psub.add_parser("generations", help="a_i against i, one line per scheme")
    add_scheme_options(g, command="plot")
    add_learner_options(g)
    _scheme_list_option(g)
    _output_options(g, "generations")
    g.set_defaults(handler=cmd_plot_generations)

    ph = psub.add_parser("phase", help="the bound against n_synth with the threshold marked")
    add_phase_options(ph)
    add_option(ph, "points", help="points of the curve (default 80 for --learner power, 60 diffusion, 16 kde)")
    _output_options(ph, "phase")
    ph.set_defaults(handler=cmd_plot_phase)

    dg = psub.add_parser("diagram", help="phase diagram coloured by the bound, with the contour of a level")
    add_scheme_options(dg, command="plot")
    add_learner_options(dg)
    dg.add_argument("--axes", choices=("sizes", "fraction-generations"), default="sizes",
                    help="sizes: (n_real, n_synth) at K generations; fraction-generations: (real fraction, "
                         "generation i) for mix (default sizes)")
    add_option(dg, "level", help="bound level whose contour is drawn (default: median of the grid)")
    add_option(dg, "grid", help="points per axis (default 40 for --learner power, 16 diffusion, 5 kde; twice as "
                                "many fractions with --axes fraction-generations)")
    dg.add_argument("--n-real-range", type=_pair, default=None, help="LO,HI (default n-real/10, 10 n-real)")
    dg.add_argument("--n-synth-range", type=_pair, default=None, help="LO,HI (default n-real/10, 100 n-real)")
    dg.add_argument("--fraction-range", type=_pair, default=None, help="LO,HI in (0, 1] (default 0.05,1)")
    _output_options(dg, "diagram")
    dg.set_defaults(handler=cmd_plot_diagram)

    es = psub.add_parser("early-stopping", help="the D1 bound against tau with tau* marked")
    add_learner_options(es)
    es.set_defaults(learner="diffusion")
    add_option(es, "n_samples", default=(1000, 10_000, 100_000),
               help="training-set sizes n, comma-separated (default 1000,10000,100000)")
    add_option(es, "tau_max", help="right end of the tau axis (default 10 tau*, at least 10)")
    add_option(es, "points", default=120, help="points per curve (default 120)")
    add_option(es, "delta", "plot", help="failure probability delta of the run whose statement is drawn")
    add_option(es, "generations", "plot early-stopping", help="generations K of that run: the constants are those "
               "of lemma D4 at delta_i = delta/K (lemma C3), as in bound; 1: a single training run")
    _output_options(es, "early-stopping")
    es.set_defaults(handler=cmd_plot_early_stopping)


# --- option helpers -----------------------------------------------------------------------------

def _pair(text):
    values = _number_list(text)
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected LO,HI, got {text!r}")
    return values


def _number_list(text):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _schemes(text):
    from boundcalc.model.schemes import SCHEMES
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in names if v not in SCHEMES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"schemes must be among {', '.join(SCHEMES)} (comma-separated), "
                                         f"got {text!r}")
    return list(dict.fromkeys(names))


def _scheme_list_option(parser):
    """``--scheme`` of ``plot generations`` takes a comma-separated list and defaults to every scheme
    (the option itself comes from :func:`boundcalc.cli.options.add_scheme_options`)."""
    for action in parser._actions:
        if action.dest == "scheme":
            action.choices, action.type, action.default = None, _schemes, None
            action.help = ("schemes to draw, comma-separated (default replace,mix,accumulate, and schedule "
                           "when --real-fractions is given)")


def _output_options(parser, name):
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--name", default=name, help=f"file name without extension (default {name})")
    parser.add_argument("--format", type=_formats, default=["png", "pdf"],
                        help="comma-separated formats among png, pdf (default png,pdf)")


def _formats(text):
    from boundcalc._figures import FORMATS
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names or any(v not in FORMATS for v in names):
        raise argparse.ArgumentTypeError(f"formats must be among {', '.join(FORMATS)}, got {text!r}")
    return names


def _missing(parser):
    """A command level without its sub-command: print that level's help to stdout, exit 0 (like pip)."""
    parser.print_help(sys.stdout)
    return 0


def _copy(args, **over):
    fields = dict(vars(args))
    fields.update(over)
    return argparse.Namespace(**fields)


def _plot_handler(draw):
    """Wrap a plot command: check ``--name`` and ``--out``, then hold the lock of the ``--out`` folder
    while ``draw(args)`` computes the figure, and write it there; ``draw`` returns ``(fig, lines)``."""
    import functools

    @functools.wraps(draw)
    def handler(args) -> int:
        from boundcalc._figures import save_figure
        from boundcalc._io import prepare_out_dir, safe_name
        name = safe_name(args.name)
        with prepare_out_dir(args.out) as folder:
            fig, lines = draw(args)
            paths = save_figure(fig, folder, name, args.format)
        _report(paths, lines)
        return 0
    return handler


def _report(paths, lines=()):
    for line in lines:
        print(line)
    for path in paths:
        print(f"wrote {path}")


# --- latex --------------------------------------------------------------------------------------

def cmd_latex(args) -> int:
    from boundcalc.document import pdflatex, render
    from boundcalc.document.derivations import MissingProofError
    from boundcalc._io import prepare_out_file, write_atomic
    if args.pdf and args.markdown:
        raise BoundcalcError("--pdf applies to the LaTeX document, not to --markdown")
    if args.pdf and not args.out:
        raise BoundcalcError("--pdf needs --out FILE.tex (the PDF is written next to it)")
    if args.pdf and pdflatex.pdflatex_path() is None:
        raise BoundcalcError("--pdf needs pdflatex, which is not installed (apt-get install texlive-latex-base "
                             "texlive-latex-recommended texlive-fonts-recommended); nothing was written")
    if args.pdf and Path(args.out).suffix.lower() == ".pdf":
        raise BoundcalcError("--out names the .tex file when --pdf is given (the PDF goes next to it), "
                             f"got {args.out}")
    if args.out is not None:
        prepare_out_file(args.out)  # '', a folder, a parent that is a file, /proc, /sys: one line, exit 2
    try:
        text = render.build_markdown() if args.markdown else render.build_latex()
    except MissingProofError as exc:  # a broken installation, not a bad option: exit status 1
        print(f"boundcalc: error: {exc}", file=sys.stderr)
        return 1
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        written = [write_atomic(args.out, text)]
    except OSError as exc:
        raise BoundcalcError(f"--out {args.out}: cannot write there ({exc.strerror or exc})") from None
    if args.pdf:
        pdf = Path(args.out).with_suffix(".pdf")
        outcome = pdflatex.compile_pdf(text, pdf)
        if not outcome.ok:
            problem = (outcome.errors or [f"undefined references: {', '.join(outcome.undefined_references)}"])[0]
            raise BoundcalcError(f"pdflatex failed on {args.out}: {problem}")
        written.append(outcome.pdf)
    _report(written)
    return 0


# --- plots --------------------------------------------------------------------------------------

@_plot_handler
def cmd_plot_generations(args):
    from boundcalc.cli.options import compute_bound
    from boundcalc.bounds.plots import generations_figure
    chosen = args.scheme
    if chosen is None:
        chosen = list(DEFAULT_SCHEMES) + (["schedule"] if args.schedule_fractions else [])
        defaults = True
    else:
        defaults = False
    results, refused = {}, {}
    for name in chosen:
        over = {"scheme": name}
        if defaults and name not in ("mix", "schedule"):
            over["real_fraction"] = None  # --real-fraction describes the mix loop only
        if defaults and name in ("replace", "schedule"):
            over["real_data"] = "fresh"
        if defaults and name not in ("mix", "schedule"):
            over["draw"] = "stratified"  # --draw describes the mix and schedule loops only
        if defaults and name == "mix" and args.real_fraction is not None:
            over["n_synth"] = None
        try:
            results[name] = compute_bound(_copy(args, **over))
        except BoundcalcError as exc:  # a default scheme the learner has no theorem for: left out, said once
            if not defaults or len(chosen) == 1:
                raise
            refused[name] = str(exc)
    if not results:
        raise BoundcalcError(next(iter(refused.values())))
    K = next(iter(results.values())).generations
    learner = args.learner
    fig = generations_figure(results, rf"Bound on $a_i = \mathrm{{TV}}(p_i, p_0)$, learner {learner}, "
                                      rf"$n_{{\mathrm{{real}}}} = {args.n_real:g}$, $K = {K}$, $\delta = {args.delta:g}$")
    return fig, ([f"{name}: a_K <= {float(r.final):.6g}" for name, r in results.items()]
                 + [f"{name}: no bound: {reason}" for name, reason in refused.items()])


@_plot_handler
def cmd_plot_phase(args):
    from boundcalc.cli.options import learner_from_args
    from boundcalc.bounds.phase import phase_transition
    from boundcalc.bounds.plots import phase_figure
    points = check("points", args.points if args.points is not None else PHASE_POINTS[args.learner])
    result = phase_transition(learner_from_args(args), args.n_real, args.generation,
                              previous_tv=args.previous_tv, n_synth_before=args.n_synth_before, delta=args.delta,
                              draw=args.draw)
    return phase_figure(result, n_points=points), [result.message]


@_plot_handler
def cmd_plot_diagram(args):
    import numpy as np

    from boundcalc import _figures
    from boundcalc.cli.options import learner_from_args, scheme_from_args
    from boundcalc.bounds.compose import compose_bound
    from boundcalc.bounds.plots import diagram_fraction_generations, diagram_sizes
    default_grid = DIAGRAM_GRID[args.learner] * (2 if args.axes == "fraction-generations" else 1)  # one run per column
    grid = check("grid", args.grid if args.grid is not None else default_grid)
    if args.level is not None:
        check_range("level", args.level, 0, 1, False, True)
    K = check("generations", args.generations)
    learner = learner_from_args(args)  # built once; each cell only changes the scheme

    def compute_bound(cell_args):
        return compose_bound(scheme_from_args(cell_args), learner, K, cell_args.delta, with_closed_form=False)
    if args.axes == "sizes":
        if args.scheme == "schedule":
            raise BoundcalcError("--axes sizes needs --scheme replace, mix or accumulate (a schedule sets "
                                 "its sizes with --sizes, so n_synth would not be an axis)")
        if args.real_fraction is not None:
            raise BoundcalcError("--real-fraction does not apply to --axes sizes (n_synth is an axis); "
                                 "use --axes fraction-generations")
        lo, hi = args.n_real_range or (args.n_real / 10, args.n_real * 10)
        slo, shi = args.n_synth_range or (args.n_real / 10, args.n_real * 100)
        for name, a, b in (("n_real_range", lo, hi), ("n_synth_range", slo, shi)):
            check_positive(name, a)
            if not b > a:
                raise BoundcalcError(f"{name} must be LO,HI with 0 < LO < HI, got {a:g},{b:g}")
        from boundcalc.model.schemes import round_size  # sample sizes are integers (one rounding rule)
        n_real_values, n_synth_values = (np.array([float(round_size(v)) for v in np.geomspace(a, b, grid)])
                                         for a, b in ((lo, hi), (slo, shi)))

        def compute(nr, ns):
            return compute_bound(_copy(args, n_real=nr, n_synth=ns))
        data = diagram_sizes(compute, n_real_values, n_synth_values, K, args.level,
                             rf"Final bound $a_K$ ({args.scheme}, {args.learner}, $K = {K}$)")
    else:
        if args.scheme != "mix":
            raise BoundcalcError("--axes fraction-generations needs --scheme mix (the real fraction is its axis)")
        if args.n_synth is not None or args.real_fraction is not None:
            raise BoundcalcError("--axes fraction-generations sets the real fraction itself; drop --n-synth "
                                 "and --real-fraction")
        flo, fhi = args.fraction_range or (0.05, 1.0)
        check_range("fraction_range LO", flo, 0, 1, False, True)
        check_range("fraction_range HI", fhi, 0, 1, False, True)
        if not fhi > flo:
            raise BoundcalcError(f"fraction_range must be LO,HI with 0 < LO < HI <= 1, got {flo:g},{fhi:g}")

        def compute(lam):
            return compute_bound(_copy(args, real_fraction=lam, n_synth=None))
        data = diagram_fraction_generations(compute, np.linspace(flo, fhi, grid), K, args.level,
                                            rf"Bound on $a_i$ (mix, {args.learner}, "
                                            rf"$n_{{\mathrm{{real}}}} = {args.n_real:g}$)")
    if data.level is None:
        data.level = float(np.nanmedian(data.values))
        data.level = float(f"{data.level:.3g}")
        data.title += " (level: median of the grid)"
    fig = _figures.diagram_figure(data)
    values = data.values[np.isfinite(data.values)]
    return fig, ([f"bound on the grid: min {values.min():.6g}, max {values.max():.6g}; "
                  f"contour level {data.level:g}"] + [f"note: {n}" for n in data.notes])


@_plot_handler
def cmd_plot_early_stopping(args):
    from boundcalc._figures import early_stopping_figure
    from boundcalc.cli.options import learner_from_args
    from boundcalc.bounds.plots import early_stopping_curves
    if args.learner != "diffusion":
        raise BoundcalcError(f"plot early-stopping needs --learner diffusion (lemma D1), got {args.learner}")
    learner = learner_from_args(args)
    sizes = [check_positive("n_samples", n) for n in args.n_samples]
    points = check("points", args.points)
    if args.tau_max is not None:
        check_range("tau_max", args.tau_max, 1, float("inf"), False, False)
    split = learner.delta_split(args.delta, check("generations", args.generations))
    curves = early_stopping_curves(learner, sizes, points, args.tau_max, delta=split.delta,
                                   generations=split.generations)
    title = (r"Early stopping: D4 bound against $\tau$ at $\delta_i = " + f"{float(split.delta_i):.4g}"
             + r"$, optimum $\tau^*$ (lemma D2) marked")
    fig = early_stopping_figure(curves, title=title, chosen_tau=None if learner.tau == "auto" else float(learner.tau),
                                ylabel=r"bound on $\mathrm{KL}(p_0 \,\|\, p_\tau)$ (nats), lemma D4 (D1 at $\delta_i$)")
    return fig, [split.sentence()] + [f"n = {c.n:g}, m = {c.m:g}: tau* = {c.tau_star:.6g}, KL bound at tau* = "
                                      f"{c.kl_star:.6g}" for c in curves]
