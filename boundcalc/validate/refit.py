"""The Gaussian refit validator (``boundcalc validate gaussian``, :func:`validate_gaussian`): the
classic collapse example, a Gaussian fitted by maximum likelihood and refitted on its own samples.

Generation i fits ``N(mu_i, sigma_i^2)`` (mean and ddof=0 variance) to the training set of
``scheme.plan(i)`` (the loop of :mod:`boundcalc.validate.loop`, the same scheme objects as the
bounds) with target ``p0 = N(0, 1)``.  Per generation it records sigma_i^2, mu_i, the TV
``TV(N(mu_i, sigma_i^2), p0)`` in closed form (no grid: at small sigma no grid resolves it) and the
held-out negative log-likelihood on real samples of p0 (drawn once per run from a separate stream).

Exact laws (derivations/RF1.md) held against the runs by z-tests:

* replace (N_1 = n_real, N_i = n_synth): ``sigma_t^2 = prod_i chi2_{N_i-1}/N_i``, so
  ``E log sigma_t^2 = sum_i (psi((N_i-1)/2) + ln(2/N_i))`` with variance
  ``sum_i psi'((N_i-1)/2)`` (a z-test on log sigma^2, valid whatever t: the mean of sigma_t^2
  itself is dominated by rare paths when t psi' is large), and
  ``E sigma_t^2 = prod_i (N_i-1)/N_i`` tested where that mean is estimable (relative sd of
  sigma_t^2 at most 1/2);
* accumulate with the real data kept (``real_data="reused"``): ``sigma_t^2 = (chi2_{n-1}/n)
  prod_{i=2}^t rho_i`` with independent ``rho_i = (N_{i-1} + chi2_{s-1} + (N_{i-1}/N_i) chi2_1)/N_i``,
  ``E rho_i = 1 - s/N_i^2``: the mean falls slowly to a positive limit (not flat, no collapse);
* every scheme: the held-out NLL against its exact expectation given the fit,
  ``E_p0[-log q] = (1/2) log(2 pi sigma^2) + (1 + mu^2)/(2 sigma^2)``; TV in [0, 1], NLL finite.

Units, records and merge follow :mod:`boundcalc.validate.runner` (one unit per seed index k,
randomness from ``SeedSequence([seed, k, stream])``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

from boundcalc._checks import BoundcalcError, check_choice, check_positive_int
from boundcalc._io import dumps
from boundcalc.validate.checks import format_checks, verdict
from boundcalc.validate.result import ValidationResult
from boundcalc.validate.runner import Unit, seed_rng, to_record

EXPERIMENT = "gaussian-refit"
REFIT_SCHEMES = ("replace", "mix", "accumulate", "accumulate-subsample")
#: family-wise level of the z-tests (Bonferroni over the generations tested)
Z_ALPHA = 1e-3
#: the mean law of sigma_t^2 is tested where the exact relative sd of sigma_t^2 is at most this
MEAN_TESTABLE_RELATIVE_SD = 0.5
#: size guard: samples drawn over all seeds and generations
MAX_SAMPLE_WORK = 10 ** 9


@dataclass(frozen=True)
class RefitConfig:
    """Inputs of ``boundcalc validate gaussian`` (validated by :meth:`checked`)."""

    validator = "refit"

    scheme: str = "replace"
    n_real: int = 100
    n_synth: int | None = None
    generations: int = 10
    seeds: int = 1000
    seed: int = 0
    real_data: str = "fresh"
    held_out: int = 1000
    subsample: int | None = None

    def checked(self) -> "RefitConfig":
        check_choice("scheme", self.scheme, REFIT_SCHEMES)
        check_choice("real_data", self.real_data, ("fresh", "reused"))
        n_real = check_positive_int("n_real", self.n_real, minimum=2)
        n_synth = n_real if self.n_synth is None else check_positive_int("n_synth", self.n_synth, minimum=0)
        if self.scheme in ("replace", "accumulate", "accumulate-subsample") and n_synth < 2:
            raise BoundcalcError(f"n_synth must be at least 2 for {self.scheme} (a variance needs two samples), "
                                 f"got {n_synth}")
        subsample = None
        if self.scheme == "accumulate-subsample":
            subsample = check_positive_int("subsample", self.subsample if self.subsample is not None else n_real,
                                           minimum=2)
        elif self.subsample is not None:
            raise BoundcalcError(f"subsample applies to the accumulate-subsample scheme, not {self.scheme}")
        cfg = RefitConfig(self.scheme, n_real, n_synth, check_positive_int("generations", self.generations),
                          check_positive_int("seeds", self.seeds), check_positive_int("seed", self.seed, minimum=0),
                          self.real_data, check_positive_int("held_out", self.held_out, minimum=2), subsample)
        work = cfg.seeds * (sum(cfg.sizes()) + cfg.generations * cfg.held_out)
        if work > MAX_SAMPLE_WORK:
            raise BoundcalcError(f"seeds x (training samples + held-out evaluations) must be at most {MAX_SAMPLE_WORK} "
                                 f"(a size guard), got {work}")
        return cfg

    def make_scheme(self):
        from boundcalc.model.schemes import make_scheme

        if self.scheme == "accumulate-subsample":
            from boundcalc.model.schemes import AccumulateSubsample

            return AccumulateSubsample(self.n_real, self.n_synth, self.subsample)
        return make_scheme(self.scheme, self.n_real, self.n_synth, self.real_data)

    def sizes(self) -> list[int]:
        scheme = self.make_scheme()
        return [sum(b.size for b in scheme.plan(i).blocks) for i in range(1, self.generations + 1)]

    def to_dict(self) -> dict:
        return asdict(self)


def refit_config(**options) -> RefitConfig:
    """A checked :class:`RefitConfig` (keywords: the options of ``validate gaussian``, underscores)."""
    return RefitConfig(**options).checked()


# -- closed forms --------------------------------------------------------------------------------------
def _norm_cdf(x):
    from scipy.special import ndtr

    return ndtr(x)


def tv_normal_to_standard(mu: float, sigma: float) -> float:
    """``TV(N(mu, sigma^2), N(0, 1))`` in closed form [classical].

    The densities cross where ``log phi_sigma(x - mu) = log phi(x)``, a quadratic in x (linear
    when sigma = 1); on the interval [x1, x2] between the crossings one density is above the
    other, so ``TV = |(F(x2) - F(x1)) - (Phi(x2) - Phi(x1))|`` with F the cdf of N(mu, sigma^2).

    >>> round(tv_normal_to_standard(0.0, 1.0), 12), round(tv_normal_to_standard(2.0, 1.0), 6)
    (0.0, 0.682689)
    """
    mu, sigma = float(mu), float(sigma)
    if not (math.isfinite(mu) and math.isfinite(sigma) and sigma > 0):
        return math.nan
    if sigma == 1.0:
        return float(2 * _norm_cdf(abs(mu) / 2) - 1)
    # (x - mu)^2 / sigma^2 + 2 log sigma = x^2  <=>  a x^2 + b x + c = 0
    a = 1 / sigma ** 2 - 1
    b = -2 * mu / sigma ** 2
    c = mu ** 2 / sigma ** 2 + 2 * math.log(sigma)
    disc = b * b - 4 * a * c
    if disc <= 0:  # cannot happen for two distinct Gaussians with sigma != 1; guard rounding
        return 1.0 if disc < 0 else float(abs(_norm_cdf(-b / (2 * a)) - _norm_cdf((-b / (2 * a) - mu) / sigma)))
    r = math.sqrt(disc)
    x1, x2 = sorted(((-b - r) / (2 * a), (-b + r) / (2 * a)))
    dp = _norm_cdf((x2 - mu) / sigma) - _norm_cdf((x1 - mu) / sigma)
    dq = _norm_cdf(x2) - _norm_cdf(x1)
    return float(min(1.0, abs(dp - dq)))


def expected_nll(mu: float, sigma2: float) -> float:
    """``E_{X ~ N(0,1)}[-log phi_{mu, sigma2}(X)] = (1/2) log(2 pi sigma2) + (1 + mu^2) / (2 sigma2)``."""
    return 0.5 * math.log(2 * math.pi * sigma2) + (1 + mu * mu) / (2 * sigma2)


def replace_log_law(sizes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact mean, variance and fourth cumulant of log sigma_t^2, t = 1..K, under replace with
    training-set sizes ``sizes`` (N_1..N_K), sigma_0 = 1: sums over i <= t of
    ``psi((N_i-1)/2) + ln(2/N_i)``, ``psi'((N_i-1)/2)``, ``psi'''((N_i-1)/2)`` (the cumulants of
    ``log(chi2_k / N) = ln(2/N) + log Gamma(k/2)``) [classical].

    >>> m, v, _ = replace_log_law([10, 10])
    >>> [round(float(x), 6) for x in m], [round(float(x), 6) for x in v]
    ([-0.220567, -0.441134], [0.248725, 0.49745])
    """
    from scipy.special import polygamma, psi

    k = (np.asarray(sizes, dtype=float) - 1) / 2
    mean = np.cumsum(psi(k) + np.log(2 / np.asarray(sizes, dtype=float)))
    var = np.cumsum(polygamma(1, k))
    k4 = np.cumsum(polygamma(3, k))
    return mean, var, k4


def mean_law(scheme_name: str, sizes) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``E sigma_t^2`` and ``E sigma_t^4`` (sigma_0 = 1), t = 1..K: replace (each factor
    chi2_{N-1}/N: moments (N-1)/N and (N-1)(N+1)/N^2) or accumulate with the real data kept
    (first factor as replace, then rho_i with ``E rho = 1 - s/N_i^2`` and
    ``Var rho = (2(s-1) + 2 c_i^2)/N_i^2``, c_i = N_{i-1}/N_i, s = N_i - N_{i-1}); see
    derivations/RF1.md.

    >>> m, _ = mean_law("accumulate", [100, 200, 300])
    >>> [round(float(x), 8) for x in m]
    [0.99, 0.987525, 0.98642775]
    """
    N = np.asarray(sizes, dtype=float)
    first, first2 = (N[0] - 1) / N[0], (N[0] - 1) * (N[0] + 1) / N[0] ** 2
    m1, m2 = [first], [first2]
    for i in range(1, N.size):
        if scheme_name == "replace":
            f1, f2 = (N[i] - 1) / N[i], (N[i] - 1) * (N[i] + 1) / N[i] ** 2
        else:
            s, c = N[i] - N[i - 1], N[i - 1] / N[i]
            f1 = 1 - s / N[i] ** 2
            f2 = (2 * (s - 1) + 2 * c * c) / N[i] ** 2 + f1 * f1
        m1.append(m1[-1] * f1)
        m2.append(m2[-1] * f2)
    return np.asarray(m1), np.asarray(m2)


# -- units ---------------------------------------------------------------------------------------------
def units(config: RefitConfig) -> list[Unit]:
    config = config.checked()
    return [Unit(EXPERIMENT, f"seed{k}", k, config) for k in range(config.seeds)]


def run_unit(unit: Unit) -> dict:
    """One seeded refit loop: per generation sigma^2, mu, closed-form TV to p0, held-out NLL."""
    from boundcalc.model.targets import normal
    from boundcalc.validate.generators import GaussianRefit
    from boundcalc.validate.loop import iterate_loop

    cfg = unit.config
    k = unit.seed_index
    held = seed_rng(cfg.seed, k, 1).standard_normal(cfg.held_out)
    out = {"unit": unit.key, "seed_index": k, "sigma2": [], "mu": [], "tv": [], "nll": [], "nll_expected": [],
           "n_train": []}
    for step in iterate_loop(cfg.make_scheme(), normal(), cfg.generations, lambda i, n: GaussianRefit(),
                             seed_rng(cfg.seed, k, 0)):
        model = step.model
        if model.status_ in ("non_finite", "empty"):
            break
        mu, s2 = float(model.mean_[0]), float(model.variance_[0])
        out["mu"].append(mu)
        out["sigma2"].append(s2)
        out["n_train"].append(step.n_train)
        if s2 > 0:
            out["tv"].append(tv_normal_to_standard(mu, math.sqrt(s2)))
            z = (held - mu) / math.sqrt(s2)
            out["nll"].append(float(np.mean(0.5 * z * z) + 0.5 * math.log(2 * math.pi * s2)))
            out["nll_expected"].append(expected_nll(mu, s2))
        else:
            out["tv"].append(1.0)
            out["nll"].append(math.inf)
            out["nll_expected"].append(math.inf)
    return to_record(json_safe(out))


def json_safe(value):
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


# -- merge ---------------------------------------------------------------------------------------------
def _matrix(runs, key, K):
    out = np.full((len(runs), K), np.nan)
    for r, run in enumerate(runs):
        vals = [float(v) for v in run[key]]
        out[r, :len(vals)] = vals
    return out


def _z_crit(tests: int) -> float:
    from scipy.stats import norm

    return float(norm.isf(Z_ALPHA / (2 * max(tests, 1))))


def merge(config: RefitConfig, records: Iterable[dict]) -> "RefitValidation":
    from boundcalc.validate.summary import nan_to_none, summarize_over_seeds

    config = config.checked()
    runs, seen = [], set()
    for record in records:
        record = to_record(record)
        if record["unit"] in seen:
            raise BoundcalcError(f"merge: unit {record['unit']} given twice")
        seen.add(record["unit"])
        runs.append(record)
    runs.sort(key=lambda r: r["seed_index"])
    K, S = config.generations, len(runs)
    sizes = config.sizes()
    s2 = _matrix(runs, "sigma2", K)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s2 = np.where(s2 > 0, np.log(s2), np.nan)
    tv, nll, nll_exp = _matrix(runs, "tv", K), _matrix(runs, "nll", K), _matrix(runs, "nll_expected", K)
    summary = {"sigma2": summarize_over_seeds(s2, ranged=True), "log_sigma2": summarize_over_seeds(log_s2),
               "tv": summarize_over_seeds(tv, ranged=True), "nll": summarize_over_seeds(nll)}
    checks = []
    bad_tv = int(np.sum(~((tv >= 0) & (tv <= 1)) & ~np.isnan(tv)))
    checks.append({"name": "TV in [0, 1]", "passed": bad_tv == 0, "kind": "consistency",
                   "statement": f"{bad_tv} closed-form TV(p_t, p0) values outside [0, 1]"})
    finite_nll = np.isfinite(nll) | np.isnan(s2)
    checks.append({"name": "held-out NLL finite", "passed": bool(finite_nll.all()),
                   "statement": f"{int((~finite_nll).sum())} of {nll.size} held-out NLLs not finite "
                                f"({config.held_out} real samples of p0 per run, drawn apart from the training data)"})
    diff = nll - nll_exp
    dsum = summarize_over_seeds(diff)
    zs = [abs(m) / se if se and se > 0 else 0.0 for m, se in zip(dsum["mean"], dsum["se"])]
    crit = _z_crit(K)
    if S > 1:
        checks.append({"name": "held-out NLL against its exact expectation", "passed": bool(max(zs) <= crit),
                       "kind": "reference",
                       "statement": f"mean over runs of (held-out NLL - E_p0[-log q_t]) is within {crit:.2f} standard "
                                    f"errors of 0 at every generation (largest |z| {max(zs):.2f})"})
    law = {}
    if config.scheme == "replace" and S > 1:
        mean, var, k4 = replace_log_law(sizes)
        lsum = summary["log_sigma2"]
        z_mean = [(m - e) / math.sqrt(v / c) for m, e, v, c in zip(lsum["mean"], mean, var, lsum["count"])]
        sample_var = np.nanvar(log_s2, axis=0, ddof=1)
        z_var = [(sv - v) / math.sqrt(q / c + 2 * v * v / (c - 1))
                 for sv, v, q, c in zip(sample_var, var, k4, lsum["count"])]
        law["log_sigma2"] = {"expected_mean": mean.tolist(), "expected_variance": var.tolist(),
                             "measured_variance": sample_var.tolist(), "z_mean": z_mean, "z_variance": z_var,
                             "formula": "E log sigma_t^2 = sum_i psi((N_i-1)/2) + ln(2/N_i); "
                                        "Var = sum_i psi'((N_i-1)/2)"}
        checks.append({"name": "replace: law of log sigma_t^2", "passed": bool(max(map(abs, z_mean + z_var)) <= crit),
                       "kind": "reference",
                       "statement": f"mean and variance of log sigma_t^2 over {S} runs against the exact law at every "
                                    f"t <= {K}: largest |z| {max(map(abs, z_mean)):.2f} (mean), "
                                    f"{max(map(abs, z_var)):.2f} (variance), limit {crit:.2f} (family level {Z_ALPHA:g})"})
    if S > 1 and (config.scheme == "replace" or (config.scheme == "accumulate" and config.real_data == "reused")):
        m1, m2 = mean_law(config.scheme, sizes)
        rel_sd = np.sqrt(np.maximum(m2 / m1 ** 2 - 1, 0))
        testable = [t for t in range(K) if rel_sd[t] <= MEAN_TESTABLE_RELATIVE_SD]
        ssum = summary["sigma2"]
        z = {t + 1: (ssum["mean"][t] - m1[t]) / math.sqrt((m2[t] - m1[t] ** 2) / ssum["count"][t]) for t in testable}
        law["sigma2_mean"] = {"expected_mean": m1.tolist(), "expected_second_moment": m2.tolist(),
                              "relative_sd": rel_sd.tolist(), "tested_generations": [t + 1 for t in testable],
                              "z": list(z.values())}
        if testable:
            crit_m = _z_crit(len(testable))
            worst = max(abs(v) for v in z.values())
            checks.append({"name": f"{config.scheme}: mean law E sigma_t^2", "passed": bool(worst <= crit_m),
                           "kind": "reference",
                           "statement": f"mean of sigma_t^2 over {S} runs against the exact E sigma_t^2 at t = "
                                        f"{testable[0] + 1}..{testable[-1] + 1} (where the relative sd of sigma_t^2 is "
                                        f"<= {MEAN_TESTABLE_RELATIVE_SD}): largest |z| {worst:.2f}, limit {crit_m:.2f}"})
        else:
            law["sigma2_mean"]["note"] = "the mean of sigma_t^2 is not estimable here (relative sd > 1/2 at t = 1)"
    for block in summary.values():
        for key in list(block):
            if key not in ("count", "interval"):
                block[key] = nan_to_none(block[key])
    data = {"validator": "gaussian-refit", "status": "complete" if S == config.seeds else "incomplete",
            "inputs": config.to_dict(), "target": "N(0, 1)", "training_set_sizes": sizes,
            "generations": list(range(1, K + 1)), "seeds_finished": S, "summary": summary, "law": law,
            "checks": checks, "metrics": {"tv": "TV(N(mu_t, sigma_t^2), N(0, 1)) in closed form",
                                          "nll": "mean -log q_t(x) over held-out real samples x of p0"}}
    data["all_checks_passed"] = all(c["passed"] for c in checks)
    return RefitValidation(to_record(json_safe(data)))


class RefitValidation(ValidationResult):
    """Result of :func:`validate_gaussian` (``data``: the JSON object)."""

    validator = "gaussian-refit"

    def table(self) -> str:
        from boundcalc.validate.summary import format_table, interval_text

        d = self.data
        s = d["summary"]
        rows = []
        for k, gen in enumerate(d["generations"]):
            lo, hi = s["tv"]["ci95_low"][k], s["tv"]["ci95_high"][k]
            exp = d["law"].get("log_sigma2", {}).get("expected_mean")
            exp2 = d["law"].get("sigma2_mean", {}).get("expected_mean")
            rows.append([gen, d["training_set_sizes"][k], s["sigma2"]["mean"][k], None if exp2 is None else exp2[k],
                         s["log_sigma2"]["mean"][k], None if exp is None else exp[k], s["tv"]["mean"][k],
                         interval_text(lo, hi), s["nll"]["mean"][k]])
        inp = d["inputs"]
        title = (f"Gaussian refit loop: scheme {inp['scheme']}, n_real {inp['n_real']}, n_synth {inp['n_synth']}, "
                 f"target N(0, 1), {d['seeds_finished']}/{inp['seeds']} seeds; means over seeds")
        table = format_table(["gen", "N_i", "sigma^2", "exact E", "log sigma^2", "exact E log", "TV(p_t,p0)", "TV 95% CI",
                              "held-out NLL"], rows, title)
        return (f"{table}\nTV 95% CI: {s['tv']['interval']}\nchecks ({verdict(d['all_checks_passed'])}):\n"
                f"{format_checks(d['checks'])}")

    def figure(self):
        from boundcalc import _figures
        from boundcalc._figures import Panel, Series

        d = self.data
        s = d["summary"]
        g = np.asarray(d["generations"], dtype=float)
        left = [Series(g, s["log_sigma2"]["mean"], low=s["log_sigma2"]["q025"], high=s["log_sigma2"]["q975"],
                       kind="band", color="C0", alpha=0.2, label=r"central 95% of runs"),
                Series(g, s["log_sigma2"]["mean"], color="C0", marker="o", label=r"measured mean $\log\sigma_t^2$")]
        exp = d["law"].get("log_sigma2", {}).get("expected_mean")
        if exp:
            left.append(Series(g, exp, color="k", linestyle="--", label=r"exact $E\log\sigma_t^2$"))
        right = [Series(g, s["tv"]["mean"], low=s["tv"]["ci95_low"], high=s["tv"]["ci95_high"], kind="errorbar",
                        color="C1", label=r"TV$(p_t, p_0)$, mean and 95% CI", clip=(0, 1))]
        inp = d["inputs"]
        return _figures.panels_figure([
            Panel(tuple(left), xlabel="generation $t$", ylabel=r"$\log\sigma_t^2$",
                  title=f"Gaussian refit, {inp['scheme']}, n_real {inp['n_real']}, {d['seeds_finished']} runs"),
            Panel(tuple(right), xlabel="generation $t$", ylabel="total variation to $p_0$", title="closed-form TV")],
            width=11, height=4.6)

    def _draw(self, out_dir):
        from boundcalc import _figures

        return _figures.save_figure(self.figure(), out_dir, f"gaussian_{self.data['inputs']['scheme']}")


def validate_gaussian(config: RefitConfig | None = None, **options) -> RefitValidation:
    """Run the Gaussian refit loops in this process (``validate_gaussian(scheme="replace", n_real=10,
    generations=100, seeds=1000)``); same bytes as ``merge(config, [run_unit(u) for u in units(config)])``."""
    if config is None:
        config = refit_config(**options)
    elif options:
        raise BoundcalcError(f"validate_gaussian: give a config or keywords, not both ({', '.join(options)})")
    config = config.checked()
    return merge(config, [run_unit(u) for u in units(config)])

