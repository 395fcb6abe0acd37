"""``--out`` and ``--name`` on the command line (plot, latex, validate kde, validate diffusion).

Regression tests for: ``--out ''`` writing into the current folder; ``plot --name ../../x`` writing
outside ``--out``; tracebacks for an ``--out`` whose parent is a file or that lies under /proc or
/sys; two runs into one ``--out`` at once; a re-run silently overwriting a result without
``--resume``; files created with mode 0600.  Every refusal is one line naming --out (or --name),
exit status 2, and nothing is written.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from boundcalc.cli.main import main

POWER = ["--learner", "power", "--C", "1", "--alpha", "0.25"]
PLOT = ["plot", "generations", "-K", "3", *POWER, "--format", "png"]
KDE = ["validate", "kde", "--seeds", "1", "--generations", "1", "--n-real", "60", "--grid-size", "512"]
DIFFUSION = ["validate", "diffusion", "loop", "--scheme", "replace", "--n-real", "40", "--generations", "1",
             "--seeds", "1", "--width", "16", "--steps", "8", "--grid-size", "128"]


def run(capsys, *argv):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    out = capsys.readouterr()
    return status, out.out, out.err


def assert_refused(result, *words):
    status, out, err = result
    lines = [l for l in err.splitlines() if l.strip()]
    assert status == 2 and len(lines) == 1, (status, err)
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _unwritable(tmp_path) -> dict:
    """Places no one can write, even root: a folder under a file, /proc, /sys."""
    parent = tmp_path / "a_file"
    parent.write_text("x")
    places = {"parent is a file": parent / "sub", "under /proc": Path("/proc/boundcalc-test/out")}
    if Path("/sys/kernel").is_dir():
        places["under /sys"] = Path("/sys/boundcalc-test")
    return places


# --- plot ---------------------------------------------------------------------------------------

def test_plot_refuses_an_empty_out_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_refused(run(capsys, *PLOT, "--out", ""), "--out", "empty")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../../x", "../x", "sub/x", "/tmp/x", ".."])
def test_plot_names_cannot_leave_out(tmp_path, capsys, name):
    out = tmp_path / "a" / "b"
    assert_refused(run(capsys, *PLOT, "--out", out, "--name", name), "--name", "plain file name")
    assert list(tmp_path.rglob("*")) == []  # nothing written anywhere, not even --out


def test_plot_unwritable_out_is_one_line(tmp_path, capsys):
    for what, place in _unwritable(tmp_path).items():
        line = assert_refused(run(capsys, *PLOT, "--out", place), f"--out {place}")
        assert "cannot write there" in line or "not a folder" in line, (what, line)


def test_plot_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "f"
    target.write_text("keep")
    assert_refused(run(capsys, *PLOT, "--out", target), f"--out {target}", "not a folder")
    assert target.read_text() == "keep"


def test_a_second_plot_into_a_busy_out_is_refused(locked_folder, capsys):
    assert_refused(run(capsys, *PLOT, "--out", locked_folder), f"--out {locked_folder} is in use by another boundcalc run")
    assert list(locked_folder.iterdir()) == []


def test_two_commands_at_once_one_refused(tmp_path):
    """Two real processes: while ``validate kde`` runs, ``plot`` into the same --out is refused."""
    out = tmp_path / "shared"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    slow = subprocess.Popen([sys.executable, "-m", "boundcalc", "validate", "kde", "--seeds", "40",
                             "--generations", "4", "--n-real", "2000", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for _ in range(600):  # wait until the first run has created and locked the folder
            if out.is_dir():
                break
            if slow.poll() is not None:
                pytest.fail(f"the first run ended early: {slow.stderr.read()}")
            time.sleep(0.05)
        time.sleep(0.5)  # the lock follows the folder's creation within microseconds
        second = subprocess.run([sys.executable, "-m", "boundcalc", *PLOT, "--out", str(out)],
                                capture_output=True, text=True, env=env)
        if slow.poll() is not None:
            pytest.skip("the first run finished before the second started (machine too fast)")
        assert second.returncode == 2, second
        assert second.stderr.strip().endswith(f"--out {out} is in use by another boundcalc run; wait for it to "
                                              "finish or choose another folder")
        assert second.stderr.count("\n") == 1
    finally:
        slow.kill()
        slow.wait(timeout=30)


@pytest.mark.skipif(os.name != "posix", reason="umask is POSIX")
def test_plot_and_latex_files_follow_the_umask(tmp_path, capsys):
    saved = os.umask(0o022)
    try:
        assert run(capsys, *PLOT, "--out", tmp_path / "p")[0] == 0
        assert run(capsys, "latex", "--markdown", "--out", tmp_path / "doc.md")[0] == 0
    finally:
        os.umask(saved)
    for path in (tmp_path / "p" / "generations.png", tmp_path / "doc.md"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# --- latex --------------------------------------------------------------------------------------

def test_latex_unwritable_out_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_refused(run(capsys, "latex", "--out", ""), "--out", "empty")
    for what, place in _unwritable(tmp_path).items():
        line = assert_refused(run(capsys, "latex", "--markdown", "--out", place / "doc.md"), "--out")
        assert str(place / "doc.md") in line, (what, line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


# --- validate kde -------------------------------------------------------------------------------

def test_validate_kde_does_not_overwrite_a_result_without_resume_or_force(tmp_path, capsys):
    out = tmp_path / "run"
    status, text, _ = run(capsys, *KDE, "--out", out)
    assert status in (0, 1) and (out / "kde_validation.json").exists()
    before = (out / "kde_validation.json").read_bytes()
    line = assert_refused(run(capsys, *KDE, "--scheme", "mix", "--out", out), f"--out {out}",
                          "already holds a result", "--resume", "--force")
    assert "kde_validation.json" in line
    assert (out / "kde_validation.json").read_bytes() == before and not (out / "kde_mix.png").exists()
    status, _, _ = run(capsys, *KDE, "--scheme", "mix", "--out", out, "--force")
    assert status in (0, 1) and (out / "kde_mix.png").exists()
    assert b'"scheme": "mix"' in (out / "kde_validation.json").read_bytes()
    status, _, _ = run(capsys, *KDE, "--scheme", "mix", "--out", out, "--resume")  # resume is allowed
    assert status in (0, 1)
    assert_refused(run(capsys, *KDE, "--out", out, "--resume", "--force"), "--resume and --force")
    assert_refused(run(capsys, *KDE, "--force"), "--force applies with --out")


def test_validate_kde_refuses_empty_busy_and_unwritable_out(tmp_path, capsys, monkeypatch, locked_folder):
    monkeypatch.chdir(tmp_path)
    assert_refused(run(capsys, *KDE, "--out", ""), "--out", "empty")
    assert_refused(run(capsys, *KDE, "--out", locked_folder), "in use by another boundcalc run")
    for place in _unwritable(tmp_path).values():
        assert_refused(run(capsys, *KDE, "--out", place), f"--out {place}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "busy"]


# --- validate diffusion (refusals happen before torch is needed) ---------------------------------

def test_validate_diffusion_does_not_overwrite_a_result_without_resume_or_force(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "units" / "diffusion-loop").mkdir(parents=True)
    (out / "units" / "diffusion-loop" / "unit0.json").write_text("{}")
    (out / "diffusion_phase.json").write_text("{}")  # another experiment's result does not block loop
    line = assert_refused(run(capsys, *DIFFUSION, "--out", out), f"--out {out}", "already holds a result",
                          "--resume", "--force")
    assert "units/diffusion-loop" in line and "diffusion_phase" not in line
    assert_refused(run(capsys, *DIFFUSION, "--out", out, "--resume", "--force"), "--resume and --force")
    assert_refused(run(capsys, *DIFFUSION, "--force"), "--force applies with --out")
    assert (out / "units" / "diffusion-loop" / "unit0.json").read_text() == "{}"


def test_validate_diffusion_refuses_empty_busy_and_unwritable_out(tmp_path, capsys, monkeypatch, locked_folder):
    monkeypatch.chdir(tmp_path)
    assert_refused(run(capsys, *DIFFUSION, "--out", ""), "--out", "empty")
    assert_refused(run(capsys, *DIFFUSION, "--out", locked_folder), "in use by another boundcalc run")
    for place in _unwritable(tmp_path).values():
        assert_refused(run(capsys, *DIFFUSION, "--out", place), f"--out {place}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "busy"]


@pytest.mark.torch
def test_validate_diffusion_force_replaces_the_result(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    out.mkdir()
    (out / "diffusion_loop.json").write_text("old")
    status, _, _ = run(capsys, *DIFFUSION, "--out", out, "--force", "--no-plots")
    assert status in (0, 1)
    assert (out / "diffusion_loop.json").read_text().startswith("{")


def test_a_bad_plot_option_leaves_no_out_folder(tmp_path, capsys):
    out = tmp_path / "figs"
    assert_refused(run(capsys, "plot", "early-stopping", "--out", out, "--learner", "kde"), "--learner diffusion")
    assert_refused(run(capsys, "plot", "diagram", "--out", out, *POWER, "--level", "2"), "level")
    assert not out.exists()
