"""Inputs of the KDE validator (``boundcalc validate kde``): the configuration and its size guards."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from boundcalc._checks import (BoundcalcError, check_choice, check_positive_int, check_probability)
from boundcalc.model.schemes import REAL_DATA, SCHEMES, Scheme, make_scheme
from boundcalc.validate.guards import estimate_kde, refuse_if_too_large

#: size guards (one table for every validator, in :mod:`boundcalc.validate.guards`): samples per block,
#: samples per training set, grid nodes in total, and samples and grid nodes over all seeds and
#: generations
from boundcalc.validate.guards import (MAX_BLOCK_SAMPLES, MAX_GRID_NODES, MAX_GRID_WORK,  # noqa: E402,F401
                                       MAX_SAMPLE_WORK, MAX_TRAINING_SET)


#: the schemes of the KDE validator: the shared ones and accumulate-subsample
KDE_SCHEMES = SCHEMES + ("accumulate-subsample",)
#: data-driven bandwidth rules (computed from each generation's training data, as scipy.stats.gaussian_kde)
DATA_DRIVEN_BANDWIDTHS = ("scott", "silverman")


def _parse_bandwidth(value):
    if value is None or value == "auto":
        return "auto"
    if isinstance(value, str) and value.strip().lower() in DATA_DRIVEN_BANDWIDTHS:
        return value.strip().lower()
    try:
        h = float(value)
    except (TypeError, ValueError):
        raise BoundcalcError(f"bandwidth must be a number > 0, 'auto' (the oracle K3 choice), 'scott' or "
                             f"'silverman', got {value!r}") from None
    if not (math.isfinite(h) and h > 0):
        raise BoundcalcError(f"bandwidth must be a number in (0, inf), 'auto', 'scott' or 'silverman', got {value}")
    return h


def _check_at_most(name: str, value, limit, unit: str):
    if value > limit:
        raise BoundcalcError(f"{name} must be at most {limit} {unit} (a size guard: larger runs take many "
                             f"minutes or exhaust memory), got {value}")
    return value


@dataclass(frozen=True)
class KDEValidationConfig:
    """Inputs of ``boundcalc validate kde`` (validated by :meth:`checked`)."""

    #: which validator this configuration belongs to (read by boundcalc.validate.units / merge)
    validator = "kde"

    scheme: str = "replace"
    generations: int = 5
    n_real: int = 1000
    n_synth: int | None = None
    real_data: str = "fresh"
    bandwidth: object = "auto"
    target: str = "bimodal"
    seeds: int = 10
    seed: int = 0
    delta: float = 0.05
    grid_size: int | None = None
    real_fractions: tuple | None = None
    sizes: tuple | None = None
    subsample: int | None = None

    def checked(self) -> "KDEValidationConfig":
        check_choice("scheme", self.scheme, KDE_SCHEMES)
        check_choice("real_data", self.real_data, REAL_DATA)
        seed = check_positive_int("seed", self.seed, minimum=0)
        if self.grid_size is not None:
            _check_at_most("grid_size (--grid-size)", check_positive_int("grid_size", self.grid_size, minimum=16),
                           MAX_GRID_NODES, "grid nodes (2^20)")
        n_synth = None if self.n_synth is None else check_positive_int("n_synth", self.n_synth, minimum=0)
        n_real = check_positive_int("n_real", self.n_real, minimum=2)
        _check_at_most("n_real (--n-real)", n_real, MAX_BLOCK_SAMPLES, "samples per block")
        if n_synth is not None:
            _check_at_most("n_synth (--n-synth)", n_synth, MAX_BLOCK_SAMPLES, "samples per block")
        subsample = None
        if self.scheme == "accumulate-subsample":
            subsample = check_positive_int("subsample", self.n_real if self.subsample is None else self.subsample)
        elif self.subsample is not None:
            raise BoundcalcError(f"subsample applies to the accumulate-subsample scheme, not {self.scheme}")
        checked = KDEValidationConfig(
            scheme=self.scheme, generations=check_positive_int("generations", self.generations),
            n_real=n_real, n_synth=n_synth,
            # accumulate-subsample always reuses its real data (the pool keeps them)
            real_data="reused" if subsample is not None else self.real_data,
            bandwidth=_parse_bandwidth(self.bandwidth),
            target=self.target or "bimodal", seeds=check_positive_int("seeds", self.seeds), seed=seed,
            delta=float(check_probability("delta", self.delta)),
            grid_size=None if self.grid_size is None else int(self.grid_size),
            real_fractions=None if self.real_fractions is None else tuple(float(x) for x in self.real_fractions),
            sizes=None if self.sizes is None else tuple(float(x) for x in self.sizes), subsample=subsample)
        refuse_if_too_large(estimate_kde(checked))  # before anything is drawn or allocated
        return checked

    @property
    def data_driven(self) -> bool:
        """True for a bandwidth rule computed from each generation's training data (scott, silverman)."""
        return self.bandwidth in DATA_DRIVEN_BANDWIDTHS

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("real_fractions", "sizes"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    def make_scheme(self) -> Scheme:
        if self.scheme == "accumulate-subsample":
            from boundcalc.model.schemes import AccumulateSubsample

            if self.real_fractions is not None or self.sizes is not None:
                raise BoundcalcError("real_fractions and sizes do not apply to accumulate-subsample")
            return AccumulateSubsample(self.n_real, self.n_real if self.n_synth is None else self.n_synth,
                                       self.subsample)
        real_fraction = real_fractions = None
        if self.real_fractions is not None:
            if self.scheme == "schedule":
                real_fractions = self.real_fractions
            elif self.scheme == "mix" and len(self.real_fractions) == 1:
                real_fraction = self.real_fractions[0]
            else:
                raise BoundcalcError("real_fractions applies to schedule (one value per generation 2..K, "
                                     "or one for all) and to mix (one value)")
        if self.sizes is not None and self.scheme != "schedule":
            raise BoundcalcError(f"sizes applies to the schedule scheme, not {self.scheme}")
        scheme = make_scheme(self.scheme, self.n_real, self.n_synth, self.real_data,
                             real_fraction=real_fraction, real_fractions=real_fractions, sizes=self.sizes)
        if self.scheme == "schedule":
            scheme.check_generations(self.generations)
        return scheme

