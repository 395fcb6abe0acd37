"""accumulate-subsample from ``boundcalc bound`` and ``validate kde``: the composed bound of the power
learner against a hand computation, the KDE loop bound's refusal, the validator's subsample
(reproducible; stratified counts equal to the hypergeometric mean; uniform within each block)."""

import json
import math

import numpy as np
import pytest
from scipy.stats import hypergeom

from boundcalc.cli.main import main
from boundcalc.model.schemes import AccumulateSubsample
from boundcalc.validate.kde import kde_config, validate_kde
from boundcalc.validate.kde.context import build_context
from boundcalc.validate.loop import iterate_loop


def test_power_bound_is_the_recursion_over_pool_shares(capsys):
    code = main(["bound", "--learner", "power", "--C", "1", "--alpha", "0.5", "--scheme", "accumulate-subsample",
                 "--n-real", "100", "--n-synth", "50", "--subsample", "120", "-K", "4", "--json"])
    assert code == 0
    got = json.loads(capsys.readouterr().out)["bound"]
    # by hand: a_1 = 100^-1/2; generation i >= 2 trains on 120 points of a pool of 100 real and 50 of
    # each earlier p_j, so a_i = 120^-1/2 + (50 / pool_i) (a_1 + ... + a_{i-1}), pool_i = 100 + 50 (i-1)
    e = 120 ** -0.5
    a1 = 0.1
    a2 = e + (50 / 150) * a1
    a3 = e + (50 / 200) * (a1 + a2)
    a4 = e + (50 / 250) * (a1 + a2 + a3)
    assert got == pytest.approx([a1, a2, a3, a4], rel=1e-12)


def test_kde_bound_refuses_the_subsampled_blocks_in_one_line(capsys):
    assert main(["bound", "--scheme", "accumulate-subsample", "--n-real", "100", "-K", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not cover accumulate-subsample" in err
    assert main(["bound", "--scheme", "mix", "--subsample", "50"]) == 2
    assert "--subsample applies to --scheme accumulate-subsample" in capsys.readouterr().err


CFG = dict(scheme="accumulate-subsample", n_real=200, n_synth=100, subsample=240, generations=4, seeds=3)


def test_validator_counts_are_the_hypergeometric_mean_and_the_run_is_reproducible():
    cfg = kde_config(**CFG)
    ctx = build_context(cfg)
    for plan in ctx.plans[1:]:
        pool = sum(round(b.pool) for b in plan.blocks)
        for b in plan.blocks:
            # the number of points of this block among 240 drawn uniformly without replacement from the
            # pool is hypergeometric; the stratified subsample takes exactly its mean (an integer here)
            assert b.size == hypergeom(pool, round(b.pool), 240).mean()
    # one event per distinct (block, generation) of a subset: 1 + 3 + 3 + 2 + 1
    assert ctx.split_mode == "blockwise" and ctx.events == 10
    first = validate_kde(cfg)
    assert first.to_json() == validate_kde(cfg).to_json()
    assert first.passed and first.data["training_set_sizes"] == [200, 240, 240, 240]
    assert "does not cover accumulate-subsample" in first.data["summary"]["expected_bound"]["refused"]


class _Indexed:
    """A source whose samples are their own indices (to see which stored points a subset takes)."""

    def sample(self, rng, size):
        return np.arange(float(size))


class _Keep:
    def fit(self, samples):
        self.status_ = "ok"
        return self

    def sample(self, rng, size):
        return np.arange(float(size)) + 1000.0


def test_subsets_are_uniform_within_each_block():
    scheme = AccumulateSubsample(20, 10, 15)  # generation 2: 10 of the 20 real points
    counts = np.zeros(20)
    runs = 3000
    for seed in range(runs):
        steps = list(iterate_loop(scheme, _Indexed(), 2, lambda i, n: _Keep(), np.random.default_rng(seed)))
        real = steps[1].training_set[steps[1].training_set < 1000]
        assert real.size == 10 and np.unique(real).size == 10
        counts[real.astype(int)] += 1
    # each stored point is taken with probability 10/20; 5 binomial standard deviations per point
    sd = math.sqrt(runs * 0.5 * 0.5)
    assert np.all(np.abs(counts - runs * 0.5) < 5 * sd)
