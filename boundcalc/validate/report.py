"""Reporting helpers shared by the validators: summaries over seeds, checks, the summary table,
a progress bar, and atomic result / resume-state files.

* :func:`summarize_over_seeds`: per-generation mean, standard error, a 95% Student-t interval
  for the mean and the 2.5%-97.5% spread of the seeds (NaN entries, i.e. runs that stopped on
  degenerate data, are left out and counted);
* :class:`Check`: one named pass/fail check with the numbers that decided it;
* :func:`format_table`: the readable plain-text table printed by default;
* :class:`ProgressBar`: a one-line bar on stderr, shown only on a terminal;
* :func:`save_state` / :func:`load_state`: the resume file (atomic; refused if the inputs differ);
* :func:`nan_to_none` / :func:`none_to_nan`: arrays with missing entries to and from JSON.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc._io import dumps, write_atomic


def summarize_over_seeds(values) -> dict:
    """Per-column summary of a (seeds, generations) array; NaN means "no value".

    Returns lists (one entry per generation): ``mean``, ``se`` (standard error of the mean),
    ``ci95_low``/``ci95_high`` (mean -+ t_{0.975, S-1} se), ``q025``/``q975`` (empirical
    quantiles of the seeds, linear interpolation) and ``count`` (seeds with a value).
    A column with one value has se and interval NaN; a column with none is all NaN.
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    out = {key: [] for key in ("mean", "se", "ci95_low", "ci95_high", "q025", "q975", "count")}
    for column in values.T:
        finite = column[np.isfinite(column)]
        k = finite.size
        out["count"].append(int(k))
        if k == 0:
            for key in ("mean", "se", "ci95_low", "ci95_high", "q025", "q975"):
                out[key].append(math.nan)
            continue
        mean = float(np.mean(finite))
        out["mean"].append(mean)
        out["q025"].append(float(np.quantile(finite, 0.025)))
        out["q975"].append(float(np.quantile(finite, 0.975)))
        if k > 1:
            se = float(np.std(finite, ddof=1) / np.sqrt(k))
            from scipy.special import stdtrit  # = scipy.stats.t.ppf, without importing scipy.stats
            half = float(stdtrit(k - 1, 0.975)) * se
        else:
            se = half = math.nan
        out["se"].append(se)
        out["ci95_low"].append(mean - half)
        out["ci95_high"].append(mean + half)
    return out


@dataclass
class Check:
    """A named pass/fail check: ``passed`` and the numbers behind it (``details``)."""

    name: str
    passed: bool
    statement: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": bool(self.passed), "statement": self.statement, **self.details}


def format_table(headers, rows, title: str | None = None) -> str:
    """A plain-text table; floats are printed with 4 significant digits, None/NaN as '-'."""

    def cell(v):
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return "-"
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.4g}"
        return str(v)

    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[k]) for r in text_rows)) if text_rows else len(str(h))
              for k, h in enumerate(headers)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(str(h).rjust(w) for h, w in zip(headers, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in text_rows)
    return "\n".join(lines)


def format_checks(checks) -> str:
    """One line per check: PASS/FAIL (VACUOUS for a passed check with ``vacuous`` set: nothing could
    fail, so it is no evidence), name, its ``kind`` when given, statement."""
    def verdict(c):
        if not c["passed"]:
            return "FAIL"
        return "VACUOUS" if c.get("vacuous") else "PASS"

    return "\n".join(f"  [{verdict(c)}] {c['name']}" + (f" [{c['kind']}]" if c.get("kind") else "")
                     + f": {c['statement']}" for c in checks)


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


def nan_to_none(values):
    """A list of floats with NaN replaced by None (JSON null)."""
    return [None if (v is None or not math.isfinite(float(v))) else float(v) for v in values]


def none_to_nan(values) -> np.ndarray:
    """Inverse of :func:`nan_to_none`."""
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def save_state(path, inputs: dict, runs: dict, partial: dict | None = None) -> Path:
    """Atomically write the resume state: the run ``inputs``, the finished ``runs`` (by seed index)
    and, optionally, the ``partial`` record of a run cut in the middle (informational only)."""
    state = {"inputs": inputs, "runs": {str(k): runs[k] for k in sorted(runs)}}
    if partial:
        state["partial"] = partial
    return write_atomic(path, dumps(state))


def load_state(path, inputs: dict) -> dict:
    """The finished runs of a state file, keyed by seed index; refuses a state made with other inputs."""
    path = Path(path)
    if not path.exists():
        raise BoundcalcError(f"--resume: no state file {path} (run once with --out first)")
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BoundcalcError(f"--resume: cannot read state file {path}: {exc}") from None
    if json.loads(dumps(inputs)) != state.get("inputs"):
        raise BoundcalcError(f"--resume: the state file {path} was made with other inputs; "
                             "repeat the same options or use a fresh --out folder")
    return {int(k): v for k, v in state.get("runs", {}).items()}
