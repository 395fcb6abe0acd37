"""Block bookkeeping of a Gaussian-KDE loop (lemmas KE3, KR4 of the catalogue).

A loop's randomness enters through *blocks*: a block of ``N_b`` samples of one source (p_0 or an
earlier output p_s), drawn once and possibly used by several generations (reused real data,
accumulate's kept synthetic data).  Writing every fitted density as its expected law plus the block
deviations ``D_beta = (empirical measure of beta) - p_{s_beta}``,

.. math:: p_i = r_i + \\sum_\\beta D_\\beta * G_{i,\\beta},

with deterministic kernels ``G_{i,beta}`` (nonnegative combinations of Gaussian kernels): the
recursion is ``G_{i,beta} = w_{i,beta} phi_{h_i} [beta in plan i] + sum_{b in plan i, s_b >= 1}
w_{i,b} G_{s_b,beta} * phi_{h_i}``.  This module computes the r_i (lemma K4, per-generation
bandwidths allowed) and the kernels ``G_{i,beta}`` as ``{variance: weight}`` tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from boundcalc._checks import BoundcalcError, check_positive, check_positive_int
from boundcalc.model.schemes import Scheme
from boundcalc.model.targets import GaussianMixture, mixture_of

__all__ = ["LoopBlock", "BlockStructure", "block_structure", "expected_laws_per_generation"]


@dataclass(frozen=True)
class LoopBlock:
    """One distinct block: ``count`` samples of ``source``, drawn when generation ``drawn_at`` is built."""
    source: int
    count: float
    drawn_at: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.source, self.drawn_at)


@dataclass(frozen=True)
class BlockStructure:
    """Blocks, expected laws and kernels of a K-generation loop.

    ``laws[j]`` is r_j (``laws[0]`` = p_0); ``kernels[i][key]`` is ``G_{i,beta}`` as a dict
    ``{variance: weight}`` for every block that reaches p_i; ``bandwidths[i - 1]`` is h_i.
    """
    blocks: dict  # key -> LoopBlock
    laws: list
    kernels: list  # kernels[0] is empty; kernels[i] for generation i
    bandwidths: list

    def mass(self, generation: int, key) -> float:
        """``m_{i,beta} = int G_{i,beta}``, the total weight of the kernel (0 if beta does not reach p_i)."""
        return float(sum(self.kernels[generation].get(key, {}).values()))

    def squared_mass_sum(self, generation: int) -> float:
        """``Q_i = sum_beta m_{i,beta}^2 / N_beta`` (lemma KE5)."""
        return float(sum(self.mass(generation, key) ** 2 / self.blocks[key].count
                         for key in self.kernels[generation]))


def _check(target, scheme, bandwidths, generations):
    if not isinstance(target, GaussianMixture):
        raise BoundcalcError(f"target must be a GaussianMixture, got {type(target).__name__}")
    if not isinstance(scheme, Scheme):
        raise BoundcalcError(f"scheme must be a boundcalc Scheme, got {type(scheme).__name__}")
    count = check_positive_int("generations", generations)
    if isinstance(bandwidths, (int, float)):
        hs = [float(check_positive("bandwidth", bandwidths))] * count
    else:
        hs = [float(check_positive("bandwidth", x)) for x in bandwidths]
        if len(hs) != count:
            raise BoundcalcError(f"bandwidths must list one value per generation ({count}), got {len(hs)}")
    return count, hs


def expected_laws_per_generation(target: GaussianMixture, scheme: Scheme, bandwidths, generations) -> list:
    """Lemma K4 with per-generation bandwidths: ``[r_0 = p_0, r_1, ..., r_K]`` [derived]."""
    count, hs = _check(target, scheme, bandwidths, generations)
    laws = [target]
    for plan, h in zip(scheme.plans(count), hs):
        laws.append(mixture_of([(w, laws[j]) for j, w in enumerate(plan.weights())]).convolve(h))
    return laws


def _key(variance: float) -> float:
    return float(f"{variance:.12g}")


#: why the block decomposition (lemmas KE3, KE5, KR4) refuses a subsampled block
SUBSAMPLE_NOT_COVERED = ("the KDE loop bound (lemmas KE3/KE5: p_i decomposed over blocks used whole) does not cover "
                         "accumulate-subsample, whose generations train on different subsets of the same kept block")


def block_structure(target: GaussianMixture, scheme: Scheme, bandwidths, generations) -> BlockStructure:
    """Distinct blocks, laws r_j and kernels ``G_{i,beta}`` of the loop (see the module docstring).

    A block used whole by every plan that lists it is one block; a plan that uses a *subset* of a kept
    block (``Block.pool``: accumulate-subsample) is refused with :data:`SUBSAMPLE_NOT_COVERED`: the
    subsets of different generations overlap at random, so the block deviations ``D_beta`` are not
    those of one sample set (the expected laws r_i stay exact, by linearity)."""
    count, hs = _check(target, scheme, bandwidths, generations)
    if any(b.pool is not None and b.count < b.pool for plan in scheme.plans(count) for b in plan.blocks):
        raise BoundcalcError(SUBSAMPLE_NOT_COVERED)
    laws = expected_laws_per_generation(target, scheme, hs, count)
    blocks: dict = {}
    kernels: list = [{}]
    for plan, h in zip(scheme.plans(count), hs):
        h2 = h * h
        n_i = float(plan.n_total)  # counts may be mpf (the continuous schedules of the phase curve)
        table: dict = {}
        for b in plan.blocks:
            if b.count <= 0:
                continue
            w = b.count / n_i
            blocks.setdefault(b.key, LoopBlock(b.source, float(b.count), b.drawn_at))
            own = table.setdefault(b.key, {})
            own[_key(h2)] = own.get(_key(h2), 0.0) + w
            if b.source >= 1:
                for key, kernel in kernels[b.source].items():
                    dest = table.setdefault(key, {})
                    for var, c in kernel.items():
                        dest[_key(var + h2)] = dest.get(_key(var + h2), 0.0) + w * c
        kernels.append(table)
    return BlockStructure(blocks, laws, kernels, hs)
