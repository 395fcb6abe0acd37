"""The phase-transition experiment (``boundcalc validate phase``): a measured diagram of
a_2 = TV(p_2, p0) over (real size n_real) x (synthetic size n_synth) beside the bound's diagram of
the calculator (``boundcalc phase``, the same learner), for the Gaussian KDE and for the
random-feature diffusion model.

Design (so that a peak can be seen if there is one):

* the learner is the one ``boundcalc phase`` bounds:

  - ``kde``: a Gaussian KDE with the fixed bandwidth h = K3(n_real) (lemma K3's choice for n_real
    samples of p0, the same at both generations), measured on a grid against the exact p0
    (the KDE validator, :mod:`boundcalc.validate.kde`);
  - ``diffusion``: the torch random-feature diffusion model of ``validate diffusion`` (width m,
    horizon T, training time chosen by held-out denoising loss, probability-flow ODE sampler),
    its law measured by certified inversion on cells (:mod:`boundcalc.validate.diffusion`); the
    bound is ``boundcalc phase --learner diffusion --draw iid --width m --horizon T --delta-exponent 0``
    with the D1 constants at their defaults (1: the shape of the bound, not calibrated);

* target p0 = the bimodal default; generation 1 trains on n_real samples of p0, generation 2 on
  n_real + n_synth points of the mixture q_2 = lam p0 + (1 - lam) p_1, lam = n_real / (n_real + n_synth),
  with fresh real data: for the KDE exactly n_real real and n_synth synthetic points (stratified, as its
  lemmas need), for the diffusion model i.i.d. draws of q_2 (each point real with probability lam,
  ``draw="iid"``, as lemma D1 needs); the bound beside the measurement is for the same loop (:data:`DRAW`);
* the columns bracket the bound's threshold n_synth*: for the KDE multiples of n_real (the
  threshold is about 4 n_real), for the diffusion model multiples of the row's own threshold
  (0, s*/4, s*/2, s*, 2 s*), or fixed multiples of n_real where the bound has no threshold or
  refuses (its reason is printed);
* enough seeds to resolve a rise: the 95% interval of each cell's mean a_2 (bootstrap percentile,
  in [0, 1]) has a half-width reported beside the target half-width; the rise is judged from the
  paired differences a_2(n_synth) - a_2(0) of the same seed indices (common random numbers: the
  same generation-1 data and model), with their bootstrap interval.

Units: one per (row, column, seed index k), each a two-generation loop seeded from
``SeedSequence([seed, k, ...])`` exactly as the learner's own validator seeds its seed k, so the
cells share their seeds' generation 1.  :func:`validate_phase` stores each finished unit in
``--out`` and ``--resume`` runs only the missing ones (same JSON bytes).

Labels: the measured a_2 are "measured"; the bound's curve is the calculator's theorem (proved,
hypotheses on p0 and the learner; for the diffusion model the D1 constants are not calibrated).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from boundcalc._checks import BoundcalcError, check_choice, check_positive, check_positive_int, check_probability
from boundcalc._io import write_atomic
from boundcalc.validate.checks import format_checks
from boundcalc.validate.result import ValidationResult
from boundcalc.validate.runner import ProgressBar, Unit, UnitStore, run_units, to_record
from boundcalc.validate.summary import BOOTSTRAP_INTERVAL, bootstrap_mean_interval, format_table

EXPERIMENT = "phase"
LEARNERS = ("kde", "diffusion")
DEFAULT_N_REALS = {"kde": (250, 500, 1000), "diffusion": (100, 200)}
DEFAULT_RATIOS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
#: diffusion columns: multiples of the row's bound threshold n_synth*
DEFAULT_MULTIPLES = (0.0, 0.25, 0.5, 1.0, 2.0)
DEFAULT_SEEDS = {"kde": 44, "diffusion": 6}
#: the diffusion model's width m (the validator's default), also the bound learner's
DEFAULT_WIDTH = 256
#: the target half-width of each cell's 95% interval (the issue's design number); the diffusion
#: default run (6 seeds, under a minute) is a smoke run with the looser target of its own
TARGET_HALF_WIDTH = 0.02
DEFAULT_HALF_WIDTH = {"kde": TARGET_HALF_WIDTH, "diffusion": 0.15}
#: the folder (inside ``--out``) holding one record file per unit
UNITS_DIR = f"units/{EXPERIMENT}"


def result_file(learner: str) -> str:
    """The JSON file of a run in ``--out``: ``kde_phase.json`` or ``diffusion_phase.json``."""
    return f"{learner}_phase.json"


@dataclass(frozen=True)
class PhaseConfig:
    """Inputs of ``boundcalc validate phase`` (validated by :meth:`checked`).

    ``ratios`` (n_synth / n_real, must include 0) fixes the columns of every row; without it the
    KDE uses :data:`DEFAULT_RATIOS` and the diffusion model ``multiples`` of each row's bound
    threshold (:data:`DEFAULT_MULTIPLES`; :data:`DEFAULT_RATIOS` for a row without a threshold).
    """

    validator = "phase"

    learner: str = "kde"
    n_reals: tuple | None = None
    ratios: tuple | None = None
    multiples: tuple | None = None
    seeds: int | None = None
    seed: int = 0
    delta: float = 0.05
    grid_size: int | None = None
    width: int | None = None
    half_width: float | None = None

    def checked(self) -> "PhaseConfig":
        check_choice("learner", self.learner, LEARNERS)
        n_reals = tuple(check_positive_int("n_real", n, minimum=2) for n in
                        (self.n_reals or DEFAULT_N_REALS[self.learner]))
        seeds = check_positive_int("seeds", DEFAULT_SEEDS[self.learner] if self.seeds is None else self.seeds,
                                   minimum=2)
        ratios = None if self.ratios is None else _columns("ratios", self.ratios)
        multiples = None if self.multiples is None else _columns("multiples", self.multiples)
        if self.learner == "kde" and multiples is not None:
            raise BoundcalcError("multiples (--multiples) apply to --learner diffusion (columns at multiples of the "
                                 "bound's threshold); the KDE takes --ratios")
        if ratios is not None and multiples is not None:
            raise BoundcalcError("give ratios (--ratios) or multiples (--multiples), not both")
        if self.learner == "kde" and self.width is not None:
            raise BoundcalcError("width (--width) applies to --learner diffusion")
        if self.learner == "diffusion" and self.grid_size is not None:
            raise BoundcalcError("grid_size applies to --learner kde")
        width = None if self.learner == "kde" else check_positive_int(
            "width", DEFAULT_WIDTH if self.width is None else self.width, minimum=2)
        return PhaseConfig(learner=self.learner, n_reals=n_reals, ratios=ratios, multiples=multiples, seeds=seeds,
                           seed=check_positive_int("seed", self.seed, minimum=0),
                           delta=float(check_probability("delta", self.delta)),
                           grid_size=None if self.grid_size is None else int(self.grid_size), width=width,
                           half_width=float(check_positive("half_width", DEFAULT_HALF_WIDTH[self.learner]
                                                           if self.half_width is None else self.half_width)))

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("n_reals", "ratios", "multiples"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d


def _columns(name, values) -> tuple:
    out = sorted(float(r) for r in values)
    if not out or out[0] != 0.0 or any(not (math.isfinite(r) and r >= 0) for r in out):
        raise BoundcalcError(f"{name} must be finite numbers >= 0 and include 0 (the reference), got {out}")
    return tuple(out)


def phase_config(**options) -> PhaseConfig:
    """A checked :class:`PhaseConfig` from keyword options (those of ``validate phase``, underscores)."""
    return PhaseConfig(**options).checked()


# -- the bound and the columns of each row ----------------------------------------------------------
def diffusion_model_config(config: PhaseConfig):
    """The :class:`~boundcalc.validate.diffusion.loop.DiffusionConfig` of the measured diffusion loops."""
    from boundcalc.validate.diffusion.loop import DiffusionConfig

    return DiffusionConfig(width=config.width).checked()


def bound_learner(config: PhaseConfig):
    """The learner ``boundcalc phase`` bounds for this experiment: the KDE with h = K3(n_real), or the
    diffusion model of width m and the measured model's horizon T with the D1 constants at their
    defaults of 1 and no confidence factor (``delta_exponent = 0``, lemma D4): the *shape* of the
    bound in n_synth, which is what the diagram compares (with constants of 1 the value is not one)."""
    from boundcalc.bounds.learners import KDE, Diffusion

    if config.learner == "kde":
        return KDE("bimodal", bandwidth="auto")
    return Diffusion(width=config.width, horizon=diffusion_model_config(config).horizon, delta_exponent=0)


#: how each learner's generation-2 training set is drawn, in the loops measured and in the bound beside
#: them: the KDE's lemmas are proved for exact block counts; lemma D1 for N i.i.d. draws of q_2
DRAW = {"kde": "stratified", "diffusion": "iid"}


def bound_phase(config: PhaseConfig, n_real: int):
    """``(PhaseResult, None)`` from ``boundcalc phase`` at generation 2 for the loop that is measured
    (training sets drawn as :data:`DRAW` says), or ``(None, reason)``: the calculator's one-line refusal."""
    from boundcalc.bounds.phase import phase_transition

    try:
        return phase_transition(bound_learner(config), n_real, generation=2, delta=config.delta,
                                draw=DRAW[config.learner]), None
    except BoundcalcError as exc:
        return None, str(exc)


@dataclass(frozen=True)
class Row:
    """One row of the diagram: n_real, the bound (or the reason it is refused) and the columns
    ``(label, n_synth)``, the first at n_synth = 0."""
    n_real: int
    phase: object
    reason: str | None  # the refusal (phase None) or a note on the bound shown
    columns: tuple


_PLANS: dict = {}


def plan(config: PhaseConfig) -> list[Row]:
    """The rows of a checked configuration (deterministic; memoised per configuration)."""
    if config in _PLANS:
        return _PLANS[config]
    rows = []
    for n in config.n_reals:
        ph, reason = bound_phase(config, n)
        threshold = None if ph is None or not ph.exists or ph.threshold is None else float(ph.threshold)
        if config.ratios is None and config.learner == "diffusion" and threshold is not None:
            spec = [(f"{f:g} s*", int(round(f * threshold))) for f in (config.multiples or DEFAULT_MULTIPLES)]
        else:
            spec = [(f"{r:g} n_real", int(round(r * n))) for r in (config.ratios or DEFAULT_RATIOS)]
        seen, columns = set(), []
        for label, s in spec:
            if s not in seen:
                seen.add(s)
                columns.append((label, s))
        rows.append(Row(n, ph, reason, tuple(columns)))
    _PLANS[config] = rows
    return rows


# -- units ------------------------------------------------------------------------------------------
def _key(n_real: int, n_synth: int, k: int) -> str:
    return f"n_real={n_real}/n_synth={n_synth}/seed{k}"


def units(config: PhaseConfig) -> list[Unit]:
    """One unit per (row, column, seed index k), key ``n_real=<n>/n_synth=<s>/seed<k>``."""
    config = config.checked()
    return [Unit(EXPERIMENT, _key(row.n_real, s, k), k, config, params=(row.n_real, s))
            for row in plan(config) for _, s in row.columns for k in range(config.seeds)]


def _kde_cell_config(config: PhaseConfig, n_real: int, n_synth: int):
    from boundcalc.bounds import kde_terms
    from boundcalc.model.targets import bimodal
    from boundcalc.validate.kde import kde_config

    h = float(kde_terms.auto_bandwidth(bimodal(), n_real))
    return kde_config(scheme="mix", n_real=n_real, n_synth=n_synth, generations=2, seeds=config.seeds,
                      seed=config.seed, bandwidth=h, delta=config.delta, grid_size=config.grid_size)


def run_unit(unit: Unit) -> dict:
    """The record of one two-generation loop (pure: the same unit gives the same record anywhere).

    KDE: the record of seed k of the KDE validation of the cell (``validate kde --scheme mix``);
    diffusion: the per-generation records of :func:`boundcalc.validate.diffusion.loop.run_loop`
    seeded ``(seed, k)``, as ``validate diffusion phase`` seeds its seed k."""
    config = unit.config
    n_real, n_synth = unit.params
    if config.learner == "kde":
        from boundcalc.validate.kde import run_unit as kde_run_unit

        cell = _kde_cell_config(config, n_real, n_synth)
        record = kde_run_unit(Unit("kde", f"seed{unit.seed_index}", unit.seed_index, cell))
        return to_record({"unit": unit.key, "kde": record})
    from boundcalc.model.schemes import Mix
    from boundcalc.validate.diffusion.loop import run_loop

    out = run_loop(Mix(n_real, n_synth, draw=DRAW["diffusion"]), 2, diffusion_model_config(config),
                   (config.seed, unit.seed_index))
    return to_record({"unit": unit.key, "diffusion": out["records"]})


def _number(v) -> float:
    return math.nan if v is None else float(v)


def _a(record: dict, generation: int) -> float:
    if "kde" in record:
        return _number(record["kde"]["a"][generation - 1])
    return _number(record["diffusion"][generation - 1]["a"])


def _interval(values) -> list:
    x = [v for v in values if math.isfinite(v)]
    if len(x) < 2:
        return [None, None]
    lo, hi = bootstrap_mean_interval(x)
    return [float(lo), float(hi)]


# -- merge ------------------------------------------------------------------------------------------
def merge(config: PhaseConfig, records, status: str | None = None) -> "PhaseValidation":
    """The :class:`PhaseValidation` of the records of ``units(config)`` (any order); cells with
    fewer records than seeds are summarised over the seeds they have (status "incomplete")."""
    config = config.checked()
    by_key = {}
    for record in records:
        record = to_record(record)
        by_key[record["unit"]] = record
    expected = units(config)
    if status is None:
        status = "complete" if all(u.key in by_key for u in expected) else "incomplete"
    learner_checks: list = []
    rows = []
    for row in plan(config):
        per_column, a0 = [], None
        for label, s in row.columns:
            recs = [by_key.get(_key(row.n_real, s, k)) for k in range(config.seeds)]
            present = [r for r in recs if r is not None]
            a2 = np.array([_a(r, 2) if r is not None else math.nan for r in recs])
            if a0 is None:
                a0 = a2
            finite = a2[np.isfinite(a2)]
            lo, hi = _interval(a2)
            diff = a2 - a0
            paired = diff[np.isfinite(diff)]
            dlo, dhi = (_interval(diff) if s > 0 else [0.0, 0.0])
            cell = {"label": label, "ratio": s / row.n_real, "n_synth": s, "seeds_measured": int(finite.size),
                    "a1_mean": float(np.nanmean([_a(r, 1) for r in present])) if present else None,
                    "a2_mean": float(finite.mean()) if finite.size else None, "a2_ci95": [lo, hi],
                    "a2_sd": float(finite.std(ddof=1)) if finite.size > 1 else None,
                    "half_width": None if lo is None else (hi - lo) / 2,
                    "rise_from_zero_mean": float(paired.mean()) if paired.size else None,
                    "rise_from_zero_ci95": [dlo, dhi],
                    "bound_a2": float(row.phase.curve(s)) if row.phase is not None and row.phase.curve is not None
                    else None}
            if config.learner == "kde" and present:
                from boundcalc.validate.kde import merge as kde_merge

                v = kde_merge(_kde_cell_config(config, row.n_real, s), [r["kde"] for r in present])
                if not v.passed:
                    learner_checks.append(f"n_real={row.n_real}, n_synth={s}")
                cell["composed_bound_mean"] = v.data["summary"]["composed_bound"]["mean"][1]
            per_column.append(cell)
        rows.append(_row_dict(config, row, per_column))
    checks = _phase_checks(config, rows, learner_checks, cells_all(config, by_key))
    worst_half = max((c["half_width"] for row in rows for c in row["cells"] if c["half_width"] is not None),
                     default=None)
    sds = [c["a2_sd"] for row in rows for c in row["cells"] if c["a2_sd"] is not None]
    # seeds for the target: the normal approximation 1.96 sd / sqrt(S) <= target at the largest per-seed sd
    seeds_for_target = (int(math.ceil((1.96 * max(sds) / config.half_width) ** 2)) if sds else None)
    data = {"experiment": f"{config.learner}-phase", "status": status, "learner": _LEARNER_TEXT[config.learner],
            "target": "bimodal", "generation": 2,
            "scheme": "mix (n_real fresh real + n_synth of p_1; exactly those counts in the training set)",
            "inputs": config.to_dict(), "interval": BOOTSTRAP_INTERVAL, "target_half_width": config.half_width,
            "achieved_half_width": worst_half, "largest_per_seed_sd": max(sds) if sds else None,
            "seeds_for_target": seeds_for_target, "rows": rows, "verdict": _verdict(rows), "checks": checks,
            "label": "measured (a_2); proved (bound" + ("; D1 constants at their defaults, not calibrated)"
                                                        if config.learner == "diffusion" else ")")}
    if config.learner == "diffusion":
        from boundcalc.validate.diffusion.checks import _notes

        data["notes"] = _notes(cells_all(config, by_key), diffusion_model_config(config).tau_grid)
    data["passed"] = all(c["passed"] for c in checks)
    return PhaseValidation(to_record(data))


_LEARNER_TEXT = {
    "kde": "Gaussian KDE, fixed bandwidth h = K3(n_real) (as boundcalc phase --learner kde --bandwidth auto)",
    "diffusion": ("random-feature diffusion model (validate diffusion's torch loop: width m, horizon T, training "
                  "time by held-out denoising loss, probability-flow ODE sampler, law by certified inversion on "
                  "cells); bound: boundcalc phase --learner diffusion --draw iid --width m --horizon T --delta-exponent 0 (D1 constants 1: its shape)"),
}


def cells_all(config: PhaseConfig, by_key: dict) -> list:
    """(label, per-generation records) of every diffusion unit present (for the diffusion checks)."""
    if config.learner != "diffusion":
        return []
    return [(key, rec["diffusion"]) for key, rec in sorted(by_key.items())]


def _row_dict(config: PhaseConfig, row: Row, cells: list) -> dict:
    ph = row.phase
    out = {"n_real": row.n_real, "cells": cells}
    if config.learner == "kde":
        from boundcalc.bounds import kde_terms
        from boundcalc.model.targets import bimodal

        out["bandwidth"] = float(kde_terms.auto_bandwidth(bimodal(), row.n_real))
    else:
        out["width"] = config.width
    if ph is None:
        out["bound"] = {"refused": row.reason}
        out["bound_curve"] = None
        return out
    if row.reason:
        out["bound_note"] = row.reason
    top = max(max(c["ratio"] for c in cells), 1.0) * 2
    dense = [float(x) for x in np.geomspace(0.5 if config.learner == "kde" else min(0.5, top / 64), top, 25)]
    out["bound_curve"] = {"ratio": dense, "a2": [float(ph.curve(int(round(x * row.n_real)))) for x in dense],
                          "a2_at_zero": float(ph.at_zero)}
    out["bound"] = {"exists": bool(ph.exists), "threshold": None if ph.threshold is None else float(ph.threshold),
                    "peak": float(ph.peak), "limit": float(ph.limit), "at_zero": float(ph.at_zero),
                    "vacuous": bool(ph.vacuous)}
    return out


def _verdict(rows: list) -> dict:
    """A rise is resolved where some n_synth > 0 has a paired-difference interval entirely above 0;
    a fall where it lies entirely below 0."""
    def lo(c):
        return c["rise_from_zero_ci95"][0]

    def hi(c):
        return c["rise_from_zero_ci95"][1]

    rises = [(row["n_real"], c["n_synth"]) for row in rows for c in row["cells"][1:] if lo(c) is not None and lo(c) > 0]
    falls = [(row["n_real"], c["n_synth"]) for row in rows for c in row["cells"][1:] if hi(c) is not None and hi(c) < 0]
    near = []
    for row in rows:
        t = row["bound"].get("threshold")
        if t is not None:
            c = min(row["cells"], key=lambda c: abs(c["n_synth"] - t))
            if c["rise_from_zero_mean"] is not None and lo(c) is not None:
                near.append(f"n_real {row['n_real']}: at n_synth {c['n_synth']} (bound threshold {t:.0f}) measured "
                            f"a_2 - a_2(0) = {c['rise_from_zero_mean']:+.4f} [{lo(c):+.4f}, {hi(c):+.4f}]")
        elif "refused" in row["bound"]:
            near.append(f"n_real {row['n_real']}: the bound refuses: {row['bound']['refused']}")
    statement = ("a rise of a_2 with n_synth is resolved at (n_real, n_synth) = " + str(rises) if rises else
                 "no rise of the measured a_2 above its value at n_synth = 0 is resolved in any cell")
    if falls:
        statement += f"; a_2 falls below its n_synth = 0 value (interval below 0) at {falls}"
    return {"rise_resolved": bool(rises), "rises": rises, "falls": falls, "statement": statement,
            "at_bound_threshold": near}


def _phase_checks(config: PhaseConfig, rows: list, kde_failed: list, diffusion_cells: list) -> list:
    cells = [c for row in rows for c in row["cells"]]
    halves = [c["half_width"] for c in cells if c["half_width"] is not None]
    worst = max(halves) if halves else math.nan
    checks = [
        {"name": "intervals in [0, 1]", "passed": all(c["a2_ci95"][0] is not None and
                                                        0 <= c["a2_ci95"][0] <= c["a2_ci95"][1] <= 1 for c in cells),
         "statement": "every cell's 95% interval for the mean a_2 lies in [0, 1] (bootstrap percentile; a cell "
                      "with fewer than two measured seeds has none and fails this)"},
        {"name": "resolution", "passed": bool(halves) and worst <= config.half_width,
         "statement": f"largest half-width of a cell's 95% interval {worst:.4f} (target {config.half_width:g}, "
                      "--half-width); the half-width falls as 1/sqrt(seeds)"},
    ]
    if config.learner == "kde":
        checks.append({"name": "KDE validations", "passed": not kde_failed,
                       "statement": "every cell's KDE validation passed its own checks (bound, recursion, grid)"
                                    if not kde_failed else f"checks failed in {kde_failed[:5]}"})
    else:
        from boundcalc.validate.diffusion.checks import _checks

        for c in _checks(diffusion_cells):
            checks.append({"name": c["name"], "passed": c["passed"], "statement": c["statement"]})
    return checks


# -- the runner -------------------------------------------------------------------------------------
def validate_phase(config: PhaseConfig | None = None, out_dir=None, resume: bool = False,
                   progress: bool | None = None, after_unit=None, **options) -> "PhaseValidation":
    """Run the units of the phase experiment in this process and merge them.

    With ``out_dir`` every finished unit is stored at once in ``units/phase/`` (what ``resume=True``
    continues from: the same JSON bytes as an uninterrupted run) and the result in
    ``<learner>_phase.json``;
    a ``KeyboardInterrupt`` propagates with the finished units stored.

    >>> v = validate_phase(learner="kde", n_reals=(60,), ratios=(0, 2), seeds=2)
    >>> [c["n_synth"] for c in v.data["rows"][0]["cells"]]
    [0, 120]
    """
    if config is None:
        config = PhaseConfig(**options)
    elif options:
        raise BoundcalcError(f"validate_phase: give a config or keyword options, not both ({', '.join(options)})")
    config = config.checked()
    store = UnitStore(EXPERIMENT, config.to_dict(), out_dir, resume)
    todo = [u for u in units(config) if u.key not in store.records]
    bar = ProgressBar(len(todo), f"validate phase ({config.learner})", enabled=progress)

    def one(unit):
        record = run_unit(unit)
        bar.update()
        return record

    try:
        run_units(todo, one, store, after_unit=after_unit)
    finally:
        bar.close()
    result = merge(config, store.records.values())
    if out_dir is not None:
        try:
            write_atomic(Path(out_dir) / result_file(config.learner), result.to_json())
        except OSError as exc:
            raise BoundcalcError(f"--out {out_dir}: cannot write {result_file(config.learner)}: "
                                 f"{exc.strerror or exc}") from None
    return result


def kde_phase(n_reals=DEFAULT_N_REALS["kde"], ratios=DEFAULT_RATIOS, seeds: int = 44, seed: int = 0,
              delta: float = 0.05, grid_size: int | None = None) -> "PhaseValidation":
    """The KDE phase diagram (``validate_phase(learner="kde", ...)``): a_2 on the (n_real, n_synth =
    ratio n_real) grid with ``seeds`` seeded loops per cell, the bound's a_2 (``boundcalc phase``,
    KDE learner with h = K3(n_real)) beside it."""
    return validate_phase(PhaseConfig(learner="kde", n_reals=tuple(n_reals), ratios=tuple(ratios), seeds=seeds,
                                      seed=seed, delta=delta, grid_size=grid_size))


def diffusion_phase(n_reals=DEFAULT_N_REALS["diffusion"], seeds: int = DEFAULT_SEEDS["diffusion"], **options):
    """The diffusion phase diagram (``validate_phase(learner="diffusion", ...)``)."""
    return validate_phase(PhaseConfig(learner="diffusion", n_reals=tuple(n_reals), seeds=seeds, **options))


# -- the result -------------------------------------------------------------------------------------
def _fmt(x, spec=".4f"):
    return "-" if x is None else format(x, spec)


def _ci(pair, spec=".4f"):
    return "-" if pair[0] is None else f"[{pair[0]:{spec}}, {pair[1]:{spec}}]"


class PhaseValidation(ValidationResult):
    validator = "phase"

    @property
    def passed(self) -> bool:
        return self.data["passed"]

    def table(self) -> str:
        d = self.data
        lines = []
        for row in d["rows"]:
            b = row["bound"]
            rows = [[c["n_synth"], c["label"], c["seeds_measured"],
                     f"{_fmt(c['a2_mean'])} {_ci(c['a2_ci95'])}",
                     f"{_fmt(c['rise_from_zero_mean'], '+.4f')} {_ci(c['rise_from_zero_ci95'], '+.4f')}",
                     c["bound_a2"]] for c in row["cells"]]
            what = (f"h = {row['bandwidth']:.4g}" if "bandwidth" in row else f"width m = {row['width']}")
            if "refused" in b:
                bound = f"bound refused: {b['refused']}"
            elif b["exists"]:
                bound = f"threshold n_synth* = {b['threshold']:.0f}, peak {b['peak']:.4g}, limit {b['limit']:.4g}"
            else:
                bound = f"no transition (a_2 bound {b['at_zero']:.4g} at 0, limit {b['limit']:.4g})"
            lines.append(format_table(["n_synth", "column", "seeds", "a_2 measured [95% CI]",
                                       "a_2 - a_2(0) [95% CI]", "bound a_2"], rows,
                                      f"n_real {row['n_real']} ({what}); bound: {bound}"
                                      + (f"\n({row['bound_note']})" if row.get("bound_note") else "")))
        lines.append("intervals: " + d["interval"])
        achieved = d["achieved_half_width"]
        lines.append(f"half-width: largest over the cells {_fmt(achieved)} (target {d['target_half_width']:g}), "
                     f"{d['inputs']['seeds']} seeds per cell; largest per-seed sd {_fmt(d['largest_per_seed_sd'])}: "
                     f"about {d['seeds_for_target']} seeds per cell reach the target")
        lines.append("verdict: " + d["verdict"]["statement"])
        lines.extend("  " + s for s in d["verdict"]["at_bound_threshold"])
        for note in d.get("notes", []):
            lines.append("note: " + note)
        lines.append("checks:\n" + format_checks(d["checks"]))
        return "\n\n".join(lines)

    def figure(self):
        from matplotlib.colors import LogNorm

        from boundcalc import _figures

        d = self.data
        fig, (ax1, ax2, ax3) = _figures.new_figure(15, 4.6, ncols=3)
        n_reals = [row["n_real"] for row in d["rows"]]
        width = max(len(row["cells"]) for row in d["rows"])

        def grid_of(key):
            out = np.full((len(d["rows"]), width), np.nan)
            for j, row in enumerate(d["rows"]):
                for k, c in enumerate(row["cells"]):
                    out[j, k] = np.nan if c[key] is None else c[key]
            return out

        measured, bound = grid_of("a2_mean"), grid_of("bound_a2")
        both = np.concatenate([measured[np.isfinite(measured)], bound[np.isfinite(bound)]])
        norm = LogNorm(vmin=float(max(both.min(), 1e-4)), vmax=float(both.max()))
        labels = [[c["label"] for c in row["cells"]] for row in d["rows"]]
        shared = all(lab == labels[0] for lab in labels)
        im = None
        for ax, values, title in ((ax1, measured, f"measured mean $a_2$ ({d['learner'].split(',')[0].split(' (')[0]})"),
                                  (ax2, bound, r"bound on $a_2$ (boundcalc phase)")):
            if np.isfinite(values).any():
                im = ax.imshow(np.ma.masked_invalid(values), origin="lower", aspect="auto", norm=norm, cmap="viridis")
            ax.set_xticks(range(width), labels[0] if shared else [f"col {k + 1}" for k in range(width)], fontsize=7)
            ax.set_yticks(range(len(n_reals)), [str(n) for n in n_reals])
            ax.set_xlabel(r"$n_{synth}$ column" + ("" if shared else " (n_synth in each cell)"))
            ax.set_ylabel(r"$n_{real}$")
            ax.set_title(title, fontsize=9)
            for j, row in enumerate(d["rows"]):
                for k, c in enumerate(row["cells"]):
                    if np.isfinite(values[j, k]):
                        ax.text(k, j, f"{values[j, k]:.3f}\n$n_s$={c['n_synth']}", ha="center", va="center",
                                fontsize=6, color="w")
                    elif values is bound and "refused" in row["bound"]:
                        ax.text(k, j, "refused", ha="center", va="center", fontsize=6)
        if im is not None:
            fig.colorbar(im, ax=[ax1, ax2], label=r"TV$(p_2, p_0)$")
        for j, row in enumerate(d["rows"]):
            ok = [c for c in row["cells"] if c["rise_from_zero_mean"] is not None
                  and c["rise_from_zero_ci95"][0] is not None]
            x = [max(c["ratio"], 0.25) for c in ok]
            rise = [c["rise_from_zero_mean"] for c in ok]
            lo = [c["rise_from_zero_ci95"][0] for c in ok]
            hi = [c["rise_from_zero_ci95"][1] for c in ok]
            col = f"C{j}"
            ax3.errorbar(x, rise, yerr=[np.subtract(rise, lo), np.subtract(hi, rise)], color=col, marker="o",
                         capsize=3, label=f"measured, n_real {row['n_real']}")
            bc = row["bound_curve"]
            if bc is not None:
                ax3.plot([0.25] + bc["ratio"], [0.0] + list(np.subtract(bc["a2"], bc["a2_at_zero"])), color=col,
                         linestyle="--", label=f"bound, n_real {row['n_real']}")
            if row["bound"].get("threshold"):
                ax3.axvline(row["bound"]["threshold"] / row["n_real"], color=col, linestyle=":", linewidth=0.8)
        ax3.axhline(0.0, color="0.5", linewidth=0.8)
        ax3.set_xscale("log")
        ax3.set_xlabel(r"$n_{synth} / n_{real}$ (0 drawn at 0.25)")
        ax3.set_ylabel(r"$a_2(n_{synth}) - a_2(0)$")
        ax3.set_title("rise from n_synth = 0 (paired seeds, 95% CI)", fontsize=9)
        ax3.legend(fontsize=6)
        return fig

    def _draw(self, out_dir):
        from boundcalc import _figures

        return _figures.save_figure(self.figure(), out_dir, f"{self.data['experiment'].replace('-', '_')}")
