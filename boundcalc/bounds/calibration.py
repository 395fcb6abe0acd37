"""Calibration files read by the learners: calibrated constants of lemma D1 and tables of eps(N)
[calibrated: constants and errors fitted to or measured on runs, never proved].

Two readers, each detecting the format of a JSON file by its content (this module reads the
files itself: the bounds layer does not import the validators that write them):

* :func:`read_d1_constants` (``bound --learner diffusion --constants FILE``,
  ``Diffusion.from_calibration(FILE)``) accepts

  - the ``--json`` output of ``boundcalc validate diffusion early-stopping``: an object with
    ``"experiment": "early-stopping"`` and ``"d1_fit"``, whose ``"constants"`` holds the calibrated
    constants of lemma D1 (``null`` for a constant the data could not determine: its term is left
    out, i.e. 0, as in the fitted expression), ``"fitted"`` (true when c_stat and c_opt are
    determined) and ``"settings"`` (horizon, width rule, sizes and tau range of the runs);
  - a small JSON object of named constants, ``{"c_stat": 1e-13, "c_opt": 1300, "c_approx": 0.05}``:
    keys among ``c_stat, c_width, c_opt, c_mc, c_approx, c_prior``; ``c_stat`` and ``c_opt``
    required (numbers > 0), the others numbers >= 0 or ``null`` (0 when absent: the expression of
    the file has no such term).  Any other key is refused with one line naming it and the valid ones.

* :func:`read_table_points` (``bound --learner table --table FILE``) accepts, besides the CSV read
  by :meth:`boundcalc.bounds.learners.Table.from_csv`, the ``--json`` output of
  ``boundcalc validate diffusion calibrate``: an object with ``"experiment": "calibrate"`` and
  ``"calibration": {"ns": [...], "eps": {"N": {"mean": ...}}}``.  The table is the *measured*
  generation-1 errors eps(N) (their means over seeds) at the measured sizes N, not the fitted
  ``C N^-alpha``: between and beyond the points the table learner's own rules apply (step envelope,
  no extrapolation).  Any other JSON is refused with one line naming the accepted formats.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from boundcalc._checks import BoundcalcError

#: the named constants of lemma D1, in the order of the catalogue's statement
D1_CONSTANT_NAMES = ("c_stat", "c_width", "c_opt", "c_mc", "c_approx", "c_prior")
#: the constants a calibration must give (lemma D2's tau* needs both > 0)
REQUIRED = ("c_stat", "c_opt")


@dataclass(frozen=True)
class CalibratedConstants:
    """Calibrated constants of lemma D1 read from ``source``.

    ``constants`` has all six names (0.0 for a term the file leaves out); ``settings`` the
    validator's settings the constants were fitted at (empty for a file of named constants);
    ``left_out`` the names set to 0 because the file had no value for them, with the file's reason
    where it gives one."""

    constants: dict
    source: str
    kind: str  # "early-stopping" or "constants"
    settings: dict = field(default_factory=dict)
    left_out: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the assumptions of a calibrated bound."""
        where = ("the calibrated D1 envelope of `validate diffusion early-stopping`" if self.kind == "early-stopping"
                 else "a file of named constants")
        text = (f"calibrated: the D1 constants were fitted to measurements in {self.source} ({where}); a "
                "calibrated bound, not a proved one")
        s = self.settings
        if s:
            rule = (f"m = {s['width_ratio']:g} n" if s.get("width_ratio") is not None else f"m = {s.get('width')}")
            text += (f"; fitted at horizon T = {s.get('horizon')}, {rule}, n in {s.get('ns')}, tau in "
                     f"[{s['tau_range'][0]:g}, {s['tau_range'][1]:g}] (validator units), sampler {s.get('sampler')}"
                     + (" (the law of the probability-flow ODE, not the reverse-time SDE's law of D1)"
                        if s.get("sampler") == "ode" else ""))
        if self.left_out:
            text += "; terms left out (0): " + ", ".join(sorted(self.left_out))
        return text


def _load_json(path, what: str):
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as exc:
        raise BoundcalcError(f"{what}: cannot read {path}: {exc.strerror}")
    try:
        return json.loads(text)
    except ValueError:
        return None


def _number(path, name, value, positive: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        raise BoundcalcError(f"constants file {path}: {name} must be a finite number "
                             f"{'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def read_d1_constants(path) -> CalibratedConstants:
    """The calibrated D1 constants of ``path`` (an early-stopping result or a file of named
    constants; the module docstring states both schemas)."""
    data = _load_json(path, "constants file")
    if not isinstance(data, dict):
        raise BoundcalcError(f"constants file {path}: not a JSON object (expected the --json output of "
                             "`validate diffusion early-stopping` or {\"c_stat\": .., \"c_opt\": .., ...})")
    if "experiment" in data:
        return _from_early_stopping(path, data)
    unknown = sorted(set(data) - set(D1_CONSTANT_NAMES))
    if unknown:
        raise BoundcalcError(f"constants file {path}: unknown key(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(D1_CONSTANT_NAMES)}")
    missing = [k for k in REQUIRED if data.get(k) is None]
    if missing:
        raise BoundcalcError(f"constants file {path}: {' and '.join(missing)} required (lemma D2's tau* needs "
                             "c_stat > 0 and c_opt > 0)")
    constants, left_out = {}, {}
    for k in D1_CONSTANT_NAMES:
        if data.get(k) is None:
            constants[k] = 0.0
            left_out[k] = "not in the file"
        else:
            constants[k] = _number(path, k, data[k], k in REQUIRED)
    return CalibratedConstants(constants, str(path), "constants", {}, left_out)


def _from_early_stopping(path, data) -> CalibratedConstants:
    if data.get("experiment") != "early-stopping":
        raise BoundcalcError(f"constants file {path}: a result of `validate diffusion {data.get('experiment')}`; "
                             "constants come from `validate diffusion early-stopping --json` (or a JSON object "
                             "of named constants)")
    d1 = data.get("d1_fit") or {}
    if "constants" not in d1:
        raise BoundcalcError(f"constants file {path}: this early-stopping result has no calibrated D1 constants "
                             "(written before the envelope fit); run `validate diffusion early-stopping --json` again")
    if not d1.get("fitted"):
        raise BoundcalcError(f"constants file {path}: {d1.get('reason') or 'the D1 constants were not determined'}")
    constants, left_out = {}, {}
    undetermined = d1.get("undetermined") or {}
    for k in D1_CONSTANT_NAMES:
        value = d1["constants"].get(k)
        if value is None:
            constants[k] = 0.0
            left_out[k] = undetermined.get(k, "not determined by the runs")
        else:
            constants[k] = _number(path, k, value, k in REQUIRED)
    return CalibratedConstants(constants, str(path), "early-stopping", dict(d1.get("settings") or {}), left_out)


def read_table_points(path):
    """``(points, label)`` of a JSON table file (the result of ``validate diffusion calibrate``), or
    None when ``path`` is not JSON (the caller reads it as CSV)."""
    data = _load_json(path, "table")
    if data is None:
        return None
    if not (isinstance(data, dict) and data.get("experiment") == "calibrate" and isinstance(data.get("calibration"), dict)):
        what = f"a result of `validate diffusion {data.get('experiment')}`" if isinstance(data, dict) and data.get(
            "experiment") else "JSON of another kind"
        raise BoundcalcError(f"table: {path} is {what}; --table takes a CSV of N and eps(N) or the --json output "
                             "of `validate diffusion calibrate`")
    cal = data["calibration"]
    try:
        points = tuple((float(n), float(cal["eps"][str(n)]["mean"])) for n in cal["ns"])
    except (KeyError, TypeError, ValueError):
        raise BoundcalcError(f"table: {path}: its calibration has no measured eps per N (keys ns, eps)")
    bad = [n for n, e in points if not (math.isfinite(e) and e >= 0)]
    if bad:
        raise BoundcalcError(f"table: {path}: no finite measured eps at N = {', '.join(f'{n:g}' for n in bad)}")
    return points, (f"{path}: calibrated, the measured generation-1 TV errors (means over seeds) of `validate "
                    "diffusion calibrate`")
