"""The ``boundcalc validate kde`` sub-command.

``register(subparsers)`` adds the parser "kde" to the sub-parsers of ``boundcalc validate`` and
sets ``handler=run``.  ``run(args)`` returns the exit status: 0 when every check passed, 1 when a
check failed, 130 when interrupted (finished seeds kept; continue with ``--resume``).  Bad input
raises :class:`~boundcalc._checks.BoundcalcError` (printed on one line, exit status 2).

Output: the summary table by default; ``--json`` prints the one JSON object instead;
``--out DIR`` writes ``kde_validation.json``, one record file per finished seed in
``units/kde/`` (what ``--resume`` continues from) and the plots ``kde_<scheme>.png`` / ``.pdf``; the folder is created and tested for writing before the run starts
(an unusable folder is a one-line error, exit status 2).

Size guards (exit status 2 with a message): at most 1e7 samples per block, 2e7 per training set,
1e9 training samples over all seeds and generations, 2^20 grid nodes in total.
"""

from __future__ import annotations

import sys

from boundcalc._checks import BoundcalcError, parse_number_list

DESCRIPTION = ("Run seeded self-consuming Gaussian-KDE loops under a data-mixing scheme and hold the "
               "measured TV(p_i, p0) against the explicit a-posteriori bound (derivations/validate-kde.md), the "
               "exact expected law of lemma K4 (lower reference) and the recursion a_i <= eps_i + TV(q_i, p0).")


def register(subparsers):
    """Add ``kde`` to the sub-parsers of ``boundcalc validate``; returns the parser."""
    p = subparsers.add_parser("kde", help="self-consuming KDE loops against explicit bounds",
                              description=DESCRIPTION)
    p.add_argument("--scheme", default="replace", help="replace | mix | accumulate | schedule (default replace)")
    p.add_argument("--generations", default="5", help="number of generations K (default 5)")
    p.add_argument("--n-real", default="1000", help="real samples n_real; generation 1 trains on them (default 1000)")
    p.add_argument("--n-synth", default=None, help="synthetic samples per generation (default n_real)")
    p.add_argument("--real-data", default="fresh", help="fresh | reused real data for mix and accumulate (default fresh)")
    p.add_argument("--real-fractions", default=None,
                   help="schedule: real fractions of generations 2..K (one value = all); mix: one value instead of --n-synth")
    p.add_argument("--sizes", default=None, help="schedule: training-set sizes of generations 2..K (one value = all)")
    p.add_argument("--bandwidth", default="auto", help="kernel bandwidth h > 0, or 'auto' for the K3 choice (default auto)")
    p.add_argument("--target", default="bimodal",
                   help="bimodal (default) | normal[:mu=..,sigma=..,dim=..] | mixture:weights=..;means=..;scales=..")
    p.add_argument("--seeds", default="10", help="number of seeded runs S (default 10)")
    p.add_argument("--seed", default="0", help="base seed; run k uses SeedSequence([seed, k]) (default 0)")
    p.add_argument("--delta", default="0.05", help="failure probability of the K-generation bound (default 0.05)")
    p.add_argument("--grid-size", default=None,
                   help="grid nodes per axis (default 4096 in 1-D, 256 in 2-D, raised to a power of two when the "
                        "target or the bandwidth need more; at most 2^20 nodes in total)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--out", default=None, help="folder for the JSON, the resume state and the plots")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.set_defaults(handler=run)
    return p


def config_from_args(args):
    """The :class:`~boundcalc.validate.kde.KDEValidationConfig` of parsed arguments."""
    from boundcalc.validate.kde import kde_config

    return kde_config(
        scheme=args.scheme, generations=args.generations, n_real=args.n_real, n_synth=args.n_synth,
        real_data=args.real_data, bandwidth=args.bandwidth, target=args.target, seeds=args.seeds,
        seed=args.seed, delta=args.delta, grid_size=args.grid_size,
        real_fractions=parse_number_list("real_fractions", args.real_fractions),
        sizes=parse_number_list("sizes", args.sizes))


def run(args) -> int:
    """Handler of ``boundcalc validate kde``; returns the exit status."""
    from boundcalc.validate.kde import validate_kde

    config = config_from_args(args)
    try:
        result = validate_kde(config, out_dir=args.out, resume=args.resume)
    except KeyboardInterrupt:
        where = f"; the finished seeds are kept in {args.out}, continue with --resume" if args.out else ""
        print(f"boundcalc validate kde: interrupted{where}", file=sys.stderr)
        return 130
    written = []
    if args.out:
        from pathlib import Path

        from boundcalc.validate.kde import RESULT_FILE, UNITS_DIR
        try:
            plots = result.plot(args.out)
        except OSError as exc:
            raise BoundcalcError(f"--out {args.out}: cannot write the plots: {exc.strerror or exc}") from None
        written = [Path(args.out) / RESULT_FILE, Path(args.out) / UNITS_DIR, *plots]
    return result.emit(args.json, written)
