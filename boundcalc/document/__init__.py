"""The derivation document (``boundcalc latex``), in small modules:

* :mod:`~boundcalc.document.macros` -- one LaTeX macro per shared symbol of the notation table;
* :mod:`~boundcalc.document.markdown` -- the mini-Markdown of ``derivations/`` to LaTeX, escaping,
  cross-references;
* :mod:`~boundcalc.document.derivations` -- reading the derivation files from the package data and
  checking them against the catalogue;
* :mod:`~boundcalc.document.content` -- the document as a list of nodes, in reading order;
* :mod:`~boundcalc.document.render` -- the LaTeX and Markdown renderers;
* :mod:`~boundcalc.document.pdflatex` -- running pdflatex.
"""
