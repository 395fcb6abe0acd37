"""Per-generation error models eps_i of the learner trained at each generation.

A learner turns the plan of generation i (its training-set size N_i and, for the KDE, the
distribution of its training set) into an upper bound ``eps_i`` on the one-generation error
that enters the recursion ``a_i <= eps_i + TV(q_i, p0)`` (the composition theorem).

* :class:`PowerLaw`: ``eps(N) = C N^(-alpha)``, taken as exact.
* :class:`KDE` (alias :class:`GaussianKDE`): explicit constants, lemmas K1 (or K1'), K2, C2, C3; bandwidth given
  or chosen by K3, for generation 1; for ``K >= 2`` (d <= 2, p0 a Gaussian mixture) the bound on
  a_i is lemma KE5 (probability >= 1 - delta, every scheme) with the KE3 bound on E a_i beside it;
  elsewhere a run of more than one generation is refused.
* :class:`Diffusion`: lemma D1 at the failure probability delta/K of each generation (lemma D4: the
  concentration constants times ell(delta/K)^k_delta), training time given or optimal (D2, with the same
  constants), width given or proportional to N, KL turned into TV by the better of T4 / T4' (lemma D3);
  only for training sets that are, given the past, N_i i.i.d. draws of q_i (others are refused).

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
import math
from dataclasses import dataclass, field
from typing import ClassVar

import mpmath
import sympy as sp

from boundcalc.theory import notation as S
from boundcalc._checks import BoundcalcError, check, check_optional, check_probability
from boundcalc.bounds.kde_terms import (auto_bandwidth, kde_bias_tv, kde_expectation_tv, kde_failure_split,
                                        kde_stochastic_tv)
from boundcalc.model.schemes import Accumulate, Scheme
from boundcalc.theory.catalogue import get_lemma

LEARNERS = ("power", "kde", "diffusion", "table")


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

    def terms_of(self, n) -> dict:
        """The named terms of eps(N) (none for a learner whose eps is one rate)."""
        return {}

    def eps_of_ns_error(self):
        """The relative error of :meth:`eps_of_ns` in units of the double rounding unit u = 2^-53
        (``|computed - eps(N)| <= error * u * eps(N)`` for every N whose value is a normal double),
        or None when the learner has no vectorised eps (the composition then steps in mpmath)."""
        return None

    def eps_of_ns(self, ns):
        """eps(N) for many N at once, as a float64 array (``ns`` a float64 array or a sequence of
        integers, each taken as ``float(N)``, as :meth:`eps_of_n` takes it); only for the learners
        whose :meth:`eps_of_ns_error` is not None."""
        raise NotImplementedError(f"{type(self).__name__} has no vectorised eps(N)")

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

    def notes(self, scheme: Scheme, errors: list, delta) -> list[str]:
        """Lines about this run's rows (printed as notes under the table); none by default."""
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

    def eps_of_ns_error(self):
        """``C * N ** -alpha`` in double precision: ``float(N)`` rounds once (relative error u, which
        the power turns into at most ``alpha u``), the platform's ``pow`` is taken to be accurate to
        2 ulp (4u; glibc documents < 1 ulp) and the product with C rounds once (u); first order,
        with 2u to spare: ``8 + alpha`` (in units of u)."""
        return 8.0 + float(self.alpha)

    def eps_of_ns(self, ns):
        """``C N^(-alpha)`` for a float64 array of N (numpy, double precision).

        >>> PowerLaw(2, 0.5).eps_of_ns([400, 10000]).tolist()
        [0.1, 0.02]
        """
        import numpy as np
        return float(self.C) * np.power(_float_sizes(ns), -float(self.alpha))

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


def _sparse_weights(plan) -> list:
    """The non-zero entries of ``plan.weights()`` as (source, weight), increasing source, each weight
    accumulated block by block as ``plan.weights()`` accumulates it (the same floats): O(blocks), not O(i)."""
    w: dict = {}
    total = plan.n_total
    for b in plan.blocks:
        w[b.source] = w.get(b.source, 0.0) + b.count / total
    return [(j, w[j]) for j in sorted(w) if w[j]]


#: the KDE learner's loop bound (KE3 beside KE5) sums, at every generation, over every earlier block of
#: the loop on a quadrature grid that widens with K: its cost grows as K^2 to K^3 (measured on the
#: command line: K = 25 0.8 s, 50 2.4 s, 100 15.5 s); a larger K is refused rather than left to run for
#: an hour.  Raise it when the composition is O(K) (issue 11).
MAX_KDE_GENERATIONS = 200
#: a replace loop longer than MAX_KDE_GENERATIONS is answered when its bound provably reaches 1 by generation
#: this + 1 (the direct sums before it: 300 replace generations took 16 s; :meth:`KDE.vacuous_from`)
MAX_KDE_REPLACE_DIRECT = 300
#: up to this K the loop bound is the direct sum (every number as it always was); beyond it a fresh mix
#: loop is carried in O(K) (direct K = 200 took 88 s; the O(K) path, bench/bench_scale.py, is quoted in the README)
KDE_DIRECT_GENERATIONS = 64
#: a mix loop (fresh or reused real data) goes past it in O(K) (bounds/kde_steady.py): a few seconds to converge
#: the laws of lemma K4 at real fraction 1/2, then nothing per generation once the loop sits at its fixed point;
#: accumulate, and mix or schedule loops past the warm-up guard, in d = 1 by kernel tables (bounds/kde_tables.py):
#: about 0.3 ms per generation under accumulate
MAX_KDE_MIX_GENERATIONS = 10 ** 5
WHY_KDE_MIX_GENERATIONS = "a size guard: up to about 30 s at the limit"
#: mixture densities that the O(K) path evaluates before the laws converge (7000 at real fraction 1/2, about
#: 27000 at 0.3, which takes about 30 s and 1.3 GB with the batched densities); more is refused
MAX_KDE_WARM_UP = 3 * 10 ** 4
#: table entries that the kernel-table carry (bounds/kde_tables.py) updates, as kde_tables.table_work overestimates
#: them; more is refused.  Measured near the limit: mix at real fraction 0.1, K = 1e5, 7 s; accumulate with
#: n_real = 1, n_synth = 1e5, K = 1e5, 33 s
MAX_KDE_TABLE_WORK = 2 * 10 ** 9
#: in d = 2 the loop bound's quadrature is a tensor grid of up to millions of nodes, whatever the path (measured
#: with a two-component target: accumulate K = 10 22 s, K = 20 over 200 s; mix K = 20 82 s; the mix carry at
#: K = 100 over 200 s): longer runs are refused
MAX_KDE_GENERATIONS_2D = 10
WHY_KDE_GENERATIONS_2D = ("a size guard: the loop bound is integrated on a two-dimensional grid that widens with K; "
                          "K = 10 takes up to about 20 s, K = 20 over a minute")
WHY_KDE_GENERATIONS = ("a size guard: its loop bound KE5 sums over every earlier generation's samples, "
                       "a cost of K^2 to K^3; K = 100 takes about 15 s")


def _as_mix(scheme, generations):
    """A schedule whose plans are those of a fresh ``mix`` (one real fraction and one size, the same counts in plans
    1 to 3 as ``Mix(n_real, n_synth)``, every later plan plan 2 with its source moved) as that Mix: the same loop,
    so the same bound, through the mix paths; any other scheme unchanged."""
    from boundcalc.model.schemes import Mix, Schedule, is_steady
    if not isinstance(scheme, Schedule) or generations < 2 or not is_steady(scheme):
        return scheme
    blocks = scheme.plan(2).blocks
    if sorted(b.source for b in blocks) != [0, 1] or not all(float(b.count).is_integer() for b in blocks):
        return scheme
    counts = {b.source: int(b.count) for b in blocks}
    mix = Mix(counts[0], counts[1], draw=getattr(scheme, "draw", "stratified"))
    same = all(tuple((b.source, b.count, b.drawn_at) for b in scheme.plan(i).blocks)
               == tuple((b.source, b.count, b.drawn_at) for b in mix.plan(i).blocks) for i in (1, 2, 3))
    return mix if same else scheme


def _martingale_term(scheme, generation, generations, delta) -> float:
    """KE5 with T_r = I_V = 0 for a replace loop: (1/2) sqrt(2 ln(K/delta) Q_i), Q_i = 1/n_real + (i - 1)/n_synth."""
    q = 1.0 / float(scheme.n_real) + (generation - 1) / float(scheme.n_synth)
    return float(get_lemma("KE5").evaluate(T_r=0, I_V=0, Q_mass=q, K=generations, delta=delta))


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
        if self.proven_loop():
            ids += ("KE1", "KE2", "KE3", "KE4", "KE5")
        return ids + (("K3",) if self.bandwidth == "auto" else ())

    def resolved_bandwidth(self, n_real) -> float:
        """The number given, or for ``"auto"`` lemma K3 for n_real samples of the target: with beta = 2 and
        ``A = ||Laplacian p0||_1 / 4`` (K1 halved), or in the Hoelder version with beta = holder_beta and
        ``A = (L/2) E|Z|^beta`` (K1' halved at h = 1); ``B = (1/2)(4 pi)^(-d/4) J`` with J the K2 integral
        of the target at h (a short fixed-point iteration, as for beta = 2)."""
        if self.bandwidth != "auto":
            return float(self.bandwidth)
        if self.holder_L is None:
            return auto_bandwidth(self.target, n_real)
        a = self.bias(1)
        k3 = get_lemma("K3")
        h = float(auto_bandwidth(self.target, n_real))
        for _ in range(4):
            b = kde_expectation_tv(1, 1, self.dim, self.target.k2_integral(h))
            h = float(k3.evaluate(A=a, B=b, beta=self.holder_beta, d=self.dim, N=n_real))
        return h

    def bias(self, h):
        if self.holder_L is not None:  # lemma K1' halved, kappa = E|Z|^beta of the Gaussian kernel
            return get_lemma("K1p").evaluate(L=self.holder_L, h=h, beta=self.holder_beta,
                                             kappa=gaussian_abs_moment(self.holder_beta, self.dim)) / 2
        return kde_bias_tv(h, self._lap)

    def _k2(self, law, h):
        if self.k2_integral is not None:
            return self.k2_integral
        return law.k2_integral(h) if self.dim <= 2 else law.k2_moment_bound(h)

    def proven_loop(self) -> bool:
        """True when the a-priori bound of every generation is lemma KE5 (d <= 2, p0 given as a
        Gaussian mixture, no user-supplied K2 integral)."""
        return self.target is not None and self.k2_integral is None and self.dim <= 2

    def errors(self, scheme, generations, delta):
        """eps_1..eps_K.  Generation 1 (and every generation of a one-generation run) uses K1 + K2 + C2
        at p0.  For K >= 2 the bound on a_i is lemma KE5 (probability >= 1 - delta for all i <= K at
        once, every scheme) and eps_i is the increment that makes theorem S1's recursion reproduce it:
        ``eps_i = max(0, B_i - sum_j w_ij A_j)`` with A_j the recursed values (so A_i >= B_i, A_i = B_i
        whenever the increment is >= 0).  The KE3 bound on E a_i is returned beside it as the term
        ``expected`` (in expectation, no failure probability).  Where KE5 does not apply (d > 2, no
        target, a user-supplied K2 integral) a run of more than one generation is refused."""
        if generations >= 2 and getattr(scheme, "draw", "stratified") != "stratified":
            raise BoundcalcError("kde learner: lemmas KE1-KE5 and KR1-KR5 are stated for fixed block counts; got "
                                 f"{scheme.name} with --draw {scheme.draw} (use --draw stratified, or --generations 1)")
        scheme = _as_mix(scheme, generations)  # a schedule that is a fresh mix takes the mix paths
        if self.dim == 2 and self.proven_loop() and generations > MAX_KDE_GENERATIONS_2D:
            raise BoundcalcError(f"generations must be an integer in [1, {MAX_KDE_GENERATIONS_2D}] with the kde learner in "
                                 f"d = 2 ({WHY_KDE_GENERATIONS_2D}), got {generations}")
        h = self.resolved_bandwidth(scheme.n_real)
        steady = self._steady_path(scheme, generations)
        vacuous = self.vacuous_from(scheme, generations, delta) if generations >= 2 else None
        if self._replace_tables(scheme, generations):
            computed = generations if vacuous is None else vacuous - 1
            from boundcalc.bounds import kde_tables
            work = kde_tables.table_work(scheme, computed)
            entries = kde_tables.basis_entries(self.target, h, 2 * computed)
            if work > MAX_KDE_TABLE_WORK or entries > kde_tables.MAX_BASIS_ENTRIES:
                until = f"until generation {vacuous}" if vacuous else f"at every generation up to {generations}"
                raise BoundcalcError(
                    f"generations must be an integer in [1, {MAX_KDE_GENERATIONS}] with the kde learner and replace here "
                    f"(a size guard: its loop bound stays below 1 {until}, which needs about {work:.3g} table entries "
                    f"(at most {MAX_KDE_TABLE_WORK:.0e}) and a basis of {entries:.3g} (at most "
                    f"{kde_tables.MAX_BASIS_ENTRIES:.0e}); lower --n-synth or --generations), got {generations}")
            return self._loop_errors(scheme, generations, delta, h, computed=computed)
        if (generations > MAX_KDE_GENERATIONS and not steady and vacuous is not None
                and vacuous - 1 <= MAX_KDE_REPLACE_DIRECT):
            if not self.proven_loop():
                raise BoundcalcError("kde learner: the a-priori bound for generations >= 2 is proven (lemma KE5) for "
                                     "d <= 2 with --target and no --k2-integral (use --generations 1)")
            return self._loop_errors(scheme, generations, delta, h, computed=vacuous - 1)
        if generations > MAX_KDE_GENERATIONS and not steady:
            from boundcalc.bounds import kde_steady, kde_tables
            carried = self.target is not None and (kde_steady.applies(scheme, self.target)
                                                   or (self.dim == 1 and kde_tables.applies(scheme, self.target)))
            if carried and generations <= MAX_KDE_MIX_GENERATIONS:
                if scheme.name == "schedule":
                    what, why = "a schedule", "its laws change every generation"
                else:
                    what = f"mix at real fraction {scheme.n_real / scheme.n_total(2):.3g}"
                    why = "its laws converge slowly"
                if self.dim == 1 and kde_tables.applies(scheme, self.target):
                    work = f"about {kde_tables.table_work(scheme, generations):.3g} table entries, at most " \
                           f"{MAX_KDE_TABLE_WORK:.0e}"
                else:
                    work = f"about {kde_steady.warm_up_densities(scheme, generations):.3g} mixture densities, at " \
                           f"most {MAX_KDE_WARM_UP:.0e}"
                raise BoundcalcError(
                    f"generations must be an integer in [1, {MAX_KDE_GENERATIONS}] with the kde learner and {what} "
                    f"(a size guard: {why}, {work}; raise the real fraction or lower --generations), got {generations}")
            if carried:
                raise BoundcalcError(f"generations must be an integer in [1, {MAX_KDE_MIX_GENERATIONS}] with the kde "
                                     f"learner and {scheme.name} ({WHY_KDE_MIX_GENERATIONS}), got {generations}")
            why = WHY_KDE_GENERATIONS
            if vacuous is not None or scheme.name == "replace":
                why += (f"; under replace more are answered when lemma KE5 provably reaches 1 by generation "
                        f"{MAX_KDE_REPLACE_DIRECT + 1}, " + (f"here only at generation {vacuous}" if vacuous else
                                                          "not within these generations here") + ": lower --n-synth")
            raise BoundcalcError(f"generations must be an integer in [1, {MAX_KDE_GENERATIONS}] with the kde learner "
                                 f"({why}), got {generations}")
        if generations >= 2:
            if not self.proven_loop():
                raise BoundcalcError(
                    "kde learner: the a-priori bound for generations >= 2 is proven (lemma KE5) for d <= 2 "
                    "with --target and no --k2-integral; got "
                    + (f"dim = {self.dim}" if self.dim > 2 else
                       "no --target" if self.target is None else f"--k2-integral {self.k2_integral:g}")
                    + " (use --generations 1, or validate kde for an a-posteriori bound)")
            return self._loop_errors(scheme, generations, delta, h)
        return self._first_generation(scheme, delta, h)

    def _first_generation(self, scheme, delta, h):
        """K1 (or K1') + K2 + C2 at p0 for generation 1, all blocks drawn from p0 (no realised law)."""
        split = kde_failure_split(scheme, 1, delta)
        bias = self.bias(h)
        plan = scheme.plans(1)[0]
        j = self._k2(self.target, h) if self.k2_integral is None else self.k2_integral
        if split.mode == "joint":
            stoch = kde_stochastic_tv(plan.n_total, h, self.dim, j, split.per_event_delta)
        else:
            stoch = mpf(0)
            for b in plan.blocks:
                stoch += mpf(b.count) / mpf(plan.n_total) * kde_stochastic_tv(
                    b.count, h, self.dim, j, split.per_event_delta)
        terms = {"bias": bias, "stochastic": stoch, "bandwidth": h}
        if self.proven_loop():
            from boundcalc.bounds.kde_expected import expected_bound
            terms["in_expectation"] = mpf(expected_bound(scheme, self.target, [h], 1).best[0])
        return [GenerationError(1, mpf(plan.n_total), bias + stoch, terms)]

    def _steady_path(self, scheme, generations) -> bool:
        """True when the loop bound is carried in O(K) (:meth:`_carry`), for more than KDE_DIRECT_GENERATIONS
        generations, at most MAX_KDE_MIX_GENERATIONS.  Otherwise the direct sums (up to MAX_KDE_GENERATIONS)."""
        return (KDE_DIRECT_GENERATIONS < generations <= MAX_KDE_MIX_GENERATIONS and self.target is not None
                and self.proven_loop() and self._carry(scheme, generations) is not None)

    def _replace_tables(self, scheme, generations) -> bool:
        """True for a replace loop of more than KDE_DIRECT_GENERATIONS generations in d = 1 (lemma KE5 proven): its
        generations up to the one where KE5 provably reaches 1 are the kernel tables' (bounds/kde_tables.py)."""
        from boundcalc.bounds import kde_tables
        from boundcalc.model.schemes import Replace
        return (isinstance(scheme, Replace) and generations > KDE_DIRECT_GENERATIONS and self.target is not None
                and self.proven_loop() and self.dim == 1 and kde_tables.applies(scheme, self.target))

    def _carry(self, scheme, generations):
        """The O(K) carry of the loop bound, or None: a mix loop (fresh or reused real data) or a schedule whose laws
        converge within MAX_KDE_WARM_UP density evaluations (bounds/kde_steady.py: recent blocks summed exactly, old
        ones by a proven tail); otherwise, in d = 1, accumulate, mix and schedule loops by kernel tables
        (bounds/kde_tables.py) within MAX_KDE_TABLE_WORK table entries (in d = 2 the tables hold, but their basis on
        the tensor grid is too large at the usual sizes: a grid of ~1e6 nodes times ~50 rows)."""
        from boundcalc.bounds import kde_steady, kde_tables
        if (not isinstance(scheme, Accumulate) and kde_steady.applies(scheme, self.target)
                and kde_steady.warm_up_densities(scheme, generations) <= MAX_KDE_WARM_UP):
            return kde_steady.steady_mix_bounds
        if (self.dim == 1 and kde_tables.applies(scheme, self.target) and not self._replace_tables(scheme, generations)
                and kde_tables.table_work(scheme, generations) <= MAX_KDE_TABLE_WORK):
            return kde_tables.table_bounds
        return None

    def vacuous_from(self, scheme, generations, delta) -> int | None:
        """Under ``replace``, the first generation from which lemma KE5 is provably at least 1 (None if none <= K).

        Every block of a replace loop keeps kernel mass 1 (its kernel is only smoothed), so
        ``Q_i = sum_{j <= i} 1/N_j`` is nondecreasing, and KE5 >= its martingale term
        ``(1/2) sqrt(2 ln(K/delta) Q_i)``: once that term is >= 1, KE5 is >= 1 at every later generation, where
        the bound printed is the trivial a_i <= 1 (TV <= 1).  The first such i from the closed form of Q_i,
        confirmed by KE5 itself (with T_r = I_V = 0) at i and i - 1."""
        from boundcalc.model.schemes import Replace
        if not isinstance(scheme, Replace):
            return None
        level = 2.0 / math.log(generations / float(delta))  # Q at which the term reaches 1
        i = max(1, math.ceil(1 + (level - 1.0 / float(scheme.n_real)) * float(scheme.n_synth)))
        while i > 1 and _martingale_term(scheme, i - 1, generations, delta) >= 1:
            i -= 1
        while i <= generations and _martingale_term(scheme, i, generations, delta) < 1:
            i += 1
        return i if i <= generations else None

    def notes(self, scheme, errors, delta) -> list[str]:
        """One line for a loop whose later generations are printed as the trivial bound (:meth:`vacuous_from`)."""
        first = next((e.generation for e in errors if "bias_tv" in e.terms and e.terms["bias_tv"] is None), None)
        if first is None:
            return []
        term = _martingale_term(scheme, first, len(errors), delta)
        return [f"generations {first}..{len(errors)}: lemma KE5 is at least 1 there (its martingale term "
                f"(1/2) sqrt(2 ln(K/delta) Q_i) is {term:.6g} >= 1 at generation {first}, and Q_i only grows under replace); "
                "its loop_bound there is the trivial a_i <= 1, and bias_tv and deviation are not computed"]

    def _loop_errors(self, scheme, generations, delta, h, computed=None):
        """eps_i of the KE5 loop bound (see :meth:`errors`).  With ``computed`` < K only the first ``computed``
        generations are evaluated (by the direct sums, ln(K/delta) with the whole K): the later ones are
        provably vacuous (:meth:`vacuous_from`) and get the trivial bound a_i <= 1, with no bias and deviation
        (``None``; :meth:`notes` says why)."""
        from boundcalc.bounds.kde_expected import expected_bound, loop_probability_bound
        from boundcalc.model.schemes import Mix
        computed = generations if computed is None else computed
        hs = [float(h)] * computed
        columns = ([], [], [], [])
        if computed == generations and self._steady_path(scheme, generations):
            # beyond the direct sums: the O(K) carries (mix: old blocks by a proven tail bound; otherwise the
            # kernel tables: all blocks in one table, Cauchy-Schwarz)
            expected, loop = self._carry(scheme, generations)(scheme, self.target, float(h), generations, float(delta))
            columns = (loop.bound, expected.best, expected.bias_tv, loop.deviation)
        elif computed >= 1 and self._replace_tables(scheme, generations):
            from boundcalc.bounds.kde_tables import table_bounds
            expected, loop = table_bounds(scheme, self.target, float(h), computed, float(delta), union=generations)
            columns = (loop.bound, expected.best, expected.bias_tv, loop.deviation)
        elif computed >= 1:
            expected = expected_bound(scheme, self.target, hs, computed)
            loop = loop_probability_bound(scheme, self.target, hs, computed, float(delta), expected=expected,
                                          union=generations)
            columns = (loop.bound, expected.best, expected.bias_tv, loop.deviation)
        bound, best, bias_tv, deviation = (list(c) for c in columns)
        for i in range(computed + 1, generations + 1):
            bound.append(1.0)
            best.append(1.0)
            bias_tv.append(None)
            deviation.append(None)
        if isinstance(scheme, Accumulate) and generations > KDE_DIRECT_GENERATIONS:
            return self._accumulate_rows(scheme, generations, h, bound, best, bias_tv, deviation)
        out, recursed = [], []
        last_key = None
        for i in range(1, generations + 1):
            if i <= 2 or not isinstance(scheme, Mix):
                plan = scheme.plan(i)
                n_i, w = plan.n_total, _sparse_weights(plan)  # (source, w_ij) in increasing source order, w_ij > 0
            else:  # mix: plan i is plan 2 with its synthetic source p_1 moved to p_(i-1)
                w = [(j + 1 if j >= 1 else j, w_j) for j, w_j in w]
            reads = tuple((w_j, recursed[j - 1]) for j, w_j in w if j >= 1)
            row = (n_i, bound[i - 1], best[i - 1], bias_tv[i - 1], deviation[i - 1])
            key = (tuple(w_j for j, w_j in w if j == 0), reads, row)
            if key != last_key:  # a repeated row reading the same numbers (a converged loop) repeats its result
                previous = sum((mpf(w_j) * a_j for w_j, a_j in reads), mpf(0))
                target_value = mpf(row[1])
                eps = max(target_value - previous, mpf(0))
                value = eps + previous
                terms = {"loop_bound": target_value, "in_expectation": mpf(row[2]),
                         "bias_tv": None if row[3] is None else mpf(row[3]),
                         "deviation": None if row[4] is None else mpf(row[4]), "bandwidth": h}
                last_key = key
                n_mpf = mpf(n_i)
            recursed.append(value)
            out.append(GenerationError(i, n_mpf, eps, terms))
        return out

    @staticmethod
    def _accumulate_rows(scheme, generations, h, bound, best, bias_tv, deviation):
        """The rows of :meth:`_loop_errors` for accumulate in O(K): every earlier a_j has the weight n_synth / N_i in
        plan i, so S1's sum is that weight times the running total of the recursed values."""
        out, total = [], mpf(0)
        for i in range(1, generations + 1):
            n_i = scheme.n_real + (i - 1) * scheme.n_synth
            previous = mpf(scheme.n_synth) / mpf(n_i) * total if i > 1 else mpf(0)
            target_value = mpf(bound[i - 1])
            eps = max(target_value - previous, mpf(0))
            total += eps + previous
            terms = {"loop_bound": target_value, "in_expectation": mpf(best[i - 1]), "bias_tv": mpf(bias_tv[i - 1]),
                     "deviation": mpf(deviation[i - 1]), "bandwidth": h}
            out.append(GenerationError(i, mpf(n_i), eps, terms))
        return out

    def conditional_errors(self, scheme, generations, delta):
        """The per-generation composition of lemma L1 (K1 + K2 + C2 split by C3) with the K2 integral of
        generation i's training law taken as the integral at its exact expected law (lemma K4) or the
        user's ``k2_integral``: a theorem only *conditional* on the realised K2 integrals being at most
        these values (not printed as the a-priori bound for K >= 2; kept for the L1 comparisons)."""
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
        items = ["Gaussian kernel, pick-a-point-and-jitter sampler; the samples of each training block are "
                 "independent given the past (blocks reused across generations are the same samples)"]
        if self.holder_L is not None:
            items.append(f"p0 lies in the L1-Hoelder class with L = {self.holder_L:g}, beta = {self.holder_beta:g} (lemma K1', generation 1)")
        else:
            items.append("p0 has an integrable Laplacian (lemma K1, generation 1)")
        if self.proven_loop():
            items.append("for K >= 2: p0 is the given Gaussian mixture (d <= 2); a_i <= the KE5 bound for every "
                         "i <= K at once with probability >= 1 - delta (lemma KE5; E a_i <= the KE3 bound, "
                         "term 'expected', in expectation)")
        if self.k2_integral is not None:
            items.append(f"the K2 integral of p0 is at most {self.k2_integral:g} (user-supplied; one generation only)")
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


#: default degree k_delta of the confidence factor ell(delta)^k_delta of lemma D4
DIFFUSION_DELTA_EXPONENT = 2.0


def _optimal_tau(m, n, c_stat, c_width, c_opt):
    """tau* of lemma D2, evaluated through the catalogue object; memoised as a pure function of
    all its inputs and of the object itself (a replaced object is never answered from the cache)."""
    return _optimal_tau_of(id(get_lemma("D2")), m, n, c_stat, c_width, c_opt)


@functools.lru_cache(maxsize=4096)
def _optimal_tau_of(d2_id, m, n, c_stat, c_width, c_opt):
    return mpf(get_lemma("D2").evaluate(m=m, n=n, c_stat=c_stat, c_width=c_width, c_opt=c_opt))


@dataclass(frozen=True, repr=False)
class Diffusion(Learner):
    """Random-feature diffusion model of Li et al. (2023) in the loop (lemmas D1, D2, D3, D4).

    In a run of K generations at failure probability delta, generation i's statement is taken at
    ``delta_i = delta / K`` (lemma C3) and, with ``L = ell(delta_i)^k_delta``,
    ``ell(d) = max(1, ln(1/d^2))`` (lemma D4),

    ``KL(N) = L (c_stat tau^4/(m N) + c_width tau^3/m^2 + c_mc/m) + c_opt/tau + c_approx + c_prior e^(-2T)``,
    ``eps(N) = min(sqrt(KL/2), sqrt(1 - exp(-KL)))``, with ``tau`` given or the D2 optimum for the same
    constants (``L c_stat``, ``L c_width``, ``c_opt``) and ``m`` given (``width``) or ``width_ratio * N``
    (``width_ratio`` 1 when neither is given; giving both is refused).

    D1 is proved for n i.i.d. draws of one law, so :meth:`errors` refuses (one line) a run in which a
    generation's training set is not, given the past, N_i i.i.d. draws of q_i
    (:attr:`boundcalc.model.schemes.GenerationPlan.iid_from_training_law`): stratified mix/schedule
    sets of two laws (use ``draw="iid"``), reused real data beside synthetic data, accumulate.

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
    #: k_delta of lemma D4: the degree of the confidence factor ell(delta_i)^k_delta
    delta_exponent: float = DIFFUSION_DELTA_EXPONENT
    #: the calibration file the constants were read from (``from_calibration``): the bound is calibrated
    calibrated_from: str = ""
    #: the one line of the assumptions that says what was calibrated, where and at which settings
    calibration_note: str = ""

    name: ClassVar[str] = "diffusion"
    lemma_ids: ClassVar[tuple[str, ...]] = ("D1", "D4", "D2", "D3", "T4", "T4p")
    #: eps_i depends on delta_i = delta / K (lemma D4), not on N_i alone
    rate_only: ClassVar[bool] = False
    uses_delta: ClassVar[bool] = True

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
        object.__setattr__(self, "delta_exponent", float(check("delta_exponent", self.delta_exponent)))

    @classmethod
    def from_calibration(cls, path, **options) -> "Diffusion":
        """The diffusion learner with the D1 constants of a calibration file [calibrated, not proved].

        ``path`` is the ``--json`` output of ``boundcalc validate diffusion early-stopping`` (its
        calibrated D1 envelope; the horizon and width rule it was fitted at are taken too) or a JSON
        object of named constants ``{"c_stat": .., "c_opt": .., ...}`` (schema:
        :mod:`boundcalc.bounds.calibration`).  ``options`` (width, width_ratio, tau, horizon,
        delta_exponent) override the file's settings; constants cannot be given beside the file.
        ``delta_exponent`` defaults to 0: the calibrated constants are an envelope of measured runs,
        used as they are at every delta (no confidence factor of lemma D4).

        >>> import json, tempfile
        >>> f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        >>> json.dump({"c_stat": 1e-13, "c_opt": 1300.0, "c_approx": 0.05}, f); f.close()
        >>> d = Diffusion.from_calibration(f.name)
        >>> d.c_stat, d.c_opt, d.c_mc, d.c_approx, d.calibrated_from == f.name
        (1e-13, 1300.0, 0.0, 0.05, True)
        """
        from boundcalc.bounds.calibration import read_d1_constants
        clash = sorted(set(options) & set(DIFFUSION_DEFAULTS))
        if clash:
            raise BoundcalcError(f"{', '.join(clash)} cannot be given with a calibration file ({path}): its "
                                 "constants are the calibrated ones")
        unknown = sorted(set(options) - {"width", "width_ratio", "tau", "horizon", "delta_exponent"})
        if unknown:
            raise BoundcalcError(f"Diffusion.from_calibration: unknown option(s) {', '.join(unknown)}; valid: "
                                 "width, width_ratio, tau, horizon, delta_exponent")
        # the calibrated constants are an envelope of measured runs, not constants of a statement at a
        # failure probability: no confidence factor of lemma D4 unless the user asks for one
        options.setdefault("delta_exponent", 0.0)
        cal = read_d1_constants(path)
        settings = {}
        if cal.settings:
            settings["horizon"] = cal.settings.get("horizon")
            if "width" not in options and "width_ratio" not in options:
                if cal.settings.get("width_ratio") is not None:
                    settings["width_ratio"] = cal.settings["width_ratio"]
                elif cal.settings.get("width") is not None:
                    settings["width"] = cal.settings["width"]
        settings = {k: v for k, v in settings.items() if v is not None}
        return cls(**{**settings, **options, **cal.constants}, calibrated_from=str(path),
                   calibration_note=cal.summary())

    def _derived_fields(self):
        return {"calibration_note"}

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

    def confidence_factor(self, delta_i=None):
        """``ell(delta_i)^k_delta`` of lemma D4 (1 when ``delta_i`` is None: D1's constants as given)."""
        if delta_i is None:
            return mpf(1)
        from boundcalc.theory.diffusion import confidence_factor
        return confidence_factor(check_probability("delta", delta_i), self.delta_exponent)

    def constants_at(self, delta_i=None) -> dict:
        """D1's named constants at the failure probability ``delta_i`` of one statement (lemma D4):
        c_stat, c_width and c_mc times ``ell(delta_i)^k_delta``; the others unchanged.  ``None``: as given."""
        factor = self.confidence_factor(delta_i)
        from boundcalc.theory.diffusion import CONCENTRATION_CONSTANTS
        return {k: (mpf(v) * factor if k in CONCENTRATION_CONSTANTS else mpf(v)) for k, v in self.constants.items()}

    def delta_split(self, delta, generations=1) -> "DeltaSplit":
        """One statement of a run of ``generations`` generations at failure probability ``delta``: its level
        ``delta_i = delta / K`` (lemma C3) and D1's constants there (:meth:`constants_at`, lemma D4).  The one
        place where a command's (delta, K) becomes the constants of its statements: ``bound`` (through
        :meth:`run_rate`), ``optimum --quantity tau`` and ``plot early-stopping`` (theorem E1) all use it.

        >>> s = Diffusion().delta_split(0.05, 1)
        >>> float(s.delta_i), round(float(s.factor), 6), round(float(s.constants["c_stat"]), 6)
        (0.05, 35.897647, 35.897647)
        """
        check_probability("delta", delta)
        from boundcalc.theory.concentration import union_per_event_delta
        delta_i = union_per_event_delta(delta, generations)  # lemma C3: delta / K per statement
        return DeltaSplit(delta, int(generations), delta_i, self.delta_exponent, self.confidence_factor(delta_i),
                          self.constants_at(delta_i))

    def tau_for(self, n, delta_i=None):
        """tau given, or tau* of lemma D2 for the constants at ``delta_i`` (the same as in the KL bound)."""
        if self.tau != "auto":
            return mpf(self.tau)
        c = self.constants_at(delta_i)
        return _optimal_tau(self.width_for(n), mpf(n), c["c_stat"], c["c_width"], c["c_opt"])

    def kl_of_n(self, n, delta_i=None):
        """The KL bound at N = n: lemma D4 at failure probability ``delta_i`` (``None``: lemma D1 with the
        constants as given, i.e. constants already valid at the failure probability meant)."""
        common = dict(tau=self.tau_for(n, delta_i), m=self.width_for(n), n=mpf(n), T=self.horizon)
        if delta_i is None:
            return get_lemma("D1").evaluate(**common, **self.constants)
        return get_lemma("D4").evaluate(**common, **self.constants, delta=mpf(delta_i), k_delta=self.delta_exponent)

    def eps_of_n(self, n, delta_i=None):
        """eps = min(sqrt(KL/2), sqrt(1 - e^(-KL))) (lemma D3) of :meth:`kl_of_n`."""
        return get_lemma("D3").evaluate(KL=self.kl_of_n(n, delta_i))

    def coverage_problem(self, scheme, generations) -> str | None:
        """None when every generation's training set is, given the past, N_i i.i.d. draws of q_i (what
        D1 is proved for); else the one-line reason naming the scheme and what would be covered.  A steady
        scheme's plans i >= 3 are plan 3 with its sources moved (the same blocks, fresh or not alike), so
        generations 1..3 decide for every K."""
        from boundcalc.model.schemes import is_steady
        last = min(generations, 3) if is_steady(scheme) else generations
        for i in range(1, last + 1):  # lazily: the first uncovered generation ends the search
            if scheme.plan(i).iid_from_training_law:
                continue
            name = scheme.name
            if getattr(scheme, "real_data", "fresh") == "reused" and name in ("mix", "accumulate"):
                what = (f"{name} with --real-data reused: generation {i} trains on the real set of generation 1 "
                        "again, so given the past it is not a fresh i.i.d. sample (p_(i-1) depends on it)")
            elif name in ("accumulate", "accumulate-subsample"):
                what = (f"{name}: generation {i} trains on blocks kept from earlier generations (used to train "
                        "them), not a fresh i.i.d. sample of q_i")
            else:
                what = (f"mix/schedule with --draw stratified (the default): generation {i} "
                        "has exactly fixed counts from two laws, "
                        "not N_i i.i.d. draws of q_i")
            return (f"diffusion learner: lemma D1 needs each training set to be N_i i.i.d. draws of one law given the "
                    f"past; {what}. Covered: --generations 1, replace, or mix/schedule with --draw iid and fresh "
                    "real data")
        return None

    def errors(self, scheme, generations, delta):
        """eps_1..eps_K at delta_i = delta / K each (lemmas D4, D3, C3): with probability >= 1 - delta all K
        statements hold at once.  Refused (one line) when a training set is not covered by D1."""
        rate = self.run_rate(scheme, generations, delta)
        from boundcalc.model.schemes import n_totals
        return [GenerationError(i, mpf(n), rate.eps_of_n(n), rate.terms_of(n))  # no plan built for a steady scheme
                for i, n in enumerate(n_totals(scheme, generations), start=1)]

    def run_rate(self, scheme, generations, delta) -> "RunRate":
        """eps(N) of one run of ``generations`` generations at failure probability ``delta``: each statement at
        delta_i = delta / K (lemma C3), so within the run eps depends on N alone (:class:`RunRate`).  Refused
        (one line) when a training set of the scheme is not covered by D1."""
        check_probability("delta", delta)
        problem = self.coverage_problem(scheme, generations)
        if problem is not None:
            raise BoundcalcError(problem)
        return RunRate(self, self.delta_split(delta, generations).delta_i)  # lemma C3: delta / K per generation

    def assumptions(self, scheme):
        items = [self.calibration_note] if self.calibrated_from else []
        if self.constants == DIFFUSION_DEFAULTS and not self.calibrated_from:
            items.append("constants of 1 (c_approx = 0): the numbers show the SHAPE of the bound (its dependence "
                         "on N, m, tau, T and delta), not a value; give calibrated constants for a value")
        return items + [
            "each generation's training set is, given the past, N_i i.i.d. draws of q_i (generation 1, replace, "
            "one block of p0, or mix/schedule drawn iid with fresh real data), as lemma D1 needs",
            "lemma D1 (Li et al. 2023) holds for every training law q_i with the same named constants "
            "(an idealisation: a diffusion model's output has Gaussian tails, not compact support)",
            self._delta_assumption(),
            "the named constants absorb d log(d+1), RKHS norms and the T-dependent factors; constants "
            + ", ".join(f"{k} = {v:g}" for k, v in self.constants.items()),
            "training time " + ("tau* of lemma D2 for each N_i" if self.tau == "auto" else f"tau = {self.tau:g}")
            + "; width " + (f"m = {self.width:g}" if self.width is not None else f"m = {self.ratio:g} N_i")]

    def _delta_assumption(self) -> str:
        if self.calibrated_from and self.delta_exponent == 0:
            return ("calibrated constants: an envelope of the measured runs, used as they are at every delta "
                    "(k_delta = 0, no confidence factor of lemma D4): no failure probability is claimed")
        return ("with probability >= 1 - delta all K generations' bounds hold at once: generation i's D1 statement at "
                f"delta_i = delta/K (lemma C3), its concentration constants c_stat, c_width, c_mc times "
                f"ell(delta_i)^{self.delta_exponent:g}, ell(d) = max(1, ln(1/d^2)) (lemma D4, degree k_delta = "
                f"{self.delta_exponent:g}" + (": the constants must already hold at delta_i" if self.delta_exponent == 0
                                              else "") + "); the same constants give tau* (lemma D2)")

    def to_dict(self):
        return {"learner": self.name, "width": self.width,
                "width_ratio": None if self.width is not None else self.ratio,
                "tau": self.tau, "horizon": self.horizon, "constants": dict(self.constants),
                "delta_exponent": self.delta_exponent, "lemma_ids": list(self.lemma_ids),
                **({"calibrated_from": self.calibrated_from, "status": "calibrated"} if self.calibrated_from else {})}


@dataclass(frozen=True)
class DeltaSplit:
    """The failure probability of one D1 statement in a run at level ``delta`` over ``generations`` = K
    generations, and D1's named constants there [Li23, derived]: ``delta_i = delta / K`` (lemma C3) and, by
    lemma D4, c_stat, c_width and c_mc times ``factor = ell(delta_i)^k_delta``, ``ell(d) = max(1, ln(1/d^2))``
    (c_opt, c_approx, c_prior unchanged).  Made by :meth:`Diffusion.delta_split`."""

    delta: object
    generations: int
    delta_i: object
    k_delta: float
    factor: object
    constants: dict

    def fields(self) -> dict:
        """The fields an output adds to name the statement's level: delta, K, k_delta, delta_i, the factor."""
        return {"delta": float(self.delta), "generations": self.generations, "delta_exponent": self.k_delta,
                "delta_i": float(self.delta_i), "confidence_factor": float(self.factor)}

    def sentence(self) -> str:
        """One line: which constants the numbers use."""
        return (f"constants of lemma D4 at delta_i = delta/K = {mpmath.nstr(self.delta, 6)}/{self.generations}"
                f" = {mpmath.nstr(self.delta_i, 6)}: c_stat, c_width, c_mc times ell(delta_i)^{self.k_delta:g} = "
                f"{mpmath.nstr(self.factor, 6)}, ell(d) = max(1, ln(1/d^2))")


class RunRate:
    """eps(N) of the diffusion learner within one run (its statements at delta_i = delta / K): lemmas D4, D2,
    D3 evaluated once per distinct N (memoised), with the named terms of each N; also as doubles for many N
    (:meth:`eps_of_ns`, the mpmath value rounded once: relative error u), for the composition's fast paths."""

    rate_only: ClassVar[bool] = True

    def __init__(self, learner: "Diffusion", delta_i):
        self.learner, self.delta_i = learner, delta_i
        self.factor = learner.confidence_factor(delta_i)
        self._memo = {}

    def _entry(self, n):
        entry = self._memo.get(n)
        if entry is None:
            learner, delta_i = self.learner, self.delta_i
            kl = learner.kl_of_n(n, delta_i)
            entry = self._memo[n] = (get_lemma("D3").evaluate(KL=kl),
                                     {"KL": kl, "tau": learner.tau_for(n, delta_i), "width": learner.width_for(n),
                                      "delta_i": delta_i, "confidence_factor": self.factor})
        return entry

    def eps_of_n(self, n):
        return self._entry(n)[0]

    def terms_of(self, n) -> dict:
        """The named terms at N = n (a new dict)."""
        return dict(self._entry(n)[1])

    def eps_of_ns_error(self):
        return 1.0

    def eps_of_ns(self, ns):
        import numpy as np
        sizes = _float_sizes(ns)
        distinct, where = np.unique(sizes, return_inverse=True)
        values = np.array([float(self.eps_of_n(int(n) if n < 2 ** 53 else n)) for n in distinct.tolist()])
        return values[where]


@dataclass(frozen=True, repr=False)
class Table(Learner):
    """A learner given by a table of measured or calibrated one-generation errors eps(N_j).

    Between the points the error is the conservative non-increasing step envelope
    ``E(N) = max{eps_j : N_j >= N_floor}``, with ``N_floor`` the largest tabulated N_j <= N: it is never
    below a tabulated value at a larger or equal N, equals eps_j at every point of a non-increasing table,
    and it is a bound on eps(N) whenever the learner's error does not increase with N (an assumption,
    listed).  N below the smallest or above the largest tabulated size is refused.

    >>> t = Table(((100, 0.3), (1000, 0.1)))
    >>> float(t.eps_of_n(500))
    0.3
    """

    points: tuple
    source: str = ""
    #: the calibration result the table was read from (``from_file``): the bound is calibrated
    calibrated_from: str = ""

    name: ClassVar[str] = "table"
    uses_delta: ClassVar[bool] = False

    def __post_init__(self):
        pts = sorted((float(n), float(e)) for n, e in self.points)
        if len(pts) < 1:
            raise BoundcalcError("table: needs at least one row of N and eps(N)")
        for n, e in pts:
            if not (n >= 1 and n < 1e300):
                raise BoundcalcError(f"table: N must be a finite number >= 1, got {n:g}")
            if not (0 <= e < 1e300):
                raise BoundcalcError(f"table: eps(N) must be a finite number >= 0, got {e:g} at N = {n:g}")
        if len({n for n, _ in pts}) != len(pts):
            raise BoundcalcError("table: each N may appear once")
        envelope, running = [], -1.0
        for n, e in reversed(pts):
            running = max(running, e)
            envelope.append((n, running))
        object.__setattr__(self, "points", tuple(pts))
        object.__setattr__(self, "_envelope", tuple(reversed(envelope)))

    @classmethod
    def from_csv(cls, path) -> "Table":
        """Read two columns N, eps(N) (comma-separated, an optional header line, '#' comments)."""
        import csv
        rows = []
        try:
            with open(path, newline="") as handle:
                for line_no, row in enumerate(csv.reader(handle), start=1):
                    if not row or row[0].strip().startswith("#"):
                        continue
                    try:
                        rows.append((float(row[0]), float(row[1])))
                    except (ValueError, IndexError):
                        if rows or line_no > 1:
                            raise BoundcalcError(f"table: line {line_no} of {path} is not 'N, eps': {row!r}")
        except OSError as exc:
            raise BoundcalcError(f"table: cannot read {path}: {exc.strerror}")
        return cls(tuple(rows), str(path))

    @classmethod
    def from_file(cls, path) -> "Table":
        """A CSV (:meth:`from_csv`) or the ``--json`` output of ``validate diffusion calibrate`` (its
        measured eps(N) per N, labelled calibrated), told apart by content
        (:func:`boundcalc.bounds.calibration.read_table_points`)."""
        from boundcalc.bounds.calibration import read_table_points
        read = read_table_points(path)
        if read is None:
            return cls.from_csv(path)
        points, label = read
        return cls(points, label, calibrated_from=str(path))

    @property
    def range(self) -> tuple:
        return self.points[0][0], self.points[-1][0]

    def eps_of_ns_error(self):
        """The envelope's values are the table's doubles, returned as they are: no rounding (0)."""
        return 0.0

    def eps_of_ns(self, ns):
        """The step envelope at many N at once (``numpy.searchsorted``), with the semantics of
        :meth:`eps_of_n`: ``float(N)``, the envelope value at the largest tabulated N_j <= N, and the
        same one-line error for the first N (in the order given) outside the tabulated range.

        >>> Table(((100, 0.3), (1000, 0.1))).eps_of_ns([100, 500, 1000]).tolist()
        [0.3, 0.3, 0.1]
        """
        import numpy as np
        x = _float_sizes(ns)
        lo, hi = self.range
        outside = ~((x >= lo) & (x <= hi))
        if outside.any():
            self.eps_of_n(x[int(np.argmax(outside))])  # raises the one-line error of eps_of_n
        knots = np.array([p[0] for p in self._envelope])
        values = np.array([p[1] for p in self._envelope])
        return values[np.searchsorted(knots, x, side="right") - 1]

    def eps_of_n(self, n):
        import bisect
        x = float(n)
        lo, hi = self.range
        if not lo <= x <= hi:
            raise BoundcalcError(f"table learner: N = {x:g} is outside the tabulated range [{lo:g}, {hi:g}] "
                                 "(no extrapolation)")
        j = bisect.bisect_right([p[0] for p in self._envelope], x) - 1
        return mpf(self._envelope[j][1])

    def assumptions(self, scheme):
        lo, hi = self.range
        return [f"the learner's one-generation TV error at N samples of any training law is at most the tabulated "
                f"eps(N_j) ({len(self.points)} points, N in [{lo:g}, {hi:g}]"
                + (f", from {self.source}" if self.source else "") + "), and does not increase with N "
                "(the step envelope between points); measured or calibrated values, not a theorem"]

    def to_dict(self):
        return {"learner": self.name, "points": [list(p) for p in self.points], "source": self.source,
                "lemma_ids": [],
                **({"calibrated_from": self.calibrated_from, "status": "calibrated"} if self.calibrated_from else {})}


def _float_sizes(ns):
    """Sample sizes as a float64 array, each the correctly rounded double of the size (``float(N)``;
    Python integers beyond the int64 range are converted one by one)."""
    import numpy as np
    try:
        return np.asarray(ns, dtype=np.float64)
    except OverflowError:
        return np.array([float(n) for n in ns], dtype=np.float64)


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
    if name == "table":
        if "table" not in opts:
            raise BoundcalcError("learner table needs --table FILE (a CSV of N and eps(N), or the --json output "
                                 "of validate diffusion calibrate)")
        return Table.from_file(opts["table"])
    if "constants" in opts:  # a calibration file of the D1 constants (calibrated, not proved)
        return Diffusion.from_calibration(opts.pop("constants"), **opts)
    unknown = set(opts) - {f.name for f in dataclasses.fields(Diffusion)}
    if unknown:
        raise BoundcalcError(f"unknown diffusion constants or options {sorted(unknown)}; valid: "
                             f"{sorted(f.name for f in dataclasses.fields(Diffusion))}")
    return Diffusion(**opts)
