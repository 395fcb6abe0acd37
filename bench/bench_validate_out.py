"""Cost of ``validate kde --out`` (per-unit record files) against the same run without it.

    python bench/bench_validate_out.py [--seeds 1000] [--repeats 3] [--cli]

Runs ``validate_kde`` with S seeds (default configuration otherwise: replace, 5 generations,
n_real 1000) without and with an ``out_dir``, interleaved, ``--repeats`` times each, in one
process (``--cli``: as ``boundcalc validate kde --seeds S --json [--out DIR]`` subprocesses),
and prints min and median wall times and the ratio with / without (goal: <= 1.2).  The run
with ``--out`` writes one small record file per seed (atomic: temporary file renamed over the name),
the result JSON and, in the CLI, the plots.  Prints the machine load it ran under.
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
    args = parser.parse_args(argv)
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
        files = len(os.listdir(os.path.join(scratch, "run0", "units", "kde")))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"validate kde --seeds {args.seeds} ({'CLI subprocess' if args.cli else 'in process'}), "
          f"{args.repeats} repeats, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for label, ts in times.items():
        print(f"  {label:14s} min {min(ts):7.3f} s   median {statistics.median(ts):7.3f} s")
    base, out = times["without --out"], times["with --out"]
    print(f"  ratio with/without: min {min(out) / min(base):.3f}   median "
          f"{statistics.median(out) / statistics.median(base):.3f}   (goal <= 1.2; {files} files in units/kde)")


if __name__ == "__main__":
    main()
