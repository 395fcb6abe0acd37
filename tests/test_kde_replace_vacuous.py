"""Replace loops of the KDE learner past 200 generations: rows from the generation where lemma KE5 provably
reaches 1 (its martingale term alone, Q_i nondecreasing) are the trivial bound; the rows before are the direct
sums with ln(K/delta) of the whole loop."""

from __future__ import annotations

import json
import math

import pytest

from boundcalc.bounds.kde_expected import expected_bound, loop_probability_bound
from boundcalc.bounds.learners import KDE
from boundcalc.model.kde_blocks import block_structure
from boundcalc.model.schemes import Replace
from boundcalc.model.targets import parse_target


def _hand_term(n_real, n_synth, i, K, delta):
    q = 1 / n_real + (i - 1) / n_synth
    return 0.5 * math.sqrt(2 * math.log(K / delta) * q)


def test_replace_q_is_the_sum_of_inverse_sizes():
    """Every block of a replace loop keeps kernel mass 1: Q_i = 1/n_real + (i - 1)/n_synth (block bookkeeping)."""
    scheme, target = Replace(70, 130), parse_target("bimodal")
    structure = block_structure(target, scheme, 0.3, 12)
    for i in range(1, 13):
        assert structure.squared_mass_sum(i) == pytest.approx(1 / 70 + (i - 1) / 130, rel=1e-13)


@pytest.mark.parametrize("n_real, n_synth, K", [(100, 100, 300), (1000, 1000, 10 ** 5), (50, 400, 1000)])
def test_vacuous_from_is_the_first_generation_whose_martingale_term_reaches_one(n_real, n_synth, K):
    first = KDE(target="bimodal").vacuous_from(Replace(n_real, n_synth), K, 0.05)
    assert _hand_term(n_real, n_synth, first, K, 0.05) >= 1 > _hand_term(n_real, n_synth, first - 1, K, 0.05)


def test_full_ke5_is_at_least_one_from_that_generation():
    """The claim checked on the direct sums: KE5 (all three terms, union over K = 300) is >= 1 at every
    generation from vacuous_from on (here up to 45)."""
    scheme, target = Replace(100, 100), parse_target("bimodal")
    learner = KDE(target="bimodal")
    first = learner.vacuous_from(scheme, 300, 0.05)
    assert first < 45
    h = float(learner.resolved_bandwidth(100))
    expected = expected_bound(scheme, target, [h] * 45, 45, linear=False)
    loop = loop_probability_bound(scheme, target, [h] * 45, 45, 0.05, expected=expected, union=300)
    assert all(value >= 1 for value in loop.bound[first - 1:])


def test_rows_before_are_the_direct_sums_and_after_are_the_trivial_bound():
    """The rows before the vacuous generation are the kernel tables' (bounds/kde_tables.py: for replace every kernel
    has one term, so they are the direct sums, up to the two grids' quadrature and the compressed basis: within 1e-5), with ln(K/delta)
    over the whole K; the later rows are the trivial bound."""
    from boundcalc.bounds.kde_tables import table_bounds
    scheme = Replace(100, 100)
    learner = KDE(target="bimodal")
    K = 300
    errors = learner.errors(scheme, K, 0.05)
    first = learner.vacuous_from(scheme, K, 0.05)
    h = float(learner.resolved_bandwidth(100))
    target = parse_target("bimodal")
    expected = expected_bound(scheme, target, [h] * (first - 1), first - 1)
    loop = loop_probability_bound(scheme, target, [h] * (first - 1), first - 1, 0.05, expected=expected, union=K)
    _, tables = table_bounds(scheme, target, h, first - 1, 0.05, union=K)
    for e, value, direct in zip(errors[:first - 1], tables.bound, loop.bound):
        assert float(e.terms["loop_bound"]) == value
        assert value == pytest.approx(direct, rel=1e-5)
    for e in errors[first - 1:]:
        assert e.terms["loop_bound"] == 1 and e.terms["bias_tv"] is None and e.terms["deviation"] is None
    # theorem S1 for replace: a_i = eps_i + a_(i-1), eps_i = max(0, B_i - a_(i-1))
    a = 0
    for e in errors:
        assert e.eps == max(e.terms["loop_bound"] - a, 0)
        a = e.eps + a


def test_cli_answers_a_long_replace_loop_with_a_note(capsys):
    from boundcalc.cli.main import main
    code = main(["bound", "--learner", "kde", "--scheme", "replace", "--n-real", "100", "--n-synth", "100",
                 "-K", "300"])
    out = capsys.readouterr().out
    assert code in (0, None)
    first = KDE(target="bimodal").vacuous_from(Replace(100, 100), 300, 0.05)
    assert f"note: generations {first}..300: lemma KE5 is at least 1 there" in out


def test_a_long_replace_loop_that_stays_below_one_is_answered_or_refused_by_its_size(capsys):
    """The default replace loop (n_synth = 10000) stays below 1 until generation ~1380: answered by the kernel tables
    (it used to be refused past 200); with n_synth = 100000 (until ~13800) the tables' size guard refuses in one line."""
    from boundcalc.cli.main import main
    assert main(["bound", "--learner", "kde", "--scheme", "replace", "-K", "1000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["bound"]) == 1000 and not any("KE5 is at least 1" in n for n in out["notes"])
    code = main(["bound", "--learner", "kde", "--scheme", "replace", "--n-synth", "100000", "-K", "100000"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "lower --n-synth" in err[0] and "size guard" in err[0]
