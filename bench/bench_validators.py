"""Run time of every validator's default run (goal: under a minute each on the 2-core machine).

    python bench/bench_validators.py [--repeats 1] [--only NAME ...]

Runs each command below as a subprocess (``boundcalc validate ... --json``, output discarded),
``--repeats`` times, interleaved, and prints for each the min and median wall time, the CPU time
of the child (user + sys, less sensitive to other load on the machine) and the ratio of the
median wall time to the one-minute budget.  Prints the machine load it ran under.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

BUDGET_S = 60.0
COMMANDS = {
    "kde": ["validate", "kde"],
    "gaussian": ["validate", "gaussian"],
    "gaussian n=10 t=100": ["validate", "gaussian", "--n-real", "10", "--generations", "100"],
    "phase (KDE diagram)": ["validate", "phase"],
    "phase (diffusion diagram)": ["validate", "phase", "--learner", "diffusion"],
    "toy (moons, scott)": ["validate", "toy"],
    "diffusion loop": ["validate", "diffusion", "loop"],
    "diffusion phase": ["validate", "diffusion", "phase"],
    "diffusion early-stopping": ["validate", "diffusion", "early-stopping"],
    "diffusion early-stopping --ns 1000 --seeds 1": ["validate", "diffusion", "early-stopping", "--ns", "1000",
                                                     "--seeds", "1"],
    "diffusion calibrate": ["validate", "diffusion", "calibrate"],
}


def _run(args) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "boundcalc.cli.main", *args, "--json"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=None, help="names of COMMANDS to run (default all)")
    a = ap.parse_args(argv)
    names = [n for n in COMMANDS if a.only is None or n in a.only]
    times = {n: [] for n in names}
    codes = {}
    load = os.getloadavg()[0]
    for _ in range(a.repeats):
        for n in names:
            wall, cpu, code = _run(COMMANDS[n])
            times[n].append((wall, cpu))
            codes[n] = code
    print(f"[boundcalc] validator default runs, {a.repeats} repeat(s), load average {load:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end, on {os.cpu_count()} cores; budget {BUDGET_S:.0f} s")
    for n in names:
        walls = [w for w, _ in times[n]]
        cpus = [c for _, c in times[n]]
        med = statistics.median(walls)
        print(f"  {n:46s} wall min {min(walls):6.1f} s  median {med:6.1f} s  cpu {statistics.median(cpus):6.1f} s  "
              f"median/budget {med / BUDGET_S:4.2f}  exit {codes[n]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
