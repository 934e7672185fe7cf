"""Creating topics without aiokafka's retry chatter on the terminal.

While a topic is being created (by us, or by a broker auto-creating it on first use), aiokafka logs
every step of the wait that it then retries by itself: "Topic ... not found in cluster metadata"
and "... not available during auto-create initialization" (aiokafka.cluster), "Got error produce
response on topic-partition ..., retrying. Error: NotLeaderForPartitionError" (the producer's
sender) and unknown-partition answers to offset look-ups (the consumer's fetcher). With no logging
configured, Python prints them on stderr, over the benchmark's and the CLIs' progress bars.

``quiet_topic_setup`` mutes those loggers, and only those, for the duration of topic creation and
the first metadata fetch; ``await_leaders`` waits, inside it, until every partition of new topics
has a leader, so that the clients that go on to use them meet no NotLeaderForPartition retries.
Connection errors (logger ``aiokafka``) are not muted: those are worth seeing. It lives with the
connectors because the simulator needs it and the connectors depend on nothing of ``streams``;
the worker's topic creation and the benchmark use it from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

log = logging.getLogger(__name__)

TOPIC_SETUP_LOGGERS = ("aiokafka.cluster", "aiokafka.producer.sender", "aiokafka.consumer.fetcher")
"""The aiokafka loggers that report retried topic-creation steps (see the module docstring)."""

_lock = threading.Lock()
_depth = 0
_saved: dict[str, int] = {}


@contextlib.contextmanager
def quiet_topic_setup() -> Iterator[None]:
    """Mute (raise to CRITICAL) the loggers in ``TOPIC_SETUP_LOGGERS`` inside the block.

    Their own levels come back when the last of any overlapping blocks ends, so concurrent tasks
    that each create topics cannot leave them muted (or unmute them under another's feet).
    """
    global _depth
    with _lock:
        if _depth == 0:
            for name in TOPIC_SETUP_LOGGERS:
                logger = logging.getLogger(name)
                _saved[name] = logger.level
                logger.setLevel(logging.CRITICAL)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for name, level in _saved.items():
                    logging.getLogger(name).setLevel(level)
                _saved.clear()


async def await_leaders(admin: Any, topics: Sequence[str], timeout: float = 30.0) -> bool:
    """Until every partition of ``topics`` has a leader (True), or ``timeout`` seconds pass (False).

    CreateTopics returns before the new partitions have leaders; a client producing to them at
    once is told NotLeaderForPartition and retries. ``admin`` is a started AIOKafkaAdminClient.
    """
    if not topics:
        return True
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = await admin.describe_topics(list(topics))
            if len(found) >= len(set(topics)) and all(_led(t) for t in found):
                return True
        except Exception as exc:  # a metadata hiccup during creation: ask again
            log.debug("waiting for partition leaders: %r", exc)
        if time.monotonic() >= deadline:
            log.warning("partitions of %s have no leader after %gs", ", ".join(topics), timeout)
            return False
        await asyncio.sleep(0.1)


def _led(topic: dict[str, Any]) -> bool:
    """The topic is known and each partition has a leader (a partition's own error code may say
    that a follower is offline, REPLICA_NOT_AVAILABLE, which does not stop clients using it)."""
    parts = topic.get("partitions") or []
    return topic.get("error_code", 0) == 0 and bool(parts) and all(p.get("leader", -1) >= 0 for p in parts)
