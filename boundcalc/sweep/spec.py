"""The sweep specification: one command, fixed options, axes, seeds (read from TOML).

A spec file::

    command = "validate kde"      # bound | solve | phase | validate kde | validate diffusion loop | ...
    seeds = 3                     # seed indices k = 0..seeds-1 for every configuration
    base_seed = 0                 # unit k uses numpy.random.SeedSequence([base_seed, k])

    [fixed]                       # options shared by every configuration
    scheme = "mix"
    generations = 3

    [axes]                        # the configurations are the Cartesian product, in this order
    n_real = [200, 400]                               # a list
    n_synth = { start = 0, stop = 800, step = 400 }   # arithmetic, stop included when it lands
    bandwidth = { start = 0.05, stop = 0.5, num = 4, log = true }   # num points, geometric

    [report]                      # optional: the axes of the phase diagram (default: the first two)
    x = "n_synth"
    y = "n_real"

A range whose ``start`` and ``stop`` (and ``step``) are TOML integers gives integers; a
log-range between integers is rounded to integers (repeated values dropped).  Option names are
those of the command (``boundcalc sweep --list`` prints them); ``seeds`` and ``seed`` are
not options: every (configuration, seed index) is one task.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from boundcalc._checks import BoundcalcError

#: largest number of (configuration, seed) tasks a spec may describe
MAX_TASKS = 1_000_000
SPEC_KEYS = ("command", "seeds", "base_seed", "fixed", "axes", "report", "name")


def _scalar_ok(value) -> bool:
    return isinstance(value, (bool, int, float, str)) or (
        isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _number(name: str, key: str, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BoundcalcError(f"axes.{name}.{key} must be a finite number, got {value!r}")
    return value


def expand_axis(name: str, value) -> list:
    """The values of one axis: a non-empty list, or a table ``{start, stop, step}`` (arithmetic,
    ``stop`` included when it lands within 1e-9 of a step) or ``{start, stop, num[, log]}``
    (``num`` points, linear or geometric, both ends included)."""
    if isinstance(value, list):
        if not value:
            raise BoundcalcError(f"axes.{name} is an empty list; give at least one value")
        for v in value:
            if not _scalar_ok(v):
                raise BoundcalcError(f"axes.{name}: value {v!r} is not a number, string, boolean or list of numbers")
        return list(value)
    if not isinstance(value, dict):
        raise BoundcalcError(f"axes.{name} must be a list or a table {{start, stop, step}} / "
                             f"{{start, stop, num, log}}, got {value!r}")
    unknown = sorted(set(value) - {"start", "stop", "step", "num", "log"})
    if unknown:
        raise BoundcalcError(f"axes.{name}: unknown key(s) {', '.join(unknown)} (valid: start, stop, step, num, log)")
    if "start" not in value or "stop" not in value or ("step" in value) == ("num" in value):
        raise BoundcalcError(f"axes.{name} needs start, stop and exactly one of step or num")
    start, stop = _number(name, "start", value["start"]), _number(name, "stop", value["stop"])
    integers = isinstance(start, int) and isinstance(stop, int)
    if "step" in value:
        if value.get("log"):
            raise BoundcalcError(f"axes.{name}: log = true takes num (points), not step")
        step = _number(name, "step", value["step"])
        if step == 0 or (stop - start) * step < 0:
            raise BoundcalcError(f"axes.{name}.step = {step} does not lead from start = {start} to stop = {stop}")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        if count > MAX_TASKS:
            raise BoundcalcError(f"axes.{name}: {count} values, more than {MAX_TASKS}")
        if integers and isinstance(step, int):
            return [start + i * step for i in range(count)]
        return [float(start + i * step) for i in range(count)]
    num = value["num"]
    if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= MAX_TASKS:
        raise BoundcalcError(f"axes.{name}.num must be an integer in [1, {MAX_TASKS}], got {num!r}")
    if value.get("log"):
        if start <= 0 or stop <= 0:
            raise BoundcalcError(f"axes.{name}: a log range needs start > 0 and stop > 0, got {start}, {stop}")
        ratio = (stop / start) ** (1.0 / (num - 1)) if num > 1 else 1.0
        values = [start * ratio ** i for i in range(num)]
        values[-1] = stop if num > 1 else values[-1]
    else:
        values = [start + (stop - start) * i / (num - 1) for i in range(num)] if num > 1 else [start]
    if integers:
        out = []
        for v in values:
            r = int(round(v))
            if r not in out:
                out.append(r)
        return out
    return [float(v) for v in values]


@dataclass(frozen=True)
class Task:
    """One (configuration, seed index) pair: a pure unit of work.

    ``options`` are the fixed options with the axis values of the configuration; the unit's
    randomness is ``numpy.random.SeedSequence([base_seed, seed_index])``, the same for every
    configuration (common random numbers), whatever the order or the worker.
    """

    command: str
    config_index: int
    seed_index: int
    base_seed: int
    options: dict
    axes: dict
    config_hash: str

    @property
    def key(self) -> str:
        return f"{self.config_hash}/{self.seed_index}"


def config_hash(command: str, options: dict) -> str:
    text = json.dumps({"command": command, "options": options}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, checked sweep specification (see the module docstring for the TOML form)."""

    command: str
    fixed: dict = field(default_factory=dict)
    axes: dict = field(default_factory=dict)  # name -> list of values (expanded)
    seeds: int = 1
    base_seed: int = 0
    report: dict = field(default_factory=dict)
    name: str = "sweep"

    @property
    def configurations(self) -> list[dict]:
        """The axis values of every configuration, in row-major order of the axes."""
        names = list(self.axes)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.axes[n] for n in names))]

    def tasks(self) -> list[Task]:
        """Every (configuration, seed index) task, configurations outer, seeds inner."""
        out = []
        for c, axis_values in enumerate(self.configurations):
            options = {**self.fixed, **axis_values}
            h = config_hash(self.command, options)
            out += [Task(self.command, c, k, self.base_seed, options, axis_values, h) for k in range(self.seeds)]
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "command": self.command, "seeds": self.seeds, "base_seed": self.base_seed,
                "fixed": self.fixed, "axes": self.axes, "report": self.report}


def _check_int(key: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BoundcalcError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def spec_from_dict(data: dict) -> SweepSpec:
    """Check and expand a spec given as a dict (the parsed TOML)."""
    if not isinstance(data, dict):
        raise BoundcalcError(f"a sweep spec is a table (dict), got {type(data).__name__}")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise BoundcalcError(f"spec: unknown key(s) {', '.join(unknown)} (valid: {', '.join(SPEC_KEYS)})")
    command = data.get("command")
    if not isinstance(command, str) or not command.strip():
        raise BoundcalcError("spec: command is missing (e.g. command = \"validate kde\")")
    command = " ".join(command.split())
    seeds = _check_int("seeds", data.get("seeds", 1), 1)
    base_seed = _check_int("base_seed", data.get("base_seed", 0), 0)
    fixed = data.get("fixed", {})
    axes_in = data.get("axes", {})
    report = data.get("report", {})
    for key, table in (("fixed", fixed), ("axes", axes_in), ("report", report)):
        if not isinstance(table, dict):
            raise BoundcalcError(f"spec: [{key}] must be a table, got {table!r}")
    for key in ("seeds", "seed", "base_seed"):
        if key in fixed or key in axes_in:
            raise BoundcalcError(f"spec: {key} is not an option of a task; set seeds / base_seed at the top level")
    both = sorted(set(fixed) & set(axes_in))
    if both:
        raise BoundcalcError(f"spec: option(s) {', '.join(both)} are both fixed and an axis")
    for name, v in fixed.items():
        if not _scalar_ok(v):
            raise BoundcalcError(f"fixed.{name}: {v!r} is not a number, string, boolean or list of numbers")
    axes = {name: expand_axis(name, v) for name, v in axes_in.items()}
    total = seeds * math.prod(len(v) for v in axes.values())
    if total > MAX_TASKS:
        raise BoundcalcError(f"spec: {total} tasks, more than {MAX_TASKS}; split the sweep")
    for key in report:
        if key not in ("x", "y"):
            raise BoundcalcError(f"report.{key}: unknown key (valid: x, y)")
        if report[key] not in axes:
            raise BoundcalcError(f"report.{key} = {report[key]!r} is not an axis (axes: {', '.join(axes) or 'none'})")
    name = data.get("name", "sweep")
    return SweepSpec(command=command, fixed=dict(fixed), axes=axes, seeds=seeds, base_seed=base_seed,
                     report=dict(report), name=str(name))


def load_spec(source) -> SweepSpec:
    """A :class:`SweepSpec` from a spec object, a dict, a TOML file path or TOML text."""
    if isinstance(source, SweepSpec):
        return source
    if isinstance(source, dict):
        return spec_from_dict(source)
    import tomllib

    path = Path(source)
    text = None
    if isinstance(source, str) and "\n" in source or (isinstance(source, str) and "=" in source and not path.exists()):
        text = source
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BoundcalcError(f"spec {source}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoundcalcError(f"spec {source if text is not source else '(text)'}: not valid TOML ({exc})") from None
    return spec_from_dict(data)
