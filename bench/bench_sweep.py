"""Benchmarks of the sweep engine (issue 12). Prints measurements; asserts nothing.

    python bench/bench_sweep.py [--repeats 3] [--tasks 12]

1. speed-up of the Dask LocalCluster (one single-threaded worker process per core) over the
   serial executor on an embarrassingly parallel sweep of real ``validate kde`` tasks (mix,
   K = 8, n_real = 5e5, n_synth = 2e6: ~0.7 s of CPU each here): wall times, min and median
   over repetitions, with a cluster started beforehand and warmed up ("warm") and with the cluster's start-up counted
   ("cold"); goal on 2 cores: >= 1.7x warm; the CPU seconds of the tasks (their threads) are
   printed too, so that a lost speed-up can be told apart from tasks that cost more in a worker;
   and the same tasks through ``concurrent.futures.ProcessPoolExecutor`` (the peer: what plain
   worker processes get from the machine at that moment);
2. per-task overhead of the engine on 1-second tasks (``time.sleep(1)``, so that the task's own
   time does not depend on the machine's load): (wall - tasks x 1 s) / tasks, for the serial
   executor and for a one-worker LocalCluster (scheduling, pickling, result transfer, Parquet
   parts); goal: under 5% of the task (50 ms); and the same tasks on one worker per core,
   which measures the engine's own parallelism without CPU contention;

The peer of the speed-up is the serial executor (the same tasks in this process); BLAS threads
are pinned to one in this process as in the workers, so both sides use one core per task.
The machine's load average is printed before and after each measurement: on a shared machine
the speed-up is bounded by the free cores, not by the engine.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from boundcalc.cli.sweep import commands  # noqa: E402
from boundcalc.sweep import Command, TaskOutput, local_cluster, run  # noqa: E402


def kde_spec(tasks: int) -> dict:
    """``tasks`` independent validate-kde tasks (one configuration, ``tasks`` seeds)."""
    return {"command": "validate kde", "seeds": tasks, "base_seed": 1,
            "fixed": {"scheme": "mix", "generations": 8, "n_real": 500_000, "n_synth": 2_000_000}}


def sleep_one_second(options, base_seed, seed_index):
    time.sleep(1.0)
    return TaskOutput(metrics={"slept": 1.0})


SLEEP = {"sleep": Command("sleep", sleep_one_second, ("x",))}


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


CPU = {}  # id of a list of wall times -> mean CPU seconds of one task, per repetition


def timed(fn, repeats: int) -> list[float]:
    """Wall times of ``repeats`` runs of ``fn(folder)`` (a fresh folder each); the mean CPU time
    of a task (its thread, from the table) is kept in CPU."""
    from boundcalc.sweep import read_results

    times, cpu = [], []
    for _ in range(repeats):
        folder = tempfile.mkdtemp(prefix="bench-sweep-")
        try:
            t0 = time.perf_counter()
            fn(folder)
            times.append(time.perf_counter() - t0)
            cpu.append(statistics.fmean(read_results(folder).column("cpu_seconds").to_pylist()))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    CPU[id(times)] = cpu
    return times


def describe(times) -> str:
    cpu = CPU.get(id(times), [])
    per_task = f"; CPU of a task: median {statistics.median(cpu):.3f} s" if cpu else ""
    return f"min {min(times):.2f} s, median {statistics.median(times):.2f} s (n = {len(times)}){per_task}"


def speedup(repeats: int, tasks: int):
    from distributed import Client

    spec, registry = kde_spec(tasks), commands()
    print(f"1. speed-up: {tasks} validate-kde tasks (mix, K = 8, n_real 5e5, n_synth 2e6)")
    print(f"   before: {load()}")
    timed(lambda d: run(kde_spec(2), registry, d, executor="serial"), 1)  # imports, caches
    serial = timed(lambda d: run(spec, registry, d, executor="serial"), repeats)
    print(f"   serial executor:          {describe(serial)}   [{load()}]")
    cores = os.cpu_count() or 1
    with local_cluster(cores) as cluster, Client(cluster) as client:
        timed(lambda d: run(kde_spec(2 * cores), registry, d, client=client), 1)  # warm the workers
        warm = timed(lambda d: run(spec, registry, d, client=client), repeats)
    print(f"   LocalCluster, warm ({cores} workers): {describe(warm)}   [{load()}]")
    cold = timed(lambda d: run(spec, registry, d, executor="dask", workers=cores), repeats)
    print(f"   LocalCluster, cold (start-up counted): {describe(cold)}   [{load()}]")
    pool = peer_pool(spec, registry, cores, repeats)
    print(f"   peer: ProcessPoolExecutor({cores}), warm, same tasks, no table: {describe(pool)}   [{load()}]")
    print(f"   speed-up warm: {min(serial) / min(warm):.2f}x (min/min), "
          f"{statistics.median(serial) / statistics.median(warm):.2f}x (median/median); goal >= 1.7x on 2 cores")
    print(f"   speed-up cold: {min(serial) / min(cold):.2f}x (min/min), "
          f"{statistics.median(serial) / statistics.median(cold):.2f}x (median/median)")
    print(f"   speed-up of the peer (what {cores} processes get from this machine now): "
          f"{min(serial) / min(pool):.2f}x (min/min), {statistics.median(serial) / statistics.median(pool):.2f}x "
          f"(median/median)")


def peer_pool(spec, registry, cores, repeats) -> list[float]:
    """The same tasks through concurrent.futures.ProcessPoolExecutor (warm), rows discarded: what
    plain worker processes get from the machine, without Dask or the table."""
    from concurrent.futures import ProcessPoolExecutor

    from boundcalc.sweep import load_spec
    from boundcalc.sweep.tasks import execute

    parsed = load_spec(spec)
    tasks = parsed.tasks()
    command = registry[parsed.command]
    times = []
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(execute, [command] * cores, tasks[:cores]))  # imports in every process
        for _ in range(repeats):
            t0 = time.perf_counter()
            list(pool.map(execute, [command] * len(tasks), tasks))
            times.append(time.perf_counter() - t0)
    return times


def overhead(repeats: int, n: int = 6):
    from distributed import Client

    spec = {"command": "sleep", "seeds": n, "axes": {"x": [0]}}
    cores = os.cpu_count() or 1
    print(f"2. per-task overhead: {n} tasks of time.sleep(1) each (1 worker); {n * cores} on {cores} workers")
    print(f"   before: {load()}")
    serial = timed(lambda d: run(spec, SLEEP, d, executor="serial"), repeats)
    with local_cluster(1) as cluster, Client(cluster) as client:
        timed(lambda d: run({**spec, "seeds": 1}, SLEEP, d, client=client), 1)
        one = timed(lambda d: run(spec, SLEEP, d, client=client), repeats)
    with local_cluster(cores) as cluster, Client(cluster) as client:
        timed(lambda d: run({**spec, "seeds": cores}, SLEEP, d, client=client), 1)
        many = timed(lambda d: run({**spec, "seeds": n * cores}, SLEEP, d, client=client), repeats)
    for name, times in (("serial executor", serial), ("LocalCluster, 1 worker", one),
                        (f"LocalCluster, {cores} workers", many)):
        per = [(t - n * 1.0) / n for t in times]
        print(f"   {name:<24} per task: min {min(per) * 1e3:.1f} ms, median {statistics.median(per) * 1e3:.1f} ms "
              f"= {statistics.median(per) * 100:.1f}% of a 1-second task (goal < 5%)   [{load()}]")
    print(f"   {cores} workers against serial on tasks that wait rather than compute (the engine's own "
          f"parallelism, free of CPU contention): {min(serial) * cores / min(many):.2f}x (min), "
          f"{statistics.median(serial) * cores / statistics.median(many):.2f}x (median); ideal {cores:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=12)
    args = parser.parse_args()
    speedup(args.repeats, args.tasks)
    overhead(args.repeats)


if __name__ == "__main__":
    main()
