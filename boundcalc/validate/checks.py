"""Checks shared by the validators: the check record, its one-line rendering, the binomial test
of a probabilistic bound over independent runs, and the recursion-step slack.

Kinds of check (printed beside each one): *consistency* checks hold by construction and test
the bookkeeping; *bound* checks test an a-posteriori theorem over runs; *reference* checks hold
a Monte-Carlo mean against an exact value; *numerical* checks test the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: level of the one-sided binomial test of the bound checks: with S runs, v of which violate a
#: bound that fails with probability at most delta per run, the check fails only when
#: P(Bin(S, delta) >= v) < BINOMIAL_ALPHA
BINOMIAL_ALPHA = 0.01
#: TV <= 1 always, so a bound >= this value says nothing ("vacuous") and is no evidence
VACUOUS_BOUND = 1.0
#: tolerance of the recursion-step and scheme-coefficient checks.  All three TVs are the same
#: seminorm (quadrature on one grid, or one partition into cells), for which the triangle
#: inequality and the mixture identity are exact; only floating-point rounding is allowed.
RECURSION_TOLERANCE = 1e-9
KIND_CONSISTENCY = "consistency (holds by construction)"
KIND_BOUND = "bound (a-posteriori theorem, one-sided binomial test over runs)"
KIND_REFERENCE = "reference (Monte-Carlo mean against an exact value)"
KIND_NUMERICAL = "numerical (grid accuracy)"


@dataclass
class Check:
    """A named pass/fail check: ``passed`` and the numbers behind it (``details``)."""

    name: str
    passed: bool
    statement: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": bool(self.passed), "statement": self.statement, **self.details}


def verdict(all_passed: bool) -> str:
    """The word the validators print before their checks."""
    return "all checks passed" if all_passed else "SOME CHECKS FAILED"


def format_checks(checks) -> str:
    """One line per check: PASS/FAIL (VACUOUS for a passed check with ``vacuous`` set: nothing could
    fail, so it is no evidence), name, its ``kind`` when given, statement."""
    def mark(c):
        if not c["passed"]:
            return "FAIL"
        return "VACUOUS" if c.get("vacuous") else "PASS"

    return "\n".join(f"  [{mark(c)}] {c['name']}" + (f" [{c['kind']}]" if c.get("kind") else "")
                     + f": {c['statement']}" for c in checks)


def bound_evidence(measured: np.ndarray, bound: np.ndarray, delta: float, alpha: float = BINOMIAL_ALPHA) -> dict:
    """One-sided binomial test of "each run violates the bound with probability at most delta".

    ``measured`` and ``bound`` are (runs, generations); a run *violates* when ``measured > bound``
    at some generation with a value.  Runs are independent, so under the theorem the number of
    violating runs V among the S runs with a value is stochastically at most Bin(S, delta), and
    ``p_value = P(Bin(S, delta) >= V)``; the check fails only when ``p_value < alpha``.  Bounds
    >= 1 (TV <= 1 always) are vacuous: they cannot be violated and are not counted as evidence;
    the counts of non-vacuous generations and runs say how much the check rests on.
    """
    rows = [r for r in range(measured.shape[0]) if np.isfinite(measured[r]).any()]
    runs = len(rows)
    violating = non_vacuous_runs = non_vacuous = vacuous = 0
    for r in rows:
        m, b = measured[r], bound[r]
        has = np.isfinite(m)
        violating += bool(np.any(m[has] > b[has]))
        useful = has & (b < VACUOUS_BOUND)
        non_vacuous += int(useful.sum())
        vacuous += int((has & ~(b < VACUOUS_BOUND)).sum())
        non_vacuous_runs += bool(useful.any())
    from scipy import stats  # here, not at import: scipy.stats costs 0.3-0.5 s to import
    p_value = float(stats.binom.sf(violating - 1, runs, delta)) if runs else math.nan
    return {"runs": runs, "runs_violating": violating,
            "share_of_runs_holding": (runs - violating) / runs if runs else math.nan,
            "delta": delta, "p_value": p_value, "alpha": alpha,
            "runs_with_non_vacuous_bound": non_vacuous_runs, "non_vacuous_generations": non_vacuous,
            "vacuous_generations": vacuous, "vacuous": non_vacuous == 0,
            "passed": bool(runs) and p_value >= alpha}


def recursion_slack(a, eps, tv_q_p0) -> np.ndarray:
    """``eps_i + TV(q_i, p0) - a_i`` (lemma T2: >= 0) at every entry where a_i has a value."""
    a, eps, tv_q = (np.asarray(v, dtype=float) for v in (a, eps, tv_q_p0))
    finite = np.isfinite(a)
    return (eps + tv_q - a)[finite]
