"""The result object of a validation: the JSON object, a readable table, the checks, plots.

Each validator has one subclass (:class:`boundcalc.validate.kde.KDEValidation`,
:class:`boundcalc.validate.diffusion.DiffusionValidation`) that says how to draw its table and
its figures; the JSON object ``data`` is the same one ``--json`` prints.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from boundcalc._io import dumps
from boundcalc.validate.checks import format_checks


class ValidationResult:
    """A finished (or interrupted, or incomplete) validation.

    ``data`` is the JSON object; ``passed`` is True when every check passed; ``status`` is
    "complete", "incomplete" (fewer records than units were merged) or "interrupted";
    ``checks`` lists the checks (dicts with ``name``, ``passed``, ``statement`` and their
    numbers); ``repr`` prints the table the CLI prints.
    """

    #: the name used in reprs and file names
    validator = "validation"

    def __init__(self, data: dict):
        self.data = data

    @property
    def passed(self) -> bool:
        return bool(self.data.get("all_checks_passed", self.data.get("passed")))

    @property
    def status(self) -> str:
        return self.data.get("status", "complete")

    @property
    def checks(self) -> list:
        return list(self.data.get("checks", []))

    def table(self) -> str:  # pragma: no cover - each validator draws its own
        return format_checks(self.checks)

    def to_json(self) -> str:
        """The JSON text (deterministic: same inputs and seed, same bytes)."""
        return dumps(self.data)

    def to_dict(self) -> dict:
        return self.data

    def _draw(self, out_dir) -> list[Path]:  # pragma: no cover - each validator draws its own
        raise NotImplementedError

    def figure(self):  # pragma: no cover - each validator draws its own
        raise ImportError("no in-memory figure for this result")

    def plot(self, out_dir=None):
        """With ``out_dir``: write the figures (PNG and PDF) there and return their paths.
        Without: return the matplotlib Figure (for a notebook) where the plotting module offers
        one, else write into a new temporary folder and return the paths."""
        if out_dir is None:
            try:
                return self.figure()
            except ImportError:
                out_dir = tempfile.mkdtemp(prefix=f"boundcalc-{self.validator}-")
        return self._draw(Path(out_dir))

    def emit(self, as_json: bool, written=(), stream=None) -> int:
        """What a command prints: the JSON (``as_json``) or the table and the files ``written``;
        returns the exit status (0 when every check passed, 1 otherwise)."""
        import sys

        stream = stream if stream is not None else sys.stdout
        if as_json:
            stream.write(self.to_json())
        else:
            print(self.table(), file=stream)
            for path in written:
                print(f"wrote {path}", file=stream)
        return 0 if self.passed else 1

    def __repr__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.table())}</pre>"
