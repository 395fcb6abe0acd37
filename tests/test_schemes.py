"""Schemes: the training laws of docs/theory.md section 2, checked entry by entry."""

import pytest

from boundcalc._checks import BoundcalcError
from boundcalc.model.schemes import make_scheme


def test_generation_one_is_real_data_for_every_scheme():
    for name, kw in [("replace", {"n_synth": 80}), ("mix", {"n_synth": 80}), ("accumulate", {"n_synth": 80}),
                     ("schedule", {"real_fractions": [0.5], "sizes": [80]})]:
        plan = make_scheme(name, 120, **kw).plan(1)
        assert plan.n_total == 120 and plan.real_fraction == 1 and plan.weights() == [1.0]


def test_replace_trains_on_previous_generation_only():
    plan = make_scheme("replace", 100, 30).plan(4)
    assert plan.n_total == 30 and plan.weights() == [0.0, 0.0, 0.0, 1.0]


def test_mix_weights_are_the_real_fraction():
    plan = make_scheme("mix", 100, 300).plan(3)
    assert plan.n_total == 400
    assert plan.weights() == [0.25, 0.0, 0.75]
    assert plan.real_fraction == 0.25


def test_mix_from_real_fraction():
    scheme = make_scheme("mix", 100, real_fraction=0.2)
    assert scheme.n_synth == pytest.approx(400)
    assert scheme.plan(2).real_fraction == pytest.approx(0.2)


def test_accumulate_keeps_every_earlier_generation():
    scheme = make_scheme("accumulate", 100, 50)
    plan = scheme.plan(4)
    assert plan.n_total == 100 + 3 * 50 == scheme.n_total(4)
    assert plan.weights() == pytest.approx([100 / 250, 50 / 250, 50 / 250, 50 / 250])
    # the samples of p_1 are drawn once (for generation 2) and kept
    assert {b.key for b in plan.blocks if b.source == 1} == {(1, 2)}
    assert not plan.all_fresh


def test_reused_real_data_is_the_same_block():
    scheme = make_scheme("mix", 100, 100, real_data="reused")
    keys = {b.key for i in (1, 2, 3) for b in scheme.plan(i).blocks if b.source == 0}
    assert keys == {(0, 1)}
    fresh = make_scheme("mix", 100, 100, real_data="fresh")
    assert {b.key for i in (1, 2, 3) for b in fresh.plan(i).blocks if b.source == 0} == {(0, 1), (0, 2), (0, 3)}


def test_schedule_per_generation_values_and_fully_synthetic_generations():
    scheme = make_scheme("schedule", 100, real_fractions=[0.0, 0.5], sizes=[200, 400])
    assert scheme.plan(2).weights() == [0.0, 1.0]
    assert scheme.plan(3).weights() == [0.5, 0.0, 0.5] and scheme.plan(3).n_total == 400
    with pytest.raises(BoundcalcError, match="generation 4"):
        scheme.plan(4)


def test_tv_coefficients_are_the_synthetic_weights():
    assert make_scheme("mix", 100, 300).tv_coefficients(3) == [0.0, 0.75]
    assert make_scheme("accumulate", 100, 100).tv_coefficients(3) == pytest.approx([1 / 3, 1 / 3])


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="mix", n_real=0), "n_real must be an integer >= 1, got 0"),
    (dict(name="mix", n_real=2.5), "n_real must be an integer >= 1, got 2.5"),
    (dict(name="mix", n_real=10, n_synth=-1), "n_synth must be an integer >= 0, got -1"),
    (dict(name="replace", n_real=10, n_synth=0), "n_synth must be an integer >= 1, got 0"),
    (dict(name="mix", n_real=10, real_fractions=[0.5]), "applies to the schedule scheme, not mix"),
    (dict(name="mix", n_real=10, sizes=[5]), "applies to the schedule scheme, not mix"),
    (dict(name="schedule", n_real=10, real_fractions=[0.5], n_synth=3), "does not apply to the schedule"),
    (dict(name="mix", n_real=10, real_fraction=0), r"real_fraction must be in \(0, 1\]"),
    (dict(name="mix", n_real=10, real_fraction=1.5), r"real_fraction must be in \(0, 1\]"),
    (dict(name="swap", n_real=10), "scheme must be one of"),
    (dict(name="mix", n_real=10, real_data="old"), "real_data must be one of"),
    (dict(name="replace", n_real=10, real_data="reused"), "real_data applies to mix and accumulate"),
    (dict(name="schedule", n_real=10), "schedule needs real_fractions"),
    (dict(name="schedule", n_real=10, real_fractions=[1.2]), r"schedule_fractions must be comma-separated numbers in \[0, 1\]"),
])
def test_bad_input_names_the_parameter(kwargs, message):
    name = kwargs.pop("name")
    with pytest.raises(BoundcalcError, match=message):
        make_scheme(name, **kwargs)
