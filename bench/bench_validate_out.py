"""Cost of ``validate kde --out`` (per-unit record files) against the same run without it.

    python bench/bench_validate_out.py [--seeds 1000] [--repeats 3] [--cli] [--peer-src DIR]

Runs ``validate_kde`` with S seeds (default configuration otherwise: replace, 5 generations,
n_real 1000) without and with an ``out_dir``, interleaved, ``--repeats`` times each, in one
process (``--cli``: as ``boundcalc validate kde --seeds S --json [--out DIR]`` subprocesses,
where ``--out`` also draws the figures: about 2 s with the matplotlib import, whatever S),
and prints min and median wall times and the ratio with / without (goal: <= 1.2).  The run
with ``--out`` writes one small record file per seed (atomic: temporary file renamed over the name),
the result JSON and, in the CLI, the plots.  Prints the machine load it ran under.

``--peer-src DIR`` runs the same measurement a second time, side by side, on another source
tree of boundcalc (for example the release before the per-unit files, which rewrote one
indented state file after every seed: ``git archive 8a90b2c boundcalc derivations | tar -x -C
DIR``) and prints both ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def _api_run(seeds: int, out_dir):
    from boundcalc.validate.kde import KDEValidationConfig, validate_kde

    validate_kde(KDEValidationConfig(seeds=seeds), out_dir=out_dir)


def _cli_run(seeds: int, out_dir):
    cmd = [sys.executable, "-m", "boundcalc.cli.main", "validate", "kde", "--seeds", str(seeds), "--json"]
    if out_dir is not None:
        cmd += ["--out", str(out_dir)]
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cli", action="store_true", help="time boundcalc subprocesses (includes start-up and plots)")
    parser.add_argument("--peer-src", default=None, help="another boundcalc source tree to measure the same way")
    args = parser.parse_args(argv)
    if args.peer_src:
        env = {**os.environ, "PYTHONPATH": os.path.abspath(args.peer_src)}
        own = [a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("--peer-src")]
        own = [a for a, prev in zip(own, [None] + own) if prev != "--peer-src" and a != args.peer_src]
        print(f"peer: boundcalc from {args.peer_src}")
        subprocess.run([sys.executable, __file__, *own], env=env, check=False)
        print("this tree:")
    run = _cli_run if args.cli else _api_run
    if not args.cli:
        run(2, None)  # warm the imports
    times = {"without --out": [], "with --out": []}
    scratch = tempfile.mkdtemp(prefix="bench_validate_out.")
    try:
        for r in range(args.repeats):
            for label in times:
                out = os.path.join(scratch, f"run{r}") if label == "with --out" else None
                t0 = time.perf_counter()
                run(args.seeds, out)
                times[label].append(time.perf_counter() - t0)
        units = os.path.join(scratch, "run0", "units", "kde")
        files = len(os.listdir(units)) if os.path.isdir(units) else len(os.listdir(os.path.join(scratch, "run0")))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    import boundcalc

    print(f"[{os.path.dirname(boundcalc.__file__)}] validate kde --seeds {args.seeds} ({'CLI subprocess' if args.cli else 'in process'}), "
          f"{args.repeats} repeats, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for label, ts in times.items():
        print(f"  {label:14s} min {min(ts):7.3f} s   median {statistics.median(ts):7.3f} s")
    base, out = times["without --out"], times["with --out"]
    print(f"  ratio with/without: min {min(out) / min(base):.3f}   median "
          f"{statistics.median(out) / statistics.median(base):.3f}   (goal <= 1.2; {files} files written)")


if __name__ == "__main__":
    main()
