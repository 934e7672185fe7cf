"""Repeated Kafka client errors summarised: one line per interval with a count, not thousands.

While a broker is down, aiokafka retries by itself and logs every failed attempt at ERROR:
"Unable connect to node with id %s: %s", "Unable to update metadata from %s" (the ``aiokafka``
logger), heartbeat, fetch and coordinator failures (``aiokafka.consumer.*``), produce retries
(``aiokafka.producer.sender``). A worker logged about 3,300 such lines a second during a 20 s
broker stop, which buries everything else in the log and costs CPU while the broker is away.

``RepeatSummary`` is a ``logging.Filter`` for those loggers. The first record of a kind (same
logger, level and message template; the arguments, such as a node id, may differ) passes as it
is. Further ones within ``interval`` seconds are counted, not logged; when the interval is over,
one line at the same level says how many there were and quotes the last one, and the next interval
counts on. An interval in which none came ends the summary: the next record of that kind passes as
it is again. Records below ``level`` (WARNING by default) and of other loggers are untouched. The
recovery is aiokafka's own and is not changed.

A logger's filters see only the records made by that logger (not its children's), so the filter
is added to each aiokafka logger by name (``install``). ``flush`` writes out intervals that are
over; the worker calls it on a timer, so the count of the last interval of an outage is logged
even if no further error comes. ``kafka_quiet`` sits beside it: it mutes topic-creation retries
entirely while topics are being set up; connection errors go through this one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

SUMMARY_ATTR = "riskstream_repeat_summary"
"""Set on the summary records this filter makes, so that it lets them through."""

KAFKA_CLIENT_LOGGERS = (
    "aiokafka",
    "aiokafka.conn",
    "aiokafka.cluster",
    "aiokafka.client",
    "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.consumer.subscription_state",
    "aiokafka.producer.producer",
    "aiokafka.producer.sender",
    "aiokafka.admin.client",
)
"""aiokafka's loggers (its client logs as plain ``aiokafka``); ``install`` adds any other
``aiokafka.*`` logger that exists by then."""

DEFAULT_INTERVAL = 10.0


@dataclass
class _Run:
    """Records of one kind within the current interval."""

    started: float
    suppressed: int = 0
    last: logging.LogRecord | None = None


Key = tuple[str, int, str]


class RepeatSummary(logging.Filter):
    """Lets the first record of a kind through, counts its repeats, summarises each interval."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self.clock = clock
        self._runs: dict[Key, _Run] = {}
        self._lock = threading.Lock()  # aiokafka may log from Faust's consumer thread too
        self.suppressed_total = 0
        """Records held back so far (for tests and curiosity)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, SUMMARY_ATTR, False) or record.levelno < self.level:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        with self._lock:
            due = self._due(now)
            run = self._runs.get(key)
            if run is None:
                self._runs[key] = _Run(now)
                passes = True
            else:
                run.suppressed += 1
                run.last = record
                self.suppressed_total += 1
                passes = False
        self._emit(due)
        return passes

    def flush(self, now: float | None = None, force: bool = False) -> int:
        """Write the summary of every interval that is over (``force``: of every interval, over or
        not); how many lines were written."""
        with self._lock:
            due = self._due(self.clock() if now is None else now, force)
        self._emit(due)
        return len(due)

    def _due(self, now: float, force: bool = False) -> list[tuple[logging.LogRecord, int, float]]:
        """Intervals over at ``now``: their summaries (last record, count, seconds), and the runs
        that go on (those with repeats) or end (those without). Called under the lock."""
        out = []
        for key, run in list(self._runs.items()):
            if not force and now - run.started < self.interval:
                continue
            if run.suppressed and run.last is not None:
                out.append((run.last, run.suppressed, now - run.started))
                self._runs[key] = _Run(now)
            else:
                del self._runs[key]
        return out

    @staticmethod
    def _emit(due: list[tuple[logging.LogRecord, int, float]]) -> None:
        for last, count, seconds in due:
            logger = logging.getLogger(last.name)
            summary = logger.makeRecord(
                last.name,
                last.levelno,
                last.pathname,
                last.lineno,
                "%s (repeated %d more time(s) in the last %.0f s, not logged one by one)",
                (last.getMessage(), count, seconds),
                None,
                func=last.funcName,
                extra={SUMMARY_ATTR: True},
            )
            logger.handle(summary)


_installed: list[tuple[RepeatSummary, tuple[str, ...]]] = []


def install(
    interval: float = DEFAULT_INTERVAL, names: Iterable[str] = KAFKA_CLIENT_LOGGERS
) -> RepeatSummary:
    """Add one ``RepeatSummary`` to each Kafka client logger (idempotent: a second call replaces
    the first). Returns it, for ``flush``."""
    uninstall()
    wanted = set(names)
    if "aiokafka" in wanted:
        wanted |= {n for n in logging.root.manager.loggerDict if n.startswith("aiokafka.")}
    summary = RepeatSummary(interval)
    for name in sorted(wanted):
        logging.getLogger(name).addFilter(summary)
    _installed.append((summary, tuple(sorted(wanted))))
    return summary


def uninstall() -> None:
    """Remove what ``install`` added (its last intervals are flushed first)."""
    while _installed:
        summary, names = _installed.pop()
        summary.flush(force=True)
        for name in names:
            logging.getLogger(name).removeFilter(summary)


def flush_installed() -> None:
    """Summaries of the intervals that are over, for the installed filter (if any)."""
    for summary, _ in _installed:
        summary.flush()
