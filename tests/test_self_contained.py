"""The repository explains itself: no file refers to a document outside it.

The theory is written in ``docs/theory.md`` and proved in ``derivations/``; every reference points
there.  The tests read every tracked file (``git ls-files``; without git, every file of the tree
except build products), so a new reference to an outside file fails here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: names of outside files that earlier versions cited (spelled in pieces so that this file does
#: not mention them itself)
OUTSIDE = ("THEORY" + ".md", ".." + "/shared")
_SKIP_DIRS = {".git", "build", "dist", "__pycache__", ".pytest_cache", "out"}


def _tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        names = [n for n in listed.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
    if names:
        return [ROOT / n for n in names if (ROOT / n).is_file()]
    return [p for p in ROOT.rglob("*") if p.is_file()
            and not any(part in _SKIP_DIRS or part.startswith(".venv") or part.endswith(".egg-info")
                        for part in p.relative_to(ROOT).parts)]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _offenders(paths, root: Path = ROOT) -> list[str]:
    found = []
    for path in paths:
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if any(name in line for name in OUTSIDE):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()[:100]}")
    return found


FILES = _tracked_files()


def test_the_file_list_is_the_repository():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"pyproject.toml", "docs/theory.md", "boundcalc/__init__.py", "derivations/K2.md"} <= names


def test_no_tracked_file_refers_to_an_outside_theory_file():
    offenders = _offenders(FILES)
    assert not offenders, "\n".join(offenders)


def test_the_checker_finds_an_outside_reference(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text('"""See ' + OUTSIDE[0] + ' 4.3."""\n', encoding="utf-8")
    clean = tmp_path / "y.py"
    clean.write_text('"""See docs/theory.md section 5."""\n', encoding="utf-8")
    assert _offenders([sample, clean], root=tmp_path) == [f'x.py:1: """See {OUTSIDE[0]} 4.3."""']


def _theory_sections() -> set[str]:
    """Numbers of the sections of docs/theory.md ("4", "4.2", ...), read off its headings."""
    text = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.M))


def test_theory_page_has_the_sections_the_repository_cites():
    sections = _theory_sections()
    assert {"1", "2", "3", "3.1", "3.2", "3.3", "3.4", "4", "4.1", "4.2", "5", "6", "7", "8", "9"} <= sections
    cited = []
    for path in FILES:
        text = _text(path) or ""
        for match in re.finditer(r"docs/theory\.md,?\s+sections?\s+((?:\d+(?:\.\d+)?(?:,\s*|\s+and\s+)?)+)", text):
            cited += [(path.name, n) for n in re.findall(r"\d+(?:\.\d+)?", match.group(1))]
    assert len(cited) >= 40, cited  # the code, tests and derivations cite it throughout
    missing = [c for c in cited if c[1] not in sections]
    assert not missing, missing


def test_every_cited_derivation_file_exists():
    cited = set()
    for path in FILES:
        cited |= set(re.findall(r"derivations/([A-Za-z0-9_-]+\.md)", _text(path) or ""))
    assert "K2.md" in cited and "composition.md" in cited
    missing = sorted(name for name in cited if not (ROOT / "derivations" / name).is_file())
    assert not missing, missing


def test_theory_page_lists_every_catalogue_lemma_with_its_provenance():
    from boundcalc.theory.catalogue import all_lemmas
    text = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    rows = {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(
        r"^\| ([A-Z]+\d*'?)(?: \(`\w+`\))? \| [^|]+ \| (\[[^\]]+\]) \| `(derivations/\w+\.md)` \|$", text, re.M)}
    for lemma in all_lemmas():
        if getattr(lemma, "kind", "lemma") != "lemma":  # theorems are listed in sections 4-7
            continue
        key = lemma.id.replace("p", "'") if lemma.id.endswith("p") else lemma.id
        assert key in rows, lemma.id
        assert rows[key] == (lemma.provenance, lemma.derivation), lemma.id
