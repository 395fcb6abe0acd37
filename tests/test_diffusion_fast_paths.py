"""The numpy RK4 path of the diffusion flow map against the torch path (a second implementation
of the same operations: the results must agree bit for bit), and the scipy.special replacements
of scipy.stats against scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from boundcalc.model.targets import bimodal  # noqa: E402
from boundcalc.validate.diffusion import ode  # noqa: E402
from boundcalc.validate.diffusion.score_models import RandomFeatureScore  # noqa: E402


class TorchOnly:
    """The same score seen through its torch ``evaluate`` only (no ``evaluate_numpy``)."""

    def __init__(self, score):
        self.score = score

    def evaluate(self, x, t):
        return self.score.evaluate(x, t)


@pytest.fixture(scope="module")
def score():
    x = bimodal().sample(np.random.default_rng(0), 300)
    rf = RandomFeatureScore(width=64, draws_per_point=4, rng=np.random.default_rng(1)).fit(x, np.random.default_rng(2))
    return rf.score_function(30.0)


def test_numpy_flow_map_is_the_torch_flow_map_bit_for_bit(score):
    u = np.r_[np.linspace(-8.5, 8.5, 101), np.random.default_rng(3).standard_normal(500)]
    fast = ode.flow_map(score, u, 1e-3, 5.0, 12, chunk=256)
    ref = ode.flow_map(TorchOnly(score), u, 1e-3, 5.0, 12, chunk=256)
    assert np.array_equal(fast.x, ref.x)
    assert np.array_equal(fast.log_derivative, ref.log_derivative)
    assert fast.monotone == ref.monotone
    no_log = ode.flow_map(score, u, 1e-3, 5.0, 12, log_derivative=False)
    assert np.array_equal(no_log.x, ref.x) and np.all(np.isnan(no_log.log_derivative))


def test_cell_probabilities_same_through_either_path(score):
    edges = np.linspace(-6.0, 6.0, 65)
    fast = ode.cell_probabilities(score, edges, 1e-3, 5.0, 12, u_points=201)
    ref = ode.cell_probabilities(TorchOnly(score), edges, 1e-3, 5.0, 12, u_points=201)
    assert np.array_equal(fast.probabilities, ref.probabilities)
    assert (fast.total_probability_error, fast.edge_density_mass, fast.x_residual, fast.converged) == \
           (ref.total_probability_error, ref.edge_density_mass, ref.x_residual, ref.converged)


def test_special_functions_equal_the_scipy_stats_ones():
    from scipy import special, stats
    for df in range(1, 60):
        assert special.stdtrit(df, 0.975) == stats.t.ppf(0.975, df)
        for x in (0.1, 1.0, df, 3.0 * df + 5):
            assert special.chdtrc(df, x) == stats.chi2.sf(x, df)


def test_numpy_blas_threads_can_be_limited():
    from boundcalc.validate.diffusion._torch import limit_numpy_blas_threads
    assert limit_numpy_blas_threads(1) >= 0
