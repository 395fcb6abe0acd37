"""The four experiments of ``boundcalc validate diffusion``: loop, phase, early-stopping, calibrate.

Every experiment is a list of *units* (one seeded loop, or one seeded early-stopping sweep).
Each unit's numbers go through a JSON round trip and into the resume state as soon as it
finishes (atomic write), so an interrupted run keeps what it finished and ``--resume`` gives
the same JSON as an uninterrupted run.  Unit seeds are ``SeedSequence([seed, k, ...])`` for
seed index k: the result of a unit does not depend on which other units ran.

Labels: numbers read off runs are "measured"; anything that uses constants fitted to runs
(the power-law rate, the D1 constants, the phase threshold from the fitted rate, the composed
predictions) is "calibrated", never "proved".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from boundcalc._checks import BoundcalcError, check_choice, check_fraction, check_positive_int
from boundcalc._io import dumps, write_atomic
from boundcalc.model.schemes import Accumulate, Mix, Replace, make_scheme
from boundcalc.validate.grid import cell_edges, mixture_cell_probabilities, tv_of_probabilities
from boundcalc.validate.checks import format_checks
from boundcalc.validate.runner import ProgressBar
from boundcalc.validate.summary import format_table, summarize_over_seeds
from boundcalc.validate.diffusion.loop import DiffusionConfig, RECURSION_TOLERANCE, _rng, run_loop, validity

EXPERIMENTS = ("loop", "phase", "early-stopping", "calibrate")
LI_TAU_SLOPE = 0.4
LI_KL_SLOPE = -0.4
#: a note is printed when the TV between a model's cell probabilities and their trapezoid estimates
#: from the density at the edges exceeds this (the cells do not resolve the density: the cell TVs
#: are then loose lower bounds)
RESOLUTION_TOLERANCE = 0.02
#: version of the resume state (2: laws as cell probabilities, validity gate, sample tests)
STATE_VERSION = 2
#: family-wise level of the forwarded-sample chi-square tests (Bonferroni over all tests of a run)
SAMPLE_TEST_LEVEL = 0.01


@dataclass
class ExperimentOptions:
    """Inputs of one experiment (besides the model configuration)."""

    experiment: str
    config: DiffusionConfig = field(default_factory=DiffusionConfig)
    scheme: str = "all"
    n_real: int = 500
    n_synth: int | None = None
    real_data: str = "fresh"
    real_fractions: tuple = (0.2, 0.5, 0.8)
    generations: int = 5
    seeds: int = 3
    seed: int = 0
    ns: tuple = ()
    n_synth_ratios: tuple = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    width_ratio: float | None = 0.5
    delta: float = 0.05

    def checked(self) -> "ExperimentOptions":
        check_choice("experiment", self.experiment, EXPERIMENTS)
        self.config = self.config.checked()
        self.n_real = check_positive_int("n_real", self.n_real, 2)
        if self.n_synth is not None:
            self.n_synth = check_positive_int("n_synth", self.n_synth, 0)
        self.generations = check_positive_int("generations", self.generations)
        self.seeds = check_positive_int("seeds", self.seeds)
        self.seed = check_positive_int("seed", self.seed, 0)
        self.real_fractions = tuple(float(check_fraction("real_fractions", v)) for v in self.real_fractions)
        self.ns = tuple(check_positive_int("ns", v, 8) for v in self.ns)
        for v in self.n_synth_ratios:
            if not (math.isfinite(float(v)) and float(v) >= 0):
                raise BoundcalcError(f"n_synth_ratios must be numbers in [0, inf), got {v}")
        self.n_synth_ratios = tuple(float(v) for v in self.n_synth_ratios)
        if self.width_ratio is not None:
            self.width_ratio = float(self.width_ratio)
            if not (self.width_ratio > 0 and math.isfinite(self.width_ratio)):
                raise BoundcalcError(f"width_ratio must be in (0, inf), got {self.width_ratio}")
        return self

    def to_dict(self) -> dict:
        return {"experiment": self.experiment, "model": self.config.to_dict(), "scheme": self.scheme,
                "n_real": self.n_real, "n_synth": self.n_synth, "real_data": self.real_data,
                "real_fractions": list(self.real_fractions), "generations": self.generations,
                "seeds": self.seeds, "seed": self.seed, "ns": list(self.ns),
                "n_synth_ratios": list(self.n_synth_ratios), "width_ratio": self.width_ratio,
                "delta": self.delta}


@dataclass
class ExperimentResult:
    data: dict
    passed: bool

    def to_json(self) -> str:
        return dumps(self.data)


# -- units and resume state --------------------------------------------------------------------
def _state_file(out_dir, experiment) -> Path:
    return Path(out_dir) / f"diffusion_{experiment}_state.json"


def result_file(out_dir, experiment) -> Path:
    return Path(out_dir) / f"diffusion_{experiment}.json"


class _Units:
    """Runs keyed units once; saves each finished one atomically in the state file."""

    def __init__(self, options: ExperimentOptions, total: int, out_dir=None, resume=False, progress=None):
        self.inputs = json.loads(dumps(options.to_dict()))
        self.path = _state_file(out_dir, options.experiment) if out_dir else None
        self.runs: dict = {}
        if resume:
            if self.path is None:
                raise BoundcalcError("--resume needs --out DIR (the folder of the interrupted run)")
            if not self.path.exists():
                raise BoundcalcError(f"--resume: no state file {self.path} (run once with --out first)")
            state = json.loads(self.path.read_text())
            if state.get("version") != STATE_VERSION:
                raise BoundcalcError(f"--resume: the state file {self.path} was written by an older version of the "
                                     "validator (laws measured on grid nodes, not cells); use a fresh --out folder")
            if state.get("inputs") != self.inputs:
                raise BoundcalcError(f"--resume: the state file {self.path} was made with other inputs; "
                                     "repeat the same options or use a fresh --out folder")
            self.runs = state.get("runs", {})
        self.bar = ProgressBar(total, f"diffusion {options.experiment}", enabled=progress)
        self.bar.update(len(self.runs))

    def get(self, key: str, compute):
        if key not in self.runs:
            self.runs[key] = json.loads(dumps(compute()))
            if self.path is not None:
                write_atomic(self.path, dumps({"version": STATE_VERSION, "inputs": self.inputs, "runs": self.runs}))
            self.bar.update()
        return self.runs[key]

    def close(self):
        self.bar.close()


# -- helpers -----------------------------------------------------------------------------------------
def _stat(values) -> dict:
    """mean, 95% interval over seeds of a 1-D list (one column of summarize_over_seeds)."""
    s = summarize_over_seeds(np.asarray([float(v) for v in values], dtype=float)[:, None])
    return {k: v[0] for k, v in s.items()}


def fit_power_law(sizes, errors) -> dict:
    """Least squares of log eps = log C - alpha log N over the given (N, eps) pairs [calibrated]."""
    N = np.asarray(sizes, dtype=float)
    e = np.asarray([float(v) for v in errors], dtype=float)
    ok = np.isfinite(e) & (e > 0)
    if np.unique(N[ok]).size < 2:
        raise BoundcalcError("fitting eps(N) = C N^-alpha needs errors at two or more sizes")
    slope, intercept = np.polyfit(np.log(N[ok]), np.log(e[ok]), 1)
    resid = np.log(e[ok]) - (intercept + slope * np.log(N[ok]))
    return {"C": float(np.exp(intercept)), "alpha": float(-slope), "points": int(ok.sum()),
            "log_residual_sd": float(np.std(resid)), "label": "calibrated"}


def _power_learner(fit):
    if not (fit["alpha"] > 0):
        return None
    from boundcalc.bounds.learners import PowerLaw

    return PowerLaw(fit["C"], fit["alpha"])


def composed_bound(scheme, learner, generations: int, delta: float) -> list:
    """a_1..a_K bound of the lead's calculator (boundcalc.bounds.compose.compose_bound)."""
    from boundcalc.bounds.compose import compose_bound

    return [float(v) for v in compose_bound(scheme, learner, generations, delta=delta).bound]


def _flat(units):
    """[(unit label, record)] of a list of (unit label, records)."""
    return [(label, r) for label, recs in units for r in recs]


def _recursion_check(units) -> dict:
    steps = [r for _, r in _flat(units) if r.get("measured", True)]
    bad = [r for r in steps if not r["recursion_holds"]]
    worst = min((r["recursion_rhs"] - r["a"] for r in steps), default=math.nan)
    return {"name": "recursion step", "kind": "consistency, holds by construction", "passed": not bad,
            "statement": f"a_i <= eps_i + TV(q_i, p0) held on {len(steps) - len(bad)} of {len(steps)} "
                         f"measured generation steps (tolerance {RECURSION_TOLERANCE:g}); on one partition "
                         "it holds by construction (triangle inequality of a seminorm), so it checks the "
                         "code, not the theory",
            "steps": len(steps), "violations": len(bad), "smallest_slack": worst}


def _gate_check(units) -> dict:
    """Every model passed the validity gate (certified inversion, probabilities summing to 1)."""
    flat = _flat(units)
    bad = [f"{label} generation {r['generation']}: {r['reason']}" for label, r in flat if not r["measured"]]
    worst_err = max((float(r["inversion_probability_error"]) for _, r in flat), default=math.nan)
    worst_x = max((float(r["inversion_x_residual"]) for _, r in flat), default=math.nan)
    worst_out = max((float(r["outside_grid_mass"]) for _, r in flat), default=math.nan)
    statement = (f"{len(flat) - len(bad)} of {len(flat)} models measured (increasing sampler map, certified "
                 f"inversion, cell probabilities summing to 1); largest total probability uncertainty "
                 f"{worst_err:.2g}, largest |Psi(u) - edge| {worst_x:.2g}, largest mass outside the grid "
                 f"{worst_out:.2g} (kept as the two tail cells)")
    if bad:
        statement += "; unmeasured: " + "; ".join(bad[:5]) + (f"; ... ({len(bad)} in all)" if len(bad) > 5 else "")
    return {"name": "model validity gate", "passed": not bad, "statement": statement, "unmeasured": bad}


def _sample_check(units, level: float = SAMPLE_TEST_LEVEL) -> dict:
    """The samples fed forward follow the measured model law: chi-square, Bonferroni family level."""
    tests = [(label, r["generation"], r["sample_test"]) for label, r in _flat(units) if r.get("sample_test")]
    if not tests:
        return {"name": "forwarded samples follow the measured law", "passed": True, "vacuous": True,
                "statement": "no model's samples were fed forward: nothing tested", "tests": 0}
    per_test = level / len(tests)
    bad = [f"{label} generation {g}: chi2 {t['chi2']:.4g} on {t['df']} df, p = {t['p_value']:.3g}"
           for label, g, t in tests if t["p_value"] < per_test]
    p_min = min(t["p_value"] for _, _, t in tests)
    statement = (f"chi-square of the samples of p_i fed to later generations against the measured cell "
                 f"probabilities of p_i: {len(tests) - len(bad)} of {len(tests)} tests not rejected at "
                 f"p >= {per_test:.3g} (family-wise level {level:g}, Bonferroni); smallest p = {p_min:.3g}")
    if bad:
        statement += "; rejected: " + "; ".join(bad[:5])
    return {"name": "forwarded samples follow the measured law", "kind": "statistical test, can fail",
            "passed": not bad, "statement": statement, "tests": len(tests), "level": level,
            "per_test_level": per_test, "smallest_p": p_min, "rejected": bad}


def _checks(units) -> list:
    return [_gate_check(units), _sample_check(units), _recursion_check(units)]


def _notes(units, tau_grid=None) -> list:
    notes = []
    flat = [r for _, r in _flat(units)]
    if tau_grid:
        taus = [r["tau"] for r in flat if r.get("tau_rule") == "held-out denoising loss"]
        at_edge = sum(1 for t in taus if t is not None and float(t) >= max(tau_grid))
        if at_edge:
            notes.append(f"{at_edge} of {len(taus)} held-out tau choices hit the largest tau of the grid "
                         f"({max(tau_grid):g}): the held-out loss was still falling there")
    unresolved = [float(r["unresolved_mass"]) for r in flat if r["measured"]]
    bad = [m for m in unresolved if not m <= RESOLUTION_TOLERANCE]
    if bad:
        notes.append(f"{len(bad)} of {len(unresolved)} model densities are not resolved by the cells (TV between the "
                     f"cell probabilities and their trapezoid estimates from the edge densities above "
                     f"{RESOLUTION_TOLERANCE}, worst {max(bad):.3f}): spikes narrower than a cell (usually a very "
                     "long training time); their cell TVs are lower bounds that may be loose; raise --grid-size "
                     "or lower --tau")
    notes.append("TVs are between cell-probability vectors (grid cells plus two tails): lower bounds of the "
                 "continuous TVs (data processing); a model's probabilities are those of its own samples")
    return notes


def _scheme_list(options: ExperimentOptions):
    n_real, n_synth = options.n_real, options.n_synth
    if options.scheme == "all":
        out = [("replace", make_scheme("replace", n_real, n_synth))]
        for lam in options.real_fractions:
            out.append((f"mix(lam={lam:g})", make_scheme("mix", n_real, real_fraction=lam,
                                                         real_data=options.real_data)))
        out.append(("accumulate", make_scheme("accumulate", n_real, n_synth, real_data=options.real_data)))
        return out
    name = options.scheme
    if name == "mix" and n_synth is None:
        return [(f"mix(lam={lam:g})", make_scheme("mix", n_real, real_fraction=lam, real_data=options.real_data))
                for lam in options.real_fractions]
    if name == "schedule":
        return [("schedule", make_scheme("schedule", n_real, real_fractions=options.real_fractions))]
    return [(name, make_scheme(name, n_real, n_synth, real_data=options.real_data))]


def _loop_unit(scheme, K, config, keys):
    return lambda: run_loop(scheme, K, config, keys)["records"]


def _series(units_records, key):
    """(seeds, generations) array of one record field; JSON strings "nan"/"inf" back to floats."""
    return np.array([[float(r[key]) for r in recs] for recs in units_records], dtype=float)


# -- loop ------------------------------------------------------------------------------------------------
def experiment_loop(options, units_factory) -> dict:
    schemes = _scheme_list(options)
    K, S = options.generations, options.seeds
    units = units_factory(len(schemes) * S)
    out, all_records = [], []
    for label, scheme in schemes:
        recs = [units.get(f"{label}/seed{k}", _loop_unit(scheme, K, options.config, (options.seed, k)))
                for k in range(S)]
        all_records.extend((f"{label}/seed{k}", rec) for k, rec in enumerate(recs))
        out.append({"scheme": label, "definition": scheme.to_dict(),
                    "n_train": [r["n_train"] for r in recs[0]],
                    "a": summarize_over_seeds(_series(recs, "a")),
                    "eps": summarize_over_seeds(_series(recs, "eps")),
                    "tv_q_p0": summarize_over_seeds(_series(recs, "tv_q_p0")),
                    "tau": summarize_over_seeds(_series(recs, "tau")) if recs[0][0]["tau"] is not None else None,
                    "runs": recs})
    units.close()
    return {"schemes": out, "checks": _checks(all_records), "notes": _notes(all_records, options.config.tau_grid),
            "label": "measured"}


# -- phase ---------------------------------------------------------------------------------------------
def experiment_phase(options, units_factory) -> dict:
    n_real, S = options.n_real, options.seeds
    ratios = options.n_synth_ratios
    units = units_factory(len(ratios) * S)
    rows, all_records, sizes, errors = [], [], [], []
    for r in ratios:
        s = int(round(r * n_real))
        scheme = Mix(n_real, s)
        recs = [units.get(f"n_synth={s}/seed{k}", _loop_unit(scheme, 2, options.config, (options.seed, k)))
                for k in range(S)]
        all_records.extend((f"n_synth={s}/seed{k}", rec) for k, rec in enumerate(recs))
        for rec in recs:
            for g in rec:
                sizes.append(g["n_train"])
                errors.append(g["eps"])
        rows.append({"n_synth": s, "a1": _stat([rec[0]["a"] for rec in recs]),
                     "a2": _stat([rec[1]["a"] for rec in recs]),
                     "eps2": _stat([rec[1]["eps"] for rec in recs]), "runs": recs})
    units.close()
    fit = fit_power_law(sizes, errors)
    learner = _power_learner(fit)
    prediction = {"label": "calibrated", "rate": fit}
    if learner is not None:
        for row in rows:
            row["bound_a2"] = composed_bound(Mix(n_real, row["n_synth"]), learner, 2, options.delta)[-1]
        try:
            from boundcalc.bounds.phase import phase_transition

            ph = phase_transition(learner, n_real, generation=2)
            prediction.update(exists=bool(ph.exists), threshold=None if ph.threshold is None else float(ph.threshold),
                              peak=float(ph.peak), limit=float(ph.limit))
        except (ImportError, AttributeError) as exc:  # calculator not available
            prediction["error"] = f"phase_transition unavailable: {exc}"
    else:
        prediction["error"] = f"fitted alpha = {fit['alpha']:.3g} <= 0: no power-law prediction"
    # is a peak resolved above the noise?  some s > 0 whose 95% interval lies above the intervals at
    # s = 0 (or the smallest s) and at the largest s
    first, last = rows[0], rows[-1]
    above = [row["n_synth"] for row in rows[1:-1]
             if row["a2"]["ci95_low"] > first["a2"]["ci95_high"] and row["a2"]["ci95_low"] > last["a2"]["ci95_high"]]
    best = max(rows, key=lambda row: row["a2"]["mean"])
    verdict = (f"a peak is resolved above the noise at n_synth = {above}" if above else
               f"no peak is resolved above the noise: the largest mean a_2 = {best['a2']['mean']:.4f} "
               f"(n_synth = {best['n_synth']}) is not above both end intervals "
               f"[{first['a2']['ci95_low']:.4f}, {first['a2']['ci95_high']:.4f}] (n_synth = {rows[0]['n_synth']}) and "
               f"[{last['a2']['ci95_low']:.4f}, {last['a2']['ci95_high']:.4f}] (n_synth = {rows[-1]['n_synth']})")
    return {"n_real": n_real, "rows": rows, "prediction": prediction,
            "peak": {"resolved": bool(above), "at": above, "statement": verdict},
            "checks": _checks(all_records), "notes": _notes(all_records, options.config.tau_grid), "label": "measured"}


# -- early stopping ------------------------------------------------------------------------------------
def _kl(p, q) -> float:
    """``KL(p || q) = sum_k p_k log(p_k / q_k)`` of two cell-probability vectors (a lower bound of the
    continuous KL, by data processing).  Cells at either end where q is exactly 0 (beyond the
    range ``Psi([-u_max, u_max])`` of a sampler, where its probability is below 1e-17 but not 0)
    are merged into the neighbouring cell first: a coarser partition, still a lower bound.
    ``inf`` when an interior cell has q_k = 0 < p_k."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    positive = np.flatnonzero(q > 0)
    if positive.size:
        first, last = positive[0], positive[-1]
        p = np.concatenate([[p[:first + 1].sum()], p[first + 1:last], [p[last:].sum()]]) if last > first else np.array([p.sum()])
        q = np.concatenate([[q[:first + 1].sum()], q[first + 1:last], [q[last:].sum()]]) if last > first else np.array([q.sum()])
    mask = p > 0
    if np.any(q[mask] <= 0):
        return math.inf
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(q[mask]))))


def _refine_minimum(log_tau, values) -> tuple[float, float]:
    """Minimum on the grid, refined by a parabola through the three points around it (in log tau)."""
    k = int(np.argmin(values))
    if 0 < k < len(values) - 1:
        x, y = log_tau[k - 1:k + 2], values[k - 1:k + 2]
        a, b, c = np.polyfit(x, y, 2)
        if a > 0:
            xm = -b / (2 * a)
            if x[0] <= xm <= x[2]:
                return float(np.exp(xm)), float(min(c - b * b / (4 * a), values[k]))
    return float(np.exp(log_tau[k])), float(values[k])


def width_for(options, n) -> int:
    if options.width_ratio is None:
        return options.config.width
    return max(16, int(round(options.width_ratio * n)))


def early_stopping_unit(options, n, k):
    from boundcalc.validate.diffusion import ode
    from boundcalc.validate.diffusion.score_models import RandomFeatureScore

    config = options.config
    target, grid = config.target_mixture(), config.grid()
    edges = cell_edges(grid)
    p0 = mixture_cell_probabilities(target, edges)
    keys = (options.seed, k, 3, n)
    x = target.sample(_rng(*keys, 0), n)
    m = width_for(options, n)
    model = RandomFeatureScore(width=m, horizon=config.horizon, t_min=config.t_min,
                               draws_per_point=config.draws_per_point, rng=_rng(*keys, 1)).fit(x, _rng(*keys, 2))
    taus = [t for t in config.tau_grid if t >= 10]
    kl, tv, gates = [], [], []
    for A in model.flow(taus).coefficients:
        cells = ode.cell_probabilities(model.score_function_from(A), edges, config.t_min, config.horizon,
                                       config.steps, u_points=config.u_points)
        gate = validity(cells)
        gates.append(gate)
        kl.append(_kl(p0, cells.probabilities) if gate["measured"] else math.nan)
        tv.append(tv_of_probabilities(cells.probabilities, p0) if gate["measured"] else math.nan)
    values = np.asarray(kl, dtype=float)
    finite = np.isfinite(values)
    if finite.any():
        tau_star, kl_star = _refine_minimum(np.log(np.asarray(taus)[finite]), values[finite])
    else:
        tau_star, kl_star = math.nan, math.nan
    return {"n": n, "width": m, "taus": taus, "kl": kl, "tv": tv,
            "measured": [g["measured"] for g in gates], "reasons": [g["reason"] for g in gates],
            "outside_grid_mass": [g["outside_grid_mass"] for g in gates],
            "inversion_probability_error": [g["inversion_probability_error"] for g in gates],
            "inversion_x_residual": [g["inversion_x_residual"] for g in gates],
            "edge_density_mass": [g["edge_density_mass"] for g in gates],
            "unresolved_mass": [g["unresolved_mass"] for g in gates],
            "tau_star": tau_star, "kl_star": kl_star}


def _slope(x, y) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray([float(v) for v in y])
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def fit_d1_constants(runs, window: float = 10.0) -> dict:
    """Fit the D1 form ``KL ~ c_stat tau^4/(m n) + c_width tau^3/m^2 + c_opt/tau + floor`` [calibrated].

    Non-negative least squares on *relative* residuals (rows divided by the measured KL), using the
    points with tau within a factor ``window`` of each run's tau* (the part of the curve D2 is about).
    """
    from scipy.optimize import nnls

    rows, rhs = [], []
    for r in runs:
        tau_star = float(r["tau_star"])
        for tau, kl in zip(r["taus"], r["kl"]):
            kl = float(kl)
            if math.isfinite(kl) and kl > 0 and tau_star / window <= tau <= tau_star * window:
                rows.append(np.array([tau ** 4 / (r["width"] * r["n"]), tau ** 3 / r["width"] ** 2, 1.0 / tau, 1.0]) / kl)
                rhs.append(1.0)
    X, y = np.asarray(rows), np.asarray(rhs)
    scale = np.max(np.abs(X), axis=0)
    coef, _ = nnls(X / scale, y)
    coef = coef / scale
    return {"c_stat": float(coef[0]), "c_width": float(coef[1]), "c_opt": float(coef[2]), "floor": float(coef[3]),
            "rms_relative_residual": float(np.sqrt(np.mean((X @ coef - y) ** 2))), "points": int(len(y)),
            "window": f"tau in [tau*/{window:g}, {window:g} tau*] of each run", "label": "calibrated"}


def _geometric(values) -> dict:
    """Geometric mean and 95% interval (Student t on log10) of positive values."""
    logs = [math.log10(float(v)) for v in values]
    st = _stat(logs)
    return {"mean": 10 ** st["mean"], "ci95_low": 10 ** st["ci95_low"] if math.isfinite(st["ci95_low"]) else math.nan,
            "ci95_high": 10 ** st["ci95_high"] if math.isfinite(st["ci95_high"]) else math.nan,
            "count": st["count"], "scale": "geometric (interval on log10)"}


def experiment_early_stopping(options, units_factory) -> dict:
    ns = options.ns or (128, 256, 512, 1024)
    S = options.seeds
    units = units_factory(len(ns) * S)
    runs = {n: [units.get(f"n={n}/seed{k}", lambda n=n, k=k: early_stopping_unit(options, n, k)) for k in range(S)]
            for n in ns}
    units.close()
    rows = []
    for n in ns:
        rs = runs[n]
        rows.append({"n": n, "width": rs[0]["width"], "taus": rs[0]["taus"],
                     "kl": summarize_over_seeds([[float(v) for v in r["kl"]] for r in rs]),
                     "tv": summarize_over_seeds([[float(v) for v in r["tv"]] for r in rs]),
                     "tau_star": _geometric([r["tau_star"] for r in rs]), "kl_star": _stat([r["kl_star"] for r in rs])})
    per_seed_tau = [_slope(ns, [runs[n][k]["tau_star"] for n in ns]) for k in range(S)]
    per_seed_kl = [_slope(ns, [runs[n][k]["kl_star"] for n in ns]) for k in range(S)]
    slopes = {"log_tau_star_vs_log_n": {**_stat(per_seed_tau), "per_seed": per_seed_tau, "li_theory": LI_TAU_SLOPE},
              "log_best_kl_vs_log_n": {**_stat(per_seed_kl), "per_seed": per_seed_kl, "li_theory": LI_KL_SLOPE},
              "label": "measured (slopes of least-squares lines over n, one per seed)",
              "width_rule": ("m = width fixed" if options.width_ratio is None
                             else f"m = {options.width_ratio:g} n (Li's 2/5 assumes m proportional to n)")}
    d1 = fit_d1_constants([r for n in ns for r in runs[n]])
    try:
        from boundcalc.theory.diffusion import optimal_tau

        for row in rows:
            if d1["c_opt"] > 0 and (d1["c_stat"] > 0 or d1["c_width"] > 0):
                row["d2_tau_star_calibrated"] = float(optimal_tau(row["width"], row["n"], max(d1["c_stat"], 1e-300),
                                                                  d1["c_width"], d1["c_opt"]))
    except ImportError as exc:
        d1["d2_error"] = f"optimal_tau unavailable: {exc}"
    notes = ["the training time tau is in the units of derivations/validate-diffusion.md (flow rate lambda/m); "
             "only slopes, not values, are comparable with Li et al."]
    unresolved = [float(mm) for n in ns for r in runs[n] for mm, t, ok in zip(r["unresolved_mass"], r["taus"], r["measured"])
                  if ok and math.isfinite(float(r["tau_star"])) and t <= float(r["tau_star"]) * 10]
    if unresolved and max(unresolved) > RESOLUTION_TOLERANCE:
        notes.append("some densities near tau* are not resolved by the cells (TV between cell probabilities and "
                     f"their trapezoid estimates above {RESOLUTION_TOLERANCE}): their cell KLs are loose lower bounds; "
                     "raise --grid-size")
    notes.append("KL(p0 || p_tau) and TV are between cell-probability vectors (grid cells plus two tails): lower "
                 "bounds of the continuous divergences (data processing)")
    flat = [(f"n={n}/seed{k} tau={t:g}", ok, why) for n in ns for k, r in enumerate(runs[n])
            for t, ok, why in zip(r["taus"], r["measured"], r["reasons"])]
    bad = [f"{label}: {why}" for label, ok, why in flat if not ok]
    gate = {"name": "model validity gate", "passed": not bad,
            "statement": f"{len(flat) - len(bad)} of {len(flat)} models of the tau sweeps measured (increasing "
                         "sampler map, certified inversion, cell probabilities summing to 1)"
                         + ("; unmeasured: " + "; ".join(bad[:5]) if bad else ""), "unmeasured": bad}
    return {"rows": rows, "slopes": slopes, "d1_fit": d1, "checks": [gate], "notes": notes,
            "runs": {str(n): runs[n] for n in ns}, "label": "measured"}


# -- calibrate -------------------------------------------------------------------------------------------
def _held_out_schemes(options):
    n = options.n_real
    return [("replace", Replace(n, n)), ("mix(lam=0.5)", Mix(n, n)), ("mix(lam=0.2)", Mix(n, 4 * n)),
            ("accumulate", Accumulate(n, n))]


def experiment_calibrate(options, units_factory) -> dict:
    ns = options.ns or (250, 500, 1000, 2000)
    S, K = options.seeds, options.generations
    held = _held_out_schemes(options)
    units = units_factory(len(ns) * S + len(held) * S)
    calib = {n: [units.get(f"calibration/n={n}/seed{k}",
                           _loop_unit(Replace(n, n), 1, options.config, (options.seed, k, 7, n)))[0]
                 for k in range(S)] for n in ns}
    fit = fit_power_law([n for n in ns for _ in range(S)], [r["eps"] for n in ns for r in calib[n]])
    learner = _power_learner(fit)
    out_rows, all_records = [], []
    for label, scheme in held:
        recs = [units.get(f"held-out/{label}/seed{k}", _loop_unit(scheme, K, options.config, (options.seed, k, 8)))
                for k in range(S)]
        all_records.extend((f"held-out/{label}/seed{k}", rec) for k, rec in enumerate(recs))
        a = summarize_over_seeds(_series(recs, "a"))
        eps = summarize_over_seeds(_series(recs, "eps"))
        row = {"scheme": label, "definition": scheme.to_dict(), "a": a, "eps": eps,
               "n_train": [r["n_train"] for r in recs[0]], "runs": recs}
        if learner is not None:
            bound = composed_bound(scheme, learner, K, options.delta)
            row["bound"] = bound
            row["ratio_bound_over_measured"] = [b / m if m > 0 else None for b, m in zip(bound, a["mean"])]
            row["eps_predicted"] = [float(learner.eps_of_n(N)) for N in row["n_train"]]
            row["bound_covers_mean"] = [bool(b >= m) for b, m in zip(bound, a["mean"])]
        out_rows.append(row)
    units.close()
    covered = [c for row in out_rows for c in row.get("bound_covers_mean", [])]
    calib_units = [(f"calibration/n={n}/seed{k}", [r]) for n in ns for k, r in enumerate(calib[n])]
    checks = _checks(calib_units + all_records)
    if covered:
        checks.append({"name": "calibrated prediction", "passed": all(covered),
                       "statement": f"the composed bound with the fitted rate is >= the measured mean a_i on "
                                    f"{sum(covered)} of {len(covered)} held-out (scheme, generation) cells "
                                    "(calibrated, not proved)", "label": "calibrated"})
    return {"calibration": {"ns": list(ns), "eps": {str(n): _stat([r["eps"] for r in calib[n]]) for n in ns},
                            "fit": fit, "runs": {str(n): calib[n] for n in ns}},
            "held_out": out_rows, "checks": checks, "notes": _notes(calib_units + all_records, options.config.tau_grid),
            "label": "calibrated"}


RUNNERS = {"loop": experiment_loop, "phase": experiment_phase, "early-stopping": experiment_early_stopping,
           "calibrate": experiment_calibrate}


def run_experiment(options: ExperimentOptions, out_dir=None, resume: bool = False,
                   progress: bool | None = None) -> ExperimentResult:
    """Run one experiment; with ``out_dir`` write the state after each unit and the result JSON at the end."""
    options = options.checked()
    if options.experiment == "early-stopping" and options.config.model != "random-features":
        raise BoundcalcError("model must be random-features for early-stopping (the tau sweep is the "
                             "closed-form gradient flow)")

    def factory(total):
        return _Units(options, total, out_dir, resume, progress)

    body = RUNNERS[options.experiment](options, factory)
    data = {"experiment": options.experiment, "inputs": options.to_dict(), **body}
    passed = all(c["passed"] for c in data["checks"])
    data["passed"] = passed
    if out_dir:
        write_atomic(result_file(out_dir, options.experiment), dumps(data))
    return ExperimentResult(json.loads(dumps(data)), passed)


# -- readable summary ------------------------------------------------------------------------------------
def _ci(s, k=None):
    s = {key: float(s[key] if k is None else s[key][k]) for key in ("mean", "ci95_low", "ci95_high")}
    if not math.isfinite(s["mean"]):
        return "-"
    if not math.isfinite(s["ci95_low"]):
        return f"{s['mean']:.4f}"
    return f"{s['mean']:.4f} [{s['ci95_low']:.4f}, {s['ci95_high']:.4f}]"


def _smallest_p(runs, g) -> str:
    ps = [float(run[g]["sample_test"]["p_value"]) for run in runs if run[g].get("sample_test")]
    return f"{min(ps):.3g}" if ps else "-"


def _measured_count(runs, g) -> str:
    return f"{sum(1 for run in runs if run[g].get('measured', True))}/{len(runs)}"


def summary_text(data: dict) -> str:
    kind = data["experiment"]
    lines = []
    if kind == "loop":
        for sc in data["schemes"]:
            rows = [[g + 1, sc["n_train"][g], _ci(sc["a"], g), _ci(sc["eps"], g), _ci(sc["tv_q_p0"], g),
                     _smallest_p(sc["runs"], g), _measured_count(sc["runs"], g)]
                    for g in range(len(sc["n_train"]))]
            lines.append(format_table(["gen", "N_i", "a_i = TV(p_i,p0) [95% CI]", "eps_i = TV(p_i,q_i)",
                                       "TV(q_i,p0)", "samples fed: min chi2 p", "measured"], rows,
                                      title=f"{sc['scheme']} (measured; TVs on cells, lower bounds)"))
    elif kind == "phase":
        rows = [[r["n_synth"], _ci(r["a2"]), _ci(r["eps2"]), r.get("bound_a2")] for r in data["rows"]]
        lines.append(format_table(["n_synth", "a_2 measured [95% CI]", "eps_2", "bound a_2 (calibrated)"], rows,
                                  title=f"phase: mix, n_real = {data['n_real']}, generation 2"))
        p = data["prediction"]
        fit = p["rate"]
        lines.append(f"fitted rate (calibrated): eps(N) = {fit['C']:.4g} N^-{fit['alpha']:.4g}")
        if "exists" in p:
            lines.append("calculator (calibrated): " + (
                f"threshold n_synth* = {p['threshold']:.4g}, peak {p['peak']:.4g}, limit {p['limit']:.4g}"
                if p["exists"] else f"no transition for the fitted rate (limit {p['limit']:.4g})"))
        elif "error" in p:
            lines.append(p["error"])
        lines.append(data["peak"]["statement"])
    elif kind == "early-stopping":
        rows = [[r["n"], r["width"], _ci(r["tau_star"]), _ci(r["kl_star"]), r.get("d2_tau_star_calibrated")]
                for r in data["rows"]]
        lines.append(format_table(["n", "m", "tau* (geometric mean) [95% CI]", "best KL(p0||p_tau)", "D2 tau* (calibrated)"],
                                  rows, title="early stopping (random features)"))
        sl = data["slopes"]
        lines.append(f"slope of log tau* vs log n: {_ci(sl['log_tau_star_vs_log_n'])} (Li: 2/5); "
                     f"slope of log best KL vs log n: {_ci(sl['log_best_kl_vs_log_n'])} (Li: -2/5); {sl['width_rule']}")
        d1 = data["d1_fit"]
        lines.append(f"D1 constants (calibrated, {d1['window']}): c_stat {d1['c_stat']:.3g}, c_width {d1['c_width']:.3g}, "
                     f"c_opt {d1['c_opt']:.3g}, floor {d1['floor']:.3g} (rms relative residual {d1['rms_relative_residual']:.3g})")
    else:
        cal = data["calibration"]
        fit = cal["fit"]
        lines.append(format_table(["n", "eps_1 measured [95% CI]", "C n^-alpha"],
                                  [[n, _ci(cal["eps"][str(n)]), fit["C"] * n ** -fit["alpha"]] for n in cal["ns"]],
                                  title=f"calibration (replace, generation 1): eps(N) = {fit['C']:.4g} N^-{fit['alpha']:.4g}"))
        for row in data["held_out"]:
            K = len(row["n_train"])
            rows = [[g + 1, row["n_train"][g], _ci(row["a"], g), (row.get("bound") or [None] * K)[g],
                     (row.get("ratio_bound_over_measured") or [None] * K)[g]] for g in range(K)]
            lines.append(format_table(["gen", "N_i", "a_i measured", "bound (calibrated)", "bound/measured"], rows,
                                      title=f"held out: {row['scheme']}"))
    lines.extend(f"note: {n}" for n in data.get("notes", []))
    if data["checks"]:
        lines.append("checks:")
        lines.append(format_checks(data["checks"]))
    return "\n\n".join(lines)
