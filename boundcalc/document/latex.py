r"""The derivation document: one self-contained LaTeX file (or the same content in Markdown).

The document is built once as a list of nodes (sections, paragraphs of mini-Markdown with
``$...$`` math, display formulas, lemma and theorem blocks, tables) and rendered twice:

* :func:`build_latex` -- a complete LaTeX document.  Every shared symbol of
  :mod:`boundcalc.theory.notation` has ONE macro, defined in the preamble (:data:`SYMBOL_MACROS`); the
  composite renderings (``n_{\mathrm{real}}``, ``\mathrm{TV}``, ``c_{\mathrm{stat}}``, ...) found in
  authored templates are replaced by their macro, and composed sympy expressions are printed with
  the macros as symbol names (:func:`sympy_latex`), so a symbol looks the same everywhere;
* :func:`build_markdown` -- the same content as Markdown with ``$...$`` / ``$$...$$`` math and the
  raw (macro-free) LaTeX, so that a lemma's statement reads exactly as the catalogue's ``latex``.

Order of the document (the order a reader needs): notation, the loop and its schemes, the lemmas
by family (divergence algebra, concentration, kernel density estimation, diffusion models; lemmas of
other families follow), the composition theorem with its closed form per scheme, the explicit KDE
loop, the phase transition in the amount of synthetic data, early stopping and what it implies for
the loop, and a provenance table.  Lemma statements, hypotheses, provenance and source come from
the catalogue (:func:`boundcalc.theory.catalogue.all_lemmas`) at run time; proof sketches come from the
``## Proof`` section of each lemma's derivation file, converted from Markdown by
:func:`markdown_to_latex` (every LaTeX special character outside math is escaped).

:func:`compile_pdf` runs ``pdflatex -interaction=nonstopmode -halt-on-error`` twice in a temporary
folder and moves the PDF into place atomically; :func:`parse_derivation` reads a derivation file
(used by ``tests/test_derivations_match.py``).
"""

from __future__ import annotations

import os
from importlib import resources
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from boundcalc._checks import BoundcalcError
from boundcalc.theory.notation import TABLE as NOTATION

# ------------------------------------------------------------------------------------------------
# Notation: one macro per shared symbol
# ------------------------------------------------------------------------------------------------

#: sympy name of each shared symbol -> (macro name, its LaTeX, meaning), read off the notation
#: table :data:`boundcalc.theory.notation.TABLE`.
SYMBOL_MACROS: dict[str, tuple[str, str, str]] = {
    name: (row.macro, row.tex, row.meaning) for name, row in NOTATION.items()}

#: composite renderings that appear in authored templates, replaced by their macro in the LaTeX
#: document (single letters stay as they are: their macro expands to the same letter)
_COMPOSITE = sorted(((tex, macro) for macro, tex, _ in SYMBOL_MACROS.values()
                     if len(tex) > 1 and not re.fullmatch(r"\\[A-Za-z]+", tex)),
                    key=lambda pair: -len(pair[0]))

_OBJECTS = [  # (LaTeX, meaning): the objects of the loop, not sympy symbols
    (r"p_0", "the real data distribution (with density $p_0$)"),
    (r"p_i", "the distribution produced by the model of generation $i$"),
    (r"q_i", "the population law of generation $i$'s training set"),
    (r"a_i = \TV(p_i, p_0)", "what every bound controls"),
    (r"\varepsilon_i = \TV(p_i, q_i)", "one-generation learning error"),
    (r"\varphi_h", r"the density of $\mathcal{N}(0, h^2 I_d)$"),
]


def symbol_table() -> list[tuple[str, str, str, str, str]]:
    """Rows (sympy name, macro, LaTeX, meaning, range) for every shared symbol, in the order of
    the notation table."""
    return [(name, row.macro, row.tex, row.meaning, row.range_text()) for name, row in NOTATION.items()]


def preamble_macros() -> str:
    r"""``\newcommand`` lines, one per shared symbol."""
    return "\n".join(f"\\newcommand{{\\{macro}}}{{{tex}}}" for _, macro, tex, _, _ in symbol_table())


def use_macros(tex: str) -> str:
    """Replace the composite renderings of shared symbols in ``tex`` by their macro."""
    for raw, macro in _COMPOSITE:
        tex = re.sub(re.escape(raw) + r"(?![A-Za-z])", lambda _m, mac=macro: f"\\{mac} ", tex)
    return tex


def sympy_latex(expr, macros: bool = True) -> str:
    """sympy's printer for composed expressions, with every shared symbol printed as its macro
    (``macros=False``: as the macro's expansion, for Markdown)."""
    import sympy as sp
    names = {s: ("\\" + SYMBOL_MACROS[s.name][0]) if macros else SYMBOL_MACROS[s.name][1]
             for s in expr.free_symbols if isinstance(s, sp.Symbol) and s.name in SYMBOL_MACROS}
    return sp.latex(expr, symbol_names=names)


# ------------------------------------------------------------------------------------------------
# Mini-Markdown -> LaTeX
# ------------------------------------------------------------------------------------------------

_EM, _BF = ("\x01", "\x02"), ("\x03", "\x04")  # sentinels of *emphasis* and **bold** spans
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "_": r"\_\allowbreak{}",
            "$": r"\$", "|": r"$|$", "<": r"$<$", ">": r"$>$",
            _EM[0]: r"\emph{", _EM[1]: "}", _BF[0]: r"\textbf{", _BF[1]: "}"}
_TEXT_SYMBOLS = [("<=", r"$\le$"), (">=", r"$\ge$"), ("->", r"$\to$"), ("!=", r"$\ne$")]
_INLINE = re.compile(r"(\$\$.+?\$\$|\$[^$]+?\$|`[^`]+`|\[\[[A-Za-z0-9':-]+\]\])", re.S)
_UNICODE = {"\u2264": r"$\le$", "\u2265": r"$\ge$", "\u2192": r"$\to$", "\u2013": "--", "\u2014": "---",
            "\u2018": "`", "\u2019": "'", "\u201c": "``", "\u201d": "''", "\u00b1": r"$\pm$",
            "\u00d7": r"$\times$", "\u00f6": r"\"o", "\u00e9": r"\'e", "\u00fc": r"\"u"}


def escape_text(text: str) -> str:
    """Plain text -> LaTeX text: specials escaped, ``<=`` as a relation, non-ASCII mapped or dropped."""
    out, k = [], 0
    while k < len(text):
        for plain, tex in _TEXT_SYMBOLS:
            if text.startswith(plain, k):
                out.append(tex)
                k += len(plain)
                break
        else:
            ch = text[k]
            if ch in _SPECIAL:
                out.append(_SPECIAL[ch])
            elif ord(ch) > 127:
                out.append(_UNICODE.get(ch, "?"))
            else:
                out.append(ch)
            k += 1
    result = "".join(out)
    return re.sub(r'"([^"]*)"', r"``\1''", result)


#: a display formula longer than this (characters of LaTeX) is split at its top-level separators
SPLIT_LENGTH = 110


def split_display(tex: str) -> list[str]:
    r"""Split a long display formula into lines at its top-level separators (``;\quad``, ``,\quad``,
    ``\qquad``), never inside braces or a ``\left ... \right`` pair, then merge neighbouring pieces
    while a line stays under :data:`SPLIT_LENGTH` characters.  Short formulas stay whole."""
    tex = tex.strip()
    if len(tex) <= SPLIT_LENGTH:
        return [tex]
    separator = re.compile(r"([;,]\s*\\quad|\\qquad)(?![A-Za-z])")
    pieces, depth, k, start = [], 0, 0, 0
    while k < len(tex):
        match = separator.match(tex, k) if depth == 0 else None
        if match:
            pieces.append(tex[start:k + (1 if match.group(0)[0] in ";," else 0)].strip())
            start = k = match.end()
            continue
        ch = tex[k]
        if ch == "\\":
            word = re.match(r"\\([A-Za-z]+|.)", tex[k:]).group(1)
            depth += {"left": 1, "right": -1}.get(word, 0)
            k += 1 + len(word)
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        k += 1
    pieces.append(tex[start:].strip())
    lines = []
    for piece in (p for p in pieces if p):
        if lines and len(lines[-1]) + len(piece) + 7 <= SPLIT_LENGTH:
            lines[-1] += r" \quad " + piece
        else:
            lines.append(piece)
    return lines


def display_math(tex: str) -> str:
    """A display formula; long ones become a ``gather*`` with one line per top-level clause."""
    lines = split_display(tex.strip())
    if len(lines) == 1:
        return "\\begin{equation*}\n" + lines[0] + "\n\\end{equation*}"
    return "\\begin{gather*}\n" + " \\\\\n".join(lines) + "\n\\end{gather*}"


_CODE = {"\\": r"\char92{}", "{": r"\char123{}", "}": r"\char125{}", "~": r"\char126{}", "^": r"\char94{}",
         "_": r"\_\allowbreak{}", "/": r"/\allowbreak{}", "$": r"\$", "&": r"\&", "%": r"\%", "#": r"\#"}


def escape_code(text: str) -> str:
    """Text of a code span for ``\\texttt`` (OT1 typewriter has the ASCII glyphs < > | " at their codes)."""
    return "".join(_CODE.get(ch, ch if ord(ch) < 128 else "?") for ch in text)


def _math(tex: str) -> str:
    """Math from a derivation file: non-ASCII mapped, macros applied."""
    tex = "".join(ch if ord(ch) < 128 else {"\u2264": r"\le ", "\u2265": r"\ge "}.get(ch, " ") for ch in tex)
    return use_macros(tex)


def inline_latex(text: str, refs: "RefStyle") -> str:
    """One paragraph of mini-Markdown -> LaTeX (``$math$``, ``code``, ``*em*``, ``[[ID]]``)."""
    text = mark_emphasis(text)
    parts = []
    for k, piece in enumerate(_INLINE.split(text)):
        if k % 2 == 0:
            parts.append(escape_text(piece))
        elif piece.startswith("$$"):
            parts.append(r"\[" + _math(piece[2:-2]) + r"\]")
        elif piece.startswith("$"):
            parts.append("$" + _math(piece[1:-1]) + "$")
        elif piece.startswith("`"):
            parts.append(r"\texttt{" + escape_code(piece[1:-1]) + "}")
        else:
            parts.append(refs.latex(piece[2:-2]))
    return "".join(parts)


def mark_emphasis(text: str) -> str:
    """Replace Markdown ``**bold**`` and ``*emphasis*`` spans by sentinels (math and code protected),
    so that a span may enclose code or math and the braces still balance."""
    protected = []

    def protect(match):
        protected.append(match.group(0))
        return f"\x00{len(protected) - 1}\x00"
    text = _INLINE.sub(protect, text)
    text = re.sub(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", lambda m: _BF[0] + m.group(1) + _BF[1], text)
    text = re.sub(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])",
                  lambda m: _EM[0] + m.group(1) + _EM[1], text)
    return re.sub("\x00(\\d+)\x00", lambda m: protected[int(m.group(1))], text)


_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d+'?[.)])\s+(.*)$")  # "3'." is an item labelled 3'
_BLOCK_START = ("$$", "|", "#", "```")


@dataclass
class ListItem:
    """One item of a Markdown list: its own label (``"3'"`` for an item numbered ``3'.``, else None)
    and its content in reading order, text pieces and nested ``("list", ...)`` blocks."""
    label: str | None
    parts: list

    def add_text(self, text: str, new_paragraph: bool = False) -> None:
        if self.parts and isinstance(self.parts[-1], str) and not new_paragraph:
            self.parts[-1] += " " + text
        else:
            self.parts.append(text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _parse_list(lines: list[str], k: int, nested: bool = False) -> tuple[tuple, int]:
    """The list that starts at ``lines[k]`` -> (``("list", ordered, [ListItem], first number)``, next k).
    Items indented like the first one (one space of slack) belong to the list; a more indented item
    opens a nested list inside the current item; in a nested list a line indented no deeper than its
    items ends it (the line continues the parent item).  A blank line followed by a line indented under
    the last item's text continues that item."""
    head = _LIST_ITEM.match(lines[k])
    base, ordered = len(head.group(1)), head.group(2)[0].isdigit()
    first = int(re.match(r"\d+", head.group(2)).group(0)) if ordered else 1
    items, content, blank = [], base, False
    while k < len(lines):
        line = lines[k]
        if not line.strip():
            if (items and k + 1 < len(lines) and lines[k + 1].strip() and _indent(lines[k + 1]) >= content
                    and not lines[k + 1].strip().startswith(_BLOCK_START)):
                k, blank = k + 1, True
                continue
            break
        match, indent = _LIST_ITEM.match(line), _indent(line)
        if match and indent <= base + 1:
            if indent < base or match.group(2)[0].isdigit() != ordered:
                break  # the parent list resumes, or a list of the other kind starts
            marker = match.group(2)
            items.append(ListItem(marker[:-1] if "'" in marker else None, [match.group(3)]))
            content = match.start(3)
        elif match:
            block, k = _parse_list(lines, k, nested=True)
            items[-1].parts.append(block)
            continue
        elif line.strip().startswith(_BLOCK_START) or (nested and indent <= base):
            break
        else:
            items[-1].add_text(line.strip(), new_paragraph=blank)
        k, blank = k + 1, False
    return ("list", ordered, items, first), k


def markdown_blocks(text: str) -> list[tuple]:
    """Split mini-Markdown into blocks: ("heading", level, text), ("para", text),
    ("list", ordered, [ListItem], first number), ("display", tex), ("table", [rows of cells]), ("code", text)."""
    lines = text.splitlines()
    blocks, k = [], 0
    while k < len(lines):
        line = lines[k]
        stripped = line.strip()
        if not stripped:
            k += 1
            continue
        if stripped.startswith("```"):
            body, k = [], k + 1
            while k < len(lines) and not lines[k].strip().startswith("```"):
                body.append(lines[k])
                k += 1
            blocks.append(("code", "\n".join(body)))
            k += 1
            continue
        if stripped.startswith("$$"):
            body = [stripped[2:]]
            if stripped.endswith("$$") and len(stripped) > 3:
                body, k = [stripped[2:-2]], k + 1
            else:
                k += 1
                while k < len(lines) and "$$" not in lines[k]:
                    body.append(lines[k])
                    k += 1
                if k < len(lines):
                    body.append(lines[k].split("$$")[0])
                k += 1
            blocks.append(("display", "\n".join(b for b in body if b.strip())))
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if heading:
            blocks.append(("heading", len(heading.group(1)), heading.group(2).strip()))
            k += 1
            continue
        if (stripped.startswith("|") and k + 1 < len(lines)
                and re.fullmatch(r"\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*", lines[k + 1].strip())):
            rows = []
            while k < len(lines) and lines[k].strip().startswith("|"):
                cells = [c.strip() for c in lines[k].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells if c):
                    rows.append(cells)
                k += 1
            blocks.append(("table", rows))
            continue
        if _LIST_ITEM.match(line):
            block, k = _parse_list(lines, k)
            if blocks and blocks[-1][0] == "list" and blocks[-1][1] == block[1]:
                blocks[-1][2].extend(block[2])
            else:
                blocks.append(block)
            continue
        body = [stripped]
        k += 1
        while k < len(lines) and lines[k].strip() and not _LIST_ITEM.match(lines[k]) \
                and not lines[k].strip().startswith(("$$", "|", "#", "```")):
            body.append(lines[k].strip())
            k += 1
        blocks.append(("para", " ".join(body)))
    return blocks


def markdown_to_latex(text: str, refs: "RefStyle | None" = None) -> str:
    """Mini-Markdown (as in ``derivations/``) -> LaTeX body text that compiles."""
    refs = refs or RefStyle(set())
    out = []
    for block in markdown_blocks(text):
        kind = block[0]
        if kind == "heading":
            out.append(r"\paragraph{" + inline_latex(block[2], refs) + "}")
        elif kind == "para":
            out.append(inline_latex(block[1], refs))
        elif kind == "display":
            out.append(display_math(_math(block[1]).strip()))
        elif kind == "list":
            out.append(_list_latex(block, refs))
        elif kind == "table":
            out.append(_latex_table(block[1], refs))
        else:
            out.append("\\begin{verbatim}\n" + block[1] + "\n\\end{verbatim}")
    return "\n\n".join(out)


_ENUM_COUNTERS = ("enumi", "enumii", "enumiii", "enumiv")
_STEP_LABEL = re.compile(r"^(\d+[a-z]'?)\.\s+")  # a bullet written "- 3a. ..." is labelled 3a


def _list_latex(block: tuple, refs: "RefStyle", enum_depth: int = 0) -> str:
    """A ("list", ...) block -> itemize/enumerate, nested lists inside their item."""
    _, ordered, items, first = block
    env = "enumerate" if ordered else "itemize"
    out = [f"\\begin{{{env}}}"]
    if ordered and first > 1:
        out.append(f"\\setcounter{{{_ENUM_COUNTERS[min(enum_depth, 3)]}}}{{{first - 1}}}")
    for item in items:
        label, parts = item.label, list(item.parts)
        step = _STEP_LABEL.match(parts[0]) if not ordered and parts and isinstance(parts[0], str) else None
        if step:
            label, parts[0] = step.group(1), parts[0][step.end():]
        body = ""
        for k, part in enumerate(parts):  # paragraphs of an item are separated by a blank line
            body += ("" if k == 0 else "\n\n" if isinstance(part, str) and isinstance(parts[k - 1], str) else "\n")
            body += inline_latex(part, refs) if isinstance(part, str) else \
                _list_latex(part, refs, enum_depth + (1 if ordered else 0))
        out.append(r"  \item" + (f"[{escape_text(label)}.]" if label else "") + " " + body)
    out.append(f"\\end{{{env}}}")
    return "\n".join(out)


def _latex_table(rows, refs, widths=None) -> str:
    if not rows:
        return ""
    ncol = max(len(r) for r in rows)
    widths = widths or [0.95 / ncol] * ncol
    spec = "".join(f"p{{\\dimexpr {w:.3f}\\linewidth-2\\tabcolsep\\relax}}" for w in widths)
    body = []
    for k, row in enumerate(rows):
        cells = [inline_latex(c, refs) for c in row] + [""] * (ncol - len(row))
        if k == 0:
            cells = [r"\textbf{" + c + "}" for c in cells]
        body.append(" & ".join(cells) + r" \\" + (r" \hline" if k == 0 else ""))
    return ("{\\small\\begin{longtable}{" + spec + "}\n" + "\n".join(body) + "\n\\end{longtable}}")


# ------------------------------------------------------------------------------------------------
# Derivation files
# ------------------------------------------------------------------------------------------------

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


# ------------------------------------------------------------------------------------------------
# The document model
# ------------------------------------------------------------------------------------------------

class RefStyle:
    """How ``[[ID]]`` renders: ``Lemma~\\ref{lem:ID}`` in LaTeX (plain text when the catalogue does
    not hold the lemma, so a missing lemma can never leave an undefined reference), ``lemma ID`` in
    Markdown."""

    def __init__(self, known: set[str]):
        self.known = known

    def latex(self, lemma_id: str) -> str:
        if ":" in lemma_id:  # a label of the document itself
            kind = {"thm": "Theorem", "sec": "Section"}[lemma_id.split(":")[0]]
            return f"{kind}~\\ref{{{lemma_id}}}"
        key = lemma_id.replace("'", "p")
        if key in self.known:
            return f"Lemma~\\ref{{lem:{key}}}"
        return f"lemma {escape_text(lemma_id)}"

    def markdown(self, lemma_id: str) -> str:
        if ":" in lemma_id:
            kind, name = lemma_id.split(":")
            word = {"thm": "theorem", "sec": "section"}[kind]
            return f"[{word} {name}](#{word}-{name})"
        key = lemma_id.replace("'", "p")
        return f"[lemma {key}](#lemma-{key.lower()})" if key in self.known else f"lemma {lemma_id}"


@dataclass
class Node:
    kind: str  # section, subsection, para, display, lemma, theorem, table, raw
    title: str = ""
    label: str = ""
    text: str = ""
    items: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)


_FAMILIES = [("T", "Divergence algebra"), ("GTV", "Divergence algebra"), ("C", "Concentration"),
             ("K", "Kernel density estimation"), ("D", "Diffusion models")]


def _family(lemma_id: str) -> str:
    for prefix, name in _FAMILIES:
        if lemma_id == prefix or (len(prefix) == 1 and re.fullmatch(prefix + r"\d+p?", lemma_id)):
            return name
    return "Further lemmas"


_FAMILY_INTRO = {
    "Divergence algebra": (
        "Identities and inequalities for the total-variation distance "
        r"$\mathrm{TV}(P, Q) = \tfrac12 \int |p - q|$ and its relation to the Kullback-Leibler divergence. "
        "They carry a bound from one generation to the next."),
    "Concentration": ("How far a random quantity strays from its mean, and how many statements can "
                      "hold at once: the probability $1 - \\delta$ of every result comes from here."),
    "Kernel density estimation": (
        "A Gaussian kernel density estimate (KDE) is a learner whose one-generation error has explicit "
        "constants: a bias term that shrinks with the bandwidth and a stochastic term that shrinks with "
        "the sample size."),
    "Diffusion models": (
        "The random-feature score model of Li et al. (2023), its early-stopping optimum, and one "
        "generation of such a model inside a loop. The hidden factors of the original bound are named "
        "constants; conclusions drawn with their default values describe the shape of the bound only."),
    "Further lemmas": "Lemmas of the catalogue that belong to none of the families above.",
}


def _lemma_order_key(lemma) -> tuple:
    from boundcalc.bounds.compose import _ORDER
    families = [name for _, name in _FAMILIES] + ["Further lemmas"]
    pos = _ORDER.index(lemma.id) if lemma.id in _ORDER else len(_ORDER)
    return (families.index(_family(lemma.id)), pos, lemma.id)


def _closed_form_templates() -> dict:
    """The authored closed forms that :func:`boundcalc.bounds.compose.closed_form` attaches to results, for
    the power-law learner (what ``boundcalc bound --latex`` prints), by scheme."""
    from boundcalc.bounds.compose import closed_form
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.model.schemes import make_scheme
    learner, out = PowerLaw(1.0, 0.25), {}
    for name in ("replace", "mix", "accumulate"):
        try:
            form = closed_form(make_scheme(name, n_real=1000, n_synth=500), learner, 5)
        except Exception:  # noqa: BLE001 - the document must build even if one scheme changes
            form = None
        if form is not None:
            out[name] = (form.latex(), form.where, sympy_latex(form.expr, macros=False), form.expr)
    return out


def document_nodes() -> list[Node]:
    """The content of the derivation document, in reading order."""
    from boundcalc.theory.catalogue import all_lemmas
    lemmas = sorted(all_lemmas(), key=_lemma_order_key)
    nodes: list[Node] = []
    add = nodes.append

    add(Node("para", text=(
        "This document collects, in the order a reader needs them, the mathematics that boundcalc "
        "implements: the notation, the self-consuming loop and its data-mixing schemes, every lemma of "
        "the catalogue with its hypotheses, provenance and a proof sketch, the composition theorem for "
        "each scheme, the phase transition in the amount of synthetic data and the early-stopping "
        "result. It is generated from the code (`boundcalc latex`): statements are the catalogue's "
        "authored templates, proof sketches come from the files in `derivations/`, where every step is "
        "spelled out and tied to the test that checks it.")))
    add(Node("para", text=(
        "Provenance labels: **[Li23]** a result read in Li, Li, Zhang and Bian, *On the Generalization "
        "Properties of Diffusion Models* (NeurIPS 2023); **[Fu24]** a claim of Fu, Zhang, Wang, Tian and "
        "Tao, *Towards Theoretical Understandings of Self-Consuming Generative Models* (ICML 2024), whose "
        "theorem statements and constants were not available, so every result about the loop is "
        "re-derived here and reproduces the claim; **[classical]** a textbook result, cited in its "
        "derivation; **[derived]** derived for this project, proved in `derivations/` and machine-checked. "
        "A bound whose constants are fitted to data is called calibrated, never proved.")))

    # --- notation -------------------------------------------------------------------------
    add(Node("section", "Notation", "sec:notation"))
    add(Node("para", text=(
        "Every shared symbol has one macro, defined once in the preamble of this document; the table "
        "lists the macro, the symbol, its meaning and the range of values boundcalc accepts.")))
    add(Node("table", items=[["macro", "symbol", "meaning", "valid range"]] + [
        [f"`\\{macro}`", f"${tex}$", meaning, f"${rng}$" if rng else ""]
        for _, macro, tex, meaning, rng in symbol_table()], extra={"widths": [0.16, 0.14, 0.48, 0.17]}))
    add(Node("para", text="The objects of the loop:"))
    add(Node("table", items=[["object", "meaning"]] + [[f"${tex}$", meaning] for tex, meaning in _OBJECTS],
             extra={"widths": [0.3, 0.65]}))
    add(Node("para", text=(
        r"Total variation is $\mathrm{TV}(P, Q) = \sup_A |P(A) - Q(A)| = \tfrac12 \int |p - q|$, a metric "
        r"with values in $[0, 1]$: a bound larger than 1 is vacuous.")))

    # --- the loop -----------------------------------------------------------------------------
    add(Node("section", "The loop and its data-mixing schemes", "sec:schemes"))
    add(Node("para", text=(
        r"Generation 1 is trained on $n_{\mathrm{real}}$ real samples, so $N_1 = n_{\mathrm{real}}$ and "
        r"$q_1 = p_0$. Generation $i \ge 2$ is trained on a set whose population law $q_i$ mixes $p_0$ "
        r"with earlier outputs, as follows (`boundcalc/schemes.py` is the one definition used by both "
        r"the bounds and the experiments).")))
    add(Node("table", items=[
        ["scheme", "training set of generation $i \\ge 2$", "$N_i$", "$q_i$"],
        ["`replace`", r"$n_{\mathrm{synth}}$ samples of $p_{i-1}$", r"$n_{\mathrm{synth}}$", r"$p_{i-1}$"],
        ["`mix`", r"$n_{\mathrm{real}}$ real and $n_{\mathrm{synth}}$ samples of $p_{i-1}$",
         r"$n_{\mathrm{real}} + n_{\mathrm{synth}}$", r"$\lambda p_0 + (1-\lambda) p_{i-1}$, $\lambda = n_{\mathrm{real}}/N_i$"],
        ["`accumulate`", r"$n_{\mathrm{real}}$ real and $n_{\mathrm{synth}}$ samples of every $p_j$, $j < i$",
         r"$n_{\mathrm{real}} + (i-1) n_{\mathrm{synth}}$", r"$\big(n_{\mathrm{real}} p_0 + n_{\mathrm{synth}} \sum_{j<i} p_j\big)/N_i$"],
        ["`schedule`", r"given $\lambda_i$ and $N_i$", r"$N_i$", r"$\lambda_i p_0 + (1-\lambda_i) p_{i-1}$"],
    ], extra={"widths": [0.14, 0.33, 0.2, 0.28]}))
    add(Node("para", text=(
        "In `mix` and `accumulate` the real data is either fresh (new real samples at every generation) "
        "or reused (one real set for all generations); the two need different concentration arguments "
        "([[sec:kde-loop]]).")))

    # --- lemmas --------------------------------------------------------------------------------
    add(Node("section", "Lemmas", "sec:lemmas"))
    add(Node("para", text=(
        "Each lemma gives its statement (the authored template of the catalogue), its hypotheses as the "
        "code states them, its provenance, a proof sketch taken from its derivation file, and its source.")))
    family = None
    for lemma in lemmas:
        if _family(lemma.id) != family:
            family = _family(lemma.id)
            add(Node("subsection", family, "sec:fam-" + re.sub(r"\W", "", family.lower())))
            add(Node("para", text=_FAMILY_INTRO[family]))
        path = derivation_path(lemma)
        deriv = parse_derivation(path) if path.is_file() else None
        proof = deriv.sections.get("Proof", "") if deriv else ""
        numeric = deriv.sections.get("Numeric check", "") if deriv else ""
        add(Node("lemma", lemma.title, f"lem:{lemma.id}", text=lemma.latex, items=list(lemma.hypotheses),
                 extra={"id": lemma.id, "provenance": lemma.provenance, "source": lemma.source,
                        "proof": proof or "(No derivation file found: the proof is missing.)",
                        "numeric": numeric, "derivation": lemma.derivation}))

    _composition_nodes(add)
    _phase_nodes(add)
    _early_stopping_nodes(add)

    add(Node("section", "Provenance of the catalogue", "sec:provenance"))
    add(Node("table", items=[["lemma", "provenance", "derivation", "source"]] + [
        [f"[[{l.id}]]", l.provenance, f"`{l.derivation}`", l.source] for l in lemmas],
        extra={"widths": [0.15, 0.16, 0.24, 0.4]}))  # the derivation column holds a whole path
    return nodes


def _composition_nodes(add):
    forms = _closed_form_templates()
    add(Node("section", "Composition across generations", "sec:composition"))
    add(Node("para", text=(
        r"Write $a_i = \mathrm{TV}(p_i, p_0)$ and $\varepsilon_i = \mathrm{TV}(p_i, q_i)$. The lemmas above "
        r"turn one-generation errors into a bound on the last generation. The proofs are in "
        r"`derivations/composition.md`; every closed form is checked by substituting it back into the "
        r"recursion.")))
    add(Node("theorem", "Recursion", "thm:recursion", text=(
        r"a_1 \le \varepsilon_1, \qquad a_i \le \varepsilon_i + \mathrm{TV}(q_i, p_0) \quad (i \ge 2),"),
        items=[r"`mix`, `schedule`: $\mathrm{TV}(q_i, p_0) = (1-\lambda_i)\, a_{i-1}$;",
               r"`accumulate`: $\mathrm{TV}(q_i, p_0) \le \frac{n_{\mathrm{synth}}}{N_i} \sum_{j<i} a_j$;",
               r"`replace`: $\mathrm{TV}(q_i, p_0) = a_{i-1}$."],
        extra={"provenance": "[derived]", "proof": (
            "The triangle inequality [[T2]] splits $a_i$ at $q_i$. For `mix` and `schedule`, "
            r"$q_i - p_0 = (1-\lambda_i)(p_{i-1} - p_0)$ pointwise, which is the mixture identity [[T1]]; "
            "`replace` is the case $\\lambda_i = 0$. For `accumulate`, $q_i - p_0$ is a weighted sum of the "
            "$p_j - p_0$ and convexity (the corollary of [[T1]]) gives the inequality. The coefficients of "
            "the recursion are nonnegative, so the sequence defined with equality dominates every sequence "
            "that satisfies the inequalities (induction): each closed form below solves the recursion "
            "with equality and therefore bounds $a_K$.")}))
    add(Node("theorem", "Replace: linear growth", "thm:replace", text=r"a_K \le \sum_{i=1}^{K} \varepsilon_i",
             extra={"provenance": "[derived]", "proof": (
                 "Unroll $a_i \\le \\varepsilon_i + a_{i-1}$. At a fixed training-set size the bound grows "
                 "linearly in $K$.")}))
    add(Node("theorem", "Mix with a constant real fraction: bounded error [Fu24]", "thm:mix", text=(
        r"a_K \le (1-\lambda)^{K-1} \varepsilon_1 + \frac{1-(1-\lambda)^{K-1}}{\lambda}\, \varepsilon "
        r"\le \max\Big(\varepsilon_1, \frac{\varepsilon}{\lambda}\Big)"),
        items=[r"$\lambda_i = \lambda \in (0, 1]$ and $\varepsilon_i = \varepsilon$ for $i \ge 2$."],
        extra={"provenance": "[derived]", "proof": (
            r"The right side solves $A_K = \varepsilon + (1-\lambda) A_{K-1}$, $A_1 = \varepsilon_1$. With "
            r"$\theta = (1-\lambda)^{K-1} \in (0, 1]$ it equals $\theta \varepsilon_1 + (1-\theta)\varepsilon/\lambda$, "
            r"a convex combination: the error stays controlled for every $K$ when the real fraction is "
            r"bounded away from zero, and tends to $\varepsilon/\lambda$.")}))
    add(Node("theorem", "Accumulate: logarithmic growth", "thm:accumulate", text=(
        r"a_K \le \varepsilon H_K = \varepsilon \sum_{i=1}^{K} \frac{1}{i} \approx \varepsilon (\ln K + 0.5772)"),
        items=[r"$n_{\mathrm{synth}} = n_{\mathrm{real}}$, so $N_i = i\, n_{\mathrm{real}}$, and $\varepsilon_i = \varepsilon$ for all $i$."],
        extra={"provenance": "[derived]", "proof": (
            r"The recursion reads $A_i = \varepsilon + \frac1i \sum_{j<i} A_j$. The identity "
            r"$\sum_{j=1}^{m} H_j = (m+1) H_m - m$ gives $\varepsilon + \frac1i \varepsilon (i H_{i-1} - (i-1)) = "
            r"\varepsilon H_i$. For $K = 50$, $H_{50} = 4.4992$.")}))
    add(Node("theorem", "Final-generation rescue [Fu24]", "thm:rescue", text=(
        r"a_K \le \varepsilon + (1-\lambda_K)(K-1)\,\varepsilon, \qquad \lambda_K \ge \frac{K-1}{K} "
        r"\ \Rightarrow\ a_K < 2\varepsilon"),
        items=[r"Generations $2, \dots, K-1$ are fully synthetic, generation $K$ has real fraction "
               r"$\lambda_K$; $\varepsilon_i = \varepsilon$."],
        extra={"provenance": "[derived]", "proof": (
            r"By [[thm:replace]], $a_{K-1} \le (K-1)\varepsilon$; one step of the `mix` recursion "
            r"adds $\varepsilon$ and multiplies by $1 - \lambda_K$. A real share of order $(i-1)/i$ at the "
            r"last generation is what keeps the error at the level of one generation.")}))
    add(Node("theorem", "Growing sample sizes in replace", "thm:growth", text=(
        r"N_i = N_1\, i^{1/\alpha + s},\ s > 0 \ \Rightarrow\ a_K \le C N_1^{-\alpha} \zeta(1 + \alpha s); "
        r"\qquad K\, C N^{-\alpha} \le \varepsilon^\star \iff N \ge (K C/\varepsilon^\star)^{1/\alpha}"),
        items=[r"$\varepsilon(N) = C N^{-\alpha}$ with $C, \alpha > 0$."],
        extra={"provenance": "[derived]", "proof": (
            r"With the growing sizes, $C N_i^{-\alpha} = C N_1^{-\alpha} i^{-1-\alpha s}$, a convergent "
            r"series. With one common size $N$, the `replace` bound $K C N^{-\alpha}$ meets a target "
            r"$\varepsilon^\star$ only if $N$ grows like $K^{1/\alpha}$: $K^4$ for $\alpha = 1/4$ (the "
            r"quartic growth reported by [Fu24]) and $K^5$ for the early-stopped diffusion rate after "
            r"Pinsker ([[sec:early-stopping]]). The growth follows from the learner's rate.")}))
    if forms:
        add(Node("subsection", "The closed forms boundcalc prints", "sec:printed-forms"))
        add(Node("para", text=(
            r"For the power-law learner $\varepsilon(N) = C N^{-\alpha}$ (generation 1 trains on "
            r"$n_{\mathrm{real}}$ samples) `boundcalc bound --latex` prints, per scheme, the authored "
            r"closed form below; the second line is sympy's printing of the same expression, which the "
            r"calculator evaluates.")))
        for name, (template, where, printed, _expr) in forms.items():
            add(Node("para", text=f"`{name}`:" + (f" with ${where}$," if where else "")))
            add(Node("display", text=template))
            add(Node("display", text="a_K \\le " + printed, extra={"sympy": True}))


def _phase_nodes(add):
    add(Node("section", "The loop with a Gaussian KDE", "sec:kde-loop"))
    add(Node("theorem", "Explicit per-generation error of a KDE loop", "thm:kde-loop", text=(
        r"a_i \le \underbrace{\tfrac{h^2}{4} \|\Delta p_0\|_1}_{b(h)} + s_i + \mathrm{TV}(q_i, p_0), \qquad "
        r"s_i \le \tfrac12 \Big[(4\pi)^{-d/4} (N_i h^d)^{-1/2} J_i + \sqrt{2 \ln(K/\delta)/N_i}\Big]"),
        items=[r"Gaussian kernel of bandwidth $h$; given the past, the $N_i$ samples of a fresh training "
               r"set are independent; $J_i = \int \sqrt{q_i * \varphi_{h/\sqrt2}}$.",
               "The bound on $s_i$ holds for all $K$ generations together with probability at least "
               r"$1 - \delta$."],
        extra={"provenance": "[derived]", "proof": (
            r"Split $a_i$ twice with [[T2]]: at $q_i * \varphi_h$ and at $p_0 * \varphi_h$. Convolution "
            r"contracts TV ([[T3]]), so the middle term is at most $\mathrm{TV}(q_i, p_0)$; the bias is half "
            r"of [[K1]]; the stochastic term is half of [[K2]] plus the deviation of [[C2]], each at level "
            r"$\delta/K$ ([[C3]]). With reused real data the estimate splits into its real and synthetic "
            r"parts; the real part is one random variable shared by all generations and is bounded once. "
            r"For unseen $q_i$ the a-priori calculator evaluates $J_i$ at the expected training law of [[K4]]: "
            r"an assumption that every result lists.")}))

    add(Node("section", "Phase transition in the amount of synthetic data", "sec:phase"))
    add(Node("theorem", "Phase transition [Fu24]", "thm:phase", text=(
        r"f(s) = C (n_{\mathrm{real}} + s)^{-\alpha} + \frac{s}{n_{\mathrm{real}} + s}\, a_{i-1}, \qquad "
        r"s^* = \Big(\frac{a_{i-1}\, n_{\mathrm{real}}}{\alpha C}\Big)^{1/(1-\alpha)} - n_{\mathrm{real}}"),
        items=[r"Generation $i$ of `mix` with $n_{\mathrm{real}}$ fixed and $s = n_{\mathrm{synth}}$ varied; "
               r"$\varepsilon(N) = C N^{-\alpha}$ with $C > 0$, $0 < \alpha < 1$.",
               r"A transition ($s^* > 0$) exists iff $a_{i-1} > \alpha C n_{\mathrm{real}}^{-\alpha}$: then $f$ "
               r"rises on $[0, s^*]$, falls after $s^*$, and tends to $a_{i-1}$ from above.",
               r"At generation 2 ($a_1 = C n_{\mathrm{real}}^{-\alpha}$): $s^* = (\alpha^{-1/(1-\alpha)} - 1)\, "
               r"n_{\mathrm{real}}$; $\alpha = 1/5$ gives $s^* = (5^{5/4} - 1)\, n_{\mathrm{real}} "
               r"\approx 6.4767\, n_{\mathrm{real}}$."],
        extra={"provenance": "[derived]", "proof": (
            r"$f'(s) = N^{-2}\big(a_{i-1} n_{\mathrm{real}} - \alpha C N^{1-\alpha}\big)$ with "
            r"$N = n_{\mathrm{real}} + s$. The bracket decreases strictly in $N$ for $0 < \alpha < 1$, so $f'$ "
            r"changes sign at most once, from $+$ to $-$, at $N^*$; $s^* > 0$ iff the existence condition holds. "
            r"Finally $f(s) - a_{i-1} = N^{-1}(C N^{1-\alpha} - n_{\mathrm{real}} a_{i-1})$ is eventually "
            r"positive and tends to 0. For learners that are not a power law the root of $f'$ is located "
            r"numerically and the threshold, the peak and the limit are reported. Details in "
            r"`derivations/phase-transition.md`.")}))


def _early_stopping_nodes(add):
    add(Node("section", "Early stopping and the diffusion loop", "sec:early-stopping"))
    add(Node("theorem", "Early-stopping optimum [Li23]", "thm:early-stopping", text=(
        r"\tau^* = \Big(\frac{c_{\mathrm{opt}}\, m n}{4 c_{\mathrm{stat}}}\Big)^{1/5} \ (c_{\mathrm{width}} = 0), "
        r"\qquad m \propto n:\ \tau^* = \Theta(n^{2/5}),\ \ \min_\tau \mathrm{KL} \lesssim n^{-2/5} + m^{-4/5}"),
        items=[r"The $\tau$-dependent part of [[D1]], $g(\tau) = c_{\mathrm{stat}} \tau^4/(m n) + "
               r"c_{\mathrm{width}} \tau^3/m^2 + c_{\mathrm{opt}}/\tau$, minimised over $\tau \ge 1$."],
        extra={"provenance": "[Li23, derived]", "proof": (
            r"$\tau^2 g'(\tau) = 4 c_{\mathrm{stat}} \tau^5/(m n) + 3 c_{\mathrm{width}} \tau^4/m^2 - c_{\mathrm{opt}}$ "
            r"increases strictly in $\tau$, so the root is unique and the minimiser over $\tau \ge 1$ is the "
            r"larger of 1 and that root ([[D2]]); with $c_{\mathrm{width}} > 0$ it is found by Newton's method (monotone from the right, the slope being convex) and "
            r"checked by substitution.")}))
    add(Node("theorem", "Diffusion model in the loop", "thm:diffusion-loop", text=(
        r"\varepsilon_i \le \min\Big(\sqrt{\mathrm{KL}_i/2},\ \sqrt{1 - e^{-\mathrm{KL}_i}}\Big), \qquad "
        r"\varepsilon(N) \asymp N^{-1/5} \ \Rightarrow\ N \gtrsim K^5 \text{ for } K \varepsilon(N) \le \varepsilon^\star "
        r"\text{ in } \texttt{replace}"),
        items=[r"[[D1]] holds for every training law $q_i$ with the same constants (an idealisation: a "
               r"diffusion output has Gaussian tails); $\mathrm{KL}_i$ is the [[D1]] bound at $n = N_i$."],
        extra={"provenance": "[derived]", "proof": (
            r"Apply [[D1]] at $n = N_i$ with the early-stopped $\tau^*$, convert KL to TV with the better of "
            r"Pinsker ([[T4]]) and Bretagnolle-Huber ([[T4']]) ([[D3]]), and compose with "
            r"[[thm:recursion]]. At the early-stopped rate $\mathrm{KL} \asymp N^{-2/5}$, Pinsker gives "
            r"$\varepsilon \asymp N^{-1/5}$, and [[thm:growth]] turns this into the $K^5$ growth "
            r"of a fully synthetic loop.")}))


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------

_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[margin=2.3cm]{geometry}
\usepackage{amsmath,amssymb,amsthm}
\usepackage{longtable,array}
\usepackage[hidelinks]{hyperref}
\newtheorem{lemma}{Lemma}[section]
\newtheorem{theorem}{Theorem}[section]
\theoremstyle{remark}
\newtheorem*{provenance}{Provenance}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5\baselineskip}
\sloppy
% --- one macro per shared symbol (boundcalc.theory.notation) ---
%MACROS%
"""


def build_latex() -> str:
    """The derivation document as one self-contained LaTeX file."""
    from boundcalc.theory.catalogue import all_lemmas
    refs = RefStyle({l.id for l in all_lemmas()})
    nodes = document_nodes()
    first_section = next((k for k, n in enumerate(nodes) if n.kind == "section"), len(nodes))
    intro = [_node_latex(n, refs) for n in nodes[:first_section]]  # before the table of contents
    body = [_node_latex(n, refs) for n in nodes[first_section:]]
    return (_PREAMBLE.replace("%MACROS%", preamble_macros())
            + "\\title{boundcalc: bounds for self-consuming generative models\\\\[2pt]"
              "\\large lemmas, composition, phase transition and early stopping}\n"
              "\\author{generated by \\texttt{boundcalc latex}}\n\\date{}\n"
              "\\begin{document}\n\\maketitle\n\n"
            + "\n\n".join(intro) + "\n\n\\tableofcontents\n\n"
            + "\n\n".join(body) + "\n\n\\end{document}\n")


def _node_latex(node: Node, refs: RefStyle) -> str:
    k = node.kind
    if k == "section":
        return f"\\section{{{escape_text(node.title)}}}\\label{{{node.label}}}"
    if k == "subsection":
        return f"\\subsection{{{escape_text(node.title)}}}\\label{{{node.label}}}"
    if k == "para":
        return markdown_to_latex(node.text, refs)
    if k == "display":
        return display_math(use_macros(node.text))
    if k == "table":
        return _latex_table(node.items, refs, node.extra.get("widths"))
    if k in ("lemma", "theorem"):
        env = k
        title = escape_text(node.title)
        out = []
        if k == "lemma":  # a lemma is numbered by its catalogue id, so that "Lemma~\ref{lem:D1}" reads "Lemma D1"
            out.append(f"\\renewcommand{{\\thelemma}}{{{escape_text(node.extra['id'])}}}")
        out += [f"\\begin{{{env}}}[{{{title}}}]\\label{{{node.label}}}",
               display_math(use_macros(node.text))]
        if node.items:
            out.append("\\textbf{Hypotheses.}\n\\begin{itemize}\n" + "\n".join(
                r"  \item " + inline_latex(h, refs) for h in node.items) + "\n\\end{itemize}")
        out.append(f"\\textbf{{Provenance:}} {escape_text(node.extra['provenance'])}.")
        if node.extra.get("source"):
            out.append(r"\textbf{Source:} " + inline_latex(node.extra["source"], refs))
        out.append(f"\\end{{{env}}}")
        proof = markdown_to_latex(node.extra.get("proof", ""), refs)
        if proof.startswith(("\\begin{enumerate}", "\\begin{itemize}")):
            proof = "\\leavevmode\n" + proof  # the list starts below "Proof sketch.", not beside it
        if node.extra.get("derivation"):
            proof += "\n\n" + inline_latex(f"Full derivation: `{node.extra['derivation']}`.", refs)
        if node.extra.get("numeric"):
            proof += "\n\n\\textbf{Numeric check.} " + markdown_to_latex(node.extra["numeric"], refs)
        out.append("\\begin{proof}[Proof sketch]\n" + proof + "\n\\end{proof}")
        return "\n".join(out)
    raise ValueError(f"unknown node kind {k}")  # pragma: no cover


def build_markdown() -> str:
    """The same content as :func:`build_latex`, as Markdown with ``$...$`` math (raw LaTeX, no macros)."""
    from boundcalc.theory.catalogue import all_lemmas
    refs = RefStyle({l.id for l in all_lemmas()})
    out = ["# boundcalc: bounds for self-consuming generative models",
           "", "*Generated by `boundcalc latex --markdown`.*", ""]
    for node in document_nodes():
        out.append(_node_markdown(node, refs))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _md_inline(text: str, refs: RefStyle) -> str:
    return re.sub(r"\[\[([A-Za-z0-9':-]+)\]\]", lambda m: refs.markdown(m.group(1)), text)


def _node_markdown(node: Node, refs: RefStyle) -> str:
    k = node.kind
    if k == "section":
        return f"## {node.title}\n<a id=\"section-{node.label[4:]}\"></a>"
    if k == "subsection":
        return f"### {node.title}"
    if k == "para":
        return _md_inline(node.text, refs)
    if k == "display":
        return "$$\n" + node.text + "\n$$"
    if k == "table":
        rows = [[_md_inline(c, refs).replace("|", r"\|") if not c.startswith("$") else
                 c.replace("|", r"\vert ") for c in row] for row in node.items]
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(lines)
    if k in ("lemma", "theorem"):
        if k == "lemma":
            head = f"### Lemma {node.extra['id']}: {node.title}\n<a id=\"lemma-{node.extra['id'].lower()}\"></a>"
        else:
            head = f"### Theorem ({node.title})\n<a id=\"theorem-{node.label[4:]}\"></a>"
        out = [head, "", f"**Provenance:** {node.extra['provenance']}", "", "$$\n" + node.text + "\n$$"]
        if node.items:
            out += ["", "**Hypotheses.**", ""] + [f"- {_md_inline(h, refs)}" for h in node.items]
        if node.extra.get("source"):
            out += ["", f"**Source:** {node.extra['source']}"]
        out += ["", "**Proof sketch.**", "", _md_inline(node.extra.get("proof", ""), refs).strip()]
        if node.extra.get("derivation"):
            out += ["", f"Full derivation: `{node.extra['derivation']}`."]
        if node.extra.get("numeric"):
            out += ["", "**Numeric check.** " + node.extra["numeric"].strip()]
        return "\n".join(out)
    raise ValueError(f"unknown node kind {k}")  # pragma: no cover


# ------------------------------------------------------------------------------------------------
# Compiling
# ------------------------------------------------------------------------------------------------

@dataclass
class CompileResult:
    """Outcome of :func:`compile_pdf`: the PDF path and the problems found in the log."""
    pdf: Path | None
    errors: list
    undefined_references: list
    log: str

    @property
    def ok(self) -> bool:
        return self.pdf is not None and not self.errors and not self.undefined_references


def pdflatex_path() -> str | None:
    return shutil.which("pdflatex")


def compile_pdf(tex_source: str, pdf_path, runs: int = 2, timeout: float = 120) -> CompileResult:
    """Compile ``tex_source`` with pdflatex (``runs`` passes, for references) in a temporary folder
    and move the PDF to ``pdf_path`` atomically.  Raises BoundcalcError when pdflatex is absent;
    returns the errors and undefined references found in the log (the PDF is only written when
    there are none)."""
    exe = pdflatex_path()
    if exe is None:
        raise BoundcalcError("--pdf needs pdflatex, which is not installed (install texlive-latex-base, "
                             "texlive-latex-recommended, texlive-fonts-recommended; the .tex file is written)")
    pdf_path = Path(pdf_path)
    with tempfile.TemporaryDirectory(prefix="boundcalc-latex-") as tmp:
        src = Path(tmp) / "document.tex"
        src.write_text(tex_source, encoding="utf-8")
        log_text, errors = "", []
        for _ in range(runs):
            proc = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                                   "document.tex"], cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=timeout, env={**os.environ, "SOURCE_DATE_EPOCH": "0"})
            log_file = Path(tmp) / "document.log"
            log_text = log_file.read_text(encoding="latin-1") if log_file.exists() else proc.stdout.decode("latin-1")
            errors = _log_errors(log_text)
            if proc.returncode != 0 and not errors:
                errors = [f"pdflatex exited with status {proc.returncode}"]
            if errors:
                break
        undefined = re.findall(r"(?:Reference|Citation) `([^']+)' on page \d+ undefined", log_text)
        if "There were undefined references" in log_text and not undefined:
            undefined = ["(see log)"]
        produced = Path(tmp) / "document.pdf"
        if errors or undefined or not produced.exists():
            return CompileResult(None, errors or ([] if produced.exists() else ["no PDF produced"]),
                                 undefined, log_text)
        from boundcalc._io import write_atomic
        write_atomic(pdf_path, produced.read_bytes())
    return CompileResult(pdf_path, [], [], log_text)


def _log_errors(log_text: str) -> list[str]:
    """Lines of a pdflatex log that report an error (``! ...``), with the line number that follows."""
    lines = log_text.splitlines()
    found = []
    for k, line in enumerate(lines):
        if line.startswith("!"):
            where = next((l for l in lines[k + 1:k + 8] if re.match(r"^l\.\d+", l)), "")
            found.append((line + " " + where).strip())
    return found


# ------------------------------------------------------------------------------------------------
# Derivation files against the catalogue
# ------------------------------------------------------------------------------------------------

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
