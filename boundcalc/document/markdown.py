r"""Mini-Markdown (the dialect of ``derivations/*.md``) to LaTeX that compiles.

* :func:`escape_text` / :func:`escape_code`: plain text and code spans for LaTeX (every special
  character escaped, ``<=`` as a relation, non-ASCII mapped or dropped);
* :func:`split_display` / :func:`display_math`: display formulas, long ones split at top-level
  separators into a ``gather*``;
* :func:`inline_latex`: one paragraph (``$math$``, ```code```, ``*em*``, ``**bold**``, ``[[ID]]``
  cross-references rendered by a :class:`RefStyle`);
* :func:`markdown_blocks` / :func:`markdown_to_latex`: headings, paragraphs, nested lists, tables,
  display math and code blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from boundcalc.document.macros import use_macros


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
            out.append(latex_table(block[1], refs))
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


def latex_table(rows, refs, widths=None) -> str:
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



class RefStyle:
    """How a cross-reference ``[[ID]]`` renders.

    ``known`` holds the lemma ids of the catalogue and ``theorems`` its theorem ids; ``aliases`` maps
    a place label of the document to the label actually used (``thm:recursion`` -> ``thm:S1`` once
    the catalogue holds S1).  LaTeX: ``Lemma~\\ref{lem:ID}``, ``Theorem~\\ref{thm:ID}`` or, for a
    label of the document, ``Theorem/Section~\\ref{label}``; an id the catalogue does not hold is
    plain text, so a missing entry can never leave an undefined reference.  Markdown: a link to the
    heading's anchor."""

    def __init__(self, known, theorems=(), aliases=None):
        self.known = set(known)
        self.theorems = set(theorems)
        self.aliases = dict(aliases or {})

    def _resolve(self, ref: str) -> tuple[str, str]:
        """(word, label) of a reference: ("Lemma", "lem:K2"), ("Theorem", "thm:S1"), ("Section", ...),
        or ("", text) when the catalogue does not hold it."""
        ref = self.aliases.get(ref, ref)
        if ":" in ref:  # a label of the document itself
            return {"thm": "Theorem", "sec": "Section", "lem": "Lemma"}[ref.split(":")[0]], ref
        key = ref.replace("'", "p")
        if key in self.theorems:
            return "Theorem", f"thm:{key}"
        if key in self.known:
            return "Lemma", f"lem:{key}"
        return "", ref

    def latex(self, ref: str) -> str:
        word, label = self._resolve(ref)
        return f"{word}~\\ref{{{label}}}" if word else f"lemma {escape_text(ref)}"

    def markdown(self, ref: str) -> str:
        word, label = self._resolve(ref)
        if not word:
            return f"lemma {ref}"
        kind, name = label.split(":", 1)
        if kind == "lem":
            return f"[lemma {name}](#lemma-{name.lower()})"
        return f"[{word.lower()} {name}](#{word.lower()}-{name})"
