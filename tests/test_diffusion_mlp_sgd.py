"""``validate diffusion early-stopping --model mlp-sgd``: the MLP trained by SGD, training time in
epochs (Li et al.'s own 1-D experiment), on a tiny configuration: seeded and byte-reproducible, the
record has the fields of the random-feature sweep, and its checks are typed like theirs."""

import json
import math

import pytest

from boundcalc._checks import BoundcalcError
from boundcalc.validate import diffusion_config, merge, run_unit, units, validate_diffusion
from boundcalc.validate.diffusion.sgd_mlp import epoch_grid

TINY = dict(model="mlp-sgd", ns=(40, 60), seeds=1, mlp_epochs=3, mlp_hidden=8, u_points=201)


@pytest.fixture(scope="module")
def tiny():
    return validate_diffusion("early-stopping", **TINY)


def test_tiny_epoch_sweep_fields_and_checks(tiny):
    data = json.loads(tiny.to_json())
    assert data["inputs"]["model"]["model"] == "mlp-sgd"
    for n in ("40", "60"):
        run = data["runs"][n][0]
        assert run["taus"] == epoch_grid(3) == [1, 2, 3] and run["time_unit"] == "epochs of SGD"
        assert len(run["kl"]) == len(run["tv"]) == len(run["measured"]) == 3
        for kl, tv, ok in zip(run["kl"], run["tv"], run["measured"]):
            if ok:
                assert math.isfinite(kl) and kl >= 0 and 0 <= tv <= 1
        assert 1 - 1e-9 <= run["tau_star"] <= 3 + 1e-9  # the best epoch (refined between grid points)
        assert math.isfinite(run["final_training_loss"])
    names = [c["name"] for c in data["checks"]]
    assert names == ["model validity gate", "KL finite and non-negative, TV in [0, 1]", "interior minimum",
                     "rate slopes with intervals"]
    assert all(isinstance(c["passed"], bool) for c in data["checks"])
    assert data["d1_fit"]["fitted"] is False and "SGD" in data["d1_fit"]["reason"]
    assert "MLP trained by SGD" in tiny.table()


def test_same_seed_same_bytes_in_any_unit_order(tiny):
    options = diffusion_config("early-stopping", **TINY)
    records = [run_unit(u) for u in reversed(units(options))]
    assert merge(options, records).to_json() == tiny.to_json()


def test_mlp_sgd_is_for_early_stopping_only():
    with pytest.raises(BoundcalcError, match="mlp-sgd applies to early-stopping"):
        diffusion_config("loop", model="mlp-sgd", seeds=1)
