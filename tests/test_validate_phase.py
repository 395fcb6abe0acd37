"""``validate phase``: the measured phase diagram of the KDE and of the diffusion model beside
``boundcalc phase`` for the same learner, on the units API (units, merge, store, resume)."""

import json
import math

import pytest

import boundcalc as bc
from boundcalc._checks import BoundcalcError
from boundcalc.validate import merge, run_unit, units
from boundcalc.validate.phase import phase_config, validate_phase

TINY = dict(learner="diffusion", n_reals=(40,), multiples=(0, 1), seeds=2, width=128)


@pytest.fixture(scope="module")
def tiny():
    return validate_phase(phase_config(**TINY))


def test_diffusion_columns_and_bound_are_boundcalc_phase_of_the_same_learner(tiny):
    # the measured loop draws generation 2's set i.i.d. from q_2 (lemma D1's hypothesis), so the bound
    # beside it is boundcalc phase for draw = iid; the stratified loop is refused by the calculator
    learner = bc.Diffusion(width=128, horizon=5.0, delta_exponent=0)  # constants of 1: the bound's shape
    ph = bc.phase(learner, n_real=40, draw="iid")
    with pytest.raises(BoundcalcError, match="stratified"):
        bc.phase(learner, n_real=40)
    row = tiny.data["rows"][0]
    assert ph.exists and row["bound"]["threshold"] == pytest.approx(float(ph.threshold), rel=1e-12)
    assert [c["n_synth"] for c in row["cells"]] == [0, round(float(ph.threshold))]
    for c in row["cells"]:
        assert c["bound_a2"] == pytest.approx(float(ph.curve(c["n_synth"])), rel=1e-12)
        assert 0 <= c["a2_ci95"][0] <= c["a2_mean"] <= c["a2_ci95"][1] <= 1
        assert c["seeds_measured"] == 2
    # the rise is the mean of per-seed differences (paired seeds)
    c0, c1 = row["cells"]
    assert c1["rise_from_zero_mean"] == pytest.approx(c1["a2_mean"] - c0["a2_mean"], abs=1e-12)
    assert tiny.data["achieved_half_width"] == pytest.approx(max(c["half_width"] for c in row["cells"]))
    names = {c["name"] for c in tiny.data["checks"]}
    assert {"intervals in [0, 1]", "resolution", "model validity gate"} <= names
    assert isinstance(tiny.data["verdict"]["rise_resolved"], bool)


def test_diffusion_phase_on_the_units_api_any_order_same_bytes(tiny):
    config = phase_config(**TINY)
    records = [run_unit(u) for u in reversed(units(config))]
    assert merge(config, records).to_json() == tiny.to_json()


def test_resume_after_interrupt_gives_the_same_bytes(tmp_path, tiny):
    config = phase_config(**TINY)

    def stop(unit):
        if unit.seed_index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        validate_phase(config, out_dir=tmp_path, after_unit=stop)
    assert len(list((tmp_path / "units" / "phase").glob("n_real*.json"))) == 2
    resumed = validate_phase(config, out_dir=tmp_path, resume=True)
    assert resumed.to_json() == tiny.to_json()
    assert json.loads((tmp_path / "diffusion_phase.json").read_text()) == json.loads(tiny.to_json())


def test_a_refused_bound_is_one_line_and_the_columns_fall_back(monkeypatch):
    import boundcalc.bounds.phase as phase_module

    def refuse(*args, **kwargs):
        raise BoundcalcError("diffusion: lemma D1 does not cover this scheme")

    monkeypatch.setattr(phase_module, "phase_transition", refuse)
    v = validate_phase(phase_config(learner="diffusion", n_reals=(40,), seeds=2, width=32, ratios=(0, 1)))
    row = v.data["rows"][0]
    assert row["bound"] == {"refused": "diffusion: lemma D1 does not cover this scheme"}
    assert [c["n_synth"] for c in row["cells"]] == [0, 40] and all(c["bound_a2"] is None for c in row["cells"])
    assert "bound refused: diffusion: lemma D1 does not cover this scheme" in v.table()
    v.figure()  # draws with an empty bound panel


def test_kde_phase_on_the_units_api_matches_the_kde_validator():
    from boundcalc.validate.kde import validate_kde

    config = phase_config(learner="kde", n_reals=(60,), ratios=(0, 2), seeds=2)
    v = merge(config, [run_unit(u) for u in units(config)])
    from boundcalc.bounds.kde_terms import auto_bandwidth
    from boundcalc.model.targets import bimodal

    cell = v.data["rows"][0]["cells"][1]
    ref = validate_kde(scheme="mix", n_real=60, n_synth=120, generations=2, seeds=2,
                       bandwidth=float(auto_bandwidth(bimodal(), 60)))
    a2 = [run["a"][1] for run in ref.data["runs"]]
    assert cell["a2_mean"] == pytest.approx(sum(a2) / 2, rel=1e-12)


@pytest.mark.parametrize("options, needle", [
    (dict(learner="kde", multiples=(0, 1)), "multiples (--multiples) apply to --learner diffusion"),
    (dict(learner="diffusion", ratios=(1, 2)), "include 0"),
    (dict(learner="diffusion", ratios=(0, 1), multiples=(0, 1)), "not both"),
    (dict(learner="gan"), "learner"),
])
def test_bad_options_are_one_line(options, needle):
    with pytest.raises(BoundcalcError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        phase_config(**options)


def test_cli_learner_diffusion(capsys):
    from boundcalc.cli.main import main

    code = main(["validate", "phase", "--learner", "diffusion", "--n-reals", "40", "--multiples", "0", "1",
                 "--seeds", "2", "--width", "32", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code in (0, 1) and code == (0 if data["passed"] else 1)
    assert data["experiment"] == "diffusion-phase" and math.isfinite(data["achieved_half_width"])


def test_the_diffusion_loop_measured_draws_iid_sets_with_a_binomial_real_count():
    """Generation 2 of every diffusion unit trains on n_real + n_synth i.i.d. draws of q_2: its real count
    varies over seeds around lam (n_real + n_synth) (a Binomial count), unlike a stratified set."""
    config = phase_config(learner="diffusion", n_reals=(40,), ratios=(0.0, 3.0), seeds=12, width=32)
    counts = [run_unit(u)["diffusion"][1]["real_count"] for u in units(config) if u.params[1] > 0]
    n = 40 + 120
    assert len(set(counts)) > 1  # not a fixed count
    mean, var = n * 0.25, n * 0.25 * 0.75
    z = (sum(counts) / len(counts) - mean) / (var / len(counts)) ** 0.5
    assert abs(z) < 4, (counts, z)
