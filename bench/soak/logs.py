"""Counting what a worker's log says went wrong, between two moments of the run.

The runner notes each log file's size at the moments that matter (the broker stopped, the broker
answering again, the next kill); the lines written between two marks are one segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_LEVEL = re.compile(r"^\[[^\]]*\]\s+(?:\[\d+\]\s+)?\[?(ERROR|CRITICAL)\]?[\s:]")
"""The worker's own format ("[time] ERROR name: ...") and Faust's ("[time] [pid] [ERROR] ...")."""
TRACEBACK = "Traceback (most recent call last):"


@dataclass(frozen=True)
class LogCounts:
    errors: int = 0
    """Lines logged at ERROR or CRITICAL."""
    tracebacks: int = 0
    first_error: str | None = None

    def __add__(self, other: LogCounts) -> LogCounts:
        return LogCounts(self.errors + other.errors, self.tracebacks + other.tracebacks,
                         self.first_error or other.first_error)


def count_text(text: str) -> LogCounts:
    errors = tracebacks = 0
    first: str | None = None
    for line in text.splitlines():
        if _LEVEL.match(line):
            errors += 1
            first = first or line[:300]
        if TRACEBACK in line:
            tracebacks += 1
    return LogCounts(errors, tracebacks, first)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def count_segment(path: Path, start: int, end: int | None = None) -> LogCounts:
    """Counts of the bytes ``start`` to ``end`` (None: to the end) of a log file."""
    try:
        with path.open("rb") as f:
            f.seek(start)
            data = f.read() if end is None else f.read(max(0, end - start))
    except OSError:
        return LogCounts()
    return count_text(data.decode("utf-8", errors="replace"))
