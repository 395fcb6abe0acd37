"""The ``boundcalc validate toy`` sub-command: KDE loops on 2-D toy data sets (moons, circles,
swiss roll; no closed-form density) with data-driven bandwidths (Scott, Silverman, as
scipy.stats.gaussian_kde) or a fixed one, measured by held-out negative log-likelihood."""

from __future__ import annotations

DESCRIPTION = ("Self-consuming Gaussian-KDE loops on 2-D toy data (moons, circles, swiss roll) with the bandwidth "
               "computed from each generation's training data (scott, silverman) or fixed, measured by the "
               "held-out negative log-likelihood on samples of the same generator.")
RESULT_FILE = "toy_validation.json"


def register(subparsers):
    from boundcalc.cli.options import add_flag, add_option

    command = "validate toy"
    p = subparsers.add_parser("toy", help="KDE loops on 2-D toy data, held-out NLL", description=DESCRIPTION)
    p.add_argument("--data", choices=("moons", "circles", "swiss-roll"), default="moons",
                   help="toy data set (default moons; noise 0.1, circles 0.05, swiss roll 0.5)")
    p.add_argument("--noise", type=float, default=None, help="noise sd (default: the data set's usual value)")
    p.add_argument("--bandwidth", default="scott", metavar="scott|silverman|H",
                   help="scott or silverman (kernel covariance f^2 Cov(X) from each generation's training data, "
                        "as scipy.stats.gaussian_kde), or a fixed h > 0 (default scott)")
    add_option(p, "scheme", command, default="replace", choices=("replace", "mix", "accumulate"))
    for name, default in (("generations", 10), ("n_real", 500), ("seeds", 20), ("seed", 0), ("held_out", 1000)):
        add_option(p, name, command, default=default)
    add_option(p, "n_synth", command)
    add_option(p, "real_data", command, default="fresh")
    add_flag(p, "--json", help="print the result as one JSON object")
    p.set_defaults(handler=run)
    return p


def run(args) -> int:
    from boundcalc.validate.toy import toy_config, validate_toy

    cfg = toy_config(data=args.data, noise=args.noise, bandwidth=args.bandwidth, scheme=args.scheme,
                     n_real=args.n_real, n_synth=args.n_synth, generations=args.generations, seeds=args.seeds,
                     seed=args.seed, real_data=args.real_data, held_out=args.held_out)
    return validate_toy(cfg).emit(args.json)
