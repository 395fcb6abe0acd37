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


@pytest.mark.torch
def test_diffusion_loop_adapter_runs_seed_k_as_the_command_line(tmp_path, capsys):
    pytest.importorskip("torch")
    from boundcalc.sweep import derived_seed

    options = ["--scheme", "replace", "--n-real", "64", "--generations", "2", "--width", "16", "--steps", "5",
               "--grid-size", "128", "--tau", "50"]
    spec = tmp_path / "d.toml"
    spec.write_text('command = "validate diffusion loop"\nseeds = 2\nbase_seed = 3\n'
                    '[fixed]\nscheme = "replace"\nn_real = 64\ngenerations = 2\nwidth = 16\nsteps = 5\n'
                    'grid_size = 128\ntau = 50\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--executor", "serial", "--json"]) == 0
    capsys.readouterr()
    rows = read_results(tmp_path / "o").to_pylist()
    assert main(["validate", "diffusion", "loop", *options, "--seeds", "1", "--seed", str(derived_seed(3, 1)),
                 "--json"]) in (0, 1)
    direct = json.loads(capsys.readouterr().out)
    assert rows[1]["out_a"] == [g["a"] for g in direct["schemes"][0]["runs"][0]]
    assert rows[0]["out_a"] != rows[1]["out_a"] and rows[1]["device"] == "cpu"
    assert "torch" in json.loads(rows[1]["versions"])
