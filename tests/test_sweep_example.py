"""The example spec of the README runs (serially here), and its report draws the phase diagram;
the diffusion adapter runs seed k as the validator's own command line does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boundcalc.cli.main import main
from boundcalc.sweep import load_spec, read_results

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sweep-phase.toml"


def test_the_readme_example_runs_and_reports(tmp_path, capsys):
    """The example with 2 of its 3 seeds (to keep the suite short; the README's run uses all 3)."""
    spec = load_spec(EXAMPLE)
    assert len(spec.tasks()) == 36 and spec.axes["n_real"] == [200, 400, 800]
    small = tmp_path / "small.toml"
    small.write_text(EXAMPLE.read_text().replace("seeds = 3", "seeds = 2"))
    out = tmp_path / "sweep-phase"
    assert main(["sweep", str(small), "--out", str(out), "--executor", "serial"]) == 0
    assert main(["sweep", "report", str(out), "--out", str(out / "report")]) == 0
    printed = capsys.readouterr().out
    assert "12 configurations, 24 rows (0 failed)" in printed
    assert (out / "report" / "phase_diagram.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((out / "report" / "report.json").read_text())
    # one cell against the validator run on its own (2 seeds of base seed 2024)
    assert main(["validate", "kde", "--scheme", "mix", "--generations", "3", "--n-real", "400", "--n-synth", "800",
                 "--seeds", "2", "--seed", "2024", "--json"]) in (0, 1)
    raw = capsys.readouterr().out
    direct = json.loads(raw)
    cell = next(c for c in report["configurations"] if c["axes"] == {"n_synth": 800, "n_real": 400})
    assert cell["metrics"]["a_final"]["mean"] == pytest.approx(direct["summary"]["a"]["mean"][-1], rel=1e-12)
    assert cell["metrics"]["a_final"]["ci95_low"] == pytest.approx(direct["summary"]["a"]["ci95_low"][-1], rel=1e-12)
    # the report's merged JSON of that configuration is the validator's own output, byte for byte
    merged = out / "report" / "merged" / f"config-{cell['config_index']:04d}.json"
    assert merged.read_text() == raw
    rows = [r for r in read_results(out).to_pylist() if r["in_n_real"] == 400 and r["in_n_synth"] == 800]
    assert [r["out_bound_final"] for r in rows] == [run["composed_bound"][-1] for run in direct["runs"]]


#: tiny settings of each diffusion experiment (TOML lines of [fixed], command-line options)
DIFFUSION = {
    "loop": ('scheme = "replace"\nn_real = 64\ngenerations = 2\nwidth = 16\nsteps = 5\ngrid_size = 128\ntau = 50\n',
             ["--scheme", "replace", "--n-real", "64", "--generations", "2", "--width", "16", "--steps", "5",
              "--grid-size", "128", "--tau", "50"]),
    "phase": ('n_real = 48\nn_synth_ratios = [0.0, 1.0]\nwidth = 16\nsteps = 5\ngrid_size = 128\ntau = 50\n',
              ["--n-real", "48", "--n-synth-ratios", "0,1", "--width", "16", "--steps", "5", "--grid-size", "128",
               "--tau", "50"]),
    "early-stopping": ('ns = [16, 32]\nsteps = 5\ngrid_size = 128\n',
                       ["--ns", "16,32", "--steps", "5", "--grid-size", "128"]),
}


@pytest.mark.torch
@pytest.mark.parametrize("experiment", sorted(DIFFUSION))
def test_diffusion_rows_are_the_validators_units_and_merge_to_its_output(tmp_path, capsys, experiment):
    """Row k of a `validate diffusion <experiment>` sweep holds the validator's own units of seed
    index k (base seed 3), and the report's merged file of the configuration is, byte for byte,
    `boundcalc validate diffusion <experiment> --seeds 2 --seed 3 --json`."""
    pytest.importorskip("torch")
    fixed, options = DIFFUSION[experiment]
    spec = tmp_path / "d.toml"
    spec.write_text(f'command = "validate diffusion {experiment}"\nseeds = 2\nbase_seed = 3\n[fixed]\n{fixed}')
    out = tmp_path / "o"
    assert main(["sweep", str(spec), "--out", str(out), "--executor", "serial", "--json"]) == 0
    assert main(["sweep", "report", str(out), "--out", str(out / "report"), "--json"]) == 0
    capsys.readouterr()
    rows = read_results(out).to_pylist()
    assert main(["validate", "diffusion", experiment, *options, "--seeds", "2", "--seed", "3", "--json"]) in (0, 1)
    raw = capsys.readouterr().out
    assert (out / "report" / "merged" / "config-0000.json").read_text() == raw
    direct = json.loads(raw)
    if experiment == "loop":
        assert rows[1]["out_a"] == [g["a"] for g in direct["schemes"][0]["runs"][1]]
        assert rows[0]["out_a"] != rows[1]["out_a"]
    assert [r["seed_index"] for r in rows] == [0, 1]
    assert all(r["device"] == "cpu" and "torch" in json.loads(r["versions"]) for r in rows)
