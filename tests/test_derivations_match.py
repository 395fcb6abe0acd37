"""Every lemma of the catalogue has a derivation file, and the file states what the code states.

The check is :func:`boundcalc.document.derivations.derivation_problems`: the file exists, its title line names the
lemma, its provenance label is the catalogue's, it has the sections Statement / Hypotheses / Proof /
Numeric check, and the one ``$$`` formula of its Statement equals the catalogue's authored ``latex``
(up to whitespace).  The exported Markdown (``boundcalc latex --markdown``) must carry the same
statements, so the document and the derivations cannot drift apart either.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from boundcalc.document import derivations, render
from boundcalc.theory.catalogue import all_lemmas

LEMMAS = all_lemmas()


def test_catalogue_is_not_empty():
    assert len(LEMMAS) >= 10, [l.id for l in LEMMAS]


@pytest.mark.parametrize("lemma", LEMMAS, ids=[l.id for l in LEMMAS])
def test_derivation_file_agrees_with_catalogue(lemma):
    problems = derivations.derivation_problems(lemma)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lemma", LEMMAS, ids=[l.id for l in LEMMAS])
def test_markdown_export_states_the_derivation_statement(lemma):
    """The Markdown document shows, under the lemma's heading, the formula of its derivation file."""
    document = _markdown()
    head = f"### {getattr(lemma, 'kind', 'lemma').capitalize()} {lemma.id}: {lemma.title}"
    assert head in document
    section = document.split(head, 1)[1].split("\n### ", 1)[0]
    shown = re.findall(r"\$\$\n(.*?)\n\$\$", section, re.S)
    statement = derivations.parse_derivation(derivations.derivation_path(lemma)).statement_formulas[0]
    assert shown and " ".join(shown[0].split()) == " ".join(statement.split())


_CACHE = {}


def _markdown():
    if "md" not in _CACHE:
        _CACHE["md"] = render.build_markdown()
    return _CACHE["md"]


# --- the checker itself must catch disagreements (so the tests above can fail) -------------------

def _copy_with_file(tmp_path, lemma, text, **over):
    path = tmp_path / f"{lemma.id}.md"
    path.write_text(text, encoding="utf-8")
    return dataclasses.replace(lemma, derivation=str(path), **over)


def _file_text(lemma):
    return derivations.derivation_path(lemma).read_text(encoding="utf-8")


def test_checker_accepts_a_faithful_copy(tmp_path):
    lemma = LEMMAS[0]
    assert derivations.derivation_problems(_copy_with_file(tmp_path, lemma, _file_text(lemma))) == []


def test_checker_catches_a_changed_statement(tmp_path):
    lemma = LEMMAS[0]
    changed = _copy_with_file(tmp_path, lemma, _file_text(lemma), latex=lemma.latex + r" + 1")
    problems = derivations.derivation_problems(changed)
    assert len(problems) == 1 and "differs from the catalogue" in problems[0]


def test_checker_ignores_whitespace_only(tmp_path):
    lemma = LEMMAS[0]
    spaced = _copy_with_file(tmp_path, lemma, _file_text(lemma), latex="  " + lemma.latex.replace(" ", "  ") + "\n")
    assert derivations.derivation_problems(spaced) == []


def test_checker_catches_missing_file_and_sections(tmp_path):
    lemma = LEMMAS[0]
    missing = dataclasses.replace(lemma, derivation=str(tmp_path / "nowhere.md"))
    assert "no derivation file" in derivations.derivation_problems(missing)[0]
    text = _file_text(lemma).replace("## Numeric check", "## Numbers")
    problems = derivations.derivation_problems(_copy_with_file(tmp_path, lemma, text))
    assert any("Numeric check" in p for p in problems)


def test_checker_catches_provenance_and_title(tmp_path):
    lemma = LEMMAS[0]
    text = _file_text(lemma)
    text = re.sub(r"\*\*Provenance:\*\* .*", "**Provenance:** [derived]", text, count=1)
    text = re.sub(r"^# [^:]+:", "# ZZ9:", text, count=1)
    problems = derivations.derivation_problems(_copy_with_file(tmp_path, lemma, text,
                                                         provenance="[classical]"))
    assert any("provenance" in p for p in problems) and any("titled 'ZZ9'" in p for p in problems)


def test_checker_catches_two_formulas(tmp_path):
    lemma = LEMMAS[0]
    text = _file_text(lemma).replace("## Hypotheses", "$$\nx = 1\n$$\n\n## Hypotheses", 1)
    problems = derivations.derivation_problems(_copy_with_file(tmp_path, lemma, text))
    assert any("2 $$ formulas" in p for p in problems)


# --- catalogue metadata (one test for every family) ----------------------------------------------

#: provenance labels as docs/theory.md section 3 assigns them
EXPECTED_PROVENANCE = {
    "T1": "[classical]", "T2": "[classical]", "T3": "[classical]", "T4": "[classical]",
    "T4p": "[classical]", "GTV": "[classical]", "C1": "[classical]", "C2": "[classical]",
    "C3": "[classical]", "K1": "[derived]", "K1p": "[classical]", "K2": "[derived]",
    "K3": "[classical]", "K4": "[derived]", "D1": "[Li23]", "D2": "[Li23, derived]", "D3": "[derived]", "D4": "[Li23, derived]",
    "KE1": "[derived]", "KE2": "[derived]", "KE3": "[derived]", "KE4": "[classical]", "KE5": "[derived]",
    "KR1": "[derived]", "KR2": "[classical]", "KR3": "[classical]", "KR4": "[derived]", "KR5": "[derived]",
    # the composition theorems (kind "theorem")
    "S1": "[derived]", "S2": "[derived]", "S3": "[derived]", "S4": "[derived]", "S5": "[derived]",
    "S6": "[derived]", "S7": "[derived]", "L1": "[derived]", "P1": "[derived]", "E1": "[Li23, derived]",
}


def test_catalogue_has_every_lemma_of_the_theory():
    assert sorted(l.id for l in LEMMAS) == sorted(EXPECTED_PROVENANCE)


@pytest.mark.parametrize("lemma", LEMMAS, ids=[l.id for l in LEMMAS])
def test_lemma_metadata_is_complete(lemma):
    import sympy as sp

    from boundcalc.theory import notation as S
    from boundcalc.theory.lemma import CATALOGUE, PROVENANCE_LABELS

    assert CATALOGUE[lemma.id] is lemma
    assert lemma.provenance == EXPECTED_PROVENANCE[lemma.id]
    assert all(f"[{p.strip()}]" in PROVENANCE_LABELS for p in lemma.provenance.strip("[]").split(","))
    assert lemma.derivation == f"derivations/{lemma.id}.md"
    assert lemma.title and lemma.source and lemma.latex and lemma.relation in ("=", "<=", ">=")
    assert lemma.hypotheses and all(isinstance(h, str) and h for h in lemma.hypotheses)
    # every free symbol of rhs is THE shared symbol of that name, and is described
    shared = {v.name: v for v in vars(S).values() if isinstance(v, sp.Symbol)}
    names = {s.name for s in lemma.rhs.free_symbols}
    assert names and names == set(lemma.quantities)
    for symbol in lemma.rhs.free_symbols:
        assert shared[symbol.name] is symbol, f"{symbol} is not the shared symbol"
    # the Statement block is the authored template, character for character
    text = derivations.derivation_path(lemma).read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"# {lemma.id}: {lemma.title}"
    statement = re.search(r"## Statement\n\n\$\$\n(.*?)\n\$\$\n", text, re.S)
    assert statement is not None and statement.group(1) == lemma.latex
    headers = [line for line in text.splitlines() if line.startswith("## ")]
    assert headers[:4] == ["## Statement", "## Hypotheses", "## Proof", "## Numeric check"]


def _test_names() -> set:
    import ast
    from pathlib import Path
    names = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return names


def test_tests_cited_by_derivations_exist():
    """A derivation that says `test_x` checks a step must name a test that exists."""
    from pathlib import Path
    existing = _test_names()
    missing = []
    for path in sorted((Path(__file__).parent.parent / "derivations").glob("*.md")):
        for name in re.findall(r"`(test_[a-z0-9_]+)`", path.read_text(encoding="utf-8")):
            if name not in existing:
                missing.append(f"{path.name}: {name}")
    assert not missing, missing
