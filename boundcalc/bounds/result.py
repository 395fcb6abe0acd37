"""One result object per query: :class:`BoundResult`, :class:`SolveResult`, :class:`PhaseResult`.

Every result has ``to_dict`` (plain JSON types), ``to_json`` (deterministic text), ``to_latex``,
``_repr_latex_`` (Jupyter renders it) and ``plot`` (matplotlib, imported only when called).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import sympy as sp

from boundcalc._io import dumps, jsonable


@dataclass
class Result:
    def to_dict(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_json(self) -> str:
        return dumps(self.to_dict())

    def to_latex(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.to_latex()}$"

    def plot(self, ax=None, **kwargs):
        """Draw the result with matplotlib (see :mod:`boundcalc.bounds.plots`)."""
        from boundcalc.bounds import plots
        return plots.plot_result(self, ax=ax, **kwargs)


@dataclass
class ClosedForm:
    """A closed form of a_K: ``expr`` over shared symbols, ``values`` the numbers of this query."""
    expr: sp.Expr
    values: dict
    name: str
    lemma_ids: tuple = ()
    #: authored LaTeX of the right-hand side (paper order); sympy's printer when empty
    template: str = ""
    #: definitions the template uses (LaTeX), shown with the values
    where: str = ""

    def evaluate(self):
        import mpmath
        names = sorted(self.values, key=lambda s: s.name)
        f = _lambdify(tuple(names), self.expr)
        args = [v if isinstance(v, int) else mpmath.mpmathify(v) for v in (self.values[s] for s in names)]
        with mpmath.workdps(30):
            return mpmath.mpmathify(f(*args))

    def latex(self, numbers: bool = False) -> str:
        """``a_K <= expr``; with ``numbers``, followed by the values used and the number it gives."""
        text = f"a_K \\le {self.template or sp.latex(self.expr)}"
        if not numbers:
            return text
        import mpmath
        from boundcalc.theory.notation import latex_name
        shown = [f"{latex_name(k)} = {_num(v)}" for k, v in sorted(self.values.items(), key=lambda kv: kv[0].name)]
        if self.where:
            shown.insert(0, self.where)
        joined = ",\\ ".join(shown)
        return f"{text} = {mpmath.nstr(self.evaluate(), 6)} \\quad \\left({joined}\\right)"


@functools.lru_cache(maxsize=64)
def _lambdify(names, expr):
    return sp.lambdify(names, expr, modules="mpmath")


def _num(v) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.6g}"


@dataclass
class BoundResult(Result):
    """Bounds a_1..a_K on TV(p_i, p0) for one scheme and learner."""
    kind = "bound"
    bound: list
    eps: list
    inputs: dict
    assumptions: list
    provenance: list
    closed_form: ClosedForm | None = None
    terms: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def final(self):
        return self.bound[-1]

    @property
    def generations(self) -> int:
        return len(self.bound)

    def to_dict(self) -> dict:
        return jsonable({
            "bound": self.bound,
            "eps": self.eps,
            "final": self.final,
            "closed_form": None if self.closed_form is None else self.closed_form.latex(),
            "closed_form_value": None if self.closed_form is None else self.closed_form.evaluate(),
            "assumptions": self.assumptions,
            "provenance": self.provenance,
            "inputs": self.inputs,
            "terms": self.terms,
            "notes": self.notes,
        })

    def to_latex(self) -> str:
        if self.closed_form is not None:
            return self.closed_form.latex(numbers=True)
        import mpmath
        return f"a_{{{self.generations}}} \\le {mpmath.nstr(self.final, 6)}"


@dataclass
class SolveResult(Result):
    """The value of one unknown that brings a_K under ``target`` (statsmodels ``solve_power`` style)."""
    kind = "solve"
    unknown: str
    value: object
    achieved: object
    target: float
    reachable: bool
    verified: bool
    inputs: dict
    floor: object = None
    message: str = ""
    checks: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return jsonable({"unknown": self.unknown, "value": self.value, "achieved": self.achieved,
                         "target": self.target, "reachable": self.reachable, "verified": self.verified,
                         "floor": self.floor, "message": self.message, "checks": self.checks,
                         "inputs": self.inputs})

    def to_latex(self) -> str:
        names = {"n-real": "n_{\\mathrm{real}}", "n-synth": "n_{\\mathrm{synth}}",
                 "real-fraction": "\\lambda", "generations": "K"}
        if not self.reachable or self.value is None:
            return f"\\text{{{self.message}}}"
        return f"{names.get(self.unknown, self.unknown)} = {self.value}"


@dataclass
class PhaseResult(Result):
    """Phase transition in the amount of synthetic data at one generation (docs/theory.md section 6)."""
    kind = "phase"
    exists: bool
    threshold: object
    peak: object
    limit: object
    at_zero: object
    inputs: dict
    method: str
    previous_tv: object
    closed_form: str | None = None
    message: str = ""
    checks: dict = field(default_factory=dict)
    curve: object = None  # callable s -> bound, kept for plotting

    def to_dict(self) -> dict:
        return jsonable({"exists": self.exists, "threshold": self.threshold, "peak": self.peak,
                         "limit": self.limit, "at_zero": self.at_zero, "previous_tv": self.previous_tv,
                         "method": self.method, "closed_form": self.closed_form,
                         "message": self.message, "checks": self.checks, "inputs": self.inputs})

    def to_latex(self) -> str:
        if self.closed_form:
            return self.closed_form
        if not self.exists:
            return "\\text{no phase transition}"
        import mpmath
        return f"s^* \\approx {mpmath.nstr(self.threshold, 6)}"


@dataclass
class OptimumResult(Result):
    """An optimal tuning parameter: early-stopping time tau* (lemma D2) or bandwidth h* (lemma K3)."""
    kind = "optimum"
    quantity: str
    value: object
    objective: object
    inputs: dict
    message: str = ""
    checks: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return jsonable({"quantity": self.quantity, "value": self.value, "objective": self.objective,
                         "message": self.message, "checks": self.checks, "inputs": self.inputs})

    def to_latex(self) -> str:
        import mpmath
        name = {"tau": "\\tau^*", "bandwidth": "h^*"}[self.quantity]
        return f"{name} = {mpmath.nstr(self.value, 8)}"
