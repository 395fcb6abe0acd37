"""Data-mixing schemes of a self-consuming loop (docs/theory.md section 2), shared by the
bounds and by the empirical validators, so that the two can never describe different loops.

A scheme answers one question: *what is generation i trained on?*  The answer is a
:class:`GenerationPlan`, a tuple of :class:`Block` s.  A block is a set of ``count`` samples
of one source, ``source = 0`` for the real distribution p0 and ``source = j >= 1`` for the
output p_j of generation j, first drawn when generation ``drawn_at`` was trained.  Two plans
that list a block with the same ``(source, drawn_at)`` share the *same samples* (reused real
data, or the synthetic data that ``accumulate`` keeps).

From the plan follow

* the population training distribution ``q_i = sum_b (count_b / N_i) p_{source_b}``;
* the recursion coefficients of docs/theory.md section 4.1: ``TV(q_i, p0) <= sum_j w_{ij} a_j`` with
  ``w_{ij}`` the weight of source j (equality when one synthetic source is mixed with p0,
  lemma T1; convexity otherwise);
* which samples are fresh at generation i (what the concentration argument may treat as
  independent given the past).

Generation 1 is always trained on ``n_real`` real samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from boundcalc._checks import (BoundcalcError, check_choice, check_fraction, check_nonnegative,
                     check_positive, check_positive_int, check_range)

SCHEMES = ("replace", "mix", "accumulate", "schedule")
REAL_DATA = ("fresh", "reused")


@dataclass(frozen=True)
class Block:
    """``count`` samples of ``source`` (0 = p0, j = p_j), drawn when generation ``drawn_at`` was trained."""
    source: int
    count: float
    drawn_at: int

    @property
    def size(self) -> int:
        """The integer number of samples an experiment draws (``count`` rounded)."""
        return int(round(self.count))

    @property
    def key(self) -> tuple[int, int]:
        """Blocks with equal keys hold the same samples."""
        return (self.source, self.drawn_at)


@dataclass(frozen=True)
class GenerationPlan:
    generation: int
    blocks: tuple[Block, ...]

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



class Scheme:
    """Base class: subclasses define :meth:`plan` for generations i >= 2."""

    name: str = ""
    exact_recursion: bool = True  # TV(q_i, p0) = sum_j w_ij a_j holds with equality

    def __init__(self, n_real, real_data: str = "fresh"):
        self.n_real = check_positive("n_real", n_real)
        self.real_data = check_choice("real_data", real_data, REAL_DATA)

    def _real_block(self, i: int, count=None) -> Block:
        drawn = 1 if self.real_data == "reused" else i
        return Block(0, self.n_real if count is None else count, drawn)

    def plan(self, i: int) -> GenerationPlan:
        cache = self.__dict__.setdefault("_plans", {})
        if i not in cache:
            i = check_positive_int("generation", i)
            cache[i] = (GenerationPlan(1, (Block(0, self.n_real, 1),)) if i == 1
                        else GenerationPlan(i, tuple(self._later_blocks(i))))
        return cache[i]

    def _later_blocks(self, i: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def plans(self, generations: int) -> list[GenerationPlan]:
        return [self.plan(i) for i in range(1, check_positive_int("generations", generations) + 1)]

    def tv_coefficients(self, i: int) -> list[float]:
        """w_{ij}, j = 1..i-1: TV(q_i, p0) <= sum_j w_ij a_j (docs/theory.md section 4.1)."""
        return self.plan(i).weights()[1:]

    def n_total(self, i: int) -> float:
        """N_i without building the plan (the solvers call it many times)."""
        return self.plan(i).n_total

    def to_dict(self) -> dict:
        return {"scheme": self.name, "n_real": self.n_real, "real_data": self.real_data}


class Replace(Scheme):
    """Fully synthetic: generation i >= 2 trains on ``n_synth`` samples of p_{i-1}; q_i = p_{i-1}."""

    name = "replace"

    def __init__(self, n_real, n_synth):
        super().__init__(n_real, "fresh")
        self.n_synth = check_positive("n_synth", n_synth)

    def _later_blocks(self, i):
        yield Block(i - 1, self.n_synth, i)

    def to_dict(self):
        return {**super().to_dict(), "n_synth": self.n_synth}


class Mix(Scheme):
    """``n_real`` real + ``n_synth`` samples of p_{i-1}; q_i = lam p0 + (1 - lam) p_{i-1}."""

    name = "mix"

    def __init__(self, n_real, n_synth, real_data: str = "fresh"):
        super().__init__(n_real, real_data)
        self.n_synth = check_nonnegative("n_synth", n_synth)

    @classmethod
    def from_real_fraction(cls, n_real, real_fraction, real_data: str = "fresh") -> "Mix":
        """n_synth = n_real (1 - lam) / lam, so that each later training set has real share lam."""
        lam = check_fraction("real_fraction", real_fraction)
        return cls(n_real, n_real * (1 - lam) / lam, real_data)

    def _later_blocks(self, i):
        yield self._real_block(i)
        if self.n_synth > 0:
            yield Block(i - 1, self.n_synth, i)

    def to_dict(self):
        return {**super().to_dict(), "n_synth": self.n_synth,
                "real_fraction": self.n_real / (self.n_real + self.n_synth)}


class Accumulate(Scheme):
    """``n_real`` real + ``n_synth`` samples of each p_j, j < i, kept from when they were drawn."""

    name = "accumulate"
    exact_recursion = False  # convexity of TV: an inequality once two synthetic sources mix

    def __init__(self, n_real, n_synth, real_data: str = "fresh"):
        super().__init__(n_real, real_data)
        self.n_synth = check_positive("n_synth", n_synth)

    def _later_blocks(self, i):
        yield self._real_block(i)
        for j in range(1, i):
            yield Block(j, self.n_synth, j + 1)

    def n_total(self, i):
        return self.n_real + (i - 1) * self.n_synth

    def to_dict(self):
        return {**super().to_dict(), "n_synth": self.n_synth}


class Schedule(Scheme):
    """User-given real fractions lam_i in [0, 1] and sizes N_i for generations 2..K (fresh real data).

    ``real_fractions`` and ``sizes`` are sequences for generations 2, 3, ...; a sequence of
    length one is used for every generation.  lam_i = 0 is a fully synthetic generation, so a
    schedule also describes the final-generation rescue and growing sample sizes of docs/theory.md section 4.2.
    """

    name = "schedule"

    def __init__(self, n_real, real_fractions: Sequence[float], sizes: Sequence[float] | None = None):
        super().__init__(n_real, "fresh")
        if not real_fractions:
            raise BoundcalcError("real_fractions must list at least one value in [0, 1]")
        # 0 is allowed here: a fully synthetic generation inside a schedule
        self.real_fractions = tuple(check_range("real_fractions", x, 0, 1) for x in real_fractions)
        sizes = sizes if sizes else (n_real,)
        self.sizes = tuple(check_positive("sizes", x) for x in sizes)

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
        if lam_i > 0:
            yield Block(0, lam_i * size_i, i)
        if lam_i < 1:
            yield Block(i - 1, (1 - lam_i) * size_i, i)

    def to_dict(self):
        return {**super().to_dict(), "real_fractions": list(self.real_fractions), "sizes": list(self.sizes)}


def make_scheme(name: str, n_real, n_synth=None, real_data: str = "fresh",
                real_fraction=None, real_fractions=None, sizes=None) -> Scheme:
    """Build a scheme by name, validating every parameter.

    ``n_synth`` defaults to ``n_real``; for ``mix``, ``real_fraction`` may be given instead of
    ``n_synth``.
    """
    check_choice("scheme", name, SCHEMES)
    check_choice("real_data", real_data, REAL_DATA)
    if name == "schedule":
        if real_fractions is None:
            if real_fraction is None:
                raise BoundcalcError("schedule needs real_fractions (--real-fractions L2,L3,...)")
            real_fractions = (real_fraction,)
        if real_data != "fresh":
            raise BoundcalcError("real_data must be fresh for the schedule scheme")
        return Schedule(n_real, real_fractions, sizes)
    if name == "mix" and real_fraction is not None:
        if n_synth is not None:
            raise BoundcalcError("give either n_synth or real_fraction for mix, not both")
        return Mix.from_real_fraction(n_real, real_fraction, real_data)
    if real_fraction is not None:
        raise BoundcalcError(f"real_fraction applies to mix and schedule, not {name}")
    check_positive("n_real", n_real)
    n_synth = n_real if n_synth is None else n_synth
    if name == "replace":
        if real_data != "fresh":
            raise BoundcalcError("real_data applies to mix and accumulate; replace uses no real data after generation 1")
        return Replace(n_real, n_synth)
    if name == "mix":
        return Mix(n_real, n_synth, real_data)
    return Accumulate(n_real, n_synth, real_data)
