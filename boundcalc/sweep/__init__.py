"""Sweeps: many (configuration, seed) tasks -> Dask (or this process) -> one Parquet table -> reports.

* :func:`load_spec` / :class:`SweepSpec`: the TOML spec (command, fixed options, axes, seeds);
* :func:`run`: the engine (``executor="dask"`` with a LocalCluster (:func:`local_cluster`), a
  scheduler address or a client; ``executor="serial"``), with resume and per-task failures
  recorded;
* :func:`bound_commands`: the calculator's commands ``bound``, ``solve``, ``phase``; the
  validator commands are passed in by the caller (the command line builds them), so this
  package does not import :mod:`boundcalc.validate`;
* :func:`write_report`: aggregates over seeds and figures.

Neither dask nor pyarrow is imported until a sweep runs or a table is read.
"""

from boundcalc.sweep.commands import bound_commands
from boundcalc.sweep.engine import SweepResult, local_cluster, run
from boundcalc.sweep.report import write_report
from boundcalc.sweep.spec import SweepSpec, Task, load_spec
from boundcalc.sweep.table import read_results
from boundcalc.sweep.tasks import Command, TaskOutput, seed_sequence

__all__ = ["Command", "SweepResult", "SweepSpec", "Task", "TaskOutput", "bound_commands",
           "load_spec", "local_cluster", "read_results", "run", "seed_sequence", "write_report"]


def _make_callable() -> None:
    """``bc.sweep(spec, out=DIR)`` calls this package: its module class is the top package's
    ``_CallableSweep`` (the top package is always imported before this one)."""
    import sys

    top = sys.modules.get("boundcalc")
    if top is not None and hasattr(top, "_CallableSweep"):
        sys.modules[__name__].__class__ = top._CallableSweep


_make_callable()
