"""One result object per query: :class:`BoundResult`, :class:`SolveResult`, :class:`PhaseResult`,
:class:`OptimumResult`.

Every result prints the table the command line prints (``str(result)`` and ``repr(result)`` are
that table; the CLI writes ``str(result)``), and has ``to_dict`` (plain JSON types), ``to_json``
(deterministic text), ``to_latex``, ``_repr_latex_`` (Jupyter renders it) and ``plot``
(matplotlib, imported only when called).  Every JSON object carries the boundcalc version, the
schema version of this JSON (:data:`SCHEMA_VERSION`) and the ids of the lemmas and theorems the
result rests on (``lemma_ids``), so that a saved result says what it means.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar

import sympy as sp

from boundcalc._io import dumps, jsonable

#: version of the JSON layout of results; raised when a key changes meaning or disappears
#: (keys are only ever added within one schema version)
SCHEMA_VERSION = 1


@functools.lru_cache(maxsize=1)
def package_version() -> str:
    """The installed boundcalc version (from the package metadata)."""
    from importlib import metadata
    try:
        return metadata.version("boundcalc")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "0+unknown"


def header(kind: str, lemma_ids) -> dict:
    """The keys every JSON output starts with: what produced it and what it rests on."""
    return {"kind": kind, "boundcalc_version": package_version(), "schema_version": SCHEMA_VERSION,
            "lemma_ids": list(lemma_ids)}


def fmt(x, digits: int = 6) -> str:
    """A number as the tables print it: integers plainly, anything else with ``digits``
    significant digits (mpmath's nstr), ``-`` for None; never a Python repr such as ``mpf('1.0')``."""
    import mpmath
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, str):
        return x
    try:
        x = mpmath.mpmathify(x)
        if mpmath.isint(x) and abs(x) < 10 ** 15:
            return str(int(x))
        return mpmath.nstr(x, digits)
    except (TypeError, ValueError):
        return str(x)


def _latex_text(text: str) -> str:
    """Plain text made safe inside ``\\text{...}`` (LaTeX's special characters escaped)."""
    text = text.replace("\\", "\0")
    for char, escaped in (("{", r"\{"), ("}", r"\}"), ("_", r"\_"), ("^", r"\^{}"), ("%", r"\%"),
                          ("&", r"\&"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(char, escaped)
    return text.replace("\0", r"\textbackslash{}")


def _fmt_checks(checks: dict) -> str:
    return ", ".join(f"{k} = {fmt(v)}" for k, v in checks.items())


def calibrated_note(inputs: dict) -> list:
    """One line for a result whose learner was read from a calibration file (none otherwise)."""
    learner = inputs.get("learner") or {}
    if not learner.get("calibrated_from"):
        return []
    return [f"  calibrated: the learner was fitted to measurements in {learner['calibrated_from']}; not a proved bound"]


def _learner_lemmas(inputs: dict) -> list:
    learner = inputs.get("learner") or {}
    return list(learner.get("lemma_ids", ()))


@dataclass(repr=False)
class Result:
    kind: ClassVar[str] = ""

    @property
    def lemma_ids(self) -> list:
        """Ids of the catalogue lemmas and theorems this result rests on."""
        return []

    def _payload(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:
        return jsonable({**header(self.kind, self.lemma_ids), **self._payload()})

    def to_json(self) -> str:
        return dumps(self.to_dict())

    def to_latex(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def table(self) -> str:  # pragma: no cover - abstract
        """The readable table (what the command line prints)."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return self.table()

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.to_latex()}$"

    def plot(self, ax=None, **kwargs):
        """Draw the result with matplotlib (see :mod:`boundcalc.bounds.plots`); returns the axis."""
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


#: ``bound`` prints every generation up to this many; beyond, the first and last TABLE_ENDS rows (its
#: JSON keeps every a_i and eps_i, and the per-generation ``terms`` records of those rows only)
TABLE_ROWS = 10_000
TABLE_ENDS = 5


@dataclass(repr=False)
class BoundResult(Result):
    """Bounds a_1..a_K on TV(p_i, p0) for one scheme and learner."""
    kind: ClassVar[str] = "bound"
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

    @property
    def lemma_ids(self) -> list:
        return list(self.provenance)

    def _payload(self) -> dict:
        return {
            "bound": self.bound,
            "eps": self.eps,
            "final": self.final,
            "closed_form": None if self.closed_form is None else self.closed_form.latex(),
            "closed_form_value": None if self.closed_form is None else self.closed_form.evaluate(),
            "assumptions": self.assumptions,
            "provenance": self.provenance,
            "inputs": self.inputs,
            "terms": self.terms if len(self.terms) <= TABLE_ROWS else self.terms[:TABLE_ENDS] + self.terms[-TABLE_ENDS:],
            **({"terms_omitted": len(self.terms) - 2 * TABLE_ENDS} if len(self.terms) > TABLE_ROWS else {}),
            "notes": self.notes,
        }

    def table(self) -> str:
        scheme = self.inputs.get("scheme", {})
        learner = self.inputs.get("learner", {})
        extra = [k for k in (self.terms[0] if self.terms else {}) if k not in ("generation", "n_total")]
        calibrated = (f" (calibrated: fitted to measurements in {learner['calibrated_from']}; not a proved bound)"
                      if learner.get("calibrated_from") else "")
        lines = [f"scheme {scheme.get('scheme', '?')}, learner {learner.get('learner', '?')}{calibrated}, "
                 f"K = {self.generations}, delta = {fmt(self.inputs.get('delta'))}",
                 f"{'i':>4}  {'N_i':>12}" + "".join(f"  {k:>11}" for k in extra)
                 + f"  {'eps_i':>12}  {'a_i (bound)':>12}"]
        count = len(self.bound)
        shown = range(count) if count <= TABLE_ROWS else [*range(TABLE_ENDS), *range(count - TABLE_ENDS, count)]
        for index in shown:
            t, e, a = self.terms[index], self.eps[index], self.bound[index]
            lines.append(f"{t['generation']:>4}  {fmt(t['n_total']):>12}" + "".join(f"  {fmt(t[k]):>11}" for k in extra)
                         + f"  {fmt(e):>12}  {fmt(a):>12}")
            if count > TABLE_ROWS and index == TABLE_ENDS - 1:
                lines.append(f"   ... {count - 2 * TABLE_ENDS} generations not printed (--json carries every generation)")
        lines.append(f"final bound a_K <= {fmt(self.final, 8)}")
        if self.closed_form is not None:
            lines.append(f"closed form: {self.closed_form.name}; value {fmt(self.closed_form.evaluate(), 8)}")
        lines.append("lemmas: " + ", ".join(self.provenance))
        lines += ["assumptions:"] + [f"  - {a}" for a in self.assumptions]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_latex(self) -> str:
        if self.closed_form is not None:
            return self.closed_form.latex(numbers=True)
        import mpmath
        return f"a_{{{self.generations}}} \\le {mpmath.nstr(self.final, 6)}"


@dataclass(repr=False)
class SolveResult(Result):
    """The value of one unknown that brings a_K under ``target`` (statsmodels ``solve_power`` style)."""
    kind: ClassVar[str] = "solve"
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

    @property
    def lemma_ids(self) -> list:
        return _learner_lemmas(self.inputs) + ["T1", "T2"]

    def _payload(self) -> dict:
        return {"unknown": self.unknown, "value": self.value, "achieved": self.achieved,
                "target": self.target, "reachable": self.reachable, "verified": self.verified,
                "floor": self.floor, "message": self.message, "checks": self.checks,
                "inputs": self.inputs}

    def table(self) -> str:
        return "\n".join([f"solve for {self.unknown}: target a_K <= {fmt(self.target)}",
                          f"  value:     {fmt(self.value, 10)}",
                          f"  achieved:  {fmt(self.achieved, 8)}",
                          f"  reachable: {self.reachable}   verified: {self.verified}",
                          f"  {self.message}"] + calibrated_note(self.inputs))

    def to_latex(self) -> str:
        names = {"n-real": "n_{\\mathrm{real}}", "n-synth": "n_{\\mathrm{synth}}",
                 "real-fraction": "\\lambda", "generations": "K"}
        if not self.reachable or self.value is None:
            return f"\\text{{{_latex_text(self.message)}}}"
        return f"{names.get(self.unknown, self.unknown)} = {self.value}"


@dataclass(repr=False)
class PhaseResult(Result):
    """Phase transition in the amount of synthetic data at one generation.

    ``vacuous`` is True when the bound is at least 1 on the whole curve (for example a supplied
    ``previous_tv`` of 1): TV <= 1 always, so nothing is said there, and no transition is reported.
    """
    kind: ClassVar[str] = "phase"
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
    vacuous: bool = False

    @property
    def lemma_ids(self) -> list:
        return _learner_lemmas(self.inputs) + ["T1", "T2"]

    def _payload(self) -> dict:
        return {"exists": self.exists, "threshold": self.threshold, "peak": self.peak,
                "limit": self.limit, "at_zero": self.at_zero, "previous_tv": self.previous_tv,
                "method": self.method, "closed_form": self.closed_form,
                "message": self.message, "checks": self.checks, "inputs": self.inputs,
                "vacuous": self.vacuous}

    def table(self) -> str:
        generation = self.inputs.get("generation", "I")
        return "\n".join([f"phase transition at generation {generation} ({self.method})",
                          f"  exists:     {self.exists}" + ("   (vacuous: the bound reaches 1, where TV <= 1 says nothing)"
                                                            if self.vacuous else ""),
                          f"  threshold:  n_synth* = {fmt(self.threshold, 8)}",
                          f"  at n_synth = 0: {fmt(self.at_zero)}   peak: {fmt(self.peak)}   limit: {fmt(self.limit)}",
                          f"  {self.message}"] + calibrated_note(self.inputs))

    def to_latex(self) -> str:
        if self.vacuous:
            return "\\text{vacuous: the bound is at least 1 for every } n_{\\mathrm{synth}}"
        if self.closed_form:
            return self.closed_form
        if not self.exists:
            return "\\text{no phase transition}"
        import mpmath
        return f"s^* \\approx {mpmath.nstr(self.threshold, 6)}"


@dataclass(repr=False)
class OptimumResult(Result):
    """An optimal tuning parameter: early-stopping time tau* (lemma D2 at the constants of lemma D4 at
    delta_i = delta/K, lemma C3) or bandwidth h* (lemma K3)."""
    kind: ClassVar[str] = "optimum"
    quantity: str
    value: object
    objective: object
    inputs: dict
    message: str = ""
    checks: dict = field(default_factory=dict)
    curve: object = None  # callable x -> objective, kept for plotting

    @property
    def lemma_ids(self) -> list:
        return ["C3", "D1", "D4", "D2"] if self.quantity == "tau" else ["K1", "K2", "K3"]

    def _payload(self) -> dict:
        return {"quantity": self.quantity, "value": self.value, "objective": self.objective,
                "message": self.message, "checks": self.checks, "inputs": self.inputs}

    def table(self) -> str:
        return (f"{self.quantity}* = {fmt(self.value, 10)}\n  {self.message}\n"
                f"  checks: {_fmt_checks(self.checks)}")

    def plot(self, ax=None, points: int = 200):
        """The objective against the tuning parameter (log-log) with the optimum marked; returns the axis."""
        import mpmath
        import numpy as np
        if self.curve is None:
            from boundcalc._checks import BoundcalcError
            raise BoundcalcError("this OptimumResult has no objective to plot")
        if ax is None:
            import matplotlib.pyplot as plt
            _, ax = plt.subplots(figsize=(6.4, 4.4))
        v = float(self.value)
        low = max(1.0, v / 20) if self.quantity == "tau" else v / 20
        xs = np.unique(np.append(np.geomspace(low, v * 20, points), v))
        ys = np.array([float(self.curve(mpmath.mpf(float(x)))) for x in xs])
        name = r"\tau" if self.quantity == "tau" else "h"
        ax.plot(xs, ys, color="tab:blue", label="objective")
        ax.plot([v], [float(self.objective)], marker="o", color="tab:red", zorder=5,
                label=rf"${name}^* = {v:.4g}$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"training time $\tau$" if self.quantity == "tau" else r"bandwidth $h$")
        ax.set_ylabel("objective (lemma D2)" if self.quantity == "tau" else "objective in TV (lemma K3)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        return ax

    def to_latex(self) -> str:
        import mpmath
        name = {"tau": "\\tau^*", "bandwidth": "h^*"}[self.quantity]
        return f"{name} = {mpmath.nstr(self.value, 8)}"
