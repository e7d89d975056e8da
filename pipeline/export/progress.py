"""Progress of a long export: a bar on a terminal, log lines anywhere else.

Run by hand, the job redraws one line per phase on stderr. Run by cron or
Kubernetes, whose logs keep every byte, a redrawn bar would be noise, so it
logs a line every 10% (and at the end) instead.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol, TextIO

log = logging.getLogger("pipeline.export")


class Progress(Protocol):
    def start(self, label: str, total: int) -> None: ...

    def update(self, done: int) -> None: ...

    def finish(self) -> None: ...


def make_progress(stream: TextIO) -> Progress:
    """A bar when ``stream`` is a terminal, log lines otherwise."""
    isatty = getattr(stream, "isatty", None)
    return BarProgress(stream) if isatty is not None and isatty() else LogProgress()


class LogProgress:
    """One log line per ``step`` of the total (10% by default), and one at the end."""

    def __init__(self, step: float = 0.10, logger: logging.Logger = log) -> None:
        self.step = step
        self.logger = logger
        self._label, self._total, self._next, self._done, self._started = "", 0, 0.0, 0, 0.0

    def start(self, label: str, total: int) -> None:
        self._label, self._total, self._done = label, max(total, 0), 0
        self._next = self.step
        self._started = time.monotonic()

    def update(self, done: int) -> None:
        self._done = done
        if self._total <= 0:
            return
        while done / self._total >= self._next and self._next < 1.0 - 1e-9:
            self.logger.info("%s: %d%% (%s of ~%s)", self._label, round(self._next * 100),
                             f"{done:,}", f"{self._total:,}")
            self._next += self.step

    def finish(self) -> None:
        self.logger.info("%s: done, %s in %.1fs", self._label, f"{self._done:,}",
                         time.monotonic() - self._started)


class BarProgress:
    """``label [######----]  45%  450,000/1,000,000  120,000/s`` redrawn in place."""

    WIDTH = 30

    def __init__(self, stream: TextIO, interval: float = 0.1) -> None:
        self.stream = stream
        self.interval = interval
        self._label, self._total, self._done, self._started, self._drawn = "", 0, 0, 0.0, 0.0

    def start(self, label: str, total: int) -> None:
        self._label, self._total, self._done = label, max(total, 0), 0
        self._started = time.monotonic()
        self._drawn = 0.0
        self._draw()

    def update(self, done: int) -> None:
        self._done = done
        if time.monotonic() - self._drawn >= self.interval:
            self._draw()

    def finish(self) -> None:
        self._draw(final=True)

    def render(self) -> str:
        """The bar's text (without the carriage return)."""
        total = max(self._total, self._done)
        fraction = self._done / total if total else 1.0
        filled = int(fraction * self.WIDTH)
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return (f"{self._label} [{'#' * filled}{'-' * (self.WIDTH - filled)}] {fraction:4.0%} "
                f"{self._done:,}/{total:,} {self._done / elapsed:,.0f}/s")

    def _draw(self, final: bool = False) -> None:
        self._drawn = time.monotonic()
        self.stream.write("\r\x1b[K" + self.render() + ("\n" if final else ""))
        self.stream.flush()
