r"""Compile a LaTeX source with pdflatex.

:func:`compile_pdf` runs ``pdflatex -interaction=nonstopmode -halt-on-error -no-shell-escape`` twice
(for references) in a temporary folder and moves the PDF into place atomically; the errors and
undefined references found in the log are returned in a :class:`CompileResult`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from boundcalc._checks import BoundcalcError

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

