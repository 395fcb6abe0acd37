"""The validators as units and a merge, the runner's per-unit files, and the generator protocol.

Expected values come from outside the code under test: byte equality with the single-process
run (two paths through the code), the classical variance recursion of a Gaussian refit
(E sigma_t^2 = ((n-1)/n)^t sigma_0^2), and the exact Gaussian TV
``TV(N(m, s^2), N(0, 1))`` evaluated by scipy quadrature.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy import integrate, stats

import boundcalc.validate as BV
from boundcalc._checks import BoundcalcError
from boundcalc.validate import kde as V
from boundcalc.validate.protocol import Generator


def small(**kw):
    base = dict(scheme="mix", generations=3, n_real=300, seeds=5, grid_size=1024)
    base.update(kw)
    return V.kde_config(**base)


def test_units_in_any_order_merge_to_the_single_process_bytes():
    cfg = small()
    us = BV.units(cfg)
    assert [u.key for u in us] == [f"seed{k}" for k in range(5)] and all(u.seed_index == k for k, u in enumerate(us))
    records = [BV.run_unit(u) for u in reversed(us)]  # another order, as a cluster may finish them
    merged = BV.merge(cfg, records)
    assert merged.to_json() == BV.validate_kde(cfg).to_json()
    assert merged.status == "complete" and isinstance(merged, V.KDEValidation)
    # records survive pickling and a JSON round trip unchanged (what Dask and the files do)
    import pickle
    assert pickle.loads(pickle.dumps(us[2])) == us[2]
    assert json.loads(json.dumps(records[0])) == records[0]
    partial = BV.merge(cfg, records[:2])
    assert partial.status == "incomplete" and partial.data["seeds_finished"] == 2
    with pytest.raises(BoundcalcError, match="twice"):
        BV.merge(cfg, records + records[:1])


def test_unit_k_depends_on_the_base_seed_and_k_only():
    """Common random numbers: seed index 3 draws the same loop whatever the number of seeds."""
    a = V.run_unit(V.units(small(seeds=4))[3])
    b = V.run_unit(V.units(small(seeds=9))[3])
    c = V.run_unit(V.units(small(seeds=9, seed=1))[3])
    assert a == b and a != c


def test_out_stores_one_small_file_per_unit_and_resume_runs_only_the_missing(tmp_path):
    cfg = small(seeds=6)
    whole = V.validate_kde(cfg, out_dir=tmp_path)
    folder = tmp_path / "units" / "kde"
    files = sorted(p.name for p in folder.glob("seed*.json"))
    assert files == [f"seed{k}.json" for k in range(6)]
    for k, run in enumerate(whole.data["runs"]):
        stored = json.loads((folder / f"seed{k}.json").read_text())
        assert stored["key"] == f"seed{k}" and {**stored["record"]} == {"unit": f"seed{k}", **run}
        assert (folder / f"seed{k}.json").stat().st_size < 4096
    (folder / "seed1.json").unlink()
    (folder / "seed4.json").unlink()
    fits = []

    def counting(i, n):
        fits.append(i)
        return V.GaussianKDE(whole.data["bandwidth"]["per_generation"][i - 1])

    resumed = V.validate_kde(cfg, out_dir=tmp_path, resume=True, make_generator=counting)
    assert len(fits) == 2 * cfg.generations  # two seeds ran again, four were read back
    assert resumed.to_json() == whole.to_json()


def test_sigint_then_resume_gives_the_same_bytes(tmp_path):
    argv = [sys.executable, "-m", "boundcalc.cli.main", "validate", "kde", "--seeds", "600",
            "--generations", "2", "--n-real", "300", "--grid-size", "1024", "--json"]
    proc = subprocess.Popen(argv + ["--out", str(tmp_path / "cut")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    folder = tmp_path / "cut" / "units" / "kde"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(folder.glob("seed*.json"))) < 5 and proc.poll() is None:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and b"--resume" in err
    kept = len(list(folder.glob("seed*.json")))
    if kept == 600:
        pytest.skip("the interrupt arrived after the last unit (a loaded machine)")
    assert kept >= 5
    cut = json.loads((tmp_path / "cut" / "kde_validation.json").read_text())
    assert cut["status"] == "interrupted" and cut["seeds_finished"] == kept
    resumed = subprocess.run(argv + ["--out", str(tmp_path / "cut"), "--resume"], capture_output=True, check=False)
    whole = subprocess.run(argv, capture_output=True, check=False)
    assert resumed.returncode == whole.returncode and resumed.stdout == whole.stdout
    assert json.loads(whole.stdout)["seeds_finished"] == 600


class GaussianRefitLearner:
    """A user's learner, written here: fit a normal by maximum likelihood, sample it, give its
    density on the grid.  fit returns self, fitted attributes end in '_'."""

    def fit(self, samples):
        x = np.asarray(samples, dtype=float)
        self.mean_, self.sd_ = float(x.mean()), float(x.std())
        self.status_ = "ok" if self.sd_ > 0 else "zero_variance"
        return self

    def sample(self, rng, size):
        return self.mean_ + self.sd_ * rng.standard_normal(size)

    def density(self, grid):
        return stats.norm.pdf(grid.points(), self.mean_, self.sd_), 0.0


def exact_tv_to_standard_normal(mean, sd):
    """TV(N(mean, sd^2), N(0, 1)) = (1/2) int |p - q| by adaptive quadrature (independent of the grid)."""
    f = lambda x: abs(stats.norm.pdf(x, mean, sd) - stats.norm.pdf(x))  # noqa: E731
    return 0.5 * integrate.quad(f, -12, 12, points=[mean], limit=200)[0]


def test_a_users_generator_runs_through_the_loop():
    learner = GaussianRefitLearner()
    assert isinstance(learner, Generator)
    n, K, S = 20, 4, 300
    res = BV.validate_kde(scheme="replace", target="normal", n_real=n, generations=K, seeds=S,
                          bandwidth=0.5, generator=learner)
    assert isinstance(res, V.KDEValidation) and res.status == "complete"
    names = {c["name"]: c for c in res.checks}
    assert names["recursion_step"]["passed"] and names["scheme_coefficients"]["passed"]
    # the KDE's bound is a yardstick for this learner, and the KDE's own references are left out
    assert names["composed_bound"]["kind"].startswith("yardstick") and "above_lower_reference" not in names
    assert res.data["learner"].startswith("user generator GaussianRefitLearner")
    # classical reference: the ddof=0 variance of generation t's training set has mean
    # ((n-1)/n)^t under replace with a Gaussian refit (sigma_0 = 1)
    mean = np.array(res.data["summary"]["train_variance"]["mean"])
    se = np.array(res.data["summary"]["train_variance"]["se"])
    expected = ((n - 1) / n) ** np.arange(1, K + 1)
    assert np.all(np.abs(mean - expected) <= 4 * se)


def test_a_users_generator_a1_is_the_exact_gaussian_tv():
    """Generation 1 of seed 0, refit by hand from the same seeded draw, against quadrature."""
    res = BV.validate_kde(scheme="replace", target="normal", n_real=50, generations=1, seeds=1,
                          bandwidth=0.5, generator=GaussianRefitLearner())
    from boundcalc.model.targets import parse_target
    x = parse_target("normal").sample(V.seed_rng(0, 0), 50)  # seed 0 draws the real block first
    expected = exact_tv_to_standard_normal(float(np.mean(x)), float(np.std(x)))
    assert res.data["runs"][0]["a"][0] == pytest.approx(expected, abs=2e-4)


def test_generator_and_config_errors_are_one_line():
    with pytest.raises(BoundcalcError, match="generator must have fit"):
        BV.validate_kde(generations=1, seeds=1, generator=object())
    with pytest.raises(BoundcalcError, match="config must be"):
        BV.units(object())
    with pytest.raises(BoundcalcError, match="not both"):
        V.validate_kde(small(), seeds=3)


def test_result_object_prints_a_table_and_keeps_the_json_contract(tmp_path):
    res = BV.validate_kde(generations=2, n_real=200, seeds=3, grid_size=1024)
    text = repr(res)
    assert text.splitlines()[0].startswith("KDE loop: scheme replace") and "a_i 95% CI" in text
    data = json.loads(res.to_json())
    assert len(data["summary"]["a"]["mean"]) == 2 and len(data["summary"]["composed_bound"]["mean"]) == 2
    assert [c["name"] for c in res.checks][:2] == ["recursion_step", "scheme_coefficients"]
    paths = res.plot(tmp_path)
    assert any(str(p).endswith(".png") for p in paths) and all(os.path.getsize(p) > 0 for p in paths)
    assert "<pre>" in res._repr_html_()




@pytest.mark.torch
def test_diffusion_units_merge_to_the_single_process_bytes(tmp_path):
    pytest.importorskip("torch")
    opts = BV.diffusion_config("loop", target="normal", scheme="mix", real_fractions=(0.5,), n_real=40,
                               generations=2, seeds=2, width=24, steps=12, grid_size=128, tau=30.0,
                               draws_per_point=4)
    us = BV.units(opts)
    assert [u.key for u in us] == ["mix(lam=0.5)/seed0", "mix(lam=0.5)/seed1"]
    assert all(u.experiment == "diffusion-loop" for u in us)
    merged = BV.merge(opts, [BV.run_unit(u) for u in reversed(us)])
    whole = BV.validate_diffusion("loop", opts, out_dir=tmp_path)
    assert merged.to_json() == whole.to_json() and whole.passed == merged.passed
    assert "a_i = TV(p_i,p0)" in repr(whole)
    with pytest.raises(BoundcalcError, match="no record"):
        BV.merge(opts, [BV.run_unit(us[0])])
