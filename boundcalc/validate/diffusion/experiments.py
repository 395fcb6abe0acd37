"""The four experiments of ``boundcalc validate diffusion`` (loop, phase, early-stopping,
calibrate) as units and a merge, and their single-process runner.

Every experiment is a list of pure *units* (:func:`units`: one seeded loop, or one seeded
early-stopping sweep, for one configuration and seed index k), the record of each
(:func:`run_unit`), and a merge of the records (:func:`merge`) into the experiment's JSON
object.  Unit k draws everything from ``SeedSequence([seed, k, ...])`` (torch generators are
seeded from it): its record does not depend on which other units ran, in which order, or where.
:func:`run_experiment` runs them in one process, storing each finished unit in its own file in
``out_dir`` (``--resume`` runs only the missing ones); the JSON is the same bytes.

Labels: numbers read off runs are "measured"; anything that uses constants fitted to runs
(the power-law rate, the D1 constants, the phase threshold from the fitted rate, the composed
predictions) is "calibrated", never "proved".
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable

import numpy as np

from boundcalc._checks import BoundcalcError
from boundcalc._io import dumps, write_atomic
from boundcalc.model.schemes import Accumulate, Mix, Replace, make_scheme
from boundcalc.validate.grid import tv_of_probabilities
from boundcalc.validate.runner import ProgressBar, Unit, UnitStore, run_units, to_record
from boundcalc.validate.summary import summarize_over_seeds
from boundcalc.validate.diffusion.checks import RESOLUTION_TOLERANCE, _checks, _notes
from boundcalc.validate.diffusion.fits import (_geometric, _kl, _power_learner, _refine_minimum, _slope, _stat,
                                               interior_minimum,
                                               _d1_value, composed_bound, d1_envelope_over_seeds,
                                               d1_missing_branches, fit_power_law)
from boundcalc.validate.diffusion.loop import _rng, gate_columns, run_loop, sweep_data, validity
from boundcalc.validate.diffusion.options import EXPERIMENTS, ExperimentOptions, diffusion_config
from boundcalc.validate.diffusion.result import DiffusionValidation, summary_text

LI_TAU_SLOPE = 0.4
LI_KL_SLOPE = -0.4
#: what the D1 comparison may claim: Li et al.'s Theorem 1 (lemma D1) bounds the law of the
#: reverse-time SDE driven by the learned score, and the measured models are sampled by the ODE
SAMPLER_NOT_COVERED = ("sampler not covered by D1: lemma D1 bounds KL(p0 || law of the reverse-time SDE driven by "
                       "the learned score), and these models are sampled with the probability-flow ODE; the D1 "
                       "fit is a calibrated description of the ODE sampler's law, not a test of D1")

__all__ = ["EXPERIMENTS", "DiffusionValidation", "ExperimentOptions", "diffusion_config", "fit_power_law",
           "merge", "result_file", "run_experiment", "run_unit", "summary_text", "units", "validate_diffusion"]


def result_file(out_dir, experiment) -> Path:
    return Path(out_dir) / f"diffusion_{experiment}.json"


def _scheme_list(options: ExperimentOptions):
    n_real, n_synth = options.n_real, options.n_synth
    if options.scheme == "all":
        out = [("replace", make_scheme("replace", n_real, n_synth))]
        for lam in options.real_fractions:
            out.append((f"mix(lam={lam:g})", make_scheme("mix", n_real, real_fraction=lam,
                                                         real_data=options.real_data, draw=options.draw)))
        out.append(("accumulate", make_scheme("accumulate", n_real, n_synth, real_data=options.real_data)))
        return out
    name = options.scheme
    if name == "mix" and n_synth is None:
        return [(f"mix(lam={lam:g})", make_scheme("mix", n_real, real_fraction=lam, real_data=options.real_data,
                                                  draw=options.draw))
                for lam in options.real_fractions]
    if name == "schedule":
        return [("schedule", make_scheme("schedule", n_real, real_fractions=options.real_fractions, draw=options.draw))]
    if name == "mix":
        return [(name, make_scheme(name, n_real, n_synth, real_data=options.real_data, draw=options.draw))]
    return [(name, make_scheme(name, n_real, n_synth, real_data=options.real_data))]


def _loop_unit(scheme, K, config, keys):
    return lambda: run_loop(scheme, K, config, keys)["records"]


def _series(units_records, key):
    """(seeds, generations) array of one record field; JSON strings "nan"/"inf" back to floats."""
    return np.array([[float(r[key]) for r in recs] for recs in units_records], dtype=float)


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
                    "a": summarize_over_seeds(_series(recs, "a"), ranged=True),
                    "eps": summarize_over_seeds(_series(recs, "eps"), ranged=True),
                    "tv_q_p0": summarize_over_seeds(_series(recs, "tv_q_p0"), ranged=True),
                    "tau": summarize_over_seeds(_series(recs, "tau"), ranged=True) if recs[0][0]["tau"] is not None else None,
                    "runs": recs})
    units.close()
    return {"schemes": out, "checks": _checks(all_records), "notes": _notes(all_records, options.config.tau_grid),
            "label": "measured"}


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
        rows.append({"n_synth": s, "a1": _stat([rec[0]["a"] for rec in recs], ranged=True),
                     "a2": _stat([rec[1]["a"] for rec in recs], ranged=True),
                     "eps2": _stat([rec[1]["eps"] for rec in recs], ranged=True), "runs": recs})
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


def width_for(options, n) -> int:
    if options.width_ratio is None:
        return options.config.width
    return max(16, int(round(options.width_ratio * n)))


def early_stopping_ns(options) -> tuple:
    """The training sizes of early-stopping: ``--ns``, or 128 256 512 1024 (random features) and
    1000 (mlp-sgd: Li et al.'s own experiment)."""
    if options.ns:
        return tuple(options.ns)
    return (1000,) if options.config.model == "mlp-sgd" else (128, 256, 512, 1024)


def early_stopping_unit(options, n, k):
    if options.config.model == "mlp-sgd":
        from boundcalc.validate.diffusion.sgd_mlp import early_stopping_sgd_unit

        return early_stopping_sgd_unit(options, n, k)
    from boundcalc.validate.diffusion import ode
    from boundcalc.validate.diffusion.score_models import RandomFeatureScore

    config = options.config
    data = sweep_data(config, options.seed, n, k)
    edges, p0, keys, x = data.edges, data.p0, data.keys, data.x
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
    tau_star, kl_star = _refine_minimum(np.log(np.asarray(taus, dtype=float)), np.asarray(kl, dtype=float))
    return {"n": n, "width": m, "taus": taus, "kl": kl, "tv": tv,
            **gate_columns(gates),
            "tau_star": tau_star, "kl_star": kl_star}


def experiment_early_stopping(options, units_factory) -> dict:
    ns = early_stopping_ns(options)
    S = options.seeds
    units = units_factory(len(ns) * S)
    runs = {n: [units.get(f"n={n}/seed{k}", lambda n=n, k=k: early_stopping_unit(options, n, k)) for k in range(S)]
            for n in ns}
    units.close()
    rows = []
    for n in ns:
        rs = runs[n]
        rows.append({"n": n, "width": rs[0]["width"], "taus": rs[0]["taus"],
                     "kl": summarize_over_seeds([[float(v) for v in r["kl"]] for r in rs], ranged=True),
                     "tv": summarize_over_seeds([[float(v) for v in r["tv"]] for r in rs], ranged=True),
                     "tau_star": _geometric([r["tau_star"] for r in rs]), "kl_star": _stat([r["kl_star"] for r in rs], ranged=True)})
    per_seed_tau = [_slope(ns, [runs[n][k]["tau_star"] for n in ns]) for k in range(S)]
    per_seed_kl = [_slope(ns, [runs[n][k]["kl_star"] for n in ns]) for k in range(S)]
    slopes = {"log_tau_star_vs_log_n": {**_slope_interval(ns, per_seed_tau, [[runs[n][k]["tau_star"] for n in ns]
                                                                             for k in range(S)]),
                                        "per_seed": per_seed_tau, "li_theory": LI_TAU_SLOPE},
              "log_best_kl_vs_log_n": {**_slope_interval(ns, per_seed_kl, [[runs[n][k]["kl_star"] for n in ns]
                                                                           for k in range(S)]),
                                       "per_seed": per_seed_kl, "li_theory": LI_KL_SLOPE},
              "label": "measured (slopes of least-squares lines over n, one per seed)",
              "width_rule": ("m = width fixed" if options.width_ratio is None
                             else f"m = {options.width_ratio:g} n (Li's 2/5 assumes m proportional to n)")}
    sgd = options.config.model == "mlp-sgd"
    if sgd:
        slopes["width_rule"] = f"MLP of hidden width {options.config.mlp_hidden} (fixed), training time in epochs"
        d1 = {"fitted": False, "reason": "lemma D1 describes the random-feature model's gradient flow; the MLP trained "
                                         "by SGD has no D1 constants (training time in epochs)"}
    else:
        d1 = calibrated_d1(options, ns, runs, rows)
    notes = (["model mlp-sgd: an MLP score network trained by minibatch SGD (Li et al.'s own 1-D experiment); the "
              "training time tau is the number of epochs, m is the hidden width"] if sgd else
             ["the training time tau is in the units of derivations/validate-diffusion.md (flow rate lambda/m); "
              "only slopes, not values, are comparable with Li et al."])
    if options.config.sampler == "ode" and not sgd:
        d1["sampler"] = SAMPLER_NOT_COVERED
        notes.append(SAMPLER_NOT_COVERED)
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
    checks = [gate] + early_stopping_checks(ns, runs, slopes, d1)
    return {"rows": rows, "slopes": slopes, "d1_fit": d1, "checks": checks, "notes": notes,
            "runs": {str(n): runs[n] for n in ns}, "label": "measured"}


def calibrated_d1(options, ns, runs, rows) -> dict:
    """The calibrated D1 envelope of the runs (:func:`~boundcalc.validate.diffusion.fits.d1_envelope_over_seeds`),
    the settings it was fitted at, and beside each row the calibrated tau* of lemma D2 and the
    fitted / measured ratios of its points (``rows`` gain ``d2_tau_star_calibrated``, ``kl_calibrated``, the
    calibrated expression at the row's taus, and ``envelope_ratio``)."""
    S = options.seeds
    d1 = d1_envelope_over_seeds([[runs[n][k] for n in ns] for k in range(S)], options.config.horizon)
    d1["missing_branches"] = d1_missing_branches([(k, r) for n in ns for k, r in enumerate(runs[n])])
    taus = [float(t) for t in runs[ns[0]][0]["taus"]]
    d1["settings"] = {"horizon": options.config.horizon, "width_ratio": options.width_ratio,
                      "width": options.config.width if options.width_ratio is None else None,
                      "ns": list(ns), "tau_range": [min(taus), max(taus)], "seeds": S,
                      "target": options.config.target, "sampler": options.config.sampler}
    c = d1["constants"]
    for row in rows:
        ratios = [v for seed in d1["ratio"].get(f"n={row['n']}", []) for v in seed]
        if ratios:
            row["envelope_ratio"] = {"min": float(np.min(ratios)), "median": float(np.median(ratios)),
                                     "max": float(np.max(ratios))}
        if d1["fitted"]:
            from boundcalc.theory.diffusion import optimal_tau

            row["d2_tau_star_calibrated"] = float(optimal_tau(row["width"], row["n"], c["c_stat"], 0.0, c["c_opt"]))
            row["kl_calibrated"] = [float(_d1_value(c, t, row["width"], row["n"])) for t in row["taus"]]
    return d1


def _slope_interval(ns, per_seed, values) -> dict:
    """Mean slope over seeds with its 95% Student t interval; with one seed (no spread over seeds),
    the slope of that seed with the least-squares interval (t with len(ns) - 2 degrees of freedom)."""
    st = _stat(per_seed)
    if len(per_seed) > 1 or len(ns) < 3:
        return st
    x = np.log(np.asarray(ns, dtype=float))
    y = np.asarray([float(v) for v in values[0]], dtype=float)
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 3:
        return st
    x, y = x[ok], np.log(y[ok])
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    se = math.sqrt(float(np.sum(resid ** 2)) / (x.size - 2) / float(np.sum((x - x.mean()) ** 2)))
    from scipy import stats

    half = float(stats.t.ppf(0.975, x.size - 2)) * se
    return {**st, "se": se, "ci95_low": float(slope - half), "ci95_high": float(slope + half),
            "interval": f"least-squares slope interval (one seed, t with {x.size - 2} degrees of freedom)"}


def early_stopping_checks(ns, runs, slopes, d1) -> list[dict]:
    """Checks that can fail: every measured KL finite and >= 0 and every TV in [0, 1]; an interior
    minimum of the mean KL curve at every n; both rate slopes with a finite interval (with two or
    more n).  (Whether the D1 fit gives a calibrated D2 tau* is reported beside, with its reason.)"""
    bad_kl, bad_tv = [], []
    for n in ns:
        for k, r in enumerate(runs[n]):
            for t, kl, tv, ok in zip(r["taus"], r["kl"], r["tv"], r["measured"]):
                if ok and not (math.isfinite(float(kl)) and float(kl) >= 0):
                    bad_kl.append(f"n={n}/seed{k} tau={t:g}: KL {kl}")
                if ok and not (0 <= float(tv) <= 1):
                    bad_tv.append(f"n={n}/seed{k} tau={t:g}: TV {tv}")
            if not (math.isfinite(float(r["kl_star"])) and float(r["kl_star"]) >= 0):
                bad_kl.append(f"n={n}/seed{k}: best KL {r['kl_star']}")
    out = [{"name": "KL finite and non-negative, TV in [0, 1]", "passed": not (bad_kl or bad_tv),
            "statement": ("every measured cell KL(p0 || p_tau) (after merging unresolved cells) and every refined "
                          "best KL is finite and >= 0, every TV in [0, 1]" if not (bad_kl or bad_tv) else
                          "; ".join((bad_kl + bad_tv)[:5]))}]
    no_interior = []
    for n in ns:
        kls = np.asarray([[float(v) for v in r["kl"]] for r in runs[n]], dtype=float)
        counts = np.isfinite(kls).sum(axis=0)  # a tau unmeasured at every seed stays NaN (no warning)
        mean = np.where(counts > 0, np.nansum(kls, axis=0) / np.maximum(counts, 1), np.nan)
        if not interior_minimum(mean):
            no_interior.append(n)
    per_seed = sum(interior_minimum(r["kl"]) for n in ns for r in runs[n])
    total = sum(len(runs[n]) for n in ns)
    out.append({"name": "interior minimum", "passed": not no_interior,
                "statement": (f"the seed-mean KL curve has its minimum inside the tau grid at every n "
                              f"({per_seed} of {total} single-seed curves too)" if not no_interior else
                              f"the seed-mean KL curve has its minimum at an end of the tau grid at n = {no_interior}: "
                              "no early-stopping time is measured there (widen the tau grid)")})
    ratios = [v for seeds in (d1.get("ratio") or {}).values() for seed in seeds for v in seed]
    if ratios:
        low = min(ratios)
        out.append({"name": "calibrated D1 envelope", "passed": bool(low >= 1 - 1e-9),
                    "statement": (f"the calibrated D1 expression is >= every measured KL (smallest fitted/measured "
                                  f"ratio {low:.6g}; calibrated, not proved)")})
    if len(ns) < 2:
        return out
    missing = [name for name, sl in slopes.items() if isinstance(sl, dict)
               and not (math.isfinite(float(sl["ci95_low"])) and math.isfinite(float(sl["ci95_high"])))]
    out.append({"name": "rate slopes with intervals", "passed": not missing,
                "statement": ("both slopes (log tau* and log best KL against log n) have finite 95% intervals"
                              if not missing else f"no finite interval for {', '.join(missing)} (needs two seeds, "
                              "or three or more n)")})
    return out


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
        a = summarize_over_seeds(_series(recs, "a"), ranged=True)
        eps = summarize_over_seeds(_series(recs, "eps"), ranged=True)
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
    return {"calibration": {"ns": list(ns), "eps": {str(n): _stat([r["eps"] for r in calib[n]], ranged=True) for n in ns},
                            "fit": fit, "runs": {str(n): calib[n] for n in ns}},
            "held_out": out_rows, "checks": checks, "notes": _notes(calib_units + all_records, options.config.tau_grid),
            "label": "calibrated"}


RUNNERS = {"loop": experiment_loop, "phase": experiment_phase, "early-stopping": experiment_early_stopping,
           "calibrate": experiment_calibrate}


# -- units, run_unit, merge ------------------------------------------------------------------------------
def _unit_specs(options: ExperimentOptions) -> list[tuple[str, int, tuple]]:
    """(key, seed index k, params) of every unit, in the order the merge reads them."""
    S = options.seeds
    specs = []
    if options.experiment == "loop":
        for index, (label, _) in enumerate(_scheme_list(options)):
            specs += [(f"{label}/seed{k}", k, ("loop", index)) for k in range(S)]
    elif options.experiment == "phase":
        for r in options.n_synth_ratios:
            s = int(round(r * options.n_real))
            specs += [(f"n_synth={s}/seed{k}", k, ("phase", s)) for k in range(S)]
    elif options.experiment == "early-stopping":
        for n in early_stopping_ns(options):
            specs += [(f"n={n}/seed{k}", k, ("early-stopping", n)) for k in range(S)]
    else:
        for n in options.ns or (250, 500, 1000, 2000):
            specs += [(f"calibration/n={n}/seed{k}", k, ("calibration", n)) for k in range(S)]
        for index, (label, _) in enumerate(_held_out_schemes(options)):
            specs += [(f"held-out/{label}/seed{k}", k, ("held-out", index)) for k in range(S)]
    seen, out = set(), []
    for spec in specs:  # equal settings (two ratios rounding to one n_synth) are one unit
        if spec[0] not in seen:
            seen.add(spec[0])
            out.append(spec)
    return out


def _checked(options: ExperimentOptions) -> ExperimentOptions:
    options = options.checked()
    if options.experiment == "early-stopping" and options.config.model not in ("random-features", "mlp-sgd"):
        raise BoundcalcError("model must be random-features (the tau sweep is the closed-form gradient flow) or "
                             "mlp-sgd (an epoch sweep of SGD) for early-stopping")
    return options


def units(options: ExperimentOptions) -> list[Unit]:
    """The units of one experiment (one per setting and seed index), in a fixed order."""
    options = _checked(options)
    return [Unit(f"diffusion-{options.experiment}", key, k, options, params)
            for key, k, params in _unit_specs(options)]


def _compute(options: ExperimentOptions, k: int, params: tuple):
    kind, value = params
    config, seed = options.config, options.seed
    if kind == "loop":
        return run_loop(_scheme_list(options)[value][1], options.generations, config, (seed, k))["records"]
    if kind == "phase":
        return run_loop(Mix(options.n_real, value), 2, config, (seed, k))["records"]
    if kind == "early-stopping":
        return early_stopping_unit(options, value, k)
    if kind == "calibration":
        return run_loop(Replace(value, value), 1, config, (seed, k, 7, value))["records"]
    scheme = _held_out_schemes(options)[value][1]
    return run_loop(scheme, options.generations, config, (seed, k, 8))["records"]


def run_unit(unit: Unit) -> dict:
    """The record of one unit: ``{"unit": key, "result": ...}`` (through a JSON round trip; pure)."""
    return to_record({"unit": unit.key, "result": _compute(unit.config, unit.seed_index, unit.params)})


class _Records:
    """What the experiment bodies read: the result of each unit by key (every unit present)."""

    def __init__(self, results: dict):
        self.results = results

    def get(self, key: str, compute=None):
        return self.results[key]

    def close(self):
        pass


def merge(options: ExperimentOptions, records: Iterable[dict]) -> DiffusionValidation:
    """The :class:`DiffusionValidation` of the records of ``units(options)`` (any order; all of them)."""
    options = _checked(options)
    results = {}
    for record in records:
        record = to_record(record)
        if record["unit"] in results:
            raise BoundcalcError(f"merge: unit {record['unit']} given twice")
        results[record["unit"]] = record["result"]
    missing = [key for key, _, _ in _unit_specs(options) if key not in results]
    if missing:
        raise BoundcalcError(f"merge: {len(missing)} unit(s) of the {options.experiment} experiment have no record "
                             f"(first: {missing[0]}); run them first")
    body = RUNNERS[options.experiment](options, lambda total: _Records(results))
    data = {"experiment": options.experiment, "inputs": options.to_dict(), **body}
    data["passed"] = all(c["passed"] for c in data["checks"])
    return DiffusionValidation(json.loads(dumps(data)))


def run_experiment(options: ExperimentOptions, out_dir=None, resume: bool = False,
                   progress: bool | None = None) -> DiffusionValidation:
    """Run one experiment in this process: its units (each stored at once in ``out_dir`` when
    given; ``resume=True`` runs only the missing ones), then the merge; with ``out_dir`` the
    result JSON is written too."""
    options = _checked(options)
    todo_all = units(options)
    store = UnitStore(f"diffusion-{options.experiment}", json.loads(dumps(options.to_dict())), out_dir, resume)
    bar = ProgressBar(len(todo_all), f"diffusion {options.experiment}", enabled=progress)
    bar.update(sum(1 for u in todo_all if u.key in store.records))

    def one(unit):
        record = run_unit(unit)
        bar.update()
        return record

    try:
        run_units(todo_all, one, store)
    finally:
        bar.close()
    result = merge(options, store.records.values())
    if out_dir:
        write_atomic(result_file(out_dir, options.experiment), result.to_json())
    return result


def validate_diffusion(experiment: str = "loop", options: ExperimentOptions | None = None, out_dir=None,
                       resume: bool = False, progress: bool | None = None, **keywords) -> DiffusionValidation:
    """Run one diffusion experiment: ``options`` (:class:`ExperimentOptions`), or keyword options
    as in :func:`diffusion_config` (``validate_diffusion("loop", n_real=200, seeds=2)``)."""
    if options is None:
        options = diffusion_config(experiment, **keywords)
    elif keywords:
        raise BoundcalcError(f"validate_diffusion: give options or keywords, not both ({', '.join(keywords)})")
    return run_experiment(options, out_dir=out_dir, resume=resume, progress=progress)
