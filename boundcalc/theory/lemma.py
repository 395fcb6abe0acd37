"""The :class:`Lemma` and :class:`Theorem` objects and the catalogue registry.

A catalogue object (lemma or theorem; ``kind`` says which) knows

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

* ``parts``: named sub-expressions of the statement (the terms of a sum, a closed form of a
  special case), evaluated by :meth:`Lemma.evaluate_part`.

``lemma.evaluate(**values)`` evaluates ``rhs`` in mpmath (so sample sizes of 1e15 and
delta of 1e-300 stay finite); ``lemma.statement`` is the sympy relation.  Every number a bound
prints is obtained this way, from the object that states it: the compiled functions are cached on
the object (compiled once per object, not per call), and ``check=False`` skips the range checks
in inner loops whose inputs were checked once.

A :class:`Theorem` has the same shape with ``kind = "theorem"``: the composition results
(recursion, closed forms, KDE loop, phase transition, early stopping) of
:mod:`boundcalc.theory.theorems`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import mpmath
import numpy as np
import sympy as sp

from boundcalc._checks import BoundcalcError, check_range
from boundcalc.theory.notation import RANGES

_ANY = (-math.inf, math.inf, True, True)

PROVENANCE_LABELS = ("[Li23]", "[Fu24]", "[classical]", "[derived]")

_RELATIONS = {"=": sp.Eq, "<=": sp.Le, ">=": sp.Ge}

with mpmath.workdps(30):
    _PREC_30 = mpmath.mp.prec  # binary precision of 30 decimal digits


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
    #: named sub-expressions of the statement (terms of the right-hand side, special cases)
    parts: dict = field(default_factory=dict)
    #: "lemma" or "theorem"
    kind: str = "lemma"

    def __post_init__(self):
        if self.kind not in ("lemma", "theorem"):
            raise ValueError(f"kind of {self.id} must be 'lemma' or 'theorem'")
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

    def evaluate(self, check: bool = True, **values) -> mpmath.mpf:
        """Evaluate the right-hand side at numbers, in mpmath (30 digits).

        Keyword names are symbol names (``lambda`` may be passed as ``lam``).  ``check=False``
        skips the range checks (for inner loops whose inputs are checked once by the caller).
        """
        if "lam" in values:
            values["lambda"] = values.pop("lam")
        if self.numeric is not None:
            return self.numeric(**values)
        return self._evaluate_expr(self.rhs, self._mp_function, check, values)

    def evaluate_part(self, name: str, check: bool = True, **values) -> mpmath.mpf:
        """Evaluate the named sub-expression ``parts[name]`` in mpmath (30 digits)."""
        if "lam" in values:
            values["lambda"] = values.pop("lam")
        if name not in self.parts:
            raise BoundcalcError(f"{self.kind} {self.id} has no part {name!r}; parts: {', '.join(self.parts)}")
        return self._evaluate_expr(self.parts[name], self._mp_parts[name], check, values)

    def evaluate_numpy(self, part: str | None = None, **values):
        """Vectorised double-precision evaluation (numpy) of ``rhs`` or of ``parts[part]``.

        Arrays broadcast; no range checks.  The numpy function is compiled once per object.  A
        constant part (no free symbol) is returned broadcast to the shape of the inputs.
        """
        if part is not None and part not in self.parts:
            raise BoundcalcError(f"{self.kind} {self.id} has no part {part!r}; parts: {', '.join(self.parts)}")
        f, symbols = self._np_function(part)
        missing = [s.name for s in symbols if s.name not in values]
        if missing:
            raise BoundcalcError(f"{self.kind} {self.id} needs values for: {', '.join(missing)}")
        out = f(*[values[s.name] for s in symbols])
        if not symbols:
            shape = np.broadcast(*[np.asarray(v) for v in values.values()]).shape if values else ()
            out = np.broadcast_to(np.asarray(out, dtype=float), shape).copy()
        return out

    def _evaluate_expr(self, expr, compiled, check, values):
        symbols = compiled[1]
        if check:
            missing = [s.name for s in symbols if s.name not in values]
            if missing:
                raise BoundcalcError(f"{self.kind} {self.id} needs values for: {', '.join(missing)}")
            for s in symbols:  # every input inside its declared range, or one clear error
                check_range(s.name, values[s.name], *self.ranges.get(s.name, RANGES.get(s.name, _ANY)))
        ctx = mpmath.mp
        previous = ctx.prec
        ctx.prec = _PREC_30  # 30 digits (cheaper than a workdps context in inner loops)
        try:
            return ctx.mpf(compiled[0](*[ctx.convert(values[s.name]) for s in symbols]))
        finally:
            ctx.prec = previous

    # compiled functions, cached on the object (a replaced object compiles its own)
    @functools.cached_property
    def _mp_function(self):
        return _compile_mpmath(self.rhs)

    @functools.cached_property
    def _mp_parts(self):
        return {name: _compile_mpmath(expr) for name, expr in self.parts.items()}

    @functools.cached_property
    def _np_cache(self) -> dict:
        return {}

    def _np_function(self, part):
        """The numpy (and scipy.special) function of ``rhs`` or ``parts[part]``, compiled on first use."""
        if part not in self._np_cache:
            expr = self.rhs if part is None else self.parts[part]
            symbols = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
            self._np_cache[part] = sp.lambdify(symbols, expr, modules=["scipy", "numpy"]), symbols
        return self._np_cache[part]

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
            "kind": self.kind,
        }


def _fold_constants(expr):
    """``expr`` with every exact constant subexpression that is not an integer (``(4 pi)^(1/4)``,
    ``sqrt(2)``, ``1/2``) replaced by its 50-digit value, so that the compiled function does not
    recompute it; rational exponents stay exact."""
    if expr.is_number and not expr.is_Integer:
        return sp.Float(expr.evalf(50), 50)
    if expr.is_Pow and expr.exp.is_Rational:  # keep rational exponents exact (h^(-1/2) -> 1/sqrt(h))
        return sp.Pow(_fold_constants(expr.base), expr.exp)
    if not expr.args:
        return expr
    return expr.func(*[_fold_constants(a) for a in expr.args])


#: at most this many specialisations (values of integer exponent symbols) are compiled per expression
_MAX_SPECIALISED = 64


def _compile_mpmath(expr):
    """``(f, symbols)``: an mpmath function of ``symbols`` (sorted by name) evaluating ``expr``.

    Exact constants are folded to 50 digits.  Integer symbols that occur in an exponent (the
    dimension d of ``h^(-d/2)``, a generation count K) are specialised: for each integer value seen
    (up to 64) the expression is compiled with that value substituted, so that ``h^(-1/2)`` becomes
    a square root instead of a general power; any other value uses the general compiled form.
    """
    symbols = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    general = sp.lambdify(symbols, _fold_constants(expr), modules="mpmath")
    in_exponents = set().union(*[p.exp.free_symbols for p in expr.atoms(sp.Pow)]) if expr.atoms(sp.Pow) else set()
    special = [k for k, sym in enumerate(symbols) if sym.is_integer and sym in in_exponents]
    if not special:
        return general, symbols
    rest = [k for k in range(len(symbols)) if k not in special]
    compiled: dict = {}

    def f(*args):
        key = tuple(args[k] for k in special)
        g = compiled.get(key)
        if g is None:
            if len(compiled) >= _MAX_SPECIALISED or any(v != int(v) for v in key):
                return general(*args)
            fixed = expr.subs({symbols[k]: int(v) for k, v in zip(special, key)})
            g = compiled[key] = sp.lambdify([symbols[k] for k in rest], _fold_constants(fixed), modules="mpmath")
        return g(*[args[k] for k in rest])

    return f, symbols


@dataclass(frozen=True)
class Theorem(Lemma):
    """A composition theorem: the same shape as :class:`Lemma`, with ``kind = "theorem"``."""
    kind: str = "theorem"


#: The catalogue, filled by the modules of :mod:`boundcalc.theory.catalogue` on import.
CATALOGUE: dict[str, Lemma] = {}


def register(lemma: Lemma) -> Lemma:
    if lemma.id in CATALOGUE:
        raise ValueError(f"{lemma.kind} {lemma.id} registered twice")
    CATALOGUE[lemma.id] = lemma
    return lemma
