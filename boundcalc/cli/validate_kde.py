"""The ``boundcalc validate kde`` sub-command.

``register(subparsers)`` adds the parser "kde" to the sub-parsers of ``boundcalc validate`` and
sets ``handler=run``.  ``run(args)`` returns the exit status: 0 when every check passed, 1 when a
check failed, 130 when interrupted (finished seeds kept; continue with ``--resume``).  Bad input
raises :class:`~boundcalc._checks.BoundcalcError` (printed on one line, exit status 2).

Output: the summary table by default; ``--json`` prints the one JSON object instead;
``--out DIR`` writes ``kde_validation.json``, one record file per finished seed in
``units/kde/`` (what ``--resume`` continues from) and the plots ``kde_<scheme>.png`` / ``.pdf``; the
folder is created, tested for writing and locked before the run starts
(:func:`boundcalc._io.prepare_out_dir`): an unusable folder, a folder in use by another run, and a
folder that already holds a result (without ``--resume`` or ``--force``) are one-line errors, exit
status 2.

Size guards (exit status 2 with a message): at most 1e7 samples per block, 2e7 per training set,
1e9 training samples over all seeds and generations, 2^20 grid nodes in total.
"""

from __future__ import annotations


from boundcalc._checks import BoundcalcError

DESCRIPTION = ("Run seeded self-consuming Gaussian-KDE loops under a data-mixing scheme and hold the "
               "measured TV(p_i, p0) against the explicit a-posteriori bound (derivations/validate-kde.md), the "
               "exact expected law of lemma K4 (lower reference) and the recursion a_i <= eps_i + TV(q_i, p0).")


def register(subparsers):
    """Add ``kde`` to the sub-parsers of ``boundcalc validate``; returns the parser.

    The options come from the parameter table (:mod:`boundcalc._checks`), with this command's
    defaults.  Old spellings kept as aliases: ``--real-fractions`` (one value with ``--scheme mix``
    is mix's real fraction, now ``--real-fraction``; a list with ``--scheme schedule`` is now
    ``--schedule-fractions``) and ``--bandwidth auto`` (K3 for each generation's N_i, now
    ``--bandwidth per-generation``; ``boundcalc bound``'s ``auto`` is K3 for n_real, fixed).
    """
    from boundcalc.cli.options import add_flag, add_option

    command = "validate kde"
    p = subparsers.add_parser("kde", help="self-consuming KDE loops against explicit bounds",
                              description=DESCRIPTION)
    from boundcalc.validate.kde.config import KDE_SCHEMES

    for name in ("scheme", "generations", "n_real", "n_synth", "real_data", "real_fraction"):
        add_option(p, name, command, flags=("--generations",) if name == "generations" else None,
                   choices=KDE_SCHEMES if name == "scheme" else None)
    add_option(p, "subsample", command)
    add_option(p, "schedule_fractions", command,
               help="schedule: real fractions of generations 2..K (one value = all); --real-fractions is its "
                    "old spelling (which, with --scheme mix, still gives mix's one real fraction)")
    add_option(p, "sizes", command)
    add_option(p, "kde_bandwidth", command, dest="bandwidth")
    add_option(p, "p0", command, flags=("--target", "--p0"), dest="target")
    for name in ("seeds", "seed", "delta", "grid_size"):
        add_option(p, name, command, help=param_help(name) if name == "grid_size" else None)
    add_flag(p, "--json", help="print the result as one JSON object")
    p.add_argument("--out", default=None, help="folder for the JSON, the resume state and the plots")
    add_flag(p, "--resume", help="continue the run saved in --out")
    add_flag(p, "--force", help="with --out: replace a result already in the folder (refused without --resume or --force)")
    p.set_defaults(handler=run)
    return p


def param_help(name):
    if name == "grid_size":
        return ("grid nodes per axis (default 4096 in 1-D, 256 in 2-D, raised to a power of two when the "
                "target or the bandwidth need more; at most 2^20 nodes in total)")
    return None


def _real_fractions(args):
    """The validator's ``real_fractions`` from the options: mix's one fraction (``--real-fraction``, or
    one value of the old ``--real-fractions``) or the schedule's list (``--schedule-fractions``)."""
    from boundcalc.cli.options import spelled
    listed, single = args.schedule_fractions, args.real_fraction
    if args.scheme == "mix" and listed is not None:
        if spelled(args, "schedule_fractions") != "--real-fractions" or len(listed) != 1:
            raise BoundcalcError("--schedule-fractions applies to --scheme schedule; for mix give one real "
                                 "fraction with --real-fraction")
        if single is not None:
            raise BoundcalcError("--real-fractions and --real-fraction cannot be given together")
        return tuple(listed)
    if single is not None:
        if args.scheme != "mix":
            raise BoundcalcError(f"--real-fraction applies to --scheme mix, not {args.scheme} "
                                 "(a schedule takes --schedule-fractions)")
        return (single,)
    if listed is not None and args.scheme != "schedule":
        raise BoundcalcError(f"{spelled(args, 'schedule_fractions')} applies to --scheme schedule (and mix), "
                             f"not {args.scheme}")
    return None if listed is None else tuple(listed)


def config_from_args(args):
    """The :class:`~boundcalc.validate.kde.KDEValidationConfig` of parsed arguments."""
    from boundcalc.cli.options import given
    from boundcalc.validate.kde import kde_config

    if args.scheme == "accumulate-subsample" and given(args, "real_data"):
        raise BoundcalcError("--real-data does not apply to --scheme accumulate-subsample (its pool keeps the real "
                             "samples: they are always reused)")

    return kde_config(
        scheme=args.scheme, generations=args.generations, n_real=args.n_real, n_synth=args.n_synth,
        real_data=args.real_data, bandwidth="auto" if args.bandwidth in ("per-generation", "auto") else args.bandwidth,
        target=args.target, seeds=args.seeds,
        seed=args.seed, delta=args.delta, grid_size=args.grid_size,
        real_fractions=_real_fractions(args),
        sizes=None if args.sizes is None else tuple(args.sizes), subsample=args.subsample).checked()


def _out_dir(args):
    """The checked and locked ``--out`` folder (``with`` gives its Path), or None without ``--out``."""
    from contextlib import nullcontext

    from boundcalc._io import prepare_out_dir
    from boundcalc.validate.kde import RESULT_FILE, UNITS_DIR

    if args.out is None:
        if args.force:
            raise BoundcalcError("--force applies with --out DIR (it replaces the result saved there)")
        return nullcontext(None)
    return prepare_out_dir(args.out, resume=args.resume, force=args.force, results=(RESULT_FILE, UNITS_DIR))


def run(args) -> int:
    """Handler of ``boundcalc validate kde``; returns the exit status."""
    from boundcalc.cli.options import interrupted
    from boundcalc.validate.kde import validate_kde

    config = config_from_args(args)
    with _out_dir(args) as folder:
        try:
            result = validate_kde(config, out_dir=folder, resume=args.resume)
        except KeyboardInterrupt:
            return interrupted("validate kde", args.out if folder else None, "seeds")
        written = []
        if folder is not None:
            from boundcalc.validate.kde import RESULT_FILE, UNITS_DIR
            try:
                plots = result.plot(folder)
            except OSError as exc:
                raise BoundcalcError(f"--out {args.out}: cannot write the plots: {exc.strerror or exc}") from None
            written = [folder / RESULT_FILE, folder / UNITS_DIR, *plots]
    return result.emit(args.json, written)
