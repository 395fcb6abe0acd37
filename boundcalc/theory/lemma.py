"""The :class:`Lemma` object and the catalogue registry.

A lemma knows

* ``id``: a short identifier ("T1", "K2", "D2", ...);
* ``lhs`` and ``rhs``: sympy expressions; ``relation`` is one of ``"="``, ``"<="``, ``">="``.
  ``rhs`` is written over plain symbols of :mod:`boundcalc.theory.notation` so that it can be
  evaluated; ``lhs`` may use undefined functions (``TV(p, q)``) to say what is bounded;
* ``quantities``: what each free symbol of ``rhs`` stands for, in words;
* ``hypotheses``: the assumptions, in words;
* ``provenance``: one of ``[Li23]``, ``[Fu24]``, ``[classical]``, ``[derived]``,
  or a combination such as ``[Li23, derived]``;
* ``latex``: an authored LaTeX template of the statement (paper order of terms);
* ``derivation``: the file in ``derivations/`` that proves it;
* ``source``: the reference in words.

``lemma.evaluate(**values)`` evaluates ``rhs`` in mpmath (so sample sizes of 1e15 and
delta of 1e-300 stay finite); ``lemma.statement`` is the sympy relation.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import mpmath
import sympy as sp

from boundcalc._checks import BoundcalcError, check_range
from boundcalc.theory.notation import RANGES

_ANY = (-math.inf, math.inf, True, True)

PROVENANCE_LABELS = ("[Li23]", "[Fu24]", "[classical]", "[derived]")

_RELATIONS = {"=": sp.Eq, "<=": sp.Le, ">=": sp.Ge}


@dataclass(frozen=True)
class Lemma:
    id: str
    title: str
    lhs: sp.Expr
    relation: str
    rhs: sp.Expr
    hypotheses: tuple[str, ...]
    provenance: str
    latex: str
    derivation: str
    source: str
    quantities: dict = field(default_factory=dict)
    #: ranges that override :data:`boundcalc.theory.notation.RANGES` for this lemma's inputs
    ranges: dict = field(default_factory=dict)
    #: optional override of the numeric evaluation (e.g. a minimum or a root that sympy
    #: cannot express compactly); called with the same keyword arguments as ``evaluate``.
    numeric: Callable | None = None

    def __post_init__(self):
        if self.relation not in _RELATIONS:
            raise ValueError(f"relation must be one of {list(_RELATIONS)}")
        labels = [p.strip() for p in self.provenance.strip("[]").split(",")]
        if not labels or any(f"[{p}]" not in PROVENANCE_LABELS for p in labels):
            raise ValueError(f"provenance of {self.id} must combine {PROVENANCE_LABELS}")

    @property
    def statement(self) -> sp.Basic:
        """The sympy relation ``lhs <relation> rhs`` (unevaluated)."""
        return _RELATIONS[self.relation](self.lhs, self.rhs, evaluate=False)

    @property
    def free_symbols(self) -> list[sp.Symbol]:
        return sorted(self.rhs.free_symbols, key=lambda s: s.name)

    def evaluate(self, **values) -> mpmath.mpf:
        """Evaluate the right-hand side at numbers, in mpmath (30 digits).

        Keyword names are symbol names (``lambda`` may be passed as ``lam``).
        """
        if "lam" in values:
            values["lambda"] = values.pop("lam")
        if self.numeric is not None:
            return self.numeric(**values)
        missing = [s.name for s in self.free_symbols if s.name not in values]
        if missing:
            raise BoundcalcError(f"lemma {self.id} needs values for: {', '.join(missing)}")
        for s in self.free_symbols:  # every input inside its declared range, or one clear error
            check_range(s.name, values[s.name], *self.ranges.get(s.name, RANGES.get(s.name, _ANY)))
        f = _compiled(self.id, tuple(self.free_symbols), self.rhs)
        with mpmath.workdps(30):
            return mpmath.mpf(f(*[mpmath.mpmathify(values[s.name]) for s in self.free_symbols]))

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "statement": str(self.statement),
            "relation": self.relation,
            "hypotheses": list(self.hypotheses),
            "provenance": self.provenance,
            "latex": self.latex,
            "derivation": self.derivation,
            "source": self.source,
            "quantities": dict(self.quantities),
        }


@functools.lru_cache(maxsize=None)
def _compiled(lemma_id: str, symbols: tuple, rhs: sp.Expr):
    """The mpmath function of a lemma's right-hand side, compiled once per lemma."""
    return sp.lambdify(symbols, rhs, modules="mpmath")


#: The catalogue, filled by the modules of :mod:`boundcalc.theory.catalogue` on import.
CATALOGUE: dict[str, Lemma] = {}


def register(lemma: Lemma) -> Lemma:
    if lemma.id in CATALOGUE:
        raise ValueError(f"lemma {lemma.id} registered twice")
    CATALOGUE[lemma.id] = lemma
    return lemma
