"""Output files and folders (boundcalc._io): atomic writes with the user's umask, deterministic JSON,
and the --out folder rules (lock, no silent overwrite, names stay inside, unwritable places refused).

CI runs as root, where permission bits do not stop writes: unwritable places are a folder whose
parent is a file, or a path under /proc or /sys; the permission-bit test is skipped for uid 0.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HOLDER

from boundcalc._checks import BoundcalcError
from boundcalc._io import dumps, prepare_out_dir, prepare_out_file, safe_name, write_atomic

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def umask():
    """Set a umask for the test and restore the previous one."""
    saved = []

    def set_mask(mask):
        saved.append(os.umask(mask))
    yield set_mask
    if saved:
        os.umask(saved[0])


# --- write_atomic -------------------------------------------------------------------------------

@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    text_file = write_atomic(tmp_path / "a.json", "{}\n")
    blob_file = write_atomic(tmp_path / "b.png", b"\x89PNG")
    assert stat.S_IMODE(text_file.stat().st_mode) == mode
    assert stat.S_IMODE(blob_file.stat().st_mode) == mode


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "x.txt"
    write_atomic(target, "one\n")
    write_atomic(target, "two ü\n")
    assert target.read_bytes() == "two ü\n".encode("utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.txt"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "x.txt"
    write_atomic(target, "old\n")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device", str(dst))
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_dumps_is_deterministic_and_plain():
    import mpmath
    import numpy as np
    obj = {"b": np.float64(0.5), "a": [mpmath.mpf("1e-400"), np.int64(3)], "c": (True, float("inf"))}
    assert dumps(obj) == dumps(obj)
    import json
    back = json.loads(dumps(obj))
    assert list(back) == ["b", "a", "c"] and back["b"] == 0.5 and back["a"][1] == 3 and back["c"] == [True, "inf"]
    assert mpmath.mpf(back["a"][0]) == mpmath.mpf("1e-400")  # kept as text, not flushed to 0.0


# --- names --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".", "", "  ", ".hidden", "a\\b", "/etc/passwd", "x\0y"])
def test_names_cannot_leave_the_folder(name):
    with pytest.raises(BoundcalcError, match="--name must be a plain file name"):
        safe_name(name)


@pytest.mark.parametrize("name", ["generations", "phase-2", "a.b", "früh"])
def test_plain_names_pass(name):
    assert safe_name(name) == name


# --- prepare_out_dir ----------------------------------------------------------------------------

def test_empty_out_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for value in ("", "   "):
        with pytest.raises(BoundcalcError, match="^--out must name a folder or file, got an empty string$"):
            prepare_out_dir(value).__enter__()
    with pytest.raises(BoundcalcError, match="^--out must name"):
        prepare_out_file("")
    assert list(tmp_path.iterdir()) == []


def test_the_folder_is_created_and_given_back(tmp_path):
    target = tmp_path / "a" / "b"
    with prepare_out_dir(target) as folder:
        assert folder == target and folder.is_dir()
    assert list(target.iterdir()) == []  # no lock file or probe left behind


@pytest.mark.parametrize("make", ["parent is a file", "is a file", "under /proc", "under /sys"])
def test_unwritable_places_are_refused_with_one_line(tmp_path, make):
    if make == "parent is a file":
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "run"
    elif make == "is a file":
        out = tmp_path / "f"
        out.write_text("x")
    elif make == "under /proc":
        out = Path("/proc/boundcalc-test/run")
    else:
        if not Path("/sys").is_dir():
            pytest.skip("no /sys")
        out = Path("/sys/boundcalc-test")
    with pytest.raises(BoundcalcError) as info:
        prepare_out_dir(out).__enter__()
    message = str(info.value)
    assert message.startswith(f"--out {out}") and "\n" not in message
    with pytest.raises(BoundcalcError, match="^--out "):
        prepare_out_file(out / "doc.tex")


@pytest.mark.skipif(IS_ROOT or not hasattr(os, "geteuid"), reason="permission bits do not stop root")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(BoundcalcError, match="cannot write there"):
            prepare_out_dir(folder).__enter__()
    finally:
        folder.chmod(0o700)


def test_an_existing_result_needs_resume_or_force(tmp_path):
    results = ("kde_validation.json", "kde_state.json")
    (tmp_path / "kde_state.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BoundcalcError,
                       match=r"already holds a result \(kde_state.json\); continue it with --resume or replace it "
                             r"with --force"):
        prepare_out_dir(tmp_path, results=results).__enter__()
    with prepare_out_dir(tmp_path, results=results, resume=True):
        assert (tmp_path / "kde_state.json").exists()  # resume keeps the state
    with prepare_out_dir(tmp_path, results=results, force=True):
        assert not (tmp_path / "kde_state.json").exists()  # force removes the old result before the run
        assert (tmp_path / "notes.txt").read_text() == "mine"  # and nothing else
    with pytest.raises(BoundcalcError, match="--resume and --force exclude each other"):
        prepare_out_dir(tmp_path, results=results, resume=True, force=True)


def test_the_lock_is_released_after_an_error_inside(tmp_path):
    with pytest.raises(RuntimeError):
        with prepare_out_dir(tmp_path):
            raise RuntimeError("boom")
    with prepare_out_dir(tmp_path):
        pass


def test_an_os_error_inside_the_folder_becomes_one_line(tmp_path):
    with pytest.raises(BoundcalcError, match=r"^--out .*: cannot write x.json \(No space left on device\)$"):
        with prepare_out_dir(tmp_path) as folder:
            raise OSError(28, "No space left on device", str(folder / "x.json"))
    with pytest.raises(OSError):  # other OSErrors are not ours to rename
        with prepare_out_dir(tmp_path):
            raise OSError(2, "No such file or directory", "/somewhere/else.txt")


def test_nesting_in_one_process_is_allowed(tmp_path):
    (tmp_path / "r.json").write_text("{}")
    with prepare_out_dir(tmp_path, force=True, results=("r.json",)):
        write_atomic(tmp_path / "r.json", "{}\n")  # the new result
        with prepare_out_dir(tmp_path, results=("r.json",)):  # e.g. the runner inside the CLI handler
            pass
        assert (tmp_path / "r.json").exists()


def test_a_second_run_into_a_locked_folder_is_refused(locked_folder):
    with pytest.raises(BoundcalcError) as info:
        prepare_out_dir(locked_folder).__enter__()
    assert str(info.value) == (f"--out {locked_folder} is in use by another boundcalc run; wait for it to "
                               "finish or choose another folder")


def test_the_lock_goes_with_the_process(tmp_path):
    folder = tmp_path / "x"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()  # no clean exit: the kernel drops the lock
    holder.wait(timeout=30)
    with prepare_out_dir(folder):
        pass


def test_a_failed_run_leaves_no_empty_folder_it_created(tmp_path):
    target = tmp_path / "new" / "deeper"
    with pytest.raises(BoundcalcError):
        with prepare_out_dir(target):
            raise BoundcalcError("bad option found after the folder was made")
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "kept"
    with pytest.raises(KeyboardInterrupt):
        with prepare_out_dir(kept) as folder:
            write_atomic(folder / "state.json", "{}\n")
            raise KeyboardInterrupt
    assert (kept / "state.json").exists()  # a folder holding work is never removed
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(RuntimeError):
        with prepare_out_dir(existing):
            raise RuntimeError
    assert existing.is_dir()  # nor one that was there before


def test_a_result_may_be_a_folder_of_unit_records(tmp_path):
    units = tmp_path / "units" / "kde"
    units.mkdir(parents=True)
    (units / "seed-0.json").write_text("{}")
    (tmp_path / "units" / "other").mkdir()
    with pytest.raises(BoundcalcError, match=r"already holds a result \(units/kde\)"):
        prepare_out_dir(tmp_path, results=("kde_validation.json", "units/kde")).__enter__()
    with prepare_out_dir(tmp_path, results=("kde_validation.json", "units/kde"), force=True):
        assert not units.exists() and (tmp_path / "units" / "other").is_dir()


@pytest.mark.parametrize("name", ["../x", "/etc", "", ".", "a/../../b"])
def test_result_names_stay_inside_the_folder(tmp_path, name):
    with pytest.raises(BoundcalcError, match="relative path inside the folder"):
        prepare_out_dir(tmp_path, results=(name,), force=True)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX locks")
def test_a_folder_that_cannot_be_locked_is_not_called_busy(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, how):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(BoundcalcError, match=r"cannot be locked \(No locks available\)"):
        prepare_out_dir(tmp_path / "x").__enter__()
    assert not (tmp_path / "x").exists()
