"""Data-mixing schemes of a self-consuming loop, shared by the
bounds and by the empirical validators, so that the two can never describe different loops.

A scheme answers one question: *what is generation i trained on?*  The answer is a
:class:`GenerationPlan`, a tuple of :class:`Block` s.  A block is a set of ``count`` samples
of one source, ``source = 0`` for the real distribution p0 and ``source = j >= 1`` for the
output p_j of generation j, first drawn when generation ``drawn_at`` was trained.  Two plans
that list a block with the same ``(source, drawn_at)`` share the *same samples* (reused real
data, or the synthetic data that ``accumulate`` keeps).

From the plan follow

* the population training distribution ``q_i = sum_b (count_b / N_i) p_{source_b}``;
* the recursion coefficients of the composition theorem: ``TV(q_i, p0) <= sum_j w_{ij} a_j`` with
  ``w_{ij}`` the weight of source j (equality when one synthetic source is mixed with p0,
  lemma T1; convexity otherwise);
* which samples are fresh at generation i (what the concentration argument may treat as
  independent given the past).

Generation 1 is always trained on ``n_real`` real samples.

Schemes are frozen value objects (``dataclasses.replace`` gives a changed copy): their fields are
checked once, in ``__post_init__``, against the parameter table of :mod:`boundcalc._checks`, and
every derived quantity (plans, N_i) is a pure function of the fields.  Sample sizes are integers;
a size derived from a fraction (a real fraction times N) is rounded by :func:`round_size`, the one
rounding rule shared by the bounds, the solvers and the validators.  ``None`` in a size field marks
the unknown of :func:`boundcalc.solve`; such a scheme describes no loop until the unknown is filled.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import ClassVar, Sequence

import numpy as np

from boundcalc._checks import BoundcalcError, check, check_choice, check_positive, check_positive_int

SCHEMES = ("replace", "mix", "accumulate", "schedule")
REAL_DATA = ("fresh", "reused")
#: how a mix / schedule training set of generation i >= 2 is drawn: ``stratified`` = exactly the plan's
#: block counts (round_size(lam_i N_i) real samples, the rest from p_{i-1}); ``iid`` = each of the N_i
#: samples independently real with probability lam_i (the plan's real fraction), else from p_{i-1},
#: so that given the past the training set is N_i i.i.d. draws of q_i = lam_i p0 + (1 - lam_i) p_{i-1}
DRAWS = ("stratified", "iid")


def round_size(x) -> int:
    """The one rounding rule for sample sizes derived from fractions: the nearest integer,
    halves rounded up (``floor(x + 1/2)``), computed exactly for floats of any size.

    Used wherever a size is a product (real fraction times N, a ratio times n_real), by the
    bounds, the solvers and the validators alike, so all describe the same integer training sets.

    >>> round_size(0.25 * 1000), round_size(2.5), round_size(1e20 / 3)
    (250, 3, 33333333333333331968)
    """
    if isinstance(x, (int, np.integer)):
        return int(x)
    try:
        return math.floor(Fraction(x) + Fraction(1, 2))
    except (TypeError, ValueError, OverflowError):
        import mpmath
        return int(mpmath.floor(mpmath.mpf(x) + mpmath.mpf(0.5)))


def real_split(real_fraction, n_total) -> tuple[int, int]:
    """(real, synthetic) counts of a training set of ``n_total`` samples with real share
    ``real_fraction``: ``real = round_size(lam N)``, ``synthetic = N - real``.

    >>> real_split(0.3, 1001)
    (300, 701)
    """
    real = round_size(real_fraction * n_total)
    return real, n_total - real


@dataclass(frozen=True)
class Block:
    """``count`` samples of ``source`` (0 = p0, j = p_j), drawn when generation ``drawn_at`` was trained."""
    source: int
    count: float
    drawn_at: int
    #: when set, the samples of this key are a stored block of ``pool`` samples and this generation
    #: uses ``count`` of them, chosen uniformly without replacement (accumulate-subsample)
    pool: float | None = None

    @property
    def size(self) -> int:
        """The integer number of samples an experiment draws (:func:`round_size` of ``count``)."""
        return round_size(self.count)

    @property
    def key(self) -> tuple[int, int]:
        """Blocks with equal keys hold the same samples."""
        return (self.source, self.drawn_at)


@dataclass(frozen=True)
class GenerationPlan:
    generation: int
    blocks: tuple[Block, ...]
    #: ``iid``: the N_i samples are drawn independently from q_i (the real count is Binomial(N_i, lam_i)
    #: and the blocks hold its expected split); ``stratified``: the blocks' counts exactly
    draw: str = "stratified"

    @property
    def n_total(self) -> float:
        """N_i, the training-set size."""
        return sum(b.count for b in self.blocks)

    @property
    def n_real(self) -> float:
        return sum(b.count for b in self.blocks if b.source == 0)

    @property
    def real_fraction(self) -> float:
        """lam_i = (real samples) / N_i."""
        return self.n_real / self.n_total

    def weights(self) -> list[float]:
        """Weights of q_i over (p0, p_1, ..., p_{i-1}); they sum to 1."""
        w = [0.0] * self.generation
        total = self.n_total
        for b in self.blocks:
            w[b.source] += b.count / total
        return w

    @property
    def all_fresh(self) -> bool:
        """True when every sample of this training set is drawn anew at this generation."""
        return all(b.drawn_at == self.generation for b in self.blocks)

    @property
    def iid_from_training_law(self) -> bool:
        """True when, given the past, the training set is N_i i.i.d. draws of q_i (what a lemma stated
        for an i.i.d. sample of one law, such as D1, needs): one block of p0 (its samples are i.i.d.
        draws of the fixed law p0 whenever they were drawn), one fresh block of p_{i-1}, or fresh
        blocks drawn with ``draw = "iid"`` (each sample independently from the mixture q_i).
        Stratified blocks of two laws, reused or kept blocks beside others, and subsamples of a
        stored pool are not."""
        blocks = [b for b in self.blocks if b.count > 0]
        if any(b.pool is not None for b in blocks):
            return False
        if len(blocks) == 1:
            return blocks[0].source == 0 or blocks[0].drawn_at == self.generation
        return self.draw == "iid" and all(b.drawn_at == self.generation for b in blocks)


def _summary(value) -> str:
    """repr of one field: numbers plainly, arrays summarised (shape and range)."""
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return f"array(shape={value.shape})"
        return f"array(shape={value.shape}, min={value.min().item()!r}, max={value.max().item()!r})"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, tuple) and len(value) > 6:
        return f"({', '.join(map(repr, value[:3]))}, ..., {value[-1]!r}) [{len(value)} values]"
    return repr(value)


def _check_size(name: str, value, minimum: int = 1, unknown_ok: bool = True):
    """A sample size through the parameter table; ``None`` (the unknown) and integer arrays (the
    grid path) are allowed."""
    if value is None:
        if not unknown_ok:
            raise BoundcalcError(f"{name} must be given (an integer >= {minimum})")
        return None
    if isinstance(value, np.ndarray):
        arr = np.asarray(value)
        if arr.dtype.kind not in "iu" or arr.size == 0 or arr.min() < minimum:
            raise BoundcalcError(f"{name} must be an integer >= {minimum} (an integer array for a grid), "
                                 f"got an array of dtype {arr.dtype}" + (f" with minimum {arr.min()}" if arr.size else ""))
        arr = arr.copy()
        arr.setflags(write=False)
        return arr
    value = check(name, value)
    if value < minimum:
        raise BoundcalcError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


@dataclass(frozen=True, repr=False)
class Scheme:
    """Base class: subclasses define :meth:`_later_blocks` for generations i >= 2.

    Subclasses are frozen dataclasses; ``n_real`` is the first field of every scheme.
    """

    name: ClassVar[str] = ""
    #: TV(q_i, p0) = sum_j w_ij a_j holds with equality
    exact_recursion: ClassVar[bool] = True
    #: fields that are sample sizes and may be the unknown (None) of the solver
    size_fields: ClassVar[tuple[str, ...]] = ("n_real",)

    def __repr__(self) -> str:
        shown = [f"{f.name}={_summary(getattr(self, f.name))}" for f in dataclasses.fields(self)
                 if f.repr and not (f.metadata.get("hide_none") and getattr(self, f.name) is None)
                 and not (f.metadata.get("hide_default") and getattr(self, f.name) == f.default)]
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- the unknown -----------------------------------------------------------------------
    @property
    def unknowns(self) -> tuple[str, ...]:
        """Fields left ``None`` (the quantity :func:`boundcalc.solve` solves for)."""
        return tuple(f for f in self.size_fields if getattr(self, f, 0) is None)

    def _require_complete(self):
        if self.unknowns:
            raise BoundcalcError(f"{self!r} leaves {', '.join(self.unknowns)} unknown (None): "
                                 "give a value, or solve for it with boundcalc.solve")
        if any(isinstance(getattr(self, f.name), np.ndarray) for f in dataclasses.fields(self)):
            raise BoundcalcError(f"{type(self).__name__} with array-valued fields describes a grid of loops; "
                                 "evaluate one loop at a time (the grid path is not implemented)")

    # -- plans -----------------------------------------------------------------------------
    def plan(self, i: int) -> GenerationPlan:
        """What generation i trains on (memoised: a pure function of the frozen fields)."""
        cache = self.__dict__.get("_plans")
        if cache is None:
            self._require_complete()
            cache = {}
            object.__setattr__(self, "_plans", cache)
        if i not in cache:
            i = check_positive_int("generation", i)
            cache[i] = (GenerationPlan(1, (Block(0, self.n_real, 1),)) if i == 1
                        else GenerationPlan(i, tuple(b for b in self._later_blocks(i) if b.count > 0),
                                            getattr(self, "draw", "stratified")))
        return cache[i]

    def _real_block(self, i: int, count=None) -> Block:
        drawn = 1 if getattr(self, "real_data", "fresh") == "reused" else i
        return Block(0, self.n_real if count is None else count, drawn)

    def _later_blocks(self, i: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def plans(self, generations: int) -> list[GenerationPlan]:
        return [self.plan(i) for i in range(1, check_positive_int("generations", generations) + 1)]

    def tv_coefficients(self, i: int) -> list[float]:
        """w_{ij}, j = 1..i-1: TV(q_i, p0) <= sum_j w_ij a_j (the composition theorem)."""
        return self.plan(i).weights()[1:]

    def n_total(self, i: int) -> float:
        """N_i without building the plan (the solvers call it many times)."""
        return self.plan(i).n_total

    def check_generations(self, generations: int) -> None:
        """Refuse a number of generations the scheme does not describe (schedules only)."""

    def replace(self, **changes) -> "Scheme":
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        out = {"scheme": self.name, "n_real": self.n_real, "real_data": getattr(self, "real_data", "fresh")}
        if hasattr(self, "draw"):
            out["draw"] = self.draw
        return out


@dataclass(frozen=True, repr=False)
class Replace(Scheme):
    """Fully synthetic: generation i >= 2 trains on ``n_synth`` samples of p_{i-1}; q_i = p_{i-1}.

    >>> Replace(n_real=1000, n_synth=500)
    Replace(n_real=1000, n_synth=500)
    """

    n_real: int | None
    n_synth: int | None

    name: ClassVar[str] = "replace"
    size_fields: ClassVar[tuple[str, ...]] = ("n_real", "n_synth")
    real_data: ClassVar[str] = "fresh"

    def __post_init__(self):
        object.__setattr__(self, "n_real", _check_size("n_real", self.n_real))
        object.__setattr__(self, "n_synth", _check_size("n_synth", self.n_synth, 1))

    def _later_blocks(self, i):
        yield Block(i - 1, self.n_synth, i)

    def to_dict(self):
        return {**super().to_dict(), "n_synth": self.n_synth}


@dataclass(frozen=True, repr=False)
class Mix(Scheme):
    """``n_real`` real + ``n_synth`` samples of p_{i-1}; q_i = lam p0 + (1 - lam) p_{i-1},
    lam = n_real / (n_real + n_synth).

    ``n_total`` is only used to state the per-generation budget when the real fraction is the
    unknown: ``Mix(n_real=None, n_synth=None, n_total=2000)`` (see :meth:`fraction`).

    >>> Mix(n_real=1000, n_synth=3000)
    Mix(n_real=1000, n_synth=3000, real_data='fresh')
    >>> Mix.from_real_fraction(1000, 0.25).n_synth
    3000
    """

    n_real: int | None
    n_synth: int | None
    real_data: str = "fresh"
    n_total_budget: int | None = field(default=None, metadata={"hide_none": True})
    #: "stratified" (exact block counts) or "iid" (each sample independently from q_i), see DRAWS
    draw: str = field(default="stratified", metadata={"hide_default": True})

    name: ClassVar[str] = "mix"
    size_fields: ClassVar[tuple[str, ...]] = ("n_real", "n_synth")

    def __post_init__(self):
        object.__setattr__(self, "n_real", _check_size("n_real", self.n_real))
        object.__setattr__(self, "n_synth", _check_size("n_synth", self.n_synth, 0))
        check_choice("real_data", self.real_data, REAL_DATA)
        _check_draw(self.draw, self.real_data)
        if self.n_total_budget is not None:
            budget = _check_size("n_total", self.n_total_budget, 2)
            object.__setattr__(self, "n_total_budget", budget)
            if (self.n_real is None) != (self.n_synth is None):
                raise BoundcalcError("n_total (the budget) goes with n_real=None and n_synth=None (the real fraction "
                                     "is then the unknown), or with both given and summing to it")
            if self.n_real is not None and self.n_real + self.n_synth != budget:
                raise BoundcalcError(f"n_total must equal n_real + n_synth = {self.n_real + self.n_synth}, got {budget}")

    @property
    def unknowns(self):
        if self.n_total_budget is not None and self.n_real is None:
            return ("real_fraction",)
        return super().unknowns

    @property
    def real_fraction(self) -> float:
        """lam = n_real / (n_real + n_synth), the real share of every later training set."""
        return self.n_real / (self.n_real + self.n_synth)

    @classmethod
    def from_real_fraction(cls, n_real, real_fraction, real_data: str = "fresh", draw: str = "stratified") -> "Mix":
        """n_synth = round_size(n_real (1 - lam) / lam), so that each later training set has real share
        lam (up to the rounding of n_synth to an integer)."""
        lam = check("real_fraction", real_fraction)
        n_real = _check_size("n_real", n_real, unknown_ok=False)
        return cls(n_real, round_size(Fraction(n_real) * (1 - Fraction(lam)) / Fraction(lam)), real_data, draw=draw)

    @classmethod
    def fraction(cls, real_fraction, n_total, real_data: str = "fresh", draw: str = "stratified") -> "Mix":
        """The mix loop with a per-generation budget ``n_total`` of which the share ``real_fraction`` is
        real: n_real = round_size(lam N), n_synth = N - n_real.  ``real_fraction=None`` leaves the real
        fraction unknown (for :func:`boundcalc.solve`).

        >>> Mix.fraction(0.25, 4000)
        Mix(n_real=1000, n_synth=3000, real_data='fresh', n_total_budget=4000)
        >>> Mix.fraction(None, 4000).unknowns
        ('real_fraction',)
        """
        n_total = _check_size("n_total", n_total, 2, unknown_ok=False)
        if real_fraction is None:
            return cls(None, None, real_data, n_total, draw)
        real, synth = real_split(check("real_fraction", real_fraction), n_total)
        if real < 1:
            raise BoundcalcError(f"real_fraction {real_fraction:g} of n_total = {n_total} leaves no real sample "
                                 "for generation 1 (round_size(lam N) must be >= 1)")
        return cls(real, synth, real_data, n_total, draw)

    def _later_blocks(self, i):
        yield self._real_block(i)
        if self.n_synth > 0:
            yield Block(i - 1, self.n_synth, i)

    def to_dict(self):
        out = {**super().to_dict(), "n_synth": self.n_synth}
        if self.n_real is not None and self.n_synth is not None:
            out["real_fraction"] = self.real_fraction
        return out


@dataclass(frozen=True, repr=False)
class Accumulate(Scheme):
    """``n_real`` real + ``n_synth`` samples of each p_j, j < i, kept from when they were drawn.

    >>> Accumulate(100, 50).n_total(4)
    250
    """

    n_real: int | None
    n_synth: int | None
    real_data: str = "fresh"

    name: ClassVar[str] = "accumulate"
    exact_recursion: ClassVar[bool] = False  # convexity of TV: an inequality once two synthetic sources mix
    size_fields: ClassVar[tuple[str, ...]] = ("n_real", "n_synth")

    def __post_init__(self):
        object.__setattr__(self, "n_real", _check_size("n_real", self.n_real))
        object.__setattr__(self, "n_synth", _check_size("n_synth", self.n_synth, 1))
        check_choice("real_data", self.real_data, REAL_DATA)

    def _later_blocks(self, i):
        yield self._real_block(i)
        for j in range(1, i):
            yield Block(j, self.n_synth, j + 1)

    def n_total(self, i):
        self._require_complete()
        return self.n_real + (i - 1) * self.n_synth

    def to_dict(self):
        return {**super().to_dict(), "n_synth": self.n_synth}


@dataclass(frozen=True, repr=False)
class AccumulateSubsample(Scheme):
    """Accumulate, then subsample to a fixed size: the pool of generation i >= 2 holds the ``n_real``
    real samples (kept) and ``n_synth`` samples of each p_j, j < i (kept from when they were drawn),
    P_i = n_real + (i-1) n_synth of them; generation i trains on ``subsample`` = N of them, a
    stratified uniform subsample (N n_real / P_i real points, N n_synth / P_i of each p_j, each chosen
    without replacement from its stored block).  Generation 1 trains on the n_real real samples.

    The plan's weights are the pool shares, ``w_i0 = n_real / P_i`` and ``w_ij = n_synth / P_i``, so
    the recursion TV(q_i, p0) <= sum_j w_ij a_j uses them (an inequality, as for accumulate).

    >>> AccumulateSubsample(100, 50, 120).plan(3).weights()
    [0.5, 0.25, 0.25]
    >>> AccumulateSubsample(100, 50, 120).n_total(3)
    120.0
    """

    n_real: int | None
    n_synth: int | None
    subsample: int | None

    name: ClassVar[str] = "accumulate-subsample"
    real_data: ClassVar[str] = "reused"
    exact_recursion: ClassVar[bool] = False
    size_fields: ClassVar[tuple[str, ...]] = ("n_real", "n_synth", "subsample")

    def __post_init__(self):
        object.__setattr__(self, "n_real", _check_size("n_real", self.n_real))
        object.__setattr__(self, "n_synth", _check_size("n_synth", self.n_synth, 1))
        object.__setattr__(self, "subsample", _check_size("subsample", self.subsample, 1))
        known = [getattr(self, f) for f in self.size_fields]
        if all(isinstance(v, int) for v in known) and self.subsample > self.n_real + self.n_synth:
            raise BoundcalcError(f"subsample must be at most n_real + n_synth = {self.n_real + self.n_synth} (the "
                                 f"smallest pool, at generation 2), got {self.subsample}")

    def _later_blocks(self, i):
        pool = self.n_real + (i - 1) * self.n_synth
        share = self.subsample / pool
        yield Block(0, self.n_real * share, 1, pool=self.n_real)
        for j in range(1, i):
            yield Block(j, self.n_synth * share, j + 1, pool=self.n_synth)

    def n_total(self, i):
        self._require_complete()
        return self.n_real if i == 1 else float(sum(b.count for b in self._later_blocks(i)))

    def to_dict(self):
        return {**super().to_dict(), "n_synth": self.n_synth, "subsample": self.subsample}


@dataclass(frozen=True, repr=False)
class Schedule(Scheme):
    """User-given real fractions lam_i in [0, 1] and sizes N_i for generations 2..K (fresh real data).

    ``real_fractions`` and ``sizes`` are sequences for generations 2, 3, ...; a sequence of
    length one is used for every generation (``sizes`` defaults to ``(n_real,)``).  Generation i
    trains on ``round_size(lam_i N_i)`` real samples and the rest from p_{i-1}; lam_i = 0 is a
    fully synthetic generation, so a schedule also describes the final-generation rescue and
    growing sample sizes.

    >>> Schedule(100, real_fractions=[0.0, 0.5], sizes=[200, 400]).plan(3).weights()
    [0.5, 0.0, 0.5]
    """

    n_real: int | None
    real_fractions: tuple = ()
    sizes: tuple | None = None
    #: the continuous relaxation (real sizes, no rounding) used for curves over a real variable
    relaxed: bool = field(default=False, repr=False)
    #: "stratified" (exact block counts) or "iid" (each sample independently from q_i), see DRAWS
    draw: str = field(default="stratified", metadata={"hide_default": True})

    name: ClassVar[str] = "schedule"
    real_data: ClassVar[str] = "fresh"

    def __post_init__(self):
        _check_draw(self.draw, "fresh")
        if self.relaxed:
            object.__setattr__(self, "real_fractions", tuple(check("schedule_fractions", self.real_fractions)))
            object.__setattr__(self, "sizes", tuple(check_positive("sizes", s) for s in (self.sizes or (self.n_real,))))
            return
        object.__setattr__(self, "n_real", _check_size("n_real", self.n_real))
        if self.real_fractions is None or (not isinstance(self.real_fractions, str) and len(self.real_fractions) == 0):
            raise BoundcalcError("schedule needs real_fractions (schedule_fractions, --schedule-fractions "
                                 "L2,L3,...): comma-separated numbers in [0, 1]")
        # 0 is allowed here: a fully synthetic generation inside a schedule
        object.__setattr__(self, "real_fractions", check("schedule_fractions", self.real_fractions))
        sizes = self.sizes if self.sizes is not None and len(self.sizes) else (self.n_real,)
        if self.n_real is None and sizes == (None,):  # sizes follow the unknown n_real
            object.__setattr__(self, "sizes", None)
            return
        if any(s is None for s in sizes):
            raise BoundcalcError("sizes cannot hold the unknown (None); solve for n_real instead")
        object.__setattr__(self, "sizes", check("sizes", sizes))

    @classmethod
    def continuous(cls, n_real, real_fractions, sizes, draw: str = "stratified") -> "Schedule":
        """The relaxation with real-valued sizes (no rounding): the phase curve f(s) over real s
        is a function of a real variable, not a training loop."""
        return cls(n_real, tuple(real_fractions), tuple(sizes), relaxed=True, draw=draw)

    def _entry(self, values, i, what):
        if len(values) == 1:
            return values[0]
        if i - 2 >= len(values):
            raise BoundcalcError(f"{what} lists generations 2..{len(values) + 1}; generation {i} is not given")
        return values[i - 2]

    def check_generations(self, generations: int):
        for values, what in ((self.real_fractions, "real_fractions"), (self.sizes, "sizes")):
            if len(values) > 1 and len(values) != generations - 1:
                raise BoundcalcError(f"{what} must have 1 or K-1 = {generations - 1} values, got {len(values)}")

    def _later_blocks(self, i):
        lam_i = self._entry(self.real_fractions, i, "real_fractions")
        size_i = self._entry(self.sizes, i, "sizes")
        if self.relaxed:
            real, synth = lam_i * size_i, (1 - lam_i) * size_i
        else:
            real, synth = real_split(lam_i, size_i)
        if real > 0:
            yield Block(0, real, i)
        if synth > 0:
            yield Block(i - 1, synth, i)

    def to_dict(self):
        return {**super().to_dict(), "real_fractions": list(self.real_fractions), "sizes": list(self.sizes)}


def is_steady(scheme: Scheme) -> bool:
    """True when every plan i >= 2 is plan 2 with its synthetic source moved to p_(i-1) (and its fresh blocks
    drawn at i): replace, mix (fresh or reused real data) and a schedule with one real fraction and one size."""
    return isinstance(scheme, (Replace, Mix)) or (
        isinstance(scheme, Schedule) and len(scheme.real_fractions) == 1 and len(scheme.sizes) == 1)


def n_totals(scheme: Scheme, generations: int) -> list:
    """N_1..N_K in O(K) without building K plans: a steady scheme (:func:`is_steady`) repeats N_2,
    accumulate is n_real + (i - 1) n_synth (closed form); other schemes read their plans.

    >>> n_totals(Accumulate(1000, 7), 3), n_totals(Mix(100, 50), 3)
    ([1000, 1007, 1014], [100, 150, 150])
    """
    if is_steady(scheme) and generations >= 2:
        return [scheme.n_total(1)] + [scheme.n_total(2)] * (generations - 1)
    if isinstance(scheme, Accumulate):
        scheme._require_complete()
        n_real, n_synth = scheme.n_real, scheme.n_synth
        return [n_real + i * n_synth for i in range(generations)]
    return [scheme.n_total(i) for i in range(1, generations + 1)]


def _check_draw(draw, real_data):
    """``draw`` through the parameter table; ``iid`` needs fresh real data (a reused real set is not
    drawn anew at each generation)."""
    check("draw", draw)
    if draw == "iid" and real_data != "fresh":
        raise BoundcalcError("draw iid needs real_data fresh: with reused real data the real samples are the same "
                             "set every generation, not drawn independently from q_i")


def make_scheme(name: str, n_real, n_synth=None, real_data: str = "fresh",
                real_fraction=None, real_fractions=None, sizes=None, draw: str = "stratified") -> Scheme:
    """Build a scheme by name, validating every parameter (the command line's entry point).

    ``n_synth`` defaults to ``n_real``; for ``mix``, ``real_fraction`` may be given instead of
    ``n_synth``.  Options that do not apply to the scheme are refused, not ignored.

    >>> make_scheme("mix", 1000, real_fraction=0.25)
    Mix(n_real=1000, n_synth=3000, real_data='fresh')
    """
    check_choice("scheme", name, SCHEMES)
    check_choice("real_data", real_data, REAL_DATA)
    check("draw", draw)
    if draw != "stratified" and name not in ("mix", "schedule"):
        raise BoundcalcError(f"draw {draw} (--draw) applies to mix and schedule, not {name} (its training sets "
                             + ("hold one law after generation 1" if name == "replace" else
                                "keep blocks drawn at earlier generations") + ")")
    if name != "schedule":
        for value, what in ((real_fractions, "schedule_fractions (--schedule-fractions, alias --real-fractions)"),
                            (sizes, "sizes (--sizes)")):
            if value is not None:
                raise BoundcalcError(f"{what} applies to the schedule scheme, not {name}"
                                     + ("; use real_fraction (--real-fraction) for mix" if name == "mix"
                                        and value is real_fractions else ""))
    if name == "schedule":
        if real_fraction is not None:
            raise BoundcalcError("real_fraction (--real-fraction) applies to mix; a schedule takes "
                                 "schedule_fractions (--schedule-fractions L2,L3,...)")
        if n_synth is not None:
            raise BoundcalcError("n_synth (--n-synth) does not apply to the schedule scheme (its sizes and real "
                                 "fractions set the synthetic counts)")
        if real_data != "fresh":
            raise BoundcalcError("real_data must be fresh for the schedule scheme")
        return Schedule(n_real, real_fractions, sizes, draw=draw)
    if name == "mix" and real_fraction is not None:
        if n_synth is not None:
            raise BoundcalcError("give either n_synth or real_fraction for mix, not both")
        return Mix.from_real_fraction(n_real, real_fraction, real_data, draw)
    if real_fraction is not None:
        raise BoundcalcError(f"real_fraction applies to mix and schedule, not {name}")
    n_real = _check_size("n_real", n_real, unknown_ok=False)
    n_synth = n_real if n_synth is None else n_synth
    if name == "replace":
        if real_data != "fresh":
            raise BoundcalcError("real_data applies to mix and accumulate; replace uses no real data after generation 1")
        return Replace(n_real, n_synth)
    if name == "mix":
        return Mix(n_real, n_synth, real_data, draw=draw)
    return Accumulate(n_real, n_synth, real_data)
