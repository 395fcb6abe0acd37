"""Sweeps on a real Dask cluster (a scheduler and two workers started here as separate processes on
127.0.0.1), and a sweep killed with SIGKILL in the middle and resumed.

The cluster's table must equal the serial table byte for byte in every column except the run
columns (start time, seconds, host, worker, traceback).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from boundcalc.cli.main import main
from boundcalc.cli.sweep import commands
from boundcalc.sweep import read_results, run

from test_sweep import KDE_SPEC, assert_same_results

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

LOOPBACK = "127.0.0.1"


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two single-threaded workers on the loopback interface; yields the address."""
    folder = tmp_path_factory.mktemp("cluster")
    scheduler_file = folder / "scheduler.json"
    procs = []
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", LOOPBACK, "--port", "0",
             "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            stdout=subprocess.DEVNULL, stderr=open(folder / "scheduler.log", "w"), env=env))
        deadline = time.monotonic() + 30
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert scheduler_file.exists(), (folder / "scheduler.log").read_text()
        for i in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file),
                 "--host", LOOPBACK, "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"],
                stdout=subprocess.DEVNULL, stderr=open(folder / f"worker{i}.log", "w"), env=env))
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith(f"tcp://{LOOPBACK}:")
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            assert len(client.scheduler_info()["workers"]) == 2
        yield address
    finally:
        _stop(procs[1:])
        _stop(procs[:1])


@pytest.fixture(scope="module")
def serial_table(tmp_path_factory):
    """The validate-kde sweep of test_sweep.KDE_SPEC run serially through the command line."""
    folder = tmp_path_factory.mktemp("serial")
    spec = folder / "kde.toml"
    spec.write_text(KDE_SPEC)
    assert main(["sweep", str(spec), "--out", str(folder / "out"), "--executor", "serial", "--json"]) == 0
    return read_results(folder / "out")


def test_cluster_table_equals_the_serial_table_byte_for_byte(cluster, serial_table, tmp_path, capsys):
    spec = tmp_path / "kde.toml"
    spec.write_text(KDE_SPEC)
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(tmp_path / "dask"), "--scheduler", cluster, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["executor"], summary["workers"], summary["ran"], summary["failed"]) == ("dask", 2, 18, 0)
    serial, dask = serial_table, read_results(tmp_path / "dask")
    assert serial.num_rows == dask.num_rows == 18
    assert_same_results(serial, dask)
    # the work was really spread: two worker processes, none of them this one
    workers = set(dask.column("worker").to_pylist())
    assert len(workers) == 2 and str(os.getpid()) not in workers


def test_interrupted_cluster_sweep_resumes_only_the_missing_rows(cluster, serial_table, tmp_path):
    seen = []

    def stop(row):
        seen.append(row["task_key"])
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(KDE_SPEC, commands(), tmp_path / "cut", scheduler=cluster, on_row=stop)
    kept = set(read_results(tmp_path / "cut").column("task_key").to_pylist())
    assert set(seen[:4]) <= kept and len(kept) < 18
    resumed = run(KDE_SPEC, commands(), tmp_path / "cut", scheduler=cluster, resume=True)
    assert (resumed.skipped, resumed.ran) == (len(kept), 18 - len(kept))
    assert_same_results(read_results(tmp_path / "cut"), serial_table)


SLOW_SCRIPT = textwrap.dedent("""
    import sys, time
    from boundcalc.sweep import Command, TaskOutput, run

    def slow(options, base_seed, seed_index):
        time.sleep(0.15)
        return TaskOutput(metrics={"v": options["x"] * 1000 + seed_index})

    COMMANDS = {"slow": Command("slow", slow, ("x",))}
    SPEC = {"command": "slow", "seeds": 4, "axes": {"x": [1, 2, 3, 4, 5]}}

    if __name__ == "__main__":
        run(SPEC, COMMANDS, sys.argv[1], executor="serial", flush_seconds=0)
""")


def test_a_sweep_killed_with_sigkill_keeps_whole_parts_and_resumes(tmp_path):
    script = tmp_path / "slow_sweep.py"
    script.write_text(SLOW_SCRIPT)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(out)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list((out / "parts").glob("part-*.parquet"))) < 5:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "results.parquet").exists()  # killed before any compaction
    kept = read_results(out)  # the whole parts; a part being written was a temporary file
    assert 5 <= kept.num_rows < 20
    sys.path.insert(0, str(tmp_path))
    try:
        import slow_sweep
    finally:
        sys.path.remove(str(tmp_path))
    ran = []
    resumed = run(slow_sweep.SPEC, slow_sweep.COMMANDS, out, executor="serial", resume=True,
                  on_row=lambda r: ran.append(r["task_key"]))
    assert (resumed.skipped, resumed.ran) == (kept.num_rows, 20 - kept.num_rows)
    assert not set(ran) & set(kept.column("task_key").to_pylist())
    final = read_results(out)
    assert final.column("out_v").to_pylist() == [x * 1000.0 + k for x in range(1, 6) for k in range(4)]
    assert not list((out / "parts").glob("*"))
