"""Expected KDE laws (lemma K4) over many generations: pruning with a proven bound, no underflow."""

import numpy as np
import pytest

from boundcalc.model import kde_law
from boundcalc.model.kde_law import expected_training_mixtures
from boundcalc.model.schemes import Mix
from boundcalc.model.targets import mixture_of, parse_target


def _full_laws(target, lam, h, K):
    """The K4 laws by hand, every component kept: r_i = (lam p0 + (1 - lam) r_(i-1)) * phi_h."""
    laws, prev = [], target
    for i in range(1, K + 1):
        mixed = target if i == 1 else mixture_of([(lam, target), (1 - lam, prev)])
        prev = mixed.convolve(h)
        laws.append(prev)
    return laws


def test_pruned_k2_integral_is_an_upper_bound_within_its_slack(monkeypatch):
    target, h, K = parse_target("bimodal"), 0.4, 30
    full = _full_laws(target, 0.5, h, K)
    monkeypatch.setattr(kde_law, "PRUNE_WEIGHT", 1e-4)  # prune hard, so the slack matters
    pruned = expected_training_mixtures(target, Mix(1000, 1000), h, K)
    assert pruned[-1].n_components < full[-1].n_components and pruned[-1].dropped > 0
    for exact, kept in zip(full[10:], pruned[10:]):
        j_exact, j_kept = exact.k2_integral(h), kept.k2_integral(h)
        assert j_kept >= j_exact  # never below the full law's integral
        slack = kept.k2_slack() if hasattr(kept, "k2_slack") else 0.0
        assert j_kept - j_exact <= slack + 1e-9  # and above it by at most the slack
        # the dropped mass is the full weight of the components with k beyond the kept window
        assert getattr(kept, "dropped", 0.0) == pytest.approx(1 - sum(exact.weights[
            np.isin(np.round(exact.scales[:, 0], 9), np.round(kept.scales[:, 0], 9))]), abs=1e-9)


def test_small_real_fraction_many_generations_has_no_underflow():
    """Regression (issue 11): mix with real fraction 0.9 over 350 generations failed (weights under
    1e-308 reached the mixture check); the laws converge to the stationary law of K4, whose k-th
    weight is lam (1 - lam)^(k-1)."""
    target, h = parse_target("normal"), 0.3
    laws = expected_training_mixtures(target, Mix.fraction(0.9, 1000), h, 350)
    last = laws[-1]
    k = np.rint((last.scales[:, 0] ** 2 - 1) / h ** 2).astype(int)
    order = np.argsort(k)
    assert np.all(np.diff(k[order]) == 1) and k[order][0] == 1
    np.testing.assert_allclose(last.weights[order][:10], 0.9 * 0.1 ** np.arange(10), rtol=1e-9)
    assert last.weights.min() >= 1e-41 and last.dropped < 1e-38


def test_auto_bandwidth_cache_is_a_pure_function_of_its_inputs(monkeypatch):
    from boundcalc.bounds import kde_terms
    from boundcalc.theory.catalogue import get_lemma
    from boundcalc.theory.lemma import CATALOGUE
    import dataclasses
    target = parse_target("bimodal")
    first = kde_terms.auto_bandwidth(target, 1000)
    assert kde_terms.auto_bandwidth(target, 1000) == first == kde_terms._auto_bandwidth(target, 1000)
    assert kde_terms.auto_bandwidth(target, 4000) < first  # another n, another value
    assert kde_terms.auto_bandwidth(parse_target("normal"), 1000) != first  # another target
    k3 = get_lemma("K3")  # a changed lemma object is a new key: no stale value
    monkeypatch.setitem(CATALOGUE, "K3", dataclasses.replace(k3, rhs=2 * k3.rhs))
    assert kde_terms.auto_bandwidth(target, 1000) == pytest.approx(2 * first, rel=0.2)
