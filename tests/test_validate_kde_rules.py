"""``validate kde --bandwidth scott|silverman``: the data-driven bandwidth of each generation is
scipy.stats.gaussian_kde's on that generation's training data, and no bound is printed for it."""

import math

import numpy as np
import pytest
from scipy.stats import gaussian_kde

from boundcalc.validate.kde import kde_config, validate_kde
from boundcalc.validate.kde.context import NO_BOUND_REASON, build_context
from boundcalc.validate.kde.measure import RuleBandwidthKDE
from boundcalc.validate.loop import iterate_loop
from boundcalc.validate.runner import seed_rng


@pytest.mark.parametrize("rule", ["scott", "silverman"])
def test_rule_bandwidth_is_scipys(rule):
    x = np.random.default_rng(3).normal(1.0, 2.0, 257)
    fit = RuleBandwidthKDE(rule).fit(x)
    ref = gaussian_kde(x, bw_method=rule)
    assert fit.factor_ == ref.factor
    assert fit.bandwidth == pytest.approx(math.sqrt(ref.covariance[0, 0]), rel=1e-13)


@pytest.mark.parametrize("rule, scheme", [("scott", "replace"), ("silverman", "accumulate")])
def test_validator_records_scipys_bandwidth_per_generation_and_no_bound(rule, scheme):
    cfg = kde_config(bandwidth=rule, scheme=scheme, generations=3, n_real=150, seeds=2)
    result = validate_kde(cfg)
    data = result.data
    ctx = build_context(cfg)
    for run in data["runs"]:
        # the same loop, its training sets handed to scipy
        steps = iterate_loop(ctx.scheme, ctx.target, 3, lambda i, n: RuleBandwidthKDE(rule),
                             seed_rng(cfg.seed, run["seed_index"]))
        expected = [math.sqrt(gaussian_kde(s.training_set, bw_method=rule).covariance[0, 0]) for s in steps]
        assert run["bandwidth"] == pytest.approx(expected, rel=1e-12)
        assert run["composed_bound"] == [None] * 3 and run["one_step_bound"] == [None] * 3
        assert all(0 <= a <= 1 for a in run["a"]) and all(math.isfinite(v) for v in run["held_out_nll"])
    assert data["bandwidth"]["data_driven"] and data["bandwidth"]["bound"] == NO_BOUND_REASON
    assert not any(c["name"] in ("composed_bound", "one_step_bound", "above_lower_reference") for c in data["checks"])
    assert "expected_bound" not in data["summary"]
    assert NO_BOUND_REASON in result.table() and result.passed  # grid mass, recursion, NLL checks
    assert validate_kde(cfg).to_json() == result.to_json()  # seeded: same bytes
