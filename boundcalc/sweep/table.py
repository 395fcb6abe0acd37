"""The results table: one Parquet row per (configuration, seed), written as tasks finish.

Layout of a sweep folder::

    DIR/sweep.json             the checked spec (a resumed sweep must repeat it)
    DIR/parts/part-*.parquet   one file per flushed batch of finished tasks (atomic rename)
    DIR/results.parquet        the compacted table, sorted by (config_index, seed_index)

Every part is written to a temporary name and renamed, so a sweep killed at any moment leaves
only whole parts; :meth:`ResultStore.compact` merges the parts into ``results.parquet``
(atomically) and removes them.  When a task key appears more than once (a retried failure) the
latest row wins.

Columns: ``task_key, config_index, seed_index, base_seed, command, config_hash, config``
(the options as JSON), ``in_<option>`` (one per option, typed), ``out_<metric>`` (floats,
strings, booleans, lists of floats), then ``status, error, checks_passed, checks, device,
result`` (the command's whole output as JSON), ``versions`` and the run columns ``started,
seconds, host, worker, traceback``.  pyarrow is imported only here, lazily.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from boundcalc._checks import BoundcalcError

RESULTS_FILE = "results.parquet"
SPEC_FILE = "sweep.json"
PARTS_DIR = "parts"
ID_COLUMNS = ("task_key", "config_index", "seed_index", "base_seed", "command", "config_hash", "config")
TAIL_COLUMNS = ("status", "error", "checks_passed", "checks", "device", "result", "versions",
                "started", "seconds", "cpu_seconds", "host", "worker", "traceback")


def _pa():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the installation
        raise BoundcalcError("sweeps need pyarrow: pip install 'boundcalc[sweep]'") from None
    return pa, pq


def infer_type(values):
    """The Arrow type of a column of Python values (None = missing)."""
    pa, _ = _pa()
    present = [v for v in values if v is not None]
    if not present:
        return pa.null()
    if all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.float64()
    if all(isinstance(v, str) for v in present):
        return pa.string()
    if all(isinstance(v, list) and all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))
                                       for x in v) for v in present):
        return pa.list_(pa.float64())
    return pa.string()  # mixed kinds: each value as JSON text


def _column(values, typ):
    pa, _ = _pa()
    if pa.types.is_string(typ) and any(v is not None and not isinstance(v, str) for v in values):
        values = [None if v is None else json.dumps(v) for v in values]
    elif pa.types.is_floating(typ):
        values = [None if v is None else float(v) for v in values]
    elif pa.types.is_list(typ):
        values = [None if v is None else [None if x is None else float(x) for x in v] for v in values]
    return pa.array(values, type=typ)


def input_types(tasks) -> dict:
    """Arrow type of every ``in_<option>`` column, from all tasks of the spec (so that every part
    of one sweep has the same input schema)."""
    names = []
    for t in tasks:
        for k in t.options:
            if k not in names:
                names.append(k)
    return {name: infer_type([t.options.get(name) for t in tasks]) for name in names}


def rows_to_table(rows: list[dict], in_types: dict):
    """An Arrow table of finished-task rows (see the module docstring for the columns)."""
    pa, _ = _pa()
    from boundcalc.sweep.tasks import compact_json

    columns = {}
    for name in ID_COLUMNS[:-1]:
        columns[name] = [r[name] for r in rows]
    columns["config"] = [compact_json(r["options"]) for r in rows]
    arrays = {name: pa.array(values) for name, values in columns.items()}
    for name in sorted(in_types):
        arrays[f"in_{name}"] = _column([r["options"].get(name) for r in rows], in_types[name])
    metric_names = sorted({m for r in rows for m in r["metrics"]})
    for name in metric_names:
        values = [r["metrics"].get(name) for r in rows]
        arrays[f"out_{name}"] = _column(values, infer_type(values))
    for name in TAIL_COLUMNS:
        values = [r.get(name) for r in rows]
        typ = {"checks_passed": pa.bool_(), "seconds": pa.float64(), "cpu_seconds": pa.float64()}.get(name, pa.string())
        arrays[name] = _column(values, typ)
    return pa.table(arrays)


def _unify(tables: list):
    """Concatenate tables whose columns may differ (a metric absent from a batch, a column of
    nulls, int beside float): columns in canonical order, one type per column."""
    pa, _ = _pa()
    types: dict = {}
    for t in tables:
        for f in t.schema:
            types.setdefault(f.name, set()).add(f.type)
    final = {}
    for name, ts in types.items():
        real = {t for t in ts if not pa.types.is_null(t)}
        if not real:
            final[name] = pa.null()
        elif len(real) == 1:
            final[name] = real.pop()
        elif all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in real):
            final[name] = pa.float64()
        else:
            final[name] = pa.string()
    order = [c for c in ID_COLUMNS if c in final]
    order += sorted(c for c in final if c.startswith("in_"))
    order += sorted(c for c in final if c.startswith("out_"))
    order += [c for c in TAIL_COLUMNS if c in final]
    order += sorted(c for c in final if c not in order)
    out = []
    for t in tables:
        cols = []
        for name in order:
            typ = final[name]
            if name not in t.column_names:
                cols.append(pa.nulls(t.num_rows, type=typ))
                continue
            col = t.column(name).combine_chunks() if t.num_rows else pa.array([], type=t.schema.field(name).type)
            if col.type != typ:
                if pa.types.is_string(typ) and not pa.types.is_null(col.type):
                    col = pa.array([None if v is None else json.dumps(v) for v in col.to_pylist()], type=typ)
                else:
                    col = col.cast(typ)
            cols.append(col)
        out.append(pa.table(cols, names=order))
    return pa.concat_tables(out) if out else None


def canonical(table):
    """Rows sorted by (config_index, seed_index), one chunk per column."""
    import pyarrow.compute as pc

    idx = pc.sort_indices(table, sort_keys=[("config_index", "ascending"), ("seed_index", "ascending")])
    return table.take(idx).combine_chunks()


class ResultStore:
    """The Parquet files of one sweep folder."""

    def __init__(self, out_dir, in_types: dict | None = None):
        self.dir = Path(out_dir)
        self.parts = self.dir / PARTS_DIR
        self.results = self.dir / RESULTS_FILE
        self.in_types = in_types or {}
        self._sequence = 0

    def prepare(self) -> None:
        """Create the folder and make sure it can be written (one-line error otherwise)."""
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=self.parts)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise BoundcalcError(f"--out {self.dir}: cannot be created or written ({exc.strerror or exc})") from None

    def part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []

    def write_part(self, rows: list[dict]) -> Path:
        """Write finished rows as one new part (temporary file, then rename)."""
        _, pq = _pa()
        self._sequence += 1
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{self._sequence:06d}.parquet"
        path = self.parts / name
        fd, tmp = tempfile.mkstemp(prefix=".part.", suffix=".tmp", dir=self.parts)
        os.close(fd)
        try:
            pq.write_table(rows_to_table(rows, self.in_types), tmp)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    def read(self, columns: list | None = None):
        """Every stored row (results file and parts; the latest row of a task key wins), in
        canonical order; None when nothing is stored.  ``columns``: read only these (the
        identity and order columns are added)."""
        pa, pq = _pa()
        if columns is not None:
            columns = list(dict.fromkeys(["task_key", "config_index", "seed_index", *columns]))
        tables = []
        if self.results.exists():
            tables.append(pq.read_table(self.results, columns=columns))
        tables += [pq.read_table(p, columns=columns) for p in self.part_files()]
        if not tables:
            return None
        table = _unify(tables)
        keys = table.column("task_key").to_pylist()
        last = {k: i for i, k in enumerate(keys)}
        if len(last) != len(keys):
            table = table.take(pa.array(sorted(last.values()), type=pa.int64()))
        return canonical(table)

    def done(self) -> dict:
        """task_key -> status of every stored row."""
        table = self.read(columns=["status"])
        if table is None:
            return {}
        return dict(zip(table.column("task_key").to_pylist(), table.column("status").to_pylist()))

    def compact(self) -> Path | None:
        """Merge the parts into ``results.parquet`` (atomically) and remove them."""
        _, pq = _pa()
        parts = self.part_files()
        if not parts and self.results.exists():
            return self.results
        table = self.read()
        if table is None:
            return None
        fd, tmp = tempfile.mkstemp(prefix=".results.", suffix=".tmp", dir=self.dir)
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, self.results)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        for p in parts:
            p.unlink(missing_ok=True)
        return self.results


def read_results(path):
    """The results table of a sweep folder (or of a ``results.parquet`` file), parts included."""
    path = Path(path)
    if path.is_dir():
        table = ResultStore(path).read()
        if table is None:
            raise BoundcalcError(f"{path}: no results (neither {RESULTS_FILE} nor parts/)")
        return table
    if not path.exists():
        raise BoundcalcError(f"{path}: no such file or folder")
    _, pq = _pa()
    try:
        return pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds
        raise BoundcalcError(f"{path}: not a Parquet results table ({exc})") from None
