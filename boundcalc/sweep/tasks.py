"""Commands, their outputs, and the execution of one task into one row of the results table.

A :class:`Command` is a named pure function ``function(options, base_seed, seed_index) ->
TaskOutput``; the sweep engine knows nothing else about it.  The bound commands are defined in
:mod:`boundcalc.sweep.commands`; the validator commands are supplied by the caller (the command
line builds them from :mod:`boundcalc.validate`), so this package never imports the validators.

:func:`execute` runs one task wherever it is scheduled (this process, a local worker process,
a cluster node) and never raises for a failure of the command: the row then has status
"failed" and the error's one-line text.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc.sweep.spec import Task

STATUS_OK = "ok"
STATUS_FAILED = "failed"
#: columns that depend on where and when a task ran (left out when two runs are compared)
RUN_COLUMNS = ("started", "seconds", "cpu_seconds", "host", "worker", "traceback")


def seed_sequence(base_seed: int, seed_index: int) -> np.random.SeedSequence:
    """The randomness of unit ``seed_index``: ``SeedSequence([base_seed, seed_index])``."""
    return np.random.SeedSequence([int(base_seed), int(seed_index)])


@dataclass
class TaskOutput:
    """What a command returns for one task.

    ``metrics``: flat name -> number, string, boolean or list of numbers (one column each,
    ``out_<name>``); ``checks``: list of {"name", "passed"}; ``result``: the full JSON-ready
    output; ``device``: where the numbers were computed ("cpu", "cuda:0"); ``versions``: the
    versions of libraries the command used beyond python, numpy and boundcalc (e.g. torch).
    """

    metrics: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    result: object = None
    device: str = "cpu"
    versions: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """A named command of a sweep.

    ``function(options, base_seed, seed_index) -> TaskOutput`` must be importable by name (a
    module-level function) so that it can be sent to worker processes; ``options`` lists the
    option names it accepts; ``check(options)``, if given, validates one configuration in the
    calling process before anything is submitted (raises BoundcalcError); ``seeded`` is False
    for deterministic commands (their seeds repeat the same numbers); ``merge(options,
    base_seed, seeds, results) -> str``, if given, turns the ``result`` objects of one
    configuration's rows (in seed order) into the JSON of the same command run once over all
    its seeds (the report writes it per configuration).
    """

    name: str
    function: Callable
    options: tuple = ()
    check: Callable | None = None
    seeded: bool = True
    description: str = ""
    merge: Callable | None = None

    def validate_options(self, options: dict) -> None:
        if self.options:
            stray = sorted(k for k in options if k not in self.options)
            if stray:
                raise BoundcalcError(f"{self.name}: unknown option(s) {', '.join(stray)} "
                                     f"(valid: {', '.join(self.options)})")
        if self.check is not None:
            self.check(options)


def compact_json(obj) -> str:
    """Deterministic one-line JSON (numpy and mpmath numbers converted; NaN/inf as strings)."""
    import json

    from boundcalc._io import jsonable

    return json.dumps(jsonable(obj), separators=(",", ":"), allow_nan=False)


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (the last line of a multi-line message is kept whole)."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _versions() -> dict:
    """The versions every row records (never those of whatever else happens to be imported, so
    that a row does not depend on the process it ran in)."""
    from importlib import metadata

    out = {"python": ".".join(map(str, sys.version_info[:3])), "numpy": np.__version__}
    try:
        out["boundcalc"] = metadata.version("boundcalc")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        out["boundcalc"] = "unknown"
    return out


def _clean_metric(value):
    """Numbers become floats (one column type whatever the row), NaN/inf stay floats; lists of
    numbers become lists of floats (None for a missing entry)."""
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return bool(value) if isinstance(value, np.bool_) else value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [None if v is None else float(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    return str(value)


def execute(command: Command, task: Task) -> dict:
    """Run one task; return its row (inputs, outputs, status, error, timing, versions, device)."""
    started = datetime.now(timezone.utc)
    t0, c0 = time.perf_counter(), time.thread_time()
    row = _identity(task)
    try:
        out = command.function(dict(task.options), task.base_seed, task.seed_index)
        if not isinstance(out, TaskOutput):
            raise TypeError(f"command {command.name} returned {type(out).__name__}, not TaskOutput")
        metrics = {name: _clean_metric(v) for name, v in out.metrics.items()}
        checks = [{"name": str(c["name"]), "passed": bool(c["passed"])} for c in out.checks]
        row.update(status=STATUS_OK, error=None, device=out.device,
                   checks=compact_json(checks), checks_passed=all(c["passed"] for c in checks) if checks else None,
                   result=compact_json(out.result), metrics=metrics, traceback=None,
                   extra_versions={str(k): str(v) for k, v in out.versions.items()})
    except Exception as exc:  # noqa: BLE001 - a failed task is a row, not a stopped sweep
        row.update(status=STATUS_FAILED, error=one_line(exc), device=None, checks=None, checks_passed=None,
                   result=None, metrics={}, traceback="".join(traceback.format_exception(exc))[-4000:])
    row.update(versions=compact_json({**_versions(), **(row.pop("extra_versions", None) or {})}),
               started=started.isoformat(timespec="milliseconds"),
               seconds=time.perf_counter() - t0, cpu_seconds=time.thread_time() - c0, host=socket.gethostname(), worker=str(os.getpid()))
    return row


def failed_row(task: Task, error: str) -> dict:
    """The row of a task that did not come back (its worker died, the cluster refused it)."""
    return {**_identity(task), "status": STATUS_FAILED, "error": error, "device": None, "checks": None, "checks_passed": None,
            "result": None, "metrics": {}, "versions": None, "started": None, "seconds": math.nan, "cpu_seconds": math.nan,
            "host": None, "worker": None, "traceback": None}


def _identity(task: Task) -> dict:
    return {"task_key": task.key, "config_index": task.config_index, "seed_index": task.seed_index,
            "base_seed": task.base_seed, "command": task.command, "config_hash": task.config_hash,
            "options": dict(task.options)}
