"""The one runner of the validators: units, seeds, per-unit storage, resume, out-dir, progress.

An experiment is a list of pure :class:`Unit` s (one configuration and one seed index each)
and a merge of their records.  Unit k draws its randomness from
``numpy.random.SeedSequence([seed, k, ...])`` (torch generators are seeded from it), never from
the order in which units run or the process that runs them, so the same units give the same
records serially, in local workers or on a cluster, and the merge gives the same bytes.

With ``out_dir`` every finished unit is stored at once in its own small file
``<out_dir>/units/<experiment>/<unit file name>`` (atomic write), beside ``inputs.json`` (the
configuration the units belong to): storing is O(1) per unit, so ``--out`` costs the same per
seed however many seeds there are.  ``resume=True`` reads the stored records back and runs
only the missing units; a folder made with other inputs is refused.

A unit file is written atomically (a temporary file in the same folder, renamed over the final
name: no reader ever sees half a record) but not forced to disk one by one: a unit is pure, so
its file is a cache of a recomputable result, and ``fsync`` per file cost more than the unit
itself (about 4 ms against 6-10 ms for a default KDE seed on this machine).  After a crash of the
machine (not of the process) a unit file may be empty or missing; ``--resume`` skips an
unreadable file and runs that unit again.  ``inputs.json`` and the result JSON are written with
:func:`boundcalc._io.write_atomic` (fsync).  Unit files are written by one background thread in
bursts every ``WRITE_INTERVAL`` seconds (file creation blocks in the kernel for 0.2-2 ms on this
machine, depending on its load, and overlaps the next units there); :meth:`UnitStore.flush`
writes every queued file, and the runner calls it before returning and on an interrupt,
before the interrupt propagates.  A process killed outright loses at most the last
``WRITE_INTERVAL`` seconds of units, which ``--resume`` runs again.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc._io import jsonable, write_atomic

#: version of the per-unit storage (3: one file per unit; 2 and before: one state file)
STORE_VERSION = 3
UNITS_FOLDER = "units"
INPUTS_FILE = "inputs.json"
#: the writer thread writes the queued unit files in one burst this often (seconds): waking it
#: once per unit cost more than the files (measured +16% on a default KDE run)
WRITE_INTERVAL = 0.2


def seed_rng(*keys) -> np.random.Generator:
    """The numpy generator of a unit: ``default_rng(SeedSequence([seed, k, ...]))`` for integer
    ``keys`` (the base seed, the unit's seed index, then fixed integers naming a stream inside
    the unit).  torch generators are seeded from such a generator, never from global state."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


@dataclass(frozen=True)
class Unit:
    """One pure piece of an experiment: configuration ``config``, seed index ``seed_index``.

    ``key`` is unique among the units of one configuration ("seed7", "mix(lam=0.2)/seed7");
    ``params`` holds the experiment's own hashable parameters (scheme label, n, ...).
    """

    experiment: str
    key: str
    seed_index: int
    config: object
    params: tuple = ()

    @property
    def file_name(self) -> str:
        """A file name for the unit's record, injective in ``key``."""
        return quote(self.key, safe="") + ".json"


def to_record(value) -> dict:
    """The JSON round trip of a unit's record (what is stored and what the merge reads)."""
    return json.loads(compact_json(value))


def compact_json(value) -> str:
    return json.dumps(jsonable(value), separators=(",", ":"), allow_nan=False)


def prepare_out_dir(out_dir) -> Path:
    """Create the ``--out`` folder (with parents) and make sure a file can be written in it, before
    any run starts; any OSError (an existing file of that name, no permission, a read-only or
    virtual file system) becomes a one-line :class:`BoundcalcError`."""
    path = Path(out_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".boundcalc_write_test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        what = "exists and is not a folder" if path.exists() and not path.is_dir() else "cannot be created or written"
        raise BoundcalcError(f"--out {out_dir}: {what} ({exc.strerror or exc}); choose another folder") from None
    return path


class ProgressBar:
    """``label [#####.....] done/total`` redrawn on one line of ``stream`` (stderr by default).

    Shown only when ``enabled`` (default: when the stream is a terminal), so logs, pipes and
    tests stay clean.  Use as a context manager or call :meth:`close`.
    """

    def __init__(self, total: int, label: str = "", stream=None, enabled: bool | None = None, width: int = 30):
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = (hasattr(self.stream, "isatty") and self.stream.isatty()) if enabled is None else enabled
        self.width = width
        self.done = 0

    def update(self, done: int | None = None):
        self.done = self.done + 1 if done is None else int(done)
        if not self.enabled:
            return
        filled = int(self.width * min(self.done, self.total) / self.total)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class UnitStore:
    """The per-unit record files of one experiment in ``out_dir`` (or nothing, without it).

    ``inputs`` (a JSON-ready dict) identifies the configuration.  A fresh store removes the
    records a former run left in the same folder; ``resume=True`` keeps and loads them, after
    checking that they were made with the same inputs.
    """

    def __init__(self, experiment: str, inputs: dict, out_dir=None, resume: bool = False):
        self.inputs = to_record({"version": STORE_VERSION, "experiment": experiment, "inputs": inputs})
        self.folder = Path(out_dir) / UNITS_FOLDER / experiment if out_dir is not None else None
        self.records: dict = {}
        self._pending: list = []
        self._lock = threading.Lock()
        self._thread = None
        self._error = None
        if resume and out_dir is None:
            raise BoundcalcError("--resume needs --out DIR (the folder of the interrupted run)")
        if self.folder is None:
            return
        prepare_out_dir(out_dir)
        inputs_path = self.folder / INPUTS_FILE
        try:
            if resume:
                self._load(inputs_path)
            else:
                self.folder.mkdir(parents=True, exist_ok=True)
                for old in self.folder.glob("*.json"):
                    old.unlink()
                write_atomic(inputs_path, compact_json(self.inputs))
        except OSError as exc:
            raise BoundcalcError(f"--out {out_dir}: cannot write {getattr(exc, 'filename', None) or self.folder}: "
                                 f"{exc.strerror or exc}") from None

    def _load(self, inputs_path: Path):
        if not inputs_path.exists():
            raise BoundcalcError(f"--resume: no stored run in {self.folder} (run once with --out first)")
        try:
            stored = json.loads(inputs_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise BoundcalcError(f"--resume: cannot read {inputs_path}: {exc}") from None
        if stored.get("version") != STORE_VERSION:
            raise BoundcalcError(f"--resume: {inputs_path} was written by another version of the validator; "
                                 "use a fresh --out folder")
        if stored != self.inputs:
            raise BoundcalcError(f"--resume: the run in {self.folder} was made with other inputs; "
                                 "repeat the same options or use a fresh --out folder")
        for path in sorted(self.folder.glob("*.json")):
            if path.name == INPUTS_FILE:
                continue
            try:
                stored_unit = json.loads(path.read_text())
                key, record = stored_unit["key"], stored_unit["record"]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a unit file that cannot be read (empty after a machine crash) is run again
            self.records[key] = record

    def put(self, unit: Unit, record: dict, text: str | None = None):
        """Keep ``record`` and queue its file for the writer thread (``text`` is
        ``compact_json(record)`` when the caller has it already)."""
        self.records[unit.key] = record
        if self.folder is None:
            return
        self._raise_write_error()
        if self._thread is None:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._write_loop, name="boundcalc-unit-writer", daemon=True)
            self._thread.start()
        text = compact_json(record) if text is None else text
        with self._lock:
            self._pending.append((self.folder / unit.file_name, f'{{"key":{json.dumps(unit.key)},"record":{text}}}'))

    def _write_loop(self):
        """Every WRITE_INTERVAL seconds (and once more when stopped), write the queued files."""
        while True:
            stopped = self._stop.wait(WRITE_INTERVAL)
            with self._lock:
                items, self._pending = self._pending, []
            for path, text in items:
                if self._error is None:
                    try:
                        write_atomic(path, text, fsync=False)
                    except OSError as exc:
                        self._error = (path, exc)
            if stopped:
                return

    def _raise_write_error(self):
        if self._error is not None:
            path, exc = self._error
            raise BoundcalcError(f"--out: cannot write {path}: {exc.strerror or exc}")

    def flush(self):
        """Write every queued unit file now; a failed write is a one-line error."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._raise_write_error()


def run_units(units: Iterable[Unit], run_unit: Callable, store: UnitStore, after_unit: Callable | None = None,
              **hooks) -> dict:
    """Run the units that ``store`` does not hold yet, in order, storing each record at once.

    ``run_unit(unit, **hooks)`` returns a JSON-ready record; it passes through a JSON round trip
    before it is stored, so a record read back from disk equals the one kept in memory.
    ``after_unit(unit)`` is called after each stored unit (tests use it to interrupt).  Returns
    the records by key; a ``KeyboardInterrupt`` propagates with the finished units stored.
    """
    try:
        for unit in units:
            if unit.key in store.records:
                continue
            text = compact_json(run_unit(unit, **hooks))
            store.put(unit, json.loads(text), text)
            if after_unit is not None:
                after_unit(unit)
    finally:
        store.flush()
    return store.records
