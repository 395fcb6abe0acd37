"""The ``boundcalc validate phase`` sub-command: the measured phase diagram of the Gaussian KDE
(a_2 over n_real x n_synth, seeded loops) beside the bound's diagram (``boundcalc phase``).

Exit status 0 when every check passed (intervals in range, target resolution reached, every
cell's KDE validation passed), 1 otherwise; bad input is one line (exit status 2).
"""

from __future__ import annotations

DESCRIPTION = ("Measure a_2 = TV(p_2, p0) of the KDE loop (mix, fixed bandwidth K3(n_real)) on a grid of real "
               "and synthetic sizes around the bound's threshold (boundcalc phase, same learner), with "
               "paired-seed intervals for the rise from n_synth = 0; the bound's diagram beside it.")
RESULT_FILE = "kde_phase.json"


def register(subparsers):
    from boundcalc.cli.options import add_flag, add_option

    p = subparsers.add_parser("phase", help="measured phase diagram of the KDE loop beside the bound's",
                              description=DESCRIPTION)
    p.add_argument("--n-reals", type=int, nargs="+", default=[250, 500, 1000], metavar="N",
                   help="real sizes (rows of the diagram; default 250 500 1000)")
    p.add_argument("--ratios", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0, 8.0, 16.0], metavar="R",
                   help="n_synth / n_real (columns; must include 0; default 0 1 2 4 8 16)")
    add_option(p, "seeds", default=44, help="seeded loops per cell (default 44: half-width about 0.02 at "
                                           "a per-seed sd of 0.045)")
    add_option(p, "seed", default=0)
    add_flag(p, "--json", help="print the result as one JSON object")
    p.add_argument("--out", default=None, help="folder for the JSON and the figure kde_phase.png/.pdf")
    add_flag(p, "--force", help="with --out: replace a result already in the folder")
    p.set_defaults(handler=run)
    return p


def run(args) -> int:
    from boundcalc._io import prepare_out_dir, write_atomic
    from boundcalc.validate.kde.phase import kde_phase

    if not args.out:
        return kde_phase(args.n_reals, args.ratios, seeds=args.seeds, seed=args.seed).emit(args.json)
    with prepare_out_dir(args.out, force=args.force, results=(RESULT_FILE,)) as folder:
        result = kde_phase(args.n_reals, args.ratios, seeds=args.seeds, seed=args.seed)
        path = folder / RESULT_FILE
        write_atomic(path, result.to_json())
        written = [path, *result.plot(folder)]
    return result.emit(args.json, written)
