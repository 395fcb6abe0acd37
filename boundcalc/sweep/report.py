"""``boundcalc sweep report``: aggregate a results table over seeds and draw its figures.

Per configuration (the varying ``in_`` columns) and per metric:

* scalar metrics: mean, standard error, a 95% Student-t interval for the mean
  (mean -+ t_{0.975, S-1} se) over the seeds with a finite value, and their count;
* list metrics (one entry per generation, ...): the element-wise mean;
* when the table has a measured final TV (``a_final``) and a bound (``bound_final``): the
  ratio measured / bound per seed, with the same summary (a paired ratio, so the common
  random numbers cancel where they can).

Figures (PNG, written atomically): ``phase_diagram.png`` (the measured diagram next to the
bound's diagram and the ratio, over the two report axes), ``curves_<axis>.png`` (every summary
metric against one axis, one line per value of the other axes, 95% intervals as bands).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc._stats import bootstrap_mean_interval

from boundcalc.sweep.metrics import BOUND, MEASURED, PREFERRED, RATIO


def summarize(values) -> dict:
    """mean, se, 95% bootstrap percentile interval of the mean (the validators' interval: it stays in
    the range of the values, so a TV interval stays in [0, 1]) and count of the finite values (NaN
    where undefined)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    k = int(x.size)
    if k == 0:
        return {"mean": math.nan, "se": math.nan, "ci95_low": math.nan, "ci95_high": math.nan, "count": 0}
    mean = float(x.mean())
    if k > 1:
        se = float(x.std(ddof=1) / math.sqrt(k))
        low, high = bootstrap_mean_interval(x)
    else:
        se = low = high = math.nan
    return {"mean": mean, "se": se, "ci95_low": low, "ci95_high": high, "count": k}


def _elementwise_mean(lists) -> list:
    rows = [l for l in lists if l is not None]
    if not rows:
        return []
    width = max(len(r) for r in rows)
    arr = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        arr[i, :len(r)] = [np.nan if v is None else v for v in r]
    with np.errstate(all="ignore"):
        counts = np.isfinite(arr).sum(axis=0)
        means = np.where(counts > 0, np.nansum(np.where(np.isfinite(arr), arr, 0.0), axis=0) / np.maximum(counts, 1),
                         np.nan)
    return [None if not np.isfinite(m) else float(m) for m in means]


@dataclass
class SweepReport:
    """The aggregated sweep: ``configurations`` (one dict per configuration), the axes, the
    files written and a readable ``text``."""

    command: str
    axes: list
    configurations: list
    files: list = field(default_factory=list)
    text: str = ""
    name: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "command": self.command, "axes": self.axes, "configurations": self.configurations,
                "files": [str(f) for f in self.files]}


def _spec_of(results) -> dict:
    path = Path(results)
    folder = path if path.is_dir() else path.parent
    spec_file = folder / "sweep.json"
    if spec_file.exists():
        try:
            return json.loads(spec_file.read_text())
        except (OSError, ValueError):
            return {}
    return {}


def aggregate(table, spec: dict | None = None) -> SweepReport:
    """Group the rows of a results table by configuration and summarise every metric over seeds."""
    spec = spec or {}
    rows = table.to_pylist()
    if not rows:
        raise BoundcalcError("the results table has no rows")
    in_cols = [c for c in table.column_names if c.startswith("in_")]
    out_cols = [c for c in table.column_names if c.startswith("out_")]
    by_config: dict = {}
    for r in rows:
        by_config.setdefault(r["config_index"], []).append(r)
    axes = list(spec.get("axes", {})) or [c[3:] for c in in_cols
                                          if len({json.dumps(r[c]) for r in rows}) > 1]
    configs = []
    for index in sorted(by_config):
        group = by_config[index]
        ok = [r for r in group if r["status"] == "ok"]
        entry = {"config_index": index, "axes": {a: group[0].get(f"in_{a}") for a in axes},
                 "seeds": len(group), "ok": len(ok), "failed": len(group) - len(ok),
                 "errors": sorted({r["error"] for r in group if r["error"]})[:3],
                 "checks_passed": sum(1 for r in ok if r["checks_passed"] is True),
                 "checks_failed": sum(1 for r in ok if r["checks_passed"] is False), "metrics": {}, "series": {}}
        for col in out_cols:
            values = [r[col] for r in ok]
            present = [v for v in values if v is not None]
            if present and all(isinstance(v, list) for v in present):
                entry["series"][col[4:]] = _elementwise_mean(present)
            elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
                entry["metrics"][col[4:]] = summarize(present)
            elif present and all(isinstance(v, bool) for v in present):
                entry["metrics"][col[4:]] = summarize([float(v) for v in present])
        if f"out_{MEASURED}" in out_cols and f"out_{BOUND}" in out_cols:
            ratios = []
            for r in ok:
                m, b = r[f"out_{MEASURED}"], r[f"out_{BOUND}"]
                if m is not None and b is not None and math.isfinite(m) and math.isfinite(b) and b > 0:
                    ratios.append(m / b)
            entry["metrics"][RATIO] = summarize(ratios)
        configs.append(entry)
    report = SweepReport(command=rows[0]["command"], axes=axes, configurations=configs, name=spec.get("name", ""))
    report.text = _text(report)
    return report


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _text(report: SweepReport) -> str:
    shown = [m for m in PREFERRED if any(m in c["metrics"] for c in report.configurations)][:3]
    if not shown:
        first = report.configurations[0]["metrics"]
        shown = list(first)[:3]
    head = report.axes + ["ok/seeds"] + [f"{m} mean [95% CI]" for m in shown]
    lines = []
    for c in report.configurations:
        cells = [_fmt(c["axes"][a]) for a in report.axes] + [f"{c['ok']}/{c['seeds']}"]
        for m in shown:
            s = c["metrics"].get(m)
            if s is None or s["count"] == 0:
                cells.append("-")
            elif s["count"] > 1:
                cells.append(f"{_fmt(s['mean'])} [{_fmt(s['ci95_low'])}, {_fmt(s['ci95_high'])}]")
            else:
                cells.append(_fmt(s["mean"]))
        lines.append(cells)
    widths = [max(len(str(h)), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
    out = [f"sweep {report.command}: {len(report.configurations)} configurations, "
           f"{sum(c['seeds'] for c in report.configurations)} rows "
           f"({sum(c['failed'] for c in report.configurations)} failed); means over seeds"]
    out.append("  ".join(str(h).rjust(w) for h, w in zip(head, widths)))
    out += ["  ".join(cell.rjust(w) for cell, w in zip(l, widths)) for l in lines]
    errors = sorted({e for c in report.configurations for e in c["errors"]})
    out += [f"error: {e}" for e in errors[:5]]
    return "\n".join(out)


def merged_outputs(table, spec: dict, commands: dict) -> dict:
    """config_index -> the JSON text of the command run once over all seeds of that
    configuration, for commands that have a ``merge`` (from the ``result`` of the ok rows)."""
    rows = table.to_pylist()
    if not rows:
        return {}
    command = commands.get(rows[0]["command"]) if commands else None
    if command is None or command.merge is None:
        return {}
    out = {}
    groups: dict = {}
    for r in rows:
        groups.setdefault(r["config_index"], []).append(r)
    for index, group in sorted(groups.items()):
        ok = sorted((r for r in group if r["status"] == "ok"), key=lambda r: r["seed_index"])
        if not ok:
            continue
        options = json.loads(ok[0]["config"])
        seeds = spec.get("seeds", max(r["seed_index"] for r in group) + 1)
        out[index] = command.merge(options, ok[0]["base_seed"], seeds, [json.loads(r["result"]) for r in ok])
    return out


def write_report(results, out, commands: dict | None = None) -> SweepReport:
    """Aggregate the sweep in ``results`` (folder or results.parquet) and write ``report.json``
    and the figures into ``out``; with ``commands`` (the registry the sweep ran with), a
    command's ``merge`` also writes ``merged/config-<index>.json`` per configuration (the
    command's own JSON over all seeds).  Returns the :class:`SweepReport`."""
    from boundcalc._io import dumps, write_atomic
    from boundcalc.sweep.plots import draw_curves, draw_phase_diagram
    from boundcalc.sweep.table import read_results

    spec = _spec_of(results)
    table = read_results(results)
    report = aggregate(table, spec)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise BoundcalcError(f"--out {out}: exists and is not a folder")
    numeric = [a for a in report.axes
               if all(isinstance(c["axes"][a], (int, float)) and not isinstance(c["axes"][a], bool)
                      for c in report.configurations)]
    want = spec.get("report", {})
    x = want.get("x") or (numeric[0] if numeric else None)
    y = want.get("y") or next((a for a in numeric if a != x), None)
    files = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if x is not None and y is not None:
            path = draw_phase_diagram(report, x, y, folder / "phase_diagram.png")
            if path is not None:
                files.append(path)
        for axis in numeric:
            path = draw_curves(report, axis, folder / f"curves_{axis}.png")
            if path is not None:
                files.append(path)
        for index, text in merged_outputs(table, spec, commands or {}).items():
            files.append(write_atomic(folder / "merged" / f"config-{index:04d}.json", text))
        report.files = files + [folder / "report.json"]
        write_atomic(folder / "report.json", dumps(report.to_dict()))
    except OSError as exc:
        raise BoundcalcError(f"--out {out}: cannot write the report ({exc.strerror or exc})") from None
    return report
