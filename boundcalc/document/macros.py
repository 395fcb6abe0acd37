r"""One LaTeX macro per shared symbol, read off the notation table.

Every symbol of :data:`boundcalc.theory.notation.TABLE` (one row per symbol: sympy name, TeX, macro,
meaning, range) gets ONE macro, defined in the preamble of the derivation document
(:func:`preamble_macros`).  Authored templates write composite renderings such as
``n_{\mathrm{real}}`` or ``\mathrm{TV}``; :func:`use_macros` replaces them by their macro, and
:func:`sympy_latex` prints composed sympy expressions with the macros as symbol names, so a symbol
looks the same everywhere in the document.
"""

from __future__ import annotations

import re

from boundcalc.theory.notation import TABLE as NOTATION

#: sympy name of each shared symbol -> (macro name, its LaTeX, meaning), read off the notation
#: table :data:`boundcalc.theory.notation.TABLE`.
SYMBOL_MACROS: dict[str, tuple[str, str, str]] = {
    name: (row.macro, row.tex, row.meaning) for name, row in NOTATION.items()}

#: composite renderings that appear in authored templates, replaced by their macro in the LaTeX
#: document (single letters stay as they are: their macro expands to the same letter)
_COMPOSITE = sorted(((tex, macro) for macro, tex, _ in SYMBOL_MACROS.values()
                     if len(tex) > 1 and not re.fullmatch(r"\\[A-Za-z]+", tex)),
                    key=lambda pair: -len(pair[0]))

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
        # a rendering that starts with a letter must start a token: ``a_{i-1}`` inside
        # ``\sigma_{i-1}`` or ``m_c`` inside ``\sum_c`` is not the symbol
        before = r"(?<![A-Za-z\\])" if raw[0].isalpha() else ""
        tex = re.sub(before + re.escape(raw) + r"(?![A-Za-z])", lambda _m, mac=macro: f"\\{mac} ", tex)
    return tex


def sympy_latex(expr, macros: bool = True) -> str:
    """sympy's printer for composed expressions, with every shared symbol printed as its macro
    (``macros=False``: as the macro's expansion, for Markdown)."""
    import sympy as sp
    names = {s: ("\\" + SYMBOL_MACROS[s.name][0]) if macros else SYMBOL_MACROS[s.name][1]
             for s in expr.free_symbols if isinstance(s, sp.Symbol) and s.name in SYMBOL_MACROS}
    return sp.latex(expr, symbol_names=names)

