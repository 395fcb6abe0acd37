"""Command-line options generated from the parameter table (issue 8 item 3, issue 11): one name
means one thing (old spellings as aliases), conflicting or inapplicable options are refused with
one line, parse errors name the range, command levels without a sub-command print their help."""

import json
import subprocess
import sys

import pytest

from boundcalc.cli import validate_diffusion, validate_kde
from boundcalc.cli.main import build_parser, main

POWER = ["--learner", "power", "--C", "1", "--alpha", "0.25"]


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse errors and --version exit through SystemExit
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, needle):
    assert code == 2, err
    assert needle in err, err
    assert err.count("\n") == 1 and "Traceback" not in err and "usage:" not in err


def test_version(capsys):
    from boundcalc import __version__
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"boundcalc {__version__}"


@pytest.mark.parametrize("argv, usage", [
    ([], "usage: boundcalc [-h] [--version] COMMAND"),
    (["validate"], "usage: boundcalc validate"),
    (["validate", "diffusion"], "usage: boundcalc validate diffusion"),
    (["plot"], "usage: boundcalc plot"),
])
def test_levels_without_subcommand_print_help_to_stdout(capsys, argv, usage):
    code, out, err = run(capsys, *argv)
    assert code == 0 and out.startswith(usage) and err == ""


@pytest.mark.parametrize("argv, needle", [
    (["bound", "--delta", "abc"], "argument --delta: delta must be in (0, 1), got 'abc'"),
    (["bound", "--n-real", "ten"], "argument --n-real: n_real must be an integer >= 1, got 'ten'"),
    (["bound", "--n-real", "2.5"], "n_real must be an integer >= 1, got 2.5"),
    (["bound", "--n-real", "-1e3"], "n_real must be an integer >= 1, got -1000"),
    (["bound", *POWER[:-2], "--alpha", "-inf"], "alpha must be in (0, inf), got -inf"),
    (["bound", "-K", "nan"], "generations must be an integer in [1, 1000000] (a size guard: the bound is composed generation by "
                              "generation), got nan"),
    (["bound", "--sizes", "5,x", "--scheme", "schedule"], "sizes must be comma-separated integers >= 1"),
    (["bound", "--n-real", "١٢"], "n_real must be an integer >= 1"),  # unicode digits are not numbers
    (["solve", "--for", "n-real", "--target", "2", *POWER], "target must be in (0, 1], got 2"),
    (["phase", "--previous-tv", "-0.5", *POWER], "previous_tv must be in [0, 1], got -0.5"),
    (["optimum", "tau", "--n", "0"], "n must be an integer >= 1, got 0"),
    (["validate", "kde", "--bandwidth", "wide"], "bandwidth must be in (0, inf) or 'per-generation' or 'auto'"),
    (["validate", "diffusion", "loop", "--tau", "soon"], "tau must be in [0, inf) or 'held-out' or 'auto'"),
])
def test_parse_errors_name_the_range(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    one_line_error(code, err, needle)


@pytest.mark.parametrize("argv, needle", [
    (["bound", "--json", "--latex", *POWER], "--json and --latex cannot be given together"),
    (["bound", "--learner", "diffusion", "--width", "64", "--width-ratio", "2"], "width (m) or width_ratio"),
    (["optimum", "tau", "--width", "64", "--width-ratio", "2"], "--width and --width-ratio cannot be given together"),
    (["optimum", "bandwidth", "--c-stat", "2"], "--c-stat do(es) not apply to optimum bandwidth"),
    (["optimum", "tau", "--p0", "normal"], "--p0 do(es) not apply to optimum tau"),
    (["bound", "--real-fractions", "0.5", *POWER], "applies to the schedule scheme, not mix"),
    (["bound", "--schedule-fractions", "0.5", *POWER], "applies to the schedule scheme, not mix"),
    (["bound", "--sizes", "100", *POWER], "sizes (--sizes) applies to the schedule scheme, not mix"),
    (["bound", "--scheme", "schedule", "--schedule-fractions", "0.5", "--n-synth", "5", *POWER],
     "n_synth (--n-synth) does not apply to the schedule scheme"),
    (["solve", "--for", "n-real", "--target", "0.1", "--n-real", "500", *POWER], "--n-real gives a value to the unknown"),
    (["solve", "--for", "n-synth", "--target", "0.1", "--n-synth", "500", *POWER], "--n-synth gives a value"),
    (["solve", "--for", "generations", "--target", "0.1", "-K", "5", *POWER], "-K gives a value to the unknown"),
    (["solve", "--for", "real-fraction", "--target", "0.1", "--real-fraction", "0.5", *POWER],
     "--real-fraction gives a value"),
    (["solve", "--for", "n-real", "--target", "0.1", "--max-generations", "5", *POWER],
     "--max-generations applies to --for generations only"),
    (["phase", "--n-synth-before", "100", "--previous-tv", "0.3", *POWER],
     "--n-synth-before and --previous-tv cannot be given together"),
    (["validate", "diffusion", "phase", "--generations", "3"], "--generations does not apply to validate diffusion phase"),
    (["validate", "diffusion", "loop", "--n-synth-ratios", "1,2"], "--n-synth-ratios does not apply"),
    (["validate", "diffusion", "phase", "--mix-fractions", "0.5"], "--mix-fractions does not apply"),
    (["validate", "kde", "--scheme", "mix", "--schedule-fractions", "0.5"], "--schedule-fractions applies to --scheme schedule"),
    (["validate", "kde", "--scheme", "replace", "--real-fraction", "0.5"], "--real-fraction applies to --scheme mix"),
])
def test_conflicting_or_inapplicable_options_are_refused(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    one_line_error(code, err, needle)


def test_old_spellings_are_aliases(capsys):
    parser = build_parser()
    # bound: --real-fractions is the schedule list, now --schedule-fractions
    base = ["bound", "--scheme", "schedule", "-K", "3", *POWER, "--json"]
    assert main(base + ["--real-fractions", "0.5,0.25"]) == 0
    old = json.loads(capsys.readouterr().out)
    assert main(base + ["--schedule-fractions", "0.5,0.25"]) == 0
    new = json.loads(capsys.readouterr().out)
    assert old == new and old["inputs"]["scheme"]["real_fractions"] == [0.5, 0.25]
    # validate kde: one --real-fractions value under mix is mix's real fraction; --bandwidth auto is per-generation
    a = validate_kde.config_from_args(parser.parse_args(["validate", "kde", "--scheme", "mix", "--real-fractions", "0.25",
                                                         "--bandwidth", "auto"]))
    b = validate_kde.config_from_args(parser.parse_args(["validate", "kde", "--scheme", "mix", "--real-fraction", "0.25",
                                                         "--bandwidth", "per-generation"]))
    assert a == b and a.real_fractions == (0.25,) and a.bandwidth == "auto"
    # validate diffusion: --real-fractions is --mix-fractions; --tau auto is --tau held-out
    a = validate_diffusion.options_from_args(parser.parse_args(
        ["validate", "diffusion", "loop", "--real-fractions", "0.3,0.6", "--tau", "auto"]), "loop")
    b = validate_diffusion.options_from_args(parser.parse_args(
        ["validate", "diffusion", "loop", "--mix-fractions", "0.3,0.6", "--tau", "held-out"]), "loop")
    assert a.to_dict() == b.to_dict() and a.real_fractions == (0.3, 0.6)


def test_defaults_per_command_come_from_the_table():
    from boundcalc._checks import PARAMETERS
    parser = build_parser()
    for argv, command in ((["bound"], "bound"), (["validate", "kde"], "validate kde")):
        args = parser.parse_args(argv)
        for name in ("scheme", "generations", "n_real", "delta", "real_data"):
            assert getattr(args, name) == PARAMETERS[name].default(command), (command, name)
    args = parser.parse_args(["validate", "diffusion", "loop"])
    assert (args.n_real, args.seeds, args.real_fractions) == (500, 3, (0.2, 0.5, 0.8))


def test_phase_previous_tv_one_is_vacuous(capsys):
    """Issue 11: ``phase --previous-tv 1`` was reported as a transition."""
    code, out, _ = run(capsys, "phase", "--previous-tv", "1", "--learner", "power", "--C", "1", "--alpha", "0.2",
                       "--json")
    data = json.loads(out)
    assert code == 0 and data["vacuous"] is True and data["exists"] is False and data["threshold"] is None
    # f(s) = (n + s)^-0.2 + s / (n + s) peaks above 1 (TV <= 1 says nothing there)
    n, s = 10_000.0, data["checks"]["threshold_of_the_bound"]
    assert (n + s) ** -0.2 + s / (n + s) == pytest.approx(data["peak"], rel=1e-9) and data["peak"] > 1
    code, out, _ = run(capsys, "phase", "--previous-tv", "1", "--learner", "power", "--C", "1", "--alpha", "0.2")
    assert "vacuous" in out and "exists:     False" in out
    # a genuine transition stays one
    code, out, _ = run(capsys, "phase", "--previous-tv", "0.3", "--learner", "power", "--C", "1", "--alpha", "0.2",
                       "--json")
    data = json.loads(out)
    assert data["exists"] and not data["vacuous"] and data["peak"] < 1


def test_negative_numbers_are_values_not_options(capsys):
    code, _, err = run(capsys, "bound", "--holder-beta", "-1e3", "--learner", "kde")
    one_line_error(code, err, "holder_beta must be in (0, 2], got -1000")
    code, _, err = run(capsys, "bound", "--c-mc", "-inf", "--learner", "diffusion")
    one_line_error(code, err, "c_mc must be in [0, inf), got -inf")


def test_version_from_a_subprocess():
    proc = subprocess.run([sys.executable, "-m", "boundcalc", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("boundcalc ")


def test_lemma_json_says_what_it_is(capsys):
    from boundcalc import __version__
    assert main(["lemmas", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "lemmas" and data["boundcalc_version"] == __version__ and data["schema_version"] == 1
    assert data["lemma_ids"] == [l["id"] for l in data["lemmas"]]
    assert main(["show", "K2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "lemma" and data["id"] == "K2" and data["lemma_ids"] == ["K2"]


def test_schedule_without_real_data_has_a_closed_form(capsys):
    """A constant schedule with real fraction 0 ended in ZeroDivisionError (the mix closed form divides by lam)."""
    code, out, _ = run(capsys, "bound", "--scheme", "schedule", "--schedule-fractions", "0", "-K", "4", *POWER, "--json")
    data = json.loads(out)
    assert code == 0 and data["final"] == pytest.approx(4 * 10_000 ** -0.25, rel=1e-12)
    assert data["closed_form_value"] == pytest.approx(data["final"], rel=1e-12)
