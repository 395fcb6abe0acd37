"""The grid path (issue 13): size arrays broadcast; every point equals the scalar (mpmath S1) bound."""

import numpy as np
import pytest

import boundcalc as bc
from boundcalc._checks import BoundcalcError


@pytest.mark.parametrize("make", [
    lambda a, b: bc.Mix(n_real=a, n_synth=b),
    lambda a, b: bc.Replace(n_real=a, n_synth=b),
    lambda a, b: bc.Accumulate(n_real=a, n_synth=b),
])
def test_grid_matches_the_scalar_recursion_point_by_point(make):
    n = np.array([100, 1000, 31623])
    learner = bc.PowerLaw(C=2, alpha=0.3)
    r = bc.bound(make(n[:, None], n[None, :]), learner, generations=7)
    assert r.final.shape == (3, 3) and len(r.bound) == 7
    for i in range(3):
        for j in range(3):
            s = bc.bound(make(int(n[i]), int(n[j])), learner, generations=7)
            for k in (0, 3, 6):
                assert r.bound[k][i, j] == pytest.approx(float(s.bound[k]), rel=1e-12)


def test_grid_mix_without_synthetic_data_uses_the_lambda_one_form():
    n_real, n_synth = np.array([[1000]]), np.array([[0, 500]])
    r = bc.bound(bc.Mix(n_real=n_real, n_synth=n_synth), bc.PowerLaw(C=1, alpha=0.25), generations=4)
    # lambda = 1: every generation trains on the n_real real samples alone, so a_k = eps(n_real)
    assert r.final[0, 0] == pytest.approx(1000 ** -0.25, rel=1e-12)
    s = bc.bound(bc.Mix(n_real=1000, n_synth=500), bc.PowerLaw(C=1, alpha=0.25), generations=4)
    assert r.final[0, 1] == pytest.approx(float(s.final), rel=1e-12)


def test_grid_path_refuses_what_it_does_not_cover():
    n = np.array([100, 200])
    with pytest.raises(BoundcalcError, match="power learner"):
        bc.bound(bc.Mix(n_real=n, n_synth=n), bc.KDE(target="normal"))
