"""A one-line progress bar for sweeps: tasks done, failed, elapsed time and estimated time left.

Drawn on stderr, and only when enabled (default: when stdout is a terminal, so ``--json``,
pipes, logs and tests stay silent).
"""

from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class SweepProgress:
    """``sweep [######....] 12/40 done, 1 failed, 00:31 elapsed, ~01:12 left``."""

    def __init__(self, total: int, label: str = "sweep", enabled: bool | None = None, stream=None,
                 width: int = 24):
        self.total = max(int(total), 0)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = sys.stdout.isatty() if enabled is None else bool(enabled)
        self.width = width
        self.done = 0
        self.failed = 0
        self.start = time.monotonic()
        self._last = 0.0
        self.draw(force=True)

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if self.done and elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        filled = int(self.width * self.done / self.total) if self.total else self.width
        return (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} done, "
                f"{self.failed} failed, {_clock(elapsed)} elapsed, ~{_clock(left)} left")

    def draw(self, force: bool = False):
        if not self.enabled:
            return
        now = time.monotonic()
        if force or now - self._last >= 0.2 or self.done == self.total:
            self._last = now
            self.stream.write("\r" + self.line() + " " * 4)
            self.stream.flush()

    def update(self, done: int = 1, failed: int = 0):
        self.done += done
        self.failed += failed
        self.draw()

    def close(self):
        if self.enabled:
            self.draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
