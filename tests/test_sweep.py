"""Sweeps in one process: the spec, the seeds of the tasks, the table, failures, resume, the report,
the command line and the lazy imports.  (The Dask cluster tests are in test_sweep_cluster.py.)"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from boundcalc._checks import BoundcalcError
from boundcalc.cli.main import main
from boundcalc.cli.sweep import commands
from boundcalc.sweep import Command, TaskOutput, load_spec, read_results, run, write_report
from boundcalc.sweep.progress import SweepProgress
from boundcalc.sweep.spec import expand_axis
from boundcalc.sweep.tasks import RUN_COLUMNS, seed_sequence

KDE_SPEC = """
command = "validate kde"
seeds = 3
base_seed = 11
[fixed]
scheme = "mix"
generations = 2
[axes]
n_real = [100, 200, 300]
n_synth = [0, 200]
"""


def result_columns(table):
    return [c for c in table.column_names if c not in RUN_COLUMNS]


def column_bytes(table, name) -> bytes:
    """The Arrow IPC bytes of one column (byte-for-byte comparison, NaN included)."""
    import pyarrow as pa

    t = pa.table({name: table.column(name).combine_chunks()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as writer:
        writer.write_table(t)
    return sink.getvalue().to_pybytes()


def assert_same_results(a, b):
    assert result_columns(a) == result_columns(b)
    for name in result_columns(a):
        assert column_bytes(a, name) == column_bytes(b, name), name


# -- the spec -------------------------------------------------------------------------------------
def test_axes_lists_ranges_and_log_ranges():
    assert expand_axis("x", [3, "a", 1.5]) == [3, "a", 1.5]
    assert expand_axis("x", {"start": 0, "stop": 800, "step": 200}) == [0, 200, 400, 600, 800]
    assert expand_axis("x", {"start": 0.1, "stop": 0.3, "step": 0.1}) == pytest.approx([0.1, 0.2, 0.3])
    assert expand_axis("x", {"start": 1.0, "stop": 2.0, "num": 3}) == [1.0, 1.5, 2.0]
    logs = expand_axis("x", {"start": 0.01, "stop": 1.0, "num": 3, "log": True})
    assert logs == pytest.approx([0.01, 0.1, 1.0]) and logs[-1] == 1.0
    # integers: rounded, repeated values dropped (10^(0, 0.25, ..., 1) -> 1, 2, 3, 6, 10)
    assert expand_axis("x", {"start": 1, "stop": 10, "num": 5, "log": True}) == [1, 2, 3, 6, 10]


@pytest.mark.parametrize("axis, words", [
    ([], "empty list"), ({"start": 0, "stop": 1}, "exactly one of step or num"),
    ({"start": 0, "stop": 1, "step": -1}, "does not lead"), ({"start": 0, "stop": 1, "num": 3, "log": True}, "start > 0"),
    ({"start": 0, "stop": 1, "num": 0}, "num must be"), ({"start": 0, "stop": 1, "steps": 2}, "unknown key"),
])
def test_bad_axes_are_one_line_errors(axis, words):
    with pytest.raises(BoundcalcError, match=words):
        expand_axis("n_real", axis)


@pytest.mark.parametrize("text, words", [
    ("seeds = 2", "command is missing"),
    ('command = "bound"\nseeds = 0', "seeds must be an integer >= 1"),
    ('command = "bound"\n[fixed]\nseed = 3', "not an option of a task"),
    ('command = "bound"\n[fixed]\nn_real = 5\n[axes]\nn_real = [1, 2]', "both fixed and an axis"),
    ('command = "bound"\n[report]\nx = "n_real"', "not an axis"),
    ('command = "bound"\ncolour = 1', "unknown key"),
    ('command = "bound"\n[axes', "not valid TOML"),
])
def test_bad_specs_are_one_line_errors(text, words):
    with pytest.raises(BoundcalcError, match=words):
        load_spec(text + "\n")


def test_tasks_are_configurations_times_seeds_in_row_major_order():
    spec = load_spec(KDE_SPEC)
    tasks = spec.tasks()
    assert len(tasks) == 3 * 2 * 3
    assert [(t.config_index, t.seed_index) for t in tasks[:4]] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert tasks[3].options == {"scheme": "mix", "generations": 2, "n_real": 100, "n_synth": 200}
    assert len({t.key for t in tasks}) == len(tasks)


def test_seed_sequence_is_base_and_index():
    assert list(seed_sequence(11, 4).generate_state(4)) == list(np.random.SeedSequence([11, 4]).generate_state(4))


# -- running, seeds, failures, resume ---------------------------------------------------------------
@pytest.fixture(scope="module")
def kde_sweep(tmp_path_factory):
    """The folder of KDE_SPEC run serially once (shared by the tests that only read it)."""
    folder = tmp_path_factory.mktemp("kde") / "s"
    result = run(KDE_SPEC, commands(), folder, executor="serial", progress=False)
    assert (result.total, result.ran, result.failed) == (18, 18, 0)
    return folder


def test_unit_k_is_seed_k_of_the_validator_common_random_numbers(kde_sweep):
    """Row (configuration, k) of a validate-kde sweep holds the same loop as seed k of
    `boundcalc validate kde --seed BASE`: SeedSequence([BASE, k]) whatever the configuration."""
    from boundcalc.validate.kde import KDEValidationConfig, validate_kde

    rows = [r for r in read_results(kde_sweep).to_pylist() if r["in_n_real"] == 200 and r["in_n_synth"] == 200]
    direct = validate_kde(KDEValidationConfig(scheme="mix", generations=2, n_real=200, n_synth=200, seeds=3, seed=11),
                          progress=False).data
    assert [r["seed_index"] for r in rows] == [0, 1, 2]
    for row, run_ in zip(rows, direct["runs"]):
        assert row["out_a"] == run_["a"] and row["out_composed_bound"] == run_["composed_bound"]
        assert row["out_a_final"] == run_["a"][-1]
        assert row["status"] == "ok" and row["checks_passed"] in (True, False)
        record = json.loads(row["result"])["record"]  # the validator's own unit record
        assert record["unit"] == f"seed{row['seed_index']}" and record["a"] == run_["a"]
        assert row["device"] == "cpu" and json.loads(row["versions"])["numpy"] == np.__version__
        assert "torch" not in json.loads(row["versions"])  # whatever this process imported before
    # the real samples of seed k are the same in every configuration: generation 1 of mix trains
    # on the n_real real samples only, so a_1 does not depend on n_synth up to the grid (which is
    # chosen for all bandwidths of the run: ~1e-5 here), while two seeds differ by ~1e-2
    same_n = [r for r in read_results(kde_sweep).to_pylist() if r["in_n_real"] == 300]
    by_seed = {}
    for r in same_n:
        by_seed.setdefault(r["seed_index"], []).append(r["out_a"][0])
    for values in by_seed.values():
        assert values[0] == pytest.approx(values[1], rel=1e-4, abs=0)
    firsts = sorted(v[0] for v in by_seed.values())
    assert min(np.diff(firsts)) > 1e-3


def _flaky(options, base_seed, seed_index):
    if options["x"] == 2 and seed_index == 1:
        raise ValueError("x = 2 is\nnot allowed\n  for seed 1")
    rng = np.random.default_rng(np.random.SeedSequence([base_seed, seed_index]))
    return TaskOutput(metrics={"a_final": float(options["x"] * rng.random()), "bound_final": float(options["x"]),
                               "path": [1.0, None, 3.0]}, checks=[{"name": "fine", "passed": True}])


FLAKY = {"flaky": Command("flaky", _flaky, ("x", "y"))}
FLAKY_SPEC = {"command": "flaky", "seeds": 2, "base_seed": 5, "fixed": {"y": "z"}, "axes": {"x": [1, 2, 3]}}


def test_a_failing_task_is_a_row_with_its_error_and_the_others_run(tmp_path):
    result = run(FLAKY_SPEC, FLAKY, tmp_path / "f", executor="serial")
    assert (result.ran, result.failed) == (6, 1)
    rows = read_results(tmp_path / "f").to_pylist()
    bad = [r for r in rows if r["status"] == "failed"]
    assert len(bad) == 1 and (bad[0]["in_x"], bad[0]["seed_index"]) == (2, 1)
    assert bad[0]["error"] == "ValueError: x = 2 is not allowed for seed 1"
    assert bad[0]["out_a_final"] is None and "Traceback" in bad[0]["traceback"]
    good = [r for r in rows if r["status"] == "ok"]
    expected = [x * np.random.default_rng(np.random.SeedSequence([5, k])).random() for x in (1, 2, 3) for k in (0, 1)
                if (x, k) != (2, 1)]
    assert [r["out_a_final"] for r in good] == expected
    assert good[0]["out_path"] == [1.0, None, 3.0] and good[0]["error"] is None
    # a resumed sweep keeps the failure; --retry-failed runs it again (and it fails again)
    again = run(FLAKY_SPEC, FLAKY, tmp_path / "f", executor="serial", resume=True)
    assert again.ran == 0 and again.skipped == 6
    retried = run(FLAKY_SPEC, FLAKY, tmp_path / "f", executor="serial", resume=True, retry_failed=True)
    assert (retried.ran, retried.failed) == (1, 1)
    assert read_results(tmp_path / "f").num_rows == 6


def test_interrupted_sweep_keeps_its_rows_and_resume_runs_only_the_missing(kde_sweep, tmp_path):
    seen = []

    def stop_after_five(row):
        seen.append(row["task_key"])
        if len(seen) == 5:
            raise KeyboardInterrupt

    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        run(KDE_SPEC, commands(), cut, executor="serial", on_row=stop_after_five, flush_seconds=60)
    kept = read_results(cut)
    assert kept.column("task_key").to_pylist() == seen  # all five finished rows were written
    assert not list((cut / "parts").glob("*.parquet"))  # and compacted
    ran = []
    resumed = run(KDE_SPEC, commands(), cut, executor="serial", resume=True, on_row=lambda r: ran.append(r["task_key"]))
    assert (resumed.skipped, resumed.ran) == (5, 13) and not set(ran) & set(seen)
    assert_same_results(read_results(cut), read_results(kde_sweep))


def test_resume_refuses_another_spec_and_a_used_folder_needs_resume(tmp_path):
    run(FLAKY_SPEC, FLAKY, tmp_path / "f", executor="serial")
    with pytest.raises(BoundcalcError, match="already holds a sweep"):
        run(FLAKY_SPEC, FLAKY, tmp_path / "f", executor="serial")
    with pytest.raises(BoundcalcError, match="another spec"):
        run({**FLAKY_SPEC, "seeds": 3}, FLAKY, tmp_path / "f", executor="serial", resume=True)


def test_bad_configurations_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(BoundcalcError, match="n_real"):
        run(KDE_SPEC.replace("[100, 200, 300]", "[100, -3]"), commands(), tmp_path / "x", executor="serial")
    with pytest.raises(BoundcalcError, match="unknown option"):
        run({"command": "validate kde", "fixed": {"colour": 1}}, commands(), tmp_path / "y", executor="serial")
    with pytest.raises(BoundcalcError, match="is not one of"):
        run({"command": "validate nothing"}, commands(), tmp_path / "z", executor="serial")
    with pytest.raises(BoundcalcError, match="deterministic"):
        run({"command": "bound", "seeds": 2}, commands(), tmp_path / "w", executor="serial")
    assert not (tmp_path / "x").exists()


def test_bound_command_rows_equal_the_bound_api(tmp_path):
    """Power law, replace scheme: a_K = sum_{i<=K} C N^-alpha (each generation adds its eps)."""
    spec = {"command": "bound", "fixed": {"learner": "power", "C": 2.0, "alpha": 0.5, "scheme": "replace",
                                          "generations": 3}, "axes": {"n_real": [100, 10_000]}}
    run(spec, commands(), tmp_path / "b", executor="serial")
    rows = read_results(tmp_path / "b").to_pylist()
    assert [r["out_bound_final"] for r in rows] == pytest.approx([3 * 2.0 / 10, 3 * 2.0 / 100], rel=1e-12)
    assert rows[0]["out_bound"] == pytest.approx([0.2, 0.4, 0.6], rel=1e-12)


# -- report -------------------------------------------------------------------------------------------
def test_report_means_intervals_ratio_and_figures(tmp_path):
    run(FLAKY_SPEC, FLAKY, tmp_path / "f", executor="serial")
    report = write_report(tmp_path / "f", tmp_path / "rep")
    c2 = next(c for c in report.configurations if c["axes"]["x"] == 2)
    assert (c2["ok"], c2["failed"]) == (1, 1) and c2["metrics"]["a_final"]["count"] == 1
    c3 = next(c for c in report.configurations if c["axes"]["x"] == 3)
    draws = [3 * np.random.default_rng(np.random.SeedSequence([5, k])).random() for k in (0, 1)]
    s = c3["metrics"]["a_final"]
    assert s["mean"] == pytest.approx(np.mean(draws))
    # two values: the resampled means are min, the midpoint and max with probabilities 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% quantiles of the bootstrap percentile interval are min and max exactly
    assert (s["ci95_low"], s["ci95_high"]) == (min(draws), max(draws))
    assert c3["metrics"]["ratio"]["mean"] == pytest.approx(np.mean(draws) / 3)
    assert c3["series"]["path"] == [1.0, None, 3.0]
    assert sorted(p.name for p in report.files) == ["curves_x.png", "report.json"]
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["configurations"][2]["axes"] == {"x": 3}


def test_report_draws_the_phase_diagram_over_two_axes(tmp_path):
    spec = {"command": "flaky", "seeds": 2, "axes": {"x": [1, 3], "y": [0.5, 1.5]}, "report": {"x": "y", "y": "x"}}
    run(spec, FLAKY, tmp_path / "p", executor="serial")
    report = write_report(tmp_path / "p" / "results.parquet", tmp_path / "rep")
    names = sorted(p.name for p in report.files)
    assert names == ["curves_x.png", "curves_y.png", "phase_diagram.png", "report.json"]
    assert (tmp_path / "rep" / "phase_diagram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- command line, progress, imports ----------------------------------------------------------------
def test_cli_sweep_and_report(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('command = "bound"\n[fixed]\nlearner = "power"\nC = 1.0\nalpha = 0.5\n'
                    '[axes]\nn_synth = [0, 100, -1]\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--executor", "serial", "--json"]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out)["failed"] == 1 and out.err == ""
    rows = read_results(tmp_path / "o").to_pylist()
    assert "n_synth" in rows[2]["error"] and rows[2]["status"] == "failed"
    assert main(["sweep", "report", str(tmp_path / "o"), "--out", str(tmp_path / "r")]) == 0
    text = capsys.readouterr().out
    assert "3 configurations, 3 rows (1 failed)" in text and "curves_n_synth.png" in text


@pytest.mark.parametrize("argv, words", [
    (["sweep"], "give a spec"), (["sweep", "s.toml"], "--out DIR is required"),
    (["sweep", "report", "--out", "x"], "needs RESULTS"),
    (["sweep", "s.toml", "--out", "o", "--executor", "serial", "--workers", "2"], "neither --scheduler"),
    (["sweep", "s.toml", "--out", "o", "--retry-failed"], "needs --resume"),
    (["sweep", "missing.toml", "--out", "o"], "cannot be read"),
])
def test_cli_bad_input_is_one_line_and_status_2(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text('command = "bound"\n')
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_progress_line_counts_done_failed_elapsed_and_eta():
    stream = io.StringIO()
    bar = SweepProgress(4, "sweep x", enabled=True, stream=stream)
    bar.update(1)
    bar.update(1, failed=1)
    line = bar.line()
    assert "2/4 done, 1 failed" in line and "elapsed" in line and "left" in line
    assert SweepProgress(3, enabled=False, stream=stream).enabled is False
    silent = io.StringIO()
    quiet = SweepProgress(3, stream=silent)  # stdout is not a terminal under pytest
    quiet.update(3)
    quiet.close()
    assert silent.getvalue() == ""


def test_the_symbolic_path_imports_neither_dask_nor_pyarrow():
    code = ("import sys, boundcalc\nfrom boundcalc.cli.main import main\nmain(['bound', '--json'])\n"
            "import boundcalc.sweep\nboundcalc.sweep.load_spec('command = \"bound\"')\n"
            "bad = [m for m in ('dask', 'distributed', 'pyarrow', 'torch') if m in sys.modules]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_bc_sweep_is_the_subpackage_and_the_function(tmp_path):
    import boundcalc as bc

    assert bc.sweep.load_spec is load_spec
    result = bc.sweep({"command": "bound", "axes": {"n_real": [1000]}}, out=tmp_path / "o", executor="serial")
    assert result.ran == 1 and math.isfinite(read_results(tmp_path / "o").column("out_bound_final")[0].as_py())


def test_phase_and_solve_commands_against_closed_forms(tmp_path):
    """Power law eps(N) = C N^-alpha, generation 2 of mix with a_1 = C n^-alpha: the threshold is
    s* = (a_1 n / (alpha C))^(1 / (1 - alpha)) - n; solving a_K <= t for n_real with no synthetic
    data gives n = (C / t)^(1 / alpha)."""
    spec = {"command": "phase", "fixed": {"learner": "power", "C": 1.0},
            "axes": {"alpha": [0.25, 0.5], "n_real": [100, 1000]}}
    run(spec, commands(), tmp_path / "p", executor="serial")
    for r in read_results(tmp_path / "p").to_pylist():
        a, n = r["in_alpha"], r["in_n_real"]
        expected = (n ** -a * n / a) ** (1 / (1 - a)) - n
        assert r["out_exists"] is True and r["out_threshold"] == pytest.approx(expected, rel=1e-9)
    spec = {"command": "solve", "fixed": {"learner": "power", "C": 1.0, "alpha": 0.5, "unknown": "n-real",
                                          "n_synth": 0}, "axes": {"target": [0.05, 0.01]}}
    run(spec, commands(), tmp_path / "s", executor="serial")
    assert read_results(tmp_path / "s").column("out_value").to_pylist() == [400.0, 10000.0]
