"""The sweep engine: tasks -> executor (serial, or Dask distributed) -> the Parquet table.

:func:`run` expands the spec into (configuration, seed) tasks, checks every configuration
before anything is submitted, skips the tasks already in the folder (resume), runs the rest
through one of

* ``executor="serial"``: in this process, in task order (for debugging);
* ``executor="dask"`` (default): ``dask.distributed``; with neither ``client`` nor ``scheduler``
  a ``LocalCluster`` with one single-threaded worker process per core (``workers`` to choose);
  ``scheduler="tcp://HOST:8786"`` connects to a running cluster; ``client=Client(...)`` uses a
  client the caller made (and does not close it),

and writes the rows as they finish (one part file per flushed batch, then a compaction into
``results.parquet``): on Dask a batch is written whenever the engine is about to wait for more
results, and at least every ``flush_seconds`` while results keep coming; serially, at least
every ``flush_seconds`` (a killed serial sweep loses at most that much finished work).  A failing task becomes a row with status "failed" and its error; it
does not stop the others.  Interrupted (Ctrl-C), the finished rows are kept and compacted and
the interrupt propagates; ``resume=True`` then runs only the missing rows.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from boundcalc._checks import BoundcalcError
from boundcalc.sweep.progress import SweepProgress
from boundcalc.sweep.spec import SweepSpec, load_spec
from boundcalc.sweep.table import SPEC_FILE, ResultStore, input_types
from boundcalc.sweep.tasks import STATUS_FAILED, Command, execute, failed_row, one_line

EXECUTORS = ("dask", "serial")
#: a batch of finished rows is written at least this often (seconds) and when it reaches MAX_BATCH
FLUSH_SECONDS = 2.0
MAX_BATCH = 512


@dataclass
class SweepResult:
    """What a call of :func:`run` did: where the table is and how many tasks ran."""

    out: Path
    table: Path | None
    total: int
    skipped: int
    ran: int
    failed: int
    seconds: float
    executor: str
    workers: int | None

    def to_dict(self) -> dict:
        return {"out": str(self.out), "table": None if self.table is None else str(self.table),
                "tasks": self.total, "already_done": self.skipped, "ran": self.ran, "failed": self.failed,
                "seconds": round(self.seconds, 3), "executor": self.executor,
                "workers": self.workers}


def _check_command(spec: SweepSpec, commands: dict) -> Command:
    if spec.command not in commands:
        raise BoundcalcError(f"spec: command {spec.command!r} is not one of: {', '.join(sorted(commands))}")
    command = commands[spec.command]
    if not command.seeded and spec.seeds > 1:
        raise BoundcalcError(f"spec: {spec.command} is deterministic, so seeds = {spec.seeds} would repeat the "
                             "same numbers; set seeds = 1")
    for options in ({**spec.fixed, **c} for c in spec.configurations):
        command.validate_options(options)
    return command


def _prepare_folder(spec: SweepSpec, store: ResultStore, resume: bool) -> None:
    from boundcalc._io import write_atomic

    stored = store.dir / SPEC_FILE
    wanted = json.loads(json.dumps(spec.to_dict()))
    if stored.exists():
        try:
            previous = json.loads(stored.read_text())
        except (OSError, ValueError) as exc:
            raise BoundcalcError(f"--out {store.dir}: {SPEC_FILE} cannot be read ({exc})") from None
        if not resume:
            raise BoundcalcError(f"--out {store.dir} already holds a sweep; continue it with --resume or "
                                 "choose another folder")
        if previous != wanted:
            raise BoundcalcError(f"--resume: {store.dir} holds a sweep of another spec; repeat the same spec "
                                 "or choose another folder")
    elif store.results.exists() or store.part_files():
        raise BoundcalcError(f"--out {store.dir} holds results but no {SPEC_FILE}; choose another folder")
    store.prepare()
    write_atomic(stored, json.dumps(wanted, indent=2) + "\n")


def run(spec, commands: dict, out, *, executor: str = "dask", client=None, scheduler: str | None = None,
        workers: int | None = None, resume: bool = False, retry_failed: bool = False,
        progress: bool | None = None, flush_seconds: float = FLUSH_SECONDS,
        on_row: Callable | None = None) -> SweepResult:
    """Run a sweep; see the module docstring.

    ``spec``: a :class:`SweepSpec`, a dict, a TOML file or TOML text; ``commands``: name ->
    :class:`~boundcalc.sweep.tasks.Command` (the spec's command must be one of them);
    ``out``: the sweep folder.  ``retry_failed`` also reruns the stored failed rows.
    ``on_row(row)`` is called in this process after each finished row (a hook for tests and
    callers).  Returns a :class:`SweepResult`.
    """
    t0 = time.perf_counter()
    spec = load_spec(spec)
    if executor not in EXECUTORS:
        raise BoundcalcError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise BoundcalcError(f"workers must be an integer >= 1, got {workers!r}")
    if executor == "serial" and (client is not None or scheduler):
        raise BoundcalcError("executor serial takes neither a client nor a scheduler")
    if client is not None and scheduler:
        raise BoundcalcError("give either a client or a scheduler address, not both")
    command = _check_command(spec, commands)
    # connect before the folder is touched: an unreachable cluster leaves nothing behind
    owned_client = _connect(scheduler) if executor == "dask" and scheduler else None
    try:
        return _sweep(spec, command, out, executor, owned_client or client, workers, resume, retry_failed, progress,
                      flush_seconds, on_row, t0)
    finally:
        if owned_client is not None:
            owned_client.close()


def _sweep(spec, command, out, executor, client, workers, resume, retry_failed, progress, flush_seconds, on_row,
           t0) -> SweepResult:
    tasks = spec.tasks()
    store = ResultStore(out, input_types(tasks))
    _prepare_folder(spec, store, resume)
    done = store.done()
    todo = [t for t in tasks if t.key not in done or (retry_failed and done[t.key] == STATUS_FAILED)]
    bar = SweepProgress(len(todo), f"sweep {spec.command}", enabled=progress)
    state = {"ran": 0, "failed": 0, "pending": [], "flushed": time.monotonic()}

    def finished(row: dict):
        state["ran"] += 1
        failed = row["status"] == STATUS_FAILED
        state["failed"] += failed
        state["pending"].append(row)
        bar.update(1, int(failed))
        if (len(state["pending"]) >= MAX_BATCH or time.monotonic() - state["flushed"] >= flush_seconds):
            flush()
        if on_row is not None:
            on_row(row)

    def flush():
        if state["pending"]:
            store.write_part(state["pending"])
            state["pending"] = []
        state["flushed"] = time.monotonic()

    n_workers = None
    try:
        if executor == "serial":
            n_workers = 1
            for task in todo:
                finished(execute(command, task))
        elif todo:
            n_workers = _run_dask(command, todo, finished, flush, client, workers)
    finally:  # interrupted or not: the finished rows are written and compacted
        bar.close()
        flush()
        table = store.compact()
    return SweepResult(out=Path(out), table=table, total=len(tasks), skipped=len(tasks) - len(todo),
                       ran=state["ran"], failed=state["failed"],
                       seconds=time.perf_counter() - t0, executor=executor, workers=n_workers)


def local_cluster(n_workers: int | None = None):
    """A LocalCluster of ``n_workers`` single-threaded worker processes, without the dashboard,
    the statistical profiler, and the nanny's ``MALLOC_TRIM_THRESHOLD_`` (with it, glibc stops
    adapting its mmap threshold and every large numpy array is mapped and zeroed anew: measured
    here, a validate-kde task took 0.37 s of CPU in such a worker against 0.20 s without it;
    BLAS and OpenMP stay pinned to one thread per worker).  ``n_workers`` defaults to one per
    core.  The default cluster of :func:`run`; pass ``client=Client(local_cluster())`` to reuse
    one cluster for several sweeps."""
    import dask
    from distributed import LocalCluster

    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ,
                          "distributed.worker.profile.enabled": False}):
        return LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=logging.ERROR)


def _connect(scheduler: str):
    """A client of the running scheduler at ``scheduler`` (one-line error when unreachable)."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the installation
        raise BoundcalcError("--scheduler needs dask.distributed: pip install 'boundcalc[sweep]'") from None
    try:
        return Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise BoundcalcError(f"--scheduler {scheduler}: cannot connect ({one_line(exc)})") from None


def _run_dask(command: Command, todo: list, finished: Callable, idle: Callable, client, workers) -> int:
    """Submit every task to Dask and hand each row to ``finished`` as it comes back (``idle()`` is
    called before waiting for the next one, so nothing finished stays unwritten while the sweep
    waits); returns the number of workers."""
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - depends on the installation
        raise BoundcalcError("the dask executor needs dask.distributed: pip install 'boundcalc[sweep]' "
                             "(or use --executor serial)") from None
    owned = []
    try:
        if client is None:
            cluster = local_cluster(workers)
            owned.append(cluster)
            client = Client(cluster)
            owned.insert(0, client)
        token = uuid.uuid4().hex[:12]
        by_key = {}
        futures = []
        for task in todo:
            fut = client.submit(execute, command, task, key=f"boundcalc-sweep-{token}-{task.config_index}-{task.seed_index}",
                                pure=False)
            by_key[fut.key] = task
            futures.append(fut)
        n_workers = len(client.scheduler_info().get("workers", {}))
        try:
            pending = as_completed(futures)
            for batch in pending.batches():
                for fut in batch:
                    task = by_key.pop(fut.key)
                    if fut.status == "finished":
                        row = fut.result()
                    else:
                        row = failed_row(task, one_line(fut.exception()) if fut.status == "error"
                                         else f"task {fut.status} by the cluster")
                    fut.release()
                    finished(row)
                if not pending.has_ready():
                    idle()
        except BaseException:
            client.cancel(futures)
            raise
        return n_workers
    finally:
        for thing in owned:
            try:
                thing.close()
            except Exception:  # noqa: BLE001 - closing a broken connection must not hide the result
                pass
