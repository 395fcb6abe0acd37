"""The one self-consuming loop of the validators, driven by the shared scheme objects.

Generation i is trained on the blocks of ``scheme.plan(i)`` (:mod:`boundcalc.model.schemes`,
the same objects the bounds are computed from, so bound and experiment cannot describe
different loops).  A block of source 0 is drawn from the target p0, a block of source j >= 1
from generation j's fitted generator; blocks with the same ``key`` are the *same samples*
(cached), so reused real data and accumulated synthetic data are really reused.

Both validators run this loop: the KDE validator with one random stream per seed (blocks drawn
in plan order), the diffusion validator with one stream per block (``rng`` a function of the
block), so that its numbers do not depend on the order in which blocks are drawn.

A plan drawn ``iid`` (mix or schedule with ``draw = "iid"``, :data:`boundcalc.model.schemes.DRAWS`)
is N_i independent draws of q_i = lam_i p0 + (1 - lam_i) p_{i-1}: the real count R is drawn first,
``R ~ Binomial(N_i, lam_i)`` with lam_i the plan's (integer) real share, from the stream of the real
block (a child stream spawned from its seed sequence, so R is independent of the samples), then R
samples of p0 and N_i - R of p_{i-1} (each from its block's stream), so that a rerun with the same
seeds gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Union

import numpy as np

from boundcalc._checks import BoundcalcError, check_positive_int
from boundcalc.model.schemes import Block, GenerationPlan, Scheme, round_size
from boundcalc.validate.protocol import FATAL_STATUSES, STATUS_OK

#: a random source for the blocks: one stream (drawn in plan order) or one stream per block
BlockRandom = Union[np.random.Generator, Callable[[Block], np.random.Generator]]


@dataclass
class LoopStep:
    """One generation of a loop: its plan, the blocks actually used and the fitted generator.

    ``new_blocks`` are the blocks first drawn at this generation (their samples are fed forward
    from a generator to this training set, or drawn from p0).
    """

    generation: int
    plan: GenerationPlan
    blocks: list  # [(Block, samples)] in plan order, blocks of size 0 left out
    training_set: np.ndarray
    model: object
    new_blocks: tuple = ()
    #: draw = "iid": the realised number of real samples (Binomial(N_i, lam_i)); None when stratified
    real_count: int | None = None

    @property
    def n_train(self) -> int:
        return int(self.training_set.shape[0])

    def source_weights(self) -> list[float]:
        """Weights of q_i over (p0, p_1, ..., p_{i-1}) from the *integer* block sizes of the plan
        (equal to ``plan.weights()`` when the scheme's counts are whole numbers).  For an iid draw the
        training law is the mixture with the plan's shares, whatever real count was realised."""
        w = [0.0] * self.generation
        sizes = [(b.source, b.size) for b in self.plan.blocks if b.size > 0] if self.real_count is not None \
            else [(block.source, block.size) for block, _ in self.blocks]
        total = sum(size for _, size in sizes)
        for source, size in sizes:
            w[source] += size / total
        return w


def _count_rng(stream: np.random.Generator) -> np.random.Generator:
    """The stream of an iid draw's real count: a child spawned from the real block's seed sequence
    (deterministic, and independent of the samples the block's own stream draws)."""
    return np.random.default_rng(stream.bit_generator.seed_seq.spawn(1)[0])


def iid_real_count(plan: GenerationPlan, rng: np.random.Generator) -> int | None:
    """For a plan drawn iid with two fresh blocks (p0 and p_{i-1}): the real count
    ``R ~ Binomial(N_i, lam_i)``, N_i the sum of the integer block sizes and lam_i the real block's
    share of it, drawn from ``rng``; None for any other plan (its counts are the blocks' sizes)."""
    blocks = [b for b in plan.blocks if b.size > 0]
    if plan.draw != "iid" or len(blocks) < 2:
        return None
    total = sum(b.size for b in blocks)
    real = sum(b.size for b in blocks if b.source == 0)
    return int(rng.binomial(total, real / total))


def iterate_loop(scheme: Scheme, target, generations: int, make_generator: Callable,
                 rng: BlockRandom) -> Iterator[LoopStep]:
    """Run the self-consuming loop of ``scheme`` and yield one :class:`LoopStep` per generation.

    ``make_generator(i, n_train)`` returns an unfitted generator (the protocol of
    :mod:`boundcalc.validate.protocol`) for generation i.  Samples of each block are drawn once,
    in plan order, from ``target`` (source 0; anything with ``sample(rng, size)``) or from
    generation ``source``'s fitted generator, with ``rng`` (a Generator shared by all blocks) or
    ``rng(block)`` (a Generator per block), and kept for as long as a later plan lists the same
    key.  The loop stops after a generation whose fit has a fatal status (non-finite or empty
    data); that step is still yielded.
    """
    generations = check_positive_int("generations", generations)
    if hasattr(scheme, "check_generations"):
        scheme.check_generations(generations)
    plans = scheme.plans(generations)
    block_rng = rng if callable(rng) and not isinstance(rng, np.random.Generator) else (lambda block: rng)
    last_use: dict = {}  # block key -> last generation whose plan lists it
    last_draw: dict = {}  # source j -> last generation that draws new samples of p_j
    for plan in plans:
        for block in plan.blocks:
            last_use[block.key] = plan.generation
            if block.source > 0:
                last_draw[block.source] = max(last_draw.get(block.source, 0), block.drawn_at)
    cache: dict = {}
    models: dict = {}
    for i, plan in enumerate(plans, start=1):
        blocks, new = [], []
        real_block = next((b for b in plan.blocks if b.source == 0 and b.size > 0), None)
        real_count = iid_real_count(plan, _count_rng(block_rng(real_block))) if real_block is not None else None
        total = sum(b.size for b in plan.blocks if b.size > 0)
        for block in plan.blocks:
            if block.size <= 0:
                continue
            size = block.size if real_count is None else (real_count if block.source == 0 else total - real_count)
            if size <= 0:
                continue  # iid draw: every sample came from the other law
            if block.key not in cache:
                source = target if block.source == 0 else models[block.source]
                drawn = size if block.pool is None else round_size(block.pool)
                cache[block.key] = source.sample(block_rng(block), drawn)
                new.append(block)
            samples = cache[block.key]
            if block.pool is not None and block.size < samples.shape[0]:
                # a uniform subsample of the stored block, without replacement (accumulate-subsample)
                samples = samples[np.sort(block_rng(block).choice(samples.shape[0], block.size, replace=False))]
            blocks.append((block, samples))
        if not blocks:
            raise BoundcalcError(f"generation {i} has an empty training set; raise --n-real or --sizes")
        training_set = np.concatenate([samples for _, samples in blocks], axis=0)
        model = make_generator(i, training_set.shape[0]).fit(training_set)
        models[i] = model
        yield LoopStep(i, plan, blocks, training_set, model, tuple(new), real_count)
        if getattr(model, "status_", STATUS_OK) in FATAL_STATUSES:
            return
        # keep only the samples and models that later plans still use
        cache = {k: v for k, v in cache.items() if last_use[k] > i}
        models = {j: m for j, m in models.items() if last_draw.get(j, 0) > i}
