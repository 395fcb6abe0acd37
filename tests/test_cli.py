"""The command line contract of issue 2: JSON keys, readable tables, one-line errors with exit
status 2, byte-identical output, and no torch on the symbolic path."""

import json
import subprocess
import sys

import pytest

from boundcalc.cli.main import main

POWER = ["--learner", "power", "--C", "1", "--alpha", "0.25"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_lemmas_and_show(capsys):
    code, out, _ = run(capsys, "lemmas", "--json")
    ids = [l["id"] for l in json.loads(out)["lemmas"]]
    for lemma_id in ("T1", "T2", "T3", "T4", "T4p", "GTV", "C1", "C2", "C3", "K1", "K1p", "K2", "K3", "K4",
                     "D1", "D2", "D3"):
        assert lemma_id in ids
    code, out, _ = run(capsys, "show", "K1", "--latex")
    assert code == 0 and "\\Delta" in out
    code, out, _ = run(capsys, "show", "T4'", "--json")  # a prime is accepted for p
    assert json.loads(out)["id"] == "T4p"


def test_bound_json_contract(capsys):
    code, out, _ = run(capsys, "bound", "--scheme", "mix", "--generations", "5", "--n-real", "1000",
                       "--n-synth", "3000", *POWER, "--json")
    data = json.loads(out)
    assert code == 0
    assert {"bound", "eps", "final", "closed_form", "assumptions", "provenance", "inputs"} <= set(data)
    assert len(data["bound"]) == len(data["eps"]) == 5 and data["final"] == data["bound"][-1]
    lam = 0.25
    expected = (1 - lam) ** 4 * 1000 ** -0.25 + 4000 ** -0.25 * (1 - (1 - lam) ** 4) / lam
    assert data["final"] == pytest.approx(expected, rel=1e-13)


def test_bound_default_runs_without_options(capsys):
    code, out, _ = run(capsys, "bound")
    assert code == 0 and "final bound a_K <=" in out and "learner kde" in out


def test_bound_table_and_latex(capsys):
    code, out, _ = run(capsys, "bound", "--scheme", "replace", "-K", "3", *POWER)
    assert code == 0 and "a_i (bound)" in out
    code, out, _ = run(capsys, "bound", "--scheme", "replace", "-K", "3", *POWER, "--latex")
    assert out.startswith("a_K \\le") and "n_{\\mathrm{synth}}" in out


def test_solve_json_contract(capsys):
    code, out, _ = run(capsys, "solve", "--for", "n-real", "--target", "0.1", "--scheme", "mix", "-K", "10",
                       "--n-synth", "1000", *POWER, "--json")
    data = json.loads(out)
    assert {"unknown", "value", "achieved", "target", "reachable", "verified"} <= set(data)
    assert data["unknown"] == "n-real" and data["reachable"] and data["verified"]
    assert data["achieved"] <= 0.1


def test_solve_unreachable_is_said_plainly(capsys):
    code, out, _ = run(capsys, "solve", "--for", "n-synth", "--target", "0.05", "--n-real", "10000", *POWER)
    assert code == 0 and "unreachable" in out and "reachable: False" in out


def test_phase_json_contract(capsys):
    code, out, _ = run(capsys, "phase", "--generation", "2", "--n-real", "1000", "--learner", "power",
                       "--C", "1", "--alpha", "0.2", "--json")
    data = json.loads(out)
    assert {"exists", "threshold", "peak", "limit"} <= set(data)
    assert data["exists"] and data["threshold"] / 1000 == pytest.approx(5 ** 1.25 - 1, rel=1e-10)


def test_kde_p0_option_in_solve(capsys):
    code, out, _ = run(capsys, "solve", "--for", "n-real", "--target", "0.2", "--learner", "kde",
                       "--p0", "normal", "--bandwidth", "0.3", "-K", "2", "--json")
    data = json.loads(out)
    assert code == 0 and data["reachable"] and data["verified"]


@pytest.mark.parametrize("argv, needle", [
    (["bound", "--real-fraction", "0"], "real_fraction must be in (0, 1]"),
    (["bound", "--real-fraction", "1.5", "--n-synth", "3"], "n_synth or real_fraction"),
    (["bound", "--delta", "0"], "delta must be in (0, 1)"),
    (["bound", "--delta", "1"], "delta must be in (0, 1)"),
    (["bound", "--n-real", "-5", *POWER], "n_real must be an integer >= 1, got -5"),
    (["bound", "--generations", "2.5", *POWER], "generations must be an integer"),
    (["bound", "--scheme", "swap"], "invalid choice: 'swap'"),
    (["bound", "--learner", "gan"], "invalid choice: 'gan'"),
    (["bound", "--learner", "power"], "needs --C and --alpha"),
    (["bound", "--learner", "kde", "--C", "2"], "--C do(es) not apply to --learner kde"),
    (["solve", "--for", "n-real", "--target", "0.1", "--learner", "power", "--C", "1"], "needs --alpha"),
    (["show", "Z9"], "LEMMA_ID must be one of"),
    (["phase", "--generation", "1", *POWER], "generation must be an integer in [2, 1000000]"),
])
def test_bad_input_one_line_exit_2(capsys, argv, needle):
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_subprocess_error_and_determinism():
    cmd = [sys.executable, "-m", "boundcalc.cli.main", "bound", "--delta", "7"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and proc.stdout == ""
    args = [sys.executable, "-m", "boundcalc.cli.main", "bound", "--scheme", "accumulate", *POWER, "--json"]
    first = subprocess.run(args, capture_output=True)
    second = subprocess.run(args, capture_output=True)
    assert first.returncode == 0 and first.stdout == second.stdout


def test_huge_inputs_stay_finite(capsys):
    code, out, _ = run(capsys, "bound", "--n-real", "1e15", "--n-synth", "1e15", "--delta", "1e-300",
                       "--learner", "kde", "--target", "normal", "--json")
    data = json.loads(out)
    assert code == 0 and all(isinstance(a, float) and 0 < a < 1 for a in data["bound"])


def test_symbolic_path_never_imports_torch():
    code = ("import sys, boundcalc.cli.main as c; "
            "c.main(['bound', '--learner', 'diffusion', '--json']); "
            "c.main(['phase', '--learner', 'power', '--C', '1', '--alpha', '0.2']); "
            "c.main(['lemmas']); "
            "sys.exit(3 if 'torch' in sys.modules else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("target, needle", [
    ("mixture:weights=a,b;means=0,1;scales=1,1", "cannot read weights value 'a'"),
    ("normal:sigma=1e200", "target scales must be positive, in [1e-100, 1e100]"),
    ("normal:sigma=1e-200", "target scales must be positive, in [1e-100, 1e100]"),
    ("normal:sigma=1e-60", "laplacian_l1 must be a finite number"),
    ("normal:mu=nan", "target means must be finite"),
    ("mixture:weights=0.5,0.5;means=0,1;scales=1e-300,1", "target scales must be positive"),
    ("mixture:weights=0.5,0.5;means=0,1;means=0,2;scales=1,1", "means is given twice"),
    ("normal:sigma=0", "target scales must be positive"),
    ("normal:dim=0", "dim must be an integer in [1, 300]"),
])
def test_bad_targets_one_line(capsys, target, needle):
    code = main(["bound", "--target", target, "-K", "2"])
    _, err = capsys.readouterr()
    assert code == 2 and needle in err and err.count("\n") == 1
