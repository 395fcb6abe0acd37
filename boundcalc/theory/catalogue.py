"""The catalogue: every lemma and theorem of boundcalc, by id.

The families are imported statically; each registers its objects in
:data:`boundcalc.theory.lemma.CATALOGUE` when it is imported.
"""

from __future__ import annotations

from boundcalc._checks import BoundcalcError
from boundcalc.theory import concentration, diffusion, divergence, kde  # noqa: F401  (registration)
from boundcalc.theory import kde_expected, kde_realised  # noqa: F401  (registration)
from boundcalc.theory import theorems  # noqa: F401  (registration; after the lemmas it composes)
from boundcalc.theory.lemma import CATALOGUE, Lemma


def get_lemma(lemma_id: str) -> Lemma:
    """The catalogue object (lemma or theorem) with this id (``"K2"``, ``"D1"``, ``"S1"``, ...);
    ``K1'`` may be written ``K1p``."""
    key = str(lemma_id).strip().replace("'", "p")
    if key not in CATALOGUE:
        raise BoundcalcError(f"LEMMA_ID must be one of {', '.join(CATALOGUE)}; got {lemma_id!r}")
    return CATALOGUE[key]


def all_lemmas() -> list[Lemma]:
    """Every catalogue object (lemmas, then theorems), in registration order."""
    return list(CATALOGUE.values())


def all_theorems() -> list[Lemma]:
    """The catalogue objects of kind "theorem" (:mod:`boundcalc.theory.theorems`)."""
    return [obj for obj in CATALOGUE.values() if obj.kind == "theorem"]
