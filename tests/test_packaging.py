"""boundcalc installed like any package: the wheel holds every subpackage and every proof.

* ``pyproject.toml`` lists its packages explicitly; the list must be exactly the packages found
  under ``boundcalc/`` (plus ``boundcalc.derivations``, mapped from the top-level ``derivations/``),
  so that a new subpackage can never be left out of the wheel;
* a wheel built from the tracked files (``pip wheel --no-deps --no-build-isolation``, no network),
  installed ``--no-deps --target`` a scratch folder and run from outside the source tree, writes a
  document that holds the proof of every catalogue entry, and ``show`` names the installed file;
* a missing derivation file is an error (one line, exit status 1), never a document without proofs.

The wheel build needs setuptools >= 70.1 (``bdist_wheel`` built in) in the test environment: the
``test`` extra of ``pyproject.toml`` requires it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from boundcalc.document import content, derivations
from boundcalc.theory.catalogue import all_lemmas

ROOT = Path(__file__).resolve().parent.parent

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None


def _pyproject() -> dict:
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_pyproject_lists_every_package_of_the_tree():
    config = _pyproject()["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "boundcalc").rglob("__init__.py")}
    found.add("boundcalc.derivations")
    assert set(config["packages"]) == found
    assert len(config["packages"]) == len(set(config["packages"]))
    assert config["package-dir"]["boundcalc.derivations"] == "derivations"
    assert (ROOT / "derivations" / "__init__.py").is_file()
    assert "*.md" in config["package-data"]["boundcalc.derivations"]


def test_every_catalogue_entry_names_a_derivation_file_in_the_package_data():
    names = {p.name for p in (ROOT / "derivations").glob("*.md")}
    for entry in all_lemmas():
        assert entry.derivation.startswith("derivations/") and Path(entry.derivation).name in names, entry.id


def _tracked_copy(target: Path) -> Path:
    """The tracked files of the repository (``git ls-files``; without git, the tree minus build
    products), copied to ``target`` so that the build leaves nothing in the source tree."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        files = [f for f in listed.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = None
    if not files:
        shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "out"))
        return target
    for name in files:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """boundcalc built as a wheel and installed into a scratch folder (no network, no deps)."""
    base = tmp_path_factory.mktemp("wheel")
    source = _tracked_copy(base / "source")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", str(source), "-w", str(base / "dist")],
                           capture_output=True, text=True, cwd=base)
    assert build.returncode == 0, ("pip wheel failed (the test extra needs setuptools>=70.1): "
                                   + build.stderr[-2000:])
    wheels = list((base / "dist").glob("boundcalc-*.whl"))
    assert len(wheels) == 1, wheels
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                              "--target", str(base / "site"), str(wheels[0])], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    shutil.rmtree(source)  # nothing of the source tree is left to be found by accident
    run_dir = base / "elsewhere"
    run_dir.mkdir()
    return base / "site", run_dir


def _run(installed, *argv):
    site, cwd = installed
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "boundcalc", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True)


def _proof_lines(entry) -> list[str]:
    """Lines of the entry's ``## Proof`` section (from the source tree) that the Markdown document
    shows verbatim: those without cross-references ``[[...]]``, which the renderer rewrites."""
    text = (ROOT / entry.derivation).read_text(encoding="utf-8")
    proof = re.search(r"^## Proof\n(.*?)(?=^## |\Z)", text, re.S | re.M).group(1)
    lines = [line.strip() for line in proof.splitlines() if line.strip() and "[[" not in line]
    assert lines, entry.id
    return lines


def test_installed_wheel_is_the_one_that_runs(installed):
    site, _ = installed
    out = subprocess.run(
        [sys.executable, "-c", "import boundcalc, boundcalc.derivations as d; print(boundcalc.__file__); "
                               "print(d.__file__)"],
        cwd=installed[1], env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for line in out.stdout.split():
        assert Path(line).is_relative_to(site), line
    shipped = {p.name for p in (site / "boundcalc" / "derivations").glob("*.md")}
    assert shipped == {p.name for p in (ROOT / "derivations").glob("*.md")}


def test_installed_markdown_holds_every_proof(installed):
    out_file = installed[1] / "doc.md"
    run = _run(installed, "latex", "--markdown", "--out", str(out_file))
    assert run.returncode == 0, run.stderr
    document = out_file.read_text(encoding="utf-8")
    assert "No derivation file" not in document and "proof is missing" not in document
    for entry in all_lemmas():
        for line in _proof_lines(entry):
            assert line in document, (entry.id, line)


def test_installed_latex_holds_every_proof(installed):
    out_file = installed[1] / "doc.tex"
    argv = ["latex", "--out", str(out_file)] + (["--pdf"] if shutil.which("pdflatex") else [])
    run = _run(installed, *argv)
    assert run.returncode == 0, run.stderr
    document = out_file.read_text(encoding="utf-8")
    assert "No derivation file" not in document
    for entry in all_lemmas():
        block = document.split(rf"\label{{{content.entry_label(entry)}}}", 1)[1].split(r"\end{proof}", 1)[0]
        proof = block.split(r"\begin{proof}[Proof sketch]", 1)[1]
        assert len(proof.strip()) > 100, entry.id
    if shutil.which("pdflatex"):
        assert out_file.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


def test_installed_show_names_the_installed_file(installed):
    site, _ = installed
    run = _run(installed, "show", "K2")
    assert run.returncode == 0, run.stderr
    line = next(l for l in run.stdout.splitlines() if l.strip().startswith("proof:"))
    path = Path(line.split("proof:", 1)[1].split("(")[0].strip())
    assert path == site / "boundcalc" / "derivations" / "K2.md" and path.is_file()
    assert "boundcalc latex" in line


def test_missing_derivation_is_an_error(installed):
    site, _ = installed
    moved = site / "boundcalc" / "derivations" / "K2.md"
    keep = moved.with_suffix(".keep")
    moved.rename(keep)
    try:
        for argv in (["latex", "--markdown"], ["latex"], ["show", "K2"]):
            run = _run(installed, *argv)
            errors = [l for l in run.stderr.splitlines() if l.strip()]
            assert run.returncode == 1 and len(errors) == 1, (argv, run.stderr)
            assert "proof of K2 is missing" in errors[0] and "derivations/K2.md" in errors[0]
    finally:
        keep.rename(moved)


def test_proof_of_reads_proof_and_numeric_check_and_refuses_a_file_without_proof(tmp_path):
    import dataclasses
    lemma = all_lemmas()[0]
    proof = derivations.proof_of(lemma)
    source = (ROOT / lemma.derivation).read_text(encoding="utf-8")
    assert proof.text.splitlines()[0] in source and proof.numeric.splitlines()[0] in source
    assert Path(proof.location) == Path(derivations.derivation_location(lemma))
    empty = tmp_path / "X.md"
    empty.write_text(source.replace("## Proof", "## Sketch"), encoding="utf-8")
    with pytest.raises(derivations.MissingProofError, match="has no '## Proof' section"):
        derivations.proof_of(dataclasses.replace(lemma, derivation=str(empty)))
    with pytest.raises(derivations.MissingProofError, match="no file"):
        derivations.derivation_location(dataclasses.replace(lemma, derivation=str(tmp_path / "none.md")))
