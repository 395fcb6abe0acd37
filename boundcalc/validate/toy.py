"""2-D toy data sets without a closed-form density, and a KDE loop on them measured by held-out
negative log-likelihood (``boundcalc validate toy``, :func:`validate_toy`).

Data sets (numpy only; each a sampler ``sample(rng, size)``, so train and held-out sets come from
the same generator):

* ``moons``: two interleaving half circles, ``(cos t, sin t)`` and ``(1 - cos t, 1/2 - sin t)``,
  t ~ U(0, pi), each point on either moon with probability 1/2, plus N(0, noise^2 I), noise 0.1;
* ``circles``: two concentric circles of radii 1 and ``factor`` = 0.5, angle ~ U(0, 2 pi), plus
  N(0, noise^2 I), noise 0.05;
* ``swiss-roll``: the 2-D swiss roll ``(t cos t, t sin t)``, t = 1.5 pi (1 + 2u), u ~ U(0, 1),
  plus N(0, noise^2 I), noise 0.5.

(scikit-learn's ``make_moons`` / ``make_circles`` place the points on evenly spaced angles; here the
angles are drawn uniformly, so every set is an i.i.d. sample of one distribution.)

Learner: the Gaussian KDE with a *data-driven* bandwidth computed from each generation's training
data as ``scipy.stats.gaussian_kde`` does: kernel covariance ``f^2 Cov(X)`` (ddof = 1) with Scott's
factor ``f = N^(-1/(d+4))`` or Silverman's ``f = (N (d+2)/4)^(-1/(d+4))`` [classical]; or a fixed
isotropic bandwidth h.  Metric: the held-out NLL ``-(1/M) sum_m log p_i(y_m)`` on M samples of the
same generator drawn apart from all training data (exact kernel sum, log-sum-exp).  There is no
exact density, so no TV: the NLL is the metric (as in Gerstgrasser et al. 2024).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

from boundcalc._checks import BoundcalcError, check_choice, check_positive_int
from boundcalc.validate.checks import format_checks, verdict
from boundcalc.validate.result import ValidationResult
from boundcalc.validate.runner import Unit, seed_rng, to_record

EXPERIMENT = "toy-kde"
DATASETS = ("moons", "circles", "swiss-roll")
RULES = ("scott", "silverman")
#: the usual noise of each data set
NOISE = {"moons": 0.1, "circles": 0.05, "swiss-roll": 0.5}
MAX_WORK = 10 ** 10  # seeds x generations x training size x held-out size (kernel evaluations)


@dataclass(frozen=True)
class ToyData:
    """A 2-D toy distribution (sampler only: no closed-form density)."""

    name: str
    noise: float

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        size = int(size)
        if self.name == "moons":
            t = rng.uniform(0.0, math.pi, size)
            upper = rng.random(size) < 0.5
            x = np.where(upper, np.cos(t), 1.0 - np.cos(t))
            y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
        elif self.name == "circles":
            t = rng.uniform(0.0, 2 * math.pi, size)
            r = np.where(rng.random(size) < 0.5, 1.0, 0.5)
            x, y = r * np.cos(t), r * np.sin(t)
        else:
            t = 1.5 * math.pi * (1 + 2 * rng.random(size))
            x, y = t * np.cos(t), t * np.sin(t)
        return np.column_stack([x, y]) + self.noise * rng.standard_normal((size, 2))


def toy_data(name: str, noise: float | None = None) -> ToyData:
    check_choice("data", name, DATASETS)
    noise = NOISE[name] if noise is None else float(noise)
    if not (math.isfinite(noise) and noise >= 0):
        raise BoundcalcError(f"noise must be a number >= 0, got {noise}")
    return ToyData(name, noise)


def bandwidth_factor(rule, n: int, d: int) -> float:
    """Scott's ``n^(-1/(d+4))`` or Silverman's ``(n (d+2)/4)^(-1/(d+4))`` (scipy.stats.gaussian_kde)."""
    if rule == "scott":
        return n ** (-1.0 / (d + 4))
    if rule == "silverman":
        return (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))
    raise BoundcalcError(f"bandwidth rule must be one of {', '.join(RULES)}, got {rule!r}")


class DataDrivenKDE:
    """Gaussian KDE whose kernel covariance is computed from the training data at ``fit``:
    ``f^2 Cov(X)`` for a rule (scott, silverman), or ``h^2 I`` for a number h."""

    def __init__(self, bandwidth="scott"):
        self.bandwidth = bandwidth

    def fit(self, samples) -> "DataDrivenKDE":
        from boundcalc.validate.protocol import data_status

        x = np.asarray(samples, dtype=float)
        x = x.reshape(x.shape[0], -1)
        self.samples_ = x
        self.n_, self.dim_ = x.shape
        self.status_ = data_status(x)
        if isinstance(self.bandwidth, str):
            self.factor_ = bandwidth_factor(self.bandwidth, self.n_, self.dim_)
            cov = np.atleast_2d(np.cov(x, rowvar=False, ddof=1)) * self.factor_ ** 2
        else:
            self.factor_ = float(self.bandwidth)
            cov = np.eye(self.dim_) * self.factor_ ** 2
        try:
            self.chol_ = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            self.status_ = "zero_variance"
            self.chol_ = np.eye(self.dim_) * 1e-300
        self.covariance_ = cov
        return self

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        index = rng.integers(self.n_, size=size)
        return self.samples_[index] + rng.standard_normal((size, self.dim_)) @ self.chol_.T

    def log_density(self, points) -> np.ndarray:
        """Exact ``log p(y) = log (1/N) sum_j phi_Sigma(y - X_j)`` (log-sum-exp, chunked)."""
        from scipy.linalg import solve_triangular
        from scipy.special import logsumexp

        y = np.asarray(points, dtype=float).reshape(-1, self.dim_)
        white_x = solve_triangular(self.chol_, self.samples_.T, lower=True).T
        white_y = solve_triangular(self.chol_, y.T, lower=True).T
        log_norm = -0.5 * self.dim_ * math.log(2 * math.pi) - float(np.sum(np.log(np.diag(self.chol_)))) \
            - math.log(self.n_)
        out = np.empty(y.shape[0])
        for start in range(0, y.shape[0], 256):
            d2 = np.sum((white_y[start:start + 256, None, :] - white_x[None, :, :]) ** 2, axis=2)
            out[start:start + 256] = logsumexp(-0.5 * d2, axis=1) + log_norm
        return out


@dataclass(frozen=True)
class ToyConfig:
    validator = "toy"

    data: str = "moons"
    scheme: str = "replace"
    n_real: int = 500
    n_synth: int | None = None
    generations: int = 10
    bandwidth: object = "scott"
    seeds: int = 20
    seed: int = 0
    real_data: str = "fresh"
    held_out: int = 1000
    noise: float | None = None

    def checked(self) -> "ToyConfig":
        check_choice("data", self.data, DATASETS)
        check_choice("scheme", self.scheme, ("replace", "mix", "accumulate"))
        check_choice("real_data", self.real_data, ("fresh", "reused"))
        bw = self.bandwidth
        if isinstance(bw, str) and bw not in RULES:
            try:
                bw = float(bw)
            except ValueError:
                raise BoundcalcError(f"bandwidth must be scott, silverman or a number > 0, got {bw!r}") from None
        if not isinstance(bw, str) and not (math.isfinite(float(bw)) and float(bw) > 0):
            raise BoundcalcError(f"bandwidth must be scott, silverman or a number > 0, got {bw!r}")
        n_real = check_positive_int("n_real", self.n_real, minimum=3)
        n_synth = n_real if self.n_synth is None else check_positive_int("n_synth", self.n_synth, minimum=0)
        cfg = ToyConfig(self.data, self.scheme, n_real, n_synth, check_positive_int("generations", self.generations),
                        bw if isinstance(bw, str) else float(bw), check_positive_int("seeds", self.seeds),
                        check_positive_int("seed", self.seed, minimum=0), self.real_data,
                        check_positive_int("held_out", self.held_out, minimum=2),
                        toy_data(self.data, self.noise).noise)
        work = cfg.seeds * cfg.held_out * sum(cfg.sizes())
        if work > MAX_WORK:
            raise BoundcalcError(f"seeds x held_out x training samples must be at most {MAX_WORK} (a size guard), "
                                 f"got {work}")
        return cfg

    def make_scheme(self):
        from boundcalc.model.schemes import make_scheme

        return make_scheme(self.scheme, self.n_real, self.n_synth, self.real_data)

    def sizes(self) -> list[int]:
        scheme = self.make_scheme()
        return [int(round(scheme.plan(i).n_total)) for i in range(1, self.generations + 1)]

    def to_dict(self) -> dict:
        return asdict(self)


def toy_config(**options) -> ToyConfig:
    return ToyConfig(**options).checked()


def units(config: ToyConfig) -> list[Unit]:
    config = config.checked()
    return [Unit(EXPERIMENT, f"seed{k}", k, config) for k in range(config.seeds)]


def run_unit(unit: Unit) -> dict:
    from boundcalc.validate.loop import iterate_loop

    cfg = unit.config
    data = toy_data(cfg.data, cfg.noise)
    k = unit.seed_index
    held = data.sample(seed_rng(cfg.seed, k, 1), cfg.held_out)
    out = {"unit": unit.key, "seed_index": k, "nll": [], "factor": [], "kernel_det": []}
    for step in iterate_loop(cfg.make_scheme(), data, cfg.generations, lambda i, n: DataDrivenKDE(cfg.bandwidth),
                             seed_rng(cfg.seed, k, 0)):
        m = step.model
        nll = float(-np.mean(m.log_density(held)))
        out["nll"].append(nll if math.isfinite(nll) else "inf")
        out["factor"].append(float(m.factor_))
        out["kernel_det"].append(float(np.linalg.det(m.covariance_)))
    return to_record(out)


def merge(config: ToyConfig, records: Iterable[dict]) -> "ToyValidation":
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
    K = config.generations
    nll = np.array([[float(v) for v in r["nll"]] + [math.nan] * (K - len(r["nll"])) for r in runs])
    det = np.array([r["kernel_det"] for r in runs], dtype=float)
    summary = {"nll": summarize_over_seeds(nll), "kernel_det": summarize_over_seeds(det, ranged=True)}
    finite = bool(np.all(np.isfinite(nll)))
    checks = [{"name": "held-out NLL finite", "passed": finite,
               "statement": f"{int(np.sum(~np.isfinite(nll)))} of {nll.size} held-out NLLs not finite "
                            f"({config.held_out} held-out samples of the same generator per run)"}]
    for block in summary.values():
        for key in list(block):
            if key not in ("count", "interval"):
                block[key] = nan_to_none(block[key])
    data = {"validator": "toy-kde", "status": "complete" if len(runs) == config.seeds else "incomplete",
            "inputs": config.to_dict(), "training_set_sizes": config.sizes(),
            "generations": list(range(1, K + 1)), "seeds_finished": len(runs), "summary": summary,
            "bandwidth_rule": (f"{config.bandwidth}: kernel covariance f^2 Cov(X) from each generation's training data "
                               "(as scipy.stats.gaussian_kde)" if isinstance(config.bandwidth, str)
                               else f"fixed h = {config.bandwidth} (kernel h^2 I)"),
            "metric": "held-out NLL: -(1/M) sum log p_i(y_m), y_m held-out samples of the data generator",
            "checks": checks}
    data["all_checks_passed"] = all(c["passed"] for c in checks)
    return ToyValidation(to_record(data))


class ToyValidation(ValidationResult):
    validator = "toy-kde"

    def table(self) -> str:
        from boundcalc.validate.summary import format_table, interval_text

        d = self.data
        s = d["summary"]
        rows = []
        for k, g in enumerate(d["generations"]):
            lo, hi = s["nll"]["ci95_low"][k], s["nll"]["ci95_high"][k]
            rows.append([g, d["training_set_sizes"][k], s["nll"]["mean"][k],
                         interval_text(lo, hi), s["kernel_det"]["mean"][k]])
        inp = d["inputs"]
        title = (f"KDE loop on {inp['data']} (noise {inp['noise']:g}), scheme {inp['scheme']}, n_real {inp['n_real']}, "
                 f"bandwidth {d['bandwidth_rule']}; {d['seeds_finished']}/{inp['seeds']} seeds")
        return (format_table(["gen", "N_i", "held-out NLL", "95% CI (Student t)", "det kernel cov"], rows, title)
                + f"\nchecks ({verdict(d['all_checks_passed'])}):\n{format_checks(d['checks'])}")


def validate_toy(config: ToyConfig | None = None, **options) -> ToyValidation:
    """KDE loops on a 2-D toy data set measured by held-out NLL (``validate_toy(data="moons")``)."""
    if config is None:
        config = toy_config(**options)
    elif options:
        raise BoundcalcError(f"validate_toy: give a config or keywords, not both ({', '.join(options)})")
    config = config.checked()
    return merge(config, [run_unit(u) for u in units(config)])
