"""Fixtures shared by the tests."""

import subprocess
import sys
import textwrap

import pytest


HOLDER = textwrap.dedent("""
    import sys
    from boundcalc._io import prepare_out_dir
    with prepare_out_dir(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.readline()
""")


@pytest.fixture
def locked_folder(tmp_path):
    """A folder whose lock is held by another process until the test ends."""
    folder = tmp_path / "busy"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield folder
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
