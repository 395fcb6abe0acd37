"""Every lemma of the catalogue has a derivation file, and the file states what the code states.

The check is :func:`boundcalc.latex.derivation_problems`: the file exists, its title line names the
lemma, its provenance label is the catalogue's, it has the sections Statement / Hypotheses / Proof /
Numeric check, and the one ``$$`` formula of its Statement equals the catalogue's authored ``latex``
(up to whitespace).  The exported Markdown (``boundcalc latex --markdown``) must carry the same
statements, so the document and the derivations cannot drift apart either.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from boundcalc import latex
from boundcalc.lemma import all_lemmas

LEMMAS = all_lemmas()


def test_catalogue_is_not_empty():
    assert len(LEMMAS) >= 10, [l.id for l in LEMMAS]


@pytest.mark.parametrize("lemma", LEMMAS, ids=[l.id for l in LEMMAS])
def test_derivation_file_agrees_with_catalogue(lemma):
    problems = latex.derivation_problems(lemma)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lemma", LEMMAS, ids=[l.id for l in LEMMAS])
def test_markdown_export_states_the_derivation_statement(lemma):
    """The Markdown document shows, under the lemma's heading, the formula of its derivation file."""
    document = _markdown()
    head = f"### Lemma {lemma.id}: {lemma.title}"
    assert head in document
    section = document.split(head, 1)[1].split("\n### ", 1)[0]
    shown = re.findall(r"\$\$\n(.*?)\n\$\$", section, re.S)
    statement = latex.parse_derivation(latex.derivation_path(lemma)).statement_formulas[0]
    assert shown and " ".join(shown[0].split()) == " ".join(statement.split())


_CACHE = {}


def _markdown():
    if "md" not in _CACHE:
        _CACHE["md"] = latex.build_markdown()
    return _CACHE["md"]


# --- the checker itself must catch disagreements (so the tests above can fail) -------------------

def _copy_with_file(tmp_path, lemma, text, **over):
    path = tmp_path / f"{lemma.id}.md"
    path.write_text(text, encoding="utf-8")
    return dataclasses.replace(lemma, derivation=str(path), **over)


def _file_text(lemma):
    return latex.derivation_path(lemma).read_text(encoding="utf-8")


def test_checker_accepts_a_faithful_copy(tmp_path):
    lemma = LEMMAS[0]
    assert latex.derivation_problems(_copy_with_file(tmp_path, lemma, _file_text(lemma))) == []


def test_checker_catches_a_changed_statement(tmp_path):
    lemma = LEMMAS[0]
    changed = _copy_with_file(tmp_path, lemma, _file_text(lemma), latex=lemma.latex + r" + 1")
    problems = latex.derivation_problems(changed)
    assert len(problems) == 1 and "differs from the catalogue" in problems[0]


def test_checker_ignores_whitespace_only(tmp_path):
    lemma = LEMMAS[0]
    spaced = _copy_with_file(tmp_path, lemma, _file_text(lemma), latex="  " + lemma.latex.replace(" ", "  ") + "\n")
    assert latex.derivation_problems(spaced) == []


def test_checker_catches_missing_file_and_sections(tmp_path):
    lemma = LEMMAS[0]
    missing = dataclasses.replace(lemma, derivation=str(tmp_path / "nowhere.md"))
    assert "no derivation file" in latex.derivation_problems(missing)[0]
    text = _file_text(lemma).replace("## Numeric check", "## Numbers")
    problems = latex.derivation_problems(_copy_with_file(tmp_path, lemma, text))
    assert any("Numeric check" in p for p in problems)


def test_checker_catches_provenance_and_title(tmp_path):
    lemma = LEMMAS[0]
    text = _file_text(lemma)
    text = re.sub(r"\*\*Provenance:\*\* .*", "**Provenance:** [derived]", text, count=1)
    text = re.sub(r"^# [^:]+:", "# ZZ9:", text, count=1)
    problems = latex.derivation_problems(_copy_with_file(tmp_path, lemma, text,
                                                         provenance="[classical]"))
    assert any("provenance" in p for p in problems) and any("titled 'ZZ9'" in p for p in problems)


def test_checker_catches_two_formulas(tmp_path):
    lemma = LEMMAS[0]
    text = _file_text(lemma).replace("## Hypotheses", "$$\nx = 1\n$$\n\n## Hypotheses", 1)
    problems = latex.derivation_problems(_copy_with_file(tmp_path, lemma, text))
    assert any("2 $$ formulas" in p for p in problems)
