"""One block of the derivation document (:class:`Node`), built by :mod:`boundcalc.document.content`
and rendered by :mod:`boundcalc.document.render`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    """A block: ``kind`` is section, subsection, para (mini-Markdown), display (a formula), lemma,
    theorem or table.  A lemma or theorem node holds its statement in ``text``, its hypotheses in
    ``items``, and in ``extra`` its catalogue ``id`` (absent for prose), ``provenance``, ``source``,
    ``proof``, ``numeric`` (the numeric check) and ``derivation`` (the file)."""
    kind: str
    title: str = ""
    label: str = ""
    text: str = ""
    items: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
