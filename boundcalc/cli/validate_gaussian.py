"""The ``boundcalc validate gaussian`` sub-command: Gaussian refit loops (the classic collapse
example) against the exact laws of derivations/RF1.md.

``run(args)`` returns the exit status: 0 when every check passed, 1 when a check failed; bad
input is one line (exit status 2).  ``--json`` prints the JSON object; ``--out DIR`` writes
``gaussian_validation.json`` and the figure ``gaussian_<scheme>.png`` / ``.pdf``.
"""

from __future__ import annotations

DESCRIPTION = ("Refit a Gaussian (maximum likelihood) to its own samples under a data-mixing scheme, target "
               "N(0, 1): log sigma_t^2, E sigma_t^2, the closed-form TV(p_t, p0) and the held-out negative "
               "log-likelihood, held against their exact laws by z-tests (derivations/RF1.md).")
RESULT_FILE = "gaussian_validation.json"


def register(subparsers):
    from boundcalc.cli.options import add_flag, add_option

    command = "validate gaussian"
    p = subparsers.add_parser("gaussian", help="Gaussian refit loops against their exact laws",
                              description=DESCRIPTION)
    add_option(p, "scheme", command, choices=("replace", "mix", "accumulate", "accumulate-subsample"))
    for name in ("generations", "n_real", "n_synth", "subsample", "real_data", "seeds", "seed", "held_out"):
        add_option(p, name, command, flags=("--generations",) if name == "generations" else None)
    add_flag(p, "--json", help="print the result as one JSON object")
    p.add_argument("--out", default=None, help="folder for the JSON and the figure")
    add_flag(p, "--force", help="with --out: replace a result already in the folder")
    p.set_defaults(handler=run)
    return p


def run(args) -> int:
    """Handler of ``boundcalc validate gaussian``; returns the exit status."""
    from boundcalc._io import write_atomic
    from boundcalc.validate.refit import refit_config, validate_gaussian

    config = refit_config(scheme=args.scheme, n_real=args.n_real, n_synth=args.n_synth,
                          generations=args.generations, seeds=args.seeds, seed=args.seed,
                          real_data=args.real_data, held_out=args.held_out, subsample=args.subsample)
    written = []
    if not args.out:
        return validate_gaussian(config).emit(args.json, written)
    from boundcalc._io import prepare_out_dir

    with prepare_out_dir(args.out, force=args.force, results=(RESULT_FILE,)) as folder:
        result = validate_gaussian(config)
        path = folder / RESULT_FILE
        write_atomic(path, result.to_json())
        written = [path, *result.plot(folder)]
    return result.emit(args.json, written)
