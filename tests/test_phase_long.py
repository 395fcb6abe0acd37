"""phase with the diffusion learner through its run rate (eps at delta / I, a function of N in one statement):
the curve equals the full I-generation recursion of the same statement."""

from __future__ import annotations

import mpmath
import pytest

from boundcalc.bounds.learners import Diffusion
from boundcalc.bounds.phase import phase_transition
from boundcalc.bounds.solve import bound_sequence
from boundcalc.model.schemes import Schedule


@pytest.mark.parametrize("generation", [3, 7])
def test_diffusion_phase_curve_equals_the_full_recursion(generation):
    learner, n_real, I = Diffusion(), 10000, generation
    result = phase_transition(learner, n_real, generation=I, draw="iid")

    def full(s):  # scheme_at(s) of phase_transition, every generation recomputed (the old path)
        schedule = Schedule.continuous(n_real, [0.5] * (I - 2) + [n_real / (n_real + s)],
                                       [2 * n_real] * (I - 2) + [n_real + s], draw="iid")
        return bound_sequence(schedule, learner, I, 0.05)[-1]

    for s in (0, 1000, 10 ** 5, result.threshold):
        assert result.curve(mpmath.mpf(s)) == full(mpmath.mpf(s))


def test_diffusion_phase_refuses_a_stratified_loop():
    from boundcalc._checks import BoundcalcError
    with pytest.raises(BoundcalcError, match="lemma D1"):
        phase_transition(Diffusion(), 10000, generation=4)
