"""Per-generation error models eps_i of the learner trained at each generation.

A learner turns the plan of generation i (its training-set size N_i and, for the KDE, the
distribution of its training set) into an upper bound ``eps_i`` on the one-generation error
that enters the recursion ``a_i <= eps_i + TV(q_i, p0)`` (THEORY.md 4.1).

* :class:`PowerLaw`: ``eps(N) = C N^(-alpha)``, taken as exact.
* :class:`GaussianKDE`: explicit constants, lemmas K1 (or K1'), K2, C2, C3; bandwidth given
  or chosen by K3.  For ``i >= 2`` the K2 integral needs the law of the (random) training set;
  the calculator uses the exact *expected* training law of lemma K4.  This is an assumption,
  listed on every result (the a-posteriori bound of the validator is the checked one).
* :class:`Diffusion`: lemma D1 with named constants, training time given or optimal (D2), width
  given or proportional to N, KL turned into TV by the better of T4 / T4' (lemma D3).

Every learner has ``errors(scheme, generations, delta) -> list[GenerationError]``; a learner
whose error depends on N alone (``rate_only``) also has ``eps_of_n(n)`` and ``eps_expr``, the
sympy expression of eps(N) used by closed forms.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import mpmath
import sympy as sp

from boundcalc.theory import notation as S
from boundcalc._checks import (BoundcalcError, check_positive, check_positive_int, check_probability,
                     check_range)
from boundcalc.bounds.kde_terms import (auto_bandwidth, kde_bias_tv, kde_failure_split, kde_stochastic_tv)
from boundcalc.model.schemes import Scheme
from boundcalc.theory.catalogue import get_lemma

LEARNERS = ("power", "kde", "diffusion")


def mpf(x):
    return mpmath.mpmathify(x)


@dataclass(frozen=True)
class GenerationError:
    """eps_i of one generation, with the named terms that add up to it."""
    generation: int
    n_total: object
    eps: object
    terms: dict = field(default_factory=dict)


class Learner:
    name = ""
    rate_only = True  # eps depends on the training-set size alone
    uses_delta = True  # eps is a high-probability statement (split over generations by lemma C3)
    #: ids of the lemmas the learner's eps rests on
    lemma_ids: tuple[str, ...] = ()

    def eps_of_n(self, n):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def eps_expr(self) -> sp.Expr | None:
        """eps as a sympy expression of N, or None when no compact expression exists."""
        return None

    @property
    def parameters(self) -> dict:
        """Values of the symbols of ``eps_expr`` other than N."""
        return {}

    def errors(self, scheme: Scheme, generations: int, delta) -> list[GenerationError]:
        sizes = [scheme.n_total(i) for i in range(1, generations + 1)]
        return [GenerationError(i, mpf(n), self.eps_of_n(n)) for i, n in enumerate(sizes, start=1)]

    def assumptions(self, scheme: Scheme) -> list[str]:
        return []

    def to_dict(self) -> dict:
        return {"learner": self.name}


class PowerLaw(Learner):
    """``eps(N) = C N^(-alpha)``: a learner whose one-generation TV error is this rate exactly."""

    name = "power"
    lemma_ids = ()
    uses_delta = False

    def __init__(self, C, alpha):
        self.C = check_positive("C", C)
        self.alpha = check_positive("alpha", alpha)
        self._C, self._minus_alpha = mpf(C), -mpf(alpha)

    def eps_of_n(self, n):
        return self._C * mpf(n) ** self._minus_alpha

    @property
    def eps_expr(self):
        return S.C * S.N ** (-S.alpha)

    @property
    def parameters(self):
        return {S.C: self.C, S.alpha: self.alpha}

    def assumptions(self, scheme):
        return [f"the learner's one-generation error is eps(N) = {self.C:g} N^(-{self.alpha:g}) "
                "for every training distribution q_i (a modelling assumption, not a theorem)"]

    def to_dict(self):
        return {"learner": self.name, "C": self.C, "alpha": self.alpha}


def gaussian_abs_moment(beta_, dim) -> float:
    """E|Z|^beta for Z ~ N(0, I_dim): ``2^(beta/2) Gamma((dim+beta)/2) / Gamma(dim/2)``."""
    return float(2 ** (beta_ / 2) * mpmath.gamma((dim + beta_) / 2) / mpmath.gamma(dim / 2))


class GaussianKDE(Learner):
    """Gaussian-kernel KDE with explicit constants (THEORY.md 3.3 and 4.3).

    ``eps_i = b(h) + s_i`` with ``b(h) = (h^2/4) ||Laplacian p0||_1`` (K1, halved) or, in the
    Hoelder version, ``b(h) = (L/2) h^beta E|Z|^beta`` (K1' with the Gaussian kernel, beta <= 2),
    and ``s_i`` half of K2 + C2 at the level given by the C3 split
    (:func:`boundcalc.bounds.kde_terms.kde_failure_split`).

    Parameters
    ----------
    target : GaussianMixture or None
        p0; supplies ``||Laplacian p0||_1`` and the K2 integrals of the expected training laws.
    bandwidth : float or "auto"
        ``auto`` is the K3 choice for ``n_real`` samples of the target.
    laplacian_l1, k2_integral : float, optional
        Raw density quantities used instead of the target (``k2_integral`` is then taken as a
        bound on the K2 integral of every generation's training law).
    holder_L, holder_beta : float, optional
        Use lemma K1' (Hoelder class) for the bias instead of K1.
    """

    name = "kde"
    rate_only = False
    lemma_ids = ("K1", "K2", "C2", "C3", "K4", "T1", "T2", "T3")

    def __init__(self, target=None, bandwidth="auto", dim=None, laplacian_l1=None,
                 k2_integral=None, holder_L=None, holder_beta=None):
        self.target = target
        self.dim = check_positive_int("dim", dim if dim is not None else (target.dim if target else 1))
        if target is not None and target.dim != self.dim:
            raise BoundcalcError(f"dim must equal the target's dimension {target.dim}, got {self.dim}")
        if target is None and (k2_integral is None or (laplacian_l1 is None and holder_L is None)):
            raise BoundcalcError("kde learner needs --target, or --k2-integral with --laplacian-l1 "
                                 "(or --holder-L/--holder-beta)")
        self.laplacian_l1 = (check_positive("laplacian_l1", laplacian_l1) if laplacian_l1 is not None
                             else (target.laplacian_l1() if holder_L is None else None))
        self.k2_integral = None if k2_integral is None else check_positive("k2_integral", k2_integral)
        if (holder_L is None) != (holder_beta is None):
            raise BoundcalcError("holder_L and holder_beta must be given together")
        self.holder_L = None if holder_L is None else check_positive("holder_L", holder_L)
        self.holder_beta = None if holder_beta is None else check_range("holder_beta", holder_beta, 0, 2, False, True)
        self.bandwidth = bandwidth
        if bandwidth != "auto":
            self.bandwidth = check_positive("bandwidth", bandwidth)
        elif target is None:
            raise BoundcalcError("bandwidth auto needs --target; give a number otherwise")
        for name, value in (("laplacian_l1", self.laplacian_l1), ("bandwidth", self.bandwidth)):
            if value not in (None, "auto") and not (0 < float(value) < 1e100):
                raise BoundcalcError(f"{name} must be a finite number in (0, 1e100); got {value:g}"
                                     + (" (computed from --target: its scales are too small or too large)"
                                        if name == "laplacian_l1" and laplacian_l1 is None else ""))
        if self.holder_L is not None:
            self.lemma_ids = ("K1p",) + self.lemma_ids[1:]
        if self.bandwidth == "auto":
            self.lemma_ids = self.lemma_ids + ("K3",)

    def resolved_bandwidth(self, n_real) -> float:
        return auto_bandwidth(self.target, n_real) if self.bandwidth == "auto" else float(self.bandwidth)

    def bias(self, h):
        if self.holder_L is not None:  # lemma K1' halved, kappa = E|Z|^beta of the Gaussian kernel
            return get_lemma("K1p").evaluate(L=self.holder_L, h=h, beta=self.holder_beta,
                                             kappa=gaussian_abs_moment(self.holder_beta, self.dim)) / 2
        return kde_bias_tv(h, self.laplacian_l1)

    def _k2(self, law, h):
        if self.k2_integral is not None:
            return self.k2_integral
        return law.k2_integral(h) if self.dim <= 2 else law.k2_moment_bound(h)

    def errors(self, scheme, generations, delta):
        from boundcalc.model.kde_law import expected_training_mixtures  # lemma K4
        h = self.resolved_bandwidth(scheme.n_real)
        split = kde_failure_split(scheme, generations, delta)
        bias = self.bias(h)
        laws = None
        if self.target is not None and self.k2_integral is None:
            outputs = expected_training_mixtures(self.target, scheme, h, generations)
            laws = [self.target] + list(outputs)  # laws[j] = expected law of p_j, laws[0] = p0
        out, source_k2 = [], {}
        for plan in scheme.plans(generations):
            if split.mode == "joint":
                if laws is None:
                    j = self.k2_integral
                else:
                    from boundcalc.model.targets import mixture_of
                    w = plan.weights()
                    j = self._k2(mixture_of([(w[s], laws[s]) for s in range(len(w))]), h)
                stoch = kde_stochastic_tv(plan.n_total, h, self.dim, j, split.per_event_delta)
            else:
                stoch = mpf(0)
                for b in plan.blocks:
                    if laws is None:
                        j = self.k2_integral
                    else:  # J depends on the block's source only: one integral per source
                        if b.source not in source_k2:
                            source_k2[b.source] = self._k2(laws[b.source], h)
                        j = source_k2[b.source]
                    stoch += mpf(b.count) / mpf(plan.n_total) * kde_stochastic_tv(
                        b.count, h, self.dim, j, split.per_event_delta)
            out.append(GenerationError(plan.generation, mpf(plan.n_total), bias + stoch,
                                       {"bias": bias, "stochastic": stoch, "bandwidth": h}))
        return out

    def assumptions(self, scheme):
        items = ["Gaussian kernel; the samples of each training set are independent given the past "
                 "(blocks reused across generations are bounded once each, lemma C3)"]
        if self.holder_L is not None:
            items.append(f"p0 lies in the L1-Hoelder class with L = {self.holder_L:g}, beta = {self.holder_beta:g} (lemma K1')")
        else:
            items.append("p0 has an integrable Laplacian (lemma K1)")
        if self.k2_integral is not None:
            items.append(f"the K2 integral of every generation's training law is at most {self.k2_integral:g} (user-supplied)")
        else:
            items.append("for generations i >= 2 the K2 integral is evaluated at the exact expected training "
                         "law of lemma K4 rather than the realised one: an assumption about the realised "
                         "laws, not a high-probability fact (the validator's a-posteriori bound is the checked one)")
        if self.dim > 2 and self.k2_integral is None:
            items.append("dim > 2: the K2 integral is replaced by its moment bound sqrt(pi^d E prod(1 + X_k^2))")
        if self.bandwidth == "auto":
            items.append("bandwidth chosen by lemma K3 for n_real samples of the target and kept fixed")
        return items

    def to_dict(self):
        return {"learner": self.name, "bandwidth": self.bandwidth, "dim": self.dim,
                "target": None if self.target is None else self.target.to_dict(),
                "laplacian_l1": self.laplacian_l1, "k2_integral": self.k2_integral,
                "holder_L": self.holder_L, "holder_beta": self.holder_beta}


#: default named constants of lemma D1 (c_approx = 0: D1 assumes the score lies in the RKHS)
DIFFUSION_DEFAULTS = {"c_stat": 1.0, "c_width": 1.0, "c_opt": 1.0, "c_mc": 1.0,
                      "c_approx": 0.0, "c_prior": 1.0}


class Diffusion(Learner):
    """Random-feature diffusion model of Li et al. (2023) in the loop (lemmas D1, D2, D3).

    ``KL(N) = c_stat tau^4/(m N) + c_width tau^3/m^2 + c_opt/tau + c_mc/m + c_approx + c_prior e^(-2T)``,
    ``eps(N) = min(sqrt(KL/2), sqrt(1 - exp(-KL)))``, with ``tau`` given or the D2 optimum and
    ``m`` given (``width``) or ``width_ratio * N``.
    """

    name = "diffusion"
    lemma_ids = ("D1", "D2", "D3", "T4", "T4p")

    def __init__(self, width=None, width_ratio=1.0, tau="auto", horizon=10.0, **constants):
        unknown = set(constants) - set(DIFFUSION_DEFAULTS)
        if unknown:
            raise BoundcalcError(f"unknown diffusion constants {sorted(unknown)}; valid: {sorted(DIFFUSION_DEFAULTS)}")
        self.constants = {k: float(check_range(k, constants.get(k, v), 0, mpmath.inf, True, False))
                          for k, v in DIFFUSION_DEFAULTS.items()}
        for k in ("c_stat", "c_opt"):
            check_positive(k, self.constants[k])
        self.width = None if width is None else check_positive("width", width)
        self.width_ratio = check_positive("width_ratio", width_ratio)
        self.tau = tau if tau == "auto" else check_range("tau", tau, 1, mpmath.inf, True, False)
        self.horizon = check_positive("horizon", horizon)

    def width_for(self, n):
        return mpf(self.width) if self.width is not None else mpf(self.width_ratio) * mpf(n)

    def tau_for(self, n):
        if self.tau != "auto":
            return mpf(self.tau)
        return self._optimal_tau(self.width_for(n), mpf(n))

    @functools.lru_cache(maxsize=4096)
    def _optimal_tau(self, m, n):
        c = self.constants  # lemma D2, evaluated through the catalogue
        return mpf(get_lemma("D2").evaluate(m=m, n=n, c_stat=c["c_stat"], c_width=c["c_width"], c_opt=c["c_opt"]))

    def kl_of_n(self, n):
        c = self.constants
        return get_lemma("D1").evaluate(tau=self.tau_for(n), m=self.width_for(n), n=mpf(n), T=self.horizon, **c)

    def eps_of_n(self, n):
        return get_lemma("D3").evaluate(KL=self.kl_of_n(n))

    def errors(self, scheme, generations, delta):
        check_probability("delta", delta)
        out = []
        for i in range(1, generations + 1):
            n = scheme.n_total(i)
            out.append(GenerationError(i, mpf(n), self.eps_of_n(n),
                                       {"KL": self.kl_of_n(n), "tau": self.tau_for(n), "width": self.width_for(n)}))
        return out

    def assumptions(self, scheme):
        return ["lemma D1 (Li et al. 2023) holds for every training law q_i with the same named constants "
                "(an idealisation: a diffusion model's output has Gaussian tails, not compact support)",
                "the named constants absorb d log(d+1), RKHS norms, the T-dependent factors and the "
                "polylog(1/delta) factor at the per-generation level delta/K (lemma C3); defaults "
                + ", ".join(f"{k} = {v:g}" for k, v in self.constants.items()),
                "training time " + ("tau* of lemma D2 for each N_i" if self.tau == "auto" else f"tau = {self.tau:g}")
                + "; width " + (f"m = {self.width:g}" if self.width is not None else f"m = {self.width_ratio:g} N_i")]

    def to_dict(self):
        return {"learner": self.name, "width": self.width, "width_ratio": self.width_ratio,
                "tau": self.tau, "horizon": self.horizon, "constants": dict(self.constants)}


def make_learner(name: str, **options) -> Learner:
    """Build a learner by name from keyword options (unused ``None`` options are ignored)."""
    from boundcalc._checks import check_choice
    check_choice("learner", name, LEARNERS)
    opts = {k: v for k, v in options.items() if v is not None}
    if name == "power":
        missing = [k for k in ("C", "alpha") if k not in opts]
        if missing:
            raise BoundcalcError("learner power needs " + " and ".join(f"--{k}" for k in missing)
                                 + " (eps(N) = C N^-alpha, both > 0)")
        return PowerLaw(opts["C"], opts["alpha"])
    if name == "kde":
        return GaussianKDE(**opts)
    return Diffusion(**opts)
