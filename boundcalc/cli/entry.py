"""The ``boundcalc`` console script: the command line behind a guard for an early interrupt.

Importing the command line loads sympy, numpy and mpmath (most of a second).  An interrupt
(Ctrl-C, SIGINT) during those imports would end in a ``KeyboardInterrupt`` traceback; here the
imports run inside the same ``try`` as the command, so an interrupt at any moment prints one line
and exits with status 130 (128 + SIGINT), as an interrupt during a command does.  This module
imports nothing heavy itself (``boundcalc/__init__.py`` loads its names on first use).
"""

from __future__ import annotations

import sys

INTERRUPTED = 130


def run(argv=None) -> int:
    """Import the command line and run it; an interrupt at any point is one line, status 130."""
    try:
        from boundcalc.cli.main import main
        return main(argv)
    except KeyboardInterrupt:
        try:
            print("boundcalc: interrupted", file=sys.stderr)
        except KeyboardInterrupt:  # pragma: no cover - a second interrupt while printing
            pass
        return INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
