"""The catalogue: every lemma and theorem of boundcalc, by id.

The families are imported statically; each registers its objects in
:data:`boundcalc.theory.lemma.CATALOGUE` when it is imported.
"""

from __future__ import annotations

from boundcalc._checks import BoundcalcError
from boundcalc.theory import concentration, diffusion, divergence, kde  # noqa: F401  (registration)
from boundcalc.theory import kde_expected, kde_realised  # noqa: F401  (registration)
from boundcalc.theory.lemma import CATALOGUE, Lemma


def get_lemma(lemma_id: str) -> Lemma:
    """The catalogue object with this id (``"K2"``, ``"D1"``, ...); ``K1'`` may be written ``K1p``."""
    key = str(lemma_id).strip().replace("'", "p")
    if key not in CATALOGUE:
        raise BoundcalcError(f"LEMMA_ID must be one of {', '.join(CATALOGUE)}; got {lemma_id!r}")
    return CATALOGUE[key]


def all_lemmas() -> list[Lemma]:
    """Every catalogue object, in registration order."""
    return list(CATALOGUE.values())
