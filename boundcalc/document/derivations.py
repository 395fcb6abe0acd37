r"""The derivation files (``derivations/*.md``, installed as the package data ``boundcalc.derivations``).

* :func:`derivation_path` finds a catalogue entry's file with :mod:`importlib.resources`, so it is
  found in an installed wheel as well as in a source checkout;
* :func:`parse_derivation` reads ``# ID: title``, ``**Provenance:** [..]`` and the ``## `` sections;
* :func:`proof_of` gives the ``## Proof`` and ``## Numeric check`` of a catalogue entry and raises
  :class:`MissingProofError` when the file or its proof is absent (a broken installation is an
  error, never a document without proofs); :func:`derivation_location` says where a reader finds it;
* :func:`derivation_problems` lists the ways in which a file disagrees with the catalogue (the check
  of ``tests/test_derivations_match.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from boundcalc._checks import BoundcalcError


class MissingProofError(BoundcalcError):
    """A catalogue entry whose derivation file, or the ``## Proof`` section in it, is not installed.

    Not a bad input but a broken installation: ``boundcalc latex`` reports it in one line and exits
    with status 1 (bad options exit with 2)."""


@dataclass
class Derivation:
    """A parsed derivation file: title line, provenance, and its ``## `` sections by name."""
    path: Path
    lemma_id: str
    title: str
    provenance: str
    sections: dict = field(default_factory=dict)

    @property
    def statement_formulas(self) -> list[str]:
        """The ``$$ ... $$`` formulas of the ``## Statement`` section, stripped."""
        text = self.sections.get("Statement", "")
        return [f.strip() for f in re.findall(r"\$\$(.*?)\$\$", text, re.S)]


def parse_derivation(path) -> Derivation:
    """Read ``derivations/<ID>.md``: ``# ID: title``, ``**Provenance:** [..]`` and ``## `` sections."""
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0] if text else ""
    head = re.match(r"^#\s+([^:\s]+):\s*(.*)$", first)
    prov = re.search(r"^\*\*Provenance:\*\*\s*(.+?)\s*$", text, re.M)
    sections, current, buf = {}, None, []
    for line in text.splitlines()[1:]:
        match = re.match(r"^##\s+(.+?)\s*$", line)
        if match:
            if current is not None:
                sections[current] = "\n".join(buf).strip()
            current, buf = match.group(1), []
        elif current is not None:
            buf.append(line)
    if current is not None:
        sections[current] = "\n".join(buf).strip()
    return Derivation(path, head.group(1) if head else "", head.group(2) if head else first.lstrip("# "),
                      prov.group(1) if prov else "", sections)


def derivation_path(lemma):
    """The derivation file of ``lemma``, read from the installed package data
    (``boundcalc.derivations``, the repository's ``derivations/`` folder) with importlib.resources."""
    path = Path(lemma.derivation)
    if path.is_absolute():
        return path
    return resources.files("boundcalc.derivations") / path.name


@dataclass(frozen=True)
class Proof:
    """What the document shows of a derivation file: the ``## Proof`` section (mini-Markdown), the
    ``## Numeric check`` section (may be empty) and the file's location."""
    text: str
    numeric: str
    location: str


def _missing(entry, what: str) -> MissingProofError:
    return MissingProofError(
        f"the proof of {entry.id} is missing: {what} (the derivation files are package data of "
        f"boundcalc.derivations; reinstall boundcalc with its data: pip install .)")


def proof_of(entry) -> Proof:
    """The proof of a catalogue entry (a lemma or a theorem), read from its derivation file.

    Raises :class:`MissingProofError` (one line) when the file is not installed or has no
    non-empty ``## Proof`` section."""
    path = derivation_path(entry)
    if not path.is_file():
        raise _missing(entry, f"no file {entry.derivation} in the installed package")
    deriv = parse_derivation(path)
    text = deriv.sections.get("Proof", "").strip()
    if not text:
        raise _missing(entry, f"{entry.derivation} has no '## Proof' section")
    return Proof(text, deriv.sections.get("Numeric check", "").strip(), str(path))


def derivation_location(entry) -> str:
    """Where a reader finds the proof of ``entry``: the installed derivation file's path (it exists
    after ``pip install .`` as well as in a source checkout).  Raises :class:`MissingProofError`
    when the file is absent."""
    path = derivation_path(entry)
    if not path.is_file():
        raise _missing(entry, f"no file {entry.derivation} in the installed package")
    return str(path)



REQUIRED_SECTIONS = ("Statement", "Hypotheses", "Proof", "Numeric check")


def _squash(tex: str) -> str:
    return " ".join(tex.split())


def derivation_problems(lemma) -> list[str]:
    """Ways in which ``lemma``'s derivation file disagrees with the catalogue (empty when they agree):
    a missing file, a title line naming another lemma, another provenance label, a missing section,
    or a ``## Statement`` whose display formula is not the catalogue's ``latex`` (up to whitespace)."""
    path = derivation_path(lemma)
    if not path.is_file():
        return [f"{lemma.id}: no derivation file {lemma.derivation}"]
    deriv = parse_derivation(path)
    problems = []
    if deriv.lemma_id != lemma.id:
        problems.append(f"{lemma.id}: {lemma.derivation} is titled {deriv.lemma_id!r}, not {lemma.id!r}")
    if _squash(deriv.provenance) != _squash(lemma.provenance):
        problems.append(f"{lemma.id}: provenance {deriv.provenance!r} in the file, {lemma.provenance!r} in the code")
    missing = [s for s in REQUIRED_SECTIONS if s not in deriv.sections]
    if missing:
        problems.append(f"{lemma.id}: {lemma.derivation} lacks the section(s) {', '.join(missing)}")
    formulas = deriv.statement_formulas
    if "Statement" in deriv.sections and len(formulas) != 1:
        problems.append(f"{lemma.id}: the Statement of {lemma.derivation} has {len(formulas)} $$ formulas, expected 1")
    elif formulas and _squash(formulas[0]) != _squash(lemma.latex):
        problems.append(f"{lemma.id}: the Statement of {lemma.derivation} differs from the catalogue's latex:\n"
                        f"  file: {_squash(formulas[0])}\n  code: {_squash(lemma.latex)}")
    return problems
