"""The ``boundcalc validate phase`` sub-command: the measured phase diagram of a learner (the Gaussian
KDE, or the random-feature diffusion model with ``--learner diffusion``): a_2 over n_real x n_synth,
seeded two-generation loops, beside the bound's diagram (``boundcalc phase``, the same learner).

Exit status 0 when every check passed (intervals in range, target resolution reached, the
learner's own checks), 1 otherwise, 130 when interrupted (with ``--out`` the finished units are
kept; continue with ``--resume``); bad input is one line (exit status 2).
"""

from __future__ import annotations


DESCRIPTION = ("Measure a_2 = TV(p_2, p0) of a two-generation mix loop (KDE with fixed bandwidth K3(n_real), or the "
               "random-feature diffusion model) on a grid of real and synthetic sizes around the bound's threshold "
               "(boundcalc phase, same learner), with paired-seed intervals for the rise from n_synth = 0; the "
               "bound's diagram beside it.")


def register(subparsers):
    from boundcalc.cli.options import add_flag, add_option

    p = subparsers.add_parser("phase", help="measured phase diagram (KDE or diffusion) beside the bound's",
                              description=DESCRIPTION)
    add_option(p, "learner", choices=("kde", "diffusion"), default="kde",
               help="the learner measured and bounded: kde (default) or diffusion")
    p.add_argument("--n-reals", type=int, nargs="+", default=None, metavar="N",
                   help="real sizes (rows of the diagram; default 250 500 1000 for kde, 100 200 for diffusion)")
    p.add_argument("--ratios", type=float, nargs="+", default=None, metavar="R",
                   help="n_synth / n_real (columns of every row; must include 0; default 0 1 2 4 8 16 for kde; "
                        "for diffusion the default columns are --multiples of each row's bound threshold)")
    p.add_argument("--multiples", type=float, nargs="+", default=None, metavar="F",
                   help="diffusion: n_synth / n_synth* of the row's bound (must include 0; default 0 0.25 0.5 1 2; "
                        "a row whose bound has no threshold or refuses uses the ratios 0 1 2 4 8 16)")
    p.add_argument("--width", type=int, default=None, metavar="M",
                   help="diffusion: width m of the random-feature model and of the bound's learner (default 256)")
    add_option(p, "seeds", default=None, help="seeded loops per cell (default 44 for kde: half-width about 0.02 at "
                                              "a per-seed sd of 0.045; 6 for diffusion: a one-minute run)")
    add_option(p, "seed", default=0)
    p.add_argument("--half-width", type=float, default=None, metavar="X",
                   help="target half-width of each cell's 95%% interval (the resolution check; default 0.02 for kde, "
                        "0.15 for the one-minute diffusion default run)")
    add_flag(p, "--json", help="print the result as one JSON object")
    p.add_argument("--out", default=None, help="folder for the JSON, the stored units (for --resume) and the figure "
                                               "<learner>_phase.png/.pdf")
    add_flag(p, "--resume", help="continue the run saved in --out")
    add_flag(p, "--force", help="with --out: replace a result already in the folder")
    p.set_defaults(handler=run)
    return p


def run(args) -> int:
    from contextlib import nullcontext

    from boundcalc._checks import BoundcalcError
    from boundcalc.cli.options import interrupted
    from boundcalc._io import prepare_out_dir
    from boundcalc.validate.phase import UNITS_DIR, phase_config, result_file, validate_phase

    config = phase_config(learner=args.learner, n_reals=None if args.n_reals is None else tuple(args.n_reals),
                          ratios=None if args.ratios is None else tuple(args.ratios),
                          multiples=None if args.multiples is None else tuple(args.multiples),
                          width=args.width, seeds=args.seeds, seed=args.seed, half_width=args.half_width)
    if args.out is None:
        if args.resume or args.force:
            raise BoundcalcError("--resume and --force apply with --out DIR")
        folder_cm = nullcontext(None)
    else:
        folder_cm = prepare_out_dir(args.out, resume=args.resume, force=args.force,
                                    results=(result_file(config.learner), UNITS_DIR))
    with folder_cm as folder:
        try:
            result = validate_phase(config, out_dir=folder, resume=args.resume)
        except KeyboardInterrupt:
            return interrupted("validate phase", args.out if folder else None, "units")
        written = []
        if folder is not None:
            written = [folder / result_file(config.learner), *result.plot(folder)]
    return result.emit(args.json, written)
