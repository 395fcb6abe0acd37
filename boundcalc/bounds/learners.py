"""Per-generation error models eps_i of the learner trained at each generation.

A learner turns the plan of generation i (its training-set size N_i and, for the KDE, the
distribution of its training set) into an upper bound ``eps_i`` on the one-generation error
that enters the recursion ``a_i <= eps_i + TV(q_i, p0)`` (the composition theorem).

* :class:`PowerLaw`: ``eps(N) = C N^(-alpha)``, taken as exact.
* :class:`KDE` (alias :class:`GaussianKDE`): explicit constants, lemmas K1 (or K1'), K2, C2, C3; bandwidth given
  or chosen by K3.  For ``i >= 2`` the K2 integral needs the law of the (random) training set;
  the calculator uses the exact *expected* training law of lemma K4.  This is an assumption,
  listed on every result (the a-posteriori bound of the validator is the checked one).
* :class:`Diffusion`: lemma D1 with named constants, training time given or optimal (D2), width
  given or proportional to N, KL turned into TV by the better of T4 / T4' (lemma D3).

Every learner has ``errors(scheme, generations, delta) -> list[GenerationError]``; a learner
whose error depends on N alone (``rate_only``) also has ``eps_of_n(n)`` and ``eps_expr``, the
sympy expression of eps(N) used by closed forms.

Learners are frozen value objects: their fields are checked once, in ``__post_init__``, against
the parameter table of :mod:`boundcalc._checks`; ``dataclasses.replace`` gives a changed copy, and
every cache is a pure function of all the fields (tau* of lemma D2 is memoised by
``(m, n, c_stat, c_width, c_opt)``, not on the object).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import ClassVar

import mpmath
import sympy as sp

from boundcalc.theory import notation as S
from boundcalc._checks import BoundcalcError, check, check_optional, check_probability
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


def _field_repr(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{value:g}"
    return repr(value)


@dataclass(frozen=True, repr=False)
class Learner:
    name: ClassVar[str] = ""
    rate_only: ClassVar[bool] = True  # eps depends on the training-set size alone
    uses_delta: ClassVar[bool] = True  # eps is a high-probability statement (split over generations by lemma C3)
    #: ids of the lemmas the learner's eps rests on
    lemma_ids: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        hidden = self._derived_fields()
        shown = [f"{f.name}={_field_repr(getattr(self, f.name))}" for f in dataclasses.fields(self)
                 if f.name not in hidden and (f.default is dataclasses.MISSING or f.metadata.get("always")
                                              or getattr(self, f.name) != f.default)]
        return f"{type(self).__name__}({', '.join(shown)})"

    def _derived_fields(self) -> set:
        """Fields filled from others in ``__post_init__`` (left out of the repr)."""
        return set()

    def replace(self, **changes) -> "Learner":
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

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


@dataclass(frozen=True, repr=False)
class PowerLaw(Learner):
    """``eps(N) = C N^(-alpha)``: a learner whose one-generation TV error is this rate exactly.

    >>> PowerLaw(C=1, alpha=0.25)
    PowerLaw(C=1, alpha=0.25)
    >>> float(PowerLaw(2, 0.5).eps_of_n(400))
    0.1
    """

    C: float
    alpha: float

    name: ClassVar[str] = "power"
    lemma_ids: ClassVar[tuple[str, ...]] = ()
    uses_delta: ClassVar[bool] = False

    def __post_init__(self):
        object.__setattr__(self, "C", check("C", self.C))
        object.__setattr__(self, "alpha", check("alpha", self.alpha))

    @functools.cached_property
    def _C(self):
        return mpf(self.C)

    @functools.cached_property
    def _minus_alpha(self):
        return -mpf(self.alpha)

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
        return {"learner": self.name, "C": self.C, "alpha": self.alpha, "lemma_ids": list(self.lemma_ids)}


def gaussian_abs_moment(beta_, dim) -> float:
    """E|Z|^beta for Z ~ N(0, I_dim): ``2^(beta/2) Gamma((dim+beta)/2) / Gamma(dim/2)``."""
    return float(2 ** (beta_ / 2) * mpmath.gamma((dim + beta_) / 2) / mpmath.gamma(dim / 2))


@dataclass(frozen=True, repr=False)
class KDE(Learner):
    """Gaussian-kernel KDE with explicit constants (lemmas K1-K4, C2, C3).

    ``eps_i = b(h) + s_i`` with ``b(h) = (h^2/4) ||Laplacian p0||_1`` (K1, halved) or, in the
    Hoelder version, ``b(h) = (L/2) h^beta E|Z|^beta`` (K1' with the Gaussian kernel, beta <= 2),
    and ``s_i`` half of K2 + C2 at the level given by the C3 split
    (:func:`boundcalc.bounds.kde_terms.kde_failure_split`).

    Parameters
    ----------
    target : GaussianMixture, str or None
        p0 (a :class:`~boundcalc.model.targets.GaussianMixture` or a specification such as
        ``"bimodal"`` or ``"normal:sigma=2"``); supplies ``||Laplacian p0||_1`` and the K2 integrals of the expected training laws.
    bandwidth : float or "auto"
        ``auto`` is the K3 choice for ``n_real`` samples of the target.
    laplacian_l1, k2_integral : float, optional
        Raw density quantities used instead of the target (``k2_integral`` is then taken as a
        bound on the K2 integral of every generation's training law).
    holder_L, holder_beta : float, optional
        Use lemma K1' (Hoelder class) for the bias instead of K1.

    Examples
    --------
    >>> KDE("bimodal")
    KDE(target=GaussianMixture(name='bimodal', weights=[0.5, 0.5], means=[[-3.0], [3.0]], scales=[[1.0], [1.0]]), bandwidth='auto')
    >>> KDE("normal", bandwidth=0.2).dim
    1
    """

    target: object = field(default=None, metadata={"always": True})
    bandwidth: object = field(default="auto", metadata={"always": True})
    dim: int | None = None
    laplacian_l1: float | None = None
    k2_integral: float | None = None
    holder_L: float | None = None
    holder_beta: float | None = None

    name: ClassVar[str] = "kde"
    rate_only: ClassVar[bool] = False

    def __post_init__(self):
        target = self.target
        if isinstance(target, str):
            from boundcalc.model.targets import parse_target
            target = parse_target(target)
            object.__setattr__(self, "target", target)
        elif target is not None and not hasattr(target, "laplacian_l1"):
            raise BoundcalcError(f"target must be a GaussianMixture or a specification such as 'bimodal', "
                                 f"got {target!r}")
        dim = check("dim", self.dim if self.dim is not None else (target.dim if target is not None else 1))
        object.__setattr__(self, "dim", dim)
        if target is not None and target.dim != dim:
            raise BoundcalcError(f"dim must equal the target's dimension {target.dim}, got {dim}")
        holder_L, holder_beta = check_optional("holder_L", self.holder_L), check_optional("holder_beta", self.holder_beta)
        laplacian_l1 = check_optional("laplacian_l1", self.laplacian_l1)
        k2_integral = check_optional("k2_integral", self.k2_integral)
        if target is None and (k2_integral is None or (laplacian_l1 is None and holder_L is None)):
            raise BoundcalcError("kde learner needs --target, or --k2-integral with --laplacian-l1 "
                                 "(or --holder-L/--holder-beta)")
        if (holder_L is None) != (holder_beta is None):
            raise BoundcalcError("holder_L and holder_beta must be given together")
        if holder_L is not None and laplacian_l1 is not None:
            raise BoundcalcError("give laplacian_l1 (lemma K1) or holder_L/holder_beta (lemma K1'), not both")
        bandwidth = check("bandwidth", self.bandwidth)
        if bandwidth == "auto" and target is None:
            raise BoundcalcError("bandwidth auto needs --target; give a number otherwise")
        if bandwidth != "auto" and not bandwidth < 1e100:
            raise BoundcalcError(f"bandwidth must be a finite number in (0, 1e100); got {bandwidth:g}")
        for name, value in (("laplacian_l1", laplacian_l1), ("k2_integral", k2_integral),
                            ("holder_L", holder_L), ("holder_beta", holder_beta), ("bandwidth", bandwidth)):
            object.__setattr__(self, name, value)
        lap = laplacian_l1 if laplacian_l1 is not None else (target.laplacian_l1() if holder_L is None else None)
        if lap is not None and not (0 < float(lap) < 1e100):
            raise BoundcalcError(f"laplacian_l1 must be a finite number in (0, 1e100); got {float(lap):g}"
                                 + (" (computed from --target: its scales are too small or too large)"
                                    if laplacian_l1 is None else ""))
        object.__setattr__(self, "_lap", lap)  # derived once from the frozen fields

    def _derived_fields(self):
        return {"dim"} if self.target is not None else set()

    @property
    def lemma_ids(self) -> tuple[str, ...]:
        ids = ("K1p" if self.holder_L is not None else "K1", "K2", "C2", "C3", "K4", "T1", "T2", "T3")
        return ids + (("K3",) if self.bandwidth == "auto" else ())

    def resolved_bandwidth(self, n_real) -> float:
        return auto_bandwidth(self.target, n_real) if self.bandwidth == "auto" else float(self.bandwidth)

    def bias(self, h):
        if self.holder_L is not None:  # lemma K1' halved, kappa = E|Z|^beta of the Gaussian kernel
            return get_lemma("K1p").evaluate(L=self.holder_L, h=h, beta=self.holder_beta,
                                             kappa=gaussian_abs_moment(self.holder_beta, self.dim)) / 2
        return kde_bias_tv(h, self._lap)

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
                    n_i = plan.n_total  # the plan's blocks (O(1) for replace / mix / schedule), not all i sources
                    j = self._k2(mixture_of([(b.count / n_i, laws[b.source]) for b in plan.blocks]), h)
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
                "laplacian_l1": self._lap, "k2_integral": self.k2_integral,
                "holder_L": self.holder_L, "holder_beta": self.holder_beta, "lemma_ids": list(self.lemma_ids)}


#: default named constants of lemma D1 (c_approx = 0: D1 assumes the score lies in the RKHS)
DIFFUSION_DEFAULTS = {"c_stat": 1.0, "c_width": 1.0, "c_opt": 1.0, "c_mc": 1.0,
                      "c_approx": 0.0, "c_prior": 1.0}


#: the alias kept for the first name of the KDE learner
GaussianKDE = KDE


def _optimal_tau(m, n, c_stat, c_width, c_opt):
    """tau* of lemma D2, evaluated through the catalogue object; memoised as a pure function of
    all its inputs and of the object itself (a replaced object is never answered from the cache)."""
    return _optimal_tau_of(id(get_lemma("D2")), m, n, c_stat, c_width, c_opt)


@functools.lru_cache(maxsize=4096)
def _optimal_tau_of(d2_id, m, n, c_stat, c_width, c_opt):
    return mpf(get_lemma("D2").evaluate(m=m, n=n, c_stat=c_stat, c_width=c_width, c_opt=c_opt))


@dataclass(frozen=True, repr=False)
class Diffusion(Learner):
    """Random-feature diffusion model of Li et al. (2023) in the loop (lemmas D1, D2, D3).

    ``KL(N) = c_stat tau^4/(m N) + c_width tau^3/m^2 + c_opt/tau + c_mc/m + c_approx + c_prior e^(-2T)``,
    ``eps(N) = min(sqrt(KL/2), sqrt(1 - exp(-KL)))``, with ``tau`` given or the D2 optimum and
    ``m`` given (``width``) or ``width_ratio * N`` (``width_ratio`` 1 when neither is given; giving
    both is refused).

    >>> Diffusion(width=256)
    Diffusion(width=256)
    >>> Diffusion(tau=4).tau_for(1000)
    mpf('4.0')
    """

    width: float | None = None
    width_ratio: float | None = None
    tau: object = "auto"
    horizon: float = 10.0
    c_stat: float = 1.0
    c_width: float = 1.0
    c_opt: float = 1.0
    c_mc: float = 1.0
    c_approx: float = 0.0
    c_prior: float = 1.0

    name: ClassVar[str] = "diffusion"
    lemma_ids: ClassVar[tuple[str, ...]] = ("D1", "D2", "D3", "T4", "T4p")

    def __post_init__(self):
        if self.width is not None and self.width_ratio is not None:
            raise BoundcalcError(f"give width (m) or width_ratio (m = ratio * N), not both; got width = "
                                 f"{self.width}, width_ratio = {self.width_ratio}")
        object.__setattr__(self, "width", check_optional("width", self.width))
        object.__setattr__(self, "width_ratio", check_optional("width_ratio", self.width_ratio))
        object.__setattr__(self, "tau", check("tau", self.tau))
        object.__setattr__(self, "horizon", check("horizon", self.horizon))
        for k in DIFFUSION_DEFAULTS:
            object.__setattr__(self, k, float(check(k, getattr(self, k))))

    @property
    def constants(self) -> dict:
        """The named constants of lemma D1."""
        return {k: getattr(self, k) for k in DIFFUSION_DEFAULTS}

    @property
    def ratio(self) -> float:
        """m / N when the width grows with N (1 by default)."""
        return 1.0 if self.width_ratio is None else self.width_ratio

    def width_for(self, n):
        return mpf(self.width) if self.width is not None else mpf(self.ratio) * mpf(n)

    def tau_for(self, n):
        if self.tau != "auto":
            return mpf(self.tau)
        return _optimal_tau(self.width_for(n), mpf(n), self.c_stat, self.c_width, self.c_opt)

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
                + "; width " + (f"m = {self.width:g}" if self.width is not None else f"m = {self.ratio:g} N_i")]

    def to_dict(self):
        return {"learner": self.name, "width": self.width,
                "width_ratio": None if self.width is not None else self.ratio,
                "tau": self.tau, "horizon": self.horizon, "constants": dict(self.constants),
                "lemma_ids": list(self.lemma_ids)}


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
        return KDE(**opts)
    unknown = set(opts) - {f.name for f in dataclasses.fields(Diffusion)}
    if unknown:
        raise BoundcalcError(f"unknown diffusion constants or options {sorted(unknown)}; valid: "
                             f"{sorted(f.name for f in dataclasses.fields(Diffusion))}")
    return Diffusion(**opts)
